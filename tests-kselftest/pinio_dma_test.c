// SPDX-License-Identifier: GPL-2.0
/*
 * The DMA mapping discipline of /dev/pinio, checked from outside: every transfer maps the
 * caller's pages for pinio's DMA device and unmaps them before it returns, in the right
 * direction, so that
 *  - DMA-API debug's entry pool (/sys/kernel/debug/dma-api/num_free_entries) is back where it
 *    was after close, and its error_count stays 0;
 *  - the data is right, also when every mapping bounces (the swiotlb=force boot of make test),
 *    where a missing unmap or a wrong direction loses what the device wrote;
 *  - pinio's counters show mappings, and bounced bytes exactly when swiotlb bounces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/pinio.h>

#include "kselftest_harness.h"
#include "pinio_ioctl.h"
#include "pinio_test.h"
#include "pinio_util.h"


/* A DMA-API debug value (read_sysfs() of vm_util.h), or -1. */
static long long dma_api(const char *name)
{
	char path[128];
	unsigned long val;

	snprintf(path, sizeof(path), "/sys/kernel/debug/dma-api/%s", name);
	return read_sysfs(path, &val) ? -1 : (long long)val;
}

/* Whether this boot forces every mapping through swiotlb. */
static int swiotlb_forced(void)
{
	char cmdline[4096] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return 0;
	if (!fgets(cmdline, sizeof(cmdline), f))
		cmdline[0] = 0;
	fclose(f);
	return strstr(cmdline, "swiotlb=force") != NULL;
}

struct dma_counters {
	long long maps, segments, bounced, errors;
};

static void dma_counters(struct dma_counters *c)
{
	c->maps = pinio_counter("dma_maps");
	c->segments = pinio_counter("dma_segments");
	c->bounced = pinio_counter("dma_bounced_bytes");
	c->errors = pinio_counter("dma_map_errors");
}

FIXTURE(dma) {
	int fd;
	long long free_entries;
	int forced;
	struct dma_counters before;
};

FIXTURE_SETUP(dma)
{
	self->free_entries = dma_api("num_free_entries");
	/*
	 * A kernel of one's own without DMA-API debug (make test KDIR=...) still gets the data,
	 * bounce and pin checks; only the debug entry and error checks are left out.
	 */
	if (self->free_entries < 0 && kconfig_missing("CONFIG_DMA_API_DEBUG")) {
		ksft_print_msg("DMA-API debug checks left out: %s is not set in this kernel\n",
			       kconfig_missing("CONFIG_DMA_API_DEBUG"));
	} else {
		ASSERT_LT(0, self->free_entries) TH_LOG("no DMA-API debug (CONFIG_DMA_API_DEBUG)");
		ASSERT_EQ(0, dma_api("error_count"));
	}
	self->forced = swiotlb_forced();
	self->fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd);
	dma_counters(&self->before);
	ASSERT_LE(0, self->before.maps);
}

FIXTURE_TEARDOWN(dma)
{
	struct dma_counters after;

	dma_counters(&after);
	EXPECT_EQ(self->before.errors, after.errors);
	close(self->fd);
	/* Every entry the transfers took is back: nothing is left mapped. */
	if (self->free_entries >= 0) {
		EXPECT_EQ(self->free_entries, dma_api("num_free_entries"));
		EXPECT_EQ(0, dma_api("error_count"));
	}
	EXPECT_PINS_BALANCED();
}

/*
 * Bytes bounced since @before. Under swiotlb=force every mapping bounces, both ways; otherwise
 * none does (the guest's memory is below 4 GiB: no mask, 32 or 64 bits, needs it).
 */
static long long bounced_since(const struct dma_counters *before)
{
	struct dma_counters now;

	dma_counters(&now);
	return now.bounced - before->bounced;
}

#define EXPECT_BOUNCED(moved) \
	EXPECT_EQ(self->forced ? (long long)(moved) : 0, bounced_since(&self->before))

/* write(2) then read(2) of sizes from one block to several batches, data compared. */
TEST_F_TIMEOUT(dma, rw_sizes, 600)
{
	static const size_t sizes[] = { 512, 4 * KiB, 60 * KiB, 64 * KiB, 256 * KiB,
					1 * MiB + 512, 3 * MiB };
	const size_t max = 3 * MiB + 4 * KiB;
	uint8_t *src = map_small(max), *dst = map_small(max);
	struct dma_counters now;
	long long moved = 0;

	ASSERT_TRUE(src && dst);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t len = sizes[i];
		/* The buffers start 512 bytes into a page: segments not page aligned. */
		uint8_t *s = src + 512, *d = dst + 512;
		off_t pos = (off_t)(i * 4 * MiB);

		fill_pattern(s, len, 0xd0 + i, pos);
		memset(d, 0x5a, len);
		ASSERT_EQ((ssize_t)len, pwrite(self->fd, s, len, pos));
		ASSERT_EQ((ssize_t)len, pread(self->fd, d, len, pos));
		ASSERT_EQ(len, pattern_mismatch(d, len, 0xd0 + i, pos))
			TH_LOG("%zu bytes: the read did not return what was written", len);
		moved += 2 * len;
	}
	dma_counters(&now);
	/* At least one mapping per 64-page batch, one segment per mapping. */
	EXPECT_LE(2 * ARRAY_SIZE(sizes), now.maps - self->before.maps);
	EXPECT_LE(now.maps - self->before.maps, now.segments - self->before.segments);
	EXPECT_BOUNCED(moved);
	munmap(src, max);
	munmap(dst, max);
}

/* readv/writev with several segments per page and per batch. */
TEST_F_TIMEOUT(dma, vectors, 300)
{
	const size_t seg = 1536, nseg = 16;
	uint8_t *buf = map_small(2 * nseg * 2 * KiB), *out = map_small(nseg * 2 * KiB);
	struct iovec iov[16];
	const off_t pos = 40 * MiB;

	ASSERT_TRUE(buf && out);
	for (size_t i = 0; i < nseg; i++) {
		iov[i].iov_base = buf + i * 2 * KiB;
		iov[i].iov_len = seg;
		fill_pattern(iov[i].iov_base, seg, 0x77, pos + i * seg);
	}
	ASSERT_EQ((ssize_t)(seg * nseg), pwritev(self->fd, iov, nseg, pos));
	ASSERT_EQ((ssize_t)(seg * nseg), pread(self->fd, out, seg * nseg, pos));
	EXPECT_EQ(seg * nseg, pattern_mismatch(out, seg * nseg, 0x77, pos));
	for (size_t i = 0; i < nseg; i++)
		memset(iov[i].iov_base, 0, seg);
	ASSERT_EQ((ssize_t)(seg * nseg), preadv(self->fd, iov, nseg, pos));
	for (size_t i = 0; i < nseg; i++)
		EXPECT_EQ(seg, pattern_mismatch(iov[i].iov_base, seg, 0x77, pos + i * seg));
	EXPECT_BOUNCED(3 * seg * nseg);
	munmap(buf, 2 * nseg * 2 * KiB);
	munmap(out, nseg * 2 * KiB);
}

/* PINIO_IOC_DMA both ways on a long-held pin: mapped per call, unmapped before it returns. */
TEST_F_TIMEOUT(dma, ioctl_dma, 600)
{
	const size_t len = 2 * MiB;
	const off_t pos = 48 * MiB;
	uint8_t *buf = map_small(len), *chk = map_small(len);
	long handle;

	ASSERT_TRUE(buf && chk);
	fill_pattern(chk, len, 0x91, pos);
	ASSERT_EQ((ssize_t)len, pwrite(self->fd, chk, len, pos));
	memset(buf, 0, len);
	handle = ioc_pin(self->fd, buf, len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
	ASSERT_LE(0, handle);
	/* The device writes the pages through its own mapping. */
	ASSERT_EQ((long long)len, ioc_dma(self->fd, handle, PINIO_DMA_TO_PAGES, 0, pos, len));
	EXPECT_EQ(len, pattern_mismatch(buf, len, 0x91, pos));
	/* Then reads them back, changed, into the store. */
	fill_pattern(buf, len, 0x92, pos);
	ASSERT_EQ((long long)len, ioc_dma(self->fd, handle, PINIO_DMA_FROM_PAGES, 0, pos, len));
	ASSERT_EQ((ssize_t)len, pread(self->fd, chk, len, pos));
	EXPECT_EQ(len, pattern_mismatch(chk, len, 0x92, pos));
	/* While pinned, nothing is mapped: mappings live only as long as one DMA. */
	if (self->free_entries >= 0)
		EXPECT_EQ(self->free_entries, dma_api("num_free_entries"));
	ASSERT_EQ(0, ioc_unpin(self->fd, handle, PINIO_UNPIN_DIRTY));
	EXPECT_BOUNCED(4 * len);
	munmap(buf, len);
	munmap(chk, len);
}

/*
 * A long-term pin larger than the 64 MiB swiotlb pool: mapping it at pin time would exhaust
 * the pool; mapped per DMA, its far end is reached like its start. Where nothing bounces
 * there is no pool to exhaust: a pin of a few parts checks the same DMAs at both ends, in
 * a ninth of the time (faulting in and pinning 72 MiB takes 20 s under TCG).
 */
TEST_F_TIMEOUT(dma, pin_beyond_bounce_pool, 600)
{
	const size_t len = (self->forced ? 72 : 12) * MiB, part = 4 * MiB;
	uint8_t *buf = map_anon(len);
	long handle;

	ASSERT_TRUE(buf != NULL);
	/*
	 * Pinned before it is touched: the long-term pin faults its pages in outside
	 * ZONE_MOVABLE and CMA (memalloc_pin_save()), where the second boot's movablecore= would
	 * otherwise have it migrate all 72 MiB first (pinio_exp_boot_test checks migration).
	 */
	handle = ioc_pin(self->fd, buf, len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
	ASSERT_LE(0, handle);
	memset(buf, 0x3c, len);
	fill_pattern(buf, part, 0xa1, 0);
	/* The first 4 MiB into the store, then from the store into the last 4 MiB. */
	ASSERT_EQ((long long)part, ioc_dma(self->fd, handle, PINIO_DMA_FROM_PAGES, 0, 0, part));
	ASSERT_EQ((long long)part,
		  ioc_dma(self->fd, handle, PINIO_DMA_TO_PAGES, len - part, 0, part));
	EXPECT_EQ(part, pattern_mismatch(buf + len - part, part, 0xa1, 0));
	EXPECT_EQ(len - 2 * part, bytes_mismatch(buf + part, len - 2 * part, 0x3c));
	ASSERT_EQ(0, ioc_unpin(self->fd, handle, PINIO_UNPIN_DIRTY));
	munmap(buf, len);
}

TEST_HARNESS_MAIN
