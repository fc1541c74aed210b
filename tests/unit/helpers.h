/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers more than one unit test uses. */
#ifndef JIT_TEST_HELPERS_H
#define JIT_TEST_HELPERS_H

#include <jansson.h>
#include <stdint.h>

#include "addr.h"
#include "grant.h"

/* A prefix from text that must parse. */
struct jit_prefix test_prefix(const char *s);
/* A grant key from text: the source, protocols and port range. */
struct jit_grant_key test_key(const char *src, unsigned protos, uint16_t lo,
			      uint16_t hi);
/* 10.0.0.0/8's host number i (i < 2^24), as a /32. */
struct jit_prefix test_host_v4(uint32_t i);

/* Assert that o's key is a string equal to want, or an integer. */
void assert_json_str(json_t *o, const char *key, const char *want);
void assert_json_int(json_t *o, const char *key, json_int_t want);

#endif
