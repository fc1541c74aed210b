/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request lifecycle over the control socket: request, approve, deny,
 * revoke, list; expiry and policy changes. Every decision is audited,
 * refusals included. Kernel changes come first; the records follow only
 * once the kernel said yes, so they never claim access the kernel does not
 * give (or the reverse).
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <sys/timerfd.h>
#include <time.h>

#include "authz.h"
#include "conntrack.h"
#include "duration.h"
#include "daemon-internal.h"
#include "log.h"
#include "sockdiag.h"
#include "util.h"

static json_t *audit_base(const char *event, const struct jit_identity *id)
{
	return json_pack("{s:s, s:I, s:s}", "event", event, "peer_uid",
			 (json_int_t)id->uid, "peer_user", id->name);
}

static void audit_request(struct jit_daemon *d, json_t *ev,
			  const struct jit_request *r)
{
	char src[JIT_PREFIX_STRLEN], ports[48];

	if (r->id)
		json_object_set_new(ev, "request_id", json_integer(r->id));
	if (r->policy[0])
		json_object_set_new(ev, "policy", json_string(r->policy));
	if (r->key.source.family) {
		json_object_set_new(ev, "source",
				    json_string(prefix_format(
					    &r->key.source, src, sizeof(src))));
		json_object_set_new(ev, "ports",
				    json_string(grant_key_ports(
					    &r->key, ports, sizeof(ports))));
	}
	if (r->duration_s)
		json_object_set_new(ev, "duration_s",
				    json_integer(r->duration_s));
	json_object_set_new(ev, "reason", json_string(request_reason(r)));
	if (r->user[0] && r->uid)
		json_object_set_new(ev, "requestor", json_string(r->user));
	if (r->end_ms)
		json_object_set_new(ev, "end_ms", json_integer(r->end_ms));
	if (audit_event(d->audit, ev) < 0)
		log_err("writing the audit log failed");
}

static json_t *refuse(struct jit_daemon *d, const struct jit_identity *id,
		      const char *event, const struct jit_request *r,
		      const char *code, const char *message)
{
	json_t *ev = audit_base(event, id);
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", message);
	utf8_truncate_invalid(msg);

	json_object_set_new(ev, "result", json_string("refused"));
	json_object_set_new(ev, "error", json_string(code));
	json_object_set_new(ev, "message", json_string(msg));
	audit_request(d, ev, r);
	log_notice("%s by %s refused: %s", event, id->name, msg);
	return control_error(code, "%s", msg);
}

void access_arm_timer(struct jit_daemon *d)
{
	uint64_t next = grants_next_end(d->grants);
	struct itimerspec its = { 0 };

	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
	}
	/* An all-zero value disarms; an end in the past fires at once. */
	(void)timerfd_settime(d->expiry_timer.fd, TFD_TIMER_ABSTIME, &its,
			      NULL);
}

/*
 * Put r's elements in the kernel (replacing a live grant with the same
 * key) and record it as initiated. Returns NULL on success or an error
 * reply.
 */
static json_t *initiate(struct jit_daemon *d, const struct jit_identity *id,
			struct jit_request *r, const char *event)
{
	struct jit_request *same, *conflict;
	uint64_t now = now_real_ms();
	uint64_t timeout = (uint64_t)r->duration_s * 1000;
	char err[512], msg[640], src[JIT_PREFIX_STRLEN], ports[48];
	int ret;

	conflict = grants_find_conflict(d->grants, &r->key, r);
	if (conflict) {
		snprintf(msg, sizeof(msg),
			 "%s %s overlaps live grant %" PRIu64
			 " (%s %s); revoke it first or ask for exactly the "
			 "same prefix",
			 prefix_format(&r->key.source, src, sizeof(src)),
			 grant_key_ports(&r->key, ports, sizeof(ports)),
			 conflict->id,
			 prefix_format(&conflict->key.source, src, sizeof(src)),
			 grant_key_ports(&conflict->key, ports, sizeof(ports)));
		return refuse(d, id, event, r, "overlapping-grant", msg);
	}
	same = grants_find_same(d->grants, &r->key, r);
	ret = table_grants_update(d->table, same ? &same->key : NULL,
				  same ? 1 : 0, &r->key, &timeout, 1, err,
				  sizeof(err));
	if (ret < 0) {
		log_err("adding grant %" PRIu64 " to the kernel: %s", r->id,
			err);
		snprintf(msg, sizeof(msg), "the kernel refused the grant: %s",
			 err);
		return refuse(d, id, event, r, "kernel-error", msg);
	}
	grants_initiate(d->grants, r, now);
	detect_grant_started(d->detect, r, now);
	if (same) {
		json_t *ev = audit_base("replace", id);

		same->replaced_by = r->id;
		grants_finish(d->grants, same, JIT_REVOKED, JIT_REASON_NEWER,
			      id->name);
		json_object_set_new(ev, "result", json_string("revoked"));
		json_object_set_new(ev, "status_reason",
				    json_string(JIT_REASON_NEWER));
		json_object_set_new(ev, "replaced_by", json_integer(r->id));
		audit_request(d, ev, same);
	}
	access_arm_timer(d);
	return NULL;
}

static int lookup_identity(const struct jit_peer *peer, struct jit_identity *id)
{
	int r = identity_lookup(peer->uid, peer->gid, id);

	if (r < 0) {
		memset(id, 0, sizeof(*id));
		id->uid = peer->uid;
		snprintf(id->name, sizeof(id->name), "%u", peer->uid);
	}
	return r;
}

json_t *access_request(struct jit_daemon *d, const struct jit_peer *peer,
		       json_t *msg)
{
	struct jit_identity id;
	struct jit_request tmpl, *r;
	const struct jit_policy *p;
	const char *code = "bad-request";
	char err[512];
	json_t *reply, *ev;

	lookup_identity(peer, &id);
	if (request_parse(msg, &tmpl, &code, err, sizeof(err)) < 0) {
		reply = refuse(d, &id, "request", &tmpl, code, err);
		goto out;
	}
	tmpl.uid = id.uid;
	snprintf(tmpl.user, sizeof(tmpl.user), "%s", id.name);
	p = policy_set_find(d->policies, tmpl.policy);
	if (!p) {
		snprintf(err, sizeof(err), "no policy named '%s'", tmpl.policy);
		reply = refuse(d, &id, "request", &tmpl, "unknown-policy", err);
		goto out;
	}
	if (authz_check_request(p, &id, &tmpl, &code, err, sizeof(err)) < 0) {
		reply = refuse(d, &id, "request", &tmpl, code, err);
		goto out;
	}
	if (p->approval == JIT_APPROVAL_MANUAL && id.uid != 0 &&
	    grants_count_user(d->grants, id.uid, JIT_PENDING) >=
		    JIT_PENDING_PER_USER) {
		snprintf(err, sizeof(err),
			 "user '%s' already has %d requests pending approval",
			 id.name, JIT_PENDING_PER_USER);
		reply = refuse(d, &id, "request", &tmpl, "too-many-pending",
			       err);
		goto out;
	}
	if (id.uid != 0 &&
	    grants_count_user(d->grants, id.uid, JIT_INITIATED) >=
		    JIT_GRANTS_PER_USER &&
	    !grants_find_same(d->grants, &tmpl.key, NULL)) {
		snprintf(err, sizeof(err),
			 "user '%s' already has %d live grants; revoke some "
			 "first",
			 id.name, JIT_GRANTS_PER_USER);
		reply = refuse(d, &id, "request", &tmpl, "too-many-grants",
			       err);
		goto out;
	}
	if (grants_add(d->grants, &tmpl, now_real_ms(), &r) < 0) {
		reply = refuse(d, &id, "request", &tmpl, "too-many-requests",
			       "the agent holds too many requests");
		goto out;
	}
	if (p->approval == JIT_APPROVAL_AUTO) {
		reply = initiate(d, &id, r, "request");
		if (reply) {
			grants_finish(d->grants, r, JIT_DENIED,
				      json_string_value(json_object_get(
					      json_object_get(reply, "error"),
					      "message")),
				      NULL);
			goto out;
		}
		snprintf(r->decided_by, sizeof(r->decided_by), "auto");
	}
	ev = audit_base("request", &id);
	json_object_set_new(ev, "result",
			    json_string(r->status == JIT_INITIATED
						? "granted"
						: "pending"));
	audit_request(d, ev, r);
	log_info("request %" PRIu64 " by %s: %s", r->id, id.name,
		 r->status == JIT_INITIATED ? "granted" : "pending approval");
	reply = json_pack("{s:b, s:o}", "ok", 1, "request",
			  request_json(r, now_real_ms()));
out:
	request_release(&tmpl);
	identity_release(&id);
	return reply;
}

static int get_id(json_t *msg, uint64_t *id, json_t **reply)
{
	json_t *v = json_object_get(msg, "id");

	if (!v) {
		*reply = control_error("missing-field", "missing field 'id'");
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		*reply = control_error("bad-type",
				       "field 'id' must be a positive integer");
		return -EINVAL;
	}
	*id = (uint64_t)json_integer_value(v);
	return 0;
}

/* approve and deny share everything up to the decision. */
static json_t *decide(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *msg, bool approve)
{
	const char *event = approve ? "approve" : "deny";
	struct jit_request *r, none = { 0 };
	const struct jit_policy *p;
	struct jit_identity id;
	json_t *reply = NULL, *ev, *why;
	char err[256], reason[JIT_STATUS_MAX];
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	lookup_identity(peer, &id);
	none.id = rid;
	why = json_object_get(msg, "reason");
	if (why && !json_is_null(why) &&
	    (!json_is_string(why) ||
	     strlen(json_string_value(why)) >= JIT_REASON_MAX)) {
		reply = refuse(d, &id, event, &none, "bad-type",
			       "field 'reason' must be a string of at most "
			       "255 bytes");
		goto out;
	}
	r = grants_get(d->grants, rid);
	if (!r) {
		snprintf(err, sizeof(err), "no request %" PRIu64, rid);
		reply = refuse(d, &id, event, &none, "unknown-request", err);
		goto out;
	}
	if (r->status != JIT_PENDING) {
		snprintf(err, sizeof(err),
			 "request %" PRIu64 " is %s, not pending approval", rid,
			 status_name(r->status));
		reply = refuse(d, &id, event, r, "not-pending", err);
		goto out;
	}
	p = policy_set_find(d->policies, r->policy);
	if (!p) {
		snprintf(err, sizeof(err), "policy '%s' no longer exists",
			 r->policy);
		reply = refuse(d, &id, event, r, "unknown-policy", err);
		goto out;
	}
	if (!authz_match(&p->approvers, &id)) {
		snprintf(err, sizeof(err),
			 "user '%s' may not approve or deny requests under "
			 "policy '%s'",
			 id.name, p->name);
		reply = refuse(d, &id, event, r, "not-approver", err);
		goto out;
	}
	if (id.uid == r->uid && id.uid != 0) {
		reply = refuse(d, &id, event, r, "own-request",
			       "approvers cannot decide their own requests");
		goto out;
	}
	if (approve) {
		struct jit_request check = *r;
		const char *code;

		/* The policy may have changed while the request waited. */
		check.duration_s = r->duration_s;
		if (authz_check_request(p, &(struct jit_identity){ .uid = 0 },
					&check, &code, err, sizeof(err)) < 0) {
			reply = refuse(d, &id, event, r, code, err);
			goto out;
		}
		reply = initiate(d, &id, r, event);
		if (reply)
			goto out;
		snprintf(r->decided_by, sizeof(r->decided_by), "%s", id.name);
	} else {
		snprintf(reason, sizeof(reason), "denied%s%s",
			 why && json_string_value(why)[0] ? ": " : "",
			 why ? json_string_value(why) : "");
		grants_finish(d->grants, r, JIT_DENIED, reason, id.name);
	}
	ev = audit_base(event, &id);
	json_object_set_new(ev, "result",
			    json_string(approve ? "granted" : "denied"));
	if (why && json_is_string(why))
		json_object_set_new(ev, "decision_reason", json_copy(why));
	audit_request(d, ev, r);
	reply = json_pack("{s:b, s:o}", "ok", 1, "request",
			  request_json(r, now_real_ms()));
out:
	identity_release(&id);
	return reply;
}

json_t *access_approve(struct jit_daemon *d, const struct jit_peer *peer,
		       json_t *msg)
{
	return decide(d, peer, msg, true);
}

json_t *access_deny(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg)
{
	return decide(d, peer, msg, false);
}

struct terminate_ctx {
	const struct jit_grant_key *k;
	unsigned destroyed;
	int err;
};

static int terminate_cb(const struct jit_sock *s, void *userdata)
{
	struct terminate_ctx *ctx = userdata;
	struct jit_prefix host = { .family = s->family };
	int r;

	if (s->family != ctx->k->source.family || s->lport < ctx->k->port_lo ||
	    s->lport > ctx->k->port_hi)
		return 0;
	host.len = s->family == AF_INET ? 32 : 128;
	memcpy(host.addr, s->remote, prefix_addr_len(&host));
	if (!prefix_contains(&ctx->k->source, &host))
		return 0;
	r = sockdiag_destroy(s);
	if (r == 0)
		ctx->destroyed++;
	else if (r != -ENOENT && !ctx->err)
		ctx->err = r;
	return 0;
}

/*
 * End the connections a grant let in: destroy the local TCP sockets (a
 * conntrack entry alone would be picked up again) and delete the
 * conntrack entries (UDP flows, and TCP state).
 */
static int terminate(const struct jit_grant_key *k, unsigned *sockets,
		     int *flows)
{
	struct terminate_ctx ctx = { .k = k };
	int r = 0;

	*sockets = 0;
	*flows = 0;
	if (k->protos & JIT_PROTO_TCP) {
		r = sockdiag_dump(IPPROTO_TCP, SOCKDIAG_CONNECTED, terminate_cb,
				  &ctx);
		*sockets = ctx.destroyed;
		if (!r)
			r = ctx.err;
	}
	*flows =
		conntrack_delete(&k->source, k->protos, k->port_lo, k->port_hi);
	if (*flows < 0) {
		if (!r)
			r = *flows;
		*flows = 0;
	}
	return r;
}

json_t *access_revoke(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *msg)
{
	struct jit_request *r, none = { 0 };
	const struct jit_policy *p;
	struct jit_identity id;
	json_t *reply = NULL, *ev, *term = json_object_get(msg, "terminate");
	char err[512];
	unsigned sockets = 0;
	int flows = 0, tr = 0;
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	if (term && !json_is_boolean(term))
		return control_error("bad-type",
				     "field 'terminate' must be true or false");
	lookup_identity(peer, &id);
	none.id = rid;
	r = grants_get(d->grants, rid);
	if (!r) {
		snprintf(err, sizeof(err), "no request %" PRIu64, rid);
		reply = refuse(d, &id, "revoke", &none, "unknown-request", err);
		goto out;
	}
	if (r->status != JIT_INITIATED && r->status != JIT_PENDING) {
		snprintf(err, sizeof(err), "request %" PRIu64 " is already %s",
			 rid, status_name(r->status));
		reply = refuse(d, &id, "revoke", r, "not-live", err);
		goto out;
	}
	p = policy_set_find(d->policies, r->policy);
	if (id.uid != 0 && id.uid != r->uid &&
	    !(p && authz_match(&p->approvers, &id))) {
		snprintf(err, sizeof(err),
			 "user '%s' may only revoke their own grants", id.name);
		reply = refuse(d, &id, "revoke", r, "permission-denied", err);
		goto out;
	}
	if (json_is_true(term) && id.uid != 0 &&
	    !(p && authz_match(&p->approvers, &id)) && id.uid != r->uid) {
		reply = refuse(d, &id, "revoke", r, "permission-denied",
			       "only root, approvers or the requester may "
			       "terminate connections");
		goto out;
	}
	if (r->status == JIT_INITIATED) {
		int ret = table_grants_update(d->table, &r->key, 1, NULL, NULL,
					      0, err, sizeof(err));

		if (ret < 0) {
			log_err("removing grant %" PRIu64 ": %s", rid, err);
			reply = refuse(d, &id, "revoke", r, "kernel-error",
				       err);
			goto out;
		}
	}
	grants_finish(d->grants, r, JIT_REVOKED, JIT_REASON_USER, id.name);
	detect_grant_ended(d->detect, r, now_real_ms());
	if (json_is_true(term)) {
		tr = terminate(&r->key, &sockets, &flows);
		if (tr < 0)
			log_warn("terminating connections of grant %" PRIu64
				 ": %s",
				 rid, strerror(-tr));
	}
	access_arm_timer(d);
	ev = audit_base("revoke", &id);
	json_object_set_new(ev, "result", json_string("revoked"));
	json_object_set_new(ev, "status_reason", json_string(JIT_REASON_USER));
	if (json_is_true(term)) {
		json_object_set_new(ev, "terminated_sockets",
				    json_integer(sockets));
		json_object_set_new(ev, "deleted_flows", json_integer(flows));
	}
	audit_request(d, ev, r);
	reply = json_pack("{s:b, s:o}", "ok", 1, "request",
			  request_json(r, now_real_ms()));
	if (json_is_true(term)) {
		json_object_set_new(reply, "terminated_sockets",
				    json_integer(sockets));
		json_object_set_new(reply, "deleted_flows",
				    json_integer(flows));
		if (tr < 0)
			json_object_set_new(reply, "terminate_error",
					    json_string(strerror(-tr)));
	}
out:
	identity_release(&id);
	return reply;
}

json_t *access_list(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg, bool grants_only)
{
	json_t *all = json_object_get(msg, "all");
	json_t *arr = json_array();
	uint64_t now = now_real_ms();

	if (all && !json_is_boolean(all)) {
		json_decref(arr);
		return control_error("bad-type",
				     "field 'all' must be true or false");
	}
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		const struct jit_request *r = grants_at(d->grants, i);

		if (grants_only
			    ? r->status != JIT_INITIATED
			    : !json_is_true(all) && r->status != JIT_PENDING &&
				      r->status != JIT_INITIATED)
			continue;
		json_array_append_new(arr, request_json(r, now));
	}
	return json_pack("{s:b, s:o}", "ok", 1,
			 grants_only ? "grants" : "requests", arr);
}

/*
 * Requests matching want, collected before any is finished: finishing may
 * drop old finished records and move the others, but never a live one.
 */
static struct jit_request **collect(struct jit_daemon *d,
				    bool (*want)(const struct jit_request *r,
						 uint64_t now),
				    uint64_t now, size_t *n)
{
	struct jit_request **v = NULL;
	size_t cap = 0;

	*n = 0;
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		struct jit_request *r = grants_at(d->grants, i);

		if (!want(r, now))
			continue;
		if (grow_array((void **)&v, &cap, *n + 1, sizeof(*v)) < 0)
			break;
		v[(*n)++] = r;
	}
	return v;
}

static bool is_due(const struct jit_request *r, uint64_t now)
{
	return r->status == JIT_INITIATED && r->end_ms <= now;
}

static bool is_open(const struct jit_request *r, uint64_t now)
{
	return r->status == JIT_INITIATED || r->status == JIT_PENDING;
}

void access_expire(struct jit_daemon *d)
{
	uint64_t now = now_real_ms();
	struct jit_identity agent = { .uid = 0 };
	struct jit_request **due;
	size_t n;

	snprintf(agent.name, sizeof(agent.name), "jit-enforcer");
	due = collect(d, is_due, now, &n);
	for (size_t i = 0; i < n; i++) {
		struct jit_request *r = due[i];
		json_t *ev;

		grants_finish(d->grants, r, JIT_EXPIRED, JIT_REASON_EXPIRED,
			      NULL);
		detect_grant_ended(d->detect, r, r->end_ms);
		ev = audit_base("expire", &agent);
		json_object_set_new(ev, "result", json_string("expired"));
		json_object_set_new(ev, "status_reason",
				    json_string(JIT_REASON_EXPIRED));
		audit_request(d, ev, r);
		log_info("grant %" PRIu64 " expired", r->id);
	}
	free(due);
	access_arm_timer(d);
}

/* A few identities, looked up once per recheck rather than per grant. */
struct id_cache {
	struct jit_identity id[16];
	bool ok[16];
	size_t n;
};

static const struct jit_identity *cached_identity(struct id_cache *c,
						  uint32_t uid)
{
	size_t slot;

	for (size_t i = 0; i < c->n; i++)
		if (c->id[i].uid == uid)
			return c->ok[i] ? &c->id[i] : NULL;
	if (c->n < ARRAY_SIZE(c->id)) {
		slot = c->n++;
	} else {
		slot = uid % ARRAY_SIZE(c->id);
		identity_release(&c->id[slot]);
	}
	c->ok[slot] = identity_lookup(uid, (uint32_t)-1, &c->id[slot]) == 0;
	if (!c->ok[slot]) {
		memset(&c->id[slot], 0, sizeof(c->id[slot]));
		c->id[slot].uid = uid;
	}
	return c->ok[slot] ? &c->id[slot] : NULL;
}

struct withdrawal {
	struct jit_request *r;
	char *why;
};

void access_recheck(struct jit_daemon *d)
{
	struct jit_identity agent = { .uid = 0 };
	struct id_cache cache = { 0 };
	struct withdrawal *w = NULL;
	struct jit_grant_key *keys = NULL;
	struct jit_request **open;
	size_t n, n_w = 0, cap_w = 0, n_keys = 0, cap_keys = 0;
	bool kernel_ok = true;
	char err[512];

	snprintf(agent.name, sizeof(agent.name), "jit-enforcer");
	open = collect(d, is_open, 0, &n);
	/* Decide first, so that the kernel changes once for all of them. */
	for (size_t i = 0; i < n; i++) {
		struct jit_request *r = open[i], check = *r;
		const struct jit_policy *p;
		const struct jit_identity *who;
		const char *code;
		char why[512] = "";

		p = policy_set_find(d->policies, r->policy);
		if (!p) {
			snprintf(why, sizeof(why), "policy '%s' was removed",
				 r->policy);
		} else if ((who = cached_identity(&cache, r->uid))) {
			/* A user who vanished keeps the grant: never close
			 * approved access on a lookup failure. */
			if (authz_check_request(p, who, &check, &code, why,
						sizeof(why)) == 0)
				why[0] = '\0';
		}
		if (!why[0])
			continue;
		if (grow_array((void **)&w, &cap_w, n_w + 1, sizeof(*w)) < 0 ||
		    (r->status == JIT_INITIATED &&
		     grow_array((void **)&keys, &cap_keys, n_keys + 1,
				sizeof(*keys)) < 0))
			break;
		w[n_w].r = r;
		w[n_w++].why = strdup(why);
		if (r->status == JIT_INITIATED)
			keys[n_keys++] = r->key;
	}
	if (n_keys && table_grants_update(d->table, keys, n_keys, NULL, NULL, 0,
					  err, sizeof(err)) < 0) {
		/* Nothing changed in the kernel: the grants stay live. */
		log_err("revoking %zu grants after a policy change: %s", n_keys,
			err);
		kernel_ok = false;
	}
	for (size_t i = 0; i < n_w; i++) {
		struct jit_request *r = w[i].r;
		const char *why = w[i].why ? w[i].why : "policy changed";
		bool live = r->status == JIT_INITIATED;
		json_t *ev;

		if (live && !kernel_ok)
			continue;
		grants_finish(d->grants, r, live ? JIT_REVOKED : JIT_DENIED,
			      JIT_REASON_POLICY, "jit-enforcer");
		if (live)
			detect_grant_ended(d->detect, r, now_real_ms());
		ev = audit_base("revoke", &agent);
		json_object_set_new(ev, "result", json_string("revoked"));
		json_object_set_new(ev, "status_reason",
				    json_string(JIT_REASON_POLICY));
		json_object_set_new(ev, "message", json_string(why));
		audit_request(d, ev, r);
		log_notice("request %" PRIu64 " %s: policy changed (%s)", r->id,
			   live ? "revoked" : "withdrawn", why);
	}
	for (size_t i = 0; i < n_w; i++)
		free(w[i].why);
	free(w);
	free(keys);
	free(open);
	for (size_t i = 0; i < cache.n; i++)
		identity_release(&cache.id[i]);
	access_arm_timer(d);
}

int access_live_keys(struct jit_daemon *d, struct jit_grant_key **keys,
		     uint64_t **timeouts_ms, size_t *n)
{
	uint64_t now = now_real_ms();
	size_t count = 0, k = 0;

	for (size_t i = 0; i < grants_count(d->grants); i++) {
		const struct jit_request *q = grants_at(d->grants, i);

		count += q->status == JIT_INITIATED && q->end_ms > now;
	}
	*keys = calloc(count + 1, sizeof(**keys));
	*timeouts_ms = calloc(count + 1, sizeof(**timeouts_ms));
	if (!*keys || !*timeouts_ms) {
		free(*keys);
		free(*timeouts_ms);
		return -ENOMEM;
	}
	for (size_t i = 0; i < grants_count(d->grants) && k < count; i++) {
		const struct jit_request *q = grants_at(d->grants, i);

		if (q->status != JIT_INITIATED || q->end_ms <= now)
			continue;
		(*keys)[k] = q->key;
		(*timeouts_ms)[k++] = q->end_ms - now;
	}
	*n = k;
	return 0;
}

void access_load_state(struct jit_daemon *d, const struct jit_state *st)
{
	struct jit_identity agent = { .uid = 0 };
	uint64_t now = now_real_ms();
	size_t expired = 0, live = 0, n_due;
	struct jit_request **due;

	snprintf(agent.name, sizeof(agent.name), "jit-enforcer");
	for (size_t i = 0; i < st->n_requests; i++) {
		if (grants_restore(d->grants, &st->requests[i]) < 0) {
			log_warn("state: request %" PRIu64 " skipped",
				 st->requests[i].id);
			continue;
		}
		live += st->requests[i].status == JIT_INITIATED;
	}
	grants_set_next_id(d->grants, st->next_id);
	due = collect(d, is_due, now, &n_due);
	for (size_t i = 0; i < n_due; i++) {
		struct jit_request *r = due[i];
		json_t *ev;

		grants_finish(d->grants, r, JIT_EXPIRED, JIT_REASON_EXPIRED,
			      NULL);
		ev = audit_base("expire", &agent);
		json_object_set_new(ev, "result", json_string("expired"));
		json_object_set_new(ev, "status_reason",
				    json_string(JIT_REASON_EXPIRED));
		json_object_set_new(ev, "message",
				    json_string("ended while the agent was "
						"stopped"));
		audit_request(d, ev, r);
		expired++;
	}
	free(due);
	log_notice("state: %zu requests restored; %zu grants live, %zu ended "
		   "while the agent was stopped",
		   st->n_requests, live - expired, expired);
}

/*
 * Kernel elements are matched to records through one hash of element keys:
 * (prefix, protocol, first port, last port). Hosts are expanded per port,
 * exactly as ruleset.c puts them in the hash sets.
 */
struct elem_key {
	struct jit_prefix src;
	uint8_t proto;
	uint16_t lo, hi;
	bool used;
};

struct elem_hash {
	struct elem_key *slots;
	size_t mask;
};

static uint64_t elem_hash_of(const struct elem_key *k)
{
	uint64_t h = 1469598103934665603ull;
	const uint8_t *parts[] = { k->src.addr, &k->src.len, &k->proto,
				   (const uint8_t *)&k->lo,
				   (const uint8_t *)&k->hi };
	const size_t lens[] = { 16, 1, 1, 2, 2 };

	for (size_t p = 0; p < ARRAY_SIZE(parts); p++)
		for (size_t i = 0; i < lens[p]; i++)
			h = (h ^ parts[p][i]) * 1099511628211ull;
	return h ^ k->src.family;
}

static bool elem_eq(const struct elem_key *a, const struct elem_key *b)
{
	return a->src.family == b->src.family && a->src.len == b->src.len &&
	       !memcmp(a->src.addr, b->src.addr, 16) && a->proto == b->proto &&
	       a->lo == b->lo && a->hi == b->hi;
}

/* Returns true if k was already there. */
static bool elem_put(struct elem_hash *h, const struct elem_key *k)
{
	size_t i = elem_hash_of(k) & h->mask;

	while (h->slots[i].used) {
		if (elem_eq(&h->slots[i], k))
			return true;
		i = (i + 1) & h->mask;
	}
	h->slots[i] = *k;
	h->slots[i].used = true;
	return false;
}

static bool elem_has(const struct elem_hash *h, const struct elem_key *k)
{
	size_t i = elem_hash_of(k) & h->mask;

	while (h->slots[i].used) {
		if (elem_eq(&h->slots[i], k))
			return true;
		i = (i + 1) & h->mask;
	}
	return false;
}

/* Call fn for every kernel element key of a grant key. */
static void expand_key(const struct jit_grant_key *g, struct elem_hash *h,
		       bool (*fn)(struct elem_hash *, const struct elem_key *))
{
	static const struct {
		unsigned bit;
		uint8_t proto;
	} protos[] = { { JIT_PROTO_TCP, IPPROTO_TCP },
		       { JIT_PROTO_UDP, IPPROTO_UDP } };

	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		struct elem_key k = { .src = g->source,
				      .proto = protos[i].proto };

		if (!(g->protos & protos[i].bit))
			continue;
		if (grant_key_is_prefix(g)) {
			k.lo = g->port_lo;
			k.hi = g->port_hi;
			fn(h, &k);
			continue;
		}
		for (uint32_t p = g->port_lo; p <= g->port_hi; p++) {
			k.lo = k.hi = (uint16_t)p;
			fn(h, &k);
		}
	}
}

int access_adopt_kernel(struct jit_daemon *d)
{
	struct jit_identity agent = { .uid = 0 };
	struct jit_kernel_grant *kg = NULL;
	struct elem_hash h = { 0 };
	uint64_t now = now_real_ms();
	size_t slots = 64, elems = 0, adopted = 0;
	int n;

	n = table_dump_grants(d->table, &kg);
	if (n == -ENOENT || n == 0)
		return 0;
	if (n < 0) {
		log_warn("reading the kernel's grant elements: %s",
			 strerror(-n));
		return n;
	}
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		const struct jit_request *r = grants_at(d->grants, i);

		if (r->status == JIT_INITIATED)
			elems += (size_t)(r->key.port_hi - r->key.port_lo + 1) *
				 2;
	}
	while (slots < 2 * (elems + (size_t)n))
		slots *= 2;
	h.slots = calloc(slots, sizeof(*h.slots));
	if (!h.slots) {
		free(kg);
		return -ENOMEM;
	}
	h.mask = slots - 1;
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		const struct jit_request *r = grants_at(d->grants, i);

		if (r->status == JIT_INITIATED && r->end_ms > now)
			expand_key(&r->key, &h, elem_put);
	}
	snprintf(agent.name, sizeof(agent.name), "jit-enforcer");
	for (int i = 0; i < n; i++) {
		struct elem_key k = { .src = kg[i].key.source,
				      .lo = kg[i].key.port_lo,
				      .hi = kg[i].key.port_hi };
		struct jit_request tmpl = { 0 }, *r;
		uint64_t left = kg[i].expires_ms;
		const char *pol;
		json_t *ev;

		k.proto = kg[i].key.protos == JIT_PROTO_TCP ? IPPROTO_TCP
							    : IPPROTO_UDP;
		if (elem_has(&h, &k) || left < 1000)
			continue;
		if (!left || left > (uint64_t)JIT_DURATION_MAX_S * 1000)
			left = (uint64_t)JIT_DURATION_MAX_S * 1000;
		tmpl.key = kg[i].key;
		pol = daemon_policy_for(d, k.proto, tmpl.key.port_lo);
		snprintf(tmpl.policy, sizeof(tmpl.policy), "%s",
			 pol[0] ? pol : "-");
		snprintf(tmpl.user, sizeof(tmpl.user), "(unknown)");
		tmpl.reason = (char *)"adopted from the kernel table at start";
		tmpl.duration_s = (uint32_t)((left + 999) / 1000);
		if (grants_add(d->grants, &tmpl, now, &r) < 0)
			break;
		grants_initiate_until(d->grants, r, now, now + left);
		snprintf(r->decided_by, sizeof(r->decided_by), "jit-enforcer");
		elem_put(&h, &k);
		ev = audit_base("adopt", &agent);
		json_object_set_new(ev, "result", json_string("initiated"));
		audit_request(d, ev, r);
		adopted++;
	}
	if (adopted)
		log_warn("adopted %zu grant element(s) the kernel held without "
			 "a record (written before a crash?); they keep their "
			 "end time",
			 adopted);
	free(h.slots);
	free(kg);
	return (int)adopted;
}
