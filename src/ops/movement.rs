//! Shape and layout: reshape/view, squeeze/unsqueeze, permute/transpose/t, expand, cat/stack.
//! All of these are views in the IR (no data is copied until a backend decides to).

use super::broadcast_to;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{Op, Shape};

impl Tensor {
    /// `x.reshape(shape)`; one dimension may be `-1` and is inferred.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let shape = infer_shape(self.numel(), shape, &self.shape())?;
        self.unary_build(|g, x| g.reshape(x, shape))
    }

    /// `x.view(shape)`: the same as [`Tensor::reshape`] (kiln tensors are values, so every view is
    /// allowed).
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        self.reshape(shape)
    }

    /// `torch.flatten(x, start_dim, end_dim)`.
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        let shape = self.shape();
        if shape.rank() == 0 {
            return self.reshape(&[1]);
        }
        let (s, e) = (
            shape.axis("flatten", start_dim)?,
            shape.axis("flatten", end_dim)?,
        );
        if s > e {
            return Err(Error::api(
                "flatten",
                format!("start_dim {start_dim} comes after end_dim {end_dim}"),
            ));
        }
        let mut dims: Vec<isize> = shape.dims()[..s].iter().map(|&d| d as isize).collect();
        dims.push(shape.dims()[s..=e].iter().product::<usize>() as isize);
        dims.extend(shape.dims()[e + 1..].iter().map(|&d| d as isize));
        self.reshape(&dims)
    }

    /// `x.squeeze(dim)`: removes axis `dim` if it has size 1 (otherwise returns `x` unchanged,
    /// as PyTorch does).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let shape = self.shape();
        let axis = shape.axis("squeeze", dim)?;
        if shape.dim(axis) != 1 {
            return Ok(self.clone());
        }
        let mut dims = shape.dims().to_vec();
        dims.remove(axis);
        self.reshape_exact(Shape::new(&dims)?)
    }

    /// `x.squeeze()`: removes every size-1 axis.
    pub fn squeeze_all(&self) -> Result<Tensor> {
        let dims: Vec<usize> = self.dims().into_iter().filter(|&d| d != 1).collect();
        self.reshape_exact(Shape::new(&dims)?)
    }

    /// `x.unsqueeze(dim)`: inserts a size-1 axis at `dim` (in `-(rank+1)..=rank`).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let shape = self.shape();
        let axis = kiln_ir::shape::normalize_axis("unsqueeze", dim, shape.rank() + 1)?;
        let mut dims = shape.dims().to_vec();
        dims.insert(axis, 1);
        self.reshape_exact(Shape::new(&dims)?)
    }

    pub(crate) fn reshape_exact(&self, shape: Shape) -> Result<Tensor> {
        self.unary_build(|g, x| g.reshape(x, shape))
    }

    /// `x.permute(dims)`: result axis `i` is axis `dims[i]` of `x`.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        let shape = self.shape();
        let perm = dims
            .iter()
            .map(|&d| shape.axis("permute", d))
            .collect::<kiln_ir::Result<Vec<usize>>>()?;
        if perm.iter().enumerate().all(|(i, &p)| i == p) && perm.len() == shape.rank() {
            return Ok(self.clone());
        }
        self.unary_build(|g, x| g.permute(x, &perm))
    }

    /// `x.transpose(dim0, dim1)`: swaps two axes.
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let shape = self.shape();
        let (a, b) = (
            shape.axis("transpose", dim0)?,
            shape.axis("transpose", dim1)?,
        );
        let mut perm: Vec<isize> = (0..shape.rank() as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// `x.t()`: transpose of a matrix; vectors and scalars are returned unchanged.
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            r => Err(Error::api(
                "t",
                format!("expects a tensor with <= 2 dimensions, but it has {r}"),
            )),
        }
    }

    /// `x.expand(shape)`: broadcasts size-1 axes (and adds leading axes); `-1` keeps a size.
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let own = self.dims();
        if shape.len() < own.len() {
            return Err(Error::api(
                "expand",
                format!(
                    "the number of sizes ({}) is smaller than the tensor's rank ({})",
                    shape.len(),
                    own.len()
                ),
            ));
        }
        let offset = shape.len() - own.len();
        let mut dims = Vec::with_capacity(shape.len());
        for (i, &s) in shape.iter().enumerate() {
            let d = match (s, i.checked_sub(offset).map(|j| own[j])) {
                (-1, Some(o)) => o,
                (s, _) if s >= 0 => s as usize,
                _ => {
                    return Err(Error::api(
                        "expand",
                        format!("invalid size {s} at position {i}"),
                    ))
                }
            };
            dims.push(d);
        }
        let target = Shape::new(&dims)?;
        self.unary_build(|g, x| broadcast_to(g, x, &target))
    }

    /// Broadcasts to `shape` under NumPy rules (`torch.broadcast_to`).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        let target = Shape::new(shape)?;
        Shape::broadcast("broadcast_to", &self.shape(), &target)
            .ok()
            .filter(|s| *s == target)
            .ok_or_else(|| {
                Error::api(
                    "broadcast_to",
                    format!("cannot broadcast {} to {}", self.shape(), target),
                )
            })?;
        self.unary_build(|g, x| broadcast_to(g, x, &target))
    }

    /// `torch.cat(tensors, dim)`: joins tensors along an existing axis (dtypes promote).
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::api("cat", "expected a non-empty list of tensors"))?;
        let axis = first.shape().axis("cat", dim)?;
        let dtype = tensors
            .iter()
            .map(|t| t.dtype())
            .max()
            .unwrap_or(first.dtype());
        for t in tensors {
            first.check_same_graph(t, "cat")?;
        }
        let ids: Vec<_> = tensors.iter().map(|t| t.id()).collect();
        first.graph().build(|g| {
            let ids = ids
                .into_iter()
                .map(|id| g.cast(id, dtype))
                .collect::<kiln_ir::Result<Vec<_>>>()?;
            g.add(Op::Concat { axis }, &ids, None)
        })
    }

    /// `torch.stack(tensors, dim)`: joins tensors of equal shape along a new axis.
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let expanded = tensors
            .iter()
            .map(|t| t.unsqueeze(dim))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::cat(&refs, dim)
    }

    /// Constant padding: `widths[i] = (before, after)` elements of `value` on axis `i` (one
    /// pair per axis, outermost first — unlike `F.pad`, which lists the last axis first).
    pub fn pad(&self, widths: &[(usize, usize)], value: f64) -> Result<Tensor> {
        let widths = widths.to_vec();
        self.unary_build(|g, x| g.add(Op::Pad { widths, value }, &[x], None))
    }

    /// `x.contiguous()`: a no-op in kiln (layouts are the compiler's business).
    pub fn contiguous(&self) -> Result<Tensor> {
        Ok(self.clone())
    }
}

/// Resolves a shape with at most one `-1` against an element count.
fn infer_shape(numel: usize, shape: &[isize], from: &Shape) -> Result<Shape> {
    let invalid = || {
        Error::api(
            "reshape",
            format!("shape {shape:?} is invalid for input of size {numel} (shape {from})"),
        )
    };
    let mut unknown = None;
    let mut known: usize = 1;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if unknown.is_none() => unknown = Some(i),
            d if d >= 0 => known = known.checked_mul(d as usize).ok_or_else(invalid)?,
            _ => return Err(invalid()),
        }
    }
    let mut dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = unknown {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(invalid());
        }
        dims[i] = numel / known;
    } else if known != numel {
        return Err(invalid());
    }
    Ok(Shape::new(&dims)?)
}
