// SPDX-License-Identifier: GPL-2.0

//! Event counters, shown in debugfs (`/sys/kernel/debug/pinio/counters`) so that tests can
//! prove which path ran: bytes through pinned user pages vs listed kernel pages, extractions,
//! pins taken and released.

use crate::pages::{
    extract::{
        Released,
        Retention, //
    },
    iter::IterKind,
};
use core::fmt;
use kernel::{
    sync::atomic::{
        Atomic,
        Relaxed, //
    }, //
};

/// Declares [`Counters`] with one relaxed atomic per name, and its debugfs text form.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Monotonic event counters of one pinio device.
        pub(crate) struct Counters {
            $($(#[$doc])* pub(crate) $name: Atomic<u64>,)*
        }

        impl Counters {
            /// All zero.
            pub(crate) const fn new() -> Self {
                Self { $($name: Atomic::new(0),)* }
            }
        }

        impl fmt::Debug for Counters {
            /// One `name value` line per counter: the debugfs file's format.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $(writeln!(f, "{} {}", stringify!($name), self.$name.load(Relaxed))?;)*
                Ok(())
            }
        }
    };
}

counters! {
    /// `read_iter` calls.
    reads,
    /// `write_iter` calls.
    writes,
    /// `iov_iter_extract_pages()` calls by the data path.
    extract_calls,
    /// Pages the data path pinned (user-backed iterators).
    pages_pinned,
    /// Pinned pages the data path released (with `unpin_user_pages_dirty_lock()`).
    pages_unpinned,
    /// Of those, pages released dirty because the device wrote into them.
    pages_dirtied,
    /// Kernel pages the data path only listed (BVEC/KVEC iterators), taking no reference.
    pages_listed,
    /// Of `extract_calls`, those on an `ITER_UBUF` iterator (one user buffer).
    extract_ubuf,
    /// ... on an `ITER_IOVEC` iterator (a vector of user buffers).
    extract_iovec,
    /// ... on an `ITER_BVEC` iterator (pages: splice, io_uring registered buffers).
    extract_bvec,
    /// ... on an `ITER_KVEC` iterator (kernel buffers: `kernel_read()`/`kernel_write()`).
    extract_kvec,
    /// ... on an `ITER_XARRAY` iterator (folios of an xarray, e.g. a page cache).
    extract_xarray,
    /// ... on an `ITER_FOLIOQ` iterator (a folio queue, as netfs builds).
    extract_folioq,
    /// Pages the data path took a `FOLL_GET` reference on (`PINIO_CONFIG_GET_PAGES`).
    pages_got,
    /// Of those, pages released with `put_page()`.
    pages_put,
    /// Bytes moved through pinned user pages.
    bytes_pinned,
    /// Bytes moved through listed kernel pages.
    bytes_listed,
    /// Bytes moved through referenced (`FOLL_GET`) pages.
    bytes_got,
    /// Asynchronous requests queued (`-EIOCBQUEUED` returned).
    async_queued,
    /// Asynchronous requests completed (`ki_complete()` called).
    async_completed,
    /// Asynchronous requests served in the submitter's context and answered with their byte
    /// count at once: no service time, room in the queue, nothing earlier to complete after
    /// (no hand-off, no `-EIOCBQUEUED`, no `ki_complete()` by pinio).
    async_inline,
    /// `read_iter`/`write_iter` calls answered `EAGAIN` under `IOCB_NOWAIT`.
    nowait_eagain,
    /// `read_iter`/`write_iter` calls on block/fops.c's multi-bio path (more than 256 pages).
    multi_bio,
    /// Calls whose answer was replayed before anything moved (a buffer segment that may be
    /// misaligned, or `IOCB_NOWAIT` on the multi-bio path).
    replays,
    /// Scatterlists mapped for the DMA device (`dma_map_sg()` calls that succeeded).
    dma_maps,
    /// DMA segments those mappings returned (contiguous pages merged into one).
    dma_segments,
    /// Bytes of those segments that swiotlb bounced (the DMA address is a bounce slot),
    /// counted per segment when the device resolves its address to start on it.
    dma_bounced_bytes,
    /// Mappings that failed, failing their transfer: `ENOMEM` (they can never succeed),
    /// `EAGAIN` (no bounce slot free under `IOCB_NOWAIT`) or `EINTR` (killed while waiting).
    dma_map_errors,
    /// Pauses of mappings that found no free bounce slot and were tried again (as the block
    /// layer requeues on `BLK_STS_RESOURCE`).
    dma_map_waits,
    /// Mappings `PINIO_IOC_DMA` kept instead of unmapping them (`PINIO_DMA_KEEP_MAPPING`, the
    /// `dma_leak_experiment=1` experiment).
    dma_maps_kept,
    /// Of those, mappings unmapped by `PINIO_IOC_UNPIN` or the last close.
    dma_kept_unmapped,
    /// Asynchronous requests queued while another request of their file in flight covered a
    /// cache line of the same page, one of the two a device write (`DMA_FROM_DEVICE`): counted
    /// once per request queued.
    dma_overlaps,
    /// Successful `PINIO_IOC_PIN` calls.
    ioctl_pins,
    /// Handles released, by `PINIO_IOC_UNPIN` or on close.
    ioctl_unpins,
    /// Pages held by `PINIO_IOC_PIN` handles: taken.
    ioctl_pages_held,
    /// Pages held by `PINIO_IOC_PIN` handles: released.
    ioctl_pages_released,
    /// Bytes moved by `PINIO_IOC_DMA`.
    ioctl_dma_bytes,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &Atomic<u64>, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    /// One extraction call on an iterator of `kind`, whether it took anything or not.
    pub(crate) fn extraction(&self, kind: IterKind) {
        self.extractions(kind, 1);
    }

    /// `n` extraction calls on an iterator of `kind`.
    pub(crate) fn extractions(&self, kind: IterKind, n: usize) {
        Self::add(&self.extract_calls, n);
        let by_kind = match kind {
            IterKind::Ubuf => &self.extract_ubuf,
            IterKind::Iovec => &self.extract_iovec,
            IterKind::Bvec => &self.extract_bvec,
            IterKind::Kvec => &self.extract_kvec,
            IterKind::Xarray => &self.extract_xarray,
            IterKind::Folioq => &self.extract_folioq,
            IterKind::Other => return,
        };
        Self::add(by_kind, n);
    }

    /// `pages` pages taken by the data path, held as `retention`.
    pub(crate) fn taken(&self, retention: Retention, pages: usize) {
        let counter = match retention {
            Retention::Pinned => &self.pages_pinned,
            Retention::Listed => &self.pages_listed,
            Retention::Referenced => &self.pages_got,
        };
        Self::add(counter, pages);
    }

    /// Pages the data path gave back.
    pub(crate) fn released(&self, released: Released) {
        match released.retention {
            Retention::Pinned => Self::add(&self.pages_unpinned, released.pages),
            Retention::Referenced => Self::add(&self.pages_put, released.pages),
            Retention::Listed => return,
        }
        if released.dirty {
            Self::add(&self.pages_dirtied, released.pages);
        }
    }

    /// `bytes` moved by the data path through pages held as `retention`.
    pub(crate) fn moved(&self, retention: Retention, bytes: usize) {
        let counter = match retention {
            Retention::Pinned => &self.bytes_pinned,
            Retention::Listed => &self.bytes_listed,
            Retention::Referenced => &self.bytes_got,
        };
        Self::add(counter, bytes);
    }
}
