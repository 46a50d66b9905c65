/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Asynchronous requests to /dev/pinio (src/requests/engine.rs), shared by pinio_async_test, the stress
 * test, the fuzzer, pinio-ctl and the experiments (pinio_exp.h): the engine's debugfs
 * counters, io_uring (liburing) and libaio submission and reaping with time limits, and the
 * O_DIRECT + fork experiment of the background mails (2020-08 bio/dio FOLL_PIN conversion,
 * 2023-01 iov_iter extraction) run with an asynchronous read in flight. No test harness here
 * (pinio-ctl uses it too).
 *
 * Programs that include it link -luring -laio (statically, Debian's liburing-dev 2.3 and
 * libaio-dev, installed by scripts/setup.sh).
 */
#ifndef _PINIO_ASYNC_H
#define _PINIO_ASYNC_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libaio.h>
#include <liburing.h>
#include <linux/pinio.h>

#include "pinio_ioctl.h"
#include "pinio_util.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static inline uint64_t async_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void async_sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the engine's counters (src/disk/counters.rs) ---------------------------------------- */

struct pinio_async_counters {
	long long queued;	/* async_queued: -EIOCBQUEUED returned */
	long long completed;	/* async_completed: ki_complete() called */
	long long inline_done;	/* async_inline: answered at once in the submitter's context */
	long long nowait_eagain;	/* EAGAIN answered under IOCB_NOWAIT */
	long long pages_got, pages_put, bytes_got;	/* FOLL_GET data path */
	long long pages_pinned, pages_unpinned, pages_listed;
	long long bytes_pinned, bytes_listed;
};

/* All of them from one read of the debugfs file; 0, or -1 if one is missing. */
static inline int async_counters_read(struct pinio_async_counters *c)
{
	static const struct counter_field fields[] = {
#define ASYNC_COUNTER(f, name) COUNTER_FIELD(struct pinio_async_counters, f, name)
		ASYNC_COUNTER(queued, "async_queued"),
		ASYNC_COUNTER(completed, "async_completed"),
		ASYNC_COUNTER(inline_done, "async_inline"),
		ASYNC_COUNTER(nowait_eagain, "nowait_eagain"),
		ASYNC_COUNTER(pages_got, "pages_got"),
		ASYNC_COUNTER(pages_put, "pages_put"),
		ASYNC_COUNTER(bytes_got, "bytes_got"),
		ASYNC_COUNTER(pages_pinned, "pages_pinned"),
		ASYNC_COUNTER(pages_unpinned, "pages_unpinned"),
		ASYNC_COUNTER(pages_listed, "pages_listed"),
		ASYNC_COUNTER(bytes_pinned, "bytes_pinned"),
		ASYNC_COUNTER(bytes_listed, "bytes_listed"),
#undef ASYNC_COUNTER
	};

	return counters_read_fields(c, sizeof(*c), fields, ARRAY_SIZE(fields));
}

/* Requests queued and not completed yet, device wide (one read: a consistent pair). */
static inline long long async_in_flight(void)
{
	struct pinio_async_counters c;

	if (async_counters_read(&c))
		return -1;
	return c.queued - c.completed;
}

/* Waits up to @ms for every queued request to complete; the requests still in flight. */
static inline long long async_settle(int ms)
{
	long long left = async_in_flight();

	for (int i = 0; left && i < ms / 10; i++) {
		async_sleep_us(10000);
		left = async_in_flight();
	}
	return left;
}

/* Waits up to @ms until async_queued reaches @target: whether it did. */
static inline bool async_wait_queued(long long target, int ms)
{
	for (int i = 0; i <= ms; i++) {
		if (pinio_counter("async_queued") >= target)
			return true;
		async_sleep_us(1000);
	}
	return false;
}

/* ---- io_uring ------------------------------------------------------------------------ */

/* Queues an IORING_OP_READ or _WRITE; -EBUSY if the submission queue is full. */
static inline int uring_queue_rw(struct io_uring *ring, bool write, int fd, void *buf,
				 unsigned int len, uint64_t off, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_write(sqe, fd, buf, len, off);
	else
		io_uring_prep_read(sqe, fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, data);
	return 0;
}

/* Queues an IORING_OP_READ_FIXED or _WRITE_FIXED of the registered buffer @index. */
static inline int uring_queue_rw_fixed(struct io_uring *ring, bool write, int fd, void *buf,
				       unsigned int len, uint64_t off, int index, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_write_fixed(sqe, fd, buf, len, off, index);
	else
		io_uring_prep_read_fixed(sqe, fd, buf, len, off, index);
	io_uring_sqe_set_data64(sqe, data);
	return 0;
}

/* Queues an IORING_OP_READV or _WRITEV; the iovec array must live until submission. */
static inline int uring_queue_rwv(struct io_uring *ring, bool write, int fd,
				  const struct iovec *iov, unsigned int n, uint64_t off,
				  uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_writev(sqe, fd, iov, n, off);
	else
		io_uring_prep_readv(sqe, fd, iov, n, off);
	io_uring_sqe_set_data64(sqe, data);
	return 0;
}

/* Queues an IORING_OP_ASYNC_CANCEL of the request with user_data @target. */
static inline int uring_queue_cancel(struct io_uring *ring, uint64_t target, uint64_t data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, data);
	return 0;
}

/* One completion: the request's user_data, its result, when it was reaped. */
struct uring_done {
	uint64_t data;
	int res;
	uint64_t t_us;
};

/*
 * Reaps up to @n completions, in the order the ring holds them, waiting at most @timeout_ms
 * in all; the number reaped (fewer if the time ran out), or -errno.
 */
static inline int uring_reap(struct io_uring *ring, int n, struct uring_done *out, int timeout_ms)
{
	uint64_t deadline = async_now_us() + (uint64_t)timeout_ms * 1000;
	int got = 0;

	while (got < n) {
		struct io_uring_cqe *cqe;
		uint64_t now = async_now_us();
		struct __kernel_timespec ts;
		int ret;

		if (now >= deadline)
			break;
		ts.tv_sec = (deadline - now) / 1000000;
		ts.tv_nsec = (deadline - now) % 1000000 * 1000;
		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (ret == -ETIME)
			break;
		if (ret == -EINTR)
			continue;
		if (ret)
			return ret;
		if (out) {
			out[got].data = io_uring_cqe_get_data64(cqe);
			out[got].res = cqe->res;
			out[got].t_us = async_now_us();
		}
		io_uring_cqe_seen(ring, cqe);
		got++;
	}
	return got;
}

/* ---- libaio -------------------------------------------------------------------------- */

/* Reaps up to @n events within @timeout_ms; the number reaped, or -errno. */
static inline int aio_reap(io_context_t ctx, int n, struct io_event *ev, int timeout_ms)
{
	uint64_t deadline = async_now_us() + (uint64_t)timeout_ms * 1000;
	int got = 0;

	while (got < n) {
		uint64_t now = async_now_us();
		struct timespec ts;
		int ret;

		if (now >= deadline)
			break;
		ts.tv_sec = (deadline - now) / 1000000;
		ts.tv_nsec = (deadline - now) % 1000000 * 1000;
		ret = io_getevents(ctx, 1, n - got, ev + got, &ts);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		got += ret;
	}
	return got;
}

/* ---- O_DIRECT + fork with a read in flight ------------------------------------------ */

/*
 * The page of the experiment holds DIO_FORK_OLD in both halves; the store holds DIO_FORK_DEVICE
 * where the read comes from; the parent writes DIO_FORK_PARENT into the second half while the
 * read into the first half is in flight, after fork().
 */
#define DIO_FORK_OLD	'P'
#define DIO_FORK_DEVICE	'D'
#define DIO_FORK_PARENT	'W'

struct dio_fork {
	/* in */
	bool get;		/* PINIO_CONFIG_GET_PAGES (FOLL_GET), else extraction (FOLL_PIN) */
	uint32_t latency_us;	/* the read's service time */
	uint64_t store_off;	/* a page-aligned page of the store the experiment may write */
	/* out */
	int res;		/* the read's completion: bytes, or -errno */
	int half;		/* bytes read: half a page */
	int parent[2];		/* first and second half as the parent sees them at the end */
	int child[2];		/* the same, as the child sees them */
	long long pins;		/* FOLL_PIN pins the read took (nr_foll_pin_acquired) */
	long long refs;		/* FOLL_GET references it took (pages_got) */
	uint64_t fork_us, write_us, done_us;	/* after the submission */
	char error[160];	/* why the experiment could not be run */
};

/* What the parent should see in the first half, where the device wrote. */
static inline int dio_fork_expected_parent(bool get)
{
	return get ? DIO_FORK_OLD : DIO_FORK_DEVICE;
}

/*
 * Whether the outcome is the one this kernel's semantics predict. Extraction (FOLL_PIN):
 * fork() copies the pinned page for the child, the parent keeps the page the device writes
 * into: parent {D, W}, child {P, P}. FOLL_GET: fork() shares the page, the parent's write
 * moves the parent to a copy, and the device's data lands in the page only the child still
 * maps: parent {P, W}, child {D, P}.
 */
static inline bool dio_fork_as_expected(const struct dio_fork *x)
{
	return x->res == x->half && x->parent[0] == dio_fork_expected_parent(x->get) &&
	       x->parent[1] == DIO_FORK_PARENT &&
	       x->child[0] == (x->get ? DIO_FORK_DEVICE : DIO_FORK_OLD) &&
	       x->child[1] == DIO_FORK_OLD;
}

/* Records why the experiment could not be run; -1. */
static inline int dio_fork_error(struct dio_fork *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->error, sizeof(x->error), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Submits an io_uring read of the device into the first half of a private anonymous page,
 * forks while it is in flight, writes the second half in the parent, and records what parent
 * and child see once the read completed. @say (may be NULL) prints each step. Returns 0 if
 * the experiment ran (its outcome in @x), -1 if it could not (why in x->error: set-up
 * failure, or the read completed before the parent's write: the latency was too short).
 */
static inline int dio_fork_run(struct dio_fork *x, void (*say)(const char *fmt, ...))
{
	struct pinio_config config = {
		.flags = x->get ? PINIO_CONFIG_GET_PAGES : 0,
		.latency_us = x->latency_us,
	};
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	int fd = -1, to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 }, ret = -1;
	struct pinio_async_counters c0, c1;
	bool ring_up = false;
	struct io_uring ring;
	struct uring_done done = { 0 };
	long long acquired0;
	uint8_t *page = NULL, *fill = NULL, view[2];
	uint64_t t0;
	pid_t pid = -1;

	x->half = ps / 2;
	x->res = 0;
	x->error[0] = 0;
	x->parent[0] = x->parent[1] = x->child[0] = x->child[1] = -1;
	fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	if (fd < 0) {
		dio_fork_error(x, "open %s: %s", PINIO_DEV, strerror(errno));
		goto out;
	}
	page = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || fill == MAP_FAILED) {
		page = fill = NULL;
		dio_fork_error(x, "mmap: %s", strerror(errno));
		goto out;
	}
	madvise(page, ps, MADV_NOHUGEPAGE);
	memset(fill, DIO_FORK_DEVICE, ps);
	if (pwrite(fd, fill, ps, x->store_off) != (ssize_t)ps) {
		dio_fork_error(x, "filling the store: %s", strerror(errno));
		goto out;
	}
	memset(page, DIO_FORK_OLD, ps);
	if (ioc_set_config(fd, &config)) {
		dio_fork_error(x, "PINIO_IOC_SET_CONFIG: %s", strerror(errno));
		goto out;
	}
	if (io_uring_queue_init(4, &ring, 0)) {
		dio_fork_error(x, "io_uring_queue_init failed");
		goto out;
	}
	ring_up = true;
	if (pipe(to_child) || pipe(from_child)) {
		dio_fork_error(x, "pipe: %s", strerror(errno));
		goto out;
	}
	if (say)
		say("1. a private anonymous page holds '%c'; the store holds '%c'; data path: %s, latency %u us\n",
		    DIO_FORK_OLD, DIO_FORK_DEVICE,
		    x->get ? "FOLL_GET references (iov_iter_get_pages2, PINIO_CONFIG_GET_PAGES)" :
			     "extraction (iov_iter_extract_pages: FOLL_PIN)", x->latency_us);

	if (async_counters_read(&c0)) {
		dio_fork_error(x, "no engine counters in %s", PINIO_COUNTERS);
		goto out;
	}
	acquired0 = vmstat_read("nr_foll_pin_acquired");
	t0 = async_now_us();
	if (uring_queue_rw(&ring, false, fd, page, x->half, x->store_off, 1) ||
	    io_uring_submit(&ring) != 1) {
		dio_fork_error(x, "io_uring submission failed");
		goto out;
	}
	/* In flight once the engine has queued it, with its pages taken. */
	if (!async_wait_queued(c0.queued + 1, 5000)) {
		dio_fork_error(x, "the read was not queued within 5 s");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		dio_fork_error(x, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		char c;

		close(to_child[1]);
		close(from_child[0]);
		if (read(to_child[0], &c, 1) != 1)
			_exit(1);
		view[0] = page[0];
		view[1] = page[x->half];
		_exit(write(from_child[1], view, 2) == 2 ? 0 : 1);
	}
	x->fork_us = async_now_us() - t0;
	memset(page + x->half, DIO_FORK_PARENT, ps - x->half);
	x->write_us = async_now_us() - t0;
	/* Counted only now: folding the vmstat counters can take a while. */
	async_counters_read(&c1);
	x->pins = vmstat_read("nr_foll_pin_acquired") - acquired0;
	x->refs = c1.pages_got - c0.pages_got;
	if (say) {
		say("2. io_uring READ of the first half queued by the engine, holding %lld FOLL_PIN pin(s), %lld FOLL_GET reference(s)\n",
		    x->pins, x->refs);
		say("3. fork() at +%llu us; the parent writes '%c' to the second half at +%llu us\n",
		    (unsigned long long)x->fork_us, DIO_FORK_PARENT,
		    (unsigned long long)x->write_us);
	}
	if (c1.completed != c0.completed) {
		dio_fork_error(x, "the read completed before the parent's write (+%llu us): latency %u us is too short here",
			       (unsigned long long)x->write_us, x->latency_us);
		goto out;
	}

	if (uring_reap(&ring, 1, &done, x->latency_us / 1000 + 10000) != 1) {
		dio_fork_error(x, "no completion within %u ms", x->latency_us / 1000 + 10000);
		goto out;
	}
	x->res = done.res;
	x->done_us = done.t_us - t0;
	x->parent[0] = page[0];
	x->parent[1] = page[x->half];
	if (write(to_child[1], "g", 1) != 1 || read(from_child[0], view, 2) != 2) {
		dio_fork_error(x, "no answer from the child");
		goto out;
	}
	x->child[0] = view[0];
	x->child[1] = view[1];
	if (say) {
		say("4. the read completed at +%llu us: %d bytes\n",
		    (unsigned long long)x->done_us, x->res);
		say("5. the parent sees '%c' '%c', the child sees '%c' '%c' (first, second half)\n",
		    x->parent[0], x->parent[1], x->child[0], x->child[1]);
	}
	ret = 0;
out:
	if (pid > 0) {
		close(to_child[1]);
		to_child[1] = -1;
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (to_child[i] >= 0)
			close(to_child[i]);
		if (from_child[i] >= 0)
			close(from_child[i]);
	}
	if (ring_up)
		io_uring_queue_exit(&ring);
	if (fd >= 0)
		close(fd);
	if (page)
		munmap(page, ps);
	if (fill)
		munmap(fill, ps);
	return ret;
}

#endif /* _PINIO_ASYNC_H */
