//! kiln-ir: the graph IR of kiln and everything that works on it without generating code.
//!
//! - [`dtype`], [`shape`], [`tensor`]: element types, shapes with broadcasting, host tensors;
//! - [`op`]: the primitive ops and their type rules; [`graph`]: the graph itself;
//! - [`text`]: the `.kir` text format (print and parse, round-trip exact);
//! - [`interp`]: the reference interpreter, the oracle for every backend;
//! - [`philox`]: the counter-based generator behind in-graph random ops;
//! - [`kernel`]: fusion into the backend-neutral kernel IR, memory planning and a kernel-IR
//!   evaluator.
//!
//! This crate has no `unsafe` and knows nothing of codegen.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod autodiff;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod interp;
pub mod kernel;
pub mod op;
pub mod passes;
pub mod philox;
pub mod pipeline;
pub mod shape;
pub mod tensor;
pub mod tensor_fmt;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;

pub use dtype::DType;
pub use error::{IrError, Result};
pub use graph::{Graph, Node, NodeId};
pub use interp::evaluate;
pub use op::{
    BinaryOp, DTypes, Distribution, FusionClass, MathFn, Op, ReduceOp, SliceRange, TensorType,
    UnaryOp,
};
pub use shape::{Shape, MAX_RANK};
pub use tensor::{HostTensor, TensorData};
pub use tensor_fmt::PrintOptions;
