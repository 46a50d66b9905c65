// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for pinio, linked into pinio.ko with the Rust code. Each wraps one
 * static inline or macro; see pinio_shim.h.
 */
#include <linux/anon_inodes.h>
#include <linux/backing-dev.h>
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/folio_queue.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/shmem_fs.h>
#include <linux/swiotlb.h>
#include <linux/uio.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <uapi/linux/magic.h>

#include "pinio_shim.h"
#include "../include/uapi/linux/pinio.h"

bool pinio_iov_iter_extract_will_pin(const struct iov_iter *iter)
{
	return iov_iter_extract_will_pin(iter);
}

bool pinio_user_backed_iter(const struct iov_iter *iter)
{
	return user_backed_iter(iter);
}

bool pinio_iov_iter_is_kvec(const struct iov_iter *iter)
{
	return iov_iter_is_kvec(iter);
}

enum iter_type pinio_iov_iter_type(const struct iov_iter *iter)
{
	return iov_iter_type(iter);
}

size_t pinio_iov_iter_count(const struct iov_iter *iter)
{
	return iov_iter_count(iter);
}

void __user *pinio_iter_iov_addr(const struct iov_iter *iter)
{
	return iter_iov_addr(iter);
}

size_t pinio_iter_iov_len(const struct iov_iter *iter)
{
	return iter_iov_len(iter);
}

void pinio_iov_iter_truncate(struct iov_iter *iter, u64 count)
{
	iov_iter_truncate(iter, count);
}

void pinio_iov_iter_reexpand(struct iov_iter *iter, size_t count)
{
	iov_iter_reexpand(iter, count);
}

void pinio_release_got_pages(struct page **pages, unsigned long nr, bool dirty)
{
	unsigned long i;

	if (dirty)
		for (i = 0; i < nr; i++)
			set_page_dirty_lock(pages[i]);
	release_pages(pages, nr);
}

bool pinio_is_sync_kiocb(const struct kiocb *iocb)
{
	return is_sync_kiocb((struct kiocb *)iocb);
}

bool pinio_kiocb_nowait(const struct kiocb *iocb)
{
	return iocb->ki_flags & IOCB_NOWAIT;
}

void pinio_ki_complete(struct kiocb *iocb, long ret)
{
	iocb->ki_complete(iocb, ret);
}

/* Per-CPU: a request's work runs where it was queued (see src/requests/engine.rs). */
struct workqueue_struct *pinio_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_PERCPU, 0, name);
}

void pinio_memcpy_page(struct page *dst, size_t dst_off, struct page *src,
		       size_t src_off, size_t len)
{
	memcpy_page(dst, dst_off, src, src_off, len);
}

void pinio_flush_dcache_page(struct page *page)
{
	flush_dcache_page(page);
}

/*
 * Gives a device without a bus (a faux device) what a platform device gets:
 * dma_parms (here the caller's, which must outlive the device's use of them)
 * with no segment-size or boundary limit, and a coherent and streaming mask of mask_bits.
 */
int pinio_dma_setup(struct device *dev, struct device_dma_parameters *parms,
		    unsigned int mask_bits)
{
	dev->dma_parms = parms;
	dma_set_max_seg_size(dev, UINT_MAX);
	dma_set_seg_boundary(dev, ULONG_MAX);
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(mask_bits));
}

void pinio_dma_teardown(struct device *dev)
{
	dev->dma_parms = NULL;
}

u64 pinio_dma_to_phys(struct device *dev, u64 dma_addr)
{
	return dma_to_phys(dev, dma_addr);
}

bool pinio_is_swiotlb_buffer(struct device *dev, u64 phys)
{
	return swiotlb_find_pool(dev, phys);
}

/*
 * The swiotlb pool @dev bounces through: its size in slots of IO_TLB_SIZE bytes (0: none),
 * and in @used and @hiwater the slots in use and their high-water mark (0 without
 * CONFIG_DEBUG_FS, which keeps them: the same figures as debugfs' io_tlb_used and
 * io_tlb_used_hiwater).
 */
unsigned long pinio_swiotlb_slots(struct device *dev, unsigned long *used,
				  unsigned long *hiwater)
{
	struct io_tlb_mem *mem = dev->dma_io_tlb_mem;

	*used = 0;
	*hiwater = 0;
	if (!mem)
		return 0;
#ifdef CONFIG_DEBUG_FS
	*used = atomic_long_read(&mem->total_used);
	*hiwater = atomic_long_read(&mem->used_hiwater);
#endif
	return mem->nslabs;
}

struct page *pinio_phys_to_page(u64 phys)
{
	return pfn_to_page(PHYS_PFN(phys));
}

u64 pinio_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

void pinio_memzero_page(struct page *page, size_t offset, size_t len)
{
	memzero_page(page, offset, len);
}

void *pinio_xa_cmpxchg(struct xarray *xa, unsigned long index, void *old,
		       void *entry, gfp_t gfp)
{
	return xa_cmpxchg(xa, index, old, entry, gfp);
}

unsigned long pinio_totalram_pages(void)
{
	return totalram_pages();
}

void pinio_cond_resched(void)
{
	cond_resched();
}

struct folio *pinio_page_folio(struct page *page)
{
	return page_folio(page);
}

bool pinio_folio_maybe_dma_pinned(struct folio *folio)
{
	return folio_maybe_dma_pinned(folio);
}

long pinio_folio_nr_pages(const struct folio *folio)
{
	return folio_nr_pages(folio);
}

int pinio_folio_ref_count(const struct folio *folio)
{
	return folio_ref_count(folio);
}

int pinio_folio_mapcount(const struct folio *folio)
{
	return folio_mapcount(folio);
}

bool pinio_folio_test_anon(const struct folio *folio)
{
	return folio_test_anon(folio);
}

/*
 * folio_is_longterm_pinnable(), except that with CONFIG_CMA its first test, of
 * the pageblock's migratetype (MIGRATE_CMA or MIGRATE_ISOLATE: not pinnable),
 * is left out: get_pfnblock_migratetype() is not exported to modules. The
 * rest is the same sequence of tests as include/linux/mm.h.
 */
bool pinio_folio_is_longterm_pinnable(struct folio *folio)
{
#ifdef CONFIG_CMA
	if (is_zero_folio(folio))
		return true;
	if (folio_is_device_coherent(folio))
		return false;
	if (folio_is_fsdax(folio))
		return false;
	return !folio_is_zone_movable(folio);
#else
	return folio_is_longterm_pinnable(folio);
#endif
}

/* What migration expects of the folio's references (folio_expected_ref_count()). */
int pinio_folio_expected_ref_count(const struct folio *folio)
{
	return folio_expected_ref_count(folio);
}

/*
 * vma_needs_dirty_tracking() of mm/vma.c, which is not exported: a shared writable mapping
 * whose file wants write notifications or can be written back. The same tests, in its order.
 */
static bool pinio_vma_needs_dirty_tracking(struct vm_area_struct *vma)
{
	if ((vma->vm_flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED))
		return false;
	if (vma->vm_ops && (vma->vm_ops->page_mkwrite || vma->vm_ops->pfn_mkwrite))
		return true;
	if (vma->vm_flags & VM_PFNMAP)
		return false;
	return vma->vm_file && vma->vm_file->f_mapping &&
	       mapping_can_writeback(vma->vm_file->f_mapping);
}

/*
 * What mm/gup.c's check_vma_flags() looks at in @vma, as PINIO_VMA_* bits. secretmem is told
 * by its superblock (vma_is_secretmem() is not exported). The mmap lock is held.
 */
u32 pinio_vma_facts(struct vm_area_struct *vma)
{
	const vm_flags_t f = vma->vm_flags;
	struct file *file = vma->vm_file;
	u32 facts = 0;

	if (f & VM_READ)
		facts |= PINIO_VMA_READ;
	/* check_vma_flags() refuses a write to a shadow stack as to a read-only mapping */
	if ((f & VM_WRITE) && !(f & VM_SHADOW_STACK))
		facts |= PINIO_VMA_WRITE;
	if (f & VM_SHARED)
		facts |= PINIO_VMA_SHARED;
	if (vma_is_anonymous(vma))
		facts |= PINIO_VMA_ANON;
	if (file)
		facts |= PINIO_VMA_FILE;
	if (file && file->f_mapping && shmem_mapping(file->f_mapping))
		facts |= PINIO_VMA_SHMEM;
	if (is_vm_hugetlb_page(vma))
		facts |= PINIO_VMA_HUGETLB;
	if (pinio_vma_needs_dirty_tracking(vma))
		facts |= PINIO_VMA_DIRTY_TRACKED;
	if (f & (VM_IO | VM_PFNMAP))
		facts |= PINIO_VMA_IO_PFNMAP;
	if (vma_is_fsdax(vma))
		facts |= PINIO_VMA_FSDAX;
	if (file && file_inode(file)->i_sb->s_magic == SECRETMEM_MAGIC)
		facts |= PINIO_VMA_SECRETMEM;
	if ((f & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE)
		facts |= PINIO_VMA_COW;
	return facts;
}

/*
 * Whether @addr of the file mapping @vma lies past the end of its file, where a fault gives
 * SIGBUS (filemap_fault(), shmem_fault(); hugetlb_no_page()). The mmap lock is held.
 */
bool pinio_vma_beyond_eof(struct vm_area_struct *vma, unsigned long addr)
{
	struct inode *inode;
	pgoff_t pgoff;

	if (!vma->vm_file || vma_is_anonymous(vma) || (vma->vm_flags & (VM_IO | VM_PFNMAP)))
		return false;
	inode = file_inode(vma->vm_file);
	if (is_vm_hugetlb_page(vma)) {
		struct hstate *h = hstate_vma(vma);

		/* hugetlb_no_page(): a huge page only partly inside i_size is past the end too */
		pgoff = ((addr - vma->vm_start) >> huge_page_shift(h)) +
			(vma->vm_pgoff >> huge_page_order(h));
		return pgoff >= (i_size_read(inode) >> huge_page_shift(h));
	}
	return linear_page_index(vma, addr) >= DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
}

bool pinio_page_anon_exclusive(const struct page *page)
{
	return PageAnonExclusive(page);
}

bool pinio_is_zero_folio(const struct folio *folio)
{
	return is_zero_folio(folio);
}

unsigned long pinio_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

/* page_zonenum() as a PINIO_ZONE_* value: the kernel's numbering depends on the config. */
u32 pinio_page_zone(const struct page *page)
{
	switch (page_zonenum(page)) {
#ifdef CONFIG_ZONE_DMA
	case ZONE_DMA:
		return PINIO_ZONE_DMA;
#endif
#ifdef CONFIG_ZONE_DMA32
	case ZONE_DMA32:
		return PINIO_ZONE_DMA32;
#endif
#ifdef CONFIG_HIGHMEM
	case ZONE_HIGHMEM:
		return PINIO_ZONE_HIGHMEM;
#endif
#ifdef CONFIG_ZONE_DEVICE
	case ZONE_DEVICE:
		return PINIO_ZONE_DEVICE;
#endif
	case ZONE_MOVABLE:
		return PINIO_ZONE_MOVABLE;
	default:
		return PINIO_ZONE_NORMAL;
	}
}

unsigned int pinio_folio_order(const struct folio *folio)
{
	return folio_order(folio);
}

/* The exact pin count of a folio that keeps one (large folios), or -1. */
int pinio_folio_pincount(const struct folio *folio)
{
	return folio_has_pincount(folio) ? atomic_read(&folio->_pincount) : -1;
}

bool pinio_folio_test_dirty(const struct folio *folio)
{
	return folio_test_dirty(folio);
}

bool pinio_folio_test_ksm(const struct folio *folio)
{
	return folio_test_ksm(folio);
}

bool pinio_folio_test_swapcache(const struct folio *folio)
{
	return folio_test_swapcache(folio);
}

bool pinio_folio_test_lru(const struct folio *folio)
{
	return folio_test_lru(folio);
}

bool pinio_folio_test_hugetlb(const struct folio *folio)
{
	return folio_test_hugetlb(folio);
}

/* An empty folio queue segment (kfree() it), for ITER_FOLIOQ iterators. */
struct folio_queue *pinio_folioq_alloc(void)
{
	struct folio_queue *folioq = kmalloc(sizeof(*folioq), GFP_KERNEL);

	if (folioq)
		folioq_init(folioq, 0);
	return folioq;
}

/* Appends @folio (no reference taken) to @folioq; returns its slot. */
unsigned int pinio_folioq_append(struct folio_queue *folioq, struct folio *folio)
{
	return folioq_append(folioq, folio);
}

void pinio_xa_init(struct xarray *xa)
{
	xa_init(xa);
}

void pinio_put_pages(struct page **pages, int nr)
{
	release_pages(pages, nr);
}

void pinio_file_set_can_odirect(struct file *file)
{
	file->f_mode |= FMODE_CAN_ODIRECT;
}

void pinio_file_set_nowait(struct file *file)
{
	file->f_mode |= FMODE_NOWAIT;
}

struct file *pinio_anon_inode_getfile(const char *name,
				      const struct file_operations *fops,
				      void *priv, int flags)
{
	return anon_inode_getfile(name, fops, priv, flags);
}

bool pinio_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

int pinio_current_tid(void)
{
	return task_pid_vnr(current);
}

s64 pinio_mm_pinned_vm_add(struct mm_struct *mm, s64 delta)
{
	return atomic64_add_return(delta, &mm->pinned_vm);
}

unsigned long pinio_rlimit_memlock_pages(void)
{
	return rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
}

unsigned long pinio_foll_pin_acquired(void)
{
	return global_node_page_state(NR_FOLL_PIN_ACQUIRED);
}
