//! The scaffolding every loop kernel shares: the function's entry (buffer pointers, the zeroed
//! slot that masked loads read, math constants), counted loops with loop-carried values, and the
//! row-major decomposition of a flat counter into coordinates.
//!
//! Guarantees: every loop emitted by [`for_loop`] runs its body for `i = lo, lo + step, ...`
//! while `i + step <= hi` (signed), so a body never sees a point past `hi`; the entry block
//! dominates every loop, so values created there (pointers, constants) may be used anywhere.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Block, BlockArg, InstBuilder, StackSlotData, StackSlotKind, Value,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::FuncId;
use kiln_ir::kernel::{Body, InstKind};

use super::body::{clif, flags, vec_of, Env};
use crate::cpu::jit::Jit;
use crate::cpu::math::{emit_math, Consts};
use crate::error::Result;

/// The function being emitted: its arguments, the shared [`Env`] and the error exit.
pub(super) struct Fx {
    /// First point (inclusive) of this call's slice of the parallel extent.
    pub start: Value,
    /// Last point (exclusive).
    pub end: Value,
    /// Buffer pointers, zero slot, constants.
    pub env: Env,
    /// Block with one i64 parameter that returns it (the error code).
    pub err: Block,
}

/// Defines `name` with the loop-kernel signature `(bufs: *const *mut u8, start: i64, end: i64)
/// -> i64`. Loads the pointers of `buffers` (indices into `bufs`), prepares the math constants
/// of `bodies`, runs `f` and returns 0 where `f` leaves off.
pub(super) fn define<F>(
    jit: &mut Jit,
    name: &str,
    buffers: &[usize],
    bodies: &[&Body],
    f: F,
) -> Result<FuncId>
where
    F: FnOnce(&mut FunctionBuilder, &mut Fx) -> Result<()>,
{
    let ptr = jit.pointer_type();
    let mut sig = jit.make_signature();
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
    let mut philox = jit.make_signature();
    philox.params.push(AbiParam::new(types::I64));
    philox.params.push(AbiParam::new(types::I64));
    philox.returns.push(AbiParam::new(types::F32));
    let nbuf = buffers.iter().copied().max().map_or(0, |m| m + 1);
    jit.define_function(name, sig, |b| {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (bufs_arg, start, end) = (params[0], params[1], params[2]);
        let mut bufs = vec![None; nbuf];
        for &i in buffers {
            let p = b.ins().load(ptr, flags(), bufs_arg, (i * 8) as i32);
            bufs[i] = Some(p);
        }
        let slot =
            b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16, 4));
        let zero = b.ins().stack_addr(ptr, slot, 0);
        let z = b.ins().iconst(types::I64, 0);
        b.ins().store(flags(), z, zero, 0);
        b.ins().store(flags(), z, zero, 8);
        let mut consts = Consts::new();
        for body in bodies {
            prepare_math(b, &mut consts, body)?;
        }
        let philox_sig = b.import_signature(philox);
        let err = b.create_block();
        b.append_block_param(err, types::I64);
        let mut fx = Fx {
            start,
            end,
            env: Env {
                bufs,
                zero,
                consts,
                philox_sig,
            },
            err,
        };
        f(b, &mut fx)?;
        let ok = b.ins().iconst(types::I64, 0);
        b.ins().return_(&[ok]);
        b.switch_to_block(err);
        let code = b.block_params(err)[0];
        b.ins().return_(&[code]);
        Ok(())
    })
}

/// Emits, in the entry block, the constants of every math function `body` uses, for the
/// scalar and the vector type of its dtype.
fn prepare_math(b: &mut FunctionBuilder, c: &mut Consts, body: &Body) -> Result<()> {
    for inst in &body.insts {
        if !inst.dtype.is_float() {
            continue;
        }
        let tys = [Some(clif(inst.dtype)), vec_of(inst.dtype)];
        let math = match &inst.kind {
            InstKind::Unary(op, _) => op.math(),
            InstKind::Binary(op, _, _) => op.math(),
            InstKind::Load { .. }
            | InstKind::Const(_)
            | InstKind::Index(_)
            | InstKind::InRange { .. }
            | InstKind::Select(..)
            | InstKind::Cast(_)
            | InstKind::Random { .. }
            | InstKind::Acc => None,
        };
        let Some(f) = math else { continue };
        for ty in tys.into_iter().flatten() {
            c.prepare(b, ty, |b, c, x| emit_math(b, c, f, &[x, x][..f.arity()]))?;
        }
    }
    Ok(())
}

/// `for (i = lo; i + step <= hi; i += step)` with loop-carried values `carry`; `f` gets `i` and
/// the current carried values and returns the next ones. Leaves the builder after the loop and
/// returns the final `i` and carried values.
pub(super) fn for_loop<F>(
    b: &mut FunctionBuilder,
    lo: Value,
    hi: Value,
    step: i64,
    carry: &[Value],
    mut f: F,
) -> Result<(Value, Vec<Value>)>
where
    F: FnMut(&mut FunctionBuilder, Value, &[Value]) -> Result<Vec<Value>>,
{
    let head = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    for blk in [head, body, exit] {
        b.append_block_param(blk, types::I64);
        for &c in carry {
            let ty = b.func.dfg.value_type(c);
            b.append_block_param(blk, ty);
        }
    }
    let args = |i: Value, c: &[Value]| -> Vec<BlockArg> {
        std::iter::once(i)
            .chain(c.iter().copied())
            .map(BlockArg::from)
            .collect()
    };
    b.ins().jump(head, &args(lo, carry));

    b.switch_to_block(head);
    let hp = b.block_params(head).to_vec();
    let next = b.ins().iadd_imm_s(hp[0], step);
    let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, hi);
    let a = args(hp[0], &hp[1..]);
    b.ins().brif(fits, body, &a, exit, &a);

    b.switch_to_block(body);
    let bp = b.block_params(body).to_vec();
    let new = f(b, bp[0], &bp[1..])?;
    let next = b.ins().iadd_imm_s(bp[0], step);
    b.ins().jump(head, &args(next, &new));

    b.switch_to_block(exit);
    let ep = b.block_params(exit).to_vec();
    Ok((ep[0], ep[1..].to_vec()))
}

/// The row-major coordinates of `flat` in `dims` (one i64 per dim; size-1 dims give 0).
pub(super) fn unflatten(b: &mut FunctionBuilder, flat: Value, dims: &[usize]) -> Vec<Value> {
    let mut out = vec![flat; dims.len()];
    let mut rest = flat;
    for (k, &d) in dims.iter().enumerate().rev() {
        if d <= 1 {
            out[k] = b.ins().iconst(types::I64, 0);
            continue;
        }
        let all_after_are_one = dims[..k].iter().all(|&x| x <= 1);
        if all_after_are_one {
            out[k] = rest;
        } else {
            out[k] = b.ins().urem_imm_u(rest, d as i64);
            rest = b.ins().udiv_imm_u(rest, d as i64);
        }
    }
    out
}

/// `base + i * scale` (pointer arithmetic in bytes).
pub(super) fn offset(b: &mut FunctionBuilder, base: Value, i: Value, scale: i64) -> Value {
    let t = b.ins().imul_imm_s(i, scale);
    b.ins().iadd(base, t)
}

/// Product of `dims` (saturating: shapes are checked to fit an isize).
pub(super) fn numel(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// An i64 constant.
pub(super) fn k64(b: &mut FunctionBuilder, v: usize) -> Value {
    b.ins().iconst(types::I64, v as i64)
}
