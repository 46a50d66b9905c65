/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by pinio's user-space programs (tests, pinio-ctl, benchmarks): reading
 * a field of a /proc, sysfs or debugfs file (/proc/vmstat, /proc/<pid>/status, the module's
 * debugfs counters), the system-wide FOLL_PIN balance, size arguments, anonymous mappings in
 * small pages or THP, /proc/self/smaps, and the kernel options a kernel of one's own lacks
 * (kconfig_missing()), and dropping root's privileges (drop_privileges()). No test harness
 * here: pinio_test.h adds that for the kselftests. Page size, THP size, pagemap and kpageflags
 * come from the mm selftests' vm_util.h, which every program links (vm_util.c).
 */
#ifndef _PINIO_UTIL_H
#define _PINIO_UTIL_H

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vm_util.h"

#define PINIO_DEV	"/dev/pinio"
#define RAM_DEV		"/dev/ram0"
#define PINIO_COUNTERS	"/sys/kernel/debug/pinio/counters"
/* The unprivileged user (and group) that tests drop to. */
#define NOBODY_ID	65534

/*
 * Whether the running kernel is of a series before @major.@minor (uname's release): for the
 * few expectations that differ between the kernel series pinio supports
 * (scripts/kernel-series), as the module's src/compat.rs differs by the series it is built for.
 */
static inline bool kernel_before(int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma < major || (ma == major && mi < minor);
}

/* A counter of the debugfs file, and the offset of its long long in a struct of counters. */
struct counter_field {
	const char *name;
	size_t offset;
};

#define COUNTER_FIELD(type, member, name) { name, offsetof(type, member) }

/*
 * The counters of @fields (at most 64) from one read of the debugfs counters file, into the
 * struct at @out of @size bytes, zeroed first: 0, or -1 if the file or a counter is missing.
 */
static inline int counters_read_fields(void *out, size_t size,
				       const struct counter_field *fields, size_t n)
{
	unsigned long long found = 0;
	char key[128];
	long long val;
	FILE *f = fopen(PINIO_COUNTERS, "r");

	memset(out, 0, size);
	if (!f || n > 64)
		goto out;
	while (fscanf(f, "%127s %lld", key, &val) == 2)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(key, fields[i].name)) {
				*(long long *)((char *)out + fields[i].offset) = val;
				found |= 1ULL << i;
			}
out:
	if (f)
		fclose(f);
	return n && n <= 64 && found == ~0ULL >> (64 - n) ? 0 : -1;
}

/* Index of the first byte of @buf that is not @byte, or @len if all are. */
static inline size_t bytes_mismatch(const void *buf, size_t len, uint8_t byte)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != byte)
			return i;
	return len;
}

static inline bool field_matches(const char *line, const char *name, size_t len)
{
	const char c = line[len];

	if (strncmp(line, name, len))
		return false;
	/* A whole name: "VmPin:" or "nr_foll_pin_acquired", not a longer one it starts. */
	return !len || !(isalnum((unsigned char)c) || c == '_');
}

/*
 * The number after @name at the start of a line of the file @path, in @base; -1 if the file
 * or the line is absent. @name is spelt as in the file: "nr_foll_pin_acquired" in /proc/vmstat
 * or the debugfs counters, "VmPin:" in /proc/<pid>/status, "MemAvailable:" in /proc/meminfo;
 * "" reads the number a file starts with (a sysctl or sysfs attribute). Only open(2) and
 * read(2): safe in a forked child of a threaded process.
 */
static inline long long read_field(const char *path, const char *name, int base)
{
	const size_t len = strlen(name);
	char buf[4096], *line, *nl;
	long long val = -1;
	size_t have = 0;
	ssize_t n = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (n > 0) {
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n > 0)
			have += n;
		buf[have] = 0;
		line = buf;
		/* Whole lines; at the end of the file the last one, newline or not. */
		while ((nl = strchr(line, '\n')) || (n <= 0 && *line)) {
			if (nl)
				*nl = 0;
			if (field_matches(line, name, len)) {
				val = strtoll(line + len, NULL, base);
				goto out;
			}
			line = nl ? nl + 1 : line + strlen(line);
		}
		have -= line - buf;
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0;	/* a line longer than the buffer: not one of ours */
	}
out:
	close(fd);
	return val;
}

/*
 * Folds the per-CPU vmstat deltas into the global counters. Node counters such as
 * nr_foll_pin_acquired are updated per CPU and only folded when a CPU's delta passes a
 * threshold or at the next vmstat interval (1 s), so without this /proc/vmstat can show
 * pins "outstanding" that were acquired on one CPU and released on another. Needs root.
 */
static inline void vmstat_refresh(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	ssize_t ret;

	if (fd < 0)
		return;
	/* On failure the values are at most a vmstat interval stale; nothing else to do. */
	ret = write(fd, "1\n", 2);
	(void)ret;
	close(fd);
}

static inline long long vmstat_read(const char *name)
{
	vmstat_refresh();
	return read_field("/proc/vmstat", name, 10);
}

/* FOLL_PIN pins taken and not yet released, system wide. */
static inline long long pins_outstanding(void)
{
	long long acquired = vmstat_read("nr_foll_pin_acquired");

	return acquired - read_field("/proc/vmstat", "nr_foll_pin_released", 10);
}

static inline long long pinio_counter(const char *name)
{
	return read_field(PINIO_COUNTERS, name, 10);
}

/* VmPin (kB) of process @pid, 0 for this one; -1 if unknown. */
static inline long long vmpin_kb(pid_t pid)
{
	char path[64] = "/proc/self/status";

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return read_field(path, "VmPin:", 10);
}

/* A size with an optional K, M or G suffix (powers of 1024); *@end is what follows. */
static inline unsigned long long parse_size_end(const char *s, char **end)
{
	static const char units[] = "kmg";
	unsigned long long v = strtoull(s, end, 0);
	const char *u = **end ? strchr(units, tolower((unsigned char)**end)) : NULL;

	if (u) {
		(*end)++;
		v <<= 10 * (u - units + 1);
	}
	return v;
}

/* A size argument of @prog (see parse_size_end()); exits with status 2 if bad. */
static inline unsigned long long parse_size(const char *prog, const char *s)
{
	char *end;
	unsigned long long v = parse_size_end(s, &end);

	if (*end) {
		fprintf(stderr, "%s: bad size %s\n", prog, s);
		exit(2);
	}
	return v;
}

/* @len rounded up to whole pages. */
static inline size_t page_round_up(size_t len)
{
	const size_t ps = psize();

	return (len + ps - 1) & ~(ps - 1);
}

/* Private anonymous memory; NULL on failure. */
static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Private anonymous memory in small pages only (no THP, no mTHP): one folio per page. */
static inline uint8_t *map_small(size_t len)
{
	uint8_t *p = map_anon(len);

	if (p)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * Private anonymous memory advised MADV_HUGEPAGE, starting at a PMD-sized THP boundary (2 MiB
 * where THP is unavailable), not touched; munmap(p, @len) releases all of it. NULL on failure.
 */
static inline uint8_t *map_thp(size_t len)
{
	size_t align = read_pmd_pagesize() ?: 2UL << 20;
	uint8_t *p = map_anon(len + align), *a;

	if (!p)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	/* Trim, so that nothing else of the reservation stays mapped. */
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + align - a);
	madvise(a, len, MADV_HUGEPAGE);
	return a;
}

/*
 * A "Field:  N kB" value (@field is "AnonHugePages:", "Rss:" ...) of the mapping holding
 * @addr in /proc/self/smaps; -1 if absent.
 */
static inline long long smaps_kb(const void *addr, const char *field)
{
	const size_t len = strlen(field);
	unsigned long start, end;
	long long kb = -1;
	bool in = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* Mapping headers are "start-end perms ..."; field lines never parse so. */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = (uintptr_t)addr >= start && (uintptr_t)addr < end;
		} else if (in && !strncmp(line, field, len)) {
			kb = strtoll(line + len, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/*
 * The first of the space-separated @options ("CONFIG_A CONFIG_B") that the kernel lacks, or NULL.
 * The runner lists the options that a kernel tree of one's own lacks in $PINIO_MISSING_CONFIG
 * (scripts/vm --kernel PATH); the project's own kernels lack none, so there a test that needs
 * an option fails rather than skips. Use:
 *
 *	if (kconfig_missing(THP_CONFIG))
 *		SKIP(return, "%s is not set in this kernel", kconfig_missing(THP_CONFIG));
 */
static inline const char *kconfig_missing(const char *options)
{
	static char found[64];
	const char *list = getenv("PINIO_MISSING_CONFIG");
	const char *o = options + strspn(options, " ");

	while (list && *o) {
		size_t n = strcspn(o, " ");

		if (n < sizeof(found)) {
			memcpy(found, o, n);
			found[n] = '\0';
			for (const char *p = list; (p = strstr(p, found)); p += n)
				if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
					return found;
		}
		o += n;
		o += strspn(o, " ");
	}
	return NULL;
}

/* What fault injection, THP, hugetlb and brd tests need of the kernel. */
#define THP_CONFIG	"CONFIG_TRANSPARENT_HUGEPAGE CONFIG_MIGRATION CONFIG_COMPACTION"
#define HUGETLB_CONFIG	"CONFIG_HUGETLBFS CONFIG_HUGETLB_PAGE"
#define BRD_CONFIG	"CONFIG_BLK_DEV CONFIG_BLK_DEV_RAM"
/* Fault injection scoped to pinio (failslab, fail_page_alloc, the stack filter). */
#define FI_CONFIG	"CONFIG_FAULT_INJECTION CONFIG_FAILSLAB CONFIG_FAIL_PAGE_ALLOC " \
			"CONFIG_FAULT_INJECTION_DEBUG_FS CONFIG_FAULT_INJECTION_STACKTRACE_FILTER"

/*
 * Becomes NOBODY_ID with an RLIMIT_MEMLOCK of @memlock bytes and no capability left
 * (CAP_IPC_LOCK included); files opened before stay open. 0, or -1 with errno set.
 */
static inline int drop_privileges(rlim_t memlock)
{
	struct rlimit rl = { .rlim_cur = memlock, .rlim_max = memlock };

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(0, NULL) ||
	    setresgid(NOBODY_ID, NOBODY_ID, NOBODY_ID) ||
	    setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID))
		return -1;
	if (read_field("/proc/self/status", "CapEff:", 16)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

#endif /* _PINIO_UTIL_H */
