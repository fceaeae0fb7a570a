//! A small wrapper over `cranelift-jit`: build the native ISA, define functions, finalize, and
//! hand out function pointers.
//!
//! Guarantees:
//! - The ISA is the host's, detected by `cranelift_native::builder()`, so `has_avx`, `has_avx2`
//!   and `has_fma` are set where the CPU has them (without `has_fma`, Cranelift lowers `fma` on
//!   vectors to a per-lane libcall, which is very slow). `opt_level` defaults to `"speed"`, which
//!   also runs the e-graph mid-end (GVN, loop-invariant code motion, dead-code removal).
//! - Every defined function is run through Cranelift's verifier (unless turned off in
//!   [`JitConfig`]); verifier failures come back as [`CodegenError::Module`] with the offending
//!   CLIF printed in the message.
//! - Pointers from [`Jit::function_ptr`] stay valid exactly as long as the [`Jit`] lives: dropping
//!   it frees the code memory.
//! - [`Jit::define_function`] only builds the CLIF; [`Jit::finalize`] compiles every pending
//!   function, on up to [`JitConfig::threads`] threads (Cranelift compiles each function
//!   independently; the code does not depend on which thread compiled it), then defines them in
//!   order. So errors of Cranelift's verifier or backend come from `finalize`, naming the
//!   function.

use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cranelift_codegen::ir::{Function, Signature, Type, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, ModuleError};

use crate::error::{CodegenError, Result};

/// Cranelift's optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptLevel {
    /// No mid-end optimisation: fastest compile.
    None,
    /// E-graph optimisations (GVN, LICM, DCE, algebraic rewrites).
    Speed,
}

/// How to build a [`Jit`].
#[derive(Debug, Clone)]
pub struct JitConfig {
    /// Cranelift's `opt_level`; [`OptLevel::Speed`] by default.
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier on every function (on by default; it costs a few percent of
    /// compile time and turns malformed CLIF into an error instead of a miscompile).
    pub verify: bool,
    /// Keep the CLIF text of each defined function (for `dump-ir --clif` and debugging).
    pub keep_clif: bool,
    /// Keep Cranelift's disassembly (VCode with the final registers) of each function.
    pub keep_disasm: bool,
    /// Parallel compile tasks at [`Jit::finalize`] (at least 1), run on the process's worker pool.
    pub threads: usize,
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig {
            opt_level: OptLevel::Speed,
            verify: true,
            keep_clif: false,
            keep_disasm: false,
            threads: crate::cpu::threads::configured_threads(),
        }
    }
}

/// A function whose CLIF is built but not yet compiled.
struct Pending {
    id: FuncId,
    name: String,
    func: Function,
}

/// What compiling one function produced (on any thread).
struct Compiled {
    alignment: u64,
    bytes: Vec<u8>,
    relocs: Vec<cranelift_module::ModuleReloc>,
    disasm: Option<String>,
}

/// A JIT module for the host CPU: define functions with [`Jit::define_function`], then
/// [`Jit::finalize`], then get pointers with [`Jit::function_ptr`].
pub struct Jit {
    /// `ManuallyDrop` so that `Drop` can move it out and free its memory.
    module: ManuallyDrop<JITModule>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    /// Declared functions, by id index: name and whether code memory for it is final.
    functions: Vec<(FuncId, String)>,
    finalized_upto: usize,
    /// Built, not yet compiled (in definition order).
    pending: Vec<Pending>,
    clif: Vec<(String, String)>,
    disasm: Vec<(String, String)>,
    config: JitConfig,
}

impl Jit {
    /// A JIT for the host with the default [`JitConfig`] (opt_level "speed", verifier on).
    pub fn new() -> Result<Self> {
        Self::with_config(JitConfig::default())
    }

    /// A JIT for the host with the given configuration.
    pub fn with_config(config: JitConfig) -> Result<Self> {
        let isa = native_isa(&config)?;
        let builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        let module = JITModule::new(builder);
        let ctx = module.make_context();
        Ok(Jit {
            module: ManuallyDrop::new(module),
            ctx,
            fctx: FunctionBuilderContext::new(),
            functions: Vec::new(),
            finalized_upto: 0,
            pending: Vec::new(),
            clif: Vec::new(),
            disasm: Vec::new(),
            config,
        })
    }

    /// The target ISA (to query flags such as `has_fma`).
    pub fn isa(&self) -> &dyn TargetIsa {
        self.module.isa()
    }

    /// The pointer type of the host (`i64` on x86-64).
    pub fn pointer_type(&self) -> Type {
        self.module.target_config().pointer_type()
    }

    /// An empty signature with the host's default calling convention.
    pub fn make_signature(&self) -> Signature {
        self.module.make_signature()
    }

    /// Declares function `name` with signature `sig` and builds its CLIF; `body` fills it in.
    /// The function is compiled by the next [`Jit::finalize`].
    ///
    /// `body` gets a fresh [`FunctionBuilder`] and must create the entry block itself (append
    /// the signature's parameters with `append_block_params_for_function_params`) and end every
    /// block with a terminator. Blocks left unsealed are sealed afterwards.
    pub fn define_function<F>(&mut self, name: &str, sig: Signature, body: F) -> Result<FuncId>
    where
        F: FnOnce(&mut FunctionBuilder) -> Result<()>,
    {
        let id = self
            .module
            .declare_function(name, Linkage::Export, &sig)
            .map_err(|e| module_error("declaring", name, e, None))?;
        self.module.clear_context(&mut self.ctx);
        self.ctx.func = Function::with_name_signature(UserFuncName::user(0, id.as_u32()), sig);
        let frontend_config = self.module.target_config();
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            body(&mut b)?;
            b.seal_all_blocks();
            b.finalize(frontend_config);
        }
        if self.config.keep_clif {
            self.clif
                .push((name.to_string(), self.ctx.func.display().to_string()));
        }
        let func = std::mem::replace(&mut self.ctx.func, Function::new());
        self.pending.push(Pending {
            id,
            name: name.to_string(),
            func,
        });
        self.functions.push((id, name.to_string()));
        Ok(id)
    }

    /// Compiles every pending function (in parallel when there are several) and makes every
    /// function defined so far callable (relocations applied, memory made executable).
    /// Functions may be defined and finalized again afterwards.
    pub fn finalize(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let compiled = self.compile_pending(&pending);
        for (p, c) in pending.iter().zip(compiled) {
            let c = c?;
            self.module
                .define_function_bytes(p.id, c.alignment, &c.bytes, &c.relocs)
                .map_err(|e| module_error("defining", &p.name, e, None))?;
            if let Some(text) = c.disasm {
                self.disasm.push((p.name.clone(), text));
            }
        }
        self.module
            .finalize_definitions()
            .map_err(|e| module_error("finalizing", "", e, None))?;
        self.finalized_upto = self.functions.len();
        Ok(())
    }

    /// Compiles `pending` as up to `config.threads` tasks on the process's worker pool, each
    /// taking the next function (on this thread alone when the pool cannot start).
    fn compile_pending(&self, pending: &[Pending]) -> Vec<Result<Compiled>> {
        let isa = self.module.isa();
        let keep_disasm = self.config.keep_disasm;
        let workers = self.config.threads.clamp(1, pending.len().max(1));
        let pool = match workers {
            1 => None,
            _ => crate::cpu::threads::worker_pool().ok(),
        };
        let Some(pool) = pool else {
            return pending
                .iter()
                .map(|p| compile_one(isa, p, keep_disasm))
                .collect();
        };
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<(usize, Result<Compiled>)>> = Mutex::new(Vec::new());
        pool.scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = pending.get(i) else { break };
                    // A panic (a Cranelift bug) must not take the pool or the caller down: the
                    // function is left without a result, reported below as not compiled.
                    let compiled =
                        catch_unwind(AssertUnwindSafe(|| compile_one(isa, p, keep_disasm)));
                    if let Ok(r) = compiled {
                        done.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
                    }
                });
            }
        });
        let mut results: Vec<Option<Result<Compiled>>> = (0..pending.len()).map(|_| None).collect();
        for (i, r) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .zip(pending)
            .map(|(r, p)| {
                r.unwrap_or_else(|| {
                    Err(CodegenError::Module {
                        stage: "compiling",
                        function: p.name.clone(),
                        message: "the compiling thread panicked".into(),
                    })
                })
            })
            .collect()
    }

    /// The entry address of a finalized function. Cast it to the matching `extern "C"` fn type
    /// (in an `unsafe` block whose SAFETY comment names the signature); it is valid while `self`
    /// lives.
    pub fn function_ptr(&self, id: FuncId) -> Result<*const u8> {
        match self.functions[..self.finalized_upto]
            .iter()
            .find(|(f, _)| *f == id)
        {
            Some(_) => Ok(self.module.get_finalized_function(id)),
            None => Err(CodegenError::NotFinalized {
                function: self
                    .functions
                    .iter()
                    .find(|(f, _)| *f == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| format!("{id}")),
            }),
        }
    }

    /// CLIF text of the functions defined so far, as `(name, text)`, when
    /// [`JitConfig::keep_clif`] is set (empty otherwise). The text is the builder's output,
    /// before Cranelift's optimisations.
    pub fn clif(&self) -> &[(String, String)] {
        &self.clif
    }
}

impl Jit {
    /// Disassembly of the functions defined so far, as `(name, text)`, when
    /// [`JitConfig::keep_disasm`] is set (empty otherwise).
    pub fn disasm(&self) -> &[(String, String)] {
        &self.disasm
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: the module is taken out exactly once, here, and never used again. Function
        // pointers handed out by `function_ptr` are documented to die with the `Jit`.
        unsafe { ManuallyDrop::take(&mut self.module).free_memory() };
    }
}

/// Compiles one function with `isa` (on any thread): machine code, alignment, relocations.
fn compile_one(isa: &dyn TargetIsa, p: &Pending, keep_disasm: bool) -> Result<Compiled> {
    let mut ctx = Context::for_function(p.func.clone());
    ctx.set_disasm(keep_disasm);
    let code = ctx
        .compile(isa, &mut Default::default())
        .map_err(|e| module_error("defining", &p.name, e.into(), Some(&p.func)))?;
    let alignment = u64::from(code.buffer.alignment)
        .max(u64::from(isa.function_alignment().minimum))
        .max(isa.symbol_alignment());
    let relocs = code
        .buffer
        .relocs()
        .iter()
        .map(|r| cranelift_module::ModuleReloc::from_mach_reloc(r, &p.func, p.id))
        .collect();
    let bytes = code.code_buffer().to_vec();
    let disasm = keep_disasm.then(|| code.vcode.clone()).flatten();
    Ok(Compiled {
        alignment,
        bytes,
        relocs,
        disasm,
    })
}

/// Builds the host ISA: cranelift-native detects the CPU features (SSE4.1, AVX, AVX2, FMA...)
/// and we add kiln's shared flags on top.
fn native_isa(config: &JitConfig) -> Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let opt = match config.opt_level {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
    };
    set_flag(&mut flags, "opt_level", opt)?;
    set_flag(
        &mut flags,
        "enable_verifier",
        if config.verify { "true" } else { "false" },
    )?;
    // JIT code lives at arbitrary addresses: calls to symbols must not assume +-2 GiB reach.
    set_flag(&mut flags, "use_colocated_libcalls", "false")?;
    set_flag(&mut flags, "is_pic", "false")?;
    let isa_builder =
        cranelift_native::builder().map_err(|reason| CodegenError::HostUnsupported {
            reason: reason.to_string(),
        })?;
    isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError::Isa {
            message: e.to_string(),
        })
}

fn set_flag(flags: &mut settings::Builder, flag: &str, value: &str) -> Result<()> {
    flags.set(flag, value).map_err(|e| CodegenError::Setting {
        flag: flag.to_string(),
        value: value.to_string(),
        message: e.to_string(),
    })
}

/// Turns a `ModuleError` into [`CodegenError::Module`]; verifier errors are printed with the
/// function's CLIF so the message points at the bad instruction.
fn module_error(
    stage: &'static str,
    function: &str,
    e: ModuleError,
    func: Option<&Function>,
) -> CodegenError {
    let message = match (&e, func) {
        (
            ModuleError::Compilation(cranelift_codegen::CodegenError::Verifier(errors)),
            Some(func),
        ) => cranelift_codegen::print_errors::pretty_verifier_error(func, None, errors.clone()),
        _ => e.to_string(),
    };
    CodegenError::Module {
        stage,
        function: function.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_codegen::ir::{types, AbiParam, InstBuilder};

    #[test]
    fn native_isa_has_fma_where_the_cpu_does() {
        let jit = Jit::new().expect("host ISA");
        #[cfg(target_arch = "x86_64")]
        {
            let has = |name: &str| {
                jit.isa()
                    .isa_flags()
                    .iter()
                    .any(|v| v.name == name && v.as_bool() == Some(true))
            };
            assert_eq!(has("has_fma"), std::is_x86_feature_detected!("fma"));
            assert_eq!(has("has_avx2"), std::is_x86_feature_detected!("avx2"));
        }
        let _ = jit;
    }

    #[test]
    fn defines_and_calls_a_function() {
        let mut jit = Jit::new().expect("host ISA");
        let mut sig = jit.make_signature();
        sig.params.push(AbiParam::new(types::I64));
        sig.returns.push(AbiParam::new(types::I64));
        let id = jit
            .define_function("add_one", sig, |b| {
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                let x = b.block_params(entry)[0];
                let y = b.ins().iadd_imm_s(x, 1);
                b.ins().return_(&[y]);
                Ok(())
            })
            .expect("defines");
        assert!(matches!(
            jit.function_ptr(id),
            Err(CodegenError::NotFinalized { .. })
        ));
        jit.finalize().expect("finalizes");
        let p = jit.function_ptr(id).expect("pointer");
        // SAFETY: `add_one` was defined above with signature (i64) -> i64 in the host's
        // default (System V) calling convention, which is `extern "C"`.
        let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(p) };
        assert_eq!(f(41), 42);
    }

    #[test]
    fn functions_compiled_on_several_threads_all_work() {
        let mut jit = Jit::with_config(JitConfig {
            threads: 3,
            ..JitConfig::default()
        })
        .expect("host ISA");
        let ids: Vec<FuncId> = (0..10)
            .map(|k| {
                let mut sig = jit.make_signature();
                sig.params.push(AbiParam::new(types::I64));
                sig.returns.push(AbiParam::new(types::I64));
                jit.define_function(&format!("add_{k}"), sig, |b| {
                    let entry = b.create_block();
                    b.append_block_params_for_function_params(entry);
                    b.switch_to_block(entry);
                    let x = b.block_params(entry)[0];
                    let y = b.ins().iadd_imm_s(x, k);
                    b.ins().return_(&[y]);
                    Ok(())
                })
                .expect("defines")
            })
            .collect();
        jit.finalize().expect("finalizes");
        for (k, id) in ids.into_iter().enumerate() {
            let p = jit.function_ptr(id).expect("pointer");
            // SAFETY: each `add_k` has signature (i64) -> i64 in the host's default (System V)
            // calling convention, which is `extern "C"`.
            let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(p) };
            assert_eq!(f(100), 100 + k as i64);
        }
    }

    #[test]
    fn verifier_errors_are_reported_with_the_function_name() {
        let mut jit = Jit::new().expect("host ISA");
        let mut sig = jit.make_signature();
        sig.returns.push(AbiParam::new(types::I64));
        jit.define_function("bad", sig, |b| {
            let entry = b.create_block();
            b.switch_to_block(entry);
            // Returns an i32 where the signature says i64.
            let x = b.ins().iconst(types::I32, 1);
            b.ins().return_(&[x]);
            Ok(())
        })
        .expect("builds");
        let err = jit.finalize().expect_err("must not verify");
        match err {
            CodegenError::Module {
                stage, function, ..
            } => {
                assert_eq!(stage, "defining");
                assert_eq!(function, "bad");
            }
            other => panic!("unexpected error {other}"),
        }
    }
}
