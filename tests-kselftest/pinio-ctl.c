// SPDX-License-Identifier: GPL-2.0
/*
 * pinio-ctl: run named pin/unpin experiments against /dev/pinio and print, step by step,
 * what happened. Pins belong to the open file, so each scenario runs in one process.
 *
 *   pinio-ctl info
 *   pinio-ctl rw [--size BYTES]
 *   pinio-ctl cow --mode get|pin [--writer parent|child]
 *   pinio-ctl rocow --mode get|pin
 *   pinio-ctl pin --len BYTES [--mode pin|get] [--write] [--longterm] [--nofault]
 *                 [--per-call N] [--thp] [--hold SECONDS]
 *   pinio-ctl query
 *   pinio-ctl dio-fork --mode pin|get [--latency US]
 *   pinio-ctl dma [--size BYTES]
 *   pinio-ctl list                      every scenario, with one line of what it shows
 *   pinio-ctl NAME [--rows N]           an experiment of pinio_exp.h (dump, longterm, ...) or
 *                                       pinio_matrix.h (matrix): N rows of each DUMP table
 *                                       (default 4)
 *
 * Sizes take K, M, G suffixes. Exit status: 0 if the scenario ran (and, for cow/rocow,
 * dio-fork and the experiments, the outcome was the one the kernel's semantics predict),
 * 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/pinio.h>

#include "pinio_async.h"
#include "pinio_ioctl.h"
#include "pinio_util.h"
#include "pinio_exp.h"
#include "pinio_exp_dma.h"
#include "pinio_matrix.h"
#include "pinio_why.h"

static void die_errno(const char *what, int err)
{
	fprintf(stderr, "pinio-ctl: %s: %s\n", what, strerror(err));
	exit(1);
}

static void die(const char *what)
{
	die_errno(what, errno);
}

static int open_dev(void)
{
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);

	if (fd < 0)
		die("open " PINIO_DEV);
	return fd;
}

/* Anonymous memory, THP-advised at a THP boundary (@thp) or not. */
static void *map_mem(size_t len, int thp)
{
	void *p = thp ? map_thp(len) : map_anon(len);

	if (!p)
		die("mmap");
	return p;
}

static unsigned long long unpin(int fd, unsigned int handle, unsigned int flags)
{
	uint64_t ns = 0;
	int ret = ioc_unpin_ns(fd, handle, flags, &ns);

	if (ret)
		die_errno("PINIO_IOC_UNPIN", -ret);
	return ns;
}

static void show_query(int fd, unsigned int handle, const char *when)
{
	struct pinio_query q;
	int ret = ioc_query(fd, handle, &q);

	if (ret)
		die_errno("PINIO_IOC_QUERY", -ret);
	printf("  query %-22s pages %llu, folios %llu (large %llu), dma-pinned %llu, anon %llu (exclusive %llu), zero-page %llu, longterm-pinnable %llu, charged %llu, refcount %d..%d, mapcount %d..%d\n",
	       when, q.nr_pages, q.nr_folios, q.nr_large_folios, q.nr_dma_pinned, q.nr_anon,
	       q.nr_anon_exclusive, q.nr_zero_page, q.nr_longterm_pinnable, q.charged_pages,
	       q.refcount_min, q.refcount_max, q.mapcount_min, q.mapcount_max);
}

static void dma(int fd, unsigned int handle, unsigned int dir, size_t store_off, size_t len)
{
	long long ret = ioc_dma(fd, handle, dir, 0, store_off, len);

	if (ret < 0)
		die_errno("PINIO_IOC_DMA", (int)-ret);
}

static void store_fill(int fd, size_t off, size_t len, int byte)
{
	void *b = map_mem(len, 0);

	memset(b, byte, len);
	if (pwrite(fd, b, len, off) != (ssize_t)len)
		die("pwrite");
	munmap(b, len);
}

static int store_byte(int fd, size_t off)
{
	uint8_t *b = map_mem(psize(), 0);
	int v;

	if (pread(fd, b, psize(), off) != (ssize_t)psize())
		die("pread");
	v = b[0];
	munmap(b, psize());
	return v;
}

/* A byte as 'c', in one of two buffers so that two can appear in one printf(). */
static const char *show(int c)
{
	static char buf[2][8];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "'%c'", c);
	return buf[i];
}

static int cmd_info(void)
{
	struct pinio_info i;
	int fd = open_dev();

	if (ioctl(fd, PINIO_IOC_INFO, &i))
		die("PINIO_IOC_INFO");
	printf("ABI version %u, store %llu bytes, block size %u, page size %u\n",
	       i.abi_version, (unsigned long long)i.store_size, i.block_size, i.page_size);
	printf("pin flags 0x%x, unpin flags 0x%x, dma flags 0x%x, per-file cap %llu pages\n",
	       i.pin_flags, i.unpin_flags, i.dma_flags, (unsigned long long)i.max_pinned_pages);
	printf("DMA mask %u bits; experiments switched on: %s%s%s\n", i.dma_mask_bits,
	       i.info_flags ? "" : "none",
	       i.info_flags & PINIO_INFO_DMA_LEAK_EXPERIMENT ? "dma_leak_experiment " : "",
	       i.info_flags & PINIO_INFO_OVERLAP_WARN ? "overlap_warn" : "");
	close(fd);
	return 0;
}

/* The data path: a pattern written and read back with O_DIRECT through pinned pages. */
static int cmd_rw(size_t size)
{
	int fd = open_dev();
	uint8_t *w = map_mem(size, 0), *r = map_mem(size, 0);
	long long acq0 = vmstat_read("nr_foll_pin_acquired"), rel0 = vmstat_read("nr_foll_pin_released");
	long long bp0 = pinio_counter("bytes_pinned");
	ssize_t n;
	size_t i;

	for (i = 0; i < size; i++)
		w[i] = (uint8_t)(i * 7 + (i >> 12));
	printf("writing %zu bytes to %s with O_DIRECT from a user buffer ...\n", size, PINIO_DEV);
	n = pwrite(fd, w, size, 0);
	if (n != (ssize_t)size)
		die("pwrite");
	printf("reading them back into another buffer ...\n");
	n = pread(fd, r, size, 0);
	if (n != (ssize_t)size)
		die("pread");
	i = memcmp(w, r, size) ? 1 : 0;
	printf("  %zd bytes moved each way; data %s\n", n, i ? "DIFFERS" : "identical");
	printf("  FOLL_PIN pins: %lld acquired, %lld released (/proc/vmstat deltas)\n",
	       vmstat_read("nr_foll_pin_acquired") - acq0, vmstat_read("nr_foll_pin_released") - rel0);
	printf("  bytes through pinned user pages (debugfs): %lld\n",
	       pinio_counter("bytes_pinned") - bp0);
	close(fd);
	return i ? 1 : 0;
}

/*
 * The O_DIRECT + fork problem: the device holds a private anonymous page, the process forks,
 * someone writes to the page, then the device's data lands in the held page. Whose memory
 * got it?
 */
static int cmd_cow(int get, int child_writes)
{
	int fd = open_dev();
	uint8_t *buf = map_mem(psize(), 0);
	int to_child[2], from_child[2];
	unsigned int flags = PINIO_PIN_WRITE | (get ? PINIO_PIN_GET : 0);
	int handle, child_sees, parent_sees, expect_parent;
	char c;
	pid_t pid;

	printf("cow --mode %s --writer %s\n",
	       get ? "get" : "pin", child_writes ? "child" : "parent");
	memset(buf, 'P', psize());
	printf("1. private anonymous page filled with 'P'\n");
	handle = ioc_pin(fd, buf, psize(), flags, 0, NULL);
	if (handle < 0)
		die_errno("PINIO_IOC_PIN", (int)-handle);
	printf("2. %s it for writing (handle %d)\n",
	       get ? "get_user_pages_fast (FOLL_GET)" : "pin_user_pages_fast (FOLL_PIN)", handle);
	show_query(fd, handle, "after pin:");
	if (pipe(to_child) || pipe(from_child))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		if (child_writes)
			memset(buf, 'C', psize());
		c = 1;
		write(from_child[1], &c, 1);
		read(to_child[0], &c, 1); /* wait for the device write */
		c = buf[0];
		write(from_child[1], &c, 1);
		_exit(0);
	}
	read(from_child[0], &c, 1);
	printf("3. fork()%s\n",
	       child_writes ? "; the child writes 'C' to its view of the page" : "");
	if (!child_writes) {
		memset(buf, 'W', psize());
		printf("4. the parent writes 'W' to the page\n");
	}
	show_query(fd, handle, "after fork+write:");
	store_fill(fd, 0, psize(), 'D');
	dma(fd, handle, PINIO_DMA_TO_PAGES, 0, psize());
	printf("5. the device writes 'D' into the held page (PINIO_IOC_DMA)\n");
	c = 1;
	write(to_child[1], &c, 1);
	read(from_child[0], &c, 1);
	child_sees = c;
	waitpid(pid, NULL, 0);
	parent_sees = buf[0];
	printf("6. the parent sees %s, the child saw %s\n", show(parent_sees), show(child_sees));
	unpin(fd, handle, PINIO_UNPIN_DIRTY);
	close(fd);
	/*
	 * FOLL_PIN: fork() copies the pinned page for the child, so the parent keeps the page the
	 * device writes to. FOLL_GET: nothing stops the page being shared, and the first write
	 * after fork() decides: a parent write moves the parent to a copy (the device's data is
	 * lost to it); a child write moves the child, and the parent keeps the held page.
	 */
	expect_parent = (get && !child_writes) ? 'W' : 'D';
	printf("=> %s: the parent %s the device's data (expected for this mode: %s)\n",
	       parent_sees == expect_parent ? "as expected" : "UNEXPECTED",
	       parent_sees == 'D' ? "kept" : "lost", expect_parent == 'D' ? "kept" : "lost");
	return parent_sees == expect_parent ? 0 : 1;
}

/*
 * Read-only pins and fork: the page is shared with a child when it is pinned R/O, then the
 * parent writes to it. Does the device still see the parent's memory?
 */
static int cmd_rocow(int get)
{
	int fd = open_dev();
	uint8_t *buf = map_mem(psize(), 0);
	int handle, seen, expect;
	int p[2];
	pid_t pid;
	char c;

	printf("rocow --mode %s\n", get ? "get" : "pin");
	memset(buf, 'A', psize());
	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		read(p[0], &c, 1);
		_exit(0);
	}
	printf("1. page filled with 'A', shared with a child by fork()\n");
	handle = ioc_pin(fd, buf, psize(), get ? PINIO_PIN_GET : 0, 0, NULL);
	if (handle < 0)
		die_errno("PINIO_IOC_PIN", (int)-handle);
	printf("2. the parent %s it read-only\n", get ? "gets (FOLL_GET)" : "pins (FOLL_PIN)");
	show_query(fd, handle, "after R/O pin:");
	memset(buf, 'B', psize());
	printf("3. the parent writes 'B'\n");
	dma(fd, handle, PINIO_DMA_FROM_PAGES, 0, psize());
	seen = store_byte(fd, 0);
	printf("4. the device reads the held page: %s\n", show(seen));
	c = 1;
	write(p[1], &c, 1);
	waitpid(pid, NULL, 0);
	unpin(fd, handle, 0);
	close(fd);
	/* A R/O FOLL_PIN unshares the page first, so it stays the parent's; FOLL_GET does not. */
	expect = get ? 'A' : 'B';
	printf("=> %s: the held page is %s the parent's memory (expected: %s)\n",
	       seen == expect ? "as expected" : "UNEXPECTED",
	       seen == 'B' ? "still" : "no longer", expect == 'B' ? "still" : "no longer");
	return seen == expect ? 0 : 1;
}

static int cmd_pin(size_t len, int get, int write, int longterm, int nofault,
		   unsigned int per_call, int thp, int hold)
{
	int fd = open_dev();
	uint8_t *buf = map_mem(len, thp);
	unsigned int flags = (get ? PINIO_PIN_GET : 0) | (write ? PINIO_PIN_WRITE : 0) |
			     (longterm ? PINIO_PIN_LONGTERM : 0) | (nofault ? PINIO_PIN_NOFAULT : 0);
	long long acq0 = vmstat_read("nr_foll_pin_acquired"), rel0 = vmstat_read("nr_foll_pin_released");
	long long vmpin0 = vmpin_kb(0);
	struct pinio_pin p;
	unsigned long long unpin_ns;
	int handle;

	memset(buf, 1, len); /* pre-fault, as gup_test does */
	printf("pin --len %zu --mode %s%s%s%s --per-call %u%s\n", len, get ? "get" : "pin",
	       write ? " --write" : "", longterm ? " --longterm" : "", nofault ? " --nofault" : "",
	       per_call, thp ? " --thp" : "");
	handle = ioc_pin(fd, buf, len, flags, per_call, &p);
	if (handle < 0) {
		printf("  PINIO_IOC_PIN failed: %s\n", strerror(-handle));
		close(fd);
		return 1;
	}
	printf("  handle %d: %llu pages in %llu ns (%.1f ns/page), %llu pages charged to pinned_vm\n",
	       handle, p.nr_pages, p.pin_ns, (double)p.pin_ns / p.nr_pages, p.charged_pages);
	printf("  VmPin %lld kB -> %lld kB; nr_foll_pin_acquired +%lld\n", vmpin0, vmpin_kb(0),
	       vmstat_read("nr_foll_pin_acquired") - acq0);
	show_query(fd, handle, "while held:");
	if (hold > 0) {
		printf("  holding for %d s ...\n", hold);
		fflush(stdout);
		sleep(hold);
	}
	unpin_ns = unpin(fd, handle, 0);
	printf("  unpinned in %llu ns (%.1f ns/page); VmPin %lld kB; nr_foll_pin_released +%lld\n",
	       unpin_ns, (double)unpin_ns / p.nr_pages, vmpin_kb(0),
	       vmstat_read("nr_foll_pin_released") - rel0);
	close(fd);
	return 0;
}

/* What QUERY reports for a few memory types. */
static int cmd_query(void)
{
	int fd = open_dev(), handle, mfd;
	size_t len = 4UL << 20;
	uint8_t *anon = map_mem(len, 0), *thp = map_mem(len, 1), *shm;

	memset(anon, 1, len);
	memset(thp, 1, len);
	mfd = memfd_create("pinio-ctl", 0);
	if (mfd < 0 || ftruncate(mfd, len))
		die("memfd");
	shm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (shm == MAP_FAILED)
		die("mmap memfd");
	memset(shm, 1, len);
	struct { const char *name; void *addr; unsigned int flags; } cases[] = {
		{ "anonymous, FOLL_PIN", anon, PINIO_PIN_WRITE },
		{ "anonymous, FOLL_GET", anon, PINIO_PIN_WRITE | PINIO_PIN_GET },
		{ "THP-advised, long-term", thp, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM },
		{ "memfd (shmem), pin", shm, PINIO_PIN_WRITE },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		handle = ioc_pin(fd, cases[i].addr, len, cases[i].flags, 0, NULL);
		printf("%s:\n", cases[i].name);
		if (handle < 0) {
			printf("  PINIO_IOC_PIN failed: %s\n", strerror(-handle));
			continue;
		}
		show_query(fd, handle, "");
		unpin(fd, handle, 0);
	}
	close(mfd);
	close(fd);
	return 0;
}

/*
 * The DMA mapping of the data path: a write and a read back, with pinio's mapping counters
 * and DMA-API debug's entry count. Bytes bounce only with swiotlb=force, or with
 * dma_mask_bits=32 on a machine with memory above 4 GiB (and so a swiotlb pool).
 */
static int cmd_dma(size_t size)
{
	static const char *const names[] = { "dma_maps", "dma_segments", "dma_bounced_bytes",
					     "dma_map_errors" };
	const char *entries = "/sys/kernel/debug/dma-api/num_free_entries";
	int fd = open_dev();
	uint8_t *w = map_anon(size), *r = map_anon(size);
	unsigned long free0 = 0, free1 = 0;
	long long before[4];
	struct pinio_info info;
	int differs;
	size_t i;

	if (ioctl(fd, PINIO_IOC_INFO, &info))
		die("PINIO_IOC_INFO");
	if (read_sysfs(entries, &free0))
		die("DMA-API debug (CONFIG_DMA_API_DEBUG)");
	for (i = 0; i < 4; i++)
		before[i] = pinio_counter(names[i]);
	for (i = 0; i < size; i++)
		w[i] = (uint8_t)(i * 13 + (i >> 12));
	printf("DMA mask %u bits; DMA-API debug free entries %lu\n", info.dma_mask_bits, free0);
	printf("writing %zu bytes (the device reads: DMA_TO_DEVICE) ...\n", size);
	printf("reading them back (the device writes: DMA_FROM_DEVICE) ...\n");
	if (pwrite(fd, w, size, 0) != (ssize_t)size || pread(fd, r, size, 0) != (ssize_t)size)
		die("pwrite/pread");
	differs = memcmp(w, r, size) != 0;
	printf("  data %s\n", differs ? "DIFFERS" : "identical");
	for (i = 0; i < 4; i++)
		printf("  %-18s +%lld\n", names[i], pinio_counter(names[i]) - before[i]);
	if (read_sysfs(entries, &free1))
		die("DMA-API debug");
	printf("  DMA-API debug free entries now %lu (nothing left mapped: %s)\n", free1,
	       free1 == free0 ? "yes" : "NO");
	if (pinio_counter("dma_bounced_bytes") > before[2])
		printf("  bounced through swiotlb slots: the device never saw the user pages\n");
	else
		printf("  no bounce: the DMA addresses were the user pages' physical addresses\n");
	close(fd);
	return differs;
}

/* The experiments of the background mails (pinio_exp.h). */
static const struct exp_scenario experiments[] = {
	{ "dump",
	  "PINIO_IOC_DUMP: one record per held page, for anonymous, THP, zero-page and memfd memory",
	  NULL, exp_dump_kinds },
	{ "cve-2020-29374",
	  "the vmsplice/GUP-after-fork leak is closed: a child's R/O FOLL_GET page keeps the old data when the parent writes",
	  NULL, exp_cve_2020_29374 },
	{ "ro-pins",
	  "read-only pins stay coherent through fork, mprotect and COW sharing (selftests/mm/cow.c's cases), small pages and THP",
	  NULL, exp_ro_pins },
	{ "ksm", "KSM merges unpinned duplicates, not pinned or referenced pages", NULL, exp_ksm },
	{ "iterators",
	  "extraction by iterator kind: UBUF/IOVEC pinned, BVEC/KVEC/XARRAY/FOLIOQ listed",
	  NULL, exp_iterators },
	{ "longterm", "FOLL_LONGTERM migrates pages out of ZONE_MOVABLE and CMA before pinning",
	  "movablecore= cma=", exp_longterm },
	{ "reclaim", "pinned pages are not swapped out, their neighbours are; VmPin charge",
	  "brd.rd_nr=2 (swap)", exp_reclaim },
	{ "matrix",
	  "the long-term pinnability matrix: anonymous, memfd, tmpfs, ext4, hugetlb; R/O, R/W; PIN and io_uring; checked against 7.3 and the kernel's gup_longterm",
	  NULL, exp_matrix },
	{ "why",
	  "failed pins and their PINIO_IOC_WHY answers: memlock charge, per-file cap, faults by kind, failed migration (the last two cases need movablecore=)",
	  NULL, exp_why },
	{ "bounce-leak",
	  "PINIO_DMA_KEEP_MAPPING keeps DMA mappings: swiotlb slots leak, the pool fills, callers get EAGAIN (RWF_NOWAIT) or ENOMEM; the unpin unmaps first",
	  "swiotlb=128,force swiotlb=track_hiwater, and pinio with dma_mask_bits=32 dma_leak_experiment=1",
	  exp_bounce_leak },
	{ "overlap",
	  "two io_uring reads into one page in flight: the last to complete wins (as completed, FIFO); dma_overlaps, overlap_warn",
	  NULL, exp_overlap },
};

static int cmd_list(void)
{
	static const char * const classic[][2] = {
		{ "info", "the device's ABI version, flags and geometry" },
		{ "rw", "an O_DIRECT write and read back through pinned pages, with the pin counts" },
		{ "cow", "O_DIRECT + fork: whose memory gets the device's data, FOLL_GET vs FOLL_PIN" },
		{ "rocow", "a read-only pin of a page shared with a child, FOLL_GET vs FOLL_PIN" },
		{ "pin", "pin a range with any flags, time it, QUERY it, hold it" },
		{ "query", "what QUERY reports for anonymous, THP and memfd memory" },
		{ "dio-fork", "O_DIRECT + fork with an io_uring read in flight, FOLL_GET vs FOLL_PIN" },
		{ "dma", "a write and read back through DMA mappings: counters, bounces, DMA-API debug" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(classic); i++)
		printf("%-16s %s\n", classic[i][0], classic[i][1]);
	for (size_t i = 0; i < ARRAY_SIZE(experiments); i++)
		printf("%-16s %s%s%s%s\n", experiments[i].name, experiments[i].summary,
		       experiments[i].needs ? " [boot with " : "",
		       experiments[i].needs ? experiments[i].needs : "",
		       experiments[i].needs ? "]" : "");
	return 0;
}

/* Runs an experiment: its steps, its checks, the verdict; 1 if anything was unexpected. */
static int cmd_experiment(const struct exp_scenario *s, int rows)
{
	struct exp e;
	int ret;

	printf("%s: %s\n", s->name, s->summary);
	ret = exp_init(&e, "", rows);
	if (!ret)
		ret = s->run(&e);
	exp_fini(&e);
	return exp_verdict(&e, s->name) || ret ? 1 : 0;
}

/* A step of an experiment, on stdout. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/*
 * The O_DIRECT + fork problem with a real asynchronous read in flight (pinio_async.h): the
 * read is queued with all its pages taken, the process forks, the parent writes the other
 * half of the same page, then the device's data lands. Whose memory got it?
 */
static int cmd_dio_fork(int get, unsigned int latency_us)
{
	struct dio_fork x = { .get = get, .latency_us = latency_us, .store_off = 0 };
	int ok;

	printf("dio-fork --mode %s --latency %u\n", get ? "get" : "pin", latency_us);
	if (dio_fork_run(&x, say)) {
		printf("=> no verdict: %s\n", x.error);
		return 1;
	}
	ok = dio_fork_as_expected(&x);
	printf("=> %s: the parent %s the device's data%s (expected for this mode: %s)\n",
	       ok ? "as expected" : "UNEXPECTED",
	       x.parent[0] == DIO_FORK_DEVICE ? "got" : "lost",
	       x.child[0] == DIO_FORK_DEVICE ? ", the child's copy got it" : "",
	       dio_fork_expected_parent(get) == DIO_FORK_DEVICE ? "got" : "lost");
	return ok ? 0 : 1;
}

static void usage_exit(void)
{
	fprintf(stderr,
		"usage: pinio-ctl info | rw [--size N] | cow --mode get|pin [--writer parent|child]\n"
		"       | rocow --mode get|pin | query | list | EXPERIMENT [--rows N]\n"
		"       | pin --len N [--mode pin|get] [--write] [--longterm] [--nofault]\n"
		"             [--per-call N] [--thp] [--hold SECONDS]\n"
		"       | dio-fork --mode pin|get [--latency US] | dma [--size N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, 0, 'm' }, { "writer", required_argument, 0, 'w' },
		{ "len", required_argument, 0, 'l' }, { "size", required_argument, 0, 's' },
		{ "write", no_argument, 0, 'W' }, { "longterm", no_argument, 0, 'L' },
		{ "nofault", no_argument, 0, 'N' }, { "per-call", required_argument, 0, 'n' },
		{ "thp", no_argument, 0, 'T' }, { "hold", required_argument, 0, 'H' },
		{ "rows", required_argument, 0, 'R' },
		{ "latency", required_argument, 0, 'u' },
		{ 0 },
	};
	int get = 0, child_writes = 0, write = 0, longterm = 0, nofault = 0, thp = 0, hold = 0;
	int rows = 4;
	size_t len = 1UL << 20;
	unsigned int per_call = 0, latency_us = 300000;
	const char *cmd;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage_exit();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "get"))
				get = 1;
			else if (strcmp(optarg, "pin"))
				usage_exit();
			break;
		case 'w':
			child_writes = !strcmp(optarg, "child");
			break;
		case 'l':
		case 's':
			len = parse_size("pinio-ctl", optarg);
			break;
		case 'W':
			write = 1;
			break;
		case 'L':
			longterm = 1;
			break;
		case 'N':
			nofault = 1;
			break;
		case 'n':
			per_call = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			thp = 1;
			break;
		case 'H':
			hold = atoi(optarg);
			break;
		case 'u':
			latency_us = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			rows = atoi(optarg);
			break;
		default:
			usage_exit();
		}
	}
	if (!strcmp(cmd, "info"))
		return cmd_info();
	if (!strcmp(cmd, "rw"))
		return cmd_rw(len);
	if (!strcmp(cmd, "cow"))
		return cmd_cow(get, child_writes);
	if (!strcmp(cmd, "rocow"))
		return cmd_rocow(get);
	if (!strcmp(cmd, "pin"))
		return cmd_pin(len, get, write, longterm, nofault, per_call, thp, hold);
	if (!strcmp(cmd, "query"))
		return cmd_query();
	if (!strcmp(cmd, "dio-fork"))
		return cmd_dio_fork(get, latency_us);
	if (!strcmp(cmd, "dma"))
		return cmd_dma(len);
	if (!strcmp(cmd, "list"))
		return cmd_list();
	for (size_t i = 0; i < ARRAY_SIZE(experiments); i++)
		if (!strcmp(cmd, experiments[i].name))
			return cmd_experiment(&experiments[i], rows);
	usage_exit();
	return 2;
}
