//! The filetest runner: every `tests/filetests/<stage>/*.kir` is a self-contained test, Cranelift
//! style: a header naming the stage and its options, the input graph, and the expected output
//! as `;` comments at the end of the file (the format is in `tests/filetests/README.md`).
//!
//! The runner runs each file's stage with [`kiln_ir::pipeline`] (what `dump-ir --stage` prints)
//! and compares the output with the expectation. It reports every failing file in one run, each
//! with a line diff; a file without a known `; test STAGE` header fails rather than being
//! skipped. `KILN_BLESS=1 cargo test --release --test filetests` rewrites the expectations in
//! place (the header and the graph are left as they are).
//!
//! The runner lives in the root crate so that a stage outside `kiln_ir::pipeline` (a later
//! `; test cuda`, which needs the codegen crate) is one more case in [`parse_header`] and
//! [`actual_output`].

use kiln_ir::pipeline::{self, Stage, StageOptions};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filetests")
}

fn bless() -> bool {
    std::env::var_os("KILN_BLESS").is_some_and(|v| v != "0")
}

/// What a header line asks for: `; test STAGE [OPTION ...]`.
#[derive(Debug, PartialEq)]
struct Header {
    stage: Stage,
    options: StageOptions,
}

/// Parses the first line of a filetest. Options: `wrt=NAME[,NAME..]` (repeatable; `grad` and
/// later) and `eager` (kernel-level stages only).
fn parse_header(line: &str) -> Result<Header, String> {
    let rest = line.strip_prefix("; test ").ok_or_else(|| {
        format!("the first line must be the header `; test STAGE [OPTIONS]`, found `{line}`")
    })?;
    let mut words = rest.split_whitespace();
    let name = words.next().ok_or("the header names no stage")?;
    let stage = Stage::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown stage `{name}` in the header (expected one of: {})",
            names.join(", ")
        )
    })?;
    let mut options = StageOptions::default();
    for word in words {
        match word.split_once('=') {
            Some(("wrt", names)) if stage != Stage::Ir => options
                .wrt
                .extend(names.split(',').filter(|n| !n.is_empty()).map(String::from)),
            None if word == "eager" && !stage.is_graph() => options.eager = true,
            _ => {
                return Err(format!(
                    "option `{word}` is unknown or meaningless for stage `{name}`"
                ))
            }
        }
    }
    Ok(Header { stage, options })
}

/// A filetest split into its parts.
struct FileTest<'a> {
    header: Header,
    /// The lines up to and including the graph's last line (header and comments included).
    input: Vec<&'a str>,
    /// The expected output, with the `; ` prefixes removed; empty when the file has none.
    expected: String,
}

/// Splits `text`: the input ends at its last line that is neither blank nor a comment; the
/// comment lines after it are the expected output (`;` alone is an empty line).
fn split(text: &str) -> Result<FileTest<'_>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let header = parse_header(lines.first().copied().unwrap_or_default())?;
    let is_code = |l: &&str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with(';')
    };
    let last = lines
        .iter()
        .rposition(is_code)
        .ok_or("the file has no graph")?;
    let mut expected = String::new();
    for line in &lines[last + 1..] {
        if line.trim().is_empty() {
            continue;
        }
        let content = line
            .strip_prefix("; ")
            .or_else(|| (line.trim_end() == ";").then_some(""))
            .ok_or_else(|| format!("expected-output line without `; `: `{line}`"))?;
        expected.push_str(content);
        expected.push('\n');
    }
    Ok(FileTest {
        header,
        input: lines[..=last].to_vec(),
        expected,
    })
}

/// The output of the file's stage: the text `dump-ir` prints, or `error: MESSAGE` when the stage
/// fails (so that a filetest can expect an error). A graph that does not parse is the test's
/// own fault and fails it.
fn actual_output(test: &FileTest) -> Result<String, String> {
    let graph_text = test.input.join("\n") + "\n";
    let graph = kiln_ir::text::parse(&graph_text).map_err(|e| format!("input: {e}"))?;
    graph.verify().map_err(|e| format!("input: {e}"))?;
    Ok(
        match pipeline::run_stage(test.header.stage, graph, &test.header.options) {
            Ok(staged) => staged.text(),
            Err(e) => format!("error: {e}\n"),
        },
    )
}

/// The file with its expectation replaced by `output`.
fn blessed(test: &FileTest, output: &str) -> String {
    let mut text = test.input.join("\n");
    text.push_str("\n\n");
    for line in output.lines() {
        if line.is_empty() {
            text.push_str(";\n");
        } else {
            text.push_str("; ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// A line diff of `expected` against `actual` (longest common subsequence): `-` lines are
/// expected but missing, `+` lines are printed but not expected.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("   {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!(" - {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!(" + {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Runs one filetest; `Err` describes the failure.
fn run_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let test = split(&text)?;
    let dir = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if dir != test.header.stage.name() {
        return Err(format!(
            "the header's stage `{}` is not the directory's `{dir}`",
            test.header.stage.name()
        ));
    }
    let actual = actual_output(&test)?;
    if actual == test.expected {
        return Ok(());
    }
    if bless() {
        return std::fs::write(path, blessed(&test, &actual)).map_err(|e| e.to_string());
    }
    if test.expected.is_empty() {
        return Err(format!(
            "no expected output (KILN_BLESS=1 writes it); the output is:\n{actual}"
        ));
    }
    Err(format!(
        "output differs from the expectation (- expected, + actual; KILN_BLESS=1 to update):\n{}",
        diff(&test.expected, &actual)
    ))
}

/// Every `tests/filetests/*/*.kir`, sorted.
fn filetests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dirs = std::fs::read_dir(root()).expect("tests/filetests exists");
    for dir in dirs {
        let dir = dir.expect("directory entry").path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("readable directory") {
            let file = file.expect("directory entry").path();
            if file.extension().is_some_and(|e| e == "kir") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn filetests_match_their_expectations() {
    let files = filetests();
    let mut per_stage: Vec<(&str, usize)> = Vec::new();
    for stage in Stage::ALL {
        let n = files
            .iter()
            .filter(|f| f.parent().is_some_and(|d| d.ends_with(stage.name())))
            .count();
        per_stage.push((stage.name(), n));
    }
    let mut failures = Vec::new();
    for file in &files {
        if let Err(msg) = run_file(file) {
            let rel = file.strip_prefix(root()).unwrap_or(file);
            failures.push(format!("tests/filetests/{}: {msg}", rel.display()));
        }
    }
    println!("filetests per stage: {per_stage:?}");
    assert!(
        failures.is_empty(),
        "{} of {} filetests failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    for (stage, n) in per_stage {
        assert!(n > 0, "no filetests for stage {stage}");
    }
}

#[test]
fn headers_are_checked() {
    let ok = parse_header("; test grad wrt=x,y wrt=z").expect("valid header");
    assert_eq!(ok.stage, Stage::Grad);
    assert_eq!(ok.options.wrt, ["x", "y", "z"]);
    assert!(
        parse_header("; test plan eager")
            .expect("valid header")
            .options
            .eager
    );
    for bad in [
        "%0 = input \"x\" : f32[]",
        "; a comment",
        "; test",
        "; test nope",
        "; test opt eager",
        "; test ir wrt=x",
        "; test kernels frob",
    ] {
        assert!(parse_header(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let text = "; test opt\n%0 = input \"x\" : f32[2]\n%1 = neg %0 : f32[2]\n%2 = neg %1 : f32[2]\nreturn %2\n\n; %0 = input \"x\" : f32[2]\n; return %1\n; ; nodes: 1\n";
    let test = split(text).expect("well-formed");
    let actual = actual_output(&test).expect("runs");
    assert_eq!(actual, "%0 = input \"x\" : f32[2]\nreturn %0\n; nodes: 1\n");
    assert_ne!(actual, test.expected);
    let d = diff(&test.expected, &actual);
    assert_eq!(
        d,
        "   %0 = input \"x\" : f32[2]\n - return %1\n + return %0\n   ; nodes: 1\n"
    );
    // Blessing writes an expectation that then matches.
    let fixed = blessed(&test, &actual);
    assert_eq!(split(&fixed).expect("well-formed").expected, actual);
    assert!(split("%0 = input \"x\" : f32[2]\n").is_err(), "no header");
    assert!(split("; test opt\n; only comments\n").is_err(), "no graph");
}

/// `example_NAME[_eager].kir` filetests carry a copy of the shipped `examples/graphs/NAME.kir`;
/// this keeps the copies identical to the examples (as graphs: comments may differ).
#[test]
fn example_filetests_carry_the_shipped_graphs() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/graphs");
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in filetests() {
        let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let Some(name) = stem.strip_prefix("example_") else {
            continue;
        };
        let name = name.strip_suffix("_eager").unwrap_or(name);
        let parse = |path: &Path| {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let test = split(&text)?;
            kiln_ir::text::parse(&(test.input.join("\n") + "\n"))
                .map(|g| g.to_text())
                .map_err(|e| e.to_string())
        };
        let example = examples.join(format!("{name}.kir"));
        let shipped = std::fs::read_to_string(&example)
            .map_err(|e| e.to_string())
            .and_then(|t| kiln_ir::text::parse(&t).map_err(|e| e.to_string()))
            .map(|g| g.to_text());
        match (parse(&file), shipped) {
            (Ok(a), Ok(b)) if a == b => checked += 1,
            (a, b) => failures.push(format!(
                "{}: its graph is not that of {} ({a:?} vs {b:?}): copy the example again",
                file.display(),
                example.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 5, "only {checked} example filetests found");
}
