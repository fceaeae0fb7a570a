//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
//! counter-based generator behind [`crate::Op::Random`].
//!
//! Guarantees: element `index` of a random tensor is a pure function of `(seed, index)`, so any
//! backend can compute any element independently and every backend produces the same stream.
//! [`philox4x32_10`] reproduces Random123's known-answer vectors bit for bit.
//!
//! Layout of the stream: element `index` reads lane `index % 4` of the block
//! `philox4x32_10([lo(index / 4), hi(index / 4), 0, 0], [lo(seed), hi(seed)])`.

/// Multiplier of lane 0 (Random123's `PHILOX_M4x32_0`).
const M0: u32 = 0xD251_1F53;
/// Multiplier of lane 2 (Random123's `PHILOX_M4x32_1`).
const M1: u32 = 0xCD9E_8D57;
/// Key schedule increment of key word 0 (the golden ratio).
const W0: u32 = 0x9E37_79B9;
/// Key schedule increment of key word 1 (sqrt(3) - 1).
const W1: u32 = 0xBB67_AE85;
/// 2^-24: scales a 24-bit integer into [0, 1).
const TWO_POW_MINUS_24: f64 = 1.0 / 16_777_216.0;

/// One Philox round: two 32x32->64 multiplies, the high halves xored with the key.
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let p0 = u64::from(M0) * u64::from(c[0]);
    let p1 = u64::from(M1) * u64::from(c[2]);
    let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
    let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// The Philox4x32 bijection with 10 rounds: four random 32-bit words for a counter and a key.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// The block of four words holding elements `4 * (index / 4) .. 4 * (index / 4) + 4`.
fn block(seed: u64, index: u64) -> [u32; 4] {
    let b = index / 4;
    philox4x32_10(
        [b as u32, (b >> 32) as u32, 0, 0],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// A word's top 24 bits as a uniform number in [0, 1) (exact in `f32`).
fn unit(word: u32) -> f64 {
    f64::from(word >> 8) * TWO_POW_MINUS_24
}

/// Element `index` of the uniform stream `seed`: a multiple of 2^-24 in [0, 1).
pub fn philox_uniform(seed: u64, index: u64) -> f32 {
    let words = block(seed, index);
    // Exact: a 24-bit integer times a power of two fits an f32.
    unit(words[(index % 4) as usize]) as f32
}

/// Element `index` of the standard normal stream `seed`.
///
/// Box–Muller on the lane pair (0, 1) or (2, 3) containing lane `index % 4`:
/// `r = sqrt(-2 ln u1)`, `theta = 2 pi u2`, the even lane gets `r cos(theta)` and the odd lane
/// `r sin(theta)`, where `u1 = (w_even >> 8 + 1) 2^-24` lies in (0, 1] (so the log is finite) and
/// `u2 = (w_odd >> 8) 2^-24`. Computed in `f64`, rounded once to `f32`.
pub fn philox_normal(seed: u64, index: u64) -> f32 {
    let words = block(seed, index);
    let lane = (index % 4) as usize;
    let even = lane & !1;
    let u1 = f64::from((words[even] >> 8) + 1) * TWO_POW_MINUS_24;
    let u2 = unit(words[even + 1]);
    let r = (-2.0 * u1.ln()).sqrt();
    let theta = 2.0 * std::f64::consts::PI * u2;
    let z = if lane == even {
        r * theta.cos()
    } else {
        r * theta.sin()
    };
    z as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniform_reads_one_lane_per_element() {
        let words = philox4x32_10([1, 0, 0, 0], [7, 0]);
        for (lane, word) in (0u64..).zip(words) {
            let expected = f64::from(word >> 8) / 16_777_216.0;
            assert_eq!(f64::from(philox_uniform(7, 4 + lane)), expected);
        }
    }

    #[test]
    fn normal_pairs_share_a_radius() {
        // Box–Muller: z0^2 + z1^2 = -2 ln u1 for the two lanes of a pair.
        let words = philox4x32_10([0, 0, 0, 0], [3, 0]);
        let u1 = f64::from((words[2] >> 8) + 1) / 16_777_216.0;
        let (z0, z1) = (
            f64::from(philox_normal(3, 2)),
            f64::from(philox_normal(3, 3)),
        );
        assert!((z0 * z0 + z1 * z1 - (-2.0 * u1.ln())).abs() < 1e-5);
    }
}
