// SPDX-License-Identifier: GPL-2.0
/*
 * pinio's experiments that need boot options (pinio_exp.h, also run by pinio-ctl): long-term
 * pins move pages out of ZONE_MOVABLE and CMA first (movablecore=, cma=), and pinned pages are
 * not reclaimed (swap on a second brd disk, brd.rd_nr=2). make test runs this program in its
 * second boot, whose command line has those options (scripts/run-tests.sh); without them the
 * tests fail, saying which option is missing.
 *
 * Also the "why" answers (pinio_why.h) of the failures only a movable zone gives: a long-term
 * pin whose migration fails, and one whose copy cannot be allocated. And the bounce-pool leak
 * (pinio_exp_dma.h), which needs a small forced swiotlb pool and dma_leak_experiment=1: make
 * test runs it alone in the third boot (-t bounce_leak), and leaves it out of the second
 * (-T bounce_leak).
 */
#include "pinio_test.h"
#include "pinio_exp_dma.h"
#include "pinio_why.h"

#define EXP_FIXTURE_ROWS 8
#include "pinio_exp_fixture.h"

/* Before pinned_not_reclaimed: with swap on, filling ZONE_MOVABLE would swap instead. */
TEST_F_TIMEOUT(experiment, longterm_migrates, 600)
{
	if (kconfig_missing("CONFIG_CMA CONFIG_MIGRATION"))
		SKIP(return, "%s is not set in this kernel",
		     kconfig_missing("CONFIG_CMA CONFIG_MIGRATION"));
	verdict(_metadata, &self->e, exp_longterm(&self->e));
}

/* A long-term pin of ZONE_MOVABLE pages a short-term pin holds: ENOMEM, MIGRATION. */
TEST_F_TIMEOUT(experiment, why_migration, 120)
{
	struct why_run x;

	if (kconfig_missing("CONFIG_MIGRATION"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_MIGRATION"));
	ASSERT_EQ(0, why_case_run(&self->e, why_case_find("migration"), &x)) TH_LOG("%s", x.skip);
	verdict(_metadata, &self->e, 0);
}

/* A writable long-term pin of MAP_PRIVATE hugetlb, the pool in ZONE_MOVABLE: EFAULT. */
TEST_F_TIMEOUT(experiment, why_hugetlb_private, 120)
{
	struct why_run x;

	if (kconfig_missing("CONFIG_MEMFD_CREATE " HUGETLB_CONFIG))
		SKIP(return, "%s is not set in this kernel",
		     kconfig_missing("CONFIG_MEMFD_CREATE " HUGETLB_CONFIG));
	ASSERT_EQ(0, why_case_run(&self->e, why_case_find("hugetlb_private"), &x))
		TH_LOG("%s", x.skip);
	verdict(_metadata, &self->e, 0);
}

/* Kept mappings leak bounce slots until the pool is full; callers get EAGAIN or ENOMEM. */
TEST_F_TIMEOUT(experiment, bounce_leak, 120)
{
	verdict(_metadata, &self->e, exp_bounce_leak(&self->e));
}

TEST_F_TIMEOUT(experiment, pinned_not_reclaimed, 300)
{
	if (kconfig_missing("CONFIG_SWAP " BRD_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_SWAP " BRD_CONFIG));
	verdict(_metadata, &self->e, exp_reclaim(&self->e));
}

TEST_HARNESS_MAIN
