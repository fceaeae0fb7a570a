//! A graph that forgets (issue 11, item 3): nodes that no live tensor, executable, training
//! step, parameter, bound input or live loss's gradient can reach are removed, so a loop that
//! rebuilds its expression runs in a graph of bounded size — and removing them never changes a
//! value that is still asked for, even when a new node takes a removed node's id.

use kiln::optim::{Optimizer, Sgd, TrainStep};
use kiln::{compile, CompileOptions, DType, Device, Graph, HostTensor, Result, Shape};

/// The loop of the issue, with `backward` too: the graph stays bounded.
#[test]
fn a_rebuild_and_evaluate_loop_keeps_the_graph_bounded() -> Result<()> {
    let g = Graph::new();
    let x = g.buffer("x", vec![1.0f32; 100])?;
    let w = g.parameter("w", vec![0.5f32; 100])?;
    let mut sgd = Sgd::new(vec![("w".into(), w.clone())], 0.01);
    let mut most = 0;
    for i in 0..5000 {
        let z = (&x * (i % 7) as f64)?.sum_all()?;
        assert_eq!(z.item()?, 100.0 * (i % 7) as f64);
        if i % 10 == 0 {
            sgd.zero_grad();
            let loss = ((&w * &x)? - 1.0)?.pow(2.0)?.sum_all()?;
            loss.backward()?;
            sgd.step()?;
        }
        most = most.max(g.node_count());
    }
    // Without forgetting: ~6 nodes per iteration and ~30 per descent step, 45,000 in all.
    assert!(most < 3000, "the graph grew to {most} nodes");
    Ok(())
}

/// A node id freed by forgetting and reused by a new node must not find the old node's
/// compiled program, value or gradient.
#[test]
fn reused_ids_do_not_see_what_was_kept_for_removed_nodes() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0, 3.0])?;
    let kept = (&x * 3.0)?;
    let doubled = (&x * 2.0)?;
    assert_eq!(doubled.to_vec_f64()?, vec![2.0, 4.0, 6.0]);
    let old_id = doubled.id();
    drop(doubled);
    let removed = g.forget_unreachable();
    assert!(removed >= 1, "the dropped product was not removed");
    // New nodes, some of which take the freed ids.
    let mut reused = false;
    for k in 0..10 {
        let y = (&x + k as f64)?;
        reused |= y.id() == old_id;
        let want: Vec<f64> = [1.0, 2.0, 3.0].iter().map(|v| v + k as f64).collect();
        assert_eq!(y.to_vec_f64()?, want);
    }
    assert!(
        reused,
        "no new node took the freed id: the test checks nothing"
    );
    assert_eq!(kept.to_vec_f64()?, vec![3.0, 6.0, 9.0]);
    Ok(())
}

/// Gradients accumulate across collections, on parameters and on leaves held by tensors.
#[test]
fn gradients_survive_forgetting() -> Result<()> {
    let g = Graph::new();
    let w = g.parameter("w", vec![2.0f32, -1.0])?;
    let x = g.tensor([3.0f32, 4.0])?.requires_grad_()?;
    for _ in 0..3 {
        let loss = (&w * &x)?.sum_all()?;
        loss.backward()?;
        drop(loss);
        g.forget_unreachable();
    }
    assert_eq!(w.grad().map(|t| t.to_f64_vec()), Some(vec![9.0, 12.0]));
    assert_eq!(x.grad().map(|t| t.to_f64_vec()), Some(vec![6.0, -3.0]));
    Ok(())
}

/// Executables and training steps keep what they compute, on every device, after every tensor
/// that built it is gone.
#[test]
fn executables_and_training_steps_keep_their_nodes() -> Result<()> {
    for device in [Device::Cpu, Device::Interpreter] {
        let g = Graph::new();
        g.set_device(device);
        let w = g.parameter("w", vec![1.0f32, 2.0])?;
        let exe = {
            let y = ((&w * 10.0)? + 1.0)?;
            compile(
                &[&y],
                &CompileOptions {
                    device,
                    eager: false,
                },
            )?
        };
        let step = {
            let mut sgd = Sgd::new(vec![("w".into(), w.clone())], 0.5);
            let loss = (&w * &w)?.sum_all()?;
            TrainStep::new(&loss, &mut sgd)?
        };
        g.forget_unreachable();
        let out: Vec<HostTensor> = exe.run(&[])?;
        assert_eq!(out[0].to_f64_vec(), vec![11.0, 21.0], "{device:?}");
        // loss = w·w = 5; w -= 0.5 * 2w, so w becomes 0.
        assert_eq!(step.run(&[])?, 5.0, "{device:?}");
        g.forget_unreachable();
        assert_eq!(
            g.parameter_value("w")?.to_f64_vec(),
            vec![0.0, 0.0],
            "{device:?}"
        );
        assert_eq!(exe.run(&[])?[0].to_f64_vec(), vec![1.0, 1.0], "{device:?}");
    }
    Ok(())
}

/// Inputs bound with `feed` and parameters stay, with no tensor holding them.
#[test]
fn bound_inputs_and_parameters_are_never_forgotten() -> Result<()> {
    let g = Graph::new();
    let two = |a: f64, b: f64| HostTensor::from_f64(DType::F32, Shape::new(&[2]).unwrap(), &[a, b]);
    let sum = {
        let x = g.input("x", DType::F32, &[2])?;
        g.feed("x", two(1.0, 2.0)?)?;
        let p = g.parameter("p", vec![10.0f32, 20.0])?;
        (&x + &p)?
    };
    g.forget_unreachable();
    assert_eq!(sum.to_vec_f64()?, vec![11.0, 22.0]);
    drop(sum);
    g.forget_unreachable();
    assert_eq!(g.parameter_value("p")?.to_f64_vec(), vec![10.0, 20.0]);
    // The input node is still there to be fed again.
    g.feed("x", two(5.0, 6.0)?)?;
    // An input that is neither held nor bound is forgotten.
    drop(g.input("unbound", DType::F32, &[2])?);
    g.forget_unreachable();
    assert!(g.feed("unbound", two(0.0, 0.0)?).is_err());
    Ok(())
}
