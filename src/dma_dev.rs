// SPDX-License-Identifier: GPL-2.0

//! The DMA-capable `struct device` the data path maps user pages for, and the "bus" through
//! which the emulated device reaches what a DMA address names.
//!
//! pinio has no hardware: its device is a faux device (`faux_device_create()`), which the
//! driver core creates without a DMA mask or `dma_parms`. [`DmaDevice::new`] gives it what a
//! platform device would get (`dma_coerce_mask_and_coherent()`, as `vgem`/`vkms` do, and a
//! `struct device_dma_parameters` owned here with no segment-size limit, so merged segments
//! longer than the default 64 KiB are legal). From then on the DMA API treats it like any
//! device behind dma-direct: mappings are checked by `CONFIG_DMA_API_DEBUG`, and bounced through
//! swiotlb when an address is beyond the mask or with `swiotlb=force`.
//!
//! **How the emulated device reaches memory.** A real bus master is handed DMA addresses and
//! nothing else. With dma-direct (x86 without an IOMMU) a DMA address is a physical address
//! (`dma_to_phys()` is the identity without `dma_range_map` or memory encryption): the user's
//! page itself, or under swiotlb the bounce slot. [`DmaDevice::pages`] turns a mapped segment
//! into the pages at that physical address and nothing else, so the copy engine touches exactly
//! what the device would. It is **not** faithful to an IOMMU (the address would be an IOVA
//! that only `iommu_iova_to_phys()` resolves), to non-coherent architectures (cache
//! maintenance is a no-op on x86), or to a device that ignores its mapping.

use crate::{
    counters::Counters,
    dma_map::DmaSegment,
    page_ref::{
        page_spans,
        PageMut,
        PageRef,
        Span, //
    },
    shim, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    device,
    faux,
    page::PAGE_SIZE,
    prelude::*,
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
        };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: The device is registered with a mask (set just above). Only reads it.
        this.max_mapping = unsafe { shim::pinio_dma_max_mapping_size(dev) };
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

    /// Where `seg` points in memory: the physical address the bus would reach
    /// (`dma_to_phys()`), and whether that is a swiotlb bounce slot (`is_swiotlb_buffer()`).
    fn resolve(&self, seg: &DmaSegment<'_>) -> (u64, bool) {
        // SAFETY: Pure address arithmetic on this device's DMA ranges (none: identity).
        let phys = unsafe { shim::pinio_dma_to_phys(self.as_raw(), seg.addr()) };
        // SAFETY: Only compares `phys` against the swiotlb pools of the device.
        let bounced = unsafe { shim::pinio_is_swiotlb_buffer(self.as_raw(), phys) };
        (phys, bounced)
    }

    /// The pages at a mapped segment's physical address, one span per page. Adds the
    /// segment's length to `counters.dma_bounced_bytes` if that address is a swiotlb bounce
    /// slot rather than the mapped pages (counted here, where the address is resolved anyway,
    /// rather than in a pass of its own over the segments at mapping time).
    fn raw_pages<'m>(
        &self,
        seg: &DmaSegment<'m>,
        counters: &Counters,
    ) -> impl Iterator<Item = (NonNull<bindings::page>, Span)> + 'm {
        let (phys, bounced) = self.resolve(seg);
        if bounced {
            Counters::add(&counters.dma_bounced_bytes, seg.len());
        }
        let page_mask = PAGE_SIZE as u64 - 1;
        let first = phys & !page_mask;
        page_spans((phys & page_mask) as usize, seg.len())
            .enumerate()
            .filter_map(move |(i, span)| {
                let at = first.checked_add((i as u64).checked_mul(PAGE_SIZE as u64)?)?;
                // SAFETY: `at` lies inside the memory the segment maps: RAM with a
                // `struct page` (the mapped pages or a swiotlb slot); `pfn_to_page()` only
                // computes.
                let page = NonNull::new(unsafe { shim::pinio_phys_to_page(at) })?;
                Some((page, span))
            })
    }

    /// The device's view of a mapped segment: the pages at its physical address, one span per
    /// page, for the device to read. Counts bounced bytes on `counters`.
    pub(crate) fn pages<'m>(
        &self,
        seg: DmaSegment<'m>,
        counters: &Counters,
    ) -> impl Iterator<Item = (PageRef<'m>, Span)> + 'm {
        self.raw_pages(&seg, counters).map(|(page, span)| {
            // SAFETY: The memory behind a segment stays allocated while its mapping lives,
            // which is `'m` (invariant of `DmaSegment`).
            (unsafe { PageRef::from_raw(page) }, span)
        })
    }

    /// As [`Self::pages`], for the device to write into; `None` if the segment was mapped for
    /// the device to read only (`DMA_TO_DEVICE`).
    pub(crate) fn pages_mut<'m>(
        &self,
        seg: DmaSegment<'m>,
        counters: &Counters,
    ) -> Option<impl Iterator<Item = (PageMut<'m>, Span)> + 'm> {
        if !seg.device_writes() {
            return None;
        }
        Some(self.raw_pages(&seg, counters).map(|(page, span)| {
            // SAFETY: The memory stays allocated for `'m` (as above), and the segment was
            // mapped `DMA_FROM_DEVICE` from pages whose lender lets the device write them
            // (invariant of `DmaSegment`); a swiotlb slot belongs to the mapping.
            (unsafe { PageMut::from_raw(page) }, span)
        }))
    }
}

/// The `struct device` of a faux device.
fn raw_device(faux: &faux::Registration) -> *mut bindings::device {
    let dev: &device::Device = crate::compat::faux_device(faux);
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
