//! Golden CUDA C of the shipped graphs (fused): `cuda_golden/<graph>.cu` holds what
//! `kiln_codegen::cuda::generate` prints for each (kernels and launches, without the shared
//! prelude). A change to the generator shows up here as a text diff; `KILN_BLESS=1 cargo test`
//! rewrites the files.

use kiln_codegen::cuda::generate;
use kiln_ir::kernel::{lower, LowerOptions};
use kiln_ir::Graph;

fn golden_text(name: &str) -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let g =
        Graph::load(format!("{dir}/../examples/graphs/{name}.kir")).expect("shipped graph loads");
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
