//! The reference interpreter against hand-computed values: every op, rank-0 and empty tensors,
//! NaN rules, f32 rounding, the Philox random op, and every error a caller can provoke.
// Tests return `kiln_ir::Result` so that `?` works; IrError's size is the crate's concern.
#![allow(clippy::result_large_err)]

use kiln_ir::interp::evaluate_outputs;
use kiln_ir::philox::philox_uniform;
use kiln_ir::{
    evaluate, BinaryOp, DType, Distribution, Graph, HostTensor, IrError, NodeId, Op, ReduceOp,
    Result, Shape, SliceRange, TensorType, UnaryOp,
};
use std::collections::HashMap;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

fn s(dims: &[usize]) -> Shape {
    Shape::new(dims).expect("test shapes are small")
}

fn tensor(dtype: DType, dims: &[usize], values: &[f64]) -> Result<HostTensor> {
    HostTensor::from_f64(dtype, s(dims), values)
}

fn konst(g: &mut Graph, dtype: DType, dims: &[usize], values: &[f64]) -> Result<NodeId> {
    g.constant(tensor(dtype, dims, values)?)
}

/// Evaluates one node with no feeds.
fn run(g: &Graph, out: NodeId) -> Result<HostTensor> {
    let mut results = evaluate(g, &[out], &HashMap::new())?;
    Ok(results.remove(0))
}

/// Asserts dtype, shape and values; NaN matches NaN, and -0 matches 0.
fn check(t: &HostTensor, dtype: DType, dims: &[usize], expected: &[f64]) {
    assert_eq!(t.dtype(), dtype, "dtype of {t:?}");
    assert_eq!(t.dims(), dims, "shape of {t:?}");
    let got = t.to_f64_vec();
    assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
    for (i, (&a, &b)) in got.iter().zip(expected).enumerate() {
        assert!(
            a == b || (a.is_nan() && b.is_nan()),
            "element {i}: got {a}, expected {b} (all: {got:?})"
        );
    }
}

/// `f(x)` computed in f32's value set, as the interpreter must for an f32 node.
fn f32_of(v: f64) -> f64 {
    f64::from(v as f32)
}

/// An op, its f64 definition, and its expected f32 results on `[-1, 0, 0.5, 4]`.
type UnaryCase = (UnaryOp, fn(f64) -> f64, [f64; 4]);

#[test]
fn unary_float_ops() -> Result<()> {
    let xs = [-1.0, 0.0, 0.5, 4.0];
    let cases: [UnaryCase; 9] = [
        (UnaryOp::Neg, |x| -x, [1.0, 0.0, -0.5, -4.0]),
        (UnaryOp::Abs, f64::abs, [1.0, 0.0, 0.5, 4.0]),
        (
            UnaryOp::Sqrt,
            f64::sqrt,
            [NAN, 0.0, f32_of(0.5f64.sqrt()), 2.0],
        ),
        (UnaryOp::Recip, |x| 1.0 / x, [-1.0, INF, 2.0, 0.25]),
        (
            UnaryOp::Log,
            f64::ln,
            [NAN, -INF, f32_of(-(2f64.ln())), f32_of(4f64.ln())],
        ),
        (
            UnaryOp::Exp,
            f64::exp,
            [
                f32_of((-1f64).exp()),
                1.0,
                f32_of(0.5f64.exp()),
                f32_of(4f64.exp()),
            ],
        ),
        (
            UnaryOp::Sin,
            f64::sin,
            [
                f32_of((-1f64).sin()),
                0.0,
                f32_of(0.5f64.sin()),
                f32_of(4f64.sin()),
            ],
        ),
        (
            UnaryOp::Cos,
            f64::cos,
            [
                f32_of(1f64.cos()),
                1.0,
                f32_of(0.5f64.cos()),
                f32_of(4f64.cos()),
            ],
        ),
        (
            UnaryOp::Tanh,
            f64::tanh,
            [
                f32_of((-1f64).tanh()),
                0.0,
                f32_of(0.5f64.tanh()),
                f32_of(4f64.tanh()),
            ],
        ),
    ];
    for (op, f, expected) in cases {
        let mut g = Graph::new();
        let x = konst(&mut g, DType::F32, &[4], &xs)?;
        let y = g.unary(op, x)?;
        check(&run(&g, y)?, DType::F32, &[4], &expected);
        // The same op in f64 is not rounded to f32.
        let mut g = Graph::new();
        let x = konst(&mut g, DType::F64, &[4], &xs)?;
        let y = g.unary(op, x)?;
        let exact: Vec<f64> = xs.iter().map(|&v| f(v)).collect();
        check(&run(&g, y)?, DType::F64, &[4], &exact);
    }
    Ok(())
}

#[test]
fn unary_integer_and_bool_ops() -> Result<()> {
    let mut g = Graph::new();
    let i = konst(&mut g, DType::I32, &[3], &[-3.0, 5.0, 0.0])?;
    let neg = g.unary(UnaryOp::Neg, i)?;
    let abs = g.unary(UnaryOp::Abs, i)?;
    let b = konst(&mut g, DType::Bool, &[2], &[1.0, 0.0])?;
    let not = g.unary(UnaryOp::Not, b)?;
    check(&run(&g, neg)?, DType::I32, &[3], &[3.0, -5.0, 0.0]);
    check(&run(&g, abs)?, DType::I32, &[3], &[3.0, 5.0, 0.0]);
    check(&run(&g, not)?, DType::Bool, &[2], &[0.0, 1.0]);
    Ok(())
}

#[test]
fn binary_arithmetic_and_comparisons() -> Result<()> {
    let mut g = Graph::new();
    let a = konst(&mut g, DType::F32, &[3], &[1.5, -2.0, 3.0])?;
    let b = konst(&mut g, DType::F32, &[3], &[-0.5, 4.0, 3.0])?;
    let expected: [(BinaryOp, DType, [f64; 3]); 12] = [
        (BinaryOp::Add, DType::F32, [1.0, 2.0, 6.0]),
        (BinaryOp::Sub, DType::F32, [2.0, -6.0, 0.0]),
        (BinaryOp::Mul, DType::F32, [-0.75, -8.0, 9.0]),
        (BinaryOp::Div, DType::F32, [-3.0, -0.5, 1.0]),
        (BinaryOp::Max, DType::F32, [1.5, 4.0, 3.0]),
        (BinaryOp::Min, DType::F32, [-0.5, -2.0, 3.0]),
        (BinaryOp::Eq, DType::Bool, [0.0, 0.0, 1.0]),
        (BinaryOp::Ne, DType::Bool, [1.0, 1.0, 0.0]),
        (BinaryOp::Lt, DType::Bool, [0.0, 1.0, 0.0]),
        (BinaryOp::Le, DType::Bool, [0.0, 1.0, 1.0]),
        (BinaryOp::Gt, DType::Bool, [1.0, 0.0, 0.0]),
        (BinaryOp::Ge, DType::Bool, [1.0, 0.0, 1.0]),
    ];
    for (op, dtype, values) in expected {
        let y = g.binary(op, a, b)?;
        check(&run(&g, y)?, dtype, &[3], &values);
    }

    let base = konst(&mut g, DType::F64, &[3], &[2.0, 3.0, -2.0])?;
    let exponent = konst(&mut g, DType::F64, &[3], &[2.0, 0.5, 3.0])?;
    let pow = g.binary(BinaryOp::Pow, base, exponent)?;
    check(&run(&g, pow)?, DType::F64, &[3], &[4.0, 3f64.sqrt(), -8.0]);

    let p = konst(&mut g, DType::Bool, &[4], &[0.0, 0.0, 1.0, 1.0])?;
    let q = konst(&mut g, DType::Bool, &[4], &[0.0, 1.0, 0.0, 1.0])?;
    let and = g.binary(BinaryOp::And, p, q)?;
    let or = g.binary(BinaryOp::Or, p, q)?;
    let eq = g.binary(BinaryOp::Eq, p, q)?;
    check(&run(&g, and)?, DType::Bool, &[4], &[0.0, 0.0, 0.0, 1.0]);
    check(&run(&g, or)?, DType::Bool, &[4], &[0.0, 1.0, 1.0, 1.0]);
    check(&run(&g, eq)?, DType::Bool, &[4], &[1.0, 0.0, 0.0, 1.0]);
    Ok(())
}

#[test]
fn integer_arithmetic_is_exact_and_saturates_on_overflow() -> Result<()> {
    let mut g = Graph::new();
    let a = konst(&mut g, DType::I64, &[3], &[-7.0, 6.0, 1e15])?;
    let b = konst(&mut g, DType::I64, &[3], &[3.0, -9.0, 1.0])?;
    let sub = g.binary(BinaryOp::Sub, a, b)?;
    let mul = g.binary(BinaryOp::Mul, a, b)?;
    check(&run(&g, sub)?, DType::I64, &[3], &[-10.0, 15.0, 1e15 - 1.0]);
    check(&run(&g, mul)?, DType::I64, &[3], &[-21.0, -54.0, 1e15]);
    // Documented divergence from PyTorch: the rounding rule saturates where PyTorch wraps.
    let big = konst(&mut g, DType::I32, &[1], &[f64::from(i32::MAX)])?;
    let sum = g.binary(BinaryOp::Add, big, big)?;
    check(&run(&g, sum)?, DType::I32, &[1], &[f64::from(i32::MAX)]);
    Ok(())
}

#[test]
fn max_and_min_propagate_nan() -> Result<()> {
    let mut g = Graph::new();
    let a = konst(&mut g, DType::F32, &[4], &[1.0, NAN, 3.0, NAN])?;
    let b = konst(&mut g, DType::F32, &[4], &[2.0, 0.0, NAN, NAN])?;
    let max = g.binary(BinaryOp::Max, a, b)?;
    let min = g.binary(BinaryOp::Min, a, b)?;
    let eq = g.binary(BinaryOp::Eq, a, a)?;
    check(&run(&g, max)?, DType::F32, &[4], &[2.0, NAN, NAN, NAN]);
    check(&run(&g, min)?, DType::F32, &[4], &[1.0, NAN, NAN, NAN]);
    check(&run(&g, eq)?, DType::Bool, &[4], &[1.0, 0.0, 1.0, 0.0]);
    Ok(())
}

#[test]
fn f32_results_round_as_f32() -> Result<()> {
    let mut g = Graph::new();
    let a = g.scalar(DType::F32, 0.1)?;
    let b = g.scalar(DType::F32, 0.2)?;
    let sum = g.binary(BinaryOp::Add, a, b)?;
    let t = run(&g, sum)?;
    assert_eq!(t.as_f32()?, &[0.1f32 + 0.2f32]);
    assert_ne!(t.get_f64(0), 0.1f64 + 0.2f64);

    let a = g.scalar(DType::F64, 0.1)?;
    let b = g.scalar(DType::F64, 0.2)?;
    let sum = g.binary(BinaryOp::Add, a, b)?;
    assert_eq!(run(&g, sum)?.as_f64()?, &[0.30000000000000004]);

    // 1 + 2^-30 is not an f32: the sum rounds back to 1.
    let one = g.scalar(DType::F32, 1.0)?;
    let tiny = g.scalar(DType::F32, 2f64.powi(-30))?;
    let sum = g.binary(BinaryOp::Add, one, tiny)?;
    assert_eq!(run(&g, sum)?.as_f32()?, &[1.0]);
    Ok(())
}

#[test]
fn where_selects_per_element() -> Result<()> {
    let mut g = Graph::new();
    let c = konst(&mut g, DType::Bool, &[2, 2], &[1.0, 0.0, 0.0, 1.0])?;
    let a = konst(&mut g, DType::I64, &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
    let b = konst(&mut g, DType::I64, &[2, 2], &[-1.0, -2.0, -3.0, -4.0])?;
    let w = g.select(c, a, b)?;
    check(&run(&g, w)?, DType::I64, &[2, 2], &[1.0, -2.0, -3.0, 4.0]);
    Ok(())
}

#[test]
fn cast_truncates_saturates_and_rounds() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(&mut g, DType::F32, &[5], &[-2.7, 2.7, 3e9, -3e9, NAN])?;
    let i = g.cast(x, DType::I32)?;
    let max = f64::from(i32::MAX);
    let min = f64::from(i32::MIN);
    check(&run(&g, i)?, DType::I32, &[5], &[-2.0, 2.0, max, min, 0.0]);

    let d = konst(&mut g, DType::F64, &[2], &[0.1, 1e300])?;
    let f = g.cast(d, DType::F32)?;
    check(&run(&g, f)?, DType::F32, &[2], &[f64::from(0.1f32), INF]);

    let n = konst(&mut g, DType::I32, &[3], &[0.0, -3.0, 1.0])?;
    let b = g.cast(n, DType::Bool)?;
    check(&run(&g, b)?, DType::Bool, &[3], &[0.0, 1.0, 1.0]);
    let back = g.cast(b, DType::F32)?;
    check(&run(&g, back)?, DType::F32, &[3], &[0.0, 1.0, 1.0]);
    Ok(())
}

#[test]
fn reduce_sum_and_max_keep_axes() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(
        &mut g,
        DType::F32,
        &[2, 3],
        &[1.0, -2.0, 3.0, 4.0, 5.0, -6.0],
    )?;
    let rows = g.reduce(ReduceOp::Sum, x, &[1])?;
    let cols = g.reduce(ReduceOp::Sum, x, &[0])?;
    let all = g.reduce(ReduceOp::Sum, x, &[0, 1])?;
    let row_max = g.reduce(ReduceOp::Max, x, &[1])?;
    let col_max = g.reduce(ReduceOp::Max, x, &[0])?;
    let none = g.reduce(ReduceOp::Sum, x, &[])?;
    check(&run(&g, rows)?, DType::F32, &[2, 1], &[2.0, 3.0]);
    check(&run(&g, cols)?, DType::F32, &[1, 3], &[5.0, 3.0, -3.0]);
    check(&run(&g, all)?, DType::F32, &[1, 1], &[5.0]);
    check(&run(&g, row_max)?, DType::F32, &[2, 1], &[3.0, 5.0]);
    check(&run(&g, col_max)?, DType::F32, &[1, 3], &[4.0, 5.0, 3.0]);
    check(
        &run(&g, none)?,
        DType::F32,
        &[2, 3],
        &[1.0, -2.0, 3.0, 4.0, 5.0, -6.0],
    );

    let n = konst(&mut g, DType::F64, &[3], &[1.0, NAN, 7.0])?;
    let nan_max = g.reduce(ReduceOp::Max, n, &[0])?;
    check(&run(&g, nan_max)?, DType::F64, &[1], &[NAN]);

    let i = konst(&mut g, DType::I32, &[2, 2], &[-5.0, -1.0, 7.0, 2.0])?;
    let i_sum = g.reduce(ReduceOp::Sum, i, &[1])?;
    check(&run(&g, i_sum)?, DType::I32, &[2, 1], &[-6.0, 9.0]);
    Ok(())
}

#[test]
fn reduce_over_empty_axes_gives_identities() -> Result<()> {
    let mut g = Graph::new();
    let f = konst(&mut g, DType::F32, &[2, 0], &[])?;
    let sum = g.reduce(ReduceOp::Sum, f, &[1])?;
    let max = g.reduce(ReduceOp::Max, f, &[1])?;
    check(&run(&g, sum)?, DType::F32, &[2, 1], &[0.0, 0.0]);
    check(&run(&g, max)?, DType::F32, &[2, 1], &[-INF, -INF]);
    for (dtype, min) in [
        (DType::I32, f64::from(i32::MIN)),
        (DType::I64, i64::MIN as f64),
    ] {
        let x = konst(&mut g, dtype, &[0, 2], &[])?;
        let max = g.reduce(ReduceOp::Max, x, &[0])?;
        let t = run(&g, max)?;
        check(&t, dtype, &[1, 2], &[min, min]);
    }
    let m = konst(&mut g, DType::I64, &[0, 3], &[])?;
    let m_max = g.reduce(ReduceOp::Max, m, &[0])?;
    assert_eq!(run(&g, m_max)?.as_i64()?, &[i64::MIN; 3]);
    // Reducing the non-empty axis of an empty tensor gives an empty result.
    let e = g.reduce(ReduceOp::Sum, f, &[0])?;
    check(&run(&g, e)?, DType::F32, &[1, 0], &[]);
    Ok(())
}

#[test]
fn argmax_takes_first_tie_and_nan_wins() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(
        &mut g,
        DType::F32,
        &[3, 3],
        &[1.0, 3.0, 3.0, NAN, 2.0, NAN, -1.0, -5.0, -1.0],
    )?;
    let along_rows = g.add(Op::ArgMax { axis: 1 }, &[x], None)?;
    check(&run(&g, along_rows)?, DType::I64, &[3, 1], &[1.0, 0.0, 0.0]);

    let y = konst(&mut g, DType::I32, &[3, 2], &[1.0, 5.0, 1.0, 2.0, 7.0, 5.0])?;
    let along_cols = g.add(Op::ArgMax { axis: 0 }, &[y], None)?;
    check(&run(&g, along_cols)?, DType::I64, &[1, 2], &[2.0, 0.0]);

    let late_nan = konst(&mut g, DType::F64, &[4], &[1.0, 9.0, NAN, 9.0])?;
    let a = g.add(Op::ArgMax { axis: 0 }, &[late_nan], None)?;
    check(&run(&g, a)?, DType::I64, &[1], &[2.0]);
    Ok(())
}

#[test]
fn expand_broadcasts_size_one_axes() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(&mut g, DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let row = konst(&mut g, DType::F32, &[1, 3], &[10.0, 20.0, 30.0])?;
    let col = konst(&mut g, DType::F32, &[2, 1], &[-1.0, -2.0])?;
    let row_b = g.expand(row, s(&[2, 3]))?;
    let col_b = g.expand(col, s(&[2, 3]))?;
    let plus_row = g.binary(BinaryOp::Add, x, row_b)?;
    let times_col = g.binary(BinaryOp::Mul, x, col_b)?;
    check(
        &run(&g, plus_row)?,
        DType::F32,
        &[2, 3],
        &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0],
    );
    check(
        &run(&g, times_col)?,
        DType::F32,
        &[2, 3],
        &[-1.0, -2.0, -3.0, -8.0, -10.0, -12.0],
    );

    // A scalar broadcast: reshape to [1, 1], then expand.
    let k = g.scalar(DType::I64, -4.0)?;
    let k11 = g.reshape(k, s(&[1, 1]))?;
    let k22 = g.expand(k11, s(&[2, 2]))?;
    check(&run(&g, k22)?, DType::I64, &[2, 2], &[-4.0; 4]);

    // Expanding a size-1 axis to 0 gives an empty tensor.
    let e = g.expand(row, s(&[0, 3]))?;
    check(&run(&g, e)?, DType::F32, &[0, 3], &[]);
    Ok(())
}

#[test]
fn rank_zero_tensors() -> Result<()> {
    let mut g = Graph::new();
    let a = g.scalar(DType::F64, 2.0)?;
    let b = g.scalar(DType::F64, -3.0)?;
    let p = g.binary(BinaryOp::Mul, a, b)?;
    let e = g.unary(UnaryOp::Exp, p)?;
    let r = g.reduce(ReduceOp::Sum, p, &[])?;
    let flat = g.reshape(p, s(&[1]))?;
    check(&run(&g, p)?, DType::F64, &[], &[-6.0]);
    check(&run(&g, e)?, DType::F64, &[], &[(-6f64).exp()]);
    check(&run(&g, r)?, DType::F64, &[], &[-6.0]);
    check(&run(&g, flat)?, DType::F64, &[1], &[-6.0]);
    let i = g.input("x", DType::I32, Shape::scalar())?;
    let feeds = HashMap::from([("x".to_string(), HostTensor::scalar(DType::I32, 7.0))]);
    let out = evaluate(&g, &[i], &feeds)?;
    check(&out[0], DType::I32, &[], &[7.0]);
    Ok(())
}

#[test]
fn empty_tensors_flow_through_every_family() -> Result<()> {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[0, 3]))?;
    let e = g.unary(UnaryOp::Exp, x)?;
    let sum = g.binary(BinaryOp::Add, e, x)?;
    let t = g.permute(sum, &[1, 0])?;
    let cols = g.reduce(ReduceOp::Sum, x, &[0])?;
    let w = konst(&mut g, DType::F32, &[3, 2], &[1.0; 6])?;
    let mm = g.matmul(x, w)?;
    let feeds = HashMap::from([("x".to_string(), tensor(DType::F32, &[0, 3], &[])?)]);
    let out = evaluate(&g, &[sum, t, cols, mm], &feeds)?;
    check(&out[0], DType::F32, &[0, 3], &[]);
    check(&out[1], DType::F32, &[3, 0], &[]);
    check(&out[2], DType::F32, &[1, 3], &[0.0, 0.0, 0.0]);
    check(&out[3], DType::F32, &[0, 2], &[]);
    Ok(())
}

#[test]
fn reshape_keeps_row_major_order() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(&mut g, DType::I32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let y = g.reshape(x, s(&[3, 2]))?;
    let z = g.reshape(y, s(&[6]))?;
    check(
        &run(&g, y)?,
        DType::I32,
        &[3, 2],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    check(
        &run(&g, z)?,
        DType::I32,
        &[6],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    Ok(())
}

#[test]
fn permute_rank_three() -> Result<()> {
    let mut g = Graph::new();
    let iota: Vec<f64> = (0..24).map(f64::from).collect();
    let x = konst(&mut g, DType::F32, &[2, 3, 4], &iota)?;
    // Result axis i is operand axis perm[i]: out[a][b][c] = x[b][c][a] = 12 b + 4 c + a.
    let y = g.permute(x, &[2, 0, 1])?;
    let t = run(&g, y)?;
    assert_eq!(t.dims(), &[4, 2, 3]);
    assert_eq!(
        &t.to_f64_vec()[..9],
        &[0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 1.0, 5.0, 9.0]
    );
    let mut expected = Vec::new();
    for a in 0..4 {
        for b in 0..2 {
            for c in 0..3 {
                expected.push(f64::from(12 * b + 4 * c + a));
            }
        }
    }
    check(&t, DType::F32, &[4, 2, 3], &expected);
    // A transpose of a non-square matrix.
    let m = konst(&mut g, DType::F64, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let mt = g.permute(m, &[1, 0])?;
    check(
        &run(&g, mt)?,
        DType::F64,
        &[3, 2],
        &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
    );
    Ok(())
}

fn range(start: usize, end: usize, step: usize) -> SliceRange {
    SliceRange { start, end, step }
}

#[test]
fn slice_with_steps() -> Result<()> {
    let mut g = Graph::new();
    let v = konst(&mut g, DType::I64, &[5], &[0.0, 1.0, 2.0, 3.0, 4.0])?;
    let every_other = g.add(
        Op::Slice {
            ranges: vec![range(0, 5, 2)],
        },
        &[v],
        None,
    )?;
    check(&run(&g, every_other)?, DType::I64, &[3], &[0.0, 2.0, 4.0]);
    let odd = g.add(
        Op::Slice {
            ranges: vec![range(1, 5, 2)],
        },
        &[v],
        None,
    )?;
    check(&run(&g, odd)?, DType::I64, &[2], &[1.0, 3.0]);
    let none = g.add(
        Op::Slice {
            ranges: vec![range(3, 3, 1)],
        },
        &[v],
        None,
    )?;
    check(&run(&g, none)?, DType::I64, &[0], &[]);

    let iota: Vec<f64> = (0..12).map(f64::from).collect();
    let m = konst(&mut g, DType::F32, &[3, 4], &iota)?;
    let window = g.add(
        Op::Slice {
            ranges: vec![range(1, 3, 1), range(0, 4, 2)],
        },
        &[m],
        None,
    )?;
    check(
        &run(&g, window)?,
        DType::F32,
        &[2, 2],
        &[4.0, 6.0, 8.0, 10.0],
    );
    let corner = g.add(
        Op::Slice {
            ranges: vec![range(0, 3, 2), range(1, 4, 2)],
        },
        &[m],
        None,
    )?;
    check(
        &run(&g, corner)?,
        DType::F32,
        &[2, 2],
        &[1.0, 3.0, 9.0, 11.0],
    );
    Ok(())
}

#[test]
fn pad_fills_with_the_rounded_value() -> Result<()> {
    let mut g = Graph::new();
    let x = konst(&mut g, DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
    let p = g.add(
        Op::Pad {
            widths: vec![(1, 0), (0, 2)],
            value: -1.0,
        },
        &[x],
        None,
    )?;
    check(
        &run(&g, p)?,
        DType::F32,
        &[3, 4],
        &[
            -1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0, 3.0, 4.0, -1.0, -1.0,
        ],
    );
    let i = konst(&mut g, DType::I32, &[1], &[5.0])?;
    let q = g.add(
        Op::Pad {
            widths: vec![(1, 1)],
            value: 2.7,
        },
        &[i],
        None,
    )?;
    check(&run(&g, q)?, DType::I32, &[3], &[2.0, 5.0, 2.0]);
    let e = konst(&mut g, DType::F64, &[0], &[])?;
    let r = g.add(
        Op::Pad {
            widths: vec![(2, 0)],
            value: 0.5,
        },
        &[e],
        None,
    )?;
    check(&run(&g, r)?, DType::F64, &[2], &[0.5, 0.5]);
    Ok(())
}

#[test]
fn concat_along_each_axis() -> Result<()> {
    let mut g = Graph::new();
    let a = konst(&mut g, DType::F32, &[2, 1], &[1.0, 2.0])?;
    let b = konst(&mut g, DType::F32, &[2, 2], &[3.0, 4.0, 5.0, 6.0])?;
    let c = g.add(Op::Concat { axis: 1 }, &[a, b], None)?;
    check(
        &run(&g, c)?,
        DType::F32,
        &[2, 3],
        &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0],
    );

    let empty = konst(&mut g, DType::F32, &[0, 2], &[])?;
    let top = konst(&mut g, DType::F32, &[1, 2], &[-7.0, -8.0])?;
    let d = g.add(Op::Concat { axis: 0 }, &[b, empty, top], None)?;
    check(
        &run(&g, d)?,
        DType::F32,
        &[3, 2],
        &[3.0, 4.0, 5.0, 6.0, -7.0, -8.0],
    );
    Ok(())
}

#[test]
fn gather_along_axis_zero_and_one() -> Result<()> {
    let mut g = Graph::new();
    let src = konst(&mut g, DType::F32, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    // out[i][j] = src[idx[i][j]][j], with repeated indices.
    let idx = konst(&mut g, DType::I64, &[2, 2], &[2.0, 0.0, 2.0, 2.0])?;
    let y = g.add(Op::Gather { axis: 0 }, &[src, idx], None)?;
    check(&run(&g, y)?, DType::F32, &[2, 2], &[5.0, 2.0, 5.0, 6.0]);

    let src2 = konst(&mut g, DType::I64, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    // out[i][j] = src2[i][idx[i][j]]; an index smaller than the source on the other axis.
    let idx2 = konst(&mut g, DType::I32, &[2, 2], &[0.0, 0.0, 2.0, 1.0])?;
    let z = g.add(Op::Gather { axis: 1 }, &[src2, idx2], None)?;
    check(&run(&g, z)?, DType::I64, &[2, 2], &[1.0, 1.0, 6.0, 5.0]);
    let idx3 = konst(&mut g, DType::I64, &[1, 1], &[1.0])?;
    let w = g.add(Op::Gather { axis: 1 }, &[src2, idx3], None)?;
    check(&run(&g, w)?, DType::I64, &[1, 1], &[2.0]);
    Ok(())
}

#[test]
fn scatter_add_accumulates_repeated_indices() -> Result<()> {
    let mut g = Graph::new();
    let base = konst(&mut g, DType::F32, &[3, 2], &[0.0; 6])?;
    let idx = konst(&mut g, DType::I64, &[2, 2], &[0.0, 1.0, 0.0, 0.0])?;
    let src = konst(&mut g, DType::F32, &[2, 2], &[1.0, 2.0, 3.0, 4.0])?;
    // out[idx[i][j]][j] += src[i][j]
    let y = g.add(Op::ScatterAdd { axis: 0 }, &[base, idx, src], None)?;
    check(
        &run(&g, y)?,
        DType::F32,
        &[3, 2],
        &[4.0, 4.0, 0.0, 2.0, 0.0, 0.0],
    );

    let base2 = konst(
        &mut g,
        DType::I32,
        &[2, 3],
        &[10.0, 10.0, 10.0, 0.0, 0.0, 0.0],
    )?;
    let idx2 = konst(&mut g, DType::I32, &[2, 2], &[2.0, 2.0, 1.0, 0.0])?;
    let src2 = konst(&mut g, DType::I32, &[2, 2], &[1.0, 2.0, 3.0, -4.0])?;
    // out[i][idx[i][j]] += src[i][j]
    let z = g.add(Op::ScatterAdd { axis: 1 }, &[base2, idx2, src2], None)?;
    check(
        &run(&g, z)?,
        DType::I32,
        &[2, 3],
        &[10.0, 10.0, 13.0, -4.0, 3.0, 0.0],
    );
    Ok(())
}

/// Asserts a `Runtime` error at `node` whose message contains `needle`.
fn assert_runtime(result: Result<HostTensor>, node: NodeId, needle: &str) {
    match result {
        Err(IrError::Runtime { node: n, msg, .. }) => {
            assert_eq!(n, node);
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
        }
        other => panic!("expected a Runtime error, got {other:?}"),
    }
}

#[test]
fn out_of_range_indices_are_runtime_errors() -> Result<()> {
    let mut g = Graph::new();
    let src = konst(&mut g, DType::F32, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let too_big = konst(&mut g, DType::I64, &[1, 2], &[0.0, 3.0])?;
    let y = g.add(Op::Gather { axis: 0 }, &[src, too_big], None)?;
    assert_runtime(
        run(&g, y),
        y,
        "index 3 is out of bounds for axis 0 with size 3",
    );
    let err = run(&g, y).expect_err("index 3 is out of range");
    assert_eq!(
        err.to_string(),
        format!("gather at {y}: index 3 is out of bounds for axis 0 with size 3 (at index position [0, 1])")
    );

    let negative = konst(&mut g, DType::I32, &[1, 1], &[-1.0])?;
    let z = g.add(Op::Gather { axis: 1 }, &[src, negative], None)?;
    assert_runtime(
        run(&g, z),
        z,
        "index -1 is out of bounds for axis 1 with size 2",
    );

    let base = konst(&mut g, DType::F32, &[2, 2], &[0.0; 4])?;
    let idx = konst(&mut g, DType::I64, &[1, 2], &[1.0, 2.0])?;
    let s2 = konst(&mut g, DType::F32, &[1, 2], &[1.0, 1.0])?;
    let w = g.add(Op::ScatterAdd { axis: 1 }, &[base, idx, s2], None)?;
    assert_runtime(
        run(&g, w),
        w,
        "index 2 is out of bounds for axis 1 with size 2",
    );
    Ok(())
}

#[test]
fn matmul_non_square_batched_and_integer() -> Result<()> {
    let mut g = Graph::new();
    let a = konst(&mut g, DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let b = konst(
        &mut g,
        DType::F32,
        &[3, 4],
        &[
            1.0, 0.0, -1.0, 2.0, 0.0, 1.0, -2.0, 0.0, 1.0, 1.0, 0.0, -1.0,
        ],
    )?;
    let c = g.matmul(a, b)?;
    check(
        &run(&g, c)?,
        DType::F32,
        &[2, 4],
        &[4.0, 5.0, -5.0, -1.0, 10.0, 11.0, -14.0, 2.0],
    );

    let p = konst(
        &mut g,
        DType::F64,
        &[2, 2, 2],
        &[1.0, 2.0, 3.0, 4.0, 0.0, 1.0, -2.0, 5.0],
    )?;
    let q = konst(&mut g, DType::F64, &[2, 2, 1], &[1.0, -1.0, 2.0, 3.0])?;
    let r = g.matmul(p, q)?;
    check(
        &run(&g, r)?,
        DType::F64,
        &[2, 2, 1],
        &[-1.0, -1.0, 3.0, 11.0],
    );

    let i = konst(&mut g, DType::I32, &[1, 2], &[3.0, -4.0])?;
    let j = konst(&mut g, DType::I32, &[2, 1], &[5.0, 6.0])?;
    let k = g.matmul(i, j)?;
    check(&run(&g, k)?, DType::I32, &[1, 1], &[-9.0]);

    // K = 0: every element is an empty sum.
    let z0 = konst(&mut g, DType::F32, &[2, 0], &[])?;
    let z1 = konst(&mut g, DType::F32, &[0, 3], &[])?;
    let z = g.matmul(z0, z1)?;
    check(&run(&g, z)?, DType::F32, &[2, 3], &[0.0; 6]);
    Ok(())
}

#[test]
fn matmul_accumulates_in_f64_and_rounds_once() -> Result<()> {
    // In f32 arithmetic 1e8 + 1 - 1e8 is 0; accumulated in f64 and rounded once it is 1.
    let mut g = Graph::new();
    let a = konst(&mut g, DType::F32, &[1, 3], &[1e8, 1.0, -1e8])?;
    let b = konst(&mut g, DType::F32, &[3, 1], &[1.0, 1.0, 1.0])?;
    let c = g.matmul(a, b)?;
    check(&run(&g, c)?, DType::F32, &[1, 1], &[1.0]);
    Ok(())
}

fn feeds(pairs: &[(&str, HostTensor)]) -> HashMap<String, HostTensor> {
    pairs
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

#[test]
fn feeds_are_checked_by_name_dtype_and_shape() -> Result<()> {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, s(&[2]))?;
    let w = g.parameter("w", DType::F32, s(&[2]))?;
    let y = g.binary(BinaryOp::Mul, x, w)?;
    let good_x = HostTensor::from(vec![2.0f32, 3.0]);
    let good_w = HostTensor::from(vec![-1.0f32, 0.5]);

    let out = evaluate(
        &g,
        &[y],
        &feeds(&[("x", good_x.clone()), ("w", good_w.clone())]),
    )?;
    check(&out[0], DType::F32, &[2], &[-2.0, 1.5]);

    let missing = evaluate(&g, &[y], &feeds(&[("x", good_x.clone())]));
    match missing {
        Err(e @ IrError::MissingFeed { .. }) => {
            assert_eq!(
                e,
                IrError::MissingFeed {
                    name: "w".into(),
                    node: w
                }
            );
            assert_eq!(e.to_string(), "missing feed for input \"w\" (%1)");
        }
        other => panic!("expected MissingFeed, got {other:?}"),
    }

    let wrong_shape = HostTensor::from(vec![1.0f32, 2.0, 3.0]);
    let err = evaluate(
        &g,
        &[y],
        &feeds(&[("x", wrong_shape), ("w", good_w.clone())]),
    );
    match err {
        Err(e @ IrError::FeedMismatch { .. }) => {
            assert_eq!(e.to_string(), "feed for \"x\": expected f32[2], got f32[3]");
        }
        other => panic!("expected FeedMismatch, got {other:?}"),
    }

    let wrong_dtype = HostTensor::from(vec![2.0f64, 3.0]);
    let err = evaluate(&g, &[y], &feeds(&[("x", good_x), ("w", wrong_dtype)]));
    match err {
        Err(e @ IrError::FeedMismatch { .. }) => {
            assert_eq!(e.to_string(), "feed for \"w\": expected f32[2], got f64[2]");
        }
        other => panic!("expected FeedMismatch, got {other:?}"),
    }
    Ok(())
}

#[test]
fn only_needed_nodes_are_evaluated() -> Result<()> {
    let mut g = Graph::new();
    let unused = g.input("unused", DType::F32, s(&[2]))?;
    let _never = g.unary(UnaryOp::Neg, unused)?;
    let bad_src = konst(&mut g, DType::F32, &[1], &[1.0])?;
    let bad_idx = konst(&mut g, DType::I64, &[1], &[9.0])?;
    let _failing = g.add(Op::Gather { axis: 0 }, &[bad_src, bad_idx], None)?;
    let k = g.scalar(DType::F32, 2.0)?;
    let y = g.unary(UnaryOp::Sqrt, k)?;
    // Neither the unfed input nor the failing gather is on the path to `y`.
    check(&run(&g, y)?, DType::F32, &[], &[f32_of(2f64.sqrt())]);
    Ok(())
}

#[test]
fn unknown_output_and_graph_outputs() -> Result<()> {
    let mut g = Graph::new();
    let a = g.scalar(DType::I64, 4.0)?;
    let b = g.unary(UnaryOp::Neg, a)?;
    assert!(matches!(
        evaluate(&g, &[b, NodeId(99)], &HashMap::new()),
        Err(IrError::UnknownNode(NodeId(99)))
    ));
    g.set_outputs(&[b, a])?;
    let out = evaluate_outputs(&g, &HashMap::new())?;
    check(&out[0], DType::I64, &[], &[-4.0]);
    check(&out[1], DType::I64, &[], &[4.0]);
    Ok(())
}

fn random(g: &mut Graph, dist: Distribution, seed: u64, dtype: DType, n: usize) -> Result<NodeId> {
    g.add(
        Op::Random { dist, seed },
        &[],
        Some(TensorType::new(dtype, s(&[n]))),
    )
}

#[test]
fn random_uniform_is_in_unit_interval_and_deterministic() -> Result<()> {
    let mut g = Graph::new();
    let u = random(&mut g, Distribution::Uniform, 42, DType::F32, 10_000)?;
    let again = random(&mut g, Distribution::Uniform, 42, DType::F32, 10_000)?;
    let other = random(&mut g, Distribution::Uniform, 43, DType::F32, 10_000)?;
    let wide = random(&mut g, Distribution::Uniform, 42, DType::F64, 10_000)?;
    let out = evaluate(&g, &[u, again, other, wide], &HashMap::new())?;
    let v = out[0].as_f32()?;
    assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / 10_000.0;
    assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    assert_eq!(out[0], out[1]);
    assert_ne!(out[0], out[2]);
    assert_eq!(out[3].to_f64_vec(), out[0].to_f64_vec());
    for i in [0usize, 1, 5, 9_999] {
        assert_eq!(v[i], philox_uniform(42, i as u64));
    }
    Ok(())
}

#[test]
fn random_normal_has_unit_moments_and_is_deterministic() -> Result<()> {
    let mut g = Graph::new();
    let n = random(&mut g, Distribution::Normal, 7, DType::F32, 10_000)?;
    let again = random(&mut g, Distribution::Normal, 7, DType::F32, 10_000)?;
    let other = random(&mut g, Distribution::Normal, 8, DType::F32, 10_000)?;
    let out = evaluate(&g, &[n, again, other], &HashMap::new())?;
    let v = out[0].to_f64_vec();
    assert!(v.iter().all(|x| x.is_finite()));
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 0.05, "std {}", var.sqrt());
    assert_eq!(out[0], out[1]);
    assert_ne!(out[0], out[2]);
    Ok(())
}
