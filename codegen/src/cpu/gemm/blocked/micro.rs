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

impl Element for f32 {
    const MR: usize = 6;
    const NR: usize = 16;
    const KC: usize = 256;
    const MC: usize = 144;
    const NC: usize = 4080 / 16 * 16;
    const ZERO: f32 = 0.0;

    unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded from the caller's contract (AVX2 + FMA present, extents valid).
        unsafe { kernel_f32(kc, a, b, c, rsc, accumulate) }
    }
}

impl Element for f64 {
    const MR: usize = 6;
    const NR: usize = 8;
    const KC: usize = 256;
    const MC: usize = 72;
    const NC: usize = 4080 / 8 * 8;
    const ZERO: f64 = 0.0;

    unsafe fn kernel(
        kc: usize,
        a: *const f64,
        b: *const f64,
        c: *mut f64,
        rsc: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { kernel_f64(kc, a, b, c, rsc, accumulate) }
    }
}

/// 6 x 16 f32 tile: 12 accumulators, per `p` two loads of `b` and six broadcasts of `a`.
///
/// # Safety
/// As [`Element::kernel`].
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_f32(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    let mut c00 = _mm256_setzero_ps();
    let mut c01 = _mm256_setzero_ps();
    let mut c10 = _mm256_setzero_ps();
    let mut c11 = _mm256_setzero_ps();
    let mut c20 = _mm256_setzero_ps();
    let mut c21 = _mm256_setzero_ps();
    let mut c30 = _mm256_setzero_ps();
    let mut c31 = _mm256_setzero_ps();
    let mut c40 = _mm256_setzero_ps();
    let mut c41 = _mm256_setzero_ps();
    let mut c50 = _mm256_setzero_ps();
    let mut c51 = _mm256_setzero_ps();
    // The six rows' accumulator pairs; a macro (defined here, where the accumulators are in
    // scope) so that the row loop becomes straight-line code over named registers.
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
            // SAFETY: p < kc, so b[p*16 .. p*16 + 16] and a[p*6 .. p*6 + 6] are in the panels.
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_ps(b.add($p * 16)),
                    _mm256_loadu_ps(b.add($p * 16 + 8)),
                )
            };
            macro_rules! fma_row {
                ($r:expr, $x0:ident, $x1:ident) => {
                    // SAFETY: as above.
                    let x = _mm256_set1_ps(unsafe { *a.add($p * 6 + $r) });
                    $x0 = _mm256_fmadd_ps(x, b0, $x0);
                    $x1 = _mm256_fmadd_ps(x, b1, $x1);
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
            a = a.add(24);
            b = b.add(64);
        }
    }
    for _ in 0..kc % 4 {
        step!(0);
        // SAFETY: as above, one step.
        unsafe {
            a = a.add(6);
            b = b.add(16);
        }
    }
    macro_rules! write_row {
        ($r:expr, $x0:ident, $x1:ident) => {
            // SAFETY: c[r*rsc + 0..16] is inside the tile the caller gave.
            unsafe {
                let p = c.add($r * rsc);
                if accumulate {
                    $x0 = _mm256_add_ps(_mm256_loadu_ps(p), $x0);
                    $x1 = _mm256_add_ps(_mm256_loadu_ps(p.add(8)), $x1);
                }
                _mm256_storeu_ps(p, $x0);
                _mm256_storeu_ps(p.add(8), $x1);
            }
        };
    }
    rows6!(write_row);
}

/// 6 x 8 f64 tile: 12 accumulators, per `p` two loads of `b` and six broadcasts of `a`.
///
/// # Safety
/// As [`Element::kernel`].
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_f64(
    kc: usize,
    a: *const f64,
    b: *const f64,
    c: *mut f64,
    rsc: usize,
    accumulate: bool,
) {
    let mut c00 = _mm256_setzero_pd();
    let mut c01 = _mm256_setzero_pd();
    let mut c10 = _mm256_setzero_pd();
    let mut c11 = _mm256_setzero_pd();
    let mut c20 = _mm256_setzero_pd();
    let mut c21 = _mm256_setzero_pd();
    let mut c30 = _mm256_setzero_pd();
    let mut c31 = _mm256_setzero_pd();
    let mut c40 = _mm256_setzero_pd();
    let mut c41 = _mm256_setzero_pd();
    let mut c50 = _mm256_setzero_pd();
    let mut c51 = _mm256_setzero_pd();
    // The six rows' accumulator pairs; a macro (defined here, where the accumulators are in
    // scope) so that the row loop becomes straight-line code over named registers.
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
    macro_rules! step {
        ($p:expr) => {{
            // SAFETY: p < kc, so b[p*8 .. p*8 + 8] and a[p*6 .. p*6 + 6] are in the panels.
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_pd(b.add($p * 8)),
                    _mm256_loadu_pd(b.add($p * 8 + 4)),
                )
            };
            macro_rules! fma_row {
                ($r:expr, $x0:ident, $x1:ident) => {
                    // SAFETY: as above.
                    let x = _mm256_set1_pd(unsafe { *a.add($p * 6 + $r) });
                    $x0 = _mm256_fmadd_pd(x, b0, $x0);
                    $x1 = _mm256_fmadd_pd(x, b1, $x1);
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
            a = a.add(24);
            b = b.add(32);
        }
    }
    for _ in 0..kc % 4 {
        step!(0);
        // SAFETY: as above, one step.
        unsafe {
            a = a.add(6);
            b = b.add(8);
        }
    }
    macro_rules! write_row {
        ($r:expr, $x0:ident, $x1:ident) => {
            // SAFETY: c[r*rsc + 0..8] is inside the tile the caller gave.
            unsafe {
                let p = c.add($r * rsc);
                if accumulate {
                    $x0 = _mm256_add_pd(_mm256_loadu_pd(p), $x0);
                    $x1 = _mm256_add_pd(_mm256_loadu_pd(p.add(4)), $x1);
                }
                _mm256_storeu_pd(p, $x0);
                _mm256_storeu_pd(p.add(4), $x1);
            }
        };
    }
    rows6!(write_row);
}
