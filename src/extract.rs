// SPDX-License-Identifier: GPL-2.0

//! Page batches extracted from an `iov_iter`.
//!
//! [`ExtractedPages`] wraps `iov_iter_extract_pages()`: user-backed iterators (UBUF, IOVEC) get
//! their pages pinned with `FOLL_PIN` (and `FOLL_WRITE` when the device will write into them);
//! kernel-page iterators (BVEC, KVEC, ...) get their pages merely listed, with no reference
//! taken, because whoever built the iterator keeps them alive. `iov_iter_extract_will_pin()`
//! tells the two apart, and decides the release: pinned pages are unpinned on drop with
//! `unpin_user_pages_dirty_lock()` (the folio-batched call), dirtied if the device wrote into
//! them; listed pages are left alone.

use crate::{
    counters::Counters,
    ffi,
    page_ref::{page_spans, PageMut, PageRef, Span},
};
use core::{marker::PhantomData, ptr};
use kernel::ffi::c_ulong;
use kernel::{
    bindings,
    iov::{IovIterDest, IovIterSource},
    page::PAGE_SIZE,
    prelude::*,
};

/// The most pages one extraction takes: 256 KiB with 4 KiB pages.
///
/// The page array lives in the [`ExtractedPages`] value, i.e. on the stack of the transfer, so a
/// transfer needs no allocation and no lock, and the work per step is bounded.
pub(crate) const BATCH_PAGES: usize = 64;

/// An `iov_iter` the device moves data for.
pub(crate) trait Iter {
    /// Whether the device writes into the iterator's pages (a read).
    const DEVICE_WRITES: bool;

    /// The raw iterator.
    fn as_raw(&mut self) -> *mut bindings::iov_iter;

    /// Bytes left in the iterator.
    fn len(&self) -> usize;

    /// Moves the iterator back by `bytes`.
    ///
    /// # Safety
    ///
    /// The iterator must have been advanced by at least `bytes` since it was set up.
    unsafe fn revert(&mut self, bytes: usize);
}

impl Iter for IovIterDest<'_> {
    const DEVICE_WRITES: bool = true;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterDest::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterDest::len(self)
    }

    unsafe fn revert(&mut self, bytes: usize) {
        // SAFETY: Guaranteed by the caller.
        unsafe { IovIterDest::revert(self, bytes) }
    }
}

impl Iter for IovIterSource<'_> {
    const DEVICE_WRITES: bool = false;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterSource::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterSource::len(self)
    }

    unsafe fn revert(&mut self, bytes: usize) {
        // SAFETY: Guaranteed by the caller.
        unsafe { IovIterSource::revert(self, bytes) }
    }
}

/// One batch of pages extracted from an iterator, released when dropped.
///
/// The batch mutably borrows the iterator for `'a`: listed kernel pages are kept alive by the
/// iterator's owner, so they cannot outlive it, and the iterator cannot be advanced while a
/// batch of its pages is in use.
///
/// # Invariants
///
/// - `pages[..nr_pages]` are the non-null pages `iov_iter_extract_pages()` returned; the first
///   `nr_pages` are valid for `'a`. If `pinned`, each holds one `FOLL_PIN` pin owned by this
///   batch (and nothing else does); otherwise they are listed pages that the iterator's owner
///   keeps alive for `'a`.
/// - The batch covers `len > 0` bytes starting `offset < PAGE_SIZE` bytes into `pages[0]`, and
///   `nr_pages == (offset + len).div_ceil(PAGE_SIZE) <= BATCH_PAGES`.
/// - If `writable`, the pages came from a destination iterator (pinned with `FOLL_WRITE` if
///   user-backed), so the device may write into them.
/// - `written` is set before the device writes into any page of the batch.
pub(crate) struct ExtractedPages<'a> {
    pages: [*mut bindings::page; BATCH_PAGES],
    nr_pages: usize,
    offset: usize,
    len: usize,
    pinned: bool,
    writable: bool,
    written: bool,
    counters: &'a Counters,
    _iter: PhantomData<&'a mut bindings::iov_iter>,
}

impl<'a> ExtractedPages<'a> {
    /// Extracts the pages of up to `max_len` bytes from the front of `iter`, advancing it.
    ///
    /// At most one contiguous segment and [`BATCH_PAGES`] pages are taken per call, so the batch
    /// may be shorter than asked; call again for the rest. Fails with `EFAULT` (or another
    /// error of the extraction) if no byte could be extracted, e.g. because user memory is not
    /// mapped or not writable for a read.
    pub(crate) fn extract<I: Iter>(
        iter: &'a mut I,
        max_len: usize,
        counters: &'a Counters,
    ) -> Result<Self> {
        let raw = iter.as_raw();
        let mut pages = [ptr::null_mut(); BATCH_PAGES];
        let mut list = pages.as_mut_ptr();

        let mut offset = 0usize;
        // SAFETY: `raw` is the valid iterator borrowed for `'a`.
        let pinned = unsafe { ffi::pinio_iov_iter_extract_will_pin(raw) };
        // SAFETY: `raw` is a valid iterator; `list` points to an array of `BATCH_PAGES` page
        // pointers, which `iov_iter_extract_pages()` fills in place (it allocates only when
        // `*pages` is null); `offset` is a valid place for the offset into the first page.
        let ret = unsafe {
            bindings::iov_iter_extract_pages(
                raw,
                &mut list,
                max_len,
                BATCH_PAGES as u32,
                0,
                &mut offset,
            )
        };
        Counters::add(&counters.extract_calls, 1);
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
        if pinned {
            Counters::add(&counters.pages_pinned, nr_pages);
        } else {
            Counters::add(&counters.pages_listed, nr_pages);
        }
        // INVARIANT: On success `iov_iter_extract_pages()` returned `len > 0` bytes starting
        // `offset < PAGE_SIZE` into the first of `nr_pages <= BATCH_PAGES` non-null pages
        // (`maxpages` bounds them) that it wrote in place into `pages` (it allocates an array
        // only when given none), pinned with `FOLL_PIN` iff `iov_iter_extract_will_pin()` said
        // so, and with `FOLL_WRITE` for a destination iterator.
        Ok(Self {
            pages,
            nr_pages,
            offset,
            len,
            pinned,
            writable: I::DEVICE_WRITES,
            written: false,
            counters,
            _iter: PhantomData,
        })
    }

    /// Bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the pages are pinned (user memory) rather than listed (kernel pages).
    pub(crate) fn is_pinned(&self) -> bool {
        self.pinned
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
        self.pages
            .iter()
            .take(self.nr_pages)
            .zip(page_spans(self.offset, self.len))
            .filter_map(|(page, span)| Some((ptr::NonNull::new(*page)?, span)))
    }
}

impl Drop for ExtractedPages<'_> {
    fn drop(&mut self) {
        if !self.pinned {
            return;
        }
        // SAFETY: `pages[..nr_pages]` hold one `FOLL_PIN` pin each, owned by this batch (type
        // invariants); this releases them exactly once, dirtying them if the device wrote into
        // them, and the batch is gone afterwards.
        unsafe {
            bindings::unpin_user_pages_dirty_lock(
                self.pages.as_mut_ptr(),
                self.nr_pages as c_ulong,
                self.written,
            )
        };
        Counters::add(&self.counters.pages_unpinned, self.nr_pages);
        if self.written {
            Counters::add(&self.counters.pages_dirtied, self.nr_pages);
        }
    }
}

#[kunit_tests(pinio_extract)]
mod tests {
    use super::*;
    use crate::{dma, store::Store};
    use kernel::page::Page;

    /// A byte of the test pattern at `pos`.
    fn pattern(seed: u8, pos: usize) -> u8 {
        (pos as u8).wrapping_mul(31).wrapping_add(seed) ^ ((pos >> 8) as u8)
    }

    fn pins_acquired() -> u64 {
        // SAFETY: Only reads a global counter.
        u64::try_from(unsafe { ffi::pinio_foll_pin_acquired() }).unwrap_or(0)
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
            let mut batch = ExtractedPages::extract(iter, left, counters)?;
            if batch.is_pinned() {
                return Err(EINVAL);
            }
            let before: KVec<i32> = collect_refcounts(&batch)?;
            done += if I::DEVICE_WRITES {
                dma::store_to_pages(store, pos + done, batch.segments_mut()?)?
            } else {
                dma::pages_to_store(store, pos + done, batch.segments())?
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

    /// KVEC iterators (kernel_read/kernel_write) are listed, not pinned, and their bytes
    /// round-trip through the store, from and to unaligned kernel buffers spanning pages.
    #[test]
    fn kvec_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let store = Store::new(16 * PAGE_SIZE)?;
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
        assert_eq!(pins_acquired(), acquired);
        Ok(())
    }

    /// BVEC iterators (splice, sendfile) are listed, not pinned; odd offsets and lengths across
    /// several pages land at the right store offsets and come back unchanged.
    #[test]
    fn bvec_is_listed_and_round_trips() -> Result {
        let counters = Counters::new();
        let store = Store::new(16 * PAGE_SIZE)?;
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
        assert_eq!(pins_acquired(), acquired);
        Ok(())
    }
}
