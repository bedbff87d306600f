//! A hint to the CPU to start loading memory that is about to be read: the
//! matcher requests an event's tuple slots and candidates before reading
//! them, so their cache misses overlap.

/// Ask the CPU to start loading the cache line at `p` (only a hint).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; a prefetch never
        // faults and reads nothing into the program, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
