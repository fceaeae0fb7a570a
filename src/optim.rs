//! Optimisers as graph updates. An optimiser appends, for each parameter, the subgraph that
//! computes its new value (and the new values of its state: momentum buffers, Adam's moments
//! and step count), so that forward + backward + update is one program: [`TrainStep`]. The
//! learning rate is an input of that program, so schedules do not rebuild anything.
//!
//! The PyTorch idiom `optimizer.zero_grad(); loss.backward(); optimizer.step()` also works:
//! [`Optimizer::step`] applies the same update graph to the gradients accumulated by `backward`.

use crate::error::check_same_type;
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor};

/// A parameter (or state buffer) name and the node computing its next value.
pub type Update = (String, Tensor);

/// An optimisation algorithm expressed as a graph update.
pub trait Optimizer {
    /// The parameters this optimiser updates, with their graph names.
    fn params(&self) -> &[(String, Tensor)];

    /// Appends the update: given each parameter's gradient node (same order as
    /// [`Optimizer::params`]) and a scalar learning-rate node, returns the new value of every
    /// parameter and state buffer. State buffers are created in the graph on first use.
    fn build_update(&mut self, grads: &[Tensor], lr: &Tensor) -> Result<Vec<Update>>;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Changes the learning rate (takes effect at the next step, nothing is rebuilt).
    fn set_lr(&mut self, lr: f64);

    /// Internal: the cached eager update program.
    #[doc(hidden)]
    fn eager_cache(&mut self) -> &mut Option<EagerUpdate>;

    /// PyTorch's `optimizer.step()`: updates every parameter that has an accumulated gradient
    /// (`.grad()`), using the same update graph as [`TrainStep`].
    fn step(&mut self) -> Result<()> {
        let params = self.params().to_vec();
        let first = params
            .first()
            .ok_or_else(|| Error::api("step", "the optimizer has no parameters"))?;
        let g = first.1.graph().clone();
        if self.eager_cache().is_none() {
            // Fresh names, so that several optimisers (or a TrainStep) can share one graph.
            let mut grads = Vec::with_capacity(params.len());
            for (name, p) in &params {
                let input = g.fresh_input_name(&format!("{name}.grad"));
                grads.push((input.clone(), g.input(&input, p.dtype(), &p.dims())?));
            }
            let lr_name = g.fresh_input_name("optimizer.lr");
            let lr = g.input(&lr_name, params[0].1.dtype(), &[])?;
            let grad_tensors: Vec<Tensor> = grads.iter().map(|(_, t)| t.clone()).collect();
            let updates = self.build_update(&grad_tensors, &lr)?;
            *self.eager_cache() = Some(EagerUpdate {
                grads,
                lr_name,
                bindings: bindings(&updates),
                updates,
            });
        }
        let lr_value = HostTensor::scalar(params[0].1.dtype(), self.lr());
        let cache = self
            .eager_cache()
            .as_ref()
            .ok_or_else(|| Error::api("step", "update program missing"))?;
        let mut feeds: Vec<(String, HostTensor)> = vec![(cache.lr_name.clone(), lr_value)];
        let mut active = Vec::new();
        for ((name, p), (input, gin)) in params.iter().zip(&cache.grads) {
            match p.grad() {
                Some(gv) => {
                    feeds.push((input.clone(), gv));
                    active.push(name.clone());
                }
                None => feeds.push((
                    input.clone(),
                    HostTensor::full(gin.dtype(), gin.shape(), 0.0),
                )),
            }
        }
        let refs: Vec<(&str, &HostTensor)> = feeds.iter().map(|(n, v)| (n.as_str(), v)).collect();
        if active.len() == params.len() {
            // Every parameter has a gradient: one program updates them all in place.
            g.step_executable_for(&[], &cache.bindings)?.run(&refs)?;
            return Ok(());
        }
        let outs: Vec<&Tensor> = cache.updates.iter().map(|(_, t)| t).collect();
        let values = g.eval(&outs, &refs)?;
        // Parameters without a gradient are left alone, with their state, as in PyTorch.
        for ((name, _), value) in cache.updates.iter().zip(values) {
            if active
                .iter()
                .any(|a| name == a || name.starts_with(&format!("{a}.")))
            {
                g.set_parameter(name, value)?;
            }
        }
        Ok(())
    }

    /// Forgets the accumulated gradients of this optimiser's parameters.
    fn zero_grad(&self) {
        for (_, p) in self.params() {
            p.zero_grad();
        }
    }
}

/// The update program [`Optimizer::step`] builds once and reuses.
#[doc(hidden)]
pub struct EagerUpdate {
    /// Per parameter: the input its gradient is fed through.
    grads: Vec<(String, Tensor)>,
    lr_name: String,
    updates: Vec<Update>,
    /// `updates` as (parameter name, node), the form the compiler takes.
    bindings: Vec<(String, kiln_ir::NodeId)>,
}

/// Updates as (parameter name, node of the new value), the form the compiler takes.
fn bindings(updates: &[Update]) -> Vec<(String, kiln_ir::NodeId)> {
    updates
        .iter()
        .map(|(name, t)| (name.clone(), t.id()))
        .collect()
}

fn graph_of(params: &[(String, Tensor)]) -> Result<Graph> {
    params
        .first()
        .map(|(_, p)| p.graph().clone())
        .ok_or_else(|| Error::api("optimizer", "expected at least one parameter"))
}

/// Stochastic gradient descent with optional momentum and weight decay (`torch.optim.SGD`):
/// `g += wd p; buf = momentum buf + g; p -= lr buf` (`buf` starts at zero, which equals
/// PyTorch's first-step `buf = g` when dampening is 0).
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    lr: f64,
    /// Momentum factor (0 disables momentum).
    pub momentum: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    eager: Option<EagerUpdate>,
}

impl Sgd {
    /// Plain SGD over `params` (e.g. `model.named_parameters()`).
    pub fn new(params: Vec<(String, Tensor)>, lr: f64) -> Sgd {
        Sgd {
            params,
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            eager: None,
        }
    }

    /// Sets the momentum factor (builder style).
    pub fn with_momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
        self
    }

    /// Sets the weight decay (builder style).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    fn build_update(&mut self, grads: &[Tensor], lr: &Tensor) -> Result<Vec<Update>> {
        check_grads(&self.params, grads)?;
        let g = graph_of(&self.params)?;
        let mut updates = Vec::new();
        for ((name, p), grad) in self.params.iter().zip(grads) {
            let mut d = grad.clone();
            if self.weight_decay != 0.0 {
                d = d.add(&p.mul(self.weight_decay)?)?;
            }
            if self.momentum != 0.0 {
                let buf_name = format!("{name}.momentum_buffer");
                let buf = state(&g, &buf_name, p)?;
                d = buf.mul(self.momentum)?.add(&d)?;
                updates.push((buf_name, d.clone()));
            }
            updates.push((name.clone(), p.sub(&lr.mul(&d)?)?));
        }
        Ok(updates)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn eager_cache(&mut self) -> &mut Option<EagerUpdate> {
        &mut self.eager
    }
}

/// Adam (`torch.optim.Adam`, defaults betas = (0.9, 0.999), eps = 1e-8, no weight decay), with
/// PyTorch's bias correction:
/// `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; t += 1;`
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
pub struct Adam {
    params: Vec<(String, Tensor)>,
    lr: f64,
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator for stability.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    eager: Option<EagerUpdate>,
}

impl Adam {
    /// Adam over `params` with PyTorch's defaults.
    pub fn new(params: Vec<(String, Tensor)>, lr: f64) -> Adam {
        Adam {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            eager: None,
        }
    }
}

impl Optimizer for Adam {
    fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    fn build_update(&mut self, grads: &[Tensor], lr: &Tensor) -> Result<Vec<Update>> {
        check_grads(&self.params, grads)?;
        let g = graph_of(&self.params)?;
        let (b1, b2) = self.betas;
        let mut updates = Vec::new();
        for ((name, p), grad) in self.params.iter().zip(grads) {
            let mut d = grad.clone();
            if self.weight_decay != 0.0 {
                d = d.add(&p.mul(self.weight_decay)?)?;
            }
            let (m_name, v_name, t_name) = (
                format!("{name}.exp_avg"),
                format!("{name}.exp_avg_sq"),
                format!("{name}.step"),
            );
            let m = state(&g, &m_name, p)?;
            let v = state(&g, &v_name, p)?;
            let t = g.buffer(&t_name, HostTensor::scalar(p.dtype(), 0.0))?;
            let m_new = m.mul(b1)?.add(&d.mul(1.0 - b1)?)?;
            let v_new = v.mul(b2)?.add(&d.square()?.mul(1.0 - b2)?)?;
            let t_new = t.add(1.0)?;
            let bias1 = (1.0 - t.scalar(b1, p.dtype())?.pow(&t_new)?)?;
            let bias2 = (1.0 - t.scalar(b2, p.dtype())?.pow(&t_new)?)?;
            let step_size = lr.div(&bias1)?;
            let denom = v_new.sqrt()?.div(&bias2.sqrt()?)?.add(self.eps)?;
            let p_new = p.sub(&step_size.mul(&m_new.div(&denom)?)?)?;
            updates.push((m_name, m_new));
            updates.push((v_name, v_new));
            updates.push((t_name, t_new));
            updates.push((name.clone(), p_new));
        }
        Ok(updates)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn eager_cache(&mut self) -> &mut Option<EagerUpdate> {
        &mut self.eager
    }
}

/// A zero-initialised state buffer shaped like `p`, created once.
fn state(g: &Graph, name: &str, p: &Tensor) -> Result<Tensor> {
    if let Some(t) = g.parameter_tensor(name) {
        return Ok(t);
    }
    g.buffer(name, HostTensor::full(p.dtype(), p.shape(), 0.0))
}

fn check_grads(params: &[(String, Tensor)], grads: &[Tensor]) -> Result<()> {
    if params.len() != grads.len() {
        return Err(Error::api(
            "optimizer",
            format!("{} parameters but {} gradients", params.len(), grads.len()),
        ));
    }
    for ((name, p), gr) in params.iter().zip(grads) {
        check_same_type(
            "optimizer",
            (gr.dtype(), &gr.shape()),
            (p.dtype(), &p.shape()),
            |gr, p| format!("gradient of {name} is {gr}, the parameter is {p}"),
        )?;
    }
    Ok(())
}

/// One training step as one program: forward, backward and the optimiser's update. Each
/// [`TrainStep::run`] evaluates the loss and the new parameter and state values and writes them
/// back into the graph's parameter store.
pub struct TrainStep {
    graph: Graph,
    loss: Tensor,
    /// The optimiser's updates as (parameter name, node of its next value).
    bindings: Vec<(String, kiln_ir::NodeId)>,
    /// The same updates as tensors: they keep the update nodes alive in the graph until the
    /// step is first compiled (then its executable keeps them).
    _updates: Vec<Update>,
    lr_input: String,
    lr: f64,
    lr_dtype: DType,
    /// The executable of the last run and the options it was compiled under (a loop of steps
    /// skips even the graph's cache lookup).
    compiled: std::cell::RefCell<Option<(crate::CompileOptions, std::rc::Rc<crate::Executable>)>>,
}

impl TrainStep {
    /// Builds the step for minimising the scalar `loss` with `optimizer` (whose parameters the
    /// loss must depend on).
    pub fn new(loss: &Tensor, optimizer: &mut dyn Optimizer) -> Result<TrainStep> {
        let params: Vec<Tensor> = optimizer.params().iter().map(|(_, t)| t.clone()).collect();
        if params.is_empty() {
            return Err(Error::api("TrainStep", "the optimizer has no parameters"));
        }
        let refs: Vec<&Tensor> = params.iter().collect();
        let grads = crate::backward::grad(&[loss], &[None], &refs)?;
        let g = loss.graph().clone();
        let lr_input = g.fresh_input_name("lr");
        let lr_dtype = params[0].dtype();
        let lr = g.input(&lr_input, lr_dtype, &[])?;
        let updates = optimizer.build_update(&grads, &lr)?;
        let bindings = bindings(&updates);
        Ok(TrainStep {
            graph: g,
            loss: loss.clone(),
            bindings,
            _updates: updates,
            lr_input,
            lr: optimizer.lr(),
            lr_dtype,
            compiled: std::cell::RefCell::new(None),
        })
    }

    /// Changes the learning rate of later steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Runs one step on `feeds` (the graph's inputs, e.g. a batch) and returns the loss before
    /// the update. The new parameter and state values are written into their tensors in place
    /// (no copies on a compiled device); a step that fails leaves them unchanged.
    pub fn run(&self, feeds: &[(&str, &HostTensor)]) -> Result<f64> {
        let lr = HostTensor::scalar(self.lr_dtype, self.lr);
        let mut all: Vec<(&str, &HostTensor)> = feeds.to_vec();
        all.push((&self.lr_input, &lr));
        let options = self.graph.compile_options();
        let cached = match &*self.compiled.borrow() {
            Some((o, exe)) if *o == options => Some(exe.clone()),
            _ => None,
        };
        let exe = match cached {
            Some(exe) => exe,
            None => {
                let exe = std::rc::Rc::new(
                    self.graph
                        .step_executable_for(&[self.loss.id()], &self.bindings)?,
                );
                *self.compiled.borrow_mut() = Some((options, exe.clone()));
                exe
            }
        };
        let loss = exe
            .run(&all)?
            .first()
            .ok_or_else(|| Error::api("TrainStep", "no loss value"))?
            .item()?;
        Ok(loss)
    }
}
