//! Loss functions with PyTorch's definitions and reductions: MSE, BCE (log clamped at -100),
//! BCE with logits (stable), cross-entropy from logits (stable log-softmax) and NLL.

use crate::tensor::Tensor;
use crate::{Error, Result};

/// How per-element losses are combined (`reduction=` in PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The average (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// No reduction: the per-element losses.
    None,
}

fn reduce(loss: Tensor, reduction: Reduction) -> Result<Tensor> {
    match reduction {
        Reduction::Mean => loss.mean_all(),
        Reduction::Sum => loss.sum_all(),
        Reduction::None => Ok(loss),
    }
}

fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::api(
            op,
            format!(
                "input shape {} and target shape {} differ",
                input.shape(),
                target.shape()
            ),
        ));
    }
    Ok(())
}

/// `F.mse_loss(input, target)`: `(input - target)^2`, reduced.
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("mse_loss", input, target)?;
    reduce(input.sub(target)?.square()?, reduction)
}

/// `F.binary_cross_entropy(p, y)`: `-(y log p + (1 - y) log(1 - p))` with each log clamped
/// at -100, as PyTorch does, so that p = 0 or 1 gives a finite loss.
pub fn binary_cross_entropy(p: &Tensor, y: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("binary_cross_entropy", p, y)?;
    let log_p = p.log()?.maximum(-100.0)?;
    let log_1mp = (1.0 - p)?.log()?.maximum(-100.0)?;
    let loss = (y.mul(&log_p)? + (1.0 - y)?.mul(&log_1mp)?)?.neg()?;
    reduce(loss, reduction)
}

/// `F.binary_cross_entropy_with_logits(z, y)`: BCE of `sigmoid(z)` computed stably as
/// `max(z, 0) - z y + log(1 + exp(-|z|))`.
pub fn binary_cross_entropy_with_logits(
    z: &Tensor,
    y: &Tensor,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy_with_logits", z, y)?;
    let softplus = z.abs()?.neg()?.exp()?.log1p()?;
    let loss = (z.relu()?.sub(&z.mul(y)?)? + softplus)?;
    reduce(loss, reduction)
}

/// `F.nll_loss(log_probs, target)`: `-log_probs[i, target[i]]` for `log_probs: [N, C]` and
/// integer `target: [N]`. Classes outside `0..C` make evaluation fail with an error.
pub fn nll_loss(log_probs: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let dims = log_probs.dims();
    if dims.len() != 2 || target.dims() != [dims[0]] || !target.dtype().is_int() {
        return Err(Error::api(
            "nll_loss",
            format!(
                "expected input [N, C] and integer target [N], got {}{} and {}{}",
                log_probs.dtype(),
                log_probs.shape(),
                target.dtype(),
                target.shape()
            ),
        ));
    }
    let picked = log_probs
        .gather(1, &target.long()?.unsqueeze(1)?)?
        .squeeze(1)?;
    reduce(picked.neg()?, reduction)
}

/// `F.cross_entropy(logits, target)`: `nll_loss(log_softmax(logits, 1), target)` for logits
/// `[N, C]` and class indices `[N]`.
pub fn cross_entropy(logits: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if logits.rank() != 2 {
        return Err(Error::api(
            "cross_entropy",
            format!("expected logits [N, C], got shape {}", logits.shape()),
        ));
    }
    nll_loss(&logits.log_softmax(1)?, target, reduction)
}

/// `nn.MSELoss` as a value: `MseLoss::default().forward(&pred, &target)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MseLoss {
    /// How the per-element losses are combined.
    pub reduction: Reduction,
}

impl MseLoss {
    /// The loss of `input` against `target`.
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        mse_loss(input, target, self.reduction)
    }
}

/// `nn.BCELoss` as a value.
#[derive(Clone, Copy, Debug, Default)]
pub struct BceLoss {
    /// How the per-element losses are combined.
    pub reduction: Reduction,
}

impl BceLoss {
    /// The loss of probabilities `p` against targets `y`.
    pub fn forward(&self, p: &Tensor, y: &Tensor) -> Result<Tensor> {
        binary_cross_entropy(p, y, self.reduction)
    }
}

/// `nn.CrossEntropyLoss` as a value.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropyLoss {
    /// How the per-sample losses are combined.
    pub reduction: Reduction,
}

impl CrossEntropyLoss {
    /// The loss of `logits [N, C]` against class indices `target [N]`.
    pub fn forward(&self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        cross_entropy(logits, target, self.reduction)
    }
}
