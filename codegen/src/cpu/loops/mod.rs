//! Native loops for every kernel of the kernel IR except the gemm itself: elementwise maps,
//! reductions, argmax, gather, scatter-add, and gemm epilogues.
//!
//! # Contract
//!
//! [`compile_loop_kernel`] and [`compile_gemm_epilogue`] define one JIT function per kernel with
//! the C signature
//!
//! ```text
//! extern "C" fn(bufs: *const *mut u8, start: i64, end: i64) -> i64
//! ```
//!
//! - `bufs[i]` is the base address of `program.buffers[i]`, for every buffer of the program in
//!   order (contiguous, row-major, in the buffer's dtype; bool as one byte 0/1). A gemm epilogue
//!   whose gemm dtype differs from its output buffer's dtype also reads `bufs[buffers.len()]`
//!   (see [`compile_gemm_epilogue`]).
//! - `[start, end)` is a sub-range of `0..parallel_extent`. Calls over disjoint ranges write
//!   disjoint bytes, so the executor may run them on different threads; results do not depend
//!   on the split (every reduction runs entirely inside one call, in a fixed order).
//! - It returns 0 on success, or `1 + i` where `i` is the flat row-major position, within the
//!   kernel's index space, of an out-of-range gather/scatter index (nothing out of range is
//!   read or written; the caller builds `IrError::Runtime` naming the kernel's node).
//!
//! Parallel extents (of the canonical loop space: size-1 axes dropped, contiguous axes merged,
//! see `canon.rs`): Elementwise: the product of all axes but the innermost (1 for rank 0);
//! Reduce: the output elements (last axis reduced) or the output rows (last axis kept); ArgMax:
//! the output elements; Gather: the index space's rows; ScatterAdd: 1 (serial).
//!
//! # Code shape
//!
//! Loops follow each [`View`](kiln_ir::kernel::View)'s affine map, with the per-row address
//! hoisted out of the innermost loop. The innermost axis is vectorised (`f32x4` / `f64x2`,
//! 4 vectors per iteration, then one vector, then a scalar tail) when the output is that float
//! type and every per-point instruction has a vector form (see `body.rs`); otherwise it runs in
//! scalar code. Before that, size-1 axes are dropped and contiguous adjacent axes merged
//! (`canon.rs`), so `[n, 3]` runs as one vectorised axis of `3n`.
//!
//! Vectorised: f32/f64 bodies of loads with inner stride 0 (splat, hoisted per row) or 1,
//! masks that are uniform along the inner axis (pad/concat on outer axes), float arithmetic,
//! exp/log/sin/cos/tanh/pow, sqrt, recip, max/min, comparisons, select, float <-> bool casts;
//! reductions of such bodies along a reduced or a kept inner axis. Scalar: integer and bool
//! outputs, non-unit inner strides (transposes), masks or `InRange` along the inner axis, `Index`,
//! `Random` along the inner axis, casts between different numeric types, gather, scatter-add,
//! argmax. No FMA contraction is done (it would change rounding against the evaluator).
//!
//! Speed: measured by `tests/loops_speed.rs` (`KILN_LOOPS_SPEED_N`); numbers in BENCHMARKS.md.
//!
//! # Differences from the evaluator
//!
//! Elementwise results are bit-identical to `kiln_ir::kernel::evaluate_program` except: integer
//! add/sub/mul wrap where the evaluator saturates (only on overflow; neg and abs saturate); transcendental
//! functions come from `cpu::math` (≤ 2 ulp in f32, see its table); `i64 -> f32` rounds once
//! (the evaluator goes through f64). Sums accumulate in the output dtype with vector partial
//! sums (the evaluator sums in f64 and rounds once), integer sums in i64.

mod body;
mod canon;
mod index;
mod map;
mod nest;
mod reduce;
pub mod runtime;
mod staged;

use cranelift_frontend::FunctionBuilder;
use cranelift_module::FuncId;
use kiln_ir::kernel::{Body, BufferId, KernelKind, Program};
use kiln_ir::DType;

use self::body::{buffer, unsupported};
use self::canon::canonicalize;
use self::index::{emit_gather, emit_scatter, GatherParts, ScatterParts};
use self::map::{emit_map, map_extent, map_vectorises, rows, AccSource, Map};
use self::nest::{define, numel, Fx};
use self::reduce::{emit_argmax, emit_reduce, Reduction};
use crate::cpu::jit::Jit;
use crate::error::Result;

/// A compiled loop kernel; see the module docs for the function's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopKernel {
    /// The JIT function (callable after [`Jit::finalize`]).
    pub func: FuncId,
    /// The `[start, end)` range to cover in total: `0..parallel_extent`.
    pub parallel_extent: usize,
    /// Roughly the number of elements touched (to decide whether threading pays).
    pub work: usize,
}

/// Compiles kernel `kernel_index` of the verified `program` (any kind but `Gemm`) as function
/// `name`. The code trusts the kernel-IR contract ([`Program::verify`]): buffers of the right
/// dtypes, loads inside their buffers.
///
/// Errors: [`crate::CodegenError::Unsupported`] for a `Gemm` kernel (see
/// [`compile_gemm_epilogue`]), a missing kernel or a body the emitter cannot handle;
/// Cranelift errors as [`crate::CodegenError::Module`].
pub fn compile_loop_kernel(
    jit: &mut Jit,
    program: &Program,
    kernel_index: usize,
    name: &str,
) -> Result<LoopKernel> {
    let kernel = program
        .kernels
        .get(kernel_index)
        .ok_or_else(|| unsupported(format!("no kernel {kernel_index}")))?;
    let mut used: Vec<usize> = kernel.reads().iter().map(|b| b.index()).collect();
    used.push(kernel.out().index());
    // Verified (`out-buffer`): the output buffer exists.
    let out_dtype = program.buffer(kernel.out()).dtype;
    let out_id = kernel.out().index();
    match &kernel.kind {
        KernelKind::Elementwise { shape, body, .. } => {
            let (dims, body) = canon_map(shape.dims(), body);
            let func = define(jit, name, &used, &[&body], |b, fx| {
                let map = Map {
                    dims: &dims,
                    body: &body,
                    out: buffer(&fx.env, out_id)?,
                    out_buffer: Some(out_id),
                    out_dtype,
                    acc: None,
                };
                let (lo, hi) = (fx.start, fx.end);
                emit_map(b, fx, &map, lo, hi)
            })?;
            Ok(LoopKernel {
                func,
                parallel_extent: map_extent(&dims),
                work: shape.numel(),
            })
        }
        KernelKind::Reduce {
            shape,
            axes,
            op,
            init,
            body,
            epilogue,
            ..
        } => {
            let (dims, axes, body, epilogue) = canon_reduce(shape.dims(), axes, body, epilogue);
            let red = Reduction {
                shape: &dims,
                axes: &axes,
                op: *op,
                init: *init,
                body: &body,
                epilogue: &epilogue,
            };
            let func = define(jit, name, &used, &[&body, &epilogue], |b, fx| {
                let out = buffer(&fx.env, out_id)?;
                emit_reduce(b, fx, &red, out, out_dtype)
            })?;
            Ok(LoopKernel {
                func,
                parallel_extent: red.parallel_extent(),
                work: shape.numel(),
            })
        }
        KernelKind::ArgMax {
            shape, axis, body, ..
        } => {
            let dims = shape.dims();
            let func = define(jit, name, &used, &[body], |b, fx| {
                let out = buffer(&fx.env, out_id)?;
                emit_argmax(b, fx, dims, *axis, body, out)
            })?;
            let others: Vec<usize> = (0..dims.len())
                .filter(|k| k != axis)
                .map(|k| dims[k])
                .collect();
            Ok(LoopKernel {
                func,
                parallel_extent: numel(&others),
                work: shape.numel(),
            })
        }
        KernelKind::Gather {
            shape,
            axis,
            index,
            src,
            src_dims,
            ..
        } => {
            let parts = GatherParts {
                shape: shape.dims(),
                axis: *axis,
                index,
                src,
                src_dims,
                dtype: program.buffer(src.buffer).dtype,
            };
            let func = define(jit, name, &used, &[index], |b, fx| {
                let out = buffer(&fx.env, out_id)?;
                emit_gather(b, fx, &parts, out)
            })?;
            Ok(LoopKernel {
                func,
                parallel_extent: rows(shape.dims()),
                work: shape.numel(),
            })
        }
        KernelKind::ScatterAdd {
            out_shape,
            base,
            shape,
            axis,
            index,
            src,
            ..
        } => {
            let parts = ScatterParts {
                out_shape: out_shape.dims(),
                base,
                shape: shape.dims(),
                axis: *axis,
                index,
                src,
                dtype: out_dtype,
            };
            let func = define(jit, name, &used, &[base, index, src], |b, fx| {
                let out = buffer(&fx.env, out_id)?;
                emit_scatter(b, fx, &parts, out)
            })?;
            Ok(LoopKernel {
                func,
                parallel_extent: 1,
                work: out_shape.numel() + shape.numel(),
            })
        }
        KernelKind::Gemm { .. } => Err(unsupported(format!(
            "kernel {kernel_index} is a gemm: compile its epilogue with compile_gemm_epilogue"
        ))),
    }
}

/// Compiles the epilogue of `Gemm` kernel `kernel_index` as a loop over the gemm's
/// `[batch..., m, n]` output, with `parallel_extent = batch * m` (rows; times the chunks per row
/// when `n` is long and the rows few, as for an elementwise map); `Ok(None)` when the
/// gemm has no epilogue.
///
/// [`InstKind::Acc`](kiln_ir::kernel::InstKind::Acc) is the product at the same position,
/// read in the gemm's `dtype`: in place from the output buffer when the output buffer has that
/// dtype (the executor stores the product there first; each element is read before it is
/// overwritten), otherwise from `bufs[program.buffers.len()]`, a scratch array of `batch*m*n`
/// elements of the gemm's dtype, row-major, that the caller fills with the product.
pub fn compile_gemm_epilogue(
    jit: &mut Jit,
    program: &Program,
    kernel_index: usize,
    name: &str,
) -> Result<Option<LoopKernel>> {
    let kernel = program
        .kernels
        .get(kernel_index)
        .ok_or_else(|| unsupported(format!("no kernel {kernel_index}")))?;
    let KernelKind::Gemm {
        batch,
        m,
        n,
        epilogue,
        out,
        dtype,
        ..
    } = &kernel.kind
    else {
        return Err(unsupported(format!("kernel {kernel_index} is not a gemm")));
    };
    let Some(epilogue) = epilogue else {
        return Ok(None);
    };
    let out_dtype: DType = program.buffer(*out).dtype;
    let acc_index = if out_dtype == *dtype {
        out.index()
    } else {
        program.buffers.len()
    };
    let mut used: Vec<usize> = kernel.reads().into_iter().map(BufferId::index).collect();
    // The gemm's operands are not read by the epilogue.
    if let KernelKind::Gemm { a, b, .. } = &kernel.kind {
        used.retain(|&i| i != a.buffer.index() && i != b.buffer.index() || reads(epilogue, i));
    }
    used.push(out.index());
    used.push(acc_index);
    let mut dims: Vec<usize> = batch.to_vec();
    dims.extend([*m, *n]);
    let out_id = out.index();
    let acc_dtype = *dtype;
    let func = define(
        jit,
        name,
        &used,
        &[epilogue],
        |b: &mut FunctionBuilder, fx: &mut Fx| {
            let map = Map {
                dims: &dims,
                body: epilogue,
                out: buffer(&fx.env, out_id)?,
                out_buffer: None,
                out_dtype,
                acc: Some(AccSource {
                    ptr: buffer(&fx.env, acc_index)?,
                    dtype: acc_dtype,
                }),
            };
            let (lo, hi) = (fx.start, fx.end);
            emit_map(b, fx, &map, lo, hi)
        },
    )?;
    Ok(Some(LoopKernel {
        func,
        parallel_extent: map_extent(&dims),
        work: numel(&dims),
    }))
}

/// Whether `body` loads from buffer `i`.
fn reads(body: &kiln_ir::kernel::Body, i: usize) -> bool {
    body.insts.iter().any(|inst| {
        matches!(&inst.kind, kiln_ir::kernel::InstKind::Load { view, .. } if view.buffer.index() == i)
    })
}

/// Whether kernel `kernel_index` (or its gemm epilogue) runs its innermost loop in vector code.
pub fn kernel_vectorises(program: &Program, kernel_index: usize) -> bool {
    let Some(kernel) = program.kernels.get(kernel_index) else {
        return false;
    };
    let out_dtype = program.buffer(kernel.out()).dtype;
    match &kernel.kind {
        KernelKind::Elementwise { shape, body, .. } => {
            let (dims, body) = canon_map(shape.dims(), body);
            map_vectorises(&dims, &body, out_dtype, None)
        }
        KernelKind::Reduce {
            shape,
            axes,
            op,
            init,
            body,
            epilogue,
            ..
        } => {
            let (dims, axes, body, epilogue) = canon_reduce(shape.dims(), axes, body, epilogue);
            Reduction {
                shape: &dims,
                axes: &axes,
                op: *op,
                init: *init,
                body: &body,
                epilogue: &epilogue,
            }
            .vectorises()
        }
        KernelKind::Gemm {
            batch,
            m,
            n,
            epilogue,
            dtype,
            ..
        } => epilogue.as_ref().is_some_and(|e| {
            let mut dims: Vec<usize> = batch.to_vec();
            dims.extend([*m, *n]);
            map_vectorises(&dims, e, out_dtype, Some(*dtype))
        }),
        KernelKind::ArgMax { .. } | KernelKind::Gather { .. } | KernelKind::ScatterAdd { .. } => {
            false
        }
    }
}

/// An elementwise kernel's index space and body in canonical form (see `canon.rs`).
fn canon_map(dims: &[usize], body: &Body) -> (Vec<usize>, Body) {
    match canonicalize(dims, &vec![false; dims.len()], &[body], &[]) {
        Some(mut c) if c.bodies.len() == 1 => (c.dims, c.bodies.remove(0)),
        Some(_) | None => (dims.to_vec(), body.clone()),
    }
}

/// A reduction's index space, reduced axes, body and epilogue in canonical form.
fn canon_reduce(
    dims: &[usize],
    axes: &[usize],
    body: &Body,
    epilogue: &Body,
) -> (Vec<usize>, Vec<usize>, Body, Body) {
    let reduced: Vec<bool> = (0..dims.len()).map(|k| axes.contains(&k)).collect();
    match canonicalize(dims, &reduced, &[body], &[epilogue]) {
        Some(mut c) if c.bodies.len() == 2 => {
            let axes = c.axes();
            let e = c.bodies.remove(1);
            let b = c.bodies.remove(0);
            (c.dims, axes, b, e)
        }
        Some(_) | None => (dims.to_vec(), axes.to_vec(), body.clone(), epilogue.clone()),
    }
}
