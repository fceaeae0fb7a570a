//! Map loops: `out[p] = body(p)` over a row-major index space, for elementwise kernels, gemm
//! epilogues (where [`InstKind::Acc`](kiln_ir::kernel::InstKind::Acc) is read contiguously at
//! the output position) and the base phase of scatter-add.
//!
//! The rows (all axes but the innermost) are the parallel extent. Per row the uniform part of
//! the body and every load's row address are computed once; the innermost axis runs as an
//! unrolled vector loop (4 vectors per iteration), a one-vector loop and a scalar tail when
//! [`Plan::vector_ok`] admits the body for the output's float type, else as a scalar loop.
//! The output is written contiguously, so disjoint row ranges write disjoint bytes.

use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::{Body, InstKind};
use kiln_ir::DType;

use super::body::{cast, clif, emit_point, emit_row, emit_splats, flags, vec_of, Mode, Plan};
use super::nest::{for_loop, k64, numel, offset, unflatten, Fx};
use crate::error::Result;

/// Vectors per iteration of the unrolled loop.
pub(super) const UNROLL: i64 = 4;

/// Where a map's [`InstKind::Acc`] comes from: an array of `dtype` laid out like the output.
#[derive(Clone, Copy)]
pub(super) struct AccSource {
    /// Base address.
    pub ptr: Value,
    /// Element type stored there.
    pub dtype: DType,
}

/// The dtype of the body's `Acc` instruction, if it has one.
fn acc_dtype(body: &Body) -> Option<DType> {
    body.insts
        .iter()
        .find(|i| matches!(i.kind, InstKind::Acc))
        .map(|i| i.dtype)
}

/// Whether a map over `dims` writing `out_dtype` runs vectorised.
pub(super) fn map_vectorises(
    dims: &[usize],
    body: &Body,
    out_dtype: DType,
    acc: Option<DType>,
) -> bool {
    let Some(inner) = dims.len().checked_sub(1) else {
        return false;
    };
    let plan = Plan::new(body, Some(inner), acc.is_none());
    out_dtype == body.dtype()
        && plan.vector_ok(out_dtype)
        && acc.is_none_or(|a| a == out_dtype && acc_dtype(body).is_none_or(|d| d == a))
}

/// Emits `out[p] = body(p)` for the rows `[lo, hi)` of `dims` (rows = all axes but the last).
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_map(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    dims: &[usize],
    body: &Body,
    out: Value,
    out_dtype: DType,
    acc: Option<AccSource>,
    lo: Value,
    hi: Value,
) -> Result<()> {
    let r = dims.len();
    let inner = r.checked_sub(1);
    let n = inner.map_or(1, |k| dims[k]);
    let outer = &dims[..r.saturating_sub(1)];
    let plan = Plan::new(body, inner, acc.is_none());
    let vty =
        vec_of(out_dtype).filter(|_| map_vectorises(dims, body, out_dtype, acc.map(|a| a.dtype)));
    let osz = out_dtype.size_bytes() as i64;
    let want_acc = acc_dtype(body);
    for_loop(b, lo, hi, 1, &[], |b, row, _| {
        let mut coords = unflatten(b, row, outer);
        coords.push(k64(b, 0));
        let first = b.ins().imul_imm_s(row, n as i64);
        let out_row = offset(b, out, first, osz);
        let acc_row = acc.map(|a| {
            (
                offset(b, a.ptr, first, a.dtype.size_bytes() as i64),
                a.dtype,
            )
        });
        let mut rv = emit_row(b, &mut fx.env, &plan, &coords, None)?;
        let n_v = k64(b, n);
        let mut j = k64(b, 0);
        if let Some(vty) = vty {
            emit_splats(b, &plan, &mut rv, vty);
            let lanes = i64::from(vty.lane_count());
            for unroll in [UNROLL, 1] {
                let (end, _) = for_loop(b, j, n_v, lanes * unroll, &[], |b, j, _| {
                    for u in 0..unroll {
                        let jj = b.ins().iadd_imm_s(j, u * lanes);
                        let a = load_acc(b, acc_row, jj, vty, want_acc);
                        let v = emit_point(
                            b,
                            &mut fx.env,
                            &plan,
                            &rv,
                            jj,
                            Mode::Vector(vty),
                            a,
                            &coords,
                        )?;
                        let p = offset(b, out_row, jj, osz);
                        b.ins().store(flags(), v, p, 0);
                    }
                    Ok(vec![])
                })?;
                j = end;
            }
        }
        for_loop(b, j, n_v, 1, &[], |b, j, _| {
            let a = load_acc(b, acc_row, j, clif(want_acc.unwrap_or(out_dtype)), want_acc);
            let v = emit_point(b, &mut fx.env, &plan, &rv, j, Mode::Scalar, a, &coords)?;
            let p = offset(b, out_row, j, osz);
            b.ins().store(flags(), v, p, 0);
            Ok(vec![])
        })?;
        Ok(vec![])
    })?;
    Ok(())
}

/// Loads the accumulator at inner position `j` of the row (a vector when `ty` is one), converted
/// to the `Acc` instruction's dtype in scalar code.
fn load_acc(
    b: &mut FunctionBuilder,
    acc_row: Option<(Value, DType)>,
    j: Value,
    ty: Type,
    want: Option<DType>,
) -> Option<Value> {
    let (row, d) = acc_row?;
    let p = offset(b, row, j, d.size_bytes() as i64);
    if ty.is_vector() {
        return Some(b.ins().load(ty, flags(), p, 0));
    }
    let v = b.ins().load(clif(d), flags(), p, 0);
    Some(cast(b, d, want.unwrap_or(d), v))
}

/// The number of rows of a map over `dims`.
pub(super) fn rows(dims: &[usize]) -> usize {
    numel(&dims[..dims.len().saturating_sub(1)])
}
