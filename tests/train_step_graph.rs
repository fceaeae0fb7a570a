//! The shipped `examples/graphs/mlp_train_step.kir` is exactly what the API builds for one MLP
//! training step (x[64,784] -> 128 ReLU -> 10, cross-entropy, Adam): forward, backward and
//! update in one graph. `KILN_BLESS=1` rewrites the file from the API.

use kiln::nn::loss::CrossEntropyLoss;
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Adam, Optimizer};
use kiln::{manual_seed, DType, Graph, Result};

fn build() -> Result<String> {
    manual_seed(0);
    let g = Graph::new();
    let model = Sequential::new()
        .add(Linear::new(&g, "fc1", 784, 128, true)?)
        .add(ReLU)
        .add(Linear::new(&g, "fc2", 128, 10, true)?);
    let x = g.input("x", DType::F32, &[64, 784])?;
    let y = g.input("y", DType::I64, &[64])?;
    let loss = CrossEntropyLoss::default().forward(&model.forward(&x)?, &y)?;
    let mut adam = Adam::new(model.named_parameters(), 1e-3);
    let params: Vec<kiln::Tensor> = adam.params().iter().map(|(_, t)| t.clone()).collect();
    let refs: Vec<&kiln::Tensor> = params.iter().collect();
    let grads = kiln::grad(&[&loss], &[None], &refs)?;
    let lr = g.input("lr", DType::F32, &[])?;
    let updates = adam.build_update(&grads, &lr)?;
    let mut ir = g.ir();
    let mut outputs = vec![loss.id()];
    outputs.extend(updates.iter().map(|(_, t)| t.id()));
    ir.set_outputs(&outputs)?;
    kiln::ir::passes::dce(&mut ir)?;
    Ok(format!(
        "; One training step of a 784-128-10 MLP: cross-entropy loss, its gradient and Adam's update.\n\
         ; Outputs: the loss, then the new value of every parameter and optimiser state.\n{}",
        ir.to_text()
    ))
}

#[test]
fn shipped_training_step_graph_is_what_the_api_builds() -> Result<()> {
    let text = build()?;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/graphs/mlp_train_step.kir"
    );
    if std::env::var_os("KILN_BLESS").is_some_and(|v| v != "0") {
        std::fs::write(path, &text).map_err(|e| kiln::Error::api("bless", e.to_string()))?;
    }
    let shipped = std::fs::read_to_string(path)
        .map_err(|e| kiln::Error::api("read", format!("{path}: {e} (KILN_BLESS=1 creates it)")))?;
    assert!(
        shipped == text,
        "{path} is stale: KILN_BLESS=1 cargo test --test train_step_graph"
    );
    let parsed = kiln::ir::Graph::from_text(&shipped)?;
    parsed.verify()?;
    assert_eq!(
        parsed.outputs().len(),
        1 + 4 * 4,
        "loss + (param, exp_avg, exp_avg_sq, step) x 4"
    );
    Ok(())
}
