//! `torch.rand`/`torch.randn` and their graph forms: values drawn now, on the host, from the
//! default generator (see [`crate::manual_seed`]), so a seeded program draws the same numbers
//! as the same PyTorch program. The graph forms embed the draws as literals; nothing random
//! happens when a graph is evaluated.

use super::with_default_generator;
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, Shape, TensorData};

/// `torch.rand(shape)`: uniform [0, 1) `f32` values from the global PyTorch-compatible generator.
pub fn rand(shape: &[usize]) -> Result<HostTensor> {
    let shape = Shape::new(shape)?;
    let values = with_default_generator(|g| g.rand_f32(shape.numel()));
    Ok(HostTensor::new(shape, TensorData::F32(values))?)
}

/// `torch.randn(shape)`: standard normal `f32` values from the global PyTorch-compatible generator.
pub fn randn(shape: &[usize]) -> Result<HostTensor> {
    let shape = Shape::new(shape)?;
    let values = with_default_generator(|g| g.randn_f32(shape.numel()));
    Ok(HostTensor::new(shape, TensorData::F32(values))?)
}

impl Graph {
    /// `torch.rand(shape)` drawn now from the global PyTorch-compatible generator (see
    /// [`crate::manual_seed`]) and embedded as a literal.
    pub fn rand(&self, shape: &[usize]) -> Result<Tensor> {
        self.tensor(rand(shape)?)
    }

    /// `torch.randn(shape)` drawn now from the global PyTorch-compatible generator.
    pub fn randn(&self, shape: &[usize]) -> Result<Tensor> {
        self.tensor(randn(shape)?)
    }

    /// `torch.rand_like(t)` (drawn now from the global generator; `t` must be a float tensor).
    pub fn rand_like(&self, t: &Tensor) -> Result<Tensor> {
        self.rand(&t.dims())?.to_dtype(float_like(t)?)
    }

    /// `torch.randn_like(t)` (drawn now from the global generator; `t` must be a float tensor).
    pub fn randn_like(&self, t: &Tensor) -> Result<Tensor> {
        self.randn(&t.dims())?.to_dtype(float_like(t)?)
    }
}

fn float_like(t: &Tensor) -> Result<DType> {
    if t.dtype().is_float() {
        Ok(t.dtype())
    } else {
        Err(Error::api(
            "rand_like",
            format!("expects a floating-point tensor, got {}", t.dtype()),
        ))
    }
}
