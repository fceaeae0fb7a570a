//! Neural-network building blocks in PyTorch's shape: the [`Module`] trait, [`Linear`],
//! [`Sequential`], activations, [`Flatten`], [`Embedding`], and the losses in [`loss`].
//!
//! Modules create their weights as graph parameters (named `prefix.weight`, `prefix.bias`) drawn
//! from kiln's PyTorch-compatible generator with PyTorch's default initialisation, so a model
//! seeded with [`crate::manual_seed`] starts from the same numbers as the torch model.

mod conv;
pub mod loss;
mod state;

pub use conv::{Conv2d, MaxPool2d};
pub use state::{load, save, state_dict};

use crate::graph::Graph;
use crate::random::with_default_generator;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{HostTensor, Shape, TensorData};

/// A layer or model: a function of one tensor with named parameters.
pub trait Module {
    /// Applies the module.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// The parameters, with their graph names, in registration order.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The parameters in registration order.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Total number of parameter elements (seed 002's "Total Trainable Parameters").
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }
}

/// `n` uniform values in `[-bound, bound)` from the global generator, as `uniform_` draws them.
fn uniform(shape: &[usize], bound: f64) -> Result<HostTensor> {
    let shape = Shape::new(shape)?;
    let values = with_default_generator(|g| g.uniform_f32(shape.numel(), -bound, bound));
    Ok(HostTensor::new(shape, TensorData::F32(values))?)
}

/// `nn.Linear(in_features, out_features, bias)`: `y = x W^T + b`, `W: [out, in]`.
///
/// Initialisation is PyTorch's: `kaiming_uniform_(W, a=sqrt(5))`, which is uniform in
/// `±1/sqrt(in_features)`, then the bias uniform in the same bound, drawn in that order from
/// the global generator, so `manual_seed(s)` gives torch's initial weights bit for bit.
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor>,
    prefix: String,
}

impl Linear {
    /// Creates the layer's parameters in `g` as `prefix.weight` and `prefix.bias`.
    pub fn new(
        g: &Graph,
        prefix: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Linear> {
        // Computed exactly as torch does (in doubles) so that the drawn floats match bit for bit:
        // kaiming_uniform_ with a = sqrt(5): gain = sqrt(2 / (1 + a^2)),
        // bound = sqrt(3) * gain / sqrt(fan_in); the bias bound is 1 / sqrt(fan_in).
        let fan_in = in_features as f64;
        let a = 5.0f64.sqrt();
        let gain = (2.0 / (1.0 + a * a)).sqrt();
        let (w_bound, b_bound) = if in_features > 0 {
            (3.0f64.sqrt() * (gain / fan_in.sqrt()), 1.0 / fan_in.sqrt())
        } else {
            (0.0, 0.0)
        };
        let weight = g.parameter(
            &format!("{prefix}.weight"),
            uniform(&[out_features, in_features], w_bound)?,
        )?;
        let bias = if bias {
            Some(g.parameter(
                &format!("{prefix}.bias"),
                uniform(&[out_features], b_bound)?,
            )?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            prefix: prefix.to_string(),
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let in_features = self.weight.dims()[1];
        if x.rank() == 0 || x.dims()[x.rank() - 1] != in_features {
            return Err(Error::api(
                "Linear",
                format!(
                    "{}: expected input with {in_features} features in the last dimension, got shape {}",
                    self.prefix,
                    x.shape()
                ),
            ));
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![(format!("{}.weight", self.prefix), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push((format!("{}.bias", self.prefix), b.clone()));
        }
        p
    }
}

/// `nn.Sequential`: applies its modules in order.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty sequence.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a module (builder style).
    pub fn add(mut self, m: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layers.iter().try_fold(x.clone(), |h, m| m.forward(&h))
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .flat_map(|m| m.named_parameters())
            .collect()
    }
}

/// `nn.ReLU`.
pub struct ReLU;
impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()
    }
}

/// `nn.Sigmoid`.
pub struct Sigmoid;
impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.sigmoid()
    }
}

/// `nn.Tanh`.
pub struct Tanh;
impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.tanh()
    }
}

/// `nn.Flatten()`: flattens every axis but the first (the batch).
pub struct Flatten;
impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(1, -1)
    }
}

/// `nn.Embedding(num_embeddings, embedding_dim)`: a lookup table, initialised standard normal
/// like PyTorch. Indices outside the table make evaluation fail with an error.
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Tensor,
    prefix: String,
}

impl Embedding {
    /// Creates `prefix.weight` in `g`.
    pub fn new(
        g: &Graph,
        prefix: &str,
        num_embeddings: usize,
        embedding_dim: usize,
    ) -> Result<Embedding> {
        let shape = Shape::new(&[num_embeddings, embedding_dim])?;
        let values = with_default_generator(|r| r.normal_f32(shape.numel(), 0.0, 1.0));
        let weight = g.parameter(
            &format!("{prefix}.weight"),
            HostTensor::new(shape, TensorData::F32(values))?,
        )?;
        Ok(Embedding {
            weight,
            prefix: prefix.to_string(),
        })
    }
}

impl Module for Embedding {
    /// `x` holds integer indices of any shape; the result appends `embedding_dim`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims: Vec<isize> = x.dims().iter().map(|&d| d as isize).collect();
        let flat = x.reshape(&[-1])?;
        let rows = self.weight.index_select(0, &flat)?;
        dims.push(self.weight.dims()[1] as isize);
        rows.reshape(&dims)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![(format!("{}.weight", self.prefix), self.weight.clone())]
    }
}
