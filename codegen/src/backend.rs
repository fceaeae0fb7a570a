//! The contract between kiln and its backends: a [`Backend`] compiles a kernel-IR
//! [`Program`] into an [`Executable`] that runs it on host data.
//!
//! Every backend must produce the results the kernel evaluator
//! (`kiln_ir::kernel::evaluate_program`) and the graph interpreter produce, to a tolerance
//! stated per dtype, and must turn every bad feed and every out-of-range index into an `Err`
//! (never an out-of-bounds access).

use crate::Result;
use kiln_ir::kernel::Program;
use kiln_ir::HostTensor;

/// Looks up the value fed for an `input` or the current value of a `param`, by name.
pub type Feeds<'a> = dyn Fn(&str) -> Option<&'a HostTensor> + 'a;

/// A code generator for one kind of device.
pub trait Backend {
    /// A short name (`cpu`, `cuda`) used in errors and benchmarks.
    fn name(&self) -> &'static str;

    /// Compiles `program` (memory-planned by kiln-ir). Every implementation first runs
    /// [`Program::verify`]: generated code may then assume the kernel-IR contract, and a
    /// program that breaks it is refused with `IrError::Internal` instead of miscompiled.
    fn compile(&self, program: &Program) -> Result<Box<dyn Executable>>;
}

/// A compiled program, ready to run many times.
///
/// `Send + Sync`, and every method takes `&self`: compile once, then run from as many threads
/// as you like at once (the serving case). Concurrent runs share the compiled code; each works
/// in memory of its own.
pub trait Executable: Send + Sync {
    /// Runs the program once. Every `Input` and `Param` buffer is looked up by name in
    /// `feeds` and checked against its declared dtype and shape (`IrError::MissingFeed`,
    /// `IrError::FeedMismatch`); returns one host tensor per program output, in order.
    ///
    /// A program that updates parameters (`Program::updates`) must be run with
    /// [`Executable::run_updating`]; here it is an error.
    fn run(&self, feeds: &Feeds<'_>) -> Result<Vec<HostTensor>> {
        self.run_updating(feeds, &mut [])
    }

    /// Runs a training step: like [`Executable::run`], but the parameters of
    /// `Program::updates` are not looked up in `feeds`: `params[i]` is the current value of
    /// `updates[i]` (checked like a feed), and on success it holds the new value, written in
    /// place. On error every tensor in `params` is left unchanged.
    fn run_updating(
        &self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
    ) -> Result<Vec<HostTensor>>;

    /// Like [`Executable::run_updating`], but writes the outputs into `outputs` (one tensor of
    /// the right dtype and shape per program output, else an error) instead of allocating
    /// them: a loop that keeps its output tensors runs with no allocation. Outputs may hold
    /// partial results after an error.
    fn run_into(
        &self,
        feeds: &Feeds<'_>,
        params: &mut [&mut HostTensor],
        outputs: &mut [HostTensor],
    ) -> Result<()>;
}
