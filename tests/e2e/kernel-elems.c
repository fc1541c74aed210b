/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Property test of the grant sets against the real kernel (run it in a
 * network namespace of its own): random records, hosts and prefixes of
 * every length, v4 and v6, overlapping at will, go through cover.c into
 * the kernel, first in one full commit and then as many small deltas; after
 * each step the kernel's elements, read back through table_dump_elems,
 * must be exactly what cover.c says it applied, with the same ends. This
 * is the path a restart after a crash reads the kernel through. Each
 * record is under one of a few policies: for every interface, for
 * interface names, or for patterns that overlap them (scope.h), so the
 * interface-scoped sets are read back too, and the kernel would refuse
 * any two of their intervals that overlap.
 *
 *   kernel-elems TABLE SEED STEPS
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>

#include "cover.h"
#include "diag.h"
#include "scope.h"
#include "ruleset.h"
#include "table.h"
#include "util.h"

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static struct jit_grant_key random_key(void)
{
	struct jit_grant_key k = { 0 };
	bool v4 = rnd() % 2;
	unsigned max = v4 ? 32 : 128, len;
	uint16_t lo;

	k.source.family = v4 ? AF_INET : AF_INET6;
	/* Mostly hosts and long prefixes, but every length occurs. */
	switch (rnd() % 4) {
	case 0:
		len = max;
		break;
	case 1:
		len = max - rnd() % 8;
		break;
	default:
		len = rnd() % (max + 1);
		break;
	}
	if (v4) {
		/* 192.0.2.0/24 mostly, so that records overlap. */
		uint32_t a = 0xc0000200u | (rnd() % 16);

		if (rnd() % 8 == 0)
			a = rnd();
		a = htonl(a);
		memcpy(k.source.addr, &a, 4);
	} else {
		static const uint8_t base[16] = { 0x20, 0x01, 0x0d, 0xb8 };

		memcpy(k.source.addr, base, 16);
		k.source.addr[15] = (uint8_t)(rnd() % 16);
		if (rnd() % 8 == 0)
			for (int i = 4; i < 16; i++)
				k.source.addr[i] = (uint8_t)rnd();
	}
	k.source.len = (uint8_t)len;
	/* Clear the host bits. */
	for (unsigned bit = len; bit < max; bit++)
		k.source.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	k.protos = 1 + rnd() % 3;
	lo = (uint16_t)(20 + rnd() % 10);
	k.port_lo = lo;
	k.port_hi = (uint16_t)(lo + (rnd() % 3 ? rnd() % 3 : rnd() % 30));
	return k;
}

static int elem_cmp(const void *a, const void *b)
{
	const struct jit_elem *x = a, *y = b;
	int c;

	if (x->iface != y->iface)
		return x->iface ? 1 : -1;
	c = memcmp(x->ifname_lo, y->ifname_lo, IFNAMSIZ);
	if (x->iface && c)
		return c;
	c = memcmp(x->ifname_hi, y->ifname_hi, IFNAMSIZ);
	if (x->iface && c)
		return c;
	if (x->interval != y->interval)
		return x->interval ? 1 : -1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	c = memcmp(x->addr_lo, y->addr_lo, 16);
	if (c)
		return c;
	c = memcmp(x->addr_hi, y->addr_hi, 16);
	if (c)
		return c;
	if (x->port_lo != y->port_lo)
		return x->port_lo < y->port_lo ? -1 : 1;
	return x->port_hi < y->port_hi ? -1 : x->port_hi > y->port_hi;
}

static void print_elem(const char *what, const struct jit_elem *e)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];

	inet_ntop(e->family, e->addr_lo, lo, sizeof(lo));
	inet_ntop(e->family, e->addr_hi, hi, sizeof(hi));
	fprintf(stderr,
		"  %s %s %s-%s proto %u ports %u-%u on %.16s-%.16s end %" PRIu64
		"\n",
		what, e->interval ? "interval" : "host", lo, hi, e->proto,
		e->port_lo, e->port_hi,
		e->iface ? (const char *)e->ifname_lo : "*",
		e->iface ? (const char *)e->ifname_hi : "*", e->end_ms);
}

/* The kernel's elements must be exactly the cover's. */
static int compare(struct jit_table *t, struct jit_scopes *c, unsigned step)
{
	_cleanup_free_ struct jit_elem *want = NULL, *got = NULL;
	size_t n_want = 0, bad = 0;
	uint64_t now = now_real_ms();
	int n_got;

	if (scopes_elements(c, &want, &n_want) < 0)
		return -1;
	n_got = table_dump_elems(t, now, &got);
	if (n_got < 0) {
		fprintf(stderr, "dump: %s\n", strerror(-n_got));
		return -1;
	}
	qsort(want, n_want, sizeof(*want), elem_cmp);
	qsort(got, (size_t)n_got, sizeof(*got), elem_cmp);
	for (size_t i = 0, j = 0; i < n_want || j < (size_t)n_got;) {
		int cmp = i == n_want	       ? 1
			  : j == (size_t)n_got ? -1
					       : elem_cmp(&want[i], &got[j]);

		if (cmp < 0) {
			print_elem("missing from the kernel:", &want[i++]);
			bad++;
		} else if (cmp > 0) {
			print_elem("only in the kernel:", &got[j++]);
			bad++;
		} else {
			/* Ends are sent as timeouts and come back in ticks. */
			uint64_t a = want[i].end_ms, b = got[j].end_ms;

			if ((a > b ? a - b : b - a) > 1500) {
				print_elem("wrong end, want:", &want[i]);
				print_elem("             got:", &got[j]);
				bad++;
			}
			i++;
			j++;
		}
	}
	if (bad) {
		fprintf(stderr,
			"step %u: %zu element(s) differ (%zu expected)\n", step,
			bad, n_want);
		return -1;
	}
	return (int)n_want;
}

/* An element this close to its record's end is kept (table.c). */
#define KEPT_END_MS 1000

/* More than one transaction of table.c's preload holds (4,096). */
#define RESTORE_N 10000

static struct jit_grant_key host_key(unsigned i)
{
	struct jit_grant_key k = { 0 };
	uint32_t a = htonl((i % 2 ? 0xc6336400u : 0xcb007100u) |
			   ((i / 2) % 256)); /* 198.51.100.x, 203.0.113.x */

	k.source.family = AF_INET;
	k.source.len = 32;
	memcpy(k.source.addr, &a, 4);
	k.protos = 1; /* tcp */
	k.port_lo = k.port_hi = (uint16_t)(10000 + i / 512);
	return k;
}

/* A full commit of the records, then the kernel compared with them. */
static int commit_all(struct jit_table *t, struct jit_ruleset *rs,
		      struct jit_scopes *c, unsigned step)
{
	_cleanup_free_ struct jit_elem *all = NULL;
	size_t n = 0;
	char err[512] = "";

	if (scopes_elements(c, &all, &n) < 0 ||
	    table_commit_all(t, rs, NULL, 0, all, n, now_real_ms(), err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "full commit %u: %s\n", step, err);
		return -1;
	}
	return compare(t, c, step);
}

/*
 * The policy of restored record i: every eighth is under a policy for
 * interface names, so that their sets are restored too (hosts in the hash
 * sets, every other one a /28 in the interval sets); one in 256 under a
 * pattern ("eth*", "e*"), whose zones of name ranges cost the kernel's
 * interval sets many entries per element (a few thousand of them take
 * minutes); the rest hold on every interface.
 */
static const struct jit_policy *restore_policy(const struct jit_policy_set *ps,
					       unsigned i)
{
	static const char *const names[] = { "one", "two" };
	static const char *const patterns[] = { "wild", "wider" };

	if (i % 256 == 0)
		return policy_set_find(ps, patterns[(i / 256) % 2]);
	if (i % 8 == 0)
		return policy_set_find(ps, names[(i / 8) % 2]);
	return policy_set_find(ps, "all");
}

static struct jit_grant_key restore_key(unsigned i)
{
	struct jit_grant_key k = host_key(i);

	if (i % 256 && i % 16 == 8) {
		k.source.len = 28;
		k.source.addr[3] &= 0xf0;
	}
	return k;
}

/*
 * A start with no table (the elements go in over several transactions),
 * then one with the table in place after a third of the records changed:
 * some ended, some new, some with another end. Each time the kernel must
 * hold exactly the records' elements.
 */
static int restore_phase(struct jit_table **tp, const char *name,
			 struct jit_ruleset *rs,
			 const struct jit_policy_set *ps)
{
	struct jit_table *t = *tp;
	struct jit_scopes *c = scopes_new();
	const struct table_sync_stats *st;
	uint64_t now = now_real_ms();
	char err[512];
	int r = 0;

	if (!c || scopes_rescope(c, ps, NULL) < 0)
		return -1;
	(void)table_remove(t, err, sizeof(err));
	for (unsigned i = 0; i < RESTORE_N && r >= 0; i++) {
		struct jit_grant_key k = restore_key(i);

		r = scopes_add(c, restore_policy(ps, i), i + 1, &k,
			       now + 600000 + i);
	}
	scopes_commit(c);
	if (r < 0 || commit_all(t, rs, c, 1000) < 0)
		goto fail;
	for (unsigned i = 0; i < RESTORE_N && r >= 0; i += 3) {
		struct jit_grant_key k = restore_key(i);

		r = scopes_del(c, i + 1, &k);
		if (r >= 0 && i % 2)
			r = scopes_add(c, restore_policy(ps, i),
				       i + 1 + RESTORE_N, &k,
				       now + 1200000 + i);
	}
	for (unsigned i = RESTORE_N; i < RESTORE_N + RESTORE_N / 2 && r >= 0;
	     i++) {
		struct jit_grant_key k = restore_key(i);

		r = scopes_add(c, restore_policy(ps, i), i + 1 + 2 * RESTORE_N,
			       &k, now + 900000);
	}
	scopes_commit(c);
	if (r < 0 || commit_all(t, rs, c, 1001) < 0)
		goto fail;
	/*
	 * The agent stops (the table stays, with no owner) and starts
	 * again; another process adds an element after the new start read
	 * the sets and before its commit: the commit is for the generation
	 * read, the kernel refuses it, and the sets are replaced whole,
	 * without the element.
	 */
	table_close(*tp);
	if (table_open(name, true, tp) < 0)
		goto fail;
	t = *tp;
	{
		_cleanup_free_ struct jit_elem *seen = NULL;
		char cmd[256];

		if (table_dump_elems(t, now_real_ms(), &seen) < 0)
			goto fail;
		snprintf(cmd, sizeof(cmd),
			 "nft add element inet %s grants_v4 "
			 "'{ 203.0.113.250 . tcp . 9 timeout 1h }'",
			 table_name(t));
		if (system(cmd) != 0) {
			fprintf(stderr, "%s failed\n", cmd);
			goto fail;
		}
		if (commit_all(t, rs, c, 1002) < 0)
			goto fail;
	}
	/*
	 * A restart with nothing changed: every element, of the sets keyed
	 * by interface too, is found as it is and left alone. Only one whose
	 * end the kernel set more than a second late (it starts the timeout
	 * when it gets to the element, and a large transaction takes time)
	 * is added again with its record's end; the view read here is the
	 * one the commit compares with.
	 */
	table_close(*tp);
	if (table_open(name, true, tp) < 0)
		goto fail;
	t = *tp;
	{
		_cleanup_free_ struct jit_elem *want = NULL, *got = NULL;
		size_t n_want = 0, late = 0;
		int n_got = table_dump_elems(t, now_real_ms(), &got);

		if (n_got < 0 || scopes_elements(c, &want, &n_want) < 0)
			goto fail;
		qsort(want, n_want, sizeof(*want), elem_cmp);
		qsort(got, (size_t)n_got, sizeof(*got), elem_cmp);
		for (size_t i = 0, j = 0; i < n_want && j < (size_t)n_got;) {
			int cmp = elem_cmp(&want[i], &got[j]);

			if (cmp == 0 &&
			    (got[j].end_ms > want[i].end_ms
				     ? got[j].end_ms - want[i].end_ms
				     : want[i].end_ms - got[j].end_ms) >
				    KEPT_END_MS)
				late++;
			i += cmp <= 0;
			j += cmp >= 0;
		}
		if ((size_t)n_got != n_want || commit_all(t, rs, c, 1003) < 0)
			goto fail;
		st = table_last_sync(t);
		if (st->whole || st->added != late || st->removed != late ||
		    st->kept != n_want - late) {
			fprintf(stderr,
				"restart with nothing changed: %zu kept, %zu "
				"added, %zu removed%s; want %zu kept, %zu "
				"ends set again\n",
				st->kept, st->added, st->removed,
				st->whole ? ", sets filled whole" : "",
				n_want - late, late);
			goto fail;
		}
	}
	scopes_free(c);
	return 0;
fail:
	scopes_free(c);
	return -1;
}

int main(int argc, char **argv)
{
	struct jit_table *t = NULL;
	struct jit_ruleset *rs = NULL;
	static const char policies[] =
		"name: all\nports: [{port: 20-59}]\n---\n"
		"name: one\nports: [{port: 20-59}]\ninterfaces: [eth0]\n---\n"
		"name: two\nports: [{port: 20-59}]\ninterfaces: [eth1, wg0]\n"
		"---\n"
		"name: wild\nports: [{port: 20-59}]\ninterfaces: [\"eth*\"]\n"
		"---\n"
		"name: wider\nports: [{port: 20-59}]\n"
		"interfaces: [\"e*\", eth1]\n";
	struct jit_policy_set *ps = policy_set_new();
	struct jit_scopes *c = scopes_new();
	struct jit_diag diag;
	struct {
		uint64_t id;
		struct jit_grant_key k;
		const struct jit_policy *p;
	} live[400];
	size_t n_live = 0, max_elems = 0;
	uint64_t next_id = 1, now = now_real_ms();
	unsigned steps;
	char err[512];
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: kernel-elems TABLE SEED STEPS\n");
		return 2;
	}
	rng_state = (strtoull(argv[2], NULL, 10) + 1) * 0x9e3779b97f4a7c15ull;
	steps = (unsigned)atoi(argv[3]);
	diag_init(&diag);
	if (!ps || !c ||
	    policy_set_load_text(ps, "/p/test.yaml", policies, strlen(policies),
				 &diag) < 0 ||
	    scopes_rescope(c, ps, NULL) < 0 ||
	    table_open(argv[1], true, &t) < 0 || ruleset_compile(ps, &rs) < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	/* One full commit of a first batch of records. */
	for (; n_live < 150; n_live++) {
		live[n_live].id = next_id++;
		live[n_live].k = random_key();
		live[n_live].p =
			policy_set_get(ps, rnd() % policy_set_count(ps));
		r = scopes_add(c, live[n_live].p, live[n_live].id,
			       &live[n_live].k, now + 600000 + rnd() % 3000000);
		if (r < 0) {
			fprintf(stderr, "cover_add: %s\n", strerror(-r));
			return 1;
		}
	}
	scopes_commit(c);
	{
		_cleanup_free_ struct jit_elem *all = NULL;
		size_t n = 0;

		if (scopes_elements(c, &all, &n) < 0 ||
		    table_commit_all(t, rs, NULL, 0, all, n, now_real_ms(), err,
				     sizeof(err)) < 0) {
			fprintf(stderr, "full commit: %s\n", err);
			return 1;
		}
	}
	r = compare(t, c, 0);
	if (r < 0)
		return 1;
	/* Then small changes, as grants and revokes make them. */
	for (unsigned step = 1; step <= steps; step++) {
		_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
		size_t n_del = 0, n_add = 0;
		unsigned ops = 1 + rnd() % 3;

		for (unsigned o = 0; o < ops; o++) {
			if (n_live &&
			    (n_live == ARRAY_SIZE(live) || rnd() % 2)) {
				size_t i = rnd() % n_live;

				r = scopes_del(c, live[i].id, &live[i].k);
				live[i] = live[--n_live];
			} else {
				live[n_live].id = next_id++;
				live[n_live].k = random_key();
				live[n_live].p = policy_set_get(
					ps, rnd() % policy_set_count(ps));
				r = scopes_add(c, live[n_live].p,
					       live[n_live].id, &live[n_live].k,
					       now_real_ms() + 600000 +
						       rnd() % 3000000);
				n_live++;
			}
			if (r < 0) {
				fprintf(stderr, "cover: %s\n", strerror(-r));
				return 1;
			}
		}
		if (scopes_delta(c, &del, &n_del, &add, &n_add) < 0 ||
		    table_elems_update(t, del, n_del, add, n_add, now_real_ms(),
				       err, sizeof(err)) < 0) {
			fprintf(stderr, "step %u: the kernel refused: %s\n",
				step, err);
			return 1;
		}
		scopes_commit(c);
		r = compare(t, c, step);
		if (r < 0)
			return 1;
		if ((size_t)r > max_elems)
			max_elems = (size_t)r;
	}
	printf("# %u steps, up to %zu elements, %zu live records at the end: "
	       "kernel and records agree\n",
	       steps, max_elems, n_live);
	if (restore_phase(&t, argv[1], rs, ps) < 0)
		return 1;
	printf("# restore: %d host records under every policy into no table, "
	       "then a third of them changed, then a restart with none "
	       "changed: kernel and records agree\n",
	       RESTORE_N);
	scopes_free(c);
	diag_release(&diag);
	ruleset_free(rs);
	policy_set_free(ps);
	table_close(t);
	return 0;
}
