//! Operator overloading: `+ - * /` and unary `-` on tensors, references, numbers on either side,
//! and `Result<Tensor>` (so that `(&a + &b)? * 2.0` and `(&a * &b) + &c` both read naturally).
//! Every operator returns `Result<Tensor>`: shape and graph mismatches are errors, not panics.

use crate::tensor::Tensor;
use crate::{Error, Result};
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! tensor_op {
    ($trait:ident, $method:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&self, &rhs)
            }
        }
        impl $trait<Tensor> for Result<Tensor, Error> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&self?, &rhs)
            }
        }
        impl $trait<&Tensor> for Result<Tensor, Error> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&self?, rhs)
            }
        }
        impl $trait<Result<Tensor, Error>> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Result<Tensor, Error>) -> Result<Tensor> {
                Tensor::$method(&self, &rhs?)
            }
        }
        impl $trait<Result<Tensor, Error>> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Result<Tensor, Error>) -> Result<Tensor> {
                Tensor::$method(self, &rhs?)
            }
        }
    };
}

macro_rules! scalar_op {
    ($trait:ident, $method:ident, $($t:ty),*) => {$(
        impl $trait<$t> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: $t) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<$t> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: $t) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<&Tensor> for $t {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                let lhs = crate::ops::elementwise::Operand::into_tensor(self, rhs)?;
                Tensor::$method(&lhs, rhs)
            }
        }
        impl $trait<Tensor> for $t {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                let lhs = crate::ops::elementwise::Operand::into_tensor(self, &rhs)?;
                Tensor::$method(&lhs, &rhs)
            }
        }
    )*};
}

tensor_op!(Add, add);
tensor_op!(Sub, sub);
tensor_op!(Mul, mul);
tensor_op!(Div, div);
scalar_op!(Add, add, f64, i64);
scalar_op!(Sub, sub, f64, i64);
scalar_op!(Mul, mul, f64, i64);
scalar_op!(Div, div, f64, i64);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(&self)
    }
}
