/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pinio ioctls as plain calls, shared by the tests and pinio-ctl. Each returns what the
 * ioctl produced (a handle, a byte count, 0) or -errno; none of them exits or logs.
 */
#ifndef _PINIO_IOCTL_H
#define _PINIO_IOCTL_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/pinio.h>

/* Any ioctl: 0 if it succeeded, else its errno (for checks that it fails as it should). */
static inline int ioc_errno(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

static inline int ioc_info(int fd, struct pinio_info *info)
{
	memset(info, 0, sizeof(*info));
	return ioctl(fd, PINIO_IOC_INFO, info) ? -errno : 0;
}

/*
 * PINIO_IOC_PIN of [@addr, @addr + @len): the handle, or -errno. @out, if not NULL, gets the
 * whole argument back (the kernel's results on success, what was passed on failure).
 */
static inline long ioc_pin(int fd, const void *addr, uint64_t len, uint32_t flags,
			   uint32_t per_call, struct pinio_pin *out)
{
	struct pinio_pin p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.addr = (uintptr_t)addr;
	p.len = len;
	p.flags = flags;
	p.pages_per_call = per_call;
	ret = ioctl(fd, PINIO_IOC_PIN, &p) ? -errno : 0;
	if (out)
		*out = p;
	return ret ? ret : (long)p.handle;
}

/* PINIO_IOC_UNPIN; @ns, if not NULL, gets the kernel-measured unpin time. */
static inline int ioc_unpin_ns(int fd, uint32_t handle, uint32_t flags, uint64_t *ns)
{
	struct pinio_unpin u;

	memset(&u, 0, sizeof(u));
	u.handle = handle;
	u.flags = flags;
	if (ioctl(fd, PINIO_IOC_UNPIN, &u))
		return -errno;
	if (ns)
		*ns = u.unpin_ns;
	return 0;
}

static inline int ioc_unpin(int fd, uint32_t handle, uint32_t flags)
{
	return ioc_unpin_ns(fd, handle, flags, NULL);
}

static inline int ioc_query(int fd, uint32_t handle, struct pinio_query *q)
{
	memset(q, 0, sizeof(*q));
	q->handle = handle;
	return ioctl(fd, PINIO_IOC_QUERY, q) ? -errno : 0;
}

/* PINIO_IOC_DMA: the bytes moved, or -errno; the bytes bounced in @bounced (if not NULL). */
static inline long long ioc_dma_bounced(int fd, uint32_t handle, uint32_t flags,
					uint64_t range_off, uint64_t store_off, uint64_t len,
					uint64_t *bounced)
{
	struct pinio_dma d;

	memset(&d, 0, sizeof(d));
	d.handle = handle;
	d.flags = flags;
	d.range_offset = range_off;
	d.store_offset = store_off;
	d.len = len;
	if (ioctl(fd, PINIO_IOC_DMA, &d))
		return -errno;
	if (bounced)
		*bounced = d.bounced;
	return (long long)d.done;
}

/* PINIO_IOC_DMA: the bytes moved, or -errno. */
static inline long long ioc_dma(int fd, uint32_t handle, uint32_t flags, uint64_t range_off,
				uint64_t store_off, uint64_t len)
{
	return ioc_dma_bounced(fd, handle, flags, range_off, store_off, len, NULL);
}

/*
 * PINIO_IOC_DUMP: up to @count records of @handle's pages from page index @offset on into
 * @recs; the number written, or -errno. @nr_pages, if not NULL, gets the pages held.
 */
static inline long ioc_dump(int fd, uint32_t handle, uint64_t offset, uint32_t count,
			    struct pinio_page_record *recs, uint64_t *nr_pages)
{
	struct pinio_dump d;

	memset(&d, 0, sizeof(d));
	d.handle = handle;
	d.offset = offset;
	d.count = count;
	d.records = (uintptr_t)recs;
	if (ioctl(fd, PINIO_IOC_DUMP, &d))
		return -errno;
	if (nr_pages)
		*nr_pages = d.nr_pages;
	return d.count;
}

/* PINIO_IOC_SET_CONFIG: the file's device model (dma_delay_us, flags, latency_us, queue_depth). */
static inline int ioc_set_config(int fd, const struct pinio_config *config)
{
	struct pinio_config c = *config;

	return ioctl(fd, PINIO_IOC_SET_CONFIG, &c) ? -errno : 0;
}

/* PINIO_IOC_GET_CONFIG: the file's device model now. */
static inline int ioc_get_config(int fd, struct pinio_config *config)
{
	memset(config, 0, sizeof(*config));
	return ioctl(fd, PINIO_IOC_GET_CONFIG, config) ? -errno : 0;
}

/*
 * PINIO_IOC_WHY: why the file's last failed PIN failed, into @w, and up to @count of its page
 * records into @recs (@w->count says how many were written). 0, or -errno.
 */
static inline int ioc_why(int fd, struct pinio_why *w, uint32_t count,
			  struct pinio_page_record *recs)
{
	memset(w, 0, sizeof(*w));
	w->count = count;
	w->records = (uintptr_t)recs;
	return ioctl(fd, PINIO_IOC_WHY, w) ? -errno : 0;
}

#endif /* _PINIO_IOCTL_H */
