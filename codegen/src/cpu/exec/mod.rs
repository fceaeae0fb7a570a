//! The CPU executor: owns the memory of a compiled [`Program`] and runs its kernels in order.
//!
//! Storage: one 64-byte aligned arena of `plan.peak_bytes` holds every temporary at its planned
//! offset; inputs, parameters, constants (copied once, at compile time) and outputs each own a
//! 64-byte aligned allocation. A table of every buffer's base address (`bufs[i]` is
//! `program.buffers[i]`) is what JIT loop kernels receive; it is built once and never moves.
//!
//! Running: feeds are checked (`IrError::MissingFeed`, `IrError::FeedMismatch`); a feed whose
//! buffer no kernel writes and that is not an output is read in place for the duration of the run
//! (its table entry points at the caller's data), any other is copied in (bools as one byte, 0
//! or 1). Outputs of a numeric dtype held by their own `Output` buffer are written straight into
//! the caller's tensors (`run_into`) or into fresh ones (`run`, which asks for huge pages for
//! large ones); the others (bool outputs, a buffer listed twice) are copied out. Parameters a
//! training step updates are lent by the caller and written in place (`run_updating`). The
//! table is restored to the executable's own memory when the run ends, whether it succeeds or
//! fails. Each loop kernel runs over `[0, parallel_extent)`, cut into one contiguous range per
//! thread when its `work` reaches [`PARALLEL_WORK`]; a GEMM runs through
//! [`gemm_rows`](crate::cpu::gemm::gemm_rows) and then its epilogue, in place over the product,
//! split the same way.
//!
//! The parts: `build` — `CpuExecutable::new`: compile the kernels, turn them into
//! steps, allocate, find the caller-facing slots, start the worker pool; `memory` — the
//! allocations and moving data between them and the caller's tensors (feeds, updated
//! parameters, outputs); `run` — the `Executable` impl: bind, run the steps, unbind.
//!
//! Guarantees:
//! - results do not depend on the thread count: every output element is computed by exactly one
//!   kernel call, and the loop contract makes a point's value independent of the range it is
//!   computed in; a GEMM's rows likewise (see [`crate::cpu::gemm`]);
//! - no kernel is handed an address outside its buffers as far as the executor can check: GEMM
//!   operand extents are checked against their buffers at compile time, and an out-of-range
//!   gather/scatter index comes back from the kernel as an error code, turned into
//!   `IrError::Runtime` naming the node and the index position;
//! - the [`Jit`] that owns the code lives exactly as long as the executable.

mod build;
mod memory;
mod run;

use cranelift_module::FuncId;
use kiln_ir::kernel::Program;
use kiln_ir::{DType, NodeId, Shape};

use crate::cpu::gemm::{GemmDims, GemmLibrary, MatrixLayout};
use crate::cpu::jit::Jit;
use crate::error::Result;

use memory::{FeedSlot, OutputSlot, Storage, UpdateSlot};

/// Loop kernels doing at least this much work (elements, as the loop compiler counts them) are
/// split across threads; below it one call is cheaper than waking the pool.
pub const PARALLEL_WORK: usize = 1 << 16;

/// A compiled loop kernel (what `cpu::loops` produces): `fn(bufs: *const *mut u8, start: i64,
/// end: i64) -> i64` over `[start, end) ⊆ 0..parallel_extent`, returning 0 or 1 + the flat
/// position of an out-of-range gather/scatter index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompiledLoop {
    /// The function in the [`Jit`].
    pub func: FuncId,
    /// The range of the function's outermost parallel loop.
    pub parallel_extent: usize,
    /// A measure of the whole kernel's work (elements touched), for the threading decision.
    pub work: usize,
}

/// Compiles the non-GEMM parts of a program: every non-GEMM kernel and each GEMM's epilogue.
/// The CPU backend's implementation is the Cranelift loop compiler; tests may substitute their
/// own.
pub trait LoopCompiler {
    /// Compiles kernel `kernel` (not a GEMM) of `program` into `jit` under symbol `name`.
    fn compile_loop(
        &mut self,
        jit: &mut Jit,
        program: &Program,
        kernel: usize,
        name: &str,
    ) -> Result<CompiledLoop>;

    /// Compiles the epilogue of GEMM kernel `kernel`, run in place over its `[batch * m]` output
    /// rows after the product; `None` when it has none.
    fn compile_epilogue(
        &mut self,
        jit: &mut Jit,
        program: &Program,
        kernel: usize,
        name: &str,
    ) -> Result<Option<CompiledLoop>>;
}

/// The ABI of a JIT loop kernel.
type LoopFn = unsafe extern "C" fn(*const *mut u8, i64, i64) -> i64;

/// A loop kernel ready to call.
#[derive(Clone, Copy)]
struct LoopCall {
    f: LoopFn,
    extent: usize,
    work: usize,
}

/// How to name a failing kernel's index in `IrError::Runtime`.
struct IndexCheck {
    op: &'static str,
    node: NodeId,
    /// The index space the flat position is in.
    shape: Shape,
    axis: usize,
    size: usize,
}

/// A GEMM operand: which buffer of the table, and where its elements are in it.
struct GemmOperand {
    buffer: usize,
    layout: MatrixLayout,
}

/// A GEMM kernel: the product of its operands, then its epilogue (if any) over the product.
struct GemmStep {
    dtype: DType,
    dims: GemmDims,
    a: GemmOperand,
    b: GemmOperand,
    /// Where the product is written: the output buffer, or the scratch array (index
    /// `buffers.len()` of the table) when the epilogue changes the dtype.
    product: usize,
    epilogue: Option<LoopCall>,
    node: NodeId,
}

/// One kernel of the program, ready to run.
enum Step {
    Loop {
        call: LoopCall,
        /// For gather/scatter-add: how to report a bad index.
        check: Option<IndexCheck>,
        kind: &'static str,
        node: NodeId,
    },
    Gemm(GemmStep),
}

/// A compiled program with its memory, ready to run many times.
pub struct CpuExecutable {
    steps: Vec<Step>,
    /// Base address of every buffer: `owned`, except during a run, where in-place feeds and
    /// direct outputs point at the caller's data and the run's output vectors.
    table: Vec<*mut u8>,
    /// Base address of every buffer in `storage`.
    owned: Vec<*mut u8>,
    /// Owns the memory behind `table` (the arena first). Never resized after construction, so
    /// the addresses stay valid.
    _storage: Vec<Storage>,
    feeds: Vec<FeedSlot>,
    updates: Vec<UpdateSlot>,
    outputs: Vec<OutputSlot>,
    threads: usize,
    /// The process-wide worker pool (`cpu/threads.rs`); `None` for one thread.
    pool: Option<&'static rayon::ThreadPool>,
    gemm_library: GemmLibrary,
    /// Owns the code of every `LoopFn` in `steps`.
    _jit: Jit,
}

impl CpuExecutable {
    /// The number of threads loop kernels are split across.
    pub fn threads(&self) -> usize {
        self.threads
    }
}
