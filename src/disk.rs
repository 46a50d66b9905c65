// SPDX-License-Identifier: GPL-2.0

//! The device: pinio's emulated disk, shared by every open file of `/dev/pinio`.
//!
//! It has a store of kernel pages allocated as brd allocates a ramdisk's ([`store`]), a DMA
//! device it maps lent pages for ([`dma_device`], [`mapping`]), a bus through which it reaches
//! what a DMA address names ([`bus`]), and the data path that moves bytes between its store and
//! lent pages through those addresses ([`data_path`]). It knows the pages layer below it and
//! nothing of requests, files or pins above it.

pub(crate) mod bus;
pub(crate) mod counters;
pub(crate) mod data_path;
pub(crate) mod dma_device;
pub(crate) mod mapping;
pub(crate) mod params;
pub(crate) mod sparse_pages;
pub(crate) mod store;

use crate::glue::uapi;
use core::fmt;
use counters::Counters;
use dma_device::DmaDevice;
use kernel::{
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc, //
};
use params::{
    Experiments,
    Params, //
};
use store::Store;

/// The device behind `/dev/pinio`: its store, its DMA device and its counters.
#[pin_data]
pub(crate) struct Disk {
    /// The device's memory.
    #[pin]
    pub(crate) store: Store,
    /// Alignment of read/write offsets, lengths and buffers (a power of two; 1: none).
    pub(crate) block_size: usize,
    /// Per-file cap on pages held by `PINIO_IOC_PIN` handles.
    pub(crate) max_pinned_pages: usize,
    /// Event counters (debugfs).
    pub(crate) counters: Counters,
    /// The DMA device every transfer maps its pages for; `None` for a device without one
    /// (KUnit) or with the `dma_map=0` benchmark knob, which copies straight between pages.
    pub(crate) dma: Option<Arc<DmaDevice>>,
    /// The DMA mask of the DMA device in bits (`dma_mask_bits`), for `PINIO_IOC_INFO`.
    pub(crate) dma_mask_bits: u32,
    /// The experiments switched on at load.
    pub(crate) experiments: Experiments,
}

impl Disk {
    /// A device for checked parameters, with an empty store (nothing allocated for it), whose
    /// transfers map their pages for `dma` (if any).
    pub(crate) fn new(params: Params, dma: Option<Arc<DmaDevice>>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            store <- Store::new(params.store_size),
            block_size: params.block_size,
            max_pinned_pages: params.max_pinned_pages,
            counters: Counters::new(),
            dma,
            dma_mask_bits: params.dma_mask_bits,
            experiments: params.experiments,
        })
    }

    /// Whether `PINIO_IOC_DMA` may keep its mappings (`PINIO_DMA_KEEP_MAPPING`): with the
    /// `dma_leak_experiment=1` parameter, and a DMA device to map for.
    pub(crate) fn may_keep_mappings(&self) -> bool {
        self.experiments.dma_leak && self.dma.is_some()
    }

    /// Whether `value` is a multiple of the block size.
    pub(crate) fn is_aligned(&self, value: usize) -> bool {
        value & (self.block_size - 1) == 0
    }

    /// The debugfs `counters` file: the event counters, then `store_pages`, the pages the
    /// store has allocated, and, when the DMA device bounces through swiotlb, the pool's
    /// `swiotlb_slots`, `swiotlb_used` and `swiotlb_used_hiwater` (slots of 2 KiB, used by any
    /// device, as debugfs' `swiotlb/io_tlb_*` files count them) and `swiotlb_kept_slots`, the
    /// slots pinio's kept mappings hold (`PINIO_DMA_KEEP_MAPPING`): one `name value` line each.
    pub(crate) fn show_counters(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.counters, f)?;
        writeln!(f, "store_pages {}", self.store.nr_pages())?;
        if let Some(dma) = self.dma.as_deref() {
            if let Some(pool) = dma.bounce_pool() {
                writeln!(f, "swiotlb_slots {}", pool.slots)?;
                writeln!(f, "swiotlb_used {}", pool.used)?;
                writeln!(f, "swiotlb_used_hiwater {}", pool.hiwater)?;
                writeln!(f, "swiotlb_kept_slots {}", dma.kept_slots())?;
            }
        }
        Ok(())
    }

    /// The `PINIO_IOC_INFO` answer.
    pub(crate) fn info(&self) -> uapi::pinio_info {
        uapi::pinio_info {
            abi_version: uapi::PINIO_ABI_VERSION,
            pin_flags: uapi::PINIO_PIN_FLAGS_ALL,
            unpin_flags: uapi::PINIO_UNPIN_FLAGS_ALL,
            dma_flags: uapi::PINIO_DMA_FLAGS_ALL
                | if self.may_keep_mappings() {
                    uapi::PINIO_DMA_KEEP_MAPPING
                } else {
                    0
                },
            store_size: self.store.size() as u64,
            block_size: self.block_size as u32,
            page_size: PAGE_SIZE as u32,
            max_pinned_pages: self.max_pinned_pages as u64,
            config_flags: uapi::PINIO_CONFIG_FLAGS_ALL,
            max_queue_depth: uapi::PINIO_QUEUE_DEPTH_MAX,
            dma_mask_bits: self.dma_mask_bits,
            info_flags: [
                (
                    self.experiments.dma_leak,
                    uapi::PINIO_INFO_DMA_LEAK_EXPERIMENT,
                ),
                (self.experiments.overlap_warn, uapi::PINIO_INFO_OVERLAP_WARN),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |acc, (_, bit)| acc | bit),
            ..Default::default()
        }
    }
}
