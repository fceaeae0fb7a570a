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
//! Stages are the compiler's pipeline (`grad`, `opt`, `fused`, `kernels`, `plan`), run by
//! [`kiln_ir::pipeline`], which the filetests (`tests/filetests/`) share. `ir` prints the parsed
//! graph; `grad` and `opt` print the graph after autodiff and the optimisation passes. These
//! three print `.kir` text followed by a `; nodes: N` comment, so their output reads back:
//! `dump-ir g.kir > h.kir && dump-ir h.kir` works. `fused`, `kernels` and `plan` lower the graph's
//! outputs to the kernel IR (`--eager`: fusion off) and print the fusion groups, the kernels or
//! the memory plan, each ending with a summary line (`nodes: N, kernels: K[, buffers: B,
//! peak_bytes: P]`); they are not graphs.

#[path = "support/run.rs"]
mod run;

use ir::pipeline::{self, Stage, StageOptions, Staged};
use ir::{Graph, IrError};
use kiln_ir as ir;
use std::process::ExitCode;

const USAGE: &str = "\
usage: dump-ir [OPTIONS] FILE.kir

Reads a .kir graph, verifies it and prints it in the text format followed by a summary
comment (`; nodes: N`), so that the output is itself a .kir file.

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
            write_stdout(&out);
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
            write_stdout(&report);
            if !report.ends_with('\n') {
                write_stdout("\n");
            }
            ExitCode::from(1)
        }
    }
}

/// Writes to standard output; a reader that went away (`dump-ir ... | head`) is not an error.
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
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
                    let graph = differentiated_and_optimized(graph, &wrt)?;
                    return run::run(&graph, eager, seed).map_err(Failure::Check);
                }
                Action::Clif => {
                    let graph = differentiated_and_optimized(graph, &wrt)?;
                    let program = pipeline::lower(graph, eager).map_err(failure)?;
                    return kiln_codegen::cpu::clif_listing(&program)
                        .map_err(|e| Failure::Input(format!("codegen: {e}")));
                }
            }
            let staged =
                pipeline::run_stage(stage, graph, &StageOptions { wrt, eager }).map_err(failure)?;
            match (format, &staged) {
                (Format::Text, _) => Ok(staged.text()),
                (Format::Dot, Staged::Graph(graph)) => Ok(dot(graph)),
                (Format::Dot, Staged::Groups(_) | Staged::Kernels(_) | Staged::Plan(_)) => Err(
                    Failure::Usage(format!("--dot is not available for stage {}", stage.name())),
                ),
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
                stage = Stage::from_name(&name).ok_or_else(|| {
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
    let bytes = std::fs::read(file).map_err(|e| Failure::Io(format!("{file}: {e}")))?;
    // Bytes that are not UTF-8 are a malformed file like any other, with a position.
    let graph = ir::text::parse_bytes(&bytes).map_err(|e| match e {
        IrError::Parse { line, col, msg } => Failure::Input(format!("{file}:{line}:{col}: {msg}")),
        other => Failure::Input(format!("{file}: {other}")),
    })?;
    graph
        .verify()
        .map_err(|e| Failure::Input(format!("{file}: {e}")))?;
    Ok(graph)
}

/// The graph that `--run` and `--clif` compile: differentiated (with `--wrt`) and optimised.
fn differentiated_and_optimized(graph: Graph, wrt: &[String]) -> Result<Graph, Failure> {
    pipeline::optimized(pipeline::differentiate(graph, wrt).map_err(failure)?).map_err(failure)
}

/// The exit code and message of a failed stage: a `--wrt` name that matches nothing is a usage
/// error, everything else a problem with the input.
fn failure(e: IrError) -> Failure {
    match e {
        IrError::UnknownLeaf { name } => {
            Failure::Usage(format!("--wrt {name}: no input or parameter has that name"))
        }
        other => Failure::Input(other.to_string()),
    }
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
