// SPDX-License-Identifier: GPL-2.0

//! The pin/unpin experiments: user ranges held by `PINIO_IOC_PIN`, per open file.
//!
//! A [`PinTable`] maps handles to [`PinnedRange`]s. Ranges belong to the open file, not to the
//! process: they are released by `PINIO_IOC_UNPIN` or when the file's last reference goes, in
//! whatever process that happens (after a fork, or after the pinner exited). Long-term pins are
//! charged through [`crate::accounting`]; every file has a cap on the pages it holds.

use crate::{
    accounting::{FolioCharge, MmAccount},
    copy,
    counters::Counters,
    device::Device,
    held_pages::{HeldPages, Request, Retention},
    uapi,
};
use kernel::{
    mm::Mm,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::aref::ARef,
    time::Delta,
};

/// One pinned user range.
pub(crate) struct PinnedRange {
    addr: u64,
    len: u64,
    flags: u32,
    held: HeldPages,
    /// For long-term pins: the folios charged, and the mm they were charged to.
    charge: Option<(ARef<Mm>, KVec<FolioCharge>)>,
}

/// The ranges one open file holds.
///
/// The file's release calls [`PinTable::release_all`]. Should the table be dropped with
/// ranges left, dropping it drops `ranges` first, releasing every page (dirty if the device
/// wrote into it), then `accounts`, uncharging what is still charged.
pub(crate) struct PinTable {
    ranges: RBTree<u32, PinnedRange>,
    next_handle: u32,
    /// Pages held by all ranges (for the per-file cap).
    held_pages: usize,
    /// Long-term charges, one account per mm that pinned through this file.
    accounts: KVec<MmAccount>,
}

impl PinTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            ranges: RBTree::new(),
            next_handle: 1,
            held_pages: 0,
            accounts: KVec::new(),
        }
    }

    /// Checks `PINIO_IOC_PIN` arguments and returns (address, pages, request).
    pub(crate) fn validate(arg: &uapi::pinio_pin) -> Result<(usize, usize, Request)> {
        if arg.reserved0 != 0 || arg.reserved.iter().any(|&r| r != 0) {
            return Err(EINVAL);
        }
        if arg.flags & !uapi::PINIO_PIN_FLAGS_ALL != 0 {
            return Err(EINVAL);
        }
        let addr = usize::try_from(arg.addr).map_err(|_| EINVAL)?;
        let len = usize::try_from(arg.len).map_err(|_| EINVAL)?;
        if len == 0 || addr % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        addr.checked_add(len).ok_or(EINVAL)?;
        let request = Request {
            retention: if arg.flags & uapi::PINIO_PIN_GET != 0 {
                Retention::Get
            } else {
                Retention::Pin
            },
            write: arg.flags & uapi::PINIO_PIN_WRITE != 0,
            longterm: arg.flags & uapi::PINIO_PIN_LONGTERM != 0,
            nofault: arg.flags & uapi::PINIO_PIN_NOFAULT != 0,
        };
        // The kernel WARNs on FOLL_LONGTERM without FOLL_PIN: refuse it before calling it.
        if request.longterm && request.retention == Retention::Get {
            return Err(EINVAL);
        }
        Ok((addr, len / PAGE_SIZE, request))
    }

    /// Whether `more` pages fit under the per-file cap.
    pub(crate) fn has_room(&self, device: &Device, more: usize) -> bool {
        self.held_pages
            .checked_add(more)
            .is_some_and(|total| total <= device.max_pinned_pages)
    }

    /// Adds a range whose pages were taken by the current process; charges it if long-term.
    /// Fills in the handle and charge of `arg`. On failure the pages are released.
    pub(crate) fn insert(
        &mut self,
        device: &Device,
        arg: &mut uapi::pinio_pin,
        held: HeldPages,
        mm: Option<ARef<Mm>>,
    ) -> Result {
        let nr = held.len();
        if !self.has_room(device, nr) {
            return Err(ENOMEM);
        }
        let handle = self.free_handle()?;
        // Allocate the tree node first, so nothing can fail once the range is charged.
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut range = PinnedRange {
            addr: arg.addr,
            len: arg.len,
            flags: arg.flags,
            held,
            charge: None,
        };
        arg.charged_pages = 0;
        if range.held.request().longterm {
            let mm = mm.ok_or(EINVAL)?;
            let folios = distinct_folios(&range.held)?;
            let charged = self.account_for(mm.clone())?.charge(&folios)?;
            arg.charged_pages = charged as u64;
            range.charge = Some((mm, folios));
        }
        self.ranges.insert(node.into_node(handle, range));
        self.held_pages += nr;
        self.next_handle = handle.wrapping_add(1).max(1);
        Counters::add(&device.counters.ioctl_pins, 1);
        Counters::add(&device.counters.ioctl_pages_held, nr);
        arg.handle = handle;
        arg.nr_pages = nr as u64;
        Ok(())
    }

    fn free_handle(&self) -> Result<u32> {
        let mut handle = self.next_handle.max(1);
        for _ in 0..u32::MAX {
            if self.ranges.get(&handle).is_none() {
                return Ok(handle);
            }
            handle = handle.wrapping_add(1).max(1);
        }
        Err(ENOSPC)
    }

    fn account_for(&mut self, mm: ARef<Mm>) -> Result<&mut MmAccount> {
        let idx = match self.accounts.iter().position(|a| a.is_for(&mm)) {
            Some(idx) => idx,
            None => {
                self.accounts.push(MmAccount::new(mm), GFP_KERNEL)?;
                self.accounts.len() - 1
            }
        };
        self.accounts.get_mut(idx).ok_or(EINVAL)
    }

    /// `PINIO_IOC_UNPIN`: releases a handle's pages (dirty if asked) and its charge.
    pub(crate) fn unpin(&mut self, device: &Device, arg: &mut uapi::pinio_unpin) -> Result {
        if arg.reserved.iter().any(|&r| r != 0) || arg.flags & !uapi::PINIO_UNPIN_FLAGS_ALL != 0 {
            return Err(EINVAL);
        }
        let range = self.ranges.remove(&arg.handle).ok_or(EINVAL)?;
        // Only pages taken for writing can have been written: a read-only pin may hold the shared
        // zero page or page cache the device never touched, which must not be dirtied.
        let dirty = arg.flags & uapi::PINIO_UNPIN_DIRTY != 0 && range.held.request().write;
        let elapsed = self.release(device, range, dirty);
        arg.unpin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        Ok(())
    }

    /// Releases every range, as on the file's last close: pages the device wrote into are
    /// released dirty.
    pub(crate) fn release_all(&mut self, device: &Device) {
        while let Some(cursor) = self.ranges.cursor_front_mut() {
            let (_, node) = cursor.remove_current();
            let (_, range) = node.to_key_value();
            let dirty = range.held.written();
            self.release(device, range, dirty);
        }
    }

    /// Uncharges and releases a range taken out of the table; returns the release time.
    fn release(&mut self, device: &Device, mut range: PinnedRange, dirty: bool) -> Delta {
        let nr = range.held.len();
        // Uncharge while the pages are still held, so the folios cannot be reused meanwhile.
        self.uncharge(&mut range);
        let elapsed = range.held.release(dirty);
        self.held_pages -= nr.min(self.held_pages);
        Counters::add(&device.counters.ioctl_unpins, 1);
        Counters::add(&device.counters.ioctl_pages_released, nr);
        elapsed
    }

    fn uncharge(&mut self, range: &mut PinnedRange) {
        if let Some((mm, folios)) = range.charge.take() {
            if let Some(account) = self.accounts.iter_mut().find(|a| a.is_for(&mm)) {
                account.uncharge(&folios);
            }
        }
    }

    /// `PINIO_IOC_QUERY`: what the kernel now thinks of a handle's pages.
    pub(crate) fn query(&self, arg: &mut uapi::pinio_query) -> Result {
        if arg.reserved.iter().any(|&r| r != 0) {
            return Err(EINVAL);
        }
        let range = self.ranges.get(&arg.handle).ok_or(EINVAL)?;
        let mut q = uapi::pinio_query {
            handle: arg.handle,
            flags: range.flags,
            addr: range.addr,
            len: range.len,
            refcount_min: i32::MAX,
            refcount_max: i32::MIN,
            mapcount_min: i32::MAX,
            mapcount_max: i32::MIN,
            ..Default::default()
        };
        let mut last_folio = None;
        for page in range.held.pages() {
            let info = page.info();
            q.nr_pages += 1;
            q.nr_dma_pinned += u64::from(info.maybe_dma_pinned);
            q.nr_longterm_pinnable += u64::from(info.longterm_pinnable);
            q.nr_anon += u64::from(info.anon);
            q.nr_anon_exclusive += u64::from(info.anon_exclusive);
            q.nr_zero_page += u64::from(info.zero_page);
            if last_folio != Some(info.folio) {
                last_folio = Some(info.folio);
                q.nr_folios += 1;
                q.nr_large_folios += u64::from(info.folio_pages > 1);
                q.refcount_min = q.refcount_min.min(info.ref_count);
                q.refcount_max = q.refcount_max.max(info.ref_count);
                q.mapcount_min = q.mapcount_min.min(info.mapcount);
                q.mapcount_max = q.mapcount_max.max(info.mapcount);
            }
        }
        if let Some((_, folios)) = &range.charge {
            q.charged_pages = folios.iter().map(|f| f.pages as u64).sum();
        }
        *arg = q;
        Ok(())
    }

    /// `PINIO_IOC_DMA`: the device moves bytes between its store and a handle's pages.
    pub(crate) fn dma(&mut self, device: &Device, arg: &mut uapi::pinio_dma) -> Result {
        if arg.reserved.iter().any(|&r| r != 0) {
            return Err(EINVAL);
        }
        let range = self.ranges.get_mut(&arg.handle).ok_or(EINVAL)?;
        let offset = usize::try_from(arg.range_offset).map_err(|_| EINVAL)?;
        let pos = usize::try_from(arg.store_offset).map_err(|_| EINVAL)?;
        let len = usize::try_from(arg.len).map_err(|_| EINVAL)?;
        if pos
            .checked_add(len)
            .is_none_or(|end| end > device.store.size())
        {
            return Err(EINVAL);
        }
        let done = match arg.flags {
            uapi::PINIO_DMA_TO_PAGES => {
                copy::device_writes(device, pos, range.held.segments_mut(offset, len)?)?
            }
            uapi::PINIO_DMA_FROM_PAGES => {
                copy::device_reads(device, pos, range.held.segments(offset, len).ok_or(EINVAL)?)?
            }
            _ => return Err(EINVAL),
        };
        Counters::add(&device.counters.ioctl_dma_bytes, done);
        arg.done = done as u64;
        Ok(())
    }
}

/// The distinct folios of `held` with their sizes (each folio once, in address order of first
/// appearance).
fn distinct_folios(held: &HeldPages) -> Result<KVec<FolioCharge>> {
    let mut folios: KVec<FolioCharge> = KVec::new();
    for page in held.pages() {
        let info = page.info();
        if folios.last().is_some_and(|f| f.folio == info.folio) {
            continue;
        }
        folios.push(
            FolioCharge {
                folio: info.folio,
                pages: info.folio_pages,
            },
            GFP_KERNEL,
        )?;
    }
    // A folio can reappear non-consecutively (e.g. after mremap of part of a THP): dedup.
    folios.sort_unstable_by_key(|f| f.folio);
    let mut unique: KVec<FolioCharge> = KVec::with_capacity(folios.len(), GFP_KERNEL)?;
    for f in folios.iter() {
        if unique.last().is_none_or(|u| u.folio != f.folio) {
            unique.push(*f, GFP_KERNEL)?;
        }
    }
    Ok(unique)
}
