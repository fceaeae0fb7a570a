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
        match self.dims().as_slice() {
            &[n] => {
                let eye = self.graph().eye(n)?.to_dtype(self.dtype())?;
                eye.mul(&self.unsqueeze(0)?)
            }
            &[r, c] => {
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
}
