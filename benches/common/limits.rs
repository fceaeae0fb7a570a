//! The machine's limits, measured by the suite itself so that every workload's `limit_ms` floor
//! comes from the same machine, in the same run, as the workload's time:
//!
//! - copy bandwidth: `copy_from_slice` of 64 MiB, on 1 and on all threads, in GB/s counting
//!   the bytes read plus the bytes written;
//! - a hand-written AVX2 + FMA loop `y = a*x + b` (std::arch, runtime feature detection, plain
//!   stores) streaming 64 MiB in and 64 MiB out: what a good compiled elementwise kernel can
//!   reach, counted the same way;
//! - peak GEMM throughput of the best GEMM available to the bench (`matrixmultiply` with
//!   threading; kiln's codegen does not expose its own GEMM yet), best of 1024³ and 2048³.
//!
//! The floor of a workload is `bytes / best copy bandwidth` for streaming workloads and
//! `flops / GEMM peak` (plus the optimiser's streaming bytes) for GEMM-bound ones: a time no
//! implementation on this machine can be expected to beat.

use std::hint::black_box;
use std::time::Instant;

/// 64 MiB of `f32`: far larger than any cache here, so the loops measure memory.
pub const STREAM_LEN: usize = 16 << 20;

/// The measured limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Copy bandwidth on one thread, GB/s (read + write).
    pub copy_gbs_1t: f64,
    /// Copy bandwidth on all threads, GB/s (read + write).
    pub copy_gbs: f64,
    /// `y = a*x + b` on one thread, GB/s (read + write).
    pub axpb_gbs_1t: f64,
    /// `y = a*x + b` on all threads, GB/s (read + write).
    pub axpb_gbs: f64,
    /// Which `y = a*x + b` loop ran (`avx2+fma` or `scalar`).
    pub axpb_impl: &'static str,
    /// Best GEMM throughput, GFLOP/s (2 flops per multiply-add).
    pub gemm_gflops: f64,
    /// Threads used by the multi-threaded measurements.
    pub threads: usize,
}

impl Limits {
    /// The best streaming bandwidth measured, GB/s: the divisor of every bytes floor.
    pub fn bandwidth_gbs(&self) -> f64 {
        self.copy_gbs.max(self.copy_gbs_1t)
    }

    /// Milliseconds to move `bytes` at the best measured bandwidth.
    pub fn bytes_ms(&self, bytes: f64) -> f64 {
        bytes / (self.bandwidth_gbs() * 1e9) * 1e3
    }

    /// Milliseconds to compute `flops` at the GEMM peak.
    pub fn flops_ms(&self, flops: f64) -> f64 {
        flops / (self.gemm_gflops * 1e9) * 1e3
    }
}

/// Threads the multi-threaded measurements use: the machine's available parallelism.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Makes `matrixmultiply` use every core. Its thread pool reads `MATMUL_NUM_THREADS` once,
/// on first use, and otherwise counts physical cores, which a VM may under-report; so this must
/// run before the first GEMM and is a no-op if the user set the variable.
pub fn init_gemm_threads() {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", threads().to_string());
    }
}

/// Measures every limit; `reps` timed repetitions of each (best kept: a limit is what the
/// machine can do, and noise only ever makes a run slower).
pub fn measure(reps: usize, gemm_sizes: &[usize]) -> Limits {
    init_gemm_threads();
    let threads = threads();
    let x: Vec<f32> = (0..STREAM_LEN).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let mut y = vec![0.0f32; STREAM_LEN];
    let bytes = 2.0 * (STREAM_LEN * 4) as f64;
    let gbs = |secs: f64| bytes / secs / 1e9;
    let copy_gbs_1t = gbs(best_secs(reps, || copy(&x, &mut y, 1)));
    let copy_gbs = gbs(best_secs(reps, || copy(&x, &mut y, threads)));
    let mut axpb_impl = "scalar";
    let axpb_gbs_1t = gbs(best_secs(reps, || {
        axpb_impl = axpb(2.0, 1.0, &x, &mut y, 1)
    }));
    let axpb_gbs = gbs(best_secs(reps, || {
        axpb_impl = axpb(2.0, 1.0, &x, &mut y, threads)
    }));
    drop((x, y));
    let gemm_gflops = gemm_sizes
        .iter()
        .map(|&n| gemm_gflops(n, reps.clamp(2, 5)))
        .fold(0.0, f64::max);
    Limits {
        copy_gbs_1t,
        copy_gbs,
        axpb_gbs_1t,
        axpb_gbs,
        axpb_impl,
        gemm_gflops,
        threads,
    }
}

/// Best wall time of `reps` runs of `f` after one untimed warm-up (page faults, thread start).
fn best_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// `y.copy_from_slice(x)` split into `threads` contiguous chunks (memcpy: the libc copy uses
/// non-temporal stores for large blocks, the fastest way to move memory).
pub fn copy(x: &[f32], y: &mut [f32], threads: usize) {
    split(x, y, threads, |xs, ys| ys.copy_from_slice(xs));
}

/// `y = a*x + b` over `threads` contiguous chunks; returns which loop ran.
pub fn axpb(a: f32, b: f32, x: &[f32], y: &mut [f32], threads: usize) -> &'static str {
    let imp = axpb_impl();
    split(x, y, threads, |xs, ys| axpb_chunk(imp, a, b, xs, ys));
    imp
}

/// Runs `f` on matching chunks of `x` and `y` on `threads` scoped threads.
fn split(x: &[f32], y: &mut [f32], threads: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) {
    let n = x.len().min(y.len());
    if threads <= 1 {
        f(&x[..n], &mut y[..n]);
        return;
    }
    // Chunks are a multiple of 16 floats (64 bytes) so that no cache line is shared.
    let chunk = n.div_ceil(threads).div_ceil(16) * 16;
    std::thread::scope(|s| {
        for (xs, ys) in x[..n].chunks(chunk).zip(y[..n].chunks_mut(chunk)) {
            let f = &f;
            s.spawn(move || f(xs, ys));
        }
    });
}

/// The best `y = a*x + b` loop this CPU supports, detected at run time.
fn axpb_impl() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
    }
    "scalar"
}

fn axpb_chunk(imp: &'static str, a: f32, b: f32, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if imp == "avx2+fma" {
            // SAFETY: `axpb_impl` returned "avx2+fma" only after detecting both features on
            // this CPU, which is what calling a `#[target_feature(enable = "avx2,fma")]`
            // function requires.
            unsafe { axpb_avx2(a, b, x, y) };
            return;
        }
    }
    let _ = imp;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = a * xi + b;
    }
}

/// `y[i] = a*x[i] + b` with 256-bit FMAs, four vectors per iteration (independent chains so
/// that load latency overlaps), then a scalar tail.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpb_avx2(a: f32, b: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_storeu_ps};
    let n = x.len().min(y.len());
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    let va = _mm256_set1_ps(a);
    let vb = _mm256_set1_ps(b);
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n and both slices hold at least n floats, so the four 8-float
        // loads and stores at i, i+8, i+16, i+24 are in bounds; loadu/storeu need no
        // alignment; x and y are distinct borrows, so they do not overlap.
        unsafe {
            let r0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xp.add(i)), vb);
            let r1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xp.add(i + 8)), vb);
            let r2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xp.add(i + 16)), vb);
            let r3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xp.add(i + 24)), vb);
            _mm256_storeu_ps(yp.add(i), r0);
            _mm256_storeu_ps(yp.add(i + 8), r1);
            _mm256_storeu_ps(yp.add(i + 16), r2);
            _mm256_storeu_ps(yp.add(i + 24), r3);
        }
        i += 32;
    }
    for (yj, &xj) in y[i..n].iter_mut().zip(&x[i..n]) {
        *yj = a.mul_add(xj, b);
    }
}

/// Throughput of `matrixmultiply::sgemm` on `n x n` row-major matrices, GFLOP/s (best of
/// `reps`).
pub fn gemm_gflops(n: usize, reps: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; n * n];
    let secs = best_secs(reps, || sgemm(n, n, n, &a, &b, &mut c));
    black_box(&c);
    2.0 * (n as f64).powi(3) / secs / 1e9
}

/// `c = a b` for row-major `a: m x k`, `b: k x n`, `c: m x n` with `matrixmultiply`.
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "sgemm: buffers smaller than {m}x{k} * {k}x{n}"
    );
    // SAFETY: the assert above guarantees that every element addressed through the row-major
    // strides (rows of k, n and n elements, unit column stride) lies inside the three slices;
    // `c` is a unique borrow, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
