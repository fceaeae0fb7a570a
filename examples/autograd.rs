//! The autograd sections of the tutorials (seeds 001 and 004), as kiln graphs: `backward`
//! appends the gradient subgraph and evaluates it; gradients accumulate across calls.
//!
//! Run: `cargo run --release --example autograd` (writes `plots/autograd_sin.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::{Graph, Result, Tensor};
use std::f64::consts::PI;

fn main() -> Result<()> {
    println!("# seed 001: z = x * y^5 at x = 3, y = 7");
    let g = Graph::new();
    let x = g.tensor(3.0f32)?.requires_grad_()?;
    let y = g.tensor(7.0f32)?.requires_grad_()?;
    let z = (&x * &y.pow(5.0)?)?;
    z.backward()?;
    println!(
        "7**5, 5 * 7**4, 3 * 5 * 7**4 = {}, {}, {}",
        7i64.pow(5),
        5 * 7i64.pow(4),
        3 * 5 * 7i64.pow(4)
    );
    println!("x.grad = {}", show(x.grad()));
    println!("y.grad = {}", show(y.grad()));

    println!("\n# seed 001: the derivative of sin over linspace(0, 2π, 100)");
    let g = Graph::new();
    let x = g.linspace(0.0, 2.0 * PI, 100)?.requires_grad_()?;
    let y = x.sin()?;
    y.backward_with(&g.ones(&[100])?)?;
    let dx = x
        .grad()
        .unwrap_or_else(|| kiln::HostTensor::from(Vec::<f32>::new()));
    println!("x.grad = {dx}");
    let xs = x.to_vec_f64()?;
    let grads = dx.to_f64_vec();
    let max_err = xs
        .iter()
        .zip(&grads)
        .map(|(x, d)| (x.cos() - d).abs())
        .fold(0.0, f64::max);
    println!("max |x.grad - cos(x)| = {max_err:.3e}");

    // The same derivative dressed up as a loss: (y_hat - y_true).sum() with y_true = 0 * y_hat.
    let x2 = g.linspace(0.0, 2.0 * PI, 100)?.requires_grad_()?;
    let y_hat = x2.sin()?;
    let y_true = (0.0 * &y_hat)?;
    let loss = (&y_hat - &y_true)?.sum_all()?;
    loss.backward()?;
    let loss_grads = x2.grad().map(|t| t.to_f64_vec()).unwrap_or_default();
    let max_err2 = xs
        .iter()
        .zip(&loss_grads)
        .map(|(x, d)| (x.cos() - d).abs())
        .fold(0.0, f64::max);
    println!("with the (y_hat - y).sum() loss: max |x.grad - cos(x)| = {max_err2:.3e}");

    let sin: Vec<(f64, f64)> = xs.iter().map(|&x| (x, x.sin())).collect();
    let ad: Vec<(f64, f64)> = xs.iter().copied().zip(grads.iter().copied()).collect();
    let cos: Vec<(f64, f64)> = xs.iter().map(|&x| (x, x.cos())).collect();
    let ad_loss: Vec<(f64, f64)> = xs.iter().copied().zip(loss_grads.iter().copied()).collect();
    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let series = [
        Series {
            name: "Sin".into(),
            points: sin,
            mark: Mark::Line,
        },
        Series {
            name: "Aut. diff of Sin".into(),
            points: ad,
            mark: Mark::Points,
        },
        Series {
            name: "Cos".into(),
            points: cos,
            mark: Mark::Dashed,
        },
        Series {
            name: "Aut. diff of Sin loss".into(),
            points: ad_loss,
            mark: Mark::Line,
        },
    ];
    match plot(
        "plots/autograd_sin.png",
        "Automatic Differentiation of function",
        &series,
        false,
    ) {
        Ok(()) => println!("wrote plots/autograd_sin.png"),
        Err(e) => println!("could not write the plot: {e}"),
    }

    println!("\n# seed 004: gradient of a dot product");
    let g = Graph::new();
    let x = g.tensor([0.0f32, 1.0, 2.0, 3.0])?.requires_grad_()?;
    let y = g.tensor([2.0f32, 3.0, 5.0, 7.0])?;
    x.dot(&y)?.backward()?;
    println!("{}", show(x.grad()));

    println!("\n# seed 004: w = exp(-log(1 + sum(sin x)))");
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let z = x.sin()?.sum_all()?;
    let u = (1.0 + &z)?.log()?;
    let w = u.neg()?.exp()?;
    w.backward()?;
    println!("{}", show(x.grad()));

    println!("\n# seed 004: backward twice accumulates (retain_graph)");
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let y = ((x.get(0)?.pow(1.0)? + x.get(1)?.pow(2.0)?)? + x.get(2)?.pow(3.0)?)?;
    let z = y.sin()?;
    let u = (1.0 + &z)?.log()?;
    let w = u.neg()?.exp()?;
    w.backward()?;
    println!("{}", show(x.grad()));
    u.backward()?;
    println!("{}", show(x.grad()));

    println!("\n# seed 004: z = cos(x) * sin(y)");
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let y = g.tensor([5.0f32, 7.0, 6.0])?.requires_grad_()?;
    let u = (x.cos()? * y.sin()?)?.sum_all()?;
    u.backward()?;
    println!("{}", show(x.grad()));
    println!("{}", show(y.grad()));

    println!(
        "\n# higher order: d²/dx² sin(x) at x = 1 is -sin(1) = {:.6}",
        -(1.0f64).sin()
    );
    let g = Graph::new();
    let x = g.tensor(1.0f64)?.requires_grad_()?;
    let dy = kiln::grad(&[&x.sin()?], &[None], &[&x])?;
    let d2y: Vec<Tensor> = kiln::grad(&[&dy[0]], &[None], &[&x])?;
    println!("{}", d2y[0]);
    Ok(())
}

fn show(t: Option<kiln::HostTensor>) -> String {
    t.map_or_else(|| "None".to_string(), |t| t.to_string())
}
