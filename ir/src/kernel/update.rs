//! Training steps: programs that write new parameter values into the parameters' own storage.
//!
//! [`lower_step`] lowers `outputs` together with one new value per updated parameter (a
//! parameter name and the node computing its next value: an optimiser's update, a moment
//! buffer, a step count) and then binds each value to its parameter, in one of two ways:
//!
//! - **in place**: the kernel `K` computing the value becomes the parameter's writer. Allowed
//!   when `K` is elementwise over the parameter's shape, reads the parameter (if at all) only at
//!   the point it writes (unmasked, offset 0, row-major strides: `p - lr * g`, `b1 * m + ...`),
//!   and runs after every other kernel reading the parameter and after every kernel that can
//!   fail at run time (gather, scatter-add). To get there `K` is moved later, together with the
//!   kernels in between that depend on it (Adam's bias corrections read the new step count),
//!   when none of those reads the old parameter or can fail and nothing they pass writes what
//!   they read. Later readers of the value then read the parameter's buffer, and the value's
//!   own buffer is deleted;
//! - **by copy**: otherwise the value stays a temporary and a copy kernel appended at the end of
//!   the program writes it into the parameter.
//!
//! Guarantees: no kernel reads a parameter's old value after it was overwritten; a run that
//! fails (an out-of-range index) fails before the first parameter is written, so it leaves
//! every parameter unchanged; [`Program::updates`] lists every written parameter once, and the
//! memory plan is recomputed over the final kernel order.
//!
//! The one exception to the kernel IR's rule that a kernel never reads its own output buffer is
//! the in-place writer: it reads the parameter only at the element it writes, so a backend that
//! loads a point before storing it (as every loop does) stays correct.

use super::{BufferDecl, BufferId, BufferKind, InstKind, Kernel, KernelKind, Program, View};
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::Op;

use super::fuse::{lower_unplanned, LowerOptions};

/// Lowers `outputs` of `graph` and the parameter updates `updates` (parameter name, node of its
/// next value) into one program whose run writes every updated parameter (see the module docs).
///
/// Errors: those of [`super::lower`]; [`IrError::Shape`] / [`IrError::DType`] when a value's
/// type differs from its parameter's; [`IrError::Unsupported`] for an unknown parameter name or
/// a parameter updated twice.
pub fn lower_step(
    graph: &Graph,
    outputs: &[NodeId],
    updates: &[(String, NodeId)],
    options: &LowerOptions,
) -> Result<Program> {
    let mut all = outputs.to_vec();
    all.extend(updates.iter().map(|(_, v)| *v));
    let mut program = lower_unplanned(graph, &all, options)?;
    let values = program.outputs.split_off(outputs.len());
    for (i, ((name, value), &buffer)) in updates.iter().zip(&values).enumerate() {
        if updates[..i].iter().any(|(n, _)| n == name) {
            return Err(IrError::Unsupported(format!(
                "parameter \"{name}\" is updated twice in one step"
            )));
        }
        let param = param_buffer(&mut program, graph, name, *value)?;
        let shared = program.outputs.contains(&buffer)
            || values.iter().filter(|&&b| b == buffer).count() > 1;
        let done = !shared && try_in_place(&mut program, param, buffer);
        if !done {
            copy_at_end(&mut program, param, buffer);
        }
        program.updates.push((name.clone(), param));
    }
    // Value buffers that were written in place have no kernel left.
    remove_unused_temps(&mut program);
    program.plan = super::plan::plan_memory(&program);
    program.verify()?;
    Ok(program)
}

/// The buffer of parameter `name` (declared if the program does not read it), checked against
/// the type of its new value.
fn param_buffer(
    program: &mut Program,
    graph: &Graph,
    name: &str,
    value: NodeId,
) -> Result<BufferId> {
    let v = graph.node(value)?;
    let existing = program
        .params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| *b);
    let id = match existing {
        Some(b) => b,
        None => {
            let node = graph
                .parameters()
                .into_iter()
                .find(|&p| matches!(&graph.node(p).map(|n| &n.op), Ok(Op::Parameter { name: n }) if n == name))
                .ok_or_else(|| IrError::Unsupported(format!("no parameter named \"{name}\" to update")))?;
            let p = graph.node(node)?;
            program.buffers.push(BufferDecl {
                dtype: p.dtype(),
                shape: p.shape().clone(),
                kind: BufferKind::Param(name.to_string()),
                node,
            });
            let b = BufferId(program.buffers.len() as u32 - 1);
            program.params.push((name.to_string(), b));
            b
        }
    };
    let p = program.buffer(id);
    if p.dtype != v.dtype() {
        return Err(IrError::DType {
            op: "update",
            msg: format!(
                "parameter \"{name}\" is {} but its new value {value} is {}",
                p.dtype,
                v.dtype()
            ),
        });
    }
    if p.shape != *v.shape() {
        return Err(IrError::Shape {
            op: "update",
            msg: format!(
                "parameter \"{name}\" has shape {} but its new value {value} has {}",
                p.shape,
                v.shape()
            ),
        });
    }
    Ok(id)
}

/// Makes the kernel writing `value` write `param` instead, if the rules of the module docs
/// allow it (moving the kernel later when needed). Returns whether it did.
fn try_in_place(program: &mut Program, param: BufferId, value: BufferId) -> bool {
    let Some(k) = program.kernels.iter().position(|k| k.out() == value) else {
        return false;
    };
    if !reads_only_in_place(&program.kernels[k], param, &program.buffer(param).shape) {
        return false;
    }
    // Every other reader of the parameter, and every kernel that can fail, must come first.
    let barrier = program
        .kernels
        .iter()
        .enumerate()
        .filter(|&(j, kern)| j != k && (kern.reads().contains(&param) || can_fail(kern)))
        .map(|(j, _)| j)
        .max();
    let target = match barrier {
        Some(b) if b > k => b,
        _ => k,
    };
    // `K` moves to just after `target`, taking along the kernels in between that depend on it
    // (directly or not); none of those may read the old parameter or be able to fail, and
    // nothing they pass may write what they read.
    let mut group = vec![k];
    let mut group_outs = vec![value];
    for j in k + 1..=target {
        let kernel = &program.kernels[j];
        if kernel.reads().iter().any(|b| group_outs.contains(b)) {
            if kernel.reads().contains(&param) || can_fail(kernel) {
                return false;
            }
            group.push(j);
            group_outs.push(kernel.out());
        }
    }
    let group_reads: Vec<BufferId> = group
        .iter()
        .flat_map(|&j| program.kernels[j].reads())
        .collect();
    let passes_a_writer = (k + 1..=target)
        .filter(|j| !group.contains(j))
        .any(|j| group_reads.contains(&program.kernels[j].out()));
    if passes_a_writer {
        return false;
    }
    let tail = program.kernels.split_off(target + 1);
    let span = program.kernels.split_off(k);
    let (mut moved, stay): (Vec<_>, Vec<_>) = span
        .into_iter()
        .enumerate()
        .partition(|(i, _)| group.contains(&(k + i)));
    let at = k + stay.len();
    program
        .kernels
        .extend(stay.into_iter().map(|(_, kern)| kern));
    *moved[0].1.out_mut() = param;
    program
        .kernels
        .extend(moved.drain(..).map(|(_, kern)| kern));
    program.kernels.extend(tail);
    for later in &mut program.kernels[at + 1..] {
        later.for_each_view(&mut |v| {
            if v.buffer == value {
                v.buffer = param;
            }
        });
    }
    true
}

/// Whether `kernel` is elementwise over `shape` and reads `param` only at the point it writes.
pub(super) fn reads_only_in_place(
    kernel: &Kernel,
    param: BufferId,
    shape: &crate::shape::Shape,
) -> bool {
    let KernelKind::Elementwise { shape: s, body, .. } = &kernel.kind else {
        return false;
    };
    if s != shape {
        return false;
    }
    let contiguous = shape.strides();
    body.insts.iter().all(|inst| match &inst.kind {
        InstKind::Load { view, mask } if view.buffer == param => {
            mask.is_none()
                && view.offset == 0
                && view
                    .strides
                    .iter()
                    .zip(contiguous.iter())
                    .zip(shape.dims())
                    .all(|((&got, &want), &d)| d <= 1 || got == want as isize)
        }
        _ => true,
    })
}

/// Kernels that can stop a run with an error (a data-dependent index out of range).
fn can_fail(kernel: &Kernel) -> bool {
    matches!(
        kernel.kind,
        KernelKind::Gather { .. } | KernelKind::ScatterAdd { .. }
    )
}

/// Appends `param = value` as an elementwise copy; `value` becomes a temporary unless it is also
/// an output.
fn copy_at_end(program: &mut Program, param: BufferId, value: BufferId) {
    let decl = program.buffer(value).clone();
    let strides = decl.shape.strides().iter().map(|&s| s as isize).collect();
    let body = super::Body {
        insts: vec![super::Inst {
            dtype: decl.dtype,
            kind: InstKind::Load {
                view: View {
                    buffer: value,
                    offset: 0,
                    strides,
                },
                mask: None,
            },
        }],
        result: super::Val(0),
    };
    program.kernels.push(Kernel {
        kind: KernelKind::Elementwise {
            shape: decl.shape.clone(),
            body,
            out: param,
        },
        nodes: vec![decl.node],
    });
    if !program.outputs.contains(&value) {
        program.buffers[value.index()].kind = BufferKind::Temp;
    }
}

/// Deletes `Output`/`Temp` buffers that no kernel touches any more and are not outputs,
/// renumbering the rest.
fn remove_unused_temps(program: &mut Program) {
    let n = program.buffers.len();
    let mut used = vec![false; n];
    for k in &program.kernels {
        used[k.out().index()] = true;
        for b in k.reads() {
            used[b.index()] = true;
        }
    }
    for b in program
        .outputs
        .iter()
        .chain(program.inputs.iter().map(|(_, b)| b))
        .chain(program.params.iter().map(|(_, b)| b))
    {
        used[b.index()] = true;
    }
    let keep: Vec<bool> = (0..n)
        .map(|i| {
            used[i]
                || !matches!(
                    program.buffers[i].kind,
                    BufferKind::Temp | BufferKind::Output(_)
                )
        })
        .collect();
    if keep.iter().all(|&k| k) {
        return;
    }
    let mut new_id = vec![0u32; n];
    let mut next = 0;
    for i in 0..n {
        new_id[i] = next;
        if keep[i] {
            next += 1;
        }
    }
    let map = |b: &mut BufferId| b.0 = new_id[b.index()];
    let mut i = 0;
    program.buffers.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for k in &mut program.kernels {
        map(k.out_mut());
        k.for_each_view(&mut |v| map(&mut v.buffer));
    }
    program.outputs.iter_mut().for_each(map);
    for (_, b) in program
        .inputs
        .iter_mut()
        .chain(program.params.iter_mut())
        .chain(program.updates.iter_mut())
    {
        map(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::interp::evaluate;
    use crate::kernel::evaluate_step;
    use crate::op::BinaryOp;
    use crate::shape::Shape;
    use crate::tensor::HostTensor;
    use std::collections::HashMap;

    fn sh(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    /// Feeds `p` and `g` with distinct values.
    fn feeds(n: usize) -> HashMap<String, HostTensor> {
        let p: Vec<f64> = (0..n * n).map(|i| i as f64 * 0.5 - 1.0).collect();
        let g: Vec<f64> = (0..n * n).map(|i| (i % 3) as f64 + 0.25).collect();
        HashMap::from([
            (
                "p".into(),
                HostTensor::from_f64(DType::F32, sh(&[n, n]), &p).unwrap(),
            ),
            (
                "g".into(),
                HostTensor::from_f64(DType::F32, sh(&[n, n]), &g).unwrap(),
            ),
        ])
    }

    /// Lowers the step (fused and eager), checks it against the interpreter, and returns the
    /// fused program.
    fn check(graph: &Graph, outputs: &[NodeId], value: NodeId) -> Program {
        let f = feeds(3);
        let mut ids = outputs.to_vec();
        ids.push(value);
        let want = evaluate(graph, &ids, &f).unwrap();
        let mut fused = None;
        for options in [LowerOptions::default(), LowerOptions::eager()] {
            let p = lower_step(graph, outputs, &[("p".into(), value)], &options).unwrap();
            assert_eq!(p.outputs.len(), outputs.len());
            let (outs, updated) = evaluate_step(&p, &f).unwrap();
            assert_eq!(outs, want[..outputs.len()], "{p}");
            assert_eq!(updated, want[outputs.len()..], "{p}");
            fused.get_or_insert(p);
        }
        fused.unwrap()
    }

    fn copies(p: &Program) -> usize {
        p.kernels
            .iter()
            .filter(|k| matches!(&k.kind, KernelKind::Elementwise { body, .. } if body.insts.len() == 1))
            .count()
    }

    #[test]
    fn sgd_update_is_one_kernel_writing_the_parameter() {
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let grad = g.input("g", DType::F32, sh(&[3, 3])).unwrap();
        let lr = g.scalar(DType::F32, 0.5).unwrap();
        let lr = g.reshape(lr, sh(&[1, 1])).unwrap();
        let lr = g.expand(lr, sh(&[3, 3])).unwrap();
        let step = g.binary(BinaryOp::Mul, lr, grad).unwrap();
        let new = g.binary(BinaryOp::Sub, p, step).unwrap();
        let prog = check(&g, &[], new);
        assert_eq!(prog.kernels.len(), 1, "{prog}");
        assert_eq!(prog.kernels[0].out(), prog.updates[0].1);
        assert!(
            prog.buffers.iter().all(|b| b.kind != BufferKind::Temp),
            "{prog}"
        );
        assert!(prog.to_string().contains("update \"p\" -> b"), "{prog}");
    }

    #[test]
    fn a_value_that_is_also_an_output_is_copied() {
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let grad = g.input("g", DType::F32, sh(&[3, 3])).unwrap();
        let new = g.binary(BinaryOp::Add, p, grad).unwrap();
        let prog = check(&g, &[new], new);
        assert_eq!(copies(&prog), 1, "{prog}");
    }

    #[test]
    fn a_transposed_read_of_the_parameter_is_not_in_place() {
        // new = p^T + g reads p where it does not write: in place would read overwritten values.
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let grad = g.input("g", DType::F32, sh(&[3, 3])).unwrap();
        let t = g.permute(p, &[1, 0]).unwrap();
        let new = g.binary(BinaryOp::Add, t, grad).unwrap();
        let prog = check(&g, &[], new);
        assert_eq!(copies(&prog), 1, "{prog}");
    }

    #[test]
    fn a_parameter_read_after_its_update_is_computed_moves_the_writer() {
        // The loss (p @ g) reads p in a gemm that lowering places after the update kernel; the
        // update must wait for it.
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let grad = g.input("g", DType::F32, sh(&[3, 3])).unwrap();
        let new = g.binary(BinaryOp::Sub, p, grad).unwrap();
        let prod = g.matmul(p, grad).unwrap();
        let prog = check(&g, &[prod], new);
        assert_eq!(copies(&prog), 0, "{prog}");
        let writer = prog
            .kernels
            .iter()
            .position(|k| k.out() == prog.updates[0].1)
            .unwrap();
        let reader = prog
            .kernels
            .iter()
            .position(|k| k.reads().contains(&prog.updates[0].1))
            .unwrap();
        assert!(reader <= writer, "{prog}");
    }

    #[test]
    fn a_gemm_value_is_copied_after_its_kernel() {
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let grad = g.input("g", DType::F32, sh(&[3, 3])).unwrap();
        let new = g.matmul(p, grad).unwrap();
        let prog = check(&g, &[], new);
        assert_eq!(copies(&prog), 1, "{prog}");
    }

    #[test]
    fn mismatched_types_and_unknown_names_are_errors() {
        let mut g = Graph::new();
        let p = g.parameter("p", DType::F32, sh(&[3, 3])).unwrap();
        let q = g.input("q", DType::F32, sh(&[3])).unwrap();
        let opts = LowerOptions::default();
        assert!(matches!(
            lower_step(&g, &[], &[("p".into(), q)], &opts),
            Err(IrError::Shape { .. })
        ));
        let c = g.cast(p, DType::F64).unwrap();
        assert!(matches!(
            lower_step(&g, &[], &[("p".into(), c)], &opts),
            Err(IrError::DType { .. })
        ));
        assert!(lower_step(&g, &[], &[("nope".into(), p)], &opts).is_err());
        assert!(lower_step(&g, &[], &[("p".into(), p), ("p".into(), p)], &opts).is_err());
    }
}
