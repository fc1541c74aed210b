/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Single packet authorization: the table copies every packet to the SPA
 * port to an NFLOG group and drops it; here each one is checked (spa.c),
 * its digest made durable, and what it asks goes to the decision core as
 * requests of the stanza's JIT_USER, one per port, exactly as a request on
 * the control socket would.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>

#include "alert.h"
#include "authz.h"
#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/* Failures from one source within this window count together. */
#define FAIL_WINDOW_MS (60 * 1000)
/* Bad-HMAC packets from one source in a window that raise an alert. */
#define FAIL_ALERT_AT 5
/* Socket reads per wakeup: the socket requests get their turn between. */
#define SPA_READS      16
#define PRUNE_EVERY_MS (10 * 1000)

static int daemon_spa_reload(struct jit_daemon *d)
{
	struct jit_spa_conf *conf = NULL;
	struct jit_diag diag;
	int r;

	if (!d->cfg->spa_access)
		return 0;
	diag_init(&diag);
	r = spa_conf_load(d->cfg->spa_access, &conf, &diag);
	if (r < 0) {
		log_err("SPA access file rejected%s:",
			d->spa.conf ? "; the one in force stays" : "");
		log_lines(LOG_ERR, diag.text ? diag.text : "");
		free(d->spa.errors);
		d->spa.errors = TAKE_PTR(diag.text);
		diag_release(&diag);
		return r;
	}
	diag_release(&diag);
	d->spa.errors = (free(d->spa.errors), NULL);
	spa_conf_free(d->spa.conf);
	d->spa.conf = conf;
	log_info("SPA access file '%s': %zu stanza(s)", d->cfg->spa_access,
		 conf->n_stanzas);
	return 0;
}

static uint64_t source_hash(const struct jit_spa_state *s,
			    const struct jit_prefix *src)
{
	return hash_bytes(src->addr, prefix_addr_len(src),
			  s->seed ^ (uint64_t)src->family);
}

static uint64_t fail_hash(const void *entry, const void *ctx)
{
	const struct jit_spa_state *s = ctx;

	return source_hash(s, &s->fails[*(const uint32_t *)entry - 1].src);
}

static bool fail_eq(const void *entry, const void *key, const void *ctx)
{
	const struct jit_spa_state *s = ctx;
	const struct jit_prefix *a = &s->fails[*(const uint32_t *)entry - 1]
					      .src,
				*b = key;

	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, prefix_addr_len(b));
}

/*
 * The source's entry, made if needed: while the table is full, in place of
 * the one made longest ago (a flood of spoofed sources costs O(1) each).
 */
static struct jit_spa_source *
fail_source(struct jit_daemon *d, const struct jit_prefix *src, uint64_t now)
{
	struct jit_spa_state *s = &d->spa;
	uint64_t h = source_hash(s, src);
	uint32_t *idx = hashmap_find(&s->fail_index, h, fail_eq, src);
	struct jit_spa_source *e;

	if (idx) {
		e = &s->fails[*idx - 1];
	} else {
		uint32_t *old;
		size_t i;

		if (s->n_fails < JIT_SPA_FAIL_SOURCES) {
			i = s->n_fails++;
		} else {
			i = s->next_victim;
			s->next_victim = (i + 1) % JIT_SPA_FAIL_SOURCES;
			old = hashmap_find(&s->fail_index,
					   source_hash(s, &s->fails[i].src),
					   fail_eq, &s->fails[i].src);
			if (old)
				hashmap_remove(&s->fail_index, old);
		}
		e = &s->fails[i];
		memset(e, 0, sizeof(*e));
		e->src = *src;
		e->first_ms = now;
		/* Room was reserved for every entry: this never fails. */
		(void)hashmap_add(&s->fail_index, h,
				  &(uint32_t){ (uint32_t)i + 1 });
	}
	if (now - e->first_ms > FAIL_WINDOW_MS) {
		/* A new window: counts and alerts start over. */
		e->first_ms = now;
		e->bad_hmac = e->replays = 0;
	}
	e->last_ms = now;
	return e;
}

static const struct jit_alert_def *kind_alert(enum jit_spa_kind k)
{
	switch (k) {
	case JIT_SPA_K_REPLAY:
		return &alert_spa_replay;
	case JIT_SPA_K_REFUSED:
		return &alert_spa_refused;
	case JIT_SPA_K_BAD_HMAC:
		return &alert_spa_bad_hmac;
	default:
		return NULL;
	}
}

#define TOP_SOURCES 5

/* The sources most counted in window w, most first. */
static json_t *top_sources(struct jit_spa_state *s,
			   const struct jit_spa_window *w)
{
	struct jit_spa_source *top[TOP_SOURCES] = { 0 };
	json_t *out = json_array();

	for (size_t i = 0; i < s->n_fails; i++) {
		struct jit_spa_source *e = &s->fails[i];
		unsigned n = spa_window_counted(w, &e->tally);
		size_t k = TOP_SOURCES;

		if (!n)
			continue;
		while (k > 0 && (!top[k - 1] ||
				 spa_window_counted(w, &top[k - 1]->tally) < n))
			k--;
		if (k < TOP_SOURCES) {
			memmove(&top[k + 1], &top[k],
				(TOP_SOURCES - k - 1) * sizeof(top[0]));
			top[k] = e;
		}
	}
	for (size_t k = 0; k < TOP_SOURCES && top[k]; k++) {
		char src[JIT_PREFIX_STRLEN];

		json_array_append_new(
			out,
			json_pack("{s:s, s:i}", "source",
				  prefix_format(&top[k]->src, src, sizeof(src)),
				  "count",
				  (int)spa_window_counted(w, &top[k]->tally)));
	}
	return out;
}

/* One audit line, and one alert per type, for what the window counted. */
static void window_told(void *ctx, const struct jit_spa_window *w,
			uint64_t now_ms)
{
	struct jit_daemon *d = ctx;
	unsigned window_s = (unsigned)(w->length_ms / 1000);
	uint64_t total = 0, now = now_real_ms();
	uint64_t first = now - (now_ms - w->start_ms);
	json_t *counts = json_object();

	for (int k = 0; k < JIT_SPA_K_COUNT; k++) {
		if (!w->suppressed[k])
			continue;
		total += w->suppressed[k];
		json_object_set_new(counts, spa_kind_name(k),
				    json_integer((json_int_t)w->suppressed[k]));
	}
	if (total) {
		struct jit_request root = { .uid = 0 };

		log_notice("%" PRIu64 " more refused SPA packets from %u "
			   "source(s) in %u s, counted but not audited one "
			   "by one",
			   total, w->sources, window_s);
		daemon_event(d,
			     json_pack("{s:s, s:s, s:s, s:I, s:o, s:i, s:o, "
				       "s:i}",
				       "event", "spa", "channel", "spa",
				       "result", "suppressed", "count",
				       (json_int_t)total, "counts", counts,
				       "sources", (int)w->sources,
				       "top_sources", top_sources(&d->spa, w),
				       "window_s", (int)window_s),
			     &root);
	} else {
		json_decref(counts);
	}
	for (int k = 0; k < JIT_SPA_K_COUNT; k++) {
		char desc[256];

		if (!w->alerts_suppressed[k] || !kind_alert(k))
			continue;
		snprintf(desc, sizeof(desc),
			 "%u more %s alert(s) about SPA packets to udp/%u "
			 "within %u s, counted but not raised one by one",
			 w->alerts_suppressed[k], kind_alert(k)->type,
			 d->cfg->spa_port, window_s);
		daemon_alert(d, kind_alert(k), desc,
			     json_pack("{s:{s:i, s:s}}", "destination", "port",
				       (int)d->cfg->spa_port, "protocol",
				       "udp"),
			     first, now, w->alerts_suppressed[k]);
	}
}

static uint64_t daemon_spa_flush(struct jit_daemon *d, uint64_t now_ms,
				 bool all)
{
	return spa_window_flush(&d->spa.win, now_ms, all);
}

/* The first thing the window counts arms the timer at its end. */
static void arm_if_first(struct jit_daemon *d, bool was_pending,
			 uint64_t now_ms)
{
	if (!was_pending && spa_window_pending(&d->spa.win))
		daemon_refusals_flush(d, now_ms, false);
}

/*
 * A refused packet of kind k (from e's source, if known): its own audit
 * line (true) while the window allows one and may_line, else counted for
 * the window's line.
 */
static bool spa_refused(struct jit_daemon *d, struct jit_spa_source *e,
			enum jit_spa_kind k, bool may_line)
{
	struct jit_spa_tally *t = e ? &e->tally : NULL;
	uint64_t now_ms = now_mono_ms();
	bool was;

	spa_window_roll(&d->spa.win, now_ms);
	was = spa_window_pending(&d->spa.win);
	if (may_line && spa_window_line(&d->spa.win, t, k, now_ms))
		return true;
	if (!may_line)
		spa_window_count(&d->spa.win, t, k, now_ms);
	d->spa.c_suppressed++;
	arm_if_first(d, was, now_ms);
	return false;
}

/* Count a refused packet of kind k for the window's line. */
static void spa_suppress(struct jit_daemon *d, struct jit_spa_source *e,
			 enum jit_spa_kind k)
{
	(void)spa_refused(d, e, k, false);
}

/* Whether this refused packet gets its own audit line (see spa_refused). */
static bool spa_audited(struct jit_daemon *d, struct jit_spa_source *e,
			enum jit_spa_kind k)
{
	return spa_refused(d, e, k, true);
}

/* Whether an alert of kind k goes out, or is counted for the window. */
static bool spa_alerted(struct jit_daemon *d, enum jit_spa_kind k)
{
	uint64_t now_ms = now_mono_ms();
	bool was;

	spa_window_roll(&d->spa.win, now_ms);
	was = spa_window_pending(&d->spa.win);
	if (spa_window_alert(&d->spa.win, k, now_ms))
		return true;
	arm_if_first(d, was, now_ms);
	return false;
}

static void alert_source(struct jit_daemon *d, const struct jit_alert_def *def,
			 const struct jit_spa_source *e, unsigned count,
			 const char *what)
{
	char src[JIT_PREFIX_STRLEN], desc[384];

	prefix_format(&e->src, src, sizeof(src));
	snprintf(desc, sizeof(desc),
		 "%u SPA packet(s) %s from %s to udp/%u within %d s", count,
		 what, src, d->cfg->spa_port, FAIL_WINDOW_MS / 1000);
	daemon_alert(d, def, desc,
		     json_pack("{s:{s:s}, s:{s:i, s:s}}", "source", "address",
			       src, "destination", "port",
			       (int)d->cfg->spa_port, "protocol", "udp"),
		     e->first_ms, e->last_ms, count);
}

/* The uid of the stanza's JIT_USER, or 0 (root) where there is none. */
static uint32_t stanza_uid(const struct jit_spa_stanza *st)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (!st || getpwnam_r(st->jit_user, &pw, buf, sizeof(buf), &found) ||
	    !found)
		return 0;
	return found->pw_uid;
}

/*
 * One line in the audit trail (and for `jitctl events`) for a packet that
 * authenticated. uid: the stanza's user where known, else 0 (then only
 * root sees it among the events).
 */
static void audit_packet(struct jit_daemon *d, const struct jit_prefix *src,
			 const struct jit_spa_result *res, const char *result,
			 const char *error, const char *message,
			 json_t *requests, uint32_t uid)
{
	struct jit_request who = { .uid = uid };
	char from[JIT_PREFIX_STRLEN], open[JIT_PREFIX_STRLEN];
	json_t *ev =
		json_pack("{s:s, s:s, s:s, s:s}", "event", "spa", "channel",
			  "spa", "result", result, "packet_source",
			  prefix_format(src, from, sizeof(from)));

	if (!ev) {
		json_decref(requests);
		return;
	}
	if (res->stanza) {
		json_object_set_new(ev, "stanza",
				    json_integer(res->stanza->line));
		json_object_set_new(ev, "jit_user",
				    json_string(res->stanza->jit_user));
	}
	if (res->user[0])
		json_object_set_new(ev, "user", json_string(res->user));
	if (res->message[0])
		json_object_set_new(ev, "message", json_string(res->message));
	if (res->open.family)
		json_object_set_new(ev, "source",
				    json_string(prefix_format(&res->open, open,
							      sizeof(open))));
	if (res->n_ports) {
		char ports[JIT_SPA_PORTS_MAX * 12] = "";

		for (size_t i = 0; i < res->n_ports; i++)
			snprintf(ports + strlen(ports),
				 sizeof(ports) - strlen(ports), "%s%s/%u",
				 i ? " " : "",
				 proto_name(res->ports[i].ipproto),
				 res->ports[i].port);
		json_object_set_new(ev, "ports", json_string(ports));
	}
	if (res->duration_s)
		json_object_set_new(ev, "duration_s",
				    json_integer(res->duration_s));
	/* An authenticated packet asks in the name of its stanza's user. */
	if (res->stanza) {
		json_object_set_new(ev, "requestor",
				    json_string(res->stanza->jit_user));
		json_object_set_new(
			ev, "actor",
			json_pack("{s:s, s:I}", "user", res->stanza->jit_user,
				  "uid",
				  (json_int_t)(uid ? uid
						   : stanza_uid(res->stanza))));
	} else {
		json_object_set_new(ev, "actor",
				    json_pack("{s:n, s:n}", "user", "uid"));
	}
	if (error)
		json_object_set_new(ev, "error", json_string(error));
	if (message && *message)
		json_object_set_new(ev, "why", json_string(message));
	if (requests)
		json_object_set_new(ev, "requests", requests);
	if (res->stanza)
		snprintf(who.user, sizeof(who.user), "%s",
			 res->stanza->jit_user);
	daemon_event(d, ev, &who);
	if (error)
		log_notice("SPA packet from %s refused: %s", from,
			   message && *message ? message : error);
	else
		log_info("SPA packet from %s (stanza of line %u, user %s): %s",
			 from, res->stanza ? res->stanza->line : 0,
			 res->stanza ? res->stanza->jit_user : "", result);
}

#define FIRST_MSG_LEN 700

/* What became of the ports of one packet, and the first refusal. */
struct packet_outcome {
	unsigned granted, pending, refused;
	const char *first_error;
	char *first_msg; /* FIRST_MSG_LEN bytes */
};

static void port_refused(struct packet_outcome *o, const char *code,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void port_refused(struct packet_outcome *o, const char *code,
			 const char *fmt, ...)
{
	va_list ap;

	o->refused++;
	if (o->first_error)
		return;
	o->first_error = code;
	va_start(ap, fmt);
	vsnprintf(o->first_msg, FIRST_MSG_LEN, fmt, ap);
	va_end(ap);
}

/* Port i of an accepted packet becomes a request; its result joins reqs. */
static void request_port(struct jit_daemon *d, struct jit_identity *id,
			 const struct jit_spa_result *res, size_t i,
			 const char *iif, char *reason, json_t *reqs,
			 struct packet_outcome *o)
{
	struct jit_request tmpl = {
		.key = { .source = res->open,
			 .protos = res->ports[i].ipproto == IPPROTO_TCP
					   ? JIT_PROTO_TCP
					   : JIT_PROTO_UDP,
			 .port_lo = res->ports[i].port,
			 .port_hi = res->ports[i].port },
		.duration_s = res->duration_s,
		.reason = reason,
	};
	const struct jit_policy *p =
		authz_pick_policy(d->policies, id, &tmpl, iif);
	struct jit_request *r = NULL;
	struct jit_refusal why;
	char port[16];

	snprintf(port, sizeof(port), "%s/%u", proto_name(res->ports[i].ipproto),
		 res->ports[i].port);
	if (!p) {
		port_refused(o, "not-protected", "no policy protects %s", port);
		json_array_append_new(reqs,
				      json_pack("{s:s, s:s, s:s}", "port", port,
						"result", "refused", "error",
						"not-protected"));
		return;
	}
	snprintf(tmpl.policy, sizeof(tmpl.policy), "%s", p->name);
	if (access_request(&d->access, id, &tmpl, &r, &why) < 0) {
		port_refused(o, why.code, "%.15s: %.600s", port, why.message);
		json_array_append_new(
			reqs, json_pack("{s:s, s:s, s:s, s:s}", "port", port,
					"policy", p->name, "result", "refused",
					"error", why.code));
		return;
	}
	if (r->status == JIT_INITIATED) {
		json_t *reply = json_object();

		o->granted++;
		/* Durable at the end of the pass, or taken back. */
		daemon_pass_grant(d, r->id, reply);
		json_decref(reply);
	} else {
		o->pending++;
	}
	json_array_append_new(
		reqs,
		json_pack("{s:s, s:s, s:I, s:s}", "port", port, "policy",
			  p->name, "request_id", (json_int_t)r->id, "result",
			  r->status == JIT_INITIATED ? "granted" : "pending"));
}

/* The ports of an accepted packet become requests; then one audit line. */
static void grant_packet(struct jit_daemon *d, struct jit_spa_item *it)
{
	const struct jit_spa_result *res = &it->res;
	const struct jit_spa_stanza *st = res->stanza;
	char first_msg[FIRST_MSG_LEN] = "";
	struct packet_outcome o = { .first_msg = first_msg };
	struct jit_identity id;
	char reason[128], src[JIT_PREFIX_STRLEN];
	json_t *reqs = json_array();

	if (identity_lookup_name(st->jit_user, &id) < 0) {
		d->spa.c_refused++;
		snprintf(first_msg, sizeof(first_msg),
			 "JIT_USER '%s' of the stanza of line %u is not a "
			 "user of this host",
			 st->jit_user, st->line);
		if (spa_audited(d, fail_source(d, &it->src, now_real_ms()),
				JIT_SPA_K_REFUSED))
			audit_packet(d, &it->src, res, "refused",
				     "unknown-user", first_msg, reqs, 0);
		else
			json_decref(reqs);
		return;
	}
	snprintf(reason, sizeof(reason), "SPA from %s (stanza of line %u)",
		 prefix_format(&it->src, src, sizeof(src)), st->line);
	id.channel = "spa";
	for (size_t i = 0; i < res->n_ports; i++)
		request_port(d, &id, res, i, it->iif, reason, reqs, &o);
	access_arm_timer(d);
	if (o.granted || o.pending)
		d->spa.c_accepted++;
	if (o.refused)
		d->spa.c_refused++;
	/* A packet refused whole is a refused packet like the stanza's: its
	 * line counts against the window (a flood of fresh packets for a
	 * port no policy protects cannot grow the trail without bound). */
	if (o.granted || o.pending ||
	    spa_audited(d, fail_source(d, &it->src, now_real_ms()),
			JIT_SPA_K_REFUSED))
		audit_packet(d, &it->src, res,
			     !o.refused ? (o.pending ? "pending" : "granted")
			     : o.granted || o.pending ? "partial"
						      : "refused",
			     o.refused && !o.granted && !o.pending
				     ? o.first_error
				     : NULL,
			     first_msg, reqs, id.uid);
	else
		json_decref(reqs);
	identity_release(&id);
	if (o.refused && spa_alerted(d, JIT_SPA_K_REFUSED)) {
		char desc[768];
		uint64_t now = now_real_ms();

		snprintf(desc, sizeof(desc),
			 "an SPA packet from %s for user %s was refused: %s",
			 src, st->jit_user, first_msg);
		daemon_alert(d, &alert_spa_refused, desc,
			     json_pack("{s:{s:s}, s:s, s:I, s:s, s:i}",
				       "source", "address", src, "user",
				       st->jit_user, "uid", (json_int_t)id.uid,
				       "message", res->message, "stanza",
				       (int)st->line),
			     now, now, 1);
	}
}

/*
 * A packet the stanza refused: audited, and a Low alert, for the stanza's
 * user (and root) to see.
 */
static void refuse_packet(struct jit_daemon *d, const struct jit_spa_item *it)
{
	char src[JIT_PREFIX_STRLEN], desc[768];
	uint64_t now = now_real_ms();
	struct jit_spa_source *e = fail_source(d, &it->src, now);

	d->spa.c_refused++;
	if (spa_audited(d, e, JIT_SPA_K_REFUSED))
		audit_packet(d, &it->src, &it->res, "refused", "stanza",
			     it->res.why, NULL, stanza_uid(it->res.stanza));
	if (!spa_alerted(d, JIT_SPA_K_REFUSED))
		return;
	prefix_format(&it->src, src, sizeof(src));
	snprintf(desc, sizeof(desc), "an SPA packet from %s was refused: %s",
		 src, it->res.why);
	/* Its uid with it: who may see it is decided without NSS. */
	daemon_alert(d, &alert_spa_refused, desc,
		     json_pack("{s:{s:s}, s:s, s:I, s:s}", "source", "address",
			       src, "user",
			       it->res.stanza ? it->res.stanza->jit_user : "",
			       "uid", (json_int_t)stanza_uid(it->res.stanza),
			       "message", it->res.message),
		     now, now, 1);
}

/* A UDP packet to the SPA port: its addresses and its payload. */
static int parse_udp(const struct jit_daemon *d, int family, const uint8_t *pkt,
		     size_t len, struct jit_spa_packet *ret)
{
	struct jit_l4 h;
	uint16_t ulen;

	if (nflog_parse_l4(pkt, len, family, &h) < 0 ||
	    h.proto != IPPROTO_UDP || h.port != d->cfg->spa_port ||
	    len < h.off + 8)
		return -EINVAL;
	ulen = (uint16_t)(pkt[h.off + 4] << 8 | pkt[h.off + 5]);
	if (ulen < 8)
		return -EINVAL;
	*ret = (struct jit_spa_packet){
		.src = h.src,
		.dst = h.dst,
		.data = (const char *)pkt + h.off + 8,
		.len = len - h.off - 8,
	};
	if (ret->len > (size_t)ulen - 8)
		ret->len = (size_t)ulen - 8;
	return 0;
}

/*
 * Counts a packet that is not fresh and authenticated, with its audit
 * line and alert; returns false for those, true for packets to go on
 * with (refused by the stanza, or accepted).
 */
static bool verdict_goes_on(struct jit_daemon *d,
			    const struct jit_spa_packet *p,
			    const struct jit_spa_result *res, uint64_t now)
{
	struct jit_spa_state *s = &d->spa;

	switch (res->verdict) {
	case JIT_SPA_IGNORED:
		s->c_ignored++;
		return false;
	case JIT_SPA_NO_STANZA:
		s->c_no_stanza++;
		return false;
	case JIT_SPA_BAD_HMAC: {
		struct jit_spa_source *e = fail_source(d, &p->src, now);

		s->c_bad_hmac++;
		/* Once per source and window: when the count reaches it. */
		if (++e->bad_hmac == FAIL_ALERT_AT &&
		    spa_alerted(d, JIT_SPA_K_BAD_HMAC))
			alert_source(d, &alert_spa_bad_hmac, e, e->bad_hmac,
				     "that no stanza's HMAC key authenticates");
		return false;
	}
	case JIT_SPA_REPLAY: {
		struct jit_spa_source *e = fail_source(d, &p->src, now);

		s->c_replays++;
		/* One audit line and one alert per source and window, and
		 * no more than the window allows from all sources. */
		if (e->replays++ == 0) {
			if (spa_audited(d, e, JIT_SPA_K_REPLAY))
				audit_packet(d, &p->src, res, "refused",
					     "replay", res->why, NULL, 0);
			/* Not tied to the line: a flood of other refusals
			 * must not hide a replay. */
			if (spa_alerted(d, JIT_SPA_K_REPLAY))
				alert_source(d, &alert_spa_replay, e, 1,
					     "replaying a packet accepted "
					     "before");
		} else {
			spa_suppress(d, e, JIT_SPA_K_REPLAY);
		}
		return false;
	}
	case JIT_SPA_BAD_DATA:
		s->c_bad_data++;
		if (spa_audited(d, fail_source(d, &p->src, now),
				JIT_SPA_K_BAD_DATA))
			audit_packet(d, &p->src, res, "refused", "bad-data",
				     res->why, NULL, 0);
		return false;
	case JIT_SPA_STALE:
		s->c_stale++;
		if (spa_audited(d, fail_source(d, &p->src, now),
				JIT_SPA_K_STALE))
			audit_packet(d, &p->src, res, "refused", "stale",
				     res->why, NULL, 0);
		return false;
	case JIT_SPA_REFUSED:
	case JIT_SPA_ACCEPTED:
		break;
	}
	return true;
}

/*
 * Fresh and authenticated: from now on a copy is a replay, in memory at
 * once and on disk before anything opens. The packet waits in the batch
 * for the end of the pass.
 */
static void batch_packet(struct jit_daemon *d, const struct jit_spa_packet *p,
			 const struct jit_spa_result *res, uint32_t ifindex,
			 uint64_t now)
{
	struct jit_spa_state *s = &d->spa;
	struct jit_spa_item *it;
	int64_t newest = res->timestamp > (int64_t)(now / 1000)
				 ? res->timestamp
				 : (int64_t)(now / 1000);
	uint64_t until =
		(uint64_t)(newest + d->cfg->spa_max_age_s) * 1000 + 999;

	if (grow_array((void **)&s->batch, &s->cap_batch, s->n_batch + 1,
		       sizeof(*s->batch)) < 0) {
		s->c_not_recorded++;
		return;
	}
	it = &s->batch[s->n_batch++];
	it->src = p->src;
	/* Its interface picks among interface-scoped policies. */
	if (!ifindex || !if_indextoname(ifindex, it->iif))
		it->iif[0] = '\0';
	it->res = *res;
	it->err = replay_add(d->replay, res->digest, until, now);
	if (!it->err) {
		it->err = journal_append_digest(d->access.journal, res->digest,
						until);
		if (it->err)
			replay_forget(d->replay, res->digest);
	}
}

static void on_packet(void *userdata, int family, const uint8_t *pkt,
		      size_t len, uint32_t ifindex)
{
	struct jit_daemon *d = userdata;
	struct jit_spa_state *s = &d->spa;
	struct jit_spa_packet p;
	struct jit_spa_result res;
	uint64_t now = now_real_ms();

	s->c_packets++;
	if (!s->conf || parse_udp(d, family, pkt, len, &p) < 0) {
		s->c_ignored++;
		return;
	}
	spa_check(s->conf, d->replay, &p, (int64_t)(now / 1000),
		  d->cfg->spa_max_age_s, &res);
	if (verdict_goes_on(d, &p, &res, now))
		batch_packet(d, &p, &res, ifindex, now);
}

/* The packets of one read: their digests durable first, then decisions. */
static void on_batch(void *userdata)
{
	struct jit_daemon *d = userdata;
	struct jit_spa_state *s = &d->spa;
	int sync = 0;
	uint64_t now = now_real_ms();

	if (!s->n_batch)
		goto prune;
	sync = daemon_journal_sync(d);
	for (size_t i = 0; i < s->n_batch; i++) {
		struct jit_spa_item *it = &s->batch[i];
		int err = it->err ? it->err : sync;

		if (err < 0) {
			char msg[256];

			/* Refused before it counted: a resend is no replay. */
			if (!it->err)
				replay_forget(d->replay, it->res.digest);
			s->c_not_recorded++;
			snprintf(msg, sizeof(msg),
				 "cannot record the packet's digest: %s on %s",
				 strerror(-err), d->cfg->state_dir);
			audit_packet(d, &it->src, &it->res, "refused",
				     "not-recorded", msg, NULL, 0);
			continue;
		}
		if (it->res.verdict == JIT_SPA_REFUSED)
			refuse_packet(d, it);
		else
			grant_packet(d, it);
	}
	s->n_batch = 0;
prune:
	if (now - s->last_prune_ms > PRUNE_EVERY_MS) {
		replay_prune(d->replay, now);
		s->last_prune_ms = now;
	}
}

static int daemon_spa_setup(struct jit_daemon *d)
{
	int r;

	if (!d->cfg->spa_access)
		return 0;
	d->spa.seed = hash_seed();
	spa_window_init(&d->spa.win, d->cfg->spa_window_ms, window_told, d);
	hashmap_init(&d->spa.fail_index, sizeof(uint32_t), fail_hash, &d->spa);
	if (hashmap_reserve(&d->spa.fail_index, JIT_SPA_FAIL_SOURCES) < 0)
		return -ENOMEM;
	r = daemon_spa_reload(d);
	if (r < 0) {
		log_err("SPA access file '%s' rejected: fix it, or start "
			"without --spa-access",
			d->cfg->spa_access);
		return r;
	}
	r = nflog_open_raw(d->cfg->spa_group, JIT_SPA_SNAPLEN, SPA_READS,
			   d->epfd, on_packet, on_batch, d, &d->spa.nflog);
	if (r < 0) {
		log_err("reading NFLOG group %u for SPA packets: %s (another "
			"program may use it: see --spa-nflog-group)",
			d->cfg->spa_group, strerror(-r));
		return r;
	}
	log_notice("SPA: udp/%u, %zu stanza(s) from '%s'", d->cfg->spa_port,
		   d->spa.conf->n_stanzas, d->cfg->spa_access);
	return 0;
}

static void daemon_spa_teardown(struct jit_daemon *d)
{
	nflog_close(d->spa.nflog);
	d->spa.nflog = NULL;
	spa_conf_free(d->spa.conf);
	d->spa.conf = NULL;
	free(d->spa.errors);
	free(d->spa.batch);
	hashmap_clear(&d->spa.fail_index);
}

static json_t *daemon_spa_status(struct jit_daemon *d)
{
	const struct jit_spa_state *s = &d->spa;

	if (!d->cfg->spa_access)
		return json_pack("{s:b}", "enabled", 0);
	return json_pack(
		"{s:b, s:i, s:i, s:s, s:i, s:i, s:I, s:s?, s:{s:I, s:I, s:I, "
		"s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
		"enabled", 1, "port", (int)d->cfg->spa_port, "nflog_group",
		(int)d->cfg->spa_group, "access_file", d->cfg->spa_access,
		"stanzas", s->conf ? (int)s->conf->n_stanzas : 0, "max_age_s",
		(int)d->cfg->spa_max_age_s, "digests",
		(json_int_t)replay_count(d->replay), "errors", s->errors,
		"counters", "packets", (json_int_t)s->c_packets, "accepted",
		(json_int_t)s->c_accepted, "bad_hmac",
		(json_int_t)s->c_bad_hmac, "replays", (json_int_t)s->c_replays,
		"refused", (json_int_t)s->c_refused, "stale",
		(json_int_t)s->c_stale, "no_stanza", (json_int_t)s->c_no_stanza,
		"bad_data", (json_int_t)s->c_bad_data, "ignored",
		(json_int_t)s->c_ignored, "not_recorded",
		(json_int_t)s->c_not_recorded, "not_audited",
		(json_int_t)s->c_suppressed);
}

const struct jit_channel channel_spa = {
	.name = "spa",
	.setup = daemon_spa_setup,
	.reload = daemon_spa_reload,
	.teardown = daemon_spa_teardown,
	.status = daemon_spa_status,
	.flush = daemon_spa_flush,
};
