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

TEST_F_TIMEOUT(experiment, pinned_not_reclaimed, 300)
{
	if (kconfig_missing("CONFIG_SWAP " BRD_CONFIG))
		SKIP(return, "%s is not set in this kernel", kconfig_missing("CONFIG_SWAP " BRD_CONFIG));
	verdict(_metadata, &self->e, exp_reclaim(&self->e));
}

TEST_HARNESS_MAIN
