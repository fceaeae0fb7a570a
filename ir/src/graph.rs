//! The graph: a `petgraph` `StableGraph` whose nodes are typed ops and whose edges carry the
//! operand position. Node ids stay valid when other nodes are removed (passes rely on that), and
//! `%N` in the text format is exactly `NodeId(N)`.

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::op::{infer, BinaryOp, Op, ReduceOp, TensorType, UnaryOp};
use crate::shape::{AxisList, Shape};
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use std::fmt;

/// A node's id; prints as `%N`, as in the text format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    fn index(self) -> NodeIndex<u32> {
        NodeIndex::new(self.0 as usize)
    }
}

impl From<NodeIndex<u32>> for NodeId {
    fn from(i: NodeIndex<u32>) -> NodeId {
        NodeId(i.index() as u32)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// An op with its result type.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node computes.
    pub op: Op,
    /// The result type.
    pub ty: TensorType,
}

impl Node {
    /// The result dtype.
    pub fn dtype(&self) -> DType {
        self.ty.dtype
    }

    /// The result shape.
    pub fn shape(&self) -> &Shape {
        &self.ty.shape
    }
}

/// A tensor program: typed nodes, operand edges (weight = operand position) and an ordered list
/// of outputs.
///
/// Invariants kept by every method: the graph is acyclic (operands must exist before their
/// users), every node's type agrees with its op's type rule, and edges of a node are numbered
/// `0..arity` without gaps.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: StableGraph<Node, u32, petgraph::Directed, u32>,
    outputs: Vec<NodeId>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds a node whose type is derived from its operands (or, for ops that
    /// [take a declared type](Op::takes_declared_type), from `declared`).
    pub fn add(
        &mut self,
        op: Op,
        operands: &[NodeId],
        declared: Option<TensorType>,
    ) -> Result<NodeId> {
        let types = operands
            .iter()
            .map(|&id| Ok(self.node(id)?.ty.clone()))
            .collect::<Result<Vec<_>>>()?;
        let ty = infer(&op, &types, declared.as_ref())?;
        let id = NodeId::from(self.g.add_node(Node { op, ty }));
        for (pos, &src) in operands.iter().enumerate() {
            self.g.add_edge(src.index(), id.index(), pos as u32);
        }
        Ok(id)
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.g
            .node_weight(id.index())
            .ok_or(IrError::UnknownNode(id))
    }

    /// True when `id` is a node of this graph.
    pub fn contains(&self, id: NodeId) -> bool {
        self.g.contains_node(id.index())
    }

    /// The operands of `id`, in order.
    pub fn operands(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<(u32, NodeId)> = self
            .g
            .edges_directed(id.index(), Direction::Incoming)
            .map(|e| (*e.weight(), NodeId::from(e.source())))
            .collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, n)| n).collect()
    }

    /// The distinct nodes that use `id` as an operand, in id order.
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut users: Vec<NodeId> = self
            .g
            .edges_directed(id.index(), Direction::Outgoing)
            .map(|e| NodeId::from(e.target()))
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// All node ids in increasing order. Because operands must exist before their users and ids
    /// are only reused after removal, this is not necessarily a topological order; use
    /// [`Graph::topo_order`] for evaluation.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.g.node_indices().map(NodeId::from).collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// `roots` and every node they transitively depend on (the nodes evaluating them needs).
    pub fn ancestors(&self, roots: &[NodeId]) -> std::collections::HashSet<NodeId> {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.operands(id));
            }
        }
        seen
    }

    /// `roots` and their ancestors ([`Graph::ancestors`]) in [`Graph::topo_order`]'s order,
    /// found in time proportional to that subgraph, not to the whole graph. (A subgraph closed
    /// under operands becomes ready in the same order with or without the rest of the graph,
    /// so the order is the whole graph's filtered to it.)
    pub fn ordered_ancestors(&self, roots: &[NodeId]) -> Vec<NodeId> {
        self.kahn_order(self.ancestors(roots))
    }

    /// Every node in an order where operands come before users (ties broken by id, so the order
    /// is deterministic).
    pub fn topo_order(&self) -> Vec<NodeId> {
        self.kahn_order(self.node_ids())
    }

    /// Kahn's algorithm over `nodes`, a set closed under operands, with a min-heap so that the
    /// order is stable across runs and printers.
    fn kahn_order(&self, nodes: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashMap};
        // One count per operand edge: an operand used twice is waited for twice.
        let mut pending: HashMap<NodeId, usize> = nodes
            .into_iter()
            .map(|id| {
                let edges = self
                    .g
                    .edges_directed(id.index(), Direction::Incoming)
                    .count();
                (id, edges)
            })
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeId>> = pending
            .iter()
            .filter(|(_, &n)| n == 0)
            .map(|(&id, _)| Reverse(id))
            .collect();
        let mut order = Vec::with_capacity(pending.len());
        while let Some(Reverse(id)) = ready.pop() {
            order.push(id);
            for e in self.g.edges_directed(id.index(), Direction::Outgoing) {
                let user = NodeId::from(e.target());
                if let Some(n) = pending.get_mut(&user) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(Reverse(user));
                    }
                }
            }
        }
        order
    }

    /// The graph's outputs, in order.
    pub fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// Sets the outputs (each must be a node of the graph).
    pub fn set_outputs(&mut self, outputs: &[NodeId]) -> Result<()> {
        for &o in outputs {
            self.node(o)?;
        }
        self.outputs = outputs.to_vec();
        Ok(())
    }

    /// Removes a node that nothing uses and that is not an output.
    pub fn remove(&mut self, id: NodeId) -> Result<Node> {
        self.node(id)?;
        if !self.users(id).is_empty() || self.outputs.contains(&id) {
            return Err(IrError::Unsupported(format!(
                "cannot remove {id}: it is still used"
            )));
        }
        self.g
            .remove_node(id.index())
            .ok_or(IrError::UnknownNode(id))
    }

    /// Points every use of `old` (operand edges and outputs) at `new`, which must have the same
    /// type and must not depend on `old`.
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) -> Result<()> {
        let (to, tn) = (self.node(old)?.ty.clone(), self.node(new)?.ty.clone());
        if to != tn {
            return Err(IrError::Unsupported(format!(
                "cannot replace {old} ({to}) with {new} ({tn}): types differ"
            )));
        }
        let uses: Vec<(NodeIndex<u32>, u32, petgraph::stable_graph::EdgeIndex<u32>)> = self
            .g
            .edges_directed(old.index(), Direction::Outgoing)
            .map(|e| (e.target(), *e.weight(), e.id()))
            .collect();
        for (target, pos, edge) in uses {
            self.g.remove_edge(edge);
            self.g.add_edge(new.index(), target, pos);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
        Ok(())
    }

    /// The input node named `name`, if any.
    pub fn find_input(&self, name: &str) -> Option<NodeId> {
        self.node_ids()
            .into_iter()
            .find(|&id| matches!(&self.g[id.index()].op, Op::Input { name: n } if n == name))
    }

    /// All `input` nodes, in id order.
    pub fn inputs(&self) -> Vec<NodeId> {
        self.node_ids()
            .into_iter()
            .filter(|&id| matches!(self.g[id.index()].op, Op::Input { .. }))
            .collect()
    }

    /// All `param` nodes, in id order.
    pub fn parameters(&self) -> Vec<NodeId> {
        self.node_ids()
            .into_iter()
            .filter(|&id| matches!(self.g[id.index()].op, Op::Parameter { .. }))
            .collect()
    }

    /// Checks every node against its operands: operand positions, the op's type rule and the
    /// stored type; that outputs exist; that the graph is acyclic; that input and parameter
    /// names are unique.
    pub fn verify(&self) -> Result<()> {
        if self.topo_order().len() != self.len() {
            return Err(IrError::Unsupported("verify: the graph has a cycle".into()));
        }
        let mut names = std::collections::HashSet::new();
        for id in self.node_ids() {
            let node = &self.g[id.index()];
            let mut positions: Vec<u32> = self
                .g
                .edges_directed(id.index(), Direction::Incoming)
                .map(|e| *e.weight())
                .collect();
            positions.sort_unstable();
            if positions.iter().enumerate().any(|(i, &p)| p as usize != i) {
                return Err(IrError::Verify {
                    node: id,
                    msg: format!("operand positions {positions:?} have gaps or repeats"),
                });
            }
            let types: Vec<TensorType> = self
                .operands(id)
                .iter()
                .map(|&o| self.g[o.index()].ty.clone())
                .collect();
            let inferred =
                infer(&node.op, &types, Some(&node.ty)).map_err(|e| IrError::Verify {
                    node: id,
                    msg: e.to_string(),
                })?;
            if inferred != node.ty {
                return Err(IrError::Verify {
                    node: id,
                    msg: format!(
                        "{} declares {} but its operands give {}",
                        node.op.name(),
                        node.ty,
                        inferred
                    ),
                });
            }
            if let Op::Input { name } | Op::Parameter { name } = &node.op {
                if !names.insert(name.clone()) {
                    return Err(IrError::Verify {
                        node: id,
                        msg: format!(
                            "the name \"{name}\" is used by more than one input or parameter"
                        ),
                    });
                }
            }
        }
        for &o in &self.outputs {
            self.node(o)?;
        }
        Ok(())
    }

    // ---- Typed builders: one per primitive, used by the API, the parser and the passes. ----

    /// `input "name" : dtype[shape]`.
    pub fn input(&mut self, name: &str, dtype: DType, shape: Shape) -> Result<NodeId> {
        self.add(
            Op::Input { name: name.into() },
            &[],
            Some(TensorType::new(dtype, shape)),
        )
    }

    /// `param "name" : dtype[shape]`.
    pub fn parameter(&mut self, name: &str, dtype: DType, shape: Shape) -> Result<NodeId> {
        self.add(
            Op::Parameter { name: name.into() },
            &[],
            Some(TensorType::new(dtype, shape)),
        )
    }

    /// A literal.
    pub fn constant(&mut self, value: crate::tensor::HostTensor) -> Result<NodeId> {
        self.add(Op::Constant { value }, &[], None)
    }

    /// A rank-0 literal.
    pub fn scalar(&mut self, dtype: DType, value: f64) -> Result<NodeId> {
        self.constant(crate::tensor::HostTensor::scalar(dtype, value))
    }

    /// Elementwise unary op.
    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId> {
        self.add(Op::Unary(op), &[x], None)
    }

    /// Elementwise binary op on identical shapes.
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.add(Op::Binary(op), &[a, b], None)
    }

    /// `where(cond, a, b)`.
    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.add(Op::Where, &[cond, a, b], None)
    }

    /// Converts to `dtype` (a no-op node is not created when the dtype already matches).
    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId> {
        let shape = self.node(x)?.shape().clone();
        if self.node(x)?.dtype() == dtype {
            return Ok(x);
        }
        self.add(Op::Cast, &[x], Some(TensorType::new(dtype, shape)))
    }

    /// Sum or max over `axes` (any order, duplicates rejected), keeping them with size 1.
    pub fn reduce(&mut self, op: ReduceOp, x: NodeId, axes: &[usize]) -> Result<NodeId> {
        let mut sorted: AxisList = axes.iter().copied().collect();
        sorted.sort_unstable();
        self.add(Op::Reduce { op, axes: sorted }, &[x], None)
    }

    /// Reshape to `shape` (same element count).
    pub fn reshape(&mut self, x: NodeId, shape: Shape) -> Result<NodeId> {
        let node = self.node(x)?;
        if *node.shape() == shape {
            return Ok(x);
        }
        let dtype = node.dtype();
        self.add(Op::Reshape, &[x], Some(TensorType::new(dtype, shape)))
    }

    /// Broadcast size-1 axes of `x` to `shape` (same rank).
    pub fn expand(&mut self, x: NodeId, shape: Shape) -> Result<NodeId> {
        let node = self.node(x)?;
        if *node.shape() == shape {
            return Ok(x);
        }
        let dtype = node.dtype();
        self.add(Op::Expand, &[x], Some(TensorType::new(dtype, shape)))
    }

    /// Permute axes.
    pub fn permute(&mut self, x: NodeId, perm: &[usize]) -> Result<NodeId> {
        self.add(
            Op::Permute {
                perm: perm.iter().copied().collect(),
            },
            &[x],
            None,
        )
    }

    /// Batched matmul with identical batch dims.
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.add(Op::MatMul, &[a, b], None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn build_and_verify() {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, s(&[64, 2])).unwrap();
        let w = g.parameter("w", DType::F32, s(&[3, 2])).unwrap();
        let err = g.matmul(x, w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "matmul: mat1 and mat2 shapes cannot be multiplied (64x2 and 3x2)"
        );
        let wt = g.permute(w, &[1, 0]).unwrap();
        let y = g.matmul(x, wt).unwrap();
        assert_eq!(g.node(y).unwrap().shape(), &s(&[64, 3]));
        let e = g.unary(UnaryOp::Exp, y).unwrap();
        g.set_outputs(&[e]).unwrap();
        g.verify().unwrap();
        assert_eq!(g.operands(y), vec![x, wt]);
        assert_eq!(g.users(y), vec![e]);
        assert_eq!(g.topo_order(), vec![x, w, wt, y, e]);
        assert_eq!(g.ordered_ancestors(&[e]), vec![x, w, wt, y, e]);
        assert_eq!(g.ordered_ancestors(&[wt]), vec![w, wt]);
        assert_eq!(y.to_string(), "%3");
    }

    #[test]
    fn type_rules_reject_bad_operands() {
        let mut g = Graph::new();
        let a = g.input("a", DType::F32, s(&[2, 3])).unwrap();
        let b = g.input("b", DType::F64, s(&[2, 3])).unwrap();
        let i = g.input("i", DType::I64, s(&[2, 3])).unwrap();
        assert!(matches!(
            g.binary(BinaryOp::Add, a, b),
            Err(IrError::DType { .. })
        ));
        assert!(matches!(
            g.unary(UnaryOp::Exp, i),
            Err(IrError::DType { .. })
        ));
        assert!(matches!(
            g.reduce(ReduceOp::Sum, a, &[2]),
            Err(IrError::Axis { .. })
        ));
        assert!(matches!(
            g.reduce(ReduceOp::Sum, a, &[1, 1]),
            Err(IrError::Shape { .. })
        ));
        assert!(matches!(g.reshape(a, s(&[4])), Err(IrError::Shape { .. })));
        assert!(matches!(
            g.expand(a, s(&[4, 3])),
            Err(IrError::Shape { .. })
        ));
        assert!(matches!(g.permute(a, &[0, 0]), Err(IrError::Shape { .. })));
        assert!(matches!(
            g.unary(UnaryOp::Exp, NodeId(99)),
            Err(IrError::UnknownNode(_))
        ));
        assert!(g.input("a", DType::F32, s(&[1])).is_ok());
        assert!(matches!(g.verify(), Err(IrError::Verify { .. })));
    }

    #[test]
    fn replace_and_remove() {
        let mut g = Graph::new();
        let a = g.input("a", DType::F32, s(&[2])).unwrap();
        let n = g.unary(UnaryOp::Neg, a).unwrap();
        let nn = g.unary(UnaryOp::Neg, n).unwrap();
        let e = g.unary(UnaryOp::Exp, nn).unwrap();
        g.set_outputs(&[e]).unwrap();
        g.replace_uses(nn, a).unwrap();
        assert_eq!(g.operands(e), vec![a]);
        assert!(g.remove(n).is_err());
        g.remove(nn).unwrap();
        g.remove(n).unwrap();
        g.verify().unwrap();
        assert_eq!(g.len(), 2);
    }
}
