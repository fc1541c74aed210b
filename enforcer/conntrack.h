/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Ending tracked connections: delete conntrack entries (ctnetlink). */
#ifndef JIT_CONNTRACK_H
#define JIT_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/**
 * struct jit_flow - a connection to this host, as its first packet came
 * @family: AF_INET or AF_INET6
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @remote: the peer's address (4 or 16 bytes used)
 * @local: ours
 * @rport: the peer's port, host order
 * @lport: ours
 */
struct jit_flow {
	uint8_t family;
	uint8_t proto;
	uint8_t remote[16];
	uint8_t local[16];
	uint16_t rport;
	uint16_t lport;
};

/* True to leave the entry of f in place. */
typedef bool (*conntrack_keep_fn)(const struct jit_flow *f, void *userdata);

/*
 * Delete the entries whose original direction comes from inside src, goes
 * to a destination port in [lo, hi], with a protocol in protos (JIT_PROTO_*
 * bits), except those keep (if not NULL) says to leave. Returns the number
 * deleted or -errno.
 */
int conntrack_delete(const struct jit_prefix *src, unsigned protos, uint16_t lo,
		     uint16_t hi, conntrack_keep_fn keep, void *userdata);

#endif
