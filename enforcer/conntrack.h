/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Ending tracked connections: delete conntrack entries (ctnetlink). */
#ifndef JIT_CONNTRACK_H
#define JIT_CONNTRACK_H

#include <stdint.h>

#include "addr.h"

/*
 * Delete the entries whose original direction comes from inside src, goes
 * to a destination port in [lo, hi], with a protocol in protos (JIT_PROTO_*
 * bits). Returns the number deleted or -errno.
 */
int conntrack_delete(const struct jit_prefix *src, unsigned protos, uint16_t lo,
		     uint16_t hi);

#endif
