//! Tests of the blocked GEMM against the exact (f64-accumulating) definition, of its
//! independence from the thread count and the row split, and of its writes staying inside `c`.

use super::{available, gemm_on, Element};
use crate::cpu::gemm::{
    gemm_rows, BatchOperands, GemmDims, GemmElement, GemmLibrary, MatrixLayout, Operands,
};
use smallvec::smallvec;

/// Deterministic values in [-1, 1).
fn values<T: GemmElement>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            T::from_f64((s >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
        })
        .collect()
}

/// A strided matrix view over a buffer: element `(i, j)` at `off + i*rs + j*cs`.
#[derive(Clone, Copy, Debug)]
struct View {
    off: isize,
    rs: isize,
    cs: isize,
}

/// The ways an `r x c` operand is stored, with the buffer length each needs.
fn views(r: usize, c: usize) -> Vec<(&'static str, View, usize)> {
    let (ri, ci) = (r as isize, c as isize);
    vec![
        (
            "row-major",
            View {
                off: 0,
                rs: ci,
                cs: 1,
            },
            r * c,
        ),
        (
            "transposed",
            View {
                off: 0,
                rs: 1,
                cs: ri,
            },
            r * c,
        ),
        // Padded rows and every other column (a strided slice of a bigger array).
        (
            "strided",
            View {
                off: 3,
                rs: 2 * ci + 5,
                cs: 2,
            },
            3 + (r - 1) * (2 * c + 5) + 2 * (c - 1) + 1,
        ),
        // Rows stored backwards (a flipped view): negative row stride.
        (
            "flipped",
            View {
                off: (ri - 1) * ci,
                rs: -ci,
                cs: 1,
            },
            r * c,
        ),
    ]
}

/// `sum_p a(i, p) b(p, j)` in f64 and the bound `(k + 2) eps sum_p |a(i, p) b(p, j)|` for an
/// order-independent comparison (any summation order of k terms errs by at most (k-1) eps of
/// the absolute sum, plus the final rounding).
#[allow(clippy::too_many_arguments)]
fn reference<T: GemmElement>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    av: View,
    b: &[T],
    bv: View,
    eps: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut want = vec![0.0; m * n];
    let mut tol = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut abs) = (0.0, 0.0);
            for p in 0..k {
                let x = a[(av.off + i as isize * av.rs + p as isize * av.cs) as usize].to_f64();
                let y = b[(bv.off + p as isize * bv.rs + j as isize * bv.cs) as usize].to_f64();
                s += x * y;
                abs += (x * y).abs();
            }
            want[i * n + j] = s;
            tol[i * n + j] = (k as f64 + 2.0) * eps * abs + f64::MIN_POSITIVE;
        }
    }
    (want, tol)
}

const GUARD: usize = 37;

/// Runs the blocked GEMM on `threads` threads into a buffer with guard elements on both sides
/// and checks the guards are untouched; returns the `m x n` product.
#[allow(clippy::too_many_arguments)]
fn run<T: Element + GemmElement>(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    av: View,
    b: &[T],
    bv: View,
) -> Vec<T> {
    let canary = T::from_f64(12345.0);
    let mut c = vec![canary; m * n + 2 * GUARD];
    // SAFETY: `views` sizes the buffers so that every (i, p) / (p, j) the views reach is inside
    // them (checked by the indexing in `reference`); `c` has m * n elements after the guard.
    unsafe {
        let ops = Operands {
            m,
            n,
            k,
            a: a.as_ptr().offset(av.off),
            rsa: av.rs,
            csa: av.cs,
            b: b.as_ptr().offset(bv.off),
            rsb: bv.rs,
            csb: bv.cs,
            c: c.as_mut_ptr().add(GUARD),
        };
        gemm_on(threads, ops)
    };
    let outside = c[..GUARD].iter().chain(&c[GUARD + m * n..]);
    assert!(
        outside.into_iter().all(|&x| x.to_f64() == 12345.0),
        "wrote outside c"
    );
    c[GUARD..GUARD + m * n].to_vec()
}

fn check_shapes<T: Element + GemmElement>(eps: f64, sizes: &[usize]) {
    let mut cases = 0;
    for &m in sizes {
        for &n in sizes {
            for &k in sizes {
                // All four layouts of `a` against row-major `b`, and of `b` against
                // row-major `a`, rotating through them to keep the run short.
                let (avs, bvs) = (views(m, k), views(k, n));
                let pick = (m + 3 * n + 7 * k) % 4;
                for (an, av, alen) in [avs[0], avs[pick]] {
                    for (bn, bv, blen) in [bvs[0], bvs[(pick + 1) % 4]] {
                        let a = values::<T>(alen, (m * 1000 + k) as u64);
                        let b = values::<T>(blen, (k * 1000 + n + 7) as u64);
                        let (want, tol) = reference(m, n, k, &a, av, &b, bv, eps);
                        let threads = 1 + (m + n + k) % 3;
                        let got = run(threads, m, n, k, &a, av, &b, bv);
                        for (e, ((g, w), t)) in got.iter().zip(&want).zip(&tol).enumerate() {
                            let err = (g.to_f64() - w).abs();
                            assert!(
                                err <= *t,
                                "{m}x{n}x{k} a {an} b {bn}: c[{}, {}] = {} want {w} (err {err} > {t})",
                                e / n,
                                e % n,
                                g.to_f64()
                            );
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, sizes.len().pow(3) * 4);
}

const SIZES: [usize; 11] = [1, 2, 5, 6, 7, 15, 16, 17, 33, 100, 257];

#[test]
fn f32_matches_the_exact_product_for_every_shape_and_layout() {
    if !available() {
        eprintln!("no AVX2 + FMA: skipped");
        return;
    }
    check_shapes::<f32>(f32::EPSILON as f64, &SIZES);
}

#[test]
fn f64_matches_the_exact_product_for_every_shape_and_layout() {
    if !available() {
        eprintln!("no AVX2 + FMA: skipped");
        return;
    }
    check_shapes::<f64>(f64::EPSILON, &SIZES);
}

/// `k` deeper than one `KC` block (so later blocks accumulate into `c`), with edges on all
/// sides and more rows than one `MC` block.
#[test]
fn several_k_and_m_blocks_with_edges() {
    if !available() {
        return;
    }
    let (m, n, k) = (f32::MC + 13, 2 * f32::NR + 3, 2 * f32::KC + 17);
    for (name, av, alen) in views(m, k) {
        let (_, bv, blen) = views(k, n)[1];
        let a = values::<f32>(alen, 5);
        let b = values::<f32>(blen, 6);
        let (want, tol) = reference(m, n, k, &a, av, &b, bv, f32::EPSILON as f64);
        let got = run(2, m, n, k, &a, av, &b, bv);
        for ((g, w), t) in got.iter().zip(&want).zip(&tol) {
            assert!((*g as f64 - w).abs() <= *t, "a {name}: {g} vs {w}");
        }
        let a = values::<f64>(alen, 5);
        let b = values::<f64>(blen, 6);
        let (want, tol) = reference(m, n, k, &a, av, &b, bv, f64::EPSILON);
        let got = run(3, m, n, k, &a, av, &b, bv);
        for ((g, w), t) in got.iter().zip(&want).zip(&tol) {
            assert!((g - w).abs() <= *t, "a {name}: {g} vs {w}");
        }
    }
}

fn bits<T: GemmElement>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// Bit-identical results on 1, 2 and 3 threads, whether the threads split rows or columns.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    if !available() {
        return;
    }
    // Split by rows (tall), by columns (short and wide), and deep with edges everywhere.
    for (m, n, k) in [
        (257, 100, 600),
        (7, 300, 700),
        (100, 257, 33),
        (40, 41, 1000),
    ] {
        let (_, av, alen) = views(m, k)[0];
        let (_, bv, blen) = views(k, n)[1];
        let a = values::<f32>(alen, 11);
        let b = values::<f32>(blen, 12);
        let one = bits(&run(1, m, n, k, &a, av, &b, bv));
        for t in [2, 3] {
            assert_eq!(
                bits(&run(t, m, n, k, &a, av, &b, bv)),
                one,
                "f32 {m}x{n}x{k} on {t}"
            );
        }
        let a = values::<f64>(alen, 11);
        let b = values::<f64>(blen, 12);
        let one = bits(&run(1, m, n, k, &a, av, &b, bv));
        for t in [2, 3] {
            assert_eq!(
                bits(&run(t, m, n, k, &a, av, &b, bv)),
                one,
                "f64 {m}x{n}x{k} on {t}"
            );
        }
    }
}

/// Products submitted from several threads at once (one gets the persistent pool, the others
/// fall back to scoped threads) give the same bits as one at a time.
#[test]
fn concurrent_products_agree() {
    if !available() {
        return;
    }
    let (m, n, k) = (150, 140, 300);
    let (_, av, alen) = views(m, k)[0];
    let (_, bv, blen) = views(k, n)[1];
    let a = values::<f32>(alen, 31);
    let b = values::<f32>(blen, 32);
    let one = bits(&run(1, m, n, k, &a, av, &b, bv));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (a, b) = (&a, &b);
                s.spawn(move || {
                    (0..20)
                        .map(|_| bits(&run(2 + i % 2, m, n, k, a, av, b, bv)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for got in h.join().unwrap() {
                assert_eq!(got, one);
            }
        }
    });
}

/// Through `gemm_rows` (batched, `b` broadcast over the first batch dim): the whole product on
/// 1, 2 or 3 threads and the rows in uneven pieces (cutting matrices and micro-tiles) give the
/// same bits, match the exact product, and a piece writes only its own rows.
fn rows_split_and_batched<T: Element + GemmElement>(eps: f64) {
    let (m, n, k) = (131, 150, 300);
    let dims = GemmDims {
        batch: smallvec![2, 3],
        m,
        n,
        k,
    };
    let al = MatrixLayout {
        offset: 0,
        batch_strides: smallvec![(3 * m * k) as isize, (m * k) as isize],
        row_stride: k as isize,
        col_stride: 1,
    };
    // b transposed ([n, k] storage) and broadcast over the first batch dim.
    let bl = MatrixLayout {
        offset: 0,
        batch_strides: smallvec![0, (k * n) as isize],
        row_stride: 1,
        col_stride: k as isize,
    };
    let a = values::<T>(6 * m * k, 21);
    let b = values::<T>(3 * k * n, 22);
    let rows = dims.rows();
    let product = |threads: usize, cuts: &[usize]| -> Vec<T> {
        let mut c = vec![T::from_f64(f64::NAN); rows * n];
        let ops = BatchOperands {
            dims: &dims,
            a: a.as_ptr(),
            a_layout: &al,
            b: b.as_ptr(),
            b_layout: &bl,
            c: c.as_mut_ptr(),
        };
        for w in cuts.windows(2) {
            // SAFETY: the layouts stay inside `a` and `b` (6 and 3 matrices); `c` holds rows * n.
            unsafe { gemm_rows(GemmLibrary::Kiln, threads, &ops, w[0]..w[1]) };
        }
        c
    };
    let whole = product(1, &[0, rows]);
    for t in [2, 3] {
        assert_eq!(bits(&product(t, &[0, rows])), bits(&whole), "{t} threads");
    }
    let cuts = [0, 1, 7, m - 1, m + 5, 3 * m + 100, 5 * m, rows];
    for t in [1, 2, 3] {
        assert_eq!(
            bits(&product(t, &cuts)),
            bits(&whole),
            "cut rows, {t} threads"
        );
    }
    // One piece alone leaves every other row alone.
    let part = product(2, &[m + 5, 3 * m + 100]);
    for (r, row) in part.chunks(n).enumerate() {
        let inside = (m + 5..3 * m + 100).contains(&r);
        assert!(row.iter().all(|x| x.to_f64().is_nan() != inside), "row {r}");
    }
    for bi in 0..6 {
        let (ao, bo) = (bi * m * k, (bi % 3) * k * n);
        let av = View {
            off: ao as isize,
            rs: k as isize,
            cs: 1,
        };
        let bv = View {
            off: bo as isize,
            rs: 1,
            cs: k as isize,
        };
        let (want, tol) = reference(m, n, k, &a, av, &b, bv, eps);
        let got = &whole[bi * m * n..(bi + 1) * m * n];
        for ((g, w), t) in got.iter().zip(&want).zip(&tol) {
            assert!(
                (g.to_f64() - w).abs() <= *t,
                "matrix {bi}: {} vs {w}",
                g.to_f64()
            );
        }
    }
}

#[test]
fn gemm_rows_split_threads_and_broadcast_batches_f32() {
    if !available() {
        return;
    }
    rows_split_and_batched::<f32>(f32::EPSILON as f64);
}

#[test]
fn gemm_rows_split_threads_and_broadcast_batches_f64() {
    if !available() {
        return;
    }
    rows_split_and_batched::<f64>(f64::EPSILON);
}
