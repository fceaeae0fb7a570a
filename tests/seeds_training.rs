//! The tutorials' training programs with the numbers they print: seed 001's matrix inverse by
//! gradient descent, seed 002's cubic fit, and the digits classifier of the main example.

use kiln::data::{train_test_split, DataLoader, Dataset};
use kiln::nn::loss::{mse_loss, CrossEntropyLoss, MseLoss, Reduction};
use kiln::nn::{Linear, Module, ReLU, Sequential, Sigmoid};
use kiln::optim::{Adam, Sgd, TrainStep};
use kiln::{manual_seed, DType, Graph, Result};
use std::sync::Mutex;

static GLOBAL_RNG: Mutex<()> = Mutex::new(());

#[test]
fn matrix_inverse_by_gradient_descent_reproduces_the_tutorial() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = Graph::new();
    let m = g.tensor([1.0f32, 2.0, 3.0, 4.0])?.diag()?;
    manual_seed(314);
    let r = g.parameter("r", kiln::rand(&[4, 4])?)?;
    let loss = mse_loss(&g.eye(4)?, &r.matmul(&m)?, Reduction::Mean)?;
    let mut sgd = Sgd::new(vec![("r".into(), r.clone())], 10f64.powf(0.2).ln());
    let step = TrainStep::new(&loss, &mut sgd)?;
    // The tutorial prints tensor(1.6650), (0.0054), (0.0005), (4.7337e-05), (4.4184e-06).
    let printed = [
        (0, 1.6650),
        (20, 0.0054),
        (40, 0.0005),
        (60, 4.7337e-05),
        (80, 4.4184e-06),
    ];
    let mut losses = Vec::new();
    for _ in 0..100 {
        losses.push(step.run(&[])?);
    }
    for (t, want) in printed {
        let got = losses[t];
        // Printed with 4 significant digits (or 4 decimals above 1e-4).
        let tol = if want >= 1e-4 { 5e-5 } else { want * 1e-4 };
        assert!(
            (got - want).abs() <= tol,
            "step {t}: {got} vs the tutorial's {want}"
        );
    }
    let last = loss.item()?;
    assert!(last < 1e-5, "loss after 100 steps is {last}");
    Ok(())
}

#[test]
fn fit_cubic_has_420_parameters_and_learns() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(0);
    let g = Graph::new();
    let x = g.linspace(-1.0, 1.0, 20)?;
    let y = (x.pow(3.0)? - &x)?;
    let net = Sequential::new()
        .add(Linear::new(&g, "w", 20, 10, false)?)
        .add(Sigmoid)
        .add(Linear::new(&g, "a_b", 10, 20, true)?);
    assert_eq!(net.num_parameters(), 420);
    let loss = MseLoss::default().forward(&net.forward(&x)?, &y)?;
    let mut adam = Adam::new(net.named_parameters(), 0.01);
    let step = TrainStep::new(&loss, &mut adam)?;
    let first = step.run(&[])?;
    for _ in 1..100 {
        step.run(&[])?;
    }
    let last = loss.item()?;
    assert!(last < first / 1000.0, "loss went from {first} to {last}");
    Ok(())
}

#[test]
fn digits_mlp_reaches_95_percent_test_accuracy() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let all = kiln::datasets::digits()?;
    let (train_idx, test_idx) = train_test_split(all.len(), 300, 0)?;
    let (train, test) = (all.subset(&train_idx)?, all.subset(&test_idx)?);
    manual_seed(0);
    let g = Graph::new();
    let model = Sequential::new()
        .add(Linear::new(&g, "fc1", 64, 128, true)?)
        .add(ReLU)
        .add(Linear::new(&g, "fc2", 128, 64, true)?)
        .add(ReLU)
        .add(Linear::new(&g, "fc3", 64, 10, true)?);
    let x = g.input("x", DType::F32, &[64, 64])?;
    let y = g.input("y", DType::I64, &[64])?;
    let loss = CrossEntropyLoss::default().forward(&model.forward(&x)?, &y)?;
    let mut adam = Adam::new(model.named_parameters(), 3e-3);
    let step = TrainStep::new(&loss, &mut adam)?;
    let mut loader = DataLoader::new(&train, 64)?.shuffle(0).drop_last(true);
    for _ in 0..40 {
        for batch in loader.epoch() {
            let batch = batch?;
            step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
        }
    }
    let tx = g.input("x_test", DType::F32, &[300, 64])?;
    let pred = model.forward(&tx)?.argmax(Some(1), false)?;
    let preds = g
        .eval(&[&pred], &[("x_test", &test.tensors()[0])])?
        .remove(0);
    let truth = test.tensors()[1].as_i64()?;
    let correct = preds
        .as_i64()?
        .iter()
        .zip(truth)
        .filter(|(p, t)| p == t)
        .count();
    assert!(correct >= 285, "test accuracy {correct}/300 is below 95%");
    assert_eq!(test.len(), 300);
    Ok(())
}
