/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The union of overlapping access records, as kernel set elements.
 *
 * Host records are expanded into points (family, address, port) held in an
 * open-addressing map; each point lists the records covering it, so adding
 * or removing a host record costs O(its ports) whatever the number of
 * records. A point serves both protocols: a record's protocols are read from
 * the record, and the point keeps what the kernel holds for tcp and udp.
 *
 * Prefix records go into one group per (family, protocol). A group that a
 * change touched is recomputed whole by a sweep over its address
 * breakpoints: between two breakpoints the covering records do not change,
 * so the port profile (latest end per port range) is computed once per slab
 * and pieces of equal ports and end in consecutive slabs are merged.
 *
 * Every change is journalled until commit. Rollback replays the journal
 * backwards without allocating: removals never release capacity, so what an
 * undo puts back always fits where it was.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cover.h"
#include "hashmap.h"
#include "policy.h"
#include "util.h"

/* Indices are 32-bit to keep records and points small. */
#define COVER_MAX_ENTRIES (1u << 30)

/* An address as a 128-bit number; IPv4 in the low 32 bits. */
struct a128 {
	uint64_t hi, lo;
};

enum { REC_FREE, REC_LIVE, REC_DEAD };

/*
 * A record, in 24 bytes. A host record's key is its first point (family,
 * address, first port), its protocols and its number of ports, so neither
 * the record nor the journal copies it. Prefix records are copied into
 * their groups.
 */
struct rec {
	uint64_t id;
	uint64_t end;
	uint32_t link; /* host: first point; free: next free + 1 */
	uint8_t state;
	uint8_t protos;
	uint8_t prefix;
	uint8_t nports; /* host records: points linked */
};

/* One record in a point's list. */
struct node {
	uint32_t rec;
	uint32_t next; /* index + 1, 0 ends the list */
};

/* Index 0 is tcp, 1 is udp, in points and groups alike. */
#define NPROTO 2

struct point {
	uint8_t addr[16];
	uint8_t family; /* 0: a free slot */
	uint8_t dirty;
	uint16_t port;
	uint32_t head;		  /* first node + 1; next free slot + 1 */
	uint64_t applied[NPROTO]; /* end in the kernel, 0 if absent */
};

struct point_key {
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
};

/* A prefix record in its group. */
struct pent {
	struct a128 lo, hi;
	uint64_t end;
	uint32_t rec;
	uint16_t plo, phi;
};

/* An interval element. */
struct piece {
	struct a128 lo, hi;
	uint64_t end;
	uint16_t plo, phi;
};

struct pieces {
	struct piece *v;
	size_t n, cap;
};

struct group {
	struct pent *ent;
	size_t n_ent, cap_ent;
	struct pieces applied;
	struct pieces pend; /* staged pieces, valid if pend_valid */
	bool pend_valid;
	bool dirty;
	bool stale; /* committed without its pieces (out of memory) */
};

/* Group of a family and protocol index. */
#define NGROUP		   4
#define GROUP(v6, pi)	   ((v6) ? 2 + (pi) : (pi))
#define GROUP_V6(g)	   ((g) >= 2)
#define GROUP_PROTO_IDX(g) ((g)&1)

/* One change since the last commit; pkey indexes pkeys (prefix records). */
struct jop {
	uint32_t rec;
	uint32_t pkey;
	bool del;
};

struct jit_cover {
	uint64_t seed;
	bool boxes; /* every record is a box, hosts included (cover_new_boxes)
		     */

	struct rec *recs;
	size_t n_recs, cap_recs;
	uint32_t free_rec;
	size_t live;
	struct hashmap ids; /* record index + 1, by id */

	struct point *pts;
	size_t n_pts, cap_pts;
	uint32_t free_pt;
	struct hashmap pmap; /* point index + 1, by point_key */
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	uint32_t free_node;
	size_t applied_points; /* hash elements in the kernel */

	uint32_t *dirty;
	size_t n_dirty, cap_dirty;

	struct group groups[NGROUP];

	struct jop *journal;
	size_t n_journal, cap_journal;
	struct jit_grant_key *pkeys;
	size_t n_pkeys, cap_pkeys;

	size_t last_points, last_groups;
};

static const unsigned proto_bit[NPROTO] = { JIT_PROTO_TCP, JIT_PROTO_UDP };
static const uint8_t proto_num[NPROTO] = { IPPROTO_TCP, IPPROTO_UDP };

/* ---- addresses ---------------------------------------------------------- */

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 8; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

static struct a128 a128_load(bool v6, const uint8_t *addr)
{
	struct a128 a = { 0, 0 };

	if (v6) {
		a.hi = load_be64(addr);
		a.lo = load_be64(addr + 8);
	} else {
		a.lo = (uint64_t)addr[0] << 24 | (uint64_t)addr[1] << 16 |
		       (uint64_t)addr[2] << 8 | addr[3];
	}
	return a;
}

static void a128_store(bool v6, struct a128 a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (v6) {
		store_be64(out, a.hi);
		store_be64(out + 8, a.lo);
	} else {
		out[0] = (uint8_t)(a.lo >> 24);
		out[1] = (uint8_t)(a.lo >> 16);
		out[2] = (uint8_t)(a.lo >> 8);
		out[3] = (uint8_t)a.lo;
	}
}

static int a128_cmp(const struct a128 *a, const struct a128 *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static bool a128_eq(const struct a128 *a, const struct a128 *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

static struct a128 a128_inc(struct a128 a)
{
	if (++a.lo == 0)
		a.hi++;
	return a;
}

static struct a128 a128_dec(struct a128 a)
{
	if (a.lo-- == 0)
		a.hi--;
	return a;
}

/* The last address of the family: 255.255.255.255 or ffff:...:ffff. */
static struct a128 a128_max(bool v6)
{
	struct a128 a = { v6 ? UINT64_MAX : 0, v6 ? UINT64_MAX : 0xffffffffu };

	return a;
}

/* High bits set: the mask of a len-bit prefix within one 64-bit word. */
static uint64_t mask64(unsigned len)
{
	return len == 0 ? 0 : len >= 64 ? UINT64_MAX : UINT64_MAX << (64 - len);
}

/* First and last address of a prefix; host bits are ignored. */
static void prefix_range(const struct jit_prefix *p, struct a128 *lo,
			 struct a128 *hi)
{
	bool v6 = p->family == AF_INET6;
	struct a128 a = a128_load(v6, p->addr), m;

	if (v6) {
		m.hi = mask64(p->len);
		m.lo = p->len > 64 ? mask64(p->len - 64u) : 0;
	} else {
		m.hi = 0;
		m.lo = mask64(p->len) >> 32;
	}
	lo->hi = a.hi & m.hi;
	lo->lo = a.lo & m.lo;
	hi->hi = lo->hi | (v6 ? ~m.hi : 0);
	hi->lo = lo->lo | (~m.lo & (v6 ? UINT64_MAX : 0xffffffffu));
}

/* ---- keys and records --------------------------------------------------- */

static bool key_ok(const struct jit_grant_key *k)
{
	unsigned max;

	if (!k)
		return false;
	if (k->source.family == AF_INET)
		max = 32;
	else if (k->source.family == AF_INET6)
		max = 128;
	else
		return false;
	return k->source.len <= max && k->protos &&
	       !(k->protos & ~(unsigned)(JIT_PROTO_TCP | JIT_PROTO_UDP)) &&
	       k->port_lo <= k->port_hi;
}

static int proto_idx(uint8_t proto)
{
	return proto == IPPROTO_TCP ? 0 : proto == IPPROTO_UDP ? 1 : -1;
}

/* ---- index maps --------------------------------------------------------- */

/*
 * Entries live in dense arrays and the maps only hold their indices + 1,
 * which keeps an empty slot at 4 bytes.
 */
static uint64_t id_hash(const struct jit_cover *c, uint64_t id)
{
	return hash_mix(id ^ c->seed);
}

static uint64_t rec_hash(const void *e, const void *ctx)
{
	const struct jit_cover *c = ctx;

	return id_hash(c, c->recs[*(const uint32_t *)e - 1].id);
}

static bool rec_eq(const void *e, const void *key, const void *ctx)
{
	const struct jit_cover *c = ctx;

	return c->recs[*(const uint32_t *)e - 1].id == *(const uint64_t *)key;
}

static uint64_t pkey_hash(const struct jit_cover *c, uint8_t family,
			  uint16_t port, const uint8_t *addr)
{
	uint64_t h = c->seed;

	h = hash_mix(h ^ load_be64(addr));
	h = hash_mix(h ^ load_be64(addr + 8));
	return hash_mix(h ^ ((uint64_t)family << 16 | port));
}

static uint64_t point_hash(const void *e, const void *ctx)
{
	const struct jit_cover *c = ctx;
	const struct point *p = &c->pts[*(const uint32_t *)e - 1];

	return pkey_hash(c, p->family, p->port, p->addr);
}

static bool point_eq(const void *e, const void *key, const void *ctx)
{
	const struct jit_cover *c = ctx;
	const struct point *p = &c->pts[*(const uint32_t *)e - 1];
	const struct point_key *k = key;

	return p->family == k->family && p->port == k->port &&
	       memcmp(p->addr, k->addr, sizeof(p->addr)) == 0;
}

/* ---- lookups ------------------------------------------------------------ */

static bool rec_find(const struct jit_cover *c, uint64_t id, uint32_t *idx)
{
	const uint32_t *e = hashmap_find(&c->ids, id_hash(c, id), rec_eq, &id);

	if (e)
		*idx = *e - 1;
	return e;
}

/* Index record r by its id; room was reserved, or freed by its removal. */
static void rec_index(struct jit_cover *c, uint32_t r)
{
	uint32_t e = r + 1;

	(void)hashmap_add(&c->ids, id_hash(c, c->recs[r].id), &e);
}

static void rec_unindex(struct jit_cover *c, uint32_t r)
{
	uint64_t id = c->recs[r].id;
	uint32_t *e = hashmap_find(&c->ids, id_hash(c, id), rec_eq, &id);

	if (e)
		hashmap_remove(&c->ids, e);
}

static struct point_key point_key(const struct jit_grant_key *k, uint16_t port)
{
	struct point_key pk = { .family = k->source.family, .port = port };

	memcpy(pk.addr, k->source.addr, prefix_addr_len(&k->source));
	return pk;
}

static uint64_t point_key_hash(const struct jit_cover *c,
			       const struct point_key *pk)
{
	return pkey_hash(c, pk->family, pk->port, pk->addr);
}

static bool point_find(const struct jit_cover *c, const struct point_key *pk,
		       uint32_t *idx)
{
	const uint32_t *e =
		hashmap_find(&c->pmap, point_key_hash(c, pk), point_eq, pk);

	if (e)
		*idx = *e - 1;
	return e;
}

/* Latest end among the records of a point's list with protocol index pi. */
static uint64_t point_staged(const struct jit_cover *c, const struct point *p,
			     unsigned pi)
{
	uint64_t end = 0;

	for (uint32_t n = p->head; n; n = c->nodes[n - 1].next) {
		const struct rec *r = &c->recs[c->nodes[n - 1].rec];

		if ((r->protos & proto_bit[pi]) && r->end > end)
			end = r->end;
	}
	return end;
}

static void mark_point(struct jit_cover *c, uint32_t pt)
{
	/* Capacity for the dirty list was reserved by the caller. */
	if (c->pts[pt].dirty)
		return;
	c->pts[pt].dirty = 1;
	c->dirty[c->n_dirty++] = pt;
}

static void mark_group(struct group *g)
{
	g->dirty = true;
	if (g->pend_valid) {
		free(g->pend.v);
		g->pend = (struct pieces){ 0 };
		g->pend_valid = false;
	}
}

/* ---- allocation from the pools (capacity reserved beforehand) ---------- */

static uint32_t rec_alloc(struct jit_cover *c)
{
	uint32_t i;

	if (c->free_rec) {
		i = c->free_rec - 1;
		c->free_rec = c->recs[i].link;
	} else {
		i = (uint32_t)c->n_recs++;
	}
	c->recs[i] = (struct rec){ .state = REC_LIVE };
	return i;
}

static void rec_release(struct jit_cover *c, uint32_t i)
{
	c->recs[i] = (struct rec){ .state = REC_FREE, .link = c->free_rec };
	c->free_rec = i + 1;
}

static uint32_t node_alloc(struct jit_cover *c)
{
	uint32_t i;

	if (c->free_node) {
		i = c->free_node - 1;
		c->free_node = c->nodes[i].next;
	} else {
		i = (uint32_t)c->n_nodes++;
	}
	return i;
}

static void node_release(struct jit_cover *c, uint32_t i)
{
	c->nodes[i].next = c->free_node;
	c->free_node = i + 1;
}

/* The point of pk, created (empty, in the slot hashmap_put gave). */
static uint32_t point_create(struct jit_cover *c, const struct point_key *pk,
			     uint32_t *slot)
{
	uint32_t i;

	if (c->free_pt) {
		i = c->free_pt - 1;
		c->free_pt = c->pts[i].head;
	} else {
		i = (uint32_t)c->n_pts++;
	}
	c->pts[i] = (struct point){ .family = pk->family, .port = pk->port };
	memcpy(c->pts[i].addr, pk->addr, sizeof(pk->addr));
	*slot = i + 1;
	return i;
}

static void point_release(struct jit_cover *c, uint32_t i)
{
	struct point_key pk = { .family = c->pts[i].family,
				.port = c->pts[i].port };
	uint32_t *e;

	memcpy(pk.addr, c->pts[i].addr, sizeof(pk.addr));
	e = hashmap_find(&c->pmap, point_key_hash(c, &pk), point_eq, &pk);
	if (e)
		hashmap_remove(&c->pmap, e);
	c->pts[i] = (struct point){ .head = c->free_pt };
	c->free_pt = i + 1;
}

/* Link record r into the point of pk, which must exist. */
static void point_link(struct jit_cover *c, uint32_t pt, uint32_t r)
{
	uint32_t n = node_alloc(c);

	c->nodes[n].rec = r;
	c->nodes[n].next = c->pts[pt].head;
	c->pts[pt].head = n + 1;
}

/* Unlink record r from point pt; false if it was not there. */
static bool point_unlink(struct jit_cover *c, uint32_t pt, uint32_t r)
{
	uint32_t *link = &c->pts[pt].head;

	while (*link) {
		uint32_t n = *link - 1;

		if (c->nodes[n].rec == r) {
			*link = c->nodes[n].next;
			node_release(c, n);
			return true;
		}
		link = &c->nodes[n].next;
	}
	return false;
}

static struct pent pent_of(const struct jit_grant_key *k, uint32_t r,
			   uint64_t end)
{
	struct pent e = {
		.end = end, .rec = r, .plo = k->port_lo, .phi = k->port_hi
	};

	prefix_range(&k->source, &e.lo, &e.hi);
	return e;
}

/* Position of record r's entry in group g, or -1. */
static ssize_t group_find(const struct group *g, uint32_t r)
{
	for (size_t i = 0; i < g->n_ent; i++)
		if (g->ent[i].rec == r)
			return (ssize_t)i;
	return -1;
}

static void group_remove(struct group *g, size_t i)
{
	g->ent[i] = g->ent[--g->n_ent];
}

static unsigned key_group(const struct jit_grant_key *k, unsigned pi)
{
	return GROUP(k->source.family == AF_INET6, pi);
}

/* ---- staging ------------------------------------------------------------ */

/*
 * Link or unlink a record with the points or groups of its key. Capacity
 * was reserved by the caller, or is known to be there (rollback).
 */
static void rec_attach(struct jit_cover *c, uint32_t r,
		       const struct jit_grant_key *k, bool mark)
{
	if (c->recs[r].prefix) {
		for (unsigned pi = 0; pi < NPROTO; pi++) {
			struct group *g = &c->groups[key_group(k, pi)];

			if (!(k->protos & proto_bit[pi]))
				continue;
			g->ent[g->n_ent++] = pent_of(k, r, c->recs[r].end);
			if (mark)
				mark_group(g);
		}
		return;
	}
	for (uint32_t port = k->port_lo; port <= k->port_hi; port++) {
		struct point_key pk = point_key(k, (uint16_t)port);
		uint32_t pt, *e;
		bool added;

		/* Capacity was reserved: this does not allocate. */
		e = hashmap_put(&c->pmap, point_key_hash(c, &pk), point_eq, &pk,
				&added);
		pt = added ? point_create(c, &pk, e) : *e - 1;
		point_link(c, pt, r);
		if (port == k->port_lo)
			c->recs[r].link = pt;
		if (mark)
			mark_point(c, pt);
	}
}

static void rec_detach(struct jit_cover *c, uint32_t r,
		       const struct jit_grant_key *k, bool mark)
{
	if (c->recs[r].prefix) {
		for (unsigned pi = 0; pi < NPROTO; pi++) {
			struct group *g = &c->groups[key_group(k, pi)];
			ssize_t i;

			if (!(k->protos & proto_bit[pi]))
				continue;
			i = group_find(g, r);
			if (i >= 0)
				group_remove(g, (size_t)i);
			if (mark)
				mark_group(g);
		}
		return;
	}
	for (uint32_t port = k->port_lo; port <= k->port_hi; port++) {
		struct point_key pk = point_key(k, (uint16_t)port);
		uint32_t pt;

		if (!point_find(c, &pk, &pt))
			continue;
		point_unlink(c, pt, r);
		if (mark)
			mark_point(c, pt);
	}
}

/*
 * The key of host record r, from its first point. Valid while the record is
 * live, and for a dead one until commit or rollback: points only go at the
 * end of those.
 */
static struct jit_grant_key host_key(const struct jit_cover *c, uint32_t r)
{
	const struct rec *rc = &c->recs[r];
	const struct point *p = &c->pts[rc->link];
	struct jit_grant_key k = {
		.source = { .family = p->family,
			    .len = p->family == AF_INET ? 32 : 128 },
		.protos = rc->protos,
		.port_lo = p->port,
		.port_hi = (uint16_t)(p->port + rc->nports - 1),
	};

	memcpy(k.source.addr, p->addr, sizeof(k.source.addr));
	return k;
}

/* True if r was added with exactly k. */
static bool rec_matches(const struct jit_cover *c, uint32_t r,
			const struct jit_grant_key *k)
{
	const struct rec *rc = &c->recs[r];
	struct jit_grant_key h;

	if (rc->prefix != (c->boxes || grant_key_is_prefix(k)) ||
	    rc->protos != k->protos)
		return false;
	if (rc->prefix) {
		struct pent want = pent_of(k, r, rc->end);

		for (unsigned pi = 0; pi < NPROTO; pi++) {
			const struct group *g = &c->groups[key_group(k, pi)];
			ssize_t i;

			if (!(k->protos & proto_bit[pi]))
				continue;
			i = group_find(g, r);
			if (i < 0 || !a128_eq(&g->ent[i].lo, &want.lo) ||
			    !a128_eq(&g->ent[i].hi, &want.hi) ||
			    g->ent[i].plo != want.plo ||
			    g->ent[i].phi != want.phi)
				return false;
		}
		return true;
	}
	h = host_key(c, r);
	return h.source.family == k->source.family &&
	       h.source.len == k->source.len && h.port_lo == k->port_lo &&
	       h.port_hi == k->port_hi &&
	       memcmp(h.source.addr, k->source.addr,
		      prefix_addr_len(&k->source)) == 0;
}

static int journal_reserve(struct jit_cover *c, bool prefix)
{
	int ret = grow_array((void **)&c->journal, &c->cap_journal,
			     c->n_journal + 1, sizeof(*c->journal));

	if (ret < 0 || !prefix)
		return ret;
	return grow_array((void **)&c->pkeys, &c->cap_pkeys, c->n_pkeys + 1,
			  sizeof(*c->pkeys));
}

/* Capacity reserved by journal_reserve. */
static void journal_push(struct jit_cover *c, uint32_t r,
			 const struct jit_grant_key *k, bool del)
{
	struct jop op = { .rec = r, .del = del };

	if (c->recs[r].prefix) {
		op.pkey = (uint32_t)c->n_pkeys;
		c->pkeys[c->n_pkeys++] = *k;
	}
	c->journal[c->n_journal++] = op;
}

int cover_reserve(struct jit_cover *c, size_t n)
{
	int r;

	if (!c || n > COVER_MAX_ENTRIES)
		return c ? -ENOMEM : -EINVAL;
	r = grow_array((void **)&c->recs, &c->cap_recs, n, sizeof(*c->recs));
	if (r == 0 && n > c->ids.n)
		r = hashmap_reserve(&c->ids, n - c->ids.n);
	if (r == 0 && !c->boxes && n > c->pmap.n)
		r = hashmap_reserve(&c->pmap, n - c->pmap.n);
	return r;
}

int cover_add(struct jit_cover *c, uint64_t id, const struct jit_grant_key *k,
	      uint64_t end_ms)
{
	bool prefix;
	unsigned nports;
	uint32_t r;
	int ret;

	if (!c || !key_ok(k))
		return -EINVAL;
	if (rec_find(c, id, &r))
		return -EEXIST;
	prefix = c->boxes || grant_key_is_prefix(k);
	nports = prefix ? 0 : (unsigned)(k->port_hi - k->port_lo) + 1;
	if (c->n_recs >= COVER_MAX_ENTRIES ||
	    c->n_pts + nports >= COVER_MAX_ENTRIES ||
	    c->n_nodes + nports >= COVER_MAX_ENTRIES)
		return -ENOMEM;

	/* Reserve everything first, so that nothing fails half-way. */
	ret = journal_reserve(c, prefix);
	if (ret < 0)
		return ret;
	if (!c->free_rec) {
		ret = grow_array((void **)&c->recs, &c->cap_recs, c->n_recs + 1,
				 sizeof(*c->recs));
		if (ret < 0)
			return ret;
	}
	ret = hashmap_reserve(&c->ids, 1);
	if (ret < 0)
		return ret;
	if (prefix) {
		for (unsigned pi = 0; pi < NPROTO; pi++) {
			struct group *g = &c->groups[key_group(k, pi)];

			if (!(k->protos & proto_bit[pi]))
				continue;
			ret = grow_array((void **)&g->ent, &g->cap_ent,
					 g->n_ent + 1, sizeof(*g->ent));
			if (ret < 0)
				return ret;
		}
	} else {
		ret = grow_array((void **)&c->pts, &c->cap_pts,
				 c->n_pts + nports, sizeof(*c->pts));
		if (ret < 0)
			return ret;
		ret = hashmap_reserve(&c->pmap, nports);
		if (ret < 0)
			return ret;
		ret = grow_array((void **)&c->nodes, &c->cap_nodes,
				 c->n_nodes + nports, sizeof(*c->nodes));
		if (ret < 0)
			return ret;
		ret = grow_array((void **)&c->dirty, &c->cap_dirty,
				 c->n_dirty + nports, sizeof(*c->dirty));
		if (ret < 0)
			return ret;
	}

	r = rec_alloc(c);
	c->recs[r].id = id;
	/* 0 would read as "no element". */
	c->recs[r].end = end_ms ? end_ms : 1;
	c->recs[r].protos = (uint8_t)k->protos;
	c->recs[r].prefix = prefix;
	c->recs[r].nports = (uint8_t)nports;
	rec_index(c, r);
	c->live++;
	rec_attach(c, r, k, true);
	journal_push(c, r, k, false);
	return 0;
}

int cover_del(struct jit_cover *c, uint64_t id, const struct jit_grant_key *k)
{
	uint32_t r;
	int ret;

	if (!c || !key_ok(k))
		return -EINVAL;
	if (!rec_find(c, id, &r))
		return -ENOENT;
	if (!rec_matches(c, r, k))
		return -EINVAL;
	ret = journal_reserve(c, c->recs[r].prefix);
	if (ret < 0)
		return ret;
	if (!c->recs[r].prefix) {
		ret = grow_array((void **)&c->dirty, &c->cap_dirty,
				 c->n_dirty + c->recs[r].nports,
				 sizeof(*c->dirty));
		if (ret < 0)
			return ret;
	}

	rec_detach(c, r, k, true);
	rec_unindex(c, r);
	c->live--;
	/* Kept until commit, for rollback. */
	c->recs[r].state = REC_DEAD;
	journal_push(c, r, k, true);
	return 0;
}

/* ---- interval pieces ---------------------------------------------------- */

static int pent_cmp_lo(const void *a, const void *b)
{
	return a128_cmp(&((const struct pent *)a)->lo,
			&((const struct pent *)b)->lo);
}

static int a128_qcmp(const void *a, const void *b)
{
	return a128_cmp(a, b);
}

struct event {
	uint32_t port;
	uint32_t act; /* position in the active list */
	bool add;
};

static int event_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return x->port < y->port ? -1 : x->port > y->port;
}

struct seg {
	uint32_t plo, phi;
	uint64_t end;
};

/* Scratch space of one group computation, sized by its entries. */
struct sweep {
	struct pent *ent; /* sorted by first address */
	size_t n;
	struct a128 *bp;
	uint32_t *act;
	struct event *ev;
	uint32_t *heap; /* positions in act, by latest end */
	bool *gone;
	struct seg *seg;
	uint32_t *open, *open_next; /* pieces of the previous slab */
};

static void sweep_free(struct sweep *s)
{
	free(s->ent);
	free(s->bp);
	free(s->act);
	free(s->ev);
	free(s->heap);
	free(s->gone);
	free(s->seg);
	free(s->open);
	free(s->open_next);
}

static uint64_t heap_end(const struct sweep *s, uint32_t h)
{
	return s->ent[s->act[h]].end;
}

static void heap_push(const struct sweep *s, size_t *nh, uint32_t v)
{
	size_t i = (*nh)++;

	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (heap_end(s, s->heap[up]) >= heap_end(s, v))
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = v;
}

static void heap_pop(const struct sweep *s, size_t *nh)
{
	uint32_t v = s->heap[--*nh];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, big;

		if (l >= *nh)
			break;
		big = l + 1 < *nh && heap_end(s, s->heap[l + 1]) >
					      heap_end(s, s->heap[l])
			      ? l + 1
			      : l;
		if (heap_end(s, s->heap[big]) <= heap_end(s, v))
			break;
		s->heap[i] = s->heap[big];
		i = big;
	}
	if (*nh)
		s->heap[i] = v;
}

/*
 * The port profile of the nact active entries: disjoint port ranges with the
 * latest end covering them, adjacent ranges of equal end merged. Sweeps the
 * range starts and ends with a heap of ends, dropping ended entries lazily.
 */
static size_t profile(struct sweep *s, size_t nact)
{
	size_t nev = 0, nh = 0, nseg = 0, i = 0;

	for (size_t a = 0; a < nact; a++) {
		const struct pent *e = &s->ent[s->act[a]];

		s->ev[nev++] = (struct event){ e->plo, (uint32_t)a, true };
		s->ev[nev++] = (struct event){ (uint32_t)e->phi + 1,
					       (uint32_t)a, false };
		s->gone[a] = false;
	}
	qsort(s->ev, nev, sizeof(*s->ev), event_cmp);
	while (i < nev) {
		uint32_t port = s->ev[i].port, next;
		uint64_t end;

		for (; i < nev && s->ev[i].port == port; i++) {
			if (s->ev[i].add)
				heap_push(s, &nh, s->ev[i].act);
			else
				s->gone[s->ev[i].act] = true;
		}
		while (nh && s->gone[s->heap[0]])
			heap_pop(s, &nh);
		if (!nh || i == nev)
			continue;
		next = s->ev[i].port;
		end = heap_end(s, s->heap[0]);
		if (nseg && s->seg[nseg - 1].phi + 1 == port &&
		    s->seg[nseg - 1].end == end)
			s->seg[nseg - 1].phi = next - 1;
		else
			s->seg[nseg++] = (struct seg){ port, next - 1, end };
	}
	return nseg;
}

static int pieces_push(struct pieces *p, const struct piece *x)
{
	int ret = grow_array((void **)&p->v, &p->cap, p->n + 1, sizeof(*p->v));

	if (ret < 0)
		return ret;
	p->v[p->n++] = *x;
	return 0;
}

static void *alloc_n(size_t n, size_t sz)
{
	return calloc(n ? n : 1, sz);
}

/*
 * The disjoint pieces of a group's entries, sorted by first address then
 * first port. Between two consecutive breakpoints (a first address, or one
 * past a last address) the active entries are the same, so one port profile
 * holds for the whole slab; a segment equal to one of the previous slab
 * extends that piece instead of starting a new one.
 */
static int sweep_alloc(struct sweep *s)
{
	s->ent = alloc_n(s->n, sizeof(*s->ent));
	s->bp = alloc_n(2 * s->n, sizeof(*s->bp));
	s->act = alloc_n(s->n, sizeof(*s->act));
	s->ev = alloc_n(2 * s->n, sizeof(*s->ev));
	s->heap = alloc_n(s->n, sizeof(*s->heap));
	s->gone = alloc_n(s->n, sizeof(*s->gone));
	s->seg = alloc_n(2 * s->n, sizeof(*s->seg));
	s->open = alloc_n(2 * s->n, sizeof(*s->open));
	s->open_next = alloc_n(2 * s->n, sizeof(*s->open_next));
	if (!s->ent || !s->bp || !s->act || !s->ev || !s->heap || !s->gone ||
	    !s->seg || !s->open || !s->open_next)
		return -ENOMEM;
	return 0;
}

/*
 * The entries of g sorted by first address, and the breakpoints: every
 * first address and every address past a last one, sorted, each once.
 * Returns how many breakpoints.
 */
static size_t sweep_breakpoints(struct sweep *s, const struct group *g,
				const struct a128 *amax)
{
	size_t m = 0, u = 0;

	memcpy(s->ent, g->ent, s->n * sizeof(*s->ent));
	qsort(s->ent, s->n, sizeof(*s->ent), pent_cmp_lo);
	for (size_t i = 0; i < s->n; i++) {
		s->bp[m++] = s->ent[i].lo;
		/* Nothing starts after the top address. */
		if (!a128_eq(&s->ent[i].hi, amax))
			s->bp[m++] = a128_inc(s->ent[i].hi);
	}
	qsort(s->bp, m, sizeof(*s->bp), a128_qcmp);
	for (size_t i = 0; i < m; i++)
		if (!u || !a128_eq(&s->bp[u - 1], &s->bp[i]))
			s->bp[u++] = s->bp[i];
	return u;
}

/*
 * The nseg segments of the slab [lo, hi]: each extends the open piece of
 * the previous slab with the same ports and end, or starts a new one.
 * The pieces it touched are the open ones of the next slab.
 */
static int slab_pieces(struct sweep *s, size_t nseg, struct a128 lo,
		       struct a128 hi, struct pieces *out, size_t *nopen)
{
	size_t k = 0, nopen_next = 0;
	int r;

	for (size_t i = 0; i < nseg; i++) {
		const struct seg *sg = &s->seg[i];
		struct piece *p = NULL;

		/* Both lists are sorted by port. */
		while (k < *nopen && out->v[s->open[k]].plo < sg->plo)
			k++;
		if (k < *nopen) {
			p = &out->v[s->open[k]];
			if (p->plo != sg->plo || p->phi != sg->phi ||
			    p->end != sg->end)
				p = NULL;
		}
		if (p) {
			p->hi = hi;
			s->open_next[nopen_next++] = s->open[k];
			continue;
		}
		r = pieces_push(out, &(struct piece){
					     .lo = lo,
					     .hi = hi,
					     .end = sg->end,
					     .plo = (uint16_t)sg->plo,
					     .phi = (uint16_t)sg->phi,
				     });
		if (r < 0)
			return r;
		s->open_next[nopen_next++] = (uint32_t)(out->n - 1);
	}
	memcpy(s->open, s->open_next, nopen_next * sizeof(*s->open));
	*nopen = nopen_next;
	return 0;
}

static int group_compute(const struct group *g, bool v6, struct pieces *out)
{
	const struct a128 amax = a128_max(v6);
	struct sweep s = { .n = g->n_ent };
	size_t m, next = 0, nact = 0, nopen = 0;
	int ret;

	*out = (struct pieces){ 0 };
	if (!s.n)
		return 0;
	ret = sweep_alloc(&s);
	if (ret < 0)
		goto out;
	m = sweep_breakpoints(&s, g, &amax);
	for (size_t j = 0; j < m; j++) {
		struct a128 lo = s.bp[j];
		struct a128 hi = j + 1 < m ? a128_dec(s.bp[j + 1]) : amax;
		size_t kept = 0;

		while (next < s.n && a128_cmp(&s.ent[next].lo, &lo) <= 0)
			s.act[nact++] = (uint32_t)next++;
		for (size_t a = 0; a < nact; a++)
			if (a128_cmp(&s.ent[s.act[a]].hi, &lo) >= 0)
				s.act[kept++] = s.act[a];
		nact = kept;
		if (!nact) {
			nopen = 0;
			continue;
		}
		ret = slab_pieces(&s, profile(&s, nact), lo, hi, out, &nopen);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	sweep_free(&s);
	if (ret < 0) {
		free(out->v);
		*out = (struct pieces){ 0 };
	}
	return ret;
}

static int piece_key_cmp(const struct piece *a, const struct piece *b)
{
	int r = a128_cmp(&a->lo, &b->lo);

	if (r)
		return r;
	return a->plo < b->plo ? -1 : a->plo > b->plo;
}

static bool piece_eq(const struct piece *a, const struct piece *b)
{
	return a128_eq(&a->lo, &b->lo) && a128_eq(&a->hi, &b->hi) &&
	       a->plo == b->plo && a->phi == b->phi && a->end == b->end;
}

/* ---- delta -------------------------------------------------------------- */

struct elems {
	struct jit_elem *v;
	size_t n, cap;
};

static int elems_push(struct elems *l, const struct jit_elem *e)
{
	int ret = grow_array((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v));

	if (ret < 0)
		return ret;
	l->v[l->n++] = *e;
	return 0;
}

static struct jit_elem point_elem(const struct point *p, unsigned pi,
				  uint64_t end)
{
	struct jit_elem e = { .family = p->family,
			      .proto = proto_num[pi],
			      .port_lo = p->port,
			      .port_hi = p->port,
			      .end_ms = end };

	memcpy(e.addr_lo, p->addr, sizeof(e.addr_lo));
	memcpy(e.addr_hi, p->addr, sizeof(e.addr_hi));
	return e;
}

static struct jit_elem piece_elem(unsigned g, const struct piece *p)
{
	bool v6 = GROUP_V6(g);
	struct jit_elem e = { .family = v6 ? AF_INET6 : AF_INET,
			      .proto = proto_num[GROUP_PROTO_IDX(g)],
			      .interval = true,
			      .port_lo = p->plo,
			      .port_hi = p->phi,
			      .end_ms = p->end };

	a128_store(v6, p->lo, e.addr_lo);
	a128_store(v6, p->hi, e.addr_hi);
	return e;
}

static int delta_points(struct jit_cover *c, struct elems *del,
			struct elems *add)
{
	for (size_t i = 0; i < c->n_dirty; i++) {
		const struct point *p = &c->pts[c->dirty[i]];

		for (unsigned pi = 0; pi < NPROTO; pi++) {
			uint64_t end = point_staged(c, p, pi);
			struct jit_elem e;
			int ret;

			if (end == p->applied[pi])
				continue;
			if (p->applied[pi]) {
				e = point_elem(p, pi, p->applied[pi]);
				ret = elems_push(del, &e);
				if (ret < 0)
					return ret;
			}
			if (end) {
				e = point_elem(p, pi, end);
				ret = elems_push(add, &e);
				if (ret < 0)
					return ret;
			}
		}
	}
	c->last_points = c->n_dirty;
	return 0;
}

/* Both lists are sorted by (first address, first port) and disjoint. */
static int delta_group(unsigned gi, const struct pieces *old,
		       const struct pieces *new, struct elems *del,
		       struct elems *add)
{
	size_t i = 0, j = 0;
	int ret = 0;

	while (ret >= 0 && (i < old->n || j < new->n)) {
		struct jit_elem e;
		int cmp = i == old->n	? 1
			  : j == new->n ? -1
					: piece_key_cmp(&old->v[i], &new->v[j]);

		if (cmp == 0 && piece_eq(&old->v[i], &new->v[j])) {
			i++;
			j++;
			continue;
		}
		if (cmp <= 0) {
			e = piece_elem(gi, &old->v[i++]);
			ret = elems_push(del, &e);
		}
		if (ret >= 0 && cmp >= 0) {
			e = piece_elem(gi, &new->v[j++]);
			ret = elems_push(add, &e);
		}
	}
	return ret;
}

int cover_delta(struct jit_cover *c, struct jit_elem **del, size_t *n_del,
		struct jit_elem **add, size_t *n_add)
{
	struct elems d = { 0 }, a = { 0 };
	int ret;

	if (!c || !del || !n_del || !add || !n_add)
		return -EINVAL;
	*del = *add = NULL;
	*n_del = *n_add = 0;
	c->last_groups = 0;
	ret = delta_points(c, &d, &a);
	for (unsigned gi = 0; ret >= 0 && gi < NGROUP; gi++) {
		struct group *g = &c->groups[gi];

		if (!g->dirty)
			continue;
		if (!g->pend_valid) {
			ret = group_compute(g, GROUP_V6(gi), &g->pend);
			if (ret < 0)
				break;
			g->pend_valid = true;
			c->last_groups++;
		}
		ret = delta_group(gi, &g->applied, &g->pend, &d, &a);
	}
	if (ret < 0) {
		free(d.v);
		free(a.v);
		return ret;
	}
	*del = d.v;
	*n_del = d.n;
	*add = a.v;
	*n_add = a.n;
	return 0;
}

/* ---- commit and rollback ------------------------------------------------ */

/* Drop the journal's memory after a large batch (e.g. a resync). */
static void journal_clear(struct jit_cover *c)
{
	c->n_journal = 0;
	c->n_pkeys = 0;
	if (c->cap_journal > 256) {
		free(c->journal);
		c->journal = NULL;
		c->cap_journal = 0;
	}
	if (c->cap_pkeys > 256) {
		free(c->pkeys);
		c->pkeys = NULL;
		c->cap_pkeys = 0;
	}
}

/* Points no record covers and the kernel does not hold go back. */
static void points_settle(struct jit_cover *c)
{
	for (size_t i = 0; i < c->n_dirty; i++) {
		uint32_t pt = c->dirty[i];
		struct point *p = &c->pts[pt];

		p->dirty = 0;
		if (!p->head && !p->applied[0] && !p->applied[1])
			point_release(c, pt);
	}
	c->n_dirty = 0;
	if (c->cap_dirty > 256) {
		free(c->dirty);
		c->dirty = NULL;
		c->cap_dirty = 0;
	}
}

void cover_commit(struct jit_cover *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_dirty; i++) {
		struct point *p = &c->pts[c->dirty[i]];

		for (unsigned pi = 0; pi < NPROTO; pi++) {
			uint64_t end = point_staged(c, p, pi);

			if (end && !p->applied[pi])
				c->applied_points++;
			else if (!end && p->applied[pi])
				c->applied_points--;
			p->applied[pi] = end;
		}
	}
	points_settle(c);
	for (unsigned gi = 0; gi < NGROUP; gi++) {
		struct group *g = &c->groups[gi];

		if (!g->dirty)
			continue;
		if (!g->pend_valid) {
			if (group_compute(g, GROUP_V6(gi), &g->pend) < 0) {
				/* Stays dirty: see cover.h. */
				g->stale = true;
				continue;
			}
			g->pend_valid = true;
		}
		free(g->applied.v);
		g->applied = g->pend;
		g->pend = (struct pieces){ 0 };
		g->pend_valid = false;
		g->dirty = false;
		g->stale = false;
	}
	for (size_t i = 0; i < c->n_journal; i++)
		if (c->journal[i].del)
			rec_release(c, c->journal[i].rec);
	journal_clear(c);
}

void cover_rollback(struct jit_cover *c)
{
	if (!c)
		return;
	for (size_t i = c->n_journal; i-- > 0;) {
		const struct jop *op = &c->journal[i];
		struct jit_grant_key k = c->recs[op->rec].prefix
						 ? c->pkeys[op->pkey]
						 : host_key(c, op->rec);

		if (op->del) {
			/* The slot it had is free again: the map has room. */
			rec_index(c, op->rec);
			c->live++;
			c->recs[op->rec].state = REC_LIVE;
			rec_attach(c, op->rec, &k, false);
		} else {
			rec_unindex(c, op->rec);
			c->live--;
			rec_detach(c, op->rec, &k, false);
			rec_release(c, op->rec);
		}
	}
	journal_clear(c);
	points_settle(c);
	for (unsigned gi = 0; gi < NGROUP; gi++) {
		struct group *g = &c->groups[gi];

		free(g->pend.v);
		g->pend = (struct pieces){ 0 };
		g->pend_valid = false;
		g->dirty = g->stale;
	}
}

/* ---- queries ------------------------------------------------------------ */

int cover_elements(const struct jit_cover *c, struct jit_elem **ret, size_t *n)
{
	size_t total, k = 0;
	struct jit_elem *v;

	if (!c || !ret || !n)
		return -EINVAL;
	*ret = NULL;
	*n = 0;
	total = cover_count(c);
	if (!total)
		return 0;
	v = calloc(total, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_pts; i++) {
		const struct point *p = &c->pts[i];

		if (!p->family)
			continue;
		for (unsigned pi = 0; pi < NPROTO; pi++)
			if (p->applied[pi])
				v[k++] = point_elem(p, pi, p->applied[pi]);
	}
	for (unsigned gi = 0; gi < NGROUP; gi++)
		for (size_t i = 0; i < c->groups[gi].applied.n; i++)
			v[k++] = piece_elem(gi, &c->groups[gi].applied.v[i]);
	*ret = v;
	*n = k;
	return 0;
}

uint64_t cover_end_at(const struct jit_cover *c, uint8_t family,
		      const uint8_t *addr, uint8_t proto, uint16_t port)
{
	struct point_key pk = { .family = family, .port = port };
	int pi = proto_idx(proto);
	const struct group *g;
	uint64_t end = 0;
	struct a128 a;
	uint32_t pt;

	if (!c || !addr || pi < 0 || (family != AF_INET && family != AF_INET6))
		return 0;
	memcpy(pk.addr, addr, family == AF_INET ? 4 : 16);
	if (point_find(c, &pk, &pt))
		end = point_staged(c, &c->pts[pt], (unsigned)pi);
	a = a128_load(family == AF_INET6, addr);
	g = &c->groups[GROUP(family == AF_INET6, pi)];
	for (size_t i = 0; i < g->n_ent; i++) {
		const struct pent *e = &g->ent[i];

		if (e->end > end && e->plo <= port && port <= e->phi &&
		    a128_cmp(&e->lo, &a) <= 0 && a128_cmp(&a, &e->hi) <= 0)
			end = e->end;
	}
	return end;
}

size_t cover_count(const struct jit_cover *c)
{
	size_t n;

	if (!c)
		return 0;
	n = c->applied_points;
	for (unsigned gi = 0; gi < NGROUP; gi++)
		n += c->groups[gi].applied.n;
	return n;
}

void cover_stats(const struct jit_cover *c, struct jit_cover_stats *ret)
{
	size_t bytes;

	if (!ret)
		return;
	*ret = (struct jit_cover_stats){ 0 };
	if (!c)
		return;
	bytes = sizeof(*c) + c->cap_recs * sizeof(*c->recs) +
		hashmap_bytes(&c->ids) + c->cap_pts * sizeof(*c->pts) +
		hashmap_bytes(&c->pmap) + c->cap_nodes * sizeof(*c->nodes) +
		c->cap_dirty * sizeof(*c->dirty) +
		c->cap_journal * sizeof(*c->journal) +
		c->cap_pkeys * sizeof(*c->pkeys);
	for (unsigned gi = 0; gi < NGROUP; gi++) {
		const struct group *g = &c->groups[gi];

		bytes += g->cap_ent * sizeof(*g->ent) +
			 g->applied.cap * sizeof(*g->applied.v) +
			 g->pend.cap * sizeof(*g->pend.v);
	}
	ret->records = c->live;
	ret->elements = cover_count(c);
	ret->bytes = bytes;
	ret->points_checked = c->last_points;
	ret->groups_computed = c->last_groups;
}

/* ---- lifetime ----------------------------------------------------------- */

struct jit_cover *cover_new(void)
{
	struct jit_cover *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	/* Sources are chosen by requesters: the seed is secret. */
	c->seed = hash_seed();
	hashmap_init(&c->ids, sizeof(uint32_t), rec_hash, c);
	hashmap_init(&c->pmap, sizeof(uint32_t), point_hash, c);
	return c;
}

struct jit_cover *cover_new_boxes(void)
{
	struct jit_cover *c = cover_new();

	if (c)
		c->boxes = true;
	return c;
}

struct jit_cover *cover_free(struct jit_cover *c)
{
	if (!c)
		return NULL;
	free(c->recs);
	hashmap_clear(&c->ids);
	free(c->pts);
	hashmap_clear(&c->pmap);
	free(c->nodes);
	free(c->dirty);
	free(c->journal);
	free(c->pkeys);
	for (unsigned gi = 0; gi < NGROUP; gi++) {
		free(c->groups[gi].ent);
		free(c->groups[gi].applied.v);
		free(c->groups[gi].pend.v);
	}
	free(c);
	return NULL;
}
