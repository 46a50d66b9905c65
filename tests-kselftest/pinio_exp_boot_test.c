// SPDX-License-Identifier: GPL-2.0
/*
 * pinio's experiments that need boot options (pinio_exp.h, also run by pinio-ctl): long-term
 * pins move pages out of ZONE_MOVABLE and CMA first (movablecore=, cma=), and pinned pages are
 * not reclaimed (swap on a second brd disk, brd.rd_nr=2). make test runs this program in its
 * second boot, whose command line has those options (scripts/run-tests.sh); without them the
 * tests fail, saying which option is missing.
 */
#include "pinio_test.h"
#include "pinio_exp.h"

FIXTURE(experiment) {
	struct exp e;
	long long pins0;
};

FIXTURE_SETUP(experiment)
{
	/* Every experiment reads pfns from /proc/self/pagemap. */
	if (kconfig_missing("CONFIG_PROC_PAGE_MONITOR"))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_PROC_PAGE_MONITOR"));
	self->pins0 = pins_outstanding();
	ASSERT_EQ(0, exp_init(&self->e, "# ", 8));
}

FIXTURE_TEARDOWN(experiment)
{
	exp_fini(&self->e);
	EXPECT_EQ(self->pins0, pins_outstanding());
}

static void verdict(struct __test_metadata *_metadata, struct exp *e, int ret)
{
	EXPECT_EQ(0, ret);
	EXPECT_LT(0, e->checks);
	EXPECT_EQ(0, e->failed)
		TH_LOG("%d of %d expected outcomes did not happen (the [UNEXPECTED] lines)",
		       e->failed, e->checks);
}

/* Before pinned_not_reclaimed: with swap on, filling ZONE_MOVABLE would swap instead. */
TEST_F_TIMEOUT(experiment, longterm_migrates, 600)
{
	if (kconfig_missing("CONFIG_CMA CONFIG_MIGRATION"))
		SKIP(return, "%s is not set in this kernel",
		     kconfig_missing("CONFIG_CMA CONFIG_MIGRATION"));
	verdict(_metadata, &self->e, exp_longterm(&self->e));
}

TEST_F_TIMEOUT(experiment, pinned_not_reclaimed, 300)
{
	if (kconfig_missing("CONFIG_SWAP " BRD_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_SWAP " BRD_CONFIG));
	verdict(_metadata, &self->e, exp_reclaim(&self->e));
}

TEST_HARNESS_MAIN
