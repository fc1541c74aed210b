/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit lines a host still owes the fleet's audit stream, in the state
 * directory: every line gets the next local sequence number and is
 * appended to fleet-outbox; fleet-cursor holds the last sequence the
 * stream stored (written whole and renamed); fleet-nonce the install's
 * random nonce. After an outage or a restart, what lies past the cursor is
 * sent again with the same Msg-Id (<host>:<nonce>:<seq>), which the stream
 * drops as a duplicate if it had it. The cursor is saved lazily (the
 * caller says when: fleet_outbox_save), as one that lags only sends more
 * again; it is saved before lines it covers are cut from the outbox, so a
 * sequence is never given twice.
 */
#ifndef JIT_FLEET_OUTBOX_H
#define JIT_FLEET_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JIT_FLEET_NONCE_LEN   16
#define JIT_FLEET_OUTBOX_FILE "fleet-outbox"
#define JIT_FLEET_CURSOR_FILE "fleet-cursor"
#define JIT_FLEET_NONCE_FILE  "fleet-nonce"
/* The outbox starts over once all is stored and it is this big. */
#define JIT_FLEET_OUTBOX_ROLL (1024 * 1024)
/* Lines past the cursor take at most this much (an outage of days); the
 * next are not sent (-ENOSPC), the local audit log has them. */
#define JIT_FLEET_OUTBOX_MAX (64u * 1024 * 1024)
/* The agent saves a moved cursor this long after the first ack since. */
#define JIT_FLEET_CURSOR_SAVE_MS 2000

struct jit_fleet_outbox;

/*
 * Open (creating what is missing: a new nonce from getrandom) in dir.
 * A torn last line is cut. 0 or -errno.
 */
int fleet_outbox_open(const char *dir, struct jit_fleet_outbox **ret);
struct jit_fleet_outbox *fleet_outbox_close(struct jit_fleet_outbox *o);
const char *fleet_outbox_nonce(const struct jit_fleet_outbox *o);
/* The last sequence the stream stored (0: none). */
uint64_t fleet_outbox_acked(const struct jit_fleet_outbox *o);
/* The sequence the next line gets (never reused). */
uint64_t fleet_outbox_next(const struct jit_fleet_outbox *o);
/* Append line (one JSON object, no newline): *seq is its sequence. */
int fleet_outbox_add(struct jit_fleet_outbox *o, const char *line,
		     uint64_t *seq);
/*
 * The stream stored everything up to seq: the cursor moves (never back),
 * in memory; the outbox starts over when it is all stored and large (the
 * cursor saved first). 0 or -errno.
 */
int fleet_outbox_ack(struct jit_fleet_outbox *o, uint64_t seq);
/* The cursor made durable, after the lines it covers (0 or -errno); at
 * close too. */
int fleet_outbox_save(struct jit_fleet_outbox *o);
/* The cursor moved since it was last saved. */
bool fleet_outbox_unsaved(const struct jit_fleet_outbox *o);
/* Each line past the cursor, in order (at start, to send again). */
int fleet_outbox_each_pending(struct jit_fleet_outbox *o,
			      int (*cb)(void *u, uint64_t seq,
					const char *line),
			      void *u);
/* "<host>:<nonce>:<seq>" into buf. */
char *fleet_msgid(const char *host, const char *nonce, uint64_t seq, char *buf,
		  size_t n);

#endif
