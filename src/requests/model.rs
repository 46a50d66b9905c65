// SPDX-License-Identifier: GPL-2.0

//! The device model of one open file (`PINIO_IOC_SET_CONFIG`): how slow its DMA engine is, how
//! long an asynchronous request takes, how many may be in flight and in which order they
//! complete.

use crate::glue::uapi;
use kernel::prelude::*;

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
    pub(crate) fn with_defaults(mut self) -> Self {
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
