//! Rust functions that JIT-compiled loop kernels call: the Philox generators of
//! [`kiln_ir::philox`].
//!
//! Kernels call them through `call_indirect` on the function's absolute address (the code lives
//! in this process), so no symbol has to be registered with the JIT module. Each function has
//! the C ABI and the signature the emitter declares, `(i64 seed, i64 index) -> f32`.

use kiln_ir::philox::{philox_normal, philox_uniform};

/// Element `index` of the uniform `[0, 1)` stream `seed` ([`philox_uniform`]).
pub extern "C" fn kiln_philox_uniform(seed: u64, index: u64) -> f32 {
    philox_uniform(seed, index)
}

/// Element `index` of the standard normal stream `seed` ([`philox_normal`]).
pub extern "C" fn kiln_philox_normal(seed: u64, index: u64) -> f32 {
    philox_normal(seed, index)
}
