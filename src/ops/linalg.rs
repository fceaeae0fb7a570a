//! Products: `matmul` with PyTorch's rules (vectors, batches, batch broadcasting), `mm`, `bmm`,
//! `mv`, `dot`, `outer`, and `diag`. The IR's matmul takes identical batch dims; broadcasting and
//! vector promotion happen here.

use super::{broadcast_to, promote};
use crate::tensor::Tensor;
use crate::{Error, Result};
use kiln_ir::Shape;

fn cannot_multiply(a: &Tensor, b: &Tensor) -> Error {
    Error::api(
        "matmul",
        format!(
            "mat1 and mat2 shapes cannot be multiplied ({} and {})",
            a.shape().x_separated(),
            b.shape().x_separated()
        ),
    )
}

impl Tensor {
    /// `torch.matmul(a, b)` (`a @ b`): dot product of vectors, matrix-vector, matrix-matrix, and
    /// batched products whose batch dims broadcast (`(10,5,3,2,4) @ (4,10) -> (10,5,3,2,10)`).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.check_same_graph(other, "matmul")?;
        let (ra, rb) = (self.rank(), other.rank());
        if ra == 0 || rb == 0 {
            return Err(Error::api(
                "matmul",
                "both arguments need at least 1 dimension",
            ));
        }
        // Vectors become matrices, and the added axis is removed from the result (PyTorch).
        let a = if ra == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rb == 1 {
            other.unsqueeze(1)?
        } else {
            other.clone()
        };
        let (ad, bd) = (a.dims(), b.dims());
        let (m, k, k2, n) = (
            ad[ad.len() - 2],
            ad[ad.len() - 1],
            bd[bd.len() - 2],
            bd[bd.len() - 1],
        );
        if k != k2 {
            return Err(cannot_multiply(self, other));
        }
        let batch_a = Shape::new(&ad[..ad.len() - 2])?;
        let batch_b = Shape::new(&bd[..bd.len() - 2])?;
        let batch = Shape::broadcast("matmul", &batch_a, &batch_b)
            .map_err(|_| cannot_multiply(self, other))?;
        let dtype = promote(a.dtype(), b.dtype());
        let out = a.binary_build(&b, "matmul", |g, x, y| {
            let x = g.cast(x, dtype)?;
            let y = g.cast(y, dtype)?;
            if batch_b.rank() == 0 && batch_a.rank() > 0 {
                // (..., m, k) @ (k, n): fold the batch into the rows, one large GEMM.
                let rows = batch_a.numel() * m;
                let x = g.reshape(x, Shape::new(&[rows, k])?)?;
                let r = g.matmul(x, y)?;
                let mut dims = batch_a.dims().to_vec();
                dims.extend([m, n]);
                return g.reshape(r, Shape::new(&dims)?);
            }
            let mut da = batch.dims().to_vec();
            da.extend([m, k]);
            let mut db = batch.dims().to_vec();
            db.extend([k, n]);
            let x = broadcast_to(g, x, &Shape::new(&da)?)?;
            let y = broadcast_to(g, y, &Shape::new(&db)?)?;
            g.matmul(x, y)
        })?;
        let mut dims = out.dims();
        if rb == 1 {
            dims.pop();
        }
        if ra == 1 {
            let r = dims.len();
            dims.remove(r - 1 - usize::from(rb != 1));
        }
        out.reshape_exact(Shape::new(&dims)?)
    }

    /// `torch.mm(a, b)`: product of two matrices.
    pub fn mm(&self, other: &Tensor) -> Result<Tensor> {
        if self.rank() != 2 || other.rank() != 2 {
            return Err(Error::api(
                "mm",
                format!(
                    "expects two matrices, got shapes {} and {}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }

    /// `torch.bmm(a, b)`: `(b, n, m) @ (b, m, p) -> (b, n, p)`, no broadcasting.
    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        if self.rank() != 3 || other.rank() != 3 || self.dims()[0] != other.dims()[0] {
            return Err(Error::api(
                "bmm",
                format!(
                    "expects two 3-D tensors with the same batch size, got shapes {} and {}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }

    /// `torch.mv(a, v)`: matrix-vector product.
    pub fn mv(&self, v: &Tensor) -> Result<Tensor> {
        if self.rank() != 2 || v.rank() != 1 {
            return Err(Error::api(
                "mv",
                format!(
                    "expects a matrix and a vector, got shapes {} and {}",
                    self.shape(),
                    v.shape()
                ),
            ));
        }
        self.matmul(v)
    }

    /// `torch.dot(a, b)`: inner product of two vectors of the same length.
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        if self.rank() != 1 || other.rank() != 1 || self.numel() != other.numel() {
            return Err(Error::api(
                "dot",
                format!(
                    "expects two 1-D tensors of the same size, got shapes {} and {}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul(other)
    }

    /// `torch.outer(a, b)` (`torch.ger`): `out[i][j] = a[i] * b[j]`.
    pub fn outer(&self, other: &Tensor) -> Result<Tensor> {
        if self.rank() != 1 || other.rank() != 1 {
            return Err(Error::api(
                "outer",
                format!(
                    "expects two vectors, got shapes {} and {}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.unsqueeze(1)?.mul(&other.unsqueeze(0)?)
    }

    /// `torch.diag(v)`: a square matrix with the vector `v` on its diagonal; for a matrix, its
    /// diagonal as a vector.
    pub fn diag(&self) -> Result<Tensor> {
        match *self.dims().as_slice() {
            [n] => {
                let eye = self.graph().eye(n)?.to_dtype(self.dtype())?;
                eye.mul(&self.unsqueeze(0)?)
            }
            [r, c] => {
                // The diagonal of a row-major r x c matrix is every (c+1)-th element.
                let n = r.min(c);
                if n == 0 {
                    return self.reshape(&[0]);
                }
                self.reshape(&[-1])?.slice(
                    0,
                    Some(0),
                    Some(((n - 1) * (c + 1) + 1) as isize),
                    c + 1,
                )
            }
            _ => Err(Error::api(
                "diag",
                format!("expects a 1-D or 2-D tensor, got shape {}", self.shape()),
            )),
        }
    }

    /// `torch.inverse(a)` as a graph: Gauss–Jordan elimination with partial pivoting, unrolled
    /// into primitives (`n` pivot steps of argmax, a row swap by a permutation matrix, and a
    /// rank-1 update), so it is differentiable — its gradient is `-A^-T dOut A^-T`, which the
    /// autodiff pass derives through the elimination (the pivot choice is locally constant) —
    /// and it compiles like any other graph. Works on `[..., n, n]` for `n <= 64` (the graph has
    /// about 20 nodes per row); for larger matrices, or to get an error for singular input, use
    /// [`crate::linalg::inverse`] on host values. A singular matrix yields inf/NaN entries.
    pub fn inverse(&self) -> Result<Tensor> {
        let dims = self.dims();
        let r = dims.len();
        if r < 2 || dims[r - 1] != dims[r - 2] || !self.dtype().is_float() {
            return Err(Error::api(
                "inverse",
                format!(
                    "expects a batch of square float matrices [..., n, n], got {}{}",
                    self.dtype(),
                    self.shape()
                ),
            ));
        }
        let n = dims[r - 1];
        if n > 64 {
            return Err(Error::api(
                "inverse",
                format!("the graph form supports n <= 64 (got {n}); use kiln::linalg::inverse on host values"),
            ));
        }
        let g = self.graph();
        let eye = g.eye(n)?.to_dtype(self.dtype())?;
        let mut m = Tensor::cat(
            &[
                self,
                &eye.expand(&dims.iter().map(|&d| d as isize).collect::<Vec<_>>())?,
            ],
            -1,
        )?;
        for k in 0..n {
            let ek = eye.select(0, k as isize)?; // [n]
                                                 // Partial pivoting: the row p >= k with the largest |m[p, k]|.
            let col = m.select(-1, k as isize)?; // [..., n]
            let below = col.abs()?.add(
                &(g.arange(0, n as i64)?
                    .lt(k as i64)?
                    .to_dtype(self.dtype())?
                    * -1.0)?,
            )?;
            let p = below.argmax(Some(-1), false)?; // [...]
            let ep = p.one_hot(n)?.to_dtype(self.dtype())?; // [..., n]
                                                            // P = I - ek ek^T - ep ep^T + ek ep^T + ep ek^T swaps rows k and p (I when p = k).
            let outer = |a: &Tensor, b: &Tensor| a.unsqueeze(-1)?.mul(&b.unsqueeze(-2)?);
            let ekb = ek.expand(&ep.dims().iter().map(|&d| d as isize).collect::<Vec<_>>())?;
            let perm = eye
                .sub(&outer(&ekb, &ekb)?)?
                .sub(&outer(&ep, &ep)?)?
                .add(&outer(&ekb, &ep)?)?
                .add(&outer(&ep, &ekb)?)?;
            m = perm.matmul(&m)?;
            // Normalise the pivot row and eliminate column k elsewhere in one rank-1 update:
            // M -= (M[:, k] - e_k) (M[k, :] / M[k, k]).
            let row = m.select(-2, k as isize)?; // [..., 2n]
            let pivot = row.select(-1, k as isize)?.unsqueeze(-1)?;
            let r_k = row.div(&pivot)?;
            let c = m.select(-1, k as isize)?.sub(&ek)?;
            m = m.sub(&outer(&c, &r_k)?)?;
        }
        m.slice(-1, Some(n as isize), None, 1)
    }
}
