// SPDX-License-Identifier: GPL-2.0

//! Access to the `iov_iter` of a transfer: the one place that touches a raw iterator's fields.
//!
//! [`Iter`] is implemented by the kernel crate's [`IovIterDest`] (a read: the device writes
//! into the iterator's pages, [`Writable`]) and [`IovIterSource`] (a write: the device reads
//! them, [`ReadOnly`]). On top of it this module gives a driver's direct-I/O policy what it
//! needs without any `unsafe`: the kind of iterator, its alignment, a walk over its segments
//! that leaves the iterator where it is, and a truncation that is undone when the transfer
//! ends. The kernel crate's iterators offer only copies (`copy_to_iter()` and friends).

use super::view::{
    Access,
    ReadOnly,
    Writable, //
};
use crate::glue::shim;
use core::{
    marker::PhantomData,
    ops::{
        Deref,
        DerefMut, //
    }, //
};
use kernel::{
    bindings,
    iov::{
        IovIterDest,
        IovIterSource, //
    }, //
};

/// The type of an iterator (`enum iter_type`).
///
/// # Examples
///
/// ```
/// use kernel::{
///     iov::{
///         iter::{Iter, IterKind},
///         IovIterDest,
///     },
///     page::Page,
/// };
/// # use core::mem::MaybeUninit;
/// # use kernel::bindings;
///
/// // A destination iterator over 512 bytes of a page of ours (as splice or io_uring's
/// // registered buffers make them).
/// let page = Page::alloc_page(GFP_KERNEL)?;
/// let bvec = bindings::bio_vec { bv_page: page.as_ptr(), bv_len: 512, bv_offset: 0 };
/// let mut raw = MaybeUninit::<bindings::iov_iter>::zeroed();
/// // SAFETY: `bvec` and the page it names outlive the iterator.
/// unsafe { bindings::iov_iter_bvec(raw.as_mut_ptr(), bindings::ITER_DEST, &bvec, 1, 512) };
/// // SAFETY: `iov_iter_bvec()` initialised it.
/// let mut raw = unsafe { raw.assume_init() };
/// // SAFETY: A destination iterator over `page`, only used through `iter` while `page` lives.
/// let iter = unsafe { IovIterDest::from_raw(&mut raw) };
/// assert_eq!(iter.kind(), IterKind::Bvec);
/// // Pages, not address ranges: no segment to walk.
/// assert!(!iter.is_segmented());
/// assert!(iter.segments().next().is_none());
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IterKind {
    /// `ITER_UBUF`: one user buffer.
    Ubuf,
    /// `ITER_IOVEC`: a vector of user buffers.
    Iovec,
    /// `ITER_BVEC`: pages (splice, io_uring's registered buffers).
    Bvec,
    /// `ITER_KVEC`: kernel buffers (`kernel_read()`, `kernel_write()`).
    Kvec,
    /// `ITER_XARRAY`: the folios of an xarray (a page cache).
    Xarray,
    /// `ITER_FOLIOQ`: a folio queue (netfs).
    Folioq,
    /// `ITER_DISCARD`, or a type this code does not know.
    Other,
}

/// An `iov_iter` the device moves data for.
///
/// The trait is sealed: [`IovIterSource`] and [`IovIterDest`] are its only implementations,
/// whose [`Iter::as_raw`] the provided methods trust to be a valid iterator.
///
/// # Examples
///
/// ```
/// use kernel::iov::iter::{Iter, IterKind};
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
/// /// Whether a direct-I/O request over `iter` is aligned to `block` bytes, a power of two.
/// fn aligned<I: Iter>(iter: &mut I, block: usize) -> bool {
///     iter.alignment() & (block - 1) == 0
/// }
///
/// assert_eq!(iter.kind(), IterKind::Kvec);
/// assert!(iter.is_segmented());
/// // The first segment's length, 100, is not a multiple of 512.
/// assert!(!aligned(iter, 512));
/// assert!(iter.npages(usize::MAX) >= 1);
/// # Ok::<(), Error>(())
/// ```
pub(crate) trait Iter: private::Sealed {
    /// What the device may do with the iterator's pages: write into them for a destination
    /// iterator (a read), only read them for a source iterator (a write).
    type Access: Access;

    /// The raw iterator; valid while `self` is borrowed.
    fn as_raw(&mut self) -> *mut bindings::iov_iter;

    /// Bytes left in the iterator.
    fn len(&self) -> usize;

    /// Whether no byte is left in the iterator.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the iterator back by `bytes`.
    ///
    /// # Safety
    ///
    /// The iterator must have been advanced by at least `bytes` since it was set up.
    unsafe fn revert(&mut self, bytes: usize);

    /// The iterator's type (`iov_iter_type()`).
    fn kind(&mut self) -> IterKind {
        // SAFETY: `as_raw()` is a valid iterator; this only reads its type.
        match unsafe { shim::pinio_iov_iter_type(self.as_raw()) } {
            bindings::iter_type_ITER_UBUF => IterKind::Ubuf,
            bindings::iter_type_ITER_IOVEC => IterKind::Iovec,
            bindings::iter_type_ITER_BVEC => IterKind::Bvec,
            bindings::iter_type_ITER_KVEC => IterKind::Kvec,
            bindings::iter_type_ITER_XARRAY => IterKind::Xarray,
            bindings::iter_type_ITER_FOLIOQ => IterKind::Folioq,
            _ => IterKind::Other,
        }
    }

    /// Whether the iterator is a list of address ranges whose every segment the block layer
    /// checks on its own (user-backed UBUF/IOVEC, or KVEC), rather than pages (BVEC, ...).
    fn is_segmented(&mut self) -> bool {
        let raw = self.as_raw();
        // SAFETY: `raw` is the valid iterator borrowed by `self`; these only read its type.
        unsafe { shim::pinio_user_backed_iter(raw) || shim::pinio_iov_iter_is_kvec(raw) }
    }

    /// `iov_iter_alignment()`: the OR of every segment's start and length (bytes).
    fn alignment(&mut self) -> usize {
        // SAFETY: `as_raw()` is a valid iterator; `iov_iter_alignment()` only reads it.
        unsafe { bindings::iov_iter_alignment(self.as_raw()) as usize }
    }

    /// Pages the bytes left in the iterator span, counted up to `max` (`iov_iter_npages()`:
    /// each segment's pages on their own, empty segments none).
    fn npages(&mut self, max: usize) -> usize {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        // SAFETY: `as_raw()` is a valid iterator; `iov_iter_npages()` only reads it.
        let n = unsafe { bindings::iov_iter_npages(self.as_raw(), max) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Sets whether taking the iterator's user pages may fault them in (`iter->nofault`, which
    /// becomes `FOLL_NOFAULT`); returns the previous setting.
    fn set_nofault(&mut self, nofault: bool) -> bool {
        let raw = self.as_raw();
        // SAFETY: `raw` is a valid iterator that `self` borrows mutably; the flag only changes
        // how later extractions fault (`FOLL_NOFAULT`).
        unsafe { core::mem::replace(&mut (*raw).nofault, nofault) }
    }

    /// Walks the segments from the iterator's position on, without moving the iterator.
    ///
    /// Only a segmented iterator ([`Iter::is_segmented`]) has segments: the walk over any other
    /// is empty.
    fn segments(&mut self) -> Segments<'_> {
        let segmented = self.is_segmented();
        // SAFETY: `as_raw()` points to a valid, initialised iterator. Iterators are plain values
        // that refer to, and never own, their segment arrays, so a bitwise copy walks the same
        // segments; the copy borrows `self`, so the arrays stay alive while it is used.
        let walk = unsafe { core::ptr::read(self.as_raw()) };
        // INVARIANT: The walk of an iterator that is not a list of address ranges ends at once.
        Segments {
            walk,
            rounds: 0,
            done: !segmented,
            _iter: PhantomData,
        }
    }
}

impl Iter for IovIterDest<'_> {
    type Access = Writable;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterDest::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterDest::len(self)
    }

    unsafe fn revert(&mut self, bytes: usize) {
        // SAFETY: Guaranteed by the caller.
        unsafe { IovIterDest::revert(self, bytes) }
    }
}

impl Iter for IovIterSource<'_> {
    type Access = ReadOnly;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterSource::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterSource::len(self)
    }

    unsafe fn revert(&mut self, bytes: usize) {
        // SAFETY: Guaranteed by the caller.
        unsafe { IovIterSource::revert(self, bytes) }
    }
}

mod private {
    /// Keeps [`super::Iter`] to the kernel crate's two iterator types.
    pub(crate) trait Sealed {}

    impl Sealed for kernel::iov::IovIterSource<'_> {}
    impl Sealed for kernel::iov::IovIterDest<'_> {}
}

/// One segment of a segmented iterator, as [`Iter::segments`] walks them.
///
/// # Examples
///
/// ```
/// use kernel::iov::iter::Iter;
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
/// let mut walk = iter.segments();
/// let first = walk.next().ok_or(EINVAL)?;
/// assert_eq!((first.addr, first.len, first.last), (buf.as_ptr() as usize, 100, false));
/// let second = walk.next().ok_or(EINVAL)?;
/// assert_eq!((second.len, second.last), (200, true));
/// assert!(walk.next().is_none());
/// // The walk leaves the iterator where it was.
/// assert_eq!(iter.len(), 300);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy)]
pub(crate) struct Segment {
    /// User or kernel address of the segment's next byte (`iter_iov_addr()`).
    pub(crate) addr: usize,
    /// Bytes left in the segment (`iter_iov_len()`), even beyond the iterator's count.
    pub(crate) len: usize,
    /// Whether the iterator's count ends in this segment.
    pub(crate) last: bool,
}

/// A walk over the segments of an iterator (see [`Iter::segments`]).
///
/// Each step consumes a segment together with any empty ones after it, as the block layer's
/// extraction does; the one exception is a vector that starts with empty segments, whose
/// first empty segment is yielded and the next step lands on the first non-empty one.
///
/// # Examples
///
/// ```
/// use kernel::iov::iter::Iter;
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
/// let mut total = 0;
/// for segment in iter.segments() {
///     total += segment.len;
/// }
/// assert_eq!(total, 300);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// Unless `done`, `walk` is a copy of a segmented iterator (user-backed or KVEC) whose segment
/// array stays alive and unchanged for `'a`.
pub(crate) struct Segments<'a> {
    walk: bindings::iov_iter,
    rounds: u32,
    done: bool,
    _iter: PhantomData<&'a mut bindings::iov_iter>,
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        // The walk ends at the segment holding the last byte; the bound (more than `IOV_MAX`
        // segments) only guards against an iterator that is not a segment list.
        if self.done || self.rounds > u32::from(u16::MAX) {
            return None;
        }
        self.rounds += 1;
        let w: *mut bindings::iov_iter = &mut self.walk;
        // SAFETY: `w` is a valid copy of an iterator whose segment array is borrowed for `'a`;
        // these only read it.
        let (addr, len, left) = unsafe {
            (
                shim::pinio_iter_iov_addr(w) as usize,
                shim::pinio_iter_iov_len(w),
                shim::pinio_iov_iter_count(w),
            )
        };
        let last = left <= len;
        if last {
            self.done = true;
        } else {
            // SAFETY: As above; this steps over the segment and any empty ones after it (over
            // just the empty ones if it is empty), in the copy only.
            unsafe { bindings::iov_iter_advance(w, len) };
        }
        Some(Segment { addr, len, last })
    }
}

/// An iterator truncated to at most `max` bytes for the duration of a transfer, and
/// re-expanded when dropped (as `blkdev_read_iter()` does with `iov_iter_truncate()` and
/// `iov_iter_reexpand()`), so that the caller sees the iterator advanced by exactly the bytes
/// moved.
///
/// # Examples
///
/// ```
/// use kernel::iov::iter::Truncated;
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
/// {
///     // The end of the device is 120 bytes away.
///     let mut short = Truncated::new(iter, 120);
///     assert_eq!(short.len(), 120);
///     let mut head = [0u8; 50];
///     assert_eq!(short.copy_from_iter(&mut head), 50);
/// }
/// // Advanced by the 50 bytes moved, and the rest is back.
/// assert_eq!(iter.len(), 250);
/// # Ok::<(), Error>(())
/// ```
pub(crate) struct Truncated<'i, I: Iter> {
    iter: &'i mut I,
    shorted: usize,
}

impl<'i, I: Iter> Truncated<'i, I> {
    /// Truncates `iter` to at most `max` bytes.
    pub(crate) fn new(iter: &'i mut I, max: usize) -> Self {
        let shorted = iter.len().saturating_sub(max);
        if shorted != 0 {
            // SAFETY: `iter.as_raw()` is a valid iterator; truncation only lowers its count.
            unsafe { shim::pinio_iov_iter_truncate(iter.as_raw(), max as u64) };
        }
        Self { iter, shorted }
    }
}

impl<I: Iter> Drop for Truncated<'_, I> {
    fn drop(&mut self) {
        if self.shorted != 0 {
            let len = self.iter.len() + self.shorted;
            // SAFETY: `self.iter.as_raw()` is a valid iterator, and this restores exactly the
            // bytes `new()` cut off.
            unsafe { shim::pinio_iov_iter_reexpand(self.iter.as_raw(), len) };
        }
    }
}

impl<I: Iter> Deref for Truncated<'_, I> {
    type Target = I;

    fn deref(&self) -> &I {
        self.iter
    }
}

impl<I: Iter> DerefMut for Truncated<'_, I> {
    fn deref_mut(&mut self) -> &mut I {
        self.iter
    }
}

/// An iterator walked ahead and put back: [`Rewind::rewind`] moves it back, and when the guard
/// is dropped the iterator is where it was when the guard was made.
///
/// # Examples
///
/// ```
/// use kernel::iov::iter::Rewind;
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
/// let mut ahead = Rewind::new(iter);
/// let mut head = [0u8; 50];
/// assert_eq!(ahead.copy_from_iter(&mut head), 50);
/// ahead.rewind(20);
/// assert_eq!(ahead.len(), 270);
/// drop(ahead);
/// assert_eq!(iter.len(), 300);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `saved` is a bitwise copy of the iterator when the guard was made. Iterators are plain values
/// that refer to (never own) their segment arrays, and the guard borrows the iterator, so the
/// arrays `saved` refers to stay alive and unchanged while the guard exists.
pub(crate) struct Rewind<'i, I: Iter> {
    iter: &'i mut I,
    saved: bindings::iov_iter,
}

impl<'i, I: Iter> Rewind<'i, I> {
    /// Holds `iter` from where it is now.
    pub(crate) fn new(iter: &'i mut I) -> Self {
        // SAFETY: `as_raw()` points to a valid, initialised iterator; a bitwise copy of it is a
        // valid description of the same position.
        let saved = unsafe { core::ptr::read(iter.as_raw()) };
        // INVARIANT: Copied from the iterator, which the guard now borrows.
        Self { iter, saved }
    }

    /// Bytes the iterator has advanced by since the guard was made.
    fn advanced(&mut self) -> usize {
        let saved: *const bindings::iov_iter = &self.saved;
        // SAFETY: `saved` is a valid iterator (type invariant); this only reads its count.
        let start = unsafe { shim::pinio_iov_iter_count(saved) };
        start.saturating_sub(self.iter.len())
    }

    /// Puts the iterator back where it was when the guard was made.
    fn restore(&mut self) {
        // SAFETY: `saved` describes a position in the segment arrays the iterator still refers
        // to (type invariant), so writing it back leaves a valid iterator; the guard holds the
        // only borrow of it.
        unsafe { core::ptr::write(self.iter.as_raw(), core::ptr::read(&self.saved)) };
    }

    /// Moves the iterator back by `bytes` (at most to where it was when the guard was made).
    pub(crate) fn rewind(&mut self, bytes: usize) {
        let to = self.advanced().saturating_sub(bytes);
        self.restore();
        if to != 0 {
            // SAFETY: `as_raw()` is a valid iterator; advancing never goes past its count.
            unsafe { bindings::iov_iter_advance(self.iter.as_raw(), to) };
        }
    }
}

impl<I: Iter> Drop for Rewind<'_, I> {
    fn drop(&mut self) {
        self.restore();
    }
}

impl<I: Iter> Deref for Rewind<'_, I> {
    type Target = I;

    fn deref(&self) -> &I {
        self.iter
    }
}

impl<I: Iter> DerefMut for Rewind<'_, I> {
    fn deref_mut(&mut self) -> &mut I {
        self.iter
    }
}
