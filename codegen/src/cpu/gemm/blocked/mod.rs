//! kiln's own GEMM for x86-64 with AVX2 + FMA: BLIS-style blocking with packed panels and a
//! register-blocked micro-kernel ([`micro`]), `c (m x n, row-major) = a * b` for arbitrary
//! (also negative or zero) strides of `a` and `b`, `c` only written (beta = 0).
//!
//! Loop nest, from the outside in:
//! 1. `jc`: columns in blocks of `NC`;
//! 2. `k` groups: as many `KC` blocks as fit in [`B_GROUP_BYTES`] of packed `b` (all of `k`
//!    for 1024² f32); the threads pack the group's `KC x NR` micro-panels between them, then
//!    meet at a barrier (and again before the next group overwrites it);
//! 3. chunks: ranges of `MR`-row tiles (or, when `m` is too short to go round, of `NR`-column
//!    micro-panels), handed out by an atomic cursor, big ones (`MC` rows) first and single
//!    tiles at the end, so that a thread slowed down by other load on its core does not hold
//!    the others up;
//! 4. `pc`: the group's `KC` blocks in order (the first stores into `c`, later ones add);
//! 5. `ic`: rows in blocks of `MC` (at most one per chunk in row mode), packed by the thread
//!    into its own `MR`-row micro-panels, which stay in L2 while the kernels sweep `b`;
//! 6. `jr`, `ir`: one micro-kernel call per `MR x NR` tile; a tile that sticks out of `c` runs
//!    on a scratch tile and only its inside is copied back, so nothing outside `m x n` is
//!    written.
//!
//! The helper threads are persistent ([`pool`]). The packed panels live in one 64-byte aligned
//! scratch, cached per calling thread ([`scratch`]). Every element of `c` gets its `k` blocks in order and each block's products in
//! order (see [`micro`]), whichever thread, chunk or call computes it, so the result does not
//! depend on the thread count or on how rows are split across calls.

mod micro;
mod pack;
mod pool;
mod scratch;

pub use micro::Element;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use super::Operands;
use pack::{pack_a, pack_b};

/// Whether this CPU can run the kernels (checked at run time; std caches the answer).
pub fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Multiply-adds each thread must have before another one takes part: waking a pool thread and
/// the barriers cost 10-20 µs, about what half a million multiply-adds take on one core.
/// Measured on the shared 2-core machine: 2 threads beat 1 from about 100³ (f64) / 128³ (f32)
/// (f32 128³: 107-112 vs 88 GFLOP/s; 192³: 129-155 vs 94), and lost at 64³.
const MIN_WORK_PER_THREAD: usize = 1 << 19;

/// `c[i*n + j] = sum_p a[i*rsa + p*csa] * b[p*rsb + j*csb]` for `i < m, j < n` on up to
/// `threads` threads (fewer for small products).
///
/// # Safety
/// [`available`] must be true, and `ops` must meet the [`Operands`] contract.
pub unsafe fn gemm<T: Element>(threads: usize, ops: Operands<T>) {
    let work = ops.m.saturating_mul(ops.n).saturating_mul(ops.k);
    let threads = threads.min(work / MIN_WORK_PER_THREAD).max(1);
    // SAFETY: forwarded.
    unsafe { gemm_on(threads, ops) }
}

/// Bytes of packed `b` shared by the threads at a time (a `k` range of `KC` blocks times an
/// `NC` column block; at least one `KC` block). Bigger groups mean fewer barriers; this keeps
/// it well inside L3.
const B_GROUP_BYTES: usize = 8 << 20;

/// The shape of the work, the same for every thread.
#[derive(Clone, Copy)]
struct Plan {
    threads: usize,
    /// Chunks are ranges of `MR`-row tiles (all columns of the `jc` block) if true, else ranges
    /// of `NR`-column micro-panels (all rows).
    by_rows: bool,
    nc_max: usize,
    /// `k` per group of packed `b` (a multiple of `KC`).
    group_k: usize,
    /// Elements of one thread's packed `a` block, and where the first one starts in the
    /// scratch (after the packed `b` group), both in elements.
    a_len: usize,
    a_base: usize,
}

/// What the threads share: the operands, the packed `b` group and the chunk cursor.
struct Shared<T> {
    ops: Operands<T>,
    plan: Plan,
    /// The scratch: packed `b` group, then one packed `a` block per thread.
    buf: *mut T,
    /// The next unit (tile row or micro-panel) of the current group not yet handed out.
    cursor: AtomicUsize,
    barrier: Barrier,
}

// SAFETY: the threads only read `a` and `b`; each writes the packed `b` units and the chunks of
// `c` it took (disjoint, handed out once each) and its own packed `a` block; reads of packed
// `b` happen after a barrier that follows all its writes, and writes to it after a barrier
// that follows all its reads. All pointers outlive `Lease::run`, which returns only after every
// part has.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Shared<T> {}

/// [`gemm`] on at most `threads` threads (fewer if there are not enough micro-tile rows or
/// columns to hand out).
///
/// # Safety
/// As [`gemm`].
pub(in crate::cpu::gemm) unsafe fn gemm_on<T: Element>(threads: usize, ops: Operands<T>) {
    assert!(available(), "the blocked GEMM needs AVX2 and FMA");
    let (m, n, k) = (ops.m, ops.n, ops.k);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: `c` is valid for m * n writes (the `Operands` contract).
        unsafe { std::ptr::write_bytes(ops.c, 0, m * n) };
        return;
    }
    let (tiles_m, tiles_n) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
    // Hand out rows unless there are too few of them to go round.
    let by_rows = tiles_m >= 2 * threads || tiles_m >= tiles_n;
    // The pool may grant fewer parts than asked (busy, or helpers that cannot start): the
    // result is the same for any number.
    let lease = pool::acquire(threads.clamp(1, if by_rows { tiles_m } else { tiles_n }));
    let threads = lease.threads();
    let nc_max = T::NC.min(tiles_n * T::NR);
    let kc_max = T::KC.min(k);
    let group_k = (B_GROUP_BYTES / size_of::<T>() / (nc_max * T::KC)).max(1) * T::KC;
    let b_len = nc_max * group_k.min(k.next_multiple_of(kc_max));
    let a_len = (T::MC.min(tiles_m * T::MR) * kc_max).next_multiple_of(scratch::ALIGN);
    let plan = Plan {
        threads,
        by_rows,
        nc_max,
        group_k,
        a_len,
        a_base: b_len.next_multiple_of(scratch::ALIGN),
    };
    let bytes = (plan.a_base + threads * a_len) * size_of::<T>();
    scratch::with_scratch(bytes, |s| {
        let shared = Shared {
            ops,
            plan,
            buf: s.as_mut_ptr().cast::<T>(),
            cursor: AtomicUsize::new(0),
            barrier: Barrier::new(threads),
        };
        // SAFETY: the caller's contract covers every access; the scratch holds `bytes`;
        // `lease.run` runs parts 0..threads concurrently, once each (see `Shared` for how the
        // threads stay apart) and returns only after all have.
        lease.run(&|t| unsafe { worker(&shared, t) });
    });
}

/// Takes the next chunk of `units` units (guided: big chunks first, down to single units at
/// the end so the threads finish together), or `None` when all are taken.
fn next_chunk(
    cursor: &AtomicUsize,
    units: usize,
    threads: usize,
    max: usize,
) -> Option<Range<usize>> {
    let mut start = cursor.load(Ordering::Relaxed);
    loop {
        if start >= units {
            return None;
        }
        let size = (units - start).div_ceil(2 * threads).clamp(1, max);
        match cursor.compare_exchange_weak(
            start,
            start + size,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Some(start..start + size),
            Err(now) => start = now,
        }
    }
}

/// Thread `t`'s share of the product: for each column block and `k` group, pack its share of
/// the `b` group, wait for the others, then compute chunks of `c` until none are left, and wait
/// again before the next group overwrites the packed `b`.
///
/// # Safety
/// As [`gemm`] for `shared.ops`; `shared.buf` holds the scratch `gemm_on` sized for the plan;
/// `t < threads`, and every thread `0..threads` runs this once, concurrently.
unsafe fn worker<T: Element>(shared: &Shared<T>, t: usize) {
    let (ops, plan) = (shared.ops, shared.plan);
    let (mr, nr, kcb) = (T::MR, T::NR, T::KC);
    let threads = plan.threads;
    let bbuf = shared.buf;
    // SAFETY: thread t's packed `a` block is inside the scratch (a_base + threads * a_len).
    let apack = unsafe { shared.buf.add(plan.a_base + t * plan.a_len) };
    let tiles_m = ops.m.div_ceil(mr);
    let mut first = true;
    for jc in (0..ops.n).step_by(plan.nc_max) {
        let nc = plan.nc_max.min(ops.n - jc);
        let panels = nc.div_ceil(nr);
        for pg in (0..ops.k).step_by(plan.group_k) {
            let gk = plan.group_k.min(ops.k - pg);
            let kblocks = gk.div_ceil(kcb);
            // Packed `b` of k block `kb` starts at kb * KC * panels * NR; panel q of it at
            // q * NR * kc within.
            let b_at = |kb: usize, q: usize, kc: usize| kb * kcb * panels * nr + q * nr * kc;
            if !first {
                // Everyone is done reading the previous group.
                shared.barrier.wait();
            }
            first = false;
            if t == 0 {
                // Nobody takes chunks of this group before the barrier below, which thread 0
                // reaches only after this.
                shared.cursor.store(0, Ordering::Relaxed);
            }
            let units = kblocks * panels;
            for u in units * t / threads..units * (t + 1) / threads {
                let (kb, q) = (u / panels, u % panels);
                let pc = pg + kb * kcb;
                let kc = kcb.min(ops.k - pc);
                let (j0, cols) = (jc + q * nr, nr.min(nc - q * nr));
                // SAFETY: (pc, j0) is an element of `b` (pc < k, j0 < n) and the kc x cols
                // block from it is inside; the destination panel is inside the packed group
                // (kb < kblocks, q < panels) and only this thread writes it.
                unsafe {
                    let src = ops.b.offset(pc as isize * ops.rsb + j0 as isize * ops.csb);
                    pack_b(kc, cols, src, ops.rsb, ops.csb, bbuf.add(b_at(kb, q, kc)));
                }
            }
            // The whole group is packed.
            shared.barrier.wait();
            let (units, max) = if plan.by_rows {
                (tiles_m, T::MC / mr)
            } else {
                (panels, usize::MAX)
            };
            while let Some(chunk) = next_chunk(&shared.cursor, units, threads, max) {
                let (rows, qs) = if plan.by_rows {
                    (chunk.start * mr..ops.m.min(chunk.end * mr), 0..panels)
                } else {
                    (0..ops.m, chunk)
                };
                for kb in 0..kblocks {
                    let pc = pg + kb * kcb;
                    let kc = kcb.min(ops.k - pc);
                    for ic in rows.clone().step_by(T::MC) {
                        let mc = T::MC.min(rows.end - ic);
                        // SAFETY: rows ic..ic+mc < m, columns pc..pc+kc < k of `a`; the packed
                        // block (<= MC x KC, within a_len) is this thread's own.
                        unsafe {
                            let src = ops.a.offset(ic as isize * ops.rsa + pc as isize * ops.csa);
                            pack_a(mc, kc, src, ops.rsa, ops.csa, apack);
                        }
                        for q in qs.clone() {
                            // SAFETY: panel q of k block kb of the packed group.
                            let bq = unsafe { bbuf.add(b_at(kb, q, kc)) };
                            let (j, ncols) = (jc + q * nr, nr.min(nc - q * nr));
                            // SAFETY: tiles of rows ic..ic+mc, columns j..j+ncols of `c`: this
                            // thread's chunk; the panels hold kc steps.
                            unsafe { tiles(ops, apack, bq, kc, ic, mc, j, ncols, pc > 0) };
                        }
                    }
                }
            }
        }
    }
}

/// The micro-kernel over rows `ic..ic+mc` (packed at `apack`) and the columns `j..j+ncols`
/// (one micro-panel at `bq`) of `c`.
///
/// # Safety
/// AVX2 + FMA present; `apack` holds `ceil(mc / MR)` packed micro-panels and `bq` one, `kc`
/// deep; rows `ic..ic+mc` and columns `j..j+ncols` (`ncols <= NR`) lie inside `c`, which no
/// other thread is writing there.
#[allow(clippy::too_many_arguments)]
unsafe fn tiles<T: Element>(
    ops: Operands<T>,
    apack: *const T,
    bq: *const T,
    kc: usize,
    ic: usize,
    mc: usize,
    j: usize,
    ncols: usize,
    accumulate: bool,
) {
    let (mr, nr, ldc) = (T::MR, T::NR, ops.n);
    // A tile that sticks out of `c` runs on this scratch tile (MR x NR, row stride NR).
    let mut edge = [0u64; 6 * 16 / 2];
    assert!(mr * nr * size_of::<T>() <= size_of_val(&edge));
    let ep = edge.as_mut_ptr().cast::<T>();
    for (qi, ir) in (0..mc).step_by(mr).enumerate() {
        let nrows = mr.min(mc - ir);
        // SAFETY: micro-panel qi of the packed `a` block; tile (ic+ir, j) starts inside `c`.
        let (aq, ct) = unsafe { (apack.add(qi * mr * kc), ops.c.add((ic + ir) * ldc + j)) };
        if nrows == mr && ncols == nr {
            // SAFETY: the whole MR x NR tile is inside `c` (and this thread's chunk).
            unsafe { T::kernel(kc, aq, bq, ct, ldc, accumulate) };
        } else {
            // SAFETY: `ep` holds MR x NR elements (checked above; u64 alignment suffices for
            // f32/f64 and unaligned vector loads); only the nrows x ncols inside of the tile is
            // read from or written to `c`.
            unsafe {
                if accumulate {
                    for r in 0..nrows {
                        std::ptr::copy_nonoverlapping(ct.add(r * ldc), ep.add(r * nr), ncols);
                    }
                }
                T::kernel(kc, aq, bq, ep, nr, accumulate);
                for r in 0..nrows {
                    std::ptr::copy_nonoverlapping(ep.add(r * nr), ct.add(r * ldc), ncols);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
