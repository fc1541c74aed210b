/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where grants hold: on every interface, or, for a policy with
 * `interfaces:`, only on the inbound interfaces it names. Grants of the
 * policies for all interfaces go to the grant sets keyed
 * `saddr . proto . dport`, as before; grants of interface-scoped
 * policies to sets keyed `iifname . saddr . proto . dport`, so the common
 * path keeps its sets and its cost.
 *
 * Interface patterns may overlap ("eth*" and "eth1") and the kernel
 * refuses overlapping intervals, so the names are split into zones (the
 * names exactly the same patterns match, ruleset_iface_zones). Each zone
 * has a cover of its own (cover.c), and a record goes into the cover of
 * every zone one of its policy's patterns matches: elements of different
 * zones never overlap, and within a zone the cover keeps them disjoint.
 * A zone of one name keeps hosts in the hash sets; a zone of name ranges
 * ("eth*") puts everything in the interval sets, hosts as one-address
 * boxes.
 *
 * The scope of a record is its policy's as the policy is now, not
 * journalled: after a policy changes its interfaces, scopes_rescope
 * stages the records on the new zones. The same staging as cover.h:
 * add/del, delta, then commit or rollback.
 */
#ifndef JIT_SCOPE_H
#define JIT_SCOPE_H

#include "cover.h"
#include "grant.h"
#include "policy.h"
#include "ruleset.h"

struct jit_scopes;

struct jit_scopes *scopes_new(void);
struct jit_scopes *scopes_free(struct jit_scopes *s);

/*
 * Take the zones of the policies ps and stage every live record of g
 * (NULL: none, e.g. at start before any is added) on the zones and sets
 * its policy now asks for. Zones that are gone have their elements
 * deleted by the next delta. Returns 0 or -ENOMEM (what was staged stays
 * staged).
 */
int scopes_rescope(struct jit_scopes *s, const struct jit_policy_set *ps,
		   struct jit_grants *g);

/*
 * Stage record id of policy p (NULL: a policy that is gone, held on every
 * interface as before) with key k until end_ms. Returns 0, -EEXIST,
 * -EINVAL (a malformed key, or a policy whose patterns the zones lack:
 * scopes_rescope was not called with its set), -ENOMEM. On error the
 * caller rolls back.
 */
/* Room for n grants about to be added: a hint. */
int scopes_reserve(struct jit_scopes *s, size_t n);
int scopes_add(struct jit_scopes *s, const struct jit_policy *p, uint64_t id,
	       const struct jit_grant_key *k, uint64_t end_ms);
/* Stage the end of record id wherever it is. 0, -ENOENT, -EINVAL, -ENOMEM. */
int scopes_del(struct jit_scopes *s, uint64_t id,
	       const struct jit_grant_key *k);
/* As cover_delta, over every zone; elements of a zone carry its names. */
int scopes_delta(struct jit_scopes *s, struct jit_elem **del, size_t *n_del,
		 struct jit_elem **add, size_t *n_add);
void scopes_commit(struct jit_scopes *s);
void scopes_rollback(struct jit_scopes *s);
/* Every element applied, for a full resync of the sets. */
int scopes_elements(const struct jit_scopes *s, struct jit_elem **ret,
		    size_t *n);
/* Elements applied, in all sets. */
size_t scopes_count(const struct jit_scopes *s);

#endif
