//! The kernel IR's contract, checked: [`Program::verify`].
//!
//! Backends generate code that trusts the program it is given: a load whose view reaches
//! outside its buffer would read out of bounds at run time, an operand of the wrong dtype would
//! be reinterpreted. The rules below are what `lower`, `lower_step` and `plan_memory` promise
//! and what every backend may assume; they run after each of those passes and at the start of
//! every `Backend::compile`. A violation is never the user's fault: it names the kernel and the
//! rule and is always a kiln bug ([`IrError::Internal`]).
//!
//! The rules, each named in its error:
//! - `buffers`: a constant matches its declaration; an `Output(k)` buffer is output `k`;
//! - `bindings`: every input, parameter and update names a buffer of that kind and name, and
//!   every input and parameter buffer is bound exactly once;
//! - `out-buffer`: a kernel's output buffer exists, is a temporary, an output or an updated
//!   parameter, and holds the kernel's result dtype and element count;
//! - `ssa`: an instruction's operands come earlier in its body, a body's result exists;
//! - `dtype`: operands have the dtypes their instruction needs (the op table's `accepts`,
//!   bool conditions and masks, integer indices, float random numbers, `acc` of exactly its
//!   accumulator's dtype, numeric reductions and GEMMs);
//! - `rank`: views and affine indices have one coefficient per axis of their loop space;
//! - `load-in-bounds`: every unmasked load, GEMM operand and gather source stays inside its
//!   buffer over the whole loop space, and a gather's or scatter's index space fits its data
//!   outside the indexed axis; a masked load stays inside over the part of the loop space its
//!   mask admits — bounded per axis when the mask is a conjunction of single-axis ranges (what
//!   `pad` and `concat` lower to), checked point by point when it tests a merged coordinate (a
//!   pad seen through a reshape; loop spaces up to 2^20 points, larger ones are trusted), and
//!   refused when it is not built from range tests at all;
//! - `in-place`: a kernel never reads its own output buffer, except a training step's
//!   elementwise writer of an updated parameter, which reads it unmasked at the element it
//!   writes;
//! - `def-before-use`: a temporary or output buffer is read only after an earlier kernel wrote
//!   it, and every output and every updated parameter is written;
//! - `memory-plan`: every temporary has a 64-byte aligned slot inside the arena, and no two
//!   temporaries that are live at the same kernel share bytes.

use std::collections::HashSet;

use super::plan::ALIGN;
use super::{
    Affine, Body, BufferDecl, BufferId, BufferKind, InstKind, Kernel, KernelKind, Program, Val,
    View,
};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::op::BinaryOp;

impl Program {
    /// Checks the kernel-IR contract (the module docs list its rules).
    ///
    /// # Errors
    /// [`IrError::Internal`] naming the first violated rule and the kernel (or buffer) where
    /// it was found. Lowering produces verified programs, so an error here is a kiln bug.
    pub fn verify(&self) -> Result<()> {
        Verifier { p: self }.run()
    }
}

/// A broken rule, before it is wrapped into [`IrError::Internal`].
type Check<T = ()> = std::result::Result<T, (&'static str, String)>;

fn fail<T>(rule: &'static str, msg: impl Into<String>) -> Check<T> {
    Err((rule, msg.into()))
}

struct Verifier<'a> {
    p: &'a Program,
}

/// Where a body runs: its loop space, and the accumulator's dtype in an epilogue (where
/// `acc` may be used, of exactly that dtype: backends hand it over without conversion).
#[derive(Clone, Copy)]
struct Space<'d> {
    dims: &'d [usize],
    acc: Option<DType>,
}

impl Verifier<'_> {
    fn run(&self) -> Result<()> {
        let internal = |kernel: Option<usize>| {
            move |(rule, msg): (&'static str, String)| IrError::Internal {
                context: match kernel {
                    Some(k) => format!("kernel IR: kernel k{k}"),
                    None => "kernel IR".to_string(),
                },
                rule,
                msg,
            }
        };
        self.buffers().map_err(internal(None))?;
        self.bindings().map_err(internal(None))?;
        let mut written: HashSet<BufferId> = self
            .p
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, d)| is_storage(&d.kind))
            .map(|(i, _)| BufferId(i as u32))
            .collect();
        for (k, kernel) in self.p.kernels.iter().enumerate() {
            self.kernel(kernel, &written).map_err(internal(Some(k)))?;
            written.insert(kernel.out());
        }
        self.outputs_written(&written).map_err(internal(None))?;
        self.memory_plan().map_err(internal(None))
    }

    fn decl(&self, id: BufferId) -> Check<&BufferDecl> {
        match self.p.buffers.get(id.index()) {
            Some(d) => Ok(d),
            None => fail("buffers", format!("b{} does not exist", id.0)),
        }
    }

    fn buffers(&self) -> Check {
        for (i, d) in self.p.buffers.iter().enumerate() {
            match &d.kind {
                BufferKind::Const(t) if t.dtype() != d.dtype || t.shape() != &d.shape => {
                    return fail(
                        "buffers",
                        format!(
                            "constant b{i} is {}{}, declared {}{}",
                            t.dtype(),
                            t.shape(),
                            d.dtype,
                            d.shape
                        ),
                    );
                }
                BufferKind::Output(k) if self.p.outputs.get(*k) != Some(&BufferId(i as u32)) => {
                    return fail(
                        "buffers",
                        format!("b{i} is output {k}, but output {k} is another buffer"),
                    );
                }
                _ => {}
            }
        }
        for (k, &o) in self.p.outputs.iter().enumerate() {
            self.decl(o).map_err(|_| {
                (
                    "buffers",
                    format!("output {k} is b{}, which does not exist", o.0),
                )
            })?;
        }
        Ok(())
    }

    fn bindings(&self) -> Check {
        let mut bound = HashSet::new();
        for (name, id) in self.p.inputs.iter().chain(&self.p.params) {
            let d = self.decl(*id)?;
            if !matches!(&d.kind, BufferKind::Input(n) | BufferKind::Param(n) if n == name) {
                return fail(
                    "bindings",
                    format!("\"{name}\" is bound to b{}, which is {:?}", id.0, d.kind),
                );
            }
            if !bound.insert(*id) {
                return fail("bindings", format!("b{} is bound twice", id.0));
            }
        }
        for (i, d) in self.p.buffers.iter().enumerate() {
            let leaf = matches!(d.kind, BufferKind::Input(_) | BufferKind::Param(_));
            if leaf && !bound.contains(&BufferId(i as u32)) {
                return fail("bindings", format!("b{i} ({:?}) is not bound", d.kind));
            }
        }
        let mut updated = HashSet::new();
        for (name, id) in &self.p.updates {
            let d = self.decl(*id)?;
            if !matches!(&d.kind, BufferKind::Param(n) if n == name) || !updated.insert(*id) {
                return fail("bindings", format!("update \"{name}\" -> b{} is not a parameter of that name, or is updated twice", id.0));
            }
        }
        Ok(())
    }

    fn is_updated(&self, id: BufferId) -> bool {
        self.p.updates.iter().any(|(_, b)| *b == id)
    }

    fn kernel(&self, kernel: &Kernel, written: &HashSet<BufferId>) -> Check {
        let out = kernel.out();
        let out_decl = self.decl(out)?;
        let writable = match out_decl.kind {
            BufferKind::Temp | BufferKind::Output(_) => true,
            BufferKind::Param(_) => self.is_updated(out),
            BufferKind::Input(_) | BufferKind::Const(_) => false,
        };
        if !writable {
            return fail(
                "out-buffer",
                format!("writes b{} ({:?})", out.0, out_decl.kind),
            );
        }
        let (result_dtype, out_numel) = self.kernel_kind(&kernel.kind)?;
        if result_dtype != out_decl.dtype || out_numel != out_decl.numel() {
            return fail(
                "out-buffer",
                format!(
                    "computes {out_numel} {result_dtype} elements into b{} of {}{}",
                    out.0, out_decl.dtype, out_decl.shape
                ),
            );
        }
        for read in kernel.reads() {
            let d = self.decl(read)?;
            if read == out {
                self.in_place_reads(kernel, out)?;
            } else if matches!(d.kind, BufferKind::Temp | BufferKind::Output(_))
                && !written.contains(&read)
            {
                return fail(
                    "def-before-use",
                    format!("reads b{} before any kernel wrote it", read.0),
                );
            }
        }
        Ok(())
    }

    /// Checks every body and view of a kernel; returns the dtype and element count it writes.
    fn kernel_kind(&self, kind: &KernelKind) -> Check<(DType, usize)> {
        let plain = |dims| Space { dims, acc: None };
        let epilogue = |dims, acc| Space {
            dims,
            acc: Some(acc),
        };
        Ok(match kind {
            KernelKind::Elementwise { shape, body, .. } => {
                self.body(body, plain(shape.dims()))?;
                (body.dtype(), shape.numel())
            }
            KernelKind::Reduce {
                shape,
                axes,
                body,
                epilogue: e,
                ..
            } => {
                self.body(body, plain(shape.dims()))?;
                if !body.dtype().is_numeric() {
                    return fail("dtype", format!("reduction of {}", body.dtype()));
                }
                let mut out_dims = shape.dims().to_vec();
                for &a in axes {
                    match out_dims.get_mut(a) {
                        Some(d) => *d = 1,
                        None => {
                            return fail(
                                "rank",
                                format!("reduced axis {a} of a rank-{} space", shape.rank()),
                            )
                        }
                    }
                }
                self.body(e, epilogue(&out_dims, body.dtype()))?;
                (e.dtype(), out_dims.iter().product())
            }
            KernelKind::ArgMax {
                shape, axis, body, ..
            } => {
                self.body(body, plain(shape.dims()))?;
                if !body.dtype().is_numeric() {
                    return fail("dtype", format!("argmax of {}", body.dtype()));
                }
                if *axis >= shape.rank() || shape.dim(*axis) == 0 {
                    return fail("rank", format!("argmax over axis {axis} of {shape}"));
                }
                (DType::I64, shape.numel() / shape.dim(*axis))
            }
            KernelKind::Gemm {
                batch,
                m,
                n,
                k,
                a,
                b,
                epilogue: e,
                dtype,
                ..
            } => {
                if !dtype.is_numeric() {
                    return fail("dtype", format!("gemm of {dtype}"));
                }
                let dims = |r: usize, c: usize| [batch.as_slice(), &[r, c]].concat();
                for (name, view, r, c) in [("a", a, *m, *k), ("b", b, *k, *n)] {
                    if self.decl(view.buffer)?.dtype != *dtype {
                        return fail("dtype", format!("gemm operand {name} is not {dtype}"));
                    }
                    self.view_in_bounds(view, &box_of(&dims(r, c)), "gemm operand")?;
                }
                let out_dims = dims(*m, *n);
                let result = match e {
                    Some(e) => {
                        self.body(e, epilogue(&out_dims, *dtype))?;
                        e.dtype()
                    }
                    None => *dtype,
                };
                (result, out_dims.iter().product())
            }
            KernelKind::Gather {
                shape,
                axis,
                index,
                src,
                src_dims,
                ..
            } => {
                self.body(index, plain(shape.dims()))?;
                if !index.dtype().is_int() || *axis >= src_dims.len() {
                    return fail(
                        "dtype",
                        format!("gather index is {} on axis {axis}", index.dtype()),
                    );
                }
                // The loop reads the source at its own coordinates on every axis but `axis`, so
                // the index space must fit inside the source there; along `axis` the index is
                // bounds-checked at run time against `src_dims[axis]`.
                fits_outside_axis("gather", shape.dims(), src_dims, *axis)?;
                self.view_in_bounds(src, &box_of(src_dims), "gather source")?;
                (self.decl(src.buffer)?.dtype, shape.numel())
            }
            KernelKind::ScatterAdd {
                out_shape,
                base,
                shape,
                axis,
                index,
                src,
                ..
            } => {
                self.body(base, plain(out_shape.dims()))?;
                self.body(index, plain(shape.dims()))?;
                self.body(src, plain(shape.dims()))?;
                if !index.dtype().is_int()
                    || *axis >= out_shape.rank()
                    || src.dtype() != base.dtype()
                {
                    return fail(
                        "dtype",
                        format!(
                            "scatter_add of {} into {} by {} on axis {axis}",
                            src.dtype(),
                            base.dtype(),
                            index.dtype()
                        ),
                    );
                }
                // As for gather: the scattered-to position is the loop's own coordinate on
                // every axis but `axis`.
                fits_outside_axis("scatter_add", shape.dims(), out_shape.dims(), *axis)?;
                (base.dtype(), out_shape.numel())
            }
        })
    }

    fn body(&self, body: &Body, space: Space) -> Check {
        let rank = space.dims.len();
        let insts = &body.insts;
        if body.result.0 as usize >= insts.len() {
            return fail(
                "ssa",
                format!(
                    "body result v{} of {} instructions",
                    body.result.0,
                    insts.len()
                ),
            );
        }
        for (i, inst) in insts.iter().enumerate() {
            let operand = |v: Val| -> Check<DType> {
                match insts.get(v.0 as usize) {
                    Some(o) if (v.0 as usize) < i => Ok(o.dtype),
                    _ => fail("ssa", format!("v{i} uses v{}, which is not earlier", v.0)),
                }
            };
            let d = inst.dtype;
            let wrong = |what: String| fail("dtype", format!("v{i}: {what}"));
            match &inst.kind {
                InstKind::Load { view, mask } => {
                    if let Some(m) = mask {
                        if operand(*m)? != DType::Bool {
                            return wrong("load mask is not bool".into());
                        }
                    }
                    let buffer_dtype = self.decl(view.buffer)?.dtype;
                    if buffer_dtype != d {
                        return wrong(format!(
                            "{d} load from b{} of {buffer_dtype}",
                            view.buffer.0
                        ));
                    }
                    check_rank(view.strides.len(), rank, i)?;
                    match mask {
                        None => self.view_in_bounds(view, &box_of(space.dims), "load")?,
                        Some(m) => match mask_region(insts, *m, space.dims) {
                            Some(region) => self.view_in_bounds(view, &region, "masked load")?,
                            // A range test of a merged coordinate (a pad seen through a
                            // reshape): check every point of the loop space the mask admits.
                            None => self.masked_load_point_by_point(insts, view, *m, space, i)?,
                        },
                    }
                }
                InstKind::Const(_) => {}
                InstKind::Index(axis) => {
                    if *axis >= rank || !d.is_int() {
                        return wrong(format!(
                            "index of axis {axis} as {d} in a rank-{rank} space"
                        ));
                    }
                }
                InstKind::InRange { index, .. } => {
                    check_rank(index.coefs.len(), rank, i)?;
                    if d != DType::Bool {
                        return wrong("in_range is not bool".into());
                    }
                }
                InstKind::Unary(op, x) => {
                    if operand(*x)? != d || !op.accepts(d) {
                        return wrong(format!("{} of {} as {d}", op.name(), operand(*x)?));
                    }
                }
                InstKind::Binary(op, x, y) => {
                    let (dx, dy) = (operand(*x)?, operand(*y)?);
                    let result = if op.is_comparison() { DType::Bool } else { dx };
                    if dx != dy || !op.accepts(dx) || result != d {
                        return wrong(format!("{} of {dx} and {dy} as {d}", op.name()));
                    }
                }
                InstKind::Select(c, a, b) => {
                    if operand(*c)? != DType::Bool || operand(*a)? != d || operand(*b)? != d {
                        return wrong(
                            "select needs a bool condition and values of its dtype".into(),
                        );
                    }
                }
                InstKind::Cast(x) => {
                    operand(*x)?;
                }
                InstKind::Random { index, .. } => {
                    check_rank(index.coefs.len(), rank, i)?;
                    if !d.is_float() {
                        return wrong(format!("random numbers as {d}"));
                    }
                }
                InstKind::Acc => match space.acc {
                    None => return fail("ssa", format!("v{i}: acc outside an epilogue")),
                    Some(acc) if acc != d => {
                        return wrong(format!("acc of a {acc} accumulator as {d}"));
                    }
                    Some(_) => {}
                },
            }
        }
        Ok(())
    }

    /// Checks that `view` reads inside its buffer for every point of `region` (one
    /// `lo..hi` range per axis of the view); an empty region reads nothing.
    fn view_in_bounds(&self, view: &View, region: &[(i128, i128)], what: &str) -> Check {
        if view.strides.len() != region.len() {
            return fail(
                "rank",
                format!(
                    "{what} view of rank {} over a rank-{} space",
                    view.strides.len(),
                    region.len()
                ),
            );
        }
        if region.iter().any(|&(lo, hi)| lo >= hi) {
            return Ok(());
        }
        let (mut min, mut max) = (view.offset as i128, view.offset as i128);
        for (&s, &(lo, hi)) in view.strides.iter().zip(region) {
            let (a, b) = (s as i128 * lo, s as i128 * (hi - 1));
            min += a.min(b);
            max += a.max(b);
        }
        let numel = self.decl(view.buffer)?.numel() as i128;
        if min < 0 || max >= numel {
            return fail(
                "load-in-bounds",
                format!(
                    "{what} of b{} reaches elements {min}..={max} of {numel}",
                    view.buffer.0
                ),
            );
        }
        Ok(())
    }

    /// Checks a masked load at every point of the loop space where its mask holds, for masks
    /// built from range tests, `and` and constants (what lowering produces). Loop spaces of
    /// more than [`MAX_ENUMERATED_POINTS`] are not enumerated: their masked loads are checked
    /// by this rule only when the mask is a conjunction of single-axis ranges.
    fn masked_load_point_by_point(
        &self,
        insts: &[super::Inst],
        view: &View,
        mask: Val,
        space: Space,
        inst: usize,
    ) -> Check {
        let unanalysable = || {
            fail(
                "load-in-bounds",
                format!(
                    "v{inst}: the mask of a load of b{} is not built from in_range tests",
                    view.buffer.0
                ),
            )
        };
        if !mask_is_ranges(insts, mask) {
            return unanalysable();
        }
        let points: usize = space.dims.iter().product();
        if points > MAX_ENUMERATED_POINTS {
            return Ok(());
        }
        let numel = self.decl(view.buffer)?.numel() as isize;
        let mut idx = vec![0usize; space.dims.len()];
        for _ in 0..points {
            if mask_holds(insts, mask, &idx) {
                let at = view.at(&idx);
                if !(0..numel).contains(&at) {
                    return fail(
                        "load-in-bounds",
                        format!(
                            "masked load of b{} reads element {at} of {numel} at {idx:?}",
                            view.buffer.0
                        ),
                    );
                }
            }
            // Next multi-index, row-major.
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < space.dims[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(())
    }

    /// The in-place exception: an elementwise writer of an updated parameter reads it unmasked,
    /// at the element it writes.
    fn in_place_reads(&self, kernel: &Kernel, out: BufferId) -> Check {
        let KernelKind::Elementwise { .. } = &kernel.kind else {
            return fail(
                "in-place",
                format!("{} reads its own output b{}", kernel.kind_name(), out.0),
            );
        };
        if !self.is_updated(out) {
            return fail(
                "in-place",
                format!(
                    "reads its own output b{}, which is no updated parameter",
                    out.0
                ),
            );
        }
        // The rule `lower_step` applies when it makes a kernel the writer, checked again.
        if !super::update::reads_only_in_place(kernel, out, &self.decl(out)?.shape) {
            return fail(
                "in-place",
                format!("reads b{} elsewhere than at the element it writes", out.0),
            );
        }
        Ok(())
    }

    fn outputs_written(&self, written: &HashSet<BufferId>) -> Check {
        let by_kernel: HashSet<BufferId> = self.p.kernels.iter().map(|k| k.out()).collect();
        if let Some((name, b)) = self.p.updates.iter().find(|(_, b)| !by_kernel.contains(b)) {
            return fail(
                "def-before-use",
                format!("update \"{name}\" (b{}) is never written", b.0),
            );
        }
        match self
            .p
            .outputs
            .iter()
            .enumerate()
            .find(|(_, b)| !written.contains(b))
        {
            Some((k, b)) => fail(
                "def-before-use",
                format!("output {k} (b{}) is never written", b.0),
            ),
            None => Ok(()),
        }
    }

    fn memory_plan(&self) -> Check {
        let plan = &self.p.plan;
        let live = super::plan::live_ranges(self.p);
        let mut slots = Vec::new();
        for (i, d) in self.p.buffers.iter().enumerate() {
            if d.kind != BufferKind::Temp {
                continue;
            }
            let slot = plan.offsets.get(i).copied().flatten();
            match slot {
                Some(o)
                    if o % ALIGN == 0
                        && o.checked_add(d.bytes())
                            .is_some_and(|e| e <= plan.peak_bytes) =>
                {
                    if d.bytes() > 0 {
                        slots.push((i, o, o + d.bytes(), live[i]));
                    }
                }
                _ => {
                    return fail(
                        "memory-plan",
                        format!(
                            "temporary b{i} has slot {slot:?} in an arena of {} bytes",
                            plan.peak_bytes
                        ),
                    )
                }
            }
        }
        // A sweep over the kernels: the temporaries live at kernel `k` are kept ordered by
        // offset, and each one entering is checked against its neighbours there (the ones
        // already in are disjoint, so that suffices): O(T log T), not a check of every pair.
        let mut entering: Vec<(usize, usize, usize, usize)> = Vec::new(); // (start, i, off, end)
        let mut leaving: Vec<(usize, usize, usize)> = Vec::new(); // (last kernel, i, off)
        for &(i, start, end, live_range) in &slots {
            if let Some((first, last)) = live_range {
                entering.push((first, i, start, end));
                leaving.push((last, i, start));
            }
        }
        entering.sort_unstable();
        leaving.sort_unstable();
        let mut active: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
        let (mut e, mut l) = (0, 0);
        for k in 0..self.p.kernels.len() {
            while l < leaving.len() && leaving[l].0 < k {
                active.remove(&(leaving[l].2, leaving[l].1));
                l += 1;
            }
            while e < entering.len() && entering[e].0 == k {
                let (_, i, start, end) = entering[e];
                let before = active.range(..(start, i)).next_back();
                let after = active.range((start, i)..).next();
                let clash = before
                    .filter(|(_, &b_end)| b_end > start)
                    .or(after.filter(|((a_start, _), _)| *a_start < end));
                if let Some(((_, j), _)) = clash {
                    return fail(
                        "memory-plan",
                        format!(
                            "temporaries b{i} and b{j} are live together and share arena bytes"
                        ),
                    );
                }
                active.insert((start, i), end);
                e += 1;
            }
        }
        Ok(())
    }
}

/// Input, parameter and constant buffers hold a value before the first kernel runs.
fn is_storage(kind: &BufferKind) -> bool {
    matches!(
        kind,
        BufferKind::Input(_) | BufferKind::Param(_) | BufferKind::Const(_)
    )
}

fn check_rank(len: usize, rank: usize, inst: usize) -> Check {
    if len != rank {
        return fail(
            "rank",
            format!("v{inst} has {len} coefficients in a rank-{rank} space"),
        );
    }
    Ok(())
}

/// A gather's or scatter's index space has the data's rank and fits inside its dims on every
/// axis but `axis`.
fn fits_outside_axis(op: &str, index: &[usize], data: &[usize], axis: usize) -> Check {
    let fits = index.len() == data.len()
        && index
            .iter()
            .zip(data)
            .enumerate()
            .all(|(d, (&i, &n))| d == axis || i <= n);
    if !fits {
        return fail(
            "load-in-bounds",
            format!("{op} index space {index:?} does not fit data {data:?} outside axis {axis}"),
        );
    }
    Ok(())
}

/// The whole loop space as one `0..dim` range per axis.
fn box_of(dims: &[usize]) -> Vec<(i128, i128)> {
    dims.iter().map(|&d| (0, d as i128)).collect()
}

/// Loop spaces up to this many points have their merged-coordinate masked loads checked point
/// by point (a few milliseconds at most).
const MAX_ENUMERATED_POINTS: usize = 1 << 20;

/// True when mask `m` is built from `in_range` tests, `and` and constants only.
fn mask_is_ranges(insts: &[super::Inst], m: Val) -> bool {
    match insts.get(m.0 as usize).map(|i| &i.kind) {
        Some(InstKind::Binary(BinaryOp::And, a, b)) => {
            a.0 < m.0 && b.0 < m.0 && mask_is_ranges(insts, *a) && mask_is_ranges(insts, *b)
        }
        Some(InstKind::InRange { .. } | InstKind::Const(_)) => true,
        _ => false,
    }
}

/// The value of a [`mask_is_ranges`] mask at loop index `idx`.
fn mask_holds(insts: &[super::Inst], m: Val, idx: &[usize]) -> bool {
    match &insts[m.0 as usize].kind {
        InstKind::Binary(BinaryOp::And, a, b) => {
            mask_holds(insts, *a, idx) && mask_holds(insts, *b, idx)
        }
        InstKind::InRange { index, lo, hi } => (*lo..*hi).contains(&index.at(idx)),
        InstKind::Const(c) => *c != 0.0,
        _ => false,
    }
}

/// The part of the loop space where mask `m` holds, as one range per axis, when `m` is a
/// conjunction of `in_range` tests of single loop coordinates (`None` for any other mask).
fn mask_region(insts: &[super::Inst], m: Val, dims: &[usize]) -> Option<Vec<(i128, i128)>> {
    let mut region = box_of(dims);
    let mut pending = vec![m];
    while let Some(v) = pending.pop() {
        match &insts.get(v.0 as usize)?.kind {
            InstKind::Binary(BinaryOp::And, a, b) => pending.extend([*a, *b]),
            InstKind::InRange { index, lo, hi } => restrict(&mut region, index, *lo, *hi)?,
            _ => return None,
        }
    }
    Some(region)
}

/// Narrows `region` to the points with `lo <= index < hi`, for an index that is a constant or
/// a positive multiple of one coordinate plus a constant.
fn restrict(region: &mut [(i128, i128)], index: &Affine, lo: isize, hi: isize) -> Option<()> {
    let mut axes = index.coefs.iter().enumerate().filter(|(_, &c)| c != 0);
    let (lo, hi, off) = (lo as i128, hi as i128, index.offset as i128);
    match (axes.next(), axes.next()) {
        (None, _) => {
            if !(lo <= off && off < hi) {
                region.iter_mut().for_each(|r| *r = (0, 0));
            }
        }
        (Some((axis, &c)), None) if c > 0 => {
            let c = c as i128;
            // lo <= off + c*i < hi  <=>  ceil((lo-off)/c) <= i < ceil((hi-off)/c).
            let r = &mut region[axis];
            *r = (
                r.0.max(div_ceil(lo - off, c)),
                r.1.min(div_ceil(hi - off, c)),
            );
        }
        _ => return None,
    }
    Some(())
}

fn div_ceil(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}
