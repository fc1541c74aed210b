/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compile the policies in force into the desired ruleset: disjoint, merged
 * protected ranges and deny entries. Nothing here knows nftables; table.c
 * expresses the result in the kernel.
 */
#include <netinet/in.h>

#include "ruleset.h"
#include "util.h"

struct tuple {
	uint8_t proto;
	uint16_t lo, hi;
	const char *iface; /* "" = all interfaces */
	enum jit_action action;
};

struct tuples {
	struct tuple *v;
	size_t n, cap;
};

static int tuples_add(struct tuples *t, const struct tuple *x)
{
	if (grow_array((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)) < 0)
		return -ENOMEM;
	t->v[t->n++] = *x;
	return 0;
}

/* "eth*" covers "eth0", "eth*" and "eth"; an exact name covers itself. */
static bool iface_covers(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (la && a[la - 1] == '*')
		return strncmp(a, b, la - 1) == 0;
	return streq(a, b);
}

static bool iface_is_all(const char *s)
{
	return s[0] == '\0' || streq(s, "*");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_deny(const void *a, const void *b)
{
	const struct jit_deny *x = a, *y = b;
	int r;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	r = strcmp(x->iface, y->iface);
	if (r)
		return r;
	if (x->action != y->action)
		return x->action < y->action ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_deny_display(const void *a, const void *b)
{
	const struct jit_deny *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return strcmp(x->iface, y->iface);
}

static int add_deny(struct jit_ruleset *r, size_t *cap, uint8_t proto,
		    uint32_t lo, uint32_t hi, const char *iface,
		    enum jit_action action)
{
	struct jit_deny *d;

	if (grow_array((void **)&r->deny, cap, r->n_deny + 1,
		       sizeof(*r->deny)) < 0)
		return -ENOMEM;
	d = &r->deny[r->n_deny++];
	memset(d, 0, sizeof(*d));
	d->proto = proto;
	d->lo = (uint16_t)lo;
	d->hi = (uint16_t)hi;
	snprintf(d->iface, sizeof(d->iface), "%s",
		 iface_is_all(iface) ? "" : iface);
	d->action = action;
	return 0;
}

/* Deny entries for one elementary segment [lo, hi] of one protocol. */
static int compile_segment(struct jit_ruleset *r, size_t *deny_cap,
			   const struct tuples *t, uint8_t proto, uint32_t lo,
			   uint32_t hi, bool *covered)
{
	bool global = false, global_drop = false;

	*covered = false;
	for (size_t i = 0; i < t->n; i++) {
		const struct tuple *x = &t->v[i];

		if (x->proto != proto || x->lo > lo || x->hi < hi)
			continue;
		*covered = true;
		if (x->action == JIT_ACTION_DROP)
			global_drop = true;
		if (iface_is_all(x->iface))
			global = true;
	}
	if (!*covered)
		return 0;
	if (global)
		return add_deny(r, deny_cap, proto, lo, hi, "",
				global_drop ? JIT_ACTION_DROP
					    : JIT_ACTION_REJECT);

	for (size_t i = 0; i < t->n; i++) {
		const struct tuple *x = &t->v[i];
		bool drop = false, skip = false;

		if (x->proto != proto || x->lo > lo || x->hi < hi)
			continue;
		/*
		 * Keep only patterns no other covering pattern covers (the
		 * first of equal ones), so map elements never overlap.
		 */
		for (size_t j = 0; j < t->n && !skip; j++) {
			const struct tuple *y = &t->v[j];

			if (j == i || y->proto != proto || y->lo > lo ||
			    y->hi < hi || !iface_covers(y->iface, x->iface))
				continue;
			if (!iface_covers(x->iface, y->iface) || j < i)
				skip = true;
		}
		if (skip)
			continue;
		for (size_t j = 0; j < t->n; j++) {
			const struct tuple *y = &t->v[j];

			if (y->proto == proto && y->lo <= lo && y->hi >= hi &&
			    iface_covers(x->iface, y->iface) &&
			    y->action == JIT_ACTION_DROP)
				drop = true;
		}
		if (add_deny(r, deny_cap, proto, lo, hi, x->iface,
			     drop ? JIT_ACTION_DROP : JIT_ACTION_REJECT) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int compile_proto(struct jit_ruleset *r, size_t *prot_cap,
			 size_t *deny_cap, const struct tuples *t,
			 uint8_t proto)
{
	_cleanup_free_ uint32_t *b = NULL;
	size_t nb = 0;

	b = calloc(t->n * 2 + 1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].proto != proto)
			continue;
		b[nb++] = t->v[i].lo;
		b[nb++] = (uint32_t)t->v[i].hi + 1;
	}
	qsort(b, nb, sizeof(*b), cmp_u32);
	for (size_t i = 0; i + 1 < nb; i++) {
		uint32_t lo = b[i], hi = b[i + 1] - 1;
		struct jit_protected *p;
		bool covered;

		if (b[i] == b[i + 1])
			continue;
		if (compile_segment(r, deny_cap, t, proto, lo, hi, &covered) <
		    0)
			return -ENOMEM;
		if (!covered)
			continue;
		p = r->n_protected ? &r->protected[r->n_protected - 1] : NULL;
		if (p && p->proto == proto && (uint32_t)p->hi + 1 == lo) {
			p->hi = (uint16_t)hi;
			continue;
		}
		if (grow_array((void **)&r->protected, prot_cap,
			       r->n_protected + 1, sizeof(*r->protected)) < 0)
			return -ENOMEM;
		r->protected[r->n_protected++] = (struct jit_protected){
			.proto = proto, .lo = (uint16_t)lo, .hi = (uint16_t)hi
		};
	}
	return 0;
}

/* Merge deny entries that touch and agree on everything but the ports. */
static void merge_deny(struct jit_ruleset *r)
{
	size_t out = 0;

	if (!r->n_deny)
		return;
	qsort(r->deny, r->n_deny, sizeof(*r->deny), cmp_deny);
	for (size_t i = 1; i < r->n_deny; i++) {
		struct jit_deny *o = &r->deny[out], *x = &r->deny[i];

		if (o->proto == x->proto && streq(o->iface, x->iface) &&
		    o->action == x->action && (uint32_t)o->hi + 1 == x->lo)
			o->hi = x->hi;
		else
			r->deny[++out] = *x;
	}
	r->n_deny = out + 1;
	qsort(r->deny, r->n_deny, sizeof(*r->deny), cmp_deny_display);
}

int ruleset_compile(const struct jit_policy_set *s, struct jit_ruleset **ret)
{
	struct tuples t = { 0 };
	struct jit_ruleset *r;
	size_t prot_cap = 0, deny_cap = 0;
	int err = -ENOMEM;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < policy_set_count(s); i++) {
		const struct jit_policy *p = policy_set_get(s, i);

		for (size_t j = 0; j < p->n_ports; j++) {
			const struct jit_port_rule *pr = &p->ports[j];
			static const struct {
				unsigned bit;
				uint8_t proto;
			} protos[] = { { JIT_PROTO_TCP, IPPROTO_TCP },
				       { JIT_PROTO_UDP, IPPROTO_UDP } };

			for (size_t k = 0; k < ARRAY_SIZE(protos); k++) {
				struct tuple x = {
					.proto = protos[k].proto,
					.lo = pr->port_lo,
					.hi = pr->port_hi,
					.action = p->action,
				};

				if (!(pr->protos & protos[k].bit))
					continue;
				if (!p->n_interfaces) {
					x.iface = "";
					if (tuples_add(&t, &x) < 0)
						goto out;
				}
				for (size_t f = 0; f < p->n_interfaces; f++) {
					x.iface = p->interfaces[f];
					if (tuples_add(&t, &x) < 0)
						goto out;
				}
			}
		}
	}
	if (compile_proto(r, &prot_cap, &deny_cap, &t, IPPROTO_TCP) < 0 ||
	    compile_proto(r, &prot_cap, &deny_cap, &t, IPPROTO_UDP) < 0)
		goto out;
	merge_deny(r);
	if (ruleset_iface_zones(s, &r->zones, &r->n_zones) < 0)
		goto out;
	*ret = TAKE_PTR(r);
	err = 0;
out:
	free(t.v);
	ruleset_free(r);
	return err;
}

struct jit_ruleset *ruleset_free(struct jit_ruleset *r)
{
	if (r) {
		free(r->protected);
		free(r->deny);
		ruleset_iface_zones_free(r->zones, r->n_zones);
		free(r);
	}
	return NULL;
}

static void print_ports(FILE *out, uint16_t lo, uint16_t hi)
{
	if (lo == hi)
		fprintf(out, "%u", lo);
	else
		fprintf(out, "%u-%u", lo, hi);
}

void ruleset_print(const struct jit_ruleset *r, FILE *out)
{
	for (size_t i = 0; i < r->n_protected; i++) {
		fprintf(out, "protected %s/",
			proto_name(r->protected[i].proto));
		print_ports(out, r->protected[i].lo, r->protected[i].hi);
		fputc('\n', out);
	}
	for (size_t i = 0; i < r->n_deny; i++) {
		const struct jit_deny *d = &r->deny[i];

		fprintf(out, "deny %s/", proto_name(d->proto));
		print_ports(out, d->lo, d->hi);
		fprintf(out, " on %s %s\n", d->iface[0] ? d->iface : "*",
			d->action == JIT_ACTION_DROP ? "drop" : "reject");
	}
	for (size_t i = 0; i < r->n_zones; i++) {
		const struct jit_iface_zone *z = &r->zones[i];

		fputs("grants on", out);
		for (size_t k = 0; k < z->n_patterns; k++)
			fprintf(out, "%s%s", k ? " and " : " ", z->patterns[k]);
		if (iface_zone_exact(z))
			fprintf(out, ": the name %s\n",
				(const char *)z->ranges[0].lo);
		else
			fprintf(out, ": %zu name range%s\n", z->n_ranges,
				z->n_ranges == 1 ? "" : "s");
	}
}

/* ---- interface zones ----------------------------------------------------- */

struct pattern {
	char name[IFNAMSIZ];
	struct jit_ifrange r;
};

/* "eth*" is "eth\0..." to "eth\xff..."; a name is itself, zero padded. */
static void pattern_range(const char *s, struct jit_ifrange *r)
{
	size_t n = strlen(s);

	memset(r, 0, sizeof(*r));
	if (n && s[n - 1] == '*') {
		memcpy(r->lo, s, n - 1);
		memcpy(r->hi, s, n - 1);
		memset(r->hi + n - 1, 0xff, IFNAMSIZ - (n - 1));
	} else {
		memcpy(r->lo, s, n);
		memcpy(r->hi, s, n);
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, IFNAMSIZ);
}

/* k + 1; false when it wrapped (k was the last name). */
static bool key_inc(uint8_t *k)
{
	for (size_t i = IFNAMSIZ; i-- > 0;)
		if (++k[i])
			return true;
	return false;
}

static void key_dec(uint8_t *k)
{
	for (size_t i = IFNAMSIZ; i-- > 0;)
		if (k[i]--)
			return;
}

/* The distinct patterns of the policies, sorted by name. */
static int collect_patterns(const struct jit_policy_set *s,
			    struct pattern **ret, size_t *n)
{
	struct pattern *v = NULL;
	size_t cap = 0, k = 0;

	*n = 0;
	for (size_t i = 0; i < policy_set_count(s); i++) {
		const struct jit_policy *p = policy_set_get(s, i);

		for (size_t j = 0; j < p->n_interfaces; j++) {
			if (grow_array((void **)&v, &cap, k + 1, sizeof(*v)) <
			    0) {
				free(v);
				return -ENOMEM;
			}
			memset(&v[k], 0, sizeof(v[k]));
			snprintf(v[k].name, sizeof(v[k].name), "%s",
				 p->interfaces[j]);
			k++;
		}
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_name);
	*n = 0;
	for (size_t i = 0; i < k; i++) {
		if (*n && streq(v[*n - 1].name, v[i].name))
			continue;
		v[*n] = v[i];
		pattern_range(v[*n].name, &v[*n].r);
		(*n)++;
	}
	*ret = v;
	return 0;
}

void ruleset_iface_zones_free(struct jit_iface_zone *z, size_t n)
{
	for (size_t i = 0; z && i < n; i++) {
		free(z[i].ranges);
		free(z[i].patterns);
	}
	free(z);
}

/* Add range r to the zone of signature sig (words of bits), made if new. */
static int zone_put(struct jit_iface_zone **zs, size_t *nz, size_t *cap,
		    uint64_t **sigs, const uint64_t *sig, size_t words,
		    const struct pattern *pats, size_t n_pats,
		    const struct jit_ifrange *r)
{
	struct jit_iface_zone *z = NULL;
	size_t i;

	for (i = 0; i < *nz; i++)
		if (!memcmp(*sigs + i * words, sig, words * sizeof(*sig)))
			break;
	if (i == *nz) {
		if (grow_array((void **)zs, cap, *nz + 1, sizeof(**zs)) < 0)
			return -ENOMEM;
		z = &(*zs)[(*nz)++];
		memset(z, 0, sizeof(*z));
		memcpy(*sigs + i * words, sig, words * sizeof(*sig));
		z->patterns = calloc(n_pats, sizeof(*z->patterns));
		if (!z->patterns)
			return -ENOMEM;
		for (size_t b = 0; b < n_pats; b++)
			if (sig[b / 64] & (1ull << (b % 64)))
				memcpy(z->patterns[z->n_patterns++],
				       pats[b].name, IFNAMSIZ);
	}
	z = &(*zs)[i];
	/* Consecutive pieces of one zone merge. */
	if (z->n_ranges) {
		uint8_t next[IFNAMSIZ];

		memcpy(next, z->ranges[z->n_ranges - 1].hi, IFNAMSIZ);
		if (key_inc(next) && !memcmp(next, r->lo, IFNAMSIZ)) {
			memcpy(z->ranges[z->n_ranges - 1].hi, r->hi, IFNAMSIZ);
			return 0;
		}
	}
	z->ranges =
		reallocarray(z->ranges, z->n_ranges + 1, sizeof(*z->ranges));
	if (!z->ranges)
		return -ENOMEM;
	z->ranges[z->n_ranges++] = *r;
	return 0;
}

/*
 * A sweep over the name axis: between two consecutive breakpoints (a
 * pattern's first name, or one past its last) the matching patterns do
 * not change; the pieces with the same patterns form one zone.
 */
int ruleset_iface_zones(const struct jit_policy_set *s,
			struct jit_iface_zone **ret, size_t *n)
{
	_cleanup_free_ struct pattern *pats = NULL;
	_cleanup_free_ uint8_t(*bp)[IFNAMSIZ] = NULL;
	_cleanup_free_ uint64_t *sig = NULL, *sigs = NULL;
	struct jit_iface_zone *zs = NULL;
	size_t n_pats, m = 0, u = 0, words, nz = 0, cap = 0;
	int r;

	*ret = NULL;
	*n = 0;
	r = collect_patterns(s, &pats, &n_pats);
	if (r < 0 || !n_pats)
		return r;
	words = (n_pats + 63) / 64;
	bp = calloc(2 * n_pats, sizeof(*bp));
	sig = calloc(words, sizeof(*sig));
	/* At most one zone per breakpoint. */
	sigs = calloc(2 * n_pats * words, sizeof(*sigs));
	if (!bp || !sig || !sigs)
		return -ENOMEM;
	for (size_t i = 0; i < n_pats; i++) {
		memcpy(bp[m++], pats[i].r.lo, IFNAMSIZ);
		memcpy(bp[m], pats[i].r.hi, IFNAMSIZ);
		if (key_inc(bp[m]))
			m++;
	}
	qsort(bp, m, sizeof(*bp), cmp_key);
	for (size_t i = 0; i < m; i++)
		if (!u || memcmp(bp[u - 1], bp[i], IFNAMSIZ))
			memcpy(bp[u++], bp[i], IFNAMSIZ);
	for (size_t j = 0; j < u; j++) {
		struct jit_ifrange piece;
		bool any = false;

		memcpy(piece.lo, bp[j], IFNAMSIZ);
		if (j + 1 < u) {
			memcpy(piece.hi, bp[j + 1], IFNAMSIZ);
			key_dec(piece.hi);
		} else {
			memset(piece.hi, 0xff, IFNAMSIZ);
		}
		memset(sig, 0, words * sizeof(*sig));
		for (size_t i = 0; i < n_pats; i++)
			if (memcmp(pats[i].r.lo, piece.lo, IFNAMSIZ) <= 0 &&
			    memcmp(piece.lo, pats[i].r.hi, IFNAMSIZ) <= 0) {
				sig[i / 64] |= 1ull << (i % 64);
				any = true;
			}
		if (!any)
			continue;
		r = zone_put(&zs, &nz, &cap, &sigs, sig, words, pats, n_pats,
			     &piece);
		if (r < 0) {
			ruleset_iface_zones_free(zs, nz);
			return r;
		}
	}
	*ret = zs;
	*n = nz;
	return 0;
}

bool iface_zone_exact(const struct jit_iface_zone *z)
{
	return z->n_ranges == 1 &&
	       !memcmp(z->ranges[0].lo, z->ranges[0].hi, IFNAMSIZ);
}

bool iface_zone_of_policy(const struct jit_iface_zone *z,
			  const struct jit_policy *p)
{
	for (size_t i = 0; i < z->n_patterns; i++)
		for (size_t j = 0; j < p->n_interfaces; j++)
			if (streq(z->patterns[i], p->interfaces[j]))
				return true;
	return false;
}

/* Every pattern of a is one of b's. */
static bool patterns_within(const struct jit_policy *a,
			    const struct jit_policy *b)
{
	for (size_t i = 0; i < a->n_interfaces; i++) {
		bool found = false;

		for (size_t j = 0; j < b->n_interfaces && !found; j++)
			found = streq(a->interfaces[i], b->interfaces[j]);
		if (!found)
			return false;
	}
	return true;
}

bool iface_scope_equal(const struct jit_policy *a, const struct jit_policy *b)
{
	size_t na = a ? a->n_interfaces : 0, nb = b ? b->n_interfaces : 0;

	if (!na || !nb)
		return na == nb;
	return patterns_within(a, b) && patterns_within(b, a);
}

bool ruleset_protects(const struct jit_ruleset *r, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < r->n_protected; i++)
		if (r->protected[i].proto == proto &&
		    r->protected[i].lo <= port && port <= r->protected[i].hi)
			return true;
	return false;
}
