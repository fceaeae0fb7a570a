//! Running a [`CpuExecutable`]: bind the caller's tensors, run every step in order (loop
//! kernels split across the pool, GEMMs through [`gemm_rows`] and their epilogue), unbind.
//!
//! Guarantees: the table points only at the executable's own memory between runs, whether a run
//! succeeds or fails; a loop kernel split across threads returns the error code a single call
//! would have returned.

use kiln_ir::{DType, HostTensor, IrError, NodeId};

use super::memory::fresh_output;
use super::memory::Memory;
use super::{Code, CpuExecutable, GemmStep, IndexCheck, LoopCall, Step, PARALLEL_WORK};
use crate::backend::{Executable, Feeds};
use crate::cpu::gemm::{gemm_rows, BatchOperands};
use crate::error::{CodegenError, Result};

impl Executable for CpuExecutable {
    fn run_updating(
        &self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
    ) -> Result<Vec<HostTensor>> {
        let mut outputs = self
            .code
            .outputs
            .iter()
            .map(|o| fresh_output(o.dtype, &o.shape))
            .collect::<Result<Vec<_>>>()?;
        self.run_into(feeds, params, &mut outputs)?;
        Ok(outputs)
    }

    fn run_into(
        &self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
        outputs: &mut [HostTensor],
    ) -> Result<()> {
        let mut memory = self.take_memory();
        let ran = Run {
            code: &self.code,
            mem: &mut memory,
        }
        .run_into(feeds, params, outputs);
        // Whether the run succeeded or not, the table points at the memory's own storage again.
        self.give_back(memory);
        ran
    }
}

/// One run: the executable's shared code working in one memory of its own.
pub(super) struct Run<'a> {
    pub code: &'a Code,
    pub mem: &'a mut Memory,
}

impl Run<'_> {
    fn run_into(
        &mut self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
        outputs: &mut [HostTensor],
    ) -> Result<()> {
        self.check_outputs(outputs)?;
        let bound = self.bind_updates(params);
        let loaded = bound.and_then(|copied| self.load_feeds(feeds).map(|()| copied));
        // Direct outputs are written by the kernels straight into the caller's tensors; the
        // others are copied out of our buffers when the run ends.
        let bound_outputs = if loaded.is_ok() {
            self.bind_outputs(outputs)
        } else {
            vec![false; outputs.len()]
        };
        let ran = loaded.and_then(|copied| self.run_steps().map(|()| copied));
        self.unbind(ran, params, outputs, bound_outputs)
    }
}

/// The buffer table, shareable with the worker threads.
#[derive(Clone, Copy)]
struct Table(*const *mut u8);

// SAFETY: the table is owned by the run's memory, and the memory it points to is either that
// memory's own or, during the run, the caller's feed data (borrowed for the whole run, only
// read) and the run's output vectors (owned by `run` until it returns); all of it outlives every
// scoped thread a run spawns. Concurrent kernel calls write disjoint elements (the loop
// contract), so sharing the pointer is sound.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Run<'_> {
    /// Runs every step in order (the table already bound to this run's feeds and outputs).
    fn run_steps(&self) -> Result<()> {
        for step in &self.code.steps {
            match step {
                Step::Loop {
                    call,
                    check,
                    kind,
                    node,
                } => {
                    let code = self.run_loop(*call);
                    if code != 0 {
                        return Err(kernel_failure(code, check.as_ref(), kind, *node).into());
                    }
                }
                Step::Gemm(g) => self.run_gemm(g)?,
            }
        }
        Ok(())
    }

    /// Runs `call` over `[0, extent)`, split across the pool when worthwhile; returns the first
    /// nonzero code in range order (the one a single call would have returned).
    fn run_loop(&self, call: LoopCall) -> i64 {
        let table = Table(self.mem.table.as_ptr());
        let chunks = if call.work >= PARALLEL_WORK {
            self.code.threads.min(call.extent)
        } else {
            1
        };
        let run = move |t: Table, start: usize, end: usize| -> i64 {
            // SAFETY: `t` is this executable's buffer table (valid while `self` lives, and the
            // pool's scope ends before this function returns); `[start, end)` lies in
            // `0..extent` and the ranges of concurrent calls are disjoint, which the loop
            // contract makes write disjoint outputs.
            unsafe { (call.f)(t.0, start as i64, end as i64) }
        };
        match &self.code.pool {
            Some(pool) if chunks > 1 => {
                let mut codes = vec![0i64; chunks];
                pool.scope(|s| {
                    for (c, slot) in codes.iter_mut().enumerate() {
                        let (start, end) =
                            (call.extent * c / chunks, call.extent * (c + 1) / chunks);
                        s.spawn(move |_| *slot = run(table, start, end));
                    }
                });
                codes.into_iter().find(|&c| c != 0).unwrap_or(0)
            }
            _ => run(table, 0, call.extent),
        }
    }

    /// Runs a GEMM's product on all its rows, then its epilogue over the product.
    fn run_gemm(&self, g: &GemmStep) -> Result<()> {
        let (lib, threads) = (self.code.gemm_library, self.code.threads);
        let (a, b, c) = (
            self.mem.table[g.a.buffer],
            self.mem.table[g.b.buffer],
            self.mem.table[g.product],
        );
        let rows = 0..g.dims.rows();
        // The same call for each element type.
        macro_rules! product {
            ($t:ty) => {{
                let ops = BatchOperands::<$t> {
                    dims: &g.dims,
                    a: a.cast(),
                    a_layout: &g.a.layout,
                    b: b.cast(),
                    b_layout: &g.b.layout,
                    c: c.cast(),
                };
                // SAFETY: `ops` meets the `BatchOperands` contract: the operands' extents were
                // checked against their buffers (of `g.dtype`) at compile time, the product's
                // destination (the output buffer or the scratch array) holds `rows * n`
                // elements of `g.dtype`, and it is a different buffer from both operands (the
                // memory plan keeps a kernel's inputs and output apart; `allocate` gives
                // non-temporaries their own storage).
                unsafe { gemm_rows(lib, threads, &ops, rows) }
            }};
        }
        match g.dtype {
            DType::F32 => product!(f32),
            DType::F64 => product!(f64),
            DType::I32 => product!(i32),
            DType::I64 => product!(i64),
            DType::Bool => {
                return Err(CodegenError::Unsupported {
                    backend: "cpu",
                    what: "matmul of bool".into(),
                })
            }
        }
        if let Some(e) = g.epilogue {
            let code = self.run_loop(e);
            if code != 0 {
                return Err(IrError::Runtime {
                    op: "matmul",
                    node: g.node,
                    msg: format!("epilogue kernel failed with code {code}"),
                }
                .into());
            }
        }
        Ok(())
    }
}

/// The `IrError::Runtime` for a kernel that returned `code` (1 + a flat index position).
fn kernel_failure(
    code: i64,
    check: Option<&IndexCheck>,
    kind: &'static str,
    node: NodeId,
) -> IrError {
    match check {
        Some(c) => {
            let mut flat = (code - 1).max(0) as usize;
            let mut at = vec![0usize; c.shape.rank()];
            for (d, &size) in c.shape.dims().iter().enumerate().rev() {
                at[d] = flat % size.max(1);
                flat /= size.max(1);
            }
            IrError::Runtime {
                op: c.op,
                node: c.node,
                msg: format!(
                    "index out of bounds for axis {} with size {} (at index position {at:?})",
                    c.axis, c.size
                ),
            }
        }
        None => IrError::Runtime {
            op: kind,
            node,
            msg: format!("kernel failed with code {code}"),
        },
    }
}
