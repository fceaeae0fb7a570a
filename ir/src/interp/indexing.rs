//! Data-dependent indexing: `gather` and `scatter_add` (PyTorch's semantics). Index values are
//! checked against the indexed axis; an index outside `0..size` (negative too) is an
//! [`crate::IrError::Runtime`] naming the index, the axis and the size.

use super::index::{offset, MultiIndex};
use super::{Site, Value};
use crate::error::Result;

/// Index value `v` read at position `at` of the index tensor, checked against `0..size`.
fn checked_index(site: Site, v: f64, at: &[usize], axis: usize, size: usize) -> Result<usize> {
    // Integer dtypes hold whole numbers, so the comparison with `size` is exact.
    if v < 0.0 || v >= size as f64 {
        return Err(site.error(format!(
            "index {} is out of bounds for axis {axis} with size {size} (at index position {at:?})",
            v as i64
        )));
    }
    Ok(v as usize)
}

// gather: out[i] = src[i with axis = index[i]] (result has the index's shape).
pub(super) fn gather(site: Site, axis: usize, src: &Value, index: &Value) -> Result<Vec<f64>> {
    let strides = src.ty.shape.strides();
    let size = src.ty.shape.dim(axis);
    MultiIndex::new(index.ty.shape.dims())
        .enumerate()
        .map(|(n, mut idx)| {
            idx[axis] = checked_index(site, index.data[n], &idx, axis, size)?;
            Ok(src.data[offset(&idx, &strides)])
        })
        .collect()
}

// scatter_add: out = base; out[i with axis = index[i]] += src[i], in row-major order of i.
pub(super) fn scatter_add(
    site: Site,
    axis: usize,
    base: &Value,
    index: &Value,
    src: &Value,
) -> Result<Vec<f64>> {
    let mut out = base.data.clone();
    let strides = base.ty.shape.strides();
    let size = base.ty.shape.dim(axis);
    for (n, mut idx) in MultiIndex::new(index.ty.shape.dims()).enumerate() {
        idx[axis] = checked_index(site, index.data[n], &idx, axis, size)?;
        out[offset(&idx, &strides)] += src.data[n];
    }
    Ok(out)
}
