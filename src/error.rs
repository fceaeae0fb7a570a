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

/// `Ok` when the types `a` and `b` (dtype, shape) are equal; otherwise [`Error::Api`] of `op`
/// whose message `describe` writes from the two types as text (`f32[2,3]`).
pub(crate) fn check_same_type(
    op: &'static str,
    a: (kiln_ir::DType, &kiln_ir::Shape),
    b: (kiln_ir::DType, &kiln_ir::Shape),
    describe: impl FnOnce(String, String) -> String,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let text = |(dtype, shape): (kiln_ir::DType, &kiln_ir::Shape)| format!("{dtype}{shape}");
    Err(Error::api(op, describe(text(a), text(b))))
}
