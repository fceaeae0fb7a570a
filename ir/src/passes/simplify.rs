//! Algebraic simplification: local rewrites that remove work without changing results.
//!
//! The rules (a "splat" is a constant whose elements are all one value, possibly behind
//! `reshape`/`expand`):
//! - `x * 1`, `1 * x`, `x / 1`, `x + 0`, `0 + x`, `x - 0` -> `x` (exact, except that `x + 0`
//!   keeps the sign of a `-0.0` that the addition would have made `+0.0`);
//! - `x * 0` -> `0` for integers only: for floats `inf * 0` and `NaN * 0` are NaN;
//! - `-(-x)` -> `x`; `cast` to the same dtype -> `x`; `where(c, x, x)` -> `x`; `where` with a
//!   constant (splat) condition -> the chosen operand;
//! - `reshape(reshape(x))` -> one reshape; reshape, expand or permute to the same shape/order
//!   -> `x`; `expand(expand(x))` -> one expand; `permute(permute(x))` -> the composed permute;
//! - `reduce.*` over axes that are all size 1 -> `x`;
//! - `reduce.sum(expand(v))` whose reduced axes are exactly the broadcast ones -> `v * count`
//!   (zeros when `count` is 0);
//! - an elementwise op whose operands are all `expand`s of same-shaped values is computed
//!   before the broadcast (`f(expand(a), expand(b))` -> `expand(f(a, b))`): the same values,
//!   with fewer elements computed, and constant operands then fold.
//!
//! A broadcast constant stays `expand(const)`: nothing here materialises it.

use super::{remove_replaced, splat_value};
use crate::autodiff::helpers::full;
use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};

/// Applies the rules once to every node, in topological order; returns how many nodes were
/// replaced. Nodes a rule creates are seen by the next call ([`super::optimize`] iterates).
pub fn simplify(graph: &mut Graph) -> Result<usize> {
    let mut replaced = Vec::new();
    for id in graph.topo_order() {
        if let Some(new) = rewrite(graph, id)? {
            if new != id {
                graph.replace_uses(id, new)?;
                replaced.push(id);
            }
        }
    }
    remove_replaced(graph, &replaced)?;
    Ok(replaced.len())
}

/// The replacement of `id`, if a rule applies.
fn rewrite(graph: &mut Graph, id: NodeId) -> Result<Option<NodeId>> {
    let node = graph.node(id)?.clone();
    let args = graph.operands(id);
    let is = |graph: &Graph, x: NodeId, v: f64| splat_value(graph, x) == Some(v);
    let op_of = |graph: &Graph, x: NodeId| graph.node(x).map(|n| n.op.clone());
    Ok(match (&node.op, args.as_slice()) {
        (Op::Binary(b), &[x, y]) => {
            let r = match b {
                BinaryOp::Mul if is(graph, y, 1.0) => Some(x),
                BinaryOp::Mul if is(graph, x, 1.0) => Some(y),
                BinaryOp::Mul if node.dtype().is_int() && is(graph, y, 0.0) => Some(y),
                BinaryOp::Mul if node.dtype().is_int() && is(graph, x, 0.0) => Some(x),
                BinaryOp::Div if is(graph, y, 1.0) => Some(x),
                BinaryOp::Add if is(graph, y, 0.0) => Some(x),
                BinaryOp::Add if is(graph, x, 0.0) => Some(y),
                BinaryOp::Sub if is(graph, y, 0.0) => Some(x),
                _ => None,
            };
            match r {
                Some(r) => Some(r),
                None => hoist_over_expand(graph, id, &args)?,
            }
        }
        (Op::Unary(UnaryOp::Neg), &[x]) => match op_of(graph, x)? {
            Op::Unary(UnaryOp::Neg) => graph.operands(x).first().copied(),
            _ => hoist_over_expand(graph, id, &args)?,
        },
        (Op::Unary(_), _) => hoist_over_expand(graph, id, &args)?,
        (Op::Cast, &[x]) if graph.node(x)?.dtype() == node.dtype() => Some(x),
        (Op::Where, &[_, a, b]) if a == b => Some(a),
        (Op::Where, &[c, a, b]) => match splat_value(graph, c) {
            Some(v) if v != 0.0 => Some(a),
            Some(_) => Some(b),
            None => None,
        },
        (Op::Reshape, &[x]) => {
            if graph.node(x)?.shape() == node.shape() {
                Some(x)
            } else if let (Op::Reshape, Some(&inner)) =
                (op_of(graph, x)?, graph.operands(x).first())
            {
                Some(graph.reshape(inner, node.shape().clone())?)
            } else {
                None
            }
        }
        (Op::Expand, &[x]) => {
            if graph.node(x)?.shape() == node.shape() {
                Some(x)
            } else if let (Op::Expand, Some(&inner)) = (op_of(graph, x)?, graph.operands(x).first())
            {
                Some(graph.expand(inner, node.shape().clone())?)
            } else {
                None
            }
        }
        (Op::Permute { perm }, &[x]) => {
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                Some(x)
            } else if let (Op::Permute { perm: inner_perm }, Some(&inner)) =
                (op_of(graph, x)?, graph.operands(x).first())
            {
                // Result axis i is x's axis perm[i], which is inner's axis inner_perm[perm[i]].
                let composed: Vec<usize> = perm.iter().map(|&p| inner_perm[p]).collect();
                if composed.iter().enumerate().all(|(i, &p)| i == p) {
                    Some(inner)
                } else {
                    Some(graph.permute(inner, &composed)?)
                }
            } else {
                None
            }
        }
        (Op::Reduce { op, axes }, &[x]) => {
            let xs = graph.node(x)?.shape().clone();
            if axes.iter().all(|&a| xs.dim(a) == 1) {
                Some(x)
            } else if *op == ReduceOp::Sum {
                sum_of_expand(graph, axes, x)?
            } else {
                None
            }
        }
        _ => None,
    })
}

/// `reduce.sum(expand(v), axes)` -> `v * count` when `axes` are exactly the axes `v` was
/// broadcast along (then the result has `v`'s shape and each element is `count` copies of `v`).
fn sum_of_expand(graph: &mut Graph, axes: &[usize], e: NodeId) -> Result<Option<NodeId>> {
    if !matches!(graph.node(e)?.op, Op::Expand) {
        return Ok(None);
    }
    let Some(&v) = graph.operands(e).first() else {
        return Ok(None);
    };
    let (vs, es) = (
        graph.node(v)?.shape().clone(),
        graph.node(e)?.shape().clone(),
    );
    let exact = (0..es.rank()).all(|a| {
        if axes.contains(&a) {
            vs.dim(a) == 1
        } else {
            vs.dim(a) == es.dim(a)
        }
    });
    if !exact {
        return Ok(None);
    }
    let count: usize = axes.iter().map(|&a| es.dim(a)).product();
    if count == 1 {
        return Ok(Some(v));
    }
    let ty = graph.node(v)?.ty.clone();
    if count == 0 {
        // A sum over an empty axis is 0 whatever `v` is (`v * 0` would be NaN for v = inf).
        return Ok(Some(full(graph, &ty, 0.0)?));
    }
    let c = full(graph, &ty, count as f64)?;
    Ok(Some(graph.binary(BinaryOp::Mul, v, c)?))
}

/// `f(expand(a), expand(b), ..)` -> `expand(f(a, b, ..))` for an elementwise `f` whose operands
/// are all expands from one shape.
fn hoist_over_expand(graph: &mut Graph, id: NodeId, args: &[NodeId]) -> Result<Option<NodeId>> {
    let mut inner = Vec::with_capacity(args.len());
    for &a in args {
        if !matches!(graph.node(a)?.op, Op::Expand) {
            return Ok(None);
        }
        match graph.operands(a).first() {
            Some(&i) => inner.push(i),
            None => return Ok(None),
        }
    }
    let Some(&first) = inner.first() else {
        return Ok(None);
    };
    let shape = graph.node(first)?.shape().clone();
    for &i in &inner {
        if *graph.node(i)?.shape() != shape {
            return Ok(None);
        }
    }
    let node = graph.node(id)?.clone();
    let small = graph.add(node.op.clone(), &inner, None)?;
    Ok(Some(graph.expand(small, node.shape().clone())?))
}
