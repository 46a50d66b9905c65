/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims for pinio: one-line wrappers of kernel static inlines and macros
 * that Rust cannot call directly. bindgen reads this header at build time;
 * the Rust side sees only the pinio_* functions declared here.
 *
 * pinio_NAME wraps the inline NAME with NAME's own prototype wherever it can:
 * those the pages layer (src/pages/) calls must, because the upstream series
 * generator (scripts/upstream/) turns each such shim into the kernel's
 * rust_helper_NAME (rust/helpers/) and the call into bindings::NAME.
 */
#ifndef _PINIO_SHIM_H
#define _PINIO_SHIM_H

#include <linux/types.h>
#include <linux/uio.h>

struct file;
struct kiocb;
struct workqueue_struct;
struct file_operations;
struct folio;
struct folio_queue;
struct xarray;
struct iov_iter;
struct mm_struct;
struct vm_area_struct;
struct page;
struct device;
struct device_dma_parameters;
struct scatterlist;
struct xarray;

/* iov_iter */
bool pinio_iov_iter_extract_will_pin(const struct iov_iter *iter);
bool pinio_user_backed_iter(const struct iov_iter *iter);
bool pinio_iov_iter_is_kvec(const struct iov_iter *iter);
enum iter_type pinio_iov_iter_type(const struct iov_iter *iter);
size_t pinio_iov_iter_count(const struct iov_iter *iter);
void __user *pinio_iter_iov_addr(const struct iov_iter *iter);
size_t pinio_iter_iov_len(const struct iov_iter *iter);
void pinio_iov_iter_truncate(struct iov_iter *iter, u64 count);
void pinio_iov_iter_reexpand(struct iov_iter *iter, size_t count);
void pinio_release_got_pages(struct page **pages, unsigned long nr, bool dirty);

/* kiocb */
bool pinio_is_sync_kiocb(const struct kiocb *iocb);
bool pinio_kiocb_nowait(const struct kiocb *iocb);
void pinio_ki_complete(struct kiocb *iocb, long ret);

/* The engine's workqueue */
struct workqueue_struct *pinio_alloc_workqueue(const char *name);

/* Copy between two pages through short-lived local mappings. */
void pinio_memcpy_page(struct page *dst, size_t dst_off, struct page *src,
		       size_t src_off, size_t len);
void pinio_flush_dcache_page(struct page *page);
void pinio_memzero_page(struct page *page, size_t offset, size_t len);

/* The store: an xarray of pages (as brd's), and the memory it may take */
void *pinio_xa_cmpxchg(struct xarray *xa, unsigned long index, void *old,
		       void *entry, gfp_t gfp);
unsigned long pinio_totalram_pages(void);
void pinio_cond_resched(void);

/*
 * DMA mapping (src/disk/dma_device.rs, src/disk/mapping.rs). Directions are enum
 * dma_data_direction values. pinio_dma_to_phys() is dma-direct's view of a DMA
 * address (no IOMMU): the physical address a bus-mastering device would reach.
 */
int pinio_dma_setup(struct device *dev, struct device_dma_parameters *parms,
		    unsigned int mask_bits);
void pinio_dma_teardown(struct device *dev);
u64 pinio_dma_to_phys(struct device *dev, u64 dma_addr);
bool pinio_is_swiotlb_buffer(struct device *dev, u64 phys);
unsigned long pinio_swiotlb_slots(struct device *dev, unsigned long *used,
				  unsigned long *hiwater);
struct page *pinio_phys_to_page(u64 phys);
u64 pinio_page_to_phys(struct page *page);

/* Pages and folios */
struct folio *pinio_page_folio(struct page *page);
bool pinio_folio_maybe_dma_pinned(struct folio *folio);
long pinio_folio_nr_pages(const struct folio *folio);
int pinio_folio_ref_count(const struct folio *folio);
int pinio_folio_mapcount(const struct folio *folio);
bool pinio_folio_test_anon(const struct folio *folio);
bool pinio_folio_is_longterm_pinnable(struct folio *folio);
bool pinio_page_anon_exclusive(const struct page *page);
bool pinio_is_zero_folio(const struct folio *folio);
unsigned long pinio_page_to_pfn(const struct page *page);
u32 pinio_page_zone(const struct page *page);
unsigned int pinio_folio_order(const struct folio *folio);
int pinio_folio_pincount(const struct folio *folio);
bool pinio_folio_test_dirty(const struct folio *folio);
bool pinio_folio_test_ksm(const struct folio *folio);
bool pinio_folio_test_swapcache(const struct folio *folio);
bool pinio_folio_test_lru(const struct folio *folio);
bool pinio_folio_test_hugetlb(const struct folio *folio);
int pinio_folio_expected_ref_count(const struct folio *folio);
void pinio_put_pages(struct page **pages, int nr);

/* Mappings, as check_vma_flags() sees them (src/pins/why.rs); the mmap lock held */
u32 pinio_vma_facts(struct vm_area_struct *vma);
bool pinio_vma_beyond_eof(struct vm_area_struct *vma, unsigned long addr);

/* Iterators over kernel pages, for the KUnit suites */
struct folio_queue *pinio_folioq_alloc(void);
unsigned int pinio_folioq_append(struct folio_queue *folioq, struct folio *folio);
void pinio_xa_init(struct xarray *xa);

/* Files */
void pinio_file_set_can_odirect(struct file *file);
void pinio_file_set_nowait(struct file *file);
struct file *pinio_anon_inode_getfile(const char *name,
				      const struct file_operations *fops,
				      void *priv, int flags);

/* Tasks and accounting */
bool pinio_fatal_signal_pending(void);
s64 pinio_mm_pinned_vm_add(struct mm_struct *mm, s64 delta);
unsigned long pinio_rlimit_memlock_pages(void);
int pinio_current_tid(void);
unsigned long pinio_foll_pin_acquired(void);

#ifdef __BINDGEN__
/* Constants bindgen cannot evaluate from their (cast) macros; seen by bindgen only. */
#include <linux/fs.h>
static const unsigned int PINIO_FOP_DONTCACHE = (__force unsigned int)FOP_DONTCACHE;
/* Store pages: brd's GFP_NOIO, failing instead of looping when memory is short; GFP_NOWAIT
 * under IOCB_NOWAIT, as brd under REQ_NOWAIT. The xarray's nodes are allocated with these;
 * the page itself adds PINIO_GFP_STORE_PAGE (never pass __GFP_ZERO to the xarray: its node
 * cache has a constructor, and new_slab() warns). See src/disk/sparse_pages.rs. */
#include <linux/gfp_types.h>
static const gfp_t PINIO_GFP_STORE = GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN;
static const gfp_t PINIO_GFP_STORE_NOWAIT = GFP_NOWAIT | __GFP_NOWARN;
static const gfp_t PINIO_GFP_STORE_PAGE = __GFP_ZERO | __GFP_HIGHMEM;
/* Bytes of one swiotlb slot. */
#include <linux/swiotlb.h>
static const unsigned int PINIO_IO_TLB_SIZE = IO_TLB_SIZE;
/* The cache line, as DMA-API debug tracks overlapping mappings (kernel/dma/debug.c). */
#include <linux/cache.h>
static const unsigned int PINIO_L1_CACHE_BYTES = L1_CACHE_BYTES;
#endif

#endif /* _PINIO_SHIM_H */
