/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The alert engine, driven with synthetic denied packets and grant events:
 * aggregation windows, each threshold, once per key and window, limits
 * from policies, bounded memory under a flood of sources, and the JSON
 * shape of the alerts it produces.
 */
#include <arpa/inet.h>
#include <check.h>
#include <malloc.h>
#include <netinet/in.h>
#include <regex.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "alert.h"
#include "detect.h"
#include "diag.h"
#include "util.h"
#include "helpers.h"
#include "runner.h"

/* 2023-11-14T22:13:20.000Z */
#define T0    1700000000000ull
#define SEC   1000ull
#define MAX_R 64

/* What the callback got, in order. */
struct rec {
	const struct jit_alert_def *def;
	char desc[640];
	json_t *ent;
	uint64_t first, last;
	unsigned count;
};

static struct rec recs[MAX_R];
static size_t n_recs;

static void record(void *userdata, const struct jit_alert_def *def,
		   const char *description, json_t *entities, uint64_t first_ms,
		   uint64_t last_ms, unsigned count)
{
	struct rec *r;

	ck_assert_ptr_eq(userdata, recs);
	ck_assert_ptr_nonnull(entities);
	ck_assert_uint_lt(n_recs, MAX_R);
	r = &recs[n_recs++];
	r->def = def;
	snprintf(r->desc, sizeof(r->desc), "%s", description);
	r->ent = entities;
	r->first = first_ms;
	r->last = last_ms;
	r->count = count;
}

static void clear_recs(void)
{
	for (size_t i = 0; i < n_recs; i++)
		json_decref(recs[i].ent);
	memset(recs, 0, sizeof(recs));
	n_recs = 0;
}

static struct jit_detect *new_detect(void)
{
	struct jit_detect *d = detect_new(record, recs);

	ck_assert_ptr_nonnull(d);
	return d;
}

static void teardown(void)
{
	clear_recs();
}

static size_t count_type(const struct jit_alert_def *def)
{
	size_t n = 0;

	for (size_t i = 0; i < n_recs; i++)
		n += recs[i].def == def;
	return n;
}

/* The last alert of a type; fails if there is none. */
static const struct rec *last_of(const struct jit_alert_def *def)
{
	for (size_t i = n_recs; i-- > 0;)
		if (recs[i].def == def)
			return &recs[i];
	ck_abort_msg("no %s alert", def->type);
	return NULL;
}

static void attempt(struct jit_detect *d, uint64_t ms, const char *src,
		    uint8_t proto, uint16_t port, const char *policy)
{
	struct jit_attempt a = { .ms = ms, .proto = proto, .port = port };

	a.src = test_prefix(src);
	snprintf(a.policy, sizeof(a.policy), "%s", policy);
	detect_attempt(d, &a);
}

static struct jit_request grant(uint64_t id, const char *src, unsigned protos,
				uint16_t lo, uint16_t hi)
{
	struct jit_request r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.key.source = test_prefix(src);
	r.key.protos = protos;
	r.key.port_lo = lo;
	r.key.port_hi = hi;
	snprintf(r.policy, sizeof(r.policy), "winrm");
	snprintf(r.user, sizeof(r.user), "alice");
	r.status = JIT_EXPIRED;
	snprintf(r.status_reason, sizeof(r.status_reason), JIT_REASON_EXPIRED);
	return r;
}

static void assert_contains(const char *s, const char *needle)
{
	ck_assert_msg(strstr(s, needle), "'%s' not in '%s'", needle, s);
}

static void assert_limits_eq(const struct jit_detect_limits *a,
			     const struct jit_detect_limits *b)
{
	ck_assert_uint_eq(a->repeated, b->repeated);
	ck_assert_uint_eq(a->sources, b->sources);
	ck_assert_uint_eq(a->scan_ports, b->scan_ports);
	ck_assert_uint_eq(a->window_s, b->window_s);
	ck_assert_uint_eq(a->after_end_s, b->after_end_s);
	ck_assert_uint_eq(a->wide_v4, b->wide_v4);
	ck_assert_uint_eq(a->wide_v6, b->wide_v6);
	ck_assert_uint_eq(a->log_rate, b->log_rate);
}

/* --- limits --------------------------------------------------------------- */

UNIT_CASE(UNIT_ALL_CASES, .teardown = teardown);

UNIT_TEST("limits", test_defaults)
{
	struct jit_detect *d = new_detect();
	const struct jit_detect_limits *l = detect_limits(d);
	struct jit_detect_limits def;

	ck_assert_uint_eq(l->repeated, 10);
	ck_assert_uint_eq(l->sources, 20);
	ck_assert_uint_eq(l->scan_ports, 3);
	ck_assert_uint_eq(l->window_s, 60);
	ck_assert_uint_eq(l->after_end_s, 600);
	ck_assert_uint_eq(l->wide_v4, 24);
	ck_assert_uint_eq(l->wide_v6, 48);
	ck_assert_uint_eq(l->log_rate, 50);
	detect_limits_default(&def);
	assert_limits_eq(&def, l);
	ck_assert_uint_eq(detect_tracked(d), 0);
	ck_assert_uint_eq(detect_seen(d), 0);
	ck_assert_uint_eq(detect_evicted(d), 0);
	ck_assert_ptr_null(detect_free(d));
	ck_assert_ptr_null(detect_free(NULL));
}
END_TEST

static struct jit_policy_set *set_of(const char *const *texts, size_t n)
{
	struct jit_policy_set *s = policy_set_new();

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++) {
		char path[64];
		struct jit_diag diag;

		snprintf(path, sizeof(path), "/policies/%02zu.yaml", i);
		diag_init(&diag);
		ck_assert_msg(policy_set_load_text(s, path, texts[i],
						   strlen(texts[i]),
						   &diag) == 0,
			      "%s:\n%s", path, diag.text ? diag.text : "");
		diag_release(&diag);
	}
	return s;
}

static struct jit_detect_limits limits_of(const char *const *texts, size_t n)
{
	struct jit_policy_set *s = set_of(texts, n);
	struct jit_detect_limits l;

	memset(&l, 0xa5, sizeof(l));
	detect_limits_from_policies(s, &l);
	policy_set_free(s);
	return l;
}

UNIT_TEST("limits", test_limits_no_policies)
{
	struct jit_detect_limits l, def;
	static const char *const plain[] = {
		"name: ssh\nports:\n  - port: 22\n",
		"name: rdp\nports:\n  - port: 3389\n    protocol: any\n",
	};

	detect_limits_default(&def);
	memset(&l, 0xa5, sizeof(l));
	detect_limits_from_policies(NULL, &l);
	assert_limits_eq(&l, &def);
	l = limits_of(NULL, 0);
	assert_limits_eq(&l, &def);
	/* Policies without an alerts: section change nothing. */
	l = limits_of(plain, ARRAY_SIZE(plain));
	assert_limits_eq(&l, &def);
}
END_TEST

UNIT_TEST("limits", test_limits_one_policy)
{
	static const char *const one[] = {
		"name: ssh\n"
		"ports:\n"
		"  - port: 22\n"
		"alerts:\n"
		"  repeated_attempts: 5\n"
		"  distributed_sources: 50\n"
		"  scan_ports: 4\n"
		"  window: 2m\n"
		"  after_grant_end: 1h\n"
		"  wide_grant_prefix_v4: 16\n"
		"  wide_grant_prefix_v6: 56\n"
		"  log_rate: 200\n",
	};
	static const char *const partial[] = {
		"name: ssh\nports:\n  - port: 22\nalerts:\n  scan_ports: 0\n",
	};
	struct jit_detect_limits l = limits_of(one, 1), def;

	/* A policy's value applies, above or below the default. */
	ck_assert_uint_eq(l.repeated, 5);
	ck_assert_uint_eq(l.sources, 50);
	ck_assert_uint_eq(l.scan_ports, 4);
	ck_assert_uint_eq(l.window_s, 120);
	ck_assert_uint_eq(l.after_end_s, 3600);
	ck_assert_uint_eq(l.wide_v4, 16);
	ck_assert_uint_eq(l.wide_v6, 56);
	ck_assert_uint_eq(l.log_rate, 200);

	/* Keys left out keep their defaults; 0 is kept (turns it off). */
	l = limits_of(partial, 1);
	detect_limits_default(&def);
	def.scan_ports = 0;
	assert_limits_eq(&l, &def);
}
END_TEST

UNIT_TEST("limits", test_limits_lowest_wins)
{
	static const char *const a = "name: a\n"
				     "ports:\n"
				     "  - port: 22\n"
				     "alerts:\n"
				     "  repeated_attempts: 5\n"
				     "  distributed_sources: 30\n"
				     "  window: 2m\n"
				     "  after_grant_end: 0\n"
				     "  wide_grant_prefix_v4: 16\n"
				     "  wide_grant_prefix_v6: 56\n";
	static const char *const b = "name: b\n"
				     "ports:\n"
				     "  - port: 3389\n"
				     "alerts:\n"
				     "  repeated_attempts: 3\n"
				     "  distributed_sources: 40\n"
				     "  window: 30s\n"
				     "  after_grant_end: 5m\n"
				     "  wide_grant_prefix_v4: 28\n"
				     "  log_rate: 10\n";
	/* One file with two documents counts as two policies. */
	static const char *const c = "name: c\n"
				     "ports: [{port: 5985}]\n"
				     "alerts: {repeated_attempts: 7, "
				     "wide_grant_prefix_v6: 40}\n"
				     "---\n"
				     "name: d\n"
				     "ports: [{port: 5986}]\n"
				     "alerts: {scan_ports: 6, "
				     "wide_grant_prefix_v4: 0}\n";
	const char *ab[] = { a, b }, *ba[] = { b, a }, *abc[] = { a, b, c },
		   *cba[] = { c, b, a };
	struct jit_detect_limits l1 = limits_of(ab, 2), l2 = limits_of(ba, 2);

	ck_assert_uint_eq(l1.repeated, 3);
	ck_assert_uint_eq(l1.sources, 30);
	ck_assert_uint_eq(l1.scan_ports, 3); /* nobody set it */
	ck_assert_uint_eq(l1.window_s, 30);
	ck_assert_uint_eq(l1.after_end_s, 0); /* 0 is the lowest */
	ck_assert_uint_eq(l1.log_rate, 10);
	/* Prefix lengths: the longest (most sensitive) wins. */
	ck_assert_uint_eq(l1.wide_v4, 28);
	ck_assert_uint_eq(l1.wide_v6, 56);
	/* Order of the policies does not matter. */
	assert_limits_eq(&l1, &l2);

	l1 = limits_of(abc, 3);
	l2 = limits_of(cba, 3);
	ck_assert_uint_eq(l1.repeated, 3);
	ck_assert_uint_eq(l1.scan_ports, 6);
	ck_assert_uint_eq(l1.wide_v4, 28); /* 0 from d is not the longest */
	ck_assert_uint_eq(l1.wide_v6, 56);
	assert_limits_eq(&l1, &l2);
}
END_TEST

UNIT_TEST("limits", test_set_limits)
{
	struct jit_detect *d = new_detect();
	struct jit_detect_limits l;

	detect_limits_default(&l);
	l.repeated = 2;
	l.window_s = 5;
	detect_set_limits(d, &l);
	assert_limits_eq(detect_limits(d), &l);
	attempt(d, T0, "192.0.2.1", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(n_recs, 0);
	attempt(d, T0 + 1, "192.0.2.1", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_repeated_attempts), 1);
	detect_free(d);
}
END_TEST

/* --- repeated attempts (one-to-one) --------------------------------------- */

UNIT_TEST("thresholds", test_repeated)
{
	struct jit_detect *d = new_detect();
	const struct rec *r;
	json_t *dst;

	for (unsigned i = 0; i < 9; i++)
		attempt(d, T0 + i * SEC, "198.51.100.7", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(n_recs, 0);
	attempt(d, T0 + 50 * SEC, "198.51.100.7", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(n_recs, 1);
	r = last_of(&alert_repeated_attempts);
	ck_assert_uint_eq(r->count, 10);
	ck_assert_uint_eq(r->first, T0);
	ck_assert_uint_eq(r->last, T0 + 50 * SEC);
	assert_contains(r->desc, "198.51.100.7");
	assert_contains(r->desc, "tcp/22");
	assert_contains(r->desc, "10 times");
	assert_contains(r->desc, "60s");
	assert_contains(r->desc, "'ssh'");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(r->ent, "source"), "address")),
			 "198.51.100.7");
	dst = json_object_get(r->ent, "destination");
	assert_json_int(dst, "port", 22);
	assert_json_str(dst, "protocol", "tcp");
	assert_json_str(r->ent, "policy", "ssh");

	/* More in the same window: no second alert. */
	for (unsigned i = 0; i < 40; i++)
		attempt(d, T0 + 51 * SEC + i * 100, "198.51.100.7", IPPROTO_TCP,
			22, "ssh");
	ck_assert_uint_eq(n_recs, 1);

	/* A new window starts the count again, and can alert again. */
	attempt(d, T0 + 61 * SEC, "198.51.100.7", IPPROTO_TCP, 22, "ssh");
	for (unsigned i = 1; i < 9; i++)
		attempt(d, T0 + 61 * SEC + i, "198.51.100.7", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(n_recs, 1);
	attempt(d, T0 + 62 * SEC, "198.51.100.7", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_repeated_attempts), 2);
	r = last_of(&alert_repeated_attempts);
	ck_assert_uint_eq(r->count, 10);
	ck_assert_uint_eq(r->first, T0 + 61 * SEC);
	ck_assert_uint_eq(r->last, T0 + 62 * SEC);
	ck_assert_uint_eq(detect_seen(d), 60);
	detect_free(d);
}
END_TEST

/* Windows are counted from their first attempt: 10 spread over 63s are
 * two windows of fewer than 10. */
UNIT_TEST("thresholds", test_repeated_spread)
{
	struct jit_detect *d = new_detect();

	for (unsigned i = 0; i < 10; i++)
		attempt(d, T0 + i * 7 * SEC, "192.0.2.9", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(n_recs, 0);
	/* The second window began at 63s; 9 more in it make 10. */
	for (unsigned i = 0; i < 8; i++)
		attempt(d, T0 + 64 * SEC + i, "192.0.2.9", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(n_recs, 0);
	attempt(d, T0 + 70 * SEC, "192.0.2.9", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_repeated_attempts), 1);
	ck_assert_uint_eq(last_of(&alert_repeated_attempts)->first,
			  T0 + 63 * SEC);
	detect_free(d);
}
END_TEST

/* The key is source, protocol and port: each alerts once on its own. */
UNIT_TEST("thresholds", test_repeated_keys)
{
	static const struct {
		const char *src;
		uint8_t proto;
		uint16_t port;
	} keys[] = {
		{ "192.0.2.1", IPPROTO_TCP, 22 },
		{ "192.0.2.2", IPPROTO_TCP, 22 },
		{ "192.0.2.1", IPPROTO_UDP, 22 },
		{ "2001:db8::1", IPPROTO_TCP, 22 },
		/* Same first four bytes as 192.0.2.1, other family. */
		{ "c000:201::", IPPROTO_TCP, 22 },
	};
	struct jit_detect *d = new_detect();

	for (unsigned round = 0; round < 30; round++)
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			attempt(d, T0 + round * 100 + k, keys[k].src,
				keys[k].proto, keys[k].port, "ssh");
	ck_assert_uint_eq(count_type(&alert_repeated_attempts),
			  ARRAY_SIZE(keys));
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const struct rec *r = NULL;
		json_t *e;

		for (size_t i = 0; i < n_recs && !r; i++) {
			e = json_object_get(recs[i].ent, "source");
			if (recs[i].def == &alert_repeated_attempts &&
			    streq(json_string_value(
					  json_object_get(e, "address")),
				  keys[k].src) &&
			    json_integer_value(json_object_get(
				    json_object_get(recs[i].ent, "destination"),
				    "port")) == keys[k].port &&
			    streq(json_string_value(json_object_get(
					  json_object_get(recs[i].ent,
							  "destination"),
					  "protocol")),
				  keys[k].proto == IPPROTO_TCP ? "tcp" : "udp"))
				r = &recs[i];
		}
		ck_assert_msg(r, "no alert for key %zu", k);
		ck_assert_uint_eq(r->count, 10);
	}
	detect_free(d);
}
END_TEST

/* --- distinct sources (many-to-one) ----------------------------------------
 */

static void src_n(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "203.0.113.%u", i);
}

UNIT_TEST("thresholds", test_distributed)
{
	struct jit_detect *d = new_detect();
	const struct rec *r;
	char src[32];

	/* 19 sources, three attempts each: not yet, and repeats of one
	 * source do not count as more sources. */
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 1; i <= 19; i++) {
			src_n(src, sizeof(src), i);
			attempt(d, T0 + k * SEC + i, src, IPPROTO_TCP, 3389,
				"rdp");
		}
	/* Other ports and protocols are other keys. */
	src_n(src, sizeof(src), 20);
	attempt(d, T0 + 4 * SEC, src, IPPROTO_UDP, 3389, "rdp");
	attempt(d, T0 + 4 * SEC, src, IPPROTO_TCP, 3390, "rdp");
	ck_assert_uint_eq(count_type(&alert_distributed_attempts), 0);

	attempt(d, T0 + 5 * SEC, src, IPPROTO_TCP, 3389, "rdp");
	ck_assert_uint_eq(count_type(&alert_distributed_attempts), 1);
	r = last_of(&alert_distributed_attempts);
	ck_assert_uint_eq(r->count, 20);
	ck_assert_uint_eq(r->first, T0 + 1);
	ck_assert_uint_eq(r->last, T0 + 5 * SEC);
	assert_contains(r->desc, "20 different sources");
	assert_contains(r->desc, "tcp/3389");
	assert_contains(r->desc, "'rdp'");
	assert_contains(r->desc, "203.0.113.20");
	assert_json_str(json_object_get(r->ent, "source"), "address",
			"203.0.113.20");
	assert_json_int(json_object_get(r->ent, "destination"), "port", 3389);

	/* Once per window, however many more come. */
	for (unsigned i = 21; i <= 200; i++) {
		src_n(src, sizeof(src), i);
		attempt(d, T0 + 6 * SEC, src, IPPROTO_TCP, 3389, "rdp");
	}
	ck_assert_uint_eq(count_type(&alert_distributed_attempts), 1);

	/* Next window: 20 sources again. */
	for (unsigned i = 1; i <= 20; i++) {
		src_n(src, sizeof(src), i);
		attempt(d, T0 + 70 * SEC + i, src, IPPROTO_TCP, 3389, "rdp");
	}
	ck_assert_uint_eq(count_type(&alert_distributed_attempts), 2);
	ck_assert_uint_eq(last_of(&alert_distributed_attempts)->first,
			  T0 + 70 * SEC + 1);
	ck_assert_uint_eq(count_type(&alert_repeated_attempts), 0);
	detect_free(d);
}
END_TEST

/* --- port sweep ------------------------------------------------------------
 */

UNIT_TEST("thresholds", test_sweep)
{
	struct jit_detect *d = new_detect();
	const struct rec *r;
	json_t *dsts;

	attempt(d, T0, "198.51.100.99", IPPROTO_TCP, 22, "ssh");
	attempt(d, T0 + 1, "198.51.100.99", IPPROTO_TCP, 22, "ssh");
	attempt(d, T0 + 2, "198.51.100.99", IPPROTO_TCP, 3389, "rdp");
	attempt(d, T0 + 3, "198.51.100.99", IPPROTO_TCP, 3389, "rdp");
	/* Another source's ports are not this one's. */
	attempt(d, T0 + 4, "198.51.100.98", IPPROTO_TCP, 5985, "winrm");
	ck_assert_uint_eq(n_recs, 0);
	attempt(d, T0 + 5 * SEC, "198.51.100.99", IPPROTO_TCP, 5985, "winrm");
	ck_assert_uint_eq(n_recs, 1);
	r = last_of(&alert_port_sweep);
	ck_assert_uint_eq(r->count, 5);
	ck_assert_uint_eq(r->first, T0);
	ck_assert_uint_eq(r->last, T0 + 5 * SEC);
	assert_contains(r->desc, "198.51.100.99");
	assert_contains(r->desc, "3 protected management ports");
	assert_contains(r->desc, "tcp/22, tcp/3389, tcp/5985");
	assert_contains(r->desc, "5 attempts");
	assert_json_str(json_object_get(r->ent, "source"), "address",
			"198.51.100.99");
	dsts = json_object_get(r->ent, "destinations");
	ck_assert_uint_eq(json_array_size(dsts), 3);
	assert_json_int(json_array_get(dsts, 2), "port", 5985);
	assert_json_str(json_array_get(dsts, 2), "protocol", "tcp");

	/* More ports in the window: nothing more. */
	attempt(d, T0 + 6 * SEC, "198.51.100.99", IPPROTO_TCP, 5986, "winrm");
	attempt(d, T0 + 6 * SEC, "198.51.100.99", IPPROTO_UDP, 3389, "rdp");
	ck_assert_uint_eq(count_type(&alert_port_sweep), 1);

	/* The next window starts from nothing. */
	attempt(d, T0 + 70 * SEC, "198.51.100.99", IPPROTO_TCP, 22, "ssh");
	attempt(d, T0 + 71 * SEC, "198.51.100.99", IPPROTO_TCP, 23, "telnet");
	ck_assert_uint_eq(count_type(&alert_port_sweep), 1);
	attempt(d, T0 + 72 * SEC, "198.51.100.99", IPPROTO_TCP, 2375, "docker");
	ck_assert_uint_eq(count_type(&alert_port_sweep), 2);
	r = last_of(&alert_port_sweep);
	ck_assert_uint_eq(r->count, 3);
	ck_assert_uint_eq(r->first, T0 + 70 * SEC);
	detect_free(d);
}
END_TEST

/*
 * A source's distinct ports are followed up to DETECT_SCAN_MAX, the most a
 * policy may set as scan_ports: that threshold still alerts, and a policy
 * asking for more is refused rather than silently never alerting.
 */
UNIT_TEST("thresholds", test_sweep_max_threshold)
{
	static const char *const over =
		"name: ssh\nports: [{port: 22}]\nalerts: {scan_ports: 17}\n";
	static const char *const at_max[] = {
		"name: ssh\nports: [{port: 22}]\nalerts: {scan_ports: 16}\n",
	};
	struct jit_detect *d = new_detect();
	struct jit_policy_set *s = policy_set_new();
	struct jit_detect_limits l = limits_of(at_max, 1);
	struct jit_diag diag;

	ck_assert_uint_eq(DETECT_SCAN_MAX, 16);
	ck_assert_uint_eq(l.scan_ports, DETECT_SCAN_MAX);
	diag_init(&diag);
	ck_assert_int_eq(policy_set_load_text(s, "/p/over.yaml", over,
					      strlen(over), &diag),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag.text, "scan_ports"));
	diag_release(&diag);
	policy_set_free(s);

	detect_set_limits(d, &l);
	for (uint16_t p = 1; p < DETECT_SCAN_MAX; p++)
		attempt(d, T0 + p, "192.0.2.44", IPPROTO_TCP, p, "many");
	ck_assert_uint_eq(count_type(&alert_port_sweep), 0);
	for (uint16_t p = DETECT_SCAN_MAX; p <= 40; p++)
		attempt(d, T0 + p, "192.0.2.44", IPPROTO_TCP, p, "many");
	ck_assert_uint_eq(count_type(&alert_port_sweep), 1);
	ck_assert_uint_eq(last_of(&alert_port_sweep)->last,
			  T0 + DETECT_SCAN_MAX);
	assert_contains(last_of(&alert_port_sweep)->desc,
			"16 protected management ports");
	detect_free(d);
}
END_TEST

/* --- attempts after a grant ended ------------------------------------------
 */

UNIT_TEST("thresholds", test_after_end)
{
	struct jit_detect *d = new_detect();
	struct jit_request g =
		grant(7, "198.51.100.0/28", JIT_PROTO_TCP, 5985, 5986);
	uint64_t end = T0 + 1000 * SEC;
	const struct rec *r;

	detect_grant_ended(d, &g, end);
	/* Before the end, outside the prefix, the ports or the protocol. */
	attempt(d, end - 1, "198.51.100.3", IPPROTO_TCP, 5985, "winrm");
	attempt(d, end + SEC, "198.51.100.16", IPPROTO_TCP, 5985, "winrm");
	attempt(d, end + SEC, "198.51.100.3", IPPROTO_TCP, 5984, "winrm");
	attempt(d, end + SEC, "198.51.100.3", IPPROTO_TCP, 5987, "winrm");
	attempt(d, end + SEC, "198.51.100.3", IPPROTO_UDP, 5985, "winrm");
	attempt(d, end + SEC, "2001:db8::3", IPPROTO_TCP, 5985, "winrm");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 0);

	attempt(d, end + 30 * SEC, "198.51.100.15", IPPROTO_TCP, 5986, "winrm");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 1);
	r = last_of(&alert_after_grant_end);
	assert_contains(r->desc, "198.51.100.15");
	assert_contains(r->desc, "tcp/5986");
	assert_contains(r->desc, " 30s ");
	assert_contains(r->desc, "request 7");
	assert_contains(r->desc, "alice");
	assert_contains(r->desc, "198.51.100.0/28");
	assert_contains(r->desc, "expired");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_uint_eq(r->first, end + 30 * SEC);
	ck_assert_uint_eq(r->last, end + 30 * SEC);
	assert_json_str(r->ent, "user", "alice");
	assert_json_int(r->ent, "request_id", 7);
	assert_json_str(r->ent, "policy", "winrm");
	assert_json_str(json_object_get(r->ent, "source"), "address",
			"198.51.100.15");
	assert_json_int(json_object_get(r->ent, "destination"), "port", 5986);

	/* Once per ended grant. */
	for (unsigned i = 0; i < 20; i++)
		attempt(d, end + 40 * SEC + i, "198.51.100.1", IPPROTO_TCP,
			5985, "winrm");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 1);
	detect_free(d);
}
END_TEST

UNIT_TEST("thresholds", test_after_end_watch_time)
{
	struct jit_detect *d = new_detect();
	struct jit_request a = grant(8, "192.0.2.7", JIT_PROTO_TCP, 22, 22);
	struct jit_request b = grant(9, "2001:db8:1::/64",
				     JIT_PROTO_TCP | JIT_PROTO_UDP, 3389, 3389);
	struct jit_detect_limits l;

	snprintf(b.status_reason, sizeof(b.status_reason), JIT_REASON_USER);
	b.status = JIT_REVOKED;
	detect_grant_ended(d, &a, T0);
	detect_grant_ended(d, &b, T0);
	/* After the 600s watch: nothing. */
	attempt(d, T0 + 600 * SEC + 1, "192.0.2.7", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 0);
	/* Just inside it, on both protocols of b: one alert for b. */
	attempt(d, T0 + 600 * SEC, "2001:db8:1::42", IPPROTO_UDP, 3389, "rdp");
	attempt(d, T0 + 600 * SEC, "2001:db8:1::43", IPPROTO_TCP, 3389, "rdp");
	attempt(d, T0 + 1, "2001:db8:2::42", IPPROTO_UDP, 3389, "rdp");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 1);
	assert_contains(last_of(&alert_after_grant_end)->desc,
			"2001:db8:1::42");
	assert_contains(last_of(&alert_after_grant_end)->desc, JIT_REASON_USER);
	assert_contains(last_of(&alert_after_grant_end)->desc, "request 9");
	detect_free(d);
	clear_recs();

	/* Threshold 0: grants that end are not watched. */
	d = new_detect();
	detect_limits_default(&l);
	l.after_end_s = 0;
	detect_set_limits(d, &l);
	detect_grant_ended(d, &a, T0);
	attempt(d, T0 + SEC, "192.0.2.7", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 0);
	/* Turned on later: the earlier end was not recorded. */
	l.after_end_s = 600;
	detect_set_limits(d, &l);
	attempt(d, T0 + 2 * SEC, "192.0.2.7", IPPROTO_TCP, 22, "ssh");
	ck_assert_uint_eq(count_type(&alert_after_grant_end), 0);
	detect_free(d);
}
END_TEST

/* --- wide grants -----------------------------------------------------------
 */

static struct jit_request started(uint64_t id, const char *src)
{
	struct jit_request r = grant(id, src, JIT_PROTO_TCP, 22, 22);

	snprintf(r.policy, sizeof(r.policy), "ssh");
	snprintf(r.user, sizeof(r.user), "bob");
	r.status = JIT_INITIATED;
	r.status_reason[0] = '\0';
	return r;
}

UNIT_TEST("thresholds", test_wide_grant)
{
	static const struct {
		const char *src;
		const char *needle; /* NULL: no alert */
	} cases[] = {
		{ "192.0.2.7", NULL },
		{ "192.0.2.0/24", NULL },
		{ "192.0.2.0/25", NULL },
		{ "192.0.2.0/23", "2^9 addresses" },
		{ "10.0.0.0/8", "2^24 addresses" },
		{ "0.0.0.0/0", "2^32 addresses: any address" },
		{ "2001:db8::1", NULL },
		{ "2001:db8::/48", NULL },
		{ "2001:db8::/47", "2^81 addresses" },
		{ "::/0", "2^128 addresses: any address" },
	};
	struct jit_detect *d = new_detect();

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jit_request r = started(100 + i, cases[i].src);
		char want[64];
		const struct rec *a;

		clear_recs();
		detect_grant_started(d, &r, T0 + i);
		if (!cases[i].needle) {
			ck_assert_msg(n_recs == 0, "%s reported", cases[i].src);
			continue;
		}
		ck_assert_msg(n_recs == 1, "%s: %zu alerts", cases[i].src,
			      n_recs);
		a = last_of(&alert_wide_grant);
		assert_contains(a->desc, cases[i].needle);
		assert_contains(a->desc, cases[i].src);
		assert_contains(a->desc, "'ssh'");
		assert_contains(a->desc, "bob");
		assert_contains(a->desc, "tcp/22");
		snprintf(want, sizeof(want), "Request %zu ", 100 + i);
		assert_contains(a->desc, want);
		assert_contains(a->desc, strchr(cases[i].src, '.')
						 ? "wider than /24"
						 : "wider than /48");
		ck_assert_uint_eq(a->count, 1);
		ck_assert_uint_eq(a->first, T0 + i);
		ck_assert_uint_eq(a->last, T0 + i);
		assert_json_str(json_object_get(a->ent, "source"), "prefix",
				cases[i].src);
		assert_json_str(a->ent, "ports", "tcp/22");
		assert_json_str(a->ent, "policy", "ssh");
		assert_json_str(a->ent, "user", "bob");
		assert_json_int(a->ent, "request_id", (json_int_t)(100 + i));
	}
	detect_free(d);
}
END_TEST

UNIT_TEST("thresholds", test_wide_grant_limits)
{
	struct jit_detect *d = new_detect();
	struct jit_detect_limits l;
	struct jit_request r;

	detect_limits_default(&l);
	l.wide_v4 = 0;
	l.wide_v6 = 128;
	detect_set_limits(d, &l);
	/* v4 off, even for any address. */
	r = started(1, "0.0.0.0/0");
	detect_grant_started(d, &r, T0);
	ck_assert_uint_eq(n_recs, 0);
	/* v6 /128 only: a /127 is wide. */
	r = started(2, "2001:db8::/127");
	detect_grant_started(d, &r, T0);
	ck_assert_uint_eq(count_type(&alert_wide_grant), 1);
	r = started(3, "2001:db8::5");
	detect_grant_started(d, &r, T0);
	ck_assert_uint_eq(count_type(&alert_wide_grant), 1);

	l.wide_v4 = 32;
	l.wide_v6 = 0;
	detect_set_limits(d, &l);
	r = started(4, "192.0.2.6/31");
	detect_grant_started(d, &r, T0);
	ck_assert_uint_eq(count_type(&alert_wide_grant), 2);
	r = started(5, "::/0");
	detect_grant_started(d, &r, T0);
	ck_assert_uint_eq(count_type(&alert_wide_grant), 2);
	detect_free(d);
}
END_TEST

/* --- thresholds of 0 -------------------------------------------------------
 */

UNIT_TEST("thresholds", test_zero_disables)
{
	struct jit_detect *d = new_detect();
	struct jit_detect_limits l;
	char src[32];

	detect_limits_default(&l);
	l.repeated = 0;
	l.sources = 0;
	l.scan_ports = 0;
	detect_set_limits(d, &l);
	for (unsigned i = 0; i < 100; i++)
		attempt(d, T0 + i, "192.0.2.1", IPPROTO_TCP, 22, "ssh");
	for (unsigned i = 1; i <= 100; i++) {
		src_n(src, sizeof(src), i);
		attempt(d, T0 + i, src, IPPROTO_TCP, 22, "ssh");
	}
	for (uint16_t p = 1; p <= 50; p++)
		attempt(d, T0 + p, "192.0.2.1", IPPROTO_TCP, p, "ssh");
	ck_assert_uint_eq(n_recs, 0);
	ck_assert_uint_eq(detect_seen(d), 250);

	/* One at a time: the others keep working. */
	detect_limits_default(&l);
	l.repeated = 0;
	detect_set_limits(d, &l);
	for (unsigned i = 0; i < 100; i++)
		attempt(d, T0 + 100 * SEC + i, "192.0.2.200", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(n_recs, 0);
	for (uint16_t p = 1; p <= 3; p++)
		attempt(d, T0 + 100 * SEC + p, "192.0.2.200", IPPROTO_TCP,
			(uint16_t)(p + 100), "ssh");
	ck_assert_uint_eq(n_recs, 1);
	ck_assert_uint_eq(count_type(&alert_port_sweep), 1);

	/* A window of 0 turns every attempt detection off. */
	clear_recs();
	detect_limits_default(&l);
	l.window_s = 0;
	detect_set_limits(d, &l);
	for (unsigned i = 0; i < 50; i++)
		attempt(d, T0 + 300 * SEC + i, "192.0.2.201", IPPROTO_TCP,
			(uint16_t)(i % 5 + 1), "ssh");
	ck_assert_uint_eq(n_recs, 0);
	ck_assert_uint_eq(detect_seen(d), 250 + 103 + 50);
	detect_free(d);
}
END_TEST

/* --- a flood of sources ----------------------------------------------------
 */

static unsigned flood_alerts;

static void count_and_drop(void *userdata, const struct jit_alert_def *def,
			   const char *description, json_t *entities,
			   uint64_t first_ms, uint64_t last_ms, unsigned count)
{
	(void)userdata;
	flood_alerts++;
	json_decref(entities);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Bytes the allocator has handed out and not got back. Small chunks freed
 * into glibc's per-thread cache still count as in use here.
 */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * 200,000 attempts; under valgrind a quarter, still 25 times what the
 * tables hold, keeps within the timeout.
 */
#define FLOOD (RUNNING_ON_VALGRIND ? 50000u : 200000u)

/* Returns the most the heap grew above its level at the start. */
static size_t flood(struct jit_detect *d, uint64_t seed, uint32_t n_attempts,
		    size_t *max_tracked)
{
	static const uint16_t ports[] = { 22, 3389, 5985, 5986, 2375 };
	size_t base = heap_in_use();
	uint64_t s = seed;
	size_t grew = 0;

	*max_tracked = 0;
	for (uint32_t i = 0; i < n_attempts; i++) {
		struct jit_attempt a = { .ms = T0 + i / 2,
					 .proto = IPPROTO_TCP };
		uint64_t r = xorshift(&s);
		/* i times an odd number, mod 2^24: distinct for every i. */
		uint32_t host = (i * 0x9e3779b1u) & 0xffffff;

		if (r & 1) {
			a.src = test_host_v4(host);
		} else {
			a.src.family = AF_INET6;
			a.src.len = 128;
			a.src.addr[0] = 0xfd;
			memcpy(a.src.addr + 1, &r, sizeof(r));
			a.src.addr[13] = (uint8_t)(host >> 16);
			a.src.addr[14] = (uint8_t)(host >> 8);
			a.src.addr[15] = (uint8_t)host;
		}
		a.port = ports[(r >> 8) % ARRAY_SIZE(ports)];
		if (r & 2)
			a.proto = IPPROTO_UDP;
		snprintf(a.policy, sizeof(a.policy), "p%u", (unsigned)(r % 7));
		detect_attempt(d, &a);
		if (i % 4096 == 0 || i == n_attempts - 1) {
			size_t n = detect_tracked(d);

			if (n > *max_tracked)
				*max_tracked = n;
			n = heap_in_use();
			if (n > base && n - base > grew)
				grew = n - base;
		}
	}
	return grew;
}

/* Slow under valgrind; the limits are fixed, not timing. */
UNIT_CASE("flood", .timeout_s = 300);

UNIT_TEST("flood", test_flood)
{
	const size_t cap = DETECT_PAIRS + DETECT_PORTS + DETECT_SOURCES;
	struct jit_detect *d = detect_new(count_and_drop, NULL);
	struct jit_detect_limits quiet;
	size_t max_tracked, before, grew;

	ck_assert_ptr_nonnull(d);
	/* Warm up what jansson and libc set up on first use. */
	json_decref(json_pack("{s:{s:s}}", "a", "b", "c"));

	/*
	 * Default limits: alerts fire and the callback frees them. Tables
	 * that grew with the sources would take megabytes; allow only what
	 * malloc caches of the freed alerts.
	 */
	before = heap_in_use();
	grew = flood(d, 0x243f6a8885a308d3ull, FLOOD, &max_tracked);
	ck_assert_uint_le(max_tracked, cap);
	ck_assert_uint_le(detect_tracked(d), cap);
	ck_assert_uint_gt(detect_tracked(d), DETECT_PAIRS);
	ck_assert_uint_eq(detect_seen(d), FLOOD);
	ck_assert_uint_gt(detect_evicted(d), 0);
	ck_assert_uint_gt(flood_alerts, 0);
	ck_assert_msg(grew <= 16384, "heap grew by %zu bytes (from %zu)", grew,
		      before);
	detect_free(d);

	/* No detection fires: nothing is allocated at all, not even briefly. */
	d = detect_new(count_and_drop, NULL);
	ck_assert_ptr_nonnull(d);
	detect_limits_default(&quiet);
	quiet.repeated = quiet.sources = quiet.scan_ports = 0;
	detect_set_limits(d, &quiet);
	flood_alerts = 0;
	before = heap_in_use();
	grew = flood(d, 0x13198a2e03707344ull, FLOOD / 10, &max_tracked);
	ck_assert_uint_eq(flood_alerts, 0);
	ck_assert_msg(grew == 0 && heap_in_use() == before,
		      "heap grew by %zu bytes (from %zu) with no alert", grew,
		      before);
	ck_assert_uint_le(max_tracked, cap);
	ck_assert_uint_eq(detect_seen(d), FLOOD / 10);
	ck_assert_uint_gt(detect_evicted(d), 0);
	detect_free(d);
}
END_TEST

/* After a flood has churned the tables, a real attacker is still seen. */
UNIT_TEST("flood", test_flood_then_attack)
{
	struct jit_detect *d = new_detect();
	struct jit_detect_limits l;
	char src[48];

	detect_limits_default(&l);
	l.sources = 0; /* the flood itself would alert */
	detect_set_limits(d, &l);
	for (unsigned i = 0; i < 3 * DETECT_PAIRS; i++) {
		snprintf(src, sizeof(src), "10.%u.%u.%u", i >> 16,
			 (i >> 8) & 0xff, i & 0xff);
		attempt(d, T0 + i, src, IPPROTO_TCP, 22, "ssh");
	}
	ck_assert_uint_eq(n_recs, 0);
	ck_assert_uint_gt(detect_evicted(d), 0);
	for (unsigned i = 0; i < 10; i++)
		attempt(d, T0 + 10 * SEC + i, "192.0.2.66", IPPROTO_TCP, 22,
			"ssh");
	ck_assert_uint_eq(count_type(&alert_repeated_attempts), 1);
	ck_assert_uint_eq(last_of(&alert_repeated_attempts)->count, 10);
	detect_free(d);
}
END_TEST

/*
 * Entries are found by key through a map while the clock replaces them:
 * after every replacement each key still finds its own entry, and a key
 * whose entry was replaced starts over.
 */
UNIT_TEST("flood", test_evicted_keys)
{
	enum { N = 3 * DETECT_SOURCES };
	struct jit_detect *d = detect_new(count_and_drop, NULL);
	struct jit_detect_limits l;
	char src[48];

	ck_assert_ptr_nonnull(d);
	detect_limits_default(&l);
	l.repeated = 3;
	l.scan_ports = 2;
	l.sources = 0;
	detect_set_limits(d, &l);
	flood_alerts = 0;
	for (unsigned i = 0; i < N; i++) {
		uint64_t ms = T0 + i;

		snprintf(src, sizeof(src), "10.%u.%u.%u", i >> 16,
			 (i >> 8) & 0xff, i & 0xff);
		/* One repeated-attempts and one sweep alert per source. */
		attempt(d, ms, src, IPPROTO_TCP, 22, "ssh");
		attempt(d, ms, src, IPPROTO_TCP, 3389, "rdp");
		attempt(d, ms, src, IPPROTO_TCP, 22, "ssh");
		attempt(d, ms, src, IPPROTO_TCP, 22, "ssh");
		ck_assert_uint_eq(flood_alerts, 2 * (i + 1));
	}
	ck_assert_uint_gt(detect_evicted(d), 0);
	ck_assert_uint_le(detect_tracked(d), DETECT_PAIRS + DETECT_SOURCES);
	/* The first sources were replaced: one attempt each is a new count. */
	for (unsigned i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "10.0.%u.%u", i >> 8, i & 0xff);
		attempt(d, T0 + N + i, src, IPPROTO_TCP, 22, "ssh");
		attempt(d, T0 + N + i, src, IPPROTO_TCP, 22, "ssh");
	}
	ck_assert_uint_eq(flood_alerts, 2 * N);
	detect_free(d);
}
END_TEST

/* --- the alert objects -----------------------------------------------------
 */

static const char *const tactics[] = {
	"PreAttack",	  "InitialAccess",
	"Persistence",	  "PrivilegeEscalation",
	"DefenseEvasion", "CredentialAccess",
	"Discovery",	  "LateralMovement",
	"Execution",	  "Collection",
	"Exfiltration",	  "CommandAndControl",
	"Impact",
};

static const char *const severities[] = { "Informational", "Low", "Medium",
					  "High" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (streq(s, list[i]))
			return true;
	return false;
}

static void assert_match(const char *re_text, const char *s)
{
	regex_t re;

	ck_assert_int_eq(regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(s && regexec(&re, s, 0, NULL, 0) == 0,
		      "'%s' does not match %s", s ? s : "(null)", re_text);
	regfree(&re);
}

static void assert_def(const struct jit_alert_def *def)
{
	ck_assert_msg(in_list(def->intent, tactics, ARRAY_SIZE(tactics)),
		      "%s: intent '%s'", def->type, def->intent);
	ck_assert_msg(
		in_list(def->severity, severities, ARRAY_SIZE(severities)),
		"%s: severity '%s'", def->type, def->severity);
	ck_assert_ptr_nonnull(def->techniques[0]);
	for (size_t i = 0; def->techniques[i]; i++)
		assert_match("^T[0-9]{4}(\\.[0-9]{3})?$", def->techniques[i]);
	ck_assert_ptr_nonnull(def->remediation[0]);
	assert_match("^JIT_[A-Z_]+$", def->type);
	ck_assert_uint_gt(strlen(def->name), 10);
}

UNIT_TEST("alert", test_alert_defs)
{
	const struct jit_alert_def *all[] = {
		&alert_table_tampered,	     &alert_repeated_attempts,
		&alert_distributed_attempts, &alert_port_sweep,
		&alert_after_grant_end,	     &alert_wide_grant,
	};

	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		assert_def(all[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(all[i]->type, all[j]->type);
	}
}
END_TEST

#define UUID_RE                                                                \
	"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}" \
	"$"
#define ISO_RE \
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"

/* Build the alert of one recorded callback and check every key. */
static void check_alert(const struct rec *r, const char *const *needles)
{
	static const char *const keys[] = {
		"id",	      "alert_type", "display_name", "description",
		"intent",     "techniques", "severity",	    "entities",
		"first_seen", "last_seen",  "count",	    "remediation",
		"host",
	};
	char first[40], last[40], host[256] = "";
	json_t *a, *v;
	size_t i;

	a = alert_build(r->def, r->desc, json_incref(r->ent), r->first, r->last,
			r->count);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(json_object_size(a), ARRAY_SIZE(keys));
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		ck_assert_msg(json_object_get(a, keys[i]), "no key %s",
			      keys[i]);
	assert_match(UUID_RE, json_string_value(json_object_get(a, "id")));
	assert_json_str(a, "alert_type", r->def->type);
	assert_json_str(a, "display_name", r->def->name);
	assert_json_str(a, "description", r->desc);
	for (i = 0; needles[i]; i++)
		assert_contains(r->desc, needles[i]);
	ck_assert(in_list(json_string_value(json_object_get(a, "intent")),
			  tactics, ARRAY_SIZE(tactics)));
	ck_assert(in_list(json_string_value(json_object_get(a, "severity")),
			  severities, ARRAY_SIZE(severities)));
	v = json_object_get(a, "techniques");
	ck_assert(json_is_array(v));
	ck_assert_uint_gt(json_array_size(v), 0);
	for (i = 0; i < json_array_size(v); i++)
		assert_match("^T[0-9]{4}(\\.[0-9]{3})?$",
			     json_string_value(json_array_get(v, i)));
	ck_assert(json_equal(json_object_get(a, "entities"), r->ent));
	assert_match(ISO_RE,
		     json_string_value(json_object_get(a, "first_seen")));
	assert_match(ISO_RE,
		     json_string_value(json_object_get(a, "last_seen")));
	assert_json_str(a, "first_seen",
			iso_time(r->first, first, sizeof(first)));
	assert_json_str(a, "last_seen", iso_time(r->last, last, sizeof(last)));
	assert_json_int(a, "count", r->count);
	v = json_object_get(a, "remediation");
	ck_assert(json_is_array(v));
	ck_assert_uint_gt(json_array_size(v), 0);
	for (i = 0; i < json_array_size(v); i++)
		ck_assert_uint_gt(
			strlen(json_string_value(json_array_get(v, i))), 0);
	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	assert_json_str(a, "host", host);
	json_decref(a);
}

UNIT_TEST("alert", test_alert_json)
{
	struct jit_detect *d = new_detect();
	struct jit_request g =
		grant(12, "2001:db8:7::/48", JIT_PROTO_TCP, 22, 22);
	struct jit_request w = started(13, "198.51.0.0/16");
	static const char *const rep[] = { "198.51.100.7", "tcp/22", "10 times",
					   NULL };
	static const char *const dist[] = { "20 different sources", "tcp/22",
					    "203.0.113.19", NULL };
	static const char *const sweep[] = { "198.51.100.7", "tcp/3389",
					     "tcp/5985", "12 attempts", NULL };
	static const char *const after[] = { "2001:db8:7::9", "tcp/22",
					     "request 12", NULL };
	static const char *const wide[] = { "198.51.0.0/16", "Request 13",
					    NULL };
	char src[32];

	for (unsigned i = 0; i < 10; i++)
		attempt(d, T0 + i * 1234, "198.51.100.7", IPPROTO_TCP, 22,
			"ssh");
	for (unsigned i = 1; i <= 19; i++) {
		src_n(src, sizeof(src), i);
		attempt(d, T0 + 20 * SEC + i, src, IPPROTO_TCP, 22, "ssh");
	}
	attempt(d, T0 + 21 * SEC, "198.51.100.7", IPPROTO_TCP, 3389, "rdp");
	attempt(d, T0 + 22 * SEC, "198.51.100.7", IPPROTO_TCP, 5985, "winrm");
	detect_grant_ended(d, &g, T0);
	attempt(d, T0 + 23 * SEC, "2001:db8:7::9", IPPROTO_TCP, 22, "ssh");
	detect_grant_started(d, &w, T0 + 24 * SEC);

	ck_assert_uint_eq(n_recs, 5);
	check_alert(last_of(&alert_repeated_attempts), rep);
	ck_assert_uint_eq(last_of(&alert_repeated_attempts)->count, 10);
	check_alert(last_of(&alert_distributed_attempts), dist);
	check_alert(last_of(&alert_port_sweep), sweep);
	check_alert(last_of(&alert_after_grant_end), after);
	check_alert(last_of(&alert_wide_grant), wide);
	detect_free(d);
}
END_TEST

UNIT_TEST("alert", test_alert_build_fixed)
{
	char buf[40];
	json_t *a;
	static const char *const none[] = { NULL };
	struct rec r = { .def = &alert_table_tampered,
			 .desc = "Rules changed by 'nft' (pid 4242).",
			 .first = 0,
			 .last = T0 + 156,
			 .count = 3 };

	ck_assert_str_eq(iso_time(0, buf, sizeof(buf)),
			 "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(iso_time(T0 + 156, buf, sizeof(buf)),
			 "2023-11-14T22:13:20.156Z");
	ck_assert_str_eq(iso_time(951782400999ull, buf, sizeof(buf)),
			 "2000-02-29T00:00:00.999Z");
	r.ent = json_pack("{s:i}", "pid", 4242);
	check_alert(&r, none);
	json_decref(r.ent);

	/* No entities: an empty object, not null. */
	a = alert_build(&alert_wide_grant, "x", NULL, T0, T0, 1);
	ck_assert(json_is_object(json_object_get(a, "entities")));
	ck_assert_uint_eq(json_object_size(json_object_get(a, "entities")), 0);
	json_decref(a);

	/* Two alerts never share an id. */
	{
		json_t *b =
			alert_build(&alert_wide_grant, "x", NULL, T0, T0, 1);
		json_t *c =
			alert_build(&alert_wide_grant, "x", NULL, T0, T0, 1);

		ck_assert_str_ne(json_string_value(json_object_get(b, "id")),
				 json_string_value(json_object_get(c, "id")));
		json_decref(b);
		json_decref(c);
	}
}
END_TEST
