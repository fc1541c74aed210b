/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ending the connections of a revoked grant (revoke --terminate), and only
 * those: a connection that another live record also covers goes on under
 * that record, and a session older than the agent was let in by no grant
 * at all. Both are spared, and the reply says which and why.
 */
#ifndef JIT_TERMINATE_H
#define JIT_TERMINATE_H

#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"
#include "grant.h"
#include "table.h"

/* Spared connections named in a reply; the rest are counted. */
#define JIT_SPARED_LIST_MAX 100

enum jit_spare_reason {
	JIT_SPARED_COVERED, /* another live record covers it */
	JIT_SPARED_ELDER,   /* connected before the agent started */
};

/**
 * struct jit_spared - a connection left up, and why
 * @flow: the connection
 * @why: the reason
 * @record: the live record that covers it (JIT_SPARED_COVERED)
 */
struct jit_spared {
	struct jit_flow flow;
	enum jit_spare_reason why;
	uint64_t record;
};

/**
 * struct jit_terminate - what a terminate did
 * @sockets: local TCP sockets destroyed
 * @flows: conntrack entries deleted
 * @n_spared: connections spared (TCP sessions and UDP flows)
 * @spared: the first JIT_SPARED_LIST_MAX of them
 * @n_listed: how many @spared holds
 */
struct jit_terminate {
	unsigned sockets;
	unsigned flows;
	size_t n_spared;
	struct jit_spared *spared;
	size_t n_listed, cap;
};

/**
 * struct jit_terminate_scope - what may not be ended
 * @revoked: the record whose connections end (already finished)
 * @others: the live records that overlap it (terminate_others())
 * @elder: sessions connected before the agent started
 */
struct jit_terminate_scope {
	const struct jit_request *revoked;
	const struct jit_request **others;
	size_t n_others;
	const struct jit_session *elder;
	size_t n_elder;
};

/*
 * The live records other than revoked whose source, protocols and ports
 * overlap it (revoked NULL: every live record), into *ret (the caller frees
 * the array). Returns the count or -ENOMEM.
 */
int terminate_others(struct jit_grants *g, const struct jit_request *revoked,
		     uint64_t now_ms, const struct jit_request ***ret);

/*
 * Whether f must stay up: a session older than the agent, or a connection
 * another live record covers. Fills *ret when it must.
 */
bool terminate_spares(const struct jit_terminate_scope *sc,
		      const struct jit_flow *f, struct jit_spared *ret);

/*
 * End the revoked record's connections that nothing else covers: destroy
 * their local TCP sockets and delete their conntrack entries. Returns 0 or
 * the first -errno (what could be done is done, and counted in *res).
 */
int terminate_connections(const struct jit_terminate_scope *sc,
			  struct jit_terminate *res);
void terminate_release(struct jit_terminate *res);

#endif
