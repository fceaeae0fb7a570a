//! The CPU executor: owns the memory of a compiled [`Program`] and runs its kernels in order.
//!
//! Storage (a run's [`Memory`]): one 64-byte aligned arena of `plan.peak_bytes` holds every
//! temporary at its planned offset; inputs, parameters, constants (copied when the memory is
//! made) and outputs each own a 64-byte aligned allocation. A table of every buffer's base
//! address (`bufs[i]` is `program.buffers[i]`) is what JIT loop kernels receive. One memory is
//! made with the executable; a run that finds it in use by another thread's run makes another,
//! kept for later runs — so a program run from N threads at once holds at most N memories.
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
//! steps, lay out and allocate the memory, find the caller-facing slots, attach the worker pool;
//! `memory` — a run's memory and moving data between it and the caller's tensors (feeds,
//! updated parameters, outputs); `run` — the `Executable` impl: take a memory, bind, run the
//! steps, unbind, give the memory back.
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

use memory::{FeedSlot, Layout, Memory, OutputSlot, UpdateSlot};
use std::sync::Mutex;

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

/// A compiled program, ready to run many times — from several threads at once.
///
/// `Send + Sync`: the compiled code and the plan of steps never change after construction, and
/// each run works in a [`Memory`] of its own, taken from a free list (or allocated when every
/// memory is busy with another thread's run) and returned when the run ends. So concurrent runs
/// share the code and never a buffer.
pub struct CpuExecutable {
    code: Code,
    /// Memories not in use by a run; one is allocated with the executable.
    memories: Mutex<Vec<Memory>>,
}

/// What every run of an executable shares: read-only after construction.
struct Code {
    steps: Vec<Step>,
    feeds: Vec<FeedSlot>,
    updates: Vec<UpdateSlot>,
    outputs: Vec<OutputSlot>,
    /// What a run's [`Memory`] holds.
    layout: Layout,
    threads: usize,
    /// The process-wide worker pool (`cpu/threads.rs`); `None` for one thread.
    pool: Option<&'static rayon::ThreadPool>,
    gemm_library: GemmLibrary,
    /// Owns the code of every `LoopFn` in `steps`.
    _jit: CodeOwner,
}

/// The JIT module that owns the compiled code; nothing uses it after construction.
struct CodeOwner(#[allow(dead_code)] Jit);

// SAFETY: after `finalize` the JIT module is never used again: it only keeps the executable
// memory of the loop kernels alive (calling them needs no access to it) and frees it when the
// executable is dropped, which is sound on any thread.
unsafe impl Send for CodeOwner {}
// SAFETY: as above; no method is ever called through a shared reference.
unsafe impl Sync for CodeOwner {}

impl CpuExecutable {
    /// The number of threads loop kernels are split across.
    pub fn threads(&self) -> usize {
        self.code.threads
    }

    /// A memory for one run: a free one, or a new one when every memory is in use.
    fn take_memory(&self) -> Memory {
        let free = self
            .memories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        free.unwrap_or_else(|| Memory::new(&self.code.layout))
    }

    /// Returns a run's memory to the free list (its table already points at its own storage).
    fn give_back(&self, memory: Memory) {
        self.memories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(memory);
    }
}
