/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by pinio's kselftests (on top of pinio_util.h and the mm selftests'
 * vm_util.h and hugepage_settings.h): data patterns, a seeded generator, the module's
 * debugfs counters, the THP size, and a root helper for tests that drop their privileges
 * (drop_privileges() itself is in pinio_util.h, for pinio-ctl too).
 *
 * The store is shared by all test programs of a boot (make test runs them all in one
 * guest). pinio_io_test writes the store ranges [0, 56 MiB) and the last MiB, and checks
 * that [56 MiB, 58 MiB) was never written ("starts zeroed"): keep other programs' writes
 * out of that range, and do not rely on data in the others.
 */
#ifndef _PINIO_TEST_H
#define _PINIO_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/pinio.h>

#include "kselftest_harness.h"
#include "hugepage_settings.h"
#include "pinio_ioctl.h"
#include "pinio_util.h"

#define KiB		1024ULL
#define MiB		(1024ULL * KiB)


/* The 8 bytes a pattern with @seed holds at device offsets 8 * @word .. 8 * @word + 7. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t word)
{
	uint64_t x = word * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return x;
}

/* The byte a pattern with @seed holds at device offset @pos. */
static inline uint8_t pattern_byte(uint64_t seed, uint64_t pos)
{
	return (uint8_t)(pattern_word(seed, pos >> 3) >> ((pos & 7) * 8));
}

/* The pattern as a little-endian word: whole words can be stored or compared at once. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PATTERN_WORDS 1
#else
#define PATTERN_WORDS 0
#endif

static inline void fill_pattern(void *buf, size_t len, uint64_t seed, uint64_t pos)
{
	uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && (!PATTERN_WORDS || ((pos + i) & 7)); i++)
		p[i] = pattern_byte(seed, pos + i);
	for (; PATTERN_WORDS && i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (pos + i) >> 3);

		memcpy(p + i, &w, 8);
	}
	for (; i < len; i++)
		p[i] = pattern_byte(seed, pos + i);
}

/* Index of the first byte that differs from the pattern, or @len if none does. */
static inline size_t pattern_mismatch(const void *buf, size_t len, uint64_t seed, uint64_t pos)
{
	const uint8_t *p = buf;
	size_t i = 0;

	for (; i < len && (!PATTERN_WORDS || ((pos + i) & 7)); i++)
		if (p[i] != pattern_byte(seed, pos + i))
			return i;
	for (; PATTERN_WORDS && i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(seed, (pos + i) >> 3);

		if (memcmp(p + i, &w, 8))
			break;
	}
	for (; i < len; i++)
		if (p[i] != pattern_byte(seed, pos + i))
			return i;
	return len;
}

/*
 * Writes the pattern @seed to the device range [@off, @off + @len) (@len a multiple of the
 * block size) from a buffer of its own; 0 on success.
 */
static inline int dev_fill(int fd, uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *buf = map_small(len);
	ssize_t ret;

	if (!buf)
		return -1;
	fill_pattern(buf, len, seed, off);
	ret = pwrite(fd, buf, len, off);
	munmap(buf, len);
	return ret == (ssize_t)len ? 0 : -1;
}

/* splitmix64: a small seeded generator for reproducible random tests. */
static inline uint64_t prng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, @n) for tests; 0 (the state left alone) if @n is 0. */
static inline uint64_t prng_below(uint64_t *state, uint64_t n)
{
	return n ? prng_next(state) % n : 0;
}

/* True once in @one_in times, on average. */
static inline bool prng_chance(uint64_t *state, unsigned int one_in)
{
	return prng_below(state, one_in) == 0;
}

/* A seed for random tests: $PINIO_SEED if set, else one from the clock. */
static inline uint64_t test_seed(void)
{
	const char *env = getenv("PINIO_SEED");
	struct timespec ts;

	if (env && *env)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

/* The data path counters in /sys/kernel/debug/pinio/counters (see src/counters.rs). */
struct pinio_counters {
	long long reads, writes, extract_calls;
	long long pages_pinned, pages_unpinned, pages_dirtied, pages_listed;
	long long bytes_pinned, bytes_listed;
};

/* Reads all data path counters in one pass; 0 on success, -1 if a counter is missing. */
static inline int pinio_counters_read(struct pinio_counters *c)
{
	static const struct counter_field fields[] = {
#define PINIO_COUNTER_FIELD(f) COUNTER_FIELD(struct pinio_counters, f, #f)
		PINIO_COUNTER_FIELD(reads),
		PINIO_COUNTER_FIELD(writes),
		PINIO_COUNTER_FIELD(extract_calls),
		PINIO_COUNTER_FIELD(pages_pinned),
		PINIO_COUNTER_FIELD(pages_unpinned),
		PINIO_COUNTER_FIELD(pages_dirtied),
		PINIO_COUNTER_FIELD(pages_listed),
		PINIO_COUNTER_FIELD(bytes_pinned),
		PINIO_COUNTER_FIELD(bytes_listed),
#undef PINIO_COUNTER_FIELD
	};

	return counters_read_fields(c, sizeof(*c), fields, ARRAY_SIZE(fields));
}

/* Per-file knob: wait @us after extracting each batch of pages, before copying. */
static inline int pinio_set_dma_delay(int fd, uint32_t us)
{
	struct pinio_config config;

	memset(&config, 0, sizeof(config));
	config.dma_delay_us = us;
	return ioctl(fd, PINIO_IOC_SET_CONFIG, &config);
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

/* The PMD-sized THP if THP serves MADV_HUGEPAGE memory ("always" or "madvise"), else 0. */
static inline size_t thp_size(void)
{
	return thp_is_enabled() ? read_pmd_pagesize() : 0;
}

/*
 * A helper process that stays root, for a test that drops its privileges: folding the
 * per-CPU vmstat deltas (vmstat_refresh()) needs root, and without it the FOLL_PIN counters
 * can be off by the per-CPU thresholds. Start it before opening the device (it must hold none
 * of the test's files); it dies with the test.
 */
struct pins_helper {
	int req, ans;
	pid_t pid;
};

static inline int pins_helper_start(struct pins_helper *h)
{
	int req[2], ans[2];
	char c;

	h->req = h->ans = -1;
	if (pipe(req) || pipe(ans))
		return -1;
	h->pid = fork();
	if (h->pid < 0)
		return -1;
	if (h->pid) {
		close(req[0]);
		close(ans[1]);
		h->req = req[1];
		h->ans = ans[0];
		return 0;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(req[1]);
	close(ans[0]);
	while (read(req[0], &c, 1) == 1) {
		long long v = pins_outstanding();

		if (write(ans[1], &v, sizeof(v)) != sizeof(v))
			break;
	}
	_exit(0);
}

/* pins_outstanding(), from the helper @h if it runs; LLONG_MIN if it does not answer. */
static inline long long pins_helper_get(struct pins_helper *h)
{
	long long v = LLONG_MIN;

	if (!h || h->req < 0)
		return pins_outstanding();
	if (write(h->req, "?", 1) != 1 || read(h->ans, &v, sizeof(v)) != sizeof(v))
		return LLONG_MIN;
	return v;
}

static inline void pins_helper_stop(struct pins_helper *h)
{
	if (h->req < 0)
		return;
	close(h->req);
	close(h->ans);
	waitpid(h->pid, NULL, 0);
	h->req = h->ans = -1;
}

/* Every FOLL_PIN pin taken so far has been released. */
#define ASSERT_PINS_BALANCED() ASSERT_EQ(0, pins_outstanding())
#define EXPECT_PINS_BALANCED() EXPECT_EQ(0, pins_outstanding())

#endif /* _PINIO_TEST_H */
