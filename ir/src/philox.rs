//! Counter-based Philox4x32-10 random numbers.
//!
//! [`philox4x32_10`] is the Philox4x32 bijection with 10 rounds from
//! Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3" (SC 2011),
//! exactly as implemented by Random123's `philox4x32_R(10, ctr, key)` and
//! used by cuRAND's `curand_Philox4x32_10` and JAX's Philox. It is verified
//! against the three `philox4x32 10` known-answer vectors of Random123's
//! `kat_vectors` file.
//!
//! Because the generator is a pure function of `(counter, key)`, element
//! `i` of a stream can be computed independently of every other element,
//! which is what makes it suitable for generated, parallel kernels: the
//! helpers [`philox_uniform`] and [`philox_normal`] define *which* counter
//! and lane feed element `i`, so that any backend reproduces the same values.
//!
//! Guarantees: the integer outputs and [`philox_uniform`] are exact and
//! platform independent. [`philox_normal`] goes through `ln`/`sin`/`cos` of
//! the platform math library in `f64` before rounding to `f32`; it is
//! correctly rounded except in rare ties, so results may differ by one ulp
//! between math libraries.

/// First round multiplier (`PHILOX_M4x32_0`).
const M0: u32 = 0xD251_1F53;
/// Second round multiplier (`PHILOX_M4x32_1`).
const M1: u32 = 0xCD9E_8D57;
/// Key schedule increments (`PHILOX_W32_0`, `PHILOX_W32_1`): the golden
/// ratio and sqrt(3) - 1 in 0.32 fixed point.
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Full 64-bit product of two 32-bit words, split as `(hi, lo)`.
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// One Philox S-box/P-box round.
fn round(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(M0, ctr[0]);
    let (hi1, lo1) = mulhilo(M1, ctr[2]);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to
/// 128 pseudo-random bits (Random123 `philox4x32_R(10, counter, key)`).
///
/// The key is bumped by the Weyl increments between rounds, i.e. 10 rounds
/// and 9 key updates.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut ctr = round(counter, key);
    let mut key = key;
    for _ in 1..10 {
        key = [key[0].wrapping_add(W0), key[1].wrapping_add(W1)];
        ctr = round(ctr, key);
    }
    ctr
}

/// Maps 32 random bits to a float in `[0, 1)` using the top 24 bits:
/// `(x >> 8) * 2^-24`. Every result is exactly representable, so the value
/// is the same on every platform, and 1.0 is never produced.
pub fn uniform_f32_from_u32(x: u32) -> f32 {
    // A 24-bit integer converts to f32 exactly; scaling by 2^-24 is exact.
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// The key for a 64-bit seed: `[low 32 bits, high 32 bits]`.
fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox output block `block` of stream `stream` under `seed`:
/// counter `[block low, block high, stream, 0]`.
fn block(seed: u64, block: u64, stream: u32) -> [u32; 4] {
    philox4x32_10(
        [block as u32, (block >> 32) as u32, stream, 0],
        seed_key(seed),
    )
}

/// Element `index` of the uniform `[0, 1)` stream for `seed`.
///
/// Mapping: key = `[seed as u32, (seed >> 32) as u32]`, counter =
/// `[(index / 4) as u32, ((index / 4) >> 32) as u32, 0, 0]`; the result is
/// lane `index % 4` of the Philox output passed through
/// [`uniform_f32_from_u32`]. Consecutive groups of four indices therefore
/// share one Philox evaluation, as in cuRAND's `curand_uniform4`.
pub fn philox_uniform(seed: u64, index: u64) -> f32 {
    let lanes = block(seed, index / 4, 0);
    uniform_f32_from_u32(lanes[(index % 4) as usize])
}

/// Element `index` of the standard normal stream for `seed`.
///
/// Mapping: key as in [`philox_uniform`]; counter =
/// `[(index / 4) low, (index / 4) high, 1, 0]` (the third word `1` keeps
/// this stream disjoint from the uniform stream of the same seed). The four
/// lanes form two Box-Muller pairs: element `index` uses the pair
/// `p = (index % 4) / 2`, lanes `2p` and `2p + 1`, with
/// `u1 = 1 - uniform(lane 2p)` in `(0, 1]` and `u2 = uniform(lane 2p + 1)`;
/// it returns `sqrt(-2 ln u1) * cos(2 pi u2)` for even `index` and
/// `sqrt(-2 ln u1) * sin(2 pi u2)` for odd `index`. The transform is
/// evaluated in `f64` and rounded once to `f32`; the result is always
/// finite (|x| <= sqrt(-2 ln 2^-24) ~ 5.77).
pub fn philox_normal(seed: u64, index: u64) -> f32 {
    let lanes = block(seed, index / 4, 1);
    let pair = ((index % 4) / 2) as usize * 2;
    let u1 = 1.0 - f64::from(uniform_f32_from_u32(lanes[pair]));
    let u2 = f64::from(uniform_f32_from_u32(lanes[pair + 1]));
    let radius = (-2.0 * u1.ln()).sqrt();
    let theta = 2.0 * std::f64::consts::PI * u2;
    let value = if index.is_multiple_of(2) {
        radius * theta.cos()
    } else {
        radius * theta.sin()
    };
    value as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors from Random123's kat_vectors file
    // ("philox4x32 10 <ctr x4> <key x2> <expected x4>").
    #[test]
    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_conversion_bounds() {
        assert_eq!(uniform_f32_from_u32(0), 0.0);
        assert_eq!(uniform_f32_from_u32(0xff), 0.0);
        assert_eq!(uniform_f32_from_u32(0x100), 1.0 / 16_777_216.0);
        assert_eq!(uniform_f32_from_u32(u32::MAX), 1.0 - 1.0 / 16_777_216.0);
    }

    #[test]
    fn uniform_stream_mapping() {
        let seed = 0x0123_4567_89ab_cdef_u64;
        let index = (5u64 << 34) + 6; // block (5 << 32) + 1, lane 2
        let lanes = philox4x32_10([1, 5, 0, 0], [0x89ab_cdef, 0x0123_4567]);
        assert_eq!(philox_uniform(seed, index), uniform_f32_from_u32(lanes[2]));
        // Extreme indices and seeds must not panic.
        for (s, i) in [(0, 0), (u64::MAX, u64::MAX), (1, u64::MAX - 3)] {
            let u = philox_uniform(s, i);
            assert!((0.0..1.0).contains(&u));
            assert!(philox_normal(s, i).is_finite());
        }
    }

    #[test]
    fn uniform_stream_statistics() {
        let n = 40_000u64;
        let mean = (0..n).map(|i| f64::from(philox_uniform(7, i))).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn normal_stream_mapping_and_statistics() {
        // Elements 2 and 3 share one Box-Muller pair (lanes 2 and 3).
        let lanes = philox4x32_10([0, 0, 1, 0], [9, 0]);
        let u1 = 1.0 - f64::from(uniform_f32_from_u32(lanes[2]));
        let u2 = f64::from(uniform_f32_from_u32(lanes[3]));
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        assert_eq!(philox_normal(9, 2), (r * theta.cos()) as f32);
        assert_eq!(philox_normal(9, 3), (r * theta.sin()) as f32);

        let n = 40_000u64;
        let samples: Vec<f64> = (0..n).map(|i| f64::from(philox_normal(3, i))).collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
    }
}
