// SPDX-License-Identifier: GPL-2.0

//! Borrowed views of lent pages: which pages a device may touch, how, and for how long.
//!
//! The kernel crate's [`BorrowedPage`](kernel::page::BorrowedPage) lends a `&Page`, whose raw
//! accessors need no proof of write permission; these views are `Copy` handles that carry that
//! permission in their type ([`PageMut`]) and never form a Rust reference to page contents.
//! Pages lent to a device are shared with user space and with concurrent transfers, exactly
//! like DMA memory: bytes move only through [`super::copy`], in C.
//!
//! C header: [`include/linux/mm_types.h`](srctree/include/linux/mm_types.h)

use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    page::{
        Page,
        PAGE_SIZE, //
    }, //
};

/// A page that its lender keeps alive for `'a`; the device may read it.
///
/// Lenders are a pin (the extraction and pinning containers), the owner of a kernel-page
/// iterator, or whoever owns the page (see [`PageRef::from_page`]).
///
/// # Examples
///
/// ```
/// use kernel::page::{view::PageRef, Page};
///
/// let page = Page::alloc_page(GFP_KERNEL)?;
/// let view = PageRef::from_page(&page);
/// // Views are `Copy`: a scatter-gather list may name the same page twice.
/// let again = view;
/// assert_eq!(again.as_ptr(), page.as_ptr());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `ptr` points to a valid `struct page` that stays allocated for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct PageRef<'a> {
    ptr: NonNull<bindings::page>,
    _lender: PhantomData<&'a bindings::page>,
}

/// A page that its lender keeps alive for `'a` and allows the device to write into.
///
/// # Examples
///
/// ```
/// use kernel::page::{
///     copy,
///     view::{PageMut, Span},
///     Page,
/// };
///
/// let mut page = Page::alloc_page(GFP_KERNEL)?;
/// let ptr = page.as_ptr();
/// let view = PageMut::from_page(&mut page);
/// copy::zero(view, Span { offset: 0, len: 64 })?;
/// // A writable view reads as well.
/// assert_eq!(view.as_ref().as_ptr(), ptr);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// As [`PageRef`], and the lender allows writes: the page is its borrower's own, was pinned
/// with `FOLL_WRITE`, or comes from a destination iterator.
// BEGIN pinio only
/// In pinio, it may also have been referenced with `FOLL_WRITE` (`FOLL_GET`).
// END pinio only
#[derive(Clone, Copy)]
pub(crate) struct PageMut<'a>(PageRef<'a>);

impl<'a> PageRef<'a> {
    /// Borrows `ptr` for `'a`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct page` that stays allocated for `'a`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::page>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            _lender: PhantomData,
        }
    }

    /// Borrows a page of one's own, for reading.
    pub(crate) fn from_page(page: &'a Page) -> Self {
        // SAFETY: A `Page` owns a valid `struct page` (its type invariant), so the pointer is
        // not null.
        let ptr = unsafe { NonNull::new_unchecked(page.as_ptr()) };
        // SAFETY: The page stays allocated while `page` is borrowed, for `'a`.
        unsafe { Self::from_raw(ptr) }
    }

    /// The raw `struct page` pointer.
    pub(crate) fn as_ptr(self) -> *mut bindings::page {
        self.ptr.as_ptr()
    }
}

impl<'a> PageMut<'a> {
    /// Borrows `ptr` for `'a`, with the right to write into it.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct page` that stays allocated for `'a`, and its lender
    /// must allow the device to write into it (see the type invariants).
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::page>) -> Self {
        // SAFETY: Guaranteed by the caller.
        // INVARIANT: Guaranteed by the caller.
        Self(unsafe { PageRef::from_raw(ptr) })
    }

    /// Borrows a page of one's own, for writing.
    pub(crate) fn from_page(page: &'a mut Page) -> Self {
        // SAFETY: A `Page` owns a valid `struct page` (its type invariant), so the pointer is
        // not null.
        let ptr = unsafe { NonNull::new_unchecked(page.as_ptr()) };
        // SAFETY: The page stays allocated while `page` is borrowed, for `'a`, and its owner
        // lends it for writing.
        unsafe { Self::from_raw(ptr) }
    }

    /// The same page, for reading.
    pub(crate) fn as_ref(self) -> PageRef<'a> {
        self.0
    }

    /// The raw `struct page` pointer.
    pub(crate) fn as_ptr(self) -> *mut bindings::page {
        self.0.as_ptr()
    }
}

/// What a device may do with lent pages, as a type: read them ([`ReadOnly`]) or also write
/// into them ([`Writable`]).
///
/// Pages from a destination iterator (a `read(2)`) or pinned with `FOLL_WRITE` are
/// [`Writable`]; their containers hand out [`PageMut`] views and release them dirty once the
/// device wrote into them. Pages from a source iterator (a `write(2)`) or pinned without
/// `FOLL_WRITE` are [`ReadOnly`]: no [`PageMut`] can be made of them.
///
/// The trait is sealed: [`ReadOnly`] and [`Writable`] are its only implementations.
///
/// # Examples
///
/// ```
/// use kernel::page::view::{Access, ReadOnly, Writable};
///
/// /// Which way the bytes of a transfer over pages lent with access `A` go.
/// fn direction<A: Access>() -> &'static str {
///     if A::WRITE {
///         "from the device"
///     } else {
///         "to the device"
///     }
/// }
///
/// assert_eq!(direction::<Writable>(), "from the device");
/// assert_eq!(direction::<ReadOnly>(), "to the device");
/// ```
pub(crate) trait Access: private::Sealed + 'static {
    /// Whether the device may write into the pages.
    const WRITE: bool;

    /// The view of one page lent with this access.
    type View<'a>: Copy;

    /// Views `page`.
    ///
    /// # Safety
    ///
    /// `page` must point to a valid `struct page` that stays allocated for `'a`, and if
    /// [`Self::WRITE`], its lender must allow the device to write into it.
    unsafe fn view<'a>(page: NonNull<bindings::page>) -> Self::View<'a>;
}

/// The device reads the pages: `DMA_TO_DEVICE`, a `write(2)`.
///
/// # Examples
///
/// ```
/// use kernel::page::{
///     view::{Access, PageRef, ReadOnly},
///     Page,
/// };
///
/// let page = Page::alloc_page(GFP_KERNEL)?;
/// // Read-only pages are viewed as `PageRef`s, which nothing can write through.
/// let _view: <ReadOnly as Access>::View<'_> = PageRef::from_page(&page);
/// assert!(!ReadOnly::WRITE);
/// # Ok::<(), Error>(())
/// ```
pub(crate) enum ReadOnly {}

/// The device writes into the pages: `DMA_FROM_DEVICE`, a `read(2)`.
///
/// # Examples
///
/// ```
/// use kernel::page::{
///     view::{Access, PageMut, Writable},
///     Page,
/// };
///
/// let mut page = Page::alloc_page(GFP_KERNEL)?;
/// // Writable pages are viewed as `PageMut`s.
/// let _view: <Writable as Access>::View<'_> = PageMut::from_page(&mut page);
/// assert!(Writable::WRITE);
/// # Ok::<(), Error>(())
/// ```
pub(crate) enum Writable {}

mod private {
    /// Keeps [`super::Access`] to the two implementations of this module.
    pub(crate) trait Sealed {}

    impl Sealed for super::ReadOnly {}
    impl Sealed for super::Writable {}
}

impl Access for ReadOnly {
    const WRITE: bool = false;
    type View<'a> = PageRef<'a>;

    unsafe fn view<'a>(page: NonNull<bindings::page>) -> PageRef<'a> {
        // SAFETY: Guaranteed by the caller.
        unsafe { PageRef::from_raw(page) }
    }
}

impl Access for Writable {
    const WRITE: bool = true;
    type View<'a> = PageMut<'a>;

    unsafe fn view<'a>(page: NonNull<bindings::page>) -> PageMut<'a> {
        // SAFETY: Guaranteed by the caller, writes included (`WRITE` is true).
        unsafe { PageMut::from_raw(page) }
    }
}

/// A byte range within one page.
///
/// # Examples
///
/// ```
/// use kernel::page::{view::Span, PAGE_SIZE};
///
/// assert!(Span { offset: PAGE_SIZE - 8, len: 8 }.in_page());
/// assert!(!Span { offset: PAGE_SIZE - 8, len: 9 }.in_page());
/// assert!(!Span { offset: usize::MAX, len: 2 }.in_page());
/// ```
#[derive(Clone, Copy)]
pub(crate) struct Span {
    /// Offset of the first byte in the page.
    pub(crate) offset: usize,
    /// Bytes.
    pub(crate) len: usize,
}

impl Span {
    /// Whether the range lies inside one page.
    pub(crate) fn in_page(self) -> bool {
        self.offset
            .checked_add(self.len)
            .is_some_and(|end| end <= PAGE_SIZE)
    }
}

/// The per-page spans of `len` bytes that start `offset` bytes into the first of a run of
/// consecutive pages: one span per page, in order.
///
/// # Examples
///
/// ```
/// use kernel::page::{view::page_spans, PAGE_SIZE};
///
/// // 20 bytes from 10 bytes before the end of a page: two spans.
/// let mut spans = page_spans(PAGE_SIZE - 10, 20);
/// let first = spans.next().ok_or(EINVAL)?;
/// assert_eq!((first.offset, first.len), (PAGE_SIZE - 10, 10));
/// let second = spans.next().ok_or(EINVAL)?;
/// assert_eq!((second.offset, second.len), (0, 10));
/// assert!(spans.next().is_none());
/// # Ok::<(), Error>(())
/// ```
pub(crate) fn page_spans(offset: usize, len: usize) -> impl Iterator<Item = Span> {
    let mut pos = offset % PAGE_SIZE;
    let end = pos.saturating_add(len);
    core::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let in_page = pos % PAGE_SIZE;
        let n = (PAGE_SIZE - in_page).min(end - pos);
        pos += n;
        Some(Span {
            offset: in_page,
            len: n,
        })
    })
}
