/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The desired ruleset compiled from the policies in force, and the table in
 * the kernel that carries it. Only this module and nft.c know nftables.
 */
#ifndef JIT_RULESET_H
#define JIT_RULESET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "grant.h"
#include "policy.h"

#define JIT_TABLE_DEFAULT  "jit_enforcer"
#define JIT_TABLE_NAME_MAX 64

/**
 * struct jit_protected - a protected protocol and port range
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @lo: first port
 * @hi: last port
 */
struct jit_protected {
	uint8_t proto;
	uint16_t lo;
	uint16_t hi;
};

/**
 * struct jit_deny - where and how a protected range is denied
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @lo: first port
 * @hi: last port
 * @iface: inbound interface pattern; "" for all, "eth*" for a prefix
 * @action: drop or reject
 */
struct jit_deny {
	uint8_t proto;
	uint16_t lo;
	uint16_t hi;
	char iface[IFNAMSIZ];
	enum jit_action action;
};

/**
 * struct jit_ruleset - desired state, without grants
 * @protected: disjoint, sorted ranges any policy protects
 * @n_protected: entries in @protected
 * @deny: disjoint deny entries (no two overlap in port and interface)
 * @n_deny: entries in @deny
 * @log_group: NFLOG group denied packets are logged to
 * @log_rate: at most this many per second (0: no logging)
 */
struct jit_ruleset {
	struct jit_protected *protected;
	size_t n_protected;
	struct jit_deny *deny;
	size_t n_deny;
	uint16_t log_group;
	uint32_t log_rate;
};

/* Prefixes of the NFLOG messages of denied packets. */
#define JIT_LOG_PREFIX_DROP   "jit-drop"
#define JIT_LOG_PREFIX_REJECT "jit-reject"

/*
 * Compile the policies into disjoint, merged ranges. Where policies overlap,
 * a policy for all interfaces subsumes interface ones, and drop wins over
 * reject. Returns 0 or -ENOMEM.
 */
int ruleset_compile(const struct jit_policy_set *s, struct jit_ruleset **ret);
struct jit_ruleset *ruleset_free(struct jit_ruleset *r);
/* Canonical text for golden tests and `jitctl status`. */
void ruleset_print(const struct jit_ruleset *r, FILE *out);
/* True if proto/port is protected on some interface. */
bool ruleset_protects(const struct jit_ruleset *r, uint8_t proto,
		      uint16_t port);

/**
 * struct jit_session - a connected local TCP socket on a protected port
 * @family: AF_INET or AF_INET6
 * @remote: peer address (4 or 16 bytes used)
 * @local: local address
 * @rport: peer port, host order
 * @lport: local port, host order
 *
 * A session older than our conntrack state is picked up mid-stream as
 * "ct state new"; only the sessions listed at the last commit (and still
 * backed by a local socket) pass as such. See "Sessions older than the agent"
 * in README.md.
 */
struct jit_session {
	uint8_t family;
	uint8_t remote[16];
	uint8_t local[16];
	uint16_t rport;
	uint16_t lport;
};

/* How the kernel protects the table from other processes. */
enum jit_table_mode {
	JIT_TABLE_PLAIN,	 /* anyone with CAP_NET_ADMIN may change it */
	JIT_TABLE_OWNER_PERSIST, /* only our socket may change it; survives us
				  */
};

const char *table_mode_name(enum jit_table_mode m);

struct jit_table;

/*
 * Open the netlink channel for table name. allow_owner false forces a plain
 * table (--no-table-owner). Nothing is sent to the kernel yet.
 */
int table_open(const char *name, bool allow_owner, struct jit_table **ret);
struct jit_table *table_close(struct jit_table *t);
enum jit_table_mode table_mode(const struct jit_table *t);
const char *table_name(const struct jit_table *t);

/*
 * Bring the kernel table to the ruleset in one transaction, keeping the
 * grant sets and their elements, and replacing the known sessions. The first
 * commit probes owner+persist (falls back to a plain table) and replaces a
 * table whose layout differs. Returns 0, or 1 when the table was replaced whole
 * (its grant elements are gone and must be added again). On failure the kernel
 * keeps what it had; err says why.
 */
int table_commit(struct jit_table *t, const struct jit_ruleset *r,
		 const struct jit_session *sessions, size_t n_sessions,
		 char *err, size_t errlen);
/*
 * Like table_commit, and in the same transaction replace the content of the
 * grant sets by exactly these grants (timeouts in ms, at least one second):
 * for a start or a repair, where the agent's records are the truth.
 */
int table_commit_all(struct jit_table *t, const struct jit_ruleset *r,
		     const struct jit_session *sessions, size_t n_sessions,
		     const struct jit_grant_key *grants,
		     const uint64_t *timeout_ms, size_t n_grants, char *err,
		     size_t errlen);

/*
 * Change grants in one transaction: remove the elements of del (those that
 * already expired are no error), then add those of add, each with its own
 * timeout in milliseconds (raised to at least one second: zero would mean
 * "never"). A host with up to 16 ports goes to the hash sets, one element
 * per protocol and port; prefixes and wider ranges go to the interval sets.
 */
int table_grants_update(struct jit_table *t, const struct jit_grant_key *del,
			size_t n_del, const struct jit_grant_key *add,
			const uint64_t *timeout_ms, size_t n_add, char *err,
			size_t errlen);

/**
 * struct jit_kernel_grant - a grant element found in the kernel
 * @key: what it opens (one protocol; a host and one port for hash-set
 *       elements)
 * @expires_ms: time left before the kernel drops it
 */
struct jit_kernel_grant {
	struct jit_grant_key key;
	uint64_t expires_ms;
};

/*
 * Read the grant elements of our table from the kernel. Elements that are
 * not whole prefixes (nothing the agent creates) are skipped. Returns the
 * number found (*ret is malloc'd, may be NULL when 0), -ENOENT when there is
 * no table, or -errno.
 */
int table_dump_grants(struct jit_table *t, struct jit_kernel_grant **ret);

/**
 * struct jit_foreign_chain - another table's base chain on the input hook
 * @family: NFPROTO_IPV4, NFPROTO_IPV6 or NFPROTO_INET
 * @table: its table
 * @chain: its name
 * @priority: hook priority (ours is table_input_priority())
 * @policy_drop: the chain's policy is drop
 */
struct jit_foreign_chain {
	uint8_t family;
	char table[64];
	char chain[64];
	int32_t priority;
	bool policy_drop;
};

/*
 * Base chains of other tables on the input hook (firewalld, docker,
 * iptables-nft...): their drops still apply to protected ports; their
 * accepts cannot open one. Returns the count (*ret malloc'd) or -errno.
 */
int table_foreign_input_chains(struct jit_table *t,
			       struct jit_foreign_chain **ret);
int table_input_priority(void);

/* Delete the table (lifts every deny). -ENOENT if there is none. */
int table_remove(struct jit_table *t, char *err, size_t errlen);

#endif
