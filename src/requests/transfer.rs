// SPDX-License-Identifier: GPL-2.0

//! The `read(2)`/`write(2)` path: O_DIRECT-style transfers between the store and the caller's
//! own pages.
//!
//! The checks follow a block device opened with `O_DIRECT` (`blkdev_read_iter()`,
//! `blkdev_write_iter()`, `blkdev_direct_IO()`), so a program sees the same results from
//! `/dev/pinio` as from a brd ramdisk: reads at or past the end return 0, writes there fail
//! with `ENOSPC`, transfers across the end are short, the offset and length must be multiples
//! of the block size (`EINVAL`), and so must every buffer segment the block layer looks at.
//! What happens beyond that depends on the size and shape of the request, as in
//! `block/fops.c`: [`super::dio`] has those rules. When every segment is aligned (and the
//! request is not `IOCB_NOWAIT` on the multi-bio path) the answer depends only on where taking
//! pages fails, so the data moves as the pages are taken: in bounded batches
//! ([`ExtractedPages`]) moved by the data path ([`crate::disk::data_path`]), with no lock held. Otherwise
//! the block layer's steps are first replayed over the iterator ([`dio::replay`]: pages taken
//! and released, nothing copied), and then exactly the bytes it would move are moved.
//! Asynchronous kiocbs are queued on the engine ([`super::engine`]) with the same decisions.

use super::{
    dio::{
        self,
        End,
        Extent,
        Order,
        PageKey,
        Path,
        Plan,
        Settled,
        Shape,
        Source, //
    },
    engine::{
        self,
        EngineRef,
        FileQueue,
        Lend, //
    },
    kiocb::IoCb,
    model::Config,
};
use crate::{
    disk::{
        counters::Counters,
        data_path::DeviceIo,
        store::Alloc,
        Disk, //
    },
    glue::{
        signal,
        uapi, //
    },
    pages::{
        batch::{
            ExtractedPages,
            PageSlots, //
        },
        extract::Mode,
        iter::{
            Iter,
            Rewind,
            Truncated, //
        },
    },
};
use kernel::{
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    new_spinlock,
    prelude::*,
    sync::{
        Arc,
        SpinLock, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    types::ForeignOwnable, //
};

/// The request side of one open file: the device, the file's device model and its queue of
/// asynchronous requests.
#[pin_data]
pub(crate) struct IoFile {
    /// The device; outlives every open file.
    pub(crate) disk: Arc<Disk>,

    /// The device model of this file (`PINIO_IOC_SET_CONFIG`).
    #[pin]
    config: SpinLock<Config>,
    /// Asynchronous requests of this file in flight; `None` without an engine (KUnit), which
    /// serves asynchronous kiocbs synchronously.
    queue: Option<Arc<FileQueue>>,
}

impl IoFile {
    /// The request side of a new open file of `device`, with the default device model.
    pub(crate) fn new(disk: Arc<Disk>, engine: Option<EngineRef>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            queue: match engine {
                Some(engine) => Some(FileQueue::new(disk.clone(), engine)?),
                None => None,
            },
            disk,
            config <- new_spinlock!(Config::default().with_defaults(), "pinio::IoFile::config"),
        })
    }

    /// The device model in effect.
    pub(crate) fn config(&self) -> Config {
        *self.config.lock()
    }

    /// Applies `PINIO_IOC_SET_CONFIG`: `EINVAL` for a bad argument ([`Config::from_uapi`]),
    /// `EBUSY` if the completion order would change while requests are in flight.
    pub(crate) fn set_config(&self, config: &uapi::pinio_config) -> Result {
        let config = Config::from_uapi(config)?;
        if let Some(queue) = &self.queue {
            queue.set_fifo(config.fifo())?;
        }
        *self.config.lock() = config;
        Ok(())
    }

    /// Waits `us` microseconds, as a slow DMA engine would. The wait is killable: `EINTR` as
    /// soon as a fatal signal is pending.
    fn dma_delay(&self, us: u32) -> Result {
        /// Longest uninterrupted sleep.
        const SLICE_US: u32 = 5_000;
        let mut left = us;
        while left != 0 {
            if signal::fatal_signal_pending() {
                return Err(EINTR);
            }
            let slice = left.min(SLICE_US);
            fsleep(Delta::from_micros(i64::from(slice)));
            left -= slice;
        }
        Ok(())
    }
}

/// How a `read_iter`/`write_iter` call was answered.
pub(crate) enum Done {
    /// Finished: the bytes moved (`ki_pos` advanced by them).
    Now(usize),
    /// Queued on the engine, which completes the kiocb later: return `-EIOCBQUEUED`.
    Queued,
}

/// `read_iter`: copies store bytes from `ki_pos` into `iter`'s pages.
pub(crate) fn read<T: ForeignOwnable>(
    file: &IoFile,
    iocb: IoCb<'_, T>,
    iter: &mut IovIterDest<'_>,
) -> Result<Done> {
    let disk = &*file.disk;
    Counters::add(&disk.counters.reads, 1);
    let start = usize::try_from(iocb.pos()).map_err(|_| EINVAL)?;
    let size = disk.store.size();
    if start >= size {
        return Ok(Done::Now(0));
    }
    let mut iter = Truncated::new(iter, size - start);
    submit(file, iocb, start, &mut *iter)
}

/// `write_iter`: copies `iter`'s pages into the store from `ki_pos`.
pub(crate) fn write<T: ForeignOwnable>(
    file: &IoFile,
    iocb: IoCb<'_, T>,
    iter: &mut IovIterSource<'_>,
) -> Result<Done> {
    let disk = &*file.disk;
    Counters::add(&disk.counters.writes, 1);
    if iter.is_empty() {
        return Ok(Done::Now(0));
    }
    let start = usize::try_from(iocb.pos()).map_err(|_| EINVAL)?;
    let size = disk.store.size();
    if start >= size {
        return Err(ENOSPC);
    }
    let mut iter = Truncated::new(iter, size - start);
    submit(file, iocb, start, &mut *iter)
}

/// Checks a transfer of all of `iter` (which ends inside the store) at store offset `start`,
/// then moves it now (a synchronous kiocb) or queues it on the engine (an asynchronous one), as
/// `block/fops.c` would serve it ([`super::dio`]).
///
/// Errors before anything moved: `EINVAL` for a misaligned offset, length or buffer segment,
/// `EFAULT` for memory that cannot be taken for the access, `EIO` for a write that cannot get a
/// store page, `EAGAIN` under `IOCB_NOWAIT` when the transfer would sleep (a `dma_delay_us`
/// wait, a page not present, a store page not to be had without reclaim, a full queue) or
/// needs more than one bio, and those of [`engine::submit`]. On the multi-bio path `EINVAL`
/// and `EFAULT` also come after some bytes moved.
fn submit<I: Iter, T: ForeignOwnable>(
    file: &IoFile,
    mut iocb: IoCb<'_, T>,
    start: usize,
    iter: &mut I,
) -> Result<Done>
where
    I::Access: Lend,
{
    let disk = &*file.disk;
    let count = iter.len();
    if count == 0 {
        return Ok(Done::Now(0));
    }
    let end = start.checked_add(count).ok_or(EINVAL)?;
    if end > disk.store.size() {
        return Err(EINVAL);
    }
    // blkdev_dio_invalid()
    if !disk.is_aligned(start | count) {
        return Err(EINVAL);
    }
    let config = file.config();
    let nowait = iocb.nowait();
    let sync = iocb.is_sync() || file.queue.is_none();
    let segmented = iter.is_segmented();
    // bio_iov_vecs_to_alloc(): a BVEC iterator's bvecs are used as they are.
    let pages = if segmented {
        iter.npages(dio::BIO_MAX_VECS + 1)
    } else {
        0
    };
    let plan = Plan::classify(Shape {
        pages,
        sync,
        nowait,
    });
    let aligned = if segmented {
        segments_aligned(file, iter)
    } else if sync && !disk.is_aligned(iter.alignment()) {
        // bio_iov_iter_get_pages() checks every bvec; __blkdev_direct_IO_async() none.
        return Err(EINVAL);
    } else {
        true
    };
    if plan.path == Path::Multi {
        Counters::add(&disk.counters.multi_bio, 1);
    }
    let settled = if plan.needs_replay(aligned) {
        Counters::add(&disk.counters.replays, 1);
        let end = replay(file, config, &plan, iter, pages);
        Some(plan.settle(count, end))
    } else {
        None
    };
    let result = if sync {
        serve(file, config, &plan, settled, start, iter).map(|done| {
            iocb.advance(done);
            Done::Now(done)
        })
    } else {
        match settled {
            // Answered at once: nothing is queued.
            Some(settled) if !settled.queued => settled.result.map(Done::Now),
            settled => submit_async(file, config, plan, settled, start, iocb, iter),
        }
    };
    if nowait && matches!(result, Err(e) if e == EAGAIN) {
        Counters::add(&disk.counters.nowait_eagain, 1);
    }
    result
}

/// Serves an asynchronous request of all of `iter` at store offset `start`: in the submitter's
/// context and answered at once when nothing must wait (no service time, no earlier request
/// it must complete after: [`engine::Slot::inline`]), as brd completes a bio inside
/// `submit_bio()`; otherwise queued on the engine, to be completed with `ki_complete()`.
///
/// An asynchronous kiocb may be answered by `read_iter`/`write_iter` itself: aio calls
/// `ki_complete()` with the returned value, io_uring posts it as the completion, exactly as for
/// a later `ki_complete()`. Either way the answer is the asynchronous one for `plan`
/// ([`Plan::settle`]). Errors of [`engine::FileQueue::reserve`], of [`serve`] and of
/// [`engine::submit`].
fn submit_async<I: Iter, T: ForeignOwnable>(
    file: &IoFile,
    config: Config,
    plan: Plan,
    settled: Option<Settled>,
    start: usize,
    mut iocb: IoCb<'_, T>,
    iter: &mut I,
) -> Result<Done>
where
    I::Access: Lend,
{
    let queue = file.queue.as_ref().ok_or(EINVAL)?;
    let slot = queue.reserve(config.queue_depth, plan.nowait)?;
    let count = iter.len();
    if slot.inline(config.latency_us) {
        let done = serve(file, config, &plan, settled, start, iter)?;
        Counters::add(&file.disk.counters.async_inline, 1);
        iocb.advance(done);
        return Ok(Done::Now(done));
    }
    let pending = iocb.into_pending().ok_or(EINVAL)?;
    let order = settled.map_or(Order::all(plan, count), |settled| {
        Order::from_settled(plan, count, settled)
    });
    engine::submit(slot, config, pending, start, iter, order).map(|()| Done::Queued)
}

/// The data-path retention mode of the file's configuration.
fn mode(config: Config) -> Mode {
    if config.get_pages() {
        Mode::Get
    } else {
        Mode::Extract
    }
}

/// Serves a request of all of `iter` at store offset `start` now, in the caller's context
/// (a synchronous request, or an asynchronous one with nothing to wait for): moves what
/// `settled` (the replayed answer, if the request needed one) says, or else moves as it goes,
/// and returns the answer for `plan`.
fn serve<I: Iter>(
    file: &IoFile,
    config: Config,
    plan: &Plan,
    settled: Option<Settled>,
    start: usize,
    iter: &mut I,
) -> Result<usize>
where
    I::Access: Lend,
{
    let count = iter.len();
    let len = settled.map_or(count, |settled| settled.moved);
    if plan.nowait && config.dma_delay_us != 0 && len != 0 {
        return Err(EAGAIN);
    }
    let (done, error) = transfer(file, config, start, iter, len, plan.nowait);
    match settled {
        Some(settled) if done == settled.moved => settled.result,
        // Moved as it went, or the memory changed since the replay: the answer for where
        // taking pages stopped.
        _ => plan.settle(count, plan.end_at(count, done, error)).result,
    }
}

/// Moves up to `len` bytes of `iter` (checked, ending inside the store) between the store at
/// `start` and the iterator's pages now, batch by batch.
///
/// Returns the bytes moved and, if that is less than `len`, the error that stopped it: the
/// extraction's (`EFAULT` for memory that cannot be taken; `EAGAIN` under `nowait` for a page
/// not present), the store's (`EIO` for a write that cannot get a store page, `EAGAIN` under
/// `nowait`), or `EINTR` if a fatal signal arrived before the first byte. A fatal signal after
/// that ends the transfer short with no error.
fn transfer<I: Iter>(
    file: &IoFile,
    config: Config,
    start: usize,
    iter: &mut I,
    len: usize,
    nowait: bool,
) -> (usize, Option<Error>)
where
    I::Access: Lend,
{
    let mode = mode(config);
    let was_nofault = iter.set_nofault(nowait);
    let mut done = 0;
    let mut error = None;
    while done < len {
        if done > 0 && signal::fatal_signal_pending() {
            break;
        }
        match move_batch(file, config, mode, start + done, iter, len - done, nowait) {
            Ok(moved) => done += moved,
            Err(err) if err == EINTR && done > 0 => break,
            Err(err) => {
                error = Some(if nowait && err == EFAULT { EAGAIN } else { err });
                break;
            }
        }
    }
    iter.set_nofault(was_nofault);
    (done, error)
}
/// Extracts one batch of at most `max_len` bytes from `iter` and moves it; the batch's pages
/// are released (unpinned, dirtied if written) whatever happens, and if the batch cannot be
/// moved the iterator is reverted over it, so that it has advanced by exactly the bytes moved.
/// A write that cannot get a store page fails with `EIO`, or `EAGAIN` if `nowait` (as brd).
fn move_batch<I: Iter>(
    file: &IoFile,
    config: Config,
    mode: Mode,
    pos: usize,
    iter: &mut I,
    max_len: usize,
    nowait: bool,
) -> Result<usize>
where
    I::Access: DeviceIo,
{
    let alloc = if nowait {
        Alloc::NoWait
    } else {
        Alloc::MaySleep
    };
    let disk = &*file.disk;
    let counters = &disk.counters;
    counters.extraction(iter.kind());
    let (result, taken, retention) = {
        let mut slots = PageSlots::new();
        let mut batch = ExtractedPages::take(iter, &mut slots, max_len, mode)?;
        let retention = batch.retention();
        counters.taken(retention, batch.nr_pages());
        let result = file
            .dma_delay(config.dma_delay_us)
            .and_then(|()| I::Access::dma_io(disk, pos, batch.segments(), alloc));
        let taken = batch.len();
        counters.released(batch.release());
        (result, taken, retention)
    };
    match result {
        Ok(moved) => {
            counters.moved(retention, moved);
            Ok(moved)
        }
        Err(err) => {
            // SAFETY: The extraction advanced `iter` by exactly `taken` bytes, and the batch
            // that borrowed it is gone.
            unsafe { iter.revert(taken) };
            Err(err)
        }
    }
}

/// Whether every alignment check the block layer's `iov_iter_extract_bvecs()` can make on the
/// buffer segments of `iter` (a user-backed or KVEC iterator) passes.
///
/// Before each extraction the block layer checks the segment the iterator points at: its
/// address and all its remaining length, even when the end of the device cuts the transfer
/// short inside it. An extraction consumes pages of one segment and leaves the iterator inside
/// it (at a page boundary, which an aligned segment passes again) or at the next non-empty
/// segment, so the checks are those of every segment the walk reaches, with one exception: when
/// the vector starts with empty segments, the first of them is checked and the extraction
/// takes the first non-empty one unchecked. Here that segment is required to be aligned too;
/// if it is not, [`dio::replay`] works out what the block layer does with it.
fn segments_aligned<I: Iter>(file: &IoFile, iter: &mut I) -> bool {
    let disk = &*file.disk;
    for segment in iter.segments() {
        if !disk.is_aligned(segment.addr | segment.len) {
            return false;
        }
        if segment.last {
            return true;
        }
    }
    // A walk that did not reach the end: let the replay look at it.
    false
}

/// Works out how the block layer would end the request of all of `iter` on `plan`'s path
/// (spanning `pages` pages as [`Shape::pages`] counts them), by taking and releasing its pages
/// as the block layer would take them; nothing is copied, and `iter` is left where it was.
fn replay<I: Iter>(file: &IoFile, config: Config, plan: &Plan, iter: &mut I, pages: usize) -> End {
    let disk = &*file.disk;
    let mut walk = Walk {
        iter: Rewind::new(iter),
        mode: mode(config),
        nowait: plan.nowait,
        counters: &disk.counters,
    };
    walk.iter.set_nofault(plan.nowait);
    dio::replay(plan, &mut walk, pages, disk.block_size)
}

/// The request's iterator as [`dio::replay`] walks it: pages are taken (with `FOLL_NOFAULT`
/// under `IOCB_NOWAIT`) and released at once, nothing is copied, and the iterator goes back to
/// where it was when the walk is dropped.
struct Walk<'a, 'i, I: Iter> {
    iter: Rewind<'i, I>,
    mode: Mode,
    nowait: bool,
    counters: &'a Counters,
}

impl<I: Iter> Source for Walk<'_, '_, I> {
    fn left(&self) -> usize {
        self.iter.len()
    }

    fn checked(&mut self) -> Extent {
        self.iter
            .segments()
            .next()
            .map_or(Extent { addr: 0, len: 0 }, |segment| Extent {
                addr: segment.addr,
                len: segment.len,
            })
    }

    fn extent(&mut self) -> Extent {
        let mut walk = self.iter.segments();
        let mut segment = walk.next();
        // Leading empty segments: the extraction takes from the first non-empty one.
        if segment.is_some_and(|s| s.len == 0 && !s.last) {
            segment = walk.next();
        }
        segment.map_or(Extent { addr: 0, len: 0 }, |segment| Extent {
            addr: segment.addr,
            len: segment.len,
        })
    }

    fn take(&mut self, max_len: usize, page: &mut dyn FnMut(PageKey)) -> Result<usize> {
        let mut done = 0;
        while done < max_len {
            self.counters.extraction(self.iter.kind());
            let mut slots = PageSlots::new();
            let batch =
                ExtractedPages::take(&mut *self.iter, &mut slots, max_len - done, self.mode);
            match batch {
                Ok(batch) => {
                    self.counters.taken(batch.retention(), batch.nr_pages());
                    batch
                        .read_segments()
                        .for_each(|(p, _)| page(PageKey::of(p)));
                    done += batch.len();
                    self.counters.released(batch.release());
                }
                Err(err) if done == 0 => {
                    return Err(if self.nowait && err == EFAULT {
                        EAGAIN
                    } else {
                        err
                    })
                }
                Err(_) => break,
            }
        }
        Ok(done)
    }

    fn back(&mut self, bytes: usize) {
        self.iter.rewind(bytes);
    }
}
