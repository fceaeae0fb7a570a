//! The test-only runner of `tests/loops.rs`: allocates every buffer of a program, fills inputs
//! and constants, runs each compiled loop kernel over its range (whole, or split into three
//! ranges run last-first), computes gemm products itself (f64, rounded once) so that gemm
//! epilogues can run, and compares outputs with a tolerance.

use std::collections::HashMap;

use kiln_codegen::cpu::loops::{compile_gemm_epilogue, compile_loop_kernel, LoopKernel};
use kiln_codegen::cpu::Jit;
use kiln_ir::kernel::{BufferKind, KernelKind, Program};
pub use kiln_ir::testing::{same, Tol};
use kiln_ir::{DType, HostTensor};

/// The loop-kernel C signature.
pub type KernelFn = extern "C" fn(*const *mut u8, i64, i64) -> i64;

/// A compiled program: the JIT (which owns the code) and, per kernel, its function (for a gemm:
/// its epilogue's, if any; the runner computes the product itself).
pub struct Compiled {
    _jit: Jit,
    kernels: Vec<Option<(KernelFn, LoopKernel)>>,
}

/// Compiles every kernel of `p` (gemm kernels: their epilogue) into one JIT.
pub fn compile(p: &Program) -> Compiled {
    let mut jit = Jit::new().expect("host ISA");
    let mut ids = Vec::new();
    for k in 0..p.kernels.len() {
        let name = format!("k{k}");
        let lk = if matches!(p.kernels[k].kind, KernelKind::Gemm { .. }) {
            compile_gemm_epilogue(&mut jit, p, k, &name)
        } else {
            compile_loop_kernel(&mut jit, p, k, &name).map(Some)
        };
        ids.push(lk.unwrap_or_else(|e| panic!("kernel {k}: {e}\n{p}")));
    }
    jit.finalize().expect("finalize");
    let kernels = ids
        .into_iter()
        .map(|lk| {
            lk.map(|lk| {
                let ptr = jit.function_ptr(lk.func).expect("finalized");
                // SAFETY: every loop kernel is defined with the signature
                // (ptr, i64, i64) -> i64 in the host's C calling convention.
                let f: KernelFn = unsafe { std::mem::transmute(ptr) };
                (f, lk)
            })
        })
        .collect();
    Compiled { _jit: jit, kernels }
}

/// The test's stand-in for the executor's gemm: the product in f64, rounded to the gemm's dtype,
/// written to `dst` (the output buffer or the epilogue's scratch).
fn reference_gemm(p: &Program, k: usize, bufs: &mut [Buf], dst: &mut [u8]) {
    let KernelKind::Gemm {
        batch,
        m,
        n,
        k: kk,
        a,
        b,
        dtype,
        ..
    } = &p.kernels[k].kind
    else {
        unreachable!("only called on gemm kernels")
    };
    let read = |bufs: &mut [Buf], v: &kiln_ir::kernel::View, idx: &[usize]| -> f64 {
        let d = p.buffers[v.buffer.index()].dtype;
        let s = d.size_bytes();
        let at = v.at(idx) as usize;
        decode(d, &bufs[v.buffer.index()].bytes()[at * s..(at + 1) * s])
    };
    let nb: usize = batch.iter().product();
    let s = dtype.size_bytes();
    let mut pos = 0;
    for flat_b in 0..nb {
        let mut bidx = vec![0; batch.len()];
        let mut rest = flat_b;
        for d in (0..batch.len()).rev() {
            bidx[d] = rest % batch[d];
            rest /= batch[d];
        }
        for i in 0..*m {
            for j in 0..*n {
                let mut acc = 0.0;
                for q in 0..*kk {
                    let mut ia = bidx.clone();
                    ia.extend([i, q]);
                    let mut ib = bidx.clone();
                    ib.extend([q, j]);
                    acc += read(bufs, a, &ia) * read(bufs, b, &ib);
                }
                encode(*dtype, dtype.round(acc), &mut dst[pos * s..(pos + 1) * s]);
                pos += 1;
            }
        }
    }
}

fn encode(d: DType, v: f64, out: &mut [u8]) {
    match d {
        DType::Bool => out[0] = u8::from(v != 0.0),
        DType::I32 => out.copy_from_slice(&(v as i32).to_le_bytes()),
        DType::I64 => out.copy_from_slice(&(v as i64).to_le_bytes()),
        DType::F32 => out.copy_from_slice(&(v as f32).to_le_bytes()),
        DType::F64 => out.copy_from_slice(&v.to_le_bytes()),
    }
}

fn decode(d: DType, b: &[u8]) -> f64 {
    match d {
        DType::Bool => f64::from(b[0]),
        DType::I32 => f64::from(i32::from_le_bytes(b.try_into().unwrap())),
        DType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f64,
        DType::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
        DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
    }
}

/// 8-byte aligned storage of `bytes` bytes.
struct Buf(Vec<u64>, usize);

impl Buf {
    fn bytes(&mut self) -> &mut [u8] {
        let n = self.1;
        // SAFETY: the Vec<u64> holds at least n bytes; u8 has no alignment or validity needs.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), n) }
    }
}

/// How each kernel's range is covered.
#[derive(Clone, Copy)]
pub enum Split {
    /// One call over `0..parallel_extent`.
    Whole,
    /// Three calls over consecutive thirds, the last third first.
    ThreeReversed,
}

/// Runs `p` natively. `Err((kernel, code))` for a nonzero return.
pub fn run(
    c: &Compiled,
    p: &Program,
    feeds: &HashMap<String, HostTensor>,
    split: Split,
) -> Result<Vec<HostTensor>, (usize, i64)> {
    let mut bufs: Vec<Buf> = p
        .buffers
        .iter()
        .map(|d| Buf(vec![0u64; d.bytes().div_ceil(8) + 1], d.bytes()))
        .collect();
    for (i, d) in p.buffers.iter().enumerate() {
        let t = match &d.kind {
            BufferKind::Input(n) | BufferKind::Param(n) => feeds.get(n).expect("feed"),
            BufferKind::Const(t) => t,
            BufferKind::Temp | BufferKind::Output(_) => continue,
        };
        let s = d.dtype.size_bytes();
        let bytes = bufs[i].bytes();
        for j in 0..t.numel() {
            encode(d.dtype, t.get_f64(j), &mut bytes[j * s..(j + 1) * s]);
        }
    }
    let mut ptrs: Vec<*mut u8> = bufs.iter_mut().map(|b| b.bytes().as_mut_ptr()).collect();
    ptrs.push(std::ptr::null_mut());
    // The epilogue scratch of the current gemm, kept alive while `ptrs` points into it.
    let mut scratch: Option<Buf> = None;
    for (k, compiled) in c.kernels.iter().enumerate() {
        if let KernelKind::Gemm { dtype, out, .. } = &p.kernels[k].kind {
            let od = &p.buffers[out.index()];
            if od.dtype == *dtype {
                let mut dst = vec![0u8; od.bytes()];
                reference_gemm(p, k, &mut bufs, &mut dst);
                bufs[out.index()].bytes().copy_from_slice(&dst);
            } else {
                let len = od.numel() * dtype.size_bytes();
                let mut dst = vec![0u8; len];
                reference_gemm(p, k, &mut bufs, &mut dst);
                let s = scratch.insert(Buf(vec![0u64; len.div_ceil(8) + 1], len));
                s.bytes().copy_from_slice(&dst);
                let last = ptrs.len() - 1;
                ptrs[last] = s.bytes().as_mut_ptr();
            }
        }
        let Some((f, lk)) = compiled else { continue };
        let n = lk.parallel_extent as i64;
        let ranges = match split {
            Split::Whole => vec![(0, n)],
            Split::ThreeReversed => {
                let (a, b) = (n / 3, 2 * n / 3);
                vec![(b, n), (a, b), (0, a)]
            }
        };
        for (lo, hi) in ranges {
            let code = f(ptrs.as_ptr(), lo, hi);
            if code != 0 {
                return Err((k, code));
            }
        }
    }
    Ok(p.outputs
        .iter()
        .map(|&o| {
            let d = &p.buffers[o.index()];
            let s = d.dtype.size_bytes();
            let bytes = bufs[o.index()].bytes();
            let v: Vec<f64> = (0..d.numel())
                .map(|j| decode(d.dtype, &bytes[j * s..(j + 1) * s]))
                .collect();
            HostTensor::from_f64(d.dtype, d.shape.clone(), &v).unwrap()
        })
        .collect())
}

/// The default tolerance: a few ulp in f32, bit-level in f64.
pub const TIGHT: Tol = Tol {
    f32: (1e-5, 1e-6),
    f64: (1e-12, 1e-300),
};
