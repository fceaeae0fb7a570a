//! End-to-end tests of the CPU backend: graphs are lowered (fused and eager), compiled with
//! [`CpuBackend`] and run on fresh deterministic inputs, and the outputs compared with the graph
//! interpreter (`kiln_ir::evaluate`). Covered: matmul shapes (square, non-square, batched,
//! transposed through permute, broadcast batch, k = 0, every numeric dtype, epilogues that keep
//! or change the dtype), the shipped `.kir` graphs, random graphs (`KILN_FUZZ_CASES`, default
//! 500 seeds and 500 proptest cases), bad feeds, out-of-range gather/scatter indices, reuse of an
//! executable, bit-identical results for 1, 2 and 3 threads, and training steps that update a
//! parameter in place.

use kiln_codegen::cpu::CpuBackend;
use kiln_codegen::{Backend, CodegenError};
use kiln_ir::kernel::{lower, KernelKind, LowerOptions, Program};
use kiln_ir::testing::{
    feed_for, feeds, known_difference, random_graph, random_graph_from_seed, same, Entropy,
    GenConfig, Tol,
};
use kiln_ir::{
    evaluate, BinaryOp, DType, Graph, HostTensor, IrError, NodeId, Op, ReduceOp, Shape, UnaryOp,
};
use std::collections::HashMap;

fn sh(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

/// Large f32 products accumulate in f32 in the library's order (the IR allows it).
/// Sums of up to 784 terms of magnitude <= 16 give f32 errors of a few 1e-4.
const GEMM_TOL: Tol = Tol {
    f32: (1e-4, 3e-3),
    f64: (1e-12, 1e-9),
};

/// Transcendental chains get the math emitters' tolerance, compounded.
const GRAPH_TOL: Tol = Tol {
    f32: (1e-4, 1e-5),
    f64: (1e-10, 1e-12),
};

fn run(
    p: &Program,
    threads: usize,
    f: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>, CodegenError> {
    let exe = CpuBackend { threads }.compile(p)?;
    exe.run(&|name: &str| f.get(name))
}

/// Lowers `outputs` fused and eager, runs each on 2 threads and compares with the interpreter
/// (both must fail with a run-time error, or both succeed and agree within `tol`).
fn check(
    g: &Graph,
    outputs: &[NodeId],
    f: &HashMap<String, HostTensor>,
    tol: Tol,
) -> Result<(), String> {
    let want = evaluate(g, outputs, f);
    for opts in [LowerOptions::default(), LowerOptions::eager()] {
        let p = lower(g, outputs, &opts).map_err(|e| format!("lower: {e}"))?;
        let got = run(&p, 2, f);
        match (&want, &got) {
            (Ok(w), Ok(o)) => {
                for (i, (o, w)) in o.iter().zip(w).enumerate() {
                    same(o, w, tol)
                        .map_err(|e| format!("eager={} output {i}: {e}\n{p}", opts.eager))?;
                }
            }
            (Err(IrError::Runtime { .. }), Err(CodegenError::Ir(IrError::Runtime { .. }))) => {}
            (w, o) => {
                return Err(format!(
                    "eager={}: interpreter {:?} vs cpu {:?}\n{p}",
                    opts.eager,
                    w.as_ref().err(),
                    o.as_ref().err()
                ))
            }
        }
    }
    Ok(())
}

/// `x @ y` for every numeric dtype over the shapes given as (a dims, b dims, how b is built).
#[test]
fn exec_matmul_shapes_and_dtypes() {
    // (m, k, n) plain, small (exact path) and large (library path), square and not.
    let plain = [
        (8, 8, 8),
        (64, 64, 64),
        (37, 50, 23),
        (96, 70, 80),
        (1, 300, 1),
        (5, 0, 7),
    ];
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for &(m, k, n) in &plain {
            let mut g = Graph::new();
            let a = g.input("a", dtype, sh(&[m, k])).unwrap();
            let b = g.input("b", dtype, sh(&[k, n])).unwrap();
            let c = g.matmul(a, b).unwrap();
            let f = feeds(&g, (m * k + n) as u64, false);
            check(&g, &[c], &f, GEMM_TOL).unwrap_or_else(|e| panic!("{dtype} {m}x{k}x{n}: {e}"));
            if k == 0 {
                let p = lower(&g, &[c], &LowerOptions::default()).unwrap();
                let out = run(&p, 2, &f).unwrap();
                assert!(out[0].to_f64_vec().iter().all(|&v| v == 0.0));
            }
        }
        // Transposed operands through permute: a stored [k, m], b stored [n, k].
        let (m, k, n) = (70, 90, 60);
        let mut g = Graph::new();
        let at = g.input("at", dtype, sh(&[k, m])).unwrap();
        let bt = g.input("bt", dtype, sh(&[n, k])).unwrap();
        let a = g.permute(at, &[1, 0]).unwrap();
        let b = g.permute(bt, &[1, 0]).unwrap();
        let c = g.matmul(a, b).unwrap();
        let f = feeds(&g, 5, false);
        check(&g, &[c], &f, GEMM_TOL).unwrap_or_else(|e| panic!("{dtype} transposed: {e}"));
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            let p = lower(&g, &[c], &opts).unwrap();
            assert_eq!(
                p.kernels.len(),
                1,
                "permutes fold into the gemm's strides\n{p}"
            );
        }
        // Batched [2, 3] x [m, k] @ [k, n], and the same with b broadcast over the batch.
        let (m, k, n) = (40, 33, 50);
        let mut g = Graph::new();
        let a = g.input("a", dtype, sh(&[2, 3, m, k])).unwrap();
        let b = g.input("b", dtype, sh(&[2, 3, k, n])).unwrap();
        let w = g.input("w", dtype, sh(&[k, n])).unwrap();
        let w4 = g.reshape(w, sh(&[1, 1, k, n])).unwrap();
        let wb = g.expand(w4, sh(&[2, 3, k, n])).unwrap();
        let c1 = g.matmul(a, b).unwrap();
        let c2 = g.matmul(a, wb).unwrap();
        let f = feeds(&g, 11, false);
        check(&g, &[c1, c2], &f, GEMM_TOL).unwrap_or_else(|e| panic!("{dtype} batched: {e}"));
    }
}

/// Epilogues fused after the product: bias + relu (same dtype, in place) and a cast to another
/// dtype (through the executor's scratch array).
#[test]
fn exec_matmul_epilogues() {
    for (m, k, n) in [(6, 5, 4), (128, 96, 72)] {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, sh(&[m, k])).unwrap();
        let w = g.parameter("w", DType::F32, sh(&[k, n])).unwrap();
        let bias = g.parameter("bias", DType::F32, sh(&[n])).unwrap();
        let y = g.matmul(x, w).unwrap();
        let bb = g.reshape(bias, sh(&[1, n])).unwrap();
        let bb = g.expand(bb, sh(&[m, n])).unwrap();
        let y = g.binary(BinaryOp::Add, y, bb).unwrap();
        let zero = g.scalar(DType::F32, 0.0).unwrap();
        let zero = g.reshape(zero, sh(&[1, 1])).unwrap();
        let zero = g.expand(zero, sh(&[m, n])).unwrap();
        let relu = g.binary(BinaryOp::Max, y, zero).unwrap();
        let y2 = g.matmul(x, w).unwrap();
        let wide = g.cast(y2, DType::F64).unwrap();
        let narrow = g.cast(wide, DType::I32).unwrap();
        let f = feeds(&g, 3, false);
        for out in [relu, wide, narrow] {
            let p = lower(&g, &[out], &LowerOptions::default()).unwrap();
            assert!(
                matches!(
                    p.kernels[0].kind,
                    KernelKind::Gemm {
                        epilogue: Some(_),
                        ..
                    }
                ),
                "{p}"
            );
        }
        // The i32 cast truncates: a last-bit difference of a large f32 sum may move it by one.
        let f32_exact = m * n * k <= 8192;
        let outs: Vec<NodeId> = if f32_exact {
            vec![relu, wide, narrow]
        } else {
            vec![relu, wide]
        };
        // `wide` is an f32 product in f64 clothing: f32's tolerance.
        let tol = Tol {
            f64: GEMM_TOL.f32,
            ..GEMM_TOL
        };
        check(&g, &outs, &f, tol).unwrap_or_else(|e| panic!("{m}x{k}x{n}: {e}"));
    }
}

fn has_matmul(g: &Graph) -> bool {
    g.node_ids()
        .into_iter()
        .any(|id| matches!(g.node(id).unwrap().op, Op::MatMul))
}

fn shipped(name: &str) -> Graph {
    let path = format!(
        "{}/../examples/graphs/{name}.kir",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    kiln_ir::text::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn exec_shipped_graphs_match_the_interpreter() {
    let dir = format!("{}/../examples/graphs", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? != "kir" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        let g = shipped(name);
        let tol = if has_matmul(&g) { GEMM_TOL } else { GRAPH_TOL };
        for seed in [1, 2] {
            let f = feeds(&g, seed, false);
            check(&g, g.outputs(), &f, tol).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// `KILN_FUZZ_CASES`, else 500.
fn fuzz_cases() -> u32 {
    std::env::var("KILN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

/// The fuzzer's proptest configuration: `KILN_FUZZ_CASES` cases from a fixed seed, so a CI run
/// is reproducible; `PROPTEST_RNG_SEED` picks another seed (for exploring).
fn fuzz_config() -> proptest::prelude::ProptestConfig {
    let mut config = proptest::prelude::ProptestConfig::with_cases(fuzz_cases());
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x6b69_6c6e);
    }
    config
}

proptest::proptest! {
    #![proptest_config(fuzz_config())]

    /// The property-based form of the fuzzer below: graphs drawn from proptest's byte strings
    /// (a failure shrinks towards a smaller graph), compiled fused and eager, against the
    /// interpreter. A graph the known integer-overflow difference excuses is skipped.
    #[test]
    fn exec_proptest_graphs_match_the_interpreter(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        feed_seed in proptest::prelude::any::<u64>(),
    ) {
        let g = random_graph(&mut Entropy::from_bytes(&bytes), &GenConfig::default())
            .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("generator: {e}")))?;
        let f = feeds(&g, feed_seed, true);
        if let Err(e) = check(&g, g.outputs(), &f, GRAPH_TOL) {
            proptest::prop_assert!(known_difference(&g).is_some(), "{e}\n{}", g.to_text());
        }
    }
}

#[test]
fn exec_random_graphs_match_the_interpreter() {
    let cases: u64 = std::env::var("KILN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let (mut ran, mut excused) = (0, 0);
    let mut failures = Vec::new();
    for seed in 0..cases {
        let g = random_graph_from_seed(seed).unwrap();
        let f = feeds(&g, seed, true);
        match check(&g, g.outputs(), &f, GRAPH_TOL) {
            Ok(()) => ran += 1,
            Err(e) => match known_difference(&g) {
                Some(why) => {
                    eprintln!(
                        "seed {seed}: excused ({why}): {}",
                        e.lines().next().unwrap_or("")
                    );
                    excused += 1;
                }
                None => failures.push(format!("seed {seed}: {e}\n{}", g.to_text())),
            },
        }
    }
    eprintln!(
        "random graphs: {ran} matched, {excused} excused, {} failed",
        failures.len()
    );
    for f in failures.iter().take(3) {
        eprintln!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failures, first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(excused * 25 <= cases, "{excused} excused differences");
}

#[test]
fn exec_bad_feeds_are_errors() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, sh(&[2, 3])).unwrap();
    let w = g.parameter("w", DType::F32, sh(&[3, 4])).unwrap();
    let y = g.matmul(x, w).unwrap();
    let p = lower(&g, &[y], &LowerOptions::default()).unwrap();
    let exe = CpuBackend { threads: 2 }.compile(&p).unwrap();
    let good = feeds(&g, 1, false);
    let mut f = good.clone();
    f.remove("w");
    let e = exe.run(&|n: &str| f.get(n)).unwrap_err();
    assert!(
        matches!(&e, CodegenError::Ir(IrError::MissingFeed { name, .. }) if name == "w"),
        "{e}"
    );
    for bad in [
        feed_for(DType::F64, &sh(&[2, 3]), 1, false),
        feed_for(DType::F32, &sh(&[3, 2]), 1, false),
        feed_for(DType::F32, &sh(&[6]), 1, false),
    ] {
        let mut f = good.clone();
        f.insert("x".into(), bad);
        let e = exe.run(&|n: &str| f.get(n)).unwrap_err();
        assert!(
            matches!(&e, CodegenError::Ir(IrError::FeedMismatch { name, .. }) if name == "x"),
            "{e}"
        );
    }
    // Still usable after errors.
    let want = evaluate(&g, &[y], &good).unwrap();
    let got = exe.run(&|n: &str| good.get(n)).unwrap();
    same(&got[0], &want[0], GEMM_TOL).unwrap();
}

#[test]
fn exec_out_of_range_indices_are_errors() {
    let mut g = Graph::new();
    let src = g.input("src", DType::F32, sh(&[5, 3])).unwrap();
    let idx = g.input("idx", DType::I64, sh(&[4, 3])).unwrap();
    let ga = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
    let base = g.input("base", DType::F32, sh(&[5, 3])).unwrap();
    let sv = g.input("sv", DType::F32, sh(&[4, 3])).unwrap();
    let sc = g
        .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
        .unwrap();
    let mut f = feeds(&g, 9, false);
    let good = [0., 4., 1., 2., 2., 2., 3., 0., 4., 1., 1., 0.];
    let set = |f: &mut HashMap<String, HostTensor>, v: &[f64]| {
        f.insert(
            "idx".into(),
            HostTensor::from_f64(DType::I64, sh(&[4, 3]), v).unwrap(),
        );
    };
    for (out, op) in [(ga, "gather"), (sc, "scatter_add")] {
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            let p = lower(&g, &[out], &opts).unwrap();
            for threads in [1, 3] {
                let exe = CpuBackend { threads }.compile(&p).unwrap();
                for (pos, bad) in [(5usize, 5.0), (2, -1.0), (11, 1e6)] {
                    let mut v = good;
                    v[pos] = bad;
                    set(&mut f, &v);
                    let e = exe.run(&|n: &str| f.get(n)).unwrap_err();
                    let at = format!("[{}, {}]", pos / 3, pos % 3);
                    match &e {
                        CodegenError::Ir(IrError::Runtime { op: o, node, msg }) => {
                            assert_eq!(*o, op);
                            assert_eq!(*node, out);
                            assert!(msg.contains(&at), "{msg} should name {at}");
                        }
                        other => panic!("{op}: {other}"),
                    }
                }
                set(&mut f, &good);
                let want = evaluate(&g, &[out], &f).unwrap();
                let got = exe.run(&|n: &str| f.get(n)).unwrap();
                same(&got[0], &want[0], GRAPH_TOL).unwrap();
            }
        }
    }
}

/// A graph with every kind of large kernel: a gemm with an epilogue, softmax rows (reductions),
/// a big elementwise map, a long flat map, a gather; all big enough to be split across threads.
fn big_graph() -> (Graph, Vec<NodeId>) {
    let (m, k, n) = (300, 200, 260);
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, sh(&[m, k])).unwrap();
    let w = g.parameter("w", DType::F32, sh(&[k, n])).unwrap();
    let y = g.matmul(x, w).unwrap();
    let t = g.unary(UnaryOp::Tanh, y).unwrap();
    let mx = g.reduce(ReduceOp::Max, t, &[1]).unwrap();
    let mx = g.expand(mx, sh(&[m, n])).unwrap();
    let d = g.binary(BinaryOp::Sub, t, mx).unwrap();
    let e = g.unary(UnaryOp::Exp, d).unwrap();
    let s = g.reduce(ReduceOp::Sum, e, &[1]).unwrap();
    let s = g.expand(s, sh(&[m, n])).unwrap();
    let soft = g.binary(BinaryOp::Div, e, s).unwrap();
    let col = g.reduce(ReduceOp::Sum, soft, &[0]).unwrap();
    let big = g.input("big", DType::F64, sh(&[512, 700])).unwrap();
    let sq = g.binary(BinaryOp::Mul, big, big).unwrap();
    let sn = g.unary(UnaryOp::Sin, sq).unwrap();
    let idx = g.input("idx", DType::I64, sh(&[400, 260])).unwrap();
    let ga = g.add(Op::Gather { axis: 0 }, &[soft, idx], None).unwrap();
    // A long flat map: one row, split into chunks of its innermost axis.
    let flat = g.input("flat", DType::F32, sh(&[3 * 16384 + 7])).unwrap();
    let fe = g.unary(UnaryOp::Exp, flat).unwrap();
    let fm = g.binary(BinaryOp::Mul, fe, flat).unwrap();
    (g, vec![soft, col, sn, ga, fm])
}

#[test]
fn exec_results_do_not_depend_on_the_thread_count() {
    let (g, outs) = big_graph();
    let mut f = feeds(&g, 4, false);
    let idx: Vec<f64> = (0..400 * 260).map(|i| ((i * 7919) % 300) as f64).collect();
    f.insert(
        "idx".into(),
        HostTensor::from_f64(DType::I64, sh(&[400, 260]), &idx).unwrap(),
    );
    let bits = |ts: &[HostTensor]| -> Vec<Vec<u64>> {
        ts.iter()
            .map(|t| (0..t.numel()).map(|i| t.get_f64(i).to_bits()).collect())
            .collect()
    };
    for opts in [LowerOptions::default(), LowerOptions::eager()] {
        let p = lower(&g, &outs, &opts).unwrap();
        let one = run(&p, 1, &f).unwrap();
        let want = evaluate(&g, &outs, &f).unwrap();
        for (o, w) in one.iter().zip(&want) {
            same(o, w, GEMM_TOL).unwrap();
        }
        for threads in [2, 3] {
            let got = run(&p, threads, &f).unwrap();
            assert!(
                bits(&got) == bits(&one),
                "eager={} threads={threads} differs from 1 thread",
                opts.eager
            );
        }
    }
}

/// One executable run repeatedly with different feeds: nothing stale survives in the arena.
#[test]
fn exec_reuses_an_executable() {
    let g = shipped("mlp_forward");
    let p = lower(&g, g.outputs(), &LowerOptions::default()).unwrap();
    let exe = CpuBackend::default().compile(&p).unwrap();
    for seed in 0..4 {
        let f = feeds(&g, 100 + seed, false);
        let want = evaluate(&g, g.outputs(), &f).unwrap();
        let got = exe.run(&|n: &str| f.get(n)).unwrap();
        for (o, w) in got.iter().zip(&want) {
            same(o, w, GEMM_TOL).unwrap();
        }
    }
}

/// `p_new = p - 0.5 * g` over `[n]`, as a training step updating `p` in place.
fn sgd_step(n: usize) -> Program {
    let mut g = Graph::new();
    let p = g.parameter("p", DType::F32, sh(&[n])).unwrap();
    let grad = g.input("g", DType::F32, sh(&[n])).unwrap();
    let lr = g.scalar(DType::F32, 0.5).unwrap();
    let lr = g.reshape(lr, sh(&[1])).unwrap();
    let lr = g.expand(lr, sh(&[n])).unwrap();
    let step = g.binary(BinaryOp::Mul, lr, grad).unwrap();
    let new = g.binary(BinaryOp::Sub, p, step).unwrap();
    let total = g.reduce(ReduceOp::Sum, p, &[0]).unwrap();
    kiln_ir::kernel::lower_step(&g, &[total], &[("p".into(), new)], &LowerOptions::default())
        .unwrap()
}

#[test]
fn exec_training_step_writes_the_parameter_in_place() {
    // Large enough for several threads; the sum output reads the old value.
    let n = 1 << 17;
    let program = sgd_step(n);
    let exe = CpuBackend { threads: 2 }.compile(&program).unwrap();
    let pv: Vec<f32> = (0..n).map(|i| (i % 100) as f32).collect();
    let mut p = HostTensor::new(sh(&[n]), kiln_ir::TensorData::F32(pv.clone())).unwrap();
    let g = HostTensor::full(DType::F32, sh(&[n]), 2.0);
    let f = HashMap::from([("g".to_string(), g)]);
    let before = p.as_f32().unwrap().as_ptr();
    let out = exe
        .run_updating(&|n: &str| f.get(n), &mut [&mut p])
        .unwrap();
    assert_eq!(
        p.as_f32().unwrap().as_ptr(),
        before,
        "the tensor was replaced, not updated"
    );
    let want_sum: f64 = pv.iter().map(|&v| f64::from(v)).sum();
    assert!((out[0].item().unwrap() - want_sum).abs() <= 1e-6 * want_sum);
    for (i, (&new, &old)) in p.as_f32().unwrap().iter().zip(&pv).enumerate() {
        assert_eq!(new, old - 1.0, "element {i}");
    }
    // A second run continues from the new value.
    exe.run_updating(&|n: &str| f.get(n), &mut [&mut p])
        .unwrap();
    assert_eq!(p.as_f32().unwrap()[7], pv[7] - 2.0);
}

#[test]
fn exec_training_step_misuse_is_an_error_and_changes_nothing() {
    let program = sgd_step(5);
    let exe = CpuBackend::default().compile(&program).unwrap();
    let g = HostTensor::full(DType::F32, sh(&[5]), 2.0);
    let f = HashMap::from([("g".to_string(), g)]);
    // No parameters passed (plain `run`).
    assert!(exe.run(&|n: &str| f.get(n)).is_err());
    // Wrong shape.
    let mut wrong = HostTensor::full(DType::F32, sh(&[4]), 1.0);
    let err = exe
        .run_updating(&|n: &str| f.get(n), &mut [&mut wrong])
        .unwrap_err();
    assert!(
        matches!(err, CodegenError::Ir(IrError::FeedMismatch { .. })),
        "{err}"
    );
    assert_eq!(wrong, HostTensor::full(DType::F32, sh(&[4]), 1.0));
    // A missing feed: the parameter stays as it was.
    let mut p = HostTensor::full(DType::F32, sh(&[5]), 1.0);
    let none = HashMap::<String, HostTensor>::new();
    assert!(exe
        .run_updating(&|n: &str| none.get(n), &mut [&mut p])
        .is_err());
    assert_eq!(p, HostTensor::full(DType::F32, sh(&[5]), 1.0));
    // Empty parameters copy through the executable's own buffer.
    let empty = sgd_step(0);
    let exe = CpuBackend::default().compile(&empty).unwrap();
    let g0 = HostTensor::full(DType::F32, sh(&[0]), 2.0);
    let f0 = HashMap::from([("g".to_string(), g0)]);
    let mut p0 = HostTensor::full(DType::F32, sh(&[0]), 1.0);
    exe.run_updating(&|n: &str| f0.get(n), &mut [&mut p0])
        .unwrap();
    assert_eq!(p0.numel(), 0);
}

#[test]
fn exec_in_place_update_through_a_transcendental_of_the_parameter() {
    // p <- tanh(p) * 0.5 + exp(p) * 0.25: the staged routines read the parameter while the
    // kernel writes it; long enough for several tiles, with a tail.
    let n = 1000;
    let mut g = Graph::new();
    let p = g.parameter("p", DType::F32, sh(&[n])).unwrap();
    let half = g.scalar(DType::F32, 0.5).unwrap();
    let half = g.reshape(half, sh(&[1])).unwrap();
    let half = g.expand(half, sh(&[n])).unwrap();
    let quarter = g.scalar(DType::F32, 0.25).unwrap();
    let quarter = g.reshape(quarter, sh(&[1])).unwrap();
    let quarter = g.expand(quarter, sh(&[n])).unwrap();
    let t = g.unary(UnaryOp::Tanh, p).unwrap();
    let t = g.binary(BinaryOp::Mul, t, half).unwrap();
    let e = g.unary(UnaryOp::Exp, p).unwrap();
    let e = g.binary(BinaryOp::Mul, e, quarter).unwrap();
    let new = g.binary(BinaryOp::Add, t, e).unwrap();
    let program =
        kiln_ir::kernel::lower_step(&g, &[], &[("p".into(), new)], &LowerOptions::default())
            .unwrap();
    assert_eq!(program.kernels.len(), 1, "{program}");
    let start = feed_for(DType::F32, &sh(&[n]), 11, false);
    let want = kiln_ir::kernel::evaluate_step(
        &program,
        &HashMap::from([("p".to_string(), start.clone())]),
    )
    .unwrap()
    .1;
    let mut got = start.clone();
    let exe = CpuBackend { threads: 2 }.compile(&program).unwrap();
    exe.run_updating(&|_: &str| None, &mut [&mut got]).unwrap();
    same(&got, &want[0], GRAPH_TOL).unwrap();
    // A second step from the new value.
    let want2 =
        kiln_ir::kernel::evaluate_step(&program, &HashMap::from([("p".to_string(), got.clone())]))
            .unwrap()
            .1;
    exe.run_updating(&|_: &str| None, &mut [&mut got]).unwrap();
    same(&got, &want2[0], GRAPH_TOL).unwrap();
    // p <- exp(p): the routine's result is the kernel's output, its argument the parameter
    // (which then goes through a tile array, so the routine's two arrays never overlap).
    let mut g = Graph::new();
    let p = g.parameter("p", DType::F32, sh(&[n])).unwrap();
    let e = g.unary(UnaryOp::Exp, p).unwrap();
    let program =
        kiln_ir::kernel::lower_step(&g, &[], &[("p".into(), e)], &LowerOptions::default()).unwrap();
    let mut got = start.clone();
    let exe = CpuBackend { threads: 2 }.compile(&program).unwrap();
    exe.run_updating(&|_: &str| None, &mut [&mut got]).unwrap();
    let want: Vec<f64> = (0..n).map(|i| start.get_f64(i).exp()).collect();
    let want = HostTensor::from_f64(DType::F32, sh(&[n]), &want).unwrap();
    same(&got, &want, GRAPH_TOL).unwrap();
}

/// The serving case: one executable run from several threads at once gives each thread the
/// result a serial run gives for its feeds (runs share the code, not the memory).
#[test]
fn exec_one_executable_runs_concurrently_from_many_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<kiln_codegen::cpu::CpuExecutable>();
    send_and_sync::<Box<dyn kiln_codegen::Executable>>();

    let g = kiln_ir::text::parse(
        "%0 = input \"x\" : f32[64,300]\n%1 = input \"w\" : f32[300,40]\n\
         %2 = matmul %0, %1 : f32[64,40]\n%3 = tanh %2 : f32[64,40]\n\
         %4 = reduce.sum %3 axes=[1] : f32[64,1]\n%5 = exp %0 : f32[64,300]\n\
         %6 = reduce.max %5 axes=[0] : f32[1,300]\nreturn %4, %6\n",
    )
    .unwrap();
    let p = lower(&g, g.outputs(), &LowerOptions::default()).unwrap();
    let exe = CpuBackend { threads: 2 }.compile(&p).unwrap();
    let feeds_for = |t: usize| -> HashMap<String, HostTensor> {
        [("x", vec![64usize, 300]), ("w", vec![300, 40])]
            .into_iter()
            .enumerate()
            .map(|(i, (n, d))| {
                let seed = (t * 2 + i) as u64;
                (n.to_string(), feed_for(DType::F32, &sh(&d), seed, false))
            })
            .collect()
    };
    let serial: Vec<Vec<HostTensor>> = (0..6)
        .map(|t| {
            let f = feeds_for(t);
            exe.run(&|n: &str| f.get(n)).unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for (t, want) in serial.iter().enumerate() {
            let exe = &exe;
            s.spawn(move || {
                let f = feeds_for(t);
                for _ in 0..20 {
                    let got = exe.run(&|n: &str| f.get(n)).unwrap();
                    for (g, w) in got.iter().zip(want) {
                        assert_eq!(g.to_f64_vec(), w.to_f64_vec(), "thread {t}");
                    }
                }
            });
        }
    });
}
