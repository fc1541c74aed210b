/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet's NATS connection, in its own thread: it watches this host's
 * range of the grants bucket through its own named push consumer (the only
 * keys its credentials may read), registers the host, and publishes audit
 * lines. What it learns reaches the agent's loop through an eventfd and a
 * queue (fleet_nats_take); the loop never waits on the network.
 */
#ifndef JIT_FLEET_NATS_H
#define JIT_FLEET_NATS_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet-conf.h"
#include "fleet.h"

#define JIT_FLEET_BUCKET       "jit_grants"
#define JIT_FLEET_STREAM       "KV_jit_grants"
#define JIT_FLEET_HOSTS_BUCKET "jit_hosts"
#define JIT_FLEET_REGISTER_MS  30000
#define JIT_FLEET_HEARTBEAT_MS 1000
/* The agent waits for its NATS threads at exit at most this long. */
#define JIT_FLEET_EXIT_WAIT_MAX_MS 60000

enum jit_fleet_msg_kind {
	JIT_FLEET_MSG_ENTRY,	      /* a change of a key (entry) */
	JIT_FLEET_MSG_SNAPSHOT_BEGIN, /* a full range follows */
	JIT_FLEET_MSG_SNAPSHOT_END,   /* the range is complete */
	JIT_FLEET_MSG_STATE,	      /* connected / watching changed */
	JIT_FLEET_MSG_ACKED,	      /* audit lines up to seq are stored */
	JIT_FLEET_MSG_SQUATTED,	      /* a duplicate ack for a new Msg-Id */
};

/**
 * struct jit_fleet_msg - what the thread tells the loop
 * @kind: see enum jit_fleet_msg_kind
 * @entry: for ENTRY
 * @connected: for STATE: the connection is up
 * @watching: for STATE: the consumer is in place and caught up
 * @seq: for ACKED and SQUATTED
 * @text: why (STATE: the last error, if any)
 * @next: the queue's
 */
struct jit_fleet_msg {
	enum jit_fleet_msg_kind kind;
	struct jit_fleet_entry entry;
	bool connected;
	bool watching;
	uint64_t seq;
	char text[256];
	struct jit_fleet_msg *next;
};

struct jit_fleet_nats;

/*
 * Start the thread for conf (password may be NULL; labels and version go
 * into the host registry). *fd is readable when messages wait. Returns 0
 * or -errno; the connection itself is made (and retried) in the thread.
 */
int fleet_nats_start(const struct jit_fleet_conf *conf, const char *password,
		     const char *version, struct jit_fleet_nats **ret, int *fd);
/* Take the whole range again (an entry could not be applied). */
void fleet_nats_resnapshot(struct jit_fleet_nats *n);
/*
 * Ask the thread to stop, and let go of n: the thread closes the
 * connection and frees n itself when it is done, which may take a while
 * (a connect, a JetStream call): nothing here waits for it. A thread
 * started later waits for it to end before it connects.
 */
void fleet_nats_stop(struct jit_fleet_nats *n);
/*
 * Join the threads stopped so far, waiting at most timeout_ms in all (at
 * exit); a negative timeout_ms: as long as their blocking calls may take
 * (a connect to each server, a few JetStream calls, the library's close),
 * at most JIT_FLEET_EXIT_WAIT_MAX_MS. Returns how many are still running.
 */
int fleet_nats_wait(int64_t timeout_ms);
/* Every waiting message, oldest first (free each with free()). */
struct jit_fleet_msg *fleet_nats_take(struct jit_fleet_nats *n);
/*
 * Publish an audit line on audit.<host> with Msg-Id <host>:<nonce>:<seq>,
 * in seq order, retried until stored. resend: it may have been stored
 * before (a restart), so a duplicate ack is no alert. 0 or -ENOMEM.
 */
int fleet_nats_publish(struct jit_fleet_nats *n, uint64_t seq,
		       const char *nonce, const char *line, bool resend);

#endif
