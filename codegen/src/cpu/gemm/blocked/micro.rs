//! The AVX2 + FMA micro-kernels: an `MR x NR` tile of `c` from a packed `MR`-row micro-panel of
//! `a` and a packed `NR`-column micro-panel of `b`, `kc` deep, kept in 12 ymm accumulators.
//!
//! Every accumulator lane is one output element, and it sees the `kc` products in order
//! `p = 0, 1, ..., kc - 1`, each with one fused multiply-add; the block's sum is then stored
//! (first `k` block) or added to the element once (later blocks). So an element's value depends
//! only on its row of `a`, its column of `b` and the `k` blocking, never on which tile, lane,
//! thread or call computed it.

use std::arch::x86_64::*;

/// A float type with a packed micro-kernel and its blocking.
pub trait Element: Copy + Send + Sync + 'static {
    /// Rows of the micro-tile (of an `a` micro-panel).
    const MR: usize;
    /// Columns of the micro-tile (of a `b` micro-panel); a multiple of the vector width.
    const NR: usize;
    /// Depth of one `k` block (fixed: it decides the summation order).
    const KC: usize;
    /// Rows of `a` packed at once (a multiple of `MR`; the packed block stays in L2).
    const MC: usize;
    /// Columns of `b` packed at once (a multiple of `NR`; the packed panel stays in L3).
    const NC: usize;
    /// 0.0, the padding of partial micro-panels.
    const ZERO: Self;

    /// Computes `acc = sum_p a[p*MR + r] * b[p*NR + j]` for the tile and stores it to
    /// `c[r*rsc + j]` (`accumulate = false`) or adds it there (`accumulate = true`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` must be valid for `kc * MR` reads, `b` for
    /// `kc * NR` reads, and `c[r*rsc + j]` valid for reads and writes for `r < MR, j < NR`.
    unsafe fn kernel(
        kc: usize,
        a: *const Self,
        b: *const Self,
        c: *mut Self,
        rsc: usize,
        accumulate: bool,
    );
}

/// Defines a 6-row micro-kernel for one element type from its AVX intrinsics: the tile's `NR`
/// columns are two vectors of `lanes` lanes, so each row has two accumulators. The f32 and f64
/// kernels are the same instruction sequence over different intrinsics; writing it once keeps
/// their summation order (and so their bits) provably the same. It also implements [`Element`]
/// for the type, with the blocking `MC` (rows of `a` packed at once) the caller gives.
///
/// The nested macros expand the row and `p` loops into straight-line code over named
/// registers; their `$` metavariables are not the outer macro's, so they pass through to the
/// nested definitions unchanged.
macro_rules! micro_kernel {
    (
        $(#[$doc:meta])*
        fn $name:ident($t:ty; NR = $nr:literal, lanes = $w:literal, MC = $mc:literal) {
            zero: $zero:ident,
            splat: $splat:ident,
            load: $load:ident,
            store: $store:ident,
            fma: $fma:ident,
            add: $add:ident $(,)?
        }
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// As [`Element::kernel`].
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $name(
            kc: usize,
            a: *const $t,
            b: *const $t,
            c: *mut $t,
            rsc: usize,
            accumulate: bool,
        ) {
            let mut c00 = $zero();
            let mut c01 = $zero();
            let mut c10 = $zero();
            let mut c11 = $zero();
            let mut c20 = $zero();
            let mut c21 = $zero();
            let mut c30 = $zero();
            let mut c31 = $zero();
            let mut c40 = $zero();
            let mut c41 = $zero();
            let mut c50 = $zero();
            let mut c51 = $zero();
            // The six rows' accumulator pairs; a macro (defined here, where the accumulators
            // are in scope) so that the row loop becomes straight-line code over named
            // registers.
            macro_rules! rows6 {
                ($m:ident) => {
                    $m!(0, c00, c01);
                    $m!(1, c10, c11);
                    $m!(2, c20, c21);
                    $m!(3, c30, c31);
                    $m!(4, c40, c41);
                    $m!(5, c50, c51);
                };
            }
            for r in 0..6 {
                // SAFETY: rows r < MR of the tile are inside `c` (prefetch never faults anyway).
                unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(r * rsc) as *const i8) };
            }
            let (mut a, mut b) = (a, b);
            // One step of `p`: the six broadcasts of a[p, r] times the two vectors of b[p, ..].
            macro_rules! step {
                ($p:expr) => {{
                    // SAFETY: p < kc, so b[p*NR .. p*NR + NR] and a[p*6 .. p*6 + 6] are in the
                    // panels.
                    let (b0, b1) = unsafe {
                        (
                            $load(b.add($p * $nr)),
                            $load(b.add($p * $nr + $w)),
                        )
                    };
                    macro_rules! fma_row {
                        ($r:expr, $x0:ident, $x1:ident) => {
                            // SAFETY: as above.
                            let x = $splat(unsafe { *a.add($p * 6 + $r) });
                            $x0 = $fma(x, b0, $x0);
                            $x1 = $fma(x, b1, $x1);
                        };
                    }
                    rows6!(fma_row);
                }};
            }
            for _ in 0..kc / 4 {
                step!(0);
                step!(1);
                step!(2);
                step!(3);
                // SAFETY: advancing by 4 steps stays within (or one past) the kc-deep panels.
                unsafe {
                    a = a.add(4 * 6);
                    b = b.add(4 * $nr);
                }
            }
            for _ in 0..kc % 4 {
                step!(0);
                // SAFETY: as above, one step.
                unsafe {
                    a = a.add(6);
                    b = b.add($nr);
                }
            }
            macro_rules! write_row {
                ($r:expr, $x0:ident, $x1:ident) => {
                    // SAFETY: c[r*rsc + 0..NR] is inside the tile the caller gave.
                    unsafe {
                        let p = c.add($r * rsc);
                        if accumulate {
                            $x0 = $add($load(p), $x0);
                            $x1 = $add($load(p.add($w)), $x1);
                        }
                        $store(p, $x0);
                        $store(p.add($w), $x1);
                    }
                };
            }
            rows6!(write_row);
        }

        impl Element for $t {
            const MR: usize = 6;
            const NR: usize = $nr;
            const KC: usize = 256;
            const MC: usize = $mc;
            const NC: usize = 4080 / $nr * $nr;
            const ZERO: $t = 0.0;

            unsafe fn kernel(
                kc: usize,
                a: *const $t,
                b: *const $t,
                c: *mut $t,
                rsc: usize,
                accumulate: bool,
            ) {
                // SAFETY: forwarded from the caller's contract (AVX2 + FMA present, extents
                // valid).
                unsafe { $name(kc, a, b, c, rsc, accumulate) }
            }
        }
    };
}

micro_kernel! {
    /// 6 x 16 f32 tile: 12 accumulators, per `p` two loads of `b` and six broadcasts of `a`.
    fn kernel_f32(f32; NR = 16, lanes = 8, MC = 144) {
        zero: _mm256_setzero_ps,
        splat: _mm256_set1_ps,
        load: _mm256_loadu_ps,
        store: _mm256_storeu_ps,
        fma: _mm256_fmadd_ps,
        add: _mm256_add_ps,
    }
}

micro_kernel! {
    /// 6 x 8 f64 tile: 12 accumulators, per `p` two loads of `b` and six broadcasts of `a`.
    fn kernel_f64(f64; NR = 8, lanes = 4, MC = 72) {
        zero: _mm256_setzero_pd,
        splat: _mm256_set1_pd,
        load: _mm256_loadu_pd,
        store: _mm256_storeu_pd,
        fma: _mm256_fmadd_pd,
        add: _mm256_add_pd,
    }
}

// The kernels above are written for these tile widths.
const _: () = assert!(<f32 as Element>::NR == 16 && <f64 as Element>::NR == 8);
const _: () = assert!(<f32 as Element>::MR == 6 && <f64 as Element>::MR == 6);
