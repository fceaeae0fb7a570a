//! The `.kir` text format: one node per line, printed by [`print()`] and read back by [`parse`].
//!
//! ```text
//! ; comments start with ';' and run to the end of the line
//! %0 = input "x" : f32[64,784]
//! %1 = param "w1" : f32[784,128]
//! %2 = matmul %0, %1 : f32[64,128]
//! %3 = const 0.5 : f32[]
//! %4 = expand %3 : f32[64,128]
//! %5 = add %2, %4 : f32[64,128]
//! %6 = reduce.sum %5 axes=[1] : f32[64,1]
//! return %6
//! ```
//!
//! Every line is `%N = OP OPERANDS ATTRIBUTES : TYPE`, where the attributes per op are:
//!
//! | op | attributes | example |
//! |----|------------|---------|
//! | `input`, `param` | a quoted name | `input "x"` |
//! | `const` | one value (rank 0) or `[v, ...]` flat, row-major | `const [1, 2] : i64[2]` |
//! | `reduce.sum`, `reduce.max` | `axes=[..]` | `reduce.sum %0 axes=[1]` |
//! | `argmax`, `concat`, `gather`, `scatter_add` | `axis=N` | `concat %0, %1 axis=0` |
//! | `permute` | `perm=[..]` | `permute %0 perm=[1,0]` |
//! | `slice` | `[start:end:step, ...]` | `slice %0 [0:2:1, 1:3:1]` |
//! | `pad` | `[before:after, ...] value=V` | `pad %0 [1:0, 0:2] value=0.0` |
//! | `random.uniform`, `random.normal` | `seed=N` | `random.normal seed=42` |
//! | everything else | none | `add %0, %1`, `cast %0`, `where %c, %a, %b` |
//!
//! The type after ` : ` is always printed; for `input`, `param`, `const`, `cast`, `reshape`,
//! `expand` and the random ops it *is* the result type, for the others the parser checks it
//! against the type the op's rule infers. An optional last line `return %a, %b` names the
//! outputs.
//!
//! Guarantees:
//! - `print(&parse(t)?) == t` for every `t` that `print` produced (print -> parse -> print is
//!   the identity), including graphs whose ids have gaps: `%N` is `NodeId(N)` on both sides;
//! - floats are printed in Rust's shortest round-tripping form (`{:?}`), f32 constants as f32,
//!   with `nan`, `inf`, `-inf`, so every value but a NaN's payload and sign survives bit-exactly;
//! - the parser builds every node with [`Graph::add`], so a parsed graph obeys every type rule,
//!   and reports each problem as [`IrError::Parse`] with the 1-based line and column of the
//!   offending token.

mod parse;
mod print;
#[cfg(test)]
mod tests;

pub use parse::{parse, MAX_NODE_ID};
pub use print::print;

use crate::error::{IrError, Result};
use crate::graph::Graph;
use std::fmt;
use std::path::Path;

/// Parses `.kir` text given as bytes (a file's contents): like [`parse`], and bytes that are
/// not UTF-8 are a parse error at the position of the first one.
///
/// # Errors
/// [`IrError::Parse`] with the 1-based line and column (in characters) of the error.
pub fn parse_bytes(bytes: &[u8]) -> Result<Graph> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            Err(IrError::Parse {
                line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
                // The prefix is valid UTF-8 up to `valid_up_to`, so this cannot fail.
                col: 1 + std::str::from_utf8(&valid[line_start..]).map_or(0, |l| l.chars().count()),
                msg: "the file is not UTF-8 text".into(),
            })
        }
    }
}

impl Graph {
    /// The graph in the `.kir` text format (same as [`print()`] and `Display`).
    pub fn to_text(&self) -> String {
        print(self)
    }

    /// Parses the `.kir` text format (same as [`parse`]).
    pub fn from_text(text: &str) -> Result<Graph> {
        parse(text)
    }

    /// Writes the graph as `.kir` text to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_text()).map_err(|e| io_error(path, &e))
    }

    /// Reads a `.kir` file. I/O problems are [`IrError::Io`]; malformed text is
    /// [`IrError::Parse`] (whose position does not name the file: callers add it).
    pub fn load(path: impl AsRef<Path>) -> Result<Graph> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
        parse_bytes(&bytes)
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> IrError {
    IrError::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

impl fmt::Display for Graph {
    /// The `.kir` text of the graph.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print(self))
    }
}
