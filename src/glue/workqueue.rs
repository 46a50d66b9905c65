// SPDX-License-Identifier: GPL-2.0

//! A workqueue of the module's own (`alloc_workqueue()`, `destroy_workqueue()`).
//!
//! The kernel crate queues work on the system workqueues and on a `Queue` it is handed, but
//! cannot allocate, drain or destroy one; a module whose work items run its code must drain
//! them before its text goes, so pinio owns one.

use crate::glue::shim;
use core::ptr::NonNull;
use kernel::{
    bindings,
    prelude::*,
    workqueue::Queue, //
};

/// A per-CPU workqueue allocated by this module.
///
/// # Invariants
///
/// `wq` was returned by `alloc_workqueue()` and is destroyed only by [`Drop`].
pub(crate) struct OwnedQueue {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: Queueing work is thread-safe.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// Allocates the per-CPU workqueue `name` (`alloc_workqueue(name, WQ_PERCPU, 0)`: a work
    /// item runs on the CPU that queued it, without a cross-CPU wakeup). `ENOMEM` if it cannot.
    /// May sleep.
    pub(crate) fn new(name: &'static CStr) -> Result<Self> {
        // SAFETY: The name is a NUL-terminated static string; this may sleep (the callers are
        // in module init).
        let wq = unsafe { shim::pinio_alloc_workqueue(name.as_char_ptr()) };
        // INVARIANT: Just allocated; destroyed only by `Drop`.
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
        })
    }

    /// A handle to queue work on, for holders that cannot borrow `self`.
    ///
    /// # Safety
    ///
    /// The handle must not be used once `self` is dropped.
    pub(crate) unsafe fn handle(&self) -> QueueRef {
        // INVARIANT: Guaranteed by the caller.
        QueueRef { wq: self.wq }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: `wq` is a live workqueue (type invariant) destroyed exactly once, here, in
        // process context. `destroy_workqueue()` first drains it: every queued or running work
        // item finishes (and so the module text it runs stays) before the queue goes.
        unsafe { bindings::destroy_workqueue(self.wq.as_ptr()) };
    }
}

/// A handle to an [`OwnedQueue`].
///
/// # Invariants
///
/// `wq` is a live workqueue whenever the handle is used (see [`OwnedQueue::handle`]).
#[derive(Clone, Copy)]
pub(crate) struct QueueRef {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A workqueue may be used from any thread.
unsafe impl Send for QueueRef {}
// SAFETY: As above.
unsafe impl Sync for QueueRef {}

impl QueueRef {
    /// The queue, to enqueue work items on.
    pub(crate) fn queue(&self) -> &Queue {
        // SAFETY: `wq` is live while the handle is used (type invariant).
        unsafe { Queue::from_raw(self.wq.as_ptr()) }
    }
}
