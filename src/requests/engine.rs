// SPDX-License-Identifier: GPL-2.0

//! The DMA engine: asynchronous requests (io_uring, libaio) that complete later.
//!
//! An asynchronous `read_iter`/`write_iter` becomes an [`AsyncRequest`] that owns all of its pages
//! ([`OwnedPages`], taken before the call returns `-EIOCBQUEUED`) and is queued on the module's
//! own workqueue ([`Engine`]). There, in process context, the request waits out the file's
//! service time (`latency_us`), the device moves the data, the pages are released (unpinned,
//! dirtied if the device wrote into them) and the kiocb is completed with `ki_complete()`.
//!
//! Each open file has a [`FileQueue`]: at most `queue_depth` requests in flight (a submitter
//! past it waits, or gets `EAGAIN` under `IOCB_NOWAIT`), completed as their latency runs out
//! or, with `PINIO_CONFIG_FIFO`, in submission order.
//!
//! A request waits out its latency in its worker (`fsleep()`), not on a timer: requests then
//! start in submission order, so a FIFO request only ever waits for earlier requests that are
//! already running, and the wait cannot deadlock however many requests the workqueue's
//! `max_active` (`WQ_DFL_ACTIVE`, 1024) lets run at once. The price is one sleeping worker per
//! request in flight, bounded by the files' queue depths.
//!
//! Lifetimes: a request holds its file through the submitter (aio and io_uring keep a file
//! reference until completion), so the module cannot be unloaded while one is in flight. After
//! `ki_complete()` the file, and with it the module reference, may go at once; the work item
//! then only drops its own `Arc`s, and the module's exit waits for it in `destroy_workqueue()`.
//!
//! Lock order: [`FileQueue::state`] is a leaf; no other pinio lock is taken under it, and it is
//! never held while pages are taken, copied or released. `ki_complete()` is called under it, so
//! that FIFO completions are ordered (aio takes its irqsave `ctx_lock`, io_uring queues task
//! work: neither takes a pinio lock).

use super::{dio::Order, kiocb::PendingIocb, model::Config};
use crate::{
    disk::{
        counters::Counters,
        data_path::DeviceIo,
        store::Alloc,
        Disk, //
    },
    glue::workqueue::{
        OwnedQueue,
        QueueRef, //
    },
    pages::{
        iter::Iter,
        owned::OwnedPages,
        take::Mode,
        view::{
            ReadOnly,
            Writable, //
        },
    },
};
use kernel::{
    new_condvar,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        CondVar,
        Mutex, //
    },
    time::{
        delay::fsleep,
        Delta,
        Instant,
        Monotonic, //
    },
    workqueue::{
        impl_has_work,
        new_work,
        Work,
        WorkItem, //
    }, //
};

/// The module's engine: its own workqueue, on which every request completes.
pub(crate) struct Engine {
    queue: OwnedQueue,
}

impl Engine {
    /// Allocates the engine's workqueue, `pinio` ([`OwnedQueue::new`]); `ENOMEM` if it cannot.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            queue: OwnedQueue::new(c"pinio")?,
        })
    }

    /// A handle to queue requests on.
    ///
    /// # Safety
    ///
    /// The handle must not be used once the engine is dropped: hand it only to what goes
    /// before (the module's device node, whose open files submit requests).
    pub(crate) unsafe fn handle(&self) -> EngineRef {
        // SAFETY: Guaranteed by the caller.
        EngineRef(unsafe { self.queue.handle() })
    }
}

/// Where open files queue their requests: the module's [`Engine`], valid while any file of the
/// device is open (see [`Engine::handle`]).
#[derive(Clone, Copy)]
pub(crate) struct EngineRef(QueueRef);

/// Requests of one file in flight, and their completion order.
struct QueueState {
    /// Requests queued and not yet completed, plus submitters holding a slot.
    in_flight: u32,
    /// Sequence number of the next request queued.
    next_seq: u64,
    /// FIFO mode: the sequence number of the next request to complete.
    completed_seq: u64,
    /// Whether the requests in flight complete in submission order.
    fifo: bool,
}

/// The queue of one open file (see the module documentation).
#[pin_data]
pub(crate) struct FileQueue {
    #[pin]
    state: Mutex<QueueState>,
    /// Signalled when a request completes (a slot is free, the FIFO head moved).
    #[pin]
    changed: CondVar,
}

impl FileQueue {
    /// An empty queue.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                state <- new_mutex!(
                    QueueState {
                        in_flight: 0,
                        next_seq: 0,
                        completed_seq: 0,
                        fifo: false,
                    },
                    "pinio::FileQueue::state"
                ),
                changed <- new_condvar!("pinio::FileQueue::changed"),
            }),
            GFP_KERNEL,
        )
    }

    /// Switches the completion order for the next requests; `EBUSY` if requests are in flight
    /// and the order would change.
    pub(crate) fn set_fifo(&self, fifo: bool) -> Result {
        let mut state = self.state.lock();
        if state.fifo != fifo {
            if state.in_flight != 0 {
                return Err(EBUSY);
            }
            state.fifo = fifo;
            state.completed_seq = state.next_seq;
        }
        Ok(())
    }

    /// Takes a slot for one request, waiting while `depth` are in flight: `EAGAIN` instead of
    /// waiting if `nowait`, `EINTR` if a signal arrives while waiting.
    fn reserve(self: &Arc<Self>, depth: u32, nowait: bool) -> Result<Slot> {
        let mut state = self.state.lock();
        while state.in_flight >= depth {
            if nowait {
                return Err(EAGAIN);
            }
            if self.changed.wait_interruptible(&mut state) {
                return Err(EINTR);
            }
        }
        state.in_flight += 1;
        Ok(Slot {
            queue: self.clone(),
            used: false,
        })
    }

    /// Gives a slot back and wakes a waiting submitter.
    fn release_slot(&self) {
        let mut state = self.state.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.changed.notify_all();
    }
}

/// A slot in a [`FileQueue`], given back when dropped unless a request was queued in it.
struct Slot {
    queue: Arc<FileQueue>,
    used: bool,
}

impl Slot {
    /// The sequence number of the request queued in this slot.
    fn queue_request(mut self) -> u64 {
        self.used = true;
        let mut state = self.queue.state.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        seq
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.used {
            self.queue.release_slot();
        }
    }
}

/// The pages of an asynchronous request, with the device's access to them.
pub(crate) enum Lent {
    /// A read: the device writes into them.
    Read(OwnedPages<Writable>),
    /// A write: the device reads them.
    Write(OwnedPages<ReadOnly>),
}

/// Access types whose pages a request can lend to the engine.
pub(crate) trait Lend: DeviceIo + Sized {
    /// `pages` as the engine keeps them.
    fn lend(pages: OwnedPages<Self>) -> Lent;
}

impl Lend for Writable {
    fn lend(pages: OwnedPages<Self>) -> Lent {
        Lent::Read(pages)
    }
}

impl Lend for ReadOnly {
    fn lend(pages: OwnedPages<Self>) -> Lent {
        Lent::Write(pages)
    }
}

impl Lent {
    /// The device moves the bytes between the store at `pos` and the pages, then the pages are
    /// released (unpinned, dirtied if written); returns the bytes moved. Process context.
    fn serve(self, disk: &Disk, pos: usize) -> Result<usize> {
        let counters = &disk.counters;
        let (result, retention, released) = match self {
            Lent::Read(mut pages) => {
                let moved = Writable::dma_io(disk, pos, pages.segments(), Alloc::MaySleep);
                (moved, pages.retention(), pages.release())
            }
            Lent::Write(mut pages) => {
                let moved = ReadOnly::dma_io(disk, pos, pages.segments(), Alloc::MaySleep);
                (moved, pages.retention(), pages.release())
            }
        };
        if let Ok(moved) = result {
            counters.moved(retention, moved);
        }
        counters.released(released);
        result
    }
}

/// One asynchronous request: its pages, where they go in the store, and the kiocb to complete.
#[pin_data]
pub(crate) struct AsyncRequest {
    /// `None` for a request that moves nothing and completes with `error`.
    pages: Option<Lent>,
    /// The error to complete with after moving the pages (block/fops.c's multi-bio path),
    /// instead of the byte count.
    error: Option<Error>,
    iocb: Option<PendingIocb>,
    disk: Arc<Disk>,
    queue: Arc<FileQueue>,
    /// Store offset of the first byte.
    pos: usize,
    seq: u64,
    submitted: Instant<Monotonic>,
    latency_us: u32,
    #[pin]
    work: Work<AsyncRequest>,
}

impl_has_work! {
    impl HasWork<Self> for AsyncRequest { self.work }
}

/// Queues an asynchronous transfer of `iter` (which ends inside the store) at store offset
/// `pos` for `iocb` on `device`'s engine, as `queue`'s file configured it and as `order` says
/// (decided by [`super::transfer`] with [`super::dio`]): take and move `order.len` bytes, then
/// complete with `order.error` or the byte count.
///
/// On success the request owns `iocb` and the pages it moves, and the iterator has advanced
/// over them; the caller returns `-EIOCBQUEUED`. Errors (the request was not queued, the caller
/// returns them): `EAGAIN` under `IOCB_NOWAIT` when the queue is full or a page is not present
/// (nothing is faulted in), `EINTR` if a signal arrived while waiting for a slot, `EFAULT` (or
/// the extraction's error) if no byte could be taken on the one-bio path, `ENOMEM`. If fewer
/// bytes than ordered can be taken, [`Order::short`] decides: on the one-bio path a short
/// request, on the multi-bio path one that completes with `EIO` after moving them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn submit<I: Iter>(
    disk: &Arc<Disk>,
    engine: Option<EngineRef>,
    queue: &Arc<FileQueue>,
    config: Config,
    iocb: PendingIocb,
    pos: usize,
    iter: &mut I,
    order: Order,
) -> Result
where
    I::Access: Lend,
{
    let Some(engine) = engine else {
        return Err(EOPNOTSUPP);
    };
    let nowait = order.plan.nowait;
    let slot = queue.reserve(config.queue_depth, nowait)?;
    let mode = if config.get_pages() {
        Mode::Get
    } else {
        Mode::Extract
    };
    let flags = if nowait { GFP_NOWAIT } else { GFP_KERNEL };
    let mut request = KBox::pin_init(
        pin_init!(AsyncRequest {
            pages: None,
            error: None,
            iocb: None,
            disk: disk.clone(),
            queue: queue.clone(),
            pos,
            seq: 0,
            submitted: Instant::now(),
            latency_us: config.latency_us,
            work <- new_work!("pinio::AsyncRequest::work"),
        }),
        flags,
    )?;
    let (pages, order) = if order.len == 0 {
        (None, order)
    } else {
        let kind = iter.kind();
        // SAFETY: Listed kernel pages (io_uring's registered buffers) stay valid until the
        // request is completed (`ki_complete()`), and `AsyncRequest::run` releases the pages
        // before it completes.
        let taken = unsafe { OwnedPages::take_all(iter, order.len, mode, nowait) };
        match &taken {
            Ok(pages) => {
                disk.counters.extractions(kind, pages.extractions());
                disk.counters.taken(pages.retention(), pages.nr_pages());
            }
            Err(_) => disk.counters.extraction(kind),
        }
        match taken {
            Ok(pages) if pages.len() < order.len => {
                let stopped_by = pages.stopped_by().unwrap_or(EFAULT);
                match order.short(pages.len(), stopped_by) {
                    Ok(order) => (Some(I::Access::lend(pages)), order),
                    Err(err) => {
                        disk.counters.released(pages.release());
                        return Err(err);
                    }
                }
            }
            Ok(pages) => (Some(I::Access::lend(pages)), order),
            Err(err) if err == EAGAIN || err == ENOMEM => return Err(err),
            Err(err) => (None, order.short(0, err)?),
        }
    };
    let me = request.as_mut().project();
    *me.pages = pages;
    *me.error = order.error;
    *me.iocb = Some(iocb);
    *me.seq = slot.queue_request();
    Counters::add(&disk.counters.async_queued, 1);
    engine.0.queue().enqueue(request);
    Ok(())
}

impl WorkItem for AsyncRequest {
    type Pointer = Pin<KBox<AsyncRequest>>;

    fn run(mut this: Pin<KBox<AsyncRequest>>) {
        let left_us = i64::from(this.latency_us) - this.submitted.elapsed().as_micros_ceil();
        if left_us > 0 {
            fsleep(Delta::from_micros(left_us));
        }
        let disk = this.disk.clone();
        let queue = this.queue.clone();
        let (pos, seq) = (this.pos, this.seq);
        let me = this.as_mut().project();
        let error = *me.error;
        let Some(iocb) = me.iocb.take() else {
            return;
        };
        // Unpin (dirty) before completing: the submitter may look at the pages, and listed
        // pages are only lent until completion.
        let mut result = me
            .pages
            .take()
            .map_or(Ok(0), |pages| pages.serve(&disk, pos));
        // The multi-bio path's status: the bytes moved, the request failed.
        if let (Ok(_), Some(error)) = (result, error) {
            result = Err(error);
        }

        let mut state = queue.state.lock();
        if state.fifo {
            while state.completed_seq != seq {
                queue.changed.wait(&mut state);
            }
            state.completed_seq = seq + 1;
        }
        Counters::add(&disk.counters.async_completed, 1);
        iocb.complete(result);
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        queue.changed.notify_all();
    }
}
