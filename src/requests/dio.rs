// SPDX-License-Identifier: GPL-2.0

//! The block layer's direct I/O rules (`block/fops.c`), as pure functions of a request's shape.
//!
//! `blkdev_direct_IO()` serves a request in one of two ways, and what a program gets back
//! depends on which one:
//!
//! - **one bio** (`__blkdev_direct_IO_simple()` for a synchronous kiocb,
//!   `__blkdev_direct_IO_async()` for an asynchronous one) when the iterator spans at most
//!   [`BIO_MAX_VECS`] pages as `bio_iov_vecs_to_alloc()` counts them (`iov_iter_npages()`: each
//!   segment's pages on their own, so 300 segments of 512 bytes packed into 38 pages count 300;
//!   empty segments count nothing; a BVEC iterator counts 0, its bvecs are used as they are);
//! - **bio after bio** (`__blkdev_direct_IO()`) above that.
//!
//! A bio is filled by `bio_iov_iter_get_pages()`: extraction after extraction
//! (`iov_iter_extract_bvecs()`), each from one segment and of at most as many pages as the bio
//! has bvecs left, each first checking the alignment of the segment the iterator points at (its
//! address and all its remaining length). Pages of one folio that follow each other in one
//! extraction share a bvec, so large folios let a bio hold more than 256 pages. A bio is full at
//! 256 bvecs; it is then cut down to a multiple of the block size (the cut bytes go back to the
//! iterator for the next bio). What follows from that, and what [`replay`] reproduces step by
//! step over a [`Source`]:
//!
//! - a misaligned segment fails the bio being filled with `EINVAL` (its pages are released
//!   unused): on the one-bio path nothing moves; on the multi-bio path the bios before it were
//!   submitted, so their bytes moved and the call still fails with `EINVAL`;
//! - memory that cannot be taken ends the bio being filled: on the one-bio path the bio goes out
//!   short (a short count; a synchronous call then copies, through the page cache, up to the
//!   first byte it cannot access, which is where pinning stopped); on the multi-bio path the next
//!   extraction fails and the whole call fails with that error (`EFAULT`) after the bytes before
//!   the fault moved; an error before anything was taken is returned as such;
//! - `IOCB_NOWAIT` on the multi-bio path: `EAGAIN`, before anything moves, as soon as the first
//!   bio does not hold the whole request (errors found while filling it come first);
//! - an asynchronous request on the multi-bio path reports every error through its completion,
//!   converted through a `blk_status_t` (`EFAULT` becomes `EIO`; on some kernel series every
//!   error does, [`crate::glue::compat::bio_fill_error`]), after the bytes of the bios before it
//!   moved; on the one-bio path errors are returned at once and a short bio completes with its
//!   (block-aligned) count.
//!
//! Nothing here touches memory or the iterator itself: the caller runs [`replay`] over its
//! iterator (taking and releasing pages, copying nothing) when the outcome depends on more than
//! the first fault ([`Plan::needs_replay`]), then moves [`Settled::moved`] bytes. When every
//! check passes anyway, a transfer may move data as it goes, and [`Plan::end_at`] turns where it
//! stopped into the same answer.

use crate::{
    glue::shim,
    pages::view::PageRef, //
};
use kernel::{
    bindings,
    page::PAGE_SIZE,
    prelude::*, //
};

/// A page's identity as the block layer merges pages into bvecs: its folio and its
/// `struct page`, as addresses (never dereferenced).
///
/// It stays here, with the block layer's rules, rather than with the page views: a folio
/// identity is what `bio_iov_iter_get_pages()` merges by, not something a page's borrower needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PageKey {
    /// The folio holding the page (`page_folio()`).
    pub(crate) folio: usize,
    /// The page's `struct page`.
    pub(crate) page: usize,
    /// The `struct page` after it (`page + 1` in C).
    pub(crate) next: usize,
}

impl PageKey {
    /// The identity of `page`, as `iov_iter_extract_bvecs()` merges pages into bvecs.
    pub(crate) fn of(page: PageRef<'_>) -> Self {
        // SAFETY: A `PageRef` points to a valid `struct page` for as long as it exists (its type
        // invariant); `page_folio()` only computes the address of the page's folio.
        let folio = unsafe { shim::pinio_page_folio(page.as_ptr()) };
        let page = page.as_ptr() as usize;
        PageKey {
            folio: folio as usize,
            page,
            next: page.wrapping_add(core::mem::size_of::<bindings::page>()),
        }
    }

    /// Whether this page directly follows `prev` in the same folio, so that one bvec covers
    /// both (`get_contig_folio_len()`).
    pub(crate) fn follows(&self, prev: &PageKey) -> bool {
        self.folio == prev.folio && self.page == prev.next
    }
}

/// `BIO_MAX_VECS`: the bvecs of one bio, and the most pages a request may span to be served by
/// one bio.
pub(crate) const BIO_MAX_VECS: usize = 256;

/// Which of `blkdev_direct_IO()`'s paths serves a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Path {
    /// One bio: `__blkdev_direct_IO_simple()` or `__blkdev_direct_IO_async()`.
    Single,
    /// `__blkdev_direct_IO()`: bios of up to [`BIO_MAX_VECS`] bvecs, one after the other.
    Multi,
}

/// What decides the path of a request, and how its errors come back.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    /// `bio_iov_vecs_to_alloc(iter, BIO_MAX_VECS + 1)`: the pages the iterator spans, counted
    /// up to `BIO_MAX_VECS + 1`; 0 for a BVEC iterator.
    pub(crate) pages: usize,
    /// The request is answered before `read_iter`/`write_iter` returns (`is_sync_kiocb()`).
    pub(crate) sync: bool,
    /// `IOCB_NOWAIT`: pinio then takes pages with `FOLL_NOFAULT`, and an extraction that fails
    /// is reported as `EAGAIN`.
    pub(crate) nowait: bool,
}

/// How a request is served (see [`Plan::classify`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Plan {
    /// The path.
    pub(crate) path: Path,
    /// Answered before `read_iter`/`write_iter` returns.
    pub(crate) sync: bool,
    /// `IOCB_NOWAIT`.
    pub(crate) nowait: bool,
}

/// How the block layer would end a request (see [`replay`]); offsets are bytes from the start
/// of the request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    /// Every byte was taken, in one bio or several.
    Complete,
    /// One-bio path: taking pages failed at `reached`, so the bio went out short, with the
    /// `bios` bytes before it cut down to the block size.
    Short {
        /// Bytes in the bio.
        bios: usize,
        /// Where taking pages stopped.
        reached: usize,
    },
    /// `error` ended the request after `bios` bytes had gone out in earlier bios (always 0 on
    /// the one-bio path).
    Failed {
        /// Bytes in the bios submitted before the error.
        bios: usize,
        /// The error: `EINVAL` (a misaligned segment), `EFAULT` (memory that cannot be taken),
        /// `EAGAIN` (`IOCB_NOWAIT`: pages not present), ...
        error: Error,
    },
    /// `IOCB_NOWAIT` on the multi-bio path: the first bio does not hold the whole request.
    WouldBlock,
}

/// What the device does with a request and what the caller gets back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Settled {
    /// Bytes the device moves, from the start of the request.
    pub(crate) moved: usize,
    /// The answer once they moved: the byte count or the error.
    pub(crate) result: Result<usize>,
    /// For an asynchronous request: whether it is queued (`-EIOCBQUEUED`, then completed with
    /// `result`) rather than answered at once. Always `false` for a synchronous one.
    pub(crate) queued: bool,
}

impl Plan {
    /// The path `blkdev_direct_IO()` takes for a request of `shape`: one bio for at most
    /// [`BIO_MAX_VECS`] pages (and for every BVEC iterator), else bio after bio.
    pub(crate) fn classify(shape: Shape) -> Self {
        Self {
            path: if shape.pages <= BIO_MAX_VECS {
                Path::Single
            } else {
                Path::Multi
            },
            sync: shape.sync,
            nowait: shape.nowait,
        }
    }

    /// Whether the answer must be worked out by [`replay`] before anything moves: some
    /// segment's alignment check may fail (`aligned` is false), or `IOCB_NOWAIT` on the
    /// multi-bio path, where the answer depends on where the first bio ends.
    pub(crate) fn needs_replay(&self, aligned: bool) -> bool {
        !aligned || (self.path == Path::Multi && self.nowait)
    }

    /// The end of a request whose every segment is aligned, served as it goes: taking pages
    /// stopped after `done` of `count` bytes, with `error` if an extraction failed (`None`
    /// when a fatal signal stopped it, or when it completed).
    ///
    /// With aligned segments every extraction ends on a block boundary, so the bytes taken are
    /// the bytes in bios, and the next extraction meets the same error: the same answer as
    /// [`replay`] gives.
    pub(crate) fn end_at(&self, count: usize, done: usize, error: Option<Error>) -> End {
        match error {
            None if done >= count => End::Complete,
            // Stopped by a fatal signal: pinio's own rule, a short count on either path.
            None => End::Short {
                bios: done,
                reached: done,
            },
            Some(error) => match self.path {
                Path::Single if done > 0 => End::Short {
                    bios: done,
                    reached: done,
                },
                Path::Single => End::Failed { bios: 0, error },
                Path::Multi => End::Failed { bios: done, error },
            },
        }
    }

    /// What the device moves and the caller gets for a request of `count` bytes that ends as
    /// `end` (see the module documentation for the rules).
    pub(crate) fn settle(&self, count: usize, end: End) -> Settled {
        let at_once = |error| Settled {
            moved: 0,
            result: Err(error),
            queued: false,
        };
        match end {
            End::Complete => Settled {
                moved: count,
                result: Ok(count),
                queued: !self.sync,
            },
            End::WouldBlock => at_once(EAGAIN),
            // Pages not present under IOCB_NOWAIT: retry without it, on every path.
            End::Failed { error, .. } if error == EAGAIN => at_once(EAGAIN),
            End::Failed { error, .. } if self.path == Path::Single => at_once(error),
            End::Failed { bios, error } if self.sync => Settled {
                moved: bios,
                result: Err(error),
                queued: false,
            },
            End::Failed { bios, error } => Settled {
                moved: bios,
                result: Err(through_blk_status(crate::glue::compat::bio_fill_error(
                    error,
                ))),
                queued: true,
            },
            // The page cache fallback of a synchronous call copies up to where pinning
            // stopped; under IOCB_NOWAIT that is pinio's rule (what was moved, short).
            End::Short { reached, .. } if self.sync => Settled {
                moved: reached,
                result: Ok(reached),
                queued: false,
            },
            // An asynchronous request under IOCB_NOWAIT is all or nothing.
            End::Short { .. } if self.nowait => at_once(EAGAIN),
            End::Short { bios, .. } => Settled {
                moved: bios,
                result: Ok(bios),
                queued: true,
            },
        }
    }
}

/// What an asynchronous request is to do, as decided for it: take and move `len` bytes, then
/// complete with `error`, or with the byte count if there is none.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Order {
    /// How the request is served.
    pub(crate) plan: Plan,
    /// The request's bytes.
    pub(crate) count: usize,
    /// Bytes to take and move, from the start of the request.
    pub(crate) len: usize,
    /// The error the request completes with after moving them (multi-bio path).
    pub(crate) error: Option<Error>,
}

impl Order {
    /// All `count` bytes, completing with the count.
    pub(crate) fn all(plan: Plan, count: usize) -> Self {
        Self {
            plan,
            count,
            len: count,
            error: None,
        }
    }

    /// What [`Plan::settle`] decided for a queued request.
    pub(crate) fn from_settled(plan: Plan, count: usize, settled: Settled) -> Self {
        Self {
            plan,
            count,
            len: settled.moved,
            error: settled.result.err(),
        }
    }

    /// The order once only `taken` of `len` bytes could be taken, `error` stopping it: for
    /// the bytes taken, or `Err` with the error to return at once (nothing is queued).
    pub(crate) fn short(self, taken: usize, error: Error) -> Result<Self> {
        let settled = self
            .plan
            .settle(self.count, self.plan.end_at(self.count, taken, Some(error)));
        if !settled.queued {
            return Err(settled.result.err().unwrap_or(error));
        }
        Ok(Self {
            len: settled.moved,
            error: settled.result.err(),
            ..self
        })
    }
}

/// The segment an iterator points at: `iter_iov_addr()` and `iter_iov_len()`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Extent {
    /// Address of its next byte.
    pub(crate) addr: usize,
    /// Bytes left in it (for a single-buffer UBUF iterator: in the iterator).
    pub(crate) len: usize,
}

/// An iterator the block layer takes pages from, step by step (see [`replay`]).
pub(crate) trait Source {
    /// Bytes left (`iov_iter_count()`).
    fn left(&self) -> usize;

    /// The segment at the iterator's position, which an extraction checks first.
    fn checked(&mut self) -> Extent;

    /// The segment the next extraction takes pages from: the first non-empty one from the
    /// iterator's position (which is the checked one except before leading empty segments).
    fn extent(&mut self) -> Extent;

    /// Takes the pages of up to `max_len` bytes from the front of [`Self::extent`], advancing
    /// past them, and reports each page to `page` in order. Returns the bytes taken (> 0; fewer
    /// than asked if a page could not be taken), or the error if none could be (`EFAULT`;
    /// `EAGAIN` for a page not present under `IOCB_NOWAIT`). The pages need not stay held.
    fn take(&mut self, max_len: usize, page: &mut dyn FnMut(PageKey)) -> Result<usize>;

    /// Moves back by `bytes`, which the iterator has advanced by.
    fn back(&mut self, bytes: usize);
}

/// A bio being filled.
struct Bio {
    /// Bytes.
    size: usize,
    /// bvecs used.
    vecs: usize,
    /// bvecs it has.
    max_vecs: usize,
}

/// The block layer's steps over one request's [`Source`].
struct Replay<'a, S: Source> {
    src: &'a mut S,
    /// Block size - 1: the alignment mask of segments and of bio sizes.
    mask: usize,
    /// The request's bytes.
    count: usize,
    /// Where the last failed extraction was tried.
    failed_at: usize,
}

impl<S: Source> Replay<'_, S> {
    /// Bytes of the request taken so far.
    fn pos(&self) -> usize {
        self.count.saturating_sub(self.src.left())
    }

    /// `iov_iter_extract_bvecs()`: checks the segment the iterator points at, then takes up
    /// to as many pages as `bio` has bvecs left, from one segment, into `bio`.
    fn extract_bvecs(&mut self, bio: &mut Bio) -> Result<usize> {
        let checked = self.src.checked();
        if (checked.addr | checked.len) & self.mask != 0 {
            return Err(EINVAL);
        }
        let from = self.src.extent();
        let offset = from.addr % PAGE_SIZE;
        let room = bio
            .max_vecs
            .saturating_sub(bio.vecs)
            .saturating_mul(PAGE_SIZE)
            .saturating_sub(offset);
        let max_len = self.src.left().min(from.len).min(room);
        if max_len == 0 {
            return Err(EFAULT);
        }
        let mut last: Option<PageKey> = None;
        let mut vecs = 0;
        let taken = self.src.take(max_len, &mut |key| {
            if !last.is_some_and(|prev| key.follows(&prev)) {
                vecs += 1;
            }
            last = Some(key);
        })?;
        if taken == 0 {
            return Err(EFAULT);
        }
        bio.vecs += vecs;
        bio.size += taken;
        Ok(taken)
    }

    /// `bio_iov_iter_get_pages()` for a user or KVEC iterator: extractions until the
    /// iterator is empty, the bio full, or one fails; then the bio is cut down to a multiple of
    /// the block size, the cut bytes going back to the iterator.
    ///
    /// Fails with `EINVAL` for a misaligned segment (the bio is dropped), with the error of the
    /// first extraction if it failed, and with `EFAULT` if the cut leaves the bio empty.
    fn get_pages(&mut self, bio: &mut Bio) -> Result {
        loop {
            match self.extract_bvecs(bio) {
                Ok(_) => {}
                Err(e) if e == EINVAL => return Err(EINVAL),
                Err(e) => {
                    self.failed_at = self.pos();
                    if bio.vecs == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
            if self.src.left() == 0 || bio.vecs >= bio.max_vecs {
                break;
            }
        }
        let cut = bio.size & self.mask;
        if cut != 0 {
            self.src.back(cut);
            bio.size -= cut;
            if bio.size == 0 {
                return Err(EFAULT);
            }
        }
        Ok(())
    }

    /// `__blkdev_direct_IO_simple()` / `__blkdev_direct_IO_async()`: one bio of `nr_pages`
    /// bvecs, as many as the request spans pages, so only an error ends it early.
    fn single(&mut self, nr_pages: usize) -> End {
        let mut bio = Bio {
            size: 0,
            vecs: 0,
            max_vecs: nr_pages.max(1),
        };
        match self.get_pages(&mut bio) {
            Err(error) => End::Failed { bios: 0, error },
            Ok(()) if self.src.left() == 0 => End::Complete,
            Ok(()) => End::Short {
                bios: bio.size,
                reached: self.failed_at,
            },
        }
    }

    /// `__blkdev_direct_IO()`: bios of [`BIO_MAX_VECS`] bvecs until the request is taken or
    /// filling one fails; under `IOCB_NOWAIT`, `EAGAIN` if the first does not hold it all.
    fn multi(&mut self, nowait: bool) -> End {
        let mut bios = 0;
        loop {
            // Every bio after the first is allocated for min(pages left, 256) bvecs, rounded up
            // to a bvec pool size: never fewer than the pages left, so 256 is as good.
            let mut bio = Bio {
                size: 0,
                vecs: 0,
                max_vecs: BIO_MAX_VECS,
            };
            if let Err(error) = self.get_pages(&mut bio) {
                return End::Failed { bios, error };
            }
            if nowait && self.src.left() != 0 {
                return End::WouldBlock;
            }
            bios += bio.size;
            if self.src.left() == 0 {
                return End::Complete;
            }
        }
    }
}

/// Replays how the block layer would serve the request in `src` (its `count` bytes, spanning
/// `pages` pages as [`Shape::pages`] counts them) on `plan`'s path, with segments and bios
/// aligned to `block_size` (a power of two; 1: no alignment). Returns how it ends; `src` is
/// left wherever the replay stopped.
pub(crate) fn replay<S: Source>(plan: &Plan, src: &mut S, pages: usize, block_size: usize) -> End {
    let count = src.left();
    let mut replay = Replay {
        src,
        mask: block_size.saturating_sub(1),
        count,
        failed_at: 0,
    };
    match plan.path {
        Path::Single => replay.single(pages),
        Path::Multi => replay.multi(plan.nowait),
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

#[kunit_tests(pinio_dio)]
mod tests {
    use super::*;
    use kernel::alloc::KVec;

    /// A simulated iterator over user memory: segments at addresses, pages that cannot be
    /// taken, and large folios (`folio_pages` pages each, aligned); small pages otherwise.
    struct Sim {
        segs: KVec<Extent>,
        /// Index of the segment at the position, and the offset in it.
        seg: usize,
        off: usize,
        left: usize,
        /// First address that cannot be taken (a whole page), if any.
        hole: Option<usize>,
        folio_pages: usize,
        /// Bytes taken by extractions, in total (moves back do not undo it).
        taken: usize,
    }

    const BASE: usize = 0x10_0000_0000;
    const PG: usize = PAGE_SIZE;
    /// `sizeof(struct page)` in the simulation.
    const SP: usize = 64;

    impl Sim {
        fn new(segs: &[(usize, usize)], count: usize) -> Result<Self> {
            let mut v = KVec::new();
            for &(addr, len) in segs {
                v.push(Extent { addr, len }, GFP_KERNEL)?;
            }
            Ok(Self {
                segs: v,
                seg: 0,
                off: 0,
                left: count,
                hole: None,
                folio_pages: 1,
                taken: 0,
            })
        }

        /// `n` segments of `len` bytes, `stride` bytes apart, from `BASE + first`.
        fn many(n: usize, first: usize, stride: usize, len: usize) -> Result<Self> {
            let mut v = KVec::new();
            for i in 0..n {
                v.push((BASE + first + i * stride, len), GFP_KERNEL)?;
            }
            Self::new(&v, n * len)
        }

        fn seg_len(&self, i: usize) -> usize {
            self.segs.get(i).map_or(0, |s| s.len)
        }

        /// Index of the first non-empty segment from `i` on.
        fn non_empty(&self, mut i: usize) -> usize {
            while i + 1 < self.segs.len() && self.seg_len(i) == 0 {
                i += 1;
            }
            i
        }

        fn at(&self, i: usize, off: usize) -> Extent {
            let s = self
                .segs
                .get(i)
                .copied()
                .unwrap_or(Extent { addr: 0, len: 0 });
            Extent {
                addr: s.addr + off,
                len: s.len - off,
            }
        }

        /// Advances by `n` bytes, past segments that end and empty ones after them, as
        /// `iov_iter_advance()` does.
        fn advance(&mut self, n: usize) {
            self.left -= n;
            let mut size = n + self.off;
            while self.seg < self.segs.len() && size >= self.seg_len(self.seg) {
                size -= self.seg_len(self.seg);
                self.seg += 1;
            }
            self.off = size;
        }

        /// `iov_iter_npages(iter, max)`.
        fn npages(&self, max: usize) -> usize {
            let (mut n, mut left, mut off) = (0, self.left, self.off);
            for i in self.seg..self.segs.len() {
                let s = self.at(i, off);
                off = 0;
                let len = s.len.min(left);
                if len != 0 {
                    left -= len;
                    n += (s.addr % PG + len).div_ceil(PG);
                    if n > max {
                        return max;
                    }
                }
            }
            n
        }

        fn key(&self, addr: usize) -> PageKey {
            let pfn = addr / PG;
            let page = 0x1000_0000 + pfn * SP;
            PageKey {
                folio: pfn / self.folio_pages,
                page,
                next: page + SP,
            }
        }
    }

    impl Source for Sim {
        fn left(&self) -> usize {
            self.left
        }

        fn checked(&mut self) -> Extent {
            self.at(self.seg, self.off)
        }

        fn extent(&mut self) -> Extent {
            if self.off == 0 {
                let i = self.non_empty(self.seg);
                return self.at(i, 0);
            }
            self.at(self.seg, self.off)
        }

        fn take(&mut self, max_len: usize, page: &mut dyn FnMut(PageKey)) -> Result<usize> {
            if self.off == 0 {
                self.seg = self.non_empty(self.seg);
            }
            let start = self.at(self.seg, self.off).addr;
            let mut end = start + max_len;
            if let Some(hole) = self.hole {
                if hole < end && hole + PG > start {
                    end = end.min(hole.max(start) & !(PG - 1));
                }
            }
            if end <= start {
                return Err(EFAULT);
            }
            let mut p = start & !(PG - 1);
            while p < end {
                page(self.key(p));
                p += PG;
            }
            self.advance(end - start);
            self.taken += end - start;
            Ok(end - start)
        }

        fn back(&mut self, mut bytes: usize) {
            self.left += bytes;
            while bytes > self.off {
                bytes -= self.off;
                self.seg -= 1;
                self.off = self.seg_len(self.seg);
            }
            self.off -= bytes;
        }
    }

    fn plan(pages: usize, sync: bool, nowait: bool) -> Plan {
        Plan::classify(Shape {
            pages,
            sync,
            nowait,
        })
    }

    fn sync_plan(pages: usize) -> Plan {
        plan(pages, true, false)
    }

    /// Classifies `sim` as the block layer does, replays it and settles it.
    fn run_as(sim: &mut Sim, sync: bool, nowait: bool) -> Settled {
        let count = sim.left;
        let pages = sim.npages(BIO_MAX_VECS + 1);
        let p = plan(pages, sync, nowait);
        let end = replay(&p, sim, pages, 512);
        p.settle(count, end)
    }

    fn run(sim: &mut Sim) -> Settled {
        run_as(sim, true, false)
    }

    fn moved(n: usize, result: Result<usize>) -> Settled {
        Settled {
            moved: n,
            result,
            queued: false,
        }
    }

    /// The path: up to 256 pages (and any BVEC iterator, which counts 0) one bio, above that
    /// bio after bio.
    #[test]
    fn classify_by_pages() {
        assert_eq!(sync_plan(0).path, Path::Single);
        assert_eq!(sync_plan(1).path, Path::Single);
        assert_eq!(sync_plan(256).path, Path::Single);
        assert_eq!(sync_plan(257).path, Path::Multi);
        assert!(!sync_plan(300).needs_replay(true));
        assert!(sync_plan(300).needs_replay(false));
        assert!(plan(300, true, true).needs_replay(true));
        assert!(!plan(256, true, true).needs_replay(true));
    }

    /// Issue 12, row 1: 257 pages, the last one unmapped: EFAULT after 1 MiB moved; with 256
    /// pages (one bio) the short count.
    #[test]
    fn multi_bio_fault_fails_after_moving() -> Result {
        let mut sim = Sim::new(&[(BASE, 257 * PG)], 257 * PG)?;
        sim.hole = Some(BASE + 256 * PG);
        assert_eq!(run(&mut sim), moved(256 * PG, Err(EFAULT)));
        let mut sim = Sim::new(&[(BASE, 256 * PG)], 256 * PG)?;
        sim.hole = Some(BASE + 255 * PG);
        assert_eq!(run(&mut sim), moved(255 * PG, Ok(255 * PG)));
        // Row 2: 2 MiB with a hole at 1.5 MiB.
        let mut sim = Sim::new(&[(BASE, 512 * PG)], 512 * PG)?;
        sim.hole = Some(BASE + 384 * PG);
        assert_eq!(run(&mut sim), moved(384 * PG, Err(EFAULT)));
        // The first page: nothing moves, on either path.
        let mut sim = Sim::new(&[(BASE, 512 * PG)], 512 * PG)?;
        sim.hole = Some(BASE);
        assert_eq!(run(&mut sim), moved(0, Err(EFAULT)));
        Ok(())
    }

    /// Row 3: 257 one-page segments, the last at +520: EINVAL after the first bio (256 pages)
    /// moved; in one bio (256 segments of 512 bytes) nothing moves.
    #[test]
    fn multi_bio_misaligned_segment_fails_after_earlier_bios() -> Result {
        let mut sim = Sim::many(257, 0, PG, PG)?;
        if let Some(last) = sim.segs.last_mut() {
            last.addr += 520;
        }
        assert_eq!(run(&mut sim), moved(256 * PG, Err(EINVAL)));
        let mut sim = Sim::many(256, 0, PG, 512)?;
        if let Some(last) = sim.segs.last_mut() {
            last.addr += 520;
        }
        assert_eq!(run(&mut sim), moved(0, Err(EINVAL)));
        // Many small segments: 1024 x 512 bytes a page apart, #700 misaligned: two bios of 256
        // segments went out.
        let mut sim = Sim::many(1024, 0, PG, 512)?;
        if let Some(s) = sim.segs.get_mut(700) {
            s.addr += 4;
        }
        assert_eq!(run(&mut sim), moved(512 * 512, Err(EINVAL)));
        // 300 x 512 bytes packed into 38 pages count 300 pages: the multi-bio path.
        let mut sim = Sim::many(300, 0, 512, 512)?;
        if let Some(s) = sim.segs.get_mut(280) {
            s.addr += 8;
        }
        assert_eq!(run(&mut sim), moved(256 * 512, Err(EINVAL)));
        Ok(())
    }

    /// A fault before a misaligned segment wins on the one-bio path (short count), and a
    /// misaligned segment before a fault (EINVAL, nothing moved).
    #[test]
    fn first_of_fault_and_misalignment_decides() -> Result {
        let mut sim = Sim::new(&[(BASE, 2 * PG), (BASE + 4 * PG + 1, 512)], 2 * PG + 512)?;
        sim.hole = Some(BASE + PG);
        assert_eq!(run(&mut sim), moved(PG, Ok(PG)));
        let mut sim = Sim::new(&[(BASE + 1, 512), (BASE + 4 * PG, 2 * PG)], 2 * PG + 512)?;
        sim.hole = Some(BASE + 5 * PG);
        assert_eq!(run(&mut sim), moved(0, Err(EINVAL)));
        Ok(())
    }

    /// IOCB_NOWAIT on the multi-bio path: EAGAIN unless one bio holds everything (large
    /// folios); a misaligned segment in the first bio is EINVAL first.
    #[test]
    fn nowait_multi_bio() -> Result {
        let mut sim = Sim::new(&[(BASE, 257 * PG)], 257 * PG)?;
        assert_eq!(run_as(&mut sim, true, true), moved(0, Err(EAGAIN)));
        // 4 MiB in 2 MiB folios: 512 pages per folio, extractions of 256, 255, 1, ... pages
        // make few bvecs: one bio.
        let mut sim = Sim::new(&[(BASE, 1024 * PG)], 1024 * PG)?;
        sim.folio_pages = 512;
        let done = run_as(&mut sim, true, true);
        assert_eq!(done, moved(1024 * PG, Ok(1024 * PG)));
        let mut sim = Sim::many(300, 0, PG, 512)?;
        if let Some(s) = sim.segs.get_mut(100) {
            s.addr += 4;
        }
        assert_eq!(run_as(&mut sim, true, true), moved(0, Err(EINVAL)));
        let mut sim = Sim::many(300, 0, PG, 512)?;
        if let Some(s) = sim.segs.get_mut(280) {
            s.addr += 4;
        }
        assert_eq!(run_as(&mut sim, true, true), moved(0, Err(EAGAIN)));
        // A page not present (pinio never faults under IOCB_NOWAIT): EAGAIN.
        let mut sim = Sim::new(&[(BASE, 512 * PG)], 512 * PG)?;
        sim.folio_pages = 512;
        sim.hole = Some(BASE + 100 * PG);
        assert_eq!(run_as(&mut sim, true, true), moved(0, Err(EAGAIN)));
        Ok(())
    }

    /// Large folios shift bio boundaries: 2 MiB in one folio then a misaligned segment is
    /// EINVAL with nothing moved (one bio), in small pages after 2 MiB moved (three bios).
    #[test]
    fn large_folios_hold_more_per_bio() -> Result {
        let segs = [(BASE, 512 * PG), (BASE + 512 * PG + 1, 512)];
        let mut sim = Sim::new(&segs, 512 * PG + 512)?;
        sim.folio_pages = 512;
        assert_eq!(run(&mut sim), moved(0, Err(EINVAL)));
        let mut sim = Sim::new(&segs, 512 * PG + 512)?;
        assert_eq!(run(&mut sim), moved(512 * PG, Err(EINVAL)));
        Ok(())
    }

    /// The unchecked segment after a leading empty one: one bio takes it whole; on the
    /// multi-bio path the cut at the end of the first bio leaves a misaligned address for the
    /// next one: EINVAL after (1 MiB - 1 byte, cut to the block) moved.
    #[test]
    fn unchecked_segment_after_leading_empty_one() -> Result {
        let mut sim = Sim::new(&[(BASE, 0), (BASE + 1, 512)], 512)?;
        assert_eq!(run(&mut sim), moved(512, Ok(512)));
        let mut sim = Sim::new(&[(BASE + 1, 0), (BASE + PG, 512)], 512)?;
        assert_eq!(run(&mut sim), moved(0, Err(EINVAL)));
        let mut sim = Sim::new(&[(BASE, 0), (BASE + 1, 512 * PG)], 512 * PG)?;
        let bio = 256 * PG - 1 - 511;
        assert_eq!(run(&mut sim), moved(bio, Err(EINVAL)));
        // One bio, the second page unmapped: the extraction after the first page checks the
        // rest of the segment (4097 bytes): EINVAL.
        let mut sim = Sim::new(&[(BASE, 0), (BASE + 1, 2 * PG)], 2 * PG)?;
        sim.hole = Some(BASE + PG);
        assert_eq!(run(&mut sim), moved(0, Err(EINVAL)));
        // ... unless the rest is aligned: the bio (4095 bytes) is cut to 3584, and the page
        // cache copies up to the hole: 4095.
        let segs = [(BASE, 0), (BASE + 1, 2 * PG - 1), (BASE + 8 * PG, 1)];
        let mut sim = Sim::new(&segs, 2 * PG)?;
        sim.hole = Some(BASE + PG);
        assert_eq!(run(&mut sim), moved(PG - 1, Ok(PG - 1)));
        // Asynchronous: no page cache, the bio's 3584 bytes.
        let mut sim = Sim::new(&segs, 2 * PG)?;
        sim.hole = Some(BASE + PG);
        let done = run_as(&mut sim, false, false);
        assert_eq!(done.result, Ok(3584));
        assert!(done.queued);
        Ok(())
    }

    /// Zero-length segments in the middle are never checked nor counted.
    #[test]
    fn empty_segments_in_the_middle() -> Result {
        let segs = [(BASE, 512), (BASE + 3, 0), (BASE + PG, 512)];
        let mut sim = Sim::new(&segs, 1024)?;
        assert_eq!(run(&mut sim), moved(1024, Ok(1024)));
        Ok(())
    }

    /// Asynchronous forms: the multi-bio path reports through the completion, EFAULT as EIO
    /// (a blk_status_t has no EFAULT), after the earlier bios moved; the one-bio path returns
    /// errors at once and completes a short bio with its count.
    #[test]
    fn asynchronous_answers() -> Result {
        let mut sim = Sim::new(&[(BASE, 257 * PG)], 257 * PG)?;
        sim.hole = Some(BASE + 256 * PG);
        let s = run_as(&mut sim, false, false);
        assert_eq!((s.moved, s.result, s.queued), (256 * PG, Err(EIO), true));
        let mut sim = Sim::new(&[(BASE, 257 * PG)], 257 * PG)?;
        sim.hole = Some(BASE);
        let s = run_as(&mut sim, false, false);
        assert_eq!((s.moved, s.result, s.queued), (0, Err(EIO), true));
        let mut sim = Sim::many(257, 0, PG, PG)?;
        if let Some(last) = sim.segs.last_mut() {
            last.addr += 520;
        }
        let s = run_as(&mut sim, false, false);
        let einval = through_blk_status(crate::glue::compat::bio_fill_error(EINVAL));
        assert_eq!((s.moved, s.result, s.queued), (256 * PG, Err(einval), true));
        let mut sim = Sim::new(&[(BASE, 200 * PG)], 200 * PG)?;
        sim.hole = Some(BASE);
        assert_eq!(run_as(&mut sim, false, false), moved(0, Err(EFAULT)));
        let mut sim = Sim::new(&[(BASE, 200 * PG)], 200 * PG)?;
        sim.hole = Some(BASE + 100 * PG);
        let s = run_as(&mut sim, false, false);
        assert_eq!(
            (s.moved, s.result, s.queued),
            (100 * PG, Ok(100 * PG), true)
        );
        // IOCB_NOWAIT: all or EAGAIN at once.
        let mut sim = Sim::new(&[(BASE, 200 * PG)], 200 * PG)?;
        sim.hole = Some(BASE + 100 * PG);
        assert_eq!(run_as(&mut sim, false, true), moved(0, Err(EAGAIN)));
        let mut sim = Sim::new(&[(BASE, 257 * PG)], 257 * PG)?;
        assert_eq!(run_as(&mut sim, false, true), moved(0, Err(EAGAIN)));
        Ok(())
    }

    /// What a transfer that moved as it went reports ([`Plan::end_at`]) is what the replay
    /// gives for the same aligned request (`hole == pages`: no hole).
    #[test]
    fn end_at_agrees_with_replay() -> Result {
        for (pages, hole) in [
            (100, 0),
            (100, 40),
            (100, 100),
            (300, 0),
            (300, 280),
            (300, 300),
        ] {
            for sync in [true, false] {
                let count = pages * PG;
                let mut sim = Sim::new(&[(BASE, count)], count)?;
                sim.hole = Some(BASE + hole * PG);
                let replayed = run_as(&mut sim, sync, false);
                let p = plan(pages, sync, false);
                let error = if hole < pages { Some(EFAULT) } else { None };
                let direct = p.settle(count, p.end_at(count, hole * PG, error));
                assert_eq!(replayed, direct);
            }
        }
        Ok(())
    }

    /// The engine's orders when it could take only part of a request.
    #[test]
    fn orders_after_a_short_take() {
        let single = Order::all(plan(200, false, false), 200 * PG);
        assert_eq!(single.short(0, EFAULT), Err(EFAULT));
        let short = single.short(100 * PG, EFAULT);
        assert_eq!(short.map(|o| (o.len, o.error)), Ok((100 * PG, None)));
        let multi = Order::all(plan(300, false, false), 300 * PG);
        let failed = multi.short(0, EFAULT).map(|o| (o.len, o.error));
        assert_eq!(failed, Ok((0, Some(EIO))));
        let failed = multi.short(280 * PG, EFAULT).map(|o| (o.len, o.error));
        assert_eq!(failed, Ok((280 * PG, Some(EIO))));
        let nowait = Order::all(plan(200, false, true), 200 * PG);
        assert_eq!(nowait.short(100 * PG, EAGAIN), Err(EAGAIN));
    }

    /// The completion errno of the multi-bio path is the kernel's own conversion.
    #[test]
    fn blk_status_conversion() {
        assert_eq!(through_blk_status(EFAULT), EIO);
        assert_eq!(through_blk_status(EINVAL), EINVAL);
        assert_eq!(through_blk_status(ENOMEM), ENOMEM);
        assert_eq!(through_blk_status(EAGAIN), EAGAIN);
        assert_eq!(through_blk_status(EINTR), EIO);
    }
}
