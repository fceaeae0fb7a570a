//! The compiler's pipeline as `dump-ir` and the filetests run it: a parsed graph, then autodiff
//! (`grad`), the optimisation passes (`opt`), fusion and lowering to kernels (`fused`,
//! `kernels`) and the memory plan (`plan`), each stage printed in one text form.
//!
//! Both the `dump-ir` binary and the filetest runner (`tests/filetests.rs`) call [`run_stage`]
//! and print [`Staged::text`], so a filetest's expectation is exactly what `dump-ir` prints.
//!
//! Guarantees: the graph stages (`ir`, `grad`, `opt`) print `.kir` text that
//! [`crate::text::parse`] reads back to the same graph; their summary (`; nodes: N`) is a
//! comment. The kernel-level stages print the fusion groups, the kernels or the memory plan,
//! each ending with the summary line of [`crate::kernel::Program`]. Every failure is a
//! [`IrError::Stage`] naming the stage; nothing here panics on a verified graph.

use crate::kernel::{LowerOptions, Program};
use crate::{Graph, IrError, Op};

/// How far down the pipeline to run before printing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The graph as parsed and verified.
    Ir,
    /// After autodiff.
    Grad,
    /// After graph optimisations.
    Opt,
    /// After fusion into kernel groups.
    Fused,
    /// After lowering to kernels.
    Kernels,
    /// After memory planning.
    Plan,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Ir,
        Stage::Grad,
        Stage::Opt,
        Stage::Fused,
        Stage::Kernels,
        Stage::Plan,
    ];

    /// The stage's name on the command line and in filetest headers.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ir => "ir",
            Stage::Grad => "grad",
            Stage::Opt => "opt",
            Stage::Fused => "fused",
            Stage::Kernels => "kernels",
            Stage::Plan => "plan",
        }
    }

    /// The stage called `name`, if any.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// True for the stages whose result is a graph (printed as `.kir` text that reads back);
    /// false for the kernel-level stages.
    pub fn is_graph(self) -> bool {
        match self {
            Stage::Ir | Stage::Grad | Stage::Opt => true,
            Stage::Fused | Stage::Kernels | Stage::Plan => false,
        }
    }
}

/// What the stages after `ir` are asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageOptions {
    /// Names of inputs or parameters to differentiate the outputs with respect to (`grad` and
    /// later); empty: no autodiff.
    pub wrt: Vec<String>,
    /// Lower with fusion off, one kernel per primitive (`fused`, `kernels`, `plan`).
    pub eager: bool,
}

/// What a stage produced: a graph, or the lowered program tagged with the text form to print.
#[derive(Clone, Debug)]
pub enum Staged {
    /// `ir`, `grad`, `opt`.
    Graph(Graph),
    /// `fused`: printed as its fusion groups.
    Groups(Program),
    /// `kernels`: printed as its kernels.
    Kernels(Program),
    /// `plan`: printed as its memory plan.
    Plan(Program),
}

impl Staged {
    /// The text `dump-ir` prints: a graph as `.kir` text followed by `; nodes: N` (so that the
    /// output reads back as a graph); a program as its fusion groups (`fused`), kernels
    /// (`kernels`) or memory plan (`plan`), each ending with its summary line.
    pub fn text(&self) -> String {
        match self {
            Staged::Graph(graph) => format!("{graph}{}", graph_summary(graph)),
            Staged::Groups(program) => program.groups_text(),
            Staged::Kernels(program) => program.to_string(),
            Staged::Plan(program) => program.plan_text(),
        }
    }
}

/// The summary printed after a graph: one `; key: value` comment line, so that the output
/// still parses as `.kir`.
pub fn graph_summary(graph: &Graph) -> String {
    format!("; nodes: {}\n", graph.len())
}

/// Runs the pipeline on `graph` up to `stage`. Adding a stage is adding its arm.
///
/// ```
/// use kiln_ir::pipeline::{run_stage, Stage, StageOptions};
///
/// let text = "%0 = input \"x\" : f32[2]\n%1 = neg %0 : f32[2]\n%2 = neg %1 : f32[2]\nreturn %2\n";
/// let graph = kiln_ir::text::parse(text)?;
/// let opt = run_stage(Stage::Opt, graph, &StageOptions::default())?;
/// assert_eq!(opt.text(), "%0 = input \"x\" : f32[2]\nreturn %0\n; nodes: 1\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_stage(stage: Stage, graph: Graph, options: &StageOptions) -> Result<Staged, IrError> {
    // The pipeline: grad (when `wrt` names leaves) -> opt -> fuse/lower -> plan.
    let lowered = |graph: Graph| {
        lower(
            optimized(differentiate(graph, &options.wrt)?)?,
            options.eager,
        )
    };
    Ok(match stage {
        Stage::Ir => Staged::Graph(graph),
        Stage::Grad => Staged::Graph(differentiate(graph, &options.wrt)?),
        Stage::Opt => Staged::Graph(optimized(differentiate(graph, &options.wrt)?)?),
        Stage::Fused => Staged::Groups(lowered(graph)?),
        Stage::Kernels => Staged::Kernels(lowered(graph)?),
        Stage::Plan => Staged::Plan(lowered(graph)?),
    })
}

/// The optimisation passes (`opt`): [`crate::passes::optimize`].
pub fn optimized(mut graph: Graph) -> Result<Graph, IrError> {
    crate::passes::optimize(&mut graph).map_err(|e| IrError::in_stage("opt", e))?;
    Ok(graph)
}

/// Fusion (off when `eager`) and lowering of the graph's outputs to kernel IR, with its memory
/// plan.
pub fn lower(graph: Graph, eager: bool) -> Result<Program, IrError> {
    let options = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    crate::kernel::lower(&graph, graph.outputs(), &options)
        .map_err(|e| IrError::in_stage("lowering", e))
}

/// Appends the gradients of the outputs (each seeded with ones, i.e. the gradient of its sum)
/// with respect to the named inputs or parameters, as extra outputs. With no names, the graph
/// is returned as it is.
pub fn differentiate(mut graph: Graph, wrt: &[String]) -> Result<Graph, IrError> {
    if wrt.is_empty() {
        return Ok(graph);
    }
    let leaves = wrt
        .iter()
        .map(|name| {
            graph
                .node_ids()
                .into_iter()
                .find(|&id| {
                    matches!(graph.node(id).map(|n| &n.op),
                        Ok(Op::Input { name: n } | Op::Parameter { name: n }) if n == name)
                })
                .ok_or_else(|| IrError::UnknownLeaf { name: name.clone() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph.outputs().to_vec();
    if outputs.is_empty() {
        return Err(IrError::in_stage("grad", IrError::NoOutputs));
    }
    let mut seeds = Vec::with_capacity(outputs.len());
    for &o in &outputs {
        seeds.push(Some(
            crate::autodiff::helpers::ones_like(&mut graph, o)
                .map_err(|e| IrError::in_stage("grad", e))?,
        ));
    }
    let grads = crate::autodiff::grad(&mut graph, &outputs, &seeds, &leaves)
        .map_err(|e| IrError::in_stage("grad", e))?;
    let mut all = outputs;
    all.extend(grads);
    graph
        .set_outputs(&all)
        .map_err(|e| IrError::in_stage("grad", e))?;
    Ok(graph)
}
