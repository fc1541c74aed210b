/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Posture: listening sockets on management and remote-admin ports, and
 * whether a policy protects each one. An unprotected one is a finding.
 */
#ifndef JIT_POSTURE_H
#define JIT_POSTURE_H

#include <jansson.h>
#include <stdint.h>

#include "policy.h"
#include "ruleset.h"

/**
 * struct jit_listener - one listening socket (TCP) or bound socket (UDP)
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @port: local port
 * @family: AF_INET or AF_INET6
 * @addr: local address (all zero for a wildcard bind)
 */
struct jit_listener {
	uint8_t proto;
	uint16_t port;
	uint8_t family;
	uint8_t addr[16];
};

/* Service name of a well-known management port, or NULL. */
const char *posture_service(uint8_t proto, uint16_t port, const uint16_t *extra,
			    size_t n_extra);

/*
 * Findings for these listeners (pure; for tests). One entry per protocol
 * and port: service, addresses, protected (and by which policies, on which
 * interfaces), severity, recommendation and the policy snippet that would
 * protect it. extra are more ports to treat as management ports.
 */
json_t *posture_evaluate(const struct jit_listener *l, size_t n,
			 const struct jit_ruleset *rs,
			 const struct jit_policy_set *ps, const uint16_t *extra,
			 size_t n_extra);

/* List this host's listeners with sock_diag and evaluate them. */
int posture_scan(const struct jit_ruleset *rs, const struct jit_policy_set *ps,
		 const uint16_t *extra, size_t n_extra, json_t **ret);

#endif
