//! Persistent helper threads for the GEMM: starting and joining a scoped thread costs 75-110 µs
//! on the 2-core VM this was tuned on, waking a parked one about 10 µs, which matters for
//! products of a few hundred microseconds.
//!
//! A product first [`acquire`]s the pool: it gets up to `threads - 1` helpers (started on first
//! use, then asleep on a condition variable), and [`Lease::run`] hands them one job while the
//! calling thread runs part 0. One product uses the pool at a time; a product that finds it
//! busy (another thread's product), or a process that cannot start a helper, gets fewer parts
//! — down to one, on the calling thread. The GEMM's results do not depend on the number of
//! parts, so this changes only the speed, and no thread is ever started per product.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};

/// A job: `call(data, t)` runs part `t`; parts `1..=helpers` go to helpers `1..=helpers`.
#[derive(Clone, Copy)]
struct Job {
    call: unsafe fn(*const (), usize),
    data: *const (),
    helpers: usize,
    generation: u64,
}

// SAFETY: `data` points at a `&(dyn Fn(usize) + Sync)` that the submitting thread keeps alive
// until every helper has finished the job (`run` waits for that), and the closure is `Sync`.
unsafe impl Send for Job {}

struct State {
    job: Option<Job>,
    generation: u64,
    /// Helpers started so far (helper `i` takes part `i`).
    started: usize,
    /// Helpers still running the current job.
    running: usize,
}

struct Pool {
    state: Mutex<State>,
    start: Condvar,
    done: Condvar,
    /// Held by the product using the pool.
    busy: Mutex<()>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State {
            job: None,
            generation: 0,
            started: 0,
            running: 0,
        }),
        start: Condvar::new(),
        done: Condvar::new(),
        busy: Mutex::new(()),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks (a panicking part aborts), but do not let a
    // poisoned lock turn into a second failure.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts the process if dropped during unwinding: the parts of a job may be waiting for each
/// other at a barrier and borrow the submitter's stack, so a panicking part can neither be
/// waited for nor abandoned. (The GEMM's parts do not panic; this is the backstop.)
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

/// The right to use the pool for one product: how many parts it may run at once.
pub struct Lease {
    /// Held while the product uses the helpers (`None`: no helpers, one part).
    _busy: Option<MutexGuard<'static, ()>>,
    threads: usize,
}

/// Reserves up to `threads` parts (this thread and `threads - 1` helpers) for one product.
pub fn acquire(threads: usize) -> Lease {
    let alone = Lease {
        _busy: None,
        threads: 1,
    };
    if threads <= 1 {
        return alone;
    }
    let pool = pool();
    let busy = match pool.busy.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return alone,
    };
    let mut st = lock(&pool.state);
    while st.started < threads - 1 {
        let index = st.started + 1;
        let spawned = std::thread::Builder::new()
            .name(format!("kiln-gemm-{index}"))
            .spawn(move || helper(index));
        if spawned.is_err() {
            // Run with the helpers that exist; a later product tries again.
            break;
        }
        st.started = index;
    }
    Lease {
        threads: threads.min(st.started + 1),
        _busy: Some(busy),
    }
}

impl Lease {
    /// How many parts [`Lease::run`] runs at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(0)` on this thread and `f(1), ..., f(threads - 1)` on the helpers, all at the
    /// same time (the parts may wait for each other), and returns when every part has
    /// returned.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let threads = self.threads;
        if threads <= 1 {
            f(0);
            return;
        }
        let pool = pool();
        /// # Safety
        /// `data` must point at a live `&(dyn Fn(usize) + Sync)`.
        unsafe fn call(data: *const (), t: usize) {
            // SAFETY: see the function's contract; `run` passes `&f` and outlives the call.
            let f = unsafe { *(data as *const &(dyn Fn(usize) + Sync)) };
            f(t);
        }
        let data = &f as *const &(dyn Fn(usize) + Sync) as *const ();
        {
            let mut st = lock(&pool.state);
            st.generation += 1;
            st.job = Some(Job {
                call,
                data,
                helpers: threads - 1,
                generation: st.generation,
            });
            st.running = threads - 1;
        }
        pool.start.notify_all();
        let guard = AbortOnUnwind;
        f(0);
        let mut st = lock(&pool.state);
        while st.running > 0 {
            st = pool.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.job = None;
        drop(st);
        std::mem::forget(guard);
    }
}

/// Helper `index`: waits for each new job that has a part for it, runs the part, reports back.
fn helper(index: usize) {
    let pool = pool();
    let mut seen = 0;
    loop {
        let job = {
            let mut st = lock(&pool.state);
            loop {
                if let Some(job) = st.job.filter(|j| j.generation != seen) {
                    seen = job.generation;
                    if index <= job.helpers {
                        break job;
                    }
                }
                st = pool.start.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let guard = AbortOnUnwind;
        // SAFETY: the submitter keeps `data` alive until `running` drops to 0, which happens
        // only after this call returns.
        unsafe { (job.call)(job.data, index) };
        std::mem::forget(guard);
        let mut st = lock(&pool.state);
        st.running -= 1;
        if st.running == 0 {
            pool.done.notify_one();
        }
    }
}
