//! Gradient checking by central finite differences through the reference interpreter.
//!
//! Only built for tests (`cfg(test)` or the `testing` feature), so that tests in other crates
//! can use it too. [`gradcheck`] checks `d output / d wrt` for `f64` graphs: it projects the
//! output onto a fixed random direction `r` (`L = sum(output * r)`), differentiates `L` with
//! [`super::grad`], and compares every gradient element with
//! `(L(x + eps) - L(x - eps)) / (2 eps)` under `|ad - fd| <= atol + rtol * |fd|`. The random
//! projection checks the whole Jacobian against one backward pass with no blind spots for
//! cancelling elements. Inputs should stay away from kinks (`abs` at 0, `max` ties, `relu` at 0):
//! finite differences are meaningless there.

use super::grad;
use crate::dtype::DType;
use crate::graph::{Graph, NodeId};
use crate::interp::evaluate;
use crate::op::{BinaryOp, Op, ReduceOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;
use std::collections::HashMap;

/// A small deterministic generator (SplitMix64) for test inputs; no dependency, same numbers
/// on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform on `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A tensor of `dtype` and `shape` with elements uniform on `[lo, hi)`.
    pub fn tensor(&mut self, dtype: DType, shape: &Shape, lo: f64, hi: f64) -> HostTensor {
        let values: Vec<f64> = (0..shape.numel()).map(|_| self.uniform(lo, hi)).collect();
        // The length equals the shape's element count by construction.
        HostTensor::from_f64(dtype, shape.clone(), &values)
            .unwrap_or_else(|_| HostTensor::full(dtype, shape.clone(), 0.0))
    }
}

/// Random feeds, uniform on `[lo, hi)`, for every floating-point input and parameter of `graph`.
pub fn random_feeds(graph: &Graph, rng: &mut Rng, lo: f64, hi: f64) -> HashMap<String, HostTensor> {
    let mut feeds = HashMap::new();
    for id in graph.node_ids() {
        let Ok(node) = graph.node(id) else { continue };
        if let Op::Input { name } | Op::Parameter { name } = &node.op {
            if node.dtype().is_float() {
                feeds.insert(name.clone(), rng.tensor(node.dtype(), node.shape(), lo, hi));
            }
        }
    }
    feeds
}

/// Step and tolerances of [`gradcheck`].
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Finite-difference step.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance {
            eps: 1e-6,
            rtol: 1e-5,
            atol: 1e-6,
        }
    }
}

/// Checks the gradient of `output` with respect to each `wrt` node (inputs or parameters of
/// dtype `f64`, fed by name from `feeds`) against central finite differences.
///
/// `output` may be any `f64` node, including a gradient node (to check second derivatives).
/// `seed` picks the random projection. Returns a message naming the worst element on failure.
pub fn gradcheck(
    graph: &Graph,
    output: NodeId,
    wrt: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
    tol: Tolerance,
    seed: u64,
) -> Result<(), String> {
    let err = |e: crate::error::IrError| e.to_string();
    let mut g = graph.clone();
    let out_ty = g.node(output).map_err(err)?.ty.clone();
    if out_ty.dtype != DType::F64 {
        return Err(format!("gradcheck needs an f64 output, got {out_ty}"));
    }
    let mut names = Vec::with_capacity(wrt.len());
    for &w in wrt {
        let node = g.node(w).map_err(err)?;
        match &node.op {
            Op::Input { name } | Op::Parameter { name } if node.dtype() == DType::F64 => {
                names.push(name.clone())
            }
            _ => return Err(format!("gradcheck: {w} must be an f64 input or parameter")),
        }
    }
    // L = sum(output * r): one scalar whose gradient is r^T J.
    let mut rng = Rng::new(seed);
    let r = g
        .constant(rng.tensor(DType::F64, &out_ty.shape, -1.0, 1.0))
        .map_err(err)?;
    let prod = g.binary(BinaryOp::Mul, output, r).map_err(err)?;
    let axes: Vec<usize> = (0..out_ty.shape.rank()).collect();
    let loss = g.reduce(ReduceOp::Sum, prod, &axes).map_err(err)?;
    let grads = grad(&mut g, &[loss], &[None], wrt).map_err(err)?;
    g.verify().map_err(err)?;
    let ad = evaluate(&g, &grads, feeds).map_err(err)?;

    let eval_loss = |feeds: &HashMap<String, HostTensor>| -> Result<f64, String> {
        let v = evaluate(&g, &[loss], feeds).map_err(err)?;
        v[0].item().map_err(err)
    };
    let mut worst: Option<(f64, String)> = None;
    for ((name, &w), ad) in names.iter().zip(wrt).zip(&ad) {
        let base = feeds
            .get(name)
            .ok_or_else(|| format!("gradcheck: no feed for \"{name}\""))?;
        let shape = base.shape().clone();
        let values = base.to_f64_vec();
        for i in 0..values.len() {
            let mut perturbed = feeds.clone();
            let mut at = |delta: f64| -> Result<f64, String> {
                let mut v = values.clone();
                v[i] += delta;
                let t = HostTensor::from_f64(DType::F64, shape.clone(), &v).map_err(err)?;
                perturbed.insert(name.clone(), t);
                eval_loss(&perturbed)
            };
            let fd = (at(tol.eps)? - at(-tol.eps)?) / (2.0 * tol.eps);
            let a = ad.get_f64(i);
            let excess = (a - fd).abs() - (tol.atol + tol.rtol * fd.abs());
            if excess > 0.0 || a.is_nan() != fd.is_nan() {
                let msg = format!(
                    "gradient of {output} w.r.t. {w} (\"{name}\") element {i}: \
                     autodiff {a:.10e}, finite differences {fd:.10e}"
                );
                if worst
                    .as_ref()
                    .is_none_or(|(e, _)| excess > *e || excess.is_nan())
                {
                    worst = Some((excess, msg));
                }
            }
        }
    }
    match worst {
        Some((_, msg)) => Err(msg),
        None => Ok(()),
    }
}
