//! Finite-difference checks of the composites the API builds from primitives: sigmoid, softmax,
//! log-softmax, layer norm, MSE and a two-layer MLP, decomposed the way `src/` decomposes them
//! (broadcasts as reshape + expand, `mean` as sum / count, `relu` as `max(x, 0)`).

use super::{check_range, s};
use crate::autodiff::helpers::full_like;
use crate::dtype::DType;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, ReduceOp, UnaryOp};

/// `x op c` for a scalar `c` broadcast to `x`'s shape.
pub(crate) fn with_scalar(g: &mut Graph, x: NodeId, op: BinaryOp, c: f64) -> NodeId {
    let k = full_like(g, x, c).unwrap();
    g.binary(op, x, k).unwrap()
}

/// `a op expand(b)`, `b` having size 1 where `a` is larger.
pub(crate) fn bcast(g: &mut Graph, a: NodeId, op: BinaryOp, b: NodeId) -> NodeId {
    let shape = g.node(a).unwrap().shape().clone();
    let eb = g.expand(b, shape).unwrap();
    g.binary(op, a, eb).unwrap()
}

/// Mean over `axes`, kept with size 1.
pub(crate) fn mean(g: &mut Graph, x: NodeId, axes: &[usize]) -> NodeId {
    let dims = g.node(x).unwrap().shape().dims().to_vec();
    let n: usize = axes.iter().map(|&a| dims[a]).product();
    let sum = g.reduce(ReduceOp::Sum, x, axes).unwrap();
    with_scalar(g, sum, BinaryOp::Div, n as f64)
}

pub(crate) fn sigmoid(g: &mut Graph, x: NodeId) -> NodeId {
    let n = g.unary(UnaryOp::Neg, x).unwrap();
    let e = g.unary(UnaryOp::Exp, n).unwrap();
    let d = with_scalar(g, e, BinaryOp::Add, 1.0);
    g.unary(UnaryOp::Recip, d).unwrap()
}

pub(crate) fn relu(g: &mut Graph, x: NodeId) -> NodeId {
    let z = full_like(g, x, 0.0).unwrap();
    g.binary(BinaryOp::Max, x, z).unwrap()
}

fn softmax(g: &mut Graph, x: NodeId, axis: usize) -> NodeId {
    let m = g.reduce(ReduceOp::Max, x, &[axis]).unwrap();
    let sh = bcast(g, x, BinaryOp::Sub, m);
    let e = g.unary(UnaryOp::Exp, sh).unwrap();
    let sum = g.reduce(ReduceOp::Sum, e, &[axis]).unwrap();
    bcast(g, e, BinaryOp::Div, sum)
}

fn log_softmax(g: &mut Graph, x: NodeId, axis: usize) -> NodeId {
    let m = g.reduce(ReduceOp::Max, x, &[axis]).unwrap();
    let sh = bcast(g, x, BinaryOp::Sub, m);
    let e = g.unary(UnaryOp::Exp, sh).unwrap();
    let sum = g.reduce(ReduceOp::Sum, e, &[axis]).unwrap();
    let lse = g.unary(UnaryOp::Log, sum).unwrap();
    let lse = g.binary(BinaryOp::Add, lse, m).unwrap();
    bcast(g, x, BinaryOp::Sub, lse)
}

#[test]
fn autodiff_sigmoid() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4, 3])).unwrap();
    let y = sigmoid(&mut g, x);
    check_range(&g, y, &[x], -3.0, 3.0, 1);
}

#[test]
fn autodiff_softmax_and_log_softmax() {
    for axis in [0, 1] {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, s(&[3, 5])).unwrap();
        let y = softmax(&mut g, x, axis);
        check_range(&g, y, &[x], -2.0, 2.0, 10 + axis as u64);
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, s(&[3, 5])).unwrap();
        let y = log_softmax(&mut g, x, axis);
        check_range(&g, y, &[x], -2.0, 2.0, 20 + axis as u64);
    }
}

#[test]
fn autodiff_layer_norm() {
    // y = (x - mean) / sqrt(var + eps) * w + b over the last axis; w, b broadcast over rows.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4, 6])).unwrap();
    let w = g.parameter("w", DType::F64, s(&[1, 6])).unwrap();
    let b = g.parameter("b", DType::F64, s(&[1, 6])).unwrap();
    let mu = mean(&mut g, x, &[1]);
    let xc = bcast(&mut g, x, BinaryOp::Sub, mu);
    let sq = g.binary(BinaryOp::Mul, xc, xc).unwrap();
    let var = mean(&mut g, sq, &[1]);
    let ve = with_scalar(&mut g, var, BinaryOp::Add, 1e-5);
    let sd = g.unary(UnaryOp::Sqrt, ve).unwrap();
    let xn = bcast(&mut g, xc, BinaryOp::Div, sd);
    let y = bcast(&mut g, xn, BinaryOp::Mul, w);
    let y = bcast(&mut g, y, BinaryOp::Add, b);
    check_range(&g, y, &[x, w, b], -2.0, 2.0, 30);
}

#[test]
fn autodiff_mse() {
    let mut g = Graph::new();
    let p = g.input("p", DType::F64, s(&[5, 2])).unwrap();
    let t = g.input("t", DType::F64, s(&[5, 2])).unwrap();
    let d = g.binary(BinaryOp::Sub, p, t).unwrap();
    let sq = g.binary(BinaryOp::Mul, d, d).unwrap();
    let l = mean(&mut g, sq, &[0, 1]);
    check_range(&g, l, &[p, t], -2.0, 2.0, 40);
}

#[test]
fn autodiff_two_layer_mlp() {
    // relu(x @ w1 + b1) @ w2 + b2, MSE against t. relu's kink at 0 is only a problem if a
    // pre-activation lies within the finite-difference step (1e-6) of 0: with continuous random
    // inputs that has negligible probability, and the inputs are fixed by the seed.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4, 5])).unwrap();
    let t = g.input("t", DType::F64, s(&[4, 3])).unwrap();
    let w1 = g.parameter("w1", DType::F64, s(&[5, 6])).unwrap();
    let b1 = g.parameter("b1", DType::F64, s(&[6])).unwrap();
    let w2 = g.parameter("w2", DType::F64, s(&[6, 3])).unwrap();
    let b2 = g.parameter("b2", DType::F64, s(&[3])).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let b1r = g.reshape(b1, s(&[1, 6])).unwrap();
    let h = bcast(&mut g, h, BinaryOp::Add, b1r);
    let h = relu(&mut g, h);
    let o = g.matmul(h, w2).unwrap();
    let b2r = g.reshape(b2, s(&[1, 3])).unwrap();
    let o = bcast(&mut g, o, BinaryOp::Add, b2r);
    let d = g.binary(BinaryOp::Sub, o, t).unwrap();
    let sq = g.binary(BinaryOp::Mul, d, d).unwrap();
    let l = mean(&mut g, sq, &[0, 1]);
    check_range(&g, l, &[x, w1, b1, w2, b2], -1.0, 1.0, 50);
}
