/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by pinio's reliability tests (pinio_stress.c, pinio_fuzz.c,
 * pinio_fault_test.c): their command line, the store window these tests may write,
 * statistics shared between processes, checks that the device still works, and the kernel's
 * fault injection (failslab, fail_page_alloc) scoped to pinio's code.
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

/* ---- the command line ---------------------------------------------------------------- */

/* A numeric option "--name N" of a test program, taken before the harness's own options. */
struct pst_opt {
	const char *name;	/* "--ops" */
	unsigned int *val;
};

/*
 * Takes "--seed N" (into *@seed; without it $PINIO_SEED, else one from the clock) and the
 * options of @opts (ended by an empty one) out of @argv; returns how many arguments are left
 * in @argv for test_harness_run(), the program's name first.
 */
static inline int pst_parse_args(int argc, char **argv, uint64_t *seed,
				 const struct pst_opt *opts)
{
	bool seeded = false;
	int n = 1;

	for (int i = 1; i < argc; i++) {
		const struct pst_opt *o = opts;

		while (o && o->name && strcmp(argv[i], o->name))
			o++;
		if (i + 1 < argc && !strcmp(argv[i], "--seed")) {
			*seed = strtoull(argv[++i], NULL, 0);
			seeded = true;
		} else if (i + 1 < argc && o && o->name) {
			*o->val = strtoul(argv[++i], NULL, 0);
		} else {
			argv[n++] = argv[i];
		}
	}
	argv[n] = NULL;
	if (!seeded)
		*seed = test_seed();
	return n;
}

/* Keeps the option @name's value *@v within [@lo, @hi], saying so if it had to. */
static inline void pst_clamp(const char *name, unsigned int *v, unsigned int lo, unsigned int hi)
{
	unsigned int was = *v;

	*v = was < lo ? lo : was > hi ? hi : was;
	if (*v != was)
		ksft_print_msg("%s %u is out of [%u, %u]: %u it is\n", name, was, lo, hi, *v);
}

/* ---- the store window ---------------------------------------------------------------- */

struct pst_window {
	uint64_t start, len;	/* the part of the store these tests may write */
	uint64_t store_size;
};

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

		w->start = parse_size_end(env, &end);
		if (*end != ':')
			return -1;
		if (!strcmp(end + 1, "all"))
			w->len = size > (long long)w->start ? size - w->start : 0;
		else
			w->len = parse_size_end(end + 1, &end);
	} else if (size >= (long long)(64 * MiB)) {
		w->start = 58 * MiB;
		w->len = size - MiB - w->start;
	} else {
		w->start = (uint64_t)size / 64 * 58;
		w->len = (uint64_t)size / 64 * 5;
	}
	w->start &= ~(uint64_t)(psize() - 1);
	w->len &= ~(uint64_t)(psize() - 1);
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

/*
 * Records a failure (an invariant broken), printing it at once; async-signal-safe enough
 * for forked children of threaded processes (no locks, one write(2)).
 */
static inline void __printf(2, 3)
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

/*
 * Waits up to @ms for the FOLL_PIN counters to come back to @baseline, read through the root
 * helper @h if there is one; the last difference.
 */
static inline long long pst_pins_settle(struct pins_helper *h, long long baseline, int ms)
{
	long long d = pins_helper_get(h) - baseline;

	for (int i = 0; d && i < ms / 20; i++) {
		pst_sleep_us(20000);
		d = pins_helper_get(h) - baseline;
	}
	return d;
}

/*
 * The ioctl counters of /sys/kernel/debug/pinio/counters (pinio_counters_read() has the
 * data path ones).
 */
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

/* A whole small file (vm_util's read_file()) without trailing white space; 0, or -1. */
static inline int pst_read_file(const char *path, char *buf, size_t len)
{
	size_t n = read_file(path, buf, len);

	if (!n)
		return -1;
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
	const size_t len = 64 * KiB;
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
	if (!ret && pst_pins_settle(NULL, pins0, 2000)) {
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
#define PST_FI_NKNOBS ARRAY_SIZE(pst_fi_knobs)

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
 * Scopes both fault types to the code range [@start, @end): only allocations with it in the
 * call chain may fail, sleeping and highmem (user page) allocations included, order 0
 * included, no messages (verbose 0: the runner must not mistake an injected failure for a
 * splat). Probability 0: nothing fails until pst_fi_random() or a task's fail-nth says so.
 */
static inline int pst_fi_scope(unsigned long start, unsigned long end)
{
	char buf[64];
	int ret = 0;

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

/* pst_fi_scope() to pinio's code, wherever the module is loaded now. */
static inline int pst_fi_scope_to_pinio(void)
{
	unsigned long start = 0, end = 0;

	if (pst_pinio_text(&start, &end))
		return -ENOENT;
	return pst_fi_scope(start, end);
}

/*
 * Probabilistic mode for tasks with make-it-fail: every @interval-th allocation in pinio's
 * call chains fails, at most @times times (per fault type).
 */
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

/* ---- loading and unloading the module -------------------------------------------------- */

/* The module file in the scripts/vm guest, or $PINIO_KO. */
static inline const char *pst_module_path(void)
{
	const char *ko = getenv("PINIO_KO");

	return ko && *ko ? ko : "/pinio/pinio.ko";
}

/* finit_module(), as insmod loads a module: 0, or -1 with errno. */
static inline long pst_module_load(const char *ko, const char *params)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	long ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

/* delete_module("pinio"), as rmmod: 0, or -1 with errno (EWOULDBLOCK while in use). */
static inline long pst_module_unload(void)
{
	return syscall(SYS_delete_module, "pinio", O_NONBLOCK);
}

/*
 * pst_module_unload(), retried for up to 5 s while the module is in use (a file or request
 * still being released): 0, or -1 with errno.
 */
static inline long pst_module_unload_wait(void)
{
	long ret = -1;

	for (int i = 0; i < 50; i++) {
		ret = pst_module_unload();
		if (!ret || errno != EWOULDBLOCK)
			break;
		pst_sleep_us(100000);
	}
	return ret;
}

static inline bool pst_module_loaded(void)
{
	return !access("/sys/module/pinio", F_OK);
}

/* No trace of the module: not loaded, no device node, no debugfs directory. */
static inline bool pst_module_gone(void)
{
	for (int i = 0; i < 50 && !access(PINIO_DEV, F_OK); i++)
		pst_sleep_us(20000);
	return !pst_module_loaded() && access(PINIO_DEV, F_OK) &&
	       access("/sys/kernel/debug/pinio", F_OK);
}

/* The device node of a module just loaded (devtmpfs creates it asynchronously). */
static inline bool pst_module_node(void)
{
	for (int i = 0; i < 50 && access(PINIO_DEV, F_OK); i++)
		pst_sleep_us(20000);
	return !access(PINIO_DEV, F_OK);
}

/*
 * KUnit runs the module's suites at every load, and make test counts them from the log of
 * the first one: reloads must not run them again. pst_kunit_mute() sets a filter no suite
 * matches; pst_kunit_restore() puts the previous one back.
 */
#define PST_KUNIT_FILTER "/sys/module/kunit/parameters/filter_glob"

struct pst_kunit_filter {
	char glob[256];
};

static inline void pst_kunit_mute(struct pst_kunit_filter *saved)
{
	saved->glob[0] = 0;
	if (!pst_read_file(PST_KUNIT_FILTER, saved->glob, sizeof(saved->glob)))
		pst_write_file(PST_KUNIT_FILTER, "pinio-reload-runs-no-kunit");
}

static inline void pst_kunit_restore(const struct pst_kunit_filter *saved)
{
	if (saved->glob[0])
		pst_write_file(PST_KUNIT_FILTER, strcmp(saved->glob, "(null)") ? saved->glob : "*.*");
}

/*
 * Module init under allocation failures: with the stack trace filter on the text range
 * [@start, @end) pinio had, which a reload of the same module gets again, the n-th
 * allocation of pinio's init fails (fail-nth), for every n, or, if the init makes more than
 * @max_loads (1..256) allocations, for n = 1..8, the last 8 and others evenly spread between.
 * Each load must fail with ENOMEM (or ENODEV, from the faux DMA device) and leave nothing
 * behind, or, if the failure was absorbed, succeed with a working device (checked at store
 * offset @off) and unload. Call with the module unloaded; it is unloaded again on return. Returns the number of faults injected, or
 * -1 (with @why) on a wrong outcome.
 */
static inline int pst_init_faults(const char *ko, const char *params, unsigned long start,
				  unsigned long end, unsigned int max_loads, uint64_t off,
				  char *why, size_t wlen)
{
	struct pst_fi_saved saved;
	unsigned int samples[256], total, n = 0;
	int nth, injected = 0, ret = 0;
	char buf[64];

	if (!pst_fi_available())
		return 0;
	pst_fi_save(&saved);
	for (int a = 0; a < 2; a++) {
		pst_fi_set(a, "verbose", "0");
		pst_fi_set(a, "probability", "0");
		snprintf(buf, sizeof(buf), "%#lx", start);
		pst_fi_set(a, "require-start", buf);
		snprintf(buf, sizeof(buf), "%#lx", end);
		pst_fi_set(a, "require-end", buf);
		pst_fi_set(a, "stacktrace-depth", "32");
		pst_fi_set(a, "ignore-gfp-wait", "N");
	}
	pst_fi_set(1, "ignore-gfp-highmem", "N");
	pst_fi_set(1, "min-order", "0");
	nth = pst_task_fi_open("fail-nth");
	if (nth < 0)
		goto out;
	/* How many allocations does a whole init make? */
	pst_fail_nth_arm(nth, 100000000);
	if (pst_module_load(ko, params)) {
		ret = snprintf(why, wlen, "load to count init allocations: %s", strerror(errno));
		goto out;
	}
	if (pread(nth, buf, sizeof(buf) - 1, 0) <= 0)
		buf[0] = 0;
	pst_fail_nth_arm(nth, 0);
	total = 100000000 - strtoul(buf, NULL, 0);
	ksft_print_msg("module init: %u allocations with pinio in the call chain\n", total);
	if (pst_module_unload() || !pst_module_gone()) {
		ret = snprintf(why, wlen, "unload after counting: %s", strerror(errno));
		goto out;
	}
	if (!total) {
		ksft_print_msg("module init: the module moved, no allocation matched the filter\n");
		goto out;
	}
	if (max_loads < 17 || max_loads > 256)
		max_loads = 256;
	for (unsigned int k = 1; k <= total && n < max_loads; k++) {
		/* Past the first 8 and before the last 8, every step-th. */
		unsigned int step = total <= max_loads ? 1 : (total - 16) / (max_loads - 16) + 1;

		if (k <= 8 || k > total - 8 || (k - 8) % step == 0)
			samples[n++] = k;
	}
	for (unsigned int i = 0; i < n; i++) {
		long r;
		bool hit;

		pst_fail_nth_arm(nth, samples[i]);
		r = pst_module_load(ko, params);
		hit = pst_fail_nth_injected(nth);
		pst_fail_nth_arm(nth, 0);
		injected += hit;
		/*
		 * faux_device_create() returns NULL whatever failed in it, its allocations
		 * included; its C callers (vgem, vkms, ...) and Rust's faux::Registration answer
		 * ENODEV for that, the only other errno an allocation failure may give here.
		 */
		if (r && errno != ENOMEM && errno != ENODEV) {
			ret = snprintf(why, wlen, "init with allocation %u failing: %s", samples[i],
				       strerror(errno));
			break;
		}
		if (r && !pst_module_gone()) {
			ret = snprintf(why, wlen, "init failed at allocation %u but left the module behind (/sys/module/pinio, /dev/pinio or debugfs)",
				       samples[i]);
			break;
		}
		if (!r) {	/* absorbed: the module must work, and go */
			if (!pst_module_node() || pst_device_works(off, samples[i], why, wlen)) {
				ret = 1;
				break;
			}
			if (pst_module_unload() || !pst_module_gone()) {
				ret = snprintf(why, wlen, "unload: %s", strerror(errno));
				break;
			}
		}
	}
	ksft_print_msg("module init: %d of %u loads had a fault injected\n", injected, n);
out:
	if (nth >= 0)
		close(nth);
	pst_fi_restore(&saved);
	return ret ? -1 : injected;
}

#endif /* _PINIO_STRESS_H */
