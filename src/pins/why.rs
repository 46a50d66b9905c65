// SPDX-License-Identifier: GPL-2.0

//! Why a `PINIO_IOC_PIN` failed: the answer `PINIO_IOC_WHY` gives.
//!
//! A failed pin is explained in the failing call itself, after what it took was released and
//! before it returns, and the explanation is kept by the open file (its [`PinTable`]) until the
//! next failure: the state that made the pin fail (a transient reference, a page not yet
//! faulted in) is seen as close to the failure as possible, no caller pays for it unless its
//! pin fails, and `PINIO_IOC_PIN` keeps its ABI.
//!
//! A page that could not be taken is explained as `mm/gup.c` decides: first the tests of
//! `check_vma_flags()` on the mapping at that page, in its order; then the page itself, looked
//! at through `FOLL_GET | FOLL_NOFAULT` references, which neither fault nor migrate: whether
//! the access needed a fault (the page absent, mapped read-only for a write, or to be unshared
//! for a read-only pin: `gup_must_unshare()`), and for a long-term pin whether pages it had to
//! migrate out of `ZONE_MOVABLE` are still there (`check_and_migrate_movable_folios()` failed).
//!
//! [`PinTable`]: super::table::PinTable

use super::accounting::Refusal;
use crate::{
    glue::{
        shim,
        uapi, //
    },
    pages::{
        extract::Retention,
        gup::{
            HeldPages,
            HoldOptions,
            TakeError, //
        },
        inspect::PageDetail,
        view::{
            Access,
            ReadOnly,
            Writable, //
        },
    },
};
use kernel::{
    bindings,
    page::PAGE_SIZE,
    prelude::*, //
};

/// Pages the migration probe looks at, from the first page not taken (16 MiB of small pages):
/// it bounds the time a failed pin spends being explained.
const PROBE_MAX: usize = 4096;

/// What stopped a pin, as the code that saw it knows it.
pub(crate) enum Failure {
    /// A bad argument (`EINVAL`), or no free handle (`ENOSPC`).
    Invalid(Error),
    /// Past the per-file cap: the pages the file held, and the cap.
    FileCap { held: usize, max: usize },
    /// The long-term charge was over `RLIMIT_MEMLOCK`.
    Memlock(Refusal),
    /// The pages could not be taken: at `addr`, for writing if `write`, with `options`.
    Take {
        addr: usize,
        write: bool,
        options: HoldOptions,
        error: TakeError,
    },
    /// Anything else: an allocation, a signal.
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Other(e)
    }
}

impl From<kernel::alloc::AllocError> for Failure {
    fn from(_: kernel::alloc::AllocError) -> Failure {
        Failure::Other(ENOMEM)
    }
}

/// The explanation of one failed pin: the `PINIO_IOC_WHY` answer without its `in` fields, and
/// the page records it refers to.
pub(crate) struct Why {
    answer: uapi::pinio_why,
    records: KVec<uapi::pinio_page_record>,
    error: Error,
}

impl Why {
    /// Explains the failure of the pin `arg` of the current task. Process context; may sleep
    /// (the probes of [`Failure::Take`] take the mmap lock and page references).
    pub(crate) fn explain(arg: &uapi::pinio_pin, failure: Failure) -> Self {
        let error = match &failure {
            Failure::Invalid(e) | Failure::Other(e) => *e,
            Failure::FileCap { .. } | Failure::Memlock(_) => ENOMEM,
            Failure::Take { error, .. } => error.error,
        };
        let mut why = Why {
            answer: uapi::pinio_why {
                error: -error.to_errno(),
                // SAFETY: Reads the current task's pid in its own namespace; process context.
                tid: unsafe { shim::pinio_current_tid() } as u32,
                flags: arg.flags,
                addr: arg.addr,
                len: arg.len,
                pages_per_call: arg.pages_per_call,
                ..Default::default()
            },
            records: KVec::new(),
            error,
        };
        let a = &mut why.answer;
        match failure {
            Failure::Invalid(_) => a.kind = uapi::PINIO_WHY_INVALID,
            Failure::Other(_) => a.kind = uapi::PINIO_WHY_OTHER,
            Failure::FileCap { held, max } => {
                a.kind = uapi::PINIO_WHY_FILE_CAP;
                a.held_pages = held as u64;
                a.max_pages = max as u64;
            }
            Failure::Memlock(r) => {
                a.kind = uapi::PINIO_WHY_MEMLOCK;
                a.charge_pages = r.pages as u64;
                a.charge_folios = r.folios as u64;
                a.memlock_limit = if r.limit == usize::MAX {
                    u64::MAX
                } else {
                    r.limit as u64
                };
                a.pinned_vm = r.pinned_vm;
            }
            Failure::Take {
                addr,
                write,
                options,
                error,
            } => why.explain_take(addr, write, options, error),
        }
        why
    }

    /// The error the pin returned.
    pub(crate) fn error(&self) -> Error {
        self.error
    }

    /// The answer, numbered `seq` among the file's failures, and the page records it refers
    /// to.
    pub(crate) fn answer(&self, seq: u64) -> (uapi::pinio_why, &[uapi::pinio_page_record]) {
        let mut answer = self.answer;
        answer.seq = seq;
        answer.nr_records = self.records.len() as u32;
        (answer, &self.records)
    }

    /// Keeps `record` if there is room for it.
    fn keep(&mut self, record: uapi::pinio_page_record) {
        if self.records.len() < uapi::PINIO_WHY_MAX_RECORDS as usize {
            // Without memory for it, the record is left out (`nr_records` says so).
            let _ = self.records.push(record, GFP_KERNEL);
        }
    }

    /// Explains pages that could not be taken (see the module documentation).
    fn explain_take(&mut self, addr: usize, write: bool, options: HoldOptions, e: TakeError) {
        // (The kernel crate of Linux 7.2 has no `EOPNOTSUPP` constant.)
        let eopnotsupp = Error::from_errno(-(bindings::EOPNOTSUPP as i32));
        let explained = [EFAULT, ENOMEM, eopnotsupp, EBUSY].contains(&e.error);
        // Failed before any call (the page array), or for another reason (a fatal signal
        // while faulting: EINTR; memory errors: EHWPOISON).
        if e.call.1 == 0 || !explained {
            self.answer.kind = uapi::PINIO_WHY_OTHER;
            return;
        }
        let page_addr = addr.saturating_add(e.at.saturating_mul(PAGE_SIZE));
        let a = &mut self.answer;
        a.page_index = e.at as u64;
        a.page_addr = page_addr as u64;
        let page = look::<ReadOnly>(page_addr);
        let writable = page.is_some() && look::<Writable>(page_addr).is_some();
        if page.is_some() {
            a.page_state |= uapi::PINIO_WHY_PAGE_PRESENT;
        }
        if writable {
            a.page_state |= uapi::PINIO_WHY_PAGE_WRITABLE;
        }
        let vma = mapping_at(page_addr);
        if let Some(m) = vma {
            a.vma_flags = m.facts;
            a.vma_start = m.start as u64;
            a.vma_end = m.end as u64;
        }
        let facts = a.vma_flags;
        let has = |bit: u32| facts & bit != 0;
        let longterm = options.longterm;
        // check_vma_flags(), in its order.
        let refused = match vma {
            None => Some(uapi::PINIO_FAULT_NO_VMA),
            Some(_) if has(uapi::PINIO_VMA_IO_PFNMAP) => Some(uapi::PINIO_FAULT_IO_PFNMAP),
            Some(_) if longterm && has(uapi::PINIO_VMA_FSDAX) => {
                Some(uapi::PINIO_FAULT_FSDAX_LONGTERM)
            }
            Some(_) if has(uapi::PINIO_VMA_SECRETMEM) => Some(uapi::PINIO_FAULT_SECRETMEM),
            // writable_file_mapping_allowed(): FOLL_PIN | FOLL_LONGTERM, dirty tracking.
            Some(_)
                if write
                    && !has(uapi::PINIO_VMA_ANON)
                    && longterm
                    && options.retention == Retention::Pinned
                    && has(uapi::PINIO_VMA_DIRTY_TRACKED) =>
            {
                Some(uapi::PINIO_FAULT_FILE_LONGTERM_WRITE)
            }
            Some(_) if write && !has(uapi::PINIO_VMA_WRITE) => Some(uapi::PINIO_FAULT_NOT_WRITABLE),
            Some(_) if !write && !has(uapi::PINIO_VMA_READ) => Some(uapi::PINIO_FAULT_NOT_READABLE),
            Some(_) => None,
        };
        if let Some(fault) = refused {
            a.kind = uapi::PINIO_WHY_FAULT;
            a.fault = fault;
            self.keep_page(e.at, page);
            return;
        }
        // gup_must_unshare(): a read-only FOLL_PIN of an anonymous page another process may
        // map, or a read-only long-term pin of a page cache page in a COW mapping.
        let unshare = options.retention == Retention::Pinned
            && !write
            && page.is_some_and(|d| {
                if d.info.anon {
                    !d.info.anon_exclusive
                } else {
                    longterm && has(uapi::PINIO_VMA_COW)
                }
            });
        let needs_fault = page.is_none() || (write && !writable) || unshare;
        let fault = if !needs_fault {
            None
        } else if options.nofault {
            Some(if page.is_none() {
                uapi::PINIO_FAULT_NOT_PRESENT
            } else {
                uapi::PINIO_FAULT_NEEDS_WRITE_FAULT
            })
        } else if vma.is_some_and(|m| m.beyond_eof) {
            Some(uapi::PINIO_FAULT_BEYOND_EOF)
        } else {
            Some(uapi::PINIO_FAULT_FAULT_FAILED)
        };
        match fault {
            Some(fault) => {
                a.kind = uapi::PINIO_WHY_FAULT;
                a.fault = fault;
                self.keep_page(e.at, page);
            }
            None if longterm => {
                a.kind = uapi::PINIO_WHY_MIGRATION;
                let (start, len) = e.call;
                let end = start.saturating_add(len);
                self.probe_unpinnable(addr, e.at, end);
            }
            // Nothing explains it now: the memory changed since (a race).
            None => {
                a.kind = uapi::PINIO_WHY_FAULT;
                a.fault = uapi::PINIO_FAULT_NONE;
                self.keep_page(e.at, page);
            }
        }
    }

    /// Keeps the record of the page at `index` of the range, if it was present.
    fn keep_page(&mut self, index: usize, page: Option<PageDetail>) {
        if let Some(d) = page {
            self.keep(probed_record(index, d));
        }
    }

    /// Looks at the pages `at..end` of the range at `addr` (at most [`PROBE_MAX`]) and keeps
    /// the records of those a long-term pin may not hold (`ZONE_MOVABLE`, device memory, fsdax:
    /// `folio_is_longterm_pinnable()` without its CMA test, which a module cannot make). If it
    /// finds none, it keeps the first pages it looked at, for their pfns to be compared with
    /// the CMA areas.
    fn probe_unpinnable(&mut self, addr: usize, at: usize, end: usize) {
        let mut first = KVec::new();
        let mut probed = 0u64;
        let mut unpinnable = 0u64;
        for index in at..end.min(at.saturating_add(PROBE_MAX)) {
            let Some(d) = look::<ReadOnly>(addr.saturating_add(index.saturating_mul(PAGE_SIZE)))
            else {
                continue;
            };
            probed += 1;
            let record = probed_record(index, d);
            if !d.info.longterm_pinnable {
                unpinnable += 1;
                self.keep(record);
            } else if first.len() < uapi::PINIO_WHY_MAX_RECORDS as usize {
                let _ = first.push(record, GFP_KERNEL);
            }
        }
        self.answer.nr_probed = probed;
        self.answer.nr_unpinnable = unpinnable;
        if unpinnable == 0 {
            for record in first {
                self.keep(record);
            }
        }
    }
}

/// The page at `addr` of the current process, looked at through a `FOLL_GET | FOLL_NOFAULT`
/// reference (with `FOLL_WRITE` for [`Writable`]): `None` if it is not mapped so (nothing is
/// faulted in, nothing migrated). The reference is dropped before returning.
fn look<A: Access>(addr: usize) -> Option<PageDetail> {
    let options = HoldOptions {
        retention: Retention::Referenced,
        longterm: false,
        nofault: true,
        slow: false,
    };
    let (held, _) = HeldPages::<A>::take(addr, 1, 1, options).ok()?;
    let detail = held.pages().next().map(|page| page.detail());
    detail
}

/// The record of a page looked at by [`look`], whose refcount leaves out the look's reference.
fn probed_record(index: usize, d: PageDetail) -> uapi::pinio_page_record {
    let mut record = page_record(index, d);
    record.refcount = record.refcount.saturating_sub(1);
    record
}

/// The mapping at an address, as `check_vma_flags()` sees it.
#[derive(Clone, Copy)]
struct Mapping {
    /// `PINIO_VMA_*`.
    facts: u32,
    start: usize,
    end: usize,
    /// A file mapping past the end of its file at that address.
    beyond_eof: bool,
}

/// The mapping of the current process at `addr`, if any (under the mmap lock).
fn mapping_at(addr: usize) -> Option<Mapping> {
    let task = kernel::current!();
    let mm = task.mm()?;
    let lock = mm.mmap_read_lock();
    let vma = lock.vma_lookup(addr)?;
    // SAFETY: `vma` is a mapping of the current mm, stable while `lock` holds the mmap lock
    // for reading, as both helpers require; they only read it and its file.
    let (facts, beyond_eof) = unsafe {
        (
            shim::pinio_vma_facts(vma.as_ptr()),
            shim::pinio_vma_beyond_eof(vma.as_ptr(), addr),
        )
    };
    Some(Mapping {
        facts,
        start: vma.start(),
        end: vma.end(),
        beyond_eof,
    })
}

/// The `PINIO_IOC_DUMP` record of the page at `index` of a range (also the records of a
/// `PINIO_IOC_WHY` answer).
pub(crate) fn page_record(index: usize, d: PageDetail) -> uapi::pinio_page_record {
    let i = d.info;
    let flags = [
        (i.maybe_dma_pinned, uapi::PINIO_PAGE_DMA_PINNED),
        (i.anon, uapi::PINIO_PAGE_ANON),
        (i.anon_exclusive, uapi::PINIO_PAGE_ANON_EXCLUSIVE),
        (i.zero_page, uapi::PINIO_PAGE_ZERO),
        (d.dirty, uapi::PINIO_PAGE_DIRTY),
        (d.ksm, uapi::PINIO_PAGE_KSM),
        (d.swapcache, uapi::PINIO_PAGE_SWAPCACHE),
        (d.lru, uapi::PINIO_PAGE_LRU),
        (d.hugetlb, uapi::PINIO_PAGE_HUGETLB),
        (i.longterm_pinnable, uapi::PINIO_PAGE_LONGTERM_PINNABLE),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .fold(0, |acc, (_, bit)| acc | bit);
    uapi::pinio_page_record {
        pfn: d.pfn,
        index: index as u64,
        flags,
        zone: d.zone,
        order: d.order,
        refcount: i.ref_count,
        mapcount: i.mapcount,
        // An order-0 folio keeps its pins in the refcount, GUP_PIN_COUNTING_BIAS each.
        pincount: d
            .pincount
            .unwrap_or(i.ref_count / bindings::GUP_PIN_COUNTING_BIAS as i32),
        expected_refs: d.expected_refs,
        ..Default::default()
    }
}
