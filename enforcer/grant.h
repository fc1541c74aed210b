/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Access requests and the grants they become, in the vocabulary of the
 * cloud JIT features: a request is pending, denied, initiated (the grant is
 * live), revoked or expired. This module is the bookkeeping only; the
 * kernel side is in cover.c and table.c, the decisions in access.c and
 * authz.c.
 */
#ifndef JIT_GRANT_H
#define JIT_GRANT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "policy.h"

#define JIT_USER_MAX   64
#define JIT_REASON_MAX 256
#define JIT_STATUS_MAX 64
/*
 * A user name as a record keeps it (requester, who decided): Linux names
 * have at most 32 bytes; a longer one is kept cut (permissions never come
 * from this copy, always from the peer's uid). 100,000 records make every
 * byte here count: 100 KB.
 */
#define JIT_RECORD_USER_MAX 33
/* Finished requests kept for `jitctl requests --all`. */
#define JIT_HISTORY_MAX 1000
/*
 * Caps per requesting user. Root is exempt (it can change the firewall
 * anyway); JIT_REQUESTS_MAX still bounds the registry.
 */
#define JIT_PENDING_PER_USER 16
#define JIT_GRANTS_PER_USER  256
/* Every request in memory, live or finished. */
#define JIT_REQUESTS_MAX (1u << 20)

enum jit_status {
	JIT_PENDING,
	JIT_DENIED,
	JIT_INITIATED,
	JIT_REVOKED,
	JIT_EXPIRED,
};

/* Status reasons, as the cloud JIT features spell them. */
#define JIT_REASON_EXPIRED	 "expired"
#define JIT_REASON_USER		 "user requested"
#define JIT_REASON_NEWER	 "newer request initiated"
#define JIT_REASON_POLICY	 "policy changed"
#define JIT_REASON_ABSENT	 "not in force at restart"
#define JIT_REASON_FLEET_REVOKED "fleet grant deleted"
#define JIT_REASON_FLEET_ABSENT	 "fleet grant no longer in the store"
#define JIT_REASON_FLEET_CHANGED "fleet grant changed"

/**
 * struct jit_grant_key - what a grant opens in the kernel
 * @source: source prefix (a host is /32 or /128)
 * @protos: JIT_PROTO_TCP and/or JIT_PROTO_UDP
 * @port_lo: first port
 * @port_hi: last port
 */
struct jit_grant_key {
	struct jit_prefix source;
	unsigned protos;
	uint16_t port_lo;
	uint16_t port_hi;
};

/**
 * struct jit_request - one access request and what became of it
 * @id: unique, increasing
 * @policy: policy name
 * @uid: requesting user's uid
 * @user: requesting user's name
 * @key: source, protocols and ports asked for
 * @duration_s: length asked for
 * @reason: justification given by the requester, at most
 *          JIT_REASON_MAX - 1 bytes (owned by the record; NULL for none:
 *          most are short, and a registry may hold 100,000 of them)
 * @requested_ms: when it was made (unix ms)
 * @start_ms: when the grant started (0 until initiated)
 * @end_ms: when it ends or ended (0 until initiated)
 * @status: where it stands
 * @status_reason: why it is in that state ("expired", "user requested"...)
 * @decided_by: who approved, denied or revoked it
 * @replaced_by: id of the request that replaced this grant, or 0
 * @fleet_id: for a fleet grant, the fleet request id (its key is
 *            host.<host>.<fleet_id as 16 hex digits>); 0 for local ones
 * @fleet_rev: the key's revision this record is at
 * @fleet_hash: a hash of the grant value's content (a higher revision with
 *              the same content changes nothing but @fleet_rev)
 * @heap_idx: the registry's own (position among live grants by end)
 */
struct jit_request {
	uint64_t id;
	char *reason;
	uint64_t requested_ms;
	uint64_t start_ms;
	uint64_t end_ms;
	uint64_t replaced_by;
	uint64_t fleet_id;
	uint64_t fleet_rev;
	uint64_t fleet_hash;
	uint32_t uid;
	uint32_t duration_s;
	enum jit_status status;
	uint32_t heap_idx; /* UINT32_MAX: not in the heap */
	struct jit_grant_key key;
	/* The texts last, packed: 100,000 of these are the most memory. */
	char policy[JIT_POLICY_NAME_MAX + 1];
	char user[JIT_RECORD_USER_MAX];
	char decided_by[JIT_RECORD_USER_MAX];
	char status_reason[JIT_STATUS_MAX];
};

const char *status_name(enum jit_status s);

/* Free what a request owns (its reason); the struct is the caller's. */
void request_release(struct jit_request *r);
/* The reason, "" when there is none. */
static inline const char *request_reason(const struct jit_request *r)
{
	return r->reason ? r->reason : "";
}
/* "tcp/22", "tcp,udp/5985-5986"; "22" while no protocol is named. */
char *grant_key_ports(const struct jit_grant_key *k, char *buf, size_t n);
bool grant_key_equal(const struct jit_grant_key *a,
		     const struct jit_grant_key *b);
/* True if the grant goes to the prefix (interval) sets. */
bool grant_key_is_prefix(const struct jit_grant_key *k);

struct jit_grants;

struct jit_grants *grants_new(void);
struct jit_grants *grants_free(struct jit_grants *g);

/*
 * Add a pending request copied from tmpl (id, status and times are set
 * here). Returns 0 or -ENOSPC when the registry is full.
 */
int grants_add(struct jit_grants *g, const struct jit_request *tmpl,
	       uint64_t now_ms, struct jit_request **ret);
/*
 * Put back a request read from the state file, as it was (id, status,
 * times). Ids must come in increasing order. Returns 0, -EINVAL for an id
 * not above the last one, or -ENOMEM/-ENOSPC.
 */
int grants_restore(struct jit_grants *g, const struct jit_request *r);
/* Room for n records (a load about to restore that many): a hint. */
int grants_reserve(struct jit_grants *g, size_t n);
/* The id the next request will get; never lowered. */
uint64_t grants_next_id(const struct jit_grants *g);
void grants_set_next_id(struct jit_grants *g, uint64_t id);
struct jit_request *grants_get(struct jit_grants *g, uint64_t id);
size_t grants_count(const struct jit_grants *g);
/* Bytes the registry holds (records, reasons aside, and its indexes). */
size_t grants_memory(const struct jit_grants *g);
/* i-th request, oldest first. */
struct jit_request *grants_at(struct jit_grants *g, size_t i);

/*
 * Put back a record read from the journal: replaces the record with its
 * id, or adds it. Returns 0 or -ENOMEM/-ENOSPC/-EINVAL.
 */
int grants_upsert(struct jit_grants *g, const struct jit_request *r);
typedef bool (*grants_pick_fn)(const struct jit_request *candidate,
			       const void *ctx);
/*
 * The first live grant with exactly this key that pick accepts, or NULL:
 * the caller says which may be replaced (authz_may_replace), the registry
 * only finds them through its index.
 */
struct jit_request *grants_find_same(struct jit_grants *g,
				     const struct jit_grant_key *k,
				     grants_pick_fn pick, const void *ctx);
/* Requests in status st, for pending and initiated only (kept counted). */
size_t grants_count_status(const struct jit_grants *g, enum jit_status st);
/* The live grant that ends first if its end is at or before now, or NULL. */
struct jit_request *grants_next_due(struct jit_grants *g, uint64_t now_ms);
/* Requests of uid in status st. */
size_t grants_count_user(const struct jit_grants *g, uint32_t uid,
			 enum jit_status st);

/* pending -> initiated, from now for duration_s. */
void grants_initiate(struct jit_grants *g, struct jit_request *r,
		     uint64_t now_ms);
/* pending -> initiated with given times (a grant adopted from the kernel). */
void grants_initiate_until(struct jit_grants *g, struct jit_request *r,
			   uint64_t start_ms, uint64_t end_ms);
/*
 * -> denied, revoked or expired, with a reason and who did it (may be
 * NULL). A live grant revoked before its end gets end_ms = now. Old finished
 * requests are dropped once there are twice JIT_HISTORY_MAX, down to
 * JIT_HISTORY_MAX (never live ones, never r); r stays valid until the next
 * call that adds or finishes a request.
 */
void grants_finish(struct jit_grants *g, struct jit_request *r,
		   enum jit_status st, const char *reason, const char *by);
/*
 * r's state once finished as st, reason and by (NULL: unchanged), without
 * changing r: what a decision journals before it takes effect. A live
 * grant ended early (not by expiry) ends at now_ms.
 */
struct jit_request request_finished(const struct jit_request *r,
				    enum jit_status st, const char *reason,
				    const char *by, uint64_t now_ms);
/*
 * Give r the state of next (all but its reason, which r keeps): how a
 * decision that was journalled takes effect. Finishing r may drop old
 * finished requests, as grants_finish does.
 */
void grants_apply(struct jit_grants *g, struct jit_request *r,
		  const struct jit_request *next);
/*
 * Forget r, the newest request, as if it was never made (its creation
 * could not be recorded). -EINVAL if r is not the newest.
 */
int grants_discard(struct jit_grants *g, struct jit_request *r);
/*
 * Forget r wherever it is, as if it was never made (the journal dropped
 * the line that made it). r is freed.
 */
void grants_remove(struct jit_grants *g, struct jit_request *r);
/* Earliest end of a live grant, or 0 if none. */
uint64_t grants_next_end(struct jit_grants *g);

#endif
