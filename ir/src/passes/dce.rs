//! Dead code elimination: removes every node the outputs do not depend on.
//!
//! Inputs and parameters are kept even when unused, because they define the graph's feed
//! interface (an executable's parameter store and feed names must not change because an
//! optimisation found a value unnecessary). Everything else not reachable backwards from
//! [`Graph::outputs`] is removed, users before operands, so `verify()` holds throughout.

use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::Op;
use std::collections::HashSet;

/// Removes the nodes no output depends on (keeping inputs and parameters); returns how many.
pub fn dce(graph: &mut Graph) -> Result<usize> {
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = graph.outputs().to_vec();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(graph.operands(id));
        }
    }
    let mut dead = Vec::new();
    for id in graph.topo_order() {
        if live.contains(&id) {
            continue;
        }
        if matches!(graph.node(id)?.op, Op::Input { .. } | Op::Parameter { .. }) {
            continue;
        }
        dead.push(id);
    }
    // Users of a dead node are dead too, so removing in reverse topological order always finds
    // the node unused.
    for &id in dead.iter().rev() {
        graph.remove(id)?;
    }
    Ok(dead.len())
}
