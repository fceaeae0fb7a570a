//! The CPU [`Backend`]: kernel IR to a [`CpuExecutable`], with every loop kernel and GEMM
//! epilogue compiled by Cranelift ([`crate::cpu::loops`]) and GEMMs run by
//! [`crate::cpu::gemm`].
//!
//! Guarantees: those of [`crate::cpu::exec`] (thread-count independent results, every bad feed
//! and out-of-range index an `Err`) and of the loop compiler (its stated differences from the
//! kernel evaluator).

use kiln_ir::kernel::Program;

use crate::backend::{Backend, Executable};
use crate::cpu::exec::{CompiledLoop, CpuExecutable, LoopCompiler};
use crate::cpu::jit::Jit;
use crate::cpu::loops::{compile_gemm_epilogue, compile_loop_kernel, LoopKernel};
use crate::error::Result;

/// Compiles programs for the host CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuBackend {
    /// Threads that large loop kernels and GEMM epilogues are split across (at least 1). The
    /// GEMM library threads itself (see [`crate::cpu::gemm`]).
    pub threads: usize,
}

impl Default for CpuBackend {
    /// `KILN_THREADS` threads when that variable holds a positive number, else one thread per
    /// available core.
    fn default() -> Self {
        CpuBackend {
            threads: crate::cpu::threads::configured_threads(),
        }
    }
}

impl CpuBackend {
    /// Compiles `program` into the concrete executable type (for callers that want
    /// [`CpuExecutable`]'s own methods).
    pub fn compile_cpu(&self, program: &Program) -> Result<CpuExecutable> {
        // `CpuExecutable::new` verifies the program first: the generated code trusts it (views
        // in bounds, operand dtypes), so the contract is checked once there rather than
        // piecemeal while emitting.
        CpuExecutable::new(program, self.threads, &mut CraneliftLoops)
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn compile(&self, program: &Program) -> Result<Box<dyn Executable>> {
        Ok(Box::new(self.compile_cpu(program)?))
    }
}

/// The Cranelift loop compiler behind [`LoopCompiler`].
struct CraneliftLoops;

fn compiled(k: LoopKernel) -> CompiledLoop {
    CompiledLoop {
        func: k.func,
        parallel_extent: k.parallel_extent,
        work: k.work,
    }
}

impl LoopCompiler for CraneliftLoops {
    fn compile_loop(
        &mut self,
        jit: &mut Jit,
        program: &Program,
        kernel: usize,
        name: &str,
    ) -> Result<CompiledLoop> {
        compile_loop_kernel(jit, program, kernel, name).map(compiled)
    }

    fn compile_epilogue(
        &mut self,
        jit: &mut Jit,
        program: &Program,
        kernel: usize,
        name: &str,
    ) -> Result<Option<CompiledLoop>> {
        Ok(compile_gemm_epilogue(jit, program, kernel, name)?.map(compiled))
    }
}
