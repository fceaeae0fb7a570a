//! 64-byte aligned scratch for the packed panels, cached per calling thread so that repeated
//! products do not pay for fresh pages every call.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;

/// Alignment of the scratch and of every panel carved from it (a cache line; also enough for
/// aligned AVX loads).
pub const ALIGN: usize = 64;

/// A zero-initialised, 64-byte aligned byte buffer.
pub struct Scratch {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: `Scratch` owns its allocation exclusively (like a `Box<[u8]>`); moving it to another
// thread moves the ownership.
unsafe impl Send for Scratch {}

impl Scratch {
    /// Allocates `bytes` zeroed bytes (at least one, so the pointer is never dangling).
    fn new(bytes: usize) -> Scratch {
        let layout = Layout::from_size_align(bytes.max(1), ALIGN).expect("scratch layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Scratch { ptr, layout }
    }

    /// The first byte (64-byte aligned); valid for `len()` reads and writes while `self`
    /// lives. Every byte is initialised (zeroed at allocation), so any all-bits-valid type
    /// (f32, f64) may be read from it.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    fn len(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly this layout and is freed once.
        unsafe { dealloc(self.ptr, self.layout) };
    }
}

thread_local! {
    /// The last scratch this thread used (taken out while in use, so a nested call allocates
    /// its own).
    static CACHE: Cell<Option<Scratch>> = const { Cell::new(None) };
}

/// Runs `f` with a scratch of at least `bytes` bytes, reusing this thread's cached one when it
/// is big enough, and caches the one used afterwards.
pub fn with_scratch<R>(bytes: usize, f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut s = match CACHE.take() {
        Some(s) if s.len() >= bytes => s,
        _ => Scratch::new(bytes),
    };
    let r = f(&mut s);
    CACHE.set(Some(s));
    r
}
