//! Ops that combine many elements into one: `reduce.sum`, `reduce.max`, `argmax` and `matmul`.
//! Sums accumulate in `f64` in row-major order of the summed elements.

use super::elementwise::nan_max;
use super::index::{offset, MultiIndex};
use super::Value;
use crate::op::ReduceOp;
use crate::shape::Shape;

// reduce: out[j] = sum / max of x[i] over every i that agrees with j outside `axes`.
// Empty sum = 0; empty max = -inf, which rounding turns into the dtype's minimum for integers.
pub(super) fn reduce(op: ReduceOp, axes: &[usize], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let init = match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
    };
    let mut out = vec![init; out_shape.numel()];
    let out_strides = out_shape.strides();
    for (i, mut idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
        for &a in axes {
            idx[a] = 0;
        }
        let o = offset(&idx, &out_strides);
        out[o] = match op {
            ReduceOp::Sum => out[o] + x.data[i],
            ReduceOp::Max => nan_max(out[o], x.data[i]),
        };
    }
    out
}

// argmax: out[j] = the first k maximising x[j with axis = k]; a NaN beats every number.
pub(super) fn argmax(axis: usize, x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let len = x.ty.shape.dim(axis);
    MultiIndex::new(out_shape.dims())
        .map(|idx| {
            let first = offset(&idx, &strides);
            let at = |k: usize| x.data[first + k * strides[axis]];
            let mut best = 0;
            for k in 1..len {
                let (v, b) = (at(k), at(best));
                if !b.is_nan() && (v.is_nan() || v > b) {
                    best = k;
                }
            }
            best as f64
        })
        .collect()
}

// matmul: out[.., i, j] = sum_{k = 0..K} a[.., i, k] * b[.., k, j], batch dims identical.
pub(super) fn matmul(a: &Value, b: &Value, out_shape: &Shape) -> Vec<f64> {
    let dims = a.ty.shape.dims();
    let rank = dims.len();
    let (m, k) = (dims[rank - 2], dims[rank - 1]);
    let n = out_shape.dim(rank - 1);
    let batch: usize = dims[..rank - 2].iter().product();
    let mut out = Vec::with_capacity(out_shape.numel());
    for bi in 0..batch {
        let (a0, b0) = (bi * m * k, bi * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += a.data[a0 + i * k + p] * b.data[b0 + p * n + j];
                }
                out.push(acc);
            }
        }
    }
    out
}
