// SPDX-License-Identifier: GPL-2.0
/*
 * pinio's experiments that need no boot option (pinio_exp.h, also run by pinio-ctl): the
 * per-page view PINIO_IOC_DUMP gives, the vmsplice/GUP-after-fork leak (CVE-2020-29374)
 * closed, read-only pins and copy-on-write in the cases of selftests/mm/cow.c, KSM and pinned
 * pages, what extraction does with each kind of iterator, and two asynchronous reads into
 * one page (pinio_exp_dma.h). Each test runs one experiment and fails if any outcome it
 * expects of Linux 7.3 did not happen; the steps, the checks and the DUMP tables are printed
 * as TAP comments.
 *
 * Plus the PINIO_IOC_DUMP interface itself: counts, offsets, partial results and errors.
 */
#include "pinio_test.h"
#include "pinio_exp_dma.h"

#define EXP_FIXTURE_ROWS 4
#include "pinio_exp_fixture.h"

TEST_F_TIMEOUT(experiment, dump_kinds, 120)
{
	if (kconfig_missing(THP_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(THP_CONFIG));
	verdict(_metadata, &self->e, exp_dump_kinds(&self->e));
}

TEST_F_TIMEOUT(experiment, cve_2020_29374, 120)
{
	verdict(_metadata, &self->e, exp_cve_2020_29374(&self->e));
}

TEST_F_TIMEOUT(experiment, ksm_skips_pinned, 300)
{
	if (kconfig_missing("CONFIG_KSM"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_KSM"));
	verdict(_metadata, &self->e, exp_ksm(&self->e));
}

/*
 * Two asynchronous reads into one page in flight at once: the data of the one that completes
 * last, as completed and FIFO; counted; logged once per file where overlap_warn=1 (make test's
 * third boot runs it again there, with bounce buffers: -t overlapping_reads).
 */
TEST_F_TIMEOUT(experiment, overlapping_reads, 120)
{
	if (kconfig_missing("CONFIG_IO_URING"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_IO_URING"));
	verdict(_metadata, &self->e, exp_overlap(&self->e));
}

TEST_F_TIMEOUT(experiment, iterator_kinds, 120)
{
	/* Its kernel-iterator rows come from the KUnit suite. */
	if (kconfig_missing("CONFIG_KUNIT"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_KUNIT"));
	verdict(_metadata, &self->e, exp_iterators(&self->e));
}

/*
 * Read-only pins and copy-on-write (exp_ro_pin_case()). A small page pinned read-only while
 * shared with a live child is pinio_pin_test's rocow_pin_unshares; the other eleven are here.
 */
FIXTURE(ro_pin) {
	struct exp e;
	long long pins0;
};

FIXTURE_VARIANT(ro_pin) {
	enum exp_mem mem;
	enum exp_ro c;
};

FIXTURE_VARIANT_ADD(ro_pin, small_fork) { EXP_MEM_SMALL, EXP_RO_FORK };
FIXTURE_VARIANT_ADD(ro_pin, small_mprotect) { EXP_MEM_SMALL, EXP_RO_MPROTECT };
FIXTURE_VARIANT_ADD(ro_pin, small_prev_shared) { EXP_MEM_SMALL, EXP_RO_PREV_SHARED };
FIXTURE_VARIANT_ADD(ro_pin, thp_fork) { EXP_MEM_THP, EXP_RO_FORK };
FIXTURE_VARIANT_ADD(ro_pin, thp_mprotect) { EXP_MEM_THP, EXP_RO_MPROTECT };
FIXTURE_VARIANT_ADD(ro_pin, thp_shared) { EXP_MEM_THP, EXP_RO_SHARED };
FIXTURE_VARIANT_ADD(ro_pin, thp_prev_shared) { EXP_MEM_THP, EXP_RO_PREV_SHARED };
FIXTURE_VARIANT_ADD(ro_pin, thp_pte_fork) { EXP_MEM_THP_PTE, EXP_RO_FORK };
FIXTURE_VARIANT_ADD(ro_pin, thp_pte_mprotect) { EXP_MEM_THP_PTE, EXP_RO_MPROTECT };
FIXTURE_VARIANT_ADD(ro_pin, thp_pte_shared) { EXP_MEM_THP_PTE, EXP_RO_SHARED };
FIXTURE_VARIANT_ADD(ro_pin, thp_pte_prev_shared) { EXP_MEM_THP_PTE, EXP_RO_PREV_SHARED };

FIXTURE_SETUP(ro_pin)
{
	/* Every experiment reads pfns from /proc/self/pagemap. */
	if (kconfig_missing("CONFIG_PROC_PAGE_MONITOR"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_PROC_PAGE_MONITOR"));
	self->pins0 = pins_outstanding();
	ASSERT_EQ(0, exp_init(&self->e, "# ", 2));
}

FIXTURE_TEARDOWN(ro_pin)
{
	exp_fini(&self->e);
	EXPECT_EQ(self->pins0, pins_outstanding());
}

TEST_F_TIMEOUT(ro_pin, coherent, 120)
{
	char row[200];

	if (variant->mem != EXP_MEM_SMALL && kconfig_missing(THP_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(THP_CONFIG));
	verdict(_metadata, &self->e,
		exp_ro_pin_case(&self->e, variant->mem, variant->c, row, sizeof(row)));
	TH_LOG("%s", row);
}

/* ---- the PINIO_IOC_DUMP interface ---------------------------------------------------------- */

/* Every field of @r describes the page mapped at @addr, page @index of its handle. */
static void check_record(struct __test_metadata *_metadata, int pagemap,
			 const struct pinio_page_record *r, uint64_t index, const void *addr)
{
	EXPECT_EQ(index, r->index);
	EXPECT_EQ(pagemap_get_pfn(pagemap, (char *)addr), r->pfn);
	EXPECT_EQ(0, r->order);
	EXPECT_EQ(1, r->mapcount);
	EXPECT_EQ(1, r->pincount);
	EXPECT_LE(1 + 1024, r->refcount);
	EXPECT_EQ(PINIO_PAGE_DMA_PINNED | PINIO_PAGE_ANON | PINIO_PAGE_ANON_EXCLUSIVE,
		  r->flags & (PINIO_PAGE_DMA_PINNED | PINIO_PAGE_ANON |
			      PINIO_PAGE_ANON_EXCLUSIVE | PINIO_PAGE_ZERO | PINIO_PAGE_KSM));
	EXPECT_GE(PINIO_ZONE_DEVICE, r->zone);
	/* One page-table mapping explains one reference: the rest are the pin's. */
	EXPECT_EQ(1, r->expected_refs);
	EXPECT_EQ(0, r->reserved0);
	for (int i = 0; i < ARRAY_SIZE(r->reserved); i++)
		EXPECT_EQ(0, r->reserved[i]);
}

TEST(dump_interface)
{
	const size_t ps = psize(), rs = sizeof(struct pinio_page_record);
	const int nr = 150;	/* more than one of the module's batches of 64 records */
	int fd = open(PINIO_DEV, O_RDWR), pagemap = open("/proc/self/pagemap", O_RDONLY);
	uint8_t *buf = map_small(nr * ps), *recs_mem;
	struct pinio_page_record *recs;
	struct pinio_info info;
	struct pinio_dump d;
	uint64_t nr_pages = 0;
	long h;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, pagemap);
	ASSERT_NE(NULL, buf);
	EXPECT_EQ(64, rs);
	EXPECT_EQ(64, sizeof(struct pinio_dump));
	ASSERT_EQ(0, ioc_info(fd, &info));
	EXPECT_LE(3, info.abi_version);
	memset(buf, 1, nr * ps);
	h = ioc_pin(fd, buf, nr * ps, PINIO_PIN_WRITE, 0, NULL);
	ASSERT_LT(0, h);
	/* An array that ends at an inaccessible page: the last part of the first page only. */
	recs_mem = mmap(NULL, 2 * ps + nr * rs, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, recs_mem);
	recs = (struct pinio_page_record *)(recs_mem + 2 * ps);

	/* count 0: only nr_pages, and no pointer needed. */
	EXPECT_EQ(0, ioc_dump(fd, h, 0, 0, NULL, &nr_pages));
	EXPECT_EQ(nr, nr_pages);
	/* All records, across the module's batches. */
	memset(recs, 0xff, nr * rs);
	EXPECT_EQ(nr, ioc_dump(fd, h, 0, nr, recs, &nr_pages));
	for (int i = 0; i < nr; i++)
		check_record(_metadata, pagemap, &recs[i], i, buf + i * ps);
	/* More room than pages: the count says how many were written. */
	EXPECT_EQ(nr, ioc_dump(fd, h, 0, nr + 100, recs, NULL));
	/* From an offset, up to count. */
	memset(recs, 0xff, nr * rs);
	EXPECT_EQ(10, ioc_dump(fd, h, 100, 10, recs, NULL));
	for (int i = 0; i < 10; i++)
		check_record(_metadata, pagemap, &recs[i], 100 + i, buf + (100 + i) * ps);
	EXPECT_EQ(0xffffffffffffffffULL, recs[10].pfn);	/* nothing written past count */
	EXPECT_EQ(nr - 140, ioc_dump(fd, h, 140, nr, recs, NULL));
	/* At or past the end: no records, like read(2) at the end of a file. */
	EXPECT_EQ(0, ioc_dump(fd, h, nr, 10, recs, &nr_pages));
	EXPECT_EQ(nr, nr_pages);
	EXPECT_EQ(0, ioc_dump(fd, h, ~0ULL, 10, recs, NULL));

	/* Partial result: the array runs into an inaccessible page after 3 records. */
	ASSERT_EQ(0, mprotect(recs_mem + ps, ps, PROT_NONE));
	EXPECT_EQ(3, ioc_dump(fd, h, 0, nr, (void *)(recs_mem + ps - 3 * rs), NULL));
	/* ... and a record straddling it is not written either. */
	EXPECT_EQ(2, ioc_dump(fd, h, 0, nr, (void *)(recs_mem + ps - 3 * rs + 8), NULL));
	/* Not even the first record can be written: EFAULT. */
	EXPECT_EQ(-EFAULT, ioc_dump(fd, h, 0, nr, (void *)(recs_mem + ps), NULL));
	EXPECT_EQ(-EFAULT, ioc_dump(fd, h, 0, 1, (void *)(1ULL << 63), NULL));
	EXPECT_EQ(0, ioc_dump(fd, h, 0, 0, (void *)(1ULL << 63), NULL));
	/* A bad argument pointer. */
	EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_DUMP, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	/* Unknown handles and non-zero reserved fields: EINVAL. */
	EXPECT_EQ(-EINVAL, ioc_dump(fd, h + 1, 0, 1, recs, NULL));
	EXPECT_EQ(-EINVAL, ioc_dump(fd, 0, 0, 0, NULL, NULL));
	for (int i = 0; i < 4; i++) {
		memset(&d, 0, sizeof(d));
		d.handle = h;
		d.count = 1;
		d.records = (uintptr_t)recs;
		d.reserved[i] = 1;
		EXPECT_EQ(-1, ioctl(fd, PINIO_IOC_DUMP, &d));
		EXPECT_EQ(EINVAL, errno);
	}
	/* A released handle has no records. */
	ASSERT_EQ(0, ioc_unpin(fd, h, 0));
	EXPECT_EQ(-EINVAL, ioc_dump(fd, h, 0, 1, recs, NULL));
	munmap(recs_mem, 2 * ps + nr * rs);
	munmap(buf, nr * ps);
	close(pagemap);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST_HARNESS_MAIN
