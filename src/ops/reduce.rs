//! Reductions: sum, mean, max, min, argmax, argmin, var, with PyTorch's `dim`/`keepdim`
//! conventions. In the IR a reduction keeps its axes (size 1); `keepdim = false` adds a reshape.

use super::float_of;
use crate::tensor::Tensor;
use crate::Result;
use kiln_ir::{DType, ReduceOp, Shape};

impl Tensor {
    /// Resolves `dims` (negative allowed; empty = all axes) to sorted, distinct axes.
    fn reduce_axes(&self, op: &'static str, dims: &[isize]) -> Result<Vec<usize>> {
        let shape = self.shape();
        if dims.is_empty() {
            return Ok((0..shape.rank()).collect());
        }
        let mut axes = dims
            .iter()
            .map(|&d| shape.axis(op, d))
            .collect::<kiln_ir::Result<Vec<usize>>>()?;
        axes.sort_unstable();
        if axes.windows(2).any(|w| w[0] == w[1]) {
            return Err(crate::Error::api(
                op,
                format!("dim {dims:?} lists an axis twice"),
            ));
        }
        Ok(axes)
    }

    /// The shape after reducing `axes`, with or without them.
    fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Result<Shape> {
        let dims: Vec<usize> = self
            .dims()
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (axes.contains(&i), keepdim) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        Ok(Shape::new(&dims)?)
    }

    fn reduce(
        &self,
        op: ReduceOp,
        name: &'static str,
        dims: &[isize],
        keepdim: bool,
    ) -> Result<Tensor> {
        let axes = self.reduce_axes(name, dims)?;
        let out = self.reduced_shape(&axes, keepdim)?;
        // Sums of bools count, as in PyTorch.
        let dtype = if self.dtype() == DType::Bool {
            DType::I64
        } else {
            self.dtype()
        };
        self.unary_build(|g, x| {
            let x = g.cast(x, dtype)?;
            let r = g.reduce(op, x, &axes)?;
            g.reshape(r, out)
        })
    }

    /// `x.sum(dim, keepdim)`; `dims = &[]` sums everything.
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, "sum", dims, keepdim)
    }

    /// `x.sum()`: the sum of all elements, as a scalar.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&[], false)
    }

    /// `x.mean(dim, keepdim)` (integers are averaged as `f32`); `dims = &[]` averages everything.
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes("mean", dims)?;
        let count: usize = axes.iter().map(|&a| self.dims()[a]).product();
        self.to_dtype(float_of(self.dtype()))?
            .sum(dims, keepdim)?
            .div(count as f64)
    }

    /// `x.mean()`: the mean of all elements, as a scalar.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&[], false)
    }

    /// `torch.amax(x, dim, keepdim)`: the largest value over `dims` (`&[]` = all).
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, "max", dims, keepdim)
    }

    /// `torch.amin(x, dim, keepdim)`: the smallest value over `dims` (`&[]` = all).
    pub fn min(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.neg()?.max(dims, keepdim)?.neg()
    }

    /// `x.argmax(dim, keepdim)` as `i64`; `None` searches the flattened tensor. Ties go to the
    /// first occurrence.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        let (src, axis) = match dim {
            Some(d) => (self.clone(), self.shape().axis("argmax", d)?),
            None => (self.reshape(&[-1])?, 0),
        };
        let out = if dim.is_some() {
            src.reduced_shape(&[axis], keepdim)?
        } else {
            Shape::scalar()
        };
        src.unary_build(|g, x| {
            let a = g.add(kiln_ir::Op::ArgMax { axis }, &[x], None)?;
            g.reshape(a, out)
        })
    }

    /// `x.argmin(dim, keepdim)` as `i64`.
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.neg()?.argmax(dim, keepdim)
    }

    /// `x.var(dim, correction, keepdim)`: `sum((x - mean)^2) / (N - correction)`; PyTorch's
    /// default is `correction = 1` (the unbiased estimate).
    pub fn var(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes("var", dims)?;
        let n: usize = axes.iter().map(|&a| self.dims()[a]).product();
        let x = self.to_dtype(float_of(self.dtype()))?;
        let centered = x.sub(&x.mean(dims, true)?)?;
        let denom = n.saturating_sub(correction) as f64;
        centered.square()?.sum(dims, keepdim)?.div(denom)
    }

    /// `x.std(dim, correction, keepdim)`: the square root of [`Tensor::var`].
    pub fn std(&self, dims: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.var(dims, correction, keepdim)?.sqrt()
    }
}
