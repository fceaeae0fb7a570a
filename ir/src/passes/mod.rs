//! Graph optimisation passes that run after autodiff: constant folding, algebraic
//! simplification, common subexpression elimination and dead code elimination, and
//! [`optimize`], which runs them to a fixed point.
//!
//! Every pass is a plain function over `&mut Graph`, returns how many rewrites it made, keeps
//! [`Graph::verify`] true and never changes what the outputs compute (up to the sign of zero:
//! `x + 0 -> x` keeps a `-0.0` that the addition would have turned into `+0.0`). Passes only
//! rewire uses; a node a pass replaced is removed at the end of that pass when nothing uses it,
//! and whatever else became unreachable is left to [`dce`]. Input and parameter nodes are never
//! removed: they define the feed interface.

mod cse;
mod dce;
mod fold_constants;
mod simplify;

#[cfg(test)]
mod tests;

pub use cse::cse;
pub use dce::dce;
pub use fold_constants::{fold_constants, MAX_FOLDED_ELEMENTS};
pub use simplify::simplify;

use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::Op;
use std::collections::HashSet;

/// The most rounds [`optimize`] runs; each round runs every pass once. Real graphs reach the
/// fixed point in two or three; the bound only guards against a rule pair that undoes each
/// other.
pub const MAX_ROUNDS: usize = 16;

/// Runs [`fold_constants`], [`simplify`], [`cse`] and [`dce`] until a round changes nothing (at
/// most [`MAX_ROUNDS`] rounds). Returns the total number of rewrites.
///
/// Errors only on a graph that does not [verify](Graph::verify) to begin with.
pub fn optimize(graph: &mut Graph) -> Result<usize> {
    let mut total = 0;
    for _ in 0..MAX_ROUNDS {
        let n = fold_constants(graph)? + simplify(graph)? + cse(graph)? + dce(graph)?;
        total += n;
        if n == 0 {
            break;
        }
    }
    Ok(total)
}

/// If `id` is a constant whose elements all equal one value (looking through `reshape` and
/// `expand`, which keep that property), that value. NaN never counts as a splat, so no rule
/// keyed on a value ever fires on NaN.
pub(crate) fn splat_value(graph: &Graph, mut id: NodeId) -> Option<f64> {
    loop {
        let node = graph.node(id).ok()?;
        match &node.op {
            Op::Reshape | Op::Expand => id = *graph.operands(id).first()?,
            Op::Constant { value } => {
                let first = if value.numel() == 0 {
                    return None;
                } else {
                    value.get_f64(0)
                };
                if first.is_nan() || (1..value.numel()).any(|i| value.get_f64(i) != first) {
                    return None;
                }
                return Some(first);
            }
            _ => return None,
        }
    }
}

/// Removes the nodes in `replaced` that nothing uses any more, users before operands, so that
/// a pass leaves no garbage of its own making.
pub(crate) fn remove_replaced(graph: &mut Graph, replaced: &[NodeId]) -> Result<()> {
    let set: HashSet<NodeId> = replaced.iter().copied().collect();
    let order: Vec<NodeId> = graph
        .topo_order()
        .into_iter()
        .filter(|id| set.contains(id))
        .collect();
    for &id in order.iter().rev() {
        let keep = !graph.users(id).is_empty()
            || graph.outputs().contains(&id)
            || matches!(graph.node(id)?.op, Op::Input { .. } | Op::Parameter { .. });
        if !keep {
            graph.remove(id)?;
        }
    }
    Ok(())
}
