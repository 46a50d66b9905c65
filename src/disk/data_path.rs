// SPDX-License-Identifier: GPL-2.0

//! The data path: the device moves bytes between its store and lent pages.
//!
//! [`device_writes`] and [`device_reads`] are its entry points, for `read(2)`, `write(2)`,
//! splice, the engine's asynchronous requests and `PINIO_IOC_DMA`; [`DeviceIo`] picks one by the
//! pages' access type. When the device has a DMA device (always, outside KUnit and the
//! `dma_map=0` benchmark knob) they map the pages at most
//! [`SG_ENTRIES`](super::mapping::SG_ENTRIES) at a time
//! ([`MappedSg`]), move the bytes through the DMA addresses only ([`bus::pages`]) and unmap
//! before returning, so before the caller releases the pages. Without one they copy straight
//! between the pages (what brd does).

use super::{
    bus,
    mapping::{
        MappedSg,
        SgEntries, //
    },
    store::{
        Alloc,
        Store, //
    },
    Disk,
};
use crate::pages::view::{
    PageMut,
    PageRef,
    ReadOnly,
    Span,
    Writable, //
};
use kernel::prelude::*;

/// What the device does with pages lent with an [`Access`](crate::pages::view::Access): writes
/// into [`Writable`] pages (a read), reads [`ReadOnly`] ones (a write).
pub(crate) trait DeviceIo: crate::pages::view::Access {
    /// Moves bytes between the store at `pos` and `segments`, without DMA mappings; returns
    /// the bytes moved. Errors of [`Store::read_into`] or [`Store::write_from`].
    fn store_io<'p>(
        store: &Store,
        pos: usize,
        segments: impl Iterator<Item = (Self::View<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize>;

    /// Moves bytes between the disk's store at `pos` and `segments` through the DMA API;
    /// returns the bytes moved. Errors of [`device_writes`] or [`device_reads`].
    fn dma_io<'p>(
        disk: &Disk,
        pos: usize,
        segments: impl Iterator<Item = (Self::View<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize>;
}

impl DeviceIo for Writable {
    fn store_io<'p>(
        store: &Store,
        pos: usize,
        segments: impl Iterator<Item = (PageMut<'p>, Span)>,
        _alloc: Alloc,
    ) -> Result<usize> {
        store.read_into(pos, segments)
    }

    fn dma_io<'p>(
        disk: &Disk,
        pos: usize,
        segments: impl Iterator<Item = (PageMut<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize> {
        device_writes(disk, pos, segments, alloc)
    }
}

impl DeviceIo for ReadOnly {
    fn store_io<'p>(
        store: &Store,
        pos: usize,
        segments: impl Iterator<Item = (PageRef<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize> {
        store.write_from(pos, segments, alloc)
    }

    fn dma_io<'p>(
        disk: &Disk,
        pos: usize,
        segments: impl Iterator<Item = (PageRef<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize> {
        device_reads(disk, pos, segments, alloc)
    }
}

/// The device writes the store's bytes, from `pos` on, into `segments` (in order): a read.
/// Allocates nothing of pinio's own. Returns the bytes moved. A mapping short of bounce slots
/// waits for them if `alloc` may sleep, else fails with `EAGAIN`.
///
/// Errors, after which some bytes may have moved: those of [`MappedSg::map_from_device`]
/// (`ENOMEM`, `EAGAIN`, `EINTR`), `EINVAL` for a segment past the store.
pub(crate) fn device_writes<'p>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (PageMut<'p>, Span)>,
    alloc: Alloc,
) -> Result<usize> {
    let Some(dma) = disk.dma_path() else {
        return disk.store.read_into(pos, segments);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgEntries::new();
        let mapped = MappedSg::map_from_device(
            dma,
            &mut table,
            &mut segments,
            alloc == Alloc::MaySleep,
            &disk.counters,
        )?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += match bus::direct_mut(&seg) {
                Some(pages) => disk.store.read_into(at, pages)?,
                None => disk
                    .store
                    .read_into(at, bus::pages_mut(dma, seg, &disk.counters).ok_or(EPERM)?)?,
            };
        }
    }
    Ok(done)
}

/// The device reads `segments` (in order) into the store from `pos` on, allocating store
/// pages as `alloc` allows: a write. Returns the bytes moved.
///
/// Errors, after which some bytes may have moved: those of [`MappedSg::map_to_device`]
/// (`ENOMEM`, `EAGAIN`, `EINTR`; a mapping short of bounce slots waits as for a store page),
/// and those of [`Store::write_from`].
pub(crate) fn device_reads<'p>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (PageRef<'p>, Span)>,
    alloc: Alloc,
) -> Result<usize> {
    let Some(dma) = disk.dma_path() else {
        return disk.store.write_from(pos, segments, alloc);
    };
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        let mut table = SgEntries::new();
        let mapped = MappedSg::map_to_device(
            dma,
            &mut table,
            &mut segments,
            alloc == Alloc::MaySleep,
            &disk.counters,
        )?;
        for seg in mapped.segments() {
            let at = pos.checked_add(done).ok_or(EINVAL)?;
            done += match bus::direct(&seg) {
                Some(pages) => disk.store.write_from(at, pages, alloc)?,
                None => disk
                    .store
                    .write_from(at, bus::pages(dma, seg, &disk.counters), alloc)?,
            };
        }
    }
    Ok(done)
}
