/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Two experiments with pinio's DMA mappings (also pinio-ctl bounce-leak and overlap):
 *
 * bounce-leak: the skip_unmap broken variant's mistake made on purpose (PINIO_DMA_KEEP_MAPPING,
 * only with the dma_leak_experiment=1 module parameter): PINIO_IOC_DMA keeps its mapping, and
 * under swiotlb its bounce slots, until the handle is released. The slots leak, the device's
 * writes stay in the bounce buffer, the pool fills, and the callers that come next get EAGAIN
 * (RWF_NOWAIT) or ENOMEM (blocking: the kept slots never come back while they wait); the
 * release unmaps before it unpins, and the data arrives then. It needs a small forced pool
 * whose use is tracked (Linux 7.3 tracks it only with swiotlb=track_hiwater: without it,
 * io_tlb_used in debugfs is an estimate and pinio's swiotlb_used stays 0; 7.2 always tracks
 * it): make test's third boot (swiotlb=128,force swiotlb=track_hiwater; dma_mask_bits=32
 * dma_leak_experiment=1).
 *
 * overlap: two asynchronous reads into one page in flight at once (io_uring, service times
 * that fix the completion order): the page ends up with the data of whichever completes last,
 * as-completed or FIFO (PINIO_CONFIG_FIFO); pinio counts the overlap (dma_overlaps) and, with
 * overlap_warn=1, logs it once per file. Two reads into different cache lines of the page do
 * not overlap.
 *
 * Store use: [EXP_STORE_OFF, EXP_STORE_OFF + 1 MiB) (pinio_exp.h's window).
 */
#ifndef _PINIO_EXP_DMA_H
#define _PINIO_EXP_DMA_H

#include <sys/uio.h>

#include "pinio_exp.h"

/* ---- bounce-leak ------------------------------------------------------------------------ */

#define LEAK_CHUNK	(32 * 1024)	/* one kept mapping: 16 slots of 2 KiB */

/* The pool as the counters file shows it. */
struct leak_pool {
	long long slots, used, hiwater, kept;
};

static inline void leak_pool_read(struct leak_pool *p)
{
	p->slots = pinio_counter("swiotlb_slots");
	p->used = pinio_counter("swiotlb_used");
	p->hiwater = pinio_counter("swiotlb_used_hiwater");
	p->kept = pinio_counter("swiotlb_kept_slots");
}

/* PINIO_IOC_DMA of @len bytes into @handle at @off; -errno, or done (bounced in @bounced). */
static inline long long leak_dma(struct exp *e, uint32_t handle, uint32_t flags, size_t off,
				 size_t len, uint64_t *bounced)
{
	return ioc_dma_bounced(e->fd, handle, flags, off, EXP_STORE_OFF + off, len, bounced);
}

/* A 4 KiB O_DIRECT read of the store into @buf, RWF_NOWAIT or not: 0 or the errno. */
static inline int leak_read(struct exp *e, void *buf, bool nowait)
{
	struct iovec iov = { .iov_base = buf, .iov_len = e->ps };
	ssize_t n = preadv2(e->fd, &iov, 1, EXP_STORE_OFF, nowait ? RWF_NOWAIT : 0);

	return n == (ssize_t)e->ps ? 0 : n < 0 ? errno : EIO;
}

static inline int exp_bounce_leak(struct exp *e)
{
	long long errors0 = pinio_counter("dma_map_errors"), unmapped0, done;
	uint8_t *buf = NULL, *data = NULL, *probe = map_small(e->ps);
	struct pinio_info info;
	struct pinio_query q;
	struct leak_pool p0, p;
	uint64_t bounced = 0, t0;
	int kept = 0, err;
	bool refused = false;
	uint32_t h = 0;
	size_t len = 0;

	leak_pool_read(&p0);
	exp_say(e, "0. the bounce pool: %lld slots of 2 KiB, %lld in use (swiotlb_slots, swiotlb_used)",
		p0.slots, p0.used);
	if (!exp_need(e, probe && !ioc_info(e->fd, &info), "PINIO_IOC_INFO") ||
	    !exp_check(e, info.dma_flags & PINIO_DMA_KEEP_MAPPING,
		       "PINIO_DMA_KEEP_MAPPING accepted (INFO's dma_flags): pinio loaded with dma_leak_experiment=1") ||
	    !exp_check(e, p0.slots > 0 && p0.slots <= 1024 && p0.kept == 0,
		       "a forced, small bounce pool (swiotlb=128,force: %lld slots), nothing kept",
		       p0.slots))
		goto out;
	/* Room for more mappings than the pool can hold. */
	len = (p0.slots * 2048 / LEAK_CHUNK + 2) * LEAK_CHUNK;
	buf = map_small(len);
	data = map_small(len);
	if (!exp_need(e, buf && data, "mmap"))
		goto out;

	exp_say(e, "1. %zu KiB of the store with a pattern; a writable pin of %zu KiB, filled with 0xee",
		len >> 10, len >> 10);
	exp_fill(data, len, 21);
	if (!exp_need(e, pwrite(e->fd, data, len, EXP_STORE_OFF) == (ssize_t)len, "pwrite"))
		goto out;
	memset(buf, 0xee, len);
	h = exp_pin(e, buf, len, PINIO_PIN_WRITE, "the pin");
	if (!h)
		goto out;
	done = leak_dma(e, h, PINIO_DMA_TO_PAGES, 0, LEAK_CHUNK, &bounced);
	leak_pool_read(&p);
	exp_check(e, done == LEAK_CHUNK && bounced == LEAK_CHUNK && p.used == p0.used &&
		  exp_mismatch(buf, LEAK_CHUNK, 21) == LEAK_CHUNK,
		  "a normal DMA of %d KiB: all of it bounced (bounced %llu), the data in the pages at once, the slots back (used %lld)",
		  LEAK_CHUNK >> 10, (unsigned long long)bounced, p.used);
	if (!exp_check(e, p.hiwater >= LEAK_CHUNK / 2048,
		       "the pool's use is tracked: high-water mark %lld (Linux 7.3 tracks it with swiotlb=...,track_hiwater)",
		       p.hiwater))
		goto out;
	memset(buf, 0xee, LEAK_CHUNK);

	exp_say(e, "2. PINIO_DMA_KEEP_MAPPING, %d KiB at a time, until the pool is full: the mappings stay",
		LEAK_CHUNK >> 10);
	for (size_t i = 0, off = 0; i <= len / LEAK_CHUNK; i++, off = i * LEAK_CHUNK % len) {
		done = leak_dma(e, h, PINIO_DMA_TO_PAGES | PINIO_DMA_KEEP_MAPPING, off, LEAK_CHUNK,
				&bounced);
		leak_pool_read(&p);
		if (done < 0) {
			refused = true;
			exp_check(e, done == -ENOMEM && p.kept + LEAK_CHUNK / 2048 > p.slots,
				  "DMA %d: ENOMEM at once, not a wait that never ends: %d slots needed, %lld of %lld kept (got %s)",
				  kept + 1, LEAK_CHUNK / 2048, p.kept, p.slots,
				  strerrorname_np((int)-done));
			break;
		}
		kept++;
		exp_say(e, "   DMA %d: bounced %llu, swiotlb_used %lld (hiwater %lld), kept %lld slots",
			kept, (unsigned long long)bounced, p.used, p.hiwater, p.kept);
		if (!exp_check(e, p.kept == kept * LEAK_CHUNK / 2048 &&
			       p.used == p0.used + p.kept &&
			       bytes_mismatch(buf + off, LEAK_CHUNK, 0xee) == LEAK_CHUNK,
			       "16 more slots leak, and the pages still hold 0xee: the device's bytes wait in the bounce slots"))
			break;
	}
	exp_check(e, refused, "the pool ran out before the pin's pages did (%d mappings kept)", kept);
	if (!exp_need(e, !ioc_query(e->fd, h, &q), "PINIO_IOC_QUERY"))
		goto out;
	exp_check(e, q.dma_kept_maps == (uint64_t)kept && q.dma_kept_slots * 2048 == kept * LEAK_CHUNK,
		  "QUERY: the handle keeps %llu mappings holding %llu slots",
		  (unsigned long long)q.dma_kept_maps, (unsigned long long)q.dma_kept_slots);
	leak_pool_read(&p);
	exp_check(e, p.used >= p.slots - LEAK_CHUNK / 2048 && p.hiwater >= p.used,
		  "the pool is full: %lld of %lld slots used, high-water mark %lld", p.used,
		  p.slots, p.hiwater);

	exp_say(e, "3. what the callers get now");
	err = leak_read(e, probe, true);
	exp_check(e, err == EAGAIN, "a 4 KiB read with RWF_NOWAIT: EAGAIN, as under any full pool (got %s)",
		  err ? strerrorname_np(err) : "success");
	t0 = async_now_us();
	err = leak_read(e, probe, false);
	t0 = async_now_us() - t0;
	exp_check(e, err == ENOMEM && t0 < 500000,
		  "a blocking 4 KiB read: ENOMEM at once (%llu ms): the slots it would wait for are kept, and never come back while it waits (got %s)",
		  (unsigned long long)(t0 / 1000), err ? strerrorname_np(err) : "success");
	done = leak_dma(e, h, PINIO_DMA_FROM_PAGES, 0, e->ps, NULL);
	exp_check(e, done == -ENOMEM, "PINIO_IOC_DMA without the flag: ENOMEM too (got %s)",
		  done < 0 ? strerrorname_np((int)-done) : "success");
	exp_check(e, pinio_counter("dma_map_errors") > errors0,
		  "dma_map_errors counted them (+%lld)", pinio_counter("dma_map_errors") - errors0);

	exp_say(e, "4. PINIO_IOC_UNPIN: the kept mappings are unmapped first, then the pages released");
	unmapped0 = pinio_counter("dma_kept_unmapped");
	exp_unpin(e, h);
	h = 0;
	leak_pool_read(&p);
	exp_check(e, pinio_counter("dma_kept_unmapped") - unmapped0 == kept && p.kept == 0 &&
		  p.used == p0.used,
		  "%lld kept mappings unmapped, their slots back (used %lld, kept %lld)",
		  pinio_counter("dma_kept_unmapped") - unmapped0, p.used, p.kept);
	exp_check(e, exp_mismatch(buf, (size_t)kept * LEAK_CHUNK, 21) == (size_t)kept * LEAK_CHUNK,
		  "the device's bytes reached the pages only now: dma_unmap_sg() copied the bounce slots back");
	err = leak_read(e, probe, false);
	exp_check(e, !err && !leak_read(e, probe, true),
		  "reads work again, blocking and RWF_NOWAIT (%s)", err ? strerrorname_np(err) : "ok");
out:
	exp_unpin(e, h);
	if (buf)
		munmap(buf, len);
	if (data)
		munmap(data, len);
	if (probe)
		munmap(probe, e->ps);
	return 0;
}

/* ---- overlap ------------------------------------------------------------------------------ */

/* Lines of the kernel log that contain @needle; -1 if the log cannot be read. */
static inline int exp_klog_count(const char *needle)
{
	char *buf = exp_klog_read(), *p;
	int count = 0;

	if (!buf)
		return -1;
	for (p = strstr(buf, needle); p; p = strstr(p + 1, needle))
		count++;
	free(buf);
	return count;
}

/* One request of an overlap step: what, where, with which service time. */
struct overlap_req {
	bool write;		/* the device reads the page (a write(2)) */
	size_t page_off, len;	/* the bytes of the page */
	uint64_t store;		/* store offset */
	uint32_t latency_us;
};

/*
 * Submits @n requests on @fd, one at a time, each with its own service time, then reaps them:
 * the order of their completions in @order (indices). 0, or -1.
 */
static inline int overlap_run(struct exp *e, int fd, struct io_uring *ring, uint8_t *page,
			      const struct overlap_req *r, int n, bool fifo, int *order)
{
	struct uring_done d[4];

	for (int i = 0; i < n; i++) {
		struct pinio_config c = {
			.latency_us = r[i].latency_us, .flags = fifo ? PINIO_CONFIG_FIFO : 0,
		};

		if (!exp_need(e, !ioc_set_config(fd, &c), "PINIO_IOC_SET_CONFIG") ||
		    !exp_need(e, !uring_queue_rw(ring, r[i].write, fd, page + r[i].page_off,
						  r[i].len, r[i].store, i) &&
			      io_uring_submit(ring) == 1, "io_uring submit"))
			return -1;
	}
	if (!exp_need(e, uring_reap(ring, n, d, 10000) == n, "io_uring completions"))
		return -1;
	for (int i = 0; i < n; i++) {
		order[i] = (int)d[i].data;
		if (!exp_check(e, d[i].res == (int)r[order[i]].len, "request %d: %d bytes", order[i],
			       d[i].res))
			return -1;
	}
	return 0;
}

static inline int exp_overlap(struct exp *e)
{
	static const char warn_text[] = "overlapping DMA";
	const uint64_t a = EXP_STORE_OFF, b = EXP_STORE_OFF + e->ps, w = EXP_STORE_OFF + 2 * e->ps;
	const struct overlap_req both[2] = {
		{ false, 0, e->ps, a, 300000 }, { false, 0, e->ps, b, 100000 },
	};
	const struct overlap_req halves[2] = {
		{ false, 0, e->ps / 2, a, 200000 }, { false, e->ps / 2, e->ps / 2, b, 100000 },
	};
	const struct overlap_req rw[2] = {
		{ false, 0, e->ps, a, 200000 }, { true, 0, e->ps, w, 100000 },
	};
	uint8_t *page = map_small(e->ps), *store = map_small(2 * e->ps);
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT), order[2], logged;
	int logged0 = exp_klog_count(warn_text);
	struct pinio_info info;
	struct io_uring ring;
	long long o0;
	bool ring_ok = false;

	if (!exp_need(e, page && store && fd >= 0, "mmap, open") ||
	    !exp_need(e, logged0 >= 0, "klogctl") ||
	    !exp_need(e, !ioc_info(fd, &info), "PINIO_IOC_INFO") ||
	    !exp_need(e, !io_uring_queue_init(4, &ring, 0), "io_uring_queue_init"))
		goto out;
	ring_ok = true;
	memset(store, 'A', e->ps);
	memset(store + e->ps, 'B', e->ps);
	if (!exp_need(e, pwrite(fd, store, 2 * e->ps, a) == (ssize_t)(2 * e->ps), "pwrite"))
		goto out;
	exp_say(e, "0. the store holds 'A' at %#llx and 'B' at %#llx; one page of the process, zeroed",
		(unsigned long long)a, (unsigned long long)b);

	for (int fifo = 0; fifo < 2; fifo++) {
		memset(page, 0, e->ps);
		o0 = pinio_counter("dma_overlaps");
		exp_say(e, "%d. %s: read 'A' into the page with a service time of 300 ms, then 'B' into the same page with 100 ms",
			1 + fifo, fifo ? "PINIO_CONFIG_FIFO" : "as completed");
		if (overlap_run(e, fd, &ring, page, both, 2, fifo, order))
			goto out;
		exp_check(e, order[0] == (fifo ? 0 : 1) && order[1] == (fifo ? 1 : 0),
			  "completions: %c first, then %c (%s)", order[0] ? 'B' : 'A',
			  order[1] ? 'B' : 'A', fifo ? "submission order" : "by service time");
		exp_check(e, exp_all(page, e->ps, fifo ? 'B' : 'A'),
			  "the page holds '%c': the request that completed last wrote it last (page[0] = '%c')",
			  fifo ? 'B' : 'A', page[0]);
		exp_check(e, pinio_counter("dma_overlaps") - o0 == 1,
			  "dma_overlaps +%lld: the second read was queued while the first, into the same page, was in flight",
			  pinio_counter("dma_overlaps") - o0);
	}

	memset(page, 0, e->ps);
	o0 = pinio_counter("dma_overlaps");
	exp_say(e, "3. as completed: 'A' into the first half of the page, 'B' into the second");
	if (overlap_run(e, fd, &ring, page, halves, 2, false, order))
		goto out;
	exp_check(e, exp_all(page, e->ps / 2, 'A') && exp_all(page + e->ps / 2, e->ps / 2, 'B') &&
		  pinio_counter("dma_overlaps") == o0,
		  "each half holds its read's bytes, and nothing is counted: the two share no cache line");

	o0 = pinio_counter("dma_overlaps");
	memset(page, 'W', e->ps);
	exp_say(e, "4. a read into the page (200 ms) and a write of it (100 ms) in flight at once");
	if (overlap_run(e, fd, &ring, page, rw, 2, false, order))
		goto out;
	exp_check(e, pinio_counter("dma_overlaps") - o0 == 1 && order[0] == 1,
		  "dma_overlaps +%lld: one of the two is a device write; the write completed first",
		  pinio_counter("dma_overlaps") - o0);
	exp_check(e, pread(fd, store, e->ps, w) == (ssize_t)e->ps && exp_all(store, e->ps, 'W'),
		  "the write took the page's bytes of its completion time ('W', before the read's 'A' landed)");

	exp_say(e, "5. the kernel log (overlap_warn=%d)",
		!!(info.info_flags & PINIO_INFO_OVERLAP_WARN));
	logged = exp_klog_count(warn_text);
	exp_check(e, logged >= 0 &&
		  logged - logged0 == (info.info_flags & PINIO_INFO_OVERLAP_WARN ? 1 : 0),
		  "\"%s\" logged %d time(s) for the file's three overlaps: once per file with overlap_warn=1, never without",
		  warn_text, logged - logged0);
out:
	if (ring_ok)
		io_uring_queue_exit(&ring);
	if (fd >= 0)
		close(fd);
	if (page)
		munmap(page, e->ps);
	if (store)
		munmap(store, 2 * e->ps);
	return 0;
}

#endif /* _PINIO_EXP_DMA_H */
