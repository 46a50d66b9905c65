// SPDX-License-Identifier: GPL-2.0

//! The `struct kiocb` of a `read_iter`/`write_iter` call, and the completion pinio owes for an
//! asynchronous one.
//!
//! A synchronous kiocb (`read(2)`, `preadv2(2)`, `kernel_read()`, splice: `ki_complete` is
//! NULL) must be answered before `read_iter` returns; its callers `BUG_ON(-EIOCBQUEUED)`. An
//! asynchronous one (io_uring, libaio) may be answered later: `read_iter` returns
//! `-EIOCBQUEUED` and pinio calls `ki_complete()` exactly once, from any context, after the
//! device finished with the pages ([`PendingIocb`]).

use crate::shim;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    prelude::*, //
};

/// The kiocb of one `read_iter`/`write_iter` call.
///
/// # Invariants
///
/// `ptr` points to a valid `struct kiocb` for `'a`, which this value may modify.
pub(crate) struct IoCb<'a> {
    ptr: NonNull<bindings::kiocb>,
    _call: PhantomData<&'a mut bindings::kiocb>,
}

impl<'a> IoCb<'a> {
    /// Wraps the kiocb of a `read_iter`/`write_iter` call.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct kiocb` that the caller may modify for `'a`, and the
    /// caller must return `-EIOCBQUEUED` from `read_iter`/`write_iter` if (and only if) a
    /// [`PendingIocb`] made of this value was handed to the engine (the kiocb is then completed
    /// by it, exactly once).
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::kiocb) -> Option<Self> {
        // INVARIANT: Guaranteed by the caller.
        Some(Self {
            ptr: NonNull::new(ptr)?,
            _call: PhantomData,
        })
    }

    /// The file position (`ki_pos`), in bytes.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: The kiocb is valid for `'a` (type invariant).
        unsafe { (*self.ptr.as_ptr()).ki_pos }
    }

    /// Sets the file position (`ki_pos`).
    pub(crate) fn set_pos(&mut self, pos: i64) {
        // SAFETY: The kiocb is valid and may be modified for `'a` (type invariant).
        unsafe { (*self.ptr.as_ptr()).ki_pos = pos };
    }

    /// Whether the caller waits for the answer (`is_sync_kiocb()`).
    pub(crate) fn is_sync(&self) -> bool {
        // SAFETY: The kiocb is valid for `'a` (type invariant); this only reads it.
        unsafe { shim::pinio_is_sync_kiocb(self.ptr.as_ptr()) }
    }

    /// Whether the caller must not be put to sleep (`IOCB_NOWAIT`: `RWF_NOWAIT`, or io_uring's
    /// first, inline issue); the answer is then `EAGAIN` instead of waiting.
    pub(crate) fn nowait(&self) -> bool {
        // SAFETY: The kiocb is valid for `'a` (type invariant); this only reads it.
        unsafe { shim::pinio_kiocb_nowait(self.ptr.as_ptr()) }
    }

    /// For an asynchronous kiocb, the obligation to complete it later; `None` for a
    /// synchronous one.
    pub(crate) fn into_pending(self) -> Option<PendingIocb> {
        if self.is_sync() {
            return None;
        }
        // INVARIANT: The kiocb is asynchronous; its submitter keeps it valid until
        // `ki_complete()`, which only `PendingIocb::complete()` calls, once (the `IoCb` is
        // consumed, and `from_raw`'s caller returns `-EIOCBQUEUED` iff this value reached the
        // engine).
        Some(PendingIocb { ptr: self.ptr })
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

/// `err` as an asynchronous direct I/O on a block device reports it: through the bio's
/// `blk_status_t` (`blk_status_to_errno(errno_to_blk_status(err))`), which has no code for most
/// errnos (`EFAULT`, `EINTR`, ...: they become `EIO`).
pub(crate) fn through_blk_status(err: Error) -> Error {
    // SAFETY: Both functions only look up a static table; any errno is a valid argument, and
    // `errno_to_blk_status()` returns only statuses the table holds.
    let errno =
        unsafe { bindings::blk_status_to_errno(bindings::errno_to_blk_status(err.to_errno())) };
    // Every errno in the table is a valid negative errno.
    Error::from_errno(errno)
}
