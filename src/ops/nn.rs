//! Numerically stable normalisations: `softmax`, `log_softmax`, `logsumexp`.

use crate::tensor::Tensor;
use crate::Result;

impl Tensor {
    /// `torch.logsumexp(x, dim, keepdim)`: `m + log(sum(exp(x - m)))` with `m` the maximum,
    /// stable for large values. As in PyTorch, an infinite maximum is replaced by 0 (`x - m`
    /// would be `inf - inf`): a row of `-inf` gives `-inf`, a row holding `+inf` gives `+inf`.
    pub fn logsumexp(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let x = self.to_dtype(super::float_of(self.dtype()))?;
        let max = x.max(&[dim], true)?;
        let zero = x.scalar(0.0, x.dtype())?;
        let m = zero.where_(&max.abs()?.eq(f64::INFINITY)?, &max)?;
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
