/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest fixture of the experiment programs (pinio_exp_test, pinio_exp_boot_test):
 * one struct exp per test, pins balanced at teardown, and the verdict of one experiment.
 * The including program defines EXP_FIXTURE_ROWS, the DUMP rows exp_init() prints.
 */
#ifndef _PINIO_EXP_FIXTURE_H
#define _PINIO_EXP_FIXTURE_H

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
		SKIP(return, "%s is not set in this kernel",
		     kconfig_missing("CONFIG_PROC_PAGE_MONITOR"));
	self->pins0 = pins_outstanding();
	ASSERT_EQ(0, exp_init(&self->e, "# ", EXP_FIXTURE_ROWS));
}

FIXTURE_TEARDOWN(experiment)
{
	exp_fini(&self->e);
	EXPECT_EQ(self->pins0, pins_outstanding());
}

/* The outcome of one experiment: it ran, checked something, and every check held. */
static void verdict(struct __test_metadata *_metadata, struct exp *e, int ret)
{
	EXPECT_EQ(0, ret);
	EXPECT_LT(0, e->checks);
	EXPECT_EQ(0, e->failed)
		TH_LOG("%d of %d expected outcomes did not happen (the [UNEXPECTED] lines)",
		       e->failed, e->checks);
}

#endif /* _PINIO_EXP_FIXTURE_H */
