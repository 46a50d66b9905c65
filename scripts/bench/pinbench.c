// SPDX-License-Identifier: GPL-2.0
/*
 * pinbench: what pinning costs, pinio's PIN/UNPIN ioctls against the kernel's own gup_test
 * (/sys/kernel/debug/gup_test), on the same pre-faulted buffers, interleaved, in one process.
 *
 *   pinbench [--sizes LIST] [--ppc LIST] [--mem 4k,thp] [--rounds N] [--min-pages N]
 *            [--min-reps N] [--max-reps N]
 *
 * LIST is comma separated; sizes take K/M/G suffixes; a ppc (pages per call) of 0 or "all"
 * means all pages in one call. For every round, memory kind, size and ppc, each contender runs
 * `reps` times (more for small sizes: reps = clamp(min_pages / pages, min_reps, max_reps)),
 * and in every repetition the four contenders run in an order rotated by round and repetition:
 *
 *   pinio-fast  PINIO_IOC_PIN  (pin_user_pages_fast(FOLL_WRITE))           pin_ns, unpin_ns
 *   gup-a       PIN_FAST_BENCHMARK (pin_user_pages_fast(FOLL_WRITE))       get/put usec
 *   pinio-lt    PINIO_IOC_PIN LONGTERM (pin_user_pages_fast(FOLL_WRITE|FOLL_LONGTERM))
 *   gup-L       PIN_LONGTERM_BENCHMARK (pin_user_pages(FOLL_WRITE|FOLL_LONGTERM), mmap_lock held)
 *   pinio-bench PINIO_IOC_PIN BENCH: pin_user_pages_fast(FOLL_WRITE) and unpin_user_pages() in
 *               the same ioctl, as PIN_FAST_BENCHMARK (ABI 5)
 *   pinio-Lb    PINIO_IOC_PIN BENCH LONGTERM SLOW: pin_user_pages(FOLL_WRITE|FOLL_LONGTERM)
 *               under the mmap lock, and the unpin, in the same ioctl, as PIN_LONGTERM_BENCHMARK
 *               (which holds the lock across its unpin too; pinio drops it after the pin calls)
 *
 * Both sides time only the pin calls and only the unpin call, in the kernel, with ktime_get():
 * pinio reports nanoseconds, gup_test truncates to microseconds (ktime_us_delta()). Between
 * the two, gup_test walks all pinned pages untimed (verify_dma_pinned()); for pinio-fast and
 * pinio-lt pinbench issues an (untimed) PINIO_IOC_QUERY, which makes the same walk, so both
 * unpins find the pages alike; the bench modes make gup_test's own walk in the kernel.
 *
 * Output, one line per (round, memory, size, ppc, contender), with the median, minimum,
 * maximum and sum over the repetitions, in the contender's own unit (ns or us):
 *
 *   PIN round=R mem=4k|thp size=B pages=P ppc=N|all who=W unit=ns|us n=REPS
 *       pin_med=.. pin_min=.. pin_max=.. pin_sum=.. unpin_med=.. unpin_min=.. unpin_max=.. unpin_sum=..
 *
 * plus INFO lines (THP coverage of the THP buffer). A PROGRESS line per round goes to stderr,
 * which is left to drain (tcdrain) before the next round: in the guest stderr is a serial port,
 * and a UART draining while a timed section runs interrupts it. Send stdout to a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/pinio.h>
#include <mm/gup_test.h>

#include "pinio_util.h"

#define GUP_TEST_FILE "/sys/kernel/debug/gup_test"
#define FOLL_WRITE 0x01 /* as gup_test.c copies it from the kernel */
#define HPAGE (2UL << 20)
#define MAX_LIST 32
#define NWHO 6

static const char *const who_name[NWHO] = {
	"pinio-fast", "gup-a", "pinio-lt", "gup-L", "pinio-bench", "pinio-Lb",
};

/* gup_test's contenders (microseconds); the others are pinio's (nanoseconds). */
static int is_gup(int who)
{
	return who == 1 || who == 3;
}

static long page_size;
static int pinio_fd, gup_fd;

static void die(const char *what)
{
	fprintf(stderr, "pinbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int parse_list(char *s, unsigned long long *out, int is_ppc)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
		out[n++] = (is_ppc && !strcmp(tok, "all")) ? 0 : parse_size("pinbench", tok);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median (lower middle for even counts, so it is always an observed value). */
static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(n - 1) / 2];
}

/*
 * An anonymous private buffer as gup_test maps it, pre-faulted one write per page as gup_test
 * does; THP-advised (and 2 MiB aligned) or explicitly not.
 */
static uint8_t *map_buffer(size_t len, int thp)
{
	uint8_t *p = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (uint8_t *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
	if (madvise(a, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	for (size_t off = 0; off < len; off += page_size)
		a[off] = 0;
	return a;
}

/* One pin + unpin by a contender; times in its own unit. Returns 0 or -1. */
static int run_one(int who, uint8_t *buf, size_t len, unsigned int ppc, uint64_t *pin_t,
		   uint64_t *unpin_t)
{
	size_t pages = len / page_size;

	if (who == 4 || who == 5) {
		struct pinio_pin p = {
			.addr = (uintptr_t)buf, .len = len, .pages_per_call = ppc,
			.flags = PINIO_PIN_WRITE | PINIO_PIN_BENCH |
				 (who == 5 ? PINIO_PIN_LONGTERM | PINIO_PIN_SLOW : 0),
		};

		if (ioctl(pinio_fd, PINIO_IOC_PIN, &p))
			die("PINIO_IOC_PIN (PINIO_PIN_BENCH)");
		if (p.nr_pages != pages || p.handle) {
			fprintf(stderr, "pinbench: pinio's bench mode pinned %llu of %zu pages (handle %u)\n",
				p.nr_pages, pages, p.handle);
			exit(1);
		}
		*pin_t = p.pin_ns;
		*unpin_t = p.unpin_ns;
	} else if (who == 0 || who == 2) {
		struct pinio_pin p = {
			.addr = (uintptr_t)buf, .len = len, .pages_per_call = ppc,
			.flags = PINIO_PIN_WRITE | (who == 2 ? PINIO_PIN_LONGTERM : 0),
		};
		struct pinio_unpin u = { 0 };

		if (ioctl(pinio_fd, PINIO_IOC_PIN, &p))
			die("PINIO_IOC_PIN");
		if (p.nr_pages != pages) {
			fprintf(stderr, "pinbench: pinio pinned %llu of %zu pages\n", p.nr_pages, pages);
			exit(1);
		}
		u.handle = p.handle;
		/*
		 * gup_test walks every pinned page (verify_dma_pinned(), untimed) between its timed
		 * pin and unpin, which leaves the struct pages hot for the unpin. QUERY does the same
		 * walk, untimed, so that both unpins start alike.
		 */
		struct pinio_query q = { .handle = p.handle };

		if (ioctl(pinio_fd, PINIO_IOC_QUERY, &q))
			die("PINIO_IOC_QUERY");
		if (ioctl(pinio_fd, PINIO_IOC_UNPIN, &u))
			die("PINIO_IOC_UNPIN");
		*pin_t = p.pin_ns;
		*unpin_t = u.unpin_ns;
	} else {
		struct gup_test g = {
			.addr = (uintptr_t)buf, .size = len, .gup_flags = FOLL_WRITE,
			.nr_pages_per_call = ppc ? ppc : pages,
		};

		if (ioctl(gup_fd, who == 1 ? PIN_FAST_BENCHMARK : PIN_LONGTERM_BENCHMARK, &g))
			die("gup_test ioctl");
		if (g.size != len) {
			fprintf(stderr, "pinbench: gup_test pinned %llu of %zu bytes\n", g.size, len);
			exit(1);
		}
		*pin_t = g.get_delta_usec;
		*unpin_t = g.put_delta_usec;
	}
	return 0;
}

/*
 * Round @r of one case: @reps repetitions of every contender pinning @len bytes of @buf, @ppc
 * pages per call, in an order rotated by round and repetition; prints a PIN line per
 * contender. @pin_v and @unpin_v hold @max_reps samples per contender.
 */
static void run_case(int r, int thp, uint8_t *buf, size_t len, unsigned int ppc, long long reps,
		     int max_reps, uint64_t *pin_v, uint64_t *unpin_v)
{
	size_t pages = len / page_size;
	char ppc_s[16] = "all";

	if (ppc)
		snprintf(ppc_s, sizeof(ppc_s), "%u", ppc);
	for (int k = 0; k < reps; k++) {
		for (int j = 0; j < NWHO; j++) {
			int who = (j + r + k) % NWHO;

			run_one(who, buf, len, ppc, &pin_v[who * max_reps + k],
				&unpin_v[who * max_reps + k]);
		}
	}
	for (int who = 0; who < NWHO; who++) {
		uint64_t *pv = &pin_v[who * max_reps];
		uint64_t *uv = &unpin_v[who * max_reps];
		uint64_t ps = 0, us = 0, pmed, umed;

		for (int k = 0; k < reps; k++) {
			ps += pv[k];
			us += uv[k];
		}
		pmed = median(pv, reps);
		umed = median(uv, reps);
		printf("PIN round=%d mem=%s size=%zu pages=%zu ppc=%s who=%s unit=%s n=%lld pin_med=%llu pin_min=%llu pin_max=%llu pin_sum=%llu unpin_med=%llu unpin_min=%llu unpin_max=%llu unpin_sum=%llu\n",
		       r, thp ? "thp" : "4k", len, pages, ppc_s, who_name[who],
		       is_gup(who) ? "us" : "ns", reps, (unsigned long long)pmed,
		       (unsigned long long)pv[0], (unsigned long long)pv[reps - 1],
		       (unsigned long long)ps, (unsigned long long)umed, (unsigned long long)uv[0],
		       (unsigned long long)uv[reps - 1], (unsigned long long)us);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sizes", required_argument, 0, 's' }, { "ppc", required_argument, 0, 'p' },
		{ "mem", required_argument, 0, 'm' }, { "rounds", required_argument, 0, 'r' },
		{ "min-pages", required_argument, 0, 'P' }, { "min-reps", required_argument, 0, 'a' },
		{ "max-reps", required_argument, 0, 'b' }, { 0 },
	};
	char sizes_arg[512] = "4K,16K,64K,256K,1M,4M,16M,64M,256M", ppc_arg[128] = "1,512,all";
	char mem_arg[32] = "4k,thp";
	unsigned long long sizes[MAX_LIST], ppcs[MAX_LIST];
	int nsizes, nppc, rounds = 5, min_reps = 3, max_reps = 200, c;
	unsigned long long min_pages = 8192;
	int mems[2], nmem = 0;
	uint8_t *bufs[2] = { 0 };
	size_t max_size = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg);
			break;
		case 'p':
			snprintf(ppc_arg, sizeof(ppc_arg), "%s", optarg);
			break;
		case 'm':
			snprintf(mem_arg, sizeof(mem_arg), "%s", optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'P':
			min_pages = parse_size("pinbench", optarg);
			break;
		case 'a':
			min_reps = atoi(optarg);
			break;
		case 'b':
			max_reps = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: pinbench [--sizes L] [--ppc L] [--mem 4k,thp] [--rounds N] [--min-pages N] [--min-reps N] [--max-reps N]\n");
			return 2;
		}
	}
	nsizes = parse_list(sizes_arg, sizes, 0);
	nppc = parse_list(ppc_arg, ppcs, 1);
	if (strstr(mem_arg, "4k"))
		mems[nmem++] = 0;
	if (strstr(mem_arg, "thp"))
		mems[nmem++] = 1;
	for (int i = 0; i < nsizes; i++) {
		if (!sizes[i] || sizes[i] % page_size) {
			fprintf(stderr, "pinbench: size %llu is not a multiple of the page size\n",
				sizes[i]);
			return 2;
		}
		if (sizes[i] > max_size)
			max_size = sizes[i];
	}
	if (min_reps < 1 || max_reps < min_reps || rounds < 1)
		return 2;

	pinio_fd = open("/dev/pinio", O_RDWR);
	if (pinio_fd < 0)
		die("open /dev/pinio");
	{
		struct pinio_info info = { 0 };

		if (ioctl(pinio_fd, PINIO_IOC_INFO, &info) ||
		    (info.pin_flags & (PINIO_PIN_BENCH | PINIO_PIN_SLOW)) !=
		    (PINIO_PIN_BENCH | PINIO_PIN_SLOW)) {
			fprintf(stderr, "pinbench: this pinio has no PINIO_PIN_BENCH and PINIO_PIN_SLOW (ABI 5)\n");
			return 1;
		}
	}
	gup_fd = open(GUP_TEST_FILE, O_RDWR);
	if (gup_fd < 0)
		die("open " GUP_TEST_FILE);

	for (int m = 0; m < nmem; m++) {
		int thp = mems[m];
		long long kb;

		bufs[thp] = map_buffer(max_size, thp);
		kb = smaps_kb(bufs[thp], "AnonHugePages:");
		printf("INFO pin_buffer mem=%s size=%zu anon_huge_kb=%lld thp_fraction=%.3f\n",
		       thp ? "thp" : "4k", max_size, kb, kb < 0 ? -1.0 : kb * 1024.0 / max_size);
	}

	uint64_t *pin_v = malloc(sizeof(uint64_t) * max_reps * NWHO);
	uint64_t *unpin_v = malloc(sizeof(uint64_t) * max_reps * NWHO);

	if (!pin_v || !unpin_v)
		die("malloc");

	for (int r = 0; r < rounds; r++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int m = 0; m < nmem; m++) {
			int thp = mems[m];

			for (int s = 0; s < nsizes; s++) {
				size_t len = sizes[s], pages = len / page_size;
				long long reps = min_pages / pages;

				if (reps < min_reps)
					reps = min_reps;
				if (reps > max_reps)
					reps = max_reps;
				for (int q = 0; q < nppc; q++)
					run_case(r, thp, bufs[thp], len, ppcs[q], reps, max_reps,
						 pin_v, unpin_v);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fprintf(stderr, "PROGRESS pin round %d/%d done in %.1f s\n", r + 1, rounds,
			(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		fflush(stderr);
		tcdrain(STDERR_FILENO); /* fails harmlessly if stderr is no terminal */
	}
	return 0;
}
