//! Emission of one kernel body: a graph node's value at a kernel's loop index, as SSA
//! instructions. Every node that is not materialised is inlined: elementwise ops become
//! instructions and view ops become changes of the *index map* (an affine map from the kernel's
//! loop multi-index to the node's coordinates) until a buffer is reached, where the map becomes a
//! [`View`]'s offset and strides.
//!
//! How each view folds (the map `m` gives the node's coordinates; the operand's are computed):
//! - `permute`: `m_x[perm[d]] = m[d]`; `expand`: size-1 axes of the operand get coordinate 0;
//!   `slice`: `m_x[d] = start + step * m[d]`;
//! - `pad`: the operand is read under the mask `lo <= m[d] < lo + dim` (per padded axis) with
//!   `m_x[d] = m[d] - lo`, and the value is `select(mask, operand, fill)`;
//! - `concat`: one masked operand per piece, `select`ed by the range of `m[axis]`;
//! - `reshape`: the node's linear index `L = sum m[d] * rowmajor_y[d]` is split back into the
//!   operand's coordinates when that is affine: each loop axis's term must land on a single
//!   operand axis without carrying into the next for any loop index (checked on the loop's
//!   extents), and the constant must be a valid linear index. Otherwise, if the operand has a
//!   buffer, the load uses `L` directly (same row-major data); if not, emission fails with
//!   [`Fail::Retry`] naming the operand, and the lowering materialises it and starts over. This
//!   is the rule "a reshape that cannot be expressed as strides over its input view forces the
//!   input into a buffer" (e.g. a reshape merging the axes of a transposed view).
//!
//! Values are memoised per (node, map, mask), so a node used twice at the same coordinates is
//! computed once (`mul %9, %9`).
//!
//! Inlining stops at a depth of [`MAX_INLINE_DEPTH`] nodes: deeper, the node reached is
//! materialised (a [`Fail::Retry`]). That bounds the recursion (no stack overflow on a chain of
//! thousands of ops) and the size of one kernel's body.

use super::{Affine, BufferId, Inst, InstKind, Val, View};
use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::NodeId;
use crate::op::{BinaryOp, Op};
use crate::shape::Shape;
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};

/// How many nested nodes one kernel inlines before materialising (see the module docs).
pub const MAX_INLINE_DEPTH: usize = 64;

/// One affine coordinate per axis of a node.
pub(super) type Map = SmallVec<[Affine; 4]>;

/// Why emission stopped.
#[derive(Debug)]
pub(super) enum Fail {
    /// This node must be materialised (own buffer) first; lowering restarts.
    Retry(NodeId),
    /// A real error (boxed: the retry path is the hot one and should stay small).
    Ir(Box<IrError>),
}

impl From<IrError> for Fail {
    fn from(e: IrError) -> Fail {
        Fail::Ir(Box::new(e))
    }
}

/// What emission needs to know about buffers: which nodes have one (creating leaf buffers on
/// first use).
pub(super) trait Buffers {
    /// The graph.
    fn graph(&self) -> &crate::graph::Graph;
    /// The node's buffer if it is materialised or a leaf with storage (input, param, non-scalar
    /// constant), creating a leaf's buffer on first use.
    fn buffer_of(&mut self, node: NodeId) -> Result<Option<BufferId>, IrError>;
}

/// The identity map of a loop of these dims.
pub(super) fn identity(rank: usize) -> Map {
    (0..rank).map(|d| Affine::axis(d, rank)).collect()
}

/// `sum_d weights[d] * map[d]`.
fn linear(map: &[Affine], weights: &[usize], rank: usize) -> Affine {
    let mut out = Affine::constant(0, rank);
    for (a, &w) in map.iter().zip(weights) {
        let w = w as isize;
        out.offset += a.offset * w;
        for (o, c) in out.coefs.iter_mut().zip(&a.coefs) {
            *o += c * w;
        }
    }
    out
}

/// The view of buffer `buffer` (row-major over `dims`) at the coordinates `map`.
pub(super) fn view_at(buffer: BufferId, dims: &Shape, map: &[Affine], rank: usize) -> View {
    let l = linear(map, &dims.strides(), rank);
    View {
        buffer,
        offset: l.offset,
        strides: l.coefs,
    }
}

/// Splits the linear index `l` (of row-major data) into affine coordinates over `x_dims`, or
/// `None` when that is not affine on the loop box `loop_dims` (see the module docs).
fn unravel(l: &Affine, x_dims: &[usize], loop_dims: &[usize]) -> Option<Map> {
    let rank = loop_dims.len();
    let numel: usize = x_dims.iter().product();
    let mut out: Map = x_dims.iter().map(|_| Affine::constant(0, rank)).collect();
    if numel == 0 || loop_dims.contains(&0) {
        // No point is ever evaluated; any map is correct.
        return Some(out);
    }
    if l.offset < 0 || l.offset as usize >= numel {
        return None;
    }
    let strides = Shape::new(x_dims).ok()?.strides();
    let mut rest = l.offset as usize;
    for (j, o) in out.iter_mut().enumerate() {
        o.offset = (rest / strides[j]) as isize;
        rest %= strides[j];
    }
    for (k, (&r, &n)) in l.coefs.iter().zip(loop_dims).enumerate() {
        if r == 0 || n == 1 {
            continue;
        }
        if r < 0 {
            return None;
        }
        let r = r as usize;
        // The outermost axis whose stride divides the term keeps its coefficient smallest.
        let j = (0..x_dims.len()).find(|&j| x_dims[j] > 1 && r.is_multiple_of(strides[j]))?;
        out[j].coefs[k] = (r / strides[j]) as isize;
    }
    for (j, o) in out.iter().enumerate() {
        let max: isize = o.offset
            + o.coefs
                .iter()
                .zip(loop_dims)
                .map(|(&c, &n)| c * (n as isize - 1))
                .sum::<isize>();
        if max >= x_dims[j] as isize {
            return None;
        }
    }
    Some(out)
}

/// The coordinates of a reshape's operand, if affine (see [`unravel`]).
pub(super) fn reshape_map(
    map: &[Affine],
    y_dims: &Shape,
    x_dims: &Shape,
    loop_dims: &[usize],
) -> Option<Map> {
    let l = linear(map, &y_dims.strides(), loop_dims.len());
    unravel(&l, x_dims.dims(), loop_dims)
}

/// The coordinates of a permute/expand/slice operand. `None` for other ops.
pub(super) fn plain_view_map(op: &Op, map: &[Affine], x_dims: &Shape, rank: usize) -> Option<Map> {
    match op {
        Op::Permute { perm } => {
            let mut m: Map = map.iter().map(|_| Affine::constant(0, rank)).collect();
            for (d, &p) in perm.iter().enumerate() {
                m[p] = map[d].clone();
            }
            Some(m)
        }
        Op::Expand => Some(
            map.iter()
                .zip(x_dims.dims())
                .map(|(a, &xd)| {
                    if xd == 1 {
                        Affine::constant(0, rank)
                    } else {
                        a.clone()
                    }
                })
                .collect(),
        ),
        Op::Slice { ranges } => Some(
            map.iter()
                .zip(ranges)
                .map(|(a, r)| Affine {
                    offset: r.start as isize + r.step as isize * a.offset,
                    coefs: a.coefs.iter().map(|c| c * r.step as isize).collect(),
                })
                .collect(),
        ),
        Op::Input { .. }
        | Op::Parameter { .. }
        | Op::Constant { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Reduce { .. }
        | Op::ArgMax { .. }
        | Op::Reshape
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::MatMul
        | Op::Random { .. } => None,
    }
}

/// The plain strided view of `node` at `map`: follows permute/expand/slice/reshape down to a
/// buffer. Anything else (elementwise, pad, concat, random, a non-affine reshape of a value
/// without a buffer) asks for materialisation.
pub(super) fn view_of(
    bufs: &mut dyn Buffers,
    node: NodeId,
    map: &[Affine],
    loop_dims: &[usize],
) -> Result<View, Fail> {
    view_at_depth(bufs, node, map, loop_dims, 0)
}

fn view_at_depth(
    bufs: &mut dyn Buffers,
    node: NodeId,
    map: &[Affine],
    loop_dims: &[usize],
    depth: usize,
) -> Result<View, Fail> {
    let rank = loop_dims.len();
    let n = bufs.graph().node(node)?.clone();
    if let Some(b) = bufs.buffer_of(node)? {
        return Ok(view_at(b, n.shape(), map, rank));
    }
    if depth >= MAX_INLINE_DEPTH {
        return Err(Fail::Retry(node));
    }
    let operands = bufs.graph().operands(node);
    let Some(&x) = operands.first() else {
        return Err(Fail::Retry(node));
    };
    let x_shape = bufs.graph().node(x)?.shape().clone();
    if let Op::Reshape = n.op {
        return match reshape_map(map, n.shape(), &x_shape, loop_dims) {
            Some(m) => view_at_depth(bufs, x, &m, loop_dims, depth + 1),
            None => match bufs.buffer_of(x)? {
                Some(b) => Ok(view_at(b, n.shape(), map, rank)),
                None => Err(Fail::Retry(x)),
            },
        };
    }
    match plain_view_map(&n.op, map, &x_shape, rank) {
        Some(m) => view_at_depth(bufs, x, &m, loop_dims, depth + 1),
        None => Err(Fail::Retry(node)),
    }
}

/// Builds one body.
pub(super) struct Emitter<'b> {
    /// Buffer lookup.
    pub bufs: &'b mut dyn Buffers,
    /// The loop's extents.
    pub loop_dims: SmallVec<[usize; 8]>,
    /// Instructions so far.
    pub insts: Vec<Inst>,
    /// The node whose value is [`InstKind::Acc`] (an epilogue's anchor).
    pub acc: Option<NodeId>,
    /// Non-leaf nodes inlined so far.
    pub nodes: BTreeSet<NodeId>,
    memo: HashMap<(NodeId, Map, Option<Val>), Val>,
    consts: HashMap<(DType, u64), Val>,
    depth: usize,
}

impl<'b> Emitter<'b> {
    /// An emitter for a loop over `loop_dims`.
    pub fn new(bufs: &'b mut dyn Buffers, loop_dims: &[usize]) -> Emitter<'b> {
        Emitter {
            bufs,
            loop_dims: loop_dims.iter().copied().collect(),
            insts: Vec::new(),
            acc: None,
            nodes: BTreeSet::new(),
            memo: HashMap::new(),
            consts: HashMap::new(),
            depth: 0,
        }
    }

    fn rank(&self) -> usize {
        self.loop_dims.len()
    }

    /// Appends an instruction.
    pub fn push(&mut self, dtype: DType, kind: InstKind) -> Val {
        self.insts.push(Inst { dtype, kind });
        Val(self.insts.len() as u32 - 1)
    }

    /// A literal, shared within the body.
    pub fn constant(&mut self, dtype: DType, v: f64) -> Val {
        let v = dtype.round(v);
        if let Some(&c) = self.consts.get(&(dtype, v.to_bits())) {
            return c;
        }
        let c = self.push(dtype, InstKind::Const(v));
        self.consts.insert((dtype, v.to_bits()), c);
        c
    }

    fn and(&mut self, a: Option<Val>, b: Val) -> Val {
        match a {
            Some(a) => self.push(DType::Bool, InstKind::Binary(BinaryOp::And, a, b)),
            None => b,
        }
    }

    /// The value of `node` at coordinates `map`, reading only where `mask` holds.
    pub fn emit(&mut self, node: NodeId, map: &[Affine], mask: Option<Val>) -> Result<Val, Fail> {
        let key = (node, map.iter().cloned().collect::<Map>(), mask);
        if let Some(&v) = self.memo.get(&key) {
            return Ok(v);
        }
        self.depth += 1;
        let v = self.emit_uncached(node, map, mask);
        self.depth -= 1;
        let v = v?;
        self.memo.insert(key, v);
        Ok(v)
    }

    fn emit_uncached(
        &mut self,
        node: NodeId,
        map: &[Affine],
        mask: Option<Val>,
    ) -> Result<Val, Fail> {
        let rank = self.rank();
        let n = self.bufs.graph().node(node)?.clone();
        let dtype = n.dtype();
        if self.acc == Some(node) {
            return Ok(self.push(dtype, InstKind::Acc));
        }
        if let Op::Constant { value } = &n.op {
            // A one-element literal is an immediate, never a load.
            if value.numel() == 1 {
                return Ok(self.constant(dtype, value.get_f64(0)));
            }
        }
        if let Some(b) = self.bufs.buffer_of(node)? {
            let view = view_at(b, n.shape(), map, rank);
            return Ok(self.push(dtype, InstKind::Load { view, mask }));
        }
        if self.depth > MAX_INLINE_DEPTH {
            return Err(Fail::Retry(node));
        }
        let operands = self.bufs.graph().operands(node);
        let shape_of = |bufs: &dyn Buffers, id: NodeId| -> Result<Shape, Fail> {
            Ok(bufs.graph().node(id)?.shape().clone())
        };
        self.nodes.insert(node);
        let val = match &n.op {
            Op::Input { .. } | Op::Parameter { .. } | Op::Constant { .. } => {
                return Err(
                    IrError::Unsupported(format!("lowering: leaf {node} has no buffer")).into(),
                )
            }
            Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::MatMul
            | Op::Gather { .. }
            | Op::ScatterAdd { .. } => return Err(Fail::Retry(node)),
            Op::Random { dist, seed } => {
                let index = linear(map, &n.shape().strides(), rank);
                self.push(
                    dtype,
                    InstKind::Random {
                        dist: *dist,
                        seed: *seed,
                        index,
                    },
                )
            }
            Op::Unary(u) => {
                let x = self.emit(operands[0], map, mask)?;
                self.push(dtype, InstKind::Unary(*u, x))
            }
            Op::Binary(b) => {
                let x = self.emit(operands[0], map, mask)?;
                let y = self.emit(operands[1], map, mask)?;
                self.push(dtype, InstKind::Binary(*b, x, y))
            }
            Op::Where => {
                let c = self.emit(operands[0], map, mask)?;
                let x = self.emit(operands[1], map, mask)?;
                let y = self.emit(operands[2], map, mask)?;
                self.push(dtype, InstKind::Select(c, x, y))
            }
            Op::Cast => {
                let x = self.emit(operands[0], map, mask)?;
                self.push(dtype, InstKind::Cast(x))
            }
            Op::Reshape => {
                let x = operands[0];
                let x_shape = shape_of(self.bufs, x)?;
                match reshape_map(map, n.shape(), &x_shape, &self.loop_dims) {
                    Some(m) => self.emit(x, &m, mask)?,
                    None => match self.bufs.buffer_of(x)? {
                        Some(b) => {
                            let view = view_at(b, n.shape(), map, rank);
                            self.push(dtype, InstKind::Load { view, mask })
                        }
                        None => return Err(Fail::Retry(x)),
                    },
                }
            }
            Op::Permute { .. } | Op::Expand | Op::Slice { .. } => {
                let x = operands[0];
                let x_shape = shape_of(self.bufs, x)?;
                let m = plain_view_map(&n.op, map, &x_shape, rank).ok_or_else(|| {
                    IrError::Unsupported(format!("lowering: {} is not a view", n.op.name()))
                })?;
                self.emit(x, &m, mask)?
            }
            Op::Pad { widths, value } => {
                let x = operands[0];
                let x_shape = shape_of(self.bufs, x)?;
                let mut inside: Option<Val> = None;
                let mut m: Map = map.iter().cloned().collect();
                for (d, &(lo, _)) in widths.iter().enumerate() {
                    if widths[d] == (0, 0) {
                        continue;
                    }
                    let cond = self.push(
                        DType::Bool,
                        InstKind::InRange {
                            index: map[d].clone(),
                            lo: lo as isize,
                            hi: (lo + x_shape.dim(d)) as isize,
                        },
                    );
                    inside = Some(self.and(inside, cond));
                    m[d].offset -= lo as isize;
                }
                match inside {
                    None => self.emit(x, &m, mask)?,
                    Some(inside) => {
                        let guard = self.and(mask, inside);
                        let v = self.emit(x, &m, Some(guard))?;
                        let fill = self.constant(dtype, *value);
                        self.push(dtype, InstKind::Select(inside, v, fill))
                    }
                }
            }
            Op::Concat { axis } => {
                let mut pieces = Vec::new();
                let mut start = 0usize;
                for &x in &operands {
                    let len = shape_of(self.bufs, x)?.dim(*axis);
                    if len > 0 {
                        pieces.push((x, start, len));
                    }
                    start += len;
                }
                if pieces.is_empty() {
                    // No element exists along the axis, so the body never runs.
                    self.constant(dtype, 0.0)
                } else if pieces.len() == 1 {
                    let (x, s, _) = pieces[0];
                    let mut m: Map = map.iter().cloned().collect();
                    m[*axis].offset -= s as isize;
                    self.emit(x, &m, mask)?
                } else {
                    let mut vals = Vec::new();
                    for &(x, s, len) in &pieces {
                        let cond = self.push(
                            DType::Bool,
                            InstKind::InRange {
                                index: map[*axis].clone(),
                                lo: s as isize,
                                hi: (s + len) as isize,
                            },
                        );
                        let guard = self.and(mask, cond);
                        let mut m: Map = map.iter().cloned().collect();
                        m[*axis].offset -= s as isize;
                        let v = self.emit(x, &m, Some(guard))?;
                        vals.push((cond, v));
                    }
                    // Right fold: the last piece is the default of the innermost select.
                    let mut acc = vals[vals.len() - 1].1;
                    for &(cond, v) in vals[..vals.len() - 1].iter().rev() {
                        acc = self.push(dtype, InstKind::Select(cond, v, acc));
                    }
                    acc
                }
            }
        };
        Ok(val)
    }

    /// Finishes the body with `result`.
    pub fn finish(self, result: Val) -> (super::Body, BTreeSet<NodeId>) {
        (
            super::Body {
                insts: self.insts,
                result,
            },
            self.nodes,
        )
    }
}

/// Strides of a full-rank `Affine` list, for tests.
#[cfg(test)]
fn coefs(a: &Affine) -> super::Strides {
    a.coefs.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aff(offset: isize, coefs: &[isize]) -> Affine {
        Affine {
            offset,
            coefs: coefs.iter().copied().collect(),
        }
    }

    #[test]
    fn kernel_unravel_splits_and_merges() {
        // [12] viewed as [3,4] with loop [3,4]: L = 4 i0 + i1.
        let m = unravel(&aff(0, &[4, 1]), &[12], &[3, 4]).unwrap();
        assert_eq!(coefs(&m[0]).as_slice(), &[4, 1]);
        // [3,4] read by a loop over [12]: L = i0 cannot be split without div/mod.
        assert!(unravel(&aff(0, &[1]), &[3, 4], &[12]).is_none());
        // [3,4] read by a loop over [3,4].
        let m = unravel(&aff(0, &[4, 1]), &[3, 4], &[3, 4]).unwrap();
        assert_eq!(coefs(&m[0]).as_slice(), &[1, 0]);
        assert_eq!(coefs(&m[1]).as_slice(), &[0, 1]);
        // A transposed read that merges: L = i0 + 3 i1 over loop [3,4] into x [12]: fine.
        let m = unravel(&aff(0, &[1, 3]), &[12], &[3, 4]).unwrap();
        assert_eq!(coefs(&m[0]).as_slice(), &[1, 3]);
        // Negative constants (under a pad mask) are refused.
        assert!(unravel(&aff(-1, &[1]), &[4], &[4]).is_none());
    }
}
