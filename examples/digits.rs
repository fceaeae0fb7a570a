//! The main example: a handwritten-digit classifier (seed 003's classification section) trained
//! on the UCI digits (8x8 images, 10 classes; `data/digits.csv`) with Adam and cross-entropy.
//! Each training step — forward, backward and the Adam update — is one compiled program.
//!
//! ```text
//! cargo run --release --example digits                  # MLP 64-128-64-10 (default)
//! cargo run --release --example digits -- --model softmax   # one linear layer + softmax
//! cargo run --release --example digits -- --model cnn       # Conv2d + MaxPool2d + Linear
//! ```
//! Prints the test accuracy on 300 held-out images and writes `plots/digits_loss.png` (the loss
//! curve) and `plots/digits_predictions.png` (test images with their predicted labels).

mod common;

use common::{plot, Mark, Series};
use indicatif::{ProgressBar, ProgressStyle};
use kiln::data::{train_test_split, DataLoader, Dataset};
use kiln::nn::loss::CrossEntropyLoss;
use kiln::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use kiln::optim::{Adam, TrainStep};
use kiln::{manual_seed, DType, Graph, Result, Tensor};
use plotters::prelude::*;
use std::time::Instant;

const BATCH: usize = 64;
const TEST: usize = 300;

#[derive(Clone, Copy, PartialEq)]
enum Model {
    Mlp,
    Softmax,
    Cnn,
}

fn parse_args() -> Result<(Model, usize)> {
    let mut model = Model::Mlp;
    let mut epochs = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => {
                model = match args.next().as_deref() {
                    Some("mlp") => Model::Mlp,
                    Some("softmax") => Model::Softmax,
                    Some("cnn") => Model::Cnn,
                    other => {
                        return Err(kiln::Error::api(
                            "digits",
                            format!("unknown model {other:?} (mlp, softmax, cnn)"),
                        ))
                    }
                }
            }
            "--epochs" => {
                epochs = Some(
                    args.next()
                        .and_then(|e| e.parse().ok())
                        .ok_or_else(|| kiln::Error::api("digits", "--epochs needs a number"))?,
                )
            }
            other => {
                return Err(kiln::Error::api(
                    "digits",
                    format!("unknown argument `{other}`"),
                ))
            }
        }
    }
    let default_epochs = match model {
        Model::Mlp => 40,
        Model::Softmax => 60,
        Model::Cnn => 25,
    };
    Ok((model, epochs.unwrap_or(default_epochs)))
}

fn build(g: &Graph, model: Model) -> Result<Sequential> {
    Ok(match model {
        Model::Mlp => Sequential::new()
            .add(Linear::new(g, "fc1", 64, 128, true)?)
            .add(ReLU)
            .add(Linear::new(g, "fc2", 128, 64, true)?)
            .add(ReLU)
            .add(Linear::new(g, "fc3", 64, 10, true)?),
        Model::Softmax => Sequential::new().add(Linear::new(g, "linear", 64, 10, true)?),
        Model::Cnn => Sequential::new()
            .add(Conv2d::new(g, "conv", 1, 8, 3, 1, 1)?)
            .add(ReLU)
            .add(MaxPool2d::new(2)?)
            .add(Flatten)
            .add(Linear::new(g, "fc", 8 * 4 * 4, 10, true)?),
    })
}

/// Images as the model wants them: flat `[N, 64]`, or `[N, 1, 8, 8]` for the CNN.
fn shaped(x: &Tensor, model: Model) -> Result<Tensor> {
    match model {
        Model::Cnn => x.reshape(&[-1, 1, 8, 8]),
        Model::Mlp | Model::Softmax => Ok(x.clone()),
    }
}

fn main() -> Result<()> {
    let (model_kind, epochs) = parse_args()?;
    let all = kiln::datasets::digits()?;
    let (train_idx, test_idx) = train_test_split(all.len(), TEST, 0)?;
    let (train, test) = (all.subset(&train_idx)?, all.subset(&test_idx)?);
    println!(
        "digits: {} training and {} test images of 8x8 pixels (UCI Optical Recognition of Handwritten Digits, CC BY 4.0)",
        train.len(),
        test.len()
    );

    manual_seed(0);
    let g = Graph::new();
    let model = build(&g, model_kind)?;
    println!("model: {} parameters", model.num_parameters());
    let x = g.input("x", DType::F32, &[BATCH, 64])?;
    let y = g.input("y", DType::I64, &[BATCH])?;
    let logits = model.forward(&shaped(&x, model_kind)?)?;
    let loss = CrossEntropyLoss::default().forward(&logits, &y)?;
    let lr = if model_kind == Model::Softmax {
        0.05
    } else {
        3e-3
    };
    let mut adam = Adam::new(model.named_parameters(), lr);
    let started = Instant::now();
    let step = TrainStep::new(&loss, &mut adam)?;

    let mut loader = DataLoader::new(&train, BATCH)?.shuffle(0).drop_last(true);
    let steps = epochs * loader.num_batches();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} steps [{elapsed_precise}] {msg}",
        )
        .map_err(|e| kiln::Error::api("progress", e.to_string()))?,
    );
    let mut curve = Vec::with_capacity(steps);
    let mut running = f64::NAN;
    for epoch in 0..epochs {
        for batch in loader.epoch() {
            let batch = batch?;
            let l = step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
            running = if running.is_nan() {
                l
            } else {
                0.95 * running + 0.05 * l
            };
            curve.push((curve.len() as f64, l));
            bar.set_message(format!(
                "epoch {:>2}/{epochs}  loss {running:.4}",
                epoch + 1
            ));
            bar.inc(1);
        }
    }
    bar.finish();
    println!(
        "trained {steps} steps in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Test accuracy: the same parameters, a forward pass over the held-out images.
    let test_x = g.input("x_test", DType::F32, &[TEST, 64])?;
    let predicted = model
        .forward(&shaped(&test_x, model_kind)?)?
        .argmax(Some(1), false)?;
    let tx = &test.tensors()[0];
    let ty = test.tensors()[1].as_i64()?.to_vec();
    let preds = g.eval(&[&predicted], &[("x_test", tx)])?.remove(0);
    let preds = preds.as_i64()?;
    let correct = preds.iter().zip(&ty).filter(|(p, t)| p == t).count();
    println!(
        "test accuracy: {correct}/{TEST} = {:.2}%",
        100.0 * correct as f64 / TEST as f64
    );

    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let series = [Series {
        name: "cross-entropy per step".into(),
        points: curve,
        mark: Mark::Line,
    }];
    match plot("plots/digits_loss.png", "Training loss", &series, true) {
        Ok(()) => println!("wrote plots/digits_loss.png"),
        Err(e) => println!("could not write the loss plot: {e}"),
    }
    match draw_predictions("plots/digits_predictions.png", &tx.to_f64_vec(), preds, &ty) {
        Ok(()) => println!("wrote plots/digits_predictions.png"),
        Err(e) => println!("could not write the predictions plot: {e}"),
    }
    Ok(())
}

/// The first 24 test images, each titled with its predicted label (red when wrong).
fn draw_predictions(
    path: &str,
    pixels: &[f64],
    preds: &[i64],
    truth: &[i64],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    common::ensure_font()?;
    let root = BitMapBackend::new(path, (960, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let cells = root.split_evenly((4, 6));
    for (i, cell) in cells.iter().enumerate().take(preds.len().min(24)) {
        let ok = preds[i] == truth[i];
        let title = if ok {
            format!("predicted {}", preds[i])
        } else {
            format!("predicted {} (is {})", preds[i], truth[i])
        };
        let color = if ok { BLACK } else { RED };
        let (w, h) = cell.dim_in_pixel();
        cell.draw(&Text::new(
            title,
            (10, 4),
            ("sans-serif", 16).into_font().color(&color),
        ))?;
        let side = ((w.min(h - 28)) / 8) as i32;
        for r in 0..8 {
            for c in 0..8 {
                let v = pixels[i * 64 + r * 8 + c];
                let shade = (255.0 * (1.0 - v)).clamp(0.0, 255.0) as u8;
                let (x0, y0) = (10 + c as i32 * side, 26 + r as i32 * side);
                cell.draw(&Rectangle::new(
                    [(x0, y0), (x0 + side, y0 + side)],
                    RGBColor(shade, shade, shade).filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}
