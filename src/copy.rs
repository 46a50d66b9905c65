// SPDX-License-Identifier: GPL-2.0

//! The copy engine: the device's DMA between its store and borrowed pages.
//!
//! This is the one place where data is copied. Bytes move with the kernel's `memcpy_page()`
//! through short-lived local mappings of both pages (store bytes never written are zeros, set
//! with `memzero_page()`); no `copy_to_user()`/`copy_from_user()` and no page-table walk of the
//! current process is involved, so the same code serves `read(2)`, `write(2)`, splice, the
//! engine's asynchronous requests and the `PINIO_IOC_DMA` ioctl on pages pinned long ago.
//!
//! [`device_writes`] and [`device_reads`] are the data path's entry points: when the device has
//! a DMA device (always, outside KUnit and the `dma_map=0` benchmark knob) they map the pages
//! at most [`SG_ENTRIES`](crate::dma_map::SG_ENTRIES) at a time ([`MappedSg`]), move the bytes
//! through the DMA addresses only ([`DmaDevice::pages`](crate::dma_dev::DmaDevice::pages)) and
//! unmap before returning, so before the caller releases the pages. Without one they copy
//! straight between the pages (what brd does).

use crate::{
    device::Device,
    dma_map::{
        MappedSg,
        SgTable, //
    },
    page_ref::{
        PageMut,
        PageRef,
        Span, //
    },
    shim,
    store::{
        Alloc,
        Store, //
    }, //
};
use kernel::prelude::*;

/// The device writes the store's bytes, from `pos` on, into `segments` (in order): a read.
/// Allocates nothing of pinio's own. Returns the bytes moved.
///
/// Errors, after which some bytes may have moved: `ENOMEM` if a mapping fails
/// ([`MappedSg::map_from_device`]), `EINVAL` for a segment past the store.
pub(crate) fn device_writes<'p>(
    device: &Device,
    pos: usize,
    segments: impl Iterator<Item = (PageMut<'p>, Span)>,
) -> Result<usize> {
    let Some(dma) = device.dma_path() else {
        return store_to_pages(&device.store, pos, segments);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgTable::new();
        let mapped = MappedSg::map_from_device(dma, &mut table, &mut segments, &device.counters)?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += store_to_pages(
                &device.store,
                at,
                dma.pages_mut(seg, &device.counters).ok_or(EPERM)?,
            )?;
        }
    }
    Ok(done)
}

/// The device reads `segments` (in order) into the store from `pos` on, allocating store
/// pages as `alloc` allows: a write. Returns the bytes moved.
///
/// Errors, after which some bytes may have moved: `ENOMEM` if a mapping fails
/// ([`MappedSg::map_to_device`]), and those of [`pages_to_store`].
pub(crate) fn device_reads<'p>(
    device: &Device,
    pos: usize,
    segments: impl Iterator<Item = (PageRef<'p>, Span)>,
    alloc: Alloc,
) -> Result<usize> {
    let Some(dma) = device.dma_path() else {
        return pages_to_store(&device.store, pos, segments, alloc);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgTable::new();
        let mapped = MappedSg::map_to_device(dma, &mut table, &mut segments, &device.counters)?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += pages_to_store(&device.store, at, dma.pages(seg, &device.counters), alloc)?;
        }
    }
    Ok(done)
}

/// Copies `src` (bytes of `src_page`) into `dst_page` at `dst_offset`.
///
/// Fails with `EINVAL`, copying nothing, if either range leaves its page.
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

/// Copies the store, from `pos` on, into `segments` (in order); bytes of the store never
/// written are zeros. Allocates nothing. Returns the bytes copied.
///
/// Fails with `EINVAL` before copying a segment that would read past the store.
pub(crate) fn store_to_pages<'p>(
    store: &Store,
    pos: usize,
    segments: impl Iterator<Item = (PageMut<'p>, Span)>,
) -> Result<usize> {
    let mut done = 0usize;
    for (page, seg) in segments {
        let at = pos.checked_add(done).ok_or(EINVAL)?;
        store.read_pieces(at, seg.len, |store_page, piece, skip| {
            let offset = seg.offset + skip;
            match store_page {
                Some(store_page) => copy(page, offset, store_page, piece),
                None => zero(
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

/// Copies `segments` (in order) into the store from `pos` on, allocating the store pages they
/// are the first to write as `alloc` allows. Returns the bytes copied.
///
/// Fails with `EINVAL` before copying a segment that would write past the store, and with
/// `EIO` (`EAGAIN` for [`Alloc::NoWait`]) when a store page cannot be allocated
/// ([`Store::write_pieces`]); the bytes before that may have been copied.
pub(crate) fn pages_to_store<'p>(
    store: &Store,
    pos: usize,
    segments: impl Iterator<Item = (PageRef<'p>, Span)>,
    alloc: Alloc,
) -> Result<usize> {
    let mut done = 0usize;
    for (page, seg) in segments {
        let at = pos.checked_add(done).ok_or(EINVAL)?;
        store.write_pieces(at, seg.len, alloc, |store_page, piece, skip| {
            copy(
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
