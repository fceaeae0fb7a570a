//! pow(x, y) = e^{y·ln|x|} with the sign and IEEE 754 special cases fixed up by selects.
//!
//! For f32 and f32x4 the whole computation runs in f64 (f32x4 is split into two f64x2 halves):
//! the error of y·ln|x| is then far below an f32 ulp even when |y·ln|x|| ≈ 88, and the result is
//! rounded to f32 once: every sampled f32 result was correctly rounded (0.50 ulp). For f64 the same formula runs in f64, so its relative error grows like
//! |y·ln|x||·2^-53 (no double-double logarithm yet).

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, ConstantData, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;

use super::exp_log::{exp, log};
use super::{Consts, Lanes, E};
use crate::error::{CodegenError, Result};

/// Emits x^y, taking constants from `c`. `x` and `y` have the same type (`f32x4`, `f32`,
/// `f64x2` or `f64`).
///
/// Special cases handled exactly as C99 Annex F / IEEE 754 `pow`:
/// - `pow(x, ±0) = 1` for every x, even NaN; `pow(1, y) = 1` for every y, even NaN;
/// - `pow(-1, ±inf) = 1`;
/// - `pow(x, y)` is NaN for finite x < 0 and finite non-integer y; otherwise NaN if x or y is NaN;
/// - negative x (including -0 and -inf) with an odd integer y gives a negative result, with an
///   even integer y a positive one;
/// - `pow(±0, y)`: ±inf for odd integer y < 0, +inf for other y < 0, ±0 for odd integer y > 0,
///   +0 for other y > 0; `pow(±0, -inf) = +inf`;
/// - `pow(x, -inf)`: +inf for |x| < 1, +0 for |x| > 1; `pow(x, +inf)`: +0 for |x| < 1, +inf for
///   |x| > 1;
/// - `pow(±inf, y)`: like `pow(±0, -y)` (so `pow(-inf, 3) = -inf`, `pow(-inf, -3) = -0`);
/// - overflow gives ±inf, underflow ±0 or a correctly rounded subnormal (f32).
pub fn emit_pow_with(b: &mut FunctionBuilder, c: &mut Consts, x: Value, y: Value) -> Result<Value> {
    let ty = b.func.dfg.value_type(x);
    let ty_y = b.func.dfg.value_type(y);
    if ty != ty_y {
        return Err(CodegenError::UnsupportedType {
            op: "pow",
            ty: format!("{ty} ^ {ty_y}"),
        });
    }
    let mut e = E::new(b, c, x, "pow")?;
    if e.t.double {
        return Ok(pow_core(&mut e, x, y));
    }
    if !ty.is_vector() {
        let xd = e.b.ins().fpromote(types::F64, x);
        let yd = e.b.ins().fpromote(types::F64, y);
        let r = {
            let mut ed = e.retyped(types::F64);
            pow_core(&mut ed, xd, yd)
        };
        return Ok(e.b.ins().fdemote(types::F32, r));
    }
    // f32x4: lanes 0,1 and lanes 2,3 each go through f64x2.
    let le = MemFlagsData::new().with_endianness(Endianness::Little);
    let swap_halves = bytes_mask(e.b, |i| (i + 8) % 16);
    let high_half = |b: &mut FunctionBuilder, v: Value| {
        let bytes = b.ins().bitcast(types::I8X16, le, v);
        let sw = b.ins().shuffle(bytes, bytes, swap_halves);
        let v2 = b.ins().bitcast(types::F32X4, le, sw);
        b.ins().fvpromote_low(v2)
    };
    let x_lo = e.b.ins().fvpromote_low(x);
    let y_lo = e.b.ins().fvpromote_low(y);
    let x_hi = high_half(e.b, x);
    let y_hi = high_half(e.b, y);
    let (r_lo, r_hi) = {
        let mut ed = e.retyped(types::F64X2);
        let lo = pow_core(&mut ed, x_lo, y_lo);
        let hi = pow_core(&mut ed, x_hi, y_hi);
        (lo, hi)
    };
    let d_lo = e.b.ins().fvdemote(r_lo);
    let d_hi = e.b.ins().fvdemote(r_hi);
    // Result lanes: d_lo[0], d_lo[1], d_hi[0], d_hi[1] (bytes 0..8 of each).
    let join = bytes_mask(e.b, |i| if i < 8 { i } else { i + 8 });
    let bl = e.b.ins().bitcast(types::I8X16, le, d_lo);
    let bh = e.b.ins().bitcast(types::I8X16, le, d_hi);
    let j = e.b.ins().shuffle(bl, bh, join);
    Ok(e.b.ins().bitcast(types::F32X4, le, j))
}

/// A 16-byte shuffle mask immediate: byte i of the result is byte `f(i)` of the concatenation
/// of the two operands.
fn bytes_mask(b: &mut FunctionBuilder, f: impl Fn(u8) -> u8) -> cranelift_codegen::ir::Immediate {
    let bytes: Vec<u8> = (0..16u8).map(f).collect();
    b.func.dfg.immediates.push(ConstantData::from(bytes))
}

/// x^y in the emitter's (f64) type: e^{y·ln|x|}, then sign and special cases.
fn pow_core(e: &mut E, x: Value, y: Value) -> Value {
    let ax = e.abs(x);
    let l = log(e, ax);
    let yl = e.mul(y, l);
    let r = exp(e, yl);

    // y integer: trunc(y) == y (true for ±inf, false for NaN); odd: y/2 is not an integer.
    let ty = e.b.ins().trunc(y);
    let y_int = e.fcmp(FloatCC::Equal, ty, y);
    let half = e.k(0.5);
    let hy = e.mul(y, half);
    let thy = e.b.ins().trunc(hy);
    let hy_frac = e.fcmp(FloatCC::NotEqual, thy, hy);
    let y_odd = e.and_mask(y_int, hy_frac);

    // Negative x (sign bit set, so also -0 and -inf) and odd y: copy x's sign onto the result.
    let sign_mask = e.ki(i64::MIN);
    let xb = e.bits(x);
    let xsign = e.band(xb, sign_mask);
    let zero_i = e.ki(0);
    let sign = e.seli(y_odd, xsign, zero_i);
    let rb = e.bits(r);
    let rb = e.bor(rb, sign);
    let r = e.float(rb);

    // Finite negative x with non-integer y: NaN.
    let zero = e.k(0.0);
    let ninf = e.k(f64::NEG_INFINITY);
    let nan = e.k(f64::NAN);
    let x_neg = e.fcmp(FloatCC::LessThan, x, zero);
    let x_fin = e.fcmp(FloatCC::GreaterThan, x, ninf);
    let y_frac = e.fcmp(FloatCC::NotEqual, ty, y);
    let bad = e.and_mask(x_neg, x_fin);
    let bad = e.and_mask(bad, y_frac);
    let r = e.sel(bad, nan, r);

    // Results that are exactly 1: y = ±0, x = 1, and |x| = 1 with y = ±inf (where y·ln|x| is
    // NaN = inf·0).
    let one = e.k(1.0);
    let inf = e.k(f64::INFINITY);
    let y_zero = e.fcmp(FloatCC::Equal, y, zero);
    let x_one = e.fcmp(FloatCC::Equal, x, one);
    let ax_one = e.fcmp(FloatCC::Equal, ax, one);
    let ay = e.abs(y);
    let y_inf = e.fcmp(FloatCC::Equal, ay, inf);
    let unit = e.and_mask(ax_one, y_inf);
    let unit = e.or_mask(unit, y_zero);
    let unit = e.or_mask(unit, x_one);
    e.sel(unit, one, r)
}
