// SPDX-License-Identifier: GPL-2.0

//! The `read(2)`/`write(2)` path: O_DIRECT-style transfers between the store and the caller's
//! own pages.
//!
//! The checks follow a block device opened with `O_DIRECT` (`blkdev_read_iter()`,
//! `blkdev_write_iter()`, `blkdev_direct_IO()`), so a program sees the same results from
//! `/dev/pinio` as from a brd ramdisk: reads at or past the end return 0, writes there fail
//! with `ENOSPC`, transfers across the end are short, and offsets, lengths and every buffer
//! segment must be multiples of the block size (`EINVAL`). The pages are then taken in bounded
//! batches ([`ExtractedPages`]) and copied by the copy engine ([`crate::dma`]); no lock is held.

use crate::{
    counters::Counters,
    dma,
    extract::{ExtractedPages, Iter},
    ffi,
    open_file::OpenFile,
};
use core::ops::{Deref, DerefMut};
use kernel::{
    bindings,
    iov::{IovIterDest, IovIterSource},
    prelude::*,
};

/// `read_iter`: copies store bytes from `*pos` into `iter`'s pages; advances `*pos`.
pub(crate) fn read(file: &OpenFile, pos: &mut i64, iter: &mut IovIterDest<'_>) -> Result<usize> {
    let device = &*file.device;
    Counters::add(&device.counters.reads, 1);
    let start = usize::try_from(*pos).map_err(|_| EINVAL)?;
    let size = device.store.size();
    if start >= size {
        return Ok(0);
    }
    let mut iter = Truncated::new(iter, size - start);
    let done = transfer(file, start, &mut *iter)?;
    advance(pos, done)
}

/// `write_iter`: copies `iter`'s pages into the store from `*pos`; advances `*pos`.
pub(crate) fn write(file: &OpenFile, pos: &mut i64, iter: &mut IovIterSource<'_>) -> Result<usize> {
    let device = &*file.device;
    Counters::add(&device.counters.writes, 1);
    if iter.is_empty() {
        return Ok(0);
    }
    let start = usize::try_from(*pos).map_err(|_| EINVAL)?;
    let size = device.store.size();
    if start >= size {
        return Err(ENOSPC);
    }
    let mut iter = Truncated::new(iter, size - start);
    let done = transfer(file, start, &mut *iter)?;
    advance(pos, done)
}

fn advance(pos: &mut i64, done: usize) -> Result<usize> {
    *pos = pos
        .checked_add(i64::try_from(done).map_err(|_| EINVAL)?)
        .ok_or(EINVAL)?;
    Ok(done)
}

/// Moves all of `iter` (which ends inside the store) between the store at `start` and the
/// iterator's pages, batch by batch.
///
/// Returns the bytes moved. An error before the first byte is returned as such (`EINVAL` for
/// misalignment, `EFAULT` for memory that cannot be pinned for the access); after that the
/// transfer ends short, as `O_DIRECT` on a block device does. A fatal signal also ends it short.
fn transfer<I: Iter>(file: &OpenFile, start: usize, iter: &mut I) -> Result<usize> {
    let device = &*file.device;
    let count = iter.len();
    if count == 0 {
        return Ok(0);
    }
    let end = start.checked_add(count).ok_or(EINVAL)?;
    if end > device.store.size() {
        return Err(EINVAL);
    }
    if !device.is_aligned(start | count) || !buffers_aligned(file, iter) {
        return Err(EINVAL);
    }

    let mut done = 0;
    while done < count {
        if done > 0 && fatal_signal_pending() {
            break;
        }
        match move_batch(file, start + done, iter, count - done) {
            Ok(moved) => done += moved,
            Err(err) if done == 0 => return Err(err),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Extracts one batch of at most `max_len` bytes from `iter` and moves it; the batch's pages
/// are released (unpinned, dirtied if written) when it goes out of scope, whatever happens. If
/// the batch cannot be moved, the iterator is reverted over it, so that it has advanced by
/// exactly the bytes the transfer reports.
fn move_batch<I: Iter>(file: &OpenFile, pos: usize, iter: &mut I, max_len: usize) -> Result<usize> {
    let device = &*file.device;
    let mut batch = ExtractedPages::extract(iter, max_len, &device.counters)?;
    let extracted = batch.len();
    let moved = file.dma_delay().and_then(|()| {
        if I::DEVICE_WRITES {
            dma::store_to_pages(&device.store, pos, batch.segments_mut()?)
        } else {
            dma::pages_to_store(&device.store, pos, batch.segments())
        }
    });
    let pinned = batch.is_pinned();
    drop(batch);
    let moved = match moved {
        Ok(moved) => moved,
        Err(err) => {
            // SAFETY: The extraction advanced `iter` by exactly `extracted` bytes.
            unsafe { iter.revert(extracted) };
            return Err(err);
        }
    };
    let bytes = if pinned {
        &device.counters.bytes_pinned
    } else {
        &device.counters.bytes_listed
    };
    Counters::add(bytes, moved);
    Ok(moved)
}

/// Whether the current task has a fatal signal pending (it is being killed).
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Only reads the current task's signal state.
    unsafe { ffi::pinio_fatal_signal_pending() }
}

/// Whether the buffer segments of `iter` are aligned to the block size, checked exactly as the
/// block layer's `iov_iter_extract_bvecs()` checks them for brd.
///
/// For user-backed and KVEC iterators, the block layer checks the segment the iterator points
/// at before each extraction: its address and its whole remaining length, even when the end
/// of the device cuts the transfer short inside it. Each extraction consumes one segment and
/// leaves the iterator at the next non-empty one, so every segment reached is checked, with
/// one exception the block layer has and pinio keeps for fidelity: when the vector starts with
/// empty segments, the first of them is checked and the extraction then skips to the first
/// non-empty segment, which is taken unchecked. For other iterators (BVEC from splice) the
/// alignment of all their segments counts (`iov_iter_alignment()`).
fn buffers_aligned<I: Iter>(file: &OpenFile, iter: &mut I) -> bool {
    let device = &*file.device;
    let raw = iter.as_raw();
    // SAFETY: `raw` is the valid iterator borrowed by `iter`; these only read it.
    let segmented = unsafe { ffi::pinio_user_backed_iter(raw) || ffi::pinio_iov_iter_is_kvec(raw) };
    if !segmented {
        // SAFETY: As above.
        return device.is_aligned(unsafe { bindings::iov_iter_alignment(raw) } as usize);
    }
    // Walk a copy, so that the caller's iterator does not move. Iterators are plain values
    // that refer to, and never own, their segment arrays.
    // SAFETY: `raw` points to a valid, initialised iterator.
    let mut walk: bindings::iov_iter = unsafe { core::ptr::read(raw) };
    let w: *mut bindings::iov_iter = &mut walk;
    // The segment at the iterator: (address, whole remaining length, bytes left in the iterator).
    // SAFETY: `w` is a valid iterator over the caller's live segment array.
    let segment = || unsafe {
        (
            ffi::pinio_iter_iov_addr(w),
            ffi::pinio_iter_iov_len(w),
            ffi::pinio_iov_iter_count(w),
        )
    };
    // Set for the segment after leading empty ones: the one the extraction takes unchecked.
    let mut unchecked = false;
    // Each round consumes a segment, so this ends; the bound only guards against surprises.
    for round in 0..=u16::MAX {
        let (addr, len, left) = segment();
        if !unchecked && !device.is_aligned(addr | len) {
            return false;
        }
        if left <= len {
            return true;
        }
        unchecked = round == 0 && len == 0;
        // SAFETY: `w` is valid (as above); this steps over the segment and any empty ones
        // after it (over just the empty ones if it is empty).
        unsafe { bindings::iov_iter_advance(w, len) };
    }
    false
}

/// An iterator truncated to end inside the store for the duration of a transfer, and
/// re-expanded afterwards (as `blkdev_read_iter()` does), so that the caller sees the iterator
/// advanced by exactly the bytes moved.
struct Truncated<'i, I: Iter> {
    iter: &'i mut I,
    shorted: usize,
}

impl<'i, I: Iter> Truncated<'i, I> {
    fn new(iter: &'i mut I, max: usize) -> Self {
        let len = iter.len();
        let shorted = len.saturating_sub(max);
        if shorted != 0 {
            // SAFETY: `iter.as_raw()` is a valid iterator; truncation only lowers its count.
            unsafe { ffi::pinio_iov_iter_truncate(iter.as_raw(), max as u64) };
        }
        Self { iter, shorted }
    }
}

impl<I: Iter> Drop for Truncated<'_, I> {
    fn drop(&mut self) {
        if self.shorted != 0 {
            let len = self.iter.len() + self.shorted;
            // SAFETY: `self.iter.as_raw()` is a valid iterator, and this restores exactly the
            // bytes `new()` cut off.
            unsafe { ffi::pinio_iov_iter_reexpand(self.iter.as_raw(), len) };
        }
    }
}

impl<I: Iter> Deref for Truncated<'_, I> {
    type Target = I;

    fn deref(&self) -> &I {
        self.iter
    }
}

impl<I: Iter> DerefMut for Truncated<'_, I> {
    fn deref_mut(&mut self) -> &mut I {
        self.iter
    }
}
