//! Common subexpression elimination by structural hashing.
//!
//! Two nodes are the same value when they have the same op (with all its attributes), the same
//! result type and the same operands (in order, except for commutative ops whose operands are
//! sorted). Ops are hashed through [`OpKey`], which mirrors [`Op`] field by field — never through
//! `Debug` strings — and compares constants and float attributes by their bits, so `0.0` and
//! `-0.0` (or two NaN payloads) stay distinct. Inputs and parameters are never merged (each is a
//! distinct feed). Random ops with equal seeds and types are merged: they are pure functions of
//! `(seed, index)`. Nodes are visited in topological order, so operands are already canonical
//! when their users are keyed, and one sweep finds every duplicate.

use super::remove_replaced;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Distribution, Op, ReduceOp, SliceRange, TensorType, UnaryOp};
use crate::shape::AxisList;
use crate::tensor::TensorData;
use std::collections::HashMap;

/// A hashable image of an [`Op`]: equal keys mean the ops compute the same function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum OpKey {
    Constant { dtype: DType, bits: Vec<u64> },
    Unary(UnaryOp),
    Binary(BinaryOp),
    Where,
    Cast,
    Reduce(ReduceOp, AxisList),
    ArgMax(usize),
    Reshape,
    Permute(AxisList),
    Expand,
    Slice(Vec<SliceRange>),
    Pad(Vec<(usize, usize)>, u64),
    Concat(usize),
    Gather(usize),
    ScatterAdd(usize),
    MatMul,
    Random(Distribution, u64),
}

/// The key of `op`, or `None` for ops that must never be merged (inputs and parameters).
fn op_key(op: &Op) -> Option<OpKey> {
    Some(match op {
        Op::Input { .. } | Op::Parameter { .. } => return None,
        Op::Constant { value } => OpKey::Constant {
            dtype: value.dtype(),
            bits: match value.data() {
                TensorData::Bool(v) => v.iter().map(|&b| u64::from(b)).collect(),
                TensorData::I32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
                TensorData::I64(v) => v.iter().map(|&x| x as u64).collect(),
                TensorData::F32(v) => v.iter().map(|&x| u64::from(x.to_bits())).collect(),
                TensorData::F64(v) => v.iter().map(|&x| x.to_bits()).collect(),
            },
        },
        Op::Unary(u) => OpKey::Unary(*u),
        Op::Binary(b) => OpKey::Binary(*b),
        Op::Where => OpKey::Where,
        Op::Cast => OpKey::Cast,
        Op::Reduce { op, axes } => OpKey::Reduce(*op, axes.clone()),
        Op::ArgMax { axis } => OpKey::ArgMax(*axis),
        Op::Reshape => OpKey::Reshape,
        Op::Permute { perm } => OpKey::Permute(perm.clone()),
        Op::Expand => OpKey::Expand,
        Op::Slice { ranges } => OpKey::Slice(ranges.clone()),
        Op::Pad { widths, value } => OpKey::Pad(widths.clone(), value.to_bits()),
        Op::Concat { axis } => OpKey::Concat(*axis),
        Op::Gather { axis } => OpKey::Gather(*axis),
        Op::ScatterAdd { axis } => OpKey::ScatterAdd(*axis),
        Op::MatMul => OpKey::MatMul,
        Op::Random { dist, seed } => OpKey::Random(*dist, *seed),
    })
}

/// Merges structurally identical nodes; returns how many nodes were merged away.
pub fn cse(graph: &mut Graph) -> Result<usize> {
    let mut seen: HashMap<(OpKey, TensorType, Vec<NodeId>), NodeId> = HashMap::new();
    let mut replaced = Vec::new();
    for id in graph.topo_order() {
        let node = graph.node(id)?;
        let Some(key) = op_key(&node.op) else {
            continue;
        };
        let mut operands = graph.operands(id);
        if matches!(&node.op, Op::Binary(b) if b.is_commutative()) {
            operands.sort_unstable();
        }
        let full = (key, node.ty.clone(), operands);
        match seen.get(&full) {
            Some(&canon) => {
                graph.replace_uses(id, canon)?;
                replaced.push(id);
            }
            None => {
                seen.insert(full, id);
            }
        }
    }
    remove_replaced(graph, &replaced)?;
    Ok(replaced.len())
}
