// SPDX-License-Identifier: GPL-2.0

//! The data path: the device moves bytes between its store and borrowed pages.
//!
//! [`device_writes`] and [`device_reads`] are its entry points, for `read(2)`, `write(2)`,
//! splice, the engine's asynchronous requests and `PINIO_IOC_DMA`. When the device has a DMA
//! device (always, outside KUnit and the `dma_map=0` benchmark knob) they map the pages at most
//! [`SG_ENTRIES`](crate::dma_map::SG_ENTRIES) at a time ([`MappedSg`]), move the bytes through
//! the DMA addresses only ([`bus::pages`]) and unmap
//! before returning, so before the caller releases the pages. Without one they copy straight
//! between the pages (what brd does).

use crate::{
    bus,
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
        return device.store.read_into(pos, segments);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgTable::new();
        let mapped = MappedSg::map_from_device(dma, &mut table, &mut segments, &device.counters)?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += device
                .store
                .read_into(at, bus::pages_mut(dma, seg, &device.counters).ok_or(EPERM)?)?;
        }
    }
    Ok(done)
}

/// The device reads `segments` (in order) into the store from `pos` on, allocating store
/// pages as `alloc` allows: a write. Returns the bytes moved.
///
/// Errors, after which some bytes may have moved: `ENOMEM` if a mapping fails
/// ([`MappedSg::map_to_device`]), and those of [`Store::write_from`].
pub(crate) fn device_reads<'p>(
    device: &Device,
    pos: usize,
    segments: impl Iterator<Item = (PageRef<'p>, Span)>,
    alloc: Alloc,
) -> Result<usize> {
    let Some(dma) = device.dma_path() else {
        return device.store.write_from(pos, segments, alloc);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgTable::new();
        let mapped = MappedSg::map_to_device(dma, &mut table, &mut segments, &device.counters)?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += device
                .store
                .write_from(at, bus::pages(dma, seg, &device.counters), alloc)?;
        }
    }
    Ok(done)
}
