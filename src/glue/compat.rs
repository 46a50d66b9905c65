// SPDX-License-Identifier: GPL-2.0

//! What differs between the kernel series pinio supports (`scripts/kernel-series`), and only
//! that: the rest of the module is written once, against the items here.
//!
//! Kbuild passes `--cfg pinio_kernel="VERSION.PATCHLEVEL"` of the tree being built against,
//! as C code would test `LINUX_VERSION_CODE`. Each item has two definitions: one for Linux 7.2
//! (`pinio_kernel = "7.2"`) and one for 7.3, the newest series, which an unsupported tree
//! built with `PINIO_ANY_SERIES=1` gets too. Dropping 7.2 means deleting its definitions; the
//! 7.3 ones can then move to their callers.
//!
//! The items, and what they bridge:
//!
//! - [`this_module`]: 7.2's `module!` declares a `THIS_MODULE` static in the crate root; 7.3
//!   made it `ModuleMetadata::THIS_MODULE`, reached with `kernel::module::this_module()`.
//! - [`param`]: a module parameter's `value()` returns `&T` in 7.2, `T` in 7.3.
//! - [`faux_device`]: 7.2's `faux::Registration` is `AsRef<device::Device>`; 7.3's is
//!   `AsRef<faux::Device<Bound>>`, which is `AsRef<device::Device<Bound>>`.
//!
//! And two behaviours of the block layer, which pinio answers like (its tests compare it with
//! brd on the same kernel):
//!
//! - [`FOP_FLAGS`]: 7.3's block devices accept `RWF_DONTCACHE` (`FOP_DONTCACHE`), 7.2's refuse
//!   it (`EOPNOTSUPP`).
//! - [`bio_fill_error`]: when filling a bio fails on `__blkdev_direct_IO()`'s multi-bio path,
//!   7.3 ends the bio with that error's status, 7.2 with `BLK_STS_IOERR`: an asynchronous
//!   request then completes with `EIO` where 7.3 keeps `EINVAL`.
//!
//! Not here, because an API common to both serves: DMA directions come from
//! `kernel::dma::DataDirection` (`src/disk/mapping.rs`), a `#[repr(u32)]` enum holding the C values
//! in both series, whereas the bindings' own `dma_data_direction` is an integer alias with
//! `dma_data_direction_DMA_*` constants in 7.2 and a newtype with associated constants in 7.3.

use kernel::{
    bindings,
    device,
    faux,
    module_param::ModuleParamAccess,
    prelude::*,
    ThisModule, //
};

/// The module's `THIS_MODULE` (C's `THIS_MODULE`), e.g. the `owner` of a `file_operations`
/// table in a `static`.
#[cfg(not(pinio_kernel = "7.2"))]
pub(crate) const fn this_module() -> &'static ThisModule {
    kernel::module::this_module::<crate::LocalModule>()
}

/// The module's `THIS_MODULE` (C's `THIS_MODULE`), e.g. the `owner` of a `file_operations`
/// table in a `static`.
#[cfg(pinio_kernel = "7.2")]
pub(crate) const fn this_module() -> &'static ThisModule {
    &crate::THIS_MODULE
}

/// A module parameter's value: the one given at load time, or its default.
#[cfg(not(pinio_kernel = "7.2"))]
#[inline]
pub(crate) fn param<T: Copy>(param: &ModuleParamAccess<T>) -> T {
    param.value()
}

/// A module parameter's value: the one given at load time, or its default.
#[cfg(pinio_kernel = "7.2")]
#[inline]
pub(crate) fn param<T: Copy>(param: &ModuleParamAccess<T>) -> T {
    *param.value()
}

/// The driver-core device of a registered faux device.
#[cfg(not(pinio_kernel = "7.2"))]
#[inline]
pub(crate) fn faux_device(faux: &faux::Registration) -> &device::Device {
    let dev: &device::Device<device::Bound> = faux.as_ref().as_ref();
    dev
}

/// The driver-core device of a registered faux device.
#[cfg(pinio_kernel = "7.2")]
#[inline]
pub(crate) fn faux_device(faux: &faux::Registration) -> &device::Device {
    faux.as_ref()
}

/// The `fop_flags` of `/dev/pinio`: `FOP_DONTCACHE` where block devices have it
/// (`def_blk_fops` in `block/fops.c`), so that `RWF_DONTCACHE` is taken (there is no page
/// cache to keep clean anyway) exactly where a block device takes it.
#[cfg(not(pinio_kernel = "7.2"))]
pub(crate) const FOP_FLAGS: bindings::fop_flags_t = crate::glue::shim::PINIO_FOP_DONTCACHE;

/// The `fop_flags` of `/dev/pinio`: none, as 7.2's block devices (`def_blk_fops` in
/// `block/fops.c`), which refuse `RWF_DONTCACHE` with `EOPNOTSUPP`.
#[cfg(pinio_kernel = "7.2")]
pub(crate) const FOP_FLAGS: bindings::fop_flags_t = 0;

/// The error `__blkdev_direct_IO()` ends a bio with when filling it fails with `err`, before
/// the completion converts it through `blk_status_t`: `err` itself
/// (`errno_to_blk_status(ret)`).
#[cfg(not(pinio_kernel = "7.2"))]
#[inline]
pub(crate) fn bio_fill_error(err: Error) -> Error {
    err
}

/// The error `__blkdev_direct_IO()` ends a bio with when filling it fails with `err`, before
/// the completion converts it through `blk_status_t`: `EIO` whatever `err` was (7.2 passes
/// `BLK_STS_IOERR`).
#[cfg(pinio_kernel = "7.2")]
#[inline]
pub(crate) fn bio_fill_error(_err: Error) -> Error {
    EIO
}
