//! Compiling a graph's IR into a backend program, and the caches that make compiling rare. The
//! pipeline is the design's: the needed subgraph is copied out of the user's graph in canonical
//! form, optimised (constant folding, simplification, CSE, DCE), lowered to kernel IR (fused, or
//! one kernel per primitive in eager mode), memory-planned and compiled by the device's backend.
//!
//! Compiled programs are cached twice, each cache a bounded LRU map (`cache.rs`; capacity
//! `KILN_CACHE_SIZE` or [`crate::set_cache_capacity`], 64 entries by default):
//! - per graph by output ids ([`CompileState`], which each graph holds; a graph only grows, so
//!   the subgraph behind given ids never changes — this is what makes `TrainStep::run` in a loop
//!   cost nothing but the run itself);
//! - per thread by structure ([`ProgramShape`]: the needed subgraph renumbered canonically, see
//!   `canonical.rs`, with the update bindings; then eager and the device), looked up as built
//!   and again as optimised, so a loop that rebuilds the same expression, a graph rebuilt from
//!   scratch or an equivalent graph compiles once. The key is the canonical text itself, not a
//!   hash of it: distinct programs never share an entry.
//!
//! Scalar constants are baked into the program, not hoisted into run-time arguments: `x * 2.0`
//! and `x * 3.0` are two programs. Baking lets the optimiser fold and simplify through them
//! (`x * 1.0` is `x`) and lets kernels use immediates; hoisting would need the passes and the
//! backends (`ir/`, `codegen/`) to treat a run-time scalar as an input. The cost: a loop whose
//! constant changes every iteration (`x * i as f64`, a learning-rate schedule written as a
//! literal) compiles once per distinct value, bounded in memory by the LRU; keep such a value
//! in a parameter or input (as the optimisers keep `lr`) to compile once.
//!
//! This module sees the IR only, never the user's `Graph` handle: the graph holds a
//! [`CompileState`], so naming the handle here would make the two modules depend on each other.
//! Running a [`Program`] against a graph's parameters and feeds is `executable.rs`'s job.

use crate::cache::{cache_capacity, set_thread_capacity, CacheStats, Lru, DEFAULT_CACHE_CAPACITY};
use crate::canonical::{extract_canonical, ProgramShape};
use crate::{Error, Result};
use kiln_codegen::cpu::CpuBackend;
use kiln_codegen::Backend;
use kiln_ir::kernel::LowerOptions;
use kiln_ir::NodeId;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Where a graph is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Device {
    /// The reference interpreter (f64 arithmetic, rounded per node): slow, and the oracle that
    /// the compiled backends are tested against.
    Interpreter,
    /// Native code for this machine's CPU, compiled by Cranelift (the default).
    #[default]
    Cpu,
}

/// How to compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// The device that runs the program.
    pub device: Device,
    /// Fusion off: one kernel per primitive and one buffer per value, run op by op — PyTorch
    /// eager's execution model, the baseline the benchmarks compare against.
    pub eager: bool,
}

/// A compiled backend program, shared by every [`Program`] that has the same structure and by
/// every [`crate::DetachedExecutable`] made from them: backend executables are `Send + Sync` and
/// run with `&self`, so sharing one needs no lock, and detaching never recompiles.
pub(crate) type Compiled = Arc<dyn kiln_codegen::Executable>;

thread_local! {
    /// Structural cache: (canonical structure — as built and as optimised — with its update
    /// bindings, eager, device) -> compiled program.
    static CACHE: RefCell<Lru<StructuralKey, Compiled>> =
        RefCell::new(Lru::new(DEFAULT_CACHE_CAPACITY));
}

/// The structural cache's key: the program's canonical shape (which holds everything of the
/// graph that the code depends on, see `canonical.rs`), eager, device.
type StructuralKey = (ProgramShape, bool, Device);

/// A training step's parameter updates: (parameter name, node computing its next value).
pub(crate) type Updates = [(String, NodeId)];

thread_local! {
    /// Programs compiled by a backend on this thread (cache misses), for [`compiled_programs`].
    static COMPILED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many programs a backend has compiled on this thread so far: compiling or evaluating a
/// graph that is structurally the same as an earlier one (rebuilt from scratch included) does
/// not add to it.
pub fn compiled_programs() -> usize {
    COMPILED.with(|c| c.get())
}

/// Forgets every compiled program of this thread's structural cache (for cold-compile
/// measurements); executables already handed out keep working.
pub fn clear_compile_cache() {
    CACHE.with(|c| c.borrow_mut().clear());
}

/// Sets how many entries each compile cache of this thread keeps: the thread's structural
/// cache (shrunk at once, evicting the least recently used) and the per-graph cache of every
/// graph used on this thread (applied at its next insertion). The default is
/// `KILN_CACHE_SIZE`, else [`DEFAULT_CACHE_CAPACITY`] (64). Evicting a program never breaks an
/// [`crate::Executable`] or `TrainStep` that holds it.
///
/// # Errors
/// A capacity of 0 (a cache that keeps nothing would recompile at every evaluation).
pub fn set_cache_capacity(entries: usize) -> Result<()> {
    set_thread_capacity(entries)?;
    CACHE.with(|c| c.borrow_mut().set_capacity(entries));
    Ok(())
}

/// The sizes and counters of this thread's structural cache: the programs shared by every
/// graph built on this thread, keyed by canonical structure. An entry is one key — a needed
/// subgraph as built, or as optimised — so one program may fill two entries; a miss is a
/// lookup that found nothing (a compile misses twice: as built, then as optimised).
pub fn cache_stats() -> CacheStats {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        // The capacity in effect, even before this thread's first compile applied it.
        if let Ok(capacity) = cache_capacity() {
            c.set_capacity(capacity);
        }
        c.stats()
    })
}

/// Some outputs of a graph and some parameter updates, compiled for one device: what an
/// [`crate::Executable`] runs. It holds node ids, not the graph, so a graph can cache its own
/// programs without owning a handle to itself.
pub(crate) struct Program {
    outputs: Vec<NodeId>,
    /// The parameters each run updates, with the nodes of their new values.
    updates: Vec<(String, NodeId)>,
    /// `None` on the interpreter, which evaluates the graph itself at each run.
    backend: Option<Compiled>,
}

impl Program {
    /// Compiles `outputs` of `ir`, and the new values of the parameters in `updates`, for
    /// `options.device`.
    pub(crate) fn compile(
        ir: &kiln_ir::Graph,
        outputs: &[NodeId],
        updates: &Updates,
        options: &CompileOptions,
    ) -> Result<Program> {
        let backend = match options.device {
            Device::Interpreter => None,
            Device::Cpu => Some(compile_cpu(ir, outputs, updates, options.eager)?),
        };
        Ok(Program {
            outputs: outputs.to_vec(),
            updates: updates.to_vec(),
            backend,
        })
    }

    /// The nodes a run returns, in order.
    pub(crate) fn outputs(&self) -> &[NodeId] {
        &self.outputs
    }

    /// The parameters a run updates, with the nodes of their new values.
    pub(crate) fn updates(&self) -> &Updates {
        &self.updates
    }

    /// The backend program, or `None` when the interpreter runs the graph.
    pub(crate) fn backend(&self) -> Option<&Compiled> {
        self.backend.as_ref()
    }
}

/// Backend errors that are really IR errors (feeds, run-time index checks) keep their IR form.
pub(crate) fn from_codegen(e: kiln_codegen::CodegenError) -> Error {
    match e {
        kiln_codegen::CodegenError::Ir(ir) => Error::Ir(ir),
        other => Error::Codegen(other),
    }
}

fn compile_cpu(
    ir: &kiln_ir::Graph,
    ids: &[NodeId],
    updates: &Updates,
    eager: bool,
) -> Result<Compiled> {
    let capacity = cache_capacity()?;
    CACHE.with(|c| c.borrow_mut().set_capacity(capacity));
    let mut all = ids.to_vec();
    all.extend(updates.iter().map(|(_, v)| *v));
    let names = || updates.iter().map(|(name, _)| name.clone());
    let lookup = |key: &StructuralKey| CACHE.with(|c| c.borrow_mut().get(key));
    let remember = |key: StructuralKey, program: &Compiled| {
        CACHE.with(|c| c.borrow_mut().insert(key, program.clone()))
    };
    // Looked up twice: by the needed subgraph as built (a rebuilt graph hits without running
    // the optimiser), then by the optimised graph (equivalent graphs share a program).
    let built = extract_canonical(ir, &all)?;
    let built_key = (ProgramShape::new(&built, names()), eager, Device::Cpu);
    if let Some(hit) = lookup(&built_key) {
        return Ok(hit);
    }
    let mut optimized = built;
    kiln_ir::passes::optimize(&mut optimized)?;
    // The optimiser keeps the output list in step with the nodes it rewrites; renumbering
    // again makes the key independent of the ids it freed.
    let ir = extract_canonical(&optimized, optimized.outputs())?;
    let key = (ProgramShape::new(&ir, names()), eager, Device::Cpu);
    if let Some(hit) = lookup(&key) {
        remember(built_key, &hit);
        return Ok(hit);
    }
    let lower = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    let (outs, values) = ir.outputs().split_at(ids.len());
    let bindings: Vec<(String, NodeId)> = updates
        .iter()
        .zip(values)
        .map(|((name, _), &v)| (name.clone(), v))
        .collect();
    let program = kiln_ir::kernel::lower_step(&ir, outs, &bindings, &lower)?;
    let exe = CpuBackend::default()
        .compile(&program)
        .map_err(from_codegen)?;
    COMPILED.with(|c| c.set(c.get() + 1));
    let compiled: Compiled = Arc::from(exe);
    remember(key, &compiled);
    remember(built_key, &compiled);
    Ok(compiled)
}

/// What identifies a compiled program of a graph (and so the executables made from it): output
/// ids, parameter updates (name, new value node), eager, device.
type ProgramKey = (Vec<NodeId>, Vec<(String, NodeId)>, bool, Device);

/// What compiling keeps per graph: the eager switch and the graph's programs. The graph holds
/// one (`GraphState`), and the device beside it, because the device is also what the user
/// evaluates on, not only what the compiler targets.
#[derive(Default)]
pub(crate) struct CompileState {
    /// Fusion off (eager mode) for compiled devices.
    eager: bool,
    /// Compiled programs by (output ids, parameter updates, eager, device), least recently used
    /// evicted first.
    programs: Lru<ProgramKey, Rc<Program>>,
}

impl CompileState {
    /// True when evaluations compile one kernel per primitive (see [`CompileOptions::eager`]).
    pub(crate) fn eager(&self) -> bool {
        self.eager
    }

    pub(crate) fn set_eager(&mut self, eager: bool) {
        self.eager = eager;
    }

    /// The program compiled earlier for these outputs, updates and options, if any (counted
    /// as a hit or a miss in [`CompileState::stats`]).
    pub(crate) fn cached(
        &mut self,
        outputs: &[NodeId],
        updates: &Updates,
        options: &CompileOptions,
    ) -> Option<Rc<Program>> {
        self.programs.get(&program_key(outputs, updates, options))
    }

    /// Keeps `program` for later evaluations of the same outputs, updates and options,
    /// evicting the least recently used program when the cache is full.
    ///
    /// # Errors
    /// When `KILN_CACHE_SIZE` is malformed (see [`crate::cache_capacity`]).
    pub(crate) fn remember(
        &mut self,
        outputs: &[NodeId],
        updates: &Updates,
        options: &CompileOptions,
        program: Rc<Program>,
    ) -> Result<()> {
        self.programs.set_capacity(cache_capacity()?);
        self.programs
            .insert(program_key(outputs, updates, options), program);
        Ok(())
    }

    /// Forgets the programs of nodes not in `live` (they are being removed, and their ids may
    /// be given to new nodes, which must not find these programs).
    pub(crate) fn retain_live(&mut self, live: &std::collections::HashSet<NodeId>) {
        self.programs.retain(|(outputs, updates, _, _)| {
            outputs.iter().all(|o| live.contains(o))
                && updates.iter().all(|(_, u)| live.contains(u))
        });
    }

    /// The sizes and counters of this graph's program cache, after applying the capacity in
    /// effect (so `entries <= capacity` holds in what it reports).
    pub(crate) fn stats(&mut self) -> CacheStats {
        if let Ok(capacity) = cache_capacity() {
            self.programs.set_capacity(capacity);
        }
        self.programs.stats()
    }
}

fn program_key(outputs: &[NodeId], updates: &Updates, options: &CompileOptions) -> ProgramKey {
    (
        outputs.to_vec(),
        updates.to_vec(),
        options.eager,
        options.device,
    )
}
