//! The process's worker threads: one pool, shared by every executable's loop kernels and the
//! JIT's parallel compilation, started on first use and never per compilation or per run.
//!
//! A program built and evaluated in a loop (a notebook, a server, gradient descent that
//! rebuilds its loss) compiles many executables; if each owned its threads, the process would
//! run out of them. So executables only say how many parts to split a kernel into, and the
//! parts run here. (The GEMM keeps its own persistent helpers, `gemm/blocked/pool.rs`, tuned
//! for its barrier-synchronised parts; they too start once per process.)
//!
//! Size: `KILN_THREADS` when it holds a positive integer, else one thread per available core
//! ([`configured_threads`]), read once per process.

use std::sync::{Mutex, OnceLock};

use crate::error::{CodegenError, Result};

/// The number of threads kiln's CPU backend uses: `KILN_THREADS` when it holds a positive
/// integer (at most [`MAX_THREADS_PER_CORE`] per core: more only adds scheduling cost), else
/// `std::thread::available_parallelism()` (1 when that is unknown). Read once.
pub fn configured_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::var("KILN_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map_or(cores, |n| n.min(MAX_THREADS_PER_CORE * cores))
    })
}

/// The most threads per core `KILN_THREADS` may ask for.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The process-wide worker pool ([`configured_threads`] threads), started by the first call.
///
/// # Errors
/// [`CodegenError::Unsupported`] when the operating system refuses to start the threads; the
/// next call tries again.
pub fn worker_pool() -> Result<&'static rayon::ThreadPool> {
    // A `Mutex` rather than a `OnceLock` so that a failed start is retried, not remembered.
    static POOL: Mutex<Option<&'static rayon::ThreadPool>> = Mutex::new(None);
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = *pool {
        return Ok(p);
    }
    let threads = configured_threads();
    let started = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("kiln-cpu-{i}"))
        .build()
        .map_err(|e| CodegenError::Unsupported {
            backend: "cpu",
            what: format!("cannot start {threads} worker threads: {e}"),
        })?;
    // Leaked on purpose: the pool lives as long as the process, like the executables using it.
    let leaked: &'static rayon::ThreadPool = Box::leak(Box::new(started));
    *pool = Some(leaked);
    Ok(leaked)
}
