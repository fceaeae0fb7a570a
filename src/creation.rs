//! Making leaf tensors: literals, inputs, parameters and buffers, and PyTorch's creation
//! functions (`full`, `zeros`, `eye`, `arange`, `linspace`...). The random ones (`rand`,
//! `randn`...) are in `random/`, beside the generator they draw from.
//!
//! These are `Graph` methods that return tensors, so they live above both `graph.rs` (which
//! speaks node ids) and `tensor.rs`.

use crate::graph::Graph;
use crate::literal::TensorLiteral;
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, Shape};

impl Graph {
    /// A literal tensor from a number, array, nested array, `Vec` or [`HostTensor`]
    /// (`torch.tensor(data)`): `g.tensor([[1.0f32, 2.0], [3.0, 4.0]])`.
    pub fn tensor(&self, data: impl TensorLiteral) -> Result<Tensor> {
        let value = data.to_host_tensor()?;
        self.build(|g| g.constant(value))
    }

    /// An input fed by name at evaluation time.
    pub fn input(&self, name: &str, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        self.check_name_free("input", name)?;
        let shape = Shape::new(shape)?;
        self.build(|g| g.input(name, dtype, shape))
    }

    /// A parameter: a named value owned by the graph, read by every evaluation and updated by
    /// training. Names must be unique.
    pub fn parameter(&self, name: &str, value: impl TensorLiteral) -> Result<Tensor> {
        let value = value.to_host_tensor()?;
        let id = self.add_parameter(name, value)?;
        Ok(self.wrap(id))
    }

    /// A state buffer (`register_buffer`): a named value owned by the graph, like a parameter,
    /// that does not require gradients (optimiser moments, step counts).
    pub fn buffer(&self, name: &str, value: impl TensorLiteral) -> Result<Tensor> {
        let t = self.parameter(name, value)?;
        self.state_mut()
            .grad_state_mut()
            .set_requires_grad(t.id(), false);
        Ok(t)
    }

    /// The parameter or buffer node named `name`, if any.
    pub fn parameter_tensor(&self, name: &str) -> Option<Tensor> {
        let id = self.parameter_node(name)?;
        Some(self.wrap(id))
    }

    /// `torch.full(shape, value, dtype=dtype)`, as a broadcast scalar (no data is stored).
    pub fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let shape = Shape::new(shape)?;
        self.build(|g| {
            let s = g.scalar(dtype, value)?;
            let ones = Shape::new(&vec![1; shape.rank()])?;
            let s = g.reshape(s, ones)?;
            g.expand(s, shape)
        })
    }

    /// `torch.full_like(t, value)`: `t`'s shape and dtype.
    pub fn full_like(&self, t: &Tensor, value: f64) -> Result<Tensor> {
        self.full(&t.dims(), value, t.dtype())
    }

    /// `torch.zeros_like(t)`.
    pub fn zeros_like(&self, t: &Tensor) -> Result<Tensor> {
        self.full_like(t, 0.0)
    }

    /// `torch.ones_like(t)`.
    pub fn ones_like(&self, t: &Tensor) -> Result<Tensor> {
        self.full_like(t, 1.0)
    }

    /// `torch.zeros(shape)` (`f32`).
    pub fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        self.full(shape, 0.0, DType::F32)
    }

    /// `torch.ones(shape)` (`f32`).
    pub fn ones(&self, shape: &[usize]) -> Result<Tensor> {
        self.full(shape, 1.0, DType::F32)
    }

    /// `torch.eye(n)` (`f32`).
    pub fn eye(&self, n: usize) -> Result<Tensor> {
        let shape = Shape::new(&[n, n])?;
        let values: Vec<f64> = (0..n * n)
            .map(|i| f64::from(u8::from(i / n == i % n)))
            .collect();
        self.tensor(HostTensor::from_f64(DType::F32, shape, &values)?)
    }

    /// `torch.arange(start, end)` with step 1: `i64` values `start, start+1, ..., end-1`.
    pub fn arange(&self, start: i64, end: i64) -> Result<Tensor> {
        self.tensor((start..end.max(start)).collect::<Vec<i64>>())
    }

    /// `torch.arange(start, end, step)` for floats (`f32`): `ceil((end - start) / step)` values.
    pub fn arange_f32(&self, start: f64, end: f64, step: f64) -> Result<Tensor> {
        let n = (end - start) / step;
        if step == 0.0 || !n.is_finite() || n < 0.0 {
            return Err(Error::api(
                "arange",
                format!("invalid range {start}..{end} with step {step}"),
            ));
        }
        let n = n.ceil() as usize;
        self.tensor(
            (0..n)
                .map(|i| (start + i as f64 * step) as f32)
                .collect::<Vec<f32>>(),
        )
    }

    /// `torch.linspace(start, end, steps)` (`f32`), with PyTorch's symmetric formula so that both
    /// ends are exact: the first half counts up from `start`, the second half down from `end`.
    pub fn linspace(&self, start: f64, end: f64, steps: usize) -> Result<Tensor> {
        let (s, e) = (start as f32, end as f32);
        let values: Vec<f32> = match steps {
            0 => vec![],
            1 => vec![s],
            _ => {
                let step = (e - s) / (steps - 1) as f32;
                let half = steps / 2;
                (0..steps)
                    .map(|i| {
                        if i < half {
                            s + step * i as f32
                        } else {
                            e - step * (steps - i - 1) as f32
                        }
                    })
                    .collect()
            }
        };
        self.tensor(values)
    }
}
