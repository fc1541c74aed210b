/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging keeps errno: callers return -errno right after logging it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "runner.h"

UNIT_TEST("log", test_errno_kept)
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
