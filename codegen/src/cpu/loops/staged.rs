//! Staged vector bodies: an f32 map — or the prologue of an f32 row reduction — whose body has
//! transcendental functions runs over L1-sized tiles of its innermost axis, each function
//! computed for the whole tile by an AVX2 routine (`cpu::math::host`, 8 lanes) instead of
//! inline 4-lane code. A map's last stage stores the output; a reduction gets each tile's
//! values in an array and accumulates them in its usual pattern (`reduce.rs`).
//!
//! The body's per-point instructions are cut at each transcendental instruction (`exp`, `log`,
//! `sin`, `cos`, `tanh` of f32): stage 0 runs the instructions that need no cut's result, then
//! the first routine runs over the tile, then stage 1 (what needs the first cut's result), and
//! so on — each instruction in the earliest stage its operands allow; the last stage stores the
//! result.
//! Values that cross a cut — a cut's argument and result, and anything a later stage reads —
//! live in per-value tile arrays in one stack slot (`TILE` lanes each). Every stage is an
//! ordinary 4-lane vector loop over the tile built from the same instruction emitter, and the
//! routines return the inline code's bits, so a staged map computes exactly what the inline map
//! computes.
//!
//! Used only when the CPU has AVX2 and FMA, the body is f32, vectorises and has no per-point
//! `Acc`, and the tile arrays fit [`MAX_SLOTS`].

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, SigRef, StackSlotData, StackSlotKind, Type, Value,
};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::{InstKind, Val};
use kiln_ir::{DType, UnaryOp};

use super::body::{emit_inst, flags, load_address, Mode, Plan, Point, Row};
use super::nest::{for_loop, offset, Fx};
use crate::cpu::math::host::{map_fn, MapFn};
use crate::cpu::math::UnaryFn;
use crate::error::Result;

/// Lanes per tile: 1 KiB per f32 array, so a body's arrays stay in L1.
pub(super) const TILE: i64 = 256;

/// At most this many tile arrays (24 KiB of stack); larger bodies stay inline.
const MAX_SLOTS: usize = 24;

/// How a body is cut into stages.
pub(super) struct Stages {
    /// The cut instructions in body order, with the routine computing each.
    cuts: Vec<(usize, MapFn)>,
    /// Per instruction: its position in `cuts`, if it is one.
    cut_of: Vec<Option<usize>>,
    /// Per instruction: its tile array, if it crosses a cut.
    slot: Vec<Option<usize>>,
    /// Per instruction: the stage that defines it (a cut: the stage after it).
    def: Vec<usize>,
    n_slots: usize,
    /// Per cut: its argument is an unmasked load, passed to the routine as the buffer address.
    direct_src: Vec<bool>,
    /// The last routine writes the output directly (the result is its value and the last
    /// stage has nothing else to do).
    direct_dst: bool,
    /// The last stage stores the result to the output (else it stays in its array).
    to_output: bool,
}

/// What the caller does with each tile's results when they stay in an array: gets the tile's
/// start, its length (a multiple of the vector width), the address of the result array and the
/// loop-carried values, and returns their new values.
pub(super) type Consume<'a> = dyn FnMut(&mut FunctionBuilder, &mut Fx, Value, Value, Value, &[Value]) -> Result<Vec<Value>>
    + 'a;

/// The routine of a transcendental f32 unary op, if it has one here.
fn routine(op: UnaryOp) -> Option<MapFn> {
    map_fn(UnaryFn::of(op.math()?)?)
}

impl Stages {
    /// The stages of `plan` (already admitted for f32 vector code), or `None` when staging does
    /// not apply.
    ///
    /// `output`: the buffer the result is stored to (a map's output; `Some` also for a map whose
    /// output index is unknown, as `usize::MAX`); `None` leaves the result in a tile array for
    /// the caller to consume (a reduction's prologue).
    pub(super) fn of(
        plan: &Plan,
        out_dtype: DType,
        per_point_acc: bool,
        output: Option<usize>,
    ) -> Option<Stages> {
        let to_output = output.is_some();
        if out_dtype != DType::F32 || per_point_acc {
            return None;
        }
        let insts = &plan.body.insts;
        let per_point = |i: usize| !plan.uniform[i];
        let mut cuts = Vec::new();
        let mut cut_of = vec![None; insts.len()];
        let mut def = vec![0; insts.len()];
        for (i, inst) in insts.iter().enumerate() {
            // Each instruction runs in the earliest stage where its operands exist (fewer
            // values cross a cut than in body order).
            def[i] = operands(&inst.kind)
                .iter()
                .map(|v| def[v.0 as usize])
                .max()
                .unwrap_or(0);
            if let InstKind::Unary(op, _) = inst.kind {
                if per_point(i) && inst.dtype == DType::F32 {
                    if let Some(r) = routine(op) {
                        cut_of[i] = Some(cuts.len());
                        cuts.push((i, r));
                        def[i] = cuts.len();
                    }
                }
            }
        }
        if cuts.is_empty() {
            return None;
        }
        let is_cut = |i: usize| cut_of[i].is_some();
        // Per-point loads are emitted again by each stage that reads them (cheaper than an
        // array); an unmasked one feeds a routine straight from its buffer.
        let is_load = |i: usize| matches!(insts[i].kind, InstKind::Load { .. });
        // Not from the output buffer itself (an in-place parameter update): a routine's source
        // and destination must not overlap.
        let direct_src: Vec<bool> = cuts
            .iter()
            .map(|&(c, _)| match insts[c].kind {
                InstKind::Unary(_, x) => matches!(
                    &insts[x.0 as usize].kind,
                    InstKind::Load { mask: None, view } if Some(view.buffer.index()) != output
                ),
                _ => false,
            })
            .collect();
        let result = plan.body.result.0 as usize;
        let last = cuts.len();
        // The last routine writes the output itself when it computes the result and nothing
        // is left for the last stage.
        let direct_dst = to_output
            && cuts.last().is_some_and(|&(c, _)| c == result)
            && !(0..insts.len()).any(|i| per_point(i) && !is_cut(i) && def[i] == last);
        let mut needs = vec![false; insts.len()];
        for (i, inst) in insts.iter().enumerate() {
            if !per_point(i) {
                continue;
            }
            if let Some(k) = cut_of[i] {
                needs[i] = !(direct_dst && i == result);
                if let InstKind::Unary(_, x) = inst.kind {
                    needs[x.0 as usize] |= !direct_src[k];
                }
                continue;
            }
            for v in operands(&inst.kind) {
                let v = v.0 as usize;
                if per_point(v) && def[v] < def[i] && !is_load(v) {
                    needs[v] = true;
                }
            }
        }
        if per_point(result) && def[result] < last && !is_load(result) && !direct_dst {
            needs[result] = true;
        }
        // A consumed result is read from its array.
        if !to_output {
            if !per_point(result) {
                return None;
            }
            needs[result] = true;
        }
        let mut slot = vec![None; insts.len()];
        let mut n_slots = 0;
        for (i, need) in needs.into_iter().enumerate() {
            if need {
                slot[i] = Some(n_slots);
                n_slots += 1;
            }
        }
        (n_slots <= MAX_SLOTS).then_some(Stages {
            cuts,
            cut_of,
            slot,
            def,
            n_slots,
            direct_src,
            direct_dst,
            to_output,
        })
    }
}

/// The operands of an instruction.
fn operands(kind: &InstKind) -> Vec<Val> {
    match kind {
        InstKind::Unary(_, x) | InstKind::Cast(x) => vec![*x],
        InstKind::Binary(_, x, y) => vec![*x, *y],
        InstKind::Select(c, x, y) => vec![*c, *x, *y],
        InstKind::Load { mask, .. } => mask.iter().copied().collect(),
        InstKind::Const(_)
        | InstKind::Index(_)
        | InstKind::InRange { .. }
        | InstKind::Random { .. }
        | InstKind::Acc => Vec::new(),
    }
}

/// One row's staged vector code: what [`emit_staged`] runs, and where.
pub(super) struct StagedRow<'a> {
    /// The stages of the row's body.
    pub stages: &'a Stages,
    /// The row (its plan must be the one the stages were cut from).
    pub row: &'a Row<'a>,
    /// The output row the last stage stores to (`out_row[j]`), when the stages go to the
    /// output.
    pub out_row: Option<Value>,
    /// The vector type of the per-point code.
    pub vty: Type,
    /// The first inner position.
    pub j0: Value,
    /// The end of the inner positions: `j_end - j0` is a multiple of the vector width.
    pub j_end: Value,
}

/// Emits `body(j)` for the inner positions `[j0, j_end)` of `run`'s row, tile by tile: stored
/// to `out_row[j]` when the stages go to the output, else handed to `consume` per tile with the
/// values in `carry` carried from tile to tile (returned at the end).
pub(super) fn emit_staged(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    run: &StagedRow,
    carry: &[Value],
    consume: &mut Consume<'_>,
) -> Result<Vec<Value>> {
    let StagedRow {
        stages,
        row,
        out_row,
        vty,
        j0,
        j_end,
    } = *run;
    let plan = row.plan;
    let out_row = match (stages.to_output, out_row) {
        (true, Some(o)) => Some(o),
        (false, _) => None,
        (true, None) => {
            return Err(super::body::unsupported(
                "staged map: no output row to store to".into(),
            ))
        }
    };
    let lanes = i64::from(vty.lane_count());
    let lane_bytes = 4;
    let slot_bytes = TILE * lane_bytes;
    let ss = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        (stages.n_slots as i64 * slot_bytes) as u32,
        5,
    ));
    let base = b.ins().stack_addr(types::I64, ss, 0);
    let sig = map_signature(b);
    let mut types_of: Vec<Option<Type>> = vec![None; plan.body.insts.len()];
    // Tiles start at j0, j0 + TILE, ... while a vector is left; the last may be partial.
    let last_start = b.ins().iadd_imm_s(j_end, TILE - lanes);
    let (_, carried) = for_loop(b, j0, last_start, TILE, carry, |b, t, carried| {
        let left = b.ins().isub(j_end, t);
        let full = b.ins().iconst(types::I64, TILE);
        let short = b.ins().icmp(IntCC::SignedLessThan, left, full);
        let len = b.ins().select(short, left, full);
        let zero = b.ins().iconst(types::I64, 0);
        let slot_addr =
            |b: &mut FunctionBuilder, s: usize| b.ins().iadd_imm_s(base, s as i64 * slot_bytes);
        for stage in 0..=stages.cuts.len() {
            if stage == stages.cuts.len() && stages.direct_dst {
                break;
            }
            // A stage whose only work is loads (read again where they are used) has no loop.
            let work = (0..plan.body.insts.len()).any(|i| {
                !plan.uniform[i]
                    && stages.def[i] == stage
                    && !is_cut(stages, i)
                    && (stages.slot[i].is_some()
                        || !matches!(plan.body.insts[i].kind, InstKind::Load { .. }))
            });
            if work || (stage == stages.cuts.len() && stages.to_output) {
                for_loop(b, zero, len, lanes, &[], |b, k, _| {
                    let jj = b.ins().iadd(t, k);
                    let at = b.ins().imul_imm_s(k, lane_bytes);
                    let mut cur = row.vector_start();
                    let at = Fetch {
                        stages,
                        row,
                        types_of: &types_of,
                        base,
                        at,
                        slot_bytes,
                        jj,
                        vty,
                    };
                    // Values of earlier stages this stage reads.
                    for (i, inst) in plan.body.insts.iter().enumerate() {
                        if plan.uniform[i] || stages.def[i] != stage || is_cut(stages, i) {
                            continue;
                        }
                        for v in operands(&inst.kind) {
                            let v = v.0 as usize;
                            fetch(b, fx, &at, &mut cur, v, stage)?;
                        }
                    }
                    let result = plan.body.result.0 as usize;
                    let last = stage == stages.cuts.len();
                    if last {
                        fetch(b, fx, &at, &mut cur, result, stage)?;
                    }
                    let at = at.at;
                    for i in 0..plan.body.insts.len() {
                        if plan.uniform[i] || stages.def[i] != stage || is_cut(stages, i) {
                            continue;
                        }
                        let v = emit_inst(
                            b,
                            &mut fx.env,
                            row,
                            &cur,
                            i,
                            Point::at(jj, Mode::Vector(vty)),
                        )?;
                        cur[i] = Some(v);
                        if let Some(s) = stages.slot[i] {
                            let ty = b.func.dfg.value_type(v);
                            types_of[i] = Some(ty);
                            let p = slot_addr(b, s);
                            let p = b.ins().iadd(p, at);
                            b.ins().store(flags(), v, p, 0);
                        }
                    }
                    if let (true, Some(out_row)) = (last, out_row) {
                        let v = cur[result].ok_or_else(|| {
                            super::body::unsupported("staged map: result not computed".into())
                        })?;
                        let p = offset(b, out_row, jj, lane_bytes);
                        b.ins().store(flags(), v, p, 0);
                    }
                    Ok(vec![])
                })?;
            }
            if let Some(&(c, f)) = stages.cuts.get(stage) {
                let arg = match plan.body.insts[c].kind {
                    InstKind::Unary(_, x) => x.0 as usize,
                    _ => unreachable_cut()?,
                };
                let src = match (stages.direct_src[stage], stages.slot[arg]) {
                    (true, _) => load_address(b, row, arg, t)?,
                    (false, Some(s)) => slot_addr(b, s),
                    (false, None) => return Err(no_array()),
                };
                let dst = match (stages.slot[c], out_row) {
                    (Some(s), _) => slot_addr(b, s),
                    (None, Some(out_row)) if stages.direct_dst => offset(b, out_row, t, lane_bytes),
                    _ => return Err(no_array()),
                };
                types_of[c] = Some(vty);
                let callee = b.ins().iconst(types::I64, f as usize as i64);
                b.ins().call_indirect(sig, callee, &[src, dst, len]);
            }
        }
        if stages.to_output {
            return Ok(carried.to_vec());
        }
        let result = plan.body.result.0 as usize;
        let array = stages.slot[result].ok_or_else(no_array)?;
        let array = slot_addr(b, array);
        consume(b, fx, t, len, array, carried)
    })?;
    Ok(carried)
}

fn no_array() -> crate::error::CodegenError {
    super::body::unsupported("staged map: a routine's argument or result has no array".into())
}

/// Where stage code reads earlier values at the current point: the stages and row, the tile
/// arrays (their types so far, base address, this point's byte offset in each and their size)
/// and the point.
struct Fetch<'a> {
    stages: &'a Stages,
    row: &'a Row<'a>,
    types_of: &'a [Option<Type>],
    base: Value,
    at: Value,
    slot_bytes: i64,
    jj: Value,
    vty: Type,
}

/// Makes value `v` available in `cur` for stage `stage` if an earlier stage defined it: a load
/// is emitted again, anything else comes from its tile array.
fn fetch(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    at: &Fetch,
    cur: &mut [Option<Value>],
    v: usize,
    stage: usize,
) -> Result<()> {
    let (stages, plan) = (at.stages, at.row.plan);
    // A cut's value exists from the stage after it (its `def`); others after their stage.
    let from = if is_cut(stages, v) {
        stages.def[v]
    } else {
        stages.def[v] + 1
    };
    if cur[v].is_some() || plan.uniform[v] || stage < from {
        return Ok(());
    }
    if stages.slot[v].is_none() && matches!(plan.body.insts[v].kind, InstKind::Load { .. }) {
        let x = emit_inst(
            b,
            &mut fx.env,
            at.row,
            cur,
            v,
            Point::at(at.jj, Mode::Vector(at.vty)),
        )?;
        cur[v] = Some(x);
        return Ok(());
    }
    load_slot(b, at, cur, v)
}

fn is_cut(stages: &Stages, i: usize) -> bool {
    stages.cut_of[i].is_some()
}

fn unreachable_cut() -> Result<usize> {
    Err(super::body::unsupported(
        "staged map: a cut that is not a unary op".into(),
    ))
}

/// Loads value `v` from its tile array into `cur` when it has one and is not computed yet.
fn load_slot(
    b: &mut FunctionBuilder,
    at: &Fetch,
    cur: &mut [Option<Value>],
    v: usize,
) -> Result<()> {
    if cur[v].is_some() {
        return Ok(());
    }
    if let (Some(s), Some(ty)) = (at.stages.slot[v], at.types_of[v]) {
        let p = b.ins().iadd_imm_s(at.base, s as i64 * at.slot_bytes);
        let p = b.ins().iadd(p, at.at);
        cur[v] = Some(b.ins().load(ty, flags(), p, 0));
    }
    Ok(())
}

/// `(src: i64, dst: i64, n: i64)`, the routines' C signature.
fn map_signature(b: &mut FunctionBuilder) -> SigRef {
    let mut sig = b.func.signature.clone();
    sig.params = vec![AbiParam::new(types::I64); 3];
    sig.returns.clear();
    b.import_signature(sig)
}
