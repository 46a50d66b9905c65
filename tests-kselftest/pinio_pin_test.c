// SPDX-License-Identifier: GPL-2.0
/*
 * pinio pin/unpin experiments through the ioctls of /dev/pinio (PINIO_IOC_PIN, _UNPIN,
 * _QUERY, _DMA):
 *
 *  - fork() and copy-on-write against held pages, for both retention modes (FOLL_PIN and the
 *    pre-2020 FOLL_GET references), with the QUERY fields that explain the outcomes;
 *  - the memory-type matrix of tools/testing/selftests/mm/gup_longterm.c (anonymous, THP,
 *    memfd, tmpfs, hugetlb, the shared zero page, PROT_NONE, read-only) for short-term and
 *    long-term, R/O and R/W pins, plus FOLL_NOFAULT;
 *  - pinned_vm accounting of long-term pins (VmPin), as io_uring does for registered buffers:
 *    per folio, on unpin and on close, across fork(), RLIMIT_MEMLOCK, the per-file cap;
 *  - bad input: errno for every malformed argument, and the device still works afterwards;
 *  - UNPIN with and without PINIO_UNPIN_DIRTY on page cache pages written by the device;
 *  - the pin/unpin durations.
 *
 * Every test ends with its files closed and /proc/vmstat's FOLL_PIN counters balanced.
 *
 * Store use (the store is shared with the other programs of a boot, see pinio_test.h): this
 * program writes only [0, 512 KiB) and the last 16 KiB of the store.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>

#include "pinio_test.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

#define KPF_DIRTY	4
#define CAP_IPC_LOCK_BIT 14

#define PIN_W	PINIO_PIN_WRITE
#define PIN_LT	PINIO_PIN_LONGTERM
#define PIN_NF	PINIO_PIN_NOFAULT
#define PIN_GET	PINIO_PIN_GET

/* ---- device helpers (the ioctl wrappers are in pinio_ioctl.h) ----------------------------- */

static int dev_open(void)
{
	return open(PINIO_DEV, O_RDWR | O_DIRECT);
}

static struct pinio_info dev_info(int fd)
{
	struct pinio_info info;

	if (ioc_info(fd, &info))
		memset(&info, 0, sizeof(info));
	return info;
}

/* ---- store helpers ------------------------------------------------------------------- */

/* Writes @len bytes at store offset @off (block aligned) from a bounce buffer. */
static int store_write(int fd, uint64_t off, const void *data, size_t len)
{
	size_t blen = page_round_up(len);
	uint8_t *b = map_small(blen);
	ssize_t n;

	if (!b)
		return -1;
	memcpy(b, data, len);
	n = pwrite(fd, b, len, off);
	munmap(b, blen);
	return n == (ssize_t)len ? 0 : -1;
}

static int store_read(int fd, uint64_t off, void *data, size_t len)
{
	size_t blen = page_round_up(len);
	uint8_t *b = map_small(blen);
	ssize_t n;

	if (!b)
		return -1;
	n = pread(fd, b, blen, off);
	memcpy(data, b, len);
	munmap(b, blen);
	return n == (ssize_t)blen ? 0 : -1;
}

static int store_fill(int fd, uint64_t off, size_t len, int byte)
{
	uint8_t *b = map_small(len);
	int ret;

	if (!b)
		return -1;
	memset(b, byte, len);
	ret = store_write(fd, off, b, len);
	munmap(b, len);
	return ret;
}

static void xwrite(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		_exit(99);
}

static char xread(int fd)
{
	char c = 0;

	if (read(fd, &c, 1) != 1)
		return 0;
	return c;
}

/* ================================================================================== */
/* 1. fork() and copy-on-write against held pages                                       */
/* ================================================================================== */

/*
 * A private anonymous page filled with 'P' is pinned (or got) for writing, the process forks,
 * the parent (or the child) writes to its view, then the device writes 'D' into the held page.
 *
 * FOLL_PIN: fork() sees folio_maybe_dma_pinned() and gives the child a copy of the pinned page
 * (copy_present_page()), so the parent keeps the held page exclusively and sees 'D' whoever
 * writes. FOLL_GET: the page is shared R/O with the child and the first writer decides: a
 * parent write moves the parent to a copy (the device's data is lost to it, the child sees
 * it); a child write moves the child, and the parent keeps the held page.
 */
static void cow_case(struct __test_metadata *_metadata, int get, int child_writes)
{
	const size_t ps = psize();
	const uint32_t flags = PIN_W | (get ? PIN_GET : 0);
	int fd = dev_open(), to_child[2], from_child[2], handle, status;
	uint8_t *buf = map_small(ps);
	long long pins0 = pins_outstanding();
	struct pinio_query q;
	char child_first, child_all, expect_parent, expect_child;
	pid_t pid;

	ASSERT_LE(0, fd) TH_LOG("open %s: %s", PINIO_DEV, strerror(errno));
	ASSERT_NE(NULL, buf);
	memset(buf, 'P', ps);
	handle = ioc_pin(fd, buf, ps, flags, 0, NULL);
	ASSERT_LT(0, handle) TH_LOG("PIN: %s", strerror(-handle));
	EXPECT_EQ(get ? 0 : 1, pins_outstanding() - pins0);

	/* Before fork: the page is exclusively ours; only a FOLL_PIN makes it "maybe pinned". */
	ASSERT_EQ(0, ioc_query(fd, handle, &q));
	EXPECT_EQ(1, q.nr_pages);
	EXPECT_EQ(1, q.nr_anon);
	EXPECT_EQ(1, q.nr_anon_exclusive);
	EXPECT_EQ(get ? 0 : 1, q.nr_dma_pinned);
	EXPECT_EQ(1, q.mapcount_min);
	if (get) {
		EXPECT_LE(2, q.refcount_min);	/* the mapping + our reference */
		EXPECT_GT(1024, q.refcount_max);	/* below GUP_PIN_COUNTING_BIAS */
	} else {
		EXPECT_LE(1 + 1024, q.refcount_min);	/* the mapping + GUP_PIN_COUNTING_BIAS */
	}

	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(from_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		xread(to_child[0]);			/* go */
		if (child_writes)
			memset(buf, 'C', ps);
		xwrite(from_child[1], 1);
		xread(to_child[0]);			/* the device has written */
		xwrite(from_child[1], buf[0]);
		xwrite(from_child[1], bytes_mismatch(buf, ps, buf[0]) == ps ? 'y' : 'n');
		_exit(0);
	}

	/* After fork, nobody has written yet. */
	ASSERT_EQ(0, ioc_query(fd, handle, &q));
	if (get) {
		/* Shared with the child: mapped twice, no longer exclusive. */
		EXPECT_EQ(2, q.mapcount_min);
		EXPECT_EQ(0, q.nr_anon_exclusive);
		EXPECT_EQ(0, q.nr_dma_pinned);
		EXPECT_LE(3, q.refcount_min);	/* two mappings + our reference */
	} else {
		/* The child got a copy: the held page is still ours alone. */
		EXPECT_EQ(1, q.mapcount_min);
		EXPECT_EQ(1, q.nr_anon_exclusive);
		EXPECT_EQ(1, q.nr_dma_pinned);
	}

	xwrite(to_child[1], 1);
	ASSERT_EQ(1, xread(from_child[0]));
	if (!child_writes)
		memset(buf, 'W', ps);

	/* After the first write: whoever wrote (under FOLL_GET) moved to a copy. */
	ASSERT_EQ(0, ioc_query(fd, handle, &q));
	EXPECT_EQ(1, q.mapcount_min);
	/* FOLL_GET: the remaining mapper has not written. */
	EXPECT_EQ(get ? 0 : 1, q.nr_anon_exclusive);

	ASSERT_EQ(0, store_fill(fd, 0, ps, 'D'));
	EXPECT_EQ((long long)ps, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, 0, ps));
	xwrite(to_child[1], 2);
	child_first = xread(from_child[0]);
	child_all = xread(from_child[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	expect_parent = (get && !child_writes) ? 'W' : 'D';
	expect_child = child_writes ? 'C' : (get ? 'D' : 'P');
	EXPECT_EQ(expect_parent, buf[0])
		TH_LOG("the parent %s the device's data (%s, %s writes)",
		       buf[0] == 'D' ? "kept" : "lost", get ? "FOLL_GET" : "FOLL_PIN",
		       child_writes ? "child" : "parent");
	EXPECT_EQ(ps, bytes_mismatch(buf, ps, buf[0]));
	EXPECT_EQ(expect_child, child_first);
	EXPECT_EQ('y', child_all);

	ASSERT_EQ(0, ioc_unpin_ns(fd, handle, PINIO_UNPIN_DIRTY, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	ASSERT_EQ(0, close(fd));
	munmap(buf, ps);
	ASSERT_PINS_BALANCED();
}

TEST(cow_pin_parent_writes)
{
	cow_case(_metadata, 0, 0);
}

TEST(cow_get_parent_writes)
{
	cow_case(_metadata, 1, 0);
}

TEST(cow_pin_child_writes)
{
	cow_case(_metadata, 0, 1);
}

TEST(cow_get_child_writes)
{
	cow_case(_metadata, 1, 1);
}

/*
 * Read-only pins and fork: the page (filled with 'A') is shared with a child by fork() when
 * the parent takes it R/O; then the parent writes 'B' and the device reads the held page.
 *
 * A R/O FOLL_PIN of a shared anonymous page unshares it first (gup_must_unshare(): FOLL_PIN
 * without FOLL_WRITE on a !PageAnonExclusive page -> FAULT_FLAG_UNSHARE), so the held page is
 * the parent's exclusive page and later writes go into it: the device reads 'B'. A FOLL_GET
 * reference takes the shared page as is; the parent's write copies, the device reads 'A'.
 */
static void rocow_case(struct __test_metadata *_metadata, int get)
{
	const size_t ps = psize();
	int fd = dev_open(), p[2], handle, status;
	uint8_t *buf = map_small(ps), *out;
	long long pins0 = pins_outstanding();
	struct pinio_query q;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 'A', ps);
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		xread(p[0]);
		_exit(bytes_mismatch(buf, ps, 'A') == ps ? 0 : 1);
	}
	handle = ioc_pin(fd, buf, ps, get ? PIN_GET : 0, 0, NULL);
	ASSERT_LT(0, handle) TH_LOG("PIN: %s", strerror(-handle));
	ASSERT_EQ(0, ioc_query(fd, handle, &q));
	if (get) {
		EXPECT_EQ(0, q.nr_dma_pinned);
		EXPECT_EQ(0, q.nr_anon_exclusive);
		EXPECT_EQ(2, q.mapcount_min);		/* still shared with the child */
		EXPECT_LE(3, q.refcount_min);
	} else {
		EXPECT_EQ(1, q.nr_dma_pinned);
		EXPECT_EQ(1, q.nr_anon_exclusive);	/* unshared: a copy of our own */
		EXPECT_EQ(1, q.mapcount_min);
		EXPECT_LE(1 + 1024, q.refcount_min);
	}
	memset(buf, 'B', ps);
	ASSERT_EQ(0, store_fill(fd, 0, ps, 'x'));
	EXPECT_EQ((long long)ps, ioc_dma(fd, handle, PINIO_DMA_FROM_PAGES, 0, 0, ps));
	out = map_small(ps);
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, store_read(fd, 0, out, ps));
	EXPECT_EQ(get ? 'A' : 'B', out[0])
		TH_LOG("the held page is %s the parent's memory (%s)",
		       out[0] == 'B' ? "still" : "no longer", get ? "FOLL_GET" : "FOLL_PIN");
	EXPECT_EQ(ps, bytes_mismatch(out, ps, out[0]));
	xwrite(p[1], 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);	/* the child kept 'A' */
	ASSERT_EQ(0, ioc_unpin_ns(fd, handle, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	ASSERT_EQ(0, close(fd));
	ASSERT_PINS_BALANCED();
}

TEST(rocow_pin_unshares)
{
	rocow_case(_metadata, 0);
}

TEST(rocow_get_stale)
{
	rocow_case(_metadata, 1);
}

/* ================================================================================== */
/* 2. The memory-type matrix of gup_longterm.c                                          */
/* ================================================================================== */

enum kind {
	K_ANON,			/* private anonymous, small pages, written */
	K_THP,			/* private anonymous, PMD THP, written */
	K_MEMFD,		/* memfd (shmem), MAP_SHARED, written */
	K_TMPFS_SHARED,		/* a file on tmpfs, MAP_SHARED, written */
	K_TMPFS_PRIVATE,	/* a file on tmpfs, MAP_PRIVATE, only read */
	K_HUGETLB,		/* MAP_PRIVATE | MAP_HUGETLB, written */
	K_HUGETLB_SHARED,	/* memfd MFD_HUGETLB, MAP_SHARED, written */
	K_ZERO,			/* private anonymous never written, only read: the zero page */
	K_PROT_NONE,		/* written, then mprotect(PROT_NONE) */
	K_READ_ONLY,		/* written, then mprotect(PROT_READ) (as gup_longterm's R/O) */
};

FIXTURE(mem) {
	size_t len;		/* bytes per mapping */
	size_t folio_pages;	/* pages per large folio (THP, hugetlb); 1 otherwise */
	char dir[64];		/* tmpfs directory */
	unsigned long old_nr_hugepages;
	int hugetlb_changed;
};

FIXTURE_VARIANT(mem) {
	enum kind kind;
};

FIXTURE_VARIANT_ADD(mem, anon) { .kind = K_ANON };
FIXTURE_VARIANT_ADD(mem, thp) { .kind = K_THP };
FIXTURE_VARIANT_ADD(mem, memfd) { .kind = K_MEMFD };
FIXTURE_VARIANT_ADD(mem, tmpfs_shared) { .kind = K_TMPFS_SHARED };
FIXTURE_VARIANT_ADD(mem, tmpfs_private) { .kind = K_TMPFS_PRIVATE };
FIXTURE_VARIANT_ADD(mem, hugetlb) { .kind = K_HUGETLB };
FIXTURE_VARIANT_ADD(mem, hugetlb_shared) { .kind = K_HUGETLB_SHARED };
FIXTURE_VARIANT_ADD(mem, zero_page) { .kind = K_ZERO };
FIXTURE_VARIANT_ADD(mem, prot_none) { .kind = K_PROT_NONE };
FIXTURE_VARIANT_ADD(mem, read_only) { .kind = K_READ_ONLY };

static const char *find_tmpfs(void)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp" };
	struct statfs fs;

	for (size_t i = 0; i < 2; i++)
		if (!statfs(dirs[i], &fs) && fs.f_type == TMPFS_MAGIC)
			return dirs[i];
	return NULL;
}

FIXTURE_SETUP(mem)
{
	const char *why = "";

	self->len = 16 * psize();
	self->folio_pages = 1;
	self->hugetlb_changed = 0;
	switch (variant->kind) {
	case K_THP:
		if (kconfig_missing(THP_CONFIG))
			SKIP(return, "%s is not set in this kernel", kconfig_missing(THP_CONFIG));
		self->len = thp_size();
		if (!self->len)
			SKIP(return, "THP is not available to MADV_HUGEPAGE memory");
		self->folio_pages = self->len / psize();
		self->len *= 2;
		break;
	case K_TMPFS_SHARED:
	case K_TMPFS_PRIVATE:
		why = find_tmpfs();
		if (!why)
			SKIP(return, "neither /dev/shm nor /tmp is tmpfs");
		snprintf(self->dir, sizeof(self->dir), "%s", why);
		break;
	case K_HUGETLB:
	case K_HUGETLB_SHARED:
		if (kconfig_missing(HUGETLB_CONFIG))
			SKIP(return, "%s is not set in this kernel", kconfig_missing(HUGETLB_CONFIG));
		self->len = default_huge_page_size();
		if (!self->len)
			SKIP(return, "no hugetlb (no Hugepagesize in /proc/meminfo)");
		self->folio_pages = self->len / psize();
		if (hugetlb_free_default_pages() < 1) {
			self->old_nr_hugepages = hugetlb_nr_default_pages();
			self->hugetlb_changed = 1;
			hugetlb_set_nr_default_pages(self->old_nr_hugepages + 1);
			if (hugetlb_free_default_pages() < 1)
				SKIP(return, "could not reserve a %llu kB huge page (nr_hugepages %lu)",
				     self->len / KiB, hugetlb_nr_default_pages());
		}
		break;
	default:
		break;
	}
}

FIXTURE_TEARDOWN_PARENT(mem)
{
	if (self->hugetlb_changed)
		hugetlb_set_nr_default_pages(self->old_nr_hugepages);
}

/* A fresh mapping of @kind; its pages are tagged (each page starts with its index). */
struct mem {
	uint8_t *addr;
	size_t len;
	int fd;		/* the file behind it, or -1 */
};

static void tag_pages(uint8_t *p, size_t len)
{
	memset(p, 0x5a, len);
	for (size_t i = 0; i < len / psize(); i++)
		*(uint64_t *)(p + i * psize()) = 0x7a67000000000000ULL | i;
}

/* A mapping of @kind and @len bytes; @dir is a tmpfs directory for the tmpfs kinds. */
static int mem_make(size_t len, const char *dir, enum kind kind, struct mem *m)
{
	char path[128];
	uint8_t *p = NULL, *tmp;

	m->len = len;
	m->fd = -1;
	switch (kind) {
	case K_ANON:
	case K_ZERO:
	case K_PROT_NONE:
	case K_READ_ONLY:
		p = map_small(len);
		if (!p)
			return -1;
		if (kind == K_ZERO) {
			force_read_pages((char *)p, len / psize(), psize());
			break;
		}
		tag_pages(p, len);
		if (kind == K_PROT_NONE && mprotect(p, len, PROT_NONE))
			return -1;
		if (kind == K_READ_ONLY && mprotect(p, len, PROT_READ))
			return -1;
		break;
	case K_THP:
		p = map_thp(len);
		if (!p)
			return -1;
		tag_pages(p, len);
		break;
	case K_MEMFD:
	case K_HUGETLB_SHARED:
		m->fd = memfd_create("pinio-pin", kind == K_HUGETLB_SHARED ? MFD_HUGETLB : 0);
		if (m->fd < 0 || ftruncate(m->fd, len))
			return -1;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
		if (p == MAP_FAILED)
			return -1;
		tag_pages(p, len);
		break;
	case K_TMPFS_SHARED:
	case K_TMPFS_PRIVATE:
		snprintf(path, sizeof(path), "%s/pinio-pin-XXXXXX", dir);
		m->fd = mkstemp(path);
		if (m->fd < 0)
			return -1;
		unlink(path);
		if (ftruncate(m->fd, len))
			return -1;
		if (kind == K_TMPFS_SHARED) {
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
			if (p == MAP_FAILED)
				return -1;
			tag_pages(p, len);
			break;
		}
		/* The file gets its data by write(2); the private mapping is only read. */
		tmp = map_small(len);
		if (!tmp)
			return -1;
		tag_pages(tmp, len);
		if (pwrite(m->fd, tmp, len, 0) != (ssize_t)len)
			return -1;
		munmap(tmp, len);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, m->fd, 0);
		if (p == MAP_FAILED)
			return -1;
		force_read_pages((char *)p, len / psize(), psize());
		break;
	case K_HUGETLB:
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		tag_pages(p, len);
		break;
	}
	m->addr = p;
	return 0;
}

static void mem_free(struct mem *m)
{
	if (m->addr)
		munmap(m->addr, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->addr = NULL;
	m->fd = -1;
}

static const struct {
	const char *name;
	uint32_t flags;
} modes[] = {
	{ "pin R/O", 0 },
	{ "pin R/W", PIN_W },
	{ "pin R/O long-term", PIN_LT },
	{ "pin R/W long-term", PIN_W | PIN_LT },
	{ "get R/O", PIN_GET },
	{ "get R/W", PIN_GET | PIN_W },
};

/*
 * Whether pinning @kind with @flags must fail with EFAULT (else it succeeds). What each rests
 * on, for this kernel (mm/gup.c, selftests/mm/gup_longterm.c):
 *  - gup_longterm: "R/O pinning or pinning in a private mapping is always expected to work",
 *    and long-term R/W pins of shared mappings work on tmpfs and hugetlbfs
 *    (fs_supports_writable_longterm_pinning()): writable_file_mapping_allowed() refuses
 *    FOLL_PIN|FOLL_LONGTERM|FOLL_WRITE only where vma_needs_dirty_tracking(), which shmem and
 *    hugetlbfs never need. So anon, THP, memfd, tmpfs, hugetlb all succeed in every mode.
 *  - PROT_NONE: GUP-fast bails on pte_protnone(), then check_vma_flags() returns -EFAULT for
 *    a VMA without VM_READ (and without VM_WRITE for FOLL_WRITE) when FOLL_FORCE is not set.
 *  - read-only mapping: check_vma_flags() returns -EFAULT for FOLL_WRITE without VM_WRITE;
 *    R/O pins succeed (the pages are already exclusive anonymous pages).
 */
static bool expect_efault(enum kind kind, uint32_t flags)
{
	return kind == K_PROT_NONE || (kind == K_READ_ONLY && (flags & PIN_W));
}

/*
 * Pages of anonymous folios the pin should hold:
 *  - private anonymous memory (incl. THP, MAP_PRIVATE hugetlb): all of them;
 *  - shared file memory (shmem, hugetlbfs): none;
 *  - MAP_PRIVATE tmpfs file, only read: a short-term R/O pin holds the page cache pages; a
 *    long-term R/O FOLL_PIN must unshare (gup_must_unshare(): !PageAnon, FOLL_LONGTERM, COW
 *    mapping) and so holds fresh anonymous copies; FOLL_WRITE breaks COW: anonymous copies;
 *  - the zero page: not anonymous; a long-term R/O FOLL_PIN unshares it the same way (the
 *    zero page is !PageAnon in a COW mapping) and FOLL_WRITE faults in anonymous pages.
 */
static size_t expect_anon(enum kind kind, uint32_t flags, size_t pages)
{
	int unshare_or_cow = (flags & PIN_W) || ((flags & PIN_LT) && !(flags & PIN_GET));

	switch (kind) {
	case K_MEMFD:
	case K_TMPFS_SHARED:
	case K_HUGETLB_SHARED:
		return 0;
	case K_TMPFS_PRIVATE:
	case K_ZERO:
		return unshare_or_cow ? pages : 0;
	default:
		return pages;
	}
}

/* Zero-page mappings: only for never-written memory taken R/O without the long-term unshare. */
static size_t expect_zero(enum kind kind, uint32_t flags, size_t pages)
{
	if (kind != K_ZERO || (flags & PIN_W) || ((flags & PIN_LT) && !(flags & PIN_GET)))
		return 0;
	return pages;
}

/* Memory of @kind (@len bytes, large folios of @folio_pages, tmpfs in @dir) pinned in a mode. */
static void matrix_case(struct __test_metadata *_metadata, size_t len, size_t folio_pages,
			const char *dir, enum kind kind, const char *name, uint32_t flags)
{
	const size_t ps = psize();
	const int fd = dev_open();
	const int get = !!(flags & PIN_GET), lt = !!(flags & PIN_LT), rw = !!(flags & PIN_W);
	struct mem m = { .fd = -1 };
	struct pinio_pin p;
	struct pinio_query q;
	size_t pages, dlen, zero;
	long long pins0, vmpin0, done;
	uint8_t *chk;
	int handle, err;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mem_make(len, dir, kind, &m)) TH_LOG("%s: making the memory: %s", name,
						       strerror(errno));
	/* THP is enabled (mem_make() skips otherwise): a case without any is not the THP case. */
	if (kind == K_THP)
		ASSERT_LT(0, smaps_kb(m.addr, "AnonHugePages:"))
			TH_LOG("%s: THP is enabled but none was allocated", name);
	pages = m.len / ps;
	dlen = m.len < 256 * KiB ? m.len : 256 * KiB;
	zero = expect_zero(kind, flags, pages);
	err = expect_efault(kind, flags) ? EFAULT : 0;
	pins0 = pins_outstanding();
	vmpin0 = vmpin_kb(0);

	handle = ioc_pin(fd, m.addr, m.len, flags, 0, &p);
	if (err) {
		EXPECT_EQ(-err, handle) TH_LOG("%s: expected %s, got %s", name, strerror(err),
					       handle > 0 ? "success" : strerror(-handle));
		EXPECT_EQ(0, pins_outstanding() - pins0);
		EXPECT_EQ(vmpin0, vmpin_kb(0));
		goto out;
	}
	ASSERT_LT(0, handle) TH_LOG("%s: expected success, got %s", name, strerror(-handle));
	EXPECT_EQ(pages, p.nr_pages);
	EXPECT_EQ(lt ? pages : 0, p.charged_pages) TH_LOG("%s", name);
	EXPECT_EQ(vmpin0 + (long long)(lt ? pages * ps / KiB : 0), vmpin_kb(0)) TH_LOG("%s", name);
	/* FOLL_PIN counts every page but the zero page (try_grab_folio() skips it). */
	EXPECT_EQ(get ? 0 : (long long)(pages - zero), pins_outstanding() - pins0)
		TH_LOG("%s", name);

	ASSERT_EQ(0, ioc_query(fd, handle, &q));
	EXPECT_EQ(flags, q.flags);
	EXPECT_EQ((uintptr_t)m.addr, q.addr);
	EXPECT_EQ(m.len, q.len);
	EXPECT_EQ(pages, q.nr_pages);
	EXPECT_EQ(expect_anon(kind, flags, pages), q.nr_anon) TH_LOG("%s", name);
	EXPECT_EQ(zero, q.nr_zero_page) TH_LOG("%s", name);
	if (!zero)
		EXPECT_EQ(get ? 0 : pages, q.nr_dma_pinned) TH_LOG("%s", name);
	EXPECT_EQ(lt ? pages : 0, q.charged_pages) TH_LOG("%s", name);
	if (lt)
		EXPECT_EQ(pages, q.nr_longterm_pinnable) TH_LOG("%s", name);
	switch (kind) {
	case K_THP:
	case K_HUGETLB:
	case K_HUGETLB_SHARED:
		/* Large folios: fewer folios than pages, each of them large. */
		EXPECT_LT(0, q.nr_large_folios) TH_LOG("%s", name);
		EXPECT_GT(pages, q.nr_folios);
		if (kind != K_THP) {
			EXPECT_EQ(pages / folio_pages, q.nr_folios);
			EXPECT_EQ(q.nr_folios, q.nr_large_folios);
		}
		break;
	case K_ANON:
	case K_READ_ONLY:
		EXPECT_EQ(0, q.nr_large_folios);
		EXPECT_EQ(pages, q.nr_folios);
		break;
	case K_ZERO:
		EXPECT_EQ(0, q.nr_large_folios);
		/* The zero page is one folio, mapped at every page. */
		EXPECT_EQ(zero ? 1 : pages, q.nr_folios) TH_LOG("%s", name);
		break;
	default:
		break;
	}

	/* The device sees the memory the process sees. */
	chk = map_small(m.len);
	ASSERT_NE(NULL, chk);
	if (rw) {
		uint64_t seed = 0x1000 + flags;

		ASSERT_EQ(0, dev_fill(fd, 0, dlen + ps, seed));
		EXPECT_EQ((long long)dlen, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, 0, dlen));
		EXPECT_EQ(dlen, pattern_mismatch(m.addr, dlen, seed, 0)) TH_LOG("%s", name);
		if (dlen < m.len) {	/* and the last page */
			EXPECT_EQ((long long)ps, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES,
							  m.len - ps, dlen, ps));
			EXPECT_EQ(ps, pattern_mismatch(m.addr + m.len - ps, ps, seed, dlen))
				TH_LOG("%s", name);
		}
		if (m.fd >= 0) {
			ASSERT_EQ((ssize_t)m.len, pread(m.fd, chk, m.len, 0));
			if (kind == K_TMPFS_PRIVATE) {
				/* A private mapping's writes never reach the file. */
				EXPECT_EQ(0x7a67000000000000ULL, *(uint64_t *)chk);
			} else {
				EXPECT_EQ(dlen, pattern_mismatch(chk, dlen, seed, 0));
			}
		}
	} else {
		EXPECT_EQ(-EPERM, ioc_dma(fd, handle, PINIO_DMA_TO_PAGES, 0, 0, ps));
		ASSERT_EQ(0, store_fill(fd, 0, dlen, 0xee));
		done = ioc_dma(fd, handle, PINIO_DMA_FROM_PAGES, 0, 0, dlen);
		EXPECT_EQ((long long)dlen, done);
		ASSERT_EQ(0, store_read(fd, 0, chk, dlen));
		EXPECT_EQ(0, memcmp(chk, m.addr, dlen))
			TH_LOG("%s: the device read other data", name);
		if (kind == K_ZERO)
			EXPECT_EQ(dlen, bytes_mismatch(chk, dlen, 0));
	}
	munmap(chk, m.len);

	EXPECT_EQ(0, ioc_unpin_ns(fd, handle, rw ? PINIO_UNPIN_DIRTY : 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(vmpin0, vmpin_kb(0));
out:
	mem_free(&m);
	close(fd);
}

TEST_F(mem, matrix)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		matrix_case(_metadata, self->len, self->folio_pages, self->dir, variant->kind,
			    modes[i].name, modes[i].flags);
		if (_metadata->exit_code == KSFT_SKIP)
			return;
	}
	ASSERT_PINS_BALANCED();
	EXPECT_EQ(0, vmpin_kb(0));
}

/*
 * FOLL_NOFAULT takes only pages already present: faultin_page() returns -EFAULT for it. A
 * never-touched range has no page (EFAULT, nothing taken); a half-touched range gives a
 * partial pin, which the device must give back (EFAULT, nothing held); a range only read
 * maps the zero page, good for a R/O pin but not for a R/W one (that needs a COW fault).
 */
TEST(nofault)
{
	const size_t ps = psize(), n = 16;
	int fd = dev_open(), h;
	uint8_t *buf = map_small(n * ps), *ro = map_small(n * ps);
	long long pins0 = pins_outstanding();
	struct pinio_pin p;
	struct pinio_query q;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W, 0, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF, 0, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W | PIN_GET, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	/* Still never touched: NOFAULT did not fault anything in. */
	EXPECT_EQ(0, smaps_kb(buf, "Rss:"));

	memset(buf, 1, n / 2 * ps);
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W, 0, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W, 1, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W | PIN_LT, 3, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(0, vmpin_kb(0));
	h = ioc_pin(fd, buf, n / 2 * ps, PIN_NF | PIN_W, 0, &p);
	ASSERT_LT(0, h) TH_LOG("NOFAULT on touched pages: %s", strerror(-h));
	EXPECT_EQ(n / 2, p.nr_pages);
	EXPECT_EQ(n / 2, pins_outstanding() - pins0);
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));

	memset(buf, 1, n * ps);
	h = ioc_pin(fd, buf, n * ps, PIN_NF | PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h) TH_LOG("NOFAULT on touched pages: %s", strerror(-h));
	EXPECT_EQ(n, p.nr_pages);
	EXPECT_EQ(n, p.charged_pages);
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));

	/* Read only: the zero page is mapped. */
	force_read_pages((char *)ro, n, ps);
	EXPECT_EQ(-EFAULT, ioc_pin(fd, ro, n * ps, PIN_NF | PIN_W, 0, NULL));
	h = ioc_pin(fd, ro, n * ps, PIN_NF, 0, NULL);
	ASSERT_LT(0, h) TH_LOG("NOFAULT R/O on the zero page: %s", strerror(-h));
	ASSERT_EQ(0, ioc_query(fd, h, &q));
	EXPECT_EQ(n, q.nr_zero_page);
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));

	EXPECT_EQ(0, pins_outstanding() - pins0);
	ASSERT_EQ(0, close(fd));
	ASSERT_PINS_BALANCED();
}

/* ================================================================================== */
/* 3. Accounting of long-term pins (pinned_vm, RLIMIT_MEMLOCK, the per-file cap)         */
/* ================================================================================== */

/* Long-term pins are charged per page of small folios; short-term pins are not charged. */
TEST(account_longterm_charged)
{
	const size_t ps = psize(), n = 32;
	int fd = dev_open(), h1, h2, h3;
	uint8_t *buf = map_small(2 * n * ps);
	struct pinio_pin p;
	struct pinio_query q;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * n * ps);
	ASSERT_EQ(0, vmpin_kb(0));

	h1 = ioc_pin(fd, buf, n * ps, PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h1) TH_LOG("long-term pin: %s", strerror(-h1));
	EXPECT_EQ(n, p.charged_pages);
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h1, &q));
	EXPECT_EQ(n, q.charged_pages);

	/* Short-term: not charged. */
	h2 = ioc_pin(fd, buf + n * ps, n * ps, PIN_W, 0, &p);
	ASSERT_LT(0, h2);
	EXPECT_EQ(0, p.charged_pages);
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h2, &q));
	EXPECT_EQ(0, q.charged_pages);

	/* A second long-term pin over the same folios through this file: charged once. */
	h3 = ioc_pin(fd, buf + n / 2 * ps, n * ps, PIN_LT, 0, &p);
	ASSERT_LT(0, h3);
	EXPECT_EQ(n / 2, p.charged_pages);	/* only the half not yet charged */
	EXPECT_EQ((long long)(3 * n / 2 * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h3, &q));
	EXPECT_EQ(n, q.charged_pages);		/* the folios behind this handle */

	/* Uncharged only when the last handle pinning a folio goes. */
	EXPECT_EQ(0, ioc_unpin_ns(fd, h1, 0, NULL));
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h3, 0, NULL));
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h2, 0, NULL));
	EXPECT_EQ(0, vmpin_kb(0));

	/* Charged again after a full release, and uncharged by close. */
	h1 = ioc_pin(fd, buf, 2 * n * ps, PIN_W | PIN_LT, 1, &p);
	ASSERT_LT(0, h1);
	EXPECT_EQ(2 * n, p.charged_pages);
	EXPECT_EQ((long long)(2 * n * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(0, vmpin_kb(0));
	ASSERT_PINS_BALANCED();
}

/* A THP is charged once, at its full size, however many handles pin parts of it. */
TEST(account_thp_once)
{
	const size_t ps = psize(), thp = thp_size();
	const size_t fp = thp / ps;
	int fd, h1, h2, h3;
	uint8_t *buf;
	struct pinio_pin p;
	struct pinio_query q;

	if (kconfig_missing(THP_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(THP_CONFIG));
	if (!thp)
		SKIP(return, "THP is not available to MADV_HUGEPAGE memory");
	fd = dev_open();
	ASSERT_LE(0, fd);
	buf = map_thp(2 * thp);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * thp);
	if (smaps_kb(buf, "AnonHugePages:") < (long long)(2 * thp / KiB))
		SKIP(goto out, "no THP allocated (AnonHugePages %lld kB)",
		     smaps_kb(buf, "AnonHugePages:"));

	h1 = ioc_pin(fd, buf, ps, PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h1) TH_LOG("long-term pin: %s", strerror(-h1));
	EXPECT_EQ(fp, p.charged_pages);
	EXPECT_EQ((long long)(thp / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h1, &q));
	EXPECT_EQ(1, q.nr_large_folios);
	EXPECT_EQ(fp, q.charged_pages);

	h2 = ioc_pin(fd, buf + thp / 2, thp / 2, PIN_LT, 0, &p);
	ASSERT_LT(0, h2);
	EXPECT_EQ(0, p.charged_pages);
	EXPECT_EQ((long long)(thp / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h2, &q));
	EXPECT_EQ(fp, q.charged_pages);

	/* Spanning both THPs: only the second one is new. */
	h3 = ioc_pin(fd, buf + thp - ps, 2 * ps, PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h3);
	EXPECT_EQ(fp, p.charged_pages);
	EXPECT_EQ((long long)(2 * thp / KiB), vmpin_kb(0));
	ASSERT_EQ(0, ioc_query(fd, h3, &q));
	EXPECT_EQ(2, q.nr_folios);
	EXPECT_EQ(2 * fp, q.charged_pages);

	EXPECT_EQ(0, ioc_unpin_ns(fd, h1, 0, NULL));
	EXPECT_EQ((long long)(2 * thp / KiB), vmpin_kb(0));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h3, 0, NULL));
	EXPECT_EQ((long long)(thp / KiB), vmpin_kb(0));	/* h2 still pins the first THP */
	EXPECT_EQ(0, ioc_unpin_ns(fd, h2, 0, NULL));
	EXPECT_EQ(0, vmpin_kb(0));

	/* Close uncharges too. */
	h1 = ioc_pin(fd, buf + ps, ps, PIN_LT, 0, &p);
	ASSERT_LT(0, h1);
	EXPECT_EQ(fp, p.charged_pages);
	EXPECT_EQ((long long)(thp / KiB), vmpin_kb(0));
out:
	close(fd);
	EXPECT_EQ(0, vmpin_kb(0));
	ASSERT_PINS_BALANCED();
}

/*
 * Pins belong to the open file: after fork() the child holds the file, the parent closes its
 * copy, and the pins (and the parent's charge) stay until the child's exit closes the file.
 */
TEST(account_fork_child_keeps_pins)
{
	const size_t ps = psize(), n = 16;
	int fd = dev_open(), h, p[2], status;
	uint8_t *buf = map_small(n * ps);
	long long pins0 = pins_outstanding();
	struct pinio_pin pp;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, n * ps);
	h = ioc_pin(fd, buf, n * ps, PIN_W | PIN_LT, 0, &pp);
	ASSERT_LT(0, h);
	EXPECT_EQ(n, pp.charged_pages);
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct pinio_query q;
		int bad = 0;

		close(p[1]);
		xread(p[0]);
		/* The child's own mm was never charged; the handle is usable from here. */
		if (vmpin_kb(0) != 0)
			bad |= 1;
		if (ioc_query(fd, h, &q) || q.nr_pages != n || q.charged_pages != n)
			bad |= 2;
		_exit(bad);
	}
	close(p[0]);
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ((long long)n, pins_outstanding() - pins0) TH_LOG("pins released by the parent's close");
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0)) TH_LOG("charge dropped by the parent's close");
	xwrite(p[1], 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child: 1 = child charged, 2 = QUERY failed");
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(0, vmpin_kb(0)) TH_LOG("the child's close did not uncharge the parent");
	ASSERT_PINS_BALANCED();
}

/*
 * Without CAP_IPC_LOCK, long-term pins are limited by RLIMIT_MEMLOCK (io_uring's
 * __io_account_mem(): ENOMEM when pinned_vm would exceed the limit).
 */
TEST(rlimit_memlock_unprivileged)
{
	const size_t ps = psize(), limit = 64 * KiB, lim_pages = limit / ps;
	int fd, h, h2;
	uint8_t *buf = map_small(4 * limit);
	long long pins0;
	struct pinio_pin p;
	struct pins_helper ref;

	if (geteuid() != 0)
		SKIP(return, "needs root to open %s and drop privileges", PINIO_DEV);
	ASSERT_EQ(0, pins_helper_start(&ref));	/* before the open: it must not hold the file */
	fd = dev_open();
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 4 * limit);
	pins0 = pins_helper_get(&ref);
	ASSERT_EQ(0, pins0);
	/* No capability left: no CAP_IPC_LOCK. */
	ASSERT_EQ(0, drop_privileges(limit)) TH_LOG("dropping privileges: %s", strerror(errno));
	ASSERT_EQ(NOBODY_ID, geteuid());
	ASSERT_EQ(0, vmpin_kb(0));

	/* One page over the limit. */
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, limit + ps, PIN_W | PIN_LT, 0, NULL));
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pins_helper_get(&ref) - pins0);
	/* Exactly at the limit. */
	h = ioc_pin(fd, buf, limit, PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h) TH_LOG("long-term pin under RLIMIT_MEMLOCK: %s", strerror(-h));
	EXPECT_EQ(lim_pages, p.charged_pages);
	EXPECT_EQ((long long)(limit / KiB), vmpin_kb(0));
	/* One more page is over. */
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf + limit, ps, PIN_LT, 0, NULL));
	EXPECT_EQ((long long)(limit / KiB), vmpin_kb(0));
	EXPECT_EQ((long long)lim_pages, pins_helper_get(&ref) - pins0);
	/* Short-term pins are not charged, so not limited. */
	h2 = ioc_pin(fd, buf, 4 * limit, PIN_W, 0, &p);
	ASSERT_LT(0, h2) TH_LOG("short-term pin: %s", strerror(-h2));
	EXPECT_EQ(0, p.charged_pages);
	EXPECT_EQ((long long)(limit / KiB), vmpin_kb(0));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h2, 0, NULL));
	EXPECT_EQ((long long)lim_pages, pins_helper_get(&ref) - pins0);
	/* Released, the room is back. */
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));
	EXPECT_EQ(0, vmpin_kb(0));
	h = ioc_pin(fd, buf + limit, limit, PIN_LT, 0, &p);
	ASSERT_LT(0, h) TH_LOG("after unpin: %s", strerror(-h));
	EXPECT_EQ(lim_pages, p.charged_pages);
	EXPECT_EQ((long long)(limit / KiB), vmpin_kb(0));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(0, vmpin_kb(0));
	ASSERT_EQ(0, pins_helper_get(&ref) - pins0);	/* ASSERT_PINS_BALANCED(), from an unprivileged process */
	pins_helper_stop(&ref);
}

/* With CAP_IPC_LOCK (root), RLIMIT_MEMLOCK does not limit long-term pins; they are charged. */
TEST(rlimit_memlock_root_exempt)
{
	const size_t ps = psize(), len = 1 * MiB;
	struct rlimit rl = { .rlim_cur = 64 * KiB, .rlim_max = 64 * KiB };
	int fd, h;
	uint8_t *buf = map_small(len);
	struct pinio_pin p;

	if (!(read_field("/proc/self/status", "CapEff:", 16) & (1ULL << CAP_IPC_LOCK_BIT)))
		SKIP(return, "needs CAP_IPC_LOCK");
	fd = dev_open();
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, len);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
	h = ioc_pin(fd, buf, len, PIN_W | PIN_LT, 0, &p);
	ASSERT_LT(0, h) TH_LOG("root long-term pin over RLIMIT_MEMLOCK: %s", strerror(-h));
	EXPECT_EQ(len / ps, p.charged_pages);
	EXPECT_EQ((long long)(len / KiB), vmpin_kb(0));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(0, vmpin_kb(0));
	ASSERT_PINS_BALANCED();
}

FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/*
 * The per-file cap (PINIO_IOC_INFO max_pinned_pages): pins accumulate per file, and a pin
 * that would take the file over the cap fails with ENOMEM and holds nothing.
 */
TEST_F_TIMEOUT(slow, per_file_cap, 180)
{
	const size_t ps = psize();
	size_t thp = thp_size(), buf_len = 64 * MiB, bp, n, r, cap;
	int fd = dev_open(), fd2, h, first = 0;
	long long pins0 = pins_outstanding();
	struct pinio_info info;
	uint8_t *buf;

	ASSERT_LE(0, fd);
	info = dev_info(fd);
	cap = info.max_pinned_pages;
	ASSERT_LT(0, cap);
	if (buf_len > cap * ps)
		buf_len = cap * ps;
	bp = buf_len / ps;
	n = cap / bp;
	r = cap - n * bp;
	if (n > 64)
		SKIP(goto out, "max_pinned_pages %zu is too large to reach quickly", cap);
	buf = thp ? map_thp(buf_len) : map_small(buf_len);	/* THP just makes it faster */
	ASSERT_NE(NULL, buf);
	memset(buf, 1, buf_len);

	for (size_t i = 0; i < n; i++) {
		h = ioc_pin(fd, buf, buf_len, 0, 0, NULL);
		ASSERT_LT(0, h) TH_LOG("pin %zu of %zu: %s", i + 1, n, strerror(-h));
		if (!first)
			first = h;
	}
	if (r) {
		EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, (r + 1) * ps, 0, 0, NULL));
		h = ioc_pin(fd, buf, r * ps, 0, 0, NULL);
		ASSERT_LT(0, h);
	}
	EXPECT_EQ((long long)cap, pins_outstanding() - pins0);
	/* Full: even one more page is refused, and takes nothing. */
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, 0, 0, NULL));
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, PIN_GET, 0, NULL));
	EXPECT_EQ((long long)cap, pins_outstanding() - pins0);
	/* The cap is per file. */
	fd2 = dev_open();
	ASSERT_LE(0, fd2);
	h = ioc_pin(fd2, buf, ps, 0, 0, NULL);
	EXPECT_LT(0, h) TH_LOG("another file: %s", strerror(-h));
	close(fd2);
	/* Room again after an unpin. */
	EXPECT_EQ(0, ioc_unpin_ns(fd, first, 0, NULL));
	h = ioc_pin(fd, buf, buf_len, 0, 0, NULL);
	EXPECT_LT(0, h) TH_LOG("after unpin: %s", strerror(-h));
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, 0, 0, NULL));
out:
	close(fd);
	ASSERT_PINS_BALANCED();
}

/* ================================================================================== */
/* 4. Bad input                                                                         */
/* ================================================================================== */

/* The device still pins, moves data and unpins. */
static void device_works(struct __test_metadata *_metadata, int fd)
{
	const size_t ps = psize();
	uint8_t *buf = map_small(4 * ps);
	long long pins0 = pins_outstanding();
	int h;

	ASSERT_NE(NULL, buf);
	memset(buf, 0, 4 * ps);
	ASSERT_EQ(0, dev_fill(fd, 0, 4 * ps, 77));
	h = ioc_pin(fd, buf, 4 * ps, PIN_W, 0, NULL);
	ASSERT_LT(0, h) TH_LOG("the device no longer pins: %s", strerror(-h));
	EXPECT_EQ((long long)(4 * ps), ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, 0, 4 * ps));
	EXPECT_EQ(4 * ps, pattern_mismatch(buf, 4 * ps, 77, 0));
	EXPECT_EQ(4, pins_outstanding() - pins0);
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	munmap(buf, 4 * ps);
}

TEST(bad_command)
{
	int fd = dev_open();
	uint64_t arg = 0;

	ASSERT_LE(0, fd);
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IO(PINIO_IOC_MAGIC, 0x06), &arg));
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOWR(PINIO_IOC_MAGIC, 0x40, struct pinio_pin), &arg));
	/* A known number with the wrong size or direction is another command. */
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOWR(PINIO_IOC_MAGIC, 0x01, uint64_t), &arg));
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOW(PINIO_IOC_MAGIC, 0x02, struct pinio_unpin), &arg));
	EXPECT_EQ(ENOTTY, ioc_errno(fd, _IOR(PINIO_IOC_MAGIC, 0x03, struct pinio_query), &arg));
	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(bad_handles)
{
	const size_t ps = psize();
	int fd = dev_open(), fd2 = dev_open(), h;
	uint8_t *buf = map_small(2 * ps);
	struct pinio_query q;
	uint32_t bad[] = { 0, 0x7fffffff, 0xffffffff, 12345 };

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * ps);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, ioc_unpin_ns(fd, bad[i], 0, NULL)) TH_LOG("handle %u", bad[i]);
		EXPECT_EQ(-EINVAL, ioc_query(fd, bad[i], &q)) TH_LOG("handle %u", bad[i]);
		EXPECT_EQ(-EINVAL, ioc_dma(fd, bad[i], PINIO_DMA_FROM_PAGES, 0, 0, ps));
	}
	h = ioc_pin(fd, buf, 2 * ps, PIN_W, 0, NULL);
	ASSERT_LT(0, h);
	/* Handles are per file. */
	EXPECT_EQ(-EINVAL, ioc_query(fd2, h, &q));
	EXPECT_EQ(-EINVAL, ioc_dma(fd2, h, PINIO_DMA_FROM_PAGES, 0, 0, ps));
	EXPECT_EQ(-EINVAL, ioc_unpin_ns(fd2, h, 0, NULL));
	EXPECT_EQ(0, ioc_query(fd, h, &q));
	/* Released: gone for every command. */
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));
	EXPECT_EQ(-EINVAL, ioc_unpin_ns(fd, h, 0, NULL));
	EXPECT_EQ(-EINVAL, ioc_unpin_ns(fd, h, PINIO_UNPIN_DIRTY, NULL));
	EXPECT_EQ(-EINVAL, ioc_query(fd, h, &q));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 0, 0, ps));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, 0, ps));
	device_works(_metadata, fd);
	close(fd2);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(bad_ranges)
{
	const size_t ps = psize();
	const uint64_t top = ~0ULL & ~(uint64_t)(ps - 1);	/* the last page of the space */
	int fd = dev_open(), h;
	uint8_t *buf = map_small(4 * ps), *hole, *none;
	long long pins0 = pins_outstanding();
	const struct {
		uint64_t addr, len;
		int err;
		const char *what;
	} cases[] = {
		{ (uintptr_t)buf, 0, EINVAL, "zero length" },
		{ (uintptr_t)buf + 1, ps, EINVAL, "unaligned address" },
		{ (uintptr_t)buf + ps / 2, ps, EINVAL, "address half a page in" },
		{ (uintptr_t)buf, ps - 1, EINVAL, "length below a page" },
		{ (uintptr_t)buf, ps + 1, EINVAL, "unaligned length" },
		{ (uintptr_t)buf, 512, EINVAL, "block-sized length" },
		{ top, ps, EINVAL, "end wraps to 0" },
		{ top, 2 * ps, EINVAL, "end wraps past 0" },
		{ ps, top, EINVAL, "length wraps" },
		{ top - ps, 4 * ps, EINVAL, "end wraps (4 pages)" },
		/* Valid ranges the kernel refuses. */
		{ 0, ps, EFAULT, "page 0 (nothing mapped)" },
		{ 0xffff888000000000ULL, ps, EFAULT, "kernel address (gup: end > TASK_SIZE_MAX)" },
	};

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 4 * ps);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		h = ioc_pin(fd, (void *)(uintptr_t)cases[i].addr, cases[i].len, PIN_W, 0, NULL);
		EXPECT_EQ(-cases[i].err, h) TH_LOG("%s: addr %#llx len %#llx", cases[i].what,
						   (unsigned long long)cases[i].addr,
						   (unsigned long long)cases[i].len);
		h = ioc_pin(fd, (void *)(uintptr_t)cases[i].addr, cases[i].len, PIN_LT, 0, NULL);
		EXPECT_EQ(-cases[i].err, h) TH_LOG("%s (long-term)", cases[i].what);
	}
	/* A hole in the middle: the first page was pinned, then released. */
	hole = map_small(3 * ps);
	ASSERT_NE(NULL, hole);
	memset(hole, 1, 3 * ps);
	ASSERT_EQ(0, munmap(hole + ps, ps));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, hole, 3 * ps, PIN_W, 0, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, hole, 3 * ps, PIN_W | PIN_LT, 1, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, hole, 3 * ps, PIN_GET, 0, NULL));
	/* PROT_NONE, never touched. */
	none = mmap(NULL, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	EXPECT_EQ(-EFAULT, ioc_pin(fd, none, 2 * ps, 0, 0, NULL));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, none, 2 * ps, PIN_W | PIN_LT, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(0, vmpin_kb(0));
	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(bad_reserved_fields)
{
	const size_t ps = psize();
	int fd = dev_open(), h;
	uint8_t *buf = map_small(2 * ps);
	long long pins0 = pins_outstanding();
	struct pinio_pin p;
	struct pinio_unpin u;
	struct pinio_query q;
	struct pinio_dma d;
	struct pinio_config c;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * ps);

	/* pin: reserved0 and reserved[] */
	for (int i = 0; i < 2; i++) {
		memset(&p, 0, sizeof(p));
		p.addr = (uintptr_t)buf;
		p.len = ps;
		p.flags = PIN_W;
		if (i == 0)
			p.reserved0 = 1;
		else
			p.reserved[i - 1] = 1ULL << 63;
		EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_PIN, &p)) TH_LOG("pin reserved %d", i);
	}
	EXPECT_EQ(0, pins_outstanding() - pins0);
	/* Out fields are not inputs: garbage in them is ignored, and they are filled in. */
	memset(&p, 0, sizeof(p));
	p.addr = (uintptr_t)buf;
	p.len = 2 * ps;
	p.flags = PIN_W;
	p.handle = 0xdeadbeef;
	p.nr_pages = 99;
	p.charged_pages = 99;
	p.pin_ns = 99;
	p.unpin_ns = 99;
	ASSERT_EQ(0, ioctl(fd, PINIO_IOC_PIN, &p)) TH_LOG("pin with out fields set: %s",
							  strerror(errno));
	h = p.handle;
	EXPECT_NE(0xdeadbeef, p.handle);
	EXPECT_NE(0, h);
	EXPECT_EQ(2, p.nr_pages);
	EXPECT_EQ(0, p.charged_pages);
	EXPECT_EQ(0, p.unpin_ns);
	EXPECT_EQ(0, p.reserved0);
	EXPECT_EQ(0, p.reserved[0]);

	/* query: reserved[] */
	for (int i = 0; i < 2; i++) {
		q = (struct pinio_query){ .handle = h };
		q.reserved[i] = 1;
		EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_QUERY, &q))
			TH_LOG("query reserved[%d]", i);
	}
	ASSERT_EQ(0, ioc_query(fd, h, &q));
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(0, q.reserved[i]);

	/* dma: reserved[] */
	for (int i = 0; i < 1; i++) {
		d = (struct pinio_dma){ .handle = h, .flags = PINIO_DMA_FROM_PAGES, .len = ps };
		d.reserved[i] = 1;
		EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_DMA, &d)) TH_LOG("dma reserved[%d]", i);
	}

	/* dma: "done" is an out field. */
	d = (struct pinio_dma){ .handle = h, .flags = PINIO_DMA_FROM_PAGES, .len = ps, .done = 999,
				.bounced = 999 };
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_DMA, &d));
	EXPECT_EQ(ps, d.done);
	EXPECT_EQ(0, d.bounced);	/* the first boot bounces nothing */
	EXPECT_EQ(0, d.reserved[0]);

	/* unpin: reserved[]; the pin survives a refused unpin. */
	for (int i = 0; i < 2; i++) {
		u = (struct pinio_unpin){ .handle = h };
		u.reserved[i] = 1;
		EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_UNPIN, &u))
			TH_LOG("unpin reserved[%d]", i);
		EXPECT_EQ(0, ioc_query(fd, h, &q));
	}
	EXPECT_EQ(2, pins_outstanding() - pins0);
	memset(&u, 0, sizeof(u));
	u.handle = h;
	u.unpin_ns = 12345;	/* out */
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_UNPIN, &u));
	EXPECT_NE(12345, u.unpin_ns);
	EXPECT_EQ(0, u.reserved[0]);
	EXPECT_EQ(0, u.reserved[1]);

	/* config: unknown flags, reserved[], and the ranges */
	for (int i = 0; i < 6; i++) {
		memset(&c, 0, sizeof(c));
		if (i == 0)
			c.flags = ~PINIO_CONFIG_FLAGS_ALL;
		else if (i < 3)
			c.reserved[i - 1] = 1;
		else if (i == 3)
			c.dma_delay_us = 1000001;
		else if (i == 4)
			c.latency_us = 10000001;
		else
			c.queue_depth = PINIO_QUEUE_DEPTH_MAX + 1;
		EXPECT_EQ(EINVAL, ioc_errno(fd, PINIO_IOC_SET_CONFIG, &c))
			TH_LOG("config case %d", i);
	}
	memset(&c, 0, sizeof(c));
	c.dma_delay_us = 0;
	EXPECT_EQ(0, ioctl(fd, PINIO_IOC_SET_CONFIG, &c));

	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(bad_flags)
{
	const size_t ps = psize();
	int fd = dev_open(), h, h_ro, h_get_ro;
	uint8_t *buf = map_small(2 * ps);
	long long pins0 = pins_outstanding();
	struct pinio_query q;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * ps);
	/* Unknown pin flags. */
	for (int bit = 6; bit < 32; bit++) {
		EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PIN_W | (1U << bit), 0, NULL))
			TH_LOG("pin flag bit %d", bit);
	}
	/* GET with LONGTERM: get_user_pages_fast() would WARN; refused before. */
	EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PIN_GET | PIN_LT, 0, NULL));
	EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PIN_GET | PIN_LT | PIN_W, 0, NULL));
	/* The slow path pins only: pin_user_pages(), as gup_test's PIN_BASIC_TEST. */
	EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PIN_GET | PINIO_PIN_SLOW, 0, NULL));
	EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PIN_GET | PINIO_PIN_SLOW | PINIO_PIN_BENCH, 0,
				   NULL));
	EXPECT_EQ(-EINVAL, ioc_pin(fd, buf, ps, PINIO_PIN_FLAGS_ALL, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(0, vmpin_kb(0));

	h = ioc_pin(fd, buf, 2 * ps, PIN_W, 0, NULL);
	ASSERT_LT(0, h);
	/* Unknown unpin flags: refused, and the pin stays. */
	for (int bit = 1; bit < 32; bit++) {
		int ret = ioc_unpin_ns(fd, h, 1U << bit, NULL);

		EXPECT_EQ(-EINVAL, ret) TH_LOG("unpin bit %d", bit);
	}
	EXPECT_EQ(0, ioc_query(fd, h, &q));
	/*
	 * DMA: exactly one direction, no unknown bits; PINIO_DMA_KEEP_MAPPING (bit 2) is one
	 * here: this boot loads pinio without dma_leak_experiment=1, and INFO does not list it.
	 */
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, 0, 0, 0, ps));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES | PINIO_DMA_FROM_PAGES, 0, 0, ps));
	for (int bit = 2; bit < 32; bit++) {
		EXPECT_EQ(-EINVAL, ioc_dma(fd, h, 1U << bit, 0, 0, ps)) TH_LOG("dma bit %d", bit);
		EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES | (1U << bit), 0, 0, ps));
		EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES | (1U << bit), 0, 0, ps));
	}
	/* TO_PAGES needs a pin taken for writing; FROM_PAGES does not. */
	h_ro = ioc_pin(fd, buf, 2 * ps, 0, 0, NULL);
	ASSERT_LT(0, h_ro);
	h_get_ro = ioc_pin(fd, buf, 2 * ps, PIN_GET, 0, NULL);
	ASSERT_LT(0, h_get_ro);
	EXPECT_EQ(-EPERM, ioc_dma(fd, h_ro, PINIO_DMA_TO_PAGES, 0, 0, ps));
	EXPECT_EQ(-EPERM, ioc_dma(fd, h_get_ro, PINIO_DMA_TO_PAGES, 0, 0, ps));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h_ro, PINIO_DMA_FROM_PAGES, 0, 0, ps));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h_get_ro, PINIO_DMA_FROM_PAGES, 0, 0, ps));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, 0, ps));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h_ro, 0, NULL));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h_get_ro, 0, NULL));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(bad_pointers)
{
	const size_t ps = psize();
	int fd = dev_open();
	uint8_t *buf = map_small(2 * ps), *ro;
	void *const bad[] = { (void *)8, (void *)-4096L, NULL };
	long long pins0 = pins_outstanding();
	struct pinio_pin p;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 2 * ps);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_PIN, bad[i]));
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_UNPIN, bad[i]));
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_QUERY, bad[i]));
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_DMA, bad[i]));
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_SET_CONFIG, bad[i]));
		EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_INFO, bad[i]));
	}
	/* A struct that straddles the end of a mapping. */
	ro = map_small(2 * ps);
	ASSERT_NE(NULL, ro);
	ASSERT_EQ(0, munmap(ro + ps, ps));
	EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_PIN, ro + ps - sizeof(p) / 2));
	/* A read-only struct: read in, but the answer cannot be written back. */
	memset(&p, 0, sizeof(p));
	p.addr = (uintptr_t)buf;
	p.len = 2 * ps;
	memcpy(ro, &p, sizeof(p));
	ASSERT_EQ(0, mprotect(ro, ps, PROT_READ));
	EXPECT_EQ(EFAULT, ioc_errno(fd, PINIO_IOC_PIN, ro));
	/* The pin whose answer could not be written back was undone at once, not at close. */
	EXPECT_EQ(0, pins_outstanding() - pins0);
	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

TEST(dma_bounds)
{
	const size_t ps = psize(), n = 4, len = n * ps;
	int fd = dev_open(), h;
	uint8_t *buf = map_small(len), *out;
	struct pinio_info info;
	uint64_t ss;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	info = dev_info(fd);
	ss = info.store_size;
	ASSERT_LT(len, ss);
	fill_pattern(buf, len, 5, 0);
	h = ioc_pin(fd, buf, len, PIN_W, 0, NULL);
	ASSERT_LT(0, h);
	out = map_small(len + ps);
	ASSERT_NE(NULL, out);
	/* Known store contents at both ends, where the refused calls below aim. */
	ASSERT_EQ(0, dev_fill(fd, 0, len + ps, 11));
	ASSERT_EQ(0, dev_fill(fd, ss - len - ps, len + ps, 12));
	/* Beyond the pinned range. */
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 0, 0, len + 1));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, 0, len + 1));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, len, 0, 1));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, len - 100, 0, 200));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, ~0ULL, 0, 2));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, ~0ULL - 1, 0, 4));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 1, 0, ~0ULL));
	/* Beyond the store. */
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 0, ss, 1));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, ss - ps + 1, ps));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 0, ~0ULL, 2));
	EXPECT_EQ(-EINVAL, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, ~0ULL - ps + 1, ps));
	/* Nothing moved, either way. */
	EXPECT_EQ(len, pattern_mismatch(buf, len, 5, 0));
	ASSERT_EQ(0, store_read(fd, 0, out, len + ps));
	EXPECT_EQ(len + ps, pattern_mismatch(out, len + ps, 11, 0));
	ASSERT_EQ(0, store_read(fd, ss - len - ps, out, len + ps));
	EXPECT_EQ(len + ps, pattern_mismatch(out, len + ps, 12, ss - len - ps));
	/* At the very ends: fine. */
	EXPECT_EQ((long long)len, ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 0, ss - len, len));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, len - ps, ss - ps, ps));
	EXPECT_EQ(len, pattern_mismatch(buf, len, 5, 0));	/* it wrote back the same bytes */
	/* Unaligned bytes across page boundaries, both ways. */
	ASSERT_EQ(0, store_fill(fd, 0, len + ps, 0));
	EXPECT_EQ((long long)(2 * ps + 5),
		  ioc_dma(fd, h, PINIO_DMA_FROM_PAGES, 100, 7, 2 * ps + 5));
	ASSERT_EQ(0, store_read(fd, 0, out, len + ps));
	EXPECT_EQ(7, bytes_mismatch(out, 7, 0));
	EXPECT_EQ(0, memcmp(out + 7, buf + 100, 2 * ps + 5));
	EXPECT_EQ(ps, bytes_mismatch(out + 7 + 2 * ps + 5, ps, 0));
	ASSERT_EQ(0, dev_fill(fd, 0, len + ps, 9));
	EXPECT_EQ((long long)(3 * ps - 1), ioc_dma(fd, h, PINIO_DMA_TO_PAGES, ps - 1, 33, 3 * ps - 1));
	EXPECT_EQ(ps - 1, pattern_mismatch(buf, ps - 1, 5, 0));		/* untouched head */
	EXPECT_EQ(3 * ps - 1, pattern_mismatch(buf + ps - 1, 3 * ps - 1, 9, 33));
	EXPECT_EQ(2, pattern_mismatch(buf + len - 2, 2, 5, len - 2));	/* untouched tail */
	EXPECT_EQ(0, ioc_unpin_ns(fd, h, PINIO_UNPIN_DIRTY, NULL));
	munmap(out, len + ps);
	device_works(_metadata, fd);
	close(fd);
	ASSERT_PINS_BALANCED();
}

/* pages_per_call only splits the pin into calls: the result is the same. */
TEST(pages_per_call)
{
	const size_t ps = psize(), n = 10, len = n * ps;
	const uint32_t per_call[] = { 0, 1, 2, 3, 7, 9, 10, 11, 1000, 0xffffffff };
	int fd = dev_open(), h;
	uint8_t *buf = map_small(len);
	long long pins0 = pins_outstanding();
	struct pinio_pin p;
	struct pinio_query q;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, len);
	for (size_t i = 0; i < ARRAY_SIZE(per_call); i++) {
		for (int mode = 0; mode < 3; mode++) {
			uint32_t flags = mode == 0 ? PIN_W : mode == 1 ? PIN_W | PIN_GET : PIN_W | PIN_LT;
			uint64_t seed = 100 + i * 3 + mode;

			h = ioc_pin(fd, buf, len, flags, per_call[i], &p);
			ASSERT_LT(0, h) TH_LOG("pages_per_call %u flags %#x: %s", per_call[i],
					       flags, strerror(-h));
			EXPECT_EQ(n, p.nr_pages);
			EXPECT_EQ(mode == 2 ? n : 0, p.charged_pages);
			EXPECT_EQ(mode == 1 ? 0 : (long long)n, pins_outstanding() - pins0);
			ASSERT_EQ(0, ioc_query(fd, h, &q));
			EXPECT_EQ(n, q.nr_pages);
			EXPECT_EQ(n, q.nr_folios);
			EXPECT_EQ((uintptr_t)buf, q.addr);
			EXPECT_EQ(mode == 1 ? 0 : n, q.nr_dma_pinned);
			ASSERT_EQ(0, dev_fill(fd, 0, len, seed));
			EXPECT_EQ((long long)len, ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, 0, len));
			EXPECT_EQ(len, pattern_mismatch(buf, len, seed, 0))
				TH_LOG("pages_per_call %u: the pages are not the range's, in order",
				       per_call[i]);
			EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, NULL));
			EXPECT_EQ(0, pins_outstanding() - pins0);
		}
	}
	EXPECT_EQ(0, vmpin_kb(0));
	close(fd);
	ASSERT_PINS_BALANCED();
}

/* Close releases every handle of the file, whatever its mode. */
TEST(close_releases_all)
{
	const size_t ps = psize(), n = 8;
	int fd = dev_open();
	uint8_t *buf = map_small(n * ps);
	long long pins0 = pins_outstanding();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, n * ps);
	ASSERT_LT(0, ioc_pin(fd, buf, n * ps, PIN_W, 0, NULL));
	ASSERT_LT(0, ioc_pin(fd, buf, n * ps, PIN_W | PIN_LT, 0, NULL));
	ASSERT_LT(0, ioc_pin(fd, buf, n * ps, 0, 3, NULL));
	ASSERT_LT(0, ioc_pin(fd, buf, n * ps, PIN_GET | PIN_W, 0, NULL));
	ASSERT_LT(0, ioc_pin(fd, buf, ps, PIN_LT, 0, NULL));
	EXPECT_EQ((long long)(3 * n + 1), pins_outstanding() - pins0);
	EXPECT_EQ((long long)(n * ps / KiB), vmpin_kb(0));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(0, vmpin_kb(0));
	ASSERT_PINS_BALANCED();
	/* The memory is still ours and intact. */
	EXPECT_EQ(n * ps, bytes_mismatch(buf, n * ps, 1));
}

/* ================================================================================== */
/* 5. UNPIN with and without PINIO_UNPIN_DIRTY on page cache pages                      */
/* ================================================================================== */

/*
 * memfd pages pinned for writing, written by the device, released with and without
 * PINIO_UNPIN_DIRTY and on close: the device's bytes are in the page cache (pread of the
 * memfd, after the mapping is gone), before and after the release. Whether the release
 * dirtied the pages cannot be seen here (the writable fault already dirtied the shmem folios,
 * and shmem without swap never cleans them): release_dirties_what_was_written checks that.
 */
TEST(unpin_dirty_memfd)
{
	const size_t ps = psize(), n = 4, len = n * ps;
	int fd = dev_open(), mfd, h1, h2, h3;
	uint8_t *map, *rd = map_small(len);
	long long pins0 = pins_outstanding();
	struct pinio_query q;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, rd);
	mfd = memfd_create("pinio-dirty", 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, len));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, map);
	memset(map, 0x11, len);

	h1 = ioc_pin(fd, map, 2 * ps, PIN_W, 0, NULL);		/* pages 0-1: DIRTY */
	h2 = ioc_pin(fd, map + 2 * ps, ps, PIN_W, 0, NULL);	/* page 2: not DIRTY */
	h3 = ioc_pin(fd, map + 3 * ps, ps, PIN_W | PIN_LT, 0, NULL); /* page 3: closed */
	ASSERT_LT(0, h1);
	ASSERT_LT(0, h2);
	ASSERT_LT(0, h3);
	ASSERT_EQ(0, ioc_query(fd, h1, &q));
	EXPECT_EQ(0, q.nr_anon);
	EXPECT_EQ(2, q.nr_dma_pinned);

	/* The mapping goes away first: the held pages stay the memfd's pages. */
	ASSERT_EQ(0, munmap(map, len));
	ASSERT_EQ(0, dev_fill(fd, 0, len, 42));
	EXPECT_EQ((long long)(2 * ps), ioc_dma(fd, h1, PINIO_DMA_TO_PAGES, 0, 0, 2 * ps));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h2, PINIO_DMA_TO_PAGES, 0, 2 * ps, ps));
	EXPECT_EQ((long long)ps, ioc_dma(fd, h3, PINIO_DMA_TO_PAGES, 0, 3 * ps, ps));
	ASSERT_EQ(0, ioc_query(fd, h1, &q));
	EXPECT_EQ(0, q.mapcount_max);		/* no longer mapped anywhere */

	/* Visible through the page cache while still held... */
	ASSERT_EQ((ssize_t)len, pread(mfd, rd, len, 0));
	EXPECT_EQ(len, pattern_mismatch(rd, len, 42, 0));

	EXPECT_EQ(0, ioc_unpin_ns(fd, h1, PINIO_UNPIN_DIRTY, NULL));
	EXPECT_EQ(0, ioc_unpin_ns(fd, h2, 0, NULL));
	ASSERT_EQ(0, close(fd));	/* h3, written by the device, released on close */
	EXPECT_EQ(0, pins_outstanding() - pins0);
	EXPECT_EQ(0, vmpin_kb(0));

	/* ...and after every release. */
	memset(rd, 0, len);
	ASSERT_EQ((ssize_t)len, pread(mfd, rd, len, 0));
	EXPECT_EQ(len, pattern_mismatch(rd, len, 42, 0));
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(len, pattern_mismatch(map, len, 42, 0));
	munmap(map, len);
	close(mfd);
	ASSERT_PINS_BALANCED();
}

/* PG_dirty of the page mapped at @addr (/proc/kpageflags): 1, 0, or -1 if not visible. */
static int page_dirty(void *addr)
{
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	int kpageflags = open("/proc/kpageflags", O_RDONLY);
	unsigned long pfn = pagemap < 0 ? -1UL : pagemap_get_pfn(pagemap, addr);
	uint64_t flags;
	int ret = -1;

	if (kpageflags >= 0 && pfn != -1UL && pfn && !pageflags_get(pfn, kpageflags, &flags))
		ret = !!(flags & (1ULL << KPF_DIRTY));
	close(pagemap);
	close(kpageflags);
	return ret;
}

/*
 * Which releases dirty a page, seen on private anonymous pages in small folios: once written
 * by the CPU they are dirty in their page table entries, but the folio's PG_dirty
 * (KPF_DIRTY) stays clear until folio_mark_dirty(), which is what
 * unpin_user_pages_dirty_lock(..., true) and set_page_dirty_lock() call. Written first, the
 * pages are pinned by the fast GUP path, which leaves PG_dirty alone. So PG_dirty afterwards
 * tells exactly which releases dirtied their pages:
 * - UNPIN with DIRTY of a FOLL_WRITE pin or get: dirty; without DIRTY: clean;
 * - UNPIN with DIRTY of a read-only pin: clean (it may hold pages that must not be dirtied);
 * - close: dirty if the device wrote into the pages (PINIO_IOC_DMA), else clean;
 * - read(2) into the pages: dirty; write(2) from them: clean.
 */
TEST(release_dirties_what_was_written)
{
	enum {
		PIN_DIRTY, PIN_CLEAN, RO_DIRTY, GET_DIRTY, GET_CLEAN, CLOSE_WRITTEN,
		CLOSE_UNWRITTEN, READ_INTO, WRITE_FROM, NPAGES
	};
	static const char *const name[NPAGES] = {
		"PIN_W, DMA in, UNPIN_DIRTY", "PIN_W, DMA in, UNPIN", "read-only PIN, UNPIN_DIRTY",
		"GET|PIN_W, DMA in, UNPIN_DIRTY", "GET|PIN_W, DMA in, UNPIN",
		"PIN_W, DMA in, close", "PIN_W, close", "read(2) into it", "write(2) from it",
	};
	static const uint32_t flags[NPAGES] = {
		[PIN_DIRTY] = PIN_W, [PIN_CLEAN] = PIN_W, [RO_DIRTY] = 0,
		[GET_DIRTY] = PIN_GET | PIN_W, [GET_CLEAN] = PIN_GET | PIN_W,
		[CLOSE_WRITTEN] = PIN_W, [CLOSE_UNWRITTEN] = PIN_W,
	};
	static const int dirty_after[NPAGES] = {
		[PIN_DIRTY] = 1, [GET_DIRTY] = 1, [CLOSE_WRITTEN] = 1, [READ_INTO] = 1,
	};
	const size_t ps = psize();
	uint8_t *buf = map_small(NPAGES * ps);
	long long pins0 = pins_outstanding();
	int fd = dev_open(), h[NPAGES] = { 0 };

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x11, NPAGES * ps);
	for (int i = 0; i < NPAGES; i++) {
		ASSERT_EQ(0, page_dirty(buf + i * ps))
			TH_LOG("page %d (%s): PG_dirty set before any release, or not visible",
			       i, name[i]);
	}
	ASSERT_EQ(0, dev_fill(fd, 0, NPAGES * ps, 77));

	for (int i = PIN_DIRTY; i <= CLOSE_UNWRITTEN; i++) {
		h[i] = ioc_pin(fd, buf + i * ps, ps, flags[i], 0, NULL);
		ASSERT_LT(0, h[i]) TH_LOG("pin of page %d (%s): %s", i, name[i], strerror(-h[i]));
	}
	/* The device writes into the pages taken for writing, except CLOSE_UNWRITTEN. */
	for (int i = PIN_DIRTY; i < CLOSE_UNWRITTEN; i++) {
		if (i == RO_DIRTY)
			continue;
		EXPECT_EQ((long long)ps,
			  ioc_dma(fd, h[i], PINIO_DMA_TO_PAGES, 0, (uint64_t)i * ps, ps));
	}
	EXPECT_EQ((long long)ps, ioc_dma(fd, h[RO_DIRTY], PINIO_DMA_FROM_PAGES, 0,
					 (uint64_t)RO_DIRTY * ps, ps));
	/* Neither pinning nor the device's writes through its own mapping dirty a folio. */
	for (int i = PIN_DIRTY; i <= CLOSE_UNWRITTEN; i++) {
		EXPECT_EQ(0, page_dirty(buf + i * ps)) TH_LOG("page %d (%s) dirty while held",
							       i, name[i]);
	}

	EXPECT_EQ(0, ioc_unpin(fd, h[PIN_DIRTY], PINIO_UNPIN_DIRTY));
	EXPECT_EQ(0, ioc_unpin(fd, h[PIN_CLEAN], 0));
	EXPECT_EQ(0, ioc_unpin(fd, h[RO_DIRTY], PINIO_UNPIN_DIRTY));
	EXPECT_EQ(0, ioc_unpin(fd, h[GET_DIRTY], PINIO_UNPIN_DIRTY));
	EXPECT_EQ(0, ioc_unpin(fd, h[GET_CLEAN], 0));
	/* CLOSE_* are still held: still clean. */
	EXPECT_EQ(0, page_dirty(buf + CLOSE_WRITTEN * ps));
	EXPECT_EQ(0, page_dirty(buf + CLOSE_UNWRITTEN * ps));
	ASSERT_EQ(0, close(fd));

	/* The data path: read(2) releases the pages it filled dirty, write(2) clean. */
	fd = dev_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)ps, pread(fd, buf + READ_INTO * ps, ps, (off_t)READ_INTO * ps));
	EXPECT_EQ((ssize_t)ps, pwrite(fd, buf + WRITE_FROM * ps, ps, (off_t)WRITE_FROM * ps));
	ASSERT_EQ(0, close(fd));

	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(dirty_after[i], page_dirty(buf + i * ps))
			TH_LOG("page %d (%s): PG_dirty %d, expected %d", i, name[i],
			       page_dirty(buf + i * ps), dirty_after[i]);
	}
	/* And the device's bytes are where it put them. */
	for (int i = PIN_DIRTY; i < CLOSE_UNWRITTEN; i++) {
		if (i == RO_DIRTY)
			continue;
		EXPECT_EQ(ps, pattern_mismatch(buf + i * ps, ps, 77, (uint64_t)i * ps))
			TH_LOG("page %d (%s): wrong data", i, name[i]);
	}
	EXPECT_EQ(ps, pattern_mismatch(buf + READ_INTO * ps, ps, 77, (uint64_t)READ_INTO * ps));
	EXPECT_EQ(ps, bytes_mismatch(buf + CLOSE_UNWRITTEN * ps, ps, 0x11));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	munmap(buf, NPAGES * ps);
}

/* ================================================================================== */
/* 6. Durations                                                                         */
/* ================================================================================== */

TEST(durations)
{
	const size_t ps = psize(), len = 4 * MiB;
	const uint32_t modes_[] = { PIN_W, PIN_GET | PIN_W, PIN_LT, 0 };
	int fd = dev_open(), h;
	uint8_t *buf = map_small(len);
	struct pinio_pin p;
	uint64_t ns;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, len);
	for (size_t i = 0; i < ARRAY_SIZE(modes_); i++) {
		h = ioc_pin(fd, buf, len, modes_[i], i == 3 ? 1 : 0, &p);
		ASSERT_LT(0, h);
		EXPECT_EQ(len / ps, p.nr_pages);
		EXPECT_LT(0, p.pin_ns) TH_LOG("flags %#x", modes_[i]);
		EXPECT_GT(60ULL * 1000000000ULL, p.pin_ns);
		ns = 0;
		EXPECT_EQ(0, ioc_unpin_ns(fd, h, 0, &ns));
		EXPECT_LT(0, ns) TH_LOG("flags %#x", modes_[i]);
		EXPECT_GT(60ULL * 1000000000ULL, ns);
	}
	close(fd);
	ASSERT_PINS_BALANCED();
}

/*
 * PINIO_PIN_SLOW: pin_user_pages() under the mmap lock, no GUP-fast attempt (as gup_test's
 * PIN_BASIC_TEST and PIN_LONGTERM_BENCHMARK). For each way and pages per call: the pages are
 * pinned (FOLL_PIN, one per page), they are the range's in order (the device's DMA lands in
 * the process's memory), long-term pins are charged, and untouched memory is faulted in
 * unless PINIO_PIN_NOFAULT forbids it (EFAULT).
 */
TEST(slow_path)
{
	static const struct {
		uint32_t flags;
		bool charged;
	} ways[] = {
		{ PINIO_PIN_SLOW | PIN_W, false },
		{ PINIO_PIN_SLOW | PIN_W | PIN_LT, true },
		{ PINIO_PIN_SLOW | PIN_W | PINIO_PIN_NOFAULT, false },
		{ PINIO_PIN_SLOW | PIN_W | PIN_LT | PINIO_PIN_NOFAULT, true },
	};
	const uint32_t per_call[] = { 0, 1, 3 };
	const size_t ps = psize(), n = 8, len = n * ps;
	uint8_t *buf = map_small(len), *fresh;
	long long pins0 = pins_outstanding();
	struct pinio_query q;
	struct pinio_pin p;
	int fd = dev_open();
	long h;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, len);
	for (size_t w = 0; w < ARRAY_SIZE(ways); w++) {
		for (size_t i = 0; i < ARRAY_SIZE(per_call); i++) {
			uint64_t seed = 300 + w * 4 + i;

			h = ioc_pin(fd, buf, len, ways[w].flags, per_call[i], &p);
			ASSERT_LT(0, h) TH_LOG("flags %#x per call %u: %s", ways[w].flags,
					       per_call[i], strerror((int)-h));
			EXPECT_EQ(n, p.nr_pages);
			EXPECT_EQ(ways[w].charged ? n : 0, p.charged_pages);
			EXPECT_EQ((long long)n, pins_outstanding() - pins0);
			ASSERT_EQ(0, ioc_query(fd, (uint32_t)h, &q));
			EXPECT_EQ(ways[w].flags, q.flags);
			EXPECT_EQ(n, q.nr_dma_pinned);
			ASSERT_EQ(0, dev_fill(fd, 0, len, seed));
			EXPECT_EQ((long long)len, ioc_dma(fd, (uint32_t)h, PINIO_DMA_TO_PAGES, 0, 0,
							 len));
			EXPECT_EQ(len, pattern_mismatch(buf, len, seed, 0));
			EXPECT_EQ(0, ioc_unpin(fd, (uint32_t)h, 0));
			EXPECT_EQ(0, pins_outstanding() - pins0);
		}
	}
	/* Memory never touched: faulted in, or EFAULT under FOLL_NOFAULT. */
	fresh = map_small(len);
	ASSERT_NE(NULL, fresh);
	EXPECT_EQ(-EFAULT, ioc_pin(fd, fresh, len, PINIO_PIN_SLOW | PINIO_PIN_NOFAULT, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	h = ioc_pin(fd, fresh, len, PINIO_PIN_SLOW | PIN_W, 0, NULL);
	ASSERT_LT(0, h);
	EXPECT_EQ(0, ioc_unpin(fd, (uint32_t)h, 0));
	EXPECT_EQ(0, vmpin_kb(0));
	close(fd);
	munmap(fresh, len);
	munmap(buf, len);
	ASSERT_PINS_BALANCED();
}

/*
 * PINIO_PIN_BENCH: taken and released in the same call, as gup_test's PIN_FAST_BENCHMARK. No
 * handle is made and nothing is left held or charged, whatever the way; both halves are timed;
 * the counters see a pin and an unpin; a failure holds nothing either.
 */
TEST(bench_mode)
{
	static const uint32_t ways[] = {
		PIN_W, PIN_W | PIN_LT, PIN_W | PIN_LT | PINIO_PIN_SLOW, PIN_W | PIN_GET, 0,
	};
	const uint32_t per_call[] = { 0, 1, 5 };
	const size_t ps = psize(), n = 16, len = n * ps;
	uint8_t *buf = map_small(len + ps);
	long long pins0 = pins_outstanding(), held0, released0;
	struct pinio_pin p;
	int fd = dev_open();

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, len);
	ASSERT_EQ(0, munmap(buf + len, ps));	/* a hole after the range */
	for (size_t w = 0; w < ARRAY_SIZE(ways); w++) {
		for (size_t i = 0; i < ARRAY_SIZE(per_call); i++) {
			held0 = pinio_counter("ioctl_pages_held");
			released0 = pinio_counter("ioctl_pages_released");
			EXPECT_EQ(0, ioc_pin(fd, buf, len, ways[w] | PINIO_PIN_BENCH, per_call[i], &p))
				TH_LOG("flags %#x per call %u", ways[w], per_call[i]);
			EXPECT_EQ(0, p.handle);
			EXPECT_EQ(n, p.nr_pages);
			EXPECT_EQ(0, p.charged_pages);
			EXPECT_LT(0, p.pin_ns);
			EXPECT_LT(0, p.unpin_ns);
			EXPECT_GT(60ULL * 1000000000ULL, p.unpin_ns);
			EXPECT_EQ(0, pins_outstanding() - pins0);
			EXPECT_EQ(0, vmpin_kb(0));
			EXPECT_EQ((long long)n, pinio_counter("ioctl_pages_held") - held0);
			EXPECT_EQ((long long)n, pinio_counter("ioctl_pages_released") - released0);
		}
	}
	/* Nothing is left in the file: handle 0 is none, closing releases nothing more. */
	EXPECT_EQ(-EINVAL, ioc_unpin(fd, 0, 0));
	EXPECT_EQ(-EFAULT, ioc_pin(fd, buf, len + ps, PINIO_PIN_BENCH | PIN_W, 0, NULL));
	EXPECT_EQ(0, pins_outstanding() - pins0);
	close(fd);
	munmap(buf, len);
	ASSERT_PINS_BALANCED();
}

TEST(pins_balanced_at_end)
{
	ASSERT_PINS_BALANCED();
	EXPECT_EQ(0, vmpin_kb(0));
}

TEST_HARNESS_MAIN
