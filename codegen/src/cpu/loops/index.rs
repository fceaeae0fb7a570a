//! Data-dependent addressing: gather and scatter-add, in scalar code.
//!
//! Every index value is checked against the indexed axis's size before the access (one unsigned
//! compare catches negatives too); a bad index makes the function return `1 + p`, `p` being the
//! flat row-major position of the offending point in the kernel's index space, and nothing is
//! read or written out of range. Gather's parallel extent is its rows (each call writes its own
//! rows); scatter-add is serial (extent 1): it writes the base over the whole output, then adds
//! each source value in row-major order of the index space.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;
use kiln_ir::kernel::{Body, View};
use kiln_ir::DType;

use super::body::{buffer, cast, clif, emit_point, emit_row, flags, Mode, Plan, Point};
use super::map::{emit_map, map_extent, rows, Map};
use super::nest::{for_loop, k64, offset, unflatten, Fx};
use crate::error::Result;

/// Branches to the error exit with `1 + flat` unless `0 <= iv < size`; continues in a new block.
fn check(b: &mut FunctionBuilder, fx: &Fx, iv: Value, size: usize, flat: Value) {
    let ok = b.ins().icmp_imm_u(IntCC::UnsignedLessThan, iv, size as i64);
    let code = b.ins().iadd_imm_s(flat, 1);
    let cont = b.create_block();
    b.ins().brif(ok, cont, &[], fx.err, &[BlockArg::from(code)]);
    b.switch_to_block(cont);
}

/// `sum_k coefs[k] * coords[k]` over the axes not in `skip`, plus `offset`.
fn partial(
    b: &mut FunctionBuilder,
    offset: isize,
    coefs: &[isize],
    coords: &[Value],
    skip: &[usize],
) -> Value {
    let mut v = b
        .ins()
        .iconst(cranelift_codegen::ir::types::I64, offset as i64);
    for (k, (&c, &x)) in coefs.iter().zip(coords).enumerate() {
        if c != 0 && !skip.contains(&k) {
            let t = b.ins().imul_imm_s(x, c as i64);
            v = b.ins().iadd(v, t);
        }
    }
    v
}

/// A gather kernel's parts.
pub(super) struct GatherParts<'a> {
    /// Index space (= output shape).
    pub shape: &'a [usize],
    /// The indexed axis.
    pub axis: usize,
    /// The index per point.
    pub index: &'a Body,
    /// The source view.
    pub src: &'a View,
    /// The source's dims.
    pub src_dims: &'a [usize],
    /// The source's dtype (= output dtype).
    pub dtype: DType,
}

/// Emits gather for rows `[start, end)` of the index space into `out`.
pub(super) fn emit_gather(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    g: &GatherParts,
    out: Value,
) -> Result<()> {
    let rank = g.shape.len();
    let inner = rank.saturating_sub(1);
    let n = g.shape.get(inner).copied().unwrap_or(1);
    let outer = &g.shape[..rank.saturating_sub(1)];
    let size = g.src_dims.get(g.axis).copied().unwrap_or(0);
    let s_axis = g.src.strides.get(g.axis).copied().unwrap_or(0) as i64;
    let s_inner = if g.axis == inner {
        0
    } else {
        g.src.strides.get(inner).copied().unwrap_or(0) as i64
    };
    let esize = g.dtype.size_bytes() as i64;
    let plan = Plan::new(g.index, Some(inner), true);
    let idx_dtype = g.index.dtype();
    let src = buffer(&fx.env, g.src.buffer.index())?;
    let (start, end) = (fx.start, fx.end);
    for_loop(b, start, end, 1, &[], |b, row, _| {
        let mut coords = unflatten(b, row, outer);
        coords.push(k64(b, 0));
        let rv = emit_row(b, &mut fx.env, &plan, &coords, None)?;
        let base = partial(b, g.src.offset, &g.src.strides, &coords, &[g.axis, inner]);
        let src_row = offset(b, src, base, esize);
        let first = b.ins().imul_imm_s(row, n as i64);
        let out_row = offset(b, out, first, esize);
        let zero = k64(b, 0);
        let n_v = k64(b, n);
        for_loop(b, zero, n_v, 1, &[], |b, j, _| {
            let iv = emit_point(b, &mut fx.env, &rv, Point::at(j, Mode::Scalar))?;
            let iv = cast(b, idx_dtype, DType::I64, iv);
            let flat = b.ins().iadd(first, j);
            check(b, fx, iv, size, flat);
            let a = b.ins().imul_imm_s(iv, s_axis);
            let c = b.ins().imul_imm_s(j, s_inner);
            let e = b.ins().iadd(a, c);
            let p = offset(b, src_row, e, esize);
            let v = b.ins().load(clif(g.dtype), flags(), p, 0);
            let q = offset(b, out_row, j, esize);
            b.ins().store(flags(), v, q, 0);
            Ok(vec![])
        })?;
        Ok(vec![])
    })?;
    Ok(())
}

/// A scatter-add kernel's parts.
pub(super) struct ScatterParts<'a> {
    /// The output shape.
    pub out_shape: &'a [usize],
    /// The base per output point.
    pub base: &'a Body,
    /// The index space.
    pub shape: &'a [usize],
    /// The indexed axis.
    pub axis: usize,
    /// The index per point.
    pub index: &'a Body,
    /// The value added per point.
    pub src: &'a Body,
    /// The output dtype.
    pub dtype: DType,
}

/// Emits the whole scatter-add (ignoring the range: its parallel extent is 1).
pub(super) fn emit_scatter(
    b: &mut FunctionBuilder,
    fx: &mut Fx,
    s: &ScatterParts,
    out: Value,
) -> Result<()> {
    let lo = k64(b, 0);
    let hi = k64(b, map_extent(s.out_shape));
    let base = Map {
        dims: s.out_shape,
        body: s.base,
        out,
        out_buffer: None,
        out_dtype: s.dtype,
        acc: None,
    };
    emit_map(b, fx, &base, lo, hi)?;
    let rank = s.shape.len();
    let inner = rank.saturating_sub(1);
    let n = s.shape.get(inner).copied().unwrap_or(1);
    let outer = &s.shape[..rank.saturating_sub(1)];
    // Row-major strides of the output.
    let mut ostrides = vec![0isize; s.out_shape.len()];
    let mut acc = 1isize;
    for k in (0..s.out_shape.len()).rev() {
        ostrides[k] = acc;
        acc *= s.out_shape[k] as isize;
    }
    let size = s.out_shape.get(s.axis).copied().unwrap_or(0);
    let o_axis = ostrides.get(s.axis).copied().unwrap_or(0) as i64;
    let o_inner = if s.axis == inner {
        0
    } else {
        ostrides.get(inner).copied().unwrap_or(0) as i64
    };
    let esize = s.dtype.size_bytes() as i64;
    let iplan = Plan::new(s.index, Some(inner), true);
    let splan = Plan::new(s.src, Some(inner), true);
    let idx_dtype = s.index.dtype();
    let src_dtype = s.src.dtype();
    let d = s.dtype;
    let lo = k64(b, 0);
    let hi = k64(b, rows(s.shape));
    for_loop(b, lo, hi, 1, &[], |b, row, _| {
        let mut coords = unflatten(b, row, outer);
        coords.push(k64(b, 0));
        let irow = emit_row(b, &mut fx.env, &iplan, &coords, None)?;
        let srow = emit_row(b, &mut fx.env, &splan, &coords, None)?;
        let base = partial(b, 0, &ostrides, &coords, &[s.axis, inner]);
        let out_row = offset(b, out, base, esize);
        let first = b.ins().imul_imm_s(row, n as i64);
        let zero = k64(b, 0);
        let n_v = k64(b, n);
        for_loop(b, zero, n_v, 1, &[], |b, j, _| {
            let iv = emit_point(b, &mut fx.env, &irow, Point::at(j, Mode::Scalar))?;
            let iv = cast(b, idx_dtype, DType::I64, iv);
            let flat = b.ins().iadd(first, j);
            check(b, fx, iv, size, flat);
            let v = emit_point(b, &mut fx.env, &srow, Point::at(j, Mode::Scalar))?;
            let v = cast(b, src_dtype, d, v);
            let a = b.ins().imul_imm_s(iv, o_axis);
            let c = b.ins().imul_imm_s(j, o_inner);
            let e = b.ins().iadd(a, c);
            let p = offset(b, out_row, e, esize);
            let old = b.ins().load(clif(d), flags(), p, 0);
            let new = match d {
                DType::F32 | DType::F64 => b.ins().fadd(old, v),
                DType::I32 | DType::I64 => b.ins().iadd(old, v),
                DType::Bool => b.ins().bor(old, v),
            };
            b.ins().store(flags(), new, p, 0);
            Ok(vec![])
        })?;
        Ok(vec![])
    })?;
    Ok(())
}
