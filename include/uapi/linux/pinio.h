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
 */
#define PINIO_ABI_VERSION	4
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
#define PINIO_PIN_FLAGS_ALL	(PINIO_PIN_WRITE | PINIO_PIN_LONGTERM | \
				 PINIO_PIN_NOFAULT | PINIO_PIN_GET)

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
	__u32 reserved0;
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
	__u64 reserved[2];	/* in: zero */
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
	__u64 reserved[4];	/* in: zero */
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
	__u64 reserved[2];	/* in: zero */
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
 * other references).
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
	__u64 reserved[3];	/* zeroed */
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

#define PINIO_IOC_INFO		_IOR(PINIO_IOC_MAGIC, 0x00, struct pinio_info)
#define PINIO_IOC_PIN		_IOWR(PINIO_IOC_MAGIC, 0x01, struct pinio_pin)
#define PINIO_IOC_UNPIN		_IOWR(PINIO_IOC_MAGIC, 0x02, struct pinio_unpin)
#define PINIO_IOC_QUERY		_IOWR(PINIO_IOC_MAGIC, 0x03, struct pinio_query)
#define PINIO_IOC_DMA		_IOWR(PINIO_IOC_MAGIC, 0x04, struct pinio_dma)
#define PINIO_IOC_SET_CONFIG	_IOW(PINIO_IOC_MAGIC, 0x05, struct pinio_config)
#define PINIO_IOC_GET_CONFIG	_IOR(PINIO_IOC_MAGIC, 0x06, struct pinio_config)
#define PINIO_IOC_DUMP		_IOWR(PINIO_IOC_MAGIC, 0x07, struct pinio_dump)

#endif /* _UAPI_LINUX_PINIO_H */
