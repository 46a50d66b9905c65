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
 *                  kernel, misaligned), up to IOV_MAX segments, lengths (zero, huge,
 *                  misaligned, up to 16 MiB) and offsets (negative, past the end, across the
 *                  end, misaligned, anywhere for reads), checked against the block-device
 *                  rules of the README and against the same call on the brd ramdisk
 *                  /dev/ram0 with O_DIRECT: the result, the errno, the caller's buffer and
 *                  the device range written (both devices hold the same bytes from the
 *                  start of the test).
 *   misc_fops      splice, sendfile, lseek, mmap, fsync, fallocate, ftruncate with garbage.
 *   async_model    batches of io_uring and libaio reads or writes (plain and vectored; valid,
 *                  unpopulated, read-only, PROT_NONE and straddling buffers; misaligned,
 *                  past-the-end and huge offsets and lengths) under random device models
 *                  (latency, queue depth, FIFO, FOLL_GET data path; SET_CONFIG with bad
 *                  fields, EBUSY when the order changes in flight): each request gets the
 *                  result the same request gets on /dev/ram0 (its window a copy of pinio's),
 *                  reads bring the same bytes, FIFO completions come in submission order, and
 *                  the window is the same on both devices at the end.
 *   handles        handles of other files, of closed files, unpinned twice, inherited by a
 *                  forked child.
 * Each test ends with: all files closed, FOLL_PIN pins back to where they were, VmPin 0,
 * and the device still writes, reads, pins and DMAs correctly.
 *
 * Writes to the store stay inside the store window (pinio_stress.h); reads go anywhere.
 * Options: --seed N (default $PINIO_SEED, else the clock), --ops N (calls per test; default
 * $PINIO_FUZZ_OPS, else 5000; at most FUZZ_MAX_OPS, for the fixed time limit), then the
 * harness's own.
 */
#include "pinio_stress.h"
#include "pinio_async.h"

#include <sys/sendfile.h>

static uint64_t seed;
static unsigned int nops = 5000;

/* Calls per test at most, and each test's time limit: up to 0.1 s a call, and 2 minutes. */
#define FUZZ_MAX_OPS	20000
#define FUZZ_TIMEOUT	(120 + FUZZ_MAX_OPS / 10)

FIXTURE(fuzzer) {};
FIXTURE_SETUP(fuzzer) {}
FIXTURE_TEARDOWN(fuzzer) {}

enum {
	F_calls, F_ok, F_einval, F_efault, F_enomem, F_enospc, F_eperm, F_enotty, F_eother,
	F_short_count, F_pins_ok, F_handles_checked, F_ramdisk_compared, F_ramdisk_differences,
	F_ramdisk_quirks, F_async_requests, F_async_batches, F_async_configs, F_async_ebusy,
	F_async_fifo_checked, NR_ST
};
static const char *const st_names[NR_ST] = {
	[F_calls] = "calls", [F_ok] = "ok", [F_einval] = "einval", [F_efault] = "efault",
	[F_enomem] = "enomem", [F_enospc] = "enospc", [F_eperm] = "eperm", [F_enotty] = "enotty",
	[F_eother] = "eother", [F_short_count] = "short_count", [F_pins_ok] = "pins_ok",
	[F_handles_checked] = "handles_checked", [F_ramdisk_compared] = "ramdisk_compared",
	[F_ramdisk_differences] = "ramdisk_differences", [F_ramdisk_quirks] = "ramdisk_quirks",
	[F_async_requests] = "async_requests", [F_async_batches] = "async_batches",
	[F_async_configs] = "async_configs", [F_async_ebusy] = "async_ebusy",
	[F_async_fifo_checked] = "async_fifo_checked",
};
static struct pst_stats *st;

/* The VFS's cap on one read or write (MAX_RW_COUNT). */
#define MAX_RW_COUNT_USER	((uint64_t)INT_MAX & ~(uint64_t)(psize() - 1))

static size_t ps;
static struct pst_window win;
static uint64_t sect;
static uint64_t cap_pages;

static void account(long long ret, int err)
{
	static const struct {
		int err, stat;
	} errs[] = {
		{ EINVAL, F_einval }, { EFAULT, F_efault }, { ENOMEM, F_enomem },
		{ ENOSPC, F_enospc }, { EPERM, F_eperm }, { ENOTTY, F_enotty },
	};
	int stat = F_eother;

	pst_add(st, F_calls, 1);
	if (ret >= 0) {
		pst_add(st, F_ok, 1);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++)
		if (errs[i].err == err)
			stat = errs[i].stat;
	pst_add(st, stat, 1);
}

/* ---- memory -------------------------------------------------------------------------- */

/*
 * One reservation: [guard][arena: touched part | untouched part][read-only][PROT_NONE]
 * [RW page][PROT_NONE page][guard]. Nothing else is ever mapped inside it.
 */
#define ARENA_LEN	(20 * MiB)
#define TOUCHED_LEN	(18 * MiB)
/* The longest range the ioctl tests pin. */
#define PIN_LEN		(8 * MiB)
#define RO_LEN		(64 * KiB)
#define NONE_LEN	(64 * KiB)
#define GUARD_LEN	(1 * MiB)

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

/*
 * After a fork the arena's pages are shared copy-on-write: a FOLL_NOFAULT pin may then need
 * a fault it is not allowed to take.
 */
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

	switch (prng_below(r, 20)) {
	case 0: case 1:
		a = kernel[prng_below(r, ARRAY_SIZE(kernel))];
		break;
	case 2:
		a = prng_below(r, 4) * 0x1000;					/* NULL page */
		break;
	case 3:
		a = (uintptr_t)M.ro + ps * prng_below(r, RO_LEN / ps);
		break;
	case 4:
		a = (uintptr_t)M.none + ps * prng_below(r, NONE_LEN / ps);
		break;
	case 5:
		a = (uintptr_t)M.base + ps * prng_below(r, GUARD_LEN / ps);	/* guard */
		break;
	case 6:
		a = prng_next(r) | (1ULL << 63);			/* random, not user */
		break;
	case 7: case 8:
		a = (uintptr_t)M.arena + TOUCHED_LEN + ps * prng_below(r, (ARENA_LEN - TOUCHED_LEN) / ps);
		break;
	default:
		a = (uintptr_t)M.arena + ps * prng_below(r, TOUCHED_LEN / ps);
		break;
	}
	if (!aligned || prng_chance(r, 16))
		a += 1 + prng_below(r, ps - 1);
	return a;
}

static uint64_t gen_len(uint64_t *r)
{
	switch (prng_below(r, 20)) {
	case 0:
		return 0;
	case 1:
		return 1 + prng_below(r, 3 * ps);			/* misaligned */
	case 2:
		return 1ULL << (30 + prng_below(r, 34));		/* huge */
	case 3:
		return ~0ULL - prng_below(r, 4) * ps + 1 - ps;		/* overflows any address */
	case 4:
		return (cap_pages + 1 + prng_below(r, 16)) * ps;	/* over the per-file cap */
	case 5: case 6: case 7:
		return ps * (1 + prng_below(r, PIN_LEN / ps));
	default:
		return ps * (1 + prng_below(r, 16));
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
	return prng_chance(r, 5) ? (enum ptrclass)(1 + prng_below(r, NR_P - 1)) : P_OK;
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
	case 0:
		return "success";
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	case ENOMEM:
		return "ENOMEM";
	case ENOSPC:
		return "ENOSPC";
	case EPERM:
		return "EPERM";
	case ENOTTY:
		return "ENOTTY";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case EAGAIN:
		return "EAGAIN";
	case ESPIPE:
		return "ESPIPE";
	case EBADF:
		return "EBADF";
	case ENODEV:
		return "ENODEV";
	default:
		snprintf(buf, sizeof(buf), "errno %d", e);
		return buf;
	}
}

/*
 * Model consistency: every live handle answers QUERY as recorded; the FOLL_PIN pins held
 * system-wide are those of the model's handles (GUP takes no pin on the shared zero page).
 */
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
			    q.nr_pages != m->len / ps || q.reserved[0] || q.reserved[1] ||
			    q.dma_kept_maps || q.dma_kept_slots ||
			    (!(m->flags & PINIO_PIN_LONGTERM) && q.charged_pages) ||
			    q.nr_folios > q.nr_pages ||
			    (!(m->flags & PINIO_PIN_GET) &&
			     q.nr_dma_pinned + q.nr_zero_page < q.nr_pages))
				MISMATCH(z, "file %d handle %u: QUERY flags %#x addr %#llx len %#llx pages %llu pinned %llu zero %llu charged %llu; model flags %#x addr %#llx len %#llx",
					 i, m->h, q.flags,
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

/* The modelled commands first (picked by known_cmds[rnd(r, 6)]), then the others pinio has. */
static const unsigned int known_cmds[] = {
	PINIO_IOC_INFO, PINIO_IOC_PIN, PINIO_IOC_UNPIN, PINIO_IOC_QUERY, PINIO_IOC_DMA,
	PINIO_IOC_SET_CONFIG, PINIO_IOC_GET_CONFIG, PINIO_IOC_DUMP, PINIO_IOC_WHY,
};

static bool is_known(unsigned int cmd)
{
	/* Known but not modelled: an output-only copy of the file's configuration. */
	if (cmd == PINIO_IOC_GET_CONFIG)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(known_cmds); i++)
		if (known_cmds[i] == cmd)
			return true;
	return false;
}

/*
 * A command number that is none of pinio's, and none the VFS handles itself (FIOCLEX,
 * FIONBIO, FIFREEZE, FICLONE, FS_IOC_FIEMAP, FIGETBSZ, FS_IOC_GETFSUUID ...).
 */
static unsigned int gen_other_cmd(uint64_t *r)
{
	static const unsigned char vfs_types[] = { 'T', 'X', 'f', 0x94, 0x15, 0x00 };
	unsigned int cmd;
	bool vfs;

	do {
		unsigned int type = prng_chance(r, 2) ? PINIO_IOC_MAGIC : prng_below(r, 256);
		unsigned int nr = prng_chance(r, 2) ? prng_below(r, 16) : prng_below(r, 256);
		unsigned int size = prng_chance(r, 2) ? 8 * prng_below(r, 16) : prng_below(r, 1 << 14);

		cmd = _IOC(prng_below(r, 4), type, nr, size);
		if (prng_chance(r, 4))	/* one of pinio's with another size or direction */
			cmd = (known_cmds[prng_below(r, 6)] & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
			      (prng_below(r, 1 << 14) << _IOC_SIZESHIFT);
		if (prng_chance(r, 8))
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
	if (prng_chance(r, 10)) {
		res[prng_below(r, n)] = prng_chance(r, 2) ? 1ULL << prng_below(r, 64) : prng_next(r) | 1;
		*bad = true;
	}
}

static struct mfile *pick_file(struct fuzz *z)
{
	return &z->f[prng_below(&z->r, 3)];
}

static uint32_t gen_handle(struct fuzz *z, struct mfile *f)
{
	uint64_t *r = &z->r;
	struct mfile *o;

	switch (prng_below(r, 8)) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)prng_next(r);
	case 2:		/* another file's handle (foreign) */
		o = &z->f[prng_below(r, 3)];
		return o->n ? o->hs[prng_below(r, o->n)].h : o->next;
	case 3:		/* the next one, not issued yet */
		return mf_next_handle(f);
	case 4:		/* one recently released (stale) */
		return f->next > 1 ? f->next - 1 - prng_below(r, f->next - 1) : 1;
	default:
		return f->n ? f->hs[prng_below(r, f->n)].h : 1 + prng_below(r, 8);
	}
}

static int expect_pin(struct fuzz *z, struct mfile *f, const struct pinio_pin *p, bool bad,
		      bool *maybe)
{
	uint64_t pages = p->len / ps;

	*maybe = false;
	if (bad || (p->flags & ~PINIO_PIN_FLAGS_ALL))
		return -EINVAL;
	if (!p->len || p->addr % ps || p->len % ps)
		return -EINVAL;
	if (p->addr + p->len < p->addr)
		return -EINVAL;
	if ((p->flags & PINIO_PIN_GET) && (p->flags & (PINIO_PIN_LONGTERM | PINIO_PIN_SLOW)))
		return -EINVAL;
	if (f->held + pages > cap_pages)
		return -ENOMEM;
	switch (classify_pin(p->addr, p->len, p->flags)) {
	case MEM_OK:
		return 0;
	case MEM_MAYBE:
		*maybe = true;
		return 0;
	default:
		return -EFAULT;
	}
}

/* One structured ioctl; compares with the model and updates it. */
static void ioctl_one(struct fuzz *z)
{
	uint64_t *r = &z->r;
	struct mfile *f = pick_file(z);
	enum ptrclass pc = gen_ptrclass(r);
	unsigned int cmd;
	int want = 0, got, which = prng_chance(r, 8) ? -1 : (int)prng_below(r, 6);
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

		pp->addr = gen_addr(r, !prng_chance(r, 10));
		pp->len = gen_len(r);
		pp->flags = prng_chance(r, 8) ? (uint32_t)prng_next(r) : (uint32_t)prng_below(r, 64);
		pp->pages_per_call = ppc[prng_below(r, 5)];
		pp->reserved0 = 0;
		if (prng_chance(r, 20)) {
			pp->reserved0 = 1 + prng_below(r, 1000);
			bad = true;
		}
		fill_reserved(r, pp->reserved, 1, &bad);
		want = -expect_pin(z, f, pp, bad, &maybe);
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
		u->flags = prng_chance(r, 10) ? (uint32_t)prng_next(r) : (uint32_t)prng_below(r, 2);
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
		fill_reserved(r, q->reserved, 2, &bad);
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
		hlen = m ? m->len : 64 * KiB;
		d->flags = prng_chance(r, 10) ? (prng_chance(r, 2) ? 0 : (uint32_t)prng_next(r) | 3) :
					   fl[prng_below(r, 2)];
		switch (prng_below(r, 10)) {
		case 0:
			d->range_offset = hlen + prng_below(r, 2 * ps);
			break;
		case 1:
			d->range_offset = ~0ULL - prng_below(r, ps);
			break;
		default:
			d->range_offset = prng_below(r, hlen);
			break;
		}
		switch (prng_below(r, 10)) {
		case 0:
			d->len = 0;
			break;
		case 1:
			d->len = ~0ULL - prng_below(r, 16);
			break;
		case 2:
			d->len = hlen - d->range_offset % (hlen + 1) + 1 + prng_below(r, ps);
			break;
		default:
			d->len = prng_below(r, hlen - d->range_offset % (hlen + 1) + 1);
			break;
		}
		if (d->flags == PINIO_DMA_TO_PAGES || prng_chance(r, 3)) {
			/* Reading the store: anywhere, including past the end. */
			switch (prng_below(r, 8)) {
			case 0:
				d->store_offset = win.store_size - prng_below(r, 2 * ps);
				break;
			case 1:
				d->store_offset = ~0ULL - prng_below(r, ps);
				break;
			default:
				d->store_offset = prng_below(r, win.store_size);
				break;
			}
		}
		if (d->flags != PINIO_DMA_TO_PAGES) {
			/* Anything that might write the store stays in the window. */
			if (d->len <= win.len && !prng_chance(r, 8))
				d->store_offset = win.start + prng_below(r, win.len - d->len + 1);
			else
				d->store_offset = prng_chance(r, 2) ? win.store_size + prng_below(r, ps) :
								 ~0ULL - prng_below(r, ps);
		}
		fill_reserved(r, d->reserved, 1, &bad);
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

		c->dma_delay_us = prng_chance(r, 6) ? 1000001 + prng_below(r, 1u << 31) :
				  prng_chance(r, 2) ? 0 : prng_below(r, 300);
		c->flags = prng_chance(r, 12) ? (__u32)prng_below(r, 1u << 31) :
			   (__u32)prng_below(r, PINIO_CONFIG_FLAGS_ALL + 1);
		bad |= !!(c->flags & ~PINIO_CONFIG_FLAGS_ALL);
		c->latency_us = prng_chance(r, 12) ? 10000001 + prng_below(r, 1000) :
				prng_below(r, 300);
		c->queue_depth = prng_chance(r, 12) ? PINIO_QUEUE_DEPTH_MAX + 1 :
				 prng_below(r, 64);
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

	/* Read-only or unpopulated pages: either is right. */
	if (maybe && which == 1 && (got == 0 || got == EFAULT))
		want = got;
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
			     out.info.max_pinned_pages != cap_pages ||
			     (out.info.info_flags & ~(PINIO_INFO_DMA_LEAK_EXPERIMENT |
						      PINIO_INFO_OVERLAP_WARN)) ||
			     out.info.reserved[0] || out.info.reserved[1] ||
			     out.info.dma_mask_bits < 32 || out.info.dma_mask_bits > 64 ||
			     out.info.config_flags != PINIO_CONFIG_FLAGS_ALL ||
			     out.info.max_queue_depth != PINIO_QUEUE_DEPTH_MAX))
			MISMATCH(z, "INFO answered wrongly");
		break;
	case 1:
		if (!got && (a.pin.flags & PINIO_PIN_BENCH)) {
			/* Taken and released at once: no handle, nothing charged or held. */
			if (out.pin.handle || out.pin.nr_pages != a.pin.len / ps ||
			    out.pin.charged_pages || out.pin.reserved0 || out.pin.reserved[0])
				MISMATCH(z, "PIN BENCH: handle %u, pages %llu of %llu, charged %llu",
					 out.pin.handle, (unsigned long long)out.pin.nr_pages,
					 (unsigned long long)(a.pin.len / ps),
					 (unsigned long long)out.pin.charged_pages);
		} else if (!got) {
			/*
			 * Handles are only documented as non-zero (and, so that no call
			 * can reach another pin, unique in the file).
			 */
			if (!out.pin.handle || mf_find(f, out.pin.handle) ||
			    out.pin.nr_pages != a.pin.len / ps || out.pin.reserved0 ||
			    out.pin.unpin_ns || out.pin.reserved[0] ||
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

/*
 * The end of every test: its statistics printed as those of @test (if not NULL), every file
 * closed, nothing left pinned, the device still working, the test's memory unmapped.
 */
static void finish(struct __test_metadata *_metadata, struct fuzz *z, const char *test)
{
	char why[256];
	long long left;

	if (test)
		pst_print_stats(test, st, st_names, NR_ST);
	for (int i = 0; i < 3; i++)
		mf_close(&z->f[i]);
	left = pst_pins_settle(NULL, z->pins0, 3000);
	EXPECT_EQ(0, left) TH_LOG("%lld FOLL_PIN pins left after closing every file", left);
	EXPECT_EQ(0, vmpin_kb(0));
	EXPECT_EQ(0, pst_device_works(win.start, seed, why, sizeof(why)))
		TH_LOG("the device no longer works: %s", why);
	EXPECT_EQ(0, z->mismatches) TH_LOG("%d results differed from the model; the first: %s",
					   z->mismatches, st->fail[0]);
	mem_teardown();
}

static int fuzz_setup(struct __test_metadata *_metadata, struct fuzz *z, uint64_t salt)
{
	struct pinio_info info;
	int fd;

	memset(z, 0, sizeof(*z));
	z->meta = _metadata;
	z->r = pst_mix(seed, salt);
	ps = psize();
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

TEST_F_TIMEOUT(fuzzer, ioctl_model, FUZZ_TIMEOUT)
{
	struct fuzz z;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 1)) TH_LOG("set-up: %s", strerror(errno));
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++) {
		ioctl_one(&z);
		if (z.op % 97 == 0)
			model_check(&z);
		if (prng_chance(&z.r, 300)) {	/* a file closes with its pins, a new one opens */
			struct mfile *f = pick_file(&z);

			mf_close(f);
			mf_open(f);
		}
	}
	model_check(&z);
	finish(_metadata, &z, "ioctl_model");
}

/* Raw random bytes, random command numbers: only documented errors, nothing held after. */
TEST_F_TIMEOUT(fuzzer, ioctl_garbage, FUZZ_TIMEOUT)
{
	struct fuzz z;
	uint8_t raw[256];

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 2));
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++) {
		uint64_t *r = &z.r;
		struct mfile *f = pick_file(&z);
		unsigned int cmd = prng_chance(r, 2) ? known_cmds[prng_below(r, 6)] : gen_other_cmd(r);
		enum ptrclass pc = gen_ptrclass(r);
		long ret;
		int e;
		void *p;

		for (size_t i = 0; i < sizeof(raw); i += 8) {
			uint64_t v = prng_next(r);

			memcpy(raw + i, &v, 8);
		}
		if (prng_chance(r, 4))	/* mostly zeroes: reaches further into the checks */
			for (size_t i = 0; i < sizeof(raw); i++)
				if (!prng_chance(r, 16))
					raw[i] = 0;
		if (cmd == PINIO_IOC_PIN) {
			/* Never our own text, data or stack: the arena, or not user memory. */
			uint64_t addr;

			memcpy(&addr, raw, 8);
			if (prng_chance(r, 4))
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
		if (prng_chance(r, 16))
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
		if (prng_chance(r, 200)) {
			mf_close(f);
			mf_open(f);
		}
	}
	finish(_metadata, &z, "ioctl_garbage");
}

/* ---- read/write ---------------------------------------------------------------------- */

enum bufclass { B_OK, B_UNTOUCHED, B_RO, B_NONE, B_STRADDLE, B_KERNEL, B_NULL, NR_B };

static uint8_t *gen_buf(uint64_t *r, enum bufclass bc, uint64_t len, bool misalign)
{
	uint64_t off;
	uint8_t *b;

	switch (bc) {
	case B_UNTOUCHED:
		off = TOUCHED_LEN + sect * prng_below(r, (ARENA_LEN - TOUCHED_LEN) / sect);
		b = M.arena + off;
		break;
	case B_RO:
		b = M.ro + sect * prng_below(r, RO_LEN / sect);
		break;
	case B_NONE:
		b = M.none + sect * prng_below(r, NONE_LEN / sect);
		break;
	case B_STRADDLE:	/* the end of the RW edge page, running into PROT_NONE */
		b = M.edge + ps - sect * (1 + prng_below(r, ps / sect - 1));
		break;
	case B_KERNEL:
		return (uint8_t *)(uintptr_t)(prng_chance(r, 2) ? 0xffff888000000000ULL :
					      0xffffffff81000000ULL);
	case B_NULL:
		return NULL;
	default:
		off = len < TOUCHED_LEN ? sect * prng_below(r, (TOUCHED_LEN - len) / sect + 1) : 0;
		b = M.arena + off;
		break;
	}
	return misalign ? b + 1 + prng_below(r, sect - 1) : b;
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

/* How many leading bytes of [b, b + len) the caller may write: the arena, the edge page. */
static uint64_t writable_len(const uint8_t *b, uint64_t len)
{
	uintptr_t a = (uintptr_t)b, arena = (uintptr_t)M.arena, edge = (uintptr_t)M.edge;

	if (a >= arena && a < arena + ARENA_LEN)
		return len < arena + ARENA_LEN - a ? len : arena + ARENA_LEN - a;
	if (a >= edge && a < edge + ps)
		return len < edge + ps - a ? len : edge + ps - a;
	return 0;
}

/*
 * The bytes a read of @count bytes into @iov may change, as far as the caller can write them:
 * filled with @fill (@hash false), or hashed (@hash true, the hash returned).
 */
static uint64_t rw_span(const struct iovec *iov, int n, uint64_t count, bool hash, int fill)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < n && count; i++) {
		uint64_t l = iov[i].iov_len < count ? iov[i].iov_len : count;
		uint64_t w = writable_len(iov[i].iov_base, l);
		const uint8_t *p = iov[i].iov_base;

		count -= l;
		if (!hash) {
			memset(iov[i].iov_base, fill, w);
			continue;
		}
		for (uint64_t j = 0; j < w; j += 8) {
			uint64_t v = 0;

			memcpy(&v, p + j, w - j < 8 ? w - j : 8);
			h = (h ^ v) * 0x100000001b3ULL;
		}
		h = (h ^ w) * 0x100000001b3ULL;
	}
	return h;
}

static int ramfd = -1;
static uint8_t *rw_scratch[2];		/* device ranges of both devices, win.len bytes each */

/* /dev/ram0 for O_DIRECT if it is as large as the store, else -1 (and says so). */
static int ram_open(void)
{
	int fd = open(RAM_DEV, O_RDWR | O_DIRECT);

	if (fd >= 0 && dev_size(fd) == (long long)win.store_size)
		return fd;
	ksft_print_msg("no %s of the store's size: no comparison with it\n", RAM_DEV);
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Copies the store's range [@off, @off + @len) from pinio to /dev/ram0; 0 on success. With
 * @holes, a piece that reads as zeros on both devices is left alone, so that a range never
 * written stays unallocated on both.
 */
static int ram_sync(uint64_t off, uint64_t len, bool holes)
{
	int fd = open(PINIO_DEV, O_RDWR | O_DIRECT);
	int ret = fd < 0 ? -1 : 0;

	while (!ret && len) {
		uint64_t l = len < win.len ? len : win.len;
		bool zeros;

		if (pread(fd, rw_scratch[0], l, off) != (ssize_t)l)
			ret = -1;
		zeros = holes && !ret && bytes_mismatch(rw_scratch[0], l, 0) == l &&
			pread(ramfd, rw_scratch[1], l, off) == (ssize_t)l &&
			bytes_mismatch(rw_scratch[1], l, 0) == l;
		if (!ret && !zeros && pwrite(ramfd, rw_scratch[0], l, off) != (ssize_t)l)
			ret = -1;
		off += l;
		len -= l;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * After a write at @off of @len bytes (whatever it returned): the range it may have written
 * must hold the same bytes on both devices (@compare), or is copied from pinio to the ramdisk.
 * Returns the offset of the first byte that differs, or -1.
 */
static long long ram_written(struct fuzz *z, int fd, uint64_t off, uint64_t len, bool compare)
{
	uint64_t end = off + len < off || off + len > win.store_size ? win.store_size : off + len;
	long long first = -1;

	if (off >= end || off % sect)
		return -1;
	end = end - (end - off) % sect;
	for (uint64_t at = off; at < end && first < 0 && compare; at += win.len) {
		uint64_t l = end - at < win.len ? end - at : win.len;

		if (pread(fd, rw_scratch[1], l, at) != (ssize_t)l ||
		    pread(ramfd, rw_scratch[0], l, at) != (ssize_t)l) {
			MISMATCH(z, "reading back %#llx+%#llx failed", (unsigned long long)at,
				 (unsigned long long)l);
			return -1;
		}
		for (uint64_t i = 0; i < l && first < 0; i++)
			if (rw_scratch[0][i] != rw_scratch[1][i])
				first = at + i;
	}
	if ((!compare || first >= 0) && ram_sync(off, end - off, false))
		MISMATCH(z, "cannot copy %#llx+%#llx to the ramdisk", (unsigned long long)off,
			 (unsigned long long)(end - off));
	return first;
}

/* One read or write, checked against the README's rules and against /dev/ram0. */
static void rw_one(struct fuzz *z)
{
	uint64_t *r = &z->r;
	struct mfile *f = pick_file(z);
	bool wr = prng_chance(r, 2), vec = prng_chance(r, 2), v2 = vec && prng_chance(r, 2), clean = true;
	bool misaligned_mem = false, pos_form = !prng_chance(r, 6), compare, quirk;
	static struct iovec iov[IOV_MAX];
	int n = 1, flags = 0, e, re, want, rflags_bad = 0, first = 0;
	uint64_t len = 0, off, count, size = win.store_size, h = 0;
	long long ret, want_ret, rret, at;

	/* Offset. */
	switch (prng_below(r, 12)) {
	case 0:
		off = size - sect * prng_below(r, 16);	/* near or at the end */
		break;
	case 1:
		off = size + sect * prng_below(r, 16);	/* past the end */
		break;
	case 2:
		off = -(uint64_t)sect * (1 + prng_below(r, 4));	/* negative */
		break;
	case 3:
		off = 1ULL << (40 + prng_below(r, 23));	/* huge */
		break;
	case 4:
		off = win.start + 1 + prng_below(r, sect - 1);	/* misaligned */
		break;
	case 5:
		off = sect * prng_below(r, size / sect);	/* anywhere (reads) */
		break;
	default:
		off = win.start + sect * prng_below(r, win.len / sect);
		break;
	}
	/* Buffers: up to IOV_MAX segments. */
	n = vec ? (int)(prng_chance(r, 20) ? 9 + prng_below(r, IOV_MAX - 8) : prng_below(r, 9)) : 1;
	if (vec && prng_chance(r, 50))
		n = 0;
	for (int i = 0; i < n; i++) {
		/* Long vectors: about as many odd segments per vector as short ones have. */
		unsigned int odds = n > 8 ? n / 2 : 1;
		enum bufclass bc = prng_chance(r, 4 * odds) ?
			(enum bufclass)(1 + prng_below(r, NR_B - 1)) : B_OK;
		bool mis = prng_chance(r, 16 * odds);
		uint64_t l;

		switch (prng_below(r, 12 * odds)) {
		case 0:
			l = 0;
			break;
		case 1:
			l = 1 + prng_below(r, 2 * sect);	/* misaligned */
			break;
		case 2:
			l = 1ULL << (31 + prng_below(r, 20));	/* huge */
			break;
		case 3:					/* up to 2 or 16 MiB */
			l = sect * (1 + prng_below(r, (prng_chance(r, 4) ? 16 : 2) * MiB / sect));
			break;
		default:
			l = sect * (1 + prng_below(r, n > 64 ? 8 : 64));
			break;
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

		flags = fl[prng_below(r, 5)];
		if (prng_chance(r, 16)) {
			flags = 1 << (10 + prng_below(r, 20));		/* not a flag (yet) */
			rflags_bad = 1;
		}
	}
	/*
	 * Writes never reach outside the window: an offset + length that could write
	 * elsewhere is moved into it or made invalid.
	 */
	if (wr && off < size && (off < win.start || off + len > win.start + win.len ||
				 off + len < off)) {
		if (len <= win.len)
			off = win.start + sect * prng_below(r, (win.len - len) / sect + 1);
		else
			off = size + sect * prng_below(r, 4);
	}

	/* The ramdisk gets the same call (below): a read's bytes start the same both times. */
	compare = ramfd >= 0 && pos_form && !rflags_bad && !(flags & RWF_NOWAIT);
	count = len > MAX_RW_COUNT_USER ? MAX_RW_COUNT_USER : len;
	if (compare && !wr)
		rw_span(iov, n, off < size ? count : 0, false, 0x5a);
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

	/*
	 * The same call on the ramdisk, whose O_DIRECT rules pinio follows at every size and
	 * with any memory: the same result, the same bytes in the caller's buffer, and the same
	 * bytes on the device. (Not under RWF_NOWAIT, where pinio faults nothing in.)
	 */
	if (!compare) {
		if (wr && ramfd >= 0)
			ram_written(z, f->fd, off, len, false);
		return;
	}
	if (!wr) {
		h = rw_span(iov, n, off < size ? count : 0, true, 0);
		rw_span(iov, n, off < size ? count : 0, false, 0x5a);
	}
	errno = 0;
	if (!vec)
		rret = wr ? pwrite(ramfd, iov[0].iov_base, len, off) :
			    pread(ramfd, iov[0].iov_base, len, off);
	else if (!v2)
		rret = wr ? pwritev(ramfd, iov, n, off) : preadv(ramfd, iov, n, off);
	else
		rret = wr ? pwritev2(ramfd, iov, n, off, flags) : preadv2(ramfd, iov, n, off, flags);
	re = rret < 0 ? errno : 0;
	pst_add(st, F_ramdisk_compared, 1);
	/*
	 * After leading empty segments the block layer takes the first non-empty one without
	 * checking its alignment; brd then stores a misaligned one out of place (it advances by
	 * whole sectors after each bvec), pinio in order: the README's documented difference in
	 * the bytes, not in the result.
	 */
	while (first < n && !iov[first].iov_len)
		first++;
	quirk = vec && first > 0 && first < n &&
		(((uintptr_t)iov[first].iov_base | iov[first].iov_len) % sect);
	if ((rret < 0) != (ret < 0) || (ret < 0 && re != e) || (ret >= 0 && ret != rret)) {
		char segs[160] = "";

		for (int i = 0, o = 0; i < n && o < (int)sizeof(segs) - 24; i++)
			o += snprintf(segs + o, sizeof(segs) - o, " %#lx+%#zx",
				      (unsigned long)((uintptr_t)iov[i].iov_base & 0xfff),
				      iov[i].iov_len);
		ksft_print_msg("segments (address %% 4096 + length):%s\n", segs);
		pst_add(st, F_ramdisk_differences, 1);
		MISMATCH(z, "%s%s at %#llx, %d segment(s), %llu bytes%s%s: pinio %lld (%s), ramdisk %lld (%s)",
			 wr ? "write" : "read", vec ? "v" : "", (unsigned long long)off, n,
			 (unsigned long long)len, misaligned_mem ? " (misaligned memory)" : "",
			 clean ? "" : " (bad memory)", ret, errname(e), rret, errname(re));
	}
	if (!wr && h != rw_span(iov, n, off < size ? count : 0, true, 0)) {
		pst_add(st, quirk ? F_ramdisk_quirks : F_ramdisk_differences, 1);
		if (!quirk)
			MISMATCH(z, "read at %#llx, %d segment(s), %llu bytes, %lld read: %s",
				 (unsigned long long)off, n, (unsigned long long)len, ret,
				 "pinio and the ramdisk changed the buffer differently");
	}
	at = wr ? ram_written(z, f->fd, off, len, true) : -1;
	if (at >= 0) {
		pst_add(st, quirk ? F_ramdisk_quirks : F_ramdisk_differences, 1);
		if (!quirk)
			MISMATCH(z, "write at %#llx, %d segment(s), %llu bytes, %lld written: %s %#llx",
				 (unsigned long long)off, n, (unsigned long long)len, ret,
				 "the devices differ at", at);
	}
}

TEST_F_TIMEOUT(fuzzer, rw_model, FUZZ_TIMEOUT)
{
	struct fuzz z;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 3));
	for (int d = 0; d < 2; d++) {
		rw_scratch[d] = map_anon(win.len);
		ASSERT_NE(NULL, rw_scratch[d]);
	}
	ramfd = ram_open();
	/*
	 * The ramdisk starts with the store's bytes, but for a range never written, left a hole
	 * on both: unless an earlier test of the same boot wrote there (make stress runs the
	 * stress test first, and a range that differed made every later call on it differ).
	 */
	if (ramfd >= 0 && win.store_size >= 64 * MiB) {
		ASSERT_EQ(0, ram_sync(0, 56 * MiB, false));
		ASSERT_EQ(0, ram_sync(56 * MiB, 2 * MiB, true));
		ASSERT_EQ(0, ram_sync(58 * MiB, win.store_size - 58 * MiB, false));
	} else if (ramfd >= 0) {
		ASSERT_EQ(0, ram_sync(0, win.store_size, false));
	}
	for (z.op = 0; z.op < nops && z.mismatches < 20; z.op++)
		rw_one(&z);
	if (ramfd >= 0)
		close(ramfd);
	for (int d = 0; d < 2; d++)
		munmap(rw_scratch[d], win.len);
	finish(_metadata, &z, "rw_model");
}

/* Splice, sendfile and the file operations pinio does not have. */
TEST_F_TIMEOUT(fuzzer, misc_fops, FUZZ_TIMEOUT)
{
	struct fuzz z;
	int pipefd[2], memfd;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 4));
	ASSERT_EQ(0, pipe2(pipefd, O_NONBLOCK));
	memfd = memfd_create("pinio-fuzz", 0);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, MiB));
	for (z.op = 0; z.op < nops / 4 && z.mismatches < 20; z.op++) {
		uint64_t *r = &z.r;
		struct mfile *f = pick_file(&z);
		uint64_t len = prng_chance(r, 4) ? prng_below(r, MiB) : sect * prng_below(r, 128);
		loff_t off = prng_chance(r, 6) ? (loff_t)prng_next(r) :
			     (loff_t)(win.start + sect * prng_below(r, win.len / sect));
		long long ret;
		int e;
		char drain[4096];
		void *p;

		if (off >= 0 && (uint64_t)off < win.store_size &&
		    ((uint64_t)off < win.start || (uint64_t)off + len > win.start + win.len))
			off = win.store_size;	/* no writes outside the window */
		errno = 0;
		switch (prng_below(r, 8)) {
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
			off = prng_chance(r, 4) ? (loff_t)prng_next(r) : (loff_t)prng_below(r, win.store_size);
			ret = splice(f->fd, &off, pipefd[1], NULL, len, SPLICE_F_NONBLOCK);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != EAGAIN && e != ENOMEM)
				MISMATCH(&z, "splice from the device: %s", errname(e));
			break;
		case 2:		/* memfd -> device, at the file position: in the window */
			if (len > win.len)
				len = win.len;
			lseek(f->fd, prng_chance(r, 8) ? (off_t)win.store_size :
				     (off_t)(win.start + sect * prng_below(r, (win.len - len) / sect + 1)),
			      SEEK_SET);
			ret = sendfile(f->fd, memfd, NULL, len);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			/* The file position decides where: it is in the window or past the end. */
			break;
		case 3:		/* device -> memfd */
			off = prng_chance(r, 4) ? (loff_t)prng_next(r) : (loff_t)prng_below(r, win.store_size);
			lseek(memfd, 0, SEEK_SET);
			ret = sendfile(memfd, f->fd, &off, len);
			e = ret < 0 ? errno : 0;
			account(ret, e);
			if (e && e != EINVAL && e != ENOMEM)
				MISMATCH(&z, "sendfile from the device: %s", errname(e));
			break;
		case 4: {	/* lseek */
			int whence = prng_below(r, 6);
			off_t o = prng_chance(r, 2) ? (off_t)prng_next(r) : (off_t)prng_below(r, win.store_size);

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
			ret = prng_chance(r, 2) ? fsync(f->fd) : fdatasync(f->fd);
			account(ret, ret ? errno : 0);
			break;
		default:	/* fallocate, ftruncate */
			ret = prng_chance(r, 2) ? fallocate(f->fd, prng_below(r, 64), prng_below(r, MiB), 4096) :
					     ftruncate(f->fd, prng_below(r, MiB));
			e = ret ? errno : 0;
			account(ret, e);
			if (!e)
				MISMATCH(&z, "fallocate/ftruncate of /dev/pinio succeeded");
			break;
		}
		while (read(pipefd[0], drain, sizeof(drain)) > 0)
			;
		if (prng_chance(r, 4))
			lseek(f->fd, prng_chance(r, 2) ? win.start : win.store_size, SEEK_SET);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	close(memfd);
	finish(_metadata, &z, "misc_fops");
}

/* Stale and foreign handles, and handles inherited by a child. */
TEST_F_TIMEOUT(fuzzer, handles, FUZZ_TIMEOUT)
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
	EXPECT_EQ(0, vmpin_kb(0));		/* charged to the child, not to us */
	/* The closed file's pins are gone with it, the child's included. */
	mf_close(&z.f[0]);
	EXPECT_EQ(0, pst_pins_settle(NULL, z.pins0, 2000));
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
	finish(_metadata, &z, NULL);
}

/* ---- asynchronous requests --------------------------------------------------------- */

#define AB_MAX		8		/* requests per batch */
#define AB_RAM		(1U << 8)	/* user_data bit: the /dev/ram0 twin */

struct areq {
	bool write, vec, clean, in_window;
	int n;				/* segments */
	struct iovec iov[4], twin[4];	/* pinio's buffers; the ram0 twin's (reads) */
	uint64_t off, len;
	int res, ram_res;
	bool done, ram_done;
	int seq;			/* completion rank among pinio's */
};

/* The ram0 twins of reads land here: the arena's layout, ARENA_LEN bytes. */
static uint8_t *twin_arena;

/*
 * A request's buffer in slice @i of the arena (touched or not), read-only memory, PROT_NONE
 * or the edge page; @w: it is a write's source (always valid memory: a write that faults part
 * way could move different amounts on the two devices).
 */
static uint8_t *areq_buf(uint64_t *r, int i, bool w, uint64_t *len, bool *clean)
{
	const uint64_t tslice = TOUCHED_LEN / AB_MAX, uslice = (ARENA_LEN - TOUCHED_LEN) / AB_MAX;
	int cls = prng_below(r, w ? 3 : 6);
	uint64_t l = prng_chance(r, 8) ? sect * (1 + prng_below(r, 512)) : sect * (1 + prng_below(r, 32));
	uint8_t *b;

	*clean = true;
	switch (cls) {
	case 0:		/* touched */
	default:
		if (l > tslice)
			l = tslice;
		b = M.arena + i * tslice + sect * prng_below(r, (tslice - l) / sect + 1);
		break;
	case 1:		/* never touched (by this batch at least): the inline issue gets EAGAIN */
		if (l > uslice)
			l = uslice;
		b = M.arena + TOUCHED_LEN + i * uslice + sect * prng_below(r, (uslice - l) / sect + 1);
		break;
	case 2:		/* read-only: fine for a write, EFAULT for a read */
		l = sect * (1 + prng_below(r, RO_LEN / sect / AB_MAX));
		b = M.ro + i * (RO_LEN / AB_MAX);
		*clean = w;
		break;
	case 3:		/* PROT_NONE */
		b = M.none + sect * prng_below(r, NONE_LEN / sect);
		*clean = false;
		break;
	case 4:		/* the edge page, running into PROT_NONE */
		b = M.edge + ps - sect * (1 + prng_below(r, ps / sect - 1));
		*clean = false;
		break;
	}
	if (prng_chance(r, 24))
		l += 1 + prng_below(r, sect - 1);			/* misaligned length */
	if (prng_chance(r, 24) && b + 2 * sect < M.ro)
		b += 1 + prng_below(r, sect - 1);			/* misaligned address */
	*len = l;
	return b;
}

/*
 * Fills @q: request @i of a batch of reads or writes. Its memory is one buffer (in slice @i
 * of the arena when valid, so that the requests of a batch never share bytes) cut into 1-4
 * segments, none empty; sometimes one is misaligned.
 */
static void areq_gen(uint64_t *r, struct areq *q, int i, bool write)
{
	uint64_t size = win.store_size, slice = win.len / AB_MAX / sect * sect, len, left;
	uint8_t *b;

	memset(q, 0, sizeof(*q));
	q->write = write;
	b = areq_buf(r, i, write, &len, &q->clean);
	q->clean = q->clean && buf_valid(b, len, !write);
	q->len = len;
	q->vec = prng_chance(r, 3);
	q->n = q->vec ? 1 + prng_below(r, 4) : 1;
	left = len;
	for (int j = 0; j < q->n; j++) {
		uint64_t l = left;

		if (j < q->n - 1 && left > sect) {
			l = sect * (1 + prng_below(r, left / sect - (left % sect ? 0 : 1)));
			if (prng_chance(r, 32))
				l -= 1 + prng_below(r, sect - 1);	/* misaligned segment */
		}
		if (l > left || !l)
			l = left;
		q->iov[j] = (struct iovec){ b, l };
		b += l;
		left -= l;
		if (!left) {
			q->n = j + 1;
			break;
		}
	}
	if (write) {
		/* Its own slice of the window, or an offset where nothing is written. */
		switch (prng_below(r, 16)) {
		case 0:		/* ENOSPC */
			q->off = size + sect * prng_below(r, 4);
			break;
		case 1:		/* misaligned */
			q->off = win.start + i * slice + 1;
			break;
		default:
			if (len > slice) {
				q->off = size;				/* ENOSPC */
				break;
			}
			q->off = win.start + i * slice + sect * prng_below(r, (slice - len) / sect + 1);
			break;
		}
	} else {
		switch (prng_below(r, 12)) {
		case 0:		/* across or at the end */
			q->off = size - sect * prng_below(r, 16);
			break;
		case 1:		/* past the end */
			q->off = size + sect * prng_below(r, 16);
			break;
		case 2:		/* huge */
			q->off = 1ULL << (40 + prng_below(r, 20));
			break;
		case 3:		/* misaligned */
			q->off = win.start + 1 + prng_below(r, sect - 1);
			break;
		case 4:		/* anywhere */
			q->off = sect * prng_below(r, size / sect);
			break;
		default:
			q->off = win.start + sect * prng_below(r, (win.len - (len < win.len ? len : 0)) / sect);
			break;
		}
	}
	q->in_window = q->off >= win.start && q->off + len <= win.start + win.len;
	/* A read's twin: the same place in the twin arena (only valid memory has one). */
	for (int j = 0; j < q->n; j++) {
		uint8_t *a = q->iov[j].iov_base;

		q->twin[j].iov_base = a >= M.arena && a < M.arena + ARENA_LEN ?
				      twin_arena + (a - M.arena) : twin_arena;
		q->twin[j].iov_len = q->iov[j].iov_len;
	}
}

/* A random SET_CONFIG of the file; checked against the model. */
static void async_config(struct fuzz *z, struct mfile *f, int in_flight, bool *fifo)
{
	uint64_t *r = &z->r;
	struct pinio_config c = { 0 }, now;
	bool bad = false;
	int ret;

	c.latency_us = prng_chance(r, 3) ? 0 : prng_below(r, 3000);
	c.queue_depth = prng_chance(r, 3) ? 0 : 1 + prng_below(r, 16);
	c.flags = prng_below(r, PINIO_CONFIG_FLAGS_ALL + 1);
	switch (prng_below(r, 12)) {
	case 0:
		c.flags |= 1U << (2 + prng_below(r, 30));
		bad = true;
		break;
	case 1:
		c.queue_depth = PINIO_QUEUE_DEPTH_MAX + 1 + prng_below(r, 100);
		bad = true;
		break;
	case 2:
		c.latency_us = 10000001 + prng_below(r, 1000);
		bad = true;
		break;
	case 3:
		c.reserved[prng_below(r, 2)] = 1 + prng_below(r, 100);
		bad = true;
		break;
	default:
		break;
	}
	ret = ioc_set_config(f->fd, &c);
	account(ret ? -1 : 0, -ret);
	pst_add(st, F_async_configs, 1);
	if (bad) {
		if (ret != -EINVAL)
			MISMATCH(z, "SET_CONFIG with a bad field: %s, want EINVAL", errname(-ret));
		return;
	}
	/* EBUSY only if the order changes while requests may be in flight. */
	if (ret == -EBUSY && in_flight && !!(c.flags & PINIO_CONFIG_FIFO) != *fifo) {
		pst_add(st, F_async_ebusy, 1);
		return;
	}
	if (ret) {
		MISMATCH(z, "SET_CONFIG: %s, want success", errname(-ret));
		return;
	}
	*fifo = c.flags & PINIO_CONFIG_FIFO;
	if (ioc_get_config(f->fd, &now) || now.flags != c.flags || now.latency_us != c.latency_us ||
	    now.queue_depth != (c.queue_depth ? c.queue_depth : PINIO_QUEUE_DEPTH_DEFAULT))
		MISMATCH(z, "GET_CONFIG does not return what SET_CONFIG set");
}

/* One batch: 1-AB_MAX reads or writes on pinio and, where memory is valid, the same on ram0. */
static void async_batch(struct fuzz *z, struct io_uring *ring, io_context_t ctx, bool *fifo)
{
	uint64_t *r = &z->r;
	struct mfile *f = &z->f[0];
	bool write = prng_chance(r, 3), aio = prng_chance(r, 4), twins = ramfd >= 0;
	int n = 1 + prng_below(r, AB_MAX), ndone = 0, want, got, rank = 0;
	struct areq q[AB_MAX];
	struct iocb cb[2 * AB_MAX], *cbp[2 * AB_MAX];
	long long eagain0 = pinio_counter("nowait_eagain");
	bool was_fifo = *fifo;

	for (int i = 0; i < n; i++) {
		areq_gen(r, &q[i], i, write);
		if (!write && q[i].clean)
			for (int j = 0; j < q[i].n; j++)
				memset(q[i].twin[j].iov_base, 0x3c, q[i].twin[j].iov_len);
	}
	want = 0;
	for (int i = 0; i < n; i++) {
		bool twin = twins && q[i].clean;

		if (!aio) {
			uring_queue_rwv(ring, write, f->fd, q[i].iov, q[i].n, q[i].off, i);
			if (twin)
				uring_queue_rwv(ring, write, ramfd, write ? q[i].iov : q[i].twin, q[i].n,
						q[i].off, AB_RAM | i);
		} else {
			if (write)
				io_prep_pwritev(&cb[want], f->fd, q[i].iov, q[i].n, q[i].off);
			else
				io_prep_preadv(&cb[want], f->fd, q[i].iov, q[i].n, q[i].off);
			cb[want].data = (void *)(uintptr_t)i;
			cbp[want] = &cb[want];
			if (twin) {
				if (write)
					io_prep_pwritev(&cb[want + 1], ramfd, q[i].iov, q[i].n,
							q[i].off);
				else
					io_prep_preadv(&cb[want + 1], ramfd, q[i].twin, q[i].n,
						       q[i].off);
				cb[want + 1].data = (void *)(uintptr_t)(AB_RAM | i);
				cbp[want + 1] = &cb[want + 1];
			}
		}
		want += 1 + twin;
		q[i].ram_done = !twin;
	}
	pst_add(st, F_async_batches, 1);
	pst_add(st, F_async_requests, n);
	if (!aio) {
		got = io_uring_submit(ring);
		if (got != want) {
			MISMATCH(z, "io_uring_submit: %d of %d", got, want);
			return;
		}
	} else {
		got = io_submit(ctx, want, cbp);
		if (got != want) {
			MISMATCH(z, "io_submit: %d of %d", got, want);
			return;
		}
	}
	/* Reap all, in completion order. */
	while (ndone < want) {
		struct uring_done d[2 * AB_MAX];
		struct io_event ev[2 * AB_MAX];
		int k = aio ? aio_reap(ctx, want - ndone, ev, 30000) :
			      uring_reap(ring, want - ndone, d, 30000);

		if (k <= 0) {
			MISMATCH(z, "%d of %d completions missing after 30 s", want - ndone, want);
			return;
		}
		for (int j = 0; j < k; j++) {
			uint64_t data = aio ? (uintptr_t)ev[j].data : d[j].data;
			int res = aio ? (int)(long)ev[j].res : d[j].res;
			struct areq *a = &q[data & (AB_RAM - 1)];

			if (data & AB_RAM) {
				a->ram_res = res;
				a->ram_done = true;
			} else {
				a->res = res;
				a->done = true;
				a->seq = res > 0 ? rank++ : -1;
			}
		}
		ndone += k;
	}
	for (int i = 0; i < n; i++) {
		struct areq *a = &q[i];

		account(a->res, a->res < 0 ? -a->res : 0);
		if (a->res > (long long)a->len)
			MISMATCH(z, "async %s returned %d for %llu bytes", write ? "write" : "read",
				 a->res, (unsigned long long)a->len);
		if (a->res < 0 && a->res != -EINVAL && a->res != -EFAULT && a->res != -ENOSPC &&
		    a->res != -ENOMEM)
			MISMATCH(z, "async %s: undocumented %s", write ? "write" : "read",
				 errname(-a->res));
		if (!twins || !a->clean)
			continue;
		pst_add(st, F_ramdisk_compared, 1);
		if (a->res != a->ram_res) {
			pst_add(st, F_ramdisk_differences, 1);
			MISMATCH(z, "async %s%s (%s) at %#llx, %d segment(s), %llu bytes: pinio %d, ramdisk %d",
				 write ? "write" : "read", a->vec ? "v" : "", aio ? "libaio" : "io_uring",
				 (unsigned long long)a->off, a->n, (unsigned long long)a->len, a->res,
				 a->ram_res);
			continue;
		}
		if (!write && a->res > 0 && a->in_window) {
			uint64_t left = a->res;

			for (int j = 0; j < a->n && left; j++) {
				uint64_t l = a->iov[j].iov_len < left ? a->iov[j].iov_len : left;

				if (memcmp(a->iov[j].iov_base, a->twin[j].iov_base, l)) {
					MISMATCH(z, "async read at %#llx: segment %d differs from the ramdisk's",
						 (unsigned long long)a->off, j);
					break;
				}
				left -= l;
			}
		}
	}
	/*
	 * FIFO: requests complete in the order they were queued, which is the order of the
	 * batch when none was sent back to io-wq (no EAGAIN) and the queue took them all.
	 */
	if (was_fifo && !aio && pinio_counter("nowait_eagain") == eagain0) {
		int last = -1;

		pst_add(st, F_async_fifo_checked, 1);
		for (int i = 0; i < n; i++) {
			if (q[i].seq < 0)
				continue;
			if (q[i].seq < last)
				MISMATCH(z, "FIFO: request %d of the batch completed out of order", i);
			last = q[i].seq;
		}
	}
}

TEST_F_TIMEOUT(fuzzer, async_model, FUZZ_TIMEOUT)
{
	uint64_t *r, chunk = MiB;
	struct io_uring ring;
	io_context_t ctx = 0;
	struct fuzz z;
	bool fifo = false;
	uint8_t *a, *b;

	ASSERT_EQ(0, fuzz_setup(_metadata, &z, 5));
	r = &z.r;
	twin_arena = map_anon(ARENA_LEN);
	a = map_anon(chunk);
	b = map_anon(chunk);
	ASSERT_NE(NULL, twin_arena);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, io_uring_queue_init(4 * AB_MAX, &ring, 0));
	ASSERT_EQ(0, io_setup(4 * AB_MAX, &ctx));
	ramfd = ram_open();
	/* The ramdisk's window becomes a copy of pinio's. */
	for (uint64_t off = 0; ramfd >= 0 && off < win.len; off += chunk) {
		uint64_t l = win.len - off < chunk ? win.len - off : chunk;

		ASSERT_EQ((ssize_t)l, pread(z.f[0].fd, a, l, win.start + off));
		ASSERT_EQ((ssize_t)l, pwrite(ramfd, a, l, win.start + off));
	}
	for (z.op = 0; z.op < nops / 20 && z.mismatches < 20; z.op++) {
		if (prng_chance(r, 4))
			async_config(&z, &z.f[0], 0, &fifo);
		async_batch(&z, &ring, ctx, &fifo);
		/* A config change while a slow request is in flight. */
		if (prng_chance(r, 16)) {
			struct pinio_config c = { .latency_us = 50000,
						  .flags = fifo ? PINIO_CONFIG_FIFO : 0 };
			uint8_t *buf = M.arena;

			if (!ioc_set_config(z.f[0].fd, &c) &&
			    !uring_queue_rw(&ring, false, z.f[0].fd, buf, sect, win.start, 99) &&
			    io_uring_submit(&ring) == 1) {
				async_config(&z, &z.f[0], 1, &fifo);
				if (uring_reap(&ring, 1, NULL, 30000) != 1)
					MISMATCH(&z, "a slow read never completed");
			}
		}
	}
	/* Both windows hold the same bytes. */
	for (uint64_t off = 0; ramfd >= 0 && off < win.len; off += chunk) {
		uint64_t l = win.len - off < chunk ? win.len - off : chunk;

		ASSERT_EQ((ssize_t)l, pread(z.f[0].fd, a, l, win.start + off));
		ASSERT_EQ((ssize_t)l, pread(ramfd, b, l, win.start + off));
		if (memcmp(a, b, l))
			MISMATCH(&z, "the window differs from the ramdisk's near %#llx after the run",
				 (unsigned long long)(win.start + off));
	}
	io_uring_queue_exit(&ring);
	io_destroy(ctx);
	if (ramfd >= 0)
		close(ramfd);
	ramfd = -1;
	EXPECT_EQ(0, async_settle(10000));
	munmap(twin_arena, ARENA_LEN);
	munmap(a, chunk);
	munmap(b, chunk);
	finish(_metadata, &z, "async_model");
}

int main(int argc, char **argv)
{
	const char *env = getenv("PINIO_FUZZ_OPS");
	const struct pst_opt opts[] = { { "--ops", &nops }, { NULL } };

	if (env && *env)
		nops = strtoul(env, NULL, 0);
	argc = pst_parse_args(argc, argv, &seed, opts);
	pst_clamp("--ops", &nops, 0, FUZZ_MAX_OPS);
	st = pst_stats_new();
	if (!st)
		return KSFT_FAIL;
	return test_harness_run(argc, argv);
}
