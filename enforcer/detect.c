/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <netinet/in.h>

#include "detect.h"
#include "util.h"

#define DEFAULT_REPEATED    10
#define DEFAULT_SOURCES	    20
#define DEFAULT_SCAN_PORTS  3
#define DEFAULT_WINDOW_S    60
#define DEFAULT_AFTER_END_S 600
#define DEFAULT_WIDE_V4	    24
#define DEFAULT_WIDE_V6	    48
#define DEFAULT_LOG_RATE    50

/* One source on one port. */
struct pair {
	bool used;
	bool ref; /* seen since the clock hand last passed */
	struct jit_prefix src;
	uint8_t proto;
	uint16_t port;
	uint64_t window_start, first, last;
	uint32_t count;
	bool alerted;
};

/* One port, all sources. */
struct port {
	bool used;
	bool ref;
	uint8_t proto;
	uint16_t port;
	uint64_t window_start, first, last;
	uint32_t sources;
	bool alerted;
	char policy[JIT_POLICY_NAME_MAX + 1];
};

/* One source, all ports. */
struct source {
	bool used;
	bool ref;
	struct jit_prefix src;
	uint64_t window_start, first, last;
	uint8_t protos[DETECT_SCAN_MAX];
	uint16_t ports[DETECT_SCAN_MAX];
	uint32_t n_ports;
	uint32_t attempts;
	bool alerted;
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
	size_t hand_pairs, hand_ports, hand_sources, hand_ended;
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

struct jit_detect *detect_new(detect_fn fn, void *userdata)
{
	struct jit_detect *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->fn = fn;
	d->userdata = userdata;
	detect_limits_default(&d->lim);
	return d;
}

struct jit_detect *detect_free(struct jit_detect *d)
{
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

static bool same_host(const struct jit_prefix *a, const struct jit_prefix *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, prefix_addr_len(a));
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
#define FIND_SLOT(arr, n, hand, now, win, evicted)                        \
	({                                                                \
		size_t _s = (hand)++ % (n);                               \
		for (int _k = 0;                                          \
		     _k < CLOCK_STEPS && (arr)[_s].used && (arr)[_s].ref; \
		     _k++) {                                              \
			(arr)[_s].ref = false;                            \
			_s = (hand)++ % (n);                              \
		}                                                         \
		if ((arr)[_s].used && (now) - (arr)[_s].last <= (win))    \
			(evicted)++;                                      \
		_s;                                                       \
	})

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

static void check_pair(struct jit_detect *d, const struct jit_attempt *a)
{
	uint64_t win = window_ms(d);
	struct pair *p = NULL;
	size_t i;
	bool fresh = false;

	for (i = 0; i < DETECT_PAIRS; i++) {
		struct pair *x = &d->pairs[i];

		if (x->used && x->proto == a->proto && x->port == a->port &&
		    same_host(&x->src, &a->src)) {
			p = x;
			p->ref = true;
			break;
		}
	}
	if (!p) {
		i = FIND_SLOT(d->pairs, DETECT_PAIRS, d->hand_pairs, a->ms, win,
			      d->evicted);
		p = &d->pairs[i];
		*p = (struct pair){ .used = true,
				    .src = a->src,
				    .proto = a->proto,
				    .port = a->port,
				    .window_start = a->ms,
				    .first = a->ms };
		fresh = true;
	} else if (a->ms - p->window_start > win) {
		p->window_start = p->first = a->ms;
		p->count = 0;
		p->alerted = false;
		fresh = true;
	}
	p->count++;
	p->last = a->ms;

	/* Many-to-one: a source new to this port in this window. */
	if (fresh && d->lim.sources) {
		struct port *q = NULL;

		for (i = 0; i < DETECT_PORTS; i++)
			if (d->ports[i].used && d->ports[i].proto == a->proto &&
			    d->ports[i].port == a->port) {
				q = &d->ports[i];
				q->ref = true;
				break;
			}
		if (!q) {
			i = FIND_SLOT(d->ports, DETECT_PORTS, d->hand_ports,
				      a->ms, win, d->evicted);
			q = &d->ports[i];
			*q = (struct port){ .used = true,
					    .proto = a->proto,
					    .port = a->port,
					    .window_start = a->ms,
					    .first = a->ms };
		} else if (a->ms - q->window_start > win) {
			q->window_start = q->first = a->ms;
			q->sources = 0;
			q->alerted = false;
		}
		q->sources++;
		q->last = a->ms;
		snprintf(q->policy, sizeof(q->policy), "%s", a->policy);
		if (!q->alerted && q->sources >= d->lim.sources) {
			char desc[512], host[JIT_PREFIX_STRLEN];

			q->alerted = true;
			host_text(&a->src, host, sizeof(host));
			snprintf(desc, sizeof(desc),
				 "%u different sources tried %s/%u within %us "
				 "while it was closed by policy '%s'; the "
				 "latest was %s.",
				 q->sources, proto_name(a->proto), a->port,
				 d->lim.window_s,
				 a->policy[0] ? a->policy : "-", host);
			d->fn(d->userdata, &alert_distributed_attempts, desc,
			      entities(&a->src, a->proto, a->port, a->policy),
			      q->first, q->last, q->sources);
		}
	}

	if (d->lim.repeated && !p->alerted && p->count >= d->lim.repeated) {
		char desc[512], host[JIT_PREFIX_STRLEN];

		p->alerted = true;
		host_text(&a->src, host, sizeof(host));
		snprintf(desc, sizeof(desc),
			 "%s tried %s/%u %u times within %us while the port "
			 "was closed to it by policy '%s'.",
			 host, proto_name(a->proto), a->port, p->count,
			 d->lim.window_s, a->policy[0] ? a->policy : "-");
		d->fn(d->userdata, &alert_repeated_attempts, desc,
		      entities(&a->src, a->proto, a->port, a->policy), p->first,
		      p->last, p->count);
	}
}

static void check_sweep(struct jit_detect *d, const struct jit_attempt *a)
{
	uint64_t win = window_ms(d);
	struct source *s = NULL;
	size_t i;

	if (!d->lim.scan_ports)
		return;
	for (i = 0; i < DETECT_SOURCES; i++)
		if (d->sources[i].used &&
		    same_host(&d->sources[i].src, &a->src)) {
			s = &d->sources[i];
			s->ref = true;
			break;
		}
	if (!s) {
		i = FIND_SLOT(d->sources, DETECT_SOURCES, d->hand_sources,
			      a->ms, win, d->evicted);
		s = &d->sources[i];
		*s = (struct source){ .used = true,
				      .src = a->src,
				      .window_start = a->ms,
				      .first = a->ms };
	} else if (a->ms - s->window_start > win) {
		s->window_start = s->first = a->ms;
		s->n_ports = 0;
		s->attempts = 0;
		s->alerted = false;
	}
	s->last = a->ms;
	s->attempts++;
	for (i = 0; i < s->n_ports; i++)
		if (s->ports[i] == a->port && s->protos[i] == a->proto)
			break;
	if (i == s->n_ports && s->n_ports < DETECT_SCAN_MAX) {
		s->ports[s->n_ports] = a->port;
		s->protos[s->n_ports++] = a->proto;
	}
	if (!s->alerted && s->n_ports >= d->lim.scan_ports) {
		char desc[640], host[JIT_PREFIX_STRLEN], list[256] = "";
		json_t *ent, *ports = json_array();

		s->alerted = true;
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
		d->fn(d->userdata, &alert_port_sweep, desc, ent, s->first,
		      s->last, s->attempts);
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
	size_t n = 0;

	for (size_t i = 0; i < DETECT_PAIRS; i++)
		n += d->pairs[i].used;
	for (size_t i = 0; i < DETECT_PORTS; i++)
		n += d->ports[i].used;
	for (size_t i = 0; i < DETECT_SOURCES; i++)
		n += d->sources[i].used;
	return n;
}

uint64_t detect_seen(const struct jit_detect *d)
{
	return d->seen;
}

uint64_t detect_evicted(const struct jit_detect *d)
{
	return d->evicted;
}
