//! 64-byte aligned scratch for the packed panels.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;

/// Alignment of every packed panel buffer (a cache line; also what aligned AVX loads need).
pub const ALIGN: usize = 64;

/// A zero-initialised, 64-byte aligned buffer of `len` elements of a plain float type, owned by
/// one thread for the duration of one product.
pub struct Scratch<T> {
    ptr: *mut T,
    layout: Layout,
    _own: PhantomData<T>,
}

impl<T: Copy> Scratch<T> {
    /// Allocates `len` zeroed elements (at least one, so the pointer is never dangling).
    pub fn new(len: usize) -> Scratch<T> {
        let bytes = len
            .max(1)
            .checked_mul(size_of::<T>())
            .expect("scratch size overflows");
        let layout =
            Layout::from_size_align(bytes, ALIGN.max(align_of::<T>())).expect("scratch layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) } as *mut T;
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Scratch {
            ptr,
            layout,
            _own: PhantomData,
        }
    }

    /// The first element (64-byte aligned); valid for `len` reads and writes while `self`
    /// lives. All-zero bits are a valid f32/f64 (0.0), so every element is initialised.
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr
    }
}

impl<T> Drop for Scratch<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly this layout and is freed once.
        unsafe { dealloc(self.ptr as *mut u8, self.layout) };
    }
}
