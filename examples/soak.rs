//! The long soak of issue 11, for BENCHMARKS.md: the issue's build-and-evaluate loop for
//! 1,000,000 iterations, then a `TrainStep` for 100,000 steps, printing resident memory,
//! threads, compiles, graph nodes and time per iteration as they go.
//!
//! ```text
//! cargo run --release --example soak [-- --iterations N --steps N]
//! ```
//!
//! The CI-sized versions are the `soak*` tests; this one runs for tens of seconds.

#[path = "../tests/process/mod.rs"]
mod process;

use kiln::{Graph, Result};
use std::time::Instant;

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

fn count(n: Option<usize>) -> String {
    n.map_or("n/a".into(), |n| n.to_string())
}

/// The issue's loop: `(x * 2).sum()` rebuilt and evaluated every iteration.
fn issue_loop(iterations: usize) -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 1000])?;
    let compiles = kiln::compiled_programs();
    let report_every = (iterations / 10).max(1);
    let mut segment = Instant::now();
    let start = Instant::now();
    for i in 1..=iterations {
        let z = (&x * 2.0)?.sum_all()?;
        let _ = z.to_host()?;
        if i % report_every == 0 || i == 1 {
            let done = if i == 1 { 1 } else { report_every };
            println!(
                "loop {i:>8}: {:>7.2} us/iter, resident {}, threads {}, compiles {}, graph nodes {}",
                segment.elapsed().as_secs_f64() * 1e6 / done as f64,
                mb(process::resident_bytes()),
                count(process::threads()),
                kiln::compiled_programs() - compiles,
                g.node_count(),
            );
            segment = Instant::now();
        }
    }
    println!(
        "loop: {iterations} iterations in {:.1} s ({:.2} us/iter overall)",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e6 / iterations as f64
    );
    Ok(())
}

/// A 4-16-1 MLP, MSE, Adam, batch 32: one `TrainStep` run `steps` times.
fn train_step(steps: usize) -> Result<()> {
    let process::SmallStep {
        graph: g,
        step,
        x: xv,
        y: yv,
    } = process::small_train_step()?;
    let feeds = [("x", &xv), ("y", &yv)];
    let report_every = (steps / 10).max(1);
    let mut segment = Instant::now();
    let start = Instant::now();
    for i in 1..=steps {
        let l = step.run(&feeds)?;
        if i % report_every == 0 || i == 1 {
            let done = if i == 1 { 1 } else { report_every };
            println!(
                "step {i:>8}: {:>7.2} us/step, resident {}, threads {}, loss {l:.6}, graph nodes {}",
                segment.elapsed().as_secs_f64() * 1e6 / done as f64,
                mb(process::resident_bytes()),
                count(process::threads()),
                g.node_count(),
            );
            segment = Instant::now();
        }
    }
    println!(
        "train step: {steps} steps in {:.1} s ({:.2} us/step overall)",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e6 / steps as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let mut iterations = 1_000_000;
    let mut steps = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let n = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), n) {
            ("--iterations", Some(n)) => iterations = n,
            ("--steps", Some(n)) => steps = n,
            _ => {
                return Err(kiln::Error::api(
                    "soak",
                    format!("usage: soak [--iterations N] [--steps N] (got {a})"),
                ))
            }
        }
    }
    println!(
        "start: resident {}, threads {}",
        mb(process::resident_bytes()),
        count(process::threads())
    );
    issue_loop(iterations)?;
    train_step(steps)?;
    Ok(())
}
