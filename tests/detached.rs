//! Serving (issue 11, item 4): a [`DetachedExecutable`] is sent to other threads and run from
//! many at once, with results equal to a serial run, the values it was detached with, and the
//! same errors as `Executable::run`.

use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::{
    compile, manual_seed, CompileOptions, DType, DetachedExecutable, Device, Error, Executable,
    Graph, HostTensor, Result, Shape, Tensor,
};

const THREADS: usize = 8;
const RUNS_PER_THREAD: usize = 25;

/// A 64-48-10 MLP on a batch of 32: outputs the logits and their row sums.
fn model(g: &Graph) -> Result<(Tensor, Tensor)> {
    manual_seed(7);
    let net = Sequential::new()
        .add(Linear::new(g, "fc1", 64, 48, true)?)
        .add(ReLU)
        .add(Linear::new(g, "fc2", 48, 10, true)?);
    let x = g.input("x", DType::F32, &[32, 64])?;
    let logits = net.forward(&x)?.tanh()?;
    let sums = logits.sum(&[1], false)?;
    Ok((logits, sums))
}

/// A batch that differs per `seed`, in [-1, 1).
fn batch(seed: usize) -> Result<HostTensor> {
    let values: Vec<f64> = (0..32 * 64)
        .map(|i| ((i * 7919 + seed * 104_729) % 2000) as f64 / 1000.0 - 1.0)
        .collect();
    Ok(HostTensor::from_f64(
        DType::F32,
        Shape::new(&[32, 64])?,
        &values,
    )?)
}

fn compiled(device: Device) -> Result<(Graph, Executable)> {
    let g = Graph::new();
    let (logits, sums) = model(&g)?;
    let options = CompileOptions {
        device,
        ..CompileOptions::default()
    };
    let exe = compile(&[&logits, &sums], &options)?;
    Ok((g, exe))
}

#[test]
fn detached_executables_are_send_and_sync() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<DetachedExecutable>();
}

/// Runs `served` from [`THREADS`] threads at once, [`RUNS_PER_THREAD`] times each, alternating
/// `run` and `run_into`, and checks every result against `serial[thread]`.
fn run_concurrently(served: &DetachedExecutable, serial: &[Vec<HostTensor>]) {
    std::thread::scope(|s| {
        for (t, want) in serial.iter().enumerate() {
            s.spawn(move || -> Result<()> {
                let x = batch(t)?;
                let mut kept = want.clone();
                for i in 0..RUNS_PER_THREAD {
                    let got = if i % 2 == 0 {
                        served.run(&[("x", &x)])?
                    } else {
                        served.run_into(&[("x", &x)], &mut kept)?;
                        kept.clone()
                    };
                    for (g, w) in got.iter().zip(want) {
                        assert_eq!(g.to_f64_vec(), w.to_f64_vec(), "thread {t}, run {i}");
                    }
                }
                Ok(())
            });
        }
    });
}

/// The serving case: compile once, run one detached executable from a pool of threads.
#[test]
fn threads_running_one_detached_executable_match_a_serial_run() -> Result<()> {
    let (_g, exe) = compiled(Device::Cpu)?;
    let serial: Vec<Vec<HostTensor>> = (0..THREADS)
        .map(|t| exe.run(&[("x", &batch(t)?)]))
        .collect::<Result<_>>()?;
    let before = kiln::compiled_programs();
    let served = exe.detach()?;
    assert_eq!(
        kiln::compiled_programs(),
        before,
        "detaching must not recompile"
    );
    let start = std::time::Instant::now();
    run_concurrently(&served, &serial);
    eprintln!(
        "{THREADS} threads x {RUNS_PER_THREAD} runs of one detached executable: {:.3} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    // Moved to another thread and back: it is an owned value, not a borrow of the graph.
    let served = std::thread::spawn(move || served).join().expect("no panic");
    assert_eq!(served.run(&[("x", &batch(0)?)])?, serial[0]);
    Ok(())
}

/// The interpreter device detaches too, evaluating a copy of the needed subgraph.
#[test]
fn interpreted_programs_detach_and_run_concurrently() -> Result<()> {
    let (_g, exe) = compiled(Device::Interpreter)?;
    let serial: Vec<Vec<HostTensor>> = (0..THREADS)
        .map(|t| exe.run(&[("x", &batch(t)?)]))
        .collect::<Result<_>>()?;
    run_concurrently(&exe.detach()?, &serial);
    Ok(())
}

/// A detached executable keeps the parameter values and bound inputs of the moment it was
/// detached; the graph's later changes do not reach it.
#[test]
fn detached_values_are_a_snapshot() -> Result<()> {
    for device in [Device::Cpu, Device::Interpreter] {
        let (g, exe) = compiled(device)?;
        g.feed("x", batch(3)?)?;
        let before = exe.run(&[])?;
        let served = exe.detach()?;
        let w = g.parameter_value("fc2.weight")?;
        let doubled = HostTensor::from_f64(
            DType::F32,
            w.shape().clone(),
            &w.to_f64_vec().iter().map(|v| v * 2.0).collect::<Vec<_>>(),
        )?;
        g.set_parameter("fc2.weight", doubled)?;
        g.feed("x", batch(4)?)?;
        assert_ne!(
            exe.run(&[])?,
            before,
            "{device:?}: the graph sees its new values"
        );
        assert_eq!(
            served.run(&[])?,
            before,
            "{device:?}: the detached copy does not"
        );
        // A feed still overrides the bound value.
        assert_eq!(
            served.run(&[("x", &batch(5)?)])?.len(),
            2,
            "{device:?}: two outputs"
        );
    }
    Ok(())
}

/// Bad feeds are the same errors as on the graph's executable.
#[test]
fn detached_errors_match_executable_run() -> Result<()> {
    for device in [Device::Cpu, Device::Interpreter] {
        let (_g, exe) = compiled(device)?;
        let served = exe.detach()?;
        let wrong_shape = HostTensor::from(vec![1.0f32; 64]);
        let wrong_dtype = HostTensor::from_f64(DType::F64, Shape::new(&[32, 64])?, &[0.5; 2048])?;
        for feeds in [vec![], vec![("x", &wrong_shape)], vec![("x", &wrong_dtype)]] {
            let want = exe.run(&feeds).expect_err("a bad feed");
            let got = served.run(&feeds).expect_err("a bad feed");
            assert_eq!(got, want, "{device:?}");
            let mut outs = vec![];
            assert!(served.run_into(&feeds, &mut outs).is_err(), "{device:?}");
        }
        let w = HostTensor::from(vec![0.0f32; 10]);
        match served.run(&[("x", &batch(0)?), ("fc2.bias", &w)]) {
            Err(Error::Api { op: "run", msg }) => assert!(msg.contains("parameter"), "{msg}"),
            other => panic!("{device:?}: expected a parameter-feed error, got {other:?}"),
        }
        // Outputs of the wrong count, dtype or shape.
        let x = batch(0)?;
        let mut too_few = vec![HostTensor::from(vec![0.0f32; 32])];
        assert!(served.run_into(&[("x", &x)], &mut too_few).is_err());
        let mut good = served.run(&[("x", &x)])?;
        good[1] = HostTensor::from(vec![0.0f64; 32]);
        assert!(served.run_into(&[("x", &x)], &mut good).is_err());
    }
    Ok(())
}
