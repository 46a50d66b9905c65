// SPDX-License-Identifier: GPL-2.0
/*
 * iobench: a small load generator for the data-path comparison. Each thread loops pread() or
 * pwrite() of one block size over its own region of a file or device, timing every operation
 * with clock_gettime(CLOCK_MONOTONIC), and the run prints one machine-readable line. With
 * --qd N each thread instead keeps N io_uring READ or WRITE requests in flight (one ring per
 * thread, one buffer per request; completions reaped in batches, replacements submitted with
 * one io_uring_submit()), and an operation's time runs from its submission to its reaping.
 *
 *   iobench --path P --op read|write --bs BYTES [--threads N] [--span BYTES] [--qd N]
 *           [--duration-ms MS] [--warmup-ms MS] [--count N] [--direct] [--label NAME] [--tag TEXT]
 *   iobench --path P --fill BYTES [--direct]      write the first BYTES once (allocate backing)
 *
 * The span (default: the file's or device's size) is split into one region per thread, each a
 * multiple of the block size; a thread moves through its region block by block and wraps.
 * Buffers are page aligned private anonymous memory (not THP-advised), pre-faulted. Each thread
 * first runs warmup-ms untimed, then all start together and run duration-ms. With --count N
 * (synchronous only) each thread instead does exactly N operations and no warm-up: N = 0 sets
 * everything up (buffers mapped and faulted in) and moves nothing, which is what
 * scripts/insns.sh subtracts to count the instructions of N operations.
 *
 * Output (URING instead of IO, with qd=N, for --qd):
 *   IO label=L op=read bs=B threads=N ops=.. bytes=.. elapsed_ns=.. MBps=.. mean_ns=..
 *      p50_ns=.. p99_ns=.. max_ns=.. TAG
 * MB/s is 10^6 bytes per second; percentiles are over every timed operation of every thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <liburing.h>

#include "pinio_util.h"

#define MAX_SAMPLES (1u << 22) /* per thread; beyond that, ops are counted, not sampled */

struct worker {
	pthread_t tid;
	int idx;
	uint8_t *buf;
	off_t base;
	size_t region;
	uint32_t *lat;
	uint64_t nlat, ops, bytes;
	uint64_t end_ns;
	int err;
};

static int fd, is_write, nthreads, qd;
static size_t bs;
static uint64_t warmup_ns, duration_ns;
static long long count_ops = -1; /* --count: operations per thread, or -1 for --duration-ms */
static pthread_barrier_t barrier;
static uint64_t start_ns;

static void die(const char *what)
{
	fprintf(stderr, "iobench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *map_buf(size_t len)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + (i >> 12));
	return p;
}

static ssize_t do_op(struct worker *w, off_t off)
{
	return is_write ? pwrite(fd, w->buf, bs, off) : pread(fd, w->buf, bs, off);
}

/* Queues request @slot of @w's ring at its next position. */
static void uring_queue(struct worker *w, struct io_uring *ring, int slot, size_t *pos,
			uint64_t *t_sub)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	uint8_t *buf = w->buf + (size_t)slot * bs;

	if (is_write)
		io_uring_prep_write(sqe, fd, buf, bs, w->base + *pos);
	else
		io_uring_prep_read(sqe, fd, buf, bs, w->base + *pos);
	io_uring_sqe_set_data64(sqe, slot);
	*pos = (*pos + bs) % w->region;
	t_sub[slot] = now_ns();
}

/*
 * Keeps @qd requests in flight until @deadline, then lets them drain; @timed: record each
 * request's time from submission to reaping. 0, or an errno.
 */
static int uring_phase(struct worker *w, struct io_uring *ring, uint64_t *t_sub, size_t *pos,
		       uint64_t deadline, int timed)
{
	int inflight = 0, ret;

	for (int i = 0; i < qd; i++, inflight++)
		uring_queue(w, ring, i, pos, t_sub);
	ret = io_uring_submit(ring);
	if (ret != qd)
		return ret < 0 ? -ret : EIO;
	while (inflight) {
		struct io_uring_cqe *cqe;
		int more = 0, seen = 0;
		unsigned int head;
		uint64_t t1;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret)
			return -ret;
		t1 = now_ns();
		io_uring_for_each_cqe(ring, head, cqe) {
			int slot = (int)io_uring_cqe_get_data64(cqe);

			seen++;
			if (cqe->res != (int)bs)
				return cqe->res < 0 ? -cqe->res : EIO;
			if (timed) {
				if (w->nlat < MAX_SAMPLES)
					w->lat[w->nlat++] = t1 - t_sub[slot] > UINT32_MAX ?
							    UINT32_MAX : (uint32_t)(t1 - t_sub[slot]);
				w->ops++;
				w->bytes += bs;
			}
			if (t1 < deadline) {
				uring_queue(w, ring, slot, pos, t_sub);
				more++;
			} else {
				inflight--;
			}
		}
		io_uring_cq_advance(ring, seen);
		if (more && io_uring_submit(ring) != more)
			return EIO;
	}
	return 0;
}

/* A worker of --qd: its ring, an untimed warm-up, then the timed phase. */
static void *work_uring(void *arg)
{
	struct worker *w = arg;
	uint64_t *t_sub = calloc(qd, sizeof(*t_sub));
	struct io_uring ring;
	size_t pos = 0;

	if (!t_sub || io_uring_queue_init(qd, &ring, 0)) {
		w->err = ENOMEM;
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		return NULL;
	}
	w->err = uring_phase(w, &ring, t_sub, &pos, now_ns() + warmup_ns, 0);
	pthread_barrier_wait(&barrier);
	if (w->idx == 0)
		start_ns = now_ns();
	pthread_barrier_wait(&barrier);
	if (!w->err)
		w->err = uring_phase(w, &ring, t_sub, &pos, start_ns + duration_ns, 1);
	w->end_ns = now_ns();
	io_uring_queue_exit(&ring);
	free(t_sub);
	return NULL;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	size_t pos = 0;
	uint64_t t0, t1, deadline;

	/* Warm-up, untimed; none with --count. */
	deadline = now_ns() + warmup_ns;
	while (count_ops < 0) {
		if (do_op(w, w->base + pos) != (ssize_t)bs) {
			w->err = errno ? errno : EIO;
			break;
		}
		pos = (pos + bs) % w->region;
		if (now_ns() >= deadline)
			break;
	}
	pthread_barrier_wait(&barrier);
	if (w->idx == 0)
		start_ns = now_ns();
	pthread_barrier_wait(&barrier);
	deadline = start_ns + duration_ns;
	t0 = now_ns();
	while (!w->err && (count_ops < 0 || w->ops < (uint64_t)count_ops)) {
		ssize_t n = do_op(w, w->base + pos);

		t1 = now_ns();
		if (n != (ssize_t)bs) {
			w->err = n < 0 ? errno : EIO;
			break;
		}
		if (w->nlat < MAX_SAMPLES)
			w->lat[w->nlat++] = (t1 - t0) > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
		w->ops++;
		w->bytes += bs;
		pos = (pos + bs) % w->region;
		if (count_ops < 0 && t1 >= deadline)
			break;
		t0 = t1;
	}
	w->end_ns = now_ns();
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t target_size(int f)
{
	struct stat st;
	uint64_t sz = 0;

	if (fstat(f, &st))
		die("fstat");
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(f, BLKGETSIZE64, &sz))
			die("BLKGETSIZE64");
		return sz;
	}
	if (S_ISREG(st.st_mode))
		return st.st_size;
	sz = lseek(f, 0, SEEK_END); /* /dev/pinio: fixed_size_llseek */
	if ((off_t)sz == (off_t)-1)
		die("lseek(SEEK_END)");
	return sz;
}

static int fill_file(const char *path, size_t len, int direct)
{
	size_t chunk = 1 << 20;
	uint8_t *b = map_buf(chunk);
	int f = open(path, O_RDWR | O_CREAT | (direct ? O_DIRECT : 0), 0600);

	if (f < 0)
		die("open");
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (pwrite(f, b, n, off) != (ssize_t)n)
			die("fill pwrite");
	}
	if (fsync(f) && errno != EINVAL && errno != EROFS)
		die("fsync");
	close(f);
	printf("FILL path=%s bytes=%zu\n", path, len);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, 0, 'f' }, { "op", required_argument, 0, 'o' },
		{ "bs", required_argument, 0, 'b' }, { "threads", required_argument, 0, 't' },
		{ "span", required_argument, 0, 's' }, { "duration-ms", required_argument, 0, 'd' },
		{ "warmup-ms", required_argument, 0, 'w' }, { "direct", no_argument, 0, 'D' },
		{ "label", required_argument, 0, 'l' }, { "tag", required_argument, 0, 'T' },
		{ "fill", required_argument, 0, 'F' }, { "qd", required_argument, 0, 'q' },
		{ "count", required_argument, 0, 'n' }, { 0 },
	};
	const char *path = NULL, *label = "", *tag = "";
	int direct = 0, c;
	size_t span = 0, fill_len = 0;
	uint64_t dur_ms = 300, warm_ms = 30;
	struct worker *w;

	setvbuf(stdout, NULL, _IOLBF, 0);
	nthreads = 1;
	is_write = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			path = optarg;
			break;
		case 'o':
			is_write = !strcmp(optarg, "write") ? 1 : !strcmp(optarg, "read") ? 0 : -2;
			break;
		case 'b':
			bs = parse_size("iobench", optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 's':
			span = parse_size("iobench", optarg);
			break;
		case 'd':
			dur_ms = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			warm_ms = strtoull(optarg, NULL, 0);
			break;
		case 'D':
			direct = 1;
			break;
		case 'l':
			label = optarg;
			break;
		case 'T':
			tag = optarg;
			break;
		case 'F':
			fill_len = parse_size("iobench", optarg);
			break;
		case 'q':
			qd = atoi(optarg);
			break;
		case 'n':
			count_ops = strtoll(optarg, NULL, 0);
			break;
		default:
			goto usage;
		}
	}
	if (!path)
		goto usage;
	if (fill_len)
		return fill_file(path, fill_len, direct);
	if (is_write < 0 || !bs || nthreads < 1 || qd < 0 || (qd && count_ops >= 0))
		goto usage;

	fd = open(path, O_RDWR | (direct ? O_DIRECT : 0));
	if (fd < 0)
		die("open");
	if (!span)
		span = target_size(fd);
	size_t region = span / nthreads / bs * bs;

	if (!region) {
		fprintf(stderr, "iobench: span %zu too small for %d threads of %zu bytes\n", span,
			nthreads, bs);
		return 1;
	}
	warmup_ns = warm_ms * 1000000ull;
	duration_ns = dur_ms * 1000000ull;
	w = calloc(nthreads, sizeof(*w));
	if (!w)
		die("calloc");
	pthread_barrier_init(&barrier, NULL, nthreads);
	for (int i = 0; i < nthreads; i++) {
		w[i].idx = i;
		w[i].buf = map_buf(bs * (qd ? qd : 1));
		w[i].base = (off_t)region * i;
		w[i].region = region;
		w[i].lat = malloc(sizeof(uint32_t) * MAX_SAMPLES);
		if (!w[i].lat)
			die("malloc");
	}
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&w[i].tid, NULL, qd ? work_uring : work, &w[i]))
			die("pthread_create");
	uint64_t ops = 0, bytes = 0, nlat = 0, end = 0, sum = 0;

	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].err) {
			errno = w[i].err;
			die(is_write ? "pwrite" : "pread");
		}
		ops += w[i].ops;
		bytes += w[i].bytes;
		nlat += w[i].nlat;
		if (w[i].end_ns > end)
			end = w[i].end_ns;
	}
	uint32_t *all = malloc(sizeof(uint32_t) * (nlat ? nlat : 1));

	if (!all)
		die("malloc");
	for (int i = 0, k = 0; i < nthreads; i++)
		for (uint64_t j = 0; j < w[i].nlat; j++, k++) {
			all[k] = w[i].lat[j];
			sum += w[i].lat[j];
		}
	qsort(all, nlat, sizeof(*all), cmp_u32);
	uint64_t elapsed = end - start_ns;
	/* Nearest-rank percentiles. */
	uint64_t p50 = nlat ? all[(nlat * 50 + 99) / 100 - 1] : 0;
	uint64_t p99 = nlat ? all[(nlat * 99 + 99) / 100 - 1] : 0;

	if (qd)
		printf("URING qd=%d ", qd);
	printf("%slabel=%s op=%s bs=%zu threads=%d ops=%llu bytes=%llu elapsed_ns=%llu MBps=%.1f mean_ns=%llu p50_ns=%llu p99_ns=%llu max_ns=%llu samples=%llu%s%s\n",
	       qd ? "" : "IO ", label, is_write ? "write" : "read", bs, nthreads,
	       (unsigned long long)ops,
	       (unsigned long long)bytes, (unsigned long long)elapsed,
	       elapsed ? bytes * 1e3 / elapsed : 0.0,
	       (unsigned long long)(nlat ? sum / nlat : 0), (unsigned long long)p50,
	       (unsigned long long)p99, (unsigned long long)(nlat ? all[nlat - 1] : 0),
	       (unsigned long long)nlat, *tag ? " " : "", tag);
	return 0;
usage:
	fprintf(stderr, "usage: iobench --path P --op read|write --bs N [--threads N] [--span N]\n"
			"               [--qd N] [--duration-ms MS] [--warmup-ms MS] [--count N]\n"
			"               [--direct]\n"
			"               [--label L] [--tag TEXT]\n"
			"       iobench --path P --fill BYTES [--direct]\n");
	return 2;
}
