/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Property test of the grant sets against the real kernel (run it in a
 * network namespace of its own): random records, hosts and prefixes of
 * every length, v4 and v6, overlapping at will, go through cover.c into
 * the kernel, first in one full commit and then as many small deltas; after
 * each step the kernel's elements, read back through table_dump_elems,
 * must be exactly what cover.c says it applied, with the same ends. This
 * is the path a restart after a crash reads the kernel through.
 *
 *   kernel-elems TABLE SEED STEPS
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>

#include "cover.h"
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
	fprintf(stderr, "  %s %s %s-%s proto %u ports %u-%u end %" PRIu64 "\n",
		what, e->interval ? "interval" : "host", lo, hi, e->proto,
		e->port_lo, e->port_hi, e->end_ms);
}

/* The kernel's elements must be exactly the cover's. */
static int compare(struct jit_table *t, struct jit_cover *c, unsigned step)
{
	_cleanup_free_ struct jit_elem *want = NULL, *got = NULL;
	size_t n_want = 0, bad = 0;
	uint64_t now = now_real_ms();
	int n_got;

	if (cover_elements(c, &want, &n_want) < 0)
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

/* A full commit of the cover, then the kernel compared with it. */
static int commit_all(struct jit_table *t, struct jit_ruleset *rs,
		      struct jit_cover *c, unsigned step)
{
	_cleanup_free_ struct jit_elem *all = NULL;
	size_t n = 0;
	char err[512] = "";

	if (cover_elements(c, &all, &n) < 0 ||
	    table_commit_all(t, rs, NULL, 0, all, n, now_real_ms(), err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "full commit %u: %s\n", step, err);
		return -1;
	}
	return compare(t, c, step);
}

/*
 * A start with no table (the elements go in over several transactions),
 * then one with the table in place after a third of the records changed:
 * some ended, some new, some with another end. Each time the kernel must
 * hold exactly the records' elements.
 */
static int restore_phase(struct jit_table **tp, const char *name,
			 struct jit_ruleset *rs)
{
	struct jit_table *t = *tp;
	struct jit_cover *c = cover_new();
	uint64_t now = now_real_ms();
	char err[512];
	int r = 0;

	(void)table_remove(t, err, sizeof(err));
	for (unsigned i = 0; i < RESTORE_N && r >= 0; i++) {
		struct jit_grant_key k = host_key(i);

		r = cover_add(c, i + 1, &k, now + 600000 + i);
	}
	cover_commit(c);
	if (r < 0 || commit_all(t, rs, c, 1000) < 0)
		return -1;
	for (unsigned i = 0; i < RESTORE_N && r >= 0; i += 3) {
		struct jit_grant_key k = host_key(i);

		r = cover_del(c, i + 1, &k);
		if (r >= 0 && i % 2)
			r = cover_add(c, i + 1 + RESTORE_N, &k,
				      now + 1200000 + i);
	}
	for (unsigned i = RESTORE_N; i < RESTORE_N + RESTORE_N / 2 && r >= 0;
	     i++) {
		struct jit_grant_key k = host_key(i);

		r = cover_add(c, i + 1 + 2 * RESTORE_N, &k, now + 900000);
	}
	cover_commit(c);
	if (r < 0 || commit_all(t, rs, c, 1001) < 0)
		return -1;
	/*
	 * The agent stops (the table stays, with no owner) and starts
	 * again; another process adds an element after the new start read
	 * the sets and before its commit: the commit is for the generation
	 * read, the kernel refuses it, and the sets are replaced whole,
	 * without the element.
	 */
	table_close(*tp);
	if (table_open(name, true, tp) < 0)
		return -1;
	t = *tp;
	{
		_cleanup_free_ struct jit_elem *seen = NULL;
		char cmd[256];

		if (table_dump_elems(t, now_real_ms(), &seen) < 0)
			return -1;
		snprintf(cmd, sizeof(cmd),
			 "nft add element inet %s grants_v4 "
			 "'{ 203.0.113.250 . tcp . 9 timeout 1h }'",
			 table_name(t));
		if (system(cmd) != 0) {
			fprintf(stderr, "%s failed\n", cmd);
			return -1;
		}
		if (commit_all(t, rs, c, 1002) < 0)
			return -1;
	}
	cover_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	struct jit_table *t = NULL;
	struct jit_ruleset *rs = NULL;
	struct jit_policy_set *ps = policy_set_new();
	struct jit_cover *c = cover_new();
	struct {
		uint64_t id;
		struct jit_grant_key k;
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
	if (!ps || !c || table_open(argv[1], true, &t) < 0 ||
	    ruleset_compile(ps, &rs) < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	/* One full commit of a first batch of records. */
	for (; n_live < 150; n_live++) {
		live[n_live].id = next_id++;
		live[n_live].k = random_key();
		r = cover_add(c, live[n_live].id, &live[n_live].k,
			      now + 600000 + rnd() % 3000000);
		if (r < 0) {
			fprintf(stderr, "cover_add: %s\n", strerror(-r));
			return 1;
		}
	}
	cover_commit(c);
	{
		_cleanup_free_ struct jit_elem *all = NULL;
		size_t n = 0;

		if (cover_elements(c, &all, &n) < 0 ||
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

				r = cover_del(c, live[i].id, &live[i].k);
				live[i] = live[--n_live];
			} else {
				live[n_live].id = next_id++;
				live[n_live].k = random_key();
				r = cover_add(c, live[n_live].id,
					      &live[n_live].k,
					      now_real_ms() + 600000 +
						      rnd() % 3000000);
				n_live++;
			}
			if (r < 0) {
				fprintf(stderr, "cover: %s\n", strerror(-r));
				return 1;
			}
		}
		if (cover_delta(c, &del, &n_del, &add, &n_add) < 0 ||
		    table_elems_update(t, del, n_del, add, n_add, now_real_ms(),
				       err, sizeof(err)) < 0) {
			fprintf(stderr, "step %u: the kernel refused: %s\n",
				step, err);
			return 1;
		}
		cover_commit(c);
		r = compare(t, c, step);
		if (r < 0)
			return 1;
		if ((size_t)r > max_elems)
			max_elems = (size_t)r;
	}
	printf("# %u steps, up to %zu elements, %zu live records at the end: "
	       "kernel and records agree\n",
	       steps, max_elems, n_live);
	if (restore_phase(&t, argv[1], rs) < 0)
		return 1;
	printf("# restore: %d host records into no table, then a third of "
	       "them changed: kernel and records agree\n",
	       RESTORE_N);
	cover_free(c);
	ruleset_free(rs);
	policy_set_free(ps);
	table_close(t);
	return 0;
}
