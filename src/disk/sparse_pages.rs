// SPDX-License-Identifier: GPL-2.0

//! The store's pages, kept the way brd keeps a ramdisk's (`drivers/block/brd.c`): an xarray
//! indexed by page number, a page inserted the first time it is needed and never removed or
//! replaced until the array goes.
//!
//! `kernel::xarray::XArray` is not used: its `Guard::store()` replaces the entry it finds and
//! may drop the lock to allocate, so two first writes of one page could each install a page and
//! one writer's bytes would be lost (brd inserts with `__xa_cmpxchg()` for exactly this race);
//! its lookups take the xarray's spinlock, where brd's take only the RCU read lock; and a
//! `struct page` would have to be boxed to become `ForeignOwnable`. This type is the small part
//! of that API the store needs, over the same C functions.

use crate::{
    glue::shim,
    pages::view::PageMut, //
};
use core::ptr::{
    null_mut,
    NonNull, //
};
use kernel::{
    bindings,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque, //
};

/// Allocation flags of [`SparsePages::get_or_insert`] (`gfp_t`): of the xarray node as they
/// are, of the page with `__GFP_ZERO | __GFP_HIGHMEM` added, as `brd_insert_page()` does.
#[derive(Clone, Copy)]
pub(crate) struct Gfp(bindings::gfp_t);

impl Gfp {
    /// `GFP_NOIO`, as brd allocates a page for a write (`brd_insert_page()`), plus
    /// `__GFP_NORETRY`: the allocation reclaims what it can once and then fails instead of
    /// looping (for an allocation without `__GFP_FS`, `out_of_memory()` kills nothing but
    /// reports progress, so brd's write waits until memory is freed), and `__GFP_NOWARN`: the
    /// failure is the writer's to report. Sleeps: process context only.
    pub(crate) const MAY_SLEEP: Self = Self(shim::PINIO_GFP_STORE);
    /// `GFP_NOWAIT`, as brd allocates under `REQ_NOWAIT` (`IOCB_NOWAIT`): never sleeps.
    pub(crate) const NOWAIT: Self = Self(shim::PINIO_GFP_STORE_NOWAIT);
}

/// An xarray of zeroed pages that it owns, indexed by page number.
///
/// # Invariants
///
/// `xa` is an initialised xarray. Every entry in it is a `struct page *` allocated with
/// `alloc_pages(.., 0)` and owned by this value; an entry is never removed or replaced until
/// [`PinnedDrop`] frees them all. `count` is the number of entries.
#[pin_data(PinnedDrop)]
pub(crate) struct SparsePages {
    #[pin]
    xa: Opaque<bindings::xarray>,
    count: Atomic<u64>,
}

// SAFETY: The xarray and its pages may be used and freed from any thread.
unsafe impl Send for SparsePages {}

// SAFETY: `&self` methods look entries up under RCU (`xa_load()`) and insert them under the
// xarray's own lock (`xa_cmpxchg()`); both may run concurrently from any threads.
unsafe impl Sync for SparsePages {}

impl SparsePages {
    /// An empty array (`xa_init_flags(.., 0)`); allocates nothing.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `xa_init_flags()` initialises the xarray in place and cannot fail.
            // INVARIANT: An initialised, empty xarray.
            xa <- Opaque::ffi_init(|xa| unsafe { bindings::xa_init_flags(xa, 0) }),
            count: Atomic::new(0),
        })
    }

    /// Pages inserted so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The page at `index`, if there is one (`xa_load()`: no lock, no allocation; the RCU
    /// read lock is taken inside). The device may write into it.
    pub(crate) fn get(&self, index: usize) -> Option<PageMut<'_>> {
        // SAFETY: `xa` is initialised (type invariant); `xa_load()` may be called from any
        // context and takes the RCU read lock itself.
        let entry = unsafe { bindings::xa_load(self.xa.get(), index) };
        let page = NonNull::new(entry.cast::<bindings::page>())?;
        // SAFETY: Every entry is a page owned by `self` and neither removed nor freed before
        // `self` is dropped (type invariant), so it stays allocated while `self` is borrowed.
        // The pages are the device's own memory, which it may write.
        Some(unsafe { PageMut::from_raw(page) })
    }

    /// The page at `index`, after inserting a zeroed page allocated with `gfp` if there is
    /// none, as `brd_insert_page()` does: when another thread inserts one first, that page is
    /// returned and ours is freed.
    ///
    /// Errors: `ENOMEM` if the page or an xarray node cannot be allocated (nothing inserted).
    /// Sleeps if `gfp` allows.
    pub(crate) fn get_or_insert(&self, index: usize, gfp: Gfp) -> Result<PageMut<'_>> {
        if let Some(page) = self.get(index) {
            return Ok(page);
        }
        // As `brd_insert_page()`: the page zeroed and possibly highmem, the xarray node plain.
        // SAFETY: An order-0 allocation; `gfp` sleeps only with `Gfp::MAY_SLEEP`, whose users
        // are in process context (documented above).
        let new = unsafe { bindings::alloc_pages(gfp.0 | shim::PINIO_GFP_STORE_PAGE, 0) };
        let new = NonNull::new(new).ok_or(ENOMEM)?;
        // SAFETY: `xa` is initialised (type invariant). `new` is a `struct page` pointer, so
        // aligned to more than 4 bytes: a valid xarray entry, not an internal one. The xarray
        // takes its own lock and may allocate a node with `gfp`.
        let old = unsafe {
            shim::pinio_xa_cmpxchg(self.xa.get(), index, null_mut(), new.as_ptr().cast(), gfp.0)
        };
        if old.is_null() {
            // INVARIANT: `new` is now an entry, owned by `self`, counted.
            self.count.fetch_add(1, Relaxed);
            // SAFETY: As in `get`: an entry of `self`, kept until `self` is dropped.
            return Ok(unsafe { PageMut::from_raw(new) });
        }
        // SAFETY: `new` was not inserted and is still ours; nobody else has seen it.
        unsafe { bindings::__free_pages(new.as_ptr(), 0) };
        // SAFETY: `xa_err()` only decodes the returned entry.
        let err = unsafe { bindings::xa_err(old) };
        if err != 0 {
            return Err(Error::from_errno(err));
        }
        let page = NonNull::new(old.cast::<bindings::page>()).ok_or(ENOMEM)?;
        // SAFETY: `old` is the entry another thread inserted first: a page of `self`, kept
        // until `self` is dropped.
        Ok(unsafe { PageMut::from_raw(page) })
    }
}

#[pinned_drop]
impl PinnedDrop for SparsePages {
    fn drop(self: Pin<&mut Self>) {
        let xa = self.xa.get();
        let mut index = 0;
        // SAFETY: `xa` is initialised (type invariant); `xa_find()` takes the RCU read lock.
        let mut entry =
            unsafe { bindings::xa_find(xa, &mut index, usize::MAX, bindings::XA_PRESENT) };
        while !entry.is_null() {
            // SAFETY: Every entry is a page allocated with `alloc_pages(.., 0)` and owned by
            // `self` (type invariant); `self` is going and no borrow of it, and so of its
            // pages, is left. The xarray no longer holds it once `xa_destroy()` runs below,
            // and nothing looks it up in between.
            unsafe { bindings::__free_pages(entry.cast(), 0) };
            // SAFETY: Dropping runs in process context (the device goes at module exit, on a
            // file's release or in the engine's work item), as `brd_free_pages()` does: with
            // tens of thousands of pages, give the CPU up between them.
            unsafe { shim::pinio_cond_resched() };
            // SAFETY: As for `xa_find()`.
            entry = unsafe {
                bindings::xa_find_after(xa, &mut index, usize::MAX, bindings::XA_PRESENT)
            };
        }
        // SAFETY: `xa` is initialised and not used after this; `xa_destroy()` frees its nodes
        // (the pages were freed above).
        unsafe { bindings::xa_destroy(xa) };
    }
}
