//! Elementwise ops: unary math, binary math and comparisons, and `where`. Operands have
//! identical shapes (broadcasting is an explicit `expand`), so element `i` of the result depends
//! only on element `i` of each operand.

use super::{truth, Value};
use crate::op::{BinaryOp, UnaryOp};

// unary: out[i] = f(x[i]); bool `not` is x == 0.
pub(super) fn unary(op: UnaryOp, x: &Value) -> Vec<f64> {
    x.data.iter().map(|&v| unary_scalar(op, v)).collect()
}

fn unary_scalar(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Not => truth(x == 0.0),
    }
}

// binary: out[i] = a[i] (op) b[i]; comparisons and and/or give 0/1.
pub(super) fn binary(op: BinaryOp, a: &Value, b: &Value) -> Vec<f64> {
    a.data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| binary_scalar(op, x, y))
        .collect()
}

fn binary_scalar(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Max => nan_max(x, y),
        BinaryOp::Min => nan_min(x, y),
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Eq => truth(x == y),
        BinaryOp::Ne => truth(x != y),
        BinaryOp::Lt => truth(x < y),
        BinaryOp::Le => truth(x <= y),
        BinaryOp::Gt => truth(x > y),
        BinaryOp::Ge => truth(x >= y),
        BinaryOp::And => truth(x != 0.0 && y != 0.0),
        BinaryOp::Or => truth(x != 0.0 || y != 0.0),
    }
}

/// `max(x, y)`, NaN if either is NaN (`torch.maximum`; `f64::max` would drop the NaN).
pub(super) fn nan_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

/// `min(x, y)`, NaN if either is NaN (`torch.minimum`).
fn nan_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.min(y)
    }
}

// where: out[i] = if cond[i] != 0 { a[i] } else { b[i] }.
pub(super) fn select(cond: &Value, a: &Value, b: &Value) -> Vec<f64> {
    cond.data
        .iter()
        .zip(a.data.iter().zip(&b.data))
        .map(|(&c, (&x, &y))| if c != 0.0 { x } else { y })
        .collect()
}
