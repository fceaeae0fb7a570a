//! What the soak tests measure about the process (Linux `/proc`); `None` where it cannot be
//! read, and the tests then skip that check with a message. Shared by the soak test binaries
//! and `examples/soak.rs` (by `#[path]`).

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
