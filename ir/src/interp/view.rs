//! Ops that move elements without arithmetic: `permute`, `expand`, `slice`, `pad`, `concat`
//! (`reshape` is the identity on row-major data). Each maps output multi-indices to operand
//! offsets with the helpers of `index.rs`.

use super::index::{offset, MultiIndex};
use super::Value;
use crate::op::SliceRange;
use crate::shape::Shape;

// permute: out[i_0, .., i_n] = x[j] where j[perm[d]] = i_d.
pub(super) fn permute(perm: &[usize], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let moved: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[offset(&idx, &moved)])
        .collect()
}

// expand: out[i] = x[i with every size-1 axis of x set to 0].
pub(super) fn expand(x: &Value, out_shape: &Shape) -> Vec<f64> {
    let mut strides = x.ty.shape.strides();
    for (s, &d) in strides.iter_mut().zip(x.ty.shape.dims()) {
        if d == 1 {
            *s = 0;
        }
    }
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[offset(&idx, &strides)])
        .collect()
}

// slice: out[i] = x[start + i * step] per axis.
pub(super) fn slice(ranges: &[SliceRange], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let base: usize = ranges.iter().zip(&strides).map(|(r, s)| r.start * s).sum();
    let stepped: Vec<usize> = ranges
        .iter()
        .zip(&strides)
        .map(|(r, s)| r.step * s)
        .collect();
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[base + offset(&idx, &stepped)])
        .collect()
}

// pad: out[i + before] = x[i]; every other element is `value`.
pub(super) fn pad(widths: &[(usize, usize)], value: f64, x: &Value, out_shape: &Shape) -> Vec<f64> {
    let mut out = vec![value; out_shape.numel()];
    let out_strides = out_shape.strides();
    let base: usize = widths.iter().zip(&out_strides).map(|(w, s)| w.0 * s).sum();
    for (i, idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
        out[base + offset(&idx, &out_strides)] = x.data[i];
    }
    out
}

// concat: operand n fills out[.., o_n + i, ..] where o_n = sum of earlier operands' sizes on `axis`.
pub(super) fn concat(axis: usize, args: &[&Value], out_shape: &Shape) -> Vec<f64> {
    let mut out = vec![0.0; out_shape.numel()];
    let out_strides = out_shape.strides();
    let mut start = 0;
    for x in args {
        let base = start * out_strides[axis];
        for (i, idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
            out[base + offset(&idx, &out_strides)] = x.data[i];
        }
        start += x.ty.shape.dim(axis);
    }
    out
}
