/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>
#include <sys/socket.h>

#include "helpers.h"

struct jit_prefix test_prefix(const char *s)
{
	struct jit_prefix p;

	ck_assert_msg(prefix_parse(s, &p) == 0, "'%s' should parse", s);
	return p;
}

struct jit_grant_key test_key(const char *src, unsigned protos, uint16_t lo,
			      uint16_t hi)
{
	struct jit_grant_key k = { .protos = protos,
				   .port_lo = lo,
				   .port_hi = hi };

	k.source = test_prefix(src);
	return k;
}

struct jit_prefix test_host_v4(uint32_t i)
{
	struct jit_prefix p = { .family = AF_INET, .len = 32 };

	p.addr[0] = 10;
	p.addr[1] = (uint8_t)(i >> 16);
	p.addr[2] = (uint8_t)(i >> 8);
	p.addr[3] = (uint8_t)i;
	return p;
}

void assert_json_str(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "'%s' is not a string", key);
	ck_assert_str_eq(json_string_value(v), want);
}

void assert_json_int(json_t *o, const char *key, json_int_t want)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "'%s' is not an integer", key);
	ck_assert_int_eq(json_integer_value(v), want);
}
