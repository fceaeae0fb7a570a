//! Seed 003's 1-D logistic regression: two noisy classes (x ~ N(-3, 2) labelled 0 and
//! x ~ N(5, 2) labelled 1, 100 samples), `sigmoid(Linear(1, 1))` trained with `BCELoss` and SGD
//! on mini-batches of 20, the step compiled as one program.
//!
//! Run: `cargo run --release --example logistic_regression` (writes `plots/logistic_regression.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::data::{DataLoader, TensorDataset};
use kiln::nn::loss::BceLoss;
use kiln::nn::{Linear, Module};
use kiln::optim::{Sgd, TrainStep};
use kiln::random::Generator;
use kiln::{manual_seed, DType, Graph, HostTensor, Result, Shape};

const N: usize = 100;

/// NoisyBinaryData(N=100, x0=-3, x1=5, stdDev=2): each sample picks its class with a fair
/// coin, then draws x from that class's normal.
fn noisy_binary_data(seed: u64) -> Result<(HostTensor, HostTensor)> {
    let mut rng = Generator::new(seed);
    let (mut xs, mut ys) = (Vec::with_capacity(N), Vec::with_capacity(N));
    for _ in 0..N {
        let class_one = rng.rand_f32(1)[0] >= 0.5;
        let mean = if class_one { 5.0 } else { -3.0 };
        xs.push(rng.normal_f32(1, mean, 2.0)[0]);
        ys.push(if class_one { 1.0f32 } else { 0.0 });
    }
    let shape = Shape::new(&[N, 1])?;
    Ok((
        HostTensor::new(shape.clone(), kiln::ir::TensorData::F32(xs))?,
        HostTensor::new(shape, kiln::ir::TensorData::F32(ys))?,
    ))
}

fn main() -> Result<()> {
    let (x, y) = noisy_binary_data(0)?;
    manual_seed(0);
    let g = Graph::new();
    let xb = g.input("x", DType::F32, &[20, 1])?;
    let yb = g.input("y", DType::F32, &[20, 1])?;
    let model = Linear::new(&g, "linear", 1, 1, true)?;
    let p = model.forward(&xb)?.sigmoid()?;
    let loss = BceLoss::default().forward(&p, &yb)?;
    let mut sgd = Sgd::new(model.named_parameters(), 0.1);
    let step = TrainStep::new(&loss, &mut sgd)?;

    let data = TensorDataset::new(vec![x.clone(), y.clone()])?;
    let mut loader = DataLoader::new(&data, 20)?.shuffle(1);
    for epoch in 0..50 {
        let mut total = 0.0;
        for batch in loader.epoch() {
            let batch = batch?;
            total += step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
        }
        if epoch % 10 == 0 || epoch == 49 {
            println!("epoch {epoch:2}: mean BCE loss {:.4}", total / 5.0);
        }
    }
    let w = g.parameter_value("linear.weight")?.item()?;
    let b = g.parameter_value("linear.bias")?.item()?;
    let boundary = -b / w;
    println!("w = {w:.4}, b = {b:.4}: the classes are split at x = {boundary:.3}");

    // Accuracy of "class 1 if sigmoid(w x + b) > 0.5" on all the data, evaluated as a graph.
    let all = g.tensor(x.clone())?;
    let probs = model.forward(&all)?.sigmoid()?;
    let predicted = probs.gt(0.5)?.float()?;
    let correct = predicted.eq(&g.tensor(y.clone())?)?.sum_all()?.item()?;
    println!("accuracy: {correct}/{N} = {:.1}%", correct as f64);

    let xs = x.to_f64_vec();
    let ys = y.to_f64_vec();
    let curve: Vec<(f64, f64)> = (0..=200)
        .map(|i| {
            let xv = -12.0 + 24.0 * i as f64 / 200.0;
            (xv, 1.0 / (1.0 + (-(w * xv + b)).exp()))
        })
        .collect();
    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let series = [
        Series {
            name: "data (class 0 / 1)".into(),
            points: xs.into_iter().zip(ys).collect(),
            mark: Mark::Points,
        },
        Series {
            name: "sigmoid(w x + b)".into(),
            points: curve,
            mark: Mark::Line,
        },
        Series {
            name: "decision boundary".into(),
            points: vec![(boundary, 0.0), (boundary, 1.0)],
            mark: Mark::Dashed,
        },
    ];
    match plot(
        "plots/logistic_regression.png",
        "Logistic regression in 1-D",
        &series,
        false,
    ) {
        Ok(()) => println!("wrote plots/logistic_regression.png"),
        Err(e) => println!("could not write the plot: {e}"),
    }
    Ok(())
}
