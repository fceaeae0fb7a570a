//! Turning Rust values into host tensors: scalars, slices, `Vec`s and nested arrays, as
//! `torch.tensor(...)` accepts nested Python lists.

use crate::{Error, Result};
use kiln_ir::{DType, HostTensor, Shape, TensorData};

/// A Rust value that can become a tensor literal: a number, a `bool`, an array, slice or `Vec`
/// of literals (nested to any rank up to 8), or a [`HostTensor`].
pub trait TensorLiteral {
    /// Converts to a host tensor; ragged nesting is an error.
    fn to_host_tensor(&self) -> Result<HostTensor>;
}

/// A scalar element type that literals may hold.
pub trait Element: Copy {
    /// The dtype a literal of this element gets.
    const DTYPE: DType;
    /// The value widened to `f64` (exact for every element type but `i64` beyond 2^53).
    fn to_f64(self) -> f64;
    /// Builds typed storage from a flat vector.
    fn into_data(values: Vec<Self>) -> TensorData;
}

macro_rules! element {
    ($t:ty, $d:ident, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn into_data(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }
        }
    };
}
element!(f32, F32, F32);
element!(f64, F64, F64);
element!(i32, I32, I32);
element!(i64, I64, I64);
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    fn into_data(values: Vec<Self>) -> TensorData {
        TensorData::Bool(values)
    }
}

/// Nested data that flattens into elements of one type.
pub trait Nested {
    /// The element type.
    type Elem: Element;
    /// Appends this value's shape (outermost first) to `dims`.
    fn shape_into(&self, dims: &mut Vec<usize>);
    /// Appends the elements row-major, checking each sub-array against `dims`.
    fn flatten_into(&self, dims: &[usize], out: &mut Vec<Self::Elem>) -> Result<()>;
}

impl<E: Element> Nested for E {
    type Elem = E;
    fn shape_into(&self, _: &mut Vec<usize>) {}
    fn flatten_into(&self, _: &[usize], out: &mut Vec<E>) -> Result<()> {
        out.push(*self);
        Ok(())
    }
}

fn flatten_seq<T: Nested>(items: &[T], dims: &[usize], out: &mut Vec<T::Elem>) -> Result<()> {
    match dims.first() {
        Some(&n) if n == items.len() => items
            .iter()
            .try_for_each(|x| x.flatten_into(&dims[1..], out)),
        _ => Err(Error::api(
            "tensor",
            format!(
                "ragged nested data: expected a sequence of length {:?}, found {}",
                dims.first(),
                items.len()
            ),
        )),
    }
}

fn first_shape<T: Nested>(items: &[T], dims: &mut Vec<usize>) {
    dims.push(items.len());
    if let Some(x) = items.first() {
        x.shape_into(dims);
    }
}

impl<T: Nested, const N: usize> Nested for [T; N] {
    type Elem = T::Elem;
    fn shape_into(&self, dims: &mut Vec<usize>) {
        first_shape(self, dims)
    }
    fn flatten_into(&self, dims: &[usize], out: &mut Vec<T::Elem>) -> Result<()> {
        flatten_seq(self, dims, out)
    }
}

impl<T: Nested> Nested for Vec<T> {
    type Elem = T::Elem;
    fn shape_into(&self, dims: &mut Vec<usize>) {
        first_shape(self, dims)
    }
    fn flatten_into(&self, dims: &[usize], out: &mut Vec<T::Elem>) -> Result<()> {
        flatten_seq(self, dims, out)
    }
}

impl<T: Nested> Nested for &[T] {
    type Elem = T::Elem;
    fn shape_into(&self, dims: &mut Vec<usize>) {
        first_shape(self, dims)
    }
    fn flatten_into(&self, dims: &[usize], out: &mut Vec<T::Elem>) -> Result<()> {
        flatten_seq(self, dims, out)
    }
}

impl<T: Nested> TensorLiteral for T {
    fn to_host_tensor(&self) -> Result<HostTensor> {
        let mut dims = Vec::new();
        self.shape_into(&mut dims);
        let shape = Shape::new(&dims)?;
        let mut flat = Vec::with_capacity(shape.numel());
        self.flatten_into(&dims, &mut flat)?;
        Ok(HostTensor::new(shape, T::Elem::into_data(flat))?)
    }
}

impl TensorLiteral for HostTensor {
    fn to_host_tensor(&self) -> Result<HostTensor> {
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_arrays_and_vecs() {
        let t = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]
            .to_host_tensor()
            .unwrap();
        assert_eq!(t.dims(), &[2, 3]);
        assert_eq!(t.as_f32().unwrap(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = 3.5f64.to_host_tensor().unwrap();
        assert_eq!(s.dims(), &[] as &[usize]);
        let v = vec![vec![1i64, 2], vec![3, 4]].to_host_tensor().unwrap();
        assert_eq!(v.dtype(), DType::I64);
        let e: Vec<f32> = vec![];
        assert_eq!(e.to_host_tensor().unwrap().dims(), &[0]);
    }

    #[test]
    fn ragged_data_is_an_error() {
        let err = vec![vec![1.0f32, 2.0], vec![3.0]]
            .to_host_tensor()
            .unwrap_err();
        assert!(err.to_string().contains("ragged"), "{err}");
    }
}
