// SPDX-License-Identifier: GPL-2.0

//! The DMA-capable `struct device` the data path maps user pages for.
//!
//! pinio has no hardware: its device is a faux device (`faux_device_create()`), which the
//! driver core creates without a DMA mask or `dma_parms`. [`DmaDevice::new`] gives it what a
//! platform device would get (`dma_coerce_mask_and_coherent()`, as `vgem`/`vkms` do, and a
//! `struct device_dma_parameters` owned here with no segment-size limit, so merged segments
//! longer than the default 64 KiB are legal). From then on the DMA API treats it like any
//! device behind dma-direct: mappings are checked by `CONFIG_DMA_API_DEBUG`, and bounced through
//! swiotlb when an address is beyond the mask or with `swiotlb=force`.

use crate::glue::{
    compat,
    shim, //
};
use kernel::{
    bindings,
    device,
    faux,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque, //
};

/// Accepted range of the `dma_mask_bits` module parameter.
///
/// Below 32 bits, memory above the mask needs a swiotlb pool, which x86 sets up only for
/// guests with memory above 4 GiB or with `swiotlb=force`: without one, a mapping beyond the
/// mask WARNs and fails.
pub(crate) const MASK_BITS: core::ops::RangeInclusive<u32> = 32..=64;

/// The module's DMA device: a faux device with a DMA mask and `dma_parms`.
///
/// # Invariants
///
/// - `faux` is registered, and its `dev.dma_parms` points to `_parms` until [`Drop`] clears it.
/// - `dev.dma_mask` is set, so mappings for it are valid.
/// - `max_mapping` is `dma_max_mapping_size()` of the device, which depends only on its mask
///   and the swiotlb set up at boot.
pub(crate) struct DmaDevice {
    // Dropped after `Drop::drop` cleared `dma_parms`, and before `parms`.
    faux: faux::Registration,
    _parms: KBox<Opaque<bindings::device_dma_parameters>>,
    max_mapping: usize,
    /// Bounce slots held by mappings kept past their transfer (the `PINIO_DMA_KEEP_MAPPING`
    /// experiment, [`super::mapping::KeptMapping`]).
    kept_slots: Atomic<usize>,
}

// SAFETY: `parms` is only read by the DMA core (any thread); the faux registration is
// `Send`/`Sync`.
unsafe impl Send for DmaDevice {}
// SAFETY: As above; nothing in `DmaDevice` is mutated after `new`.
unsafe impl Sync for DmaDevice {}

impl DmaDevice {
    /// Creates the faux device `pinio` with a `mask_bits` DMA mask (`faux_device_create()`,
    /// `dma_coerce_mask_and_coherent()`). `EINVAL` if `mask_bits` is outside [`MASK_BITS`]
    /// (the module parameters are checked before, with their message); `ENODEV` if the device
    /// cannot be created (`faux_device_create()` returns NULL for any failure, its allocations
    /// included, and its C callers such as vgem and vkms answer `-ENODEV`); `EIO` if the DMA
    /// core refuses the mask; `ENOMEM`. May sleep (module init).
    pub(crate) fn new(mask_bits: u32) -> Result<Self> {
        if !MASK_BITS.contains(&mask_bits) {
            return Err(EINVAL);
        }
        let parms = KBox::new(Opaque::zeroed(), GFP_KERNEL)?;
        let faux = faux::Registration::new(c"pinio", None)?;
        let dev = raw_device(&faux);
        // SAFETY: `dev` is the registered faux device, bound to the faux driver, which uses no
        // DMA: nothing maps for it concurrently. `parms` is zeroed, stays at its address (boxed)
        // and outlives the pointer (cleared in `Drop` before the box goes). Process context.
        let ret = unsafe { shim::pinio_dma_setup(dev, parms.get(), mask_bits) };
        let mut this = Self {
            faux,
            _parms: parms,
            max_mapping: 0,
            kept_slots: Atomic::new(0),
        };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: The device is registered with a mask (set just above). Only reads it.
        this.max_mapping = unsafe { bindings::dma_max_mapping_size(dev) };
        // INVARIANT: registered, `dma_parms` and the mask set, `max_mapping` read after.
        Ok(this)
    }

    /// The raw `struct device`, for the mapping calls.
    pub(crate) fn as_raw(&self) -> *mut bindings::device {
        raw_device(&self.faux)
    }

    /// The largest mapping the DMA layer allows for this device, in bytes
    /// (`dma_max_mapping_size()`, read once at creation: 256 KiB under swiotlb, else
    /// unlimited).
    pub(crate) fn max_mapping_size(&self) -> usize {
        self.max_mapping
    }

    /// Bounce slots that mappings kept past their transfer hold now: they come back only when
    /// their handles are released.
    pub(crate) fn kept_slots(&self) -> usize {
        self.kept_slots.load(Relaxed)
    }

    /// `n` more kept slots (`add`) or fewer.
    pub(crate) fn account_kept(&self, n: usize, add: bool) {
        if add {
            self.kept_slots.fetch_add(n, Relaxed);
        } else {
            self.kept_slots.fetch_sub(n, Relaxed);
        }
    }
}

/// The swiotlb pool a device bounces through, in slots of [`BouncePool::SLOT`] bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BouncePool {
    /// Slots in the pool.
    pub(crate) slots: usize,
    /// Slots in use now, by any device (`io_tlb_used` in debugfs; 0 without
    /// `CONFIG_DEBUG_FS`).
    pub(crate) used: usize,
    /// The most slots ever in use at once (`io_tlb_used_hiwater`; 0 without
    /// `CONFIG_DEBUG_FS`).
    pub(crate) hiwater: usize,
}

impl BouncePool {
    /// Bytes of one slot (`IO_TLB_SIZE`).
    pub(crate) const SLOT: usize = shim::PINIO_IO_TLB_SIZE as usize;
}

impl DmaDevice {
    /// The swiotlb pool the device bounces through, if there is one (x86 sets one up only
    /// with memory above 4 GiB, memory encryption or `swiotlb=force`).
    pub(crate) fn bounce_pool(&self) -> Option<BouncePool> {
        let (mut used, mut hiwater) = (0, 0);
        // SAFETY: The device is registered (type invariant); this only reads its pool pointer
        // and the pool's counters, which live as long as the kernel.
        let slots = unsafe { shim::pinio_swiotlb_slots(self.as_raw(), &mut used, &mut hiwater) };
        (slots != 0).then_some(BouncePool {
            slots,
            used,
            hiwater,
        })
    }
}

/// The `struct device` of a faux device.
fn raw_device(faux: &faux::Registration) -> *mut bindings::device {
    let dev: &device::Device = compat::faux_device(faux);
    // `device::Device` is a `#[repr(transparent)]` wrapper of `Opaque<struct device>` (whose
    // own raw accessor is private to the kernel crate): the same address, and C may mutate
    // through it.
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

impl Drop for DmaDevice {
    fn drop(&mut self) {
        // SAFETY: Nothing maps for the device any more (its users hold it by `Arc`, and this is
        // the last reference). The pointer to `parms` goes before `parms` does.
        unsafe { shim::pinio_dma_teardown(self.as_raw()) };
    }
}
