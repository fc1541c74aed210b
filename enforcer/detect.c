/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <netinet/in.h>

#include "detect.h"
#include "hashmap.h"
#include "util.h"

#define DEFAULT_REPEATED    10
#define DEFAULT_SOURCES	    20
#define DEFAULT_SCAN_PORTS  3
#define DEFAULT_WINDOW_S    60
#define DEFAULT_AFTER_END_S 600
#define DEFAULT_WIDE_V4	    24
#define DEFAULT_WIDE_V6	    48
#define DEFAULT_LOG_RATE    50

/* What an entry of the pair, port and source tables starts with. */
struct entry {
	bool used;
	bool ref; /* seen since the clock hand last passed */
	bool alerted;
	uint64_t window_start, first, last;
};

/* One source on one port. */
struct pair {
	struct entry e;
	struct jit_prefix src;
	uint8_t proto;
	uint16_t port;
	uint32_t count;
};

/* One port, all sources. */
struct port {
	struct entry e;
	uint8_t proto;
	uint16_t port;
	uint32_t sources;
	char policy[JIT_POLICY_NAME_MAX + 1];
};

/* One source, all ports. */
struct source {
	struct entry e;
	struct jit_prefix src;
	uint8_t protos[DETECT_SCAN_MAX];
	uint16_t ports[DETECT_SCAN_MAX];
	uint32_t n_ports;
	uint32_t attempts;
};

/*
 * A table of fixed size: n entries of size bytes in an array (v), found
 * through a map of their indices by key, and replaced by the clock
 * algorithm. Every entry is in the map from the moment it is used.
 */
struct table {
	void *v;
	size_t n, size;
	size_t hand;
	uint64_t seed;
	/* Hash of an entry's key; do two entries have the same key? */
	uint64_t (*hash)(const void *x, uint64_t seed);
	bool (*same)(const void *x, const void *y);
	struct hashmap index; /* uint32_t, index in v + 1 */
};

/* A grant that ended recently. */
struct ended {
	bool used;
	struct jit_grant_key key;
	uint64_t end_ms;
	uint64_t id;
	char policy[JIT_POLICY_NAME_MAX + 1];
	char user[JIT_USER_MAX];
	char why[JIT_STATUS_MAX];
	uint32_t count;
	bool alerted;
};

struct jit_detect {
	detect_fn fn;
	void *userdata;
	struct jit_detect_limits lim;
	struct pair pairs[DETECT_PAIRS];
	struct port ports[DETECT_PORTS];
	struct source sources[DETECT_SOURCES];
	struct ended ended[DETECT_ENDED];
	struct table pair_table, port_table, source_table;
	size_t hand_ended;
	uint64_t seen, evicted;
};

void detect_limits_default(struct jit_detect_limits *l)
{
	*l = (struct jit_detect_limits){
		.repeated = DEFAULT_REPEATED,
		.sources = DEFAULT_SOURCES,
		.scan_ports = DEFAULT_SCAN_PORTS,
		.window_s = DEFAULT_WINDOW_S,
		.after_end_s = DEFAULT_AFTER_END_S,
		.wide_v4 = DEFAULT_WIDE_V4,
		.wide_v6 = DEFAULT_WIDE_V6,
		.log_rate = DEFAULT_LOG_RATE,
	};
}

/* The lowest value any policy sets wins; untouched fields keep defaults. */
static void lower_u32(uint32_t *dst, bool *taken, uint32_t v)
{
	if (!*taken || v < *dst)
		*dst = v;
	*taken = true;
}

void detect_limits_from_policies(const struct jit_policy_set *s,
				 struct jit_detect_limits *l)
{
	bool t[8] = { 0 };

	detect_limits_default(l);
	for (size_t i = 0; s && i < policy_set_count(s); i++) {
		const struct jit_alert_limits *a =
			&policy_set_get(s, i)->alerts;
		uint32_t v4 = l->wide_v4, v6 = l->wide_v6;

		if (a->set & JIT_ALERT_SET_REPEATED)
			lower_u32(&l->repeated, &t[0], a->repeated_attempts);
		if (a->set & JIT_ALERT_SET_SOURCES)
			lower_u32(&l->sources, &t[1], a->distributed_sources);
		if (a->set & JIT_ALERT_SET_SCAN)
			lower_u32(&l->scan_ports, &t[2], a->scan_ports);
		if (a->set & JIT_ALERT_SET_WINDOW)
			lower_u32(&l->window_s, &t[3], a->window_s);
		if (a->set & JIT_ALERT_SET_AFTER_END)
			lower_u32(&l->after_end_s, &t[4], a->after_grant_end_s);
		if (a->set & JIT_ALERT_SET_LOG_RATE)
			lower_u32(&l->log_rate, &t[5], a->log_rate);
		/* "Wider than /N" is more sensitive with a larger N. */
		if (a->set & JIT_ALERT_SET_WIDE_V4) {
			if (!t[6] || a->wide_prefix_v4 > v4)
				v4 = a->wide_prefix_v4;
			t[6] = true;
		}
		if (a->set & JIT_ALERT_SET_WIDE_V6) {
			if (!t[7] || a->wide_prefix_v6 > v6)
				v6 = a->wide_prefix_v6;
			t[7] = true;
		}
		l->wide_v4 = (uint8_t)v4;
		l->wide_v6 = (uint8_t)v6;
	}
}

static bool same_host(const struct jit_prefix *a, const struct jit_prefix *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, prefix_addr_len(a));
}

static uint64_t host_hash(const struct jit_prefix *p, uint64_t seed)
{
	return hash_bytes(p->addr, prefix_addr_len(p), seed ^ p->family);
}

static uint64_t pair_hash(const void *x, uint64_t seed)
{
	const struct pair *p = x;

	return hash_mix(host_hash(&p->src, seed) ^
			((uint64_t)p->proto << 16 | p->port));
}

static bool pair_same(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;

	return a->proto == b->proto && a->port == b->port &&
	       same_host(&a->src, &b->src);
}

static uint64_t port_hash(const void *x, uint64_t seed)
{
	const struct port *q = x;

	return hash_mix(seed ^ ((uint64_t)q->proto << 16 | q->port));
}

static bool port_same(const void *x, const void *y)
{
	const struct port *a = x, *b = y;

	return a->proto == b->proto && a->port == b->port;
}

static uint64_t source_hash(const void *x, uint64_t seed)
{
	return host_hash(&((const struct source *)x)->src, seed);
}

static bool source_same(const void *x, const void *y)
{
	return same_host(&((const struct source *)x)->src,
			 &((const struct source *)y)->src);
}

static struct entry *table_at(const struct table *t, size_t i)
{
	return (struct entry *)((char *)t->v + i * t->size);
}

static uint64_t index_hash(const void *e, const void *ctx)
{
	const struct table *t = ctx;

	return t->hash(table_at(t, *(const uint32_t *)e - 1), t->seed);
}

/* Is this the index of an entry with key's key? */
static bool index_same(const void *e, const void *key, const void *ctx)
{
	const struct table *t = ctx;

	return t->same(table_at(t, *(const uint32_t *)e - 1), key);
}

static bool index_is(const void *e, const void *key, const void *ctx)
{
	return *(const uint32_t *)e == *(const uint32_t *)key;
}

/*
 * The map is made as large as the table will ever need: no allocation per
 * packet, and the map is never more than half full.
 */
static int table_init(struct table *t, void *v, size_t n, size_t size,
		      uint64_t (*hash)(const void *, uint64_t),
		      bool (*same)(const void *, const void *), uint64_t seed)
{
	*t = (struct table){ .v = v,
			     .n = n,
			     .size = size,
			     .seed = seed,
			     .hash = hash,
			     .same = same };
	hashmap_init(&t->index, sizeof(uint32_t), index_hash, t);
	return hashmap_reserve(&t->index, n);
}

struct jit_detect *detect_new(detect_fn fn, void *userdata)
{
	struct jit_detect *d = calloc(1, sizeof(*d));
	/* Sources of denied packets are anybody's: the seed is secret. */
	uint64_t seed = hash_seed();

	if (!d)
		return NULL;
	d->fn = fn;
	d->userdata = userdata;
	detect_limits_default(&d->lim);
	if (table_init(&d->pair_table, d->pairs, DETECT_PAIRS,
		       sizeof(*d->pairs), pair_hash, pair_same, seed) < 0 ||
	    table_init(&d->port_table, d->ports, DETECT_PORTS,
		       sizeof(*d->ports), port_hash, port_same, seed) < 0 ||
	    table_init(&d->source_table, d->sources, DETECT_SOURCES,
		       sizeof(*d->sources), source_hash, source_same, seed) < 0)
		return detect_free(d);
	return d;
}

struct jit_detect *detect_free(struct jit_detect *d)
{
	if (!d)
		return NULL;
	hashmap_clear(&d->pair_table.index);
	hashmap_clear(&d->port_table.index);
	hashmap_clear(&d->source_table.index);
	free(d);
	return NULL;
}

void detect_set_limits(struct jit_detect *d, const struct jit_detect_limits *l)
{
	d->lim = *l;
}

const struct jit_detect_limits *detect_limits(const struct jit_detect *d)
{
	return &d->lim;
}

static uint64_t window_ms(const struct jit_detect *d)
{
	return (uint64_t)d->lim.window_s * 1000;
}

/*
 * A slot for a new entry, by the clock algorithm: the hand skips (and
 * clears) entries seen since it last passed, at most CLOCK_STEPS of them,
 * and takes the next; a live entry taken is counted as evicted. A source
 * that keeps hitting survives a flood of one-off spoofed sources; work per
 * packet and memory stay fixed.
 */
#define CLOCK_STEPS 8
static uint32_t clock_take(struct jit_detect *d, struct table *t, uint64_t now)
{
	uint32_t s = (uint32_t)(t->hand++ % t->n);
	struct entry *x;

	for (int k = 0; k < CLOCK_STEPS && (x = table_at(t, s))->used && x->ref;
	     k++) {
		x->ref = false;
		s = (uint32_t)(t->hand++ % t->n);
	}
	x = table_at(t, s);
	if (x->used && now - x->last <= window_ms(d))
		d->evicted++;
	return s;
}

/*
 * The entry with key's key, marked as seen, or else key copied into a slot
 * the clock gives (what was there is forgotten); its last attempt is now.
 * *fresh says whether a window starts: the entry is new, or its window has
 * passed (the caller resets its counts).
 */
static void *table_get(struct jit_detect *d, struct table *t, const void *key,
		       uint64_t now, bool *fresh)
{
	uint64_t h = t->hash(key, t->seed);
	uint32_t *found = hashmap_find(&t->index, h, index_same, key);
	struct entry *x;
	uint32_t i;

	if (found) {
		x = table_at(t, *found - 1);
		x->ref = true;
		x->last = now;
		*fresh = now - x->window_start > window_ms(d);
		if (*fresh) {
			x->window_start = x->first = now;
			x->alerted = false;
		}
		return x;
	}
	i = clock_take(d, t, now);
	x = table_at(t, i);
	if (x->used) {
		uint32_t old = i + 1;

		hashmap_remove(&t->index,
			       hashmap_find(&t->index, t->hash(x, t->seed),
					    index_is, &old));
	}
	memcpy(x, key, t->size);
	*x = (struct entry){
		.used = true, .window_start = now, .first = now, .last = now
	};
	i++;
	/* Never more entries than the map has room for: no allocation. */
	(void)hashmap_add(&t->index, h, &i);
	*fresh = true;
	return x;
}

static json_t *entities(const struct jit_prefix *src, uint8_t proto,
			uint16_t port, const char *policy)
{
	char buf[JIT_PREFIX_STRLEN], host[JIT_PREFIX_STRLEN];
	json_t *e;

	prefix_format(src, buf, sizeof(buf));
	snprintf(host, sizeof(host), "%.*s", (int)strcspn(buf, "/"), buf);
	e = json_pack("{s:{s:s}}", "source", "address", host);
	if (port)
		json_object_set_new(e, "destination",
				    json_pack("{s:i, s:s}", "port", port,
					      "protocol", proto_name(proto)));
	if (policy && policy[0])
		json_object_set_new(e, "policy", json_string(policy));
	return e;
}

static void host_text(const struct jit_prefix *p, char *out, size_t n)
{
	char buf[JIT_PREFIX_STRLEN];

	prefix_format(p, buf, sizeof(buf));
	snprintf(out, n, "%.*s", (int)strcspn(buf, "/"), buf);
}

/* Many-to-one: a source new to this port in this window. */
static void count_distributed(struct jit_detect *d, const struct jit_attempt *a)
{
	struct port qk = { .proto = a->proto, .port = a->port };
	struct port *q;
	bool new_window;
	char desc[512], host[JIT_PREFIX_STRLEN];

	q = table_get(d, &d->port_table, &qk, a->ms, &new_window);
	if (new_window)
		q->sources = 0;
	q->sources++;
	snprintf(q->policy, sizeof(q->policy), "%s", a->policy);
	if (q->e.alerted || q->sources < d->lim.sources)
		return;
	q->e.alerted = true;
	host_text(&a->src, host, sizeof(host));
	snprintf(desc, sizeof(desc),
		 "%u different sources tried %s/%u within %us while it was "
		 "closed by policy '%s'; the latest was %s.",
		 q->sources, proto_name(a->proto), a->port, d->lim.window_s,
		 a->policy[0] ? a->policy : "-", host);
	d->fn(d->userdata, &alert_distributed_attempts, desc,
	      entities(&a->src, a->proto, a->port, a->policy), q->e.first,
	      q->e.last, q->sources);
}

/* One source again and again on one port. */
static void alert_repeated(struct jit_detect *d, const struct jit_attempt *a,
			   struct pair *p)
{
	char desc[512], host[JIT_PREFIX_STRLEN];

	p->e.alerted = true;
	host_text(&a->src, host, sizeof(host));
	snprintf(desc, sizeof(desc),
		 "%s tried %s/%u %u times within %us while the port was "
		 "closed to it by policy '%s'.",
		 host, proto_name(a->proto), a->port, p->count, d->lim.window_s,
		 a->policy[0] ? a->policy : "-");
	d->fn(d->userdata, &alert_repeated_attempts, desc,
	      entities(&a->src, a->proto, a->port, a->policy), p->e.first,
	      p->e.last, p->count);
}

static void check_pair(struct jit_detect *d, const struct jit_attempt *a)
{
	struct pair pk = { .src = a->src, .proto = a->proto, .port = a->port };
	struct pair *p;
	bool fresh;

	p = table_get(d, &d->pair_table, &pk, a->ms, &fresh);
	if (fresh)
		p->count = 0;
	p->count++;
	if (fresh && d->lim.sources)
		count_distributed(d, a);
	if (d->lim.repeated && !p->e.alerted && p->count >= d->lim.repeated)
		alert_repeated(d, a, p);
}

static void check_sweep(struct jit_detect *d, const struct jit_attempt *a)
{
	struct source sk = { .src = a->src };
	struct source *s;
	bool fresh;
	size_t i;

	if (!d->lim.scan_ports)
		return;
	s = table_get(d, &d->source_table, &sk, a->ms, &fresh);
	if (fresh)
		s->n_ports = s->attempts = 0;
	s->attempts++;
	for (i = 0; i < s->n_ports; i++)
		if (s->ports[i] == a->port && s->protos[i] == a->proto)
			break;
	if (i == s->n_ports && s->n_ports < DETECT_SCAN_MAX) {
		s->ports[s->n_ports] = a->port;
		s->protos[s->n_ports++] = a->proto;
	}
	if (!s->e.alerted && s->n_ports >= d->lim.scan_ports) {
		char desc[640], host[JIT_PREFIX_STRLEN], list[256] = "";
		json_t *ent, *ports = json_array();

		s->e.alerted = true;
		host_text(&a->src, host, sizeof(host));
		for (i = 0; i < s->n_ports; i++) {
			size_t o = strlen(list);

			snprintf(list + o, sizeof(list) - o, "%s%s/%u",
				 i ? ", " : "", proto_name(s->protos[i]),
				 s->ports[i]);
			json_array_append_new(
				ports, json_pack("{s:i, s:s}", "port",
						 s->ports[i], "protocol",
						 proto_name(s->protos[i])));
		}
		snprintf(desc, sizeof(desc),
			 "%s tried %u protected management ports within %us "
			 "(%s), %u attempts in all.",
			 host, s->n_ports, d->lim.window_s, list, s->attempts);
		ent = entities(&a->src, 0, 0, NULL);
		json_object_set_new(ent, "destinations", ports);
		d->fn(d->userdata, &alert_port_sweep, desc, ent, s->e.first,
		      s->e.last, s->attempts);
	}
}

static void check_after_end(struct jit_detect *d, const struct jit_attempt *a)
{
	uint64_t watch = (uint64_t)d->lim.after_end_s * 1000;
	unsigned bit = a->proto == IPPROTO_TCP ? JIT_PROTO_TCP : JIT_PROTO_UDP;

	if (!watch)
		return;
	for (size_t i = 0; i < DETECT_ENDED; i++) {
		struct ended *e = &d->ended[i];
		char desc[640], host[JIT_PREFIX_STRLEN], src[JIT_PREFIX_STRLEN];
		json_t *ent;

		if (!e->used || a->ms < e->end_ms ||
		    a->ms - e->end_ms > watch || !(e->key.protos & bit) ||
		    a->port < e->key.port_lo || a->port > e->key.port_hi ||
		    !prefix_contains(&e->key.source, &a->src))
			continue;
		e->count++;
		if (e->alerted)
			continue;
		e->alerted = true;
		host_text(&a->src, host, sizeof(host));
		snprintf(desc, sizeof(desc),
			 "%s tried %s/%u %" PRIu64
			 "s after its just-in-time access ended (request "
			 "%" PRIu64 " of %s for %s, %s).",
			 host, proto_name(a->proto), a->port,
			 (a->ms - e->end_ms) / 1000, e->id, e->user,
			 prefix_format(&e->key.source, src, sizeof(src)),
			 e->why);
		ent = entities(&a->src, a->proto, a->port, e->policy);
		json_object_set_new(ent, "user", json_string(e->user));
		json_object_set_new(ent, "request_id", json_integer(e->id));
		d->fn(d->userdata, &alert_after_grant_end, desc, ent, a->ms,
		      a->ms, e->count);
	}
}

void detect_attempt(struct jit_detect *d, const struct jit_attempt *a)
{
	d->seen++;
	if (!d->lim.window_s)
		return;
	check_pair(d, a);
	check_sweep(d, a);
	check_after_end(d, a);
}

void detect_grant_ended(struct jit_detect *d, const struct jit_request *r,
			uint64_t ms)
{
	struct ended *e = NULL;

	if (!d->lim.after_end_s)
		return;
	for (size_t i = 0; i < DETECT_ENDED && !e; i++)
		if (!d->ended[i].used ||
		    ms - d->ended[i].end_ms >
			    (uint64_t)d->lim.after_end_s * 1000)
			e = &d->ended[i];
	if (!e) {
		e = &d->ended[d->hand_ended++ % DETECT_ENDED];
		d->evicted++;
	}
	*e = (struct ended){
		.used = true, .key = r->key, .end_ms = ms, .id = r->id
	};
	snprintf(e->policy, sizeof(e->policy), "%s", r->policy);
	snprintf(e->user, sizeof(e->user), "%s", r->user);
	snprintf(e->why, sizeof(e->why), "%s",
		 r->status_reason[0] ? r->status_reason
				     : status_name(r->status));
}

void detect_grant_started(struct jit_detect *d, const struct jit_request *r,
			  uint64_t ms)
{
	unsigned limit = r->key.source.family == AF_INET ? d->lim.wide_v4
							 : d->lim.wide_v6;
	char desc[640], src[JIT_PREFIX_STRLEN], ports[48];
	json_t *ent;

	if (!limit || r->key.source.len >= limit)
		return;
	prefix_format(&r->key.source, src, sizeof(src));
	snprintf(
		desc, sizeof(desc),
		"Request %" PRIu64 " by %s opened %s to %s (2^%u addresses%s) "
		"under policy '%s' until the grant ends; grants wider than /%u "
		"are reported.",
		r->id, r->user, grant_key_ports(&r->key, ports, sizeof(ports)),
		src,
		(r->key.source.family == AF_INET ? 32u : 128u) -
			r->key.source.len,
		r->key.source.len == 0 ? ": any address" : "", r->policy,
		limit);
	ent = json_pack("{s:{s:s}, s:s, s:s, s:s, s:I}", "source", "prefix",
			src, "ports", ports, "policy", r->policy, "user",
			r->user, "request_id", (json_int_t)r->id);
	d->fn(d->userdata, &alert_wide_grant, desc, ent, ms, ms, 1);
}

size_t detect_tracked(const struct jit_detect *d)
{
	return hashmap_count(&d->pair_table.index) +
	       hashmap_count(&d->port_table.index) +
	       hashmap_count(&d->source_table.index);
}

uint64_t detect_seen(const struct jit_detect *d)
{
	return d->seen;
}

uint64_t detect_evicted(const struct jit_detect *d)
{
	return d->evicted;
}
