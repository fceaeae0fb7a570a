//! Soak (issue 11, items 1, 3 and 5): compiling and running at the kiln level — the issue's
//! loop with `backward`, then a new program every iteration — keeps the process's thread count
//! constant (every executable runs on the one process-wide worker pool), and the loop compiles
//! once per structure and runs in constant resident memory (the graph forgets its old nodes).
//!
//! Threads and memory are process-wide, so this binary holds one test (the harness runs each
//! test on a thread of its own). Skipped, with a message, where `/proc/self/status` cannot be
//! read; the memory check alone where `/proc/self/statm` cannot.

mod process;

use kiln::optim::{Optimizer, Sgd};
use kiln::{DType, Graph, HostTensor, Result, Shape};

/// Iterations of the issue's loop (rebuilt loss, `backward`, step, evaluate).
const LOOP: usize = 5_000;
/// Iterations before resident memory is first measured (allocator and caches warm).
const WARM_UP: usize = 500;
/// Allowed growth of resident memory from the warm-up to the end of the loop.
const BOUND_BYTES: u64 = 8 << 20;
/// Distinct programs compiled and run afterwards, more than the cache keeps (64), so that
/// evicted executables are dropped too.
const PROGRAMS: usize = 100;

#[test]
fn the_issues_loop_and_many_compiles_keep_threads_and_memory() -> Result<()> {
    let Some(at_start) = process::threads() else {
        eprintln!("thread soak: skipped, /proc/self/status is unavailable here");
        return Ok(());
    };
    let g = Graph::new();
    // Programs with a product large enough for the threaded GEMM and an elementwise loop split
    // across the pool; a new one every iteration below (literals are baked in).
    let a = g.buffer(
        "a",
        HostTensor::full(DType::F32, Shape::new(&[256, 512])?, 0.001),
    )?;
    let b = g.buffer(
        "b",
        HostTensor::full(DType::F32, Shape::new(&[512, 256])?, 0.5),
    )?;
    let gemm =
        |i: usize| -> Result<f64> { (&a * (i + 1) as f64)?.exp()?.matmul(&b)?.sum_all()?.item() };
    // The first run starts the process's pools (loop workers, GEMM helpers); from then on
    // nothing may start a thread.
    assert!(gemm(0)?.is_finite());
    let warm = process::threads();
    let x = g.buffer("x", vec![1.0f32; 1000])?;
    let w = g.parameter("w", vec![0.5f32; 1000])?;
    let mut sgd = Sgd::new(vec![("w".into(), w.clone())], 0.1);
    let before = kiln::compiled_programs();
    let mut resident = None;
    for i in 0..LOOP {
        if i == WARM_UP {
            resident = process::resident_bytes();
        }
        let z = (&x * 2.0)?.sum_all()?;
        assert_eq!(z.item()?, 2000.0);
        let loss = ((&w * &x)? - 1.0)?.pow(2.0)?.sum_all()?;
        sgd.zero_grad();
        loss.backward()?;
        sgd.step()?;
        let now = process::threads();
        assert_eq!(now, warm, "iteration {i}: threads {warm:?} -> {now:?}");
    }
    // `z`, the gradient program and the update program, each once.
    assert_eq!(kiln::compiled_programs() - before, 3);
    match (resident, process::resident_bytes()) {
        (Some(warm), Some(end)) => {
            let growth = end.saturating_sub(warm);
            eprintln!(
                "loop soak: {LOOP} iterations, resident {:.1} MB after {WARM_UP}, {:.1} MB at \
                 the end (+{} KB; bound {} MB), {} graph nodes",
                warm as f64 / 1e6,
                end as f64 / 1e6,
                growth / 1024,
                BOUND_BYTES >> 20,
                g.node_count()
            );
            assert!(
                growth < BOUND_BYTES,
                "resident memory grew by {growth} bytes over {} iterations",
                LOOP - WARM_UP
            );
        }
        _ => eprintln!("loop soak: resident memory not checked, /proc/self/statm is unavailable"),
    }

    let start = std::time::Instant::now();
    let compiled = kiln::compiled_programs();
    for i in 1..=PROGRAMS {
        assert!(gemm(i)?.is_finite());
        let now = process::threads();
        assert_eq!(now, warm, "program {i}: threads {warm:?} -> {now:?}");
    }
    assert_eq!(kiln::compiled_programs() - compiled, PROGRAMS);
    eprintln!(
        "thread soak: {at_start} threads at start, {} after the first run (the pools started) and after {LOOP} \
         loop iterations and {PROGRAMS} compiled programs ({:.1} ms per compile+run); \
         KILN_THREADS pool: {} workers",
        warm.unwrap_or(0),
        start.elapsed().as_secs_f64() * 1e3 / PROGRAMS as f64,
        kiln_codegen::cpu::threads::configured_threads(),
    );
    Ok(())
}
