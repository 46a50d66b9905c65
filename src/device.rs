// SPDX-License-Identifier: GPL-2.0

//! State shared by every open file of `/dev/pinio`: the store, the module parameters in
//! effect, and the counters.

use crate::{counters::Counters, dma_dev::DmaDevice, engine::EngineRef, store::Store, uapi};
use kernel::{page::PAGE_SIZE, prelude::*, sync::Arc};

/// The device behind `/dev/pinio`.
pub(crate) struct Device {
    /// The device's memory.
    pub(crate) store: Store,
    /// Alignment of read/write offsets, lengths and buffers (a power of two; 1: none).
    pub(crate) block_size: usize,
    /// Per-file cap on pages held by `PINIO_IOC_PIN` handles.
    pub(crate) max_pinned_pages: usize,
    /// Event counters (debugfs).
    pub(crate) counters: Counters,
    /// Where asynchronous requests are queued; `None` for a device without an engine (KUnit),
    /// which serves asynchronous kiocbs synchronously.
    pub(crate) engine: Option<EngineRef>,
    /// The DMA device every transfer maps its pages for; `None` for a device without one
    /// (KUnit), which copies straight between pages.
    pub(crate) dma: Option<Arc<DmaDevice>>,
    /// Whether transfers map their pages (`dma_map` parameter; off only to measure the cost
    /// of mapping against the direct copy, a benchmark knob).
    pub(crate) dma_map: bool,
}

/// Largest store the module accepts, in MiB.
const MAX_SIZE_MIB: u32 = 64 * 1024;

impl Device {
    /// Allocates the device for the module parameters; `EINVAL` if they are out of range.
    pub(crate) fn new(
        size_mib: u32,
        block_size: u32,
        max_pin_mib: u32,
        engine: Option<EngineRef>,
        dma: Option<Arc<DmaDevice>>,
        dma_map: bool,
    ) -> Result<Self> {
        let block_size = usize::try_from(block_size).map_err(|_| EINVAL)?;
        if size_mib == 0 || size_mib > MAX_SIZE_MIB {
            pr_err!("size_mib must be 1..={MAX_SIZE_MIB}, not {size_mib}\n");
            return Err(EINVAL);
        }
        if !block_size.is_power_of_two() || block_size > PAGE_SIZE {
            pr_err!("block_size must be a power of two up to {PAGE_SIZE}, not {block_size}\n");
            return Err(EINVAL);
        }
        let mib = |n: u32| {
            usize::try_from(n)
                .map_err(|_| EINVAL)?
                .checked_mul(1 << 20)
                .ok_or(EINVAL)
        };
        Ok(Self {
            store: Store::new(mib(size_mib)?)?,
            block_size,
            max_pinned_pages: mib(max_pin_mib)? / PAGE_SIZE,
            counters: Counters::new(),
            engine,
            dma,
            dma_map,
        })
    }

    /// The DMA device to map transfers for, unless there is none or mapping is switched off.
    pub(crate) fn dma_path(&self) -> Option<&DmaDevice> {
        self.dma.as_deref().filter(|_| self.dma_map)
    }

    /// Whether `value` is a multiple of the block size.
    pub(crate) fn is_aligned(&self, value: usize) -> bool {
        value & (self.block_size - 1) == 0
    }

    /// The `PINIO_IOC_INFO` answer.
    pub(crate) fn info(&self) -> uapi::pinio_info {
        uapi::pinio_info {
            abi_version: uapi::PINIO_ABI_VERSION,
            pin_flags: uapi::PINIO_PIN_FLAGS_ALL,
            unpin_flags: uapi::PINIO_UNPIN_FLAGS_ALL,
            dma_flags: uapi::PINIO_DMA_FLAGS_ALL,
            store_size: self.store.size() as u64,
            block_size: self.block_size as u32,
            page_size: PAGE_SIZE as u32,
            max_pinned_pages: self.max_pinned_pages as u64,
            config_flags: uapi::PINIO_CONFIG_FLAGS_ALL,
            max_queue_depth: uapi::PINIO_QUEUE_DEPTH_MAX,
            ..Default::default()
        }
    }
}
