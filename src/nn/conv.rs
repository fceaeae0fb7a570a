//! Convolution and pooling for images `[N, C, H, W]`, built from views and one matmul
//! (im2col): `Conv2d` gathers each kernel offset's shifted window with a strided slice of the
//! padded input, stacks them, and multiplies by the flattened kernel; `MaxPool2d` reshapes
//! non-overlapping windows onto their own axes and takes the max.

use super::{uniform, Module};
use crate::graph::Graph;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)` with square kernels,
/// PyTorch's default initialisation (uniform in `±1/sqrt(in_channels * k * k)`, weight then
/// bias) and a bias.
pub struct Conv2d {
    /// `[out_channels, in_channels, k, k]`.
    pub weight: Tensor,
    /// `[out_channels]`.
    pub bias: Tensor,
    kernel: usize,
    stride: usize,
    padding: usize,
    prefix: String,
}

impl Conv2d {
    /// Creates `prefix.weight` and `prefix.bias` in `g`.
    pub fn new(
        g: &Graph,
        prefix: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Conv2d> {
        if kernel == 0 || stride == 0 {
            return Err(Error::api(
                "Conv2d",
                "kernel_size and stride must be positive",
            ));
        }
        let fan_in = (in_channels * kernel * kernel) as f64;
        let a = 5.0f64.sqrt();
        let gain = (2.0 / (1.0 + a * a)).sqrt();
        let (w_bound, b_bound) = if fan_in > 0.0 {
            (3.0f64.sqrt() * (gain / fan_in.sqrt()), 1.0 / fan_in.sqrt())
        } else {
            (0.0, 0.0)
        };
        let weight = g.parameter(
            &format!("{prefix}.weight"),
            uniform(&[out_channels, in_channels, kernel, kernel], w_bound)?,
        )?;
        let bias = g.parameter(
            &format!("{prefix}.bias"),
            uniform(&[out_channels], b_bound)?,
        )?;
        Ok(Conv2d {
            weight,
            bias,
            kernel,
            stride,
            padding,
            prefix: prefix.to_string(),
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let wd = self.weight.dims();
        let (out_c, in_c, k) = (wd[0], wd[1], self.kernel);
        let d = x.dims();
        if d.len() != 4 || d[1] != in_c {
            return Err(Error::api(
                "Conv2d",
                format!(
                    "{}: expected input [N, {in_c}, H, W], got shape {}",
                    self.prefix,
                    x.shape()
                ),
            ));
        }
        let (n, h, w) = (d[0], d[2] + 2 * self.padding, d[3] + 2 * self.padding);
        if h < k || w < k {
            return Err(Error::api(
                "Conv2d",
                format!(
                    "{}: kernel {k}x{k} is larger than the padded input {h}x{w}",
                    self.prefix
                ),
            ));
        }
        let (oh, ow) = ((h - k) / self.stride + 1, (w - k) / self.stride + 1);
        let p = self.padding;
        let padded = if p > 0 {
            x.pad(&[(0, 0), (0, 0), (p, p), (p, p)], 0.0)?
        } else {
            x.clone()
        };
        // One strided window per kernel offset (i, j): [N, C, OH, OW].
        let mut windows = Vec::with_capacity(k * k);
        for i in 0..k {
            for j in 0..k {
                let rows = padded.slice(
                    2,
                    Some(i as isize),
                    Some((i + (oh - 1) * self.stride + 1) as isize),
                    self.stride,
                )?;
                windows.push(rows.slice(
                    3,
                    Some(j as isize),
                    Some((j + (ow - 1) * self.stride + 1) as isize),
                    self.stride,
                )?);
            }
        }
        let refs: Vec<&Tensor> = windows.iter().collect();
        // [N, C, k*k, OH, OW] -> [N, C*k*k, OH*OW], matching the weight's [O, C, k, k] layout.
        let cols = Tensor::stack(&refs, 2)?.reshape(&[
            n as isize,
            (in_c * k * k) as isize,
            (oh * ow) as isize,
        ])?;
        let kernel = self
            .weight
            .reshape(&[out_c as isize, (in_c * k * k) as isize])?;
        let out = kernel.matmul(&cols)?; // [N, O, OH*OW]
        out.reshape(&[n as isize, out_c as isize, oh as isize, ow as isize])?
            .add(&self.bias.reshape(&[out_c as isize, 1, 1])?)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            (format!("{}.weight", self.prefix), self.weight.clone()),
            (format!("{}.bias", self.prefix), self.bias.clone()),
        ]
    }
}

/// `nn.MaxPool2d(kernel_size)` with stride equal to the kernel size and no padding; trailing
/// rows and columns that do not fill a window are dropped, as in PyTorch.
pub struct MaxPool2d {
    kernel: usize,
}

impl MaxPool2d {
    /// A pool over `kernel x kernel` windows.
    pub fn new(kernel: usize) -> Result<MaxPool2d> {
        if kernel == 0 {
            return Err(Error::api("MaxPool2d", "kernel_size must be positive"));
        }
        Ok(MaxPool2d { kernel })
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let d = x.dims();
        if d.len() != 4 {
            return Err(Error::api(
                "MaxPool2d",
                format!("expected input [N, C, H, W], got shape {}", x.shape()),
            ));
        }
        let k = self.kernel;
        let (oh, ow) = (d[2] / k, d[3] / k);
        let cropped = x.slice(2, Some(0), Some((oh * k) as isize), 1)?.slice(
            3,
            Some(0),
            Some((ow * k) as isize),
            1,
        )?;
        let dims = [d[0], d[1], oh, k, ow, k].map(|v| v as isize);
        cropped.reshape(&dims)?.max(&[3, 5], false)
    }
}
