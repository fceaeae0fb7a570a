//! Code shared by the quick runner (`examples/bench.rs`, through `#[path]`) and the criterion
//! suite (`benches/suite.rs`): the workloads ([`workloads`]), the machine's limits
//! ([`limits`]), the devices a workload can run on, and the timing rule (warm-up, then the
//! median of repeats within a time budget).
//!
//! It lives in `benches/common/` rather than `benches/*.rs` because Cargo turns every
//! `benches/*.rs` into a bench target of its own.
#![allow(dead_code)] // the runner and the criterion suite each use a different subset

pub mod limits;
pub mod workloads;

use kiln::Device;
use std::time::Instant;

/// A device the bench can name, with how to report it.
#[derive(Clone, Copy, Debug)]
pub struct DeviceChoice {
    /// The label printed in every result (`"device": "..."`).
    pub label: &'static str,
    /// The device set with `Graph::set_device`.
    pub device: Device,
    /// Whether the device compiles programs (so W7 measures compile latency on it).
    pub compiles: bool,
    /// Whether the device can run with fusion off (`LowerOptions::eager()`), for `eager_ms`.
    pub has_eager: bool,
}

/// Every device this build of kiln can name, best first. Each workload runs on the first one
/// that builds and runs it (a failure falls through to the next, and the output says so).
///
/// Rust cannot name an enum variant that does not exist, so the compiled CPU backend joins
/// this list with one line when `kiln::Device::Cpu` lands, first in the list:
/// `DeviceChoice { label: "cpu", device: Device::Cpu, compiles: true, has_eager: <...> }`;
/// [`apply_eager`] is then where fusion is switched off. Until then every timing is the
/// reference interpreter's, and the runner prints that.
pub fn devices() -> Vec<DeviceChoice> {
    vec![DeviceChoice {
        label: "cpu",
        device: Device::Cpu,
        compiles: true,
        has_eager: true,
    }]
}

/// True when some device in [`devices`] compiles (the compiled CPU backend is present).
pub fn has_compiled_device() -> bool {
    devices().iter().any(|d| d.compiles)
}

/// Switches `graph` to eager mode (the compiled backend with fusion off: one kernel per
/// primitive, one buffer per value).
pub fn apply_eager(graph: &kiln::Graph, choice: &DeviceChoice) -> kiln::Result<()> {
    if !choice.has_eager {
        return Err(kiln::Error::api(
            "bench",
            format!("{}: has no eager mode", choice.label),
        ));
    }
    graph.set_eager(true);
    Ok(())
}

/// Puts `graph` on `choice`'s device, with fusion off when `eager`.
pub fn configure(graph: &kiln::Graph, choice: &DeviceChoice, eager: bool) -> kiln::Result<()> {
    graph.set_device(choice.device);
    if eager {
        apply_eager(graph, choice)?;
    }
    Ok(())
}

/// How long and how often to time one workload.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Untimed runs first (the first run of a compiled device includes compiling).
    pub warmup: usize,
    /// At most this many timed runs; the median is reported.
    pub reps: usize,
    /// Stop repeating once this many seconds (warm-up included) have passed, keeping at
    /// least one timed run unless the warm-up alone used the budget.
    pub budget_s: f64,
}

impl Timing {
    /// `--quick`: the whole suite in about two minutes on two cores.
    pub const QUICK: Timing = Timing {
        warmup: 1,
        reps: 5,
        budget_s: 3.0,
    };
    /// The default: steadier medians.
    pub const FULL: Timing = Timing {
        warmup: 2,
        reps: 15,
        budget_s: 30.0,
    };
}

/// A timing result: the median in milliseconds and how many timed runs it is the median of
/// (0 means the warm-up alone exhausted the budget and its time is reported instead).
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Median milliseconds per run.
    pub ms: f64,
    /// Timed runs behind the median.
    pub reps: usize,
}

/// Times `f` under `timing`; stops at the first error.
pub fn measure<E>(timing: Timing, mut f: impl FnMut() -> Result<(), E>) -> Result<Measured, E> {
    let start = Instant::now();
    let mut last = f64::NAN;
    for _ in 0..timing.warmup {
        let t = Instant::now();
        f()?;
        last = t.elapsed().as_secs_f64() * 1e3;
    }
    if timing.warmup > 0 && start.elapsed().as_secs_f64() > timing.budget_s {
        return Ok(Measured { ms: last, reps: 0 });
    }
    let mut times = Vec::with_capacity(timing.reps);
    while times.len() < timing.reps.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if start.elapsed().as_secs_f64() > timing.budget_s {
            break;
        }
    }
    Ok(Measured {
        ms: workloads::median(&mut times),
        reps: times.len(),
    })
}
