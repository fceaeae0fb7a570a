//! GEMM throughput of the candidate libraries behind `kiln_codegen::cpu::gemm`, side by side in
//! one process: `cargo run --release -p kiln-codegen --example gemm_speed [sizes...] [names...]`
//! (names pick rows, e.g. `kiln matrixmultiply`; default all).
//!
//! Prints GFLOP/s (2 m n k / best of several runs) for row-major square f32 and f64 products:
//! - `kiln`: kiln's own blocked AVX2 + FMA GEMM (`GemmLibrary::Kiln`), one call on `threads`
//!   scoped threads;
//! - `matrixmultiply`: one call, threaded by the crate itself (`MATMUL_NUM_THREADS`, default the
//!   physical core count);
//! - `gemm`: the `gemm` crate (a dev-dependency, compared here only), one call with
//!   `Parallelism::Rayon(threads)`;
//! - `*-split`: the rows cut into `threads` blocks, each computed by a single-threaded call on
//!   its own thread (how the executor runs a GEMM with its epilogue); for `matrixmultiply`
//!   this is only single-threaded per block when run with `MATMUL_NUM_THREADS=1`.
//!
//! - `kiln matmul` / `kiln matmul+bias+relu`: a whole compiled program through `CpuBackend`
//!   (f32 only; includes copying the two fed operands in and the output out, and for the
//!   second, the fused epilogue), to show what the executor and the epilogue add.
//!
//! Compare with numpy in the same session:
//! `OPENBLAS_NUM_THREADS=2 python3 -c "import numpy as np,time; a=np.random.rand(1024,1024)
//! .astype(np.float32); a@a; t=time.perf_counter(); a@a; print(2*1024**3/(time.perf_counter()-t)/1e9)"`.

use kiln_codegen::cpu::gemm::{
    gemm_rows, BatchOperands, GemmDims, GemmElement, GemmLibrary, MatrixLayout,
};
use kiln_codegen::cpu::CpuBackend;
use kiln_codegen::Backend;
use kiln_ir::kernel::{lower, LowerOptions};
use kiln_ir::{BinaryOp, DType, Graph, HostTensor, Shape};
use smallvec::smallvec;
use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

const THREADS: usize = 2;

/// Who computes a product: a library behind kiln's `gemm_rows`, or the `gemm` crate.
#[derive(Clone, Copy)]
enum Lib {
    Rows(GemmLibrary),
    GemmCrate,
}

/// Rows `rows` of the row-major product `ops` (no batch) on up to `threads` threads.
///
/// # Safety
/// `ops` must meet the `BatchOperands` contract, and its layouts must be row-major.
unsafe fn product<T: GemmElement + From<u8>>(
    lib: Lib,
    threads: usize,
    ops: &BatchOperands<'_, T>,
    rows: Range<usize>,
) {
    match lib {
        // SAFETY: the caller's contract.
        Lib::Rows(lib) => unsafe { gemm_rows(lib, threads, ops, rows) },
        Lib::GemmCrate => {
            let (n, k) = (ops.dims.n, ops.dims.k);
            let parallelism = if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            // SAFETY: rows `rows` of row-major `a` (row stride k) and `c` (row stride n) and
            // all of `b` (row stride n) are inside the operands (the caller's contract);
            // `read_dst = false` means `c` is only written (dst = beta * lhs * rhs, beta = 1).
            unsafe {
                gemm::gemm(
                    rows.len(),
                    n,
                    k,
                    ops.c.add(rows.start * n),
                    1,
                    n as isize,
                    false,
                    ops.a.add(rows.start * k),
                    1,
                    k as isize,
                    ops.b,
                    1,
                    n as isize,
                    T::from(0),
                    T::from(1),
                    false,
                    false,
                    false,
                    parallelism,
                )
            }
        }
    }
}

fn layout(cols: usize) -> MatrixLayout {
    MatrixLayout {
        offset: 0,
        batch_strides: smallvec![],
        row_stride: cols as isize,
        col_stride: 1,
    }
}

/// Best GFLOP/s of `reps` runs of an `s`-cubed product.
fn bench<T: GemmElement + From<u8>>(s: usize, lib: Lib, split: bool, reps: usize) -> f64 {
    let a: Vec<T> = (0..s * s).map(|i| T::from((i % 7) as u8)).collect();
    let b: Vec<T> = (0..s * s).map(|i| T::from((i % 5) as u8)).collect();
    let mut c: Vec<T> = vec![T::from(0); s * s];
    let dims = GemmDims {
        batch: smallvec![],
        m: s,
        n: s,
        k: s,
    };
    let l = layout(s);
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        if split {
            let cp = c.as_mut_ptr() as usize;
            let (ap, bp) = (a.as_ptr() as usize, b.as_ptr() as usize);
            std::thread::scope(|sc| {
                for t in 0..THREADS {
                    let rows = s * t / THREADS..s * (t + 1) / THREADS;
                    let (dims, l) = (&dims, &l);
                    sc.spawn(move || {
                        let ops = BatchOperands {
                            dims,
                            a: ap as *const T,
                            a_layout: l,
                            b: bp as *const T,
                            b_layout: l,
                            c: cp as *mut T,
                        };
                        // SAFETY: s x s row-major operands; the threads write disjoint rows.
                        unsafe { product(lib, 1, &ops, rows) }
                    });
                }
            });
        } else {
            let ops = BatchOperands {
                dims: &dims,
                a: a.as_ptr(),
                a_layout: &l,
                b: b.as_ptr(),
                b_layout: &l,
                c: c.as_mut_ptr(),
            };
            // SAFETY: s x s row-major operands.
            unsafe { product(lib, THREADS, &ops, 0..s) };
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (s * s * s) as f64 / best / 1e9
}

/// Best GFLOP/s of an `s`-cubed f32 matmul compiled by the CPU backend, optionally with a
/// bias + relu epilogue.
fn bench_kiln(s: usize, epilogue: bool, reps: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let sq = Shape::new(&[s, s])?;
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, sq.clone())?;
    let w = g.input("w", DType::F32, sq.clone())?;
    let mut y = g.matmul(x, w)?;
    if epilogue {
        let b = g.input("b", DType::F32, Shape::new(&[1, s])?)?;
        let b = g.expand(b, sq.clone())?;
        y = g.binary(BinaryOp::Add, y, b)?;
        let z = g.scalar(DType::F32, 0.0)?;
        let z = g.reshape(z, Shape::new(&[1, 1])?)?;
        let z = g.expand(z, sq.clone())?;
        y = g.binary(BinaryOp::Max, y, z)?;
    }
    let p = lower(&g, &[y], &LowerOptions::default())?;
    let exe = CpuBackend { threads: THREADS }.compile(&p)?;
    let vals: Vec<f32> = (0..s * s).map(|i| (i % 7) as f32).collect();
    let feeds = HashMap::from([
        (
            "x".to_string(),
            HostTensor::new(sq.clone(), kiln_ir::TensorData::F32(vals.clone()))?,
        ),
        (
            "w".to_string(),
            HostTensor::new(sq.clone(), kiln_ir::TensorData::F32(vals))?,
        ),
        (
            "b".to_string(),
            HostTensor::full(DType::F32, Shape::new(&[1, s])?, -1.0),
        ),
    ]);
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        let out = exe.run(&|n: &str| feeds.get(n))?;
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(out);
    }
    Ok(2.0 * (s * s * s) as f64 / best / 1e9)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // Other arguments pick rows by name (`kiln`, `matrixmultiply-split`, `kiln matmul`, ...).
    let names: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .map(|a| a.as_str())
        .collect();
    let wanted = |name: &str| names.is_empty() || names.contains(&name);
    let sizes = if sizes.is_empty() {
        vec![1024, 2048]
    } else {
        sizes
    };
    println!("threads: {THREADS}; GFLOP/s, best of runs");
    for s in sizes {
        let reps = if s >= 2048 { 4 } else { 8 };
        let (kiln, mm) = (
            Lib::Rows(GemmLibrary::Kiln),
            Lib::Rows(GemmLibrary::MatrixMultiply),
        );
        for (name, lib, split) in [
            ("kiln", kiln, false),
            ("matrixmultiply", mm, false),
            ("gemm", Lib::GemmCrate, false),
            ("matrixmultiply-split", mm, true),
            ("gemm-split", Lib::GemmCrate, true),
            ("kiln-split", kiln, true),
        ] {
            if !wanted(name) {
                continue;
            }
            let f = bench::<f32>(s, lib, split, reps);
            let d = bench::<f64>(s, lib, split, reps);
            println!("{s:>5}^3  {name:<22} f32 {f:7.1}   f64 {d:7.1}");
        }
        for (name, epi) in [("kiln matmul", false), ("kiln matmul+bias+relu", true)] {
            if !wanted(name) {
                continue;
            }
            match bench_kiln(s, epi, reps) {
                Ok(f) => println!("{s:>5}^3  {name:<22} f32 {f:7.1}"),
                Err(e) => println!("{s:>5}^3  {name:<22} failed: {e}"),
            }
        }
    }
}
