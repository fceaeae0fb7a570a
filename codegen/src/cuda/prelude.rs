//! The device helpers every generated CUDA C program starts with: kiln's Philox streams, the
//! saturating float -> integer conversions, NaN-propagating max/min and the error report.
//!
//! Each helper restates the CPU backend's semantics (`cpu/loops/body.rs`,
//! `kiln_ir::philox`) in CUDA C so that both backends give the same bits:
//! - `kiln_philox_uniform/normal` are [`kiln_ir::philox`] line for line (Philox4x32-10, the
//!   counter `[block lo, block hi, stream, 0]`, the key the seed's two halves, Box-Muller in
//!   f64). Uniform values are bit-exact; normal values go through the f64 `log`, `sqrt`, `cos`
//!   and `sin` of the device, which CUDA documents as 1-2 ulp in f64, so after the rounding to
//!   f32 a value can differ in its last bit with a probability of about 2^-29 per element;
//! - `kiln_f2i32/f2i64` are `DType::round` (truncation, saturation, NaN -> 0), like Cranelift's
//!   `fcvt_to_sint_sat`;
//! - `kiln_sigmoidf/kiln_sigmoid` are the stable logistic function (`e^-|x|` form);
//! - `kiln_fmaxf/...` propagate NaN and order -0 below +0, like Cranelift's `fmax`/`fmin`;
//! - `kiln_report` keeps the smallest `1 + flat position` of an out-of-range index in a
//!   launch's error word (0 = no error), so that the reported position does not depend on
//!   thread scheduling; it is the CPU loop kernels' error code.
//!
//! Integer add, sub and mul are emitted through unsigned types (wrapping, as on the CPU; signed
//! overflow would be undefined behaviour in C).

/// The CUDA C text of the helpers (placed once before a program's kernels).
pub const PRELUDE: &str = r#"// kiln CUDA prelude: helpers shared by every kernel of a program.
// A program uses only some of the helpers: no warning #177 ("declared but never referenced").
#pragma nv_diag_suppress 177
static __device__ __forceinline__ unsigned int kiln_mulhilo(unsigned int a, unsigned int b, unsigned int* lo) {
    unsigned long long p = (unsigned long long)a * (unsigned long long)b;
    *lo = (unsigned int)p;
    return (unsigned int)(p >> 32);
}

// Philox4x32-10 of `kiln_ir::philox::philox4x32_10`.
static __device__ __forceinline__ void kiln_philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned int lo0, lo1;
        unsigned int hi0 = kiln_mulhilo(0xD2511F53u, c[0], &lo0);
        unsigned int hi1 = kiln_mulhilo(0xCD9E8D57u, c[2], &lo1);
        unsigned int n0 = hi1 ^ c[1] ^ k0;
        unsigned int n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
    }
}

static __device__ __forceinline__ void kiln_philox_block(unsigned long long seed, unsigned long long block, unsigned int stream, unsigned int c[4]) {
    c[0] = (unsigned int)block;
    c[1] = (unsigned int)(block >> 32);
    c[2] = stream;
    c[3] = 0u;
    kiln_philox4x32_10(c, (unsigned int)seed, (unsigned int)(seed >> 32));
}

static __device__ __forceinline__ float kiln_uniform_from_u32(unsigned int x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

static __device__ __noinline__ float kiln_philox_uniform(unsigned long long seed, unsigned long long index) {
    unsigned int c[4];
    kiln_philox_block(seed, index / 4, 0u, c);
    return kiln_uniform_from_u32(c[index % 4]);
}

static __device__ __noinline__ float kiln_philox_normal(unsigned long long seed, unsigned long long index) {
    unsigned int c[4];
    kiln_philox_block(seed, index / 4, 1u, c);
    int pair = (int)((index % 4) / 2) * 2;
    double u1 = 1.0 - (double)kiln_uniform_from_u32(c[pair]);
    double u2 = (double)kiln_uniform_from_u32(c[pair + 1]);
    double radius = sqrt(-2.0 * log(u1));
    double theta = 2.0 * 3.141592653589793 * u2;
    double value = (index % 2 == 0) ? radius * cos(theta) : radius * sin(theta);
    return (float)value;
}

// DType::round for float -> integer: truncate, saturate, NaN -> 0.
static __device__ __forceinline__ int kiln_f2i32(double v) {
    if (v != v) return 0;
    if (v >= 2147483648.0) return 2147483647;
    if (v <= -2147483649.0) return (-2147483647 - 1);
    return (int)v;
}

static __device__ __forceinline__ long long kiln_f2i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return 9223372036854775807LL;
    if (v < -9223372036854775808.0) return (-9223372036854775807LL - 1);
    return (long long)v;
}

// i64 -> i32 saturates (as `as` from f64 does).
static __device__ __forceinline__ int kiln_i64_to_i32(long long v) {
    return v > 2147483647LL ? 2147483647 : (v < -2147483648LL ? (-2147483647 - 1) : (int)v);
}

// The logistic function with t = e^-|x| <= 1: nothing overflows, and tiny results for very
// negative x keep their relative accuracy (the CPU's `hyper::sigmoid`).
static __device__ __forceinline__ float kiln_sigmoidf(float x) {
    float t = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
}
static __device__ __forceinline__ double kiln_sigmoid(double x) {
    double t = exp(-fabs(x));
    return x >= 0.0 ? 1.0 / (1.0 + t) : t / (1.0 + t);
}

// max/min: NaN if either is NaN; -0 < +0 (Cranelift's fmax/fmin).
static __device__ __forceinline__ float kiln_fmaxf(float a, float b) {
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
static __device__ __forceinline__ float kiln_fminf(float a, float b) {
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}
static __device__ __forceinline__ double kiln_fmax(double a, double b) {
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
static __device__ __forceinline__ double kiln_fmin(double a, double b) {
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

// Keeps the smallest error code (1 + flat position) in a launch's error word.
static __device__ __noinline__ void kiln_report(unsigned long long* err, unsigned long long code) {
    unsigned long long old = *err;
    while (old == 0ull || old > code) {
        unsigned long long seen = atomicCAS(err, old, code);
        if (seen == old) break;
        old = seen;
    }
}
"#;
