//! Running compiled graphs: [`Executable`], [`compile`], [`Graph::eval`] and the `Tensor`
//! methods that evaluate (`to_host`, `item`, printing).
//!
//! An executable pairs a graph handle with a [`Program`]: the program says which nodes to
//! compute (and holds the backend code), the graph supplies the parameter values and bound feeds
//! at each run and receives the new parameter values of a training step. Programs live in the
//! graph's [`crate::compile::CompileState`]; this module sits above both the graph and the
//! compiler, which is why evaluation lives here and not in `graph.rs` or `tensor.rs`.

use crate::compile::{from_codegen, CompileOptions, Compiled, Program, Updates};
use crate::detached::{copy_outputs, DetachedExecutable};
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{HostTensor, NodeId};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// A compiled graph: runs `outputs` of the graph it came from, reading the graph's current
/// parameter values and bound inputs, plus the feeds given to [`Executable::run`]. A training
/// step's executable also writes new values into some of the graph's parameters.
pub struct Executable {
    graph: Graph,
    /// Shared with the graph's cache: every evaluation of the same outputs runs this program.
    program: Rc<Program>,
}

impl Executable {
    /// Pairs `graph` with `program`, keeping the nodes the program computes alive in the graph
    /// for as long as the executable lives (the interpreter evaluates them at each run).
    fn new(graph: Graph, program: Rc<Program>) -> Executable {
        for id in program_nodes(&program) {
            graph.pin(id);
        }
        Executable { graph, program }
    }

    /// Runs once: `feeds` name the graph's inputs (they override values bound with
    /// [`Graph::feed`]); parameters come from the graph. A training step's executable then
    /// stores the new parameter values — on a compiled device by writing them into the
    /// parameters' own memory, with no copy; after a failed run every parameter is unchanged.
    pub fn run(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        self.check_feeds(feeds)?;
        match self.program.backend() {
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
        match self.program.backend() {
            Some(p) => self.run_compiled(p, feeds, Some(outputs)).map(|_| ()),
            None => copy_outputs(self.run_interpreted(feeds)?, outputs),
        }
    }

    /// A thread-safe copy of this executable for serving: `Send + Sync`, run with `&self`
    /// from many threads at once. It shares the compiled code (no recompile) and copies the
    /// values of the parameters and bound inputs the program reads, as they are now; later
    /// changes to the graph do not reach it. See [`DetachedExecutable`].
    ///
    /// # Errors
    /// `Error::Api` (`detach`) for a training step's executable (one that updates
    /// parameters): its parameters belong to the graph.
    pub fn detach(&self) -> Result<DetachedExecutable> {
        DetachedExecutable::new(&self.graph, &self.program)
    }

    /// Parameters are not feeds: they come from the graph.
    fn check_feeds(&self, feeds: &[(&str, &HostTensor)]) -> Result<()> {
        let st = self.graph.state();
        for (name, _) in feeds {
            if st.is_parameter(name) {
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
        let names = self.program.updates().iter().map(|(name, _)| name.as_str());
        let mut taken = self.graph.state_mut().take_parameters(names)?;
        let ran = {
            let st = self.graph.state();
            let lookup = |name: &str| -> Option<&HostTensor> {
                feeds
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v)
                    .or_else(|| st.value_of(name))
            };
            let mut params: Vec<&mut HostTensor> = taken.iter_mut().map(|(_, v)| v).collect();
            match outputs {
                Some(outs) => p.run_into(&lookup, &mut params, outs).map(|()| None),
                None => p.run_updating(&lookup, &mut params).map(Some),
            }
        };
        self.graph.state_mut().put_back_parameters(taken);
        ran.map_err(from_codegen)
    }

    /// The interpreter: evaluates the outputs and the new parameter values, then stores those.
    fn run_interpreted(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        let outputs = self.program.outputs();
        let updates = self.program.updates();
        let mut values = {
            let st = self.graph.state();
            let all: HashMap<String, HostTensor> = st
                .named_values()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(feeds.iter().map(|(k, v)| ((*k).to_string(), (*v).clone())))
                .collect();
            let mut ids = outputs.to_vec();
            ids.extend(updates.iter().map(|(_, v)| *v));
            kiln_ir::interp::evaluate(st.ir(), &ids, &all)?
        };
        let updated = values.split_off(outputs.len());
        for ((name, _), value) in updates.iter().zip(updated) {
            self.graph.set_parameter(name, value)?;
        }
        Ok(values)
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
    let graph = first.graph();
    // Every node still needed is held by a handle here (the outputs by `outputs`).
    graph.maybe_forget();
    let program = Program::compile(graph.state().ir(), &ids, &[], options)?;
    Ok(Executable::new(graph.clone(), Rc::new(program)))
}

/// The nodes a program computes: its outputs and its parameters' new values.
fn program_nodes(program: &Program) -> impl Iterator<Item = NodeId> + '_ {
    let updates = program.updates().iter().map(|(_, id)| *id);
    program.outputs().iter().copied().chain(updates)
}

impl Drop for Executable {
    fn drop(&mut self) {
        for id in program_nodes(&self.program) {
            self.graph.unpin(id);
        }
    }
}

impl Graph {
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
        // Every node still needed is held by a handle here (the outputs by `outputs`).
        self.maybe_forget();
        let ids: Vec<NodeId> = outputs.iter().map(|t| t.id()).collect();
        self.executable_for(&ids)?.run(feeds)
    }

    /// The executable for `ids` under this graph's options, compiled once per graph.
    pub(crate) fn executable_for(&self, ids: &[NodeId]) -> Result<Executable> {
        self.step_executable_for(ids, &[])
    }

    /// The executable for `ids` that also applies `updates` to the parameters (a training
    /// step), compiled once per graph while the graph's bounded program cache keeps it (see
    /// [`Graph::cache_stats`]).
    pub(crate) fn step_executable_for(
        &self,
        ids: &[NodeId],
        updates: &Updates,
    ) -> Result<Executable> {
        let options = self.compile_options();
        let cached = self
            .state_mut()
            .compile_state_mut()
            .cached(ids, updates, &options);
        let program = match cached {
            Some(program) => program,
            None => {
                let program = Rc::new(Program::compile(self.state().ir(), ids, updates, &options)?);
                self.state_mut().compile_state_mut().remember(
                    ids,
                    updates,
                    &options,
                    program.clone(),
                )?;
                program
            }
        };
        Ok(Executable::new(self.clone(), program))
    }
}

impl Tensor {
    /// Evaluates this tensor (the graph's parameters are used; inputs cannot be fed here, use
    /// [`Graph::eval`] for graphs with inputs).
    pub fn to_host(&self) -> Result<HostTensor> {
        let mut out = self.graph().eval(&[self], &[])?;
        out.pop()
            .ok_or_else(|| Error::api("to_host", "evaluation returned no value"))
    }

    /// Evaluates a one-element tensor to a number (`x.item()`).
    pub fn item(&self) -> Result<f64> {
        Ok(self.to_host()?.item()?)
    }

    /// Evaluates to a `Vec<f32>` (casting from any dtype).
    pub fn to_vec_f32(&self) -> Result<Vec<f32>> {
        Ok(self
            .to_host()?
            .to_f64_vec()
            .into_iter()
            .map(|v| v as f32)
            .collect())
    }

    /// Evaluates to a `Vec<f64>` (casting from any dtype).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        Ok(self.to_host()?.to_f64_vec())
    }
}

impl fmt::Display for Tensor {
    /// Evaluates the tensor and prints it as PyTorch does; if evaluation fails, prints the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_host() {
            Ok(v) => write!(f, "{v}"),
            Err(e) => write!(
                f,
                "tensor(<{} {}{}: {e}>)",
                self.id(),
                self.dtype(),
                self.shape()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Graph};

    #[test]
    /// Training steps cannot be detached (their parameters belong to the graph).
    fn training_steps_are_refused() -> crate::Result<()> {
        let g = Graph::new();
        let w = g.parameter("w", [1.0f32, 2.0])?;
        let next = (&w * 0.5)?;
        let loss = w.sum_all()?;
        let exe = g.step_executable_for(&[loss.id()], &[("w".to_string(), next.id())])?;
        match exe.detach() {
            Err(Error::Api { op: "detach", msg }) => assert!(msg.contains("training step")),
            Err(other) => panic!("expected a detach error, got {other}"),
            Ok(_) => panic!("expected a detach error, got a detached executable"),
        }
        Ok(())
    }
}
