/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watching nftables events for changes to our table made by another
 * process. Every transaction ends with NFT_MSG_NEWGEN, which names the
 * process that committed it and, in its header, the netlink port id of the
 * socket that sent it. A transaction that touched our table and did not
 * come from our own socket is foreign; the foreign transactions read in one
 * wake-up of the loop are reported together, once.
 */
#ifndef JIT_WATCH_H
#define JIT_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct jit_tamper - foreign changes to our table
 * @pid: process that committed the last of them, as the initial PID
 *       namespace numbers it (0 if the kernel did not say)
 * @comm: its name ("" if unknown)
 * @portid: netlink port id of the socket it used
 * @changes: messages of those transactions that touched our table
 * @transactions: how many foreign transactions (0: only @lost)
 * @deleted: one of them deleted our table, a chain, a set or a rule
 * @lost: events were lost (ENOBUFS); the table may have changed
 * @genid: ruleset generation after the last one
 */
struct jit_tamper {
	pid_t pid;
	char comm[64];
	uint32_t portid;
	unsigned changes;
	unsigned transactions;
	bool deleted;
	bool lost;
	uint32_t genid;
};

typedef void (*watch_fn)(void *userdata, const struct jit_tamper *t);

struct jit_watch;

/*
 * Watch table; own_portid is the port id of the socket our own batches go
 * through (table_portid()), whose transactions are never reported.
 */
int watch_open(const char *table, uint32_t own_portid, int epfd, watch_fn fn,
	       void *userdata, struct jit_watch **ret);
struct jit_watch *watch_close(struct jit_watch *w);

/* Read every event waiting now, reporting foreign ones as a wake-up does. */
void watch_drain(struct jit_watch *w);

/*
 * The generation of the newest transaction the watch knows of: set by the
 * caller when it opens the watch, then that of each one read. Foreign
 * transactions that touch the table and lost events are reported (to fn)
 * as they are read; those that do not touch it only move the generation.
 */
void watch_set_last(struct jit_watch *w, uint32_t genid);
uint32_t watch_last(const struct jit_watch *w);

#endif
