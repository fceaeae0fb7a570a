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
mod tests;
