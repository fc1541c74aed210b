/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>

#include "addr.h"
#include "util.h"
#include "helpers.h"
#include "runner.h"

static const char *fmt(const char *s, char *buf, size_t size)
{
	struct jit_prefix p = test_prefix(s);

	return prefix_format(&p, buf, size);
}

UNIT_TEST("core", test_parse_good)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "192.0.2.7", "192.0.2.7/32" },
		{ "192.0.2.7/32", "192.0.2.7/32" },
		{ "198.51.100.0/24", "198.51.100.0/24" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.0.0.0/8", "10.0.0.0/8" },
		{ "2001:db8::/32", "2001:db8::/32" },
		{ "2001:DB8:0:0::/64", "2001:db8::/64" },
		{ "2001:db8::1", "2001:db8::1/128" },
		{ "::/0", "::/0" },
		{ "::1", "::1/128" },
		{ "::ffff:192.0.2.1/128", "::ffff:192.0.2.1/128" },
		{ "fe80::/10", "fe80::/10" },
	};
	char buf[JIT_PREFIX_STRLEN];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ck_assert_str_eq(fmt(cases[i].in, buf, sizeof(buf)),
				 cases[i].out);
}
END_TEST

UNIT_TEST("core", test_parse_fields)
{
	struct jit_prefix p = test_prefix("198.51.100.0/24");

	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.len, 24);
	ck_assert_int_eq(p.addr[0], 198);
	ck_assert_int_eq(p.addr[2], 100);
	ck_assert_int_eq(p.addr[3], 0);
	ck_assert_uint_eq(prefix_addr_len(&p), 4);

	p = test_prefix("2001:db8::/32");
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(p.len, 32);
	ck_assert_int_eq(p.addr[0], 0x20);
	ck_assert_int_eq(p.addr[3], 0xb8);
	ck_assert_uint_eq(prefix_addr_len(&p), 16);
}
END_TEST

UNIT_TEST("core", test_parse_bad)
{
	static const char *const bad[] = {
		"",
		"/24",
		"192.0.2.0/",
		"192.0.2.0/33",
		"192.0.2.0/-1",
		"192.0.2.0/+24",
		"192.0.2.0/024",
		"192.0.2.0/ 24",
		" 192.0.2.0/24",
		"192.0.2.0/24 ",
		"192.0.2.0 /24",
		"192.0.2/24",
		"192.0.2.256",
		"192.0.2.07",
		"0x7f.0.0.1",
		"192.0.2.0/24/24",
		"192.0.2.0/2a",
		"2001:db8::/129",
		"2001:db8:::/32",
		"fe80::1%eth0",
		"any",
		"localhost",
		"192.0.2.0/99999999999999999999",
		/* host bits set under the mask */
		"192.0.2.7/24",
		"10.1.0.0/8",
		"2001:db8::1/64",
		"::1/0",
	};
	struct jit_prefix p;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(prefix_parse(bad[i], &p) == -EINVAL,
			      "'%s' should be refused", bad[i]);
}
END_TEST

UNIT_TEST("core", test_parse_relaxed)
{
	char buf[JIT_PREFIX_STRLEN];
	struct jit_prefix p;
	bool host_bits;

	ck_assert_int_eq(prefix_parse_relaxed("192.0.2.7/24", &p, &host_bits),
			 0);
	ck_assert(host_bits);
	ck_assert_str_eq(prefix_format(&p, buf, sizeof(buf)), "192.0.2.0/24");
	ck_assert_int_eq(prefix_parse_relaxed("2001:db8::1/33", &p, &host_bits),
			 0);
	ck_assert(host_bits);
	ck_assert_str_eq(prefix_format(&p, buf, sizeof(buf)), "2001:db8::/33");
	ck_assert_int_eq(prefix_parse_relaxed("10.0.0.0/8", &p, &host_bits), 0);
	ck_assert(!host_bits);
	ck_assert_int_eq(prefix_parse_relaxed("10.0.0.0/33", &p, &host_bits),
			 -EINVAL);
}
END_TEST

static bool contains(const char *outer, const char *inner)
{
	struct jit_prefix o = test_prefix(outer), i = test_prefix(inner);

	return prefix_contains(&o, &i);
}

UNIT_TEST("core", test_contains)
{
	ck_assert(contains("192.0.2.0/24", "192.0.2.7"));
	ck_assert(contains("192.0.2.0/24", "192.0.2.255/32"));
	ck_assert(contains("192.0.2.0/24", "192.0.2.128/25"));
	ck_assert(contains("192.0.2.0/24", "192.0.2.0/24"));
	ck_assert(contains("0.0.0.0/0", "203.0.113.9"));
	ck_assert(contains("10.0.0.0/7", "11.255.255.255"));
	ck_assert(contains("2001:db8::/32", "2001:db8:1::/48"));
	ck_assert(contains("2001:db8::/32", "2001:db8:ffff:ffff::1"));
	ck_assert(contains("::/0", "2001:db8::1"));

	/* Outside, or wider than allowed. */
	ck_assert(!contains("192.0.2.0/24", "192.0.3.1"));
	ck_assert(!contains("192.0.2.0/24", "192.0.2.0/23"));
	ck_assert(!contains("192.0.2.0/24", "0.0.0.0/0"));
	ck_assert(!contains("192.0.2.7", "192.0.2.6"));
	ck_assert(!contains("10.0.0.0/7", "12.0.0.0"));
	ck_assert(!contains("2001:db8::/32", "2001:db9::1"));
	ck_assert(!contains("2001:db8::/48", "2001:db8::/32"));

	/* Families never contain each other, not even the catch-alls. */
	ck_assert(!contains("0.0.0.0/0", "::/0"));
	ck_assert(!contains("::/0", "0.0.0.0/0"));
	ck_assert(!contains("::/0", "192.0.2.1"));
	ck_assert(!contains("::ffff:0:0/96", "192.0.2.1"));
}
END_TEST

UNIT_TEST("core", test_last)
{
	static const uint8_t v4[16] = { 192, 0, 2, 255 };
	static const uint8_t v4_host[16] = { 192, 0, 2, 7 };
	static const uint8_t v4_odd[16] = { 10, 1, 255, 255 };
	uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct jit_prefix p;
	uint8_t out[16];

	p = test_prefix("192.0.2.0/24");
	prefix_last(&p, out);
	ck_assert_mem_eq(out, v4, 16);
	p = test_prefix("192.0.2.7");
	prefix_last(&p, out);
	ck_assert_mem_eq(out, v4_host, 16);
	p = test_prefix("10.0.0.0/15");
	prefix_last(&p, out);
	ck_assert_mem_eq(out, v4_odd, 16);

	p = test_prefix("2001:db8::/32");
	prefix_last(&p, out);
	memset(v6 + 4, 0xff, 12);
	ck_assert_mem_eq(out, v6, 16);
	p = test_prefix("::/0");
	prefix_last(&p, out);
	memset(v6, 0xff, 16);
	ck_assert_mem_eq(out, v6, 16);
}
END_TEST

UNIT_TEST("core", test_format_round_trip)
{
	static const char *const canon[] = {
		"192.0.2.7/32",
		"198.51.100.0/24",
		"0.0.0.0/0",
		"2001:db8::/32",
		"2001:db8:0:1::1/128",
		"::/0",
		"255.255.255.255/32",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	};
	char buf[JIT_PREFIX_STRLEN];

	for (size_t i = 0; i < ARRAY_SIZE(canon); i++) {
		struct jit_prefix p = test_prefix(canon[i]), q;

		ck_assert_str_eq(prefix_format(&p, buf, sizeof(buf)), canon[i]);
		q = test_prefix(buf);
		ck_assert_mem_eq(&p, &q, sizeof(p));
	}
	/* The longest form fits JIT_PREFIX_STRLEN. */
	ck_assert_uint_lt(
		strlen(fmt("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", buf,
			   sizeof(buf))),
		JIT_PREFIX_STRLEN);
	/* A short buffer is cut, never overrun. */
	ck_assert_str_eq(fmt("192.0.2.0/24", buf, 5), "192.");
}
END_TEST
