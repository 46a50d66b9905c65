/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by pinio's user-space programs (tests, pinio-ctl, benchmarks): reading
 * "name value" files such as /proc/vmstat and the module's debugfs counters, the system-wide
 * FOLL_PIN balance, /proc/self/status fields, and size arguments. No test harness here:
 * pinio_test.h adds that for the kselftests.
 */
#ifndef _PINIO_UTIL_H
#define _PINIO_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PINIO_DEV	"/dev/pinio"
#define RAM_DEV		"/dev/ram0"
#define PINIO_COUNTERS	"/sys/kernel/debug/pinio/counters"

/* A "name value" line from a file such as /proc/vmstat; -1 if absent. */
static inline long long read_named_value(const char *path, const char *name)
{
	char key[128];
	long long val;
	FILE *f = fopen(path, "r");
	long long found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%127s %lld", key, &val) == 2) {
		if (!strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

/*
 * Folds the per-CPU vmstat deltas into the global counters. Node counters such as
 * nr_foll_pin_acquired are updated per CPU and only folded when a CPU's delta passes a
 * threshold or at the next vmstat interval (1 s), so without this /proc/vmstat can show
 * pins "outstanding" that were acquired on one CPU and released on another.
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

static inline long long vmstat(const char *name)
{
	vmstat_refresh();
	return read_named_value("/proc/vmstat", name);
}

/* FOLL_PIN pins taken and not yet released, system wide. */
static inline long long pins_outstanding(void)
{
	long long acquired = vmstat("nr_foll_pin_acquired");

	return acquired - read_named_value("/proc/vmstat", "nr_foll_pin_released");
}

static inline long long pinio_counter(const char *name)
{
	return read_named_value(PINIO_COUNTERS, name);
}

/* A value from /proc/self/status in kB (e.g. "VmPin:"); -1 if absent. */
static inline long long proc_status_kb(const char *field)
{
	char line[256];
	long long val = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, strlen(field))) {
			val = strtoll(line + strlen(field), NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* A size with an optional K, M or G suffix (powers of 1024); exits with status 2 if bad. */
static inline unsigned long long parse_size(const char *prog, const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	case 0: break;
	default:
		fprintf(stderr, "%s: bad size %s\n", prog, s);
		exit(2);
	}
	return v;
}

#endif /* _PINIO_UTIL_H */
