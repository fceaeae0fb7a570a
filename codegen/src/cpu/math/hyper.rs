//! tanh and sigmoid, built on the exp emitter.
//!
//! Guarantees (measured in `tests/math_ulp.rs`): over all f32, tanh within 1.38 ulp and sigmoid
//! within 2.09 ulp;
//! `tanh(±inf) = ±1`, `tanh(-0) = -0`, `sigmoid(-inf) = 0`, `sigmoid(+inf) = 1`, NaN → NaN.

use cranelift_codegen::ir::condcodes::FloatCC;

use super::exp_log::exp;
use super::Lanes;

/// tanh x = x + x³T(x²) on |x| ≤ 1.01·0.5493; T's coefficients, highest first.
const TANH_T32: [f64; 6] = [
    0.0025115374010056257,
    -0.008516102097928524,
    0.021816011518239975,
    -0.053964465856552124,
    0.1333332359790802,
    -0.3333333432674408,
];
const TANH_T64: [f64; 12] = [
    7.781955997018216e-06,
    -3.3572702405834285e-05,
    9.444895369607163e-05,
    -0.00023843282507295235,
    0.0005898956662076678,
    -0.0014558176081680826,
    0.003592126622598192,
    -0.008863235454087424,
    0.02186948853375034,
    -0.053968253968214475,
    0.13333333333333308,
    -0.3333333333333333,
];

/// Below this |x| the odd polynomial is used. It is ≈ atanh(1/2): above it tanh|x| ≥ 1/2, so in
/// 1 - 2/(e^{2|x|} + 1) the subtracted term is smaller than the result and its rounding error
/// is not amplified (the result's ulp is at least the term's).
const TANH_SMALL: f64 = 0.5493;

/// tanh x: odd polynomial for small |x|; otherwise 1 - 2/(e^{2|x|} + 1) with the sign of x put
/// back by bits. For large |x| e^{2|x|} overflows to inf and the formula gives exactly 1.
pub(crate) fn tanh<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    // Work on |x| and put the sign back at the end: that also makes tanh(-0) = -0, which the
    // polynomial x + x³T would turn into +0 (-0·T + -0 with T < 0 is +0).
    let ax = e.abs(x);
    let u = e.mul(ax, ax);
    let t = e.poly(u, e.t().pick(&TANH_T32[..], &TANH_T64[..]));
    let x3 = e.mul(ax, u);
    let small = e.fma(x3, t, ax);

    let two = e.k(2.0);
    let one = e.k(1.0);
    let ax2 = e.mul(ax, two);
    let ex = exp(e, ax2);
    let den = e.add(ex, one);
    let frac = e.div(two, den);
    let big = e.sub(one, frac);

    let thr = e.k(TANH_SMALL);
    let is_small = e.fcmp(FloatCC::LessThan, ax, thr);
    let y = e.sel(is_small, small, big);
    let sign_mask = e.ki(if e.t().double { i64::MIN } else { 1 << 31 });
    let xb = e.bits(x);
    let sign = e.band(xb, sign_mask);
    let yb = e.bits(y);
    let yb = e.bor(yb, sign);
    e.float(yb)
}

/// sigmoid x = 1/(1 + e^-x) for x ≥ 0 and e^x/(1 + e^x) for x < 0, both written with
/// t = e^-|x| ≤ 1 so that nothing overflows and tiny results for very negative x (down to
/// subnormals) keep their relative accuracy. The lowering of the IR's `sigmoid`.
pub(crate) fn sigmoid<L: Lanes>(e: &mut L, x: L::V) -> L::V {
    let ax = e.abs(x);
    let zero = e.k(0.0);
    let nax = e.sub(zero, ax);
    let t = exp(e, nax);
    let one = e.k(1.0);
    let den = e.add(one, t);
    let neg = e.fcmp(FloatCC::LessThan, x, zero);
    let num = e.sel(neg, t, one);
    e.div(num, den)
}
