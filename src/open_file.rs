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
//! [`OpenFile::config`] is a spinlock held only to copy the device model in or out, and the
//! engine's queue lock ([`crate::engine`]) is taken under neither: both are leaves.

use crate::{
    device::Device,
    engine::FileQueue,
    held_pages::HeldPages,
    pins::{
        distinct_folios,
        PinTable, //
    },
    task::fatal_signal_pending,
    uapi, //
};
use kernel::{
    mm::Mm,
    new_mutex,
    new_spinlock,
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{
        aref::ARef,
        Arc,
        Mutex,
        SpinLock, //
    },
    time::{
        delay::fsleep,
        Delta, //
    }, //
};

/// Longest accepted `dma_delay_us`: one second per batch.
const MAX_DMA_DELAY_US: u32 = 1_000_000;

/// Longest accepted `latency_us`: ten seconds per asynchronous request.
const MAX_LATENCY_US: u32 = 10_000_000;

/// The device model of one open file (`PINIO_IOC_SET_CONFIG`), in the uapi's units.
#[derive(Clone, Copy, Default)]
pub(crate) struct Config {
    /// Wait after each extracted batch, before copying, in microseconds.
    pub(crate) dma_delay_us: u32,
    /// `PINIO_CONFIG_*` flags.
    pub(crate) flags: u32,
    /// Service time of an asynchronous request, in microseconds.
    pub(crate) latency_us: u32,
    /// Asynchronous requests in flight at most (1..=`PINIO_QUEUE_DEPTH_MAX`).
    pub(crate) queue_depth: u32,
}

impl Config {
    /// Checks a `PINIO_IOC_SET_CONFIG` argument: `EINVAL` for unknown flags, non-zero reserved
    /// fields or values out of range. `queue_depth` 0 means the default.
    pub(crate) fn from_uapi(config: &uapi::pinio_config) -> Result<Self> {
        if config.flags & !uapi::PINIO_CONFIG_FLAGS_ALL != 0
            || config.reserved.iter().any(|&r| r != 0)
            || config.dma_delay_us > MAX_DMA_DELAY_US
            || config.latency_us > MAX_LATENCY_US
            || config.queue_depth > uapi::PINIO_QUEUE_DEPTH_MAX
        {
            return Err(EINVAL);
        }
        Ok(Self {
            dma_delay_us: config.dma_delay_us,
            flags: config.flags,
            latency_us: config.latency_us,
            queue_depth: match config.queue_depth {
                0 => uapi::PINIO_QUEUE_DEPTH_DEFAULT,
                depth => depth,
            },
        })
    }

    /// The configuration of a new file: no delays, the default queue depth, as-completed.
    fn with_defaults(mut self) -> Self {
        self.queue_depth = uapi::PINIO_QUEUE_DEPTH_DEFAULT;
        self
    }

    /// The `PINIO_IOC_GET_CONFIG` answer.
    pub(crate) fn to_uapi(self) -> uapi::pinio_config {
        uapi::pinio_config {
            dma_delay_us: self.dma_delay_us,
            flags: self.flags,
            latency_us: self.latency_us,
            queue_depth: self.queue_depth,
            ..Default::default()
        }
    }

    /// Whether read/write take `FOLL_GET` references instead of extracting.
    pub(crate) fn get_pages(self) -> bool {
        self.flags & uapi::PINIO_CONFIG_GET_PAGES != 0
    }

    /// Whether asynchronous requests complete in submission order.
    pub(crate) fn fifo(self) -> bool {
        self.flags & uapi::PINIO_CONFIG_FIFO != 0
    }
}

/// One open file: the device, this file's pins and its experiment settings.
///
/// Dropping it (on the file's release, in whatever process) releases every pin it holds.
#[pin_data(PinnedDrop)]
pub(crate) struct OpenFile {
    /// The device; outlives every open file.
    pub(crate) device: Arc<Device>,
    /// The device model of this file (`PINIO_IOC_SET_CONFIG`).
    #[pin]
    config: SpinLock<Config>,
    /// Asynchronous requests of this file in flight.
    pub(crate) queue: Arc<FileQueue>,
    /// Ranges held by `PINIO_IOC_PIN`: a lock of this file, never of the device (see the lock
    /// order above).
    #[pin]
    pins: Mutex<PinTable>,
}

#[pinned_drop]
impl PinnedDrop for OpenFile {
    fn drop(self: Pin<&mut Self>) {
        // The last close: release every pin still held, counting it like an unpin.
        self.pins.lock().release_all(&self.device);
    }
}

impl OpenFile {
    /// A new open file of `device`. `ENOMEM` if it cannot be allocated.
    pub(crate) fn new(device: Arc<Device>) -> Result<Pin<KBox<Self>>> {
        let queue = FileQueue::new()?;
        KBox::try_pin_init(
            try_pin_init!(Self {
                device,
                config <- new_spinlock!(Config::default().with_defaults(), "pinio::OpenFile::config"),
                queue,
                pins <- new_mutex!(PinTable::new(), "pinio::OpenFile::pins"),
            }),
            GFP_KERNEL,
        )
    }

    /// The device model in effect.
    pub(crate) fn config(&self) -> Config {
        *self.config.lock()
    }

    /// Applies `PINIO_IOC_SET_CONFIG`: `EINVAL` for a bad argument ([`Config::from_uapi`]),
    /// `EBUSY` if the completion order would change while requests are in flight.
    pub(crate) fn set_config(&self, config: &uapi::pinio_config) -> Result {
        let config = Config::from_uapi(config)?;
        self.queue.set_fifo(config.fifo())?;
        *self.config.lock() = config;
        Ok(())
    }

    /// Waits `us` microseconds, as a slow DMA engine would. The wait is killable: `EINTR` as
    /// soon as a fatal signal is pending.
    pub(crate) fn dma_delay(&self, us: u32) -> Result {
        /// Longest uninterrupted sleep.
        const SLICE_US: u32 = 5_000;
        let mut left = us;
        while left != 0 {
            if fatal_signal_pending() {
                return Err(EINTR);
            }
            let slice = left.min(SLICE_US);
            fsleep(Delta::from_micros(i64::from(slice)));
            left -= slice;
        }
        Ok(())
    }

    /// `PINIO_IOC_PIN`: pins (or gets) a range of the calling process and gives it a handle.
    ///
    /// Errors, with nothing left held: `EINVAL` for a bad argument
    /// ([`PinTable::validate`]); `ENOMEM` past the per-file cap or `RLIMIT_MEMLOCK`, or when
    /// memory for the page array, the table or the charge cannot be allocated; `EFAULT` (or
    /// the pin call's own error, e.g. `EFAULT`, `ENOMEM`, `EINTR`) if not all pages could be
    /// taken; `ENOSPC` if the file has 2^31 - 1 handles.
    pub(crate) fn pin(&self, arg: &mut uapi::pinio_pin) -> Result {
        let (addr, nr_pages, request) = PinTable::validate(arg)?;
        if !self.pins.lock().has_room(&self.device, nr_pages) {
            return Err(ENOMEM);
        }
        // Pinning can fault and sleep for long: not under the table lock.
        let (held, elapsed) =
            HeldPages::take(addr, nr_pages, arg.pages_per_call as usize, request)?;
        arg.pin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        // What the table will need, allocated before its lock too.
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let charge = if request.longterm {
            let mm = kernel::current!().mm().map(|mm| ARef::<Mm>::from(&**mm));
            Some((mm.ok_or(EINVAL)?, distinct_folios(&held)?))
        } else {
            None
        };
        let mut pins = self.pins.lock();
        while let Some(request) = pins.handles_request()? {
            drop(pins);
            let resizer = request.realloc(GFP_KERNEL)?;
            pins = self.pins.lock();
            pins.grow_handles(resizer);
        }
        pins.insert(&self.device, arg, held, charge, node)
    }

    /// `PINIO_IOC_UNPIN`; errors as [`PinTable::unpin`].
    pub(crate) fn unpin(&self, arg: &mut uapi::pinio_unpin) -> Result {
        self.pins.lock().unpin(&self.device, arg)
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
        self.pins.lock().dma(&self.device, arg)
    }
}
