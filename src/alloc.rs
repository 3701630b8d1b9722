//! Rust's allocator for the server: mimalloc, asked the way its fast path wants.
//!
//! A request's head, header pairs and response strings are a dozen small allocations freed
//! together; glibc's per-thread cache keeps seven chunks a size, so most of them went through
//! `_int_free` and fastbins (README "Where the time goes"). mimalloc starts no thread, so the
//! master stays single-threaded for its forks (DESIGN §7). CPython keeps its own allocators.
//!
//! The `mimalloc` crate's `GlobalAlloc` passes every request to `mi_malloc_aligned`. When the
//! page of a size has no free block at hand, that call takes mimalloc's generic aligned path,
//! and for a size that is not a power of two (a 48-byte `Vec` of one header pair) it
//! over-allocates from a larger size class. Every mimalloc block is at least 8-aligned (block
//! sizes are multiples of the word, pages start 16-aligned), so an alignment of at most 8 is
//! plain `mi_malloc`'s, which is what std's own `System` does with malloc.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// What every mimalloc block is aligned to at least (the word size).
const BLOCK_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc, with plain `mi_malloc` for the alignments every block has.
pub struct Allocator;

// SAFETY: every pointer comes from mimalloc and goes back to `mi_free`/`mi_realloc*`, which take
// blocks from either of its entry points; an alignment above `BLOCK_ALIGN` is passed on to
// mimalloc's aligned calls, which honour it; null is returned on failure, as GlobalAlloc asks.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C allocation calls; the layout's size and alignment are valid.
        unsafe {
            match layout.align() <= BLOCK_ALIGN {
                true => mi::mi_malloc(layout.size()),
                false => mi::mi_malloc_aligned(layout.size(), layout.align()),
            }
        }
        .cast()
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            match layout.align() <= BLOCK_ALIGN {
                true => mi::mi_zalloc(layout.size()),
                false => mi::mi_zalloc_aligned(layout.size(), layout.align()),
            }
        }
        .cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract), so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from mimalloc with `layout` (GlobalAlloc's contract).
        unsafe {
            match layout.align() <= BLOCK_ALIGN {
                true => mi::mi_realloc(ptr.cast::<c_void>(), new_size),
                false => mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()),
            }
        }
        .cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_alignment() {
        let allocator = Allocator;
        for size in [1, 3, 8, 24, 48, 100, 4000, 70_000] {
            for align in [1, 2, 8, 16, 64] {
                let layout = Layout::from_size_align(size, align).expect("valid layout");
                // SAFETY: a non-zero size; the block is freed with the layout it was made with.
                unsafe {
                    let p = allocator.alloc(layout);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size}/{align}"
                    );
                    let p = allocator.realloc(p, layout, size * 2);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size}/{align} grown"
                    );
                    let grown = Layout::from_size_align(size * 2, align).expect("valid");
                    allocator.dealloc(p, grown);
                }
            }
        }
    }
}
