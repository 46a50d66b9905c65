// SPDX-License-Identifier: GPL-2.0

//! The state of one open file of `/dev/pinio`.

use crate::{device::Device, uapi};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
    time::{delay::fsleep, Delta},
};

/// Longest accepted `dma_delay_us`: one second per batch.
const MAX_DMA_DELAY_US: u32 = 1_000_000;

/// One open file: a reference to the device and this file's experiment settings.
pub(crate) struct OpenFile {
    /// The device; outlives every open file.
    pub(crate) device: Arc<Device>,
    /// Wait after each extracted batch, before copying (`PINIO_IOC_SET_CONFIG`).
    dma_delay_us: Atomic<u32>,
}

impl OpenFile {
    /// A new open file of `device`.
    pub(crate) fn new(device: Arc<Device>) -> Result<Pin<KBox<Self>>> {
        KBox::pin(
            Self {
                device,
                dma_delay_us: Atomic::new(0),
            },
            GFP_KERNEL,
        )
        .map_err(Into::into)
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

    /// Waits as a slow DMA engine would, if this file was configured to.
    pub(crate) fn dma_delay(&self) {
        let us = self.dma_delay_us.load(Relaxed);
        if us != 0 {
            fsleep(Delta::from_micros(i64::from(us)));
        }
    }
}
