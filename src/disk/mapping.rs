// SPDX-License-Identifier: GPL-2.0

//! A scatterlist of borrowed pages, mapped for the DMA device, unmapped on drop.
//!
//! [`MappedSg`] is the one type that maps and unmaps (`dma_map_sg()`, `dma_unmap_sg()`): the
//! copy engine sees a transfer's pages only as the DMA addresses and lengths it hands out
//! ([`DmaSegment`]), and reaches memory only through [`super::bus`], as a bus master would:
//! by looking the addresses up, or, when every DMA address is the physical address of its
//! entry's own bytes ([`MappedSg::direct`]: nothing bounced, no translation), through the
//! pages and spans handed in, which are then exactly what the addresses name. The table is a
//! caller-provided [`SgEntries`] of [`SG_ENTRIES`] entries (2 KiB with x86_64's 32-byte
//! `struct scatterlist`, and beside them each entry's physical address and each piece handed
//! in), on the stack of a transfer: mapping allocates nothing of pinio's own (swiotlb, when it
//! bounces, takes slots from its pool).
//!
//! A mapping borrows the pages it maps for its lifetime `'a` (they cannot be released while it
//! exists), and the table: it is unmapped, with the same entry count and direction it was
//! mapped with, before either goes. Only the entries used are initialised, as
//! `sg_init_table()` would leave them (zeroed, the last one marked as the end): zeroing all
//! [`SG_ENTRIES`] for a one-page transfer cost a 2 KiB memset, a tenth of a 4 KiB read's
//! instructions. Physically contiguous pages (a large folio) are merged into
//! one entry, as the block layer's `__blk_rq_map_sg()` does; the device's `dma_parms` allow
//! any segment length, and no entry exceeds `dma_max_mapping_size()` (256 KiB under swiotlb).
//!
//! Deliberately broken variants, never built by default, prove that the checks catch mistakes
//! (`make PINIO_BROKEN_DMA=skip_unmap`, `=wrong_dir` or `=always_direct`, see `Kbuild`):
//! `skip_unmap` never unmaps, `wrong_dir` maps (and unmaps) `DMA_TO_DEVICE` where the device
//! writes, `always_direct` lets the device reach the pages handed in even where their
//! segments were bounced.
//!
//! [`KeptMapping`] makes `skip_unmap`'s mistake on purpose and in the open, for the bounce-pool
//! experiment (`PINIO_DMA_KEEP_MAPPING`, only with the `dma_leak_experiment=1` parameter): a
//! mapping kept past its transfer, in a table of its own, unmapped only when its owner drops it
//! (the handle's release, before the pages go). Its bounce slots are counted on the device
//! ([`DmaDevice::kept_slots`]), so that a mapping waiting for slots knows which ones will not
//! come back while it waits.

use super::{
    counters::Counters,
    dma_device::{
        BouncePool,
        DmaDevice, //
    },
};
use crate::{
    glue::{
        shim,
        signal, //
    },
    pages::view::{
        PageMut,
        PageRef,
        Span, //
    },
};
use core::{
    marker::PhantomData,
    mem::{
        ManuallyDrop,
        MaybeUninit, //
    },
    ptr::NonNull,
};
use kernel::{
    bindings,
    dma::DataDirection,
    ffi::c_int,
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc,
    time::{
        delay::fsleep,
        Delta, //
    },
    types::Opaque, //
};

/// Entries of an [`SgEntries`]: one per page of a 64-page batch, at most.
pub(crate) const SG_ENTRIES: usize = 64;

/// One piece of a lent page handed to a mapping: the page and the bytes of it mapped.
#[derive(Clone, Copy)]
struct Lent {
    page: *mut bindings::page,
    offset: u32,
    len: u32,
}

/// The storage of one scatterlist: [`SG_ENTRIES`] `struct scatterlist`s, on a transfer's stack.
///
/// Not the kernel crate's [`SGTable`](kernel::scatterlist::SGTable): that one is built only
/// from owned, `'static` (vmalloc) pages and allocates its table, while these entries describe
/// pages lent for one transfer and must be unmapped before the pages go.
pub(crate) struct SgEntries {
    entries: [Opaque<bindings::scatterlist>; SG_ENTRIES],
    /// The CPU's physical address of each entry's first byte, as the entry was set up.
    phys: [MaybeUninit<u64>; SG_ENTRIES],
    /// The pieces of pages mapped, in the order they were handed in (an entry covers a run of
    /// them).
    lent: [MaybeUninit<Lent>; SG_ENTRIES],
}

impl SgEntries {
    /// An uninitialised table ([`MappedSg`] initialises the entries it uses).
    pub(crate) const fn new() -> Self {
        Self {
            entries: [const { Opaque::uninit() }; SG_ENTRIES],
            phys: [const { MaybeUninit::uninit() }; SG_ENTRIES],
            lent: [const { MaybeUninit::uninit() }; SG_ENTRIES],
        }
    }

    fn entry(&self, i: usize) -> Option<*mut bindings::scatterlist> {
        self.entries.get(i).map(Opaque::get)
    }
}

/// The `enum dma_data_direction` value to map and unmap with for `dir`.
fn raw_direction(dir: DataDirection) -> bindings::dma_data_direction {
    match dir {
        // BROKEN on purpose: the device writes through a mapping made for it to read.
        #[cfg(pinio_broken_dma = "wrong_dir")]
        DataDirection::FromDevice => DataDirection::ToDevice.into(),
        dir => dir.into(),
    }
}

/// Whether byte `offset` of `page` is, in physical memory, the byte right after the first `end`
/// bytes of `last`: the condition for merging two pieces into one entry (`__blk_rq_map_sg()`'s
/// `biovec_phys_mergeable()`), for pages lent for as long as the caller borrows them.
#[inline]
fn continues(
    last: *mut bindings::page,
    end: usize,
    page: *mut bindings::page,
    offset: usize,
) -> bool {
    if page == last {
        return offset == end;
    }
    end == PAGE_SIZE && offset == 0 && next_in_memory(last, page)
}

/// Whether `page` is the page after `last` in physical memory. With a linear memory map
/// (`CONFIG_SPARSEMEM_VMEMMAP`, x86_64's, or `CONFIG_FLATMEM`), `page_to_pfn()` is the distance
/// from the map's start, so that is the next `struct page`: no call per page.
#[cfg(any(CONFIG_SPARSEMEM_VMEMMAP, CONFIG_FLATMEM))]
#[inline]
fn next_in_memory(last: *mut bindings::page, page: *mut bindings::page) -> bool {
    page == last.wrapping_add(1)
}

/// Whether `page` is the page after `last` in physical memory (`page_to_phys()` of both: the
/// memory map is not linear across sections).
#[cfg(not(any(CONFIG_SPARSEMEM_VMEMMAP, CONFIG_FLATMEM)))]
fn next_in_memory(last: *mut bindings::page, page: *mut bindings::page) -> bool {
    // SAFETY: Both are valid pages lent to the caller; `page_to_phys()` only computes.
    unsafe { shim::pinio_page_to_phys(page) == shim::pinio_page_to_phys(last) + PAGE_SIZE as u64 }
}

/// After `dma_map_sg()` mapped nothing for `bytes` bytes, for the `waited`-th time: whether to
/// try again. `Ok` after a pause if the bounce pool could hold them once other mappings are
/// gone and `wait` allows sleeping; `EAGAIN` if it does not; `EINTR` if a fatal signal is
/// pending; `ENOMEM` if the mapping can never succeed (no pool, so the address is beyond the
/// mask; or more bytes than the pool) or cannot while mappings kept by the
/// `PINIO_DMA_KEEP_MAPPING` experiment hold slots: if they leave too few, or if it waited
/// [`KEPT_WAIT_MAX`] pauses while they hold any (the free slots may be too scattered for
/// it). Sleeps if `wait`.
fn wait_for_slots(dev: &DmaDevice, bytes: usize, wait: bool, waited: u32) -> Result {
    /// Pause between attempts: about what swiotlb's other users hold a mapping for.
    const PAUSE_US: i64 = 1000;
    let pool = dev.bounce_pool().ok_or(ENOMEM)?;
    let need = bytes.div_ceil(BouncePool::SLOT);
    if need > pool.slots {
        return Err(ENOMEM);
    }
    if !wait {
        return Err(EAGAIN);
    }
    // Kept mappings give their slots back only when their handles go, which a waiting
    // mapping cannot bring about: waiting for those would never end.
    let kept = dev.kept_slots();
    if need > pool.slots.saturating_sub(kept) || (kept != 0 && waited >= KEPT_WAIT_MAX) {
        return Err(ENOMEM);
    }
    if signal::fatal_signal_pending() {
        return Err(EINTR);
    }
    fsleep(Delta::from_micros(PAUSE_US));
    Ok(())
}

/// Pauses (of 1 ms) a mapping waits for bounce slots while kept mappings hold some: then
/// `ENOMEM`, whatever the count of free slots says.
pub(crate) const KEPT_WAIT_MAX: u32 = 1000;

/// Pages mapped for [`DmaDevice`] in one direction; unmapped when dropped.
///
/// # Invariants
///
/// - `table`'s first `nents` entries are initialised as by `sg_init_table(table, nents)` and
///   were mapped for `dev` in `dir` by `dma_map_sg()`, which
///   returned `mapped` (`1..=nents`) DMA segments; they are unmapped only by [`Drop`].
/// - `table.phys[..nents]` hold the entries' physical addresses, and `table.lent[..nlent]`
///   the pieces of pages the entries cover, in order.
/// - The pages behind them are lent for `'a` (a pin, a reference, the iterator's owner or the
///   store); if `dir` is [`DataDirection::FromDevice`] their lender lets the device write them.
pub(crate) struct MappedSg<'a> {
    dev: &'a DmaDevice,
    table: &'a mut SgEntries,
    nents: c_int,
    /// Pieces of pages the entries cover: `table.lent[..nlent]`.
    nlent: usize,
    mapped: usize,
    dir: DataDirection,
    _pages: PhantomData<PageRef<'a>>,
}

/// One mapped DMA segment: an address for the device and a length, valid while the mapping
/// `'m` lives.
///
/// # Invariants
///
/// `addr..addr + len` is mapped for the device until `'m` ends; if `device_writes`, it was
/// mapped `DMA_FROM_DEVICE` over pages the device may write.
pub(crate) struct DmaSegment<'m> {
    addr: u64,
    len: usize,
    device_writes: bool,
    _mapping: PhantomData<&'m ()>,
}

impl DmaSegment<'_> {
    /// The DMA address (`sg_dma_address()`).
    pub(crate) fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes (`sg_dma_len()`).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping lets the device write (`DMA_FROM_DEVICE`).
    pub(crate) fn device_writes(&self) -> bool {
        self.device_writes
    }
}

impl<'a> MappedSg<'a> {
    /// Maps up to [`SG_ENTRIES`] pages for the device to read (`DMA_TO_DEVICE`).
    ///
    /// Takes pages from `pages` until the table is full (it never takes a page it cannot
    /// place). A mapping that fails for want of bounce slots is retried, as the block layer
    /// requeues a request on `BLK_STS_RESOURCE`: if `wait`, after sleeping until slots may have
    /// been freed (1 ms at a time, killable: `EINTR`), else `EAGAIN` at once. Fails with
    /// `EINVAL` if `pages` is empty or a span leaves its page, and with `ENOMEM` for a mapping
    /// that can never succeed: an address beyond the mask without a bounce pool, or more bytes
    /// than the whole pool. Sleeps only to wait, and only if `wait`.
    pub(crate) fn map_to_device<'p: 'a>(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        pages: &mut impl Iterator<Item = (PageRef<'p>, Span)>,
        wait: bool,
        counters: &Counters,
    ) -> Result<Self> {
        let raw = pages.map(|(page, span)| (page.as_ptr(), span));
        Self::map(dev, table, raw, DataDirection::ToDevice, wait, counters)
    }

    /// Maps up to [`SG_ENTRIES`] pages for the device to write (`DMA_FROM_DEVICE`); as
    /// [`Self::map_to_device`].
    pub(crate) fn map_from_device<'p: 'a>(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        pages: &mut impl Iterator<Item = (PageMut<'p>, Span)>,
        wait: bool,
        counters: &Counters,
    ) -> Result<Self> {
        let raw = pages.map(|(page, span)| (page.as_ptr(), span));
        Self::map(dev, table, raw, DataDirection::FromDevice, wait, counters)
    }

    fn map(
        dev: &'a DmaDevice,
        table: &'a mut SgEntries,
        pages: impl Iterator<Item = (*mut bindings::page, Span)>,
        dir: DataDirection,
        wait: bool,
        counters: &Counters,
    ) -> Result<Self> {
        let max_seg = dev.max_mapping_size().min(u32::MAX as usize);
        // Entries `..n` are initialised, for `bytes` bytes of the pieces `..k`.
        let mut n = 0usize;
        let mut k = 0usize;
        let mut bytes = 0usize;
        // Current entry: its last page, the end of its bytes in that page, its length.
        let mut cur: Option<(*mut bindings::page, usize, usize)> = None;
        for (page, span) in pages.take(SG_ENTRIES) {
            if !span.in_page() || span.len == 0 {
                return Err(EINVAL);
            }
            // At most `SG_ENTRIES` pieces (`take()`), each inside its page (checked above).
            let lent = table.lent.get_mut(k).ok_or(EINVAL)?;
            lent.write(Lent {
                page,
                offset: span.offset as u32,
                len: span.len as u32,
            });
            k += 1;
            bytes += span.len;
            let end = span.offset + span.len;
            if let Some((last, last_end, seg_len)) = cur {
                if seg_len + span.len <= max_seg && continues(last, last_end, page, span.offset) {
                    let entry = table.entry(n - 1).ok_or(EINVAL)?;
                    // SAFETY: `entry` is the table's last initialised entry, set up for a run
                    // of physically contiguous lent pages which this span continues.
                    unsafe { (*entry).length += span.len as u32 };
                    cur = Some((page, end, seg_len + span.len));
                    continue;
                }
            }
            let entry = table.entry(n).ok_or(EINVAL)?;
            // SAFETY: `page` is a valid page lent for `'a` (the argument types' invariants);
            // `page_to_phys()` only computes.
            let phys = unsafe { shim::pinio_page_to_phys(page) } + span.offset as u64;
            // What `sg_init_one()`-style set-up leaves: a zeroed entry, then `sg_set_page()`. A
            // `struct page` is aligned far beyond the two low bits `page_link` uses for flags.
            let mut sg: bindings::scatterlist = pin_init::zeroed();
            sg.page_link = page as usize;
            sg.offset = span.offset as u32;
            sg.length = span.len as u32;
            // SAFETY: `entry` is the first uninitialised entry of the exclusively borrowed
            // table, which this initialises; the page is lent for `'a`, and `span` lies inside
            // it (checked above).
            unsafe { entry.write(sg) };
            if let Some(at) = table.phys.get_mut(n) {
                at.write(phys);
            }
            n += 1;
            cur = Some((page, end, span.len));
        }
        let last = n
            .checked_sub(1)
            .and_then(|i| table.entry(i))
            .ok_or(EINVAL)?;
        // SAFETY: `last` is the last initialised entry of the table; marking it the end
        // (`sg_mark_end()`) makes entries `..n` what `sg_init_table(table, n)` and
        // `sg_set_page()` would have made.
        unsafe { (*last).page_link |= bindings::SG_END as usize };
        let nents = n as c_int;
        let first = table.entry(0).ok_or(EINVAL)?;
        let mut waited = 0u32;
        let mapped = loop {
            // SAFETY: `dev` has a mask and `dma_parms` (invariants of `DmaDevice`); the table's
            // first `nents` entries describe pages lent for `'a`, which the device may write if
            // `dir` is `FromDevice` (the constructors take `PageMut` for that). A failed attempt
            // maps nothing, so the table may be mapped again. Does not sleep.
            let mapped = unsafe {
                bindings::dma_map_sg_attrs(dev.as_raw(), first, nents, raw_direction(dir), 0)
            };
            match usize::try_from(mapped) {
                Ok(m) if m > 0 && m <= n => break m,
                _ => {}
            }
            if let Err(err) = wait_for_slots(dev, bytes, wait, waited) {
                Counters::add(&counters.dma_map_errors, 1);
                return Err(err);
            }
            waited = waited.saturating_add(1);
            Counters::add(&counters.dma_map_waits, 1);
        };
        // INVARIANT: Mapped just now; unmapped only by `Drop`.
        let this = Self {
            dev,
            table,
            nents,
            nlent: k,
            mapped,
            dir,
            _pages: PhantomData,
        };
        Counters::add(&counters.dma_maps, 1);
        Counters::add(&counters.dma_segments, mapped);
        Ok(this)
    }

    /// The DMA segments, in order; they cover the mapped pages' bytes.
    pub(crate) fn segments(&self) -> impl Iterator<Item = DmaSegment<'_>> + '_ {
        let device_writes = self.dir == DataDirection::FromDevice;
        (0..self.mapped).filter_map(move |i| {
            let entry = self.table.entry(i)?;
            // SAFETY: `entry` is one of the `mapped` DMA segments of the live mapping (type
            // invariants); these only read its DMA fields.
            let (addr, len) = unsafe {
                (
                    bindings::sg_dma_address(entry),
                    bindings::sg_dma_len(entry) as usize,
                )
            };
            // INVARIANT: Mapped in `dir` for as long as `self` is borrowed.
            Some(DmaSegment {
                addr,
                len,
                device_writes,
                _mapping: PhantomData,
            })
        })
    }

    /// Whether the mapping lets the device write (`DMA_FROM_DEVICE`).
    pub(crate) fn device_writes(&self) -> bool {
        self.dir == DataDirection::FromDevice
    }

    /// The pieces of pages handed in, in order, if every DMA segment's address is the
    /// physical address of its own entry's bytes: then the device reaches exactly those
    /// pieces (one segment per entry, nothing bounced, no translation; dma-direct without
    /// swiotlb), and [`super::bus`] need not look any address up. `None` otherwise.
    pub(crate) fn direct(
        &self,
    ) -> Option<impl Iterator<Item = (NonNull<bindings::page>, Span)> + '_> {
        if self.mapped != self.nents as usize {
            return None;
        }
        for i in 0..self.mapped {
            let entry = self.table.entry(i)?;
            // SAFETY: Entry `i` is one of the `mapped` DMA segments of the live mapping and
            // `phys[i]` was written when it was set up (type invariants). The field is what
            // `sg_dma_address()` reads, without a call per entry.
            let (addr, phys) =
                unsafe { ((*entry).dma_address, self.table.phys.get(i)?.assume_init()) };
            // BROKEN on purpose: every mapping taken for direct, bounced or not.
            #[cfg(pinio_broken_dma = "always_direct")]
            let phys = {
                let _ = phys;
                addr
            };
            if addr != phys {
                return None;
            }
        }
        let lent = self.table.lent.get(..self.nlent)?;
        Some(lent.iter().filter_map(|lent| {
            // SAFETY: `lent[..nlent]` were written when the entries were set up (type
            // invariants).
            let lent = unsafe { lent.assume_init() };
            let span = Span {
                offset: lent.offset as usize,
                len: lent.len as usize,
            };
            Some((NonNull::new(lent.page)?, span))
        }))
    }
}

impl MappedSg<'_> {
    /// Ends the mapping's borrows without unmapping it, for a [`KeptMapping`] to unmap.
    pub(crate) fn leave_mapped(self) -> LeftMapped {
        let this = ManuallyDrop::new(self);
        LeftMapped {
            nents: this.nents,
            dir: this.dir,
        }
    }
}

/// What [`KeptMapping::keep`] needs of a [`MappedSg`] left mapped: its entry count and
/// direction.
pub(crate) struct LeftMapped {
    nents: c_int,
    dir: DataDirection,
}

/// Unmaps the first `nents` entries of `table`, mapped for `dev` in `dir`.
///
/// # Safety
///
/// They must be mapped (by `dma_map_sg()`, with that count and direction) and not unmapped
/// since; they are unmapped here, so no other call may unmap them. The pages behind them must
/// still be held.
unsafe fn unmap(dev: &DmaDevice, table: &SgEntries, nents: c_int, dir: DataDirection) {
    #[cfg(not(pinio_broken_dma = "skip_unmap"))]
    if let Some(first) = table.entry(0) {
        // SAFETY: Guaranteed by the caller. Under swiotlb this copies the bounce slots back for
        // `DMA_FROM_DEVICE`. Does not sleep.
        unsafe { bindings::dma_unmap_sg_attrs(dev.as_raw(), first, nents, raw_direction(dir), 0) };
    }
}

impl Drop for MappedSg<'_> {
    fn drop(&mut self) {
        // SAFETY: The table's first `nents` entries are mapped for `dev` in `dir` (type
        // invariants) and unmapped only here, once, before the borrowed pages can be released.
        unsafe { unmap(self.dev, self.table, self.nents, self.dir) };
    }
}

/// A mapping kept past its transfer (`PINIO_DMA_KEEP_MAPPING`), unmapped when dropped.
///
/// # Invariants
///
/// - `table`'s first `nents` entries are mapped for `dev` in `dir`, as a [`MappedSg`] made
///   in it left them; they are unmapped only by [`Drop`].
/// - The pages behind them are held by the value's owner until it is dropped (the
///   constructor's safety requirement).
/// - `slots` bounce slots of the mapping are counted in `dev`'s kept slots until [`Drop`].
pub(crate) struct KeptMapping {
    dev: Arc<DmaDevice>,
    table: KBox<SgEntries>,
    nents: c_int,
    dir: DataDirection,
    slots: usize,
}

// SAFETY: The mapping is not tied to the task that made it: any task may unmap it (in process
// context); the table is an owned allocation, and `dev` is `Send`.
unsafe impl Send for KeptMapping {}

impl KeptMapping {
    /// Keeps the mapping `left` left mapped, made in `table` for `dev`, past its transfer;
    /// `slots` of its bounce slots are counted as kept on `dev`.
    ///
    /// # Safety
    ///
    /// `left` must come from [`MappedSg::leave_mapped`] of a mapping made in `*table`, for
    /// `dev`. The pages it maps must stay held (not released, not unpinned) until the returned
    /// value is dropped.
    pub(crate) unsafe fn keep(
        dev: Arc<DmaDevice>,
        table: KBox<SgEntries>,
        left: LeftMapped,
        slots: usize,
    ) -> Self {
        dev.account_kept(slots, true);
        // INVARIANT: The entries are mapped in `table` (guaranteed by the caller), and the
        // caller holds the pages; the slots were counted just now.
        Self {
            dev,
            table,
            nents: left.nents,
            dir: left.dir,
            slots,
        }
    }

    /// Bounce slots the mapping holds.
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }
}

impl Drop for KeptMapping {
    fn drop(&mut self) {
        // SAFETY: The table's first `nents` entries are mapped for `dev` in `dir` and unmapped
        // only here, while the owner still holds the pages (type invariants).
        unsafe { unmap(&self.dev, &self.table, self.nents, self.dir) };
        self.dev.account_kept(self.slots, false);
    }
}
