// SPDX-License-Identifier: GPL-2.0
/*
 * PINIO_IOC_WHY (ABI 5): the answer to every way a PINIO_IOC_PIN fails that needs no boot
 * option (pinio_why.h, also pinio-ctl why), one test per case, each failing unless the pin
 * fails as Linux 7.3 makes it fail and the answer has every field that failure must give;
 * pinio_exp_boot_test has the cases that need movablecore=. Then the interface itself: no
 * answer before a failure, one answer per open file that successful pins leave alone, the
 * records' count, reserved fields and bad record pointers.
 */
#include "pinio_test.h"
#include "pinio_why.h"

#define EXP_FIXTURE_ROWS 4
#include "pinio_exp_fixture.h"

/* In the harness's process only: the test processes end with _exit(). */
static void __attribute__((destructor)) why_cleanup(void)
{
	mx_ext4_umount();
}

FIXTURE_VARIANT(experiment) {
	const char *name;	/* the case of pinio_why.h */
	const char *needs;	/* kernel options it needs */
};

FIXTURE_VARIANT_ADD(experiment, invalid) { "invalid", "" };
FIXTURE_VARIANT_ADD(experiment, file_cap) { "file_cap", "" };
FIXTURE_VARIANT_ADD(experiment, memlock) { "memlock", "" };
FIXTURE_VARIANT_ADD(experiment, memlock_thp) { "memlock_thp", THP_CONFIG };
FIXTURE_VARIANT_ADD(experiment, no_vma) { "no_vma", "" };
FIXTURE_VARIANT_ADD(experiment, prot_none) { "prot_none", "" };
FIXTURE_VARIANT_ADD(experiment, read_only_write) { "read_only_write", "" };
FIXTURE_VARIANT_ADD(experiment, nofault_absent) { "nofault_absent", "" };
FIXTURE_VARIANT_ADD(experiment, nofault_zero_page) { "nofault_zero_page", "" };
FIXTURE_VARIANT_ADD(experiment, beyond_eof) { "beyond_eof", "CONFIG_MEMFD_CREATE" };
FIXTURE_VARIANT_ADD(experiment, ext4_longterm_write) {
	"ext4_longterm_write", "CONFIG_EXT4_FS " BRD_CONFIG
};

TEST_F_TIMEOUT(experiment, why, 120)
{
	const struct why_case *c = why_case_find(variant->name);
	struct why_run x;

	if (kconfig_missing(variant->needs))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(variant->needs));
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, why_case_run(&self->e, c, &x)) TH_LOG("%s", x.skip);
	verdict(_metadata, &self->e, 0);
}

/* A PIN that fails with EFAULT at its second page (unmapped): buf's first page is mapped. */
static int pin_fails(int fd, uint8_t *buf)
{
	return (int)ioc_pin(fd, buf, 2 * psize(), 0, 0, NULL);
}

TEST(why_interface)
{
	const size_t ps = psize();
	struct pinio_page_record r[2];
	struct pinio_why w;
	uint8_t *buf = map_small(2 * ps);
	int fd = open(PINIO_DEV, O_RDWR), other = open(PINIO_DEV, O_RDWR);
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	long h;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, other);
	ASSERT_LE(0, pagemap);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * ps);
	ASSERT_EQ(0, munmap(buf + ps, ps));

	/* Before any failure: NONE, nothing else. */
	ASSERT_EQ(0, ioc_why(fd, &w, 2, r));
	EXPECT_EQ(PINIO_WHY_NONE, w.kind);
	EXPECT_EQ(0, w.error);
	EXPECT_EQ(0, w.seq);
	EXPECT_EQ(0, w.count);
	EXPECT_EQ(0, w.nr_records);

	/* A failure: its page is unmapped, so no record. */
	EXPECT_EQ(-EFAULT, pin_fails(fd, buf));
	ASSERT_EQ(0, ioc_why(fd, &w, 2, r));
	EXPECT_EQ(PINIO_WHY_FAULT, w.kind);
	EXPECT_EQ(EFAULT, w.error);
	EXPECT_EQ(1, w.seq);
	EXPECT_EQ(1, w.page_index);
	EXPECT_EQ(PINIO_FAULT_NO_VMA, w.fault);
	EXPECT_EQ(0, w.count);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, w.reserved[i]);

	/* A successful pin leaves the answer as it was. */
	h = ioc_pin(fd, buf, ps, 0, 0, NULL);
	ASSERT_LT(0, h);
	ASSERT_EQ(0, ioc_unpin(fd, (uint32_t)h, 0));
	ASSERT_EQ(0, ioc_why(fd, &w, 0, NULL));
	EXPECT_EQ(1, w.seq);
	EXPECT_EQ(PINIO_WHY_FAULT, w.kind);

	/* Another failure replaces it: a write pin of a read-only page, which has a record. */
	ASSERT_EQ(0, mprotect(buf, ps, PROT_READ));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, ps, PINIO_PIN_WRITE, 0, NULL));
	ASSERT_EQ(0, ioc_why(fd, &w, 2, r));
	EXPECT_EQ(2, w.seq);
	EXPECT_EQ(PINIO_FAULT_NOT_WRITABLE, w.fault);
	EXPECT_EQ(1, w.nr_records);
	EXPECT_EQ(1, w.count);
	EXPECT_EQ(pagemap_get_pfn(pagemap, (char *)buf), r[0].pfn);
	EXPECT_EQ(0, r[0].index);
	/* No room: no record written, nr_records still says how many there are. */
	ASSERT_EQ(0, ioc_why(fd, &w, 0, r));
	EXPECT_EQ(0, w.count);
	EXPECT_EQ(1, w.nr_records);

	/* The answer belongs to the open file: the other one has none. */
	ASSERT_EQ(0, ioc_why(other, &w, 0, NULL));
	EXPECT_EQ(PINIO_WHY_NONE, w.kind);

	/* Reserved fields set: EINVAL; records that cannot be written: EFAULT. */
	memset(&w, 0, sizeof(w));
	w.reserved[3] = 1;
	EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_WHY, &w));
	memset(&w, 0, sizeof(w));
	w.count = 1;
	w.records = 8;
	EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_WHY, &w));
	EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_WHY, (void *)8));
	close(pagemap);
	close(other);
	close(fd);
	munmap(buf, ps);
}

TEST_HARNESS_MAIN
