//! Small builders the VJP rules share: filled tensors ("zeros like x") and axis bookkeeping.
//!
//! A filled tensor is always built as a rank-0 constant, reshaped to all-ones dims of the target
//! rank and expanded, so the graph never holds a large literal; the passes keep that form (a
//! broadcast constant stays scalar + expand). Every function here only adds nodes.

use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::TensorType;
use crate::shape::Shape;

/// A tensor of type `ty` filled with `value`: `expand(reshape(const value))`.
///
/// The graph's builders skip the reshape and the expand when they would be no-ops.
pub fn full(graph: &mut Graph, ty: &TensorType, value: f64) -> Result<NodeId> {
    let c = graph.scalar(ty.dtype, value)?;
    let ones = Shape::new(&vec![1; ty.shape.rank()])?;
    let c = graph.reshape(c, ones)?;
    graph.expand(c, ty.shape.clone())
}

/// A tensor filled with `value` of the same dtype and shape as `like`.
pub fn full_like(graph: &mut Graph, like: NodeId, value: f64) -> Result<NodeId> {
    let ty = graph.node(like)?.ty.clone();
    full(graph, &ty, value)
}

/// Zeros of the same dtype and shape as `like`.
pub fn zeros_like(graph: &mut Graph, like: NodeId) -> Result<NodeId> {
    full_like(graph, like, 0.0)
}

/// Ones of the same dtype and shape as `like`.
pub fn ones_like(graph: &mut Graph, like: NodeId) -> Result<NodeId> {
    full_like(graph, like, 1.0)
}

/// The inverse of a permutation: `inv[perm[i]] = i`.
pub fn inverse_permutation(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        // `perm` is a permutation of 0..rank (checked by the type rule), so `p` is in range.
        inv[p] = i;
    }
    inv
}

/// The axes along which `from` (size 1) was broadcast to `to` (same rank).
pub fn expanded_axes(from: &Shape, to: &Shape) -> Vec<usize> {
    from.dims()
        .iter()
        .zip(to.dims())
        .enumerate()
        .filter(|(_, (&a, &b))| a == 1 && b != 1)
        .map(|(i, _)| i)
        .collect()
}
