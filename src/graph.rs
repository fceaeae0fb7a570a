//! The user's graph handle: the IR graph being built, the values of its parameters, and the
//! device that evaluates it.

use crate::literal::TensorLiteral;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, NodeId, Shape};
use std::cell::{Ref, RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Where a graph is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Device {
    /// The reference interpreter (f64 arithmetic, rounded per node): slow, and the oracle that
    /// the compiled backends are tested against.
    Interpreter,
    /// Native code for this machine's CPU, compiled by Cranelift (the default).
    #[default]
    Cpu,
}

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

/// What identifies a compiled executable of a graph: output ids, parameter updates (name, new
/// value node), eager, device.
pub(crate) type ExecutableKey = (Vec<NodeId>, Vec<(String, NodeId)>, bool, Device);

pub(crate) struct GraphState {
    pub(crate) ir: kiln_ir::Graph,
    /// Current values of `param` nodes, by name.
    pub(crate) params: NameMap<HostTensor>,
    pub(crate) device: Device,
    /// Fusion off (eager mode) for compiled devices.
    pub(crate) eager: bool,
    /// Compiled executables by (output ids, parameter updates, eager, device).
    pub(crate) executables: HashMap<ExecutableKey, Rc<crate::compile::Executable>>,
    /// Leaves whose gradients `backward` accumulates (parameters, by default).
    pub(crate) requires_grad: HashSet<NodeId>,
    /// Accumulated gradients of leaves (`x.grad()`).
    pub(crate) grads: HashMap<NodeId, HostTensor>,
    /// Nodes no gradient flows through: built under `no_grad` or made by `detach`.
    pub(crate) stopped: HashSet<NodeId>,
    /// Input values bound with [`Graph::feed`].
    pub(crate) bound: NameMap<HostTensor>,
    /// Gradient nodes already built by `backward`: (output, seed, leaves) -> gradients, so that
    /// calling `backward` in a loop does not grow the graph.
    pub(crate) grad_cache: HashMap<(NodeId, Option<NodeId>, Vec<NodeId>), Vec<NodeId>>,
}

/// A lazily built tensor graph. Cloning the handle shares the graph; [`Tensor`]s created from it
/// are nodes in it. Nothing is computed until a value is asked for ([`Tensor::to_host`],
/// [`Graph::eval`]).
#[derive(Clone)]
pub struct Graph(pub(crate) Rc<RefCell<GraphState>>);

impl Default for Graph {
    fn default() -> Graph {
        Graph::new()
    }
}

impl Graph {
    /// An empty graph evaluated on the default device.
    pub fn new() -> Graph {
        Graph(Rc::new(RefCell::new(GraphState {
            ir: kiln_ir::Graph::new(),
            params: NameMap::default(),
            device: Device::default(),
            eager: false,
            executables: HashMap::new(),
            requires_grad: HashSet::new(),
            grads: HashMap::new(),
            stopped: HashSet::new(),
            bound: NameMap::default(),
            grad_cache: HashMap::new(),
        })))
    }

    /// The device that evaluates this graph.
    pub fn device(&self) -> Device {
        self.0.borrow().device
    }

    /// Chooses the device that evaluates this graph.
    pub fn set_device(&self, device: Device) {
        self.0.borrow_mut().device = device;
    }

    /// Turns fusion off (`true`: one kernel per primitive, PyTorch eager's model) or on.
    pub fn set_eager(&self, eager: bool) {
        self.0.borrow_mut().eager = eager;
    }

    /// The options evaluations of this graph compile with.
    pub fn compile_options(&self) -> crate::compile::CompileOptions {
        let st = self.state();
        crate::compile::CompileOptions {
            device: st.device,
            eager: st.eager,
        }
    }

    pub(crate) fn state(&self) -> Ref<'_, GraphState> {
        self.0.borrow()
    }

    pub(crate) fn state_mut(&self) -> RefMut<'_, GraphState> {
        self.0.borrow_mut()
    }

    /// True when both handles refer to the same graph.
    pub fn same_as(&self, other: &Graph) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn wrap(&self, id: NodeId) -> Tensor {
        Tensor::from_parts(self.clone(), id)
    }

    /// Runs `f` on the IR graph and wraps the node it returns.
    pub(crate) fn build(
        &self,
        f: impl FnOnce(&mut kiln_ir::Graph) -> kiln_ir::Result<NodeId>,
    ) -> Result<Tensor> {
        let mut st = self.state_mut();
        let before = st.ir.len();
        let id = f(&mut st.ir)?;
        // API graphs never remove nodes, so ids are dense and a new node's id is >= the old
        // count; builders may return an existing node (e.g. a reshape to the same shape), which
        // must not be marked.
        if crate::autograd::grad_disabled() && id.0 as usize >= before {
            st.stopped.insert(id);
        }
        drop(st);
        Ok(self.wrap(id))
    }

    /// A snapshot of the IR built so far.
    pub fn ir(&self) -> kiln_ir::Graph {
        self.state().ir.clone()
    }

    /// A literal tensor from a number, array, nested array, `Vec` or [`HostTensor`]
    /// (`torch.tensor(data)`): `g.tensor([[1.0f32, 2.0], [3.0, 4.0]])`.
    pub fn tensor(&self, data: impl TensorLiteral) -> Result<Tensor> {
        let value = data.to_host_tensor()?;
        self.build(|g| g.constant(value))
    }

    /// An input fed by name at evaluation time.
    pub fn input(&self, name: &str, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        self.check_name_free("input", name)?;
        let shape = Shape::new(shape)?;
        self.build(|g| g.input(name, dtype, shape))
    }

    /// A parameter: a named value owned by the graph, read by every evaluation and updated by
    /// training. Names must be unique.
    pub fn parameter(&self, name: &str, value: impl TensorLiteral) -> Result<Tensor> {
        let value = value.to_host_tensor()?;
        self.check_name_free("parameter", name)?;
        let t = self.build(|g| g.parameter(name, value.dtype(), value.shape().clone()))?;
        let mut st = self.state_mut();
        st.params.insert(name.to_string(), value);
        st.requires_grad.insert(t.id());
        Ok(t)
    }

    /// A state buffer (`register_buffer`): a named value owned by the graph, like a parameter,
    /// that does not require gradients (optimiser moments, step counts).
    pub fn buffer(&self, name: &str, value: impl TensorLiteral) -> Result<Tensor> {
        let t = self.parameter(name, value)?;
        self.state_mut().requires_grad.remove(&t.id());
        Ok(t)
    }

    /// The parameter or buffer node named `name`, if any.
    pub fn parameter_tensor(&self, name: &str) -> Option<Tensor> {
        let st = self.state();
        let id = st.ir.parameters().into_iter().find(|&id| {
            matches!(st.ir.node(id).map(|n| &n.op), Ok(kiln_ir::Op::Parameter { name: n }) if n == name)
        })?;
        drop(st);
        Some(self.wrap(id))
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
    fn check_name_free(&self, op: &'static str, name: &str) -> Result<()> {
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
        if old.dtype() != value.dtype() || old.shape() != value.shape() {
            return Err(Error::api(
                "set_parameter",
                format!(
                    "\"{name}\" is {}{}, the new value is {}{}",
                    old.dtype(),
                    old.shape(),
                    value.dtype(),
                    value.shape()
                ),
            ));
        }
        *old = value;
        Ok(())
    }

    /// `torch.full(shape, value, dtype=dtype)`, as a broadcast scalar (no data is stored).
    pub fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let shape = Shape::new(shape)?;
        self.build(|g| {
            let s = g.scalar(dtype, value)?;
            let ones = Shape::new(&vec![1; shape.rank()])?;
            let s = g.reshape(s, ones)?;
            g.expand(s, shape)
        })
    }

    /// `torch.full_like(t, value)`: `t`'s shape and dtype.
    pub fn full_like(&self, t: &Tensor, value: f64) -> Result<Tensor> {
        self.full(&t.dims(), value, t.dtype())
    }

    /// `torch.zeros_like(t)`.
    pub fn zeros_like(&self, t: &Tensor) -> Result<Tensor> {
        self.full_like(t, 0.0)
    }

    /// `torch.ones_like(t)`.
    pub fn ones_like(&self, t: &Tensor) -> Result<Tensor> {
        self.full_like(t, 1.0)
    }

    /// `torch.rand_like(t)` (drawn now from the global generator; `t` must be a float tensor).
    pub fn rand_like(&self, t: &Tensor) -> Result<Tensor> {
        self.rand(&t.dims())?.to_dtype(float_like(t)?)
    }

    /// `torch.randn_like(t)` (drawn now from the global generator; `t` must be a float tensor).
    pub fn randn_like(&self, t: &Tensor) -> Result<Tensor> {
        self.randn(&t.dims())?.to_dtype(float_like(t)?)
    }

    /// `torch.zeros(shape)` (`f32`).
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        self.full(shape, 0.0, DType::F32)
    }

    /// `torch.ones(shape)` (`f32`).
    pub fn ones(&self, shape: &[usize]) -> Result<Tensor> {
        self.full(shape, 1.0, DType::F32)
    }

    /// `torch.eye(n)` (`f32`).
    pub fn eye(&self, n: usize) -> Result<Tensor> {
        let shape = Shape::new(&[n, n])?;
        let values: Vec<f64> = (0..n * n)
            .map(|i| f64::from(u8::from(i / n == i % n)))
            .collect();
        self.tensor(HostTensor::from_f64(DType::F32, shape, &values)?)
    }

    /// `torch.arange(start, end)` with step 1: `i64` values `start, start+1, ..., end-1`.
    pub fn arange(&self, start: i64, end: i64) -> Result<Tensor> {
        self.tensor((start..end.max(start)).collect::<Vec<i64>>())
    }

    /// `torch.arange(start, end, step)` for floats (`f32`): `ceil((end - start) / step)` values.
    pub fn arange_f32(&self, start: f64, end: f64, step: f64) -> Result<Tensor> {
        let n = (end - start) / step;
        if step == 0.0 || !n.is_finite() || n < 0.0 {
            return Err(Error::api(
                "arange",
                format!("invalid range {start}..{end} with step {step}"),
            ));
        }
        let n = n.ceil() as usize;
        self.tensor(
            (0..n)
                .map(|i| (start + i as f64 * step) as f32)
                .collect::<Vec<f32>>(),
        )
    }

    /// `torch.linspace(start, end, steps)` (`f32`), with PyTorch's symmetric formula so that both
    /// ends are exact: the first half counts up from `start`, the second half down from `end`.
    pub fn linspace(&self, start: f64, end: f64, steps: usize) -> Result<Tensor> {
        let (s, e) = (start as f32, end as f32);
        let values: Vec<f32> = match steps {
            0 => vec![],
            1 => vec![s],
            _ => {
                let step = (e - s) / (steps - 1) as f32;
                let half = steps / 2;
                (0..steps)
                    .map(|i| {
                        if i < half {
                            s + step * i as f32
                        } else {
                            e - step * (steps - i - 1) as f32
                        }
                    })
                    .collect()
            }
        };
        self.tensor(values)
    }

    /// `torch.rand(shape)` drawn now from the global PyTorch-compatible generator (see
    /// [`crate::manual_seed`]) and embedded as a literal.
    pub fn rand(&self, shape: &[usize]) -> Result<Tensor> {
        self.tensor(crate::rand(shape)?)
    }

    /// `torch.randn(shape)` drawn now from the global PyTorch-compatible generator.
    pub fn randn(&self, shape: &[usize]) -> Result<Tensor> {
        self.tensor(crate::randn(shape)?)
    }

    /// Evaluates `outputs` with `feeds` for the graph's inputs (parameters are supplied by the
    /// graph). Returns one host tensor per output.
    pub fn eval(
        &self,
        outputs: &[&Tensor],
        feeds: &[(&str, &HostTensor)],
    ) -> Result<Vec<HostTensor>> {
        for t in outputs {
            if !t.graph().same_as(self) {
                return Err(Error::api(
                    "eval",
                    format!("{} belongs to another graph", t.id()),
                ));
            }
        }
        let ids: Vec<NodeId> = outputs.iter().map(|t| t.id()).collect();
        self.executable_for(&ids)?.run(feeds)
    }

    /// Number of nodes built so far.
    pub fn node_count(&self) -> usize {
        self.state().ir.len()
    }
}

fn float_like(t: &Tensor) -> Result<DType> {
    if t.dtype().is_float() {
        Ok(t.dtype())
    } else {
        Err(Error::api(
            "rand_like",
            format!("expects a floating-point tensor, got {}", t.dtype()),
        ))
    }
}
