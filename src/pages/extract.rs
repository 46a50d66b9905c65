// SPDX-License-Identifier: GPL-2.0

//! Extracting the pages of an `iov_iter`, and giving them back: the two calls the extraction
//! containers ([`ExtractedPages`], [`OwnedPages`]) are built on.
//!
//! `iov_iter_extract_pages()` pins the pages of user-backed iterators (UBUF, IOVEC) with
//! `FOLL_PIN`, and `FOLL_WRITE` for a destination iterator, and merely lists the pages of
//! kernel-page iterators (BVEC, KVEC, ...), taking no reference: whoever built such an iterator
//! keeps its pages alive. `iov_iter_extract_will_pin()` tells the two apart ([`Retention`]).
//! Pinned pages are released with `unpin_user_pages_dirty_lock()`, dirtied if the device wrote
//! into them; listed pages are left alone. This is what the block layer's direct I/O does, and
//! case 1 ("Direct IO") of `Documentation/core-api/pin_user_pages.rst`.
// BEGIN pinio only
//!
//! pinio also takes pages the pre-2020 way, for its experiments ([`Mode::Get`]):
//! `iov_iter_get_pages2()` takes a `FOLL_GET` reference on every page, user or kernel
//! ([`Retention::Referenced`]); they are released with `set_page_dirty_lock()` (if written)
//! and `release_pages()`.
// END pinio only
//!
//! C header: [`include/linux/uio.h`](srctree/include/linux/uio.h)
//!
//! [`ExtractedPages`]: super::batch::ExtractedPages
//! [`OwnedPages`]: super::owned::OwnedPages

use super::iter::Iter;
use crate::glue::shim;
use core::mem::MaybeUninit;
use kernel::{
    bindings,
    ffi::c_ulong,
    page::PAGE_SIZE,
    prelude::*, //
};

// BEGIN pinio only
/// How pages are taken from an iterator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `iov_iter_extract_pages()`: pinned (user memory) or listed (kernel pages).
    Extract,
    /// `iov_iter_get_pages2()`: a `FOLL_GET` reference on every page.
    Get,
}
// END pinio only

/// What is held on a taken page, and so how it is released.
///
/// # Examples
///
/// ```
/// use kernel::{
///     iov::{
///         batch::{ExtractedPages, PageSlots},
///         extract::Retention,
///         IovIterDest,
///     },
///     page::PAGE_SIZE,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, uapi};
/// # let len = 2 * PAGE_SIZE;
/// # // SAFETY: `kunit_get_current_test()` is the test running in this thread; `kunit_vm_mmap()`
/// # // maps anonymous memory into an mm it attaches to the thread, until the test ends.
/// # let addr = unsafe {
/// #     bindings::kunit_vm_mmap(
/// #         bindings::kunit_get_current_test(),
/// #         core::ptr::null_mut(),
/// #         0,
/// #         len,
/// #         (uapi::PROT_READ | uapi::PROT_WRITE) as usize,
/// #         (uapi::MAP_ANONYMOUS | uapi::MAP_PRIVATE) as usize,
/// #         0,
/// #     )
/// # };
/// # assert_ne!(addr, 0);
/// # let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// # // SAFETY: `raw` is valid for writing an iterator.
/// # kernel::error::to_result(unsafe {
/// #     bindings::import_ubuf(bindings::ITER_DEST as i32, addr as *mut _, len, raw.as_mut_ptr())
/// # })?;
/// # // SAFETY: `import_ubuf()` initialised it.
/// # let mut raw = unsafe { raw.assume_init() };
/// # // SAFETY: An iterator over user memory of this thread's mm, only used through `iter`.
/// # let iter = unsafe { IovIterDest::from_raw(&mut raw) };
///
/// // User memory is pinned, with `FOLL_WRITE` for a destination iterator.
/// let mut slots = PageSlots::new();
/// let batch = ExtractedPages::extract(iter, &mut slots, len)?;
/// assert_eq!(batch.retention(), Retention::Pinned);
/// assert_eq!(batch.len(), len);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Retention {
    /// One `FOLL_PIN` pin: released with `unpin_user_pages_dirty_lock()`.
    Pinned,
    /// Nothing: the iterator's owner keeps the page alive.
    Listed,
    // BEGIN pinio only
    /// One page reference (`FOLL_GET`): released with `put_page()` (`release_pages()`).
    Referenced,
    // END pinio only
}

/// What one release gave back, for whoever keeps statistics.
///
/// # Examples
///
/// ```
/// use kernel::iov::{
///     batch::{ExtractedPages, PageSlots},
///     extract::Retention,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::{bindings, iov::IovIterSource};
/// // A source iterator over two kernel buffers, of 100 and 200 bytes.
/// let mut buf = KVec::from_elem(0u8, 300, GFP_KERNEL)?;
/// let kvecs = [
///     bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: 100 },
///     bindings::kvec { iov_base: buf.as_mut_ptr().wrapping_add(100).cast(), iov_len: 200 },
/// ];
/// let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// // SAFETY: `kvecs` and the buffer they describe outlive the iterator.
/// unsafe {
///     bindings::iov_iter_kvec(raw.as_mut_ptr(), bindings::ITER_SOURCE, kvecs.as_ptr(), 2, 300)
/// };
/// // SAFETY: `iov_iter_kvec()` initialised it.
/// let mut raw = unsafe { raw.assume_init() };
/// // SAFETY: A source iterator over `buf`, only used through `iter` while `buf` lives.
/// let iter = unsafe { IovIterSource::from_raw(&mut raw) };
///
/// // Kernel buffers are listed: their owner keeps them alive, nothing is held on them.
/// let mut slots = PageSlots::new();
/// let batch = ExtractedPages::extract(iter, &mut slots, 300)?;
/// // One extraction takes one segment.
/// assert_eq!(batch.len(), 100);
/// let released = batch.release();
/// assert_eq!(released.retention, Retention::Listed);
/// assert!(released.pages >= 1);
/// assert!(!released.dirty);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub(crate) struct Released {
    /// How the pages were held.
    pub(crate) retention: Retention,
    /// Pages given back (listed pages count too, though nothing was held on them).
    pub(crate) pages: usize,
    /// Whether they were marked dirty first.
    pub(crate) dirty: bool,
}

/// Pages taken by one call of [`extract_pages`].
#[derive(Clone, Copy)]
pub(super) struct Taken {
    /// Offset of the first byte in the first page.
    pub(super) offset: usize,
    /// Bytes taken (> 0).
    pub(super) len: usize,
    /// Pages written into the slots: `(offset + len).div_ceil(PAGE_SIZE)`.
    pub(super) nr_pages: usize,
    /// What is held on them.
    pub(super) retention: Retention,
}

/// Takes the pages of up to `max_len` bytes from the front of `iter` into `slots`, advancing
/// the iterator: `iov_iter_extract_pages()`, which fills the array in place. At most one
/// contiguous segment and `slots.len()` pages are taken; on success the first
/// [`Taken::nr_pages`] slots are initialised with non-null pages, each holding what
/// [`Taken::retention`] says on behalf of the caller. The slots need no initialisation before.
///
/// Fails with `EFAULT` (or the error of the call) if no byte could be taken: memory not mapped,
/// not writable for a read, or not present while the iterator is `nofault`. May sleep.
pub(super) fn extract_pages<I: Iter>(
    iter: &mut I,
    slots: &mut [MaybeUninit<*mut bindings::page>],
    max_len: usize,
) -> Result<Taken> {
    let raw = iter.as_raw();
    let max_pages = u32::try_from(slots.len()).unwrap_or(u32::MAX);
    let mut list: *mut *mut bindings::page = slots.as_mut_ptr().cast();
    let mut offset = 0usize;
    // SAFETY: `raw` is the valid iterator borrowed from `iter`; this only reads it.
    let pinned = unsafe { shim::pinio_iov_iter_extract_will_pin(raw) };
    // SAFETY: `raw` is a valid iterator; `list` points to `max_pages` writable page pointer
    // slots (`MaybeUninit<T>` has `T`'s layout), which `iov_iter_extract_pages()` fills in
    // place without reading them (it allocates only when `*pages` is null, and `list` is not);
    // `offset` is a valid place for the offset into the first page. It may sleep (faulting
    // user pages in), which the caller allows.
    let ret = unsafe {
        bindings::iov_iter_extract_pages(raw, &mut list, max_len, max_pages, 0, &mut offset)
    };
    let retention = if pinned {
        Retention::Pinned
    } else {
        Retention::Listed
    };
    taken(ret, offset, retention)
}

/// What an extraction call that returned `ret` with `offset` into the first page took.
fn taken(ret: isize, offset: usize, retention: Retention) -> Result<Taken> {
    let len = match usize::try_from(ret) {
        Ok(0) => return Err(EFAULT),
        Ok(len) => len,
        Err(_) => {
            return Err(Error::from_errno(
                i32::try_from(ret).unwrap_or(EFAULT.to_errno()),
            ))
        }
    };
    Ok(Taken {
        offset,
        len,
        nr_pages: (offset + len).div_ceil(PAGE_SIZE),
        retention,
    })
}

// BEGIN pinio only
/// As [`extract_pages`], with `iov_iter_get_pages2()`: a `FOLL_GET` reference on every page
/// taken ([`Retention::Referenced`]), user or kernel.
pub(super) fn get_pages<I: Iter>(
    iter: &mut I,
    slots: &mut [MaybeUninit<*mut bindings::page>],
    max_len: usize,
) -> Result<Taken> {
    let raw = iter.as_raw();
    let max_pages = u32::try_from(slots.len()).unwrap_or(u32::MAX);
    let list: *mut *mut bindings::page = slots.as_mut_ptr().cast();
    let mut offset = 0usize;
    // SAFETY: As in `extract_pages()`, for `iov_iter_get_pages2()`, which takes a page
    // reference on every page it writes into `list` and never allocates the array.
    let ret = unsafe { bindings::iov_iter_get_pages2(raw, list, max_len, max_pages, &mut offset) };
    taken(ret, offset, Retention::Referenced)
}
// END pinio only

/// Gives back pages that [`extract_pages`] took, dirtying them first if `dirty`.
///
/// # Safety
///
/// Every page in `pages` holds what `retention` says on behalf of the caller, which gives it
/// up here: no page of `pages` may be used afterwards through this hold. `dirty` may be set
/// only for pages the device was allowed to write. Process context: the dirtying release
/// takes folio locks and may sleep.
pub(super) unsafe fn release_pages(
    pages: &mut [*mut bindings::page],
    retention: Retention,
    dirty: bool,
) -> Released {
    let nr = pages.len();
    match retention {
        Retention::Listed => {}
        // SAFETY: Each page holds one `FOLL_PIN` pin given up by the caller; this releases each
        // exactly once, dirtying it first if asked.
        Retention::Pinned => unsafe {
            bindings::unpin_user_pages_dirty_lock(pages.as_mut_ptr(), nr as c_ulong, dirty)
        },
        // BEGIN pinio only
        // SAFETY: Each page holds one reference given up by the caller; this drops each
        // exactly once, dirtying it first (under the page lock) if asked.
        Retention::Referenced => unsafe {
            shim::pinio_release_got_pages(pages.as_mut_ptr(), nr as c_ulong, dirty)
        },
        // END pinio only
    }
    Released {
        retention,
        pages: nr,
        dirty: dirty && retention != Retention::Listed,
    }
}
