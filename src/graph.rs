//! The user's graph handle, [`Graph`], and the state behind it.
//!
//! The graph itself keeps the IR being built, the values of its parameters, the input values
//! bound with [`Graph::feed`] and the device that evaluates it. Each graph also carries the state
//! of two other modules, which own it and alone touch its fields: the gradient state
//! (`autograd.rs`: which leaves require gradients, accumulated gradients, stopped nodes, built
//! gradient subgraphs) and the compile state (`compile.rs`: the eager switch and the graph's
//! compiled programs).
//!
//! This module speaks node ids; `tensor.rs` wraps them into tensors, and everything that needs
//! tensors, evaluation or gradients (`creation.rs`, `executable.rs`, `backward.rs`) builds on
//! top of it, so that this module never uses one that uses it.

use crate::autograd::{grad_disabled, GradState};
use crate::cache::CacheStats;
use crate::compile::{CompileOptions, CompileState, Device};
use crate::error::check_same_type;
use crate::{Error, Result};
use kiln_ir::{HostTensor, NodeId};
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// A map keyed by tensor names. Looked up a few times per training step for every parameter,
/// so it hashes with FNV-1a rather than SipHash (names are the program's own, so there is no
/// flooding to defend against).
pub(crate) type NameMap<V> = HashMap<String, V, BuildHasherDefault<Fnv1a>>;

/// The 64-bit FNV-1a hash.
#[derive(Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Everything a graph keeps, behind its handle's `RefCell`.
pub(crate) struct GraphState {
    ir: kiln_ir::Graph,
    /// Current values of `param` nodes, by name.
    params: NameMap<HostTensor>,
    /// Input values bound with [`Graph::feed`].
    bound: NameMap<HostTensor>,
    device: Device,
    /// Owned by `autograd.rs`.
    grad: GradState,
    /// Owned by `compile.rs`.
    compile: CompileState,
}

/// Nodes a graph may grow by before its first collection (and beyond twice its live size).
const COLLECT_MARGIN: usize = 1024;

impl GraphState {
    /// Removes the nodes not reachable from `pinned` nodes, parameters, bound inputs and the
    /// gradient subgraphs of live losses, and every record kept for them; returns the count.
    fn forget_unreachable(&mut self, pinned: impl Iterator<Item = NodeId>) -> usize {
        let mut roots: Vec<NodeId> = pinned.filter(|&id| self.ir.node(id).is_ok()).collect();
        for id in self.ir.node_ids() {
            let keep = match self.ir.node(id).map(|n| &n.op) {
                Ok(kiln_ir::Op::Parameter { .. }) => true,
                Ok(kiln_ir::Op::Input { name }) => self.bound.contains_key(name),
                _ => false,
            };
            if keep {
                roots.push(id);
            }
        }
        let mut live = self.ir.ancestors(&roots);
        // Gradient subgraphs are kept while the loss (and seed and leaves) they belong to live.
        let grad_roots = self.grad.cached_gradients_of(&live);
        live.extend(self.ir.ancestors(&grad_roots));
        let dead: Vec<NodeId> = self
            .ir
            .topo_order()
            .into_iter()
            .filter(|id| !live.contains(id))
            .collect();
        // Users before operands: a dead node's users are dead too (a live user would make it
        // live), so removing in reverse order always removes a node whose users are gone.
        for &id in dead.iter().rev() {
            // Cannot fail: the node exists and its users were removed before it.
            let _ = self.ir.remove(id);
        }
        self.grad.retain_live(&live);
        self.compile.retain_live(&live);
        dead.len()
    }

    /// The IR built so far.
    pub(crate) fn ir(&self) -> &kiln_ir::Graph {
        &self.ir
    }

    /// The IR, to add nodes to. (Nodes are removed only by `forget_unreachable`.)
    pub(crate) fn ir_mut(&mut self) -> &mut kiln_ir::Graph {
        &mut self.ir
    }

    /// The gradient state (see `autograd.rs`).
    pub(crate) fn grad_state(&self) -> &GradState {
        &self.grad
    }

    pub(crate) fn grad_state_mut(&mut self) -> &mut GradState {
        &mut self.grad
    }

    /// The compile state (see `compile.rs`); mutable even to look up, because a lookup marks
    /// the program recently used.
    pub(crate) fn compile_state_mut(&mut self) -> &mut CompileState {
        &mut self.compile
    }

    /// True when `name` is a parameter (or buffer).
    pub(crate) fn is_parameter(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// The value an evaluation reads for `name` when no feed gives it: the value bound to the
    /// input `name`, else the parameter's value.
    pub(crate) fn value_of(&self, name: &str) -> Option<&HostTensor> {
        self.bound.get(name).or_else(|| self.params.get(name))
    }

    /// Every parameter value and bound input value, by name.
    pub(crate) fn named_values(&self) -> impl Iterator<Item = (&String, &HostTensor)> {
        self.params.iter().chain(self.bound.iter())
    }

    /// Moves the parameters `names` out of the store, to be lent to a program that writes their
    /// new values in place; [`GraphState::put_back_parameters`] returns them. If one is
    /// missing, none is taken.
    pub(crate) fn take_parameters<'a>(
        &mut self,
        names: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<Vec<(String, HostTensor)>> {
        let mut taken = Vec::with_capacity(names.len());
        for name in names {
            match self.params.remove_entry(name) {
                Some(entry) => taken.push(entry),
                None => {
                    self.params.extend(taken);
                    return Err(Error::api("run", format!("no parameter named \"{name}\"")));
                }
            }
        }
        Ok(taken)
    }

    /// Returns parameters taken by [`GraphState::take_parameters`].
    pub(crate) fn put_back_parameters(&mut self, taken: Vec<(String, HostTensor)>) {
        self.params.extend(taken);
    }
}

/// A lazily built tensor graph. Cloning the handle shares the graph; [`crate::Tensor`]s created
/// from it are nodes in it. Nothing is computed until a value is asked for
/// ([`crate::Tensor::to_host`], [`Graph::eval`]).
///
/// The graph keeps everything about its tensors: the nodes, parameter values, values bound with
/// [`Graph::feed`], the device, the gradients `backward` accumulated (and which leaves require
/// them), and the programs compiled for its evaluations, so evaluating the same tensors again
/// does not recompile.
#[derive(Clone)]
pub struct Graph(Rc<GraphCell>);

/// What a [`Graph`] handle shares: the state, and the count of handles per node. The counts
/// live beside the state, not in it, because a [`crate::Tensor`] is dropped wherever its owner
/// goes out of scope — possibly while the state is borrowed.
pub(crate) struct GraphCell {
    state: RefCell<GraphState>,
    /// Per node, how many handles keep it alive (tensors, executables, training steps).
    pins: RefCell<HashMap<NodeId, usize>>,
    /// Node count after the last collection; the next one runs when the graph has doubled.
    live_after_collect: Cell<usize>,
}

impl Default for Graph {
    fn default() -> Graph {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph evaluated on the default device.
    pub fn new() -> Graph {
        Graph(Rc::new(GraphCell {
            state: RefCell::new(GraphState {
                ir: kiln_ir::Graph::new(),
                params: NameMap::default(),
                bound: NameMap::default(),
                device: Device::default(),
                grad: GradState::default(),
                compile: CompileState::default(),
            }),
            pins: RefCell::new(HashMap::new()),
            live_after_collect: Cell::new(0),
        }))
    }

    /// The device that evaluates this graph.
    pub fn device(&self) -> Device {
        self.state().device
    }

    /// Chooses the device that evaluates this graph.
    pub fn set_device(&self, device: Device) {
        self.state_mut().device = device;
    }

    /// Turns fusion off (`true`: one kernel per primitive, PyTorch eager's model) or on.
    pub fn set_eager(&self, eager: bool) {
        self.state_mut().compile.set_eager(eager);
    }

    /// The sizes and counters of this graph's program cache: the programs its evaluations
    /// compiled, by output tensors and options. It keeps at most [`crate::cache_capacity`]
    /// entries, evicting the least recently used; asked for again, an evicted program comes from
    /// the thread's structural cache ([`crate::cache_stats`]) or is compiled again.
    pub fn cache_stats(&self) -> CacheStats {
        self.state_mut().compile_state_mut().stats()
    }

    /// The options evaluations of this graph compile with.
    pub fn compile_options(&self) -> CompileOptions {
        let st = self.state();
        CompileOptions {
            device: st.device,
            eager: st.compile.eager(),
        }
    }

    pub(crate) fn state(&self) -> Ref<'_, GraphState> {
        self.0.state.borrow()
    }

    pub(crate) fn state_mut(&self) -> RefMut<'_, GraphState> {
        self.0.state.borrow_mut()
    }

    /// Counts one more handle keeping `id` alive (see [`Graph::forget_unreachable`]).
    pub(crate) fn pin(&self, id: NodeId) {
        *self.0.pins.borrow_mut().entry(id).or_insert(0) += 1;
    }

    /// Counts one handle fewer keeping `id` alive.
    pub(crate) fn unpin(&self, id: NodeId) {
        let mut pins = self.0.pins.borrow_mut();
        if let Some(n) = pins.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&id);
            }
        }
    }

    /// True when both handles refer to the same graph.
    pub fn same_as(&self, other: &Graph) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Runs `f` on the IR graph and returns the node it built; inside [`crate::no_grad`] a new
    /// node is marked as one no gradient flows through.
    pub(crate) fn add_node(
        &self,
        f: impl FnOnce(&mut kiln_ir::Graph) -> kiln_ir::Result<NodeId>,
    ) -> Result<NodeId> {
        let mut st = self.state_mut();
        let before = st.ir.len();
        let id = f(&mut st.ir)?;
        // Builders may return an existing node (e.g. a reshape to the same shape), which must
        // not be marked; a new node is one more in the graph.
        if grad_disabled() && st.ir.len() > before {
            st.grad.stop_gradient_at(id);
        }
        Ok(id)
    }

    /// A snapshot of the IR built so far.
    pub fn ir(&self) -> kiln_ir::Graph {
        self.state().ir.clone()
    }

    /// Adds the parameter `name` with `value` (which `backward` accumulates a gradient for).
    pub(crate) fn add_parameter(&self, name: &str, value: HostTensor) -> Result<NodeId> {
        self.check_name_free("parameter", name)?;
        let id = self.add_node(|g| g.parameter(name, value.dtype(), value.shape().clone()))?;
        let mut st = self.state_mut();
        st.params.insert(name.to_string(), value);
        st.grad.set_requires_grad(id, true);
        Ok(id)
    }

    /// The parameter or buffer node named `name`, if any.
    pub(crate) fn parameter_node(&self, name: &str) -> Option<NodeId> {
        let st = self.state();
        st.ir.parameters().into_iter().find(|&id| {
            matches!(st.ir.node(id).map(|n| &n.op), Ok(kiln_ir::Op::Parameter { name: n }) if n == name)
        })
    }

    /// Every parameter and buffer with its current value, in creation order.
    pub fn parameters(&self) -> Vec<(String, HostTensor)> {
        let st = self.state();
        let mut named: Vec<(NodeId, String)> = st
            .ir
            .parameters()
            .into_iter()
            .filter_map(|id| match st.ir.node(id).map(|n| &n.op) {
                Ok(kiln_ir::Op::Parameter { name }) => Some((id, name.clone())),
                _ => None,
            })
            .collect();
        named.sort();
        named
            .into_iter()
            .filter_map(|(_, n)| st.params.get(&n).map(|v| (n, v.clone())))
            .collect()
    }

    /// Binds a value to an input for later evaluations (`to_host`, `backward`, `step`) that do
    /// not feed it explicitly; the value must match the input's declared type.
    pub fn feed(&self, name: &str, value: HostTensor) -> Result<()> {
        let st = self.state();
        let id = st.ir.find_input(name).ok_or_else(|| {
            Error::api("feed", format!("the graph has no input named \"{name}\""))
        })?;
        let ty = st.ir.node(id)?.ty.clone();
        drop(st);
        if ty.dtype != value.dtype() || ty.shape != *value.shape() {
            return Err(kiln_ir::IrError::FeedMismatch {
                name: name.to_string(),
                expected_dtype: ty.dtype,
                expected_shape: ty.shape,
                got_dtype: value.dtype(),
                got_shape: value.shape().clone(),
            }
            .into());
        }
        self.state_mut().bound.insert(name.to_string(), value);
        Ok(())
    }

    /// Inputs and parameters are fed and stored by name, so names must be unique.
    pub(crate) fn check_name_free(&self, op: &'static str, name: &str) -> Result<()> {
        let st = self.state();
        if st.params.contains_key(name) || st.ir.find_input(name).is_some() {
            return Err(Error::api(
                op,
                format!("the name \"{name}\" is already used by an input or parameter"),
            ));
        }
        Ok(())
    }

    /// A name no input or parameter uses yet, starting with `base`.
    pub(crate) fn fresh_input_name(&self, base: &str) -> String {
        let st = self.state();
        let taken = |n: &str| st.ir.find_input(n).is_some() || st.params.contains_key(n);
        if !taken(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}{i}"))
            .find(|n| !taken(n))
            .unwrap_or_default()
    }

    /// A name no parameter uses yet, for a literal that becomes a parameter.
    pub(crate) fn fresh_parameter_name(&self) -> String {
        let st = self.state();
        (st.ir.len()..)
            .map(|i| format!("leaf{i}"))
            .find(|n| !st.params.contains_key(n))
            .unwrap_or_default()
    }

    /// The current value of a parameter.
    pub fn parameter_value(&self, name: &str) -> Result<HostTensor> {
        self.state()
            .params
            .get(name)
            .cloned()
            .ok_or_else(|| Error::api("parameter_value", format!("no parameter named \"{name}\"")))
    }

    /// Replaces a parameter's value (same dtype and shape).
    pub fn set_parameter(&self, name: &str, value: HostTensor) -> Result<()> {
        let mut st = self.state_mut();
        let old = st
            .params
            .get_mut(name)
            .ok_or_else(|| Error::api("set_parameter", format!("no parameter named \"{name}\"")))?;
        check_same_type(
            "set_parameter",
            (old.dtype(), old.shape()),
            (value.dtype(), value.shape()),
            |old, new| format!("\"{name}\" is {old}, the new value is {new}"),
        )?;
        *old = value;
        Ok(())
    }

    /// Number of nodes in the graph: those built and not yet forgotten
    /// ([`Graph::forget_unreachable`]).
    pub fn node_count(&self) -> usize {
        self.state().ir.len()
    }

    /// Removes every node that nothing can reach any more, and returns how many were removed.
    ///
    /// A node stays alive while it is reachable (as the node itself or one it depends on) from
    ///
    /// - a live [`crate::Tensor`] handle to it,
    /// - a live [`crate::Executable`] or [`crate::optim::TrainStep`] that computes it,
    /// - a parameter (parameters are never forgotten), or an input whose value is bound with
    ///   [`Graph::feed`],
    /// - a gradient subgraph `backward` built for a loss that is itself alive.
    ///
    /// Everything else — the intermediate nodes of expressions whose tensors were dropped, as in
    /// a loop that rebuilds its loss each iteration — is removed, with the gradients, compiled
    /// programs and other state kept for it, so that a long-running loop runs in constant memory
    /// (PyTorch frees its autograd graph when the tensors die in the same way). Evaluations call
    /// this by themselves whenever the graph has doubled since the last collection, so the cost
    /// is constant per node built; calling it directly is only needed to measure.
    pub fn forget_unreachable(&self) -> usize {
        let removed = {
            let pins = self.0.pins.borrow();
            let mut st = self.state_mut();
            st.forget_unreachable(pins.keys().copied())
        };
        self.0.live_after_collect.set(self.node_count());
        removed
    }

    /// Runs [`Graph::forget_unreachable`] when the graph has doubled (plus a margin) since the
    /// last collection: called at the start of evaluations, where every node anyone still needs
    /// is held by a handle.
    pub(crate) fn maybe_forget(&self) {
        if self.node_count() > 2 * self.0.live_after_collect.get() + COLLECT_MARGIN {
            self.forget_unreachable();
        }
    }
}
