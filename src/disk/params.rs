// SPDX-License-Identifier: GPL-2.0

//! The module parameters that shape the device, checked once at load.

use super::dma_device;
use core::ops::RangeInclusive;
use kernel::{
    page::PAGE_SIZE,
    prelude::*, //
};

/// Accepted `size_mib`: the store's size in MiB. The store takes memory only as it is written,
/// so the size may exceed the machine's memory.
pub(crate) const SIZE_MIB: RangeInclusive<u32> = 1..=64 * 1024;

/// Accepted `max_pin_mib`: the per-file cap on memory held by `PINIO_IOC_PIN` handles, in MiB
/// (0: no pins). 1 TiB is 2^28 pages of 4 KiB, so one pin call's page count always fits the
/// `int` of `pin_user_pages_fast()`, and the page array a pin allocates is at most 2 GiB.
pub(crate) const MAX_PIN_MIB: RangeInclusive<u32> = 0..=1 << 20;

/// The module parameters, checked: sizes in bytes or pages.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    /// Store size in bytes, a non-zero multiple of `PAGE_SIZE`.
    pub(crate) store_size: usize,
    /// Alignment of read/write offsets, lengths and buffers in bytes: a power of two up to
    /// `PAGE_SIZE` (1: none).
    pub(crate) block_size: usize,
    /// Per-file cap on pages held by `PINIO_IOC_PIN` handles.
    pub(crate) max_pinned_pages: usize,
    /// DMA mask of the DMA device in bits, in [`dma_device::MASK_BITS`].
    pub(crate) dma_mask_bits: u32,
    /// Whether transfers map their pages for a DMA device (`dma_map=1`, the default) or copy
    /// straight between pages (`dma_map=0`, a benchmark knob).
    pub(crate) dma_map: bool,
    /// The experiments' switches, off unless the module is loaded with them.
    pub(crate) experiments: Experiments,
}

/// Module parameters that switch experiments on: never on by default, because each changes
/// what the device does to the rest of the system.
#[derive(Clone, Copy, Default)]
pub(crate) struct Experiments {
    /// `dma_leak_experiment=1`: `PINIO_IOC_DMA` accepts `PINIO_DMA_KEEP_MAPPING`, which leaves
    /// mappings (and their swiotlb slots, a pool every device shares) in place until the
    /// handle goes.
    pub(crate) dma_leak: bool,
    /// `overlap_warn=1`: an asynchronous request that overlaps another in flight is logged,
    /// once per open file.
    pub(crate) overlap_warn: bool,
}

impl Params {
    /// Checks the module parameters `size_mib`, `block_size` (bytes), `max_pin_mib`,
    /// `dma_mask_bits` and `dma_map`.
    ///
    /// Every value out of its range gets one `pr_err` line naming the parameter, the value and
    /// what is accepted; then `EINVAL`, as the kernel answers a parameter it cannot parse.
    pub(crate) fn new(
        size_mib: u32,
        block_size: u32,
        max_pin_mib: u32,
        dma_mask_bits: u32,
        dma_map: u32,
    ) -> Result<Self> {
        let size_ok = in_range("size_mib", size_mib, SIZE_MIB, "the store size", "MiB");
        let block_ok = block_size.is_power_of_two() && block_size as usize <= PAGE_SIZE;
        if !block_ok {
            pr_err!(
                "block_size={block_size} is invalid: it must be a power of two from 1 to \
                 {PAGE_SIZE} bytes (1: no alignment check)\n"
            );
        }
        let pin_ok = in_range(
            "max_pin_mib",
            max_pin_mib,
            MAX_PIN_MIB,
            "the per-file pin cap",
            "MiB",
        );
        let mask_ok = in_range(
            "dma_mask_bits",
            dma_mask_bits,
            dma_device::MASK_BITS,
            "the DMA mask",
            "bits",
        );
        let map_ok = dma_map <= 1;
        if !map_ok {
            pr_err!(
                "dma_map={dma_map} is invalid: it must be 0 (no DMA mapping) or 1 (DMA mappings)\n"
            );
        }
        if !(size_ok && pin_ok && block_ok && mask_ok && map_ok) {
            return Err(EINVAL);
        }
        let mib = |n: u32| usize::try_from(n).ok()?.checked_mul(1 << 20);
        Ok(Self {
            store_size: mib(size_mib).ok_or(EINVAL)?,
            block_size: block_size as usize,
            max_pinned_pages: mib(max_pin_mib).ok_or(EINVAL)? / PAGE_SIZE,
            dma_mask_bits,
            dma_map: dma_map == 1,
            experiments: Experiments::default(),
        })
    }

    /// The same parameters with the experiments' switches `dma_leak_experiment` and
    /// `overlap_warn` (each 0 or 1; otherwise a `pr_err` line naming it, and `EINVAL`).
    pub(crate) fn with_experiments(mut self, dma_leak: u32, overlap_warn: u32) -> Result<Self> {
        let mut ok = true;
        for (name, value) in [
            ("dma_leak_experiment", dma_leak),
            ("overlap_warn", overlap_warn),
        ] {
            if value > 1 {
                pr_err!("{name}={value} is invalid: it must be 0 (off, the default) or 1 (on)\n");
                ok = false;
            }
        }
        if !ok {
            return Err(EINVAL);
        }
        self.experiments = Experiments {
            dma_leak: dma_leak == 1,
            overlap_warn: overlap_warn == 1,
        };
        Ok(self)
    }
}

/// Whether `value` of the parameter `name` lies in `range`; logs why not.
fn in_range(name: &str, value: u32, range: RangeInclusive<u32>, what: &str, unit: &str) -> bool {
    if range.contains(&value) {
        return true;
    }
    pr_err!(
        "{name}={value} is invalid: {what} must be {} to {} {unit}\n",
        range.start(),
        range.end()
    );
    false
}
