//! Numerically stable normalisations: `softmax`, `log_softmax`, `logsumexp`.

use crate::tensor::Tensor;
use crate::Result;

impl Tensor {
    /// `torch.logsumexp(x, dim, keepdim)`: `max + log(sum(exp(x - max)))`, stable for large values.
    pub fn logsumexp(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let x = self.to_dtype(super::float_of(self.dtype()))?;
        let m = x.max(&[dim], true)?;
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
