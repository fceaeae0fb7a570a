//! Micro-benchmark of the emitted math functions: ns per element over 16M f32, JIT f32x4 kernels
//! (constants hoisted, and emitted inline for comparison) and the same algorithms as AVX2 routines
//! (`cpu::math::host`, 8 lanes) against a plain Rust loop calling
//! `f32::exp` etc. Not a test: timings are noisy on shared machines (best of 5 runs is shown).
//!
//! `cargo run --release -p kiln-codegen --example math_speed`

use std::time::Instant;

use cranelift_codegen::ir::types;
use kiln_codegen::cpu::kernels::{define_binary_map, define_unary_map};
use kiln_codegen::cpu::math::{emit_pow_with, Consts, UnaryFn};
use kiln_codegen::cpu::Jit;
use kiln_codegen::Result;

type Unary32 = extern "C" fn(i64, *const f32, *mut f32);
type Binary32 = extern "C" fn(i64, *const f32, *const f32, *mut f32);

const N: usize = 1 << 24;

fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn input(f: UnaryFn) -> Vec<f32> {
    let (lo, hi) = match f {
        UnaryFn::Exp => (-80.0, 80.0),
        UnaryFn::Log => (1e-3, 1e6),
        UnaryFn::Sin | UnaryFn::Cos | UnaryFn::Sigmoid => (-10.0, 10.0),
        UnaryFn::Tanh => (-5.0, 5.0),
    };
    (0..N)
        .map(|i| lo + (hi - lo) * ((i as u64 * 2654435761) % N as u64) as f32 / N as f32)
        .collect()
}

fn rust_scalar(f: UnaryFn, x: f32) -> f32 {
    match f {
        UnaryFn::Exp => x.exp(),
        UnaryFn::Log => x.ln(),
        UnaryFn::Sin => x.sin(),
        UnaryFn::Cos => x.cos(),
        UnaryFn::Tanh => x.tanh(),
        UnaryFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
    }
}

fn main() -> Result<()> {
    let mut jit = Jit::new()?;
    println!("{N} f32 elements, best of 5; ns/element (GB/s of input+output)");
    println!(
        "{:8} {:>18} {:>18} {:>18} {:>18} {:>10}",
        "fn", "JIT hoisted", "JIT inline consts", "AVX2 routine", "Rust scalar std", "compile"
    );
    let mut out = vec![0f32; N];
    for f in UnaryFn::ALL {
        let xs = input(f);
        let t0 = Instant::now();
        let hoisted = define_unary_map(
            &mut jit,
            &format!("{}_h", f.name()),
            types::F32,
            2,
            &|b, c, x| f.emit(b, c, x),
        )?;
        jit.finalize()?;
        let compile = t0.elapsed().as_secs_f64();
        let inline = define_unary_map(
            &mut jit,
            &format!("{}_i", f.name()),
            types::F32,
            2,
            &|b, _c, x| f.emit(b, &mut Consts::new(), x),
        )?;
        jit.finalize()?;
        // SAFETY: both kernels are fn(i64, *const f32, *mut f32) (see cpu::kernels).
        let kh: Unary32 = unsafe { std::mem::transmute(jit.function_ptr(hoisted)?) };
        // SAFETY: as above.
        let ki: Unary32 = unsafe { std::mem::transmute(jit.function_ptr(inline)?) };
        let th = best_of(5, || kh(N as i64, xs.as_ptr(), out.as_mut_ptr()));
        let ti = best_of(5, || ki(N as i64, xs.as_ptr(), out.as_mut_ptr()));
        let ta = kiln_codegen::cpu::math::host::map_fn(f).map(|routine| {
            // SAFETY: `map_fn` hands out a routine only on a CPU with AVX2 and FMA; `xs` and
            // `out` are distinct arrays of N elements.
            best_of(5, || unsafe {
                routine(xs.as_ptr(), out.as_mut_ptr(), N as i64)
            })
        });
        let tr = best_of(5, || {
            for (o, &x) in out.iter_mut().zip(&xs) {
                *o = rust_scalar(f, x);
            }
            std::hint::black_box(&out);
        });
        let cell = |t: f64| {
            format!(
                "{:.3} ({:.1})",
                t * 1e9 / N as f64,
                8.0 * N as f64 / t / 1e9
            )
        };
        println!(
            "{:8} {:>18} {:>18} {:>18} {:>18} {:>8.2}ms",
            f.name(),
            cell(th),
            cell(ti),
            ta.map_or("-".into(), cell),
            cell(tr),
            compile * 1e3
        );
    }
    let xs: Vec<f32> = (0..N)
        .map(|i| 4.0 * ((i as u64 * 2654435761) % N as u64) as f32 / N as f32 + 1e-3)
        .collect();
    let ys: Vec<f32> = (0..N)
        .map(|i| -4.0 + 8.0 * ((i as u64 * 40503) % N as u64) as f32 / N as f32)
        .collect();
    let t0 = Instant::now();
    let pow = define_binary_map(&mut jit, "pow", types::F32, 2, &|b, c, x, y| {
        emit_pow_with(b, c, x, y)
    })?;
    jit.finalize()?;
    let compile = t0.elapsed().as_secs_f64();
    // SAFETY: fn(i64, *const f32, *const f32, *mut f32) (see cpu::kernels).
    let kp: Binary32 = unsafe { std::mem::transmute(jit.function_ptr(pow)?) };
    let tp = best_of(5, || {
        kp(N as i64, xs.as_ptr(), ys.as_ptr(), out.as_mut_ptr())
    });
    let tr = best_of(5, || {
        for ((o, &x), &y) in out.iter_mut().zip(&xs).zip(&ys) {
            *o = x.powf(y);
        }
        std::hint::black_box(&out);
    });
    println!(
        "{:8} {:>18} {:>18} {:>18} {:>18} {:>8.2}ms",
        "pow",
        format!("{:.3}", tp * 1e9 / N as f64),
        "-",
        "-",
        format!("{:.3}", tr * 1e9 / N as f64),
        compile * 1e3
    );
    Ok(())
}
