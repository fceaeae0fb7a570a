//! Tests of `grad`: argument errors, the structural guarantees, higher-order derivatives; the
//! per-op finite-difference checks are in `ops.rs`, composites in `composites.rs`, the golden
//! node counts in `golden.rs`.

mod composites;
mod golden;
mod ops;

use super::grad;
use super::gradcheck::{gradcheck, random_feeds, Rng, Tolerance};
use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, NodeId};
use crate::interp::evaluate;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;
use std::collections::HashMap;

pub(super) fn s(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

/// Gradchecks `out` with respect to `wrt` on feeds drawn uniformly from `[lo, hi)`.
pub(super) fn check_range(g: &Graph, out: NodeId, wrt: &[NodeId], lo: f64, hi: f64, seed: u64) {
    g.verify().unwrap();
    let feeds = random_feeds(g, &mut Rng::new(seed), lo, hi);
    check_feeds(g, out, wrt, &feeds, seed);
}

/// Gradchecks with the given feeds.
pub(super) fn check_feeds(
    g: &Graph,
    out: NodeId,
    wrt: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
    seed: u64,
) {
    if let Err(msg) = gradcheck(g, out, wrt, feeds, Tolerance::default(), seed) {
        panic!("gradcheck failed: {msg}");
    }
}

fn feeds1(name: &str, t: HostTensor) -> HashMap<String, HostTensor> {
    HashMap::from([(name.to_string(), t)])
}

fn scalar_f64(v: f64) -> HostTensor {
    HostTensor::scalar(DType::F64, v)
}

#[test]
fn autodiff_errors_are_values_not_panics() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2, 3])).unwrap();
    let y = g.unary(UnaryOp::Exp, x).unwrap();
    let n = g.len();

    // Non-scalar output without a seed.
    let e = grad(&mut g, &[y], &[None], &[x]).unwrap_err();
    assert!(matches!(e, IrError::Shape { op: "grad", .. }), "{e:?}");
    assert!(e
        .to_string()
        .contains("grad can be implicitly created only for scalar outputs"));

    // Seed of the wrong shape, then of the wrong dtype.
    let bad = g.input("bad", DType::F32, s(&[3, 2])).unwrap();
    let e = grad(&mut g, &[y], &[Some(bad)], &[x]).unwrap_err();
    assert!(matches!(e, IrError::Shape { op: "grad", .. }), "{e:?}");
    assert!(e.to_string().contains("shapes differ"), "{e}");
    let bad64 = g.input("bad64", DType::F64, s(&[2, 3])).unwrap();
    let e = grad(&mut g, &[y], &[Some(bad64)], &[x]).unwrap_err();
    assert!(matches!(e, IrError::DType { op: "grad", .. }), "{e:?}");

    // wrt not in the graph; seed not in the graph.
    let e = grad(&mut g, &[y], &[Some(y)], &[NodeId(999)]).unwrap_err();
    assert_eq!(e, IrError::UnknownNode(NodeId(999)));
    let e = grad(&mut g, &[y], &[Some(NodeId(998))], &[x]).unwrap_err();
    assert_eq!(e, IrError::UnknownNode(NodeId(998)));

    // wrt of integer dtype.
    let i = g.input("i", DType::I64, s(&[2, 3])).unwrap();
    let e = grad(&mut g, &[y], &[Some(y)], &[i]).unwrap_err();
    assert!(matches!(e, IrError::DType { op: "grad", .. }), "{e:?}");
    assert!(e
        .to_string()
        .contains("only floating-point tensors can require gradients"));

    // Seed count.
    let e = grad(&mut g, &[y], &[], &[x]).unwrap_err();
    assert!(matches!(e, IrError::Arity { op: "grad", .. }), "{e:?}");

    // A scalar integer output cannot get an implicit seed.
    let si = g.input("si", DType::I64, s(&[])).unwrap();
    let e = grad(&mut g, &[si], &[None], &[x]).unwrap_err();
    assert!(matches!(e, IrError::DType { op: "grad", .. }), "{e:?}");

    // Nothing was added by the failed calls (3 inputs were added by the test itself).
    assert_eq!(g.len(), n + 4);
    g.verify().unwrap();
}

#[test]
fn autodiff_gradient_types_match_wrt_and_unused_wrt_gets_zeros() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2, 3])).unwrap();
    let unused = g.parameter("u", DType::F64, s(&[4])).unwrap();
    let y = g.reduce(ReduceOp::Sum, x, &[0, 1]).unwrap();
    let d = grad(&mut g, &[y], &[None], &[x, unused]).unwrap();
    g.verify().unwrap();
    assert_eq!(g.node(d[0]).unwrap().ty, g.node(x).unwrap().ty);
    assert_eq!(g.node(d[1]).unwrap().ty, g.node(unused).unwrap().ty);
    let feeds = feeds1(
        "x",
        HostTensor::from_f64(DType::F32, s(&[2, 3]), &[1.0; 6]).unwrap(),
    );
    let v = evaluate(&g, &d, &feeds).unwrap();
    assert_eq!(v[0].to_f64_vec(), vec![1.0; 6]);
    assert_eq!(v[1].to_f64_vec(), vec![0.0; 4]);
}

#[test]
fn autodiff_multiple_uses_are_summed_and_wrt_may_be_an_output() {
    // y = x * x + x  ->  dy/dx = 2x + 1
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[])).unwrap();
    let xx = g.binary(BinaryOp::Mul, x, x).unwrap();
    let y = g.binary(BinaryOp::Add, xx, x).unwrap();
    let d = grad(&mut g, &[y], &[None], &[x, y]).unwrap();
    let v = evaluate(&g, &d, &feeds1("x", scalar_f64(3.0))).unwrap();
    assert_eq!(v[0].item().unwrap(), 7.0);
    assert_eq!(v[1].item().unwrap(), 1.0);
}

#[test]
fn autodiff_only_the_path_from_wrt_is_differentiated() {
    // d/dx of (x * c) with c = exp(w): nothing about exp's gradient is built.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[3])).unwrap();
    let w = g.input("w", DType::F64, s(&[3])).unwrap();
    let c = g.unary(UnaryOp::Exp, w).unwrap();
    let y = g.binary(BinaryOp::Mul, x, c).unwrap();
    let before = g.len();
    let seed = g.input("seed", DType::F64, s(&[3])).unwrap();
    let d = grad(&mut g, &[y], &[Some(seed)], &[x]).unwrap();
    // Just `seed * c`.
    assert_eq!(g.len(), before + 2);
    assert_eq!(g.operands(d[0]), vec![seed, c]);
}

#[test]
fn autodiff_integer_paths_carry_no_gradient() {
    // y = x * cast(cast(x, i64), f64) + argmax-based term: only the first factor is seen.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4])).unwrap();
    let xi = g.cast(x, DType::I64).unwrap();
    let xf = g.cast(xi, DType::F64).unwrap();
    let y = g.binary(BinaryOp::Mul, x, xf).unwrap();
    let l = g.reduce(ReduceOp::Sum, y, &[0]).unwrap();
    let d = grad(&mut g, &[l], &[None], &[x]).unwrap();
    let t = HostTensor::from_f64(DType::F64, s(&[4]), &[1.5, 2.5, -3.5, 0.5]).unwrap();
    let v = evaluate(&g, &d, &feeds1("x", t)).unwrap();
    assert_eq!(v[0].to_f64_vec(), vec![1.0, 2.0, -3.0, 0.0]);
}

#[test]
fn autodiff_second_derivative_of_sin_is_minus_sin() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[5])).unwrap();
    let y = g.unary(UnaryOp::Sin, x).unwrap();
    let l = g.reduce(ReduceOp::Sum, y, &[0]).unwrap();
    let d1 = grad(&mut g, &[l], &[None], &[x]).unwrap()[0];
    let l1 = g.reduce(ReduceOp::Sum, d1, &[0]).unwrap();
    let d2 = grad(&mut g, &[l1], &[None], &[x]).unwrap()[0];
    g.verify().unwrap();
    let xs = [-2.0, -0.5, 0.0, 1.0, 3.0];
    let t = HostTensor::from_f64(DType::F64, s(&[5]), &xs).unwrap();
    let v = evaluate(&g, &[d1, d2], &feeds1("x", t)).unwrap();
    for (i, &xv) in xs.iter().enumerate() {
        assert!((v[0].get_f64(i) - xv.cos()).abs() < 1e-15);
        assert!((v[1].get_f64(i) + xv.sin()).abs() < 1e-15);
    }
    // Third order through the same machinery, checked by finite differences.
    check_range(&g, d2, &[x], -2.0, 2.0, 7);
}

#[test]
fn autodiff_hessian_vector_product_of_a_cubic() {
    // f(x) = sum(x^3) + sum(x)^2 * x0-ish coupling via a matmul: f = sum(x^3) + (a.x)^2 (b.x)
    let n = 4;
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[n, 1])).unwrap();
    let v = g.input("v", DType::F64, s(&[n, 1])).unwrap();
    let a = g
        .constant(Rng::new(1).tensor(DType::F64, &s(&[1, n]), -1.0, 1.0))
        .unwrap();
    let b = g
        .constant(Rng::new(2).tensor(DType::F64, &s(&[1, n]), -1.0, 1.0))
        .unwrap();
    let x2 = g.binary(BinaryOp::Mul, x, x).unwrap();
    let x3 = g.binary(BinaryOp::Mul, x2, x).unwrap();
    let s3 = g.reduce(ReduceOp::Sum, x3, &[0, 1]).unwrap();
    let ax = g.matmul(a, x).unwrap();
    let bx = g.matmul(b, x).unwrap();
    let ax2 = g.binary(BinaryOp::Mul, ax, ax).unwrap();
    let c = g.binary(BinaryOp::Mul, ax2, bx).unwrap();
    let f = g.binary(BinaryOp::Add, s3, c).unwrap();
    let df = grad(&mut g, &[f], &[None], &[x]).unwrap()[0];
    // HVP = d/dx <df, v>, with v as the seed of the second pass.
    let hvp = grad(&mut g, &[df], &[Some(v)], &[x]).unwrap()[0];
    g.verify().unwrap();

    let mut rng = Rng::new(3);
    let xs = rng.tensor(DType::F64, &s(&[n, 1]), -1.0, 1.0);
    let vs = rng.tensor(DType::F64, &s(&[n, 1]), -1.0, 1.0);
    let feeds = HashMap::from([("x".to_string(), xs.clone()), ("v".to_string(), vs.clone())]);
    let got = evaluate(&g, &[hvp], &feeds).unwrap()[0].to_f64_vec();
    // Finite differences of the gradient along v: (df(x + h v) - df(x - h v)) / 2h.
    let h = 1e-5;
    let at = |sign: f64| {
        let xv: Vec<f64> = (0..n)
            .map(|i| xs.get_f64(i) + sign * h * vs.get_f64(i))
            .collect();
        let mut f = feeds.clone();
        f.insert(
            "x".into(),
            HostTensor::from_f64(DType::F64, s(&[n, 1]), &xv).unwrap(),
        );
        evaluate(&g, &[df], &f).unwrap()[0].to_f64_vec()
    };
    let (p, m) = (at(1.0), at(-1.0));
    for i in 0..n {
        let fd = (p[i] - m[i]) / (2.0 * h);
        assert!(
            (got[i] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
            "hvp[{i}] = {} vs finite differences {fd}",
            got[i]
        );
    }
    // And the full Hessian (projected) by gradcheck of the gradient.
    check_feeds(&g, df, &[x], &feeds, 11);
}

#[test]
fn autodiff_second_order_through_every_unary_rule() {
    for (k, u) in [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sqrt,
        UnaryOp::Recip,
        UnaryOp::Abs,
    ]
    .into_iter()
    .enumerate()
    {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, s(&[3, 2])).unwrap();
        let y = g.unary(u, x).unwrap();
        let l = g.reduce(ReduceOp::Sum, y, &[0, 1]).unwrap();
        // Multiply by x so that the gradient is not constant for linear ops.
        let d = grad(&mut g, &[l], &[None], &[x]).unwrap()[0];
        let dx = g.binary(BinaryOp::Mul, d, x).unwrap();
        check_range(&g, dx, &[x], 0.4, 1.6, 100 + k as u64);
    }
}

#[test]
fn autodiff_pow_at_zero_base_has_no_nan() {
    // PyTorch: d/dx 0^2 = 0, d/de 0^2 = 0 (masked log), d/dx 0^0 = 0 (masked 0 * 0^-1).
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[3])).unwrap();
    let e = g.input("e", DType::F64, s(&[3])).unwrap();
    let y = g.binary(BinaryOp::Pow, x, e).unwrap();
    let l = g.reduce(ReduceOp::Sum, y, &[0]).unwrap();
    let d = grad(&mut g, &[l], &[None], &[x, e]).unwrap();
    let feeds = HashMap::from([
        (
            "x".to_string(),
            HostTensor::from_f64(DType::F64, s(&[3]), &[0.0, 0.0, 2.0]).unwrap(),
        ),
        (
            "e".to_string(),
            HostTensor::from_f64(DType::F64, s(&[3]), &[2.0, 0.0, 3.0]).unwrap(),
        ),
    ]);
    let v = evaluate(&g, &d, &feeds).unwrap();
    assert_eq!(v[0].to_f64_vec(), vec![0.0, 0.0, 12.0]);
    let de = v[1].to_f64_vec();
    assert_eq!(&de[..2], &[0.0, 0.0]);
    assert!((de[2] - 8.0 * 2f64.ln()).abs() < 1e-12);
}

#[test]
fn autodiff_ties_split_the_gradient() {
    // maximum(x, y) at x == y: each gets g/2; amax with two tied maxima: each gets g/2.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[3])).unwrap();
    let y = g.input("y", DType::F64, s(&[3])).unwrap();
    let m = g.binary(BinaryOp::Max, x, y).unwrap();
    let l = g.reduce(ReduceOp::Sum, m, &[0]).unwrap();
    let am = g.reduce(ReduceOp::Max, x, &[0]).unwrap();
    let d = grad(&mut g, &[l], &[None], &[x, y]).unwrap();
    let da = grad(&mut g, &[am], &[None], &[x]).unwrap();
    let feeds = HashMap::from([
        (
            "x".to_string(),
            HostTensor::from_f64(DType::F64, s(&[3]), &[1.0, 5.0, 5.0]).unwrap(),
        ),
        (
            "y".to_string(),
            HostTensor::from_f64(DType::F64, s(&[3]), &[1.0, 2.0, 7.0]).unwrap(),
        ),
    ]);
    let v = evaluate(&g, &[d[0], d[1], da[0]], &feeds).unwrap();
    assert_eq!(v[0].to_f64_vec(), vec![0.5, 1.0, 0.0]);
    assert_eq!(v[1].to_f64_vec(), vec![0.5, 0.0, 1.0]);
    assert_eq!(v[2].to_f64_vec(), vec![0.0, 0.5, 0.5]);
}

#[test]
fn autodiff_abs_has_zero_gradient_at_zero() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[3])).unwrap();
    let y = g.unary(UnaryOp::Abs, x).unwrap();
    let l = g.reduce(ReduceOp::Sum, y, &[0]).unwrap();
    let d = grad(&mut g, &[l], &[None], &[x]).unwrap();
    let t = HostTensor::from_f64(DType::F64, s(&[3]), &[-2.0, 0.0, 3.0]).unwrap();
    let v = evaluate(&g, &d, &feeds1("x", t)).unwrap();
    assert_eq!(v[0].to_f64_vec(), vec![-1.0, 0.0, 1.0]);
}

#[test]
fn autodiff_second_order_through_binary_reduce_and_movement_rules() {
    use crate::op::{Op, SliceRange};
    // Each case builds f from x and y; L = sum(f * f) makes the first gradient depend on x
    // through every rule, and gradcheck of d L / d x checks the rules' own derivatives.
    type Build = fn(&mut Graph, NodeId, NodeId) -> NodeId;
    let cases: [(&str, Build); 9] = [
        ("mul", |g, x, y| g.binary(BinaryOp::Mul, x, y).unwrap()),
        ("div", |g, x, y| g.binary(BinaryOp::Div, x, y).unwrap()),
        ("pow", |g, x, y| g.binary(BinaryOp::Pow, x, y).unwrap()),
        ("max", |g, x, y| g.binary(BinaryOp::Max, x, y).unwrap()),
        ("matmul", |g, x, y| {
            let yt = g.permute(y, &[1, 0]).unwrap();
            g.matmul(x, yt).unwrap()
        }),
        ("reduce.max", |g, x, _| {
            g.reduce(ReduceOp::Max, x, &[1]).unwrap()
        }),
        ("strided slice", |g, x, _| {
            let ranges = vec![
                SliceRange {
                    start: 0,
                    end: 3,
                    step: 2,
                },
                SliceRange {
                    start: 1,
                    end: 4,
                    step: 2,
                },
            ];
            g.add(Op::Slice { ranges }, &[x], None).unwrap()
        }),
        ("where", |g, x, y| {
            let c = g.binary(BinaryOp::Gt, x, y).unwrap();
            let e = g.unary(UnaryOp::Exp, x).unwrap();
            g.select(c, e, y).unwrap()
        }),
        ("expand of a reduction", |g, x, _| {
            let r = g.reduce(ReduceOp::Sum, x, &[0]).unwrap();
            let e = g.expand(r, s(&[3, 4])).unwrap();
            g.binary(BinaryOp::Mul, e, x).unwrap()
        }),
    ];
    for (k, (name, build)) in cases.into_iter().enumerate() {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, s(&[3, 4])).unwrap();
        let y = g.input("y", DType::F64, s(&[3, 4])).unwrap();
        let f = build(&mut g, x, y);
        let ff = g.binary(BinaryOp::Mul, f, f).unwrap();
        let rank = g.node(ff).unwrap().shape().rank();
        let axes: Vec<usize> = (0..rank).collect();
        let l = g.reduce(ReduceOp::Sum, ff, &axes).unwrap();
        let d = grad(&mut g, &[l], &[None], &[x, y]).unwrap();
        g.verify().unwrap();
        let feeds = random_feeds(&g, &mut Rng::new(40 + k as u64), 0.5, 2.0);
        for (which, &dd) in d.iter().enumerate() {
            if let Err(msg) = gradcheck(&g, dd, &[x, y], &feeds, Tolerance::default(), 9) {
                panic!("second order of {name} (gradient {which}): {msg}");
            }
        }
    }
}
