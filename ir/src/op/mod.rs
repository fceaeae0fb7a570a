//! The primitive ops and their type rules.
//!
//! Every composite the user API offers (softmax, mean, sigmoid, layer norm, losses, ...) is
//! built from these. For each primitive this module gives its operands and attributes, its
//! shape/dtype rule ([`infer`]) and its fusion class; the elementwise and reduction families
//! are declared with their properties in `table.rs`; reference semantics are in `interp.rs`.
//! Every `match` that defines what an op does (type rule, fusion class, semantics, VJP,
//! lowering) is exhaustive, with no `_ =>` arm, so adding an op makes the compiler list every
//! place that must learn about it; matches that only pick out a few ops (rewrite rules, "is
//! this a leaf") use `_ =>`.
//!
//! Conventions that keep the set small and the backends simple:
//! - elementwise ops take operands of **identical** shape and dtype; broadcasting is an explicit
//!   `expand` (a view) inserted by the API, and its gradient is a `reduce.sum`;
//! - reductions keep the reduced axes (size 1); the API reshapes for `keepdim=false`;
//! - `reshape`, `expand`, `cast`, `input`, `param` and `random` take their result type from the
//!   node's declared type rather than from an attribute, so the type is never stated twice.

mod infer;
mod table;

pub use infer::infer;
pub use table::{
    BinaryInfo, BinaryOp, BinaryResult, DTypes, MathFn, ReduceInfo, ReduceOp, UnaryInfo, UnaryOp,
};

use crate::dtype::DType;
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
            Op::Reduce { op, .. } => op.info().op_name,
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

    /// Where the op stands in the fusion rules (`kernel/fuse.rs`).
    pub fn fusion_class(&self) -> FusionClass {
        match self {
            Op::Input { .. } | Op::Parameter { .. } | Op::Constant { .. } => FusionClass::Leaf,
            Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::MatMul
            | Op::Gather { .. }
            | Op::ScatterAdd { .. } => FusionClass::Anchor,
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast => {
                FusionClass::Elementwise { cost: 1 }
            }
            Op::Pad { .. } | Op::Concat { .. } => FusionClass::Compute { cost: 1 },
            // Philox is ten rounds of multiplies: recomputing it is not free.
            Op::Random { .. } => FusionClass::Compute { cost: 4 },
            Op::Reshape | Op::Permute { .. } | Op::Expand | Op::Slice { .. } => FusionClass::View,
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

/// How fusion treats an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusionClass {
    /// Input, param, const: storage of their own.
    Leaf,
    /// Gets a kernel of its own (reductions, GEMM, gather, scatter).
    Anchor,
    /// Pointwise math: inlined into its consumers' loops at `cost` per recomputation, and
    /// absorbable into a reduction's or a GEMM's epilogue.
    Elementwise {
        /// Relative cost of recomputing the value once per consumer.
        cost: usize,
    },
    /// Pointwise but with an index computation of its own (pad, concat) or a generator
    /// (random): inlined at `cost`, never part of an epilogue.
    Compute {
        /// Relative cost of recomputing the value once per consumer.
        cost: usize,
    },
    /// Reshape, permute, expand, slice: an index map, free.
    View,
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
