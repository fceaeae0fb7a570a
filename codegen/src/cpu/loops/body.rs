//! Emits a kernel [`Body`] as CLIF at one point of a loop nest, scalar or as one vector of
//! consecutive points along the innermost ("inner") axis.
//!
//! A body is split in two parts for each row of the loop nest:
//! - **uniform** instructions, which do not depend on the inner axis (broadcast loads, constants,
//!   coordinates of other axes, masks of outer axes, and anything computed only from those), are
//!   emitted once per row by [`emit_row`] as scalars;
//! - the rest is emitted per point (or per vector of points) by [`emit_point`], with each load's
//!   row address and each affine's row value hoisted into the row.
//!
//! Guarantees:
//! - every instruction is computed natively in its dtype (bool as an `i8` 0/1 in scalar code, as
//!   an all-ones/all-zeros lane mask in vector code); casts follow `DType::round` (saturating,
//!   truncating float -> int with NaN -> 0, and saturating i64 -> i32); integer neg and abs
//!   saturate like the evaluator; integer add, sub and mul wrap (the evaluator saturates: the two
//!   differ only on overflow);
//! - a masked load whose mask is false reads a zeroed 16-byte stack slot instead of the buffer,
//!   so it never touches memory outside the buffer and yields 0;
//! - [`Plan::vector_ok`] accepts a body only when every per-point instruction has a vector form
//!   of the lane type (contiguous or uniform loads with uniform masks, float math, comparisons,
//!   select, float <-> bool casts); everything else is emitted in scalar code.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, SigRef, Type, Value};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::{Body, InstKind, Val};
use kiln_ir::{BinaryOp, DType, Distribution, UnaryOp};

use super::runtime::{kiln_philox_normal, kiln_philox_uniform};
use crate::cpu::math::{
    emit_cos_with, emit_exp_with, emit_log_with, emit_pow_with, emit_sigmoid_with, emit_sin_with,
    emit_tanh_with, Consts,
};
use crate::error::{CodegenError, Result};

/// Function-wide values every body needs.
pub(super) struct Env {
    /// Base address of each buffer the kernel touches, by buffer index (plus the gemm scratch).
    pub bufs: Vec<Option<Value>>,
    /// Address of 16 zero bytes (the target of masked-off loads).
    pub zero: Value,
    /// Math constants, prepared in the entry block.
    pub consts: Consts,
    /// `(i64, i64) -> f32`, for the Philox calls.
    pub philox_sig: SigRef,
}

/// Memory flags of every kernel access: in bounds by construction, so no trap.
pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The scalar CLIF type of a dtype.
pub(super) fn clif(d: DType) -> Type {
    match d {
        DType::Bool => types::I8,
        DType::I32 => types::I32,
        DType::I64 => types::I64,
        DType::F32 => types::F32,
        DType::F64 => types::F64,
    }
}

/// The vector type of a float dtype (`f32x4`, `f64x2`), or `None`.
pub(super) fn vec_of(d: DType) -> Option<Type> {
    match d {
        DType::F32 => Some(types::F32X4),
        DType::F64 => Some(types::F64X2),
        DType::Bool | DType::I32 | DType::I64 => None,
    }
}

/// How a body is evaluated at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// One point; values are scalars.
    Scalar,
    /// One vector of consecutive inner points; float values of this vector type, bools masks.
    Vector(Type),
}

/// A body, the axis its inner loop runs along, and which instructions are uniform along it.
pub(super) struct Plan<'a> {
    /// The body.
    pub body: &'a Body,
    /// The inner axis, or `None` when the whole body is evaluated per row.
    pub inner: Option<usize>,
    /// Per instruction: independent of the inner axis.
    pub uniform: Vec<bool>,
}

fn coef(coefs: &[isize], axis: Option<usize>) -> isize {
    axis.and_then(|a| coefs.get(a).copied()).unwrap_or(0)
}

impl<'a> Plan<'a> {
    /// Analyses `body` for an inner loop along `inner`; `acc_uniform` says whether
    /// [`InstKind::Acc`] is the same for the whole row.
    pub fn new(body: &'a Body, inner: Option<usize>, acc_uniform: bool) -> Plan<'a> {
        let mut uniform: Vec<bool> = Vec::with_capacity(body.insts.len());
        for inst in &body.insts {
            let u = |v: &Val| uniform.get(v.0 as usize).copied().unwrap_or(false);
            let this = inner.is_none()
                || match &inst.kind {
                    InstKind::Load { view, mask } => {
                        coef(&view.strides, inner) == 0 && mask.as_ref().is_none_or(u)
                    }
                    InstKind::Const(_) => true,
                    InstKind::Index(axis) => Some(*axis) != inner,
                    InstKind::InRange { index, .. } | InstKind::Random { index, .. } => {
                        coef(&index.coefs, inner) == 0
                    }
                    InstKind::Unary(_, x) | InstKind::Cast(x) => u(x),
                    InstKind::Binary(_, x, y) => u(x) && u(y),
                    InstKind::Select(c, x, y) => u(c) && u(x) && u(y),
                    InstKind::Acc => acc_uniform,
                };
            uniform.push(this);
        }
        Plan {
            body,
            inner,
            uniform,
        }
    }

    fn dtype(&self, v: Val) -> DType {
        self.body
            .insts
            .get(v.0 as usize)
            .map_or(DType::Bool, |i| i.dtype)
    }

    /// Whether the per-point part has a vector form with float lanes of `elem` and the result
    /// is an `elem` vector.
    pub fn vector_ok(&self, elem: DType) -> bool {
        if vec_of(elem).is_none() || self.inner.is_none() || self.body.dtype() != elem {
            return false;
        }
        let lane = |d: DType| d == elem || d == DType::Bool;
        self.body.insts.iter().enumerate().all(|(i, inst)| {
            if self.uniform[i] {
                return true;
            }
            lane(inst.dtype)
                && match &inst.kind {
                    InstKind::Load { view, mask } => {
                        inst.dtype == elem
                            && coef(&view.strides, self.inner) == 1
                            && mask.is_none_or(|m| self.uniform[m.0 as usize])
                    }
                    InstKind::Const(_) | InstKind::Acc => true,
                    InstKind::Index(_) | InstKind::InRange { .. } | InstKind::Random { .. } => {
                        false
                    }
                    InstKind::Unary(_, x) | InstKind::Cast(x) => lane(self.dtype(*x)),
                    InstKind::Binary(_, x, _) => lane(self.dtype(*x)),
                    InstKind::Select(..) => true,
                }
        })
    }
}

/// One row of a [`Plan`], as emitted: the plan itself and the row's coordinates (so that
/// per-point code cannot be given another body's row), uniform instructions as scalars (and
/// their splats for vector code), and for each per-point load its row address, for each
/// per-point affine its row value. What every per-point emitter reads.
pub(super) struct Row<'p> {
    /// The body and its inner axis.
    pub plan: &'p Plan<'p>,
    /// The row's coordinates, one i64 per axis (the inner axis's entry is unused).
    pub coords: Vec<Value>,
    vals: Vec<Option<Value>>,
    base: Vec<Option<Value>>,
    splats: Vec<Option<Value>>,
}

/// Where per-point code is emitted: the inner coordinate `j` (the first lane in vector mode),
/// scalar or vector, and [`InstKind::Acc`]'s value there when it is not uniform.
#[derive(Clone, Copy)]
pub(super) struct Point {
    pub j: Value,
    pub mode: Mode,
    pub acc: Option<Value>,
}

impl Point {
    /// Inner coordinate `j` in `mode`, with no per-point `Acc`.
    pub fn at(j: Value, mode: Mode) -> Point {
        Point { j, mode, acc: None }
    }
}

impl Row<'_> {
    /// The scalar value of a uniform instruction.
    pub fn value(&self, v: Val) -> Result<Value> {
        get(&self.vals, v)
    }

    /// Per instruction, the splatted vector of a uniform value that vector code uses (after
    /// [`emit_splats`]): the starting values of vector code at a point.
    pub fn vector_start(&self) -> Vec<Option<Value>> {
        self.splats.clone()
    }
}

/// Emits the row part of `plan` at the coordinates `coords` (one i64 per axis; the inner
/// axis's entry is ignored). `acc` is the value of [`InstKind::Acc`] when it is uniform.
pub(super) fn emit_row<'p>(
    b: &mut FunctionBuilder,
    env: &mut Env,
    plan: &'p Plan<'p>,
    coords: &[Value],
    acc: Option<Value>,
) -> Result<Row<'p>> {
    let n = plan.body.insts.len();
    let mut row = Row {
        plan,
        coords: coords.to_vec(),
        vals: vec![None; n],
        base: vec![None; n],
        splats: vec![None; n],
    };
    for (i, inst) in plan.body.insts.iter().enumerate() {
        let affine = |b: &mut FunctionBuilder, offset: isize, coefs: &[isize]| -> Value {
            let mut v = b.ins().iconst(types::I64, offset as i64);
            for (k, &c) in coefs.iter().enumerate() {
                if c != 0 && Some(k) != plan.inner {
                    if let Some(&x) = coords.get(k) {
                        let t = b.ins().imul_imm_s(x, c as i64);
                        v = b.ins().iadd(v, t);
                    }
                }
            }
            v
        };
        let base = match &inst.kind {
            InstKind::Load { view, .. } => {
                let e = affine(b, view.offset, &view.strides);
                let bytes = b.ins().imul_imm_s(e, inst.dtype.size_bytes() as i64);
                let p = buffer(env, view.buffer.index())?;
                Some(b.ins().iadd(p, bytes))
            }
            InstKind::InRange { index, .. } | InstKind::Random { index, .. } => {
                Some(affine(b, index.offset, &index.coefs))
            }
            InstKind::Const(_)
            | InstKind::Index(_)
            | InstKind::Unary(..)
            | InstKind::Binary(..)
            | InstKind::Select(..)
            | InstKind::Cast(_)
            | InstKind::Acc => None,
        };
        row.base[i] = base;
        if plan.uniform[i] {
            let inner_coord = b.ins().iconst(types::I64, 0);
            let at = Point {
                acc,
                ..Point::at(inner_coord, Mode::Scalar)
            };
            let v = emit_inst(b, env, &row, &row.vals, i, at)?;
            row.vals[i] = Some(v);
        }
    }
    Ok(row)
}

/// Splats, at the current position (the row's block), every uniform value that per-point
/// vector code of type `vty` uses.
pub(super) fn emit_splats(b: &mut FunctionBuilder, row: &mut Row, vty: Type) {
    let plan = row.plan;
    let mut used = vec![false; plan.body.insts.len()];
    let mut mark = |v: &Val| {
        if let Some(u) = used.get_mut(v.0 as usize) {
            *u = true;
        }
    };
    for (i, inst) in plan.body.insts.iter().enumerate() {
        if plan.uniform[i] {
            continue;
        }
        match &inst.kind {
            InstKind::Unary(_, x) | InstKind::Cast(x) => mark(x),
            InstKind::Binary(_, x, y) => {
                mark(x);
                mark(y);
            }
            InstKind::Select(c, x, y) => {
                mark(c);
                mark(x);
                mark(y);
            }
            InstKind::Load { .. }
            | InstKind::Const(_)
            | InstKind::Index(_)
            | InstKind::InRange { .. }
            | InstKind::Random { .. }
            | InstKind::Acc => {}
        }
    }
    if plan.body.dtype() != DType::Bool && plan.uniform[plan.body.result.0 as usize] {
        mark(&plan.body.result);
    }
    for (i, inst) in plan.body.insts.iter().enumerate() {
        if let (true, true, Some(x)) = (used[i], plan.uniform[i], row.vals[i]) {
            row.splats[i] = Some(splat(b, inst.dtype, x, vty));
        }
    }
}

/// A scalar of dtype `d` as a vector of type `vty` (bools as lane masks).
fn splat(b: &mut FunctionBuilder, d: DType, x: Value, vty: Type) -> Value {
    if d == DType::Bool {
        let lane = vty.lane_type().as_int();
        let w = b.ins().uextend(lane, x);
        let m = b.ins().ineg(w);
        b.ins().splat(vty.as_int(), m)
    } else {
        b.ins().splat(vty, x)
    }
}

/// Emits the per-point part of `row` at `at` and returns the body's result.
pub(super) fn emit_point(
    b: &mut FunctionBuilder,
    env: &mut Env,
    row: &Row,
    at: Point,
) -> Result<Value> {
    let plan = row.plan;
    let mut cur: Vec<Option<Value>> = match at.mode {
        Mode::Scalar => row.vals.clone(),
        Mode::Vector(_) => row.splats.clone(),
    };
    for i in 0..plan.body.insts.len() {
        if plan.uniform[i] {
            continue;
        }
        let v = emit_inst(b, env, row, &cur, i, at)?;
        cur[i] = Some(v);
    }
    get(&cur, plan.body.result)
}

fn get(vals: &[Option<Value>], v: Val) -> Result<Value> {
    vals.get(v.0 as usize)
        .copied()
        .flatten()
        .ok_or_else(|| unsupported(format!("body value v{} used before it is defined", v.0)))
}

pub(super) fn unsupported(what: String) -> CodegenError {
    CodegenError::Unsupported {
        backend: "cpu",
        what,
    }
}

/// The base address of buffer `i`.
pub(super) fn buffer(env: &Env, i: usize) -> Result<Value> {
    env.bufs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| unsupported(format!("buffer b{i} was not loaded")))
}

/// The address per-point load `i` reads at inner coordinate `j` (its row address plus the
/// inner stride times `j`), ignoring its mask.
pub(super) fn load_address(
    b: &mut FunctionBuilder,
    row: &Row,
    i: usize,
    j: Value,
) -> Result<Value> {
    let plan = row.plan;
    let inst = &plan.body.insts[i];
    let InstKind::Load { view, .. } = &inst.kind else {
        return Err(unsupported(format!("v{i} is not a load")));
    };
    let base = row.base[i].ok_or_else(|| unsupported("load without a row address".into()))?;
    let step = coef(&view.strides, plan.inner) * inst.dtype.size_bytes() as isize;
    let t = b.ins().imul_imm_s(j, step as i64);
    Ok(b.ins().iadd(base, t))
}

/// Instruction `i` of `row`'s body at `at`, its operands taken from `cur`.
pub(super) fn emit_inst(
    b: &mut FunctionBuilder,
    env: &mut Env,
    row: &Row,
    cur: &[Option<Value>],
    i: usize,
    at: Point,
) -> Result<Value> {
    let Point { j, mode, acc } = at;
    let (plan, coords) = (row.plan, &row.coords);
    let inst = &plan.body.insts[i];
    let d = inst.dtype;
    let inner_coef = |coefs: &[isize]| coef(coefs, plan.inner);
    // Row value plus coef * j for affines.
    let along = |b: &mut FunctionBuilder, c: isize| -> Result<Value> {
        let base = row.base[i].ok_or_else(|| unsupported("affine without a row value".into()))?;
        if c == 0 {
            return Ok(base);
        }
        let t = b.ins().imul_imm_s(j, c as i64);
        Ok(b.ins().iadd(base, t))
    };
    let x = |v: &Val| get(cur, *v);
    Ok(match &inst.kind {
        InstKind::Load { view, mask } => {
            let esize = d.size_bytes() as i64;
            let mut addr = along(b, inner_coef(&view.strides) * esize as isize)?;
            if let Some(m) = mask {
                // Vector loads need a uniform mask: take its scalar value from the row.
                let m = match mode {
                    Mode::Scalar => x(m)?,
                    Mode::Vector(_) => get(&row.vals, *m)?,
                };
                addr = b.ins().select(m, addr, env.zero);
            }
            let ty = match mode {
                Mode::Scalar => clif(d),
                Mode::Vector(vty) => vty,
            };
            b.ins().load(ty, flags(), addr, 0)
        }
        InstKind::Const(c) => match d {
            DType::Bool => b.ins().iconst(types::I8, i64::from(*c != 0.0)),
            DType::I32 | DType::I64 => b.ins().iconst(clif(d), *c as i64),
            DType::F32 => b.ins().f32const(*c as f32),
            DType::F64 => b.ins().f64const(*c),
        },
        InstKind::Index(axis) => {
            let c = if Some(*axis) == plan.inner {
                j
            } else {
                match coords.get(*axis) {
                    Some(&c) => c,
                    None => b.ins().iconst(types::I64, 0),
                }
            };
            cast(b, DType::I64, d, c)
        }
        InstKind::InRange { index, lo, hi } => {
            let a = along(b, inner_coef(&index.coefs))?;
            let ge = b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, a, *lo as i64);
            let lt = b.ins().icmp_imm_s(IntCC::SignedLessThan, a, *hi as i64);
            b.ins().band(ge, lt)
        }
        InstKind::Random { dist, seed, index } => {
            let idx = along(b, inner_coef(&index.coefs))?;
            let f: extern "C" fn(u64, u64) -> f32 = match dist {
                Distribution::Uniform => kiln_philox_uniform,
                Distribution::Normal => kiln_philox_normal,
            };
            let callee = b.ins().iconst(types::I64, f as usize as i64);
            let s = b.ins().iconst(types::I64, *seed as i64);
            let call = b.ins().call_indirect(env.philox_sig, callee, &[s, idx]);
            let r = b.inst_results(call)[0];
            cast(b, DType::F32, d, r)
        }
        InstKind::Unary(op, a) => unary(b, env, *op, d, x(a)?, mode)?,
        InstKind::Binary(op, l, r) => {
            let od = plan.dtype(*l);
            binary(b, env, *op, od, x(l)?, x(r)?, mode)?
        }
        InstKind::Select(c, t, f) => {
            let (c, t, f) = (x(c)?, x(t)?, x(f)?);
            match mode {
                Mode::Scalar => b.ins().select(c, t, f),
                Mode::Vector(vty) => {
                    let ty = if d == DType::Bool { vty.as_int() } else { vty };
                    let c = bitcast(b, ty, c);
                    b.ins().bitselect(c, t, f)
                }
            }
        }
        InstKind::Cast(a) => {
            let from = plan.dtype(*a);
            match mode {
                Mode::Scalar => cast(b, from, d, x(a)?),
                Mode::Vector(vty) => vcast(b, from, d, x(a)?, vty)?,
            }
        }
        InstKind::Acc => acc.ok_or_else(|| unsupported("`acc` outside an epilogue".into()))?,
    })
}

/// A lane-preserving reinterpretation of a vector (no-op when the types agree).
fn bitcast(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    if b.func.dfg.value_type(x) == ty {
        return x;
    }
    let f = MemFlagsData::new().with_endianness(Endianness::Little);
    b.ins().bitcast(ty, f, x)
}

fn float_const(b: &mut FunctionBuilder, ty: Type, v: f64) -> Value {
    let lane = ty.lane_type();
    let s = if lane == types::F32 {
        b.ins().f32const(v as f32)
    } else {
        b.ins().f64const(v)
    };
    if ty.is_vector() {
        b.ins().splat(ty, s)
    } else {
        s
    }
}

/// The smallest value of integer type `ty`.
fn int_min(b: &mut FunctionBuilder, ty: Type) -> Value {
    let bits = ty.bits();
    let v = if bits >= 64 {
        i64::MIN
    } else {
        -(1i64 << (bits - 1))
    };
    b.ins()
        .iconst(ty, v & if bits >= 64 { -1 } else { (1i64 << bits) - 1 })
}

fn unary(
    b: &mut FunctionBuilder,
    env: &mut Env,
    op: UnaryOp,
    d: DType,
    x: Value,
    mode: Mode,
) -> Result<Value> {
    let c = &mut env.consts;
    let float = d.is_float();
    Ok(match op {
        UnaryOp::Neg if float => b.ins().fneg(x),
        // Integer neg and abs saturate (-MIN = MAX), as the evaluator does.
        UnaryOp::Neg => {
            let ty = clif(d);
            let r = b.ins().ineg(x);
            let min = int_min(b, ty);
            let at_min = b.ins().icmp(IntCC::Equal, x, min);
            let max = b.ins().bnot(min);
            b.ins().select(at_min, max, r)
        }
        UnaryOp::Abs if float => b.ins().fabs(x),
        UnaryOp::Abs => {
            let ty = clif(d);
            let r = b.ins().iabs(x);
            let wrapped = b.ins().icmp_imm_s(IntCC::SignedLessThan, r, 0);
            let min = int_min(b, ty);
            let max = b.ins().bnot(min);
            b.ins().select(wrapped, max, r)
        }
        UnaryOp::Exp => emit_exp_with(b, c, x)?,
        UnaryOp::Log => emit_log_with(b, c, x)?,
        UnaryOp::Sin => emit_sin_with(b, c, x)?,
        UnaryOp::Cos => emit_cos_with(b, c, x)?,
        UnaryOp::Tanh => emit_tanh_with(b, c, x)?,
        UnaryOp::Sigmoid => emit_sigmoid_with(b, c, x)?,
        UnaryOp::Sqrt => b.ins().sqrt(x),
        UnaryOp::Recip => {
            let ty = b.func.dfg.value_type(x);
            let one = float_const(b, ty, 1.0);
            b.ins().fdiv(one, x)
        }
        UnaryOp::Not => match mode {
            Mode::Scalar => b.ins().bxor_imm_u(x, 1),
            Mode::Vector(_) => b.ins().bnot(x),
        },
    })
}

fn binary(
    b: &mut FunctionBuilder,
    env: &mut Env,
    op: BinaryOp,
    d: DType,
    x: Value,
    y: Value,
    mode: Mode,
) -> Result<Value> {
    let float = d.is_float();
    // Bools compare unsigned (0 < 1); integers signed.
    let icc = |signed: IntCC, unsigned: IntCC| if d == DType::Bool { unsigned } else { signed };
    let cmp = |b: &mut FunctionBuilder, f: FloatCC, i: IntCC| {
        if float {
            b.ins().fcmp(f, x, y)
        } else {
            b.ins().icmp(i, x, y)
        }
    };
    let _ = mode;
    Ok(match op {
        BinaryOp::Add if float => b.ins().fadd(x, y),
        BinaryOp::Add => b.ins().iadd(x, y),
        BinaryOp::Sub if float => b.ins().fsub(x, y),
        BinaryOp::Sub => b.ins().isub(x, y),
        BinaryOp::Mul if float => b.ins().fmul(x, y),
        BinaryOp::Mul => b.ins().imul(x, y),
        BinaryOp::Div => b.ins().fdiv(x, y),
        BinaryOp::Max if float => b.ins().fmax(x, y),
        BinaryOp::Max if d == DType::Bool => b.ins().umax(x, y),
        BinaryOp::Max => b.ins().smax(x, y),
        BinaryOp::Min if float => b.ins().fmin(x, y),
        BinaryOp::Min if d == DType::Bool => b.ins().umin(x, y),
        BinaryOp::Min => b.ins().smin(x, y),
        BinaryOp::Pow => emit_pow_with(b, &mut env.consts, x, y)?,
        BinaryOp::Eq => cmp(b, FloatCC::Equal, IntCC::Equal),
        BinaryOp::Ne => cmp(b, FloatCC::NotEqual, IntCC::NotEqual),
        BinaryOp::Lt => cmp(
            b,
            FloatCC::LessThan,
            icc(IntCC::SignedLessThan, IntCC::UnsignedLessThan),
        ),
        BinaryOp::Le => cmp(
            b,
            FloatCC::LessThanOrEqual,
            icc(IntCC::SignedLessThanOrEqual, IntCC::UnsignedLessThanOrEqual),
        ),
        BinaryOp::Gt => cmp(
            b,
            FloatCC::GreaterThan,
            icc(IntCC::SignedGreaterThan, IntCC::UnsignedGreaterThan),
        ),
        BinaryOp::Ge => cmp(
            b,
            FloatCC::GreaterThanOrEqual,
            icc(
                IntCC::SignedGreaterThanOrEqual,
                IntCC::UnsignedGreaterThanOrEqual,
            ),
        ),
        BinaryOp::And => b.ins().band(x, y),
        BinaryOp::Or => b.ins().bor(x, y),
    })
}

/// Scalar conversion following `DType::round`.
pub(super) fn cast(b: &mut FunctionBuilder, from: DType, to: DType, x: Value) -> Value {
    if from == to {
        return x;
    }
    let t = clif(to);
    match from {
        DType::Bool => match to {
            DType::Bool => x,
            DType::I32 | DType::I64 => b.ins().uextend(t, x),
            DType::F32 | DType::F64 => {
                let w = b.ins().uextend(types::I32, x);
                b.ins().fcvt_from_sint(t, w)
            }
        },
        DType::I32 | DType::I64 => match to {
            DType::Bool => b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            DType::I32 => {
                // i64 -> i32 saturates like `as` from f64 does.
                let hi = b.ins().iconst(types::I64, i64::from(i32::MAX));
                let lo = b.ins().iconst(types::I64, i64::from(i32::MIN));
                let c = b.ins().smin(x, hi);
                let c = b.ins().smax(c, lo);
                b.ins().ireduce(types::I32, c)
            }
            DType::I64 => b.ins().sextend(types::I64, x),
            DType::F32 | DType::F64 => b.ins().fcvt_from_sint(t, x),
        },
        DType::F32 | DType::F64 => match to {
            DType::Bool => {
                let z = float_const(b, clif(from), 0.0);
                b.ins().fcmp(FloatCC::NotEqual, x, z)
            }
            DType::I32 | DType::I64 => b.ins().fcvt_to_sint_sat(t, x),
            DType::F32 => b.ins().fdemote(types::F32, x),
            DType::F64 => b.ins().fpromote(types::F64, x),
        },
    }
}

/// Vector conversion between a float lane type and bool masks (what [`Plan::vector_ok`]
/// admits).
fn vcast(b: &mut FunctionBuilder, from: DType, to: DType, x: Value, vty: Type) -> Result<Value> {
    if from == to {
        return Ok(x);
    }
    match (from.is_float(), to.is_float()) {
        (true, false) => {
            let z = float_const(b, vty, 0.0);
            Ok(b.ins().fcmp(FloatCC::NotEqual, x, z))
        }
        (false, true) => {
            let one = float_const(b, vty, 1.0);
            let zero = float_const(b, vty, 0.0);
            let m = bitcast(b, vty, x);
            Ok(b.ins().bitselect(m, one, zero))
        }
        _ => Err(unsupported(format!("vector cast {from} -> {to}"))),
    }
}
