// SPDX-License-Identifier: GPL-2.0

//! One bounded batch of pages taken from an iterator, on the stack of a synchronous transfer,
//! and released when the batch goes.

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
        PageRef,
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
use super::extract::Mode;
// END pinio only

/// The most pages one batch takes: 256 KiB with 4 KiB pages.
///
/// The page array lives on the stack of the transfer ([`PageSlots`]), so a transfer needs no
/// allocation and no lock, and the work per step is bounded.
///
/// # Examples
///
/// ```
/// use kernel::{
///     iov::{
///         batch::{ExtractedPages, PageSlots, BATCH_PAGES},
///         IovIterSource,
///     },
///     page::PAGE_SIZE,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::bindings;
///
/// // A source iterator over a kernel buffer one page longer than a batch.
/// let len = (BATCH_PAGES + 1) * PAGE_SIZE;
/// let mut buf = VVec::from_elem(0u8, len, GFP_KERNEL)?;
/// let kvec = bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
/// let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// // SAFETY: `kvec` and the buffer it describes outlive the iterator.
/// unsafe { bindings::iov_iter_kvec(raw.as_mut_ptr(), bindings::ITER_SOURCE, &kvec, 1, len) };
/// // SAFETY: `iov_iter_kvec()` initialised it.
/// let mut raw = unsafe { raw.assume_init() };
/// // SAFETY: A source iterator over `buf`, only used through `iter` while `buf` lives.
/// let iter = unsafe { IovIterSource::from_raw(&mut raw) };
///
/// let mut slots = PageSlots::new();
/// let batch = ExtractedPages::extract(iter, &mut slots, len)?;
/// assert_eq!(batch.nr_pages(), BATCH_PAGES);
/// assert_eq!(batch.len(), BATCH_PAGES * PAGE_SIZE);
/// drop(batch);
/// assert_eq!(iter.len(), PAGE_SIZE);
/// # Ok::<(), Error>(())
/// ```
pub(crate) const BATCH_PAGES: usize = 64;

/// The page array of one [`ExtractedPages`] batch: [`BATCH_PAGES`] slots (512 bytes), on the
/// stack of a transfer, left uninitialised until the extraction fills them.
///
/// It lives outside the batch so that the batch, which is returned and moved, stays small:
/// an in-struct array cost a 512-byte memset and one or two 512-byte memcpy calls per batch.
///
/// # Examples
///
/// ```
/// use kernel::iov::batch::{ExtractedPages, PageSlots};
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, iov::IovIterSource};
/// // A source iterator over two kernel buffers, of 100 and 200 bytes.
/// let mut buf = KVec::from_elem(0u8, 300, GFP_KERNEL)?;
/// let kvecs = [
///     bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: 100 },
///     bindings::kvec { iov_base: buf.as_mut_ptr().wrapping_add(100).cast(), iov_len: 200 },
/// ];
/// let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// // SAFETY: `kvecs` and the buffer they describe outlive the iterator.
/// unsafe {
///     bindings::iov_iter_kvec(raw.as_mut_ptr(), bindings::ITER_SOURCE, kvecs.as_ptr(), 2, 300)
/// };
/// // SAFETY: `iov_iter_kvec()` initialised it.
/// let mut raw = unsafe { raw.assume_init() };
/// // SAFETY: A source iterator over `buf`, only used through `iter` while `buf` lives.
/// let iter = unsafe { IovIterSource::from_raw(&mut raw) };
///
/// // One array for every batch of a transfer, each batch borrowing it in turn.
/// let mut slots = PageSlots::new();
/// let mut done = 0;
/// while !iter.is_empty() {
///     let batch = ExtractedPages::extract(iter, &mut slots, 300 - done)?;
///     done += batch.len();
/// }
/// assert_eq!(done, 300);
/// # Ok::<(), Error>(())
/// ```
pub(crate) struct PageSlots([MaybeUninit<*mut bindings::page>; BATCH_PAGES]);

impl PageSlots {
    /// Uninitialised slots.
    pub(crate) const fn new() -> Self {
        Self([const { MaybeUninit::uninit() }; BATCH_PAGES])
    }
}

impl Default for PageSlots {
    fn default() -> Self {
        Self::new()
    }
}

/// One batch of pages taken from an iterator with access `A`, released when dropped (dirty if
/// the device wrote into them).
///
/// The batch mutably borrows the iterator for `'a`: listed kernel pages are kept alive by the
/// iterator's owner, so they cannot outlive it, and the iterator cannot be advanced while a
/// batch of its pages is in use.
///
/// # Examples
///
/// A `read(2)` served by a device that writes the bytes of a page of its own into the user's
/// buffer:
///
/// ```
/// use kernel::{
///     iov::{
///         batch::{ExtractedPages, PageSlots},
///         IovIterDest,
///     },
///     page::{
///         copy,
///         view::{PageRef, Span},
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
/// # let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// # // SAFETY: `raw` is valid for writing an iterator.
/// # kernel::error::to_result(unsafe {
/// #     bindings::import_ubuf(bindings::ITER_DEST as i32, addr as *mut _, len, raw.as_mut_ptr())
/// # })?;
/// # // SAFETY: `import_ubuf()` initialised it.
/// # let mut raw = unsafe { raw.assume_init() };
/// # // SAFETY: An iterator over user memory of this thread's mm, only used through `iter`.
/// # let iter = unsafe { IovIterDest::from_raw(&mut raw) };
///
/// let data = Page::alloc_page(GFP_KERNEL)?;
/// let fill = [0x5au8; 64];
/// // SAFETY: `fill` is valid for 64 bytes; nothing else uses `data`.
/// unsafe { data.write_raw(fill.as_ptr(), 0, 64)? };
/// let mut done = 0;
/// while !iter.is_empty() {
///     let mut slots = PageSlots::new();
///     let mut batch = ExtractedPages::extract(iter, &mut slots, len - done)?;
///     for (page, span) in batch.segments() {
///         let from = Span { offset: 0, len: span.len.min(64) };
///         copy::copy(page, span.offset, PageRef::from_page(&data), from)?;
///     }
///     done += batch.len();
///     // Dropping the batch unpins its pages, dirty: the device wrote into them.
/// }
/// assert_eq!(done, len);
/// let mut back = [0u8; 64];
/// UserSlice::new(UserPtr::from_addr(addr + PAGE_SIZE), 64)
///     .reader()
///     .read_slice(&mut back)?;
/// assert_eq!(back, fill);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `pages.0[..nr_pages]` are initialised: the non-null pages the extraction returned, valid
///   for `'a`, each holding what `retention` says on behalf of this batch (and of nothing else);
///   listed pages are kept alive for `'a` by the iterator's owner.
/// - The batch covers `len > 0` bytes starting `offset` bytes into `pages.0[0]`, and
///   `nr_pages == (offset + len).div_ceil(PAGE_SIZE) <= BATCH_PAGES`.
/// - The pages came from an iterator of access `A`: if `A::WRITE`, from a destination iterator
///   (taken with `FOLL_WRITE` if user-backed), so the device may write into them.
/// - `written` is set before the device writes into any page of the batch.
pub(crate) struct ExtractedPages<'a, A: Access> {
    pages: &'a mut PageSlots,
    nr_pages: usize,
    offset: usize,
    len: usize,
    retention: Retention,
    written: bool,
    _iter: PhantomData<(&'a mut bindings::iov_iter, A)>,
}

impl<'a, A: Access> ExtractedPages<'a, A> {
    /// Takes the pages of up to `max_len` bytes from the front of `iter` into `slots`, advancing
    /// the iterator (`iov_iter_extract_pages()`).
    ///
    /// At most one contiguous segment and [`BATCH_PAGES`] pages are taken per call, so the batch
    /// may be shorter than asked; call again for the rest. Fails with `EFAULT` (or another
    /// error of the extraction) if no byte could be taken, e.g. because user memory is not
    /// mapped or not writable for a read. May sleep.
    pub(crate) fn extract<I: Iter<Access = A>>(
        iter: &'a mut I,
        slots: &'a mut PageSlots,
        max_len: usize,
    ) -> Result<Self> {
        let taken = extract::extract_pages(iter, &mut slots.0, max_len)?;
        // SAFETY: `extract_pages()` wrote `taken` into `slots`, from an iterator of access `A`
        // that stays borrowed for `'a`.
        Ok(unsafe { Self::from_taken(slots, taken) })
    }

    // BEGIN pinio only
    /// As [`ExtractedPages::extract`] for [`Mode::Extract`]; for [`Mode::Get`], with a
    /// `FOLL_GET` reference on every page (`iov_iter_get_pages2()`).
    pub(crate) fn take<I: Iter<Access = A>>(
        iter: &'a mut I,
        slots: &'a mut PageSlots,
        max_len: usize,
        mode: Mode,
    ) -> Result<Self> {
        match mode {
            Mode::Extract => Self::extract(iter, slots, max_len),
            Mode::Get => {
                let taken = extract::get_pages(iter, &mut slots.0, max_len)?;
                // SAFETY: `get_pages()` wrote `taken` into `slots`, from an iterator of access
                // `A` that stays borrowed for `'a`.
                Ok(unsafe { Self::from_taken(slots, taken) })
            }
        }
    }
    // END pinio only

    /// The batch of what an extraction call took into `slots`.
    ///
    /// # Safety
    ///
    /// `taken` is what `extract::extract_pages()` (or a call that holds pages the same way)
    /// returned for `slots` and an iterator of access `A` that stays borrowed for `'a`.
    unsafe fn from_taken(slots: &'a mut PageSlots, taken: Taken) -> Self {
        // INVARIANT: The extraction wrote `nr_pages <= BATCH_PAGES` non-null pages covering
        // `len > 0` bytes from `offset` into `slots`, holding what `retention` says; a
        // destination iterator's user pages were taken with `FOLL_WRITE` (the caller's
        // guarantee).
        Self {
            pages: slots,
            nr_pages: taken.nr_pages,
            offset: taken.offset,
            len: taken.len,
            retention: taken.retention,
            written: false,
            _iter: PhantomData,
        }
    }

    /// The batch's pages (`pages.0[..nr_pages]`).
    fn taken(&self) -> &[*mut bindings::page] {
        let nr = self.nr_pages.min(BATCH_PAGES);
        // SAFETY: `pages.0[..nr_pages]` are initialised (type invariants), and
        // `MaybeUninit<T>` has `T`'s layout.
        unsafe { core::slice::from_raw_parts(self.pages.0.as_ptr().cast(), nr) }
    }

    /// Bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    // BEGIN pinio only
    #[allow(
        dead_code,
        reason = "the upstream series' API (clippy::len_without_is_empty)"
    )]
    // END pinio only
    /// Whether the batch holds no byte (never: a batch covers at least one).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages in the batch.
    pub(crate) fn nr_pages(&self) -> usize {
        self.nr_pages
    }

    /// How the pages are held.
    pub(crate) fn retention(&self) -> Retention {
        self.retention
    }

    /// The batch as (page, byte range) segments, in iterator order, for the device to read.
    pub(crate) fn read_segments(&self) -> impl Iterator<Item = (PageRef<'_>, Span)> + '_ {
        self.raw_segments().map(|(page, span)| {
            // SAFETY: A page of the batch stays valid while the batch is borrowed (type
            // invariants).
            (unsafe { PageRef::from_raw(page) }, span)
        })
    }

    /// The batch as segments for the device, with the batch's access: [`PageMut`] views of a
    /// [`Writable`] batch (which is then released dirty), [`PageRef`] views otherwise.
    pub(crate) fn segments(&mut self) -> impl Iterator<Item = (A::View<'_>, Span)> + '_ {
        // INVARIANT: Set before handing out writable pages.
        self.written |= A::WRITE;
        self.raw_segments().map(|(page, span)| {
            // SAFETY: A page of the batch stays valid while the batch is borrowed, and if
            // `A::WRITE` it came from a destination iterator (type invariants).
            (unsafe { A::view(page) }, span)
        })
    }

    fn raw_segments(&self) -> impl Iterator<Item = (NonNull<bindings::page>, Span)> + '_ {
        self.taken()
            .iter()
            .zip(page_spans(self.offset, self.len))
            .filter_map(|(page, span)| Some((NonNull::new(*page)?, span)))
    }

    /// Releases the pages now (as dropping the batch does) and says what was given back.
    pub(crate) fn release(mut self) -> Released {
        let released = self.release_pages();
        core::mem::forget(self);
        released
    }

    fn release_pages(&mut self) -> Released {
        let nr = self.nr_pages.min(BATCH_PAGES);
        // SAFETY: `pages.0[..nr_pages]` are initialised (type invariants) and `MaybeUninit<T>`
        // has `T`'s layout.
        let pages =
            unsafe { core::slice::from_raw_parts_mut(self.pages.0.as_mut_ptr().cast(), nr) };
        // SAFETY: `pages` hold what `retention` says, owned by this batch (type invariants),
        // which gives them up here and is not used afterwards (`release()` forgets it, `drop()`
        // ends it); they are dirtied only if the device wrote into them, which only a
        // `Writable` batch allows. Batches live in process context (a transfer's stack).
        unsafe { extract::release_pages(pages, self.retention, self.written) }
    }
}

impl<A: Access> Drop for ExtractedPages<'_, A> {
    fn drop(&mut self) {
        self.release_pages();
    }
}
