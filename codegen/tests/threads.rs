//! Threads are a process resource: compiling and running many executables — as a loop that
//! rebuilds its expression does — must not start threads per compilation or per run.
//!
//! This file holds one test on purpose: the test harness runs each test on a thread of its
//! own, so a second test would change the process's thread count while this one counts.

use kiln_codegen::cpu::threads::configured_threads;
use kiln_codegen::cpu::CpuBackend;
use kiln_codegen::Backend;
use kiln_ir::kernel::{lower, LowerOptions};
use kiln_ir::{DType, HostTensor, Shape};
use std::collections::HashMap;

/// The process's thread count, from `/proc/self/status` (Linux), if it can be read.
fn process_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A graph with a large elementwise loop (split across threads), a row reduction and a GEMM
/// big enough for the blocked, threaded product; `scale` makes every program distinct.
fn program_text(scale: usize) -> String {
    format!(
        "%0 = input \"x\" : f32[256,512]\n\
         %1 = const {scale}.0 : f32[]\n\
         %2 = reshape %1 : f32[1,1]\n\
         %3 = expand %2 : f32[256,512]\n\
         %4 = mul %0, %3 : f32[256,512]\n\
         %5 = exp %4 : f32[256,512]\n\
         %6 = input \"w\" : f32[512,256]\n\
         %7 = matmul %5, %6 : f32[256,256]\n\
         %8 = reduce.sum %7 axes=[1] : f32[256,1]\n\
         return %8\n"
    )
}

#[test]
fn many_executables_share_one_set_of_threads() {
    assert!(configured_threads() >= 1);
    let feeds: HashMap<String, HostTensor> = [
        (
            "x",
            HostTensor::full(DType::F32, Shape::new(&[256, 512]).unwrap(), 0.001),
        ),
        (
            "w",
            HostTensor::full(DType::F32, Shape::new(&[512, 256]).unwrap(), 0.5),
        ),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    let run_one = |scale: usize| {
        let g = kiln_ir::text::parse(&program_text(scale)).expect("parses");
        let p = lower(&g, g.outputs(), &LowerOptions::default()).expect("lowers");
        let exe = CpuBackend { threads: 2 }.compile(&p).expect("compiles");
        let out = exe.run(&|n: &str| feeds.get(n)).expect("runs");
        assert_eq!(out[0].dims(), &[256, 1]);
        exe
    };
    // The first executable starts the process's pools (loop workers, GEMM helpers).
    let warm = run_one(1);
    let Some(before) = process_threads() else {
        eprintln!("no /proc/self/status here: thread count not checked");
        return;
    };
    let mut kept = vec![warm];
    for scale in 2..40 {
        kept.push(run_one(scale));
    }
    let after = process_threads().expect("readable once");
    assert_eq!(
        before, after,
        "39 more executables (kept alive) changed the thread count from {before} to {after}"
    );
    // Running the kept executables again starts nothing either.
    for exe in &mut kept {
        exe.run(&|n: &str| feeds.get(n)).expect("runs again");
    }
    assert_eq!(process_threads(), Some(before));
}
