//! A rough single-threaded speed check of a vectorised loop kernel: `relu(x * a + b) * c - d`
//! over f32 with scalar (broadcast) `a..d`, compared with the evaluator's result and reported in
//! GB/s (bytes read plus written). `KILN_LOOPS_SPEED_N` sets the element count (default 1M;
//! the figure in the module docs of `cpu::loops` was taken with 16M).

use kiln_codegen::cpu::loops::{compile_loop_kernel, kernel_vectorises};
use kiln_codegen::cpu::Jit;
use kiln_ir::kernel::{lower, BufferKind, LowerOptions};
use kiln_ir::{BinaryOp, DType, Graph, Shape};

type KernelFn = extern "C" fn(*const *mut u8, i64, i64) -> i64;

#[test]
fn loops_speed_relu_affine_f32() {
    let n: usize = std::env::var("KILN_LOOPS_SPEED_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20);
    let shape = Shape::new(&[n]).unwrap();
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, shape.clone()).unwrap();
    let scalar = |g: &mut Graph, v: f64| {
        let s = g.scalar(DType::F32, v).unwrap();
        let s = g.reshape(s, Shape::new(&[1]).unwrap()).unwrap();
        g.expand(s, shape.clone()).unwrap()
    };
    let (a, b, c, d) = (
        scalar(&mut g, 1.5),
        scalar(&mut g, -0.25),
        scalar(&mut g, 2.0),
        scalar(&mut g, 0.5),
    );
    let zero = scalar(&mut g, 0.0);
    let m = g.binary(BinaryOp::Mul, x, a).unwrap();
    let m = g.binary(BinaryOp::Add, m, b).unwrap();
    let m = g.binary(BinaryOp::Max, m, zero).unwrap();
    let m = g.binary(BinaryOp::Mul, m, c).unwrap();
    let y = g.binary(BinaryOp::Sub, m, d).unwrap();
    let p = lower(&g, &[y], &LowerOptions::default()).unwrap();
    assert_eq!(p.kernels.len(), 1, "{p}");
    assert!(kernel_vectorises(&p, 0), "{p}");
    let mut jit = Jit::new().unwrap();
    let lk = compile_loop_kernel(&mut jit, &p, 0, "relu_affine").unwrap();
    jit.finalize().unwrap();
    // SAFETY: loop kernels have the signature (ptr, i64, i64) -> i64 (C calling convention).
    let f: KernelFn = unsafe { std::mem::transmute(jit.function_ptr(lk.func).unwrap()) };
    let mut xs: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 250.0 - 2.0).collect();
    let mut ys: Vec<f32> = vec![0.0; n];
    let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
    for (i, bd) in p.buffers.iter().enumerate() {
        ptrs[i] = match &bd.kind {
            BufferKind::Input(_) => xs.as_mut_ptr().cast(),
            BufferKind::Output(_) => ys.as_mut_ptr().cast(),
            BufferKind::Const(_) | BufferKind::Param(_) | BufferKind::Temp => {
                panic!("unexpected buffer {bd:?}")
            }
        };
    }
    let extent = lk.parallel_extent as i64;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        assert_eq!(f(ptrs.as_ptr(), 0, extent), 0);
        best = best.min(t.elapsed().as_secs_f64());
    }
    for (i, (&xv, &yv)) in xs.iter().zip(&ys).enumerate() {
        let want = ((xv * 1.5 - 0.25).max(0.0)) * 2.0 - 0.5;
        assert_eq!(yv, want, "element {i}");
    }
    let gbs = (8 * n) as f64 / best / 1e9;
    eprintln!(
        "relu(x*a+b)*c-d, {n} f32: {:.3} ms, {gbs:.1} GB/s",
        best * 1e3
    );
}

/// A full f32 sum (inner axis reduced: 4 partial vector accumulators per call).
#[test]
fn loops_speed_sum_f32() {
    let n: usize = std::env::var("KILN_LOOPS_SPEED_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20);
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, Shape::new(&[n]).unwrap()).unwrap();
    let s = g.reduce(kiln_ir::ReduceOp::Sum, x, &[0]).unwrap();
    let p = lower(&g, &[s], &LowerOptions::default()).unwrap();
    assert!(kernel_vectorises(&p, 0), "{p}");
    let mut jit = Jit::new().unwrap();
    let lk = compile_loop_kernel(&mut jit, &p, 0, "sum").unwrap();
    jit.finalize().unwrap();
    // SAFETY: loop kernels have the signature (ptr, i64, i64) -> i64 (C calling convention).
    let f: KernelFn = unsafe { std::mem::transmute(jit.function_ptr(lk.func).unwrap()) };
    let mut xs: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.25).collect();
    let mut out = [0f32; 1];
    let mut ptrs: Vec<*mut u8> = vec![std::ptr::null_mut(); p.buffers.len()];
    for (i, bd) in p.buffers.iter().enumerate() {
        ptrs[i] = match &bd.kind {
            BufferKind::Input(_) => xs.as_mut_ptr().cast(),
            BufferKind::Output(_) => out.as_mut_ptr().cast(),
            BufferKind::Const(_) | BufferKind::Param(_) | BufferKind::Temp => {
                panic!("unexpected buffer {bd:?}")
            }
        };
    }
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        assert_eq!(f(ptrs.as_ptr(), 0, lk.parallel_extent as i64), 0);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let want: f64 = xs.iter().map(|&v| f64::from(v)).sum();
    assert!(
        (f64::from(out[0]) - want).abs() <= 1e-5 * want,
        "{} vs {want}",
        out[0]
    );
    let gbs = (4 * n) as f64 / best / 1e9;
    eprintln!("sum, {n} f32: {:.3} ms, {gbs:.1} GB/s", best * 1e3);
}
