// SPDX-License-Identifier: GPL-2.0

//! The device's memory, addressed by byte offset, allocated as brd allocates a ramdisk's
//! (`drivers/block/brd.c`): nothing at load, a zeroed page the first time a write touches it,
//! kept until the device goes. Bytes never written read as zeros, without allocating.
//!
//! A write that cannot get a page fails as a write to brd does: `EIO` (`brd_rw_bvec()` ends
//! the bio with `BLK_STS_IOERR`), or `EAGAIN` under `IOCB_NOWAIT` (`bio_wouldblock_error()`).
//! Unlike brd, whose `GFP_NOIO` allocations take the machine's last free pages and leave the
//! next allocation of any other process to the OOM killer, the store stops short: it takes no
//! page once less than 1/[`RESERVE_DIVISOR`] of RAM is available (`MemAvailable`).
//!
//! Transfers look pages up and copy without a lock of the store (the xarray serialises only
//! the insertion of a page); concurrent transfers to the same bytes race as DMA would.

use super::sparse_pages::{
    Gfp,
    SparsePages, //
};
use crate::{
    glue::meminfo,
    pages::{
        copy,
        view::{
            PageMut,
            PageRef,
            Span, //
        },
    },
};
use kernel::{
    page::PAGE_SIZE,
    prelude::*, //
};

/// The store never takes a page when less than `1 / RESERVE_DIVISOR` of RAM would be left
/// available (`MemAvailable`): about 3 %, like `vm.user_reserve_kbytes`.
pub(crate) const RESERVE_DIVISOR: usize = 32;

/// May a write sleep to get a page it is the first to touch?
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alloc {
    /// Yes (process context): reclaim once, then fail (`EIO`).
    MaySleep,
    /// No (`IOCB_NOWAIT`): only what is free now, else `EAGAIN`.
    NoWait,
}

/// The store of `/dev/pinio`.
///
/// # Invariants
///
/// `size` is a non-zero multiple of `PAGE_SIZE`; `pages` holds pages only at indices below
/// `size / PAGE_SIZE`.
#[pin_data]
pub(crate) struct Store {
    #[pin]
    pages: SparsePages,
    size: usize,
}

impl Store {
    /// An empty store of `size` bytes: allocates nothing. `EINVAL` unless `size` is a non-zero
    /// multiple of `PAGE_SIZE`.
    pub(crate) fn new(size: usize) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _: {
                if size == 0 || size % PAGE_SIZE != 0 {
                    Err(EINVAL)?;
                }
            },
            pages <- SparsePages::new(),
            // INVARIANT: Checked above; the store is empty.
            size,
        })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Pages allocated so far (the store's memory is this many pages).
    pub(crate) fn nr_pages(&self) -> u64 {
        self.pages.count()
    }

    /// Splits the store range `pos..pos + len` at page boundaries: (page index, piece within
    /// the page, offset of the piece from `pos`). `EINVAL` if the range leaves the store.
    fn pieces(&self, pos: usize, len: usize) -> Result<impl Iterator<Item = (usize, Span, usize)>> {
        let end = pos.checked_add(len).ok_or(EINVAL)?;
        if end > self.size {
            return Err(EINVAL);
        }
        let mut done = 0;
        Ok(core::iter::from_fn(move || {
            if done >= len {
                return None;
            }
            let at = pos + done;
            let offset = at % PAGE_SIZE;
            let piece = (PAGE_SIZE - offset).min(len - done);
            let skip = done;
            done += piece;
            Some((at / PAGE_SIZE, Span { offset, len: piece }, skip))
        }))
    }

    /// Copies the store, from `pos` on, into `segments` (in order); bytes of the store never
    /// written are zeros. Allocates nothing. Returns the bytes copied.
    ///
    /// Fails with `EINVAL` before copying a segment that would read past the store.
    pub(crate) fn read_into<'p>(
        &self,
        pos: usize,
        segments: impl Iterator<Item = (PageMut<'p>, Span)>,
    ) -> Result<usize> {
        let mut done = 0usize;
        for (page, seg) in segments {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            self.read_pieces(at, seg.len, |store_page, piece, skip| {
                let offset = seg.offset + skip;
                match store_page {
                    Some(store_page) => copy::copy(page, offset, store_page, piece),
                    None => copy::zero(
                        page,
                        Span {
                            offset,
                            len: piece.len,
                        },
                    ),
                }
            })?;
            done += seg.len;
        }
        Ok(done)
    }

    /// Copies `segments` (in order) into the store from `pos` on, allocating the store pages
    /// they are the first to write as `alloc` allows. Returns the bytes copied.
    ///
    /// Fails with `EINVAL` before copying a segment that would write past the store, and with
    /// `EIO` (`EAGAIN` for [`Alloc::NoWait`]) when a store page cannot be allocated
    /// ([`Store::write_pieces`]); the bytes before that may have been copied.
    pub(crate) fn write_from<'p>(
        &self,
        pos: usize,
        segments: impl Iterator<Item = (PageRef<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize> {
        let mut done = 0usize;
        for (page, seg) in segments {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            self.write_pieces(at, seg.len, alloc, |store_page, piece, skip| {
                copy::copy(
                    store_page,
                    piece.offset,
                    page,
                    Span {
                        offset: seg.offset + skip,
                        len: piece.len,
                    },
                )
            })?;
            done += seg.len;
        }
        Ok(done)
    }

    /// Calls `f` with each page-sized piece of the store range `pos..pos + len`, for reading:
    /// the store page (`None` for a page never written, which reads as zeros), the piece within
    /// it, and the piece's offset from `pos`. Allocates nothing.
    ///
    /// Fails with `EINVAL` before calling `f` if the range leaves the store, or with the first
    /// error of `f`.
    fn read_pieces(
        &self,
        pos: usize,
        len: usize,
        mut f: impl FnMut(Option<PageRef<'_>>, Span, usize) -> Result,
    ) -> Result {
        for (index, piece, skip) in self.pieces(pos, len)? {
            f(self.pages.get(index).map(PageMut::as_ref), piece, skip)?;
        }
        Ok(())
    }

    /// Calls `f` with each page-sized piece of the store range `pos..pos + len`, for writing:
    /// the store page, allocated now if no write touched it before, the piece within it, and
    /// the piece's offset from `pos`.
    ///
    /// Errors: `EINVAL` before calling `f` if the range leaves the store; `EIO` if a page
    /// cannot be allocated (or would leave too little memory available), `EAGAIN` instead with
    /// [`Alloc::NoWait`]; the first error of `f`. The pieces before the failing one have been
    /// handed to `f`.
    fn write_pieces(
        &self,
        pos: usize,
        len: usize,
        alloc: Alloc,
        mut f: impl FnMut(PageMut<'_>, Span, usize) -> Result,
    ) -> Result {
        for (index, piece, skip) in self.pieces(pos, len)? {
            f(self.page_for_write(index, alloc)?, piece, skip)?;
        }
        Ok(())
    }

    /// The page at `index`, allocated if absent (`brd_insert_page()`); errors as
    /// [`Store::write_pieces`].
    fn page_for_write(&self, index: usize, alloc: Alloc) -> Result<PageMut<'_>> {
        if let Some(page) = self.pages.get(index) {
            return Ok(page);
        }
        let (gfp, short) = match alloc {
            Alloc::MaySleep => (Gfp::MAY_SLEEP, EIO),
            Alloc::NoWait => (Gfp::NOWAIT, EAGAIN),
        };
        if meminfo::available_pages() <= meminfo::total_pages() / RESERVE_DIVISOR {
            return Err(short);
        }
        self.pages
            .get_or_insert(index, gfp)
            .map_err(|err| if err == ENOMEM { short } else { EIO })
    }
}

#[kunit_tests(pinio_store)]
mod tests {
    use super::*;
    use core::ptr::NonNull;
    use kernel::page::Page;

    /// A store of `pages` pages.
    fn store(pages: usize) -> Result<Pin<KBox<Store>>> {
        KBox::pin_init(Store::new(pages * PAGE_SIZE), GFP_KERNEL)
    }

    /// A kernel page filled with `byte`.
    fn filled(byte: u8) -> Result<Page> {
        let page = Page::alloc_page(GFP_KERNEL)?;
        let bytes = KVec::from_elem(byte, PAGE_SIZE, GFP_KERNEL)?;
        // SAFETY: `bytes` is valid for reads of `PAGE_SIZE` bytes; the page is ours alone.
        unsafe { page.write_raw(bytes.as_ptr(), 0, PAGE_SIZE)? };
        Ok(page)
    }

    /// The bytes of `page`.
    fn contents(page: &Page) -> Result<KVec<u8>> {
        let mut bytes = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
        // SAFETY: `bytes` is valid for writes of `PAGE_SIZE` bytes; the page is ours alone.
        unsafe { page.read_raw(bytes.as_mut_ptr(), 0, PAGE_SIZE)? };
        Ok(bytes)
    }

    /// `len` bytes at the start of `page`, lent to the device as a caller's page would be.
    fn segment(page: &Page, len: usize) -> Result<impl Iterator<Item = (PageMut<'_>, Span)>> {
        let ptr = NonNull::new(page.as_ptr()).ok_or(EINVAL)?;
        // SAFETY: `page` is ours and stays allocated while borrowed; we may write it.
        let page = unsafe { PageMut::from_raw(ptr) };
        Ok(core::iter::once((page, Span { offset: 0, len })))
    }

    /// Only a non-zero multiple of the page size makes a store.
    #[test]
    fn size_is_checked() -> Result {
        assert!(KBox::pin_init(Store::new(0), GFP_KERNEL).is_err());
        assert!(KBox::pin_init(Store::new(PAGE_SIZE + 512), GFP_KERNEL).is_err());
        assert_eq!(store(3)?.size(), 3 * PAGE_SIZE);
        Ok(())
    }

    /// A read of bytes never written gives zeros and allocates nothing, even from a store far
    /// larger than the machine (64 GiB).
    #[test]
    fn holes_read_as_zeros_without_allocating() -> Result {
        let big = KBox::pin_init(Store::new(64 << 30), GFP_KERNEL)?;
        let dst = filled(0xa5)?;
        for pos in [0, 12345 * PAGE_SIZE + 512, big.size() - PAGE_SIZE] {
            let len = PAGE_SIZE - pos % PAGE_SIZE;
            assert_eq!(big.read_into(pos, segment(&dst, len)?)?, len);
            assert!(contents(&dst)?.iter().take(len).all(|&b| b == 0));
        }
        assert_eq!(big.nr_pages(), 0);
        Ok(())
    }

    /// A write allocates exactly the pages it touches, once; the rest of a page it touches in
    /// part reads as zeros; the bytes come back as written; a write out of the store fails
    /// before allocating anything.
    #[test]
    fn writes_allocate_the_pages_they_touch() -> Result {
        let s = store(8)?;
        let src = filled(0x3c)?;
        // 1 KiB at the end of page 2 and 1 KiB at the start of page 3: two pages.
        let pos = 3 * PAGE_SIZE - 1024;
        for _ in 0..2 {
            let from = segment(&src, 2048)?.map(|(page, span)| (page.as_ref(), span));
            assert_eq!(s.write_from(pos, from, Alloc::MaySleep)?, 2048);
            assert_eq!(s.nr_pages(), 2);
        }
        let dst = filled(0xff)?;
        for (index, written) in [(1, 0..0), (2, PAGE_SIZE - 1024..PAGE_SIZE), (3, 0..1024)] {
            let n = s.read_into(index * PAGE_SIZE, segment(&dst, PAGE_SIZE)?)?;
            assert_eq!(n, PAGE_SIZE);
            for (i, &b) in contents(&dst)?.iter().enumerate() {
                assert_eq!(b, if written.contains(&i) { 0x3c } else { 0 });
            }
        }
        let from = segment(&src, 1024)?.map(|(page, span)| (page.as_ref(), span));
        let end = s.size() - 512;
        assert!(s.write_from(end, from, Alloc::MaySleep) == Err(EINVAL));
        assert_eq!(s.nr_pages(), 2);
        Ok(())
    }
}
