// SPDX-License-Identifier: GPL-2.0
/*
 * pinio_fuzz_test: seeded ioctl and read/write fuzzing of /dev/pinio.
 *
 *   ioctl_model    random commands (pinio's six, other numbers with pinio's magic 0xB9 and
 *                  other magics) with structs built field by field from interesting and
 *                  random values (reserved bits, bad flags, misaligned, huge and overflowing
 *                  lengths, kernel and non-canonical addresses, stale and foreign handles)
 *                  and argument pointers that are NULL, kernel, PROT_NONE, read-only or
 *                  straddle into an unmapped page. A model of each open file (its handles, the
 *                  pages it holds, the handle the module will give next) predicts the exact
 *                  result of every call; the pins held system-wide must match it.
 *   ioctl_garbage  random command numbers and raw random bytes as arguments: every call
 *                  fails with a documented errno (ENOTTY for unknown commands).
 *   rw_model       read, pread, readv, preadv2, write, pwrite, writev, pwritev2 with
 *                  random buffers (valid, unpopulated, read-only, PROT_NONE, straddling,
 *                  kernel, misaligned), lengths (zero, huge, misaligned) and offsets
 *                  (negative, past the end, across the end, misaligned), checked against the
 *                  block-device rules of the README and, where the buffers are valid,
 *                  against the same call on the brd ramdisk /dev/ram0 with O_DIRECT.
 *   misc_fops      splice, sendfile, lseek, mmap, fsync, fallocate, ftruncate with garbage.
 *   handles        handles of other files, of closed files, unpinned twice, inherited by a
 *                  forked child.
 * Each test ends with: all files closed, FOLL_PIN pins back to where they were, VmPin 0,
 * and the device still writes, reads, pins and DMAs correctly.
 *
 * Writes to the store stay inside the store window (pinio_stress.h); reads go anywhere.
 * Options: --seed N (default $PINIO_SEED, else the clock), --ops N (calls per test; default
 * $PINIO_FUZZ_OPS, else 5000), then the harness's own.
 */
#include "pinio_stress.h"

#include <sys/sendfile.h>

static uint64_t seed;
static unsigned int nops = 5000;

#define ST_LIST(X) X(calls) X(ok) X(einval) X(efault) X(enomem) X(enospc) X(eperm) X(enotty) \
	X(eother) X(short_count) X(pins_ok) X(handles_checked) X(ramdisk_compared) \
	X(ramdisk_differences) X(ramdisk_quirks)
#define ST_ENUM(n) F_##n,
#define ST_NAME(n) #n,
enum { ST_LIST(ST_ENUM) NR_ST };
static const char *const st_names[] = { ST_LIST(ST_NAME) };
static struct pst_stats *st;

/* The VFS's cap on one read or write (MAX_RW_COUNT). */
#define MAX_RW_COUNT_USER	((uint64_t)INT_MAX & ~(uint64_t)(pst_psz() - 1))

static size_t ps;
static struct pst_window win;
static uint64_t sect;
static uint64_t cap_pages;

static inline uint64_t rnd(uint64_t *r, uint64_t n)
{
	return n ? prng_below(r, n) : 0;
}

static inline bool chance(uint64_t *r, unsigned int one_in)
{
	return prng_below(r, one_in) == 0;
}

static void account(long long ret, int err)
{
	pst_add(st, F_calls, 1);
	if (ret >= 0) {
		pst_add(st, F_ok, 1);
		return;
	}
	switch (err) {
	case EINVAL: pst_add(st, F_einval, 1); break;
	case EFAULT: pst_add(st, F_efault, 1); break;
	case ENOMEM: pst_add(st, F_enomem, 1); break;
	case ENOSPC: pst_add(st, F_enospc, 1); break;
	case EPERM: pst_add(st, F_eperm, 1); break;
	case ENOTTY: pst_add(st, F_enotty, 1); break;
	default: pst_add(st, F_eother, 1); break;
	}
}

/* ---- memory -------------------------------------------------------------------------- */

/*
 * One reservation: [guard][arena: touched part | untouched part][read-only][PROT_NONE]
 * [RW page][PROT_NONE page][guard]. Nothing else is ever mapped inside it.
 */
#define ARENA_LEN	(8 * PST_MiB)
#define TOUCHED_LEN	(6 * PST_MiB)
#define RO_LEN		(64 * PST_KiB)
#define NONE_LEN	(64 * PST_KiB)
#define GUARD_LEN	(1 * PST_MiB)

static struct {
	uint8_t *base, *arena, *ro, *none, *edge;	/* edge: RW page, PROT_NONE after it */
	uint8_t *argpage;				/* RW, for ioctl structs */
	uint8_t *ropage;				/* read-only, for ioctl structs */
	size_t total;
} M;

static int mem_setup(void)
{
	M.total = GUARD_LEN + ARENA_LEN + RO_LEN + NONE_LEN + 2 * ps + GUARD_LEN;
	M.base = mmap(NULL, M.total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (M.base == MAP_FAILED)
		return -1;
	M.arena = M.base + GUARD_LEN;
	M.ro = M.arena + ARENA_LEN;
	M.none = M.ro + RO_LEN;
	M.edge = M.none + NONE_LEN;
	if (mprotect(M.arena, ARENA_LEN, PROT_READ | PROT_WRITE) ||
	    mprotect(M.ro, RO_LEN, PROT_READ) ||
	    mprotect(M.edge, ps, PROT_READ | PROT_WRITE) ||
	    madvise(M.arena, ARENA_LEN, MADV_NOHUGEPAGE))
		return -1;
	memset(M.arena, 0xa1, TOUCHED_LEN);
	M.argpage = map_anon(ps);
	M.ropage = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!M.argpage || M.ropage == MAP_FAILED)
		return -1;
	return 0;
}

static void mem_teardown(void)
{
	munmap(M.base, M.total);
	munmap(M.argpage, ps);
	munmap(M.ropage, ps);
}

/* What pinning [addr, addr + len) would meet. */
enum memclass { MEM_OK, MEM_MAYBE, MEM_BAD };

/* After a fork the arena's pages are shared copy-on-write: a FOLL_NOFAULT pin may then need
 * a fault it is not allowed to take. */
static bool cow_shared;

static enum memclass classify_pin(uint64_t addr, uint64_t len, uint32_t flags)
{
	uint64_t a = (uintptr_t)M.arena, ro = (uintptr_t)M.ro, end = ro + RO_LEN;
	bool write = flags & PINIO_PIN_WRITE, nofault = flags & PINIO_PIN_NOFAULT;

	if (addr < a || addr >= end || len > end - addr)
		return MEM_BAD;
	if (addr + len > ro && write)
		return MEM_BAD;
	if (addr + len > ro)
		return MEM_MAYBE;	/* read-only pages, possibly the shared zero page */
	if (addr + len > a + TOUCHED_LEN && (nofault || !write))
		return MEM_MAYBE;	/* not populated yet, unless an earlier pin did */
	if (nofault && cow_shared)
		return MEM_MAYBE;
	return MEM_OK;
}

/* Interesting addresses. */
static uint64_t gen_addr(uint64_t *r, bool aligned)
{
	static const uint64_t kernel[] = {
		0xffff888000000000ULL, 0xffffffff81000000ULL, 0xffffc90000000000ULL,
		0xffffea0000000000ULL, 0xfffffffffffff000ULL, 0x0000800000000000ULL,
		0x8000000000000000ULL, 0x00007ffffffff000ULL + 0x1000,
	};
	uint64_t a;

	switch (rnd(r, 20)) {
	case 0: case 1:
		a = kernel[rnd(r, sizeof(kernel) / sizeof(kernel[0]))];
		break;
	case 2:
		a = rnd(r, 4) * 0x1000;					/* NULL page */
		break;
	case 3:
		a = (uintptr_t)M.ro + ps * rnd(r, RO_LEN / ps);
		break;
	case 4:
		a = (uintptr_t)M.none + ps * rnd(r, NONE_LEN / ps);
		break;
	case 5:
		a = (uintptr_t)M.base + ps * rnd(r, GUARD_LEN / ps);	/* guard */
		break;
	case 6:
		a = prng_next(r) | (1ULL << 63);			/* random, not user */
		break;
	case 7: case 8:
		a = (uintptr_t)M.arena + TOUCHED_LEN + ps * rnd(r, (ARENA_LEN - TOUCHED_LEN) / ps);
		break;
	default:
		a = (uintptr_t)M.arena + ps * rnd(r, TOUCHED_LEN / ps);
		break;
	}
	if (!aligned || chance(r, 16))
		a += 1 + rnd(r, ps - 1);
	return a;
}

static uint64_t gen_len(uint64_t *r)
{
	switch (rnd(r, 20)) {
	case 0:
		return 0;
	case 1:
		return 1 + rnd(r, 3 * ps);			/* misaligned */
	case 2:
		return 1ULL << (30 + rnd(r, 34));		/* huge */
	case 3:
		return ~0ULL - rnd(r, 4) * ps + 1 - ps;		/* overflows any address */
	case 4:
		return (cap_pages + 1 + rnd(r, 16)) * ps;	/* over the per-file cap */
	case 5: case 6: case 7:
		return ps * (1 + rnd(r, ARENA_LEN / ps));
	default:
		return ps * (1 + rnd(r, 16));
	}
}

/* ---- the model of one open file ------------------------------------------------------ */

#define MAX_HANDLES 512

struct mhandle {
	uint32_t h, flags;
	uint64_t addr, len;
};

struct mfile {
	int fd;
	uint32_t next;
	uint64_t held;			/* pages */
	int n;
	struct mhandle hs[MAX_HANDLES];
};

static struct mhandle *mf_find(struct mfile *f, uint32_t h)
{
	for (int i = 0; i < f->n; i++)
		if (f->hs[i].h == h)
			return &f->hs[i];
	return NULL;
}

static uint32_t mf_next_handle(struct mfile *f)
{
	uint32_t h = f->next ? f->next : 1;

	while (mf_find(f, h))
		h = h + 1 ? h + 1 : 1;
	return h;
}

/* Records a new handle; one the model has no room for is released at once. */
static void mf_add(struct mfile *f, uint32_t h, uint32_t flags, uint64_t addr, uint64_t len)
{
	f->next = h + 1 ? h + 1 : 1;
	if (f->n >= MAX_HANDLES) {
		ioc_unpin(f->fd, h, 0);
		return;
	}
	f->hs[f->n++] = (struct mhandle){ h, flags, addr, len };
	f->held += len / ps;
}

static void mf_del(struct mfile *f, uint32_t h)
{
	struct mhandle *m = mf_find(f, h);

	if (!m)
		return;
	f->held -= m->len / ps;
	*m = f->hs[--f->n];
}

static int mf_open(struct mfile *f)
{
	memset(f, 0, sizeof(*f));
	f->next = 1;
	f->fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	return f->fd;
}

static void mf_close(struct mfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->n = 0;
	f->held = 0;
}

/* FOLL_PIN pages the model says are held (GET handles hold references, not pins). */
static long long model_pins(struct mfile *fs, int nf)
{
	long long n = 0;

	for (int i = 0; i < nf; i++)
		for (int j = 0; j < fs[i].n; j++)
			if (!(fs[i].hs[j].flags & PINIO_PIN_GET))
				n += fs[i].hs[j].len / ps;
	return n;
}

/* ---- argument pointers ----------------------------------------------------------------- */

enum ptrclass { P_OK, P_MISALIGNED, P_RO, P_STRADDLE, P_NULL, P_KERNEL, P_NONE, NR_P };

static enum ptrclass gen_ptrclass(uint64_t *r)
{
	return chance(r, 5) ? (enum ptrclass)(1 + rnd(r, NR_P - 1)) : P_OK;
}

/* Places @len bytes of @src where class @pc says; returns the pointer to pass. */
static void *place_arg(enum ptrclass pc, const void *src, size_t len)
{
	static const uintptr_t kernel[] = { 0xffff888000000000UL, 0xffffffff81000000UL };
	uint8_t *p;

	switch (pc) {
	case P_MISALIGNED:
		p = M.argpage + 1 + ((uintptr_t)src & 7);
		memcpy(p, src, len);
		return p;
	case P_RO:
		mprotect(M.ropage, ps, PROT_READ | PROT_WRITE);
		memcpy(M.ropage + 64, src, len);
		mprotect(M.ropage, ps, PROT_READ);
		return M.ropage + 64;
	case P_STRADDLE:
		p = M.edge + ps - len / 2;
		memcpy(p, src, len / 2);
		return p;
	case P_NULL:
		return NULL;
	case P_KERNEL:
		return (void *)kernel[len & 1];
	case P_NONE:
		return M.none + 128;
	default:
		memcpy(M.argpage, src, len);
		return M.argpage;
	}
}

/* The struct after the call (for P_OK and P_MISALIGNED). */
static void fetch_arg(enum ptrclass pc, const void *p, void *dst, size_t len)
{
	if (pc == P_OK || pc == P_MISALIGNED)
		memcpy(dst, p, len);
}

static bool ptr_readable(enum ptrclass pc)
{
	return pc == P_OK || pc == P_MISALIGNED || pc == P_RO;
}

static bool ptr_writable(enum ptrclass pc)
{
	return pc == P_OK || pc == P_MISALIGNED;
}

/* ---- checking ------------------------------------------------------------------------- */

struct fuzz {
	struct __test_metadata *meta;
	uint64_t r;
	struct mfile f[3];
	long long pins0;
	unsigned long op;
	int mismatches;
};

#define MISMATCH(z, fmt, ...) do { \
	(z)->mismatches++; \
	pst_fail(st, "op %lu (seed %#llx): " fmt, (z)->op, (unsigned long long)seed, \
		 ##__VA_ARGS__); \
} while (0)

static const char *errname(int e)
{
	static char buf[32];

	switch (e) {
	case 0: return "success";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case EPERM: return "EPERM";
	case ENOTTY: return "ENOTTY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAGAIN: return "EAGAIN";
	case ESPIPE: return "ESPIPE";
	case EBADF: return "EBADF";
	case ENODEV: return "ENODEV";
	default:
		snprintf(buf, sizeof(buf), "errno %d", e);
		return buf;
	}
}

/* Model consistency: every live handle answers QUERY as recorded; the FOLL_PIN pins held
 * system-wide are those of the model's handles (GUP takes no pin on the shared zero page). */
static void model_check(struct fuzz *z)
{
	long long pins = pins_outstanding() - z->pins0, want = model_pins(z->f, 3);

	for (int i = 0; i < 3; i++) {
		struct mfile *f = &z->f[i];

		for (int j = 0; j < f->n; j++) {
			struct mhandle *m = &f->hs[j];
			struct pinio_query q;
			int ret = ioc_query(f->fd, m->h, &q);

			pst_add(st, F_handles_checked, 1);
			if (ret) {
				MISMATCH(z, "file %d handle %u: QUERY %s", i, m->h, errname(-ret));
				continue;
			}
			if (q.flags != m->flags || q.addr != m->addr || q.len != m->len ||
			    q.nr_pages != m->len / ps || q.reserved[0] || q.reserved[3] ||
			    (!(m->flags & PINIO_PIN_LONGTERM) && q.charged_pages) ||
			    q.nr_folios > q.nr_pages ||
			    (!(m->flags & PINIO_PIN_GET) &&
			     q.nr_dma_pinned + q.nr_zero_page < q.nr_pages))
				MISMATCH(z, "file %d handle %u: QUERY flags %#x addr %#llx len %#llx "
					 "pages %llu pinned %llu zero %llu charged %llu; model flags "
					 "%#x addr %#llx len %#llx", i, m->h, q.flags,
					 (unsigned long long)q.addr, (unsigned long long)q.len,
					 (unsigned long long)q.nr_pages,
					 (unsigned long long)q.nr_dma_pinned,
					 (unsigned long long)q.nr_zero_page,
					 (unsigned long long)q.charged_pages, m->flags,
					 (unsigned long long)m->addr, (unsigned long long)m->len);
			if (!(m->flags & PINIO_PIN_GET))
				want -= q.nr_zero_page;
		}
	}
	if (pins != want)
		MISMATCH(z, "FOLL_PIN pins outstanding %lld, model %lld", pins, want);
	else
		pst_add(st, F_pins_ok, 1);
}

/* ---- ioctl generation and expectations ----------------------------------------------- */

static const unsigned int known_cmds[] = {
	PINIO_IOC_INFO, PINIO_IOC_PIN, PINIO_IOC_UNPIN, PINIO_IOC_QUERY, PINIO_IOC_DMA,
	PINIO_IOC_SET_CONFIG,
};

static bool is_known(unsigned int cmd)
{
	/* Known but not modelled: an output-only copy of the file's configuration. */
	if (cmd == PINIO_IOC_GET_CONFIG)
		return true;
	for (size_t i = 0; i < sizeof(known_cmds) / sizeof(known_cmds[0]); i++)
		if (known_cmds[i] == cmd)
			return true;
	return false;
}

/* A command number that is none of pinio's, and none the VFS handles itself (FIOCLEX,
 * FIONBIO, FIFREEZE, FICLONE, FS_IOC_FIEMAP, FIGETBSZ, FS_IOC_GETFSUUID ...). */
static unsigned int gen_other_cmd(uint64_t *r)
{
	static const unsigned char vfs_types[] = { 'T', 'X', 'f', 0x94, 0x15, 0x00 };
	unsigned int cmd;
	bool vfs;

	do {
		unsigned int type = chance(r, 2) ? PINIO_IOC_MAGIC : rnd(r, 256);
		unsigned int nr = chance(r, 2) ? rnd(r, 16) : rnd(r, 256);
		unsigned int size = chance(r, 2) ? 8 * rnd(r, 16) : rnd(r, 1 << 14);

		cmd = _IOC(rnd(r, 4), type, nr, size);
		if (chance(r, 4))	/* one of pinio's with another size or direction */
			cmd = (known_cmds[rnd(r, 6)] & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
			      (rnd(r, 1 << 14) << _IOC_SIZESHIFT);
		if (chance(r, 8))
			cmd = (uint32_t)prng_next(r);
		vfs = false;
		for (size_t i = 0; i < sizeof(vfs_types); i++)
			vfs |= _IOC_TYPE(cmd) == vfs_types[i];
	} while (vfs || is_known(cmd));
	return cmd;
}

static void fill_reserved(uint64_t *r, __u64 *res, int n, bool *bad)
{
	memset(res, 0, n * sizeof(*res));
	if (chance(r, 10)) {
		res[rnd(r, n)] = chance(r, 2) ? 1ULL << rnd(r, 64) : prng_next(r) | 1;
		*bad = true;
	}
}

static struct mfile *pick_file(struct fuzz *z)
{
	return &z->f[rnd(&z->r, 3)];
}

static uint32_t gen_handle(struct fuzz *z, struct mfile *f)
{
	uint64_t *r = &z->r;
	struct mfile *o;

	switch (rnd(r, 8)) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)prng_next(r);
	case 2:		/* another file's handle (foreign) */
		o = &z->f[rnd(r, 3)];
		return o->n ? o->hs[rnd(r, o->n)].h : o->next;
	case 3:		/* the next one, not issued yet */
		return mf_next_handle(f);
	case 4:		/* one recently released (stale) */
		return f->next > 1 ? f->next - 1 - rnd(r, f->next - 1) : 1;
	default:
		return f->n ? f->hs[rnd(r, f->n)].h : 1 + rnd(r, 8);
	}
}

static int expect_pin(struct fuzz *z, struct mfile *f, const struct pinio_pin *p, bool bad,
		      bool *maybe)
{
	uint64_t pages = p->len / ps;

	*maybe = false;
	if (bad || (p->flags & ~PINIO_PIN_FLAGS_ALL))
		return EINVAL;
	if (!p->len || p->addr % ps || p->len % ps)
		return EINVAL;
	if (p->addr + p->len < p->addr)
		return EINVAL;
	if ((p->flags & PINIO_PIN_GET) && (p->flags & PINIO_PIN_LONGTERM))
		return EINVAL;
	if (f->held + pages > cap_pages)
		return ENOMEM;
	switch (classify_pin(p->addr, p->len, p->flags)) {
	case MEM_OK:
		return 0;
	case MEM_MAYBE:
		*maybe = true;
		return 0;
	default:
		return EFAULT;
	}
}

/* One structured ioctl; compares with the model and updates it. */
static void ioctl_one(struct fuzz *z)
{
	uint64_t *r = &z->r;
	struct mfile *f = pick_file(z);
	enum ptrclass pc = gen_ptrclass(r);
	unsigned int cmd;
	int want = 0, got, which = chance(r, 8) ? -1 : (int)rnd(r, 6);
	bool maybe = false, bad = false, effect;
	union {
		struct pinio_info info;
		struct pinio_pin pin;
		struct pinio_unpin unpin;
		struct pinio_query query;
		struct pinio_dma dma;
		struct pinio_config config;
		uint8_t raw[256];
	} a, out;
	void *p;
	long ret;
	struct mhandle *m = NULL;
	size_t len;

	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < sizeof(a.raw); i++)	/* garbage in output-only fields */
		a.raw[i] = (uint8_t)prng_next(r);
	cmd = which < 0 ? gen_other_cmd(r) : known_cmds[which];
	len = which < 0 ? 64 : _IOC_SIZE(cmd);

	switch (which) {
	case -1:
		want = ENOTTY;
		break;
	case 0:		/* INFO: output only */
		want = ptr_writable(pc) ? 0 : EFAULT;
		break;
	case 1: {	/* PIN */
		struct pinio_pin *pp = &a.pin;
		static const uint32_t ppc[] = { 0, 1, 3, 64, 0xffffffffu };

		pp->addr = gen_addr(r, !chance(r, 10));
		pp->len = gen_len(r);
		pp->flags = chance(r, 8) ? (uint32_t)prng_next(r) : (uint32_t)rnd(r, 16);
		pp->pages_per_call = ppc[rnd(r, 5)];
		pp->reserved0 = 0;
		if (chance(r, 20)) {
			pp->reserved0 = 1 + rnd(r, 1000);
			bad = true;
		}
		fill_reserved(r, pp->reserved, 2, &bad);
		want = expect_pin(z, f, pp, bad, &maybe);
		if (!ptr_readable(pc))
			want = EFAULT;
		else if (!want && pc == P_RO)
			want = EFAULT;		/* pinned, copy-back failed: undone */
		if (pc == P_RO && maybe)
			maybe = true;		/* EFAULT either way */
		break;
	}
	case 2: {	/* UNPIN */
		struct pinio_unpin *u = &a.unpin;

		u->handle = gen_handle(z, f);
		u->flags = chance(r, 10) ? (uint32_t)prng_next(r) : (uint32_t)rnd(r, 2);
		fill_reserved(r, u->reserved, 2, &bad);
		m = mf_find(f, u->handle);
		want = (bad || (u->flags & ~PINIO_UNPIN_FLAGS_ALL) || !m) ? EINVAL : 0;
		if (!ptr_readable(pc))
			want = EFAULT;
		else if (!want && pc == P_RO)
			want = EFAULT;		/* released, then the copy-back failed */
		break;
	}
	case 3: {	/* QUERY */
		struct pinio_query *q = &a.query;

		q->handle = gen_handle(z, f);
		fill_reserved(r, q->reserved, 4, &bad);
		m = mf_find(f, q->handle);
		want = (bad || !m) ? EINVAL : 0;
		if (!ptr_readable(pc) || (!want && pc == P_RO))
			want = EFAULT;
		break;
	}
	case 4: {	/* DMA */
		struct pinio_dma *d = &a.dma;
		static const uint32_t fl[] = { PINIO_DMA_TO_PAGES, PINIO_DMA_FROM_PAGES };
		uint64_t hlen;

		d->handle = gen_handle(z, f);
		m = mf_find(f, d->handle);
		hlen = m ? m->len : 64 * PST_KiB;
		d->flags = chance(r, 10) ? (chance(r, 2) ? 0 : (uint32_t)prng_next(r) | 3) :
					   fl[rnd(r, 2)];
		switch (rnd(r, 10)) {
		case 0: d->range_offset = hlen + rnd(r, 2 * ps); break;
		case 1: d->range_offset = ~0ULL - rnd(r, ps); break;
		default: d->range_offset = rnd(r, hlen); break;
		}
		switch (rnd(r, 10)) {
		case 0: d->len = 0; break;
		case 1: d->len = ~0ULL - rnd(r, 16); break;
		case 2: d->len = hlen - d->range_offset % (hlen + 1) + 1 + rnd(r, ps); break;
		default: d->len = rnd(r, hlen - d->range_offset % (hlen + 1) + 1); break;
		}
		if (d->flags == PINIO_DMA_TO_PAGES || chance(r, 3)) {
			/* Reading the store: anywhere, including past the end. */
			switch (rnd(r, 8)) {
			case 0: d->store_offset = win.store_size - rnd(r, 2 * ps); break;
			case 1: d->store_offset = ~0ULL - rnd(r, ps); break;
			default: d->store_offset = rnd(r, win.store_size); break;
			}
		}
		if (d->flags != PINIO_DMA_TO_PAGES) {
			/* Anything that might write the store stays in the window. */
			if (d->len <= win.len && !chance(r, 8))
				d->store_offset = win.start + rnd(r, win.len - d->len + 1);
			else
				d->store_offset = chance(r, 2) ? win.store_size + rnd(r, ps) :
								 ~0ULL - rnd(r, ps);
		}
		fill_reserved(r, d->reserved, 2, &bad);
		if (bad || !m)
			want = EINVAL;
		else if (d->store_offset + d->len < d->store_offset ||
			 d->store_offset + d->len > win.store_size)
			want = EINVAL;
		else if (d->flags != PINIO_DMA_TO_PAGES && d->flags != PINIO_DMA_FROM_PAGES)
			want = EINVAL;
		else if (d->range_offset + d->len < d->range_offset ||
			 d->range_offset + d->len > m->len)
			want = EINVAL;
		else if (d->flags == PINIO_DMA_TO_PAGES && !(m->flags & PINIO_PIN_WRITE))
			want = EPERM;
		else
			want = 0;
		if (!ptr_readable(pc))
			want = EFAULT;
		else if (!want && pc == P_RO)
			want = EFAULT;		/* moved, then the copy-back failed */
		break;
	}
	default: {	/* SET_CONFIG: input only */
		struct pinio_config *c = &a.config;

		c->dma_delay_us = chance(r, 6) ? 1000001 + rnd(r, 1u << 31) :
				  chance(r, 2) ? 0 : rnd(r, 300);
		c->flags = chance(r, 12) ? (__u32)rnd(r, 1u << 31) :
			   (__u32)rnd(r, PINIO_CONFIG_FLAGS_ALL + 1);
		bad |= !!(c->flags & ~PINIO_CONFIG_FLAGS_ALL);
		c->latency_us = chance(r, 12) ? 10000001 + rnd(r, 1000) :
				rnd(r, 300);
		c->queue_depth = chance(r, 12) ? PINIO_QUEUE_DEPTH_MAX + 1 :
				 rnd(r, 64);
		fill_reserved(r, c->reserved, 2, &bad);
		want = (bad || c->dma_delay_us > 1000000 ||
			c->latency_us > 10000000 ||
			c->queue_depth > PINIO_QUEUE_DEPTH_MAX) ? EINVAL : 0;
		if (!ptr_readable(pc))
			want = EFAULT;
		break;
	}
	}

	p = place_arg(pc, &a, len < sizeof(a) ? len : sizeof(a));
	errno = 0;
	ret = ioctl(f->fd, cmd, p);
	got = ret ? errno : 0;
	account(ret ? -1 : 0, got);
	memset(&out, 0, sizeof(out));
	fetch_arg(pc, p, &out, len < sizeof(out) ? len : sizeof(out));

	if (maybe && which == 1 && (got == 0 || got == EFAULT)) {
		want = got;	/* read-only or unpopulated pages: either is right */
	}
	if (got != want) {
		MISMATCH(z, "ioctl %#x (%s) on file %ld, arg %s: got %s, want %s", cmd,
			 which < 0 ? "other" : which == 0 ? "INFO" : which == 1 ? "PIN" :
			 which == 2 ? "UNPIN" : which == 3 ? "QUERY" : which == 4 ? "DMA" :
			 "SET_CONFIG", (long)(f - z->f),
			 pc == P_OK ? "ok" : pc == P_MISALIGNED ? "misaligned" : pc == P_RO ?
			 "read-only" : pc == P_STRADDLE ? "straddling" : pc == P_NULL ? "NULL" :
			 pc == P_KERNEL ? "kernel" : "PROT_NONE", errname(got), errname(want));
		if (which == 1 && !got && ptr_writable(pc) && out.pin.handle) {
			/* Keep the model right: an unexpected pin is released. */
			ioc_unpin(f->fd, out.pin.handle, 0);
		}
		return;
	}
	/* Effects. */
	effect = !got || (got == EFAULT && pc == P_RO && ptr_readable(pc));
	switch (which) {
	case 0:
		if (!got && (out.info.abi_version != PINIO_ABI_VERSION ||
			     out.info.store_size != win.store_size || out.info.page_size != ps ||
			     out.info.max_pinned_pages != cap_pages || out.info.reserved[0] ||
			     out.info.reserved[2] ||
			     out.info.config_flags != PINIO_CONFIG_FLAGS_ALL ||
			     out.info.max_queue_depth != PINIO_QUEUE_DEPTH_MAX))
			MISMATCH(z, "INFO answered wrongly");
		break;
	case 1:
		if (!got) {
			/* Handles are only documented as non-zero (and, so that no call
			 * can reach another pin, unique in the file). */
			if (!out.pin.handle || mf_find(f, out.pin.handle) ||
			    out.pin.nr_pages != a.pin.len / ps || out.pin.reserved0 ||
			    out.pin.reserved[0] || out.pin.reserved[1] ||
			    (!(a.pin.flags & PINIO_PIN_LONGTERM) && out.pin.charged_pages))
				MISMATCH(z, "PIN: handle %u (%s), pages %llu of %llu, charged %llu",
					 out.pin.handle, mf_find(f, out.pin.handle) ?
					 "already live" : "new",
					 (unsigned long long)out.pin.nr_pages,
					 (unsigned long long)(a.pin.len / ps),
					 (unsigned long long)out.pin.charged_pages);
			if (out.pin.handle && !mf_find(f, out.pin.handle))
				mf_add(f, out.pin.handle, a.pin.flags, a.pin.addr, a.pin.len);
		}
		break;
	case 2:
		if (effect && m)
			mf_del(f, a.unpin.handle);
		break;
	case 3:
		if (!got && (out.query.handle != a.query.handle || out.query.flags != m->flags ||
			     out.query.len != m->len || out.query.addr != m->addr))
			MISMATCH(z, "QUERY of handle %u answered for another range", a.query.handle);
		break;
	case 4:
		if (!got && out.dma.done != a.dma.len)
			MISMATCH(z, "DMA moved %llu of %llu bytes", (unsigned long long)out.dma.done,
				 (unsigned long long)a.dma.len);
		break;
	case 5:
		if (!got && a.config.dma_delay_us > 100)
			pinio_set_dma_delay(f->fd, 0);	/* keep the run fast */
		break;
	}
}

/* The end of every test: nothing held, nothing charged, the device still works. */
static void finish(struct __test_metadata *_metadata, struct fuzz *z)
{
	char why[256];
	long long left;

	for (int i = 0; i < 3; i++)
		mf_close(&z->f[i]);
	left = pst_pins_settle(z->pins0, 3000);
	EXPECT_EQ(0, left) TH_LOG("%lld FOLL_PIN pins left after closing every file", left);
	EXPECT_EQ(0, pst_vmpin_kb(0));
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why)))
		TH_LOG("the device no longer works: %s", why);
	EXPECT_EQ(0, z->mismatches) TH_LOG("%d results differed from the model; the first: %s",
					   z->mismatches, st->fail[0]);
}

static int fuzz_setup(struct __test_metadata *_metadata, struct fuzz *z, uint64_t salt)
{
	struct pinio_info info;
	int fd;

	memset(z, 0, sizeof(*z));
	z->meta = _metadata;
	z->r = pst_mix(seed, salt);
	ps = pst_psz();
	memset(st, 0, sizeof(*st));
	fd = open(PINIO_DEV, O_RDWR);
	if (fd < 0 || ioc_info(fd, &info) || pst_window_get(fd, &win))
		return -1;
	close(fd);
	sect = info.block_size;
	cap_pages = info.max_pinned_pages;
	if (mem_setup())
		return -1;
	for (int i = 0; i < 3; i++)
		if (mf_open(&z->f[i]) < 0)
			return -1;
	z->pins0 = pins_outstanding();
	ksft_print_msg("seed %#llx, %u calls (reproduce: --seed %#llx --ops %u)\n",
		       (unsigned long long)seed, nops, (unsigned long long)seed, nops);
	return 0;
}

TEST(ioctl_model)
{
	struct fuzz z;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 1)) TH_LOG("set-up: %s", strerror(errno));
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++) {
		ioctl_one(&z);
		if (z.op % 97 == 0)
			model_check(&z);
		if (chance(&z.r, 300)) {	/* a file closes with its pins, a new one opens */
			struct mfile *f = pick_file(&z);

			mf_close(f);
			mf_open(f);
		}
	}
	model_check(&z);
	pst_print_stats("ioctl_model", st, st_names, NR_ST);
	finish(_metadata, &z);
	mem_teardown();
}

/* Raw random bytes, random command numbers: only documented errors, nothing held after. */
TEST(ioctl_garbage)
{
	struct fuzz z;
	uint8_t raw[256];

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 2));
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++) {
		uint64_t *r = &z.r;
		struct mfile *f = pick_file(&z);
		unsigned int cmd = chance(r, 2) ? known_cmds[rnd(r, 6)] : gen_other_cmd(r);
		enum ptrclass pc = gen_ptrclass(r);
		long ret;
		int e;
		void *p;

		for (size_t i = 0; i < sizeof(raw); i += 8) {
			uint64_t v = prng_next(r);

			memcpy(raw + i, &v, 8);
		}
		if (chance(r, 4))	/* mostly zeroes: reaches further into the checks */
			for (size_t i = 0; i < sizeof(raw); i++)
				if (!chance(r, 16))
					raw[i] = 0;
		if (cmd == PINIO_IOC_PIN) {
			/* Never our own text, data or stack: the arena, or not user memory. */
			uint64_t addr;

			memcpy(&addr, raw, 8);
			if (chance(r, 4))
				addr = (uintptr_t)M.arena + ((addr % TOUCHED_LEN) & ~(ps - 1));
			else if (addr < (1ULL << 47))
				addr |= 1ULL << 63;
			memcpy(raw, &addr, 8);
		}
		if (cmd == PINIO_IOC_DMA) {
			/* A DMA that raw bytes made valid may only write the window. */
			struct pinio_dma d;

			memcpy(&d, raw, sizeof(d));
			if (d.store_offset < win.store_size)
				d.store_offset = win.start + d.store_offset % (win.len / 2);
			if (d.len < win.store_size)
				d.len %= win.len / 2;
			memcpy(raw, &d, sizeof(d));
		}
		p = place_arg(pc, raw, is_known(cmd) ? _IOC_SIZE(cmd) : 128);
		if (chance(r, 16))
			p = (void *)(uintptr_t)(prng_next(r) | (1ULL << 63));
		errno = 0;
		ret = ioctl(f->fd, cmd, p);
		e = ret ? errno : 0;
		account(ret ? -1 : 0, e);
		if (!is_known(cmd)) {
			if (e != ENOTTY)
				MISMATCH(&z, "unknown ioctl %#x: %s, want ENOTTY", cmd, errname(e));
			continue;
		}
		if (e && e != EINVAL && e != EFAULT && e != ENOMEM && e != EPERM && e != ENOSPC)
			MISMATCH(&z, "ioctl %#x: undocumented %s", cmd, errname(e));
		if (cmd == PINIO_IOC_SET_CONFIG && !e)
			pinio_set_dma_delay(f->fd, 0);
		/* A pin that raw bytes happened to make valid is released at close. */
		if (chance(r, 200)) {
			mf_close(f);
			mf_open(f);
		}
	}
	pst_print_stats("ioctl_garbage", st, st_names, NR_ST);
	finish(_metadata, &z);
	mem_teardown();
}

/* ---- read/write ---------------------------------------------------------------------- */

enum bufclass { B_OK, B_UNTOUCHED, B_RO, B_NONE, B_STRADDLE, B_KERNEL, B_NULL, NR_B };

static uint8_t *gen_buf(uint64_t *r, enum bufclass bc, uint64_t len, bool misalign)
{
	uint64_t off;
	uint8_t *b;

	switch (bc) {
	case B_UNTOUCHED:
		off = TOUCHED_LEN + sect * rnd(r, (ARENA_LEN - TOUCHED_LEN) / sect);
		b = M.arena + off;
		break;
	case B_RO:
		b = M.ro + sect * rnd(r, RO_LEN / sect);
		break;
	case B_NONE:
		b = M.none + sect * rnd(r, NONE_LEN / sect);
		break;
	case B_STRADDLE:	/* the end of the RW edge page, running into PROT_NONE */
		b = M.edge + ps - sect * (1 + rnd(r, ps / sect - 1));
		break;
	case B_KERNEL:
		return (uint8_t *)(uintptr_t)(chance(r, 2) ? 0xffff888000000000ULL :
					      0xffffffff81000000ULL);
	case B_NULL:
		return NULL;
	default:
		off = len < TOUCHED_LEN ? sect * rnd(r, (TOUCHED_LEN - len) / sect + 1) : 0;
		b = M.arena + off;
		break;
	}
	return misalign ? b + 1 + rnd(r, sect - 1) : b;
}

/* Whether all of [b, b + len) is memory the call may use (@w: it writes into it). */
static bool buf_valid(const uint8_t *b, uint64_t len, bool w)
{
	uintptr_t a = (uintptr_t)b;
	uintptr_t arena = (uintptr_t)M.arena, ro = (uintptr_t)M.ro, edge = (uintptr_t)M.edge;

	if (!len)
		return a < (1ULL << 47);	/* access_ok() even for 0 bytes */
	if (a >= arena && a < arena + ARENA_LEN && len <= arena + ARENA_LEN - a)
		return true;
	if (a >= arena && a < ro + RO_LEN && len <= ro + RO_LEN - a && !w)
		return true;
	if (a >= edge && a < edge + ps && len <= edge + ps - a)
		return true;
	return false;
}

static int ramfd = -1;

/* One read or write, checked against the README's rules and against /dev/ram0. */
static void rw_one(struct fuzz *z)
{
	uint64_t *r = &z->r;
	struct mfile *f = pick_file(z);
	bool wr = chance(r, 2), vec = chance(r, 2), v2 = vec && chance(r, 2), clean = true;
	bool misaligned_mem = false, pos_form = !chance(r, 6);
	struct iovec iov[8];
	int n = 1, flags = 0, e, want, rflags_bad = 0;
	uint64_t len = 0, off, count, size = win.store_size;
	long long ret, want_ret;

	/* Offset. */
	switch (rnd(r, 12)) {
	case 0: off = size - sect * rnd(r, 16); break;			/* near or at the end */
	case 1: off = size + sect * rnd(r, 16); break;			/* past the end */
	case 2: off = -(uint64_t)sect * (1 + rnd(r, 4)); break;		/* negative */
	case 3: off = 1ULL << (40 + rnd(r, 23)); break;			/* huge */
	case 4: off = win.start + 1 + rnd(r, sect - 1); break;		/* misaligned */
	default: off = win.start + sect * rnd(r, win.len / sect); break;
	}
	/* Buffers. */
	n = vec ? (int)rnd(r, 9) : 1;
	if (vec && chance(r, 50))
		n = 0;
	for (int i = 0; i < n; i++) {
		enum bufclass bc = chance(r, 4) ? (enum bufclass)(1 + rnd(r, NR_B - 1)) : B_OK;
		bool mis = chance(r, 16);
		uint64_t l;

		switch (rnd(r, 12)) {
		case 0: l = 0; break;
		case 1: l = 1 + rnd(r, 2 * sect); break;			/* misaligned */
		case 2: l = 1ULL << (31 + rnd(r, 20)); break;			/* huge */
		case 3: l = sect * (1 + rnd(r, 2 * PST_MiB / sect)); break;
		default: l = sect * (1 + rnd(r, 64)); break;
		}
		iov[i].iov_base = gen_buf(r, bc, l, mis);
		iov[i].iov_len = l;
		misaligned_mem |= mis || l % sect;
		clean &= buf_valid(iov[i].iov_base, l, !wr);
		len += l;
	}
	if (!vec)
		len = iov[0].iov_len;
	if (v2) {
		static const int fl[] = { 0, RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT };

		flags = fl[rnd(r, 5)];
		if (chance(r, 16)) {
			flags = 1 << (10 + rnd(r, 20));		/* not a flag (yet) */
			rflags_bad = 1;
		}
	}
	/* Writes never reach outside the window: an offset + length that could write
	 * elsewhere is moved into it or made invalid. */
	if (wr && off < size && (off < win.start || off + len > win.start + win.len ||
				 off + len < off)) {
		if (len <= win.len)
			off = win.start + sect * rnd(r, (win.len - len) / sect + 1);
		else
			off = size + sect * rnd(r, 4);
	}

	errno = 0;
	if (!vec)
		ret = wr ? (pos_form ? pwrite(f->fd, iov[0].iov_base, len, off) :
			    (lseek(f->fd, off, SEEK_SET) < 0 ? -1 :
			     write(f->fd, iov[0].iov_base, len))) :
			   (pos_form ? pread(f->fd, iov[0].iov_base, len, off) :
			    (lseek(f->fd, off, SEEK_SET) < 0 ? -1 :
			     read(f->fd, iov[0].iov_base, len)));
	else if (!v2)
		ret = wr ? pwritev(f->fd, iov, n, off) : preadv(f->fd, iov, n, off);
	else
		ret = wr ? pwritev2(f->fd, iov, n, off, flags) : preadv2(f->fd, iov, n, off, flags);
	e = ret < 0 ? errno : 0;
	account(ret, e);

	/* What the README says. */
	count = len > MAX_RW_COUNT_USER ? MAX_RW_COUNT_USER : len;
	want = -1;
	want_ret = -1;
	if (!pos_form && !vec && off > size)	/* even lseek refuses it */
		want = EINVAL;
	else if ((int64_t)off < 0)
		want = EINVAL;
	else if (vec && !len)			/* the VFS returns before anything else */
		want_ret = 0;
	else if (rflags_bad)
		want = EOPNOTSUPP;
	else if (!wr && off >= size)
		want_ret = 0;
	else if (wr && !len)
		want_ret = 0;
	else if (wr && off >= size)
		want = ENOSPC;
	if (ret > (long long)len)
		MISMATCH(z, "%s returned %lld for %llu bytes", wr ? "write" : "read", ret,
			 (unsigned long long)len);
	/* With bad memory the VFS may fail first, with EFAULT, whatever else is wrong. */
	if (want >= 0 && e != want && !(e == EFAULT && !clean))
		MISMATCH(z, "%s%s at %#llx, %d segment(s) %p+%#zx..., %llu bytes%s: %s, want %s",
			 wr ? "write" : "read", vec ? "v" : "", (unsigned long long)off, n,
			 n ? iov[0].iov_base : NULL, n ? iov[0].iov_len : 0,
			 (unsigned long long)len, clean ? "" : " (bad memory)",
			 ret < 0 ? errname(e) : "success", errname(want));
	if (want_ret >= 0 && ret != want_ret && !(e == EFAULT && !clean))
		MISMATCH(z, "%s%s at %#llx, %d segment(s), %llu bytes: %lld (%s), want %lld",
			 wr ? "write" : "read", vec ? "v" : "", (unsigned long long)off, n,
			 (unsigned long long)len, ret, errname(e), want_ret);
	if (e && e != EINVAL && e != EFAULT && e != ENOMEM && e != ENOSPC &&
	    !(e == EOPNOTSUPP && rflags_bad) && !(e == EAGAIN && (flags & RWF_NOWAIT)))
		MISMATCH(z, "%s: undocumented %s", wr ? "write" : "read", errname(e));
	if (want < 0 && want_ret < 0 && clean && !misaligned_mem && !(off % sect) &&
	    !(count % sect) && count == len && off < size) {
		uint64_t expect = count < size - off ? count : size - off;

		/*
		 * RWF_NOWAIT: pinio faults nothing in (FOLL_NOFAULT), so a page not
		 * present ends the transfer: EAGAIN, or short after some bytes.
		 */
		if (ret != (long long)expect && !(e == EAGAIN && (flags & RWF_NOWAIT)) &&
		    !(ret > 0 && ret < (long long)expect && (flags & RWF_NOWAIT)))
			MISMATCH(z, "%s at %#llx of %llu valid aligned bytes: %lld (%s), want %llu",
				 wr ? "write" : "read", (unsigned long long)off,
				 (unsigned long long)len, ret, ret < 0 ? errname(e) : "",
				 (unsigned long long)expect);
	}
	if (ret >= 0 && ret < (long long)len)
		pst_add(st, F_short_count, 1);

	/* The same call on the ramdisk, whose O_DIRECT rules pinio follows. Only with valid
	 * memory: with bad memory the block layer may move more or less before failing. */
	if (ramfd >= 0 && clean && pos_form && !rflags_bad && !(flags & RWF_NOWAIT)) {
		long long rret;
		int re;

		errno = 0;
		if (!vec)
			rret = wr ? pwrite(ramfd, iov[0].iov_base, len, off) :
				    pread(ramfd, iov[0].iov_base, len, off);
		else if (!v2)
			rret = wr ? pwritev(ramfd, iov, n, off) : preadv(ramfd, iov, n, off);
		else
			rret = wr ? pwritev2(ramfd, iov, n, off, flags) :
				    preadv2(ramfd, iov, n, off, flags);
		re = rret < 0 ? errno : 0;
		pst_add(st, F_ramdisk_compared, 1);
		/*
		 * The block layer checks a segment's alignment when it starts extracting from
		 * it, but after leading empty segments it extracts from the first non-empty one
		 * without checking it (iov_iter_extract_bvecs() looks at the first, empty, one):
		 * the ramdisk then accepts a misaligned buffer that the README's rule ("every
		 * buffer segment's address and length", which pinio follows) refuses.
		 */
		int first = 0;
		bool quirk;

		while (first < n && !iov[first].iov_len)
			first++;
		quirk = vec && first > 0 && first < n && ret < 0 && e == EINVAL && rret >= 0 &&
			!(((uintptr_t)iov[0].iov_base) % sect) &&
			(((uintptr_t)iov[first].iov_base | iov[first].iov_len) % sect);

		if (quirk) {
			if (!st->v[F_ramdisk_quirks])
				ksft_print_msg("note: the ramdisk accepts a misaligned segment after "
					       "a leading empty one (op %lu); pinio refuses it, as "
					       "the README says\n", z->op);
			pst_add(st, F_ramdisk_quirks, 1);
		} else if ((rret < 0) != (ret < 0) || (ret < 0 && re != e) ||
			   (ret >= 0 && ret != rret)) {
			char segs[160] = "";

			for (int i = 0, o = 0; i < n && o < (int)sizeof(segs) - 24; i++)
				o += snprintf(segs + o, sizeof(segs) - o, " %#lx+%#zx",
					      (unsigned long)((uintptr_t)iov[i].iov_base & 0xfff),
					      iov[i].iov_len);
			ksft_print_msg("segments (address %% 4096 + length):%s\n", segs);
			pst_add(st, F_ramdisk_differences, 1);
			MISMATCH(z, "%s%s at %#llx, %d segment(s), %llu bytes%s: pinio %lld (%s), "
				 "ramdisk %lld (%s)", wr ? "write" : "read", vec ? "v" : "",
				 (unsigned long long)off, n, (unsigned long long)len,
				 misaligned_mem ? " (misaligned memory)" : "", ret, errname(e),
				 rret, errname(re));
		}
	}
}

TEST(rw_model)
{
	struct fuzz z;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 3));
	ramfd = open(RAM_DEV, O_RDWR | O_DIRECT);
	if (ramfd < 0 || dev_size(ramfd) != (long long)win.store_size) {
		ksft_print_msg("no %s of the store's size: no comparison with it\n", RAM_DEV);
		if (ramfd >= 0)
			close(ramfd);
		ramfd = -1;
	}
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++)
		rw_one(&z);
	if (ramfd >= 0)
		close(ramfd);
	pst_print_stats("rw_model", st, st_names, NR_ST);
	finish(_metadata, &z);
	mem_teardown();
}

/* Splice, sendfile and the file operations pinio does not have. */
TEST(misc_fops)
{
	struct fuzz z;
	int pipefd[2], memfd;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 4));
	ASSERT_EQ(0, pipe2(pipefd, O_NONBLOCK));
	memfd = memfd_create("pinio-fuzz", 0);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, PST_MiB));
	for (z.op = 0; z.op < nops / 4 && z.mismatches < 20; z.op++) {
		uint64_t *r = &z.r;
		struct mfile *f = pick_file(&z);
		uint64_t len = chance(r, 4) ? rnd(r, PST_MiB) : sect * rnd(r, 128);
		loff_t off = chance(r, 6) ? (loff_t)prng_next(r) :
			     (loff_t)(win.start + sect * rnd(r, win.len / sect));
		long long ret;
		int e;
		char drain[4096];
		void *p;

		if (off >= 0 && (uint64_t)off < win.store_size &&
		    ((uint64_t)off < win.start || (uint64_t)off + len > win.start + win.len))
			off = win.store_size;	/* no writes outside the window */
		errno = 0;
		switch (rnd(r, 8)) {
		case 0:		/* pipe -> device */
			if (write(pipefd[1], M.arena, len > 65536 ? 65536 : len) < 0)
				break;
			ret = splice(pipefd[0], NULL, f->fd, &off, len, SPLICE_F_NONBLOCK);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != ENOSPC && e != EAGAIN && e != ENOMEM)
				MISMATCH(&z, "splice to the device: %s", errname(e));
			break;
		case 1:		/* device -> pipe */
			off = chance(r, 4) ? (loff_t)prng_next(r) : (loff_t)rnd(r, win.store_size);
			ret = splice(f->fd, &off, pipefd[1], NULL, len, SPLICE_F_NONBLOCK);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != EAGAIN && e != ENOMEM)
				MISMATCH(&z, "splice from the device: %s", errname(e));
			break;
		case 2:		/* memfd -> device, at the file position: in the window */
			if (len > win.len)
				len = win.len;
			lseek(f->fd, chance(r, 8) ? (off_t)win.store_size :
				     (off_t)(win.start + sect * rnd(r, (win.len - len) / sect + 1)),
			      SEEK_SET);
			ret = sendfile(f->fd, memfd, NULL, len);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			/* The file position decides where: it is in the window or past the end. */
			break;
		case 3:		/* device -> memfd */
			off = chance(r, 4) ? (loff_t)prng_next(r) : (loff_t)rnd(r, win.store_size);
			lseek(memfd, 0, SEEK_SET);
			ret = sendfile(memfd, f->fd, &off, len);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != ENOMEM)
				MISMATCH(&z, "sendfile from the device: %s", errname(e));
			break;
		case 4: {	/* lseek */
			int whence = rnd(r, 6);
			off_t o = chance(r, 2) ? (off_t)prng_next(r) : (off_t)rnd(r, win.store_size);

			ret = lseek(f->fd, o, whence);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != ENXIO)
				MISMATCH(&z, "lseek(%lld, %d): %s", (long long)o, whence, errname(e));
			if (!e && ((uint64_t)ret > win.store_size))
				MISMATCH(&z, "lseek(%lld, %d) = %lld, past the end",
					 (long long)o, whence, ret);
			/* Leave the position where a sendfile can only write the window. */
			lseek(f->fd, win.start, SEEK_SET);
			break;
		}
		case 5:		/* mmap: not supported */
			p = mmap(NULL, ps, PROT_READ, MAP_SHARED, f->fd, 0);
			e = p == MAP_FAILED ? errno : 0;
			account(p == MAP_FAILED ? -1 : 0, e);
			if (p != MAP_FAILED) {
				MISMATCH(&z, "mmap of /dev/pinio succeeded");
				munmap(p, ps);
			}
			break;
		case 6:		/* fsync, fdatasync */
			ret = chance(r, 2) ? fsync(f->fd) : fdatasync(f->fd);
			account(ret, ret ? errno : 0);
			break;
		default:	/* fallocate, ftruncate */
			ret = chance(r, 2) ? fallocate(f->fd, rnd(r, 64), rnd(r, PST_MiB), 4096) :
					     ftruncate(f->fd, rnd(r, PST_MiB));
			e = ret ? errno : 0;
			account(ret, e);
			if (!e)
				MISMATCH(&z, "fallocate/ftruncate of /dev/pinio succeeded");
			break;
		}
		while (read(pipefd[0], drain, sizeof(drain)) > 0)
			;
		if (chance(r, 4))
			lseek(f->fd, chance(r, 2) ? win.start : win.store_size, SEEK_SET);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	close(memfd);
	pst_print_stats("misc_fops", st, st_names, NR_ST);
	finish(_metadata, &z);
	mem_teardown();
}

/* Stale and foreign handles, and handles inherited by a child. */
TEST(handles)
{
	struct pinio_query q;
	struct fuzz z;
	uint8_t *buf;
	long h, h2, hb;
	int status;
	pid_t pid;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 5));
	buf = M.arena;
	h = ioc_pin(z.f[0].fd, buf, 4 * ps, PINIO_PIN_WRITE, 0, NULL);
	ASSERT_LT(0, h);
	/* Another file never issued it: EINVAL for each command, nothing changes. */
	hb = ioc_pin(z.f[1].fd, buf, ps, 0, 0, NULL);	/* file 1 has handle 1 too ... */
	ASSERT_LT(0, hb);
	ASSERT_EQ(0, ioc_unpin(z.f[1].fd, hb, 0));	/* ... until it released it */
	EXPECT_EQ(-EINVAL, ioc_unpin(z.f[1].fd, h, 0));
	EXPECT_EQ(-EINVAL, ioc_dma(z.f[1].fd, h, PINIO_DMA_TO_PAGES, 0, 0, ps));
	EXPECT_EQ(-EINVAL, ioc_query(z.f[2].fd, h, &q));
	EXPECT_EQ(0, ioc_query(z.f[0].fd, h, &q));
	EXPECT_EQ(4, q.nr_pages);
	/* Released: stale everywhere. */
	EXPECT_EQ(0, ioc_unpin(z.f[0].fd, h, 0));
	EXPECT_EQ(-EINVAL, ioc_unpin(z.f[0].fd, h, 0));
	EXPECT_EQ(-EINVAL, ioc_dma(z.f[0].fd, h, PINIO_DMA_FROM_PAGES, 0, win.start, ps));
	h2 = ioc_pin(z.f[0].fd, buf, ps, 0, 0, NULL);
	ASSERT_LT(0, h2);
	/* A child inherits the file: its pins, and it may release them. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (ioc_query(z.f[0].fd, h2, &q) || q.nr_pages != 1)
			_exit(1);
		if (ioc_unpin(z.f[0].fd, h2, 0))
			_exit(2);
		/* Its own pins in the inherited file outlive it. */
		if (ioc_pin(z.f[0].fd, buf + ps, 2 * ps, PINIO_PIN_LONGTERM, 0, NULL) <= 0)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	cow_shared = true;
	EXPECT_EQ(-EINVAL, ioc_unpin(z.f[0].fd, h2, 0));
	EXPECT_EQ(2, pins_outstanding() - z.pins0);
	EXPECT_EQ(0, pst_vmpin_kb(0));		/* charged to the child, not to us */
	/* The closed file's pins are gone with it, the child's included. */
	mf_close(&z.f[0]);
	EXPECT_EQ(0, pst_pins_settle(z.pins0, 2000));
	mf_open(&z.f[0]);
	EXPECT_EQ(-EINVAL, ioc_unpin(z.f[0].fd, h, 0));
	h = ioc_pin(z.f[0].fd, buf, ps, 0, 0, NULL);
	ASSERT_LT(0, h);
	mf_add(&z.f[0], h, 0, (uintptr_t)buf, ps);
	/* Random stale and foreign handles through the model. */
	z.mismatches = 0;
	for (z.op = 0; z.op < nops / 4 && z.mismatches < 20; z.op++) {
		ioctl_one(&z);
		if (z.op % 50 == 0)
			model_check(&z);
	}
	finish(_metadata, &z);
	mem_teardown();
}

int main(int argc, char **argv)
{
	char **rest = calloc(argc + 1, sizeof(*rest));
	const char *env = getenv("PINIO_FUZZ_OPS");
	bool seeded = false;
	int n = 0;

	if (env && *env)
		nops = strtoul(env, NULL, 0);
	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--seed")) {
			seed = strtoull(argv[++i], NULL, 0);
			seeded = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--ops")) {
			nops = strtoul(argv[++i], NULL, 0);
		} else {
			rest[n++] = argv[i];
		}
	}
	if (!seeded)
		seed = test_seed();
	for (struct __fixture_metadata *f = __fixture_list; f; f = f->next)
		for (struct __test_metadata *t = f->tests; t; t = t->next)
			t->timeout = 120 + nops / 10;
	st = pst_stats_new();
	if (!st)
		return KSFT_FAIL;
	return test_harness_run(n, rest);
}
