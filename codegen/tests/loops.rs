//! Differential tests of the CPU loop kernels (`kiln_codegen::cpu::loops`) against the kernel
//! evaluator: every op and dtype at sizes around the vector width, views (broadcast, permute,
//! strided slice, pad, concat), reductions, argmax, gather/scatter with bad indices, random, and
//! random graphs, each lowered fused and eager. A tiny test-only runner allocates every buffer,
//! runs each kernel over its whole range and again split into three ranges (run last-first), and
//! the two runs must agree bit for bit. For gemm kernels the runner computes the product itself
//! (in f64, rounded once) and runs the compiled epilogue on it, in place or from the scratch
//! buffer when the output's dtype differs.

use std::collections::HashMap;

mod loops_runner;

use kiln_codegen::cpu::loops::kernel_vectorises;
use kiln_ir::kernel::{evaluate_program, lower, KernelKind, LowerOptions};
use kiln_ir::testing::{feeds, known_difference, random_graph_from_seed};
use kiln_ir::{
    BinaryOp, DType, Distribution, Graph, HostTensor, IrError, NodeId, Op, ReduceOp, Shape,
    SliceRange, TensorType, UnaryOp,
};
use loops_runner::{compile, run, same, Split, Tol, TIGHT};

/// Lowers `outputs` fused and eager; compares the native runs (whole and split) with the
/// evaluator. Returns whether a program had a gemm (its product computed by the test).
fn check_with(
    g: &Graph,
    outputs: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
    tol: Tol,
) -> Result<bool, String> {
    let mut gemm = false;
    for opts in [LowerOptions::default(), LowerOptions::eager()] {
        let p = lower(g, outputs, &opts).map_err(|e| format!("lower: {e}"))?;
        gemm |= p
            .kernels
            .iter()
            .any(|k| matches!(k.kind, KernelKind::Gemm { .. }));
        let c = compile(&p);
        let want = evaluate_program(&p, feeds);
        let whole = run(&c, &p, feeds, Split::Whole);
        let split = run(&c, &p, feeds, Split::ThreeReversed);
        match (&want, &whole) {
            (Ok(w), Ok(o)) => {
                for (i, (o, w)) in o.iter().zip(w).enumerate() {
                    same(o, w, tol)
                        .map_err(|e| format!("eager={} output {i}: {e}\n{p}", opts.eager))?;
                }
            }
            (Err(IrError::Runtime { .. }), Err(_)) => {}
            (w, o) => {
                return Err(format!(
                    "eager={}: evaluator {:?} vs native {:?}\n{p}",
                    opts.eager,
                    w.as_ref().err(),
                    o.as_ref().err()
                ))
            }
        }
        match (&whole, &split) {
            (Ok(a), Ok(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let bits = |t: &HostTensor| -> Vec<u64> {
                        (0..t.numel()).map(|i| t.get_f64(i).to_bits()).collect()
                    };
                    if bits(x) != bits(y) {
                        return Err(format!("split run differs\n{p}"));
                    }
                }
            }
            (Err(_), Err(_)) => {}
            _ => return Err("split run disagrees on errors".into()),
        }
    }
    Ok(gemm)
}

fn check(
    g: &Graph,
    outputs: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
) -> Result<bool, String> {
    check_with(g, outputs, feeds, TIGHT)
}

fn sh(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

/// Broadcasts `x` to `dims` (reshaping to the target rank with leading 1s first).
fn bcast(g: &mut Graph, x: NodeId, dims: &[usize]) -> NodeId {
    let xd = g.node(x).unwrap().shape().dims().to_vec();
    let mut r = vec![1; dims.len() - xd.len()];
    r.extend(xd);
    let x = g.reshape(x, sh(&r)).unwrap();
    g.expand(x, sh(dims)).unwrap()
}

const SIZES: [usize; 8] = [0, 1, 3, 4, 5, 17, 783, 4096];

#[test]
fn loops_every_elementwise_op_dtype_and_size() {
    let mut kernels = 0;
    for dtype in DType::ALL {
        for n in SIZES {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&[n])).unwrap();
            let y = g.input("y", dtype, sh(&[n])).unwrap();
            let c = g.input("c", DType::Bool, sh(&[n])).unwrap();
            let mut outs = Vec::new();
            for u in UnaryOp::ALL {
                if u.accepts(dtype) {
                    outs.push(g.unary(u, x).unwrap());
                }
            }
            for b in BinaryOp::ALL {
                if b.accepts(dtype) {
                    outs.push(g.binary(b, x, y).unwrap());
                }
            }
            outs.push(g.select(c, x, y).unwrap());
            for d in DType::ALL {
                outs.push(g.cast(x, d).unwrap());
            }
            let f = feeds(&g, n as u64 + 3, true);
            for &o in &outs {
                check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dtype}[{n}]: {e}"));
                kernels += 1;
            }
        }
    }
    assert!(kernels > 300);
}

#[test]
fn loops_float_elementwise_vectorises() {
    for dtype in [DType::F32, DType::F64] {
        let mut g = Graph::new();
        let x = g.input("x", dtype, sh(&[5, 17])).unwrap();
        let a = g.input("a", dtype, sh(&[17])).unwrap();
        let ae = bcast(&mut g, a, &[5, 17]);
        let m = g.binary(BinaryOp::Mul, x, ae).unwrap();
        let e = g.unary(UnaryOp::Exp, m).unwrap();
        let gt = g.binary(BinaryOp::Gt, e, x).unwrap();
        let s = g.select(gt, e, m).unwrap();
        let p = g.binary(BinaryOp::Pow, s, x).unwrap();
        let p = lower(&g, &[p], &LowerOptions::default()).unwrap();
        assert_eq!(p.kernels.len(), 1);
        assert!(kernel_vectorises(&p, 0), "{p}");
    }
}

/// Contiguous axes merge (so `[n, 3]` vectorises), and reductions vectorise along the inner
/// axis whether it is reduced or kept.
#[test]
fn loops_merged_axes_and_reductions_vectorise() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, sh(&[50, 3, 1])).unwrap();
    let y = g.unary(UnaryOp::Tanh, x).unwrap();
    let p = lower(&g, &[y], &LowerOptions::default()).unwrap();
    assert!(kernel_vectorises(&p, 0), "{p}");
    let f = feeds(&g, 1, true);
    check(&g, &[y], &f).unwrap();
    for axes in [&[0usize][..], &[1], &[1, 2], &[0, 2]] {
        let mut g = Graph::new();
        let x = g.input("x", DType::F64, sh(&[6, 5, 17])).unwrap();
        let e = g.unary(UnaryOp::Exp, x).unwrap();
        let r = g.reduce(ReduceOp::Sum, e, axes).unwrap();
        let p = lower(&g, &[r], &LowerOptions::default()).unwrap();
        assert_eq!(p.kernels.len(), 1);
        assert!(kernel_vectorises(&p, 0), "{axes:?}: {p}");
        let f = feeds(&g, 2, false);
        check(&g, &[r], &f).unwrap_or_else(|e| panic!("{axes:?}: {e}"));
    }
}

/// Gemm epilogues (bias, relu, a cast that needs the scratch buffer), batched and transposed.
#[test]
fn loops_gemm_epilogues() {
    for dtype in [DType::F32, DType::F64, DType::I64] {
        for (batch, m, k, n) in [(vec![], 3, 4, 5), (vec![2], 5, 3, 17), (vec![], 1, 1, 1)] {
            let mut g = Graph::new();
            let mut ad = batch.clone();
            ad.extend([m, k]);
            let mut bd = batch.clone();
            bd.extend([n, k]);
            let mut od = batch.clone();
            od.extend([m, n]);
            let a = g.input("a", dtype, sh(&ad)).unwrap();
            let bt = g.input("bt", dtype, sh(&bd)).unwrap();
            let r = bd.len();
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 1, r - 2);
            let b = g.permute(bt, &perm).unwrap();
            let mm = g.matmul(a, b).unwrap();
            let bias = g.input("bias", dtype, sh(&[n])).unwrap();
            let bias = bcast(&mut g, bias, &od);
            let y = g.binary(BinaryOp::Add, mm, bias).unwrap();
            let zero = g.scalar(dtype, 0.0).unwrap();
            let zero = bcast(&mut g, zero, &od);
            let relu = g.binary(BinaryOp::Max, y, zero).unwrap();
            let mm2 = g.matmul(a, b).unwrap();
            let other = if dtype == DType::F64 {
                DType::F32
            } else {
                DType::F64
            };
            let cast = g.cast(mm2, other).unwrap();
            let f = feeds(&g, 4, false);
            for o in [relu, cast] {
                let p = lower(&g, &[o], &LowerOptions::default()).unwrap();
                assert!(matches!(
                    p.kernels[0].kind,
                    KernelKind::Gemm {
                        epilogue: Some(_),
                        ..
                    }
                ));
                assert!(check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dtype}: {e}")));
            }
        }
    }
}

/// Broadcasts, permutes, strided slices, pad and concat: the masked and non-unit-stride paths.
#[test]
fn loops_views_broadcast_permute_slice_pad_concat() {
    for dtype in [DType::F32, DType::F64, DType::I32, DType::Bool] {
        for (r, c) in [(1, 1), (3, 5), (7, 33), (4, 783)] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(&[r, c])).unwrap();
            let row = g.input("row", dtype, sh(&[c])).unwrap();
            let col = g.input("col", dtype, sh(&[r, 1])).unwrap();
            let yt = g.input("yt", dtype, sh(&[c, r])).unwrap();
            let re = bcast(&mut g, row, &[r, c]);
            let ce = bcast(&mut g, col, &[r, c]);
            let y = g.permute(yt, &[1, 0]).unwrap();
            let op = if dtype == DType::Bool {
                BinaryOp::Or
            } else {
                BinaryOp::Max
            };
            let a = g.binary(op, x, re).unwrap();
            let b = g.binary(op, ce, y).unwrap();
            let sum = g.binary(op, a, b).unwrap();
            let sl = g
                .add(
                    Op::Slice {
                        ranges: vec![
                            SliceRange {
                                start: 0,
                                end: r,
                                step: 2,
                            },
                            SliceRange {
                                start: c / 3,
                                end: c,
                                step: 3,
                            },
                        ],
                    },
                    &[sum],
                    None,
                )
                .unwrap();
            let pad = g
                .add(
                    Op::Pad {
                        widths: vec![(1, 2), (3, 0)],
                        value: 1.0,
                    },
                    &[sl],
                    None,
                )
                .unwrap();
            let pad_rows = g
                .add(
                    Op::Pad {
                        widths: vec![(2, 1), (0, 0)],
                        value: 0.0,
                    },
                    &[sum],
                    None,
                )
                .unwrap();
            let cat1 = g.add(Op::Concat { axis: 1 }, &[x, y, x], None).unwrap();
            let cat0 = g.add(Op::Concat { axis: 0 }, &[x, y], None).unwrap();
            let f = feeds(&g, (r * c) as u64, true);
            for o in [sum, sl, pad, pad_rows, cat1, cat0] {
                check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dtype} {r}x{c}: {e}"));
            }
        }
    }
}

#[test]
fn loops_reductions_over_every_axis_set() {
    let shapes: [&[usize]; 10] = [
        &[],
        &[1],
        &[5],
        &[4096],
        &[3, 17],
        &[17, 3],
        &[4, 783],
        &[2, 3, 5],
        &[0, 3],
        &[3, 0],
    ];
    for dims in shapes {
        let rank = dims.len();
        for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
            let mut g = Graph::new();
            let x = g.input("x", dtype, sh(dims)).unwrap();
            let mut outs = Vec::new();
            for mask in 0..(1u32 << rank) {
                let axes: Vec<usize> = (0..rank).filter(|&k| mask & (1 << k) != 0).collect();
                for op in [ReduceOp::Sum, ReduceOp::Max] {
                    let r = g.reduce(op, x, &axes).unwrap();
                    outs.push(r);
                    if dtype.is_float() {
                        // A fused epilogue: exp(r) * r + 1 for max (exact), r * r + 1 for sums
                        // (whose f32 rounding differs from the evaluator's f64 sum).
                        let e = match op {
                            ReduceOp::Max => g.unary(UnaryOp::Exp, r).unwrap(),
                            ReduceOp::Sum => r,
                        };
                        let m = g.binary(BinaryOp::Mul, e, r).unwrap();
                        let one = g.scalar(dtype, 1.0).unwrap();
                        let rd = g.node(r).unwrap().shape().dims().to_vec();
                        let one = bcast(&mut g, one, &rd);
                        outs.push(g.binary(BinaryOp::Add, m, one).unwrap());
                    }
                }
            }
            let f = feeds(&g, rank as u64 + 1, false);
            // f32 sums of up to 4096 terms: the evaluator sums in f64.
            let tol = Tol {
                f32: (2e-5, 2e-4),
                f64: (1e-12, 1e-12),
            };
            for o in outs {
                check_with(&g, &[o], &f, tol).unwrap_or_else(|e| panic!("{dtype}{dims:?}: {e}"));
            }
        }
    }
}

#[test]
fn loops_argmax_first_maximum_and_nan() {
    let data = [
        1.0,
        3.0,
        3.0,
        -1.0,
        f64::NAN,
        2.0,
        3.0,
        f64::NAN,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for dims in [[3usize, 4], [4, 3], [1, 12], [12, 1]] {
            let mut g = Graph::new();
            let vals: Vec<f64> = data
                .iter()
                .map(|&v| {
                    if dtype.is_float() || !v.is_nan() {
                        v
                    } else {
                        9.0
                    }
                })
                .collect();
            let x = g
                .constant(HostTensor::from_f64(dtype, sh(&dims), &vals).unwrap())
                .unwrap();
            let xi = g.input("x", dtype, sh(&dims)).unwrap();
            let a0 = g.add(Op::ArgMax { axis: 0 }, &[x], None).unwrap();
            let a1 = g.add(Op::ArgMax { axis: 1 }, &[x], None).unwrap();
            let t = g.permute(xi, &[1, 0]).unwrap();
            let a2 = g.add(Op::ArgMax { axis: 1 }, &[t], None).unwrap();
            let f = feeds(&g, 5, true);
            check(&g, &[a0, a1, a2], &f).unwrap_or_else(|e| panic!("{dtype}{dims:?}: {e}"));
        }
    }
}

/// A long innermost axis with few rows is split into chunks (so a flat map runs on every
/// thread): rank-1 and few-row maps in vector and scalar code, masked (concat) loads, a gemm
/// epilogue with one long row and a scatter-add whose base is a long map; whole and split runs
/// agree bit for bit and with the evaluator.
#[test]
fn loops_long_inner_axis_is_chunked() {
    use kiln_codegen::cpu::jit::Jit;
    use kiln_codegen::cpu::loops::compile_loop_kernel;
    const C: usize = 16384;
    for n in [2 * C, 2 * C + 5, 3 * C + 17] {
        for rows in [None, Some(3)] {
            let dims: Vec<usize> = rows.into_iter().chain([n]).collect();
            for dtype in [DType::F32, DType::F64, DType::I32] {
                let mut g = Graph::new();
                let x = g.input("x", dtype, sh(&dims)).unwrap();
                let a = g.input("a", dtype, sh(&dims)).unwrap();
                let m = g.binary(BinaryOp::Mul, x, a).unwrap();
                let s = g.binary(BinaryOp::Add, m, x).unwrap();
                let z = g.scalar(dtype, 0.0).unwrap();
                let z = bcast(&mut g, z, &dims);
                let relu = g.binary(BinaryOp::Max, s, z).unwrap();
                let gt = g.binary(BinaryOp::Gt, relu, a).unwrap();
                let mut outs = vec![relu, gt];
                if rows.is_none() {
                    let cat = g.add(Op::Concat { axis: 0 }, &[x, a], None).unwrap();
                    outs.push(g.binary(BinaryOp::Sub, cat, cat).unwrap());
                }
                let f = feeds(&g, n as u64, dtype.is_float());
                for &o in &outs {
                    check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dtype}{dims:?}: {e}"));
                }
                let p = lower(&g, &[relu], &LowerOptions::default()).unwrap();
                assert_eq!(p.kernels.len(), 1);
                let mut jit = Jit::new().unwrap();
                let lk = compile_loop_kernel(&mut jit, &p, 0, "k").unwrap();
                // Contiguous `[3, n]` merges into one axis of `3n`.
                let flat = rows.unwrap_or(1) * n;
                assert_eq!(lk.parallel_extent, flat.div_ceil(C), "{p}");
            }
        }
    }
    // A gemm epilogue over one long row.
    let (k, n) = (2, 2 * C + 3);
    let mut g = Graph::new();
    let a = g.input("a", DType::F32, sh(&[1, k])).unwrap();
    let b = g.input("b", DType::F32, sh(&[k, n])).unwrap();
    let mm = g.matmul(a, b).unwrap();
    let bias = g.input("bias", DType::F32, sh(&[1, n])).unwrap();
    let y = g.binary(BinaryOp::Add, mm, bias).unwrap();
    let f = feeds(&g, 7, false);
    assert!(check(&g, &[y], &f).unwrap());
    // A scatter-add whose base (a long map) is chunked.
    let mut g = Graph::new();
    let base = g.input("base", DType::F32, sh(&[n])).unwrap();
    let idx = g.input("idx", DType::I64, sh(&[5])).unwrap();
    let sv = g.input("sv", DType::F32, sh(&[5])).unwrap();
    let sc = g
        .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
        .unwrap();
    let mut f = feeds(&g, 8, false);
    f.insert(
        "idx".into(),
        HostTensor::from_f64(DType::I64, sh(&[5]), &[0.0, 3.0, 3.0, (n - 1) as f64, 17.0]).unwrap(),
    );
    check(&g, &[sc], &f).unwrap();
}

#[test]
fn loops_gather_and_scatter_check_indices() {
    for dtype in [DType::F32, DType::I64] {
        for idx_dtype in [DType::I32, DType::I64] {
            let mut g = Graph::new();
            let src = g.input("src", dtype, sh(&[5, 3])).unwrap();
            let idx = g.input("idx", idx_dtype, sh(&[4, 3])).unwrap();
            let ga0 = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
            let idx1 = g.input("idx1", idx_dtype, sh(&[5, 2])).unwrap();
            let ga1 = g.add(Op::Gather { axis: 1 }, &[src, idx1], None).unwrap();
            let base = g.input("base", dtype, sh(&[5, 3])).unwrap();
            let sv = g.input("sv", dtype, sh(&[4, 3])).unwrap();
            let sc = g
                .add(Op::ScatterAdd { axis: 0 }, &[base, idx, sv], None)
                .unwrap();
            let mut f = feeds(&g, 9, false);
            let good = [0., 4., 1., 2., 2., 2., 3., 0., 4., 1., 1., 0.];
            f.insert(
                "idx".into(),
                HostTensor::from_f64(idx_dtype, sh(&[4, 3]), &good).unwrap(),
            );
            let good1 = [0., 2., 1., 1., 2., 0., 0., 0., 2., 2.];
            f.insert(
                "idx1".into(),
                HostTensor::from_f64(idx_dtype, sh(&[5, 2]), &good1).unwrap(),
            );
            for o in [ga0, ga1, sc] {
                check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dtype}/{idx_dtype}: {e}"));
            }
            // Out of range at flat position 5 (too large), then at 2 (negative).
            for (pos, bad) in [(5usize, 5.0), (2, -1.0)] {
                let mut v = good;
                v[pos] = bad;
                f.insert(
                    "idx".into(),
                    HostTensor::from_f64(idx_dtype, sh(&[4, 3]), &v).unwrap(),
                );
                for o in [ga0, sc] {
                    let p = lower(&g, &[o], &LowerOptions::eager()).unwrap();
                    assert!(matches!(
                        evaluate_program(&p, &f),
                        Err(IrError::Runtime { .. })
                    ));
                    let c = compile(&p);
                    let k = p.kernels.len() - 1;
                    for split in [Split::Whole, Split::ThreeReversed] {
                        assert_eq!(run(&c, &p, &f, split).err(), Some((k, 1 + pos as i64)));
                    }
                    check(&g, &[o], &f).unwrap();
                }
            }
        }
    }
}

#[test]
fn loops_random_matches_philox() {
    for dist in [Distribution::Uniform, Distribution::Normal] {
        for dims in [vec![], vec![1], vec![17], vec![3, 7], vec![4, 783]] {
            let mut g = Graph::new();
            let ty = TensorType::new(DType::F32, sh(&dims));
            let r = g.add(Op::Random { dist, seed: 42 }, &[], Some(ty)).unwrap();
            let mut outs = vec![r];
            if dims.len() == 2 {
                let t = g.permute(r, &[1, 0]).unwrap();
                outs.push(g.unary(UnaryOp::Exp, t).unwrap());
            }
            let f = HashMap::new();
            for o in outs {
                check(&g, &[o], &f).unwrap_or_else(|e| panic!("{dist:?}{dims:?}: {e}"));
            }
        }
    }
}

/// Random graphs (fused and eager) against the evaluator; transcendental chains get the
/// tolerance of the math emitters, compounded.
#[test]
fn loops_random_graphs_match_the_evaluator() {
    let tol = Tol {
        f32: (1e-4, 1e-5),
        f64: (1e-10, 1e-12),
    };
    let (mut plain, mut with_gemm, mut excused) = (0, 0, 0);
    let mut failures = Vec::new();
    for seed in 0..560 {
        let g = random_graph_from_seed(seed).unwrap();
        let f = feeds(&g, seed, true);
        match check_with(&g, g.outputs(), &f, tol) {
            Ok(true) => with_gemm += 1,
            Ok(false) => plain += 1,
            Err(e) => match known_difference(&g) {
                Some(why) => {
                    eprintln!(
                        "seed {seed}: excused ({why}): {}",
                        e.lines().next().unwrap_or("")
                    );
                    excused += 1;
                }
                None => failures.push(format!("seed {seed}: {e}\n{}", g.to_text())),
            },
        }
    }
    eprintln!("random graphs: {plain} without gemm, {with_gemm} with, {excused} excused");
    assert!(excused <= 20, "{excused} excused differences");
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failures, first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(
        plain >= 300 && with_gemm >= 100,
        "{plain} without gemm, {with_gemm} with"
    );
}

/// f32 maps with transcendental functions run in tiles through the AVX2 routines (when the CPU
/// has them): several cuts, a comparison mask and values that cross cuts, row lengths around
/// the tile size and the vector width, strided rows; fused results against the evaluator.
#[test]
fn loops_staged_transcendental_maps_match_the_evaluator() {
    let tol = Tol {
        f32: (1e-5, 1e-6),
        f64: (1e-12, 1e-300),
    };
    for dims in [
        vec![1usize],
        vec![3],
        vec![4],
        vec![255],
        vec![256],
        vec![257],
        vec![3, 515],
        vec![2, 3, 1029],
        vec![40000],
    ] {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, sh(&dims)).unwrap();
        let y = g.input("y", DType::F32, sh(&dims)).unwrap();
        let xx = g.binary(BinaryOp::Mul, x, x).unwrap();
        let s = g.unary(UnaryOp::Sin, x).unwrap();
        let nxx = g.unary(UnaryOp::Neg, xx).unwrap();
        let e = g.unary(UnaryOp::Exp, nxx).unwrap();
        let se = g.binary(BinaryOp::Mul, s, e).unwrap();
        let one = g.scalar(DType::F32, 1.0).unwrap();
        let one = bcast(&mut g, one, &dims);
        let l = g.binary(BinaryOp::Add, xx, one).unwrap();
        let l = g.unary(UnaryOp::Log, l).unwrap();
        let t = g.unary(UnaryOp::Tanh, y).unwrap();
        let c = g.unary(UnaryOp::Cos, t).unwrap();
        // A mask computed before the cuts and used after them.
        let pos = g.binary(BinaryOp::Gt, x, y).unwrap();
        let a = g.binary(BinaryOp::Add, se, l).unwrap();
        let out = g.select(pos, a, c).unwrap();
        let f = feeds(&g, dims.iter().sum::<usize>() as u64, true);
        check_with(&g, &[out], &f, tol).unwrap_or_else(|err| panic!("{dims:?}: {err}"));
    }
}

/// Row reductions whose prologue has transcendental functions (softmax's sum of exp, a max of
/// sines) run their prologue through the staged tiles; row lengths around the tile size and
/// the vector width, several rows, two reduced axes.
#[test]
fn loops_staged_reduction_prologues_match_the_evaluator() {
    // f32 sums of up to ~4000 terms: the evaluator sums in f64.
    let tol = Tol {
        f32: (2e-5, 2e-4),
        f64: (1e-12, 1e-300),
    };
    for dims in [
        vec![3usize],
        vec![2, 4],
        vec![3, 255],
        vec![2, 256],
        vec![2, 257],
        vec![3, 1029],
        vec![2, 3, 300],
        vec![1, 4100],
    ] {
        let rank = dims.len();
        let last = rank - 1;
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, sh(&dims)).unwrap();
        let m = g.reduce(ReduceOp::Max, x, &[last]).unwrap();
        let m = g.expand(m, sh(&dims)).unwrap();
        let z = g.binary(BinaryOp::Sub, x, m).unwrap();
        let e = g.unary(UnaryOp::Exp, z).unwrap();
        let sum_exp = g.reduce(ReduceOp::Sum, e, &[last]).unwrap();
        let s = g.unary(UnaryOp::Sin, x).unwrap();
        let c = g.unary(UnaryOp::Cos, s).unwrap();
        let max_trig = g.reduce(ReduceOp::Max, c, &[last]).unwrap();
        let all_axes: Vec<usize> = (0..rank).collect();
        let t = g.unary(UnaryOp::Tanh, x).unwrap();
        let sum_all = g.reduce(ReduceOp::Sum, t, &all_axes).unwrap();
        let f = feeds(&g, 7 + dims.iter().sum::<usize>() as u64, false);
        for out in [sum_exp, max_trig, sum_all] {
            check_with(&g, &[out], &f, tol).unwrap_or_else(|err| panic!("{dims:?}: {err}"));
        }
    }
}
