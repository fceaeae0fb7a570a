//! The workloads of issue 6 as kiln graphs, shared by the quick runner (`examples/bench.rs`)
//! and the criterion suite (`benches/suite.rs`), so both time exactly the same programs.
//!
//! Every workload is f32 and has a fixed shape and formula; `benches/peers/peers.py` builds the
//! same ones in PyTorch, JAX and numpy (keep the two in step: shapes, formulas, constants and
//! input ranges below). Inputs are fed at evaluation time (not constants), so no backend can
//! fold the work away.
//!
//! | key | workload | floor |
//! |---|---|---|
//! | W0 | `relu(x*1.5 + 0.25)*2 - 0.5`, x: 16,777,216, U(-2, 2) | read x + write y |
//! | W1 | `sin(x)*exp(-x*x) + 0.5*log1p(x*x)`, same x | read x + write y |
//! | W2 | `softmax(x, dim=1)`, x: 4096x4096, U(-4, 4) | read x + write y |
//! | W3 | layer norm over the last axis (biased variance, eps 1e-5) of 8192x1024 with weight and bias [1024], all U(-1, 1) | read x, w, b + write y |
//! | W4a, W4b | `a @ b`, 1024³ and 2048³, U(-1, 1) | 2n³ flops |
//! | W5 | one training step (forward, backward, Adam lr 1e-3) of 784-512-512-10 ReLU MLP, cross-entropy, batch 256; x U(0, 1), labels uniform in 0..10 | flops of forward + backward, plus Adam's streaming |
//! | W6 | seed 002's net (Linear 20-10 no bias, Sigmoid, Linear 10-20; MSE to x³ - x on linspace(-1, 1, 20); Adam lr 0.01), 1000 steps | none (per-step overhead) |
//! | W7a, W7b | compile latency of W5's program, cold and warm | none |

use kiln::ir::TensorData;
use kiln::nn::loss::{cross_entropy, mse_loss, Reduction};
use kiln::nn::{Linear, Module, ReLU, Sequential, Sigmoid};
use kiln::optim::{Adam, Optimizer, TrainStep};
use kiln::{manual_seed, DType, Graph, HostTensor, Shape, Tensor};
use std::hint::black_box;

/// What bounds a workload from below on this machine.
#[derive(Clone, Copy, Debug)]
pub enum Floor {
    /// Streaming: this many bytes must cross the memory bus (inputs read once, output written
    /// once).
    Bytes(f64),
    /// Compute: this many flops at the GEMM peak, plus `bytes` streamed at full bandwidth.
    Flops {
        /// Floating-point operations (2 per multiply-add).
        flops: f64,
        /// Bytes streamed besides the GEMMs (Adam's parameter and moment updates).
        bytes: f64,
    },
    /// No meaningful floor (per-step overhead, compile latency).
    None,
}

/// One workload: its key (what `--only` and the child process use), its report name, and its
/// floor.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// `W0`, `W1`, ..., `W4a`, `W4b`, `W7a`, `W7b`.
    pub key: &'static str,
    /// The name printed in JSON, starting with the workload's number.
    pub name: &'static str,
    /// What bounds it from below.
    pub floor: Floor,
}

/// Elements of W0 and W1.
pub const N_ELEMWISE: usize = 1 << 24;
/// W2's square matrix side.
pub const SOFTMAX_N: usize = 4096;
/// W3's rows and columns.
pub const LN_ROWS: usize = 8192;
/// W3's normalised axis.
pub const LN_COLS: usize = 1024;
/// W5's layer widths and batch.
pub const MLP: [usize; 4] = [784, 512, 512, 10];
/// W5's batch size.
pub const MLP_BATCH: usize = 256;
/// W6's step count.
pub const TINY_STEPS: usize = 1000;

const F32: f64 = 4.0;

/// Every workload, in report order.
pub fn all() -> Vec<Spec> {
    let elementwise = Floor::Bytes(2.0 * N_ELEMWISE as f64 * F32);
    vec![
        Spec {
            key: "W0",
            name: "W0 elementwise chain 16M",
            floor: elementwise,
        },
        Spec {
            key: "W1",
            name: "W1 transcendental chain 16M",
            floor: elementwise,
        },
        Spec {
            key: "W2",
            name: "W2 row softmax 4096x4096",
            floor: Floor::Bytes(2.0 * (SOFTMAX_N * SOFTMAX_N) as f64 * F32),
        },
        Spec {
            key: "W3",
            name: "W3 layer norm 8192x1024",
            floor: Floor::Bytes((2 * LN_ROWS * LN_COLS + 2 * LN_COLS) as f64 * F32),
        },
        Spec {
            key: "W4a",
            name: "W4 sgemm 1024^3",
            floor: gemm_floor(1024),
        },
        Spec {
            key: "W4b",
            name: "W4 sgemm 2048^3",
            floor: gemm_floor(2048),
        },
        Spec {
            key: "W5",
            name: "W5 MLP train step 784-512-512-10 b256",
            floor: mlp_floor(),
        },
        Spec {
            key: "W6",
            name: "W6 tiny net 20-10-20 x1000 steps",
            floor: Floor::None,
        },
        Spec {
            key: "W7a",
            name: "W7 compile latency W5 cold",
            floor: Floor::None,
        },
        Spec {
            key: "W7b",
            name: "W7 compile latency W5 warm",
            floor: Floor::None,
        },
    ]
}

fn gemm_floor(n: usize) -> Floor {
    Floor::Flops {
        flops: 2.0 * (n as f64).powi(3),
        bytes: 0.0,
    }
}

/// Forward: one GEMM per layer. Backward: the weight gradient of every layer and the input
/// gradient of every layer but the first (x needs none), each a GEMM of the same size. Adam
/// reads parameter, gradient and both moments and writes parameter and moments: 7 streams of
/// the parameter count. Elementwise work (ReLU, softmax over 10 classes) is negligible.
fn mlp_floor() -> Floor {
    let b = MLP_BATCH as f64;
    let layer = |i: usize| 2.0 * b * (MLP[i] * MLP[i + 1]) as f64;
    let forward: f64 = (0..3).map(layer).sum();
    let input_grads: f64 = (1..3).map(layer).sum();
    let params: usize = (0..3).map(|i| MLP[i] * MLP[i + 1] + MLP[i + 1]).sum();
    Floor::Flops {
        flops: 2.0 * forward + input_grads,
        bytes: 7.0 * params as f64 * F32,
    }
}

/// A prepared workload: the graph built on a device, its inputs generated, ready to run.
pub enum Job {
    /// Evaluate `outputs` with `feeds`.
    Eval {
        /// The graph (device already chosen).
        graph: Graph,
        /// What to evaluate.
        outputs: Vec<Tensor>,
        /// Input values, by name.
        feeds: Vec<(String, HostTensor)>,
    },
    /// Run a training step `steps` times.
    Train {
        /// Forward + backward + update as one program.
        step: TrainStep,
        /// Input values, by name (the batch).
        feeds: Vec<(String, HostTensor)>,
        /// Steps per run.
        steps: usize,
    },
}

impl Job {
    /// One timed unit of work: one evaluation, or `steps` training steps.
    pub fn run(&self) -> kiln::Result<()> {
        match self {
            Job::Eval {
                graph,
                outputs,
                feeds,
            } => {
                let outs: Vec<&Tensor> = outputs.iter().collect();
                let values = graph.eval(&outs, &refs(feeds))?;
                black_box(values);
            }
            Job::Train { step, feeds, steps } => {
                let feeds = refs(feeds);
                for _ in 0..*steps {
                    black_box(step.run(&feeds)?);
                }
            }
        }
        Ok(())
    }
}

/// Borrows named feeds the way `eval` and `run` take them.
pub fn refs(feeds: &[(String, HostTensor)]) -> Vec<(&str, &HostTensor)> {
    feeds.iter().map(|(n, v)| (n.as_str(), v)).collect()
}

/// Builds workload `key` (W0..W6) in a new graph set up by `configure` (device, fusion). W7
/// is not a `Job`: see [`compile_latency`] and [`lower_w5`].
pub fn prepare(key: &str, configure: &dyn Fn(&Graph) -> kiln::Result<()>) -> kiln::Result<Job> {
    let g = Graph::new();
    configure(&g)?;
    let mut rng = Rng(key.bytes().map(u64::from).sum());
    let job = match key {
        "W0" | "W1" => {
            let x = g.input("x", DType::F32, &[N_ELEMWISE])?;
            let y = if key == "W0" {
                // relu(x*a + b)*c - d with a, b, c, d = 1.5, 0.25, 2, 0.5.
                x.mul(1.5)?.add(0.25)?.relu()?.mul(2.0)?.sub(0.5)?
            } else {
                let xx = x.mul(&x)?;
                x.sin()?
                    .mul(&xx.neg()?.exp()?)?
                    .add(&xx.log1p()?.mul(0.5)?)?
            };
            eval(g, y, vec![("x", rng.uniform(&[N_ELEMWISE], -2.0, 2.0)?)])
        }
        "W2" => {
            let dims = [SOFTMAX_N, SOFTMAX_N];
            let x = g.input("x", DType::F32, &dims)?;
            eval(
                g,
                x.softmax(1)?,
                vec![("x", rng.uniform(&dims, -4.0, 4.0)?)],
            )
        }
        "W3" => {
            let dims = [LN_ROWS, LN_COLS];
            let x = g.input("x", DType::F32, &dims)?;
            let w = g.input("w", DType::F32, &[LN_COLS])?;
            let b = g.input("b", DType::F32, &[LN_COLS])?;
            let y = layer_norm(&x, &w, &b, 1e-5)?;
            eval(
                g,
                y,
                vec![
                    ("x", rng.uniform(&dims, -1.0, 1.0)?),
                    ("w", rng.uniform(&[LN_COLS], -1.0, 1.0)?),
                    ("b", rng.uniform(&[LN_COLS], -1.0, 1.0)?),
                ],
            )
        }
        "W4a" | "W4b" => {
            let n = if key == "W4a" { 1024 } else { 2048 };
            let a = g.input("a", DType::F32, &[n, n])?;
            let b = g.input("b", DType::F32, &[n, n])?;
            eval(
                g,
                a.matmul(&b)?,
                vec![
                    ("a", rng.uniform(&[n, n], -1.0, 1.0)?),
                    ("b", rng.uniform(&[n, n], -1.0, 1.0)?),
                ],
            )
        }
        "W5" => {
            let (step, _) = mlp_step(&g)?;
            Job::Train {
                step,
                feeds: mlp_batch(&mut rng)?,
                steps: 1,
            }
        }
        "W6" => Job::Train {
            step: tiny_step(&g)?,
            feeds: Vec::new(),
            steps: TINY_STEPS,
        },
        other => {
            return Err(kiln::Error::api(
                "bench",
                format!("no workload {other} to prepare"),
            ))
        }
    };
    Ok(job)
}

fn eval(g: Graph, y: Tensor, feeds: Vec<(&str, HostTensor)>) -> Job {
    Job::Eval {
        graph: g,
        outputs: vec![y],
        feeds: feeds.into_iter().map(|(n, v)| (n.to_string(), v)).collect(),
    }
}

/// `F.layer_norm(x, [C], w, b, eps)` over the last axis, as the composition a user writes.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> kiln::Result<Tensor> {
    let centered = x.sub(&x.mean(&[-1], true)?)?;
    let var = centered.square()?.mean(&[-1], true)?;
    centered.div(&var.add(eps)?.sqrt()?)?.mul(w)?.add(b)
}

/// W5's model and loss: returns the training step and the names of the batch inputs.
fn mlp_model(g: &Graph) -> kiln::Result<(Tensor, Adam)> {
    manual_seed(0);
    let x = g.input("x", DType::F32, &[MLP_BATCH, MLP[0]])?;
    let y = g.input("y", DType::I64, &[MLP_BATCH])?;
    let net = Sequential::new()
        .add(Linear::new(g, "fc1", MLP[0], MLP[1], true)?)
        .add(ReLU)
        .add(Linear::new(g, "fc2", MLP[1], MLP[2], true)?)
        .add(ReLU)
        .add(Linear::new(g, "fc3", MLP[2], MLP[3], true)?);
    let loss = cross_entropy(&net.forward(&x)?, &y, Reduction::Mean)?;
    Ok((loss, Adam::new(net.named_parameters(), 1e-3)))
}

/// W5: the MLP's training step on `g`.
pub fn mlp_step(g: &Graph) -> kiln::Result<(TrainStep, Tensor)> {
    let (loss, mut adam) = mlp_model(g)?;
    Ok((TrainStep::new(&loss, &mut adam)?, loss))
}

/// A random W5 batch: x in U(0, 1), labels uniform in 0..10.
pub fn mlp_batch(rng: &mut Rng) -> kiln::Result<Vec<(String, HostTensor)>> {
    let labels: Vec<i64> = (0..MLP_BATCH)
        .map(|_| (rng.next_f64() * MLP[3] as f64) as i64 % MLP[3] as i64)
        .collect();
    Ok(vec![
        ("x".into(), rng.uniform(&[MLP_BATCH, MLP[0]], 0.0, 1.0)?),
        (
            "y".into(),
            HostTensor::new(Shape::new(&[MLP_BATCH])?, TensorData::I64(labels))?,
        ),
    ])
}

/// W6: seed 002's cubic fit (420 parameters), exactly as `examples/fit_cubic.rs` builds it.
fn tiny_step(g: &Graph) -> kiln::Result<TrainStep> {
    manual_seed(0);
    let x = g.linspace(-1.0, 1.0, 20)?;
    let y = x.pow(3.0)?.sub(&x)?;
    let net = Sequential::new()
        .add(Linear::new(g, "w", 20, 10, false)?)
        .add(Sigmoid)
        .add(Linear::new(g, "a_b", 10, 20, true)?);
    let loss = mse_loss(&net.forward(&x)?, &y, Reduction::Mean)?;
    let mut adam = Adam::new(net.named_parameters(), 0.01);
    TrainStep::new(&loss, &mut adam)
}

/// The part of compile latency that exists whatever the device: W5's training program (loss,
/// gradients, Adam's updates) taken from the API graph to a memory-planned kernel program —
/// `optimize` (fold, simplify, CSE, DCE) then `lower` (fuse + plan). Returns milliseconds for
/// (fused, eager) lowering.
pub fn lower_w5() -> kiln::Result<(f64, f64)> {
    use kiln::ir::kernel::{lower, LowerOptions};
    let g = Graph::new();
    let (loss, mut adam) = mlp_model(&g)?;
    let params: Vec<Tensor> = adam.params().iter().map(|(_, t)| t.clone()).collect();
    let refs: Vec<&Tensor> = params.iter().collect();
    let grads = kiln::grad(&[&loss], &[None], &refs)?;
    let lr = g.input("lr", DType::F32, &[])?;
    let updates = adam.build_update(&grads, &lr)?;
    let mut outputs = vec![loss.id()];
    outputs.extend(updates.iter().map(|(_, t)| t.id()));
    let time = |options: LowerOptions| -> kiln::Result<f64> {
        let t = std::time::Instant::now();
        let mut ir = g.ir();
        ir.set_outputs(&outputs)?;
        kiln::ir::passes::optimize(&mut ir)?;
        let program = lower(&ir, ir.outputs(), &options)?;
        black_box(program);
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    Ok((time(LowerOptions::default())?, time(LowerOptions::eager())?))
}

/// Compile latency of W5 on a compiling device, measured through the public API: the first
/// `run` of a new step includes building the executable, so `first run - steady run` is the
/// compile time. `cold` is the first program this process builds; `warm` builds the same
/// model again in a fresh graph, which a structural compile cache should serve. Returns
/// milliseconds (cold, warm).
pub fn compile_latency(
    configure: &dyn Fn(&Graph) -> kiln::Result<()>,
    steady_reps: usize,
) -> kiln::Result<(f64, f64)> {
    let mut rng = Rng(7);
    let feeds = mlp_batch(&mut rng)?;
    let first_minus_steady = |feeds: &[(String, HostTensor)]| -> kiln::Result<f64> {
        let g = Graph::new();
        configure(&g)?;
        let (step, _) = mlp_step(&g)?;
        let f = refs(feeds);
        let t = std::time::Instant::now();
        step.run(&f)?;
        let first = t.elapsed().as_secs_f64();
        let mut steady = Vec::new();
        for _ in 0..steady_reps.max(1) {
            let t = std::time::Instant::now();
            step.run(&f)?;
            steady.push(t.elapsed().as_secs_f64());
        }
        Ok(((first - median(&mut steady)) * 1e3).max(0.0))
    };
    let cold = first_minus_steady(&feeds)?;
    let warm = first_minus_steady(&feeds)?;
    Ok((cold, warm))
}

/// The median of `v` (sorted in place); NaN for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A small deterministic generator (SplitMix64) for inputs: fast for 16M values, and inputs
/// need a distribution, not PyTorch's stream.
pub struct Rng(pub u64);

impl Rng {
    /// The next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An f32 tensor of `dims` uniform in [lo, hi).
    pub fn uniform(&mut self, dims: &[usize], lo: f64, hi: f64) -> kiln::Result<HostTensor> {
        let shape = Shape::new(dims)?;
        let values: Vec<f32> = (0..shape.numel())
            .map(|_| (lo + (hi - lo) * self.next_f64()) as f32)
            .collect();
        Ok(HostTensor::new(shape, TensorData::F32(values))?)
    }
}
