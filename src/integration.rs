// SPDX-License-Identifier: GPL-2.0

//! KUnit suites that need several layers at once: fixtures that would otherwise reach up from
//! a lower layer's tests into a higher one.
//!
//! `pinio_extract` checks the pages layer's extraction against every kind of kernel-page
//! iterator, moving the bytes through the device's store; it logs one `iter-kind` line per
//! kind, which `tests-kselftest/pinio_exp.h` reads back for its table.

use kernel::prelude::*;

#[kunit_tests(pinio_extract)]
mod extract {
    use crate::{
        disk::{
            counters::Counters,
            data_path::DeviceIo,
            store::{
                Alloc,
                Store, //
            }, //
        },
        glue::shim,
        pages::{
            batch::{
                ExtractedPages,
                PageSlots, //
            },
            copy,
            extract::Retention,
            gup::{
                HeldPages,
                HoldOptions, //
            },
            iter::Iter,
            owned::OwnedPages,
            view::{
                Access,
                PageMut,
                PageRef,
                Span,
                Writable, //
            },
        },
    };
    use core::ptr;
    use kernel::{
        alloc::flags::__GFP_ZERO,
        bindings,
        iov::{
            IovIterDest,
            IovIterSource, //
        },
        page::{
            Page,
            PAGE_SIZE, //
        },
        prelude::*,
        sync::atomic::Atomic,
        uaccess::{
            UserPtr,
            UserSlice, //
        }, //
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
    fn drain<I: Iter>(iter: &mut I, store: &Store, pos: usize, counters: &Counters) -> Result<usize>
    where
        I::Access: DeviceIo,
    {
        let mut done = 0;
        while !Iter::is_empty(iter) {
            let left = iter.len();
            counters.extraction(iter.kind());
            let mut slots = PageSlots::new();
            let mut batch = ExtractedPages::extract(iter, &mut slots, left)?;
            counters.taken(batch.retention(), batch.nr_pages());
            if batch.retention() != Retention::Listed {
                return Err(EINVAL);
            }
            let before: KVec<i32> = collect_refcounts(&batch)?;
            done += <I::Access as DeviceIo>::store_io(
                store,
                pos + done,
                batch.segments(),
                Alloc::MaySleep,
            )?;
            let held: KVec<i32> = collect_refcounts(&batch)?;
            counters.released(batch.release());
            if before != held {
                return Err(EINVAL);
            }
        }
        Ok(done)
    }

    fn collect_refcounts<A: Access>(batch: &ExtractedPages<'_, A>) -> Result<KVec<i32>> {
        let mut v = KVec::new();
        for (page, _) in batch.read_segments() {
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
        let mut owned = unsafe { OwnedPages::extract_all(iter, len, false) }?;
        counters.taken(owned.retention(), owned.nr_pages());
        assert_eq!(owned.len(), len);
        assert_eq!(iter.len(), 0);
        assert!(owned.retention() == Retention::Listed);
        assert_eq!(
            store.write_from(512, owned.segments(), Alloc::MaySleep)?,
            len
        );
        counters.released(owned.release());

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

    /// A user range pinned for writing with [`HeldPages::pin`] ("pin, write, unpin", case 5 of
    /// `pin_user_pages.rst`), in an mm KUnit gives the test: read through the views, written
    /// through them, unpinned dirty when dropped; user space sees the bytes written.
    #[test]
    fn held_pages_pin_write_unpin() -> Result {
        // <uapi/linux/mman.h> as on x86-64 (the kernel crate's bindings lack it).
        const PROT_READ: usize = 0x1;
        const PROT_WRITE: usize = 0x2;
        const MAP_PRIVATE: usize = 0x02;
        const MAP_ANONYMOUS: usize = 0x20;
        let nr_pages = 3;
        let len = nr_pages * PAGE_SIZE;
        // SAFETY: `kunit_get_current_test()` is the test running in this thread;
        // `kunit_vm_mmap()` maps anonymous memory into an mm it attaches to this thread, and
        // unmaps it when the test ends.
        let addr = unsafe {
            bindings::kunit_vm_mmap(
                bindings::kunit_get_current_test(),
                ptr::null_mut(),
                0,
                len,
                PROT_READ | PROT_WRITE,
                MAP_ANONYMOUS | MAP_PRIVATE,
                0,
            )
        };
        assert_ne!(addr, 0);
        let mut src = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        for (i, b) in src.iter_mut().enumerate() {
            *b = pattern(5, i);
        }
        UserSlice::new(UserPtr::from_addr(addr), len)
            .writer()
            .write_slice(&src)?;

        let options = HoldOptions {
            retention: Retention::Pinned,
            longterm: false,
            nofault: false,
            slow: false,
        };
        let mut held = HeldPages::<Writable>::pin(addr, nr_pages, options)?;
        assert_eq!(held.len(), nr_pages);

        // Read the middle page's first bytes into a page of our own, through the views.
        let mut mine = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        if let Some((page, span)) = held.read_segments(PAGE_SIZE, 64).and_then(|mut s| s.next()) {
            copy::copy(PageMut::from_page(&mut mine), 0, page, span)?;
        }
        let mut got = [0u8; 64];
        // SAFETY: `got` is valid for 64 bytes; nothing else uses `mine`.
        unsafe { mine.read_raw(got.as_mut_ptr(), 0, 64)? };
        assert!(got[..] == src[PAGE_SIZE..PAGE_SIZE + 64]);

        // Write 100 bytes of our own page over the end of the first page and the start of the
        // second.
        let mut pos = 0;
        for (page, span) in held.segments(PAGE_SIZE - 50, 100).ok_or(EINVAL)? {
            let from = Span {
                offset: pos,
                len: span.len,
            };
            copy::copy(page, span.offset, PageRef::from_page(&mine), from)?;
            pos += span.len;
        }
        assert_eq!(pos, 100);
        assert!(held.written());
        drop(held);

        let mut back = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        UserSlice::new(UserPtr::from_addr(addr), len)
            .reader()
            .read_slice(&mut back)?;
        let mut want = src;
        want[PAGE_SIZE - 50..PAGE_SIZE + 14].copy_from_slice(&got);
        want[PAGE_SIZE + 14..PAGE_SIZE + 50].fill(0);
        assert!(back == want);
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
