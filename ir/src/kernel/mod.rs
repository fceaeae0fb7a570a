//! The kernel IR: what the backends (Cranelift on the CPU, CUDA C through NVRTC) generate code
//! from. A [`Program`] is a list of explicit buffers and a list of kernels run in order; it holds
//! no graph pointers, so a backend needs nothing but this module's types.
//!
//! Model:
//! - every kernel loops over a rectangular index space (a [`Shape`], row-major) and computes one
//!   scalar per point with a [`Body`], a small SSA list of [`Inst`]s whose operands are earlier
//!   values ([`Val`]); each instruction has a dtype, and its value is rounded to that dtype (the
//!   graph interpreter's rule), so a backend computes each instruction natively in its dtype;
//! - memory is only touched by [`InstKind::Load`] through a [`View`] (an affine map from the loop
//!   multi-index to an element offset: stride 0 broadcasts, permutes and strided slices are just
//!   strides) and by each kernel's single output buffer, written contiguously (row-major over the
//!   kernel's output shape), except `Gather`/`ScatterAdd` whose data-dependent index is checked;
//! - `pad` and `concat` become masks: [`InstKind::InRange`] tests an affine coordinate, and a
//!   masked load reads nothing where its mask is false (it yields 0, which an
//!   [`InstKind::Select`] then replaces), so no load ever reads out of bounds. Invariant:
//!   wherever a load's mask is true (or it has no mask), its offset lies in `0..numel` of its
//!   buffer;
//! - a kernel's output buffer is never one of the buffers it reads (the memory plan keeps the
//!   live ranges of a kernel's operands and output apart), so no kernel has to be safe in place
//!   — with one exception: a training step's elementwise kernel that writes a parameter's new
//!   value in place reads that parameter only at the element it writes ([`update`]);
//! - a precision note for backends: sums (reduce, gemm, scatter-add) are defined as accumulated
//!   in f64 and rounded once; a backend may accumulate in the output dtype (tests compare with a
//!   tolerance), but integer sums should saturate only at the end to match exactly.
//!
//! Lowering from the graph is in [`fuse`] (`lower`), memory planning in [`plan`], the text form
//! in `display.rs` and a host evaluator, the kernel-level oracle, in [`eval`].

mod display;
mod emit;
pub mod eval;
pub mod fuse;
pub mod plan;
pub mod update;
mod verify;

pub use eval::{evaluate_program, evaluate_step};
pub use fuse::{lower, LowerOptions};
pub use plan::{plan_memory, MemoryPlan};
pub use update::lower_step;

use crate::dtype::DType;
use crate::graph::NodeId;
use crate::op::{BinaryOp, Distribution, ReduceOp, UnaryOp};
use crate::shape::Shape;
use crate::tensor::HostTensor;
use smallvec::SmallVec;

/// Per-loop-axis coefficients (one per axis of the kernel's index space).
pub type Strides = SmallVec<[isize; 8]>;

/// A buffer's index in [`Program::buffers`]; prints as `bN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

impl BufferId {
    /// The index into [`Program::buffers`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a buffer's storage comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufferKind {
    /// Fed at run time under this name.
    Input(String),
    /// A parameter of the executable's store (updated in place by training steps).
    Param(String),
    /// A literal baked into the program.
    Const(HostTensor),
    /// An intermediate value; lives in the arena at the offset [`MemoryPlan`] gives it.
    Temp,
    /// Returned to the caller as output number `index` (the first position it is listed at; a
    /// node listed twice has one buffer, see [`Program::outputs`]).
    Output(usize),
}

/// A buffer: contiguous, row-major elements of one dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferDecl {
    /// Element type.
    pub dtype: DType,
    /// Logical shape (what a feed or an output must have); storage is `shape.numel()` elements.
    pub shape: Shape,
    /// Storage class.
    pub kind: BufferKind,
    /// The graph node whose value the buffer holds.
    pub node: NodeId,
}

impl BufferDecl {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        // Cannot overflow: `Shape` guarantees numel * 8 fits in an isize.
        self.numel() * self.dtype.size_bytes()
    }
}

/// An affine function of the loop multi-index `i`: `offset + sum_k coefs[k] * i[k]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Affine {
    /// The value at `i = 0`.
    pub offset: isize,
    /// One coefficient per loop axis.
    pub coefs: Strides,
}

impl Affine {
    /// The constant `c` over a loop of rank `rank`.
    pub fn constant(c: isize, rank: usize) -> Affine {
        Affine {
            offset: c,
            coefs: SmallVec::from_elem(0, rank),
        }
    }

    /// The loop coordinate `i[axis]` over a loop of rank `rank`.
    pub fn axis(axis: usize, rank: usize) -> Affine {
        let mut a = Affine::constant(0, rank);
        a.coefs[axis] = 1;
        a
    }

    /// Evaluates at the multi-index `idx` (wrapping, so garbage coordinates under a false mask
    /// cannot panic).
    pub fn at(&self, idx: &[usize]) -> isize {
        self.coefs
            .iter()
            .zip(idx)
            .fold(self.offset, |acc, (&c, &i)| {
                acc.wrapping_add(c.wrapping_mul(i as isize))
            })
    }
}

/// A strided window of a buffer: element `offset + sum_k strides[k] * i[k]` for loop index `i`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct View {
    /// The buffer read.
    pub buffer: BufferId,
    /// Element offset at `i = 0` (may be negative only for masked loads, see the module docs).
    pub offset: isize,
    /// One stride per loop axis; 0 broadcasts.
    pub strides: Strides,
}

impl View {
    /// The element offset at multi-index `idx` (wrapping, like [`Affine::at`]).
    pub fn at(&self, idx: &[usize]) -> isize {
        self.strides
            .iter()
            .zip(idx)
            .fold(self.offset, |acc, (&c, &i)| {
                acc.wrapping_add(c.wrapping_mul(i as isize))
            })
    }
}

/// An SSA value: the index of an instruction in its [`Body`]; prints as `vN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Val(pub u32);

/// One scalar instruction. Operands always refer to earlier instructions of the same body.
#[derive(Clone, Debug, PartialEq)]
pub enum InstKind {
    /// Reads `view` at the current loop index; when `mask` is given and false, reads nothing and
    /// yields 0.
    Load {
        /// Where to read.
        view: View,
        /// A bool value guarding the read.
        mask: Option<Val>,
    },
    /// A literal (already rounded to the instruction's dtype).
    Const(f64),
    /// The loop coordinate along `axis` (an iota), as i64.
    Index(usize),
    /// `lo <= index < hi` (bool) for an affine `index` of the loop coordinates: the bounds test
    /// of `pad` and `concat`.
    InRange {
        /// The coordinate tested.
        index: Affine,
        /// Inclusive lower bound.
        lo: isize,
        /// Exclusive upper bound.
        hi: isize,
    },
    /// Elementwise unary math.
    Unary(UnaryOp, Val),
    /// Elementwise binary math or comparison (operands share a dtype).
    Binary(BinaryOp, Val, Val),
    /// `cond ? a : b`.
    Select(Val, Val, Val),
    /// Converts the operand to the instruction's dtype ([`DType::round`]).
    Cast(Val),
    /// Philox element `index` of the stream `seed` (see [`crate::philox`]), an f32 value.
    Random {
        /// Uniform or normal.
        dist: Distribution,
        /// The stream's seed.
        seed: u64,
        /// The element's linear index in the random op's own shape.
        index: Affine,
    },
    /// The kernel's accumulated value (a reduction's result or a gemm's dot product), rounded to
    /// the instruction's dtype; only in epilogues.
    Acc,
}

/// An instruction and its result dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Inst {
    /// The result dtype; every result is rounded to it.
    pub dtype: DType,
    /// What is computed.
    pub kind: InstKind,
}

/// A scalar computation per loop index: instructions in order, and the value it yields.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Body {
    /// SSA instructions.
    pub insts: Vec<Inst>,
    /// The result.
    pub result: Val,
}

impl Body {
    /// The result's dtype (bool for an empty body, which lowering never produces).
    pub fn dtype(&self) -> DType {
        self.insts
            .get(self.result.0 as usize)
            .map_or(DType::Bool, |i| i.dtype)
    }
}

/// What a kernel computes. Every kind writes one output buffer `out`, row-major over its output
/// shape.
#[derive(Clone, Debug, PartialEq)]
pub enum KernelKind {
    /// `out[i] = body(i)` for every `i` in `shape`.
    Elementwise {
        /// Index space = output shape.
        shape: Shape,
        /// The value per point.
        body: Body,
        /// Output buffer.
        out: BufferId,
    },
    /// `acc[j] = op over i with i = j outside axes of body(i)`, then `out[j] = epilogue(acc[j])`.
    /// Sums accumulate in f64 (at least the output dtype on a device) in row-major order.
    Reduce {
        /// The full index space (the prologue's).
        shape: Shape,
        /// Reduced axes (kept with size 1 in the output shape).
        axes: SmallVec<[usize; 4]>,
        /// Sum or max (max propagates NaN).
        op: ReduceOp,
        /// The accumulator's start: 0 for sum; for max -inf, or the dtype's minimum for
        /// integers (so an empty reduction yields it).
        init: f64,
        /// The prologue: the value reduced, over `shape`.
        body: Body,
        /// Over the output shape; [`InstKind::Acc`] is the reduced value.
        epilogue: Body,
        /// Output buffer.
        out: BufferId,
    },
    /// `out[j] = first k maximising body(j with axis = k)` (NaN is the largest), as i64.
    ArgMax {
        /// The full index space.
        shape: Shape,
        /// The searched axis (size >= 1).
        axis: usize,
        /// The value compared, over `shape`.
        body: Body,
        /// Output buffer (i64, `shape` with `axis` set to 1).
        out: BufferId,
    },
    /// `acc[b, i, j] = sum_p a[b, i, p] * b[b, p, j]` (p = 0..k in order), then
    /// `out[b, i, j] = epilogue(acc)` (just `acc` without one).
    Gemm {
        /// Batch dims (possibly none), identical for both operands.
        batch: SmallVec<[usize; 4]>,
        /// Rows of `a` and of the output.
        m: usize,
        /// Columns of `b` and of the output.
        n: usize,
        /// The contracted dimension.
        k: usize,
        /// Strides over `(batch..., m, k)`: a transposed operand is just other strides.
        a: View,
        /// Strides over `(batch..., k, n)`.
        b: View,
        /// Over the output shape `(batch..., m, n)`; [`InstKind::Acc`] is the product.
        epilogue: Option<Body>,
        /// Output buffer.
        out: BufferId,
        /// The dtype of the product before the epilogue.
        dtype: DType,
    },
    /// `out[i] = src[i with axis = index(i)]` over the index shape `shape`. An index outside
    /// `0..src_dims[axis]` stops the kernel with an error (a backend returns an error code naming
    /// `node`); nothing is read out of bounds.
    Gather {
        /// The index space (the index tensor's shape = the output shape).
        shape: Shape,
        /// The indexed axis.
        axis: usize,
        /// The index value per point (integer).
        index: Body,
        /// The source, with one stride per source axis; axis `axis` is applied to the index.
        src: View,
        /// The source's dims (for the bounds check along `axis`).
        src_dims: SmallVec<[usize; 4]>,
        /// Output buffer.
        out: BufferId,
        /// The graph node, named in the run-time error.
        node: NodeId,
    },
    /// Two phases: `out[j] = base(j)` over `out_shape`, then for every `i` of `shape` in
    /// row-major order `out[i with axis = index(i)] += src(i)`. Bounds-checked like `Gather`.
    ScatterAdd {
        /// The output shape (= the base's).
        out_shape: Shape,
        /// The initial value per output point.
        base: Body,
        /// The index space (index and source shape).
        shape: Shape,
        /// The indexed axis.
        axis: usize,
        /// The index value per point (integer).
        index: Body,
        /// The value added per point.
        src: Body,
        /// Output buffer.
        out: BufferId,
        /// The graph node, named in the run-time error.
        node: NodeId,
    },
}

/// A kernel and the graph nodes it computes (for `dump-ir --stage fused` and error messages).
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// What runs.
    pub kind: KernelKind,
    /// The non-leaf graph nodes folded into this kernel, in topological order.
    pub nodes: Vec<NodeId>,
}

impl Kernel {
    /// The kernel's output buffer.
    pub fn out(&self) -> BufferId {
        match &self.kind {
            KernelKind::Elementwise { out, .. }
            | KernelKind::Reduce { out, .. }
            | KernelKind::ArgMax { out, .. }
            | KernelKind::Gemm { out, .. }
            | KernelKind::Gather { out, .. }
            | KernelKind::ScatterAdd { out, .. } => *out,
        }
    }

    /// The kernel's output buffer, to retarget it.
    pub fn out_mut(&mut self) -> &mut BufferId {
        match &mut self.kind {
            KernelKind::Elementwise { out, .. }
            | KernelKind::Reduce { out, .. }
            | KernelKind::ArgMax { out, .. }
            | KernelKind::Gemm { out, .. }
            | KernelKind::Gather { out, .. }
            | KernelKind::ScatterAdd { out, .. } => out,
        }
    }

    /// Calls `f` on every view the kernel reads through (loads and gemm/gather operands).
    pub fn for_each_view(&mut self, f: &mut dyn FnMut(&mut View)) {
        let mut body = |b: &mut Body| {
            for inst in &mut b.insts {
                if let InstKind::Load { view, .. } = &mut inst.kind {
                    f(view);
                }
            }
        };
        match &mut self.kind {
            KernelKind::Elementwise { body: b, .. } | KernelKind::ArgMax { body: b, .. } => body(b),
            KernelKind::Reduce {
                body: b, epilogue, ..
            } => {
                body(b);
                body(epilogue);
            }
            KernelKind::Gemm { a, b, epilogue, .. } => {
                if let Some(e) = epilogue {
                    body(e);
                }
                f(a);
                f(b);
            }
            KernelKind::Gather { index, src, .. } => {
                body(index);
                f(src);
            }
            KernelKind::ScatterAdd {
                base, index, src, ..
            } => {
                body(base);
                body(index);
                body(src);
            }
        }
    }

    /// Every buffer the kernel reads.
    pub fn reads(&self) -> Vec<BufferId> {
        let mut v = Vec::new();
        let mut body = |b: &Body| {
            for inst in &b.insts {
                if let InstKind::Load { view, .. } = &inst.kind {
                    v.push(view.buffer);
                }
            }
        };
        match &self.kind {
            KernelKind::Elementwise { body: b, .. } | KernelKind::ArgMax { body: b, .. } => body(b),
            KernelKind::Reduce {
                body: b, epilogue, ..
            } => {
                body(b);
                body(epilogue);
            }
            KernelKind::Gemm { a, b, epilogue, .. } => {
                if let Some(e) = epilogue {
                    body(e);
                }
                v.push(a.buffer);
                v.push(b.buffer);
            }
            KernelKind::Gather { index, src, .. } => {
                body(index);
                v.push(src.buffer);
            }
            KernelKind::ScatterAdd {
                base, index, src, ..
            } => {
                body(base);
                body(index);
                body(src);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// A short name of the kind (`elementwise`, `reduce.sum`, `gemm`, ...).
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            KernelKind::Elementwise { .. } => "elementwise",
            KernelKind::Reduce { op, .. } => match op {
                ReduceOp::Sum => "reduce.sum",
                ReduceOp::Max => "reduce.max",
            },
            KernelKind::ArgMax { .. } => "argmax",
            KernelKind::Gemm { .. } => "gemm",
            KernelKind::Gather { .. } => "gather",
            KernelKind::ScatterAdd { .. } => "scatter_add",
        }
    }
}

/// A lowered graph: buffers, kernels in execution order, the feed and output bindings and the
/// memory plan of the temporaries.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Every buffer, indexed by [`BufferId`].
    pub buffers: Vec<BufferDecl>,
    /// Kernels, run in this order.
    pub kernels: Vec<Kernel>,
    /// Input feeds by name (only the inputs the outputs depend on).
    pub inputs: Vec<(String, BufferId)>,
    /// Parameters by name (only those the outputs depend on).
    pub params: Vec<(String, BufferId)>,
    /// One buffer per requested output position; a node requested twice has the same buffer at
    /// both positions.
    pub outputs: Vec<BufferId>,
    /// Parameters the program writes (a training step, see [`update`]): after a successful
    /// run, the `Param` buffer holds the parameter's new value. Empty for plain programs.
    pub updates: Vec<(String, BufferId)>,
    /// Arena offsets of the temporaries.
    pub plan: MemoryPlan,
    /// Node count of the graph lowered (for the summary line).
    pub graph_nodes: usize,
}

impl Program {
    /// The declaration of `id` (which must belong to this program).
    pub fn buffer(&self, id: BufferId) -> &BufferDecl {
        &self.buffers[id.index()]
    }

    /// The summary line printed after every kernel-level text form.
    pub fn summary(&self) -> String {
        format!(
            "nodes: {}, kernels: {}, buffers: {}, peak_bytes: {}",
            self.graph_nodes,
            self.kernels.len(),
            self.buffers.len(),
            self.plan.peak_bytes
        )
    }
}
