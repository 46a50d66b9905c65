// SPDX-License-Identifier: GPL-2.0

//! The engine: asynchronous requests (io_uring, libaio) that wait out a service time.
//!
//! An asynchronous `read_iter`/`write_iter` with nothing to wait for (no `latency_us`, and in
//! FIFO order no earlier request pending) is served in the submitter's context, as brd serves a
//! bio in `submit_bio()`, and answered with its byte count at once ([`super::transfer`]).
//! Otherwise it becomes an [`AsyncRequest`] that owns all of its pages ([`OwnedPages`], taken
//! before the call returns `-EIOCBQUEUED`) and waits in its file's [`FileQueue`] until its
//! deadline, the submission time plus the file's `latency_us`.
//!
//! Each file's queue has one high-resolution timer, armed for its earliest deadline, and one
//! work item on the module's workqueue ([`Engine`]). The timer only queues the work item (a
//! timer callback may not sleep, and releasing pages may); the work item, in process context,
//! completes every request whose deadline passed, in order: the device moves the data, the
//! pages are released (unpinned, dirtied if the device wrote into them), and the kiocb is
//! completed with `ki_complete()`. A work item never runs twice at once, so one file's
//! completions are one worker's work however many requests are in flight, and a FIFO request
//! waits for an earlier one by staying in the queue, not by blocking a worker.
//!
//! A file has at most `queue_depth` requests in flight, served inline or queued; a submitter
//! past it waits, or gets `EAGAIN` under `IOCB_NOWAIT`.
//!
//! Lifetimes: a request holds its file through the submitter (aio and io_uring keep a file
//! reference until completion), so the module cannot be unloaded while one is in flight. The
//! armed timer holds a reference to its queue ([`ArcHrTimerHandle`]), and so does a queued
//! work item; after the last `ki_complete()` the file may go at once, the work item then only
//! drops its own reference, and the module's exit waits for it in `destroy_workqueue()`.
//!
//! Overlapping DMA: a request queued while another of its file is in flight (queued, its pages
//! lent to the device) that covers a cache line of the same page, one of the two a device write
//! (`DMA_FROM_DEVICE`), is counted (`dma_overlaps`), and logged once per file with
//! `overlap_warn=1`: the device's writes land in completion order, which the caller does not
//! control. DMA-API debug would report such mappings only where it tracks cache lines (not on
//! x86). The check costs nothing when the file has nothing else in flight; otherwise one
//! lookup per page of the new request in the file's table of lent pages ([`InFlightPages`]),
//! and only when a page is shared are the requests in flight compared cache line by cache
//! line. Requests served inline (no service time) are never queued, and never checked.
//!
//! Lock order: [`FileQueue`]'s state is a leaf; it is never held while pages are taken, copied
//! or released, nor across `ki_complete()` (aio takes its irqsave `ctx_lock`, io_uring queues
//! task work).

use super::{
    dio::Order,
    inflight::InFlightPages,
    kiocb::PendingIocb,
    model::Config, //
};
use crate::{
    disk::{
        counters::Counters,
        data_path::DeviceIo,
        store::Alloc,
        Disk, //
    },
    glue::{
        shim,
        workqueue::{
            OwnedQueue,
            QueueRef, //
        },
    },
    pages::{
        extract::Mode,
        iter::Iter,
        owned::OwnedPages,
        view::{
            PageRef,
            ReadOnly,
            Span,
            Writable, //
        },
    },
};
use kernel::{
    impl_has_hr_timer,
    new_condvar,
    new_mutex,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        Arc,
        ArcBorrow,
        CondVar,
        Mutex, //
    },
    time::{
        hrtimer::{
            ArcHrTimerHandle,
            HrTimer,
            HrTimerCallback,
            HrTimerCallbackContext,
            HrTimerPointer,
            HrTimerRestart,
            RelativeMode, //
        },
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

/// The module's engine: its own workqueue, on which requests complete.
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
    /// Whether the device writes into the pages (`DMA_FROM_DEVICE`): a read.
    fn device_writes(&self) -> bool {
        matches!(self, Lent::Read(_))
    }

    /// The pages and the bytes of each the request covers, in order.
    fn spans(&self) -> impl Iterator<Item = (PageRef<'_>, Span)> + '_ {
        let (read, write) = match self {
            Lent::Read(pages) => (Some(pages.read_segments()), None),
            Lent::Write(pages) => (None, Some(pages.read_segments())),
        };
        Iterator::chain(read.into_iter().flatten(), write.into_iter().flatten())
    }

    /// Pages lent.
    fn nr_pages(&self) -> usize {
        match self {
            Lent::Read(pages) => pages.nr_pages(),
            Lent::Write(pages) => pages.nr_pages(),
        }
    }

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

/// One queued asynchronous request: its pages, where they go in the store, when it is due and
/// the kiocb to complete.
struct AsyncRequest {
    /// `None` for a request that moves nothing and completes with `error`.
    pages: Option<Lent>,
    /// The error to complete with after moving the pages (block/fops.c's multi-bio path),
    /// instead of the byte count.
    error: Option<Error>,
    iocb: PendingIocb,
    /// Store offset of the first byte.
    pos: usize,
    /// When its service time ends, as time since its queue's `epoch`.
    deadline: Delta,
}

impl AsyncRequest {
    /// Whether the device writes into the request's pages.
    fn device_writes(&self) -> bool {
        self.pages.as_ref().is_some_and(Lent::device_writes)
    }

    /// Moves the data and releases the pages (unpinned, dirty where written); returns the kiocb
    /// and the answer to complete it with. Process context.
    ///
    /// The pages go before the completion: the submitter may look at them, and listed pages
    /// are only lent until then. The caller gives the request's slot back before completing
    /// too: a submitter that reaped every completion has nothing in flight
    /// (`PINIO_IOC_SET_CONFIG` does not answer `EBUSY`).
    fn serve(self, disk: &Disk) -> (PendingIocb, Result<usize>) {
        let mut result = self
            .pages
            .map_or(Ok(0), |pages| pages.serve(disk, self.pos));
        // The multi-bio path's status: the bytes moved, the request failed.
        if let (Ok(_), Some(error)) = (result, self.error) {
            result = Err(error);
        }
        Counters::add(&disk.counters.async_completed, 1);
        (self.iocb, result)
    }
}

/// Where a request waits: by deadline, then submission, in as-completed order; by submission
/// only (no deadline in the key) in FIFO order, where the first is completed first, once its
/// own deadline passed. A file's order does not change while requests are in flight.
type Key = (Option<Delta>, u64);

/// Requests of one file in flight, and how they complete.
struct QueueState {
    /// Requests queued, served inline or holding a slot: at most the file's queue depth.
    in_flight: u32,
    /// Requests queued and not yet completed (in `pending`, or being completed).
    queued: u32,
    /// Sequence number of the next request queued.
    next_seq: u64,
    /// Whether the requests in flight complete in submission order.
    fifo: bool,
    /// The queued requests (see [`Key`]).
    pending: RBTree<Key, AsyncRequest>,
    /// The timer, while armed, and the deadline it is armed for.
    timer: Option<(ArcHrTimerHandle<FileQueue>, Delta)>,
    /// The pages the requests in `pending` lend.
    lent: InFlightPages,
    /// Whether this file logged an overlap already (`overlap_warn=1`).
    warned: bool,
}

/// Where a request queued overlaps one in flight: a page of both, the bytes of it the new one
/// covers, and where the other one is in the store.
struct Overlap {
    pfn: u64,
    offset: usize,
    len: usize,
    other_pos: usize,
}

/// The cache lines `span` covers in its page, first and last (DMA-API debug's unit).
fn lines(span: Span) -> (usize, usize) {
    let line = shim::PINIO_L1_CACHE_BYTES as usize;
    (
        span.offset / line,
        (span.offset + span.len.max(1) - 1) / line,
    )
}

impl QueueState {
    /// The first overlap of `new` with a request in `pending`, one of the two a device write.
    /// Nothing is compared when no request is pending, and the requests in flight only when a
    /// page of `new` is lent by one of them ([`InFlightPages::conflicts`]). `None` also if the
    /// comparison's table cannot be allocated with `flags`, or the table of lent pages could
    /// not grow (the overlap goes uncounted).
    fn overlap(&self, new: &AsyncRequest, flags: kernel::alloc::Flags) -> Option<Overlap> {
        let pages = new.pages.as_ref()?;
        let writes = pages.device_writes();
        if self.pending.is_empty()
            || !pages
                .spans()
                .any(|(page, _)| self.lent.conflicts(page.as_ptr() as usize, writes))
        {
            return None;
        }
        let candidates = |other: &&AsyncRequest| writes || other.device_writes();
        // The new request's cache lines, by page, for binary search.
        let mut mine = KVec::new();
        for (page, span) in pages.spans() {
            let (first, last) = lines(span);
            mine.push((page.as_ptr() as usize, first, last, span), flags)
                .ok()?;
        }
        mine.sort_unstable_by_key(|&(page, first, _, _)| (page, first));
        for other in self.pending.values().filter(candidates) {
            for (page, span) in other.pages.iter().flat_map(Lent::spans) {
                let key = page.as_ptr() as usize;
                let (first, last) = lines(span);
                let at = mine.partition_point(|&(p, _, _, _)| p < key);
                let hit = mine[at..]
                    .iter()
                    .take_while(|&&(p, _, _, _)| p == key)
                    .find(|&&(_, f, l, _)| f <= last && first <= l);
                if let Some(&(_, _, _, mine_span)) = hit {
                    return Some(Overlap {
                        // SAFETY: `page` is held by the queued request, borrowed here.
                        pfn: unsafe { shim::pinio_page_to_pfn(page.as_ptr()) } as u64,
                        offset: mine_span.offset,
                        len: mine_span.len,
                        other_pos: other.pos,
                    });
                }
            }
        }
        None
    }
}

/// The asynchronous requests of one open file (see the module documentation).
#[pin_data]
pub(crate) struct FileQueue {
    disk: Arc<Disk>,
    engine: EngineRef,
    /// Deadlines are times since this instant (`Instant` has no total order to key a tree by).
    epoch: Instant<Monotonic>,
    #[pin]
    state: Mutex<QueueState>,
    /// Signalled when a request completes (a slot is free).
    #[pin]
    changed: CondVar,
    /// Armed for the earliest deadline; queues `work`.
    #[pin]
    timer: HrTimer<FileQueue>,
    /// Completes the requests whose deadline passed.
    #[pin]
    work: Work<FileQueue>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for FileQueue {
        mode: RelativeMode<Monotonic>,
        field: self.timer
    }
}

impl_has_work! {
    impl HasWork<Self> for FileQueue { self.work }
}

impl HrTimerCallback for FileQueue {
    type Pointer<'a> = Arc<Self>;

    /// Hard interrupt context: only queues the completion work.
    fn run(this: ArcBorrow<'_, Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let engine = this.engine;
        // If the work is already queued, it sees this deadline too; the reference it gives
        // back is not the last one (the armed timer's handle holds another), so dropping it
        // here frees nothing.
        let _ = engine.0.queue().enqueue(Arc::<Self>::from(this));
        HrTimerRestart::NoRestart
    }
}

impl WorkItem for FileQueue {
    type Pointer = Arc<Self>;

    fn run(this: Arc<Self>) {
        this.complete_due();
    }
}

impl FileQueue {
    /// An empty queue for a file of `disk`, completing on `engine`.
    pub(crate) fn new(disk: Arc<Disk>, engine: EngineRef) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                disk,
                engine,
                epoch: Instant::now(),
                state <- new_mutex!(
                    QueueState {
                        in_flight: 0,
                        queued: 0,
                        next_seq: 0,
                        fifo: false,
                        pending: RBTree::new(),
                        timer: None,
                        lent: InFlightPages::new(),
                        warned: false,
                    },
                    "pinio::FileQueue::state"
                ),
                changed <- new_condvar!("pinio::FileQueue::changed"),
                timer <- HrTimer::new(),
                work <- new_work!("pinio::FileQueue::work"),
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
        }
        Ok(())
    }

    /// Takes a slot for one request, waiting while `depth` are in flight: `EAGAIN` instead of
    /// waiting if `nowait`, `EINTR` if a signal arrives while waiting.
    ///
    /// The slot notes whether, in FIFO order, an earlier request is still queued (the new one
    /// must then complete after it, so it cannot be served inline: [`Slot::inline`]).
    pub(crate) fn reserve(self: &Arc<Self>, depth: u32, nowait: bool) -> Result<Slot> {
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
        let behind = state.fifo && state.queued != 0;
        Ok(Slot {
            queue: self.clone(),
            behind,
            used: false,
        })
    }

    /// Gives a slot back, of a request that was `queued` or not, and wakes a waiting
    /// submitter.
    fn release_slot(&self, queued: bool) {
        let mut state = self.state.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if queued {
            state.queued = state.queued.saturating_sub(1);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Makes sure the completion work runs by `deadline`: at once if it is due, else by
    /// (re)arming the timer unless it is armed for an earlier time. Called with the state lock.
    fn schedule(self: &Arc<Self>, state: &mut QueueState, deadline: Delta) {
        let left = deadline - self.epoch.elapsed();
        if left <= Delta::ZERO {
            let _ = self.engine.0.queue().enqueue(self.clone());
            return;
        }
        if state.timer.as_ref().is_some_and(|(_, at)| *at <= deadline) {
            return;
        }
        // Cancel before starting again: a dropped handle cancels whatever its timer is armed
        // for. The callback takes no lock, so waiting for a running one here cannot deadlock.
        drop(state.timer.take());
        state.timer = Some((self.clone().start(left), deadline));
    }

    /// The completion work: completes every queued request whose deadline passed, in key
    /// order, then arms the timer for the next one.
    fn complete_due(self: &Arc<Self>) {
        let mut state = self.state.lock();
        // The timer fired (or another arming is about to be replaced): start afresh.
        drop(state.timer.take());
        while let Some(first) = state.pending.cursor_front() {
            let deadline = first.current().1.deadline;
            if deadline > self.epoch.elapsed() {
                self.schedule(&mut state, deadline);
                break;
            }
            let Some(cursor) = state.pending.cursor_front_mut() else {
                break;
            };
            let (_, node) = cursor.remove_current();
            let (_, request) = node.to_key_value();
            if let Some(pages) = &request.pages {
                let writes = pages.device_writes();
                for (page, _) in pages.spans() {
                    state.lent.remove(page.as_ptr() as usize, writes);
                }
            }
            if state.pending.is_empty() {
                state.lent.reset();
            }
            drop(state);
            let (iocb, result) = request.serve(&self.disk);
            self.release_slot(true);
            iocb.complete(result);
            state = self.state.lock();
        }
    }
}

/// A slot in a [`FileQueue`], given back when dropped unless a request was queued in it.
pub(crate) struct Slot {
    queue: Arc<FileQueue>,
    /// A FIFO request queued before it has not completed yet.
    behind: bool,
    /// A request was queued in it: it gives the slot back when it completes.
    used: bool,
}

impl Slot {
    /// Whether a request with a service time of `latency_us` may be served in the
    /// submitter's context, in this slot: nothing to wait out, nothing to wait for.
    pub(crate) fn inline(&self, latency_us: u32) -> bool {
        latency_us == 0 && !self.behind
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.used {
            self.queue.release_slot(false);
        }
    }
}

/// Queues an asynchronous transfer of `iter` (which ends inside the store) at store offset
/// `pos` for `iocb` in `slot` of `queue`, as its file configured it and as `order` says
/// (decided by [`super::transfer`] with [`super::dio`]): take and move `order.len` bytes, then
/// complete with `order.error` or the byte count.
///
/// On success the request owns `iocb` and the pages it moves, and the iterator has advanced
/// over them; the caller returns `-EIOCBQUEUED`. Errors (the request was not queued, the caller
/// returns them): `EAGAIN` under `IOCB_NOWAIT` when a page is not present (nothing is faulted
/// in), `EFAULT` (or the extraction's error) if no byte could be taken on the one-bio path,
/// `ENOMEM`. If fewer bytes than ordered can be taken, [`Order::short`] decides: on the one-bio
/// path a short request, on the multi-bio path one that completes with `EIO` after moving them.
pub(crate) fn submit<I: Iter>(
    slot: Slot,
    config: Config,
    iocb: PendingIocb,
    pos: usize,
    iter: &mut I,
    order: Order,
) -> Result
where
    I::Access: Lend,
{
    let queue = &slot.queue;
    let disk = &queue.disk;
    let nowait = order.plan.nowait;
    let mode = if config.get_pages() {
        Mode::Get
    } else {
        Mode::Extract
    };
    // The queue's node first: a failure here leaves nothing taken (the kiocb is not completed,
    // the caller returns the error instead).
    let flags = if nowait { GFP_NOWAIT } else { GFP_KERNEL };
    let node = RBTreeNodeReservation::new(flags)?;
    let submitted = queue.epoch.elapsed();
    let (pages, order) = if order.len == 0 {
        (None, order)
    } else {
        let kind = iter.kind();
        // SAFETY: Listed kernel pages (io_uring's registered buffers) stay valid until the
        // request is completed (`ki_complete()`), and `AsyncRequest::complete` releases the
        // pages before it completes.
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
    let deadline = submitted + Delta::from_micros(i64::from(config.latency_us));
    let request = AsyncRequest {
        pages,
        error: order.error,
        iocb,
        pos,
        deadline,
    };
    let mut state = queue.state.lock();
    let overlap = state.overlap(&request, flags);
    let warn = overlap.is_some() && disk.experiments.overlap_warn && !state.warned;
    state.warned |= warn;
    if let Some(pages) = &request.pages {
        let writes = pages.device_writes();
        state.lent.reserve(pages.nr_pages(), flags);
        for (page, _) in pages.spans() {
            state.lent.add(page.as_ptr() as usize, writes);
        }
    }
    let seq = state.next_seq;
    state.next_seq += 1;
    let key = (if state.fifo { None } else { Some(deadline) }, seq);
    state.pending.insert(node.into_node(key, request));
    state.queued += 1;
    // The earliest deadline decides when the work runs; in FIFO order the first pending
    // request's (its own, if it is the first).
    let next = state
        .pending
        .cursor_front()
        .map_or(deadline, |c| c.current().1.deadline);
    queue.schedule(&mut state, next);
    drop(state);
    Counters::add(&disk.counters.async_queued, 1);
    if let Some(o) = overlap {
        Counters::add(&disk.counters.dma_overlaps, 1);
        if warn {
            pr_warn!(
                "overlapping DMA (thread {}): a request for store offset {} covers bytes {}..{} of \
                 pfn {:#x}, which a request in flight for store offset {} covers too, one of them \
                 a device write; the bytes the caller ends up with depend on the completion order \
                 (logged once per open file)\n",
                // SAFETY: Reads the current task's pid in its own namespace.
                unsafe { shim::pinio_current_tid() },
                pos,
                o.offset,
                o.offset + o.len,
                o.pfn,
                o.other_pos
            );
        }
    }
    // The slot now belongs to the queued request, given back when it completes.
    let mut slot = slot;
    slot.used = true;
    Ok(())
}
