//! Dense linear algebra on host tensors, with PyTorch's semantics: [`inverse`], [`det`] and
//! [`solve`] by LU factorisation with partial pivoting, and [`svd`] (`torch.svd`) by one-sided
//! Jacobi rotations.
//!
//! What this module guarantees:
//!
//! - **Dtypes.** `f32` and `f64` inputs are accepted; the arithmetic is done in `f64` and the
//!   result is rounded back to the input's dtype. Integer and `bool` inputs are an error.
//! - **Batches.** A tensor of shape `[..., m, n]` is a batch of `m x n` matrices; every function
//!   works matrix by matrix over the leading dims. [`solve`] broadcasts the batch dims of its two
//!   operands like `torch.linalg.solve`.
//! - **Errors, never panics.** Rank < 2, non-square input where a square one is needed, a
//!   non-float dtype, mismatched shapes and singular matrices return an [`Error::Api`] naming the
//!   op and the shape (and, for a batch, which matrix). Empty matrices are fine: the inverse of a
//!   `0 x 0` matrix is `0 x 0` and its determinant is 1, as in PyTorch. NaN and infinity flow
//!   through [`inverse`], [`det`] and [`solve`] like any other value; [`svd`] rejects them.
//! - **Singularity** ([`inverse`], [`solve`]). A matrix is singular when a pivot `u_kk` of its LU
//!   factorisation is exactly zero, or when `|u_kk| <= n * eps * max|A|`, where `eps` is the
//!   machine epsilon of the *input's* dtype (`f32::EPSILON` for `f32`, `f64::EPSILON` for
//!   `f64`) and `max|A|` is the largest magnitude of that matrix. Such a pivot is at the level of
//!   the rounding noise of the data, so the "inverse" would be noise too; PyTorch only rejects
//!   exact zeros, and would return huge, meaningless values here. [`det`] never errors on a
//!   singular matrix: it returns the product of the pivots (0 or tiny).
//! - **SVD signs.** Singular vectors are defined only up to a common sign flip of `u_k` and
//!   `v_k`. [`svd`] flips each pair so that the entry of largest magnitude of `v_k` (the first
//!   such entry on a tie) is positive. This reproduces LAPACK's (and so PyTorch's) output on the
//!   2x2 example of the seeds, but it is not LAPACK's rule, so other matrices may differ from
//!   PyTorch by such sign flips; `U diag(S) V^T` is the same either way.

use crate::{DType, Error, HostTensor, Result, Shape};

/// Sweeps of one-sided Jacobi after which [`svd`] gives up. Convergence is quadratic and takes
/// fewer than ~10 sweeps for any finite matrix of the sizes this module is meant for.
const MAX_JACOBI_SWEEPS: usize = 100;

/// `torch.inverse(a)` / `torch.linalg.inv(a)`: the inverse of each square matrix of
/// `a: [..., n, n]`, by LU factorisation with partial pivoting.
///
/// Errors for rank < 2, non-square matrices, non-float dtypes and singular matrices (see the
/// module docs for the singularity tolerance).
///
/// ```
/// use kiln::{linalg, HostTensor, Shape, DType};
/// # fn main() -> kiln::Result<()> {
/// let a = HostTensor::from_f64(DType::F64, Shape::new(&[2, 2])?, &[2.0, 0.0, 0.0, 4.0])?;
/// assert_eq!(linalg::inverse(&a)?.to_f64_vec(), vec![0.5, 0.0, 0.0, 0.25]);
/// # Ok(()) }
/// ```
pub fn inverse(a: &HostTensor) -> Result<HostTensor> {
    const OP: &str = "linalg.inv";
    let m = square_matrices(OP, a)?;
    let n = m.rows;
    let mut out = Vec::with_capacity(m.data.len());
    for b in 0..m.count() {
        let lu = lu_factor(m.matrix(b).to_vec(), n);
        if let Some(s) = lu.singular_pivot(m.dtype) {
            return Err(Error::api(
                OP,
                format!(
                    "{}The {}, the inversion could not be completed because the input matrix is \
                     singular (input shape {}).",
                    m.batch_prefix(b),
                    s.describe(),
                    a.shape()
                ),
            ));
        }
        out.extend(lu.solve(&identity(n), n));
    }
    output(m.dtype, a.dims().to_vec(), &out)
}

/// `torch.linalg.det(a)`: the determinant of each square matrix of `a: [..., n, n]`, shape
/// `[...]` (rank 0 for a single matrix). Computed as the signed product of the LU pivots, so a
/// singular matrix gives 0 (or a value at rounding level), never an error.
///
/// Errors for rank < 2, non-square matrices and non-float dtypes.
pub fn det(a: &HostTensor) -> Result<HostTensor> {
    const OP: &str = "linalg.det";
    let m = square_matrices(OP, a)?;
    let dets: Vec<f64> = (0..m.count())
        .map(|b| lu_factor(m.matrix(b).to_vec(), m.rows).det())
        .collect();
    output(m.dtype, m.batch.clone(), &dets)
}

/// `torch.linalg.solve(a, b)`: `x` with `a @ x = b`, for `a: [..., n, n]` and `b` either a batch
/// of vectors `[..., n]` or of matrices `[..., n, k]`; the result has `b`'s layout. As in PyTorch,
/// `b` is taken as a batch of vectors when it is 1-D or when its shape is exactly `a`'s without
/// the last dim; otherwise it is a batch of matrices. Batch dims broadcast.
///
/// Errors for non-float or mismatched dtypes, rank < 2 or non-square `a`, a `b` whose rows do not
/// match `n`, batch dims that do not broadcast, and singular `a` (same tolerance as [`inverse`]).
pub fn solve(a: &HostTensor, b: &HostTensor) -> Result<HostTensor> {
    const OP: &str = "linalg.solve";
    let am = square_matrices(OP, a)?;
    let n = am.rows;
    if b.dtype() != a.dtype() {
        return Err(Error::api(
            OP,
            format!(
                "Expected A and B to have the same dtype, but found A of type {} and B of type {} \
                 instead (shapes {} and {})",
                a.dtype(),
                b.dtype(),
                a.shape(),
                b.shape()
            ),
        ));
    }
    let bd = b.dims();
    // `a` has rank >= 2 here, so in the vector case `b` has rank >= 1.
    let vector_case = bd.len() == 1 || bd == &a.dims()[..a.dims().len() - 1];
    // B as a batch of `n x k` matrices; a vector is a one-column matrix.
    let (b_batch, b_rows, k) = if vector_case {
        (&bd[..bd.len() - 1], bd[bd.len() - 1], 1)
    } else if bd.len() >= 2 {
        (&bd[..bd.len() - 2], bd[bd.len() - 2], bd[bd.len() - 1])
    } else {
        // Rank 0: neither a vector nor a matrix.
        return Err(Error::api(
            OP,
            format!(
                "B must be a vector or a batch of matrices, got a scalar (shapes A {} and B {})",
                a.shape(),
                b.shape()
            ),
        ));
    };
    if b_rows != n {
        return Err(Error::api(
            OP,
            format!(
                "Incompatible shapes of A and B for the equation AX = B ({} and {}): B must have \
                 {n} rows",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let batch = broadcast_batch(&am.batch, b_batch).ok_or_else(|| {
        Error::api(
            OP,
            format!(
                "the batch dimensions of A {} and B {} cannot be broadcast together",
                a.shape(),
                b.shape()
            ),
        )
    })?;
    let bvals = b.to_f64_vec();
    let count: usize = batch.iter().product();
    let mut out = Vec::with_capacity(count * n * k);
    for i in 0..count {
        let ai = source_index(i, &batch, &am.batch);
        let bi = source_index(i, &batch, b_batch);
        let lu = lu_factor(am.matrix(ai).to_vec(), n);
        if let Some(s) = lu.singular_pivot(am.dtype) {
            let prefix = if batch.is_empty() {
                String::new()
            } else {
                format!("(Batch element {i}): ")
            };
            return Err(Error::api(
                OP,
                format!(
                    "{prefix}The solver failed because the input matrix is singular: the {} \
                     (shape of A {}).",
                    s.describe(),
                    a.shape()
                ),
            ));
        }
        out.extend(lu.solve(&bvals[bi * n * k..(bi + 1) * n * k], k));
    }
    let mut dims = batch;
    dims.push(n);
    if !vector_case {
        dims.push(k);
    }
    output(am.dtype, dims, &out)
}

/// `torch.svd(a)` (reduced, `some=True`): `(U, S, V)` with `a = U diag(S) V^T` for every matrix
/// of `a: [..., m, n]`. With `k = min(m, n)`: `U: [..., m, k]` and `V: [..., n, k]` have
/// orthonormal columns, `S: [..., k]` is non-negative and descending. `V` is **not** transposed
/// (unlike `torch.linalg.svd`'s `Vh`).
///
/// Computed by one-sided Jacobi in `f64` (on `a^T` when `m < n`). Signs follow the convention in
/// the module docs. Where a singular value is zero (to rounding), the matching column of `U` is
/// completed to an orthonormal basis.
///
/// Errors for rank < 2, non-float dtypes and matrices with NaN or infinite entries.
///
/// ```
/// use kiln::{linalg, HostTensor, Shape, DType};
/// # fn main() -> kiln::Result<()> {
/// let a = HostTensor::from_f64(DType::F64, Shape::new(&[2, 2])?, &[0.0, 2.0, 3.0, 0.0])?;
/// let (u, s, v) = linalg::svd(&a)?;
/// assert_eq!(s.to_f64_vec(), vec![3.0, 2.0]);
/// assert_eq!((u.dims(), v.dims()), (&[2, 2][..], &[2, 2][..]));
/// # Ok(()) }
/// ```
pub fn svd(a: &HostTensor) -> Result<(HostTensor, HostTensor, HostTensor)> {
    const OP: &str = "svd";
    let m = matrices(OP, a)?;
    let (rows, cols) = (m.rows, m.cols);
    let k = rows.min(cols);
    let (mut us, mut ss, mut vs) = (Vec::new(), Vec::new(), Vec::new());
    for b in 0..m.count() {
        let mat = m.matrix(b);
        if mat.iter().any(|x| !x.is_finite()) {
            return Err(Error::api(
                OP,
                format!(
                    "{}The algorithm failed to converge because the input matrix contained \
                     non-finite values (input shape {}).",
                    m.batch_prefix(b),
                    a.shape()
                ),
            ));
        }
        // Scaled to max|a| = 1 so that the squared column norms neither overflow nor underflow.
        let scale = mat.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let scaled: Vec<f64> = if scale > 0.0 {
            mat.iter().map(|x| x / scale).collect()
        } else {
            mat.to_vec()
        };
        let (u, mut s, v) = if rows >= cols {
            jacobi_svd(&scaled, rows, cols)
        } else {
            // a^T = U' S V'^T, so a = V' S U'^T.
            jacobi_svd(&transpose(&scaled, rows, cols), cols, rows).map(|(u, s, v)| (v, s, u))
        }
        .ok_or_else(|| {
            Error::api(
                OP,
                format!(
                    "{}The algorithm failed to converge after {MAX_JACOBI_SWEEPS} Jacobi sweeps \
                     (input shape {}).",
                    m.batch_prefix(b),
                    a.shape()
                ),
            )
        })?;
        if scale > 0.0 {
            s.iter_mut().for_each(|x| *x *= scale);
        }
        us.extend(u);
        ss.extend(s);
        vs.extend(v);
    }
    let dims = |last: &[usize]| {
        let mut d = m.batch.clone();
        d.extend_from_slice(last);
        d
    };
    Ok((
        output(m.dtype, dims(&[rows, k]), &us)?,
        output(m.dtype, dims(&[k]), &ss)?,
        output(m.dtype, dims(&[cols, k]), &vs)?,
    ))
}

/// A float tensor viewed as a batch of row-major `rows x cols` matrices, widened to `f64`.
struct Matrices {
    dtype: DType,
    batch: Vec<usize>,
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrices {
    fn count(&self) -> usize {
        self.batch.iter().product()
    }

    fn matrix(&self, b: usize) -> &[f64] {
        let size = self.rows * self.cols;
        &self.data[b * size..(b + 1) * size]
    }

    /// PyTorch's "(Batch element i): " prefix, empty for a single matrix.
    fn batch_prefix(&self, b: usize) -> String {
        if self.batch.is_empty() {
            String::new()
        } else {
            format!("(Batch element {b}): ")
        }
    }
}

/// Checks that `a` is a float tensor of rank >= 2.
fn matrices(op: &'static str, a: &HostTensor) -> Result<Matrices> {
    if !a.dtype().is_float() {
        return Err(Error::api(
            op,
            format!(
                "Expected a floating point tensor (f32 or f64) as input. Got {} (shape {})",
                a.dtype(),
                a.shape()
            ),
        ));
    }
    let d = a.dims();
    if d.len() < 2 {
        return Err(Error::api(
            op,
            format!(
                "The input tensor A must have at least 2 dimensions, got shape {}",
                a.shape()
            ),
        ));
    }
    let r = d.len();
    Ok(Matrices {
        dtype: a.dtype(),
        batch: d[..r - 2].to_vec(),
        rows: d[r - 2],
        cols: d[r - 1],
        data: a.to_f64_vec(),
    })
}

/// [`matrices`], and checks that they are square.
fn square_matrices(op: &'static str, a: &HostTensor) -> Result<Matrices> {
    let m = matrices(op, a)?;
    if m.rows != m.cols {
        return Err(Error::api(
            op,
            format!(
                "A must be batches of square matrices, but they are {} by {} matrices (shape {})",
                m.rows,
                m.cols,
                a.shape()
            ),
        ));
    }
    Ok(m)
}

fn output(dtype: DType, dims: Vec<usize>, values: &[f64]) -> Result<HostTensor> {
    Ok(HostTensor::from_f64(dtype, Shape::new(&dims)?, values)?)
}

/// Machine epsilon of a float dtype (the singularity tolerance's unit).
fn epsilon(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f64::from(f32::EPSILON),
        // Only float dtypes get here (checked in `matrices`); f64 is the tightest choice.
        DType::F64 | DType::Bool | DType::I32 | DType::I64 => f64::EPSILON,
    }
}

fn identity(n: usize) -> Vec<f64> {
    let mut e = vec![0.0; n * n];
    for i in 0..n {
        e[i * n + i] = 1.0;
    }
    e
}

fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

/// Broadcasts two batch shapes (NumPy rules), `None` when they do not broadcast.
fn broadcast_batch(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let from_right = |d: &[usize], i: usize| if i < d.len() { d[d.len() - 1 - i] } else { 1 };
    let mut out = vec![0; r];
    for i in 0..r {
        let (x, y) = (from_right(a, i), from_right(b, i));
        out[r - 1 - i] = if x == y || y == 1 {
            x
        } else if x == 1 {
            y
        } else {
            return None;
        };
    }
    Some(out)
}

/// The flat index into a batch of shape `src` (broadcast to `out`) of flat index `i` of `out`.
fn source_index(mut i: usize, out: &[usize], src: &[usize]) -> usize {
    let (mut idx, mut stride) = (0, 1);
    for (k, &d) in out.iter().enumerate().rev() {
        let coord = i % d.max(1);
        i /= d.max(1);
        // `src` is right-aligned with `out`; missing dims and dims of size 1 are broadcast.
        let off = out.len() - src.len();
        if k >= off {
            let s = src[k - off];
            if s != 1 {
                idx += coord * stride;
            }
            stride *= s;
        }
    }
    idx
}

/// A pivot that makes the matrix singular: its (1-based) index, value and the tolerance.
struct SingularPivot {
    index: usize,
    value: f64,
    tol: f64,
}

impl SingularPivot {
    fn describe(&self) -> String {
        if self.value == 0.0 {
            format!("diagonal element {} is zero", self.index)
        } else {
            format!(
                "diagonal element {} is {:.3e}, at or below the singularity tolerance {:.3e} \
                 (n * eps * max|A|)",
                self.index, self.value, self.tol
            )
        }
    }
}

/// An LU factorisation `P A = L U` of an `n x n` matrix: `lu` holds `U` on and above the diagonal
/// and `L` (unit diagonal implied) below it; row `i` of `P A` is row `perm[i]` of `A`.
struct Lu {
    lu: Vec<f64>,
    n: usize,
    perm: Vec<usize>,
    /// The sign of the permutation, +1 or -1.
    sign: f64,
    /// `max|A|`, the scale of the singularity tolerance.
    max_abs: f64,
}

/// Factorises the row-major `n x n` matrix `a` with partial pivoting. A column whose pivot is
/// exactly zero is left as is (everything below the pivot is zero too), so the factorisation
/// always completes; singularity is judged afterwards by [`Lu::singular_pivot`].
fn lu_factor(mut a: Vec<f64>, n: usize) -> Lu {
    let max_abs = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut perm: Vec<usize> = (0..n).collect();
    let mut sign = 1.0;
    for k in 0..n {
        let mut p = k;
        for i in k + 1..n {
            if a[i * n + k].abs() > a[p * n + k].abs() {
                p = i;
            }
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            perm.swap(k, p);
            sign = -sign;
        }
        let pivot = a[k * n + k];
        if pivot == 0.0 {
            continue;
        }
        for i in k + 1..n {
            let l = a[i * n + k] / pivot;
            a[i * n + k] = l;
            for j in k + 1..n {
                a[i * n + j] -= l * a[k * n + j];
            }
        }
    }
    Lu {
        lu: a,
        n,
        perm,
        sign,
        max_abs,
    }
}

impl Lu {
    /// The first pivot with `|u_kk| <= n * eps * max|A|` (always catches an exact zero).
    fn singular_pivot(&self, dtype: DType) -> Option<SingularPivot> {
        let n = self.n;
        let tol = n as f64 * epsilon(dtype) * self.max_abs;
        (0..n).find_map(|k| {
            let value = self.lu[k * n + k];
            (value == 0.0 || value.abs() <= tol).then_some(SingularPivot {
                index: k + 1,
                value,
                tol,
            })
        })
    }

    fn det(&self) -> f64 {
        (0..self.n).fold(self.sign, |d, k| d * self.lu[k * self.n + k])
    }

    /// Solves `A X = B` for the row-major `n x k` `b`; the pivots must be non-zero.
    fn solve(&self, b: &[f64], k: usize) -> Vec<f64> {
        let n = self.n;
        let lu = &self.lu;
        let mut x = vec![0.0; n * k];
        for i in 0..n {
            x[i * k..(i + 1) * k].copy_from_slice(&b[self.perm[i] * k..(self.perm[i] + 1) * k]);
        }
        // Forward substitution with the unit lower triangle.
        for i in 0..n {
            for j in 0..i {
                let l = lu[i * n + j];
                for c in 0..k {
                    x[i * k + c] -= l * x[j * k + c];
                }
            }
        }
        // Back substitution with the upper triangle.
        for i in (0..n).rev() {
            for j in i + 1..n {
                let u = lu[i * n + j];
                for c in 0..k {
                    x[i * k + c] -= u * x[j * k + c];
                }
            }
            let d = lu[i * n + i];
            for c in 0..k {
                x[i * k + c] /= d;
            }
        }
        x
    }
}

/// One-sided Jacobi SVD of the row-major `m x n` matrix `a` with `m >= n`: returns row-major
/// `U [m, n]`, `S [n]` (descending) and `V [n, n]`, signs normalised (see the module docs).
/// `None` if the sweeps do not converge (not seen for finite input).
fn jacobi_svd(a: &[f64], m: usize, n: usize) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    // Work on columns: w[j] is column j of A, rotated until the columns are orthogonal.
    let mut w: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..m).map(|i| a[i * n + j]).collect())
        .collect();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|j| (0..n).map(|i| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
    let mut converged = n < 2;
    for _ in 0..MAX_JACOBI_SWEEPS {
        if converged {
            break;
        }
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let alpha = dot(&w[p], &w[p]);
                let beta = dot(&w[q], &w[q]);
                let gamma = dot(&w[p], &w[q]);
                // Orthogonal to working precision already (this also skips zero columns).
                if gamma.abs() <= f64::EPSILON * alpha.sqrt() * beta.sqrt() {
                    continue;
                }
                rotated = true;
                // The rotation that diagonalises [[alpha, gamma], [gamma, beta]] (= the pair's
                // block of A^T A), taking the smaller angle: t = tan(theta) solves
                // t^2 + 2 zeta t - 1 = 0.
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + zeta.hypot(1.0));
                let c = 1.0 / t.hypot(1.0);
                let s = c * t;
                for cols in [&mut w, &mut v] {
                    let (left, right) = cols.split_at_mut(q);
                    for (x, y) in left[p].iter_mut().zip(right[0].iter_mut()) {
                        let (xp, xq) = (*x, *y);
                        *x = c * xp - s * xq;
                        *y = s * xp + c * xq;
                    }
                }
            }
        }
        converged = !rotated;
    }
    if !converged {
        return None;
    }
    let norms: Vec<f64> = w.iter().map(|c| dot(c, c).sqrt()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    // Stable, so equal singular values keep their column order.
    order.sort_by(|&i, &j| norms[j].total_cmp(&norms[i]));
    let s: Vec<f64> = order.iter().map(|&j| norms[j]).collect();
    let s_max = s.first().copied().unwrap_or(0.0);
    // Below this a singular value is zero to rounding, and its column of A·V is noise.
    let zero_tol = s_max * f64::EPSILON * m as f64;
    let mut u_cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut v_cols: Vec<Vec<f64>> = Vec::with_capacity(n);
    for (&j, &sj) in order.iter().zip(&s) {
        v_cols.push(v[j].clone());
        if sj > zero_tol && sj > 0.0 {
            u_cols.push(w[j].iter().map(|x| x / sj).collect());
        } else {
            u_cols.push(Vec::new()); // completed below, once every non-zero column is known
        }
    }
    complete_orthonormal(&mut u_cols, m);
    // Sign convention: the largest-magnitude entry of each v_k is positive.
    for (uc, vc) in u_cols.iter_mut().zip(v_cols.iter_mut()) {
        let lead = vc.iter().fold(
            0.0f64,
            |best, &x| if x.abs() > best.abs() { x } else { best },
        );
        if lead < 0.0 {
            uc.iter_mut().for_each(|x| *x = -*x);
            vc.iter_mut().for_each(|x| *x = -*x);
        }
    }
    let to_rows = |cols: &[Vec<f64>], rows: usize| -> Vec<f64> {
        (0..rows)
            .flat_map(|i| cols.iter().map(move |c| c[i]))
            .collect()
    };
    Some((to_rows(&u_cols, m), s, to_rows(&v_cols, n)))
}

/// Fills every empty column of `cols` (vectors of length `m`) with a unit vector orthogonal to
/// all others, by Gram–Schmidt on the standard basis vector with the largest residual.
fn complete_orthonormal(cols: &mut [Vec<f64>], m: usize) {
    for target in 0..cols.len() {
        if !cols[target].is_empty() {
            continue;
        }
        let mut best: Vec<f64> = Vec::new();
        let mut best_norm = -1.0;
        for e in 0..m {
            let mut x = vec![0.0; m];
            x[e] = 1.0;
            // Twice, for orthogonality to working precision.
            for _ in 0..2 {
                for c in cols.iter().filter(|c| !c.is_empty()) {
                    let proj: f64 = c.iter().zip(&x).map(|(a, b)| a * b).sum();
                    x.iter_mut().zip(c).for_each(|(xi, ci)| *xi -= proj * ci);
                }
            }
            let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > best_norm {
                best_norm = norm;
                best = x;
            }
        }
        // There are fewer than m other columns, so some e has a residual of norm >= 1/sqrt(m).
        cols[target] = best.iter().map(|x| x / best_norm).collect();
    }
}

#[cfg(test)]
mod tests {
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
            let want =
                format!("The input tensor A must have at least 2 dimensions, got shape {shape}");
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
        assert!(
            api_msg(det(&f64s(&[4, 3, 2], &[0.0; 24]))).contains("3 by 2 matrices (shape [4,3,2])")
        );

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
}
