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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// The device that runs the program.
    pub device: Device,
    /// Fusion off: one kernel per primitive and one buffer per value, run op by op — PyTorch
    /// eager's execution model, the baseline the benchmarks compare against.
    pub eager: bool,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            device: Device::default(),
            eager: false,
        }
    }
}

/// A compiled backend program, shared by every [`Executable`] that has the same structure.
pub(crate) type Compiled = Rc<RefCell<Box<dyn kiln_codegen::Executable>>>;

thread_local! {
    /// Structural cache: (hash of the optimised graph text, options) -> compiled program.
    static CACHE: RefCell<HashMap<(u64, bool, Device), Compiled>> = RefCell::new(HashMap::new());
}

/// Forgets every compiled program of this thread's structural cache (for cold-compile
/// measurements); executables already handed out keep working.
pub fn clear_compile_cache() {
    CACHE.with(|c| c.borrow_mut().clear());
}

/// A compiled graph: runs `outputs` of the graph it came from, reading the graph's current
/// parameter values and bound inputs, plus the feeds given to [`Executable::run`].
pub struct Executable {
    graph: Graph,
    outputs: Vec<NodeId>,
    program: Option<Compiled>,
}

impl Executable {
    /// Runs once: `feeds` name the graph's inputs (they override values bound with
    /// [`Graph::feed`]); parameters come from the graph.
    pub fn run(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        let st = self.graph.state();
        for (name, _) in feeds {
            if st.params.contains_key(*name) {
                return Err(Error::api(
                    "run",
                    format!("\"{name}\" is a parameter; set it with set_parameter, not a feed"),
                ));
            }
        }
        let lookup = |name: &str| -> Option<&HostTensor> {
            feeds
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .or_else(|| st.bound.get(name))
                .or_else(|| st.params.get(name))
        };
        match &self.program {
            Some(p) => Ok(p.borrow_mut().run(&lookup).map_err(from_codegen)?),
            None => {
                let all: HashMap<String, HostTensor> = st
                    .params
                    .iter()
                    .chain(st.bound.iter())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain(feeds.iter().map(|(k, v)| ((*k).to_string(), (*v).clone())))
                    .collect();
                Ok(kiln_ir::interp::evaluate(&st.ir, &self.outputs, &all)?)
            }
        }
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
    compile_ids(first.graph(), &ids, options)
}

pub(crate) fn compile_ids(
    graph: &Graph,
    ids: &[NodeId],
    options: &CompileOptions,
) -> Result<Executable> {
    let program = match options.device {
        Device::Interpreter => None,
        Device::Cpu => Some(compile_cpu(graph, ids, options.eager)?),
    };
    Ok(Executable {
        graph: graph.clone(),
        outputs: ids.to_vec(),
        program,
    })
}

fn compile_cpu(graph: &Graph, ids: &[NodeId], eager: bool) -> Result<Compiled> {
    let mut ir = graph.state().ir.clone();
    ir.set_outputs(ids)?;
    kiln_ir::passes::optimize(&mut ir)?;
    let text = ir.to_text();
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    let key = (h.finish(), eager, Device::Cpu);
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let lower = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    let program = kiln_ir::kernel::lower(&ir, ir.outputs(), &lower)?;
    let exe = CpuBackend::default()
        .compile(&program)
        .map_err(from_codegen)?;
    let compiled: Compiled = Rc::new(RefCell::new(exe));
    CACHE.with(|c| c.borrow_mut().insert(key, compiled.clone()));
    Ok(compiled)
}

impl Graph {
    /// The executable for `ids` under this graph's options, compiled once per graph.
    pub(crate) fn executable_for(&self, ids: &[NodeId]) -> Result<Rc<Executable>> {
        let options = self.compile_options();
        let key = (ids.to_vec(), options.eager, options.device);
        if let Some(e) = self.state().executables.get(&key) {
            return Ok(e.clone());
        }
        let exe = Rc::new(compile_ids(self, ids, &options)?);
        self.state_mut().executables.insert(key, exe.clone());
        Ok(exe)
    }
}
