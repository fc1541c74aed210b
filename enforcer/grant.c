/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdarg.h>

#include "duration.h"
#include "grant.h"
#include "hashmap.h"
#include "util.h"

/* Live and pending requests of one user, for the per-user caps. */
struct user_count {
	uint32_t uid;
	uint32_t pending;
	uint32_t live;
	bool used; /* never all zero, which the map reads as empty */
};

/*
 * Every request lives in v (ordered by id). Live grants are also indexed
 * by key and kept in a heap by end, so that a request, a revoke or an
 * expiry costs the same with 100,000 grants as with none.
 */
/*
 * Records come from blocks of RECORD_BLOCK slots: with 100,000 live grants
 * they are the agent's largest memory, and a malloc each added a header
 * and rounding (272 bytes became 288). A freed slot is reused; blocks are
 * kept until the registry is freed.
 */
#define RECORD_BLOCK 1024

union record_slot {
	struct jit_request r;
	union record_slot *next_free;
};

struct jit_grants {
	union record_slot **blocks;
	size_t n_blocks, cap_blocks;
	union record_slot *free_slots;
	struct jit_request **v;
	size_t n, cap;
	size_t n_finished;
	uint64_t next_id;
	struct hashmap by_key; /* struct jit_request *, live grants */
	struct hashmap users;  /* struct user_count, by uid */
	/* Live grants in a binary min-heap by end: the next end in O(1). */
	struct jit_request **heap;
	size_t n_heap, cap_heap;
	size_t n_pending;
};

void request_release(struct jit_request *r)
{
	free(r->reason);
	r->reason = NULL;
}

static struct jit_request *slot_get(struct jit_grants *g)
{
	union record_slot *b;

	if (!g->free_slots) {
		if (grow_array((void **)&g->blocks, &g->cap_blocks,
			       g->n_blocks + 1, sizeof(*g->blocks)) < 0)
			return NULL;
		b = malloc(RECORD_BLOCK * sizeof(*b));
		if (!b)
			return NULL;
		g->blocks[g->n_blocks++] = b;
		for (size_t i = RECORD_BLOCK; i-- > 0;) {
			b[i].next_free = g->free_slots;
			g->free_slots = &b[i];
		}
	}
	b = g->free_slots;
	g->free_slots = b->next_free;
	return &b->r;
}

static void slot_put(struct jit_grants *g, struct jit_request *r)
{
	union record_slot *s = (union record_slot *)r;

	s->next_free = g->free_slots;
	g->free_slots = s;
}

/* A copy of tmpl that owns its own reason. */
static struct jit_request *request_dup(struct jit_grants *g,
				       const struct jit_request *tmpl)
{
	struct jit_request *r = slot_get(g);

	if (!r)
		return NULL;
	*r = *tmpl;
	r->reason = NULL;
	if (tmpl->reason && *tmpl->reason) {
		r->reason = strdup(tmpl->reason);
		if (!r->reason) {
			slot_put(g, r);
			return NULL;
		}
	}
	return r;
}

static void request_free(struct jit_grants *g, struct jit_request *r)
{
	if (r) {
		request_release(r);
		slot_put(g, r);
	}
}

const char *status_name(enum jit_status s)
{
	switch (s) {
	case JIT_PENDING:
		return "pending";
	case JIT_DENIED:
		return "denied";
	case JIT_INITIATED:
		return "initiated";
	case JIT_REVOKED:
		return "revoked";
	case JIT_EXPIRED:
		return "expired";
	}
	return "unknown";
}

char *grant_key_ports(const struct jit_grant_key *k, char *buf, size_t n)
{
	/* No protocols yet (a request refused before the policy named
	 * them): the ports alone. */
	const char *p = k->protos ? protos_name(k->protos) : "";
	const char *slash = k->protos ? "/" : "";

	if (k->port_lo == k->port_hi)
		snprintf(buf, n, "%s%s%u", p, slash, k->port_lo);
	else
		snprintf(buf, n, "%s%s%u-%u", p, slash, k->port_lo, k->port_hi);
	return buf;
}

bool grant_key_equal(const struct jit_grant_key *a,
		     const struct jit_grant_key *b)
{
	return a->protos == b->protos && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi &&
	       a->source.family == b->source.family &&
	       a->source.len == b->source.len &&
	       !memcmp(a->source.addr, b->source.addr, sizeof(a->source.addr));
}

/* Host grants of up to this many ports become one hash element per port. */
#define HOST_PORTS_EXPANDED 16

bool grant_key_is_prefix(const struct jit_grant_key *k)
{
	unsigned host = k->source.family == AF_INET ? 32 : 128;

	return k->source.len != host ||
	       (unsigned)(k->port_hi - k->port_lo) + 1 > HOST_PORTS_EXPANDED;
}

static uint64_t key_hash(const struct jit_grant_key *k)
{
	uint64_t h = 1469598103934665603ull;
	const uint8_t head[] = {
		k->source.family,    k->source.len,
		(uint8_t)k->protos,  (uint8_t)(k->port_lo >> 8),
		(uint8_t)k->port_lo, (uint8_t)(k->port_hi >> 8),
		(uint8_t)k->port_hi
	};

	for (size_t i = 0; i < sizeof(head); i++)
		h = (h ^ head[i]) * 1099511628211ull;
	for (size_t i = 0; i < sizeof(k->source.addr); i++)
		h = (h ^ k->source.addr[i]) * 1099511628211ull;
	return h;
}

static uint64_t grant_hash(const void *e, const void *ctx)
{
	return key_hash(&(*(struct jit_request *const *)e)->key);
}

static bool is_request(const void *e, const void *key, const void *ctx)
{
	return *(struct jit_request *const *)e == key;
}

static int key_put(struct jit_grants *g, struct jit_request *r)
{
	return hashmap_add(&g->by_key, key_hash(&r->key), &r);
}

static void key_del(struct jit_grants *g, const struct jit_request *r)
{
	void *e = hashmap_find(&g->by_key, key_hash(&r->key), is_request, r);

	if (e)
		hashmap_remove(&g->by_key, e);
}

static uint64_t uid_hash(uint32_t uid)
{
	return (uint32_t)(uid * 2654435761u);
}

static uint64_t user_hash(const void *e, const void *ctx)
{
	return uid_hash(((const struct user_count *)e)->uid);
}

static bool is_user(const void *e, const void *key, const void *ctx)
{
	return ((const struct user_count *)e)->uid == *(const uint32_t *)key;
}

static struct user_count *user_of(struct jit_grants *g, uint32_t uid,
				  bool create)
{
	struct user_count *u;
	bool added;

	if (!create)
		return hashmap_find(&g->users, uid_hash(uid), is_user, &uid);
	u = hashmap_put(&g->users, uid_hash(uid), is_user, &uid, &added);
	if (u && added)
		*u = (struct user_count){ .uid = uid, .used = true };
	return u;
}

static void heap_set(struct jit_grants *g, size_t i, struct jit_request *r)
{
	g->heap[i] = r;
	r->heap_idx = (uint32_t)i;
}

static void heap_up(struct jit_grants *g, size_t i)
{
	struct jit_request *r = g->heap[i];

	while (i) {
		size_t parent = (i - 1) / 2;

		if (g->heap[parent]->end_ms <= r->end_ms)
			break;
		heap_set(g, i, g->heap[parent]);
		i = parent;
	}
	heap_set(g, i, r);
}

static void heap_down(struct jit_grants *g, size_t i)
{
	struct jit_request *r = g->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= g->n_heap)
			break;
		if (c + 1 < g->n_heap &&
		    g->heap[c + 1]->end_ms < g->heap[c]->end_ms)
			c++;
		if (g->heap[c]->end_ms >= r->end_ms)
			break;
		heap_set(g, i, g->heap[c]);
		i = c;
	}
	heap_set(g, i, r);
}

static void heap_push(struct jit_grants *g, struct jit_request *r)
{
	if (grow_array((void **)&g->heap, &g->cap_heap, g->n_heap + 1,
		       sizeof(*g->heap)) < 0) {
		r->heap_idx = UINT32_MAX;
		return;
	}
	g->heap[g->n_heap] = r;
	heap_up(g, g->n_heap++);
}

static void heap_remove(struct jit_grants *g, struct jit_request *r)
{
	size_t i = r->heap_idx;

	if (i >= g->n_heap || g->heap[i] != r)
		return;
	r->heap_idx = UINT32_MAX;
	if (i == --g->n_heap)
		return;
	r = g->heap[g->n_heap];
	heap_set(g, i, r);
	heap_down(g, i);
	heap_up(g, r->heap_idx);
}

/* Book r entering (delta +1) or leaving (-1) its current status. */
static void book(struct jit_grants *g, struct jit_request *r, int delta)
{
	struct user_count *u;

	if (r->status != JIT_PENDING && r->status != JIT_INITIATED)
		return;
	u = user_of(g, r->uid, delta > 0);
	if (u) {
		if (r->status == JIT_PENDING)
			u->pending += (uint32_t)delta;
		else
			u->live += (uint32_t)delta;
	}
	if (r->status == JIT_PENDING) {
		g->n_pending += (size_t)(ssize_t)delta;
		return;
	}
	if (delta > 0) {
		(void)key_put(g, r);
		heap_push(g, r);
		return;
	}
	key_del(g, r);
	heap_remove(g, r);
}

struct jit_grants *grants_new(void)
{
	struct jit_grants *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->next_id = 1;
	hashmap_init(&g->by_key, sizeof(struct jit_request *), grant_hash,
		     NULL);
	hashmap_init(&g->users, sizeof(struct user_count), user_hash, NULL);
	return g;
}

struct jit_grants *grants_free(struct jit_grants *g)
{
	if (!g)
		return NULL;
	for (size_t i = 0; i < g->n; i++)
		request_release(g->v[i]);
	for (size_t i = 0; i < g->n_blocks; i++)
		free(g->blocks[i]);
	free(g->blocks);
	free(g->v);
	hashmap_clear(&g->by_key);
	free(g->heap);
	hashmap_clear(&g->users);
	free(g);
	return NULL;
}

static bool is_finished(const struct jit_request *r);

/*
 * Put a copy of r (with its own reason) at position at of v, counted and
 * booked; *ret (if not NULL) is the copy. Returns 0, -ENOSPC or -ENOMEM.
 */
static int insert_copy(struct jit_grants *g, size_t at,
		       const struct jit_request *r, struct jit_request **ret)
{
	struct jit_request *copy;

	if (g->n >= JIT_REQUESTS_MAX)
		return -ENOSPC;
	if (grow_array((void **)&g->v, &g->cap, g->n + 1, sizeof(*g->v)) < 0)
		return -ENOMEM;
	copy = request_dup(g, r);
	if (!copy)
		return -ENOMEM;
	memmove(g->v + at + 1, g->v + at, (g->n - at) * sizeof(*g->v));
	g->v[at] = copy;
	g->n++;
	if (is_finished(copy))
		g->n_finished++;
	book(g, copy, +1);
	if (ret)
		*ret = copy;
	return 0;
}

int grants_add(struct jit_grants *g, const struct jit_request *tmpl,
	       uint64_t now_ms, struct jit_request **ret)
{
	struct jit_request r = *tmpl;
	int err;

	r.id = g->next_id;
	r.requested_ms = now_ms;
	r.start_ms = r.end_ms = 0;
	r.status = JIT_PENDING;
	r.status_reason[0] = '\0';
	r.decided_by[0] = '\0';
	r.replaced_by = 0;
	err = insert_copy(g, g->n, &r, ret);
	if (err < 0)
		return err;
	g->next_id++;
	return 0;
}

int grants_reserve(struct jit_grants *g, size_t n)
{
	int r;

	if (n > JIT_REQUESTS_MAX)
		n = JIT_REQUESTS_MAX;
	r = grow_array((void **)&g->v, &g->cap, n, sizeof(*g->v));
	if (r == 0 && n > g->by_key.n)
		r = hashmap_reserve(&g->by_key, n - g->by_key.n);
	return r;
}

int grants_restore(struct jit_grants *g, const struct jit_request *r)
{
	int err;

	if (!r->id || (g->n && g->v[g->n - 1]->id >= r->id))
		return -EINVAL;
	err = insert_copy(g, g->n, r, NULL);
	if (err < 0)
		return err;
	if (g->next_id <= r->id)
		g->next_id = r->id + 1;
	return 0;
}

int grants_upsert(struct jit_grants *g, const struct jit_request *r)
{
	struct jit_request *cur = grants_get(g, r->id);
	size_t at;
	char *reason = NULL;

	if (!r->id)
		return -EINVAL;
	if (!cur) {
		if (!g->n || g->v[g->n - 1]->id < r->id)
			return grants_restore(g, r);
		/* Older than the newest (never the case in a journal): in
		 * order all the same. */
		for (at = g->n; at && g->v[at - 1]->id > r->id; at--)
			;
		return insert_copy(g, at, r, NULL);
	}
	if (r->reason && *r->reason) {
		reason = strdup(r->reason);
		if (!reason)
			return -ENOMEM;
	}
	if (is_finished(cur))
		g->n_finished--;
	book(g, cur, -1);
	request_release(cur);
	*cur = *r;
	cur->reason = reason;
	cur->heap_idx = UINT32_MAX;
	if (is_finished(cur))
		g->n_finished++;
	book(g, cur, +1);
	if (g->next_id <= r->id)
		g->next_id = r->id + 1;
	return 0;
}

uint64_t grants_next_id(const struct jit_grants *g)
{
	return g->next_id;
}

void grants_set_next_id(struct jit_grants *g, uint64_t id)
{
	if (id > g->next_id)
		g->next_id = id;
}

struct jit_request *grants_get(struct jit_grants *g, uint64_t id)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->v[mid]->id == id)
			return g->v[mid];
		if (g->v[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t grants_memory(const struct jit_grants *g)
{
	return g->n_blocks * RECORD_BLOCK * sizeof(union record_slot) +
	       g->cap_blocks * sizeof(*g->blocks) + g->cap * sizeof(*g->v) +
	       g->cap_heap * sizeof(*g->heap) + hashmap_bytes(&g->by_key) +
	       hashmap_bytes(&g->users);
}

size_t grants_count(const struct jit_grants *g)
{
	return g->n;
}

struct jit_request *grants_at(struct jit_grants *g, size_t i)
{
	return i < g->n ? g->v[i] : NULL;
}

struct same_key {
	const struct jit_grant_key *k;
	grants_pick_fn pick;
	const void *ctx;
};

static bool is_same_picked(const void *e, const void *key, const void *ctx)
{
	const struct jit_request *r = *(struct jit_request *const *)e;
	const struct same_key *s = key;

	return grant_key_equal(&r->key, s->k) && s->pick(r, s->ctx);
}

struct jit_request *grants_find_same(struct jit_grants *g,
				     const struct jit_grant_key *k,
				     grants_pick_fn pick, const void *ctx)
{
	struct same_key s = { .k = k, .pick = pick, .ctx = ctx };
	struct jit_request **e =
		hashmap_find(&g->by_key, key_hash(k), is_same_picked, &s);

	return e ? *e : NULL;
}

size_t grants_count_status(const struct jit_grants *g, enum jit_status st)
{
	return st == JIT_PENDING     ? g->n_pending
	       : st == JIT_INITIATED ? g->n_heap
				     : 0;
}

struct jit_request *grants_next_due(struct jit_grants *g, uint64_t now_ms)
{
	return g->n_heap && g->heap[0]->end_ms <= now_ms ? g->heap[0] : NULL;
}

size_t grants_count_user(const struct jit_grants *g, uint32_t uid,
			 enum jit_status st)
{
	const struct user_count *u;
	size_t n = 0;

	if (st == JIT_PENDING || st == JIT_INITIATED) {
		u = user_of((struct jit_grants *)g, uid, false);
		return !u ? 0 : st == JIT_PENDING ? u->pending : u->live;
	}
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i]->uid == uid && g->v[i]->status == st)
			n++;
	return n;
}

void grants_initiate(struct jit_grants *g, struct jit_request *r,
		     uint64_t now_ms)
{
	grants_initiate_until(g, r, now_ms,
			      now_ms + (uint64_t)r->duration_s * 1000);
}

void grants_initiate_until(struct jit_grants *g, struct jit_request *r,
			   uint64_t start_ms, uint64_t end_ms)
{
	struct jit_request next = *r;

	next.status = JIT_INITIATED;
	next.start_ms = start_ms;
	next.end_ms = end_ms;
	next.status_reason[0] = '\0';
	grants_apply(g, r, &next);
}

static bool is_finished(const struct jit_request *r)
{
	return r->status != JIT_PENDING && r->status != JIT_INITIATED;
}

/* Drop the oldest finished requests beyond the history cap, keeping keep. */
static void trim_history(struct jit_grants *g, const struct jit_request *keep)
{
	size_t out = 0, drop;

	/*
	 * Trim only past twice the history, down to the history: one pass
	 * over the registry per JIT_HISTORY_MAX finishes, not per finish.
	 */
	if (g->n_finished <= 2 * JIT_HISTORY_MAX)
		return;
	drop = g->n_finished - JIT_HISTORY_MAX;
	for (size_t i = 0; i < g->n; i++) {
		struct jit_request *r = g->v[i];

		if (drop && r != keep && is_finished(r)) {
			request_free(g, r);
			drop--;
			g->n_finished--;
			continue;
		}
		g->v[out++] = r;
	}
	g->n = out;
}

struct jit_request request_finished(const struct jit_request *r,
				    enum jit_status st, const char *reason,
				    const char *by, uint64_t now_ms)
{
	struct jit_request next = *r;

	/* A grant cut short ends now, not at its planned end. */
	if (r->status == JIT_INITIATED && st != JIT_EXPIRED &&
	    r->end_ms > now_ms)
		next.end_ms = now_ms;
	next.status = st;
	snprintf(next.status_reason, sizeof(next.status_reason), "%s",
		 reason ? reason : "");
	if (by)
		snprintf(next.decided_by, sizeof(next.decided_by), "%s", by);
	return next;
}

void grants_finish(struct jit_grants *g, struct jit_request *r,
		   enum jit_status st, const char *reason, const char *by)
{
	struct jit_request next =
		request_finished(r, st, reason, by, now_real_ms());

	grants_apply(g, r, &next);
}

void grants_apply(struct jit_grants *g, struct jit_request *r,
		  const struct jit_request *next)
{
	char *reason = r->reason;
	bool was_finished = is_finished(r);

	book(g, r, -1);
	*r = *next;
	r->reason = reason;
	r->heap_idx = UINT32_MAX;
	book(g, r, +1);
	if (is_finished(r) && !was_finished) {
		g->n_finished++;
		trim_history(g, r);
	}
}

int grants_discard(struct jit_grants *g, struct jit_request *r)
{
	if (!g->n || g->v[g->n - 1] != r)
		return -EINVAL;
	book(g, r, -1);
	if (is_finished(r))
		g->n_finished--;
	request_free(g, r);
	g->n--;
	return 0;
}

void grants_remove(struct jit_grants *g, struct jit_request *r)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->v[mid]->id < r->id) {
			lo = mid + 1;
		} else if (g->v[mid]->id > r->id) {
			hi = mid;
		} else {
			lo = mid;
			break;
		}
	}
	if (lo >= g->n || g->v[lo] != r)
		return;
	book(g, r, -1);
	if (is_finished(r))
		g->n_finished--;
	request_free(g, r);
	memmove(g->v + lo, g->v + lo + 1, (g->n - lo - 1) * sizeof(*g->v));
	g->n--;
}

uint64_t grants_next_end(struct jit_grants *g)
{
	return g->n_heap ? g->heap[0]->end_ms : 0;
}
