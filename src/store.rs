// SPDX-License-Identifier: GPL-2.0

//! The device's memory: zeroed pages allocated at load, addressed by byte offset.

use crate::page_ref::{PageMut, Span};
use core::ptr::NonNull;
use kernel::{
    alloc::flags::{__GFP_ZERO, GFP_KERNEL},
    page::{Page, PAGE_SIZE},
    prelude::*,
};

/// The store of `/dev/pinio`.
///
/// # Invariants
///
/// `pages` holds exactly `size / PAGE_SIZE` pages owned by the store, so every byte offset
/// below `size` lies in one of them.
pub(crate) struct Store {
    pages: KVVec<Page>,
    size: usize,
}

impl Store {
    /// Allocates a zeroed store of `size` bytes, a multiple of `PAGE_SIZE`.
    pub(crate) fn new(size: usize) -> Result<Self> {
        if size == 0 || size % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let nr_pages = size / PAGE_SIZE;
        let mut pages = KVVec::with_capacity(nr_pages, GFP_KERNEL)?;
        for _ in 0..nr_pages {
            pages.push(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?, GFP_KERNEL)?;
        }
        // INVARIANT: `pages` holds `size / PAGE_SIZE` freshly allocated pages.
        Ok(Self { pages, size })
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The store page holding byte `pos`, writable by the device, and the offset of `pos` in it.
    fn page_at(&self, pos: usize) -> Option<(PageMut<'_>, usize)> {
        let page = self.pages.get(pos / PAGE_SIZE)?;
        let ptr = NonNull::new(page.as_ptr())?;
        // SAFETY: The page is owned by the store (type invariant) and so stays allocated while
        // `self` is borrowed; the store is the device's own memory, which it may write.
        Some((unsafe { PageMut::from_raw(ptr) }, pos % PAGE_SIZE))
    }

    /// Splits the store range `pos..pos + len` at page boundaries and calls `f` with each
    /// piece: the store page, the piece within it, and the piece's offset from `pos`.
    ///
    /// Fails with `EINVAL` before calling `f` if the range leaves the store: no byte outside
    /// the store is ever handed out.
    pub(crate) fn for_each_piece(
        &self,
        pos: usize,
        len: usize,
        mut f: impl FnMut(PageMut<'_>, Span, usize) -> Result,
    ) -> Result {
        let end = pos.checked_add(len).ok_or(EINVAL)?;
        if end > self.size {
            return Err(EINVAL);
        }
        let mut done = 0;
        while done < len {
            let (page, offset) = self.page_at(pos + done).ok_or(EINVAL)?;
            let piece = (PAGE_SIZE - offset).min(len - done);
            f(page, Span { offset, len: piece }, done)?;
            done += piece;
        }
        Ok(())
    }
}
