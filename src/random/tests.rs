//! Tests of the parent module.

use super::*;

fn bits32(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn bits64(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

// Expected values below were produced with torch 2.15.0 (x86-64 PyPI
// wheel, CPU capability AVX2, glibc libm), printed as IEEE bit patterns:
// e.g. `torch.manual_seed(0); torch.rand(7)`. The DEFAULT_* constants
// were produced the same way with `ATEN_CPU_CAPABILITY=default`.
const RAND7_S0: [u32; 7] = [
    0x3efe1558, 0x3f44aa2f, 0x3db533a8, 0x3e073300, 0x3e9d6686, 0x3f2252fb, 0x3efaed86,
];
const RAND64_5_S1: [u64; 5] = [
    0x3faf425ff4780eb0,
    0x3fccbe33baf05120,
    0x3fcdfbfc83330e24,
    0x3fc6ab2fff047a14,
    0x3fe1cb4f3c7053c0,
];
const UNIFORM10_S2: [u32; 10] = [
    0x3deae540, 0xbdf3af88, 0x3e0c67b4, 0xbcd13700, 0x3e5ab858, 0x3df3c958, 0xbd6b62e0, 0xbecef76a,
    0x3de9cb40, 0xbee2a5f2,
];
const RANDN15_S42: [u32; 15] = [
    0x3eac62ae, 0x3e03e69d, 0x3e7016e7, 0x3e6bdc6c, 0xbf8fb9c2, 0xbe3eccd8, 0x400d532c, 0xbf2353c6,
    0x3eec5e56, 0x3e88e237, 0x3f08ef83, 0x3f4f3209, 0x3f8e1dfe, 0xbfd84b55, 0xbf7d2c7a,
];
const RANDN16_S42: [u32; 16] = [
    0x3ff6a529, 0x3fbe5f53, 0x3f669567, 0xc006c0db, 0x3f2dacd5, 0xbf9e0591, 0xbd306786, 0xbfcd65ba,
    0xbf408bf0, 0x3fd3095b, 0xbec8f2f6, 0xbfb3a966, 0xbf3a566e, 0xbf0f36d1, 0xbf44d2a0, 0x3f432f9f,
];
const RANDN17_S42: [u32; 17] = [
    0x3ff6a529, 0xbe236d85, 0xbefeaae4, 0x3ee111d8, 0xbf4214e2, 0x3f8a0650, 0x3f4d0144, 0x3fd71e93,
    0x3eb63345, 0x3fa5f12f, 0x3f1c4788, 0x3faad8b0, 0xbe6d2eed, 0x3d2b0c00, 0xbe80ce7a, 0x3f5c1fb0,
    0xbe9e9482,
];
const RANDN33_S42: [u32; 33] = [
    0x3ff6a529, 0x3fbe5f53, 0x3f669567, 0xc006c0db, 0x3f2dacd5, 0xbf9e0591, 0xbd306786, 0xbfcd65ba,
    0xbf408bf0, 0x3fd3095b, 0xbec8f2f6, 0xbfb3a966, 0xbf3a566e, 0xbf0f36d1, 0xbf44d2a0, 0x3f432f9f,
    0x3fd23771, 0xbf5f0955, 0xbe64ba09, 0x3fdbd280, 0x3ea34448, 0xbed95a8d, 0x3e9c8774, 0xbf464bb2,
    0x3d0f003f, 0x3f7ee202, 0xbf6139a5, 0xbf19e472, 0xbfa31763, 0x4007dbb6, 0xbf9e091d, 0xbef9cfd9,
    0xbfb582fd,
];
const RANDN100_S42: [u32; 100] = [
    0x3ff6a529, 0x3fbe5f53, 0x3f669567, 0xc006c0db, 0x3f2dacd5, 0xbf9e0591, 0xbd306786, 0xbfcd65ba,
    0xbf408bf0, 0x3fd3095b, 0xbec8f2f6, 0xbfb3a966, 0xbf3a566e, 0xbf0f36d1, 0xbf44d2a0, 0x3f432f9f,
    0x3fd23771, 0xbe236d85, 0xbefeaae4, 0x3ee111d8, 0xbf4214e2, 0x3f8a0650, 0x3f4d0144, 0x3fd71e93,
    0x3fa3ba59, 0x3fa5f12f, 0x3f1c4788, 0x3faad8b0, 0xbe6d2eed, 0x3d2b0c00, 0xbe80ce7a, 0x3f5c1fb0,
    0xbfb13cfd, 0xbf5f0955, 0xbe64ba09, 0x3fdbd280, 0x3ea34448, 0xbed95a8d, 0x3e9c8774, 0xbf464bb2,
    0xbfc75e89, 0x3f7ee202, 0xbf6139a5, 0xbf19e472, 0xbfa31763, 0x4007dbb6, 0xbf9e091d, 0xbef9cfd9,
    0xbf69f04e, 0xbf287baf, 0x3d9fcafb, 0x3f069b67, 0xbef9da0d, 0x3f987ec8, 0xbf5062ce, 0xbf3c6a06,
    0xbfb39da0, 0x3d137895, 0xbd82005f, 0x3f2cf519, 0xbdc84efb, 0x3fec1ba8, 0xbf979eec, 0x3fb11825,
    0x3fb8fa25, 0x3f5b3dda, 0x400df4f4, 0x3f05ee2d, 0x3eb17bac, 0xbe4a1141, 0xbf86fcc5, 0x3fa3955c,
    0xbe30529c, 0x3f061700, 0x3d67ec48, 0x3eda437d, 0x3f133388, 0xbf244808, 0xc00d35a2, 0xbf4034a1,
    0x3c32104d, 0xbead6fa3, 0xbfab9b63, 0xbf15dad8, 0x3f24088a, 0x3f154fb4, 0x3f88910e, 0xbee67a81,
    0xbf2dc2c1, 0x3f130661, 0x3e40414d, 0xbeb71a5d, 0x3e87a238, 0x3fa2f72e, 0xbaabd149, 0xbe9b71f4,
    0xbf7c873e, 0x3dfc8440, 0x3eb321de, 0x3f1e061c,
];
const RANDN3A_S42: [u32; 3] = [0x3eac62ae, 0x3e03e69d, 0x3e7016e7];
const RANDN3B_S42: [u32; 3] = [0x3e6bdc6c, 0xbf8fb9c2, 0xbe3eccd8];
const RANDN64_5_S42: [u64; 5] = [
    0x3fd58c55b33d44cc,
    0x3fc07cd39b3d4b85,
    0x3fce02dcdb63ec41,
    0x3fcd7b8d7b0a7c22,
    0xbff1f7383f8320c1,
];
const RANDN64_20_S42: [u64; 20] = [
    0x3fd32bee22ccb503,
    0x3fcf063c46668b78,
    0x3fd22011e840abbd,
    0xbfcdd10ce0b8c5a4,
    0xbfa30c45c7145abe,
    0x3ff0905f784f7792,
    0xbf84a7b7ceff41c7,
    0x3fb6e82bfad73187,
    0x3fa3adc896b5cc6a,
    0xbfbe4538c09260c9,
    0xbffbe9b43ed602a1,
    0xbfde0ba28e5487fe,
    0x3fd91cd551d1ca00,
    0x3ff1bc41cab382c5,
    0x3febaf804309bfb6,
    0x3feb5deddd314d28,
    0x3fcfecba7d412db7,
    0x3fd0bdc98531685d,
    0xbff86cb9522f4ff6,
    0xbfd53162f2f5ea4f,
];
const NORMAL5_S42: [u32; 5] = [0x400b18ab, 0x3fe0f9a7, 0x3ffc05ba, 0x3ffaf71b, 0xbf3ee708];
const NORMAL20_S42: [u32; 20] = [
    0x40ab5294, 0x408f2faa, 0x40534ab4, 0xc02d81b6, 0xbc853880, 0x406a0650, 0x404680a2, 0x409b8f4a,
    0x400d8cd1, 0x3e01cbd0, 0x3f0366cc, 0x3ffdd225, 0x3f84b445, 0x3fcab0c0, 0x3f7f3186, 0x404e0fd8,
    0x3f616b7e, 0x3f35656f, 0x4046d61e, 0x3e837c80,
];
const RANDPERM10_S7: [i64; 10] = [5, 0, 3, 4, 1, 7, 9, 6, 8, 2];
const RANDPERM100_S7: [i64; 100] = [
    15, 59, 71, 57, 2, 27, 87, 54, 36, 96, 98, 76, 28, 43, 8, 80, 58, 91, 61, 25, 56, 5, 99, 9, 60,
    93, 95, 42, 70, 3, 31, 53, 92, 81, 26, 14, 24, 35, 83, 41, 1, 64, 68, 37, 52, 23, 0, 29, 32,
    34, 40, 75, 6, 10, 86, 97, 39, 89, 62, 12, 90, 79, 4, 48, 45, 85, 38, 33, 78, 84, 67, 50, 16,
    51, 73, 63, 17, 46, 65, 66, 11, 22, 47, 7, 49, 94, 69, 21, 74, 82, 72, 55, 30, 44, 18, 88, 77,
    13, 20, 19,
];
const LINEAR_W_S0: [u32; 6] = [
    0xbb8da3e8, 0x3e9e9313, 0xbef34b7e, 0xbed98bc9, 0xbe63b4b1, 0x3e1e8953,
];
const LINEAR_B_S0: [u32; 2] = [0xbc3b6b40, 0x3eea617a];
const RAND3_BIGSEED: [u32; 3] = [0x3f548b63, 0x3e012338, 0x3f684fef];
const DEFAULT_RANDN17_S42: [u32; 17] = [
    0x3ff6a527, 0xbe236d7b, 0xbefeaae2, 0x3ee111d7, 0xbf4214e2, 0x3f8a0650, 0x3f4d0143, 0x3fd71e93,
    0x3eb63341, 0x3fa5f12f, 0x3f1c4788, 0x3faad8b0, 0xbe6d2eed, 0x3d2b0c00, 0xbe80ce7a, 0x3f5c1fb0,
    0xbe9e9487,
];
const DEFAULT_NORMAL20_S42: [u32; 20] = [
    0x40ab5294, 0x408f2faa, 0x40534ab4, 0xc02d81ba, 0xbc853880, 0x406a0650, 0x404680a2, 0x409b8f4a,
    0x400d8cd0, 0x3e01cbd0, 0x3f0366cc, 0x3ffdd225, 0x3f84b445, 0x3fcab0c0, 0x3f7f3186, 0x404e0fd8,
    0x3f616b79, 0x3f35656f, 0x4046d61e, 0x3e837c80,
];
const DEFAULT_LINEAR_W_S0: [u32; 6] = [
    0xbb8da400, 0x3e9e9314, 0xbef34b7e, 0xbed98bc8, 0xbe63b4b2, 0x3e1e8954,
];
const DEFAULT_LINEAR_B_S0: [u32; 2] = [0xbc3b6b40, 0x3eea617c];

#[test]
fn mt19937_reference_value() {
    // The C++ standard requires the 10000th output of a default-seeded
    // std::mt19937 to be 4123659995.
    let mut mt = Mt19937::default();
    let mut last = 0;
    for _ in 0..10_000 {
        last = mt.next_u32();
    }
    assert_eq!(last, 4_123_659_995);
}

#[test]
fn rand_known_values_seed_314() {
    let mut g = Generator::new(314);
    let got = g.rand_f32(6);
    let expected = [0.7196, 0.6295, 0.6667, 0.3385, 0.8522, 0.3126];
    for (x, e) in got.iter().zip(expected) {
        assert!((x - e).abs() < 5e-5, "{got:?}");
    }
}

#[test]
fn rand_indicator_rows_seed_123() {
    let mut g = Generator::new(123);
    let got: Vec<u8> = g
        .rand_f32(17 * 3)
        .iter()
        .map(|&x| u8::from(x < 0.2))
        .collect();
    let expected: [[u8; 3]; 17] = [
        [0, 0, 0],
        [0, 1, 0],
        [1, 1, 1],
        [0, 0, 0],
        [1, 1, 0],
        [0, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
        [1, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
    ];
    assert_eq!(got, expected.concat());
}

#[test]
fn rand_matches_torch() {
    assert_eq!(bits32(&Generator::new(0).rand_f32(7)), RAND7_S0);
    assert_eq!(bits64(&Generator::new(1).rand_f64(5)), RAND64_5_S1);
    let mut g = Generator::new(2);
    assert_eq!(bits32(&g.uniform_f32(10, -0.5, 0.5)), UNIFORM10_S2);
}

#[test]
fn large_seed_is_truncated_but_remembered() {
    let seed = (1u64 << 40) + 5;
    let mut g = Generator::new(seed);
    assert_eq!(g.initial_seed(), seed);
    assert_eq!(bits32(&g.rand_f32(3)), RAND3_BIGSEED);
    assert_eq!(
        Generator::new(5).rand_f32(3),
        Generator::new(seed).rand_f32(3)
    );
}

#[test]
fn randn_scalar_path_matches_torch() {
    for n in [1, 2, 5, 15] {
        let got = Generator::new(42).randn_f32(n);
        assert_eq!(bits32(&got), RANDN15_S42[..n], "n = {n}");
    }
    // Consecutive small calls continue the cached Box-Muller pair.
    let mut g = Generator::new(42);
    assert_eq!(bits32(&g.randn_f32(3)), RANDN3A_S42);
    assert!(g.next_double_normal_sample().is_some());
    assert_eq!(bits32(&g.randn_f32(3)), RANDN3B_S42);
    assert_eq!(bits64(&Generator::new(42).randn_f64(5)), RANDN64_5_S42);
    let mut g = Generator::new(42);
    assert_eq!(bits32(&g.normal_f32(5, 1.5, 2.0)), NORMAL5_S42);
}

#[test]
fn randn_vector_path_matches_torch_avx2() {
    let cases: [(usize, &[u32]); 4] = [
        (16, &RANDN16_S42),
        (17, &RANDN17_S42),
        (33, &RANDN33_S42),
        (100, &RANDN100_S42),
    ];
    for (n, expected) in cases {
        assert_eq!(
            bits32(&Generator::new(42).randn_f32(n)),
            expected,
            "n = {n}"
        );
    }
    assert_eq!(bits64(&Generator::new(42).randn_f64(20)), RANDN64_20_S42);
    let mut g = Generator::new(42);
    assert_eq!(bits32(&g.normal_f32(20, 1.5, 2.0)), NORMAL20_S42);
}

#[test]
fn randn_vector_path_matches_torch_default_capability() {
    let mut g = Generator::new(42).with_capability(CpuCapability::Default);
    assert_eq!(bits32(&g.randn_f32(17)), DEFAULT_RANDN17_S42);
    g.manual_seed(42);
    assert_eq!(bits32(&g.normal_f32(20, 1.5, 2.0)), DEFAULT_NORMAL20_S42);
    // The two builds really differ (in the last bits only).
    assert_ne!(DEFAULT_RANDN17_S42, RANDN17_S42);
}

#[test]
fn reseeding_clears_the_cached_sample() {
    let mut g = Generator::new(3);
    let first = g.randn_f32(3)[0];
    g.manual_seed(3);
    assert_eq!(g.randn_f32(1)[0], first);
}

#[test]
fn randperm_matches_torch() {
    assert_eq!(Generator::new(7).randperm(10), RANDPERM10_S7);
    assert_eq!(Generator::new(7).randperm(100), RANDPERM100_S7);
    for n in [0, 1, 2, 57] {
        let mut p = Generator::new(9).randperm(n);
        p.sort_unstable();
        assert_eq!(p, (0..n as i64).collect::<Vec<_>>());
    }
}

/// Replays `torch.manual_seed(0); torch.nn.Linear(3, 2)`:
/// `kaiming_uniform_(weight, a=sqrt(5))` draws the 2x3 weight row-major
/// from U(-bound, bound) with bound = sqrt(3) * gain / sqrt(fan_in),
/// gain = sqrt(2 / (1 + a^2)) (all in Python doubles), then the bias
/// draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
fn linear_3_2(capability: CpuCapability) -> (Vec<f32>, Vec<f32>) {
    let fan_in = 3.0f64;
    let a = 5.0f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let bound = 3.0f64.sqrt() * (gain / fan_in.sqrt());
    let mut g = Generator::new(0).with_capability(capability);
    let weight = g.uniform_f32(6, -bound, bound);
    let bias_bound = 1.0 / fan_in.sqrt();
    let bias = g.uniform_f32(2, -bias_bound, bias_bound);
    (weight, bias)
}

#[test]
fn linear_init_matches_torch() {
    let (w, b) = linear_3_2(CpuCapability::Avx2);
    assert_eq!(bits32(&w), LINEAR_W_S0);
    assert_eq!(bits32(&b), LINEAR_B_S0);
    let (w, b) = linear_3_2(CpuCapability::Default);
    assert_eq!(bits32(&w), DEFAULT_LINEAR_W_S0);
    assert_eq!(bits32(&b), DEFAULT_LINEAR_B_S0);
}

#[test]
fn empty_requests_draw_nothing() {
    let mut g = Generator::new(11);
    assert!(g.rand_f32(0).is_empty());
    assert!(g.rand_f64(0).is_empty());
    assert!(g.uniform_f32(0, -1.0, 1.0).is_empty());
    assert!(g.randn_f32(0).is_empty());
    assert!(g.randn_f64(0).is_empty());
    assert!(g.normal_f32(0, 0.0, 1.0).is_empty());
    assert!(g.randperm(0).is_empty());
    assert_eq!(g.random(), Generator::new(11).random());
}

#[test]
fn degenerate_arguments_do_not_panic() {
    let mut g = Generator::new(1);
    assert!(g.uniform_f32(20, 2.0, 2.0).iter().all(|&x| x == 2.0));
    let _ = g.uniform_f32(20, 1.0, -1.0);
    let _ = g.uniform_f32(20, f64::NAN, f64::INFINITY);
    let _ = g.normal_f32(40, 0.0, -1.0);
    let _ = g.normal_f64(3, f64::NAN, 1.0);
}

#[test]
fn default_generator() {
    manual_seed(0);
    let (seed, values) = with_default_generator(|g| {
        g.manual_seed(0);
        (g.initial_seed(), g.rand_f32(7))
    });
    assert_eq!(seed, 0);
    assert_eq!(bits32(&values), RAND7_S0);
    assert_eq!(Generator::default().initial_seed(), DEFAULT_SEED);
}
