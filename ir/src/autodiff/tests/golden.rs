//! Golden node counts of a small MLP (x[64,784] -> 128 relu -> 10, mean-squared-error loss),
//! forward alone and forward + backward w.r.t. all parameters, before and after `optimize`.
//!
//! The counts are recorded: a change in a VJP rule or a pass that changes them fails this
//! test on purpose. If the change is intended (fewer nodes, or more for a good reason), update
//! the constants below deliberately and say why in the commit message.

use super::composites::{bcast, mean, relu};
use super::s;
use crate::autodiff::grad;
use crate::dtype::DType;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op};
use crate::passes::optimize;

/// Forward graph and its parameters; the loss is the graph's output (a rank-0 scalar, as
/// `mean()` with `keepdim=false` gives).
fn mlp() -> (Graph, NodeId, Vec<NodeId>) {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[64, 784])).unwrap();
    let t = g.input("t", DType::F32, s(&[64, 10])).unwrap();
    let w1 = g.parameter("w1", DType::F32, s(&[784, 128])).unwrap();
    let b1 = g.parameter("b1", DType::F32, s(&[128])).unwrap();
    let w2 = g.parameter("w2", DType::F32, s(&[128, 10])).unwrap();
    let b2 = g.parameter("b2", DType::F32, s(&[10])).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let b1r = g.reshape(b1, s(&[1, 128])).unwrap();
    let h = bcast(&mut g, h, BinaryOp::Add, b1r);
    let h = relu(&mut g, h);
    let o = g.matmul(h, w2).unwrap();
    let b2r = g.reshape(b2, s(&[1, 10])).unwrap();
    let o = bcast(&mut g, o, BinaryOp::Add, b2r);
    let d = g.binary(BinaryOp::Sub, o, t).unwrap();
    let sq = g.binary(BinaryOp::Mul, d, d).unwrap();
    let l = mean(&mut g, sq, &[0, 1]);
    let loss = g.reshape(l, s(&[])).unwrap();
    g.set_outputs(&[loss]).unwrap();
    g.verify().unwrap();
    (g, loss, vec![w1, b1, w2, b2])
}

// Recorded counts. Update deliberately (see the file's doc).
const FORWARD: usize = 25;
const FORWARD_OPTIMIZED: usize = 23;
const TRAINING: usize = 53;
const TRAINING_OPTIMIZED: usize = 44;

#[test]
fn autodiff_golden_mlp_node_counts() {
    let (mut fwd, _, _) = mlp();
    let forward = fwd.len();
    optimize(&mut fwd).unwrap();
    fwd.verify().unwrap();
    let forward_opt = fwd.len();

    let (mut g, loss, params) = mlp();
    let grads = grad(&mut g, &[loss], &[None], &params).unwrap();
    let mut outputs = vec![loss];
    outputs.extend(&grads);
    g.set_outputs(&outputs).unwrap();
    let training = g.len();
    optimize(&mut g).unwrap();
    g.verify().unwrap();
    let training_opt = g.len();

    let hist = op_histogram(&g);
    let got = (forward, forward_opt, training, training_opt);
    let want = (FORWARD, FORWARD_OPTIMIZED, TRAINING, TRAINING_OPTIMIZED);
    assert_eq!(
        got, want,
        "MLP node counts (forward, forward optimised, forward+backward, forward+backward \
         optimised) changed: got {got:?}, recorded {want:?}. If this is intended, update the \
         constants in ir/src/autodiff/tests/golden.rs deliberately. Ops after optimize: {hist:?}"
    );
    assert!(
        training_opt < 3 * forward_opt,
        "forward+backward has {training_opt} nodes, not under 3x the forward's {forward_opt}"
    );
}

/// How many nodes of each op name the graph holds, sorted by name.
fn op_histogram(g: &Graph) -> Vec<(&'static str, usize)> {
    let mut h: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for id in g.node_ids() {
        let op: &Op = &g.node(id).unwrap().op;
        *h.entry(op.name()).or_default() += 1;
    }
    h.into_iter().collect()
}
