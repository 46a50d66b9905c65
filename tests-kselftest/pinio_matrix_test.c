// SPDX-License-Identifier: GPL-2.0
/*
 * The long-term pinnability matrix (pinio_matrix.h, also pinio-ctl matrix): one test per cell,
 * matrix.<mapping>.<way>, each failing unless the cell does what Linux 7.3 does (pinned in
 * place, pinned as an anonymous copy, or refused with the errno 7.3 gives, and where io_uring
 * keeps fewer pins than pages, that too); the slow-path pin (pin_user_pages()) is checked in
 * the same test where pinio offers it. Then gup_longterm_agrees runs the kernel's own
 * selftests/mm/gup_longterm in the same guest and fails unless it passes and agrees with
 * pinio's cells, cell by cell.
 *
 * The cells' outcomes are kept in memory shared by the test processes (the harness forks one
 * per test), for gup_longterm_agrees and the table it prints; a cell that did not run before
 * it (a run with -t or -v) runs there. The ext4 disk is made by the first test that needs it
 * and unmounted when the program ends.
 *
 * make test runs it in the first boot, where nothing is in ZONE_MOVABLE or CMA. In the second
 * (movablecore=, cma=) the MAP_PRIVATE hugetlb cells get EFAULT, and that is 7.3 too: the copy
 * the pin must make first is allocated inside the long-term GUP, under memalloc_pin_save(), where
 * dequeue_hugetlb_folio_node_exact() passes over free huge pages that are not
 * folio_is_longterm_pinnable(); with both of the pool's pages in ZONE_MOVABLE and no
 * nr_overcommit_hugepages, hugetlb_wp() gets no page and returns VM_FAULT_SIGBUS (-EFAULT).
 * gup_longterm, which writes the mapping before it pins, makes its copy outside GUP and passes.
 */
#include "pinio_test.h"
#include "pinio_matrix.h"

/* Two huge pages: a private hugetlb cell's copy needs the second (restored at exit). */
HUGETLB_SETUP_DEFAULT_PAGES(2)

/* The cells' outcomes, shared with the test processes; NULL if that mapping failed. */
static struct mx_cell (*mx_done)[MX_NR_WAYS];

static void __attribute__((constructor)) mx_shared_results(void)
{
	void *p = mmap(NULL, sizeof(struct mx_cell) * MX_NR_MAPS * MX_NR_WAYS,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	mx_done = p == MAP_FAILED ? NULL : p;
}

/* In the harness's process only: the test processes end with _exit(). */
static void __attribute__((destructor)) mx_cleanup(void)
{
	mx_ext4_umount();
}

FIXTURE(matrix) {
	struct exp e;
	struct mx_env env;
	long long pins0;
};

FIXTURE_VARIANT(matrix) {
	enum mx_map map;
};

FIXTURE_VARIANT_ADD(matrix, anon_private) { MX_ANON };
FIXTURE_VARIANT_ADD(matrix, memfd_shared) { MX_MEMFD_SHARED };
FIXTURE_VARIANT_ADD(matrix, memfd_private) { MX_MEMFD_PRIVATE };
FIXTURE_VARIANT_ADD(matrix, tmpfs_shared) { MX_TMPFS_SHARED };
FIXTURE_VARIANT_ADD(matrix, tmpfs_private) { MX_TMPFS_PRIVATE };
FIXTURE_VARIANT_ADD(matrix, ext4_shared) { MX_EXT4_SHARED };
FIXTURE_VARIANT_ADD(matrix, ext4_private) { MX_EXT4_PRIVATE };
FIXTURE_VARIANT_ADD(matrix, hugetlb_shared) { MX_HUGETLB_SHARED };
FIXTURE_VARIANT_ADD(matrix, hugetlb_private) { MX_HUGETLB_PRIVATE };

/* After FIXTURE(matrix): the harness runs fixtures in that order, gup_longterm_agrees last. */
#define EXP_FIXTURE_ROWS 0
#include "pinio_exp_fixture.h"

FIXTURE_SETUP(matrix)
{
	if (kconfig_missing("CONFIG_PROC_PAGE_MONITOR"))
		SKIP(return, "%s is not set in this kernel",
		     kconfig_missing("CONFIG_PROC_PAGE_MONITOR"));
	self->pins0 = pins_outstanding();
	ASSERT_EQ(0, exp_init(&self->e, "# ", 0));
	ASSERT_EQ(0, mx_env_init(&self->e, &self->env));
	exp_say(&self->e, "%s:", mx_maps[variant->map].name);
}

FIXTURE_TEARDOWN(matrix)
{
	exp_fini(&self->e);
	EXPECT_EQ(self->pins0, pins_outstanding());
}

/*
 * Cell (@m, @w), and the same through the slow path (@slow) where pinio offers it. A cell that
 * cannot run because the kernel lacks an option skips naming it; any other reason fails.
 */
static void mx_test(struct __test_metadata *_metadata, struct exp *e, struct mx_env *env,
		    enum mx_map m, enum mx_way w, int slow)
{
	struct mx_cell c;
	char why[160];

	if (mx_unavailable(e, env, m, w, why, sizeof(why))[0] &&
	    strstr(why, " is not set in this kernel"))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, mx_cell(e, env, m, w, &c)) TH_LOG("%s", c.skip);
	if (mx_done)
		mx_done[m][w] = c;
	if (slow >= 0 && env->slow) {
		ASSERT_EQ(0, mx_cell(e, env, m, slow, &c)) TH_LOG("%s", c.skip);
		if (mx_done)
			mx_done[m][slow] = c;
	} else if (slow >= 0) {
		exp_say(e, "%-32s not run: pinio offers no slow-path pin (PINIO_PIN_SLOW)",
			mx_ways[slow].name);
	}
	verdict(_metadata, e, 0);
}

TEST_F(matrix, pin_ro)
{
	mx_test(_metadata, &self->e, &self->env, variant->map, MX_PIN_RO, MX_SLOW_RO);
}

TEST_F(matrix, pin_rw)
{
	mx_test(_metadata, &self->e, &self->env, variant->map, MX_PIN_RW, MX_SLOW_RW);
}

TEST_F(matrix, uring)
{
	mx_test(_metadata, &self->e, &self->env, variant->map, MX_URING, -1);
}

TEST_F(matrix, uring_ro)
{
	mx_test(_metadata, &self->e, &self->env, variant->map, MX_URING_RO, -1);
}

/*
 * The whole matrix as a table, then the kernel's gup_longterm in the same guest: it must pass,
 * and agree with every cell of pinio's it has a case for.
 */
TEST_F_TIMEOUT(experiment, gup_longterm_agrees, 300)
{
	static struct mx_cell cells[MX_NR_MAPS][MX_NR_WAYS];
	struct exp *e = &self->e;
	char path[PATH_MAX];
	const char *prog;
	struct mx_env env;

	if (kconfig_missing("CONFIG_GUP_TEST"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_GUP_TEST"));
	ASSERT_NE(NULL, mx_done);
	prog = mx_glt_find(path, sizeof(path));
	ASSERT_NE(NULL, prog) TH_LOG("no gup_longterm next to this program (make tests builds it)");
	ASSERT_EQ(0, mx_env_init(e, &env));
	for (int m = 0; m < MX_NR_MAPS; m++)
		for (int w = 0; w < MX_NR_WAYS; w++) {
			char why[160];

			/* (Which also mounts the ext4 disk, where a test before left it.) */
			cells[m][w] = mx_done[m][w];
			if (mx_unavailable(e, &env, m, w, why, sizeof(why))[0] ||
			    cells[m][w].ran)
				continue;
			exp_say(e, "%s (not run before):", mx_maps[m].name);
			mx_cell(e, &env, m, w, &cells[m][w]);
		}
	mx_table(e, &env, cells);
	ASSERT_NE(0, env.ext4[0]) TH_LOG("no ext4 directory to run gup_longterm in");
	EXPECT_LT(0, mx_cross_check(e, &env, prog, cells));
	verdict(_metadata, e, 0);
}

TEST_HARNESS_MAIN
