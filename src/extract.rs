// SPDX-License-Identifier: GPL-2.0

//! Pages taken from an `iov_iter` for the device, and their release.
//!
//! Two ways of taking them, chosen per open file ([`Mode`]):
//! - **extraction** (the default, what the block layer does since 2023):
//!   `iov_iter_extract_pages()` pins user-backed iterators' pages (UBUF, IOVEC) with `FOLL_PIN`
//!   (and `FOLL_WRITE` when the device will write into them) and merely lists the pages of
//!   kernel-page iterators (BVEC, KVEC, ...), taking no reference, because whoever built the
//!   iterator keeps them alive; `iov_iter_extract_will_pin()` tells the two apart. Pinned pages
//!   are released with `unpin_user_pages_dirty_lock()` (the folio-batched call), dirtied if the
//!   device wrote into them; listed pages are left alone.
//! - **references** (the O_DIRECT path before 2020, for experiments): `iov_iter_get_pages2()`
//!   takes a `FOLL_GET` page reference on every page, user or kernel; they are released with
//!   `set_page_dirty_lock()` (if written) and `release_pages()`.
//!
//! [`ExtractedPages`] is one bounded batch on the stack of a synchronous transfer, borrowing
//! the iterator; [`OwnedPages`] holds all pages of an asynchronous request, owns their
//! release, and may be sent to the context that completes the request.

use crate::{
    counters::Counters,
    dio::PageKey,
    iter::Iter,
    page_ref::{
        page_spans,
        PageMut,
        PageRef,
        Span, //
    },
    glue::shim, //
};
use core::{
    marker::PhantomData,
    mem::MaybeUninit,
    ptr, //
};
use kernel::ffi::c_ulong;
use kernel::{
    bindings,
    page::PAGE_SIZE,
    prelude::*, //
};

/// The most pages one extraction takes: 256 KiB with 4 KiB pages.
///
/// The page array lives in the [`ExtractedPages`] value, i.e. on the stack of the transfer, so a
/// transfer needs no allocation and no lock, and the work per step is bounded.
pub(crate) const BATCH_PAGES: usize = 64;

/// The page array of one [`ExtractedPages`] batch: [`BATCH_PAGES`] slots (512 bytes), on the
/// stack of a transfer, left uninitialised until the extraction fills them.
///
/// It lives outside the batch so that the batch, which is returned and moved, stays small:
/// an in-struct array cost a 512-byte memset and one or two 512-byte memcpy calls per batch,
/// as much as a tenth of a 4 KiB read's instructions.
pub(crate) struct PageSlots([MaybeUninit<*mut bindings::page>; BATCH_PAGES]);

impl PageSlots {
    /// Uninitialised slots.
    pub(crate) const fn new() -> Self {
        Self([const { MaybeUninit::uninit() }; BATCH_PAGES])
    }
}

/// How pages are taken from an iterator.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `iov_iter_extract_pages()`: pinned (user memory) or listed (kernel pages).
    Extract,
    /// `iov_iter_get_pages2()`: a `FOLL_GET` reference on every page.
    Get,
}

/// What the device holds on taken pages, and so how they are released.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retention {
    /// One `FOLL_PIN` pin per page: `unpin_user_pages_dirty_lock()`.
    Pinned,
    /// Nothing: the iterator's owner keeps the pages alive.
    Listed,
    /// One page reference per page: `put_page()` (through `release_pages()`).
    Referenced,
}

/// Pages taken by one call of [`take`].
struct Taken {
    /// Offset of the first byte in the first page.
    offset: usize,
    /// Bytes taken (> 0).
    len: usize,
    /// Pages written into the slots: `(offset + len).div_ceil(PAGE_SIZE)`.
    nr_pages: usize,
    retention: Retention,
}

/// Takes the pages of up to `max_len` bytes from the front of `iter` into `slots`, advancing
/// the iterator: `iov_iter_extract_pages()` or `iov_iter_get_pages2()`, which fill the array
/// in place. At most one contiguous segment and `slots.len()` pages are taken; on success the
/// first [`Taken::nr_pages`] slots are initialised with non-null pages. The slots need no
/// initialisation before (the callers do not zero them: 512 bytes per 64-page batch).
///
/// Fails with `EFAULT` (or the error of the call) if no byte could be taken: memory not mapped,
/// not writable for a read, or not present while the iterator is `nofault`. May sleep.
fn take<I: Iter>(
    iter: &mut I,
    slots: &mut [MaybeUninit<*mut bindings::page>],
    max_len: usize,
    mode: Mode,
    counters: &Counters,
) -> Result<Taken> {
    let raw = iter.as_raw();
    // SAFETY: `raw` is the valid iterator borrowed from `iter`; this only reads its type.
    let kind = unsafe { shim::pinio_iov_iter_type(raw) };
    let max_pages = u32::try_from(slots.len()).unwrap_or(u32::MAX);
    let mut list: *mut *mut bindings::page = slots.as_mut_ptr().cast();
    let mut offset = 0usize;
    let (ret, retention) = match mode {
        Mode::Extract => {
            // SAFETY: `raw` is the valid iterator borrowed from `iter`.
            let pinned = unsafe { shim::pinio_iov_iter_extract_will_pin(raw) };
            // SAFETY: `raw` is a valid iterator; `list` points to `max_pages` writable page
            // pointer slots (`MaybeUninit<T>` has `T`'s layout), which
            // `iov_iter_extract_pages()` fills in place without reading them (it allocates
            // only when `*pages` is null, and `list` is not); `offset` is a valid place for
            // the offset into the first page. It may sleep (faulting user pages in), which the
            // caller allows.
            let ret = unsafe {
                bindings::iov_iter_extract_pages(raw, &mut list, max_len, max_pages, 0, &mut offset)
            };
            let retention = if pinned {
                Retention::Pinned
            } else {
                Retention::Listed
            };
            (ret, retention)
        }
        Mode::Get => {
            // SAFETY: As above for `iov_iter_get_pages2()`, which takes a page reference on
            // every page it writes into `list` and never allocates the array.
            let ret = unsafe {
                bindings::iov_iter_get_pages2(raw, list, max_len, max_pages, &mut offset)
            };
            (ret, Retention::Referenced)
        }
    };
    Counters::add(&counters.extract_calls, 1);
    if let Some(by_kind) = counters.by_iter_type(kind) {
        Counters::add(by_kind, 1);
    }
    let len = match usize::try_from(ret) {
        Ok(0) => return Err(EFAULT),
        Ok(len) => len,
        Err(_) => {
            return Err(Error::from_errno(
                i32::try_from(ret).unwrap_or(EFAULT.to_errno()),
            ))
        }
    };
    let nr_pages = (offset + len).div_ceil(PAGE_SIZE);
    Counters::add(
        match retention {
            Retention::Pinned => &counters.pages_pinned,
            Retention::Listed => &counters.pages_listed,
            Retention::Referenced => &counters.pages_got,
        },
        nr_pages,
    );
    Ok(Taken {
        offset,
        len,
        nr_pages,
        retention,
    })
}

/// Releases pages that [`take`] took, dirtying them first if `dirty`.
///
/// # Safety
///
/// Every page in `pages` holds what `retention` says (a `FOLL_PIN` pin or a page reference)
/// on behalf of the caller, which gives it up here: no page of `pages` may be used afterwards
/// through this hold. Process context: the dirtying release takes folio locks and may sleep.
unsafe fn release(
    pages: &mut [*mut bindings::page],
    retention: Retention,
    dirty: bool,
    counters: &Counters,
) {
    let nr = pages.len();
    match retention {
        Retention::Listed => return,
        // SAFETY: Each page holds one `FOLL_PIN` pin given up by the caller; this releases each
        // exactly once, dirtying it first if asked.
        Retention::Pinned => unsafe {
            bindings::unpin_user_pages_dirty_lock(pages.as_mut_ptr(), nr as c_ulong, dirty);
            Counters::add(&counters.pages_unpinned, nr);
        },
        // SAFETY: Each page holds one reference given up by the caller; this drops each
        // exactly once, dirtying it first (under the page lock) if asked.
        Retention::Referenced => unsafe {
            shim::pinio_release_got_pages(pages.as_mut_ptr(), nr as c_ulong, dirty);
            Counters::add(&counters.pages_put, nr);
        },
    }
    if dirty {
        Counters::add(&counters.pages_dirtied, nr);
    }
}

/// One batch of pages taken from an iterator, released when dropped.
///
/// The batch mutably borrows the iterator for `'a`: listed kernel pages are kept alive by the
/// iterator's owner, so they cannot outlive it, and the iterator cannot be advanced while a
/// batch of its pages is in use.
///
/// # Invariants
///
/// - `pages[..nr_pages]` are initialised: the non-null pages [`take`] returned, valid for `'a`, each
///   holding what `retention` says on behalf of this batch (and of nothing else); listed pages
///   are kept alive for `'a` by the iterator's owner.
/// - The batch covers `len > 0` bytes starting `offset < PAGE_SIZE` bytes into `pages[0]`, and
///   `nr_pages == (offset + len).div_ceil(PAGE_SIZE) <= BATCH_PAGES`.
/// - If `writable`, the pages came from a destination iterator (taken with `FOLL_WRITE` if
///   user-backed), so the device may write into them.
/// - `written` is set before the device writes into any page of the batch.
pub(crate) struct ExtractedPages<'a> {
    pages: &'a mut PageSlots,
    nr_pages: usize,
    offset: usize,
    len: usize,
    retention: Retention,
    writable: bool,
    written: bool,
    counters: &'a Counters,
    _iter: PhantomData<&'a mut bindings::iov_iter>,
}

impl<'a> ExtractedPages<'a> {
    /// Takes the pages of up to `max_len` bytes from the front of `iter` in `mode` into
    /// `slots`, advancing the iterator.
    ///
    /// At most one contiguous segment and [`BATCH_PAGES`] pages are taken per call, so the batch
    /// may be shorter than asked; call again for the rest. Fails with `EFAULT` (or another
    /// error of the extraction) if no byte could be taken, e.g. because user memory is not
    /// mapped or not writable for a read. May sleep.
    pub(crate) fn extract<I: Iter>(
        iter: &'a mut I,
        slots: &'a mut PageSlots,
        max_len: usize,
        mode: Mode,
        counters: &'a Counters,
    ) -> Result<Self> {
        let taken = take(iter, &mut slots.0, max_len, mode, counters)?;
        // INVARIANT: `take()` wrote `nr_pages <= BATCH_PAGES` non-null pages covering `len > 0`
        // bytes from `offset` into `slots`, holding what `retention` says; a destination
        // iterator's user pages were taken with `FOLL_WRITE`.
        Ok(Self {
            pages: slots,
            nr_pages: taken.nr_pages,
            offset: taken.offset,
            len: taken.len,
            retention: taken.retention,
            writable: I::DEVICE_WRITES,
            written: false,
            counters,
            _iter: PhantomData,
        })
    }

    /// The batch's pages (`pages[..nr_pages]`).
    fn taken(&self) -> &[*mut bindings::page] {
        let nr = self.nr_pages.min(BATCH_PAGES);
        // SAFETY: `pages[..nr_pages]` are initialised (type invariants), and
        // `MaybeUninit<T>` has `T`'s layout.
        unsafe { core::slice::from_raw_parts(self.pages.0.as_ptr().cast(), nr) }
    }

    /// Takes one batch of up to `max_len` bytes from `iter` (see [`Self::extract`]), lets `f`
    /// move it, and releases it. Returns what `f` returned and how the pages were held.
    ///
    /// If `f` fails, the iterator is reverted over the batch, so that it has advanced by exactly
    /// the bytes moved; the error is returned.
    pub(crate) fn with_batch<I: Iter, T>(
        iter: &mut I,
        max_len: usize,
        mode: Mode,
        counters: &Counters,
        f: impl FnOnce(&mut ExtractedPages<'_>) -> Result<T>,
    ) -> Result<(T, Retention)> {
        let (result, extracted, retention) = {
            let mut slots = PageSlots::new();
            let mut batch = ExtractedPages::extract(iter, &mut slots, max_len, mode, counters)?;
            (f(&mut batch), batch.len(), batch.retention)
        };
        match result {
            Ok(value) => Ok((value, retention)),
            Err(err) => {
                // SAFETY: The extraction advanced `iter` by exactly `extracted` bytes, and the
                // batch that borrowed it is gone.
                unsafe { iter.revert(extracted) };
                Err(err)
            }
        }
    }

    /// Bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the pages are pinned (user memory) rather than listed or referenced.
    pub(crate) fn is_pinned(&self) -> bool {
        self.retention == Retention::Pinned
    }

    /// The batch's pages, in order, as the block layer merges pages into bvecs: each page's
    /// folio and `struct page` address (see [`PageKey`]).
    pub(crate) fn page_keys(&self) -> impl Iterator<Item = PageKey> + '_ {
        self.taken().iter().map(|&page| {
            // SAFETY: The batch holds `page` (type invariants), so it is a valid page;
            // `page_folio()` only reads it.
            let folio = unsafe { shim::pinio_page_folio(page) };
            let addr = page as usize;
            PageKey {
                folio: folio as usize,
                page: addr,
                next: addr.wrapping_add(core::mem::size_of::<bindings::page>()),
            }
        })
    }

    /// The batch as (page, byte range) segments, in iterator order, for the device to read.
    pub(crate) fn segments(&self) -> impl Iterator<Item = (PageRef<'_>, Span)> + '_ {
        self.raw_segments().map(|(page, span)| {
            // SAFETY: A page of the batch stays valid while the batch is borrowed (type
            // invariants).
            (unsafe { PageRef::from_raw(page) }, span)
        })
    }

    /// The batch as segments for the device to write into; marks the pages to be released
    /// dirty. Fails with `EPERM` if the batch came from a source iterator.
    pub(crate) fn segments_mut(
        &mut self,
    ) -> Result<impl Iterator<Item = (PageMut<'_>, Span)> + '_> {
        if !self.writable {
            return Err(EPERM);
        }
        // INVARIANT: Set before handing out writable pages.
        self.written = true;
        Ok(self.raw_segments().map(|(page, span)| {
            // SAFETY: The page stays valid while the batch is borrowed, and the batch is
            // writable (type invariants), so the device may write into it.
            (unsafe { PageMut::from_raw(page) }, span)
        }))
    }

    fn raw_segments(&self) -> impl Iterator<Item = (ptr::NonNull<bindings::page>, Span)> + '_ {
        self.taken()
            .iter()
            .zip(page_spans(self.offset, self.len))
            .filter_map(|(page, span)| Some((ptr::NonNull::new(*page)?, span)))
    }
}

impl Drop for ExtractedPages<'_> {
    fn drop(&mut self) {
        let nr = self.nr_pages.min(BATCH_PAGES);
        // SAFETY: `pages[..nr_pages]` are initialised (type invariants) and `MaybeUninit<T>`
        // has `T`'s layout.
        let pages =
            unsafe { core::slice::from_raw_parts_mut(self.pages.0.as_mut_ptr().cast(), nr) };
        // SAFETY: `pages` hold what `retention` says, owned by this batch (type invariants),
        // which is gone afterwards; pages are dirtied only if the device wrote into them.
        // Batches live in process context (a transfer's stack).
        unsafe { release(pages, self.retention, self.written, self.counters) };
    }
}

/// All pages of an asynchronous request, taken before `read_iter`/`write_iter` returns
/// (the iterator and its segment array may be gone as soon as it does), and released when
/// dropped, dirtied if the device wrote into them.
///
/// It owns its pins and references and is `Send`, so the context that completes the request
/// may drop it; that context must be a process context (the dirtying release may sleep).
///
/// # Invariants
///
/// - `pages` are the non-null pages [`take`] returned, in iterator order, each holding what
///   `retention` says on behalf of this value (and of nothing else). Listed pages are kept
///   alive by the iterator's owner until the request completes (`ki_complete()`), which its
///   owner does only after dropping this value.
/// - `spans[i]` is the byte range of `pages[i]` the request covers; they add up to `len`.
/// - If `writable`, the pages came from a destination iterator (taken with `FOLL_WRITE` if
///   user-backed). `written` is set before the device writes into any of them.
pub(crate) struct OwnedPages {
    pages: KVec<*mut bindings::page>,
    spans: KVec<Span>,
    len: usize,
    retention: Retention,
    writable: bool,
    written: bool,
    /// The error that stopped [`OwnedPages::take_all`] short of what it was asked for.
    failure: Option<Error>,
}

// SAFETY: The pages are held (pinned, referenced, or kept alive by the request's submitter) by
// the value itself, not by the thread that took them; releasing them is allowed from any
// process context.
unsafe impl Send for OwnedPages {}

impl OwnedPages {
    /// Takes every page of the first `max_len` bytes of `iter` in `mode`, advancing it.
    ///
    /// With `nowait` the iterator is `nofault` for the call (`FOLL_NOFAULT`: absent pages are
    /// not faulted in), the arrays are allocated with `GFP_NOWAIT`, and anything short of all
    /// `max_len` bytes fails with `EAGAIN`. Otherwise a fault after the first byte ends the
    /// request short, as the block layer's single-bio path does; `EFAULT` (or the error of the
    /// extraction) if no byte could be taken, `ENOMEM` if the arrays cannot be allocated.
    /// [`OwnedPages::stopped_by`] tells the error that ended a short request.
    ///
    /// # Safety
    ///
    /// If `iter` lists kernel pages (BVEC, KVEC, ...), its owner must keep them alive until the
    /// returned value is dropped.
    pub(crate) unsafe fn take_all<I: Iter>(
        iter: &mut I,
        max_len: usize,
        mode: Mode,
        nowait: bool,
        counters: &Counters,
    ) -> Result<Self> {
        let flags = if nowait { GFP_NOWAIT } else { GFP_KERNEL };
        let npages = iter.npages(usize::MAX);
        let mut pages = KVec::with_capacity(npages, flags)?;
        let mut spans = KVec::with_capacity(npages, flags)?;
        let was_nofault = iter.set_nofault(nowait);
        let mut len = 0;
        let mut retention = Retention::Listed;
        let mut failure = None;
        while len < max_len && pages.len() < npages {
            match take(
                iter,
                pages.spare_capacity_mut(),
                max_len - len,
                mode,
                counters,
            ) {
                Ok(taken) => {
                    // SAFETY: `take()` initialised the first `nr_pages` of the spare slots,
                    // no more than there are.
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
        // INVARIANT: `take()` filled `pages` with non-null pages holding what
        // `retention` says (one mode and one iterator type, so one retention), and `spans`
        // with their ranges; the caller keeps listed pages alive (function safety).
        let owned = Self {
            pages,
            spans,
            len,
            retention,
            writable: I::DEVICE_WRITES,
            written: false,
            failure: if len < max_len { failure } else { None },
        };
        let result = if len == max_len {
            Ok(())
        } else if nowait {
            Err(EAGAIN)
        } else if len == 0 {
            Err(failure.unwrap_or(EFAULT))
        } else {
            Ok(())
        };
        match result {
            Ok(()) => Ok(owned),
            Err(err) => {
                owned.release(counters);
                Err(err)
            }
        }
    }

    /// Bytes covered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The error that stopped taking pages short of the length asked for (`EFAULT`: memory
    /// that cannot be taken), or `None` if every byte was taken.
    pub(crate) fn stopped_by(&self) -> Option<Error> {
        self.failure
    }

    /// Whether the device may write into the pages (they came from a destination iterator).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    /// How the pages are held.
    pub(crate) fn retention(&self) -> Retention {
        self.retention
    }

    /// The pages as (page, byte range) segments, in iterator order, for the device to read.
    pub(crate) fn segments(&self) -> impl Iterator<Item = (PageRef<'_>, Span)> + '_ {
        self.raw_segments().map(|(page, span)| {
            // SAFETY: The pages stay valid while `self` is borrowed (type invariants).
            (unsafe { PageRef::from_raw(page) }, span)
        })
    }

    /// The pages as segments for the device to write into; marks them to be released dirty.
    /// Fails with `EPERM` if they came from a source iterator.
    pub(crate) fn segments_mut(
        &mut self,
    ) -> Result<impl Iterator<Item = (PageMut<'_>, Span)> + '_> {
        if !self.writable {
            return Err(EPERM);
        }
        // INVARIANT: Set before handing out writable pages.
        self.written = true;
        Ok(self.raw_segments().map(|(page, span)| {
            // SAFETY: The pages stay valid while `self` is borrowed and may be written (type
            // invariants).
            (unsafe { PageMut::from_raw(page) }, span)
        }))
    }

    fn raw_segments(&self) -> impl Iterator<Item = (ptr::NonNull<bindings::page>, Span)> + '_ {
        self.pages
            .iter()
            .zip(self.spans.iter())
            .filter_map(|(page, span)| Some((ptr::NonNull::new(*page)?, *span)))
    }

    /// Releases the pages now (see [`Drop`]), counting on `counters`.
    pub(crate) fn release(mut self, counters: &Counters) {
        let pages = core::mem::take(&mut self.pages);
        self.release_pages(pages, counters);
    }

    fn release_pages(&mut self, mut pages: KVec<*mut bindings::page>, counters: &Counters) {
        // SAFETY: `pages` hold what `retention` says on behalf of `self` (type invariants) and
        // were taken out of it, so they are released once; pages are dirtied only if the device
        // wrote into them. Callers run in process context.
        unsafe { release(&mut pages, self.retention, self.written, counters) };
    }
}

impl Drop for OwnedPages {
    fn drop(&mut self) {
        if self.pages.is_empty() {
            return;
        }
        // Not released through `release()`, which every user calls: release uncounted rather
        // than leak the pins.
        let pages = core::mem::take(&mut self.pages);
        let counters = Counters::new();
        self.release_pages(pages, &counters);
    }
}

#[kunit_tests(pinio_extract)]
mod tests {
    use super::*;
    use crate::store::{
        Alloc,
        Store, //
    };
    use kernel::{
        iov::{
            IovIterDest,
            IovIterSource, //
        },
        page::Page,
        sync::atomic::Atomic, //
    };

    /// A byte of the test pattern at `pos`.
    fn pattern(seed: u8, pos: usize) -> u8 {
        (pos as u8).wrapping_mul(31).wrapping_add(seed) ^ ((pos >> 8) as u8)
    }

    fn pins_acquired() -> u64 {
        // SAFETY: Only reads a global counter.
        u64::try_from(unsafe { shim::pinio_foll_pin_acquired() }).unwrap_or(0)
    }

    /// Drains `iter` batch by batch, moving its bytes to or from `store` at `pos`. Checks that
    /// every batch is listed, not pinned, and that holding it took no page reference.
    fn drain<I: Iter>(
        iter: &mut I,
        store: &Store,
        pos: usize,
        counters: &Counters,
    ) -> Result<usize> {
        let mut done = 0;
        while iter.len() != 0 {
            let left = iter.len();
            let mut slots = PageSlots::new();
            let mut batch =
                ExtractedPages::extract(iter, &mut slots, left, Mode::Extract, counters)?;
            if batch.is_pinned() {
                return Err(EINVAL);
            }
            let before: KVec<i32> = collect_refcounts(&batch)?;
            done += if I::DEVICE_WRITES {
                store.read_into(pos + done, batch.segments_mut()?)?
            } else {
                store.write_from(pos + done, batch.segments(), Alloc::MaySleep)?
            };
            let held: KVec<i32> = collect_refcounts(&batch)?;
            drop(batch);
            if before != held {
                return Err(EINVAL);
            }
        }
        Ok(done)
    }

    fn collect_refcounts(batch: &ExtractedPages<'_>) -> Result<KVec<i32>> {
        let mut v = KVec::new();
        for (page, _) in batch.segments() {
            v.push(page.info().ref_count, GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// A KVEC iterator over `len` bytes at `buf`.
    fn kvec_iter(
        kvec: &mut bindings::kvec,
        buf: *mut u8,
        len: usize,
        dir: u32,
    ) -> bindings::iov_iter {
        *kvec = bindings::kvec {
            iov_base: buf.cast(),
            iov_len: len,
        };
        // SAFETY: `kvec` is valid; the iterator is used only while `kvec` and the buffer it
        // describes live (the callers keep both on their stack frame).
        new_iter(|iter| unsafe { bindings::iov_iter_kvec(iter, dir, kvec, 1, len) })
    }

    /// An iterator set up by `init`, which must initialise every field (as `iov_iter_kvec()`
    /// and `iov_iter_bvec()` do).
    fn new_iter(init: impl FnOnce(*mut bindings::iov_iter)) -> bindings::iov_iter {
        let mut iter = core::mem::MaybeUninit::<bindings::iov_iter>::zeroed();
        init(iter.as_mut_ptr());
        // SAFETY: Zeroed, then initialised by `init`; all-zero is also a valid (empty) iterator.
        unsafe { iter.assume_init() }
    }

    /// An asynchronous request's pages: all of a multi-segment KVEC iterator taken at once,
    /// listed (no pin, no reference), in order, and released by `release()` without touching
    /// the pages; a source iterator's pages cannot be written.
    #[test]
    fn owned_pages_take_all_of_a_kvec() -> Result {
        let counters = Counters::new();
        let store = KBox::pin_init(Store::new(16 * PAGE_SIZE), GFP_KERNEL)?;
        let len = 5 * PAGE_SIZE + 300;
        let mut src = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        for (i, b) in src.iter_mut().enumerate() {
            *b = pattern(3, i);
        }
        let acquired = pins_acquired();
        let half = 2 * PAGE_SIZE + 100;
        let mut kvecs = [
            bindings::kvec {
                iov_base: src.as_mut_ptr().cast(),
                iov_len: half,
            },
            bindings::kvec {
                iov_base: src.as_mut_ptr().wrapping_add(half).cast(),
                iov_len: len - half,
            },
        ];
        // SAFETY: `kvecs` and `src` outlive the iterator.
        let mut raw = new_iter(|it| unsafe {
            bindings::iov_iter_kvec(it, bindings::ITER_SOURCE, kvecs.as_mut_ptr(), 2, len)
        });
        // SAFETY: `raw` is a valid source iterator over `src`.
        let iter = unsafe { IovIterSource::from_raw(&mut raw) };
        // SAFETY: `src` (the listed pages' owner) outlives `owned`.
        let mut owned =
            unsafe { OwnedPages::take_all(iter, len, Mode::Extract, false, &counters) }?;
        assert_eq!(owned.len(), len);
        assert_eq!(iter.len(), 0);
        assert!(owned.retention() == Retention::Listed);
        assert!(!owned.is_writable());
        assert!(owned.segments_mut().is_err());
        assert_eq!(
            store.write_from(512, owned.segments(), Alloc::MaySleep)?,
            len
        );
        owned.release(&counters);

        let mut back = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let mut kvec = bindings::kvec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        let mut raw = kvec_iter(&mut kvec, back.as_mut_ptr(), len, bindings::ITER_DEST);
        // SAFETY: `raw` is a valid destination iterator over `back`, which outlives it.
        let iter = unsafe { IovIterDest::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 512, &counters)?, len);
        assert!(back == src);
        assert_eq!(counters.pages_pinned.load(kernel::sync::atomic::Relaxed), 0);
        assert_eq!(
            counters.pages_unpinned.load(kernel::sync::atomic::Relaxed),
            0
        );
        assert_eq!(pins_acquired(), acquired);
        Ok(())
    }

    /// KVEC iterators (kernel_read/kernel_write) are listed, not pinned, and their bytes
    /// round-trip through the store, from and to unaligned kernel buffers spanning pages.
    #[test]
    fn kvec_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let store = KBox::pin_init(Store::new(16 * PAGE_SIZE), GFP_KERNEL)?;
        let len = 3 * PAGE_SIZE + 700;
        let skew = 100;
        let mut src = KVec::from_elem(0u8, len + skew, GFP_KERNEL)?;
        for (i, b) in src.iter_mut().enumerate() {
            *b = pattern(7, i);
        }
        let mut dst = KVec::from_elem(0u8, len + skew, GFP_KERNEL)?;
        let acquired = pins_acquired();

        let mut kvec = bindings::kvec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        let mut raw = kvec_iter(
            &mut kvec,
            src.as_mut_ptr().wrapping_add(skew),
            len,
            bindings::ITER_SOURCE,
        );
        // SAFETY: `raw` is a valid source iterator over `src`, which outlives it.
        let iter = unsafe { IovIterSource::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 1000, &counters)?, len);

        let mut raw = kvec_iter(
            &mut kvec,
            dst.as_mut_ptr().wrapping_add(skew),
            len,
            bindings::ITER_DEST,
        );
        // SAFETY: `raw` is a valid destination iterator over `dst`, which outlives it.
        let iter = unsafe { IovIterDest::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 1000, &counters)?, len);

        assert!(src.get(skew..) == dst.get(skew..));
        assert_eq!(counters.pages_pinned.load(kernel::sync::atomic::Relaxed), 0);
        assert!(counters.pages_listed.load(kernel::sync::atomic::Relaxed) >= 8);
        assert!(counters.extract_kvec.load(kernel::sync::atomic::Relaxed) >= 2);
        assert_eq!(pins_acquired(), acquired);
        report("KVEC", &counters, &counters.extract_kvec, acquired);
        Ok(())
    }

    /// BVEC iterators (splice, sendfile) are listed, not pinned; odd offsets and lengths across
    /// several pages land at the right store offsets and come back unchanged.
    #[test]
    fn bvec_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let store = KBox::pin_init(Store::new(16 * PAGE_SIZE), GFP_KERNEL)?;
        let layout: [(usize, usize); 3] = [(100, 1000), (0, PAGE_SIZE), (512, 2048)];
        let total: usize = layout.iter().map(|&(_, l)| l).sum();
        let acquired = pins_acquired();

        let mut src_pages = KVec::new();
        let mut dst_pages = KVec::new();
        for _ in 0..layout.len() {
            let page = Page::alloc_page(GFP_KERNEL | kernel::alloc::flags::__GFP_ZERO)?;
            let mut fill = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
            for (i, b) in fill.iter_mut().enumerate() {
                *b = pattern(src_pages.len() as u8, i);
            }
            // SAFETY: `fill` is a valid source of `PAGE_SIZE` bytes; no one else uses the page.
            unsafe { page.write_raw(fill.as_ptr(), 0, PAGE_SIZE)? };
            src_pages.push(page, GFP_KERNEL)?;
            dst_pages.push(
                Page::alloc_page(GFP_KERNEL | kernel::alloc::flags::__GFP_ZERO)?,
                GFP_KERNEL,
            )?;
        }
        let bvecs = |pages: &KVec<Page>| -> Result<KVec<bindings::bio_vec>> {
            let mut v = KVec::new();
            for (page, &(offset, len)) in pages.iter().zip(layout.iter()) {
                v.push(
                    bindings::bio_vec {
                        bv_page: page.as_ptr(),
                        bv_len: len as u32,
                        bv_offset: offset as u32,
                    },
                    GFP_KERNEL,
                )?;
            }
            Ok(v)
        };

        let mut src_vecs = bvecs(&src_pages)?;
        // SAFETY: `src_vecs` and the pages it names outlive the iterator.
        let mut raw = new_iter(|it| unsafe {
            bindings::iov_iter_bvec(it, bindings::ITER_SOURCE, src_vecs.as_mut_ptr(), 3, total)
        });
        // SAFETY: `raw` is a valid source iterator.
        let iter = unsafe { IovIterSource::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 4096 + 512, &counters)?, total);

        let mut dst_vecs = bvecs(&dst_pages)?;
        // SAFETY: `dst_vecs` and the pages it names outlive the iterator.
        let mut raw = new_iter(|it| unsafe {
            bindings::iov_iter_bvec(it, bindings::ITER_DEST, dst_vecs.as_mut_ptr(), 3, total)
        });
        // SAFETY: `raw` is a valid destination iterator.
        let iter = unsafe { IovIterDest::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 4096 + 512, &counters)?, total);

        for ((src, dst), &(offset, len)) in
            src_pages.iter().zip(dst_pages.iter()).zip(layout.iter())
        {
            let mut a = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
            let mut b = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
            // SAFETY: Valid destinations of `PAGE_SIZE` bytes; the pages are ours alone.
            unsafe {
                src.read_raw(a.as_mut_ptr(), 0, PAGE_SIZE)?;
                dst.read_raw(b.as_mut_ptr(), 0, PAGE_SIZE)?;
            }
            assert!(a.get(offset..offset + len) == b.get(offset..offset + len));
            // Bytes outside the segment were not touched.
            assert!(b.get(..offset).is_some_and(|s| s.iter().all(|&x| x == 0)));
        }
        assert_eq!(counters.pages_pinned.load(kernel::sync::atomic::Relaxed), 0);
        assert!(counters.extract_bvec.load(kernel::sync::atomic::Relaxed) >= 2);
        assert_eq!(pins_acquired(), acquired);
        report("BVEC", &counters, &counters.extract_bvec, acquired);
        Ok(())
    }

    /// `count` order-0 pages, page `i` filled with `pattern(seed + i, ..)` (or zeroed if
    /// `seed` is `None`).
    fn pattern_pages(count: usize, seed: Option<u8>) -> Result<KVec<Page>> {
        let mut pages = KVec::new();
        let mut fill = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
        for i in 0..count {
            let page = Page::alloc_page(GFP_KERNEL | kernel::alloc::flags::__GFP_ZERO)?;
            if let Some(seed) = seed {
                for (j, b) in fill.iter_mut().enumerate() {
                    *b = pattern(seed.wrapping_add(i as u8), j);
                }
                // SAFETY: `fill` holds `PAGE_SIZE` bytes; no one else uses the new page.
                unsafe { page.write_raw(fill.as_ptr(), 0, PAGE_SIZE)? };
            }
            pages.push(page, GFP_KERNEL)?;
        }
        Ok(pages)
    }

    /// Whether the bytes `from..from + len` of the run of pages `a` (as one buffer) equal
    /// those of `b`.
    fn same_bytes(a: &[Page], b: &[Page], from: usize, len: usize) -> Result<bool> {
        let mut x = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
        let mut y = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
        for (i, (pa, pb)) in a.iter().zip(b.iter()).enumerate() {
            let lo = from.max(i * PAGE_SIZE);
            let hi = (from + len).min((i + 1) * PAGE_SIZE);
            if lo >= hi {
                continue;
            }
            // SAFETY: Valid destinations of `PAGE_SIZE` bytes; the pages are the test's alone.
            unsafe {
                pa.read_raw(x.as_mut_ptr(), 0, PAGE_SIZE)?;
                pb.read_raw(y.as_mut_ptr(), 0, PAGE_SIZE)?;
            }
            let r = (lo - i * PAGE_SIZE)..(hi - i * PAGE_SIZE);
            if x.get(r.clone()) != y.get(r) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An xarray (as a page cache is) holding the folios of `pages` at indices `0..`, destroyed
    /// on drop (the folios are not its to free).
    struct FolioXarray(KBox<bindings::xarray>);

    impl FolioXarray {
        fn new(pages: &[Page]) -> Result<Self> {
            let mut xa = KBox::new(pin_init::zeroed::<bindings::xarray>(), GFP_KERNEL)?;
            // SAFETY: `xa` is a zeroed xarray in memory that does not move while `Self` lives.
            unsafe { shim::pinio_xa_init(&mut *xa) };
            let mut this = Self(xa);
            for (i, page) in pages.iter().enumerate() {
                // SAFETY: `page` is a valid page the caller keeps alive longer than `this`.
                let folio = unsafe { shim::pinio_page_folio(page.as_ptr()) };
                // SAFETY: The xarray was initialised above; a folio pointer is an aligned,
                // ordinary entry. Storing may allocate nodes, which `xa_destroy()` frees.
                let old = unsafe {
                    bindings::xa_store(&mut *this.0, i, folio.cast(), bindings::GFP_KERNEL)
                };
                if !old.is_null() {
                    return Err(ENOMEM);
                }
            }
            Ok(this)
        }
    }

    impl Drop for FolioXarray {
        fn drop(&mut self) {
            // SAFETY: The xarray was initialised in `new()`; its entries are not freed.
            unsafe { bindings::xa_destroy(&mut *self.0) };
        }
    }

    /// A folio queue segment (as netfs builds) holding the folios of `pages`, freed on drop.
    struct FolioQueue(*mut bindings::folio_queue);

    impl FolioQueue {
        fn new(pages: &[Page]) -> Result<Self> {
            // SAFETY: Allocates and initialises an empty segment, or returns NULL.
            let fq = unsafe { shim::pinio_folioq_alloc() };
            if fq.is_null() {
                return Err(ENOMEM);
            }
            let this = Self(fq);
            for page in pages {
                // SAFETY: `fq` is a valid segment with room for these few folios, and each
                // page outlives `this` (the caller keeps them).
                unsafe { shim::pinio_folioq_append(fq, shim::pinio_page_folio(page.as_ptr())) };
            }
            Ok(this)
        }
    }

    impl Drop for FolioQueue {
        fn drop(&mut self) {
            // SAFETY: Allocated with `kmalloc()` by `pinio_folioq_alloc()`; the folios are not
            // the queue's to free.
            unsafe { bindings::kfree(self.0.cast()) };
        }
    }

    /// Moves `len` bytes from `src`'s iterator into the store and back out into `dst`'s, both
    /// starting `offset` bytes into their first page, via `make_iter`; checks that both were
    /// listed (no pin, no reference) and that the bytes arrived.
    fn round_trip(
        mut make_iter: impl FnMut(&[Page], u32, &mut bindings::iov_iter) -> Result,
        offset: usize,
        len: usize,
        counters: &Counters,
    ) -> Result {
        let store = KBox::pin_init(Store::new(16 * PAGE_SIZE), GFP_KERNEL)?;
        let nr = (offset + len).div_ceil(PAGE_SIZE);
        let src = pattern_pages(nr, Some(11))?;
        let dst = pattern_pages(nr, None)?;
        let mut raw = new_iter(|_| {});
        make_iter(&src, bindings::ITER_SOURCE, &mut raw)?;
        // SAFETY: `raw` is a valid source iterator over `src`, which outlives it.
        let iter = unsafe { IovIterSource::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 3 * 512, counters)?, len);
        let mut raw = new_iter(|_| {});
        make_iter(&dst, bindings::ITER_DEST, &mut raw)?;
        // SAFETY: `raw` is a valid destination iterator over `dst`, which outlives it.
        let iter = unsafe { IovIterDest::from_raw(&mut raw) };
        assert_eq!(drain(iter, &store, 3 * 512, counters)?, len);
        assert!(same_bytes(&src, &dst, offset, len)?);
        // Bytes before the range were not written.
        assert!(offset == 0 || !same_bytes(&src, &dst, 0, offset)?);
        Ok(())
    }

    /// ITER_XARRAY (the folios of an xarray, as netfs and cachefiles hand them to a driver):
    /// listed, not pinned, and the bytes round-trip.
    #[test]
    fn xarray_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let acquired = pins_acquired();
        let (offset, len) = (700, 2 * PAGE_SIZE + 1000);
        let mut xarrays = KVec::new();
        round_trip(
            |pages, dir, raw| {
                let mut xa = FolioXarray::new(pages)?;
                // SAFETY: `raw` is writable; the xarray (boxed, so it does not move) and its
                // folios outlive the iterator (kept in `xarrays` and by the caller).
                unsafe { bindings::iov_iter_xarray(raw, dir, &mut *xa.0, offset as i64, len) };
                xarrays.push(xa, GFP_KERNEL)?;
                Ok(())
            },
            offset,
            len,
            &counters,
        )?;
        assert_eq!(counters.pages_pinned.load(kernel::sync::atomic::Relaxed), 0);
        assert!(counters.pages_listed.load(kernel::sync::atomic::Relaxed) >= 6);
        assert!(counters.extract_xarray.load(kernel::sync::atomic::Relaxed) >= 2);
        assert_eq!(pins_acquired(), acquired);
        report("XARRAY", &counters, &counters.extract_xarray, acquired);
        Ok(())
    }

    /// ITER_FOLIOQ (a folio queue, as netfs builds for its I/O): listed, not pinned, and the
    /// bytes round-trip.
    #[test]
    fn folioq_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let acquired = pins_acquired();
        let (offset, len) = (300, 3 * PAGE_SIZE - 100);
        let mut queues = KVec::new();
        round_trip(
            |pages, dir, raw| {
                let fq = FolioQueue::new(pages)?;
                // SAFETY: `raw` is writable; the queue and its folios outlive the iterator
                // (kept in `queues` and by the caller).
                unsafe { bindings::iov_iter_folio_queue(raw, dir, fq.0, 0, offset as u32, len) };
                queues.push(fq, GFP_KERNEL)?;
                Ok(())
            },
            offset,
            len,
            &counters,
        )?;
        assert_eq!(counters.pages_pinned.load(kernel::sync::atomic::Relaxed), 0);
        assert!(counters.pages_listed.load(kernel::sync::atomic::Relaxed) >= 6);
        assert!(counters.extract_folioq.load(kernel::sync::atomic::Relaxed) >= 2);
        assert_eq!(pins_acquired(), acquired);
        report("FOLIOQ", &counters, &counters.extract_folioq, acquired);
        Ok(())
    }

    /// One row of the iterator-kind table that pinio_exp_test prints (it reads these lines
    /// from the kernel log): what extraction did with this kind of kernel iterator.
    fn report(kind: &str, counters: &Counters, by_kind: &Atomic<u64>, acquired: u64) {
        use kernel::sync::atomic::Relaxed;
        pr_info!(
            "iter-kind {} calls={} kind_calls={} pinned={} listed={} foll_pin={}\n",
            kind,
            counters.extract_calls.load(Relaxed),
            by_kind.load(Relaxed),
            counters.pages_pinned.load(Relaxed),
            counters.pages_listed.load(Relaxed),
            pins_acquired().saturating_sub(acquired)
        );
    }
}
