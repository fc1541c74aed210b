/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The main() every unit-test binary shares: run one suite, exit non-zero
 * on any failure.
 */
#ifndef JIT_TEST_RUNNER_H
#define JIT_TEST_RUNNER_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* int main(void) running the suite that make_suite() builds. */
#define TEST_MAIN(make_suite)                   \
	int main(void)                          \
	{                                       \
		return run_suite(make_suite()); \
	}

#endif
