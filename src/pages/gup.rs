// SPDX-License-Identifier: GPL-2.0

//! Pages of a user range held for as long as their owner wants: taken with
//! `pin_user_pages_fast()` (`FOLL_PIN`, the modern semantics, optionally `FOLL_LONGTERM`) or
//! `get_user_pages_fast()` (`FOLL_GET` references, the pre-2020 O_DIRECT semantics kept for
//! experiments), and released exactly once the matching way.

use super::{
    extract::Retention,
    view::{
        page_spans,
        Access,
        PageRef,
        Span, //
    },
};
use crate::glue::shim;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
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

/// How to take a range, beyond what the device may do with it (the access type of
/// [`HeldPages`], which decides `FOLL_WRITE`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HoldOptions {
    /// [`Retention::Pinned`] (`FOLL_PIN`) or [`Retention::Referenced`] (`FOLL_GET`).
    pub(crate) retention: Retention,
    /// `FOLL_LONGTERM` (only with [`Retention::Pinned`]).
    pub(crate) longterm: bool,
    /// `FOLL_NOFAULT`: only pages already present.
    pub(crate) nofault: bool,
}

impl HoldOptions {
    /// The `FOLL_*` flags for access `A`; `EINVAL` for a combination the kernel refuses
    /// (`FOLL_LONGTERM` without `FOLL_PIN`, which `get_user_pages_fast()` WARNs on) or for
    /// [`Retention::Listed`], which nothing holds.
    fn gup_flags<A: Access>(self) -> Result<u32> {
        match (self.retention, self.longterm) {
            (Retention::Listed, _) | (Retention::Referenced, true) => return Err(EINVAL),
            _ => {}
        }
        let mut flags = 0;
        if A::WRITE {
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

/// The pages of one user range with access `A`, held by pin or reference, released (dirty if
/// the device wrote into them) when dropped.
///
/// # Invariants
///
/// Each of the `pages.len()` entries is a non-null page holding what `options.retention` says
/// (one pin or one reference) on behalf of this value; [`HeldPages::release`] gives them all
/// back exactly once and empties `pages`. If `A::WRITE`, they were taken with `FOLL_WRITE`.
/// `written` is set before the device writes into any of them.
pub(crate) struct HeldPages<A: Access> {
    pages: KVVec<*mut bindings::page>,
    options: HoldOptions,
    written: bool,
    _access: PhantomData<A>,
}

// SAFETY: The held pages are not tied to the task that took them: any task may use and release
// them (in process context), and the array is an owned allocation.
unsafe impl<A: Access> Send for HeldPages<A> {}

// SAFETY: `&self` methods only read the array and page metadata; nothing is mutated through a
// shared reference.
unsafe impl<A: Access> Sync for HeldPages<A> {}

impl<A: Access> HeldPages<A> {
    /// Takes `nr_pages` pages of the current process at page-aligned `addr`, `per_call` pages per
    /// call (0: all in one call), `FOLL_WRITE` if `A::WRITE`. All or nothing: if any call fails
    /// or comes back short, what was taken is released and `EFAULT` (or the call's error:
    /// `ENOMEM`, `EINTR`, ...) returned; `EINVAL` for options the kernel refuses. May sleep.
    ///
    /// Returns the pages and the time spent in the `pin_user_pages_fast()` or
    /// `get_user_pages_fast()` calls.
    pub(crate) fn take(
        addr: usize,
        nr_pages: usize,
        per_call: usize,
        options: HoldOptions,
    ) -> Result<(Self, Delta)> {
        let gup_flags = options.gup_flags::<A>()?;
        let per_call = match per_call {
            0 => nr_pages,
            n => n.min(nr_pages),
        };
        let mut held = HeldPages {
            // Zeroed like gup_test's kvcalloc(), so that first touches of the array happen
            // here, outside the timed calls, in both.
            pages: KVVec::with_capacity(nr_pages, GFP_KERNEL | __GFP_ZERO)?,
            options,
            written: false,
            _access: PhantomData,
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
                match options.retention {
                    Retention::Referenced => {
                        bindings::get_user_pages_fast(at, nr, gup_flags, slots)
                    }
                    _ => bindings::pin_user_pages_fast(at, nr, gup_flags, slots),
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

    /// The options the pages were taken with.
    pub(crate) fn options(&self) -> HoldOptions {
        self.options
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
    pub(crate) fn read_segments(
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

    /// The bytes `offset..offset + len` as segments for the device, with the range's access:
    /// writable views of a range taken with `FOLL_WRITE` (then released dirty), readable ones
    /// otherwise. `None` if the bytes are not all held.
    pub(crate) fn segments(
        &mut self,
        offset: usize,
        len: usize,
    ) -> Option<impl Iterator<Item = (A::View<'_>, Span)> + '_> {
        self.check_bytes(offset, len)?;
        // INVARIANT: Set before handing out writable pages.
        self.written |= A::WRITE;
        Some(
            self.pages
                .iter()
                .skip(offset / PAGE_SIZE)
                .filter_map(|&p| {
                    // SAFETY: Held pages stay valid while `self` is borrowed, and were taken
                    // with `FOLL_WRITE` if `A::WRITE` (type invariants).
                    NonNull::new(p).map(|p| unsafe { A::view(p) })
                })
                .zip(page_spans(offset, len)),
        )
    }

    fn check_bytes(&self, offset: usize, len: usize) -> Option<()> {
        let end = offset.checked_add(len)?;
        (end <= self.pages.len().checked_mul(PAGE_SIZE)?).then_some(())
    }

    /// Gives all pages back, dirtying them first if `dirty` and the range is writable
    /// (`unpin_user_pages_dirty_lock()`, or `set_page_dirty_lock()` and `release_pages()`).
    /// Returns the time the release calls took. A second call releases nothing. Process
    /// context: a dirtying release takes folio locks.
    pub(crate) fn release(&mut self, dirty: bool) -> Delta {
        // A read-only pin may hold the shared zero page or page cache the device never
        // touched, which must not be dirtied.
        let dirty = dirty && A::WRITE;
        let nr = self.pages.len();
        let pages = self.pages.as_mut_ptr();
        let start = Instant::<Monotonic>::now();
        if nr != 0 {
            match self.options.retention {
                Retention::Referenced => {
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
                // SAFETY: `pages[..nr]` hold one pin each, owned by `self` (type invariants:
                // `take()` refuses `Listed`).
                _ => unsafe { bindings::unpin_user_pages_dirty_lock(pages, nr as c_ulong, dirty) },
            }
        }
        let elapsed = start.elapsed();
        // INVARIANT: Every page was given back above.
        self.pages.clear();
        elapsed
    }
}

impl<A: Access> Drop for HeldPages<A> {
    fn drop(&mut self) {
        self.release(self.written);
    }
}
