/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by pinio's kselftests: device paths, /proc/vmstat pin counters, the
 * module's debugfs counters and data patterns.
 */
#ifndef _PINIO_TEST_H
#define _PINIO_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/pinio.h>

#include "kselftest_harness.h"

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

static inline long long vmstat(const char *name)
{
	return read_named_value("/proc/vmstat", name);
}

/* FOLL_PIN pins taken and not yet released, system wide. */
static inline long long pins_outstanding(void)
{
	return vmstat("nr_foll_pin_acquired") - vmstat("nr_foll_pin_released");
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

/* The byte a pattern with @seed holds at device offset @pos. */
static inline uint8_t pattern_byte(uint64_t seed, uint64_t pos)
{
	uint64_t x = (pos >> 3) * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return (uint8_t)(x >> ((pos & 7) * 8));
}

static inline void fill_pattern(void *buf, size_t len, uint64_t seed, uint64_t pos)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, pos + i);
}

/* Index of the first byte that differs from the pattern, or @len if none does. */
static inline size_t pattern_mismatch(const void *buf, size_t len, uint64_t seed, uint64_t pos)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, pos + i))
			return i;
	return len;
}

/* Size in bytes of the block device or pinio store behind @fd. */
static inline long long dev_size(int fd)
{
	uint64_t size;
	struct stat st;

	if (fstat(fd, &st))
		return -1;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &size) ? -1 : (long long)size;
	return lseek(fd, 0, SEEK_END);
}

static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Every FOLL_PIN pin taken so far has been released. */
#define ASSERT_PINS_BALANCED() ASSERT_EQ(0, pins_outstanding())
#define EXPECT_PINS_BALANCED() EXPECT_EQ(0, pins_outstanding())

#endif /* _PINIO_TEST_H */
