//! Soak tests (issue 11): the build-and-evaluate loop a new user writes must compile once per
//! distinct structure and keep its caches bounded.

use kiln::{Graph, Result};

/// The loop: the same structure rebuilt and evaluated every iteration.
#[test]
fn rebuilt_expression_compiles_once() -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 1000])?;
    let before = kiln::compiled_programs();
    let t = std::time::Instant::now();
    let n = 2000;
    for _ in 0..n {
        let z = (&x * 2.0)?.sum_all()?;
        let _ = z.to_host()?;
    }
    eprintln!(
        "forward loop: {} compiles, {} nodes, {:.3} ms/iter",
        kiln::compiled_programs() - before,
        g.node_count(),
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    assert_eq!(kiln::compiled_programs(), before + 1);
    Ok(())
}
