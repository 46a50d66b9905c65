/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pinio: the ioctl ABI of /dev/pinio.
 *
 * This header is the single source of truth for the ABI: the module's Rust
 * code gets these structs and constants from it through bindgen.
 *
 * Rules for every struct: fixed-size fields, explicit padding, and reserved
 * fields that user space must zero on input (EINVAL otherwise). The module
 * zeroes reserved fields on output. User addresses are __aligned_u64, so the
 * layout is the same for 32-bit and 64-bit callers.
 *
 * Pins taken with PINIO_IOC_PIN belong to the open file, not to the process:
 * they are released by PINIO_IOC_UNPIN or when the last reference to the file
 * is closed, whichever process that is.
 */
#ifndef _UAPI_LINUX_PINIO_H
#define _UAPI_LINUX_PINIO_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * 1: INFO, PIN, UNPIN, QUERY, DMA, SET_CONFIG (dma_delay_us).
 * 2: asynchronous requests; SET_CONFIG flags, latency_us, queue_depth;
 *    GET_CONFIG. Version 1 structs keep their layout and meaning.
 * 3: DUMP (one record per held page). Earlier structs unchanged.
 * 4: INFO's dma_mask_bits (from its first reserved word).
 * 5: PIN's PINIO_PIN_SLOW, PINIO_PIN_BENCH and unpin_ns; WHY; DMA's bounced and
 *    PINIO_DMA_KEEP_MAPPING; INFO's info_flags; QUERY's dma_kept_maps and
 *    dma_kept_slots; DUMP records' expected_refs. All from reserved words.
 */
#define PINIO_ABI_VERSION	5
#define PINIO_IOC_MAGIC		0xB9

/* PINIO_IOC_PIN flags */
/* FOLL_WRITE: the device may later write into the pages (PINIO_DMA_TO_PAGES). */
#define PINIO_PIN_WRITE		(1U << 0)
/* FOLL_LONGTERM: held for an indefinite time; charged to pinned_vm. */
#define PINIO_PIN_LONGTERM	(1U << 1)
/* FOLL_NOFAULT: take only pages that are already present; never fault. */
#define PINIO_PIN_NOFAULT	(1U << 2)
/*
 * Retention mode GET: get_user_pages_fast() references (FOLL_GET), the
 * pre-2020 O_DIRECT semantics, kept for experiments. Without it the mode is
 * PIN: pin_user_pages_fast() (FOLL_PIN). GET with LONGTERM is refused.
 */
#define PINIO_PIN_GET		(1U << 3)
/*
 * The slow path (ABI 5): pin_user_pages() with the mmap lock held across the call, no
 * GUP-fast attempt first, as gup_test's PIN_BASIC_TEST and PIN_LONGTERM_BENCHMARK pin.
 * Not with PINIO_PIN_GET (EINVAL).
 */
#define PINIO_PIN_SLOW		(1U << 4)
/*
 * Benchmark (ABI 5): release the pages in the same call, right after taking them, as
 * gup_test's PIN_FAST_BENCHMARK does. No handle is made (handle 0) and nothing is
 * charged; pin_ns and unpin_ns time the two halves.
 */
#define PINIO_PIN_BENCH		(1U << 5)
#define PINIO_PIN_FLAGS_ALL	(PINIO_PIN_WRITE | PINIO_PIN_LONGTERM | \
				 PINIO_PIN_NOFAULT | PINIO_PIN_GET | \
				 PINIO_PIN_SLOW | PINIO_PIN_BENCH)

/* PINIO_IOC_UNPIN flags */
/*
 * Mark the pages dirty as they are released (the device wrote into them). Applies to pins
 * taken with PINIO_PIN_WRITE only; for a read-only pin it has no effect. Pages the device
 * wrote into are released dirty on close anyway.
 */
#define PINIO_UNPIN_DIRTY	(1U << 0)
#define PINIO_UNPIN_FLAGS_ALL	PINIO_UNPIN_DIRTY

/* PINIO_IOC_DMA flags: exactly one direction. */
/* The device writes into the held pages, as a read(2) would. */
#define PINIO_DMA_TO_PAGES	(1U << 0)
/* The device reads from the held pages, as a write(2) would. */
#define PINIO_DMA_FROM_PAGES	(1U << 1)
#define PINIO_DMA_FLAGS_ALL	(PINIO_DMA_TO_PAGES | PINIO_DMA_FROM_PAGES)
/*
 * An experiment, never on by default (ABI 5): keep the DMA mapping this call made instead of
 * unmapping it, the mistake of the skip_unmap broken variant. The handle holds the mapping
 * (and, under swiotlb, its bounce slots) until PINIO_IOC_UNPIN or the last close, which unmap
 * it before the pages are released. Accepted only when the module was loaded with
 * dma_leak_experiment=1: INFO's dma_flags then list it. Otherwise EINVAL, as for any flag
 * INFO does not list; not in PINIO_DMA_FLAGS_ALL, the flags every device accepts.
 */
#define PINIO_DMA_KEEP_MAPPING	(1U << 2)

/* PINIO_IOC_INFO info_flags: module parameters in effect that change behaviour (ABI 5). */
/* dma_leak_experiment=1: PINIO_DMA_KEEP_MAPPING is accepted. */
#define PINIO_INFO_DMA_LEAK_EXPERIMENT	(1U << 0)
/* overlap_warn=1: overlapping DMA into one page is logged, once per file. */
#define PINIO_INFO_OVERLAP_WARN		(1U << 1)

/* PINIO_IOC_INFO: ABI version, supported flags and device geometry (out). */
struct pinio_info {
	__u32 abi_version;	/* PINIO_ABI_VERSION */
	__u32 pin_flags;	/* PINIO_PIN_* bits accepted */
	__u32 unpin_flags;	/* PINIO_UNPIN_* bits accepted */
	__u32 dma_flags;	/* PINIO_DMA_* bits accepted */
	__u64 store_size;	/* bytes; also lseek(SEEK_END) */
	__u32 block_size;	/* read/write alignment; 1 = none */
	__u32 page_size;
	__u64 max_pinned_pages;	/* per-file cap on held pages */
	__u32 config_flags;	/* PINIO_CONFIG_* bits accepted (ABI 2) */
	__u32 max_queue_depth;	/* largest queue_depth (ABI 2) */
	__u32 dma_mask_bits;	/* DMA mask of the device, bits (ABI 4) */
	__u32 info_flags;	/* PINIO_INFO_* (ABI 5) */
	__u64 reserved[2];
};

/* PINIO_IOC_PIN: pin (or get) a page-aligned user range; returns a handle. */
struct pinio_pin {
	__aligned_u64 addr;	/* in: page aligned */
	__u64 len;		/* in: page aligned, non-zero */
	__u32 flags;		/* in: PINIO_PIN_* */
	__u32 pages_per_call;	/* in: pages per pin/get call; 0: all in one */
	__u32 handle;		/* out: non-zero */
	__u32 reserved0;	/* in: zero */
	__u64 nr_pages;		/* out: pages held (len / page size) */
	__u64 charged_pages;	/* out: pages charged to pinned_vm */
	__u64 pin_ns;		/* out: time in the pin/get calls */
	__u64 unpin_ns;		/* out: PINIO_PIN_BENCH: time in the unpin/put calls (ABI 5) */
	__u64 reserved[1];	/* in: zero */
};

/* PINIO_IOC_UNPIN: release a handle's pages. */
struct pinio_unpin {
	__u32 handle;		/* in */
	__u32 flags;		/* in: PINIO_UNPIN_* */
	__u64 unpin_ns;		/* out: time in the unpin/put calls */
	__u64 reserved[2];	/* in: zero */
};

/* PINIO_IOC_QUERY: what the kernel now thinks of a handle's pages. */
struct pinio_query {
	__u32 handle;		/* in */
	__u32 flags;		/* out: the PINIO_PIN_* flags of the pin */
	__aligned_u64 addr;	/* out: the pinned range */
	__u64 len;
	__u64 nr_pages;		/* out: pages held */
	__u64 nr_folios;	/* out: folios they belong to */
	__u64 nr_large_folios;	/* out: of which large (THP, hugetlb, mTHP) */
	__u64 nr_dma_pinned;	/* out: pages whose folio_maybe_dma_pinned() */
	__u64 nr_longterm_pinnable; /* out: pages folio_is_longterm_pinnable() */
	__u64 nr_anon;		/* out: pages of anonymous folios */
	__u64 nr_anon_exclusive; /* out: PageAnonExclusive pages */
	__u64 nr_zero_page;	/* out: shared zero page mappings */
	__u64 charged_pages;	/* out: pages charged to pinned_vm */
	__s32 refcount_min;	/* out: folio_ref_count() over the folios */
	__s32 refcount_max;
	__s32 mapcount_min;	/* out: folio_mapcount() over the folios */
	__s32 mapcount_max;
	__u64 dma_kept_maps;	/* out: mappings PINIO_DMA_KEEP_MAPPING left (ABI 5) */
	__u64 dma_kept_slots;	/* out: swiotlb slots they hold (ABI 5) */
	__u64 reserved[2];	/* in: zero */
};

/*
 * PINIO_IOC_DMA: the device moves bytes between its store and a handle's
 * pages now, through its own mapping of the pages (not through any page
 * table). TO_PAGES needs a pin taken with PINIO_PIN_WRITE (EPERM otherwise).
 */
struct pinio_dma {
	__u32 handle;		/* in */
	__u32 flags;		/* in: one PINIO_DMA_* direction */
	__u64 range_offset;	/* in: byte offset into the pinned range */
	__u64 store_offset;	/* in: byte offset into the store */
	__u64 len;		/* in: bytes */
	__u64 done;		/* out: bytes moved */
	__u64 bounced;		/* out: of those, bytes bounced through swiotlb (ABI 5) */
	__u64 reserved[1];	/* in: zero */
};

/* PINIO_IOC_SET_CONFIG flags */
/*
 * Data-path retention: read/write take FOLL_GET page references with
 * iov_iter_get_pages2() and release them with put_page(), the O_DIRECT path
 * before 2020, instead of extracting (FOLL_PIN for user memory) with
 * iov_iter_extract_pages(). For the O_DIRECT + fork experiments.
 */
#define PINIO_CONFIG_GET_PAGES	(1U << 0)
/*
 * Asynchronous requests complete in submission order (FIFO): a request whose
 * latency ran out waits for every earlier one of the same file. Without it
 * requests complete as their latency runs out.
 */
#define PINIO_CONFIG_FIFO	(1U << 1)
#define PINIO_CONFIG_FLAGS_ALL	(PINIO_CONFIG_GET_PAGES | PINIO_CONFIG_FIFO)

/* Requests one file may have in flight: default and largest queue_depth. */
#define PINIO_QUEUE_DEPTH_DEFAULT	128
#define PINIO_QUEUE_DEPTH_MAX		1024

/*
 * PINIO_IOC_SET_CONFIG: per-file device model (in); PINIO_IOC_GET_CONFIG
 * returns the file's current one (out). All zero (an ABI version 1 caller's
 * struct with only dma_delay_us set) means the defaults.
 *
 * dma_delay_us: after extracting each batch of pages and before copying,
 * the device waits this long (killable), as a slow DMA engine would. Used
 * to race fork() or SIGKILL against a transfer.
 * latency_us: service time of an asynchronous request (io_uring, libaio):
 * it completes this long after it was queued.
 * queue_depth: asynchronous requests in flight; a submitter past it waits
 * (EAGAIN with RWF_NOWAIT / IOCB_NOWAIT). 0: PINIO_QUEUE_DEPTH_DEFAULT.
 */
struct pinio_config {
	__u32 dma_delay_us;	/* in: 0..1000000 */
	__u32 flags;		/* in: PINIO_CONFIG_* */
	__u32 latency_us;	/* in: 0..10000000 */
	__u32 queue_depth;	/* in: 0..PINIO_QUEUE_DEPTH_MAX */
	__u64 reserved[2];	/* in: zero */
};

/* PINIO_IOC_DUMP: struct pinio_page_record flags (what the kernel says of the page). */
#define PINIO_PAGE_DMA_PINNED	(1U << 0)	/* folio_maybe_dma_pinned() */
#define PINIO_PAGE_ANON		(1U << 1)	/* folio_test_anon() */
#define PINIO_PAGE_ANON_EXCLUSIVE (1U << 2)	/* PageAnonExclusive() (anon pages only) */
#define PINIO_PAGE_ZERO		(1U << 3)	/* the shared zero page (is_zero_folio()) */
#define PINIO_PAGE_DIRTY	(1U << 4)	/* folio_test_dirty() */
#define PINIO_PAGE_KSM		(1U << 5)	/* folio_test_ksm(): a KSM page */
#define PINIO_PAGE_SWAPCACHE	(1U << 6)	/* folio_test_swapcache() */
#define PINIO_PAGE_LRU		(1U << 7)	/* folio_test_lru(): on an LRU list */
#define PINIO_PAGE_HUGETLB	(1U << 8)	/* folio_test_hugetlb() */
/*
 * folio_is_longterm_pinnable() without its CMA test: zero page, device-coherent,
 * fsdax and ZONE_MOVABLE are checked; whether the pageblock is MIGRATE_CMA is
 * not, because get_pfnblock_migratetype() is not exported to modules. Compare
 * pfn with the CMA areas (the kernel log's "cma: Reserved") for that half.
 */
#define PINIO_PAGE_LONGTERM_PINNABLE (1U << 9)

/* PINIO_IOC_DUMP: struct pinio_page_record zone (page_zonenum()). */
#define PINIO_ZONE_DMA		0
#define PINIO_ZONE_DMA32	1
#define PINIO_ZONE_NORMAL	2
#define PINIO_ZONE_HIGHMEM	3
#define PINIO_ZONE_MOVABLE	4
#define PINIO_ZONE_DEVICE	5

/*
 * PINIO_IOC_DUMP: one held page, as the kernel sees it at the time of the call.
 * Counts are of the page's folio. For a large folio, pincount is the folio's
 * exact pin counter (folio->_pincount); an order-0 folio has none, and pincount
 * is refcount / GUP_PIN_COUNTING_BIAS (1024), the estimate
 * folio_maybe_dma_pinned() relies on (exact unless the page has 1024 or more
 * other references). expected_refs is what the folio's mappings, page cache and swap
 * cache explain (folio_expected_ref_count()), the count migration compares refcount with:
 * refcount - expected_refs - the pins' references (pincount for a large folio, pincount *
 * 1024 for an order-0 one) are references nothing in the page tables or caches explains.
 */
struct pinio_page_record {
	__u64 pfn;		/* page_to_pfn() */
	__u64 index;		/* page index within the handle's range */
	__u32 flags;		/* PINIO_PAGE_* */
	__u32 zone;		/* PINIO_ZONE_* */
	__u32 order;		/* folio_order(): the folio has 2^order pages */
	__s32 refcount;		/* folio_ref_count() */
	__s32 mapcount;		/* folio_mapcount(): page table mappings */
	__s32 pincount;		/* see above */
	__s32 expected_refs;	/* folio_expected_ref_count() (ABI 5), see below */
	__u32 reserved0;	/* zeroed */
	__u64 reserved[2];	/* zeroed */
};

/*
 * PINIO_IOC_DUMP: records of a handle's pages, from page index offset on
 * (ABI 3). The module writes min(count, nr_pages - offset) records to the
 * array at records (none if offset >= nr_pages) and sets count to the number
 * written and nr_pages to the pages the handle holds; count 0 only asks for
 * nr_pages. EINVAL: unknown handle, non-zero reserved fields. EFAULT: the
 * argument, or the first record, cannot be written. If a later record cannot
 * be written, or the handle is released by another thread while the records
 * are written, the call succeeds with the records written so far (count is
 * short, as read(2) would be). Records are taken in batches under the
 * file's pin table lock; each is a snapshot of its page at that time.
 */
struct pinio_dump {
	__u32 handle;		/* in */
	__u32 count;		/* in: room at records; out: records written */
	__u64 offset;		/* in: index of the first page */
	__aligned_u64 records;	/* in: user address of struct pinio_page_record[count] */
	__u64 nr_pages;		/* out: pages the handle holds */
	__u64 reserved[4];	/* in: zero */
};

/* PINIO_IOC_WHY kind: why the last failed PINIO_IOC_PIN of the file failed (ABI 5). */
#define PINIO_WHY_NONE		0	/* no PIN of this file has failed */
#define PINIO_WHY_INVALID	1	/* EINVAL, ENOSPC: the argument, or no free handle */
#define PINIO_WHY_FILE_CAP	2	/* ENOMEM: past the per-file cap (max_pin_mib) */
#define PINIO_WHY_MEMLOCK	3	/* ENOMEM: the long-term charge is over RLIMIT_MEMLOCK */
/* A long-term pin: pages it had to migrate out of ZONE_MOVABLE or CMA are still there. */
#define PINIO_WHY_MIGRATION	4
#define PINIO_WHY_FAULT		5	/* a page could not be taken: fault says why */
#define PINIO_WHY_OTHER		6	/* EINTR, ENOMEM of an allocation, ... */

/*
 * PINIO_IOC_WHY fault: why the page at page_addr could not be taken. The checks of
 * mm/gup.c's check_vma_flags() come first, in its order; then the page itself.
 */
#define PINIO_FAULT_NONE		0	/* not a fault (or none found: a race) */
#define PINIO_FAULT_NO_VMA		1	/* nothing is mapped there */
#define PINIO_FAULT_IO_PFNMAP		2	/* VM_IO or VM_PFNMAP: no pages to pin */
#define PINIO_FAULT_FSDAX_LONGTERM	3	/* EOPNOTSUPP: FOLL_LONGTERM on fsdax */
#define PINIO_FAULT_SECRETMEM		4	/* memfd_secret() memory */
/*
 * writable_file_mapping_allowed(): FOLL_WRITE | FOLL_LONGTERM of a shared file mapping
 * whose file needs its dirty pages tracked (vma_needs_dirty_tracking(): ->page_mkwrite, or
 * writeback), as on ext4; shmem and hugetlbfs need none.
 */
#define PINIO_FAULT_FILE_LONGTERM_WRITE	5
#define PINIO_FAULT_NOT_WRITABLE	6	/* PINIO_PIN_WRITE, mapping without PROT_WRITE */
#define PINIO_FAULT_NOT_READABLE	7	/* mapping without PROT_READ (PROT_NONE) */
#define PINIO_FAULT_NOT_PRESENT		8	/* PINIO_PIN_NOFAULT: the page is not mapped */
/* PINIO_PIN_NOFAULT | PINIO_PIN_WRITE: mapped read-only; a write fault (COW, unshare) needed */
#define PINIO_FAULT_NEEDS_WRITE_FAULT	9
#define PINIO_FAULT_BEYOND_EOF		10	/* a file mapping past the end of the file: SIGBUS */
/*
 * The fault handler could not provide the page (VM_FAULT_SIGBUS, VM_FAULT_OOM): e.g. a hugetlb
 * mapping without a huge page it may take; a long-term pin allocates under
 * memalloc_pin_save(), never from ZONE_MOVABLE or CMA.
 */
#define PINIO_FAULT_FAULT_FAILED	11

/* PINIO_IOC_WHY vma_flags: the mapping at page_addr. */
#define PINIO_VMA_READ		(1U << 0)	/* VM_READ */
#define PINIO_VMA_WRITE		(1U << 1)	/* VM_WRITE */
#define PINIO_VMA_SHARED	(1U << 2)	/* VM_SHARED */
#define PINIO_VMA_ANON		(1U << 3)	/* vma_is_anonymous() */
#define PINIO_VMA_FILE		(1U << 4)	/* vm_file set */
#define PINIO_VMA_SHMEM		(1U << 5)	/* shmem_mapping(): tmpfs, memfd, shared anon */
#define PINIO_VMA_HUGETLB	(1U << 6)	/* is_vm_hugetlb_page() */
#define PINIO_VMA_DIRTY_TRACKED	(1U << 7)	/* vma_needs_dirty_tracking() */
#define PINIO_VMA_IO_PFNMAP	(1U << 8)	/* VM_IO or VM_PFNMAP */
#define PINIO_VMA_FSDAX		(1U << 9)	/* vma_is_fsdax() */
#define PINIO_VMA_SECRETMEM	(1U << 10)	/* memfd_secret() */
#define PINIO_VMA_COW		(1U << 11)	/* vma_is_cow_mapping(): private, may write */

/* PINIO_IOC_WHY page_state: the page at page_addr, looked at with FOLL_NOFAULT. */
#define PINIO_WHY_PAGE_PRESENT	(1U << 0)	/* mapped: a reference could be taken */
#define PINIO_WHY_PAGE_WRITABLE	(1U << 1)	/* mapped writable: no write fault needed */

/* Records the module keeps of one failure. */
#define PINIO_WHY_MAX_RECORDS	64

/*
 * PINIO_IOC_WHY (ABI 5): why the last PINIO_IOC_PIN of this open file that failed, by any
 * thread, failed: gathered when it failed, kept until the next failure. Successful pins
 * leave it as it is; seq tells failures apart.
 *
 * records: the module writes min(count, nr_records) struct pinio_page_record to the array at
 * records and sets count to the number written (count 0 asks for none). For MIGRATION, the
 * pages found not long-term pinnable; for FAULT, the page at page_addr if it is present. They
 * are taken through FOLL_GET | FOLL_NOFAULT references after the failure (nothing is
 * faulted in or migrated), and refcount leaves that reference out. EINVAL for reserved fields
 * set; EFAULT if the argument, or the records (count > 0), cannot be written.
 */
struct pinio_why {
	__u32 kind;		/* out: PINIO_WHY_* */
	__s32 error;		/* out: the errno the PIN returned (positive), 0 for NONE */
	__u64 seq;		/* out: failed PINs of this file so far, this one included */
	__u32 tid;		/* out: the calling thread (task_pid_vnr(): its pid namespace) */
	__u32 flags;		/* out: the PIN's PINIO_PIN_* flags */
	__aligned_u64 addr;	/* out: the PIN's range */
	__u64 len;
	__u32 pages_per_call;	/* out: the PIN's pages_per_call */
	__u32 fault;		/* out: FAULT: PINIO_FAULT_* */
	__u64 page_index;	/* out: FAULT, MIGRATION: first page not taken, from addr */
	__aligned_u64 page_addr;	/* out: its address */
	__u32 vma_flags;	/* out: FAULT, MIGRATION: PINIO_VMA_* at page_addr */
	__u32 page_state;	/* out: FAULT, MIGRATION: PINIO_WHY_PAGE_* at page_addr */
	__aligned_u64 vma_start;	/* out: the mapping at page_addr (0, 0: none) */
	__aligned_u64 vma_end;
	__u64 charge_pages;	/* out: MEMLOCK: pages the pin would charge (whole folios) */
	__u64 charge_folios;	/* out: MEMLOCK: the folios, those this file had not charged */
	__u64 memlock_limit;	/* out: MEMLOCK: RLIMIT_MEMLOCK in pages (~0: unlimited) */
	__u64 pinned_vm;	/* out: MEMLOCK: mm->pinned_vm before, pages */
	__u64 held_pages;	/* out: FILE_CAP: pages the file held */
	__u64 max_pages;	/* out: FILE_CAP: the cap */
	__u64 nr_probed;	/* out: MIGRATION: pages looked at from page_index on */
	__u64 nr_unpinnable;	/* out: MIGRATION: of those, not folio_is_longterm_pinnable() */
	__u32 nr_records;	/* out: records kept (at most PINIO_WHY_MAX_RECORDS) */
	__u32 count;		/* in: room at records; out: records written */
	__aligned_u64 records;	/* in: user address of struct pinio_page_record[count] */
	__u64 reserved[4];	/* in: zero */
};

#define PINIO_IOC_INFO		_IOR(PINIO_IOC_MAGIC, 0x00, struct pinio_info)
#define PINIO_IOC_PIN		_IOWR(PINIO_IOC_MAGIC, 0x01, struct pinio_pin)
#define PINIO_IOC_UNPIN		_IOWR(PINIO_IOC_MAGIC, 0x02, struct pinio_unpin)
#define PINIO_IOC_QUERY		_IOWR(PINIO_IOC_MAGIC, 0x03, struct pinio_query)
#define PINIO_IOC_DMA		_IOWR(PINIO_IOC_MAGIC, 0x04, struct pinio_dma)
#define PINIO_IOC_SET_CONFIG	_IOW(PINIO_IOC_MAGIC, 0x05, struct pinio_config)
#define PINIO_IOC_GET_CONFIG	_IOR(PINIO_IOC_MAGIC, 0x06, struct pinio_config)
#define PINIO_IOC_DUMP		_IOWR(PINIO_IOC_MAGIC, 0x07, struct pinio_dump)
#define PINIO_IOC_WHY		_IOWR(PINIO_IOC_MAGIC, 0x08, struct pinio_why)

#endif /* _UAPI_LINUX_PINIO_H */
