//! Elementwise math and comparisons, with PyTorch's broadcasting and type promotion.

use super::{broadcast_to, float_of, unify};
use crate::tensor::Tensor;
use crate::Result;
use kiln_ir::{BinaryOp, DType, Shape, UnaryOp};

/// A right-hand operand: a tensor, or a Rust number that becomes a constant.
///
/// Numbers follow PyTorch's scalar promotion: a float number keeps a float tensor's dtype and
/// turns an integer or bool tensor into `f32`; an integer number keeps the tensor's dtype
/// (`i64` for a bool tensor).
pub trait Operand {
    /// The operand as a tensor in `like`'s graph.
    fn into_tensor(self, like: &Tensor) -> Result<Tensor>;
}

impl Operand for &Tensor {
    fn into_tensor(self, _: &Tensor) -> Result<Tensor> {
        Ok(self.clone())
    }
}

impl Operand for Tensor {
    fn into_tensor(self, _: &Tensor) -> Result<Tensor> {
        Ok(self)
    }
}

impl Operand for Result<Tensor> {
    fn into_tensor(self, _: &Tensor) -> Result<Tensor> {
        self
    }
}

macro_rules! float_operand {
    ($t:ty) => {
        impl Operand for $t {
            fn into_tensor(self, like: &Tensor) -> Result<Tensor> {
                like.scalar(f64::from(self), float_of(like.dtype()))
            }
        }
    };
}

float_operand!(f64);

macro_rules! int_operand {
    ($t:ty) => {
        impl Operand for $t {
            fn into_tensor(self, like: &Tensor) -> Result<Tensor> {
                let d = match like.dtype() {
                    DType::Bool => DType::I64,
                    d => d,
                };
                like.scalar(self as f64, d)
            }
        }
    };
}

int_operand!(i64);

impl Tensor {
    fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        self.unary_build(|g, x| g.unary(op, x))
    }

    /// A float unary op: integer and bool inputs are first converted to `f32`, as in PyTorch.
    fn float_unary(&self, op: UnaryOp) -> Result<Tensor> {
        let d = float_of(self.dtype());
        self.unary_build(|g, x| {
            let x = g.cast(x, d)?;
            g.unary(op, x)
        })
    }

    /// Binary op after promotion (to `force` if given) and broadcasting.
    pub(crate) fn binary(
        &self,
        other: impl Operand,
        op: BinaryOp,
        force: Option<DType>,
    ) -> Result<Tensor> {
        let other = other.into_tensor(self)?;
        self.binary_build(&other, op.name(), |g, a, b| {
            let (a, b) = unify(g, op.name(), a, b, force)?;
            g.binary(op, a, b)
        })
    }

    /// `self + other`.
    pub fn add(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Add, None)
    }

    /// `self - other`.
    pub fn sub(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Sub, None)
    }

    /// `self * other`.
    pub fn mul(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Mul, None)
    }

    /// True division `self / other` (integers are promoted to `f32`, as in PyTorch).
    pub fn div(&self, other: impl Operand) -> Result<Tensor> {
        let other = other.into_tensor(self)?;
        let d = float_of(super::promote(self.dtype(), other.dtype()));
        self.binary(other, BinaryOp::Div, Some(d))
    }

    /// `torch.maximum`: elementwise larger value (NaN propagates).
    pub fn maximum(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Max, None)
    }

    /// `torch.minimum`: elementwise smaller value (NaN propagates).
    pub fn minimum(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Min, None)
    }

    /// `self ** exponent` with a tensor or number exponent (computed in floating point).
    pub fn pow(&self, exponent: impl Operand) -> Result<Tensor> {
        let e = exponent.into_tensor(self)?;
        let d = float_of(super::promote(self.dtype(), e.dtype()));
        self.binary(e, BinaryOp::Pow, Some(d))
    }

    /// `self * self`.
    pub fn square(&self) -> Result<Tensor> {
        self.mul(self)
    }

    /// `-self`.
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }

    /// `e^self`.
    pub fn exp(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Log)
    }

    /// `log(1 + self)`.
    pub fn log1p(&self) -> Result<Tensor> {
        self.add(1.0)?.log()
    }

    /// Sine.
    pub fn sin(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Sin)
    }

    /// Cosine.
    pub fn cos(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Cos)
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Tanh)
    }

    /// Square root.
    pub fn sqrt(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Sqrt)
    }

    /// `1 / self`.
    pub fn reciprocal(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Recip)
    }

    /// Absolute value.
    pub fn abs(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Abs)
    }

    /// `1 / (1 + e^-self)`, a primitive: accurate for very negative inputs (no `1 - ...`
    /// cancellation) and with the stable gradient `y * (1 - y)`.
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.float_unary(UnaryOp::Sigmoid)
    }

    /// `max(self, 0)`, written as `where(self <= 0, 0, self)`: NaN stays NaN (`NaN <= 0` is
    /// false), and the gradient is PyTorch's `threshold_backward` — 0 where `self <= 0` (at 0
    /// too; `maximum` would split it, giving 0.5), the incoming gradient elsewhere, NaN
    /// included.
    pub fn relu(&self) -> Result<Tensor> {
        let zero = self.scalar(0.0, self.dtype())?;
        zero.where_(&self.le(&zero)?, self)
    }

    /// `torch.clamp(self, min, max)`; either bound may be absent.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let mut t = self.clone();
        if let Some(lo) = min {
            t = t.maximum(lo)?;
        }
        if let Some(hi) = max {
            t = t.minimum(hi)?;
        }
        Ok(t)
    }

    /// `self < other` (bool).
    pub fn lt(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Lt, None)
    }

    /// `self <= other` (bool).
    pub fn le(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Le, None)
    }

    /// `self > other` (bool).
    pub fn gt(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Gt, None)
    }

    /// `self >= other` (bool).
    pub fn ge(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Ge, None)
    }

    /// `self == other` elementwise (bool).
    pub fn eq(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Eq, None)
    }

    /// `self != other` elementwise (bool).
    pub fn ne(&self, other: impl Operand) -> Result<Tensor> {
        self.binary(other, BinaryOp::Ne, None)
    }

    /// Logical not of a bool tensor (other dtypes: `self == 0`).
    pub fn logical_not(&self) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            self.unary(UnaryOp::Not)
        } else {
            self.eq(0i64)
        }
    }

    /// Logical and (operands converted to bool).
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        self.to_dtype(DType::Bool)?
            .binary(other.to_dtype(DType::Bool)?, BinaryOp::And, None)
    }

    /// Logical or (operands converted to bool).
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        self.to_dtype(DType::Bool)?
            .binary(other.to_dtype(DType::Bool)?, BinaryOp::Or, None)
    }

    /// `torch.where(cond, self, other)`: `self` where `cond` is true, else `other`; all three
    /// broadcast together and the values promote.
    pub fn where_(&self, cond: &Tensor, other: impl Operand) -> Result<Tensor> {
        let other = other.into_tensor(self)?;
        self.check_same_graph(cond, "where")?;
        self.check_same_graph(&other, "where")?;
        let (c, a, b) = (cond.id(), self.id(), other.id());
        self.graph().build(|g| {
            let shape = Shape::broadcast("where", g.node(c)?.shape(), g.node(a)?.shape())?;
            let shape = Shape::broadcast("where", &shape, g.node(b)?.shape())?;
            let dtype = super::promote(g.node(a)?.dtype(), g.node(b)?.dtype());
            let c = g.cast(c, DType::Bool)?;
            let (a, b) = (g.cast(a, dtype)?, g.cast(b, dtype)?);
            let c = broadcast_to(g, c, &shape)?;
            let a = broadcast_to(g, a, &shape)?;
            let b = broadcast_to(g, b, &shape)?;
            g.select(c, a, b)
        })
    }

    /// Converts to `dtype` (`x.to(dtype)`).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        self.unary_build(|g, x| g.cast(x, dtype))
    }

    /// `x.float()`: to `f32`.
    pub fn float(&self) -> Result<Tensor> {
        self.to_dtype(DType::F32)
    }

    /// `x.double()`: to `f64`.
    pub fn double(&self) -> Result<Tensor> {
        self.to_dtype(DType::F64)
    }

    /// `x.int()`: to `i32` (truncating toward zero).
    pub fn int(&self) -> Result<Tensor> {
        self.to_dtype(DType::I32)
    }

    /// `x.long()`: to `i64` (truncating toward zero).
    pub fn long(&self) -> Result<Tensor> {
        self.to_dtype(DType::I64)
    }
}
