//! exp and log: Cody–Waite reduction by ln 2 with a polynomial for exp; exponent/mantissa split
//! with fdlibm's atanh series for log. Both work on f32 and f64 lanes, scalar or vector.
//!
//! Guarantees (measured in `tests/math_ulp.rs`, table in the parent module): f32 exp within
//! 1.04 ulp over its whole range including subnormal results, f32 log within 0.82 ulp over all
//! positive f32 including subnormals, f64 within 1 ulp of glibc; IEEE special values as listed
//! in the parent module.

use cranelift_codegen::ir::condcodes::FloatCC;

use super::Lanes;

/// e^r - 1 - r = r^2 P(r) on |r| ≤ ln2/2; P's coefficients, highest degree first.
const EXP_P32: [f64; 5] = [
    0.0013926926767453551,
    0.008363774046301842,
    0.04166654869914055,
    0.16666573286056519,
    0.5,
];
const EXP_P64: [f64; 11] = [
    2.0915442297780116e-09,
    2.5106274733573296e-08,
    2.75572718102198e-07,
    2.755725283351691e-06,
    2.4801587327007187e-05,
    0.00019841269876864356,
    0.0013888888888883327,
    0.008333333333325544,
    0.04166666666666667,
    0.1666666666666667,
    0.5,
];
/// 2 atanh(s) - 2s = s^3 Q(s^2) on |s| ≤ (√2-1)/(√2+1); Q's coefficients.
const LOG_Q32: [f64; 3] = [0.29590317606925964, 0.39988550543785095, 0.6666668653488159];
const LOG_Q64: [f64; 7] = [
    0.1463003136412286,
    0.15330617306743305,
    0.18182922513515942,
    0.22222210674238516,
    0.28571428628810996,
    0.3999999999989322,
    0.666666666666667,
];

const LN2: f64 = std::f64::consts::LN_2;

/// Splits ln 2 into a head with the working precision's mantissa and a tail, so that
/// `x - n·ln2` can be formed as `(x - n·hi) - n·lo`: with FMA the first difference is exact for
/// every n we meet (|n| ≤ 1076), which is the point of Cody–Waite.
fn ln2_parts(double: bool) -> (f64, f64) {
    if double {
        // ln2 rounded to f64, and the rest (ln2 - hi) to f64.
        (LN2, 2.3190468138462996e-17)
    } else {
        let hi = LN2 as f32 as f64;
        (hi, LN2 - hi)
    }
}

/// Rounds `a·b` (|a·b| < 2^22 for f32, < 2^51 for f64) to the nearest integer and returns it
/// both as a float and as an integer of the lane width, by adding 1.5·2^mant in the same FMA:
/// that addition's rounding does the work, and the integer sits in the low mantissa bits.
/// This avoids float→int conversions, which x86 lacks for 64-bit lanes without AVX-512. Out of
/// range both results are meaningless; callers override those lanes.
pub(crate) fn round_product<L: Lanes>(e: &mut L, a: L::V, b: L::V) -> (L::V, L::V) {
    let magic = e.t().pick(12582912.0, 6755399441055744.0);
    let m = e.k(magic);
    let t = e.fma(a, b, m);
    let n_f = e.sub(t, m);
    let tb = e.bits(t);
    let mb = e.ki(if e.t().double {
        magic.to_bits() as i64
    } else {
        i64::from((magic as f32).to_bits())
    });
    let n_i = e.isub(tb, mb);
    (n_f, n_i)
}

/// 2^k as a float, for integer `k` in the normal exponent range (built from the bits).
fn pow2i<L: Lanes>(e: &mut L, k: L::V) -> L::V {
    let bias = e.ki(e.t().bias());
    let biased = e.iadd(k, bias);
    let bits = e.shl(biased, e.t().mant());
    e.float(bits)
}

/// e^x.
///
/// x = n·ln2 + r with n = round(x·log2 e) and |r| ≤ ln2/2 (Cody–Waite, two-part ln 2);
/// e^r = 1 + r + r²P(r); e^x = e^r · 2^n. The scaling is done as two multiplications by
/// 2^⌊n/2⌋ and 2^(n-⌊n/2⌋), each a valid normal number, so that results near overflow and
/// subnormal results are rounded once and correctly by the hardware (SLEEF's `ldexp2k`).
/// Lanes beyond the overflow / underflow thresholds are set to +inf / +0 afterwards, which also
/// covers ±inf; NaN propagates through r.
pub(crate) fn exp<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    let double = e.t().double;
    let log2e = e.k(std::f64::consts::LOG2_E);
    let (n_f, n_i) = round_product(e, x, log2e);
    let (hi, lo) = ln2_parts(double);
    let nhi = e.k(-hi);
    let nlo = e.k(-lo);
    let r = e.fma(n_f, nhi, x);
    let r = e.fma(n_f, nlo, r);
    let r2 = e.mul(r, r);
    let p = e.poly(r, e.t().pick(&EXP_P32[..], &EXP_P64[..]));
    let q = e.fma(r2, p, r);
    let one = e.k(1.0);
    let er = e.add(one, q);
    // ⌊n/2⌋ with a logical shift: bias n to be non-negative first (|n| < 4096 in range).
    let off = e.ki(4096);
    let nb = e.iadd(n_i, off);
    let half = e.ushr(nb, 1);
    let off2 = e.ki(2048);
    let n1 = e.isub(half, off2);
    let n2 = e.isub(n_i, n1);
    let s1 = pow2i(e, n1);
    let s2 = pow2i(e, n2);
    let y = e.mul(er, s1);
    let y = e.mul(y, s2);
    // Thresholds: beyond them the true result rounds to inf / 0, and n would leave the range
    // where the scaling above is valid. Between the threshold and the true overflow point the
    // scaling itself produces inf / subnormals / 0 correctly.
    let (over, under) = e.t().pick((89.0, -104.0), (710.0, -746.0));
    let over_k = e.k(over);
    let under_k = e.k(under);
    let inf = e.k(f64::INFINITY);
    let zero = e.k(0.0);
    let is_over = e.fcmp(FloatCC::GreaterThan, x, over_k);
    let y = e.sel(is_over, inf, y);
    let is_under = e.fcmp(FloatCC::LessThan, x, under_k);
    e.sel(is_under, zero, y)
}

/// ln x.
///
/// Subnormals are first scaled by 2^25 (f32) / 2^54 (f64) into the normal range. Then
/// x = 2^k · m with m in [√2/2, √2) (fdlibm's bit trick: adding 1 - bits(√2/2) to the bits
/// carries into the exponent exactly when the mantissa is ≥ √2), f = m - 1 (exact),
/// s = f/(2+f), and ln m = 2 atanh s = f - f²/2 + s(f²/2 + R) with R = s²Q(s²). That form keeps
/// the rounding error of s away from the leading term f (fdlibm's `__ieee754_log`), and the
/// result is k·ln2_hi + (k·ln2_lo + ln m) with the two-part ln 2.
/// Special lanes: x = +inf gives +inf, x = ±0 gives -inf, x < 0 or NaN gives NaN.
pub(crate) fn log<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    let double = e.t().double;
    let min_normal = e.k(e.t().pick(f32::MIN_POSITIVE as f64, f64::MIN_POSITIVE));
    let is_sub = e.fcmp(FloatCC::LessThan, x, min_normal);
    let (scale_pow, scale) = e.t().pick((25.0, 33554432.0), (54.0, 18014398509481984.0));
    let scale_k = e.k(scale);
    let scaled = e.mul(x, scale_k);
    let xs = e.sel(is_sub, scaled, x);

    let one_bits: i64 = e.t().pick(0x3f80_0000, 0x3ff0_0000_0000_0000);
    let sqrt_half_bits: i64 = e.t().pick(0x3f35_04f3, 0x3fe6_a09e_667f_3bcd);
    let mant_mask: i64 = e.t().pick(0x007f_ffff, 0x000f_ffff_ffff_ffff);
    let ix = e.bits(xs);
    let d = e.ki(one_bits - sqrt_half_bits);
    let ix = e.iadd(ix, d);
    let kb = e.ushr(ix, e.t().mant()); // biased exponent of the reduced m's owner, 0..2^(w-mant)
    let mm = e.ki(mant_mask);
    let sh = e.ki(sqrt_half_bits);
    let mbits = e.band(ix, mm);
    let mbits = e.iadd(mbits, sh);
    let m = e.float(mbits);

    // k as a float without int→float conversion: bits(2^mant) | kb is the float 2^mant + kb.
    let two_mant = e.t().pick(8388608.0f64, 4503599627370496.0);
    let two_mant_bits = e.ki(if double {
        two_mant.to_bits() as i64
    } else {
        i64::from((two_mant as f32).to_bits())
    });
    let kf = e.bor(kb, two_mant_bits);
    let kf = e.float(kf);
    let base = two_mant + e.t().bias() as f64;
    let off_norm = e.k(base);
    let off_sub = e.k(base + scale_pow);
    let off = e.sel(is_sub, off_sub, off_norm);
    let k = e.sub(kf, off);

    let one = e.k(1.0);
    let two = e.k(2.0);
    let f = e.sub(m, one);
    let den = e.add(two, f);
    let s = e.div(f, den);
    let z = e.mul(s, s);
    let q = e.poly(z, e.t().pick(&LOG_Q32[..], &LOG_Q64[..]));
    let r = e.mul(z, q);
    let halfk = e.k(0.5);
    let hf = e.mul(halfk, f);
    let hfsq = e.mul(hf, f);
    let (hi, lo) = ln2_parts(double);
    let lo_k = e.k(lo);
    let hi_k = e.k(hi);
    let klo = e.mul(k, lo_k);
    let t = e.add(hfsq, r);
    let a = e.fma(s, t, klo);
    let a = e.sub(a, hfsq);
    let a = e.add(a, f);
    let y = e.fma(k, hi_k, a);

    let inf = e.k(f64::INFINITY);
    let ninf = e.k(f64::NEG_INFINITY);
    let nan = e.k(f64::NAN);
    let zero = e.k(0.0);
    let is_inf = e.fcmp(FloatCC::Equal, x, inf);
    let y = e.sel(is_inf, inf, y);
    let is_zero = e.fcmp(FloatCC::Equal, x, zero);
    let y = e.sel(is_zero, ninf, y);
    let is_bad = e.fcmp(FloatCC::UnorderedOrLessThan, x, zero);
    e.sel(is_bad, nan, y)
}
