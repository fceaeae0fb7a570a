//! Runs kiln's generated CUDA C on the host: many programs per translation unit (each in its
//! own namespace behind one prelude), compiled once with the host C++ compiler under
//! `host.h`, then one process runs every program on its feeds and writes the buffers back.
//!
//! Memory is laid out like the CUDA runtime will: inputs, parameters, constants and outputs in
//! allocations of their exact size, temporaries in one arena at the memory plan's offsets, a
//! scratch buffer for gemm products and one error word per launch. Launches use small grids
//! (at most 3 blocks of 5 or 32 threads) so that the grid-stride loops wrap many times.
//! The compiler flags keep IEEE semantics (`-ffp-contract=off`, no fast math), like the
//! NVRTC flags the backend will use. Unless `KILN_CUDA_HOST_SANITIZE=0` (or the compiler cannot
//! link them), programs are built with the address and undefined-behaviour sanitizers and every
//! temporary is allocated on its own, so that any access outside a buffer, and any signed
//! overflow in the generated code, aborts the run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use kiln_codegen::cuda::{generate, Arg, CudaProgram, PRELUDE};
use kiln_ir::kernel::{BufferKind, Program};
use kiln_ir::{DType, HostTensor};

const HOST_H: &str = include_str!("host.h");

/// What a program's run produced.
#[derive(Debug)]
pub enum Outcome {
    /// Outputs in order, then the updated parameters in [`Program::updates`] order.
    Done(Vec<HostTensor>, Vec<HostTensor>),
    /// A launch reported an out-of-range index: the kernel and the error code (1 + position).
    IndexError { kernel: usize, code: u64 },
}

/// The host C++ compiler, or `None` (the tests then print that they are skipped).
pub fn compiler() -> Option<String> {
    let candidates = std::env::var("CXX")
        .into_iter()
        .chain(["c++".into(), "g++".into()]);
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Prints the skip message and returns true when no compiler is there.
pub fn skip(test: &str) -> bool {
    if compiler().is_none() {
        eprintln!("SKIPPED {test}: no host C++ compiler (c++/g++ or $CXX) to run the CUDA C check");
        return true;
    }
    false
}

fn scratch_dir() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kiln-cuda-host-{}-{n}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn encode(t: &HostTensor, out: &mut Vec<u8>) {
    for i in 0..t.numel() {
        let v = t.get_f64(i);
        match t.dtype() {
            DType::Bool => out.push(u8::from(v != 0.0)),
            DType::I32 => out.extend((v as i32).to_le_bytes()),
            DType::I64 => out.extend((v as i64).to_le_bytes()),
            DType::F32 => out.extend((v as f32).to_le_bytes()),
            DType::F64 => out.extend(v.to_le_bytes()),
        }
    }
}

fn decode(d: DType, shape: &kiln_ir::Shape, bytes: &[u8]) -> Result<HostTensor, String> {
    let size = d.size_bytes();
    let values: Vec<f64> = bytes
        .chunks_exact(size)
        .map(|b| match d {
            DType::Bool => f64::from(u8::from(b[0] != 0)),
            DType::I32 => f64::from(i32::from_le_bytes(b.try_into().unwrap())),
            DType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f64,
            DType::F32 => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
            DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
        })
        .collect();
    HostTensor::from_f64(d, shape.clone(), &values).map_err(|e| e.to_string())
}

/// The feed bytes of a program's stored buffers, in buffer order.
fn input_bytes(p: &Program, feeds: &HashMap<String, HostTensor>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for d in &p.buffers {
        let t = match &d.kind {
            BufferKind::Input(name) | BufferKind::Param(name) => feeds
                .get(name)
                .ok_or_else(|| format!("missing feed {name}"))?,
            BufferKind::Const(t) => t,
            BufferKind::Temp | BufferKind::Output(_) => continue,
        };
        if t.dtype() != d.dtype || t.numel() != d.numel() {
            return Err(format!("feed of the wrong type for {:?}", d.kind));
        }
        encode(t, &mut bytes);
    }
    Ok(bytes)
}

/// The driver function `p<i>::run` of one program.
fn driver(p: &Program, c: &CudaProgram) -> Result<String, String> {
    let mut s = String::new();
    s.push_str("static int run(FILE* in, FILE* out) {\n");
    let _ = writeln!(
        s,
        "    unsigned char* arena = (unsigned char*)calloc({}, 1);",
        p.plan.peak_bytes + 1
    );
    for (i, d) in p.buffers.iter().enumerate() {
        let t = ctype(d.dtype);
        let bytes = d.bytes();
        match &d.kind {
            // Under the sanitizers every temporary gets an allocation of its own, so that an
            // access past it is caught too (the evaluator already checks the plan's sharing).
            BufferKind::Temp if sanitize() => {
                let _ = writeln!(s, "    {t}* b{i} = ({t}*)calloc({}, 1);", bytes.max(1));
            }
            BufferKind::Temp => {
                let off = p
                    .plan
                    .offsets
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or_else(|| format!("b{i} has no arena offset"))?;
                let _ = writeln!(s, "    {t}* b{i} = ({t}*)(arena + {off});");
            }
            BufferKind::Output(_) => {
                let _ = writeln!(s, "    {t}* b{i} = ({t}*)calloc({}, 1);", bytes.max(1));
            }
            BufferKind::Input(_) | BufferKind::Param(_) | BufferKind::Const(_) => {
                let _ = writeln!(s, "    {t}* b{i} = ({t}*)kiln_read(in, {bytes});");
            }
        }
    }
    let _ = writeln!(s, "    void* scratch = calloc({}, 1);", c.scratch_bytes + 8);
    let _ = writeln!(
        s,
        "    unsigned long long err[{}] = {{0}};",
        c.launches.len() + 1
    );
    for (l, launch) in c.launches.iter().enumerate() {
        if launch.items == 0 {
            continue;
        }
        let block = if l % 2 == 0 { 32 } else { 5 };
        let grid = launch.items.div_ceil(block).min(3);
        let args: Vec<String> = launch
            .args
            .iter()
            .map(|a| match a {
                Arg::Buffer(b) => format!("b{}", b.0),
                Arg::Scratch => {
                    // The function's parameter type says which dtype the scratch holds.
                    "kiln_scratch(scratch)".to_string()
                }
                Arg::Error => format!("&err[{l}]"),
            })
            .collect();
        let _ = writeln!(
            s,
            "    KILN_LAUNCH({grid}, {block}, {}({}));",
            launch.function,
            args.join(", ")
        );
        let _ = writeln!(
            s,
            "    if (err[{l}]) {{ unsigned long long h[2] = {{{}ull, err[{l}]}}; kiln_write(out, h, 16); return 0; }}",
            launch.kernel + 1
        );
    }
    s.push_str("    unsigned long long h[2] = {0ull, 0ull};\n    kiln_write(out, h, 16);\n");
    for &b in p.outputs.iter().chain(p.updates.iter().map(|(_, b)| b)) {
        let _ = writeln!(s, "    kiln_write(out, b{}, {});", b.0, p.buffer(b).bytes());
    }
    s.push_str("    return 0;\n}\n");
    Ok(s)
}

fn ctype(d: DType) -> &'static str {
    match d {
        DType::Bool => "unsigned char",
        DType::I32 => "int",
        DType::I64 => "long long",
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

/// Totals over every batch a test ran, for its summary line.
#[derive(Default, Debug)]
pub struct Stats {
    pub programs: usize,
    pub kernels: usize,
    pub launches: usize,
    pub compiles: usize,
}

/// Generates, compiles and runs `cases`; per case the outcome, or why it could not run.
/// An error of the whole batch (the C++ compiler rejecting the text, a crash) is `Err`.
pub fn run_batch(
    cases: &[(&Program, &HashMap<String, HostTensor>)],
    stats: &mut Stats,
) -> Result<Vec<Result<Outcome, String>>, String> {
    let cxx = compiler().ok_or("no C++ compiler")?;
    let dir = scratch_dir();
    let mut src = String::from(HOST_H);
    src.push_str("template <typename T> struct kiln_any { void* p; template <typename U> operator U*() const { return (U*)p; } };\n");
    src.push_str(
        "static inline kiln_any<void> kiln_scratch(void* p) { return kiln_any<void>{p}; }\n",
    );
    src.push_str(PRELUDE);
    let mut ready: Vec<Result<usize, String>> = Vec::new();
    let mut runs = Vec::new();
    for (i, (p, feeds)) in cases.iter().enumerate() {
        let prepared = generate(p)
            .map_err(|e| format!("generate: {e}"))
            .and_then(|c| Ok((driver(p, &c)?, input_bytes(p, feeds)?, c)));
        match prepared {
            Ok((drv, input, c)) => {
                dump(&c);
                let kernels = c.kernels.replace("extern \"C\" ", "");
                let _ = write!(src, "namespace p{i} {{\n{kernels}\n{drv}}}\n");
                let inp = dir.join(format!("in{i}.bin"));
                std::fs::write(&inp, input).map_err(|e| e.to_string())?;
                runs.push((i, inp, dir.join(format!("out{i}.bin"))));
                stats.programs += 1;
                stats.kernels += p.kernels.len();
                stats.launches += c.launches.len();
                ready.push(Ok(i));
            }
            Err(e) => ready.push(Err(e)),
        }
    }
    src.push_str("typedef int (*kiln_run_fn)(FILE*, FILE*);\nstatic kiln_run_fn programs[] = {");
    let mut table = vec!["0".to_string(); cases.len()];
    for (i, _, _) in &runs {
        table[*i] = format!("p{i}::run");
    }
    src.push_str(&table.join(", "));
    if cases.is_empty() {
        src.push('0');
    }
    src.push_str(
        "};\nint main(int argc, char** argv) {\n    for (int a = 1; a + 2 < argc; a += 3) {\n        FILE* in = fopen(argv[a + 1], \"rb\");\n        FILE* out = fopen(argv[a + 2], \"wb\");\n        if (!in || !out) return 2;\n        programs[atoi(argv[a])](in, out);\n        fclose(in);\n        fclose(out);\n    }\n    return 0;\n}\n",
    );
    let cpp = dir.join("programs.cpp");
    let exe = dir.join("programs");
    std::fs::write(&cpp, &src).map_err(|e| e.to_string())?;
    compile(&cxx, &cpp, &exe)?;
    stats.compiles += 1;
    let mut cmd = Command::new(&exe);
    // The drivers never free their buffers (the process ends): not a finding.
    cmd.env("ASAN_OPTIONS", "detect_leaks=0");
    for (i, inp, out) in &runs {
        cmd.arg(i.to_string()).arg(inp).arg(out);
    }
    let o = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let head: Vec<&str> = err.lines().take(40).collect();
        return Err(format!(
            "host run failed ({}): {}\n(source kept in {})",
            o.status,
            head.join("\n"),
            cpp.display()
        ));
    }
    let mut results = Vec::new();
    for (r, (p, _)) in ready.into_iter().zip(cases) {
        results.push(r.and_then(|i| read_outcome(p, &dir.join(format!("out{i}.bin")))));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(results)
}

/// With `KILN_CUDA_DUMP_DIR` set, writes each generated program's full CUDA C there (named by
/// a hash of the text), for `nvrtc_check.py` to compile with the real NVRTC.
fn dump(c: &CudaProgram) {
    let Ok(dir) = std::env::var("KILN_CUDA_DUMP_DIR") else {
        return;
    };
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.source.hash(&mut h);
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(format!("{dir}/{:016x}.cu", h.finish()), &c.source);
}

/// Whether programs are built with the address and undefined-behaviour sanitizers: by default
/// when the compiler can link them (probed once; a message says when it cannot), never with
/// `KILN_CUDA_HOST_SANITIZE=0`.
pub fn sanitize() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        if std::env::var("KILN_CUDA_HOST_SANITIZE").is_ok_and(|v| v == "0") {
            return false;
        }
        let Some(cxx) = compiler() else {
            return false;
        };
        let dir = scratch_dir();
        let src = dir.join("probe.cpp");
        let ok = std::fs::write(&src, "int main() { return 0; }\n").is_ok()
            && Command::new(&cxx)
                .args(["-fsanitize=address,undefined", "-o"])
                .arg(dir.join("probe"))
                .arg(&src)
                .output()
                .is_ok_and(|o| o.status.success());
        let _ = std::fs::remove_dir_all(&dir);
        if !ok {
            eprintln!("note: {cxx} cannot link -fsanitize=address,undefined; host runs without sanitizers");
        }
        ok
    })
}

fn compile(cxx: &str, cpp: &Path, exe: &Path) -> Result<(), String> {
    let mut cmd = Command::new(cxx);
    cmd.args([
        "-std=c++17",
        "-O1",
        "-w",
        "-ffp-contract=off",
        "-fno-fast-math",
    ]);
    if sanitize() {
        cmd.args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]);
    }
    cmd.arg("-o").arg(exe).arg(cpp).arg("-lm");
    let o = cmd.output().map_err(|e| format!("{cxx}: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let head: Vec<&str> = err.lines().take(30).collect();
        return Err(format!(
            "the host C++ compiler rejected the generated CUDA C (kept in {}):\n{}",
            cpp.display(),
            head.join("\n")
        ));
    }
    Ok(())
}

fn read_outcome(p: &Program, path: &Path) -> Result<Outcome, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 16 {
        return Err("truncated output".into());
    }
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    if word(0) != 0 {
        return Ok(Outcome::IndexError {
            kernel: word(0) as usize - 1,
            code: word(1),
        });
    }
    let mut at = 16;
    let mut take = |b: kiln_ir::kernel::BufferId| -> Result<HostTensor, String> {
        let d = p.buffer(b);
        let end = at + d.bytes();
        let t = decode(
            d.dtype,
            &d.shape,
            bytes.get(at..end).ok_or("truncated output")?,
        )?;
        at = end;
        Ok(t)
    };
    let outputs = p
        .outputs
        .iter()
        .map(|&b| take(b))
        .collect::<Result<Vec<_>, _>>()?;
    let updates = p
        .updates
        .iter()
        .map(|(_, b)| take(*b))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Outcome::Done(outputs, updates))
}
