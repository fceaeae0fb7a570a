//! Seed 003's "Multi-Layer Perceptron with Embedding" (makemore style): a character-level
//! model that reads the previous 3 characters of a name, embeds each in 10 dimensions, passes
//! them through a 200-unit tanh layer and predicts the next character. The corpus is generated
//! here (names built from syllables by a seeded generator), so nothing is downloaded.
//!
//! Run: `cargo run --release --example embedding_mlp` (writes `plots/embedding_mlp_loss.png`).

mod common;

use common::{plot, Mark, Series};
use kiln::data::{DataLoader, Dataset, TensorDataset};
use kiln::nn::loss::CrossEntropyLoss;
use kiln::nn::{Embedding, Linear, Module};
use kiln::optim::{Adam, TrainStep};
use kiln::random::Generator;
use kiln::{manual_seed, DType, Graph, HostTensor, Result, Shape};

const BLOCK: usize = 3;
const VOCAB: usize = 27; // '.' (start/end) and a..z
const BATCH: usize = 64;

fn encode(c: char) -> i64 {
    if c == '.' {
        0
    } else {
        (c as u8 - b'a') as i64 + 1
    }
}

fn decode(i: usize) -> char {
    if i == 0 {
        '.'
    } else {
        (b'a' + (i - 1) as u8) as char
    }
}

/// A corpus of pronounceable names: 2-3 syllables from a fixed list, sometimes with an ending.
fn corpus(n: usize, rng: &mut Generator) -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "li", "na", "mo", "ra", "se", "ti", "lu", "an", "el", "ja", "vi", "to", "mi", "ro",
        "sa", "ne", "da", "ri", "lo", "be", "ha", "zo", "qu",
    ];
    const ENDINGS: [&str; 6] = ["", "", "n", "h", "s", "lyn"];
    (0..n)
        .map(|_| {
            let r = rng.rand_f32(4);
            let count = 2 + (r[0] * 2.0) as usize;
            let mut name: String = (0..count)
                .map(|k| SYLLABLES[((r[1 + k.min(2)] * 24.0) as usize + 7 * k) % 24])
                .collect();
            name.push_str(ENDINGS[(rng.rand_f32(1)[0] * 6.0) as usize % 6]);
            name
        })
        .collect()
}

/// (context of BLOCK characters, next character) pairs, as makemore's build_dataset.
fn dataset(words: &[String]) -> Result<TensorDataset> {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for w in words {
        let mut context = [0i64; BLOCK];
        for c in w.chars().chain(std::iter::once('.')) {
            let ix = encode(c);
            xs.extend_from_slice(&context);
            ys.push(ix);
            context.rotate_left(1);
            context[BLOCK - 1] = ix;
        }
    }
    let n = ys.len();
    TensorDataset::new(vec![
        HostTensor::new(Shape::new(&[n, BLOCK])?, kiln::ir::TensorData::I64(xs))?,
        HostTensor::from(ys),
    ])
}

fn main() -> Result<()> {
    let mut rng = Generator::new(2147483647);
    let words = corpus(3000, &mut rng);
    println!("{} names, e.g. {:?}", words.len(), &words[..6]);
    let split = words.len() * 9 / 10;
    let (train, val) = (dataset(&words[..split])?, dataset(&words[split..])?);
    println!(
        "{} training and {} validation examples",
        train.len(),
        val.len()
    );

    manual_seed(42);
    let g = Graph::new();
    let emb = Embedding::new(&g, "C", VOCAB, 10)?;
    let hidden = Linear::new(&g, "hidden", BLOCK * 10, 200, true)?;
    let out = Linear::new(&g, "out", 200, VOCAB, true)?;
    let forward = |x: &kiln::Tensor| -> Result<kiln::Tensor> {
        let e = emb
            .forward(x)?
            .reshape(&[x.dims()[0] as isize, (BLOCK * 10) as isize])?;
        out.forward(&hidden.forward(&e)?.tanh()?)
    };
    let params: Vec<(String, kiln::Tensor)> = [
        emb.named_parameters(),
        hidden.named_parameters(),
        out.named_parameters(),
    ]
    .concat();
    println!(
        "parameters: {}",
        params.iter().map(|(_, p)| p.numel()).sum::<usize>()
    );

    let x = g.input("x", DType::I64, &[BATCH, BLOCK])?;
    let y = g.input("y", DType::I64, &[BATCH])?;
    let loss = CrossEntropyLoss::default().forward(&forward(&x)?, &y)?;
    let mut adam = Adam::new(params, 3e-3);
    let step = TrainStep::new(&loss, &mut adam)?;
    let mut loader = DataLoader::new(&train, BATCH)?.shuffle(1).drop_last(true);
    let mut curve = Vec::new();
    for epoch in 0..4 {
        let mut total = 0.0;
        let mut count = 0;
        for batch in loader.epoch() {
            let batch = batch?;
            let l = step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
            curve.push((curve.len() as f64, l));
            total += l;
            count += 1;
        }
        println!(
            "epoch {epoch}: mean training loss {:.4}",
            total / count as f64
        );
    }

    let vx = g.input("x_val", DType::I64, &[val.len(), BLOCK])?;
    let vy = g.input("y_val", DType::I64, &[val.len()])?;
    let val_loss = CrossEntropyLoss::default().forward(&forward(&vx)?, &vy)?;
    let v = g.eval(
        &[&val_loss],
        &[("x_val", &val.tensors()[0]), ("y_val", &val.tensors()[1])],
    )?;
    println!(
        "validation loss {:.4} (a uniform guess over 27 characters: {:.4})",
        v[0].item()?,
        (VOCAB as f64).ln()
    );

    // Sampling: one context at a time, drawing the next character from the softmax.
    let cx = g.input("context", DType::I64, &[1, BLOCK])?;
    let probs = forward(&cx)?.softmax(1)?;
    let mut sampler = Generator::new(7);
    print!("samples:");
    for _ in 0..12 {
        let mut context = [0i64; BLOCK];
        let mut name = String::new();
        for _ in 0..20 {
            let ctx = HostTensor::new(
                Shape::new(&[1, BLOCK])?,
                kiln::ir::TensorData::I64(context.to_vec()),
            )?;
            let p = g
                .eval(&[&probs], &[("context", &ctx)])?
                .remove(0)
                .to_f64_vec();
            let u = f64::from(sampler.rand_f32(1)[0]);
            let mut acc = 0.0;
            let ix = p.iter().position(|&pi| {
                acc += pi;
                acc > u
            });
            let ix = ix.unwrap_or(0);
            if ix == 0 {
                break;
            }
            name.push(decode(ix));
            context.rotate_left(1);
            context[BLOCK - 1] = ix as i64;
        }
        print!(" {name}");
    }
    println!();

    std::fs::create_dir_all("plots").map_err(|e| kiln::Error::api("plot", e.to_string()))?;
    let series = [Series {
        name: "training loss per step".into(),
        points: curve,
        mark: Mark::Line,
    }];
    match plot(
        "plots/embedding_mlp_loss.png",
        "Character-level MLP with an embedding",
        &series,
        false,
    ) {
        Ok(()) => println!("wrote plots/embedding_mlp_loss.png"),
        Err(e) => println!("could not write the plot: {e}"),
    }
    Ok(())
}
