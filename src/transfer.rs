// SPDX-License-Identifier: GPL-2.0

//! The `read(2)`/`write(2)` path: O_DIRECT-style transfers between the store and the caller's
//! own pages.
//!
//! The checks follow a block device opened with `O_DIRECT` (`blkdev_read_iter()`,
//! `blkdev_write_iter()`, `blkdev_direct_IO()`), so a program sees the same results from
//! `/dev/pinio` as from a brd ramdisk: reads at or past the end return 0, writes there fail
//! with `ENOSPC`, transfers across the end are short, and offsets, lengths and every buffer
//! segment must be multiples of the block size (`EINVAL`). The pages are then taken in bounded
//! batches ([`ExtractedPages`]) and copied by the copy engine ([`crate::copy`]); no lock is held.

use crate::{
    copy,
    counters::Counters,
    engine,
    extract::{ExtractedPages, Mode, Retention},
    iter::{Iter, Truncated},
    kiocb::IoCb,
    open_file::{Config, OpenFile},
    task,
};
use kernel::{
    iov::{IovIterDest, IovIterSource},
    prelude::*,
};

/// How a `read_iter`/`write_iter` call was answered.
pub(crate) enum Done {
    /// Finished: the bytes moved (`ki_pos` advanced by them).
    Now(usize),
    /// Queued on the engine, which completes the kiocb later: return `-EIOCBQUEUED`.
    Queued,
}

/// `read_iter`: copies store bytes from `ki_pos` into `iter`'s pages.
pub(crate) fn read(file: &OpenFile, iocb: IoCb<'_>, iter: &mut IovIterDest<'_>) -> Result<Done> {
    let device = &*file.device;
    Counters::add(&device.counters.reads, 1);
    let start = usize::try_from(iocb.pos()).map_err(|_| EINVAL)?;
    let size = device.store.size();
    if start >= size {
        return Ok(Done::Now(0));
    }
    let mut iter = Truncated::new(iter, size - start);
    submit(file, iocb, start, &mut *iter)
}

/// `write_iter`: copies `iter`'s pages into the store from `ki_pos`.
pub(crate) fn write(file: &OpenFile, iocb: IoCb<'_>, iter: &mut IovIterSource<'_>) -> Result<Done> {
    let device = &*file.device;
    Counters::add(&device.counters.writes, 1);
    if iter.is_empty() {
        return Ok(Done::Now(0));
    }
    let start = usize::try_from(iocb.pos()).map_err(|_| EINVAL)?;
    let size = device.store.size();
    if start >= size {
        return Err(ENOSPC);
    }
    let mut iter = Truncated::new(iter, size - start);
    submit(file, iocb, start, &mut *iter)
}

/// Checks a transfer of all of `iter` (which ends inside the store) at store offset `start`,
/// then moves it now (a synchronous kiocb) or queues it on the engine (an asynchronous one).
///
/// Errors before anything moved: `EINVAL` for misalignment, `EFAULT` for memory that cannot
/// be taken for the access, `EAGAIN` under `IOCB_NOWAIT` when the transfer would sleep (a
/// `dma_delay_us` wait, a page not present, a full queue), and those of [`engine::submit`].
fn submit<I: Iter>(
    file: &OpenFile,
    mut iocb: IoCb<'_>,
    start: usize,
    iter: &mut I,
) -> Result<Done> {
    let device = &*file.device;
    let count = iter.len();
    if count == 0 {
        return Ok(Done::Now(0));
    }
    let end = start.checked_add(count).ok_or(EINVAL)?;
    if end > device.store.size() {
        return Err(EINVAL);
    }
    if !device.is_aligned(start | count) || !buffers_aligned(file, iter) {
        return Err(EINVAL);
    }
    let config = file.config();
    let nowait = iocb.nowait();
    let result = if iocb.is_sync() || device.engine.is_none() {
        if nowait && config.dma_delay_us != 0 {
            Err(EAGAIN)
        } else {
            transfer(file, config, start, iter, nowait).map(|done| {
                iocb.set_pos(iocb.pos().saturating_add(done as i64));
                Done::Now(done)
            })
        }
    } else {
        match iocb.into_pending() {
            Some(pending) => engine::submit(
                &file.device,
                &file.queue,
                config,
                pending,
                start,
                iter,
                nowait,
            )
            .map(|()| Done::Queued),
            None => Err(EINVAL),
        }
    };
    if nowait && matches!(result, Err(e) if e == EAGAIN) {
        Counters::add(&device.counters.nowait_eagain, 1);
    }
    result
}

/// Moves all of `iter` (checked, ending inside the store) between the store at `start` and
/// the iterator's pages now, batch by batch.
///
/// Returns the bytes moved. An error before the first byte is returned as such (`EFAULT` for
/// memory that cannot be taken for the access; `EAGAIN` if `nowait` and a page is not
/// present); after that the transfer ends short, as `O_DIRECT` on a block device does. A fatal
/// signal also ends it short.
fn transfer<I: Iter>(
    file: &OpenFile,
    config: Config,
    start: usize,
    iter: &mut I,
    nowait: bool,
) -> Result<usize> {
    let count = iter.len();
    let mode = if config.get_pages() {
        Mode::Get
    } else {
        Mode::Extract
    };
    let was_nofault = iter.set_nofault(nowait);
    let mut done = 0;
    while done < count {
        if done > 0 && task::fatal_signal_pending() {
            break;
        }
        match move_batch(file, config, mode, start + done, iter, count - done) {
            Ok(moved) => done += moved,
            Err(err) if done == 0 => {
                iter.set_nofault(was_nofault);
                return Err(if nowait && err == EFAULT { EAGAIN } else { err });
            }
            Err(_) => break,
        }
    }
    iter.set_nofault(was_nofault);
    Ok(done)
}

/// Extracts one batch of at most `max_len` bytes from `iter` and moves it; the batch's pages
/// are released (unpinned, dirtied if written) whatever happens, and if the batch cannot be
/// moved the iterator is reverted over it ([`ExtractedPages::with_batch`]).
fn move_batch<I: Iter>(
    file: &OpenFile,
    config: Config,
    mode: Mode,
    pos: usize,
    iter: &mut I,
    max_len: usize,
) -> Result<usize> {
    let device = &*file.device;
    let (moved, retention) =
        ExtractedPages::with_batch(iter, max_len, mode, &device.counters, |batch| {
            file.dma_delay(config.dma_delay_us)?;
            if I::DEVICE_WRITES {
                copy::device_writes(device, pos, batch.segments_mut()?)
            } else {
                copy::device_reads(device, pos, batch.segments())
            }
        })?;
    let bytes = match retention {
        Retention::Pinned => &device.counters.bytes_pinned,
        Retention::Listed => &device.counters.bytes_listed,
        Retention::Referenced => &device.counters.bytes_got,
    };
    Counters::add(bytes, moved);
    Ok(moved)
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
    if !iter.is_segmented() {
        return device.is_aligned(iter.alignment());
    }
    // Set for the segment after leading empty ones: the one the extraction takes unchecked.
    let mut unchecked = false;
    for (round, segment) in iter.segments().enumerate() {
        if !unchecked && !device.is_aligned(segment.addr | segment.len) {
            return false;
        }
        if segment.last {
            return true;
        }
        unchecked = round == 0 && segment.len == 0;
    }
    false
}
