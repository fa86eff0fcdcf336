//! The process's Rust allocator: the system's, except that huge requests are served by
//! reserving address space the kernel backs only when it is touched.
//!
//! Why: kafka-protocol 0.18 sizes a decoded array's `Vec` by the element count read off
//! the wire before reading any element (kafka-protocol-rs#152), so a 19-byte request
//! claiming 2^31 topics asks for ~150 GB at once. The system allocator refuses, and a
//! refused allocation aborts the whole process: the application samsa is embedded in.
//! Served lazily, the reservation costs nothing; decoding then fails at the first missing
//! element and the connection is closed, as for any malformed request. Allocations of
//! ordinary sizes go to the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// Requests from this size on are reserved lazily.
const HUGE: usize = 1 << 30;

pub struct Allocator;

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096).max(4096)
}

unsafe fn reserve(layout: Layout) -> *mut u8 {
    if layout.align() > page() {
        return std::ptr::null_mut();
    }
    // SAFETY: an anonymous private mapping; MAP_NORESERVE leaves the pages unaccounted
    // until written.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: every pointer handed out is released by the path that made it: the size, which
// the caller passes back unchanged, tells which.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= HUGE {
            // SAFETY: see `reserve`.
            unsafe { reserve(layout) }
        } else {
            // SAFETY: forwarded as is.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= HUGE {
            // Anonymous mappings are zeroed by the kernel.
            // SAFETY: see `reserve`.
            unsafe { reserve(layout) }
        } else {
            // SAFETY: forwarded as is.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= HUGE {
            // SAFETY: the mapping was made by `reserve` with this size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: forwarded as is.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < HUGE && new_size < HUGE {
            // SAFETY: forwarded as is.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing the threshold (or moving a huge block): allocate, copy, free.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else { return std::ptr::null_mut() };
        // SAFETY: `alloc` and `dealloc` above; the copy stays within both blocks.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_huge_vec_is_reserved_not_refused() {
        // About 150 GB, as a wire request claiming 2^31 elements of 72 bytes asks for.
        let v: Vec<[u8; 72]> = Vec::with_capacity(1 << 31);
        assert!(v.capacity() >= 1 << 31);
        drop(v);
        let mut small = Vec::with_capacity(16);
        small.extend_from_slice(b"still the system");
        assert_eq!(small.len(), 16);
    }
}
