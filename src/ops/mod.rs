//! Tensor operations, grouped by kind. Each composite is written in terms of the IR's primitive
//! ops; the helpers here do the two things nearly every op needs: dtype promotion and
//! broadcasting (an explicit reshape + expand in the IR).

pub(crate) mod elementwise;
pub(crate) mod index;
pub(crate) mod linalg;
pub(crate) mod movement;
pub(crate) mod nn;
pub(crate) mod overload;
pub(crate) mod reduce;

use crate::tensor::Tensor;
use crate::Result;
use kiln_ir::{DType, Graph as IrGraph, NodeId, Shape};

/// PyTorch's type promotion for two tensors of the same "kind": the later of
/// bool < i32 < i64 < f32 < f64.
pub(crate) fn promote(a: DType, b: DType) -> DType {
    a.max(b)
}

/// The default float a computation on `d` produces (`f32` unless `d` is already a float).
pub(crate) fn float_of(d: DType) -> DType {
    if d.is_float() {
        d
    } else {
        DType::F32
    }
}

/// Broadcasts `x` to `shape` in the IR: pad leading axes with 1 (reshape), then expand.
pub(crate) fn broadcast_to(g: &mut IrGraph, x: NodeId, shape: &Shape) -> kiln_ir::Result<NodeId> {
    let xs = g.node(x)?.shape().clone();
    if xs == *shape {
        return Ok(x);
    }
    if xs.rank() > shape.rank() {
        return Err(kiln_ir::IrError::shape(
            "expand",
            format!("cannot broadcast shape {xs} to {shape}"),
        ));
    }
    let mut padded = vec![1; shape.rank() - xs.rank()];
    padded.extend_from_slice(xs.dims());
    let x = g.reshape(x, Shape::new(&padded)?)?;
    g.expand(x, shape.clone())
}

/// Casts both operands to their promoted dtype (or to `force` when given) and broadcasts them
/// to a common shape.
pub(crate) fn unify(
    g: &mut IrGraph,
    op: &'static str,
    a: NodeId,
    b: NodeId,
    force: Option<DType>,
) -> kiln_ir::Result<(NodeId, NodeId)> {
    let (na, nb) = (g.node(a)?.clone(), g.node(b)?.clone());
    let dtype = force.unwrap_or_else(|| promote(na.dtype(), nb.dtype()));
    let shape = Shape::broadcast(op, na.shape(), nb.shape())?;
    let a = g.cast(a, dtype)?;
    let b = g.cast(b, dtype)?;
    Ok((broadcast_to(g, a, &shape)?, broadcast_to(g, b, &shape)?))
}

impl Tensor {
    /// `x.detach()`: the same values, through which no gradient flows. (A graph operation, not
    /// an evaluation, so it lives with the ops: composites use it too.)
    pub fn detach(&self) -> Result<Tensor> {
        let ty = self.graph().state().ir().node(self.id())?.ty.clone();
        // An identity reshape is a new node with the same value; marking it stopped cuts the
        // gradient without a dedicated primitive. The optimiser removes it after autodiff.
        let t = self.unary_build(|g, x| g.add(kiln_ir::Op::Reshape, &[x], Some(ty)))?;
        self.graph()
            .state_mut()
            .grad_state_mut()
            .stop_gradient_at(t.id());
        Ok(t)
    }

    /// Builds a node from this tensor's IR id.
    pub(crate) fn unary_build(
        &self,
        f: impl FnOnce(&mut IrGraph, NodeId) -> kiln_ir::Result<NodeId>,
    ) -> Result<Tensor> {
        let id = self.id();
        self.graph().build(|g| f(g, id))
    }

    /// Builds a node from the IR ids of this tensor and `other` (which must share the graph).
    pub(crate) fn binary_build(
        &self,
        other: &Tensor,
        op: &'static str,
        f: impl FnOnce(&mut IrGraph, NodeId, NodeId) -> kiln_ir::Result<NodeId>,
    ) -> Result<Tensor> {
        self.check_same_graph(other, op)?;
        let (a, b) = (self.id(), other.id());
        self.graph().build(|g| f(g, a, b))
    }

    /// A rank-0 constant of `dtype` in this tensor's graph.
    pub(crate) fn scalar(&self, value: f64, dtype: DType) -> Result<Tensor> {
        self.graph().build(|g| g.scalar(dtype, value))
    }
}
