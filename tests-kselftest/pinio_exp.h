/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pinio's experiments: each makes one mechanism of the background mails visible on the running
 * kernel. An experiment prints what it does step by step, shows the held pages before and after
 * with PINIO_IOC_DUMP, and checks every outcome expected of Linux 7.3 with exp_check().
 * pinio-ctl runs them by name and ends with the verdict (exit status 1 if a check failed); the
 * kselftests pinio_exp_test and pinio_exp_boot_test run the same code and fail if a check fails.
 *
 * The experiments in pinio_exp_boot.h need boot options (a movable zone, a CMA area, a second
 * brd disk for swap); make test runs them in its second boot (scripts/run-tests.sh).
 *
 * Store use (the store is shared by the programs of a boot, see pinio_test.h): the experiments
 * write only [58 MiB, 62 MiB) of the store.
 */
#ifndef _PINIO_EXP_H
#define _PINIO_EXP_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pinio_async.h"
#include "pinio_ioctl.h"
#include "pinio_util.h"

#define EXP_STORE_OFF	(58ULL << 20)
#define EXP_STORE_LEN	(4ULL << 20)
#define EXP_MAX_CMA	8

/* One experiment run: where its output goes and how its checks went. */
struct exp {
	const char *prefix;	/* before every line: "" (pinio-ctl) or "# " (TAP comments) */
	int dump_rows;		/* DUMP rows shown per table (0: none) */
	int checks;
	int failed;
	int fd;			/* /dev/pinio, O_DIRECT */
	int pagemap;		/* /proc/self/pagemap */
	size_t ps;
	int nr_cma;		/* CMA areas found in the kernel log, as pfn ranges */
	unsigned long long cma_start[EXP_MAX_CMA], cma_end[EXP_MAX_CMA];
};

static inline void exp_vsay(struct exp *e, const char *fmt, va_list ap)
{
	fputs(e->prefix, stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* One line of output. */
__printf(2, 3) static inline void exp_say(struct exp *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exp_vsay(e, fmt, ap);
	va_end(ap);
}

/* Checks one expected outcome, printing it with its result; returns @ok. */
__printf(3, 4) static inline bool exp_check(struct exp *e, bool ok, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	e->checks++;
	if (!ok)
		e->failed++;
	exp_say(e, "   %s %s", ok ? "[ok]        " : "[UNEXPECTED]", line);
	return ok;
}

/*
 * A step that must work for the experiment to go on (a system call, not an outcome): counted
 * as a check only if it failed, with errno's text.
 */
static inline bool exp_need(struct exp *e, bool ok, const char *what)
{
	int err = errno;

	if (!ok)
		exp_check(e, false, "%s: %s", what, strerror(err));
	return ok;
}

/*
 * Binds the calling process (and the children it forks) to the CPU it runs on. A small page
 * fresh from a fault sits in that CPU's LRU batch, which holds a reference and keeps it off the
 * LRU until drained, and the paths the experiments show drain only the local batch
 * (lru_add_drain() in wp_can_reuse_anon_folio() and in MADV_PAGEOUT): a page left in another
 * CPU's batch would be copied instead of reused, or not paged out. Each experiment failed that
 * way once when the process moved between CPUs.
 */
static inline void exp_bind_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu < 0 ? 0 : cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

static inline int exp_init(struct exp *e, const char *prefix, int dump_rows)
{
	exp_bind_cpu();
	memset(e, 0, sizeof(*e));
	e->prefix = prefix;
	e->dump_rows = dump_rows;
	e->ps = psize();
	e->fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	e->pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (!exp_need(e, e->fd >= 0, "open " PINIO_DEV) ||
	    !exp_need(e, e->pagemap >= 0, "open /proc/self/pagemap"))
		return -1;
	return 0;
}

static inline void exp_fini(struct exp *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->pagemap >= 0)
		close(e->pagemap);
}

/* The verdict line; 0 if every check held. */
static inline int exp_verdict(struct exp *e, const char *name)
{
	if (!e->failed && e->checks)
		exp_say(e, "=> %s: as expected (%d checks)", name, e->checks);
	else
		exp_say(e, "=> %s: UNEXPECTED: %d of %d checks failed", name, e->failed, e->checks);
	return e->failed || !e->checks;
}

/* ---- memory -------------------------------------------------------------------------- */

/*
 * One PMD-sized THP of private anonymous memory, populated with @byte, or NULL if none could
 * be had. Unmap it with munmap(p, read_pmd_pagesize()).
 */
static inline uint8_t *exp_thp(int byte)
{
	size_t thp = read_pmd_pagesize();
	uint8_t *a = thp ? map_thp(thp) : NULL;

	if (!a)
		return NULL;
	memset(a, byte, thp);
	/*
	 * vm_util's check_huge_anon() for a PMD-sized page, which changed its signature between
	 * the kernel series pinio supports (7.3 added a length).
	 */
	if (smaps_kb(a, "AnonHugePages:") != (long long)(thp >> 10)) {
		munmap(a, thp);
		return NULL;
	}
	return a;
}

/* The pfn mapped at @addr (0 if none: not present, or swapped). */
static inline unsigned long long exp_pfn(struct exp *e, const void *addr)
{
	uint64_t ent = pagemap_get_entry(e->pagemap, (char *)addr);

	return PAGEMAP_PRESENT(ent) ? PAGEMAP_PFN(ent) : 0;
}

/* Fills @len bytes at @p with a pattern that depends on @seed and on the offset. */
static inline void exp_fill(void *p, size_t len, uint8_t seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7 + (i >> 12));
}

/* Index of the first byte of @p that differs from exp_fill(@seed), or @len. */
static inline size_t exp_mismatch(const void *p, size_t len, uint8_t seed)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != (uint8_t)(seed + i * 7 + (i >> 12)))
			return i;
	return len;
}

/*
 * What the device reads through @handle: its first @len bytes are copied into the store
 * (PINIO_IOC_DMA, from the held pages, not through any page table) and read back into @out.
 * 0, or -errno.
 */
static inline int exp_device_reads(struct exp *e, uint32_t handle, void *out, size_t len)
{
	void *bounce;
	long long done = ioc_dma(e->fd, handle, PINIO_DMA_FROM_PAGES, 0, EXP_STORE_OFF, len);
	ssize_t n;

	if (done < 0)
		return (int)done;
	if ((size_t)done != len || len > EXP_STORE_LEN)
		return -EIO;
	bounce = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bounce == MAP_FAILED)
		return -errno;
	n = pread(e->fd, bounce, len, EXP_STORE_OFF);
	if (n == (ssize_t)len)
		memcpy(out, bounce, len);
	munmap(bounce, len);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Whether all @len bytes at @p are @byte. */
static inline bool exp_all(const void *p, size_t len, uint8_t byte)
{
	return bytes_mismatch(p, len, byte) == len;
}

/* ---- what the kernel says: DUMP, CMA areas, zones ------------------------------------------ */

static inline const char *exp_zone_name(uint32_t zone)
{
	static const char * const names[] = {
		[PINIO_ZONE_DMA] = "DMA", [PINIO_ZONE_DMA32] = "DMA32",
		[PINIO_ZONE_NORMAL] = "Normal", [PINIO_ZONE_HIGHMEM] = "HighMem",
		[PINIO_ZONE_MOVABLE] = "Movable", [PINIO_ZONE_DEVICE] = "Device",
	};

	return zone < ARRAY_SIZE(names) ? names[zone] : "?";
}

/* The whole kernel log (SYSLOG_ACTION_READ_ALL), NUL-terminated, for free(); NULL on failure. */
static inline char *exp_klog_read(void)
{
	int size = klogctl(10, NULL, 0), n;	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf = size > 0 ? malloc(size + 1) : NULL;

	if (!buf)
		return NULL;
	n = klogctl(3, buf, size);		/* SYSLOG_ACTION_READ_ALL */
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

/*
 * The CMA areas, from the kernel log ("cma: Reserved N MiB at 0x..."): a module cannot read a
 * pageblock's migratetype (get_pfnblock_migratetype() is not exported), and without
 * CONFIG_CMA_DEBUGFS the log is where user space learns where the areas are. Returns how many.
 */
static inline int exp_find_cma(struct exp *e)
{
	char *buf = exp_klog_read(), *p;

	e->nr_cma = 0;
	if (!buf)
		return 0;
	for (p = strstr(buf, "cma: Reserved "); p && e->nr_cma < EXP_MAX_CMA;
	     p = strstr(p + 1, "cma: Reserved ")) {
		unsigned long long mib, base;

		if (sscanf(p, "cma: Reserved %llu MiB at %llx", &mib, &base) != 2)
			continue;
		e->cma_start[e->nr_cma] = base / e->ps;
		e->cma_end[e->nr_cma] = (base + (mib << 20)) / e->ps;
		e->nr_cma++;
	}
	free(buf);
	return e->nr_cma;
}

static inline bool exp_in_cma(struct exp *e, unsigned long long pfn)
{
	for (int i = 0; i < e->nr_cma; i++)
		if (pfn >= e->cma_start[i] && pfn < e->cma_end[i])
			return true;
	return false;
}

/* A value of /proc/zoneinfo for zone @zone ("Movable", "DMA32"), e.g. "nr_free_pages"; -1. */
static inline long long exp_zoneinfo(const char *zone, const char *key)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	char line[256], k[64], z[32];
	long long v, found = -1;
	int in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %*d, zone %31s", z) == 1) {
			in = !strcmp(z, zone);
			continue;
		}
		if (in && sscanf(line, " %63s %lld", k, &v) == 2 && !strcmp(k, key)) {
			found = v;
			break;
		}
	}
	fclose(f);
	return found;
}

/* The flags of a record as words. */
/* The names of the bits set in @flags (bit i named @names[i]), space-separated, into @buf. */
static inline const char *exp_bit_names(uint32_t flags, const char * const *names,
					unsigned int n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < n; i++)
		if (flags & (1U << i))
			at += snprintf(buf + at, at < len ? len - at : 0, "%s%s",
				       at ? " " : "", names[i]);
	return buf;
}

static inline const char *exp_flag_names(uint32_t flags, char *buf, size_t len)
{
	static const char * const names[] = {
		"pinned", "anon", "excl", "zero", "dirty", "ksm", "swapcache", "lru", "hugetlb",
		"lt-pinnable",
	};

	return exp_bit_names(flags, names, ARRAY_SIZE(names), buf, len);
}

/*
 * The DUMP of @handle (at most @max records from @offset), into @recs; the number of records,
 * or -errno (counted as a failed check).
 */
static inline long exp_get_dump(struct exp *e, uint32_t handle, uint64_t offset, uint32_t max,
				struct pinio_page_record *recs)
{
	long n = ioc_dump(e->fd, handle, offset, max, recs, NULL);

	if (n < 0)
		exp_check(e, false, "PINIO_IOC_DUMP of handle %u: %s", handle, strerror(-n));
	return n;
}

/* Prints @n records as a table, the first e->dump_rows of them, titled @title. */
static inline void exp_print_records(struct exp *e, const char *title,
				     const struct pinio_page_record *r, long n)
{
	char flags[160], zone[24];

	if (!e->dump_rows || n <= 0)
		return;
	exp_say(e, "   DUMP %s:", title);
	exp_say(e, "     %5s %10s %-13s %5s %6s %4s %4s  %s", "page", "pfn", "zone", "order",
		"ref", "map", "pin", "flags");
	for (long i = 0; i < n && i < e->dump_rows; i++) {
		snprintf(zone, sizeof(zone), "%s%s", exp_zone_name(r[i].zone),
			 exp_in_cma(e, r[i].pfn) ? "+CMA" : "");
		exp_say(e, "     %5llu %#10llx %-13s %5u %6d %4d %4d  %s",
			(unsigned long long)r[i].index, (unsigned long long)r[i].pfn, zone,
			r[i].order, r[i].refcount, r[i].mapcount, r[i].pincount,
			exp_flag_names(r[i].flags, flags, sizeof(flags)));
	}
	if (n > e->dump_rows)
		exp_say(e, "     ... %ld more", n - e->dump_rows);
}

/* DUMPs @handle's first @max pages into @recs and prints them; the number, or -errno. */
static inline long exp_dump(struct exp *e, uint32_t handle, uint32_t max,
			    struct pinio_page_record *recs, const char *title)
{
	long n = exp_get_dump(e, handle, 0, max, recs);

	exp_print_records(e, title, recs, n);
	return n;
}

/* How many of @n records have all of @flags set. */
static inline long exp_count_flags(const struct pinio_page_record *r, long n, uint32_t flags)
{
	long c = 0;

	for (long i = 0; i < n; i++)
		c += (r[i].flags & flags) == flags;
	return c;
}

/* A pin whose failure is counted: the handle, or 0 (a failed check). */
static inline uint32_t exp_pin(struct exp *e, const void *addr, size_t len, uint32_t flags,
			       const char *what)
{
	long h = ioc_pin(e->fd, addr, len, flags, 0, NULL);

	if (h < 0) {
		exp_check(e, false, "%s: PINIO_IOC_PIN: %s", what, strerror((int)-h));
		return 0;
	}
	return (uint32_t)h;
}

static inline void exp_unpin(struct exp *e, uint32_t handle)
{
	int ret;

	if (!handle)
		return;
	ret = ioc_unpin(e->fd, handle, 0);
	if (ret)
		exp_check(e, false, "PINIO_IOC_UNPIN of handle %u: %s", handle, strerror(-ret));
}

/* ---- the scenarios --------------------------------------------------------------------- */

/* What a child reports back through a pipe: one byte. */
static inline char exp_xread(int fd)
{
	char c = 0;

	return read(fd, &c, 1) == 1 ? c : 0;
}

static inline void exp_xwrite(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(3);
}

/*
 * dump: one record per held page (PINIO_IOC_DUMP), for four kinds of memory. The records must
 * agree with the page tables (/proc/self/pagemap) and with what the kernel does with each kind:
 * an order-0 page keeps its pins in the refcount (GUP_PIN_COUNTING_BIAS each), a THP in its
 * own pin counter, untouched memory pinned read-only is the shared zero page, memfd pages are
 * page cache.
 */
static inline int exp_dump_kinds(struct exp *e)
{
	const size_t ps = e->ps, thp = read_pmd_pagesize();
	struct pinio_page_record r[4], *big = NULL;
	uint8_t *anon, *huge, *zero, *shm = MAP_FAILED;
	uint32_t h1, h2 = 0, h;
	long n, ok = 0;
	int mfd = -1;

	exp_say(e,
		"1. four written pages of private anonymous memory, pinned for writing (FOLL_PIN)");
	anon = map_small(4 * ps);
	if (!exp_need(e, anon, "mmap"))
		return -1;
	memset(anon, 'a', 4 * ps);
	h1 = exp_pin(e, anon, 4 * ps, PINIO_PIN_WRITE, "anonymous");
	if (!h1)
		return -1;
	n = exp_dump(e, h1, 4, r, "of the pin");
	for (long i = 0; i < n; i++)
		ok += r[i].pfn == exp_pfn(e, anon + i * ps) && r[i].index == (uint64_t)i &&
		      r[i].zone <= PINIO_ZONE_MOVABLE;
	exp_check(e, n == 4 && ok == 4,
		  "every record's pfn is the one the page table maps (%ld of 4)",
		  ok);
	exp_check(e, n == 4 && exp_count_flags(r, n, PINIO_PAGE_DMA_PINNED | PINIO_PAGE_ANON |
					       PINIO_PAGE_ANON_EXCLUSIVE) == 4,
		  "pinned, anonymous, exclusive to this process");
	exp_check(e, n == 4 && !r[0].order && r[0].pincount == 1 && r[0].mapcount == 1 &&
		  r[0].refcount >= 1 + 1024,
		  "order 0, mapped once, refcount %d = the mapping + GUP_PIN_COUNTING_BIAS (1024) per pin, pin count %d",
		  n > 0 ? r[0].refcount : 0, n > 0 ? r[0].pincount : 0);
	h2 = exp_pin(e, anon, ps, PINIO_PIN_WRITE, "second pin");
	n = exp_dump(e, h1, 1, r, "after a second pin of page 0");
	exp_check(e, n == 1 && r[0].pincount == 2 && r[0].refcount >= 1 + 2 * 1024,
		  "a second pin adds another 1024 to the refcount: pin count %d",
		  n == 1 ? r[0].pincount : 0);
	exp_unpin(e, h2);
	exp_unpin(e, h1);

	exp_say(e, "2. a PMD-sized THP, pinned for writing");
	huge = exp_thp('t');
	if (exp_check(e, huge, "a THP was allocated (MADV_HUGEPAGE)")) {
		big = calloc(thp / ps, sizeof(*big));
		h = exp_pin(e, huge, thp, PINIO_PIN_WRITE, "THP");
		n = h && big ? exp_get_dump(e, h, 0, thp / ps, big) : -1;
		exp_print_records(e, "of the THP", big, n);
		ok = 0;
		for (long i = 0; i < n; i++)
			ok += big[i].order == 9 && big[i].pincount == (int)(thp / ps) &&
			      big[i].pfn == big[0].pfn + i;
		exp_check(e, n == (long)(thp / ps) && ok == n,
			  "all %ld pages: order 9, physically contiguous, one folio pin counter (folio->_pincount) counting %zu pins, one per pinned page",
			  n, thp / ps);
		exp_check(e, n > 0 && big[0].refcount == big[0].mapcount + (int)(thp / ps),
			  "a large folio takes one reference per pin, not 1024: refcount %d = %d mapping + %zu",
			  n > 0 ? big[0].refcount : 0, n > 0 ? big[0].mapcount : 0,
			  thp / ps);
		exp_unpin(e, h);
		free(big);
		munmap(huge, thp);
	}

	exp_say(e, "3. never-written anonymous memory, pinned read-only");
	zero = map_small(2 * ps);
	h = zero ? exp_pin(e, zero, 2 * ps, 0, "untouched") : 0;
	n = h ? exp_dump(e, h, 2, r, "of untouched memory") : -1;
	exp_check(e, n == 2 && exp_count_flags(r, n, PINIO_PAGE_ZERO) == 2 &&
		  !exp_count_flags(r, n, PINIO_PAGE_ANON) && r[0].pfn == r[1].pfn &&
		  r[0].pfn == exp_pfn(e, zero),
		  "both pages are the shared zero page (one pfn, not anonymous), now mapped");
	exp_unpin(e, h);

	exp_say(e, "4. memfd (shmem) pages written through a shared mapping, pinned");
	mfd = memfd_create("pinio-exp", 0);
	if (mfd >= 0 && !ftruncate(mfd, 2 * ps))
		shm = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (exp_need(e, shm != MAP_FAILED, "memfd")) {
		memset(shm, 's', 2 * ps);
		h = exp_pin(e, shm, 2 * ps, PINIO_PIN_WRITE, "memfd");
		n = h ? exp_dump(e, h, 2, r, "of memfd pages") : -1;
		exp_check(e, n == 2 && !exp_count_flags(r, n, PINIO_PAGE_ANON) &&
			  exp_count_flags(r, n, PINIO_PAGE_DMA_PINNED | PINIO_PAGE_DIRTY) == 2,
			  "page cache, not anonymous: pinned and dirty (written through the mapping)");
		exp_unpin(e, h);
		munmap(shm, 2 * ps);
	}
	if (mfd >= 0)
		close(mfd);
	munmap(zero, 2 * ps);
	munmap(anon, 4 * ps);
	return 0;
}

/*
 * cve-2020-29374: the vmsplice()/GUP-after-fork leak. A child that shares a page
 * copy-on-write with its parent takes a read-only FOLL_GET reference to it (as vmsplice() did)
 * and unmaps it; the parent then writes a secret into its page. Until 5.8, do_wp_page() let
 * the parent write in place when the page's *mapcount* said it was mapped once, so the secret
 * landed in the page the child still held, readable through it. Since then
 * wp_can_reuse_anon_folio() reuses an anonymous page only when its *refcount* shows no other
 * reference: the parent gets a copy, and the held page keeps the old contents.
 */
static inline int exp_cve_2020_29374(struct exp *e)
{
	const size_t ps = e->ps;
	int to_child[2], from_child[2], status = -1;
	struct pinio_page_record r[1];
	unsigned long long pfn0, pfn1;
	uint8_t *buf, *seen;
	uint32_t handle = 0;
	long n;
	pid_t pid;

	buf = map_small(ps);
	seen = map_small(ps);
	if (!exp_need(e, buf && seen, "mmap") ||
	    !exp_need(e, !pipe(to_child) && !pipe(from_child), "pipe"))
		return -1;
	memset(buf, 'O', ps);
	pfn0 = exp_pfn(e, buf);
	exp_say(e, "1. the parent's private page holds public data 'O' (pfn %#llx); fork()", pfn0);
	pid = fork();
	if (!exp_need(e, pid >= 0, "fork"))
		return -1;
	if (!pid) {
		/* The child: a read-only FOLL_GET reference, as vmsplice() took, then unmap. */
		long h = ioc_pin(e->fd, buf, ps, PINIO_PIN_GET, 0, NULL);
		uint32_t hh = h > 0 ? (uint32_t)h : 0;

		if (write(from_child[1], &hh, sizeof(hh)) != sizeof(hh))
			_exit(3);
		exp_xread(to_child[0]);
		munmap(buf, ps);
		exp_xwrite(from_child[1], 'u');
		_exit(h > 0 ? 0 : 1);
	}
	if (read(from_child[0], &handle, sizeof(handle)) != sizeof(handle))
		handle = 0;
	exp_say(e,
		"2. the child takes a read-only FOLL_GET reference to the shared page (PINIO_PIN_GET, handle %u of the shared file)",
		handle);
	if (!exp_check(e, handle, "the child's GET succeeded"))
		goto out;
	n = exp_dump(e, handle, 1, r, "shared by parent and child");
	exp_check(e, n == 1 && r[0].mapcount == 2 && r[0].refcount >= 3 && r[0].pfn == pfn0 &&
		  !(r[0].flags & PINIO_PAGE_ANON_EXCLUSIVE),
		  "mapped by both (mapcount 2), refcount %d: two mappings + the reference",
		  n == 1 ? r[0].refcount : 0);
	exp_xwrite(to_child[1], 'g');
	exp_xread(from_child[0]);
	waitpid(pid, &status, 0);
	exp_say(e,
		"3. the child unmaps the page and exits; its reference stays (it belongs to the file)");
	n = exp_dump(e, handle, 1, r, "after the child unmapped it");
	exp_check(e, n == 1 && r[0].mapcount == 1 && r[0].refcount >= 2,
		  "mapped once (by the parent), refcount %d: what a mapcount test took for \"the parent's own page\"",
		  n == 1 ? r[0].refcount : 0);
	memset(buf, 'S', ps);
	pfn1 = exp_pfn(e, buf);
	exp_say(e, "4. the parent writes a secret 'S' into its page");
	exp_check(e, pfn1 && pfn1 != pfn0,
		  "the write fault gave the parent a copy (pfn %#llx -> %#llx): wp_can_reuse_anon_folio() saw the extra reference",
		  pfn0, pfn1);
	n = exp_dump(e, handle, 1, r, "the child's page after the parent's write");
	exp_check(e, n == 1 && r[0].mapcount == 0 && r[0].pfn == pfn0,
		  "the held page is the old one, mapped by no one");
	if (exp_need(e, !exp_device_reads(e, handle, seen, ps), "PINIO_IOC_DMA"))
		exp_check(e, exp_all(seen, ps, 'O'),
			  "reading through the child's reference gives the old data '%c', not the secret: no leak",
			  seen[0]);
	exp_check(e, buf[0] == 'S', "the parent sees its secret");
out:
	if (handle)
		exp_unpin(e, handle);
	if (status == -1) {
		exp_xwrite(to_child[1], 'g');
		waitpid(pid, &status, 0);
	}
	exp_check(e, WIFEXITED(status) && !WEXITSTATUS(status), "the child exited cleanly");
	close(to_child[0]);
	close(to_child[1]);
	close(from_child[0]);
	close(from_child[1]);
	munmap(buf, ps);
	munmap(seen, ps);
	return 0;
}


struct exp_scenario {
	const char *name;
	const char *summary;	/* one line for pinio-ctl list */
	const char *needs;	/* boot options it needs, or NULL */
	int (*run)(struct exp *e);
};

/*
 * ro-pins: read-only pins and copy-on-write, the cases of selftests/mm/cow.c's R/O pin tests.
 * A read-only FOLL_PIN (no FOLL_WRITE) is taken of the memory, the process then writes new
 * data into it, and the device must read the new data through the pin: a R/O pin has to stay
 * coherent with the process's memory, however the page was shared.
 *
 * - pin, fork, write: fork() gives the child a copy of a maybe-pinned anonymous page
 *   (folio_try_dup_anon_rmap_*() refuses to share it; copy_present_page()), so the parent
 *   keeps the pinned page and writes into it.
 * - pin, mprotect: mprotect(PROT_READ) and back must leave the page PageAnonExclusive, so that
 *   the write fault reuses it (do_wp_page()).
 * - pin a COW-shared page (a child is alive): a R/O FOLL_PIN of a page that is not
 *   PageAnonExclusive unshares it first (gup_must_unshare() -> FAULT_FLAG_UNSHARE), so the
 *   parent gets its own copy and the pin is of the copy.
 * - pin a previously shared page (the child has exited): the page is mapped read-only and not
 *   exclusive, but nobody else holds it: unsharing reuses it in place
 *   (wp_can_reuse_anon_folio()), the pfn does not change (on one CPU: see exp_init()).
 *
 * Each for a small page, a PMD-mapped THP and a THP that was PTE-mapped by a partial
 * mprotect() (cow.c's THP_RUN_PTE).
 */
enum exp_mem { EXP_MEM_SMALL, EXP_MEM_THP, EXP_MEM_THP_PTE, EXP_NR_MEM };
enum exp_ro { EXP_RO_FORK, EXP_RO_MPROTECT, EXP_RO_SHARED, EXP_RO_PREV_SHARED, EXP_NR_RO };

static const char * const exp_mem_names[EXP_NR_MEM] = {
	"small page", "THP (PMD-mapped)", "THP (PTE-mapped)",
};

static const char * const exp_ro_names[EXP_NR_RO] = {
	"pin, fork, write", "pin, mprotect R/O and back, write", "pin a COW-shared page, write",
	"pin a previously shared page, write",
};

/*
 * Pages of @r that are PageAnonExclusive. A PMD-mapped THP keeps the flag on its first page
 * only (__folio_add_anon_rmap()), for the whole PMD; once PTE-mapped, on every page.
 */
static inline long exp_excl_pages(const struct pinio_page_record *r, long n, bool pmd_mapped)
{
	if (pmd_mapped && n > 0 && r[0].order)
		return r[0].flags & PINIO_PAGE_ANON_EXCLUSIVE ? n : 0;
	return exp_count_flags(r, n, PINIO_PAGE_ANON_EXCLUSIVE);
}

/* A child sharing @buf: waits for a byte, then exits 0 if it still sees pattern @seed. */
static inline pid_t exp_sharing_child(uint8_t *buf, size_t size, int go_fd, uint8_t seed)
{
	pid_t pid = fork();

	if (!pid) {
		exp_xread(go_fd);
		_exit(exp_mismatch(buf, size, seed) == size ? 0 : 1);
	}
	return pid;
}

/* One ro-pins case; a summary line goes to @row. */
static inline int exp_ro_pin_case(struct exp *e, enum exp_mem mem, enum exp_ro c, char *row,
				  size_t rowlen)
{
	const size_t ps = e->ps, size = mem == EXP_MEM_SMALL ? ps : read_pmd_pagesize();
	const long nr = size / ps;
	struct pinio_page_record *before = calloc(nr, sizeof(*before));
	struct pinio_page_record *after = calloc(nr, sizeof(*after));
	long nb = 0, na = 0, excl0 = 0, excl1 = 0, moved = 0, mapped = 0;
	uint8_t *buf, *seen = malloc(size);
	int go[2] = { -1, -1 }, status;
	uint32_t probe, h = 0;
	pid_t child = -1;
	char what[160];

	snprintf(what, sizeof(what), "%s: %s", exp_mem_names[mem], exp_ro_names[c]);
	exp_say(e, "ro-pins: %s", what);
	snprintf(row, rowlen, "%-18s %-36s not run", exp_mem_names[mem], exp_ro_names[c]);
	buf = mem == EXP_MEM_SMALL ? map_small(ps) : exp_thp(1);
	if (!exp_check(e, buf && before && after && seen, "memory%s allocated",
		       mem == EXP_MEM_SMALL ? "" : " (a THP)") ||
	    !exp_need(e, !pipe(go), "pipe"))
		goto out;
	if (mem == EXP_MEM_THP_PTE &&
	    !exp_need(e, !mprotect(buf + ps, ps, PROT_READ) &&
		      !mprotect(buf + ps, ps, PROT_READ | PROT_WRITE), "mprotect (PTE-map the THP)"))
		goto out;
	exp_fill(buf, size, 1);
	if (c == EXP_RO_SHARED || c == EXP_RO_PREV_SHARED) {
		child = exp_sharing_child(buf, size, go[0], 1);
		if (!exp_need(e, child > 0, "fork"))
			goto out;
	}
	if (c == EXP_RO_PREV_SHARED) {
		exp_xwrite(go[1], 'x');
		exp_check(e, waitpid(child, &status, 0) == child && WIFEXITED(status) &&
			  !WEXITSTATUS(status), "the child exited (the page was shared with it)");
		child = -1;
	}

	/* The pages before the pin, through a FOLL_GET reference (which does not unshare). */
	probe = exp_pin(e, buf, size, PINIO_PIN_GET, "FOLL_GET probe");
	nb = probe ? exp_get_dump(e, probe, 0, nr, before) : -1;
	exp_unpin(e, probe);
	exp_print_records(e, "before the pin", before, nb);
	h = exp_pin(e, buf, size, 0, "read-only FOLL_PIN");
	na = h ? exp_get_dump(e, h, 0, nr, after) : -1;
	exp_print_records(e, "of the read-only pin", after, na);
	if (nb != nr || na != nr)
		goto out;
	excl0 = exp_excl_pages(before, nb, mem == EXP_MEM_THP);
	excl1 = exp_excl_pages(after, na, mem == EXP_MEM_THP);
	for (long i = 0; i < nr; i++)
		moved += before[i].pfn != after[i].pfn;
	exp_check(e, excl1 == nr && exp_count_flags(after, na, PINIO_PAGE_DMA_PINNED) == nr,
		  "after the pin every page is pinned and PageAnonExclusive (%ld of %ld; %ld before)",
		  excl1, nr, excl0);
	if (c == EXP_RO_SHARED)
		exp_check(e, !excl0 && moved == nr,
			  "the shared pages were unshared: the pin is of fresh copies (%ld of %ld pfns changed)",
			  moved, nr);
	else if (c == EXP_RO_PREV_SHARED && mem == EXP_MEM_THP_PTE)
		exp_check(e, !excl0 && moved == nr - 1 && after[0].pfn == before[0].pfn,
			  "page 0 was reused in place, the other %ld were copied (%ld pfns changed): once page 0 is pinned, the THP's refcount exceeds its mapcount and __wp_can_reuse_large_anon_folio() no longer reuses it",
			  nr - 1, moved);
	else if (c == EXP_RO_PREV_SHARED)
		exp_check(e, !excl0 && !moved,
			  "the no longer shared pages were reused in place (pfns unchanged)");
	else
		exp_check(e, excl0 == nr && !moved, "exclusive pages are pinned where they are");

	if (c == EXP_RO_FORK) {
		child = exp_sharing_child(buf, size, go[0], 1);
		if (!exp_need(e, child > 0, "fork"))
			goto out;
	}
	if (c == EXP_RO_MPROTECT &&
	    !exp_need(e, !mprotect(buf, size, PROT_READ) &&
		      !mprotect(buf, size, PROT_READ | PROT_WRITE), "mprotect"))
		goto out;
	exp_fill(buf, size, 2);
	for (long i = 0; i < nr; i++)
		mapped += exp_pfn(e, buf + i * ps) == after[i].pfn;
	exp_check(e, mapped == nr,
		  "after writing, the process still maps the pinned pages (%ld of %ld)",
		  mapped, nr);
	if (exp_need(e, !exp_device_reads(e, h, seen, size), "PINIO_IOC_DMA"))
		exp_check(e, exp_mismatch(seen, size, 2) == size,
			  "the device reads the new data through the read-only pin");
	if (child > 0) {
		exp_xwrite(go[1], 'x');
		exp_check(e, waitpid(child, &status, 0) == child && WIFEXITED(status) &&
			  !WEXITSTATUS(status), "the child still sees the old data");
		child = -1;
	}
	snprintf(row, rowlen, "%-18s %-36s excl %3ld->%-3ld moved %3ld order %u->%u  %s",
		 exp_mem_names[mem], exp_ro_names[c], excl0, excl1, moved, before[0].order,
		 after[0].order, exp_mismatch(seen, size, 2) == size ? "coherent" : "STALE");
out:
	if (child > 0) {
		exp_xwrite(go[1], 'x');
		waitpid(child, &status, 0);
	}
	exp_unpin(e, h);
	if (go[0] >= 0) {
		close(go[0]);
		close(go[1]);
	}
	if (buf)
		munmap(buf, size);
	free(before);
	free(after);
	free(seen);
	return 0;
}

static inline int exp_ro_pins(struct exp *e)
{
	char rows[EXP_NR_MEM * EXP_NR_RO][200];

	for (int m = 0; m < EXP_NR_MEM; m++)
		for (int c = 0; c < EXP_NR_RO; c++)
			exp_ro_pin_case(e, m, c, rows[m * EXP_NR_RO + c], sizeof(rows[0]));
	exp_say(e,
		"ro-pins summary (PageAnonExclusive pages before -> after the pin, pages whose pfn the pin changed, folio order):");
	for (int i = 0; i < EXP_NR_MEM * EXP_NR_RO; i++)
		exp_say(e, "  %s", rows[i]);
	return 0;
}

/*
 * ksm: KSM does not merge pinned pages. KSM write-protects a page before merging it, and
 * write_protect_page() gives up on a page whose refcount is higher than its mappings account
 * for (mapcount + 1 + swap cache), as a FOLL_GET reference makes it, and
 * folio_try_share_anon_rmap_pte() refuses a page that folio_maybe_dma_pinned(). Two groups of
 * identical pages: in group K the unpinned duplicates come first, then a pinned page and a
 * page held by a FOLL_GET reference; in group L the pinned page comes first.
 */
static inline int exp_ksm(struct exp *e)
{
	const size_t ps = e->ps;
	unsigned long long pfn[8];
	struct pinio_page_record r[8];
	uint32_t pk, gk, pl, all;
	long merging, n, run0;
	uint8_t *p;

	p = map_small(8 * ps);
	if (!exp_need(e, p, "mmap"))
		return -1;
	memset(p, 'K', 4 * ps);
	memset(p + 4 * ps, 'L', 4 * ps);
	exp_say(e, "1. eight small pages: K K K K L L L L (two groups of identical contents)");
	pk = exp_pin(e, p + 2 * ps, ps, PINIO_PIN_WRITE, "FOLL_PIN of page 2");
	gk = exp_pin(e, p + 3 * ps, ps, PINIO_PIN_GET | PINIO_PIN_WRITE, "FOLL_GET of page 3");
	pl = exp_pin(e, p + 4 * ps, ps, PINIO_PIN_WRITE, "FOLL_PIN of page 4");
	exp_say(e,
		"2. page 2 (K) and page 4 (L) pinned with FOLL_PIN, page 3 (K) held by a FOLL_GET reference; MADV_MERGEABLE; KSM runs two full scans");
	run0 = read_num("/sys/kernel/mm/ksm/run");
	if (!exp_need(e, !madvise(p, 8 * ps, MADV_MERGEABLE), "madvise(MADV_MERGEABLE)") ||
	    !exp_need(e, !ksm_start(), "start ksmd (/sys/kernel/mm/ksm/run)"))
		goto out;
	for (int i = 0; i < 8; i++)
		pfn[i] = exp_pfn(e, p + i * ps);
	merging = ksm_get_self_merging_pages();
	exp_say(e,
		"   pfns: %#llx %#llx %#llx %#llx | %#llx %#llx %#llx %#llx; ksm_merging_pages %ld",
		pfn[0], pfn[1], pfn[2], pfn[3], pfn[4], pfn[5], pfn[6],
		pfn[7], merging);
	exp_check(e, pfn[0] == pfn[1] && pfn[2] != pfn[0] && pfn[3] != pfn[0] && pfn[2] != pfn[3],
		  "group K: the unpinned duplicates 0 and 1 merged into one KSM page; the pinned page 2 and the referenced page 3 did not");
	exp_check(e, pfn[4] != pfn[5] && pfn[5] != pfn[6] && pfn[6] != pfn[7] &&
		  pfn[5] != pfn[7],
		  "group L: nothing merged. The pinned page 4 is met first and becomes the unstable-tree candidate; each merge with it fails, and its duplicates are not inserted in its place (cmp_and_merge_page())");
	exp_check(e, merging == 2, "ksm_merging_pages is 2 (%ld)", merging);
	n = pk ? exp_dump(e, pk, 1, r, "of the pinned page 2") : -1;
	exp_check(e, n == 1 && !(r[0].flags & PINIO_PAGE_KSM) &&
		  (r[0].flags & PINIO_PAGE_ANON_EXCLUSIVE),
		  "the pinned page is still an ordinary exclusive anonymous page");
	exp_unpin(e, pk);
	exp_unpin(e, gk);
	exp_unpin(e, pl);
	pk = gk = pl = 0;
	/*
	 * Two scans usually merge everything, but a page that failed to merge for several scans
	 * while its twin was pinned may be skipped for up to 8 more (ksm_smart_scan:
	 * should_skip_rmap_item(), skip_age()): wait up to ten pairs of full scans.
	 */
	exp_say(e, "3. all released; KSM runs two more full scans (or more, up to 20, until the duplicates merge)");
	for (int scans = 0; scans < 10; scans++) {
		bool merged = true;

		if (!exp_need(e, !ksm_start(), "ksmd"))
			goto out;
		for (int i = 0; i < 8; i++) {
			pfn[i] = exp_pfn(e, p + i * ps);
			merged &= pfn[i] == pfn[i < 4 ? 0 : 4];
		}
		if (merged)
			break;
	}
	merging = ksm_get_self_merging_pages();
	exp_check(e, pfn[1] == pfn[0] && pfn[2] == pfn[0] && pfn[3] == pfn[0] &&
		  pfn[5] == pfn[4] && pfn[6] == pfn[4] && pfn[7] == pfn[4] && pfn[0] != pfn[4],
		  "every duplicate merged: one KSM page per group (%#llx, %#llx)", pfn[0], pfn[4]);
	exp_check(e, merging == 8, "ksm_merging_pages is 8 (%ld)", merging);
	all = exp_pin(e, p, 8 * ps, PINIO_PIN_GET, "FOLL_GET of all");
	n = all ? exp_dump(e, all, 8, r, "of the merged pages (through a FOLL_GET reference)") : -1;
	exp_check(e, n == 8 && exp_count_flags(r, n, PINIO_PAGE_KSM) == 8 &&
		  r[0].mapcount == 4 && r[4].mapcount == 4,
		  "all are KSM pages, each mapped four times");
	exp_unpin(e, all);
out:
	exp_unpin(e, pk);
	exp_unpin(e, gk);
	exp_unpin(e, pl);
	/* run=2: unmerge every KSM page and stop ksmd; then back to how it was. */
	ksm_stop();
	if (run0 == 1)
		write_num("/sys/kernel/mm/ksm/run", 1);
	munmap(p, 8 * ps);
	return 0;
}

/*
 * iterators: what extraction does with each kind of iov_iter (the 2022/2023 extraction mails).
 * iov_iter_extract_pages() pins the pages of user-backed iterators (UBUF, IOVEC) with FOLL_PIN
 * and only lists those of iterators over kernel pages (BVEC, KVEC, XARRAY, FOLIOQ), whose owner
 * keeps them alive; iov_iter_extract_will_pin() tells which: splice's pipe pages and io_uring's
 * registered (fixed) buffers, which io_uring_register_buffers() pinned once, long-term, arrive
 * as BVECs. One row per way into the device,
 * from the module's counters (/sys/kernel/debug/pinio/counters: extractions by iterator type,
 * pages pinned and listed) and the FOLL_PIN pins taken system-wide (/proc/vmstat). Kernel
 * iterators user space cannot hand to a char device come from the module's KUnit suite
 * pinio_extract, which logs one line per kind when pinio.ko is loaded.
 */
struct exp_counters {
	long long calls, pinned, listed, foll_pin;
	long long kind[6];	/* extract_ubuf, _iovec, _bvec, _kvec, _xarray, _folioq */
};

static const char * const exp_kind_names[6] = {
	"UBUF", "IOVEC", "BVEC", "KVEC", "XARRAY", "FOLIOQ",
};

static inline void exp_counters_read(struct exp_counters *c)
{
	static const char * const kind_counters[6] = {
		"extract_ubuf", "extract_iovec", "extract_bvec", "extract_kvec",
		"extract_xarray", "extract_folioq",
	};

	c->calls = pinio_counter("extract_calls");
	c->pinned = pinio_counter("pages_pinned");
	c->listed = pinio_counter("pages_listed");
	for (int i = 0; i < 6; i++)
		c->kind[i] = pinio_counter(kind_counters[i]);
	c->foll_pin = vmstat_read("nr_foll_pin_acquired");
}

/*
 * One row: @ret is what the call returned, @len what it should have moved, @kind the iterator
 * type the VFS should have handed the device, @pinned whether its pages should be pinned.
 */
static inline void exp_iter_row(struct exp *e, const char *way, ssize_t ret, size_t len,
				const struct exp_counters *a, const struct exp_counters *b,
				int kind, bool pinned)
{
	const long long pages = len / e->ps, calls = b->calls - a->calls;
	const long long pin = b->pinned - a->pinned, list = b->listed - a->listed;
	const long long foll = b->foll_pin - a->foll_pin;
	int seen = -1;

	for (int i = 0; i < 6; i++)
		if (b->kind[i] - a->kind[i] == calls && calls > 0)
			seen = i;
	exp_say(e, "   %-28s %-7s %5lld %7lld %7lld %+9lld   %s", way,
		seen >= 0 ? exp_kind_names[seen] : "mixed", calls, pin, list, foll,
		pin ? "pinned" : list ? "listed" : "-");
	exp_check(e, ret == (ssize_t)len && seen == kind &&
		  pin == (pinned ? pages : 0) && list == (pinned ? 0 : pages) &&
		  foll == (pinned ? pages : 0),
		  "%s: ITER_%s, %lld pages %s", way, exp_kind_names[kind], pages,
		  pinned ? "pinned (FOLL_PIN)" : "listed, no pin taken");
}

/*
 * An io_uring READ_FIXED or WRITE_FIXED of @len bytes at the experiments' store offset from the
 * registered buffer 0, which starts at @buf: its result, or -1 if it could not be submitted
 * or did not complete within 10 s.
 */
static inline ssize_t exp_uring_fixed(struct exp *e, struct io_uring *ring, bool write,
				      void *buf, size_t len)
{
	struct uring_done d = { 0 };

	if (uring_queue_rw_fixed(ring, write, e->fd, buf, len, EXP_STORE_OFF, 0, 1) ||
	    io_uring_submit(ring) != 1 || uring_reap(ring, 1, &d, 10000) != 1)
		return -1;
	return d.res;
}

static inline int exp_iterators(struct exp *e)
{
	const size_t len = 64 << 10, half = len / 2;
	struct exp_counters a, b;
	uint8_t *buf = map_small(len);
	struct iovec one[1], two[2];
	int pfd[2] = { -1, -1 };
	struct io_uring ring;
	long long held;
	loff_t off;
	ssize_t n;
	char *log;

	if (!exp_need(e, buf, "mmap") || !exp_need(e, !pipe(pfd), "pipe"))
		return -1;
	memset(buf, 'i', len);
	one[0] = (struct iovec){ buf, len };
	two[0] = (struct iovec){ buf, half };
	two[1] = (struct iovec){ buf + half, half };
	exp_say(e, "   %-28s %-7s %5s %7s %7s %9s", "way into the device", "iter", "calls",
		"pinned", "listed", "FOLL_PIN");

#define EXP_ROW(way, call, kind, pinned) do {					\
		exp_counters_read(&a);						\
		n = (call);							\
		exp_counters_read(&b);						\
		exp_iter_row(e, way, n, len, &a, &b, kind, pinned);		\
	} while (0)

	EXP_ROW("pread(2)", pread(e->fd, buf, len, EXP_STORE_OFF), 0, true);
	EXP_ROW("pwrite(2)", pwrite(e->fd, buf, len, EXP_STORE_OFF), 0, true);
	EXP_ROW("preadv(2), one segment", preadv(e->fd, one, 1, EXP_STORE_OFF), 0, true);
	EXP_ROW("preadv(2), two segments", preadv(e->fd, two, 2, EXP_STORE_OFF), 1, true);
	EXP_ROW("pwritev(2), two segments", pwritev(e->fd, two, 2, EXP_STORE_OFF), 1, true);
	off = EXP_STORE_OFF;
	EXP_ROW("splice(2) device -> pipe", splice(e->fd, &off, pfd[1], NULL, len, 0), 2, false);
	n = read(pfd[0], buf, len);
	exp_need(e, n == (ssize_t)len, "drain the pipe");
	n = write(pfd[1], buf, len);
	exp_need(e, n == (ssize_t)len, "fill the pipe");
	off = EXP_STORE_OFF;
	EXP_ROW("splice(2) pipe -> device", splice(pfd[0], NULL, e->fd, &off, len, 0), 2, false);
	/*
	 * io_uring's registered buffers: the registration pins them (FOLL_LONGTERM), each
	 * request hands the device a BVEC over them.
	 */
	if (exp_need(e, !io_uring_queue_init(4, &ring, 0), "io_uring_queue_init")) {
		held = pins_outstanding();
		if (exp_need(e, !io_uring_register_buffers(&ring, one, 1),
			     "io_uring_register_buffers")) {
			held = pins_outstanding() - held;
			exp_check(e, held == (long long)(len / e->ps),
				  "io_uring_register_buffers() of the %zu KiB holds %lld FOLL_PIN pins of its own, taken once",
				  len >> 10, held);
			EXP_ROW("io_uring WRITE_FIXED", exp_uring_fixed(e, &ring, true, buf, len),
				2, false);
			EXP_ROW("io_uring READ_FIXED", exp_uring_fixed(e, &ring, false, buf, len),
				2, false);
			/*
			 * Released here, not by io_uring_queue_exit(): the ring's teardown runs
			 * later in a workqueue (io_ring_exit_work()), and the fixture's pin check
			 * could see these pins (it did once, on a loaded machine).
			 */
			io_uring_unregister_buffers(&ring);
		}
		io_uring_queue_exit(&ring);
	}
#undef EXP_ROW

	/* The kernel iterators, from pinio_extract's lines in the kernel log. */
	log = exp_klog_read();
	if (exp_need(e, log, "klogctl")) {
		for (int k = 2; k < 6; k++) {
			long long calls = -1, kcalls = -1, pin = -1, list = -1, foll = -1;
			char key[32];
			char *p, *last = NULL;

			snprintf(key, sizeof(key), "iter-kind %s ", exp_kind_names[k]);
			for (p = strstr(log, key); p; p = strstr(p + 1, key))
				last = p;
			if (last)
				sscanf(last + strlen(key),
				       "calls=%lld kind_calls=%lld pinned=%lld listed=%lld foll_pin=%lld",
				       &calls, &kcalls, &pin, &list, &foll);
			exp_say(e, "   %-28s %-7s %5lld %7lld %7lld %+9lld   %s",
				"KUnit pinio_extract", exp_kind_names[k], calls, pin, list, foll,
				pin ? "pinned" : list > 0 ? "listed" : "-");
			exp_check(e, calls > 0 && kcalls == calls && !pin && list > 0 && !foll,
				  "%s (kernel buffers, in KUnit): listed, no pin taken",
				  exp_kind_names[k]);
		}
		free(log);
	}
	close(pfd[0]);
	close(pfd[1]);
	munmap(buf, len);
	return 0;
}

/* ---- the scenarios that need boot options (make test's second boot) ------------------------ */

/*
 * longterm: FOLL_LONGTERM moves pages out of movable memory before pinning them (the 2019
 * FOLL_LONGTERM mail: a long-term pin in ZONE_MOVABLE or in a CMA area would keep that memory
 * from ever being emptied, for memory hot-unplug or a contiguous allocation). A short-term pin
 * leaves a page where it is. A long-term pin goes through __gup_longterm_locked(): it pins,
 * collects the folios folio_is_longterm_pinnable() refuses (ZONE_MOVABLE, or a MIGRATE_CMA
 * pageblock), unpins, migrates them (migrate_longterm_unpinnable_folios(), to pages allocated
 * without __GFP_MOVABLE under memalloc_pin_save()) and pins again.
 *
 * Needs ZONE_MOVABLE and a CMA area outside it that user pages reach: boot with movablecore=
 * and cma= (make test's second boot). A fresh anonymous page comes from ZONE_MOVABLE, the
 * highest zone GFP_HIGHUSER_MOVABLE may use. Once ZONE_MOVABLE is down to its low watermark,
 * allocations fall back to DMA32, where __rmqueue() takes CMA pageblocks first while they hold
 * over half of the zone's free memory: so the experiment fills ZONE_MOVABLE, and its next
 * pages come from the CMA area.
 */
static inline int exp_longterm(struct exp *e)
{
	const size_t ps = e->ps, len = 16 * ps, probe_len = 256 * ps;
	const long long mstart = exp_zoneinfo("Movable", "start_pfn:");
	struct pinio_page_record r[16], *pr = calloc(256, sizeof(*pr));
	unsigned long long pfn0[16], pfn1[16], *ppfn = calloc(256, sizeof(*ppfn));
	long long mfree, mlow, pins0, vmpin0;
	uint8_t *buf, *q, *ballast = NULL, *probe = NULL, *seen = malloc(len);
	size_t ballast_len = 0;
	long n, in_mov, in_cma, moved, stayed, kept, was_cma;
	uint32_t h, lt;

	exp_find_cma(e);
	mfree = exp_zoneinfo("Movable", "nr_free_pages");
	exp_say(e, "0. ZONE_MOVABLE starts at pfn %#llx with %lld free pages; %d CMA area(s)%s",
		mstart, mfree, e->nr_cma, e->nr_cma ? ":" : "");
	for (int i = 0; i < e->nr_cma; i++)
		exp_say(e, "   CMA pfns [%#llx, %#llx)", e->cma_start[i], e->cma_end[i]);
	if (!exp_check(e, mstart > 0 && mfree > 256,
		       "a ZONE_MOVABLE with free memory (boot with movablecore=)") ||
	    !exp_check(e, e->nr_cma > 0, "a CMA area (boot with cma=)") ||
	    !exp_need(e, pr && ppfn && seen, "malloc"))
		goto out_free;

	exp_say(e, "1. sixteen fresh anonymous pages, pinned short-term for writing");
	buf = map_small(len);
	if (!exp_need(e, buf, "mmap"))
		goto out_free;
	exp_fill(buf, len, 3);
	h = exp_pin(e, buf, len, PINIO_PIN_WRITE, "short-term pin");
	n = h ? exp_dump(e, h, 16, r, "of the short-term pin") : -1;
	in_mov = 0;
	for (long i = 0; i < n; i++) {
		pfn0[i] = r[i].pfn;
		in_mov += r[i].zone == PINIO_ZONE_MOVABLE &&
			  !(r[i].flags & PINIO_PAGE_LONGTERM_PINNABLE);
	}
	exp_check(e, n == 16 && in_mov == 16,
		  "all in ZONE_MOVABLE, not long-term pinnable, and pinned where they are (%ld of 16)",
		  in_mov);
	pins0 = pins_outstanding();
	n = ioc_pin(e->fd, buf, len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
	exp_say(e, "2. a long-term pin of the same pages while the short-term pin holds them");
	exp_check(e, n == -ENOMEM && pins_outstanding() == pins0,
		  "fails with ENOMEM and pins nothing: a pinned page cannot be migrated, and __gup_longterm_locked() returns migrate_longterm_unpinnable_folios()' -ENOMEM (got %s)",
		  n < 0 ? strerror((int)-n) : "success");
	if (n > 0)
		exp_unpin(e, (uint32_t)n);
	exp_unpin(e, h);

	vmpin0 = vmpin_kb(0);
	exp_say(e, "3. the short-term pin released, a long-term pin (FOLL_LONGTERM)");
	lt = exp_pin(e, buf, len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, "long-term pin");
	n = lt ? exp_dump(e, lt, 16, r, "of the long-term pin") : -1;
	in_mov = in_cma = moved = kept = 0;
	for (long i = 0; i < n; i++) {
		pfn1[i] = r[i].pfn;
		in_mov += r[i].zone == PINIO_ZONE_MOVABLE;
		in_cma += exp_in_cma(e, r[i].pfn);
		moved += r[i].pfn != pfn0[i];
		kept += exp_pfn(e, buf + i * ps) == r[i].pfn &&
			(r[i].flags & PINIO_PAGE_LONGTERM_PINNABLE);
	}
	exp_check(e, n == 16 && moved == 16 && !in_mov && !in_cma,
		  "every page was migrated first: new pfns (%ld of 16), none in ZONE_MOVABLE or CMA",
		  moved);
	exp_check(e, n == 16 && kept == 16,
		  "the process now maps the new pages, which are long-term pinnable");
	exp_check(e, exp_mismatch(buf, len, 3) == len && lt && !exp_device_reads(e, lt, seen, len) &&
		  exp_mismatch(seen, len, 3) == len,
		  "the data moved with them: the process and the device read the same bytes");
	exp_check(e, vmpin_kb(0) == vmpin0 + (long long)(len >> 10),
		  "charged to the process: VmPin +%zu kB", len >> 10);
	exp_unpin(e, lt);
	lt = exp_pin(e, buf, len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, "second long-term pin");
	n = lt ? exp_get_dump(e, lt, 0, 16, r) : -1;
	stayed = 0;
	for (long i = 0; i < n; i++)
		stayed += r[i].pfn == pfn1[i];
	exp_check(e, n == 16 && stayed == 16,
		  "pinned long-term again, the pages stay: they are long-term pinnable now");
	exp_unpin(e, lt);
	munmap(buf, len);

	exp_say(e, "4. FOLL_LONGTERM | FOLL_NOFAULT");
	q = map_small(4 * ps);
	if (exp_need(e, q, "mmap")) {
		n = ioc_pin(e->fd, q, 4 * ps, PINIO_PIN_LONGTERM | PINIO_PIN_NOFAULT, 0, NULL);
		exp_check(e, n == -EFAULT,
			  "on never-touched memory: EFAULT, FOLL_NOFAULT does not fault pages in (faultin_page()) (got %s)",
			  n < 0 ? strerror((int)-n) : "success");
		if (n > 0)
			exp_unpin(e, (uint32_t)n);
		memset(q, 4, 4 * ps);
		for (int i = 0; i < 4; i++)
			pfn0[i] = exp_pfn(e, q + i * ps);
		h = exp_pin(e, q, 4 * ps, PINIO_PIN_LONGTERM | PINIO_PIN_NOFAULT, "present pages");
		n = h ? exp_dump(e, h, 4, r, "of present movable pages, FOLL_NOFAULT") : -1;
		moved = 0;
		for (long i = 0; i < n; i++)
			moved += r[i].pfn != pfn0[i] && r[i].zone != PINIO_ZONE_MOVABLE;
		exp_check(e, n == 4 && moved == 4,
			  "on present ZONE_MOVABLE pages: pinned, and migrated first all the same: migration is not a fault");
		exp_unpin(e, h);
		munmap(q, 4 * ps);
	}

	mfree = exp_zoneinfo("Movable", "nr_free_pages");
	mlow = exp_zoneinfo("Movable", "low");
	ballast_len = (mfree - mlow) * ps + (8 << 20);
	exp_say(e,
		"5. ZONE_MOVABLE filled to its low watermark (%zu MiB touched), then 256 more pages",
		ballast_len >> 20);
	if (!exp_check(e, mfree > 0 && mlow > 0 && ballast_len <= (512 << 20),
		       "ZONE_MOVABLE is small enough to fill (at most 512 MiB)"))
		goto out_free;
	ballast = map_small(ballast_len);
	probe = map_small(probe_len);
	if (!exp_need(e, ballast && probe, "mmap"))
		goto out_free;
	memset(ballast, 5, ballast_len);
	exp_fill(probe, probe_len, 6);
	h = exp_pin(e, probe, probe_len, PINIO_PIN_WRITE, "short-term pin of the probe");
	n = h ? exp_get_dump(e, h, 0, 256, pr) : -1;
	in_cma = 0;
	for (long i = 0; i < n; i++) {
		ppfn[i] = pr[i].pfn;
		in_cma += exp_in_cma(e, pr[i].pfn) && pr[i].zone != PINIO_ZONE_MOVABLE;
	}
	exp_print_records(e, "of the short-term pin (pinio's lt-pinnable flag cannot see CMA)",
			  pr, n);
	exp_check(e, n == 256 && in_cma > 0,
		  "%ld of the 256 pages are in the CMA area (in DMA32, not ZONE_MOVABLE)",
		  in_cma);
	exp_unpin(e, h);
	exp_say(e, "6. the 256 pages pinned long-term");
	lt = exp_pin(e, probe, probe_len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, "long-term pin");
	n = lt ? exp_get_dump(e, lt, 0, 256, pr) : -1;
	exp_print_records(e, "of the long-term pin", pr, n);
	in_cma = moved = stayed = was_cma = 0;
	for (long i = 0; i < n; i++) {
		bool from_cma = exp_in_cma(e, ppfn[i]);

		was_cma += from_cma;
		in_cma += exp_in_cma(e, pr[i].pfn) || pr[i].zone == PINIO_ZONE_MOVABLE;
		moved += from_cma && pr[i].pfn != ppfn[i];
		stayed += !from_cma && pr[i].pfn == ppfn[i];
	}
	exp_check(e, n == 256 && !in_cma && moved == was_cma && moved + stayed == 256,
		  "the %ld pages in CMA were migrated out of it, the %ld others stayed", moved,
		  stayed);
	exp_check(e, exp_mismatch(probe, probe_len, 6) == probe_len, "the data moved with them");
	exp_unpin(e, lt);
out_free:
	if (ballast)
		munmap(ballast, ballast_len);
	if (probe)
		munmap(probe, probe_len);
	free(pr);
	free(ppfn);
	free(seen);
	return 0;
}

/* Whether any swap is on (/proc/swaps lists more than its header). */
static inline bool exp_swap_on(void)
{
	char line[256];
	FILE *f = fopen("/proc/swaps", "r");
	int lines = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1;
}

/*
 * reclaim: pinned pages are not reclaimed. Reclaim (here MADV_PAGEOUT, which hands the pages to
 * reclaim_pages()) passes over an anonymous folio that folio_maybe_dma_pinned() before giving
 * it swap space (shrink_folio_list()): a device may be writing into it. The unpinned neighbours
 * go to swap, and after the unpin the pinned pages can go too. A page held by a FOLL_GET
 * reference is unmapped into the swap cache like any other (only freeing it fails): references
 * do not keep a page in place, pins do. Since a pin makes memory unreclaimable as mlock() does,
 * long-term pins are charged to RLIMIT_MEMLOCK (VmPin).
 *
 * Needs swap: a second brd disk (boot with brd.rd_nr=2), made swap here if none is on.
 */
static inline int exp_reclaim(struct exp *e)
{
	const size_t ps = e->ps, len = 16 * ps;
	struct pinio_page_record r[4], rg[4];
	char map[24];
	bool enabled = false;
	long long vmpin0;
	long n, ng, ok;
	uint32_t lt = 0, g = 0;
	uint8_t *p;

	if (!exp_swap_on()) {
		exp_say(e, "0. no swap is on: /dev/ram1 (brd.rd_nr=2) made swap");
		if (!exp_check(e, !access(
					  "/dev/ram1",
					  F_OK), "/dev/ram1 exists (boot with brd.rd_nr=2)") ||
		    !exp_need(e, !system("mkswap /dev/ram1 >/dev/null 2>&1"), "mkswap /dev/ram1") ||
		    !exp_need(e, !swapon("/dev/ram1", 0), "swapon /dev/ram1"))
			return -1;
		enabled = true;
	}
	p = map_small(len);
	if (!exp_need(e, p, "mmap"))
		goto out;
	exp_fill(p, len, 5);
	vmpin0 = vmpin_kb(0);
	lt = exp_pin(e, p + 4 * ps, 4 * ps, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, "long-term pin");
	g = exp_pin(e, p + 8 * ps, 4 * ps, PINIO_PIN_GET, "FOLL_GET");
	exp_say(e,
		"1. sixteen written pages; 4-7 pinned long-term (FOLL_PIN), 8-11 held by a FOLL_GET reference, the rest not held");
	exp_check(e, vmpin_kb(0) == vmpin0 + 16,
		  "the long-term pin is charged: VmPin %lld kB -> %lld kB (RLIMIT_MEMLOCK)",
		  vmpin0, vmpin_kb(0));
	n = lt ? exp_dump(e, lt, 4, r, "of the pinned pages 4-7") : -1;
	exp_say(e, "2. MADV_PAGEOUT of all sixteen");
	exp_need(e, !madvise(p, len, MADV_PAGEOUT), "madvise(MADV_PAGEOUT)");
	for (int i = 0; i < 16; i++)
		map[i] = pagemap_is_swapped(e->pagemap, (char *)p + i * ps) ? 's' :
			 exp_pfn(e, p + i * ps) ? 'P' : '-';
	map[16] = 0;
	exp_say(e, "   pagemap, pages 0-15 (s: swapped out, P: present): %.4s %.4s %.4s %.4s",
		map, map + 4, map + 8, map + 12);
	exp_check(e, !strncmp(map, "ssss", 4) && !strncmp(map + 12, "ssss", 4),
		  "the pages nobody holds went to swap");
	ok = 0;
	for (long i = 0; i < n; i++)
		ok += exp_pfn(e, p + (4 + i) * ps) == r[i].pfn;
	exp_check(e, !strncmp(map + 4, "PPPP", 4) && n == 4 && ok == 4,
		  "the pinned pages stayed, mapped at the same pfns");
	ng = g ? exp_dump(e, g, 4, rg, "of the FOLL_GET pages 8-11 after MADV_PAGEOUT") : -1;
	exp_check(e, !strncmp(map + 8, "ssss", 4) && ng == 4 &&
		  exp_count_flags(rg, ng, PINIO_PAGE_SWAPCACHE) == 4 && !rg[0].mapcount,
		  "the referenced pages were unmapped into the swap cache all the same (mapcount 0): only their freeing failed");
	exp_check(e, exp_mismatch(p, len, 5) == len, "all data reads back (swapped in)");
	exp_unpin(e, lt);
	exp_unpin(e, g);
	lt = g = 0;
	exp_check(e, vmpin_kb(0) == vmpin0, "after the unpin VmPin is back to %lld kB",
		  vmpin0);
	exp_say(e, "3. released; MADV_PAGEOUT again");
	exp_need(e, !madvise(p, len, MADV_PAGEOUT), "madvise(MADV_PAGEOUT)");
	for (int i = 0; i < 16; i++)
		map[i] = pagemap_is_swapped(e->pagemap, (char *)p + i * ps) ? 's' :
			 exp_pfn(e, p + i * ps) ? 'P' : '-';
	exp_say(e, "   pagemap, pages 0-15: %.4s %.4s %.4s %.4s", map, map + 4, map + 8, map + 12);
	exp_check(e, !strncmp(map, "ssssssssssssssss", 16), "now all sixteen went to swap");
	exp_check(e, exp_mismatch(p, len, 5) == len, "and read back intact");
	munmap(p, len);
out:
	exp_unpin(e, lt);
	exp_unpin(e, g);
	if (enabled)
		exp_need(e, !swapoff("/dev/ram1"), "swapoff /dev/ram1");
	return 0;
}

#endif /* _PINIO_EXP_H */
