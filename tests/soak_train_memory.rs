//! Soak (issue 11, item 5): a `TrainStep` built once runs 100,000 steps in constant memory.
//!
//! Resident memory is a process-wide measure, so this binary holds one test: another test's
//! thread and allocations would move it. The check is skipped, with a message, where
//! `/proc/self/statm` cannot be read (not Linux).

mod process;

use kiln::Result;

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
    let process::SmallStep {
        step, x: xv, y: yv, ..
    } = process::small_train_step()?;
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
