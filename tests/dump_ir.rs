//! Golden tests of the `dump-ir` binary: its output on every shipped graph in
//! `examples/graphs/` is compared with `tests/filetests/NAME.expected` (text),
//! `tests/filetests/NAME.dot.expected` (`--dot`) and, per kernel-level stage,
//! `NAME.STAGE.expected` and `NAME.eager.STAGE.expected` (`--stage fused|kernels|plan`, with and
//! without `--eager`). `KILN_BLESS=1 cargo test --test dump_ir`
//! rewrites the expectations. Also checks exit codes and error positions on bad input.

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

fn bless() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|v| v != "0")
}

/// Compares `actual` with the file, or rewrites the file when blessing; returns a failure
/// description instead of panicking so that one run reports every stale expectation.
fn check_golden(expected_path: &Path, actual: &str) -> Option<String> {
    if bless() {
        std::fs::write(expected_path, actual).expect("write expectation");
        return None;
    }
    match std::fs::read_to_string(expected_path) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{} differs (KILN_BLESS=1 to update)\n--- expected\n{expected}--- actual\n{actual}",
            expected_path.display()
        )),
        Err(e) => Some(format!(
            "{}: {e} (KILN_BLESS=1 to create it)",
            expected_path.display()
        )),
    }
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

#[test]
fn shipped_graphs_match_their_expectations() {
    let graphs = shipped_graphs();
    assert!(
        graphs.len() >= 4,
        "expected the shipped graphs, found {graphs:?}"
    );
    let mut failures = Vec::new();
    for graph in &graphs {
        let stem = graph
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let rel = graph.strip_prefix(root()).expect("under the crate root");
        let rel = rel.to_str().expect("utf-8 path");
        for (args, suffix) in [
            (vec![rel], "expected".to_string()),
            (vec!["--dot", rel], "dot.expected".to_string()),
        ]
        .into_iter()
        .chain(["fused", "kernels", "plan"].into_iter().flat_map(|stage| {
            [
                (vec!["--stage", stage, rel], format!("{stage}.expected")),
                (
                    vec!["--eager", "--stage", stage, rel],
                    format!("eager.{stage}.expected"),
                ),
            ]
        })) {
            let out = dump_ir(&args);
            if !out.status.success() {
                failures.push(format!("dump-ir {args:?} failed:\n{}", stderr(&out)));
                continue;
            }
            let path = root().join(format!("tests/filetests/{stem}.{suffix}"));
            failures.extend(check_golden(&path, &stdout(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn output_reparses_to_the_same_text() {
    for graph in shipped_graphs() {
        let out = stdout(&dump_ir(&[graph.to_str().expect("utf-8 path")]));
        // Everything but the summary line is the graph's text.
        let text: String = out
            .lines()
            .filter(|l| !l.starts_with("nodes: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let g = kiln_ir::text::parse(&text).expect("dump-ir prints parseable text");
        assert_eq!(g.to_text(), text);
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

/// The gradient stages on the MLP: `--stage grad` appends the VJP subgraph, `--stage opt` runs
/// the optimisation passes on it (the golden files record both, so a change in either the VJP
/// rules or the passes shows up as a diff).
#[test]
fn grad_and_opt_stages_match_their_expectations() {
    let graph = "examples/graphs/mlp_forward.kir";
    let mut failures = Vec::new();
    for stage in ["grad", "opt"] {
        let out = dump_ir(&["--stage", stage, "--wrt", "w1,b1", "--wrt", "w2,b2", graph]);
        assert!(out.status.success(), "{}", stderr(&out));
        let path = root().join(format!("tests/filetests/mlp_forward.{stage}.expected"));
        failures.extend(check_golden(&path, &stdout(&out)));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let count = |stage: &str| -> usize {
        let out = stdout(&dump_ir(&["--stage", stage, "--wrt", "w1,b1,w2,b2", graph]));
        let last = out.lines().last().unwrap_or_default().to_string();
        last.trim_start_matches("nodes: ")
            .parse()
            .unwrap_or(usize::MAX)
    };
    assert!(
        count("opt") < count("grad"),
        "the passes shrink the gradient graph"
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
