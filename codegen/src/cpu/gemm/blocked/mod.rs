//! kiln's own GEMM for x86-64 with AVX2 + FMA: BLIS-style blocking with packed panels and a
//! register-blocked micro-kernel ([`micro`]), `c (m x n, row-major) = a * b` for arbitrary
//! strides of `a` and `b`.
//!
//! Loop nest (per thread, over its block of `c`), from the outside in:
//! 1. `jc`: columns in blocks of `NC`;
//! 2. `pc`: `k` in blocks of `KC` (always from 0 up, so every element's sum is accumulated in
//!    the same order); the `KC x NC` block of `b` is packed into `NR`-column micro-panels;
//! 3. `ic`: rows in blocks of `MC`; the `MC x KC` block of `a` is packed into `MR`-row
//!    micro-panels (it stays in L2 while the kernels sweep the `b` panel);
//! 4. `jr`, `ir`: one micro-kernel call per `MR x NR` tile; a tile that sticks out of `c` runs
//!    on a scratch tile and only its inside is copied back, so nothing outside `m x n` is
//!    written.
//!
//! Threads each take a block of whole micro-tile rows (or, when `m` is too short to share,
//! columns) and pack their own panels, so they never wait for each other. The result does not
//! depend on the split: see [`micro`].

mod micro;
mod pack;
mod scratch;

pub use micro::Element;

use std::ops::Range;

use pack::{pack_a, pack_b};
use scratch::Scratch;

/// Whether this CPU can run the kernels (checked at run time; std caches the answer).
pub fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Multiply-adds each extra thread must have before it is worth spawning (a spawn and join
/// costs tens of microseconds; a million multiply-adds take about as long on one core).
const MIN_WORK_PER_THREAD: usize = 1 << 20;

/// `c[i*n + j] = sum_p a[i*rsa + p*csa] * b[p*rsb + j*csb]` for `i < m, j < n` on up to
/// `threads` threads (fewer for small products).
///
/// # Safety
/// [`available`] must be true. Every `a + i*rsa + p*csa` and `b + p*rsb + j*csb`
/// (`i < m, p < k, j < n`) must be readable, `c[0..m*n]` writable, not overlapping `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Element>(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    c: *mut T,
) {
    let work = m.saturating_mul(n).saturating_mul(k);
    let threads = threads.min(work / MIN_WORK_PER_THREAD).max(1);
    // SAFETY: forwarded.
    unsafe { gemm_on(threads, m, n, k, a, rsa, csa, b, rsb, csb, c) }
}

/// The operands of one product, shared by its threads.
#[derive(Clone, Copy)]
struct Operands<T> {
    k: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    /// Row-major output with row stride `ldc`.
    c: *mut T,
    ldc: usize,
}

// SAFETY: the threads only read `a` and `b` and write disjoint blocks of `c` (see `gemm_on`);
// the pointers stay valid for the whole scope they are used in.
unsafe impl<T: Send> Send for Operands<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Operands<T> {}

/// [`gemm`] on exactly `threads` threads (or as many as there are micro-tile rows/columns).
///
/// # Safety
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub(in crate::cpu::gemm) unsafe fn gemm_on<T: Element>(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    c: *mut T,
) {
    assert!(available(), "the blocked GEMM needs AVX2 and FMA");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: `c` is valid for m * n writes.
        unsafe { std::ptr::write_bytes(c, 0, m * n) };
        return;
    }
    let ops = Operands {
        k,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        c,
        ldc: n,
    };
    let (tiles_m, tiles_n) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
    // Split the rows unless there are too few of them to go round; each part is whole tiles.
    let by_rows = tiles_m >= 2 * threads || tiles_m >= tiles_n;
    let tiles = if by_rows { tiles_m } else { tiles_n };
    let threads = threads.clamp(1, tiles);
    let part = |t: usize| -> (Range<usize>, Range<usize>) {
        let (lo, hi) = (tiles * t / threads, tiles * (t + 1) / threads);
        if by_rows {
            (lo * T::MR..m.min(hi * T::MR), 0..n)
        } else {
            (0..m, lo * T::NR..n.min(hi * T::NR))
        }
    };
    if threads == 1 {
        // SAFETY: the whole of `c`; the caller's contract covers every access.
        unsafe { block(ops, 0..m, 0..n) };
        return;
    }
    std::thread::scope(|s| {
        for t in 1..threads {
            let (rows, cols) = part(t);
            s.spawn(move || {
                // SAFETY: the parts are disjoint blocks of `c` inside m x n; `a`, `b` are only
                // read; the scope joins every thread before the caller's borrows end.
                unsafe { block(ops, rows, cols) }
            });
        }
        let (rows, cols) = part(0);
        // SAFETY: as above, part 0.
        unsafe { block(ops, rows, cols) };
    });
}

/// One thread's block `rows x cols` of `c`.
///
/// # Safety
/// As [`gemm`], with `rows` inside `0..m` and `cols` inside `0..n`; no other thread writes this
/// block concurrently.
unsafe fn block<T: Element>(ops: Operands<T>, rows: Range<usize>, cols: Range<usize>) {
    let (mr, nr) = (T::MR, T::NR);
    let k = ops.k;
    let kc_max = T::KC.min(k);
    let mc_max = T::MC.min(rows.len().next_multiple_of(mr));
    let nc_max = T::NC.min(cols.len().next_multiple_of(nr));
    let mut apack = Scratch::<T>::new(mc_max * kc_max);
    let mut bpack = Scratch::<T>::new(nc_max * kc_max);
    let mut edge = Scratch::<T>::new(mr * nr);
    let (ap, bp, ep) = (apack.as_mut_ptr(), bpack.as_mut_ptr(), edge.as_mut_ptr());
    for jc in cols.clone().step_by(nc_max) {
        let nc = nc_max.min(cols.end - jc);
        for pc in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - pc);
            let accumulate = pc > 0;
            // SAFETY: (pc, jc) is an element of `b` (pc < k, jc < n); the kc x nc block from it
            // is inside `b`; `bp` holds ceil(nc / NR) * NR * kc <= nc_max * kc_max elements.
            unsafe {
                let src = ops.b.offset(pc as isize * ops.rsb + jc as isize * ops.csb);
                pack_b(kc, nc, src, ops.rsb, ops.csb, bp);
            }
            for ic in rows.clone().step_by(mc_max) {
                let mc = mc_max.min(rows.end - ic);
                // SAFETY: as for `b`: rows ic..ic+mc < m, columns pc..pc+kc < k of `a`.
                unsafe {
                    let src = ops.a.offset(ic as isize * ops.rsa + pc as isize * ops.csa);
                    pack_a(mc, kc, src, ops.rsa, ops.csa, ap);
                }
                for (qj, jr) in (0..nc).step_by(nr).enumerate() {
                    let ncols = nr.min(nc - jr);
                    // SAFETY: micro-panel qj of the packed `b` block.
                    let bq = unsafe { bp.add(qj * nr * kc) };
                    for (qi, ir) in (0..mc).step_by(mr).enumerate() {
                        let nrows = mr.min(mc - ir);
                        // SAFETY: micro-panel qi of the packed `a` block; tile (ic+ir, jc+jr)
                        // starts inside `c` (ic+ir < m, jc+jr < n).
                        let (aq, ct) = unsafe {
                            (
                                ap.add(qi * mr * kc),
                                ops.c.add((ic + ir) * ops.ldc + jc + jr),
                            )
                        };
                        if nrows == mr && ncols == nr {
                            // SAFETY: AVX2 + FMA checked in `gemm_on`; the panels hold kc
                            // steps; the whole MR x NR tile is inside this thread's block.
                            unsafe { T::kernel(kc, aq, bq, ct, ops.ldc, accumulate) };
                        } else {
                            // SAFETY: `ep` holds MR x NR elements (row stride NR); only the
                            // nrows x ncols inside of the tile is read from or written to `c`.
                            unsafe {
                                if accumulate {
                                    for r in 0..nrows {
                                        std::ptr::copy_nonoverlapping(
                                            ct.add(r * ops.ldc),
                                            ep.add(r * nr),
                                            ncols,
                                        );
                                    }
                                }
                                T::kernel(kc, aq, bq, ep, nr, accumulate);
                                for r in 0..nrows {
                                    std::ptr::copy_nonoverlapping(
                                        ep.add(r * nr),
                                        ct.add(r * ops.ldc),
                                        ncols,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
