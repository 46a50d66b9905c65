// SPDX-License-Identifier: GPL-2.0

//! User pages lent to a device: everything about retaining them, and nothing about pinio.
//!
//! A driver that does direct I/O or DMA to user memory takes the pages of an `iov_iter` or of
//! a user range, lets its device read or write them, and gives them back the way the kernel
//! expects: unpinned, dirtied where the device wrote, never before the device is done. This
//! layer is that part, written as kernel-crate code: it depends only on `kernel::` and the C
//! shims of [`crate::glue`], never on pinio's device, so that it moves into `rust/kernel/` as
//! it is (the upstream series below).
//!
//! - [`view`]: `Copy` views of lent pages, with the device's access in the type
//!   ([`view::ReadOnly`], [`view::Writable`]);
//! - [`inspect`]: what the kernel thinks of a page and its folio (for experiments only);
//! - [`copy`]: the page-to-page copy and zeroing every byte moves through;
//! - [`iter`]: what a direct-I/O policy needs of an `iov_iter` (type, alignment, segments,
//!   truncation, `FOLL_NOFAULT`);
//! - [`extract`]: `iov_iter_extract_pages()`/`iov_iter_get_pages2()` and their matching release;
//! - [`batch`]: one bounded batch of a synchronous transfer, released when dropped;
//! - [`owned`]: every page of a request that completes elsewhere, `Send`;
//! - [`gup`]: a user range pinned (`FOLL_PIN`, optionally `FOLL_LONGTERM`) or referenced for
//!   as long as its owner wants.
//!
//! Every container releases what it holds when dropped, dirtying the pages the device wrote
//! into (only [`view::Writable`] containers can be written); releases may sleep, so containers
//! are dropped in process context.
//!
//! **The upstream series.** All of these modules but [`inspect`] are also a patch series for
//! the kernel's Rust crate, generated from these very files by `make upstream-patches`
//! (`scripts/upstream/`, `Documentation/upstream.rst`): [`view`] and [`copy`] become
//! `kernel::page::{view, copy}`, [`gup`] becomes `kernel::mm::gup`, and [`iter`], [`extract`],
//! [`batch`] and [`owned`] become `kernel::iov::{iter, extract, batch, owned}`. Hence the rules
//! for these files:
//! - they use only `kernel::`, each other (`super::`), and the C shims through
//!   `shim::pinio_NAME()`, where `pinio_NAME()` wraps the kernel inline `NAME()` with its own
//!   prototype (it becomes `bindings::NAME()` and the helper `rust_helper_NAME()`);
//! - what pinio has beyond the series (its `FOLL_GET` experiments, their timing) sits between
//!   `// BEGIN pinio only` and `// END pinio only` lines, which the generator leaves out;
//! - the words "pinio", "glue" and "shim::" appear nowhere else in them;
//! - their doctests (`# Examples`) are written against the kernel crate's paths
//!   (`kernel::page::view`, ...) and the series' API: pinio's build does not compile them,
//!   `make upstream-test` builds and runs them as KUnit tests in a kernel with the series
//!   applied.

pub(crate) mod batch;
pub(crate) mod copy;
pub(crate) mod extract;
pub(crate) mod gup;
pub(crate) mod inspect;
pub(crate) mod iter;
pub(crate) mod owned;
pub(crate) mod view;
