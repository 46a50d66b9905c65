// SPDX-License-Identifier: GPL-2.0

//! Charging long-term pins to `mm->pinned_vm`, as io_uring does for registered buffers and
//! RDMA for memory regions.
//!
//! A long-term pin is charged to the pinning process's `pinned_vm` (what `VmPin` in
//! `/proc/<pid>/status` shows) and, for tasks without `CAP_IPC_LOCK`, checked against
//! `RLIMIT_MEMLOCK` (`ENOMEM` over the limit). Charges are per folio and per open file: a folio
//! is charged its whole size once, however many of its pages and however many handles of the
//! file pin it, and uncharged when the last of those is released. The `mm` is kept with
//! `mmgrab()`, so a file closed by another process, or after the pinner exited, still uncharges
//! the right counter.

use crate::glue::shim;
use kernel::{
    bindings,
    mm::Mm,
    page::PAGE_SHIFT,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNode, //
    },
    sync::aref::ARef, //
};

/// A folio of a pinned range: its identity (address, never dereferenced) and size in pages.
#[derive(Clone, Copy)]
pub(crate) struct FolioCharge {
    pub(crate) folio: usize,
    pub(crate) pages: usize,
}

/// A long-term charge that did not fit under `RLIMIT_MEMLOCK`: what it would have charged, and
/// against what (the `PINIO_IOC_WHY` answer to a memlock `ENOMEM`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal {
    /// Pages it would have charged: each folio not yet charged by the account, whole.
    pub(crate) pages: usize,
    /// Those folios.
    pub(crate) folios: usize,
    /// `RLIMIT_MEMLOCK` of the current task, in pages (`usize::MAX`: unlimited).
    pub(crate) limit: usize,
    /// `mm->pinned_vm` before the charge, in pages.
    pub(crate) pinned_vm: u64,
}

/// Why [`MmAccount::charge`] charged nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ChargeError {
    /// The records of the charge could not be allocated.
    NoMemory,
    /// Over `RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`.
    OverLimit(Refusal),
}

impl From<ChargeError> for Error {
    fn from(_: ChargeError) -> Error {
        ENOMEM
    }
}

impl From<kernel::alloc::AllocError> for ChargeError {
    fn from(_: kernel::alloc::AllocError) -> ChargeError {
        ChargeError::NoMemory
    }
}

/// `RBTreeNode::new()`'s error, which is only ever `ENOMEM`.
impl From<Error> for ChargeError {
    fn from(_: Error) -> ChargeError {
        ChargeError::NoMemory
    }
}

/// The long-term pins of one open file charged to one `mm`.
///
/// # Invariants
///
/// `charged` is the sum of the sizes of the folios in `folios`, and exactly that many pages
/// are added to `mm->pinned_vm` on behalf of this account.
pub(crate) struct MmAccount {
    mm: ARef<Mm>,
    /// Folio -> (number of charges referring to it, its size in pages).
    folios: RBTree<usize, (usize, usize)>,
    charged: usize,
}

impl MmAccount {
    /// An empty account for `mm`.
    pub(crate) fn new(mm: ARef<Mm>) -> Self {
        Self {
            mm,
            folios: RBTree::new(),
            charged: 0,
        }
    }

    /// Whether this account is for `mm`.
    pub(crate) fn is_for(&self, mm: &Mm) -> bool {
        core::ptr::eq(self.mm.as_raw(), mm.as_raw())
    }

    /// Charges `folios` (distinct), counting only folios not already charged. Fails, charging
    /// nothing, with [`ChargeError::OverLimit`] if the current task lacks `CAP_IPC_LOCK` and
    /// `pinned_vm` would exceed `RLIMIT_MEMLOCK`, or [`ChargeError::NoMemory`] (both `ENOMEM`).
    /// Returns the pages newly charged.
    pub(crate) fn charge(&mut self, folios: &[FolioCharge]) -> Result<usize, ChargeError> {
        // Allocate the tree nodes first, so nothing can fail after `pinned_vm` moved.
        let mut new_nodes = KVec::new();
        let mut new_pages = 0usize;
        for f in folios {
            if self.folios.get(&f.folio).is_none() {
                new_pages = new_pages
                    .checked_add(f.pages)
                    .ok_or(ChargeError::NoMemory)?;
                new_nodes.push(
                    RBTreeNode::new(f.folio, (0, f.pages), GFP_KERNEL)?,
                    GFP_KERNEL,
                )?;
            }
        }
        let delta = i64::try_from(new_pages).map_err(|_| ChargeError::NoMemory)?;
        if delta != 0 {
            // SAFETY: `mm` is kept alive by `mmgrab()` (the `ARef`); the counter is atomic.
            let total = unsafe { shim::pinio_mm_pinned_vm_add(self.mm.as_raw(), delta) };
            // SAFETY: `rlimit()` reads the current task's `RLIMIT_MEMLOCK` from its signal
            // struct, which lives as long as the task; we are in process context (an ioctl).
            let limit = unsafe { shim::pinio_rlimit_memlock_pages() };
            let over = u64::try_from(total).unwrap_or(u64::MAX) > limit as u64;
            // Only over the limit is the capability asked for, as `do_mlock()` does:
            // `capable()` is not a plain read.
            // SAFETY: `capable()` is called in process context (an ioctl), for the current
            // task, with a valid capability number. It asks the LSMs whether the task's
            // effective credentials hold `CAP_IPC_LOCK` in the initial user namespace; a
            // denial may be audited, and a grant marks the task as having used a privilege
            // (`PF_SUPERPRIV`). It keeps no reference to anything of ours.
            if over && !unsafe { bindings::capable(bindings::CAP_IPC_LOCK as i32) } {
                // SAFETY: As above; this undoes the addition.
                unsafe { shim::pinio_mm_pinned_vm_add(self.mm.as_raw(), -delta) };
                return Err(ChargeError::OverLimit(Refusal {
                    pages: new_pages,
                    folios: new_nodes.len(),
                    // `RLIM_INFINITY` is `ULONG_MAX`, shifted like any other limit.
                    limit: if limit as usize == usize::MAX >> PAGE_SHIFT {
                        usize::MAX
                    } else {
                        limit as usize
                    },
                    pinned_vm: u64::try_from(total - delta).unwrap_or(0),
                }));
            }
        }
        for node in new_nodes {
            self.folios.insert(node);
        }
        for f in folios {
            if let Some((refs, _)) = self.folios.get_mut(&f.folio) {
                *refs += 1;
            }
        }
        // INVARIANT: The new folios and their pages were added to `pinned_vm` above.
        self.charged += new_pages;
        Ok(new_pages)
    }

    /// Drops one charge of each of `folios` (as passed to [`MmAccount::charge`]); folios left
    /// without charges are uncharged from `pinned_vm`.
    pub(crate) fn uncharge(&mut self, folios: &[FolioCharge]) {
        let mut freed = 0usize;
        for f in folios {
            let Some((refs, pages)) = self.folios.get_mut(&f.folio) else {
                continue;
            };
            *refs = refs.saturating_sub(1);
            if *refs == 0 {
                freed += *pages;
                self.folios.remove(&f.folio);
            }
        }
        self.sub(freed);
    }

    fn sub(&mut self, pages: usize) {
        let pages = pages.min(self.charged);
        if pages != 0 {
            // SAFETY: `mm` is kept alive by `mmgrab()`; this takes back pages this account added.
            unsafe { shim::pinio_mm_pinned_vm_add(self.mm.as_raw(), -(pages as i64)) };
            // INVARIANT: `pinned_vm` and `charged` drop by the same amount.
            self.charged -= pages;
        }
    }
}

impl Drop for MmAccount {
    fn drop(&mut self) {
        self.sub(self.charged);
    }
}
