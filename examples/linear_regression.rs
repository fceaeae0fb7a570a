//! Seed 003's linear regression, three ways, on a noisy line y = 3x + 2 + N(0, 100²) with
//! x = linspace(-100, 100, 100):
//! 1. plain gradient descent: `loss.backward()` then a hand-written update of `w` and `b`;
//! 2. mini-batches of 20 from a `DataLoader`;
//! 3. `nn::Linear(1, 1)` (weights set to 0) with `MSELoss` and `optim::SGD`, the step compiled
//!    as one program.
//!
//! Run: `cargo run --release --example linear_regression` (writes `plots/linear_regression_*.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::data::{DataLoader, TensorDataset};
use kiln::nn::loss::{mse_loss, Reduction};
use kiln::nn::{Linear, Module};
use kiln::optim::{Optimizer, Sgd, TrainStep};
use kiln::{manual_seed, DType, Graph, HostTensor, Result, Shape};

const N: usize = 100;
const EPOCHS: usize = 10;
const LR: f64 = 1e-4;

/// The data set: x = linspace(-100, 100, N), y = 3x + 2 + noise.
fn noisy_line() -> Result<(HostTensor, HostTensor)> {
    manual_seed(42);
    let g = Graph::new();
    let x = g.linspace(-100.0, 100.0, N)?;
    let noise = (g.randn(&[N])? * 100.0)?;
    let y = ((&x * 3.0)? + 2.0)?.add(&noise)?;
    Ok((x.to_host()?, y.to_host()?))
}

fn column(t: &HostTensor) -> Result<HostTensor> {
    Ok(t.reshape(Shape::new(&[t.numel(), 1])?)?)
}

fn report(version: &str, epoch: usize, loss: f64, w: f64, b: f64) {
    println!("[{version}] epoch {epoch:2}: loss {loss:10.2}  w = {w:7.4}  b = {b:7.4}");
}

/// The fitted line at the end of each epoch, for the plot.
type Lines = Vec<(f64, f64)>;

fn plain_gradient_descent(x: &HostTensor, y: &HostTensor) -> Result<Lines> {
    let g = Graph::new();
    let (xt, yt) = (g.tensor(x.clone())?, g.tensor(y.clone())?);
    let w = g.tensor(0.0f32)?.requires_grad_()?;
    let b = g.tensor(0.0f32)?.requires_grad_()?;
    let loss = mse_loss(&(&xt * &w)?.add(&b)?, &yt, Reduction::Mean)?;
    let mut lines = vec![(w.item()?, b.item()?)];
    for epoch in 0..EPOCHS {
        loss.backward()?;
        // w.data = w.data - lr * w.grad.data (and b), then zero the gradients.
        for p in [&w, &b] {
            let (value, grad) = (p.item()?, p.grad().map_or(Ok(0.0), |g| g.item())?);
            p.set_data(HostTensor::scalar(DType::F32, value - LR * grad))?;
            p.zero_grad();
        }
        report(
            "gradient descent",
            epoch,
            loss.item()?,
            w.item()?,
            b.item()?,
        );
        lines.push((w.item()?, b.item()?));
    }
    Ok(lines)
}

fn minibatch(x: &HostTensor, y: &HostTensor) -> Result<Lines> {
    let g = Graph::new();
    let data = TensorDataset::new(vec![column(x)?, column(y)?])?;
    let mut loader = DataLoader::new(&data, 20)?;
    let xb = g.input("x", DType::F32, &[20, 1])?;
    let yb = g.input("y", DType::F32, &[20, 1])?;
    let w = g.parameter("w", HostTensor::scalar(DType::F32, 0.0))?;
    let b = g.parameter("b", HostTensor::scalar(DType::F32, 0.0))?;
    let loss = mse_loss(&(&xb * &w)?.add(&b)?, &yb, Reduction::Mean)?;
    let mut sgd = Sgd::new(vec![("w".into(), w.clone()), ("b".into(), b.clone())], LR);
    let mut lines = vec![(w.item()?, b.item()?)];
    for epoch in 0..EPOCHS {
        let mut total = 0.0;
        for batch in loader.epoch() {
            let batch = batch?;
            g.feed("x", batch[0].clone())?;
            g.feed("y", batch[1].clone())?;
            total += loss.item()?;
            sgd.zero_grad();
            loss.backward()?;
            sgd.step()?;
        }
        let (wv, bv) = (w.item()?, b.item()?);
        report("mini-batch", epoch, total / 5.0, wv, bv);
        lines.push((wv, bv));
    }
    Ok(lines)
}

fn pytorch_way(x: &HostTensor, y: &HostTensor) -> Result<Lines> {
    let g = Graph::new();
    let data = TensorDataset::new(vec![column(x)?, column(y)?])?;
    let mut loader = DataLoader::new(&data, 20)?;
    let xb = g.input("x", DType::F32, &[20, 1])?;
    let yb = g.input("y", DType::F32, &[20, 1])?;
    let model = Linear::new(&g, "linear", 1, 1, true)?;
    // model.state_dict()['linear.weight'][0] = 0 (and the bias)
    g.set_parameter(
        "linear.weight",
        HostTensor::full(DType::F32, Shape::new(&[1, 1])?, 0.0),
    )?;
    g.set_parameter(
        "linear.bias",
        HostTensor::full(DType::F32, Shape::new(&[1])?, 0.0),
    )?;
    let loss = mse_loss(&model.forward(&xb)?, &yb, Reduction::Mean)?;
    let mut sgd = Sgd::new(model.named_parameters(), LR);
    let step = TrainStep::new(&loss, &mut sgd)?;
    let params = |g: &Graph| -> Result<(f64, f64)> {
        Ok((
            g.parameter_value("linear.weight")?.item()?,
            g.parameter_value("linear.bias")?.item()?,
        ))
    };
    let mut lines = vec![params(&g)?];
    for epoch in 0..EPOCHS {
        let mut total = 0.0;
        for batch in loader.epoch() {
            let batch = batch?;
            total += step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
        }
        let (wv, bv) = params(&g)?;
        report("nn.Linear + SGD", epoch, total / 5.0, wv, bv);
        lines.push((wv, bv));
    }
    Ok(lines)
}

fn draw(path: &str, title: &str, x: &HostTensor, y: &HostTensor, lines: &Lines) {
    let xs = x.to_f64_vec();
    let mut series = vec![Series {
        name: "data".into(),
        points: xs.iter().copied().zip(y.to_f64_vec()).collect(),
        mark: Mark::Points,
    }];
    for (i, &(w, b)) in lines.iter().enumerate() {
        if i <= 2 || i == lines.len() - 1 {
            series.push(Series {
                name: format!("epoch {i}"),
                points: vec![(-100.0, -100.0 * w + b), (100.0, 100.0 * w + b)],
                mark: Mark::Line,
            });
        }
    }
    match plot(path, title, &series, false) {
        Ok(()) => println!("wrote {path}"),
        Err(e) => println!("could not write {path}: {e}"),
    }
}

fn main() -> Result<()> {
    let (x, y) = noisy_line()?;
    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let gd = plain_gradient_descent(&x, &y)?;
    draw(
        "plots/linear_regression_gd.png",
        "Simple gradient descent",
        &x,
        &y,
        &gd,
    );
    let mb = minibatch(&x, &y)?;
    draw(
        "plots/linear_regression_minibatch.png",
        "Mini-batch gradient descent",
        &x,
        &y,
        &mb,
    );
    let pt = pytorch_way(&x, &y)?;
    draw(
        "plots/linear_regression_sgd.png",
        "nn.Linear + optim.SGD",
        &x,
        &y,
        &pt,
    );
    let (w, b) = pt[pt.len() - 1];
    println!("fitted y = {w:.3} x + {b:.3} (the data were drawn from y = 3 x + 2 + noise)");
    Ok(())
}
