//! The `.kir` printer: walks [`Graph::topo_order`] and writes one line per node with its real
//! id, then `return` with the outputs (omitted when there are none).
//!
//! Everything printed here is read back by `parse.rs` to the same text; in particular floats use
//! Rust's shortest round-tripping `{:?}` form of their own width (f32 values are never widened
//! to f64 first, which would print digits an f32 cannot hold).

use crate::graph::{Graph, NodeId};
use crate::op::Op;
use crate::tensor::TensorData;
use std::fmt::Write;

/// The graph in the `.kir` text format.
pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    for id in g.topo_order() {
        print_node(g, id, &mut out);
        out.push('\n');
    }
    if !g.outputs().is_empty() {
        out.push_str("return ");
        out.push_str(&id_list(g.outputs()));
        out.push('\n');
    }
    out
}

fn id_list(ids: &[NodeId]) -> String {
    let parts: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    parts.join(", ")
}

fn usize_list(xs: &[usize]) -> String {
    let parts: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

fn print_node(g: &Graph, id: NodeId, out: &mut String) {
    // `id` comes from `topo_order`, so the node exists.
    let Ok(node) = g.node(id) else { return };
    // Writing to a String cannot fail; the `let _` keeps that visible.
    let _ = write!(out, "{id} = {}", node.op.name());
    let operands = g.operands(id);
    if !operands.is_empty() {
        out.push(' ');
        out.push_str(&id_list(&operands));
    }
    match &node.op {
        Op::Input { name } | Op::Parameter { name } => {
            out.push(' ');
            out.push_str(&quote(name));
        }
        Op::Constant { value } => {
            out.push(' ');
            let values = literal_values(value.data());
            if value.shape().rank() == 0 && values.len() == 1 {
                out.push_str(&values[0]);
            } else {
                let _ = write!(out, "[{}]", values.join(", "));
            }
        }
        Op::Reduce { axes, .. } => {
            let _ = write!(out, " axes={}", usize_list(axes));
        }
        Op::ArgMax { axis }
        | Op::Concat { axis }
        | Op::Gather { axis }
        | Op::ScatterAdd { axis } => {
            let _ = write!(out, " axis={axis}");
        }
        Op::Permute { perm } => {
            let _ = write!(out, " perm={}", usize_list(perm));
        }
        Op::Slice { ranges } => {
            let parts: Vec<String> = ranges
                .iter()
                .map(|r| format!("{}:{}:{}", r.start, r.end, r.step))
                .collect();
            let _ = write!(out, " [{}]", parts.join(", "));
        }
        Op::Pad { widths, value } => {
            let parts: Vec<String> = widths.iter().map(|(lo, hi)| format!("{lo}:{hi}")).collect();
            let _ = write!(out, " [{}] value={}", parts.join(", "), fmt_f64(*value));
        }
        Op::Random { seed, .. } => {
            let _ = write!(out, " seed={seed}");
        }
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Reshape
        | Op::Expand
        | Op::MatMul => {}
    }
    let _ = write!(out, " : {}", node.ty);
}

/// Each element of a literal as text, row-major.
fn literal_values(data: &TensorData) -> Vec<String> {
    match data {
        TensorData::Bool(v) => v.iter().map(|b| b.to_string()).collect(),
        TensorData::I32(v) => v.iter().map(|x| x.to_string()).collect(),
        TensorData::I64(v) => v.iter().map(|x| x.to_string()).collect(),
        TensorData::F32(v) => v.iter().map(|&x| fmt_f32(x)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| fmt_f64(x)).collect(),
    }
}

/// Shortest text that parses back to the same f32 (`nan` for every NaN).
pub(crate) fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        "nan".into()
    } else {
        // `{:?}` is shortest-round-trip and prints `inf`/`-inf` and `-0.0`.
        format!("{x:?}")
    }
}

/// Shortest text that parses back to the same f64 (`nan` for every NaN).
pub(crate) fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else {
        format!("{x:?}")
    }
}

/// A double-quoted string; `"`, `\` and control characters are escaped so that a name never
/// ends the string or the line early.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
