//! Prints the CLIF and the machine code (Cranelift's VCode disassembly) of one math kernel, to
//! inspect what the emitters turn into: `cargo run --release -p kiln-codegen --example
//! math_disasm -- exp` (or log, sin, cos, tanh, sigmoid, pow).

use cranelift_codegen::ir::types;
use kiln_codegen::cpu::jit::{Jit, JitConfig};
use kiln_codegen::cpu::kernels::{define_binary_map, define_unary_map};
use kiln_codegen::cpu::math::{emit_pow_with, UnaryFn};
use kiln_codegen::Result;

fn main() -> Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "exp".to_string());
    let mut jit = Jit::with_config(JitConfig {
        keep_clif: true,
        keep_disasm: true,
        ..JitConfig::default()
    })?;
    if name == "pow" {
        define_binary_map(&mut jit, "pow", types::F32, 1, &|b, c, x, y| {
            emit_pow_with(b, c, x, y)
        })?;
    } else {
        let Some(f) = UnaryFn::ALL.into_iter().find(|f| f.name() == name) else {
            eprintln!("unknown function `{name}`");
            std::process::exit(2);
        };
        define_unary_map(&mut jit, &name, types::F32, 1, &|b, c, x| f.emit(b, c, x))?;
    }
    for (n, text) in jit.clif() {
        println!(";; CLIF of {n}\n{text}");
    }
    for (n, text) in jit.disasm() {
        println!(";; machine code of {n}\n{text}");
    }
    Ok(())
}
