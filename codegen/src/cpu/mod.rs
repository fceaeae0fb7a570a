//! The CPU backend: kernel IR to native code with Cranelift's JIT.
//!
//! - [`jit`]: the native ISA (with AVX/AVX2/FMA where the host has them) and a JIT module that
//!   declares, defines and finalizes functions and hands out callable pointers.
//! - [`math`]: inline CLIF for exp, log, sin, cos, tanh, sigmoid and pow on `f32x4`, `f32`,
//!   `f64x2` and `f64`, with measured ulp bounds.
//! - `kernels` (with the `testing` feature only): elementwise map loops (`dst[i] = f(src[i])`)
//!   over buffers, for the math accuracy tests and the speed examples.
//! - [`loops`]: every non-gemm kernel of the kernel IR (and gemm epilogues) as a native loop
//!   nest, vectorised along the innermost axis where the body allows.
//! - [`gemm`]: batched, strided f32/f64/i32/i64 matrix products (kiln's own blocked AVX2+FMA
//!   GEMM for large float products, matrixmultiply on CPUs without AVX2+FMA, the IR's exact
//!   definition otherwise); operands travel as `Operands` / `BatchOperands`, whose docs state
//!   the safety contract once.
//! - [`exec`]: the executor: one arena for temporaries, owned buffers for the rest, kernels run
//!   in order and split across threads (`exec/build.rs` verifies and compiles, `memory.rs`
//!   allocates and binds the caller's tensors, `run.rs` runs); [`backend`]: [`CpuBackend`], the
//!   `Backend` impl.
//!
//! - [`threads`]: the process's one worker pool (`KILN_THREADS`), shared by every executable
//!   and the JIT; nothing starts threads per compilation or per run.
//!
//! Cranelift on x86-64 has 128-bit vectors only, so the vector types are `f32x4` and `f64x2`.

pub mod backend;
pub mod exec;
pub mod gemm;
pub mod jit;
#[cfg(feature = "testing")]
pub mod kernels;
pub mod listing;
pub mod loops;
pub mod math;
pub mod threads;

pub use backend::CpuBackend;
pub use exec::CpuExecutable;
pub use jit::{Jit, JitConfig};
pub use listing::clif_listing;
