// SPDX-License-Identifier: GPL-2.0

//! Pin control: user ranges an open file holds by `PINIO_IOC_PIN` until `PINIO_IOC_UNPIN` or
//! its last close, and what long-term pins are charged.
//!
//! [`table`] maps a file's handles to its ranges (the pages layer's [`HeldPages`], with the
//! device's access in the type) and serves `UNPIN`, `QUERY`, `DUMP` and `DMA` on them;
//! [`accounting`] charges long-term pins to the pinning process's `pinned_vm` against
//! `RLIMIT_MEMLOCK`, as io_uring and RDMA do.
//!
//! [`HeldPages`]: crate::pages::gup::HeldPages

pub(crate) mod accounting;
pub(crate) mod table;
pub(crate) mod why;
