/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging keeps errno: callers return -errno right after logging it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "runner.h"

START_TEST(test_errno_kept)
{
	log_open("test", false);
	errno = ENOSPC;
	log_err("writing: %m");
	ck_assert_int_eq(errno, ENOSPC);
	/* Even when a failing write to stderr sets errno itself. */
	fclose(stderr);
	errno = EROFS;
	log_err("again: %m");
	ck_assert_int_eq(errno, EROFS);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_errno_kept);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(log_suite)
