/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>

#include "duration.h"
#include "util.h"
#include "runner.h"

UNIT_TEST("core", test_parse_good)
{
	static const struct {
		const char *in;
		uint64_t s;
	} cases[] = {
		{ "90s", 90 },	     { "15m", 900 },	   { "3h", 10800 },
		{ "1d", 86400 },     { "1h30m", 5400 },	   { "2h15m30s", 8130 },
		{ "1d2h", 93600 },   { "1d1s", 86401 },	   { "600", 600 },
		{ "0", 0 },	     { "0s", 0 },	   { "007m", 420 },
		{ "90m", 5400 },     { "PT3H", 10800 },	   { "PT30M", 1800 },
		{ "PT1H30M", 5400 }, { "PT90S", 90 },	   { "P1D", 86400 },
		{ "P1DT2H", 93600 }, { "PT1H1M1S", 3661 }, { "PT0S", 0 },
		{ "P0D", 0 },	     { "P1DT1S", 86401 },
	};
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		v = UINT64_MAX;
		ck_assert_msg(duration_parse(cases[i].in, &v) == 0,
			      "'%s' should parse", cases[i].in);
		ck_assert_msg(v == cases[i].s, "'%s' gave %llu, not %llu",
			      cases[i].in, (unsigned long long)v,
			      (unsigned long long)cases[i].s);
	}
}
END_TEST

UNIT_TEST("core", test_parse_bad)
{
	static const char *const bad[] = {
		"",	   "h",	    "s",      "-5m",   "+5m",  "1.5h",
		"1h1h",	   "30m1h", "1s1m",   "1h30",  " 90s", "90s ",
		"90 s",	   "1H",    "1hr",    "1w",    "1y",   "1m1m",
		"1d1d",	   "P",	    "PT",     "P1Y",   "P1W",  "P1M",
		"PT1.5H",  "p1d",   "pt1h",   "P1DT",  "Pt1H", "PT1h",
		"PT30M1H", "P1D2H", "PT1H1H", "PT-1H", "PTH",  "P1DT1D",
		"1dT1h",   "P 1D",  "PT1H ",  "0x10",  "1e3",  "12abc",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(duration_parse(bad[i], &v) == -EINVAL,
			      "'%s' should be refused", bad[i]);
	ck_assert_uint_eq(v, 42);
}
END_TEST

UNIT_TEST("core", test_parse_overflow)
{
	static const char *const big[] = {
		"18446744073709551616",	  "99999999999999999999999",
		"18446744073709551615m",  "213503982334602d",
		"PT5124095576030432H",	  "P213503982334602D",
		"18446744073709551616s1", /* digits overflow first */
	};
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(big); i++)
		ck_assert_msg(duration_parse(big[i], &v) == -ERANGE,
			      "'%s' should overflow", big[i]);

	/* The largest values still fit. */
	ck_assert_int_eq(duration_parse("18446744073709551615", &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(duration_parse("18446744073709551615s", &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(duration_parse("213503982334601d", &v), 0);
	/* Parts that each fit, but not their sum. */
	ck_assert_int_eq(duration_parse("213503982334601d7h15s", &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(duration_parse("213503982334601d7h16s", &v), -ERANGE);
	ck_assert_int_eq(duration_parse("P213503982334601DT7H15S", &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(duration_parse("P213503982334601DT7H16S", &v),
			 -ERANGE);
}
END_TEST

UNIT_TEST("core", test_format)
{
	static const struct {
		uint64_t s;
		const char *out;
	} cases[] = {
		{ 0, "0s" },	      { 1, "1s" },
		{ 45, "45s" },	      { 60, "1m" },
		{ 90, "1m30s" },      { 3600, "1h" },
		{ 5400, "1h30m" },    { 10800, "3h" },
		{ 8130, "2h15m30s" }, { 86399, "23h59m59s" },
		{ 86400, "1d" },      { 90061, "1d1h1m1s" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ck_assert_str_eq(duration_format(cases[i].s, buf, sizeof(buf)),
				 cases[i].out);
	ck_assert_str_eq(duration_format(UINT64_MAX, buf, sizeof(buf)),
			 "213503982334601d7h15s");
	/* Cut, never overrun. */
	ck_assert_str_eq(duration_format(5400, buf, 4), "1h");
}
END_TEST

UNIT_TEST("core", test_round_trip)
{
	static const uint64_t values[] = { 1,	 59,	61,    3599, 3601,
					   7200, 86399, 86400, 93784 };
	char buf[32];
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		ck_assert_int_eq(duration_parse(duration_format(values[i], buf,
								sizeof(buf)),
						&v),
				 0);
		ck_assert(v == values[i]);
	}
	ck_assert_uint_eq(JIT_DURATION_MAX_S, 86400);
}
END_TEST
