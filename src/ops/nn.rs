//! Numerically stable normalisations: `softmax`, `log_softmax`, `logsumexp`.

use crate::tensor::Tensor;
use crate::Result;
use kiln_ir::DType;

impl Tensor {
    /// `torch.logsumexp(x, dim, keepdim)`: `m + log(sum(exp(x - m)))` with `m` the maximum,
    /// stable for large values. An infinite maximum would make `x - m` be `inf - inf`, so `m`
    /// is clamped to the finite range first: a row of `-inf` gives `-inf`, a row holding `+inf`
    /// gives `+inf`, as in PyTorch (which shifts by 0 there). The shift is detached: the
    /// result does not depend on it, so the gradient is exactly `softmax(x)` (PyTorch's) and
    /// autodiff builds nothing for the maximum; clamping rather than PyTorch's
    /// `where(|m| == inf, 0, m)` uses the maximum once, so it fuses into the reduction.
    pub fn logsumexp(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let x = self.to_dtype(super::float_of(self.dtype()))?;
        let finite = match x.dtype() {
            DType::F32 => f64::from(f32::MAX),
            _ => f64::MAX,
        };
        let m = x
            .max(&[dim], true)?
            .detach()?
            .clamp(Some(-finite), Some(finite))?;
        let lse = x.sub(&m)?.exp()?.sum(&[dim], true)?.log()?.add(&m)?;
        if keepdim {
            Ok(lse)
        } else {
            lse.squeeze(dim)
        }
    }

    /// `torch.softmax(x, dim)`: `exp(x - max) / sum(exp(x - max))` along `dim`.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        let x = self.to_dtype(super::float_of(self.dtype()))?;
        let e = x.sub(&x.max(&[dim], true)?)?.exp()?;
        e.div(&e.sum(&[dim], true)?)
    }

    /// `torch.log_softmax(x, dim)`: `x - logsumexp(x)` along `dim`.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        let x = self.to_dtype(super::float_of(self.dtype()))?;
        x.sub(&x.logsumexp(dim, true)?)
    }
}
