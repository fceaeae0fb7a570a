//! Kernel IR -> CUDA C: the code generator of the CUDA backend (issue 12), without the driver.
//!
//! [`generate`] turns a verified [`Program`] — the same one the CPU backend compiles, with its
//! fusion, views as affine loads, masks and memory plan — into one CUDA C translation unit and
//! a list of [`Launch`]es that run it in order. Compiling the text (NVRTC, sm_XY, **without**
//! `--use_fast_math` and **with** `--fmad=false`), allocating buffers and launching are the
//! runtime's job and not here yet.
//!
//! What each kernel kind becomes (`emit.rs`):
//! - `Elementwise`: one `extern "C" __global__` function, a grid-stride loop over the flat
//!   index space with 64-bit index arithmetic; the body per point (`body.rs`);
//! - `Reduce` (prologue, epilogue): **one thread per output element** looping over the reduced
//!   axes in row-major order, float sums accumulated in f64 and integer sums in i64 and rounded
//!   once (the evaluator's definition, so results match it exactly). Correct but slow for long
//!   rows: warp-shuffle and block reductions (one warp or block per row, online softmax) are
//!   the next step;
//! - `ArgMax`: one thread per output element, PyTorch's rule (first maximum; NaN is largest);
//! - `Gather`: grid-stride loop; an index outside its axis is not used for a read: the launch's
//!   error word gets the smallest `1 + flat position` (the CPU loop kernels' error code);
//! - `ScatterAdd`: two functions, `_base` (writes the base over the output) and `_scatter`
//!   (bounds-checked like gather, `atomicAdd` into the output). Floats are added with atomics
//!   in whatever order the threads run, so the sum's last bits can vary from run to run and
//!   from the CPU's row-major order;
//! - `Gemm`: the product is meant for cuBLAS; `_product` is a naive kernel (one thread per
//!   output element, f64 accumulation rounded once) for integer matmul, for which cuBLAS has
//!   nothing, and for the host check. With an epilogue the product goes to the program's
//!   scratch buffer and `_epilogue`, an elementwise kernel over the product, writes the output.
//!
//! Math (`body.rs`) goes through CUDA's precise functions; their maximum errors from the CUDA
//! C Programming Guide's "Mathematical Functions" appendix, next to the CPU backend's inline
//! routines (`cpu::math`, measured bounds there):
//!
//! | op    | f32 (CUDA)  | f64 (CUDA) |
//! |-------|-------------|------------|
//! | exp   | `expf` 2 ulp  | `exp` 1 ulp |
//! | log   | `logf` 1 ulp  | `log` 1 ulp |
//! | sin   | `sinf` 2 ulp  | `sin` 2 ulp |
//! | cos   | `cosf` 2 ulp  | `cos` 2 ulp |
//! | tanh  | `tanhf` 2 ulp | `tanh` 2 ulp |
//! | pow   | `powf` 4 ulp  | `pow` 2 ulp |
//! | sqrt, div, recip | 0 ulp (IEEE, the NVRTC default `-prec-sqrt/-prec-div=true`) | 0 ulp |
//!
//! Not implemented yet: vectorised (`float4`/`double2`) loads, warp/block reductions, cuBLAS
//! dispatch, launch-bound tuning. Anything the emitters do not handle is
//! [`CodegenError::Unsupported`] with backend `"cuda"`, never a panic.
//!
//! Every generated function may be launched with any grid and block size (grid-stride loops,
//! no shared memory, no `__syncthreads`), which is what makes the host check of
//! `codegen/tests/cuda_host.rs` sound: it compiles the text with the host C++ compiler under a
//! header that runs a launch as plain loops over blocks and threads.
//! `codegen/tests/cuda_host/nvrtc_check.py` compiles the same text with the real NVRTC
//! (13.0.88 wheel, no GPU needed) to CUBINs for sm_80 and sm_90 and fails on any error,
//! warning or register spill; a runtime on top of cudarc is the next step (turning a non-zero
//! [`Arg::Error`] word into the CPU backend's `IrError::Runtime` for the kernel's node).

mod body;
mod emit;
mod prelude;

pub use prelude::PRELUDE;

use kiln_ir::kernel::{BufferId, Program};

use crate::error::{CodegenError, Result};

/// A kernel argument, in the order of the function's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// The device address of a program buffer (temporaries: arena base + plan offset).
    Buffer(BufferId),
    /// The program's gemm scratch buffer ([`CudaProgram::scratch_bytes`] bytes), which holds a
    /// product before its epilogue.
    Scratch,
    /// The launch's own error word (`unsigned long long`, zero before the launch); non-zero
    /// afterwards means an out-of-range index at flat position `word - 1`.
    Error,
}

/// One launch of a generated function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The program kernel it belongs to (index into [`Program::kernels`]).
    pub kernel: usize,
    /// The `extern "C"` function name.
    pub function: String,
    /// Work items of the grid-stride loop: any grid covers them; 0 means launch nothing.
    pub items: usize,
    /// Arguments, in parameter order.
    pub args: Vec<Arg>,
    /// True for a gemm product, which a runtime may replace by a cuBLAS call (floats).
    pub gemm_product: bool,
}

/// A program's CUDA C: the translation unit and the launches that run it, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct CudaProgram {
    /// [`PRELUDE`] followed by every kernel's functions.
    pub source: String,
    /// The kernels' functions only (without the prelude), for golden text and for batching
    /// several programs behind one prelude.
    pub kernels: String,
    /// Launches in execution order.
    pub launches: Vec<Launch>,
    /// Size of the gemm scratch buffer (0 when no launch uses [`Arg::Scratch`]).
    pub scratch_bytes: usize,
}

fn unsupported(what: String) -> CodegenError {
    CodegenError::Unsupported {
        backend: "cuda",
        what,
    }
}

/// Generates the CUDA C of `program` (verified first).
///
/// # Errors
/// [`CodegenError::Ir`] when the program fails [`Program::verify`];
/// [`CodegenError::Unsupported`] (backend `"cuda"`) for a construct the emitters do not handle.
pub fn generate(program: &Program) -> Result<CudaProgram> {
    program.verify()?;
    let mut kernels = String::new();
    let mut launches = Vec::new();
    let mut scratch_bytes = 0;
    for (k, kernel) in program.kernels.iter().enumerate() {
        let emitted = emit::kernel(program, k, &kernel.kind)?;
        kernels.push_str(&emitted.text);
        launches.extend(emitted.launches);
        scratch_bytes = scratch_bytes.max(emitted.scratch_bytes);
    }
    Ok(CudaProgram {
        source: format!("{PRELUDE}\n{kernels}"),
        kernels,
        launches,
        scratch_bytes,
    })
}
