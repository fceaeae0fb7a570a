//! The tutorials' autograd programs (seeds 001 and 004) with the values they print.

use kiln::{Graph, HostTensor, Result};
use std::f64::consts::PI;

fn grad_of(t: &kiln::Tensor) -> Vec<f64> {
    t.grad().expect("backward reached this leaf").to_f64_vec()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
    }
}

#[test]
fn z_equals_x_times_y_to_the_fifth() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor(3.0f32)?.requires_grad_()?;
    let y = g.tensor(7.0f32)?.requires_grad_()?;
    (&x * &y.pow(5.0)?)?.backward()?;
    assert_eq!(grad_of(&x), vec![16807.0]);
    assert_eq!(grad_of(&y), vec![36015.0]);
    Ok(())
}

#[test]
fn derivative_of_sin_is_cos_both_ways() -> Result<()> {
    let g = Graph::new();
    let x = g.linspace(0.0, 2.0 * PI, 100)?.requires_grad_()?;
    x.sin()?.backward_with(&g.ones(&[100])?)?;
    let xs = x.to_vec_f64()?;
    let cos: Vec<f64> = xs.iter().map(|v| v.cos()).collect();
    assert_close(&grad_of(&x), &cos, 1e-6);

    let x2 = g.linspace(0.0, 2.0 * PI, 100)?.requires_grad_()?;
    let y_hat = x2.sin()?;
    let loss = (&y_hat - (0.0 * &y_hat)?)?.sum_all()?;
    loss.backward()?;
    assert_close(&grad_of(&x2), &cos, 1e-6);
    Ok(())
}

#[test]
fn seed_004_gradients() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([0.0f32, 1.0, 2.0, 3.0])?.requires_grad_()?;
    x.dot(&g.tensor([2.0f32, 3.0, 5.0, 7.0])?)?.backward()?;
    assert_eq!(grad_of(&x), vec![2.0, 3.0, 5.0, 7.0]);

    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let u = (1.0 + &x.sin()?.sum_all()?)?.log()?;
    u.neg()?.exp()?.backward()?;
    assert_close(&grad_of(&x), &[-0.0646, 0.0498, 0.1184], 5e-5);

    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let y = ((x.get(0)?.pow(1.0)? + x.get(1)?.pow(2.0)?)? + x.get(2)?.pow(3.0)?)?;
    let u = (1.0 + &y.sin()?)?.log()?;
    u.neg()?.exp()?.backward()?;
    assert_close(&grad_of(&x), &[-0.3466, -1.3864, -9.3580], 5e-5);
    u.backward()?; // accumulates, like retain_graph=True then a second backward
    assert_close(&grad_of(&x), &[0.1911, 0.7645, 5.1603], 5e-5);

    let x = g.tensor([1.0f32, 2.0, 3.0])?.requires_grad_()?;
    let y = g.tensor([5.0f32, 7.0, 6.0])?.requires_grad_()?;
    (x.cos()? * y.sin()?)?.sum_all()?.backward()?;
    assert_close(&grad_of(&x), &[0.8069, -0.5974, 0.0394], 5e-5);
    assert_close(&grad_of(&y), &[0.1533, -0.3137, -0.9506], 5e-5);
    Ok(())
}

#[test]
fn zero_grad_detach_and_no_grad() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0])?.requires_grad_()?;
    (&x * &x)?.sum_all()?.backward()?;
    assert_eq!(grad_of(&x), vec![2.0, 4.0]);
    g.zero_grad();
    assert!(x.grad().is_none());
    // d/dx (x * detach(x)) = detach(x)
    (&x * &x.detach()?)?.sum_all()?.backward()?;
    assert_eq!(grad_of(&x), vec![1.0, 2.0]);
    x.zero_grad();
    let frozen = kiln::no_grad(|| &x * 3.0)?;
    let err = frozen.sum_all()?.backward().unwrap_err();
    assert!(err.to_string().contains("does not depend"), "{err}");
    // A parameter created by the API requires grad; a plain literal does not.
    let w = g.parameter("w", [1.0f32])?;
    assert!(w.requires_grad());
    assert!(!g.tensor([1.0f32])?.requires_grad());
    Ok(())
}

#[test]
fn backward_errors() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([1.0f32, 2.0])?.requires_grad_()?;
    let y = (&x * 2.0)?;
    let err = y.backward().unwrap_err();
    assert!(err.to_string().contains("only for scalar outputs"), "{err}");
    let err = y.backward_with(&g.ones(&[3])?).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
    assert!(g.tensor([1i64])?.requires_grad_().is_err());
    assert!(
        y.requires_grad_().is_err(),
        "a non-leaf cannot require grad"
    );
    let other = Graph::new().ones(&[2])?;
    assert!(y.backward_with(&other).is_err());
    let _ = HostTensor::from(vec![0.0f32]);
    Ok(())
}

#[test]
fn second_derivative_through_the_api() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([0.5f64, 1.0, 2.0])?.requires_grad_()?;
    let y = x.sin()?.sum_all()?;
    let dy = kiln::grad(&[&y], &[None], &[&x])?;
    let d2 = kiln::grad(&[&dy[0].sum_all()?], &[None], &[&x])?;
    let want: Vec<f64> = [0.5f64, 1.0, 2.0].iter().map(|v| -v.sin()).collect();
    assert_close(&d2[0].to_vec_f64()?, &want, 1e-12);
    Ok(())
}
