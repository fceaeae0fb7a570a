//! `Tensor`: a handle to one node of a [`Graph`], with its type, and the bridge from the graph's
//! node ids to tensors ([`Graph::build`]). Everything else a tensor does is defined by the module
//! that owns it: operations in `ops/`, evaluation (`to_host`, printing) in `executable.rs`,
//! gradients in `backward.rs`. So this module sits just above `graph.rs` and below all of those.

use crate::graph::Graph;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, NodeId, Shape};
use std::fmt;

/// A lazy tensor: a node of a [`Graph`]. Cheap to clone (a reference-counted graph handle and a
/// node id). Operations build new nodes; nothing runs until a value is asked for.
///
/// A tensor keeps its node (and everything it depends on) alive in the graph; when the last
/// handle to an intermediate result is dropped, the graph may forget it
/// ([`Graph::forget_unreachable`]).
pub struct Tensor {
    graph: Graph,
    id: NodeId,
}

impl Tensor {
    pub(crate) fn from_parts(graph: Graph, id: NodeId) -> Tensor {
        graph.pin(id);
        Tensor { graph, id }
    }

    /// The graph this tensor belongs to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The node id (`%N` in the text format). It names this node while a handle to it lives:
    /// once every handle is gone the graph may forget the node and give the id to a new one.
    pub fn id(&self) -> NodeId {
        self.id
    }

    fn node_type(&self) -> kiln_ir::TensorType {
        // The id came from this graph, and this handle keeps the node from being removed.
        self.graph
            .state()
            .ir()
            .node(self.id)
            .map(|n| n.ty.clone())
            .unwrap_or_else(|_| kiln_ir::TensorType::new(DType::F32, Shape::scalar()))
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.node_type().shape
    }

    /// The dimensions, as `torch.Size` gives them.
    pub fn dims(&self) -> Vec<usize> {
        self.node_type().shape.dims().to_vec()
    }

    /// `x.size(dim)`, with negative dims counting from the end.
    pub fn size(&self, dim: isize) -> Result<usize> {
        let shape = self.shape();
        Ok(shape.dim(shape.axis("size", dim)?))
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.node_type().shape.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.node_type().shape.numel()
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.node_type().dtype
    }

    /// `p.data = value` for a parameter (or a leaf made one by `requires_grad_`): replaces its
    /// value (same dtype and shape); later evaluations see the new value.
    pub fn set_data(&self, value: HostTensor) -> Result<()> {
        let name = match &self.graph.state().ir().node(self.id)?.op {
            kiln_ir::Op::Parameter { name } => name.clone(),
            other => {
                return Err(Error::api(
                    "set_data",
                    format!(
                        "{} is a {} node; only parameters hold data",
                        self.id,
                        other.name()
                    ),
                ))
            }
        };
        self.graph.set_parameter(&name, value)
    }

    pub(crate) fn check_same_graph(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.graph.same_as(&other.graph) {
            Ok(())
        } else {
            Err(Error::api(
                op,
                format!("{} and {} belong to different graphs", self.id, other.id),
            ))
        }
    }
}

impl Clone for Tensor {
    fn clone(&self) -> Tensor {
        Tensor::from_parts(self.graph.clone(), self.id)
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        self.graph.unpin(self.id);
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({}: {}{})", self.id, self.dtype(), self.shape())
    }
}

impl Graph {
    /// The tensor for node `id` of this graph.
    pub(crate) fn wrap(&self, id: NodeId) -> Tensor {
        Tensor::from_parts(self.clone(), id)
    }

    /// Runs `f` on the IR graph and wraps the node it returns (see [`Graph::add_node`]).
    pub(crate) fn build(
        &self,
        f: impl FnOnce(&mut kiln_ir::Graph) -> kiln_ir::Result<NodeId>,
    ) -> Result<Tensor> {
        let id = self.add_node(f)?;
        Ok(self.wrap(id))
    }
}
