//! The reference interpreter: the definition of every op's semantics and the oracle every
//! compiled backend is tested against. It favours clarity over speed.
//!
//! Guarantees:
//! - every node is computed in `f64` and then rounded once to its dtype with
//!   [`crate::DType::round`], so a stored value is always exactly representable in its dtype.
//!   For `f32` add, sub, mul, div and sqrt this single rounding gives exactly the IEEE-754 `f32`
//!   result (f64 carries more than twice f32's precision); other `f32` functions are within one
//!   ulp of correctly rounded;
//! - `bool`, `i32` and `i64` values are held exactly as `f64`, except `i64` magnitudes beyond
//!   2^53, which lose precision. Integer arithmetic that overflows saturates at the dtype's range
//!   (the rounding rule), where PyTorch would wrap;
//! - sums (`reduce.sum`, `matmul`, `scatter_add`) accumulate in `f64` in row-major order of the
//!   summed elements (`matmul`: `k = 0..K`) and round once at the end;
//! - only the nodes the requested outputs depend on are evaluated, in [`Graph::topo_order`];
//! - value-dependent failures (an out-of-range `gather`/`scatter_add` index) are
//!   [`IrError::Runtime`] errors naming the node, never panics.

use crate::error::{IrError, Result};
use crate::graph::{Graph, Node, NodeId};
use crate::op::{BinaryOp, Distribution, Op, ReduceOp, SliceRange, TensorType, UnaryOp};
use crate::philox::{philox_normal, philox_uniform};
use crate::shape::{AxisList, Shape};
use crate::tensor::HostTensor;
use std::collections::HashMap;

/// A computed value: its type and its elements in row-major order, each already rounded to the
/// dtype.
#[derive(Clone, Debug)]
struct Value {
    ty: TensorType,
    data: Vec<f64>,
}

/// Where a run-time error happened: the op and the node being evaluated.
#[derive(Clone, Copy, Debug)]
struct Site {
    op: &'static str,
    node: NodeId,
}

impl Site {
    fn error(self, msg: String) -> IrError {
        IrError::Runtime {
            op: self.op,
            node: self.node,
            msg,
        }
    }
}

/// Evaluates `outputs` of `graph`, feeding `input` and `param` nodes from `feeds` by name.
///
/// Only the nodes the outputs depend on are computed, so feeds of unrelated inputs may be
/// omitted. Errors: [`IrError::UnknownNode`] if an output is not in the graph,
/// [`IrError::MissingFeed`] if a needed input or parameter has no feed,
/// [`IrError::FeedMismatch`] if a feed's dtype or shape differs from the node's declared type,
/// and [`IrError::Runtime`] for value-dependent failures such as an out-of-range gather index.
///
/// ```
/// use kiln_ir::{evaluate, BinaryOp, DType, Graph, HostTensor, Shape};
/// use std::collections::HashMap;
///
/// let mut g = Graph::new();
/// let x = g.input("x", DType::F32, Shape::new(&[2])?)?;
/// let y = g.binary(BinaryOp::Mul, x, x)?;
/// let feeds = HashMap::from([("x".to_string(), HostTensor::from(vec![3.0f32, -1.5]))]);
/// let out = evaluate(&g, &[y], &feeds)?;
/// assert_eq!(out[0].as_f32()?, &[9.0, 2.25]);
/// # Ok::<(), kiln_ir::IrError>(())
/// ```
pub fn evaluate(
    graph: &Graph,
    outputs: &[NodeId],
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>> {
    for &o in outputs {
        graph.node(o)?;
    }
    let order = graph.ordered_ancestors(outputs);
    let mut values: HashMap<NodeId, Value> = HashMap::with_capacity(order.len());
    for id in order {
        let node = graph.node(id)?;
        let operand_ids = graph.operands(id);
        let args = operand_ids
            .iter()
            .map(|o| values.get(o).ok_or(IrError::UnknownNode(*o)))
            .collect::<Result<Vec<&Value>>>()?;
        let raw = eval_node(id, node, &args, feeds)?;
        let dtype = node.dtype();
        let data = raw.into_iter().map(|v| dtype.round(v)).collect();
        values.insert(
            id,
            Value {
                ty: node.ty.clone(),
                data,
            },
        );
    }
    outputs
        .iter()
        .map(|o| {
            let v = values.get(o).ok_or(IrError::UnknownNode(*o))?;
            HostTensor::from_f64(v.ty.dtype, v.ty.shape.clone(), &v.data)
        })
        .collect()
}

/// Evaluates the graph's own outputs ([`Graph::outputs`]); see [`evaluate`].
pub fn evaluate_outputs(
    graph: &Graph,
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<HostTensor>> {
    evaluate(graph, graph.outputs(), feeds)
}

/// The operands as a fixed-size array; the graph's type rules guarantee the count, so a
/// mismatch means a corrupted graph and is reported rather than panicking.
fn operands<'a, const N: usize>(op: &Op, args: &[&'a Value]) -> Result<[&'a Value; N]> {
    <[&'a Value; N]>::try_from(args).map_err(|_| IrError::Arity {
        op: op.name(),
        expected: N.to_string(),
        got: args.len(),
    })
}

/// One node's elements before rounding to its dtype. One arm per op, no catch-all: adding an op
/// makes the compiler ask for its semantics here.
fn eval_node(
    id: NodeId,
    node: &Node,
    args: &[&Value],
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<f64>> {
    let op = &node.op;
    let out = &node.ty;
    let site = Site {
        op: op.name(),
        node: id,
    };
    match op {
        Op::Input { name } | Op::Parameter { name } => feed(id, name, out, feeds),
        Op::Constant { value } => Ok(value.to_f64_vec()),
        Op::Random { dist, seed } => Ok(random(*dist, *seed, out.shape.numel())),
        Op::Unary(u) => {
            let [x] = operands(op, args)?;
            Ok(unary(*u, x))
        }
        Op::Binary(b) => {
            let [x, y] = operands(op, args)?;
            Ok(binary(*b, x, y))
        }
        Op::Where => {
            let [c, x, y] = operands(op, args)?;
            Ok(select(c, x, y))
        }
        Op::Cast => {
            // The conversion is the rounding to the declared dtype that follows every node.
            let [x] = operands(op, args)?;
            Ok(x.data.clone())
        }
        Op::Reduce { op: r, axes } => {
            let [x] = operands(op, args)?;
            Ok(reduce(*r, axes, x, &out.shape))
        }
        Op::ArgMax { axis } => {
            let [x] = operands(op, args)?;
            Ok(argmax(*axis, x, &out.shape))
        }
        Op::MatMul => {
            let [a, b] = operands(op, args)?;
            Ok(matmul(a, b, &out.shape))
        }
        Op::Reshape => {
            // Row-major data is unchanged; only the shape (the node's type) differs.
            let [x] = operands(op, args)?;
            Ok(x.data.clone())
        }
        Op::Permute { perm } => {
            let [x] = operands(op, args)?;
            Ok(permute(perm, x, &out.shape))
        }
        Op::Expand => {
            let [x] = operands(op, args)?;
            Ok(expand(x, &out.shape))
        }
        Op::Slice { ranges } => {
            let [x] = operands(op, args)?;
            Ok(slice(ranges, x, &out.shape))
        }
        Op::Pad { widths, value } => {
            let [x] = operands(op, args)?;
            Ok(pad(widths, *value, x, &out.shape))
        }
        Op::Concat { axis } => Ok(concat(*axis, args, &out.shape)),
        Op::Gather { axis } => {
            let [src, idx] = operands(op, args)?;
            gather(site, *axis, src, idx)
        }
        Op::ScatterAdd { axis } => {
            let [base, idx, src] = operands(op, args)?;
            scatter_add(site, *axis, base, idx, src)
        }
    }
}

/// The fed value of an `input` or `param` node, checked against its declared type.
fn feed(
    id: NodeId,
    name: &str,
    declared: &TensorType,
    feeds: &HashMap<String, HostTensor>,
) -> Result<Vec<f64>> {
    let t = feeds.get(name).ok_or_else(|| IrError::MissingFeed {
        name: name.to_string(),
        node: id,
    })?;
    if t.dtype() != declared.dtype || *t.shape() != declared.shape {
        return Err(IrError::FeedMismatch {
            name: name.to_string(),
            expected_dtype: declared.dtype,
            expected_shape: declared.shape.clone(),
            got_dtype: t.dtype(),
            got_shape: t.shape().clone(),
        });
    }
    Ok(t.to_f64_vec())
}

// random: element i = philox_uniform(seed, i) or philox_normal(seed, i), computed as f32.
fn random(dist: Distribution, seed: u64, numel: usize) -> Vec<f64> {
    let element = match dist {
        Distribution::Uniform => philox_uniform,
        Distribution::Normal => philox_normal,
    };
    (0..numel)
        .map(|i| f64::from(element(seed, i as u64)))
        .collect()
}

/// `1.0` for true, `0.0` for false: how `bool` values are held.
pub(crate) fn truth(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

// ---- Strided indexing: row-major multi-indices over a shape and their element offsets ----
// Every view op below is a map from output multi-indices to operand offsets.

/// Every multi-index of a shape in row-major order (the last axis varies fastest). A rank-0
/// shape has one (empty) index; a shape with a 0 dimension has none.
struct MultiIndex {
    dims: AxisList,
    next: Option<AxisList>,
}

impl MultiIndex {
    /// The multi-indices of `dims`.
    fn new(dims: &[usize]) -> MultiIndex {
        let next = if dims.contains(&0) {
            None
        } else {
            Some(AxisList::from_elem(0, dims.len()))
        };
        MultiIndex {
            dims: dims.iter().copied().collect(),
            next,
        }
    }
}

impl Iterator for MultiIndex {
    type Item = AxisList;

    fn next(&mut self) -> Option<AxisList> {
        let current = self.next.take()?;
        // Odometer increment: bump the last axis, carrying into earlier ones.
        let mut following = current.clone();
        for axis in (0..self.dims.len()).rev() {
            following[axis] += 1;
            if following[axis] < self.dims[axis] {
                self.next = Some(following);
                break;
            }
            following[axis] = 0;
        }
        Some(current)
    }
}

/// The element offset of multi-index `idx` under `strides`: `sum idx[d] * strides[d]`.
fn offset(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

// ---- Elementwise ops: unary, binary (math and comparisons) and `where` ----
// Operands have
// identical shapes (broadcasting is an explicit `expand`), so element `i` of the result depends
// only on element `i` of each operand.

// unary: out[i] = f(x[i]); bool `not` is x == 0.
fn unary(op: UnaryOp, x: &Value) -> Vec<f64> {
    x.data.iter().map(|&v| unary_scalar(op, v)).collect()
}

pub(crate) fn unary_scalar(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        // Written with e^-|x| <= 1 so that nothing overflows and tiny results keep their
        // relative accuracy.
        UnaryOp::Sigmoid => {
            let t = (-x.abs()).exp();
            if x >= 0.0 {
                1.0 / (1.0 + t)
            } else {
                t / (1.0 + t)
            }
        }
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Not => truth(x == 0.0),
    }
}

// binary: out[i] = a[i] (op) b[i]; comparisons and and/or give 0/1.
fn binary(op: BinaryOp, a: &Value, b: &Value) -> Vec<f64> {
    a.data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| binary_scalar(op, x, y))
        .collect()
}

pub(crate) fn binary_scalar(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Max => nan_max(x, y),
        BinaryOp::Min => nan_min(x, y),
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Eq => truth(x == y),
        BinaryOp::Ne => truth(x != y),
        BinaryOp::Lt => truth(x < y),
        BinaryOp::Le => truth(x <= y),
        BinaryOp::Gt => truth(x > y),
        BinaryOp::Ge => truth(x >= y),
        BinaryOp::And => truth(x != 0.0 && y != 0.0),
        BinaryOp::Or => truth(x != 0.0 || y != 0.0),
    }
}

/// `max(x, y)`, NaN if either is NaN (`torch.maximum`; `f64::max` would drop the NaN).
pub(crate) fn nan_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

/// `min(x, y)`, NaN if either is NaN (`torch.minimum`).
pub(crate) fn nan_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.min(y)
    }
}

// where: out[i] = if cond[i] != 0 { a[i] } else { b[i] }.
fn select(cond: &Value, a: &Value, b: &Value) -> Vec<f64> {
    cond.data
        .iter()
        .zip(a.data.iter().zip(&b.data))
        .map(|(&c, (&x, &y))| if c != 0.0 { x } else { y })
        .collect()
}

// ---- Ops that combine many elements into one: reduce, argmax, matmul ----
// Sums accumulate in `f64` in row-major order of the summed elements.

// reduce: out[j] = sum / max of x[i] over every i that agrees with j outside `axes`.
// Empty sum = 0; empty max = -inf, which rounding turns into the dtype's minimum for integers.
fn reduce(op: ReduceOp, axes: &[usize], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let init = match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Max => f64::NEG_INFINITY,
    };
    let mut out = vec![init; out_shape.numel()];
    let out_strides = out_shape.strides();
    for (i, mut idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
        for &a in axes {
            idx[a] = 0;
        }
        let o = offset(&idx, &out_strides);
        out[o] = match op {
            ReduceOp::Sum => out[o] + x.data[i],
            ReduceOp::Max => nan_max(out[o], x.data[i]),
        };
    }
    out
}

// argmax: out[j] = the first k maximising x[j with axis = k]; a NaN beats every number.
fn argmax(axis: usize, x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let len = x.ty.shape.dim(axis);
    MultiIndex::new(out_shape.dims())
        .map(|idx| {
            let first = offset(&idx, &strides);
            let at = |k: usize| x.data[first + k * strides[axis]];
            let mut best = 0;
            for k in 1..len {
                let (v, b) = (at(k), at(best));
                if !b.is_nan() && (v.is_nan() || v > b) {
                    best = k;
                }
            }
            best as f64
        })
        .collect()
}

// matmul: out[.., i, j] = sum_{k = 0..K} a[.., i, k] * b[.., k, j], batch dims identical.
fn matmul(a: &Value, b: &Value, out_shape: &Shape) -> Vec<f64> {
    let dims = a.ty.shape.dims();
    let rank = dims.len();
    let (m, k) = (dims[rank - 2], dims[rank - 1]);
    let n = out_shape.dim(rank - 1);
    let batch: usize = dims[..rank - 2].iter().product();
    let mut out = Vec::with_capacity(out_shape.numel());
    for bi in 0..batch {
        let (a0, b0) = (bi * m * k, bi * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += a.data[a0 + i * k + p] * b.data[b0 + p * n + j];
                }
                out.push(acc);
            }
        }
    }
    out
}

// ---- Ops that move elements without arithmetic: permute, expand, slice, pad, concat ----
// (`reshape` is the identity on row-major data.) Each maps multi-indices to offsets.

// permute: out[i_0, .., i_n] = x[j] where j[perm[d]] = i_d.
fn permute(perm: &[usize], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let moved: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[offset(&idx, &moved)])
        .collect()
}

// expand: out[i] = x[i with every size-1 axis of x set to 0].
fn expand(x: &Value, out_shape: &Shape) -> Vec<f64> {
    let mut strides = x.ty.shape.strides();
    for (s, &d) in strides.iter_mut().zip(x.ty.shape.dims()) {
        if d == 1 {
            *s = 0;
        }
    }
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[offset(&idx, &strides)])
        .collect()
}

// slice: out[i] = x[start + i * step] per axis.
fn slice(ranges: &[SliceRange], x: &Value, out_shape: &Shape) -> Vec<f64> {
    let strides = x.ty.shape.strides();
    let base: usize = ranges.iter().zip(&strides).map(|(r, s)| r.start * s).sum();
    let stepped: Vec<usize> = ranges
        .iter()
        .zip(&strides)
        .map(|(r, s)| r.step * s)
        .collect();
    MultiIndex::new(out_shape.dims())
        .map(|idx| x.data[base + offset(&idx, &stepped)])
        .collect()
}

// pad: out[i + before] = x[i]; every other element is `value`.
fn pad(widths: &[(usize, usize)], value: f64, x: &Value, out_shape: &Shape) -> Vec<f64> {
    let mut out = vec![value; out_shape.numel()];
    let out_strides = out_shape.strides();
    let base: usize = widths.iter().zip(&out_strides).map(|(w, s)| w.0 * s).sum();
    for (i, idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
        out[base + offset(&idx, &out_strides)] = x.data[i];
    }
    out
}

// concat: operand n fills out[.., o_n + i, ..], o_n = sum of earlier operands' sizes on `axis`.
fn concat(axis: usize, args: &[&Value], out_shape: &Shape) -> Vec<f64> {
    let mut out = vec![0.0; out_shape.numel()];
    let out_strides = out_shape.strides();
    let mut start = 0;
    for x in args {
        let base = start * out_strides[axis];
        for (i, idx) in MultiIndex::new(x.ty.shape.dims()).enumerate() {
            out[base + offset(&idx, &out_strides)] = x.data[i];
        }
        start += x.ty.shape.dim(axis);
    }
    out
}

// ---- Data-dependent indexing: gather and scatter_add (PyTorch's semantics) ----
// An index outside `0..size` of the indexed axis (negative too) is an `IrError::Runtime` naming
// the index, the axis and the size.

/// Index value `v` read at position `at` of the index tensor, checked against `0..size`.
fn checked_index(site: Site, v: f64, at: &[usize], axis: usize, size: usize) -> Result<usize> {
    // Integer dtypes hold whole numbers, so the comparison with `size` is exact.
    if v < 0.0 || v >= size as f64 {
        return Err(site.error(format!(
            "index {} is out of bounds for axis {axis} with size {size} (at index position {at:?})",
            v as i64
        )));
    }
    Ok(v as usize)
}

// gather: out[i] = src[i with axis = index[i]] (result has the index's shape).
fn gather(site: Site, axis: usize, src: &Value, index: &Value) -> Result<Vec<f64>> {
    let strides = src.ty.shape.strides();
    let size = src.ty.shape.dim(axis);
    MultiIndex::new(index.ty.shape.dims())
        .enumerate()
        .map(|(n, mut idx)| {
            idx[axis] = checked_index(site, index.data[n], &idx, axis, size)?;
            Ok(src.data[offset(&idx, &strides)])
        })
        .collect()
}

// scatter_add: out = base; out[i with axis = index[i]] += src[i], in row-major order of i.
fn scatter_add(
    site: Site,
    axis: usize,
    base: &Value,
    index: &Value,
    src: &Value,
) -> Result<Vec<f64>> {
    let mut out = base.data.clone();
    let strides = base.ty.shape.strides();
    let size = base.ty.shape.dim(axis);
    for (n, mut idx) in MultiIndex::new(index.ty.shape.dims()).enumerate() {
        idx[axis] = checked_index(site, index.data[n], &idx, axis, size)?;
        out[offset(&idx, &strides)] += src.data[n];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(dims: &[usize]) -> Vec<Vec<usize>> {
        MultiIndex::new(dims).map(|i| i.to_vec()).collect()
    }

    #[test]
    fn row_major_order() {
        assert_eq!(
            all(&[2, 3]),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        assert_eq!(all(&[]), vec![Vec::<usize>::new()]);
        assert!(all(&[2, 0, 3]).is_empty());
        assert_eq!(all(&[1, 1, 2]).len(), 2);
    }

    #[test]
    fn offsets_follow_strides() {
        assert_eq!(offset(&[1, 2, 3], &[12, 4, 1]), 23);
        assert_eq!(offset(&[], &[]), 0);
        assert!(MultiIndex::new(&[2, 3, 4])
            .enumerate()
            .all(|(n, idx)| offset(&idx, &[12, 4, 1]) == n));
    }
}
