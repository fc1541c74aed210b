/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Digests of the SPA packets already accepted, each kept until the packet
 * it came from would be too old anyway: a replay is refused while it could
 * otherwise succeed, and memory stays bounded by the age window.
 */
#ifndef JIT_REPLAY_H
#define JIT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256 of the packet as received. */
#define JIT_DIGEST_LEN 32
/* At most this many digests are kept; past it, new packets are refused. */
#define JIT_REPLAY_MAX (1u << 18)

struct jit_replay;

struct jit_replay *replay_new(void);
struct jit_replay *replay_free(struct jit_replay *r);
/* True if d is kept and its time has not passed at now_ms. */
bool replay_seen(const struct jit_replay *r, const uint8_t *d, uint64_t now_ms);
/*
 * Keep d until until_ms (a later time wins if it is already kept). Returns
 * 0, -ENOSPC when JIT_REPLAY_MAX live digests are kept, or -ENOMEM.
 */
int replay_add(struct jit_replay *r, const uint8_t *d, uint64_t until_ms,
	       uint64_t now_ms);
/*
 * Forget d: its packet was refused before it could count (its digest could
 * not be recorded), so the same packet sent again is not a replay.
 */
void replay_forget(struct jit_replay *r, const uint8_t *d);
/* Forget the digests whose time has passed. */
void replay_prune(struct jit_replay *r, uint64_t now_ms);
size_t replay_count(const struct jit_replay *r);
/* Call fn for each digest kept; stops at the first nonzero return. */
int replay_foreach(const struct jit_replay *r,
		   int (*fn)(void *userdata, const uint8_t *d,
			     uint64_t until_ms),
		   void *userdata);

#endif
