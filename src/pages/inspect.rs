// SPDX-License-Identifier: GPL-2.0

//! What the kernel thinks of a lent page and its folio: counters and flags, for experiments.
//!
//! Kept apart from [`super::view`] on purpose: a driver that only moves data never needs it,
//! and it reads folio internals (reference, map and pin counts) that the mm maintainers do not
//! want behind a general API; it is not part of what this layer offers for `rust/kernel/`.

use super::view::PageRef;
use crate::glue::shim;

impl PageRef<'_> {
    /// What the kernel now thinks of this page and its folio.
    pub(crate) fn info(self) -> PageInfo {
        // SAFETY: The page is valid for `'a` (type invariant), and so is its folio, which
        // `page_folio()` only computes.
        let folio = unsafe { shim::pinio_page_folio(self.as_ptr()) };
        // SAFETY: `folio` is the valid folio of a page that stays allocated for this call; these
        // helpers only read its flags and counters.
        unsafe {
            PageInfo {
                folio: folio as usize,
                folio_pages: usize::try_from(shim::pinio_folio_nr_pages(folio)).unwrap_or(1),
                ref_count: shim::pinio_folio_ref_count(folio),
                mapcount: shim::pinio_folio_mapcount(folio),
                maybe_dma_pinned: shim::pinio_folio_maybe_dma_pinned(folio),
                longterm_pinnable: shim::pinio_folio_is_longterm_pinnable(folio),
                anon: shim::pinio_folio_test_anon(folio),
                anon_exclusive: shim::pinio_folio_test_anon(folio)
                    && shim::pinio_page_anon_exclusive(self.as_ptr()),
                zero_page: shim::pinio_is_zero_folio(folio),
            }
        }
    }

    /// Where the page is and what its folio's flags and counters say.
    pub(crate) fn detail(self) -> PageDetail {
        let info = self.info();
        // SAFETY: As in `info()`: the page and its folio stay allocated for this call.
        let folio = unsafe { shim::pinio_page_folio(self.as_ptr()) };
        // SAFETY: `self` and `folio` are valid for this call (type invariant); these helpers only
        // read the page's flags (its zone and pfn) and the folio's flags and counters.
        unsafe {
            PageDetail {
                info,
                pfn: shim::pinio_page_to_pfn(self.as_ptr()) as u64,
                zone: shim::pinio_page_zone(self.as_ptr()),
                order: shim::pinio_folio_order(folio),
                pincount: match shim::pinio_folio_pincount(folio) {
                    n if n >= 0 => Some(n),
                    _ => None,
                },
                dirty: shim::pinio_folio_test_dirty(folio),
                ksm: shim::pinio_folio_test_ksm(folio),
                swapcache: shim::pinio_folio_test_swapcache(folio),
                lru: shim::pinio_folio_test_lru(folio),
                hugetlb: shim::pinio_folio_test_hugetlb(folio),
                expected_refs: shim::pinio_folio_expected_ref_count(folio),
            }
        }
    }
}

/// A snapshot of one page's folio, as [`PageRef::info`] saw it.
#[derive(Clone, Copy)]
pub(crate) struct PageInfo {
    /// Identity of the folio (its address), to count distinct folios; never dereferenced.
    pub(crate) folio: usize,
    /// `folio_nr_pages()`.
    pub(crate) folio_pages: usize,
    /// `folio_ref_count()`.
    pub(crate) ref_count: i32,
    /// `folio_mapcount()`.
    pub(crate) mapcount: i32,
    /// `folio_maybe_dma_pinned()`.
    pub(crate) maybe_dma_pinned: bool,
    /// `folio_is_longterm_pinnable()`.
    pub(crate) longterm_pinnable: bool,
    /// `folio_test_anon()`.
    pub(crate) anon: bool,
    /// `PageAnonExclusive()` of the page (anonymous folios only).
    pub(crate) anon_exclusive: bool,
    /// `is_zero_folio()`.
    pub(crate) zero_page: bool,
}

/// A snapshot of one page and its folio, as [`PageRef::detail`] saw it.
#[derive(Clone, Copy)]
pub(crate) struct PageDetail {
    /// The folio's counters and flags, as [`PageRef::info`] reports them.
    pub(crate) info: PageInfo,
    /// `page_to_pfn()`.
    pub(crate) pfn: u64,
    /// `page_zonenum()`, as a `PINIO_ZONE_*` value.
    pub(crate) zone: u32,
    /// `folio_order()`: the folio has `1 << order` pages.
    pub(crate) order: u32,
    /// The folio's exact pin counter (`folio->_pincount`), kept only by large folios.
    pub(crate) pincount: Option<i32>,
    /// `folio_test_dirty()`.
    pub(crate) dirty: bool,
    /// `folio_test_ksm()`.
    pub(crate) ksm: bool,
    /// `folio_test_swapcache()`.
    pub(crate) swapcache: bool,
    /// `folio_test_lru()`.
    pub(crate) lru: bool,
    /// `folio_test_hugetlb()`.
    pub(crate) hugetlb: bool,
    /// `folio_expected_ref_count()`: the references its mappings and caches explain.
    pub(crate) expected_refs: i32,
}
