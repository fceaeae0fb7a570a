//! The elementwise and reduction op families, each declared once with its properties.
//!
//! Every property a pass or a backend asks of a unary, binary or reduction op — its text
//! name, the dtypes it accepts, its result dtype, commutativity, the math function a backend
//! must supply — is a column of one table below; the parser, printer, type rule, CSE, the
//! random-graph generator and the backends read these instead of keeping their own lists.
//! (How fusion treats an op is a property of every op, not only of these families:
//! [`super::Op::fusion_class`].)
//! (JAX registers a primitive's rules side by side; Cranelift generates its instruction set
//! from one description — the same idea at this scale.)
//!
//! What a table cannot say stays an exhaustive `match` over the op, so that the compiler lists
//! the places to touch when an op is added: its reference semantics (`interp.rs`), its VJP rule
//! (`autodiff/vjp.rs`) and one lowering per backend (`codegen/src/cpu/loops/body.rs`).

use crate::dtype::DType;

/// A set of dtypes an op accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DTypes {
    /// Every dtype, bool included.
    All,
    /// Integers and floats.
    Numeric,
    /// f32 and f64.
    Float,
    /// bool only.
    Bool,
}

impl DTypes {
    /// True when `d` is in the set.
    pub fn contains(self, d: DType) -> bool {
        match self {
            DTypes::All => true,
            DTypes::Numeric => d.is_numeric(),
            DTypes::Float => d.is_float(),
            DTypes::Bool => d == DType::Bool,
        }
    }
}

/// A floating-point function that a backend cannot build from a few machine instructions and
/// must supply as a math routine (an inline polynomial on the CPU, a libdevice call on CUDA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Sine (radians).
    Sin,
    /// Cosine (radians).
    Cos,
    /// Hyperbolic tangent.
    Tanh,
    /// The logistic function `1 / (1 + e^-x)`.
    Sigmoid,
    /// `x^y` (two arguments).
    Pow,
}

impl MathFn {
    /// How many arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            MathFn::Exp
            | MathFn::Log
            | MathFn::Sin
            | MathFn::Cos
            | MathFn::Tanh
            | MathFn::Sigmoid => 1,
            MathFn::Pow => 2,
        }
    }
}

/// What dtype a binary op produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryResult {
    /// The operands' dtype.
    Same,
    /// `bool` (comparisons).
    Bool,
}

/// Declares an op family from one list: the enum, its table of properties (one `$info` row
/// per op, in declaration order, so that `op as usize` indexes it), `ALL`, `info` and `name`.
macro_rules! op_family {
    (
        $(#[$meta:meta])*
        pub enum $family:ident: $info:ident {
            $(
                $(#[$doc:meta])*
                $variant:ident = $row:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $family {
            $($(#[$doc])* $variant,)*
        }

        impl $family {
            /// Every op of the family, in declaration order.
            pub const ALL: [$family; [$(stringify!($variant)),*].len()] = [$($family::$variant),*];

            const TABLE: [$info; [$(stringify!($variant)),*].len()] = [$($row),*];

            /// The op's row of properties.
            pub fn info(self) -> &'static $info {
                &Self::TABLE[self as usize]
            }

            /// Text-format name.
            pub fn name(self) -> &'static str {
                self.info().name
            }

            /// The op with text-format name `name`, if any.
            pub fn from_name(name: &str) -> Option<$family> {
                $family::ALL.into_iter().find(|op| op.name() == name)
            }
        }
    };
}

/// The properties of a [`UnaryOp`].
#[derive(Debug)]
pub struct UnaryInfo {
    /// Text-format name.
    pub name: &'static str,
    /// Operand dtypes; the result has the operand's dtype.
    pub accepts: DTypes,
    /// The math routine a backend supplies for float operands, if the op needs one.
    pub math: Option<MathFn>,
}

/// The properties of a [`BinaryOp`].
#[derive(Debug)]
pub struct BinaryInfo {
    /// Text-format name.
    pub name: &'static str,
    /// Operand dtypes (both operands have the same one).
    pub accepts: DTypes,
    /// The result dtype.
    pub result: BinaryResult,
    /// Swapping the operands changes no result bit (CSE may then sort them).
    pub commutative: bool,
    /// The math routine a backend supplies for float operands, if the op needs one.
    pub math: Option<MathFn>,
}

/// The properties of a [`ReduceOp`].
#[derive(Debug)]
pub struct ReduceInfo {
    /// Text-format name suffix (`reduce.NAME`).
    pub name: &'static str,
    /// Full text-format op name.
    pub op_name: &'static str,
}

op_family! {
    /// One-operand elementwise ops.
    pub enum UnaryOp: UnaryInfo {
        /// `-x`; integers saturate (`-MIN = MAX`).
        Neg = UnaryInfo { name: "neg", accepts: DTypes::Numeric, math: None },
        /// `e^x`.
        Exp = UnaryInfo { name: "exp", accepts: DTypes::Float, math: Some(MathFn::Exp) },
        /// Natural logarithm.
        Log = UnaryInfo { name: "log", accepts: DTypes::Float, math: Some(MathFn::Log) },
        /// Sine.
        Sin = UnaryInfo { name: "sin", accepts: DTypes::Float, math: Some(MathFn::Sin) },
        /// Cosine.
        Cos = UnaryInfo { name: "cos", accepts: DTypes::Float, math: Some(MathFn::Cos) },
        /// Hyperbolic tangent.
        Tanh = UnaryInfo { name: "tanh", accepts: DTypes::Float, math: Some(MathFn::Tanh) },
        /// The logistic function `1 / (1 + e^-x)`, a primitive so that its gradient is the
        /// stable `g * y * (1 - y)` (the composite's backward overflows to `inf * 0`).
        Sigmoid = UnaryInfo { name: "sigmoid", accepts: DTypes::Float, math: Some(MathFn::Sigmoid) },
        /// Square root (correctly rounded: one machine instruction).
        Sqrt = UnaryInfo { name: "sqrt", accepts: DTypes::Float, math: None },
        /// `1 / x`.
        Recip = UnaryInfo { name: "recip", accepts: DTypes::Float, math: None },
        /// `|x|`; integers saturate (`|MIN| = MAX`).
        Abs = UnaryInfo { name: "abs", accepts: DTypes::Numeric, math: None },
        /// Logical not.
        Not = UnaryInfo { name: "not", accepts: DTypes::Bool, math: None },
    }
}

/// A comparison: any operand dtype its set admits, a bool result, no math routine.
const fn comparison(name: &'static str, accepts: DTypes, commutative: bool) -> BinaryInfo {
    BinaryInfo {
        name,
        accepts,
        result: BinaryResult::Bool,
        commutative,
        math: None,
    }
}

/// Arithmetic or logic: the operands' dtype as result.
const fn arithmetic(
    name: &'static str,
    accepts: DTypes,
    commutative: bool,
    math: Option<MathFn>,
) -> BinaryInfo {
    BinaryInfo {
        name,
        accepts,
        result: BinaryResult::Same,
        commutative,
        math,
    }
}

op_family! {
    /// Two-operand elementwise ops (operands of identical shape and dtype).
    ///
    /// `max`/`min` are not commutative here: which zero `max(0.0, -0.0)` returns depends on
    /// the order.
    pub enum BinaryOp: BinaryInfo {
        /// `a + b`.
        Add = arithmetic("add", DTypes::Numeric, true, None),
        /// `a - b`.
        Sub = arithmetic("sub", DTypes::Numeric, false, None),
        /// `a * b`.
        Mul = arithmetic("mul", DTypes::Numeric, true, None),
        /// `a / b` (float; the API promotes integers, as PyTorch's true division does).
        Div = arithmetic("div", DTypes::Float, false, None),
        /// Larger of the two; NaN if either is NaN.
        Max = arithmetic("max", DTypes::Numeric, false, None),
        /// Smaller of the two; NaN if either is NaN.
        Min = arithmetic("min", DTypes::Numeric, false, None),
        /// `a ^ b`.
        Pow = arithmetic("pow", DTypes::Float, false, Some(MathFn::Pow)),
        /// `a == b` -> bool.
        Eq = comparison("eq", DTypes::All, true),
        /// `a != b` -> bool.
        Ne = comparison("ne", DTypes::All, true),
        /// `a < b` -> bool.
        Lt = comparison("lt", DTypes::Numeric, false),
        /// `a <= b` -> bool.
        Le = comparison("le", DTypes::Numeric, false),
        /// `a > b` -> bool.
        Gt = comparison("gt", DTypes::Numeric, false),
        /// `a >= b` -> bool.
        Ge = comparison("ge", DTypes::Numeric, false),
        /// Logical and.
        And = arithmetic("and", DTypes::Bool, true, None),
        /// Logical or.
        Or = arithmetic("or", DTypes::Bool, true, None),
    }
}

op_family! {
    /// Reduction kinds.
    pub enum ReduceOp: ReduceInfo {
        /// Sum (0 over an empty axis).
        Sum = ReduceInfo { name: "sum", op_name: "reduce.sum" },
        /// Maximum (-inf over an empty axis for floats; the dtype's minimum for integers).
        Max = ReduceInfo { name: "max", op_name: "reduce.max" },
    }
}

impl UnaryOp {
    /// Which dtypes the op accepts (the result has the operand's dtype).
    pub fn accepts(self, d: DType) -> bool {
        self.info().accepts.contains(d)
    }

    /// The math routine a backend supplies for this op on floats, if any.
    pub fn math(self) -> Option<MathFn> {
        self.info().math
    }
}

impl BinaryOp {
    /// Which operand dtype the op accepts.
    pub fn accepts(self, d: DType) -> bool {
        self.info().accepts.contains(d)
    }

    /// True for the comparisons, whose result is `bool`.
    pub fn is_comparison(self) -> bool {
        self.info().result == BinaryResult::Bool
    }

    /// True when swapping the operands changes no result bit.
    pub fn is_commutative(self) -> bool {
        self.info().commutative
    }

    /// The math routine a backend supplies for this op on floats, if any.
    pub fn math(self) -> Option<MathFn> {
        self.info().math
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_round_trip() {
        let mut names: Vec<&str> = UnaryOp::ALL.iter().map(|u| u.name()).collect();
        names.extend(BinaryOp::ALL.iter().map(|b| b.name()));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "two elementwise ops share a text name");
        for u in UnaryOp::ALL {
            assert_eq!(UnaryOp::from_name(u.name()), Some(u));
        }
        for b in BinaryOp::ALL {
            assert_eq!(BinaryOp::from_name(b.name()), Some(b));
        }
        for r in ReduceOp::ALL {
            assert_eq!(r.info().op_name, format!("reduce.{}", r.name()));
        }
    }

    #[test]
    fn math_routines_are_float_only_and_of_the_right_arity() {
        for u in UnaryOp::ALL {
            if let Some(f) = u.math() {
                assert_eq!((f.arity(), u.info().accepts), (1, DTypes::Float), "{u:?}");
            }
        }
        for b in BinaryOp::ALL {
            if let Some(f) = b.math() {
                assert_eq!((f.arity(), b.info().accepts), (2, DTypes::Float), "{b:?}");
            }
        }
    }

    #[test]
    fn comparisons_give_bool_and_logic_takes_bool() {
        assert!(BinaryOp::Lt.is_comparison() && !BinaryOp::Add.is_comparison());
        assert!(BinaryOp::And.accepts(DType::Bool) && !BinaryOp::And.accepts(DType::F32));
        assert!(BinaryOp::Eq.accepts(DType::Bool) && !BinaryOp::Lt.accepts(DType::Bool));
        assert!(BinaryOp::Add.is_commutative() && !BinaryOp::Max.is_commutative());
    }
}
