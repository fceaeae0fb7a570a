//! `dump-ir`: reads a `.kir` file, verifies it and prints it back (or as Graphviz).
//!
//! ```text
//! dump-ir [--dot] [--stage STAGE] [--eager] FILE.kir
//! ```
//!
//! Exit codes: 0 on success; 2 for bad arguments, malformed or ill-typed files and stages that
//! are not implemented yet; 1 when the file cannot be read. Parse errors are printed as
//! `FILE:line:col: message` so that editors can jump to them.
//!
//! Stages are the compiler's pipeline (`grad`, `opt`, `fused`, `kernels`, `plan`); each is one
//! arm of [`apply_stage`]. `ir` prints the parsed graph; `fused`, `kernels` and `plan` lower the
//! graph's outputs to the kernel IR (`--eager`: fusion off) and print the fusion groups, the
//! kernels or the memory plan.

#[path = "support/run.rs"]
mod run;

use ir::{Graph, IrError};
use kiln_ir as ir;
use std::process::ExitCode;

const USAGE: &str = "\
usage: dump-ir [OPTIONS] FILE.kir

Reads a .kir graph, verifies it and prints it in the text format followed by a summary.

options:
  --dot            print Graphviz instead of text (nodes: op and type; edges: operand position)
  --stage STAGE    print the graph after a compiler stage: ir (default), grad, opt, fused,
                   kernels, plan
  --wrt NAME       (grad and later) differentiate the outputs with respect to this input or
                   parameter; repeat it or separate names with commas. Each output's seed is
                   ones, i.e. the gradient of its sum. The gradients are appended as outputs.
  --run            compile with the CPU backend and run next to the interpreter on seeded random
                   inputs; print each output's max abs/rel error and the run times; exit 1
                   when an error exceeds its dtype's tolerance
  --seed N         (--run) the seed of the random inputs (default 0)
  --clif           print the CLIF the CPU backend generates for every kernel
  --eager          lower with fusion off (one kernel per primitive) (fused, kernels, plan)
  -h, --help       print this help
";

/// How far down the pipeline to run before printing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
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
    const ALL: [Stage; 6] = [
        Stage::Ir,
        Stage::Grad,
        Stage::Opt,
        Stage::Fused,
        Stage::Kernels,
        Stage::Plan,
    ];

    fn name(self) -> &'static str {
        match self {
            Stage::Ir => "ir",
            Stage::Grad => "grad",
            Stage::Opt => "opt",
            Stage::Fused => "fused",
            Stage::Kernels => "kernels",
            Stage::Plan => "plan",
        }
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Dot,
}

/// Beyond printing a stage: run it, or print its generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Print,
    Run { seed: u64 },
    Clif,
}

/// What the command line asks for.
#[derive(Debug)]
enum Command {
    Help,
    Dump {
        file: String,
        stage: Stage,
        format: Format,
        wrt: Vec<String>,
        eager: bool,
        action: Action,
    },
}

/// Why `dump-ir` failed; each kind has its exit code.
#[derive(Debug)]
enum Failure {
    /// Bad arguments (exit 2).
    Usage(String),
    /// A malformed or ill-typed file, or a stage that cannot run (exit 2).
    Input(String),
    /// The file cannot be read (exit 1).
    Io(String),
    /// `--run` found an error beyond tolerance, or could not run (exit 1); the report goes to
    /// stdout.
    Check(String),
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("dump-ir: {msg}\n(run `dump-ir --help` for usage)");
            ExitCode::from(2)
        }
        Err(Failure::Input(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
        Err(Failure::Io(msg)) => {
            eprintln!("dump-ir: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Check(report)) => {
            print!("{report}");
            ExitCode::from(1)
        }
    }
}

fn run(args: impl Iterator<Item = String>) -> Result<String, Failure> {
    match parse_args(args)? {
        Command::Help => Ok(USAGE.to_string()),
        Command::Dump {
            file,
            stage,
            format,
            wrt,
            eager,
            action,
        } => {
            let graph = load(&file)?;
            match action {
                Action::Print => {}
                Action::Run { seed } => {
                    let graph = optimized(differentiate(graph, &wrt)?)?;
                    return run::run(&graph, eager, seed).map_err(Failure::Check);
                }
                Action::Clif => {
                    let program = lower(optimized(differentiate(graph, &wrt)?)?, eager)?;
                    return kiln_codegen::cpu::clif_listing(&program)
                        .map_err(|e| Failure::Input(format!("codegen: {e}")));
                }
            }
            match apply_stage(stage, graph, &wrt, eager)? {
                Staged::Graph(graph) => Ok(match format {
                    Format::Text => format!("{graph}{}", summary(&graph)),
                    Format::Dot => dot(&graph),
                }),
                Staged::Text(text) => match format {
                    Format::Text => Ok(text),
                    Format::Dot => Err(Failure::Usage(format!(
                        "--dot is not available for stage {}",
                        stage.name()
                    ))),
                },
            }
        }
    }
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, Failure> {
    let mut file = None;
    let mut stage = Stage::Ir;
    let mut format = Format::Text;
    let mut wrt = Vec::new();
    let mut eager = false;
    let mut action = Action::Print;
    let mut seed = None;
    let mut args = args.peekable();
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") && !only_files => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" if !only_files => return Ok(Command::Help),
            "--dot" if !only_files && inline.is_none() => format = Format::Dot,
            "--run" if !only_files && inline.is_none() => action = Action::Run { seed: 0 },
            "--clif" if !only_files && inline.is_none() => action = Action::Clif,
            "--seed" if !only_files => {
                let v = inline.or_else(|| args.next());
                seed = Some(
                    v.as_deref()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| {
                            Failure::Usage("--seed needs a non-negative integer".into())
                        })?,
                );
            }
            "--eager" if !only_files && inline.is_none() => eager = true,
            "--stage" if !only_files => {
                let name = match inline.or_else(|| args.next()) {
                    Some(n) => n,
                    None => return Err(Failure::Usage("--stage needs a stage name".into())),
                };
                stage = Stage::ALL
                    .into_iter()
                    .find(|s| s.name() == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
                        Failure::Usage(format!(
                            "unknown stage `{name}` (expected one of: {})",
                            names.join(", ")
                        ))
                    })?;
            }
            "--wrt" if !only_files => match inline.or_else(|| args.next()) {
                Some(names) => {
                    wrt.extend(names.split(',').filter(|n| !n.is_empty()).map(String::from))
                }
                None => return Err(Failure::Usage("--wrt needs a name".into())),
            },
            "--" if !only_files => only_files = true,
            f if f.starts_with('-') && f.len() > 1 && !only_files => {
                return Err(Failure::Usage(format!("unknown option `{arg}`")))
            }
            _ => {
                if file.is_some() {
                    return Err(Failure::Usage(format!(
                        "unexpected argument `{arg}`: give one file"
                    )));
                }
                file = Some(arg);
            }
        }
    }
    let file = file.ok_or_else(|| Failure::Usage("no input file".into()))?;
    if !wrt.is_empty() && stage == Stage::Ir && action == Action::Print {
        return Err(Failure::Usage(
            "--wrt is only meaningful with a --stage after ir, --run or --clif".into(),
        ));
    }
    if let Some(s) = seed {
        match &mut action {
            Action::Run { seed } => *seed = s,
            Action::Print | Action::Clif => {
                return Err(Failure::Usage(
                    "--seed is only meaningful with --run".into(),
                ))
            }
        }
    }
    Ok(Command::Dump {
        file,
        stage,
        format,
        wrt,
        eager,
        action,
    })
}

/// Reads, parses and verifies `file`, naming it in every error.
fn load(file: &str) -> Result<Graph, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| Failure::Io(format!("{file}: {e}")))?;
    let graph = ir::text::parse(&text).map_err(|e| match e {
        IrError::Parse { line, col, msg } => Failure::Input(format!("{file}:{line}:{col}: {msg}")),
        other => Failure::Input(format!("{file}: {other}")),
    })?;
    graph
        .verify()
        .map_err(|e| Failure::Input(format!("{file}: {e}")))?;
    Ok(graph)
}

/// What a stage produced: a graph (printable as text or Graphviz) or a kernel-level text form.
enum Staged {
    Graph(Graph),
    Text(String),
}

/// Runs the pipeline up to `stage`. Adding a stage is adding its arm.
fn apply_stage(stage: Stage, graph: Graph, wrt: &[String], eager: bool) -> Result<Staged, Failure> {
    // The pipeline: grad (when --wrt names leaves) -> opt -> fuse/lower -> plan.
    let lowered = |graph: Graph| lower(optimized(differentiate(graph, wrt)?)?, eager);
    match stage {
        Stage::Ir => Ok(Staged::Graph(graph)),
        Stage::Grad => Ok(Staged::Graph(differentiate(graph, wrt)?)),
        Stage::Opt => Ok(Staged::Graph(optimized(differentiate(graph, wrt)?)?)),
        Stage::Fused => Ok(Staged::Text(lowered(graph)?.groups_text())),
        Stage::Kernels => Ok(Staged::Text(lowered(graph)?.to_string())),
        Stage::Plan => Ok(Staged::Text(lowered(graph)?.plan_text())),
    }
}

/// The optimisation passes (`--stage opt`).
fn optimized(mut graph: Graph) -> Result<Graph, Failure> {
    ir::passes::optimize(&mut graph).map_err(|e| Failure::Input(format!("opt: {e}")))?;
    Ok(graph)
}

/// Fusion and lowering to kernel IR, with its memory plan.
fn lower(graph: Graph, eager: bool) -> Result<ir::kernel::Program, Failure> {
    let options = if eager {
        ir::kernel::LowerOptions::eager()
    } else {
        ir::kernel::LowerOptions::default()
    };
    ir::kernel::lower(&graph, graph.outputs(), &options)
        .map_err(|e| Failure::Input(format!("lowering failed: {e}")))
}

/// Appends the gradients of the outputs (seeded with ones) with respect to the named inputs or
/// parameters, as extra outputs. With no names, the graph is returned as it is.
fn differentiate(mut graph: Graph, wrt: &[String]) -> Result<Graph, Failure> {
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
                        Ok(ir::Op::Input { name: n } | ir::Op::Parameter { name: n }) if n == name)
                })
                .ok_or_else(|| {
                    Failure::Usage(format!("--wrt {name}: no input or parameter has that name"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph.outputs().to_vec();
    if outputs.is_empty() {
        return Err(Failure::Input(
            "grad: the graph has no outputs (add a `return` line)".into(),
        ));
    }
    let fail = |e: IrError| Failure::Input(format!("grad: {e}"));
    let mut seeds = Vec::with_capacity(outputs.len());
    for &o in &outputs {
        seeds.push(Some(
            ir::autodiff::helpers::ones_like(&mut graph, o).map_err(fail)?,
        ));
    }
    let grads = ir::autodiff::grad(&mut graph, &outputs, &seeds, &leaves).map_err(fail)?;
    let mut all = outputs;
    all.extend(grads);
    graph.set_outputs(&all).map_err(fail)?;
    Ok(graph)
}

/// The summary printed after the graph, one `key: value` line; later stages add fields.
fn summary(graph: &Graph) -> String {
    format!("nodes: {}\n", graph.len())
}

/// Graphviz: one box per node labelled with its id, op (and name) and type; edges from operand
/// to user labelled with the operand position; outputs drawn with a double border.
fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph kir {\n  node [shape=box, fontname=\"monospace\"];\n");
    for id in graph.topo_order() {
        // `id` comes from `topo_order`, so the node exists.
        let Ok(node) = graph.node(id) else { continue };
        let mut label = format!("{id} {}", node.op.name());
        if let ir::Op::Input { name } | ir::Op::Parameter { name } = &node.op {
            label.push_str(&format!(" \"{name}\""));
        }
        let label = format!("{}\\n{}", dot_escape(&label), node.ty);
        let border = if graph.outputs().contains(&id) {
            ", peripheries=2"
        } else {
            ""
        };
        out.push_str(&format!("  n{} [label=\"{label}\"{border}];\n", id.0));
        for (pos, operand) in graph.operands(id).iter().enumerate() {
            out.push_str(&format!(
                "  n{} -> n{} [label=\"{pos}\"];\n",
                operand.0, id.0
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// Escapes text for a double-quoted Graphviz string.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
