/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet adapter's decisions, without NATS or the loop: each change of
 * the host's range of the grants bucket becomes a call to the decision
 * core, at most once per revision, and a snapshot of the range revokes
 * what it no longer holds (deleted markers may have been purged, and keys
 * that aged out leave no event).
 */
#include <inttypes.h>

#include "access.h"
#include "fleet.h"
#include "util.h"

/* The identity a fleet decision is audited under. */
static const struct jit_identity fleet_agent = { .uid = 0,
						 .name = "fleet",
						 .channel = "fleet" };

const char *fleet_result_name(enum jit_fleet_result r)
{
	static const char *const names[] = {
		[JIT_FLEET_OLD] = "old",
		[JIT_FLEET_NONE] = "none",
		[JIT_FLEET_BUMPED] = "bumped",
		[JIT_FLEET_GRANTED] = "granted",
		[JIT_FLEET_REFUSED] = "refused",
		[JIT_FLEET_REVOKED] = "revoked",
		[JIT_FLEET_BAD] = "bad",
		[JIT_FLEET_FAILED] = "failed",
	};

	return (size_t)r < ARRAY_SIZE(names) ? names[r] : "?";
}

struct jit_request *fleet_find(struct jit_access *a, uint64_t id)
{
	for (size_t i = grants_count(a->grants); i > 0; i--) {
		struct jit_request *r = grants_at(a->grants, i - 1);

		if (r->fleet_id == id)
			return r;
	}
	return NULL;
}

static bool live(const struct jit_request *r)
{
	return r && (r->status == JIT_INITIATED || r->status == JIT_PENDING);
}

static enum jit_fleet_result end_old(struct jit_access *a,
				     struct jit_request *old,
				     const char *reason, uint64_t rev,
				     struct jit_refusal *why)
{
	int rc = access_fleet_end(a, &fleet_agent, old, reason, rev, why);

	return rc < 0 ? JIT_FLEET_FAILED : JIT_FLEET_REVOKED;
}

enum jit_fleet_result fleet_apply(struct jit_access *a, const char *host,
				  const struct jit_fleet_entry *e,
				  struct jit_refusal *why)
{
	struct jit_request tmpl = { 0 }, *old, *r = NULL;
	struct jit_identity by = { .uid = 0, .channel = "fleet" };
	struct jit_fleet_grant g;
	uint64_t id, old_id;
	bool redecide;
	int rc;

	why->code = NULL;
	why->message[0] = '\0';
	if (fleet_key_parse(host, e->key, &id) < 0) {
		why->code = "bad-key";
		snprintf(why->message, sizeof(why->message),
			 "key '%.100s' is not host.%s.<16 hex digits>", e->key,
			 host);
		return JIT_FLEET_BAD;
	}
	old = fleet_find(a, id);
	/* A refusal of this very revision, under policies since changed:
	 * decided again (and audited again) once. */
	redecide = e->redecide && old && e->op == JIT_FLEET_PUT &&
		   e->rev == old->fleet_rev && old->status == JIT_DENIED &&
		   !strncmp(old->status_reason, "refused", 7);
	if (old && e->rev <= old->fleet_rev && !redecide)
		return JIT_FLEET_OLD;
	if (e->op != JIT_FLEET_PUT) {
		if (!old)
			return JIT_FLEET_NONE;
		if (!live(old)) {
			access_fleet_bump(a, old, e->rev);
			return JIT_FLEET_NONE;
		}
		return end_old(a, old, JIT_REASON_FLEET_REVOKED, e->rev, why);
	}
	if (fleet_grant_parse(host, id, e->data, e->len, &g, why->message,
			      sizeof(why->message)) < 0) {
		why->code = "bad-value";
		if (live(old)) {
			struct jit_refusal w2;

			end_old(a, old, JIT_REASON_FLEET_CHANGED, e->rev, &w2);
		} else if (old) {
			access_fleet_bump(a, old, e->rev);
		}
		return JIT_FLEET_BAD;
	}
	/* Same content: nothing to decide again, unless it was revoked and
	 * the key was written anew. */
	if (old && old->fleet_hash == g.hash && old->status != JIT_REVOKED &&
	    !redecide) {
		access_fleet_bump(a, old, e->rev);
		return JIT_FLEET_BUMPED;
	}
	old_id = old ? old->id : 0;
	snprintf(tmpl.policy, sizeof(tmpl.policy), "%s", g.policy);
	tmpl.key = (struct jit_grant_key){ .source = g.source,
					   .protos = g.protos,
					   .port_lo = g.port,
					   .port_hi = g.port };
	tmpl.reason = g.reason[0] ? g.reason : NULL;
	tmpl.fleet_id = id;
	tmpl.fleet_rev = e->rev;
	tmpl.fleet_hash = g.hash;
	snprintf(by.name, sizeof(by.name), "%s", g.approved_by);
	rc = access_fleet_grant(a, &by, &tmpl, g.requested_by, g.end_ms, &r,
				why);
	if (rc < 0 && !r && streq(why->code ? why->code : "", "not-recorded"))
		return JIT_FLEET_FAILED;
	/* The earlier state of the key, unless the grant replaced it. */
	old = old_id ? grants_get(a->grants, old_id) : NULL;
	if (live(old)) {
		struct jit_refusal w2;

		/* Granted: replaced, and back if the pass is undone. Refused:
		 * the key no longer says it, ended for good. */
		if (rc == 0)
			(void)access_fleet_replace(a, &fleet_agent, old, r,
						   &w2);
		else
			(void)access_fleet_end(a, &fleet_agent, old,
					       JIT_REASON_FLEET_CHANGED, 0,
					       &w2);
	}
	if (rc < 0)
		return r ? JIT_FLEET_REFUSED : JIT_FLEET_FAILED;
	return JIT_FLEET_GRANTED;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

size_t fleet_reconcile(struct jit_access *a, const uint64_t *ids, size_t n)
{
	_cleanup_free_ uint64_t *gone = NULL, *sorted = NULL;
	size_t n_gone = 0, done = 0, count = grants_count(a->grants);

	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			return 0;
		memcpy(sorted, ids, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), cmp_u64);
	}
	gone = calloc(count + 1, sizeof(*gone));
	if (!gone)
		return 0;
	/* Ids first: ending one may drop old history and move the rest. */
	for (size_t i = 0; i < count; i++) {
		const struct jit_request *r = grants_at(a->grants, i);

		if (r->fleet_id && live(r) &&
		    !(n && bsearch(&r->fleet_id, sorted, n, sizeof(*sorted),
				   cmp_u64)))
			gone[n_gone++] = r->id;
	}
	for (size_t i = 0; i < n_gone; i++) {
		struct jit_request *r = grants_get(a->grants, gone[i]);
		struct jit_refusal why;

		if (live(r) &&
		    access_fleet_end(a, &fleet_agent, r,
				     JIT_REASON_FLEET_ABSENT, 0, &why) >= 0)
			done++;
	}
	return done;
}
