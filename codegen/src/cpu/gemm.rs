//! Batched, strided matrix products for the CPU backend: `c[b, i, j] = sum_p a[b, i, p] *
//! b[b, p, j]` with `c` contiguous (row-major `[batch..., m, n]`) and `a`, `b` arbitrary strided
//! views (a transposed operand is just swapped strides, a broadcast batch a zero stride; nothing
//! is copied).
//!
//! Which implementation, and why (the measurements behind it, dated and with the machine's load,
//! are in BENCHMARKS.md, "GEMM implementations compared"):
//!
//! We use **kiln's own GEMM** (`gemm/blocked/`: BLIS-style packing, 6x16 f32 / 6x8 f64 AVX2 +
//! FMA micro-kernels, persistent helper threads; see its module docs) on x86-64 CPUs with AVX2
//! and FMA, and matrixmultiply elsewhere. It is faster than matrixmultiply on square and
//! transposed products (most at mid sizes, where thread start-up counts), takes the executor's thread count per call
//! (`CpuBackend::threads`) instead of a global `MATMUL_NUM_THREADS`, and its results are
//! bit-identical for any thread count and any split of the rows across calls (tested). `gemm`
//! 0.19 is about as fast at 1024³ and slower at 2048³, and we have not checked that its results
//! are thread-count independent; it is only a dev-dependency, compared in the example. Splitting
//! the rows across our own threads (so each could run the epilogue on its block in cache) is
//! not faster than one threaded call, and the fused epilogue costs within the noise
//! (matmul+bias+relu vs matmul), so the executor runs the epilogue after the whole product.
//!
//! Guarantees:
//! - f32 and f64 products of at most [`SMALL_FLOPS`] multiply-adds per matrix, and every i32/i64
//!   product, are computed exactly as the kernel IR defines them: accumulated in f64 over
//!   `p = 0..k` in order and rounded once to the dtype (integers saturate at that final
//!   conversion), so they match `kiln_ir::kernel::evaluate_program` bit for bit. Larger float
//!   products accumulate in their own dtype in the library's blocked order (the IR allows this;
//!   compare with a tolerance).
//! - Every output element is computed by exactly one call in a fixed order, independent of how
//!   rows are split across calls or threads, so results do not depend on the thread count.
//! - `k = 0` writes zeros; `m = 0`, `n = 0` or an empty batch writes nothing.

use std::ops::Range;

use smallvec::SmallVec;

#[cfg(target_arch = "x86_64")]
mod blocked;

/// Products of at most this many multiply-adds per matrix (`m * n * k`) take the exact
/// f64-accumulating loop (the IR's definition); above it the tuned library runs.
pub const SMALL_FLOPS: usize = 8192;

/// Sizes of a batched product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GemmDims {
    /// Batch dims (possibly none), shared by both operands and the output.
    pub batch: SmallVec<[usize; 4]>,
    /// Rows of `a` and of the output.
    pub m: usize,
    /// Columns of `b` and of the output.
    pub n: usize,
    /// The contracted dimension.
    pub k: usize,
}

impl GemmDims {
    /// Number of matrices in the batch (1 without batch dims).
    pub fn batch_count(&self) -> usize {
        self.batch.iter().product()
    }

    /// Rows of the flattened output `[batch * m, n]`.
    pub fn rows(&self) -> usize {
        self.batch_count() * self.m
    }
}

/// Where an operand's elements are: `(b..., i, j)` is at element
/// `offset + sum batch_strides[d] * b[d] + i * row_stride + j * col_stride`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixLayout {
    /// Element offset of `(0, ..., 0)`.
    pub offset: isize,
    /// One stride per batch dim (0 broadcasts).
    pub batch_strides: SmallVec<[isize; 4]>,
    /// Stride between rows.
    pub row_stride: isize,
    /// Stride between columns.
    pub col_stride: isize,
}

impl MatrixLayout {
    /// Splits kernel-IR view strides over `(batch..., rows, cols)` into a layout; `None` if
    /// there are fewer than two strides.
    pub fn from_view(offset: isize, strides: &[isize]) -> Option<MatrixLayout> {
        let r = strides.len();
        if r < 2 {
            return None;
        }
        Some(MatrixLayout {
            offset,
            batch_strides: strides[..r - 2].iter().copied().collect(),
            row_stride: strides[r - 2],
            col_stride: strides[r - 1],
        })
    }

    /// The smallest and largest element offsets the layout touches over a `rows x cols` matrix
    /// in a batch of `batch` (`None` if it touches nothing). Used to check an operand against
    /// its buffer before any raw access.
    pub fn extent(&self, batch: &[usize], rows: usize, cols: usize) -> Option<(isize, isize)> {
        if rows == 0 || cols == 0 || batch.contains(&0) {
            return None;
        }
        let mut lo = self.offset;
        let mut hi = self.offset;
        let dims = batch.iter().chain([&rows, &cols]);
        let strides = self
            .batch_strides
            .iter()
            .chain([&self.row_stride, &self.col_stride]);
        for (&d, &s) in dims.zip(strides) {
            let span = s.checked_mul(d as isize - 1)?;
            if span < 0 {
                lo = lo.checked_add(span)?;
            } else {
                hi = hi.checked_add(span)?;
            }
        }
        Some((lo, hi))
    }

    /// Element offset of matrix `b` (a flat index over the batch dims, row-major).
    fn batch_offset(&self, batch: &[usize], mut b: usize) -> isize {
        let mut off = self.offset;
        for (d, &size) in batch.iter().enumerate().rev() {
            off += self.batch_strides[d] * (b % size) as isize;
            b /= size;
        }
        off
    }
}

/// The operands of one matrix product `c = a * b`, `a` being `m x k` and `b` `k x n`: element
/// `(i, p)` of `a` is at `a + i*rsa + p*csa` and element `(p, j)` of `b` at `b + p*rsb + j*csb`
/// (any strides: a transposed operand swaps them, a broadcast one has zeros, a flipped one
/// negatives); `c` is row-major with row stride `n` and only written (beta = 0).
///
/// The contract of every `unsafe` function that takes one (stated here once): every element of
/// `a` (`i < m, p < k`) and of `b` (`p < k, j < n`) is readable, `c[0..m*n]` is writable, and `c`
/// does not overlap `a` or `b`, for the whole call.
#[derive(Clone, Copy)]
pub struct Operands<T> {
    /// Rows of `a` and `c`.
    pub m: usize,
    /// Columns of `b` and `c`.
    pub n: usize,
    /// The contracted dimension: columns of `a`, rows of `b`.
    pub k: usize,
    /// Element `(0, 0)` of `a`.
    pub a: *const T,
    /// Row stride of `a`, in elements.
    pub rsa: isize,
    /// Column stride of `a`, in elements.
    pub csa: isize,
    /// Element `(0, 0)` of `b`.
    pub b: *const T,
    /// Row stride of `b`, in elements.
    pub rsb: isize,
    /// Column stride of `b`, in elements.
    pub csb: isize,
    /// The output, row-major with row stride `n`.
    pub c: *mut T,
}

/// The operands of a batched product: `a` and `b` are the bases their layouts' offsets count
/// from, `c` the base of the whole row-major output `[batch * m, n]`.
///
/// The contract of every `unsafe` function that takes one (stated here once): `a` and `b` are
/// readable at every element their layouts reach over `dims` (check with
/// [`MatrixLayout::extent`]), `c` is writable for `dims.rows() * n` elements, and `c` does not
/// overlap `a` or `b`, for the whole call.
#[derive(Clone, Copy)]
pub struct BatchOperands<'l, T> {
    /// The sizes of the product.
    pub dims: &'l GemmDims,
    /// Base of `a`'s buffer.
    pub a: *const T,
    /// Where `a`'s elements are, from `a`.
    pub a_layout: &'l MatrixLayout,
    /// Base of `b`'s buffer.
    pub b: *const T,
    /// Where `b`'s elements are, from `b`.
    pub b_layout: &'l MatrixLayout,
    /// Base of the output.
    pub c: *mut T,
}

/// The library that computes large float products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmLibrary {
    /// `matrixmultiply` 0.3 (BLIS-style packing; threads itself with its `threading` feature,
    /// up to `MATMUL_NUM_THREADS` or the physical core count).
    MatrixMultiply,
    /// kiln's own BLIS-style GEMM (`gemm/blocked/`: packed panels, AVX2 + FMA micro-kernels,
    /// `threads` scoped threads per call). Falls back to [`GemmLibrary::MatrixMultiply`] on a
    /// CPU (or an architecture) without AVX2 and FMA.
    Kiln,
}

/// The library [`gemm_rows`] uses in the CPU backend (see the module docs for the numbers).
pub const DEFAULT_LIBRARY: GemmLibrary = GemmLibrary::Kiln;

/// An element type with a matrix product.
pub trait GemmElement: Copy + Send + Sync + 'static {
    /// Converts to f64 exactly (i64 beyond 2^53 rounds, as the IR's definition does).
    fn to_f64(self) -> f64;
    /// Rounds an f64 sum to the type (integers saturate, as `DType::round` does).
    fn from_f64(v: f64) -> Self;
    /// Whether large products may go to a tuned library (floats only).
    const TUNED: bool;

    /// One matrix product through the tuned library.
    ///
    /// # Safety
    /// `ops` must meet the [`Operands`] contract.
    unsafe fn tuned(lib: GemmLibrary, threads: usize, ops: Operands<Self>);
}

macro_rules! int_element {
    ($t:ty) => {
        impl GemmElement for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            const TUNED: bool = false;
            unsafe fn tuned(_: GemmLibrary, _: usize, ops: Operands<Self>) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { exact(ops) }
            }
        }
    };
}
int_element!(i32);
int_element!(i64);

macro_rules! float_element {
    ($t:ty, $mm:path) => {
        impl GemmElement for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            const TUNED: bool = true;
            unsafe fn tuned(lib: GemmLibrary, threads: usize, ops: Operands<Self>) {
                let Operands {
                    m,
                    n,
                    k,
                    a,
                    rsa,
                    csa,
                    b,
                    rsb,
                    csb,
                    c,
                } = ops;
                // SAFETY: the caller's `Operands` contract: every element of the m x k, k x n
                // and m x n matrices at these strides is valid; beta = 0 means `c` is only
                // written.
                let mm = || unsafe {
                    $mm(
                        m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, n as isize, 1,
                    )
                };
                match lib {
                    GemmLibrary::MatrixMultiply => mm(),
                    GemmLibrary::Kiln => {
                        #[cfg(target_arch = "x86_64")]
                        if blocked::available() {
                            // SAFETY: AVX2 and FMA are present; the operands as above.
                            return unsafe { blocked::gemm(threads, ops) };
                        }
                        // matrixmultiply threads itself (`MATMUL_NUM_THREADS`).
                        let _ = threads;
                        mm()
                    }
                }
            }
        }
    };
}
float_element!(f32, matrixmultiply::sgemm);
float_element!(f64, matrixmultiply::dgemm);

/// The IR's definition: f64 accumulation over `p` in order, one rounding. Row-oriented (a row of
/// f64 accumulators) so that `b` is streamed along its rows.
///
/// # Safety
/// `ops` must meet the [`Operands`] contract.
unsafe fn exact<T: GemmElement>(ops: Operands<T>) {
    let Operands {
        m,
        n,
        k,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        c,
    } = ops;
    // Small products (the common case here) keep the row on the stack.
    let mut acc: SmallVec<[f64; 64]> = SmallVec::from_elem(0.0, n);
    for i in 0..m {
        acc.iter_mut().for_each(|x| *x = 0.0);
        for p in 0..k {
            // SAFETY: i < m, p < k: inside `a` by the caller's contract.
            let x = unsafe { *a.offset(i as isize * rsa + p as isize * csa) }.to_f64();
            let brow = p as isize * rsb;
            for (j, s) in acc.iter_mut().enumerate() {
                // SAFETY: p < k, j < n: inside `b`.
                *s += x * unsafe { *b.offset(brow + j as isize * csb) }.to_f64();
            }
        }
        for (j, &s) in acc.iter().enumerate() {
            // SAFETY: i < m, j < n: inside `c`.
            unsafe { *c.add(i * n + j) = T::from_f64(s) };
        }
    }
}

/// Computes rows `rows` of the flattened output `[batch * m, n]` (row `r` is row `r % m` of
/// matrix `r / m`) into `ops.c`, the base of the whole output. `threads` is passed to libraries
/// that take a per-call thread count.
///
/// # Safety
/// `ops` must meet the [`BatchOperands`] contract, and `rows` must lie in `0..dims.rows()`.
pub unsafe fn gemm_rows<T: GemmElement>(
    lib: GemmLibrary,
    threads: usize,
    ops: &BatchOperands<'_, T>,
    rows: Range<usize>,
) {
    let BatchOperands {
        dims,
        a,
        a_layout: al,
        b,
        b_layout: bl,
        c,
    } = *ops;
    let (m, n, k) = (dims.m, dims.n, dims.k);
    if m == 0 || n == 0 || rows.is_empty() {
        return;
    }
    let small = m.saturating_mul(n).saturating_mul(k) <= SMALL_FLOPS;
    let mut r = rows.start;
    while r < rows.end {
        let (bi, i0) = (r / m, r % m);
        let i1 = m.min(i0 + (rows.end - r));
        let count = i1 - i0;
        // SAFETY: row r < dims.rows(), so the block's `count * n` elements are inside `c`.
        let cb = unsafe { c.add(r * n) };
        if k == 0 {
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(cb, 0, count * n) };
        } else {
            let ao = al.batch_offset(&dims.batch, bi) + i0 as isize * al.row_stride;
            let bo = bl.batch_offset(&dims.batch, bi);
            // SAFETY: matrix `bi`'s rows i0..i1 of `a` and all of `b` lie inside the operands'
            // extents, which the caller checked.
            let (ab, bb) = unsafe { (a.offset(ao), b.offset(bo)) };
            // Meets the `Operands` contract: rows i0..i1 of matrix `bi` of `a`, that matrix of
            // `b`, and the block's rows of `c`, all inside the caller's `BatchOperands`.
            let block = Operands {
                m: count,
                n,
                k,
                a: ab,
                rsa: al.row_stride,
                csa: al.col_stride,
                b: bb,
                rsb: bl.row_stride,
                csb: bl.col_stride,
                c: cb,
            };
            if small || !T::TUNED {
                // SAFETY: `block` meets the contract (above).
                unsafe { exact(block) };
            } else {
                // SAFETY: as above.
                unsafe { T::tuned(lib, threads, block) };
            }
        }
        r += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn naive(
        dims: &GemmDims,
        a: &[f64],
        al: &MatrixLayout,
        b: &[f64],
        bl: &MatrixLayout,
    ) -> Vec<f64> {
        let mut out = Vec::new();
        for bi in 0..dims.batch_count() {
            let (ao, bo) = (
                al.batch_offset(&dims.batch, bi),
                bl.batch_offset(&dims.batch, bi),
            );
            for i in 0..dims.m {
                for j in 0..dims.n {
                    let mut s = 0.0;
                    for p in 0..dims.k {
                        let x = a[(ao + i as isize * al.row_stride + p as isize * al.col_stride)
                            as usize];
                        let y = b[(bo + p as isize * bl.row_stride + j as isize * bl.col_stride)
                            as usize];
                        s += x * y;
                    }
                    out.push(s);
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 17) as f64 - 8.0
            })
            .collect()
    }

    /// Integer-valued operands make every sum exact in f32 too, so all paths must agree exactly.
    fn check(dims: GemmDims, al: MatrixLayout, bl: MatrixLayout, alen: usize, blen: usize) {
        let a = values(alen, 1);
        let b = values(blen, 2);
        let want = naive(&dims, &a, &al, &b, &bl);
        let total = dims.rows() * dims.n;
        for lib in [GemmLibrary::MatrixMultiply, GemmLibrary::Kiln] {
            let af: Vec<f32> = a.iter().map(|&x| x as f32).collect();
            let bf: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let mut c = vec![f32::NAN; total];
            let ops = BatchOperands {
                dims: &dims,
                a: af.as_ptr(),
                a_layout: &al,
                b: bf.as_ptr(),
                b_layout: &bl,
                c: c.as_mut_ptr(),
            };
            // Rows in three uneven pieces, as the executor splits them.
            let cuts = [0, dims.rows() / 3, dims.rows() / 2 + 1, dims.rows()];
            for w in cuts.windows(2) {
                let range = w[0].min(w[1])..w[1];
                // SAFETY: the layouts stay inside `a`/`b` (checked by `extent` below); `c`
                // holds the whole output.
                unsafe { gemm_rows(lib, 2, &ops, range) };
            }
            let got: Vec<f64> = c.iter().map(|&x| x as f64).collect();
            assert_eq!(got, want, "{lib:?} f32 {dims:?}");
            let mut c = vec![f64::NAN; total];
            let ops = BatchOperands {
                dims: &dims,
                a: a.as_ptr(),
                a_layout: &al,
                b: b.as_ptr(),
                b_layout: &bl,
                c: c.as_mut_ptr(),
            };
            // SAFETY: as above.
            unsafe { gemm_rows(lib, 1, &ops, 0..dims.rows()) };
            assert_eq!(c, want, "{lib:?} f64");
            let ai: Vec<i32> = a.iter().map(|&x| x as i32).collect();
            let bi: Vec<i32> = b.iter().map(|&x| x as i32).collect();
            let mut c = vec![0i32; total];
            let ops = BatchOperands {
                dims: &dims,
                a: ai.as_ptr(),
                a_layout: &al,
                b: bi.as_ptr(),
                b_layout: &bl,
                c: c.as_mut_ptr(),
            };
            // SAFETY: as above.
            unsafe { gemm_rows(lib, 1, &ops, 0..dims.rows()) };
            assert_eq!(c.iter().map(|&x| x as f64).collect::<Vec<_>>(), want);
        }
        let (lo, hi) = al.extent(&dims.batch, dims.m, dims.k).unwrap_or((0, 0));
        assert!(lo >= 0 && (hi as usize) < alen.max(1));
        let (lo, hi) = bl.extent(&dims.batch, dims.k, dims.n).unwrap_or((0, 0));
        assert!(lo >= 0 && (hi as usize) < blen.max(1));
    }

    fn row_major(batch: &[usize], rows: usize, cols: usize) -> MatrixLayout {
        let mut strides: Vec<isize> = vec![0; batch.len()];
        let mut s = (rows * cols) as isize;
        for d in (0..batch.len()).rev() {
            strides[d] = s;
            s *= batch[d] as isize;
        }
        MatrixLayout {
            offset: 0,
            batch_strides: strides.into_iter().collect(),
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    #[test]
    fn plain_transposed_batched_broadcast_and_empty() {
        for (m, n, k) in [
            (1, 1, 1),
            (3, 5, 7),
            (33, 17, 65),
            (70, 90, 50),
            (5, 4, 0),
            (0, 3, 2),
        ] {
            let d = GemmDims {
                batch: smallvec![],
                m,
                n,
                k,
            };
            check(
                d.clone(),
                row_major(&[], m, k),
                row_major(&[], k, n),
                m * k,
                k * n,
            );
            // a given as a^T stored [k, m]; b as b^T stored [n, k].
            let at = MatrixLayout {
                offset: 0,
                batch_strides: smallvec![],
                row_stride: 1,
                col_stride: m as isize,
            };
            let bt = MatrixLayout {
                offset: 0,
                batch_strides: smallvec![],
                row_stride: 1,
                col_stride: k as isize,
            };
            check(d, at, bt, m * k, k * n);
        }
        // Batched [2, 3] with `b` broadcast over the first batch dim.
        let (m, n, k) = (40, 30, 20);
        let d = GemmDims {
            batch: smallvec![2, 3],
            m,
            n,
            k,
        };
        let mut bl = row_major(&[3], k, n);
        bl.batch_strides = smallvec![0, (k * n) as isize];
        check(d, row_major(&[2, 3], m, k), bl, 6 * m * k, 3 * k * n);
    }

    #[test]
    fn integers_saturate_once_at_the_end() {
        let d = GemmDims {
            batch: smallvec![],
            m: 1,
            n: 1,
            k: 3,
        };
        let l = row_major(&[], 1, 3);
        let lb = row_major(&[], 3, 1);
        let a = [i32::MAX, i32::MAX, -i32::MAX];
        let b = [1, 1, 1];
        let mut c = [0i32];
        let ops = BatchOperands {
            dims: &d,
            a: a.as_ptr(),
            a_layout: &l,
            b: b.as_ptr(),
            b_layout: &lb,
            c: c.as_mut_ptr(),
        };
        // SAFETY: 1x3 times 3x1 inside the arrays.
        unsafe { gemm_rows(DEFAULT_LIBRARY, 1, &ops, 0..1) };
        assert_eq!(c[0], i32::MAX);
    }
}
