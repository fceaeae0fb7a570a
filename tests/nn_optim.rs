//! nn modules, losses and optimisers against hand-computed values.

use kiln::nn::loss::{self, Reduction};
use kiln::nn::{Linear, Module, Sequential, Sigmoid};
use kiln::optim::{Adam, Optimizer, Sgd, TrainStep};
use kiln::{manual_seed, DType, Graph, HostTensor, Result, Tensor};
use std::sync::Mutex;

/// Tests that draw from the process-global generator take this lock so their draws do not
/// interleave.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn linear_initialisation_matches_torch_bit_for_bit() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    // torch 2.15 (x86-64, AVX2 kernels): torch.manual_seed(0); torch.nn.Linear(3, 2)
    let want_w: [u32; 6] = [
        0xbb8da3e8, 0x3e9e9313, 0xbef34b7e, 0xbed98bc9, 0xbe63b4b1, 0x3e1e8953,
    ];
    let want_b: [u32; 2] = [0xbc3b6b40, 0x3eea617a];
    manual_seed(0);
    let g = Graph::new();
    let fc = Linear::new(&g, "fc", 3, 2, true)?;
    let w: Vec<u32> = g
        .parameter_value("fc.weight")?
        .as_f32()?
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let b: Vec<u32> = g
        .parameter_value("fc.bias")?
        .as_f32()?
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(w, want_w);
    assert_eq!(b, want_b);
    assert_eq!(fc.weight.dims(), vec![2, 3]);
    Ok(())
}

#[test]
fn seed_002_net_has_420_parameters() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = Graph::new();
    let net = Sequential::new()
        .add(Linear::new(&g, "w", 20, 10, false)?)
        .add(Sigmoid)
        .add(Linear::new(&g, "a_b", 10, 20, true)?);
    assert_eq!(net.num_parameters(), 420);
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["w.weight", "a_b.weight", "a_b.bias"]);
    let x = g.linspace(-1.0, 1.0, 20)?;
    assert_eq!(net.forward(&x)?.dims(), vec![20]);
    let err = net.forward(&g.zeros(&[3])?).unwrap_err();
    assert!(
        err.to_string().contains("expected input with 20 features"),
        "{err}"
    );
    Ok(())
}

#[test]
fn losses_against_hand_computed_values() -> Result<()> {
    let g = Graph::new();
    let p = g.tensor([1.0f64, 2.0])?;
    let zero = g.tensor([0.0f64, 0.0])?;
    assert_eq!(loss::mse_loss(&p, &zero, Reduction::Mean)?.item()?, 2.5);
    assert_eq!(loss::mse_loss(&p, &zero, Reduction::Sum)?.item()?, 5.0);
    assert_eq!(
        loss::mse_loss(&p, &zero, Reduction::None)?.to_vec_f64()?,
        vec![1.0, 4.0]
    );

    // BCE with p = 1 for a 0 target: log(1 - 1) = -inf is clamped to -100.
    let probs = g.tensor([0.5f64, 1.0])?;
    let y = g.tensor([1.0f64, 0.0])?;
    let bce = loss::binary_cross_entropy(&probs, &y, Reduction::Mean)?.item()?;
    assert!(close(bce, (2f64.ln() + 100.0) / 2.0, 1e-12), "{bce}");

    let z = g.tensor([0.0f64, 2.0])?;
    let bce_logits = loss::binary_cross_entropy_with_logits(&z, &y, Reduction::Mean)?.item()?;
    let want = (2f64.ln() + (2.0 + (1.0 + (-2f64).exp()).ln())) / 2.0;
    assert!(close(bce_logits, want, 1e-12), "{bce_logits} vs {want}");
    // Stable for large logits where sigmoid saturates.
    let big = g.tensor([100.0f64])?;
    let l = loss::binary_cross_entropy_with_logits(&big, &g.tensor([0.0f64])?, Reduction::Sum)?
        .item()?;
    assert!(close(l, 100.0, 1e-12), "{l}");

    let logits = g.tensor([[1.0f64, 2.0, 3.0], [1.0, 1.0, 1.0]])?;
    let target = g.tensor([2i64, 0])?;
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let ce = loss::cross_entropy(&logits, &target, Reduction::None)?.to_vec_f64()?;
    assert!(
        close(ce[0], lse - 3.0, 1e-12) && close(ce[1], 3f64.ln(), 1e-12),
        "{ce:?}"
    );
    let nll = loss::nll_loss(&logits.log_softmax(1)?, &target, Reduction::Mean)?.item()?;
    assert!(close(nll, (lse - 3.0 + 3f64.ln()) / 2.0, 1e-12));

    // Out-of-range classes are an error when evaluated; wrong shapes when built.
    let bad = loss::cross_entropy(&logits, &g.tensor([3i64, 0])?, Reduction::Mean)?;
    assert!(bad.to_host().is_err());
    assert!(loss::cross_entropy(&logits, &g.tensor([0i64])?, Reduction::Mean).is_err());
    assert!(loss::mse_loss(&p, &g.tensor([1.0f64])?, Reduction::Mean).is_err());
    Ok(())
}

/// loss = sum(p^2), so grad = 2p.
fn quadratic(g: &Graph, start: f64) -> Result<(kiln::Tensor, kiln::Tensor)> {
    let p = g.parameter("p", HostTensor::scalar(DType::F64, start))?;
    let loss = p.square()?;
    Ok((p, loss))
}

#[test]
fn sgd_with_momentum_two_steps() -> Result<()> {
    let g = Graph::new();
    let (p, loss) = quadratic(&g, 1.0)?;
    let mut opt = Sgd::new(vec![("p".into(), p.clone())], 0.1).with_momentum(0.9);
    // step 1: g = 2, buf = 2, p = 1 - 0.1*2 = 0.8; step 2: g = 1.6, buf = 0.9*2 + 1.6 = 3.4,
    // p = 0.8 - 0.34 = 0.46.
    for want in [0.8, 0.46] {
        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        assert!(close(g.parameter_value("p")?.item()?, want, 1e-12));
    }
    Ok(())
}

#[test]
fn adam_two_steps_with_bias_correction() -> Result<()> {
    let g = Graph::new();
    let (p, loss) = quadratic(&g, 1.0)?;
    let mut opt = Adam::new(vec![("p".into(), p.clone())], 0.1);
    // Adam by hand with PyTorch's defaults.
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.1);
    let (mut pv, mut m, mut v) = (1.0f64, 0.0, 0.0);
    for t in 1..=2 {
        let gr = 2.0 * pv;
        m = b1 * m + (1.0 - b1) * gr;
        v = b2 * v + (1.0 - b2) * gr * gr;
        let step = lr / (1.0 - b1.powi(t));
        pv -= step * m / (v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps);

        opt.zero_grad();
        loss.backward()?;
        opt.step()?;
        assert!(
            close(g.parameter_value("p")?.item()?, pv, 1e-12),
            "step {t}"
        );
    }
    assert!(close(pv, 0.800413, 1e-5));
    Ok(())
}

#[test]
fn step_leaves_parameters_without_a_gradient_alone() -> Result<()> {
    // `a` gets a gradient from the first loss only; `b` from the second. A step after the
    // first loss must move `a` alone (the partial path), one after a loss of both moves both
    // (the path that updates every parameter in place).
    let g = Graph::new();
    let a = g.parameter("a", HostTensor::scalar(DType::F64, 1.0))?;
    let b = g.parameter("b", HostTensor::scalar(DType::F64, 2.0))?;
    let params = vec![("a".to_string(), a.clone()), ("b".to_string(), b.clone())];
    let mut opt = Sgd::new(params, 0.1).with_momentum(0.5);
    opt.zero_grad();
    a.square()?.backward()?;
    opt.step()?;
    assert!(close(g.parameter_value("a")?.item()?, 0.8, 1e-12));
    assert!(close(g.parameter_value("b")?.item()?, 2.0, 1e-12));
    // Both: da = 2a = 1.6, buf_a = 0.5*2 + 1.6 = 2.6, a = 0.8 - 0.26 = 0.54; db = 1,
    // buf_b = 1 (first use), b = 2 - 0.1 = 1.9.
    opt.zero_grad();
    a.square()?.add(&b)?.backward()?;
    opt.step()?;
    assert!(close(g.parameter_value("a")?.item()?, 0.54, 1e-12));
    assert!(close(g.parameter_value("b")?.item()?, 1.9, 1e-12));
    Ok(())
}

#[test]
fn train_step_equals_backward_then_step() -> Result<()> {
    let run = |compiled: bool| -> Result<Vec<f64>> {
        let g = Graph::new();
        let x = g.input("x", DType::F64, &[4, 2])?;
        let y = g.input("y", DType::F64, &[4, 1])?;
        let w = g.parameter(
            "w",
            HostTensor::from_f64(DType::F64, kiln::Shape::new(&[2, 1])?, &[0.5, -0.25])?,
        )?;
        let b = g.parameter("b", HostTensor::from(vec![0.1f64]))?;
        let loss = loss::mse_loss(&x.matmul(&w)?.add(&b)?, &y, Reduction::Mean)?;
        let params = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
        let mut opt = Adam::new(params, 0.05);
        let xv = HostTensor::from_f64(
            DType::F64,
            kiln::Shape::new(&[4, 2])?,
            &[1.0, 2.0, -1.0, 0.5, 0.0, 1.0, 2.0, -2.0],
        )?;
        let yv = HostTensor::from_f64(
            DType::F64,
            kiln::Shape::new(&[4, 1])?,
            &[1.0, 0.0, 0.5, 2.0],
        )?;
        if compiled {
            let step = TrainStep::new(&loss, &mut opt)?;
            for _ in 0..5 {
                step.run(&[("x", &xv), ("y", &yv)])?;
            }
        } else {
            g.feed("x", xv)?;
            g.feed("y", yv)?;
            for _ in 0..5 {
                opt.zero_grad();
                loss.backward()?;
                opt.step()?;
            }
        }
        let mut out = g.parameter_value("w")?.to_f64_vec();
        out.extend(g.parameter_value("b")?.to_f64_vec());
        Ok(out)
    };
    let a = run(true)?;
    let b = run(false)?;
    for (x, y) in a.iter().zip(&b) {
        assert!(close(*x, *y, 1e-12), "{a:?} vs {b:?}");
    }
    Ok(())
}

/// Direct convolution by loops, the reference for `Conv2d`.
fn conv_reference(
    x: &[f64],
    (n, c, h, w): (usize, usize, usize, usize),
    wt: &[f64],
    bias: &[f64],
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (w + 2 * pad - k) / stride + 1,
    );
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            for y in 0..oh {
                for z in 0..ow {
                    let mut acc = bias[oc];
                    for ic in 0..c {
                        for i in 0..k {
                            for j in 0..k {
                                let (yy, zz) = (
                                    (y * stride + i) as isize - pad as isize,
                                    (z * stride + j) as isize - pad as isize,
                                );
                                if yy >= 0 && zz >= 0 && (yy as usize) < h && (zz as usize) < w {
                                    acc += x[((b * c + ic) * h + yy as usize) * w + zz as usize]
                                        * wt[((oc * c + ic) * k + i) * k + j];
                                }
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + z] = acc;
                }
            }
        }
    }
    out
}

#[test]
fn conv2d_and_maxpool_match_direct_loops() -> Result<()> {
    use kiln::nn::{Conv2d, MaxPool2d};
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    manual_seed(3);
    for (stride, pad) in [(1, 0), (1, 1), (2, 1)] {
        let g = Graph::new();
        let conv = Conv2d::new(&g, "c", 2, 3, 3, stride, pad)?;
        let x = g.randn(&[2, 2, 7, 6])?;
        let got = conv.forward(&x)?.to_vec_f64()?;
        let want = conv_reference(
            &x.to_vec_f64()?,
            (2, 2, 7, 6),
            &g.parameter_value("c.weight")?.to_f64_vec(),
            &g.parameter_value("c.bias")?.to_f64_vec(),
            3,
            3,
            stride,
            pad,
        );
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() < 1e-5,
                "stride {stride} pad {pad}: {a} vs {b}"
            );
        }
    }
    let g = Graph::new();
    let x = g
        .tensor(
            (0..2 * 5 * 4)
                .map(|v| ((v * 7) % 11) as f32)
                .collect::<Vec<_>>(),
        )?
        .reshape(&[1, 2, 5, 4])?;
    let pooled = MaxPool2d::new(2)?.forward(&x)?;
    assert_eq!(pooled.dims(), vec![1, 2, 2, 2]);
    let xv = x.to_vec_f64()?;
    let at = |c: usize, i: usize, j: usize| xv[(c * 5 + i) * 4 + j];
    let want: Vec<f64> = (0..2)
        .flat_map(|c| (0..2).flat_map(move |i| (0..2).map(move |j| (c, i, j))))
        .map(|(c, i, j)| {
            at(c, 2 * i, 2 * j)
                .max(at(c, 2 * i + 1, 2 * j))
                .max(at(c, 2 * i, 2 * j + 1))
                .max(at(c, 2 * i + 1, 2 * j + 1))
        })
        .collect();
    assert_eq!(pooled.to_vec_f64()?, want);
    assert!(Conv2d::new(&g, "bad", 1, 1, 0, 1, 0).is_err());
    let conv = Conv2d::new(&g, "c1", 1, 1, 3, 1, 0)?;
    assert!(
        conv.forward(&g.zeros(&[1, 2, 5, 5])?).is_err(),
        "wrong channel count"
    );
    Ok(())
}

#[test]
fn state_dict_round_trips_through_safetensors() -> Result<()> {
    let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("kiln-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| kiln::Error::api("test", e.to_string()))?;
    let path = dir.join("model.safetensors");
    manual_seed(1);
    let g = Graph::new();
    let a = Sequential::new().add(Linear::new(&g, "fc", 3, 2, true)?);
    kiln::nn::save(&a, &path)?;
    let g2 = Graph::new();
    let b = Sequential::new().add(Linear::new(&g2, "fc", 3, 2, true)?);
    assert_ne!(kiln::nn::state_dict(&b)?, kiln::nn::state_dict(&a)?);
    kiln::nn::load(&b, &path)?;
    assert_eq!(kiln::nn::state_dict(&b)?, kiln::nn::state_dict(&a)?);
    // Strict: a module with other names or shapes is refused and left unchanged.
    let c = Sequential::new().add(Linear::new(&g2, "other", 3, 2, true)?);
    let before = kiln::nn::state_dict(&c)?;
    let err = kiln::nn::load(&c, &path).unwrap_err();
    assert!(err.to_string().contains("missing keys"), "{err}");
    assert_eq!(kiln::nn::state_dict(&c)?, before);
    let g3 = Graph::new();
    let d = Sequential::new().add(Linear::new(&g3, "fc", 4, 2, true)?);
    assert!(kiln::nn::load(&d, &path)
        .unwrap_err()
        .to_string()
        .contains("fc.weight"));
    assert!(kiln::nn::load(&d, dir.join("nope.safetensors")).is_err());
    std::fs::remove_dir_all(&dir).map_err(|e| kiln::Error::api("test", e.to_string()))?;
    Ok(())
}

#[test]
fn graph_inverse_and_its_gradient() -> Result<()> {
    let g = Graph::new();
    // Needs pivoting: a zero in the top-left corner.
    let a_host = HostTensor::from_f64(
        DType::F64,
        kiln::Shape::new(&[3, 3])?,
        &[0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.5, 2.0],
    )?;
    let a = g.parameter("a", a_host.clone())?;
    let inv = a.inverse()?;
    let want = kiln::linalg::inverse(&a_host)?;
    assert!(
        inv.to_host()?.allclose(&want, 1e-12, 1e-12),
        "{} vs {want}",
        inv.to_host()?
    );
    // d/dA sum(W * inv(A)) = -inv^T W inv^T.
    let w_host = HostTensor::from_f64(
        DType::F64,
        kiln::Shape::new(&[3, 3])?,
        &[1.0, -2.0, 0.5, 3.0, 0.0, 1.0, -1.0, 2.0, 4.0],
    )?;
    let w = g.tensor(w_host)?;
    (&w * &inv)?.sum_all()?.backward()?;
    let inv_t = g.tensor(want)?.t()?;
    let expected = inv_t.matmul(&w)?.matmul(&inv_t)?.neg()?.to_host()?;
    let got = a.grad().expect("gradient reached a");
    assert!(got.allclose(&expected, 1e-10, 1e-10), "{got} vs {expected}");
    // Batched, and seed 001's matrix.
    let m = g.tensor([1.0f32, 2.0, 3.0, 4.0])?.diag()?;
    let both = Tensor::stack(&[&m, &(&m * 2.0)?], 0)?.inverse()?;
    let v = both.to_vec_f64()?;
    assert!((v[10] - 1.0 / 3.0).abs() < 1e-6 && (v[16 + 10] - 1.0 / 6.0).abs() < 1e-6);
    assert!(g.zeros(&[2, 3])?.inverse().is_err());
    assert!(g.tensor([[1i64]])?.inverse().is_err());
    Ok(())
}

/// A compiled training step (CPU, fused and eager) leaves the same parameters after k steps as
/// the reference interpreter running the same graph.
#[test]
fn compiled_training_matches_the_interpreter() -> Result<()> {
    use kiln::data::{DataLoader, Dataset};
    use kiln::nn::ReLU;
    use kiln::Device;
    let data = kiln::datasets::digits()?.subset(&(0..256).collect::<Vec<_>>())?;
    let run = |device: Device, eager: bool| -> Result<Vec<(String, HostTensor)>> {
        let _lock = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
        manual_seed(5);
        let g = Graph::new();
        g.set_device(device);
        g.set_eager(eager);
        let model = Sequential::new()
            .add(Linear::new(&g, "fc1", 64, 32, true)?)
            .add(ReLU)
            .add(Linear::new(&g, "fc2", 32, 10, true)?);
        let x = g.input("x", DType::F32, &[32, 64])?;
        let y = g.input("y", DType::I64, &[32])?;
        let loss = loss::cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?;
        let mut adam = Adam::new(model.named_parameters(), 1e-2);
        let step = TrainStep::new(&loss, &mut adam)?;
        let mut loader = DataLoader::new(&data, 32)?.shuffle(3);
        for batch in loader.epoch() {
            let batch = batch?;
            step.run(&[("x", &batch[0]), ("y", &batch[1])])?;
        }
        assert_eq!(data.len(), 256);
        Ok(g.parameters())
    };
    let reference = run(Device::Interpreter, false)?;
    for eager in [false, true] {
        let compiled = run(Device::Cpu, eager)?;
        assert_eq!(compiled.len(), reference.len());
        for ((name, a), (_, b)) in compiled.iter().zip(&reference) {
            let diff = a.max_abs_diff(b).expect("same shapes");
            assert!(
                diff < 1e-4,
                "{name} (eager: {eager}): max abs diff {diff} after 8 Adam steps"
            );
        }
    }
    Ok(())
}
