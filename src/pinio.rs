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
//! [`page_ref`] (borrowed pages), [`iter`] (the iterator), [`extract`] (page batches), [`store`], [`copy`] (the copy
//! engine), [`transfer`] (read/write), [`ioctl`], [`chardev`] (the misc device).

use kernel::{debugfs, prelude::*, sync::Arc};

mod accounting;
mod chardev;
mod copy;
mod counters;
mod device;
mod dma_dev;
mod dma_map;
mod engine;
mod extract;
mod held_pages;
mod ioctl;
mod iter;
mod kiocb;
mod open_file;
mod page_ref;
mod pins;
mod shim;
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
            description: "Store size in MiB (1..=65536)",
        },
        block_size: u32 {
            default: 512,
            description: "read/write alignment of offsets, lengths and buffers: a power of two up to PAGE_SIZE; 1 turns the check off",
        },
        max_pin_mib: u32 {
            default: 1024,
            description: "Per-file cap on memory held by PINIO_IOC_PIN handles, in MiB",
        },
        dma_mask_bits: u32 {
            default: 64,
            description: "DMA mask of pinio's device in bits (32..=64); 32 bounces through swiotlb what lies above 4 GiB",
        },
        dma_map: bool {
            default: true,
            description: "Benchmark knob: false copies straight between pages without DMA mappings (the pre-DMA-API path)",
        },
    },
}

/// The loaded module: the device node and its debugfs directory.
struct PinioModule {
    _inner: Pin<KBox<Registered>>,
}

/// What the module holds while loaded. Fields drop in order: the device node goes first, then
/// debugfs, then the engine, draining every request still on its workqueue, and the DMA device
/// last (the files and requests that map for it hold it too, and are all gone by then).
#[pin_data]
struct Registered {
    #[pin]
    chardev: chardev::Registration,
    #[pin]
    counters: debugfs::File<Arc<device::Device>>,
    _debugfs: debugfs::Dir,
    _engine: engine::Engine,
    _dma: Arc<dma_dev::DmaDevice>,
}

/// Formats the counters file.
fn show_counters(
    device: &Arc<device::Device>,
    f: &mut core::fmt::Formatter<'_>,
) -> core::fmt::Result {
    core::fmt::Debug::fmt(&device.counters, f)
}

impl kernel::Module for PinioModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let dma = Arc::new(
            dma_dev::DmaDevice::new(module_parameters::dma_mask_bits.value())?,
            GFP_KERNEL,
        )?;
        let engine = engine::Engine::new()?;
        let device = Arc::new(
            device::Device::new(
                module_parameters::size_mib.value(),
                module_parameters::block_size.value(),
                module_parameters::max_pin_mib.value(),
                Some(engine.handle()),
                Some(dma.clone()),
                module_parameters::dma_map.value(),
            )?,
            GFP_KERNEL,
        )?;
        let dir = debugfs::Dir::new(c"pinio");
        let inner = KBox::try_pin_init(
            try_pin_init!(Registered {
                chardev <- chardev::Registration::new(device.clone()),
                counters <- dir.read_callback_file(c"counters", device, &show_counters),
                _debugfs: dir,
                _engine: engine,
                _dma: dma,
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { _inner: inner })
    }
}
