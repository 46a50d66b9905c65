// SPDX-License-Identifier: GPL-2.0

//! The pin/unpin experiments: user ranges held by `PINIO_IOC_PIN`, per open file.
//!
//! A [`PinTable`] maps handles to [`PinnedRange`]s. Ranges belong to the open file, not to the
//! process: they are released by `PINIO_IOC_UNPIN` or when the file's last reference goes, in
//! whatever process that happens (after a fork, or after the pinner exited). Long-term pins are
//! charged through [`super::accounting`]; every file has a cap on the pages it holds.
//!
//! Handles are allocated from an [`IdPool`], next-fit from the last one given out, so that a
//! handle just released is not at once given to another range; the table lives under the
//! file's mutex (see `chardev::open_file` for the lock order).

use super::{
    accounting::{
        ChargeError,
        FolioCharge,
        MmAccount, //
    },
    why::{
        page_record,
        Failure,
        Why, //
    },
};
use crate::{
    disk::{
        counters::Counters,
        data_path::{
            dma_io_counted,
            dma_io_keeping,
            DeviceIo, //
        },
        mapping::KeptMapping,
        store::Alloc,
        Disk, //
    },
    glue::uapi,
    pages::{
        extract::Retention,
        gup::{
            HeldPages,
            HoldOptions,
            TakeError, //
        },
        view::{
            PageRef,
            ReadOnly,
            Span,
            Writable, //
        },
    },
};
use kernel::{
    id_pool::{
        IdPool,
        PoolResizer,
        ReallocRequest, //
    },
    mm::Mm,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::aref::ARef,
    time::{
        Delta,
        Instant,
        Monotonic, //
    }, //
};

/// The pages of a pinned range, with the device's access to them (`PINIO_PIN_WRITE`).
pub(crate) enum Held {
    /// Taken without `FOLL_WRITE`: the device may only read them.
    ReadOnly(HeldPages<ReadOnly>),
    /// Taken with `FOLL_WRITE`: the device may write into them.
    Writable(HeldPages<Writable>),
}

impl Held {
    /// Takes `nr_pages` pages at `addr`, `per_call` per call, writable if `write`; errors of
    /// [`HeldPages::take`]. Returns them and the time the calls took.
    pub(crate) fn take(
        addr: usize,
        nr_pages: usize,
        per_call: usize,
        write: bool,
        options: HoldOptions,
    ) -> Result<(Self, Delta), TakeError> {
        Ok(if write {
            let (held, t) = HeldPages::take(addr, nr_pages, per_call, options)?;
            (Self::Writable(held), t)
        } else {
            let (held, t) = HeldPages::take(addr, nr_pages, per_call, options)?;
            (Self::ReadOnly(held), t)
        })
    }

    /// Pages held.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::ReadOnly(h) => h.len(),
            Self::Writable(h) => h.len(),
        }
    }

    /// The options the pages were taken with.
    fn options(&self) -> HoldOptions {
        match self {
            Self::ReadOnly(h) => h.options(),
            Self::Writable(h) => h.options(),
        }
    }

    /// Whether the device wrote into the pages.
    fn written(&self) -> bool {
        match self {
            Self::ReadOnly(_) => false,
            Self::Writable(h) => h.written(),
        }
    }

    /// The held pages, in address order.
    pub(crate) fn pages(&self) -> impl Iterator<Item = PageRef<'_>> + '_ {
        let (a, b) = match self {
            Self::ReadOnly(h) => (Some(h.pages()), None),
            Self::Writable(h) => (None, Some(h.pages())),
        };
        Iterator::chain(a.into_iter().flatten(), b.into_iter().flatten())
    }

    /// Gives the pages back (dirty if asked and writable); the release time.
    pub(crate) fn release(&mut self, dirty: bool) -> Delta {
        let start = Instant::<Monotonic>::now();
        match self {
            Self::ReadOnly(h) => h.release(dirty),
            Self::Writable(h) => h.release(dirty),
        }
        start.elapsed()
    }
}

/// One pinned user range.
pub(crate) struct PinnedRange {
    addr: u64,
    len: u64,
    flags: u32,
    /// Mappings `PINIO_IOC_DMA` kept (`PINIO_DMA_KEEP_MAPPING`): unmapped before `held` is
    /// released, by [`PinTable::release`], or else by being dropped first (declared first).
    kept: KVec<KeptMapping>,
    held: Held,
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
    /// The handles of `ranges` (bit `n` set: handle `n` is in use; 0 is never a handle).
    handles: IdPool,
    /// Where the search for the next handle starts.
    next_handle: usize,
    /// Pages held by all ranges (for the per-file cap).
    held_pages: usize,
    /// Long-term charges, one account per mm that pinned through this file.
    accounts: KVec<MmAccount>,
    /// Why the last failed pin failed (`PINIO_IOC_WHY`), with its number among the failures;
    /// and how many have failed.
    why: Option<(u64, Why)>,
    failures: u64,
}

impl PinTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            ranges: RBTree::new(),
            handles: IdPool::new(),
            next_handle: 1,
            held_pages: 0,
            accounts: KVec::new(),
            why: None,
            failures: 0,
        }
    }

    /// Numbers a failed pin among the file's failures when it fails, before it is explained.
    pub(crate) fn count_failure(&mut self) -> u64 {
        self.failures += 1;
        self.failures
    }

    /// Keeps `why`, the explanation of failure `seq` ([`PinTable::count_failure`]), unless a
    /// later failure's is kept already: explanations are gathered outside the table's lock, and
    /// a slow one (a failed migration probes every page) may finish after a later one.
    pub(crate) fn failed(&mut self, seq: u64, why: Why) {
        if self.why.as_ref().is_none_or(|(kept, _)| *kept < seq) {
            self.why = Some((seq, why));
        }
    }

    /// `PINIO_IOC_WHY`: the explanation of the last failed pin, numbered among the file's
    /// failures, and its records (none if no pin failed).
    pub(crate) fn why(&self) -> (uapi::pinio_why, &[uapi::pinio_page_record]) {
        match &self.why {
            Some((seq, why)) => why.answer(*seq),
            None => (
                uapi::pinio_why {
                    kind: uapi::PINIO_WHY_NONE,
                    ..Default::default()
                },
                &[],
            ),
        }
    }

    /// The per-file cap failure for `more` pages, if they do not fit.
    pub(crate) fn check_room(&self, disk: &Disk, more: usize) -> Result<(), Failure> {
        if self.has_room(disk, more) {
            return Ok(());
        }
        Err(Failure::FileCap {
            held: self.held_pages,
            max: disk.max_pinned_pages,
        })
    }

    /// Checks `PINIO_IOC_PIN` arguments and returns (address, pages, writable, options).
    /// `EINVAL` for reserved fields or unknown flags that are set, a range that is empty, not
    /// page-aligned or wraps, or `PINIO_PIN_GET` with `PINIO_PIN_LONGTERM` or
    /// `PINIO_PIN_SLOW`. `unpin_ns` is an output only: its input is ignored.
    pub(crate) fn validate(arg: &uapi::pinio_pin) -> Result<(usize, usize, bool, HoldOptions)> {
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
        let options = HoldOptions {
            retention: if arg.flags & uapi::PINIO_PIN_GET != 0 {
                Retention::Referenced
            } else {
                Retention::Pinned
            },
            longterm: arg.flags & uapi::PINIO_PIN_LONGTERM != 0,
            nofault: arg.flags & uapi::PINIO_PIN_NOFAULT != 0,
            slow: arg.flags & uapi::PINIO_PIN_SLOW != 0,
        };
        // The kernel WARNs on FOLL_LONGTERM without FOLL_PIN: refuse it before calling it. The
        // slow path is offered for pins only (as gup_test's PIN_BASIC_TEST).
        if (options.longterm || options.slow) && options.retention == Retention::Referenced {
            return Err(EINVAL);
        }
        let write = arg.flags & uapi::PINIO_PIN_WRITE != 0;
        Ok((addr, len / PAGE_SIZE, write, options))
    }

    /// Whether `more` pages fit under the per-file cap.
    pub(crate) fn has_room(&self, disk: &Disk, more: usize) -> bool {
        self.held_pages
            .checked_add(more)
            .is_some_and(|total| total <= disk.max_pinned_pages)
    }

    /// The pool request to make before [`PinTable::insert`] can find a free handle: `None` if
    /// one is free. The caller allocates it without the table's lock and hands the result to
    /// [`PinTable::grow_handles`]. `ENOSPC` if the pool cannot grow (2^31 - 1 handles).
    pub(crate) fn handles_request(&mut self) -> Result<Option<ReallocRequest>> {
        if self.free_handle().is_some() {
            return Ok(None);
        }
        self.handles.grow_request().map(Some).ok_or(ENOSPC)
    }

    /// Grows the handle pool with what [`PinTable::handles_request`] asked for (nothing if
    /// another thread grew it meanwhile).
    pub(crate) fn grow_handles(&mut self, resizer: PoolResizer) {
        self.handles.grow(resizer);
    }

    /// A free handle, next-fit from `next_handle`, without taking it.
    fn free_handle(&mut self) -> Option<usize> {
        // Searches start inside the pool (`next_zero_bit()` asserts it with
        // CONFIG_RUST_BITMAP_HARDENED), which always holds more than one id.
        let next = self.next_handle;
        if (1..self.handles.capacity()).contains(&next) {
            if let Some(id) = self.handles.find_unused_id(next) {
                return Some(id.as_usize());
            }
        }
        self.handles.find_unused_id(1).map(|id| id.as_usize())
    }

    /// Adds a range whose pages were taken by the current process, with the tree `node`
    /// allocated for it; charges it if long-term (to `mm`, for its distinct `folios`). Fills
    /// in the handle, page count and charge of `arg`.
    ///
    /// Allocates only the charge's records. Errors, with the pages released (each a
    /// [`Failure`] for `PINIO_IOC_WHY`): `ENOMEM` past the per-file cap
    /// ([`Failure::FileCap`]) or `RLIMIT_MEMLOCK` ([`Failure::Memlock`]), or if the charge's
    /// records cannot be allocated; `ENOSPC` if no handle is free (call
    /// [`PinTable::handles_request`] first); `EINVAL` for a long-term pin without an `mm` or its
    /// folios.
    pub(crate) fn insert(
        &mut self,
        disk: &Disk,
        arg: &mut uapi::pinio_pin,
        held: Held,
        charge: Option<(ARef<Mm>, KVec<FolioCharge>)>,
        node: RBTreeNodeReservation<u32, PinnedRange>,
    ) -> Result<(), Failure> {
        let nr = held.len();
        self.check_room(disk, nr)?;
        let id = self.free_handle().ok_or(Failure::Invalid(ENOSPC))?;
        let handle = u32::try_from(id).map_err(|_| Failure::Invalid(ENOSPC))?;
        let mut range = PinnedRange {
            addr: arg.addr,
            len: arg.len,
            flags: arg.flags,
            kept: KVec::new(),
            held,
            charge: None,
        };
        arg.charged_pages = 0;
        if range.held.options().longterm {
            let (mm, folios) = charge.ok_or(Failure::Invalid(EINVAL))?;
            let charged = match self.account_for(mm.clone())?.charge(&folios) {
                Ok(charged) => charged,
                Err(ChargeError::OverLimit(refusal)) => return Err(Failure::Memlock(refusal)),
                Err(ChargeError::NoMemory) => return Err(Failure::Other(ENOMEM)),
            };
            arg.charged_pages = charged as u64;
            range.charge = Some((mm, folios));
        }
        // Nothing fails from here on. `id` is still free (found above, under the same lock), so
        // the search from it finds it.
        if let Some(unused) = self
            .handles
            .find_unused_id(id)
            .filter(|u| u.as_usize() == id)
        {
            unused.acquire();
        }
        self.ranges.insert(node.into_node(handle, range));
        self.held_pages += nr;
        self.next_handle = id.saturating_add(1);
        Counters::add(&disk.counters.ioctl_pins, 1);
        Counters::add(&disk.counters.ioctl_pages_held, nr);
        arg.handle = handle;
        arg.nr_pages = nr as u64;
        Ok(())
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

    /// `PINIO_IOC_UNPIN`: releases a handle's pages (dirty if asked) and its charge, and
    /// frees the handle. `EINVAL` for reserved fields or unknown flags that are set, or a
    /// handle this file does not hold.
    pub(crate) fn unpin(&mut self, disk: &Disk, arg: &mut uapi::pinio_unpin) -> Result {
        if arg.reserved.iter().any(|&r| r != 0) || arg.flags & !uapi::PINIO_UNPIN_FLAGS_ALL != 0 {
            return Err(EINVAL);
        }
        let range = self.ranges.remove(&arg.handle).ok_or(EINVAL)?;
        self.handles.release_id(arg.handle as usize);
        // Only pages taken for writing are dirtied (`HeldPages::release`).
        let dirty = arg.flags & uapi::PINIO_UNPIN_DIRTY != 0;
        let elapsed = self.release(disk, range, dirty);
        arg.unpin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        Ok(())
    }

    /// Releases every range, as on the file's last close: pages the device wrote into are
    /// released dirty.
    pub(crate) fn release_all(&mut self, disk: &Disk) {
        while let Some(cursor) = self.ranges.cursor_front_mut() {
            let (_, node) = cursor.remove_current();
            let (handle, range) = node.to_key_value();
            self.handles.release_id(handle as usize);
            let dirty = range.held.written();
            self.release(disk, range, dirty);
        }
    }

    /// Uncharges and releases a range taken out of the table; returns the release time.
    fn release(&mut self, disk: &Disk, mut range: PinnedRange, dirty: bool) -> Delta {
        let nr = range.held.len();
        // Never release mapped pages: kept mappings go first (under swiotlb, the device's
        // writes reach the pages only now).
        Counters::add(&disk.counters.dma_kept_unmapped, range.kept.len());
        range.kept.clear();
        // Uncharge while the pages are still held, so the folios cannot be reused meanwhile.
        self.uncharge(&mut range);
        let elapsed = range.held.release(dirty);
        self.held_pages -= nr.min(self.held_pages);
        Counters::add(&disk.counters.ioctl_unpins, 1);
        Counters::add(&disk.counters.ioctl_pages_released, nr);
        elapsed
    }

    fn uncharge(&mut self, range: &mut PinnedRange) {
        if let Some((mm, folios)) = range.charge.take() {
            if let Some(account) = self.accounts.iter_mut().find(|a| a.is_for(&mm)) {
                account.uncharge(&folios);
            }
        }
    }

    /// `PINIO_IOC_QUERY`: what the kernel now thinks of a handle's pages. `EINVAL` for reserved
    /// fields that are set, or a handle this file does not hold.
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
        q.dma_kept_maps = range.kept.len() as u64;
        q.dma_kept_slots = range.kept.iter().map(|k| k.slots() as u64).sum();
        *arg = q;
        Ok(())
    }

    /// `PINIO_IOC_DUMP`, one batch: appends to `out` the records of up to `max` pages of
    /// `handle` from page index `offset` on (none if `offset` is past the end), as many as `out`
    /// has spare capacity for. Returns the pages the handle holds; `EINVAL` for an unknown
    /// handle.
    pub(crate) fn dump_records(
        &self,
        handle: u32,
        offset: usize,
        max: usize,
        out: &mut KVec<uapi::pinio_page_record>,
    ) -> Result<usize> {
        let range = self.ranges.get(&handle).ok_or(EINVAL)?;
        let room = max.min(out.capacity() - out.len());
        for (index, page) in range.held.pages().enumerate().skip(offset).take(room) {
            out.push(page_record(index, page.detail()), GFP_KERNEL)?;
        }
        Ok(range.held.len())
    }

    /// `PINIO_IOC_DMA`: the device moves bytes between its store and a handle's pages, and
    /// says how many went through swiotlb bounce slots. With `PINIO_DMA_KEEP_MAPPING` (only
    /// where [`Disk::may_keep_mappings`]) its mappings stay, held by the handle until it is
    /// released.
    ///
    /// Errors, before anything moved: `EINVAL` for reserved fields that are set, a handle this
    /// file does not hold, flags other than exactly one of `PINIO_DMA_TO_PAGES` and
    /// `PINIO_DMA_FROM_PAGES` (with `PINIO_DMA_KEEP_MAPPING` where accepted), or a range
    /// outside the store or the pinned range; `EPERM` for `PINIO_DMA_TO_PAGES` into a pin taken
    /// without `PINIO_PIN_WRITE`. After some bytes may have moved: `EIO` if a store page never
    /// written cannot be allocated; those of the mapping (`ENOMEM` for one that can never get
    /// its bounce slots, with the kept mappings' slots counted as never coming back; `EINTR`).
    pub(crate) fn dma(&mut self, disk: &Disk, arg: &mut uapi::pinio_dma) -> Result {
        if arg.reserved.iter().any(|&r| r != 0) {
            return Err(EINVAL);
        }
        let keep = arg.flags & uapi::PINIO_DMA_KEEP_MAPPING != 0;
        if keep && !disk.may_keep_mappings() {
            return Err(EINVAL);
        }
        let PinnedRange { held, kept, .. } = self.ranges.get_mut(&arg.handle).ok_or(EINVAL)?;
        let offset = usize::try_from(arg.range_offset).map_err(|_| EINVAL)?;
        let pos = usize::try_from(arg.store_offset).map_err(|_| EINVAL)?;
        let len = usize::try_from(arg.len).map_err(|_| EINVAL)?;
        if pos
            .checked_add(len)
            .is_none_or(|end| end > disk.store.size())
        {
            return Err(EINVAL);
        }
        let kept = keep.then_some(kept);
        let mut bounced = 0;
        let done = match (arg.flags & !uapi::PINIO_DMA_KEEP_MAPPING, held) {
            (uapi::PINIO_DMA_TO_PAGES, Held::Writable(held)) => {
                let segments = held.segments(offset, len).ok_or(EINVAL)?;
                // SAFETY: `kept` is the range's own, unmapped before the range's pages are
                // released (`PinTable::release`, or the field order of `PinnedRange`).
                unsafe { move_through::<Writable>(disk, pos, segments, &mut bounced, kept)? }
            }
            (uapi::PINIO_DMA_TO_PAGES, Held::ReadOnly(held)) => {
                return Err(if held.read_segments(offset, len).is_some() {
                    EPERM
                } else {
                    EINVAL
                });
            }
            (uapi::PINIO_DMA_FROM_PAGES, Held::ReadOnly(held)) => {
                let segments = held.read_segments(offset, len).ok_or(EINVAL)?;
                // SAFETY: As above.
                unsafe { move_through::<ReadOnly>(disk, pos, segments, &mut bounced, kept)? }
            }
            (uapi::PINIO_DMA_FROM_PAGES, Held::Writable(held)) => {
                let segments = held.read_segments(offset, len).ok_or(EINVAL)?;
                // SAFETY: As above.
                unsafe { move_through::<ReadOnly>(disk, pos, segments, &mut bounced, kept)? }
            }
            _ => return Err(EINVAL),
        };
        Counters::add(&disk.counters.ioctl_dma_bytes, done);
        arg.done = done as u64;
        arg.bounced = bounced as u64;
        Ok(())
    }
}

/// The device moves bytes between the store at `pos` and `segments`, counting those bounced in
/// `bounced`, and keeping its mappings in `kept` if given.
///
/// # Safety
///
/// With `kept`, the pages behind `segments` must stay held until every mapping added to it is
/// dropped.
unsafe fn move_through<'p, A: DeviceIo>(
    disk: &Disk,
    pos: usize,
    segments: impl Iterator<Item = (A::View<'p>, Span)>,
    bounced: &mut usize,
    kept: Option<&mut KVec<KeptMapping>>,
) -> Result<usize> {
    match kept {
        None => dma_io_counted::<A>(disk, pos, segments, Alloc::MaySleep, bounced),
        // SAFETY: Guaranteed by the caller.
        Some(kept) => unsafe { dma_io_keeping::<A>(disk, pos, segments, bounced, kept) },
    }
}

/// The distinct folios of `held` with their sizes (each folio once, in address order), what a
/// long-term pin of them is charged. `ENOMEM` if the list cannot be allocated.
pub(crate) fn distinct_folios(held: &Held) -> Result<KVec<FolioCharge>> {
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
