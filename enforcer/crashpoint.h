/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crash points for the tests: in a build with -Dcrash_points=true (as
 * tools/test configures it; never a package's), the agent kills itself
 * with SIGKILL at the point named by the environment variable
 * JIT_CRASH_AT, so that a test can put a kill -9 at an exact instant
 * rather than at a random moment. Other builds have none (the calls
 * compile to nothing). Points:
 *
 *   fleet-received  the loop took a fleet grant's entry (a put) from the
 *                   NATS thread, before it was decided or journalled
 *   fleet-applied   the grant was decided, journalled (not yet synced),
 *                   in the kernel and audited, before the pass's sync
 */
#ifndef JIT_CRASHPOINT_H
#define JIT_CRASHPOINT_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#if JIT_CRASH_POINTS
static inline void crash_point(const char *name)
{
	const char *at = getenv("JIT_CRASH_AT");

	if (at && !strcmp(at, name))
		raise(SIGKILL);
}
#else
static inline void crash_point(const char *name)
{
	(void)name;
}
#endif

#endif
