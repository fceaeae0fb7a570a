//! Seed 002's network: 20 inputs -> 10 sigmoid units (no bias) -> 20 outputs, fitted to
//! x^3 - x on linspace(-1, 1, 20) with Adam (lr 0.01) and MSE for 100 epochs; the whole step is
//! one program.
//!
//! Run: `cargo run --release --example fit_cubic` (writes `plots/fit_cubic.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::nn::loss::MseLoss;
use kiln::nn::{Linear, Module, Sequential, Sigmoid};
use kiln::optim::{Adam, TrainStep};
use kiln::{manual_seed, Graph, Result};

fn main() -> Result<()> {
    let (m, n, p) = (20, 20, 10);
    manual_seed(0);
    let g = Graph::new();
    let x_vals = g.linspace(-1.0, 1.0, m)?;
    let y_vals = (x_vals.pow(3.0)? - &x_vals)?;
    let net = Sequential::new()
        .add(Linear::new(&g, "w", m, p, false)?)
        .add(Sigmoid)
        .add(Linear::new(&g, "a_b", p, n, true)?);

    println!("Trainable Parameters:");
    for (name, param) in net.named_parameters() {
        println!("  {name}: {:?} ({} values)", param.dims(), param.numel());
    }
    println!("Total Trainable Parameters: {}", net.num_parameters());

    let y_pred = net.forward(&x_vals)?;
    let before = y_pred.to_vec_f64()?;
    let loss = MseLoss::default().forward(&y_pred, &y_vals)?;
    let mut adam = Adam::new(net.named_parameters(), 0.01);
    let step = TrainStep::new(&loss, &mut adam)?;
    let mut last = f64::NAN;
    for epoch in 0..100 {
        let l = step.run(&[])?;
        if epoch % 10 == 0 {
            println!("Epoch {epoch}: Loss = {}", common::py_sci(l));
        }
        last = l;
    }
    println!(
        "final loss {} (epoch 99: {})",
        common::py_sci(loss.item()?),
        common::py_sci(last)
    );

    let xs = x_vals.to_vec_f64()?;
    let after = y_pred.to_vec_f64()?;
    let truth = y_vals.to_vec_f64()?;
    let zip = |v: &[f64]| {
        xs.iter()
            .copied()
            .zip(v.iter().copied())
            .collect::<Vec<_>>()
    };
    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let series = [
        Series {
            name: "True function".into(),
            points: zip(&truth),
            mark: Mark::Dashed,
        },
        Series {
            name: "NN before training".into(),
            points: zip(&before),
            mark: Mark::Line,
        },
        Series {
            name: "NN after 100 epochs".into(),
            points: zip(&after),
            mark: Mark::Line,
        },
    ];
    match plot(
        "plots/fit_cubic.png",
        &format!("x^3 - x; Loss = {:.3e}", loss.item()?),
        &series,
        false,
    ) {
        Ok(()) => println!("wrote plots/fit_cubic.png"),
        Err(e) => println!("could not write the plot: {e}"),
    }
    Ok(())
}
