//! One kernel of the kernel IR -> its CUDA C functions and launches (see the module docs of
//! [`crate::cuda`] for what each kind becomes and why).
//!
//! Every function is a grid-stride loop over `items` work items (`t`, 64-bit), so any grid and
//! block size computes the same result; work item `t` unflattens into row-major coordinates
//! `i0, i1, ...` of its index space. Shapes are baked into the text as constants.

use std::collections::BTreeSet;
use std::fmt::Write;

use kiln_ir::kernel::{Body, BufferId, InstKind, KernelKind, Program, View};
use kiln_ir::{DType, ReduceOp};

use super::body::{affine, cast, ctype, emit_body, int_literal, literal, Site};
use super::{unsupported, Arg, Launch};
use crate::error::Result;

/// The functions and launches of one kernel.
pub(super) struct Emitted {
    pub text: String,
    pub launches: Vec<Launch>,
    pub scratch_bytes: usize,
}

/// A function's parameters, built together with the launch's arguments so that the two
/// cannot disagree.
struct Sig<'p> {
    program: &'p Program,
    params: Vec<String>,
    args: Vec<Arg>,
    seen: BTreeSet<BufferId>,
}

impl<'p> Sig<'p> {
    fn new(program: &'p Program) -> Sig<'p> {
        Sig {
            program,
            params: Vec::new(),
            args: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    fn dtype(&self, b: BufferId) -> Result<DType> {
        self.program
            .buffers
            .get(b.index())
            .map(|d| d.dtype)
            .ok_or_else(|| unsupported(format!("buffer b{} does not exist", b.0)))
    }

    /// Every buffer `bodies` load from and the `extra` buffers, read-only (`writes` excluded: it
    /// is added by [`Sig::output`], and a kernel that updates a parameter in place reads it
    /// through the same pointer).
    fn reads(&mut self, bodies: &[&Body], extra: &[BufferId], writes: BufferId) -> Result<()> {
        let mut ids: BTreeSet<BufferId> = extra.iter().copied().collect();
        for b in bodies {
            for inst in &b.insts {
                if let InstKind::Load { view, .. } = &inst.kind {
                    ids.insert(view.buffer);
                }
            }
        }
        for id in ids {
            if id != writes && self.seen.insert(id) {
                let t = ctype(self.dtype(id)?);
                self.params.push(format!("const {t}* b{}", id.0));
                self.args.push(Arg::Buffer(id));
            }
        }
        Ok(())
    }

    fn output(&mut self, id: BufferId) -> Result<()> {
        let t = ctype(self.dtype(id)?);
        self.params.push(format!("{t}* b{}", id.0));
        self.args.push(Arg::Buffer(id));
        self.seen.insert(id);
        Ok(())
    }

    fn scratch(&mut self, d: DType, writable: bool) {
        let c = if writable { "" } else { "const " };
        self.params.push(format!("{c}{}* scratch", ctype(d)));
        self.args.push(Arg::Scratch);
    }

    fn error(&mut self) {
        self.params.push("unsigned long long* err".into());
        self.args.push(Arg::Error);
    }
}

/// Accumulates functions of one kernel.
struct Out<'p> {
    program: &'p Program,
    kernel: usize,
    text: String,
    launches: Vec<Launch>,
}

impl Out<'_> {
    /// Writes a grid-stride function named `kiln_k<kernel><suffix>` whose loop body is
    /// `inner` (already indented by 8).
    fn function(&mut self, suffix: &str, sig: Sig, items: usize, inner: &str, product: bool) {
        let name = format!("kiln_k{}{suffix}", self.kernel);
        let _ = writeln!(
            self.text,
            "\nextern \"C\" __global__ void {name}({}) {{",
            sig.params.join(", ")
        );
        // An empty index space launches nothing; its loop would also divide by a zero extent.
        if items > 0 {
            let _ = writeln!(self.text, "    const long long n = {items}LL;");
            self.text.push_str(
                "    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n;\n         t += (long long)blockDim.x * gridDim.x) {\n",
            );
            self.text.push_str(inner);
            self.text.push_str("    }\n");
        }
        self.text.push_str("}\n");
        self.launches.push(Launch {
            kernel: self.kernel,
            function: name,
            items,
            args: sig.args,
            gemm_product: product,
        });
        let _ = self.program;
    }
}

/// Coordinate names `i0, i1, ...` for a space of rank `rank`.
fn names(rank: usize) -> Vec<String> {
    (0..rank).map(|k| format!("i{k}")).collect()
}

/// Declares the row-major coordinates of `t` over `dims` (axes whose name is `None` must have
/// extent 1 and are not declared): `i_k = (t / stride_k) % dims[k]`, without the modulo on
/// axis 0 since `t` is below the extent.
fn unflatten(s: &mut String, dims: &[usize], names: &[Option<String>]) {
    let pad = "        ";
    for k in 0..dims.len() {
        let Some(Some(n)) = names.get(k) else {
            continue;
        };
        if dims[k] == 1 {
            let _ = writeln!(s, "{pad}const long long {n} = 0;");
            continue;
        }
        let stride: usize = dims[k + 1..].iter().product();
        let q = if stride == 1 {
            "t".to_string()
        } else {
            format!("(t / {stride}LL)")
        };
        if k == 0 {
            let _ = writeln!(s, "{pad}const long long {n} = {q};");
        } else {
            let _ = writeln!(s, "{pad}const long long {n} = {q} % {}LL;", dims[k]);
        }
    }
}

fn all(rank: usize) -> Vec<Option<String>> {
    names(rank).into_iter().map(Some).collect()
}

/// Emits kernel `k` of `program`.
pub(super) fn kernel(program: &Program, k: usize, kind: &KernelKind) -> Result<Emitted> {
    let mut o = Out {
        program,
        kernel: k,
        text: String::new(),
        launches: Vec::new(),
    };
    let mut scratch_bytes = 0;
    match kind {
        KernelKind::Elementwise { shape, body, out } => {
            elementwise(&mut o, "", shape.dims(), body, *out, None)?;
        }
        KernelKind::Reduce {
            shape,
            axes,
            op,
            init,
            body,
            epilogue,
            out,
        } => reduce(&mut o, shape.dims(), axes, *op, *init, body, epilogue, *out)?,
        KernelKind::ArgMax {
            shape,
            axis,
            body,
            out,
        } => argmax(&mut o, shape.dims(), *axis, body, *out)?,
        KernelKind::Gemm {
            batch,
            m,
            n,
            k: depth,
            a,
            b,
            epilogue,
            out,
            dtype,
        } => {
            let mut dims = batch.to_vec();
            dims.extend([*m, *n]);
            let items: usize = dims.iter().product();
            product(
                &mut o,
                &dims,
                *depth,
                a,
                b,
                *dtype,
                *out,
                epilogue.is_some(),
            )?;
            if let Some(e) = epilogue {
                scratch_bytes = items * dtype.size_bytes();
                elementwise(&mut o, "_epilogue", &dims, e, *out, Some(*dtype))?;
            }
        }
        KernelKind::Gather {
            shape,
            axis,
            index,
            src,
            src_dims,
            out,
            ..
        } => gather(&mut o, shape.dims(), *axis, index, src, src_dims, *out)?,
        KernelKind::ScatterAdd {
            out_shape,
            base,
            shape,
            axis,
            index,
            src,
            out,
            ..
        } => {
            elementwise(&mut o, "_base", out_shape.dims(), base, *out, None)?;
            scatter(
                &mut o,
                out_shape.dims(),
                shape.dims(),
                *axis,
                index,
                src,
                *out,
            )?;
        }
    }
    Ok(Emitted {
        text: o.text,
        launches: o.launches,
        scratch_bytes,
    })
}

/// `out[t] = body(t)`; with `acc`, `Acc` is `scratch[t]` of that dtype (a gemm epilogue).
fn elementwise(
    o: &mut Out,
    suffix: &str,
    dims: &[usize],
    body: &Body,
    out: BufferId,
    acc: Option<DType>,
) -> Result<()> {
    let mut sig = Sig::new(o.program);
    if let Some(d) = acc {
        sig.scratch(d, false);
    }
    sig.reads(&[body], &[], out)?;
    sig.output(out)?;
    let coords = names(dims.len());
    let mut s = String::new();
    unflatten(&mut s, dims, &all(dims.len()));
    let site = Site {
        coords: &coords,
        acc: acc.map(|d| ("scratch[t]", d)),
        prefix: "v",
    };
    let r = emit_body(&mut s, body, &site, 8)?;
    let _ = writeln!(s, "        b{}[t] = {r};", out.0);
    let items = dims.iter().product();
    o.function(suffix, sig, items, &s, false);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn reduce(
    o: &mut Out,
    dims: &[usize],
    axes: &[usize],
    op: ReduceOp,
    init: f64,
    body: &Body,
    epilogue: &Body,
    out: BufferId,
) -> Result<()> {
    let rank = dims.len();
    if axes.iter().any(|&a| a >= rank) {
        return Err(unsupported(format!(
            "reduced axes {axes:?} of a rank-{rank} space"
        )));
    }
    let bd = body.dtype();
    // The accumulator: f64 for float sums and i64 for integer sums (rounded once, the
    // evaluator's definition); max in the body's dtype.
    let acc_d = match (op, bd) {
        (_, DType::Bool) => return Err(unsupported(format!("{} of bool", op.info().op_name))),
        (ReduceOp::Sum, DType::F32 | DType::F64) => DType::F64,
        (ReduceOp::Sum, DType::I32 | DType::I64) => DType::I64,
        (ReduceOp::Max, d) => d,
    };
    let mut sig = Sig::new(o.program);
    sig.reads(&[body, epilogue], &[], out)?;
    sig.output(out)?;
    let red: Vec<usize> = (0..rank)
        .map(|k| if axes.contains(&k) { 1 } else { dims[k] })
        .collect();
    let kept: Vec<Option<String>> = (0..rank)
        .map(|k| (!axes.contains(&k)).then(|| format!("i{k}")))
        .collect();
    let coords = names(rank);
    let mut s = String::new();
    unflatten(&mut s, &red, &kept);
    let init = match acc_d {
        DType::I64 if op == ReduceOp::Sum => int_literal(init as i64, DType::I64),
        d => literal(d, init),
    };
    let _ = writeln!(s, "        {} acc = {init};", ctype(acc_d));
    let mut indent = 8;
    for &a in axes {
        let _ = writeln!(
            s,
            "{}for (long long i{a} = 0; i{a} < {}LL; ++i{a}) {{",
            " ".repeat(indent),
            dims[a]
        );
        indent += 4;
    }
    let site = Site {
        coords: &coords,
        acc: None,
        prefix: "p",
    };
    let v = emit_body(&mut s, body, &site, indent)?;
    let update = match (op, acc_d) {
        (ReduceOp::Sum, DType::F64) => format!("acc += (double){v};"),
        (ReduceOp::Sum, _) => format!(
            "acc = (long long)((unsigned long long)acc + (unsigned long long)(long long){v});"
        ),
        (ReduceOp::Max, DType::F32) => format!("acc = kiln_fmaxf(acc, {v});"),
        (ReduceOp::Max, DType::F64) => format!("acc = kiln_fmax(acc, {v});"),
        (ReduceOp::Max, _) => format!("acc = {v} > acc ? {v} : acc;"),
    };
    let _ = writeln!(s, "{}{update}", " ".repeat(indent));
    for _ in axes {
        indent -= 4;
        let _ = writeln!(s, "{}}}", " ".repeat(indent));
    }
    // The epilogue runs over the output space, where the reduced coordinates are 0.
    s.push_str("        {\n");
    for &a in axes {
        let _ = writeln!(s, "            const long long i{a} = 0;");
    }
    let site = Site {
        coords: &coords,
        acc: Some(("acc", acc_d)),
        prefix: "e",
    };
    let r = emit_body(&mut s, epilogue, &site, 12)?;
    let _ = writeln!(s, "            b{}[t] = {r};", out.0);
    s.push_str("        }\n");
    o.function("", sig, red.iter().product(), &s, false);
    Ok(())
}

fn argmax(o: &mut Out, dims: &[usize], axis: usize, body: &Body, out: BufferId) -> Result<()> {
    let rank = dims.len();
    let len = dims.get(axis).copied().unwrap_or(0);
    if len == 0 {
        return Err(unsupported(format!("argmax over axis {axis} of {dims:?}")));
    }
    let out_d = o
        .program
        .buffers
        .get(out.index())
        .map(|d| d.dtype)
        .unwrap_or(DType::I64);
    let mut sig = Sig::new(o.program);
    sig.reads(&[body], &[], out)?;
    sig.output(out)?;
    let mut od = dims.to_vec();
    od[axis] = 1;
    let kept: Vec<Option<String>> = (0..rank)
        .map(|k| (k != axis).then(|| format!("i{k}")))
        .collect();
    let coords = names(rank);
    let mut s = String::new();
    unflatten(&mut s, &od, &kept);
    let bd = body.dtype();
    let _ = writeln!(s, "        long long best = 0;");
    let _ = writeln!(s, "        {} best_v = {};", ctype(bd), literal(bd, 0.0));
    let _ = writeln!(
        s,
        "        for (long long i{axis} = 0; i{axis} < {len}LL; ++i{axis}) {{"
    );
    let site = Site {
        coords: &coords,
        acc: None,
        prefix: "p",
    };
    let v = emit_body(&mut s, body, &site, 12)?;
    // PyTorch's rule: the first maximum wins, and a NaN beats everything (then stays).
    let _ = writeln!(
        s,
        "            if (i{axis} == 0 || (!(best_v != best_v) && ({v} != {v} || {v} > best_v))) {{"
    );
    let _ = writeln!(s, "                best = i{axis};");
    let _ = writeln!(s, "                best_v = {v};");
    s.push_str("            }\n        }\n");
    let _ = writeln!(
        s,
        "        b{}[t] = {};",
        out.0,
        cast(DType::I64, out_d, "best")
    );
    o.function("", sig, od.iter().product(), &s, false);
    Ok(())
}

/// The naive product: `dst[t] = round(sum_q a[.., i, q] * b[.., q, j])`, accumulated in f64 in
/// order `q = 0..k` (the evaluator's definition).
#[allow(clippy::too_many_arguments)]
fn product(
    o: &mut Out,
    dims: &[usize],
    depth: usize,
    a: &View,
    b: &View,
    dtype: DType,
    out: BufferId,
    to_scratch: bool,
) -> Result<()> {
    let rank = dims.len();
    if rank < 2 || a.strides.len() != rank || b.strides.len() != rank {
        return Err(unsupported(format!(
            "gemm views of rank {} / {} over {dims:?}",
            a.strides.len(),
            b.strides.len()
        )));
    }
    let mut sig = Sig::new(o.program);
    let writes = if to_scratch { BufferId(u32::MAX) } else { out };
    sig.reads(&[], &[a.buffer, b.buffer], writes)?;
    if to_scratch {
        sig.scratch(dtype, true);
    } else {
        sig.output(out)?;
    }
    let coords = names(rank);
    let mut ca = coords.clone();
    ca[rank - 1] = "q".into();
    let mut cb = coords.clone();
    cb[rank - 2] = "q".into();
    let mut s = String::new();
    unflatten(&mut s, dims, &all(rank));
    s.push_str("        double acc = 0.0;\n");
    let _ = writeln!(s, "        for (long long q = 0; q < {depth}LL; ++q) {{");
    let _ = writeln!(
        s,
        "            acc += (double)b{}[{}] * (double)b{}[{}];",
        a.buffer.0,
        affine(a.offset, &a.strides, &ca),
        b.buffer.0,
        affine(b.offset, &b.strides, &cb)
    );
    s.push_str("        }\n");
    let dst = if to_scratch {
        "scratch".to_string()
    } else {
        format!("b{}", out.0)
    };
    let _ = writeln!(s, "        {dst}[t] = {};", cast(DType::F64, dtype, "acc"));
    o.function("_product", sig, dims.iter().product(), &s, true);
    Ok(())
}

/// `out[t] = src[t with axis = index(t)]`, the index checked first.
fn gather(
    o: &mut Out,
    dims: &[usize],
    axis: usize,
    index: &Body,
    src: &View,
    src_dims: &[usize],
    out: BufferId,
) -> Result<()> {
    let rank = dims.len();
    let fits = src.strides.len() == rank
        && src_dims.len() == rank
        && axis < rank
        && (0..rank).all(|k| k == axis || dims[k] <= src_dims[k]);
    if !fits {
        return Err(unsupported(format!(
            "gather over {dims:?} from {src_dims:?} on axis {axis}"
        )));
    }
    let mut sig = Sig::new(o.program);
    sig.reads(&[index], &[src.buffer], out)?;
    sig.output(out)?;
    sig.error();
    let coords = names(rank);
    let mut s = String::new();
    unflatten(&mut s, dims, &all(rank));
    let site = Site {
        coords: &coords,
        acc: None,
        prefix: "x",
    };
    let iv = emit_body(&mut s, index, &site, 8)?;
    check_index(&mut s, index.dtype(), &iv, src_dims[axis]);
    let mut at = coords.clone();
    at[axis] = "iv".into();
    let _ = writeln!(
        s,
        "        b{}[t] = b{}[{}];",
        out.0,
        src.buffer.0,
        affine(src.offset, &src.strides, &at)
    );
    o.function("", sig, dims.iter().product(), &s, false);
    Ok(())
}

/// Declares `iv` (the index as i64) and skips the point, reporting `1 + t`, unless
/// `0 <= iv < size` (one unsigned compare catches negatives too).
fn check_index(s: &mut String, d: DType, iv: &str, size: usize) {
    let _ = writeln!(
        s,
        "        const long long iv = {};",
        cast(d, DType::I64, iv)
    );
    let _ = writeln!(s, "        if ((unsigned long long)iv >= {size}ull) {{");
    s.push_str("            kiln_report(err, (unsigned long long)t + 1ull);\n");
    s.push_str("            continue;\n        }\n");
}

/// `out[t with axis = index(t)] += src(t)` with atomics, the index checked first.
fn scatter(
    o: &mut Out,
    out_dims: &[usize],
    dims: &[usize],
    axis: usize,
    index: &Body,
    src: &Body,
    out: BufferId,
) -> Result<()> {
    let rank = dims.len();
    let fits = out_dims.len() == rank
        && axis < rank
        && (0..rank).all(|k| k == axis || dims[k] <= out_dims[k]);
    if !fits {
        return Err(unsupported(format!(
            "scatter_add over {dims:?} into {out_dims:?} on axis {axis}"
        )));
    }
    let d = src.dtype();
    let mut sig = Sig::new(o.program);
    sig.reads(&[index, src], &[], out)?;
    sig.output(out)?;
    sig.error();
    let coords = names(rank);
    let mut s = String::new();
    unflatten(&mut s, dims, &all(rank));
    let site = Site {
        coords: &coords,
        acc: None,
        prefix: "x",
    };
    let iv = emit_body(&mut s, index, &site, 8)?;
    check_index(&mut s, index.dtype(), &iv, out_dims[axis]);
    let site = Site {
        coords: &coords,
        acc: None,
        prefix: "s",
    };
    let v = emit_body(&mut s, src, &site, 8)?;
    // Row-major strides of the output.
    let mut strides = vec![0isize; rank];
    let mut acc = 1usize;
    for k in (0..rank).rev() {
        strides[k] = acc as isize;
        acc *= out_dims[k];
    }
    let mut at = coords.clone();
    at[axis] = "iv".into();
    let pos = affine(0, &strides, &at);
    let add = match d {
        DType::F32 | DType::F64 | DType::I32 => format!("atomicAdd(&b{}[{pos}], {v});", out.0),
        // Two's complement: an unsigned 64-bit add is the wrapping signed add.
        DType::I64 => format!(
            "atomicAdd((unsigned long long*)&b{}[{pos}], (unsigned long long){v});",
            out.0
        ),
        DType::Bool => return Err(unsupported("scatter_add of bool".into())),
    };
    let _ = writeln!(s, "        {add}");
    o.function("_scatter", sig, dims.iter().product(), &s, false);
    Ok(())
}
