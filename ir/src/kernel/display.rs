//! Text forms of a [`Program`] for `dump-ir`: the kernels (`Display`, `--stage kernels`), the
//! fusion groups ([`Program::groups_text`], `--stage fused`) and the memory plan
//! ([`Program::plan_text`], `--stage plan`). Each ends with its summary line.
//!
//! The kernel listing is an SSA pseudo code, one block per kernel:
//!
//! ```text
//! kernel k1 reduce.sum [32,100] axes=[1] -> b2   ; %2 %3 %4 %5
//!   v0 = load f32 b0[0; 100, 1]
//!   v1 = load f32 b1[0; 1, 0]
//!   v2 = sub f32 v0, v1
//!   v3 = exp f32 v2
//!   yield v3
//!   epilogue [32,1]:
//!     v0 = acc f32
//!     yield v0
//! ```
//!
//! A load prints as `buffer[offset; stride per loop axis]` (stride 0 broadcasts) and
//! `if vN` when masked; affine coordinates print as `3*i0 + i1 - 1`.

use super::{Affine, Body, BufferKind, InstKind, Kernel, KernelKind, Program, View};
use std::fmt::{self, Write};

impl fmt::Display for Affine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (k, &c) in self.coefs.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let term = if c.abs() == 1 {
                format!("i{k}")
            } else {
                format!("{}*i{k}", c.abs())
            };
            if s.is_empty() {
                s = if c < 0 { format!("-{term}") } else { term };
            } else {
                let sign = if c < 0 { '-' } else { '+' };
                let _ = write!(s, " {sign} {term}");
            }
        }
        if s.is_empty() {
            s = self.offset.to_string();
        } else if self.offset != 0 {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let _ = write!(s, " {sign} {}", self.offset.abs());
        }
        f.write_str(&s)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strides: Vec<String> = self.strides.iter().map(|s| s.to_string()).collect();
        write!(
            f,
            "b{}[{}; {}]",
            self.buffer.0,
            self.offset,
            strides.join(", ")
        )
    }
}

fn write_body(out: &mut String, body: &Body, indent: &str) {
    for (i, inst) in body.insts.iter().enumerate() {
        let d = inst.dtype;
        let rhs = match &inst.kind {
            InstKind::Load { view, mask } => match mask {
                Some(m) => format!("load {d} {view} if v{}", m.0),
                None => format!("load {d} {view}"),
            },
            InstKind::Const(c) => format!("const {d} {c:?}"),
            InstKind::Index(a) => format!("index {d} i{a}"),
            InstKind::InRange { index, lo, hi } => {
                format!("inrange {d} {index} in [{lo}, {hi})")
            }
            InstKind::Unary(u, x) => format!("{} {d} v{}", u.name(), x.0),
            InstKind::Binary(b, x, y) => format!("{} {d} v{}, v{}", b.name(), x.0, y.0),
            InstKind::Select(c, x, y) => format!("select {d} v{}, v{}, v{}", c.0, x.0, y.0),
            InstKind::Cast(x) => format!("cast {d} v{}", x.0),
            InstKind::Random { dist, seed, index } => {
                format!("random.{} {d} seed={seed} index={index}", dist.name())
            }
            InstKind::Acc => format!("acc {d}"),
        };
        let _ = writeln!(out, "{indent}v{i} = {rhs}");
    }
    let _ = writeln!(out, "{indent}yield v{}", body.result.0);
}

fn nodes_list(k: &Kernel) -> String {
    let ids: Vec<String> = k.nodes.iter().map(|n| n.to_string()).collect();
    ids.join(" ")
}

fn dims_text(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(|x| x.to_string()).collect();
    format!("[{}]", v.join(","))
}

/// The header line's description of a kernel (everything after `kernel kN`).
fn header(k: &Kernel) -> String {
    match &k.kind {
        KernelKind::Elementwise { shape, out, .. } => {
            format!("elementwise {shape} -> b{}", out.0)
        }
        KernelKind::Reduce {
            shape,
            axes,
            init,
            out,
            ..
        } => format!(
            "{} {shape} axes={} init={init:?} -> b{}",
            k.kind_name(),
            dims_text(axes),
            out.0
        ),
        KernelKind::ArgMax {
            shape, axis, out, ..
        } => format!("argmax {shape} axis={axis} -> b{}", out.0),
        KernelKind::Gemm {
            batch,
            m,
            n,
            k: kk,
            a,
            b,
            out,
            dtype,
            ..
        } => format!(
            "gemm {dtype} batch={} m={m} n={n} k={kk} a={a} b={b} -> b{}",
            dims_text(batch),
            out.0
        ),
        KernelKind::Gather {
            shape,
            axis,
            src,
            src_dims,
            out,
            ..
        } => format!(
            "gather {shape} axis={axis} src={src} src_dims={} -> b{}",
            dims_text(src_dims),
            out.0
        ),
        KernelKind::ScatterAdd {
            out_shape,
            shape,
            axis,
            out,
            ..
        } => format!(
            "scatter_add {out_shape} from {shape} axis={axis} -> b{}",
            out.0
        ),
    }
}

/// One line per parameter a training step writes: `update "w" -> b3`.
fn write_updates(out: &mut String, program: &Program) {
    for (name, b) in &program.updates {
        let _ = writeln!(out, "update {name:?} -> b{}", b.0);
    }
}

fn buffer_kind(kind: &BufferKind) -> String {
    match kind {
        BufferKind::Input(n) => format!("input {n:?}"),
        BufferKind::Param(n) => format!("param {n:?}"),
        BufferKind::Const(_) => "const".into(),
        BufferKind::Temp => "temp".into(),
        BufferKind::Output(i) => format!("output {i}"),
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (i, b) in self.buffers.iter().enumerate() {
            let _ = writeln!(
                out,
                "b{i} = {} {}{}   ; {}",
                buffer_kind(&b.kind),
                b.dtype,
                b.shape,
                b.node
            );
        }
        write_updates(&mut out, self);
        for (i, k) in self.kernels.iter().enumerate() {
            let _ = writeln!(out, "kernel k{i} {}   ; {}", header(k), nodes_list(k));
            match &k.kind {
                KernelKind::Elementwise { body, .. } | KernelKind::ArgMax { body, .. } => {
                    write_body(&mut out, body, "  ")
                }
                KernelKind::Reduce { body, epilogue, .. } => {
                    write_body(&mut out, body, "  ");
                    let shape = &self.buffer(k.out()).shape;
                    let _ = writeln!(out, "  epilogue {shape}:");
                    write_body(&mut out, epilogue, "    ");
                }
                KernelKind::Gemm { epilogue, .. } => {
                    if let Some(e) = epilogue {
                        let shape = &self.buffer(k.out()).shape;
                        let _ = writeln!(out, "  epilogue {shape}:");
                        write_body(&mut out, e, "    ");
                    }
                }
                KernelKind::Gather { index, .. } => {
                    let _ = writeln!(out, "  index:");
                    write_body(&mut out, index, "    ");
                }
                KernelKind::ScatterAdd {
                    base, index, src, ..
                } => {
                    let _ = writeln!(out, "  base:");
                    write_body(&mut out, base, "    ");
                    let _ = writeln!(out, "  index:");
                    write_body(&mut out, index, "    ");
                    let _ = writeln!(out, "  src:");
                    write_body(&mut out, src, "    ");
                }
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        f.write_str(&out)
    }
}

impl Program {
    /// The fusion groups: per kernel, its kind, index space, output buffer and the graph nodes
    /// it computes; then `nodes: N, kernels: K`.
    pub fn groups_text(&self) -> String {
        let mut out = String::new();
        for (i, k) in self.kernels.iter().enumerate() {
            let _ = writeln!(
                out,
                "k{i} {} -> b{}: {}",
                k.kind_name(),
                k.out().0,
                nodes_list(k)
            );
        }
        let _ = writeln!(
            out,
            "nodes: {}, kernels: {}",
            self.graph_nodes,
            self.kernels.len()
        );
        out
    }

    /// The memory plan: per buffer its kind, type, size, arena offset (temporaries) and live
    /// range in kernels; then the summary line.
    pub fn plan_text(&self) -> String {
        let mut out = String::new();
        for (i, b) in self.buffers.iter().enumerate() {
            let place = match self.plan.offsets.get(i).copied().flatten() {
                Some(o) => format!("arena @{o}"),
                None => "own storage".into(),
            };
            let live = match self.plan.live.get(i).copied().flatten() {
                Some((s, e)) => format!("k{s}..k{e}"),
                None => "-".into(),
            };
            let ty = format!("{}{}", b.dtype, b.shape);
            let _ = writeln!(
                out,
                "b{i:<3} {:<12} {ty:<16} {:>10} B  {place:<14} live {live}",
                buffer_kind(&b.kind),
                b.bytes()
            );
        }
        write_updates(&mut out, self);
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}
