//! Printing host tensors exactly as PyTorch's `print(tensor)` does.
//!
//! This is a port of `torch/_tensor_str.py` (`_Formatter`, `_vector_str`,
//! `_tensor_str_with_formatter`, `get_summarized_data`, `_add_suffixes`, `_str_intern`) for
//! strided, real, non-sparse tensors, so that a kiln program prints what the PyTorch program it
//! reproduces prints:
//!
//! ```text
//! tensor([[0.7196, 0.6295, 0.6667],
//!         [0.3385, 0.8522, 0.3126]])
//! ```
//!
//! What is reproduced, including torch's quirks:
//!
//! - one format for the whole tensor, chosen from its finite nonzero values (only those shown when
//!   the tensor is summarised): "int mode" (`1.`, `-3.`) when all are integral, otherwise fixed
//!   point with `precision` decimals; scientific notation (`1.2345e-05`, Python's `{:.4e}`) when
//!   max / min > 1000, max > 1e8, or (not in int mode) min < 1e-4, all on absolute values;
//! - the column width is the widest of those finite nonzero values (at least 1); zeros, `nan`,
//!   `inf` and `-inf` are padded to it but never widen it, so `tensor([-0., 1.])` and
//!   `tensor([1., inf, nan])` print without alignment, as in torch;
//! - 1-D rows wrap at `linewidth`; summarisation (`numel > threshold`) keeps `edgeitems` at each
//!   end of every axis, with `  ...` inside a row and a `...` line between rows or blocks;
//! - suffixes move to their own line when the last line would pass `linewidth` (with torch's
//!   off-by-two line-length count).
//!
//! One deliberate difference: torch hides the dtype of its defaults `float32`, `int64` and `bool`;
//! kiln shows `dtype=NAME` (kiln's names: `f64`, `i32`, `i64`, `bool`) for every dtype but `f32`,
//! because kiln has no default integer type to infer from the digits.

use crate::dtype::DType;
use crate::tensor::{HostTensor, TensorData};
use std::fmt;

/// The prefix of every printed tensor; its length is the indent of nested rows.
const PREFIX: &str = "tensor(";

/// Print options, PyTorch's `torch.set_printoptions` minus `sci_mode` and `profile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrintOptions {
    /// Digits after the decimal point (fixed) or in the mantissa (scientific). Default 4.
    pub precision: usize,
    /// Characters per line before 1-D rows wrap and suffixes move to a new line. Default 80.
    pub linewidth: usize,
    /// Tensors with more elements than this are summarised. Default 1000.
    pub threshold: usize,
    /// Elements kept at each end of every axis when summarising. Default 3.
    pub edgeitems: usize,
}

impl Default for PrintOptions {
    /// PyTorch's defaults: precision 4, linewidth 80, threshold 1000, edgeitems 3.
    fn default() -> PrintOptions {
        PrintOptions {
            precision: 4,
            linewidth: 80,
            threshold: 1000,
            edgeitems: 3,
        }
    }
}

impl HostTensor {
    /// The tensor as PyTorch prints it with these options (see the [module docs](self)).
    pub fn format(&self, opts: &PrintOptions) -> String {
        let indent = PREFIX.len();
        let dims = self.dims();
        let mut suffixes = Vec::new();
        let body = if self.numel() == 0 {
            // Like NumPy, torch names the shape of an empty tensor unless it is `(0,)`.
            if dims.len() != 1 {
                suffixes.push(format!("size={}", py_tuple(dims)));
            }
            "[]".to_string()
        } else {
            let summarize = self.numel() > opts.threshold;
            let strides = self.shape().strides();
            let mut shown = Vec::new();
            shown_indices(dims, &strides, 0, summarize, opts.edgeitems, &mut shown);
            let printer = Printer {
                data: self.data(),
                formatter: Formatter::new(self.data(), &shown, opts.precision),
                opts,
                summarize,
            };
            let mut body = String::new();
            printer.tensor_str(&mut body, dims, &strides, 0, indent);
            body
        };
        if self.dtype() != DType::F32 {
            suffixes.push(format!("dtype={}", self.dtype()));
        }
        add_suffixes(format!("{PREFIX}{body}"), &suffixes, indent, opts.linewidth)
    }
}

impl fmt::Display for HostTensor {
    /// PyTorch's `print(tensor)` with the default [`PrintOptions`]; a precision (`{:.2}`)
    /// overrides the default precision of 4.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut opts = PrintOptions::default();
        if let Some(p) = f.precision() {
            opts.precision = p;
        }
        f.write_str(&self.format(&opts))
    }
}

/// Python's `str(tuple(dims))`: `(0, 3)`, `(0,)`, `()`.
fn py_tuple(dims: &[usize]) -> String {
    let items: Vec<String> = dims.iter().map(usize::to_string).collect();
    if items.len() == 1 {
        format!("({},)", items[0])
    } else {
        format!("({})", items.join(", "))
    }
}

/// The positions kept along an axis of length `n`: all, or `edge` at each end when summarising.
fn kept(
    n: usize,
    summarize: bool,
    edge: usize,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    if summarize && n > 2 * edge {
        (0..edge, n - edge..n)
    } else {
        (0..n, n..n)
    }
}

/// Row-major flat indices of the elements that are printed (torch's `get_summarized_data`): the
/// formatter sees only these.
fn shown_indices(
    dims: &[usize],
    strides: &[usize],
    offset: usize,
    summarize: bool,
    edge: usize,
    out: &mut Vec<usize>,
) {
    let Some((&n, inner)) = dims.split_first() else {
        out.push(offset);
        return;
    };
    let (head, tail) = kept(n, summarize, edge);
    for i in head.chain(tail) {
        shown_indices(
            inner,
            &strides[1..],
            offset + i * strides[0],
            summarize,
            edge,
            out,
        );
    }
}

/// How floats are written; chosen once per tensor from the values shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FloatMode {
    /// All finite values integral: `{:.0}` followed by `.`.
    Int,
    /// `{:.p}`.
    Fixed,
    /// Python's `{:.pe}`: `1.2345e-05`.
    Sci,
}

/// torch's `_Formatter`: one number format and column width for a whole tensor.
struct Formatter {
    /// `None` for integer and bool tensors, which print with Python's `str`.
    float_mode: Option<FloatMode>,
    precision: usize,
    width: usize,
}

impl Formatter {
    fn new(data: &TensorData, shown: &[usize], precision: usize) -> Formatter {
        let mut fmt = Formatter {
            float_mode: None,
            precision,
            width: 1,
        };
        let floats: Vec<f64> = match data {
            TensorData::F32(v) => shown.iter().map(|&i| f64::from(v[i])).collect(),
            TensorData::F64(v) => shown.iter().map(|&i| v[i]).collect(),
            TensorData::Bool(_) | TensorData::I32(_) | TensorData::I64(_) => {
                fmt.width = shown
                    .iter()
                    .map(|&i| plain_str(data, i).len())
                    .fold(1, usize::max);
                return fmt;
            }
        };
        // Zeros and non-finite values take no part in choosing the mode or the width.
        let vals: Vec<f64> = floats
            .into_iter()
            .filter(|v| v.is_finite() && *v != 0.0)
            .collect();
        fmt.float_mode = Some(FloatMode::Int);
        if vals.is_empty() {
            return fmt;
        }
        let max = vals.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let min = vals.iter().map(|v| v.abs()).fold(f64::INFINITY, f64::min);
        let int_mode = vals.iter().all(|v| *v == v.ceil());
        let wide_range = max / min > 1000.0 || max > 1.0e8;
        let mode = if int_mode {
            if wide_range {
                FloatMode::Sci
            } else {
                FloatMode::Int
            }
        } else if wide_range || min < 1.0e-4 {
            FloatMode::Sci
        } else {
            FloatMode::Fixed
        };
        fmt.float_mode = Some(mode);
        fmt.width = vals
            .iter()
            .map(|&v| fmt.float_str(mode, v).len())
            .fold(1, usize::max);
        fmt
    }

    /// A float in `mode`, unpadded.
    fn float_str(&self, mode: FloatMode, v: f64) -> String {
        if v.is_nan() {
            // Python never prints the sign of a NaN.
            return "nan".to_string();
        }
        if v.is_infinite() {
            return if v > 0.0 { "inf" } else { "-inf" }.to_string();
        }
        let p = self.precision;
        match mode {
            // Rust and Python both round the exact binary value half-to-even, so the digits agree.
            FloatMode::Int => format!("{v:.0}."),
            FloatMode::Fixed => format!("{v:.p$}"),
            FloatMode::Sci => {
                // Rust writes `1.2345e-5`; Python writes a sign and at least two exponent digits.
                let s = format!("{v:.p$e}");
                match s.split_once('e') {
                    Some((mantissa, exp)) => {
                        let (sign, digits) = match exp.strip_prefix('-') {
                            Some(d) => ('-', d),
                            None => ('+', exp),
                        };
                        format!("{mantissa}e{sign}{digits:0>2}")
                    }
                    // Unreachable for finite values: `{:e}` always writes an exponent.
                    None => s,
                }
            }
        }
    }

    /// Element `i`, right-aligned to the column width (never truncated).
    fn format(&self, data: &TensorData, i: usize) -> String {
        let s = match (self.float_mode, data) {
            (Some(mode), TensorData::F32(v)) => self.float_str(mode, f64::from(v[i])),
            (Some(mode), TensorData::F64(v)) => self.float_str(mode, v[i]),
            _ => plain_str(data, i),
        };
        format!("{s:>w$}", w = self.width)
    }
}

/// Python's `str` of a non-float element: `True`, `-3`.
fn plain_str(data: &TensorData, i: usize) -> String {
    match data {
        TensorData::Bool(v) => if v[i] { "True" } else { "False" }.to_string(),
        TensorData::I32(v) => v[i].to_string(),
        TensorData::I64(v) => v[i].to_string(),
        TensorData::F32(v) => v[i].to_string(),
        TensorData::F64(v) => v[i].to_string(),
    }
}

/// The pieces shared by every level of the recursive printer.
struct Printer<'a> {
    data: &'a TensorData,
    formatter: Formatter,
    opts: &'a PrintOptions,
    summarize: bool,
}

impl Printer<'_> {
    /// torch's `_tensor_str_with_formatter`: the sub-tensor at `offset` with `dims`, whose first
    /// `[` sits in column `indent`.
    fn tensor_str(
        &self,
        out: &mut String,
        dims: &[usize],
        strides: &[usize],
        offset: usize,
        indent: usize,
    ) {
        match dims {
            [] => out.push_str(&self.formatter.format(self.data, offset)),
            [n] => self.vector_str(out, *n, strides[0], offset, indent),
            [n, inner @ ..] => {
                let sep = format!(",{}{}", "\n".repeat(dims.len() - 1), " ".repeat(indent + 1));
                let (head, tail) = kept(*n, self.summarize, self.opts.edgeitems);
                let ellipsis = !tail.is_empty();
                out.push('[');
                for (k, i) in head.enumerate() {
                    if k > 0 {
                        out.push_str(&sep);
                    }
                    self.tensor_str(
                        out,
                        inner,
                        &strides[1..],
                        offset + i * strides[0],
                        indent + 1,
                    );
                }
                if ellipsis {
                    out.push_str(&sep);
                    out.push_str("...");
                    for i in tail {
                        out.push_str(&sep);
                        self.tensor_str(
                            out,
                            inner,
                            &strides[1..],
                            offset + i * strides[0],
                            indent + 1,
                        );
                    }
                }
                out.push(']');
            }
        }
    }

    /// torch's `_vector_str`: a 1-D row, wrapped so that each line holds as many elements as fit
    /// in `linewidth - indent`; the summary marker ` ...` counts as an element.
    fn vector_str(&self, out: &mut String, n: usize, stride: usize, offset: usize, indent: usize) {
        let element_length = (self.formatter.width + 2) as i64;
        let room = self.opts.linewidth as i64 - indent as i64;
        let per_line = room.div_euclid(element_length).max(1) as usize;
        let (head, tail) = kept(n, self.summarize, self.opts.edgeitems);
        let mut items: Vec<String> = head
            .map(|i| self.formatter.format(self.data, offset + i * stride))
            .collect();
        if !tail.is_empty() {
            items.push(" ...".to_string());
            items.extend(tail.map(|i| self.formatter.format(self.data, offset + i * stride)));
        }
        let lines: Vec<String> = items.chunks(per_line).map(|c| c.join(", ")).collect();
        out.push('[');
        out.push_str(&lines.join(&format!(",\n{}", " ".repeat(indent + 1))));
        out.push(']');
    }
}

/// torch's `_add_suffixes`: `, suffix` on the last line, or `,\n` + indent + `suffix` when it
/// would not fit. The last line's length is counted as torch counts it, two more than it is.
fn add_suffixes(mut s: String, suffixes: &[String], indent: usize, linewidth: usize) -> String {
    let last_nl = s.rfind('\n').map_or(-1, |p| p as i64);
    let mut last_line_len = s.len() as i64 - last_nl + 1;
    for suffix in suffixes {
        let len = suffix.len() as i64;
        if last_line_len + len + 2 > linewidth as i64 {
            s.push_str(",\n");
            s.push_str(&" ".repeat(indent));
            last_line_len = (indent as i64) + len;
        } else {
            s.push_str(", ");
            last_line_len += len + 2;
        }
        s.push_str(suffix);
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Shape;

    fn f32s(dims: &[usize], v: &[f32]) -> HostTensor {
        HostTensor::new(Shape::new(dims).unwrap(), TensorData::F32(v.to_vec())).unwrap()
    }

    fn f64s(dims: &[usize], v: &[f64]) -> HostTensor {
        HostTensor::new(Shape::new(dims).unwrap(), TensorData::F64(v.to_vec())).unwrap()
    }

    fn range(dtype: DType, dims: &[usize]) -> HostTensor {
        let n: usize = dims.iter().product();
        let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
        HostTensor::from_f64(dtype, Shape::new(dims).unwrap(), &v).unwrap()
    }

    #[test]
    fn tutorial_matrices() {
        let t = f32s(&[2, 3], &[0.7196, 0.6295, 0.6667, 0.3385, 0.8522, 0.3126]);
        assert_eq!(
            t.to_string(),
            "tensor([[0.7196, 0.6295, 0.6667],\n        [0.3385, 0.8522, 0.3126]])"
        );
        let mut d = vec![0.0f32; 16];
        for i in 0..4 {
            d[i * 5] = (i + 1) as f32;
        }
        assert_eq!(
            f32s(&[4, 4], &d).to_string(),
            "tensor([[1., 0., 0., 0.],
        [0., 2., 0., 0.],
        [0., 0., 3., 0.],
        [0., 0., 0., 4.]])"
        );
    }

    #[test]
    fn rank3_blocks_are_separated_by_blank_lines() {
        let v: Vec<f32> = (1..=12).map(|i| i as f32).collect();
        assert_eq!(
            f32s(&[2, 2, 3], &v).to_string(),
            "tensor([[[ 1.,  2.,  3.],
         [ 4.,  5.,  6.]],

        [[ 7.,  8.,  9.],
         [10., 11., 12.]]])"
        );
        let t = f64s(&[2, 2, 2], &[6., 9., 3., 6., 12., 12., 10., 2.]);
        assert_eq!(
            t.to_string(),
            "tensor([[[ 6.,  9.],
         [ 3.,  6.]],

        [[12., 12.],
         [10.,  2.]]], dtype=f64)"
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(
            HostTensor::scalar(DType::F32, 4.0).to_string(),
            "tensor(4.)"
        );
        assert_eq!(
            HostTensor::scalar(DType::F32, 1.665).to_string(),
            "tensor(1.6650)"
        );
        assert_eq!(
            HostTensor::scalar(DType::F32, 4.7337e-05).to_string(),
            "tensor(4.7337e-05)"
        );
        assert_eq!(
            HostTensor::scalar(DType::I64, 32.0).to_string(),
            "tensor(32, dtype=i64)"
        );
        assert_eq!(
            HostTensor::scalar(DType::Bool, 1.0).to_string(),
            "tensor(True, dtype=bool)"
        );
        assert_eq!(
            HostTensor::scalar(DType::F32, 0.0).to_string(),
            "tensor(0.)"
        );
        assert_eq!(
            HostTensor::scalar(DType::F64, f64::NAN).to_string(),
            "tensor(nan, dtype=f64)"
        );
    }

    #[test]
    fn scientific_notation() {
        let t = f32s(
            &[4, 4],
            &[
                -3.5046e-02,
                3.1475e-01,
                7.5007e-01,
                6.7699e-01,
                1.0653e-01,
                -9.3718e-02,
                5.6315e-01,
                9.2856e-01,
                1.0338e-03,
                2.2346e-01,
                5.2824e-01,
                1.1024e+00,
                4.4448e-02,
                1.8549e-01,
                7.6836e-01,
                1.1486e-01,
            ],
        );
        assert_eq!(
            t.to_string(),
            "tensor([[-3.5046e-02,  3.1475e-01,  7.5007e-01,  6.7699e-01],
        [ 1.0653e-01, -9.3718e-02,  5.6315e-01,  9.2856e-01],
        [ 1.0338e-03,  2.2346e-01,  5.2824e-01,  1.1024e+00],
        [ 4.4448e-02,  1.8549e-01,  7.6836e-01,  1.1486e-01]])"
        );
        // min < 1e-4
        assert_eq!(
            f32s(&[2], &[0.5, 4.7337e-05]).to_string(),
            "tensor([5.0000e-01, 4.7337e-05])"
        );
        // Integral values with a wide range, and beyond 1e8.
        assert_eq!(
            f32s(&[2], &[1.0, 1e10]).to_string(),
            "tensor([1.0000e+00, 1.0000e+10])"
        );
        assert_eq!(
            f64s(&[1], &[2e8]).to_string(),
            "tensor([2.0000e+08], dtype=f64)"
        );
        assert_eq!(
            f64s(&[2], &[1e-120, -1.0]).to_string(),
            "tensor([1.0000e-120, -1.0000e+00], dtype=f64)"
        );
    }

    #[test]
    fn integers_and_bools() {
        assert_eq!(
            HostTensor::from(vec![7i64, 14, 21]).to_string(),
            "tensor([ 7, 14, 21], dtype=i64)"
        );
        let t = HostTensor::new(
            Shape::new(&[2, 3]).unwrap(),
            TensorData::I32(vec![0, 0, 0, 0, 1, 0]),
        )
        .unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([[0, 0, 0],\n        [0, 1, 0]], dtype=i32)"
        );
        assert_eq!(
            HostTensor::from(vec![-5i32, 100]).to_string(),
            "tensor([ -5, 100], dtype=i32)"
        );
        assert_eq!(
            HostTensor::from(vec![true, false]).to_string(),
            "tensor([ True, False], dtype=bool)"
        );
        assert_eq!(
            HostTensor::from(vec![i64::MIN]).to_string(),
            "tensor([-9223372036854775808], dtype=i64)"
        );
    }

    #[test]
    fn long_rows_wrap() {
        let step = 2.0 * std::f64::consts::PI / 99.0;
        let v: Vec<f32> = (0..100).map(|i| ((i as f64 * step) as f32).cos()).collect();
        let s = HostTensor::from(v).to_string();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "tensor([ 1.0000,  0.9980,  0.9920,  0.9819,  0.9679,  0.9501,  0.9284,  0.9029,"
        );
        assert_eq!(
            lines[1],
            "         0.8738,  0.8413,  0.8053,  0.7660,  0.7237,  0.6785,  0.6306,  0.5801,"
        );
        assert_eq!(lines.len(), 13);
        assert_eq!(lines[12], "         0.9819,  0.9920,  0.9980,  1.0000])");
    }

    #[test]
    fn suffix_moves_to_its_own_line_when_it_does_not_fit() {
        let v: Vec<f64> = (0..8).map(|i| i as f64 * 0.5 - 2.25).collect();
        assert_eq!(
            HostTensor::from(v).to_string(),
            "tensor([-2.2500, -1.7500, -1.2500, -0.7500, -0.2500,  0.2500,  0.7500,  1.2500],
       dtype=f64)"
        );
    }

    #[test]
    fn non_finite_values_and_negative_zero() {
        // nan and inf neither choose the mode nor widen the column, as in torch.
        assert_eq!(
            f32s(&[3], &[f32::NAN, 1.5, f32::NEG_INFINITY]).to_string(),
            "tensor([   nan, 1.5000,   -inf])"
        );
        assert_eq!(
            f32s(&[3], &[1.0, f32::INFINITY, f32::NAN]).to_string(),
            "tensor([1., inf, nan])"
        );
        assert_eq!(
            f32s(&[2], &[f32::NAN, f32::INFINITY]).to_string(),
            "tensor([nan, inf])"
        );
        assert_eq!(f32s(&[1], &[-0.0]).to_string(), "tensor([-0.])");
        assert_eq!(f32s(&[2], &[-0.0, 1.0]).to_string(), "tensor([-0., 1.])");
        assert_eq!(
            f32s(&[2], &[-0.0, 0.5]).to_string(),
            "tensor([-0.0000, 0.5000])"
        );
        assert_eq!(
            f32s(&[2], &[-0.0, 2e-5]).to_string(),
            "tensor([-0.0000e+00, 2.0000e-05])"
        );
    }

    #[test]
    fn summarised_vector() {
        assert_eq!(
            range(DType::F32, &[2000]).to_string(),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,
        1.9990e+03])"
        );
        assert_eq!(
            range(DType::I64, &[2000]).to_string(),
            "tensor([   0,    1,    2,  ..., 1997, 1998, 1999], dtype=i64)"
        );
        // The formatter sees only the values shown: 1001 zeros hide nothing.
        let mut v = vec![0.5f32; 1001];
        v[500] = 1e-9;
        assert_eq!(
            HostTensor::from(v).to_string(),
            "tensor([0.5000, 0.5000, 0.5000,  ..., 0.5000, 0.5000, 0.5000])"
        );
    }

    #[test]
    fn summarised_matrix_and_blocks() {
        assert_eq!(
            range(DType::I32, &[100, 100]).to_string(),
            "tensor([[   0,    1,    2,  ...,   97,   98,   99],
        [ 100,  101,  102,  ...,  197,  198,  199],
        [ 200,  201,  202,  ...,  297,  298,  299],
        ...,
        [9700, 9701, 9702,  ..., 9797, 9798, 9799],
        [9800, 9801, 9802,  ..., 9897, 9898, 9899],
        [9900, 9901, 9902,  ..., 9997, 9998, 9999]], dtype=i32)"
        );
        let opts = PrintOptions {
            threshold: 5,
            edgeitems: 1,
            ..PrintOptions::default()
        };
        assert_eq!(
            range(DType::F32, &[7, 1, 3]).format(&opts),
            "tensor([[[ 0.,  ...,  2.]],

        ...,

        [[18.,  ..., 20.]]])"
        );
    }

    #[test]
    fn empty_tensors() {
        assert_eq!(
            HostTensor::from(Vec::<f32>::new()).to_string(),
            "tensor([])"
        );
        assert_eq!(
            HostTensor::from(Vec::<i64>::new()).to_string(),
            "tensor([], dtype=i64)"
        );
        assert_eq!(
            range(DType::F32, &[0, 3]).to_string(),
            "tensor([], size=(0, 3))"
        );
        assert_eq!(
            range(DType::F64, &[2, 0, 1]).to_string(),
            "tensor([], size=(2, 0, 1), dtype=f64)"
        );
    }

    #[test]
    fn options() {
        let t = f32s(&[1], &[1.12345]);
        assert_eq!(t.to_string(), "tensor([1.1235])");
        let two = PrintOptions {
            precision: 2,
            ..PrintOptions::default()
        };
        assert_eq!(t.format(&two), "tensor([1.12])");
        assert_eq!(format!("{t:.2}"), "tensor([1.12])");
        let narrow = PrintOptions {
            linewidth: 20,
            ..PrintOptions::default()
        };
        assert_eq!(
            range(DType::I64, &[6]).format(&narrow),
            "tensor([0, 1, 2, 3,\n        4, 5],\n       dtype=i64)"
        );
    }
}
