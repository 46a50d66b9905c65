// SPDX-License-Identifier: GPL-2.0

//! The DMA engine: asynchronous requests (io_uring, libaio) that complete later.
//!
//! An asynchronous `read_iter`/`write_iter` becomes a [`Request`] that owns all of its pages
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

use crate::{
    copy,
    counters::Counters,
    device::Device,
    dio::Order,
    extract::{
        Mode,
        OwnedPages,
        Retention, //
    },
    iter::Iter,
    kiocb::PendingIocb,
    open_file::Config,
    shim,
    store::Alloc, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
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
        self,
        impl_has_work,
        new_work,
        Work,
        WorkItem, //
    }, //
};

/// The module's workqueue, on which every request completes.
///
/// # Invariants
///
/// `wq` was returned by `alloc_workqueue()` and is destroyed only by [`Drop`].
pub(crate) struct Engine {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue may be used and destroyed from any thread.
unsafe impl Send for Engine {}
// SAFETY: Queueing work is thread-safe.
unsafe impl Sync for Engine {}

impl Engine {
    /// Allocates the engine's per-CPU workqueue, `pinio` (`alloc_workqueue(WQ_PERCPU)`: a
    /// request runs on the CPU that queued it, without a cross-CPU wakeup); `ENOMEM` if it
    /// cannot.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: The name is a NUL-terminated static string; this may sleep (module init).
        let wq = unsafe { shim::pinio_alloc_workqueue(c"pinio".as_char_ptr()) };
        // INVARIANT: Just allocated; destroyed only by `Drop`.
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
        })
    }

    /// A handle to queue requests on, valid while the engine exists.
    pub(crate) fn handle(&self) -> EngineRef {
        // INVARIANT: The caller (module init) stores the handle only in the `Device`, which
        // queues requests only from file operations; the module (and so this engine) stays
        // loaded while a file is open, and no file is open once its exit drops the engine.
        EngineRef { wq: self.wq }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `wq` is a live workqueue (type invariant) destroyed exactly once, here, in
        // process context (module exit). `destroy_workqueue()` first drains it: every queued or
        // running request finishes (and so its module text stays) before the module goes.
        unsafe { bindings::destroy_workqueue(self.wq.as_ptr()) };
    }
}

/// Where a [`Device`] queues its requests: the module's [`Engine`].
///
/// # Invariants
///
/// `wq` is a live workqueue whenever a file of the device can submit a request (see
/// [`Engine::handle`]).
#[derive(Clone, Copy)]
pub(crate) struct EngineRef {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue may be used from any thread.
unsafe impl Send for EngineRef {}
// SAFETY: As above.
unsafe impl Sync for EngineRef {}

impl EngineRef {
    fn queue(&self) -> &workqueue::Queue {
        // SAFETY: `wq` is live while a file can submit (type invariant), which covers this
        // borrow: only submissions from file operations call it.
        unsafe { workqueue::Queue::from_raw(self.wq.as_ptr()) }
    }
}

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

/// One asynchronous request: its pages, where they go in the store, and the kiocb to complete.
#[pin_data]
pub(crate) struct Request {
    /// `None` for a request that moves nothing and completes with `error`.
    pages: Option<OwnedPages>,
    /// The error to complete with after moving the pages (block/fops.c's multi-bio path),
    /// instead of the byte count.
    error: Option<Error>,
    iocb: Option<PendingIocb>,
    device: Arc<Device>,
    queue: Arc<FileQueue>,
    /// Store offset of the first byte.
    pos: usize,
    seq: u64,
    submitted: Instant<Monotonic>,
    latency_us: u32,
    #[pin]
    work: Work<Request>,
}

impl_has_work! {
    impl HasWork<Self> for Request { self.work }
}

/// Queues an asynchronous transfer of `iter` (which ends inside the store) at store offset
/// `pos` for `iocb` on `device`'s engine, as `queue`'s file configured it and as `order` says
/// (decided by [`crate::transfer`] with [`crate::dio`]): take and move `order.len` bytes, then
/// complete with `order.error` or the byte count.
///
/// On success the request owns `iocb` and the pages it moves, and the iterator has advanced
/// over them; the caller returns `-EIOCBQUEUED`. Errors (the request was not queued, the caller
/// returns them): `EAGAIN` under `IOCB_NOWAIT` when the queue is full or a page is not present
/// (nothing is faulted in), `EINTR` if a signal arrived while waiting for a slot, `EFAULT` (or
/// the extraction's error) if no byte could be taken on the one-bio path, `ENOMEM`. If fewer
/// bytes than ordered can be taken, [`Order::short`] decides: on the one-bio path a short
/// request, on the multi-bio path one that completes with `EIO` after moving them.
pub(crate) fn submit<I: Iter>(
    device: &Arc<Device>,
    queue: &Arc<FileQueue>,
    config: Config,
    iocb: PendingIocb,
    pos: usize,
    iter: &mut I,
    order: Order,
) -> Result {
    let Some(engine) = device.engine else {
        return Err(crate::compat::eopnotsupp());
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
        pin_init!(Request {
            pages: None,
            error: None,
            iocb: None,
            device: device.clone(),
            queue: queue.clone(),
            pos,
            seq: 0,
            submitted: Instant::now(),
            latency_us: config.latency_us,
            work <- new_work!("pinio::Request::work"),
        }),
        flags,
    )?;
    let (pages, order) = if order.len == 0 {
        (None, order)
    } else {
        // SAFETY: Listed kernel pages (io_uring's registered buffers) stay valid until the
        // request is completed (`ki_complete()`), and `Request::run` releases the pages before
        // it completes.
        let taken =
            unsafe { OwnedPages::take_all(iter, order.len, mode, nowait, &device.counters) };
        match taken {
            Ok(pages) if pages.len() < order.len => {
                let stopped_by = pages.stopped_by().unwrap_or(EFAULT);
                match order.short(pages.len(), stopped_by) {
                    Ok(order) => (Some(pages), order),
                    Err(err) => {
                        pages.release(&device.counters);
                        return Err(err);
                    }
                }
            }
            Ok(pages) => (Some(pages), order),
            Err(err) if err == EAGAIN || err == ENOMEM => return Err(err),
            Err(err) => (None, order.short(0, err)?),
        }
    };
    let me = request.as_mut().project();
    *me.pages = pages;
    *me.error = order.error;
    *me.iocb = Some(iocb);
    *me.seq = slot.queue_request();
    Counters::add(&device.counters.async_queued, 1);
    engine.queue().enqueue(request);
    Ok(())
}

impl WorkItem for Request {
    type Pointer = Pin<KBox<Request>>;

    fn run(mut this: Pin<KBox<Request>>) {
        let left_us = i64::from(this.latency_us) - this.submitted.elapsed().as_micros_ceil();
        if left_us > 0 {
            fsleep(Delta::from_micros(left_us));
        }
        let device = this.device.clone();
        let queue = this.queue.clone();
        let (pos, seq) = (this.pos, this.seq);
        let me = this.as_mut().project();
        let error = *me.error;
        let Some(iocb) = me.iocb.take() else {
            return;
        };
        let mut result = Ok(0);
        if let Some(mut pages) = me.pages.take() {
            result = if pages.is_writable() {
                pages
                    .segments_mut()
                    .and_then(|segments| copy::device_writes(&device, pos, segments))
            } else {
                copy::device_reads(&device, pos, pages.segments(), Alloc::MaySleep)
            };
            if let Ok(moved) = result {
                let bytes = match pages.retention() {
                    Retention::Pinned => &device.counters.bytes_pinned,
                    Retention::Listed => &device.counters.bytes_listed,
                    Retention::Referenced => &device.counters.bytes_got,
                };
                Counters::add(bytes, moved);
            }
            // Unpin (dirty) before completing: the submitter may look at the pages, and
            // listed pages are only lent until completion.
            pages.release(&device.counters);
        }
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
        Counters::add(&device.counters.async_completed, 1);
        iocb.complete(result);
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        queue.changed.notify_all();
    }
}
