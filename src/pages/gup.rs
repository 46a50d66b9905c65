// SPDX-License-Identifier: GPL-2.0

//! Pages of a user range pinned for as long as their owner wants: `pin_user_pages_fast()`
//! (`FOLL_PIN`), optionally `FOLL_LONGTERM`, released exactly once with
//! `unpin_user_pages_dirty_lock()`.
//!
//! This is case 5 of `Documentation/core-api/pin_user_pages.rst` ("pin, write to the page,
//! unpin"): the pages are pinned, written by the kernel or a device through views borrowed
//! from the [`HeldPages`] guard, then unpinned dirty. Pins held for an indefinite time (until
//! user space asks for their release, as with RDMA or registered buffers) must be
//! `FOLL_LONGTERM` ([`HoldOptions::longterm`]): the kernel then migrates the pages out of
//! `ZONE_MOVABLE` and CMA first, and refuses memory that cannot be pinned that long. Charging
//! them to `RLIMIT_MEMLOCK` is the caller's business, as in io_uring.
// BEGIN pinio only
//!
//! pinio also takes `FOLL_GET` references with `get_user_pages_fast()` (the pre-2020 O_DIRECT
//! semantics, kept for experiments: [`Retention::Referenced`] in [`HoldOptions::retention`]),
//! released with `set_page_dirty_lock()` and `release_pages()`; pins through the slow path,
//! `pin_user_pages()` under the mmap lock, as `gup_test` does ([`HoldOptions::slow`]); and
//! says where a take that failed stopped ([`TakeError`]).
// END pinio only
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::view::{
    page_spans,
    Access,
    PageRef,
    Span, //
};
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
    prelude::*, //
};

// BEGIN pinio only
use super::extract::Retention;
use crate::glue::shim;
use kernel::time::{
    Delta,
    Instant,
    Monotonic, //
};
// END pinio only

// BEGIN pinio only
/// Why [`HeldPages::take`] failed: the error, and where.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TakeError {
    /// `EFAULT` for a call that came back short, else the call's own error (or `EINVAL`,
    /// `ENOMEM` before any call).
    pub(crate) error: Error,
    /// Index in the range of the first page not taken: where the failing call stopped.
    pub(crate) at: usize,
    /// Index of the first page of the failing call, and its page count (0: no call was made).
    pub(crate) call: (usize, usize),
}

impl From<TakeError> for Error {
    fn from(e: TakeError) -> Error {
        e.error
    }
}

impl TakeError {
    fn before_any_call(error: Error) -> Self {
        Self {
            error,
            at: 0,
            call: (0, 0),
        }
    }
}
// END pinio only

/// How to pin a range, beyond what the device may do with it (the access type of
/// [`HeldPages`], which decides `FOLL_WRITE`).
///
/// # Examples
///
/// ```
/// use kernel::{
///     mm::gup::{HeldPages, HoldOptions},
///     page::{view::ReadOnly, PAGE_SIZE},
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, uapi};
/// # let len = PAGE_SIZE;
/// # // SAFETY: `kunit_get_current_test()` is the test running in this thread; `kunit_vm_mmap()`
/// # // maps anonymous memory into an mm it attaches to the thread, until the test ends.
/// # let addr = unsafe {
/// #     bindings::kunit_vm_mmap(
/// #         bindings::kunit_get_current_test(),
/// #         core::ptr::null_mut(),
/// #         0,
/// #         len,
/// #         (uapi::PROT_READ | uapi::PROT_WRITE) as usize,
/// #         (uapi::MAP_ANONYMOUS | uapi::MAP_PRIVATE) as usize,
/// #         0,
/// #     )
/// # };
/// # assert_ne!(addr, 0);
///
/// // The page was never touched: without faulting it in, it cannot be pinned.
/// let present = HoldOptions { longterm: false, nofault: true };
/// assert!(HeldPages::<ReadOnly>::pin(addr, 1, present).is_err());
///
/// // A buffer registered until user space lets it go: a long-term pin.
/// let registered = HoldOptions { longterm: true, nofault: false };
/// let pinned = HeldPages::<ReadOnly>::pin(addr, 1, registered)?;
/// assert!(pinned.options().longterm);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub(crate) struct HoldOptions {
    // BEGIN pinio only
    /// [`Retention::Pinned`] (`FOLL_PIN`) or [`Retention::Referenced`] (`FOLL_GET`).
    pub(crate) retention: Retention,
    // END pinio only
    /// `FOLL_LONGTERM`: the pins may be held indefinitely.
    pub(crate) longterm: bool,
    /// `FOLL_NOFAULT`: only pages already present.
    pub(crate) nofault: bool,
    // BEGIN pinio only
    /// The slow path: `pin_user_pages()` with the mmap lock held across all the calls, no
    /// GUP-fast attempt (only with [`Retention::Pinned`], and only through
    /// [`HeldPages::take`]).
    pub(crate) slow: bool,
    // END pinio only
}

impl HoldOptions {
    /// The `FOLL_*` flags for access `A`.
    fn gup_flags<A: Access>(self) -> Result<u32> {
        // BEGIN pinio only
        // `EINVAL` for a combination the kernel refuses (`FOLL_LONGTERM` without `FOLL_PIN`,
        // which `get_user_pages_fast()` WARNs on) or for `Retention::Listed`, which nothing
        // holds.
        match (self.retention, self.longterm || self.slow) {
            (Retention::Listed, _) | (Retention::Referenced, true) => return Err(EINVAL),
            _ => {}
        }
        // END pinio only
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

/// The pages of one user range with access `A`, pinned, released (dirty if the device wrote
/// into them) when dropped.
///
/// # Examples
///
/// Pin, write, unpin:
///
/// ```
/// use kernel::{
///     mm::gup::{HeldPages, HoldOptions},
///     page::{
///         copy,
///         view::{PageRef, Span, Writable},
///         Page, PAGE_SIZE,
///     },
///     uaccess::UserSlice,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, uapi};
/// # let len = 2 * PAGE_SIZE;
/// # // SAFETY: `kunit_get_current_test()` is the test running in this thread; `kunit_vm_mmap()`
/// # // maps anonymous memory into an mm it attaches to the thread, until the test ends.
/// # let addr = unsafe {
/// #     bindings::kunit_vm_mmap(
/// #         bindings::kunit_get_current_test(),
/// #         core::ptr::null_mut(),
/// #         0,
/// #         len,
/// #         (uapi::PROT_READ | uapi::PROT_WRITE) as usize,
/// #         (uapi::MAP_ANONYMOUS | uapi::MAP_PRIVATE) as usize,
/// #         0,
/// #     )
/// # };
/// # assert_ne!(addr, 0);
///
/// let options = HoldOptions { longterm: false, nofault: false };
/// let mut pinned = HeldPages::<Writable>::pin(addr, 2, options)?;
/// assert_eq!(pinned.len(), 2);
///
/// let data = Page::alloc_page(GFP_KERNEL)?;
/// let hello = b"hello";
/// // SAFETY: `hello` is valid for its length; nothing else uses `data`.
/// unsafe { data.write_raw(hello.as_ptr(), 0, hello.len())? };
/// // Five bytes across the boundary of the two pages: two segments.
/// let mut from = 0;
/// for (page, span) in pinned.segments(PAGE_SIZE - 2, 5).ok_or(EINVAL)? {
///     let bytes = Span { offset: from, len: span.len };
///     copy::copy(page, span.offset, PageRef::from_page(&data), bytes)?;
///     from += span.len;
/// }
/// // Unpinned, dirty: the device wrote into the pages.
/// drop(pinned);
///
/// let mut back = [0u8; 5];
/// UserSlice::new(UserPtr::from_addr(addr + PAGE_SIZE - 2), 5)
///     .reader()
///     .read_slice(&mut back)?;
/// assert_eq!(&back, hello);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// Each of the `pages.len()` entries is a non-null page holding one `FOLL_PIN` pin on behalf
/// of this value; [`HeldPages::release`] gives them all back exactly once and empties `pages`.
/// If `A::WRITE`, they were pinned with `FOLL_WRITE`. `written` is set before the device
/// writes into any of them.
// BEGIN pinio only
///
/// With [`Retention::Referenced`] in `options`, each entry holds one page reference instead.
// END pinio only
pub(crate) struct HeldPages<A: Access> {
    pages: KVVec<*mut bindings::page>,
    options: HoldOptions,
    written: bool,
    _access: PhantomData<A>,
}

// SAFETY: The pins belong to the value, not to the task that took them: any task may use the
// pages and unpin them (`unpin_user_pages_dirty_lock()` has no notion of the pinning task or
// of its mm), in process context as `Drop` requires anyway. The page array is an owned
// allocation and `A` is a marker type.
unsafe impl<A: Access> Send for HeldPages<A> {}

// SAFETY: Through `&HeldPages` one can only read the array and `options`, and obtain
// `PageRef` views, which let C read the pages (`copy::copy()`) and never write them; writable
// views and the release need `&mut HeldPages`. Concurrent reads of pinned pages from several
// threads are not data races.
unsafe impl<A: Access> Sync for HeldPages<A> {}

impl<A: Access> HeldPages<A> {
    /// Pins the `nr_pages` pages of the current process's address space at page-aligned
    /// `addr` with `pin_user_pages_fast()`, `FOLL_WRITE` if `A::WRITE`.
    ///
    /// All or nothing: if the call fails or comes back short, what was pinned is unpinned and
    /// `EFAULT` (or the call's error: `ENOMEM`, `EINTR`, `EPERM` for memory that cannot be
    /// pinned long-term, ...) returned; `EINVAL` for a range that wraps or a count too large.
    /// May sleep.
    pub(crate) fn pin(addr: usize, nr_pages: usize, options: HoldOptions) -> Result<Self> {
        // BEGIN pinio only
        // The slow path needs the mmap lock that only `take()` holds.
        if options.slow {
            return Err(EINVAL);
        }
        // END pinio only
        let mut held = Self::new(nr_pages, options)?;
        // On failure, dropping `held` releases what it took.
        held.fill(addr, nr_pages, 0)?;
        Ok(held)
    }

    // BEGIN pinio only
    /// As [`HeldPages::pin`], `per_call` pages per call (0: all in one call), taking
    /// `FOLL_GET` references instead for [`Retention::Referenced`], or pinning through the
    /// slow path for [`HoldOptions::slow`] (the mmap lock taken once, before the timing starts,
    /// and held across every call, as `gup_test` holds it); `EINVAL` for options the kernel
    /// refuses. Returns the pages and the time spent in the `pin_user_pages_fast()`,
    /// `pin_user_pages()` or `get_user_pages_fast()` calls; on failure, where it stopped.
    pub(crate) fn take(
        addr: usize,
        nr_pages: usize,
        per_call: usize,
        options: HoldOptions,
    ) -> Result<(Self, Delta), TakeError> {
        let mut held = Self::new(nr_pages, options).map_err(TakeError::before_any_call)?;
        let task = kernel::current!();
        let lock = match (options.slow, task.mm()) {
            (false, _) => None,
            (true, Some(mm)) => Some(mm.mmap_read_lock()),
            // A kernel thread has no user pages to take.
            (true, None) => return Err(TakeError::before_any_call(EFAULT)),
        };
        let start = Instant::<Monotonic>::now();
        let result = held.fill(addr, nr_pages, per_call);
        let elapsed = start.elapsed();
        drop(lock);
        match result {
            Ok(()) => Ok((held, elapsed)),
            // `fill()` kept what it took: its calls start at multiples of `per_call`, all full
            // but the failing one, which stopped where the pages held end.
            Err(error) => {
                let at = held.len();
                let per_call = match per_call {
                    0 => nr_pages,
                    n => n.min(nr_pages),
                }
                .max(1);
                let call_start = at / per_call * per_call;
                // Dropping `held` releases what it took.
                Err(TakeError {
                    error,
                    at,
                    call: (call_start, per_call.min(nr_pages - call_start)),
                })
            }
        }
    }
    // END pinio only

    /// An empty value with room for `nr_pages` pages.
    fn new(nr_pages: usize, options: HoldOptions) -> Result<Self> {
        options.gup_flags::<A>()?;
        Ok(HeldPages {
            // Zeroed like gup_test's kvcalloc(), so that the first touches of the array happen
            // here, not in the pinning calls.
            pages: KVVec::with_capacity(nr_pages, GFP_KERNEL | __GFP_ZERO)?,
            options,
            written: false,
            _access: PhantomData,
        })
    }

    /// Takes the `nr_pages` pages at `addr`, `per_call` pages per call (0: all in one call),
    /// into an empty value with room for them. Stops at the first call that fails or comes
    /// back short, keeping what was taken.
    fn fill(&mut self, addr: usize, nr_pages: usize, per_call: usize) -> Result {
        let gup_flags = self.options.gup_flags::<A>()?;
        nr_pages
            .checked_mul(PAGE_SIZE)
            .and_then(|len| addr.checked_add(len))
            .ok_or(EINVAL)?;
        if nr_pages > self.pages.capacity() - self.pages.len() {
            return Err(EINVAL);
        }
        let per_call = match per_call {
            0 => nr_pages,
            n => n.min(nr_pages),
        };
        while self.pages.len() < nr_pages {
            let done = self.pages.len();
            let chunk = per_call.min(nr_pages - done);
            let nr = c_int::try_from(chunk).map_err(|_| EINVAL)?;
            // Cannot overflow: `addr + nr_pages * PAGE_SIZE` does not (checked above).
            let at = addr + done * PAGE_SIZE;
            let slots = self
                .pages
                .spare_capacity_mut()
                .as_mut_ptr()
                .cast::<*mut bindings::page>();
            // SAFETY: `slots` has room for `chunk <= capacity - len` page pointers (checked
            // above); the range lies in user space as far as we know (the call checks it and
            // fails otherwise).
            let ret = unsafe { self.take_fast(at, nr, gup_flags, slots) };
            match usize::try_from(ret) {
                Ok(got) if got <= chunk => {
                    // SAFETY: The call filled the first `got` slots with pages it took for us.
                    // INVARIANT: They are now owned by `self`.
                    unsafe { self.pages.inc_len(got) };
                    if got < chunk {
                        return Err(EFAULT);
                    }
                }
                Ok(_) => return Err(EINVAL),
                Err(_) => return Err(Error::from_errno(ret)),
            }
        }
        Ok(())
    }

    /// One `pin_user_pages_fast()` call: pins `nr` pages at `addr` into `pages`.
    ///
    /// # Safety
    ///
    /// `pages` must have room for `nr` page pointers.
    unsafe fn take_fast(
        &self,
        addr: usize,
        nr: c_int,
        gup_flags: u32,
        pages: *mut *mut bindings::page,
    ) -> c_int {
        // BEGIN pinio only
        if self.options.retention == Retention::Referenced {
            // SAFETY: As below, for `get_user_pages_fast()`.
            return unsafe { bindings::get_user_pages_fast(addr, nr, gup_flags, pages) };
        }
        if self.options.slow {
            // SAFETY: As below, for `pin_user_pages()`, which also needs the current task's
            // mmap lock held for reading: only `take()` makes slow values (`pin()` refuses
            // them), and holds it across `fill()`; the call never drops it (no
            // `FOLL_UNLOCKABLE` without a `locked` argument).
            let got = unsafe { bindings::pin_user_pages(addr, nr as c_ulong, gup_flags, pages) };
            // At most `nr` pages, or a negative errno: fits.
            return got as c_int;
        }
        // END pinio only
        // SAFETY: `pages` has room for `nr` pointers (the caller's guarantee), which the call
        // fills with the pages it pins; `gup_flags` holds only flags it accepts from a caller
        // (`FOLL_WRITE`, `FOLL_LONGTERM`, `FOLL_NOFAULT`), and it checks the range itself.
        unsafe { bindings::pin_user_pages_fast(addr, nr, gup_flags, pages) }
    }

    /// Number of pages held.
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    // BEGIN pinio only
    #[allow(
        dead_code,
        reason = "the upstream series' API (clippy::len_without_is_empty)"
    )]
    // END pinio only
    /// Whether no page is held (after [`HeldPages::release`]).
    pub(crate) fn is_empty(&self) -> bool {
        self.pages.is_empty()
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
    /// (`unpin_user_pages_dirty_lock()`). A second call releases nothing. Process context: a
    /// dirtying release takes folio locks.
    pub(crate) fn release(&mut self, dirty: bool) {
        // A read-only pin may hold the shared zero page or page cache the device never
        // touched, which must not be dirtied.
        let dirty = dirty && A::WRITE;
        let nr = self.pages.len();
        if nr == 0 {
            return;
        }
        // BEGIN pinio only
        if self.options.retention == Retention::Referenced {
            if dirty {
                for &page in self.pages.iter() {
                    // SAFETY: We hold a reference to `page` (type invariants).
                    unsafe { bindings::set_page_dirty_lock(page) };
                }
            }
            // `release_pages()` takes an `int` count: release in such chunks.
            for chunk in self.pages.chunks_mut(c_int::MAX as usize) {
                // SAFETY: Each page holds one reference owned by `self` (type invariants),
                // dropped here once.
                unsafe { shim::pinio_put_pages(chunk.as_mut_ptr(), chunk.len() as c_int) };
            }
            // INVARIANT: Every page was given back above.
            self.pages.clear();
            return;
        }
        // END pinio only
        // SAFETY: `pages[..nr]` hold one pin each, owned by `self` (type invariants), released
        // here exactly once: the array is emptied right after. They are dirtied only if
        // writable (`FOLL_WRITE`).
        unsafe {
            bindings::unpin_user_pages_dirty_lock(self.pages.as_mut_ptr(), nr as c_ulong, dirty)
        };
        // INVARIANT: Every page was given back above.
        self.pages.clear();
    }
}

impl<A: Access> Drop for HeldPages<A> {
    fn drop(&mut self) {
        self.release(self.written);
    }
}
