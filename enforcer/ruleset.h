/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The desired ruleset compiled from the policies in force. table.h puts it
 * in the kernel; only table.c and nft.c know nftables.
 */
#ifndef JIT_RULESET_H
#define JIT_RULESET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

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
 * struct jit_ifrange - inbound interface names from @lo to @hi, as the
 *                      kernel compares them (IFNAMSIZ bytes, zero padded)
 * @lo: first name
 * @hi: last name
 */
struct jit_ifrange {
	uint8_t lo[IFNAMSIZ];
	uint8_t hi[IFNAMSIZ];
};

/**
 * struct jit_iface_zone - the interface names that exactly the same
 *                         patterns of the policies match
 * @ranges: disjoint, sorted; one range with lo == hi for an exact name
 * @n_ranges: entries in @ranges
 * @patterns: those patterns ("eth1", "eth*"), sorted
 * @n_patterns: entries in @patterns
 *
 * Grants of an interface-scoped policy hold on the zones one of its
 * patterns matches: patterns may overlap ("eth*" and "eth1"), zones never
 * do, so their elements never overlap in the kernel (scope.h).
 */
struct jit_iface_zone {
	struct jit_ifrange *ranges;
	size_t n_ranges;
	char (*patterns)[IFNAMSIZ];
	size_t n_patterns;
};

/**
 * struct jit_ruleset - desired state, without grants
 * @protected: disjoint, sorted ranges any policy protects
 * @n_protected: entries in @protected
 * @deny: disjoint deny entries (no two overlap in port and interface)
 * @n_deny: entries in @deny
 * @log_group: NFLOG group denied packets are logged to
 * @log_rate: at most this many per second (0: no logging)
 * @spa_port: UDP port of SPA packets, copied to @spa_group and dropped
 *            (0: no SPA)
 * @spa_group: NFLOG group of SPA packets
 * @zones: interface zones of the interface-scoped policies' grants
 * @n_zones: entries in @zones
 */
struct jit_ruleset {
	struct jit_protected *protected;
	size_t n_protected;
	struct jit_deny *deny;
	size_t n_deny;
	uint16_t log_group;
	uint32_t log_rate;
	uint16_t spa_port;
	uint16_t spa_group;
	struct jit_iface_zone *zones;
	size_t n_zones;
};

/* Prefixes of the NFLOG messages of denied packets. */
#define JIT_LOG_PREFIX_DROP   "jit-drop"
#define JIT_LOG_PREFIX_REJECT "jit-reject"
#define JIT_LOG_PREFIX_SPA    "jit-spa"
/* SPA packets passed to the agent per second at most (the rest dropped). */
#define JIT_SPA_LOG_RATE 2000
/* What one source (IPv4 address, IPv6 /64) may use of it. */
#define JIT_SPA_SOURCE_RATE  10
#define JIT_SPA_SOURCE_BURST 20
/* Bytes of an SPA packet copied: headers and fwknop's largest packet. */
#define JIT_SPA_SNAPLEN 1600

/*
 * Compile the policies into disjoint, merged ranges. Where policies overlap,
 * a policy for all interfaces subsumes interface ones, and drop wins over
 * reject. Returns 0 or -ENOMEM.
 */
int ruleset_compile(const struct jit_policy_set *s, struct jit_ruleset **ret);
struct jit_ruleset *ruleset_free(struct jit_ruleset *r);
/* Canonical text for golden tests and `jitctl status`. */
void ruleset_print(const struct jit_ruleset *r, FILE *out);
/*
 * The interface zones of the policies' patterns, ordered by their first
 * name. Returns 0 or -ENOMEM; *ret is NULL when no policy names
 * interfaces.
 */
int ruleset_iface_zones(const struct jit_policy_set *s,
			struct jit_iface_zone **ret, size_t *n);
void ruleset_iface_zones_free(struct jit_iface_zone *z, size_t n);
/* One name (an exact pattern no other pattern matches). */
bool iface_zone_exact(const struct jit_iface_zone *z);
/* True if one of p's interfaces is a pattern of z. */
bool iface_zone_of_policy(const struct jit_iface_zone *z,
			  const struct jit_policy *p);
/*
 * True if grants under a and b hold on the same interfaces (the same
 * patterns, or both on every interface; NULL, a policy that is gone,
 * counts as every interface).
 */
bool iface_scope_equal(const struct jit_policy *a, const struct jit_policy *b);
/* True if proto/port is protected on some interface. */
bool ruleset_protects(const struct jit_ruleset *r, uint8_t proto,
		      uint16_t port);

#endif
