//! Constant folding: a node whose operands are all constants is evaluated once, at compile
//! time, with the reference interpreter, and replaced by a `const` holding the result.
//!
//! Only small results are folded (at most [`MAX_FOLDED_ELEMENTS`]), so the graph never grows
//! large literals: a broadcast constant stays `expand(const)` and is materialised by the
//! backend, not by the compiler. Nodes whose evaluation fails (an out-of-range gather index)
//! are left alone so the error surfaces at run time, where the user expects it. Random ops are
//! leaves and are never folded. The result is bit-identical to what the interpreter computes.

use super::remove_replaced;
use crate::error::Result;
use crate::graph::Graph;
use crate::interp::evaluate;
use crate::op::Op;
use std::collections::HashMap;

/// The largest result (in elements) that is folded into a literal.
pub const MAX_FOLDED_ELEMENTS: usize = 64;

/// Replaces every non-leaf node whose operands are all constants and whose result has at most
/// [`MAX_FOLDED_ELEMENTS`] elements by a constant; returns how many were folded.
pub fn fold_constants(graph: &mut Graph) -> Result<usize> {
    let mut replaced = Vec::new();
    for id in graph.topo_order() {
        let node = graph.node(id)?.clone();
        if node.op.is_leaf() || node.shape().numel() > MAX_FOLDED_ELEMENTS {
            continue;
        }
        let operands = graph.operands(id);
        let mut values = Vec::with_capacity(operands.len());
        for &o in &operands {
            match &graph.node(o)?.op {
                Op::Constant { value } => values.push(value.clone()),
                _ => break,
            }
        }
        if values.len() != operands.len() {
            continue;
        }
        // Evaluate the one node on a scratch graph of its constant operands.
        let mut scratch = Graph::new();
        let args = values
            .into_iter()
            .map(|v| scratch.constant(v))
            .collect::<Result<Vec<_>>>()?;
        let n = scratch.add(node.op.clone(), &args, Some(node.ty.clone()))?;
        let Ok(mut result) = evaluate(&scratch, &[n], &HashMap::new()) else {
            continue;
        };
        let Some(value) = result.pop() else { continue };
        let c = graph.constant(value)?;
        graph.replace_uses(id, c)?;
        replaced.push(id);
    }
    remove_replaced(graph, &replaced)?;
    Ok(replaced.len())
}
