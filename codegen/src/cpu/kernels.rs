//! Elementwise map kernels over contiguous buffers: `dst[i] = f(src[i])` and
//! `dst[i] = f(a[i], b[i])`, vectorised with the 128-bit vector of the element type, unrolled,
//! with a scalar tail.
//!
//! Signatures of the generated functions (System V, i.e. `extern "C"` on x86-64):
//! - unary: `fn(n: i64, src: *const T, dst: *mut T)`
//! - binary: `fn(n: i64, a: *const T, b: *const T, dst: *mut T)`
//!
//! Guarantees: element `i` is read and written for `0 <= i < n` only (nothing when `n <= 0`);
//! `f` sees the vector type for the main loop and the scalar type for the tail, so a function
//! emitted by [`crate::cpu::math`] gives the same result in both. All constants `f` needs are
//! emitted once in the entry block, outside the loops (see [`Consts::prepare`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::FuncId;

use crate::cpu::jit::Jit;
use crate::cpu::math::Consts;
use crate::error::{CodegenError, Result};

/// The body of a unary map: emits `f(x)` for `x` of the vector or the scalar element type.
pub type UnaryBody<'f> = dyn Fn(&mut FunctionBuilder, &mut Consts, Value) -> Result<Value> + 'f;
/// The body of a binary map.
pub type BinaryBody<'f> =
    dyn Fn(&mut FunctionBuilder, &mut Consts, Value, Value) -> Result<Value> + 'f;

/// Defines `name` as a unary map over elements of type `elem` (`f32` or `f64`), with the vector
/// loop unrolled `unroll` times (at least 1).
pub fn define_unary_map(
    jit: &mut Jit,
    name: &str,
    elem: Type,
    unroll: usize,
    f: &UnaryBody,
) -> Result<FuncId> {
    define_map(jit, name, elem, unroll, 1, &|b, c, args| f(b, c, args[0]))
}

/// Defines `name` as a binary map over elements of type `elem` (`f32` or `f64`).
pub fn define_binary_map(
    jit: &mut Jit,
    name: &str,
    elem: Type,
    unroll: usize,
    f: &BinaryBody,
) -> Result<FuncId> {
    define_map(jit, name, elem, unroll, 2, &|b, c, args| {
        f(b, c, args[0], args[1])
    })
}

type ArgsBody<'f> = dyn Fn(&mut FunctionBuilder, &mut Consts, &[Value]) -> Result<Value> + 'f;

fn define_map(
    jit: &mut Jit,
    name: &str,
    elem: Type,
    unroll: usize,
    arity: usize,
    f: &ArgsBody,
) -> Result<FuncId> {
    let vec = match elem {
        types::F32 => types::F32X4,
        types::F64 => types::F64X2,
        other => {
            return Err(CodegenError::UnsupportedType {
                op: "map kernel",
                ty: other.to_string(),
            })
        }
    };
    let unroll = unroll.max(1);
    let lanes = i64::from(vec.lane_count());
    let esize = i64::from(elem.bytes());
    let step = lanes * unroll as i64;
    let ptr = jit.pointer_type();
    let mut sig = jit.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    for _ in 0..=arity {
        sig.params.push(AbiParam::new(ptr));
    }
    jit.define_function(name, sig, |b| {
        let entry = b.create_block();
        let vhead = b.create_block();
        let vbody = b.create_block();
        let shead = b.create_block();
        let sbody = b.create_block();
        let exit = b.create_block();
        for blk in [vhead, vbody, shead, sbody] {
            b.append_block_param(blk, types::I64);
        }
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let n = params[0];
        let srcs = params[1..=arity].to_vec();
        let dst = params[arity + 1];

        let mut consts = Consts::new();
        // Constants for the vector and the scalar loop, defined here, before both loops.
        consts.prepare(b, vec, |b, c, x| f(b, c, &vec![x; arity]))?;
        consts.prepare(b, elem, |b, c, x| f(b, c, &vec![x; arity]))?;
        let zero = b.ins().iconst(types::I64, 0);
        b.ins().jump(vhead, &[zero.into()]);

        // Vector loop: while i + step <= n.
        b.switch_to_block(vhead);
        let i = b.block_params(vhead)[0];
        let next = b.ins().iadd_imm_s(i, step);
        let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, n);
        b.ins().brif(fits, vbody, &[i.into()], shead, &[i.into()]);

        b.switch_to_block(vbody);
        let i = b.block_params(vbody)[0];
        let flags = MemFlagsData::new().with_notrap();
        for u in 0..unroll as i64 {
            let off = offset(b, i, u * lanes, esize);
            let args = load_all(b, &srcs, off, vec, flags);
            let y = f(b, &mut consts, &args)?;
            let p = b.ins().iadd(dst, off);
            b.ins().store(flags, y, p, 0);
        }
        let next = b.ins().iadd_imm_s(i, step);
        b.ins().jump(vhead, &[next.into()]);

        // Scalar tail: while i < n.
        b.switch_to_block(shead);
        let i = b.block_params(shead)[0];
        let more = b.ins().icmp(IntCC::SignedLessThan, i, n);
        b.ins().brif(more, sbody, &[i.into()], exit, &[]);

        b.switch_to_block(sbody);
        let i = b.block_params(sbody)[0];
        let off = offset(b, i, 0, esize);
        let args = load_all(b, &srcs, off, elem, flags);
        let y = f(b, &mut consts, &args)?;
        let p = b.ins().iadd(dst, off);
        b.ins().store(flags, y, p, 0);
        let next = b.ins().iadd_imm_s(i, 1);
        b.ins().jump(shead, &[next.into()]);

        b.switch_to_block(exit);
        b.ins().return_(&[]);
        Ok(())
    })
}

/// Byte offset of element `i + extra`.
fn offset(b: &mut FunctionBuilder, i: Value, extra: i64, esize: i64) -> Value {
    let j = if extra != 0 {
        b.ins().iadd_imm_s(i, extra)
    } else {
        i
    };
    b.ins().imul_imm_s(j, esize)
}

fn load_all(
    b: &mut FunctionBuilder,
    srcs: &[Value],
    off: Value,
    ty: Type,
    flags: MemFlagsData,
) -> Vec<Value> {
    srcs.iter()
        .map(|&s| {
            let p = b.ins().iadd(s, off);
            b.ins().load(ty, flags, p, 0)
        })
        .collect()
}
