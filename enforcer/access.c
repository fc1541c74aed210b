/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The decision core (see access.h). Order of every decision: journal, then
 * kernel, then the records in memory; the reply waits for the caller's
 * journal sync. A decision that gives access and cannot be journalled is
 * refused; one that takes access away happens anyway, is kept to retry and
 * marked in the kernel meanwhile.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>

#include "access.h"
#include "hashmap.h"
#include "util.h"

/* The agent's own decisions: expiries (the timer), and policy changes. */
static const struct jit_identity agent_id = { .uid = 0,
					      .name = "jit-enforcer",
					      .channel = "agent" };
static const struct jit_identity timer_id = { .uid = 0,
					      .name = "jit-enforcer",
					      .channel = "timer" };

static int refuse(struct jit_access *a, struct jit_refusal *why,
		  const char *event, const struct jit_identity *by,
		  const struct jit_request *r, int err, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* Fill why, audit the refusal; returns err. */
static int refuse(struct jit_access *a, struct jit_refusal *why,
		  const char *event, const struct jit_identity *by,
		  const struct jit_request *r, int err, const char *code,
		  const char *fmt, ...)
{
	struct jit_access_event ev = {
		.event = event,
		.by = by,
		.r = r,
		.result = "refused",
		.error = code,
		.message = why->message,
	};
	va_list ap;

	char msg[sizeof(why->message)];

	/* fmt's arguments may point into why->message itself. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_truncate_invalid(msg);
	why->code = code;
	memcpy(why->message, msg, sizeof(msg));
	if (a->hooks.audit)
		a->hooks.audit(a->hooks.userdata, &ev);
	return err;
}

static void audit(struct jit_access *a, const char *event,
		  const struct jit_identity *by, const struct jit_request *r,
		  const char *result, const char *message)
{
	struct jit_access_event ev = { .event = event,
				       .by = by,
				       .r = r,
				       .result = result,
				       .message = message };

	if (a->hooks.audit)
		a->hooks.audit(a->hooks.userdata, &ev);
}

static void started(struct jit_access *a, const struct jit_request *r,
		    uint64_t now)
{
	if (a->hooks.grant_started)
		a->hooks.grant_started(a->hooks.userdata, r, now);
}

static void ended(struct jit_access *a, const struct jit_request *r,
		  uint64_t at)
{
	if (a->hooks.grant_ended)
		a->hooks.grant_ended(a->hooks.userdata, r, at);
}

/*
 * Journal next (r's coming state). keep: a decision that takes access
 * away happens even when it cannot be written now; it is retried.
 */
static int record(struct jit_access *a, const struct jit_request *next,
		  bool keep)
{
	int r = journal_append_request(a->journal, next, keep);

	if (r < 0 && a->hooks.journal_failed)
		a->hooks.journal_failed(a->hooks.userdata, r);
	a->dirty = true;
	return r;
}

/**
 * struct jit_access_change - one decision since the journal's last sync
 * @id: the record it changed
 * @created: it made the record (a new request)
 * @hold: it took access away, and holds even if its line is lost
 * @seq: its place among the core's decisions (access_decision_seq)
 * @prev: the record before it (owns its reason), unless @created or @hold
 */
struct jit_access_change {
	uint64_t id, seq;
	bool created, hold;
	struct jit_request prev;
};

/*
 * Note a decision whose line is in the journal but not yet synced: made
 * (created), changed from r (prev), or a removal that holds (hold). The
 * note is what a failed sync undoes. Out of memory, the decision cannot
 * be undone: it is then synced or not with the rest.
 */
static void note(struct jit_access *a, uint64_t id, bool created, bool hold,
		 const struct jit_request *prev)
{
	struct jit_access_change *c;

	if (grow_array((void **)&a->changes, &a->cap_changes, a->n_changes + 1,
		       sizeof(*a->changes)) < 0)
		return;
	c = &a->changes[a->n_changes];
	*c = (struct jit_access_change){
		.id = id, .seq = ++a->seq, .created = created, .hold = hold
	};
	if (prev) {
		c->prev = *prev;
		c->prev.reason = NULL;
		if (prev->reason && !(c->prev.reason = strdup(prev->reason)))
			return;
	}
	a->n_changes++;
}

static void changes_clear(struct jit_access *a, bool keep_holds)
{
	size_t out = 0;

	for (size_t i = 0; i < a->n_changes; i++) {
		struct jit_access_change *c = &a->changes[i];

		request_release(&c->prev);
		if (keep_holds && c->hold)
			a->changes[out++] = *c;
	}
	a->n_changes = out;
}

static int not_recorded(struct jit_access *a, struct jit_refusal *why,
			const char *event, const struct jit_identity *by,
			const struct jit_request *r, int err)
{
	return refuse(a, why, event, by, r, -EIO, "not-recorded",
		      "cannot record the decision: %s on %s", strerror(-err),
		      a->state_dir);
}

/*
 * Bring the kernel to what the cover staged, in one batch. On failure the
 * staged changes are undone and err says why.
 */
static int apply(struct jit_access *a, char *err, size_t errlen)
{
	_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;
	int r;

	err[0] = '\0';
	r = scopes_delta(a->scopes, &del, &n_del, &add, &n_add);
	if (r == 0)
		r = a->kernel->update(a->kernel_ctx, del, n_del, add, n_add,
				      now_real_ms(), err, errlen);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-r));
		scopes_rollback(a->scopes);
		return r;
	}
	scopes_commit(a->scopes);
	return 0;
}

/*
 * For decisions already taken (expiry, policy change): the records are
 * final, so the kernel must follow. If the batch is refused, the sets are
 * replaced whole from the records instead.
 */
static void apply_or_resync(struct jit_access *a)
{
	_cleanup_free_ struct jit_elem *del = NULL, *add = NULL;
	size_t n_del = 0, n_add = 0;
	char err[512];
	int r;

	r = scopes_delta(a->scopes, &del, &n_del, &add, &n_add);
	if (r == 0)
		r = a->kernel->update(a->kernel_ctx, del, n_del, add, n_add,
				      now_real_ms(), err, sizeof(err));
	scopes_commit(a->scopes);
	if (r < 0)
		(void)a->kernel->resync(a->kernel_ctx);
}

/*
 * Give r (pending) its grant: journal it (and the end of the same user's
 * older grant with the same key, which it replaces), then change the
 * kernel. On error r is as it was.
 */
struct replace_ctx {
	const struct jit_request *newer;
	const struct jit_policy_set *policies;
};

/*
 * May newer replace candidate? authz.c says, and both must hold on the
 * same interfaces: a grant under a policy for eth1 never ends one for
 * eth0 (nor one for every interface) with the same key.
 */
static bool replaceable(const struct jit_request *candidate, const void *ctx)
{
	const struct replace_ctx *c = ctx;

	return authz_may_replace(c->newer, candidate) &&
	       iface_scope_equal(
		       policy_set_find(c->policies, c->newer->policy),
		       policy_set_find(c->policies, candidate->policy));
}

static int initiate_until(struct jit_access *a, const struct jit_identity *id,
			  struct jit_request *r, const char *event,
			  const char *by, uint64_t end_ms,
			  struct jit_refusal *why)
{
	struct jit_request next = *r, same_next, *same;
	uint64_t now = now_real_ms();
	char err[512];
	int ret;

	same = grants_find_same(a->grants, &r->key, replaceable,
				&(struct replace_ctx){ r, a->policies });
	next.status = JIT_INITIATED;
	next.start_ms = now;
	next.end_ms = end_ms ? end_ms : now + (uint64_t)r->duration_s * 1000;
	next.status_reason[0] = '\0';
	snprintf(next.decided_by, sizeof(next.decided_by), "%s", by);
	ret = record(a, &next, false);
	if (ret < 0) {
		/* A request granted at once was never journalled: its id
		 * goes back unused, so the audit line names none. */
		struct jit_request shown = *r;

		if (streq(event, "request"))
			shown.id = 0;
		return not_recorded(a, why, event, id, &shown, ret);
	}
	if (streq(event, "request"))
		note(a, r->id, true, false, NULL);
	else
		note(a, r->id, false, false, r);
	if (same) {
		same_next = request_finished(same, JIT_REVOKED,
					     JIT_REASON_NEWER, id->name, now);
		same_next.replaced_by = r->id;
		/* Undone with the newer grant: not a removal that holds. */
		note(a, same->id, false, false, same);
		(void)record(a, &same_next, true);
	}
	ret = scopes_add(a->scopes, policy_set_find(a->policies, r->policy),
			 r->id, &r->key, next.end_ms);
	if (ret == 0 && same)
		ret = scopes_del(a->scopes, same->id, &same->key);
	if (ret < 0) {
		scopes_rollback(a->scopes);
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	} else {
		ret = apply(a, err, sizeof(err));
	}
	if (ret < 0) {
		struct jit_request undo = request_finished(
			r, JIT_DENIED, "the kernel refused the grant", NULL,
			now);

		/* What was journalled is taken back, in order. */
		(void)record(a, &undo, true);
		if (same)
			(void)record(a, same, true);
		grants_apply(a->grants, r, &undo);
		return refuse(a, why, event, id, r, ret, "kernel-error",
			      "the kernel refused the grant: %s", err);
	}
	grants_apply(a->grants, r, &next);
	started(a, r, now);
	if (same) {
		struct jit_access_event ev = { .event = "replace",
					       .by = id,
					       .r = same,
					       .result = "revoked",
					       .replaced_by = r->id };

		grants_apply(a->grants, same, &same_next);
		ev.r = same;
		if (a->hooks.audit)
			a->hooks.audit(a->hooks.userdata, &ev);
	}
	return 0;
}

static int initiate(struct jit_access *a, const struct jit_identity *id,
		    struct jit_request *r, const char *event, const char *by,
		    struct jit_refusal *why)
{
	return initiate_until(a, id, r, event, by, 0, why);
}

static void push_undone(struct jit_access *a, uint64_t id, uint64_t seq,
			bool held)
{
	if (grow_array((void **)&a->undone, &a->cap_undone, a->n_undone + 1,
		       sizeof(*a->undone)) < 0)
		return;
	a->undone[a->n_undone].id = id;
	a->undone[a->n_undone].held = held;
	a->undone[a->n_undone].upto = a->seq;
	a->undone[a->n_undone++].seq = seq;
}

static void audit_undone(struct jit_access *a, const struct jit_request *r,
			 const char *msg)
{
	struct jit_access_event ev = { .event = "undo",
				       .by = &agent_id,
				       .r = r,
				       .result = "refused",
				       .error = "not-recorded",
				       .message = msg };

	if (a->hooks.audit)
		a->hooks.audit(a->hooks.userdata, &ev);
}

static void mark_unrecorded(struct jit_access *a, const struct jit_request *r,
			    uint64_t now);

/*
 * The journal dropped every line since its last sync: undo the decisions
 * they recorded, newest first, and append again (to retry) those that
 * take access away, which hold. See access_sync.
 */
static int cmp_change(const void *x, const void *y)
{
	const struct jit_access_change
		*a = *(const struct jit_access_change *const *)x,
		*b = *(const struct jit_access_change *const *)y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Bring record c->id back to c->prev, its state before the window. */
static bool restore(struct jit_access *a, const struct jit_access_change *c,
		    uint64_t now, const char *msg)
{
	struct jit_request *r = grants_get(a->grants, c->id);
	bool live = r && r->status == JIT_INITIATED, kernel = false;

	if (live && c->prev.status != JIT_INITIATED) {
		(void)scopes_del(a->scopes, r->id, &r->key);
		kernel = true;
		ended(a, r, now);
	}
	if (!live && c->prev.status == JIT_INITIATED) {
		(void)scopes_add(a->scopes,
				 policy_set_find(a->policies, c->prev.policy),
				 c->prev.id, &c->prev.key, c->prev.end_ms);
		kernel = true;
	}
	if (r)
		audit_undone(a, r, msg);
	if (grants_upsert(a->grants, &c->prev) == 0) {
		r = grants_get(a->grants, c->id);
		if (r && !live && r->status == JIT_INITIATED)
			started(a, r, now);
	}
	return kernel;
}

/*
 * The journal dropped every line since its last sync: undo the decisions
 * they recorded, in memory and in the kernel (one batch), and append
 * again (to retry) those that take access away, which hold. Each record
 * goes back to its state before its first change since the sync: a
 * record made since is removed (even if also ended since), one ended
 * since stays ended (the removal holds), any other goes back. See
 * access_sync.
 */
static void undo(struct jit_access *a, int err)
{
	_cleanup_free_ struct jit_access_change **by_id = NULL;
	uint64_t now = now_real_ms();
	bool kernel = false;
	char msg[256];
	size_t n = a->n_changes;

	snprintf(msg, sizeof(msg),
		 "taken back: the journal could not record it (%s on %s)",
		 strerror(-err), a->state_dir ? a->state_dir : "?");
	by_id = calloc(n + 1, sizeof(*by_id));
	if (!by_id) {
		/* Nothing to undo with: better the kernel than the memory. */
		(void)a->kernel->resync(a->kernel_ctx);
		changes_clear(a, true);
		return;
	}
	for (size_t i = 0; i < n; i++)
		by_id[i] = &a->changes[i];
	qsort(by_id, n, sizeof(*by_id), cmp_change);
	for (size_t i = 0, next; i < n; i = next) {
		struct jit_access_change *first = by_id[i];
		struct jit_request *r = grants_get(a->grants, first->id);
		bool held = false;

		for (next = i; next < n && by_id[next]->id == first->id; next++)
			held |= by_id[next]->hold;
		if (first->created) {
			/* Never made: every trace goes, its id unused. */
			if (r && r->status == JIT_INITIATED) {
				(void)scopes_del(a->scopes, r->id, &r->key);
				kernel = true;
				ended(a, r, now);
			}
			if (r) {
				audit_undone(a, r, msg);
				grants_remove(a->grants, r);
			}
		} else if (held) {
			/* Ended since: the removal holds (below). */
			for (size_t k = i; k < next; k++)
				if (by_id[k]->hold && r)
					push_undone(a, r->id, by_id[k]->seq,
						    true);
			continue;
		} else if (!first->hold) {
			kernel |= restore(a, first, now, msg);
		}
		for (size_t k = i; k < next; k++)
			push_undone(a, first->id, by_id[k]->seq, false);
	}
	if (kernel)
		apply_or_resync(a);
	/* The removals hold: appended again (kept to retry), and marked in
	 * the kernel until the journal has them. */
	for (size_t i = 0, next; i < n; i = next) {
		uint64_t id = by_id[i]->id;
		struct jit_request *r = grants_get(a->grants, id);
		bool held = false;

		for (next = i; next < n && by_id[next]->id == id; next++)
			held |= by_id[next]->hold;
		if (!held || !r || by_id[i]->created)
			continue;
		(void)journal_append_request(a->journal, r, true);
		if (r->status != JIT_PENDING && r->status != JIT_INITIATED)
			mark_unrecorded(a, r, now);
		a->dirty = true;
	}
	changes_clear(a, true);
}

/* After a sync (or a reservation, which syncs): keep or undo. */
static void synced(struct jit_access *a, int err)
{
	uint64_t rollbacks = journal_rollbacks(a->journal);

	if (rollbacks != a->rollbacks) {
		a->rollbacks = rollbacks;
		/* Nothing is left to sync but what undo appends again. */
		a->dirty = false;
		if (a->hooks.journal_failed)
			a->hooks.journal_failed(a->hooks.userdata,
						err < 0 ? err : -EIO);
		undo(a, err < 0 ? err : -EIO);
		return;
	}
	if (err == 0)
		changes_clear(a, false);
}

int access_sync(struct jit_access *a)
{
	int r = journal_sync(a->journal);

	synced(a, r);
	if (r == 0)
		a->dirty = false;
	return r;
}

uint64_t access_decision_seq(const struct jit_access *a)
{
	return a->seq;
}

bool access_undone(const struct jit_access *a, uint64_t rid, uint64_t seq)
{
	for (size_t i = 0; i < a->n_undone; i++)
		if (!a->undone[i].held && a->undone[i].id == rid &&
		    a->undone[i].seq <= seq && seq <= a->undone[i].upto)
			return true;
	return false;
}

bool access_unrecorded(const struct jit_access *a, uint64_t rid, uint64_t seq)
{
	for (size_t i = 0; i < a->n_undone; i++)
		if (a->undone[i].held && a->undone[i].id == rid &&
		    a->undone[i].seq == seq)
			return true;
	return false;
}

void access_forget_undone(struct jit_access *a)
{
	a->n_undone = 0;
}

void access_release(struct jit_access *a)
{
	changes_clear(a, false);
	free(a->changes);
	a->changes = NULL;
	a->n_changes = a->cap_changes = 0;
	free(a->undone);
	a->undone = NULL;
	a->n_undone = a->cap_undone = 0;
}

/*
 * The next id must be reserved by a synced line before it is given:
 * then a request that is rolled back never has its id given again, not
 * even after a restart. One sync per JIT_JOURNAL_ID_BLOCK requests.
 */
static int reserve_id(struct jit_access *a)
{
	uint64_t next = grants_next_id(a->grants);
	int r;

	if (!a->journal || next < journal_reserved(a->journal))
		return 0;
	r = journal_reserve_ids(a->journal, next + JIT_JOURNAL_ID_BLOCK);
	synced(a, r);
	if (r == 0)
		a->dirty = false;
	return r;
}

/*
 * A token of id's bucket for one decision asked on the control socket
 * (root exempt). SPA requests are metered in the kernel, per source, and
 * each needs a fresh packet made with the key. Returns 0, or -EBUSY with
 * why filled in and the refusal audited.
 */
static int rate_limited(struct jit_access *a, const char *event,
			const struct jit_identity *id,
			const struct jit_request *r, struct jit_refusal *why)
{
	uint64_t retry = 0;

	if (!a->rate || authz_unlimited(id) ||
	    (id->channel && !streq(id->channel, "socket")) ||
	    ratelimit_take(a->rate, id->uid, now_mono_ms(), &retry))
		return 0;
	return refuse(a, why, event, id, r, -EBUSY, "rate-limited",
		      "user '%s' asks faster than %.3g decisions per second "
		      "(%u at once): try again in %" PRIu64 " ms",
		      id->name, ratelimit_rate(a->rate),
		      ratelimit_burst(a->rate), retry);
}

int access_request(struct jit_access *a, const struct jit_identity *id,
		   const struct jit_request *tmpl_in, struct jit_request **ret,
		   struct jit_refusal *why)
{
	struct jit_request tmpl = *tmpl_in, *r;
	const struct jit_policy *p;
	const char *code;
	int err;

	access_expire(a, now_real_ms());
	tmpl.uid = id->uid;
	snprintf(tmpl.user, sizeof(tmpl.user), "%.32s", id->name);
	p = policy_set_find(a->policies, tmpl.policy);
	if (!p)
		return refuse(a, why, "request", id, &tmpl, -EINVAL,
			      "unknown-policy", "no policy named '%s'",
			      tmpl.policy);
	err = authz_check_request(p, id, &tmpl, &code, why->message,
				  sizeof(why->message));
	if (err < 0)
		return refuse(a, why, "request", id, &tmpl, err, code, "%s",
			      why->message);
	err = authz_check_share(
		p, id, grants_count_user(a->grants, id->uid, JIT_PENDING),
		grants_count_user(a->grants, id->uid, JIT_INITIATED),
		grants_find_same(a->grants, &tmpl.key, replaceable,
				 &(struct replace_ctx){ &tmpl, a->policies }) !=
			NULL,
		&code, why->message, sizeof(why->message));
	if (err < 0)
		return refuse(a, why, "request", id, &tmpl, err, code, "%s",
			      why->message);
	/* Only what would be decided costs a token: refusals have their
	 * own bound in the audit trail. */
	err = rate_limited(a, "request", id, &tmpl, why);
	if (err < 0)
		return err;

	err = reserve_id(a);
	if (err < 0)
		return not_recorded(a, why, "request", id, &tmpl, err);
	if (grants_add(a->grants, &tmpl, now_real_ms(), &r) < 0)
		return refuse(a, why, "request", id, &tmpl, -ENOSPC,
			      "too-many-requests",
			      "the agent holds too many requests");
	if (p->approval == JIT_APPROVAL_AUTO) {
		err = initiate(a, id, r, "request", "auto", why);
	} else {
		err = record(a, r, false);
		if (err < 0)
			err = not_recorded(a, why, "request", id, &tmpl, err);
		else
			note(a, r->id, true, false, NULL);
	}
	if (err < 0) {
		/* Not recorded: as if it had never been made, so that its id
		 * is not used (the journal never saw it). */
		if (r->status == JIT_PENDING)
			grants_discard(a->grants, r);
		return err;
	}
	audit(a, "request", id, r,
	      r->status == JIT_INITIATED ? "granted" : "pending", NULL);
	*ret = r;
	return 0;
}

/*
 * The record rid, if id may see it (authz_may_see): to anyone else, a
 * record that exists answers as one that does not, so that its state and
 * very existence do not leak.
 */
static struct jit_request *
record_seen(struct jit_access *a, const struct jit_identity *id, uint64_t rid)
{
	struct jit_request *r = grants_get(a->grants, rid);

	if (r && !authz_may_see(policy_set_find(a->policies, r->policy), id, r))
		return NULL;
	return r;
}

int access_decide(struct jit_access *a, const struct jit_identity *id,
		  uint64_t rid, bool approve, const char *reason,
		  struct jit_request **ret, struct jit_refusal *why)
{
	const char *event = approve ? "approve" : "deny";
	struct jit_request *r, none = { .id = rid };
	const struct jit_policy *p;
	const char *code;
	int err;

	access_expire(a, now_real_ms());
	r = record_seen(a, id, rid);
	if (!r)
		return refuse(a, why, event, id, &none, -ENOENT,
			      "unknown-request", "no request %" PRIu64, rid);
	if (r->status != JIT_PENDING)
		return refuse(a, why, event, id, r, -EINVAL, "not-pending",
			      "request %" PRIu64 " is %s, not pending approval",
			      rid, status_name(r->status));
	p = policy_set_find(a->policies, r->policy);
	if (!p)
		return refuse(a, why, event, id, r, -EINVAL, "unknown-policy",
			      "policy '%s' no longer exists", r->policy);
	err = authz_may_decide(p, id, r, &code, why->message,
			       sizeof(why->message));
	if (err < 0)
		return refuse(a, why, event, id, r, err, code, "%s",
			      why->message);
	err = rate_limited(a, event, id, r, why);
	if (err < 0)
		return err;
	if (approve) {
		struct jit_request check = *r;

		/* The policy may have changed while the request waited. */
		err = authz_check_limits(p, &check, &code, why->message,
					 sizeof(why->message));
		if (err < 0)
			return refuse(a, why, event, id, r, err, code, "%s",
				      why->message);
		err = initiate(a, id, r, event, id->name, why);
		if (err < 0)
			return err;
	} else {
		char text[JIT_STATUS_MAX];
		struct jit_request next;

		snprintf(text, sizeof(text), "denied%s%s",
			 reason && reason[0] ? ": " : "", reason ? reason : "");
		next = request_finished(r, JIT_DENIED, text, id->name,
					now_real_ms());
		/* A denial that is not recorded would not hold: refuse it. */
		err = record(a, &next, false);
		if (err < 0)
			return not_recorded(a, why, event, id, r, err);
		note(a, r->id, false, false, r);
		grants_apply(a->grants, r, &next);
	}
	{
		struct jit_access_event ev = {
			.event = event,
			.by = id,
			.r = r,
			.result = approve ? "granted" : "denied",
			.decision_reason = reason,
		};

		if (a->hooks.audit)
			a->hooks.audit(a->hooks.userdata, &ev);
	}
	*ret = r;
	return 0;
}

/*
 * The journal could not take r's end: until it can, the kernel keeps the
 * word, set before the elements go so that no crash falls between. (Should
 * the kernel then refuse the removal too, the next start still ends r: the
 * revoke that was asked for.) A failure here is logged by the kernel side;
 * the journal's retry still comes.
 */
static void mark_unrecorded(struct jit_access *a, const struct jit_request *r,
			    uint64_t now)
{
	uint64_t until = r->end_ms > now ? r->end_ms : now + 86400000;
	char err[256];

	(void)a->kernel->mark_unrecorded(a->kernel_ctx, r->id, until, now, err,
					 sizeof(err));
}

/*
 * End r now as st: journal it first (kept for retry if the journal cannot
 * take it, and marked in the kernel meanwhile), then take its elements out
 * of the kernel. Returns 0, 1 when the kernel is right but the journal not
 * yet, or -errno when the kernel refused (then r is as it was).
 */
static int end_grant(struct jit_access *a, struct jit_request *r,
		     enum jit_status st, const char *reason, const char *by,
		     char *err, size_t errlen)
{
	uint64_t now = now_real_ms();
	struct jit_request next = request_finished(r, st, reason, by, now);
	bool live = r->status == JIT_INITIATED;
	int rec, ret = 0;

	rec = record(a, &next, true);
	note(a, r->id, false, true, NULL);
	if (rec < 0)
		mark_unrecorded(a, r, now);
	if (live) {
		ret = scopes_del(a->scopes, r->id, &r->key);
		if (ret == 0)
			ret = apply(a, err, errlen);
		else
			snprintf(err, errlen, "%s", strerror(-ret));
		if (ret < 0) {
			(void)record(a, r, true);
			return ret;
		}
	}
	grants_apply(a->grants, r, &next);
	if (live)
		ended(a, r, st == JIT_EXPIRED ? r->end_ms : now);
	return rec < 0 ? 1 : 0;
}

int access_revoke(struct jit_access *a, const struct jit_identity *id,
		  uint64_t rid, struct jit_request **ret,
		  struct jit_refusal *why)
{
	struct jit_request *r, none = { .id = rid };
	const char *code;
	char err[512];
	int rc;

	access_expire(a, now_real_ms());
	r = record_seen(a, id, rid);
	if (!r)
		return refuse(a, why, "revoke", id, &none, -ENOENT,
			      "unknown-request", "no request %" PRIu64, rid);
	if (r->status != JIT_INITIATED && r->status != JIT_PENDING)
		return refuse(a, why, "revoke", id, r, -EINVAL, "not-live",
			      "request %" PRIu64 " is already %s", rid,
			      status_name(r->status));
	rc = authz_may_revoke(policy_set_find(a->policies, r->policy), id, r,
			      &code, why->message, sizeof(why->message));
	if (rc < 0)
		return refuse(a, why, "revoke", id, r, rc, code, "%s",
			      why->message);
	rc = end_grant(a, r, JIT_REVOKED, JIT_REASON_USER, id->name, err,
		       sizeof(err));
	if (rc < 0)
		return refuse(a, why, "revoke", id, r, rc, "kernel-error", "%s",
			      err);
	audit(a, "revoke", id, r, "revoked",
	      rc > 0 ? "in force in the kernel, not yet recorded" : NULL);
	*ret = r;
	return rc;
}

void access_expire(struct jit_access *a, uint64_t now)
{
	struct jit_request *r;
	int n = 0;

	/* One kernel batch for all that are due. */
	while ((r = grants_next_due(a->grants, now))) {
		struct jit_request next = request_finished(
			r, JIT_EXPIRED, JIT_REASON_EXPIRED, NULL, now);

		/* Unrecorded, it is expired at the next start all the same. */
		(void)record(a, &next, true);
		note(a, r->id, false, true, NULL);
		(void)scopes_del(a->scopes, r->id, &r->key);
		grants_apply(a->grants, r, &next);
		ended(a, r, r->end_ms);
		audit(a, "expire", &timer_id, r, "expired", NULL);
		n++;
	}
	if (n)
		apply_or_resync(a);
}

struct withdrawal {
	struct jit_request *r;
	struct jit_request next; /* revoked if live, denied if pending */
	char *why;
};

/* Identities, looked up once per recheck and user rather than per grant. */
struct cached_id {
	struct jit_identity id;
	bool ok;
	/* Never all zero (uid 0 is root), which the map reads as empty. */
	bool used;
};

struct id_cache {
	struct hashmap map; /* struct cached_id, by uid */
	int (*lookup)(uint32_t uid, struct jit_identity *ret);
};

static uint64_t uid_hash(uint32_t uid)
{
	return hash_mix(uid);
}

static uint64_t cached_id_hash(const void *e, const void *ctx)
{
	return uid_hash(((const struct cached_id *)e)->id.uid);
}

static bool is_uid(const void *e, const void *key, const void *ctx)
{
	return ((const struct cached_id *)e)->id.uid == *(const uint32_t *)key;
}

/* NULL if the user is not found, or (out of memory) cannot be looked up. */
static const struct jit_identity *cached_identity(struct id_cache *c,
						  uint32_t uid)
{
	struct cached_id *e;
	bool added;

	e = hashmap_put(&c->map, uid_hash(uid), is_uid, &uid, &added);
	if (!e || !added)
		return e && e->ok ? &e->id : NULL;
	e->used = true;
	e->ok = c->lookup && c->lookup(uid, &e->id) == 0;
	if (!e->ok)
		memset(&e->id, 0, sizeof(e->id));
	e->id.uid = uid;
	return e->ok ? &e->id : NULL;
}

static void id_cache_release(struct id_cache *c)
{
	struct cached_id *e;

	for (size_t i = 0; (e = hashmap_next(&c->map, &i));)
		identity_release(&e->id);
	hashmap_clear(&c->map);
}

void access_recheck(struct jit_access *a,
		    int (*lookup)(uint32_t uid, struct jit_identity *ret))
{
	struct id_cache cache = { .lookup = lookup };
	struct withdrawal *w = NULL;
	size_t n_w = 0, cap_w = 0;
	uint64_t now = now_real_ms();
	bool kernel_full = false;

	hashmap_init(&cache.map, sizeof(struct cached_id), cached_id_hash,
		     NULL);
	access_expire(a, now);
	/* Decide first (records never move while nothing is finished). */
	for (size_t i = 0; i < grants_count(a->grants); i++) {
		struct jit_request *r = grants_at(a->grants, i), check = *r;
		const struct jit_policy *p;
		const struct jit_identity *who;
		const char *code;
		char why[512] = "";

		if (r->status != JIT_INITIATED && r->status != JIT_PENDING)
			continue;
		p = policy_set_find(a->policies, r->policy);
		if (!p) {
			snprintf(why, sizeof(why), "policy '%s' was removed",
				 r->policy);
		} else if (r->fleet_id) {
			/* The policy's fleet block decides, as it did. */
			if (authz_check_fleet(p, r->user, r->decided_by,
					      r->end_ms, now, &check, &code,
					      why, sizeof(why)) == 0)
				why[0] = '\0';
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
		w[n_w].next = request_finished(
			r,
			r->status == JIT_INITIATED ? JIT_REVOKED : JIT_DENIED,
			JIT_REASON_POLICY, agent_id.name, now);
		w[n_w++].why = strdup(why);
	}
	/*
	 * The grants that stay hold where their policy now says: on every
	 * interface, or on its interfaces (which may have changed).
	 */
	if (scopes_rescope(a->scopes, a->policies, a->grants) < 0)
		kernel_full = true;
	/* Journal every withdrawal, then one kernel batch for them all. */
	for (size_t i = 0; i < n_w; i++) {
		struct jit_request *r = w[i].r;

		if (record(a, &w[i].next, true) < 0)
			mark_unrecorded(a, r, now);
		note(a, r->id, false, true, NULL);
		if (r->status == JIT_INITIATED)
			(void)scopes_del(a->scopes, r->id, &r->key);
	}
	apply_or_resync(a);
	if (kernel_full)
		(void)a->kernel->resync(a->kernel_ctx);
	/* Finishing may drop old finished records, never these. */
	for (size_t i = 0; i < n_w; i++) {
		struct jit_request *r = w[i].r;
		bool live = r->status == JIT_INITIATED;

		grants_apply(a->grants, r, &w[i].next);
		if (live)
			ended(a, r, now);
		audit(a, "revoke", &agent_id, r, status_name(r->status),
		      w[i].why ? w[i].why : "policy changed");
	}
	for (size_t i = 0; i < n_w; i++)
		free(w[i].why);
	free(w);
	id_cache_release(&cache);
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

/*
 * Is every element of r in the kernel, until at least r's end? On any
 * interface: a record's interfaces are its policy's as the policy is now
 * (scope.h), which may have changed while the agent was stopped; the
 * question is only whether the batch that gave r reached the kernel.
 */
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
		/* A host on a zone of interface names is a box. */
		for (uint32_t p = r->key.port_lo; p <= r->key.port_hi; p++)
			if (!host_present(kv, r->key.source.family,
					  r->key.source.addr, protos[i],
					  (uint16_t)p, min_end) &&
			    !box_present(kv, r->key.source.family,
					 r->key.source.addr, r->key.source.addr,
					 protos[i], (uint16_t)p, (uint16_t)p,
					 min_end))
				return false;
	}
	return true;
}

/*
 * At start, after the journal was read: grants that ended while the agent
 * was down are expired; with our table still in the kernel (the agent
 * stopped or crashed, the host did not reboot), a grant the kernel marked
 * as ended, or whose elements it no longer holds, was taken away before
 * the journal could say so (a revoke on a full disk, or a grant journalled
 * just before a crash and never given): the kernel wins. Then the cover is
 * built from what is left; the first commit puts exactly that in the
 * kernel.
 */
static int cmp_id(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Records the kernel marked as ended before the journal could say so. */
static void end_marked(struct jit_access *a, const uint64_t *marked, int n,
		       uint64_t now)
{
	for (int i = 0; i < n; i++) {
		struct jit_request *r = grants_get(a->grants, marked[i]), next;

		if (!r ||
		    (r->status != JIT_PENDING && r->status != JIT_INITIATED))
			continue;
		next = request_finished(
			r, r->status == JIT_PENDING ? JIT_DENIED : JIT_REVOKED,
			JIT_REASON_ABSENT, agent_id.name, now);
		(void)record(a, &next, true);
		note(a, r->id, false, true, NULL);
		grants_apply(a->grants, r, &next);
		audit(a, "revoke", &agent_id, r, status_name(next.status),
		      "it was ended before the journal could record it");
	}
}

/* The kernel's n elements as hosts (sorted, for bsearch) and nets. */
static int kernel_view_build(struct kernel_view *kv, const struct jit_elem *kel,
			     int n)
{
	kv->hosts = calloc((size_t)n + 1, sizeof(*kv->hosts));
	kv->nets = calloc((size_t)n + 1, sizeof(*kv->nets));
	if (!kv->hosts || !kv->nets)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (kel[i].interval)
			kv->nets[kv->n_nets++] = kel[i];
		else
			kv->hosts[kv->n_hosts++] = kel[i];
	}
	qsort(kv->hosts, kv->n_hosts, sizeof(*kv->hosts), elem_point_cmp);
	/*
	 * The same point may be in several sets (for every interface, and
	 * on interfaces): keep it once, with its latest end.
	 */
	if (kv->n_hosts) {
		size_t out = 0;

		for (size_t i = 1; i < kv->n_hosts; i++) {
			struct jit_elem *o = &kv->hosts[out];

			if (elem_point_cmp(o, &kv->hosts[i]) == 0) {
				if (kv->hosts[i].end_ms > o->end_ms)
					o->end_ms = kv->hosts[i].end_ms;
			} else {
				kv->hosts[++out] = kv->hosts[i];
			}
		}
		kv->n_hosts = out + 1;
	}
	return 0;
}

/*
 * Live records go to the cover; those whose end passed, or (when the kernel
 * was read, kv non-NULL) that are to be checked and whose elements the
 * kernel no longer holds, go to end[].
 */
static int sort_live(struct jit_access *a, const struct kernel_view *kv,
		     const uint64_t *check, size_t n_check, uint64_t now,
		     struct jit_request **end, size_t *n_end)
{
	for (size_t i = 0; i < grants_count(a->grants); i++) {
		struct jit_request *r = grants_at(a->grants, i);
		int ret;

		if (r->status != JIT_INITIATED)
			continue;
		if (r->end_ms <= now ||
		    (kv &&
		     (!check || bsearch(&r->id, check, n_check, sizeof(*check),
					cmp_id)) &&
		     !record_present(kv, r))) {
			end[(*n_end)++] = r;
			continue;
		}
		ret = scopes_add(a->scopes,
				 policy_set_find(a->policies, r->policy), r->id,
				 &r->key, r->end_ms);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* End what sort_live set aside: expired, or gone from the kernel. */
static void end_at_start(struct jit_access *a, struct jit_request **end,
			 size_t n_end, uint64_t now)
{
	/* Finishing may drop old finished records, never a live one. */
	for (size_t i = 0; i < n_end; i++) {
		struct jit_request *r = end[i], next;
		bool expired = r->end_ms <= now;

		next = expired ? request_finished(r, JIT_EXPIRED,
						  JIT_REASON_EXPIRED, NULL, now)
			       : request_finished(r, JIT_REVOKED,
						  JIT_REASON_ABSENT,
						  agent_id.name, now);
		(void)record(a, &next, true);
		note(a, r->id, false, true, NULL);
		grants_apply(a->grants, r, &next);
		audit(a, expired ? "expire" : "revoke",
		      expired ? &timer_id : &agent_id, r,
		      status_name(next.status),
		      expired ? "ended while the agent was stopped"
			      : "its elements were no longer in the kernel");
	}
}

int access_start(struct jit_access *a, bool trust_journal,
		 const uint64_t *check, size_t n_check, uint64_t now)
{
	_cleanup_free_ uint64_t *sorted = NULL;
	struct kernel_view kv = { 0 };
	_cleanup_free_ struct jit_elem *kel = NULL;
	_cleanup_free_ uint64_t *marked = NULL;
	_cleanup_free_ struct jit_request **end = NULL;
	size_t n_end = 0;
	int n = -ENOENT, n_marked = 0, ret = 0;

	if (!trust_journal) {
		n_marked = a->kernel->dump_unrecorded(a->kernel_ctx, &marked);
		/* Reading 100,000 elements back costs more than the rest of
		 * a start: only when some decision may not have reached the
		 * kernel. */
		if (!check || n_check)
			n = a->kernel->dump(a->kernel_ctx, now, &kel);
	}
	if (check && n_check) {
		sorted = calloc(n_check, sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, check, n_check * sizeof(*sorted));
		qsort(sorted, n_check, sizeof(*sorted), cmp_id);
	}
	end_marked(a, marked, n_marked, now);
	/* The zones of the policies in force, before any record goes in. */
	ret = scopes_rescope(a->scopes, a->policies, NULL);
	if (ret < 0)
		return ret;
	(void)scopes_reserve(a->scopes,
			     grants_count_status(a->grants, JIT_INITIATED));
	end = calloc(grants_count_status(a->grants, JIT_INITIATED) + 1,
		     sizeof(*end));
	if (!end || (n >= 0 && kernel_view_build(&kv, kel, n) < 0))
		ret = -ENOMEM;
	if (ret == 0)
		ret = sort_live(a, n >= 0 ? &kv : NULL, check ? sorted : NULL,
				n_check, now, end, &n_end);
	if (ret == 0) {
		end_at_start(a, end, n_end, now);
		/* What the first commit writes whole. */
		scopes_commit(a->scopes);
	}
	free(kv.hosts);
	free(kv.nets);
	return ret;
}

void access_unrecorded_grant(struct jit_access *a, uint64_t rid, int err)
{
	struct jit_request *r = grants_get(a->grants, rid);
	char why[JIT_STATUS_MAX], kerr[512];

	if (!r || r->status != JIT_INITIATED)
		return;
	snprintf(why, sizeof(why), "not recorded: %s", strerror(-err));
	if (end_grant(a, r, JIT_DENIED, why, agent_id.name, kerr,
		      sizeof(kerr)) < 0)
		(void)a->kernel->resync(a->kernel_ctx);
}

/* --- fleet grants ------------------------------------------------------- */

int access_fleet_grant(struct jit_access *a, const struct jit_identity *id,
		       const struct jit_request *tmpl_in,
		       const char *requested_by, uint64_t end_ms,
		       struct jit_request **ret, struct jit_refusal *why)
{
	struct jit_request tmpl = *tmpl_in, *r;
	const struct jit_policy *p;
	uint64_t now = now_real_ms();
	const char *code = NULL;
	int err, rc;

	access_expire(a, now);
	/* Nobody's local right: the fleet's, kept among the agent's own. */
	tmpl.uid = 0;
	snprintf(tmpl.user, sizeof(tmpl.user), "%.32s", requested_by);
	p = policy_set_find(a->policies, tmpl.policy);
	if (!p) {
		code = "unknown-policy";
		snprintf(why->message, sizeof(why->message),
			 "no policy named '%s' on this host", tmpl.policy);
		err = -EINVAL;
	} else {
		err = authz_check_fleet(p, requested_by, id->name, end_ms, now,
					&tmpl, &code, why->message,
					sizeof(why->message));
	}
	/* Its id reserved by a synced line first, as a socket request's:
	 * one taken back is never given again, even after kill -9. */
	rc = reserve_id(a);
	if (rc < 0)
		return not_recorded(a, why, "request", id, &tmpl, rc);
	if (grants_add(a->grants, &tmpl, now, &r) < 0)
		return refuse(a, why, "request", id, &tmpl, -ENOSPC,
			      "too-many-requests",
			      "the agent holds too many requests");
	if (err < 0) {
		/* Journalled as denied, with its key and revision, so that a
		 * restart does not decide (and audit) it again. */
		struct jit_request next =
			request_finished(r, JIT_DENIED, NULL, id->name, now);
		char text[JIT_STATUS_MAX];
		int rec;

		snprintf(text, sizeof(text), "refused: %s", code);
		snprintf(next.status_reason, sizeof(next.status_reason), "%s",
			 text);
		rec = record(a, &next, false);
		if (rec < 0) {
			grants_discard(a->grants, r);
			tmpl.id = 0;
			return refuse(a, why, "request", id, &tmpl, err, code,
				      "%s", why->message);
		}
		/* A failed sync takes it back whole, as any new record. */
		note(a, r->id, true, false, NULL);
		grants_apply(a->grants, r, &next);
		*ret = r;
		return refuse(a, why, "request", id, r, err, code, "%s",
			      why->message);
	}
	err = initiate_until(a, id, r, "request", id->name, end_ms, why);
	if (err < 0) {
		if (r->status == JIT_PENDING)
			grants_discard(a->grants, r);
		return err;
	}
	audit(a, "request", id, r, "granted", NULL);
	*ret = r;
	return 0;
}

int access_fleet_end(struct jit_access *a, const struct jit_identity *id,
		     struct jit_request *r, const char *reason, uint64_t rev,
		     struct jit_refusal *why)
{
	char err[512];
	int rc;

	access_expire(a, now_real_ms());
	if (r->status != JIT_INITIATED && r->status != JIT_PENDING)
		return access_fleet_bump(a, r, rev);
	if (rev > r->fleet_rev)
		r->fleet_rev = rev;
	rc = end_grant(a, r, JIT_REVOKED, reason, id->name, err, sizeof(err));
	if (rc < 0)
		return refuse(a, why, "revoke", id, r, rc, "kernel-error", "%s",
			      err);
	audit(a, "revoke", id, r, "revoked",
	      rc > 0 ? "in force in the kernel, not yet recorded" : reason);
	return rc;
}

int access_fleet_replace(struct jit_access *a, const struct jit_identity *id,
			 struct jit_request *old,
			 const struct jit_request *newer,
			 struct jit_refusal *why)
{
	uint64_t now = now_real_ms();
	struct jit_request next;
	bool live = old->status == JIT_INITIATED;
	char err[512];
	int ret = 0;

	if (!live && old->status != JIT_PENDING)
		return 0;
	next = request_finished(old, JIT_REVOKED, JIT_REASON_NEWER, id->name,
				now);
	next.replaced_by = newer->id;
	/* Undone with the newer grant, as a replacement of the same key is
	 * (initiate_until): a failed sync brings the old one back rather
	 * than leave neither. Not a removal that holds. */
	note(a, old->id, false, false, old);
	(void)record(a, &next, true);
	if (live) {
		ret = scopes_del(a->scopes, old->id, &old->key);
		if (ret == 0)
			ret = apply(a, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s", strerror(-ret));
	}
	if (ret < 0) {
		(void)record(a, old, true);
		return refuse(a, why, "revoke", id, old, ret, "kernel-error",
			      "%s", err);
	}
	grants_apply(a->grants, old, &next);
	if (live)
		ended(a, old, now);
	audit(a, "revoke", id, old, "revoked", JIT_REASON_NEWER);
	return 0;
}

int access_fleet_bump(struct jit_access *a, struct jit_request *r, uint64_t rev)
{
	struct jit_request next = *r;

	if (rev <= r->fleet_rev)
		return 0;
	next.fleet_rev = rev;
	/* Losing it only makes the next start look at the key again. */
	(void)record(a, &next, true);
	grants_apply(a->grants, r, &next);
	return 0;
}
