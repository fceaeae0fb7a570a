//! kiln-codegen: the backends that turn kernel IR into executables.
//!
//! - [`cpu`]: Cranelift JIT. [`cpu::jit`] owns the native ISA and the JIT module;
//!   [`cpu::math`] emits vectorised polynomial approximations of exp, log, sin, cos, tanh,
//!   sigmoid and pow as inline CLIF (Cranelift has no transcendental instructions), each with a
//!   measured ulp bound; `cpu::kernels` (the `testing` feature) builds elementwise loops over
//!   buffers for the math tests and examples.
//! - [`backend`]: the [`Backend`] / [`Executable`] contract every device implements.
//! - `cuda/`: kernel IR to CUDA C (`cuda::generate`), checked on the host and compiled by
//!   NVRTC in CI; the runtime that launches it through cudarc is not built yet.
//!
//! This crate takes verified IR and never invents ops. `unsafe` appears only where JIT code is
//! called or raw pointers are touched, each block with a `// SAFETY:` comment.

pub mod backend;
pub mod cpu;
pub mod cuda;
pub mod error;

pub use backend::{Backend, Executable, Feeds};
pub use error::{CodegenError, Result};
