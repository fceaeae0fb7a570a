//! sin and cos: Cody–Waite reduction by π/2 with a three-part π/2, then a sine or cosine
//! polynomial on |r| ≤ π/4 chosen by the quadrant.
//!
//! Guarantees (measured in `tests/math_ulp.rs`): f32 within 1.54 ulp for |x| ≤ 1e4 and 1.85 ulp
//! up to 6e6 (the magic-rounding limit is ~6.5e6), NaN for ±inf and NaN, `sin(-0) = -0`;
//! beyond the limit, finite results in [-1, 1] that are not accurate (see the parent module).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};

use super::exp_log::round_product;
use super::Lanes;

/// sin r = r + r³S(r²) on |r| ≤ [`R_MAX`]; S's coefficients, highest first.
const SIN_S32: [f64; 4] = [
    2.7010255507775582e-06,
    -0.00019837511354126036,
    0.008333325386047363,
    -0.1666666716337204,
];
const SIN_S64: [f64; 7] = [
    -7.539416537247667e-13,
    1.605741410776103e-10,
    -2.5052096147815977e-08,
    2.7557319176791906e-06,
    -0.0001984126984118315,
    0.008333333333333274,
    -0.16666666666666666,
];
/// cos r = 1 - r²/2 + r⁴C(r²) on |r| ≤ [`R_MAX`].
const COS_C32: [f64; 4] = [
    -2.710079911594221e-07,
    2.4798449885565788e-05,
    -0.001388888224028051,
    0.0416666679084301,
];
const COS_C64: [f64; 7] = [
    4.7195768214085454e-14,
    -1.146983937003977e-11,
    2.0876750182278835e-09,
    -2.755731919773881e-07,
    2.480158730153909e-05,
    -0.0013888888888888855,
    0.041666666666666664,
];

/// The polynomials' interval. The quadrant q = round(x·2/π) is computed with 2/π rounded to
/// the working precision, so q can be off by one when |x·(2/π - c)| ≥ 1/2 - |frac|; then
/// |r| exceeds π/4 by up to |x|·|2/π - c|·π/2, which is 0.266 at the f32 limit |x| = 2^22·π/2
/// (0.219 for f64 at 2^51·π/2). Fitting on |r| ≤ 1.05 instead of π/4 costs no extra term and
/// avoids a correction step.
const R_MAX: f64 = 1.05;

/// π/2 = P1 + P2 + P3, each part rounded to the working precision (so P1 has a full
/// mantissa). With FMA, x - q·P1 is exact for every q < 2^mant: both are multiples of ulp(P1)
/// and the difference is below 2. The later parts are then subtracted with rounding relative
/// to the (small) remainder, which keeps the relative error of r small even when x is close to
/// a multiple of π/2.
const HALF_PI32: [f64; 3] = [
    1.5707963705062866,
    -4.371138828673793e-08,
    -1.7151245100058819e-15,
];
const HALF_PI64: [f64; 3] = [
    std::f64::consts::FRAC_PI_2,
    6.123233995736766e-17,
    -1.4973849048591698e-33,
];

/// sin x = sin(r + q·π/2), which by q mod 4 is sin r, cos r, -sin r, -cos r.
pub(crate) fn sin<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    sin_quadrant(e, x, 0)
}

/// cos x = sin(x + π/2): the same reduction with the quadrant advanced by one.
pub(crate) fn cos<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    sin_quadrant(e, x, 1)
}

fn sin_quadrant<L: Lanes>(e: &mut L, x: L::V, shift: i64) -> L::V {
    let two_over_pi = e.k(std::f64::consts::FRAC_2_PI);
    let (q_f, q_i) = round_product(e, x, two_over_pi);
    let parts = e.t().pick(HALF_PI32, HALF_PI64);
    let mut r = x;
    for p in parts {
        let np = e.k(-p);
        r = e.fma(q_f, np, r);
    }
    let zero = e.k(0.0);
    // Outside the reduction's domain |r| can be anything; clamp to 0 so the polynomials (and
    // so the result) stay within [-1, 1]. Ordered compare: NaN (from ±inf) stays NaN.
    let ar = e.abs(r);
    let one = e.k(1.0);
    let rmax = e.k(R_MAX);
    let wild = e.fcmp(FloatCC::GreaterThan, ar, rmax);
    let r = e.sel(wild, zero, r);

    let u = e.mul(r, r);
    let s = e.poly(u, e.t().pick(&SIN_S32[..], &SIN_S64[..]));
    let r3 = e.mul(r, u);
    let sin_r = e.fma(r3, s, r);
    let c = e.poly(u, e.t().pick(&COS_C32[..], &COS_C64[..]));
    let u2 = e.mul(u, u);
    let mhalf = e.k(-0.5);
    let head = e.fma(u, mhalf, one);
    let cos_r = e.fma(u2, c, head);

    let q = if shift != 0 {
        let s = e.ki(shift);
        e.iadd(q_i, s)
    } else {
        q_i
    };
    let one_i = e.ki(1);
    let zero_i = e.ki(0);
    let low = e.band(q, one_i);
    let even = e.icmp(IntCC::Equal, low, zero_i);
    let y = e.sel(even, sin_r, cos_r);
    // Quadrants 2 and 3 negate: move bit 1 of q to the sign bit and flip.
    let two_i = e.ki(2);
    let bit1 = e.band(q, two_i);
    let sign = e.shl(bit1, e.t().bits() - 2);
    let yb = e.bits(y);
    let yb = e.bxor(yb, sign);
    let y = e.float(yb);
    if shift == 0 {
        // sin(±0) = ±0, but both the reduction (-0 + +0) and the polynomial (-0·S + -0 with
        // S < 0) turn -0 into +0.
        let is_zero = e.fcmp(FloatCC::Equal, x, zero);
        e.sel(is_zero, x, y)
    } else {
        y
    }
}
