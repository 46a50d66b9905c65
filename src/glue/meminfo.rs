// SPDX-License-Identifier: GPL-2.0

//! Questions about the machine's memory.

use crate::glue::shim;
use kernel::bindings;

/// Pages of RAM the kernel manages (`totalram_pages()`, `MemTotal` in `/proc/meminfo`).
pub(crate) fn total_pages() -> usize {
    // SAFETY: Reads a global counter; any context.
    unsafe { shim::pinio_totalram_pages() }
}

/// The kernel's estimate of the pages user space could still allocate without swapping or
/// invoking the OOM killer (`si_mem_available()`, `MemAvailable` in `/proc/meminfo`).
pub(crate) fn available_pages() -> usize {
    // SAFETY: Reads global counters and the zones' watermarks; any context.
    let pages = unsafe { bindings::si_mem_available() };
    usize::try_from(pages).unwrap_or(0)
}
