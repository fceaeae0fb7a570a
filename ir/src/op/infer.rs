//! The type rule of every primitive: [`infer`].

use super::{Op, TensorType};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::shape::Shape;

fn arity(op: &Op, operands: &[TensorType], expected: usize) -> Result<()> {
    if operands.len() != expected {
        return Err(IrError::Arity {
            op: op.name(),
            expected: expected.to_string(),
            got: operands.len(),
        });
    }
    Ok(())
}

fn declared_type(op: &Op, declared: Option<&TensorType>) -> Result<TensorType> {
    declared
        .cloned()
        .ok_or_else(|| IrError::shape(op.name(), "this op needs its result type to be declared"))
}

fn same_shape(op: &'static str, a: &TensorType, b: &TensorType) -> Result<()> {
    if a.shape != b.shape {
        return Err(IrError::shape(
            op,
            format!(
                "operand shapes {} and {} differ (broadcast with expand first)",
                a.shape, b.shape
            ),
        ));
    }
    Ok(())
}

fn same_dtype(op: &'static str, a: &TensorType, b: &TensorType) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(IrError::dtype(
            op,
            format!("operand dtypes {} and {} differ", a.dtype, b.dtype),
        ));
    }
    Ok(())
}

fn check_axis(op: &'static str, axis: usize, rank: usize) -> Result<()> {
    if axis >= rank {
        return Err(IrError::Axis {
            op,
            axis: axis as isize,
            rank,
        });
    }
    Ok(())
}

/// The type rule: checks `operands` against `op` and returns the result type.
///
/// `declared` is the node's stated type; it is required by ops that
/// [take a declared type](Op::takes_declared_type) and ignored by the others (whose result
/// [`crate::graph::Graph::verify`] compares against it separately).
pub fn infer(
    op: &Op,
    operands: &[TensorType],
    declared: Option<&TensorType>,
) -> Result<TensorType> {
    let name = op.name();
    match op {
        Op::Input { .. } | Op::Parameter { .. } => {
            arity(op, operands, 0)?;
            declared_type(op, declared)
        }
        Op::Constant { value } => {
            arity(op, operands, 0)?;
            Ok(TensorType::new(value.dtype(), value.shape().clone()))
        }
        Op::Random { .. } => {
            arity(op, operands, 0)?;
            let t = declared_type(op, declared)?;
            if !t.dtype.is_float() {
                return Err(IrError::dtype(
                    name,
                    format!("produces floats, not {}", t.dtype),
                ));
            }
            Ok(t)
        }
        Op::Unary(u) => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            if !u.accepts(x.dtype) {
                return Err(IrError::dtype(name, format!("not defined for {}", x.dtype)));
            }
            Ok(x.clone())
        }
        Op::Binary(b) => {
            arity(op, operands, 2)?;
            let (x, y) = (&operands[0], &operands[1]);
            same_shape(name, x, y)?;
            same_dtype(name, x, y)?;
            if !b.accepts(x.dtype) {
                return Err(IrError::dtype(name, format!("not defined for {}", x.dtype)));
            }
            let dtype = if b.is_comparison() {
                DType::Bool
            } else {
                x.dtype
            };
            Ok(TensorType::new(dtype, x.shape.clone()))
        }
        Op::Where => {
            arity(op, operands, 3)?;
            let (c, a, b) = (&operands[0], &operands[1], &operands[2]);
            if c.dtype != DType::Bool {
                return Err(IrError::dtype(
                    name,
                    format!("condition must be bool, got {}", c.dtype),
                ));
            }
            same_shape(name, c, a)?;
            same_shape(name, a, b)?;
            same_dtype(name, a, b)?;
            Ok(a.clone())
        }
        Op::Cast => {
            arity(op, operands, 1)?;
            let t = declared_type(op, declared)?;
            if t.shape != operands[0].shape {
                return Err(IrError::shape(
                    name,
                    format!("cannot change shape {} to {}", operands[0].shape, t.shape),
                ));
            }
            Ok(t)
        }
        Op::Reduce { op: r, axes } => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            if !x.dtype.is_numeric() {
                return Err(IrError::dtype(name, format!("not defined for {}", x.dtype)));
            }
            if !axes.windows(2).all(|w| w[0] < w[1]) {
                return Err(IrError::shape(
                    name,
                    format!("axes {axes:?} must be sorted and distinct"),
                ));
            }
            let mut dims = x.shape.dims().to_vec();
            for &a in axes {
                check_axis(name, a, x.shape.rank())?;
                dims[a] = 1;
            }
            let _ = r;
            Ok(TensorType::new(x.dtype, Shape::new(&dims)?))
        }
        Op::ArgMax { axis } => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            if !x.dtype.is_numeric() {
                return Err(IrError::dtype(name, format!("not defined for {}", x.dtype)));
            }
            check_axis(name, *axis, x.shape.rank())?;
            if x.shape.dim(*axis) == 0 {
                return Err(IrError::shape(
                    name,
                    format!(
                        "cannot take the argmax over an empty axis {axis} of shape {}",
                        x.shape
                    ),
                ));
            }
            Ok(TensorType::new(DType::I64, x.shape.with_dim(*axis, 1)?))
        }
        Op::Reshape => {
            arity(op, operands, 1)?;
            let t = declared_type(op, declared)?;
            let x = &operands[0];
            if t.dtype != x.dtype || t.shape.numel() != x.shape.numel() {
                return Err(IrError::shape(
                    name,
                    format!(
                        "shape {} is invalid for input of size {} (shape {})",
                        t.shape,
                        x.shape.numel(),
                        x.shape
                    ),
                ));
            }
            Ok(t)
        }
        Op::Permute { perm } => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            let rank = x.shape.rank();
            let mut seen = vec![false; rank];
            if perm.len() != rank
                || perm
                    .iter()
                    .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
            {
                return Err(IrError::shape(
                    name,
                    format!(
                        "{perm:?} is not a permutation of the axes of shape {}",
                        x.shape
                    ),
                ));
            }
            let dims: Vec<usize> = perm.iter().map(|&p| x.shape.dim(p)).collect();
            Ok(TensorType::new(x.dtype, Shape::new(&dims)?))
        }
        Op::Expand => {
            arity(op, operands, 1)?;
            let t = declared_type(op, declared)?;
            let x = &operands[0];
            let ok = t.dtype == x.dtype
                && t.shape.rank() == x.shape.rank()
                && x.shape
                    .dims()
                    .iter()
                    .zip(t.shape.dims())
                    .all(|(&a, &b)| a == b || a == 1);
            if !ok {
                return Err(IrError::shape(
                    name,
                    format!("cannot expand shape {} to {}", x.shape, t.shape),
                ));
            }
            Ok(t)
        }
        Op::Slice { ranges } => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            if ranges.len() != x.shape.rank() {
                return Err(IrError::shape(
                    name,
                    format!("{} ranges given for shape {}", ranges.len(), x.shape),
                ));
            }
            let mut dims = Vec::with_capacity(ranges.len());
            for (axis, r) in ranges.iter().enumerate() {
                if r.step == 0 || r.start > r.end || r.end > x.shape.dim(axis) {
                    return Err(IrError::shape(
                        name,
                        format!(
                            "range {}:{}:{} is invalid for axis {axis} of shape {}",
                            r.start, r.end, r.step, x.shape
                        ),
                    ));
                }
                dims.push(r.len());
            }
            Ok(TensorType::new(x.dtype, Shape::new(&dims)?))
        }
        Op::Pad { widths, .. } => {
            arity(op, operands, 1)?;
            let x = &operands[0];
            if widths.len() != x.shape.rank() {
                return Err(IrError::shape(
                    name,
                    format!("{} pad widths given for shape {}", widths.len(), x.shape),
                ));
            }
            let mut dims = Vec::with_capacity(widths.len());
            for (&d, &(lo, hi)) in x.shape.dims().iter().zip(widths) {
                let n = d.checked_add(lo).and_then(|n| n.checked_add(hi));
                dims.push(n.ok_or_else(|| IrError::TooLarge {
                    dims: x.shape.dims().to_vec(),
                })?);
            }
            Ok(TensorType::new(x.dtype, Shape::new(&dims)?))
        }
        Op::Concat { axis } => {
            if operands.is_empty() {
                return Err(IrError::Arity {
                    op: name,
                    expected: "at least 1".into(),
                    got: 0,
                });
            }
            let first = &operands[0];
            check_axis(name, *axis, first.shape.rank())?;
            let mut total: usize = 0;
            for t in operands {
                same_dtype(name, first, t)?;
                let compatible = t.shape.rank() == first.shape.rank()
                    && (0..t.shape.rank())
                        .all(|d| d == *axis || t.shape.dim(d) == first.shape.dim(d));
                if !compatible {
                    return Err(IrError::shape(
                        name,
                        format!(
                            "shapes {} and {} differ outside axis {axis}",
                            first.shape, t.shape
                        ),
                    ));
                }
                total = total
                    .checked_add(t.shape.dim(*axis))
                    .ok_or_else(|| IrError::TooLarge {
                        dims: first.shape.dims().to_vec(),
                    })?;
            }
            Ok(TensorType::new(
                first.dtype,
                first.shape.with_dim(*axis, total)?,
            ))
        }
        Op::Gather { axis } => {
            arity(op, operands, 2)?;
            let (src, idx) = (&operands[0], &operands[1]);
            check_index(name, *axis, src, idx)?;
            Ok(TensorType::new(src.dtype, idx.shape.clone()))
        }
        Op::ScatterAdd { axis } => {
            arity(op, operands, 3)?;
            let (base, idx, src) = (&operands[0], &operands[1], &operands[2]);
            if !base.dtype.is_numeric() {
                return Err(IrError::dtype(
                    name,
                    format!("not defined for {}", base.dtype),
                ));
            }
            same_dtype(name, base, src)?;
            if idx.shape != src.shape {
                return Err(IrError::shape(
                    name,
                    format!(
                        "index shape {} and source shape {} differ",
                        idx.shape, src.shape
                    ),
                ));
            }
            check_index(name, *axis, base, idx)?;
            Ok(base.clone())
        }
        Op::MatMul => {
            arity(op, operands, 2)?;
            let (a, b) = (&operands[0], &operands[1]);
            same_dtype(name, a, b)?;
            if !a.dtype.is_numeric() {
                return Err(IrError::dtype(name, format!("not defined for {}", a.dtype)));
            }
            let (ra, rb) = (a.shape.rank(), b.shape.rank());
            let cannot = || {
                IrError::shape(
                    name,
                    format!(
                        "mat1 and mat2 shapes cannot be multiplied ({} and {})",
                        a.shape.x_separated(),
                        b.shape.x_separated()
                    ),
                )
            };
            if ra < 2 || ra != rb || a.shape.dims()[..ra - 2] != b.shape.dims()[..rb - 2] {
                return Err(cannot());
            }
            if a.shape.dim(ra - 1) != b.shape.dim(rb - 2) {
                return Err(cannot());
            }
            let mut dims = a.shape.dims().to_vec();
            dims[ra - 1] = b.shape.dim(rb - 1);
            Ok(TensorType::new(a.dtype, Shape::new(&dims)?))
        }
    }
}

/// Shared rule of gather and scatter-add: an integer index of the same rank whose dims fit
/// inside `data`'s on every axis but `axis`.
fn check_index(op: &'static str, axis: usize, data: &TensorType, idx: &TensorType) -> Result<()> {
    if !idx.dtype.is_int() {
        return Err(IrError::dtype(
            op,
            format!("index must be i32 or i64, got {}", idx.dtype),
        ));
    }
    check_axis(op, axis, data.shape.rank())?;
    let fits = idx.shape.rank() == data.shape.rank()
        && (0..idx.shape.rank()).all(|d| d == axis || idx.shape.dim(d) <= data.shape.dim(d));
    if !fits {
        return Err(IrError::shape(
            op,
            format!(
                "index shape {} does not fit data shape {} outside axis {axis}",
                idx.shape, data.shape
            ),
        ));
    }
    Ok(())
}
