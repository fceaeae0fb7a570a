//! Soak tests (issue 11): the build-and-evaluate loops a new user writes must compile once per
//! distinct structure and keep the compile caches within their bound, whatever the iteration
//! count. Each runs a few thousand iterations in well under a second.
//!
//! Compile counts and caches are per thread and every test runs on its own thread, so the
//! counts asserted here are exact. The thread count and resident memory are process-wide, so
//! they are checked in binaries of one test each (`soak_threads.rs`, `soak_train_memory.rs`, and
//! `codegen/tests/threads.rs`), the graph's own growth by `tests/forget.rs` (node counts are
//! printed with `--nocapture`).

use kiln::optim::{Optimizer, Sgd};
use kiln::{DType, Graph, HostTensor, Result};

const ITERATIONS: usize = 2000;

/// Prints what a loop left behind (visible with `--nocapture`).
fn report(name: &str, g: &Graph, compiles: usize, start: std::time::Instant) {
    let t = kiln::cache_stats();
    let p = g.cache_stats();
    eprintln!(
        "{name}: {ITERATIONS} iterations, {compiles} compiles, {} nodes, {:.4} ms/iter; \
         thread cache {}/{} entries ({} hits, {} misses, {} evicted); \
         graph cache {}/{} entries ({} hits, {} misses, {} evicted)",
        g.node_count(),
        start.elapsed().as_secs_f64() * 1e3 / ITERATIONS as f64,
        t.entries,
        t.capacity,
        t.hits,
        t.misses,
        t.evictions,
        p.entries,
        p.capacity,
        p.hits,
        p.misses,
        p.evictions,
    );
}

/// Both caches hold at most their capacity.
fn assert_bounded(g: &Graph) -> Result<()> {
    let capacity = kiln::cache_capacity()?;
    let (t, p) = (kiln::cache_stats(), g.cache_stats());
    assert!(t.entries <= capacity, "thread cache: {t:?}");
    assert!(p.entries <= capacity, "graph cache: {p:?}");
    Ok(())
}

/// The loop: the same expression rebuilt and evaluated every iteration compiles once.
#[test]
fn rebuilt_expression_compiles_once() -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 1000])?;
    let before = kiln::compiled_programs();
    let start = std::time::Instant::now();
    for _ in 0..ITERATIONS {
        let z = (&x * 2.0)?.sum_all()?;
        assert_eq!(z.to_host()?.item()?, 2000.0);
    }
    let compiles = kiln::compiled_programs() - before;
    report("forward loop", &g, compiles, start);
    assert_eq!(compiles, 1);
    assert_bounded(&g)?;
    // Every iteration after the first found the program in the thread's cache.
    assert!(kiln::cache_stats().hits >= ITERATIONS as u64 - 1);
    Ok(())
}

/// Gradient descent as the tutorials write it: the loss rebuilt each iteration, `backward`,
/// then `optimizer.step()`. Two structures — the gradient program and the update program —
/// compile once each; the loss's value, printed every iteration, is a third.
#[test]
fn rebuilt_loss_with_backward_compiles_once_per_structure() -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 1000])?;
    let w = g.parameter("w", vec![0.5f32; 1000])?;
    let mut sgd = Sgd::new(vec![("w".into(), w.clone())], 0.1);
    let before = kiln::compiled_programs();
    let start = std::time::Instant::now();
    let mut last = f64::INFINITY;
    for i in 0..ITERATIONS {
        let loss = ((&w * &x)? - 1.0)?.pow(2.0)?.sum_all()?;
        sgd.zero_grad();
        loss.backward()?;
        sgd.step()?;
        let value = loss.item()?;
        assert!(
            value <= last,
            "iteration {i}: the loss rose to {value} from {last}"
        );
        last = value;
        if i == 0 {
            assert_eq!(kiln::compiled_programs(), before + 3);
        }
    }
    let compiles = kiln::compiled_programs() - before;
    report("backward loop", &g, compiles, start);
    assert_eq!(compiles, 3);
    assert!(last < 1e-6, "the loss after {ITERATIONS} steps is {last}");
    assert_bounded(&g)?;
    Ok(())
}

/// The hand-written update of the tutorials: `backward`, then `set_data(w - lr * grad)`.
#[test]
fn hand_written_gradient_descent_compiles_once() -> Result<()> {
    let g = Graph::new();
    let w = g.parameter("w", HostTensor::scalar(DType::F32, 0.0))?;
    let before = kiln::compiled_programs();
    let start = std::time::Instant::now();
    for _ in 0..ITERATIONS {
        let loss = (&w - 3.0)?.pow(2.0)?;
        loss.backward()?;
        let grad = w.grad().map(|t| t.item()).transpose()?.unwrap_or(0.0);
        let value = w.item()?;
        w.set_data(HostTensor::scalar(DType::F32, value - 0.1 * grad))?;
        w.zero_grad();
    }
    let compiles = kiln::compiled_programs() - before;
    report("hand-written descent", &g, compiles, start);
    // The gradient program and `w.item()`.
    assert_eq!(compiles, 2);
    assert!((w.item()? - 3.0).abs() < 1e-5);
    assert_bounded(&g)?;
    Ok(())
}

/// Scalar constants are baked into programs (see `compile.rs`): a loop whose literal changes
/// every iteration compiles once per distinct value, and the caches stay within their bound.
/// The same value in an input compiles once.
#[test]
fn changing_literals_compile_per_value_within_the_bound() -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 100])?;
    let n = 3 * kiln::cache_capacity()?;
    let before = kiln::compiled_programs();
    for i in 0..n {
        let z = (&x * i as f64)?.sum_all()?;
        assert_eq!(z.item()?, 100.0 * i as f64);
    }
    assert_eq!(kiln::compiled_programs() - before, n);
    assert_bounded(&g)?;
    assert!(kiln::cache_stats().evictions > 0);

    let s = g.input("s", DType::F32, &[])?;
    let before = kiln::compiled_programs();
    for i in 0..n {
        let z = (&x * &s)?.sum_all()?;
        let value = HostTensor::scalar(DType::F32, i as f64);
        let out = g.eval(&[&z], &[("s", &value)])?;
        assert_eq!(out[0].item()?, 100.0 * i as f64);
    }
    assert_eq!(kiln::compiled_programs() - before, 1);
    Ok(())
}

/// Past the bound, the least recently used program is evicted: asked for again it compiles
/// again, while the recently used ones are still served; executables handed out before keep
/// working.
#[test]
fn caches_evict_the_least_recently_used_past_their_bound() -> Result<()> {
    assert!(kiln::set_cache_capacity(0).is_err());
    kiln::set_cache_capacity(4)?;
    assert_eq!(kiln::cache_capacity()?, 4);
    let g = Graph::new();
    let x = g.buffer("x", vec![2.0f32; 10])?;
    let build = |k: usize| -> Result<kiln::Tensor> { (&x + k as f64)?.sum_all() };
    let first = kiln::compile(&[&build(0)?], &kiln::CompileOptions::default())?;
    let before = kiln::compiled_programs();
    for k in 1..=10 {
        build(k)?.to_host()?;
    }
    assert_eq!(kiln::compiled_programs() - before, 10);
    let (t, p) = (kiln::cache_stats(), g.cache_stats());
    assert_eq!((t.entries, t.capacity), (4, 4), "{t:?}");
    assert_eq!((p.entries, p.capacity), (4, 4), "{p:?}");
    assert!(t.evictions >= 7 && p.evictions >= 6, "{t:?} {p:?}");
    // The most recent structure is still cached; the oldest was evicted and compiles again.
    let before = kiln::compiled_programs();
    build(10)?.to_host()?;
    assert_eq!(kiln::compiled_programs(), before);
    build(1)?.to_host()?;
    assert_eq!(kiln::compiled_programs(), before + 1);
    // An executable outlives the eviction of its program.
    assert_eq!(first.run(&[])?[0].item()?, 20.0);
    // Shrinking applies to the thread's cache at once.
    kiln::set_cache_capacity(1)?;
    assert_eq!(kiln::cache_stats().entries, 1);
    Ok(())
}

/// Two graphs that differ only in numbering share one program; different outputs, output
/// orders, options and updates never do.
#[test]
fn renumbered_graphs_share_a_program_and_different_ones_do_not() -> Result<()> {
    fn build(junk: usize) -> Result<(Graph, kiln::Tensor, kiln::Tensor)> {
        let g = Graph::new();
        for i in 0..junk {
            g.tensor(i as f32)?;
        }
        let x = g.buffer("x", vec![1.0f32, 2.0, 3.0])?;
        let y = (x.exp()? * 2.0)?;
        let s = y.sum_all()?;
        Ok((g, y, s))
    }
    let opts = kiln::CompileOptions::default();
    let (_g1, y1, s1) = build(0)?;
    let (_g2, y2, s2) = build(13)?;
    let before = kiln::compiled_programs();
    kiln::compile(&[&y1, &s1], &opts)?;
    kiln::compile(&[&y2, &s2], &opts)?;
    assert_eq!(kiln::compiled_programs(), before + 1);
    // Output order, another output set, eager mode: each a program of its own.
    let a = kiln::compile(&[&s2, &y2], &opts)?.run(&[])?;
    let b = kiln::compile(&[&s2], &opts)?.run(&[])?;
    let eager = kiln::CompileOptions {
        eager: true,
        ..opts
    };
    let c = kiln::compile(&[&s2, &y2], &eager)?.run(&[])?;
    assert_eq!(kiln::compiled_programs(), before + 4);
    assert_eq!(a[0], b[0]);
    assert_eq!(a, c);
    assert_eq!(a[1].shape().dims(), &[3]);
    Ok(())
}
