//! Tests of the `dump-ir` binary: its command line, exit codes and error positions, the
//! `--dot` output, that every graph stage's output reads back as the same graph, that the
//! kernel-level stages' summary lines agree, `--run` and `--clif`. What each stage prints is
//! checked by the filetests (`tests/filetests/<stage>/*.kir`, run by `tests/filetests.rs`),
//! which call the same `kiln_ir::pipeline` as `dump-ir`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dump_ir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dump-ir"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the dump-ir binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shipped_graphs() -> Vec<PathBuf> {
    let mut graphs: Vec<PathBuf> = std::fs::read_dir(root().join("examples/graphs"))
        .expect("examples/graphs exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kir"))
        .collect();
    graphs.sort();
    graphs
}

/// The Graphviz form of the softmax example: one box per node, edges labelled with the operand
/// position, the output with a double border.
const SOFTMAX_DOT: &str = r#"digraph kir {
  node [shape=box, fontname="monospace"];
  n0 [label="%0 input \"x\"\nf32[32,100]"];
  n1 [label="%1 reduce.max\nf32[32,1]"];
  n0 -> n1 [label="0"];
  n2 [label="%2 expand\nf32[32,100]"];
  n1 -> n2 [label="0"];
  n3 [label="%3 sub\nf32[32,100]"];
  n0 -> n3 [label="0"];
  n2 -> n3 [label="1"];
  n4 [label="%4 exp\nf32[32,100]"];
  n3 -> n4 [label="0"];
  n5 [label="%5 reduce.sum\nf32[32,1]"];
  n4 -> n5 [label="0"];
  n6 [label="%6 expand\nf32[32,100]"];
  n5 -> n6 [label="0"];
  n7 [label="%7 div\nf32[32,100]", peripheries=2];
  n4 -> n7 [label="0"];
  n6 -> n7 [label="1"];
}
"#;

#[test]
fn dot_prints_graphviz() {
    let out = dump_ir(&["--dot", "examples/graphs/softmax.kir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), SOFTMAX_DOT);
    // Every shipped graph: one box per node, one edge per operand, and `--dot` works after the
    // graph stages too.
    for graph in shipped_graphs() {
        let g = graph.to_str().expect("utf-8 path");
        let parsed = kiln_ir::Graph::load(&graph).expect("a shipped graph parses");
        let operands: usize = parsed
            .node_ids()
            .into_iter()
            .map(|id| parsed.operands(id).len())
            .sum();
        let text = stdout(&dump_ir(&["--dot", g]));
        assert!(
            text.starts_with("digraph kir {\n") && text.ends_with("}\n"),
            "{g}"
        );
        assert_eq!(text.matches(" [label=\"%").count(), parsed.len(), "{g}");
        assert_eq!(text.matches(" -> ").count(), operands, "{g}");
        let out = dump_ir(&["--dot", "--stage", "opt", g]);
        assert!(out.status.success(), "{g}: {}", stderr(&out));
    }
}

/// The names of a graph's floating-point inputs and parameters (what `--wrt` may name).
fn float_leaves(graph: &Path) -> Vec<String> {
    let g = kiln_ir::Graph::load(graph).expect("a shipped graph parses");
    g.node_ids()
        .into_iter()
        .filter_map(|id| {
            let node = g.node(id).ok()?;
            match &node.op {
                kiln_ir::Op::Input { name } | kiln_ir::Op::Parameter { name }
                    if node.dtype().is_float() =>
                {
                    Some(name.clone())
                }
                _ => None,
            }
        })
        .collect()
}

/// `dump-ir g.kir > h.kir && dump-ir h.kir` prints the same text again: the output of `stage`
/// (a graph stage) on every shipped graph, with `--wrt` naming every float input and parameter
/// when `wrt` is set, reads back as the same graph with the same summary comment.
fn assert_reads_back(stage: &str, wrt: bool) {
    for graph in shipped_graphs() {
        let g = graph.to_str().expect("utf-8 path");
        let leaves = float_leaves(&graph).join(",");
        assert!(!leaves.is_empty(), "{g} has float leaves to differentiate");
        let mut args = vec!["--stage", stage, g];
        if wrt {
            args.extend(["--wrt", leaves.as_str()]);
        }
        let out = dump_ir(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let first = stdout(&out);
        let last = first.lines().last().unwrap_or_default();
        assert!(last.starts_with("; nodes: "), "{args:?}: summary `{last}`");
        let stem = graph
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let name = format!("{stem}.{stage}.{wrt}.kir");
        let again = dump_ir(&[temp_file(&name, &first).to_str().expect("utf-8 path")]);
        assert!(
            again.status.success(),
            "{args:?} read back: {}",
            stderr(&again)
        );
        assert_eq!(stdout(&again), first, "{args:?} read back");
        // The same through the library: the text is the graph's text plus the summary.
        let parsed = kiln_ir::text::parse(&first).expect("dump-ir prints parseable text");
        assert_eq!(
            format!("{}; nodes: {}\n", parsed.to_text(), parsed.len()),
            first
        );
    }
}

#[test]
fn ir_output_reads_back() {
    assert_reads_back("ir", false);
}

#[test]
fn grad_output_reads_back() {
    assert_reads_back("grad", true);
}

#[test]
fn opt_output_reads_back() {
    assert_reads_back("opt", false);
    assert_reads_back("opt", true);
}

/// The kernel-level stages are not graphs, but their summary lines agree: `fused` prints
/// `nodes: N, kernels: K`, `kernels` and `plan` print the same line followed by `, buffers: B,
/// peak_bytes: P`; N is the node count of the optimised graph (`--stage opt`), K the number of
/// kernels listed, B the number of buffers the plan lists.
#[test]
fn kernel_stage_summaries_are_consistent() {
    for graph in shipped_graphs() {
        let g = graph.to_str().expect("utf-8 path");
        for eager in [false, true] {
            let run = |stage: &str| {
                let mut args = vec!["--stage", stage, g];
                if eager {
                    args.push("--eager");
                }
                let out = dump_ir(&args);
                assert!(out.status.success(), "{args:?}: {}", stderr(&out));
                stdout(&out)
            };
            let last = |text: &str| text.lines().last().unwrap_or_default().to_string();
            let (opt, fused, kernels, plan) =
                (run("opt"), run("fused"), run("kernels"), run("plan"));
            let nodes = last(&opt)
                .strip_prefix("; nodes: ")
                .expect("opt ends with its summary")
                .to_string();
            let groups = fused.lines().filter(|l| l.starts_with('k')).count();
            assert_eq!(
                last(&fused),
                format!("nodes: {nodes}, kernels: {groups}"),
                "{g}"
            );
            let listed = kernels
                .lines()
                .filter(|l| l.starts_with("kernel k"))
                .count();
            assert_eq!(listed, groups, "{g}: kernels listed");
            let buffers = plan.lines().filter(|l| l.starts_with('b')).count();
            let prefix = format!("{}, buffers: {buffers}, peak_bytes: ", last(&fused));
            assert!(
                last(&kernels).starts_with(&prefix),
                "{g}: {} vs {prefix}",
                last(&kernels)
            );
            assert_eq!(last(&plan), last(&kernels), "{g}");
        }
    }
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-dump-ir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn malformed_file_reports_file_line_col_and_exits_2() {
    let path = temp_file(
        "bad.kir",
        "; a comment\n%0 = input \"x\" : f32[2]\n%1 = exp %0 : f32[3]\n",
    );
    let p = path.to_str().expect("utf-8 path");
    let out = dump_ir(&[p]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("{p}:3:15: type annotation f32[3] disagrees with f32[2], the type exp gives\n")
    );
    assert!(stdout(&out).is_empty());

    let path = temp_file("unknown.kir", "%0 = frob : f32[]\n");
    let p = path.to_str().expect("utf-8 path");
    let out = dump_ir(&[p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with(&format!("{p}:1:6: unknown op `frob`")));
}

#[test]
fn missing_file_exits_1() {
    let out = dump_ir(&["does/not/exist.kir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does/not/exist.kir"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_arguments_exit_2() {
    let graph = "examples/graphs/softmax.kir";
    for args in [
        vec!["--frobnicate", graph],
        vec![],
        vec![graph, graph],
        vec!["--stage"],
        vec!["--stage", "nope", graph],
    ] {
        let out = dump_ir(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).starts_with("dump-ir: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = dump_ir(&["--frobnicate", graph]);
    assert!(stderr(&out).contains("unknown option `--frobnicate`"));
}

#[test]
fn every_stage_runs_on_every_shipped_graph() {
    for graph in shipped_graphs() {
        let g = graph.to_str().expect("utf-8 path");
        for stage in ["ir", "grad", "opt", "fused", "kernels", "plan"] {
            let out = dump_ir(&["--stage", stage, g]);
            assert!(out.status.success(), "{stage} {g}: {}", stderr(&out));
        }
    }
}

#[test]
fn kernel_stages_end_with_their_summary_lines() {
    let graph = "examples/graphs/softmax.kir";
    let last_line = |args: &[&str]| {
        let out = dump_ir(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out).lines().last().unwrap_or_default().to_string()
    };
    assert_eq!(
        last_line(&["--stage", "fused", graph]),
        "nodes: 8, kernels: 3"
    );
    assert_eq!(
        last_line(&["--eager", "--stage", "fused", graph]),
        "nodes: 8, kernels: 5"
    );
    for stage in ["kernels", "plan"] {
        let line = last_line(&["--stage", stage, graph]);
        assert!(
            line.starts_with("nodes: 8, kernels: 3, buffers: ") && line.contains(", peak_bytes: "),
            "{line}"
        );
    }
    let out = dump_ir(&["--dot", "--stage", "kernels", graph]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_exits_0() {
    let out = dump_ir(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("usage: dump-ir"));
}

/// The optimisation passes shrink the MLP's gradient graph (what each stage prints is in
/// `tests/filetests/grad/example_mlp_forward.kir` and `tests/filetests/opt/`).
#[test]
fn opt_shrinks_the_gradient_graph() {
    let graph = "examples/graphs/mlp_forward.kir";
    let count = |stage: &str| -> usize {
        let out = dump_ir(&["--stage", stage, "--wrt", "w1,b1,w2,b2", graph]);
        assert!(out.status.success(), "{}", stderr(&out));
        let last = stdout(&out).lines().last().unwrap_or_default().to_string();
        last.trim_start_matches("; nodes: ")
            .parse()
            .unwrap_or(usize::MAX)
    };
    let (grad, opt) = (count("grad"), count("opt"));
    assert!(
        opt < grad,
        "the passes shrink the gradient graph: {opt} vs {grad}"
    );
}

#[test]
fn wrt_errors_exit_2() {
    let graph = "examples/graphs/mlp_forward.kir";
    let out = dump_ir(&["--stage", "grad", "--wrt", "nope", graph]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--wrt nope"), "{}", stderr(&out));
    let out = dump_ir(&["--wrt", "w1", graph]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("only meaningful"), "{}", stderr(&out));
    let out = dump_ir(&["--stage", "fused", "--wrt", "w1", graph]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `--run` compiles each shipped graph (fused and eager, and the MLP's gradient) and checks it
/// against the interpreter on seeded random inputs; a clean run exits 0 and reports every output.
#[test]
fn run_compares_compiled_code_with_the_interpreter() {
    for graph in shipped_graphs() {
        let g = graph.to_str().expect("utf-8 path");
        for extra in [vec![], vec!["--eager"], vec!["--seed", "7"]] {
            let mut args = vec!["--run", g];
            args.extend(extra.iter().copied());
            let out = dump_ir(&args);
            let report = stdout(&out);
            assert!(out.status.success(), "{args:?}: {report}{}", stderr(&out));
            assert!(
                report.contains("max abs err") && report.contains(" ok"),
                "{report}"
            );
            assert!(report.contains("run time: compiled"), "{report}");
        }
    }
    let out = dump_ir(&[
        "--run",
        "--wrt",
        "w1,b1,w2,b2",
        "examples/graphs/mlp_forward.kir",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out).matches(" ok").count(),
        5,
        "the output and four gradients"
    );
    let out = dump_ir(&["--seed", "3", "examples/graphs/softmax.kir"]);
    assert_eq!(out.status.code(), Some(2), "--seed without --run");
}

#[test]
fn clif_lists_every_generated_function() {
    let out = dump_ir(&["--clif", "examples/graphs/softmax.kir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("; kernel ").count(), 3, "{text}");
    assert_eq!(text.matches("function ").count(), 3);
    assert!(text.contains("f32x4"), "the softmax kernels are vectorised");
}

#[test]
fn a_file_that_is_not_utf8_is_malformed_with_a_position() {
    let path = std::env::temp_dir().join(format!("kiln-not-utf8-{}.kir", std::process::id()));
    std::fs::write(
        &path,
        b"%0 = input \"x\" : f32[2]\n%1 = neg \xff%0 : f32[2]\n",
    )
    .expect("write");
    let o = dump_ir(&[path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(":2:10: the file is not UTF-8 text"),
        "{}",
        stderr(&o)
    );
}
