//! Tests of the kernel IR: golden kernel counts of the shipped graphs (fused and eager),
//! differential tests of the lowering (kernel evaluator vs. the graph interpreter) per op and on
//! random graphs, and properties of the memory plan.

use kiln_ir::kernel::{evaluate_program, lower, BufferKind, KernelKind, LowerOptions, Program};
use kiln_ir::testing::{feeds, random_graph_from_seed, same, Tol};
use kiln_ir::{evaluate, BinaryOp, DType, Graph, HostTensor, IrError, NodeId, Op, Shape};
use std::collections::HashMap;

fn shipped(name: &str) -> Graph {
    let path = format!(
        "{}/../examples/graphs/{name}.kir",
        env!("CARGO_MANIFEST_DIR")
    );
    Graph::load(&path).expect("shipped graph loads")
}

fn lower_both(g: &Graph) -> (Program, Program) {
    let fused = lower(g, g.outputs(), &LowerOptions::default()).expect("fused lowering");
    let eager = lower(g, g.outputs(), &LowerOptions::eager()).expect("eager lowering");
    (fused, eager)
}

fn kinds(p: &Program) -> Vec<&'static str> {
    p.kernels.iter().map(|k| k.kind_name()).collect()
}

/// Non-leaf, non-view primitives: the eager kernel count.
fn eager_count(g: &Graph) -> usize {
    g.node_ids()
        .into_iter()
        .filter(|&id| {
            !matches!(
                g.node(id).unwrap().op,
                Op::Input { .. }
                    | Op::Parameter { .. }
                    | Op::Constant { .. }
                    | Op::Reshape
                    | Op::Permute { .. }
                    | Op::Expand
                    | Op::Slice { .. }
                    | Op::Pad { .. }
                    | Op::Concat { .. }
            )
        })
        .count()
}

/// The kernel evaluator is in fact bit-exact against the interpreter today; the tolerance
/// leaves room for lowerings that reorder sums, such as split reductions.
const KERNEL_TOL: Tol = Tol {
    f32: (1e-5, 1e-5),
    f64: (1e-12, 1e-12),
};

/// Lowers `outputs` fused and eager, runs both with the kernel evaluator and compares each with
/// the interpreter.
fn check(g: &Graph, outputs: &[NodeId], feeds: &HashMap<String, HostTensor>) -> Result<(), String> {
    let want = evaluate(g, outputs, feeds).map_err(|e| format!("interp: {e}"))?;
    for opts in [LowerOptions::default(), LowerOptions::eager()] {
        let p = lower(g, outputs, &opts).map_err(|e| format!("lower: {e}"))?;
        let got = evaluate_program(&p, feeds)
            .map_err(|e| format!("eval (eager={}): {e}\n{p}", opts.eager))?;
        for (i, (w, o)) in want.iter().zip(&got).enumerate() {
            same(o, w, KERNEL_TOL)
                .map_err(|e| format!("eager={} output {i}: {e}\n{p}", opts.eager))?;
        }
    }
    Ok(())
}

#[test]
fn kernel_counts_of_shipped_graphs() {
    let g = shipped("elementwise_chain");
    let (f, e) = lower_both(&g);
    assert_eq!(kinds(&f), ["elementwise"]);
    assert_eq!(e.kernels.len(), eager_count(&g));
    assert_eq!(e.kernels.len(), 8);

    let g = shipped("softmax");
    let (f, e) = lower_both(&g);
    assert_eq!(kinds(&f), ["reduce.max", "reduce.sum", "elementwise"]);
    assert_eq!(e.kernels.len(), eager_count(&g));

    let g = shipped("layernorm");
    let (f, e) = lower_both(&g);
    assert_eq!(kinds(&f), ["reduce.sum", "reduce.sum", "elementwise"]);
    assert_eq!(e.kernels.len(), eager_count(&g));

    let g = shipped("mlp_forward");
    let (f, e) = lower_both(&g);
    assert_eq!(kinds(&f), ["gemm", "gemm"]);
    for k in &f.kernels {
        let KernelKind::Gemm { epilogue, .. } = &k.kind else {
            unreachable!()
        };
        assert!(epilogue.is_some(), "bias add (and relu) fused");
    }
    assert_eq!(e.kernels.len(), eager_count(&g));
    assert_eq!(e.kernels.len(), 5);
}

#[test]
fn kernel_shipped_graphs_match_the_interpreter() {
    for name in ["elementwise_chain", "softmax", "layernorm", "mlp_forward"] {
        let g = shipped(name);
        let f = feeds(&g, 7, false);
        check(&g, g.outputs(), &f).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn kernel_random_graphs_match_the_interpreter() {
    let mut failures = Vec::new();
    let mut kernels = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..400 {
        let g = random_graph_from_seed(seed).unwrap();
        let f = feeds(&g, seed, true);
        if let Err(e) = check(&g, g.outputs(), &f) {
            failures.push(format!("seed {seed}: {e}\n{}", g.to_text()));
        }
        let (a, b) = lower_both(&g);
        kernels.0 += a.kernels.len();
        kernels.1 += b.kernels.len();
        for k in &a.kernels {
            seen.insert(k.kind_name().to_string());
            if let KernelKind::Gemm {
                epilogue: Some(_), ..
            } = k.kind
            {
                seen.insert("gemm+epilogue".into());
            }
        }
        let text = a.to_string();
        for what in ["inrange", " if v", "random.", "select"] {
            if text.contains(what) {
                seen.insert(what.to_string());
            }
        }
    }
    // The generator must exercise every kernel kind and the masked (pad/concat) loads.
    for what in [
        "elementwise",
        "reduce.sum",
        "reduce.max",
        "argmax",
        "gemm",
        "gemm+epilogue",
        "gather",
        "scatter_add",
        "inrange",
        " if v",
        "random.",
        "select",
    ] {
        assert!(seen.contains(what), "{what} never lowered: {seen:?}");
    }
    assert!(
        failures.is_empty(),
        "{} failures, first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(kernels.0 < kernels.1, "fusion saves kernels: {kernels:?}");
}

/// Builds `x` of each float/int dtype and checks every unary and binary op, where and cast.
#[test]
fn kernel_every_elementwise_op_matches() {
    for dtype in DType::ALL {
        let s = Shape::new(&[3, 5]).unwrap();
        let mut g = Graph::new();
        let x = g.input("x", dtype, s.clone()).unwrap();
        let y = g.input("y", dtype, s.clone()).unwrap();
        let c = g.input("c", DType::Bool, s.clone()).unwrap();
        let mut outs = Vec::new();
        for u in kiln_ir::UnaryOp::ALL {
            if u.accepts(dtype) {
                outs.push(g.unary(u, x).unwrap());
            }
        }
        for b in BinaryOp::ALL {
            if b.accepts(dtype) {
                outs.push(g.binary(b, x, y).unwrap());
            }
        }
        outs.push(g.select(c, x, y).unwrap());
        for d in DType::ALL {
            outs.push(g.cast(x, d).unwrap());
        }
        let f = feeds(&g, 3, true);
        check(&g, &outs, &f).unwrap_or_else(|e| panic!("{dtype}: {e}"));
    }
}

#[test]
fn kernel_views_fold_without_copies() {
    let mut g = Graph::new();
    let x = g
        .input("x", DType::F32, Shape::new(&[4, 6]).unwrap())
        .unwrap();
    let t = g.permute(x, &[1, 0]).unwrap();
    let sl = g
        .add(
            Op::Slice {
                ranges: vec![
                    kiln_ir::SliceRange {
                        start: 1,
                        end: 6,
                        step: 2,
                    },
                    kiln_ir::SliceRange {
                        start: 0,
                        end: 4,
                        step: 1,
                    },
                ],
            },
            &[t],
            None,
        )
        .unwrap();
    let p = g
        .add(
            Op::Pad {
                widths: vec![(1, 0), (0, 2)],
                value: -1.5,
            },
            &[sl],
            None,
        )
        .unwrap();
    let e = g.unary(kiln_ir::UnaryOp::Exp, p).unwrap();
    let c = g.add(Op::Concat { axis: 1 }, &[e, p], None).unwrap();
    let f = feeds(&g, 1, false);
    check(&g, &[c], &f).unwrap();
    let prog = lower(&g, &[c], &LowerOptions::default()).unwrap();
    assert_eq!(prog.kernels.len(), 1, "{prog}");
    // A reshape that merges the axes of a transposed view needs the view in a buffer.
    let r = g
        .add(
            Op::Reshape,
            &[t],
            Some(kiln_ir::TensorType::new(
                DType::F32,
                Shape::new(&[24]).unwrap(),
            )),
        )
        .unwrap();
    let n = g.unary(kiln_ir::UnaryOp::Neg, r).unwrap();
    check(&g, &[n], &f).unwrap();
    let prog = lower(&g, &[n], &LowerOptions::default()).unwrap();
    assert_eq!(kinds(&prog), ["elementwise", "elementwise"], "{prog}");
}

#[test]
fn kernel_gather_out_of_range_is_a_runtime_error() {
    let mut g = Graph::new();
    let src = g
        .input("src", DType::F32, Shape::new(&[3, 2]).unwrap())
        .unwrap();
    let idx = g
        .input("idx", DType::I64, Shape::new(&[2, 2]).unwrap())
        .unwrap();
    let out = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
    let base = g
        .input("base", DType::F32, Shape::new(&[3, 2]).unwrap())
        .unwrap();
    let sv = g
        .input("sv", DType::F32, Shape::new(&[2, 2]).unwrap())
        .unwrap();
    let sc = g
        .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
        .unwrap();
    let mut f = feeds(&g, 5, false);
    let bad = HostTensor::from_f64(
        DType::I64,
        Shape::new(&[2, 2]).unwrap(),
        &[0.0, 2.0, 3.0, 1.0],
    );
    f.insert("idx".into(), bad.unwrap());
    for node in [out, sc] {
        let want = evaluate(&g, &[node], &f).unwrap_err();
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            let p = lower(&g, &[node], &opts).unwrap();
            let got = evaluate_program(&p, &f).unwrap_err();
            assert!(matches!(got, IrError::Runtime { .. }));
            assert_eq!(got, want);
        }
    }
    let ok = HostTensor::from_f64(
        DType::I64,
        Shape::new(&[2, 2]).unwrap(),
        &[0.0, 2.0, 2.0, 1.0],
    );
    f.insert("idx".into(), ok.unwrap());
    check(&g, &[out, sc], &f).unwrap();
}

#[test]
fn kernel_memory_plan_never_overlaps_live_temporaries() {
    let mut checked = 0;
    for seed in 0..300 {
        let g = random_graph_from_seed(seed).unwrap();
        for opts in [LowerOptions::default(), LowerOptions::eager()] {
            let p = lower(&g, g.outputs(), &opts).unwrap();
            let temps: Vec<usize> = (0..p.buffers.len())
                .filter(|&i| p.buffers[i].kind == BufferKind::Temp)
                .collect();
            let aligned: usize = temps
                .iter()
                .map(|&i| p.buffers[i].bytes().div_ceil(64) * 64)
                .sum();
            assert!(p.plan.peak_bytes <= aligned, "seed {seed}");
            for &a in &temps {
                let oa = p.plan.offsets[a].unwrap();
                assert_eq!(oa % 64, 0);
                assert!(oa + p.buffers[a].bytes() <= p.plan.peak_bytes);
                for &b in &temps {
                    if a >= b {
                        continue;
                    }
                    let (la, lb) = (p.plan.live[a].unwrap(), p.plan.live[b].unwrap());
                    let live_overlap = la.0 <= lb.1 && lb.0 <= la.1;
                    let ob = p.plan.offsets[b].unwrap();
                    let (sa, sb) = (p.buffers[a].bytes(), p.buffers[b].bytes());
                    let bytes_overlap = sa > 0 && sb > 0 && oa < ob + sb && ob < oa + sa;
                    assert!(
                        !(live_overlap && bytes_overlap),
                        "seed {seed}: b{a} and b{b}\n{}",
                        p.plan_text()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100);
}

#[test]
fn kernel_memory_plan_reuses_memory_on_a_chain() {
    // x -> sum -> expand -> exp -> sum -> expand -> exp -> sum ...: each reduce result is a
    // temporary read only by the next kernel, so the arena holds two at a time.
    let mut g = Graph::new();
    let s = Shape::new(&[8, 256]).unwrap();
    let mut v = g.input("x", DType::F32, s.clone()).unwrap();
    for _ in 0..6 {
        let r = g.reduce(kiln_ir::ReduceOp::Max, v, &[1]).unwrap();
        let e = g.expand(r, s.clone()).unwrap();
        let d = g.binary(BinaryOp::Sub, v, e).unwrap();
        // Materialised: it has two users and is expensive enough.
        let mut w = d;
        for _ in 0..5 {
            w = g.unary(kiln_ir::UnaryOp::Tanh, w).unwrap();
        }
        let w2 = g.binary(BinaryOp::Mul, w, w).unwrap();
        v = g.binary(BinaryOp::Add, w2, w).unwrap();
    }
    g.set_outputs(&[v]).unwrap();
    for opts in [LowerOptions::default(), LowerOptions::eager()] {
        let p = lower(&g, &[v], &opts).unwrap();
        let sum: usize = p
            .buffers
            .iter()
            .filter(|b| b.kind == BufferKind::Temp)
            .map(|b| b.bytes())
            .sum();
        assert!(p.plan.peak_bytes * 2 < sum, "{}", p.plan_text());
        let f = feeds(&g, 9, false);
        check(&g, &[v], &f).unwrap();
    }
}

/// Reductions, argmax, batched and transposed matmul, random, pad and concat at sizes from
/// scalar to 4096 elements, with inf and NaN in the data.
#[test]
fn kernel_every_structured_op_matches() {
    use kiln_ir::{Distribution, ReduceOp, TensorType, UnaryOp};
    let sh = |d: &[usize]| Shape::new(d).unwrap();
    for dims in [
        vec![],
        vec![1],
        vec![3],
        vec![50],
        vec![3, 261],
        vec![4, 1024],
        vec![0, 3],
    ] {
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&dims)).unwrap();
            let rank = dims.len();
            let mut outs = Vec::new();
            for op in [ReduceOp::Sum, ReduceOp::Max] {
                outs.push(g.reduce(op, x, &(0..rank).collect::<Vec<_>>()).unwrap());
                if rank > 0 {
                    outs.push(g.reduce(op, x, &[rank - 1]).unwrap());
                }
            }
            if rank > 0 && dims.iter().all(|&d| d > 0) {
                outs.push(g.add(Op::ArgMax { axis: rank - 1 }, &[x], None).unwrap());
                let widths = (0..rank).map(|d| (d, 1)).collect();
                outs.push(g.add(Op::Pad { widths, value: 7.0 }, &[x], None).unwrap());
                let widths = (0..rank)
                    .map(|d| if d == 0 { (2, 1) } else { (0, 0) })
                    .collect();
                let p = g
                    .add(
                        Op::Pad {
                            widths,
                            value: -1.0,
                        },
                        &[x],
                        None,
                    )
                    .unwrap();
                outs.push(g.add(Op::Concat { axis: 0 }, &[x, p, x], None).unwrap());
            }
            let f = feeds(&g, dims.len() as u64, true);
            check(&g, &outs, &f).unwrap_or_else(|e| panic!("{dtype}{dims:?}: {e}"));
        }
    }
    for dtype in [DType::F32, DType::F64, DType::I64] {
        let mut g = Graph::new();
        let a = g.input("a", dtype, sh(&[2, 5, 3])).unwrap();
        let b = g.input("b", dtype, sh(&[2, 4, 3])).unwrap();
        let bt = g.permute(b, &[0, 2, 1]).unwrap();
        let m = g.matmul(a, bt).unwrap();
        let n = g.unary(UnaryOp::Neg, m).unwrap();
        let z = g.input("z", dtype, sh(&[3, 0])).unwrap();
        let w = g.input("w", dtype, sh(&[0, 2])).unwrap();
        let empty_k = g.matmul(z, w).unwrap();
        let f = feeds(&g, 11, false);
        check(&g, &[m, n, empty_k], &f).unwrap_or_else(|e| panic!("{dtype}: {e}"));
        let p = lower(&g, &[n], &LowerOptions::default()).unwrap();
        assert_eq!(
            kinds(&p),
            ["gemm"],
            "transposed operand read by strides:\n{p}"
        );
    }
    let mut g = Graph::new();
    let ty = TensorType::new(DType::F32, sh(&[3, 7]));
    let r = g
        .add(
            Op::Random {
                dist: Distribution::Normal,
                seed: 5,
            },
            &[],
            Some(ty),
        )
        .unwrap();
    let t = g.permute(r, &[1, 0]).unwrap();
    let e = g.unary(UnaryOp::Exp, t).unwrap();
    check(&g, &[r, e], &HashMap::new()).unwrap();
}

/// Values that must be plain strided views (gemm operands, gather sources) are materialised
/// when they are not, and very long chains are split instead of overflowing the stack.
#[test]
fn kernel_forced_materialisation() {
    use kiln_ir::UnaryOp;
    let sh = |d: &[usize]| Shape::new(d).unwrap();
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, sh(&[4, 3])).unwrap();
    let w = g.input("w", DType::F32, sh(&[3, 5])).unwrap();
    let e = g.unary(UnaryOp::Exp, x).unwrap();
    let m = g.matmul(e, w).unwrap();
    let p = g
        .add(
            Op::Pad {
                widths: vec![(1, 1), (0, 0)],
                value: 2.0,
            },
            &[w],
            None,
        )
        .unwrap();
    let idx = g
        .constant(
            HostTensor::from_f64(
                DType::I32,
                sh(&[2, 5]),
                &[0., 4., 1., 2., 3., 4., 0., 0., 1., 1.],
            )
            .unwrap(),
        )
        .unwrap();
    let ga = g.add(Op::Gather { axis: 0 }, &[p, idx], None).unwrap();
    let f = feeds(&g, 2, false);
    check(&g, &[m, ga], &f).unwrap();
    let prog = lower(&g, &[m, ga], &LowerOptions::default()).unwrap();
    assert_eq!(
        kinds(&prog),
        ["elementwise", "gemm", "elementwise", "gather"],
        "{prog}"
    );

    let mut g = Graph::new();
    let x = g.input("x", DType::F64, sh(&[16])).unwrap();
    let mut v = x;
    for i in 0..3000 {
        let u = [UnaryOp::Sin, UnaryOp::Neg, UnaryOp::Abs][i % 3];
        v = g.unary(u, v).unwrap();
    }
    let f = feeds(&g, 4, false);
    let prog = lower(&g, &[v], &LowerOptions::default()).unwrap();
    assert!(
        prog.kernels.len() > 3000 / 66 && prog.kernels.len() < 3000 / 30,
        "{}",
        prog.kernels.len()
    );
    check(&g, &[v], &f).unwrap();
}

/// Larger random graphs (more sharing, longer chains, more view stacking).
#[test]
fn kernel_larger_random_graphs_match_the_interpreter() {
    use kiln_ir::testing::{random_graph, Entropy, GenConfig};
    let cfg = GenConfig {
        max_nodes: 60,
        max_rank: 3,
        max_dim: 5,
        ..GenConfig::default()
    };
    for seed in 1000..1150 {
        let g = random_graph(&mut Entropy::from_seed(seed), &cfg).unwrap();
        let f = feeds(&g, seed, true);
        check(&g, g.outputs(), &f).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", g.to_text()));
    }
}

/// Lowering, autodiff and the interpreter order only the needed nodes
/// (`Graph::ordered_ancestors`); that order must be the whole graph's order filtered to them.
#[test]
fn ordered_ancestors_is_the_topological_order_of_the_needed_nodes() {
    for seed in 0..100 {
        let g = random_graph_from_seed(seed).expect("a random graph");
        for &root in g.node_ids().iter().step_by(3) {
            let needed = g.ancestors(&[root]);
            let want: Vec<NodeId> = g
                .topo_order()
                .into_iter()
                .filter(|id| needed.contains(id))
                .collect();
            assert_eq!(
                g.ordered_ancestors(&[root]),
                want,
                "seed {seed}, root {root}"
            );
        }
        let outputs = g.outputs().to_vec();
        let needed = g.ancestors(&outputs);
        let want: Vec<NodeId> = g
            .topo_order()
            .into_iter()
            .filter(|id| needed.contains(id))
            .collect();
        assert_eq!(g.ordered_ancestors(&outputs), want, "seed {seed}");
    }
}
