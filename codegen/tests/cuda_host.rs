//! The CUDA C that `kiln_codegen::cuda` generates, checked without a GPU (issue 12, item 7):
//! the text is compiled by the host C++ compiler under a small header (`cuda_host/host.h`)
//! that turns a launch into loops over blocks and threads, run on the kernel IR's buffers
//! (arena at the memory plan's offsets, small grids so that grid-stride loops wrap), and
//! compared with the kernel evaluator `evaluate_step`: every op x dtype x awkward size, views,
//! reductions with epilogues, argmax, gemm epilogues, gather/scatter with bad indices (the
//! same error codes as the CPU loop kernels), Philox bit for bit, the shipped graphs, a
//! training step updating a parameter in place, and random graphs — each fused and eager.
//! Without a C++ compiler each test prints that it was skipped.

use std::collections::HashMap;
use std::sync::Arc;

#[path = "cuda_host/runner.rs"]
mod runner;

use kiln_ir::kernel::{evaluate_step, lower, lower_step, LowerOptions, Program};
use kiln_ir::testing::{feeds, known_difference, random_graph_from_seed, same, Tol};
use kiln_ir::{
    BinaryOp, DType, Distribution, Graph, HostTensor, IrError, NodeId, Op, ReduceOp, Shape,
    SliceRange, TensorType, UnaryOp,
};
use runner::{run_batch, skip, Outcome, Stats};

/// The CPU loop tests' tight tolerance: elementwise results are exact but for the math
/// routines' last bits.
const TIGHT: Tol = Tol {
    f32: (1e-5, 1e-6),
    f64: (1e-12, 1e-300),
};

/// Bit for bit (NaN matches NaN).
const EXACT: Tol = Tol {
    f32: (0.0, 0.0),
    f64: (0.0, 0.0),
};

/// Programs per compiled translation unit.
const BATCH: usize = 120;

struct Case {
    label: String,
    program: Program,
    feeds: Arc<HashMap<String, HostTensor>>,
    tol: Tol,
    excuse: Option<&'static str>,
}

/// Collects programs, runs them in batches and keeps the verdicts.
struct Checker {
    name: &'static str,
    cases: Vec<Case>,
    stats: Stats,
    checked: usize,
    excused: usize,
    failures: Vec<String>,
}

impl Checker {
    fn new(name: &'static str) -> Checker {
        Checker {
            name,
            cases: Vec::new(),
            stats: Stats::default(),
            checked: 0,
            excused: 0,
            failures: Vec::new(),
        }
    }

    /// Lowers `outputs` of `g` fused and eager and queues both programs.
    fn graph(
        &mut self,
        label: &str,
        g: &Graph,
        outputs: &[NodeId],
        feeds: &Arc<HashMap<String, HostTensor>>,
        tol: Tol,
    ) {
        let excuse = known_difference(g);
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            match lower(g, outputs, &opts) {
                Ok(p) => self.program(
                    &format!("{label} eager={}", opts.eager),
                    p,
                    feeds,
                    tol,
                    excuse,
                ),
                Err(e) => self.failures.push(format!("{label}: lower: {e}")),
            }
        }
    }

    fn program(
        &mut self,
        label: &str,
        program: Program,
        feeds: &Arc<HashMap<String, HostTensor>>,
        tol: Tol,
        excuse: Option<&'static str>,
    ) {
        self.cases.push(Case {
            label: label.to_string(),
            program,
            feeds: Arc::clone(feeds),
            tol,
            excuse,
        });
        if self.cases.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let cases = std::mem::take(&mut self.cases);
        let refs: Vec<(&Program, &HashMap<String, HostTensor>)> =
            cases.iter().map(|c| (&c.program, &*c.feeds)).collect();
        let outcomes = match run_batch(&refs, &mut self.stats) {
            Ok(o) => o,
            Err(e) => {
                self.failures.push(format!("batch of {}: {e}", cases.len()));
                return;
            }
        };
        for (case, outcome) in cases.iter().zip(outcomes) {
            self.checked += 1;
            if let Err(e) = verdict(case, outcome) {
                match case.excuse {
                    Some(why) => {
                        eprintln!(
                            "{}: excused ({why}): {}",
                            case.label,
                            e.lines().next().unwrap_or("")
                        );
                        self.excused += 1;
                    }
                    None => self
                        .failures
                        .push(format!("{}: {e}\n{}", case.label, case.program)),
                }
            }
        }
    }

    /// Runs what is left, prints the summary and fails on any difference.
    fn finish(mut self) -> (usize, usize) {
        self.flush();
        let s = &self.stats;
        eprintln!(
            "{}: {} programs ({} kernels, {} launches) compiled in {} host builds{} and checked, {} excused by known_difference, {} failures",
            self.name,
            s.programs,
            s.kernels,
            s.launches,
            s.compiles,
            if runner::sanitize() { " (ASan+UBSan)" } else { "" },
            self.excused,
            self.failures.len()
        );
        for f in self.failures.iter().take(3) {
            eprintln!("FAIL {f}");
        }
        assert!(
            self.failures.is_empty(),
            "{}: {} failures, first:\n{}",
            self.name,
            self.failures.len(),
            self.failures[0]
        );
        (self.checked, self.excused)
    }
}

/// Host run against the evaluator: same values (within `tol`), or both an index error.
fn verdict(case: &Case, outcome: Result<Outcome, String>) -> Result<(), String> {
    let want = evaluate_step(&case.program, &case.feeds);
    match (want, outcome?) {
        (Ok((wo, wu)), Outcome::Done(o, u)) => {
            for (i, (o, w)) in o.iter().zip(&wo).chain(u.iter().zip(&wu)).enumerate() {
                same(o, w, case.tol).map_err(|e| format!("output {i}: {e}"))?;
            }
            Ok(())
        }
        (Err(IrError::Runtime { .. }), Outcome::IndexError { .. }) => Ok(()),
        (w, o) => Err(format!("evaluator {:?} vs host CUDA {o:?}", w.err())),
    }
}

fn sh(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

/// Broadcasts `x` to `dims` (reshaping to the target rank with leading 1s first).
fn bcast(g: &mut Graph, x: NodeId, dims: &[usize]) -> NodeId {
    let xd = g.node(x).unwrap().shape().dims().to_vec();
    let mut r = vec![1; dims.len() - xd.len()];
    r.extend(xd);
    let x = g.reshape(x, sh(&r)).unwrap();
    g.expand(x, sh(dims)).unwrap()
}

const SIZES: [usize; 8] = [0, 1, 3, 4, 5, 17, 783, 4096];

#[test]
fn cuda_host_every_elementwise_op_dtype_and_size() {
    if skip("cuda_host_every_elementwise_op_dtype_and_size") {
        return;
    }
    let mut c = Checker::new("elementwise ops x dtypes x sizes");
    for dtype in DType::ALL {
        for n in SIZES {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&[n])).unwrap();
            let y = g.input("y", dtype, sh(&[n])).unwrap();
            let cnd = g.input("c", DType::Bool, sh(&[n])).unwrap();
            let mut outs = Vec::new();
            for u in UnaryOp::ALL {
                if u.accepts(dtype) {
                    outs.push(g.unary(u, x).unwrap());
                }
            }
            for b in BinaryOp::ALL {
                if b.accepts(dtype) {
                    outs.push(g.binary(b, x, y).unwrap());
                }
            }
            outs.push(g.select(cnd, x, y).unwrap());
            for d in DType::ALL {
                outs.push(g.cast(x, d).unwrap());
            }
            let f = Arc::new(feeds(&g, n as u64 + 3, true));
            for &o in &outs {
                c.graph(&format!("{dtype}[{n}] {o}"), &g, &[o], &f, TIGHT);
            }
        }
    }
    let (checked, _) = c.finish();
    assert!(checked > 600, "{checked}");
}

/// Integer and float extremes through casts, neg/abs saturation and comparisons with NaN.
#[test]
fn cuda_host_casts_and_saturation_at_the_extremes() {
    if skip("cuda_host_casts_and_saturation_at_the_extremes") {
        return;
    }
    let mut c = Checker::new("extreme values");
    let floats = [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.5,
        -2.5,
        2147483647.0,
        2147483648.0,
        -2147483648.0,
        -2147483649.0,
        3e9,
        -3e9,
        9.3e18,
        -9.3e18,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-310,
    ];
    let ints = [0.0, 1.0, -1.0, 2147483647.0, -2147483648.0, 9.2e18, -9.2e18];
    for dtype in DType::ALL {
        let vals: Vec<f64> = if dtype.is_float() {
            floats.to_vec()
        } else {
            ints.to_vec()
        };
        let n = vals.len();
        let mut g = Graph::new();
        let x = g.input("x", dtype, sh(&[n])).unwrap();
        let y = g.input("y", dtype, sh(&[n])).unwrap();
        let mut outs = Vec::new();
        for d in DType::ALL {
            outs.push(g.cast(x, d).unwrap());
        }
        for u in [UnaryOp::Neg, UnaryOp::Abs] {
            if u.accepts(dtype) {
                outs.push(g.unary(u, x).unwrap());
            }
        }
        for b in [
            BinaryOp::Max,
            BinaryOp::Min,
            BinaryOp::Lt,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::Ge,
        ] {
            if b.accepts(dtype) {
                outs.push(g.binary(b, x, y).unwrap());
            }
        }
        let mut f = HashMap::new();
        let tx = HostTensor::from_f64(dtype, sh(&[n]), &vals).unwrap();
        let mut rev = vals.clone();
        rev.reverse();
        f.insert("x".to_string(), tx);
        f.insert(
            "y".to_string(),
            HostTensor::from_f64(dtype, sh(&[n]), &rev).unwrap(),
        );
        let f = Arc::new(f);
        for &o in &outs {
            c.graph(&format!("{dtype} {o}"), &g, &[o], &f, EXACT);
        }
    }
    c.finish();
}

/// Broadcasts, permutes, strided slices, pad and concat: masked and non-unit-stride loads.
#[test]
fn cuda_host_views_broadcast_permute_slice_pad_concat() {
    if skip("cuda_host_views_broadcast_permute_slice_pad_concat") {
        return;
    }
    let mut c = Checker::new("views");
    for dtype in [DType::F32, DType::F64, DType::I32, DType::Bool] {
        for (r, cols) in [(1, 1), (3, 5), (7, 33), (4, 783)] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&[r, cols])).unwrap();
            let row = g.input("row", dtype, sh(&[cols])).unwrap();
            let col = g.input("col", dtype, sh(&[r, 1])).unwrap();
            let yt = g.input("yt", dtype, sh(&[cols, r])).unwrap();
            let re = bcast(&mut g, row, &[r, cols]);
            let ce = bcast(&mut g, col, &[r, cols]);
            let y = g.permute(yt, &[1, 0]).unwrap();
            let op = if dtype == DType::Bool {
                BinaryOp::Or
            } else {
                BinaryOp::Max
            };
            let a = g.binary(op, x, re).unwrap();
            let b = g.binary(op, ce, y).unwrap();
            let sum = g.binary(op, a, b).unwrap();
            let ranges = vec![
                SliceRange {
                    start: 0,
                    end: r,
                    step: 2,
                },
                SliceRange {
                    start: cols / 3,
                    end: cols,
                    step: 3,
                },
            ];
            let sl = g.add(Op::Slice { ranges }, &[sum], None).unwrap();
            let pad = Op::Pad {
                widths: vec![(1, 2), (3, 0)],
                value: 1.0,
            };
            let pad = g.add(pad, &[sl], None).unwrap();
            let pad_rows = Op::Pad {
                widths: vec![(2, 1), (0, 0)],
                value: 0.0,
            };
            let pad_rows = g.add(pad_rows, &[sum], None).unwrap();
            let cat1 = g.add(Op::Concat { axis: 1 }, &[x, y, x], None).unwrap();
            let cat0 = g.add(Op::Concat { axis: 0 }, &[x, y], None).unwrap();
            let f = Arc::new(feeds(&g, (r * cols) as u64, true));
            for o in [sum, sl, pad, pad_rows, cat1, cat0] {
                c.graph(&format!("{dtype} {r}x{cols} {o}"), &g, &[o], &f, TIGHT);
            }
        }
    }
    c.finish();
}

#[test]
fn cuda_host_reductions_over_every_axis_set() {
    if skip("cuda_host_reductions_over_every_axis_set") {
        return;
    }
    let mut c = Checker::new("reductions");
    let shapes: [&[usize]; 10] = [
        &[],
        &[1],
        &[5],
        &[4096],
        &[3, 17],
        &[17, 3],
        &[4, 783],
        &[2, 3, 5],
        &[0, 3],
        &[3, 0],
    ];
    for dims in shapes {
        let rank = dims.len();
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(dims)).unwrap();
            let mut outs = Vec::new();
            for mask in 0..(1u32 << rank) {
                let axes: Vec<usize> = (0..rank).filter(|&k| mask & (1 << k) != 0).collect();
                for op in [ReduceOp::Sum, ReduceOp::Max] {
                    let r = g.reduce(op, x, &axes).unwrap();
                    outs.push(r);
                    if dtype.is_float() {
                        let e = match op {
                            ReduceOp::Max => g.unary(UnaryOp::Exp, r).unwrap(),
                            ReduceOp::Sum => r,
                        };
                        let m = g.binary(BinaryOp::Mul, e, r).unwrap();
                        let one = g.scalar(dtype, 1.0).unwrap();
                        let rd = g.node(r).unwrap().shape().dims().to_vec();
                        let one = bcast(&mut g, one, &rd);
                        outs.push(g.binary(BinaryOp::Add, m, one).unwrap());
                    }
                }
            }
            let f = Arc::new(feeds(&g, rank as u64 + 1, true));
            // Sums accumulate in f64 in row-major order, like the evaluator: exact but for exp.
            for o in outs {
                c.graph(&format!("{dtype}{dims:?} {o}"), &g, &[o], &f, TIGHT);
            }
        }
    }
    c.finish();
}

#[test]
fn cuda_host_argmax_first_maximum_and_nan() {
    if skip("cuda_host_argmax_first_maximum_and_nan") {
        return;
    }
    let mut c = Checker::new("argmax");
    let data = [
        1.0,
        3.0,
        3.0,
        -1.0,
        f64::NAN,
        2.0,
        3.0,
        f64::NAN,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for dims in [[3usize, 4], [4, 3], [1, 12], [12, 1]] {
            let mut g = Graph::new();
            let vals: Vec<f64> = data
                .iter()
                .map(|&v| {
                    if dtype.is_float() || !v.is_nan() {
                        v
                    } else {
                        9.0
                    }
                })
                .collect();
            let x = g
                .constant(HostTensor::from_f64(dtype, sh(&dims), &vals).unwrap())
                .unwrap();
            let xi = g.input("x", dtype, sh(&dims)).unwrap();
            let a0 = g.add(Op::ArgMax { axis: 0 }, &[x], None).unwrap();
            let a1 = g.add(Op::ArgMax { axis: 1 }, &[x], None).unwrap();
            let t = g.permute(xi, &[1, 0]).unwrap();
            let a2 = g.add(Op::ArgMax { axis: 1 }, &[t], None).unwrap();
            let f = Arc::new(feeds(&g, 5, true));
            c.graph(&format!("{dtype}{dims:?}"), &g, &[a0, a1, a2], &f, EXACT);
        }
    }
    c.finish();
}

/// Gemm epilogues (bias, relu, a cast to another dtype), batched and transposed; the product
/// itself by the naive `_product` kernel.
#[test]
fn cuda_host_gemm_epilogues() {
    if skip("cuda_host_gemm_epilogues") {
        return;
    }
    let mut c = Checker::new("gemm epilogues");
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for (batch, m, k, n) in [
            (vec![], 3, 4, 5),
            (vec![2], 5, 3, 17),
            (vec![], 1, 1, 1),
            (vec![3], 4, 0, 2),
        ] {
            let mut g = Graph::new();
            let ad = [batch.clone(), vec![m, k]].concat();
            let bd = [batch.clone(), vec![n, k]].concat();
            let od = [batch.clone(), vec![m, n]].concat();
            let a = g.input("a", dtype, sh(&ad)).unwrap();
            let bt = g.input("bt", dtype, sh(&bd)).unwrap();
            let r = bd.len();
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 1, r - 2);
            let b = g.permute(bt, &perm).unwrap();
            let mm = g.matmul(a, b).unwrap();
            let bias = g.input("bias", dtype, sh(&[n])).unwrap();
            let bias = bcast(&mut g, bias, &od);
            let y = g.binary(BinaryOp::Add, mm, bias).unwrap();
            let zero = g.scalar(dtype, 0.0).unwrap();
            let zero = bcast(&mut g, zero, &od);
            let relu = g.binary(BinaryOp::Max, y, zero).unwrap();
            let other = if dtype == DType::F64 {
                DType::F32
            } else {
                DType::F64
            };
            let cast = g.cast(mm, other).unwrap();
            let f = Arc::new(feeds(&g, 4, false));
            for o in [mm, relu, cast] {
                c.graph(
                    &format!("{dtype} {batch:?}x{m}x{k}x{n} {o}"),
                    &g,
                    &[o],
                    &f,
                    TIGHT,
                );
            }
        }
    }
    c.finish();
}

#[test]
fn cuda_host_gather_and_scatter_check_indices() {
    if skip("cuda_host_gather_and_scatter_check_indices") {
        return;
    }
    let mut c = Checker::new("gather/scatter");
    let mut stats = Stats::default();
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for idx_dtype in [DType::I32, DType::I64] {
            let mut g = Graph::new();
            let src = g.input("src", dtype, sh(&[5, 3])).unwrap();
            let idx = g.input("idx", idx_dtype, sh(&[4, 3])).unwrap();
            let ga0 = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
            let idx1 = g.input("idx1", idx_dtype, sh(&[5, 2])).unwrap();
            let ga1 = g.add(Op::Gather { axis: 1 }, &[src, idx1], None).unwrap();
            let base = g.input("base", dtype, sh(&[5, 3])).unwrap();
            let sv = g.input("sv", dtype, sh(&[4, 3])).unwrap();
            let sc = g
                .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
                .unwrap();
            let e = g.unary(UnaryOp::Neg, sc).unwrap();
            let mut f = feeds(&g, 9, false);
            let good = [0., 4., 1., 2., 2., 2., 3., 0., 4., 1., 1., 0.];
            f.insert(
                "idx".into(),
                HostTensor::from_f64(idx_dtype, sh(&[4, 3]), &good).unwrap(),
            );
            let good1 = [0., 2., 1., 1., 2., 0., 0., 0., 2., 2.];
            f.insert(
                "idx1".into(),
                HostTensor::from_f64(idx_dtype, sh(&[5, 2]), &good1).unwrap(),
            );
            let fa = Arc::new(f.clone());
            for o in [ga0, ga1, sc, e] {
                c.graph(&format!("{dtype}/{idx_dtype} {o}"), &g, &[o], &fa, TIGHT);
            }
            // Out of range at flat position 5 (too large) and at 2 (negative): the launch's
            // error word holds 1 + position, the CPU loop kernels' code.
            for (pos, bad) in [(5usize, 5.0), (2, -1.0)] {
                let mut v = good;
                v[pos] = bad;
                f.insert(
                    "idx".into(),
                    HostTensor::from_f64(idx_dtype, sh(&[4, 3]), &v).unwrap(),
                );
                for o in [ga0, sc] {
                    let p = lower(&g, &[o], &LowerOptions::eager()).unwrap();
                    assert!(matches!(
                        evaluate_step(&p, &f),
                        Err(IrError::Runtime { .. })
                    ));
                    let got = run_batch(&[(&p, &f)], &mut stats)
                        .unwrap()
                        .remove(0)
                        .unwrap();
                    let k = p.kernels.len() - 1;
                    match got {
                        Outcome::IndexError { kernel, code } => {
                            assert_eq!((kernel, code), (k, 1 + pos as u64), "{dtype}/{idx_dtype}")
                        }
                        Outcome::Done(..) => panic!("{dtype}/{idx_dtype}: no index error\n{p}"),
                    }
                }
            }
        }
    }
    c.finish();
}

/// Philox streams bit for bit, through views and an epilogue.
#[test]
fn cuda_host_random_matches_philox_bit_for_bit() {
    if skip("cuda_host_random_matches_philox_bit_for_bit") {
        return;
    }
    let mut c = Checker::new("random");
    for dist in [Distribution::Uniform, Distribution::Normal] {
        for seed in [0u64, 42, u64::MAX] {
            for dims in [vec![], vec![1], vec![17], vec![3, 7], vec![4, 783]] {
                let mut g = Graph::new();
                let ty = TensorType::new(DType::F32, sh(&dims));
                let r = g.add(Op::Random { dist, seed }, &[], Some(ty)).unwrap();
                let mut outs = vec![r];
                if dims.len() == 2 {
                    let t = g.permute(r, &[1, 0]).unwrap();
                    let d = g.cast(t, DType::F64).unwrap();
                    outs.push(g.binary(BinaryOp::Add, d, d).unwrap());
                }
                let f = Arc::new(HashMap::new());
                for o in outs {
                    c.graph(
                        &format!("{dist:?} seed {seed} {dims:?} {o}"),
                        &g,
                        &[o],
                        &f,
                        EXACT,
                    );
                }
            }
        }
    }
    c.finish();
}

fn shipped(name: &str) -> Graph {
    let path = format!(
        "{}/../examples/graphs/{name}.kir",
        env!("CARGO_MANIFEST_DIR")
    );
    Graph::load(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn cuda_host_shipped_graphs() {
    if skip("cuda_host_shipped_graphs") {
        return;
    }
    let mut c = Checker::new("shipped graphs");
    let tol = Tol {
        f32: (1e-4, 1e-5),
        f64: (1e-10, 1e-12),
    };
    for name in [
        "elementwise_chain",
        "layernorm",
        "mlp_forward",
        "mlp_train_step",
        "softmax",
    ] {
        let g = shipped(name);
        let f = Arc::new(feeds(&g, 11, false));
        c.graph(name, &g, g.outputs(), &f, tol);
    }
    c.finish();
}

/// A training step that writes a parameter's new value in place (the one kernel that reads
/// its own output buffer).
#[test]
fn cuda_host_training_step_updates_in_place() {
    if skip("cuda_host_training_step_updates_in_place") {
        return;
    }
    let mut c = Checker::new("training step");
    for n in [1usize, 5, 783] {
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[n])).unwrap();
        let x = g.input("x", DType::F32, sh(&[n])).unwrap();
        let grad = g.binary(BinaryOp::Mul, x, p).unwrap();
        let lr = g.scalar(DType::F32, 0.1).unwrap();
        let lr = bcast(&mut g, lr, &[n]);
        let step = g.binary(BinaryOp::Mul, lr, grad).unwrap();
        let new = g.binary(BinaryOp::Sub, p, step).unwrap();
        let loss = g.reduce(ReduceOp::Sum, grad, &[0]).unwrap();
        let f = Arc::new(feeds(&g, 3, false));
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            let prog = lower_step(&g, &[loss], &[("p".into(), new)], &opts).unwrap();
            assert_eq!(prog.updates.len(), 1);
            c.program(
                &format!("sgd[{n}] eager={}", opts.eager),
                prog,
                &f,
                TIGHT,
                None,
            );
        }
    }
    c.finish();
}

/// Random graphs (fused and eager) against the evaluator.
#[test]
fn cuda_host_random_graphs_match_the_evaluator() {
    if skip("cuda_host_random_graphs_match_the_evaluator") {
        return;
    }
    let seeds: u64 = std::env::var("KILN_CUDA_HOST_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let tol = Tol {
        f32: (1e-4, 1e-5),
        f64: (1e-10, 1e-12),
    };
    let mut c = Checker::new("random graphs");
    for seed in 0..seeds {
        let g = random_graph_from_seed(seed).unwrap();
        let f = Arc::new(feeds(&g, seed, true));
        c.graph(&format!("seed {seed}"), &g, g.outputs(), &f, tol);
    }
    let (checked, excused) = c.finish();
    assert!(
        checked as u64 >= 2 * seeds && excused <= 20,
        "{checked} checked, {excused} excused"
    );
}

/// Long axes (the CPU backend's chunk sizes, around 2^15 and 2^16 elements): maps, a long
/// reduced row, a gemm epilogue over one long row and a scatter-add whose base is a long map,
/// so that the grid-stride loops of the small host grids wrap hundreds of times.
#[test]
fn cuda_host_long_axes() {
    if skip("cuda_host_long_axes") {
        return;
    }
    const C: usize = 16384;
    let mut c = Checker::new("long axes");
    let tol = Tol {
        f32: (2e-5, 2e-4),
        f64: (1e-12, 1e-12),
    };
    for n in [2 * C + 5, 3 * C + 17] {
        for dtype in [DType::F32, DType::F64, DType::I32] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&[3, n])).unwrap();
            let a = g.input("a", dtype, sh(&[3, n])).unwrap();
            let m = g.binary(BinaryOp::Mul, x, a).unwrap();
            let s = g.binary(BinaryOp::Add, m, x).unwrap();
            let z = g.scalar(dtype, 0.0).unwrap();
            let z = bcast(&mut g, z, &[3, n]);
            let relu = g.binary(BinaryOp::Max, s, z).unwrap();
            let row = g.reduce(ReduceOp::Sum, relu, &[1]).unwrap();
            let col = g.reduce(ReduceOp::Max, s, &[0]).unwrap();
            let f = Arc::new(feeds(&g, n as u64, dtype.is_float()));
            for o in [relu, row, col] {
                c.graph(&format!("{dtype}[3, {n}] {o}"), &g, &[o], &f, tol);
            }
        }
    }
    let (k, n) = (2, 2 * C + 3);
    let mut g = Graph::new();
    let a = g.input("a", DType::F32, sh(&[1, k])).unwrap();
    let b = g.input("b", DType::F32, sh(&[k, n])).unwrap();
    let mm = g.matmul(a, b).unwrap();
    let bias = g.input("bias", DType::F32, sh(&[1, n])).unwrap();
    let y = g.binary(BinaryOp::Add, mm, bias).unwrap();
    let f = Arc::new(feeds(&g, 7, false));
    c.graph("gemm epilogue over a long row", &g, &[y], &f, TIGHT);
    let mut g = Graph::new();
    let base = g.input("base", DType::F32, sh(&[n])).unwrap();
    let idx = g.input("idx", DType::I64, sh(&[5])).unwrap();
    let sv = g.input("sv", DType::F32, sh(&[5])).unwrap();
    let sc = g
        .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
        .unwrap();
    let mut f = feeds(&g, 8, false);
    let at = [0.0, 3.0, 3.0, (n - 1) as f64, 17.0];
    f.insert(
        "idx".into(),
        HostTensor::from_f64(DType::I64, sh(&[5]), &at).unwrap(),
    );
    c.graph(
        "scatter-add into a long base",
        &g,
        &[sc],
        &Arc::new(f),
        TIGHT,
    );
    c.finish();
}
