//! Autograd's state: what each graph remembers about gradients ([`GradState`]) and the
//! thread's gradient mode ([`no_grad`]).
//!
//! There is no tape: gradients are graph nodes built by the [`kiln_ir::autodiff`] pass, and the
//! user-facing calls that build and evaluate them (`backward`, `grad`, `detach`...) are in
//! `backward.rs`, above evaluation. This module sits below the graph, which holds a
//! [`GradState`], so it names neither graphs nor tensors.

use crate::{Error, Result};
use kiln_ir::{HostTensor, NodeId};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

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

/// What identifies the gradient nodes one `backward` call built: (output, seed, leaves).
pub(crate) type GradKey = (NodeId, Option<NodeId>, Vec<NodeId>);

/// A graph's gradient state. The graph holds it; only this module's methods touch it.
#[derive(Default)]
pub(crate) struct GradState {
    /// Leaves whose gradients `backward` accumulates (parameters, by default).
    requires_grad: HashSet<NodeId>,
    /// Accumulated gradients of leaves (`x.grad()`).
    grads: HashMap<NodeId, HostTensor>,
    /// Nodes no gradient flows through: built under `no_grad` or made by `detach`.
    stopped: HashSet<NodeId>,
    /// Gradient nodes already built by `backward`, so that calling `backward` in a loop does not
    /// grow the graph.
    grad_cache: HashMap<GradKey, Vec<NodeId>>,
}

impl GradState {
    /// True for leaves whose gradients `backward` accumulates.
    pub(crate) fn requires_grad(&self, id: NodeId) -> bool {
        self.requires_grad.contains(&id)
    }

    /// Makes `backward` accumulate a gradient for the leaf `id`, or stop doing so.
    pub(crate) fn set_requires_grad(&mut self, id: NodeId, requires: bool) {
        if requires {
            self.requires_grad.insert(id);
        } else {
            self.requires_grad.remove(&id);
        }
    }

    /// Marks `id` as a node no gradient flows through.
    pub(crate) fn stop_gradient_at(&mut self, id: NodeId) {
        self.stopped.insert(id);
    }

    /// The nodes no gradient flows through, for the autodiff pass.
    pub(crate) fn stopped_nodes(&self) -> &HashSet<NodeId> {
        &self.stopped
    }

    /// Leaves that require grad and that `root` depends on in `ir` through non-stopped nodes,
    /// in id order.
    pub(crate) fn leaves_reached_from(&self, ir: &kiln_ir::Graph, root: NodeId) -> Vec<NodeId> {
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        let mut leaves = Vec::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || self.stopped.contains(&id) {
                continue;
            }
            if self.requires_grad.contains(&id) {
                leaves.push(id);
            }
            stack.extend(ir.operands(id));
        }
        leaves.sort_unstable();
        leaves
    }

    /// The gradient nodes an earlier `backward` built for `key`, if any.
    pub(crate) fn cached_grads(&self, key: &GradKey) -> Option<Vec<NodeId>> {
        self.grad_cache.get(key).cloned()
    }

    /// Remembers the gradient nodes built for `key`.
    pub(crate) fn cache_grads(&mut self, key: GradKey, grads: Vec<NodeId>) {
        self.grad_cache.insert(key, grads);
    }

    /// The accumulated gradient of the leaf `id`, if `backward` has reached it.
    pub(crate) fn grad(&self, id: NodeId) -> Option<&HostTensor> {
        self.grads.get(&id)
    }

    /// Adds `value` into the accumulated gradient of the leaf `id`.
    pub(crate) fn accumulate(&mut self, id: NodeId, value: HostTensor) -> Result<()> {
        let total = match self.grads.remove(&id) {
            Some(prev) => add_host(&prev, &value)?,
            None => value,
        };
        self.grads.insert(id, total);
        Ok(())
    }

    /// Forgets the accumulated gradient of the leaf `id`.
    pub(crate) fn forget_grad(&mut self, id: NodeId) {
        self.grads.remove(&id);
    }

    /// Forgets every accumulated gradient.
    pub(crate) fn forget_grads(&mut self) {
        self.grads.clear();
    }

    /// The gradient nodes built for losses whose key nodes (loss, seed, leaves) are all in
    /// `live`: they stay alive with their loss, so a `backward` repeated on it reuses them.
    pub(crate) fn cached_gradients_of(&self, live: &HashSet<NodeId>) -> Vec<NodeId> {
        self.grad_cache
            .iter()
            .filter(|(key, _)| key_is_live(key, live))
            .flat_map(|(_, grads)| grads.iter().copied())
            .collect()
    }

    /// Forgets everything recorded for nodes not in `live` (they are being removed, and their
    /// ids may be given to new nodes).
    pub(crate) fn retain_live(&mut self, live: &HashSet<NodeId>) {
        self.requires_grad.retain(|id| live.contains(id));
        self.grads.retain(|id, _| live.contains(id));
        self.stopped.retain(|id| live.contains(id));
        self.grad_cache
            .retain(|key, grads| key_is_live(key, live) && grads.iter().all(|g| live.contains(g)));
    }
}

fn key_is_live((output, seed, leaves): &GradKey, live: &HashSet<NodeId>) -> bool {
    live.contains(output)
        && seed.is_none_or(|s| live.contains(&s))
        && leaves.iter().all(|l| live.contains(l))
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
