// SPDX-License-Identifier: GPL-2.0

//! The `struct kiocb` of a `read_iter`/`write_iter` call, and the completion pinio owes for an
//! asynchronous one.
//!
//! A synchronous kiocb (`read(2)`, `preadv2(2)`, `kernel_read()`, splice: `ki_complete` is
//! NULL) must be answered before `read_iter` returns; its callers `BUG_ON(-EIOCBQUEUED)`. An
//! asynchronous one (io_uring, libaio) may be answered later: `read_iter` returns
//! `-EIOCBQUEUED` and pinio calls `ki_complete()` exactly once, from any context, after the
//! device finished with the pages ([`PendingIocb`]).

use crate::glue::shim;
use core::ptr::NonNull;
use kernel::{
    bindings,
    fs::Kiocb,
    prelude::*,
    types::ForeignOwnable, //
};

/// The kiocb of one `read_iter`/`write_iter` call on a file whose private data is `T`.
///
/// The kernel crate's [`Kiocb`] gives the position (`ki_pos`); this adds what a driver that
/// may answer later needs and `Kiocb` does not offer: `is_sync_kiocb()`, `IOCB_NOWAIT`, and the
/// hand-over of an asynchronous kiocb to whoever completes it ([`PendingIocb`]).
pub(crate) struct IoCb<'a, T> {
    kiocb: Kiocb<'a, T>,
}

impl<'a, T: ForeignOwnable> IoCb<'a, T> {
    /// Wraps the kiocb of a `read_iter`/`write_iter` call.
    ///
    /// # Safety
    ///
    /// The caller must be allowed to modify the kiocb for `'a`, and must return
    /// `-EIOCBQUEUED` from `read_iter`/`write_iter` if (and only if) a [`PendingIocb`] made of
    /// this value was handed to the engine (the kiocb is then completed by it, exactly once).
    pub(crate) unsafe fn new(kiocb: Kiocb<'a, T>) -> Self {
        Self { kiocb }
    }

    /// The file position (`ki_pos`), in bytes.
    pub(crate) fn pos(&self) -> i64 {
        self.kiocb.ki_pos()
    }

    /// Advances the file position (`ki_pos`) by `bytes`.
    pub(crate) fn advance(&mut self, bytes: usize) {
        let pos = self.kiocb.ki_pos_mut();
        *pos = pos.saturating_add(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Whether the caller waits for the answer (`is_sync_kiocb()`).
    pub(crate) fn is_sync(&self) -> bool {
        // SAFETY: `as_raw()` is a valid kiocb for `'a` (invariant of `Kiocb`); this only reads
        // it.
        unsafe { shim::pinio_is_sync_kiocb(self.kiocb.as_raw()) }
    }

    /// Whether the caller must not be put to sleep (`IOCB_NOWAIT`: `RWF_NOWAIT`, or io_uring's
    /// first, inline issue); the answer is then `EAGAIN` instead of waiting.
    pub(crate) fn nowait(&self) -> bool {
        // SAFETY: As in `is_sync()`.
        unsafe { shim::pinio_kiocb_nowait(self.kiocb.as_raw()) }
    }

    /// For an asynchronous kiocb, the obligation to complete it later; `None` for a
    /// synchronous one.
    pub(crate) fn into_pending(self) -> Option<PendingIocb> {
        if self.is_sync() {
            return None;
        }
        // INVARIANT: The kiocb is asynchronous; its submitter keeps it valid until
        // `ki_complete()`, which only `PendingIocb::complete()` calls, once (the `IoCb` is
        // consumed, and `new`'s caller returns `-EIOCBQUEUED` iff this value reached the
        // engine).
        Some(PendingIocb {
            ptr: NonNull::new(self.kiocb.as_raw())?,
        })
    }
}

/// An asynchronous kiocb that pinio has to complete.
///
/// Dropping it without completing is correct only before `-EIOCBQUEUED` was returned for it
/// (the submission failed and its error is returned instead); the engine always completes it.
///
/// # Invariants
///
/// `ptr` points to an asynchronous `struct kiocb` (`ki_complete` set) that its submitter
/// (aio, io_uring) keeps valid until `ki_complete()` is called, and on which nothing else
/// calls it.
pub(crate) struct PendingIocb {
    ptr: NonNull<bindings::kiocb>,
}

// SAFETY: The kiocb is owned by its submitter until completion, not by a thread; `ki_complete()`
// may be called from any context (aio takes an irqsave lock, io_uring queues task work).
unsafe impl Send for PendingIocb {}

impl PendingIocb {
    /// Completes the request: on success advances `ki_pos` by the bytes moved, then calls
    /// `ki_complete()` with the byte count or the negative errno, as the block layer's direct
    /// I/O completion does (`blkdev_bio_end_io_async()`).
    pub(crate) fn complete(self, result: Result<usize>) {
        let ret = match result {
            Ok(done) => isize::try_from(done).unwrap_or(isize::MAX),
            Err(err) => err.to_errno() as isize,
        };
        let iocb = self.ptr.as_ptr();
        // SAFETY: The kiocb is valid until `ki_complete()` (type invariant), which is called
        // here exactly once (`self` is consumed) and nothing touches it afterwards.
        unsafe {
            if ret > 0 {
                (*iocb).ki_pos = (*iocb).ki_pos.saturating_add(ret as i64);
            }
            shim::pinio_ki_complete(iocb, ret as kernel::ffi::c_long);
        }
    }
}
