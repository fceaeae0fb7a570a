//! Reductions and argmax.
//!
//! Every output element's reduction runs entirely inside one call, in a fixed order, so the
//! result does not depend on how the executor splits the parallel extent:
//! - **inner reduced** (the last axis is reduced, or rank 0): the parallel extent is the output
//!   elements; per element the reduced axes run in row-major order, the last one as an unrolled
//!   vector loop into 4 partial vector accumulators plus a scalar tail, combined at the end as
//!   `((a0 op a1) op (a2 op a3))`, then lane by lane, then the tail (an f32 prologue with
//!   exp/log/sin/cos/tanh is computed in staged tiles first, `staged.rs`, and accumulated in
//!   the same pattern, so the result is the same bits);
//! - **inner kept** (the last axis is not reduced): the parallel extent is the output rows; per
//!   row, chunks of 16 (f32) / 8 (f64) consecutive outputs are reduced together as vectors over
//!   the reduced axes in row-major order, then a one-vector loop and a scalar tail.
//!
//! Float sums accumulate in the output dtype (f32 in f32); integer sums in i64, saturated to
//! i32 at the end for i32 (exact as long as the i64 sum does not wrap); max starts at the
//! kernel's `init` and propagates NaN. The epilogue is applied to each reduced value before the
//! store. Argmax keeps the first maximum; NaN counts as the largest value.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::Body;
use kiln_ir::{DType, ReduceOp};

use super::body::{
    cast, clif, emit_point, emit_row, emit_splats, flags, vec_of, Mode, Plan, Point, Row,
};
use super::map::UNROLL;
use super::nest::{for_loop, k64, numel, offset, unflatten, Fx};
use super::staged::{emit_staged, StagedRow, Stages};
use crate::error::Result;

/// A reduction kernel's parts.
pub(super) struct Reduction<'a> {
    /// The full index space.
    pub shape: &'a [usize],
    /// Reduced axes.
    pub axes: &'a [usize],
    /// Sum or max.
    pub op: ReduceOp,
    /// The start value.
    pub init: f64,
    /// The value reduced.
    pub body: &'a Body,
    /// Applied to the reduced value (`Acc`).
    pub epilogue: &'a Body,
}

impl Reduction<'_> {
    fn dtype(&self) -> DType {
        self.body.dtype()
    }

    /// The accumulator's dtype: i64 for integer sums, else the body's.
    fn acc_dtype(&self) -> DType {
        let d = self.dtype();
        match self.op {
            ReduceOp::Sum if !d.is_float() => DType::I64,
            ReduceOp::Sum | ReduceOp::Max => d,
        }
    }

    /// Whether the last axis is kept (the "inner kept" strategy).
    pub fn inner_kept(&self) -> bool {
        self.shape
            .len()
            .checked_sub(1)
            .is_some_and(|k| !self.axes.contains(&k))
    }

    fn kept(&self) -> Vec<usize> {
        (0..self.shape.len())
            .filter(|k| !self.axes.contains(k))
            .collect()
    }

    /// The parallel extent (see the module docs).
    pub fn parallel_extent(&self) -> usize {
        let kept = self.kept();
        let kept = if self.inner_kept() {
            &kept[..kept.len() - 1]
        } else {
            &kept[..]
        };
        numel(&kept.iter().map(|&k| self.shape[k]).collect::<Vec<_>>())
    }

    /// The vector type used, if the body vectorises along the last axis.
    fn vector(&self) -> Option<Type> {
        let inner = self.shape.len().checked_sub(1)?;
        let d = self.dtype();
        let plan = Plan::new(self.body, Some(inner), true);
        vec_of(d).filter(|_| plan.vector_ok(d) && self.acc_dtype() == d)
    }

    /// Whether the main loop is vectorised.
    pub fn vectorises(&self) -> bool {
        self.vector().is_some()
    }
}

fn init_value(b: &mut FunctionBuilder, d: DType, init: f64, vty: Option<Type>) -> Value {
    let s = match d {
        DType::F32 => b.ins().f32const(init as f32),
        DType::F64 => b.ins().f64const(init),
        DType::Bool | DType::I32 | DType::I64 => b.ins().iconst(clif(d), init as i64),
    };
    match vty {
        Some(v) => b.ins().splat(v, s),
        None => s,
    }
}

fn combine(b: &mut FunctionBuilder, op: ReduceOp, d: DType, x: Value, y: Value) -> Value {
    match (op, d) {
        (ReduceOp::Sum, DType::F32 | DType::F64) => b.ins().fadd(x, y),
        (ReduceOp::Sum, DType::Bool | DType::I32 | DType::I64) => b.ins().iadd(x, y),
        (ReduceOp::Max, DType::F32 | DType::F64) => b.ins().fmax(x, y),
        (ReduceOp::Max, DType::Bool) => b.ins().umax(x, y),
        (ReduceOp::Max, DType::I32 | DType::I64) => b.ins().smax(x, y),
    }
}

/// Coordinates over the full rank from kept and reduced parts (missing ones are 0).
fn merge_coords(
    b: &mut FunctionBuilder,
    rank: usize,
    parts: &[(&[usize], &[Value])],
) -> Vec<Value> {
    let zero = k64(b, 0);
    let mut c = vec![zero; rank];
    for (axes, vals) in parts {
        for (&a, &v) in axes.iter().zip(vals.iter()) {
            c[a] = v;
        }
    }
    c
}

/// Emits the reduction for `[lo, hi)` of its parallel extent into `out` (of `out_dtype`).
pub(super) fn emit_reduce(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    red: &Reduction,
    out: Value,
    out_dtype: DType,
) -> Result<()> {
    if red.inner_kept() {
        inner_kept(b, fx, red, out, out_dtype)
    } else {
        inner_reduced(b, fx, red, out, out_dtype)
    }
}

/// Combines the vectors `value_at(j)` for `j` in `[lo, hi)` into the [`UNROLL`] accumulators
/// `accs`: an unrolled loop (vector `u` of each step into `accs[u]`), then one vector at a time
/// into `accs[0]`. Returns where the vectors stopped (`hi` rounded down to whole vectors) and the
/// accumulators. The staged and the plain row reductions both go through here, so they add the
/// same values in the same order.
#[allow(clippy::too_many_arguments)]
fn accumulate_vectors(
    b: &mut FunctionBuilder,
    op: ReduceOp,
    d: DType,
    lanes: i64,
    lo: Value,
    hi: Value,
    accs: &[Value],
    value_at: &mut dyn FnMut(&mut FunctionBuilder, Value) -> Result<Value>,
) -> Result<(Value, Vec<Value>)> {
    let (end, mut accs) = for_loop(b, lo, hi, lanes * UNROLL, accs, |b, j, a| {
        let mut a = a.to_vec();
        for (u, acc) in a.iter_mut().enumerate() {
            let jj = b.ins().iadd_imm_s(j, u as i64 * lanes);
            let v = value_at(b, jj)?;
            *acc = combine(b, op, d, *acc, v);
        }
        Ok(a)
    })?;
    let (end, first) = for_loop(b, end, hi, lanes, &accs[..1], |b, j, a| {
        let v = value_at(b, j)?;
        Ok(vec![combine(b, op, d, a[0], v)])
    })?;
    accs[0] = first[0];
    Ok((end, accs))
}

fn inner_reduced(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    red: &Reduction,
    out: Value,
    out_dtype: DType,
) -> Result<()> {
    let rank = red.shape.len();
    let inner = rank.checked_sub(1);
    let kept = red.kept();
    let kept_dims: Vec<usize> = kept.iter().map(|&k| red.shape[k]).collect();
    let outer_red: Vec<usize> = red
        .axes
        .iter()
        .copied()
        .filter(|&a| Some(a) != inner)
        .collect();
    let outer_dims: Vec<usize> = outer_red.iter().map(|&k| red.shape[k]).collect();
    let n = inner.map_or(1, |k| red.shape[k]);
    let (d, ad) = (red.dtype(), red.acc_dtype());
    let vty = red.vector();
    let plan = Plan::new(red.body, inner, true);
    let eplan = Plan::new(red.epilogue, None, true);
    let staged = vty.and_then(|_| Stages::of(&plan, d, false, None));
    let osz = out_dtype.size_bytes() as i64;
    let (start, end) = (fx.start, fx.end);
    for_loop(b, start, end, 1, &[], |b, o, _| {
        let kc = unflatten(b, o, &kept_dims);
        let mut carry = Vec::new();
        if let Some(v) = vty {
            for _ in 0..UNROLL {
                carry.push(init_value(b, ad, red.init, Some(v)));
            }
        }
        carry.push(init_value(b, ad, red.init, None));
        let q_end = k64(b, numel(&outer_dims));
        let q0 = k64(b, 0);
        let (_, accs) = for_loop(b, q0, q_end, 1, &carry, |b, q, accs| {
            let rc = unflatten(b, q, &outer_dims);
            let coords = merge_coords(b, rank, &[(&kept, &kc), (&outer_red, &rc)]);
            let mut rv = emit_row(b, &mut fx.env, &plan, &coords, None)?;
            let mut accs = accs.to_vec();
            let mut j = k64(b, 0);
            let n_v = k64(b, n);
            if let (Some(vty), Some(stages)) = (vty, staged.as_ref()) {
                // Whole vectors through the staged tiles: each tile's values are accumulated
                // from its result array by `accumulate_vectors`, as in the plain branch below
                // (tiles start at multiples of 4 vectors), so the sums are the same bits.
                emit_splats(b, &mut rv, vty);
                let lanes = i64::from(vty.lane_count());
                let j_end = k64(b, n / lanes as usize * lanes as usize);
                let vaccs = accs[..UNROLL as usize].to_vec();
                let op = red.op;
                let run = StagedRow {
                    stages,
                    row: &rv,
                    out_row: None,
                    vty,
                    j0: j,
                    j_end,
                };
                let vaccs = emit_staged(b, fx, &run, &vaccs, &mut |b, _, _, len, array, a| {
                    let zero = k64(b, 0);
                    let mut load = |b: &mut FunctionBuilder, k: Value| {
                        let p = offset(b, array, k, 4);
                        Ok(b.ins().load(vty, flags(), p, 0))
                    };
                    Ok(accumulate_vectors(b, op, d, lanes, zero, len, a, &mut load)?.1)
                })?;
                accs[..UNROLL as usize].copy_from_slice(&vaccs);
                j = j_end;
            } else if let Some(vty) = vty {
                emit_splats(b, &mut rv, vty);
                let lanes = i64::from(vty.lane_count());
                let mut point = |b: &mut FunctionBuilder, jj: Value| {
                    emit_point(b, &mut fx.env, &rv, Point::at(jj, Mode::Vector(vty)))
                };
                let vaccs = accs[..UNROLL as usize].to_vec();
                let (end, vaccs) =
                    accumulate_vectors(b, red.op, d, lanes, j, n_v, &vaccs, &mut point)?;
                accs[..UNROLL as usize].copy_from_slice(&vaccs);
                j = end;
            }
            let last = accs.len() - 1;
            let (_, s) = for_loop(b, j, n_v, 1, &accs[last..], |b, j, a| {
                let v = emit_point(b, &mut fx.env, &rv, Point::at(j, Mode::Scalar))?;
                let v = cast(b, d, ad, v);
                Ok(vec![combine(b, red.op, ad, a[0], v)])
            })?;
            accs[last] = s[0];
            Ok(accs)
        })?;
        let mut acc = accs[accs.len() - 1];
        if let Some(vty) = vty {
            let x = combine(b, red.op, d, accs[0], accs[1]);
            let y = combine(b, red.op, d, accs[2], accs[3]);
            let v = combine(b, red.op, d, x, y);
            let mut h = b.ins().extractlane(v, 0);
            for l in 1..vty.lane_count() {
                let e = b.ins().extractlane(v, l as u8);
                h = combine(b, red.op, d, h, e);
            }
            acc = combine(b, red.op, d, h, acc);
        }
        let acc = cast(b, ad, d, acc);
        let coords = merge_coords(b, rank, &[(&kept, &kc)]);
        let erow = emit_row(b, &mut fx.env, &eplan, &coords, Some(acc))?;
        let v = erow_result(&erow)?;
        let p = offset(b, out, o, osz);
        b.ins().store(flags(), v, p, 0);
        Ok(vec![])
    })?;
    Ok(())
}

/// The result of a body evaluated entirely per row.
fn erow_result(row: &Row) -> Result<Value> {
    row.value(row.plan.body.result)
}

fn inner_kept(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    red: &Reduction,
    out: Value,
    out_dtype: DType,
) -> Result<()> {
    let rank = red.shape.len();
    let inner = rank - 1;
    let kept = red.kept();
    let outer_kept = &kept[..kept.len() - 1];
    let ok_dims: Vec<usize> = outer_kept.iter().map(|&k| red.shape[k]).collect();
    let red_axes: Vec<usize> = red.axes.to_vec();
    let red_dims: Vec<usize> = red_axes.iter().map(|&k| red.shape[k]).collect();
    let n = red.shape[inner];
    let (d, ad) = (red.dtype(), red.acc_dtype());
    let vty = red.vector();
    let plan = Plan::new(red.body, Some(inner), true);
    let eplan = Plan::new(red.epilogue, Some(inner), false);
    let evec = vty.filter(|_| out_dtype == d && eplan.vector_ok(d));
    let osz = out_dtype.size_bytes() as i64;
    let (start, end) = (fx.start, fx.end);
    for_loop(b, start, end, 1, &[], |b, o, _| {
        let kc = unflatten(b, o, &ok_dims);
        let ecoords = merge_coords(b, rank, &[(outer_kept, &kc)]);
        let mut erow = emit_row(b, &mut fx.env, &eplan, &ecoords, None)?;
        if let Some(v) = evec {
            emit_splats(b, &mut erow, v);
        }
        let first = b.ins().imul_imm_s(o, n as i64);
        let out_row = offset(b, out, first, osz);
        let n_v = k64(b, n);
        let q_end = k64(b, numel(&red_dims));
        let mut j = k64(b, 0);
        let chunks: Vec<(Option<Type>, i64)> = match vty {
            Some(v) => vec![(Some(v), UNROLL), (Some(v), 1), (None, 1)],
            None => vec![(None, 1)],
        };
        for (cty, unroll) in chunks {
            let lanes = cty.map_or(1, |v| i64::from(v.lane_count()));
            let (ety, eacc) = match cty {
                Some(v) => (v, d),
                None => (clif(ad), ad),
            };
            let (end, _) = for_loop(b, j, n_v, lanes * unroll, &[], |b, j, _| {
                let init: Vec<Value> = (0..unroll)
                    .map(|_| init_value(b, eacc, red.init, cty))
                    .collect();
                let q0 = k64(b, 0);
                let (_, accs) = for_loop(b, q0, q_end, 1, &init, |b, q, a| {
                    let rc = unflatten(b, q, &red_dims);
                    let coords = merge_coords(b, rank, &[(outer_kept, &kc), (&red_axes, &rc)]);
                    let mut rv = emit_row(b, &mut fx.env, &plan, &coords, None)?;
                    let mode = match cty {
                        Some(v) => {
                            emit_splats(b, &mut rv, v);
                            Mode::Vector(v)
                        }
                        None => Mode::Scalar,
                    };
                    let mut a = a.to_vec();
                    for (u, acc) in a.iter_mut().enumerate() {
                        let jj = b.ins().iadd_imm_s(j, u as i64 * lanes);
                        let v = emit_point(b, &mut fx.env, &rv, Point::at(jj, mode))?;
                        let v = if cty.is_some() { v } else { cast(b, d, ad, v) };
                        *acc = combine(b, red.op, eacc, *acc, v);
                    }
                    Ok(a)
                })?;
                for (u, &acc) in accs.iter().enumerate() {
                    let jj = b.ins().iadd_imm_s(j, u as i64 * lanes);
                    match (cty, evec) {
                        (Some(_), Some(v)) => {
                            let at = Point {
                                acc: Some(acc),
                                ..Point::at(jj, Mode::Vector(v))
                            };
                            let y = emit_point(b, &mut fx.env, &erow, at)?;
                            let p = offset(b, out_row, jj, osz);
                            b.ins().store(flags(), y, p, 0);
                        }
                        (Some(_), None) | (None, _) => {
                            for l in 0..lanes {
                                let a = if cty.is_some() {
                                    b.ins().extractlane(acc, l as u8)
                                } else {
                                    cast(b, ad, d, acc)
                                };
                                let jl = b.ins().iadd_imm_s(jj, l);
                                let at = Point {
                                    acc: Some(a),
                                    ..Point::at(jl, Mode::Scalar)
                                };
                                let y = emit_point(b, &mut fx.env, &erow, at)?;
                                let p = offset(b, out_row, jl, osz);
                                b.ins().store(flags(), y, p, 0);
                            }
                        }
                    }
                }
                let _ = ety;
                Ok(vec![])
            })?;
            j = end;
        }
        Ok(vec![])
    })?;
    Ok(())
}

/// Emits argmax over `axis` of `shape` for output elements `[lo, hi)`: the first index of the
/// largest value, NaN being the largest; stored as i64.
pub(super) fn emit_argmax(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    shape: &[usize],
    axis: usize,
    body: &Body,
    out: Value,
) -> Result<()> {
    let rank = shape.len();
    let others: Vec<usize> = (0..rank).filter(|&k| k != axis).collect();
    let odims: Vec<usize> = others.iter().map(|&k| shape[k]).collect();
    let n = shape.get(axis).copied().unwrap_or(1);
    let d = body.dtype();
    let plan = Plan::new(body, Some(axis), true);
    let (start, end) = (fx.start, fx.end);
    for_loop(b, start, end, 1, &[], |b, o, _| {
        let oc = unflatten(b, o, &odims);
        let coords = merge_coords(b, rank, &[(&others, &oc)]);
        let p = offset(b, out, o, 8);
        if n == 0 {
            // Not produced by lowering (argmax needs a non-empty axis); never read anything.
            let zero = k64(b, 0);
            b.ins().store(flags(), zero, p, 0);
            return Ok(vec![]);
        }
        let rv = emit_row(b, &mut fx.env, &plan, &coords, None)?;
        let zero = k64(b, 0);
        let v0 = emit_point(b, &mut fx.env, &rv, Point::at(zero, Mode::Scalar))?;
        let one = k64(b, 1);
        let n_v = k64(b, n);
        let (_, best) = for_loop(b, one, n_v, 1, &[v0, zero], |b, k, a| {
            let (bv, bk) = (a[0], a[1]);
            let v = emit_point(b, &mut fx.env, &rv, Point::at(k, Mode::Scalar))?;
            let take = if d.is_float() {
                let v_nan = b.ins().fcmp(FloatCC::Unordered, v, v);
                let b_num = b.ins().fcmp(FloatCC::Ordered, bv, bv);
                let gt = b.ins().fcmp(FloatCC::GreaterThan, v, bv);
                let bigger = b.ins().bor(v_nan, gt);
                b.ins().band(b_num, bigger)
            } else if d == DType::Bool {
                b.ins().icmp(IntCC::UnsignedGreaterThan, v, bv)
            } else {
                b.ins().icmp(IntCC::SignedGreaterThan, v, bv)
            };
            let nv = b.ins().select(take, v, bv);
            let nk = b.ins().select(take, k, bk);
            Ok(vec![nv, nk])
        })?;
        b.ins().store(flags(), best[1], p, 0);
        Ok(vec![])
    })?;
    Ok(())
}
