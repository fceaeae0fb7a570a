//! The executor's memory and the caller's tensors: the 64-byte aligned allocations behind the
//! buffer table, the slots through which feeds, updated parameters and outputs reach their
//! buffers, and the copies (or in-place bindings) between the two.
//!
//! Guarantees: a caller's tensor is bound in place (the table points at its data) only when it
//! has the buffer's dtype and shape (checked first), is non-empty and [`VECTOR_ALIGN`]ed, and,
//! for a feed, no kernel writes its buffer; every copy moves exactly the buffer's bytes.

use kiln_ir::kernel::{BufferId, BufferKind, Program};
use kiln_ir::{DType, HostTensor, IrError, NodeId, Shape, TensorData};

use super::run::Run;
use crate::backend::Feeds;
use crate::error::{CodegenError, Result};

/// Kernels read and write f32x4 / f64x2 vectors; caller memory is used in place only at this
/// alignment (the executable's own allocations are 64-byte aligned), otherwise it is copied.
const VECTOR_ALIGN: usize = 16;

/// A cache line: the unit of every allocation, so each one is 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A zeroed, 64-byte aligned allocation of at least one line.
pub(super) struct Storage(Vec<Line>);

impl Storage {
    fn new(bytes: usize) -> Storage {
        Storage(vec![Line([0; 64]); bytes.div_ceil(64).max(1)])
    }

    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr().cast()
    }
}

/// Where each buffer of a run's memory lives, fixed at compile time.
enum Place {
    /// At this offset of the arena (a temporary).
    Arena(usize),
    /// In an allocation of its own of this many bytes, holding `constant` when given.
    Own {
        bytes: usize,
        constant: Option<HostTensor>,
    },
}

/// What a run's [`Memory`] holds: the arena's size, every buffer's place and the GEMM scratch.
pub(super) struct Layout {
    arena_bytes: usize,
    places: Vec<Place>,
    scratch_bytes: usize,
}

impl Layout {
    /// The layout of the verified `program`'s buffers, plus `scratch_bytes` of GEMM scratch.
    pub fn of(program: &Program, scratch_bytes: usize) -> Layout {
        let places = program
            .buffers
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.kind {
                BufferKind::Temp => Place::Arena(
                    program.plan.offsets[i].expect("verified: every temporary has a slot"),
                ),
                BufferKind::Const(t) => Place::Own {
                    bytes: d.bytes(),
                    constant: Some(t.clone()),
                },
                BufferKind::Input(_) | BufferKind::Param(_) | BufferKind::Output(_) => Place::Own {
                    bytes: d.bytes(),
                    constant: None,
                },
            })
            .collect();
        Layout {
            arena_bytes: program.plan.peak_bytes,
            places,
            scratch_bytes,
        }
    }
}

/// The memory one run works in: the arena (first) and the owned allocations, and the table of
/// every buffer's base address followed by the GEMM scratch array.
pub(super) struct Memory {
    /// Base address of every buffer: `owned`, except during a run, where in-place feeds and
    /// direct outputs point at the caller's data and the run's output vectors.
    pub table: Vec<*mut u8>,
    /// Base address of every buffer in `storage`.
    pub owned: Vec<*mut u8>,
    /// Owns the memory behind `owned`. Never resized, so the addresses stay valid.
    _storage: Vec<Storage>,
}

// SAFETY: a `Memory` owns its storage, and between runs its table points only into that
// storage (`unbind` restores it at the end of every run); a run uses it from one thread (and
// the worker threads it waits for) and then gives it back, so moving it between threads moves
// the only handle to that memory.
unsafe impl Send for Memory {}

impl Memory {
    /// Allocates (zeroed) the storage of `layout` and writes the constants.
    pub fn new(layout: &Layout) -> Memory {
        let mut storage = vec![Storage::new(layout.arena_bytes)];
        let arena = storage[0].ptr();
        let mut table = Vec::with_capacity(layout.places.len() + 1);
        for place in &layout.places {
            match place {
                Place::Arena(off) => {
                    // SAFETY: the program is verified (`memory-plan`): the slot is 64-byte
                    // aligned and `off + bytes <= peak_bytes`, the arena's size.
                    table.push(unsafe { arena.add(*off) });
                }
                Place::Own { bytes, constant } => {
                    let mut s = Storage::new(*bytes);
                    if let Some(t) = constant {
                        // Verified (`buffers`): the constant has the buffer's dtype and shape.
                        write_tensor(s.ptr(), t);
                    }
                    table.push(s.ptr());
                    storage.push(s);
                }
            }
        }
        let mut scratch = Storage::new(layout.scratch_bytes);
        table.push(scratch.ptr());
        storage.push(scratch);
        Memory {
            owned: table.clone(),
            table,
            _storage: storage,
        }
    }
}

/// An input or parameter slot.
pub(super) struct FeedSlot {
    name: String,
    buffer: usize,
    node: NodeId,
    dtype: DType,
    shape: Shape,
    /// No kernel writes the buffer and it is not an output: kernels may read the caller's data
    /// in place.
    in_place: bool,
}

/// A parameter the program updates: the caller's tensor is bound to its buffer for the run.
pub(super) struct UpdateSlot {
    name: String,
    buffer: usize,
    dtype: DType,
    shape: Shape,
}

/// An output: its buffer, dtype and shape, and whether kernels write it straight into the
/// returned tensor's vector (a numeric `Output` buffer listed once).
pub(super) struct OutputSlot {
    buffer: usize,
    pub(super) dtype: DType,
    pub(super) shape: Shape,
    direct: bool,
}

/// Every buffer the caller binds, in the order of the program's lists (updated parameters are
/// not feeds).
pub(super) struct Slots {
    pub feeds: Vec<FeedSlot>,
    pub updates: Vec<UpdateSlot>,
    pub outputs: Vec<OutputSlot>,
}

impl Slots {
    /// The slots of the verified `program`'s inputs, parameters, updates and outputs (`bindings`:
    /// each names a buffer of its kind; an update, a parameter buffer of its name).
    pub fn of(program: &Program) -> Slots {
        // Buffers some kernel writes (a gemm writes its output, then runs its epilogue there).
        let written: Vec<usize> = program.kernels.iter().map(|k| k.out().index()).collect();
        let listed = |b: usize| program.outputs.iter().filter(|o| o.index() == b).count();
        let updated = |b: &BufferId| program.updates.iter().any(|(_, u)| u == b);
        let mut feeds = Vec::new();
        for (name, id) in program.inputs.iter().chain(&program.params) {
            if updated(id) {
                continue;
            }
            let d = program.buffer(*id);
            let buffer = id.index();
            feeds.push(FeedSlot {
                name: name.clone(),
                buffer,
                node: d.node,
                dtype: d.dtype,
                shape: d.shape.clone(),
                in_place: !written.contains(&buffer) && listed(buffer) == 0,
            });
        }
        let updates = program
            .updates
            .iter()
            .map(|(name, b)| {
                let d = program.buffer(*b);
                UpdateSlot {
                    name: name.clone(),
                    buffer: b.index(),
                    dtype: d.dtype,
                    shape: d.shape.clone(),
                }
            })
            .collect();
        let outputs = program
            .outputs
            .iter()
            .map(|&b| {
                let d = program.buffer(b);
                OutputSlot {
                    buffer: b.index(),
                    dtype: d.dtype,
                    shape: d.shape.clone(),
                    direct: matches!(d.kind, BufferKind::Output(_))
                        && d.dtype != DType::Bool
                        && listed(b.index()) == 1,
                }
            })
            .collect();
        Slots {
            feeds,
            updates,
            outputs,
        }
    }
}

impl Run<'_> {
    /// Checks every feed; points the table at the in-place ones and copies the others into
    /// their buffers.
    pub(super) fn load_feeds(&mut self, feeds: &Feeds<'_>) -> Result<()> {
        for slot in &self.code.feeds {
            let t = feeds(&slot.name).ok_or_else(|| IrError::MissingFeed {
                name: slot.name.clone(),
                node: slot.node,
            })?;
            check_type(&slot.name, slot.dtype, &slot.shape, t)?;
        }
        for slot in &self.code.feeds {
            // Checked just above; `feeds` is a pure lookup.
            if let Some(t) = feeds(&slot.name) {
                // A bool is read by kernels as its byte (always 0 or 1, their encoding); feeds
                // read in place are never written.
                let data = t.as_ptr();
                if slot.in_place && t.numel() > 0 && (data as usize).is_multiple_of(VECTOR_ALIGN) {
                    // Only read: no kernel writes this buffer (checked at construction).
                    self.mem.table[slot.buffer] = data.cast_mut();
                } else {
                    write_tensor(self.mem.owned[slot.buffer], t);
                }
            }
        }
        Ok(())
    }

    /// Checks the updated parameters and binds them: the table points at the caller's tensor
    /// (written in place by the kernels) or, for an empty or unaligned one, the buffer gets a
    /// copy; returns the indices of the copied ones, to be copied back after a successful run.
    pub(super) fn bind_updates(&mut self, params: &mut [&mut HostTensor]) -> Result<Vec<usize>> {
        if params.len() != self.code.updates.len() {
            return Err(CodegenError::Unsupported {
                backend: "cpu",
                what: format!(
                    "this program updates {} parameters in place, but {} were passed{}",
                    self.code.updates.len(),
                    params.len(),
                    if params.is_empty() {
                        " (run it with run_updating)"
                    } else {
                        ""
                    }
                ),
            });
        }
        for (slot, t) in self.code.updates.iter().zip(params.iter()) {
            check_type(&slot.name, slot.dtype, &slot.shape, t)?;
        }
        let mut copied = Vec::new();
        for (i, (slot, t)) in self.code.updates.iter().zip(params.iter_mut()).enumerate() {
            let data = t.as_mut_ptr();
            if t.numel() > 0 && (data as usize).is_multiple_of(VECTOR_ALIGN) {
                self.mem.table[slot.buffer] = data;
            } else {
                write_tensor(self.mem.owned[slot.buffer], t);
                copied.push(i);
            }
        }
        Ok(copied)
    }

    /// Checks that `outputs` has one tensor of the right dtype and shape per program output.
    pub(super) fn check_outputs(&self, outputs: &[HostTensor]) -> Result<()> {
        if outputs.len() != self.code.outputs.len() {
            return Err(CodegenError::Unsupported {
                backend: "cpu",
                what: format!(
                    "this program has {} outputs, but {} tensors were given to write them into",
                    self.code.outputs.len(),
                    outputs.len()
                ),
            });
        }
        for (i, (o, t)) in self.code.outputs.iter().zip(outputs).enumerate() {
            if t.dtype() != o.dtype || *t.shape() != o.shape {
                return Err(CodegenError::Unsupported {
                    backend: "cpu",
                    what: format!(
                        "output {i} is {}{}, but the tensor given to hold it is {}{}",
                        o.dtype,
                        o.shape,
                        t.dtype(),
                        t.shape()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Points the table at the caller's tensor of every direct output that can be written in
    /// place (non-empty and aligned); returns, per output, whether it was bound.
    pub(super) fn bind_outputs(&mut self, outputs: &mut [HostTensor]) -> Vec<bool> {
        let mut bound = vec![false; outputs.len()];
        for ((o, t), bound) in self
            .code
            .outputs
            .iter()
            .zip(outputs.iter_mut())
            .zip(&mut bound)
        {
            let p = t.as_mut_ptr();
            if o.direct && t.numel() > 0 && (p as usize).is_multiple_of(VECTOR_ALIGN) {
                self.mem.table[o.buffer] = p;
                *bound = true;
            }
        }
        bound
    }

    /// Points every table entry back at the executable's own memory, then copies back the
    /// updated parameters in `copied` (when the run succeeded) and every output not `bound`.
    pub(super) fn unbind(
        &mut self,
        copied: Result<Vec<usize>>,
        params: &mut [&mut HostTensor],
        outputs: &mut [HostTensor],
        bound: Vec<bool>,
    ) -> Result<()> {
        // Every pointer into the caller's feeds, parameters or outputs leaves the table here.
        self.mem.table.copy_from_slice(&self.mem.owned);
        for i in copied? {
            let (slot, t) = (&self.code.updates[i], &mut params[i]);
            copy_out(self.mem.owned[slot.buffer], t, slot.dtype);
        }
        for ((o, t), bound) in self.code.outputs.iter().zip(outputs.iter_mut()).zip(bound) {
            if !bound {
                copy_out(self.mem.owned[o.buffer], t, o.dtype);
            }
        }
        Ok(())
    }
}

/// `IrError::FeedMismatch` unless `t` has the declared dtype and shape of feed `name`.
fn check_type(name: &str, dtype: DType, shape: &Shape, t: &HostTensor) -> Result<()> {
    if t.dtype() != dtype || t.shape() != shape {
        return Err(IrError::FeedMismatch {
            name: name.to_string(),
            expected_dtype: dtype,
            expected_shape: shape.clone(),
            got_dtype: t.dtype(),
            got_shape: t.shape().clone(),
        }
        .into());
    }
    Ok(())
}

/// Copies `t`'s elements to `dst` in their native encoding (a bool is the byte 0 or 1): the
/// twin of [`copy_out`].
fn write_tensor(dst: *mut u8, t: &HostTensor) {
    let bytes = t.numel() * t.dtype().size_bytes();
    // SAFETY: callers pass the base of a buffer declared with `t`'s dtype and shape (checked by
    // the feed check or at compile time for constants), so it holds `bytes` bytes; host memory
    // never overlaps kernel buffers.
    unsafe { std::ptr::copy_nonoverlapping(t.as_ptr(), dst, bytes) };
}

/// Copies a buffer of `t`'s dtype and element count into `t`.
fn copy_out(src: *const u8, t: &mut HostTensor, dtype: DType) {
    let bytes = t.numel() * dtype.size_bytes();
    // SAFETY: callers pass the base of a buffer declared with `t`'s dtype and shape (checked
    // against the parameter or output slot before the run), in the same encoding (a bool is
    // the byte 0 or 1, which the kernels write); `t` is the caller's memory, apart from ours.
    unsafe { std::ptr::copy_nonoverlapping(src, t.as_mut_ptr(), bytes) };
}

/// A zeroed tensor for an output, its memory not yet touched (so huge pages can back it).
pub(super) fn fresh_output(dtype: DType, shape: &Shape) -> Result<HostTensor> {
    let n = shape.numel();
    let data = match dtype {
        DType::Bool => TensorData::Bool(vec![false; n]),
        DType::I32 => TensorData::I32(vec![0; n]),
        DType::I64 => TensorData::I64(vec![0; n]),
        DType::F32 => TensorData::F32(vec![0.0; n]),
        DType::F64 => TensorData::F64(vec![0.0; n]),
    };
    let mut t = HostTensor::new(shape.clone(), data)?;
    advise_huge_pages(t.as_mut_ptr(), n * dtype.size_bytes());
    Ok(t)
}

/// Outputs at least this large ask the kernel for transparent huge pages.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks Linux to back the 2 MiB-aligned interior of a fresh, untouched allocation with huge
/// pages: the kernels' first writes then fault once per 2 MiB instead of once per 4 KiB (a
/// 64 MiB output: 32 faults instead of 16,384). Only a hint; without THP nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE_BYTES);
    let end = (ptr as usize + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if bytes >= 2 * HUGE_PAGE_BYTES && end > start {
        // SAFETY: `[start, end)` lies inside the caller's live allocation; MADV_HUGEPAGE only
        // changes how the kernel backs those pages, never their contents (still zero here).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: *mut u8, _: usize) {}
