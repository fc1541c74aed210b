/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The decision core: the request lifecycle (request, approve, deny, revoke,
 * expire, policy change, start) over typed inputs, with typed refusals and
 * no JSON. Every decision is journalled before the kernel changes; the
 * caller syncs the journal before it tells anyone (api.c and the daemon's
 * loop do). Records are one user's right each; what the kernel holds
 * follows from all live records together (cover.c), and reaches it through
 * a small interface that tests replace with a fake.
 */
#ifndef JIT_ACCESS_H
#define JIT_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "authz.h"
#include "cover.h"
#include "grant.h"
#include "journal.h"
#include "policy.h"
#include "scope.h"
#include "ratelimit.h"

/**
 * struct jit_kernel_ops - the grant sets, as the core needs them
 * @update: delete then add elements in one batch (a delete of an element
 *          already gone is no error); 0 or -errno with err filled in
 * @mark_unrecorded: remember in the kernel that record id ended although
 *                   the journal could not say so yet (until end_ms)
 * @dump: every element with its end; -ENOENT when there is no table
 * @dump_unrecorded: the ids so remembered
 * @resync: replace the sets' content whole with what the cover applied
 */
struct jit_kernel_ops {
	int (*update)(void *ctx, const struct jit_elem *del, size_t n_del,
		      const struct jit_elem *add, size_t n_add, uint64_t now_ms,
		      char *err, size_t errlen);
	int (*mark_unrecorded)(void *ctx, uint64_t id, uint64_t end_ms,
			       uint64_t now_ms, char *err, size_t errlen);
	int (*dump)(void *ctx, uint64_t now_ms, struct jit_elem **ret);
	int (*dump_unrecorded)(void *ctx, uint64_t **ret);
	int (*resync)(void *ctx);
};

/**
 * struct jit_access_event - one decision, for the audit trail
 * @event: "request", "approve", "deny", "revoke", "replace", "expire"
 * @by: who made it (the agent itself for expiry and policy changes)
 * @r: the record as it now is
 * @result: "granted", "pending", "denied", "revoked", "expired", "refused"
 * @error: a refusal's code, or NULL
 * @message: a refusal's message or why the agent decided, or NULL
 * @decision_reason: the approver's reason, or NULL
 * @replaced_by: the record that replaced r, or 0
 */
struct jit_access_event {
	const char *event;
	const struct jit_identity *by;
	const struct jit_request *r;
	const char *result;
	const char *error;
	const char *message;
	const char *decision_reason;
	uint64_t replaced_by;
};

/**
 * struct jit_access_hooks - what the core tells the rest of the agent
 * @audit: a decision or a refusal was made
 * @grant_started: r became live (detection)
 * @grant_ended: r stopped being live at at_ms (detection)
 * @journal_failed: the journal could not take a decision
 * @userdata: passed to each
 */
struct jit_access_hooks {
	void (*audit)(void *userdata, const struct jit_access_event *ev);
	void (*grant_started)(void *userdata, const struct jit_request *r,
			      uint64_t now_ms);
	void (*grant_ended)(void *userdata, const struct jit_request *r,
			    uint64_t at_ms);
	void (*journal_failed)(void *userdata, int err);
	void *userdata;
};

/**
 * struct jit_refusal - why a decision was not made
 * @code: stable, for scripts ("not-requester", "not-recorded"...)
 * @message: for a person
 */
struct jit_refusal {
	const char *code;
	char message[640];
};

struct jit_access_change;

/**
 * struct jit_access - the core's state
 * @grants: every record
 * @scopes: what the grant sets hold, on every interface or on the
 *          interfaces of a record's policy
 * @journal: where decisions go first
 * @policies: the policies in force (owned by the caller)
 * @kernel: the grant sets
 * @kernel_ctx: passed to @kernel
 * @hooks: audit, detection, journal trouble
 * @rate: decisions per user (root exempt), or NULL for no limit
 * @state_dir: named in messages about the journal
 * @dirty: something was journalled since the caller last synced
 * @changes: the decisions since the journal's last sync, to undo should
 *           the sync fail (the core's own)
 * @n_changes: see @changes
 * @cap_changes: see @changes
 * @seq: decisions noted so far
 * @undone: the decisions (record id, seq) a failed sync took back,
 *          until access_forget_undone
 * @n_undone: see @undone
 * @cap_undone: see @undone
 * @rollbacks: the journal's failed syncs seen so far
 */
struct jit_access {
	struct jit_grants *grants;
	struct jit_scopes *scopes;
	struct jit_journal *journal;
	const struct jit_policy_set *policies;
	const struct jit_kernel_ops *kernel;
	void *kernel_ctx;
	struct jit_access_hooks hooks;
	struct jit_ratelimit *rate;
	const char *state_dir;
	bool dirty;
	struct jit_access_change *changes;
	size_t n_changes, cap_changes;
	uint64_t seq;
	struct jit_access_undone {
		uint64_t id, seq;
		uint64_t upto; /* decisions after this seq are not undone */
		bool held; /* a removal: it holds, its line not yet durable */
	} * undone;
	size_t n_undone, cap_undone;
	uint64_t rollbacks;
};

/*
 * A new request from id (tmpl parsed from the client: policy, key,
 * duration, reason). Granted at once under an automatic policy, else
 * pending. Returns 0 with *ret the record, or -EPERM/-EINVAL/-ENOSPC/-EIO
 * with why filled in (nothing changed, no id used).
 */
int access_request(struct jit_access *a, const struct jit_identity *id,
		   const struct jit_request *tmpl, struct jit_request **ret,
		   struct jit_refusal *why);
/* Approve (or deny, with an optional reason) pending request rid. */
int access_decide(struct jit_access *a, const struct jit_identity *id,
		  uint64_t rid, bool approve, const char *reason,
		  struct jit_request **ret, struct jit_refusal *why);
/*
 * Revoke rid (live or pending). Returns 0, 1 when the kernel is right but
 * the journal could not take it yet (kept, retried, and marked in the
 * kernel meanwhile), or -errno with why.
 */
int access_revoke(struct jit_access *a, const struct jit_identity *id,
		  uint64_t rid, struct jit_request **ret,
		  struct jit_refusal *why);
/* End every live grant whose end has come: one kernel batch. */
void access_expire(struct jit_access *a, uint64_t now_ms);
/*
 * After a policy change: withdraw the requests and revoke the grants the
 * policies no longer allow. lookup gives a user's identity (0, or < 0 when
 * unknown: such a user keeps what they have).
 */
void access_recheck(struct jit_access *a,
		    int (*lookup)(uint32_t uid, struct jit_identity *ret));
/*
 * At start, with the journal read into a->grants: end what ended while the
 * agent was down and (unless trust_journal, after a clean exit) what the
 * kernel marked as ended or no longer holds; fill a->cover with the rest
 * and mark it applied (the caller's first commit writes it whole). Only
 * the records of check (the decisions after the journal's last sync
 * point) are looked for in the kernel; check NULL: every live record.
 */
int access_start(struct jit_access *a, bool trust_journal,
		 const uint64_t *check, size_t n_check, uint64_t now_ms);
/*
 * A fleet grant: tmpl holds the policy, key, reason and fleet_id/rev/hash;
 * id is the approver (channel "fleet"), requested_by the requester. Checked
 * against the host's own policy (authz_check_fleet) and granted until
 * end_ms. A refusal is journalled too, as a denied record with the key's
 * revision (*ret; NULL when even that could not be recorded), and audited.
 * Returns 0 with *ret, or -errno with why.
 */
int access_fleet_grant(struct jit_access *a, const struct jit_identity *id,
		       const struct jit_request *tmpl, const char *requested_by,
		       uint64_t end_ms, struct jit_request **ret,
		       struct jit_refusal *why);
/*
 * End fleet record r (its key was deleted, purged, changed or is gone
 * from the store) at the key's revision rev (0: unchanged). A record no
 * longer live only gets the revision. 0, 1 (kernel right, journal not
 * yet) or -errno with why.
 */
int access_fleet_end(struct jit_access *a, const struct jit_identity *id,
		     struct jit_request *r, const char *reason, uint64_t rev,
		     struct jit_refusal *why);
/*
 * End fleet record old, replaced by newer (the grant of a later revision
 * of its key, just made): undone with newer if the sync fails, so that the
 * old grant is live again rather than neither. 0 or -errno with why.
 */
int access_fleet_replace(struct jit_access *a, const struct jit_identity *id,
			 struct jit_request *old,
			 const struct jit_request *newer,
			 struct jit_refusal *why);
/* A later revision of r's key with the same content: journal only that. */
int access_fleet_bump(struct jit_access *a, struct jit_request *r,
		      uint64_t rev);
/* Grant rid was answered but could not be made durable: take it back. */
void access_unrecorded_grant(struct jit_access *a, uint64_t rid, int err);
/*
 * Sync the journal: all or nothing. When the sync fails, every decision
 * since the last one is undone in memory and in the kernel (a request
 * made is forgotten, its id never given again; an approval or denial
 * leaves the request pending; a grant replaced is live again), while the
 * removals (revokes, expiries, policy changes) hold: their lines are
 * appended again to retry, and the kernel marks them meanwhile. The
 * decisions undone are kept for access_undone. 0 or -errno.
 */
int access_sync(struct jit_access *a);
/* The last decision made so far (to ask access_undone about it later). */
uint64_t access_decision_seq(const struct jit_access *a);
/*
 * Was the state of rid that decision seq left (or one before it) undone
 * by a failed sync since access_forget_undone?
 */
bool access_undone(const struct jit_access *a, uint64_t rid, uint64_t seq);
/*
 * Was removal seq of rid (a revoke) answered before a failed sync dropped
 * its line? It holds (in the kernel, marked there, its line retried), but
 * is not yet recorded.
 */
bool access_unrecorded(const struct jit_access *a, uint64_t rid, uint64_t seq);
void access_forget_undone(struct jit_access *a);
/* Free what the core keeps besides its registry, cover and journal. */
void access_release(struct jit_access *a);

#endif
