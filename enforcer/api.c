/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The protocol edge of the request lifecycle: control messages in, typed
 * calls into the decision core (access.c), replies and audit lines out.
 * Grants answered here wait for the journal sync of the loop's pass.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>

#include <stdarg.h>

#include "api.h"
#include "conntrack.h"
#include "daemon-internal.h"
#include "duration.h"
#include "log.h"
#include "sockdiag.h"
#include "terminate.h"
#include "util.h"

/* ---- request messages ---------------------------------------------------- */

/* Where a request's first error goes: its stable code and its message. */
struct parse_err {
	const char **code;
	char *msg;
	size_t len;
};

static int fail(struct parse_err *e, const char *c, const char *fmt, ...)
{
	va_list ap;

	*e->code = c;
	va_start(ap, fmt);
	vsnprintf(e->msg, e->len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * One field of a message, unpacked with fmt ("{s:s}", "{s?o}", ...) into
 * *ret; with no key, fmt ("s") is for msg itself. jansson's refusals map onto
 * the protocol's codes: a key that is not there is missing-field, a value of
 * another type is bad-type.
 */
static int unpack_field(json_t *msg, const char *fmt, const char *key,
			void *ret, const char *type_msg, struct parse_err *e)
{
	json_error_t jerr;

	if ((key ? json_unpack_ex(msg, &jerr, 0, fmt, key, ret)
		 : json_unpack_ex(msg, &jerr, 0, fmt, ret)) == 0)
		return 0;
	if (json_error_code(&jerr) == json_error_item_not_found)
		return fail(e, "missing-field", "missing field '%s'", key);
	return fail(e, "bad-type", "%s", type_msg);
}

/*
 * A user's value for a message: at most max bytes, cut on a character,
 * control characters shown as '?' (messages reach logs and terminals).
 */
static const char *clip(const char *s, size_t max, char buf[static 68])
{
	snprintf(buf, max + 1 < 68 ? max + 1 : 68, "%s", s);
	utf8_truncate_invalid(buf);
	text_make_safe(buf);
	return buf;
}

static int parse_port_text(const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			return -EINVAL;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end || a < 1 || a > 65535 || b < a || b > 65535)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* An optional field: NULL when it is absent or null. */
static json_t *optional_field(json_t *msg, const char *key)
{
	json_t *v = json_object_get(msg, key);

	return json_is_null(v) ? NULL : v;
}

/* An optional string field: *ret NULL when it is absent or null. */
static int optional_string(json_t *msg, const char *key, const char **ret,
			   struct parse_err *e)
{
	json_t *v = optional_field(msg, key);
	char type_msg[64];

	*ret = NULL;
	if (!v)
		return 0;
	snprintf(type_msg, sizeof(type_msg), "field '%s' must be a string",
		 key);
	return unpack_field(v, "s", NULL, ret, type_msg, e);
}

/* A required string field. */
static int required_string(json_t *msg, const char *key, const char **ret,
			   struct parse_err *e)
{
	char type_msg[64];

	snprintf(type_msg, sizeof(type_msg), "field '%s' must be a string",
		 key);
	return unpack_field(msg, "{s:s}", key, ret, type_msg, e);
}

static int parse_policy(json_t *msg, struct jit_request *out,
			struct parse_err *e)
{
	const char *s;
	char val[68];
	int r;

	r = required_string(msg, "policy", &s, e);
	if (r < 0)
		return r;
	/* The rule policies are named by: nothing else can name one. */
	if (!policy_name_valid(s))
		return fail(e, "bad-value",
			    "'%s' is not a policy name (1..%d of a-z, 0-9, "
			    "'-' and '_')",
			    clip(s, 64, val), JIT_POLICY_NAME_MAX);
	snprintf(out->policy, sizeof(out->policy), "%s", s);
	return 0;
}

/* A number, or text: one port or a range "lo-hi". */
static int parse_port(json_t *msg, struct jit_request *out, struct parse_err *e)
{
	json_t *port;
	char val[68];
	int r;

	r = unpack_field(msg, "{s:o}", "port", &port,
			 "field 'port' must be a number or a string", e);
	if (r < 0)
		return r;
	if (json_is_integer(port)) {
		json_int_t v = json_integer_value(port);

		if (v < 1 || v > 65535)
			return fail(e, "bad-value",
				    "port %lld is out of range 1..65535",
				    (long long)v);
		out->key.port_lo = out->key.port_hi = (uint16_t)v;
	} else if (json_is_string(port)) {
		if (parse_port_text(json_string_value(port), &out->key.port_lo,
				    &out->key.port_hi) < 0)
			return fail(e, "bad-value",
				    "port '%s' is not a port (1..65535) or "
				    "a range like 5985-5986",
				    clip(json_string_value(port), 32, val));
	} else {
		return fail(e, "bad-type",
			    "field 'port' must be a number or a string");
	}
	return 0;
}

/* Optional; null or absent leaves the protocols to the policy. */
static int parse_protocol(json_t *msg, struct jit_request *out,
			  struct parse_err *e)
{
	const char *s;
	char val[68];
	int r;

	r = optional_string(msg, "protocol", &s, e);
	if (r < 0 || !s)
		return r;
	out->key.protos = protocol_parse(s);
	if (!out->key.protos)
		return fail(e, "bad-value",
			    "protocol '%s' is not tcp, udp or any",
			    clip(s, 16, val));
	return 0;
}

static int parse_source(json_t *msg, struct jit_request *out,
			struct parse_err *e)
{
	const char *s;
	char val[68];
	int r;

	r = required_string(msg, "source", &s, e);
	if (r < 0)
		return r;
	if (prefix_parse(s, &out->key.source) < 0)
		return fail(e, "bad-value",
			    "source '%s' is not an IPv4/IPv6 address or "
			    "prefix (with no host bits set)",
			    clip(s, 64, val));
	if (prefix_is_v4_mapped(&out->key.source))
		return fail(e, "bad-value",
			    "source '%s' is an IPv4 address written as IPv6, "
			    "which no IPv4 packet matches: write it as IPv4",
			    clip(s, 64, val));
	return 0;
}

/* Text such as "1h30m" or "PT2H"; zero and more than the limit refused. */
static int parse_duration_text(const char *s, uint64_t *v, struct parse_err *e)
{
	char val[68];

	/* "10" in a string is a guess at a unit; a JSON number is seconds. */
	if (*s && strspn(s, "0123456789") == strlen(s))
		return fail(e, "bad-value",
			    "duration '%s' has no unit: %ss? %sm? (a JSON "
			    "number, not a string, is seconds)",
			    clip(s, 32, val), val, val);
	if (duration_parse(s, v) < 0)
		return fail(e, "bad-value",
			    "duration '%s' is not a duration like 90s, 15m, "
			    "2h, 1h30m or PT2H",
			    clip(s, 32, val));
	if (*v == 0)
		return fail(e, "bad-value", "duration '%s' is zero",
			    clip(s, 32, val));
	if (*v > JIT_DURATION_MAX_S)
		return fail(e, "bad-value",
			    "duration '%s' exceeds the limit of 24h",
			    clip(s, 32, val));
	return 0;
}

/* Optional; a number of seconds or text. */
static int parse_duration(json_t *msg, struct jit_request *out,
			  struct parse_err *e)
{
	json_t *dur = optional_field(msg, "duration");
	uint64_t v;
	int r;

	if (!dur)
		return 0;
	if (json_is_integer(dur)) {
		json_int_t i = json_integer_value(dur);

		if (i < 1 || i > JIT_DURATION_MAX_S)
			return fail(e, "bad-value",
				    "duration %llds is out of range 1s..24h",
				    (long long)i);
		v = (uint64_t)i;
	} else if (json_is_string(dur)) {
		r = parse_duration_text(json_string_value(dur), &v, e);
		if (r < 0)
			return r;
	} else {
		return fail(e, "bad-type",
			    "field 'duration' must be a string or a number of "
			    "seconds");
	}
	out->duration_s = (uint32_t)v;
	return 0;
}

/* Optional; printable text under the limit, kept only when not empty. */
static int parse_reason(json_t *msg, struct jit_request *out,
			struct parse_err *e)
{
	const char *s;
	int r;

	r = optional_string(msg, "reason", &s, e);
	if (r < 0 || !s)
		return r;
	if (strlen(s) >= JIT_REASON_MAX)
		return fail(e, "bad-value", "reason is longer than %d bytes",
			    JIT_REASON_MAX - 1);
	if (!text_is_safe(s))
		return fail(e, "bad-value",
			    "reason must not contain control characters");
	if (*s) {
		out->reason = strdup(s);
		if (!out->reason)
			return fail(e, "internal", "out of memory");
	}
	return 0;
}

/*
 * Fields are checked in this order, and the first error is the one
 * reported. Fields the request does not know were refused before, where
 * the op was found (daemon-views.c).
 */
int request_parse(json_t *msg, struct jit_request *out, const char **code,
		  char *errmsg, size_t errlen)
{
	static int (*const fields[])(json_t *, struct jit_request *,
				     struct parse_err *) = {
		parse_policy, parse_port,     parse_protocol,
		parse_source, parse_duration, parse_reason,
	};
	struct parse_err e = { code, errmsg, errlen };

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int r = fields[i](msg, out, &e);

		if (r < 0)
			return r;
	}
	return 0;
}

json_t *request_json(const struct jit_request *r, uint64_t now_ms)
{
	char src[JIT_PREFIX_STRLEN], ports[48];
	json_t *j;

	j = json_pack("{s:I, s:s, s:{s:s, s:I}, s:s, s:s, s:i, s:i, s:s, "
		      "s:I, s:s, s:s, s:s, s:I}",
		      "id", (json_int_t)r->id, "policy", r->policy, "requestor",
		      "user", r->user, "uid", (json_int_t)r->uid, "source",
		      prefix_format(&r->key.source, src, sizeof(src)), "ports",
		      grant_key_ports(&r->key, ports, sizeof(ports)), "port_lo",
		      r->key.port_lo, "port_hi", r->key.port_hi, "reason",
		      request_reason(r), "duration_s",
		      (json_int_t)r->duration_s, "status",
		      status_name(r->status), "status_reason", r->status_reason,
		      "decided_by", r->decided_by, "requested_ms",
		      (json_int_t)r->requested_ms);
	if (!j)
		return NULL;
	json_object_set_new(j, "protocols",
			    json_string(protocol_word(r->key.protos)));
	if (r->start_ms) {
		json_object_set_new(j, "start_ms", json_integer(r->start_ms));
		json_object_set_new(j, "end_ms", json_integer(r->end_ms));
	}
	if (r->status == JIT_INITIATED)
		json_object_set_new(
			j, "expires_in_s",
			json_integer(r->end_ms > now_ms
					     ? (r->end_ms - now_ms + 999) / 1000
					     : 0));
	if (r->replaced_by)
		json_object_set_new(j, "replaced_by",
				    json_integer(r->replaced_by));
	if (r->fleet_id) {
		char id[20];

		snprintf(id, sizeof(id), "%016" PRIx64, r->fleet_id);
		json_object_set_new(j, "channel", json_string("fleet"));
		json_object_set_new(j, "fleet_id", json_string(id));
		json_object_set_new(j, "fleet_rev",
				    json_integer((json_int_t)r->fleet_rev));
	}
	return j;
}

/* ---- the lifecycle --------------------------------------------------------
 */

/* A refusal found here, before the core was asked (malformed messages). */
static json_t *refuse(struct jit_daemon *d, const struct jit_identity *id,
		      const char *event, const struct jit_request *r,
		      const char *code, const char *message)
{
	struct jit_access_event e = { .event = event,
				      .by = id,
				      .r = r,
				      .result = "refused",
				      .error = code,
				      .message = message };

	daemon_audit_decision(d, &e);
	return control_error(code, "%s", message);
}

static json_t *refusal(const struct jit_refusal *why)
{
	return control_error(why->code, "%s", why->message);
}

static json_t *request_reply(const struct jit_request *r)
{
	return json_pack("{s:b, s:o}", "ok", 1, "request",
			 request_json(r, now_real_ms()));
}

int peer_identity(const struct jit_peer *peer, struct jit_identity *id)
{
	int r = identity_lookup(peer->uid, peer->gid, id);

	if (r < 0) {
		memset(id, 0, sizeof(*id));
		id->uid = peer->uid;
		snprintf(id->name, sizeof(id->name), "%u", peer->uid);
	}
	return r;
}

static int get_id(json_t *msg, uint64_t *id, json_t **reply)
{
	static const char positive[] = "field 'id' must be a positive integer";
	const char *code;
	char err[64];
	struct parse_err e = { &code, err, sizeof(err) };
	json_int_t v;

	if (unpack_field(msg, "{s:I}", "id", &v, positive, &e) < 0 ||
	    (v < 1 && fail(&e, "bad-value", "%s", positive) < 0)) {
		*reply = control_error(code, "%s", err);
		return -EINVAL;
	}
	*id = (uint64_t)v;
	return 0;
}

/* A spared connection for the reply: the record only if id may see it. */
static json_t *spared_json(struct jit_daemon *d, const struct jit_identity *id,
			   const struct jit_spared *sp)
{
	const struct jit_flow *f = &sp->flow;
	char remote[INET6_ADDRSTRLEN], local[INET6_ADDRSTRLEN];
	const struct jit_request *r;
	json_t *j;

	inet_ntop(f->family, f->remote, remote, sizeof(remote));
	inet_ntop(f->family, f->local, local, sizeof(local));
	j = json_pack(
		"{s:s, s:s, s:i, s:s, s:i, s:s}", "protocol",
		proto_name(f->proto), "source", remote, "source_port", f->rport,
		"destination", local, "port", f->lport, "reason",
		sp->why == JIT_SPARED_ELDER ? "older-than-agent" : "covered");
	r = sp->why == JIT_SPARED_COVERED
		    ? grants_get(d->access.grants, sp->record)
		    : NULL;
	if (j && r && authz_may_see(daemon_policy_named(d, r->policy), id, r))
		json_object_set_new(j, "record",
				    json_integer((json_int_t)sp->record));
	return j;
}

/*
 * End the connections the revoked record r let in, except those another
 * live record covers and the sessions older than the agent; the reply and
 * the audit line say what was done and what was spared.
 */
static void terminate(struct jit_daemon *d, const struct jit_identity *id,
		      const struct jit_request *r, json_t *reply)
{
	struct jit_terminate_scope sc = {
		.revoked = r,
		.elder = d->elder,
		.n_elder = d->n_elder,
	};
	struct jit_terminate res = { 0 };
	const struct jit_request **others = NULL;
	json_t *ev = daemon_audit_base("terminate", id), *spared = json_array();
	int n, tr;

	n = terminate_others(d->access.grants, r, now_real_ms(), &others);
	if (n < 0) {
		/* Not knowing what else covers them, end nothing. */
		tr = n;
	} else {
		sc.others = others;
		sc.n_others = (size_t)n;
		tr = terminate_connections(&sc, &res);
	}
	free(others);
	if (tr < 0)
		log_warn("terminating connections of grant %" PRIu64 ": %s",
			 r->id, strerror(-tr));
	for (size_t i = 0; i < res.n_listed; i++)
		json_array_append_new(spared,
				      spared_json(d, id, &res.spared[i]));
	daemon_audit_result(ev, tr < 0 ? "partial" : "done", id);
	json_object_set_new(ev, "terminated_sockets",
			    json_integer(res.sockets));
	json_object_set_new(ev, "deleted_flows", json_integer(res.flows));
	json_object_set_new(ev, "spared_connections",
			    json_integer((json_int_t)res.n_spared));
	daemon_audit_request(d, ev, r);
	json_object_set_new(reply, "terminated_sockets",
			    json_integer(res.sockets));
	json_object_set_new(reply, "deleted_flows", json_integer(res.flows));
	json_object_set_new(reply, "spared_connections",
			    json_integer((json_int_t)res.n_spared));
	json_object_set_new(reply, "spared", spared);
	if (tr < 0)
		json_object_set_new(reply, "terminate_error",
				    json_string(strerror(-tr)));
	terminate_release(&res);
}

json_t *api_request(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg)
{
	struct jit_identity id;
	struct jit_request tmpl, *r;
	struct jit_refusal why;
	const char *code = "bad-request";
	char err[512];
	json_t *reply;

	peer_identity(peer, &id);
	if (request_parse(msg, &tmpl, &code, err, sizeof(err)) < 0) {
		tmpl.uid = id.uid;
		snprintf(tmpl.user, sizeof(tmpl.user), "%.32s", id.name);
		reply = refuse(d, &id, "request", &tmpl, code, err);
	} else if (access_request(&d->access, &id, &tmpl, &r, &why) < 0) {
		reply = refusal(&why);
	} else {
		reply = request_reply(r);
		/* Pending or granted: undone if the sync fails. */
		daemon_pass_grant(d, r->id, reply);
	}
	access_arm_timer(d);
	request_release(&tmpl);
	identity_release(&id);
	return reply;
}

/* approve and deny share everything up to the decision. */
static json_t *decide(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *msg, bool approve)
{
	const char *event = approve ? "approve" : "deny";
	struct jit_request *r, none = { 0 };
	struct jit_identity id;
	struct jit_refusal why;
	json_t *reply = NULL;
	const char *code;
	char err[128];
	struct parse_err e = { &code, err, sizeof(err) };
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	peer_identity(peer, &id);
	none.id = rid;
	/* The same rule as a request's reason. */
	if (parse_reason(msg, &none, &e) < 0) {
		reply = refuse(d, &id, event, &none, code, err);
	} else if (access_decide(&d->access, &id, rid, approve, none.reason, &r,
				 &why) < 0) {
		reply = refusal(&why);
	} else {
		reply = request_reply(r);
		daemon_pass_grant(d, r->id, reply);
	}
	access_arm_timer(d);
	identity_release(&id);
	free(none.reason);
	return reply;
}

json_t *api_approve(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg)
{
	return decide(d, peer, msg, true);
}

json_t *api_deny(struct jit_daemon *d, const struct jit_peer *peer, json_t *msg)
{
	return decide(d, peer, msg, false);
}

json_t *api_revoke(struct jit_daemon *d, const struct jit_peer *peer,
		   json_t *msg)
{
	struct jit_request *r, none = { 0 };
	struct jit_identity id;
	struct jit_refusal why;
	json_t *reply = NULL, *term = json_object_get(msg, "terminate");
	int ret;
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	peer_identity(peer, &id);
	none.id = rid;
	if (term && !json_is_boolean(term)) {
		reply = refuse(d, &id, "revoke", &none, "bad-type",
			       "field 'terminate' must be true or false");
		goto out;
	}
	ret = access_revoke(&d->access, &id, rid, &r, &why);
	if (ret < 0) {
		reply = refusal(&why);
		goto out;
	}
	reply = json_pack("{s:b, s:o, s:b}", "ok", 1, "request",
			  request_json(r, now_real_ms()), "recorded", ret == 0);
	/* Recorded only once the pass's sync holds. */
	if (ret == 0)
		daemon_pass_revoke(d, rid, reply);
	if (ret > 0)
		json_object_set_new(
			reply, "warning",
			json_pack(
				"{s:s, s:s}", "code", "not-recorded", "message",
				"the revoke is in force in the kernel but not "
				"yet recorded; the agent keeps trying"));
	/* A session listed as older than conntrack must not outlive its
	 * socket into the time after the grant. */
	daemon_prune_sessions(d);
	if (json_is_true(term))
		terminate(d, &id, r, reply);
out:
	access_arm_timer(d);
	identity_release(&id);
	return reply;
}

/*
 * A page is built in a pass of its own (listings yield to decisions), and
 * a decision that arrives meanwhile waits for it: 250 records take about
 * a millisecond.
 */
#define LIST_PAGE_DEFAULT 250
#define LIST_PAGE_MAX	  250
/*
 * Past this many records a page ends early when anything else waits for
 * the agent (another client's request, a timer): it says "next" as any
 * page does, and the client asks for the rest after the others had their
 * turn.
 */
#define LIST_PAGE_YIELD 50

/*
 * One page of the records the caller may see (authz_may_see), oldest
 * first, from the first id above "after": at most "limit" (default
 * LIST_PAGE_DEFAULT), so that a reply stays small and other clients are
 * never kept waiting. "next" in the reply is the "after" of the following
 * page, absent on the last one.
 */
json_t *field_bool(json_t *req, const char *key, bool *ret)
{
	json_t *v = json_object_get(req, key);

	*ret = json_is_true(v);
	if (v && !json_is_boolean(v))
		return control_error("bad-type",
				     "field '%s' must be true or false", key);
	return NULL;
}

json_t *field_count(json_t *req, const char *key, json_int_t min,
		    json_int_t *ret)
{
	json_t *v = json_object_get(req, key);

	if (!v)
		return NULL;
	if (!json_is_integer(v))
		return control_error("bad-type", "field '%s' must be a number",
				     key);
	if (json_integer_value(v) < min)
		return control_error("bad-value",
				     "field '%s' must be at least %lld", key,
				     (long long)min);
	*ret = json_integer_value(v);
	return NULL;
}

json_t *api_list(struct jit_daemon *d, const struct jit_peer *peer, json_t *msg,
		 bool grants_only)
{
	json_t *arr, *reply;
	struct jit_identity id;
	uint64_t now = now_real_ms(), from, last = 0;
	json_int_t after = 0, limit = LIST_PAGE_DEFAULT;
	size_t max, n = 0, i, lo = 0, hi, next_check = LIST_PAGE_YIELD;
	bool all;

	if ((reply = field_bool(msg, "all", &all)) ||
	    (reply = field_count(msg, "after", 0, &after)) ||
	    (reply = field_count(msg, "limit", 1, &limit)))
		return reply;
	access_expire(&d->access, now);
	from = (uint64_t)after;
	max = limit > LIST_PAGE_MAX ? LIST_PAGE_MAX : (size_t)limit;
	/* Records are ordered by id: find the first above "after". */
	hi = grants_count(d->access.grants);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (grants_at(d->access.grants, mid)->id <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	peer_identity(peer, &id);
	arr = json_array();
	for (i = lo; i < grants_count(d->access.grants) && n < max; i++) {
		const struct jit_request *r = grants_at(d->access.grants, i);

		if (n >= next_check) {
			next_check = n + LIST_PAGE_YIELD;
			if (daemon_others_wait(d)) {
				max = n; /* ends here, with "next" */
				break;
			}
		}
		if (grants_only ? r->status != JIT_INITIATED
				: !all && r->status != JIT_PENDING &&
					  r->status != JIT_INITIATED)
			continue;
		if (!authz_may_see(policy_set_find(d->policies, r->policy), &id,
				   r))
			continue;
		json_array_append_new(arr, request_json(r, now));
		last = r->id;
		n++;
	}
	identity_release(&id);
	reply = json_pack("{s:b, s:o}", "ok", 1,
			  grants_only ? "grants" : "requests", arr);
	if (n == max && i < grants_count(d->access.grants))
		json_object_set_new(reply, "next", json_integer(last));
	return reply;
}
