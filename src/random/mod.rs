//! Random numbers bit-compatible with PyTorch's CPU generator.
//!
//! This module reproduces, in pure safe Rust (std only), the random streams of
//! `torch.manual_seed(s)` followed by `torch.rand`, `torch.rand(dtype=float64)`,
//! `Tensor.uniform_`, `torch.randn`, `Tensor.normal_` and `torch.randperm` on
//! the CPU. It follows these PyTorch sources (checked against the headers
//! shipped with torch 2.15.0):
//!
//! * `aten/src/ATen/core/MT19937RNGEngine.h` - the 32-bit Mersenne Twister
//!   ([`Mt19937`]), seeded from the low 32 bits of the `u64` seed;
//! * `aten/src/ATen/CPUGeneratorImpl.cpp` - `random()`, `random64()` (two
//!   draws, the first one is the high word) and the cached Box-Muller sample
//!   ([`Generator`]);
//! * `aten/src/ATen/core/DistributionsHelper.h` and
//!   `aten/src/ATen/core/TransformationHelper.h` - `uniform_real_distribution`
//!   (24 bits of one draw for `float`, 53 bits of `random64()` for `double`)
//!   and the scalar `normal_distribution<double>`;
//! * `aten/src/ATen/native/cpu/DistributionTemplates.h` - `uniform_kernel`
//!   (including the "rounded up to `to`, return `from`" clamp), `normal_kernel`
//!   with its two paths (`normal_fill` for contiguous tensors with at least 16
//!   elements, the scalar cached Box-Muller otherwise);
//! * `aten/src/ATen/native/cpu/avx_mathfun.h` - the Cephes-style
//!   `log256_ps`/`sincos256_ps` used by the AVX2 `normal_fill`, emulated here
//!   lane by lane;
//! * `aten/src/ATen/native/TensorFactories.cpp` - `randperm_cpu`.
//!
//! # What is guaranteed
//!
//! The integer stream (`Mt19937`, `random`, `random64`, `randperm`) and
//! everything derived from it by exact arithmetic (`rand_f32`, `rand_f64`)
//! is identical to PyTorch on every platform.
//!
//! The floating-point results depend on *how the stock wheel was compiled*,
//! because PyTorch compiles its CPU kernels once per CPU capability and picks
//! one at run time (`torch.backends.cpu.get_cpu_capability()`, overridable
//! with `ATEN_CPU_CAPABILITY`). The differences are rounding-level (about
//! one ulp of the operands; a result that is small because of cancellation,
//! such as a uniform sample near 0 in `uniform_(-b, b)`, can differ by more
//! ulps of itself):
//!
//! * in the AVX2 (and, presumably, AVX-512) builds GCC contracts
//!   `x * (to - from) + from` and `val * std + mean` into fused
//!   multiply-adds; the DEFAULT build does not;
//! * for `float` tensors with at least 16 elements the AVX2 build uses
//!   `avx_mathfun.h` (Cephes polynomials, contracted into FMAs by the
//!   compiler); the other builds call the C library's `logf`/`sinf`/`cosf`.
//!
//! Select the behaviour with [`CpuCapability`]. The default,
//! [`CpuCapability::Avx2`], was verified bit for bit against torch 2.15.0
//! (x86-64 PyPI wheel, AVX2 machine) on 100 003 `randn`/`normal_` values,
//! 100 000 `uniform_` values in both precisions and 45 000 scalar-path
//! samples; [`CpuCapability::Default`] was verified the same way with
//! `ATEN_CPU_CAPABILITY=default`. `randperm` was checked for n = 10, 100,
//! 1000 and, for its large-`n` branch, n = 214 748 364 (first and last
//! elements). [`CpuCapability::Avx512`] is inferred from
//! the source (FMA contraction plus C-library math) and was not verified.
//! The C-library paths call the platform `libm` (glibc on Linux) through
//! Rust's `f32::ln`/`f64::sin`/..., exactly as PyTorch does, so they match
//! when both run against the same libm.
//!
//! One deliberate difference: PyTorch seeds its process-wide default
//! generator non-deterministically; this module seeds it with
//! [`DEFAULT_SEED`] (PyTorch's `default_rng_seed_val`, the seed of a fresh
//! `torch.Generator()`) so that unseeded programs are reproducible.
//!
//! Argument validation that PyTorch performs (`from <= to`, `std >= 0`,
//! finite bounds) is not repeated here: the functions never panic and simply
//! evaluate PyTorch's formula on whatever they are given.
//!
//! The functions that make tensors from it (`kiln::rand`, `kiln::randn`, `Graph::rand` and its
//! kin) are in `tensors.rs`; they draw from this module's default generator.

use std::f64::consts::PI;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Seed of a freshly constructed `torch.Generator()` (`default_rng_seed_val`
/// in `c10/core/GeneratorImpl.h`), used for this module's default generator.
pub const DEFAULT_SEED: u64 = 67_280_421_310_721;

const MT_N: usize = 624;
const MT_M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The standard 32-bit Mersenne Twister, laid out like PyTorch's
/// `at::mt19937` so that it is seeded exactly as `torch.manual_seed` seeds it.
///
/// The full 64-bit seed is remembered (it is what `torch.initial_seed()`
/// reports) but only its low 32 bits enter the state, as in PyTorch.
#[derive(Clone, Debug)]
pub struct Mt19937 {
    seed: u64,
    /// Draws left before the state must be regenerated; PyTorch starts at 1
    /// so that the very first draw triggers a twist.
    left: usize,
    next: usize,
    state: [u32; MT_N],
}

impl Mt19937 {
    /// Seed of a default-constructed `std::mt19937`.
    pub const DEFAULT_SEED: u64 = 5489;

    /// Creates an engine seeded like `at::mt19937(seed)`.
    pub fn new(seed: u64) -> Self {
        let mut state = [0u32; MT_N];
        // Truncation is intentional: PyTorch stores `seed & 0xffffffff`.
        state[0] = seed as u32;
        for j in 1..MT_N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        Self {
            seed,
            left: 1,
            next: 0,
            state,
        }
    }

    /// The 64-bit seed this engine was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Returns the next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        self.left -= 1;
        if self.left == 0 {
            self.next_state();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Regenerates all 624 words in place (the classic in-place twist, which
    /// is what PyTorch's pointer-walking loop computes).
    fn next_state(&mut self) {
        self.left = MT_N;
        self.next = 0;
        for i in 0..MT_N {
            let succ = self.state[(i + 1) % MT_N];
            let mixed = (self.state[i] & UPPER_MASK) | (succ & LOWER_MASK);
            let mag = if succ & 1 != 0 { MATRIX_A } else { 0 };
            self.state[i] = self.state[(i + MT_M) % MT_N] ^ (mixed >> 1) ^ mag;
        }
    }
}

impl Default for Mt19937 {
    fn default() -> Self {
        Self::new(Self::DEFAULT_SEED)
    }
}

/// Which of PyTorch's per-CPU-capability kernel builds to reproduce.
///
/// PyTorch picks the build at run time; see the module documentation for why
/// it matters. Only the last bit of some floating-point results depends on
/// this choice; the integer stream and `rand` never do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CpuCapability {
    /// `ATEN_CPU_CAPABILITY=default` (or a CPU without AVX2): no FMA
    /// contraction, C-library `logf`/`sinf`/`cosf` in `normal_fill`.
    Default,
    /// AVX2 build, the one a stock x86-64 wheel runs on AVX2 CPUs without
    /// AVX-512: contracted FMAs and the `avx_mathfun.h` vector math.
    #[default]
    Avx2,
    /// AVX-512 build (inferred, not verified): contracted FMAs but the
    /// C-library math in `normal_fill`, because `avx_mathfun.h` is only
    /// compiled in for `CPU_CAPABILITY_AVX2`.
    Avx512,
}

impl CpuCapability {
    /// Whether the compiler fused `a * b + c` into one rounding.
    fn fused(self) -> bool {
        !matches!(self, CpuCapability::Default)
    }
}

/// PyTorch's CPU generator: an [`Mt19937`] plus the cached second Box-Muller
/// samples of `CPUGeneratorImpl`, and the [`CpuCapability`] to reproduce.
///
/// Every sampling method consumes the engine exactly as the corresponding
/// PyTorch operator does, so calls can be interleaved like torch calls.
#[derive(Clone, Debug)]
pub struct Generator {
    engine: Mt19937,
    next_float_normal_sample: Option<f32>,
    next_double_normal_sample: Option<f64>,
    capability: CpuCapability,
}

impl Default for Generator {
    fn default() -> Self {
        Self::new(DEFAULT_SEED)
    }
}

impl Generator {
    /// Creates a generator as `torch.Generator().manual_seed(seed)` would,
    /// reproducing the [`CpuCapability::Avx2`] kernels.
    pub fn new(seed: u64) -> Self {
        Self {
            engine: Mt19937::new(seed),
            next_float_normal_sample: None,
            next_double_normal_sample: None,
            capability: CpuCapability::default(),
        }
    }

    /// Builder form of [`Generator::set_capability`].
    pub fn with_capability(mut self, capability: CpuCapability) -> Self {
        self.capability = capability;
        self
    }

    /// Selects which PyTorch kernel build the floating-point methods mimic.
    pub fn set_capability(&mut self, capability: CpuCapability) {
        self.capability = capability;
    }

    /// The kernel build the floating-point methods mimic.
    pub fn capability(&self) -> CpuCapability {
        self.capability
    }

    /// Re-seeds like `torch.manual_seed(seed)`: resets the engine and drops
    /// both cached normal samples.
    pub fn manual_seed(&mut self, seed: u64) {
        self.engine = Mt19937::new(seed);
        self.next_float_normal_sample = None;
        self.next_double_normal_sample = None;
    }

    /// The seed last given (`torch.initial_seed()`), all 64 bits.
    pub fn initial_seed(&self) -> u64 {
        self.engine.seed()
    }

    /// One raw 32-bit draw (`CPUGeneratorImpl::random`).
    pub fn random(&mut self) -> u32 {
        self.engine.next_u32()
    }

    /// Two draws combined as `(first << 32) | second`
    /// (`CPUGeneratorImpl::random64`).
    pub fn random64(&mut self) -> u64 {
        let hi = self.engine.next_u32();
        let lo = self.engine.next_u32();
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// The cached `float` Box-Muller sample. PyTorch's CPU kernels only use
    /// `normal_distribution<double>`, so this stays `None` unless set.
    pub fn next_float_normal_sample(&self) -> Option<f32> {
        self.next_float_normal_sample
    }

    /// Sets (or clears) the cached `float` Box-Muller sample.
    pub fn set_next_float_normal_sample(&mut self, sample: Option<f32>) {
        self.next_float_normal_sample = sample;
    }

    /// The cached `double` Box-Muller sample left by the scalar normal path.
    pub fn next_double_normal_sample(&self) -> Option<f64> {
        self.next_double_normal_sample
    }

    /// Sets (or clears) the cached `double` Box-Muller sample.
    pub fn set_next_double_normal_sample(&mut self, sample: Option<f64>) {
        self.next_double_normal_sample = sample;
    }

    /// `a * b + c`, fused or not as the selected PyTorch build computes it.
    fn madd_f32(&self, a: f32, b: f32, c: f32) -> f32 {
        if self.capability.fused() {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }

    fn madd_f64(&self, a: f64, b: f64, c: f64) -> f64 {
        if self.capability.fused() {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }

    /// `uniform_real_distribution<float>`: 24 bits of one draw.
    fn uniform_real_f32(&mut self, from: f32, to: f32) -> f32 {
        // 24-bit integers convert to f32 exactly; the scale is a power of 2.
        let x = (self.random() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0);
        self.madd_f32(x, to - from, from)
    }

    /// `uniform_real_distribution<double>`: 53 bits of `random64()`.
    fn uniform_real_f64(&mut self, from: f64, to: f64) -> f64 {
        let bits = self.random64() & ((1u64 << 53) - 1);
        let x = bits as f64 * (1.0 / 9_007_199_254_740_992.0);
        self.madd_f64(x, to - from, from)
    }

    /// `torch.rand(n)`: `n` floats in `[0, 1)` from 24 bits of one draw each.
    pub fn rand_f32(&mut self, n: usize) -> Vec<f32> {
        self.uniform_f32(n, 0.0, 1.0)
    }

    /// `torch.rand(n, dtype=torch.float64)`: 53 bits of `random64()` each.
    pub fn rand_f64(&mut self, n: usize) -> Vec<f64> {
        self.uniform_f64(n, 0.0, 1.0)
    }

    /// `torch.empty(n).uniform_(from, to)`.
    ///
    /// The bounds are rounded to `f32` first and the result is
    /// `x * (to - from) + from` in `f32` (fused on AVX2/AVX-512 builds); a
    /// value that rounds up to `to` is replaced by `from`, as PyTorch does.
    pub fn uniform_f32(&mut self, n: usize, from: f64, to: f64) -> Vec<f32> {
        let (from, to) = (from as f32, to as f32);
        (0..n)
            .map(|_| {
                let value = self.uniform_real_f32(from, to);
                if value == to {
                    from
                } else {
                    value
                }
            })
            .collect()
    }

    /// `torch.empty(n, dtype=torch.float64).uniform_(from, to)`.
    pub fn uniform_f64(&mut self, n: usize, from: f64, to: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let value = self.uniform_real_f64(from, to);
                if value == to {
                    from
                } else {
                    value
                }
            })
            .collect()
    }

    /// `torch.randn(n)` (standard normal `f32`).
    ///
    /// `n >= 16` uses PyTorch's block Box-Muller `normal_fill`; smaller `n`
    /// uses the scalar path, which consumes and refills the cached `double`
    /// sample (so consecutive small calls continue one Box-Muller stream).
    pub fn randn_f32(&mut self, n: usize) -> Vec<f32> {
        self.normal_f32(n, 0.0, 1.0)
    }

    /// `torch.randn(n, dtype=torch.float64)`.
    pub fn randn_f64(&mut self, n: usize) -> Vec<f64> {
        self.normal_f64(n, 0.0, 1.0)
    }

    /// `torch.empty(n).normal_(mean, std)`.
    pub fn normal_f32(&mut self, n: usize, mean: f64, std: f64) -> Vec<f32> {
        if n >= 16 {
            self.normal_fill_f32(n, mean as f32, std as f32)
        } else {
            // The scalar path works in double and rounds each result once.
            (0..n)
                .map(|_| self.normal_scalar(mean, std) as f32)
                .collect()
        }
    }

    /// `torch.empty(n, dtype=torch.float64).normal_(mean, std)`.
    pub fn normal_f64(&mut self, n: usize, mean: f64, std: f64) -> Vec<f64> {
        if n >= 16 {
            self.normal_fill_f64(n, mean, std)
        } else {
            (0..n).map(|_| self.normal_scalar(mean, std)).collect()
        }
    }

    /// `at::normal_distribution<double>`: returns the cached sample if there
    /// is one, otherwise draws two uniforms, returns `r cos θ` and caches
    /// `r sin θ`.
    fn normal_scalar(&mut self, mean: f64, std: f64) -> f64 {
        if let Some(cached) = self.next_double_normal_sample.take() {
            return self.madd_f64(cached, std, mean);
        }
        let u1 = self.uniform_real_f64(0.0, 1.0);
        let u2 = self.uniform_real_f64(0.0, 1.0);
        // log1p(-u2) == log(1 - u2) without cancellation; u2 < 1 keeps it finite.
        let r = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * PI * u1;
        self.next_double_normal_sample = Some(r * theta.sin());
        self.madd_f64(r * theta.cos(), std, mean)
    }

    /// `normal_fill<float>` (or `normal_fill_AVX2`): fill with uniforms, then
    /// transform blocks of 16; if `n % 16 != 0` the last 16 values are drawn
    /// again and transformed once more. Requires `n >= 16`.
    fn normal_fill_f32(&mut self, n: usize, mean: f32, std: f32) -> Vec<f32> {
        let mut data: Vec<f32> = (0..n).map(|_| self.uniform_real_f32(0.0, 1.0)).collect();
        let capability = self.capability;
        for block in data.chunks_exact_mut(16) {
            normal_fill_16_f32(block, mean, std, capability);
        }
        // Only a partial final block triggers the redraw of the last 16.
        let tail_start = if !n.is_multiple_of(16) {
            n.checked_sub(16)
        } else {
            None
        };
        if let Some(start) = tail_start {
            let tail = &mut data[start..];
            for value in tail.iter_mut() {
                *value = self.uniform_real_f32(0.0, 1.0);
            }
            normal_fill_16_f32(tail, mean, std, capability);
        }
        data
    }

    /// `normal_fill<double>`: same structure as the `f32` version, always
    /// with C-library math (there is no vectorised `double` variant).
    fn normal_fill_f64(&mut self, n: usize, mean: f64, std: f64) -> Vec<f64> {
        let mut data: Vec<f64> = (0..n).map(|_| self.uniform_real_f64(0.0, 1.0)).collect();
        for block in data.chunks_exact_mut(16) {
            normal_fill_16_f64(block, mean, std);
        }
        // Only a partial final block triggers the redraw of the last 16.
        let tail_start = if !n.is_multiple_of(16) {
            n.checked_sub(16)
        } else {
            None
        };
        if let Some(start) = tail_start {
            let tail = &mut data[start..];
            for value in tail.iter_mut() {
                *value = self.uniform_real_f64(0.0, 1.0);
            }
            normal_fill_16_f64(tail, mean, std);
        }
        data
    }

    /// `torch.randperm(n)` (int64, CPU).
    ///
    /// For `n < u32::MAX / 20` PyTorch swaps element `i` with element
    /// `i + random() % (n - i)`; for larger `n` it switches to the
    /// "inside-out" Fisher-Yates with `random64() % (i + 1)`.
    pub fn randperm(&mut self, n: usize) -> Vec<i64> {
        let mut perm: Vec<i64> = (0..n).map(|i| i as i64).collect();
        if (n as u64) < u64::from(u32::MAX / 20) {
            for i in 0..n.saturating_sub(1) {
                let z = self.random() as usize % (n - i);
                perm.swap(i, i + z);
            }
        } else {
            for i in 0..n {
                // z <= i < n, so both indices are in bounds.
                let z = (self.random64() % (i as u64 + 1)) as usize;
                perm[i] = perm[z];
                perm[z] = i as i64;
            }
        }
        perm
    }
}

/// Box-Muller on one block of 16 `f32` uniforms: lane `j` pairs with lane
/// `j + 8`; `u1 = 1 - data[j]` maps `[0, 1)` to `(0, 1]` for the logarithm.
fn normal_fill_16_f32(block: &mut [f32], mean: f32, std: f32, capability: CpuCapability) {
    let (first, second) = block.split_at_mut(8);
    if capability == CpuCapability::Avx2 {
        // `_mm256_set1_ps(2.0f * c10::pi<double>)`: product in double, then rounded.
        let two_pi = (2.0 * PI) as f32;
        for (a, b) in first.iter_mut().zip(second.iter_mut()) {
            let u1 = 1.0 - *a;
            let radius = (-2.0 * avx_mathfun::log(u1)).sqrt();
            let (sin, cos) = avx_mathfun::sincos(two_pi * *b);
            // Explicit `_mm256_fmadd_ps` in the source: always fused.
            *a = (radius * cos).mul_add(std, mean);
            *b = (radius * sin).mul_add(std, mean);
        }
    } else {
        for (a, b) in first.iter_mut().zip(second.iter_mut()) {
            let u1 = 1.0 - *a;
            let radius = (-2.0 * u1.ln()).sqrt();
            // `2.0f * c10::pi<double> * u2` is evaluated in double.
            let theta = (2.0 * PI * f64::from(*b)) as f32;
            // `std::fma` in the source: fused on every build.
            *a = (radius * theta.cos()).mul_add(std, mean);
            *b = (radius * theta.sin()).mul_add(std, mean);
        }
    }
}

/// `double` version of [`normal_fill_16_f32`]'s C-library branch.
fn normal_fill_16_f64(block: &mut [f64], mean: f64, std: f64) {
    let (first, second) = block.split_at_mut(8);
    for (a, b) in first.iter_mut().zip(second.iter_mut()) {
        let u1 = 1.0 - *a;
        let radius = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * PI * *b;
        *a = (radius * theta.cos()).mul_add(std, mean);
        *b = (radius * theta.sin()).mul_add(std, mean);
    }
}

/// Lane-wise emulation of `log256_ps` and `sincos256_ps` from PyTorch's
/// `avx_mathfun.h` (Giovanni Garberoglio's AVX port of Julien Pommier's
/// Cephes-based `sse_mathfun.h`, zlib licence).
///
/// Each `_mm256_*_ps` operation is one IEEE `f32` operation, so a scalar
/// replay is exact, with one subtlety: GCC compiles PyTorch's AVX2 kernels
/// with `-mfma` and its default `-ffp-contract=fast`, so every multiply whose
/// only use is an add is contracted into a fused multiply-add. The
/// `mul_add` calls below sit exactly where that happens; this was confirmed
/// bit for bit against torch 2.15.0.
///
/// Constants keep the source's double literals and are rounded to `f32`
/// the way C converts them.
#[allow(clippy::excessive_precision)]
mod avx_mathfun {
    // Source literal 0.707106781186547524, i.e. 1/sqrt(2) rounded to double.
    const SQRTHF: f32 = std::f64::consts::FRAC_1_SQRT_2 as f32;
    const LOG_P0: f32 = 7.0376836292E-2_f64 as f32;
    const LOG_P1: f32 = -1.1514610310E-1_f64 as f32;
    const LOG_P2: f32 = 1.1676998740E-1_f64 as f32;
    const LOG_P3: f32 = -1.2420140846E-1_f64 as f32;
    const LOG_P4: f32 = 1.4249322787E-1_f64 as f32;
    const LOG_P5: f32 = -1.6668057665E-1_f64 as f32;
    const LOG_P6: f32 = 2.0000714765E-1_f64 as f32;
    const LOG_P7: f32 = -2.4999993993E-1_f64 as f32;
    const LOG_P8: f32 = 3.3333331174E-1_f64 as f32;
    const LOG_Q1: f32 = -2.12194440e-4_f64 as f32;
    const LOG_Q2: f32 = 0.693359375_f64 as f32;

    const MINUS_DP1: f32 = -0.78515625_f64 as f32;
    const MINUS_DP2: f32 = -2.4187564849853515625e-4_f64 as f32;
    const MINUS_DP3: f32 = -3.77489497744594108e-8_f64 as f32;
    const SINCOF_P0: f32 = -1.9515295891E-4_f64 as f32;
    const SINCOF_P1: f32 = 8.3321608736E-3_f64 as f32;
    const SINCOF_P2: f32 = -1.6666654611E-1_f64 as f32;
    const COSCOF_P0: f32 = 2.443315711809948E-005_f64 as f32;
    const COSCOF_P1: f32 = -1.388731625493765E-003_f64 as f32;
    const COSCOF_P2: f32 = 4.166664568298827E-002_f64 as f32;
    const FOPI: f32 = 1.27323954473516_f64 as f32;

    const SIGN_MASK: u32 = 0x8000_0000;

    /// `_mm256_cvttps_epi32`: truncation, with the x86 "integer indefinite"
    /// value for NaN and out-of-range inputs (Rust's `as` would saturate).
    fn cvtt(x: f32) -> i32 {
        if x.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&x) {
            i32::MIN
        } else {
            x as i32
        }
    }

    /// `log256_ps` for one lane; NaN (all bits set) for `x <= 0`.
    pub(super) fn log(x: f32) -> f32 {
        let invalid = x <= 0.0;
        // `_mm256_max_ps(x, min_norm_pos)` returns the second operand unless
        // `x` is strictly greater (so NaN and denormals become min_norm_pos).
        let x = if x > f32::MIN_POSITIVE {
            x
        } else {
            f32::MIN_POSITIVE
        };
        let bits = x.to_bits();
        let exponent = (bits >> 23) as i32 - 0x7f;
        // Keep the mantissa, force the exponent of 0.5: x in [0.5, 1).
        let mut x = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
        let mut e = exponent as f32 + 1.0;
        let below = x < SQRTHF;
        let tmp = if below { x } else { 0.0 };
        x -= 1.0;
        e -= if below { 1.0 } else { 0.0 };
        x += tmp;
        let z = x * x;
        let mut y = LOG_P0.mul_add(x, LOG_P1);
        for p in [LOG_P2, LOG_P3, LOG_P4, LOG_P5, LOG_P6, LOG_P7, LOG_P8] {
            y = y.mul_add(x, p);
        }
        y *= x;
        // `y * z + e * q1`: GCC fuses the first product into the add.
        y = y.mul_add(z, e * LOG_Q1);
        // `z * 0.5` is exact, so fusing it or not gives the same result.
        y -= z * 0.5;
        // `e * q2` is exact too (q2 has 9 significant bits, |e| < 2^8).
        x += y;
        x += e * LOG_Q2;
        if invalid {
            f32::from_bits(u32::MAX)
        } else {
            x
        }
    }

    /// `sincos256_ps` for one lane: returns `(sin x, cos x)`.
    pub(super) fn sincos(x: f32) -> (f32, f32) {
        let sign_bit_sin = x.to_bits() & SIGN_MASK;
        let mut x = f32::from_bits(x.to_bits() & !SIGN_MASK);
        // Octant index j = (trunc(|x| * 4/pi) + 1) & !1.
        let j = cvtt(x * FOPI).wrapping_add(1) & !1;
        let y = j as f32;
        let swap_sign_sin = ((j & 4) as u32) << 29;
        let poly_mask = j & 2 == 0;
        // Extended-precision reduction x - y*pi/4, each step fused.
        x = y.mul_add(MINUS_DP1, x);
        x = y.mul_add(MINUS_DP2, x);
        x = y.mul_add(MINUS_DP3, x);
        let sign_bit_cos = ((!j.wrapping_sub(2) & 4) as u32) << 29;
        let sign_bit_sin = sign_bit_sin ^ swap_sign_sin;

        let z = x * x;
        // Cosine polynomial on [0, pi/4].
        let mut yc = COSCOF_P0.mul_add(z, COSCOF_P1);
        yc = yc.mul_add(z, COSCOF_P2);
        yc *= z;
        yc = yc.mul_add(z, -(z * 0.5));
        yc += 1.0;
        // Sine polynomial on [0, pi/4].
        let mut ys = SINCOF_P0.mul_add(z, SINCOF_P1);
        ys = ys.mul_add(z, SINCOF_P2);
        ys *= z;
        ys = ys.mul_add(x, x);

        // The source blends with and/andnot and then adds a +0.0 lane; keep
        // those additions so signed zeros come out exactly as in PyTorch.
        let (sin_from_sinpoly, sin_from_cospoly) = if poly_mask { (ys, 0.0) } else { (0.0, yc) };
        let sin = sin_from_cospoly + sin_from_sinpoly;
        let cos = (yc - sin_from_cospoly) + (ys - sin_from_sinpoly);
        (
            f32::from_bits(sin.to_bits() ^ sign_bit_sin),
            f32::from_bits(cos.to_bits() ^ sign_bit_cos),
        )
    }
}

static DEFAULT_GENERATOR: OnceLock<Mutex<Generator>> = OnceLock::new();

/// Runs `f` with exclusive access to the process-wide default generator
/// (created on first use with [`DEFAULT_SEED`]).
///
/// A panic inside an earlier `f` cannot leave the generator in an invalid
/// state, so a poisoned lock is simply recovered.
pub fn with_default_generator<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let lock = DEFAULT_GENERATOR.get_or_init(|| Mutex::new(Generator::new(DEFAULT_SEED)));
    let mut generator = lock.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut generator)
}

/// `torch.manual_seed(seed)` for the process-wide default generator.
pub fn manual_seed(seed: u64) {
    with_default_generator(|g| g.manual_seed(seed));
}

// `pub(crate)` so that lib.rs can re-export `rand` and `randn` at the crate root, where
// PyTorch has them, without adding `kiln::random::rand`.
pub(crate) mod tensors;

#[cfg(test)]
mod tests;
