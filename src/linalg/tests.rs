//! Tests of the parent module.

use super::*;

fn t(dtype: DType, dims: &[usize], values: &[f64]) -> HostTensor {
    HostTensor::from_f64(dtype, Shape::new(dims).unwrap(), values).unwrap()
}

fn f64s(dims: &[usize], values: &[f64]) -> HostTensor {
    t(DType::F64, dims, values)
}

/// Batched `a @ b` of row-major `[..., m, p] x [..., p, n]`, in f64.
fn matmul(a: &HostTensor, b: &HostTensor) -> Vec<f64> {
    let (ad, bd) = (a.dims(), b.dims());
    let (m, p, n) = (ad[ad.len() - 2], ad[ad.len() - 1], bd[bd.len() - 1]);
    assert_eq!(bd[bd.len() - 2], p);
    let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
    let count = av.len().checked_div(m * p).unwrap_or(1);
    let mut out = vec![0.0; count * m * n];
    for b in 0..count {
        for i in 0..m {
            for j in 0..n {
                out[b * m * n + i * n + j] = (0..p)
                    .map(|k| av[b * m * p + i * p + k] * bv[b * p * n + k * n + j])
                    .sum();
            }
        }
    }
    out
}

/// `[count, n, n]` identities, flattened.
fn eyes(count: usize, n: usize) -> Vec<f64> {
    (0..count).flat_map(|_| identity(n)).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Deterministic uniform values in [-1, 1) (a 64-bit LCG), plus `shift` on each diagonal
/// of the trailing `n x n` matrices, which keeps them well conditioned.
fn random(dtype: DType, dims: &[usize], seed: u64, shift: f64) -> HostTensor {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let numel: usize = dims.iter().product();
    let cols = dims[dims.len() - 1];
    let rows = dims[dims.len() - 2];
    let values: Vec<f64> = (0..numel)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            let (r, c) = ((i / cols) % rows, i % cols);
            if r == c {
                u + shift
            } else {
                u
            }
        })
        .collect();
    t(dtype, dims, &values)
}

fn api_msg(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(e @ Error::Api { .. }) => e.to_string(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn inverse_of_the_seed_diagonal_matrix() {
    let a = t(DType::F32, &[4, 4], &diag(&[1.0, 2.0, 3.0, 4.0]));
    let inv = inverse(&a).unwrap();
    assert_eq!(inv.dtype(), DType::F32);
    let expected = t(DType::F32, &[4, 4], &diag(&[1.0, 0.5, 1.0 / 3.0, 0.25]));
    assert!(inv.allclose(&expected, 0.0, 0.0), "{inv:?}");
    assert_eq!(
        inv.to_string(),
        "tensor([[1.0000, 0.0000, 0.0000, 0.0000],\n        [0.0000, 0.5000, 0.0000, 0.0000],\n        [0.0000, 0.0000, 0.3333, 0.0000],\n        [0.0000, 0.0000, 0.0000, 0.2500]])"
    );
    // Rounded to f32 like the seed's `inverse @ M1234`, the product is exactly I.
    let product: Vec<f64> = matmul(&inv, &a)
        .iter()
        .map(|&x| f64::from(x as f32))
        .collect();
    assert_eq!(product, eyes(1, 4));
}

fn diag(d: &[f64]) -> Vec<f64> {
    let n = d.len();
    let mut m = vec![0.0; n * n];
    for (i, &x) in d.iter().enumerate() {
        m[i * n + i] = x;
    }
    m
}

#[test]
fn inverse_of_random_matrices_single_and_batched() {
    for (dtype, tol) in [(DType::F32, 1e-4), (DType::F64, 1e-10)] {
        for (dims, count) in [
            (&[5usize, 5][..], 1),
            (&[3, 4, 4][..], 3),
            (&[2, 3, 3, 3][..], 6),
        ] {
            let a = random(dtype, dims, 7, 2.0);
            let inv = inverse(&a).unwrap();
            assert_eq!((inv.dims(), inv.dtype()), (dims, dtype));
            let n = dims[dims.len() - 1];
            assert!(
                max_diff(&matmul(&a, &inv), &eyes(count, n)) < tol,
                "{dtype} {dims:?}"
            );
            assert!(
                max_diff(&matmul(&inv, &a), &eyes(count, n)) < tol,
                "{dtype} {dims:?}"
            );
        }
    }
}

#[test]
fn inverse_needs_pivoting() {
    // A zero in the top-left corner: LU without pivoting would divide by it.
    let a = f64s(&[3, 3], &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    let inv = inverse(&a).unwrap();
    assert_eq!(
        inv.to_f64_vec(),
        vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    );
    let b = f64s(&[2, 2], &[1e-20, 1.0, 1.0, 1.0]);
    let inv = inverse(&b).unwrap();
    assert!(max_diff(&matmul(&b, &inv), &eyes(1, 2)) < 1e-15);
}

#[test]
fn empty_matrices() {
    let a = f64s(&[0, 0], &[]);
    assert_eq!(inverse(&a).unwrap().dims(), &[0, 0]);
    let d = det(&a).unwrap();
    assert_eq!((d.dims(), d.to_f64_vec()), (&[][..], vec![1.0]));
    let batch = f64s(&[3, 0, 0], &[]);
    assert_eq!(det(&batch).unwrap().to_f64_vec(), vec![1.0; 3]);
    let none = f64s(&[0, 2, 2], &[]);
    assert_eq!(inverse(&none).unwrap().dims(), &[0, 2, 2]);
    assert_eq!(det(&none).unwrap().dims(), &[0]);
    let b = f64s(&[0], &[]);
    assert_eq!(solve(&a, &b).unwrap().dims(), &[0]);
    let (u, s, v) = svd(&f64s(&[0, 3], &[])).unwrap();
    assert_eq!(
        (u.dims(), s.dims(), v.dims()),
        (&[0, 0][..], &[0][..], &[3, 0][..])
    );
    let (u, s, v) = svd(&f64s(&[2, 0, 0], &[])).unwrap();
    assert_eq!(
        (u.dims(), s.dims(), v.dims()),
        (&[2, 0, 0][..], &[2, 0][..], &[2, 0, 0][..])
    );
}

#[test]
fn det_of_known_matrices() {
    let cases: [(&[usize], Vec<f64>, f64); 6] = [
        (&[1, 1], vec![-3.0], -3.0),
        (&[2, 2], vec![1.0, 2.0, 3.0, 4.0], -2.0),
        (
            &[3, 3],
            vec![2.0, 0.0, 1.0, 1.0, 3.0, 2.0, 1.0, 1.0, 2.0],
            6.0,
        ),
        // An odd permutation (one swap): needs pivoting, sign -1.
        (
            &[3, 3],
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            -1.0,
        ),
        // A 3-cycle is even: sign +1 after two row swaps.
        (
            &[3, 3],
            vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            1.0,
        ),
        (
            &[3, 3],
            vec![1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 0.0, 1.0, 1.0],
            0.0,
        ),
    ];
    for (dims, values, expected) in cases {
        let d = det(&f64s(dims, &values)).unwrap();
        assert_eq!(d.dims(), &[] as &[usize]);
        assert!(
            (d.item().unwrap() - expected).abs() < 1e-12,
            "{values:?}: {d:?}"
        );
    }
    let batch = t(
        DType::F32,
        &[2, 2, 2],
        &[1.0, 2.0, 3.0, 4.0, 2.0, 0.0, 0.0, 3.0],
    );
    let d = det(&batch).unwrap();
    assert_eq!((d.dims(), d.dtype()), (&[2][..], DType::F32));
    assert!(d.allclose(&t(DType::F32, &[2], &[-2.0, 6.0]), 1e-6, 1e-6));
    // det(A) det(A^-1) = 1.
    let a = random(DType::F64, &[6, 6], 3, 1.0);
    let product =
        det(&a).unwrap().item().unwrap() * det(&inverse(&a).unwrap()).unwrap().item().unwrap();
    assert!((product - 1.0).abs() < 1e-12);
}

#[test]
fn solve_matches_inverse() {
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        let a = random(dtype, &[3, 4, 4], 11, 3.0);
        let b = random(dtype, &[3, 4, 2], 12, 0.0);
        let x = solve(&a, &b).unwrap();
        assert_eq!((x.dims(), x.dtype()), (&[3, 4, 2][..], dtype));
        let via_inverse = matmul(&inverse(&a).unwrap(), &b);
        assert!(max_diff(&x.to_f64_vec(), &via_inverse) < tol);
        assert!(max_diff(&matmul(&a, &x), &b.to_f64_vec()) < tol);
    }
}

#[test]
fn solve_vectors_and_broadcasting() {
    let a = f64s(&[2, 2], &[3.0, 1.0, 1.0, 2.0]);
    let x = solve(&a, &f64s(&[2], &[9.0, 8.0])).unwrap();
    assert_eq!(x.dims(), &[2]);
    assert!(max_diff(&x.to_f64_vec(), &[2.0, 3.0]) < 1e-14);
    // A batch of vectors: b has a's shape without its last dim.
    let a2 = f64s(&[2, 2, 2], &[3.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 4.0]);
    let x = solve(&a2, &f64s(&[2, 2], &[9.0, 8.0, 2.0, 8.0])).unwrap();
    assert_eq!(x.dims(), &[2, 2]);
    assert!(max_diff(&x.to_f64_vec(), &[2.0, 3.0, 1.0, 2.0]) < 1e-14);
    // One vector broadcast against a batch of matrices.
    let x = solve(&a2, &f64s(&[2], &[2.0, 4.0])).unwrap();
    assert!(max_diff(&x.to_f64_vec(), &[0.0, 2.0, 1.0, 1.0]) < 1e-14);
    // One matrix against a batch of right-hand sides: [2, 2] with [3, 2, 1].
    let b = f64s(&[3, 2, 1], &[9.0, 8.0, 3.0, 1.0, 1.0, 2.0]);
    let x = solve(&a, &b).unwrap();
    assert_eq!(x.dims(), &[3, 2, 1]);
    assert!(
        max_diff(
            &matmul(&f64s(&[3, 2, 2], &[3.0, 1.0, 1.0, 2.0].repeat(3)), &x),
            &b.to_f64_vec()
        ) < 1e-14
    );
}

/// Checks `a = U diag(S) V^T`, orthonormal columns, shapes and descending `S`.
fn check_svd(a: &HostTensor, tol: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (u, s, v) = svd(a).unwrap();
    let d = a.dims();
    let r = d.len();
    let (m, n) = (d[r - 2], d[r - 1]);
    let k = m.min(n);
    let batch = &d[..r - 2];
    let count: usize = batch.iter().product();
    let with = |last: &[usize]| [batch, last].concat();
    assert_eq!(u.dims(), with(&[m, k]));
    assert_eq!(s.dims(), with(&[k]));
    assert_eq!(v.dims(), with(&[n, k]));
    assert_eq!(
        (u.dtype(), s.dtype(), v.dtype()),
        (a.dtype(), a.dtype(), a.dtype())
    );
    let (uv, sv, vv) = (u.to_f64_vec(), s.to_f64_vec(), v.to_f64_vec());
    for b in 0..count {
        let sb = &sv[b * k..(b + 1) * k];
        assert!(sb.windows(2).all(|w| w[0] >= w[1]) && sb.iter().all(|&x| x >= 0.0));
        let ub = &uv[b * m * k..(b + 1) * m * k];
        let vb = &vv[b * n * k..(b + 1) * n * k];
        // U diag(S) V^T.
        let mut rec = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                rec[i * n + j] = (0..k).map(|c| ub[i * k + c] * sb[c] * vb[j * k + c]).sum();
            }
        }
        let ab = &a.to_f64_vec()[b * m * n..(b + 1) * m * n];
        assert!(
            max_diff(&rec, ab) <= tol,
            "reconstruction of {ab:?}: {rec:?}"
        );
        for (x, rows) in [(ub, m), (vb, n)] {
            let xt = transpose(x, rows, k);
            let gram = matmul(&f64s(&[k, rows], &xt), &f64s(&[rows, k], x));
            assert!(
                max_diff(&gram, &identity(k)) <= tol,
                "not orthonormal: {x:?}"
            );
        }
    }
    (uv, sv, vv)
}

#[test]
fn svd_of_the_seed_matrix() {
    let w = t(DType::F32, &[2, 2], &[0.3439, 0.9503, -0.2960, 0.1503]);
    let (u, s, v) = svd(&w).unwrap();
    let close =
        |x: &HostTensor, want: &[f64]| x.allclose(&t(DType::F32, x.dims(), want), 0.0, 1e-4);
    assert!(close(&s, &[1.0115, 0.3292]), "{s}");
    assert!(close(&u, &[0.9990, 0.0449, 0.0449, -0.9990]), "{u}");
    assert!(close(&v, &[0.3265, 0.9452, 0.9452, -0.3265]), "{v}");
    assert_eq!(s.to_string(), "tensor([1.0115, 0.3292])");
    check_svd(&w, 1e-6);
}

#[test]
fn svd_known_singular_values() {
    // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5).
    let (_, s, _) = check_svd(&f64s(&[2, 2], &[3.0, 0.0, 4.0, 5.0]), 1e-14);
    assert!(max_diff(&s, &[45f64.sqrt(), 5f64.sqrt()]) < 1e-14);
    // A diagonal matrix: its |entries|, sorted.
    let (u, s, v) = check_svd(&f64s(&[3, 3], &diag(&[1.0, -5.0, 2.0])), 1e-15);
    assert_eq!(s, vec![5.0, 2.0, 1.0]);
    // v columns are standard basis vectors with a positive entry; u carries the sign.
    assert_eq!(v, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(u, vec![0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn svd_tall_wide_batched_and_rank_deficient() {
    for dtype in [DType::F32, DType::F64] {
        let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
        check_svd(&random(dtype, &[5, 3], 1, 0.0), tol);
        check_svd(&random(dtype, &[3, 5], 2, 0.0), tol);
        check_svd(&random(dtype, &[2, 3, 4, 4], 3, 0.0), tol);
        check_svd(&random(dtype, &[1, 7], 4, 0.0), tol);
        check_svd(&random(dtype, &[7, 1], 5, 0.0), tol);
    }
    // Entries whose squares overflow or underflow f64.
    for scale in [1e200, 1e-200] {
        let a = f64s(&[2, 2], &[0.0, 3.0 * scale, 4.0 * scale, 0.0]);
        let (u, s, v) = check_svd(&a, 4.0 * scale * 1e-15);
        assert!(max_diff(&s, &[4.0 * scale, 3.0 * scale]) <= 4.0 * scale * 1e-15);
        assert_eq!((u, v), (vec![0.0, 1.0, 1.0, 0.0], vec![1.0, 0.0, 0.0, 1.0]));
    }
    // Rank 1 (outer product [1, 2, 3] x [1, -1]): one non-zero singular value.
    let a = f64s(&[3, 2], &[1.0, -1.0, 2.0, -2.0, 3.0, -3.0]);
    let (_, s, _) = check_svd(&a, 1e-14);
    assert!(max_diff(&s, &[28f64.sqrt(), 0.0]) < 1e-14);
    // Rank 2 of 4, wide; and the zero matrix (U, V still orthonormal).
    let mut rows = random(DType::F64, &[2, 5], 6, 0.0).to_f64_vec();
    rows.extend_from_within(..);
    let (_, s, _) = check_svd(&f64s(&[4, 5], &rows), 1e-13);
    assert!(s[2] < 1e-14 && s[3] < 1e-14 && s[1] > 0.1, "{s:?}");
    let (u, s, v) = check_svd(&f64s(&[3, 2], &[0.0; 6]), 0.0);
    assert_eq!(s, vec![0.0, 0.0]);
    assert_eq!(
        (u, v),
        (vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0])
    );
}

#[test]
fn singular_matrices_are_errors() {
    let a = f64s(&[3, 3], &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 0.0, 1.0, 1.0]);
    assert_eq!(
        api_msg(inverse(&a)),
        "linalg.inv: The diagonal element 3 is zero, the inversion could not be completed \
         because the input matrix is singular (input shape [3,3])."
    );
    let batch = f64s(&[2, 2, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 4.0]);
    assert_eq!(
        api_msg(inverse(&batch)),
        "linalg.inv: (Batch element 1): The diagonal element 2 is zero, the inversion could \
         not be completed because the input matrix is singular (input shape [2,2,2])."
    );
    assert_eq!(
        api_msg(solve(&batch, &f64s(&[2], &[1.0, 1.0]))),
        "linalg.solve: (Batch element 1): The solver failed because the input matrix is \
         singular: the diagonal element 2 is zero (shape of A [2,2,2])."
    );
    assert_eq!(
        api_msg(inverse(&f64s(&[1, 1], &[0.0]))),
        "linalg.inv: The diagonal element 1 is zero, the inversion could not be completed \
         because the input matrix is singular (input shape [1,1])."
    );
    // A pivot at rounding level is caught by the tolerance n * eps * max|A|, with the input
    // dtype's epsilon: [[1, 1], [1, 1 + eps]] has the pivot eps <= 2 eps.
    let f32_eps = f64::from(f32::EPSILON);
    let near = t(DType::F32, &[2, 2], &[1.0, 1.0, 1.0, 1.0 + f32_eps]);
    assert_eq!(
        api_msg(inverse(&near)),
        "linalg.inv: The diagonal element 2 is 1.192e-7, at or below the singularity \
         tolerance 2.384e-7 (n * eps * max|A|), the inversion could \
         not be completed because the input matrix is singular (input shape [2,2])."
    );
    assert!(api_msg(solve(&near, &t(DType::F32, &[2], &[1.0, 1.0]))).contains("tolerance"));
    assert_eq!(det(&near).unwrap().item().unwrap(), f32_eps);
    // The same values in f64 are well within f64's precision: invertible.
    let far = t(DType::F64, &[2, 2], &[1.0, 1.0, 1.0, 1.0 + f32_eps]);
    let inv = inverse(&far).unwrap();
    assert!(max_diff(&matmul(&far, &inv), &eyes(1, 2)) < 1e-8);
    let near64 = f64s(&[2, 2], &[1.0, 1.0, 1.0, 1.0 + f64::EPSILON]);
    assert!(api_msg(inverse(&near64)).contains("at or below the singularity tolerance"));
    // Small but well-conditioned is fine.
    let tiny = f64s(&[2, 2], &[1e-30, 0.0, 0.0, 2e-30]);
    let inv = inverse(&tiny).unwrap();
    assert!(inv.allclose(&f64s(&[2, 2], &[1e30, 0.0, 0.0, 5e29]), 1e-15, 0.0));
}

#[test]
fn misuse_is_an_error_naming_the_shape() {
    let i64s = HostTensor::from(vec![1i64, 2, 3, 4])
        .reshape(Shape::new(&[2, 2]).unwrap())
        .unwrap();
    let expected_dtype =
        "Expected a floating point tensor (f32 or f64) as input. Got i64 (shape [2,2])";
    assert_eq!(
        api_msg(inverse(&i64s)),
        format!("linalg.inv: {expected_dtype}")
    );
    assert_eq!(api_msg(det(&i64s)), format!("linalg.det: {expected_dtype}"));
    assert_eq!(api_msg(svd(&i64s)), format!("svd: {expected_dtype}"));
    assert_eq!(
        api_msg(solve(&i64s, &i64s)),
        format!("linalg.solve: {expected_dtype}")
    );
    let bools = HostTensor::from(vec![true])
        .reshape(Shape::new(&[1, 1]).unwrap())
        .unwrap();
    assert!(api_msg(inverse(&bools)).contains("Got bool"));

    let vector = f64s(&[3], &[1.0, 2.0, 3.0]);
    let scalar = f64s(&[], &[1.0]);
    for x in [&vector, &scalar] {
        let shape = x.shape();
        let want = format!("The input tensor A must have at least 2 dimensions, got shape {shape}");
        assert_eq!(api_msg(inverse(x)), format!("linalg.inv: {want}"));
        assert_eq!(api_msg(det(x)), format!("linalg.det: {want}"));
        assert_eq!(api_msg(svd(x)), format!("svd: {want}"));
        assert_eq!(api_msg(solve(x, &vector)), format!("linalg.solve: {want}"));
    }

    let wide = f64s(&[2, 3], &[0.0; 6]);
    assert_eq!(
        api_msg(inverse(&wide)),
        "linalg.inv: A must be batches of square matrices, but they are 2 by 3 matrices (shape [2,3])"
    );
    assert!(api_msg(det(&f64s(&[4, 3, 2], &[0.0; 24]))).contains("3 by 2 matrices (shape [4,3,2])"));

    let a = f64s(&[2, 2], &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(
        api_msg(solve(&a, &vector)),
        "linalg.solve: Incompatible shapes of A and B for the equation AX = B ([2,2] and [3]): B must have 2 rows"
    );
    assert!(api_msg(solve(&a, &f64s(&[3, 1], &[0.0; 3]))).contains("([2,2] and [3,1])"));
    assert_eq!(
        api_msg(solve(&a, &scalar)),
        "linalg.solve: B must be a vector or a batch of matrices, got a scalar (shapes A [2,2] and B [])"
    );
    let a3 = f64s(&[3, 2, 2], &[1.0, 0.0, 0.0, 1.0].repeat(3));
    assert_eq!(
        api_msg(solve(&a3, &f64s(&[2, 2, 1], &[0.0; 4]))),
        "linalg.solve: the batch dimensions of A [3,2,2] and B [2,2,1] cannot be broadcast together"
    );
    assert_eq!(
        api_msg(solve(&a, &t(DType::F32, &[2], &[1.0, 2.0]))),
        "linalg.solve: Expected A and B to have the same dtype, but found A of type f64 and B of type f32 instead (shapes [2,2] and [2])"
    );

    let nan = f64s(&[2, 2, 2], &[1.0, 0.0, 0.0, 1.0, f64::NAN, 0.0, 0.0, 1.0]);
    assert_eq!(
        api_msg(svd(&nan)),
        "svd: (Batch element 1): The algorithm failed to converge because the input matrix \
         contained non-finite values (input shape [2,2,2])."
    );
    assert!(api_msg(svd(&f64s(&[1, 2], &[f64::INFINITY, 0.0]))).contains("non-finite"));
    // NaN flows through LU like PyTorch's, without panicking.
    assert!(inverse(&nan).unwrap().to_f64_vec()[4..]
        .iter()
        .any(|x| x.is_nan()));
    assert!(det(&nan).unwrap().to_f64_vec()[1].is_nan());
}
