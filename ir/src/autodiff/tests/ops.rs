//! One finite-difference check per differentiable primitive, on operands reached through the
//! views the API produces: plain inputs, broadcasts (`expand` of size-1 axes), transposed
//! (`permute`) and strided (`slice` with step 2) values, over shapes with size-1 axes.

use super::{check_feeds, check_range, s};
use crate::autodiff::gradcheck::{random_feeds, Rng};
use crate::dtype::DType;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, SliceRange, UnaryOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;

/// How an operand of a given shape is produced from an input.
#[derive(Clone, Copy, Debug)]
enum View {
    Plain,
    /// Every even axis is broadcast from size 1.
    Expand,
    /// The input has the reversed shape and is permuted back.
    Permute,
    /// The input is about twice as large on each axis and sliced `1..` by 2.
    Slice,
}

const VIEWS: [View; 4] = [View::Plain, View::Expand, View::Permute, View::Slice];

/// Adds input `name` and returns `(input, value of shape dims)`.
fn operand(g: &mut Graph, name: &str, dims: &[usize], view: View) -> (NodeId, NodeId) {
    match view {
        View::Plain => {
            let x = g.input(name, DType::F64, s(dims)).unwrap();
            (x, x)
        }
        View::Expand => {
            let small: Vec<usize> = dims
                .iter()
                .enumerate()
                .map(|(i, &d)| if i % 2 == 0 { 1 } else { d })
                .collect();
            let x = g.input(name, DType::F64, s(&small)).unwrap();
            (x, g.expand(x, s(dims)).unwrap())
        }
        View::Permute => {
            let rev: Vec<usize> = dims.iter().rev().copied().collect();
            let x = g.input(name, DType::F64, s(&rev)).unwrap();
            let perm: Vec<usize> = (0..dims.len()).rev().collect();
            (x, g.permute(x, &perm).unwrap())
        }
        View::Slice => {
            let big: Vec<usize> = dims.iter().map(|&d| 2 * d + 1).collect();
            let x = g.input(name, DType::F64, s(&big)).unwrap();
            let ranges = big
                .iter()
                .map(|&d| SliceRange {
                    start: 1,
                    end: d,
                    step: 2,
                })
                .collect();
            (x, g.add(Op::Slice { ranges }, &[x], None).unwrap())
        }
    }
}

const SHAPES: [&[usize]; 3] = [&[3, 1, 4], &[2, 3], &[5]];

#[test]
fn autodiff_unary_ops() {
    // Domains chosen away from singularities and kinks: [0.3, 2) for log/sqrt/recip.
    let cases = [
        (UnaryOp::Neg, -2.0, 2.0),
        (UnaryOp::Exp, -2.0, 2.0),
        (UnaryOp::Log, 0.3, 2.0),
        (UnaryOp::Sin, -3.0, 3.0),
        (UnaryOp::Cos, -3.0, 3.0),
        (UnaryOp::Tanh, -2.0, 2.0),
        (UnaryOp::Sqrt, 0.3, 2.0),
        (UnaryOp::Recip, 0.3, 2.0),
        (UnaryOp::Abs, 0.2, 2.0),
    ];
    let mut seed = 0;
    for (u, lo, hi) in cases {
        for dims in SHAPES {
            for view in VIEWS {
                seed += 1;
                let mut g = Graph::new();
                let (x, xv) = operand(&mut g, "x", dims, view);
                let y = g.unary(u, xv).unwrap();
                check_range(&g, y, &[x], lo, hi, seed);
            }
        }
    }
}

#[test]
fn autodiff_abs_on_both_sides_of_zero() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[4, 3])).unwrap();
    let y = g.unary(UnaryOp::Abs, x).unwrap();
    let mut rng = Rng::new(5);
    let v: Vec<f64> = (0..12)
        .map(|i| {
            let m = rng.uniform(0.2, 2.0);
            if i % 2 == 0 {
                m
            } else {
                -m
            }
        })
        .collect();
    let feeds = std::collections::HashMap::from([(
        "x".to_string(),
        HostTensor::from_f64(DType::F64, s(&[4, 3]), &v).unwrap(),
    )]);
    check_feeds(&g, y, &[x], &feeds, 1);
}

#[test]
fn autodiff_binary_ops() {
    let cases = [
        (BinaryOp::Add, -2.0, 2.0),
        (BinaryOp::Sub, -2.0, 2.0),
        (BinaryOp::Mul, -2.0, 2.0),
        (BinaryOp::Div, 0.5, 2.0),
        (BinaryOp::Max, -2.0, 2.0),
        (BinaryOp::Min, -2.0, 2.0),
        (BinaryOp::Pow, 0.5, 2.0),
    ];
    let mut seed = 1000;
    for (b, lo, hi) in cases {
        for dims in SHAPES {
            for (i, va) in VIEWS.into_iter().enumerate() {
                let vb = VIEWS[(i + 1) % VIEWS.len()];
                seed += 1;
                let mut g = Graph::new();
                let (x, xv) = operand(&mut g, "x", dims, va);
                let (y, yv) = operand(&mut g, "y", dims, vb);
                let z = g.binary(b, xv, yv).unwrap();
                check_range(&g, z, &[x, y], lo, hi, seed);
                // The same operand on both sides (gradients summed).
                let mut g = Graph::new();
                let (x, xv) = operand(&mut g, "x", dims, va);
                let z = g.binary(b, xv, xv).unwrap();
                if !matches!(b, BinaryOp::Max | BinaryOp::Min) {
                    check_range(&g, z, &[x], lo, hi, seed);
                }
            }
        }
    }
}

#[test]
fn autodiff_pow_with_negative_exponents() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[3, 4])).unwrap();
    let e = g.input("e", DType::F64, s(&[3, 4])).unwrap();
    let y = g.binary(BinaryOp::Pow, x, e).unwrap();
    let mut rng = Rng::new(9);
    let mut feeds = random_feeds(&g, &mut rng, 0.5, 2.0);
    feeds.insert("e".into(), rng.tensor(DType::F64, &s(&[3, 4]), -2.5, 2.5));
    check_feeds(&g, y, &[x, e], &feeds, 3);
}

#[test]
fn autodiff_where_and_cast() {
    for (k, dims) in SHAPES.into_iter().enumerate() {
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", dims, View::Expand);
        let (y, yv) = operand(&mut g, "y", dims, View::Permute);
        let c = g.binary(BinaryOp::Gt, xv, yv).unwrap();
        let w = g.select(c, xv, yv).unwrap();
        let t = g.unary(UnaryOp::Sin, w).unwrap();
        check_range(&g, t, &[x, y], -2.0, 2.0, 50 + k as u64);
    }
    // f64 -> f32 -> f64: the gradient is cast back. Checked with a step and tolerance that
    // f32 rounding allows.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[2, 3])).unwrap();
    let x32 = g.cast(x, DType::F32).unwrap();
    let e = g.unary(UnaryOp::Exp, x32).unwrap();
    let y = g.cast(e, DType::F64).unwrap();
    let feeds = random_feeds(&g, &mut Rng::new(4), -1.0, 1.0);
    let tol = crate::autodiff::gradcheck::Tolerance {
        eps: 1e-3,
        rtol: 1e-3,
        atol: 1e-4,
    };
    crate::autodiff::gradcheck::gradcheck(&g, y, &[x], &feeds, tol, 1).unwrap();
}

#[test]
fn autodiff_reductions() {
    for (op, seed0) in [(ReduceOp::Sum, 200), (ReduceOp::Max, 300)] {
        let dims: &[usize] = &[3, 1, 4];
        for (k, axes) in [&[0usize][..], &[2], &[0, 2], &[0, 1, 2], &[1]]
            .into_iter()
            .enumerate()
        {
            for (j, view) in VIEWS.into_iter().enumerate() {
                if matches!((op, view), (ReduceOp::Max, View::Expand)) {
                    // A broadcast value has exact ties along the broadcast axes.
                    continue;
                }
                let mut g = Graph::new();
                let (x, xv) = operand(&mut g, "x", dims, view);
                let y = g.reduce(op, xv, axes).unwrap();
                check_range(&g, y, &[x], -2.0, 2.0, seed0 + 10 * k as u64 + j as u64);
            }
        }
    }
}

#[test]
fn autodiff_movement_ops() {
    let mut seed = 400;
    for view in VIEWS {
        seed += 1;
        // reshape
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", &[2, 3, 4], view);
        let r = g.reshape(xv, s(&[4, 1, 6])).unwrap();
        let y = g.unary(UnaryOp::Sin, r).unwrap();
        check_range(&g, y, &[x], -2.0, 2.0, seed);
        // permute
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", &[2, 3, 4], view);
        let p = g.permute(xv, &[1, 2, 0]).unwrap();
        let y = g.unary(UnaryOp::Sin, p).unwrap();
        check_range(&g, y, &[x], -2.0, 2.0, seed);
        // expand (of a value that is itself a view)
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", &[3, 1, 1], view);
        let e = g.expand(xv, s(&[3, 4, 2])).unwrap();
        let y = g.unary(UnaryOp::Sin, e).unwrap();
        check_range(&g, y, &[x], -2.0, 2.0, seed);
        // pad
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", &[2, 3], view);
        let p = g
            .add(
                Op::Pad {
                    widths: vec![(1, 2), (0, 3)],
                    value: 0.5,
                },
                &[xv],
                None,
            )
            .unwrap();
        let y = g.unary(UnaryOp::Sin, p).unwrap();
        check_range(&g, y, &[x], -2.0, 2.0, seed);
        // concat of three operands, one used twice
        let mut g = Graph::new();
        let (a, av) = operand(&mut g, "a", &[2, 3], view);
        let (b, bv) = operand(&mut g, "b", &[2, 1], View::Plain);
        let c = g.add(Op::Concat { axis: 1 }, &[av, bv, av], None).unwrap();
        let y = g.unary(UnaryOp::Sin, c).unwrap();
        check_range(&g, y, &[a, b], -2.0, 2.0, seed);
    }
}

#[test]
fn autodiff_slices_with_steps() {
    let cases: [&[(usize, usize, usize)]; 5] = [
        &[(1, 4, 1), (0, 5, 1)],
        &[(0, 5, 2), (1, 5, 3)],
        &[(2, 3, 1), (4, 5, 4)],
        &[(1, 5, 3), (0, 5, 1)],
        &[(0, 0, 1), (0, 5, 2)],
    ];
    for (k, ranges) in cases.into_iter().enumerate() {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, s(&[5, 5])).unwrap();
        let t = g.unary(UnaryOp::Exp, x).unwrap();
        let ranges = ranges
            .iter()
            .map(|&(start, end, step)| SliceRange { start, end, step })
            .collect();
        let sl = g.add(Op::Slice { ranges }, &[t], None).unwrap();
        let y = g.unary(UnaryOp::Sin, sl).unwrap();
        if g.node(y).unwrap().shape().numel() == 0 {
            // Empty slice: the gradient must still be well-typed zeros.
            let mut g2 = g.clone();
            let seed = g2.input("seed", DType::F64, g.node(y).unwrap().shape().clone());
            let d = crate::autodiff::grad(&mut g2, &[y], &[Some(seed.unwrap())], &[x]).unwrap();
            g2.verify().unwrap();
            assert_eq!(g2.node(d[0]).unwrap().shape(), &s(&[5, 5]));
            continue;
        }
        check_range(&g, y, &[x], -1.0, 1.0, 500 + k as u64);
    }
    // A rank-3 strided slice with a permuted input.
    let mut g = Graph::new();
    let x = g.input("x", DType::F64, s(&[7, 4, 6])).unwrap();
    let p = g.permute(x, &[2, 0, 1]).unwrap();
    let ranges = vec![
        SliceRange {
            start: 1,
            end: 6,
            step: 2,
        },
        SliceRange {
            start: 0,
            end: 7,
            step: 3,
        },
        SliceRange {
            start: 1,
            end: 3,
            step: 1,
        },
    ];
    let sl = g.add(Op::Slice { ranges }, &[p], None).unwrap();
    let y = g.unary(UnaryOp::Sin, sl).unwrap();
    check_range(&g, y, &[x], -1.0, 1.0, 600);
}

/// An integer index constant of `dims` with values in `0..bound`.
fn index(g: &mut Graph, dims: &[usize], bound: usize, seed: u64) -> NodeId {
    let mut rng = Rng::new(seed);
    let v: Vec<f64> = (0..dims.iter().product::<usize>())
        .map(|_| rng.below(bound) as f64)
        .collect();
    g.constant(HostTensor::from_f64(DType::I64, Shape::new(dims).unwrap(), &v).unwrap())
        .unwrap()
}

#[test]
fn autodiff_gather_and_scatter_add() {
    for (axis, view) in [(0, View::Plain), (1, View::Permute), (1, View::Slice)] {
        // gather: src [4, 5], index [6, 3] along axis 0 or [3, 7] along axis 1 (repeats).
        let mut g = Graph::new();
        let (x, xv) = operand(&mut g, "x", &[4, 5], view);
        let idims: &[usize] = if axis == 0 { &[6, 3] } else { &[3, 7] };
        let bound = if axis == 0 { 4 } else { 5 };
        let i = index(&mut g, idims, bound, 70 + axis as u64);
        let y = g.add(Op::Gather { axis }, &[xv, i], None).unwrap();
        check_range(&g, y, &[x], -2.0, 2.0, 700 + axis as u64);

        // scatter_add: base [4, 5], index/src of the index's shape.
        let mut g = Graph::new();
        let (b, bv) = operand(&mut g, "b", &[4, 5], view);
        let (src, srcv) = operand(&mut g, "src", idims, View::Plain);
        let i = index(&mut g, idims, bound, 80 + axis as u64);
        let y = g
            .add(Op::ScatterAdd { axis }, &[bv, i, srcv], None)
            .unwrap();
        let y = g.unary(UnaryOp::Sin, y).unwrap();
        check_range(&g, y, &[b, src], -1.0, 1.0, 800 + axis as u64);
    }
}

#[test]
fn autodiff_matmul() {
    let mut seed = 900;
    for (va, vb) in [
        (View::Plain, View::Plain),
        (View::Permute, View::Slice),
        (View::Slice, View::Expand),
    ] {
        for (adims, bdims) in [
            (&[3usize, 4][..], &[4usize, 2][..]),
            (&[1, 4], &[4, 1]),
            (&[2, 3, 4], &[2, 4, 5]),
        ] {
            seed += 1;
            let mut g = Graph::new();
            let (a, av) = operand(&mut g, "a", adims, va);
            let (b, bv) = operand(&mut g, "b", bdims, vb);
            let c = g.matmul(av, bv).unwrap();
            check_range(&g, c, &[a, b], -1.0, 1.0, seed);
        }
    }
}
