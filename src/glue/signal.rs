// SPDX-License-Identifier: GPL-2.0

//! Questions about the current task.

use crate::glue::shim;

/// Whether the current task has a fatal signal pending (it is being killed):
/// `fatal_signal_pending(current)`.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: `current` is always a valid task in process context; this only reads its signal
    // state.
    unsafe { shim::pinio_fatal_signal_pending() }
}
