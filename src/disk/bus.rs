// SPDX-License-Identifier: GPL-2.0

//! The bus: how the emulated device reaches what a DMA address names.
//!
//! A real bus master is handed DMA addresses and
//! nothing else. With dma-direct (x86 without an IOMMU) a DMA address is a physical address
//! (`dma_to_phys()` is the identity without `dma_range_map` or memory encryption): the user's
//! page itself, or under swiotlb the bounce slot. [`pages`] turns a mapped segment
//! into the pages at that physical address and nothing else, so the copy engine touches exactly
//! what the device would. It is **not** faithful to an IOMMU (the address would be an IOVA
//! that only `iommu_iova_to_phys()` resolves), to non-coherent architectures (cache
//! maintenance is a no-op on x86), or to a device that ignores its mapping.

use super::{
    counters::Counters,
    dma_device::DmaDevice,
    mapping::{
        DmaSegment,
        MappedSg, //
    },
};
use crate::{
    glue::shim,
    pages::view::{
        page_spans,
        PageMut,
        PageRef,
        Span, //
    },
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    page::PAGE_SIZE, //
};

/// Where `seg` points in memory: the physical address the bus would reach
/// (`dma_to_phys()`), and whether that is a swiotlb bounce slot (`is_swiotlb_buffer()`).
fn resolve(dev: &DmaDevice, seg: &DmaSegment<'_>) -> (u64, bool) {
    // SAFETY: Pure address arithmetic on this device's DMA ranges (none: identity).
    let phys = unsafe { shim::pinio_dma_to_phys(dev.as_raw(), seg.addr()) };
    // SAFETY: Only compares `phys` against the swiotlb pools of the device.
    let bounced = unsafe { shim::pinio_is_swiotlb_buffer(dev.as_raw(), phys) };
    (phys, bounced)
}

/// The pages at a mapped segment's physical address, one span per page, looked up by the
/// address: `dma_to_phys()`, `pfn_to_page()`. Adds the segment's length to
/// `counters.dma_bounced_bytes`, and to the transfer's own count `bounced`, if that address is
/// a swiotlb bounce slot (`is_swiotlb_buffer()`) rather than the mapped pages (counted here,
/// where the address is resolved anyway, rather than in a pass of its own over the segments at
/// mapping time).
fn looked_up<'m>(
    dev: &DmaDevice,
    seg: &DmaSegment<'m>,
    counters: &Counters,
    bounced: &mut usize,
) -> impl Iterator<Item = (NonNull<bindings::page>, Span)> + 'm {
    let (phys, is_bounce) = resolve(dev, seg);
    if is_bounce {
        Counters::add(&counters.dma_bounced_bytes, seg.len());
        *bounced += seg.len();
    }
    let page_mask = PAGE_SIZE as u64 - 1;
    let first = phys & !page_mask;
    page_spans((phys & page_mask) as usize, seg.len())
        .enumerate()
        .filter_map(move |(i, span)| {
            let at = first.checked_add((i as u64).checked_mul(PAGE_SIZE as u64)?)?;
            // SAFETY: `at` lies inside the memory the segment maps: RAM with a
            // `struct page` (the mapped pages or a swiotlb slot); `pfn_to_page()` only
            // computes.
            let page = NonNull::new(unsafe { shim::pinio_phys_to_page(at) })?;
            Some((page, span))
        })
}

/// The device's view of a mapped segment, looked up by its address: the pages at its physical
/// address, one span per page, for the device to read. Counts bounced bytes on `counters` and
/// in `bounced`. [`direct`] is the same answer for a whole mapping, when it has one, without
/// the lookup.
pub(crate) fn pages<'m>(
    dev: &DmaDevice,
    seg: DmaSegment<'m>,
    counters: &Counters,
    bounced: &mut usize,
) -> impl Iterator<Item = (PageRef<'m>, Span)> + 'm {
    looked_up(dev, &seg, counters, bounced).map(|(page, span)| {
        // SAFETY: The memory behind a segment stays allocated while its mapping lives,
        // which is `'m` (invariant of `DmaSegment`).
        (unsafe { PageRef::from_raw(page) }, span)
    })
}

/// As [`pages`], for the device to write into; `None` if the segment was mapped for
/// the device to read only (`DMA_TO_DEVICE`).
pub(crate) fn pages_mut<'m>(
    dev: &DmaDevice,
    seg: DmaSegment<'m>,
    counters: &Counters,
    bounced: &mut usize,
) -> Option<impl Iterator<Item = (PageMut<'m>, Span)> + 'm> {
    if !seg.device_writes() {
        return None;
    }
    Some(looked_up(dev, &seg, counters, bounced).map(|(page, span)| {
        // SAFETY: The memory stays allocated for `'m` (as above), and the segment was
        // mapped `DMA_FROM_DEVICE` from pages whose lender lets the device write them
        // (invariant of `DmaSegment`); a swiotlb slot belongs to the mapping.
        (unsafe { PageMut::from_raw(page) }, span)
    }))
}

/// The mapped pages themselves, as handed in, when every segment's DMA address is its own
/// entry's physical address ([`MappedSg::direct`]: nothing bounced, no translation): the pages
/// [`pages`] would look up for each segment, without looking them up. `None` otherwise.
pub(crate) fn direct<'m>(
    mapped: &'m MappedSg<'_>,
) -> Option<impl Iterator<Item = (PageRef<'m>, Span)> + 'm> {
    Some(mapped.direct()?.map(|(page, span)| {
        // SAFETY: The pages are the mapped ones, lent for the mapping's lifetime, which
        // outlives the borrow `'m` (invariants of `MappedSg`).
        (unsafe { PageRef::from_raw(page) }, span)
    }))
}

/// [`pages_mut`] for every segment at once, without the lookup, when the segments reach their
/// own pages (see [`direct`]); `None` also if the mapping lets the device read only.
pub(crate) fn direct_mut<'m>(
    mapped: &'m MappedSg<'_>,
) -> Option<impl Iterator<Item = (PageMut<'m>, Span)> + 'm> {
    if !mapped.device_writes() {
        return None;
    }
    Some(mapped.direct()?.map(|(page, span)| {
        // SAFETY: The pages are the mapped ones, lent for the mapping's lifetime (outliving
        // `'m`), mapped `DMA_FROM_DEVICE` from pages the device may write (invariants of
        // `MappedSg`).
        (unsafe { PageMut::from_raw(page) }, span)
    }))
}
