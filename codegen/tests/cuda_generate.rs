//! The CUDA C generator's contract, without running anything: golden text of the shipped
//! graphs (fused) — `cuda_golden/<graph>.cu` holds what `kiln_codegen::cuda::generate` prints
//! for each (launches and kernels, without the shared prelude), so a change to the generator
//! shows up as a text diff and `KILN_BLESS=1 cargo test` rewrites the files — and errors, not
//! panics or out-of-bounds code, for programs it must refuse. Running the generated code is
//! `cuda_host.rs`.

use kiln_codegen::cuda::generate;
use kiln_codegen::CodegenError;
use kiln_ir::kernel::{lower, LowerOptions};
use kiln_ir::{DType, Graph, Op, Shape};

fn shipped(name: &str) -> Graph {
    let dir = env!("CARGO_MANIFEST_DIR");
    Graph::load(format!("{dir}/../examples/graphs/{name}.kir")).expect("shipped graph loads")
}

fn sh(d: &[usize]) -> Shape {
    Shape::new(d).unwrap()
}

fn golden_text(name: &str) -> String {
    let g = shipped(name);
    let p = lower(&g, g.outputs(), &LowerOptions::default()).expect("lowers");
    let c = generate(&p).expect("generates");
    let mut s = format!(
        "// Generated from examples/graphs/{name}.kir (fused); KILN_BLESS=1 rewrites.\n// Launches, in order:\n"
    );
    for l in &c.launches {
        s.push_str(&format!(
            "//   {} items={} args={:?}{}\n",
            l.function,
            l.items,
            l.args,
            if l.gemm_product {
                " (gemm product)"
            } else {
                ""
            }
        ));
    }
    s.push_str(&format!("// scratch_bytes={}\n", c.scratch_bytes));
    s.push_str(&c.kernels);
    s
}

#[test]
fn cuda_golden_text_of_shipped_graphs() {
    let dir = format!("{}/tests/cuda_golden", env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var("KILN_BLESS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in ["elementwise_chain", "softmax", "layernorm", "mlp_forward"] {
        let text = golden_text(name);
        let path = format!("{dir}/{name}.cu");
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "golden CUDA C differs (KILN_BLESS=1 to accept): {stale:?}"
    );
}

/// The generator's contract: a program that fails verification is an `Err`, not a panic;
/// one `extern "C" __global__` function per launch.
#[test]
fn cuda_generate_verifies_and_names_every_launch() {
    let g = shipped("mlp_train_step");
    let mut p = lower(&g, g.outputs(), &LowerOptions::default()).unwrap();
    let c = generate(&p).unwrap();
    let functions = c.source.matches("extern \"C\" __global__ void ").count();
    assert_eq!(functions, c.launches.len());
    assert!(c
        .launches
        .iter()
        .all(|l| c.source.contains(&format!(" {}(", l.function))));
    assert!(c.launches.iter().any(|l| l.gemm_product));
    // Break the program: a kernel writing an input buffer.
    let input = p.inputs[0].1;
    *p.kernels[0].out_mut() = input;
    assert!(matches!(generate(&p), Err(CodegenError::Ir(_))));
}

/// A gather whose index space is wider than its source along a non-indexed axis would read
/// outside the source; the generator refuses it with an error rather than emit the read
/// (whether `Program::verify` or the emitter's own check catches it).
#[test]
fn cuda_generate_refuses_a_gather_wider_than_its_source() {
    use kiln_ir::kernel::{Body, Inst, InstKind, KernelKind, Val};
    let mut g = Graph::new();
    let src = g.input("src", DType::F32, sh(&[5, 3])).unwrap();
    let idx = g.input("idx", DType::I64, sh(&[4, 3])).unwrap();
    let ga = g.add(Op::Gather { axis: 0 }, &[src, idx], None).unwrap();
    let mut p = lower(&g, &[ga], &LowerOptions::eager()).unwrap();
    let out = p.kernels[0].out();
    let KernelKind::Gather { shape, index, .. } = &mut p.kernels[0].kind else {
        panic!("not a gather:\n{p}");
    };
    *shape = sh(&[4, 4]);
    *index = Body {
        insts: vec![Inst {
            dtype: DType::I64,
            kind: InstKind::Const(0.0),
        }],
        result: Val(0),
    };
    p.buffers[out.index()].shape = sh(&[4, 4]);
    match generate(&p) {
        Err(CodegenError::Unsupported { backend, what }) => {
            assert_eq!(backend, "cuda");
            eprintln!("refused by the emitter: {what}");
        }
        Err(CodegenError::Ir(e)) => eprintln!("refused by verify: {e}"),
        other => panic!("expected an error, got {other:?}"),
    }
}
