//! The one error type of kiln-ir. Every variant names the op (or node) and the shapes or dtypes
//! involved, so a message read alone says what went wrong and where.

use crate::dtype::DType;
use crate::graph::NodeId;
use crate::shape::{Shape, MAX_RANK};

/// Result with [`IrError`].
pub type Result<T, E = IrError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, checking, parsing or interpreting a graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrError {
    /// Two shapes that must broadcast do not.
    #[error("{op}: shapes {lhs} and {rhs} cannot be broadcast together")]
    Broadcast {
        /// The op being built.
        op: &'static str,
        /// Left operand's shape.
        lhs: Shape,
        /// Right operand's shape.
        rhs: Shape,
    },
    /// An op's shape rule failed; `msg` names the shapes.
    #[error("{op}: {msg}")]
    Shape {
        /// The op being built.
        op: &'static str,
        /// What is wrong, with the shapes.
        msg: String,
    },
    /// An op does not accept an operand's dtype.
    #[error("{op}: {msg}")]
    DType {
        /// The op being built.
        op: &'static str,
        /// What is wrong, with the dtypes.
        msg: String,
    },
    /// An axis outside `-rank..rank`.
    #[error("{op}: axis {axis} is out of range for a tensor of rank {rank}")]
    Axis {
        /// The op being built.
        op: &'static str,
        /// The axis as given.
        axis: isize,
        /// The operand's rank.
        rank: usize,
    },
    /// More than [`MAX_RANK`] dimensions.
    #[error("rank {rank} exceeds kiln's maximum rank of {MAX_RANK}")]
    Rank {
        /// The rank asked for.
        rank: usize,
    },
    /// A shape whose element count (or byte size) overflows `usize`/`isize`.
    #[error("shape {dims:?} has too many elements to fit in memory")]
    TooLarge {
        /// The dimensions asked for.
        dims: Vec<usize>,
    },
    /// Wrong number of operands.
    #[error("{op} takes {expected} operand(s), got {got}")]
    Arity {
        /// The op being built.
        op: &'static str,
        /// What the op takes (e.g. "2" or "at least 1").
        expected: String,
        /// How many were given.
        got: usize,
    },
    /// A node id that is not (or no longer) in the graph.
    #[error("node {0} is not in this graph")]
    UnknownNode(NodeId),
    /// Malformed `.kir` text.
    #[error("line {line}, column {col}: {msg}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What was expected or found.
        msg: String,
    },
    /// `verify()` found a node inconsistent with its operands.
    #[error("verify: node {node}: {msg}")]
    Verify {
        /// The offending node.
        node: NodeId,
        /// What is inconsistent.
        msg: String,
    },
    /// An input node was not given a value.
    #[error("missing feed for input \"{name}\" ({node})")]
    MissingFeed {
        /// The input's name.
        name: String,
        /// The input node.
        node: NodeId,
    },
    /// A fed value does not have the declared dtype or shape.
    #[error("feed for \"{name}\": expected {expected_dtype}{expected_shape}, got {got_dtype}{got_shape}")]
    FeedMismatch {
        /// The input's name.
        name: String,
        /// Declared dtype.
        expected_dtype: DType,
        /// Declared shape.
        expected_shape: Shape,
        /// Fed dtype.
        got_dtype: DType,
        /// Fed shape.
        got_shape: Shape,
    },
    /// Data whose length does not match its shape.
    #[error("{what}: {len} values do not fill shape {shape} ({numel} elements)")]
    DataLength {
        /// What was being built.
        what: &'static str,
        /// Number of values given.
        len: usize,
        /// The shape asked for.
        shape: Shape,
        /// Elements the shape holds.
        numel: usize,
    },
    /// A value-dependent failure at run time (e.g. a gather index out of range).
    #[error("{op} at {node}: {msg}")]
    Runtime {
        /// The op that failed.
        op: &'static str,
        /// The node being evaluated.
        node: NodeId,
        /// What went wrong.
        msg: String,
    },
    /// A compiler invariant does not hold: always a kiln bug, never the user's fault (please
    /// report it with the program that caused it).
    #[error("internal error (a kiln bug): {context}: rule `{rule}`: {msg}")]
    Internal {
        /// Where it was found, e.g. `kernel IR: kernel k3`.
        context: String,
        /// The rule broken, as the checker's docs name it.
        rule: &'static str,
        /// What was found.
        msg: String,
    },
    /// A `wrt` name (of `dump-ir --wrt` or a filetest) that no input or parameter has.
    #[error("wrt {name}: no input or parameter has that name")]
    UnknownLeaf {
        /// The name asked for.
        name: String,
    },
    /// A stage that needs outputs (autodiff) was run on a graph without any.
    #[error("the graph has no outputs (add a `return` line)")]
    NoOutputs,
    /// A pipeline stage (`kiln_ir::pipeline`) failed; the stage prefixes the cause.
    #[error("{stage}: {error}")]
    Stage {
        /// `grad`, `opt` or `lowering`.
        stage: &'static str,
        /// What went wrong (boxed: the enum would otherwise be recursive).
        error: Box<IrError>,
    },
    /// Something kiln does not do (yet); the message says what.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {msg}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        msg: String,
    },
}

impl IrError {
    /// `error` as the failure of pipeline stage `stage`.
    pub fn in_stage(stage: &'static str, error: IrError) -> IrError {
        // Errors of the autodiff pass already name it (`grad: ...`): do not say it twice.
        if error.to_string().starts_with(&format!("{stage}:")) {
            return error;
        }
        IrError::Stage {
            stage,
            error: Box::new(error),
        }
    }

    /// Shorthand for [`IrError::Shape`].
    pub fn shape(op: &'static str, msg: impl Into<String>) -> IrError {
        IrError::Shape {
            op,
            msg: msg.into(),
        }
    }

    /// Shorthand for [`IrError::DType`].
    pub fn dtype(op: &'static str, msg: impl Into<String>) -> IrError {
        IrError::DType {
            op,
            msg: msg.into(),
        }
    }
}
