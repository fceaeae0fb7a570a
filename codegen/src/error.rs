//! The error type of kiln-codegen.
//!
//! One `thiserror` enum for the whole crate (kiln's STYLE rule 5). Variants are structured: they
//! name what was being done (which flag, which function) so that a failure reads without a
//! debugger. Cranelift's own error types are carried as their `Display` strings, so that this enum
//! stays `Clone + PartialEq` and does not leak Cranelift types into the public API.

use thiserror::Error;

/// Everything that can go wrong while turning kernel IR into an executable.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CodegenError {
    /// The host architecture is not supported by Cranelift (or SSE2 is missing on x86-64).
    #[error("no Cranelift backend for this host: {reason}")]
    HostUnsupported {
        /// Cranelift-native's explanation.
        reason: String,
    },
    /// A Cranelift setting could not be applied.
    #[error("cannot set Cranelift flag `{flag}` to `{value}`: {message}")]
    Setting {
        /// The flag's name, e.g. `opt_level`.
        flag: String,
        /// The value that was asked for.
        value: String,
        /// Cranelift's error text.
        message: String,
    },
    /// Building the target ISA from its flags failed.
    #[error("cannot build the target ISA: {message}")]
    Isa {
        /// Cranelift's error text.
        message: String,
    },
    /// Declaring, defining or finalizing a function in the JIT module failed; this includes
    /// Cranelift verifier errors in the emitted CLIF.
    #[error("JIT module error while {stage} `{function}`: {message}")]
    Module {
        /// What was being done: "declaring", "defining", "finalizing".
        stage: &'static str,
        /// The function's symbol name (empty for whole-module stages).
        function: String,
        /// Cranelift's error text (verifier errors are printed with the offending CLIF).
        message: String,
    },
    /// A function pointer was requested before `finalize` or for a function of another module.
    #[error("function `{function}` is not finalized in this JIT module")]
    NotFinalized {
        /// The function's symbol name.
        function: String,
    },
    /// An emitter was handed a value of a type it does not implement.
    #[error("`{op}` is not implemented for type {ty}")]
    UnsupportedType {
        /// The emitter, e.g. `exp`.
        op: &'static str,
        /// The CLIF type it was given, e.g. `i32x4`.
        ty: String,
    },
    /// An error defined by the IR: a feed of the wrong type, a missing feed, or a run-time
    /// failure such as an out-of-range gather index (`IrError::Runtime`).
    #[error(transparent)]
    Ir(#[from] kiln_ir::IrError),
    /// Something the backend does not implement (yet); the message says what.
    #[error("not supported by the {backend} backend: {what}")]
    Unsupported {
        /// The backend (`cpu`, `cuda`).
        backend: &'static str,
        /// What is missing.
        what: String,
    },
}

/// `Result` with [`CodegenError`].
pub type Result<T> = std::result::Result<T, CodegenError>;
