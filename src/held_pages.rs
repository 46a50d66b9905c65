// SPDX-License-Identifier: GPL-2.0

//! Pages held for an ioctl pin: taken with `pin_user_pages_fast()` (`FOLL_PIN`, the modern
//! semantics) or `get_user_pages_fast()` (`FOLL_GET` references, the pre-2020 O_DIRECT
//! semantics kept for experiments), and released exactly once the matching way.

use crate::{
    page_ref::{
        page_spans,
        PageMut,
        PageRef,
        Span, //
    },
    glue::shim, //
};
use core::ptr::NonNull;
use kernel::{
    alloc::flags::__GFP_ZERO,
    bindings,
    ffi::{
        c_int,
        c_ulong, //
    },
    page::PAGE_SIZE,
    prelude::*,
    time::{
        Delta,
        Instant,
        Monotonic, //
    }, //
};

/// How the pages are retained.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retention {
    /// `FOLL_PIN`: `pin_user_pages_fast()`, released with `unpin_user_pages*()`.
    Pin,
    /// `FOLL_GET`: `get_user_pages_fast()`, released with `put_page()` (batched).
    Get,
}

/// What to take: the `FOLL_*` flags beyond the retention mode.
#[derive(Clone, Copy)]
pub(crate) struct Request {
    pub(crate) retention: Retention,
    /// `FOLL_WRITE`: the device may write into the pages.
    pub(crate) write: bool,
    /// `FOLL_LONGTERM` (only with [`Retention::Pin`]).
    pub(crate) longterm: bool,
    /// `FOLL_NOFAULT`: only pages already present.
    pub(crate) nofault: bool,
}

impl Request {
    fn gup_flags(self) -> Result<u32> {
        // `get_user_pages_fast()` WARNs on FOLL_LONGTERM without FOLL_PIN: refuse it here.
        if self.longterm && self.retention == Retention::Get {
            return Err(EINVAL);
        }
        let mut flags = 0;
        if self.write {
            flags |= bindings::FOLL_WRITE;
        }
        if self.longterm {
            flags |= bindings::FOLL_LONGTERM;
        }
        if self.nofault {
            flags |= bindings::FOLL_NOFAULT;
        }
        Ok(flags)
    }
}

/// The pages of one user range, held by pin or reference.
///
/// # Invariants
///
/// Each of the `pages.len()` entries is a non-null page holding one pin (`Retention::Pin`) or
/// one reference (`Retention::Get`) owned by this value; [`HeldPages::release`] gives them all
/// back exactly once and empties `pages`. If `write`, they were taken with `FOLL_WRITE`.
pub(crate) struct HeldPages {
    pages: KVVec<*mut bindings::page>,
    request: Request,
    /// The device wrote into the pages (they are released dirty on close).
    written: bool,
}

// SAFETY: The held pages are not tied to the task that took them: any task may use and release
// them.
unsafe impl Send for HeldPages {}

// SAFETY: `&self` methods only read page metadata.
unsafe impl Sync for HeldPages {}

impl HeldPages {
    /// Takes `nr_pages` pages of the current process at page-aligned `addr`, `per_call` pages per
    /// call (0: all in one call). All or nothing: if any call fails or comes back short, what was
    /// taken is released and `EFAULT` (or the call's error) returned.
    ///
    /// Returns the pages and the time spent in the pin/get calls.
    pub(crate) fn take(
        addr: usize,
        nr_pages: usize,
        per_call: usize,
        request: Request,
    ) -> Result<(Self, Delta)> {
        let gup_flags = request.gup_flags()?;
        let per_call = match per_call {
            0 => nr_pages,
            n => n.min(nr_pages),
        };
        let mut held = HeldPages {
            // Zeroed like gup_test's kvcalloc(), so that first touches of the array happen
            // here, outside the timed calls, in both.
            pages: KVVec::with_capacity(nr_pages, GFP_KERNEL | __GFP_ZERO)?,
            request,
            written: false,
        };
        let mut result = Ok(());
        let start = Instant::<Monotonic>::now();
        while held.pages.len() < nr_pages {
            let done = held.pages.len();
            let chunk = per_call.min(nr_pages - done);
            let Ok(nr) = c_int::try_from(chunk) else {
                result = Err(EINVAL);
                break;
            };
            let at = addr + done * PAGE_SIZE;
            let slots = held
                .pages
                .spare_capacity_mut()
                .as_mut_ptr()
                .cast::<*mut bindings::page>();
            // SAFETY: `slots` has room for `chunk <= capacity - len` page pointers; the range
            // lies in user space as far as we know (the call checks it and fails otherwise).
            let ret = unsafe {
                match request.retention {
                    Retention::Pin => bindings::pin_user_pages_fast(at, nr, gup_flags, slots),
                    Retention::Get => bindings::get_user_pages_fast(at, nr, gup_flags, slots),
                }
            };
            match usize::try_from(ret) {
                Ok(got) if got <= chunk => {
                    // SAFETY: The call filled the first `got` slots with pages it took for us.
                    // INVARIANT: They are now owned by `held`.
                    unsafe { held.pages.inc_len(got) };
                    if got < chunk {
                        result = Err(EFAULT);
                        break;
                    }
                }
                Ok(_) => {
                    result = Err(EINVAL);
                    break;
                }
                Err(_) => {
                    result = Err(Error::from_errno(ret));
                    break;
                }
            }
        }
        let elapsed = start.elapsed();
        // On failure, dropping `held` releases what it took.
        result.map(|()| (held, elapsed))
    }

    /// Number of pages held.
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether the device wrote into the pages.
    pub(crate) fn written(&self) -> bool {
        self.written
    }

    /// The request the pages were taken with.
    pub(crate) fn request(&self) -> Request {
        self.request
    }

    /// The held pages, in address order.
    pub(crate) fn pages(&self) -> impl Iterator<Item = PageRef<'_>> + '_ {
        self.pages.iter().filter_map(|&p| {
            // SAFETY: Held pages stay valid while `self` is borrowed (type invariants).
            NonNull::new(p).map(|p| unsafe { PageRef::from_raw(p) })
        })
    }

    /// The bytes `offset..offset + len` of the range as page segments, for the device to read.
    /// `None` if the bytes are not all held.
    pub(crate) fn segments(
        &self,
        offset: usize,
        len: usize,
    ) -> Option<impl Iterator<Item = (PageRef<'_>, Span)> + '_> {
        self.check_bytes(offset, len)?;
        Some(
            self.pages()
                .skip(offset / PAGE_SIZE)
                .zip(page_spans(offset, len)),
        )
    }

    /// The bytes `offset..offset + len` as segments for the device to write into, marking the
    /// pages written. `Err(EINVAL)` if the bytes are not all held, `Err(EPERM)` if the pages
    /// were taken without `FOLL_WRITE`.
    pub(crate) fn segments_mut(
        &mut self,
        offset: usize,
        len: usize,
    ) -> Result<impl Iterator<Item = (PageMut<'_>, Span)> + '_> {
        self.check_bytes(offset, len).ok_or(EINVAL)?;
        if !self.request.write {
            return Err(EPERM);
        }
        self.written = true;
        Ok(self
            .pages
            .iter()
            .skip(offset / PAGE_SIZE)
            .filter_map(|&p| {
                // SAFETY: Held pages stay valid while `self` is borrowed, and were taken with
                // `FOLL_WRITE` (type invariants), so the device may write into them.
                NonNull::new(p).map(|p| unsafe { PageMut::from_raw(p) })
            })
            .zip(page_spans(offset, len)))
    }

    fn check_bytes(&self, offset: usize, len: usize) -> Option<()> {
        let end = offset.checked_add(len)?;
        (end <= self.pages.len().checked_mul(PAGE_SIZE)?).then_some(())
    }

    /// Gives all pages back, dirtying them first if `dirty`. Returns the time the release calls
    /// took. Idempotent: a second call releases nothing.
    pub(crate) fn release(&mut self, dirty: bool) -> Delta {
        let nr = self.pages.len();
        let pages = self.pages.as_mut_ptr();
        let start = Instant::<Monotonic>::now();
        if nr != 0 {
            match self.request.retention {
                // SAFETY: `pages[..nr]` hold one pin each, owned by `self` (type invariants).
                Retention::Pin => unsafe {
                    bindings::unpin_user_pages_dirty_lock(pages, nr as c_ulong, dirty)
                },
                Retention::Get => {
                    if dirty {
                        for &page in self.pages.iter() {
                            // SAFETY: We hold a reference to `page` (type invariants).
                            unsafe { bindings::set_page_dirty_lock(page) };
                        }
                    }
                    // `release_pages()` takes an `int` count: release in such chunks.
                    for chunk in self.pages.chunks_mut(c_int::MAX as usize) {
                        // SAFETY: Each page holds one reference owned by `self` (type
                        // invariants), dropped here once.
                        unsafe { shim::pinio_put_pages(chunk.as_mut_ptr(), chunk.len() as c_int) };
                    }
                }
            }
        }
        let elapsed = start.elapsed();
        // INVARIANT: Every page was given back above.
        self.pages.clear();
        elapsed
    }
}

impl Drop for HeldPages {
    fn drop(&mut self) {
        self.release(self.written);
    }
}
