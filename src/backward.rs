//! PyTorch's autograd surface on top of kiln's graph-transforming autodiff.
//!
//! There is no tape: `loss.backward()` runs the [`kiln_ir::autodiff::grad`] pass, which appends
//! the gradient subgraph of `loss` with respect to every leaf that requires a gradient, evaluates
//! those gradient nodes, and adds the values into each leaf's `.grad()` — so repeated calls
//! accumulate, exactly like PyTorch's `backward(retain_graph=True)`. [`grad`] returns the gradient
//! nodes themselves (lazy tensors), which is what higher-order derivatives need.
//!
//! Leaves that require gradients are parameters (values owned by the graph); a literal becomes
//! one with [`Tensor::requires_grad_`]. [`Tensor::detach`] and [`crate::no_grad`] mark nodes
//! through which no gradient flows.
//!
//! What these calls remember lives in the graph's `GradState` (`autograd.rs`); this module only
//! drives it, from above evaluation, because `backward` evaluates the gradients it builds.

use crate::autograd::GradKey;
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{HostTensor, NodeId, Op};

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
        // Copied out because the pass borrows the IR mutably, and both live in the graph.
        let stopped = st.grad_state().stopped_nodes().clone();
        kiln_ir::autodiff::grad_stopping(st.ir_mut(), &outs, &seeds, &wrt, &stopped)?
    };
    Ok(ids.into_iter().map(|id| g.wrap(id)).collect())
}

impl Tensor {
    /// `x.requires_grad_()`: makes this leaf accumulate gradients in `backward`. A literal leaf
    /// becomes a parameter (its value is kept by the graph); parameters already require grad.
    /// Returns the tensor to use from now on.
    pub fn requires_grad_(&self) -> Result<Tensor> {
        let g = self.graph();
        let node = g.state().ir().node(self.id())?.clone();
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
                g.state_mut()
                    .grad_state_mut()
                    .set_requires_grad(self.id(), true);
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
        self.graph().state().grad_state().requires_grad(self.id())
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
        let leaves = {
            let st = g.state();
            st.grad_state().leaves_reached_from(st.ir(), self.id())
        };
        if leaves.is_empty() {
            return Err(Error::api(
                "backward",
                "the tensor does not depend on any tensor that requires grad",
            ));
        }
        let key: GradKey = (self.id(), seed.map(|s| s.id()), leaves.clone());
        let cached = g.state().grad_state().cached_grads(&key);
        let grads: Vec<Tensor> = match cached {
            Some(ids) => ids.into_iter().map(|id| g.wrap(id)).collect(),
            None => {
                let leaf_tensors: Vec<Tensor> = leaves.iter().map(|&id| g.wrap(id)).collect();
                let refs: Vec<&Tensor> = leaf_tensors.iter().collect();
                let grads = grad(&[self], &[seed], &refs)?;
                g.state_mut()
                    .grad_state_mut()
                    .cache_grads(key, grads.iter().map(|t| t.id()).collect());
                grads
            }
        };
        let grad_refs: Vec<&Tensor> = grads.iter().collect();
        let values = g.eval(&grad_refs, &[])?;
        let mut st = g.state_mut();
        for (id, v) in leaves.into_iter().zip(values) {
            st.grad_state_mut().accumulate(id, v)?;
        }
        Ok(())
    }

    /// The accumulated gradient of this leaf (`x.grad`), or `None` if `backward` has not reached
    /// it since the last `zero_grad`.
    pub fn grad(&self) -> Option<HostTensor> {
        self.graph().state().grad_state().grad(self.id()).cloned()
    }

    /// Forgets this leaf's accumulated gradient (`x.grad = None`).
    pub fn zero_grad(&self) {
        self.graph()
            .state_mut()
            .grad_state_mut()
            .forget_grad(self.id());
    }
}

impl Graph {
    /// Forgets every accumulated gradient (`optimizer.zero_grad()`).
    pub fn zero_grad(&self) {
        self.state_mut().grad_state_mut().forget_grads();
    }
}
