//! Fusion: partitions a graph into kernels and lowers them to a [`Program`].
//!
//! Every needed node is either **materialised** (computed by a kernel into its own buffer) or
//! **inlined** into the kernels that read it (elementwise ops become instructions, view ops
//! become index maps; see `emit.rs`). Rules, fused mode:
//! - *anchors* — `reduce`, `argmax`, `matmul`, `gather`, `scatter_add` — each get a kernel;
//! - a `reduce.*` or `matmul` absorbs an **epilogue**: the chain of elementwise ops (unary,
//!   binary, where, cast) of the anchor's own output shape that follows it while each link has
//!   exactly one user and is not an output (`mean = sum * (1/n)`, `rstd = recip(sqrt(var + eps))`,
//!   bias add and relu after a gemm); the chain's last node is the kernel's output;
//! - everything else elementwise or a view is inlined into each consumer (reduction prologues
//!   such as `exp(x - m)` included) unless it is a graph output, or it has several users and is
//!   not **cheap**: its inlined cost — 1 per elementwise op, `pad` and `concat`, 4 per `random`,
//!   0 for views, loads and literals, summed over the operands that are themselves inlined — is
//!   above [`LowerOptions::recompute_limit`] (default 4). So a view of an input, a literal or
//!   `exp(x - m)` is recomputed by each consumer, a long chain is computed once;
//! - a value of inlined cost >= 2 that is read through a broadcasting `expand` (possibly after
//!   reshapes and permutes) is materialised, so that it is computed once per element of its
//!   own shape rather than once per element of the broadcast (`rsqrt(var + eps)` per row);
//! - a value that must be a plain strided view (a gemm operand, a gather source) or a reshape
//!   that cannot be folded (see `emit.rs`) forces its operand into a buffer: lowering restarts
//!   with that node materialised (each restart adds one node, so this terminates);
//! - graph outputs are always materialised into output buffers (an output that is a leaf or a
//!   view gets a copy kernel).
//!
//! Eager mode ([`LowerOptions::eager`]): every node but the leaves (input, param, const) and the
//! views (reshape, permute, expand, slice, pad, concat) is materialised with one kernel, no
//! epilogues; **views are still folded into the loads** of their consumers (pad and concat as
//! masked loads), as a strided tensor library does without copying.

use super::emit::{identity, view_of, Buffers, Emitter, Fail};
use super::{BufferDecl, BufferId, BufferKind, Kernel, KernelKind, MemoryPlan, Program, Val};
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::{FusionClass, Op, ReduceOp};
use std::collections::{BTreeSet, HashMap, HashSet};

/// How to lower.
#[derive(Clone, Debug)]
pub struct LowerOptions {
    /// Fusion off: one kernel per non-view primitive (the benchmarks' baseline).
    pub eager: bool,
    /// The largest inlined cost of a value with several users that is still recomputed by each
    /// user rather than materialised (see the module docs).
    pub recompute_limit: usize,
}

impl Default for LowerOptions {
    fn default() -> LowerOptions {
        LowerOptions {
            eager: false,
            recompute_limit: 4,
        }
    }
}

impl LowerOptions {
    /// Eager mode with the default limits.
    pub fn eager() -> LowerOptions {
        LowerOptions {
            eager: true,
            ..LowerOptions::default()
        }
    }
}

/// Lowers the computation of `outputs` of `graph` to a [`Program`] (kernels, buffers and the
/// memory plan). Only nodes the outputs depend on are lowered.
///
/// Errors: [`IrError::UnknownNode`] for an output not in the graph; [`IrError::Unsupported`] if
/// a rule above cannot be met (not expected for a verified graph).
pub fn lower(graph: &Graph, outputs: &[NodeId], options: &LowerOptions) -> Result<Program> {
    let mut program = lower_unplanned(graph, outputs, options)?;
    program.plan = super::plan::plan_memory(&program);
    program.verify()?;
    Ok(program)
}

/// [`lower`] without the memory plan (for callers that change the kernels first).
pub(super) fn lower_unplanned(
    graph: &Graph,
    outputs: &[NodeId],
    options: &LowerOptions,
) -> Result<Program> {
    for &o in outputs {
        graph.node(o)?;
    }
    let order = graph.ordered_ancestors(outputs);
    let needed: HashSet<NodeId> = order.iter().copied().collect();
    let mut forced = HashSet::new();
    // Each round either succeeds or adds a node to `forced`, so at most `order.len()` rounds.
    for _ in 0..=order.len() {
        let part = partition(graph, &order, outputs, options, &forced, &needed)?;
        match build(graph, &order, outputs, &part) {
            Ok(program) => return Ok(program),
            Err(Fail::Retry(n)) => {
                if part.materialised.contains(&n) || !forced.insert(n) {
                    return Err(IrError::Unsupported(format!(
                        "lowering: {n} must be materialised but already is"
                    )));
                }
            }
            Err(Fail::Ir(e)) => return Err(*e),
        }
    }
    Err(IrError::Unsupported(
        "lowering: materialisation did not converge".into(),
    ))
}

/// How nodes are grouped.
struct Partition {
    /// Nodes computed into their own buffer, each by one kernel.
    materialised: HashSet<NodeId>,
    /// Epilogue chain ends -> (anchor, chain nodes after the anchor).
    epilogue: HashMap<NodeId, (NodeId, Vec<NodeId>)>,
}

fn partition(
    graph: &Graph,
    order: &[NodeId],
    outputs: &[NodeId],
    options: &LowerOptions,
    forced: &HashSet<NodeId>,
    needed: &HashSet<NodeId>,
) -> Result<Partition> {
    let users = |id: NodeId| -> Vec<NodeId> {
        graph
            .users(id)
            .into_iter()
            .filter(|u| needed.contains(u))
            .collect()
    };
    let is_output = |id: NodeId| outputs.contains(&id);
    let mut materialised: HashSet<NodeId> = forced.clone();
    let mut epilogue = HashMap::new();
    let mut in_chain: HashSet<NodeId> = HashSet::new();
    let mut cost: HashMap<NodeId, usize> = HashMap::new();
    for &id in order {
        let node = graph.node(id)?;
        if is_output(id) {
            materialised.insert(id);
        }
        match node.op.fusion_class() {
            FusionClass::Leaf => {}
            FusionClass::Anchor => {
                let fusable = matches!(node.op, Op::Reduce { .. } | Op::MatMul);
                let mut end = id;
                let mut chain = Vec::new();
                if fusable && !options.eager {
                    loop {
                        let us = users(end);
                        if us.len() != 1 || is_output(end) || forced.contains(&end) {
                            break;
                        }
                        let u = graph.node(us[0])?;
                        if !matches!(u.op.fusion_class(), FusionClass::Elementwise { .. })
                            || u.shape() != node.shape()
                        {
                            break;
                        }
                        end = us[0];
                        chain.push(end);
                    }
                }
                if chain.is_empty() {
                    materialised.insert(id);
                } else {
                    in_chain.insert(id);
                    in_chain.extend(chain[..chain.len() - 1].iter().copied());
                    materialised.insert(end);
                    epilogue.insert(end, (id, chain));
                }
            }
            FusionClass::Elementwise { .. } | FusionClass::Compute { .. } if options.eager => {
                materialised.insert(id);
            }
            FusionClass::View if options.eager => {}
            FusionClass::Elementwise { cost: own } | FusionClass::Compute { cost: own } => {
                if in_chain.contains(&id) || epilogue.contains_key(&id) {
                    continue;
                }
                let total = own + operand_cost(graph, id, &cost, &materialised, &epilogue);
                let shared = users(id).len() > 1 && total > options.recompute_limit;
                let broadcast = total >= 2 && read_broadcast(graph, id, needed)?;
                if shared || broadcast {
                    materialised.insert(id);
                }
                cost.insert(id, total);
            }
            FusionClass::View => {
                let total = operand_cost(graph, id, &cost, &materialised, &epilogue);
                cost.insert(id, total);
            }
        }
    }
    Ok(Partition {
        materialised,
        epilogue,
    })
}

/// True when `id` is read through a broadcasting `expand` (possibly after reshapes and
/// permutes), i.e. inlining it would compute each of its elements many times.
fn read_broadcast(graph: &Graph, id: NodeId, needed: &HashSet<NodeId>) -> Result<bool> {
    let numel = graph.node(id)?.shape().numel();
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        for u in graph.users(n) {
            if !needed.contains(&u) {
                continue;
            }
            let user = graph.node(u)?;
            if matches!(user.op, Op::Expand) && user.shape().numel() > numel {
                return Ok(true);
            }
            if matches!(user.op, Op::Reshape | Op::Permute { .. }) {
                stack.push(u);
            }
        }
    }
    Ok(false)
}

/// The inlined cost of a node's operands: 0 for those read from a buffer.
fn operand_cost(
    graph: &Graph,
    id: NodeId,
    cost: &HashMap<NodeId, usize>,
    materialised: &HashSet<NodeId>,
    epilogue: &HashMap<NodeId, (NodeId, Vec<NodeId>)>,
) -> usize {
    graph
        .operands(id)
        .iter()
        .filter(|o| !materialised.contains(o) && !epilogue.contains_key(o))
        .map(|o| cost.get(o).copied().unwrap_or(0))
        .sum()
}

/// Program under construction; implements the emitter's buffer lookup.
struct Builder<'g> {
    graph: &'g Graph,
    buffers: Vec<BufferDecl>,
    /// Materialised nodes whose kernel has been emitted.
    done: HashMap<NodeId, BufferId>,
    /// Leaf storage created so far.
    leaves: HashMap<NodeId, BufferId>,
    inputs: Vec<(String, BufferId)>,
    params: Vec<(String, BufferId)>,
}

impl Builder<'_> {
    fn add_buffer(&mut self, decl: BufferDecl) -> BufferId {
        self.buffers.push(decl);
        BufferId(self.buffers.len() as u32 - 1)
    }
}

impl Buffers for Builder<'_> {
    fn graph(&self) -> &Graph {
        self.graph
    }

    fn buffer_of(&mut self, node: NodeId) -> Result<Option<BufferId>> {
        if let Some(&b) = self.done.get(&node) {
            return Ok(Some(b));
        }
        if let Some(&b) = self.leaves.get(&node) {
            return Ok(Some(b));
        }
        let n = self.graph.node(node)?;
        let kind = match &n.op {
            Op::Input { name } => BufferKind::Input(name.clone()),
            Op::Parameter { name } => BufferKind::Param(name.clone()),
            Op::Constant { value } => BufferKind::Const(value.clone()),
            _ => return Ok(None),
        };
        let decl = BufferDecl {
            dtype: n.dtype(),
            shape: n.shape().clone(),
            kind: kind.clone(),
            node,
        };
        let b = self.add_buffer(decl);
        match kind {
            BufferKind::Input(name) => self.inputs.push((name, b)),
            BufferKind::Param(name) => self.params.push((name, b)),
            BufferKind::Const(_) | BufferKind::Temp | BufferKind::Output(_) => {}
        }
        self.leaves.insert(node, b);
        Ok(Some(b))
    }
}

fn build(
    graph: &Graph,
    order: &[NodeId],
    outputs: &[NodeId],
    part: &Partition,
) -> std::result::Result<Program, Fail> {
    let mut b = Builder {
        graph,
        buffers: Vec::new(),
        done: HashMap::new(),
        leaves: HashMap::new(),
        inputs: Vec::new(),
        params: Vec::new(),
    };
    // Inputs and parameters first, in graph order, so that listings start with them.
    for &id in order {
        if let Op::Input { .. } | Op::Parameter { .. } = graph.node(id)?.op {
            b.buffer_of(id)?;
        }
    }
    let mut kernels = Vec::new();
    let position: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    for &id in order {
        if !part.materialised.contains(&id) {
            continue;
        }
        let node = graph.node(id)?;
        let kind = match outputs.iter().position(|&o| o == id) {
            Some(i) => BufferKind::Output(i),
            None => BufferKind::Temp,
        };
        let out = b.add_buffer(BufferDecl {
            dtype: node.dtype(),
            shape: node.shape().clone(),
            kind,
            node: id,
        });
        let (anchor, chain) = match part.epilogue.get(&id) {
            Some((a, chain)) => (*a, chain.clone()),
            None => (id, Vec::new()),
        };
        let (kind, mut nodes) = kernel(&mut b, anchor, id, out)?;
        nodes.insert(anchor);
        nodes.extend(chain);
        let mut nodes: Vec<NodeId> = nodes.into_iter().collect();
        nodes.sort_by_key(|n| position.get(n).copied().unwrap_or(usize::MAX));
        kernels.push(Kernel { kind, nodes });
        b.done.insert(id, out);
    }
    let outputs = outputs
        .iter()
        .map(|o| {
            b.done.get(o).copied().ok_or_else(|| {
                Fail::from(IrError::Unsupported(format!(
                    "lowering: output {o} not computed"
                )))
            })
        })
        .collect::<std::result::Result<Vec<_>, Fail>>()?;
    Ok(Program {
        buffers: b.buffers,
        kernels,
        inputs: b.inputs,
        params: b.params,
        outputs,
        updates: Vec::new(),
        plan: MemoryPlan::default(),
        graph_nodes: graph.len(),
    })
}

/// The kernel computing `end` (= `anchor`, or the end of `anchor`'s epilogue chain) into `out`.
fn kernel(
    b: &mut Builder<'_>,
    anchor: NodeId,
    end: NodeId,
    out: BufferId,
) -> std::result::Result<(KernelKind, BTreeSet<NodeId>), Fail> {
    let graph = b.graph;
    let node = graph.node(anchor)?;
    let dims = node.shape().dims().to_vec();
    let operands = graph.operands(anchor);
    let shape_of = |id: NodeId| -> std::result::Result<crate::shape::Shape, Fail> {
        Ok(graph.node(id)?.shape().clone())
    };
    // The epilogue body over the anchor's output shape; just `Acc` when there is no chain.
    let epilogue =
        |b: &mut Builder<'_>| -> std::result::Result<(super::Body, BTreeSet<NodeId>), Fail> {
            let mut e = Emitter::new(b, &dims);
            e.acc = Some(anchor);
            let v = e.emit(end, &identity(dims.len()), None)?;
            Ok(e.finish(v))
        };
    let body_over = |b: &mut Builder<'_>,
                     id: NodeId|
     -> std::result::Result<(super::Body, BTreeSet<NodeId>), Fail> {
        let d = shape_of(id)?;
        let mut e = Emitter::new(b, d.dims());
        let v: Val = e.emit(id, &identity(d.rank()), None)?;
        Ok(e.finish(v))
    };
    let mut nodes = BTreeSet::new();
    let kind = match &node.op {
        Op::Reduce { op, axes } => {
            let x = operands[0];
            let init = match op {
                ReduceOp::Sum => 0.0,
                ReduceOp::Max => node.dtype().round(f64::NEG_INFINITY),
            };
            let (body, n1) = body_over(b, x)?;
            let (epilogue, n2) = epilogue(b)?;
            nodes.extend(n1);
            nodes.extend(n2);
            KernelKind::Reduce {
                shape: shape_of(x)?,
                axes: axes.clone(),
                op: *op,
                init,
                body,
                epilogue,
                out,
            }
        }
        Op::ArgMax { axis } => {
            let x = operands[0];
            let (body, n1) = body_over(b, x)?;
            nodes.extend(n1);
            KernelKind::ArgMax {
                shape: shape_of(x)?,
                axis: *axis,
                body,
                out,
            }
        }
        Op::MatMul => {
            let (sa, sb) = (shape_of(operands[0])?, shape_of(operands[1])?);
            let r = sa.rank();
            let a = view_of(b, operands[0], &identity(r), sa.dims())?;
            let bv = view_of(b, operands[1], &identity(r), sb.dims())?;
            let epi = if end == anchor {
                None
            } else {
                let (e, n2) = epilogue(b)?;
                nodes.extend(n2);
                Some(e)
            };
            KernelKind::Gemm {
                batch: sa.dims()[..r - 2].iter().copied().collect(),
                m: sa.dim(r - 2),
                n: sb.dim(r - 1),
                k: sa.dim(r - 1),
                a,
                b: bv,
                epilogue: epi,
                out,
                dtype: node.dtype(),
            }
        }
        Op::Gather { axis } => {
            let (src, idx) = (operands[0], operands[1]);
            let ss = shape_of(src)?;
            let srcv = view_of(b, src, &identity(ss.rank()), ss.dims())?;
            let (index, n1) = body_over(b, idx)?;
            nodes.extend(n1);
            KernelKind::Gather {
                shape: shape_of(idx)?,
                axis: *axis,
                index,
                src: srcv,
                src_dims: ss.dims().iter().copied().collect(),
                out,
                node: anchor,
            }
        }
        Op::ScatterAdd { axis } => {
            let (base, idx, src) = (operands[0], operands[1], operands[2]);
            let (base_body, n1) = body_over(b, base)?;
            let (index, n2) = body_over(b, idx)?;
            let (src_body, n3) = body_over(b, src)?;
            nodes.extend(n1);
            nodes.extend(n2);
            nodes.extend(n3);
            KernelKind::ScatterAdd {
                out_shape: node.shape().clone(),
                base: base_body,
                shape: shape_of(idx)?,
                axis: *axis,
                index,
                src: src_body,
                out,
                node: anchor,
            }
        }
        Op::Input { .. }
        | Op::Parameter { .. }
        | Op::Constant { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Reshape
        | Op::Permute { .. }
        | Op::Expand
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::Random { .. } => {
            let (body, n1) = body_over(b, anchor)?;
            nodes.extend(n1);
            KernelKind::Elementwise {
                shape: node.shape().clone(),
                body,
                out,
            }
        }
    };
    Ok((kind, nodes))
}
