//! Vectorised elementwise math emitted as inline CLIF: exp, log, sin, cos, tanh, pow, and
//! (with the `testing` feature, for the accuracy tests and benchmarks only: the IR has no
//! sigmoid op, the API composes it) sigmoid.
//!
//! Cranelift has no transcendental instructions, so each function is emitted as a short
//! straight-line sequence of FMAs, bit operations and selects (no branches, no calls), working
//! on `f32x4`, `f32`, `f64x2` and `f64` alike: the type is taken from the argument. The
//! algorithms are written once against the `Lanes` operations; besides the CLIF emitter,
//! [`host`] runs them in Rust on f32 bits, compiled for AVX2 + FMA into 8-lane array routines
//! that return the same bits 2.2–2.8x faster (`examples/math_speed.rs`), which f32 maps call on
//! L1-sized tiles (`cpu/loops/staged.rs`). The
//! reductions follow the classic Cody–Waite/Cephes/SLEEF recipes and are explained next to the
//! code; the polynomial coefficients were fitted for kiln (Chebyshev fits with mpmath of the
//! remainder after the exact leading terms, then rounded to the working precision).
//!
//! # Accuracy (measured)
//!
//! Maximum error of the `f32x4` and `f32` results against Rust's `f64` functions, in units in
//! the last place of the exact result (fractional: 0.5 is a correctly rounded result), over at
//! least 1,000,000 log-uniform plus uniform samples per function and the edge cases listed in
//! `codegen/tests/math_ulp.rs`. Vector and scalar code are the same instruction sequence and
//! give identical results. Measured on x86-64 (Zen3, FMA).
//!
//! | function  | samples (domain of the bound)                              | max ulp | asserted |
//! |-----------|------------------------------------------------------------|---------|----------|
//! | `exp`     | log-uniform \|x\| in [1e-30, 104]; uniform [-104, 89]       | 1.04    | 2        |
//! | `log`     | every positive f32 binade (random bits, subnormals incl.)  | 0.82    | 2        |
//! | `sin`     | \|x\| ≤ 1e4 (log-uniform and uniform), [-10, 10]           | 1.54    | 2        |
//! | `sin`     | 1e4 ≤ \|x\| ≤ 6e6 (log-uniform)                            | 1.61    | 2        |
//! | `cos`     | \|x\| ≤ 1e4 (log-uniform and uniform), [-10, 10]           | 1.54    | 2        |
//! | `cos`     | 1e4 ≤ \|x\| ≤ 6e6 (log-uniform)                            | 1.85    | 2        |
//! | `tanh`    | every f32 (random bits); uniform [-10, 10]                 | 1.38    | 3        |
//! | `sigmoid` | every f32 (random bits); uniform [-120, 40]                | 2.09    | 3        |
//! | `pow`     | x in [1e-30, 1e30] with \|y ln x\| ≤ 88; x in [0, 4], y in [-4, 4]; x in [-10, 10], integer y; random f32 pairs | 0.50 | 4 |
//!
//! f64 lanes (`f64x2`, `f64`), 100,000 samples each, against glibc's f64 functions (themselves
//! within ~1 ulp, so these are integer ulp differences between two approximations): exp 1
//! (uniform [-745, 709]), log 1 (every positive binade), sin/cos 1 on |x| ≤ 1e4 and 2 on
//! 1e4 ≤ |x| ≤ 1e12, tanh 2 ([-20, 20]), sigmoid 2 ([-745, 40]); asserted ≤ 4. `pow` on f64 has
//! no extended-precision logarithm: 24 ulp measured on x in [0, 4], y in [-4, 4] (asserted
//! ≤ 32), and the error grows like |y·ln x|·2^-53 relative.

//! # Special values
//!
//! NaN in gives NaN out (except `pow(x, ±0) = pow(1, y) = 1`, as IEEE 754 says). `exp(+inf) =
//! +inf`, `exp(-inf) = +0`, overflow gives +inf and underflow gives +0 or the correctly scaled
//! subnormal. `log(±0) = -inf`, `log(x < 0) = NaN`, `log(+inf) = +inf`. `sin`/`cos` of ±inf are
//! NaN; `sin(-0) = -0`. `tanh(±inf) = ±1`, `tanh(-0) = -0`. `sigmoid(-inf) = 0`,
//! `sigmoid(+inf) = 1`. `pow`: see [`emit_pow`].
//!
//! # Large arguments of sin and cos
//!
//! The reduction by π/2 uses a three-part π/2 (Cody–Waite with FMA), which stays accurate while
//! the quadrant count fits the "magic number" rounding: |x| < 2^22·π/2 ≈ 6.5e6 for f32 and
//! |x| < 2^51·π/2 ≈ 3.5e15 for f64 (measured up to 6e6 and 1e12 respectively). Beyond that the
//! reduced argument is meaningless; where |r| > 1.05 it is replaced by 0, so results stay finite
//! and within [-1, 1] (never NaN for finite x) but are not the sine of `x`. A Payne–Hanek
//! reduction would fix this; it is not implemented.
//!
//! # Constants and loops
//!
//! Each emitter takes a [`Consts`] table: the first request for a constant of a type emits it at
//! the current position and later requests reuse the SSA value, so a function emitted several
//! times (unrolled loops, tanh and sigmoid calling exp) does not repeat its constants in the
//! CLIF. A caller that emits a loop calls [`Consts::prepare`] in the loop's preheader (see
//! `cpu/loops/nest.rs`) so that all constants are defined once, outside the loop; a table
//! must only be used where its values dominate the use (one table per preheader).
//!
//! What Cranelift 0.135 then does with them (seen in `examples/math_disasm.rs`): at
//! opt_level "speed" the mid-end turns `splat(const)` into a constant-pool `vconst` and
//! rematerialises it at each use, i.e. one `vmovups (%rip)` load per constant per iteration,
//! whichever block defined it. Those loads are cheap (Zen3 issues three per cycle) and measured
//! speed is the same with or without hoisting (`examples/math_speed.rs`), so hoisting buys
//! smaller CLIF and faster compiles rather than faster loops.

mod exp_log;
pub mod host;
mod hyper;
mod pow;
mod trig;

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

use crate::error::{CodegenError, Result};
use kiln_ir::MathFn;

pub use pow::emit_pow_with;

/// A table of constants already emitted in a function, keyed by CLIF type and bit pattern.
///
/// Values are created at the builder's current position on first use; see the module docs for
/// where they may be used.
#[derive(Debug, Default)]
pub struct Consts {
    map: HashMap<(Type, u64), Value>,
}

impl Consts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The float constant `v` (rounded to the lane type) as a value of float type `ty`
    /// (`f32`, `f64`, or a vector of them, splatted).
    pub fn float(&mut self, b: &mut FunctionBuilder, ty: Type, v: f64) -> Value {
        let lane = ty.lane_type();
        let bits = if lane == types::F32 {
            u64::from((v as f32).to_bits())
        } else {
            v.to_bits()
        };
        if let Some(&val) = self.map.get(&(ty, bits)) {
            return val;
        }
        let scalar = if lane == types::F32 {
            b.ins().f32const(v as f32)
        } else {
            b.ins().f64const(v)
        };
        let val = if ty.is_vector() {
            b.ins().splat(ty, scalar)
        } else {
            scalar
        };
        self.map.insert((ty, bits), val);
        val
    }

    /// The integer constant `v` (truncated to the lane width) as a value of integer type `ty`.
    pub fn int(&mut self, b: &mut FunctionBuilder, ty: Type, v: i64) -> Value {
        let lane = ty.lane_type();
        // Cranelift wants iconst immediates zero-extended from the lane width.
        let bits = if lane.bits() >= 64 {
            v as u64
        } else {
            (v as u64) & ((1u64 << lane.bits()) - 1)
        };
        if let Some(&val) = self.map.get(&(ty, bits)) {
            return val;
        }
        let scalar = b.ins().iconst(lane, bits as i64);
        let val = if ty.is_vector() {
            b.ins().splat(ty, scalar)
        } else {
            scalar
        };
        self.map.insert((ty, bits), val);
        val
    }

    /// Emits, at the current position, every constant that `f` needs for an argument of type
    /// `ty`, by running `f` once on a dummy argument. The dummy computation is pure and unused,
    /// so Cranelift's optimiser removes it; the constants stay and later calls of `f` reuse them.
    pub fn prepare<F>(&mut self, b: &mut FunctionBuilder, ty: Type, f: F) -> Result<()>
    where
        F: FnOnce(&mut FunctionBuilder, &mut Consts, Value) -> Result<Value>,
    {
        let dummy = self.float(b, ty, 1.0);
        f(b, self, dummy).map(|_| ())
    }
}

/// A unary function of this module, for callers that pick the function at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryFn {
    /// e^x.
    Exp,
    /// Natural logarithm.
    Log,
    /// Sine (radians).
    Sin,
    /// Cosine (radians).
    Cos,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function 1 / (1 + e^-x).
    Sigmoid,
}

impl UnaryFn {
    /// All functions, for tests and benchmarks.
    #[cfg(feature = "testing")]
    pub const ALL: [UnaryFn; 6] = [
        UnaryFn::Exp,
        UnaryFn::Log,
        UnaryFn::Sin,
        UnaryFn::Cos,
        UnaryFn::Tanh,
        UnaryFn::Sigmoid,
    ];

    /// The function's name, e.g. `"exp"`.
    pub fn name(self) -> &'static str {
        match self {
            UnaryFn::Exp => "exp",
            UnaryFn::Log => "log",
            UnaryFn::Sin => "sin",
            UnaryFn::Cos => "cos",
            UnaryFn::Tanh => "tanh",
            UnaryFn::Sigmoid => "sigmoid",
        }
    }

    /// Emits the function of `x` with constants from `c`.
    pub fn emit(self, b: &mut FunctionBuilder, c: &mut Consts, x: Value) -> Result<Value> {
        match self {
            UnaryFn::Exp => emit_exp_with(b, c, x),
            UnaryFn::Log => emit_log_with(b, c, x),
            UnaryFn::Sin => emit_sin_with(b, c, x),
            UnaryFn::Cos => emit_cos_with(b, c, x),
            UnaryFn::Tanh => emit_tanh_with(b, c, x),
            UnaryFn::Sigmoid => emit_sigmoid_with(b, c, x),
        }
    }
}

impl UnaryFn {
    /// The routine of the IR's one-argument math function `f` (`None` for `pow`).
    pub fn of(f: MathFn) -> Option<UnaryFn> {
        match f {
            MathFn::Exp => Some(UnaryFn::Exp),
            MathFn::Log => Some(UnaryFn::Log),
            MathFn::Sin => Some(UnaryFn::Sin),
            MathFn::Cos => Some(UnaryFn::Cos),
            MathFn::Tanh => Some(UnaryFn::Tanh),
            MathFn::Sigmoid => Some(UnaryFn::Sigmoid),
            MathFn::Pow => None,
        }
    }
}

/// The CPU backend's lowering of [`MathFn`]: emits `f` applied to `args` (one value; two for
/// `pow`), with constants from `c`.
///
/// # Errors
/// [`CodegenError`] when `args` does not hold `f`'s arity of values, or the emitter rejects
/// their type.
pub fn emit_math(
    b: &mut FunctionBuilder,
    c: &mut Consts,
    f: MathFn,
    args: &[Value],
) -> Result<Value> {
    match (f, args) {
        (MathFn::Pow, &[x, y]) => emit_pow_with(b, c, x, y),
        (_, &[x]) => match UnaryFn::of(f) {
            Some(u) => u.emit(b, c, x),
            None => Err(arity_error(f, 1)),
        },
        _ => Err(arity_error(f, args.len())),
    }
}

fn arity_error(f: MathFn, given: usize) -> CodegenError {
    CodegenError::Unsupported {
        backend: "cpu",
        what: format!("{f:?} of {given} argument(s) (it takes {})", f.arity()),
    }
}

macro_rules! unary_entry_points {
    ($($(#[$doc:meta])* $name:ident, $with:ident, $core:path, $op:literal;)*) => {$(
        $(#[$doc])*
        ///
        /// The type (`f32x4`, `f32`, `f64x2` or `f64`) is taken from `x`; constants are emitted
        /// inline at the current position (use the `_with` form to share them).
        pub fn $name(b: &mut FunctionBuilder, x: Value) -> Result<Value> {
            $with(b, &mut Consts::new(), x)
        }

        $(#[$doc])*
        ///
        /// Like the form without `_with`, taking constants from (and adding them to) `c`.
        pub fn $with(b: &mut FunctionBuilder, c: &mut Consts, x: Value) -> Result<Value> {
            let mut e = E::new(b, c, x, $op)?;
            Ok($core(&mut e, x))
        }
    )*};
}

unary_entry_points! {
    /// Emits e^x.
    emit_exp, emit_exp_with, exp_log::exp, "exp";
    /// Emits the natural logarithm of `x`.
    emit_log, emit_log_with, exp_log::log, "log";
    /// Emits sin(x).
    emit_sin, emit_sin_with, trig::sin, "sin";
    /// Emits cos(x).
    emit_cos, emit_cos_with, trig::cos, "cos";
    /// Emits tanh(x).
    emit_tanh, emit_tanh_with, hyper::tanh, "tanh";
}

unary_entry_points! {
    /// Emits the logistic sigmoid 1 / (1 + e^-x).
    emit_sigmoid, emit_sigmoid_with, hyper::sigmoid, "sigmoid";
}

/// Emits x^y; see [`emit_pow_with`] for the special cases and accuracy.
pub fn emit_pow(b: &mut FunctionBuilder, x: Value, y: Value) -> Result<Value> {
    emit_pow_with(b, &mut Consts::new(), x, y)
}

/// The float type an emitter works in, and its integer twin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ft {
    /// `f32`, `f32x4`, `f64` or `f64x2`.
    pub f: Type,
    /// Integer type of the same lane width and count.
    pub i: Type,
    /// True for f64 lanes.
    pub double: bool,
}

impl Ft {
    fn of(ty: Type, op: &'static str) -> Result<Ft> {
        let lane = ty.lane_type();
        let ok =
            (lane == types::F32 || lane == types::F64) && (!ty.is_vector() || ty.bits() == 128);
        if !ok {
            return Err(CodegenError::UnsupportedType {
                op,
                ty: ty.to_string(),
            });
        }
        Ok(Ft {
            f: ty,
            i: ty.as_int(),
            double: lane == types::F64,
        })
    }

    /// Number of explicit mantissa bits (23 or 52).
    pub fn mant(self) -> i64 {
        if self.double {
            52
        } else {
            23
        }
    }

    /// Exponent bias (127 or 1023).
    pub fn bias(self) -> i64 {
        if self.double {
            1023
        } else {
            127
        }
    }

    /// Lane width in bits.
    pub fn bits(self) -> i64 {
        if self.double {
            64
        } else {
            32
        }
    }

    /// Picks the f32 or the f64 variant of a constant.
    pub fn pick<T>(self, single: T, double: T) -> T {
        if self.double {
            double
        } else {
            single
        }
    }
}

/// The operations the math algorithms are written in, on lanes of one float type and its
/// integer twin. Two implementations: [`E`] emits CLIF (any of `f32`, `f32x4`, `f64`, `f64x2`),
/// and [`host::HostF32`] evaluates f32 lanes in Rust (compiled with AVX2 for 8-wide loops). The
/// algorithms (`exp_log`, `trig`, `hyper`) are generic over it, so both give the same bits.
///
/// Conventions: comparisons return lane masks (all ones / all zeros; in scalar CLIF an `i8`
/// truth value), consumed by `sel`, `seli`, `and_mask` and `or_mask`.
pub(crate) trait Lanes {
    /// One value: a float or integer lane (vector) in the working type.
    type V: Copy;
    /// The working type.
    fn t(&self) -> Ft;
    fn k(&mut self, v: f64) -> Self::V;
    fn ki(&mut self, v: i64) -> Self::V;
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn div(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn fma(&mut self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn abs(&mut self, a: Self::V) -> Self::V;
    /// Horner's rule with FMA; `coeffs` from the highest degree down.
    fn poly(&mut self, u: Self::V, coeffs: &[f64]) -> Self::V {
        let mut acc = self.k(coeffs[0]);
        for &cf in &coeffs[1..] {
            let k = self.k(cf);
            acc = self.fma(acc, u, k);
        }
        acc
    }
    /// Float bits as an integer of the same width.
    fn bits(&mut self, a: Self::V) -> Self::V;
    /// Integer bits as a float of the same width.
    fn float(&mut self, a: Self::V) -> Self::V;
    fn iadd(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn isub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn band(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn bor(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn bxor(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn shl(&mut self, a: Self::V, n: i64) -> Self::V;
    fn ushr(&mut self, a: Self::V, n: i64) -> Self::V;
    /// Float comparison: a lane mask.
    fn fcmp(&mut self, cc: FloatCC, a: Self::V, b: Self::V) -> Self::V;
    /// Integer comparison: a lane mask.
    fn icmp(&mut self, cc: IntCC, a: Self::V, b: Self::V) -> Self::V;
    fn and_mask(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn or_mask(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `mask ? a : b` for float values.
    fn sel(&mut self, mask: Self::V, a: Self::V, b: Self::V) -> Self::V;
    /// `mask ? a : b` for integer values.
    fn seli(&mut self, mask: Self::V, a: Self::V, b: Self::V) -> Self::V;
}

/// The emitter: a builder, a constant table and the working type, with one short method per
/// operation so that the algorithms read like formulas.
pub(crate) struct E<'a, 'b, 'c> {
    pub b: &'a mut FunctionBuilder<'b>,
    pub c: &'c mut Consts,
    pub t: Ft,
}

impl<'a, 'b, 'c> E<'a, 'b, 'c> {
    pub fn new(
        b: &'a mut FunctionBuilder<'b>,
        c: &'c mut Consts,
        x: Value,
        op: &'static str,
    ) -> Result<Self> {
        let ty = b.func.dfg.value_type(x);
        let t = Ft::of(ty, op)?;
        Ok(E { b, c, t })
    }

    /// The same emitter working in another float type (pow works in f64 for f32 inputs).
    pub fn retyped<'d>(&'d mut self, ty: Type) -> E<'d, 'b, 'd> {
        E {
            b: &mut *self.b,
            c: &mut *self.c,
            t: Ft {
                f: ty,
                i: ty.as_int(),
                double: ty.lane_type() == types::F64,
            },
        }
    }

    fn flags(&self) -> MemFlagsData {
        // Vector bitcasts must state the lane order; scalars must not.
        if self.t.f.is_vector() {
            MemFlagsData::new().with_endianness(Endianness::Little)
        } else {
            MemFlagsData::new()
        }
    }
}

impl Lanes for E<'_, '_, '_> {
    type V = Value;
    fn t(&self) -> Ft {
        self.t
    }
    fn k(&mut self, v: f64) -> Value {
        self.c.float(self.b, self.t.f, v)
    }
    fn ki(&mut self, v: i64) -> Value {
        self.c.int(self.b, self.t.i, v)
    }
    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.b.ins().fma(a, b, c)
    }
    fn abs(&mut self, a: Value) -> Value {
        self.b.ins().fabs(a)
    }
    fn bits(&mut self, a: Value) -> Value {
        let f = self.flags();
        self.b.ins().bitcast(self.t.i, f, a)
    }
    fn float(&mut self, a: Value) -> Value {
        let f = self.flags();
        self.b.ins().bitcast(self.t.f, f, a)
    }
    fn iadd(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().iadd(a, b)
    }
    fn isub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().isub(a, b)
    }
    fn band(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn bor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn bxor(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bxor(a, b)
    }
    fn shl(&mut self, a: Value, n: i64) -> Value {
        self.b.ins().ishl_imm_s(a, n)
    }
    fn ushr(&mut self, a: Value, n: i64) -> Value {
        self.b.ins().ushr_imm_s(a, n)
    }
    fn fcmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }
    fn icmp(&mut self, cc: IntCC, a: Value, b: Value) -> Value {
        self.b.ins().icmp(cc, a, b)
    }
    fn and_mask(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().band(a, b)
    }
    fn or_mask(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().bor(a, b)
    }
    fn sel(&mut self, mask: Value, a: Value, b: Value) -> Value {
        if self.t.f.is_vector() {
            let m = self.float(mask);
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(mask, a, b)
        }
    }
    fn seli(&mut self, mask: Value, a: Value, b: Value) -> Value {
        if self.t.f.is_vector() {
            self.b.ins().bitselect(mask, a, b)
        } else {
            self.b.ins().select(mask, a, b)
        }
    }
}
