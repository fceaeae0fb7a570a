//! What the soak tests measure about the process (Linux `/proc`); `None` where it cannot be
//! read, and the tests then skip that check with a message. Also the small training step they
//! run. Shared by the soak test binaries and `examples/soak.rs` (by `#[path]`).

#![allow(dead_code)] // each user needs part of it

/// A field of `/proc/self/status` (`Threads:`, `VmRSS:`), as its first number.
fn status_field(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The number of threads of this process.
pub fn threads() -> Option<usize> {
    status_field("Threads:").map(|n| n as usize)
}

/// The kernel's page size in bytes, from the first mapping in `/proc/self/smaps`.
fn page_size() -> Option<u64> {
    static PAGE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let line = smaps.lines().find(|l| l.starts_with("KernelPageSize:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// Resident memory in bytes: `/proc/self/statm`'s second field (pages) times the page size.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size()?)
}

/// A 4-16-1 MLP with MSE and Adam as one training step, and a fixed batch of 32 for it.
pub struct SmallStep {
    /// The graph the step was built in.
    pub graph: kiln::Graph,
    /// Forward, backward and update as one program.
    pub step: kiln::optim::TrainStep,
    /// The batch's inputs, `f32[32, 4]`.
    pub x: kiln::HostTensor,
    /// Its targets `y = x0 - 2 x1 + 0.5 x2 x3`, `f32[32, 1]`.
    pub y: kiln::HostTensor,
}

/// The [`SmallStep`] the training soaks run.
pub fn small_train_step() -> kiln::Result<SmallStep> {
    use kiln::nn::loss::MseLoss;
    use kiln::nn::{Linear, Module, ReLU, Sequential};
    use kiln::optim::{Adam, TrainStep};
    use kiln::{manual_seed, DType, Graph, HostTensor, Shape};
    manual_seed(3);
    let g = Graph::new();
    let model = Sequential::new()
        .add(Linear::new(&g, "fc1", 4, 16, true)?)
        .add(ReLU)
        .add(Linear::new(&g, "fc2", 16, 1, true)?);
    let x = g.input("x", DType::F32, &[32, 4])?;
    let y = g.input("y", DType::F32, &[32, 1])?;
    let loss = MseLoss::default().forward(&model.forward(&x)?, &y)?;
    let mut adam = Adam::new(model.named_parameters(), 1e-3);
    let step = TrainStep::new(&loss, &mut adam)?;
    let xs: Vec<f64> = (0..128)
        .map(|i| ((i * 37) % 23) as f64 / 11.0 - 1.0)
        .collect();
    let ys: Vec<f64> = xs
        .chunks(4)
        .map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] * r[3])
        .collect();
    let xv = HostTensor::from_f64(DType::F32, Shape::new(&[32, 4])?, &xs)?;
    let yv = HostTensor::from_f64(DType::F32, Shape::new(&[32, 1])?, &ys)?;
    Ok(SmallStep {
        graph: g,
        step,
        x: xv,
        y: yv,
    })
}
