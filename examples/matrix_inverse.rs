//! Seed 001's matrix inverse by gradient descent: find R with R @ diag(1,2,3,4) = I by
//! minimising the mean squared error, starting from `manual_seed(314); rand(4, 4)`, 100 steps
//! at lr = ln(10^0.2) — with the whole step (forward, backward, SGD update) as one program and
//! the learning rate as its input.
//!
//! Run: `cargo run --release --example matrix_inverse` (writes `plots/matrix_inverse_loss.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::nn::loss::{mse_loss, Reduction};
use kiln::optim::{Optimizer, Sgd, TrainStep};
use kiln::{linalg, manual_seed, Graph, HostTensor, Result};

fn show_2dp(t: &HostTensor) -> String {
    let n = t.dims()[1];
    let v = t.to_f64_vec();
    let rows: Vec<String> = v
        .chunks(n)
        .map(|r| {
            format!(
                "[{}]",
                r.iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect();
    format!("[{}]", rows.join("\n "))
}

fn main() -> Result<()> {
    let g = Graph::new();
    let m1234 = g.tensor([1.0f32, 2.0, 3.0, 4.0])?.diag()?;
    println!("M1234 =\n{}", m1234);
    println!(
        "torch.inverse(M1234) =\n{}",
        linalg::inverse(&m1234.to_host()?)?
    );

    let identity = g.eye(4)?;
    manual_seed(314);
    let random_inverse = g.parameter("random_inverse", kiln::rand(&[4, 4])?)?;
    let y_hat = random_inverse.matmul(&m1234)?;
    println!("Y_hat =\n{}", y_hat);
    let loss = mse_loss(&identity, &y_hat, Reduction::Mean)?;

    let lr = (10f64.powf(0.2)).ln(); // the tutorial's np.log(np.logspace(0.2, 0.2, 100))
    let mut sgd = Sgd::new(vec![("random_inverse".into(), random_inverse.clone())], lr);
    let mut step = TrainStep::new(&loss, &mut sgd)?;
    let mut losses = Vec::new();
    for t in 0..100 {
        if t % 20 == 0 {
            println!(
                "{t} : {}",
                HostTensor::scalar(kiln::DType::F32, loss.item()?)
            );
            println!("{}", show_2dp(&y_hat.to_host()?));
        }
        step.set_lr(lr); // a schedule would change it here, without rebuilding anything
        losses.push(step.run(&[])?);
    }
    let final_loss = loss.item()?;
    println!("100 : {}", HostTensor::scalar(kiln::DType::F32, final_loss));
    println!(
        "random_inverse after 100 steps =\n{}",
        g.parameter_value("random_inverse")?
    );
    println!(
        "final loss {final_loss:.3e} ({} 1e-5)",
        if final_loss < 1e-5 { "<" } else { ">=" }
    );
    sgd.zero_grad();

    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let points: Vec<(f64, f64)> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as f64, l))
        .collect();
    let series = [Series {
        name: "loss".into(),
        points,
        mark: Mark::Line,
    }];
    match plot(
        "plots/matrix_inverse_loss.png",
        "MSE loss (log scale)",
        &series,
        true,
    ) {
        Ok(()) => println!("wrote plots/matrix_inverse_loss.png"),
        Err(e) => println!("could not write the plot: {e}"),
    }
    Ok(())
}
