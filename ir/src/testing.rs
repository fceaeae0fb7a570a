//! Random well-typed graphs for property tests and differential fuzzing.
//!
//! Compiled for this crate's own tests and, for other crates, with the `testing` feature
//! (`kiln-ir = { workspace = true, features = ["testing"] }` under `[dev-dependencies]`).
//!
//! [`random_graph`] draws every decision from an [`Entropy`]: a byte string (as proptest or
//! cargo-fuzz supply; when it runs out every draw is 0, so generation always ends and shorter
//! inputs give smaller graphs, which lets proptest shrink) or a seed (endless splitmix64).
//!
//! Guarantees: the graph is built with [`Graph::add`], so it is well typed and passes
//! [`Graph::verify`]; it uses every op with valid attributes, ranks 0 to `max_rank`, dims from 0
//! to `max_dim` (0 and 1 often), every dtype an op allows, float literals including NaN, ±inf,
//! -0.0 and subnormals, input/param names with quotes, backslashes, newlines and non-ASCII text,
//! and, when `remove_percent > 0`, removed nodes whose slots are reused so that ids have gaps and
//! are not in topological order. Gather/scatter indices are constants within range, so the
//! graph can be evaluated once inputs and parameters are fed.

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Graph, Node, NodeId};
use crate::op::{BinaryOp, Distribution, Op, ReduceOp, SliceRange, TensorType, UnaryOp};
use crate::shape::{AxisList, Shape};
use crate::tensor::{HostTensor, TensorData};

/// A source of decisions: bytes (then zeros) or a seeded generator.
#[derive(Clone, Debug)]
pub struct Entropy {
    bytes: Vec<u8>,
    pos: usize,
    /// splitmix64 state when seeded.
    seed: Option<u64>,
}

impl Entropy {
    /// Draws from `bytes`, then returns zeros forever.
    pub fn from_bytes(bytes: &[u8]) -> Entropy {
        Entropy {
            bytes: bytes.to_vec(),
            pos: 0,
            seed: None,
        }
    }

    /// An endless stream determined by `seed`.
    pub fn from_seed(seed: u64) -> Entropy {
        Entropy {
            bytes: Vec::new(),
            pos: 0,
            seed: Some(seed),
        }
    }

    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        if let Some(s) = &mut self.seed {
            // splitmix64: small, fast and good enough for test-case generation.
            *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            return (z ^ (z >> 31)) as u8;
        }
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A `u64` from eight bytes.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// A number in `0..n` (0 when `n <= 1`); one byte when `n <= 256`.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            (self.u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100 (false on zero entropy).
    pub fn chance(&mut self, percent: u8) -> bool {
        (self.byte() % 100) >= 100 - percent.min(100)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Knobs of [`random_graph`].
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Ops added (the graph also holds the leaves they need).
    pub max_nodes: usize,
    /// Largest rank of a fresh leaf (at most [`crate::MAX_RANK`]).
    pub max_rank: usize,
    /// Largest dim of a fresh leaf.
    pub max_dim: usize,
    /// Chance, per step, of removing an unused node (creating id gaps and reused slots).
    pub remove_percent: u8,
    /// Operands are taken only from nodes with at most this many elements, so chains of
    /// `concat` and `pad` stay small enough to interpret.
    pub max_operand_numel: usize,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            max_nodes: 24,
            max_rank: 4,
            max_dim: 4,
            remove_percent: 10,
            max_operand_numel: 4096,
        }
    }
}

/// A random well-typed graph with at least one output (see the module docs).
pub fn random_graph(entropy: &mut Entropy, cfg: &GenConfig) -> Result<Graph> {
    let mut gen = Gen {
        g: Graph::new(),
        e: entropy,
        cfg,
        names: 0,
    };
    let steps = 1 + gen.e.below(cfg.max_nodes.max(1));
    for _ in 0..steps {
        gen.step()?;
        if gen.e.chance(cfg.remove_percent) {
            gen.remove_unused();
        }
    }
    gen.finish()
}

/// A random graph from a seed with the default configuration.
pub fn random_graph_from_seed(seed: u64) -> Result<Graph> {
    random_graph(&mut Entropy::from_seed(seed), &GenConfig::default())
}

struct Gen<'a> {
    g: Graph,
    e: &'a mut Entropy,
    cfg: &'a GenConfig,
    names: usize,
}

const NUMERIC: [DType; 4] = [DType::I32, DType::I64, DType::F32, DType::F64];
const FLOATS: [DType; 2] = [DType::F32, DType::F64];

fn shape(dims: &[usize]) -> Result<Shape> {
    Shape::new(dims)
}

impl Gen<'_> {
    fn ty(&self, id: NodeId) -> Result<TensorType> {
        Ok(self.g.node(id)?.ty.clone())
    }

    fn dim(&mut self) -> usize {
        match self.e.below(10) {
            0 => 0,
            1..=3 => 1,
            _ => 2 + self.e.below(self.cfg.max_dim.saturating_sub(1)),
        }
        .min(self.cfg.max_dim)
    }

    fn dims(&mut self, min_rank: usize, nonzero: bool) -> Vec<usize> {
        let max_rank = self.cfg.max_rank.clamp(min_rank, crate::MAX_RANK);
        let rank = min_rank + self.e.below(max_rank - min_rank + 1);
        (0..rank)
            .map(|_| {
                let d = self.dim();
                if nonzero {
                    d.max(1)
                } else {
                    d
                }
            })
            .collect()
    }

    fn fresh_type(&mut self, dtypes: &[DType], min_rank: usize) -> Result<TensorType> {
        let d = self.e.pick(dtypes);
        let dims = self.dims(min_rank, false);
        Ok(TensorType::new(d, shape(&dims)?))
    }

    fn name(&mut self) -> String {
        self.names += 1;
        let n = self.names;
        match self.e.below(8) {
            0 => format!("in \"{n}\" \\ é\n\t"),
            1 => format!("p.{n}/ß"),
            _ => format!("x{n}"),
        }
    }

    fn f64_value(&mut self) -> f64 {
        match self.e.below(12) {
            0 => -0.0,
            1 => f64::NAN,
            2 => f64::INFINITY,
            3 => f64::NEG_INFINITY,
            4 => f64::from_bits(1 + self.e.u64() % ((1 << 52) - 1)),
            5 => f64::from_bits(self.e.u64()),
            6 => f64::from(f32::from_bits(1 + self.e.below(1 << 23) as u32)),
            7 => f64::from(f32::from_bits(self.e.u64() as u32)),
            _ => (self.e.below(2001) as f64 - 1000.0) / 8.0,
        }
    }

    fn int_value(&mut self) -> i64 {
        match self.e.below(8) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => self.e.u64() as i64,
            _ => self.e.below(201) as i64 - 100,
        }
    }

    fn literal(&mut self, ty: &TensorType) -> Result<HostTensor> {
        let n = ty.shape.numel();
        let data = match ty.dtype {
            DType::Bool => TensorData::Bool((0..n).map(|_| self.e.chance(50)).collect()),
            DType::I32 => TensorData::I32((0..n).map(|_| self.int_value() as i32).collect()),
            DType::I64 => TensorData::I64((0..n).map(|_| self.int_value()).collect()),
            DType::F32 => TensorData::F32((0..n).map(|_| self.f64_value() as f32).collect()),
            DType::F64 => TensorData::F64((0..n).map(|_| self.f64_value()).collect()),
        };
        HostTensor::new(ty.shape.clone(), data)
    }

    /// A fresh leaf of type `ty`: an input, a parameter, a constant or (floats) a random op.
    fn leaf(&mut self, ty: TensorType) -> Result<NodeId> {
        let choice = self.e.below(if ty.dtype.is_float() { 4 } else { 3 });
        let op = match choice {
            0 => Op::Input { name: self.name() },
            1 => Op::Parameter { name: self.name() },
            2 => Op::Constant {
                value: self.literal(&ty)?,
            },
            _ => Op::Random {
                dist: self.e.pick(&[Distribution::Uniform, Distribution::Normal]),
                seed: self.e.u64(),
            },
        };
        self.g.add(op, &[], Some(ty))
    }

    /// An existing node satisfying `pred` (usually), or a fresh leaf of a type from `make`.
    fn operand(
        &mut self,
        pred: impl Fn(&Node) -> bool,
        make: impl FnOnce(&mut Self) -> Result<TensorType>,
    ) -> Result<NodeId> {
        let limit = self.cfg.max_operand_numel;
        let candidates: Vec<NodeId> = self
            .g
            .node_ids()
            .into_iter()
            .filter(|&id| {
                self.g
                    .node(id)
                    .is_ok_and(|n| n.shape().numel() <= limit && pred(n))
            })
            .collect();
        if !candidates.is_empty() && !self.e.chance(20) {
            return Ok(self.e.pick(&candidates));
        }
        let ty = make(self)?;
        self.leaf(ty)
    }

    fn of_type(&mut self, ty: &TensorType) -> Result<NodeId> {
        let want = ty.clone();
        self.operand(|n| n.ty == want, |_| Ok(ty.clone()))
    }

    fn any(&mut self) -> Result<NodeId> {
        self.operand(|_| true, |s| s.fresh_type(&DType::ALL, 0))
    }

    /// An in-range index constant of `shape` into an axis of length `len`.
    fn index(&mut self, idx_shape: Shape, len: usize) -> Result<NodeId> {
        let dtype = self.e.pick(&[DType::I32, DType::I64]);
        let values: Vec<f64> = (0..idx_shape.numel())
            .map(|_| self.e.below(len) as f64)
            .collect();
        self.g
            .constant(HostTensor::from_f64(dtype, idx_shape, &values)?)
    }

    /// Index dims for gather/scatter: within `data` off `axis`, no elements if the axis is empty.
    fn index_shape(&mut self, data: &Shape, axis: usize) -> Result<Shape> {
        let dims: Vec<usize> = (0..data.rank())
            .map(|d| {
                if d == axis {
                    if data.dim(axis) == 0 {
                        0
                    } else {
                        self.e.below(self.cfg.max_dim + 1)
                    }
                } else {
                    self.e.below(data.dim(d) + 1)
                }
            })
            .collect();
        shape(&dims)
    }

    fn step(&mut self) -> Result<NodeId> {
        let numeric = |n: &Node| n.dtype().is_numeric();
        match self.e.below(19) {
            0..=1 => {
                let ty = self.fresh_type(&DType::ALL, 0)?;
                self.leaf(ty)
            }
            2 => {
                let x = self.any()?;
                let d = self.ty(x)?.dtype;
                let ops: Vec<UnaryOp> = UnaryOp::ALL.into_iter().filter(|u| u.accepts(d)).collect();
                let u = self.e.pick(&ops);
                self.g.unary(u, x)
            }
            3 => {
                let x = self.any()?;
                let t = self.ty(x)?;
                let ops: Vec<BinaryOp> = BinaryOp::ALL
                    .into_iter()
                    .filter(|b| b.accepts(t.dtype))
                    .collect();
                let b = self.e.pick(&ops);
                let y = self.of_type(&t)?;
                self.g.binary(b, x, y)
            }
            4 => {
                let a = self.any()?;
                let t = self.ty(a)?;
                let b = self.of_type(&t)?;
                let c = self.of_type(&TensorType::new(DType::Bool, t.shape))?;
                self.g.select(c, a, b)
            }
            5 => {
                let x = self.any()?;
                let t = TensorType::new(self.e.pick(&DType::ALL), self.ty(x)?.shape);
                self.g.add(Op::Cast, &[x], Some(t))
            }
            6 => {
                let x = self.operand(numeric, |s| s.fresh_type(&NUMERIC, 0))?;
                let rank = self.ty(x)?.shape.rank();
                let axes: AxisList = (0..rank).filter(|_| self.e.chance(50)).collect();
                let op = self.e.pick(&[ReduceOp::Sum, ReduceOp::Max]);
                self.g.add(Op::Reduce { op, axes }, &[x], None)
            }
            7 => {
                let x = self.operand(
                    |n| n.dtype().is_numeric() && n.shape().dims().iter().any(|&d| d > 0),
                    |s| {
                        let dims = s.dims(1, true);
                        Ok(TensorType::new(s.e.pick(&NUMERIC), shape(&dims)?))
                    },
                )?;
                let t = self.ty(x)?;
                let axes: Vec<usize> = (0..t.shape.rank())
                    .filter(|&a| t.shape.dim(a) > 0)
                    .collect();
                let axis = self.e.pick(&axes);
                self.g.add(Op::ArgMax { axis }, &[x], None)
            }
            8 => {
                let x = self.any()?;
                let t = self.ty(x)?;
                let dims = self.reshape_target(t.shape.dims());
                self.g.add(
                    Op::Reshape,
                    &[x],
                    Some(TensorType::new(t.dtype, shape(&dims)?)),
                )
            }
            9 => {
                let x = self.any()?;
                let mut perm: Vec<usize> = (0..self.ty(x)?.shape.rank()).collect();
                for i in (1..perm.len()).rev() {
                    let j = self.e.below(i + 1);
                    perm.swap(i, j);
                }
                self.g.permute(x, &perm)
            }
            10 => {
                let x = self.operand(
                    |n| n.shape().dims().contains(&1),
                    |s| s.fresh_type(&DType::ALL, 0),
                )?;
                let t = self.ty(x)?;
                let dims: Vec<usize> = t
                    .shape
                    .dims()
                    .iter()
                    .map(|&d| {
                        if d == 1 && self.e.chance(70) {
                            self.e.below(self.cfg.max_dim + 1)
                        } else {
                            d
                        }
                    })
                    .collect();
                self.g.add(
                    Op::Expand,
                    &[x],
                    Some(TensorType::new(t.dtype, shape(&dims)?)),
                )
            }
            11 => {
                let x = self.any()?;
                let ranges = self
                    .ty(x)?
                    .shape
                    .dims()
                    .iter()
                    .map(|&d| {
                        let start = self.e.below(d + 1);
                        let end = start + self.e.below(d - start + 1);
                        SliceRange {
                            start,
                            end,
                            step: 1 + self.e.below(3),
                        }
                    })
                    .collect();
                self.g.add(Op::Slice { ranges }, &[x], None)
            }
            12 => {
                let x = self.any()?;
                let rank = self.ty(x)?.shape.rank();
                let widths = (0..rank)
                    .map(|_| (self.e.below(3), self.e.below(3)))
                    .collect();
                let value = self.f64_value();
                self.g.add(Op::Pad { widths, value }, &[x], None)
            }
            13 => {
                let x = self.operand(|n| n.shape().rank() > 0, |s| s.fresh_type(&DType::ALL, 1))?;
                let t = self.ty(x)?;
                let axis = self.e.below(t.shape.rank());
                let mut operands = vec![x];
                for _ in 0..self.e.below(3) {
                    let d = self.dim();
                    operands
                        .push(self.of_type(&TensorType::new(t.dtype, t.shape.with_dim(axis, d)?))?);
                }
                self.g.add(Op::Concat { axis }, &operands, None)
            }
            14 => {
                let src =
                    self.operand(|n| n.shape().rank() > 0, |s| s.fresh_type(&DType::ALL, 1))?;
                let t = self.ty(src)?;
                let axis = self.e.below(t.shape.rank());
                let idx_shape = self.index_shape(&t.shape, axis)?;
                let idx = self.index(idx_shape, t.shape.dim(axis))?;
                self.g.add(Op::Gather { axis }, &[src, idx], None)
            }
            15 => {
                let base = self.operand(
                    |n| n.shape().rank() > 0 && n.dtype().is_numeric(),
                    |s| s.fresh_type(&NUMERIC, 1),
                )?;
                let t = self.ty(base)?;
                let axis = self.e.below(t.shape.rank());
                let idx_shape = self.index_shape(&t.shape, axis)?;
                let idx = self.index(idx_shape.clone(), t.shape.dim(axis))?;
                let src = self.of_type(&TensorType::new(t.dtype, idx_shape))?;
                self.g.add(Op::ScatterAdd { axis }, &[base, idx, src], None)
            }
            16 => {
                let a = self.operand(
                    |n| n.shape().rank() >= 2 && n.dtype().is_numeric(),
                    |s| s.fresh_type(&NUMERIC, 2),
                )?;
                let t = self.ty(a)?;
                let mut dims = t.shape.dims().to_vec();
                let r = dims.len();
                dims[r - 2] = dims[r - 1];
                dims[r - 1] = self.dim();
                let b = self.of_type(&TensorType::new(t.dtype, shape(&dims)?))?;
                self.g.matmul(a, b)
            }
            17 => {
                let ty = self.fresh_type(&FLOATS, 0)?;
                let dist = self.e.pick(&[Distribution::Uniform, Distribution::Normal]);
                let seed = self.e.u64();
                self.g.add(Op::Random { dist, seed }, &[], Some(ty))
            }
            _ => {
                let ty = self.fresh_type(&DType::ALL, 0)?;
                let value = self.literal(&ty)?;
                self.g.constant(value)
            }
        }
    }

    /// A shape with the same element count: adjacent dims merged or split, 1s added or dropped.
    fn reshape_target(&mut self, dims: &[usize]) -> Vec<usize> {
        let max_rank = self.cfg.max_rank.clamp(1, crate::MAX_RANK);
        let mut v = dims.to_vec();
        for _ in 0..1 + self.e.below(3) {
            match self.e.below(4) {
                0 if v.len() >= 2 => {
                    let i = self.e.below(v.len() - 1);
                    let merged = v[i] * v[i + 1];
                    v.splice(i..i + 2, [merged]);
                }
                1 if !v.is_empty() => {
                    let i = self.e.below(v.len());
                    let divisors: Vec<usize> =
                        (1..=v[i]).filter(|&a| v[i].is_multiple_of(a)).collect();
                    let a = if divisors.is_empty() {
                        0
                    } else {
                        self.e.pick(&divisors)
                    };
                    // A zero dim splits into (0, anything).
                    let rest = v[i].checked_div(a).unwrap_or_else(|| self.e.below(3));
                    v.splice(i..=i, [a, rest]);
                }
                2 => {
                    let i = self.e.below(v.len() + 1);
                    v.insert(i, 1);
                }
                _ => v.retain(|&d| d != 1),
            }
        }
        while v.len() > max_rank {
            let merged = v[0] * v[1];
            v.splice(0..2, [merged]);
        }
        v
    }

    fn unused(&self) -> Vec<NodeId> {
        self.g
            .node_ids()
            .into_iter()
            .filter(|&id| self.g.users(id).is_empty() && !self.g.outputs().contains(&id))
            .collect()
    }

    fn remove_unused(&mut self) {
        let unused = self.unused();
        if unused.len() > 1 {
            let id = self.e.pick(&unused);
            // `id` has no users and is not an output, so removal succeeds.
            let _ = self.g.remove(id);
        }
    }

    fn finish(mut self) -> Result<Graph> {
        let sinks = self.unused();
        let mut outputs: Vec<NodeId> = sinks
            .iter()
            .copied()
            .filter(|_| self.e.chance(70))
            .collect();
        if outputs.is_empty() {
            outputs.push(self.e.pick(&sinks));
        }
        if self.e.chance(20) {
            // An output listed twice, or an inner node as an output.
            let ids = self.g.node_ids();
            outputs.push(self.e.pick(&ids));
        }
        self.g.set_outputs(&outputs)?;
        if self.e.chance(self.cfg.remove_percent.saturating_mul(3)) {
            self.remove_unused();
        }
        Ok(self.g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_graphs_verify_and_cover_every_op() {
        let mut names = std::collections::BTreeSet::new();
        let (mut gaps, mut out_of_order) = (0, 0);
        for seed in 0..300 {
            let g = random_graph_from_seed(seed).unwrap();
            g.verify().unwrap();
            assert!(!g.outputs().is_empty());
            let ids = g.node_ids();
            gaps += usize::from(ids.last().is_some_and(|l| l.0 as usize + 1 != ids.len()));
            out_of_order += usize::from(g.topo_order() != ids);
            for id in g.node_ids() {
                names.insert(g.node(id).unwrap().op.name());
            }
        }
        let mut all: Vec<&str> = vec![
            "input",
            "param",
            "const",
            "where",
            "cast",
            "reduce.sum",
            "reduce.max",
            "argmax",
            "reshape",
            "permute",
            "expand",
            "slice",
            "pad",
            "concat",
            "gather",
            "scatter_add",
            "matmul",
            "random.uniform",
            "random.normal",
        ];
        all.extend(UnaryOp::ALL.map(UnaryOp::name));
        all.extend(BinaryOp::ALL.map(BinaryOp::name));
        let missing: Vec<&&str> = all.iter().filter(|n| !names.contains(**n)).collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
        assert!(
            gaps > 30 && out_of_order > 10,
            "{gaps} with gaps, {out_of_order} reordered"
        );
    }

    #[test]
    fn zero_entropy_terminates() {
        let g = random_graph(&mut Entropy::from_bytes(&[]), &GenConfig::default()).unwrap();
        g.verify().unwrap();
        assert!(!g.is_empty());
    }
}

/// Deterministic values: small numbers of both signs; for floats with `specials`, an occasional
/// NaN, ±inf or -0.
pub fn feed_for(dtype: DType, shape: &Shape, seed: u64, specials: bool) -> HostTensor {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let values: Vec<f64> = (0..shape.numel())
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let r = (s % 100_000) as f64 / 100_000.0;
            match dtype {
                DType::Bool => f64::from(u8::from(r < 0.5)),
                DType::I32 | DType::I64 => (r * 21.0).floor() - 10.0,
                DType::F32 | DType::F64 => {
                    if specials && s.is_multiple_of(61) {
                        [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0][(s % 4) as usize]
                    } else {
                        r * 8.0 - 4.0
                    }
                }
            }
        })
        .collect();
    // Valid by construction: one value per element of `shape`.
    HostTensor::from_f64(dtype, shape.clone(), &values)
        .unwrap_or_else(|_| HostTensor::full(dtype, shape.clone(), 0.0))
}

/// Deterministic values (see [`feed_for`]) for every input and parameter of `g`, by name.
pub fn feeds(
    g: &Graph,
    seed: u64,
    specials: bool,
) -> std::collections::HashMap<String, HostTensor> {
    let mut f = std::collections::HashMap::new();
    for (i, id) in g.inputs().into_iter().chain(g.parameters()).enumerate() {
        let Ok(n) = g.node(id) else { continue };
        let (Op::Input { name } | Op::Parameter { name }) = &n.op else {
            continue;
        };
        f.insert(
            name.clone(),
            feed_for(n.dtype(), n.shape(), seed + i as u64, specials),
        );
    }
    f
}

/// Relative and absolute tolerance for f32 and f64.
#[derive(Clone, Copy)]
pub struct Tol {
    /// (relative, absolute) for f32.
    pub f32: (f64, f64),
    /// (relative, absolute) for f64.
    pub f64: (f64, f64),
}

/// Exact for bool and integers, NaN matches NaN, floats within `abs + rel * max(|x|, |y|)`.
pub fn same(got: &HostTensor, want: &HostTensor, tol: Tol) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "type {}{} vs {}{}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let (rel, abs) = match got.dtype() {
        DType::F32 => tol.f32,
        DType::F64 => tol.f64,
        DType::Bool | DType::I32 | DType::I64 => (0.0, 0.0),
    };
    for i in 0..got.numel() {
        let (x, y) = (got.get_f64(i), want.get_f64(i));
        // Non-finite values must match exactly: `|inf - x| <= rel * inf` would accept any x.
        let ok = x == y
            || (x.is_nan() && y.is_nan())
            || (x.is_finite()
                && y.is_finite()
                && (x - y).abs() <= abs + rel * x.abs().max(y.abs()));
        if !ok {
            return Err(format!("element {i}: got {x}, want {y}"));
        }
    }
    Ok(())
}

/// Why a random graph may legitimately differ from the interpreter when compiled (the CPU
/// backend's stated differences): integer overflow (native code wraps, the interpreter
/// saturates) or sin/cos of arguments beyond 6e6 (outside the accurate range of the inline
/// math). Detected from the graph's literals and pad fills.
pub fn known_difference(g: &Graph) -> Option<&'static str> {
    let (mut big_int, mut huge, mut trig) = (false, false, false);
    for (id, n) in g
        .node_ids()
        .into_iter()
        .filter_map(|id| Some((id, g.node(id).ok()?)))
    {
        match &n.op {
            Op::Constant { value } => {
                for i in 0..value.numel() {
                    let v = value.get_f64(i).abs();
                    big_int |= value.dtype().is_int() && v > 1e4;
                    huge |= value.dtype().is_float() && v > 6e6;
                }
            }
            // A pad of an integer tensor with a huge fill (from +-inf): abs/neg of i64::MIN; of a
            // float tensor, a huge argument for sin/cos.
            Op::Pad { value, .. } => {
                big_int |= n.dtype().is_int() && value.abs() > 1e4;
                huge |= n.dtype().is_float() && value.abs() > 6e6;
            }
            // An empty integer max is the dtype's minimum: neg/abs of it overflows.
            Op::Reduce { .. } => {
                big_int |= n.dtype().is_int()
                    && g.operands(id)
                        .iter()
                        .any(|&o| g.node(o).is_ok_and(|o| o.shape().numel() == 0))
            }
            Op::Unary(UnaryOp::Sin | UnaryOp::Cos) => trig = true,
            _ => {}
        }
    }
    if huge && trig {
        Some("sin/cos of |x| > 6e6")
    } else if big_int {
        Some("integer overflow")
    } else {
        None
    }
}
