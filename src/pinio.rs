// SPDX-License-Identifier: GPL-2.0

//! pinio: O_DIRECT-style DMA through extracted, pinned user pages, and pin/unpin experiments.
//!
//! `/dev/pinio` is a misc device backed by a store of kernel pages. `read(2)` and `write(2)`
//! move data straight between the store and the caller's own pages, which are extracted from
//! the `iov_iter` with `iov_iter_extract_pages()` (pinned for user memory, merely listed for
//! kernel-page iterators) and released the way the block layer's direct I/O releases them.
//! ioctls pin user ranges for experiments on page retention (`include/uapi/linux/pinio.h`).
//!
//! Layers, bottom up: [`shim`] (bindgen output for the C shims), [`uapi`] (the ABI),
//! [`page_ref`] (borrowed pages), [`iter`] (the iterator), [`extract`] (page batches),
//! [`sparse_pages`] and [`store`] (the device's memory), [`copy`] (the copy engine), [`dio`]
//! (block/fops.c's direct I/O rules), [`transfer`] (read/write), [`ioctl`], [`chardev`] (the misc
//! device).

use kernel::{
    debugfs,
    prelude::*,
    sync::Arc, //
};

mod accounting;
mod chardev;
mod compat;
mod copy;
mod counters;
mod device;
mod dio;
mod dma_dev;
mod dma_map;
mod engine;
mod extract;
mod held_pages;
mod ioctl;
mod iter;
mod kiocb;
mod mem;
mod open_file;
mod page_ref;
mod pins;
mod shim;
mod sparse_pages;
mod store;
mod task;
mod transfer;
mod uapi;

module! {
    type: PinioModule,
    name: "pinio",
    authors: ["pinio developers"],
    description: "O_DIRECT-style DMA through pinned user pages, and pin/unpin experiments",
    license: "GPL",
    params: {
        size_mib: u32 {
            default: 64,
            description: "Store size in MiB, 1 to 65536; memory is taken as the store is written",
        },
        block_size: u32 {
            default: 512,
            description: "read/write alignment of offsets, lengths and buffers: a power of two up to PAGE_SIZE; 1 turns the check off",
        },
        max_pin_mib: u32 {
            default: 1024,
            description: "Per-file cap on memory held by PINIO_IOC_PIN handles in MiB, 0 to 1048576 (0: no pins)",
        },
        dma_mask_bits: u32 {
            default: 64,
            description: "DMA mask of pinio's device in bits, 32 to 64; 32 bounces through swiotlb what lies above 4 GiB",
        },
        dma_map: u32 {
            default: 1,
            description: "Benchmark knob, 0 or 1: 0 copies straight between pages without DMA mappings (the pre-DMA-API path)",
        },
    },
}

/// The loaded module: the device node, its debugfs directory and the engine. Fields drop in
/// order: the device node goes first, then debugfs, then the engine, draining every request
/// still on its workqueue; the device, its store's pages and its DMA device go with the last
/// reference (no file or request is left to map for the DMA device by then).
#[pin_data]
struct PinioModule {
    #[pin]
    chardev: chardev::Registration,
    #[pin]
    counters: debugfs::File<Arc<device::Device>>,
    debugfs: debugfs::Dir,
    device: Arc<device::Device>,
    engine: engine::Engine,
}

impl kernel::InPlaceModule for PinioModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let params = device::Params::new(
            compat::param(&module_parameters::size_mib),
            compat::param(&module_parameters::block_size),
            compat::param(&module_parameters::max_pin_mib),
            compat::param(&module_parameters::dma_mask_bits),
            compat::param(&module_parameters::dma_map),
        );
        try_pin_init!(Self {
            // Refuse bad parameters before allocating anything.
            _: {
                params?;
            },
            engine: engine::Engine::new()?,
            // Allocates no store memory: the pages come with the first writes. The DMA device
            // is left out only by the `dma_map=0` benchmark knob.
            device: Arc::pin_init(
                device::Device::new(
                    params?,
                    Some(engine.handle()),
                    dma_device(params?.dma_mask_bits, params?.dma_map)?,
                ),
                GFP_KERNEL,
            )?,
            debugfs: debugfs::Dir::new(c"pinio"),
            counters <- debugfs.read_callback_file(c"counters", device.clone(), &show_counters),
            chardev <- chardev::Registration::new(device.clone()),
        })
    }
}

/// Formats the counters file.
fn show_counters(
    device: &Arc<device::Device>,
    f: &mut core::fmt::Formatter<'_>,
) -> core::fmt::Result {
    device.show_counters(f)
}

/// The DMA device transfers map for: a faux device with a `mask_bits` DMA mask, or none if
/// `map` is false. Errors of [`dma_dev::DmaDevice::new`]. May sleep (module init).
fn dma_device(mask_bits: u32, map: bool) -> Result<Option<Arc<dma_dev::DmaDevice>>> {
    if !map {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        dma_dev::DmaDevice::new(mask_bits)?,
        GFP_KERNEL,
    )?))
}
