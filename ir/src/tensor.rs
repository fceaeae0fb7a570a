//! Host tensors: a shape and typed, contiguous, row-major data.
//!
//! This is what the user feeds in and gets back, what constants hold, and what the reference
//! interpreter computes on. Printing (PyTorch's format) lives in `tensor_fmt.rs`.

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::shape::Shape;

/// Typed element storage.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `bool` elements.
    Bool(Vec<bool>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
}

impl TensorData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::Bool(_) => DType::Bool,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Bool(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` widened to `f64` (exact for every dtype but `i64` beyond 2^53).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            TensorData::Bool(v) => f64::from(u8::from(v[i])),
            TensorData::I32(v) => f64::from(v[i]),
            TensorData::I64(v) => v[i] as f64,
            TensorData::F32(v) => f64::from(v[i]),
            TensorData::F64(v) => v[i],
        }
    }

    /// Converts `f64` values to `dtype`, rounding with [`DType::round`].
    pub fn from_f64(dtype: DType, values: &[f64]) -> TensorData {
        match dtype {
            DType::Bool => TensorData::Bool(values.iter().map(|&v| v != 0.0).collect()),
            DType::I32 => TensorData::I32(values.iter().map(|&v| v as i32).collect()),
            DType::I64 => TensorData::I64(values.iter().map(|&v| v as i64).collect()),
            DType::F32 => TensorData::F32(values.iter().map(|&v| v as f32).collect()),
            DType::F64 => TensorData::F64(values.to_vec()),
        }
    }
}

/// A tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    shape: Shape,
    data: TensorData,
}

impl HostTensor {
    /// Pairs a shape with data, checking that the data fills the shape exactly.
    pub fn new(shape: Shape, data: TensorData) -> Result<HostTensor> {
        if data.len() != shape.numel() {
            return Err(IrError::DataLength {
                what: "tensor",
                len: data.len(),
                numel: shape.numel(),
                shape,
            });
        }
        Ok(HostTensor { shape, data })
    }

    /// A tensor from `f64` values rounded to `dtype`.
    pub fn from_f64(dtype: DType, shape: Shape, values: &[f64]) -> Result<HostTensor> {
        HostTensor::new(shape, TensorData::from_f64(dtype, values))
    }

    /// A tensor of `dtype` filled with `value` (rounded to the dtype).
    pub fn full(dtype: DType, shape: Shape, value: f64) -> HostTensor {
        let values = vec![dtype.round(value); shape.numel()];
        HostTensor {
            data: TensorData::from_f64(dtype, &values),
            shape,
        }
    }

    /// A rank-0 tensor.
    pub fn scalar(dtype: DType, value: f64) -> HostTensor {
        HostTensor::full(dtype, Shape::scalar(), value)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions (shorthand for `shape().dims()`).
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The typed data.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The address of the first element, for a backend that reads the tensor in place. Elements
    /// are stored contiguously in their native encoding; a bool is one byte, 0 or 1.
    pub fn as_ptr(&self) -> *const u8 {
        match &self.data {
            TensorData::Bool(v) => v.as_ptr().cast(),
            TensorData::I32(v) => v.as_ptr().cast(),
            TensorData::I64(v) => v.as_ptr().cast(),
            TensorData::F32(v) => v.as_ptr().cast(),
            TensorData::F64(v) => v.as_ptr().cast(),
        }
    }

    /// The address of the first element, for a backend that writes new values into the tensor
    /// in place (a training step updating a parameter), laid out as [`HostTensor::as_ptr`] says.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.data {
            TensorData::Bool(v) => v.as_mut_ptr().cast(),
            TensorData::I32(v) => v.as_mut_ptr().cast(),
            TensorData::I64(v) => v.as_mut_ptr().cast(),
            TensorData::F32(v) => v.as_mut_ptr().cast(),
            TensorData::F64(v) => v.as_mut_ptr().cast(),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Element `i` (row-major) as `f64`.
    pub fn get_f64(&self, i: usize) -> f64 {
        self.data.get_f64(i)
    }

    /// All elements as `f64`.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.numel()).map(|i| self.get_f64(i)).collect()
    }

    /// The same data under another shape with the same element count.
    pub fn reshape(&self, shape: Shape) -> Result<HostTensor> {
        if shape.numel() != self.numel() {
            return Err(IrError::shape(
                "reshape",
                format!(
                    "shape {} is invalid for a tensor of {} elements (shape {})",
                    shape,
                    self.numel(),
                    self.shape
                ),
            ));
        }
        Ok(HostTensor {
            shape,
            data: self.data.clone(),
        })
    }

    /// Converts to another dtype with the interpreter's rounding rules.
    pub fn cast(&self, dtype: DType) -> HostTensor {
        HostTensor {
            shape: self.shape.clone(),
            data: TensorData::from_f64(dtype, &self.to_f64_vec()),
        }
    }

    /// `f32` data, or an error naming the actual dtype.
    pub fn as_f32(&self) -> Result<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Ok(v),
            other => Err(wrong_dtype(DType::F32, other.dtype())),
        }
    }

    /// `f64` data, or an error naming the actual dtype.
    pub fn as_f64(&self) -> Result<&[f64]> {
        match &self.data {
            TensorData::F64(v) => Ok(v),
            other => Err(wrong_dtype(DType::F64, other.dtype())),
        }
    }

    /// `i32` data, or an error naming the actual dtype.
    pub fn as_i32(&self) -> Result<&[i32]> {
        match &self.data {
            TensorData::I32(v) => Ok(v),
            other => Err(wrong_dtype(DType::I32, other.dtype())),
        }
    }

    /// `i64` data, or an error naming the actual dtype.
    pub fn as_i64(&self) -> Result<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Ok(v),
            other => Err(wrong_dtype(DType::I64, other.dtype())),
        }
    }

    /// `bool` data, or an error naming the actual dtype.
    pub fn as_bool(&self) -> Result<&[bool]> {
        match &self.data {
            TensorData::Bool(v) => Ok(v),
            other => Err(wrong_dtype(DType::Bool, other.dtype())),
        }
    }

    /// The single value of a one-element tensor, as `f64`.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(IrError::shape(
                "item",
                format!(
                    "a tensor with {} elements (shape {}) cannot be converted to a scalar",
                    self.numel(),
                    self.shape
                ),
            ));
        }
        Ok(self.get_f64(0))
    }

    /// True when shapes match and every pair of elements satisfies
    /// `|a - b| <= atol + rtol * |b|` (NumPy's and PyTorch's definition; NaNs never match).
    pub fn allclose(&self, other: &HostTensor, rtol: f64, atol: f64) -> bool {
        self.shape == other.shape
            && (0..self.numel()).all(|i| {
                let (a, b) = (self.get_f64(i), other.get_f64(i));
                a == b || (a - b).abs() <= atol + rtol * b.abs()
            })
    }

    /// The largest absolute difference to `other` (NaN if either holds a NaN where the other
    /// does not; `None` when the shapes differ).
    pub fn max_abs_diff(&self, other: &HostTensor) -> Option<f64> {
        if self.shape != other.shape {
            return None;
        }
        let mut worst: f64 = 0.0;
        for i in 0..self.numel() {
            let (a, b) = (self.get_f64(i), other.get_f64(i));
            if a == b || (a.is_nan() && b.is_nan()) {
                continue;
            }
            let d = (a - b).abs();
            if d.is_nan() || d > worst {
                worst = d;
            }
        }
        Some(worst)
    }
}

fn wrong_dtype(expected: DType, got: DType) -> IrError {
    IrError::dtype(
        "tensor data",
        format!("expected {expected} data, the tensor holds {got}"),
    )
}

macro_rules! impl_from_vec {
    ($t:ty, $variant:ident) => {
        impl From<Vec<$t>> for HostTensor {
            /// A rank-1 tensor owning the vector.
            fn from(v: Vec<$t>) -> HostTensor {
                HostTensor {
                    // A Vec's length always fits in memory, so the shape is valid.
                    shape: Shape::new(&[v.len()]).unwrap_or_default(),
                    data: TensorData::$variant(v),
                }
            }
        }

        impl From<&[$t]> for HostTensor {
            /// A rank-1 tensor copying the slice.
            fn from(v: &[$t]) -> HostTensor {
                HostTensor::from(v.to_vec())
            }
        }

        impl TryFrom<&HostTensor> for Vec<$t> {
            type Error = IrError;
            /// The elements, if the tensor has exactly this element type.
            fn try_from(t: &HostTensor) -> Result<Vec<$t>> {
                match &t.data {
                    TensorData::$variant(v) => Ok(v.clone()),
                    other => Err(wrong_dtype(
                        TensorData::$variant(Vec::new()).dtype(),
                        other.dtype(),
                    )),
                }
            }
        }
    };
}

impl_from_vec!(bool, Bool);
impl_from_vec!(i32, I32);
impl_from_vec!(i64, I64);
impl_from_vec!(f32, F32);
impl_from_vec!(f64, F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construction_checks_length() {
        let s = Shape::new(&[2, 3]).unwrap();
        let err = HostTensor::new(s.clone(), TensorData::F32(vec![0.0; 5])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor: 5 values do not fill shape [2,3] (6 elements)"
        );
        let t = HostTensor::new(s, TensorData::F32(vec![1.0; 6])).unwrap();
        assert_eq!(t.numel(), 6);
        assert_eq!(t.dtype(), DType::F32);
    }

    #[test]
    fn conversions() {
        let t = HostTensor::from(vec![1i64, 2, 3]);
        assert_eq!(t.dims(), &[3]);
        assert_eq!(Vec::<i64>::try_from(&t).unwrap(), vec![1, 2, 3]);
        assert!(Vec::<f32>::try_from(&t).is_err());
        assert_eq!(t.cast(DType::F32).as_f32().unwrap(), &[1.0, 2.0, 3.0]);
        assert!(HostTensor::from(vec![1.0f32, 2.0]).item().is_err());
    }

    #[test]
    fn allclose_uses_relative_and_absolute_tolerance() {
        let a = HostTensor::from(vec![1.0f64, 100.0]);
        let b = HostTensor::from(vec![1.0f64 + 1e-9, 100.0 + 1e-6]);
        assert!(a.allclose(&b, 1e-5, 1e-8));
        let c = HostTensor::from(vec![1.1f64, 100.0]);
        assert!(!a.allclose(&c, 1e-5, 1e-8));
        let n = HostTensor::from(vec![f64::NAN]);
        assert!(!n.allclose(&n, 1e-5, 1e-8));
        assert_eq!(a.max_abs_diff(&c).unwrap(), 0.10000000000000009);
    }
}
