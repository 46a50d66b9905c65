// SPDX-License-Identifier: GPL-2.0

//! The data path: the device moves bytes between its store and lent pages.
//!
//! [`DeviceIo::dma_io`] is its entry point, for `read(2)`, `write(2)`, splice and the engine's
//! asynchronous requests; `PINIO_IOC_DMA` uses [`dma_io_counted`], which also counts the bytes
//! bounced, or [`dma_io_keeping`] (the `PINIO_DMA_KEEP_MAPPING` experiment). The pages' access
//! type picks the direction: the device writes into [`Writable`] pages (a read) and reads
//! [`ReadOnly`] ones (a write). When the device has a DMA device (always, outside KUnit and
//! the `dma_map=0` benchmark knob) the pages are mapped at most
//! [`SG_ENTRIES`](super::mapping::SG_ENTRIES) at a time ([`MappedSg`]), the bytes move through
//! the DMA addresses only ([`bus::pages`], or [`bus::direct`] where every segment's address is
//! its own pages'), and each mapping is unmapped before the call
//! returns, so before the caller releases the pages. Without one the bytes are copied
//! straight between the pages (what brd does).

use super::{
    bus,
    counters::Counters,
    dma_device::{
        BouncePool,
        DmaDevice, //
    },
    mapping::{
        DmaSegment,
        KeptMapping,
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
pub(crate) trait DeviceIo: crate::pages::view::Access + Sized {
    /// Moves bytes between the store at `pos` and `segments`, without DMA mappings; returns
    /// the bytes moved. Errors of [`Store::read_into`] or [`Store::write_from`].
    fn store_io<'p>(
        store: &Store,
        pos: usize,
        segments: impl Iterator<Item = (Self::View<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize>;

    /// Maps up to [`SG_ENTRIES`](super::mapping::SG_ENTRIES) of `segments` for `dev` in this
    /// access's direction ([`MappedSg::map_from_device`], [`MappedSg::map_to_device`]).
    fn map<'a, 'p: 'a>(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        segments: &mut impl Iterator<Item = (Self::View<'p>, Span)>,
        wait: bool,
        counters: &Counters,
    ) -> Result<MappedSg<'a>>;

    /// The device moves the bytes of a whole mapping between the store at `pos` and the pages
    /// it maps, in one pass, when every segment reaches its own pages ([`bus::direct`]);
    /// returns them. `None` (nothing moved) if a segment does not.
    fn move_direct(
        disk: &Disk,
        pos: usize,
        mapped: &MappedSg<'_>,
        alloc: Alloc,
    ) -> Option<Result<usize>>;

    /// The device moves the bytes of one mapped segment between the store at `pos` and what
    /// the segment's DMA address reaches ([`bus::pages`]); returns them. Adds the segment's
    /// length to `bounced` if it went through a bounce slot.
    fn move_segment(
        disk: &Disk,
        dma: &DmaDevice,
        pos: usize,
        seg: DmaSegment<'_>,
        alloc: Alloc,
        bounced: &mut usize,
    ) -> Result<usize>;

    /// Moves bytes between the disk's store at `pos` and `segments` through the DMA API;
    /// returns the bytes moved. Errors of [`dma_io_counted`].
    fn dma_io<'p>(
        disk: &Disk,
        pos: usize,
        segments: impl Iterator<Item = (Self::View<'p>, Span)>,
        alloc: Alloc,
    ) -> Result<usize> {
        dma_io_counted::<Self>(disk, pos, segments, alloc, &mut 0)
    }
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

    fn map<'a, 'p: 'a>(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        segments: &mut impl Iterator<Item = (PageMut<'p>, Span)>,
        wait: bool,
        counters: &Counters,
    ) -> Result<MappedSg<'a>> {
        MappedSg::map_from_device(dev, table, segments, wait, counters)
    }

    #[inline]
    fn move_direct(
        disk: &Disk,
        pos: usize,
        mapped: &MappedSg<'_>,
        _alloc: Alloc,
    ) -> Option<Result<usize>> {
        Some(disk.store.read_into(pos, bus::direct_mut(mapped)?))
    }

    fn move_segment(
        disk: &Disk,
        dma: &DmaDevice,
        pos: usize,
        seg: DmaSegment<'_>,
        _alloc: Alloc,
        bounced: &mut usize,
    ) -> Result<usize> {
        let pages = bus::pages_mut(dma, seg, &disk.counters, bounced).ok_or(EPERM)?;
        disk.store.read_into(pos, pages)
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

    fn map<'a, 'p: 'a>(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        segments: &mut impl Iterator<Item = (PageRef<'p>, Span)>,
        wait: bool,
        counters: &Counters,
    ) -> Result<MappedSg<'a>> {
        MappedSg::map_to_device(dev, table, segments, wait, counters)
    }

    #[inline]
    fn move_direct(
        disk: &Disk,
        pos: usize,
        mapped: &MappedSg<'_>,
        alloc: Alloc,
    ) -> Option<Result<usize>> {
        Some(disk.store.write_from(pos, bus::direct(mapped)?, alloc))
    }

    fn move_segment(
        disk: &Disk,
        dma: &DmaDevice,
        pos: usize,
        seg: DmaSegment<'_>,
        alloc: Alloc,
        bounced: &mut usize,
    ) -> Result<usize> {
        let pages = bus::pages(dma, seg, &disk.counters, bounced);
        disk.store.write_from(pos, pages, alloc)
    }
}

/// The device moves bytes between the store, from `pos` on, and `segments` (in order): into
/// [`Writable`] pages (a read), out of [`ReadOnly`] ones (a write). Allocates nothing of
/// pinio's own. Returns the bytes moved, and adds those that went through swiotlb bounce
/// slots to `bounced`. A mapping short of bounce slots waits for them if `alloc` may sleep,
/// else fails with `EAGAIN`.
///
/// Errors, after which some bytes may have moved: those of [`MappedSg::map_from_device`] and
/// [`MappedSg::map_to_device`] (`ENOMEM`, `EAGAIN`, `EINTR`), `EINVAL` for a segment past the
/// store, and those of [`Store::write_from`] (store pages a write cannot get).
pub(crate) fn dma_io_counted<'p, A: DeviceIo>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (A::View<'p>, Span)>,
    alloc: Alloc,
    bounced: &mut usize,
) -> Result<usize> {
    // SAFETY: Without `kept`, every mapping is unmapped before this returns.
    unsafe { transfer::<A>(disk, pos, segments, alloc, bounced, None) }
}

/// As [`dma_io_counted`], but every mapping is kept in `kept` instead of unmapped (the
/// `PINIO_DMA_KEEP_MAPPING` experiment; under swiotlb, bytes the device writes reach the pages
/// only when the kept mapping is dropped). `ENOMEM` if the kept mappings' records cannot be
/// allocated; without a DMA device nothing is mapped, nothing kept.
///
/// # Safety
///
/// The pages behind `segments` must stay held until every mapping added to `kept` is dropped.
pub(crate) unsafe fn dma_io_keeping<'p, A: DeviceIo>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (A::View<'p>, Span)>,
    bounced: &mut usize,
    kept: &mut KVec<KeptMapping>,
) -> Result<usize> {
    // SAFETY: Guaranteed by the caller.
    unsafe { transfer::<A>(disk, pos, segments, Alloc::MaySleep, bounced, Some(kept)) }
}

/// [`dma_io_counted`], keeping the mappings in `kept` if given.
///
/// # Safety
///
/// With `kept`, as [`dma_io_keeping`].
unsafe fn transfer<'p, A: DeviceIo>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (A::View<'p>, Span)>,
    alloc: Alloc,
    bounced: &mut usize,
    mut kept: Option<&mut KVec<KeptMapping>>,
) -> Result<usize> {
    let Some(dma) = disk.dma.as_ref() else {
        return A::store_io(&disk.store, pos, segments, alloc);
    };
    let wait = alloc == Alloc::MaySleep;
    let mut segments = segments.peekable();
    let mut done = 0usize;
    while segments.peek().is_some() {
        match kept.as_deref_mut() {
            None => {
                let mut table = SgEntries::new();
                let mapped = A::map(dma, &mut table, &mut segments, wait, &disk.counters)?;
                done += move_mapped::<A>(disk, dma, pos, done, &mapped, alloc, bounced)?.0;
            }
            Some(kept) => {
                // Room for the record first: nothing may fail once the mapping is kept.
                kept.reserve(1, GFP_KERNEL)?;
                let mut table = KBox::new(SgEntries::new(), GFP_KERNEL)?;
                let mapped = A::map(dma, &mut table, &mut segments, wait, &disk.counters)?;
                let (moved, slots) =
                    move_mapped::<A>(disk, dma, pos, done, &mapped, alloc, bounced)?;
                done += moved;
                let left = mapped.leave_mapped();
                // SAFETY: `left` is the mapping just made in `table` for `dma`; the caller keeps
                // the pages held until `kept`'s mappings are dropped.
                let mapping = unsafe { KeptMapping::keep(dma.clone(), table, left, slots) };
                Counters::add(&disk.counters.dma_maps_kept, 1);
                // Cannot fail: room was reserved above (dropping it would unmap it).
                let _ = kept.push_within_capacity(mapping);
            }
        }
    }
    Ok(done)
}

/// Moves the bytes of every segment of `mapped` between the store, from `pos + done` on, and
/// the segments; returns the bytes moved and the bounce slots the bounced segments hold
/// (swiotlb gives each segment its own run of slots).
#[inline]
fn move_mapped<A: DeviceIo>(
    disk: &Disk,
    dma: &DmaDevice,
    pos: usize,
    done: usize,
    mapped: &MappedSg<'_>,
    alloc: Alloc,
    bounced: &mut usize,
) -> Result<(usize, usize)> {
    let start = pos.checked_add(done).ok_or(EINVAL)?;
    // Nothing bounced, nothing to look up: one pass over the pages, as without a mapping.
    if let Some(moved) = A::move_direct(disk, start, mapped, alloc) {
        return Ok((moved?, 0));
    }
    let mut moved = 0usize;
    let mut slots = 0usize;
    for seg in mapped.segments() {
        let len = seg.len();
        let at = start.checked_add(moved).ok_or(EINVAL)?;
        let before = *bounced;
        moved += A::move_segment(disk, dma, at, seg, alloc, bounced)?;
        if *bounced != before {
            slots += len.div_ceil(BouncePool::SLOT);
        }
    }
    Ok((moved, slots))
}
