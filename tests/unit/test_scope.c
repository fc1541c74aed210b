/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface zones and the grants of interface-scoped policies, without
 * the kernel: zones never overlap and cover exactly what their patterns
 * match, a record's elements carry the names of its policy's zones and
 * only those, interval elements never overlap (the kernel would refuse
 * the batch), and a policy that changes its interfaces moves its records.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>

#include "diag.h"
#include "scope.h"
#include "util.h"
#include "runner.h"

static struct jit_policy_set *policies(const char *yaml)
{
	struct jit_policy_set *s = policy_set_new();
	struct jit_diag d;

	ck_assert_ptr_nonnull(s);
	diag_init(&d);
	ck_assert_msg(policy_set_load_text(s, "/p/test.yaml", yaml,
					   strlen(yaml), &d) == 0,
		      "%s", d.text ? d.text : "");
	diag_release(&d);
	return s;
}

static void name_key(const char *name, uint8_t out[IFNAMSIZ])
{
	memset(out, 0, IFNAMSIZ);
	memcpy(out, name, strlen(name));
}

/* The zones that hold the name, by index; -1 if none (at most one). */
static int zone_of_name(const struct jit_iface_zone *z, size_t n,
			const char *name)
{
	uint8_t k[IFNAMSIZ];
	int found = -1;

	name_key(name, k);
	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; r < z[i].n_ranges; r++)
			if (memcmp(z[i].ranges[r].lo, k, IFNAMSIZ) <= 0 &&
			    memcmp(k, z[i].ranges[r].hi, IFNAMSIZ) <= 0) {
				ck_assert_msg(found < 0, "'%s' is in two zones",
					      name);
				found = (int)i;
			}
	return found;
}

static bool zone_has_pattern(const struct jit_iface_zone *z, const char *p)
{
	for (size_t i = 0; i < z->n_patterns; i++)
		if (streq(z->patterns[i], p))
			return true;
	return false;
}

UNIT_TEST("zones", test_zones_split_overlapping_patterns)
{
	struct jit_policy_set *s = policies(
		"name: a\nports: [{port: 22}]\ninterfaces: [eth0]\n---\n"
		"name: b\nports: [{port: 22}]\ninterfaces: [\"eth*\", wg0]\n"
		"---\nname: c\nports: [{port: 23}]\n");
	struct jit_iface_zone *z = NULL;
	size_t n = 0;
	int e0, e1, eth, w, wg1;

	ck_assert_int_eq(ruleset_iface_zones(s, &z, &n), 0);
	/* eth* but eth0, eth0 (eth* and eth0), wg0 */
	ck_assert_uint_eq(n, 3);
	e0 = zone_of_name(z, n, "eth0");
	e1 = zone_of_name(z, n, "eth1");
	eth = zone_of_name(z, n, "eth");
	w = zone_of_name(z, n, "wg0");
	wg1 = zone_of_name(z, n, "wg1");
	ck_assert_int_ge(e0, 0);
	ck_assert_int_ge(e1, 0);
	ck_assert_int_ne(e0, e1);
	ck_assert_int_eq(eth, e1);
	ck_assert_int_eq(zone_of_name(z, n, "eth10"), e1);
	ck_assert_int_eq(zone_of_name(z, n, "eth00"), e1);
	ck_assert_int_ge(w, 0);
	ck_assert_int_eq(wg1, -1);
	ck_assert_int_eq(zone_of_name(z, n, "lo"), -1);
	ck_assert_int_eq(zone_of_name(z, n, "et"), -1);
	ck_assert(iface_zone_exact(&z[e0]));
	ck_assert(!iface_zone_exact(&z[e1]));
	ck_assert_uint_eq(z[e1].n_ranges, 2);
	ck_assert(iface_zone_exact(&z[w]));
	ck_assert(zone_has_pattern(&z[e0], "eth0") &&
		  zone_has_pattern(&z[e0], "eth*"));
	ck_assert(!zone_has_pattern(&z[e1], "eth0") &&
		  zone_has_pattern(&z[e1], "eth*"));
	/* a (eth0) holds on eth0 only; b on all three. */
	ck_assert(iface_zone_of_policy(&z[e0], policy_set_find(s, "a")));
	ck_assert(!iface_zone_of_policy(&z[e1], policy_set_find(s, "a")));
	ck_assert(iface_zone_of_policy(&z[e1], policy_set_find(s, "b")));
	ck_assert(iface_zone_of_policy(&z[w], policy_set_find(s, "b")));
	ruleset_iface_zones_free(z, n);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("zones", test_no_interfaces_no_zones)
{
	struct jit_policy_set *s = policies("name: c\nports: [{port: 23}]\n");
	struct jit_iface_zone *z = NULL;
	size_t n = 7;

	ck_assert_int_eq(ruleset_iface_zones(s, &z, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(z);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("zones", test_scope_equal)
{
	struct jit_policy_set *s = policies(
		"name: a\nports: [{port: 22}]\ninterfaces: [eth0, eth1]\n---\n"
		"name: b\nports: [{port: 22}]\ninterfaces: [eth1, eth0]\n---\n"
		"name: c\nports: [{port: 22}]\ninterfaces: [eth0]\n---\n"
		"name: d\nports: [{port: 23}]\n---\n"
		"name: e\nports: [{port: 24}]\n");
	const struct jit_policy *a = policy_set_find(s, "a"),
				*b = policy_set_find(s, "b"),
				*c = policy_set_find(s, "c"),
				*d = policy_set_find(s, "d"),
				*e = policy_set_find(s, "e");

	ck_assert(iface_scope_equal(a, b));
	ck_assert(!iface_scope_equal(a, c));
	ck_assert(!iface_scope_equal(c, d));
	ck_assert(iface_scope_equal(d, e));
	ck_assert(iface_scope_equal(d, NULL));
	ck_assert(!iface_scope_equal(NULL, c));
	policy_set_free(s);
}
END_TEST

/* ---- the covers of the zones ------------------------------------------- */

/* What the kernel would hold: the deltas applied in order. */
struct kernel {
	struct jit_elem *v;
	size_t n;
};

static bool same_key(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->iface == b->iface && a->interval == b->interval &&
	       a->family == b->family && a->proto == b->proto &&
	       !memcmp(a->addr_lo, b->addr_lo, 16) &&
	       !memcmp(a->addr_hi, b->addr_hi, 16) &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi &&
	       (!a->iface || (!memcmp(a->ifname_lo, b->ifname_lo, IFNAMSIZ) &&
			      !memcmp(a->ifname_hi, b->ifname_hi, IFNAMSIZ)));
}

/* Two interval elements of one set that share a point. */
static bool overlap(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->interval && b->interval && a->iface == b->iface &&
	       a->family == b->family && a->proto == b->proto &&
	       memcmp(a->addr_lo, b->addr_hi, 16) <= 0 &&
	       memcmp(b->addr_lo, a->addr_hi, 16) <= 0 &&
	       a->port_lo <= b->port_hi && b->port_lo <= a->port_hi &&
	       (!a->iface ||
		(memcmp(a->ifname_lo, b->ifname_hi, IFNAMSIZ) <= 0 &&
		 memcmp(b->ifname_lo, a->ifname_hi, IFNAMSIZ) <= 0));
}

static void apply(struct jit_scopes *sc, struct kernel *k)
{
	struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;

	ck_assert_int_eq(scopes_delta(sc, &del, &n_del, &add, &n_add), 0);
	for (size_t i = 0; i < n_del; i++) {
		size_t j;

		for (j = 0; j < k->n; j++)
			if (same_key(&k->v[j], &del[i]))
				break;
		ck_assert_msg(j < k->n, "deleting an element not there");
		k->v[j] = k->v[--k->n];
	}
	k->v = realloc(k->v, (k->n + n_add + 1) * sizeof(*k->v));
	ck_assert_ptr_nonnull(k->v);
	for (size_t i = 0; i < n_add; i++) {
		for (size_t j = 0; j < k->n; j++) {
			ck_assert_msg(!same_key(&k->v[j], &add[i]),
				      "adding an element twice");
			ck_assert_msg(!overlap(&k->v[j], &add[i]),
				      "the kernel would refuse an overlapping "
				      "interval");
		}
		k->v[k->n++] = add[i];
	}
	free(del);
	free(add);
	scopes_commit(sc);
	ck_assert_uint_eq(scopes_count(sc), k->n);
}

/* Does the kernel let addr in on name (NULL: in the sets for all)? */
static bool lets_in(const struct kernel *k, const char *name, const char *addr,
		    uint16_t port)
{
	uint8_t a[16] = { 0 }, nk[IFNAMSIZ];
	uint8_t family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(family, addr, a), 1);
	if (name)
		name_key(name, nk);
	for (size_t i = 0; i < k->n; i++) {
		const struct jit_elem *e = &k->v[i];

		if (e->family != family || e->proto != IPPROTO_TCP ||
		    memcmp(e->addr_lo, a, 16) > 0 ||
		    memcmp(a, e->addr_hi, 16) > 0 || e->port_lo > port ||
		    port > e->port_hi)
			continue;
		if (!e->iface)
			return true;
		if (name && memcmp(e->ifname_lo, nk, IFNAMSIZ) <= 0 &&
		    memcmp(nk, e->ifname_hi, IFNAMSIZ) <= 0)
			return true;
	}
	return false;
}

static struct jit_grant_key key(const char *source, uint16_t port)
{
	struct jit_grant_key k = { .protos = JIT_PROTO_TCP,
				   .port_lo = port,
				   .port_hi = port };

	ck_assert_int_eq(prefix_parse(source, &k.source), 0);
	return k;
}

static const char two_policies[] =
	"name: internal\nports: [{port: 2022}]\ninterfaces: [eth1]\n---\n"
	"name: external\nports: [{port: 2022}]\ninterfaces: [eth0]\n"
	"approval: manual\n---\n"
	"name: wild\nports: [{port: 2022}]\ninterfaces: [\"eth*\"]\n---\n"
	"name: all\nports: [{port: 2022}]\n";

UNIT_TEST("scopes", test_records_hold_on_their_zones)
{
	struct jit_policy_set *s = policies(two_policies);
	struct jit_scopes *sc = scopes_new();
	struct kernel k = { 0 };
	struct jit_grant_key h = key("192.0.2.7", 2022),
			     p = key("192.0.2.0/24", 2022),
			     h6 = key("2001:db8::7", 2022),
			     w = key("198.51.100.7", 2022),
			     wp = key("198.51.100.0/25", 2022),
			     a = key("203.0.113.7", 2022);
	uint64_t end = now_real_ms() + 60000;

	ck_assert_ptr_nonnull(sc);
	ck_assert_int_eq(scopes_rescope(sc, s, NULL), 0);
	ck_assert_int_eq(
		scopes_add(sc, policy_set_find(s, "internal"), 1, &h, end), 0);
	ck_assert_int_eq(
		scopes_add(sc, policy_set_find(s, "internal"), 2, &p, end), 0);
	ck_assert_int_eq(
		scopes_add(sc, policy_set_find(s, "internal"), 3, &h6, end), 0);
	ck_assert_int_eq(scopes_add(sc, policy_set_find(s, "wild"), 4, &w, end),
			 0);
	ck_assert_int_eq(
		scopes_add(sc, policy_set_find(s, "wild"), 5, &wp, end + 1), 0);
	/* The same host on eth1 alone and on every eth. */
	ck_assert_int_eq(
		scopes_add(sc, policy_set_find(s, "wild"), 6, &h, end + 5), 0);
	ck_assert_int_eq(scopes_add(sc, policy_set_find(s, "all"), 7, &a, end),
			 0);
	apply(sc, &k);

	ck_assert(lets_in(&k, "eth1", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth1", "192.0.2.200", 2022));
	ck_assert(lets_in(&k, "eth1", "2001:db8::7", 2022));
	ck_assert(!lets_in(&k, "eth0", "2001:db8::7", 2022));
	ck_assert(!lets_in(&k, "eth0", "192.0.2.200", 2022));
	ck_assert(!lets_in(&k, "wg0", "192.0.2.7", 2022));
	ck_assert(!lets_in(&k, NULL, "192.0.2.7", 2022));
	/* Record 6 holds on every eth name, exact or not. */
	ck_assert(lets_in(&k, "eth0", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth9", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth", "198.51.100.7", 2022));
	ck_assert(lets_in(&k, "eth0", "198.51.100.100", 2022));
	ck_assert(lets_in(&k, "eth1", "198.51.100.100", 2022));
	ck_assert(!lets_in(&k, "wlan0", "198.51.100.100", 2022));
	ck_assert(lets_in(&k, NULL, "203.0.113.7", 2022));
	for (size_t i = 0; i < k.n; i++)
		if (!memcmp(k.v[i].addr_lo, "\xcb\x00\x71\x07", 4))
			ck_assert(!k.v[i].iface);

	/* Ending record 6 leaves record 1 on eth1. */
	ck_assert_int_eq(scopes_del(sc, 6, &h), 0);
	apply(sc, &k);
	ck_assert(lets_in(&k, "eth1", "192.0.2.7", 2022));
	ck_assert(!lets_in(&k, "eth0", "192.0.2.7", 2022));
	ck_assert(!lets_in(&k, "eth9", "192.0.2.7", 2022));
	ck_assert_int_eq(scopes_del(sc, 6, &h), -ENOENT);

	/* A policy whose patterns the zones lack is refused, not opened
	 * everywhere. */
	{
		struct jit_policy_set *o =
			policies("name: other\nports: [{port: "
				 "22}]\ninterfaces: [wg0]\n");

		ck_assert_int_eq(
			scopes_add(sc, policy_set_find(o, "other"), 9, &a, end),
			-EINVAL);
		scopes_rollback(sc);
		policy_set_free(o);
	}
	free(k.v);
	scopes_free(sc);
	policy_set_free(s);
}
END_TEST

UNIT_TEST("scopes", test_rescope_moves_records)
{
	struct jit_policy_set *s = policies(two_policies);
	struct jit_scopes *sc = scopes_new();
	struct kernel k = { 0 };
	struct jit_grants *g = grants_new();
	struct jit_request t = { .duration_s = 60 }, *r;
	struct jit_diag d;
	struct jit_elem *all = NULL;
	size_t n_all = 0;
	static const char moved[] =
		"name: internal\nports: [{port: 2022}]\ninterfaces: [eth2]\n"
		"---\nname: external\nports: [{port: 2022}]\n"
		"interfaces: [eth0]\napproval: manual\n";

	ck_assert_int_eq(scopes_rescope(sc, s, g), 0);
	snprintf(t.policy, sizeof(t.policy), "internal");
	t.key = key("192.0.2.7", 2022);
	ck_assert_int_eq(grants_add(g, &t, now_real_ms(), &r), 0);
	grants_initiate(g, r, now_real_ms());
	ck_assert_int_eq(scopes_add(sc, policy_set_find(s, "internal"), r->id,
				    &r->key, r->end_ms),
			 0);
	t.key = key("192.0.2.0/28", 2022);
	ck_assert_int_eq(grants_add(g, &t, now_real_ms(), &r), 0);
	grants_initiate(g, r, now_real_ms());
	ck_assert_int_eq(scopes_add(sc, policy_set_find(s, "internal"), r->id,
				    &r->key, r->end_ms),
			 0);
	apply(sc, &k);
	ck_assert(lets_in(&k, "eth1", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth1", "192.0.2.9", 2022));

	/* Nothing changed: nothing moves. */
	ck_assert_int_eq(scopes_rescope(sc, s, g), 0);
	{
		struct jit_elem *del = NULL, *add = NULL;
		size_t n_del = 9, n_add = 9;

		ck_assert_int_eq(scopes_delta(sc, &del, &n_del, &add, &n_add),
				 0);
		ck_assert_uint_eq(n_del, 0);
		ck_assert_uint_eq(n_add, 0);
		scopes_commit(sc);
	}

	/* internal moves from eth1 to eth2. */
	diag_init(&d);
	ck_assert_int_eq(policy_set_load_text(s, "/p/test.yaml", moved,
					      strlen(moved), &d),
			 0);
	diag_release(&d);
	ck_assert_int_eq(scopes_rescope(sc, s, g), 0);
	apply(sc, &k);
	ck_assert(!lets_in(&k, "eth1", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth2", "192.0.2.7", 2022));
	ck_assert(lets_in(&k, "eth2", "192.0.2.9", 2022));
	ck_assert(!lets_in(&k, "eth0", "192.0.2.9", 2022));

	/* internal for every interface: the sets without names. */
	{
		static const char everywhere[] =
			"name: internal\nports: [{port: 2022}]\n";

		diag_init(&d);
		ck_assert_int_eq(policy_set_load_text(s, "/p/test.yaml",
						      everywhere,
						      strlen(everywhere), &d),
				 0);
		diag_release(&d);
	}
	ck_assert_int_eq(scopes_rescope(sc, s, g), 0);
	apply(sc, &k);
	ck_assert(lets_in(&k, NULL, "192.0.2.7", 2022));
	for (size_t i = 0; i < k.n; i++)
		ck_assert(!k.v[i].iface);
	ck_assert_int_eq(scopes_elements(sc, &all, &n_all), 0);
	ck_assert_uint_eq(n_all, k.n);
	free(all);
	free(k.v);
	grants_free(g);
	scopes_free(sc);
	policy_set_free(s);
}
END_TEST
