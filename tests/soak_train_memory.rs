//! Soak (issue 11, item 5): a `TrainStep` built once runs 100,000 steps in constant memory.
//!
//! Resident memory is a process-wide measure, so this binary holds one test: another test's
//! thread and allocations would move it. The check is skipped, with a message, where
//! `/proc/self/statm` cannot be read (not Linux).

mod process;

use kiln::nn::loss::MseLoss;
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Adam, TrainStep};
use kiln::{manual_seed, DType, Graph, HostTensor, Result, Shape};

/// Steps in all; about 2 s in release on a 2-core shared VM.
const STEPS: usize = 100_000;
/// Steps before the first measurement: the program compiles, the allocator and the
/// executable's free list of run memories reach their steady state.
const WARM_UP: usize = 2_000;
/// Allowed growth of resident memory from the warm-up to the end. One step's garbage is a few
/// hundred bytes (the loss, the feed list), so a leak of any of it over 98,000 steps shows.
const BOUND_BYTES: u64 = 8 << 20;

#[test]
fn train_step_runs_100k_steps_in_constant_memory() -> Result<()> {
    manual_seed(3);
    let g = Graph::new();
    let model = Sequential::new()
        .add(Linear::new(&g, "fc1", 4, 16, true)?)
        .add(ReLU)
        .add(Linear::new(&g, "fc2", 16, 1, true)?);
    let x = g.input("x", DType::F32, &[32, 4])?;
    let y = g.input("y", DType::F32, &[32, 1])?;
    let loss = MseLoss::default().forward(&model.forward(&x)?, &y)?;
    let mut adam = Adam::new(model.named_parameters(), 1e-3);
    let step = TrainStep::new(&loss, &mut adam)?;
    // y = x0 - 2 x1 + 0.5 x2 x3 on a fixed batch.
    let xs: Vec<f64> = (0..128)
        .map(|i| ((i * 37) % 23) as f64 / 11.0 - 1.0)
        .collect();
    let ys: Vec<f64> = xs
        .chunks(4)
        .map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] * r[3])
        .collect();
    let xv = HostTensor::from_f64(DType::F32, Shape::new(&[32, 4])?, &xs)?;
    let yv = HostTensor::from_f64(DType::F32, Shape::new(&[32, 1])?, &ys)?;
    let feeds = [("x", &xv), ("y", &yv)];

    let first = step.run(&feeds)?;
    for _ in 1..WARM_UP {
        step.run(&feeds)?;
    }
    let before = process::resident_bytes();
    let start = std::time::Instant::now();
    let mut last = first;
    for _ in WARM_UP..STEPS {
        last = step.run(&feeds)?;
    }
    let per_step_us = start.elapsed().as_secs_f64() * 1e6 / (STEPS - WARM_UP) as f64;
    let after = process::resident_bytes();
    assert!(
        last < first / 10.0,
        "training went nowhere: loss {first} -> {last}"
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let growth = after.saturating_sub(before);
            eprintln!(
                "TrainStep soak: {STEPS} steps, {per_step_us:.2} us/step, loss {first:.4} -> \
                 {last:.6}; resident {:.1} MB after {WARM_UP} steps, {:.1} MB at the end \
                 (+{} KB; bound {} MB)",
                before as f64 / 1e6,
                after as f64 / 1e6,
                growth / 1024,
                BOUND_BYTES >> 20
            );
            assert!(
                growth < BOUND_BYTES,
                "resident memory grew by {growth} bytes over {} steps",
                STEPS - WARM_UP
            );
        }
        _ => eprintln!(
            "TrainStep soak: {STEPS} steps, {per_step_us:.2} us/step; resident memory not \
             checked: /proc/self/statm or /proc/self/smaps is unavailable here"
        ),
    }
    Ok(())
}
