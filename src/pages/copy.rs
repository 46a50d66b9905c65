// SPDX-License-Identifier: GPL-2.0

//! Page-to-page copies: the one place where data is copied.
//!
//! Bytes move with the kernel's `memcpy_page()` through short-lived local mappings of both
//! pages, and are zeroed with `memzero_page()`; no `copy_to_user()`/`copy_from_user()` and no
//! page-table walk of the current process is involved, so the same code serves any lender of
//! pages: a transfer's extracted pages, pages pinned long ago, a swiotlb bounce slot.
//!
//! C header: [`include/linux/highmem.h`](srctree/include/linux/highmem.h)

use super::view::{
    PageMut,
    PageRef,
    Span, //
};
use crate::glue::shim;
use kernel::prelude::*;

/// Copies `src` (bytes of `src_page`) into `dst_page` at `dst_offset`.
///
/// Fails with `EINVAL`, copying nothing, if either range leaves its page.
///
/// # Examples
///
/// ```
/// use kernel::page::{
///     copy,
///     view::{PageMut, PageRef, Span},
///     Page, PAGE_SIZE,
/// };
///
/// let src = Page::alloc_page(GFP_KERNEL)?;
/// let mut dst = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
/// // SAFETY: `b"hello"` is valid for 5 bytes; nothing else uses `src`.
/// unsafe { src.write_raw(b"hello".as_ptr(), 100, 5)? };
/// let hello = Span { offset: 100, len: 5 };
/// copy::copy(PageMut::from_page(&mut dst), 0, PageRef::from_page(&src), hello)?;
/// let mut got = [0u8; 5];
/// // SAFETY: `got` is valid for 5 bytes; nothing else uses `dst`.
/// unsafe { dst.read_raw(got.as_mut_ptr(), 0, 5)? };
/// assert_eq!(&got, b"hello");
///
/// // A range that would leave its page is refused.
/// let to_end = PageMut::from_page(&mut dst);
/// assert!(copy::copy(to_end, PAGE_SIZE - 2, PageRef::from_page(&src), hello).is_err());
/// # Ok::<(), Error>(())
/// ```
pub(crate) fn copy(
    dst_page: PageMut<'_>,
    dst_offset: usize,
    src_page: PageRef<'_>,
    src: Span,
) -> Result {
    let dst = Span {
        offset: dst_offset,
        len: src.len,
    };
    if !dst.in_page() || !src.in_page() {
        return Err(EINVAL);
    }
    // SAFETY: Both pages stay allocated for the duration of this call (type invariants of
    // `PageRef`/`PageMut`), `dst_page` may be written (type invariant of `PageMut`), and both
    // ranges lie within their page (checked above). The bytes are accessed only by C's
    // `memcpy_page()` through its own local mappings: no Rust reference to them exists, so a
    // concurrent transfer or user thread touching the same bytes races as it would with a DMA
    // engine, without undefined behaviour in Rust.
    unsafe {
        shim::pinio_memcpy_page(
            dst_page.as_ptr(),
            dst.offset,
            src_page.as_ptr(),
            src.offset,
            src.len,
        );
        shim::pinio_flush_dcache_page(dst_page.as_ptr());
    }
    Ok(())
}

/// Zeroes `dst` (bytes of `dst_page`).
///
/// Fails with `EINVAL`, writing nothing, if the range leaves the page.
///
/// # Examples
///
/// ```
/// use kernel::page::{
///     copy,
///     view::{PageMut, Span},
///     Page, PAGE_SIZE,
/// };
///
/// let mut page = Page::alloc_page(GFP_KERNEL)?;
/// let ones = [0xffu8; 8];
/// // SAFETY: `ones` is valid for 8 bytes; nothing else uses `page`.
/// unsafe { page.write_raw(ones.as_ptr(), PAGE_SIZE - 8, 8)? };
/// copy::zero(PageMut::from_page(&mut page), Span { offset: PAGE_SIZE - 8, len: 4 })?;
/// let mut got = [0u8; 8];
/// // SAFETY: `got` is valid for 8 bytes; nothing else uses `page`.
/// unsafe { page.read_raw(got.as_mut_ptr(), PAGE_SIZE - 8, 8)? };
/// assert_eq!(got, [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
/// # Ok::<(), Error>(())
/// ```
pub(crate) fn zero(dst_page: PageMut<'_>, dst: Span) -> Result {
    if !dst.in_page() {
        return Err(EINVAL);
    }
    // SAFETY: The page stays allocated for this call and may be written (type invariants of
    // `PageMut`), and the range lies within it (checked above). As in `copy`, only C's
    // `memzero_page()` touches the bytes, through its own local mapping; it flushes the data
    // cache of the page itself.
    unsafe { shim::pinio_memzero_page(dst_page.as_ptr(), dst.offset, dst.len) };
    Ok(())
}
