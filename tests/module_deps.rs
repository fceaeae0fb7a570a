//! The modules of `src/` form a DAG: no module uses, through `crate::`, a module that uses it.
//!
//! A cycle is how a shared state struct grows fields that every module reaches into (the knot
//! `GraphState` once was), so this test reads the sources and fails with the cycle it finds.
//! It sees `crate::` paths only, not methods called on types from another module; keep those
//! pointing the same way as the imports.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level modules of `src/` (a file `x.rs` or a folder `x/`) and the files of each.
fn modules(src: &Path) -> BTreeMap<String, Vec<String>> {
    let mut mods = BTreeMap::new();
    for entry in fs::read_dir(src).expect("src/ is readable") {
        let path = entry.expect("src/ entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" || name == "bin" {
            continue;
        }
        let mut files = Vec::new();
        if path.is_dir() {
            collect_rs(&path, &mut files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(fs::read_to_string(&path).unwrap());
        }
        mods.insert(name, files);
    }
    mods
}

fn collect_rs(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(fs::read_to_string(&path).unwrap());
        }
    }
}

/// Names lib.rs re-exports at the crate root, with the module each comes from
/// (`pub use backward::grad;` gives `grad -> backward`).
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let module = rest.split("::").next().unwrap_or("").to_string();
        let items = rest.rsplit("::").next().unwrap_or("");
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let item = item.trim();
            if !item.is_empty() {
                names.insert(item.to_string(), module.clone());
            }
        }
    }
    names
}

/// The first segment of every `crate::` path in code (comments skipped), `crate::{a, b}` included.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                for item in group.split(',') {
                    found.push(first_segment(item.trim()));
                }
            } else {
                found.push(first_segment(rest));
            }
        }
    }
    found
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Edges module -> modules it uses.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let roots = root_names(&lib);
    let mods = modules(src);
    let mut edges = BTreeMap::new();
    for (name, files) in &mods {
        let mut uses = BTreeSet::new();
        for code in files {
            for seg in crate_paths(code) {
                let target = if mods.contains_key(&seg) {
                    seg
                } else {
                    match roots.get(&seg) {
                        Some(m) if mods.contains_key(m) => m.clone(),
                        _ => continue, // kiln_ir's re-exports (`crate::DType`)
                    }
                };
                if target != *name {
                    uses.insert(target);
                }
            }
        }
        edges.insert(name.clone(), uses);
    }
    edges
}

/// A cycle in `edges`, if there is one, as the path of modules that closes it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // 0: not visited, 1: on the current path, 2: done.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn src_modules_form_a_dag() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = dependencies(&src);
    let listing: Vec<String> = edges
        .iter()
        .map(|(m, uses)| {
            format!(
                "{m} -> {}",
                uses.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert_eq!(
        find_cycle(&edges),
        None,
        "src/ modules use each other in a cycle; dependencies:\n{}",
        listing.join("\n")
    );
    // The layering this test protects: the graph's state is owned below it, evaluation and
    // gradients are built above it.
    for low in ["autograd", "compile", "error"] {
        assert!(
            !edges[low].contains("graph"),
            "{low} must not use graph: {:?}",
            edges[low]
        );
    }
}

#[test]
fn the_checker_sees_a_cycle() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, u)| (m.to_string(), u.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        crate_paths("use crate::{x::Y, Z};\n// crate::w\nlet a = crate::v::f();"),
        ["x", "Z", "v"]
    );
}
