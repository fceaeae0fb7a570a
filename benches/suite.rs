//! Criterion benchmarks of issue 6: the machine's limits and every workload of
//! `benches/common/workloads.rs` (W0-W7), on each device this kiln can name, fused and (where
//! the device offers it) eager.
//!
//! ```sh
//! cargo bench --bench suite                 # everything (long: criterion takes >= 10 samples)
//! cargo bench --bench suite -- "W2|limits"  # a filter (regex over the benchmark ids)
//! KILN_BENCH_ALL=1 cargo bench --bench suite   # also every workload on the interpreter
//! ```
//!
//! Criterion needs at least 10 samples per benchmark, so on the reference interpreter (seconds
//! to minutes per run at these sizes) only W6 runs unless `KILN_BENCH_ALL=1`; the quick runner
//! (`cargo run --release --example bench -- --quick`) covers the rest with a time limit. The `limit_ms` floors are printed by that runner;
//! here the limits are benchmarks of their own (`limits/...`), with throughput in bytes or
//! flops so criterion prints GB/s and Gelem/s (= GFLOP/s).

mod common;

use common::limits::{self, STREAM_LEN};
use common::workloads;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn bench_limits(c: &mut Criterion) {
    let threads = limits::threads();
    let x: Vec<f32> = (0..STREAM_LEN).map(|i| (i % 1000) as f32 * 1e-3).collect();
    let mut y = vec![0.0f32; STREAM_LEN];
    let mut g = c.benchmark_group("limits");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(2 * (STREAM_LEN * 4) as u64));
    g.bench_function("copy_1t", |b| b.iter(|| limits::copy(&x, &mut y, 1)));
    g.bench_function(format!("copy_{threads}t"), |b| {
        b.iter(|| limits::copy(&x, &mut y, threads))
    });
    g.bench_function("axpb_1t", |b| {
        b.iter(|| limits::axpb(2.0, 1.0, &x, &mut y, 1))
    });
    g.bench_function(format!("axpb_{threads}t"), |b| {
        b.iter(|| limits::axpb(2.0, 1.0, &x, &mut y, threads))
    });
    drop((x, y));
    limits::init_gemm_threads();
    for n in [1024usize, 2048] {
        let a = vec![0.5f32; n * n];
        let bm = vec![0.25f32; n * n];
        let mut cm = vec![0.0f32; n * n];
        g.sample_size(10);
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        g.bench_function(format!("sgemm_matrixmultiply_{n}"), |b| {
            b.iter(|| limits::sgemm(n, n, n, &a, &bm, &mut cm))
        });
        black_box(&cm);
    }
    g.finish();
}

fn bench_workloads(c: &mut Criterion) {
    let run_all = std::env::var_os("KILN_BENCH_ALL").is_some();
    for spec in workloads::all() {
        if spec.key.starts_with("W7") {
            continue;
        }
        let mut g = c.benchmark_group(spec.name);
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(5));
        for choice in common::devices() {
            // The reference interpreter takes seconds to minutes per run on these sizes
            // (criterion needs 10 samples): only W6 runs on it unless asked.
            if !choice.compiles && spec.key != "W6" && !run_all {
                eprintln!(
                    "{} on {}: skipped (too slow for criterion; KILN_BENCH_ALL=1 runs it)",
                    spec.name, choice.label
                );
                continue;
            }
            let modes: &[bool] = if choice.has_eager {
                &[false, true]
            } else {
                &[false]
            };
            for &eager in modes {
                let id = format!("{}-{}", choice.label, if eager { "eager" } else { "fused" });
                // Built on first use inside the routine, so that `--list` and filtered-out
                // benchmarks cost nothing (inputs are up to 64 MiB).
                let mut job = None;
                g.bench_function(id, |b| {
                    let job = job.get_or_insert_with(|| {
                        let configure = |gr: &kiln::Graph| common::configure(gr, &choice, eager);
                        workloads::prepare(spec.key, &configure).expect("building the workload")
                    });
                    b.iter(|| job.run().expect("workload run failed"))
                });
            }
        }
        g.finish();
    }
}

fn bench_compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("W7 compile latency W5");
    g.sample_size(10);
    // `lower_w5` builds the model and its gradients first; only the lowering it times itself
    // (optimize + fuse + plan, fused) is counted.
    g.bench_function("lower (optimize + fuse + plan)", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (fused, _) = workloads::lower_w5().expect("lowering W5 failed");
                    Duration::from_secs_f64(fused / 1e3)
                })
                .sum()
        })
    });
    // Repeated in one process, every compile after the first is a warm one (cache hit where
    // the device caches); the runner measures the cold compile in a fresh process.
    for choice in common::devices().into_iter().filter(|d| d.compiles) {
        let configure = |gr: &kiln::Graph| common::configure(gr, &choice, false);
        g.bench_function(format!("{} warm compile", choice.label), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (_, warm) = workloads::compile_latency(&configure, 1)
                            .expect("W5 compile latency failed");
                        Duration::from_secs_f64(warm / 1e3)
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_limits, bench_workloads, bench_compile);
criterion_main!(benches);
