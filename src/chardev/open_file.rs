// SPDX-License-Identifier: GPL-2.0

//! The state of one open file of `/dev/pinio`.
//!
//! # Locks, in the order they nest
//!
//! 1. [`OpenFile::pins`], a mutex (lockdep class `pinio::OpenFile::pins`): the file's handle
//!    table. Held by `PINIO_IOC_PIN` only to insert a range, by `UNPIN`, `QUERY`, `DMA`
//!    (across the copy) and by the release of every pin on the last close. Never held across
//!    `pin_user_pages_fast()`/`get_user_pages_fast()`, which fault pages in (`mmap_lock`, page
//!    I/O) and may run long: `PIN` takes the pages first, with the tree node and the folio
//!    list allocated, and the handle pool grows with the lock dropped.
//! 2. Under it, the kernel's own: the folio lock, taken by `unpin_user_pages_dirty_lock()`
//!    when a release dirties pages; `mm->pinned_vm` updates (atomic); the allocations of
//!    a long-term charge's records (`GFP_KERNEL`) and of store pages `PINIO_IOC_DMA` writes
//!    first (`GFP_NOIO`), which may reclaim but take no lock of pinio.
//!
//! The device model's spinlock ([`IoFile`]) is held only to copy the model in or out, and the
//! engine's queue lock ([`crate::requests::engine`]) is taken under neither: both are leaves.

use crate::{
    disk::{
        counters::Counters,
        Disk, //
    },
    glue::{
        shim,
        uapi, //
    },
    pins::{
        table::{
            distinct_folios,
            Held,
            PinTable, //
        },
        why::{
            Failure,
            Why, //
        },
    },
    requests::{
        engine::EngineRef,
        transfer::IoFile, //
    },
};
use kernel::{
    mm::Mm,
    new_mutex,
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    }, //
};

/// One open file: its requests' side (the device, the device model, the queue) and its pins.
///
/// Dropping it (on the file's release, in whatever process) releases every pin it holds.
#[pin_data(PinnedDrop)]
pub(crate) struct OpenFile {
    /// The device, the device model and the asynchronous requests of this file.
    #[pin]
    pub(crate) io: IoFile,
    /// Ranges held by `PINIO_IOC_PIN`: a lock of this file, never of the device (see the lock
    /// order above).
    #[pin]
    pins: Mutex<PinTable>,
}

#[pinned_drop]
impl PinnedDrop for OpenFile {
    fn drop(self: Pin<&mut Self>) {
        // The last close: release every pin still held, counting it like an unpin.
        self.pins.lock().release_all(&self.io.disk);
    }
}

impl OpenFile {
    /// A new open file of `disk`, queueing its asynchronous requests on `engine` (none: they
    /// are served synchronously). `ENOMEM` if it cannot be allocated.
    pub(crate) fn new(disk: Arc<Disk>, engine: Option<EngineRef>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(Self {
                io <- IoFile::new(disk, engine),
                pins <- new_mutex!(PinTable::new(), "pinio::OpenFile::pins"),
            }),
            GFP_KERNEL,
        )
    }

    /// The device behind the file.
    pub(crate) fn disk(&self) -> &Disk {
        &self.io.disk
    }

    /// `PINIO_IOC_PIN`: pins (or gets) a range of the calling process and gives it a handle;
    /// with `PINIO_PIN_BENCH`, releases it at once instead ([`OpenFile::bench`]).
    ///
    /// Errors, with nothing left held: `EINVAL` for a bad argument
    /// ([`PinTable::validate`]); `ENOMEM` past the per-file cap or `RLIMIT_MEMLOCK`, or when
    /// memory for the page array, the table or the charge cannot be allocated; `EFAULT` (or
    /// the pin call's own error, e.g. `EFAULT`, `ENOMEM`, `EINTR`) if not all pages could be
    /// taken; `ENOSPC` if the file has 2^31 - 1 handles. Each failure is explained for
    /// `PINIO_IOC_WHY` before the call returns ([`Why::explain`]).
    pub(crate) fn pin(&self, arg: &mut uapi::pinio_pin) -> Result {
        self.try_pin(arg).map_err(|failure| {
            let seq = self.pins.lock().count_failure();
            let why = Why::explain(arg, failure);
            let error = why.error();
            self.pins.lock().failed(seq, why);
            error
        })
    }

    fn try_pin(&self, arg: &mut uapi::pinio_pin) -> Result<(), Failure> {
        let (addr, nr_pages, write, options) = PinTable::validate(arg).map_err(Failure::Invalid)?;
        // An output only (`PINIO_PIN_BENCH`): whatever came in goes back as 0 otherwise.
        arg.unpin_ns = 0;
        self.pins.lock().check_room(self.disk(), nr_pages)?;
        // Pinning can fault and sleep for long: not under the table lock.
        let (held, elapsed) =
            Held::take(addr, nr_pages, arg.pages_per_call as usize, write, options).map_err(
                |error| Failure::Take {
                    addr,
                    write,
                    options,
                    error,
                },
            )?;
        arg.pin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        if arg.flags & uapi::PINIO_PIN_BENCH != 0 {
            self.bench(arg, held);
            return Ok(());
        }
        // What the table will need, allocated before its lock too.
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let charge = if options.longterm {
            let mm = kernel::current!().mm().map(|mm| ARef::<Mm>::from(&**mm));
            Some((mm.ok_or(Failure::Invalid(EINVAL))?, distinct_folios(&held)?))
        } else {
            None
        };
        let mut pins = self.pins.lock();
        while let Some(request) = pins.handles_request().map_err(Failure::Invalid)? {
            drop(pins);
            let resizer = request.realloc(GFP_KERNEL)?;
            pins = self.pins.lock();
            pins.grow_handles(resizer);
        }
        pins.insert(self.disk(), arg, held, charge, node)
    }

    /// `PINIO_PIN_BENCH`: releases the pages just taken, as gup_test's `PIN_FAST_BENCHMARK`
    /// does in the same ioctl: first an untimed walk over every page (gup_test's
    /// `verify_dma_pinned()`, which leaves the pages hot for the release), then the timed
    /// release. No handle, no charge; counted like a pin and an unpin.
    fn bench(&self, arg: &mut uapi::pinio_pin, mut held: Held) {
        let nr = held.len();
        let mut pinned = 0usize;
        for page in held.pages() {
            // SAFETY: The page is held (a pin or a reference) while `held` is borrowed;
            // `page_folio()` only computes and `folio_maybe_dma_pinned()` only reads counters.
            pinned += usize::from(unsafe {
                shim::pinio_folio_maybe_dma_pinned(shim::pinio_page_folio(page.as_ptr()))
            });
        }
        // Kept from being optimised away: what gup_test checks, its own result unused.
        core::hint::black_box(pinned);
        let elapsed = held.release(false);
        arg.unpin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        arg.handle = 0;
        arg.nr_pages = nr as u64;
        arg.charged_pages = 0;
        let counters = &self.disk().counters;
        Counters::add(&counters.ioctl_pins, 1);
        Counters::add(&counters.ioctl_pages_held, nr);
        Counters::add(&counters.ioctl_unpins, 1);
        Counters::add(&counters.ioctl_pages_released, nr);
    }

    /// `PINIO_IOC_WHY`: the explanation of the file's last failed pin (copied out while the
    /// table is locked, so that it is one failure's).
    pub(crate) fn why(
        &self,
        count: usize,
        out: &mut KVec<uapi::pinio_page_record>,
    ) -> Result<uapi::pinio_why> {
        let pins = self.pins.lock();
        let (answer, records) = pins.why();
        out.extend_from_slice(&records[..count.min(records.len())], GFP_KERNEL)?;
        Ok(answer)
    }

    /// `PINIO_IOC_UNPIN`; errors as [`PinTable::unpin`].
    pub(crate) fn unpin(&self, arg: &mut uapi::pinio_unpin) -> Result {
        self.pins.lock().unpin(self.disk(), arg)
    }

    /// `PINIO_IOC_QUERY`; errors as [`PinTable::query`].
    pub(crate) fn query(&self, arg: &mut uapi::pinio_query) -> Result {
        self.pins.lock().query(arg)
    }

    /// One batch of `PINIO_IOC_DUMP` (see [`PinTable::dump_records`]), under the table lock.
    pub(crate) fn dump_records(
        &self,
        handle: u32,
        offset: usize,
        max: usize,
        out: &mut KVec<uapi::pinio_page_record>,
    ) -> Result<usize> {
        self.pins.lock().dump_records(handle, offset, max, out)
    }

    /// `PINIO_IOC_DMA`; errors as [`PinTable::dma`].
    pub(crate) fn dma(&self, arg: &mut uapi::pinio_dma) -> Result {
        self.pins.lock().dma(self.disk(), arg)
    }
}
