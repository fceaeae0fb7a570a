//! # kiln
//!
//! A tensor graph compiler. You build a lazy, static graph through [`Tensor`] handles with
//! PyTorch's names; kiln differentiates, optimises and fuses it and evaluates it as native CPU
//! code compiled with Cranelift (the reference interpreter is [`Device::Interpreter`]).
//!
//! ```
//! use kiln::Graph;
//! # fn main() -> kiln::Result<()> {
//! let g = Graph::new();
//! let a = g.tensor([[1.0f32, 2.0], [3.0, 4.0]])?;
//! let b = g.tensor([10.0f32, 20.0])?;
//! let c = ((&a + &b)? * 2.0)?; // broadcasting, a scalar on either side
//! assert_eq!(c.to_host()?.to_string(), "tensor([[22., 44.],\n        [26., 48.]])");
//! # Ok(()) }
//! ```
//!
//! ## Compiling, and what stays cached
//!
//! Evaluating tensors compiles the subgraph they need, once: each [`Graph`] keeps its programs
//! by output tensors, and each thread keeps its programs by structure — the needed subgraph
//! renumbered canonically, so a loop that rebuilds the same expression every iteration, or a
//! graph rebuilt from scratch, compiles once ([`compiled_programs`] counts compiles). Both
//! caches are bounded LRU maps of [`cache_capacity`] entries (`KILN_CACHE_SIZE`, or
//! [`set_cache_capacity`]; 64 by default) whose sizes and hit counts [`cache_stats`] and
//! [`Graph::cache_stats`] report. Literal numbers are part of a program (`x * 2.0` and
//! `x * 3.0` are two programs); a value that changes every iteration belongs in an input or a
//! parameter, as the optimisers keep their learning rate.
//!
//! ## What keeps a node alive
//!
//! A graph forgets what nobody can ask for any more: a node stays while a live [`Tensor`], a
//! live [`Executable`] or [`optim::TrainStep`] that computes it, a parameter, an input bound
//! with [`Graph::feed`], or the gradient subgraph of a live loss can reach it; the rest is
//! removed with what was cached for it (see [`Graph::forget_unreachable`]). So a loop that
//! rebuilds its loss each iteration runs in a graph of bounded size, as PyTorch frees its
//! autograd graph when the tensors die.
//!
//! ## Threads: what is `Send` and `Sync`
//!
//! A [`Graph`], its [`Tensor`]s, an [`Executable`] and an [`optim::TrainStep`] are
//! single-threaded, like PyTorch's autograd graph: they share one mutable graph (nodes,
//! parameter values, gradients, caches) through a reference-counted handle (`Rc`), so that
//! building an expression costs no locking. They are neither `Send` nor `Sync`, and sending
//! one to another thread is a compile error, not a data race:
//!
//! ```compile_fail
//! let g = kiln::Graph::new();
//! std::thread::spawn(move || g.node_count()); // `Rc<..>` cannot be sent between threads
//! ```
//!
//! Each thread may build and evaluate graphs of its own; the compile caches are per thread
//! ([`cache_stats`]), and every thread's programs run on one process-wide worker pool
//! (`KILN_THREADS`), so no thread is started per compile or per run.
//!
//! To serve a compiled program from many threads, [`Executable::detach`] it: a
//! [`DetachedExecutable`] is `Send + Sync` and runs with `&self` from any number of threads at
//! once. It shares the compiled code (an `Arc`, not a recompile), keeps its own copy of the
//! parameter values and bound inputs it reads (taken when detached), and each concurrent run
//! works in memory of its own.
#![deny(missing_docs)]

mod autograd;
mod backward;
mod cache;
mod canonical;
mod compile;
mod creation;
pub mod data;
pub mod datasets;
mod detached;
mod error;
mod executable;
mod graph;
pub mod linalg;
mod literal;
pub mod nn;
mod ops;
pub mod optim;
pub mod random;
mod tensor;

pub use autograd::no_grad;
pub use backward::grad;
pub use cache::{cache_capacity, CacheStats, DEFAULT_CACHE_CAPACITY};
pub use compile::{
    cache_stats, clear_compile_cache, compiled_programs, set_cache_capacity, CompileOptions, Device,
};
pub use detached::DetachedExecutable;
pub use error::{Error, Result};
pub use executable::{compile, Executable};
pub use graph::Graph;
pub use kiln_ir as ir;
pub use kiln_ir::{DType, HostTensor, Shape};
pub use literal::TensorLiteral;
pub use ops::index::Idx;
pub use random::manual_seed;
pub use random::tensors::{rand, randn};
pub use tensor::Tensor;
