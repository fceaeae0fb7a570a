//! Compiling a graph: `compile(outputs, options) -> Executable`. The pipeline is the design's:
//! the needed subgraph is copied out of the user's graph, optimised (constant folding,
//! simplification, CSE, DCE), lowered to kernel IR (fused, or one kernel per primitive in
//! eager mode), memory-planned and compiled by the device's backend.
//!
//! Compiled programs are cached twice: per graph by output ids (a graph only grows, so the
//! subgraph behind given ids never changes — this is what makes `TrainStep::run` in a loop cost
//! nothing but the run itself), and per thread by a structural hash of the optimised graph's
//! text, so rebuilding the same graph does not recompile.

use crate::graph::{Device, Graph};
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_codegen::cpu::CpuBackend;
use kiln_codegen::Backend;
use kiln_ir::kernel::LowerOptions;
use kiln_ir::{HostTensor, NodeId};
use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// How to compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// The device that runs the program.
    pub device: Device,
    /// Fusion off: one kernel per primitive and one buffer per value, run op by op — PyTorch
    /// eager's execution model, the baseline the benchmarks compare against.
    pub eager: bool,
}

/// A compiled backend program, shared by every [`Executable`] that has the same structure.
pub(crate) type Compiled = Rc<RefCell<Box<dyn kiln_codegen::Executable>>>;

thread_local! {
    /// Structural cache: (hash of the graph text — as built and as optimised — and the update
    /// bindings, options) -> compiled program.
    static CACHE: RefCell<HashMap<(u64, bool, Device), Compiled>> = RefCell::new(HashMap::new());
}

/// A training step's parameter updates: (parameter name, node computing its next value).
pub(crate) type Updates = [(String, NodeId)];

thread_local! {
    /// Programs compiled by a backend on this thread (cache misses), for [`compiled_programs`].
    static COMPILED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many programs a backend has compiled on this thread so far: compiling or evaluating a
/// graph that is structurally the same as an earlier one (rebuilt from scratch included) does
/// not add to it.
pub fn compiled_programs() -> usize {
    COMPILED.with(|c| c.get())
}

/// Forgets every compiled program of this thread's structural cache (for cold-compile
/// measurements); executables already handed out keep working.
pub fn clear_compile_cache() {
    CACHE.with(|c| c.borrow_mut().clear());
}

/// A compiled graph: runs `outputs` of the graph it came from, reading the graph's current
/// parameter values and bound inputs, plus the feeds given to [`Executable::run`]. A training
/// step's executable also writes new values into some of the graph's parameters.
pub struct Executable {
    graph: Graph,
    outputs: Vec<NodeId>,
    /// The parameters each run updates, with the nodes of their new values.
    updates: Vec<(String, NodeId)>,
    program: Option<Compiled>,
}

impl Executable {
    /// Runs once: `feeds` name the graph's inputs (they override values bound with
    /// [`Graph::feed`]); parameters come from the graph. A training step's executable then
    /// stores the new parameter values — on a compiled device by writing them into the
    /// parameters' own memory, with no copy; after a failed run every parameter is unchanged.
    pub fn run(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        self.check_feeds(feeds)?;
        match &self.program {
            Some(p) => self
                .run_compiled(p, feeds, None)
                .map(Option::unwrap_or_default),
            None => self.run_interpreted(feeds),
        }
    }

    /// Like [`Executable::run`], but writes the outputs into `outputs`, tensors of the outputs'
    /// dtypes and shapes (e.g. those a previous run returned): a loop that keeps them runs with
    /// no allocation on a compiled device (PyTorch's `out=`). A tensor of another dtype or
    /// shape is an error; after any error the contents of `outputs` are unspecified.
    pub fn run_into(
        &self,
        feeds: &[(&str, &HostTensor)],
        outputs: &mut [HostTensor],
    ) -> Result<()> {
        self.check_feeds(feeds)?;
        match &self.program {
            Some(p) => self.run_compiled(p, feeds, Some(outputs)).map(|_| ()),
            None => {
                let values = self.run_interpreted(feeds)?;
                if values.len() != outputs.len() {
                    return Err(Error::api(
                        "run_into",
                        format!(
                            "{} outputs, but {} tensors to hold them",
                            values.len(),
                            outputs.len()
                        ),
                    ));
                }
                for (i, (v, o)) in values.into_iter().zip(outputs.iter_mut()).enumerate() {
                    if v.dtype() != o.dtype() || v.shape() != o.shape() {
                        return Err(Error::api(
                            "run_into",
                            format!(
                                "output {i} is {}{}, but the tensor given to hold it is {}{}",
                                v.dtype(),
                                v.shape(),
                                o.dtype(),
                                o.shape()
                            ),
                        ));
                    }
                    *o = v;
                }
                Ok(())
            }
        }
    }

    /// Parameters are not feeds: they come from the graph.
    fn check_feeds(&self, feeds: &[(&str, &HostTensor)]) -> Result<()> {
        let st = self.graph.state();
        for (name, _) in feeds {
            if st.params.contains_key(*name) {
                return Err(Error::api(
                    "run",
                    format!("\"{name}\" is a parameter; set it with set_parameter, not a feed"),
                ));
            }
        }
        Ok(())
    }

    /// Runs the backend program, into `outputs` when given (returning `None`) or into fresh
    /// tensors; the updated parameters are lent to it for the run.
    fn run_compiled(
        &self,
        p: &Compiled,
        feeds: &[(&str, &HostTensor)],
        outputs: Option<&mut [HostTensor]>,
    ) -> Result<Option<Vec<HostTensor>>> {
        let mut taken = self.take_updated()?;
        let ran = {
            let st = self.graph.state();
            let lookup = |name: &str| -> Option<&HostTensor> {
                feeds
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .or_else(|| st.bound.get(name))
                    .or_else(|| st.params.get(name))
            };
            let mut params: Vec<&mut HostTensor> = taken.iter_mut().map(|(_, v)| v).collect();
            let mut exe = p.borrow_mut();
            match outputs {
                Some(outs) => exe.run_into(&lookup, &mut params, outs).map(|()| None),
                None => exe.run_updating(&lookup, &mut params).map(Some),
            }
        };
        self.graph.state_mut().params.extend(taken);
        ran.map_err(from_codegen)
    }

    /// Moves the updated parameters out of the graph's store (they go back after the run).
    fn take_updated(&self) -> Result<Vec<(String, HostTensor)>> {
        let mut st = self.graph.state_mut();
        let mut taken = Vec::with_capacity(self.updates.len());
        for (name, _) in &self.updates {
            match st.params.remove_entry(name) {
                Some(entry) => taken.push(entry),
                None => {
                    st.params.extend(taken);
                    return Err(Error::api("run", format!("no parameter named \"{name}\"")));
                }
            }
        }
        Ok(taken)
    }

    /// The interpreter: evaluates the outputs and the new parameter values, then stores those.
    fn run_interpreted(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        let mut values = {
            let st = self.graph.state();
            let all: HashMap<String, HostTensor> = st
                .params
                .iter()
                .chain(st.bound.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(feeds.iter().map(|(k, v)| ((*k).to_string(), (*v).clone())))
                .collect();
            let mut ids = self.outputs.clone();
            ids.extend(self.updates.iter().map(|(_, v)| *v));
            kiln_ir::interp::evaluate(&st.ir, &ids, &all)?
        };
        let updated = values.split_off(self.outputs.len());
        for ((name, _), value) in self.updates.iter().zip(updated) {
            self.graph.set_parameter(name, value)?;
        }
        Ok(values)
    }
}

/// Backend errors that are really IR errors (feeds, run-time index checks) keep their IR form.
fn from_codegen(e: kiln_codegen::CodegenError) -> Error {
    match e {
        kiln_codegen::CodegenError::Ir(ir) => Error::Ir(ir),
        other => Error::Codegen(other),
    }
}

/// Compiles `outputs` (tensors of one graph) for `options.device`.
pub fn compile(outputs: &[&Tensor], options: &CompileOptions) -> Result<Executable> {
    let first = outputs
        .first()
        .ok_or_else(|| Error::api("compile", "expected at least one output"))?;
    for t in outputs {
        first.check_same_graph(t, "compile")?;
    }
    let ids: Vec<NodeId> = outputs.iter().map(|t| t.id()).collect();
    compile_ids(first.graph(), &ids, &[], options)
}

pub(crate) fn compile_ids(
    graph: &Graph,
    ids: &[NodeId],
    updates: &Updates,
    options: &CompileOptions,
) -> Result<Executable> {
    let program = match options.device {
        Device::Interpreter => None,
        Device::Cpu => Some(compile_cpu(graph, ids, updates, options.eager)?),
    };
    Ok(Executable {
        graph: graph.clone(),
        outputs: ids.to_vec(),
        updates: updates.to_vec(),
        program,
    })
}

fn compile_cpu(graph: &Graph, ids: &[NodeId], updates: &Updates, eager: bool) -> Result<Compiled> {
    let mut ir = graph.state().ir.clone();
    let mut all = ids.to_vec();
    all.extend(updates.iter().map(|(_, v)| *v));
    ir.set_outputs(&all)?;
    // Looked up twice: by the needed subgraph as built (a rebuilt graph hits without running
    // the optimiser), then by the optimised graph (equivalent graphs share a program).
    kiln_ir::passes::dce(&mut ir)?;
    let built_key = structural_key(&ir, updates, eager);
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&built_key).cloned()) {
        return Ok(hit);
    }
    kiln_ir::passes::optimize(&mut ir)?;
    let key = structural_key(&ir, updates, eager);
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        CACHE.with(|c| c.borrow_mut().insert(built_key, hit.clone()));
        return Ok(hit);
    }
    let lower = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    // The optimiser keeps the output list in step with the nodes it rewrites.
    let (outs, values) = ir.outputs().split_at(ids.len());
    let bindings: Vec<(String, NodeId)> = updates
        .iter()
        .zip(values)
        .map(|((name, _), &v)| (name.clone(), v))
        .collect();
    let program = kiln_ir::kernel::lower_step(&ir, outs, &bindings, &lower)?;
    let exe = CpuBackend::default()
        .compile(&program)
        .map_err(from_codegen)?;
    COMPILED.with(|c| c.set(c.get() + 1));
    let compiled: Compiled = Rc::new(RefCell::new(exe));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.insert(key, compiled.clone());
        c.insert(built_key, compiled.clone());
    });
    Ok(compiled)
}

/// The structural cache key of `ir` (its text, outputs included) with these parameter updates.
fn structural_key(ir: &kiln_ir::Graph, updates: &Updates, eager: bool) -> (u64, bool, Device) {
    let mut h = DefaultHasher::new();
    ir.to_text().hash(&mut h);
    for (name, _) in updates {
        name.hash(&mut h);
    }
    (h.finish(), eager, Device::Cpu)
}

impl Graph {
    /// The executable for `ids` under this graph's options, compiled once per graph.
    pub(crate) fn executable_for(&self, ids: &[NodeId]) -> Result<Rc<Executable>> {
        self.step_executable_for(ids, &[])
    }

    /// The executable for `ids` that also applies `updates` to the parameters (a training
    /// step), compiled once per graph.
    pub(crate) fn step_executable_for(
        &self,
        ids: &[NodeId],
        updates: &Updates,
    ) -> Result<Rc<Executable>> {
        let options = self.compile_options();
        let key = (
            ids.to_vec(),
            updates.to_vec(),
            options.eager,
            options.device,
        );
        if let Some(e) = self.state().executables.get(&key) {
            return Ok(e.clone());
        }
        let exe = Rc::new(compile_ids(self, ids, updates, &options)?);
        self.state_mut().executables.insert(key, exe.clone());
        Ok(exe)
    }
}
