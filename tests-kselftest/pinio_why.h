/* SPDX-License-Identifier: GPL-2.0 */
/*
 * "Why" answers for failed pins (PINIO_IOC_WHY, ABI 5): one case per way a PINIO_IOC_PIN
 * fails, each making the pin fail the way Linux 7.3 makes it fail, then asking PINIO_IOC_WHY
 * and checking every field the answer must have: the kind and errno, the page and why it
 * could not be taken (the mapping's flags, the page's state), what a refused long-term charge
 * would have charged against RLIMIT_MEMLOCK, and which pages a failed migration left where
 * they were, with what held them (refcount, mapcount, pincount, expected references).
 *
 * pinio_why_test runs the cases every boot offers; pinio_exp_boot_test those that need
 * movablecore= (the migration and the MAP_PRIVATE hugetlb cases); pinio-ctl why runs every
 * case the running kernel and boot can, and prints each answer.
 */
#ifndef _PINIO_WHY_H
#define _PINIO_WHY_H

#include "hugepage_settings.h"
#include "pinio_matrix.h"

/* ---- the answer in words --------------------------------------------------------------------- */

static inline const char *why_kind_name(uint32_t kind)
{
	static const char * const names[] = {
		[PINIO_WHY_NONE] = "NONE", [PINIO_WHY_INVALID] = "INVALID",
		[PINIO_WHY_FILE_CAP] = "FILE_CAP", [PINIO_WHY_MEMLOCK] = "MEMLOCK",
		[PINIO_WHY_MIGRATION] = "MIGRATION", [PINIO_WHY_FAULT] = "FAULT",
		[PINIO_WHY_OTHER] = "OTHER",
	};

	return kind < ARRAY_SIZE(names) ? names[kind] : "?";
}

static inline const char *why_fault_name(uint32_t fault)
{
	static const char * const names[] = {
		[PINIO_FAULT_NONE] = "none found (a race?)",
		[PINIO_FAULT_NO_VMA] = "nothing mapped there",
		[PINIO_FAULT_IO_PFNMAP] = "VM_IO/VM_PFNMAP mapping",
		[PINIO_FAULT_FSDAX_LONGTERM] = "long-term pin of fsdax",
		[PINIO_FAULT_SECRETMEM] = "secretmem",
		[PINIO_FAULT_FILE_LONGTERM_WRITE] =
			"writable long-term pin of a dirty-tracked shared file mapping",
		[PINIO_FAULT_NOT_WRITABLE] = "write pin of a mapping without PROT_WRITE",
		[PINIO_FAULT_NOT_READABLE] = "mapping without PROT_READ",
		[PINIO_FAULT_NOT_PRESENT] = "not present, and FOLL_NOFAULT",
		[PINIO_FAULT_NEEDS_WRITE_FAULT] = "mapped read-only, a write/unshare fault needed, and FOLL_NOFAULT",
		[PINIO_FAULT_BEYOND_EOF] = "past the end of the file",
		[PINIO_FAULT_FAULT_FAILED] = "the fault handler failed",
	};

	return fault < ARRAY_SIZE(names) ? names[fault] : "?";
}

static inline const char *why_vma_names(uint32_t flags, char *buf, size_t len)
{
	static const char * const names[] = {
		"read", "write", "shared", "anon", "file", "shmem", "hugetlb", "dirty-tracked",
		"io/pfnmap", "fsdax", "secretmem", "cow",
	};

	return exp_bit_names(flags, names, ARRAY_SIZE(names), buf, len);
}

/*
 * References of a record's folio that neither its mappings and caches (expected_refs) nor its
 * pins explain: each pin is GUP_PIN_COUNTING_BIAS (1024) references of an order-0 folio, one
 * of a large one.
 */
static inline long why_unexplained(const struct pinio_page_record *r)
{
	return (long)r->refcount - r->expected_refs - (long)r->pincount * (r->order ? 1 : 1024);
}

/* Prints an answer and its records as a step list. */
static inline void why_print(struct exp *e, const struct pinio_why *w,
			     const struct pinio_page_record *r)
{
	char buf[160];

	exp_say(e, "   PINIO_IOC_WHY: %s (%s), failure #%llu of this file, by thread %u; the PIN: flags %#x, %llu bytes at %#llx, %u pages per call",
		why_kind_name(w->kind), w->error ? strerrorname_np(w->error) : "0",
		(unsigned long long)w->seq, w->tid, w->flags, (unsigned long long)w->len,
		(unsigned long long)w->addr, w->pages_per_call);
	switch (w->kind) {
	case PINIO_WHY_FILE_CAP:
		exp_say(e, "     the file held %llu pages; its cap is %llu (max_pin_mib)",
			(unsigned long long)w->held_pages, (unsigned long long)w->max_pages);
		break;
	case PINIO_WHY_MEMLOCK:
		exp_say(e, "     the pin would charge %llu pages (%llu folios, whole) for %llu pages pinned; RLIMIT_MEMLOCK %llu pages; pinned_vm before %llu pages",
			(unsigned long long)w->charge_pages, (unsigned long long)w->charge_folios,
			(unsigned long long)(w->len / e->ps), (unsigned long long)w->memlock_limit,
			(unsigned long long)w->pinned_vm);
		break;
	case PINIO_WHY_FAULT:
	case PINIO_WHY_MIGRATION:
		exp_say(e, "     page %llu (%#llx)%s%s: %s",
			(unsigned long long)w->page_index, (unsigned long long)w->page_addr,
			w->page_state & PINIO_WHY_PAGE_PRESENT ? ", present" : ", not present",
			w->page_state & PINIO_WHY_PAGE_WRITABLE ? " and writable" : "",
			w->kind == PINIO_WHY_FAULT ? why_fault_name(w->fault) :
			"pages a long-term pin must migrate stayed where they were");
		exp_say(e, "     mapping [%#llx, %#llx): %s", (unsigned long long)w->vma_start,
			(unsigned long long)w->vma_end, why_vma_names(w->vma_flags, buf, sizeof(buf)));
		if (w->kind == PINIO_WHY_MIGRATION)
			exp_say(e, "     %llu pages looked at, %llu of them not long-term pinnable",
				(unsigned long long)w->nr_probed,
				(unsigned long long)w->nr_unpinnable);
		break;
	default:
		break;
	}
	if (!w->count)
		return;
	exp_say(e, "     %5s %10s %-8s %5s %6s %4s %4s %4s %5s  %s", "page", "pfn", "zone", "order",
		"ref", "map", "pin", "exp", "other", "flags");
	for (uint32_t i = 0; i < w->count && i < (uint32_t)(e->dump_rows ?: 4); i++)
		exp_say(e, "     %5llu %#10llx %-8s %5u %6d %4d %4d %4d %5ld  %s",
			(unsigned long long)r[i].index, (unsigned long long)r[i].pfn,
			exp_zone_name(r[i].zone), r[i].order, r[i].refcount, r[i].mapcount,
			r[i].pincount, r[i].expected_refs, why_unexplained(&r[i]),
			exp_flag_names(r[i].flags, buf, sizeof(buf)));
	if (w->count > (uint32_t)(e->dump_rows ?: 4))
		exp_say(e, "     ... %u more", w->count - (e->dump_rows ?: 4));
}

/* ---- the cases ---------------------------------------------------------------------------- */

#define WHY_RECORDS	16
#define WHY_MEMLOCK	(64 * 1024)	/* RLIMIT_MEMLOCK of the memlock cases: 16 small pages */
#define WHY_MIGRATE	16		/* pages of the migration case */

/* One run of a case: what it made, what the failing PIN and PINIO_IOC_WHY answered. */
struct why_run {
	int err;			/* the PIN's errno */
	uint64_t index;			/* the page the answer must name */
	pid_t tid;			/* the thread that must be named (0: this one) */
	uint8_t *mem;			/* memory to unmap (mem_len bytes) */
	size_t mem_len;
	int file;			/* a file to close, or -1 */
	uint32_t handle;		/* a pin to release, or 0 */
	bool huge_pool;			/* hugetlb pages to give back */
	uint64_t want[3];		/* the case's own expectations */
	char skip[128];			/* why the case cannot run here */
	struct pinio_why w;
	struct pinio_page_record r[WHY_RECORDS];
};

struct why_case {
	const char *name;
	const char *what;		/* the failure, in a few words */
	int (*make)(struct exp *e, struct why_run *x);	/* 0, or -1 (x->skip says why) */
	int err;			/* what 7.3 answers */
	uint32_t kind, fault;
	uint32_t vma_set, vma_clear;	/* PINIO_VMA_* bits set, and clear, at the page */
	int state;			/* PINIO_WHY_PAGE_* at the page; -1: any */
	void (*check)(struct exp *e, const struct why_run *x);	/* the case's own fields */
	const char *decided;		/* where 7.3 decides it */
};

/* @pages small pages of private anonymous memory, written (@fill >= 0) or not. */
static inline int why_anon(struct why_run *x, size_t pages, int fill)
{
	x->mem_len = pages * psize();
	x->mem = map_small(x->mem_len);
	if (!x->mem) {
		snprintf(x->skip, sizeof(x->skip), "mmap: %s", strerror(errno));
		return -1;
	}
	if (fill >= 0)
		memset(x->mem, fill, x->mem_len);
	return 0;
}

static inline int why_pin(struct exp *e, struct why_run *x, const void *addr, size_t len,
			  uint32_t flags)
{
	long h = ioc_pin(e->fd, addr, len, flags, 0, NULL);

	if (h > 0)
		ioc_unpin(e->fd, (uint32_t)h, 0);
	x->err = h > 0 ? 0 : (int)-h;
	return 0;
}

static inline int why_make_invalid(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 1, 1))
		return -1;
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_SLOW | PINIO_PIN_GET);
}

static inline int why_make_file_cap(struct exp *e, struct why_run *x)
{
	struct pinio_info info;

	if (ioc_info(e->fd, &info)) {
		snprintf(x->skip, sizeof(x->skip), "PINIO_IOC_INFO: %s", strerror(errno));
		return -1;
	}
	/* The cap is checked before any page is touched: no memory is needed at the address. */
	x->want[0] = info.max_pinned_pages;
	return why_pin(e, x, (void *)(1UL << 30), (info.max_pinned_pages + 1) * e->ps, 0);
}

static inline void why_check_file_cap(struct exp *e, const struct why_run *x)
{
	exp_check(e, x->w.held_pages == 0 && x->w.max_pages == x->want[0],
		  "the file held %llu pages, its cap is %llu pages (INFO's max_pinned_pages %llu)",
		  (unsigned long long)x->w.held_pages, (unsigned long long)x->w.max_pages,
		  (unsigned long long)x->want[0]);
}

/*
 * A long-term pin by a child without CAP_IPC_LOCK and an RLIMIT_MEMLOCK of WHY_MEMLOCK, of the
 * first @pin pages of memory the child makes itself (@pages small pages, or a THP if @thp):
 * memory shared with the parent would be copied (COW, in small pages) before the pin. The
 * pin's errno. The failure belongs to the open file, which the child shares: the parent asks
 * PINIO_IOC_WHY after the child is gone, and the answer names the child.
 */
static inline int why_pin_unprivileged(struct exp *e, struct why_run *x, size_t pages,
				       size_t pin, bool thp)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(x->skip, sizeof(x->skip), "fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		uint8_t *mem;
		long h;

		if (drop_privileges(WHY_MEMLOCK))
			_exit(255);
		mem = thp ? exp_thp(3) : map_small(pages * e->ps);
		if (!mem)
			_exit(254);
		memset(mem, 2, pin * e->ps);
		h = ioc_pin(e->fd, mem, pin * e->ps, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM, 0, NULL);
		_exit(h > 0 ? 0 : (int)-h);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) >= 254) {
		snprintf(x->skip, sizeof(x->skip), "the unprivileged child failed (%s)",
			 WIFEXITED(status) && WEXITSTATUS(status) == 254 ?
			 "no THP could be had" : "drop_privileges");
		return -1;
	}
	x->err = WEXITSTATUS(status);
	x->tid = pid;
	return 0;
}

static inline int why_make_memlock(struct exp *e, struct why_run *x)
{
	const size_t pages = WHY_MEMLOCK / e->ps + 1;

	x->want[0] = pages;	/* charged: one folio per page */
	x->want[1] = pages;
	return why_pin_unprivileged(e, x, pages, pages, false);
}

static inline int why_make_memlock_thp(struct exp *e, struct why_run *x)
{
	x->want[0] = read_pmd_pagesize() / e->ps;	/* one page pinned, the whole THP charged */
	x->want[1] = 1;
	return why_pin_unprivileged(e, x, 0, 1, true);
}

static inline void why_check_memlock(struct exp *e, const struct why_run *x)
{
	const struct pinio_why *w = &x->w;

	exp_check(e, w->charge_pages == x->want[0] && w->charge_folios == x->want[1],
		  "would charge %llu pages in %llu folios for %llu pages pinned (expected %llu pages, %llu folios: folios are charged whole)",
		  (unsigned long long)w->charge_pages, (unsigned long long)w->charge_folios,
		  (unsigned long long)(w->len / e->ps), (unsigned long long)x->want[0],
		  (unsigned long long)x->want[1]);
	exp_check(e, w->memlock_limit == WHY_MEMLOCK / e->ps && w->pinned_vm == 0,
		  "RLIMIT_MEMLOCK %llu pages (the child's %d KiB), pinned_vm before %llu",
		  (unsigned long long)w->memlock_limit, WHY_MEMLOCK >> 10,
		  (unsigned long long)w->pinned_vm);
}

static inline int why_make_no_vma(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 2, 4) || munmap(x->mem + e->ps, e->ps))
		return -1;
	x->mem_len = e->ps;
	x->index = 1;
	return why_pin(e, x, x->mem, 2 * e->ps, 0);
}

static inline int why_make_prot_none(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 2, 5) || mprotect(x->mem + e->ps, e->ps, PROT_NONE))
		return -1;
	x->index = 1;
	return why_pin(e, x, x->mem, x->mem_len, 0);
}

static inline int why_make_read_only(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 1, 6) || mprotect(x->mem, x->mem_len, PROT_READ))
		return -1;
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_WRITE);
}

static inline int why_make_nofault_absent(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 1, -1))
		return -1;
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_NOFAULT);
}

static inline int why_make_nofault_zero(struct exp *e, struct why_run *x)
{
	if (why_anon(x, 1, -1))
		return -1;
	/* A read fault maps the shared zero page, read-only. */
	force_read_pages((char *)x->mem, 1, e->ps);
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_NOFAULT | PINIO_PIN_WRITE);
}

static inline void why_check_zero_record(struct exp *e, const struct why_run *x)
{
	exp_check(e, x->w.count == 1 && (x->r[0].flags & PINIO_PAGE_ZERO) &&
		  x->r[0].pfn == exp_pfn(e, x->mem),
		  "one record: the page mapped there, the shared zero page (pfn %#llx)",
		  x->w.count ? (unsigned long long)x->r[0].pfn : 0ULL);
}

static inline int why_make_beyond_eof(struct exp *e, struct why_run *x)
{
	x->file = memfd_create("pinio-why", 0);
	if (x->file < 0 || ftruncate(x->file, e->ps)) {
		snprintf(x->skip, sizeof(x->skip), "memfd: %s", strerror(errno));
		return -1;
	}
	x->mem_len = 2 * e->ps;
	x->mem = mmap(NULL, x->mem_len, PROT_READ | PROT_WRITE, MAP_SHARED, x->file, 0);
	if (x->mem == MAP_FAILED) {
		x->mem = NULL;
		snprintf(x->skip, sizeof(x->skip), "mmap: %s", strerror(errno));
		return -1;
	}
	memset(x->mem, 7, e->ps);
	x->index = 1;
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_WRITE);
}

static inline int why_make_ext4(struct exp *e, struct why_run *x)
{
	struct mx_env env;
	struct mx_mem mem = { .fd = -1 };

	if (mx_env_init(e, &env) ||
	    mx_unavailable(e, &env, MX_EXT4_SHARED, MX_PIN_RW, x->skip, sizeof(x->skip))[0] ||
	    mx_mem_make(&env, MX_EXT4_SHARED, MX_PIN_RW, &mem, x->skip, sizeof(x->skip))) {
		mx_mem_free(&mem);
		return -1;
	}
	x->mem = mem.addr;
	x->mem_len = mem.len;
	x->file = mem.fd;
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM);
}

/*
 * WHY_MIGRATE fresh anonymous pages in ZONE_MOVABLE, held by a short-term pin (kept until the
 * end), then pinned long-term: every one must be migrated, and the short-term pin's references
 * keep migrate_pages() from moving any.
 */
static inline int why_make_migration(struct exp *e, struct why_run *x)
{
	struct pinio_page_record r[WHY_MIGRATE];
	long h, n, movable = 0;

	if (exp_zoneinfo("Movable", "nr_free_pages") < 4 * WHY_MIGRATE) {
		snprintf(x->skip, sizeof(x->skip), "no ZONE_MOVABLE with free memory (boot with movablecore=)");
		return -1;
	}
	if (why_anon(x, WHY_MIGRATE, 8))
		return -1;
	h = ioc_pin(e->fd, x->mem, x->mem_len, PINIO_PIN_WRITE, 0, NULL);
	n = h > 0 ? ioc_dump(e->fd, (uint32_t)h, 0, WHY_MIGRATE, r, NULL) : -1;
	if (h > 0)
		x->handle = (uint32_t)h;
	for (long i = 0; i < n; i++)
		movable += r[i].zone == PINIO_ZONE_MOVABLE;
	if (n != WHY_MIGRATE || movable != WHY_MIGRATE) {
		snprintf(x->skip, sizeof(x->skip), "the pages are not all in ZONE_MOVABLE (%ld of %d)",
			 movable, WHY_MIGRATE);
		return -1;
	}
	exp_say(e, "   %d pages in ZONE_MOVABLE, pinned short-term (handle %ld), now pinned long-term",
		WHY_MIGRATE, h);
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM);
}

static inline void why_check_migration(struct exp *e, const struct why_run *x)
{
	const struct pinio_why *w = &x->w;
	long movable = 0, held = 0;

	exp_check(e, w->nr_probed == WHY_MIGRATE && w->nr_unpinnable == WHY_MIGRATE &&
		  w->count == WHY_MIGRATE,
		  "%llu of %llu pages looked at are not long-term pinnable, %u records",
		  (unsigned long long)w->nr_unpinnable, (unsigned long long)w->nr_probed, w->count);
	for (uint32_t i = 0; i < w->count && i < WHY_RECORDS; i++) {
		movable += x->r[i].zone == PINIO_ZONE_MOVABLE &&
			   !(x->r[i].flags & PINIO_PAGE_LONGTERM_PINNABLE) &&
			   x->r[i].index == i && x->r[i].pfn == exp_pfn(e, x->mem + i * e->ps);
		/*
		 * A per-CPU LRU batch may hold one more: putback_movable_pages() puts the folios
		 * the failed migration isolated back through folio_add_lru(), whose batch keeps a
		 * reference (and the folio off the LRU) until drained.
		 */
		held += x->r[i].pincount == 1 && x->r[i].mapcount == 1 &&
			x->r[i].expected_refs == 1 &&
			(why_unexplained(&x->r[i]) == 0 ||
			 (why_unexplained(&x->r[i]) == 1 && !(x->r[i].flags & PINIO_PAGE_LRU)));
	}
	exp_check(e, movable == w->count,
		  "each record is the page mapped at its index, in ZONE_MOVABLE (%ld of %u)", movable,
		  w->count);
	exp_check(e, held == w->count,
		  "each held by one pin (the short-term one: 1024 references) beside its mapping, nothing else but a per-CPU LRU batch off the LRU (%ld of %u)",
		  held, w->count);
}

/*
 * A MAP_PRIVATE hugetlb page, read (the page cache's page mapped read-only), then pinned
 * long-term for writing: the copy must be made inside the pin, under memalloc_pin_save(),
 * which takes no free huge page from ZONE_MOVABLE or CMA (pinio_matrix_test's comment).
 */
static inline int why_make_hugetlb_private(struct exp *e, struct why_run *x)
{
	const size_t huge = default_huge_page_size();
	struct pinio_page_record r;
	long h, n = -1;

	if (!huge || kconfig_missing(HUGETLB_CONFIG)) {
		snprintf(x->skip, sizeof(x->skip), "no hugetlb");
		return -1;
	}
	x->huge_pool = true;
	if (!hugetlb_setup_default(2)) {
		snprintf(x->skip, sizeof(x->skip), "two free huge pages could not be had");
		return -1;
	}
	x->file = memfd_create("pinio-why", MFD_HUGETLB);
	if (x->file < 0 || ftruncate(x->file, huge) || fallocate(x->file, 0, 0, huge)) {
		snprintf(x->skip, sizeof(x->skip), "hugetlb memfd: %s", strerror(errno));
		return -1;
	}
	x->mem_len = huge;
	x->mem = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE, x->file, 0);
	if (x->mem == MAP_FAILED) {
		x->mem = NULL;
		snprintf(x->skip, sizeof(x->skip), "mmap: %s", strerror(errno));
		return -1;
	}
	force_read_pages((char *)x->mem, 1, e->ps);
	h = ioc_pin(e->fd, x->mem, e->ps, PINIO_PIN_GET, 0, NULL);
	if (h > 0) {
		n = ioc_dump(e->fd, (uint32_t)h, 0, 1, &r, NULL);
		ioc_unpin(e->fd, (uint32_t)h, 0);
	}
	if (n != 1 || (r.zone != PINIO_ZONE_MOVABLE && !exp_in_cma(e, r.pfn))) {
		snprintf(x->skip, sizeof(x->skip), "the huge page is not in ZONE_MOVABLE or CMA (boot with movablecore=)");
		return -1;
	}
	return why_pin(e, x, x->mem, x->mem_len, PINIO_PIN_WRITE | PINIO_PIN_LONGTERM);
}

static const struct why_case why_cases[] = {
	{ "invalid", "PINIO_PIN_SLOW with PINIO_PIN_GET", why_make_invalid,
	  EINVAL, PINIO_WHY_INVALID, 0, 0, 0, -1, NULL,
	  "pinio's validate(): pin_user_pages() only, as gup_test's PIN_BASIC_TEST" },
	{ "file_cap", "one page past the per-file cap", why_make_file_cap,
	  ENOMEM, PINIO_WHY_FILE_CAP, 0, 0, 0, -1, why_check_file_cap,
	  "pinio's per-file cap (max_pin_mib), before any page is taken" },
	{ "memlock", "a long-term pin one page over RLIMIT_MEMLOCK", why_make_memlock,
	  ENOMEM, PINIO_WHY_MEMLOCK, 0, 0, 0, -1, why_check_memlock,
	  "pinio's charge to mm->pinned_vm, as io_uring's io_account_mem(): over rlimit(RLIMIT_MEMLOCK) without capable(CAP_IPC_LOCK)" },
	{ "memlock_thp", "one page of a THP pinned long-term: the whole folio is charged",
	  why_make_memlock_thp, ENOMEM, PINIO_WHY_MEMLOCK, 0, 0, 0, -1, why_check_memlock,
	  "pinio charges each folio whole, once per file, as io_uring's headpage accounting" },
	{ "no_vma", "the second page unmapped", why_make_no_vma,
	  EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_NO_VMA, 0, ~0U, 0, NULL,
	  "__get_user_pages(): vma_lookup() finds nothing -> -EFAULT; pin_user_pages_fast() returns the page before" },
	{ "prot_none", "the second page PROT_NONE", why_make_prot_none,
	  EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_NOT_READABLE, PINIO_VMA_ANON,
	  PINIO_VMA_READ | PINIO_VMA_WRITE, 0, NULL,
	  "check_vma_flags(): !(vm_flags & VM_READ) without FOLL_FORCE" },
	{ "read_only_write", "a write pin of a PROT_READ mapping", why_make_read_only,
	  EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_NOT_WRITABLE, PINIO_VMA_READ | PINIO_VMA_ANON,
	  PINIO_VMA_WRITE, PINIO_WHY_PAGE_PRESENT, NULL,
	  "check_vma_flags(): FOLL_WRITE, !(vm_flags & VM_WRITE) without FOLL_FORCE" },
	{ "nofault_absent", "PINIO_PIN_NOFAULT of a page never touched", why_make_nofault_absent,
	  EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_NOT_PRESENT,
	  PINIO_VMA_READ | PINIO_VMA_WRITE | PINIO_VMA_ANON, 0, 0, NULL,
	  "__get_user_pages() -> faultin_page(): FOLL_NOFAULT -> -EFAULT" },
	{ "nofault_zero_page", "PINIO_PIN_NOFAULT | PINIO_PIN_WRITE of the zero page",
	  why_make_nofault_zero, EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_NEEDS_WRITE_FAULT,
	  PINIO_VMA_ANON | PINIO_VMA_COW, 0, PINIO_WHY_PAGE_PRESENT, why_check_zero_record,
	  "follow_page_pte(): a read-only PTE for FOLL_WRITE -> faultin_page(): FOLL_NOFAULT -> -EFAULT" },
	{ "beyond_eof", "a shared memfd mapping one page past the end of the file",
	  why_make_beyond_eof, EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_BEYOND_EOF,
	  PINIO_VMA_FILE | PINIO_VMA_SHMEM | PINIO_VMA_SHARED, PINIO_VMA_ANON, 0, NULL,
	  "shmem_fault() -> shmem_get_folio_gfp(): index past i_size -> VM_FAULT_SIGBUS -> -EFAULT" },
	{ "ext4_longterm_write", "a writable long-term pin of a MAP_SHARED ext4 file",
	  why_make_ext4, EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_FILE_LONGTERM_WRITE,
	  PINIO_VMA_FILE | PINIO_VMA_SHARED | PINIO_VMA_WRITE | PINIO_VMA_DIRTY_TRACKED,
	  PINIO_VMA_SHMEM | PINIO_VMA_ANON, -1, NULL,
	  "check_vma_flags() -> writable_file_mapping_allowed() -> vma_needs_dirty_tracking(): ext4 has ->page_mkwrite" },
	{ "migration", "a long-term pin of ZONE_MOVABLE pages another pin holds",
	  why_make_migration, ENOMEM, PINIO_WHY_MIGRATION, 0,
	  PINIO_VMA_ANON | PINIO_VMA_WRITE, 0,
	  PINIO_WHY_PAGE_PRESENT | PINIO_WHY_PAGE_WRITABLE, why_check_migration,
	  "__gup_longterm_locked() -> check_and_migrate_movable_pages() -> migrate_longterm_unpinnable_folios(): migrate_pages() fails (folio_migrate_mapping(): refcount != expected) -> -ENOMEM" },
	{ "hugetlb_private", "a writable long-term pin of MAP_PRIVATE hugetlb, its pool in ZONE_MOVABLE",
	  why_make_hugetlb_private, EFAULT, PINIO_WHY_FAULT, PINIO_FAULT_FAULT_FAILED,
	  PINIO_VMA_HUGETLB | PINIO_VMA_COW | PINIO_VMA_FILE, PINIO_VMA_SHARED,
	  PINIO_WHY_PAGE_PRESENT, NULL,
	  "faultin_page() -> hugetlb_wp(): alloc_hugetlb_folio() under memalloc_pin_save() -> dequeue_hugetlb_folio_node_exact() skips !folio_is_longterm_pinnable() -> VM_FAULT_SIGBUS -> -EFAULT" },
};

static inline const struct why_case *why_case_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(why_cases); i++)
		if (!strcmp(why_cases[i].name, name))
			return &why_cases[i];
	return NULL;
}

static inline void why_run_free(struct why_run *x)
{
	if (x->mem)
		munmap(x->mem, x->mem_len);
	if (x->file >= 0)
		close(x->file);
	if (x->huge_pool)
		hugetlb_restore_settings();
}

/*
 * Runs case @c on @e: makes the pin fail, asks PINIO_IOC_WHY, checks the answer. 0, or -1 if
 * the case cannot run here (@x->skip says why); failed checks are counted on @e.
 */
static inline int why_case_run(struct exp *e, const struct why_case *c, struct why_run *x)
{
	const struct pinio_why *w = &x->w;
	struct pinio_why before;
	char buf[160];
	int ret = -1;

	memset(x, 0, sizeof(*x));
	x->file = -1;
	exp_say(e, "%s: %s", c->name, c->what);
	if (!exp_need(e, !ioc_why(e->fd, &before, 0, NULL), "PINIO_IOC_WHY") || c->make(e, x))
		goto out;
	ret = 0;
	exp_check(e, x->err == c->err, "the PIN fails with %s (got %s)", strerrorname_np(c->err),
		  x->err ? strerrorname_np(x->err) : "success");
	if (!exp_need(e, !ioc_why(e->fd, &x->w, WHY_RECORDS, x->r), "PINIO_IOC_WHY"))
		goto out;
	why_print(e, w, x->r);
	exp_check(e, w->kind == c->kind && w->error == c->err && w->seq == before.seq + 1 &&
		  w->tid == (uint32_t)(x->tid ?: gettid()),
		  "kind %s, error %s, failure #%llu of the file, by thread %u: the failing call's",
		  why_kind_name(w->kind), w->error ? strerrorname_np(w->error) : "0",
		  (unsigned long long)w->seq, w->tid);
	if (c->kind == PINIO_WHY_FAULT || c->kind == PINIO_WHY_MIGRATION) {
		exp_check(e, w->fault == c->fault && w->page_index == x->index &&
			  w->page_addr == w->addr + x->index * e->ps,
			  "page %llu: %s", (unsigned long long)w->page_index,
			  w->kind == PINIO_WHY_FAULT ? why_fault_name(w->fault) :
			  "the first page not taken");
		exp_check(e, (w->vma_flags & c->vma_set) == c->vma_set &&
			  !(w->vma_flags & c->vma_clear) &&
			  (c->vma_clear == ~0U ? !w->vma_start && !w->vma_end :
			   w->vma_start <= w->page_addr && w->page_addr < w->vma_end),
			  "the mapping there: %s", why_vma_names(w->vma_flags, buf, sizeof(buf)));
		exp_check(e, c->state < 0 || w->page_state == (uint32_t)c->state,
			  "the page is %spresent%s", w->page_state & PINIO_WHY_PAGE_PRESENT ? "" : "not ",
			  w->page_state & PINIO_WHY_PAGE_WRITABLE ? " and writable" : "");
	}
	if (c->check)
		c->check(e, x);
	exp_say(e, "%19s  decided by %s", "", c->decided);
out:
	if (x->handle)
		ioc_unpin(e->fd, x->handle, 0);
	x->handle = 0;
	why_run_free(x);
	return ret;
}

/* pinio-ctl why: every case this boot offers, each answer printed and checked. */
static inline int exp_why(struct exp *e)
{
	static struct why_run x;

	for (size_t i = 0; i < ARRAY_SIZE(why_cases); i++)
		if (why_case_run(e, &why_cases[i], &x))
			exp_say(e, "   not run here: %s", x.skip);
	mx_ext4_umount();
	return 0;
}

#endif /* _PINIO_WHY_H */
