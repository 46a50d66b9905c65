/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The long-term pinnability matrix: which mappings a FOLL_LONGTERM pin can hold, read-only and
 * writable, through pinio's PINIO_IOC_PIN (pin_user_pages_fast(); pin_user_pages(), the slow
 * path, with PINIO_PIN_SLOW where INFO's pin_flags offer it: ABI 5) and through io_uring's
 * buffer registration (io_pin_pages(): pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM)). The 2019 FOLL_LONGTERM
 * mail: "for pages which are part of a filesystem ... use of FOLL_LONGTERM should be avoided";
 * Linux 7.3 refuses it for writable pins of shared mappings of filesystems that track dirty
 * pages (writable_file_mapping_allowed()).
 *
 * Each cell is run on the running kernel, and its outcome checked against what 7.3 decides and
 * where (mx_expect()): pinned or refused (errno), what the pin holds (the mapped page where it
 * is, or an anonymous copy made first: COW, unsharing), whether pages were migrated out of
 * ZONE_MOVABLE or CMA first, and for io_uring how many FOLL_PIN pins the registration keeps.
 * The kernel's own selftests/mm/gup_longterm tests the same cells through gup_test, pass/fail
 * only: mx_cross_check() runs it and compares its outcomes with pinio's, cell by cell.
 *
 * Rows: private anonymous memory; memfd, a tmpfs file, an ext4 file and a hugetlb memfd, each
 * MAP_SHARED and MAP_PRIVATE. Anonymous and shared mappings are written before the pin (as
 * gup_longterm does, so that GUP-fast finds writable PTEs); private file mappings are only read
 * (gup_longterm writes them too, which makes them anonymous copies before any pin), so that the
 * pin meets the page cache page. Read-only cells mprotect(PROT_READ) the mapping first, as
 * gup_longterm does. 4 small pages, or one huge page.
 *
 * The ext4 file lives on a brd disk of its own, /dev/ram7, made on first use (brd creates a
 * disk when a node with its minor is opened: CONFIG_BLOCK_LEGACY_AUTOLOAD), formatted with
 * Debian's mke2fs (scripts/vm --add-prog mke2fs; busybox's makes ext2 only) and mounted at
 * MX_EXT4_DIR; /dev/ram0 and /dev/ram1, which other tests use, are never touched.
 * mx_ext4_umount() unmounts it and discards its blocks (brd frees them).
 */
#ifndef _PINIO_MATRIX_H
#define _PINIO_MATRIX_H

#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <liburing.h>

#include "hugepage_settings.h"
#include "pinio_exp.h"

#define MX_EXT4_DIR	"/tmp/pinio-matrix-ext4"
#define MX_EXT4_DEV	"/dev/pinio-matrix-ram7"
#define MX_EXT4_RAM	7
#define MX_SMALL_PAGES	4

/* ---- rows and columns ------------------------------------------------------------------- */

enum mx_backing { MXB_ANON, MXB_MEMFD, MXB_TMPFS, MXB_EXT4, MXB_HUGETLB };

enum mx_map {
	MX_ANON, MX_MEMFD_SHARED, MX_MEMFD_PRIVATE, MX_TMPFS_SHARED, MX_TMPFS_PRIVATE,
	MX_EXT4_SHARED, MX_EXT4_PRIVATE, MX_HUGETLB_SHARED, MX_HUGETLB_PRIVATE, MX_NR_MAPS
};

static const struct mx_map_desc {
	const char *name;
	enum mx_backing backing;
	bool shared;
	const char *needs;	/* kernel options the row needs (kconfig_missing()) */
} mx_maps[MX_NR_MAPS] = {
	[MX_ANON] = { "anonymous, MAP_PRIVATE", MXB_ANON, false, "" },
	[MX_MEMFD_SHARED] = { "memfd, MAP_SHARED", MXB_MEMFD, true, "CONFIG_MEMFD_CREATE" },
	[MX_MEMFD_PRIVATE] = { "memfd, MAP_PRIVATE", MXB_MEMFD, false, "CONFIG_MEMFD_CREATE" },
	[MX_TMPFS_SHARED] = { "tmpfs file, MAP_SHARED", MXB_TMPFS, true, "" },
	[MX_TMPFS_PRIVATE] = { "tmpfs file, MAP_PRIVATE", MXB_TMPFS, false, "" },
	[MX_EXT4_SHARED] = { "ext4 file, MAP_SHARED", MXB_EXT4, true,
			     "CONFIG_EXT4_FS " BRD_CONFIG },
	[MX_EXT4_PRIVATE] = { "ext4 file, MAP_PRIVATE", MXB_EXT4, false,
			      "CONFIG_EXT4_FS " BRD_CONFIG },
	[MX_HUGETLB_SHARED] = { "hugetlb memfd, MAP_SHARED", MXB_HUGETLB, true,
				"CONFIG_MEMFD_CREATE " HUGETLB_CONFIG },
	[MX_HUGETLB_PRIVATE] = { "hugetlb memfd, MAP_PRIVATE", MXB_HUGETLB, false,
				 "CONFIG_MEMFD_CREATE " HUGETLB_CONFIG },
};

enum mx_way { MX_PIN_RO, MX_PIN_RW, MX_SLOW_RO, MX_SLOW_RW, MX_URING, MX_URING_RO, MX_NR_WAYS };

static const struct mx_way_desc {
	const char *name;
	const char *column;	/* the summary table's heading */
	bool ro_mapping;	/* the mapping is mprotect(PROT_READ) first */
	bool write;		/* FOLL_WRITE */
	uint32_t pin_flags;	/* PINIO_IOC_PIN flags; 0: io_uring */
	const char *needs;
} mx_ways[MX_NR_WAYS] = {
	[MX_PIN_RO] = { "PIN R/O (pin_user_pages_fast)", "PIN R/O", true, false,
			PINIO_PIN_LONGTERM, "" },
	[MX_PIN_RW] = { "PIN R/W (pin_user_pages_fast)", "PIN R/W", false, true,
			PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, "" },
	[MX_SLOW_RO] = { "PIN R/O (pin_user_pages)", "slow R/O", true, false,
			 PINIO_PIN_LONGTERM | PINIO_PIN_SLOW, "" },
	[MX_SLOW_RW] = { "PIN R/W (pin_user_pages)", "slow R/W", false, true,
			 PINIO_PIN_LONGTERM | PINIO_PIN_WRITE | PINIO_PIN_SLOW, "" },
	[MX_URING] = { "io_uring registration", "io_uring", false, true, 0,
		       "CONFIG_IO_URING" },
	[MX_URING_RO] = { "io_uring, R/O mapping", "io_uring R/O map", true, true, 0,
			  "CONFIG_IO_URING" },
};

/* What 7.3 does with a cell, and where it is decided. */
struct mx_expect {
	int err;		/* 0: pinned (registered), else this errno */
	bool copy;		/* the pin holds anonymous copies made first, not the mapped pages */
	const char *why;	/* the kernel functions that decide it */
};

static inline void mx_expect(enum mx_map m, enum mx_way w, struct mx_expect *x)
{
	const struct mx_map_desc *d = &mx_maps[m];
	const bool write = mx_ways[w].write, uring = !mx_ways[w].pin_flags;

	x->err = 0;
	x->copy = false;
	if (uring && mx_ways[w].ro_mapping) {
		x->err = EFAULT;
		x->why = "io_pin_pages() pins FOLL_WRITE | FOLL_LONGTERM: check_vma_flags(), FOLL_WRITE without VM_WRITE";
	} else if (write && d->shared && d->backing == MXB_EXT4) {
		x->err = EFAULT;
		x->why = "check_vma_flags() -> writable_file_mapping_allowed(): vma_needs_dirty_tracking() (ext4 has ->page_mkwrite); GUP-fast first: gup_fast_folio_allowed() lets only shmem and hugetlb file folios through";
	} else if (d->backing == MXB_ANON) {
		x->why = "PageAnonExclusive (written): gup_must_unshare() false; check_and_migrate_movable_folios(): folio_is_longterm_pinnable()";
	} else if (!d->shared && write) {
		x->copy = true;
		x->why = "FOLL_WRITE in a COW mapping: faultin_page() -> do_wp_page() -> wp_page_copy() (hugetlb_wp()) first; then folio_is_longterm_pinnable()";
	} else if (!d->shared) {
		x->copy = true;
		x->why = "gup_must_unshare(): R/O FOLL_LONGTERM of a page cache page in a COW mapping -> FAULT_FLAG_UNSHARE -> wp_page_copy() (hugetlb_wp()); then folio_is_longterm_pinnable()";
	} else if (!write) {
		x->why = "no FOLL_WRITE: writable_file_mapping_allowed() not asked; gup_must_unshare(): not a COW mapping (GUP-fast: no VMA, so the slow path decides); folio_is_longterm_pinnable()";
	} else if (d->backing == MXB_HUGETLB) {
		x->why = "writable_file_mapping_allowed(): hugetlbfs needs no dirty tracking; gup_fast_folio_allowed(): folio_test_hugetlb(); folio_is_longterm_pinnable()";
	} else {
		x->why = "writable_file_mapping_allowed(): shmem needs no dirty tracking (no ->page_mkwrite, no writeback); gup_fast_folio_allowed(): shmem_mapping(); folio_is_longterm_pinnable()";
	}
}

/* What one cell did. */
struct mx_cell {
	bool ran;		/* false: not offered or not set up (skip says why) */
	char skip[160];
	int err;		/* 0: pinned (registered), else the errno */
	long pages;		/* of the range */
	long anon;		/* pinned pages that are anonymous */
	long moved;		/* pinned pages other than the ones mapped before the pin */
	long mapped;		/* pinned pages the process maps afterwards */
	long movable_before;	/* pages in ZONE_MOVABLE or CMA before the pin */
	long movable;		/* pinned pages in ZONE_MOVABLE or CMA */
	long small;		/* pinned pages in order-0 folios */
	long folios;		/* the folios they belong to */
	int order;		/* their folio order, -1 if mixed */
	long long pins;		/* FOLL_PIN pins held while pinned (registered) */
	long long pins_left;	/* FOLL_PIN pins still held after the unpin (unregistration) */
	bool as_expected;
};

/* Where the cells run. */
struct mx_env {
	bool slow;		/* pinio offers PINIO_PIN_SLOW */
	size_t huge;		/* the default hugetlb page size, 0 if none */
	const char *tmpfs;	/* a tmpfs directory */
	char ext4[64];		/* the ext4 mount, once made */
};

static inline const char *mx_errname(int err)
{
	const char *n = err ? strerrorname_np(err) : "0";

	return n ? n : "an errno";
}

/* ---- the ext4 disk ---------------------------------------------------------------------- */

static inline bool mx_fs_is(const char *path, long magic)
{
	struct statfs fs;

	return !statfs(path, &fs) && fs.f_type == magic;
}

/* Debian's mke2fs (not busybox's, which makes only ext2), or NULL. */
static inline const char *mx_mke2fs(void)
{
	static const char * const paths[] = {
		"/usr/bin/mke2fs", "/usr/sbin/mke2fs", "/sbin/mke2fs",
	};
	char real[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		if (!access(paths[i], X_OK) && realpath(paths[i], real) &&
		    !strstr(real, "busybox"))
			return paths[i];
	return NULL;
}

/* Runs @cmd, its output as lines of @e; its exit status (-1 if it could not be run). */
static inline int mx_run(struct exp *e, const char *cmd)
{
	char line[256];
	FILE *f = popen(cmd, "r");
	int status;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		exp_say(e, "   | %s", line);
	}
	status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Mounts ext4 on the matrix's own brd disk at MX_EXT4_DIR (again if it is mounted already):
 * 0, or -1 with the reason in @why.
 */
static inline int mx_ext4_mount(struct exp *e, char *why, size_t len)
{
	const unsigned long max_part = read_num("/sys/module/brd/parameters/max_part");
	const char *mke2fs = mx_mke2fs();
	char cmd[256], sys[64];
	int fd, ret;

	if (mx_fs_is(MX_EXT4_DIR, EXT4_SUPER_MAGIC))
		return 0;
	if (!mke2fs) {
		snprintf(why, len, "no mke2fs of e2fsprogs (scripts/vm --add-prog mke2fs)");
		return -1;
	}
	if ((mkdir(MX_EXT4_DIR, 0755) && errno != EEXIST) ||
	    (mknod(MX_EXT4_DEV, S_IFBLK | 0600,
		   makedev(1, MX_EXT4_RAM * (max_part ? max_part : 1))) && errno != EEXIST)) {
		snprintf(why, len, "%s, %s: %s", MX_EXT4_DIR, MX_EXT4_DEV, strerror(errno));
		return -1;
	}
	/* Opening the node makes the disk; O_EXCL: nothing has it mounted. */
	fd = open(MX_EXT4_DEV, O_RDWR | O_EXCL);
	snprintf(sys, sizeof(sys), "/sys/block/ram%d", MX_EXT4_RAM);
	if (fd < 0 || access(sys, F_OK)) {
		snprintf(why, len, "no brd disk ram%d (%s; brd makes one when its node is opened: CONFIG_BLOCK_LEGACY_AUTOLOAD)",
			 MX_EXT4_RAM, fd < 0 ? strerror(errno) : "not in /sys/block");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	exp_say(e, "ext4 on /dev/ram%d (%s), mounted at %s", MX_EXT4_RAM, mke2fs, MX_EXT4_DIR);
	snprintf(cmd, sizeof(cmd),
		 "%s -q -F -t ext4 -b 4096 -E lazy_itable_init=1,lazy_journal_init=1 %s 2>&1",
		 mke2fs, MX_EXT4_DEV);
	ret = mx_run(e, cmd);
	if (ret) {
		snprintf(why, len, "%s failed (exit status %d)", mke2fs, ret);
		return -1;
	}
	if (mount(MX_EXT4_DEV, MX_EXT4_DIR, "ext4", 0, "noinit_itable") ||
	    !mx_fs_is(MX_EXT4_DIR, EXT4_SUPER_MAGIC)) {
		snprintf(why, len, "mount -t ext4 %s %s: %s", MX_EXT4_DEV, MX_EXT4_DIR,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* Unmounts the matrix's ext4 and gives its disk's memory back (BLKDISCARD), if mounted. */
static inline void mx_ext4_umount(void)
{
	uint64_t range[2] = { 0, 0 };
	int fd;

	if (!mx_fs_is(MX_EXT4_DIR, EXT4_SUPER_MAGIC) || umount(MX_EXT4_DIR))
		return;
	fd = open(MX_EXT4_DEV, O_RDWR | O_EXCL);
	if (fd >= 0 && !ioctl(fd, BLKGETSIZE64, &range[1]))
		ioctl(fd, BLKDISCARD, range);
	if (fd >= 0)
		close(fd);
	unlink(MX_EXT4_DEV);
	rmdir(MX_EXT4_DIR);
}

/* ---- one cell ----------------------------------------------------------------------------- */

static inline int mx_env_init(struct exp *e, struct mx_env *env)
{
	struct pinio_info info;

	memset(env, 0, sizeof(*env));
	if (!exp_need(e, !ioc_info(e->fd, &info), "PINIO_IOC_INFO"))
		return -1;
	env->slow = info.pin_flags & PINIO_PIN_SLOW;
	env->huge = default_huge_page_size();
	env->tmpfs = mx_fs_is("/tmp", TMPFS_MAGIC) ? "/tmp" :
		     mx_fs_is("/dev/shm", TMPFS_MAGIC) ? "/dev/shm" : NULL;
	exp_find_cma(e);
	return 0;
}

/*
 * Whether row @m and way @w can run here: "" if so, else why not (a missing kernel option, as
 * "CONFIG_X is not set in this kernel", or what is missing).
 */
static inline const char *mx_unavailable(struct exp *e, struct mx_env *env, enum mx_map m,
					 enum mx_way w, char *why, size_t len)
{
	const char *opt = kconfig_missing(mx_maps[m].needs) ?: kconfig_missing(mx_ways[w].needs);

	why[0] = 0;
	if (opt)
		snprintf(why, len, "%s is not set in this kernel", opt);
	else if ((mx_ways[w].pin_flags & PINIO_PIN_SLOW) && !env->slow)
		snprintf(why, len, "pinio offers no slow-path pin (PINIO_PIN_SLOW)");
	else if (mx_maps[m].backing == MXB_HUGETLB && !env->huge)
		snprintf(why, len, "no hugetlb page size (Hugepagesize in /proc/meminfo)");
	else if (mx_maps[m].backing == MXB_TMPFS && !env->tmpfs)
		snprintf(why, len, "neither /tmp nor /dev/shm is tmpfs");
	else if (mx_maps[m].backing == MXB_EXT4 && !env->ext4[0]) {
		if (!mx_ext4_mount(e, why, len))
			snprintf(env->ext4, sizeof(env->ext4), "%s", MX_EXT4_DIR);
	}
	return why;
}

/* The memory of a cell. */
struct mx_mem {
	uint8_t *addr;
	size_t len;
	int fd;
};

static inline void mx_mem_free(struct mx_mem *mem)
{
	if (mem->addr && mem->addr != MAP_FAILED)
		munmap(mem->addr, mem->len);
	if (mem->fd >= 0)
		close(mem->fd);
	mem->addr = NULL;
	mem->fd = -1;
}

/* The file of row @m, @len bytes, with data unless hugetlb (allocated): an fd, or -1. */
static inline int mx_file(const struct mx_env *env, enum mx_map m, size_t len)
{
	const enum mx_backing b = mx_maps[m].backing;
	char path[96];
	void *data;
	int fd;

	if (b == MXB_TMPFS || b == MXB_EXT4) {
		snprintf(path, sizeof(path), "%s/pinio-matrix-XXXXXX",
			 b == MXB_TMPFS ? env->tmpfs : env->ext4);
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
	} else {
		fd = memfd_create("pinio-matrix", b == MXB_HUGETLB ? MFD_HUGETLB : 0);
	}
	if (fd < 0 || ftruncate(fd, len))
		goto fail;
	if (b == MXB_HUGETLB) {
		if (!fallocate(fd, 0, 0, len))
			return fd;
		goto fail;
	}
	data = map_small(len);
	if (!data)
		goto fail;
	exp_fill(data, len, 0x31);
	if (pwrite(fd, data, len, 0) != (ssize_t)len) {
		munmap(data, len);
		goto fail;
	}
	munmap(data, len);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * The mapping of row @m for way @w, faulted in: anonymous and shared mappings written, private
 * file mappings read; mprotect(PROT_READ) for a read-only way. 0, or -1 (@why says what failed).
 */
static inline int mx_mem_make(const struct mx_env *env, enum mx_map m, enum mx_way w,
			      struct mx_mem *mem, char *why, size_t len)
{
	const struct mx_map_desc *d = &mx_maps[m];

	mem->fd = -1;
	mem->len = d->backing == MXB_HUGETLB ? env->huge : MX_SMALL_PAGES * psize();
	if (d->backing == MXB_ANON) {
		mem->addr = map_small(mem->len);
	} else {
		mem->fd = mx_file(env, m, mem->len);
		if (mem->fd < 0) {
			snprintf(why, len, "the %s file: %s%s", d->name, strerror(errno),
				 d->backing == MXB_HUGETLB ? " (no free huge page?)" : "");
			return -1;
		}
		mem->addr = mmap(NULL, mem->len, PROT_READ | PROT_WRITE,
				 d->shared ? MAP_SHARED : MAP_PRIVATE, mem->fd, 0);
	}
	if (!mem->addr || mem->addr == MAP_FAILED) {
		snprintf(why, len, "mmap: %s", strerror(errno));
		return -1;
	}
	if (d->backing == MXB_ANON || d->shared)
		exp_fill(mem->addr, mem->len, 0x31);
	else
		force_read_pages((char *)mem->addr, mem->len / psize(), psize());
	if (mx_ways[w].ro_mapping && mprotect(mem->addr, mem->len, PROT_READ)) {
		snprintf(why, len, "mprotect(PROT_READ): %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Whether a record's page is one a long-term pin may not hold: ZONE_MOVABLE or CMA. */
static inline bool mx_movable(struct exp *e, const struct pinio_page_record *r)
{
	return r->zone == PINIO_ZONE_MOVABLE || exp_in_cma(e, r->pfn);
}

/*
 * The pages of @mem as DUMP records (@r, one per page), through a FOLL_GET reference, which
 * neither unshares nor migrates: the number of records, or -1.
 */
static inline long mx_probe(struct exp *e, const struct mx_mem *mem, struct pinio_page_record *r)
{
	const long pages = mem->len / e->ps;
	long h = ioc_pin(e->fd, mem->addr, mem->len, PINIO_PIN_GET, 0, NULL), n;

	if (h <= 0)
		return -1;
	n = ioc_dump(e->fd, h, 0, pages, r, NULL);
	ioc_unpin(e->fd, h, 0);
	return n == pages ? n : -1;
}

/* What the pin (or the probe after the registration) holds, from @n records of @r. */
static inline void mx_observe(struct exp *e, const struct mx_mem *mem,
			      const struct pinio_page_record *r, long n,
			      const unsigned long long *pfn0, struct mx_cell *c)
{
	c->order = n ? (int)r[0].order : 0;
	for (long i = 0; i < n; i++) {
		/* Folios are naturally aligned: a new folio starts where the head pfn changes. */
		c->folios += !i || r[i].pfn >> r[i].order != r[i - 1].pfn >> r[i].order ||
			     r[i].order != r[i - 1].order;
		if (r[i].order != (uint32_t)c->order)
			c->order = -1;
		c->anon += !!(r[i].flags & PINIO_PAGE_ANON);
		c->moved += r[i].pfn != pfn0[i];
		c->mapped += exp_pfn(e, mem->addr + i * e->ps) == r[i].pfn;
		c->movable += mx_movable(e, &r[i]);
		c->small += !r[i].order;
	}
}

/* The cell's outcome in a few words. */
static inline const char *mx_seen(const struct mx_cell *c, enum mx_way w, char *buf, size_t len)
{
	const char *what = c->moved == 0 ? "in place" :
			   c->anon == c->pages && c->moved == c->pages ? "anon copy" :
			   "moved";

	if (!c->ran)
		snprintf(buf, len, "-");
	else if (c->err)
		snprintf(buf, len, "%s", mx_errname(c->err));
	else if (!mx_ways[w].pin_flags)
		snprintf(buf, len, "%lld pin%s, %s", c->pins, c->pins == 1 ? "" : "s", what);
	else
		snprintf(buf, len, "%s%s", c->anon ? "" : "page cache, ", what);
	return buf;
}

/*
 * Runs cell (@m, @w) and checks it against 7.3 (mx_expect()), its lines in @e: 0, or -1 if it
 * could not be run (@c->skip says why).
 */
static inline int mx_cell(struct exp *e, struct mx_env *env, enum mx_map m, enum mx_way w,
			  struct mx_cell *c)
{
	const struct mx_way_desc *way = &mx_ways[w];
	struct pinio_page_record *r = NULL;
	unsigned long long *pfn0 = NULL;
	struct mx_mem mem = { .fd = -1 };
	struct io_uring ring;
	struct iovec iov;
	struct mx_expect x;
	long long pins0;
	long n, h, want_pins;
	char seen[64];
	bool ok;

	memset(c, 0, sizeof(*c));
	if (mx_unavailable(e, env, m, w, c->skip, sizeof(c->skip))[0] ||
	    mx_mem_make(env, m, w, &mem, c->skip, sizeof(c->skip)))
		goto out;
	c->pages = mem.len / e->ps;
	r = calloc(c->pages, sizeof(*r));
	pfn0 = calloc(c->pages, sizeof(*pfn0));
	if (!r || !pfn0 || mx_probe(e, &mem, r) < 0) {
		snprintf(c->skip, sizeof(c->skip), "the FOLL_GET probe of the pages failed");
		goto out;
	}
	for (long i = 0; i < c->pages; i++) {
		pfn0[i] = exp_pfn(e, mem.addr + i * e->ps);
		c->movable_before += mx_movable(e, &r[i]);
	}
	mx_expect(m, w, &x);
	c->ran = true;
	pins0 = pins_outstanding();
	if (way->pin_flags) {
		h = ioc_pin(e->fd, mem.addr, mem.len, way->pin_flags, 0, NULL);
		c->err = h < 0 ? (int)-h : 0;
		c->pins = pins_outstanding() - pins0;
		n = h > 0 ? ioc_dump(e->fd, h, 0, c->pages, r, NULL) : 0;
		mx_observe(e, &mem, r, n, pfn0, c);
		if (h > 0)
			exp_unpin(e, h);
	} else if (exp_need(e, !io_uring_queue_init(1, &ring, 0), "io_uring_queue_init")) {
		iov.iov_base = mem.addr;
		iov.iov_len = mem.len;
		c->err = -io_uring_register_buffers(&ring, &iov, 1);
		c->pins = pins_outstanding() - pins0;
		if (!c->err) {
			/* Through a FOLL_GET probe: io_uring shows nothing of what it holds. */
			n = mx_probe(e, &mem, r);
			mx_observe(e, &mem, r, n, pfn0, c);
			io_uring_unregister_buffers(&ring);
		}
		io_uring_queue_exit(&ring);
	} else {
		c->ran = false;
		goto out;
	}
	c->pins_left = pins_outstanding() - pins0;

	/* The outcome, then what the pin holds. */
	ok = exp_check(e, c->err == x.err, "%-32s %-24s (7.3: %s)", way->name,
		       mx_seen(c, w, seen, sizeof(seen)),
		       x.err ? mx_errname(x.err) : x.copy ? "anonymous copies" : "pinned in place");
	exp_say(e, "%19s  decided by %s", "", x.why);
	if (!c->err && !x.err) {
		/*
		 * Pages move by a copy (all of them, anonymous), or by migration out of
		 * ZONE_MOVABLE or CMA (those that were there); none held there afterwards.
		 */
		ok &= exp_check(e, c->anon == (x.copy || mx_maps[m].backing == MXB_ANON ?
					       c->pages : 0) &&
				c->moved == (x.copy ? c->pages : c->movable_before) &&
				!c->movable && c->mapped == c->pages,
				"%32s %ld of %ld pages anonymous, %ld moved (%ld were in ZONE_MOVABLE or CMA), none left there, all mapped by the process",
				"", c->anon, c->pages, c->moved, c->movable_before);
		/*
		 * A FOLL_PIN pin per page; io_uring keeps one per folio where
		 * io_check_coalesce_buffer() accepts the pages (large folios of one size, each
		 * whole) and io_coalesce_buffer() drops the others.
		 */
		want_pins = !way->pin_flags && c->order > 0 ? c->folios : c->pages;
		ok &= exp_check(e, c->pins == want_pins && !c->pins_left,
				"%32s %lld FOLL_PIN pin%s held%s, none after the %s", "", c->pins,
				c->pins == 1 ? "" : "s",
				want_pins != c->pages ? " (io_coalesce_buffer(): one per folio)" : "",
				way->pin_flags ? "unpin" : "unregistration");
	} else {
		ok &= exp_check(e, !c->pins && !c->pins_left, "%32s no pin held", "");
	}
	c->as_expected = ok;
out:
	mx_mem_free(&mem);
	free(r);
	free(pfn0);
	return c->ran ? 0 : -1;
}

/* The cells as a table, one line per row. */
static inline void mx_table(struct exp *e, const struct mx_env *env,
			    struct mx_cell cells[MX_NR_MAPS][MX_NR_WAYS])
{
	char line[400], seen[64];
	size_t at;

	at = snprintf(line, sizeof(line), "%-27s", "FOLL_LONGTERM");
	for (int w = 0; w < MX_NR_WAYS; w++)
		if (env->slow || !(mx_ways[w].pin_flags & PINIO_PIN_SLOW))
			at += snprintf(line + at, sizeof(line) - at, " %-21s ", mx_ways[w].column);
	exp_say(e, "%s", line);
	for (int m = 0; m < MX_NR_MAPS; m++) {
		at = snprintf(line, sizeof(line), "%-27s", mx_maps[m].name);
		for (int w = 0; w < MX_NR_WAYS; w++) {
			const struct mx_cell *c = &cells[m][w];

			if (!env->slow && (mx_ways[w].pin_flags & PINIO_PIN_SLOW))
				continue;
			at += snprintf(line + at, sizeof(line) - at, " %-21s%c",
				       mx_seen(c, w, seen, sizeof(seen)),
				       c->ran && !c->as_expected ? '!' : ' ');
		}
		exp_say(e, "%s", line);
	}
	exp_say(e, "(in place: the pin holds the mapped pages; anon copy: copies made first, by COW or unsharing; '!': not what 7.3 does; -: not run%s)",
		env->slow ? "" : "; pinio offers no slow-path pin: no slow columns");
}

/* ---- the cross-check with selftests/mm/gup_longterm --------------------------------------- */

/* gup_longterm's test cases (test_cases[] there), as cells of the matrix. */
static const struct {
	const char *desc;
	enum mx_way way;
	bool shared;
} mx_glt_cases[] = {
	{ "R/W longterm GUP pin in MAP_SHARED file mapping", MX_SLOW_RW, true },
	{ "R/W longterm GUP-fast pin in MAP_SHARED file mapping", MX_PIN_RW, true },
	{ "R/O longterm GUP pin in MAP_SHARED file mapping", MX_SLOW_RO, true },
	{ "R/O longterm GUP-fast pin in MAP_SHARED file mapping", MX_PIN_RO, true },
	{ "R/W longterm GUP pin in MAP_PRIVATE file mapping", MX_SLOW_RW, false },
	{ "R/W longterm GUP-fast pin in MAP_PRIVATE file mapping", MX_PIN_RW, false },
	{ "R/O longterm GUP pin in MAP_PRIVATE file mapping", MX_SLOW_RO, false },
	{ "R/O longterm GUP-fast pin in MAP_PRIVATE file mapping", MX_PIN_RO, false },
	{ "io_uring fixed buffer with MAP_SHARED file mapping", MX_URING, true },
	{ "io_uring fixed buffer with MAP_PRIVATE file mapping", MX_URING, false },
};

/* One result line of gup_longterm. */
struct mx_glt {
	char desc[160];
	int num;
	bool ok, skip;
	int map, way;		/* the matrix cell it tests; -1: none */
	bool pinned;		/* what gup_longterm saw (from its verdict and its expectation) */
};

/*
 * Which cell @g tests. Its memory: "memfd" (shmem), "tmpfile" (O_TMPFILE in /tmp, tmpfs),
 * "local tmpfile" (in the current directory: the matrix's ext4), "memfd hugetlb (N kB)".
 */
static inline void mx_glt_classify(const struct mx_env *env, struct mx_glt *g)
{
	const char *sep = strstr(g->desc, " ... with ");
	const char *mem = sep ? sep + strlen(" ... with ") : "";
	enum mx_backing b;
	unsigned long kb;
	bool rw;

	g->map = g->way = -1;
	if (!strcmp(mem, "memfd"))
		b = MXB_MEMFD;
	else if (!strcmp(mem, "tmpfile"))
		b = MXB_TMPFS;
	else if (!strcmp(mem, "local tmpfile"))
		b = MXB_EXT4;
	else if (sscanf(mem, "memfd hugetlb (%lu kB)", &kb) == 1 && kb << 10 == env->huge)
		b = MXB_HUGETLB;
	else
		return;
	for (size_t i = 0; i < ARRAY_SIZE(mx_glt_cases); i++) {
		if (!sep || strncmp(g->desc, mx_glt_cases[i].desc, sep - g->desc) ||
		    strlen(mx_glt_cases[i].desc) != (size_t)(sep - g->desc))
			continue;
		for (int m = 0; m < MX_NR_MAPS; m++)
			if (mx_maps[m].backing == b && mx_maps[m].shared == mx_glt_cases[i].shared)
				g->map = m;
		g->way = mx_glt_cases[i].way;
		/*
		 * gup_longterm's expectation (do_test()): "R/O pinning or pinning in a private
		 * mapping is always expected to work", R/W shared only on tmpfs and hugetlbfs;
		 * io_uring pins R/W. Its verdict says whether that happened.
		 */
		rw = mx_ways[g->way].write;
		g->pinned = !mx_glt_cases[i].shared || !rw || b != MXB_EXT4;
		if (!g->ok)
			g->pinned = !g->pinned;
	}
}

/*
 * Runs gup_longterm (@prog) in @dir and reads its results into @g (at most @max): how many, or
 * -1. Its own output goes to @e's lines, as comments.
 */
static inline int mx_glt_run(struct exp *e, const struct mx_env *env, const char *prog,
			     const char *dir, struct mx_glt *g, int max)
{
	char cmd[2 * PATH_MAX], line[512], *desc;
	int n = 0, num, at;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd '%s' && exec '%s' 2>&1", dir, prog);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		bool ok = !strncmp(line, "ok ", 3);

		line[strcspn(line, "\n")] = 0;
		exp_say(e, "   | %s", line);
		if (n == max || (!ok && strncmp(line, "not ok ", 7)) ||
		    sscanf(line + (ok ? 3 : 7), "%d %n", &num, &at) != 1)
			continue;
		desc = line + (ok ? 3 : 7) + at;
		g[n].num = num;
		g[n].ok = ok;
		g[n].skip = strstr(desc, " # SKIP") != NULL;
		desc[strcspn(desc, "#")] = 0;
		while (*desc && desc[strlen(desc) - 1] == ' ')
			desc[strlen(desc) - 1] = 0;
		snprintf(g[n].desc, sizeof(g[n].desc), "%s", desc);
		mx_glt_classify(env, &g[n]);
		n++;
	}
	return pclose(f) == -1 ? -1 : n;
}

/* gup_longterm next to this program (or $PINIO_GUP_LONGTERM), or NULL. */
static inline const char *mx_glt_find(char *buf, size_t len)
{
	const char *env = getenv("PINIO_GUP_LONGTERM");
	ssize_t n;

	if (env && *env)
		return access(env, X_OK) ? NULL : env;
	n = readlink("/proc/self/exe", buf, len - 16);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	snprintf(strrchr(buf, '/') ?: buf, 16, "/gup_longterm");
	return access(buf, X_OK) ? NULL : buf;
}

/*
 * Runs the kernel's gup_longterm in the matrix's ext4 directory and compares its outcomes with
 * pinio's @cells, cell by cell: gup_longterm must pass every case, and where pinio ran the same
 * cell the two must have seen the same (pinned or refused). Cells pinio ran that gup_longterm
 * has no case for are named, and must be the ones it cannot have (anonymous memory, io_uring
 * on a read-only mapping). Returns the number of cells compared, or -1.
 */
static inline int mx_cross_check(struct exp *e, struct mx_env *env, const char *prog,
				 struct mx_cell cells[MX_NR_MAPS][MX_NR_WAYS])
{
	bool covered[MX_NR_MAPS][MX_NR_WAYS] = { { false } };
	int n, compared = 0, only_glt = 0, only_pinio = 0;
	struct mx_glt g[64];
	char seen[64];

	exp_say(e, "the kernel's gup_longterm (%s), run in %s (its \"local tmpfile\" is on ext4):",
		prog, env->ext4);
	n = mx_glt_run(e, env, prog, env->ext4, g, ARRAY_SIZE(g));
	if (!exp_check(e, n > 0, "gup_longterm ran and reported results (%d)", n))
		return -1;
	exp_say(e, "%16s%-3s %-84s %-8s %s", "", "#", "gup_longterm case", "it saw",
		"pinio's cell: what pinio saw");
	for (int i = 0; i < n; i++) {
		const struct mx_cell *c = g[i].map >= 0 ? &cells[g[i].map][g[i].way] : NULL;
		const char *saw = g[i].skip ? "skipped" : !g[i].ok ? "FAILED" :
				  g[i].pinned ? "pinned" : "refused";
		bool both = c && c->ran;

		if (both) {
			covered[g[i].map][g[i].way] = true;
			compared++;
			snprintf(seen, sizeof(seen), "%s", mx_errname(c->err));
		} else {
			only_glt++;
		}
		exp_check(e, g[i].ok && !g[i].skip && (!both || g[i].pinned == !c->err),
			  "%-3d %-84s %-8s %s%s%s%s", g[i].num, g[i].desc, saw,
			  !both ? "gup_longterm only" : mx_ways[g[i].way].column,
			  !both ? "" : ": ", !both ? "" : c->err ? seen :
			  mx_ways[g[i].way].pin_flags ? "pinned" : "registered",
			  !c ? "" : both ? (g[i].pinned == !c->err ? ", agree" : ", DISAGREE") :
			  (mx_ways[g[i].way].pin_flags & PINIO_PIN_SLOW) ?
			  " (pinio has no slow-path pin)" : " (pinio's cell did not run)");
	}
	for (int m = 0; m < MX_NR_MAPS; m++)
		for (int w = 0; w < MX_NR_WAYS; w++) {
			if (!cells[m][w].ran || covered[m][w])
				continue;
			only_pinio++;
			exp_check(e, mx_maps[m].backing == MXB_ANON || w == MX_URING_RO,
				  "pinio only: %s, %s: %s", mx_maps[m].name, mx_ways[w].name,
				  mx_maps[m].backing == MXB_ANON ?
				  "gup_longterm tests file mappings only" :
				  w == MX_URING_RO ? "gup_longterm registers writable mappings only" :
				  "gup_longterm reported no such case");
		}
	exp_say(e, "=> %d cells compared; %d gup_longterm cases without a pinio cell, %d pinio cells without a gup_longterm case",
		compared, only_glt, only_pinio);
	return compared;
}

/* ---- the whole matrix, for pinio-ctl ------------------------------------------------------ */

static inline int exp_matrix(struct exp *e)
{
	static struct mx_cell cells[MX_NR_MAPS][MX_NR_WAYS];
	struct utsname u;
	struct mx_env env;
	char path[PATH_MAX];
	const char *prog;

	if (mx_env_init(e, &env))
		return -1;
	/* Two huge pages: a private mapping's copy needs the second (restored at exit). */
	if (env.huge)
		hugetlb_setup_default(2);
	uname(&u);
	exp_say(e, "Linux %s; expectations: Linux 7.3 (mm/gup.c, io_uring/rsrc.c); slow path: %s",
		u.release, env.slow ? "PINIO_PIN_SLOW" : "not offered by this pinio");
	for (int m = 0; m < MX_NR_MAPS; m++) {
		exp_say(e, "%s:", mx_maps[m].name);
		for (int w = 0; w < MX_NR_WAYS; w++)
			if (mx_cell(e, &env, m, w, &cells[m][w]))
				exp_say(e, "   %-32s not run: %s", mx_ways[w].name,
					cells[m][w].skip);
	}
	mx_table(e, &env, cells);
	prog = mx_glt_find(path, sizeof(path));
	if (!env.ext4[0])
		exp_say(e, "no cross-check with gup_longterm: no ext4 directory");
	else if (!prog)
		exp_say(e, "no cross-check: no gup_longterm next to this program (make tests builds it) or in $PINIO_GUP_LONGTERM");
	else
		mx_cross_check(e, &env, prog, cells);
	mx_ext4_umount();
	return 0;
}

#endif /* _PINIO_MATRIX_H */
