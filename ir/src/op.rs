//! The primitive ops and their type rules.
//!
//! Every composite the user API offers (softmax, mean, sigmoid, layer norm, losses, ...) is
//! built from these. For each primitive this file gives its operands, attributes and its
//! shape/dtype rule ([`infer`]); its reference semantics are in `interp.rs`. Every `match` over
//! [`Op`] in the crate is exhaustive (no `_ =>` arm), so adding an op makes the compiler list
//! every place that must learn about it.
//!
//! Conventions that keep the set small and the backends simple:
//! - elementwise ops take operands of **identical** shape and dtype; broadcasting is an explicit
//!   `expand` (a view) inserted by the API, and its gradient is a `reduce.sum`;
//! - reductions keep the reduced axes (size 1); the API reshapes for `keepdim=false`;
//! - `reshape`, `expand`, `cast`, `input`, `param` and `random` take their result type from the
//!   node's declared type rather than from an attribute, so the type is never stated twice.

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::shape::{AxisList, Shape};
use crate::tensor::HostTensor;
use std::fmt;

/// A primitive operation. Operands are the node's incoming edges, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A value fed at run time, looked up by name. Type declared.
    Input {
        /// Feed name.
        name: String,
    },
    /// A trainable value owned by the executable's parameter store. Type declared.
    Parameter {
        /// Parameter name (unique within a graph).
        name: String,
    },
    /// A literal tensor embedded in the graph.
    Constant {
        /// The value; its dtype and shape are the node's.
        value: HostTensor,
    },
    /// One-operand elementwise math.
    Unary(UnaryOp),
    /// Two-operand elementwise math or comparison (operands of identical shape and dtype).
    Binary(BinaryOp),
    /// `where(cond, a, b)`: `cond` is bool; `a`, `b` share dtype; all three share shape.
    Where,
    /// Elementwise conversion to the declared dtype.
    Cast,
    /// Sum or max over `axes`, which are kept with size 1.
    Reduce {
        /// Sum or max.
        op: ReduceOp,
        /// Sorted, distinct axes.
        axes: AxisList,
    },
    /// Index of the largest element along `axis` (kept with size 1), as `i64`; ties go to the
    /// first occurrence and NaN counts as the largest (PyTorch's rules).
    ArgMax {
        /// The axis searched.
        axis: usize,
    },
    /// Same elements, declared shape (same element count). A view.
    Reshape,
    /// Axis permutation: result axis `i` is operand axis `perm[i]`. A view.
    Permute {
        /// A permutation of `0..rank`.
        perm: AxisList,
    },
    /// Broadcast size-1 axes to the declared shape (same rank). A view.
    Expand,
    /// A strided window: per axis `start..end` by `step` (step >= 1). A view.
    Slice {
        /// One range per axis.
        ranges: Vec<SliceRange>,
    },
    /// Constant padding: per axis `(before, after)` elements of `value`.
    Pad {
        /// One `(before, after)` pair per axis.
        widths: Vec<(usize, usize)>,
        /// The fill value (rounded to the dtype).
        value: f64,
    },
    /// Joins operands along `axis` (all other dims equal).
    Concat {
        /// The joining axis.
        axis: usize,
    },
    /// `out[i][j][k] = src[index[i][j][k]][j][k]` for axis 0 (PyTorch's `gather`); the result has
    /// the index's shape. Index dtype i32 or i64; out-of-range indices are a run-time error.
    Gather {
        /// The indexed axis.
        axis: usize,
    },
    /// `out = base; out[index[i][j]][j] += src[i][j]` for axis 0 (PyTorch's `scatter_add`).
    /// `index` and `src` have the same shape.
    ScatterAdd {
        /// The indexed axis.
        axis: usize,
    },
    /// Batched matrix product `[..., m, k] x [..., k, n] -> [..., m, n]` with identical batch
    /// dims (the API broadcasts batch dims with `expand`).
    MatMul,
    /// Seeded counter-based random numbers (Philox4x32-10): element `i` of the declared shape is
    /// a pure function of `(seed, i)`, so every backend produces the same stream.
    Random {
        /// Uniform on [0, 1) or standard normal.
        dist: Distribution,
        /// The stream's seed.
        seed: u64,
    },
}

/// One-operand elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x` (numeric).
    Neg,
    /// `e^x` (float).
    Exp,
    /// Natural logarithm (float).
    Log,
    /// Sine (float).
    Sin,
    /// Cosine (float).
    Cos,
    /// Hyperbolic tangent (float).
    Tanh,
    /// Square root (float).
    Sqrt,
    /// `1 / x` (float).
    Recip,
    /// `|x|` (numeric).
    Abs,
    /// Logical not (bool).
    Not,
}

/// Two-operand elementwise ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b` (numeric).
    Add,
    /// `a - b` (numeric).
    Sub,
    /// `a * b` (numeric).
    Mul,
    /// `a / b` (float; the API promotes integers, as PyTorch's true division does).
    Div,
    /// Larger of the two; NaN if either is NaN (numeric).
    Max,
    /// Smaller of the two; NaN if either is NaN (numeric).
    Min,
    /// `a ^ b` (float).
    Pow,
    /// `a == b` -> bool.
    Eq,
    /// `a != b` -> bool.
    Ne,
    /// `a < b` -> bool.
    Lt,
    /// `a <= b` -> bool.
    Le,
    /// `a > b` -> bool.
    Gt,
    /// `a >= b` -> bool.
    Ge,
    /// Logical and (bool).
    And,
    /// Logical or (bool).
    Or,
}

/// Reduction kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum (0 over an empty axis).
    Sum,
    /// Maximum (-inf over an empty axis for floats; the dtype's minimum for integers).
    Max,
}

/// Distributions of [`Op::Random`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Uniform on [0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

/// One axis of a [`Op::Slice`]: `start..end` by `step`, with `start <= end <= dim`, `step >= 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SliceRange {
    /// First index taken.
    pub start: usize,
    /// One past the last index considered.
    pub end: usize,
    /// Distance between taken indices (>= 1).
    pub step: usize,
}

impl SliceRange {
    /// Number of indices taken.
    pub fn len(&self) -> usize {
        if self.end <= self.start {
            0
        } else {
            (self.end - self.start).div_ceil(self.step)
        }
    }

    /// True when no index is taken.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl UnaryOp {
    /// Every unary op.
    pub const ALL: [UnaryOp; 10] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sqrt,
        UnaryOp::Recip,
        UnaryOp::Abs,
        UnaryOp::Not,
    ];

    /// Text-format name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Recip => "recip",
            UnaryOp::Abs => "abs",
            UnaryOp::Not => "not",
        }
    }

    /// Which dtypes the op accepts (the result has the operand's dtype).
    pub fn accepts(self, d: DType) -> bool {
        match self {
            UnaryOp::Neg | UnaryOp::Abs => d.is_numeric(),
            UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tanh
            | UnaryOp::Sqrt
            | UnaryOp::Recip => d.is_float(),
            UnaryOp::Not => d == DType::Bool,
        }
    }
}

impl BinaryOp {
    /// Every binary op.
    pub const ALL: [BinaryOp; 15] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Pow,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
    ];

    /// Text-format name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Pow => "pow",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }

    /// True for the comparisons, whose result is `bool`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }

    /// Which operand dtype the op accepts.
    pub fn accepts(self, d: DType) -> bool {
        match self {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
                d.is_numeric()
            }
            BinaryOp::Div | BinaryOp::Pow => d.is_float(),
            BinaryOp::Eq | BinaryOp::Ne => true,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => d.is_numeric(),
            BinaryOp::And | BinaryOp::Or => d == DType::Bool,
        }
    }
}

impl ReduceOp {
    /// Text-format name suffix (`reduce.sum`).
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
        }
    }
}

impl Distribution {
    /// Text-format name suffix (`random.normal`).
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
        }
    }
}

impl Op {
    /// The op's name as it appears in the text format and in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Parameter { .. } => "param",
            Op::Constant { .. } => "const",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast => "cast",
            Op::Reduce { op, .. } => match op {
                ReduceOp::Sum => "reduce.sum",
                ReduceOp::Max => "reduce.max",
            },
            Op::ArgMax { .. } => "argmax",
            Op::Reshape => "reshape",
            Op::Permute { .. } => "permute",
            Op::Expand => "expand",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::MatMul => "matmul",
            Op::Random { dist, .. } => match dist {
                Distribution::Uniform => "random.uniform",
                Distribution::Normal => "random.normal",
            },
        }
    }

    /// True for ops whose result type is declared by the node rather than derived.
    pub fn takes_declared_type(&self) -> bool {
        match self {
            Op::Input { .. }
            | Op::Parameter { .. }
            | Op::Cast
            | Op::Reshape
            | Op::Expand
            | Op::Random { .. } => true,
            Op::Constant { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Where
            | Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::Permute { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Concat { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::MatMul => false,
        }
    }

    /// True for leaves (no operands).
    pub fn is_leaf(&self) -> bool {
        matches!(
            self,
            Op::Input { .. } | Op::Parameter { .. } | Op::Constant { .. } | Op::Random { .. }
        )
    }
}

/// The dtype and shape of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Shape,
}

impl TensorType {
    /// Pairs a dtype and a shape.
    pub fn new(dtype: DType, shape: Shape) -> TensorType {
        TensorType { dtype, shape }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

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
