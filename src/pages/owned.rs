// SPDX-License-Identifier: GPL-2.0

//! All pages of a request that completes in another context, owned by the request.

use super::{
    extract::{
        self,
        Released,
        Retention,
        Taken, //
    },
    iter::Iter,
    view::{
        page_spans,
        Access,
        Span, //
    },
};
use core::{
    marker::PhantomData,
    mem::MaybeUninit,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    prelude::*, //
};

// BEGIN pinio only
use super::{
    extract::Mode,
    view::PageRef, //
};
// END pinio only

/// All pages of an asynchronous request with access `A`, taken before `read_iter`/`write_iter`
/// returns (the iterator and its segment array may be gone as soon as it does), and released
/// when dropped, dirtied if the device wrote into them.
///
/// It owns what it holds on its pages and is `Send`, so the context that completes the request
/// may release it; that context must be a process context (the dirtying release may sleep).
///
/// # Examples
///
/// A `write(2)` that completes later, elsewhere: its pages are all taken before `write_iter`
/// returns, and go with the request.
///
/// ```
/// use kernel::{
///     iov::{owned::OwnedPages, IovIterSource},
///     page::{
///         copy,
///         view::PageMut,
///         Page, PAGE_SIZE,
///     },
///     uaccess::UserSlice,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, uapi};
/// # let len = 3 * PAGE_SIZE;
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
/// # let mut data = KVec::from_elem(0u8, len, GFP_KERNEL)?;
/// # for (i, b) in data.iter_mut().enumerate() {
/// #     *b = (i % 251) as u8;
/// # }
/// # UserSlice::new(UserPtr::from_addr(addr), len).writer().write_slice(&data)?;
/// # let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// # // SAFETY: `raw` is valid for writing an iterator.
/// # kernel::error::to_result(unsafe {
/// #     bindings::import_ubuf(bindings::ITER_SOURCE as i32, addr as *mut _, len, raw.as_mut_ptr())
/// # })?;
/// # // SAFETY: `import_ubuf()` initialised it.
/// # let mut raw = unsafe { raw.assume_init() };
/// # // SAFETY: An iterator over user memory of this thread's mm, only used through `iter`.
/// # let iter = unsafe { IovIterSource::from_raw(&mut raw) };
///
/// // SAFETY: `iter` is user-backed: its pages are pinned, none is listed.
/// let pages = unsafe { OwnedPages::extract_all(iter, len, false) }?;
/// assert_eq!(pages.len(), len);
/// assert_eq!(iter.len(), 0);
///
/// fn complete_elsewhere<T: Send>(request: T) -> T {
///     request
/// }
/// let mut pages = complete_elsewhere(pages);
///
/// // The device reads the second page.
/// let mut mine = Page::alloc_page(GFP_KERNEL)?;
/// if let Some((page, span)) = pages.segments().nth(1) {
///     copy::copy(PageMut::from_page(&mut mine), 0, page, span)?;
/// }
/// // Unpinned, not dirtied: the device only read them.
/// drop(pages);
/// let mut got = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
/// // SAFETY: `got` is valid for `PAGE_SIZE` bytes; nothing else uses `mine`.
/// unsafe { mine.read_raw(got.as_mut_ptr(), 0, PAGE_SIZE)? };
/// assert!(got[..] == data[PAGE_SIZE..2 * PAGE_SIZE]);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `pages` are the non-null pages the extraction returned, in iterator order, each holding
///   what `retention` says on behalf of this value (and of nothing else). Listed pages are
///   kept alive by the iterator's owner until this value is dropped (the constructor's safety
///   requirement).
/// - `spans[i]` is the byte range of `pages[i]` the request covers; they add up to `len`.
/// - If `A::WRITE`, the pages came from a destination iterator (taken with `FOLL_WRITE` if
///   user-backed). `written` is set before the device writes into any of them.
pub(crate) struct OwnedPages<A: Access> {
    pages: KVec<*mut bindings::page>,
    spans: KVec<Span>,
    len: usize,
    retention: Retention,
    written: bool,
    /// Extraction calls made to take the pages.
    extractions: usize,
    /// The error that stopped the extraction short of what it was asked for.
    failure: Option<Error>,
    _access: PhantomData<A>,
}

// SAFETY: What holds the pages belongs to the value, not to the thread that took them: pins
// (`FOLL_PIN`), which any task may release with `unpin_user_pages_dirty_lock()` in process
// context, or nothing at all for listed pages, which the request's submitter keeps alive until
// the value is dropped, wherever that happens (the constructor's safety requirement).
// BEGIN pinio only
// Page references (`FOLL_GET`) may likewise be dropped by any task.
// END pinio only
// The arrays are owned allocations, and nothing in the value refers to the taking thread's
// stack, mappings or task: listed pages are `struct page`s, not addresses.
unsafe impl<A: Access> Send for OwnedPages<A> {}

impl<A: Access> OwnedPages<A> {
    /// Takes every page of the first `max_len` bytes of `iter`, advancing it
    /// (`iov_iter_extract_pages()`, as often as needed).
    ///
    /// With `nowait` the iterator is `nofault` for the call (`FOLL_NOFAULT`: absent pages are
    /// not faulted in), the arrays are allocated with `GFP_NOWAIT`, and anything short of all
    /// `max_len` bytes fails with `EAGAIN`. Otherwise a fault after the first byte ends the
    /// request short; `EFAULT` (or the error of the extraction) if no byte could be taken,
    /// `ENOMEM` if the arrays cannot be allocated. [`OwnedPages::stopped_by`] tells the error
    /// that ended a short request. May sleep unless `nowait`.
    ///
    /// # Safety
    ///
    /// If `iter` lists kernel pages (BVEC, KVEC, ...), its owner must keep them alive until the
    /// returned value is dropped.
    pub(crate) unsafe fn extract_all<I: Iter<Access = A>>(
        iter: &mut I,
        max_len: usize,
        nowait: bool,
    ) -> Result<Self> {
        // SAFETY: `extract_pages()` holds what its `Taken::retention` says on the pages it
        // writes into the slots; the caller keeps listed pages alive.
        unsafe { Self::take_all_with(iter, max_len, nowait, extract::extract_pages) }
    }

    // BEGIN pinio only
    /// As [`OwnedPages::extract_all`] for [`Mode::Extract`]; for [`Mode::Get`], with a
    /// `FOLL_GET` reference on every page (`iov_iter_get_pages2()`).
    ///
    /// # Safety
    ///
    /// As for [`OwnedPages::extract_all`].
    pub(crate) unsafe fn take_all<I: Iter<Access = A>>(
        iter: &mut I,
        max_len: usize,
        mode: Mode,
        nowait: bool,
    ) -> Result<Self> {
        match mode {
            // SAFETY: Guaranteed by the caller.
            Mode::Extract => unsafe { Self::extract_all(iter, max_len, nowait) },
            // SAFETY: `get_pages()` holds a reference on every page it writes into the slots.
            Mode::Get => unsafe { Self::take_all_with(iter, max_len, nowait, extract::get_pages) },
        }
    }
    // END pinio only

    /// Takes every page of the first `max_len` bytes of `iter` with `take`, as
    /// [`OwnedPages::extract_all`] describes.
    ///
    /// # Safety
    ///
    /// On success, `take` advances the iterator by [`Taken::len`] and initialises the first
    /// [`Taken::nr_pages`] slots with the non-null pages of those bytes, each holding what
    /// [`Taken::retention`] says on behalf of the caller, which is the same for every call;
    /// pages from a destination iterator may be written. If the pages are listed
    /// ([`Retention::Listed`]), the iterator's owner keeps them alive until the returned value
    /// is dropped.
    unsafe fn take_all_with<I, F>(
        iter: &mut I,
        max_len: usize,
        nowait: bool,
        mut take: F,
    ) -> Result<Self>
    where
        I: Iter<Access = A>,
        F: FnMut(&mut I, &mut [MaybeUninit<*mut bindings::page>], usize) -> Result<Taken>,
    {
        let flags = if nowait { GFP_NOWAIT } else { GFP_KERNEL };
        let npages = iter.npages(usize::MAX);
        let mut pages = KVec::with_capacity(npages, flags)?;
        let mut spans = KVec::with_capacity(npages, flags)?;
        let was_nofault = iter.set_nofault(nowait);
        let mut len = 0;
        let mut extractions = 0;
        let mut retention = Retention::Listed;
        let mut failure = None;
        while len < max_len && pages.len() < npages {
            extractions += 1;
            match take(iter, pages.spare_capacity_mut(), max_len - len) {
                Ok(taken) => {
                    // SAFETY: `take()` initialised the first `nr_pages` of the spare slots
                    // (function safety), no more than there are.
                    unsafe { pages.inc_len(taken.nr_pages) };
                    retention = taken.retention;
                    for span in page_spans(taken.offset, taken.len) {
                        // Cannot fail: `spans` has room for all `npages` pages.
                        if spans.push_within_capacity(span).is_err() {
                            break;
                        }
                    }
                    len += taken.len;
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        iter.set_nofault(was_nofault);
        // INVARIANT: `take()` filled `pages` with non-null pages holding what `retention` says
        // (the same for every call: function safety), and `spans` with their ranges;
        // the pages of an iterator of access `A` may be written if `A::WRITE`; the caller
        // keeps listed pages alive (function safety).
        let owned = Self {
            pages,
            spans,
            len,
            retention,
            written: false,
            extractions,
            failure: if len < max_len { failure } else { None },
            _access: PhantomData,
        };
        if len == max_len || (!nowait && len != 0) {
            return Ok(owned);
        }
        // Dropping `owned` releases what was taken.
        Err(if nowait {
            EAGAIN
        } else {
            failure.unwrap_or(EFAULT)
        })
    }

    /// Bytes covered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    // BEGIN pinio only
    #[allow(
        dead_code,
        reason = "the upstream series' API (clippy::len_without_is_empty)"
    )]
    // END pinio only
    /// Whether no byte is covered (never for a value [`OwnedPages::extract_all`] returned).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages held.
    pub(crate) fn nr_pages(&self) -> usize {
        self.pages.len()
    }

    /// Extraction calls made to take the pages.
    pub(crate) fn extractions(&self) -> usize {
        self.extractions
    }

    /// The error that stopped taking pages short of the length asked for (`EFAULT`: memory
    /// that cannot be taken), or `None` if every byte was taken.
    pub(crate) fn stopped_by(&self) -> Option<Error> {
        self.failure
    }

    /// How the pages are held.
    pub(crate) fn retention(&self) -> Retention {
        self.retention
    }

    /// The pages as segments for the device, with the request's access: writable views of a
    /// destination iterator's pages (which are then released dirty), readable ones otherwise.
    pub(crate) fn segments(&mut self) -> impl Iterator<Item = (A::View<'_>, Span)> + '_ {
        // INVARIANT: Set before handing out writable pages.
        self.written |= A::WRITE;
        self.raw_segments().map(|(page, span)| {
            // SAFETY: The pages stay valid while `self` is borrowed, and may be written if
            // `A::WRITE` (type invariants).
            (unsafe { A::view(page) }, span)
        })
    }

    // BEGIN pinio only
    /// The pages as segments for the device to read, in iterator order (whatever the request's
    /// access: pinio's engine compares the pages of its requests in flight).
    pub(crate) fn read_segments(&self) -> impl Iterator<Item = (PageRef<'_>, Span)> + '_ {
        self.raw_segments().map(|(page, span)| {
            // SAFETY: The pages stay valid while `self` is borrowed (type invariants).
            (unsafe { PageRef::from_raw(page) }, span)
        })
    }
    // END pinio only

    fn raw_segments(&self) -> impl Iterator<Item = (NonNull<bindings::page>, Span)> + '_ {
        self.pages
            .iter()
            .zip(self.spans.iter())
            .filter_map(|(page, span)| Some((NonNull::new(*page)?, *span)))
    }

    /// Releases the pages now (as dropping does) and says what was given back. Process
    /// context.
    pub(crate) fn release(mut self) -> Released {
        self.release_pages()
    }

    fn release_pages(&mut self) -> Released {
        let mut pages = core::mem::take(&mut self.pages);
        // SAFETY: `pages` hold what `retention` says on behalf of `self` (type invariants) and
        // were taken out of it, so they are released once; they are dirtied only if the device
        // wrote into them, which only a `Writable` value allows. Callers are in process context
        // (the type's documentation).
        unsafe { extract::release_pages(&mut pages, self.retention, self.written) }
    }
}

impl<A: Access> Drop for OwnedPages<A> {
    fn drop(&mut self) {
        if !self.pages.is_empty() {
            self.release_pages();
        }
    }
}
