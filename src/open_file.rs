// SPDX-License-Identifier: GPL-2.0

//! The state of one open file of `/dev/pinio`.

use crate::{
    device::Device, held_pages::HeldPages, pins::PinTable, transfer::fatal_signal_pending, uapi,
};
use kernel::{
    mm::Mm,
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    time::{delay::fsleep, Delta},
};

/// Longest accepted `dma_delay_us`: one second per batch.
const MAX_DMA_DELAY_US: u32 = 1_000_000;

/// One open file: the device, this file's pins and its experiment settings.
///
/// Dropping it (on the file's release, in whatever process) releases every pin it holds.
#[pin_data(PinnedDrop)]
pub(crate) struct OpenFile {
    /// The device; outlives every open file.
    pub(crate) device: Arc<Device>,
    /// Wait after each extracted batch, before copying (`PINIO_IOC_SET_CONFIG`).
    dma_delay_us: Atomic<u32>,
    /// Ranges held by `PINIO_IOC_PIN`. Held across the copy of `PINIO_IOC_DMA` only: a lock of
    /// this file, never of the device.
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
    /// A new open file of `device`.
    pub(crate) fn new(device: Arc<Device>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(Self {
                device,
                dma_delay_us: Atomic::new(0),
                pins <- new_mutex!(PinTable::new()),
            }),
            GFP_KERNEL,
        )
    }

    /// Applies `PINIO_IOC_SET_CONFIG`.
    pub(crate) fn set_config(&self, config: &uapi::pinio_config) -> Result {
        if config.reserved0 != 0 || config.reserved.iter().any(|&r| r != 0) {
            return Err(EINVAL);
        }
        if config.dma_delay_us > MAX_DMA_DELAY_US {
            return Err(EINVAL);
        }
        self.dma_delay_us.store(config.dma_delay_us, Relaxed);
        Ok(())
    }

    /// Waits as a slow DMA engine would, if this file was configured to. The wait is killable:
    /// `EINTR` as soon as a fatal signal is pending.
    pub(crate) fn dma_delay(&self) -> Result {
        /// Longest uninterrupted sleep.
        const SLICE_US: u32 = 5_000;
        let mut left = self.dma_delay_us.load(Relaxed);
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

    /// `PINIO_IOC_PIN`: pins (or gets) a range of the calling process.
    pub(crate) fn pin(&self, arg: &mut uapi::pinio_pin) -> Result {
        let (addr, nr_pages, request) = PinTable::validate(arg)?;
        if !self.pins.lock().has_room(&self.device, nr_pages) {
            return Err(ENOMEM);
        }
        // Pinning can fault and sleep for long: not under the table lock.
        let (held, elapsed) =
            HeldPages::take(addr, nr_pages, arg.pages_per_call as usize, request)?;
        let mm = if request.longterm {
            kernel::current!().mm().map(|mm| ARef::<Mm>::from(&**mm))
        } else {
            None
        };
        arg.pin_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(0);
        self.pins.lock().insert(&self.device, arg, held, mm)
    }

    /// `PINIO_IOC_UNPIN`.
    pub(crate) fn unpin(&self, arg: &mut uapi::pinio_unpin) -> Result {
        self.pins.lock().unpin(&self.device, arg)
    }

    /// `PINIO_IOC_QUERY`.
    pub(crate) fn query(&self, arg: &mut uapi::pinio_query) -> Result {
        self.pins.lock().query(arg)
    }

    /// `PINIO_IOC_DMA`.
    pub(crate) fn dma(&self, arg: &mut uapi::pinio_dma) -> Result {
        self.pins.lock().dma(&self.device, arg)
    }
}
