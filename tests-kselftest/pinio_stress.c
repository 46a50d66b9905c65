// SPDX-License-Identifier: GPL-2.0
/*
 * pinio_stress_test: seeded, bounded stress of /dev/pinio from several processes and
 * threads at once, and module teardown while the device is in use.
 *
 *   mixed        for --duration seconds:
 *                - an owner process: each of its threads owns a region of the store window,
 *                  writes known patterns there (pwrite, pwritev, write, pwritev2, splice,
 *                  PIN + DMA from pages, io_uring, libaio) and verifies every read back (pread,
 *                  preadv, read, preadv2, splice, PIN + DMA to pages, io_uring, libaio) under
 *                  random service times, queue depths and completion orders, while another of
 *                  its threads forks children that scribble over their copies of the buffers
 *                  (FOLL_PIN must keep the data in the parent, also with an asynchronous read
 *                  in flight) and leave pins behind on the owners' files;
 *                - hostile processes: threads doing random reads, writes (only into the
 *                  hostile half of the window), readv, splice, sendfile, PIN/UNPIN/QUERY/DMA on
 *                  random ranges with random flags, io_uring and libaio requests (read,
 *                  write, vectored; cancelled, reaped late, or left in flight when the ring
 *                  or context is torn down) under random device models, while others munmap,
 *                  mprotect and madvise the pinned ranges, fork, and close or replace
 *                  descriptors (dups and fresh opens with slow DMA) that other threads are
 *                  still using;
 *                - a killer process: spawns victims that pin long-term, set dma_delay_us,
 *                  start big transfers, huge pins and slow asynchronous requests, and
 *                  SIGKILLs them mid-call or with requests in flight.
 *                Every call must give a sane result (a documented errno or a count no larger
 *                than asked). At the end: owners' data intact, every process saw VmPin 0
 *                after closing its files, FOLL_PIN pins balanced (/proc/vmstat), the data
 *                path's counters balanced, every asynchronous request completed
 *                (async_queued == async_completed), no kernel splat in the log, device
 *                still works.
 *   ioctl_counters_balanced
 *                the ioctl counters in debugfs count releases on close, as documented.
 *   unload_busy  delete_module fails (EWOULDBLOCK) while a descriptor is open or held by a
 *                forked child with pins, the module stays loaded and working; it succeeds
 *                once they are gone; the module is then loaded again (/pinio/pinio.ko).
 *
 * Options (before the harness's own, which select tests: -t mixed ...):
 *   --seed N        the run's seed (default $PINIO_SEED, else from the clock); printed
 *   --duration S    seconds of the mixed run (default $PINIO_STRESS_DURATION, else 20; at
 *                   most STRESS_MAX_DURATION, for the fixed time limit)
 *   --hostile N     hostile processes (2)        --threads N  threads per hostile (3)
 *   --owners N      owner threads (2)            --victims N  victims alive at once (1)
 *   --max-delay US  longest dma_delay_us used (20000)
 *
 * Every process and thread derives its generator from the seed, so a run's operations are
 * reproducible by seed (their interleaving is not). Statistics are printed as
 * "# @@stat TEST NAME VALUE" and "# @@invariant TEST NAME held|BROKEN" lines.
 */
#include "pinio_stress.h"
#include "pinio_async.h"

#include <sys/sendfile.h>

static struct {
	uint64_t seed;
	unsigned int duration;
	unsigned int hostile_procs, hostile_threads, owner_threads, victims;
	unsigned int max_delay_us;
} cfg = {
	.duration = 20, .hostile_procs = 2, .hostile_threads = 3, .owner_threads = 2,
	.victims = 1, .max_delay_us = 20000,
};

enum {
	S_read, S_pread, S_readv, S_preadv2, S_pwrite, S_pwritev, S_pwritev2, S_write_pos,
	S_splice_in, S_splice_out, S_sendfile, S_lseek, S_pin, S_unpin, S_query, S_dma_to,
	S_dma_from, S_set_config, S_fork, S_munmap, S_mprotect, S_madvise, S_dup_close,
	S_inflight_close, S_reopen, S_victims, S_killed, S_killed_in_call, S_children_killed,
	S_owner_writes, S_owner_reads, S_owner_verified_bytes, S_owner_corruptions, S_vmpin_left,
	S_uring_read, S_uring_write, S_aio_read, S_aio_write, S_async_cancel, S_async_config,
	S_ring_teardown, S_async_left_in_flight,
	S_ok, S_short_count, S_e_inval, S_e_fault, S_e_nomem, S_e_nospc, S_e_perm, S_e_again,
	S_e_intr, S_e_canceled, S_e_io, S_e_badf_stale, S_e_other_stale, NR_STATS
};
static const char *const stat_names[NR_STATS] = {
	[S_read] = "read", [S_pread] = "pread", [S_readv] = "readv", [S_preadv2] = "preadv2",
	[S_pwrite] = "pwrite", [S_pwritev] = "pwritev", [S_pwritev2] = "pwritev2",
	[S_write_pos] = "write_pos", [S_splice_in] = "splice_in", [S_splice_out] = "splice_out",
	[S_sendfile] = "sendfile", [S_lseek] = "lseek", [S_pin] = "pin", [S_unpin] = "unpin",
	[S_query] = "query", [S_dma_to] = "dma_to", [S_dma_from] = "dma_from",
	[S_set_config] = "set_config", [S_fork] = "fork", [S_munmap] = "munmap",
	[S_mprotect] = "mprotect", [S_madvise] = "madvise", [S_dup_close] = "dup_close",
	[S_inflight_close] = "inflight_close", [S_reopen] = "reopen", [S_victims] = "victims",
	[S_killed] = "killed", [S_killed_in_call] = "killed_in_call",
	[S_children_killed] = "children_killed", [S_owner_writes] = "owner_writes",
	[S_owner_reads] = "owner_reads", [S_owner_verified_bytes] = "owner_verified_bytes",
	[S_owner_corruptions] = "owner_corruptions", [S_vmpin_left] = "vmpin_left",
	[S_uring_read] = "uring_read", [S_uring_write] = "uring_write", [S_aio_read] = "aio_read",
	[S_aio_write] = "aio_write", [S_async_cancel] = "async_cancel",
	[S_async_config] = "async_config", [S_ring_teardown] = "ring_teardown",
	[S_async_left_in_flight] = "async_left_in_flight", [S_ok] = "ok",
	[S_short_count] = "short_count", [S_e_inval] = "e_inval", [S_e_fault] = "e_fault",
	[S_e_nomem] = "e_nomem", [S_e_nospc] = "e_nospc", [S_e_perm] = "e_perm",
	[S_e_again] = "e_again", [S_e_intr] = "e_intr", [S_e_canceled] = "e_canceled",
	[S_e_io] = "e_io",
	[S_e_badf_stale] = "e_badf_stale",
	[S_e_other_stale] = "e_other_stale",
};

static struct pst_stats *st;

/*
 * The longest --duration, so that the time limit of mixed (the harness's, below) is fixed;
 * unload_busy's covers the long form's load after load with init faults.
 */
#define STRESS_MAX_DURATION	1800

FIXTURE(stress) {};
FIXTURE_SETUP(stress) {}
FIXTURE_TEARDOWN(stress) {}

/* Workers stop when told to, or by themselves well after the run should have ended. */
static uint64_t hard_deadline;

static inline int stopping(void)
{
	return atomic_load_explicit(&st->stop, memory_order_relaxed) ||
	       pst_now_ns() > hard_deadline;
}

/* Allowed errnos. */
#define A_INVAL		(1u << 0)
#define A_FAULT		(1u << 1)
#define A_NOMEM		(1u << 2)
#define A_NOSPC		(1u << 3)
#define A_PERM		(1u << 4)
#define A_AGAIN		(1u << 5)
#define A_INTR		(1u << 6)	/* an io-wq worker interrupted by a cancel */
#define A_CANCELED	(1u << 7)	/* cancelled before it reached pinio */
#define A_IO		(1u << 8)	/* an asynchronous multi-bio request's error (dio.rs) */
#define A_RW		(A_INVAL | A_FAULT | A_NOMEM)
#define NO_COUNT	(~0ULL)

/*
 * Accounts one call of @op that returned @ret (errno @err if negative) for @asked bytes.
 * @stale: the descriptor may have been closed or replaced meanwhile (then EBADF, and what
 * another file type would say, are fine too).
 */
static void check(int op, long long ret, int err, unsigned long long asked, unsigned int allowed,
		  bool stale)
{
	static const struct {
		int err, stat;
		unsigned int bit;
	} errs[] = {
		{ EINVAL, S_e_inval, A_INVAL }, { EFAULT, S_e_fault, A_FAULT },
		{ ENOMEM, S_e_nomem, A_NOMEM }, { ENOSPC, S_e_nospc, A_NOSPC },
		{ EPERM, S_e_perm, A_PERM }, { EAGAIN, S_e_again, A_AGAIN },
		{ EINTR, S_e_intr, A_INTR }, { ECANCELED, S_e_canceled, A_CANCELED },
		{ EIO, S_e_io, A_IO },
		{ EBADF, S_e_badf_stale, 0 },
	};
	int cls = S_e_other_stale;
	unsigned int bit = 0;

	pst_add(st, op, 1);
	if (ret >= 0) {
		if (asked != NO_COUNT && (unsigned long long)ret > asked)
			pst_fail(st, "%s returned %lld, more than the %llu bytes asked",
				 stat_names[op], ret, asked);
		else if (asked != NO_COUNT && (unsigned long long)ret < asked)
			pst_add(st, S_short_count, 1);
		else
			pst_add(st, S_ok, 1);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		if (errs[i].err == err) {
			cls = errs[i].stat;
			bit = errs[i].bit;
			break;
		}
	}
	if ((bit && (allowed & bit)) || (stale && (!bit || cls == S_e_inval || cls == S_e_fault ||
						   cls == S_e_again))) {
		pst_add(st, cls, 1);
		return;
	}
	pst_fail(st, "%s: unexpected error %d (%s)%s", stat_names[op], err, strerror(err),
		 stale ? " on a replaced descriptor" : "");
}

/* Common geometry, set by the test before forking the workers. */
static struct pst_window win;
static uint64_t sect;			/* I/O granule: the block size, at least 512 */
static uint64_t hs, hl;			/* the hostile half of the window */

/*
 * A store offset for a hostile write of @len bytes: inside the hostile half, or (sometimes)
 * somewhere nothing can be written: past the end, or misaligned.
 */
static uint64_t hostile_write_off(uint64_t *r, uint64_t *len)
{
	if (*len > hl)
		*len = hl;
	switch (prng_below(r, 20)) {
	case 0:
		return win.store_size + sect * prng_below(r, 4);	/* ENOSPC / EINVAL */
	case 1:
		if (sect > 1 && *len + sect <= hl)		/* misaligned: EINVAL */
			return hs + 1 + sect * prng_below(r, (hl - *len - sect) / sect + 1);
		/* fall through */
	default:
		return hs + sect * prng_below(r, (hl - *len) / sect + 1);
	}
}

static uint64_t any_read_off(uint64_t *r)
{
	if (prng_chance(r, 16))
		return win.store_size - sect * prng_below(r, 8);	/* around the end */
	if (prng_chance(r, 32))
		return prng_below(r, win.store_size + MiB);	/* anywhere, misaligned */
	return sect * prng_below(r, (win.store_size + 256 * KiB) / sect);
}

/* =================================================================================== */
/* Owners: regions with known data                                                     */
/* =================================================================================== */

struct owner {
	int idx;
	uint64_t r;
	int fd;
	uint64_t base, len;
	uint64_t *gen;		/* per granule: the pattern seed it last got */
	uint8_t *wbuf, *rbuf;
	size_t buflen;
	int pipefd[2];
	uint64_t next_gen;
	struct io_uring ring;	/* this owner thread's, set up on first use */
	io_context_t aio;
	bool async_up;
};

#define OWNER_MAX_IO	(1 * MiB)

static struct owner *owners;

static bool owner_verify(struct owner *o, uint64_t off, uint64_t len, const uint8_t *buf,
			 const char *how)
{
	for (uint64_t done = 0; done < len; done += sect) {
		uint64_t g = o->gen[(off + done - o->base) / sect];
		size_t bad = pattern_mismatch(buf + done, sect, g, off + done);

		if (bad != sect) {
			pst_add(st, S_owner_corruptions, 1);
			pst_fail(st, "owner %d: data corrupted after %s: store offset %#llx (byte %zu of granule): got %#x, want %#x (gen %#llx)",
				 o->idx, how, (unsigned long long)(off + done), bad,
				 buf[done + bad], pattern_byte(g, off + done + bad),
				 (unsigned long long)g);
			return false;
		}
	}
	pst_add(st, S_owner_verified_bytes, len);
	return true;
}

/* Splits [buf, buf + len) into up to @max iovecs of whole granules. */
static int split_iov(uint64_t *r, uint8_t *buf, uint64_t len, struct iovec *iov, int max)
{
	int n = 0;

	while (len && n < max) {
		uint64_t l = (n == max - 1) ? len : sect * (1 + prng_below(r, len / sect));

		iov[n].iov_base = buf;
		iov[n].iov_len = l;
		buf += l;
		len -= l;
		n++;
	}
	return n;
}

static long long splice_to_dev(int fd, int pipefd[2], const uint8_t *buf, uint64_t len,
			       uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t chunk = len - done > 256 * KiB ? 256 * KiB : len - done;
		ssize_t n = write(pipefd[1], buf + done, chunk);
		loff_t o = off + done;
		uint64_t in = 0;

		if (n != (ssize_t)chunk)
			return -1;
		while (in < chunk) {
			ssize_t s = splice(pipefd[0], NULL, fd, &o, chunk - in, 0);

			if (s <= 0)
				return s < 0 ? -1 : (long long)(done + in);
			in += s;
		}
		done += chunk;
	}
	return done;
}

static long long splice_from_dev(int fd, int pipefd[2], uint8_t *buf, uint64_t len,
				 uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		loff_t o = off + done;
		ssize_t s = splice(fd, &o, pipefd[1], NULL, len - done, 0);
		ssize_t got = 0;

		if (s <= 0)
			return s < 0 ? -1 : (long long)done;
		while (got < s) {
			ssize_t n = read(pipefd[0], buf + done + got, s - got);

			if (n <= 0)
				return -1;
			got += n;
		}
		done += s;
	}
	return done;
}

/* The calls owners move their data with: one per kind of transfer, each way. */
static const struct {
	int op[2];		/* the statistic: [0] reading, [1] writing */
} owner_ops[] = {
	{ { S_pread, S_pwrite } },
	{ { S_readv, S_pwritev } },
	{ { S_read, S_write_pos } },
	{ { S_preadv2, S_pwritev2 } },
	{ { S_splice_out, S_splice_in } },
	{ { S_dma_to, S_dma_from } },
	{ { S_uring_read, S_uring_write } },
	{ { S_aio_read, S_aio_write } },
};

/*
 * PIN + DMA between the owner's buffer at @boff and the store: the bytes moved, -1 with errno
 * set, or -2 if the pin itself failed (recorded as a failure here).
 */
static long long owner_dma(struct owner *o, bool wr, uint64_t boff, uint64_t off,
			   uint64_t len)
{
	static const uint32_t wfl[] = { 0, PINIO_PIN_WRITE, PINIO_PIN_LONGTERM,
					PINIO_PIN_WRITE | PINIO_PIN_LONGTERM };
	uint64_t *r = &o->r;
	uint8_t *mem = wr ? o->wbuf : o->rbuf;
	size_t plen = page_round_up(boff + len);
	uint32_t fl;
	long long ret;
	long h;

	/* Reading into the pages needs a writable pin. */
	if (wr)
		fl = wfl[prng_below(r, 4)];
	else
		fl = PINIO_PIN_WRITE | (prng_chance(r, 2) ? PINIO_PIN_LONGTERM : 0);
	h = ioc_pin(o->fd, mem, plen, fl, prng_below(r, 3) * 16, NULL);
	if (h <= 0) {
		pst_fail(st, "owner %d: pin of its own buffer failed: %s", o->idx,
			 strerror((int)-h));
		return -2;
	}
	ret = ioc_dma(o->fd, h, wr ? PINIO_DMA_FROM_PAGES : PINIO_DMA_TO_PAGES, boff, off, len);
	if (ret < 0) {
		errno = (int)-ret;
		ret = -1;
	}
	if (ioc_unpin(o->fd, h, !wr && prng_chance(r, 2) ? PINIO_UNPIN_DIRTY : 0))
		pst_fail(st, "owner %d: unpin failed: %s", o->idx, strerror(errno));
	return ret;
}

/*
 * Moves [@buf, @buf + @len) to or from store offset @off on the owner's file with 1-4
 * asynchronous requests (io_uring READ/WRITE or READV/WRITEV if @uring, else libaio) and
 * waits for all of them: the bytes moved, or -1 with errno (of the first that failed).
 */
static long long owner_async(struct owner *o, bool wr, bool uring, uint8_t *buf, uint64_t len,
			     uint64_t off)
{
	uint64_t *r = &o->r;
	struct iovec iov[4];
	struct uring_done d[4];
	struct io_event ev[4];
	struct iocb cb[4], *cbp[4];
	int n = split_iov(r, buf, len, iov, 4), got, err = 0;
	bool vectored = uring && prng_chance(r, 3);
	long long done = 0;
	uint64_t pos = off;

	if (!o->async_up) {
		if (io_uring_queue_init(8, &o->ring, 0) || io_setup(8, &o->aio)) {
			errno = EIO;
			return -1;
		}
		o->async_up = true;
	}
	if (vectored) {
		uring_queue_rwv(&o->ring, wr, o->fd, iov, n, off, 0);
		n = 1;
	}
	for (int i = 0; i < n && !vectored; i++) {
		if (uring)
			uring_queue_rw(&o->ring, wr, o->fd, iov[i].iov_base, iov[i].iov_len, pos, i);
		else if (wr)
			io_prep_pwrite(&cb[i], o->fd, iov[i].iov_base, iov[i].iov_len, pos);
		else
			io_prep_pread(&cb[i], o->fd, iov[i].iov_base, iov[i].iov_len, pos);
		cbp[i] = &cb[i];
		pos += iov[i].iov_len;
	}
	if (uring) {
		got = io_uring_submit(&o->ring) == n ? uring_reap(&o->ring, n, d, 60000) : -1;
		for (int i = 0; i < got; i++) {
			if (d[i].res < 0 && !err)
				err = -d[i].res;
			done += d[i].res > 0 ? d[i].res : 0;
		}
	} else {
		got = io_submit(o->aio, n, cbp) == n ? aio_reap(o->aio, n, ev, 60000) : -1;
		for (int i = 0; i < got; i++) {
			if ((long)ev[i].res < 0 && !err)
				err = -(long)ev[i].res;
			done += (long)ev[i].res > 0 ? (long)ev[i].res : 0;
		}
	}
	if (got != n || err) {
		errno = got < 0 ? EIO : got != n ? ETIMEDOUT : err;
		return -1;
	}
	return done;
}

/*
 * The owner's device model: a DMA delay, or a service time, queue depth and completion
 * order. Nothing of the owner's is in flight (it waits for its requests): no EBUSY.
 */
static void owner_config(struct owner *o)
{
	uint64_t *r = &o->r;
	struct pinio_config c = { 0 };

	if (prng_chance(r, 2)) {
		c.dma_delay_us = prng_chance(r, 2) ? 0 : 100 + prng_below(r, 2000);
	} else {
		c.latency_us = prng_chance(r, 3) ? 0 : prng_below(r, 3000);
		c.queue_depth = prng_chance(r, 2) ? 0 : 1 + prng_below(r, 8);
		c.flags = prng_chance(r, 2) ? PINIO_CONFIG_FIFO : 0;
	}
	if (ioc_set_config(o->fd, &c))
		pst_fail(st, "owner %d: SET_CONFIG: %s", o->idx, strerror(errno));
}

/*
 * One write of new patterns into the owner's region (@wr), or one read of it, verified, by
 * a random kind of call from a random spot of its buffer.
 */
static void owner_io(struct owner *o, bool wr)
{
	static const int wflags[] = { 0, RWF_HIPRI, RWF_DSYNC, RWF_SYNC };
	static const int rflags[] = { 0, RWF_HIPRI, RWF_NOWAIT };
	uint64_t *r = &o->r;
	uint64_t off = o->base + sect * prng_below(r, o->len / sect);
	uint64_t max = o->base + o->len - off, len, boff = sect * prng_below(r, 8);
	uint64_t g = ((uint64_t)(o->idx + 1) << 48) | (wr ? ++o->next_gen : 0);
	uint8_t *buf = (wr ? o->wbuf : o->rbuf) + boff;
	int kind = prng_below(r, ARRAY_SIZE(owner_ops)), op = owner_ops[kind].op[wr], n, flags;
	struct iovec iov[6];
	long long ret;

	if (max > OWNER_MAX_IO)
		max = OWNER_MAX_IO;
	len = sect * (1 + prng_below(r, max / sect));
	if (wr)
		fill_pattern(buf, len, g, off);
	else
		memset(o->rbuf, 0x5a, boff + len + sect);
	switch (kind) {
	case 0:
		ret = wr ? pwrite(o->fd, buf, len, off) : pread(o->fd, buf, len, off);
		break;
	case 1:
		n = split_iov(r, buf, len, iov, 6);
		ret = wr ? pwritev(o->fd, iov, n, off) : preadv(o->fd, iov, n, off);
		break;
	case 2:
		ret = -1;
		if (lseek(o->fd, off, SEEK_SET) == (off_t)off)
			ret = wr ? write(o->fd, buf, len) : read(o->fd, buf, len);
		break;
	case 3:
		n = split_iov(r, buf, len, iov, 3);
		if (wr) {
			ret = pwritev2(o->fd, iov, n, off, wflags[prng_below(r, 4)]);
			break;
		}
		flags = rflags[prng_below(r, 3)];
		ret = preadv2(o->fd, iov, n, off, flags);
		/*
		 * RWF_NOWAIT never sleeps: with a dma_delay_us set (or a page not
		 * present) it is EAGAIN, or short if some bytes had moved (a page of
		 * the buffer under migration, seen on a fast kernel), and the caller
		 * reads again blocking, as io_uring does.
		 */
		if (flags == RWF_NOWAIT && ((ret < 0 && errno == EAGAIN) ||
					    (ret > 0 && ret < (long long)len)))
			ret = preadv2(o->fd, iov, n, off, 0);
		break;
	case 4:
		if (wr)
			ret = splice_to_dev(o->fd, o->pipefd, buf, len, off);
		else
			ret = splice_from_dev(o->fd, o->pipefd, buf, len, off);
		break;
	case 5:
		ret = owner_dma(o, wr, boff, off, len);
		if (ret == -2)
			return;
		break;
	default:
		ret = owner_async(o, wr, kind == 6, buf, len, off);
		break;
	}
	pst_add(st, op, 1);
	pst_add(st, wr ? S_owner_writes : S_owner_reads, 1);
	if (ret != (long long)len) {
		pst_fail(st, "owner %d: %s of %llu bytes at %#llx returned %lld (%s)", o->idx,
			 stat_names[op], (unsigned long long)len, (unsigned long long)off, ret,
			 ret < 0 ? strerror(errno) : "short");
		/* What the store now holds is unknown: rewrite it the plain way. */
		if (!wr || pwrite(o->fd, buf, len, off) != (ssize_t)len)
			return;
	}
	if (wr) {
		for (uint64_t i = 0; i < len; i += sect)
			o->gen[(off + i - o->base) / sect] = g;
		return;
	}
	if (!owner_verify(o, off, len, buf, stat_names[op]))
		return;
	if (bytes_mismatch(buf + len, sect, 0x5a) != sect)
		pst_fail(st, "owner %d: %s wrote past the %llu bytes asked", o->idx,
			 stat_names[op], (unsigned long long)len);
}

static void *owner_thread(void *arg)
{
	struct owner *o = arg;

	while (!stopping()) {
		if (prng_chance(&o->r, 24))
			owner_config(o);
		owner_io(o, true);
		owner_io(o, false);
		if (prng_chance(&o->r, 3))
			owner_io(o, false);
	}
	pinio_set_dma_delay(o->fd, 0);
	/* Everything the owner wrote is still there. */
	for (uint64_t off = o->base; off < o->base + o->len; off += OWNER_MAX_IO) {
		uint64_t len = o->base + o->len - off;

		if (len > OWNER_MAX_IO)
			len = OWNER_MAX_IO;
		if (pread(o->fd, o->rbuf, len, off) != (ssize_t)len) {
			pst_fail(st, "owner %d: final read at %#llx failed: %s", o->idx,
				 (unsigned long long)off, strerror(errno));
			break;
		}
		if (!owner_verify(o, off, len, o->rbuf, "the run (final check)"))
			break;
	}
	if (o->async_up) {
		io_uring_queue_exit(&o->ring);
		io_destroy(o->aio);
	}
	return NULL;
}

/*
 * Forks children that scribble over their copies of the owners' buffers and leave
 * long-term pins behind on the owners' files.
 */
static void *owner_forker(void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	while (!stopping()) {
		pid_t pid;
		int status = 0;

		pst_sleep_us(10000 + prng_below(&r, 60000));
		pid = fork();
		if (pid < 0)
			continue;
		if (pid == 0) {
			for (unsigned int i = 0; i < cfg.owner_threads; i++) {
				struct owner *o = &owners[i];

				memset(o->rbuf + prng_below(&r, o->buflen / 2), 0xc6, prng_below(&r, o->buflen / 2));
				memset(o->wbuf + prng_below(&r, o->buflen / 2), 0x39, prng_below(&r, o->buflen / 2));
				if (prng_chance(&r, 2))
					ioc_pin(o->fd, o->wbuf, 4 * psize(),
						PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, NULL);
			}
			pst_sleep_us(prng_below(&r, 5000));
			_exit(0);
		}
		pst_add(st, S_fork, 1);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			pst_fail(st, "%s: a child that scribbled on owner buffers ended with status %#x",
				 __func__, status);
	}
	return NULL;
}

static int owner_main(uint64_t seed)
{
	uint64_t olen = (win.len / 2 / cfg.owner_threads) & ~(uint64_t)(psize() - 1);
	pthread_t th[16], forker;
	uint64_t fseed = pst_mix(seed, 99);

	owners = calloc(cfg.owner_threads, sizeof(*owners));
	for (unsigned int i = 0; i < cfg.owner_threads; i++) {
		struct owner *o = &owners[i];

		o->idx = i;
		o->r = pst_mix(seed, i);
		o->fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
		o->base = win.start + i * olen;
		o->len = olen;
		o->gen = calloc(olen / sect, sizeof(*o->gen));
		o->buflen = OWNER_MAX_IO + 16 * KiB;
		o->wbuf = map_anon(o->buflen);
		o->rbuf = map_anon(2 * OWNER_MAX_IO);
		if (o->fd < 0 || !o->gen || !o->wbuf || !o->rbuf || pipe(o->pipefd)) {
			pst_fail(st, "owner %d: set-up failed: %s", o->idx, strerror(errno));
			return 1;
		}
		if (i & 1)	/* one owner reads into a THP */
			madvise(o->rbuf, 2 * OWNER_MAX_IO, MADV_HUGEPAGE);
		fcntl(o->pipefd[1], F_SETPIPE_SZ, (int)(256 * KiB));
		/* Known contents to start with. */
		for (uint64_t off = 0; off < olen; off += OWNER_MAX_IO) {
			uint64_t len = olen - off < OWNER_MAX_IO ? olen - off : OWNER_MAX_IO;
			uint64_t g = ((uint64_t)(i + 1) << 48);

			fill_pattern(o->wbuf, len, g, o->base + off);
			if (pwrite(o->fd, o->wbuf, len, o->base + off) != (ssize_t)len) {
				pst_fail(st, "owner %d: initial write failed: %s", o->idx,
					 strerror(errno));
				return 1;
			}
			for (uint64_t s = 0; s < len; s += sect)
				o->gen[(off + s) / sect] = g;
		}
	}
	for (unsigned int i = 0; i < cfg.owner_threads; i++) {
		errno = pthread_create(&th[i], NULL, owner_thread, &owners[i]);
		if (errno) {
			pst_fail(st, "owner %u: pthread_create: %s", i, strerror(errno));
			return 1;
		}
	}
	errno = pthread_create(&forker, NULL, owner_forker, &fseed);
	if (errno) {
		pst_fail(st, "owner_forker: pthread_create: %s", strerror(errno));
		return 1;
	}
	for (unsigned int i = 0; i < cfg.owner_threads; i++)
		pthread_join(th[i], NULL);
	pthread_join(forker, NULL);
	for (unsigned int i = 0; i < cfg.owner_threads; i++)
		close(owners[i].fd);
	if (vmpin_kb(0) != 0) {
		pst_add(st, S_vmpin_left, 1);
		pst_fail(st, "owner process: VmPin %lld kB after closing its files",
			 vmpin_kb(0));
	}
	return 0;
}

/* =================================================================================== */
/* Hostile processes                                                                   */
/* =================================================================================== */

#define NSLOT		6
#define NFD		4
#define NHANDLE		96
#define SLOT_SPAN	(6 * MiB)	/* address space per slot: the slot and a guard */

enum { K_NONE, K_ANON, K_THP, K_MEMFD, K_RO, NR_KINDS };

struct slot {
	uint8_t *addr;
	size_t len;
};

struct hfd {
	_Atomic int fd;
	_Atomic unsigned int gen;
};

struct hhandle {
	uint32_t h, flags;
	int fdi;
	unsigned int gen;
	size_t len;
};

static struct {
	int idx;
	struct slot slot[NSLOT];
	struct hfd fds[NFD];
	pthread_mutex_t lock;
	struct hhandle handles[NHANDLE];
	int nhandles;
} H;

/* An asynchronous request of a hostile thread, until its completion is seen. */
struct hreq {
	bool used;
	int op;			/* S_uring_read ... S_aio_write */
	unsigned long long asked;
	int fdi;
	unsigned int gen;
	struct iocb cb;
	struct iovec iov[4];	/* read by the kernel at submission, not before */
};

#define HREQS		32
#define HCANCEL		(1ULL << 63)	/* user_data of a cancel request */

struct hthread {
	uint64_t r;
	int pipefd[2];
	uint8_t *scratch;	/* private, never unmapped: for pipes and sendfile */
	int memfd;
	struct io_uring ring;	/* io_uring and libaio, set up on first use */
	io_context_t aio;
	bool async_up;
	struct hreq req[HREQS];
};

#define SCRATCH_LEN	(512 * KiB)

static void slot_map(uint64_t *r, int s, int kind)
{
	struct slot *sl = &H.slot[s];
	int prot = PROT_READ | PROT_WRITE, flags = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS;
	int fd = -1;
	void *p;

	switch (kind) {
	case K_NONE:
		prot = PROT_NONE;
		flags |= MAP_NORESERVE;
		break;
	case K_RO:
		prot = PROT_READ;
		break;
	case K_MEMFD:
		fd = memfd_create("pinio-stress", 0);
		if (fd < 0 || ftruncate(fd, sl->len)) {
			if (fd >= 0)
				close(fd);
			return;
		}
		flags = MAP_FIXED | MAP_SHARED;
		break;
	default:
		break;
	}
	if (kind != K_NONE && prng_chance(r, 2))
		flags |= MAP_POPULATE;
	p = mmap(sl->addr, sl->len, prot, flags, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p != sl->addr)
		return;
	if (kind == K_THP)
		madvise(sl->addr, sl->len, MADV_HUGEPAGE);
	else if (kind == K_ANON)
		madvise(sl->addr, sl->len, MADV_NOHUGEPAGE);
	if (kind == K_THP && prng_chance(r, 2))
		madvise(sl->addr, sl->len, MADV_POPULATE_WRITE);
}

/* A buffer somewhere in (or just past) a slot. */
static uint8_t *pick_buf(uint64_t *r, uint64_t *len, bool small)
{
	struct slot *sl = &H.slot[prng_below(r, NSLOT)];
	uint64_t off, l;

	switch (prng_below(r, 16)) {
	case 0:
		off = prng_below(r, sl->len);			/* misaligned */
		break;
	case 1: case 2:
		off = sect * prng_below(r, sl->len / sect);
		break;
	default:
		off = psize() * prng_below(r, sl->len / psize());
		break;
	}
	if (small || prng_chance(r, 2))
		l = sect * (1 + prng_below(r, 16));
	else if (prng_chance(r, 8))
		l = sect * (1 + prng_below(r, 2 * sl->len / sect));	/* may run into the guard */
	else
		l = sect * (1 + prng_below(r, (sl->len - off) / sect + 1));
	if (prng_chance(r, 32))
		l += 1 + prng_below(r, sect - 1);			/* misaligned length */
	*len = l;
	return sl->addr + off;
}

/* @n small buffers somewhere in the slots, as an iovec; their total length. */
static uint64_t pick_iov(uint64_t *r, struct iovec *iov, int n)
{
	uint64_t len, total = 0;

	for (int i = 0; i < n; i++) {
		iov[i].iov_base = pick_buf(r, &len, true);
		iov[i].iov_len = len;
		total += len;
	}
	return total;
}

static int pick_fd(uint64_t *r, int *fdi, unsigned int *gen)
{
	*fdi = prng_below(r, NFD);
	*gen = atomic_load(&H.fds[*fdi].gen);
	return atomic_load(&H.fds[*fdi].fd);
}

/*
 * In a forked child every descriptor may be stale: fork copies the descriptor table and the
 * memory at different moments, so the child's copy of the table in memory can name a
 * descriptor opened (or closed) by another thread between the two.
 */
static bool forked_child;

static bool stale(int fdi, unsigned int gen)
{
	return forked_child || atomic_load(&H.fds[fdi].gen) != gen;
}

static void handle_add(long h, uint32_t flags, int fdi, unsigned int gen, size_t len)
{
	pthread_mutex_lock(&H.lock);
	if (H.nhandles < NHANDLE)
		H.handles[H.nhandles++] = (struct hhandle){ h, flags, fdi, gen, len };
	pthread_mutex_unlock(&H.lock);
}

/* Takes a random handle out of the list (@remove) or copies it. */
static bool handle_pick(uint64_t *r, struct hhandle *out, bool remove)
{
	bool found = false;

	pthread_mutex_lock(&H.lock);
	if (H.nhandles) {
		int i = prng_below(r, H.nhandles);

		*out = H.handles[i];
		if (remove)
			H.handles[i] = H.handles[--H.nhandles];
		found = true;
	}
	pthread_mutex_unlock(&H.lock);
	return found;
}

/* preadv() or pwritev() (@wr), or half the time the "2" forms with a random flag. */
static long long h_vectored(uint64_t *r, int fd, bool wr, const struct iovec *iov, int n,
			    uint64_t off, int *op)
{
	static const int rflags[] = { 0, RWF_HIPRI, RWF_NOWAIT, RWF_SYNC };
	static const int wflags[] = { 0, RWF_HIPRI, RWF_DSYNC, RWF_NOWAIT };
	int f;

	if (!prng_chance(r, 2)) {
		*op = wr ? S_pwritev : S_readv;
		return wr ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);
	}
	f = (wr ? wflags : rflags)[prng_below(r, 4)];
	*op = wr ? S_pwritev2 : S_preadv2;
	return wr ? pwritev2(fd, iov, n, off, f) : preadv2(fd, iov, n, off, f);
}

static void h_read(struct hthread *t)
{
	uint64_t *r = &t->r, len, off = any_read_off(r);
	struct iovec iov[8];
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen), op, n, e;
	uint8_t *buf = pick_buf(r, &len, false);
	long long ret;
	unsigned long long asked = len;

	switch (prng_below(r, 5)) {
	case 0:
		op = S_read;
		ret = read(fd, buf, len);
		break;
	case 1:
		op = S_pread;
		ret = pread(fd, buf, len, off);
		break;
	case 2:
	case 3:
		n = 1 + prng_below(r, 8);
		asked = pick_iov(r, iov, n);
		ret = h_vectored(r, fd, false, iov, n, off, &op);
		break;
	default:
		op = S_lseek;
		ret = lseek(fd, prng_chance(r, 8) ? -(off_t)sect : (off_t)off,
			    prng_chance(r, 4) ? SEEK_END : SEEK_SET);
		asked = NO_COUNT;
		break;
	}
	e = errno;
	check(op, ret, e, asked, A_RW | A_AGAIN, stale(fdi, gen));
}

static void h_write(struct hthread *t)
{
	uint64_t *r = &t->r, len, off;
	struct iovec iov[8];
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen), op, n, e;
	uint8_t *buf = pick_buf(r, &len, false);
	long long ret;
	uint64_t asked;

	switch (prng_below(r, 3)) {
	case 0:
		off = hostile_write_off(r, &len);
		op = S_pwrite;
		asked = len;
		ret = pwrite(fd, buf, len, off);
		break;
	default:
		n = 1 + prng_below(r, 8);
		asked = pick_iov(r, iov, n);
		if (asked > hl) {
			n = 1;
			asked = iov[0].iov_len;
		}
		off = hostile_write_off(r, &asked);
		if (n == 1)
			iov[0].iov_len = asked;
		ret = h_vectored(r, fd, true, iov, n, off, &op);
		break;
	}
	e = errno;
	check(op, ret, e, asked, A_RW | A_NOSPC | A_AGAIN, stale(fdi, gen));
}

static void h_splice(struct hthread *t)
{
	uint64_t *r = &t->r, len = sect * (1 + prng_below(r, 128)), off;
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen), e;
	long long ret;
	loff_t o;
	char drain[4096];

	switch (prng_below(r, 3)) {
	case 0:		/* pipe -> device */
		off = hostile_write_off(r, &len);
		if (write(t->pipefd[1], t->scratch, len) != (ssize_t)len)
			break;
		o = off;
		ret = splice(t->pipefd[0], NULL, fd, &o, len, SPLICE_F_NONBLOCK);
		e = errno;
		check(S_splice_in, ret, e, len, A_RW | A_NOSPC | A_AGAIN, stale(fdi, gen));
		break;
	case 1:		/* device -> pipe */
		o = any_read_off(r);
		ret = splice(fd, &o, t->pipefd[1], NULL, len, SPLICE_F_NONBLOCK);
		e = errno;
		check(S_splice_out, ret, e, len, A_RW | A_AGAIN, stale(fdi, gen));
		break;
	default:	/* device -> memfd, with sendfile */
		o = any_read_off(r);
		lseek(t->memfd, 0, SEEK_SET);
		ret = sendfile(t->memfd, fd, &o, len);
		e = errno;
		check(S_sendfile, ret, e, len, A_RW | A_AGAIN, stale(fdi, gen));
		break;
	}
	while (read(t->pipefd[0], drain, sizeof(drain)) > 0)
		;
}

static uint32_t random_pin_flags(uint64_t *r)
{
	uint32_t f = 0;

	if (prng_chance(r, 2))
		f |= PINIO_PIN_WRITE;
	if (prng_chance(r, 3))
		f |= PINIO_PIN_LONGTERM;
	if (prng_chance(r, 6))
		f |= PINIO_PIN_NOFAULT;
	if (prng_chance(r, 4))
		f |= PINIO_PIN_GET;
	return f;
}

static void h_pin(struct hthread *t, bool child)
{
	uint64_t *r = &t->r;
	struct slot *sl = &H.slot[prng_below(r, NSLOT)];
	size_t ps = psize(), pages = sl->len / ps, first = prng_below(r, pages);
	size_t n = 1 + prng_below(r, prng_chance(r, 4) ? pages : 16);
	uint32_t flags = random_pin_flags(r);
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen);
	long h;

	if (!prng_chance(r, 10) && first + n > pages)
		n = pages - first;		/* else: runs into the guard */
	h = ioc_pin(fd, sl->addr + first * ps, n * ps, flags,
		    prng_chance(r, 3) ? 1 + prng_below(r, 64) : 0, NULL);
	check(S_pin, h < 0 ? -1 : h, (int)-h, NO_COUNT, A_INVAL | A_FAULT | A_NOMEM,
	      stale(fdi, gen));
	if (h > 0) {
		if ((flags & PINIO_PIN_GET) && (flags & PINIO_PIN_LONGTERM))
			pst_fail(st, "PIN with GET and LONGTERM succeeded");
		if (child)
			return;		/* left to the file's close */
		handle_add(h, flags, fdi, gen, n * ps);
		/* Keep the list bounded: release another one. */
		if (H.nhandles > NHANDLE / 2) {
			struct hhandle hh;

			if (handle_pick(r, &hh, true)) {
				int ret = ioc_unpin(atomic_load(&H.fds[hh.fdi].fd), hh.h, 0);

				check(S_unpin, ret ? -1 : 0, -ret, NO_COUNT, A_INVAL,
				      stale(hh.fdi, hh.gen));
			}
		}
	}
}

static void h_unpin(struct hthread *t)
{
	uint64_t *r = &t->r;
	struct hhandle hh;
	int ret;

	if (prng_chance(r, 8) || !handle_pick(r, &hh, true)) {
		unsigned int gen;
		int fdi, fd = pick_fd(r, &fdi, &gen);

		/* A handle no file has: never issued (handles count up from 1). */
		ret = ioc_unpin(fd, 0x80000000u | (uint32_t)prng_next(r), 0);
		if (!ret)
			pst_fail(st, "UNPIN of a handle never issued succeeded");
		check(S_unpin, -1, -ret, NO_COUNT, A_INVAL, stale(fdi, gen));
		return;
	}
	ret = ioc_unpin(atomic_load(&H.fds[hh.fdi].fd), hh.h,
			prng_chance(r, 2) ? PINIO_UNPIN_DIRTY : 0);
	check(S_unpin, ret ? -1 : 0, -ret, NO_COUNT, A_INVAL, stale(hh.fdi, hh.gen));
}

static void h_query(struct hthread *t)
{
	uint64_t *r = &t->r;
	struct pinio_query q;
	struct hhandle hh;
	int ret;

	if (!handle_pick(r, &hh, false))
		return;
	ret = ioc_query(atomic_load(&H.fds[hh.fdi].fd), hh.h, &q);
	check(S_query, ret ? -1 : 0, -ret, NO_COUNT, A_INVAL, stale(hh.fdi, hh.gen));
	if (ret || stale(hh.fdi, hh.gen) || q.flags != hh.flags || q.len != hh.len)
		return;		/* gone, or another file's handle of the same number */
	if (q.nr_pages * psize() != q.len || q.nr_folios > q.nr_pages ||
	    q.nr_large_folios > q.nr_folios || q.nr_dma_pinned > q.nr_pages ||
	    q.nr_anon_exclusive > q.nr_anon || q.refcount_min > q.refcount_max ||
	    q.refcount_min < 1)
		pst_fail(st, "QUERY gave inconsistent answers: pages %llu folios %llu large %llu pinned %llu refcount %d..%d",
			 (unsigned long long)q.nr_pages,
			 (unsigned long long)q.nr_folios, (unsigned long long)q.nr_large_folios,
			 (unsigned long long)q.nr_dma_pinned, q.refcount_min, q.refcount_max);
	/*
	 * FOLL_PIN pages stay "maybe DMA pinned", whatever happened to the mappings (the
	 * shared zero page excepted: GUP takes no pin on it).
	 */
	if (!(hh.flags & PINIO_PIN_GET) && q.nr_dma_pinned + q.nr_zero_page < q.nr_pages)
		pst_fail(st, "QUERY: only %llu of %llu FOLL_PIN pages (%llu zero pages) are folio_maybe_dma_pinned",
			 (unsigned long long)q.nr_dma_pinned,
			 (unsigned long long)q.nr_pages, (unsigned long long)q.nr_zero_page);
}

static void h_dma(struct hthread *t, bool to_pages)
{
	uint64_t *r = &t->r, roff, len, soff;
	struct hhandle hh;
	long long ret;

	if (!handle_pick(r, &hh, false))
		return;
	roff = prng_chance(r, 8) ? prng_below(r, 2 * hh.len) : sect * prng_below(r, hh.len / sect);
	len = prng_chance(r, 8) ? prng_below(r, 2 * hh.len) : sect * prng_below(r, (hh.len - roff % hh.len) / sect + 1);
	soff = to_pages ? any_read_off(r) : hostile_write_off(r, &len);
	ret = ioc_dma(atomic_load(&H.fds[hh.fdi].fd), hh.h,
		      to_pages ? PINIO_DMA_TO_PAGES : PINIO_DMA_FROM_PAGES, roff, soff, len);
	check(to_pages ? S_dma_to : S_dma_from, ret < 0 ? -1 : ret, (int)-ret, len,
	      A_INVAL | A_PERM, stale(hh.fdi, hh.gen));
	if (ret >= 0 && (uint64_t)ret != len)
		pst_fail(st, "DMA moved %lld of %llu bytes", ret, (unsigned long long)len);
	if (ret == -EPERM && (!to_pages || (hh.flags & PINIO_PIN_WRITE)) && !stale(hh.fdi, hh.gen))
		pst_fail(st, "DMA %s gave EPERM on a pin with flags %#x",
			 to_pages ? "to pages" : "from pages", hh.flags);
}

static void h_config(struct hthread *t)
{
	uint64_t *r = &t->r;
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen), ret, e;
	bool bad = prng_chance(r, 4);
	struct pinio_config c;

	memset(&c, 0, sizeof(c));
	c.dma_delay_us = prng_chance(r, 2) ? 0 : prng_below(r, 2000);
	if (bad) {
		switch (prng_below(r, 5)) {
		case 0:
			c.dma_delay_us = 1000001 + prng_below(r, 1000);
			break;
		case 1:
			c.reserved[prng_below(r, 2)] = 1 + prng_below(r, 100);
			break;
		case 2:
			c.flags = ~PINIO_CONFIG_FLAGS_ALL;
			break;
		case 3:
			c.latency_us = 10000001 + prng_below(r, 1000);
			break;
		default:
			c.queue_depth = PINIO_QUEUE_DEPTH_MAX + 1 + prng_below(r, 100);
			break;
		}
	}
	ret = ioctl(fd, PINIO_IOC_SET_CONFIG, &c);
	e = errno;
	/*
	 * Flags 0 switches the file to completion by latency: EBUSY (documented) while another
	 * thread's asynchronous requests, queued under PINIO_CONFIG_FIFO, are in flight.
	 */
	if (!bad && ret < 0 && e == EBUSY) {
		pst_add(st, S_set_config, 1);
		return;
	}
	check(S_set_config, ret, e, NO_COUNT, bad ? A_INVAL : 0, stale(fdi, gen));
	if (bad && !ret)
		pst_fail(st, "SET_CONFIG accepted a bad argument");
}

static void h_mm(struct hthread *t)
{
	uint64_t *r = &t->r;
	int s = prng_below(r, NSLOT);
	struct slot *sl = &H.slot[s];
	size_t ps = psize(), first = prng_below(r, sl->len / ps), n = 1 + prng_below(r, sl->len / ps - first);

	switch (prng_below(r, 3)) {
	case 0:
		slot_map(r, s, prng_below(r, NR_KINDS));
		pst_add(st, S_munmap, 1);
		break;
	case 1: {
		static const int prot[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };

		mprotect(sl->addr + first * ps, n * ps, prot[prng_below(r, 3)]);
		pst_add(st, S_mprotect, 1);
		break;
	}
	default: {
		static const int adv[] = { MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT,
					   MADV_DONTFORK, MADV_DOFORK, MADV_HUGEPAGE,
					   MADV_NOHUGEPAGE, MADV_WIPEONFORK, MADV_KEEPONFORK,
					   MADV_POPULATE_READ };

		madvise(sl->addr + first * ps, n * ps, adv[prng_below(r, ARRAY_SIZE(adv))]);
		pst_add(st, S_madvise, 1);
		break;
	}
	}
}

/* ---- asynchronous requests ---- */

static struct hreq *hreq_get(struct hthread *t)
{
	for (int i = 0; i < HREQS; i++)
		if (!t->req[i].used) {
			t->req[i].used = true;
			return &t->req[i];
		}
	return NULL;
}

/* Accounts the completion of @q: bytes, or -errno. */
static void hreq_done(struct hreq *q, long long res)
{
	/* Past 256 pages an error comes through the completion as EIO, as from a bio. */
	unsigned int allowed = A_RW | A_AGAIN | A_INTR | A_CANCELED | A_IO;

	if (q->op == S_uring_write || q->op == S_aio_write)
		allowed |= A_NOSPC;
	check(q->op, res < 0 ? -1 : res, res < 0 ? (int)-res : 0, q->asked, allowed,
	      stale(q->fdi, q->gen));
	q->used = false;
}

/* Reaps what has completed; waits up to @ms for the first. */
static void h_async_reap(struct hthread *t, int ms)
{
	struct __kernel_timespec uts = { .tv_nsec = ms * 1000000LL };
	struct timespec ats = { .tv_nsec = ms * 1000000LL };
	struct io_uring_cqe *cqe;
	struct io_event ev[HREQS];
	int n;

	while (!(ms ? io_uring_wait_cqe_timeout(&t->ring, &cqe, &uts) :
		      io_uring_peek_cqe(&t->ring, &cqe))) {
		uint64_t data = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&t->ring, cqe);
		ms = 0;
		if (data & HCANCEL) {
			/* Done, not found, or running (and interrupted): never anything else. */
			if (res < 0 && res != -ENOENT && res != -EALREADY)
				pst_fail(st, "IORING_OP_ASYNC_CANCEL: %d (%s)", res, strerror(-res));
			continue;
		}
		if (data < HREQS && t->req[data].used)
			hreq_done(&t->req[data], res);
		else
			pst_fail(st, "io_uring completion of an unknown request %#llx",
				 (unsigned long long)data);
	}
	n = io_getevents(t->aio, 0, HREQS, ev, &ats);
	for (int i = 0; i < n; i++) {
		struct hreq *q = ev[i].data;

		if (q && q->used)
			hreq_done(q, (long)ev[i].res);
	}
}

/* Submits 1-4 random reads and writes (sometimes vectored) on random descriptors. */
static void h_async_submit(struct hthread *t, bool aio)
{
	uint64_t *r = &t->r;
	struct iocb *cbp[4];
	struct hreq *qs[4];
	int n = 1 + prng_below(r, 4), k = 0, ret;

	for (int i = 0; i < n; i++) {
		struct hreq *q = hreq_get(t);
		bool wr = prng_chance(r, 3), vec = prng_chance(r, 4);
		struct iovec *iov;
		uint64_t len, off;
		int fd, nv = 1;

		if (!q)
			break;
		iov = q->iov;
		fd = pick_fd(r, &q->fdi, &q->gen);
		iov[0].iov_base = pick_buf(r, &len, false);
		iov[0].iov_len = len;
		if (vec) {
			nv = 1 + prng_below(r, 4);
			len = pick_iov(r, iov, nv);
		}
		off = wr ? hostile_write_off(r, &len) : any_read_off(r);
		if (vec && wr) {
			/* The length may have been cut to the hostile half: one segment. */
			nv = 1;
			if (iov[0].iov_len > len)
				iov[0].iov_len = len;
			len = iov[0].iov_len;
		} else if (!vec) {
			iov[0].iov_len = len;
		}
		q->asked = len;
		q->op = aio ? (wr ? S_aio_write : S_aio_read) : (wr ? S_uring_write : S_uring_read);
		if (!aio) {
			if (uring_queue_rwv(&t->ring, wr, fd, iov, nv, off, q - t->req)) {
				q->used = false;
				break;
			}
			continue;
		}
		if (wr)
			io_prep_pwritev(&q->cb, fd, iov, nv, off);
		else
			io_prep_preadv(&q->cb, fd, iov, nv, off);
		if (prng_chance(r, 4))
			q->cb.aio_rw_flags = RWF_NOWAIT;
		q->cb.data = q;
		qs[k] = q;
		cbp[k++] = &q->cb;
	}
	if (!aio) {
		/* The iovecs are imported at submission: submit while they live. */
		ret = io_uring_submit(&t->ring);
		if (ret < 0)
			pst_fail(st, "io_uring_submit: %s", strerror(-ret));
		return;
	}
	if (!k)
		return;
	ret = io_submit(t->aio, k, cbp);
	/* A descriptor closed meanwhile fails io_submit itself (EBADF). */
	if (ret < 0 && ret != -EBADF && ret != -EAGAIN)
		pst_fail(st, "io_submit: %s", strerror(-ret));
	for (int i = ret < 0 ? 0 : ret; i < k; i++)
		qs[i]->used = false;
}

/* Tears down the ring and the aio context with requests in flight (if any). */
static void h_async_teardown(struct hthread *t)
{
	int left = 0;

	if (!t->async_up)
		return;
	for (int i = 0; i < HREQS; i++) {
		left += t->req[i].used;
		t->req[i].used = false;
	}
	io_uring_queue_exit(&t->ring);
	io_destroy(t->aio);
	t->async_up = false;
	pst_add(st, S_ring_teardown, 1);
	pst_add(st, S_async_left_in_flight, left);
}

/* A random device model on a random descriptor; EBUSY if FIFO changes while in flight. */
static void h_async_config(struct hthread *t)
{
	uint64_t *r = &t->r;
	struct pinio_config c = { 0 };
	unsigned int gen;
	int fdi, fd = pick_fd(r, &fdi, &gen), ret;

	c.latency_us = prng_chance(r, 3) ? 0 : prng_below(r, 20000);
	c.queue_depth = prng_chance(r, 3) ? 0 : 1 + prng_below(r, 16);
	c.flags = prng_below(r, PINIO_CONFIG_FLAGS_ALL + 1);
	ret = ioc_set_config(fd, &c);
	if (ret == -EBUSY) {
		pst_add(st, S_async_config, 1);
		return;
	}
	check(S_async_config, ret, -ret, NO_COUNT, 0, stale(fdi, gen));
}

/* io_uring and libaio: submissions, reaping, cancels, device models, teardown. */
static void h_async(struct hthread *t)
{
	uint64_t *r = &t->r;
	int x = prng_below(r, 20);

	if (!t->async_up) {
		if (io_uring_queue_init(2 * HREQS, &t->ring, 0))
			return;
		if (io_setup(HREQS, &t->aio)) {
			io_uring_queue_exit(&t->ring);
			return;
		}
		t->async_up = true;
	}
	if (x < 6) {
		h_async_submit(t, false);
	} else if (x < 10) {
		h_async_submit(t, true);
	} else if (x < 15) {
		h_async_reap(t, prng_chance(r, 2) ? 0 : 10);
	} else if (x < 17) {
		/* Cancel a random request (maybe completed already, maybe libaio's). */
		struct hreq *q = &t->req[prng_below(r, HREQS)];
		struct io_event ev;

		pst_add(st, S_async_cancel, 1);
		if (q->used && (q->op == S_aio_read || q->op == S_aio_write)) {
			int ret = io_cancel(t->aio, &q->cb, &ev);

			/* No cancel callback in pinio: the kernel does not find it. */
			if (ret != -EINVAL)
				pst_fail(st, "io_cancel: %d, want EINVAL", ret);
		} else if (!uring_queue_cancel(&t->ring, q - t->req, HCANCEL | (q - t->req))) {
			io_uring_submit(&t->ring);
		}
	} else if (x < 19) {
		h_async_config(t);
	} else if (prng_chance(r, 4)) {
		h_async_teardown(t);
	}
}

static void hostile_op(struct hthread *t, bool child);

static void h_fork(struct hthread *t)
{
	uint64_t *r = &t->r;
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return;
	if (pid == 0) {
		/*
		 * Single-threaded copy: no locks; a few operations on the inherited files
		 * (their pins are the parent's too), sometimes a slow one to be killed in.
		 */
		int n = prng_below(r, 12);

		forked_child = true;
		if (prng_chance(r, 3)) {
			pinio_set_dma_delay(atomic_load(&H.fds[0].fd), 500 + prng_below(r, 3000));
			pst_sleep_us(1);
		}
		for (int i = 0; i < n && !stopping(); i++)
			hostile_op(t, true);
		_exit(0);
	}
	pst_add(st, S_fork, 1);
	if (prng_chance(r, 3)) {
		pst_sleep_us(prng_below(r, 20000));
		if (!kill(pid, SIGKILL))
			pst_add(st, S_children_killed, 1);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		pst_fail(st, "a hostile child died of signal %d", WTERMSIG(status));
	/* It may have slowed the shared file down; undo that. */
	pinio_set_dma_delay(atomic_load(&H.fds[0].fd), 0);
}

/* Replaces descriptor @fdi with @newfd and closes the old one, under other threads' feet. */
static void fd_replace(int fdi, int newfd)
{
	int old;

	if (newfd < 0)
		return;
	old = atomic_exchange(&H.fds[fdi].fd, newfd);
	atomic_fetch_add(&H.fds[fdi].gen, 1);
	close(old);
}

static void h_fds(struct hthread *t)
{
	uint64_t *r = &t->r;
	int fdi = prng_below(r, NFD);

	switch (prng_below(r, 4)) {
	case 0:
	case 1:		/* a dup of another slot's file */
		fd_replace(fdi, dup(atomic_load(&H.fds[prng_below(r, NFD)].fd)));
		pst_add(st, S_dup_close, 1);
		break;
	case 2:
		fd_replace(fdi, open(PINIO_DEV, O_RDWR | (prng_chance(r, 2) ? O_DIRECT : 0)));
		pst_add(st, S_reopen, 1);
		break;
	default: {	/* a slow file with pins, closed while others are inside calls on it */
		int fd = open(PINIO_DEV, O_RDWR);
		struct slot *sl = &H.slot[prng_below(r, NSLOT)];

		if (fd < 0)
			break;
		pinio_set_dma_delay(fd, 1000 + prng_below(r, 4000));
		ioc_pin(fd, sl->addr, 16 * psize(), random_pin_flags(r) & ~PINIO_PIN_GET,
			0, NULL);
		fd_replace(fdi, fd);
		pst_sleep_us(2000 + prng_below(r, 30000));
		fd_replace(fdi, open(PINIO_DEV, O_RDWR | O_DIRECT));
		pst_add(st, S_inflight_close, 1);
		break;
	}
	}
}

static void hostile_op(struct hthread *t, bool child)
{
	uint64_t *r = &t->r;
	unsigned int x = prng_below(r, 100);

	if (x < 16)
		h_read(t);
	else if (x < 22) {
		/* Not in a forked child: its copy of the ring is the parent's. */
		if (child)
			h_read(t);
		else
			h_async(t);
	} else if (x < 36)
		h_write(t);
	else if (x < 44)
		h_splice(t);
	else if (x < 56)
		h_pin(t, child);
	else if (x < 64) {
		if (child) {	/* no locks in a forked child: unpin a copy of the list */
			if (H.nhandles) {
				struct hhandle *hh = &H.handles[prng_below(r, H.nhandles)];
				int ret = ioc_unpin(atomic_load(&H.fds[hh->fdi].fd), hh->h, 0);

				check(S_unpin, ret ? -1 : 0, -ret, NO_COUNT, A_INVAL, true);
			}
		} else {
			h_unpin(t);
		}
	} else if (x < 69) {
		if (!child)
			h_query(t);
	} else if (x < 75) {
		if (!child)
			h_dma(t, true);
	} else if (x < 80) {
		if (!child)
			h_dma(t, false);
	} else if (x < 82)
		h_config(t);
	else if (x < 91) {
		if (!child)
			h_mm(t);
	} else if (x < 95) {
		if (!child)
			h_fork(t);
	} else if (!child) {
		h_fds(t);
	}
}

static void *hostile_thread(void *arg)
{
	struct hthread *t = arg;

	while (!stopping())
		hostile_op(t, false);
	if (t->async_up) {
		for (int i = 0; i < 50; i++)
			h_async_reap(t, 20);
		h_async_teardown(t);
	}
	return NULL;
}

static int hostile_main(int idx, uint64_t seed)
{
	struct hthread th[16];
	pthread_t tid[16];
	uint64_t r = pst_mix(seed, 1000 + idx);
	uint8_t *area;

	H.idx = idx;
	pthread_mutex_init(&H.lock, NULL);
	area = mmap(NULL, NSLOT * SLOT_SPAN + 2 * MiB, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return 1;
	area = (uint8_t *)(((uintptr_t)area + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	for (int s = 0; s < NSLOT; s++) {
		static const size_t lens[NSLOT] = { 64 * KiB, 256 * KiB, 1 * MiB,
						    2 * MiB, 2 * MiB, 4 * MiB };

		H.slot[s].addr = area + s * SLOT_SPAN;
		H.slot[s].len = lens[s];
		slot_map(&r, s, s == 3 ? K_THP : s == 4 ? K_MEMFD : K_ANON);
	}
	for (int i = 0; i < NFD; i++) {
		int fd = (i & 1) ? dup(atomic_load(&H.fds[i - 1].fd)) :
				   open(PINIO_DEV, O_RDWR | O_DIRECT);

		if (fd < 0) {
			pst_fail(st, "hostile %d: open: %s", idx, strerror(errno));
			return 1;
		}
		atomic_store(&H.fds[i].fd, fd);
	}
	for (unsigned int i = 0; i < cfg.hostile_threads; i++) {
		th[i].r = pst_mix(seed, 2000 + 100 * idx + i);
		th[i].scratch = map_anon(SCRATCH_LEN);
		th[i].memfd = memfd_create("pinio-stress-sendfile", 0);
		if (!th[i].scratch || th[i].memfd < 0 || pipe2(th[i].pipefd, O_NONBLOCK)) {
			pst_fail(st, "hostile %d: set-up: %s", idx, strerror(errno));
			return 1;
		}
		fcntl(th[i].pipefd[1], F_SETPIPE_SZ, (int)(256 * KiB));
		memset(th[i].scratch, 0x77, SCRATCH_LEN);
		pthread_create(&tid[i], NULL, hostile_thread, &th[i]);
	}
	for (unsigned int i = 0; i < cfg.hostile_threads; i++)
		pthread_join(tid[i], NULL);
	/* Unpin half of what is left, leave the rest to close. */
	for (int i = 0; i < H.nhandles; i += 2) {
		int ret = ioc_unpin(atomic_load(&H.fds[H.handles[i].fdi].fd), H.handles[i].h, 0);

		check(S_unpin, ret ? -1 : 0, -ret, NO_COUNT, A_INVAL,
		      stale(H.handles[i].fdi, H.handles[i].gen));
	}
	for (int i = 0; i < NFD; i++)
		close(atomic_load(&H.fds[i].fd));
	if (vmpin_kb(0) != 0) {
		pst_add(st, S_vmpin_left, 1);
		pst_fail(st, "hostile %d: VmPin %lld kB after closing its files", idx,
			 vmpin_kb(0));
	}
	return 0;
}

/* =================================================================================== */
/* Victims: killed with SIGKILL inside calls                                           */
/* =================================================================================== */

static void *victim_thread(void *arg)
{
	int fd = *(int *)arg;
	uint64_t r = (uintptr_t)arg ^ getpid();
	uint8_t *buf = map_anon(4 * MiB);

	if (!buf)
		return NULL;
	for (;;)
		pread(fd, buf, 4 * MiB, any_read_off(&r));
	return NULL;
}

static void __noreturn victim_main(uint64_t seed)
{
	uint64_t r = seed;
	int fd, fd2 = -1;
	size_t blen = 8 * MiB, huge = 32 * MiB;
	uint8_t *buf, *fresh = NULL;
	struct pinio_config c = { 0 };
	struct io_uring ring;
	io_context_t aio = 0;
	bool ring_up = false;
	pthread_t th;

	fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	buf = map_anon(blen);
	if (fd < 0 || !buf)
		_exit(3);
	/* Slow transfers, and asynchronous requests that outlive the kill. */
	c.dma_delay_us = 500 + prng_below(&r, cfg.max_delay_us);
	c.latency_us = 10000 + prng_below(&r, 500000);
	c.queue_depth = 1 + prng_below(&r, 8);
	ioc_set_config(fd, &c);
	/* Long-term pins to be released when the killed process's files go. */
	ioc_pin(fd, buf, 64 * psize(), PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
	if (prng_chance(&r, 2))
		ioc_pin(fd, buf + MiB, 32 * psize(), PINIO_PIN_GET | PINIO_PIN_WRITE, 0, NULL);
	if (prng_chance(&r, 3)) {	/* another process shares the file, and dies with us */
		pid_t parent = getpid(), pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			for (int i = 0; i < 50 && getppid() == parent; i++)
				pread(fd, buf, 2 * MiB, any_read_off(&r));
			_exit(0);
		}
	}
	if (prng_chance(&r, 3)) {	/* a second thread in a slow call too */
		fd2 = fd;
		pthread_create(&th, NULL, victim_thread, &fd2);
	}
	for (;;) {
		uint64_t len = sect * (1 + prng_below(&r, 4 * MiB / sect)), off;
		struct iovec iov[4];

		switch (prng_below(&r, 8)) {
		case 0:
		case 1:
			pread(fd, buf, len, any_read_off(&r));
			break;
		case 6:		/* io_uring, never reaped */
			if (!ring_up)
				ring_up = !io_uring_queue_init(16, &ring, 0);
			for (int i = 0; ring_up && i < 4; i++) {
				bool wr = prng_chance(&r, 2);
				uint64_t l = len / 4;

				off = wr ? hostile_write_off(&r, &l) : any_read_off(&r);
				uring_queue_rw(&ring, wr, fd, buf + i * (blen / 4), l, off, i);
			}
			if (ring_up)
				io_uring_submit(&ring);
			break;
		case 7: {	/* libaio, never reaped */
			struct iocb cb[2], *cbp[2] = { &cb[0], &cb[1] };
			uint64_t l = len / 2;

			if (!aio && io_setup(64, &aio))
				break;
			io_prep_pread(&cb[0], fd, buf, l, any_read_off(&r));
			off = hostile_write_off(&r, &l);
			io_prep_pwrite(&cb[1], fd, buf + blen / 2, l, off);
			io_submit(aio, 2, cbp);
			break;
		}
		case 2:
			off = hostile_write_off(&r, &len);
			pwrite(fd, buf, len, off);
			break;
		case 3:
			for (int i = 0; i < 4; i++) {
				iov[i].iov_base = buf + i * 2 * MiB;
				iov[i].iov_len = MiB;
			}
			preadv(fd, iov, 4, any_read_off(&r));
			break;
		case 4:		/* a huge pin of memory never touched: slow faulting */
			if (!fresh)
				fresh = map_anon(huge);
			if (fresh) {
				long h = ioc_pin(fd, fresh, huge, PINIO_PIN_WRITE |
						 (prng_chance(&r, 2) ? PINIO_PIN_LONGTERM : 0),
						 prng_below(&r, 2) * 64, NULL);

				if (h > 0 && prng_chance(&r, 2))
					ioc_unpin(fd, h, 0);
			}
			break;
		default: {
			long h = ioc_pin(fd, buf, blen, PINIO_PIN_WRITE, 0, NULL);

			if (h > 0)
				ioc_dma(fd, h, PINIO_DMA_TO_PAGES, 0, any_read_off(&r) % (win.store_size / 2),
					blen);
			break;
		}
		}
	}
}

static int killer_main(uint64_t seed)
{
	uint64_t r = pst_mix(seed, 5000);
	unsigned int n = cfg.victims;
	pid_t *pid = calloc(n, sizeof(*pid));
	uint64_t *deadline = calloc(n, sizeof(*deadline));

	while (!stopping()) {
		for (unsigned int i = 0; i < n; i++) {
			int status;

			if (!pid[i]) {
				pid[i] = fork();
				if (pid[i] == 0)
					victim_main(pst_mix(seed, 6000 + prng_next(&r)));
				if (pid[i] < 0) {
					pid[i] = 0;
					continue;
				}
				pst_add(st, S_victims, 1);
				deadline[i] = pst_now_ns() + 1000000ULL * (20 + prng_below(&r, 400));
				continue;
			}
			if (pst_now_ns() < deadline[i])
				continue;
			if (pst_in_pinio(pid[i]))
				pst_add(st, S_killed_in_call, 1);
			kill(pid[i], SIGKILL);
			while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
				;
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
				pst_add(st, S_killed, 1);
			else
				pst_fail(st, "victim ended with status %#x before it was killed",
					 status);
			pid[i] = 0;
		}
		pst_sleep_us(2000);
	}
	for (unsigned int i = 0; i < n; i++) {
		int status;

		if (!pid[i])
			continue;
		kill(pid[i], SIGKILL);
		waitpid(pid[i], &status, 0);
		pst_add(st, S_killed, 1);
	}
	return 0;
}

/* The store window and its halves (each test runs in a process of its own). */
static int geometry(void)
{
	struct pinio_info info;
	int fd = open(PINIO_DEV, O_RDWR);

	if (fd < 0)
		return -1;
	if (ioc_info(fd, &info) || pst_window_get(fd, &win)) {
		close(fd);
		return -1;
	}
	close(fd);
	sect = info.block_size < 512 ? 512 : info.block_size;
	hs = win.start + win.len / 2;
	hl = win.start + win.len - hs;
	return 0;
}

/* =================================================================================== */
/* The tests                                                                           */
/* =================================================================================== */

/* /dev/kmsg from now on: the kernel log lines a test caused. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Counts splat lines (the patterns scripts/vm fails on) logged since kmsg_open(); prints
 * the first ones.
 */
static int kmsg_splats(int fd)
{
	static const char *const pat[] = {
		"BUG:", "WARNING:", "Oops", "Kernel panic", "general protection fault",
		"kernel BUG at", "Bad page", "bad page state", "UBSAN:", "KASAN:",
		"possible circular locking", "possible recursive locking",
		"inconsistent lock state", "lock held when returning", "suspicious RCU usage",
		"sleeping function called from invalid context", "blocked for more than",
		"rust_panic", "panicked at", "refcount_t:", "DEBUG_LOCKS_WARN_ON",
		"invalid error code",
	};
	char rec[2048];
	int n = 0;
	ssize_t len;

	if (fd < 0)
		return 0;
	while ((len = read(fd, rec, sizeof(rec) - 1)) != 0) {
		if (len < 0) {
			if (errno == EPIPE)
				continue;	/* overwritten records */
			break;
		}
		rec[len] = 0;
		for (size_t i = 0; i < ARRAY_SIZE(pat); i++)
			if (strstr(rec, pat[i])) {
				if (n++ < 5)
					ksft_print_msg("kernel: %s", strchr(rec, ';') ?
						       strchr(rec, ';') + 1 : rec);
				break;
			}
	}
	close(fd);
	return n;
}

static void dump_stuck(pid_t pid)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	if (!pst_read_file(path, buf, sizeof(buf)))
		ksft_print_msg("worker %d is stuck in:\n%s\n", pid, buf);
	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	if (!pst_read_file(path, buf, sizeof(buf)))
		ksft_print_msg("worker %d wchan: %s\n", pid, buf);
}

TEST_F_TIMEOUT(stress, mixed, STRESS_MAX_DURATION + 240)
{
	struct pinio_counters c0, c1;
	struct pst_ioctl_counters i0, i1;
	pid_t pids[32];
	int npids = 0, kmsg = kmsg_open(), splats, alive;
	long long pins0, pins_left, vmpin, async_left, refs_left;
	uint64_t t_end, t_stop;
	char why[256];
	bool data_ok, hung = false, dev_ok;

	ASSERT_EQ(0, geometry()) TH_LOG("open %s or no usable store window: %s", PINIO_DEV,
					strerror(errno));
	ASSERT_LE(4 * MiB, win.len) TH_LOG("the store window is too small");
	memset(st, 0, sizeof(*st));

	ksft_print_msg("stress: seed %#llx, %u s, owner threads %u, hostile processes %u x %u threads, victims %u, window [%#llx, +%#llx) (reproduce: --seed %#llx)\n",
		       (unsigned long long)cfg.seed, cfg.duration, cfg.owner_threads,
		       cfg.hostile_procs, cfg.hostile_threads, cfg.victims,
		       (unsigned long long)win.start, (unsigned long long)win.len,
		       (unsigned long long)cfg.seed);
	ksft_print_msg("@@seed mixed %#llx\n", (unsigned long long)cfg.seed);
	pins0 = pins_outstanding();
	if (pins0)
		ksft_print_msg("note: %lld FOLL_PIN pins outstanding before the run\n", pins0);
	ASSERT_EQ(0, pinio_counters_read(&c0));
	pst_ioctl_counters_read(&i0);

	signal(SIGPIPE, SIG_IGN);
	hard_deadline = pst_now_ns() + (cfg.duration + 60) * 1000000000ULL;
	for (unsigned int i = 0; i < 2 + cfg.hostile_procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			pst_fail(st, "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (i == 0)
				_exit(owner_main(cfg.seed));
			if (i == 1)
				_exit(killer_main(cfg.seed));
			_exit(hostile_main(i - 2, cfg.seed));
		}
		pids[npids++] = pid;
	}

	t_end = pst_now_ns() + cfg.duration * 1000000000ULL;
	while (pst_now_ns() < t_end) {
		pst_sleep_us(250000);
		for (int i = 0; i < npids; i++) {
			int status;

			if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				pst_fail(st, "worker %d ended early with status %#x", i, status);
				pids[i] = -pids[i];
			}
		}
	}
	atomic_store(&st->stop, 1);
	t_stop = pst_now_ns() + 120 * 1000000000ULL;
	do {
		alive = 0;
		for (int i = 0; i < npids; i++) {
			int status;

			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) != pids[i]) {
				alive++;
				continue;
			}
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				pst_fail(st, "worker %d ended with status %#x", i, status);
			pids[i] = 0;
		}
		if (alive)
			pst_sleep_us(100000);
	} while (alive && pst_now_ns() < t_stop);
	for (int i = 0; i < npids; i++) {
		if (pids[i] <= 0)
			continue;
		hung = true;
		dump_stuck(pids[i]);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	EXPECT_FALSE(hung) TH_LOG("workers did not stop within 120 s of the end of the run");

	/* Invariants. */
	async_left = async_settle(20000);
	pins_left = pst_pins_settle(NULL, pins0, 5000);
	refs_left = pinio_counter("pages_got") - pinio_counter("pages_put");
	vmpin = vmpin_kb(0);
	ASSERT_EQ(0, pinio_counters_read(&c1));
	pst_ioctl_counters_read(&i1);
	dev_ok = !pst_device_works(hs, cfg.seed, why, sizeof(why));
	splats = kmsg_splats(kmsg);
	data_ok = st->v[S_owner_verified_bytes] > 0 && !st->v[S_owner_corruptions];

	pst_print_stats("mixed", st, stat_names, NR_STATS);
	ksft_print_msg("@@stat mixed data_path_pages_pinned %lld\n",
		       c1.pages_pinned - c0.pages_pinned);
	ksft_print_msg("@@stat mixed ioctl_pins_counted %lld\n", i1.pins - i0.pins);
	pst_print_invariant("mixed", "no_kernel_splat_in_log", !splats);
	pst_print_invariant("mixed", "foll_pin_acquired_eq_released", !pins_left);
	pst_print_invariant("mixed", "vmpin_zero_in_every_process",
			    !vmpin && !st->v[S_vmpin_left]);
	pst_print_invariant("mixed", "owner_data_intact", data_ok);
	pst_print_invariant("mixed", "data_path_pins_released",
			    c1.pages_pinned - c0.pages_pinned == c1.pages_unpinned - c0.pages_unpinned);
	pst_print_invariant("mixed", "async_requests_completed", !async_left);
	pst_print_invariant("mixed", "data_path_refs_released", !refs_left);
	pst_print_invariant("mixed", "sane_results", !st->nfail);
	pst_print_invariant("mixed", "no_hang", !hung);
	pst_print_invariant("mixed", "device_works_after", dev_ok);

	EXPECT_EQ(0, splats) TH_LOG("kernel splats in the log during the run");
	EXPECT_EQ(0, pins_left) TH_LOG("%lld FOLL_PIN pins outstanding after the run", pins_left);
	EXPECT_EQ(0, vmpin);
	EXPECT_EQ(0, st->v[S_vmpin_left]) TH_LOG("workers saw VmPin left after closing");
	EXPECT_TRUE(data_ok);
	EXPECT_EQ(c1.pages_pinned - c0.pages_pinned, c1.pages_unpinned - c0.pages_unpinned);
	EXPECT_EQ(0, async_left) TH_LOG("%lld asynchronous requests never completed", async_left);
	EXPECT_EQ(0, refs_left) TH_LOG("%lld FOLL_GET references of the data path not put",
				       refs_left);
	EXPECT_TRUE(dev_ok) TH_LOG("the device no longer works: %s", why);
	EXPECT_EQ(0, st->nfail) TH_LOG("%d failures; the first: %s", st->nfail, st->fail[0]);
	EXPECT_LT(0, st->v[S_killed]) TH_LOG("no victim was killed");
	EXPECT_LT(0, st->v[S_owner_reads]);
}

/*
 * The ioctl counters in debugfs balance once every file is closed: src/disk/counters.rs documents
 * ioctl_unpins as "Handles released, by PINIO_IOC_UNPIN or on close", and
 * ioctl_pages_released as the pages of those handles.
 */
TEST_F_TIMEOUT(stress, ioctl_counters_balanced, 120)
{
	struct pst_ioctl_counters a, b;
	uint8_t *buf = map_anon(16 * psize());
	int fd = open(PINIO_DEV, O_RDWR);
	long h1, h2;

	ASSERT_LE(0, fd);
	ASSERT_NE(NULL, buf);
	memset(buf, 1, 16 * psize());
	pst_ioctl_counters_read(&a);
	h1 = ioc_pin(fd, buf, 16 * psize(), PINIO_PIN_WRITE, 0, NULL);
	h2 = ioc_pin(fd, buf, 4 * psize(), PINIO_PIN_LONGTERM, 0, NULL);
	ASSERT_LT(0, h1);
	ASSERT_LT(0, h2);
	ASSERT_EQ(0, ioc_unpin(fd, h1, 0));
	ASSERT_EQ(0, close(fd));	/* releases h2 */
	pst_ioctl_counters_read(&b);
	EXPECT_EQ(2, b.pins - a.pins);
	EXPECT_EQ(20, b.pages_held - a.pages_held);
	EXPECT_EQ(2, b.unpins - a.unpins)
		TH_LOG("ioctl_unpins counted %lld of 2 releases (one by close)",
		       b.unpins - a.unpins);
	EXPECT_EQ(20, b.pages_released - a.pages_released)
		TH_LOG("ioctl_pages_released counted %lld of 20 pages (4 released by close)",
		       b.pages_released - a.pages_released);
	EXPECT_PINS_BALANCED();
}

/*
 * Unload while in use is refused and harmless; after the last user is gone it works; then
 * the module is loaded again (KUnit suites filtered out, so that make test counts them once)
 * so that the runner's own rmmod and kmemleak checks run on it.
 */
TEST_F_TIMEOUT(stress, unload_busy, 1800)
{
	const char *ko = pst_module_path();
	char params[512] = "", why[256], state[32];
	struct pst_kunit_filter kunit;
	unsigned long text_start = 0, text_end = 0;
	int fd, sync[2];
	pid_t pid;
	long ret;
	uint8_t c;

	if (access(ko, R_OK))
		SKIP(return, "%s not found (run in the scripts/vm guest, or set PINIO_KO)", ko);
	if (!pst_module_loaded())
		SKIP(return, "pinio is not loaded");
	ASSERT_EQ(0, geometry());
	pst_read_file("/pinio/params", params, sizeof(params));
	pst_pinio_text(&text_start, &text_end);

	/* 1. An open descriptor holds the module. */
	fd = open(PINIO_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	errno = 0;
	ret = pst_module_unload();
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module with an open file: %s",
					     strerror(errno));
	ASSERT_TRUE(pst_module_loaded());
	EXPECT_EQ(0, pst_read_file("/sys/module/pinio/initstate", state, sizeof(state)));
	EXPECT_STREQ("live", state);
	EXPECT_EQ(0, pst_device_works(hs, 7, why, sizeof(why)))
		TH_LOG("after a refused unload: %s", why);
	if (!access("/sbin/rmmod", X_OK) || !access("/bin/rmmod", X_OK))
		EXPECT_NE(0, system("rmmod pinio 2>/dev/null"));
	ASSERT_TRUE(pst_module_loaded());

	/* 2. A forked child's descriptor, with long-term pins, holds it after ours is closed. */
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int cfd = open(PINIO_DEV, O_RDWR);
		uint8_t *b = map_anon(64 * KiB);

		memset(b, 3, 64 * KiB);
		if (cfd < 0 || ioc_pin(cfd, b, 64 * KiB,
				       PINIO_PIN_LONGTERM | PINIO_PIN_WRITE, 0, NULL) <= 0)
			_exit(1);
		c = 1;
		if (write(sync[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(sync[0], &c, 1));
	ASSERT_EQ(0, close(fd));
	errno = 0;
	ret = pst_module_unload();
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("delete_module with a child's open file: %s",
					     strerror(errno));
	ASSERT_TRUE(pst_module_loaded());
	EXPECT_LT(0, pins_outstanding());
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	EXPECT_EQ(0, pst_pins_settle(NULL, 0, 3000));

	/* 3. Nothing holds it now. */
	ret = pst_module_unload_wait();
	ASSERT_EQ(0, ret) TH_LOG("delete_module after the last close: %s", strerror(errno));
	EXPECT_FALSE(pst_module_loaded());
	EXPECT_EQ(0, pst_pins_settle(NULL, 0, 3000));

	/*
	 * 4. Load it again, for the rest of the run and the runner's checks; first, with
	 * $PINIO_INIT_FAULTS, again and again with allocations of its init failing.
	 */
	pst_kunit_mute(&kunit);
	if (getenv("PINIO_INIT_FAULTS") && text_start) {
		int injected = pst_init_faults(ko, params, text_start, text_end, 256, hs, why,
					       sizeof(why));

		EXPECT_LE(0, injected) TH_LOG("%s", why);
		ksft_print_msg("@@stat unload_busy init_faults_injected %d\n", injected);
		EXPECT_TRUE(pst_module_gone());
	}
	ret = pst_module_load(ko, params);
	EXPECT_EQ(0, ret) TH_LOG("finit_module: %s", strerror(errno));
	pst_kunit_restore(&kunit);
	ASSERT_TRUE(pst_module_loaded());
	for (int i = 0; i < 50 && access(PINIO_DEV, F_OK); i++)
		pst_sleep_us(100000);
	EXPECT_EQ(0, pst_device_works(hs, 8, why, sizeof(why)))
		TH_LOG("after reloading: %s", why);
}

int main(int argc, char **argv)
{
	const struct pst_opt opts[] = {
		{ "--duration", &cfg.duration }, { "--hostile", &cfg.hostile_procs },
		{ "--threads", &cfg.hostile_threads }, { "--owners", &cfg.owner_threads },
		{ "--victims", &cfg.victims }, { "--max-delay", &cfg.max_delay_us }, { NULL },
	};
	const char *env = getenv("PINIO_STRESS_DURATION");

	argc = pst_parse_args(argc, argv, &cfg.seed, opts);
	if (env && *env && cfg.duration == 20)
		cfg.duration = strtoul(env, NULL, 0);
	pst_clamp("--duration", &cfg.duration, 0, STRESS_MAX_DURATION);
	pst_clamp("--owners", &cfg.owner_threads, 1, 16);
	pst_clamp("--threads", &cfg.hostile_threads, 0, 16);
	pst_clamp("--hostile", &cfg.hostile_procs, 0, 28);
	pst_clamp("--victims", &cfg.victims, 1, 64);
	pst_clamp("--max-delay", &cfg.max_delay_us, 0, 1000000);

	st = pst_stats_new();
	if (!st)
		return KSFT_FAIL;
	return test_harness_run(argc, argv);
}
