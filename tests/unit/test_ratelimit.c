/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>

#include "ratelimit.h"
#include "util.h"
#include "runner.h"

UNIT_TEST("bucket", test_burst_then_rate)
{
	struct jit_ratelimit *rl = NULL;
	uint64_t retry = 0;
	unsigned ok = 0;

	ck_assert_int_eq(ratelimit_new(2.0, 5, &rl), 0);
	for (int i = 0; i < 100; i++)
		ok += ratelimit_take(rl, 1000, 10000, &retry);
	ck_assert_uint_eq(ok, 5);
	ck_assert_uint_eq(retry, 500);
	/* Half a second later: one more; then none. */
	ck_assert(ratelimit_take(rl, 1000, 10500, NULL));
	ck_assert(!ratelimit_take(rl, 1000, 10500, NULL));
	/* A minute of asking as fast as it can: 2 per second, no more. */
	ok = 0;
	for (uint64_t t = 10500; t < 70500; t += 10)
		ok += ratelimit_take(rl, 1000, t, NULL);
	ck_assert_uint_ge(ok, 119);
	ck_assert_uint_le(ok, 121);
	ratelimit_free(rl);
}
END_TEST

UNIT_TEST("bucket", test_users_apart)
{
	struct jit_ratelimit *rl = NULL;

	ck_assert_int_eq(ratelimit_new(1.0, 1, &rl), 0);
	ck_assert(ratelimit_take(rl, 1000, 5000, NULL));
	ck_assert(!ratelimit_take(rl, 1000, 5000, NULL));
	/* Another user's bucket is full. */
	ck_assert(ratelimit_take(rl, 1001, 5000, NULL));
	/* A table full of others forgets the oldest, not the busy one. */
	for (uint32_t u = 2000; u < 2000 + JIT_RATELIMIT_USERS; u++)
		ck_assert(ratelimit_take(rl, u, 4000, NULL));
	ck_assert(!ratelimit_take(rl, 1000, 5100, NULL));
	ratelimit_free(rl);
}
END_TEST

UNIT_TEST("bucket", test_slow_rate_refills)
{
	struct jit_ratelimit *rl = NULL;

	ck_assert_int_eq(ratelimit_new(0.1, 1, &rl), 0);
	ck_assert(ratelimit_take(rl, 7, 0, NULL));
	/* Asked every millisecond: the token still comes after 10 s. */
	for (uint64_t t = 1; t < 9990; t++)
		ck_assert(!ratelimit_take(rl, 7, t, NULL));
	ck_assert(ratelimit_take(rl, 7, 10001, NULL));
	ck_assert_int_eq(ratelimit_new(0, 1, &rl), -EINVAL);
	ck_assert_int_eq(ratelimit_new(1, 0, &rl), -EINVAL);
	ratelimit_free(rl);
}
END_TEST
