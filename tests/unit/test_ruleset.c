/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ruleset compiler, without the kernel. Golden tests: every
 * tests/golden/ruleset/NAME.yaml is loaded into a policy set, compiled, and
 * its canonical text must equal NAME.out byte for byte. UPDATE_GOLDEN=1
 * rewrites the .out files; review the diff before committing it. The
 * invariants the kernel relies on (disjoint, merged, sorted) are checked
 * on every golden case as well.
 */
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>

#include "golden.h"
#include "ruleset.h"
#include "util.h"
#include "runner.h"

#define RULESET_GOLDEN_DIR GOLDEN_DIR "/ruleset"

static struct golden_set golden = { .dir = RULESET_GOLDEN_DIR,
				    .suffix = ".yaml" };

/* A set holding the one golden file name (in the golden directory). */
static struct jit_policy_set *load(const char *name)
{
	struct jit_policy_set *s = policy_set_new();
	_cleanup_free_ char *path = NULL;
	struct jit_diag d;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_ge(asprintf(&path, "%s/%s", RULESET_GOLDEN_DIR, name), 0);
	diag_init(&d);
	ck_assert_msg(policy_set_load_file(s, path, &d) == 0,
		      "%s should load:\n%s", name, d.text ? d.text : "");
	ck_assert_ptr_null(d.text);
	diag_release(&d);
	ck_assert_uint_gt(policy_set_count(s), 0);
	return s;
}

static struct jit_ruleset *compile(const struct jit_policy_set *s)
{
	struct jit_ruleset *r = NULL;

	ck_assert_int_eq(ruleset_compile(s, &r), 0);
	ck_assert_ptr_nonnull(r);
	return r;
}

static char *print(const struct jit_ruleset *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	ruleset_print(r, out);
	ck_assert_int_eq(fclose(out), 0);
	return text;
}

/* "eth*" covers "eth0" and "eth*"; "" (all) is in another map. */
static bool pattern_covers(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la && a[la - 1] == '*')
		return strncmp(a, b, la - 1) == 0;
	return streq(a, b);
}

/* What the kernel needs from the maps, whatever the policies were. */
static void check_invariants(const char *name, const struct jit_ruleset *r)
{
	for (size_t i = 0; i < r->n_protected; i++) {
		const struct jit_protected *p = &r->protected[i];

		ck_assert_msg(p->proto == IPPROTO_TCP ||
				      p->proto == IPPROTO_UDP,
			      "%s: protected %zu proto %u", name, i, p->proto);
		ck_assert_msg(p->lo >= 1 && p->lo <= p->hi, "%s: protected %zu",
			      name, i);
		if (!i)
			continue;
		/* Sorted, disjoint, and adjacent ranges merged. */
		ck_assert_msg(
			r->protected[i - 1].proto < p->proto ||
				(r->protected[i - 1].proto == p->proto &&
				 (uint32_t)r->protected[i - 1].hi + 1 < p->lo),
			"%s: protected %zu not sorted or not merged", name, i);
	}

	for (size_t i = 0; i < r->n_deny; i++) {
		const struct jit_deny *x = &r->deny[i];
		bool inside = false;

		ck_assert_msg(x->lo >= 1 && x->lo <= x->hi, "%s: deny %zu",
			      name, i);
		ck_assert_msg(x->action == JIT_ACTION_DROP ||
				      x->action == JIT_ACTION_REJECT,
			      "%s: deny %zu action", name, i);
		for (size_t k = 0; k < r->n_protected && !inside; k++)
			inside = r->protected[k].proto == x->proto &&
				 r->protected[k].lo <= x->lo &&
				 x->hi <= r->protected[k].hi;
		ck_assert_msg(inside, "%s: deny %zu outside protected", name,
			      i);
		for (size_t j = 0; j < i; j++) {
			const struct jit_deny *y = &r->deny[j];
			bool same_map = !x->iface[0] == !y->iface[0];

			if (x->proto != y->proto || x->hi < y->lo ||
			    y->hi < x->lo || !same_map)
				continue;
			/* Overlapping ports: the interfaces must not meet. */
			ck_assert_msg(
				x->iface[0] &&
					!pattern_covers(x->iface, y->iface) &&
					!pattern_covers(y->iface, x->iface),
				"%s: deny %zu and %zu overlap", name, j, i);
		}
		/* Displayed by protocol, then port. */
		if (i)
			ck_assert_msg(
				r->deny[i - 1].proto < x->proto ||
					(r->deny[i - 1].proto == x->proto &&
					 r->deny[i - 1].lo <= x->lo),
				"%s: deny %zu out of order", name, i);
	}

	/* Every protected port is denied somewhere: walk each range. */
	for (size_t k = 0; k < r->n_protected; k++) {
		const struct jit_protected *p = &r->protected[k];
		uint32_t port = p->lo;

		while (port <= p->hi) {
			uint32_t next = port;

			for (size_t i = 0; i < r->n_deny; i++)
				if (r->deny[i].proto == p->proto &&
				    r->deny[i].lo <= port &&
				    port <= r->deny[i].hi &&
				    (uint32_t)r->deny[i].hi + 1 > next)
					next = (uint32_t)r->deny[i].hi + 1;
			ck_assert_msg(next > port,
				      "%s: %u/%u protected, not denied", name,
				      p->proto, port);
			port = next;
		}
	}

	/*
	 * Grant zones: no two name ranges meet (the kernel refuses
	 * overlapping intervals); the ranges of a zone that lists a pattern
	 * lie inside the pattern's names, those of the other zones outside.
	 */
	for (size_t i = 0; i < r->n_zones; i++) {
		const struct jit_iface_zone *z = &r->zones[i];

		ck_assert_msg(z->n_ranges && z->n_patterns, "%s: zone %zu",
			      name, i);
		for (size_t k = 0; k < z->n_ranges; k++) {
			const struct jit_ifrange *x = &z->ranges[k];

			ck_assert_msg(memcmp(x->lo, x->hi, IFNAMSIZ) <= 0,
				      "%s: zone %zu range %zu", name, i, k);
			for (size_t j = 0; j <= i; j++)
				for (size_t m = 0;
				     m < (j == i ? k : r->zones[j].n_ranges);
				     m++) {
					const struct jit_ifrange *y =
						&r->zones[j].ranges[m];

					ck_assert_msg(
						memcmp(x->hi, y->lo, IFNAMSIZ) <
								0 ||
							memcmp(y->hi, x->lo,
							       IFNAMSIZ) < 0,
						"%s: zones %zu and %zu meet",
						name, j, i);
				}
		}
		for (size_t q = 0; q < z->n_patterns; q++) {
			const char *pat = z->patterns[q];
			size_t n = strlen(pat);
			uint8_t lo[IFNAMSIZ] = { 0 }, hi[IFNAMSIZ] = { 0 };

			memcpy(lo, pat, n - (pat[n - 1] == '*'));
			memcpy(hi, lo, IFNAMSIZ);
			if (pat[n - 1] == '*')
				memset(hi + n - 1, 0xff, IFNAMSIZ - (n - 1));
			for (size_t j = 0; j < r->n_zones; j++) {
				bool listed = false;

				for (size_t t = 0; t < r->zones[j].n_patterns;
				     t++)
					listed = listed ||
						 streq(r->zones[j].patterns[t],
						       pat);
				for (size_t m = 0; m < r->zones[j].n_ranges;
				     m++) {
					const struct jit_ifrange *y =
						&r->zones[j].ranges[m];
					bool in = memcmp(lo, y->lo, IFNAMSIZ) <=
							  0 &&
						  memcmp(y->hi, hi, IFNAMSIZ) <=
							  0;
					bool out =
						memcmp(y->hi, lo, IFNAMSIZ) <
							0 ||
						memcmp(hi, y->lo, IFNAMSIZ) < 0;

					ck_assert_msg(
						listed ? in : out,
						"%s: pattern %s and zone %zu",
						name, pat, j);
				}
			}
		}
	}
}

UNIT_LOOP_TEST("golden", test_golden, golden_count(&golden))
{
	const char *name = golden.names[_i];
	_cleanup_free_ char *actual = NULL,
			    *base = strndup(name, strlen(name) - 5);
	struct jit_policy_set *s;
	struct jit_ruleset *r;

	s = load(name);
	r = compile(s);
	actual = print(r);
	check_invariants(name, r);

	golden_compare(RULESET_GOLDEN_DIR, base, actual);

	/* Compiling is deterministic. */
	{
		struct jit_ruleset *again = compile(s);
		_cleanup_free_ char *text = print(again);

		ck_assert_str_eq(text, actual);
		ruleset_free(again);
	}
	ruleset_free(r);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("golden", test_golden_count)
{
	/* Guards against a golden directory that silently went missing. */
	ck_assert_uint_ge(golden_count(&golden), 10);
}
END_TEST

/* --- direct checks -------------------------------------------------------- */

UNIT_TEST("compile", test_empty)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_ruleset *r = compile(s);
	_cleanup_free_ char *text = print(r);

	ck_assert_uint_eq(r->n_protected, 0);
	ck_assert_uint_eq(r->n_deny, 0);
	ck_assert_str_eq(text, "");
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 22));
	ck_assert(!ruleset_protects(r, IPPROTO_UDP, 1));
	ck_assert_ptr_null(ruleset_free(r));
	ck_assert_ptr_null(ruleset_free(NULL));
	policy_set_free(s);
}
END_TEST

UNIT_TEST("compile", test_empty_after_remove)
{
	struct jit_policy_set *s = load("single-port.yaml");
	struct jit_ruleset *r = compile(s);
	_cleanup_free_ char *path = NULL, *text = NULL;

	ck_assert(ruleset_protects(r, IPPROTO_TCP, 22));
	ruleset_free(r);

	/* Removing the file lifts its deny. */
	ck_assert_int_ge(
		asprintf(&path, "%s/single-port.yaml", RULESET_GOLDEN_DIR), 0);
	ck_assert_int_eq(policy_set_remove_file(s, path), 0);
	ck_assert_uint_eq(policy_set_count(s), 0);
	r = compile(s);
	text = print(r);
	ck_assert_str_eq(text, "");
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 22));
	ruleset_free(r);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("compile", test_protects)
{
	struct jit_policy_set *s = load("overlap-split.yaml");
	struct jit_ruleset *r = compile(s);

	/* tcp/5985-5990 and udp/5985-5986. */
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 5984));
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 5985));
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 5987));
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 5990));
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 5991));
	ck_assert(ruleset_protects(r, IPPROTO_UDP, 5985));
	ck_assert(ruleset_protects(r, IPPROTO_UDP, 5986));
	ck_assert(!ruleset_protects(r, IPPROTO_UDP, 5987));
	ck_assert(!ruleset_protects(r, IPPROTO_UDP, 5984));
	ck_assert(!ruleset_protects(r, IPPROTO_SCTP, 5985));
	ck_assert(!ruleset_protects(r, IPPROTO_ICMP, 5985));
	ruleset_free(r);
	policy_set_free(s);

	/* Interface policies protect their ports too. */
	s = load("interfaces.yaml");
	r = compile(s);
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 22));
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 3389));
	ck_assert(!ruleset_protects(r, IPPROTO_UDP, 3389));
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 23));
	ruleset_free(r);
	policy_set_free(s);

	/* The edges of the port space. */
	s = load("full-range.yaml");
	r = compile(s);
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 1));
	ck_assert(ruleset_protects(r, IPPROTO_TCP, 65535));
	ck_assert(ruleset_protects(r, IPPROTO_UDP, 65535));
	ck_assert(!ruleset_protects(r, IPPROTO_TCP, 0));
	ck_assert(!ruleset_protects(r, IPPROTO_UDP, 0));
	ruleset_free(r);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("compile", test_struct)
{
	struct jit_policy_set *s = load("global-subsumes.yaml");
	struct jit_ruleset *r = compile(s);

	/* What table_commit turns into map elements, field by field. */
	ck_assert_uint_eq(r->n_protected, 2);
	ck_assert_uint_eq(r->protected[0].proto, IPPROTO_TCP);
	ck_assert_uint_eq(r->protected[0].lo, 22);
	ck_assert_uint_eq(r->protected[0].hi, 24);
	ck_assert_uint_eq(r->protected[1].lo, 443);
	ck_assert_uint_eq(r->protected[1].hi, 443);
	ck_assert_uint_eq(r->n_deny, 4);
	/* All interfaces is the empty name, for the global map. */
	ck_assert_str_eq(r->deny[0].iface, "");
	ck_assert_uint_eq(r->deny[0].lo, 22);
	ck_assert_uint_eq(r->deny[0].hi, 22);
	ck_assert_int_eq(r->deny[0].action, JIT_ACTION_REJECT);
	ck_assert_str_eq(r->deny[1].iface, "eth0");
	ck_assert_uint_eq(r->deny[1].lo, 23);
	ck_assert_uint_eq(r->deny[1].hi, 24);
	ck_assert_int_eq(r->deny[1].action, JIT_ACTION_REJECT);
	ck_assert_str_eq(r->deny[2].iface, "wg0");
	ck_assert_uint_eq(r->deny[2].lo, 24);
	ck_assert_int_eq(r->deny[2].action, JIT_ACTION_DROP);
	ck_assert_str_eq(r->deny[3].iface, "");
	ck_assert_uint_eq(r->deny[3].lo, 443);
	ck_assert_int_eq(r->deny[3].action, JIT_ACTION_DROP);
	ruleset_free(r);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("compile", test_two_files)
{
	struct jit_policy_set *s = policy_set_new();
	_cleanup_free_ char *a = NULL, *b = NULL, *text = NULL;
	struct jit_ruleset *r;
	struct jit_diag d;

	/* Policies from several files compile as one set. */
	ck_assert_int_ge(asprintf(&a, "%s/hole-punch.yaml", RULESET_GOLDEN_DIR),
			 0);
	ck_assert_int_ge(
		asprintf(&b, "%s/any-protocol.yaml", RULESET_GOLDEN_DIR), 0);
	diag_init(&d);
	ck_assert_int_eq(policy_set_load_file(s, a, &d), 0);
	ck_assert_int_eq(policy_set_load_file(s, b, &d), 0);
	ck_assert_ptr_null(d.text);
	r = compile(s);
	text = print(r);
	ck_assert_str_eq(text, "protected tcp/22\n"
			       "protected tcp/53\n"
			       "protected tcp/1000-2000\n"
			       "protected udp/53\n"
			       "protected udp/161\n"
			       "deny tcp/22 on * drop\n"
			       "deny tcp/53 on * drop\n"
			       "deny tcp/1000-1499 on * reject\n"
			       "deny tcp/1500 on * drop\n"
			       "deny tcp/1501-2000 on * reject\n"
			       "deny udp/53 on * drop\n"
			       "deny udp/161 on * drop\n");
	ruleset_free(r);
	policy_set_free(s);
}
END_TEST
