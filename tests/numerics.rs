//! Values PyTorch defines, checked in all three modes — compiled fused, compiled eager and the
//! interpreter — with the inputs fed (literals would be constant-folded and never reach the
//! compiled kernels). Issue 13 collects the kinds; each fixed kind gets its cases here.

use kiln::{DType, Device, Graph, HostTensor, Result, Shape};

/// One empty graph per mode: compiled fused, compiled eager, interpreted.
fn graphs_in_every_mode() -> [(&'static str, Graph); 3] {
    let graph = |device, eager| {
        let g = Graph::new();
        g.set_device(device);
        g.set_eager(eager);
        g
    };
    [
        ("fused", graph(Device::Cpu, false)),
        ("eager", graph(Device::Cpu, true)),
        ("interpreter", graph(Device::Interpreter, false)),
    ]
}

/// Evaluates `build(x)` with `x` fed as `values` (f32, shape `[values.len()]`) in each mode.
fn in_every_mode(
    values: &[f64],
    build: impl Fn(&kiln::Tensor) -> Result<kiln::Tensor>,
) -> Result<Vec<(&'static str, Vec<f64>)>> {
    let mut results = Vec::new();
    for (mode, g) in graphs_in_every_mode() {
        let x = g.input("x", DType::F32, &[values.len()])?;
        let y = build(&x)?;
        let fed = HostTensor::from_f64(DType::F32, Shape::new(&[values.len()])?, values)?;
        let out = g.eval(&[&y], &[("x", &fed)])?;
        results.push((mode, out[0].to_f64_vec()));
    }
    Ok(results)
}

/// Kind 4: a sum over a size-0 dimension is 0, whatever the values broadcast into it (the
/// optimiser once rewrote `sum(expand(v))` as `v * 0`, NaN for `v = inf`).
#[test]
fn a_sum_over_an_empty_expanded_axis_is_zero() -> Result<()> {
    for (mode, got) in in_every_mode(&[f64::INFINITY], |x| x.expand(&[0])?.sum_all())? {
        assert_eq!(got, vec![0.0], "{mode}");
    }
    Ok(())
}

/// Kind 3: relu propagates NaN (it was built as `where(x > 0, x, 0)`, which gives 0), and its
/// gradient is 0 at and below 0 and 1 above (PyTorch's `threshold_backward`).
#[test]
fn relu_propagates_nan_and_has_pytorchs_gradient() -> Result<()> {
    let x = [
        f64::NAN,
        -1.0,
        -0.0,
        0.0,
        2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for (mode, got) in in_every_mode(&x, |x| x.relu())? {
        assert!(got[0].is_nan(), "{mode}: relu(NaN) = {}", got[0]);
        assert_eq!(
            &got[1..],
            &[0.0, 0.0, 0.0, 2.5, f64::INFINITY, 0.0],
            "{mode}"
        );
    }
    let g = Graph::new();
    let p = g.parameter("p", vec![-1.0f32, 0.0, 3.0])?;
    p.relu()?.sum_all()?.backward()?;
    assert_eq!(p.grad().map(|t| t.to_f64_vec()), Some(vec![0.0, 0.0, 1.0]));
    Ok(())
}

/// Kind 1: logsumexp of rows with infinite maxima (PyTorch shifts by 0 where the maximum is
/// infinite): `[-inf, -inf]` is `-inf`, `[inf, 0]` is `inf`, a NaN stays NaN; finite rows are
/// unchanged.
#[test]
fn logsumexp_of_infinite_rows() -> Result<()> {
    let ninf = f64::NEG_INFINITY;
    let cases: [(&[f64], f64); 4] = [
        (&[ninf, ninf], ninf),
        (&[f64::INFINITY, 0.0], f64::INFINITY),
        (&[0.0, f64::NAN], f64::NAN),
        (&[1000.0, 1000.0], 1000.0 + std::f64::consts::LN_2),
    ];
    for (row, want) in cases {
        for (mode, got) in in_every_mode(row, |x| x.logsumexp(0, false))? {
            let ok = (got[0].is_nan() && want.is_nan())
                || got[0] == want
                || (got[0] - want).abs() <= 1e-4 * want.abs();
            assert!(ok, "{mode}: logsumexp({row:?}) = {}, want {want}", got[0]);
        }
    }
    Ok(())
}

/// Kind 2: sigmoid's gradient at -90 is e^-90 (an f32 subnormal, as in PyTorch; the
/// composite's backward multiplied 0 by e^90 = inf, giving NaN); its value keeps relative
/// accuracy for very negative inputs.
#[test]
fn sigmoid_is_stable_forward_and_backward() -> Result<()> {
    let x = [
        -90.0,
        -20.0,
        0.0,
        90.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    for (mode, got) in in_every_mode(&x, |x| x.sigmoid())? {
        let close = |got: f64, want: f64, rel: f64| (got - want).abs() <= rel * want;
        // e^-90, a subnormal in f32 (fewer significant bits, hence the looser bound).
        assert!(
            close(got[0], 8.194e-40, 1e-3),
            "{mode}: sigmoid(-90) = {}",
            got[0]
        );
        // e^-20 / (1 + e^-20)
        assert!(
            close(got[1], 2.061_153_6e-9, 1e-6),
            "{mode}: sigmoid(-20) = {}",
            got[1]
        );
        assert_eq!(&got[2..6], &[0.5, 1.0, 1.0, 0.0], "{mode}");
        assert!(got[6].is_nan(), "{mode}: sigmoid(NaN) = {}", got[6]);
    }
    for (mode, g) in graphs_in_every_mode() {
        let p = g.parameter("p", vec![-90.0f32, 0.0, 90.0])?;
        p.sigmoid()?.sum_all()?.backward()?;
        let grad = p.grad().map(|t| t.to_f64_vec()).unwrap_or_default();
        assert!(
            (grad[0] - 8.194e-40).abs() <= 1e-2 * 8.194e-40 && grad[1..] == [0.25, 0.0],
            "{mode}: {grad:?}"
        );
    }
    Ok(())
}

/// logsumexp's gradient is exactly softmax (the shift by the row maximum is detached, as
/// PyTorch's backward has it), ties at the maximum included.
#[test]
fn logsumexp_gradient_is_softmax() -> Result<()> {
    let x = [1.0f32, 3.0, 3.0, -2.0];
    let e: Vec<f64> = x.iter().map(|&v| (f64::from(v)).exp()).collect();
    let total: f64 = e.iter().sum();
    for (mode, g) in graphs_in_every_mode() {
        let p = g.parameter("p", x.to_vec())?;
        p.logsumexp(0, false)?.backward()?;
        let grad = p.grad().map(|t| t.to_f64_vec()).unwrap_or_default();
        for (i, (got, want)) in grad.iter().zip(e.iter().map(|v| v / total)).enumerate() {
            assert!(
                (got - want).abs() <= 1e-6,
                "{mode}: d/dx{i} = {got}, want {want}"
            );
        }
    }
    Ok(())
}
