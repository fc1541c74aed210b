/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our table in the kernel (inet jit_enforcer by default): the ruleset and
 * the grants, committed in single netlink batches on the socket that owns
 * the table.
 */
#ifndef JIT_TABLE_H
#define JIT_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cover.h"
#include "grant.h"
#include "ruleset.h"

#define JIT_TABLE_DEFAULT  "jit_enforcer"
#define JIT_TABLE_NAME_MAX 64

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
 * in docs/security.md.
 */
struct jit_session {
	uint8_t family;
	uint8_t remote[16];
	uint8_t local[16];
	uint16_t rport;
	uint16_t lport;
};

/* Field by field: a padding byte is nobody's business. */
static inline bool session_equal(const struct jit_session *a,
				 const struct jit_session *b)
{
	return a->family == b->family && a->rport == b->rport &&
	       a->lport == b->lport &&
	       !memcmp(a->remote, b->remote, sizeof(a->remote)) &&
	       !memcmp(a->local, b->local, sizeof(a->local));
}

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
/*
 * Start reading the grant sets back in a thread (its own netlink socket),
 * for the first table_dump_elems or table_commit_all to use: at start it
 * runs while the journal loads. Returns 0 or -errno.
 */
int table_read_ahead(struct jit_table *t);
enum jit_table_mode table_mode(const struct jit_table *t);
const char *table_name(const struct jit_table *t);
/* Port id of the netlink socket every change to the table goes through. */
uint32_t table_portid(const struct jit_table *t);

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
 * Like table_commit, and in the same transaction bring the grant sets to
 * exactly these elements (timeouts: what is left of each end at now_ms, at
 * least one second): for a start or a repair, where the agent's records are
 * the truth. The sets are read first and only the difference is sent (an
 * element held with an end more than a second off is replaced); without a
 * view of them they are flushed and filled whole. table_last_sync says
 * which.
 */
int table_commit_all(struct jit_table *t, const struct jit_ruleset *r,
		     const struct jit_session *sessions, size_t n_sessions,
		     const struct jit_elem *elems, size_t n_elems,
		     uint64_t now_ms, char *err, size_t errlen);

/**
 * struct table_sync_stats - what the last table_commit_all did to the grant
 *                           sets
 * @kept: elements the kernel held as wanted, left alone
 * @added: elements added (missing, or held with another end)
 * @removed: elements removed (wanted by no record, or with another end)
 * @whole: the sets were flushed and filled whole (no view of the kernel's)
 * @trusted: not read: table_trust vouched for them and the generation held
 * @read_us: time spent reading the sets from the kernel (0: a start's
 *           reading was used)
 */
struct table_sync_stats {
	size_t kept, added, removed;
	bool whole;
	bool trusted;
	uint64_t read_us;
};

const struct table_sync_stats *table_last_sync(const struct jit_table *t);

/*
 * The grant sets hold exactly the elements the next table_commit_all is
 * given (less those that expired since) as long as the ruleset's
 * generation is genid: that commit then reads nothing back. Checked
 * against the kernel's generation first, and the commit itself is refused
 * by the kernel if the generation moved; either way the sets are read.
 */
void table_trust(struct jit_table *t, uint32_t genid);

/*
 * The generation the last successful commit of the ruleset left, if it
 * was checked against the one before (a difference sent to the sets as
 * read), else 0.
 */
uint32_t table_last_genid(const struct jit_table *t);

/* The ruleset's generation now. */
int table_genid(struct jit_table *t, uint32_t *ret);

/*
 * Change grant elements in one transaction: remove those of del (those that
 * already expired are no error), then add those of add, each with what is
 * left of its end at now_ms as timeout (raised to at least one second: zero
 * would mean "never").
 */
int table_elems_update(struct jit_table *t, const struct jit_elem *del,
		       size_t n_del, const struct jit_elem *add, size_t n_add,
		       uint64_t now_ms, char *err, size_t errlen);

/*
 * Read the grant elements of our table from the kernel, each with its end
 * (the clock when its message came + what the kernel has left; UINT64_MAX
 * for one without timeout). Elements of a shape the agent never writes are
 * skipped. Returns the number found (*ret is malloc'd), -ENOENT when there
 * is no table, or -errno. What was read is kept for a table_commit_all
 * that follows soon, until another change of the grant sets.
 */
int table_dump_elems(struct jit_table *t, uint64_t now_ms,
		     struct jit_elem **ret);

/* Take sessions that closed out of the sessions sets. */
int table_sessions_delete(struct jit_table *t, const struct jit_session *ss,
			  size_t n, char *err, size_t errlen);

/*
 * Record id was ended while the journal could not say so: the kernel keeps
 * the word (in set "unrecorded", until end_ms) so that a restart before the
 * journal catches up does not bring it back.
 */
int table_mark_unrecorded(struct jit_table *t, uint64_t id, uint64_t end_ms,
			  uint64_t now_ms, char *err, size_t errlen);
/* The ids so marked. Returns their number (*ret malloc'd), or -errno
 * (-ENOENT without a table). */
int table_dump_unrecorded(struct jit_table *t, uint64_t **ret);

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
