/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request lifecycle over the control socket: request, approve, deny,
 * revoke, list; expiry, policy changes and the start. Every decision is
 * journalled before the kernel changes and before its reply goes out (the
 * daemon syncs the journal once per pass of its loop and holds the replies
 * until then); every decision is audited, refusals included. Records are
 * one user's right each; what the kernel holds follows from all live
 * records together (cover.c).
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

/* ---- records, journal and kernel -------------------------------------- */

static const struct jit_identity *agent_identity(void)
{
	static struct jit_identity agent = { .uid = 0, .name = "jit-enforcer" };

	return &agent;
}

/* The next state of r once finished (end cut to now if it was live). */
static struct jit_request finished(const struct jit_request *r,
				   enum jit_status st, const char *reason,
				   const char *by, uint64_t now)
{
	struct jit_request next = *r;

	if (r->status == JIT_INITIATED && st != JIT_EXPIRED && r->end_ms > now)
		next.end_ms = now;
	next.status = st;
	snprintf(next.status_reason, sizeof(next.status_reason), "%s",
		 reason ? reason : "");
	if (by)
		snprintf(next.decided_by, sizeof(next.decided_by), "%s", by);
	return next;
}

/*
 * Journal next (r's coming state). keep: a decision that takes access
 * away happens even when it cannot be written now; it is retried. Returns
 * 0 or -errno; a failure puts the agent in degraded mode.
 */
static int record(struct jit_daemon *d, const struct jit_request *next,
		  bool keep)
{
	int r = journal_append_request(d->journal, next, keep);

	if (r < 0)
		daemon_journal_failed(d, r);
	d->state_dirty = true;
	return r;
}

static void not_recorded_msg(struct jit_daemon *d, int err, char *msg, size_t n)
{
	snprintf(msg, n, "cannot record the decision: %s on %s", strerror(-err),
		 d->cfg->state_dir);
}

/*
 * Bring the kernel to what the cover staged, in one batch. On failure the
 * staged changes are undone and err says why.
 */
static int apply(struct jit_daemon *d, char *err, size_t errlen)
{
	_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;
	int r;

	r = cover_delta(d->cover, &del, &n_del, &add, &n_add);
	if (r == 0)
		r = table_elems_update(d->table, del, n_del, add, n_add,
				       now_real_ms(), err, errlen);
	else
		snprintf(err, errlen, "computing elements: %s", strerror(-r));
	if (r < 0) {
		cover_rollback(d->cover);
		return r;
	}
	cover_commit(d->cover);
	return 0;
}

/*
 * For decisions already taken (expiry, policy change): the records are
 * final, so the kernel must follow. If the batch is refused, the sets are
 * replaced whole from the records instead.
 */
static void apply_or_resync(struct jit_daemon *d, const char *what)
{
	_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;
	char err[512] = "";
	int r;

	r = cover_delta(d->cover, &del, &n_del, &add, &n_add);
	if (r == 0)
		r = table_elems_update(d->table, del, n_del, add, n_add,
				       now_real_ms(), err, sizeof(err));
	cover_commit(d->cover);
	if (r < 0) {
		log_err("updating grant elements %s: %s; replacing the grant "
			"sets whole",
			what, err[0] ? err : strerror(-r));
		daemon_resync(d);
	}
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
 * Give r (pending) its grant: journal it (and the end of the same user's
 * older grant with the same key, which it replaces), then change the
 * kernel. Returns NULL on success or an error reply; on error r is as it
 * was.
 */
static json_t *initiate(struct jit_daemon *d, const struct jit_identity *id,
			struct jit_request *r, const char *event,
			const char *by)
{
	struct jit_request next = *r, same_next, *same;
	uint64_t now = now_real_ms();
	char err[512], msg[640];
	int ret;

	same = grants_find_same(d->grants, &r->key, r->uid, r);
	if (same && !authz_may_replace(r, same))
		same = NULL;
	next.status = JIT_INITIATED;
	next.start_ms = now;
	next.end_ms = now + (uint64_t)r->duration_s * 1000;
	next.status_reason[0] = '\0';
	snprintf(next.decided_by, sizeof(next.decided_by), "%s", by);
	ret = record(d, &next, false);
	if (ret < 0) {
		not_recorded_msg(d, ret, msg, sizeof(msg));
		return refuse(d, id, event, r, "not-recorded", msg);
	}
	if (same) {
		same_next = finished(same, JIT_REVOKED, JIT_REASON_NEWER,
				     id->name, now);
		same_next.replaced_by = r->id;
		(void)record(d, &same_next, true);
	}
	ret = cover_add(d->cover, r->id, &r->key, next.end_ms);
	if (ret == 0 && same)
		ret = cover_del(d->cover, same->id, &same->key);
	if (ret < 0) {
		cover_rollback(d->cover);
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	} else {
		ret = apply(d, err, sizeof(err));
	}
	if (ret < 0) {
		struct jit_request undo =
			finished(r, JIT_DENIED, "the kernel refused the grant",
				 NULL, now);

		/* What was journalled is taken back, in order. */
		(void)record(d, &undo, true);
		if (same)
			(void)record(d, same, true);
		log_err("adding grant %" PRIu64 " to the kernel: %s", r->id,
			err);
		snprintf(msg, sizeof(msg), "the kernel refused the grant: %s",
			 err);
		grants_apply(d->grants, r, &undo);
		return refuse(d, id, event, r, "kernel-error", msg);
	}
	grants_apply(d->grants, r, &next);
	detect_grant_started(d->detect, r, now);
	if (same) {
		json_t *ev = audit_base("replace", id);

		grants_apply(d->grants, same, &same_next);
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

json_t *access_request(struct jit_daemon *d, const struct jit_peer *peer,
		       json_t *msg)
{
	struct jit_identity id;
	struct jit_request tmpl, *r;
	const struct jit_policy *p;
	const char *code = "bad-request";
	char err[512];
	json_t *reply, *ev;
	int ret;

	access_expire(d);
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
	    !grants_find_same(d->grants, &tmpl.key, id.uid, NULL)) {
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
		reply = initiate(d, &id, r, "request", "auto");
	} else {
		ret = record(d, r, false);
		reply = NULL;
		if (ret < 0) {
			not_recorded_msg(d, ret, err, sizeof(err));
			reply = refuse(d, &id, "request", &tmpl, "not-recorded",
				       err);
		}
	}
	if (reply) {
		/* Nothing of it was recorded: as if it had never been made,
		 * so that its id is not used (the journal never saw it). */
		if (r->status == JIT_PENDING)
			grants_discard(d->grants, r);
		goto out;
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
	if (r->status == JIT_INITIATED)
		daemon_pass_grant(d, r->id, reply);
out:
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
	const struct jit_policy *p;
	struct jit_identity id;
	json_t *reply = NULL, *ev, *why;
	const char *code;
	char err[512], reason[JIT_STATUS_MAX];
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	access_expire(d);
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
	if (authz_may_decide(p, &id, r, &code, err, sizeof(err)) < 0) {
		reply = refuse(d, &id, event, r, code, err);
		goto out;
	}
	if (approve) {
		struct jit_request check = *r;

		/* The policy may have changed while the request waited. */
		if (authz_check_limits(p, &check, &code, err, sizeof(err)) <
		    0) {
			reply = refuse(d, &id, event, r, code, err);
			goto out;
		}
		reply = initiate(d, &id, r, event, id.name);
		if (reply)
			goto out;
	} else {
		struct jit_request next;
		int ret;

		snprintf(reason, sizeof(reason), "denied%s%s",
			 why && json_string_value(why)[0] ? ": " : "",
			 why ? json_string_value(why) : "");
		next = finished(r, JIT_DENIED, reason, id.name, now_real_ms());
		/* A denial that is not recorded would not hold: refuse it. */
		ret = record(d, &next, false);
		if (ret < 0) {
			not_recorded_msg(d, ret, err, sizeof(err));
			reply = refuse(d, &id, event, r, "not-recorded", err);
			goto out;
		}
		grants_apply(d->grants, r, &next);
	}
	ev = audit_base(event, &id);
	json_object_set_new(ev, "result",
			    json_string(approve ? "granted" : "denied"));
	if (why && json_is_string(why))
		json_object_set_new(ev, "decision_reason", json_copy(why));
	audit_request(d, ev, r);
	reply = json_pack("{s:b, s:o}", "ok", 1, "request",
			  request_json(r, now_real_ms()));
	if (approve)
		daemon_pass_grant(d, r->id, reply);
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

/*
 * End r now as st: journal it first (kept for retry if the journal cannot
 * take it), then take its elements out of the kernel. Returns 0, 1 when
 * the kernel is right but the journal not yet, or -errno when the kernel
 * refused (then nothing changed and r is as it was).
 */
static int end_grant(struct jit_daemon *d, struct jit_request *r,
		     enum jit_status st, const char *reason, const char *by,
		     char *err, size_t errlen)
{
	uint64_t now = now_real_ms();
	struct jit_request next = finished(r, st, reason, by, now);
	bool live = r->status == JIT_INITIATED;
	int rec, ret = 0;

	rec = record(d, &next, true);
	if (rec < 0) {
		char merr[256];

		/* Until the journal can say so, the kernel keeps the word. */
		if (table_mark_unrecorded(d->table, r->id,
					  r->end_ms ? r->end_ms
						    : now + 86400000,
					  now, merr, sizeof(merr)) < 0)
			log_err("marking %" PRIu64
				" as ended in the kernel: %s",
				r->id, merr);
	}
	if (live) {
		ret = cover_del(d->cover, r->id, &r->key);
		if (ret == 0)
			ret = apply(d, err, errlen);
		else
			snprintf(err, errlen, "%s", strerror(-ret));
		if (ret < 0) {
			(void)record(d, r, true);
			return ret;
		}
	}
	grants_apply(d->grants, r, &next);
	if (live)
		detect_grant_ended(d->detect, r,
				   st == JIT_EXPIRED ? r->end_ms : now);
	return rec < 0 ? 1 : 0;
}

json_t *access_revoke(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *msg)
{
	struct jit_request *r, none = { 0 };
	struct jit_identity id;
	json_t *reply = NULL, *ev, *term = json_object_get(msg, "terminate");
	const char *code;
	char err[512];
	unsigned sockets = 0;
	int flows = 0, tr = 0, ret;
	uint64_t rid;

	if (get_id(msg, &rid, &reply) < 0)
		return reply;
	if (term && !json_is_boolean(term))
		return control_error("bad-type",
				     "field 'terminate' must be true or false");
	access_expire(d);
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
	if (authz_may_revoke(policy_set_find(d->policies, r->policy), &id, r,
			     &code, err, sizeof(err)) < 0) {
		reply = refuse(d, &id, "revoke", r, code, err);
		goto out;
	}
	ret = end_grant(d, r, JIT_REVOKED, JIT_REASON_USER, id.name, err,
			sizeof(err));
	if (ret < 0) {
		log_err("removing grant %" PRIu64 ": %s", rid, err);
		reply = refuse(d, &id, "revoke", r, "kernel-error", err);
		goto out;
	}
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
	reply = json_pack("{s:b, s:o, s:b}", "ok", 1, "request",
			  request_json(r, now_real_ms()), "recorded", ret == 0);
	if (ret > 0) {
		not_recorded_msg(d, journal_error(d->journal), err,
				 sizeof(err));
		json_object_set_new(
			reply, "warning",
			json_pack(
				"{s:s, s:s}", "code", "not-recorded", "message",
				"the revoke is in force in the kernel but not "
				"yet recorded; the agent keeps trying"));
		log_warn("revoke of %" PRIu64 " is in force but not recorded: "
			 "%s",
			 rid, err);
	}
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

#define LIST_PAGE_DEFAULT 1000
#define LIST_PAGE_MAX	  5000

/*
 * One page of records, oldest first, from the first id above "after":
 * at most "limit" (default LIST_PAGE_DEFAULT), so that a reply stays small
 * and other clients are never kept waiting. "next" in the reply is the
 * "after" of the following page, absent on the last one.
 */
json_t *access_list(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg, bool grants_only)
{
	json_t *all = json_object_get(msg, "all");
	json_t *after = json_object_get(msg, "after");
	json_t *limit = json_object_get(msg, "limit");
	json_t *arr, *reply;
	uint64_t now = now_real_ms(), from = 0, last = 0;
	size_t max = LIST_PAGE_DEFAULT, n = 0, i, lo = 0, hi;

	if ((all && !json_is_boolean(all)) ||
	    (after &&
	     (!json_is_integer(after) || json_integer_value(after) < 0)) ||
	    (limit &&
	     (!json_is_integer(limit) || json_integer_value(limit) < 1)))
		return control_error("bad-type",
				     "'all' must be true or false, 'after' a "
				     "request id and 'limit' a positive "
				     "number");
	access_expire(d);
	if (after)
		from = (uint64_t)json_integer_value(after);
	if (limit)
		max = (size_t)json_integer_value(limit);
	if (max > LIST_PAGE_MAX)
		max = LIST_PAGE_MAX;
	/* Records are ordered by id: find the first above "after". */
	hi = grants_count(d->grants);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (grants_at(d->grants, mid)->id <= from)
			lo = mid + 1;
		else
			hi = mid;
	}
	arr = json_array();
	for (i = lo; i < grants_count(d->grants) && n < max; i++) {
		const struct jit_request *r = grants_at(d->grants, i);

		if (grants_only
			    ? r->status != JIT_INITIATED
			    : !json_is_true(all) && r->status != JIT_PENDING &&
				      r->status != JIT_INITIATED)
			continue;
		json_array_append_new(arr, request_json(r, now));
		last = r->id;
		n++;
	}
	reply = json_pack("{s:b, s:o}", "ok", 1,
			  grants_only ? "grants" : "requests", arr);
	if (n == max && i < grants_count(d->grants))
		json_object_set_new(reply, "next", json_integer(last));
	return reply;
}

void access_expire(struct jit_daemon *d)
{
	uint64_t now = now_real_ms();
	struct jit_request *r;
	int n = 0;

	/* One kernel batch for all that are due. */
	while ((r = grants_next_due(d->grants, now))) {
		struct jit_request next =
			finished(r, JIT_EXPIRED, JIT_REASON_EXPIRED, NULL, now);
		json_t *ev;

		(void)record(d, &next, true);
		(void)cover_del(d->cover, r->id, &r->key);
		grants_apply(d->grants, r, &next);
		detect_grant_ended(d->detect, r, r->end_ms);
		ev = audit_base("expire", agent_identity());
		json_object_set_new(ev, "result", json_string("expired"));
		json_object_set_new(ev, "status_reason",
				    json_string(JIT_REASON_EXPIRED));
		audit_request(d, ev, r);
		log_info("grant %" PRIu64 " expired", r->id);
		n++;
	}
	if (n)
		apply_or_resync(d, "after grants expired");
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
	struct id_cache cache = { 0 };
	struct withdrawal *w = NULL;
	size_t n_w = 0, cap_w = 0;
	uint64_t now = now_real_ms();
	bool kernel = false;

	access_expire(d);
	/* Decide first (records never move while nothing is finished). */
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		struct jit_request *r = grants_at(d->grants, i), check = *r;
		const struct jit_policy *p;
		const struct jit_identity *who;
		const char *code;
		char why[512] = "";

		if (r->status != JIT_INITIATED && r->status != JIT_PENDING)
			continue;
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
		if (grow_array((void **)&w, &cap_w, n_w + 1, sizeof(*w)) < 0)
			break;
		w[n_w].r = r;
		w[n_w++].why = strdup(why);
	}
	/* Journal every withdrawal, then one kernel batch for them all. */
	for (size_t i = 0; i < n_w; i++) {
		struct jit_request *r = w[i].r;
		bool live = r->status == JIT_INITIATED;
		struct jit_request next =
			finished(r, live ? JIT_REVOKED : JIT_DENIED,
				 JIT_REASON_POLICY, "jit-enforcer", now);

		(void)record(d, &next, true);
		if (live) {
			(void)cover_del(d->cover, r->id, &r->key);
			detect_grant_ended(d->detect, r, now);
			kernel = true;
		}
	}
	if (kernel)
		apply_or_resync(d, "after a policy change");
	for (size_t i = 0; i < n_w; i++) {
		struct jit_request *r = w[i].r;
		const char *why = w[i].why ? w[i].why : "policy changed";
		bool live = r->status == JIT_INITIATED;
		struct jit_request next =
			finished(r, live ? JIT_REVOKED : JIT_DENIED,
				 JIT_REASON_POLICY, "jit-enforcer", now);
		json_t *ev;

		grants_apply(d->grants, r, &next);
		ev = audit_base("revoke", agent_identity());
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
	for (size_t i = 0; i < cache.n; i++)
		identity_release(&cache.id[i]);
	access_arm_timer(d);
}

/* ---- start ------------------------------------------------------------ */

static int elem_point_cmp(const void *a, const void *b)
{
	const struct jit_elem *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->addr_lo, y->addr_lo, 16);
	if (c)
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port_lo < y->port_lo ? -1 : x->port_lo > y->port_lo;
}

/* 16-byte big-endian address + 1; false when it wrapped. */
static bool addr_next(uint8_t a[16], unsigned alen)
{
	for (int i = (int)alen - 1; i >= 0; i--)
		if (++a[i])
			return true;
	return false;
}

struct kernel_view {
	struct jit_elem *hosts; /* hash-set elements, sorted */
	size_t n_hosts;
	struct jit_elem *nets; /* interval-set elements */
	size_t n_nets;
};

static bool host_present(const struct kernel_view *kv, uint8_t family,
			 const uint8_t *addr, uint8_t proto, uint16_t port,
			 uint64_t min_end)
{
	struct jit_elem key = { .family = family,
				.proto = proto,
				.port_lo = port };
	const struct jit_elem *e;

	memcpy(key.addr_lo, addr, family == AF_INET ? 4 : 16);
	e = bsearch(&key, kv->hosts, kv->n_hosts, sizeof(key), elem_point_cmp);
	return e && e->end_ms >= min_end;
}

static int port_cmp(const void *a, const void *b)
{
	const struct jit_elem *const *x = a, *const *y = b;

	return (*x)->port_lo < (*y)->port_lo ? -1
					     : (*x)->port_lo > (*y)->port_lo;
}

/*
 * Do the interval elements (with end >= min_end) cover every point of the
 * box [alo, ahi] x proto x [plo, phi]? A sweep over the address axis: at
 * each address where some element starts or stops, the elements there
 * must cover the whole port range.
 */
static bool box_present(const struct kernel_view *kv, uint8_t family,
			const uint8_t *alo, const uint8_t *ahi, uint8_t proto,
			uint16_t plo, uint16_t phi, uint64_t min_end)
{
	unsigned alen = family == AF_INET ? 4 : 16;
	_cleanup_free_ const struct jit_elem **in = NULL;
	_cleanup_free_ uint8_t(*cuts)[16] = NULL;
	size_t n_in = 0, n_cuts = 0;
	bool ok = true;

	in = calloc(kv->n_nets + 1, sizeof(*in));
	cuts = calloc(2 * kv->n_nets + 1, sizeof(*cuts));
	if (!in || !cuts)
		return true; /* no memory: keep the record */
	memset(cuts[n_cuts], 0, 16);
	memcpy(cuts[n_cuts++], alo, alen);
	for (size_t i = 0; i < kv->n_nets; i++) {
		const struct jit_elem *e = &kv->nets[i];

		if (e->family != family || e->proto != proto ||
		    e->end_ms < min_end || e->port_hi < plo ||
		    e->port_lo > phi || memcmp(e->addr_hi, alo, alen) < 0 ||
		    memcmp(e->addr_lo, ahi, alen) > 0)
			continue;
		in[n_in++] = e;
		if (memcmp(e->addr_lo, alo, alen) > 0) {
			memset(cuts[n_cuts], 0, 16);
			memcpy(cuts[n_cuts++], e->addr_lo, alen);
		}
		if (memcmp(e->addr_hi, ahi, alen) < 0) {
			memset(cuts[n_cuts], 0, 16);
			memcpy(cuts[n_cuts], e->addr_hi, alen);
			if (addr_next(cuts[n_cuts], alen))
				n_cuts++;
		}
	}
	for (size_t c = 0; c < n_cuts && ok; c++) {
		_cleanup_free_ const struct jit_elem **here =
			calloc(n_in + 1, sizeof(*here));
		size_t n_here = 0;
		uint32_t need = plo;

		if (!here)
			return true;
		for (size_t i = 0; i < n_in; i++)
			if (memcmp(in[i]->addr_lo, cuts[c], alen) <= 0 &&
			    memcmp(in[i]->addr_hi, cuts[c], alen) >= 0)
				here[n_here++] = in[i];
		qsort(here, n_here, sizeof(*here), port_cmp);
		for (size_t i = 0; i < n_here && need <= phi; i++) {
			if (here[i]->port_lo > need)
				break;
			if ((uint32_t)here[i]->port_hi + 1 > need)
				need = (uint32_t)here[i]->port_hi + 1;
		}
		ok = need > phi;
	}
	return ok;
}

/* Is every element of r in the kernel, until at least r's end? */
static bool record_present(const struct kernel_view *kv,
			   const struct jit_request *r)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	static const unsigned bits[] = { JIT_PROTO_TCP, JIT_PROTO_UDP };
	/* The kernel counts in ticks, and the end was sent as a timeout. */
	uint64_t min_end = r->end_ms > 2000 ? r->end_ms - 2000 : 0;
	uint8_t last[16] = { 0 };

	prefix_last(&r->key.source, last);
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		if (!(r->key.protos & bits[i]))
			continue;
		if (grant_key_is_prefix(&r->key)) {
			if (!box_present(kv, r->key.source.family,
					 r->key.source.addr, last, protos[i],
					 r->key.port_lo, r->key.port_hi,
					 min_end))
				return false;
			continue;
		}
		for (uint32_t p = r->key.port_lo; p <= r->key.port_hi; p++)
			if (!host_present(kv, r->key.source.family,
					  r->key.source.addr, protos[i],
					  (uint16_t)p, min_end))
				return false;
	}
	return true;
}

/*
 * At start, after the journal was read: grants that ended while the agent
 * was down are expired; with our table still in the kernel (the agent
 * stopped or crashed, the host did not reboot), a grant whose elements the
 * kernel no longer holds was taken away before the journal could say so
 * (a revoke on a full disk, or a grant journalled just before a crash and
 * never given): the kernel's absence wins. Then the cover is built from
 * what is left; the first commit puts exactly that in the kernel.
 */
int access_start(struct jit_daemon *d, bool trust_journal)
{
	struct kernel_view kv = { 0 };
	_cleanup_free_ struct jit_elem *kel = NULL;
	_cleanup_free_ uint64_t *marked = NULL;
	int n_marked = 0;
	uint64_t now = now_real_ms();
	size_t live = 0, ended = 0, absent = 0, n_end = 0;
	_cleanup_free_ struct jit_request **end = NULL;
	int n = -ENOENT;

	if (!trust_journal) {
		/* Ended while the journal could not say so (a full disk). */
		n_marked = table_dump_unrecorded(d->table, &marked);
		if (n_marked < 0)
			n_marked = 0;
		for (int i = 0; i < n_marked; i++) {
			struct jit_request *r =
				grants_get(d->grants, marked[i]);
			struct jit_request next;

			if (!r || (r->status != JIT_PENDING &&
				   r->status != JIT_INITIATED))
				continue;
			next = finished(r,
					r->status == JIT_PENDING ? JIT_DENIED
								 : JIT_REVOKED,
					JIT_REASON_ABSENT, "jit-enforcer", now);
			(void)record(d, &next, true);
			grants_apply(d->grants, r, &next);
			log_notice("request %" PRIu64 " was ended before the "
				   "journal could record it; it stays ended",
				   marked[i]);
		}
		n = table_dump_elems(d->table, now, &kel);
		if (n < 0 && n != -ENOENT)
			log_warn("reading the kernel's grant elements: %s; "
				 "the journal alone decides",
				 strerror(-n));
	}
	if (n >= 0) {
		kv.hosts = calloc((size_t)n + 1, sizeof(*kv.hosts));
		kv.nets = calloc((size_t)n + 1, sizeof(*kv.nets));
		if (!kv.hosts || !kv.nets) {
			free(kv.hosts);
			free(kv.nets);
			return -ENOMEM;
		}
		for (int i = 0; i < n; i++) {
			if (kel[i].interval)
				kv.nets[kv.n_nets++] = kel[i];
			else
				kv.hosts[kv.n_hosts++] = kel[i];
		}
		qsort(kv.hosts, kv.n_hosts, sizeof(*kv.hosts), elem_point_cmp);
	}
	end = calloc(grants_count_status(d->grants, JIT_INITIATED) + 1,
		     sizeof(*end));
	if (!end) {
		free(kv.hosts);
		free(kv.nets);
		return -ENOMEM;
	}
	for (size_t i = 0; i < grants_count(d->grants); i++) {
		struct jit_request *r = grants_at(d->grants, i);
		int ret;

		if (r->status != JIT_INITIATED)
			continue;
		if (r->end_ms <= now || (n >= 0 && !record_present(&kv, r))) {
			end[n_end++] = r;
			continue;
		}
		ret = cover_add(d->cover, r->id, &r->key, r->end_ms);
		if (ret < 0) {
			free(kv.hosts);
			free(kv.nets);
			return ret;
		}
		live++;
	}
	/* Finishing may drop old finished records, never a live one. */
	for (size_t i = 0; i < n_end; i++) {
		struct jit_request *r = end[i], next;
		const char *what;
		json_t *ev;

		if (r->end_ms <= now) {
			next = finished(r, JIT_EXPIRED, JIT_REASON_EXPIRED,
					NULL, now);
			what = "ended while the agent was stopped";
			ended++;
		} else {
			next = finished(r, JIT_REVOKED, JIT_REASON_ABSENT,
					"jit-enforcer", now);
			what = "its elements were no longer in the kernel";
			absent++;
		}
		(void)record(d, &next, true);
		grants_apply(d->grants, r, &next);
		ev = audit_base(next.status == JIT_EXPIRED ? "expire"
							   : "revoke",
				agent_identity());
		json_object_set_new(ev, "result",
				    json_string(status_name(next.status)));
		json_object_set_new(ev, "status_reason",
				    json_string(next.status_reason));
		json_object_set_new(ev, "message", json_string(what));
		audit_request(d, ev, r);
	}
	free(kv.hosts);
	free(kv.nets);
	/* What the first commit writes whole. */
	cover_commit(d->cover);
	if (absent)
		log_warn("%zu grant(s) of the journal were no longer in the "
			 "kernel and end now",
			 absent);
	log_notice("journal: %zu requests; %zu grants live, %zu ended while "
		   "the agent was stopped",
		   grants_count(d->grants), live, ended);
	access_arm_timer(d);
	return 0;
}

void access_unrecorded_grant(struct jit_daemon *d, uint64_t id, int err)
{
	struct jit_request *r = grants_get(d->grants, id);
	char why[JIT_STATUS_MAX], kerr[512];

	if (!r || r->status != JIT_INITIATED)
		return;
	snprintf(why, sizeof(why), "not recorded: %s", strerror(-err));
	if (end_grant(d, r, JIT_DENIED, why, "jit-enforcer", kerr,
		      sizeof(kerr)) < 0) {
		log_err("taking back unrecorded grant %" PRIu64 ": %s", id,
			kerr);
		daemon_resync(d);
	}
	access_arm_timer(d);
}
