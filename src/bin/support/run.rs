//! `dump-ir FILE --run`: compiles the graph with the CPU backend and runs it next to the
//! reference interpreter on the same seeded random inputs, then reports, per output, the
//! largest absolute and relative error and both run times — XLA's `run_hlo_module` as an
//! everyday tool for codegen bugs. Exits non-zero when an error exceeds its dtype's tolerance.

use kiln::random::Generator;
use kiln_codegen::Backend;
use kiln_ir::kernel::LowerOptions;
use kiln_ir::{DType, Graph, HostTensor, Op, TensorData};
use std::collections::HashMap;
use std::time::Instant;

/// How far a backend's value may be from the interpreter's: `|a - b| <= atol * scale + rtol *
/// |b|`, where `scale` is the largest magnitude in the output (at least 1), so that values
/// near zero after cancellation in a long f32 sum are judged against the size of what was
/// summed. Floats allow for the backend's native-precision arithmetic (f32 sums, ≤ 2-ulp
/// vector math) against the interpreter's f64; integers and bools must match exactly, and
/// non-finite values always must (the same infinity, NaN where NaN).
#[derive(Clone, Copy)]
struct Tolerance {
    atol: f64,
    rtol: f64,
}

fn tolerance(d: DType) -> Tolerance {
    let (atol, rtol) = match d {
        DType::F32 => (1e-4, 1e-4),
        DType::F64 => (1e-9, 1e-9),
        DType::Bool | DType::I32 | DType::I64 => (0.0, 0.0),
    };
    Tolerance { atol, rtol }
}

/// Inputs larger than this in all are refused rather than allocated (a graph may declare any
/// valid shape; `--run` needs real memory for it, twice).
const MAX_FEED_BYTES: usize = 4 << 30;

/// Integers fed to `--run` are in `0..bound`, valid indices for every gather and scatter of
/// the graph: `bound` is the smallest size of an indexed axis, and at most 4.
fn index_bound(graph: &Graph) -> usize {
    let mut bound = 4;
    for id in graph.node_ids() {
        let operands = graph.operands(id);
        let (data, axis) = match graph.node(id).map(|n| &n.op) {
            Ok(Op::Gather { axis }) | Ok(Op::ScatterAdd { axis }) => (operands.first(), *axis),
            _ => continue,
        };
        if let Some(n) = data.and_then(|&d| graph.node(d).ok()) {
            if axis < n.shape().rank() {
                bound = bound.min(n.shape().dim(axis));
            }
        }
    }
    bound
}

/// Seeded inputs for every `input` and `param`: floats uniform in [-1, 1), integers in
/// [0, [`index_bound`]) (valid indices for every gather), bools fair coins.
fn random_feeds(graph: &Graph, seed: u64) -> Result<HashMap<String, HostTensor>, String> {
    let mut rng = Generator::new(seed);
    let mut feeds = HashMap::new();
    let bound = index_bound(graph) as f64;
    let mut total_bytes = 0usize;
    for id in graph.node_ids() {
        let node = graph.node(id).map_err(|e| e.to_string())?;
        let name = match &node.op {
            Op::Input { name } | Op::Parameter { name } => name.clone(),
            _ => continue,
        };
        let n = node.shape().numel();
        total_bytes = total_bytes.saturating_add(n.saturating_mul(node.dtype().size_bytes()));
        if total_bytes > MAX_FEED_BYTES {
            return Err(format!(
                "--run: the inputs need more than {} GiB (\"{name}\" is {}); \
                 --run feeds random values to every input and cannot allocate them",
                MAX_FEED_BYTES >> 30,
                node.ty
            ));
        }
        let u: Vec<f64> = rng.rand_f64(n);
        let data = match node.dtype() {
            DType::F32 => TensorData::F32(u.iter().map(|v| (2.0 * v - 1.0) as f32).collect()),
            DType::F64 => TensorData::F64(u.iter().map(|v| 2.0 * v - 1.0).collect()),
            DType::I32 => TensorData::I32(u.iter().map(|v| (v * bound) as i32).collect()),
            DType::I64 => TensorData::I64(u.iter().map(|v| (v * bound) as i64).collect()),
            DType::Bool => TensorData::Bool(u.iter().map(|&v| v < 0.5).collect()),
        };
        let t = HostTensor::new(node.shape().clone(), data).map_err(|e| e.to_string())?;
        feeds.insert(name, t);
    }
    Ok(feeds)
}

/// Largest absolute and relative difference, and whether every element is within tolerance
/// (NaN matches NaN).
fn compare(got: &HostTensor, want: &HostTensor) -> (f64, f64, bool) {
    let tol = tolerance(want.dtype());
    let scale = (0..want.numel())
        .map(|i| want.get_f64(i).abs())
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    let (mut abs, mut rel, mut ok) = (0.0f64, 0.0f64, got.shape() == want.shape());
    for i in 0..want.numel().min(got.numel()) {
        let (a, b) = (got.get_f64(i), want.get_f64(i));
        if a == b || (a.is_nan() && b.is_nan()) {
            continue;
        }
        let d = (a - b).abs();
        abs = abs.max(d);
        rel = rel.max(d / b.abs().max(f64::MIN_POSITIVE));
        // A non-finite value on either side must have matched exactly (above).
        ok &= a.is_finite() && b.is_finite() && d <= tol.atol * scale + tol.rtol * b.abs();
    }
    (abs, rel, ok)
}

/// Runs the comparison; `Ok(report)` when every output is within tolerance, `Err(report)`
/// otherwise (or when compiling or running fails).
pub fn run(graph: &Graph, eager: bool, seed: u64) -> Result<String, String> {
    let outputs = graph.outputs().to_vec();
    if outputs.is_empty() {
        return Err("--run: the graph has no outputs (add a `return` line)".into());
    }
    let feeds = random_feeds(graph, seed)?;
    let started = Instant::now();
    let options = if eager {
        LowerOptions::eager()
    } else {
        LowerOptions::default()
    };
    let program =
        kiln_ir::kernel::lower(graph, &outputs, &options).map_err(|e| format!("lowering: {e}"))?;
    let exe = kiln_codegen::cpu::CpuBackend::default()
        .compile(&program)
        .map_err(|e| format!("compiling: {e}"))?;
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let lookup = |name: &str| feeds.get(name);
    // One warm-up run, then the best of three.
    let mut compiled = exe.run(&lookup).map_err(|e| format!("compiled run: {e}"))?;
    let mut run_ms = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        compiled = exe.run(&lookup).map_err(|e| format!("compiled run: {e}"))?;
        run_ms = run_ms.min(t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    let reference = kiln_ir::interp::evaluate(graph, &outputs, &feeds)
        .map_err(|e| format!("interpreter: {e}"))?;
    let interp_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut report = format!(
        "cpu ({}) vs interpreter, seed {seed}: {} kernels, compiled in {compile_ms:.2} ms\n",
        if eager { "eager" } else { "fused" },
        program.kernels.len()
    );
    let mut all_ok = true;
    for (i, (got, want)) in compiled.iter().zip(&reference).enumerate() {
        let (abs, rel, ok) = compare(got, want);
        all_ok &= ok;
        report.push_str(&format!(
            "output {i} ({}, {}{}): max abs err {abs:.3e}, max rel err {rel:.3e} {}\n",
            outputs[i],
            want.dtype(),
            want.shape(),
            if ok { "ok" } else { "EXCEEDS TOLERANCE" }
        ));
    }
    report.push_str(&format!(
        "run time: compiled {run_ms:.3} ms, interpreter {interp_ms:.3} ms\n"
    ));
    if all_ok {
        Ok(report)
    } else {
        Err(report)
    }
}
