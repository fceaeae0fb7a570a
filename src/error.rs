//! The error type of the `kiln` API.

use kiln_ir::IrError;

/// `Result` with kiln's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a kiln call can report. IR errors (shape and dtype rules, parse errors, feeds)
/// pass through unchanged; the API adds its own for misuse that the IR cannot see.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An error from the graph IR: a type rule, a malformed `.kir` file, a feed, an evaluation.
    #[error(transparent)]
    Ir(#[from] IrError),
    /// A backend failed to compile or run a program.
    #[error(transparent)]
    Codegen(#[from] kiln_codegen::CodegenError),
    /// Misuse of the API, naming the call.
    #[error("{op}: {msg}")]
    Api {
        /// The API call.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Api`].
    pub fn api(op: &'static str, msg: impl Into<String>) -> Error {
        Error::Api {
            op,
            msg: msg.into(),
        }
    }
}
