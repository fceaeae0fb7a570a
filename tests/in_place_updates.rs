//! Training steps write parameters and optimiser state in place: the lowering binds each new
//! value to its parameter's own buffer, and the compiled step equals the interpreter's.

use kiln::ir::kernel::{lower_step, KernelKind, LowerOptions, Program};
use kiln::ir::{NodeId, TensorData};
use kiln::nn::loss::CrossEntropyLoss;
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Adam, Optimizer, Sgd, TrainStep};
use kiln::{manual_seed, DType, Device, Graph, HostTensor, Result, Tensor};
use std::sync::Mutex;

/// `manual_seed` drives one process-wide generator: tests that build models take turns.
static SEEDED: Mutex<()> = Mutex::new(());

/// An MLP (`sizes[0]` -> ... -> classes) with cross-entropy loss; returns the graph, the loss and
/// the model's named parameters.
fn mlp(sizes: &[usize], batch: usize) -> Result<(Graph, Tensor, Vec<(String, Tensor)>)> {
    let g = Graph::new();
    let mut model = Sequential::new();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            model = model.add(ReLU);
        }
        model = model.add(Linear::new(&g, &format!("fc{i}"), w[0], w[1], true)?);
    }
    let x = g.input("x", DType::F32, &[batch, sizes[0]])?;
    let y = g.input("y", DType::I64, &[batch])?;
    let loss = CrossEntropyLoss::default().forward(&model.forward(&x)?, &y)?;
    Ok((g, loss, model.named_parameters()))
}

/// The program a compiled step runs: the loss plus every update, optimised, then lowered.
fn step_program(
    g: &Graph,
    loss: &Tensor,
    opt: &mut dyn Optimizer,
    eager: bool,
) -> Result<(Program, usize)> {
    let params: Vec<Tensor> = opt.params().iter().map(|(_, t)| t.clone()).collect();
    let refs: Vec<&Tensor> = params.iter().collect();
    let grads = kiln::grad(&[loss], &[None], &refs)?;
    let lr = g.input("lr", DType::F32, &[])?;
    let updates = opt.build_update(&grads, &lr)?;
    let mut ir = g.ir();
    let mut all = vec![loss.id()];
    all.extend(updates.iter().map(|(_, t)| t.id()));
    ir.set_outputs(&all)?;
    kiln::ir::passes::optimize(&mut ir)?;
    let values: Vec<NodeId> = ir.outputs()[1..].to_vec();
    let bindings: Vec<(String, NodeId)> = updates
        .iter()
        .zip(values)
        .map(|((n, _), v)| (n.clone(), v))
        .collect();
    let options = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    let program = lower_step(&ir, &[ir.outputs()[0]], &bindings, &options)?;
    Ok((program, updates.len()))
}

/// A kernel that only copies one buffer into another (the fallback of an update not in place).
fn is_copy(kind: &KernelKind) -> bool {
    matches!(kind, KernelKind::Elementwise { body, .. } if body.insts.len() == 1)
}

#[test]
fn adam_mlp_step_writes_every_parameter_and_moment_in_place() -> Result<()> {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    for eager in [false, true] {
        manual_seed(0);
        let (g, loss, params) = mlp(&[784, 128, 10], 64)?;
        let n_params = params.len();
        let mut adam = Adam::new(params, 1e-3);
        let (program, n_updates) = step_program(&g, &loss, &mut adam, eager)?;
        // Each parameter, its two moments and its step count.
        assert_eq!(n_updates, 4 * n_params);
        assert_eq!(program.updates.len(), n_updates);
        let copies = program.kernels.iter().filter(|k| is_copy(&k.kind)).count();
        assert_eq!(copies, 0, "eager {eager}:\n{}", program.groups_text());
        for (name, b) in &program.updates {
            let writers = program.kernels.iter().filter(|k| k.out() == *b).count();
            assert_eq!(writers, 1, "{name} is written by {writers} kernels");
        }
        // The only outputs are the loss: no buffer per new value is returned.
        assert_eq!(program.outputs.len(), 1);
    }
    Ok(())
}

#[test]
fn in_place_steps_match_the_interpreter() -> Result<()> {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    // The same 5 Adam steps on one batch on the interpreter (which stores new values) and
    // compiled, fused and eager (which write them in place): losses and parameters agree.
    let mut runs = Vec::new();
    for (device, eager) in [
        (Device::Interpreter, false),
        (Device::Cpu, false),
        (Device::Cpu, true),
    ] {
        manual_seed(3);
        let (g, loss, params) = mlp(&[12, 16, 5], 8)?;
        g.set_device(device);
        g.set_eager(eager);
        let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
        let mut adam = Adam::new(params, 1e-2);
        let step = TrainStep::new(&loss, &mut adam)?;
        let mut losses = Vec::new();
        let x: Vec<f32> = (0..8 * 12).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
        let y: Vec<i64> = (0..8).map(|i| i % 5).collect();
        let x = HostTensor::new(kiln::Shape::new(&[8, 12])?, TensorData::F32(x))?;
        let y = HostTensor::new(kiln::Shape::new(&[8])?, TensorData::I64(y))?;
        for _ in 0..5 {
            losses.push(step.run(&[("x", &x), ("y", &y)])?);
        }
        let values: Vec<HostTensor> = names
            .iter()
            .map(|n| g.parameter_value(n))
            .collect::<Result<_>>()?;
        runs.push((losses, values));
    }
    let (ref_losses, ref_values) = &runs[0];
    for (losses, values) in &runs[1..] {
        for (a, b) in losses.iter().zip(ref_losses) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "loss {a} vs {b}");
        }
        for (a, b) in values.iter().zip(ref_values) {
            assert!(
                a.allclose(b, 1e-4, 1e-6),
                "parameter differs: {:?}",
                a.max_abs_diff(b)
            );
        }
    }
    // Training did something: the loss went down.
    assert!(ref_losses[4] < ref_losses[0], "{ref_losses:?}");
    Ok(())
}

#[test]
fn a_failing_step_leaves_the_parameters_unchanged() -> Result<()> {
    let _turn = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    // The labels index the logits through a gather: an out-of-range label fails the run after
    // the forward pass, and no parameter may have been written by then.
    manual_seed(1);
    let (g, loss, params) = mlp(&[6, 4], 3)?;
    let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
    let mut sgd = Sgd::new(params, 0.5);
    let step = TrainStep::new(&loss, &mut sgd)?;
    let before: Vec<HostTensor> = names
        .iter()
        .map(|n| g.parameter_value(n))
        .collect::<Result<_>>()?;
    let x = HostTensor::full(DType::F32, kiln::Shape::new(&[3, 6])?, 0.5);
    let bad = HostTensor::new(kiln::Shape::new(&[3])?, TensorData::I64(vec![0, 9, 1]))?;
    assert!(step.run(&[("x", &x), ("y", &bad)]).is_err());
    for (n, b) in names.iter().zip(&before) {
        assert_eq!(&g.parameter_value(n)?, b, "{n} changed by a failed step");
    }
    // A good step afterwards does update them.
    let good = HostTensor::new(kiln::Shape::new(&[3])?, TensorData::I64(vec![0, 3, 1]))?;
    step.run(&[("x", &x), ("y", &good)])?;
    assert_ne!(&g.parameter_value(&names[0])?, &before[0]);
    Ok(())
}
