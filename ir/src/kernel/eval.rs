//! A straightforward host evaluator of the kernel IR: the oracle that proves a lowering right
//! independently of any code generator, and a second oracle for the backends.
//!
//! Guarantees:
//! - arithmetic is done in `f64` and every instruction's result is rounded to its dtype with
//!   [`DType::round`], as the graph interpreter rounds every node, so an elementwise kernel gives
//!   the interpreter's bits; sums (reduce, gemm, scatter-add) accumulate in `f64` in the
//!   interpreter's order and round once;
//! - memory is real bytes: temporaries live in one arena at the offsets of the program's
//!   [`MemoryPlan`](super::MemoryPlan), stored in their dtype's encoding, so a plan that let two
//!   live temporaries overlap would corrupt results;
//! - a load outside its buffer (a lowering bug) and an out-of-range gather/scatter index are
//!   errors, never panics; the latter is [`IrError::Runtime`] with the interpreter's message.
//!
//! The scalar semantics below repeat `interp.rs`'s (kept private there); both follow
//! `torch.maximum` for NaN in `max`/`min`.

use super::{Body, BufferId, BufferKind, InstKind, KernelKind, Program, View};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::op::{Distribution, ReduceOp};
use crate::philox::{philox_normal, philox_uniform};
use crate::tensor::HostTensor;
use std::collections::HashMap;

/// Runs `program` with `feeds` (inputs and parameters by name) and returns its outputs in order.
///
/// Errors: [`IrError::MissingFeed`] / [`IrError::FeedMismatch`] as the interpreter reports them,
/// [`IrError::Runtime`] for an out-of-range gather or scatter index, and
/// [`IrError::Unsupported`] for a malformed program (e.g. a load outside its buffer).
pub fn evaluate_program(
    program: &Program,
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>> {
    Ok(evaluate_step(program, feeds)?.0)
}

/// Like [`evaluate_program`], and also returns the new value of every parameter the program
/// updates ([`Program::updates`], in that order).
pub fn evaluate_step(
    program: &Program,
    feeds: &HashMap<String, HostTensor>,
) -> Result<(Vec<HostTensor>, Vec<HostTensor>)> {
    let mut mem = Memory::new(program, feeds)?;
    for kernel in &program.kernels {
        run_kernel(program, &mut mem, &kernel.kind)?;
    }
    let read = |b: BufferId| {
        let d = program.buffer(b);
        let values: Vec<f64> = (0..d.numel()).map(|i| mem.get(b, i)).collect();
        HostTensor::from_f64(d.dtype, d.shape.clone(), &values)
    };
    let outputs = program
        .outputs
        .iter()
        .map(|&b| read(b))
        .collect::<Result<_>>()?;
    let updated = program
        .updates
        .iter()
        .map(|(_, b)| read(*b))
        .collect::<Result<_>>()?;
    Ok((outputs, updated))
}

/// Byte storage of every buffer: store 0 is the arena of temporaries.
struct Memory {
    stores: Vec<Vec<u8>>,
    /// Per buffer: (store, byte offset, dtype, numel).
    loc: Vec<(usize, usize, DType, usize)>,
}

fn encode(dtype: DType, v: f64, out: &mut [u8]) {
    match dtype {
        DType::Bool => out[0] = u8::from(v != 0.0),
        DType::I32 => out.copy_from_slice(&(v as i32).to_le_bytes()),
        DType::I64 => out.copy_from_slice(&(v as i64).to_le_bytes()),
        DType::F32 => out.copy_from_slice(&(v as f32).to_le_bytes()),
        DType::F64 => out.copy_from_slice(&v.to_le_bytes()),
    }
}

fn decode(dtype: DType, b: &[u8]) -> f64 {
    let mut a4 = [0u8; 4];
    let mut a8 = [0u8; 8];
    match dtype {
        DType::Bool => f64::from(u8::from(b[0] != 0)),
        DType::I32 => {
            a4.copy_from_slice(b);
            f64::from(i32::from_le_bytes(a4))
        }
        DType::I64 => {
            a8.copy_from_slice(b);
            i64::from_le_bytes(a8) as f64
        }
        DType::F32 => {
            a4.copy_from_slice(b);
            f64::from(f32::from_le_bytes(a4))
        }
        DType::F64 => {
            a8.copy_from_slice(b);
            f64::from_le_bytes(a8)
        }
    }
}

impl Memory {
    fn new(program: &Program, feeds: &HashMap<String, HostTensor>) -> Result<Memory> {
        let mut stores = vec![vec![0u8; program.plan.peak_bytes]];
        let mut loc = Vec::with_capacity(program.buffers.len());
        for (i, d) in program.buffers.iter().enumerate() {
            let size = d.dtype.size_bytes();
            let fill = |t: &HostTensor| -> Vec<u8> {
                let mut bytes = vec![0u8; d.bytes()];
                for j in 0..t.numel() {
                    encode(d.dtype, t.get_f64(j), &mut bytes[j * size..(j + 1) * size]);
                }
                bytes
            };
            let storage = match &d.kind {
                BufferKind::Temp => {
                    let off = program
                        .plan
                        .offsets
                        .get(i)
                        .copied()
                        .flatten()
                        .ok_or_else(|| {
                            IrError::Unsupported(format!("kernel eval: b{i} has no arena offset"))
                        })?;
                    if off + d.bytes() > program.plan.peak_bytes {
                        return Err(IrError::Unsupported(format!(
                            "kernel eval: b{i} ends past the arena"
                        )));
                    }
                    loc.push((0, off, d.dtype, d.numel()));
                    continue;
                }
                BufferKind::Input(name) | BufferKind::Param(name) => {
                    let t = feeds.get(name).ok_or_else(|| IrError::MissingFeed {
                        name: name.clone(),
                        node: d.node,
                    })?;
                    if t.dtype() != d.dtype || *t.shape() != d.shape {
                        return Err(IrError::FeedMismatch {
                            name: name.clone(),
                            expected_dtype: d.dtype,
                            expected_shape: d.shape.clone(),
                            got_dtype: t.dtype(),
                            got_shape: t.shape().clone(),
                        });
                    }
                    fill(t)
                }
                BufferKind::Const(t) => fill(t),
                BufferKind::Output(_) => vec![0u8; d.bytes()],
            };
            stores.push(storage);
            loc.push((stores.len() - 1, 0, d.dtype, d.numel()));
        }
        Ok(Memory { stores, loc })
    }

    fn get(&self, b: BufferId, i: usize) -> f64 {
        let (s, off, dtype, _) = self.loc[b.index()];
        let size = dtype.size_bytes();
        decode(dtype, &self.stores[s][off + i * size..off + (i + 1) * size])
    }

    fn set(&mut self, b: BufferId, i: usize, v: f64) {
        let (s, off, dtype, _) = self.loc[b.index()];
        let size = dtype.size_bytes();
        encode(
            dtype,
            dtype.round(v),
            &mut self.stores[s][off + i * size..off + (i + 1) * size],
        );
    }

    /// Element `offset` of `b`, checked against the buffer's size.
    fn read(&self, b: BufferId, offset: isize) -> Result<f64> {
        let numel = self.loc.get(b.index()).map_or(0, |l| l.3);
        if offset < 0 || offset as usize >= numel {
            return Err(IrError::Unsupported(format!(
                "kernel eval: load of element {offset} of b{} ({numel} elements)",
                b.0
            )));
        }
        Ok(self.get(b, offset as usize))
    }
}

/// Every multi-index of `dims` in row-major order, passed to `f`.
fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize]) -> Result<()>) -> Result<()> {
    if dims.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; dims.len()];
    loop {
        f(&idx)?;
        // Odometer increment; done when every axis wrapped.
        let mut axis = dims.len();
        loop {
            if axis == 0 {
                return Ok(());
            }
            axis -= 1;
            idx[axis] += 1;
            if idx[axis] < dims[axis] {
                break;
            }
            idx[axis] = 0;
        }
    }
}

// The scalar semantics of every op are the graph interpreter's: one definition for both
// oracles.
use crate::interp::{binary_scalar as binary, nan_max, truth, unary_scalar as unary};

/// The body's value at `idx`; `acc` is the value of [`InstKind::Acc`].
fn run_body(
    mem: &Memory,
    body: &Body,
    idx: &[usize],
    acc: f64,
    vals: &mut Vec<f64>,
) -> Result<f64> {
    vals.clear();
    for inst in &body.insts {
        let get = |v: super::Val| vals[v.0 as usize];
        let v = match &inst.kind {
            InstKind::Load { view, mask } => {
                if mask.is_some_and(|m| get(m) == 0.0) {
                    0.0
                } else {
                    mem.read(view.buffer, view.at(idx))?
                }
            }
            InstKind::Const(c) => *c,
            InstKind::Index(axis) => idx.get(*axis).copied().unwrap_or(0) as f64,
            InstKind::InRange { index, lo, hi } => {
                let i = index.at(idx);
                truth(*lo <= i && i < *hi)
            }
            InstKind::Unary(u, x) => unary(*u, get(*x)),
            InstKind::Binary(b, x, y) => binary(*b, get(*x), get(*y)),
            InstKind::Select(c, x, y) => {
                if get(*c) != 0.0 {
                    get(*x)
                } else {
                    get(*y)
                }
            }
            InstKind::Cast(x) => get(*x),
            InstKind::Random { dist, seed, index } => {
                let i = index.at(idx);
                if i < 0 {
                    // Only reachable under a false mask, where the value is never used.
                    0.0
                } else {
                    let f = match dist {
                        Distribution::Uniform => philox_uniform,
                        Distribution::Normal => philox_normal,
                    };
                    f64::from(f(*seed, i as u64))
                }
            }
            InstKind::Acc => acc,
        };
        vals.push(inst.dtype.round(v));
    }
    vals.get(body.result.0 as usize)
        .copied()
        .ok_or_else(|| IrError::Unsupported("kernel eval: body result out of range".into()))
}

/// Row-major linear index of `idx` in `dims`.
fn linear(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn read_view(mem: &Memory, v: &View, idx: &[usize]) -> Result<f64> {
    mem.read(v.buffer, v.at(idx))
}

/// The checked index value at `at` (the interpreter's error message).
fn checked_index(
    node: crate::graph::NodeId,
    op: &'static str,
    v: f64,
    at: &[usize],
    axis: usize,
    size: usize,
) -> Result<usize> {
    if v < 0.0 || v >= size as f64 {
        return Err(IrError::Runtime {
            op,
            node,
            msg: format!(
                "index {} is out of bounds for axis {axis} with size {size} (at index position {at:?})",
                v as i64
            ),
        });
    }
    Ok(v as usize)
}

fn run_kernel(program: &Program, mem: &mut Memory, kind: &KernelKind) -> Result<()> {
    let mut vals = Vec::new();
    match kind {
        KernelKind::Elementwise { shape, body, out } => {
            let mut results = Vec::with_capacity(shape.numel());
            for_each_index(shape.dims(), |idx| {
                results.push(run_body(mem, body, idx, 0.0, &mut vals)?);
                Ok(())
            })?;
            for (i, v) in results.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
        KernelKind::Reduce {
            shape,
            axes,
            op,
            init,
            body,
            epilogue,
            out,
        } => {
            let out_shape = &program.buffer(*out).shape;
            let mut red_dims = shape.dims().to_vec();
            for &a in axes {
                red_dims[a] = 1;
            }
            let mut acc = vec![*init; red_dims.iter().product()];
            for_each_index(shape.dims(), |idx| {
                let v = run_body(mem, body, idx, 0.0, &mut vals)?;
                let j: Vec<usize> = idx
                    .iter()
                    .enumerate()
                    .map(|(d, &i)| if axes.contains(&d) { 0 } else { i })
                    .collect();
                let o = linear(&j, &red_dims);
                acc[o] = match op {
                    ReduceOp::Sum => acc[o] + v,
                    ReduceOp::Max => nan_max(acc[o], v),
                };
                Ok(())
            })?;
            let mut results = Vec::with_capacity(acc.len());
            for_each_index(out_shape.dims(), |idx| {
                let a = acc[linear(idx, &red_dims)];
                results.push(run_body(mem, epilogue, idx, a, &mut vals)?);
                Ok(())
            })?;
            for (i, v) in results.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
        KernelKind::ArgMax {
            shape,
            axis,
            body,
            out,
        } => {
            let mut out_dims = shape.dims().to_vec();
            out_dims[*axis] = 1;
            let len = shape.dim(*axis);
            let mut results = Vec::new();
            for_each_index(&out_dims, |j| {
                let mut idx = j.to_vec();
                let mut best = 0;
                let mut best_v = f64::NAN;
                for k in 0..len {
                    idx[*axis] = k;
                    let v = run_body(mem, body, &idx, 0.0, &mut vals)?;
                    if k == 0 || (!best_v.is_nan() && (v.is_nan() || v > best_v)) {
                        best = k;
                        best_v = v;
                    }
                }
                results.push(best as f64);
                Ok(())
            })?;
            for (i, v) in results.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
        KernelKind::Gemm {
            batch,
            m,
            n,
            k,
            a,
            b,
            epilogue,
            out,
            dtype,
        } => {
            let mut dims: Vec<usize> = batch.to_vec();
            dims.extend([*m, *n]);
            let r = dims.len();
            let mut results = Vec::new();
            for_each_index(&dims, |idx| {
                let (mut ia, mut ib) = (idx.to_vec(), idx.to_vec());
                let mut acc = 0.0;
                for p in 0..*k {
                    ia[r - 1] = p;
                    ib[r - 2] = p;
                    acc += read_view(mem, a, &ia)? * read_view(mem, b, &ib)?;
                }
                let acc = dtype.round(acc);
                results.push(match epilogue {
                    Some(e) => run_body(mem, e, idx, acc, &mut vals)?,
                    None => acc,
                });
                Ok(())
            })?;
            for (i, v) in results.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
        KernelKind::Gather {
            shape,
            axis,
            index,
            src,
            src_dims,
            out,
            node,
        } => {
            let mut results = Vec::new();
            for_each_index(shape.dims(), |idx| {
                let iv = run_body(mem, index, idx, 0.0, &mut vals)?;
                let size = src_dims[*axis];
                let i = checked_index(*node, "gather", iv, idx, *axis, size)?;
                let mut at = idx.to_vec();
                at[*axis] = i;
                results.push(read_view(mem, src, &at)?);
                Ok(())
            })?;
            for (i, v) in results.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
        KernelKind::ScatterAdd {
            out_shape,
            base,
            shape,
            axis,
            index,
            src,
            out,
            node,
        } => {
            let mut acc = Vec::with_capacity(out_shape.numel());
            for_each_index(out_shape.dims(), |idx| {
                acc.push(run_body(mem, base, idx, 0.0, &mut vals)?);
                Ok(())
            })?;
            let size = out_shape.dim(*axis);
            for_each_index(shape.dims(), |idx| {
                let iv = run_body(mem, index, idx, 0.0, &mut vals)?;
                let i = checked_index(*node, "scatter_add", iv, idx, *axis, size)?;
                let v = run_body(mem, src, idx, 0.0, &mut vals)?;
                let mut at = idx.to_vec();
                at[*axis] = i;
                acc[linear(&at, out_shape.dims())] += v;
                Ok(())
            })?;
            for (i, v) in acc.into_iter().enumerate() {
                mem.set(*out, i, v);
            }
        }
    }
    Ok(())
}
