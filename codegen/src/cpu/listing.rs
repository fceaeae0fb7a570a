//! The CLIF that the CPU backend generates for a program, as text (`dump-ir --clif`): every
//! loop kernel and every GEMM epilogue, compiled exactly as the executor compiles them.

use crate::cpu::jit::{Jit, JitConfig};
use crate::cpu::loops::{compile_gemm_epilogue, compile_loop_kernel};
use crate::Result;
use kiln_ir::kernel::{KernelKind, Program};

/// The CLIF of every function the CPU backend would compile for `program`, each preceded by a
/// `; kernel N (kind)` comment line. GEMMs themselves run in a library and have no CLIF; a GEMM
/// without an epilogue is listed as such.
pub fn clif_listing(program: &Program) -> Result<String> {
    let mut jit = Jit::with_config(JitConfig {
        keep_clif: true,
        ..JitConfig::default()
    })?;
    let mut out = String::new();
    for (i, kernel) in program.kernels.iter().enumerate() {
        let name = format!("kiln_k{i}_{}", kernel.kind_name().replace('.', "_"));
        let before = jit.clif().len();
        match &kernel.kind {
            KernelKind::Gemm { .. } => {
                compile_gemm_epilogue(&mut jit, program, i, &name)?;
            }
            KernelKind::Elementwise { .. }
            | KernelKind::Reduce { .. }
            | KernelKind::ArgMax { .. }
            | KernelKind::Gather { .. }
            | KernelKind::ScatterAdd { .. } => {
                compile_loop_kernel(&mut jit, program, i, &name)?;
            }
        }
        out.push_str(&format!("; kernel {i} ({})\n", kernel.kind_name()));
        if jit.clif().len() == before {
            out.push_str("; (a library GEMM with no epilogue: no generated code)\n\n");
        }
        for (_, text) in &jit.clif()[before..] {
            out.push_str(text);
            out.push('\n');
        }
    }
    // Compiled as the executor would, so that CLIF Cranelift rejects is an error here too.
    jit.finalize()?;
    Ok(out)
}
