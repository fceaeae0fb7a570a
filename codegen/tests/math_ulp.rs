//! Accuracy of the emitted math functions (`kiln_codegen::cpu::math`), in ulp, against Rust's
//! f64 functions.
//!
//! Each function is JIT-compiled into a map kernel `fn(n, src, dst)` (f32x4 loop unrolled 2x plus
//! a scalar tail) and run over (a) more than 1,000,000 samples, log-uniform over the domain and
//! uniform over the interesting range, and (b) edge cases: zeros, subnormals, infinities, NaN,
//! overflow and underflow thresholds, huge arguments. Errors are measured as
//! |got - exact| / ulp(exact), with `exact` the f64 reference (so 0.5 is correctly rounded);
//! special values must match the rounded reference bit for bit (sign of zero included), NaN
//! must give NaN. The scalar tail must give the same bits as the vector loop.
//! Run with `--nocapture` to see the measured maxima.

use cranelift_codegen::ir::types;
use kiln_codegen::cpu::kernels::{define_binary_map, define_unary_map};
use kiln_codegen::cpu::math::{emit_pow_with, UnaryFn};
use kiln_codegen::cpu::Jit;

type Unary32 = extern "C" fn(i64, *const f32, *mut f32);
type Binary32 = extern "C" fn(i64, *const f32, *const f32, *mut f32);
type Unary64 = extern "C" fn(i64, *const f64, *mut f64);
type Binary64 = extern "C" fn(i64, *const f64, *const f64, *mut f64);

/// splitmix64: deterministic samples without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// |x| log-uniform in [lo, hi], with a random sign when `signed`.
    fn log_uniform(&mut self, lo: f64, hi: f64, signed: bool) -> f64 {
        let m = (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp();
        if signed && self.next() & 1 == 1 {
            -m
        } else {
            m
        }
    }
    /// A random finite f32 bit pattern (log-uniform over all binades, subnormals included).
    fn any_f32(&mut self, signed: bool) -> f32 {
        loop {
            let bits = self.next() as u32;
            let bits = if signed { bits } else { bits & 0x7fff_ffff };
            let v = f32::from_bits(bits);
            if v.is_finite() {
                return v;
            }
        }
    }
}

/// Error of `got` against the exact value `want`, in ulp of `want`'s f32 binade. Infinite when
/// the special-value behaviour differs.
fn ulp_err32(got: f32, want: f64) -> f64 {
    let w32 = want as f32;
    if w32.is_nan() {
        return if got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if w32.is_infinite() || got.is_infinite() || got.is_nan() {
        return if got.to_bits() == w32.to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let a = want.abs();
    let ulp = if a < f32::MIN_POSITIVE as f64 {
        2f64.powi(-149)
    } else {
        2f64.powi(a.log2().floor() as i32 - 23)
    };
    (got as f64 - want).abs() / ulp
}

fn ulp_err64(got: f64, want: f64) -> f64 {
    if want.is_nan() {
        return if got.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if want.is_infinite() || got.is_infinite() || got.is_nan() {
        return if got.to_bits() == want.to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    // ulp of want's binade, from the bits (2^-1074 is not representable as powi's result).
    let b = want.abs().to_bits();
    let ulp = if b >= f64::MAX.to_bits() {
        f64::MAX - f64::from_bits(b - 1)
    } else {
        f64::from_bits(b + 1) - f64::from_bits(b)
    };
    (got - want).abs() / ulp
}

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn reference(f: UnaryFn, x: f64) -> f64 {
    match f {
        UnaryFn::Exp => x.exp(),
        UnaryFn::Log => x.ln(),
        UnaryFn::Sin => x.sin(),
        UnaryFn::Cos => x.cos(),
        UnaryFn::Tanh => x.tanh(),
        UnaryFn::Sigmoid => sigmoid64(x),
    }
}

struct Kernels {
    jit: Jit,
}

impl Kernels {
    fn unary32(&mut self, f: UnaryFn) -> Unary32 {
        let id = define_unary_map(
            &mut self.jit,
            &format!("{}_f32", f.name()),
            types::F32,
            2,
            &|b, c, x| f.emit(b, c, x),
        )
        .expect("kernel compiles");
        self.jit.finalize().expect("finalize");
        let p = self.jit.function_ptr(id).expect("pointer");
        // SAFETY: define_unary_map builds fn(i64, *const f32, *mut f32) in the host's C ABI.
        unsafe { std::mem::transmute::<*const u8, Unary32>(p) }
    }
    fn unary64(&mut self, f: UnaryFn) -> Unary64 {
        let id = define_unary_map(
            &mut self.jit,
            &format!("{}_f64", f.name()),
            types::F64,
            2,
            &|b, c, x| f.emit(b, c, x),
        )
        .expect("kernel compiles");
        self.jit.finalize().expect("finalize");
        let p = self.jit.function_ptr(id).expect("pointer");
        // SAFETY: as above, with f64 elements.
        unsafe { std::mem::transmute::<*const u8, Unary64>(p) }
    }
    fn pow32(&mut self) -> Binary32 {
        let id = define_binary_map(&mut self.jit, "pow_f32", types::F32, 2, &|b, c, x, y| {
            emit_pow_with(b, c, x, y)
        })
        .expect("kernel compiles");
        self.jit.finalize().expect("finalize");
        let p = self.jit.function_ptr(id).expect("pointer");
        // SAFETY: define_binary_map builds fn(i64, *const f32, *const f32, *mut f32).
        unsafe { std::mem::transmute::<*const u8, Binary32>(p) }
    }
    fn pow64(&mut self) -> Binary64 {
        let id = define_binary_map(&mut self.jit, "pow_f64", types::F64, 2, &|b, c, x, y| {
            emit_pow_with(b, c, x, y)
        })
        .expect("kernel compiles");
        self.jit.finalize().expect("finalize");
        let p = self.jit.function_ptr(id).expect("pointer");
        // SAFETY: as above, with f64 elements.
        unsafe { std::mem::transmute::<*const u8, Binary64>(p) }
    }
}

fn kernels() -> Kernels {
    Kernels {
        jit: Jit::new().expect("host JIT"),
    }
}

fn run32(k: Unary32, xs: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; xs.len()];
    k(xs.len() as i64, xs.as_ptr(), out.as_mut_ptr());
    // The scalar tail must agree with the vector loop: rerun a prefix one element at a time.
    for (i, &x) in xs.iter().enumerate().take(20_000) {
        let mut one = [0f32];
        k(1, &x, one.as_mut_ptr());
        assert_eq!(
            one[0].to_bits(),
            out[i].to_bits(),
            "scalar vs vector at x = {x:e}"
        );
    }
    out
}

/// Max ulp error over `xs` and the argument where it occurs.
fn max_err32(f: UnaryFn, k: Unary32, xs: &[f32]) -> (f64, f32) {
    let out = run32(k, xs);
    let mut worst = (0.0, 0.0f32);
    for (&x, &y) in xs.iter().zip(&out) {
        let e = ulp_err32(y, reference(f, x as f64));
        if e > worst.0 || e.is_nan() {
            worst = (e, x);
        }
    }
    worst
}

/// Edge cases common to all functions: zeros, subnormals, the normal boundary, 1, the extremes,
/// infinities and NaN.
fn common_edges() -> Vec<f32> {
    let tiny = f32::from_bits(1);
    let big_sub = f32::from_bits(0x007f_ffff);
    let mut v = vec![
        0.0,
        1.0,
        0.5,
        2.0,
        tiny,
        big_sub,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::EPSILON,
        f32::INFINITY,
        f32::NAN,
        1e6,
        1e20,
        3.0e38,
    ];
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v
}

fn check_edges32(f: UnaryFn, k: Unary32, edges: &[f32], bound: f64) {
    let out = run32(k, edges);
    for (&x, &y) in edges.iter().zip(&out) {
        let want = reference(f, x as f64);
        let w32 = want as f32;
        if !w32.is_finite() || w32 == 0.0 {
            assert!(
                (w32.is_nan() && y.is_nan()) || w32.to_bits() == y.to_bits(),
                "{}({x:e}) = {y:e}, want {w32:e}",
                f.name()
            );
        } else {
            let e = ulp_err32(y, want);
            assert!(
                e <= bound,
                "{}({x:e}) = {y:e}, want {want:e}: {e} ulp",
                f.name()
            );
        }
    }
}

/// Samples and the asserted bound for each function.
fn samples(f: UnaryFn, rng: &mut Rng) -> Vec<(&'static str, Vec<f32>)> {
    let n = 1 << 19;
    let mut gen = |g: &mut dyn FnMut(&mut Rng) -> f64| -> Vec<f32> {
        (0..n).map(|_| g(rng) as f32).collect()
    };
    match f {
        UnaryFn::Exp => vec![
            (
                "log-uniform |x| in [1e-30, 104]",
                gen(&mut |r| r.log_uniform(1e-30, 104.0, true)),
            ),
            ("uniform [-104, 89]", gen(&mut |r| r.uniform(-104.0, 89.0))),
        ],
        UnaryFn::Log => vec![
            (
                "all positive f32 (random bits)",
                gen(&mut |r| r.any_f32(false) as f64),
            ),
            ("uniform [0.5, 2]", gen(&mut |r| r.uniform(0.5, 2.0))),
        ],
        UnaryFn::Sin | UnaryFn::Cos => vec![
            (
                "log-uniform |x| in [1e-30, 1e4]",
                gen(&mut |r| r.log_uniform(1e-30, 1e4, true)),
            ),
            ("uniform [-10, 10]", gen(&mut |r| r.uniform(-10.0, 10.0))),
            ("uniform [-1e4, 1e4]", gen(&mut |r| r.uniform(-1e4, 1e4))),
            (
                "log-uniform |x| in [1e4, 6e6]",
                gen(&mut |r| r.log_uniform(1e4, 6e6, true)),
            ),
        ],
        UnaryFn::Tanh => vec![
            (
                "all f32 (random bits)",
                gen(&mut |r| r.any_f32(true) as f64),
            ),
            ("uniform [-10, 10]", gen(&mut |r| r.uniform(-10.0, 10.0))),
        ],
        UnaryFn::Sigmoid => vec![
            (
                "all f32 (random bits)",
                gen(&mut |r| r.any_f32(true) as f64),
            ),
            ("uniform [-120, 40]", gen(&mut |r| r.uniform(-120.0, 40.0))),
        ],
    }
}

fn edges(f: UnaryFn) -> Vec<f32> {
    let mut v = common_edges();
    let next_up = |x: f32| f32::from_bits(x.to_bits() + 1);
    let next_down = |x: f32| f32::from_bits(x.to_bits() - 1);
    let around = |v: &mut Vec<f32>, x: f32| v.extend([next_down(x), x, next_up(x)]);
    match f {
        UnaryFn::Exp => {
            around(&mut v, 88.72283); // largest finite result
            around(&mut v, 88.7);
            around(&mut v, -87.33654); // smallest normal result
            around(&mut v, -103.27893); // smallest subnormal result region
            around(&mut v, -103.97208); // rounds to 0 below
            around(&mut v, 89.0);
            around(&mut v, -104.0);
        }
        UnaryFn::Log => {
            around(&mut v, 1.0);
            around(&mut v, std::f32::consts::SQRT_2);
            around(&mut v, std::f32::consts::FRAC_1_SQRT_2);
        }
        UnaryFn::Sin | UnaryFn::Cos => {
            for k in 1..20 {
                around(&mut v, k as f32 * std::f32::consts::FRAC_PI_2);
                around(&mut v, -(k as f32) * std::f32::consts::FRAC_PI_2);
            }
        }
        UnaryFn::Tanh => {
            around(&mut v, 0.5493);
            around(&mut v, 9.0);
            around(&mut v, 44.0);
        }
        UnaryFn::Sigmoid => {
            around(&mut v, -88.0);
            around(&mut v, -103.0);
            around(&mut v, 17.0);
        }
    }
    v
}

/// Bounds asserted for f32, over the sampled domains (sin/cos: |x| <= 6e6).
fn bound32(f: UnaryFn) -> f64 {
    match f {
        UnaryFn::Exp | UnaryFn::Log | UnaryFn::Sin | UnaryFn::Cos => 2.0,
        UnaryFn::Tanh | UnaryFn::Sigmoid => 3.0,
    }
}

/// The AVX2 routine of `f` (when this CPU has one) returns the inline code's bits on `xs`.
fn check_host_routine_matches(f: UnaryFn, kern: Unary32, xs: &[f32]) {
    let Some(routine) = kiln_codegen::cpu::math::host::map_fn(f) else {
        return;
    };
    let want = run32(kern, xs);
    let mut got = vec![0f32; xs.len()];
    // SAFETY: `map_fn` only returns a routine when the CPU has AVX2 and FMA; `xs` and `got`
    // are distinct arrays of `xs.len()` elements.
    unsafe { routine(xs.as_ptr(), got.as_mut_ptr(), xs.len() as i64) };
    for ((&x, &g), &w) in xs.iter().zip(&got).zip(&want) {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{}({x:e}): AVX2 routine {g:e} vs inline {w:e}",
            f.name()
        );
    }
}

fn check_unary32(f: UnaryFn) {
    let mut k = kernels();
    let kern = k.unary32(f);
    let mut rng = Rng(0x5eed ^ f as u64);
    let mut total = 0;
    for (what, xs) in samples(f, &mut rng) {
        total += xs.len();
        let (e, x) = max_err32(f, kern, &xs);
        println!("{:8} f32 {what:36}: max {e:.3} ulp at x = {x:e}", f.name());
        assert!(e <= bound32(f), "{} {what}: {e} ulp at {x:e}", f.name());
        check_host_routine_matches(f, kern, &xs);
    }
    check_host_routine_matches(f, kern, &edges(f));
    assert!(total >= 1_000_000);
    // Edge cases: special values exact; for sin/cos the huge arguments are out of the accurate
    // domain and only have to stay in [-1, 1] (NaN for ±inf).
    let es = edges(f);
    match f {
        UnaryFn::Sin | UnaryFn::Cos => {
            let (small, huge): (Vec<f32>, Vec<f32>) =
                es.iter().partition(|x| x.is_nan() || x.abs() <= 6e6);
            check_edges32(f, kern, &small, bound32(f));
            let out = run32(kern, &huge);
            for (&x, &y) in huge.iter().zip(&out) {
                if x.is_finite() {
                    assert!((-1.0..=1.0).contains(&y), "{}({x:e}) = {y}", f.name());
                } else {
                    assert!(y.is_nan(), "{}({x:e}) = {y}", f.name());
                }
            }
        }
        _ => check_edges32(f, kern, &es, bound32(f)),
    }
}

#[test]
fn exp_f32() {
    check_unary32(UnaryFn::Exp);
    let mut k = kernels();
    let kern = k.unary32(UnaryFn::Exp);
    let xs = [f32::NEG_INFINITY, f32::INFINITY, 0.0, -0.0, -200.0, 200.0];
    let out = run32(kern, &xs);
    assert_eq!(out, [0.0, f32::INFINITY, 1.0, 1.0, 0.0, f32::INFINITY]);
}

#[test]
fn log_f32() {
    check_unary32(UnaryFn::Log);
    let mut k = kernels();
    let kern = k.unary32(UnaryFn::Log);
    let xs = [
        0.0,
        -0.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0,
        f32::NAN,
    ];
    let out = run32(kern, &xs);
    assert_eq!(out[0], f32::NEG_INFINITY);
    assert_eq!(out[1], f32::NEG_INFINITY);
    assert!(out[2].is_nan() && out[4].is_nan() && out[6].is_nan());
    assert_eq!(out[3], f32::INFINITY);
    assert_eq!(out[5].to_bits(), 0f32.to_bits());
}

#[test]
fn sin_f32() {
    check_unary32(UnaryFn::Sin);
    let mut k = kernels();
    let kern = k.unary32(UnaryFn::Sin);
    let out = run32(kern, &[-0.0, 0.0, f32::INFINITY, f32::NEG_INFINITY]);
    assert_eq!(out[0].to_bits(), (-0f32).to_bits());
    assert_eq!(out[1].to_bits(), 0f32.to_bits());
    assert!(out[2].is_nan() && out[3].is_nan());
}

#[test]
fn cos_f32() {
    check_unary32(UnaryFn::Cos);
}

#[test]
fn tanh_f32() {
    check_unary32(UnaryFn::Tanh);
    let mut k = kernels();
    let kern = k.unary32(UnaryFn::Tanh);
    let out = run32(kern, &[f32::INFINITY, f32::NEG_INFINITY, -0.0, 20.0, -20.0]);
    assert_eq!(out[..2], [1.0, -1.0]);
    assert_eq!(out[2].to_bits(), (-0f32).to_bits());
    assert_eq!(out[3..], [1.0, -1.0]);
}

#[test]
fn sigmoid_f32() {
    check_unary32(UnaryFn::Sigmoid);
    let mut k = kernels();
    let kern = k.unary32(UnaryFn::Sigmoid);
    let out = run32(kern, &[f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0]);
    assert_eq!(out, [1.0, 0.0, 0.5, 0.5]);
}

fn pow_ref(x: f32, y: f32) -> f64 {
    (x as f64).powf(y as f64)
}

#[test]
fn pow_f32() {
    let mut k = kernels();
    let kern = k.pow32();
    let mut rng = Rng(0x9090);
    let n = 1 << 18;
    let mut sets: Vec<(&str, Vec<f32>, Vec<f32>)> = Vec::new();
    // |y ln x| <= 88 (results within the f32 range), x log-uniform in [1e-30, 1e30].
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let x = rng.log_uniform(1e-30, 1e30, false) as f32;
        let t = rng.uniform(-88.0, 88.0);
        xs.push(x);
        ys.push((t / (x as f64).ln()) as f32);
    }
    sets.push(("x in [1e-30,1e30], |y ln x| <= 88", xs, ys));
    let (xs, ys) = (0..n)
        .map(|_| (rng.uniform(0.0, 4.0) as f32, rng.uniform(-4.0, 4.0) as f32))
        .unzip();
    sets.push(("x in [0,4], y in [-4,4]", xs, ys));
    let (xs, ys) = (0..n)
        .map(|_| {
            (
                rng.uniform(-10.0, 10.0) as f32,
                (rng.uniform(-20.0, 20.0).round()) as f32,
            )
        })
        .unzip();
    sets.push(("x in [-10,10], integer y in [-20,20]", xs, ys));
    let (xs, ys) = (0..n)
        .map(|_| (rng.any_f32(true), rng.any_f32(true)))
        .unzip();
    sets.push(("all f32 pairs (random bits)", xs, ys));
    let mut total = 0;
    for (what, xs, ys) in &sets {
        total += xs.len();
        let mut out = vec![0f32; xs.len()];
        kern(xs.len() as i64, xs.as_ptr(), ys.as_ptr(), out.as_mut_ptr());
        let mut worst = (0.0, 0.0f32, 0.0f32);
        for i in 0..xs.len() {
            let e = ulp_err32(out[i], pow_ref(xs[i], ys[i]));
            if e > worst.0 {
                worst = (e, xs[i], ys[i]);
            }
        }
        println!(
            "pow      f32 {what:36}: max {:.3} ulp at ({:e}, {:e})",
            worst.0, worst.1, worst.2
        );
        assert!(worst.0 <= 4.0, "pow {what}: {worst:?}");
    }
    assert!(total >= 1_000_000);

    // Special cases against libm's pow, bit for bit (NaN for NaN).
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        3.0,
        -3.0,
        2.5,
        -2.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(1),
        f32::MAX,
        1e10,
    ];
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &x in &specials {
        for &y in &specials {
            xs.push(x);
            ys.push(y);
        }
    }
    let mut out = vec![0f32; xs.len()];
    kern(xs.len() as i64, xs.as_ptr(), ys.as_ptr(), out.as_mut_ptr());
    for i in 0..xs.len() {
        let want = pow_ref(xs[i], ys[i]);
        let w32 = want as f32;
        let ok = if w32.is_nan() {
            out[i].is_nan()
        } else if !w32.is_finite() || w32 == 0.0 {
            out[i].to_bits() == w32.to_bits()
        } else {
            ulp_err32(out[i], want) <= 4.0
        };
        assert!(
            ok,
            "pow({:e}, {:e}) = {:e}, want {w32:e}",
            xs[i], ys[i], out[i]
        );
    }
}

/// f64 variants, on smaller samples: the reference (glibc) is itself within ~1 ulp.
#[test]
fn all_f64() {
    let mut k = kernels();
    let mut rng = Rng(64);
    let n = 100_000;
    for f in UnaryFn::ALL {
        let kern = k.unary64(f);
        let sets: Vec<(&str, Vec<f64>)> = match f {
            UnaryFn::Exp => vec![(
                "uniform [-745, 709]",
                (0..n).map(|_| rng.uniform(-745.0, 709.0)).collect(),
            )],
            UnaryFn::Log => vec![(
                "all positive f64 (random bits)",
                (0..n)
                    .map(|_| f64::from_bits(rng.next() & 0x7fef_ffff_ffff_ffff))
                    .collect(),
            )],
            UnaryFn::Sin | UnaryFn::Cos => vec![
                (
                    "log-uniform |x| in [1e-30, 1e4]",
                    (0..n).map(|_| rng.log_uniform(1e-30, 1e4, true)).collect(),
                ),
                (
                    "log-uniform |x| in [1e4, 1e12]",
                    (0..n).map(|_| rng.log_uniform(1e4, 1e12, true)).collect(),
                ),
            ],
            UnaryFn::Tanh => vec![(
                "uniform [-20, 20]",
                (0..n).map(|_| rng.uniform(-20.0, 20.0)).collect(),
            )],
            UnaryFn::Sigmoid => vec![(
                "uniform [-745, 40]",
                (0..n).map(|_| rng.uniform(-745.0, 40.0)).collect(),
            )],
        };
        for (what, xs) in sets {
            let mut out = vec![0f64; xs.len()];
            kern(xs.len() as i64, xs.as_ptr(), out.as_mut_ptr());
            let mut worst = (0.0, 0.0);
            for (&x, &y) in xs.iter().zip(&out) {
                let e = ulp_err64(y, reference(f, x));
                if e > worst.0 {
                    worst = (e, x);
                }
            }
            println!(
                "{:8} f64 {what:36}: max {:.3} ulp at x = {:e}",
                f.name(),
                worst.0,
                worst.1
            );
            assert!(worst.0 <= 4.0, "{} f64 {what}: {worst:?}", f.name());
        }
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1.0,
            -1.0,
            f64::from_bits(1),
        ];
        let mut out = vec![0f64; specials.len()];
        kern(specials.len() as i64, specials.as_ptr(), out.as_mut_ptr());
        for (&x, &y) in specials.iter().zip(&out) {
            let want = reference(f, x);
            let ok = if want.is_nan() {
                y.is_nan()
            } else if !want.is_finite() || want == 0.0 {
                y.to_bits() == want.to_bits()
            } else {
                ulp_err64(y, want) <= 4.0
            };
            assert!(ok, "{} f64({x:e}) = {y:e}, want {want:e}", f.name());
        }
    }
    let kern = k.pow64();
    let (xs, ys): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|_| (rng.uniform(0.0, 4.0), rng.uniform(-4.0, 4.0)))
        .unzip();
    let mut out = vec![0f64; xs.len()];
    kern(xs.len() as i64, xs.as_ptr(), ys.as_ptr(), out.as_mut_ptr());
    let mut worst = (0.0, 0.0, 0.0);
    for i in 0..xs.len() {
        let e = ulp_err64(out[i], xs[i].powf(ys[i]));
        if e > worst.0 {
            worst = (e, xs[i], ys[i]);
        }
    }
    println!(
        "pow      f64 x in [0,4], y in [-4,4]              : max {:.3} ulp at ({:e}, {:e})",
        worst.0, worst.1, worst.2
    );
    // f64 pow has no extended-precision log: the error grows like |y ln x|·2^-53 relative.
    assert!(worst.0 <= 32.0, "pow f64: {worst:?}");
}
