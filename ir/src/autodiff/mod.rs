//! Reverse-mode automatic differentiation as a graph transformation (JAX's design, not a tape).
//!
//! [`grad`] appends the vector-Jacobian-product subgraph of some outputs to the graph and returns
//! one gradient node per requested value. Gradients are ordinary nodes, so they can be
//! optimised, compiled, and differentiated again (higher-order derivatives).
//!
//! Guarantees:
//! - only nodes on a path from a `wrt` node to an output are differentiated, in reverse
//!   topological order; nothing already in the graph is changed, only nodes are added;
//! - each returned gradient has exactly the dtype and shape of its `wrt` node;
//! - gradients of values used more than once are summed;
//! - only floating-point values carry gradients: integer and bool values (comparisons, logic,
//!   argmax, casts to integers, integer inputs) stop the flow, as in PyTorch;
//! - a `wrt` node the outputs do not depend on gets a zeros node (PyTorch would return `None`
//!   or raise; a zeros tensor keeps the result a plain list of same-typed nodes, which is what an
//!   optimiser step wants, and costs nothing after constant folding);
//! - misuse is an `Err`, never a panic (see [`grad`]).
//!
//! The per-op rules are in `vjp.rs`; small builders for filled tensors in [`helpers`]; the
//! finite-difference checker used by the tests in `gradcheck` (feature `testing`).

#[cfg(any(test, feature = "testing"))]
pub mod gradcheck;
pub mod helpers;
mod vjp;

#[cfg(test)]
mod tests;

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::BinaryOp;
use std::collections::{HashMap, HashSet};

/// Appends to `graph` the gradients of `outputs` with respect to `wrt` and returns one gradient
/// node per `wrt` entry (same dtype and shape as that node).
///
/// `seeds[i]` is the incoming gradient of `outputs[i]` (PyTorch's `grad_outputs`): `None` means
/// ones and is allowed only for a floating-point output with one element; `Some(s)` must have
/// the output's dtype and shape. The result is `sum_i seeds[i]^T * d outputs[i] / d wrt`.
///
/// Errors:
/// - [`IrError::Arity`] when `seeds` and `outputs` differ in length;
/// - [`IrError::UnknownNode`] for an output, seed or `wrt` node not in the graph;
/// - [`IrError::Shape`] "grad can be implicitly created only for scalar outputs" for a `None`
///   seed of an output with more than one element, or a seed whose shape differs;
/// - [`IrError::DType`] for a `None` seed of a non-float output, a seed of the wrong dtype, or
///   a `wrt` node that is not floating-point ("only floating-point tensors can require
///   gradients").
///
/// ```
/// use kiln_ir::{autodiff::grad, DType, Graph, Shape, UnaryOp};
///
/// let mut g = Graph::new();
/// let x = g.input("x", DType::F64, Shape::scalar())?;
/// let y = g.unary(UnaryOp::Sin, x)?;
/// let dy = grad(&mut g, &[y], &[None], &[x])?[0]; // cos(x)
/// let d2y = grad(&mut g, &[dy], &[None], &[x])?[0]; // -sin(x)
/// assert_eq!(g.node(d2y)?.ty, g.node(x)?.ty);
/// # Ok::<(), kiln_ir::IrError>(())
/// ```
pub fn grad(
    graph: &mut Graph,
    outputs: &[NodeId],
    seeds: &[Option<NodeId>],
    wrt: &[NodeId],
) -> Result<Vec<NodeId>> {
    grad_stopping(graph, outputs, seeds, wrt, &HashSet::new())
}

/// [`grad`] with a set of nodes no gradient flows through (`stop_gradient`, PyTorch's
/// `detach` and values computed under `no_grad`): they are treated as constants. A `wrt` node
/// in `stop` still receives the gradient that reaches it directly.
pub fn grad_stopping(
    graph: &mut Graph,
    outputs: &[NodeId],
    seeds: &[Option<NodeId>],
    wrt: &[NodeId],
    stop: &HashSet<NodeId>,
) -> Result<Vec<NodeId>> {
    check_arguments(graph, outputs, seeds, wrt)?;

    // The nodes the outputs depend on, in order, and, among them, the floating-point ones that
    // depend on a `wrt` node: the only nodes whose cotangents matter. The order is computed
    // before any gradient node is added, over the needed nodes only (a graph that a training
    // loop keeps growing must not make each step slower).
    let wrt_set: HashSet<NodeId> = wrt.iter().copied().collect();
    let order: Vec<NodeId> = graph.ordered_ancestors(outputs);
    let mut active: HashSet<NodeId> = HashSet::new();
    for &id in &order {
        let node = graph.node(id)?;
        let on_path = wrt_set.contains(&id)
            || (!stop.contains(&id) && graph.operands(id).iter().any(|o| active.contains(o)));
        if on_path && node.dtype().is_float() {
            active.insert(id);
        }
    }

    // Cotangents, accumulated by addition as uses are processed.
    let mut cot: HashMap<NodeId, NodeId> = HashMap::new();
    for (&o, seed) in outputs.iter().zip(seeds) {
        if !active.contains(&o) {
            continue;
        }
        let s = match seed {
            Some(s) => *s,
            None => helpers::ones_like(graph, o)?,
        };
        accumulate(graph, &mut cot, o, s)?;
    }

    for &id in order.iter().rev() {
        if !active.contains(&id) {
            continue;
        }
        let Some(&g) = cot.get(&id) else { continue };
        let operands = graph.operands(id);
        let needs: Vec<bool> = operands.iter().map(|o| active.contains(o)).collect();
        if !needs.iter().any(|&n| n) {
            continue;
        }
        let grads = vjp::vjp(graph, id, g, &needs)?;
        for (&o, d) in operands.iter().zip(grads) {
            if let Some(d) = d {
                if active.contains(&o) {
                    accumulate(graph, &mut cot, o, d)?;
                }
            }
        }
    }

    wrt.iter()
        .map(|&w| match cot.get(&w) {
            Some(&g) => Ok(g),
            None => helpers::zeros_like(graph, w),
        })
        .collect()
}

/// Adds `d` to the cotangent of `node`.
fn accumulate(
    graph: &mut Graph,
    cot: &mut HashMap<NodeId, NodeId>,
    node: NodeId,
    d: NodeId,
) -> Result<()> {
    let sum = match cot.get(&node) {
        Some(&prev) => graph.binary(BinaryOp::Add, prev, d)?,
        None => d,
    };
    cot.insert(node, sum);
    Ok(())
}

/// The argument checks of [`grad`], so that every misuse is reported before anything is added.
fn check_arguments(
    graph: &Graph,
    outputs: &[NodeId],
    seeds: &[Option<NodeId>],
    wrt: &[NodeId],
) -> Result<()> {
    if seeds.len() != outputs.len() {
        return Err(IrError::Arity {
            op: "grad",
            expected: format!("{} seed(s), one per output,", outputs.len()),
            got: seeds.len(),
        });
    }
    for &w in wrt {
        let node = graph.node(w)?;
        if !node.dtype().is_float() {
            return Err(IrError::dtype(
                "grad",
                format!(
                    "only floating-point tensors can require gradients ({w} is {})",
                    node.ty
                ),
            ));
        }
    }
    for (&o, seed) in outputs.iter().zip(seeds) {
        let out = graph.node(o)?.ty.clone();
        match seed {
            None => {
                if !out.dtype.is_float() {
                    return Err(IrError::dtype(
                        "grad",
                        format!(
                            "grad can be implicitly created only for floating-point outputs \
                             ({o} is {out})"
                        ),
                    ));
                }
                if out.shape.numel() != 1 {
                    return Err(IrError::shape(
                        "grad",
                        format!(
                            "grad can be implicitly created only for scalar outputs \
                             ({o} has shape {}); pass a seed",
                            out.shape
                        ),
                    ));
                }
            }
            Some(s) => {
                let st = &graph.node(*s)?.ty;
                if st.dtype != out.dtype {
                    return Err(IrError::dtype(
                        "grad",
                        format!("seed {s} is {st} but output {o} is {out}: dtypes differ"),
                    ));
                }
                if st.shape != out.shape {
                    return Err(IrError::shape(
                        "grad",
                        format!("seed {s} is {st} but output {o} is {out}: shapes differ"),
                    ));
                }
            }
        }
    }
    Ok(())
}
