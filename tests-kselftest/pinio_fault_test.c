// SPDX-License-Identifier: GPL-2.0
/*
 * pinio_fault_test: pinio under allocation failures and resource exhaustion.
 *
 *   fail_nth_each_call   for each kind of pinio call (open, PIN in its variants, UNPIN,
 *                        QUERY, DMA, SET_CONFIG, INFO, read, write, readv, splice, close with
 *                        pins), fails its 1st, 2nd, 3rd ... allocation that has pinio's code
 *                        in the call chain (/proc/self/task/TID/fail-nth with failslab and
 *                        fail_page_alloc scoped to pinio by the stack trace filter), until
 *                        the call runs without reaching the armed one. Every call must fail
 *                        cleanly (ENOMEM, EFAULT or a short count; EIO for a write whose store
 *                        page could not be allocated) or succeed correctly, and leave nothing
 *                        behind: pins balanced, VmPin 0.
 *   fail_random          probabilistic injection for this task only (make-it-fail,
 *                        task-filter, probability 100, several intervals and a bounded number
 *                        of failures) during a random mix of valid pinio calls.
 *   memlock_exhaustion   as an unprivileged user (after opening the device: setrlimit, then
 *                        setresuid(65534) drops CAP_IPC_LOCK), long-term pins from two files
 *                        up to and past RLIMIT_MEMLOCK: ENOMEM exactly when the folios not yet
 *                        charged to a file would take pinned_vm over the limit; VmPin always
 *                        equal to the model; a forked child's pins charge the child.
 *   per_file_cap         the same buffer pinned again and again up to and past
 *                        PINIO_IOC_INFO.max_pinned_pages.
 *   memory_pressure      pins held (long-term, THP) while a child allocates and touches much
 *                        of the free memory (a sixth by default, all but 192 MiB with
 *                        $PINIO_PRESSURE=full, or $PINIO_PRESSURE MiB) and the kernel compacts:
 *                        the pinned pages neither move nor change, the device keeps working.
 * Each test ends with every file closed, FOLL_PIN pins balanced, VmPin 0 and the device
 * working. Options: --seed N (default $PINIO_SEED, else the clock), then the harness's own.
 */
#include "pinio_stress.h"

#include <grp.h>

static uint64_t seed;
static struct pst_window win;
static size_t ps;
static struct pst_fi_saved fi_saved;
static bool fi_touched;

/* Each test's time limit (memory_pressure's twice that), in seconds. */
#define FAULT_TIMEOUT	300

FIXTURE(fault) {};
FIXTURE_SETUP(fault) {}
FIXTURE_TEARDOWN(fault) {}

static void geometry(void)
{
	int fd = open(PINIO_DEV, O_RDWR);

	ksft_print_msg("seed %#llx (reproduce: --seed %#llx)\n", (unsigned long long)seed,
		       (unsigned long long)seed);
	ps = psize();
	if (fd >= 0) {
		pst_window_get(fd, &win);
		close(fd);
	}
}

static uint8_t *touched(size_t len)
{
	uint8_t *p = map_small(len);

	if (p)
		memset(p, 0x3c, len);
	return p;
}

/* THP-advised memory, touched. */
static uint8_t *thp_buf(size_t len)
{
	uint8_t *p = map_thp(len);

	if (p)
		memset(p, 0x5e, len);
	return p;
}

static bool is_thp(int fd, void *buf, size_t len)
{
	struct pinio_query q;
	long h = ioc_pin(fd, buf, len, 0, 0, NULL);
	bool large;

	if (h <= 0)
		return false;
	large = !ioc_query(fd, h, &q) && q.nr_large_folios;
	ioc_unpin(fd, h, 0);
	return large;
}

/* =================================================================================== */
/* Systematic: the n-th allocation of one call fails                                   */
/* =================================================================================== */

struct fctx {
	int nth;		/* this thread's fail-nth */
	unsigned int n;
	bool injected;
	int fd;
	long long pins0;
};

static inline void arm(struct fctx *c)
{
	pst_fail_nth_arm(c->nth, c->n);
}

static inline void disarm(struct fctx *c)
{
	c->injected = pst_fail_nth_injected(c->nth);
	pst_fail_nth_arm(c->nth, 0);
}

/* The outcome of one call: success, a clean failure, or something wrong (returned text). */
static const char *clean_failure(long long ret, long long want, const int *ok_errnos)
{
	if (ret == want)
		return NULL;
	if (ret < 0) {
		for (const int *e = ok_errnos; *e; e++)
			if (-ret == *e)
				return NULL;
		return "an undocumented error";
	}
	if (want > 0 && ret > 0 && ret < want)
		return NULL;	/* short */
	return "a wrong count";
}

static const int E_NOMEM_FAULT[] = { ENOMEM, EFAULT, 0 };
static const int E_NOMEM[] = { ENOMEM, 0 };
/* A write may also find no memory for a store page it is the first to write: EIO, as brd. */
static const int E_NOMEM_FAULT_IO[] = { ENOMEM, EFAULT, EIO, 0 };

struct scenario {
	const char *name;
	/*
	 * Runs one instance with c->n armed around the call under test; fills @why and
	 * returns -1 if the outcome was wrong, 0 otherwise.
	 */
	int (*run)(struct fctx *c, char *why, size_t len);
};

#define WHY(...) (snprintf(why, wlen, __VA_ARGS__), -1)

static int sc_open(struct fctx *c, char *why, size_t wlen)
{
	struct pinio_info info;
	int fd;

	arm(c);
	fd = open(PINIO_DEV, O_RDWR);
	disarm(c);
	if (fd < 0)
		return errno == ENOMEM ? 0 : WHY("open: %s", strerror(errno));
	if (ioc_info(fd, &info))
		return close(fd), WHY("the opened file does not answer INFO");
	close(fd);
	return 0;
}

/* Populated memory, kept across iterations (touching it anew each time is slow). */
static uint8_t *pool_small, *pool_thp;
#define POOL_SMALL	(4 * MiB)
#define POOL_THP	(4 * MiB)

static int pin_case(struct fctx *c, char *why, size_t wlen, size_t pages, uint32_t flags,
		    uint32_t per_call, int kind)
{
	size_t len = pages * ps;
	uint8_t *buf = kind == 0 ? map_small(len) : kind == 1 ? pool_small : pool_thp;
	struct pinio_pin p = { 0 };
	struct pinio_query q;
	long h, vmpin;
	const char *bad;
	int ret = 0;

	if (!buf)
		return WHY("mmap");
	arm(c);
	h = ioc_pin(c->fd, buf, len, flags, per_call, &p);
	disarm(c);
	bad = clean_failure(h > 0 ? 1 : h, 1, E_NOMEM_FAULT);
	if (bad) {
		ret = WHY("PIN of %zu pages, flags %#x: %s (%s)", pages, flags, bad,
			  h < 0 ? strerror((int)-h) : "no handle");
	} else if (h > 0) {
		if (ioc_query(c->fd, h, &q) || q.nr_pages != pages || p.nr_pages != pages)
			ret = WHY("PIN succeeded but holds %llu of %zu pages",
				  (unsigned long long)q.nr_pages, pages);
		vmpin = vmpin_kb(0);
		if ((flags & PINIO_PIN_LONGTERM) && vmpin * 1024 < (long)len)
			ret = WHY("long-term PIN succeeded but VmPin is %ld kB", vmpin);
		if (ioc_unpin(c->fd, h, 0))
			ret = WHY("UNPIN after an injected PIN: %s", strerror(errno));
	}
	if (kind == 0)
		munmap(buf, len);
	return ret;
}

static int sc_pin_fresh(struct fctx *c, char *why, size_t w)
{
	return pin_case(c, why, w, 8, PINIO_PIN_WRITE, 0, 0);
}

static int sc_pin_fresh_per_call(struct fctx *c, char *why, size_t w)
{
	return pin_case(c, why, w, 12, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 5, 0);
}

static int sc_pin_longterm(struct fctx *c, char *why, size_t w)
{
	return pin_case(c, why, w, 16, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, 1);
}

static int sc_pin_get(struct fctx *c, char *why, size_t w)
{
	return pin_case(c, why, w, 8, PINIO_PIN_GET | PINIO_PIN_WRITE, 0, 0);
}

static int sc_pin_big(struct fctx *c, char *why, size_t w)
{
	/* More pages than one page of pointers: the page array comes from kvmalloc(). */
	return pin_case(c, why, w, 600, PINIO_PIN_WRITE, 128, 1);
}

static int sc_pin_thp(struct fctx *c, char *why, size_t w)
{
	/* Two large folios, each charged once. */
	return pin_case(c, why, w, 1024, PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, 2);
}

/* A second long-term pin of the same file: its mm's account exists already. */
static int sc_pin_longterm_again(struct fctx *c, char *why, size_t wlen)
{
	/* The first 4 pages are charged already, the next 4 are new. */
	long h0 = ioc_pin(c->fd, pool_small, 4 * ps, PINIO_PIN_LONGTERM, 0, NULL);
	int ret;

	if (h0 <= 0)
		return WHY("set-up pin: %s", strerror((int)-h0));
	ret = pin_case(c, why, wlen, 8, PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, 1);
	if (ioc_unpin(c->fd, h0, 0))
		ret = WHY("UNPIN: %s", strerror(errno));
	return ret;
}

/* Calls that should need no allocation at all; each must simply work. */
static int sc_handle_calls(struct fctx *c, char *why, size_t wlen)
{
	uint8_t *a = pool_small + 64 * ps;
	long h = ioc_pin(c->fd, a, 16 * ps, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
	struct pinio_query q;
	struct pinio_info info;
	long long d1, d2;
	int rq, ri, rc, ru, ret = 0;
	bool any = false;

	if (h <= 0)
		return WHY("set-up pin: %s", strerror((int)-h));
	/* The store pages exist, so writing them needs no allocation either. */
	if (ioc_dma(c->fd, h, PINIO_DMA_FROM_PAGES, 0, win.start, 16 * ps) != (long long)(16 * ps))
		return WHY("set-up DMA: %s", strerror(errno));
	arm(c);
	rq = ioc_query(c->fd, h, &q);
	d1 = ioc_dma(c->fd, h, PINIO_DMA_FROM_PAGES, 0, win.start, 16 * ps);
	d2 = ioc_dma(c->fd, h, PINIO_DMA_TO_PAGES, 100, win.start + 512, 5000);
	ri = ioc_info(c->fd, &info);
	rc = pinio_set_dma_delay(c->fd, 0) ? -errno : 0;
	ru = ioc_unpin(c->fd, h, PINIO_UNPIN_DIRTY);
	disarm(c);
	any = c->injected;
	if (rq || d1 != (long long)(16 * ps) || d2 != 5000 || ri || rc || ru)
		ret = WHY("QUERY %d, DMA %lld and %lld, INFO %d, SET_CONFIG %d, UNPIN %d%s", rq, d1,
			  d2, ri, rc, ru, any ? " (with a failure injected)" : "");
	if (ru)
		ioc_unpin(c->fd, h, 0);
	return ret;
}

static int rw_case(struct fctx *c, char *why, size_t wlen, int kind)
{
	const size_t len = 64 * KiB;
	uint64_t off = win.start + 128 * KiB;
	uint8_t *b = map_small(len), *ref = pool_small + POOL_SMALL - len;
	struct iovec iov[3];
	int pipefd[2] = { -1, -1 };
	long long ret;
	const char *bad;
	int rc = 0;

	if (!b || !ref)
		return WHY("mmap");
	fill_pattern(ref, len, 11, off);
	if (pwrite(c->fd, ref, len, off) != (ssize_t)len)
		return WHY("set-up write: %s", strerror(errno));
	if (kind >= 4 && pipe(pipefd))
		return WHY("pipe");
	iov[0] = (struct iovec){ b, 8 * KiB };
	iov[1] = (struct iovec){ b + 8 * KiB, 24 * KiB };
	iov[2] = (struct iovec){ b + 32 * KiB, 32 * KiB };
	if (kind == 5 && write(pipefd[1], ref, len) != (ssize_t)len)
		return WHY("pipe write");
	arm(c);
	switch (kind) {
	case 0:
		ret = pread(c->fd, b, len, off);
		break;
	case 1:
		ret = pwrite(c->fd, b, len, off);	/* fresh: the shared zero page */
		break;
	case 2:
		ret = preadv(c->fd, iov, 3, off);
		break;
	case 3:
		ret = pwritev(c->fd, iov, 3, off);
		break;
	case 4: {
		loff_t o = off;

		ret = splice(c->fd, &o, pipefd[1], NULL, len, 0);
		break;
	}
	default: {
		loff_t o = off;

		ret = splice(pipefd[0], NULL, c->fd, &o, len, 0);
		break;
	}
	}
	if (ret < 0)
		ret = -errno;
	disarm(c);
	bad = clean_failure(ret, len, E_NOMEM_FAULT);
	if (bad)
		rc = WHY("%s of %zu bytes: %s (%lld)", kind == 0 ? "pread" : kind == 1 ? "pwrite" :
			 kind == 2 ? "preadv" : kind == 3 ? "pwritev" : kind == 4 ? "splice out" :
			 "splice in", len, bad, ret);
	else if ((kind == 0 || kind == 2) && ret > 0 && pattern_mismatch(b, ret, 11, off) != (size_t)ret)
		rc = WHY("the %lld bytes read are wrong", ret);
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	munmap(b, len);
	return rc;
}

static int sc_pread(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 0); }
static int sc_pwrite(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 1); }
static int sc_preadv(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 2); }
static int sc_pwritev(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 3); }
static int sc_splice_out(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 4); }
static int sc_splice_in(struct fctx *c, char *w, size_t l) { return rw_case(c, w, l, 5); }

/* The last close of a file with pins: releases everything, whatever fails. */
static int sc_close_pinned(struct fctx *c, char *why, size_t wlen)
{
	int fd = open(PINIO_DEV, O_RDWR);
	uint8_t *a = pool_small + 128 * ps;

	if (fd < 0)
		return WHY("set-up");
	if (ioc_pin(fd, a, 16 * ps, PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, NULL) <= 0 ||
	    ioc_pin(fd, a + 8 * ps, 16 * ps, PINIO_PIN_GET, 0, NULL) <= 0 ||
	    ioc_pin(fd, a, 32 * ps, 0, 0, NULL) <= 0)
		return WHY("set-up pins: %s", strerror(errno));
	arm(c);
	close(fd);
	disarm(c);
	return 0;
}

static const struct scenario scenarios[] = {
	{ "open", sc_open },
	{ "pin_fresh", sc_pin_fresh },
	{ "pin_fresh_per_call_longterm", sc_pin_fresh_per_call },
	{ "pin_longterm", sc_pin_longterm },
	{ "pin_longterm_again", sc_pin_longterm_again },
	{ "pin_get", sc_pin_get },
	{ "pin_big", sc_pin_big },
	{ "pin_thp", sc_pin_thp },
	{ "query_dma_info_config_unpin", sc_handle_calls },
	{ "pread", sc_pread },
	{ "pwrite", sc_pwrite },
	{ "preadv", sc_preadv },
	{ "pwritev", sc_pwritev },
	{ "splice_out", sc_splice_out },
	{ "splice_in", sc_splice_in },
	{ "close_with_pins", sc_close_pinned },
};

#define MAX_NTH 400

static int fi_setup(struct __test_metadata *_metadata)
{
	if (geteuid() != 0 || !pst_fi_available())
		return -1;
	fi_touched = true;
	return pst_fi_scope_to_pinio();
}

TEST_F_TIMEOUT(fault, fail_nth_each_call, FAULT_TIMEOUT)
{
	struct fctx c = { .nth = -1 };
	char why[256];
	unsigned long total = 0;
	int bad = 0, r;

	if (kconfig_missing(FI_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(FI_CONFIG));
	geometry();
	if (fi_setup(_metadata))
		SKIP(return, "fault injection (failslab, fail_page_alloc, stack filter) unavailable");
	c.nth = pst_task_fi_open("fail-nth");
	ASSERT_LE(0, c.nth);
	c.fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, c.fd);
	pool_small = touched(POOL_SMALL);
	pool_thp = thp_buf(POOL_THP);
	ASSERT_NE(NULL, pool_small);
	ASSERT_NE(NULL, pool_thp);
	c.pins0 = pins_outstanding();

	/* The filter works: a PIN's first allocation in pinio's call chain fails. */
	c.n = 1;
	r = sc_pin_fresh(&c, why, sizeof(why));
	if (!c.injected)
		SKIP(goto out, "no allocation with pinio in its stack trace could be failed (stack trace filter vs. pinio's text range?)");
	EXPECT_EQ(0, r) TH_LOG("%s", why);

	for (size_t s = 0; s < ARRAY_SIZE(scenarios); s++) {
		const struct scenario *sc = &scenarios[s];
		unsigned long points = 0;

		for (c.n = 1; c.n <= MAX_NTH; c.n++) {
			long long left;

			r = sc->run(&c, why, sizeof(why));
			if (c.injected)
				points++;
			if (r) {
				bad++;
				ksft_print_msg("%s, fault %u%s: %s\n", sc->name, c.n,
					       c.injected ? " injected" : "", why);
			}
			left = pins_outstanding() - c.pins0;
			if (left) {
				bad++;
				ksft_print_msg("%s, fault %u: %lld FOLL_PIN pins left behind\n",
					       sc->name, c.n, left);
				c.pins0 += left;
			}
			if (vmpin_kb(0)) {
				bad++;
				ksft_print_msg("%s, fault %u: VmPin %lld kB left behind\n",
					       sc->name, c.n, vmpin_kb(0));
			}
			if (!c.injected || bad > 20)
				break;
		}
		if (c.n > MAX_NTH) {
			bad++;
			ksft_print_msg("%s: still failing at allocation %d\n", sc->name, MAX_NTH);
		}
		ksft_print_msg("@@stat fail_nth_each_call points_%s %lu\n", sc->name, points);
		fflush(stdout);
		total += points;
		if (bad > 20)
			break;
	}
	ksft_print_msg("@@stat fail_nth_each_call faults_injected %lu\n", total);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, total);
out:
	pst_fail_nth_arm(c.nth, 0);
	close(c.nth);
	close(c.fd);
	EXPECT_EQ(0, pst_pins_settle(NULL, c.pins0, 3000));
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why))) TH_LOG("%s", why);
}

/* =================================================================================== */
/* Probabilistic: every k-th allocation in pinio's call chains fails, for this task    */
/* =================================================================================== */

#define RND_FDS		2
#define RND_HANDLES	64

TEST_F_TIMEOUT(fault, fail_random, FAULT_TIMEOUT)
{
	static const unsigned long intervals[][2] = {
		{ 1, 1 }, { 2, 3 }, { 3, 1 }, { 5, 2 }, { 7, 11 }, { 1, 13 }, { 11, 5 }, { 17, 29 },
	};
	static const char *const opn[] = { "open", "pin", "unpin", "query", "dma", "pread",
					   "pwrite", "preadv", "splice", "close" };
	unsigned long fails[10] = { 0 }, calls[10] = { 0 }, injected = 0;
	uint64_t r = pst_mix(seed, 77);
	long long pins0 = pins_outstanding();
	uint8_t *pool = touched(4 * MiB);
	char why[256];
	int bad = 0;

	if (kconfig_missing(FI_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(FI_CONFIG));
	geometry();
	if (fi_setup(_metadata))
		SKIP(return, "fault injection unavailable");
	ASSERT_NE(NULL, pool);
	for (size_t round = 0; round < ARRAY_SIZE(intervals); round++) {
		struct { int fd; int n; struct { uint32_t h; uint32_t flags; } hs[RND_HANDLES]; }
			f[RND_FDS];
		long long t0 = 0, t1 = 0;
		int pipefd[2];

		ASSERT_EQ(0, pipe2(pipefd, O_NONBLOCK));
		for (int i = 0; i < RND_FDS; i++) {
			f[i].fd = open(PINIO_DEV, O_RDWR);
			f[i].n = 0;
			ASSERT_LE(0, f[i].fd);
		}
		ASSERT_EQ(0, pst_fi_random(intervals[round][0], intervals[round][1], 12));
		for (int a = 0; a < 2; a++)
			t0 += pst_fi_get(a, "times");
		ASSERT_EQ(0, pst_make_it_fail(1));
		for (int op = 0; op < 150 && bad < 20; op++) {
			int k, fi = prng_below(&r, RND_FDS);
			typeof(f[0]) *F = &f[fi];
			size_t off, len;
			long long ret;
			uint8_t *b;

			k = prng_below(&r, 10);
			calls[k]++;
			switch (k) {
			case 0:		/* open: replaces a file */
			case 9: {	/* close: a file with its pins */
				int nfd = k == 0 ? open(PINIO_DEV, O_RDWR) : -1;

				if (k == 0 && nfd < 0) {
					if (errno != ENOMEM) {
						bad++;
						ksft_print_msg("open: %s\n", strerror(errno));
					}
					fails[k]++;
					break;
				}
				close(F->fd);
				F->fd = nfd >= 0 ? nfd : open(PINIO_DEV, O_RDWR);
				F->n = 0;
				if (F->fd < 0) {	/* the reopen itself may fail */
					fails[k]++;
					F->fd = -1;
				}
				break;
			}
			case 1: {	/* PIN of fresh or populated memory */
				uint32_t flags = prng_below(&r, 8);	/* WRITE LONGTERM NOFAULT */
				bool fr = prng_below(&r, 2);

				len = ps * (1 + prng_below(&r, 64));
				b = fr ? map_small(len) : pool + ps * prng_below(&r, (4 * MiB - len) / ps);
				if (prng_below(&r, 4) == 0)
					flags = PINIO_PIN_GET | (flags & PINIO_PIN_WRITE);
				if (F->fd < 0 || F->n == RND_HANDLES)
					break;
				ret = ioc_pin(F->fd, b, len, flags, prng_below(&r, 3) * 7, NULL);
				if (ret > 0) {
					F->hs[F->n].h = ret;
					F->hs[F->n++].flags = flags;
				} else {
					fails[k]++;
					if (ret != -ENOMEM && ret != -EFAULT) {
						bad++;
						ksft_print_msg("PIN: %s\n", strerror((int)-ret));
					}
				}
				if (fr)
					munmap(b, len);	/* pinned pages stay held */
				break;
			}
			case 2:		/* UNPIN: never fails */
			case 3:		/* QUERY: never fails */
			case 4: {	/* DMA: fails only for a store page it cannot allocate (EIO) */
				int i;
				long long want;

				if (F->fd < 0 || !F->n)
					break;
				i = prng_below(&r, F->n);
				if (k == 2) {
					ret = ioc_unpin(F->fd, F->hs[i].h, prng_below(&r, 2));
					F->hs[i] = F->hs[--F->n];
					want = 0;
				} else if (k == 3) {
					struct pinio_query q;

					ret = ioc_query(F->fd, F->hs[i].h, &q);
					want = 0;
				} else {
					want = ps;
					ret = ioc_dma(F->fd, F->hs[i].h, PINIO_DMA_FROM_PAGES, 0,
						      win.start + ps * prng_below(&r, win.len / ps - 1),
						      ps);
				}
				if (ret != want) {
					fails[k]++;
					if (k != 4 || ret != -EIO) {
						bad++;
						ksft_print_msg("%s: %lld, want %lld\n", opn[k], ret,
							       want);
					}
				}
				break;
			}
			default: {	/* read, write, readv, splice: fresh or populated memory */
				bool fr = prng_below(&r, 2);
				struct iovec iov[2];

				len = 512 * (1 + prng_below(&r, 256));
				off = win.start + 512 * prng_below(&r, (win.len - len) / 512);
				b = fr ? map_small(len) : pool + 512 * prng_below(&r, (4 * MiB - len) / 512);
				if (F->fd < 0)
					break;
				iov[0] = (struct iovec){ b, len / 512 / 2 * 512 };
				iov[1] = (struct iovec){ b + iov[0].iov_len, len - iov[0].iov_len };
				if (k == 5)
					ret = pread(F->fd, b, len, off);
				else if (k == 6)
					ret = pwrite(F->fd, b, len, off);
				else if (k == 7)
					ret = preadv(F->fd, iov, 2, off);
				else {
					loff_t o = off;
					char drain[4096];

					ret = splice(F->fd, &o, pipefd[1], NULL, len, SPLICE_F_NONBLOCK);
					while (read(pipefd[0], drain, sizeof(drain)) > 0)
						;
				}
				if (ret < 0)
					ret = -errno;
				if (ret != (long long)len) {
					fails[k]++;
					if (clean_failure(ret, len, k == 8 ? E_NOMEM : k == 6 ?
							  E_NOMEM_FAULT_IO : E_NOMEM_FAULT)) {
						bad++;
						ksft_print_msg("%s of %zu bytes: %lld\n",
							       opn[k], len, ret);
					}
				}
				if (fr)
					munmap(b, len);
				break;
			}
			}
		}
		pst_make_it_fail(0);
		for (int a = 0; a < 2; a++)
			t1 += pst_fi_get(a, "times");
		pst_fi_off();
		injected += t0 - t1;
		for (int i = 0; i < RND_FDS; i++)
			if (f[i].fd >= 0)
				close(f[i].fd);
		close(pipefd[0]);
		close(pipefd[1]);
		if (pst_pins_settle(NULL, pins0, 3000)) {
			bad++;
			ksft_print_msg("round %zu: %lld FOLL_PIN pins left behind\n", round,
				       pins_outstanding() - pins0);
		}
		if (vmpin_kb(0)) {
			bad++;
			ksft_print_msg("round %zu: VmPin %lld kB left behind\n",
				       round, vmpin_kb(0));
		}
	}
	for (int k = 0; k < 10; k++)
		ksft_print_msg("@@stat fail_random %s %lu/%lu\n", opn[k], fails[k], calls[k]);
	ksft_print_msg("@@stat fail_random faults_injected %lu\n", injected);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, injected);
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why))) TH_LOG("%s", why);
}

/* =================================================================================== */
/* RLIMIT_MEMLOCK                                                                      */
/* =================================================================================== */

#define ML_PAGES	2048		/* the buffer */
#define ML_LIMIT	512		/* RLIMIT_MEMLOCK, pages */

struct mlh {
	int file;
	uint32_t h;
	size_t first, n;
	bool lt;
};

/* Pages of @file's charged set: the union of its live long-term handles. */
static size_t ml_charged(const struct mlh *hs, int nh, int file, uint8_t *mark)
{
	size_t n = 0;

	memset(mark, 0, ML_PAGES);
	for (int i = 0; i < nh; i++)
		if (hs[i].file == file && hs[i].lt)
			for (size_t p = hs[i].first; p < hs[i].first + hs[i].n; p++)
				if (!mark[p]++)
					n++;
	return n;
}

/*
 * FOLL_PIN pins outstanding, from a helper that stays root (pinio_test.h) once the test has
 * dropped its privileges.
 */
static struct pins_helper helper = { .req = -1, .ans = -1 };

TEST_F_TIMEOUT(fault, memlock_exhaustion, FAULT_TIMEOUT)
{
	static struct mlh hs[1024];
	static uint8_t mark[ML_PAGES];
	uint64_t r = pst_mix(seed, 33);
	long long pins0;
	int fds[2], nh = 0, bad = 0, enomem = 0, ok = 0;
	uint8_t *buf, *thp;
	bool have_thp;

	geometry();
	if (geteuid() != 0)
		SKIP(return, "needs root to open the device and then drop privileges");
	pins_helper_start(&helper);	/* before any file is open: it must hold none */
	pins0 = pins_helper_get(&helper);
	fds[0] = open(PINIO_DEV, O_RDWR);
	fds[1] = open(PINIO_DEV, O_RDWR);
	ASSERT_LE(0, fds[0]);
	ASSERT_LE(0, fds[1]);
	buf = touched(ML_PAGES * ps);
	thp = thp_buf(2 * MiB);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, thp);
	have_thp = is_thp(fds[0], thp, 2 * MiB);

	ASSERT_EQ(0, drop_privileges(ML_LIMIT * ps))
		TH_LOG("dropping privileges: %s", strerror(errno));

	for (int op = 0; op < 400 && bad < 10; op++) {
		int file = prng_below(&r, 2);
		size_t before = ml_charged(hs, nh, 0, mark) + ml_charged(hs, nh, 1, mark);

		if (nh && (prng_below(&r, 4) == 0 || nh == 1024)) {	/* UNPIN */
			int i = prng_below(&r, nh);

			if (ioc_unpin(fds[hs[i].file], hs[i].h, 0)) {
				bad++;
				ksft_print_msg("UNPIN: %s\n", strerror(errno));
			}
			hs[i] = hs[--nh];
		} else {
			struct pinio_pin p = { 0 };
			size_t n = 1 + prng_below(&r, prng_below(&r, 8) ? 48 : 700);
			size_t first = prng_below(&r, ML_PAGES - (n = n > ML_PAGES ? ML_PAGES : n) + 1);
			bool lt = prng_below(&r, 6) != 0;
			size_t news, total;
			long h;

			/* Pins of pages the file already charged cost nothing: repeat one often. */
			if (nh && prng_below(&r, 4) == 0) {
				int i = prng_below(&r, nh);

				file = hs[i].file;
				first = hs[i].first;
				n = hs[i].n;
			}
			ml_charged(hs, nh, file, mark);
			news = 0;
			for (size_t q = first; q < first + n; q++)
				news += !mark[q];
			if (!lt)
				news = 0;
			total = before + news;
			h = ioc_pin(fds[file], buf + first * ps, n * ps,
				    (lt ? PINIO_PIN_LONGTERM : 0) |
				    (prng_below(&r, 2) ? PINIO_PIN_WRITE : 0), 0, &p);
			if (total > ML_LIMIT) {
				if (h != -ENOMEM) {
					bad++;
					ksft_print_msg("PIN of %zu pages (%zu new) with %zu of %d charged: %s, want ENOMEM\n",
						       n, news, before, ML_LIMIT, h > 0 ? "success" :
						       strerror((int)-h));
				}
				enomem++;
				if (h > 0)
					ioc_unpin(fds[file], h, 0);
			} else if (h <= 0) {
				bad++;
				ksft_print_msg("PIN of %zu pages (%zu new) with %zu of %d charged: %s\n",
					       n, news, before, ML_LIMIT, strerror((int)-h));
			} else {
				ok++;
				if (p.charged_pages != news) {
					bad++;
					ksft_print_msg("PIN charged %llu pages, want %zu\n",
						       (unsigned long long)p.charged_pages, news);
				}
				hs[nh++] = (struct mlh){ file, (uint32_t)h, first, n, lt };
			}
		}
		{
			size_t now = ml_charged(hs, nh, 0, mark) + ml_charged(hs, nh, 1, mark);
			long long vm = vmpin_kb(0);

			if (vm != (long long)(now * ps / 1024)) {
				bad++;
				ksft_print_msg("VmPin %lld kB, model %zu kB\n",
					       vm, now * ps / 1024);
			}
			if (vm > ML_LIMIT * (long long)ps / 1024) {
				bad++;
				ksft_print_msg("VmPin %lld kB over RLIMIT_MEMLOCK\n", vm);
			}
		}
	}
	ksft_print_msg("@@stat memlock_exhaustion pins %d\n", ok);
	ksft_print_msg("@@stat memlock_exhaustion enomem %d\n", enomem);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, enomem);

	/* Release everything: back to 0. */
	for (int i = 0; i < nh; i++)
		EXPECT_EQ(0, ioc_unpin(fds[hs[i].file], hs[i].h, 0));
	nh = 0;
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_pins_settle(&helper, pins0, 2000));

	/* A large folio is charged whole, once per file. */
	if (have_thp) {
		struct pinio_pin p = { 0 };
		struct pinio_query q;
		long h = ioc_pin(fds[0], thp, ps, PINIO_PIN_LONGTERM, 0, &p);

		if (h > 0 && !ioc_query(fds[0], h, &q) && !q.nr_large_folios) {
			ksft_print_msg("the THP was split meanwhile: no large folio to charge\n");
			ioc_unpin(fds[0], h, 0);
		} else if (ML_LIMIT * ps >= 2 * MiB) {
			long long p0 = pins_helper_get(&helper);

			EXPECT_LT(0, h);
			EXPECT_EQ(2 * MiB / ps, p.charged_pages);
			EXPECT_EQ(2048, vmpin_kb(0));
			/* The rest of the THP is charged already: free. */
			EXPECT_LT(0, ioc_pin(fds[0], thp + ps, 2 * MiB - ps, PINIO_PIN_LONGTERM,
					     0, &p));
			EXPECT_EQ(0, p.charged_pages);
			/* Through the other file it is charged again: over the limit. */
			EXPECT_EQ(-ENOMEM, ioc_pin(fds[1], thp, ps, PINIO_PIN_LONGTERM, 0, NULL));
			EXPECT_EQ(511, pins_helper_get(&helper) - p0);
		} else {
			EXPECT_EQ(-ENOMEM, h) TH_LOG("a 2 MiB folio is over a %d-page limit",
						     ML_LIMIT);
		}
	}

	/* A child's long-term pins on the inherited file charge the child, not us. */
	{
		long long vm0 = vmpin_kb(0), before = pins_helper_get(&helper);
		int status;
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			long h = ioc_pin(fds[1], buf, 64 * ps, PINIO_PIN_LONGTERM, 0, NULL);

			_exit(h > 0 && vmpin_kb(0) == (long long)(64 * ps / 1024) ? 0 : 1);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
		EXPECT_EQ(vm0, vmpin_kb(0));
		EXPECT_EQ(64, pins_helper_get(&helper) - before);
	}
	close(fds[1]);
	close(fds[0]);
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_pins_settle(&helper, pins0, 3000));
	pins_helper_stop(&helper);
}

/* =================================================================================== */
/* The per-file cap                                                                    */
/* =================================================================================== */

TEST_F_TIMEOUT(fault, per_file_cap, FAULT_TIMEOUT)
{
	const size_t blen = 2 * MiB;
	struct pinio_info info;
	struct pinio_query q;
	long long pins0 = pins_outstanding(), get_pages = 0;
	int fd = open(PINIO_DEV, O_RDWR), fd2;
	uint64_t cap, bp, n, rest, t0;
	uint8_t *buf;
	long h, first = 0;
	char why[256];

	geometry();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioc_info(fd, &info));
	cap = info.max_pinned_pages;
	buf = thp_buf(blen);
	ASSERT_NE(NULL, buf);
	bp = blen / ps;
	n = cap / bp;
	rest = cap % bp;
	if (n > 8192)
		SKIP(goto out, "max_pinned_pages %llu is too large to reach here",
		     (unsigned long long)cap);
	t0 = pst_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		static const uint32_t fl[] = { 0, PINIO_PIN_WRITE, PINIO_PIN_LONGTERM,
					       PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, PINIO_PIN_GET };
		uint32_t f = fl[i % 5];

		h = ioc_pin(fd, buf, blen, f, 0, NULL);
		ASSERT_LT(0, h) TH_LOG("pin %llu of %llu: %s", (unsigned long long)i + 1,
				       (unsigned long long)n, strerror((int)-h));
		if (f & PINIO_PIN_GET)
			get_pages += bp;
		if (!first)
			first = h;
	}
	if (rest) {
		EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, (rest + 1) * ps, 0, 0, NULL));
		EXPECT_LT(0, ioc_pin(fd, buf, rest * ps, 0, 0, NULL));
	}
	ksft_print_msg("%llu pins of the same %zu KiB buffer up to the cap of %llu pages in %llu ms\n",
		       (unsigned long long)n + !!rest, blen / 1024,
		       (unsigned long long)cap, (unsigned long long)(pst_now_ns() - t0) / 1000000);
	/* Full: nothing more, in no mode. */
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, 0, 0, NULL));
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, PINIO_PIN_GET, 0, NULL));
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, PINIO_PIN_LONGTERM, 0, NULL));
	EXPECT_EQ((long long)cap - get_pages, pins_outstanding() - pins0);
	/* Long-term pins of the same folios are charged once. */
	EXPECT_EQ((long long)(blen / 1024), vmpin_kb(0));
	EXPECT_EQ(0, ioc_query(fd, first, &q));
	EXPECT_EQ(bp, q.nr_dma_pinned);
	/* The cap is per file. */
	fd2 = open(PINIO_DEV, O_RDWR);
	ASSERT_LE(0, fd2);
	EXPECT_LT(0, ioc_pin(fd2, buf, blen, PINIO_PIN_LONGTERM, 0, NULL));
	close(fd2);
	/* Room again after an unpin. */
	EXPECT_EQ(0, ioc_unpin(fd, first, 0));
	EXPECT_LT(0, ioc_pin(fd, buf, blen, 0, 0, NULL));
	EXPECT_EQ(-ENOMEM, ioc_pin(fd, buf, ps, 0, 0, NULL));
out:
	close(fd);
	EXPECT_EQ(0, pst_pins_settle(NULL, pins0, 3000));
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why))) TH_LOG("%s", why);
}

/* =================================================================================== */
/* Memory pressure                                                                     */
/* =================================================================================== */

/* The page frame numbers of [addr, addr + len) (0: not present), from /proc/self/pagemap. */
static void pfns_of(int pagemap, uint8_t *addr, size_t len, uint64_t *pfn)
{
	for (size_t i = 0; i < len / ps; i++) {
		unsigned long p = pagemap_get_pfn(pagemap, (char *)addr + i * ps);

		pfn[i] = p == -1UL ? 0 : p;
	}
}

TEST_F_TIMEOUT(fault, memory_pressure, 2 * FAULT_TIMEOUT)
{
	const bool full = getenv("PINIO_PRESSURE") && !strcmp(getenv("PINIO_PRESSURE"), "full");
	const size_t l1 = (full ? 32 : 8) * MiB, l2 = (full ? 16 : 8) * MiB;
	long long pins0 = pins_outstanding(), avail_kb;
	int fd = open(PINIO_DEV, O_RDWR), pagemap, status, bad = 0;
	uint8_t *p1 = touched(l1), *p2 = thp_buf(l2), *chk = touched(MiB);
	uint64_t *pfn1, *pfn2, *now1, *now2, hog, verified = 0;
	struct pinio_query q;
	long h1, h2;
	pid_t pid, reaped;
	char why[256];

	geometry();
	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, p1);
	ASSERT_NE(NULL, p2);
	ASSERT_NE(NULL, chk);
	fill_pattern(p1, l1, 21, 0);
	fill_pattern(p2, l2, 22, 0);
	h1 = ioc_pin(fd, p1, l1, PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, NULL);
	h2 = ioc_pin(fd, p2, l2, PINIO_PIN_WRITE, 0, NULL);
	ASSERT_LT(0, h1);
	ASSERT_LT(0, h2);
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, pagemap);
	pfn1 = calloc(l1 / ps, 8);
	pfn2 = calloc(l2 / ps, 8);
	now1 = calloc(l1 / ps, 8);
	now2 = calloc(l2 / ps, 8);
	ASSERT_TRUE(pfn1 && pfn2 && now1 && now2);
	pfns_of(pagemap, p1, l1, pfn1);
	pfns_of(pagemap, p2, l2, pfn2);

	/*
	 * How much to touch: $PINIO_PRESSURE "full" (all but 192 MiB of what is available),
	 * or MiB; by default a sixth of what is available (make test's short form).
	 */
	avail_kb = read_field("/proc/meminfo", "MemAvailable:", 10);
	ASSERT_LT(0, avail_kb);
	hog = avail_kb > 320 * 1024 ? (avail_kb - 192 * 1024) * 1024ULL : 128 * MiB;
	if (!getenv("PINIO_PRESSURE") || strcmp(getenv("PINIO_PRESSURE"), "full")) {
		uint64_t want = getenv("PINIO_PRESSURE") ? strtoull(getenv("PINIO_PRESSURE"), NULL, 0) *
				MiB : avail_kb * 1024ULL / 6;

		if (want && want < hog)
			hog = want;
	}
	ksft_print_msg("pressure: %llu MiB of anonymous memory touched, MemAvailable %lld MiB, %zu MiB pinned\n",
		       (unsigned long long)(hog >> 20), avail_kb >> 10,
		       (l1 + l2) >> 20);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (uint64_t done = 0; done < hog; done += 32 * MiB) {
			uint8_t *m = mmap(NULL, 32 * MiB, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

			if (m == MAP_FAILED)
				break;
			if (full && (done >> 25) % 4 == 0)	/* make compaction work */
				pst_write_file("/proc/sys/vm/compact_memory", "1");
		}
		pst_write_file("/proc/sys/vm/drop_caches", "3");
		pst_write_file("/proc/sys/vm/compact_memory", "1");
		pst_sleep_us(500000);
		_exit(0);
	}
	/* Meanwhile, the device works on the pinned pages. */
	reaped = 0;
	while (!reaped) {
		reaped = waitpid(pid, &status, WNOHANG);
		if (reaped < 0)
			break;
		uint64_t off = win.start;
		size_t at = (verified / MiB * 7 % (l1 / MiB)) * MiB;

		if (ioc_dma(fd, h1, PINIO_DMA_FROM_PAGES, at, off, MiB) != (long long)MiB ||
		    pread(fd, chk, MiB, off) != (ssize_t)MiB ||
		    pattern_mismatch(chk, MiB, 21, at) != MiB) {
			bad++;
			break;
		}
		verified += MiB;
	}
	if (!reaped)
		reaped = waitpid(pid, &status, 0);
	ASSERT_EQ(pid, reaped);
	EXPECT_LT(0, verified) TH_LOG("no DMA was checked while the hog ran");
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the memory hog ended with status %#x (OOM-killed?)", status);
	EXPECT_EQ(0, bad) TH_LOG("DMA from pinned pages under pressure gave wrong data");

	/* The pinned pages did not move and still hold their data. */
	{
		size_t moved = 0;

		pfns_of(pagemap, p1, l1, now1);
		pfns_of(pagemap, p2, l2, now2);
		for (size_t i = 0; i < l1 / ps; i++)
			moved += pfn1[i] && now1[i] != pfn1[i];
		for (size_t i = 0; i < l2 / ps; i++)
			moved += pfn2[i] && now2[i] != pfn2[i];
		EXPECT_EQ(0, moved) TH_LOG("%zu pinned pages moved", moved);
	}
	EXPECT_EQ(l1, pattern_mismatch(p1, l1, 21, 0));
	EXPECT_EQ(l2, pattern_mismatch(p2, l2, 22, 0));
	EXPECT_EQ(0, ioc_query(fd, h1, &q));
	EXPECT_EQ(l1 / ps, q.nr_dma_pinned);
	EXPECT_EQ(0, ioc_query(fd, h2, &q));
	EXPECT_EQ(l2 / ps, q.nr_dma_pinned);
	/* DMA into the pinned pages lands where the process sees it. */
	EXPECT_EQ((long long)MiB, ioc_dma(fd, h1, PINIO_DMA_FROM_PAGES, 0, win.start, MiB));
	EXPECT_EQ((long long)MiB, ioc_dma(fd, h2, PINIO_DMA_TO_PAGES, 0, win.start, MiB));
	EXPECT_EQ(MiB, pattern_mismatch(p2, MiB, 21, 0));
	ksft_print_msg("@@stat memory_pressure hog_mib %llu\n", (unsigned long long)(hog >> 20));
	ksft_print_msg("@@stat memory_pressure verified_mib %llu\n",
		       (unsigned long long)(verified >> 20));
	EXPECT_EQ(0, ioc_unpin(fd, h1, 0));
	EXPECT_EQ(0, ioc_unpin(fd, h2, PINIO_UNPIN_DIRTY));
	close(pagemap);
	close(fd);
	EXPECT_EQ(0, pst_pins_settle(NULL, pins0, 3000));
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why))) TH_LOG("%s", why);
}

static void restore_fault_injection(void)
{
	if (fi_touched)
		pst_fi_restore(&fi_saved);
}

int main(int argc, char **argv)
{
	argc = pst_parse_args(argc, argv, &seed, NULL);
	/* The tests run in children: save the knobs here, put them back when all are done. */
	if (pst_fi_available()) {
		pst_fi_save(&fi_saved);
		fi_touched = true;
		atexit(restore_fault_injection);
	}
	return test_harness_run(argc, argv);
}
