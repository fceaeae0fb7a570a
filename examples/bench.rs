//! The quick benchmark runner (issue 6): every workload of `benches/common/workloads.rs`, timed
//! on the best device this kiln can name, next to the machine's limits measured in the same run.
//!
//! ```sh
//! cargo run --release --example bench -- --quick            # whole suite, about 2 minutes
//! cargo run --release --example bench -- --only W2 --only W4
//! cargo run --release --example bench -- --quick --json-only > kiln.jsonl
//! ```
//!
//! Output: one JSON object per line, first the machine's limits (`"name": "machine limits"`),
//! then one per workload (`{"name": "W0 ...", "device": ..., "fused_ms": ..., "eager_ms": ...,
//! "limit_ms": ..., "reuse_ms": ..., "compile_ms": ...}`; fields that do not apply are left
//! out, and `eager_ms` is `"n/a"` while kiln has no eager option; `reuse_ms` is W0-W4 run with
//! `Executable::run_into` over the previous outputs), then a readable table (not with
//! `--json-only`).
//! Progress and notes go to stderr.
//!
//! Each workload runs in a child process (this binary with `--child KEY`): a slow device (the
//! interpreter on a 2048³ GEMM) is killed at the time limit instead of stalling the suite, and
//! one workload's memory never counts against the next.

#[path = "../benches/common/mod.rs"]
mod common;

use common::workloads::{self, Floor, Spec};
use common::{limits, DeviceChoice, Timing};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: bench [--quick] [--json-only] [--only W<n>]... [--timeout SECONDS]
  --quick       warm-up, then the median of at most 5 runs within 3 s per workload
  --json-only   print only the JSON lines
  --only W2     run only workloads whose key or name starts with W2 (repeatable, or W2,W4)
  --timeout S   kill a workload's process after S seconds (default 15 quick, 600 otherwise)";

/// Prefix of the lines a child prints for its parent: `kiln-bench KEY VALUE`.
const TAG: &str = "kiln-bench";

#[derive(Debug, Default)]
struct Args {
    quick: bool,
    json_only: bool,
    only: Vec<String>,
    timeout_s: Option<f64>,
    /// Internal: run one workload and report to the parent.
    child: Option<String>,
    /// Internal (with `--child`): fusion off.
    eager: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--quick" => args.quick = true,
            "--json-only" => args.json_only = true,
            "--only" => {
                let v = value("--only")?;
                args.only.extend(
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.to_uppercase()),
                );
            }
            "--timeout" => {
                let v = value("--timeout")?;
                let t: f64 = v.parse().map_err(|_| format!("bad --timeout {v}"))?;
                args.timeout_s = Some(t);
            }
            "--child" => args.child = Some(value("--child")?),
            "--eager" => args.eager = true,
            "--bench" => {} // passed by `cargo bench` to every target
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let timing = if args.quick {
        Timing::QUICK
    } else {
        Timing::FULL
    };
    match &args.child {
        Some(key) => child(key, args.eager, timing),
        None => parent(&args),
    }
}

// ---- The child: one workload, on the first device that runs it ----

fn report(key: &str, value: impl std::fmt::Display) {
    println!("{TAG} {key} {value}");
}

fn child(key: &str, eager: bool, timing: Timing) -> ExitCode {
    for choice in common::devices() {
        if eager && !choice.has_eager {
            continue;
        }
        // Reported before running, so that a parent that kills a slow run still knows which
        // device it was; a later device that takes over reports itself again.
        report("device", choice.label);
        match run_on(key, &choice, eager, timing) {
            Ok(()) => return ExitCode::SUCCESS,
            // Fall through to the next device, and say why.
            Err(e) => report("note", format!("{} failed: {e}", choice.label)),
        }
    }
    report("note", "no device ran this workload");
    ExitCode::FAILURE
}

fn run_on(key: &str, choice: &DeviceChoice, eager: bool, timing: Timing) -> kiln::Result<()> {
    let configure = |g: &kiln::Graph| common::configure(g, choice, eager);
    if key.starts_with("W7") {
        if choice.compiles {
            let (cold, warm) = workloads::compile_latency(&configure, timing.reps)?;
            report("compile_ms", if key == "W7a" { cold } else { warm });
            report(
                "note",
                "compile_ms = first step minus the median steady step",
            );
        } else {
            // The interpreter compiles nothing; what exists of the compile pipeline today is
            // lowering, so report that instead of a compile time.
            let (fused, eager) = workloads::lower_w5()?;
            report("lower_ms", fused);
            report("lower_eager_ms", eager);
            report(
                "note",
                format!(
                    "{} compiles nothing: no compile_ms; lower_ms = optimize + fuse + plan of W5's program{}",
                    choice.label,
                    if key == "W7b" { " (no cache: same as cold)" } else { "" }
                ),
            );
        }
        return Ok(());
    }
    let job = workloads::prepare(key, &configure)?;
    let m = common::measure(timing, || job.run())?;
    report("ms", m.ms);
    report("reps", m.reps);
    if let workloads::Job::Eval {
        graph,
        outputs,
        feeds,
    } = &job
    {
        // The same program writing into the outputs of the previous run (`run_into`, PyTorch's
        // `out=`): what the kernels cost without a fresh output allocation per call.
        let outs: Vec<&kiln::Tensor> = outputs.iter().collect();
        let exe = kiln::compile(&outs, &graph.compile_options())?;
        let feeds = workloads::refs(feeds);
        let mut kept = exe.run(&feeds)?;
        let m = common::measure(timing, || exe.run_into(&feeds, &mut kept))?;
        report("reuse_ms", m.ms);
    }
    if key == "W6" {
        report("per_step_us", m.ms * 1e3 / workloads::TINY_STEPS as f64);
    }
    Ok(())
}

// ---- The parent: limits, one child per workload, JSON lines and the table ----

/// What a child reported (`KEY VALUE` pairs; notes accumulate).
#[derive(Debug, Default)]
struct ChildReport {
    values: BTreeMap<String, String>,
    notes: Vec<String>,
}

impl ChildReport {
    fn num(&self, key: &str) -> Option<f64> {
        self.values.get(key).and_then(|v| v.parse().ok())
    }
}

fn run_child(key: &str, eager: bool, quick: bool, timeout: Duration) -> ChildReport {
    let mut rep = ChildReport::default();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            rep.notes.push(format!("cannot find this executable: {e}"));
            return rep;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args(["--child", key]);
    if eager {
        cmd.arg("--eager");
    }
    if quick {
        cmd.arg("--quick");
    }
    let mut proc = match cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn() {
        Ok(p) => p,
        Err(e) => {
            rep.notes
                .push(format!("cannot start the child process: {e}"));
            return rep;
        }
    };
    // Drain stdout on a thread so a chatty child can never block on a full pipe.
    let mut stdout = proc.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match proc.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                // Our own child, by handle: kill it and reap it.
                let _ = proc.kill();
                let _ = proc.wait();
                rep.notes.push(format!(
                    "timed out after {:.0} s (killed)",
                    timeout.as_secs_f64()
                ));
                rep.values
                    .insert("timeout_s".into(), timeout.as_secs().to_string());
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                rep.notes.push(format!("waiting for the child failed: {e}"));
                break None;
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(TAG).map(str::trim_start) else {
            continue;
        };
        let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
        if k == "note" {
            rep.notes.push(v.to_string());
        } else {
            rep.values.insert(k.to_string(), v.to_string());
        }
    }
    if let Some(s) = status {
        if !s.success() && rep.notes.is_empty() {
            rep.notes.push(format!("child exited with {s}"));
        }
    }
    rep
}

/// A JSON value of the output lines.
enum J {
    Num(f64),
    Int(u64),
    Str(String),
}

fn json_line(fields: &[(&str, J)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                J::Num(x) if x.is_finite() => format!("{}", round_sig(*x)),
                J::Num(_) => "null".into(),
                J::Int(i) => i.to_string(),
                J::Str(s) => json_str(s),
            };
            format!("{}: {v}", json_str(k))
        })
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// Four significant digits: more is noise on this machine.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let digits = 4 - 1 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits.clamp(-300, 300));
    (x * scale).round() / scale
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One table row.
struct Row {
    name: String,
    device: String,
    fused: String,
    eager: String,
    limit: String,
    ratio: String,
    extra: String,
}

fn fmt_ms(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{}", round_sig(v)),
        _ => "-".into(),
    }
}

fn selected(spec: &Spec, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|f| {
            spec.key.to_uppercase().starts_with(f) || spec.name.to_uppercase().starts_with(f)
        })
}

fn parent(args: &Args) -> ExitCode {
    let specs: Vec<Spec> = workloads::all()
        .into_iter()
        .filter(|s| selected(s, &args.only))
        .collect();
    if specs.is_empty() {
        eprintln!("bench: no workload matches --only {:?}", args.only);
        return ExitCode::from(2);
    }
    let timeout = Duration::from_secs_f64(
        args.timeout_s
            .unwrap_or(if args.quick { 15.0 } else { 600.0 })
            .max(1.0),
    );
    let devices = common::devices();
    let labels: Vec<&str> = devices.iter().map(|d| d.label).collect();
    eprintln!("bench: devices this kiln can name, best first: {labels:?}");
    if !common::has_compiled_device() {
        eprintln!(
            "bench: NOTE no compiled CPU backend in this kiln (kiln::Device has no Cpu variant): \
             every time below is the reference INTERPRETER's; eager (fusion off) is n/a"
        );
    }
    let started = Instant::now();
    // The machine is shared: a busy one gives low limits and slow workloads alike, so the load
    // is recorded next to the limits and a warning printed.
    let load = load_average();
    if let Some(l) = load.filter(|&l| l > 0.5 * limits::threads() as f64) {
        eprintln!(
            "bench: WARNING load average {l:.2} on {} threads: the machine is busy, every \
             number below is pessimistic",
            limits::threads()
        );
    }
    eprintln!("bench: measuring the machine's limits ...");
    let lim = limits::measure(if args.quick { 3 } else { 7 }, &[1024, 2048]);
    println!(
        "{}",
        json_line(&[
            ("name", J::Str("machine limits".into())),
            ("copy_gbs", J::Num(lim.copy_gbs)),
            ("copy_gbs_1t", J::Num(lim.copy_gbs_1t)),
            ("axpb_gbs", J::Num(lim.axpb_gbs)),
            ("axpb_gbs_1t", J::Num(lim.axpb_gbs_1t)),
            ("axpb_impl", J::Str(lim.axpb_impl.into())),
            ("gemm_gflops", J::Num(lim.gemm_gflops)),
            ("gemm_impl", J::Str("matrixmultiply 0.3.11".into())),
            ("threads", J::Int(lim.threads as u64)),
            ("loadavg", load.map_or(J::Str("unknown".into()), J::Num)),
        ])
    );
    let any_eager = devices.iter().any(|d| d.has_eager);
    let mut rows = Vec::new();
    for spec in &specs {
        eprintln!("bench: {} ...", spec.name);
        let fused = run_child(spec.key, false, args.quick, timeout);
        let is_w7 = spec.key.starts_with("W7");
        let eager = (any_eager && !is_w7).then(|| run_child(spec.key, true, args.quick, timeout));
        let limit_ms = match spec.floor {
            Floor::Bytes(b) => Some(lim.bytes_ms(b)),
            Floor::Flops { flops, bytes } => Some(lim.flops_ms(flops) + lim.bytes_ms(bytes)),
            Floor::None => None,
        };
        let device = fused
            .values
            .get("device")
            .cloned()
            .unwrap_or_else(|| "none".into());
        let mut fields = vec![
            ("name", J::Str(spec.name.into())),
            ("device", J::Str(device.clone())),
        ];
        let fused_ms = fused.num("ms");
        if let Some(ms) = fused_ms {
            fields.push(("fused_ms", J::Num(ms)));
        }
        let eager_ms = eager.as_ref().and_then(|e| e.num("ms"));
        if !is_w7 {
            fields.push(("eager_ms", eager_ms.map_or(J::Str("n/a".into()), J::Num)));
        }
        if let Some(l) = limit_ms {
            fields.push(("limit_ms", J::Num(l)));
        }
        for key in [
            "reuse_ms",
            "compile_ms",
            "lower_ms",
            "lower_eager_ms",
            "per_step_us",
        ] {
            if let Some(v) = fused.num(key) {
                fields.push((key, J::Num(v)));
            }
        }
        if let Some(r) = fused.values.get("reps").and_then(|r| r.parse().ok()) {
            fields.push(("reps", J::Int(r)));
        }
        if let Some(t) = fused.values.get("timeout_s").and_then(|r| r.parse().ok()) {
            fields.push(("timeout_s", J::Int(t)));
        }
        let mut notes = fused.notes.clone();
        if let Some(e) = &eager {
            notes.extend(e.notes.iter().map(|n| format!("eager: {n}")));
        }
        if !notes.is_empty() {
            fields.push(("note", J::Str(notes.join("; "))));
        }
        println!("{}", json_line(&fields));
        let extra = [
            "reuse_ms",
            "compile_ms",
            "lower_ms",
            "lower_eager_ms",
            "per_step_us",
        ]
        .iter()
        .filter_map(|k| fused.num(k).map(|v| format!("{k}={}", round_sig(v))))
        .chain(fused.values.get("reps").map(|r| format!("reps={r}")))
        .chain(notes.iter().filter(|n| n.contains("timed out")).cloned())
        .collect::<Vec<_>>()
        .join(" ");
        rows.push(Row {
            name: spec.name.into(),
            device,
            fused: match (fused_ms, fused.num("timeout_s")) {
                (None, Some(t)) => format!(">{}", t * 1e3),
                (f, _) => fmt_ms(f),
            },
            eager: if is_w7 {
                "-".into()
            } else {
                eager_ms.map_or("n/a".into(), |v| fmt_ms(Some(v)))
            },
            limit: fmt_ms(limit_ms),
            ratio: match (fused_ms, limit_ms) {
                (Some(f), Some(l)) if l > 0.0 => format!("{:.1}x", f / l),
                _ => "-".into(),
            },
            extra,
        });
    }
    if !args.json_only {
        print_table(&rows, &lim);
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

/// The 1-minute load average (Linux), if readable.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn print_table(rows: &[Row], lim: &limits::Limits) {
    println!();
    println!(
        "machine: copy {:.1} GB/s ({:.1} on 1 thread), y = a*x + b ({}) {:.1} GB/s ({:.1} on 1 \
         thread), GEMM {:.0} GFLOP/s (matrixmultiply, {} threads)",
        lim.copy_gbs,
        lim.copy_gbs_1t,
        lim.axpb_impl,
        lim.axpb_gbs,
        lim.axpb_gbs_1t,
        lim.gemm_gflops,
        lim.threads
    );
    let header = [
        "workload", "device", "fused ms", "eager ms", "limit ms", "/limit", "notes",
    ];
    let cells: Vec<[&str; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.as_str(),
                r.device.as_str(),
                r.fused.as_str(),
                r.eager.as_str(),
                r.limit.as_str(),
                r.ratio.as_str(),
                r.extra.as_str(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[&str; 7]| {
        let parts: Vec<String> = row
            .iter()
            .zip(width)
            .enumerate()
            .map(|(i, (c, w))| {
                // Names and notes left-aligned, numbers right-aligned.
                if i < 2 || i == 6 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&header);
    line(&width.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &cells {
        line(row);
    }
}
