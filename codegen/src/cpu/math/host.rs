//! The math algorithms evaluated by Rust on f32 lanes, for kernels that call out to them.
//!
//! Cranelift 0.135 emits at most 128-bit vectors on x86-64 (four f32 lanes). The same
//! algorithms, run through [`HostF32`] (every value is the 32 bits of one lane) inside a loop
//! compiled with `#[target_feature(enable = "avx2,fma")]`, are vectorised by LLVM to eight lanes
//! with FMA: about twice the throughput. Loop kernels call [`map_fn`]'s routines on L1-sized
//! tiles (see `cpu/loops/staged.rs`).
//!
//! Guarantees: every operation is the IEEE operation the CLIF emitter uses (FMA fused, no
//! reassociation), so each routine returns, bit for bit, what the inline f32 code returns (tested
//! in `tests/math_ulp.rs`); the accuracy table of the parent module applies unchanged. The
//! routines exist only on x86-64 and are handed out only when the CPU has AVX2 and FMA.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types;

use super::{exp_log, hyper, trig, Ft, Lanes, UnaryFn};

/// f32 lanes in Rust: each value is a lane's 32 bits; masks are all ones or all zeros.
pub struct HostF32;

#[inline(always)]
fn f(x: u32) -> f32 {
    f32::from_bits(x)
}

#[inline(always)]
fn mask(c: bool) -> u32 {
    if c {
        u32::MAX
    } else {
        0
    }
}

impl Lanes for HostF32 {
    type V = u32;
    #[inline(always)]
    fn t(&self) -> Ft {
        Ft {
            f: types::F32,
            i: types::I32,
            double: false,
        }
    }
    #[inline(always)]
    fn k(&mut self, v: f64) -> u32 {
        (v as f32).to_bits()
    }
    #[inline(always)]
    fn ki(&mut self, v: i64) -> u32 {
        v as u32
    }
    #[inline(always)]
    fn add(&mut self, a: u32, b: u32) -> u32 {
        (f(a) + f(b)).to_bits()
    }
    #[inline(always)]
    fn sub(&mut self, a: u32, b: u32) -> u32 {
        (f(a) - f(b)).to_bits()
    }
    #[inline(always)]
    fn mul(&mut self, a: u32, b: u32) -> u32 {
        (f(a) * f(b)).to_bits()
    }
    #[inline(always)]
    fn div(&mut self, a: u32, b: u32) -> u32 {
        (f(a) / f(b)).to_bits()
    }
    #[inline(always)]
    fn fma(&mut self, a: u32, b: u32, c: u32) -> u32 {
        f(a).mul_add(f(b), f(c)).to_bits()
    }
    #[inline(always)]
    fn abs(&mut self, a: u32) -> u32 {
        a & 0x7fff_ffff
    }
    #[inline(always)]
    fn bits(&mut self, a: u32) -> u32 {
        a
    }
    #[inline(always)]
    fn float(&mut self, a: u32) -> u32 {
        a
    }
    #[inline(always)]
    fn iadd(&mut self, a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn isub(&mut self, a: u32, b: u32) -> u32 {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn band(&mut self, a: u32, b: u32) -> u32 {
        a & b
    }
    #[inline(always)]
    fn bor(&mut self, a: u32, b: u32) -> u32 {
        a | b
    }
    #[inline(always)]
    fn bxor(&mut self, a: u32, b: u32) -> u32 {
        a ^ b
    }
    #[inline(always)]
    fn shl(&mut self, a: u32, n: i64) -> u32 {
        // CLIF's shift amounts are taken modulo the lane width.
        a.wrapping_shl(n as u32)
    }
    #[inline(always)]
    fn ushr(&mut self, a: u32, n: i64) -> u32 {
        a.wrapping_shr(n as u32)
    }
    #[inline(always)]
    fn fcmp(&mut self, cc: FloatCC, a: u32, b: u32) -> u32 {
        let (x, y) = (f(a), f(b));
        let unordered = x.is_nan() || y.is_nan();
        mask(match cc {
            FloatCC::Ordered => !unordered,
            FloatCC::Unordered => unordered,
            FloatCC::Equal => x == y,
            FloatCC::NotEqual => x != y,
            FloatCC::OrderedNotEqual => !unordered && x != y,
            FloatCC::UnorderedOrEqual => unordered || x == y,
            FloatCC::LessThan => x < y,
            FloatCC::LessThanOrEqual => x <= y,
            FloatCC::GreaterThan => x > y,
            FloatCC::GreaterThanOrEqual => x >= y,
            FloatCC::UnorderedOrLessThan => unordered || x < y,
            FloatCC::UnorderedOrLessThanOrEqual => unordered || x <= y,
            FloatCC::UnorderedOrGreaterThan => unordered || x > y,
            FloatCC::UnorderedOrGreaterThanOrEqual => unordered || x >= y,
        })
    }
    #[inline(always)]
    fn icmp(&mut self, cc: IntCC, a: u32, b: u32) -> u32 {
        let (sa, sb) = (a as i32, b as i32);
        mask(match cc {
            IntCC::Equal => a == b,
            IntCC::NotEqual => a != b,
            IntCC::SignedLessThan => sa < sb,
            IntCC::SignedGreaterThanOrEqual => sa >= sb,
            IntCC::SignedGreaterThan => sa > sb,
            IntCC::SignedLessThanOrEqual => sa <= sb,
            IntCC::UnsignedLessThan => a < b,
            IntCC::UnsignedGreaterThanOrEqual => a >= b,
            IntCC::UnsignedGreaterThan => a > b,
            IntCC::UnsignedLessThanOrEqual => a <= b,
        })
    }
    #[inline(always)]
    fn and_mask(&mut self, a: u32, b: u32) -> u32 {
        a & b
    }
    #[inline(always)]
    fn or_mask(&mut self, a: u32, b: u32) -> u32 {
        a | b
    }
    #[inline(always)]
    fn sel(&mut self, m: u32, a: u32, b: u32) -> u32 {
        (a & m) | (b & !m)
    }
    #[inline(always)]
    fn seli(&mut self, m: u32, a: u32, b: u32) -> u32 {
        (a & m) | (b & !m)
    }
}

/// A routine `dst[i] = f(src[i])` for `i < n`, over f32 arrays that must not overlap.
pub type MapFn = unsafe extern "C" fn(src: *const f32, dst: *mut f32, n: i64);

macro_rules! avx2_maps {
    ($($(#[$doc:meta])* $entry:ident, $inner:ident, $core:path;)*) => {$(
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $inner(src: &[u32], dst: &mut [u32]) {
            for (x, y) in src.iter().zip(dst.iter_mut()) {
                *y = $core(&mut HostF32, *x);
            }
        }

        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must have AVX2 and FMA; `src` must be readable and `dst` writable for `n`
        /// f32 values (n ≥ 0), and the two must not overlap.
        #[cfg(target_arch = "x86_64")]
        pub unsafe extern "C" fn $entry(src: *const f32, dst: *mut f32, n: i64) {
            let n = n.max(0) as usize;
            // SAFETY: the caller's contract: both ranges valid and disjoint, AVX2 and FMA present.
            unsafe {
                let src = std::slice::from_raw_parts(src.cast::<u32>(), n);
                let dst = std::slice::from_raw_parts_mut(dst.cast::<u32>(), n);
                $inner(src, dst)
            }
        }
    )*};
}

avx2_maps! {
    /// e^x over an array (AVX2 + FMA).
    kiln_exp_f32_avx2, exp_avx2, exp_log::exp;
    /// ln x over an array (AVX2 + FMA).
    kiln_log_f32_avx2, log_avx2, exp_log::log;
    /// sin x over an array (AVX2 + FMA).
    kiln_sin_f32_avx2, sin_avx2, trig::sin;
    /// cos x over an array (AVX2 + FMA).
    kiln_cos_f32_avx2, cos_avx2, trig::cos;
    /// tanh x over an array (AVX2 + FMA).
    kiln_tanh_f32_avx2, tanh_avx2, hyper::tanh;
}

avx2_maps! {
    /// The logistic sigmoid over an array (AVX2 + FMA).
    kiln_sigmoid_f32_avx2, sigmoid_avx2, hyper::sigmoid;
}

/// The AVX2 routine computing `f` on f32 arrays, when this CPU can run it (x86-64 with AVX2
/// and FMA); `None` elsewhere, where kernels keep the inline 4-lane code.
pub fn map_fn(f: UnaryFn) -> Option<MapFn> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some(match f {
                UnaryFn::Exp => kiln_exp_f32_avx2,
                UnaryFn::Log => kiln_log_f32_avx2,
                UnaryFn::Sin => kiln_sin_f32_avx2,
                UnaryFn::Cos => kiln_cos_f32_avx2,
                UnaryFn::Tanh => kiln_tanh_f32_avx2,
                UnaryFn::Sigmoid => kiln_sigmoid_f32_avx2,
            });
        }
    }
    let _ = f;
    None
}
