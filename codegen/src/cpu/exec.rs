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
//! thread when its `work` reaches [`PARALLEL_WORK`]; a GEMM runs through [`gemm_rows`] and then
//! its epilogue, in place over the product, split the same way.
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

use cranelift_module::FuncId;
use kiln_ir::kernel::{BufferKind, KernelKind, Program};
use kiln_ir::{DType, HostTensor, IrError, NodeId, Shape, TensorData};

use crate::backend::{Executable, Feeds};
use crate::cpu::gemm::{gemm_rows, GemmDims, GemmLibrary, MatrixLayout, DEFAULT_LIBRARY};
use crate::cpu::jit::Jit;
use crate::error::{CodegenError, Result};

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

struct GemmStep {
    dtype: DType,
    dims: GemmDims,
    a: (usize, MatrixLayout),
    b: (usize, MatrixLayout),
    /// Where the product is written: the output buffer, or the scratch array (index
    /// `buffers.len()` of the table) when the epilogue changes the dtype.
    product: usize,
    epilogue: Option<LoopCall>,
    node: NodeId,
}

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

/// A cache line: the unit of every allocation, so each one is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A zeroed, 64-byte aligned allocation of at least one line.
struct Storage(Vec<Line>);

impl Storage {
    fn new(bytes: usize) -> Storage {
        Storage(vec![Line([0; 64]); bytes.div_ceil(64).max(1)])
    }

    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }
}

/// An input or parameter slot.
struct FeedSlot {
    name: String,
    buffer: usize,
    node: NodeId,
    dtype: DType,
    shape: Shape,
    /// No kernel writes the buffer and it is not an output: kernels may read the caller's data
    /// in place.
    in_place: bool,
}

/// A parameter the program updates: the caller's tensor is bound to its buffer for the run.
struct UpdateSlot {
    name: String,
    buffer: usize,
    dtype: DType,
    shape: Shape,
}

/// An output: its buffer, dtype and shape, and whether kernels write it straight into the
/// returned tensor's vector (a numeric `Output` buffer listed once).
struct OutputSlot {
    buffer: usize,
    dtype: DType,
    shape: Shape,
    direct: bool,
}

/// The buffer table, shareable with the worker threads.
#[derive(Clone, Copy)]
struct Table(*const *mut u8);

// SAFETY: the table is owned by the executable, and the memory it points to is either the
// executable's own or, during a run, the caller's feed data (borrowed for the whole run, only
// read) and the run's output vectors (owned by `run` until it returns); all of it outlives every
// scoped thread a run spawns. Concurrent kernel calls write disjoint elements (the loop
// contract), so sharing the pointer is sound.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

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
    pool: Option<rayon::ThreadPool>,
    gemm_library: GemmLibrary,
    /// Owns the code of every `LoopFn` in `steps`.
    _jit: Jit,
}

impl CpuExecutable {
    /// Compiles `program` with `compiler` for the loop kernels, running on up to `threads`
    /// threads (at least 1).
    pub fn new(
        program: &Program,
        threads: usize,
        compiler: &mut dyn LoopCompiler,
    ) -> Result<CpuExecutable> {
        let threads = threads.max(1);
        let mut jit = Jit::with_config(crate::cpu::jit::JitConfig {
            threads,
            ..Default::default()
        })?;
        // First pass: compile everything, keeping function ids.
        let mut compiled: Vec<Option<CompiledLoop>> = Vec::with_capacity(program.kernels.len());
        for (i, kernel) in program.kernels.iter().enumerate() {
            let name = format!("kiln_k{i}_{}", kernel.kind_name().replace('.', "_"));
            compiled.push(match &kernel.kind {
                KernelKind::Gemm { .. } => {
                    compiler.compile_epilogue(&mut jit, program, i, &name)?
                }
                _ => Some(compiler.compile_loop(&mut jit, program, i, &name)?),
            });
        }
        jit.finalize()?;
        let resolve = |c: CompiledLoop| -> Result<LoopCall> {
            let p = jit.function_ptr(c.func)?;
            // SAFETY: the loop compiler defines every kernel with the signature
            // (i64 bufs, i64 start, i64 end) -> i64 in the host's default (System V, i.e.
            // `extern "C"`) calling convention; the code lives as long as `jit`, which the
            // executable keeps.
            let f: LoopFn = unsafe { std::mem::transmute::<*const u8, LoopFn>(p) };
            Ok(LoopCall {
                f,
                extent: c.parallel_extent,
                work: c.work,
            })
        };
        let mut steps = Vec::with_capacity(program.kernels.len());
        let mut scratch_bytes = 0;
        for (i, (kernel, c)) in program.kernels.iter().zip(compiled).enumerate() {
            let node = kernel.nodes.last().copied().unwrap_or(NodeId(0));
            let step = match &kernel.kind {
                KernelKind::Gemm {
                    batch,
                    m,
                    n,
                    k,
                    a,
                    b,
                    out,
                    dtype,
                    ..
                } => {
                    let dims = GemmDims {
                        batch: batch.clone(),
                        m: *m,
                        n: *n,
                        k: *k,
                    };
                    let layout = |v: &kiln_ir::kernel::View, rows: usize, cols: usize| {
                        check_operand(program, i, v, &dims.batch, rows, cols, *dtype)
                    };
                    let a = (a.buffer.index(), layout(a, *m, *k)?);
                    let b = (b.buffer.index(), layout(b, *k, *n)?);
                    let o = program
                        .buffers
                        .get(out.index())
                        .ok_or_else(|| malformed(i, "output buffer out of range"))?;
                    if a.0 == out.index() || b.0 == out.index() {
                        return Err(malformed(i, "gemm output is one of its operands"));
                    }
                    if o.numel() != dims.rows() * n || (c.is_none() && o.dtype != *dtype) {
                        return Err(malformed(i, "gemm output buffer does not hold the product"));
                    }
                    // An epilogue that changes the dtype reads the product from the scratch
                    // array at `bufs[buffers.len()]` (the loop compiler's contract).
                    let product = if o.dtype == *dtype {
                        out.index()
                    } else {
                        scratch_bytes = scratch_bytes.max(o.numel() * dtype.size_bytes());
                        program.buffers.len()
                    };
                    Step::Gemm(GemmStep {
                        dtype: *dtype,
                        dims,
                        a,
                        b,
                        product,
                        epilogue: c.map(resolve).transpose()?,
                        node,
                    })
                }
                other => {
                    let check = index_check(other);
                    let c = c.ok_or_else(|| malformed(i, "loop kernel missing"))?;
                    Step::Loop {
                        call: resolve(c)?,
                        check,
                        kind: kernel.kind_name(),
                        node,
                    }
                }
            };
            steps.push(step);
        }
        let (storage, table) = allocate(program, scratch_bytes)?;
        let mut feeds = Vec::new();
        let decl = |id: kiln_ir::kernel::BufferId| {
            program
                .buffers
                .get(id.index())
                .ok_or_else(|| CodegenError::Unsupported {
                    backend: "cpu",
                    what: format!("malformed program: no buffer b{}", id.0),
                })
        };
        // Buffers some kernel writes (a gemm writes its output, then runs its epilogue there).
        let written: Vec<usize> = program.kernels.iter().map(|k| k.out().index()).collect();
        let listed = |b: usize| program.outputs.iter().filter(|o| o.index() == b).count();
        let updated = |b: &kiln_ir::kernel::BufferId| program.updates.iter().any(|(_, u)| u == b);
        for (name, id) in program.inputs.iter().chain(&program.params) {
            if updated(id) {
                continue;
            }
            let d = decl(*id)?;
            let buffer = id.index();
            feeds.push(FeedSlot {
                name: name.clone(),
                buffer,
                node: d.node,
                dtype: d.dtype,
                shape: d.shape.clone(),
                in_place: !written.contains(&buffer) && listed(buffer) == 0,
            });
        }
        let updates = program
            .updates
            .iter()
            .map(|(name, b)| {
                let d = decl(*b)?;
                if !matches!(&d.kind, BufferKind::Param(n) if n == name) {
                    return Err(CodegenError::Unsupported {
                        backend: "cpu",
                        what: format!(
                            "malformed program: update \"{name}\" is not a parameter buffer"
                        ),
                    });
                }
                Ok(UpdateSlot {
                    name: name.clone(),
                    buffer: b.index(),
                    dtype: d.dtype,
                    shape: d.shape.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = program
            .outputs
            .iter()
            .map(|&b| {
                let d = decl(b)?;
                Ok(OutputSlot {
                    buffer: b.index(),
                    dtype: d.dtype,
                    shape: d.shape.clone(),
                    direct: matches!(d.kind, BufferKind::Output(_))
                        && d.dtype != DType::Bool
                        && listed(b.index()) == 1,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("kiln-cpu-{i}"))
                    .build()
                    .map_err(|e| CodegenError::Unsupported {
                        backend: "cpu",
                        what: format!("cannot start {threads} worker threads: {e}"),
                    })?,
            )
        } else {
            None
        };
        Ok(CpuExecutable {
            steps,
            owned: table.clone(),
            table,
            _storage: storage,
            feeds,
            updates,
            outputs,
            threads,
            pool,
            gemm_library: DEFAULT_LIBRARY,
            _jit: jit,
        })
    }

    /// The number of threads loop kernels are split across.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `call` over `[0, extent)`, split across the pool when worthwhile; returns the first
    /// nonzero code in range order (the one a single call would have returned).
    fn run_loop(&self, call: LoopCall) -> i64 {
        let table = Table(self.table.as_ptr());
        let chunks = if call.work >= PARALLEL_WORK {
            self.threads.min(call.extent)
        } else {
            1
        };
        let run = move |t: Table, start: usize, end: usize| -> i64 {
            // SAFETY: `t` is this executable's buffer table (valid while `self` lives, and the
            // pool's scope ends before this function returns); `[start, end)` lies in
            // `0..extent` and the ranges of concurrent calls are disjoint, which the loop
            // contract makes write disjoint outputs.
            unsafe { (call.f)(t.0, start as i64, end as i64) }
        };
        match &self.pool {
            Some(pool) if chunks > 1 => {
                let mut codes = vec![0i64; chunks];
                pool.scope(|s| {
                    for (c, slot) in codes.iter_mut().enumerate() {
                        let (start, end) =
                            (call.extent * c / chunks, call.extent * (c + 1) / chunks);
                        s.spawn(move |_| *slot = run(table, start, end));
                    }
                });
                codes.into_iter().find(|&c| c != 0).unwrap_or(0)
            }
            _ => run(table, 0, call.extent),
        }
    }

    fn run_gemm(&self, g: &GemmStep) -> Result<()> {
        let (lib, threads, dims) = (self.gemm_library, self.threads, &g.dims);
        let (a, b, c) = (self.table[g.a.0], self.table[g.b.0], self.table[g.product]);
        let rows = 0..dims.rows();
        // The same call for each element type.
        macro_rules! product {
            ($t:ty) => {
                // SAFETY: the operands' extents were checked against their buffers (of
                // `g.dtype`) at compile time, the product's destination (the output buffer or
                // the scratch array) holds `rows * n` elements of `g.dtype`, and it is a
                // different buffer from both operands (the memory plan keeps a kernel's inputs
                // and output apart; `allocate` gives non-temporaries their own storage).
                unsafe {
                    gemm_rows::<$t>(
                        lib,
                        threads,
                        dims,
                        a.cast(),
                        &g.a.1,
                        b.cast(),
                        &g.b.1,
                        c.cast(),
                        rows,
                    )
                }
            };
        }
        match g.dtype {
            DType::F32 => product!(f32),
            DType::F64 => product!(f64),
            DType::I32 => product!(i32),
            DType::I64 => product!(i64),
            DType::Bool => {
                return Err(CodegenError::Unsupported {
                    backend: "cpu",
                    what: "matmul of bool".into(),
                })
            }
        }
        if let Some(e) = g.epilogue {
            let code = self.run_loop(e);
            if code != 0 {
                return Err(IrError::Runtime {
                    op: "matmul",
                    node: g.node,
                    msg: format!("epilogue kernel failed with code {code}"),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Checks every feed; points the table at the in-place ones and copies the others into
    /// their buffers.
    fn load_feeds(&mut self, feeds: &Feeds<'_>) -> Result<()> {
        for slot in &self.feeds {
            let t = feeds(&slot.name).ok_or_else(|| IrError::MissingFeed {
                name: slot.name.clone(),
                node: slot.node,
            })?;
            check_type(&slot.name, slot.dtype, &slot.shape, t)?;
        }
        for slot in &self.feeds {
            // Checked just above; `feeds` is a pure lookup.
            if let Some(t) = feeds(&slot.name) {
                // A bool is read by kernels as its byte (always 0 or 1, their encoding); feeds
                // read in place are never written.
                let data = t.as_ptr();
                if slot.in_place && t.numel() > 0 && (data as usize).is_multiple_of(VECTOR_ALIGN) {
                    // Only read: no kernel writes this buffer (checked at construction).
                    self.table[slot.buffer] = data.cast_mut();
                } else {
                    write_tensor(self.owned[slot.buffer], t);
                }
            }
        }
        Ok(())
    }
}

impl CpuExecutable {
    /// Checks the updated parameters and binds them: the table points at the caller's tensor
    /// (written in place by the kernels) or, for an empty or unaligned one, the buffer gets a
    /// copy; returns the indices of the copied ones, to be copied back after a successful run.
    fn bind_updates(&mut self, params: &mut [&mut HostTensor]) -> Result<Vec<usize>> {
        if params.len() != self.updates.len() {
            return Err(CodegenError::Unsupported {
                backend: "cpu",
                what: format!(
                    "this program updates {} parameters in place, but {} were passed{}",
                    self.updates.len(),
                    params.len(),
                    if params.is_empty() {
                        " (run it with run_updating)"
                    } else {
                        ""
                    }
                ),
            });
        }
        for (slot, t) in self.updates.iter().zip(params.iter()) {
            check_type(&slot.name, slot.dtype, &slot.shape, t)?;
        }
        let mut copied = Vec::new();
        for (i, (slot, t)) in self.updates.iter().zip(params.iter_mut()).enumerate() {
            let data = t.as_mut_ptr();
            if t.numel() > 0 && (data as usize).is_multiple_of(VECTOR_ALIGN) {
                self.table[slot.buffer] = data;
            } else {
                write_tensor(self.owned[slot.buffer], t);
                copied.push(i);
            }
        }
        Ok(copied)
    }
}

impl Executable for CpuExecutable {
    fn run_updating(
        &mut self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
    ) -> Result<Vec<HostTensor>> {
        let mut outputs = self
            .outputs
            .iter()
            .map(|o| fresh_output(o.dtype, &o.shape))
            .collect::<Result<Vec<_>>>()?;
        self.run_into(feeds, params, &mut outputs)?;
        Ok(outputs)
    }

    fn run_into(
        &mut self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
        outputs: &mut [HostTensor],
    ) -> Result<()> {
        self.check_outputs(outputs)?;
        let bound = self.bind_updates(params);
        let loaded = bound.and_then(|copied| self.load_feeds(feeds).map(|()| copied));
        // Direct outputs are written by the kernels straight into the caller's tensors; the
        // others are copied out of our buffers below.
        let mut bound_outputs = vec![false; outputs.len()];
        if loaded.is_ok() {
            for ((o, t), bound) in self
                .outputs
                .iter()
                .zip(outputs.iter_mut())
                .zip(&mut bound_outputs)
            {
                let p = t.as_mut_ptr();
                if o.direct && t.numel() > 0 && (p as usize).is_multiple_of(VECTOR_ALIGN) {
                    self.table[o.buffer] = p;
                    *bound = true;
                }
            }
        }
        let ran = loaded.and_then(|copied| self.run_steps().map(|()| copied));
        // Every pointer into the caller's feeds, parameters or outputs leaves the table here.
        self.table.copy_from_slice(&self.owned);
        for i in ran? {
            let (slot, t) = (&self.updates[i], &mut params[i]);
            copy_out(self.owned[slot.buffer], t, slot.dtype);
        }
        for ((o, t), bound) in self
            .outputs
            .iter()
            .zip(outputs.iter_mut())
            .zip(bound_outputs)
        {
            if !bound {
                copy_out(self.owned[o.buffer], t, o.dtype);
            }
        }
        Ok(())
    }
}

impl CpuExecutable {
    /// Checks that `outputs` has one tensor of the right dtype and shape per program output.
    fn check_outputs(&self, outputs: &[HostTensor]) -> Result<()> {
        if outputs.len() != self.outputs.len() {
            return Err(CodegenError::Unsupported {
                backend: "cpu",
                what: format!(
                    "this program has {} outputs, but {} tensors were given to write them into",
                    self.outputs.len(),
                    outputs.len()
                ),
            });
        }
        for (i, (o, t)) in self.outputs.iter().zip(outputs).enumerate() {
            if t.dtype() != o.dtype || *t.shape() != o.shape {
                return Err(CodegenError::Unsupported {
                    backend: "cpu",
                    what: format!(
                        "output {i} is {}{}, but the tensor given to hold it is {}{}",
                        o.dtype,
                        o.shape,
                        t.dtype(),
                        t.shape()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Copies a buffer of `t`'s dtype and element count into `t`.
fn copy_out(src: *const u8, t: &mut HostTensor, dtype: DType) {
    let bytes = t.numel() * dtype.size_bytes();
    // SAFETY: callers pass the base of a buffer declared with `t`'s dtype and shape (checked
    // against the parameter or output slot before the run), in the same encoding (a bool is
    // the byte 0 or 1, which the kernels write); `t` is the caller's memory, apart from ours.
    unsafe { std::ptr::copy_nonoverlapping(src, t.as_mut_ptr(), bytes) };
}

/// `IrError::FeedMismatch` unless `t` has the declared dtype and shape of feed `name`.
fn check_type(name: &str, dtype: DType, shape: &Shape, t: &HostTensor) -> Result<()> {
    if t.dtype() != dtype || t.shape() != shape {
        return Err(IrError::FeedMismatch {
            name: name.to_string(),
            expected_dtype: dtype,
            expected_shape: shape.clone(),
            got_dtype: t.dtype(),
            got_shape: t.shape().clone(),
        }
        .into());
    }
    Ok(())
}

/// Kernels read and write f32x4 / f64x2 vectors; caller memory is used in place only at this
/// alignment (the executable's own allocations are 64-byte aligned), otherwise it is copied.
const VECTOR_ALIGN: usize = 16;

/// A zeroed tensor for an output, its memory not yet touched (so huge pages can back it).
fn fresh_output(dtype: DType, shape: &Shape) -> Result<HostTensor> {
    let n = shape.numel();
    let data = match dtype {
        DType::Bool => TensorData::Bool(vec![false; n]),
        DType::I32 => TensorData::I32(vec![0; n]),
        DType::I64 => TensorData::I64(vec![0; n]),
        DType::F32 => TensorData::F32(vec![0.0; n]),
        DType::F64 => TensorData::F64(vec![0.0; n]),
    };
    let mut t = HostTensor::new(shape.clone(), data)?;
    advise_huge_pages(t.as_mut_ptr(), n * dtype.size_bytes());
    Ok(t)
}

/// Outputs at least this large ask the kernel for transparent huge pages.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks Linux to back the 2 MiB-aligned interior of a fresh, untouched allocation with huge
/// pages: the kernels' first writes then fault once per 2 MiB instead of once per 4 KiB (a
/// 64 MiB output: 32 faults instead of 16,384). Only a hint; without THP nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE_BYTES);
    let end = (ptr as usize + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if bytes >= 2 * HUGE_PAGE_BYTES && end > start {
        // SAFETY: `[start, end)` lies inside the caller's live allocation; MADV_HUGEPAGE only
        // changes how the kernel backs those pages, never their contents (still zero here).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: *mut u8, _: usize) {}

impl CpuExecutable {
    /// Runs every step in order (the table already bound to this run's feeds and outputs).
    fn run_steps(&self) -> Result<()> {
        for step in &self.steps {
            match step {
                Step::Loop {
                    call,
                    check,
                    kind,
                    node,
                } => {
                    let code = self.run_loop(*call);
                    if code != 0 {
                        return Err(kernel_failure(code, check.as_ref(), kind, *node).into());
                    }
                }
                Step::Gemm(g) => self.run_gemm(g)?,
            }
        }
        Ok(())
    }
}

/// The `IrError::Runtime` for a kernel that returned `code` (1 + a flat index position).
fn kernel_failure(
    code: i64,
    check: Option<&IndexCheck>,
    kind: &'static str,
    node: NodeId,
) -> IrError {
    match check {
        Some(c) => {
            let mut flat = (code - 1).max(0) as usize;
            let mut at = vec![0usize; c.shape.rank()];
            for (d, &size) in c.shape.dims().iter().enumerate().rev() {
                at[d] = flat % size.max(1);
                flat /= size.max(1);
            }
            IrError::Runtime {
                op: c.op,
                node: c.node,
                msg: format!(
                    "index out of bounds for axis {} with size {} (at index position {at:?})",
                    c.axis, c.size
                ),
            }
        }
        None => IrError::Runtime {
            op: kind,
            node,
            msg: format!("kernel failed with code {code}"),
        },
    }
}

/// How to report a bad index of a gather or scatter-add kernel (`None` for other kinds).
fn index_check(kind: &KernelKind) -> Option<IndexCheck> {
    match kind {
        KernelKind::Gather {
            shape,
            axis,
            src_dims,
            node,
            ..
        } => Some(IndexCheck {
            op: "gather",
            node: *node,
            shape: shape.clone(),
            axis: *axis,
            size: src_dims.get(*axis).copied().unwrap_or(0),
        }),
        KernelKind::ScatterAdd {
            out_shape,
            shape,
            axis,
            node,
            ..
        } => Some(IndexCheck {
            op: "scatter_add",
            node: *node,
            shape: shape.clone(),
            axis: *axis,
            size: out_shape.dims().get(*axis).copied().unwrap_or(0),
        }),
        KernelKind::Elementwise { .. }
        | KernelKind::Reduce { .. }
        | KernelKind::ArgMax { .. }
        | KernelKind::Gemm { .. } => None,
    }
}

fn malformed(kernel: usize, what: &str) -> CodegenError {
    CodegenError::Unsupported {
        backend: "cpu",
        what: format!("malformed program: kernel {kernel}: {what}"),
    }
}

/// The layout of a GEMM operand, checked: its buffer has the product's dtype and every element
/// the layout reaches lies inside the buffer.
fn check_operand(
    program: &Program,
    kernel: usize,
    v: &kiln_ir::kernel::View,
    batch: &[usize],
    rows: usize,
    cols: usize,
    dtype: DType,
) -> Result<MatrixLayout> {
    let d = program
        .buffers
        .get(v.buffer.index())
        .ok_or_else(|| malformed(kernel, "operand buffer out of range"))?;
    if d.dtype != dtype || v.strides.len() != batch.len() + 2 {
        return Err(malformed(
            kernel,
            "operand dtype or rank differs from the product's",
        ));
    }
    let l = MatrixLayout::from_view(v.offset, &v.strides)
        .ok_or_else(|| malformed(kernel, "operand of rank < 2"))?;
    if let Some((lo, hi)) = l.extent(batch, rows, cols) {
        if lo < 0 || hi as usize >= d.numel() {
            return Err(malformed(kernel, "operand view reaches outside its buffer"));
        }
    } else if !(rows == 0 || cols == 0 || batch.contains(&0)) {
        return Err(malformed(kernel, "operand view offsets overflow"));
    }
    Ok(l)
}

/// The arena (first) and the owned allocations, and the table of every buffer's base address
/// followed by the GEMM scratch array of `scratch_bytes`.
fn allocate(program: &Program, scratch_bytes: usize) -> Result<(Vec<Storage>, Vec<*mut u8>)> {
    let mut storage = vec![Storage::new(program.plan.peak_bytes)];
    let arena = storage[0].ptr();
    let mut table = Vec::with_capacity(program.buffers.len());
    for (i, d) in program.buffers.iter().enumerate() {
        if d.kind == BufferKind::Temp {
            let off = program
                .plan
                .offsets
                .get(i)
                .copied()
                .flatten()
                .filter(|&o| o % 64 == 0 && o + d.bytes() <= program.plan.peak_bytes)
                .ok_or_else(|| CodegenError::Unsupported {
                    backend: "cpu",
                    what: format!("malformed memory plan: b{i} has no aligned arena slot"),
                })?;
            // SAFETY: `off + bytes <= peak_bytes`, the arena's size, checked just above.
            table.push(unsafe { arena.add(off) });
            continue;
        }
        let mut s = Storage::new(d.bytes());
        if let BufferKind::Const(t) = &d.kind {
            if t.dtype() != d.dtype || t.numel() != d.numel() {
                return Err(CodegenError::Unsupported {
                    backend: "cpu",
                    what: format!("malformed program: constant b{i} does not match its buffer"),
                });
            }
            write_tensor(s.ptr(), t);
        }
        table.push(s.ptr());
        storage.push(s);
    }
    let mut scratch = Storage::new(scratch_bytes);
    table.push(scratch.ptr());
    storage.push(scratch);
    Ok((storage, table))
}

/// Copies `t`'s elements to `dst` in their native encoding (a bool is the byte 0 or 1): the
/// twin of [`copy_out`].
fn write_tensor(dst: *mut u8, t: &HostTensor) {
    let bytes = t.numel() * t.dtype().size_bytes();
    // SAFETY: callers pass the base of a buffer declared with `t`'s dtype and shape (checked by
    // the feed check or at compile time for constants), so it holds `bytes` bytes; host memory
    // never overlaps kernel buffers.
    unsafe { std::ptr::copy_nonoverlapping(t.as_ptr(), dst, bytes) };
}
