//! The canonical form of the subgraph a program computes, and the structural cache key made
//! from it ([`ProgramShape`]).
//!
//! [`extract_canonical`] copies the nodes `roots` need into a fresh graph, numbered in the
//! order of a depth-first post-order walk from the roots (in order), visiting each node's
//! operands in operand order. That order depends only on the structure — ops, attributes,
//! types, operand positions, root order — never on the ids the user's graph happened to give,
//! so two graphs that differ only in numbering (a loop that rebuilds the same expression, a
//! graph rebuilt from scratch) yield the same graph, and the same text.
//!
//! Guarantee: equal [`ProgramShape`]s compile to the same program. The key is the whole
//! canonical `.kir` text, not a hash of it, so distinct programs cannot collide: the text
//! round-trips through the parser (`kiln_ir::text`), so it holds every op, attribute, type,
//! constant value (every element, at its own width), input and parameter name, and the output
//! order; the key adds the update bindings. `compile.rs` pairs it with the eager switch and the
//! device.

use crate::Result;
use kiln_ir::NodeId;
use std::collections::HashMap;

/// What a compiled program is keyed by in the per-thread structural cache (with the options).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ProgramShape {
    /// The canonical graph's text, outputs (then update values) included.
    text: String,
    /// The names of the parameters the program updates, in the order of their values among
    /// the outputs.
    updates: Vec<String>,
}

impl ProgramShape {
    /// The key of the canonical graph `ir` (as [`extract_canonical`] builds it) that updates
    /// the parameters `updates` in that order.
    pub(crate) fn new(ir: &kiln_ir::Graph, updates: impl Iterator<Item = String>) -> ProgramShape {
        ProgramShape {
            text: ir.to_text(),
            updates: updates.collect(),
        }
    }
}

/// A new graph holding `roots` and everything they depend on in `ir`, numbered canonically
/// (see the module docs), with `roots` as its outputs, in order.
///
/// # Errors
/// When a root is not a node of `ir` (an IR error naming it).
pub(crate) fn extract_canonical(ir: &kiln_ir::Graph, roots: &[NodeId]) -> Result<kiln_ir::Graph> {
    let mut out = kiln_ir::Graph::new();
    let mut new_id: HashMap<NodeId, NodeId> = HashMap::new();
    for &root in roots {
        ir.node(root)?;
        // (node, its operands, how many of them the walk has entered): a node is copied once
        // every operand has been.
        let mut stack: Vec<(NodeId, Vec<NodeId>, usize)> = Vec::new();
        if !new_id.contains_key(&root) {
            stack.push((root, ir.operands(root), 0));
        }
        while let Some((id, operands, next)) = stack.pop() {
            if let Some(&operand) = operands.get(next) {
                stack.push((id, operands, next + 1));
                if !new_id.contains_key(&operand) {
                    stack.push((operand, ir.operands(operand), 0));
                }
                continue;
            }
            // A node may sit on the stack twice (reached through two users before either was
            // copied); the second visit finds it copied.
            if new_id.contains_key(&id) {
                continue;
            }
            let node = ir.node(id)?;
            // Post-order: every operand was copied before its user, so each lookup succeeds.
            let mapped: Vec<NodeId> = operands
                .iter()
                .filter_map(|o| new_id.get(o).copied())
                .collect();
            let copy = out.add(node.op.clone(), &mapped, Some(node.ty.clone()))?;
            new_id.insert(id, copy);
        }
    }
    let outputs: Vec<NodeId> = roots
        .iter()
        .filter_map(|r| new_id.get(r).copied())
        .collect();
    out.set_outputs(&outputs)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::extract_canonical;
    use kiln_ir::{BinaryOp, DType, Graph, NodeId, ReduceOp, Shape};

    /// `sum(a * b) + a` built after `junk` unrelated nodes, with the leaves created in either
    /// order.
    fn build(junk: usize, a_first: bool) -> kiln_ir::Result<(Graph, NodeId, NodeId)> {
        let mut g = Graph::new();
        let s = Shape::new(&[3])?;
        for i in 0..junk {
            g.scalar(DType::F32, i as f64)?;
        }
        let (a, b) = if a_first {
            let a = g.input("a", DType::F32, s.clone())?;
            (a, g.parameter("b", DType::F32, s)?)
        } else {
            let b = g.parameter("b", DType::F32, s.clone())?;
            (g.input("a", DType::F32, s)?, b)
        };
        let m = g.binary(BinaryOp::Mul, a, b)?;
        let r = g.reduce(ReduceOp::Sum, m, &[0])?;
        let r = g.reshape(r, Shape::new(&[1])?)?;
        let r = g.expand(r, Shape::new(&[3])?)?;
        let sum = g.binary(BinaryOp::Add, r, a)?;
        Ok((g, sum, a))
    }

    #[test]
    fn numbering_does_not_change_the_canonical_text() -> crate::Result<()> {
        let (g1, r1, _) = build(0, true)?;
        let (g2, r2, _) = build(7, false)?;
        let c1 = extract_canonical(&g1, &[r1])?;
        let c2 = extract_canonical(&g2, &[r2])?;
        assert_eq!(c1.to_text(), c2.to_text());
        assert_eq!(c1.len(), g1.ancestors(&[r1]).len());
        Ok(())
    }

    #[test]
    fn output_order_is_part_of_the_form() -> crate::Result<()> {
        let (g, r, a) = build(0, true)?;
        let c1 = extract_canonical(&g, &[r, a])?;
        let c2 = extract_canonical(&g, &[a, r])?;
        assert_ne!(c1.to_text(), c2.to_text());
        Ok(())
    }
}
