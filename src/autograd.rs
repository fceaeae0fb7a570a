//! PyTorch's autograd surface on top of kiln's graph-transforming autodiff.
//!
//! There is no tape: `loss.backward()` runs the [`kiln_ir::autodiff::grad`] pass, which appends
//! the gradient subgraph of `loss` with respect to every leaf that requires a gradient, evaluates
//! those gradient nodes, and adds the values into each leaf's `.grad()` — so repeated calls
//! accumulate, exactly like PyTorch's `backward(retain_graph=True)`. [`grad`] returns the gradient
//! nodes themselves (lazy tensors), which is what higher-order derivatives need.
//!
//! Leaves that require gradients are parameters (values owned by the graph); a literal becomes
//! one with [`Tensor::requires_grad_`]. [`Tensor::detach`] and [`no_grad`] mark nodes through
//! which no gradient flows.

use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{HostTensor, NodeId, Op};
use std::cell::Cell;
use std::collections::HashSet;

thread_local! {
    /// Depth of nested `no_grad` scopes on this thread.
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// True inside a [`no_grad`] scope.
pub(crate) fn grad_disabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() > 0)
}

/// Runs `f` with gradient tracking disabled (`with torch.no_grad():`): every tensor built inside
/// is treated as a constant by later `backward` calls.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            NO_GRAD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
    let _guard = Guard;
    f()
}

/// `torch.autograd.grad(outputs, inputs, grad_outputs)`: the gradients of `outputs` (seeded by
/// `seeds`, `None` = ones for a scalar output) with respect to `inputs`, as new lazy tensors in the
/// same graph. Because they are ordinary graph nodes they can be differentiated again.
pub fn grad(
    outputs: &[&Tensor],
    seeds: &[Option<&Tensor>],
    inputs: &[&Tensor],
) -> Result<Vec<Tensor>> {
    let first = outputs
        .first()
        .ok_or_else(|| Error::api("grad", "expected at least one output"))?;
    let g = first.graph();
    for t in outputs
        .iter()
        .chain(inputs.iter())
        .chain(seeds.iter().flatten())
    {
        first.check_same_graph(t, "grad")?;
    }
    let outs: Vec<NodeId> = outputs.iter().map(|t| t.id()).collect();
    let seeds: Vec<Option<NodeId>> = seeds.iter().map(|s| s.map(|t| t.id())).collect();
    let wrt: Vec<NodeId> = inputs.iter().map(|t| t.id()).collect();
    let ids = {
        let mut st = g.state_mut();
        let stopped = st.stopped.clone();
        kiln_ir::autodiff::grad_stopping(&mut st.ir, &outs, &seeds, &wrt, &stopped)?
    };
    Ok(ids.into_iter().map(|id| g.wrap(id)).collect())
}

impl Tensor {
    /// `x.requires_grad_()`: makes this leaf accumulate gradients in `backward`. A literal leaf
    /// becomes a parameter (its value is kept by the graph); parameters already require grad.
    /// Returns the tensor to use from now on.
    pub fn requires_grad_(&self) -> Result<Tensor> {
        let g = self.graph();
        let node = g.state().ir.node(self.id())?.clone();
        if !node.dtype().is_float() {
            return Err(Error::api(
                "requires_grad_",
                format!(
                    "only floating-point tensors can require gradients, got {}",
                    node.dtype()
                ),
            ));
        }
        match node.op {
            Op::Parameter { .. } => {
                g.state_mut().requires_grad.insert(self.id());
                Ok(self.clone())
            }
            Op::Constant { value } => {
                let name = g.fresh_parameter_name();
                let p = g.parameter(&name, value)?;
                Ok(p)
            }
            _ => Err(Error::api(
                "requires_grad_",
                format!(
                    "only leaf tensors can require gradients; {} is the result of {}",
                    self.id(),
                    node.op.name()
                ),
            )),
        }
    }

    /// True for leaves whose gradients `backward` accumulates.
    pub fn requires_grad(&self) -> bool {
        self.graph().state().requires_grad.contains(&self.id())
    }

    /// `loss.backward()` for a scalar `self`: accumulates `d self / d leaf` into the `.grad()` of
    /// every leaf that requires a gradient and that `self` depends on.
    pub fn backward(&self) -> Result<()> {
        self.backward_seeded(None)
    }

    /// `y.backward(gradient)`: accumulates the vector-Jacobian product `gradient^T dy/dleaf`;
    /// `gradient` has `y`'s shape (seed 001: `y.backward(torch.ones_like(x))`).
    pub fn backward_with(&self, gradient: &Tensor) -> Result<()> {
        self.check_same_graph(gradient, "backward")?;
        self.backward_seeded(Some(gradient))
    }

    fn backward_seeded(&self, seed: Option<&Tensor>) -> Result<()> {
        let g = self.graph();
        let leaves = g.grad_leaves_reached_from(self.id());
        if leaves.is_empty() {
            return Err(Error::api(
                "backward",
                "the tensor does not depend on any tensor that requires grad",
            ));
        }
        let key = (self.id(), seed.map(|s| s.id()), leaves.clone());
        let cached = g.state().grad_cache.get(&key).cloned();
        let grads: Vec<Tensor> = match cached {
            Some(ids) => ids.into_iter().map(|id| g.wrap(id)).collect(),
            None => {
                let leaf_tensors: Vec<Tensor> = leaves.iter().map(|&id| g.wrap(id)).collect();
                let refs: Vec<&Tensor> = leaf_tensors.iter().collect();
                let grads = grad(&[self], &[seed], &refs)?;
                g.state_mut()
                    .grad_cache
                    .insert(key, grads.iter().map(|t| t.id()).collect());
                grads
            }
        };
        let grad_refs: Vec<&Tensor> = grads.iter().collect();
        let values = g.eval(&grad_refs, &[])?;
        let mut st = g.state_mut();
        for (id, v) in leaves.into_iter().zip(values) {
            let total = match st.grads.remove(&id) {
                Some(prev) => add_host(&prev, &v)?,
                None => v,
            };
            st.grads.insert(id, total);
        }
        Ok(())
    }

    /// The accumulated gradient of this leaf (`x.grad`), or `None` if `backward` has not reached
    /// it since the last `zero_grad`.
    pub fn grad(&self) -> Option<HostTensor> {
        self.graph().state().grads.get(&self.id()).cloned()
    }

    /// Forgets this leaf's accumulated gradient (`x.grad = None`).
    pub fn zero_grad(&self) {
        self.graph().state_mut().grads.remove(&self.id());
    }

    /// `x.detach()`: the same values, through which no gradient flows.
    pub fn detach(&self) -> Result<Tensor> {
        let ty = self.graph().state().ir.node(self.id())?.ty.clone();
        // An identity reshape is a new node with the same value; marking it stopped cuts the
        // gradient without a dedicated primitive. The optimiser removes it after autodiff.
        let t = self.unary_build(|g, x| g.add(Op::Reshape, &[x], Some(ty)))?;
        self.graph().state_mut().stopped.insert(t.id());
        Ok(t)
    }
}

impl Graph {
    /// Forgets every accumulated gradient (`optimizer.zero_grad()`).
    pub fn zero_grad(&self) {
        self.state_mut().grads.clear();
    }

    /// Leaves that require grad and that `root` depends on through non-stopped nodes.
    fn grad_leaves_reached_from(&self, root: NodeId) -> Vec<NodeId> {
        let st = self.state();
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        let mut leaves = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || st.stopped.contains(&id) {
                continue;
            }
            if st.requires_grad.contains(&id) {
                leaves.push(id);
            }
            stack.extend(st.ir.operands(id));
        }
        leaves.sort_unstable();
        leaves
    }

    pub(crate) fn fresh_parameter_name(&self) -> String {
        let st = self.state();
        (st.ir.len()..)
            .map(|i| format!("leaf{i}"))
            .find(|n| !st.params.contains_key(n))
            .unwrap_or_default()
    }
}

/// Elementwise sum of two host tensors of the same type (gradient accumulation).
fn add_host(a: &HostTensor, b: &HostTensor) -> Result<HostTensor> {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return Err(Error::api("backward", "accumulated gradients changed type"));
    }
    let sum: Vec<f64> = a
        .to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x + y)
        .collect();
    Ok(HostTensor::from_f64(a.dtype(), a.shape().clone(), &sum)?)
}
