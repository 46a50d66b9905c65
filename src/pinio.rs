// SPDX-License-Identifier: GPL-2.0

//! pinio: O_DIRECT-style DMA through extracted, pinned user pages, and pin/unpin experiments.
//!
//! `/dev/pinio` is a misc device backed by a store of kernel pages. `read(2)` and `write(2)`
//! move data straight between the store and the caller's own pages, which are extracted from
//! the `iov_iter` with `iov_iter_extract_pages()` (pinned for user memory, merely listed for
//! kernel-page iterators) and released the way the block layer's direct I/O releases them.
//! ioctls pin user ranges for experiments on page retention (`include/uapi/linux/pinio.h`).
//!
//! The crate is six layers, each a folder; a module imports only from its own layer and the
//! layers below (`scripts/check-layers.sh`, run by `make test`, fails on any other import):
//!
//! 1. [`glue`]: [`glue::shim`] (bindgen output for the C shims), [`glue::uapi`] (the ioctl
//!    ABI), [`glue::workqueue`] (a workqueue of the module's own), [`glue::signal`],
//!    [`glue::meminfo`].
//! 2. [`pages`]: user pages lent to a device, written as kernel-crate code that knows nothing
//!    of pinio: [`pages::view`], [`pages::copy`], [`pages::iter`], [`pages::extract`],
//!    [`pages::batch`], [`pages::owned`], [`pages::gup`].
//! 3. [`disk`]: the emulated device: [`disk::params`], [`disk::counters`],
//!    [`disk::sparse_pages`], [`disk::store`], [`disk::dma_device`], [`disk::mapping`],
//!    [`disk::bus`], [`disk::data_path`].
//! 4. [`requests`]: reads and writes as the block layer serves them: [`requests::dio`],
//!    [`requests::kiocb`], [`requests::model`], [`requests::engine`], [`requests::inflight`],
//!    [`requests::transfer`].
//! 5. [`pins`]: pin control: [`pins::accounting`], [`pins::table`], [`pins::why`].
//! 6. [`chardev`]: `/dev/pinio`: [`chardev::open_file`], [`chardev::ioctl`], [`chardev::fops`].
//!
//! [`integration`] holds the KUnit suites that need several layers at once.

use kernel::{
    debugfs,
    prelude::*,
    sync::Arc, //
};

mod chardev;
mod disk;
mod glue;
mod integration;
mod pages;
mod pins;
mod requests;

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
        dma_leak_experiment: u32 {
            default: 0,
            description: "Experiment, 0 or 1: 1 lets PINIO_IOC_DMA keep its mappings (PINIO_DMA_KEEP_MAPPING), leaking swiotlb slots until the handle goes",
        },
        overlap_warn: u32 {
            default: 0,
            description: "0 or 1: 1 logs, once per open file, an asynchronous request overlapping another in flight",
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
    chardev: chardev::fops::Registration,
    #[pin]
    counters: debugfs::File<Arc<disk::Disk>>,
    debugfs: debugfs::Dir,
    disk: Arc<disk::Disk>,
    engine: requests::engine::Engine,
}

impl kernel::InPlaceModule for PinioModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let params = disk::params::Params::new(
            glue::compat::param(&module_parameters::size_mib),
            glue::compat::param(&module_parameters::block_size),
            glue::compat::param(&module_parameters::max_pin_mib),
            glue::compat::param(&module_parameters::dma_mask_bits),
            glue::compat::param(&module_parameters::dma_map),
        )
        .and_then(|params| {
            params.with_experiments(
                glue::compat::param(&module_parameters::dma_leak_experiment),
                glue::compat::param(&module_parameters::overlap_warn),
            )
        });
        try_pin_init!(Self {
            // Refuse bad parameters before allocating anything.
            _: {
                params?;
            },
            engine: requests::engine::Engine::new()?,
            // Allocates no store memory: the pages come with the first writes. The DMA device
            // is left out only by the `dma_map=0` benchmark knob.
            disk: Arc::pin_init(
                disk::Disk::new(params?, dma_device(params?.dma_mask_bits, params?.dma_map)?),
                GFP_KERNEL,
            )?,
            debugfs: debugfs::Dir::new(c"pinio"),
            counters <- debugfs.read_callback_file(c"counters", disk.clone(), &show_counters),
            // SAFETY: The registration, and with it every open file that may use the handle,
            // goes before the engine: fields drop in declaration order, `chardev` first.
            chardev <- chardev::fops::Registration::new(disk.clone(), unsafe { engine.handle() }),
        })
    }
}

/// Formats the counters file.
fn show_counters(disk: &Arc<disk::Disk>, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    disk.show_counters(f)
}

/// The DMA device transfers map for: a faux device with a `mask_bits` DMA mask, or none if
/// `map` is false. Errors of [`disk::dma_device::DmaDevice::new`]. May sleep (module init).
fn dma_device(mask_bits: u32, map: bool) -> Result<Option<Arc<disk::dma_device::DmaDevice>>> {
    if !map {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        disk::dma_device::DmaDevice::new(mask_bits)?,
        GFP_KERNEL,
    )?))
}
