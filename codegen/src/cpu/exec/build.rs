//! Building a [`CpuExecutable`]: compile every kernel (loop kernels and GEMM epilogues) into
//! one JIT, turn each kernel into a [`Step`], allocate the buffers, find the buffers the caller
//! binds (feeds, updated parameters, outputs) and attach the process's worker pool.
//!
//! The program is verified first ([`Program::verify`]); the rest relies on its contract rather
//! than checking again: every GEMM operand lies inside its buffer and has the product's dtype,
//! the product's destination holds it and is neither operand, every temporary has an aligned
//! arena slot, every constant matches its buffer, every binding names a buffer of its kind.
//!
//! Guarantees: running needs no checks but those of the caller's tensors; every loop step calls
//! a finalized function of the executable's own JIT.

use kiln_ir::kernel::{KernelKind, Program, View};
use kiln_ir::NodeId;

use super::memory::{Layout, Memory, Slots};
use super::{
    Code, CodeOwner, CompiledLoop, CpuExecutable, GemmOperand, GemmStep, IndexCheck, LoopCall,
    LoopCompiler, LoopFn, Step,
};
use crate::cpu::gemm::{GemmDims, MatrixLayout, DEFAULT_LIBRARY};
use crate::cpu::jit::{Jit, JitConfig};
use crate::cpu::threads::worker_pool;
use crate::error::Result;
use std::sync::Mutex;

impl CpuExecutable {
    /// Verifies `program` and compiles it with `compiler` for the loop kernels, running on up
    /// to `threads` threads (at least 1).
    ///
    /// # Errors
    /// `IrError::Internal` for a program that breaks the kernel-IR contract (a kiln bug); the
    /// loop compiler's and Cranelift's errors.
    pub fn new(
        program: &Program,
        threads: usize,
        compiler: &mut dyn LoopCompiler,
    ) -> Result<CpuExecutable> {
        // The executable's raw memory accesses (arena slots, constants, GEMM operands) rely on
        // the contract, so it is checked here, on every path to an executable.
        program.verify()?;
        let threads = threads.max(1);
        let mut jit = Jit::with_config(JitConfig {
            threads,
            ..Default::default()
        })?;
        let compiled = compile_kernels(&mut jit, program, compiler)?;
        jit.finalize()?;
        let (steps, scratch_bytes) = plan_steps(&jit, program, compiled)?;
        let layout = Layout::of(program, scratch_bytes);
        let first_memory = Memory::new(&layout);
        let Slots {
            feeds,
            updates,
            outputs,
        } = Slots::of(program);
        let code = Code {
            steps,
            feeds,
            updates,
            outputs,
            layout,
            threads,
            pool: if threads > 1 {
                Some(worker_pool()?)
            } else {
                None
            },
            gemm_library: DEFAULT_LIBRARY,
            _jit: CodeOwner(jit),
        };
        Ok(CpuExecutable {
            code,
            memories: Mutex::new(vec![first_memory]),
        })
    }
}

/// Defines every kernel's function in `jit` (not yet finalized): for each kernel, its loop
/// kernel, or a GEMM's epilogue (`None` when it has none).
fn compile_kernels(
    jit: &mut Jit,
    program: &Program,
    compiler: &mut dyn LoopCompiler,
) -> Result<Vec<Option<CompiledLoop>>> {
    let mut compiled = Vec::with_capacity(program.kernels.len());
    for (i, kernel) in program.kernels.iter().enumerate() {
        let name = format!("kiln_k{i}_{}", kernel.kind_name().replace('.', "_"));
        compiled.push(match &kernel.kind {
            KernelKind::Gemm { .. } => compiler.compile_epilogue(jit, program, i, &name)?,
            _ => Some(compiler.compile_loop(jit, program, i, &name)?),
        });
    }
    Ok(compiled)
}

/// The callable form of a compiled loop kernel of the finalized `jit`.
fn resolve(jit: &Jit, c: CompiledLoop) -> Result<LoopCall> {
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
}

/// One step per kernel, in program order, and the bytes of GEMM scratch the steps need (for
/// products whose epilogue changes the dtype).
fn plan_steps(
    jit: &Jit,
    program: &Program,
    compiled: Vec<Option<CompiledLoop>>,
) -> Result<(Vec<Step>, usize)> {
    let mut steps = Vec::with_capacity(program.kernels.len());
    let mut scratch_bytes = 0;
    for (i, (kernel, c)) in program.kernels.iter().zip(compiled).enumerate() {
        let node = kernel.nodes.last().copied().unwrap_or(NodeId(0));
        let step = match &kernel.kind {
            KernelKind::Gemm { .. } => {
                let (g, scratch) = gemm_step(jit, program, i, c, node)?;
                scratch_bytes = scratch_bytes.max(scratch);
                Step::Gemm(g)
            }
            other => {
                let Some(c) = c else {
                    unreachable!("compile_kernels compiles every kernel but a gemm");
                };
                Step::Loop {
                    call: resolve(jit, c)?,
                    check: index_check(other),
                    kind: kernel.kind_name(),
                    node,
                }
            }
        };
        steps.push(step);
    }
    Ok((steps, scratch_bytes))
}

/// The step of GEMM kernel `kernel` and the bytes of scratch it needs (0 unless its epilogue
/// changes the dtype).
fn gemm_step(
    jit: &Jit,
    program: &Program,
    kernel: usize,
    epilogue: Option<CompiledLoop>,
    node: NodeId,
) -> Result<(GemmStep, usize)> {
    let KernelKind::Gemm {
        batch,
        m,
        n,
        k,
        a,
        b,
        out,
        dtype,
        ..
    } = &program.kernels[kernel].kind
    else {
        unreachable!("plan_steps passes gemm kernels only");
    };
    let dims = GemmDims {
        batch: batch.clone(),
        m: *m,
        n: *n,
        k: *k,
    };
    // Verified (`rank`, `dtype`, `load-in-bounds`): an operand view has the batch dims and two
    // more, the product's dtype, and stays inside its buffer.
    let operand = |v: &View| GemmOperand {
        buffer: v.buffer.index(),
        layout: MatrixLayout::from_view(v.offset, &v.strides)
            .expect("verified: a gemm operand view has rank >= 2"),
    };
    let (a, b) = (operand(a), operand(b));
    // Verified (`out-buffer`, `in-place`): the output holds `rows * n` elements of the
    // product's dtype (or, with an epilogue, of the epilogue's) and is neither operand.
    let o = program.buffer(*out);
    // An epilogue that changes the dtype reads the product from the scratch array at
    // `bufs[buffers.len()]` (the loop compiler's contract).
    let (product, scratch) = if o.dtype == *dtype {
        (out.index(), 0)
    } else {
        (program.buffers.len(), o.numel() * dtype.size_bytes())
    };
    let step = GemmStep {
        dtype: *dtype,
        dims,
        a,
        b,
        product,
        epilogue: epilogue.map(|c| resolve(jit, c)).transpose()?,
        node,
    };
    Ok((step, scratch))
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
