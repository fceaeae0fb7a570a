//! Indexing: `x[i]`, slices with steps, column selection by a list, `gather`, `scatter_add`,
//! `index_select`, `one_hot`. Index values that are data (gather, index_select, one_hot) are
//! checked when the graph runs: out-of-range indices are an error, never an out-of-bounds read.

use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{DType, Op, Shape, SliceRange};

/// One entry of a multi-axis index, as in `x[0, 1:3, :, [0, 2]]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Idx {
    /// A single position (removes the axis); negative counts from the end. `x[2]`.
    At(isize),
    /// `start:end:step` with Python's clamping; `None` bounds mean the ends. `x[1:3]`.
    Range {
        /// First position (default 0).
        start: Option<isize>,
        /// One past the last position (default the size).
        end: Option<isize>,
        /// Step, at least 1.
        step: usize,
    },
    /// The whole axis. `x[:]`.
    All,
    /// A list of positions (keeps the axis, with the list's length). `x[:, [0, 1]]`.
    List(Vec<i64>),
}

impl Idx {
    /// `start:end` with step 1.
    pub fn range(start: isize, end: isize) -> Idx {
        Idx::Range {
            start: Some(start),
            end: Some(end),
            step: 1,
        }
    }
}

impl Tensor {
    /// `x[index]` along `dim`: removes the axis. Negative indices count from the end.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let shape = self.shape();
        let axis = shape.axis("select", dim)?;
        let size = shape.dim(axis);
        let i = if index < 0 {
            index + size as isize
        } else {
            index
        };
        if i < 0 || i >= size as isize {
            return Err(Error::api(
                "select",
                format!("index {index} is out of bounds for dimension {axis} with size {size}"),
            ));
        }
        let i = i as usize;
        let mut dims = shape.dims().to_vec();
        dims.remove(axis);
        self.slice_axis(axis, i, i + 1, 1)?
            .reshape_exact(Shape::new(&dims)?)
    }

    /// `x[i]`: selects along the first axis.
    pub fn get(&self, index: isize) -> Result<Tensor> {
        self.select(0, index)
    }

    /// `x[i, j, ...]`: selects one position on each leading axis.
    pub fn at(&self, indices: &[isize]) -> Result<Tensor> {
        indices
            .iter()
            .try_fold(self.clone(), |t, &i| t.select(0, i))
    }

    /// `x[start:end:step]` along `dim`, with Python's clamping of out-of-range bounds.
    pub fn slice(
        &self,
        dim: isize,
        start: Option<isize>,
        end: Option<isize>,
        step: usize,
    ) -> Result<Tensor> {
        let axis = self.shape().axis("slice", dim)?;
        if step == 0 {
            return Err(Error::api("slice", "slice step must be positive"));
        }
        let size = self.shape().dim(axis) as isize;
        let clamp = |v: isize| (if v < 0 { v + size } else { v }).clamp(0, size) as usize;
        let s = start.map_or(0, clamp);
        let e = end.map_or(size as usize, clamp).max(s);
        self.slice_axis(axis, s, e, step)
    }

    /// `x.narrow(dim, start, length)`.
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Tensor> {
        let axis = self.shape().axis("narrow", dim)?;
        let size = self.shape().dim(axis);
        if start.checked_add(length).is_none_or(|e| e > size) {
            return Err(Error::api(
                "narrow",
                format!("start ({start}) + length ({length}) exceeds dimension size ({size})"),
            ));
        }
        self.slice_axis(axis, start, start + length, 1)
    }

    fn slice_axis(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let ranges: Vec<SliceRange> = self
            .dims()
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i == axis {
                    SliceRange { start, end, step }
                } else {
                    SliceRange {
                        start: 0,
                        end: d,
                        step: 1,
                    }
                }
            })
            .collect();
        self.unary_build(|g, x| g.add(Op::Slice { ranges }, &[x], None))
    }

    /// Multi-axis indexing: `x.index(&[Idx::All, Idx::At(2)])` is `x[:, 2]`;
    /// `x.index(&[Idx::All, Idx::List(vec![0, 1])])` is `x[:, (0, 1)]`.
    pub fn index(&self, indices: &[Idx]) -> Result<Tensor> {
        if indices.len() > self.rank() {
            return Err(Error::api(
                "index",
                format!(
                    "too many indices ({}) for a tensor of rank {}",
                    indices.len(),
                    self.rank()
                ),
            ));
        }
        let mut t = self.clone();
        let mut dim: isize = 0; // the axis of `t` that the next index applies to
        for idx in indices {
            match idx {
                Idx::At(i) => t = t.select(dim, *i)?,
                Idx::Range { start, end, step } => {
                    t = t.slice(dim, *start, *end, *step)?;
                    dim += 1;
                }
                Idx::All => dim += 1,
                Idx::List(list) => {
                    let ix = t.graph().tensor(list.clone())?;
                    t = t.index_select(dim, &ix)?;
                    dim += 1;
                }
            }
        }
        Ok(t)
    }

    /// `torch.index_select(x, dim, index)`: the entries at the positions of a 1-D integer index
    /// along `dim` (negative positions count from the end is *not* supported, as in PyTorch).
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        self.check_same_graph(index, "index_select")?;
        let axis = self.shape().axis("index_select", dim)?;
        if index.rank() != 1 || !index.dtype().is_int() {
            return Err(Error::api(
                "index_select",
                format!(
                    "index must be a 1-D integer tensor, got {}{}",
                    index.dtype(),
                    index.shape()
                ),
            ));
        }
        let mut out = self.dims();
        out[axis] = index.numel();
        let mut col = vec![1; self.rank()];
        col[axis] = index.numel();
        let (out, col) = (Shape::new(&out)?, Shape::new(&col)?);
        self.binary_build(index, "index_select", |g, x, i| {
            let i = g.reshape(i, col)?;
            let i = g.expand(i, out)?;
            g.add(Op::Gather { axis }, &[x, i], None)
        })
    }

    /// `torch.gather(x, dim, index)`: `out[i][j] = x[index[i][j]][j]` for `dim = 0`.
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let axis = self.shape().axis("gather", dim)?;
        self.binary_build(index, "gather", |g, x, i| {
            g.add(Op::Gather { axis }, &[x, i], None)
        })
    }

    /// `x.scatter_add(dim, index, src)`: a copy of `x` with `src` added at the indexed positions.
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let axis = self.shape().axis("scatter_add", dim)?;
        self.check_same_graph(index, "scatter_add")?;
        self.check_same_graph(src, "scatter_add")?;
        let (b, i, s) = (self.id(), index.id(), src.id());
        let dtype = self.dtype();
        self.graph().build(|g| {
            let s = g.cast(s, dtype)?;
            g.add(Op::ScatterAdd { axis }, &[b, i, s], None)
        })
    }

    /// `F.one_hot(x, num_classes)`: an `i64` tensor with a trailing axis of `num_classes`.
    /// Class values outside `0..num_classes` make evaluation fail with an error.
    pub fn one_hot(&self, num_classes: usize) -> Result<Tensor> {
        if !self.dtype().is_int() {
            return Err(Error::api(
                "one_hot",
                format!("expects an integer tensor, got {}", self.dtype()),
            ));
        }
        let mut dims = self.dims();
        let n = self.numel();
        let flat = self.reshape(&[n as isize, 1])?;
        let zeros = self.graph().full(&[n, num_classes], 0.0, DType::I64)?;
        let ones = self.graph().full(&[n, 1], 1.0, DType::I64)?;
        let hot = zeros.scatter_add(1, &flat, &ones)?;
        dims.push(num_classes);
        hot.reshape_exact(Shape::new(&dims)?)
    }
}
