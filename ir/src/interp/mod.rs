//! The reference interpreter: the definition of every op's semantics and the oracle every
//! compiled backend is tested against. It favours clarity over speed.
//!
//! Guarantees:
//! - every node is computed in `f64` and then rounded once to its dtype with [`crate::DType::round`],
//!   so a stored value is always exactly representable in its dtype. For `f32` add, sub, mul,
//!   div and sqrt this single rounding gives exactly the IEEE-754 `f32` result (f64 carries more
//!   than twice f32's precision); other `f32` functions are within one ulp of correctly rounded;
//! - `bool`, `i32` and `i64` values are held exactly as `f64`, except `i64` magnitudes beyond
//!   2^53, which lose precision. Integer arithmetic that overflows saturates at the dtype's range
//!   (the rounding rule), where PyTorch would wrap;
//! - sums (`reduce.sum`, `matmul`, `scatter_add`) accumulate in `f64` in row-major order of the
//!   summed elements (`matmul`: `k = 0..K`) and round once at the end;
//! - only the nodes the requested outputs depend on are evaluated, in [`Graph::topo_order`];
//! - value-dependent failures (an out-of-range `gather`/`scatter_add` index) are
//!   [`IrError::Runtime`] errors naming the node, never panics.

mod elementwise;
mod index;
mod indexing;
mod reduce;
mod view;

use crate::error::{IrError, Result};
use crate::graph::{Graph, Node, NodeId};
use crate::op::{Distribution, Op, TensorType};
use crate::philox::{philox_normal, philox_uniform};
use crate::tensor::HostTensor;
use std::collections::{HashMap, HashSet};

/// A computed value: its type and its elements in row-major order, each already rounded to the
/// dtype.
#[derive(Clone, Debug)]
struct Value {
    ty: TensorType,
    data: Vec<f64>,
}

/// Where a run-time error happened: the op and the node being evaluated.
#[derive(Clone, Copy, Debug)]
struct Site {
    op: &'static str,
    node: NodeId,
}

impl Site {
    fn error(self, msg: String) -> IrError {
        IrError::Runtime {
            op: self.op,
            node: self.node,
            msg,
        }
    }
}

/// Evaluates `outputs` of `graph`, feeding `input` and `param` nodes from `feeds` by name.
///
/// Only the nodes the outputs depend on are computed, so feeds of unrelated inputs may be
/// omitted. Errors: [`IrError::UnknownNode`] if an output is not in the graph,
/// [`IrError::MissingFeed`] if a needed input or parameter has no feed,
/// [`IrError::FeedMismatch`] if a feed's dtype or shape differs from the node's declared type,
/// and [`IrError::Runtime`] for value-dependent failures such as an out-of-range gather index.
///
/// ```
/// use kiln_ir::{evaluate, BinaryOp, DType, Graph, HostTensor, Shape};
/// use std::collections::HashMap;
///
/// let mut g = Graph::new();
/// let x = g.input("x", DType::F32, Shape::new(&[2])?)?;
/// let y = g.binary(BinaryOp::Mul, x, x)?;
/// let feeds = HashMap::from([("x".to_string(), HostTensor::from(vec![3.0f32, -1.5]))]);
/// let out = evaluate(&g, &[y], &feeds)?;
/// assert_eq!(out[0].as_f32()?, &[9.0, 2.25]);
/// # Ok::<(), kiln_ir::IrError>(())
/// ```
pub fn evaluate(
    graph: &Graph,
    outputs: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>> {
    for &o in outputs {
        graph.node(o)?;
    }
    let needed = needed_nodes(graph, outputs);
    let mut values: HashMap<NodeId, Value> = HashMap::with_capacity(needed.len());
    for id in graph.topo_order() {
        if !needed.contains(&id) {
            continue;
        }
        let node = graph.node(id)?;
        let operand_ids = graph.operands(id);
        let args = operand_ids
            .iter()
            .map(|o| values.get(o).ok_or(IrError::UnknownNode(*o)))
            .collect::<Result<Vec<&Value>>>()?;
        let raw = eval_node(id, node, &args, feeds)?;
        let dtype = node.dtype();
        let data = raw.into_iter().map(|v| dtype.round(v)).collect();
        values.insert(
            id,
            Value {
                ty: node.ty.clone(),
                data,
            },
        );
    }
    outputs
        .iter()
        .map(|o| {
            let v = values.get(o).ok_or(IrError::UnknownNode(*o))?;
            HostTensor::from_f64(v.ty.dtype, v.ty.shape.clone(), &v.data)
        })
        .collect()
}

/// Evaluates the graph's own outputs ([`Graph::outputs`]); see [`evaluate`].
pub fn evaluate_outputs(
    graph: &Graph,
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>> {
    evaluate(graph, graph.outputs(), feeds)
}

/// The outputs and everything they transitively depend on.
fn needed_nodes(graph: &Graph, outputs: &[NodeId]) -> HashSet<NodeId> {
    let mut needed = HashSet::new();
    let mut stack: Vec<NodeId> = outputs.to_vec();
    while let Some(id) = stack.pop() {
        if needed.insert(id) {
            stack.extend(graph.operands(id));
        }
    }
    needed
}

/// The operands as a fixed-size array; the graph's type rules guarantee the count, so a
/// mismatch means a corrupted graph and is reported rather than panicking.
fn operands<'a, const N: usize>(op: &Op, args: &[&'a Value]) -> Result<[&'a Value; N]> {
    <[&'a Value; N]>::try_from(args).map_err(|_| IrError::Arity {
        op: op.name(),
        expected: N.to_string(),
        got: args.len(),
    })
}

/// One node's elements before rounding to its dtype. One arm per op, no catch-all: adding an op
/// makes the compiler ask for its semantics here.
fn eval_node(
    id: NodeId,
    node: &Node,
    args: &[&Value],
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<f64>> {
    let op = &node.op;
    let out = &node.ty;
    let site = Site {
        op: op.name(),
        node: id,
    };
    match op {
        Op::Input { name } | Op::Parameter { name } => feed(id, name, out, feeds),
        Op::Constant { value } => Ok(value.to_f64_vec()),
        Op::Random { dist, seed } => Ok(random(*dist, *seed, out.shape.numel())),
        Op::Unary(u) => {
            let [x] = operands(op, args)?;
            Ok(elementwise::unary(*u, x))
        }
        Op::Binary(b) => {
            let [x, y] = operands(op, args)?;
            Ok(elementwise::binary(*b, x, y))
        }
        Op::Where => {
            let [c, x, y] = operands(op, args)?;
            Ok(elementwise::select(c, x, y))
        }
        Op::Cast => {
            // The conversion is the rounding to the declared dtype that follows every node.
            let [x] = operands(op, args)?;
            Ok(x.data.clone())
        }
        Op::Reduce { op: r, axes } => {
            let [x] = operands(op, args)?;
            Ok(reduce::reduce(*r, axes, x, &out.shape))
        }
        Op::ArgMax { axis } => {
            let [x] = operands(op, args)?;
            Ok(reduce::argmax(*axis, x, &out.shape))
        }
        Op::MatMul => {
            let [a, b] = operands(op, args)?;
            Ok(reduce::matmul(a, b, &out.shape))
        }
        Op::Reshape => {
            // Row-major data is unchanged; only the shape (the node's type) differs.
            let [x] = operands(op, args)?;
            Ok(x.data.clone())
        }
        Op::Permute { perm } => {
            let [x] = operands(op, args)?;
            Ok(view::permute(perm, x, &out.shape))
        }
        Op::Expand => {
            let [x] = operands(op, args)?;
            Ok(view::expand(x, &out.shape))
        }
        Op::Slice { ranges } => {
            let [x] = operands(op, args)?;
            Ok(view::slice(ranges, x, &out.shape))
        }
        Op::Pad { widths, value } => {
            let [x] = operands(op, args)?;
            Ok(view::pad(widths, *value, x, &out.shape))
        }
        Op::Concat { axis } => Ok(view::concat(*axis, args, &out.shape)),
        Op::Gather { axis } => {
            let [src, idx] = operands(op, args)?;
            indexing::gather(site, *axis, src, idx)
        }
        Op::ScatterAdd { axis } => {
            let [base, idx, src] = operands(op, args)?;
            indexing::scatter_add(site, *axis, base, idx, src)
        }
    }
}

/// The fed value of an `input` or `param` node, checked against its declared type.
fn feed(
    id: NodeId,
    name: &str,
    declared: &TensorType,
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<f64>> {
    let t = feeds.get(name).ok_or_else(|| IrError::MissingFeed {
        name: name.to_string(),
        node: id,
    })?;
    if t.dtype() != declared.dtype || *t.shape() != declared.shape {
        return Err(IrError::FeedMismatch {
            name: name.to_string(),
            expected_dtype: declared.dtype,
            expected_shape: declared.shape.clone(),
            got_dtype: t.dtype(),
            got_shape: t.shape().clone(),
        });
    }
    Ok(t.to_f64_vec())
}

// random: element i = philox_uniform(seed, i) or philox_normal(seed, i), computed as f32.
fn random(dist: Distribution, seed: u64, numel: usize) -> Vec<f64> {
    let element = match dist {
        Distribution::Uniform => philox_uniform,
        Distribution::Normal => philox_normal,
    };
    (0..numel)
        .map(|i| f64::from(element(seed, i as u64)))
        .collect()
}

/// `1.0` for true, `0.0` for false: how `bool` values are held.
fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}
