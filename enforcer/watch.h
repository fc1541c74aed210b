/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watching nftables events for changes to our table made by another
 * process. Every transaction ends with NFT_MSG_NEWGEN, which names the
 * process that committed it; a transaction that touched our table and was
 * not ours is reported once, with that process.
 */
#ifndef JIT_WATCH_H
#define JIT_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct jit_tamper - a foreign change to our table
 * @pid: process that committed it (0 if the kernel did not say)
 * @comm: its name ("" if unknown)
 * @changes: messages of that transaction that touched our table
 * @deleted: one of them deleted our table, a chain, a set or a rule
 * @lost: events were lost (ENOBUFS); the table may have changed
 * @genid: ruleset generation after the change
 */
struct jit_tamper {
	pid_t pid;
	char comm[64];
	unsigned changes;
	bool deleted;
	bool lost;
	uint32_t genid;
};

typedef void (*watch_fn)(void *userdata, const struct jit_tamper *t);

struct jit_watch;

int watch_open(const char *table, int epfd, watch_fn fn, void *userdata,
	       struct jit_watch **ret);
/*
 * Our own commits come back as events too; they are known by the sender's
 * port id (our pid alone fails in a PID namespace, a container's: the
 * kernel reports the pid as the host sees it).
 */
void watch_set_own_portid(struct jit_watch *w, uint32_t portid);
struct jit_watch *watch_close(struct jit_watch *w);

#endif
