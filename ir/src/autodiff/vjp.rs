//! The vector-Jacobian product (VJP) of every primitive: given the cotangent `g` of a node's
//! result, the cotangents of its operands, built as ordinary graph nodes.
//!
//! One exhaustive `match` over [`Op`] (no catch-all), so adding an op makes the compiler ask for
//! its gradient here. Each rule carries the math in a comment. Rules build only the operand
//! gradients that are asked for (`needs`), reuse the forward result where it saves nodes
//! (`d exp(x) = g * exp(x)` reuses `exp(x)`), and use only differentiable primitives on the
//! path from `g`, so a gradient can itself be differentiated (higher order).
//!
//! Non-differentiable values (comparisons, logic, argmax, integer and bool values, random,
//! constants) never carry a cotangent: [`super::grad`] only propagates through floating-point
//! nodes, so their arms return no gradient.

use super::helpers::{expanded_axes, inverse_permutation, zeros_like};
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, SliceRange, UnaryOp};
use crate::shape::Shape;

use BinaryOp::{Add, Div, Eq, Gt, Lt, Mul, Sub};

/// The cotangents of `node`'s operands given the cotangent `g` of its result, one entry per
/// operand: `None` where `needs[i]` is false or the operand gets no gradient.
pub(crate) fn vjp(
    graph: &mut Graph,
    node: NodeId,
    g: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>> {
    let op = graph.node(node)?.op.clone();
    let args = graph.operands(node);
    let need = |i: usize| needs.get(i).copied().unwrap_or(false);
    let mut out: Vec<Option<NodeId>> = vec![None; args.len()];
    // The type rules fix each op's arity, so indexing `args` below is in range; a malformed
    // graph is reported by `arg` rather than by a panic.
    let arg = |i: usize| -> Result<NodeId> {
        args.get(i).copied().ok_or_else(|| IrError::Arity {
            op: "grad",
            expected: (i + 1).to_string(),
            got: args.len(),
        })
    };
    match op {
        // Leaves: nothing to propagate to.
        Op::Input { .. } | Op::Parameter { .. } | Op::Constant { .. } | Op::Random { .. } => {}
        Op::Unary(u) => {
            if need(0) {
                out[0] = Some(unary(graph, u, node, arg(0)?, g)?);
            }
        }
        Op::Binary(b) => {
            let (x, y) = (arg(0)?, arg(1)?);
            let (dx, dy) = binary(graph, b, node, x, y, g, need(0), need(1))?;
            out[0] = dx;
            out[1] = dy;
        }
        // d where(c, a, b) = (where(c, g, 0), where(c, 0, g)); the bool condition gets none.
        Op::Where => {
            let (c, a) = (arg(0)?, arg(1)?);
            if need(1) || need(2) {
                let z = zeros_like(graph, a)?;
                if need(1) {
                    out[1] = Some(graph.select(c, g, z)?);
                }
                if need(2) {
                    out[2] = Some(graph.select(c, z, g)?);
                }
            }
        }
        // d cast(x) = cast(g) back to x's dtype; only float -> float casts reach here, since
        // integer and bool values carry no gradient.
        Op::Cast => {
            let x = arg(0)?;
            if need(0) {
                let dt = graph.node(x)?.dtype();
                out[0] = Some(graph.cast(g, dt)?);
            }
        }
        Op::Reduce { op: r, axes } => {
            let x = arg(0)?;
            if need(0) {
                out[0] = Some(reduce(graph, r, &axes, node, x, g)?);
            }
        }
        // argmax is integer-valued: no gradient.
        Op::ArgMax { .. } => {}
        // d reshape(x) = reshape(g) back to x's shape.
        Op::Reshape => {
            let x = arg(0)?;
            if need(0) {
                let s = graph.node(x)?.shape().clone();
                out[0] = Some(graph.reshape(g, s)?);
            }
        }
        // d permute(x, p) = permute(g, p^-1).
        Op::Permute { perm } => {
            if need(0) {
                out[0] = Some(graph.permute(g, &inverse_permutation(&perm))?);
            }
        }
        // d expand(x) = reduce.sum(g) over the broadcast axes (kept with size 1, i.e. x's shape).
        Op::Expand => {
            let x = arg(0)?;
            if need(0) {
                let from = graph.node(x)?.shape().clone();
                let to = graph.node(node)?.shape().clone();
                let axes = expanded_axes(&from, &to);
                out[0] = Some(if axes.is_empty() {
                    // Only size-1 axes "expanded" to size 1: the shapes already agree.
                    graph.reshape(g, from)?
                } else {
                    graph.reduce(ReduceOp::Sum, g, &axes)?
                });
            }
        }
        Op::Slice { ranges } => {
            let x = arg(0)?;
            if need(0) {
                out[0] = Some(slice(graph, &ranges, x, g)?);
            }
        }
        // d pad(x) = the window of g where x was placed (the fill value is an attribute).
        Op::Pad { widths, .. } => {
            let x = arg(0)?;
            if need(0) {
                let dims = graph.node(x)?.shape().dims().to_vec();
                let ranges = widths
                    .iter()
                    .zip(&dims)
                    .map(|(&(lo, _), &d)| SliceRange {
                        start: lo,
                        end: lo + d,
                        step: 1,
                    })
                    .collect();
                out[0] = Some(graph.add(Op::Slice { ranges }, &[g], None)?);
            }
        }
        // d concat(x_0, .., x_n) = the slices of g where each x_i was placed.
        Op::Concat { axis } => {
            let gdims = graph.node(g)?.shape().dims().to_vec();
            let mut offset = 0;
            for (i, &x) in args.iter().enumerate() {
                let size = graph.node(x)?.shape().dim(axis);
                if need(i) {
                    let ranges = gdims
                        .iter()
                        .enumerate()
                        .map(|(a, &d)| {
                            if a == axis {
                                SliceRange {
                                    start: offset,
                                    end: offset + size,
                                    step: 1,
                                }
                            } else {
                                SliceRange {
                                    start: 0,
                                    end: d,
                                    step: 1,
                                }
                            }
                        })
                        .collect();
                    out[i] = Some(graph.add(Op::Slice { ranges }, &[g], None)?);
                }
                offset += size;
            }
        }
        // d gather(src, idx) / d src = scatter_add(zeros_like(src), idx, g); idx is integer.
        Op::Gather { axis } => {
            let (src, idx) = (arg(0)?, arg(1)?);
            if need(0) {
                let z = zeros_like(graph, src)?;
                out[0] = Some(graph.add(Op::ScatterAdd { axis }, &[z, idx, g], None)?);
            }
        }
        // d scatter_add(base, idx, src) = (g, gather(g, idx)); idx is integer.
        Op::ScatterAdd { axis } => {
            let idx = arg(1)?;
            if need(0) {
                out[0] = Some(g);
            }
            if need(2) {
                out[2] = Some(graph.add(Op::Gather { axis }, &[g, idx], None)?);
            }
        }
        // C = A @ B:  dA = g @ B^T,  dB = A^T @ g  (transposing the last two axes; batch dims
        // are identical by the type rule, so nothing is summed over them).
        Op::MatMul => {
            let (a, b) = (arg(0)?, arg(1)?);
            let rank = graph.node(a)?.shape().rank();
            let mut t: Vec<usize> = (0..rank).collect();
            t.swap(rank - 2, rank - 1);
            if need(0) {
                let bt = graph.permute(b, &t)?;
                out[0] = Some(graph.matmul(g, bt)?);
            }
            if need(1) {
                let at = graph.permute(a, &t)?;
                out[1] = Some(graph.matmul(at, g)?);
            }
        }
    }
    Ok(out)
}

/// Unary rules; `y` is the forward result `u(x)`.
fn unary(graph: &mut Graph, u: UnaryOp, y: NodeId, x: NodeId, g: NodeId) -> Result<NodeId> {
    match u {
        // d (-x) = -g
        UnaryOp::Neg => graph.unary(UnaryOp::Neg, g),
        // d exp(x) = g * exp(x)
        UnaryOp::Exp => graph.binary(Mul, g, y),
        // d log(x) = g / x
        UnaryOp::Log => graph.binary(Div, g, x),
        // d sin(x) = g * cos(x)
        UnaryOp::Sin => {
            let c = graph.unary(UnaryOp::Cos, x)?;
            graph.binary(Mul, g, c)
        }
        // d cos(x) = -(g * sin(x))
        UnaryOp::Cos => {
            let s = graph.unary(UnaryOp::Sin, x)?;
            let gs = graph.binary(Mul, g, s)?;
            graph.unary(UnaryOp::Neg, gs)
        }
        // d tanh(x) = g * (1 - tanh(x)^2) = g - (g * y) * y   (no constant needed)
        UnaryOp::Tanh => {
            let gy = graph.binary(Mul, g, y)?;
            let gyy = graph.binary(Mul, gy, y)?;
            graph.binary(Sub, g, gyy)
        }
        // d sigmoid(x) = g * y * (1 - y) = g*y - g*y*y, from the saved output: finite for
        // every x (the composite 1/(1+e^-x) multiplies 0 by e^90 = inf at x = -90).
        UnaryOp::Sigmoid => {
            let gy = graph.binary(Mul, g, y)?;
            let gyy = graph.binary(Mul, gy, y)?;
            graph.binary(Sub, gy, gyy)
        }
        // d sqrt(x) = g / (2 sqrt(x)) = g / (y + y)
        UnaryOp::Sqrt => {
            let two_y = graph.binary(Add, y, y)?;
            graph.binary(Div, g, two_y)
        }
        // d (1/x) = -g / x^2 = -(g * y * y)
        UnaryOp::Recip => {
            let gy = graph.binary(Mul, g, y)?;
            let gyy = graph.binary(Mul, gy, y)?;
            graph.unary(UnaryOp::Neg, gyy)
        }
        // d |x| = g * sign(x), with sign(0) = 0 as PyTorch: where(x > 0, g, where(x < 0, -g, 0))
        UnaryOp::Abs => {
            let z = zeros_like(graph, x)?;
            let pos = graph.binary(Gt, x, z)?;
            let neg = graph.binary(Lt, x, z)?;
            let ng = graph.unary(UnaryOp::Neg, g)?;
            let inner = graph.select(neg, ng, z)?;
            graph.select(pos, g, inner)
        }
        // Logical not is bool-valued and never carries a cotangent; reaching here is a bug in
        // the caller, reported rather than answered with a wrong gradient.
        UnaryOp::Not => Err(IrError::Unsupported(
            "grad: `not` is not differentiable".into(),
        )),
    }
}

/// Binary rules; `z` is the forward result `b(x, y)`.
#[allow(clippy::too_many_arguments)]
fn binary(
    graph: &mut Graph,
    b: BinaryOp,
    z: NodeId,
    x: NodeId,
    y: NodeId,
    g: NodeId,
    nx: bool,
    ny: bool,
) -> Result<(Option<NodeId>, Option<NodeId>)> {
    let mut dx = None;
    let mut dy = None;
    match b {
        // d (x + y) = (g, g)
        BinaryOp::Add => {
            dx = nx.then_some(g);
            dy = ny.then_some(g);
        }
        // d (x - y) = (g, -g)
        BinaryOp::Sub => {
            dx = nx.then_some(g);
            if ny {
                dy = Some(graph.unary(UnaryOp::Neg, g)?);
            }
        }
        // d (x * y) = (g * y, g * x)
        BinaryOp::Mul => {
            if nx {
                dx = Some(graph.binary(Mul, g, y)?);
            }
            if ny {
                dy = Some(graph.binary(Mul, g, x)?);
            }
        }
        // d (x / y) = (g / y, -g * x / y^2) = (g / y, -((g / y) * z))
        BinaryOp::Div => {
            let gy = graph.binary(Div, g, y)?;
            if nx {
                dx = Some(gy);
            }
            if ny {
                let t = graph.binary(Mul, gy, z)?;
                dy = Some(graph.unary(UnaryOp::Neg, t)?);
            }
        }
        // d max(x, y): g goes to the larger operand; on ties each gets g/2 (PyTorch's
        // `maximum` backward). d min is the same with the smaller operand.
        BinaryOp::Max | BinaryOp::Min => {
            let wins = if b == BinaryOp::Max { Gt } else { Lt };
            let loses = if b == BinaryOp::Max { Lt } else { Gt };
            let tie = graph.binary(Eq, x, y)?;
            let zero = zeros_like(graph, g)?;
            let half = super::helpers::full_like(graph, g, 0.5)?;
            let half_g = graph.binary(Mul, g, half)?;
            let tied = graph.select(tie, half_g, zero)?;
            if nx {
                let m = graph.binary(wins, x, y)?;
                dx = Some(graph.select(m, g, tied)?);
            }
            if ny {
                let m = graph.binary(loses, x, y)?;
                dy = Some(graph.select(m, g, tied)?);
            }
        }
        // z = x^y:
        //   dx = g * y * x^(y-1), and 0 where y == 0 (so 0^-1 never makes 0 * inf = NaN);
        //   dy = g * log(x) * z, and 0 where x == 0 and y >= 0 (so log(0) never makes NaN).
        // Both masks are PyTorch's (`pow_backward_self`, `pow_backward_exponent`).
        BinaryOp::Pow => {
            let zero = zeros_like(graph, g)?;
            if nx {
                let one = super::helpers::ones_like(graph, g)?;
                let ym1 = graph.binary(Sub, y, one)?;
                let p = graph.binary(BinaryOp::Pow, x, ym1)?;
                let yp = graph.binary(Mul, y, p)?;
                let gyp = graph.binary(Mul, g, yp)?;
                let y0 = graph.binary(Eq, y, zero)?;
                dx = Some(graph.select(y0, zero, gyp)?);
            }
            if ny {
                let lx = graph.unary(UnaryOp::Log, x)?;
                let lz = graph.binary(Mul, lx, z)?;
                let glz = graph.binary(Mul, g, lz)?;
                let x0 = graph.binary(Eq, x, zero)?;
                let ynn = graph.binary(BinaryOp::Ge, y, zero)?;
                let mask = graph.binary(BinaryOp::And, x0, ynn)?;
                dy = Some(graph.select(mask, zero, glz)?);
            }
        }
        // Comparisons and logic are bool-valued: no gradient flows through them.
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => {}
    }
    Ok((dx, dy))
}

/// Reduction rules; `y` is the forward result (axes kept with size 1, so `g` expands back).
fn reduce(
    graph: &mut Graph,
    r: ReduceOp,
    axes: &[usize],
    y: NodeId,
    x: NodeId,
    g: NodeId,
) -> Result<NodeId> {
    let xs = graph.node(x)?.shape().clone();
    match r {
        // d sum(x) = expand(g)
        ReduceOp::Sum => graph.expand(g, xs),
        // d amax(x) = mask * expand(g / count(mask)), mask = (x == expand(max)): the gradient
        // is split evenly among tied maxima, as PyTorch's `amax` backward does. (If x holds a
        // NaN the mask is empty there and the gradient is NaN, as in PyTorch.)
        ReduceOp::Max => {
            let dt = graph.node(x)?.dtype();
            let ey = graph.expand(y, xs.clone())?;
            let mask = graph.binary(Eq, x, ey)?;
            let maskf = graph.cast(mask, dt)?;
            let count = graph.reduce(ReduceOp::Sum, maskf, axes)?;
            let share = graph.binary(Div, g, count)?;
            let eshare = graph.expand(share, xs)?;
            graph.binary(Mul, maskf, eshare)
        }
    }
}

/// d slice(x) = g placed back into zeros of x's shape at the sliced positions.
///
/// Axes with step > 1 are first spread out: on that axis `g` (length n) becomes
/// `[g0, 0.., g1, 0.., .., g(n-1)]` of length `(n-1)*step + 1`, by viewing it as
/// `[A, n, 1, B]`, padding the new axis to `step`, merging to `[A, n*step, B]` and cutting the
/// trailing zeros. One final `pad` then places the window at its starts.
fn slice(graph: &mut Graph, ranges: &[SliceRange], x: NodeId, g: NodeId) -> Result<NodeId> {
    let xdims = graph.node(x)?.shape().dims().to_vec();
    let mut dims = graph.node(g)?.shape().dims().to_vec();
    if dims.contains(&0) {
        // Nothing was taken: the gradient is all zeros.
        return zeros_like(graph, x);
    }
    let mut cur = g;
    for (axis, r) in ranges.iter().enumerate() {
        if r.step == 1 {
            continue;
        }
        let n = dims[axis];
        let a: usize = dims[..axis].iter().product();
        let b: usize = dims[axis + 1..].iter().product();
        let t = graph.reshape(cur, Shape::new(&[a, n, 1, b])?)?;
        let t = graph.add(
            Op::Pad {
                widths: vec![(0, 0), (0, 0), (0, r.step - 1), (0, 0)],
                value: 0.0,
            },
            &[t],
            None,
        )?;
        let t = graph.reshape(t, Shape::new(&[a, n * r.step, b])?)?;
        let len = (n - 1) * r.step + 1;
        let t = graph.add(
            Op::Slice {
                ranges: vec![
                    SliceRange {
                        start: 0,
                        end: a,
                        step: 1,
                    },
                    SliceRange {
                        start: 0,
                        end: len,
                        step: 1,
                    },
                    SliceRange {
                        start: 0,
                        end: b,
                        step: 1,
                    },
                ],
            },
            &[t],
            None,
        )?;
        dims[axis] = len;
        cur = graph.reshape(t, Shape::new(&dims)?)?;
    }
    // `start + len <= end <= dim` by the slice type rule, so the subtraction cannot underflow.
    let widths: Vec<(usize, usize)> = ranges
        .iter()
        .zip(&dims)
        .zip(&xdims)
        .map(|((r, &len), &d)| (r.start, d - r.start - len))
        .collect();
    if widths.iter().all(|&w| w == (0, 0)) {
        return Ok(cur);
    }
    graph.add(Op::Pad { widths, value: 0.0 }, &[cur], None)
}
