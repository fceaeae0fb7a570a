//! [`DetachedExecutable`]: a compiled program cut loose from its [`Graph`], to be sent to other
//! threads and run from many at once — the serving case (compile once, answer requests from a
//! pool of threads).
//!
//! Guarantees: a detached executable is `Send + Sync` and runs with `&self`. It shares the
//! backend code with the graph's executable (an `Arc`, never a recompile); what it reads from
//! the graph — the values of the parameters and bound inputs its program reads — is copied
//! once, when it is detached, so later changes to the graph do not reach it. Concurrent runs
//! share that copy and the code; each run works in memory of its own (the backend's free list
//! of per-run memories). Programs that update parameters (training steps) are refused: their
//! parameters belong to the graph.

use crate::compile::{from_codegen, Compiled, Program};
use crate::error::check_same_type;
use crate::graph::Graph;
use crate::{Error, Result};
use kiln_ir::{HostTensor, Op};
use std::collections::{HashMap, HashSet};

/// A compiled program that owns everything it reads: `Send + Sync`, run with `&self` from any
/// number of threads at once. Made by [`crate::Executable::detach`].
///
/// It runs the outputs the executable was compiled for, with the parameter values and bound
/// inputs (see [`Graph::feed`]) as they were when it was detached; `feeds` name the graph's
/// inputs and override bound values, exactly as in [`crate::Executable::run`].
///
/// ```
/// use kiln::{compile, CompileOptions, DType, Graph, HostTensor};
/// # fn main() -> kiln::Result<()> {
/// let g = Graph::new();
/// let x = g.input("x", DType::F32, &[3])?;
/// let w = g.parameter("w", [1.0f32, 2.0, 3.0])?;
/// let y = (&x * &w)?.sum_all()?;
/// let served = std::sync::Arc::new(compile(&[&y], &CompileOptions::default())?.detach()?);
/// let workers: Vec<_> = (0..4)
///     .map(|i| {
///         let served = served.clone();
///         std::thread::spawn(move || {
///             let x = HostTensor::from(vec![i as f32; 3]);
///             served.run(&[("x", &x)])
///         })
///     })
///     .collect();
/// for (i, w) in workers.into_iter().enumerate() {
///     let out = w.join().expect("no panic")?;
///     assert_eq!(out[0].item()?, 6.0 * i as f64);
/// }
/// # Ok(()) }
/// ```
pub struct DetachedExecutable {
    runner: Runner,
    /// The graph's parameter names when detached: a feed naming one is an error, as in
    /// [`crate::Executable::run`].
    parameters: HashSet<String>,
    /// The values of the parameters and bound inputs the program reads, copied when detached.
    values: HashMap<String, HostTensor>,
}

/// What runs a detached program.
enum Runner {
    /// The backend's code, shared with the graph's caches.
    Compiled(Compiled),
    /// The interpreter device: a copy of the graph pruned to the needed nodes, which keep
    /// their ids (so errors name the nodes `Executable::run` names), with the program's outputs
    /// as its outputs; evaluated at each run.
    Interpreted(kiln_ir::Graph),
}

// The point of the type; a field that is not thread-safe must fail to build here, not in a
// user's spawn.
const _: fn() = || {
    fn thread_safe<T: Send + Sync>() {}
    thread_safe::<DetachedExecutable>();
};

impl DetachedExecutable {
    /// Copies out of `graph` what `program` reads.
    ///
    /// # Errors
    /// `Error::Api` (`detach`) when `program` updates parameters (a training step).
    pub(crate) fn new(graph: &Graph, program: &Program) -> Result<DetachedExecutable> {
        if let Some((name, _)) = program.updates().first() {
            return Err(Error::api(
                "detach",
                format!(
                    "this program is a training step (it updates parameter \"{name}\"); only \
                     programs that leave the parameters alone can be detached — run training \
                     steps on the graph"
                ),
            ));
        }
        let st = graph.state();
        let ir = st.ir();
        let mut parameters = HashSet::new();
        for id in ir.parameters() {
            if let Op::Parameter { name } = &ir.node(id)?.op {
                parameters.insert(name.clone());
            }
        }
        let mut values = HashMap::new();
        for id in ir.ancestors(program.outputs()) {
            if let Op::Input { name } | Op::Parameter { name } = &ir.node(id)?.op {
                if let Some(v) = st.value_of(name) {
                    values.insert(name.clone(), v.clone());
                }
            }
        }
        let runner = match program.backend() {
            Some(code) => Runner::Compiled(code.clone()),
            None => Runner::Interpreted(needed_subgraph(ir, program.outputs())?),
        };
        Ok(DetachedExecutable {
            runner,
            parameters,
            values,
        })
    }

    /// Runs once and returns one host tensor per output. `feeds` give the graph's inputs
    /// (overriding values bound when detached), checked against the inputs' dtypes and shapes.
    ///
    /// # Errors
    /// A feed naming a parameter (`Error::Api`, `run`); a missing or mismatched feed
    /// (`Error::Ir`); a run-time failure of the backend (`Error::Codegen`).
    pub fn run(&self, feeds: &[(&str, &HostTensor)]) -> Result<Vec<HostTensor>> {
        self.check_feeds(feeds)?;
        match &self.runner {
            Runner::Compiled(code) => code.run(&self.lookup(feeds)).map_err(from_codegen),
            Runner::Interpreted(ir) => self.interpret(ir, feeds),
        }
    }

    /// Like [`DetachedExecutable::run`], but writes the outputs into `outputs` (one tensor of
    /// each output's dtype and shape, e.g. those an earlier run returned), with no allocation
    /// on a compiled device. Each thread passes its own `outputs`.
    ///
    /// # Errors
    /// Those of [`DetachedExecutable::run`], and a tensor in `outputs` of the wrong count,
    /// dtype or shape; after an error the contents of `outputs` are unspecified.
    pub fn run_into(
        &self,
        feeds: &[(&str, &HostTensor)],
        outputs: &mut [HostTensor],
    ) -> Result<()> {
        self.check_feeds(feeds)?;
        match &self.runner {
            Runner::Compiled(code) => code
                .run_into(&self.lookup(feeds), &mut [], outputs)
                .map_err(from_codegen),
            Runner::Interpreted(ir) => copy_outputs(self.interpret(ir, feeds)?, outputs),
        }
    }

    /// Parameters are not feeds, here as on the graph.
    fn check_feeds(&self, feeds: &[(&str, &HostTensor)]) -> Result<()> {
        for (name, _) in feeds {
            if self.parameters.contains(*name) {
                return Err(Error::api(
                    "run",
                    format!(
                        "\"{name}\" is a parameter; a detached executable keeps the value it \
                         had when detached"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The value a run reads for `name`: the feed, else the copy taken when detached.
    fn lookup<'a>(
        &'a self,
        feeds: &'a [(&str, &HostTensor)],
    ) -> impl Fn(&str) -> Option<&'a HostTensor> + 'a {
        move |name: &str| {
            feeds
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .or_else(|| self.values.get(name))
        }
    }

    fn interpret(
        &self,
        ir: &kiln_ir::Graph,
        feeds: &[(&str, &HostTensor)],
    ) -> Result<Vec<HostTensor>> {
        let mut all = self.values.clone();
        all.extend(feeds.iter().map(|(k, v)| ((*k).to_string(), (*v).clone())));
        Ok(kiln_ir::interp::evaluate_outputs(ir, &all)?)
    }
}

/// `ir` without the nodes `outputs` do not need, ids unchanged, `outputs` as its outputs.
fn needed_subgraph(ir: &kiln_ir::Graph, outputs: &[kiln_ir::NodeId]) -> Result<kiln_ir::Graph> {
    let keep = ir.ancestors(outputs);
    let mut copy = ir.clone();
    copy.set_outputs(outputs)?;
    // Users before their operands: a node's users are unneeded when it is (the needed set is
    // closed under operands), so each is unused when its turn comes.
    for id in ir.topo_order().into_iter().rev() {
        if !keep.contains(&id) {
            copy.remove(id)?;
        }
    }
    Ok(copy)
}

/// Moves interpreted `values` into `outputs`, which must match them in count, dtype and shape
/// (the checks a compiled device makes in `run_into`).
pub(crate) fn copy_outputs(values: Vec<HostTensor>, outputs: &mut [HostTensor]) -> Result<()> {
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
        check_same_type(
            "run_into",
            (v.dtype(), v.shape()),
            (o.dtype(), o.shape()),
            |v, o| format!("output {i} is {v}, but the tensor given to hold it is {o}"),
        )?;
        *o = v;
    }
    Ok(())
}
