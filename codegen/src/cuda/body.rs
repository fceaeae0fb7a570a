//! Emits a kernel [`Body`] as CUDA C statements, one `const` local per SSA value.
//!
//! Every instruction is computed natively in its dtype with the CPU backend's semantics
//! (`cpu/loops/body.rs`), so that the two backends agree bit for bit wherever the math is exact:
//! - bool is `unsigned char` 0/1; comparisons, `not`, `and`, `or` produce 0/1;
//! - integer add, sub and mul wrap (computed through the unsigned type: signed overflow is
//!   undefined in C); integer neg and abs saturate (`-MIN = MAX`), as the evaluator does;
//! - max/min of floats propagate NaN and order -0 below +0 (`kiln_fmax*` in the prelude);
//! - casts follow `DType::round`: float -> int truncates and saturates with NaN -> 0,
//!   i64 -> i32 saturates, anything -> bool is `!= 0` (NaN is true);
//! - exp, log, sin, cos, tanh, pow and sqrt call CUDA's precise functions (`expf`, `exp`, ...);
//!   the program must be compiled without `--use_fast_math` and with `--fmad=false` so that
//!   `a * b + c` is not contracted into an FMA the CPU backend does not use;
//! - a masked load is `m ? buf[offset] : 0`: where the mask is false the conditional operator
//!   does not evaluate the read, so nothing outside the buffer is touched;
//! - index arithmetic (coordinates, view offsets, affine tests) is 64-bit (`long long`).

use std::fmt::Write;

use kiln_ir::kernel::{Body, InstKind, Val};
use kiln_ir::{BinaryOp, DType, Distribution, MathFn, UnaryOp};

use super::unsupported;
use crate::error::Result;

/// The C type of a dtype's elements (bool is one byte, as in every kiln buffer).
pub(super) fn ctype(d: DType) -> &'static str {
    match d {
        DType::Bool => "unsigned char",
        DType::I32 => "int",
        DType::I64 => "long long",
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

/// A literal of dtype `d` with the value `v` rounded as `DType::round` would.
pub(super) fn literal(d: DType, v: f64) -> String {
    match d {
        DType::Bool => format!("((unsigned char){})", u8::from(v != 0.0)),
        DType::I32 => int_literal(i64::from(v as i32), DType::I32),
        DType::I64 => int_literal(v as i64, DType::I64),
        DType::F32 => {
            let f = v as f32;
            if f.is_finite() {
                // `{:e}` prints the shortest digits that round-trip; C rounds them back exactly.
                format!("{f:e}f")
            } else {
                format!("__int_as_float(0x{:08x})", f.to_bits())
            }
        }
        DType::F64 => {
            if v.is_finite() {
                format!("{v:e}")
            } else {
                format!("__longlong_as_double(0x{:016x}LL)", v.to_bits())
            }
        }
    }
}

/// An integer literal of C type `int` or `long long` (the minimum written as `-MAX - 1`, since
/// `-2147483648` is the negation of a literal that does not fit).
pub(super) fn int_literal(v: i64, d: DType) -> String {
    match d {
        DType::I32 if v == i64::from(i32::MIN) => "(-2147483647 - 1)".into(),
        DType::I32 => format!("{v}"),
        _ if v == i64::MIN => "(-9223372036854775807LL - 1)".into(),
        _ => format!("{v}LL"),
    }
}

/// `offset + sum_k coefs[k] * i_k` as a 64-bit C expression over the coordinate names.
pub(super) fn affine(offset: isize, coefs: &[isize], coords: &[String]) -> String {
    let mut s = format!("({}", int_literal(offset as i64, DType::I64));
    for (c, x) in coefs.iter().zip(coords) {
        if *c != 0 {
            let _ = write!(s, " + {}LL * {x}", c);
        }
    }
    s.push(')');
    s
}

/// Converts the C expression `x` of dtype `from` to `to` (`DType::round`'s rules).
pub(super) fn cast(from: DType, to: DType, x: &str) -> String {
    if from == to {
        return x.to_string();
    }
    match (from, to) {
        (_, DType::Bool) => format!("((unsigned char)({x} != 0))"),
        (DType::F32 | DType::F64, DType::I32) => format!("kiln_f2i32((double)({x}))"),
        (DType::F32 | DType::F64, DType::I64) => format!("kiln_f2i64((double)({x}))"),
        (DType::I64, DType::I32) => format!("kiln_i64_to_i32({x})"),
        _ => format!("(({})({x}))", ctype(to)),
    }
}

/// Where a body is evaluated: the names of the loop coordinates (one per axis of its index
/// space), the accumulated value for [`InstKind::Acc`] with its dtype, and the prefix of its
/// value names (so that two bodies in one scope do not clash).
pub(super) struct Site<'a> {
    /// Coordinate names, `long long`, one per axis.
    pub coords: &'a [String],
    /// The accumulator expression and its dtype, in epilogues.
    pub acc: Option<(&'a str, DType)>,
    /// Prefix of the value names (`p` gives `p0`, `p1`, ...).
    pub prefix: &'a str,
}

/// Appends `body`'s statements at indentation `indent` and returns the name of its result.
pub(super) fn emit_body(
    out: &mut String,
    body: &Body,
    site: &Site,
    indent: usize,
) -> Result<String> {
    let pad = " ".repeat(indent);
    let name = |v: &Val| format!("{}{}", site.prefix, v.0);
    let dtype_of = |v: &Val| -> Result<DType> {
        body.insts
            .get(v.0 as usize)
            .map(|i| i.dtype)
            .ok_or_else(|| unsupported(format!("body value v{} out of range", v.0)))
    };
    for (i, inst) in body.insts.iter().enumerate() {
        let d = inst.dtype;
        // Operands must be earlier values (verified; checked again so that bad IR is an error).
        let operand = |v: &Val| -> Result<String> {
            if (v.0 as usize) < i {
                Ok(name(v))
            } else {
                Err(unsupported(format!(
                    "v{i} uses v{} before it is defined",
                    v.0
                )))
            }
        };
        let expr = match &inst.kind {
            InstKind::Load { view, mask } => {
                let at = affine(view.offset, &view.strides, site.coords);
                let read = format!("b{}[{at}]", view.buffer.0);
                match mask {
                    Some(m) => format!("({} ? {read} : ({})0)", operand(m)?, ctype(d)),
                    None => read,
                }
            }
            InstKind::Const(c) => literal(d, *c),
            InstKind::Index(axis) => {
                let c = site
                    .coords
                    .get(*axis)
                    .ok_or_else(|| unsupported(format!("index of axis {axis} out of range")))?;
                cast(DType::I64, d, c)
            }
            InstKind::InRange { index, lo, hi } => {
                let a = affine(index.offset, &index.coefs, site.coords);
                format!(
                    "((unsigned char)({a} >= {} && {a} < {}))",
                    int_literal(*lo as i64, DType::I64),
                    int_literal(*hi as i64, DType::I64)
                )
            }
            InstKind::Unary(op, x) => unary(*op, d, &operand(x)?)?,
            InstKind::Binary(op, x, y) => binary(*op, dtype_of(x)?, &operand(x)?, &operand(y)?)?,
            InstKind::Select(c, x, y) => {
                format!("({} ? {} : {})", operand(c)?, operand(x)?, operand(y)?)
            }
            InstKind::Cast(x) => cast(dtype_of(x)?, d, &operand(x)?),
            InstKind::Random { dist, seed, index } => {
                let f = match dist {
                    Distribution::Uniform => "kiln_philox_uniform",
                    Distribution::Normal => "kiln_philox_normal",
                };
                // A negative index only occurs under a false mask; the evaluator yields 0 there.
                let at = affine(index.offset, &index.coefs, site.coords);
                let r = format!("({at} < 0 ? 0.0f : {f}({seed}ull, (unsigned long long){at}))");
                cast(DType::F32, d, &r)
            }
            InstKind::Acc => {
                let (acc, acc_dtype) = site
                    .acc
                    .ok_or_else(|| unsupported("`acc` outside an epilogue".into()))?;
                cast(acc_dtype, d, acc)
            }
        };
        let _ = writeln!(out, "{pad}const {} {}{i} = {expr};", ctype(d), site.prefix);
    }
    if (body.result.0 as usize) < body.insts.len() {
        Ok(name(&body.result))
    } else {
        Err(unsupported(format!(
            "body result v{} out of range",
            body.result.0
        )))
    }
}

/// CUDA's precise routine for `f` in dtype `d` (`expf` / `exp`, ...).
fn math(f: MathFn, d: DType, args: &[&str]) -> Result<String> {
    let base = match f {
        MathFn::Exp => "exp",
        MathFn::Log => "log",
        MathFn::Sin => "sin",
        MathFn::Cos => "cos",
        MathFn::Tanh => "tanh",
        MathFn::Sigmoid => "kiln_sigmoid",
        MathFn::Pow => "pow",
    };
    let suffix = match d {
        DType::F32 => "f",
        DType::F64 => "",
        DType::Bool | DType::I32 | DType::I64 => {
            return Err(unsupported(format!("`{base}` of {d}")));
        }
    };
    Ok(format!("{base}{suffix}({})", args.join(", ")))
}

/// The smallest and largest value of an integer dtype as C literals.
fn int_bounds(d: DType) -> (String, String) {
    match d {
        DType::I32 => (
            int_literal(i64::from(i32::MIN), d),
            int_literal(i64::from(i32::MAX), d),
        ),
        _ => (int_literal(i64::MIN, d), int_literal(i64::MAX, d)),
    }
}

fn unary(op: UnaryOp, d: DType, x: &str) -> Result<String> {
    let float = d.is_float();
    let int = d.is_int();
    let bad = || unsupported(format!("`{}` of {d}", op.name()));
    Ok(match op {
        UnaryOp::Neg if float => format!("(-{x})"),
        UnaryOp::Neg if int => {
            let (min, max) = int_bounds(d);
            format!("({x} == {min} ? {max} : -{x})")
        }
        UnaryOp::Abs if float => format!("{}({x})", if d == DType::F32 { "fabsf" } else { "fabs" }),
        UnaryOp::Abs if int => {
            let (min, max) = int_bounds(d);
            format!("({x} < 0 ? ({x} == {min} ? {max} : -{x}) : {x})")
        }
        UnaryOp::Neg | UnaryOp::Abs => return Err(bad()),
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid => math(op.math().ok_or_else(bad)?, d, &[x])?,
        UnaryOp::Sqrt if d == DType::F32 => format!("sqrtf({x})"),
        UnaryOp::Sqrt if d == DType::F64 => format!("sqrt({x})"),
        UnaryOp::Recip if d == DType::F32 => format!("(1.0f / {x})"),
        UnaryOp::Recip if d == DType::F64 => format!("(1.0 / {x})"),
        UnaryOp::Sqrt | UnaryOp::Recip => return Err(bad()),
        UnaryOp::Not if d == DType::Bool => format!("((unsigned char)({x} ^ 1))"),
        UnaryOp::Not => return Err(bad()),
    })
}

/// Binary op `op` on operands of dtype `d`.
fn binary(op: BinaryOp, d: DType, x: &str, y: &str) -> Result<String> {
    let bad = || unsupported(format!("`{}` of {d}", op.name()));
    let wrap = |sym: &str| -> Result<String> {
        match d {
            DType::F32 | DType::F64 => Ok(format!("({x} {sym} {y})")),
            DType::I32 => Ok(format!(
                "((int)((unsigned int){x} {sym} (unsigned int){y}))"
            )),
            DType::I64 => Ok(format!(
                "((long long)((unsigned long long){x} {sym} (unsigned long long){y}))"
            )),
            DType::Bool => Err(bad()),
        }
    };
    let cmp = |sym: &str| format!("((unsigned char)({x} {sym} {y}))");
    Ok(match op {
        BinaryOp::Add => wrap("+")?,
        BinaryOp::Sub => wrap("-")?,
        BinaryOp::Mul => wrap("*")?,
        BinaryOp::Div if d.is_float() => format!("({x} / {y})"),
        BinaryOp::Div => return Err(bad()),
        BinaryOp::Max | BinaryOp::Min => {
            let is_max = op == BinaryOp::Max;
            match d {
                DType::F32 => format!("kiln_f{}f({x}, {y})", if is_max { "max" } else { "min" }),
                DType::F64 => format!("kiln_f{}({x}, {y})", if is_max { "max" } else { "min" }),
                // Bools compare as 0 < 1, integers signed.
                DType::Bool | DType::I32 | DType::I64 => {
                    format!("({x} {} {y} ? {x} : {y})", if is_max { ">" } else { "<" })
                }
            }
        }
        BinaryOp::Pow => math(MathFn::Pow, d, &[x, y])?,
        BinaryOp::Eq => cmp("=="),
        BinaryOp::Ne => cmp("!="),
        BinaryOp::Lt => cmp("<"),
        BinaryOp::Le => cmp("<="),
        BinaryOp::Gt => cmp(">"),
        BinaryOp::Ge => cmp(">="),
        BinaryOp::And if d == DType::Bool => format!("((unsigned char)({x} & {y}))"),
        BinaryOp::Or if d == DType::Bool => format!("((unsigned char)({x} | {y}))"),
        BinaryOp::And | BinaryOp::Or => return Err(bad()),
    })
}
