/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet grants as the fleet's KV bucket holds them (jit_grants, key
 * host.<host>.<id>, a JSON value), decoded and checked without NATS: what
 * the fleet adapter (daemon-fleet.c) hands to the decision core.
 */
#ifndef JIT_FLEET_H
#define JIT_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "grant.h"
#include "policy.h"

#define JIT_FLEET_VALUE_MAX 4096
/* As records keep names (JIT_RECORD_USER_MAX - 1). */
#define JIT_FLEET_NAME_MAX 32
#define JIT_FLEET_KEY_MAX  (5 + 63 + 1 + 16)

/* What a KV entry says happened to its key. */
enum jit_fleet_op {
	JIT_FLEET_PUT,
	JIT_FLEET_DEL,
	JIT_FLEET_PURGE,
};

/**
 * struct jit_fleet_grant - one decoded grant value
 * @id: the fleet request id (16 hex digits in the key and the value)
 * @policy: the policy it names on this host
 * @protos: JIT_PROTO_TCP or JIT_PROTO_UDP
 * @port: the port
 * @source: the source prefix
 * @end_ms: absolute end
 * @approved_at_ms: when it was approved (0: not given)
 * @reason: the requester's reason ("" if none)
 * @requested_by: the requester's fleet identity
 * @approved_by: the approver's fleet identity
 * @hash: of the fields above: equal content, equal hash
 */
struct jit_fleet_grant {
	uint64_t id;
	char policy[JIT_POLICY_NAME_MAX + 1];
	unsigned protos;
	uint16_t port;
	struct jit_prefix source;
	uint64_t end_ms;
	uint64_t approved_at_ms;
	char reason[JIT_REASON_MAX];
	char requested_by[JIT_FLEET_NAME_MAX + 1];
	char approved_by[JIT_FLEET_NAME_MAX + 1];
	uint64_t hash;
};

/* "host.<host>.<16 hex>" into the id; -EINVAL for another host's key or
 * anything else. */
int fleet_key_parse(const char *host, const char *key, uint64_t *id);
/* The key of id on host, into buf (JIT_FLEET_KEY_MAX + 1 bytes). */
char *fleet_key_format(const char *host, uint64_t id, char *buf, size_t n);

/*
 * Decode the value of key (already checked with fleet_key_parse: id).
 * -EINVAL with why in err for anything not as the contract says (the
 * value's id or host not the key's, unknown protocol, bad source...).
 */
int fleet_grant_parse(const char *host, uint64_t id, const void *data,
		      size_t len, struct jit_fleet_grant *g, char *err,
		      size_t errlen);

/**
 * struct jit_fleet_entry - one change of a key of this host's range
 * @op: put, delete or purge
 * @key: the key (without the bucket's prefix)
 * @rev: its revision (the stream sequence)
 * @data: the value of a put (not NUL-terminated), else NULL
 * @len: bytes in @data
 * @redecide: the policies changed since this revision was refused:
 *            decide it again (the loop sets it, for one snapshot)
 */
struct jit_fleet_entry {
	enum jit_fleet_op op;
	char key[JIT_FLEET_KEY_MAX + 1];
	uint64_t rev;
	char *data;
	size_t len;
	bool redecide;
};

/* What became of an entry (fleet_apply). */
enum jit_fleet_result {
	JIT_FLEET_OLD,	   /* revision already seen: nothing done */
	JIT_FLEET_NONE,	   /* a delete of a key never seen */
	JIT_FLEET_BUMPED,  /* same content at a later revision */
	JIT_FLEET_GRANTED, /* opened (replacing an earlier state) */
	JIT_FLEET_REFUSED, /* the host's policy refused it (audited) */
	JIT_FLEET_REVOKED, /* deleted or purged: closed */
	JIT_FLEET_BAD,	   /* not a grant value; any earlier state closed */
	JIT_FLEET_FAILED,  /* the journal or kernel failed: try again */
};

const char *fleet_result_name(enum jit_fleet_result r);

struct jit_access;
struct jit_refusal;

/* The newest record made from fleet request id, or NULL. */
struct jit_request *fleet_find(struct jit_access *a, uint64_t id);
/*
 * Apply one entry of host's range to the decision core: dedupe by
 * revision and content, grant, replace, refuse or revoke. why says more
 * for REFUSED, BAD and FAILED.
 */
enum jit_fleet_result fleet_apply(struct jit_access *a, const char *host,
				  const struct jit_fleet_entry *e,
				  struct jit_refusal *why);
/*
 * After a snapshot of the range (ids: the fleet request ids it held,
 * deleted ones excluded): revoke every live fleet grant not among them.
 * Returns how many were revoked.
 */
size_t fleet_reconcile(struct jit_access *a, const uint64_t *ids, size_t n);

#endif
