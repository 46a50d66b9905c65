/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by pinio's reliability tests (pinio_stress.c, pinio_fuzz.c,
 * pinio_fault_test.c): the store window these tests may write, statistics shared between
 * processes, checks that the device still works, and the kernel's fault injection (failslab, fail_page_alloc) scoped to pinio's code.
 *
 * The store window: make test runs every program in one boot on one store, and
 * pinio_io_test checks that [56 MiB, 58 MiB) was never written (see pinio_test.h). These
 * tests write only inside their window: by default [58 MiB, store end - 1 MiB) of a store of
 * 64 MiB or more (the proportional range of a smaller one); $PINIO_STORE_WINDOW=START:LEN
 * (bytes, K/M/G suffixes, LEN "all" = to the end) overrides it, e.g. for scripts/stress.sh,
 * which boots a store of its own.
 */
#ifndef _PINIO_STRESS_H
#define _PINIO_STRESS_H

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "pinio_test.h"

#define PST_KiB		1024ULL
#define PST_MiB		(1024ULL * 1024)
#define PST_NOBODY	65534

static inline size_t pst_psz(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static inline uint64_t pst_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void pst_sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A 64-bit mix, for deriving per-worker seeds from the run's seed. */
static inline uint64_t pst_mix(uint64_t a, uint64_t b)
{
	uint64_t s = a ^ (b * 0x9e3779b97f4a7c15ULL);

	return prng_next(&s);
}

/* ---- the store window ---------------------------------------------------------------- */

struct pst_window {
	uint64_t start, len;	/* the part of the store these tests may write */
	uint64_t store_size;
};

static inline uint64_t pst_parse_size(const char *s, char **end)
{
	uint64_t v = strtoull(s, end, 0);

	switch (**end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; (*end)++; break;
	default: break;
	}
	return v;
}

/* 0, or -1 with the window left empty if the store is too small or the override is bad. */
static inline int pst_window_get(int fd, struct pst_window *w)
{
	const char *env = getenv("PINIO_STORE_WINDOW");
	long long size = lseek(fd, 0, SEEK_END);

	memset(w, 0, sizeof(*w));
	if (size <= 0)
		return -1;
	w->store_size = size;
	if (env && *env) {
		char *end;

		w->start = pst_parse_size(env, &end);
		if (*end != ':')
			return -1;
		if (!strcmp(end + 1, "all"))
			w->len = size > (long long)w->start ? size - w->start : 0;
		else
			w->len = pst_parse_size(end + 1, &end);
	} else if (size >= (long long)(64 * PST_MiB)) {
		w->start = 58 * PST_MiB;
		w->len = size - PST_MiB - w->start;
	} else {
		w->start = (uint64_t)size / 64 * 58;
		w->len = (uint64_t)size / 64 * 5;
	}
	w->start &= ~(uint64_t)(pst_psz() - 1);
	w->len &= ~(uint64_t)(pst_psz() - 1);
	if (!w->len || w->start + w->len > (uint64_t)size)
		return -1;
	lseek(fd, 0, SEEK_SET);
	return 0;
}

/* ---- statistics shared by the processes of a test ------------------------------------ */

#define PST_MAX_STATS	64
#define PST_MAX_FAILS	12

struct pst_stats {
	_Atomic unsigned long long v[PST_MAX_STATS];
	_Atomic int nfail;
	_Atomic int stop;
	char fail[PST_MAX_FAILS][256];
};

static inline struct pst_stats *pst_stats_new(void)
{
	struct pst_stats *st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (st == MAP_FAILED)
		return NULL;
	memset(st, 0, sizeof(*st));
	return st;
}

static inline void pst_add(struct pst_stats *st, int idx, unsigned long long n)
{
	atomic_fetch_add_explicit(&st->v[idx], n, memory_order_relaxed);
}

/* Records a failure (an invariant broken), printing it at once; async-signal-safe enough
 * for forked children of threaded processes (no locks, one write(2)). */
static inline void __attribute__((format(printf, 2, 3)))
pst_fail(struct pst_stats *st, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n = atomic_fetch_add(&st->nfail, 1);

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < PST_MAX_FAILS)
		memcpy(st->fail[n], line, sizeof(line));
	if (n < 40)
		dprintf(2, "# FAIL [pid %d]: %s\n", getpid(), line);
}

/* Prints "# @@stat TEST NAME VALUE" lines (scripts/stress.sh makes its table from them). */
static inline void pst_print_stats(const char *test, struct pst_stats *st,
				   const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (names[i] && names[i][0])
			ksft_print_msg("@@stat %s %s %llu\n", test, names[i],
				       (unsigned long long)st->v[i]);
}

static inline void pst_print_invariant(const char *test, const char *name, bool held)
{
	ksft_print_msg("@@invariant %s %s %s\n", test, name, held ? "held" : "BROKEN");
}

/* ---- system state -------------------------------------------------------------------- */

/* Waits up to @ms for the FOLL_PIN counters to come back to @baseline; the last difference. */
static inline long long pst_pins_settle(long long baseline, int ms)
{
	long long d = pins_outstanding() - baseline;

	for (int i = 0; d && i < ms / 20; i++) {
		pst_sleep_us(20000);
		d = pins_outstanding() - baseline;
	}
	return d;
}

static inline long long pst_vmpin_kb(pid_t pid)
{
	char path[64], line[256];
	long long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid ? pid : getpid());
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPin:", 6))
			val = strtoll(line + 6, NULL, 10);
	fclose(f);
	return val;
}

/* VmPin without stdio (for forked children of threaded processes). */
static inline long long pst_vmpin_kb_raw(void)
{
	char buf[4096], *p;
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "VmPin:");
	return p ? strtoll(p + 6, NULL, 10) : -1;
}

static inline long long pst_meminfo_kb(const char *field)
{
	char line[256];
	long long val = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			val = strtoll(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* The ioctl counters of /sys/kernel/debug/pinio/counters (pinio_counters_read() has the
 * data path ones). */
struct pst_ioctl_counters {
	long long pins, unpins, pages_held, pages_released, dma_bytes;
};

static inline void pst_ioctl_counters_read(struct pst_ioctl_counters *c)
{
	c->pins = pinio_counter("ioctl_pins");
	c->unpins = pinio_counter("ioctl_unpins");
	c->pages_held = pinio_counter("ioctl_pages_held");
	c->pages_released = pinio_counter("ioctl_pages_released");
	c->dma_bytes = pinio_counter("ioctl_dma_bytes");
}

static inline int pst_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -errno;
}

static inline int pst_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = 0;
	return 0;
}

/* Whether a thread of @pid is inside pinio now: a pinio function on its kernel stack. */
static inline bool pst_in_pinio(pid_t pid)
{
	char path[320], buf[4096];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", pid, de->d_name);
		found = !pst_read_file(path, buf, sizeof(buf)) && strstr(buf, "[pinio]");
	}
	closedir(d);
	return found;
}

/*
 * The device still works: writes a pattern at store offset @off (a page-aligned spot in the
 * window, 64 KiB long), reads it back with read(2) and through a pin + PINIO_IOC_DMA, and
 * the pins it took are gone afterwards. 0, or -1 with @why filled in.
 */
static inline int pst_device_works(uint64_t off, uint64_t seed, char *why, size_t whylen)
{
	const size_t len = 64 * PST_KiB;
	uint8_t *w = map_anon(len), *r = map_anon(len);
	long long pins0 = pins_outstanding();
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	int ret = -1;
	long h = 0;
	ssize_t n;

	if (fd < 0 || !w || !r) {
		snprintf(why, whylen, "open/mmap: %s", strerror(errno));
		goto out;
	}
	fill_pattern(w, len, seed, off);
	n = pwrite(fd, w, len, off);
	if (n != (ssize_t)len) {
		snprintf(why, whylen, "pwrite: %zd (%s)", n, strerror(errno));
		goto out;
	}
	memset(r, 0, len);
	n = pread(fd, r, len, off);
	if (n != (ssize_t)len || pattern_mismatch(r, len, seed, off) != len) {
		snprintf(why, whylen, "pread: %zd (%s), mismatch at %zu", n, strerror(errno),
			 pattern_mismatch(r, len, seed, off));
		goto out;
	}
	memset(r, 0, len);
	h = ioc_pin(fd, r, len, PINIO_PIN_WRITE, 0, NULL);
	if (h <= 0) {
		snprintf(why, whylen, "pin: %s", strerror((int)-h));
		goto out;
	}
	if (ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, off, len) != (long long)len ||
	    pattern_mismatch(r, len, seed, off) != len) {
		snprintf(why, whylen, "DMA to pages: wrong data");
		goto out;
	}
	if (ioc_unpin(fd, h, PINIO_UNPIN_DIRTY)) {
		snprintf(why, whylen, "unpin: %s", strerror(errno));
		goto out;
	}
	h = 0;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (w)
		munmap(w, len);
	if (r)
		munmap(r, len);
	if (!ret && pst_pins_settle(pins0, 2000)) {
		snprintf(why, whylen, "pins not released: %lld outstanding",
			 pins_outstanding() - pins0);
		ret = -1;
	}
	return ret;
}

/* ---- fault injection: failslab and fail_page_alloc scoped to pinio ------------------- */

#define PST_FI_DIR	"/sys/kernel/debug"

static const char *const pst_fi_attrs[] = { "failslab", "fail_page_alloc" };
static const char *const pst_fi_knobs[] = {
	"probability", "interval", "times", "space", "verbose", "task-filter",
	"require-start", "require-end", "reject-start", "reject-end", "stacktrace-depth",
	"ignore-gfp-wait", "ignore-gfp-highmem", "min-order", "cache-filter",
};
#define PST_FI_NKNOBS (sizeof(pst_fi_knobs) / sizeof(pst_fi_knobs[0]))

struct pst_fi_saved {
	char val[2][PST_FI_NKNOBS][40];
	bool have[2][PST_FI_NKNOBS];
};

static inline int pst_fi_set(int attr, const char *knob, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), PST_FI_DIR "/%s/%s", pst_fi_attrs[attr], knob);
	return pst_write_file(path, val);
}

static inline long long pst_fi_get(int attr, const char *knob)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), PST_FI_DIR "/%s/%s", pst_fi_attrs[attr], knob);
	if (pst_read_file(path, buf, sizeof(buf)))
		return LLONG_MIN;
	return strtoll(buf, NULL, 0);
}

static inline bool pst_fi_available(void)
{
	return !access(PST_FI_DIR "/failslab/probability", W_OK) &&
	       !access(PST_FI_DIR "/fail_page_alloc/probability", W_OK);
}

static inline void pst_fi_save(struct pst_fi_saved *s)
{
	char path[128];

	for (int a = 0; a < 2; a++)
		for (size_t k = 0; k < PST_FI_NKNOBS; k++) {
			snprintf(path, sizeof(path), PST_FI_DIR "/%s/%s", pst_fi_attrs[a],
				 pst_fi_knobs[k]);
			s->have[a][k] = !pst_read_file(path, s->val[a][k], sizeof(s->val[a][k]));
		}
}

/* Puts everything back; probability first, so nothing fails in between. */
static inline void pst_fi_restore(const struct pst_fi_saved *s)
{
	for (int a = 0; a < 2; a++) {
		pst_fi_set(a, "probability", "0");
		for (size_t k = 0; k < PST_FI_NKNOBS; k++)
			if (s->have[a][k] && strcmp(pst_fi_knobs[k], "probability"))
				pst_fi_set(a, pst_fi_knobs[k], s->val[a][k]);
		if (s->have[a][0])
			pst_fi_set(a, "probability", s->val[a][0]);
	}
}

/*
 * pinio's code range for the stack trace filter: [base, base + size) of the module's line
 * in /proc/modules (the base is its text; the size covers all its memory, which holds no
 * other code). Cross-checked against /sys/module/pinio/sections/.text.
 */
static inline int pst_pinio_text(unsigned long *start, unsigned long *end)
{
	char line[512], name[64], state[32];
	unsigned long size, addr, text = 0;
	FILE *f = fopen("/proc/modules", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lu %*d %*s %31s %lx", name, &size, state, &addr) == 4 &&
		    !strcmp(name, "pinio") && addr) {
			*start = addr;
			*end = addr + size;
			ret = 0;
		}
	}
	fclose(f);
	if (!ret && !pst_read_file("/sys/module/pinio/sections/.text", line, sizeof(line)))
		text = strtoul(line, NULL, 0);
	if (!ret && text && (text < *start || text >= *end))
		ret = -1;
	return ret;
}

/*
 * Scopes both fault types to pinio: only allocations with pinio's code in the call chain
 * may fail, sleeping and highmem (user page) allocations included, order 0 included, no
 * messages (verbose 0: the runner must not mistake an injected failure for a splat).
 * Probability 0: nothing fails until pst_fi_random() or a task's fail-nth says so.
 */
static inline int pst_fi_scope_to_pinio(void)
{
	unsigned long start = 0, end = 0;
	char buf[64];
	int ret = 0;

	if (pst_pinio_text(&start, &end))
		return -ENOENT;
	for (int a = 0; a < 2; a++) {
		ret |= pst_fi_set(a, "probability", "0");
		ret |= pst_fi_set(a, "verbose", "0");
		ret |= pst_fi_set(a, "space", "0");
		ret |= pst_fi_set(a, "interval", "1");
		ret |= pst_fi_set(a, "times", "-1");
		ret |= pst_fi_set(a, "task-filter", "Y");
		ret |= pst_fi_set(a, "stacktrace-depth", "32");
		ret |= pst_fi_set(a, "reject-start", "0");
		ret |= pst_fi_set(a, "reject-end", "0");
		snprintf(buf, sizeof(buf), "%#lx", start);
		ret |= pst_fi_set(a, "require-start", buf);
		snprintf(buf, sizeof(buf), "%#lx", end);
		ret |= pst_fi_set(a, "require-end", buf);
		ret |= pst_fi_set(a, "ignore-gfp-wait", "N");
	}
	ret |= pst_fi_set(0, "cache-filter", "N");
	ret |= pst_fi_set(1, "ignore-gfp-highmem", "N");
	ret |= pst_fi_set(1, "min-order", "0");
	return ret ? -EIO : 0;
}

/* Probabilistic mode for tasks with make-it-fail: every @interval-th allocation in pinio's
 * call chains fails, at most @times times (per fault type). */
static inline int pst_fi_random(unsigned long slab_interval, unsigned long page_interval,
				int times)
{
	char buf[32];
	int ret = 0;

	snprintf(buf, sizeof(buf), "%lu", slab_interval);
	ret |= pst_fi_set(0, "interval", buf);
	snprintf(buf, sizeof(buf), "%lu", page_interval);
	ret |= pst_fi_set(1, "interval", buf);
	snprintf(buf, sizeof(buf), "%d", times);
	ret |= pst_fi_set(0, "times", buf);
	ret |= pst_fi_set(1, "times", buf);
	ret |= pst_fi_set(0, "probability", "100");
	ret |= pst_fi_set(1, "probability", "100");
	return ret ? -EIO : 0;
}

static inline void pst_fi_off(void)
{
	pst_fi_set(0, "probability", "0");
	pst_fi_set(1, "probability", "0");
}

/* /proc/self/task/TID/{make-it-fail,fail-nth} of the calling thread. */
static inline int pst_task_fi_open(const char *what)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/%s", (long)syscall(SYS_gettid), what);
	return open(path, O_RDWR);
}

static inline int pst_make_it_fail(int on)
{
	int fd = pst_task_fi_open("make-it-fail");
	int ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, on ? "1" : "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return ret;
}

/* fail-nth: arm (@n > 0) / disarm (0), and whether the armed fault was injected. */
static inline int pst_fail_nth_arm(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

static inline bool pst_fail_nth_injected(int fd)
{
	char buf[16] = "";

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return false;
	return atoi(buf) == 0;
}

#endif /* _PINIO_STRESS_H */
