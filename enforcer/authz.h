/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may do what: the peer's uid/gid (SO_PEERCRED), resolved to a user
 * name and group names, checked against a policy's requesters and
 * approvers; and whether a request fits the policy's limits.
 */
#ifndef JIT_AUTHZ_H
#define JIT_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grant.h"
#include "policy.h"

#define JIT_IDENTITY_GROUPS_MAX 256

/**
 * struct jit_identity - a local user as the policies name them
 * @uid: user id
 * @name: user name, or the uid in decimal if it has no name
 * @groups: names of the primary and supplementary groups
 * @n_groups: entries in @groups
 * @channel: how the user's request came in when not over the control
 *           socket ("spa"), for the audit trail; NULL for the socket
 */
struct jit_identity {
	uint32_t uid;
	char name[JIT_USER_MAX];
	char (*groups)[JIT_USER_MAX];
	size_t n_groups;
	const char *channel;
};

/*
 * Resolve uid (primary group gid) through NSS. Returns 0 or -errno. An
 * identity is reused for a second, or until /etc/passwd or /etc/group
 * changes.
 */
int identity_lookup(uint32_t uid, uint32_t gid, struct jit_identity *ret);
/* The same for a user name (with its primary group); -ENOENT if none. */
int identity_lookup_name(const char *name, struct jit_identity *ret);
void identity_release(struct jit_identity *id);

/* True if id is root or named by p (by user or by one of its groups). */
bool authz_match(const struct jit_principals *p, const struct jit_identity *id);

/*
 * A user's share of the registry under p: at most JIT_PENDING_PER_USER
 * requests waiting (manual policies) and JIT_GRANTS_PER_USER live grants,
 * unless the new one replaces one of them. Root is exempt. 0, or -ENOSPC
 * ("too-many-pending", "too-many-grants") with a message.
 */
int authz_check_share(const struct jit_policy *p, const struct jit_identity *id,
		      size_t pending, size_t live, bool replaces,
		      const char **code, char *msg, size_t n);
/* Only root may make the agent reload its policies. */
bool authz_may_reload(const struct jit_identity *id);

/*
 * The policy a request of id for tmpl's key and duration goes to when it
 * names none (single packet authorization): the first of set that protects
 * the ports and lets id have them; else the first that protects them (its
 * refusal then says why); NULL when no policy protects them. With iif (the
 * interface the packet came in on; NULL or "" when not known), only
 * policies that hold on it are considered.
 */
const struct jit_policy *authz_pick_policy(const struct jit_policy_set *set,
					   const struct jit_identity *id,
					   const struct jit_request *tmpl,
					   const char *iif);

/*
 * Check a parsed request against its policy and the requester. Fills in the
 * protocols (from the port entry when the request named none) and the
 * duration (the entry's maximum when none was asked). On refusal returns
 * -EPERM (not a requester) or -EINVAL (limits) with a stable code and a
 * message a person understands.
 */
int authz_check_request(const struct jit_policy *p,
			const struct jit_identity *id, struct jit_request *r,
			const char **code, char *msg, size_t n);
/*
 * The policy's limits alone (ports, sources, duration), whoever asks: for
 * a request that waited for approval while the policy changed.
 */
int authz_check_limits(const struct jit_policy *p, struct jit_request *r,
		       const char **code, char *msg, size_t n);
/*
 * Is id beyond the per-user limits (caps on waiting requests and live
 * grants, refusals audited one by one)? Root only: it can change the
 * firewall anyway.
 */
bool authz_unlimited(const struct jit_identity *id);
/* May id approve or deny r? Approvers of p, never on their own request
 * (root excepted). 0 or -EPERM with a code and message. */
int authz_may_decide(const struct jit_policy *p, const struct jit_identity *id,
		     const struct jit_request *r, const char **code, char *msg,
		     size_t n);
/*
 * May id see r: list it, and follow its decisions (refusals included) as
 * events? Root, its requester, or an approver of p, its policy (p may be
 * NULL: the policy is gone or was never there). The one visibility rule:
 * listings and event streams both ask it.
 */
bool authz_may_see(const struct jit_policy *p, const struct jit_identity *id,
		   const struct jit_request *r);
/*
 * May id revoke r (and end its connections)? Whoever may see it (root, the
 * requester, an approver of p; p may be NULL: the policy is gone). 0 or
 * -EPERM.
 */
int authz_may_revoke(const struct jit_policy *p, const struct jit_identity *id,
		     const struct jit_request *r, const char **code, char *msg,
		     size_t n);
/*
 * A fleet grant for r (key and policy filled in) from requested_by,
 * approved by approved_by, ending at end_ms: the policy must take fleet
 * grants from both (and, under manual approval, from two people), the
 * time left must be within the fleet maximum, and the policy's limits
 * hold as for any request (r->duration_s is set to the time left).
 * 0, or -EPERM/-EINVAL with a code and message.
 */
int authz_check_fleet(const struct jit_policy *p, const char *requested_by,
		      const char *approved_by, uint64_t end_ms, uint64_t now_ms,
		      struct jit_request *r, const char **code, char *msg,
		      size_t n);
/* May newer end older as "newer request initiated"? Only the same user's
 * (for fleet grants: only an earlier state of the same fleet key). */
bool authz_may_replace(const struct jit_request *newer,
		       const struct jit_request *older);

#endif
