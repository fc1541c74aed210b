/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file: encoding and decoding (round trip, every kind of damage a
 * crash or a disk can do), the CRC, atomic save and load in a scratch
 * directory, and putting requests back into the registry.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "diag.h"
#include "state-writer.h"
#include "util.h"
#include "runner.h"

#define T0 1700000000000ull

static void assert_starts(const char *s, const char *prefix)
{
	ck_assert_msg(strncmp(s, prefix, strlen(prefix)) == 0,
		      "'%s' does not start with '%s'", s, prefix);
}

/*
 * Decode a copy of exactly len bytes, NUL-terminated as state_load leaves
 * its buffer; ASan and valgrind see any read beyond that.
 */
static int decode(const char *buf, size_t len, struct jit_state *st, char *why,
		  size_t n)
{
	_cleanup_free_ char *copy = malloc(len + 1);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf, len);
	copy[len] = '\0';
	why[0] = '\0';
	return state_decode(copy, len, st, why, n);
}

/* Decoding must fail with -EBADMSG and a reason starting with prefix. */
static void decode_bad(const char *buf, size_t len, const char *prefix)
{
	struct jit_state st;
	char why[256];

	memset(&st, 0x5a, sizeof(st));
	ck_assert_int_eq(decode(buf, len, &st, why, sizeof(why)), -EBADMSG);
	ck_assert_msg(why[0], "no reason given");
	if (prefix)
		assert_starts(why, prefix);
}

/* --- test data ------------------------------------------------------------ */

static const char policy_a_path[] = "/etc/jit-enforcer/policies.d/10-ssh.yaml";
static const char policy_a[] =
	"# SPDX-License-Identifier: GPL-2.0-or-later\n"
	"# Zugang für Betreiber — ✓ 日本語\n"
	"name: ssh\n"
	"description: \"SSH für Betreiber, \\\"quoted\\\" and \\\\ ✓\"\n"
	"ports:\n"
	"  - port: 22\n"
	"    allowed_sources: [192.0.2.0/24, 2001:db8::/32]\n"
	"---\n"
	"name: winrm\n"
	"description: >\n"
	"  Folded über\n"
	"  two lines\n"
	"ports:\n"
	"  - port: 5985-5986\n"
	"    protocol: any\n"
	"\n\n";
static const char policy_b_path[] = "/etc/jit-enforcer/policies.d/20-rdp é.yml";
static const char policy_b[] = "name: rdp\r\n"
			       "ports:\r\n"
			       "  - port: 3389\r\n"
			       "    protocol: any\r\n";

static struct jit_policy_set *policies(void)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	ck_assert_ptr_nonnull(s);
	diag_init(&d);
	ck_assert_msg(policy_set_load_text(s, policy_a_path, policy_a,
					   strlen(policy_a), &d) == 0 &&
			      policy_set_load_text(s, policy_b_path, policy_b,
						   strlen(policy_b), &d) == 0,
		      "%s", d.text ? d.text : "");
	diag_release(&d);
	ck_assert_uint_eq(policy_set_file_count(s), 2);
	return s;
}

static void fill(char *dst, size_t n, char c)
{
	memset(dst, c, n - 1);
	dst[n - 1] = '\0';
}

static struct jit_request request(uint64_t id, enum jit_status st)
{
	struct jit_request r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	snprintf(r.policy, sizeof(r.policy), "ssh");
	r.uid = 1000 + (uint32_t)id;
	snprintf(r.user, sizeof(r.user), "user%u", (unsigned)id);
	ck_assert_int_eq(prefix_parse("192.0.2.7", &r.key.source), 0);
	r.key.protos = JIT_PROTO_TCP;
	r.key.port_lo = r.key.port_hi = 22;
	r.duration_s = 3600;
	{
		static char ring[8][64];
		static unsigned next;
		char *buf = ring[next++ % 8];

		snprintf(buf, sizeof(ring[0]), "Wartung für DB — ticket #%u ✓",
			 (unsigned)id);
		r.reason = buf;
	}
	r.requested_ms = T0 + id;
	r.status = st;
	switch (st) {
	case JIT_PENDING:
		break;
	case JIT_DENIED:
		snprintf(r.status_reason, sizeof(r.status_reason),
			 "not on call");
		snprintf(r.decided_by, sizeof(r.decided_by), "secops$");
		break;
	case JIT_INITIATED:
		r.start_ms = T0 + 1000;
		r.end_ms = r.start_ms + 3600 * 1000ull;
		snprintf(r.decided_by, sizeof(r.decided_by), "root");
		break;
	case JIT_REVOKED:
		r.start_ms = T0 + 1000;
		r.end_ms = T0 + 2000;
		snprintf(r.status_reason, sizeof(r.status_reason),
			 JIT_REASON_NEWER);
		snprintf(r.decided_by, sizeof(r.decided_by), "bob");
		r.replaced_by = id + 1;
		break;
	case JIT_EXPIRED:
		r.start_ms = T0;
		r.end_ms = UINT64_C(1) << 52;
		snprintf(r.status_reason, sizeof(r.status_reason),
			 JIT_REASON_EXPIRED);
		break;
	}
	return r;
}

/* One request of every status, with every field and the longest strings. */
static struct jit_grants *grants(void)
{
	static const enum jit_status all[] = { JIT_PENDING, JIT_DENIED,
					       JIT_INITIATED, JIT_REVOKED,
					       JIT_EXPIRED };
	struct jit_grants *g = grants_new();
	struct jit_request r;

	ck_assert_ptr_nonnull(g);
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		r = request(1 + 3 * i, all[i]);
		if (i == 2) {
			ck_assert_int_eq(prefix_parse("2001:db8:ffff::/48",
						      &r.key.source),
					 0);
			r.key.protos = JIT_PROTO_TCP | JIT_PROTO_UDP;
			r.key.port_lo = 1;
			r.key.port_hi = 65535;
			r.uid = UINT32_MAX;
			r.duration_s = 86400;
		}
		if (i == 4) {
			fill(r.policy, sizeof(r.policy), 'p');
			fill(r.user, sizeof(r.user), 'u');
			{
				static char longest[JIT_REASON_MAX];

				fill(longest, sizeof(longest), 'r');
				r.reason = longest;
			}
			fill(r.status_reason, sizeof(r.status_reason), 's');
			fill(r.decided_by, sizeof(r.decided_by), 'd');
			r.key.protos = JIT_PROTO_UDP;
			r.uid = 0;
			r.replaced_by = UINT64_C(1) << 50;
		}
		ck_assert_int_eq(grants_restore(g, &r), 0);
	}
	grants_set_next_id(g, 100);
	return g;
}

static void assert_request_eq(const struct jit_request *a,
			      const struct jit_request *b)
{
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_str_eq(a->policy, b->policy);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_str_eq(a->user, b->user);
	ck_assert_uint_eq(a->key.source.family, b->key.source.family);
	ck_assert_uint_eq(a->key.source.len, b->key.source.len);
	ck_assert_mem_eq(a->key.source.addr, b->key.source.addr, 16);
	ck_assert_uint_eq(a->key.protos, b->key.protos);
	ck_assert_uint_eq(a->key.port_lo, b->key.port_lo);
	ck_assert_uint_eq(a->key.port_hi, b->key.port_hi);
	ck_assert_uint_eq(a->duration_s, b->duration_s);
	ck_assert_str_eq(request_reason(a), request_reason(b));
	ck_assert_uint_eq(a->requested_ms, b->requested_ms);
	ck_assert_uint_eq(a->start_ms, b->start_ms);
	ck_assert_uint_eq(a->end_ms, b->end_ms);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_str_eq(a->status_reason, b->status_reason);
	ck_assert_str_eq(a->decided_by, b->decided_by);
	ck_assert_uint_eq(a->replaced_by, b->replaced_by);
}

static void encode(struct jit_grants *g, const struct jit_policy_set *s,
		   char **buf, size_t *len)
{
	*buf = NULL;
	ck_assert_int_eq(state_encode(g, s, T0 + 5, buf, len), 0);
	ck_assert_ptr_nonnull(*buf);
	ck_assert_uint_eq(strlen(*buf), *len);
}

/* The standard image: header length in *hlen. */
static char *image(size_t *len, size_t *hlen)
{
	struct jit_grants *g = grants();
	struct jit_policy_set *s = policies();
	char *buf;

	encode(g, s, &buf, len);
	*hlen = (size_t)(strchr(buf, '\n') + 1 - buf);
	grants_free(g);
	policy_set_free(s);
	return buf;
}

/* A complete file around body, with a correct header. */
static char *with_header(const char *body, size_t blen, int version,
			 size_t *len)
{
	char *out = NULL;
	int n = asprintf(&out, "jit-enforcer-state %d %08x %zu\n", version,
			 state_crc32(body, blen), blen);

	ck_assert_int_gt(n, 0);
	out = realloc(out, (size_t)n + blen + 1);
	ck_assert_ptr_nonnull(out);
	memcpy(out + n, body, blen);
	out[n + blen] = '\0';
	*len = (size_t)n + blen;
	return out;
}

/* --- crc ------------------------------------------------------------------ */

UNIT_TEST("codec", test_crc32)
{
	static const uint8_t zeros[32] = { 0 };
	uint8_t all[1024];

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	ck_assert_uint_eq(state_crc32("123456789", 9), 0xcbf43926u);
	ck_assert_uint_eq(state_crc32("", 0), 0);
	ck_assert_uint_eq(state_crc32(NULL, 0), 0);
	ck_assert_uint_eq(state_crc32("a", 1), 0xe8b7be43u);
	ck_assert_uint_eq(
		state_crc32("The quick brown fox jumps over the lazy dog", 43),
		0x414fa339u);
	ck_assert_uint_eq(state_crc32(zeros, sizeof(zeros)), 0x190a55adu);
	ck_assert_uint_eq(state_crc32(all, sizeof(all)), 0xb70b4c26u);
	/* Stateless: the same again. */
	ck_assert_uint_eq(state_crc32("123456789", 9), 0xcbf43926u);
}
END_TEST

/* --- round trip ----------------------------------------------------------- */

UNIT_TEST("codec", test_round_trip)
{
	struct jit_grants *g = grants(), *g2;
	struct jit_policy_set *s = policies(), *s2;
	_cleanup_free_ char *buf = NULL, *buf2 = NULL;
	size_t len, len2, hlen;
	struct jit_state st;
	char why[256], header[128];
	regex_t re;

	encode(g, s, &buf, &len);
	ck_assert_int_eq(regcomp(&re,
				 "^jit-enforcer-state 1 [0-9a-f]{8} [0-9]+$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	hlen = (size_t)(strchr(buf, '\n') - buf);
	ck_assert_uint_lt(hlen, sizeof(header));
	memcpy(header, buf, hlen);
	header[hlen] = '\0';
	ck_assert_msg(regexec(&re, header, 0, NULL, 0) == 0, "header '%s'",
		      header);
	regfree(&re);
	ck_assert_uint_eq(strtoull(strrchr(header, ' ') + 1, NULL, 10),
			  len - hlen - 1);
	ck_assert_uint_eq(strtoul(header + 21, NULL, 16),
			  state_crc32(buf + hlen + 1, len - hlen - 1));

	ck_assert_int_eq(decode(buf, len, &st, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_uint_eq(st.written_ms, T0 + 5);
	ck_assert_uint_eq(st.next_id, 100);
	ck_assert_uint_eq(st.n_requests, grants_count(g));
	for (size_t i = 0; i < st.n_requests; i++)
		assert_request_eq(&st.requests[i], grants_at(g, i));
	ck_assert_uint_eq(st.n_policies, 2);
	for (size_t i = 0; i < st.n_policies; i++) {
		const struct jit_policy_file *f = policy_set_file(s, i);
		size_t tlen;
		const char *text = policy_file_text(f, &tlen);

		ck_assert_str_eq(st.policies[i].path, policy_file_path(f));
		ck_assert_uint_eq(st.policies[i].len, tlen);
		ck_assert_mem_eq(st.policies[i].text, text, tlen);
		ck_assert_int_eq(st.policies[i].text[tlen], '\0');
	}
	ck_assert_str_eq(st.policies[0].path, policy_a_path);
	ck_assert_str_eq(st.policies[0].text, policy_a);
	ck_assert_str_eq(st.policies[1].path, policy_b_path);
	ck_assert_str_eq(st.policies[1].text, policy_b);

	/* What a restart does: restore, reload, save. Same bytes. */
	g2 = grants_new();
	for (size_t i = 0; i < st.n_requests; i++)
		ck_assert_int_eq(grants_restore(g2, &st.requests[i]), 0);
	grants_set_next_id(g2, st.next_id);
	s2 = policy_set_new();
	for (size_t i = 0; i < st.n_policies; i++) {
		struct jit_diag d;

		diag_init(&d);
		ck_assert_int_eq(policy_set_load_text(s2, st.policies[i].path,
						      st.policies[i].text,
						      st.policies[i].len, &d),
				 0);
		diag_release(&d);
	}
	ck_assert_uint_eq(policy_set_count(s2), 3);
	encode(g2, s2, &buf2, &len2);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(buf2, buf, len);

	state_release(&st);
	ck_assert_uint_eq(st.n_requests, 0);
	ck_assert_ptr_null(st.requests);
	grants_free(g);
	grants_free(g2);
	policy_set_free(s);
	policy_set_free(s2);
}
END_TEST

UNIT_TEST("codec", test_round_trip_empty)
{
	struct jit_grants *g = grants_new();
	_cleanup_free_ char *buf = NULL;
	struct jit_state st;
	size_t len;
	char why[256];

	encode(g, NULL, &buf, &len);
	ck_assert_int_eq(decode(buf, len, &st, why, sizeof(why)), 0);
	ck_assert_uint_eq(st.n_requests, 0);
	ck_assert_uint_eq(st.n_policies, 0);
	ck_assert_uint_eq(st.next_id, 1);
	ck_assert_uint_eq(st.written_ms, T0 + 5);
	state_release(&st);
	grants_free(g);
}
END_TEST

/* --- damage --------------------------------------------------------------- */

/* Any one flipped bit in the body is caught by the CRC. */
UNIT_CASE("damage", .timeout_s = 120);

UNIT_TEST("damage", test_corrupt_byte)
{
	size_t len, hlen;
	_cleanup_free_ char *buf = image(&len, &hlen);

	for (size_t i = hlen; i < len; i++) {
		char saved = buf[i];

		buf[i] = (char)(buf[i] ^ (1 << (i % 8)));
		decode_bad(buf, len, "checksum mismatch");
		buf[i] = saved;
	}
	/* Or a byte replaced by another. */
	buf[len / 2] = buf[len / 2] == 'x' ? 'y' : 'x';
	decode_bad(buf, len, "checksum mismatch");
}
END_TEST

UNIT_TEST("damage", test_corrupt_header_crc)
{
	size_t len, hlen;
	_cleanup_free_ char *buf = image(&len, &hlen);
	char *crc = buf + strlen("jit-enforcer-state 1 ");

	crc[7] = crc[7] == '0' ? '1' : '0';
	decode_bad(buf, len, "checksum mismatch");
}
END_TEST

UNIT_TEST("damage", test_truncated)
{
	size_t len, hlen;
	_cleanup_free_ char *buf = image(&len, &hlen);
	char why[256];
	struct jit_state st;

	/* Every cut: within the header line, nothing but a clear error. */
	for (size_t cut = 0; cut < hlen; cut++)
		decode_bad(buf, cut, NULL);
	/* After it: the header's length tells. */
	for (size_t cut = hlen; cut < len; cut++) {
		ck_assert_int_eq(decode(buf, cut, &st, why, sizeof(why)),
				 -EBADMSG);
		assert_starts(why, "truncated or torn");
	}
	ck_assert_int_eq(decode(buf, len - 1, &st, why, sizeof(why)), -EBADMSG);
	{
		char want[128];

		snprintf(want, sizeof(want),
			 "truncated or torn: header says %zu bytes, file has "
			 "%zu",
			 len - hlen, len - hlen - 1);
		ck_assert_str_eq(why, want);
	}
	/* Cut on a line boundary after the header. */
	decode_bad(buf, hlen, "truncated or torn");
	ck_assert_int_eq(decode(buf, len, &st, why, sizeof(why)), 0);
	state_release(&st);
}
END_TEST

UNIT_TEST("damage", test_extra_bytes)
{
	size_t len, hlen;
	_cleanup_free_ char *buf = image(&len, &hlen);
	_cleanup_free_ char *big = malloc(2 * len);
	char want[128];
	struct jit_state st;
	char why[256];

	ck_assert_ptr_nonnull(big);
	memcpy(big, buf, len);
	big[len] = '\n';
	ck_assert_int_eq(decode(big, len + 1, &st, why, sizeof(why)), -EBADMSG);
	snprintf(want, sizeof(want),
		 "truncated or torn: header says %zu bytes, file has %zu",
		 len - hlen, len - hlen + 1);
	ck_assert_str_eq(why, want);
	big[len] = '\0';
	decode_bad(big, len + 1, "truncated or torn");
	/* Two saves run together. */
	memcpy(big + len, buf, len);
	decode_bad(big, 2 * len, "truncated or torn");
}
END_TEST

UNIT_TEST("damage", test_bad_header)
{
	static const struct {
		const char *header;
		const char *why;
	} cases[] = {
		{ "jit-enforcer-statE 1 %08x %zu\n",
		  "not a jit-enforcer state file" },
		{ "JIT-ENFORCER-STATE 1 %08x %zu\n",
		  "not a jit-enforcer state file" },
		{ "jit-enforcer-state1 %08x %zu\n",
		  "not a jit-enforcer state file" },
		{ "{\"jit-enforcer-state\": 1 %08x %zu\n",
		  "not a jit-enforcer state file" },
		{ "jit-enforcer-state 1 %08x %zu extra\n",
		  "not a jit-enforcer state file" },
		{ "jit-enforcer-state 1 %08x\n%zu\n",
		  "not a jit-enforcer state file" },
		{ "jit-enforcer-state 2 %08x %zu\n",
		  "state version 2, this agent reads 1" },
		{ "jit-enforcer-state 0 %08x %zu\n",
		  "state version 0, this agent reads 1" },
		{ "jit-enforcer-state -1 %08x %zu\n",
		  "state version -1, this agent reads 1" },
		{ "jit-enforcer-state 99 %08x %zu\n",
		  "state version 99, this agent reads 1" },
	};
	static const char body[] = "{\"written_ms\": 1, \"next_id\": 1, "
				   "\"requests\": [], \"policies\": []}";
	struct jit_state st;
	char why[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *hdr = NULL, *file = NULL;
		int n;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		n = asprintf(&hdr, cases[i].header,
			     state_crc32(body, strlen(body)), strlen(body));
#pragma GCC diagnostic pop
		ck_assert_int_gt(n, 0);
		ck_assert_int_ge(asprintf(&file, "%s%s", hdr, body), 0);
		ck_assert_int_eq(
			decode(file, strlen(file), &st, why, sizeof(why)),
			-EBADMSG);
		ck_assert_msg(streq(why, cases[i].why), "case %zu: '%s'", i,
			      why);
	}
	/* No newline in the first 128 bytes. */
	{
		char file[300];

		memset(file, 'x', sizeof(file));
		memcpy(file, "jit-enforcer-state 1 ", 21);
		file[200] = '\n';
		decode_bad(file, sizeof(file), "no header line");
		decode_bad("", 0, "no header line");
		decode_bad("jit-enforcer-state 1 00000000 0", 31,
			   "no header line");
	}
	/* The correct header on the same body works. */
	{
		size_t len;
		_cleanup_free_ char *file =
			with_header(body, strlen(body), 1, &len);

		ck_assert_int_eq(decode(file, len, &st, why, sizeof(why)), 0);
		state_release(&st);
	}
}
END_TEST

/* Well-formed files whose JSON is not a state: the CRC is right. */
UNIT_TEST("damage", test_bad_json)
{
	static const char *const bodies[] = {
		"",
		"{",
		"not json",
		"null",
		"[]",
		"{}",
		"{\"written_ms\": 1}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": {}, "
		"\"policies\": []}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": \"x\"}",
		"{\"written_ms\": \"1\", \"next_id\": 1, \"requests\": [], "
		"\"policies\": []}",
		"{\"written_ms\": 1.5, \"next_id\": 1, \"requests\": [], "
		"\"policies\": []}",
		/* Duplicate keys, trailing garbage, bad UTF-8, a NUL. */
		"{\"written_ms\": 1, \"written_ms\": 2, \"next_id\": 1, "
		"\"requests\": [], \"policies\": []}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": []} x",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": [{\"path\": \"\xff\", \"text\": \"\"}]}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": []}\0",
	};
	static const size_t nul_len = sizeof("{\"written_ms\": 1, \"next_id\": "
					     "1, \"requests\": [], "
					     "\"policies\": []}");

	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		size_t blen = i == ARRAY_SIZE(bodies) - 1 ? nul_len
							  : strlen(bodies[i]);
		size_t len;
		_cleanup_free_ char *file =
			with_header(bodies[i], blen, 1, &len);
		struct jit_state st;
		char why[256];

		memset(&st, 0, sizeof(st));
		ck_assert_msg(decode(file, len, &st, why, sizeof(why)) ==
				      -EBADMSG,
			      "body %zu accepted", i);
		ck_assert_msg(
			strncmp(why, "invalid JSON", 12) == 0 ||
				strncmp(why, "unexpected layout", 17) == 0 ||
				strncmp(why, "policy #0 is malformed", 22) == 0,
			"body %zu: '%s'", i, why);
	}
}
END_TEST

/* Re-encode the standard image with one request field replaced. */
static char *with_request_field(size_t idx, const char *key, json_t *value,
				size_t *len)
{
	size_t ilen, hlen;
	_cleanup_free_ char *buf = image(&ilen, &hlen);
	_cleanup_free_ char *body = NULL;
	json_error_t jerr;
	json_t *root = json_loadb(buf + hlen, ilen - hlen, 0, &jerr), *req;

	ck_assert_msg(root, "%s", jerr.text);
	req = json_array_get(json_object_get(root, "requests"), idx);
	ck_assert_ptr_nonnull(req);
	if (value)
		ck_assert_int_eq(json_object_set_new(req, key, value), 0);
	else
		ck_assert_int_eq(json_object_del(req, key), 0);
	body = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	ck_assert_ptr_nonnull(body);
	return with_header(body, strlen(body), 1, len);
}

UNIT_TEST("damage", test_bad_request)
{
	const struct {
		size_t idx;
		const char *key;
		json_t *value; /* NULL: remove the key */
	} cases[] = {
		{ 1, "source", json_string("192.0.2.300") },
		{ 1, "source", json_string("192.0.2.7/24") },
		{ 1, "source", json_string("") },
		{ 1, "source", json_string("any") },
		{ 1, "source", json_integer(3221225991) },
		{ 1, "source", NULL },
		{ 1, "status", json_string("unknown") },
		{ 1, "status", json_string("Expired") },
		{ 1, "status", json_string("") },
		{ 1, "status", json_integer(4) },
		{ 1, "id", json_integer(1) },  /* same as #0 */
		{ 1, "id", json_integer(0) },  /* lower */
		{ 2, "id", json_integer(4) },  /* same as #1 */
		{ 4, "id", json_integer(10) }, /* same as #3 */
		{ 0, "id", json_integer(0) },
		{ 0, "id", json_integer(-1) },
		{ 0, "id", json_string("1") },
		{ 1, "protos", json_integer(0) },
		{ 1, "protos", json_integer(4) },
		{ 1, "port_lo", json_integer(0) },
		{ 1, "port_hi", json_integer(65536) },
		{ 1, "port_hi", json_integer(21) },
		{ 1, "uid", json_integer(-1) },
		{ 1, "uid", json_integer(4294967296) },
		{ 1, "duration_s", json_integer(-1) },
		{ 1, "duration_s", json_integer(4294967296) },
		{ 1, "end_ms", json_integer(-5) },
		{ 1, "user",
		  json_string("uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
			      "uuuuuuuuuuuuuuuuuuuuuuuuuuuu") },
		{ 1, "policy",
		  json_string("abcdefghijklmnopqrstuvwxyz0123456") },
		{ 1, "reason", json_null() },
		{ 1, "decided_by", NULL },
		{ 1, "surprise", json_true() },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len;
		_cleanup_free_ char *file = with_request_field(
			cases[i].idx, cases[i].key, cases[i].value, &len);
		struct jit_state st;
		char why[256], want[64];

		ck_assert_msg(decode(file, len, &st, why, sizeof(why)) ==
				      -EBADMSG,
			      "case %zu (%s) accepted", i, cases[i].key);
		snprintf(want, sizeof(want), "request #%zu is malformed",
			 cases[i].idx);
		ck_assert_msg(streq(why, want), "case %zu: '%s'", i, why);
	}
	/* The same edit with a valid value decodes. */
	{
		size_t len;
		_cleanup_free_ char *file = with_request_field(
			1, "source", json_string("2001:db8::/32"), &len);
		struct jit_state st;
		char why[256];

		ck_assert_int_eq(decode(file, len, &st, why, sizeof(why)), 0);
		ck_assert_uint_eq(st.requests[1].key.source.len, 32);
		state_release(&st);
	}
}
END_TEST

UNIT_TEST("damage", test_bad_policy)
{
	static const char *const bodies[] = {
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": [{\"path\": \"a.yaml\"}]}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": [{\"path\": \"a.yaml\", \"text\": 5}]}",
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": [\"a.yaml\"]}",
	};
	static const char good[] =
		"{\"written_ms\": 1, \"next_id\": 1, \"requests\": [], "
		"\"policies\": [{\"path\": \"a.yaml\", \"text\": "
		"\"x\\ty\\n\"}, {\"path\": \"b\", \"text\": \"\"}]}";
	struct jit_state st;
	char why[256];
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		_cleanup_free_ char *file =
			with_header(bodies[i], strlen(bodies[i]), 1, &len);

		ck_assert_int_eq(decode(file, len, &st, why, sizeof(why)),
				 -EBADMSG);
		ck_assert_str_eq(why, "policy #0 is malformed");
	}
	/* Texts are kept byte for byte, with their length. */
	{
		_cleanup_free_ char *file =
			with_header(good, strlen(good), 1, &len);

		ck_assert_int_eq(decode(file, len, &st, why, sizeof(why)), 0);
		ck_assert_uint_eq(st.n_policies, 2);
		ck_assert_uint_eq(st.policies[0].len, 4);
		ck_assert_mem_eq(st.policies[0].text, "x\ty\n", 5);
		ck_assert_uint_eq(st.policies[1].len, 0);
		ck_assert_str_eq(st.policies[1].text, "");
		state_release(&st);
	}
}
END_TEST

/*
 * state_decode takes a length: the image need not be NUL-terminated (an
 * mmap'd file, a fuzzer's input). Put it against an inaccessible page and
 * decode it in a child, so that a read past the end cannot take the test
 * runner down.
 */
UNIT_TEST("damage", test_decode_unterminated)
{
	size_t len, hlen, page = (size_t)sysconf(_SC_PAGESIZE);
	char *buf = image(&len, &hlen), *map, *at;
	int status;
	pid_t pid;

	ck_assert_uint_lt(len, page);
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + page, page, PROT_NONE), 0);
	at = map + page - len;
	memcpy(at, buf, len);
	free(buf);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct jit_state st;
		char why[256];
		int r = state_decode(at, len, &st, why, sizeof(why));

		_exit(r == 0 && st.n_requests == 5 ? 0 : 3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(munmap(map, 2 * page), 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "state_decode of %zu bytes ending at a page boundary: %s "
		      "%d (read past buf + len)",
		      len, WIFSIGNALED(status) ? "killed by signal" : "exit",
		      WIFSIGNALED(status) ? WTERMSIG(status)
					  : WEXITSTATUS(status));
}
END_TEST

/* --- save and load -------------------------------------------------------- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_state.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	(void)rmdir(tmpdir);
}

/* Names in tmpdir, sorted, joined by spaces. */
static void list_dir(char *out, size_t n)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char names[8][64];
	size_t k = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
		    k < ARRAY_SIZE(names))
			snprintf(names[k++], sizeof(names[0]), "%.63s",
				 de->d_name);
	closedir(d);
	qsort(names, k, sizeof(names[0]),
	      (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++)
		snprintf(out + strlen(out), n - strlen(out), "%s%s",
			 i ? " " : "", names[i]);
}

static void write_file(const char *name, const char *text, size_t len)
{
	char path[128];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
}

UNIT_CASE("file", .setup = mk_tmpdir, .teardown = rm_tmpdir);

UNIT_TEST("file", test_save_load)
{
	struct jit_grants *g = grants();
	struct jit_policy_set *s = policies();
	_cleanup_free_ char *want = NULL;
	struct jit_state st;
	char why[256], names[256], path[128];
	struct stat sb;
	size_t len;

	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), -ENOENT);

	ck_assert_int_eq(state_save(tmpdir, g, s, T0 + 5), 0);
	list_dir(names, sizeof(names));
	ck_assert_str_eq(names, JIT_STATE_FILE);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, JIT_STATE_FILE);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	/* The file holds exactly what state_encode gives. */
	encode(g, s, &want, &len);
	ck_assert_int_eq(sb.st_size, (off_t)len);

	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), 0);
	ck_assert_uint_eq(st.n_requests, 5);
	ck_assert_uint_eq(st.n_policies, 2);
	ck_assert_uint_eq(st.next_id, 100);
	for (size_t i = 0; i < st.n_requests; i++)
		assert_request_eq(&st.requests[i], grants_at(g, i));
	state_release(&st);

	/* A later save replaces it; a stale temporary file goes away. */
	write_file(JIT_STATE_FILE ".tmp", "half a file", 11);
	{
		struct jit_request r = request(50, JIT_PENDING);

		ck_assert_int_eq(grants_restore(g, &r), 0);
	}
	ck_assert_int_eq(state_save(tmpdir, g, NULL, T0 + 6), 0);
	list_dir(names, sizeof(names));
	ck_assert_str_eq(names, JIT_STATE_FILE);
	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), 0);
	ck_assert_uint_eq(st.n_requests, 6);
	ck_assert_uint_eq(st.requests[5].id, 50);
	ck_assert_uint_eq(st.n_policies, 0);
	ck_assert_uint_eq(st.written_ms, T0 + 6);
	state_release(&st);

	grants_free(g);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("file", test_load_damaged)
{
	size_t len, hlen;
	_cleanup_free_ char *buf = image(&len, &hlen);
	struct jit_state st;
	char why[256];

	write_file(JIT_STATE_FILE, "", 0);
	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), -EBADMSG);
	ck_assert_str_eq(why, "file is empty");

	write_file(JIT_STATE_FILE, buf, len / 2);
	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), -EBADMSG);
	assert_starts(why, "truncated or torn");

	buf[len - 3] ^= 0x20;
	write_file(JIT_STATE_FILE, buf, len);
	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), -EBADMSG);
	assert_starts(why, "checksum mismatch");
	buf[len - 3] ^= 0x20;

	write_file(JIT_STATE_FILE, buf, len);
	ck_assert_int_eq(state_load(tmpdir, &st, why, sizeof(why)), 0);
	state_release(&st);
}
END_TEST

UNIT_TEST("file", test_save_errors)
{
	struct jit_grants *g = grants_new();
	char missing[128], target[128], link[128];
	struct stat sb;

	snprintf(missing, sizeof(missing), "%s/no/such/dir", tmpdir);
	ck_assert_int_eq(state_save(missing, g, NULL, T0), -ENOENT);

	/* A symbolic link planted at the temporary name is not followed. */
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	snprintf(link, sizeof(link), "%s/%s.tmp", tmpdir, JIT_STATE_FILE);
	write_file("target", "keep", 4);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_lt(state_save(tmpdir, g, NULL, T0), 0);
	ck_assert_int_eq(stat(target, &sb), 0);
	ck_assert_int_eq(sb.st_size, 4);
	grants_free(g);
}
END_TEST

/* --- the registry --------------------------------------------------------- */

UNIT_TEST("registry", test_grants_restore)
{
	struct jit_grants *g = grants_new();
	struct jit_request r;

	ck_assert_uint_eq(grants_next_id(g), 1);
	r = request(0, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), -EINVAL);
	ck_assert_uint_eq(grants_count(g), 0);

	r = request(3, JIT_INITIATED);
	ck_assert_int_eq(grants_restore(g, &r), 0);
	ck_assert_uint_eq(grants_next_id(g), 4);
	r = request(7, JIT_EXPIRED);
	ck_assert_int_eq(grants_restore(g, &r), 0);
	ck_assert_uint_eq(grants_next_id(g), 8);

	/* Not above the last: refused, nothing changes. */
	r = request(7, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), -EINVAL);
	r = request(5, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), -EINVAL);
	r = request(1, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), -EINVAL);
	ck_assert_uint_eq(grants_count(g), 2);
	ck_assert_uint_eq(grants_next_id(g), 8);

	/* Restored as they were: status, times, who. */
	ck_assert_ptr_eq(grants_get(g, 3), grants_at(g, 0));
	r = request(3, JIT_INITIATED);
	assert_request_eq(grants_get(g, 3), &r);
	r = request(7, JIT_EXPIRED);
	assert_request_eq(grants_get(g, 7), &r);
	ck_assert_ptr_null(grants_get(g, 5));
	ck_assert_uint_eq(grants_next_end(g), request(3, JIT_INITIATED).end_ms);

	/* next_id is never lowered, and a new request gets it. */
	grants_set_next_id(g, 2);
	ck_assert_uint_eq(grants_next_id(g), 8);
	grants_set_next_id(g, 20);
	ck_assert_uint_eq(grants_next_id(g), 20);
	{
		struct jit_request tmpl = request(0, JIT_PENDING), *added;

		ck_assert_int_eq(grants_add(g, &tmpl, T0, &added), 0);
		ck_assert_uint_eq(added->id, 20);
		ck_assert_uint_eq(grants_next_id(g), 21);
	}
	r = request(20, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), -EINVAL);
	r = request(21, JIT_PENDING);
	ck_assert_int_eq(grants_restore(g, &r), 0);
	ck_assert_uint_eq(grants_count(g), 4);
	grants_free(g);
}
END_TEST

/* The kernel-view file: written and read back whole; anything else in it
 * (a torn or edited line, another format) is refused, never half-read. */
UNIT_TEST("file", test_kview_round_trip)
{
	struct jit_kview v = { .netns = 4097,
			       .genid = 27,
			       .jgen = 3,
			       .joff = 555 },
			 back;
	char path[128];
	FILE *f;
	int fd;

	snprintf(v.boot_id, sizeof(v.boot_id), "%s",
		 "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	snprintf(v.table, sizeof(v.table), "jit_enforcer");
	snprintf(v.policies, sizeof(v.policies), "%064x", 0x5eed);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), -ENOENT);
	/* One descriptor for every write, as the agent keeps it. */
	fd = state_kview_open(tmpdir);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(state_kview_put(fd, &v), 0);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), 0);
	ck_assert(kview_equal(&v, &back));

	/* A shorter line leaves no tail of the longer one (no digest). */
	v.joff = 5;
	v.genid = 3;
	v.policies[0] = '\0';
	ck_assert_int_eq(state_kview_put(fd, &v), 0);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), 0);
	ck_assert(kview_equal(&v, &back));

	/* One digit changed: the checksum refuses it. */
	snprintf(path, sizeof(path), "%s/%s", tmpdir, JIT_STATE_KVIEW);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, (long)strlen("kernel-view 2 0"), SEEK_SET),
			 0);
	fputc('9', f);
	fclose(f);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), -EBADMSG);

	/* Cut short, or with a line after it. */
	ck_assert_int_eq(state_kview_put(fd, &v), 0);
	ck_assert_int_eq(truncate(path, 20), 0);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), -EBADMSG);
	ck_assert_int_eq(state_kview_put(fd, &v), 0);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("kernel-view 2 extra\n", f);
	fclose(f);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), -EBADMSG);
	/* The next write through the descriptor makes it whole again. */
	ck_assert_int_eq(state_kview_put(fd, &v), 0);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), 0);
	ck_assert(kview_equal(&v, &back));
	close(fd);

	/* A line of the first format (no policies' digest) is not taken. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("kernel-view 1 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 4097 "
	      "jit_enforcer 3 3 5 1a2b3c4d\n",
	      f);
	fclose(f);
	ck_assert_int_eq(state_kview_read(tmpdir, &back), -EBADMSG);
}
END_TEST

/* What this system says of itself: a boot id and a namespace cookie. */
UNIT_TEST("file", test_kview_here)
{
	struct jit_kview a, b;

	ck_assert_int_eq(kview_here("jit_enforcer", &a), 0);
	ck_assert_uint_eq(strlen(a.boot_id), 36);
	ck_assert_uint_ne(a.netns, 0);
	ck_assert_str_eq(a.table, "jit_enforcer");
	ck_assert_int_eq(kview_here("jit_enforcer", &b), 0);
	ck_assert(kview_equal(&a, &b));
	ck_assert_int_eq(kview_here("x23456789012345678901234567890123456789012"
				    "34567890123456789012345",
				    &b),
			 -ENAMETOOLONG);
}
END_TEST
