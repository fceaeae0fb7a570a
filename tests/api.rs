//! The user API against hand-computed values: creation, broadcasting and promotion, reductions,
//! movement, indexing, the matmul family, softmax, and the errors of each.

use kiln::{DType, Graph, HostTensor, Idx, Result, Tensor};

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_vec_f32().expect("evaluation")
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
}

#[test]
fn arithmetic_broadcasts_and_promotes() -> Result<()> {
    let g = Graph::new();
    let a = g.tensor([[1.0f32, 2.0], [3.0, 4.0]])?;
    let b = g.tensor([10.0f32, 20.0])?;
    assert_eq!(f32s(&(&a + &b)?), vec![11.0, 22.0, 13.0, 24.0]);
    assert_eq!(f32s(&(&a - &b)?), vec![-9.0, -18.0, -7.0, -16.0]);
    assert_eq!(f32s(&(2.0 * &a)?), vec![2.0, 4.0, 6.0, 8.0]);
    assert_eq!(f32s(&(1.0 - &a)?), vec![0.0, -1.0, -2.0, -3.0]);
    assert_eq!(f32s(&(&a / 2)?), vec![0.5, 1.0, 1.5, 2.0]);
    assert_eq!(f32s(&(-&a)?), vec![-1.0, -2.0, -3.0, -4.0]);
    let col = g.tensor([[1.0f32], [2.0]])?;
    assert_eq!((&col * &b)?.dims(), vec![2, 2]);
    assert_eq!(f32s(&(&col * &b)?), vec![10.0, 20.0, 20.0, 40.0]);

    // int * int stays int; int / int is true division in f32; int + float scalar is f32.
    let i = g.tensor([1i64, 2, 3])?;
    assert_eq!((&i * 7)?.dtype(), DType::I64);
    assert_eq!((&i * 7)?.to_host()?.as_i64()?, &[7, 14, 21]);
    assert_eq!((&i / 2)?.dtype(), DType::F32);
    assert_eq!(f32s(&(&i / 2)?), vec![0.5, 1.0, 1.5]);
    assert_eq!((&i + 0.5)?.dtype(), DType::F32);
    let d = g.tensor([1.0f64])?;
    assert_eq!((&d + &g.tensor([1.0f32])?)?.dtype(), DType::F64);

    let err = (&a + &g.tensor([1.0f32, 2.0, 3.0])?).unwrap_err();
    assert_eq!(
        err.to_string(),
        "add: shapes [2,2] and [3] cannot be broadcast together"
    );
    let other = Graph::new().tensor([1.0f32])?;
    assert!((&a + &other)
        .unwrap_err()
        .to_string()
        .contains("different graphs"));
    Ok(())
}

#[test]
fn elementwise_math() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([-1.0f32, 0.0, 2.0])?;
    assert_eq!(f32s(&x.relu()?), vec![0.0, 0.0, 2.0]);
    assert_eq!(f32s(&x.abs()?), vec![1.0, 0.0, 2.0]);
    assert_eq!(f32s(&x.square()?), vec![1.0, 0.0, 4.0]);
    assert_eq!(f32s(&x.clamp(Some(-0.5), Some(1.0))?), vec![-0.5, 0.0, 1.0]);
    assert!(close(
        &f32s(&x.exp()?),
        &[(-1.0f32).exp(), 1.0, 2.0f32.exp()]
    ));
    assert!(close(&f32s(&x.sigmoid()?), &[0.26894142, 0.5, 0.880797]));
    assert!(close(&f32s(&x.tanh()?), &[-0.7615942, 0.0, 0.9640276]));
    assert!(close(&f32s(&x.pow(3.0)?), &[-1.0, 0.0, 8.0]));
    assert!(close(
        &f32s(&x.add(2.0)?.sqrt()?),
        &[1.0, 2.0f32.sqrt(), 2.0]
    ));
    assert!(close(
        &f32s(&x.add(2.0)?.log()?),
        &[0.0, 2.0f32.ln(), 4.0f32.ln()]
    ));
    assert_eq!(x.lt(0.5)?.to_host()?.as_bool()?, &[true, true, false]);
    assert_eq!(
        x.ge(&g.tensor([0.0f32])?)?.to_host()?.as_bool()?,
        &[false, true, true]
    );
    let picked = x.where_(&x.gt(0.0)?, 10.0)?;
    assert_eq!(f32s(&picked), vec![10.0, 10.0, 2.0]);
    // Integer inputs to float math become f32, as in PyTorch.
    assert_eq!(g.tensor([0i64])?.exp()?.dtype(), DType::F32);
    Ok(())
}

#[test]
fn reductions_with_dims_and_keepdim() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([[1.0f32, 5.0, 3.0], [4.0, 2.0, 6.0]])?;
    assert_eq!(f32s(&x.sum_all()?), vec![21.0]);
    assert_eq!(x.sum_all()?.dims(), Vec::<usize>::new());
    assert_eq!(f32s(&x.sum(&[0], false)?), vec![5.0, 7.0, 9.0]);
    assert_eq!(x.sum(&[-1], true)?.dims(), vec![2, 1]);
    assert_eq!(f32s(&x.mean(&[1], false)?), vec![3.0, 4.0]);
    assert_eq!(f32s(&x.max(&[1], false)?), vec![5.0, 6.0]);
    assert_eq!(f32s(&x.min(&[0], false)?), vec![1.0, 2.0, 3.0]);
    assert_eq!(x.argmax(Some(1), false)?.to_host()?.as_i64()?, &[1, 2]);
    assert_eq!(x.argmax(None, false)?.to_host()?.as_i64()?, &[5]);
    assert_eq!(x.argmin(Some(0), true)?.dims(), vec![1, 3]);
    // Unbiased variance of [1, 5, 3] is 4; of [4, 2, 6] is 4.
    assert_eq!(f32s(&x.var(&[1], 1, false)?), vec![4.0, 4.0]);
    assert!(x.sum(&[2], false).is_err());
    assert!(x.sum(&[0, 0], false).is_err());
    // Sum over an empty axis is 0; counting bools gives an integer.
    let empty = g.zeros(&[0, 3])?;
    assert_eq!(f32s(&empty.sum(&[0], false)?), vec![0.0, 0.0, 0.0]);
    assert_eq!(x.gt(2.5)?.sum_all()?.to_host()?.as_i64()?, &[4]);
    Ok(())
}

#[test]
fn matmul_family() -> Result<()> {
    let g = Graph::new();
    let a = g.tensor([[3.0f64, 1.0], [2.0, 3.0], [9.0, 2.0]])?;
    let b = g.tensor([[5.0f64, 7.0, 0.0, 9.0], [1.0, 1.0, 9.0, 1.0]])?;
    let c = a.mm(&b)?;
    assert_eq!(
        c.to_host()?.as_f64()?,
        &[16.0, 22.0, 9.0, 28.0, 13.0, 17.0, 27.0, 21.0, 47.0, 65.0, 18.0, 83.0]
    );
    let v = g.tensor([1i64, 2, 3])?;
    assert_eq!(
        v.matmul(&g.tensor([4i64, 5, 6])?)?.to_host()?.as_i64()?,
        &[32]
    );
    assert_eq!(v.dot(&g.tensor([4i64, 5, 6])?)?.dims(), Vec::<usize>::new());
    let m = g.tensor([[1.0f32, 2.0], [3.0, 4.0]])?;
    let x = g.tensor([1.0f32, 1.0])?;
    assert_eq!(f32s(&m.matmul(&x)?), vec![3.0, 7.0]);
    assert_eq!(f32s(&x.matmul(&m)?), vec![4.0, 6.0]);
    assert_eq!(
        g.zeros(&[10, 5, 3, 2, 4])?
            .matmul(&g.zeros(&[4, 10])?)?
            .dims(),
        vec![10, 5, 3, 2, 10]
    );
    assert_eq!(
        g.zeros(&[5, 3, 2])?.bmm(&g.zeros(&[5, 2, 4])?)?.dims(),
        vec![5, 3, 4]
    );
    assert_eq!(
        g.zeros(&[2, 1, 3, 4])?
            .matmul(&g.zeros(&[5, 4, 2])?)?
            .dims(),
        vec![2, 5, 3, 2]
    );
    let batched = g.tensor([[[1.0f32, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 2.0]]])?;
    assert_eq!(
        f32s(&batched.matmul(&m)?),
        vec![1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]
    );
    let err = g.zeros(&[64, 2])?.matmul(&g.zeros(&[3, 2])?).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matmul: mat1 and mat2 shapes cannot be multiplied (64x2 and 3x2)"
    );
    assert!(g.zeros(&[2, 3])?.bmm(&g.zeros(&[2, 3])?).is_err());
    let outer = g.arange(1, 4)?.outer(&g.arange(1, 3)?)?;
    assert_eq!(outer.to_host()?.as_i64()?, &[1, 2, 2, 4, 3, 6]);
    let d = g.tensor([1.0f32, 2.0, 3.0])?.diag()?;
    assert_eq!(f32s(&d), vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]);
    assert_eq!(f32s(&d.diag()?), vec![1.0, 2.0, 3.0]);
    Ok(())
}

#[test]
fn movement_and_indexing() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]])?;
    assert_eq!(x.reshape(&[3, -1])?.dims(), vec![3, 2]);
    assert!(x.reshape(&[4, -1]).is_err());
    assert!(x.reshape(&[-1, -1]).is_err());
    assert_eq!(f32s(&x.t()?), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    assert_eq!(x.unsqueeze(0)?.dims(), vec![1, 2, 3]);
    assert_eq!(x.unsqueeze(-1)?.dims(), vec![2, 3, 1]);
    assert_eq!(x.unsqueeze(0)?.squeeze(0)?.dims(), vec![2, 3]);
    assert_eq!(x.expand(&[4, -1, -1])?.dims(), vec![4, 2, 3]);
    assert_eq!(f32s(&x.get(1)?), vec![4.0, 5.0, 6.0]);
    assert_eq!(f32s(&x.get(-1)?), vec![4.0, 5.0, 6.0]);
    assert!(x.get(2).is_err());
    assert_eq!(f32s(&x.index(&[Idx::All, Idx::At(2)])?), vec![3.0, 6.0]);
    assert_eq!(
        f32s(&x.index(&[Idx::All, Idx::List(vec![2, 0])])?),
        vec![3.0, 1.0, 6.0, 4.0]
    );
    assert_eq!(
        f32s(&x.slice(1, Some(0), None, 2)?),
        vec![1.0, 3.0, 4.0, 6.0]
    );
    assert_eq!(
        f32s(&x.slice(1, Some(-2), Some(100), 1)?),
        vec![2.0, 3.0, 5.0, 6.0]
    );
    assert_eq!(x.at(&[1, 2])?.item()?, 6.0);
    let cat = Tensor::cat(&[&x, &x], 1)?;
    assert_eq!(cat.dims(), vec![2, 6]);
    assert_eq!(f32s(&cat.get(0)?), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    assert_eq!(Tensor::stack(&[&x, &x], 0)?.dims(), vec![2, 2, 3]);
    assert!(Tensor::cat(&[&x, &g.zeros(&[2, 2, 2])?], 0).is_err());
    let idx = g.tensor([[0i64, 0], [1, 0]])?;
    assert_eq!(f32s(&x.gather(1, &idx)?), vec![1.0, 1.0, 5.0, 4.0]);
    let hot = g.tensor([0i64, 2, 1])?.one_hot(3)?;
    assert_eq!(hot.to_host()?.as_i64()?, &[1, 0, 0, 0, 0, 1, 0, 1, 0]);
    let bad = g.tensor([0i64, 3])?.one_hot(3)?;
    assert!(
        bad.to_host().is_err(),
        "class 3 of 3 must fail at evaluation"
    );
    let bad_gather = x.gather(1, &g.tensor([[5i64], [0]])?)?;
    assert!(bad_gather
        .to_host()
        .unwrap_err()
        .to_string()
        .contains("gather"));
    Ok(())
}

#[test]
fn softmax_rows_sum_to_one_and_are_stable() -> Result<()> {
    let g = Graph::new();
    let x = g.tensor([[1.0f32, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])?;
    let s = f32s(&x.softmax(-1)?);
    assert!(close(&s[..3], &[0.09003057, 0.24472847, 0.66524096]));
    assert!(close(&s[3..], &[1.0 / 3.0; 3]));
    let ls = f32s(&x.log_softmax(1)?);
    assert!(close(&ls[..3], &[-2.407606, -1.4076059, -0.40760595]));
    Ok(())
}

#[test]
fn creation() -> Result<()> {
    let g = Graph::new();
    assert_eq!(f32s(&g.ones(&[2])?), vec![1.0, 1.0]);
    assert_eq!(
        g.full(&[2, 2], 7.0, DType::I32)?.to_host()?.as_i32()?,
        &[7, 7, 7, 7]
    );
    assert_eq!(f32s(&g.eye(2)?), vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(g.arange(1, 4)?.to_host()?.as_i64()?, &[1, 2, 3]);
    assert_eq!(
        f32s(&g.arange_f32(0.0, 1.0, 0.25)?),
        vec![0.0, 0.25, 0.5, 0.75]
    );
    assert_eq!(
        f32s(&g.linspace(-1.0, 1.0, 5)?),
        vec![-1.0, -0.5, 0.0, 0.5, 1.0]
    );
    let lin = f32s(&g.linspace(0.0, 2.0 * std::f64::consts::PI, 100)?);
    assert_eq!(lin.len(), 100);
    assert_eq!(lin[99], (2.0 * std::f64::consts::PI) as f32);
    assert!(g.arange_f32(0.0, 1.0, 0.0).is_err());
    assert!(g.tensor(vec![vec![1.0f32], vec![]]).is_err());
    let p = g.parameter("w", [1.0f32, 2.0])?;
    assert_eq!(f32s(&(&p * 2.0)?), vec![2.0, 4.0]);
    g.set_parameter("w", HostTensor::from(vec![3.0f32, 4.0]))?;
    assert_eq!(f32s(&(&p * 2.0)?), vec![6.0, 8.0]);
    assert!(g
        .set_parameter("w", HostTensor::from(vec![3.0f32]))
        .is_err());
    assert!(g.parameter("w", [0.0f32]).is_err());
    let like = g.full_like(&g.tensor([[1i32, 2]])?, 5.0)?;
    assert_eq!((like.dims(), like.dtype()), (vec![1, 2], DType::I32));
    assert_eq!(f32s(&g.zeros_like(&p)?), vec![0.0, 0.0]);
    assert_eq!(f32s(&g.ones_like(&p)?), vec![1.0, 1.0]);
    assert_eq!(g.randn_like(&p)?.dims(), vec![2]);
    assert!(g.rand_like(&g.tensor([1i64])?).is_err());
    // Element counts that overflow usize are errors, not panics or huge allocations.
    assert!(g.zeros(&[usize::MAX, 2]).is_err());
    assert!(g.input("big", DType::F32, &[1 << 40, 1 << 30]).is_err());
    assert!(g.zeros(&[1; 9]).is_err(), "rank 9 exceeds the maximum");
    Ok(())
}

#[test]
fn inputs_are_fed_by_name_and_checked() -> Result<()> {
    let g = Graph::new();
    let x = g.input("x", DType::F32, &[2])?;
    let y = (&x * 3.0)?;
    let out = g.eval(&[&y], &[("x", &HostTensor::from(vec![1.0f32, 2.0]))])?;
    assert_eq!(out[0].as_f32()?, &[3.0, 6.0]);
    let missing = g.eval(&[&y], &[]).unwrap_err();
    assert!(missing.to_string().contains("missing feed"), "{missing}");
    let wrong = g
        .eval(&[&y], &[("x", &HostTensor::from(vec![1.0f32]))])
        .unwrap_err();
    assert!(wrong.to_string().contains("expected f32[2]"), "{wrong}");
    let dtype = g
        .eval(&[&y], &[("x", &HostTensor::from(vec![1.0f64, 2.0]))])
        .unwrap_err();
    assert!(dtype.to_string().contains("got f64[2]"), "{dtype}");
    Ok(())
}

/// The CPU backend reads feeds in place: evaluation must leave the caller's tensors, and the
/// graph's parameters, exactly as they were.
#[test]
fn evaluation_leaves_feeds_and_parameters_untouched() -> Result<()> {
    let g = Graph::new();
    let n = 3 * 16384 + 5; // long enough to be split across threads
    let x = g.input("x", DType::F32, &[n])?;
    let mask = g.input("m", DType::Bool, &[n])?;
    let w = g.parameter(
        "w",
        HostTensor::from((0..n).map(|i| i as f32).collect::<Vec<f32>>()),
    )?;
    let y = (&x * &w)?.where_(&mask, 0.0)?.exp()?;
    let xv = HostTensor::from((0..n).map(|i| (i % 7) as f32 * 0.1).collect::<Vec<f32>>());
    let mv = HostTensor::from((0..n).map(|i| i % 3 == 0).collect::<Vec<bool>>());
    let (x_before, m_before, w_before) = (xv.clone(), mv.clone(), g.parameter_value("w")?);
    for _ in 0..2 {
        let out = g.eval(&[&y, &x], &[("x", &xv), ("m", &mv)])?;
        assert_eq!(
            out[1], x_before,
            "an input returned as an output is a copy of it"
        );
    }
    assert_eq!(xv, x_before);
    assert_eq!(mv, m_before);
    assert_eq!(g.parameter_value("w")?, w_before);
    Ok(())
}

#[test]
fn run_into_reuses_output_tensors() -> Result<()> {
    for device in [kiln::Device::Cpu, kiln::Device::Interpreter] {
        let g = Graph::new();
        g.set_device(device);
        let x = g.input("x", DType::F32, &[3])?;
        let y = x.mul(2.0)?.add(1.0)?;
        let positive = x.gt(0.0)?;
        let exe = kiln::compile(&[&y, &positive], &g.compile_options())?;
        let a = HostTensor::from_f64(DType::F32, kiln::Shape::new(&[3])?, &[1.0, -2.0, 3.0])?;
        let mut outs = exe.run(&[("x", &a)])?;
        let b = HostTensor::from_f64(DType::F32, kiln::Shape::new(&[3])?, &[0.5, 4.0, -1.0])?;
        let base = outs[0].as_f32()?.as_ptr();
        exe.run_into(&[("x", &b)], &mut outs)?;
        assert_eq!(outs[0].as_f32()?, &[2.0, 9.0, -1.0], "{device:?}");
        assert_eq!(outs[1].as_bool()?, &[true, true, false], "{device:?}");
        if device == kiln::Device::Cpu {
            assert_eq!(
                outs[0].as_f32()?.as_ptr(),
                base,
                "the output was reallocated"
            );
        }
        // Wrong count, dtype or shape: errors.
        assert!(exe.run_into(&[("x", &b)], &mut outs[..1]).is_err());
        let mut wrong = vec![
            HostTensor::full(DType::F64, kiln::Shape::new(&[3])?, 0.0),
            outs[1].clone(),
        ];
        assert!(exe.run_into(&[("x", &b)], &mut wrong).is_err());
        let mut wrong = vec![
            HostTensor::full(DType::F32, kiln::Shape::new(&[4])?, 0.0),
            outs[1].clone(),
        ];
        assert!(exe.run_into(&[("x", &b)], &mut wrong).is_err());
    }
    Ok(())
}

#[test]
fn rebuilding_the_same_graph_does_not_recompile() -> Result<()> {
    fn build(scale: f64) -> Result<Vec<f32>> {
        let g = Graph::new();
        let x = g.tensor([[1.0f32, -2.0], [3.0, 0.5]])?;
        x.mul(scale)?.relu()?.sum(&[1], false)?.to_vec_f32()
    }
    kiln::clear_compile_cache();
    let before = kiln::compiled_programs();
    let a = build(2.0)?;
    assert_eq!(kiln::compiled_programs(), before + 1);
    // The same graph, built again from scratch: a cache hit, the same values.
    let b = build(2.0)?;
    assert_eq!(kiln::compiled_programs(), before + 1);
    assert_eq!(a, b);
    // Another constant is another program.
    let c = build(3.0)?;
    assert_eq!(kiln::compiled_programs(), before + 2);
    assert_eq!(c, vec![3.0, 10.5]);
    Ok(())
}
