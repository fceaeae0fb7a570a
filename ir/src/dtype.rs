//! Element types. kiln has five: `bool`, `i32`, `i64`, `f32`, `f64`.
//!
//! The reference interpreter computes every value in `f64` and rounds it to the node's dtype with
//! [`DType::round`]; that function is therefore the definition of each dtype's value set.

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `true`/`false`, stored as one byte.
    Bool,
    /// 32-bit two's-complement integer.
    I32,
    /// 64-bit two's-complement integer (the default integer type, as in PyTorch).
    I64,
    /// IEEE-754 binary32 (the default float type).
    F32,
    /// IEEE-754 binary64.
    F64,
}

impl DType {
    /// Every dtype, in a fixed order (used by tests and fuzzers).
    pub const ALL: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

    /// The name used in the text format and in error messages (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Parses a name produced by [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// `i32` or `i64`.
    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// Everything but `bool`: the dtypes arithmetic is defined on.
    pub fn is_numeric(self) -> bool {
        self != DType::Bool
    }

    /// Rounds an `f64` to the nearest value of this dtype.
    ///
    /// Floats round to nearest-even; conversions to integers truncate toward zero and saturate at
    /// the type's range (NaN becomes 0), like Rust's `as` and unlike C's undefined behaviour;
    /// `bool` is `v != 0`.
    pub fn round(self, v: f64) -> f64 {
        match self {
            DType::Bool => f64::from(u8::from(v != 0.0)),
            DType::I32 => f64::from(v as i32),
            DType::I64 => (v as i64) as f64,
            DType::F32 => f64::from(v as f32),
            DType::F64 => v,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_name("f16"), None);
    }

    #[test]
    fn rounding_defines_value_sets() {
        assert_eq!(DType::F32.round(0.1), f64::from(0.1f32));
        assert_eq!(DType::I32.round(-2.7), -2.0);
        assert_eq!(DType::I32.round(1e20), f64::from(i32::MAX));
        assert_eq!(DType::I64.round(f64::NAN), 0.0);
        assert_eq!(DType::Bool.round(-3.0), 1.0);
        assert_eq!(DType::Bool.round(0.0), 0.0);
    }
}
