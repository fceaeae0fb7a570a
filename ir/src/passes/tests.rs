//! Tests of the passes: each rule on a small hand-built graph, then a differential check of
//! every pass (and `optimize`) on random well-typed graphs: same outputs through the
//! interpreter before and after, `verify()` true, inputs and parameters kept.

use super::{cse, dce, fold_constants, optimize, simplify};
use crate::autodiff::gradcheck::{random_feeds, Rng};
use crate::autodiff::helpers::full;
use crate::dtype::DType;
use crate::graph::{Graph, NodeId};
use crate::interp::evaluate;
use crate::op::{BinaryOp, Op, ReduceOp, TensorType, UnaryOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;
use std::collections::HashMap;

fn s(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

type Pass = fn(&mut Graph) -> crate::error::Result<usize>;

const PASSES: [(&str, Pass); 5] = [
    ("fold_constants", fold_constants),
    ("simplify", simplify),
    ("cse", cse),
    ("dce", dce),
    ("optimize", optimize),
];

/// Element-wise equality up to `tol`, with NaN equal to NaN.
fn same_values(a: &HostTensor, b: &HostTensor, tol: f64) -> bool {
    a.dtype() == b.dtype()
        && a.shape() == b.shape()
        && (0..a.numel()).all(|i| {
            let (x, y) = (a.get_f64(i), b.get_f64(i));
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * (1.0 + y.abs())
        })
}

/// Runs `pass` on a copy of `g` and checks the outputs, `verify()` and the feed interface.
fn check_pass(name: &str, pass: Pass, g: &Graph, feeds: &HashMap<String, HostTensor>) -> Graph {
    let before = evaluate(g, g.outputs(), feeds).unwrap();
    let mut h = g.clone();
    pass(&mut h).unwrap();
    h.verify()
        .unwrap_or_else(|e| panic!("{name} broke verify: {e}"));
    assert_eq!(h.inputs(), g.inputs(), "{name} changed the inputs");
    assert_eq!(h.parameters(), g.parameters(), "{name} changed the params");
    let after = evaluate(&h, h.outputs(), feeds).unwrap();
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        assert!(
            same_values(a, b, 1e-9),
            "{name} changed output {i}: {a:?} vs {b:?}"
        );
    }
    h
}

fn count(g: &Graph, pred: impl Fn(&Op) -> bool) -> usize {
    g.node_ids()
        .into_iter()
        .filter(|&id| pred(&g.node(id).unwrap().op))
        .count()
}

#[test]
fn passes_simplify_identities() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2, 3])).unwrap();
    let ty = TensorType::new(DType::F32, s(&[2, 3]));
    let one = full(&mut g, &ty, 1.0).unwrap();
    let zero = full(&mut g, &ty, 0.0).unwrap();
    let a = g.binary(BinaryOp::Mul, x, one).unwrap();
    let a = g.binary(BinaryOp::Mul, one, a).unwrap();
    let a = g.binary(BinaryOp::Add, a, zero).unwrap();
    let a = g.binary(BinaryOp::Add, zero, a).unwrap();
    let a = g.binary(BinaryOp::Sub, a, zero).unwrap();
    let a = g.binary(BinaryOp::Div, a, one).unwrap();
    let a = g.unary(UnaryOp::Neg, a).unwrap();
    let a = g.unary(UnaryOp::Neg, a).unwrap();
    let a = g.add(Op::Cast, &[a], Some(ty.clone())).unwrap();
    let r = g.reshape(a, s(&[3, 2])).unwrap();
    let r = g.reshape(r, s(&[6])).unwrap();
    let r = g.reshape(r, s(&[2, 3])).unwrap();
    let p = g.permute(r, &[1, 0]).unwrap();
    let p = g.permute(p, &[1, 0]).unwrap();
    let c = g.binary(BinaryOp::Gt, p, zero).unwrap();
    let w = g.select(c, p, p).unwrap();
    g.set_outputs(&[w]).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(1), -1.0, 1.0);
    let mut h = check_pass("simplify", simplify, &g, &feeds);
    dce(&mut h).unwrap();
    // Everything folds away to the input itself.
    assert_eq!(h.outputs(), &[x]);
    assert_eq!(h.len(), 1);
}

#[test]
fn passes_simplify_keeps_float_mul_by_zero_and_composes_permutes() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[2, 3, 4])).unwrap();
    let ty = TensorType::new(DType::F64, s(&[2, 3, 4]));
    let zero = full(&mut g, &ty, 0.0).unwrap();
    let m = g.binary(BinaryOp::Mul, x, zero).unwrap();
    let p = g.permute(m, &[1, 2, 0]).unwrap();
    let p = g.permute(p, &[1, 2, 0]).unwrap();
    g.set_outputs(&[p]).unwrap();
    let mut feeds = random_feeds(&g, &mut Rng::new(2), -1.0, 1.0);
    // inf * 0 is NaN: the multiply must stay.
    let mut v = feeds["x"].to_f64_vec();
    v[0] = f64::INFINITY;
    feeds.insert(
        "x".into(),
        HostTensor::from_f64(DType::F64, s(&[2, 3, 4]), &v).unwrap(),
    );
    let mut h = check_pass("optimize", optimize, &g, &feeds);
    assert_eq!(count(&h, |op| matches!(op, Op::Binary(BinaryOp::Mul))), 1);
    assert_eq!(count(&h, |op| matches!(op, Op::Permute { .. })), 1);
    let out = h.outputs()[0];
    assert!(
        matches!(&h.node(out).unwrap().op, Op::Permute { perm } if perm.as_slice() == [2, 0, 1])
    );
    // Integer multiply by zero does go.
    let mut g = Graph::new();
    let i = g.input("i", DType::I64, s(&[3])).unwrap();
    let z = full(&mut g, &TensorType::new(DType::I64, s(&[3])), 0.0).unwrap();
    let m = g.binary(BinaryOp::Mul, i, z).unwrap();
    g.set_outputs(&[m]).unwrap();
    optimize(&mut g).unwrap();
    h = g;
    assert_eq!(count(&h, |op| matches!(op, Op::Binary(_))), 0);
}

#[test]
fn passes_where_with_a_constant_condition_picks_a_branch() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2, 2])).unwrap();
    let y = g.input("y", DType::F32, s(&[2, 2])).unwrap();
    let bool_ty = TensorType::new(DType::Bool, s(&[2, 2]));
    let t = full(&mut g, &bool_ty, 1.0).unwrap();
    let f = full(&mut g, &bool_ty, 0.0).unwrap();
    let a = g.select(t, x, y).unwrap();
    let b = g.select(f, x, y).unwrap();
    g.set_outputs(&[a, b]).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(7), -1.0, 1.0);
    let h = check_pass("optimize", optimize, &g, &feeds);
    assert_eq!(h.outputs(), &[x, y]);
}

#[test]
fn passes_sum_of_expand_becomes_a_multiply() {
    let mut g = Graph::new();
    let v = g.input("v", DType::F32, s(&[3, 1])).unwrap();
    let e = g.expand(v, s(&[3, 5])).unwrap();
    let r = g.reduce(ReduceOp::Sum, e, &[1]).unwrap();
    // Not applicable: the reduced axes are not the broadcast ones.
    let r2 = g.reduce(ReduceOp::Sum, e, &[0]).unwrap();
    g.set_outputs(&[r, r2]).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(3), -1.0, 1.0);
    let h = check_pass("optimize", optimize, &g, &feeds);
    let out = h.outputs()[0];
    assert!(matches!(h.node(out).unwrap().op, Op::Binary(BinaryOp::Mul)));
    assert!(matches!(
        h.node(h.outputs()[1]).unwrap().op,
        Op::Reduce { .. }
    ));
}

#[test]
fn passes_fold_constants_keeps_big_broadcasts() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[16, 16])).unwrap();
    let a = g.scalar(DType::F32, 2.0).unwrap();
    let b = g.scalar(DType::F32, 3.0).unwrap();
    let ab = g.binary(BinaryOp::Mul, a, b).unwrap();
    let abr = g.reshape(ab, s(&[1, 1])).unwrap();
    let big = g.expand(abr, s(&[16, 16])).unwrap();
    let y = g.binary(BinaryOp::Add, x, big).unwrap();
    g.set_outputs(&[y]).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(4), -1.0, 1.0);
    let h = check_pass("optimize", optimize, &g, &feeds);
    // x, const [1,1] = 6, expand, add.
    assert_eq!(h.len(), 4, "{h:?}");
    let consts: Vec<HostTensor> = h
        .node_ids()
        .into_iter()
        .filter_map(|id| match &h.node(id).unwrap().op {
            Op::Constant { value } => Some(value.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(consts.len(), 1);
    assert_eq!(consts[0].dims(), &[1, 1]);
    assert_eq!(consts[0].get_f64(0), 6.0);
}

#[test]
fn passes_fold_constants_leaves_runtime_errors_for_run_time() {
    let mut g = Graph::new();
    let src = g
        .constant(HostTensor::from_f64(DType::F32, s(&[3]), &[1.0, 2.0, 3.0]).unwrap())
        .unwrap();
    let idx = g
        .constant(HostTensor::from_f64(DType::I64, s(&[1]), &[7.0]).unwrap())
        .unwrap();
    let y = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
    g.set_outputs(&[y]).unwrap();
    assert_eq!(fold_constants(&mut g).unwrap(), 0);
    assert!(evaluate(&g, &[y], &HashMap::new()).is_err());
}

#[test]
fn passes_cse_merges_by_structure_and_value_bits() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4])).unwrap();
    let y = g.input("y", DType::F64, s(&[4])).unwrap();
    let a1 = g.binary(BinaryOp::Add, x, y).unwrap();
    let a2 = g.binary(BinaryOp::Add, y, x).unwrap(); // commutative
    let s1 = g.binary(BinaryOp::Sub, x, y).unwrap();
    let s2 = g.binary(BinaryOp::Sub, y, x).unwrap(); // not commutative
    let c1 = g.scalar(DType::F64, 0.0).unwrap();
    let c2 = g.scalar(DType::F64, -0.0).unwrap(); // distinct bits
    let c3 = g.scalar(DType::F64, 0.0).unwrap();
    let p1 = g
        .add(
            Op::Pad {
                widths: vec![(1, 0)],
                value: 0.0,
            },
            &[x],
            None,
        )
        .unwrap();
    let p2 = g
        .add(
            Op::Pad {
                widths: vec![(1, 0)],
                value: -0.0,
            },
            &[x],
            None,
        )
        .unwrap();
    let r1 = g.reduce(ReduceOp::Sum, x, &[0]).unwrap();
    let r2 = g.reduce(ReduceOp::Max, x, &[0]).unwrap();
    g.set_outputs(&[a1, a2, s1, s2, c1, c2, c3, p1, p2, r1, r2])
        .unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(5), -1.0, 1.0);
    let h = check_pass("cse", cse, &g, &feeds);
    let o = h.outputs();
    assert_eq!(o[0], o[1]);
    assert_ne!(o[2], o[3]);
    assert_eq!(o[4], o[6]);
    assert_ne!(o[4], o[5]);
    assert_ne!(o[7], o[8]);
    assert_ne!(o[9], o[10]);
    assert_eq!(h.len(), g.len() - 2);
}

#[test]
fn passes_dce_keeps_inputs_and_params() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2])).unwrap();
    let unused_in = g.input("u", DType::F32, s(&[2])).unwrap();
    let unused_p = g.parameter("p", DType::F32, s(&[2])).unwrap();
    let dead = g.unary(UnaryOp::Exp, unused_in).unwrap();
    let _dead2 = g.binary(BinaryOp::Add, dead, unused_p).unwrap();
    let y = g.unary(UnaryOp::Sin, x).unwrap();
    g.set_outputs(&[y]).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(6), -1.0, 1.0);
    let h = check_pass("dce", dce, &g, &feeds);
    assert_eq!(h.len(), 4);
    assert!(h.contains(unused_in) && h.contains(unused_p) && !h.contains(dead));
}

/// Builds a random well-typed graph over f32/f64 values with the patterns the passes look for
/// (identities, duplicates, constant subgraphs, chains of views) mixed with arbitrary ops.
fn random_graph(rng: &mut Rng) -> Graph {
    let mut g = Graph::new();
    let dtype = if rng.below(2) == 0 {
        DType::F32
    } else {
        DType::F64
    };
    let mut pool: Vec<NodeId> = Vec::new();
    for k in 0..1 + rng.below(3) {
        let rank = rng.below(4);
        let dims: Vec<usize> = (0..rank).map(|_| 1 + rng.below(4)).collect();
        let name = format!("in{k}");
        let x = if rng.below(3) == 0 {
            g.parameter(&name, dtype, s(&dims)).unwrap()
        } else {
            g.input(&name, dtype, s(&dims)).unwrap()
        };
        pool.push(x);
    }
    let steps = 8 + rng.below(25);
    for _ in 0..steps {
        let x = pool[rng.below(pool.len())];
        let ty = g.node(x).unwrap().ty.clone();
        let rank = ty.shape.rank();
        let new = match rng.below(14) {
            0 => g
                .unary(UnaryOp::ALL[rng.below(UnaryOp::ALL.len() - 1)], x)
                .unwrap(),
            1 | 2 => {
                // Another value of the same type, or a splat constant (often 0 or 1).
                let same: Vec<NodeId> = pool
                    .iter()
                    .copied()
                    .filter(|&p| g.node(p).unwrap().ty == ty)
                    .collect();
                let y = if rng.below(2) == 0 {
                    same[rng.below(same.len())]
                } else {
                    let v = [0.0, 1.0, -0.0, 2.5, -1.0][rng.below(5)];
                    full(&mut g, &ty, v).unwrap()
                };
                let ops = [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Max,
                    BinaryOp::Min,
                    BinaryOp::Pow,
                ];
                let (a, b) = if rng.below(2) == 0 { (x, y) } else { (y, x) };
                g.binary(ops[rng.below(ops.len())], a, b).unwrap()
            }
            3 if rank > 0 => {
                let axes: Vec<usize> = (0..rank).filter(|_| rng.below(2) == 0).collect();
                let op = if rng.below(2) == 0 {
                    ReduceOp::Sum
                } else {
                    ReduceOp::Max
                };
                g.reduce(op, x, &axes).unwrap()
            }
            4 => {
                let n = ty.shape.numel();
                let shape = if rng.below(2) == 0 {
                    s(&[n])
                } else {
                    s(&[1, n, 1])
                };
                let r = g.reshape(x, shape).unwrap();
                g.reshape(r, ty.shape.clone()).unwrap_or(r)
            }
            5 if rank > 1 => {
                let mut p: Vec<usize> = (0..rank).collect();
                p.rotate_left(1);
                let y = g.permute(x, &p).unwrap();
                if rng.below(2) == 0 {
                    g.permute(y, &p).unwrap()
                } else {
                    y
                }
            }
            6 if rank < 5 && ty.shape.numel() <= 200 => {
                // Broadcast along a new size-3 axis, then maybe sum it straight back.
                let mut d = ty.shape.dims().to_vec();
                d.insert(0, 1);
                let r = g.reshape(x, s(&d)).unwrap();
                d[0] = 3;
                let e = g.expand(r, s(&d)).unwrap();
                if rng.below(2) == 0 {
                    g.reduce(ReduceOp::Sum, e, &[0]).unwrap()
                } else {
                    e
                }
            }
            7 => {
                // A duplicate of an existing node (CSE bait).
                let ops = g.operands(x);
                let node = g.node(x).unwrap().clone();
                if node.op.is_leaf() && !matches!(node.op, Op::Constant { .. }) {
                    g.unary(UnaryOp::Neg, x).unwrap()
                } else {
                    g.add(node.op, &ops, Some(node.ty)).unwrap()
                }
            }
            8 => g.unary(UnaryOp::Neg, x).unwrap(),
            9 => {
                // A small all-constant subexpression combined with x.
                let c = g.constant(rng.tensor(dtype, &ty.shape, -2.0, 2.0)).unwrap();
                let c2 = g.unary(UnaryOp::Exp, c).unwrap();
                g.binary(BinaryOp::Mul, x, c2).unwrap()
            }
            10 => {
                let other = if dtype == DType::F32 {
                    DType::F64
                } else {
                    DType::F32
                };
                let y = g.cast(x, other).unwrap();
                let y = g.unary(UnaryOp::Sin, y).unwrap();
                g.cast(y, dtype).unwrap()
            }
            11 => g.add(Op::Cast, &[x], Some(ty.clone())).unwrap(),
            12 => {
                let c = g.binary(BinaryOp::Gt, x, x).unwrap();
                let y = g.unary(UnaryOp::Tanh, x).unwrap();
                g.select(c, x, y).unwrap()
            }
            _ => g.unary(UnaryOp::Exp, x).unwrap(),
        };
        pool.push(new);
    }
    let n_out = 1 + rng.below(3);
    let outs: Vec<NodeId> = (0..n_out)
        .map(|_| pool[pool.len() - 1 - rng.below(pool.len().min(4))])
        .collect();
    g.set_outputs(&outs).unwrap();
    g
}

#[test]
fn passes_differential_on_random_graphs() {
    let mut shrunk = 0;
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let g = random_graph(&mut rng);
        g.verify().unwrap();
        let feeds = random_feeds(&g, &mut rng, -2.0, 2.0);
        for (name, pass) in PASSES {
            let h = check_pass(&format!("{name} (seed {seed})"), pass, &g, &feeds);
            if name == "optimize" && h.len() < g.len() {
                shrunk += 1;
            }
        }
    }
    // The generator is meant to give the passes work: most graphs must shrink.
    assert!(shrunk > 150, "only {shrunk} of 200 random graphs shrank");
}

#[test]
fn passes_differential_after_autodiff() {
    // Gradients of random graphs, optimised: the gradient values must not change.
    for seed in 0..60 {
        let mut rng = Rng::new(1000 + seed);
        let mut g = random_graph(&mut rng);
        let wrt: Vec<NodeId> = g.inputs().into_iter().chain(g.parameters()).collect();
        let outs = g.outputs().to_vec();
        let seeds: Vec<Option<NodeId>> = outs
            .iter()
            .enumerate()
            .map(|(i, &o)| {
                let ty = g.node(o).unwrap().ty.clone();
                Some(g.input(&format!("seed{i}"), ty.dtype, ty.shape).unwrap())
            })
            .collect();
        let grads = crate::autodiff::grad(&mut g, &outs, &seeds, &wrt).unwrap();
        g.set_outputs(&grads).unwrap();
        g.verify().unwrap();
        let feeds = random_feeds(&g, &mut rng, -2.0, 2.0);
        check_pass(
            &format!("optimize (grad seed {seed})"),
            optimize,
            &g,
            &feeds,
        );
    }
}
