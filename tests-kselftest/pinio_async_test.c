// SPDX-License-Identifier: GPL-2.0
/*
 * pinio_async_test: asynchronous requests (io_uring, libaio) through pinio's DMA engine
 * (src/requests/engine.rs). An asynchronous read_iter/write_iter is checked like a synchronous one, takes
 * all its pages, returns -EIOCBQUEUED, and completes later on the module's workqueue after
 * the file's latency_us, at most queue_depth at a time per file, as completed or (FIFO) in
 * submission order. Under IOCB_NOWAIT (RWF_NOWAIT, io_uring's inline issue) it never sleeps:
 * EAGAIN for a page not present, a dma_delay_us wait or a full queue.
 *
 *   uring_read_write        IORING_OP_READ/WRITE, 512 B to 1 MiB: data, counters
 *   uring_checks_like_sync  misalignment, EOF, ENOSPC, EFAULT: the results of pread/pwrite
 *                           and of /dev/ram0 through io_uring
 *   uring_vectored          READV/WRITEV
 *   uring_vectored_contiguous  queued READV/WRITEV of segments side by side in a THP
 *   uring_fixed_listed      READ_FIXED/WRITE_FIXED arrive as BVEC iterators: listed, not
 *                           pinned (pages_listed, nr_foll_pin_acquired); plain READ/WRITE of
 *                           the same buffer pin
 *   queue_depths            depths 1..128 with data checks; never more in flight than the
 *                           depth; N requests at depth d take N/d latencies
 *   proof_of_asynchrony     8 requests of 200 ms at depth 8 finish in well under 8 x 200 ms
 *                           (io_uring and libaio)
 *   depth_1024_workers      1024 requests of 3 s in flight at once: the kworker count hardly
 *                           moves (they wait on a timer), all complete with their data
 *   starved_bounce_pool     16 concurrent 512 KiB requests, sync and async, on a tiny
 *                           bounce pool (make test's third boot): mappings wait for slots,
 *                           every request completes in full
 *   completion_order        as completed vs PINIO_CONFIG_FIFO (CQE order); EBUSY when the
 *                           order changes with requests in flight
 *   reaped_is_done          a reaped request is out of flight: the order may change, a
 *                           NOWAIT request at depth 1 finds the slot free (libaio)
 *   uring_cancel            IORING_OP_ASYNC_CANCEL of a request the engine holds, and of one
 *                           waiting in io-wq for a queue slot
 *   libaio_submit_cancel    io_submit/io_getevents, io_cancel (pinio has no cancel hook),
 *                           RWF_NOWAIT with a full queue, io_submit waiting for a slot
 *   nowait_sync             preadv2/pwritev2 RWF_NOWAIT: EAGAIN on pages not present
 *                           (nothing faulted in) and with dma_delay_us
 *   nowait_uring            io_uring into memory never touched, and with a full queue: the
 *                           inline NOWAIT issue gets EAGAIN, io-wq completes the request
 *   inflight_ring_exit      io_uring_queue_exit with requests in flight
 *   inflight_process_exit   the submitter exits, or is killed, with io_uring and libaio
 *   inflight_sigkill        requests in flight: they complete, their pages are released
 *   inflight_close          close of the fd with requests in flight
 *   inflight_munmap         munmap of the buffer while in flight (pin and get modes): the
 *                           data goes to the pages the request held, never to the new mapping
 *   inflight_unload         delete_module while requests are in flight: EWOULDBLOCK
 *   dio_fork_pin            the O_DIRECT + fork experiment with a read in flight: with
 *   dio_fork_get            extraction the data lands in the parent's page, with FOLL_GET
 *                           in the child's copy
 *   fault_injection         failslab/fail_page_alloc scoped to pinio while queuing: ENOMEM or
 *                           success, nothing leaks
 *
 * After every test (fixture teardown): every request completed (async_queued ==
 * async_completed), FOLL_PIN pins balanced system wide, and the data path's pins and FOLL_GET
 * references balanced in the debugfs counters.
 *
 * Store: the reliability tests' window (pinio_stress.h, [58 MiB, 63 MiB) of a 64 MiB store),
 * one range per test (REG_* below); reads also at the end of the store, no writes there.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "pinio_stress.h"
#include "pinio_async.h"

#define PG		4096UL

/* Offsets in the window. */
#define REG_RW		(0 * KiB)	/* 1536 KiB */
#define REG_VEC		(1536 * KiB)	/* 256 KiB */
#define REG_FIXED	(1792 * KiB)	/* 256 KiB */
#define REG_DEPTH	(2048 * KiB)	/* 1 MiB */
#define REG_TIMING	(3072 * KiB)	/* 512 KiB */
#define REG_ORDER	(3584 * KiB)	/* 64 KiB */
#define REG_NOWAIT	(3648 * KiB)	/* 128 KiB */
#define REG_CANCEL	(3776 * KiB)	/* 64 KiB */
#define REG_AIO		(3840 * KiB)	/* 128 KiB */
#define REG_TEAR	(3968 * KiB)	/* 512 KiB */
#define REG_FORK	(4480 * KiB)	/* 64 KiB */
#define REG_FAULT	(4544 * KiB)	/* 512 KiB */
#define WINDOW_NEEDED	(5056 * KiB)

/* Page-aligned private anonymous memory in small pages, @fill in every byte (-1: untouched). */
static uint8_t *buf_new(size_t len, int fill)
{
	uint8_t *p = map_small((len + PG - 1) / PG * PG);

	if (p && fill >= 0)
		memset(p, fill, len);
	return p;
}

/* A buffer holding the pattern @seed as at store offset @pos. */
static uint8_t *buf_pattern(size_t len, uint64_t seed, uint64_t pos)
{
	uint8_t *p = buf_new(len, 0);

	if (p)
		fill_pattern(p, len, seed, pos);
	return p;
}

static void buf_free(void *p, size_t len)
{
	if (p)
		munmap(p, (len + PG - 1) / PG * PG);
}

/* Writes the pattern @seed to [@off, @off + @len) of the store, synchronously. */
static int store_pattern(int fd, uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *b = buf_pattern(len, seed, off);
	ssize_t n = b ? pwrite(fd, b, len, off) : -1;

	buf_free(b, len);
	return n == (ssize_t)len ? 0 : -1;
}

/* Whether [@off, @off + @len) of the store holds the pattern @seed (read synchronously). */
static bool store_has(int fd, uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *b = buf_new(len, 0);
	bool ok = b && pread(fd, b, len, off) == (ssize_t)len &&
		  pattern_mismatch(b, len, seed, off) == len;

	buf_free(b, len);
	return ok;
}

static long delete_module(const char *name, unsigned int flags)
{
	return syscall(SYS_delete_module, name, flags);
}

static int set_config(int fd, uint32_t flags, uint32_t latency_us, uint32_t depth)
{
	struct pinio_config c = { .flags = flags, .latency_us = latency_us,
				  .queue_depth = depth };

	return ioc_set_config(fd, &c);
}

/* The completion of the request with user_data @data among @n, or NULL. */
static const struct uring_done *done_of(const struct uring_done *d, int n, uint64_t data)
{
	for (int i = 0; i < n; i++)
		if (d[i].data == data)
			return &d[i];
	return NULL;
}

FIXTURE(async) {
	int fd;
	uint64_t base;		/* the window's start */
	uint64_t store_size;
	struct pinio_async_counters c0;
};

FIXTURE_SETUP(async)
{
	struct pst_window w;

	self->fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", PINIO_DEV, strerror(errno));
	ASSERT_EQ(0, pst_window_get(self->fd, &w));
	ASSERT_LE(WINDOW_NEEDED, w.len) TH_LOG("the store window is too small");
	self->base = w.start;
	self->store_size = w.store_size;
	ASSERT_EQ(0, async_settle(20000)) TH_LOG("requests of an earlier program in flight");
	ASSERT_EQ(0, async_counters_read(&self->c0)) TH_LOG("no engine counters in debugfs");
}

FIXTURE_TEARDOWN(async)
{
	struct pinio_async_counters c;
	long long left;

	if (self->fd >= 0)
		close(self->fd);
	left = async_settle(30000);
	EXPECT_EQ(0, left) TH_LOG("%lld requests still in flight 30 s after the test", left);
	left = pst_pins_settle(NULL, 0, 5000);
	EXPECT_EQ(0, left) TH_LOG("%lld FOLL_PIN pins outstanding", left);
	ASSERT_EQ(0, async_counters_read(&c));
	EXPECT_EQ(c.pages_pinned, c.pages_unpinned);
	EXPECT_EQ(c.pages_got, c.pages_put);
	EXPECT_EQ(c.queued, c.completed);
}

/* ---- io_uring: the data path ---------------------------------------------------------- */

TEST_F_TIMEOUT(async, uring_read_write, 120)
{
	static const unsigned int sizes[] = { 512, 4096, 12800, 65536, 266240, 1048576 };
	const int n = ARRAY_SIZE(sizes);
	uint8_t *w[ARRAY_SIZE(sizes)], *r[ARRAY_SIZE(sizes)];
	uint64_t off[ARRAY_SIZE(sizes)], pos = self->base + REG_RW, total = 0;
	struct uring_done d[ARRAY_SIZE(sizes)];
	struct pinio_async_counters c0, c1;
	struct io_uring ring;

	ASSERT_EQ(0, io_uring_queue_init(16, &ring, 0));
	for (int i = 0; i < n; i++) {
		off[i] = pos;
		pos += (sizes[i] + PG - 1) / PG * PG;
		total += sizes[i];
		w[i] = buf_pattern(sizes[i], 11 + i, off[i]);
		r[i] = buf_new(sizes[i] + 512, 0x5a);
		ASSERT_NE(NULL, w[i]);
		ASSERT_NE(NULL, r[i]);
	}
	ASSERT_LE(pos, self->base + REG_VEC);
	/*
	 * Without a service time every request is served in the submitter's context and
	 * answered at once; with one, every request goes through the engine's queue.
	 */
	for (int pass = 0; pass < 2; pass++) {
		uint32_t lat = pass ? 100 : 0;

		ASSERT_EQ(0, set_config(self->fd, 0, lat, 0));
		ASSERT_EQ(0, async_counters_read(&c0));
		for (int i = 0; i < n; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, true, self->fd, w[i], sizes[i], off[i],
						    i));
		ASSERT_EQ(n, io_uring_submit(&ring));
		ASSERT_EQ(n, uring_reap(&ring, n, d, 20000));
		for (int i = 0; i < n; i++) {
			EXPECT_EQ((int)sizes[d[i].data], d[i].res)
				TH_LOG("write %llu", (unsigned long long)d[i].data);
		}
		for (int i = 0; i < n; i++) {
			memset(r[i], 0x5a, sizes[i] + 512);
			ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r[i], sizes[i], off[i],
						    i));
		}
		ASSERT_EQ(n, io_uring_submit(&ring));
		ASSERT_EQ(n, uring_reap(&ring, n, d, 20000));
		for (int i = 0; i < n; i++) {
			int k = d[i].data;

			EXPECT_EQ((int)sizes[k], d[i].res);
			EXPECT_EQ(sizes[k], pattern_mismatch(r[k], sizes[k], 11 + k, off[k]))
				TH_LOG("read of %u bytes: wrong data", sizes[k]);
			EXPECT_EQ(512, bytes_mismatch(r[k] + sizes[k], 512, 0x5a))
				TH_LOG("read of %u bytes wrote past its end", sizes[k]);
		}
		/* Every request through pinned user pages; inline, or through the engine. */
		ASSERT_EQ(0, async_counters_read(&c1));
		EXPECT_EQ(lat ? 0 : 2 * n, c1.inline_done - c0.inline_done);
		EXPECT_EQ(lat ? 2 * n : 0, c1.queued - c0.queued);
		EXPECT_EQ(lat ? 2 * n : 0, c1.completed - c0.completed);
		EXPECT_EQ(2 * total, c1.bytes_pinned - c0.bytes_pinned);
		EXPECT_EQ(c1.pages_pinned - c0.pages_pinned, c1.pages_unpinned - c0.pages_unpinned);
	}
	io_uring_queue_exit(&ring);
	for (int i = 0; i < n; i++) {
		buf_free(w[i], sizes[i]);
		buf_free(r[i], sizes[i] + 512);
	}
}

/* One request of uring_checks_like_sync. */
struct check_case {
	const char *what;
	bool write;
	int buf;		/* 0: valid, 1: PROT_NONE, 2: read-only, 3: misaligned by 1 */
	uint64_t off;		/* from the window's start, or the store's end (at_end) */
	bool at_end;
	unsigned int len;
	bool served;		/* passes the checks and is served (inline: no latency) */
};

/*
 * An asynchronous request is checked like a synchronous one: the same result as pread or
 * pwrite on the same file, and as the same io_uring request on /dev/ram0 with O_DIRECT.
 */
TEST_F_TIMEOUT(async, uring_checks_like_sync, 120)
{
	const struct check_case cases[] = {
		{ "misaligned offset", false, 0, REG_RW + 1, false, 4096, false },
		{ "misaligned length", false, 0, REG_RW, false, 100, false },
		{ "misaligned buffer", false, 3, REG_RW, false, 4096, false },
		{ "write, misaligned offset", true, 0, REG_RW + 256, false, 4096, false },
		{ "read at the end", false, 0, 0, true, 4096, false },
		{ "read past the end", false, 0, 4096, true, 4096, false },
		{ "read across the end", false, 0, -512ULL, true, 4096, true },
		{ "write at the end", true, 0, 0, true, 4096, false },
		{ "write past the end", true, 0, 8192, true, 4096, false },
		{ "zero-length read", false, 0, REG_RW, false, 0, false },
		{ "zero-length write", true, 0, REG_RW, false, 0, false },
		{ "read into PROT_NONE", false, 1, REG_RW, false, 4096, false },
		{ "write from PROT_NONE", true, 1, REG_RW, false, 4096, false },
		{ "read into read-only memory", false, 2, REG_RW, false, 4096, false },
	};
	int ram = open(RAM_DEV, O_RDWR | O_DIRECT), served = 0;
	uint8_t *ok = buf_new(8192, 0x33), *ro, *none;
	struct pinio_async_counters c1;
	struct io_uring ring;

	ASSERT_LE(0, ram) TH_LOG("open %s: %s", RAM_DEV, strerror(errno));
	ASSERT_EQ((long long)self->store_size, dev_size(ram));
	ro = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	none = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_NE(NULL, ok);
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct check_case *c = &cases[i];
		uint8_t *b = c->buf == 1 ? none : c->buf == 2 ? ro : c->buf == 3 ? ok + 1 : ok;
		uint64_t off = c->at_end ? self->store_size + c->off : self->base + c->off;
		struct uring_done d[2];
		int sync;

		errno = 0;
		if (c->write)
			sync = pwrite(self->fd, b, c->len, off);
		else
			sync = pread(self->fd, b, c->len, off);
		if (sync < 0)
			sync = -errno;
		ASSERT_EQ(0, uring_queue_rw(&ring, c->write, self->fd, b, c->len, off, 0));
		ASSERT_EQ(0, uring_queue_rw(&ring, c->write, ram, b, c->len, off, 1));
		ASSERT_EQ(2, io_uring_submit(&ring));
		ASSERT_EQ(2, uring_reap(&ring, 2, d, 10000));
		EXPECT_EQ(sync, done_of(d, 2, 0)->res)
			TH_LOG("%s: io_uring %d, pread/pwrite %d", c->what, done_of(d, 2, 0)->res,
			       sync);
		EXPECT_EQ(done_of(d, 2, 1)->res, done_of(d, 2, 0)->res)
			TH_LOG("%s: pinio %d, /dev/ram0 %d", c->what, done_of(d, 2, 0)->res,
			       done_of(d, 2, 1)->res);
		served += c->served;
	}
	io_uring_queue_exit(&ring);
	/* The failed ones were refused before any page was taken; only the short read was served. */
	ASSERT_EQ(0, async_counters_read(&c1));
	EXPECT_EQ(served, c1.inline_done - self->c0.inline_done);
	EXPECT_EQ(0, c1.queued - self->c0.queued);
	close(ram);
	munmap(ro, 8192);
	munmap(none, 8192);
	buf_free(ok, 8192);
}

TEST_F_TIMEOUT(async, uring_vectored, 120)
{
	static const size_t seg[] = { 512, 4096, 1536, 8192, 2048, 65536 };
	const uint64_t off = self->base + REG_VEC;
	struct iovec wv[ARRAY_SIZE(seg)], rv[ARRAY_SIZE(seg)];
	size_t total = 0;
	uint8_t *w = buf_new(128 * KiB, 0), *r = buf_new(128 * KiB, 0x5a);
	struct pinio_async_counters c1;
	struct uring_done d[2];
	struct io_uring ring;
	size_t pos = 0;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	/* Segments in a scattered order, with gaps between them. */
	for (size_t i = 0; i < ARRAY_SIZE(seg); i++) {
		fill_pattern(w + pos, seg[i], 21, off + total);
		wv[i] = (struct iovec){ w + pos, seg[i] };
		pos += seg[i] + 512;
		total += seg[i];
	}
	pos = 0;
	for (size_t i = 0; i < ARRAY_SIZE(seg); i++) {
		rv[i] = (struct iovec){ r + pos, seg[i] };
		pos += seg[i] + 1024;
	}
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	ASSERT_EQ(0, uring_queue_rwv(&ring, true, self->fd, wv, ARRAY_SIZE(seg), off, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)total, d[0].res);
	ASSERT_EQ(0, uring_queue_rwv(&ring, false, self->fd, rv, ARRAY_SIZE(seg), off, 2));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)total, d[0].res);
	pos = 0;
	for (size_t i = 0; i < ARRAY_SIZE(seg); i++) {
		EXPECT_EQ(seg[i], pattern_mismatch(rv[i].iov_base, seg[i], 21, off + pos))
			TH_LOG("segment %zu", i);
		EXPECT_EQ(1024, bytes_mismatch((uint8_t *)rv[i].iov_base + seg[i], 1024, 0x5a))
			TH_LOG("segment %zu: written past its end", i);
		pos += seg[i];
	}
	/* A misaligned segment: EINVAL, as preadv gives. */
	rv[2].iov_base = (uint8_t *)rv[2].iov_base + 1;
	EXPECT_EQ(-1, preadv(self->fd, rv, ARRAY_SIZE(seg), off));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, uring_queue_rwv(&ring, false, self->fd, rv, ARRAY_SIZE(seg), off, 3));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ(-EINVAL, d[0].res);
	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, async_counters_read(&c1));
	EXPECT_EQ(2, c1.inline_done - self->c0.inline_done);
	EXPECT_EQ(2 * total, c1.bytes_pinned - self->c0.bytes_pinned);
	buf_free(w, 128 * KiB);
	buf_free(r, 128 * KiB);
}

/*
 * A request that is queued holds all its pages at once, so the mapping merges buffer
 * segments side by side in memory: several in one page and then whole pages, in physically
 * contiguous memory (a THP where THP serves MADV_HUGEPAGE), into one entry that covers some
 * pages by several segments. The bytes of every page must go to and come from that page (a
 * merged run that listed a page once per segment sent the next page's bytes to it: seen as
 * corruption in pinio_stress_test).
 */
TEST_F_TIMEOUT(async, uring_vectored_contiguous, 120)
{
	static const size_t seg[] = { 512, 1536, 2048, 4096, 1024, 3072, 8192, 512, 3584 };
	const size_t n = ARRAY_SIZE(seg), len = 2 * MiB;
	const uint64_t off = self->base + REG_VEC;
	uint8_t *buf = map_thp(len), *out = buf_new(64 * KiB, 0);
	struct iovec iov[ARRAY_SIZE(seg)];
	struct uring_done d[1] = { 0 };
	struct io_uring ring;
	size_t total = 0;

	ASSERT_TRUE(buf && out);
	memset(buf, 0, len);
	for (size_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ buf + total, seg[i] };
		total += seg[i];
	}
	fill_pattern(buf, total, 0x79, off);
	/* A service time: the requests are queued, their pages taken all at once. */
	ASSERT_EQ(0, set_config(self->fd, 0, 100, 0));
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, uring_queue_rwv(&ring, true, self->fd, iov, n, off, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)total, d[0].res);
	ASSERT_EQ((ssize_t)total, pread(self->fd, out, total, off));
	EXPECT_EQ(total, pattern_mismatch(out, total, 0x79, off))
		TH_LOG("the queued writev's bytes did not land where they belong");
	memset(buf, 0, total);
	ASSERT_EQ(0, uring_queue_rwv(&ring, false, self->fd, iov, n, off, 2));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)total, d[0].res);
	EXPECT_EQ(total, pattern_mismatch(buf, total, 0x79, off))
		TH_LOG("the queued readv's bytes did not land where they belong");
	io_uring_queue_exit(&ring);
	munmap(buf, len);
	buf_free(out, 64 * KiB);
}

/*
 * Registered buffers: io_uring pinned them at registration (FOLL_PIN | FOLL_LONGTERM) and
 * hands READ_FIXED/WRITE_FIXED to the file as BVEC iterators, which pinio must list, not pin
 * again. The same requests with plain READ/WRITE of the same buffer pin every page.
 */
TEST_F_TIMEOUT(async, uring_fixed_listed, 120)
{
	const size_t len = 128 * KiB, npages = len / PG;
	const uint64_t off = self->base + REG_FIXED;
	uint8_t *buf = buf_new(2 * len, 0);
	struct pinio_async_counters a, b;
	struct iovec iov = { buf, 2 * len };
	struct uring_done d[2];
	struct io_uring ring;
	long long acq0, acq1, reg;

	ASSERT_NE(NULL, buf);
	fill_pattern(buf, len, 31, off);
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	/*
	 * Pins held, not taken: a long-term pin of a page in ZONE_MOVABLE or CMA (make test's
	 * second boot) first migrates it, taking and releasing a pin on the way.
	 */
	reg = pins_outstanding();
	ASSERT_EQ(0, io_uring_register_buffers(&ring, &iov, 1));
	reg = pins_outstanding() - reg;
	EXPECT_EQ(2 * (long long)npages, reg) TH_LOG("registration holds %lld pins", reg);

	acq0 = vmstat_read("nr_foll_pin_acquired");
	ASSERT_EQ(0, async_counters_read(&a));
	ASSERT_EQ(0, uring_queue_rw_fixed(&ring, true, self->fd, buf, len, off, 0, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)len, d[0].res);
	ASSERT_EQ(0, uring_queue_rw_fixed(&ring, false, self->fd, buf + len, len, off, 0, 2));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)len, d[0].res);
	acq1 = vmstat_read("nr_foll_pin_acquired");
	ASSERT_EQ(0, async_counters_read(&b));
	EXPECT_EQ(len, pattern_mismatch(buf + len, len, 31, off));
	EXPECT_EQ(0, acq1 - acq0) TH_LOG("fixed-buffer I/O took %lld FOLL_PIN pins", acq1 - acq0);
	EXPECT_EQ(2 * (long long)npages, b.pages_listed - a.pages_listed);
	EXPECT_EQ(0, b.pages_pinned - a.pages_pinned);
	EXPECT_EQ(2 * (long long)len, b.bytes_listed - a.bytes_listed);
	EXPECT_EQ(0, b.bytes_pinned - a.bytes_pinned);
	EXPECT_EQ(2, b.inline_done - a.inline_done);

	/* The same buffer through plain READ/WRITE: pinned. */
	acq0 = vmstat_read("nr_foll_pin_acquired");
	ASSERT_EQ(0, async_counters_read(&a));
	memset(buf + len, 0, len);
	ASSERT_EQ(0, uring_queue_rw(&ring, true, self->fd, buf, len, off, 3));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)len, d[0].res);
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, buf + len, len, off, 4));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	EXPECT_EQ((int)len, d[0].res);
	acq1 = vmstat_read("nr_foll_pin_acquired");
	ASSERT_EQ(0, async_counters_read(&b));
	EXPECT_EQ(len, pattern_mismatch(buf + len, len, 31, off));
	EXPECT_EQ(2 * (long long)npages, acq1 - acq0);
	EXPECT_EQ(2 * (long long)npages, b.pages_pinned - a.pages_pinned);
	EXPECT_EQ(0, b.pages_listed - a.pages_listed);

	ASSERT_EQ(0, io_uring_unregister_buffers(&ring));
	io_uring_queue_exit(&ring);
	buf_free(buf, 2 * len);
}

/* ---- queue depth, asynchrony, order ---------------------------------------------------- */

#define DEPTH_REQS	128		/* at most, per direction and depth */
#define DEPTH_LEN	(4 * KiB)

/* Reaps @n completions, sampling the engine's requests in flight in between; the most seen. */
static int reap_sampling(struct io_uring *ring, int n, struct uring_done *d, long long *most)
{
	uint64_t deadline = async_now_us() + 60000000ULL;
	int got = 0;

	*most = 0;
	while (got < n && async_now_us() < deadline) {
		long long now = async_in_flight();
		int ret;

		if (now > *most)
			*most = now;
		ret = uring_reap(ring, n - got, d + got, 2);
		if (ret < 0)
			return ret;
		got += ret;
	}
	return got;
}

TEST_F_TIMEOUT(async, queue_depths, 300)
{
	static const unsigned int depths[] = { 1, 2, 4, 8, 16, 32, 64, 128 };
	const uint64_t off = self->base + REG_DEPTH;
	uint8_t *w = buf_new(DEPTH_REQS * DEPTH_LEN, 0), *r = buf_new(DEPTH_REQS * DEPTH_LEN, 0);
	struct uring_done d[DEPTH_REQS];
	struct io_uring ring;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, io_uring_queue_init(DEPTH_REQS, &ring, 0));
	for (size_t k = 0; k < ARRAY_SIZE(depths); k++) {
		unsigned int depth = depths[k];
		int n = depth < 16 ? 32 : 2 * depth > DEPTH_REQS ? DEPTH_REQS : 2 * depth, bad = 0;
		long long most_w, most_r;

		ASSERT_EQ(0, set_config(self->fd, 0, 2000, depth));
		fill_pattern(w, n * DEPTH_LEN, 40 + depth, off);
		memset(r, 0, n * DEPTH_LEN);
		for (int i = 0; i < n; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, true, self->fd, w + i * DEPTH_LEN,
						    DEPTH_LEN, off + i * DEPTH_LEN, i));
		ASSERT_EQ(n, io_uring_submit(&ring));
		ASSERT_EQ(n, reap_sampling(&ring, n, d, &most_w));
		for (int i = 0; i < n; i++)
			bad += d[i].res != (int)DEPTH_LEN;
		for (int i = 0; i < n; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + i * DEPTH_LEN,
						    DEPTH_LEN, off + i * DEPTH_LEN, i));
		ASSERT_EQ(n, io_uring_submit(&ring));
		ASSERT_EQ(n, reap_sampling(&ring, n, d, &most_r));
		for (int i = 0; i < n; i++)
			bad += d[i].res != (int)DEPTH_LEN;
		ksft_print_msg("queue depth %3u: %d requests each way, at most %lld / %lld in flight\n",
			       depth, n, most_w, most_r);
		EXPECT_EQ(0, bad) TH_LOG("depth %u: %d requests did not move %llu bytes", depth,
					 bad, DEPTH_LEN);
		EXPECT_EQ(n * DEPTH_LEN, pattern_mismatch(r, n * DEPTH_LEN, 40 + depth, off))
			TH_LOG("depth %u: wrong data", depth);
		EXPECT_GE(depth, most_w) TH_LOG("depth %u: %lld writes in flight", depth, most_w);
		EXPECT_GE(depth, most_r) TH_LOG("depth %u: %lld reads in flight", depth, most_r);
	}

	/*
	 * N requests of latency L at depth d cannot finish in less than N / d x L (that they do
	 * overlap is proof_of_asynchrony's part).
	 */
	for (unsigned int depth = 1; depth <= 16; depth *= 4) {
		const unsigned int lat = 50000, n = 3 * depth;
		uint64_t t0, us;

		ASSERT_EQ(0, set_config(self->fd, 0, lat, depth));
		t0 = async_now_us();
		for (unsigned int i = 0; i < n; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + i * PG, PG,
						    off + i * PG, i));
		ASSERT_EQ((int)n, io_uring_submit(&ring));
		ASSERT_EQ((int)n, uring_reap(&ring, n, d, 60000));
		us = async_now_us() - t0;
		for (unsigned int i = 0; i < n; i++)
			EXPECT_EQ((int)PG, d[i].res);
		ksft_print_msg("queue depth %2u: %u requests of %u ms in %llu ms\n", depth, n,
			       lat / 1000, (unsigned long long)us / 1000);
		EXPECT_LE(n / depth * lat, us);
	}
	io_uring_queue_exit(&ring);
	buf_free(w, DEPTH_REQS * DEPTH_LEN);
	buf_free(r, DEPTH_REQS * DEPTH_LEN);
}

/*
 * The proof that requests are asynchronous: 8 requests of 200 ms service time at queue depth
 * 8, all queued by the engine, complete together: in well under 8 x 200 ms (< 800 ms from
 * before the submission to the last completion). Small requests, so that the time is the
 * service time, not the copy.
 */
TEST_F_TIMEOUT(async, proof_of_asynchrony, 120)
{
	const unsigned int n = 8, len = 4 * KiB, lat = 200000;
	const uint64_t off = self->base + REG_TIMING;
	uint8_t *w = buf_pattern(n * len, 51, off), *r = buf_new(n * len, 0);
	struct iocb cbs[8], *cbp[8];
	struct pinio_async_counters a, b;
	struct uring_done d[8];
	struct io_event ev[8];
	struct io_uring ring;
	io_context_t ctx = 0;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, set_config(self->fd, 0, lat, n));
	ASSERT_EQ(0, io_uring_queue_init(n, &ring, 0));
	for (int pass = 0; pass < 2; pass++) {
		bool write = pass == 0;
		uint64_t t0, t_sub, t_all;

		for (unsigned int i = 0; i < n; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, write, self->fd,
						    (write ? w : r) + i * len, len,
						    off + i * len, i));
		ASSERT_EQ(0, async_counters_read(&a));
		t0 = async_now_us();
		ASSERT_EQ((int)n, io_uring_submit(&ring));
		t_sub = async_now_us() - t0;
		ASSERT_EQ(0, async_counters_read(&b));
		EXPECT_EQ(n, b.queued - a.queued);
		ASSERT_EQ((int)n, uring_reap(&ring, n, d, 20000));
		t_all = async_now_us() - t0;
		for (unsigned int i = 0; i < n; i++)
			EXPECT_EQ((int)len, d[i].res);
		ksft_print_msg("io_uring: %u %ss of %u KiB, %u ms each, at depth %u: submitted in %llu us, all complete after %llu ms (one at a time: %u ms)\n",
			       n, write ? "write" : "read", len / 1024, lat / 1000, n,
			       (unsigned long long)t_sub, (unsigned long long)t_all / 1000,
			       n * lat / 1000);
		EXPECT_LE(lat, t_all);
		EXPECT_GT(4 * lat, t_all) TH_LOG("8 requests of 200 ms took %llu ms",
						 (unsigned long long)t_all / 1000);
	}
	EXPECT_EQ(n * len, pattern_mismatch(r, n * len, 51, off));
	io_uring_queue_exit(&ring);

	/* The same with libaio. */
	memset(r, 0, n * len);
	ASSERT_EQ(0, io_setup(n, &ctx));
	for (unsigned int i = 0; i < n; i++) {
		io_prep_pread(&cbs[i], self->fd, r + i * len, len, off + i * len);
		cbp[i] = &cbs[i];
	}
	{
		uint64_t t0 = async_now_us(), t_sub, t_all;

		ASSERT_EQ((int)n, io_submit(ctx, n, cbp));
		t_sub = async_now_us() - t0;
		ASSERT_EQ((int)n, aio_reap(ctx, n, ev, 20000));
		t_all = async_now_us() - t0;
		for (unsigned int i = 0; i < n; i++)
			EXPECT_EQ((long)len, (long)ev[i].res);
		ksft_print_msg("libaio: %u reads of %u KiB, %u ms each: submitted in %llu us, all complete after %llu ms\n",
			       n, len / 1024, lat / 1000, (unsigned long long)t_sub,
			       (unsigned long long)t_all / 1000);
		EXPECT_LE(lat, t_all);
		EXPECT_GT(4 * lat, t_all);
	}
	EXPECT_EQ(n * len, pattern_mismatch(r, n * len, 51, off));
	io_destroy(ctx);
	buf_free(w, n * len);
	buf_free(r, n * len);
}

/* kworker threads in the system now, or -1. */
static int kworkers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "kworker/", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * 1024 requests in flight at once (the largest queue depth), each with a service time: they
 * wait on the file's timer, not in workers, so the kernel's kworker count hardly moves (a
 * worker per request in flight, sleeping out its latency, would add hundreds), and they all
 * complete, with their data, after the latency. The verdict needs all 1024 submitted before
 * the first completes: on a loaded host, where submitting took longer than the service time,
 * the test runs once more with a service time well beyond what submitting took.
 */
TEST_F_TIMEOUT(async, depth_1024_workers, 240)
{
	enum { N = PINIO_QUEUE_DEPTH_MAX };
	const uint32_t len = 4 * KiB;
	const uint64_t off = self->base + REG_DEPTH;
	uint8_t *r = buf_new((size_t)N * len, 0);
	static struct uring_done d[N];
	struct pinio_async_counters a;
	int before, during, bad = 0;
	uint64_t t0, t_sub = 0, t_all;
	uint32_t lat = 3000000;
	long long in_flight;
	struct io_uring ring;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off, 16 * len, 71));
	ASSERT_EQ(0, io_uring_queue_init(N, &ring, 0));
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt) {
			/* Three times what submitting took, within the test's time. */
			lat = t_sub * 3 > 60000000 ? 60000000 : t_sub * 3;
			ksft_print_msg("submitting took longer than the service time: again, with %u ms\n",
				       lat / 1000);
		}
		ASSERT_EQ(0, set_config(self->fd, 0, lat, N));
		for (int i = 0; i < N; i++)
			ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + (size_t)i * len,
						    len, off + (i % 16) * len, i));
		before = kworkers();
		ASSERT_LT(0, before);
		ASSERT_EQ(0, async_counters_read(&a));
		t0 = async_now_us();
		ASSERT_EQ(N, io_uring_submit(&ring));
		t_sub = async_now_us() - t0;
		during = kworkers();
		in_flight = async_in_flight();
		ASSERT_EQ(N, uring_reap(&ring, N, d, 2 * lat / 1000 + 60000));
		t_all = async_now_us() - t0;
		ksft_print_msg("%d reads of %u ms in flight at once (submitted in %llu ms, %lld in flight after): kworkers %d before, %d while they waited; all complete after %llu ms\n",
			       N, lat / 1000, (unsigned long long)t_sub / 1000, in_flight, before,
			       during, (unsigned long long)t_all / 1000);
		for (int i = 0; i < N; i++) {
			int k = d[i].data;

			if (d[i].res != (int)len ||
			    pattern_mismatch(r + (size_t)k * len, len, 71,
					     off + (k % 16) * len) != len)
				bad++;
		}
		EXPECT_EQ(0, bad) TH_LOG("%d of %d reads came back wrong", bad, N);
		if (t_sub < lat)
			break;
	}
	ASSERT_LT(t_sub, lat) TH_LOG("submitting took longer than the service time twice: no verdict");
	EXPECT_EQ(N, in_flight);
	EXPECT_GE(before + 4, during) TH_LOG("%d more kworkers with %d requests waiting",
					       during - before, N);
	EXPECT_LE(lat, t_all);
	io_uring_queue_exit(&ring);
	buf_free(r, (size_t)N * len);
}

/* One of starved_bounce_pool's requests: its own file, one 512 KiB read or write. */
struct starved_req {
	uint64_t off;
	uint8_t *buf;
	bool write, async;
	int res;		/* the byte count, or -errno */
};

#define STARVED_LEN	(512 * KiB)

static void *starved_one(void *arg)
{
	struct starved_req *q = arg;
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	struct uring_done d;
	struct io_uring ring;

	q->res = -EBADF;
	if (fd < 0)
		return NULL;
	if (!q->async) {
		ssize_t n = q->write ? pwrite(fd, q->buf, STARVED_LEN, q->off) :
				       pread(fd, q->buf, STARVED_LEN, q->off);

		q->res = n < 0 ? -errno : (int)n;
	} else if (!set_config(fd, 0, 1000, 0) && !io_uring_queue_init(2, &ring, 0)) {
		/* A service time of 1 ms: completed by the engine's work, not inline. */
		if (!uring_queue_rw(&ring, q->write, fd, q->buf, STARVED_LEN, q->off, 0) &&
		    io_uring_submit(&ring) == 1 && uring_reap(&ring, 1, &d, 60000) == 1)
			q->res = d.res;
		io_uring_queue_exit(&ring);
	}
	close(fd);
	return NULL;
}

/*
 * Sixteen 512 KiB requests at once, each on its own file, synchronous and through the engine:
 * with swiotlb=128,force (a 256 KiB bounce pool, make test's third boot) their mappings run
 * out of bounce slots, wait for them and complete in full, as a block device's requests are
 * requeued on BLK_STS_RESOURCE; none fails with ENOMEM. Elsewhere the same requests must
 * complete too; only with a pool smaller than their demand must mappings have waited.
 */
TEST_F_TIMEOUT(async, starved_bounce_pool, 240)
{
	enum { N = 16 };
	const uint64_t off = self->base + REG_FAULT;
	long long slots = pinio_counter("swiotlb_slots");
	struct starved_req q[N];
	pthread_t t[N];
	long long w0;
	int bad = 0;

	ASSERT_EQ(0, store_pattern(self->fd, off, STARVED_LEN, 81));
	for (int i = 0; i < N; i++) {
		q[i].buf = buf_new(STARVED_LEN, 0);
		ASSERT_NE(NULL, q[i].buf);
	}
	w0 = pinio_counter("dma_map_waits");
	for (int pass = 0; pass < 4; pass++) {
		bool write = pass & 1, async = pass & 2;

		for (int i = 0; i < N; i++) {
			q[i] = (struct starved_req){ off, q[i].buf, write, async, 0 };
			if (write)
				fill_pattern(q[i].buf, STARVED_LEN, 81, off);
			else
				memset(q[i].buf, 0, STARVED_LEN);
			ASSERT_EQ(0, pthread_create(&t[i], NULL, starved_one, &q[i]));
		}
		for (int i = 0; i < N; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < N; i++) {
			if (q[i].res != (int)STARVED_LEN ||
			    (!write && pattern_mismatch(q[i].buf, STARVED_LEN, 81, off) != STARVED_LEN)) {
				bad++;
				ksft_print_msg("%s %s %d: %d\n", async ? "io_uring" : "sync",
					       write ? "write" : "read", i, q[i].res);
			}
		}
	}
	EXPECT_EQ(0, bad) TH_LOG("%d of %d requests did not complete in full", bad, 4 * N);
	EXPECT_TRUE(store_has(self->fd, off, STARVED_LEN, 81));
	ksft_print_msg("bounce pool of %lld slots (2 KiB): %lld mapping waits for %d requests of 512 KiB, 16 at a time\n",
		       slots, pinio_counter("dma_map_waits") - w0, 4 * N);
	/* Sixteen 256 KiB batches at once need 2048 slots: a smaller pool must have run dry. */
	if (slots > 0 && slots < 2048)
		EXPECT_LT(w0, pinio_counter("dma_map_waits"));
	for (int i = 0; i < N; i++)
		buf_free(q[i].buf, STARVED_LEN);
}

/*
 * Four requests submitted with service times 800, 600, 400 and 200 ms: as completed they come
 * back in reverse, with PINIO_CONFIG_FIFO in submission order (CQE order). Switching the
 * order with requests in flight is refused (EBUSY).
 */
TEST_F_TIMEOUT(async, completion_order, 120)
{
	const uint64_t off = self->base + REG_ORDER;
	uint8_t *r = buf_new(4 * PG, 0);
	struct pinio_config cfg;
	struct uring_done d[4];
	struct io_uring ring;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off, 4 * PG, 61));
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	for (int fifo = 0; fifo < 2; fifo++) {
		uint32_t flags = fifo ? PINIO_CONFIG_FIFO : 0;
		char order[16];

		memset(r, 0, 4 * PG);
		for (int i = 0; i < 4; i++) {
			ASSERT_EQ(0, set_config(self->fd, flags, 800000 - i * 200000, 0));
			ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + i * PG, PG,
						    off + i * PG, i));
			ASSERT_EQ(1, io_uring_submit(&ring));
		}
		/* Changing the order now would reorder requests in flight. */
		EXPECT_EQ(-EBUSY, set_config(self->fd, fifo ? 0 : PINIO_CONFIG_FIFO, 0, 0));
		ASSERT_EQ(0, ioc_get_config(self->fd, &cfg));
		EXPECT_EQ(flags, cfg.flags);
		EXPECT_EQ(200000, cfg.latency_us);
		EXPECT_EQ(PINIO_QUEUE_DEPTH_DEFAULT, cfg.queue_depth);
		ASSERT_EQ(4, uring_reap(&ring, 4, d, 20000));
		for (int i = 0; i < 4; i++) {
			order[i] = '0' + d[i].data;
			EXPECT_EQ((int)PG, d[i].res);
		}
		order[4] = 0;
		ksft_print_msg("%s: completions in the order %s\n",
			       fifo ? "FIFO" : "as completed", order);
		EXPECT_STREQ(fifo ? "0123" : "3210", order);
		EXPECT_EQ(4 * PG, pattern_mismatch(r, 4 * PG, 61, off));
	}
	/* With nothing in flight the order may change. */
	EXPECT_EQ(0, set_config(self->fd, 0, 0, 0));
	io_uring_queue_exit(&ring);
	buf_free(r, 4 * PG);
}

/*
 * A request whose completion was reaped is no longer in flight: the order may change at once
 * (no EBUSY), and at queue depth 1 the next request takes the slot at once, even under
 * RWF_NOWAIT (no EAGAIN). libaio, whose ki_complete() posts the event from the engine's
 * worker directly, so the caller may reap it while that worker is still running.
 */
TEST_F_TIMEOUT(async, reaped_is_done, 120)
{
	const uint64_t off = self->base + REG_AIO;
	const int rounds = 200;
	uint8_t *r = buf_new(PG, 0);
	struct iocb cb, *cbp = &cb;
	struct io_event ev;
	io_context_t ctx = 0;
	uint32_t flags = 0;
	int busy = 0, again = 0, ret;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, io_setup(4, &ctx));
	/* The shortest service time: each request is queued, served by the worker. */
	ASSERT_EQ(0, set_config(self->fd, flags, 1, 1));
	for (int i = 0; i < rounds; i++) {
		io_prep_pread(&cb, self->fd, r, PG, off);
		cb.aio_rw_flags = i % 4 < 2 ? 0 : RWF_NOWAIT;
		ASSERT_EQ(1, io_submit(ctx, 1, &cbp));
		ASSERT_EQ(1, aio_reap(ctx, 1, &ev, 10000));
		if (ev.res == -EAGAIN)
			again++;
		else
			ASSERT_EQ((long)PG, (long)ev.res);
		ret = set_config(self->fd, flags ^ PINIO_CONFIG_FIFO, 1, 1);
		if (ret == -EBUSY) {
			busy++;
			ASSERT_EQ(0, async_settle(5000));
			ret = set_config(self->fd, flags ^ PINIO_CONFIG_FIFO, 1, 1);
		}
		ASSERT_EQ(0, ret);
		flags ^= PINIO_CONFIG_FIFO;
	}
	EXPECT_EQ(0, busy) TH_LOG("%d of %d order changes after the reap answered EBUSY",
				  busy, rounds);
	EXPECT_EQ(0, again) TH_LOG("%d of %d RWF_NOWAIT reads at depth 1 found the slot taken",
				   again, rounds);
	ASSERT_EQ(0, io_destroy(ctx));
	buf_free(r, PG);
}

/* ---- cancel ---------------------------------------------------------------------------- */

/*
 * IORING_OP_ASYNC_CANCEL: a request the engine holds (the inline issue returned -EIOCBQUEUED)
 * is no longer io_uring's to cancel and pinio registers no cancel hook, as a block device:
 * ENOENT, and the request completes with its data. A request io_uring punted to io-wq (the
 * queue was full under NOWAIT) and that now waits in pinio for a slot is running: EALREADY,
 * io-wq interrupts the worker, and pinio's interruptible wait for a slot ends the request
 * with EINTR.
 */
TEST_F_TIMEOUT(async, uring_cancel, 120)
{
	const uint64_t off = self->base + REG_CANCEL;
	uint8_t *a = buf_new(PG, 0), *b = buf_new(PG, 0x77);
	const struct uring_done *da, *db, *ca, *cb;
	struct uring_done d[4];
	struct io_uring ring;
	bool waiting = false;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, store_pattern(self->fd, off, 2 * PG, 71));
	ASSERT_EQ(0, set_config(self->fd, 0, 2000000, 1));
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, a, PG, off, 1));
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, b, PG, off + PG, 2));
	ASSERT_EQ(2, io_uring_submit(&ring));
	ASSERT_TRUE(async_wait_queued(self->c0.queued + 1, 2000));
	/* The second waits for the slot in an io-wq worker of this process. */
	for (int i = 0; i < 200 && !waiting; i++) {
		waiting = pst_in_pinio(getpid());
		if (!waiting)
			async_sleep_us(5000);
	}
	ASSERT_TRUE(waiting) TH_LOG("no io-wq worker of this process waits in pinio");
	ASSERT_EQ(0, uring_queue_cancel(&ring, 1, 101));
	ASSERT_EQ(0, uring_queue_cancel(&ring, 2, 102));
	ASSERT_EQ(2, io_uring_submit(&ring));
	ASSERT_EQ(4, uring_reap(&ring, 4, d, 20000));
	da = done_of(d, 4, 1);
	db = done_of(d, 4, 2);
	ca = done_of(d, 4, 101);
	cb = done_of(d, 4, 102);
	ASSERT_TRUE(da && db && ca && cb);
	ksft_print_msg("cancel of the queued request: %d (%s), the request: %d; cancel of the waiting one: %d (%s), the request: %d (%s)\n",
		       ca->res, strerror(-ca->res), da->res, cb->res, strerror(-cb->res), db->res,
		       db->res < 0 ? strerror(-db->res) : "bytes");
	EXPECT_EQ(-ENOENT, ca->res);
	EXPECT_EQ((int)PG, da->res);
	EXPECT_EQ(PG, pattern_mismatch(a, PG, 71, off));
	/*
	 * Before 7.3, __io_async_cancel() signals the running request, goes on looking for it (in
	 * poll, timeouts, then every task's io-wq) and answers ENOENT if the worker is done by
	 * then (seen on a loaded machine); 7.3 remembers it found it running (cd->running).
	 */
	EXPECT_TRUE(cb->res == -EALREADY || (kernel_before(7, 3) && cb->res == -ENOENT))
		TH_LOG("cancel of the waiting one: %d, not EALREADY", cb->res);
	EXPECT_EQ(-EINTR, db->res);
	EXPECT_EQ(PG, bytes_mismatch(b, PG, 0x77)) TH_LOG("the interrupted read wrote");
	io_uring_queue_exit(&ring);
	buf_free(a, PG);
	buf_free(b, PG);
}

/* ---- libaio ---------------------------------------------------------------------------- */

TEST_F_TIMEOUT(async, libaio_submit_cancel, 120)
{
	const uint64_t off = self->base + REG_AIO;
	uint8_t *w = buf_pattern(64 * KiB, 81, off), *r = buf_new(64 * KiB, 0);
	struct iocb cb[4], *cbp[4] = { &cb[0], &cb[1], &cb[2], &cb[3] };
	struct iovec iov[2];
	struct io_event ev[4];
	io_context_t ctx = 0;
	uint64_t t0, t;
	int ret;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, io_setup(8, &ctx));
	ASSERT_EQ(0, set_config(self->fd, 0, 50000, 0));

	/* io_submit of writes (plain and vectored), then reads back. */
	io_prep_pwrite(&cb[0], self->fd, w, 32 * KiB, off);
	iov[0] = (struct iovec){ w + 32 * KiB, 4 * KiB };
	iov[1] = (struct iovec){ w + 36 * KiB, 28 * KiB };
	io_prep_pwritev(&cb[1], self->fd, iov, 2, off + 32 * KiB);
	ASSERT_EQ(2, io_submit(ctx, 2, cbp));
	ASSERT_EQ(2, aio_reap(ctx, 2, ev, 10000));
	EXPECT_EQ(32 * KiB, ev[0].res);
	EXPECT_EQ(32 * KiB, ev[1].res);
	io_prep_pread(&cb[0], self->fd, r, 32 * KiB, off);
	io_prep_pread(&cb[1], self->fd, r + 32 * KiB, 32 * KiB, off + 32 * KiB);
	ASSERT_EQ(2, io_submit(ctx, 2, cbp));
	ASSERT_EQ(2, aio_reap(ctx, 2, ev, 10000));
	EXPECT_EQ(32 * KiB, ev[0].res);
	EXPECT_EQ(32 * KiB, ev[1].res);
	EXPECT_EQ(64 * KiB, pattern_mismatch(r, 64 * KiB, 81, off));

	/*
	 * io_cancel finds only requests whose file registered a cancel callback
	 * (kiocb_set_cancel_fn, as USB gadgets do); pinio, like a block device, has none: EINVAL,
	 * and the request completes with its data.
	 */
	memset(r, 0, 64 * KiB);
	ASSERT_EQ(0, set_config(self->fd, 0, 300000, 0));
	io_prep_pread(&cb[0], self->fd, r, 8 * KiB, off);
	ASSERT_EQ(1, io_submit(ctx, 1, cbp));
	ret = io_cancel(ctx, &cb[0], &ev[0]);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("io_cancel: %d", ret);
	ASSERT_EQ(1, aio_reap(ctx, 1, ev, 10000));
	EXPECT_EQ(8 * KiB, ev[0].res);
	EXPECT_EQ(8 * KiB, pattern_mismatch(r, 8 * KiB, 81, off));

	/*
	 * Queue depth 1: a second request with RWF_NOWAIT completes at once with EAGAIN; one
	 * without waits in io_submit until the first completed.
	 */
	ASSERT_EQ(0, set_config(self->fd, 0, 300000, 1));
	memset(r, 0, 64 * KiB);
	iov[0] = (struct iovec){ r, 4 * KiB };
	iov[1] = (struct iovec){ r + 4 * KiB, 4 * KiB };
	io_prep_preadv2(&cb[0], self->fd, &iov[0], 1, off, RWF_NOWAIT);
	io_prep_preadv2(&cb[1], self->fd, &iov[1], 1, off + 4 * KiB, RWF_NOWAIT);
	io_prep_pread(&cb[2], self->fd, r + 8 * KiB, 4 * KiB, off + 8 * KiB);
	t0 = async_now_us();
	ASSERT_EQ(2, io_submit(ctx, 2, cbp));
	ASSERT_EQ(1, aio_reap(ctx, 1, ev, 100));
	EXPECT_EQ(&cb[1], ev[0].obj);
	EXPECT_EQ(-EAGAIN, (long)ev[0].res);
	ASSERT_EQ(1, io_submit(ctx, 1, &cbp[2]));
	t = async_now_us() - t0;
	ksft_print_msg("libaio at depth 1: RWF_NOWAIT past the depth: %ld; io_submit without it returned after %llu ms (latency 300 ms)\n",
		       (long)ev[0].res, (unsigned long long)t / 1000);
	EXPECT_LE(300000, t) TH_LOG("io_submit did not wait for a slot");
	ASSERT_EQ(2, aio_reap(ctx, 2, ev, 10000));
	EXPECT_EQ(4 * KiB, ev[0].res);
	EXPECT_EQ(4 * KiB, ev[1].res);
	EXPECT_EQ(4 * KiB, pattern_mismatch(r, 4 * KiB, 81, off));
	EXPECT_EQ(4 * KiB, pattern_mismatch(r + 8 * KiB, 4 * KiB, 81, off + 8 * KiB));
	io_destroy(ctx);
	buf_free(w, 64 * KiB);
	buf_free(r, 64 * KiB);
}

/* ---- IOCB_NOWAIT ----------------------------------------------------------------------- */

/* Pages of [@p, @p + @len) that are resident (mincore). */
static size_t resident(void *p, size_t len)
{
	unsigned char vec[64];
	size_t n = 0;

	if (len / PG > sizeof(vec) || mincore(p, len, vec))
		return (size_t)-1;
	for (size_t i = 0; i < len / PG; i++)
		n += vec[i] & 1;
	return n;
}

TEST_F_TIMEOUT(async, nowait_sync, 120)
{
	const size_t len = 64 * KiB;
	const uint64_t off = self->base + REG_NOWAIT;
	uint8_t *fresh = buf_new(len, -1), *touched = buf_new(len, 0x11);
	struct iovec iov = { fresh, len };
	long long e0, e1;
	ssize_t n;

	ASSERT_NE(NULL, fresh);
	ASSERT_NE(NULL, touched);
	ASSERT_EQ(0, store_pattern(self->fd, off, len, 91));
	e0 = pinio_counter("nowait_eagain");
	/* Never touched: not present, nothing is faulted in. */
	ASSERT_EQ(0, resident(fresh, len));
	errno = 0;
	EXPECT_EQ(-1, preadv2(self->fd, &iov, 1, off, RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	errno = 0;
	EXPECT_EQ(-1, pwritev2(self->fd, &iov, 1, off, RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, resident(fresh, len)) TH_LOG("RWF_NOWAIT faulted pages in");
	e1 = pinio_counter("nowait_eagain");
	EXPECT_EQ(2, e1 - e0);
	EXPECT_EQ(0, pins_outstanding());
	/* Present: it works. */
	iov.iov_base = touched;
	n = preadv2(self->fd, &iov, 1, off, RWF_NOWAIT);
	EXPECT_EQ((ssize_t)len, n);
	EXPECT_EQ(len, pattern_mismatch(touched, len, 91, off));
	n = pwritev2(self->fd, &iov, 1, off, RWF_NOWAIT);
	EXPECT_EQ((ssize_t)len, n);
	/* A DMA delay would sleep: EAGAIN; without RWF_NOWAIT the call waits. */
	ASSERT_EQ(0, pinio_set_dma_delay(self->fd, 1000));
	errno = 0;
	EXPECT_EQ(-1, preadv2(self->fd, &iov, 1, off, RWF_NOWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ((ssize_t)len, preadv2(self->fd, &iov, 1, off, 0));
	EXPECT_EQ(3, pinio_counter("nowait_eagain") - e0);
	buf_free(fresh, len);
	buf_free(touched, len);
}

TEST_F_TIMEOUT(async, nowait_uring, 120)
{
	const size_t len = 64 * KiB;
	const uint64_t off = self->base + REG_NOWAIT;
	const unsigned int lat = 1000000;
	uint8_t *fresh = buf_new(len, -1), *r = buf_new(4 * PG, 0);
	struct pinio_async_counters a, b;
	struct uring_done d[4];
	struct io_uring ring;
	uint64_t t0, t;

	ASSERT_NE(NULL, fresh);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off, len, 92));
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));

	/* Memory never touched: the inline issue gets EAGAIN, io-wq faults it in. */
	ASSERT_EQ(0, async_counters_read(&a));
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, fresh, len, off, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(1, uring_reap(&ring, 1, d, 10000));
	ASSERT_EQ(0, async_counters_read(&b));
	EXPECT_EQ((int)len, d[0].res);
	EXPECT_EQ(len, pattern_mismatch(fresh, len, 92, off));
	EXPECT_LE(1, b.nowait_eagain - a.nowait_eagain);
	EXPECT_EQ(1, b.inline_done - a.inline_done) TH_LOG("io-wq's issue was not served inline");
	EXPECT_EQ(len / PG, resident(fresh, len));

	/* Queue depth 1, four requests at once: three punted to io-wq, which waits for slots. */
	ASSERT_EQ(0, set_config(self->fd, 0, lat, 1));
	ASSERT_EQ(0, async_counters_read(&a));
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + i * PG, PG, off + i * PG,
					    i));
	t0 = async_now_us();
	ASSERT_EQ(4, io_uring_submit(&ring));
	ASSERT_EQ(4, uring_reap(&ring, 4, d, 30000));
	t = async_now_us() - t0;
	ASSERT_EQ(0, async_counters_read(&b));
	for (int i = 0; i < 4; i++)
		EXPECT_EQ((int)PG, d[i].res);
	EXPECT_EQ(4 * PG, pattern_mismatch(r, 4 * PG, 92, off));
	ksft_print_msg("depth 1: 4 requests of %u ms in %llu ms, %lld EAGAIN answers to the inline issue\n",
		       lat / 1000, (unsigned long long)t / 1000, b.nowait_eagain - a.nowait_eagain);
	EXPECT_LE(3, b.nowait_eagain - a.nowait_eagain);
	EXPECT_EQ(4, b.queued - a.queued);
	EXPECT_LE(4 * lat, t);
	io_uring_queue_exit(&ring);
	buf_free(fresh, len);
	buf_free(r, 4 * PG);
}

/* ---- teardown with requests in flight --------------------------------------------------- */

/*
 * io_uring_queue_exit with writes and reads in flight: the ring goes, the requests still
 * complete (pinio cannot be asked to drop them): the writes reach the store, the reads this
 * process's buffers, and every page is released.
 */
TEST_F_TIMEOUT(async, inflight_ring_exit, 120)
{
	const uint64_t off = self->base + REG_TEAR;
	const size_t len = 32 * KiB;
	uint8_t *w = buf_pattern(4 * len, 101, off), *r = buf_new(4 * len, 0);
	struct io_uring ring;
	uint64_t t0;
	long long left;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off + 4 * len, 4 * len, 102));
	ASSERT_EQ(0, set_config(self->fd, 0, 1000000, 0));
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0, uring_queue_rw(&ring, true, self->fd, w + i * len, len,
					    off + i * len, i));
		ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r + i * len, len,
					    off + (4 + i) * len, 4 + i));
	}
	ASSERT_EQ(8, io_uring_submit(&ring));
	ASSERT_TRUE(async_wait_queued(self->c0.queued + 8, 2000));
	t0 = async_now_us();
	io_uring_queue_exit(&ring);
	left = async_in_flight();
	ksft_print_msg("io_uring_queue_exit returned after %llu us with %lld requests in flight\n",
		       (unsigned long long)(async_now_us() - t0), left);
	EXPECT_EQ(0, async_settle(10000));
	EXPECT_TRUE(store_has(self->fd, off, 4 * len, 101));
	EXPECT_EQ(4 * len, pattern_mismatch(r, 4 * len, 102, off + 4 * len));
	buf_free(w, 4 * len);
	buf_free(r, 4 * len);
}

/*
 * A child submits io_uring and libaio writes and reads with 1.5 s of service time, then
 * exits (@kill: is killed with SIGKILL) at once. The requests complete without it: the writes
 * reach the store, nothing is left in flight or pinned.
 */
static void child_with_requests_in_flight(struct __test_metadata *_metadata, int dev,
					  uint64_t base, bool kill_it)
{
	const uint64_t off = base + REG_TEAR + (kill_it ? 256 * KiB : 0);
	const size_t len = 16 * KiB;
	long long acq0, pins;
	int sync[2], status;
	uint64_t t0, t;
	pid_t pid;
	char c;

	ASSERT_EQ(0, store_pattern(dev, off + 4 * len, 4 * len, 112));
	ASSERT_EQ(0, pipe(sync));
	acq0 = vmstat_read("nr_foll_pin_acquired");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint8_t *w = buf_pattern(4 * len, 111, off), *r = buf_new(4 * len, 0);
		struct iocb cb[2], *cbp[2] = { &cb[0], &cb[1] };
		struct io_uring ring;
		io_context_t ctx = 0;
		int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);

		if (fd < 0 || !w || !r || set_config(fd, 0, 1500000, 0) ||
		    io_uring_queue_init(8, &ring, 0) || io_setup(4, &ctx))
			_exit(1);
		for (int i = 0; i < 2; i++) {
			uring_queue_rw(&ring, true, fd, w + i * len, len, off + i * len, i);
			uring_queue_rw(&ring, false, fd, r + i * len, len, off + (4 + i) * len, i);
		}
		io_prep_pwrite(&cb[0], fd, w + 2 * len, 2 * len, off + 2 * len);
		io_prep_pread(&cb[1], fd, r + 2 * len, 2 * len, off + 6 * len);
		if (io_uring_submit(&ring) != 4 || io_submit(ctx, 2, cbp) != 2)
			_exit(2);
		if (write(sync[1], "s", 1) != 1)
			_exit(3);
		if (kill_it)
			pause();
		_exit(0);
	}
	close(sync[1]);
	ASSERT_EQ(1, read(sync[0], &c, 1));
	close(sync[0]);
	t0 = async_now_us();
	pins = vmstat_read("nr_foll_pin_acquired") - acq0;
	EXPECT_LE(1, async_in_flight());
	if (kill_it)
		kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	t = async_now_us() - t0;
	if (kill_it) {
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	} else {
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("child status %#x", status);
	}
	ksft_print_msg("submitter %s with 6 requests in flight (%lld pins): reaped after %llu ms, %lld requests then in flight\n",
		       kill_it ? "killed" : "exited", pins, (unsigned long long)t / 1000,
		       async_in_flight());
	EXPECT_LE(6 * len / PG, pins);
	EXPECT_EQ(0, async_settle(10000));
	EXPECT_EQ(0, pst_pins_settle(NULL, 0, 3000));
	EXPECT_TRUE(store_has(dev, off, 4 * len, 111))
		TH_LOG("the writes of the %s submitter did not all land",
		       kill_it ? "killed" : "exited");
}

TEST_F_TIMEOUT(async, inflight_process_exit, 120)
{
	child_with_requests_in_flight(_metadata, self->fd, self->base, false);
}

TEST_F_TIMEOUT(async, inflight_sigkill, 120)
{
	child_with_requests_in_flight(_metadata, self->fd, self->base, true);
}

/*
 * The last close of the submitter's descriptor: io_uring and aio hold the file until the
 * requests complete, with their data.
 */
TEST_F_TIMEOUT(async, inflight_close, 120)
{
	const uint64_t off = self->base + REG_TEAR + 384 * KiB;
	uint8_t *r = buf_new(2 * 16 * KiB, 0);
	struct iocb cb, *cbp = &cb;
	struct uring_done d = { 0 };
	struct io_event ev;
	struct io_uring ring;
	io_context_t ctx = 0;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off, 32 * KiB, 121));
	ASSERT_EQ(0, set_config(self->fd, 0, 1000000, 0));
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, io_setup(4, &ctx));
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r, 16 * KiB, off, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	io_prep_pread(&cb, self->fd, r + 16 * KiB, 16 * KiB, off + 16 * KiB);
	ASSERT_EQ(1, io_submit(ctx, 1, &cbp));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(2, async_in_flight());
	ASSERT_EQ(1, uring_reap(&ring, 1, &d, 10000));
	EXPECT_EQ(16 * KiB, d.res);
	ASSERT_EQ(1, aio_reap(ctx, 1, &ev, 10000));
	EXPECT_EQ(16 * KiB, ev.res);
	EXPECT_EQ(32 * KiB, pattern_mismatch(r, 32 * KiB, 121, off));
	io_uring_queue_exit(&ring);
	io_destroy(ctx);
	buf_free(r, 32 * KiB);
}

/*
 * munmap of the buffer while a request is in flight, and new memory mapped at the same
 * address: a read lands in the pages the request holds, never in the new mapping (also not
 * after completion); a write still takes its data from the old pages. Extraction (pins) and
 * FOLL_GET references alike.
 */
TEST_F_TIMEOUT(async, inflight_munmap, 120)
{
	const uint64_t off = self->base + REG_TEAR + 448 * KiB;
	const size_t len = 16 * KiB;
	struct io_uring ring;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	for (int get = 0; get < 2; get++) {
		uint8_t *r = buf_new(len, 0x22), *w = buf_pattern(len, 132 + get, off + len), *p;
		struct uring_done d[2];

		ASSERT_NE(NULL, r);
		ASSERT_NE(NULL, w);
		ASSERT_EQ(0, store_pattern(self->fd, off, len, 131));
		ASSERT_EQ(0, set_config(self->fd, get ? PINIO_CONFIG_GET_PAGES : 0, 1000000, 0));
		ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r, len, off, 1));
		ASSERT_EQ(0, uring_queue_rw(&ring, true, self->fd, w, len, off + len, 2));
		ASSERT_EQ(2, io_uring_submit(&ring));
		ASSERT_EQ(0, munmap(r, len));
		ASSERT_EQ(0, munmap(w, len));
		p = mmap(r, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		ASSERT_EQ(r, p);
		memset(r, 'N', len);
		p = mmap(w, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		ASSERT_EQ(w, p);
		memset(w, 'G', len);
		EXPECT_EQ(2, async_in_flight()) TH_LOG("not in flight during the munmap");
		ASSERT_EQ(2, uring_reap(&ring, 2, d, 10000));
		EXPECT_EQ((int)len, d[0].res);
		EXPECT_EQ((int)len, d[1].res);
		EXPECT_EQ(len, bytes_mismatch(r, len, 'N'))
			TH_LOG("%s: the read landed in the new mapping", get ? "get" : "pin");
		EXPECT_TRUE(store_has(self->fd, off + len, len, 132 + get))
			TH_LOG("%s: the write did not take the unmapped pages' data",
			       get ? "get" : "pin");
		async_sleep_us(100000);
		EXPECT_EQ(len, bytes_mismatch(r, len, 'N')) TH_LOG("written after completion");
		EXPECT_EQ(0, pst_pins_settle(NULL, 0, 3000));
		EXPECT_EQ(pinio_counter("pages_got"), pinio_counter("pages_put"));
		buf_free(r, len);
		buf_free(w, len);
	}
	io_uring_queue_exit(&ring);
}

/*
 * delete_module while requests are in flight and the submitter's descriptor is closed: the
 * requests hold the file and so the module (fops.owner): EWOULDBLOCK (kernel/module/main.c,
 * try_stop_module), the module stays live, and the requests complete.
 */
TEST_F_TIMEOUT(async, inflight_unload, 120)
{
	const uint64_t off = self->base + REG_TEAR + 480 * KiB;
	uint8_t *r = buf_new(16 * KiB, 0);
	char state[32] = "";
	struct iocb cb, *cbp = &cb;
	struct uring_done d = { 0 };
	struct io_event ev;
	struct io_uring ring;
	io_context_t ctx = 0;
	long ret;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, store_pattern(self->fd, off, 16 * KiB, 141));
	ASSERT_EQ(0, set_config(self->fd, 0, 2000000, 0));
	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, io_setup(4, &ctx));
	ASSERT_EQ(0, uring_queue_rw(&ring, false, self->fd, r, 8 * KiB, off, 1));
	ASSERT_EQ(1, io_uring_submit(&ring));
	io_prep_pread(&cb, self->fd, r + 8 * KiB, 8 * KiB, off + 8 * KiB);
	ASSERT_EQ(1, io_submit(ctx, 1, &cbp));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(2, async_in_flight());
	errno = 0;
	ret = delete_module("pinio", O_NONBLOCK);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module: %s", strerror(errno));
	errno = 0;
	ret = delete_module("pinio", 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module without O_NONBLOCK: %s",
					     strerror(errno));
	EXPECT_EQ(0, pst_read_file("/sys/module/pinio/initstate", state, sizeof(state)));
	EXPECT_STREQ("live", state);
	EXPECT_EQ(2, async_in_flight());
	ASSERT_EQ(1, uring_reap(&ring, 1, &d, 10000));
	EXPECT_EQ(8 * KiB, d.res);
	ASSERT_EQ(1, aio_reap(ctx, 1, &ev, 10000));
	EXPECT_EQ(8 * KiB, ev.res);
	EXPECT_EQ(16 * KiB, pattern_mismatch(r, 16 * KiB, 141, off));
	io_uring_queue_exit(&ring);
	io_destroy(ctx);
	buf_free(r, 16 * KiB);
}

/* ---- O_DIRECT + fork --------------------------------------------------------------------- */

static void dio_fork(struct __test_metadata *_metadata, uint64_t base, bool get)
{
	static const uint32_t latencies[] = { 300000, 1000000, 3000000 };
	struct dio_fork x = { .get = get, .store_off = base + REG_FORK + get * PG };
	int ret = -1;

	/* A latency too short for this machine is no verdict: try a longer one. */
	for (size_t i = 0; i < ARRAY_SIZE(latencies) && ret; i++) {
		x.latency_us = latencies[i];
		ret = dio_fork_run(&x, ksft_print_msg);
		if (ret)
			ksft_print_msg("no verdict: %s\n", x.error);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", x.error);
	EXPECT_EQ(x.half, x.res);
	EXPECT_EQ(dio_fork_expected_parent(get), x.parent[0])
		TH_LOG("%s: the parent sees '%c' where the device wrote", get ? "FOLL_GET" :
		       "FOLL_PIN", x.parent[0]);
	EXPECT_EQ(DIO_FORK_PARENT, x.parent[1]);
	EXPECT_EQ(get ? DIO_FORK_DEVICE : DIO_FORK_OLD, x.child[0]);
	EXPECT_EQ(DIO_FORK_OLD, x.child[1]);
	EXPECT_TRUE(dio_fork_as_expected(&x));
	/* The read held the page by what the mode says. */
	EXPECT_EQ(get ? 0 : 1, x.pins);
	EXPECT_EQ(get ? 1 : 0, x.refs);
}

TEST_F_TIMEOUT(async, dio_fork_pin, 120)
{
	dio_fork(_metadata, self->base, false);
}

TEST_F_TIMEOUT(async, dio_fork_get, 120)
{
	dio_fork(_metadata, self->base, true);
}

/* ---- fault injection while queuing ---------------------------------------------------- */

/*
 * One submission of fault_injection: @kind 0-3 io_uring read, write, readv, read of 600 pages
 * (its page array takes more than a page); 4-5 libaio read, write.
 */
static int fi_submit(int fd, int kind, struct io_uring *ring, io_context_t ctx, uint8_t *buf,
		     size_t len, uint64_t off)
{
	struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	struct iocb cb, *cbp = &cb;

	switch (kind) {
	case 0:
	case 3:
		uring_queue_rw(ring, false, fd, buf, len, off, kind);
		return io_uring_submit(ring);
	case 1:
		uring_queue_rw(ring, true, fd, buf, len, off, kind);
		return io_uring_submit(ring);
	case 2:
		uring_queue_rwv(ring, false, fd, iov, 2, off, kind);
		return io_uring_submit(ring);
	case 4:
		io_prep_pread(&cb, fd, buf, len, off);
		return io_submit(ctx, 1, &cbp);
	default:
		io_prep_pwrite(&cb, fd, buf, len, off);
		return io_submit(ctx, 1, &cbp);
	}
}

/* Whether a read of fault_injection brought the right bytes (writes: nothing to check here). */
static bool fi_data_ok(int kind, const uint8_t *buf, const uint8_t *ref, size_t len,
		       uint64_t off)
{
	if (kind == 1 || kind == 5)
		return true;
	if (kind == 3)
		return !memcmp(buf, ref, len);
	return pattern_mismatch(buf, len, 151, off) == len;
}

/* Its completion: bytes or -errno; -ETIME if none came. */
static int fi_reap(int kind, struct io_uring *ring, io_context_t ctx)
{
	struct uring_done d = { 0 };
	struct io_event ev;

	if (kind < 4)
		return uring_reap(ring, 1, &d, 10000) == 1 ? d.res : -ETIME;
	return aio_reap(ctx, 1, &ev, 10000) == 1 ? (int)ev.res : -ETIME;
}

/*
 * failslab and fail_page_alloc scoped to pinio's code (pinio_stress.h): each of the first
 * allocations pinio makes while queuing a request fails in turn (fail-nth, this task: the
 * io_uring inline issue and io_submit), then random failures during a mix of submissions.
 * Every request is refused with ENOMEM (at submission or as its completion) or moves all its
 * bytes; nothing stays in flight or pinned.
 */
TEST_F_TIMEOUT(async, fault_injection, 300)
{
	static const char *const kinds[] = { "uring read", "uring write", "uring readv",
					     "uring read 600 pages", "aio read", "aio write" };
	const uint64_t off = self->base + REG_FAULT, big_off = self->base;
	const size_t big = 600 * PG;
	uint8_t *buf = buf_new(big, 0), *ref = buf_new(big, 0);
	unsigned long injected = 0, enomem = 0, ok = 0, bad = 0;
	struct pst_fi_saved saved;
	struct io_uring ring;
	io_context_t ctx = 0;
	uint64_t rng = 0x5eed;
	char why[256];
	int nth;

	if (kconfig_missing(FI_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing(FI_CONFIG));
	if (!pst_fi_available())
		SKIP(return, "fault injection (failslab, fail_page_alloc) unavailable");
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, ref);
	ASSERT_EQ(0, store_pattern(self->fd, off, 512 * KiB, 151));
	/* The big reads go to the start of the window, which nothing writes meanwhile. */
	ASSERT_EQ((ssize_t)big, pread(self->fd, ref, big, big_off));
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	ASSERT_EQ(0, io_setup(8, &ctx));
	pst_fi_save(&saved);
	ASSERT_EQ(0, pst_fi_scope_to_pinio());
	nth = pst_task_fi_open("fail-nth");
	ASSERT_LE(0, nth);

	for (int kind = 0; kind < (int)ARRAY_SIZE(kinds); kind++) {
		size_t len = kind == 3 ? big : 16 * KiB;
		unsigned int points = 0;

		for (unsigned int n = 1; n <= 50; n++) {
			bool hit, write = kind == 1 || kind == 5;
			int sub, res;

			if (write)
				fill_pattern(buf, len, 151, off);
			else
				memset(buf, 0, len);
			ASSERT_EQ(0, set_config(self->fd, n & 1 ? PINIO_CONFIG_GET_PAGES : 0,
						n & 2 ? 2000 : 0, 0));
			pst_fail_nth_arm(nth, n);
			sub = fi_submit(self->fd, kind, &ring, ctx, buf, len,
					kind == 3 ? big_off : off);
			hit = pst_fail_nth_injected(nth);
			pst_fail_nth_arm(nth, 0);
			points += hit;
			res = sub == 1 ? fi_reap(kind, &ring, ctx) : sub;
			if (res == (int)len && !fi_data_ok(kind, buf, ref, len, off))
				res = -EIO;	/* wrong data */
			if (res == (int)len)
				ok++;
			else if (res == -ENOMEM)
				enomem++;
			else {
				bad++;
				ksft_print_msg("%s, allocation %u failing%s: %d (%s)\n",
					       kinds[kind], n, hit ? "" : " (not reached)", res,
					       res < 0 ? strerror(-res) : "short");
			}
			if (async_settle(10000) || pst_pins_settle(NULL, 0, 2000)) {
				bad++;
				ksft_print_msg("%s, allocation %u failing: %lld requests, %lld pins left\n",
					       kinds[kind], n, async_in_flight(),
					       pins_outstanding());
			}
			if (!hit)
				break;
		}
		ksft_print_msg("@@stat fault_injection points_%d %u (%s)\n", kind, points,
			       kinds[kind]);
		injected += points;
	}

	/* Random failures, for this task only, during a mix of submissions. */
	ASSERT_EQ(0, pst_fi_random(3, 7, 40));
	for (int i = 0; i < 200; i++) {
		int kind = prng_below(&rng, ARRAY_SIZE(kinds)), sub, res;
		size_t len = kind == 3 ? big : PG * (1 + prng_below(&rng, 16));
		bool write = kind == 1 || kind == 5;

		if (write)
			fill_pattern(buf, len, 151, off);
		else
			memset(buf, 0, len);
		pst_make_it_fail(1);
		sub = fi_submit(self->fd, kind, &ring, ctx, buf, len, kind == 3 ? big_off : off);
		pst_make_it_fail(0);
		res = sub == 1 ? fi_reap(kind, &ring, ctx) : sub;
		if (res == (int)len && !fi_data_ok(kind, buf, ref, len, off))
			res = -EIO;
		if (res == (int)len) {
			ok++;
		} else if (res == -ENOMEM) {
			enomem++;
		} else {
			bad++;
			ksft_print_msg("random: %s of %zu bytes: %d\n", kinds[kind], len, res);
		}
	}
	pst_fi_off();
	pst_fi_restore(&saved);
	close(nth);
	ksft_print_msg("@@stat fault_injection points %lu enomem %lu complete %lu wrong %lu\n",
		       injected, enomem, ok, bad);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, injected);
	EXPECT_LT(0, enomem);
	EXPECT_EQ(0, async_settle(10000));
	EXPECT_EQ(0, pst_pins_settle(NULL, 0, 3000));
	EXPECT_TRUE(store_has(self->fd, off, 512 * KiB, 151));
	EXPECT_EQ(0, pst_device_works(self->base + REG_FAULT, 152, why, sizeof(why)))
		TH_LOG("%s", why);
	io_uring_queue_exit(&ring);
	io_destroy(ctx);
	buf_free(buf, big);
	buf_free(ref, big);
}

TEST_HARNESS_MAIN
