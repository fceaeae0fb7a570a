//! Map loops: `out[p] = body(p)` over a row-major index space, for elementwise kernels, gemm
//! epilogues (where [`InstKind::Acc`](kiln_ir::kernel::InstKind::Acc) is read contiguously at
//! the output position) and the base phase of scatter-add.
//!
//! The rows (all axes but the innermost) are the parallel extent. Per row the uniform part of
//! the body and every load's row address are computed once; the innermost axis runs as an
//! unrolled vector loop (4 vectors per iteration), a one-vector loop and a scalar tail when
//! [`Plan::vector_ok`] admits the body for the output's float type, else as a scalar loop.
//! The output is written contiguously, so disjoint row ranges write disjoint bytes.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::{Body, InstKind};
use kiln_ir::DType;

use super::body::{
    cast, clif, emit_point, emit_row, emit_splats, flags, vec_of, Mode, Plan, Point,
};
use super::nest::{for_loop, k64, numel, offset, unflatten, Fx};
use super::staged::{emit_staged, StagedRow, Stages};
use crate::error::Result;

/// Vectors per iteration of the unrolled loop.
pub(super) const UNROLL: i64 = 4;

/// Elements per chunk when a map's innermost axis is split into chunks (see [`map_chunk`]): a
/// multiple of every vector width times [`UNROLL`], so only a row's last chunk has a tail.
pub(super) const CHUNK: usize = 16384;

/// Maps with fewer rows than this and an innermost axis of at least `2 * CHUNK` elements are
/// parallelised over chunks of the innermost axis as well as over rows.
const CHUNK_MAX_ROWS: usize = 64;

/// The chunk size a map over `dims` splits its innermost axis into, if it does: when it has
/// few rows (fewer than [`CHUNK_MAX_ROWS`]) and a long innermost axis (at least two chunks).
pub(super) fn map_chunk(dims: &[usize]) -> Option<usize> {
    let n = *dims.last()?;
    (rows(dims) < CHUNK_MAX_ROWS && n >= 2 * CHUNK).then_some(CHUNK)
}

/// The parallel extent of a map over `dims`: its rows, times the chunks per row when
/// [`map_chunk`] splits the innermost axis.
pub(super) fn map_extent(dims: &[usize]) -> usize {
    match map_chunk(dims) {
        Some(c) => rows(dims) * dims[dims.len() - 1].div_ceil(c),
        None => rows(dims),
    }
}

/// Where a map's [`InstKind::Acc`] comes from: an array of `dtype` laid out like the output.
#[derive(Clone, Copy)]
pub(super) struct AccSource {
    /// Base address.
    pub ptr: Value,
    /// Element type stored there.
    pub dtype: DType,
}

/// A map to emit: its index space and body, and where its results go.
#[derive(Clone, Copy)]
pub(super) struct Map<'a> {
    /// The row-major index space.
    pub dims: &'a [usize],
    /// `out[p] = body(p)`.
    pub body: &'a Body,
    /// The output's base address.
    pub out: Value,
    /// The output's buffer index when known (an in-place update may read it).
    pub out_buffer: Option<usize>,
    /// The output's dtype.
    pub out_dtype: DType,
    /// Where [`InstKind::Acc`] comes from (gemm epilogues), if the body reads it per point.
    pub acc: Option<AccSource>,
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

/// Emits `out[p] = body(p)` for the points `[lo, hi)` of [`map_extent`]`(dims)`: rows of `dims`
/// (all axes but the last), or, when [`map_chunk`] splits the innermost axis into chunks of `C`,
/// `(row, chunk)` pairs in row-major order, chunk `c` covering inner positions
/// `[c * C, min((c + 1) * C, n))`. Disjoint ranges write disjoint output elements.
pub(super) fn emit_map(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    map: &Map,
    lo: Value,
    hi: Value,
) -> Result<()> {
    let Map {
        dims,
        body,
        out,
        out_buffer,
        out_dtype,
        acc,
    } = *map;
    let r = dims.len();
    let inner = r.checked_sub(1);
    let n = inner.map_or(1, |k| dims[k]);
    let outer = &dims[..r.saturating_sub(1)];
    let plan = Plan::new(body, inner, acc.is_none());
    let vty =
        vec_of(out_dtype).filter(|_| map_vectorises(dims, body, out_dtype, acc.map(|a| a.dtype)));
    let osz = out_dtype.size_bytes() as i64;
    let want_acc = acc_dtype(body);
    let chunk = map_chunk(dims);
    // A map always stores to its output; an unknown output buffer is never read by its body.
    let output = Some(out_buffer.unwrap_or(usize::MAX));
    let staged = vty.and_then(|_| Stages::of(&plan, out_dtype, acc.is_some(), output));
    for_loop(b, lo, hi, 1, &[], |b, point, _| {
        // The row and the inner range `[j0, j1)` this point covers.
        let (row, j0, j1) = match chunk {
            Some(c) => {
                let per_row = n.div_ceil(c) as i64;
                let row = b.ins().udiv_imm_u(point, per_row);
                let ci = b.ins().urem_imm_u(point, per_row);
                let j0 = b.ins().imul_imm_s(ci, c as i64);
                let j1 = b.ins().iadd_imm_s(j0, c as i64);
                let n_v = k64(b, n);
                let past = b.ins().icmp(IntCC::SignedGreaterThan, j1, n_v);
                let j1 = b.ins().select(past, n_v, j1);
                (row, j0, j1)
            }
            None => {
                let (j0, j1) = (k64(b, 0), k64(b, n));
                (point, j0, j1)
            }
        };
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
        let n_v = j1;
        let mut j = j0;
        if let (Some(vty), Some(stages)) = (vty, staged.as_ref()) {
            emit_splats(b, &mut rv, vty);
            // Whole vectors through the staged tiles, the rest through the scalar tail.
            let lanes = i64::from(vty.lane_count());
            let span = b.ins().isub(n_v, j);
            let whole = b.ins().band_imm_s(span, !(lanes - 1));
            let j_end = b.ins().iadd(j, whole);
            let run = StagedRow {
                stages,
                row: &rv,
                out_row: Some(out_row),
                vty,
                j0: j,
                j_end,
            };
            emit_staged(b, fx, &run, &[], &mut |_, _, _, _, _, c| Ok(c.to_vec()))?;
            j = j_end;
        } else if let Some(vty) = vty {
            emit_splats(b, &mut rv, vty);
            let lanes = i64::from(vty.lane_count());
            for unroll in [UNROLL, 1] {
                let (end, _) = for_loop(b, j, n_v, lanes * unroll, &[], |b, j, _| {
                    for u in 0..unroll {
                        let jj = b.ins().iadd_imm_s(j, u * lanes);
                        let a = load_acc(b, acc_row, jj, vty, want_acc);
                        let at = Point {
                            j: jj,
                            mode: Mode::Vector(vty),
                            acc: a,
                        };
                        let v = emit_point(b, &mut fx.env, &rv, at)?;
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
            let at = Point {
                j,
                mode: Mode::Scalar,
                acc: a,
            };
            let v = emit_point(b, &mut fx.env, &rv, at)?;
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
