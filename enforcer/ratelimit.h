/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A token bucket per user: at most `burst` decisions at once, refilled at
 * `rate` per second. The table holds JIT_RATELIMIT_USERS users; a new one
 * takes the place of the one seen least lately (whose bucket was full, or
 * nearly: a user who flooded a moment ago is seen lately).
 */
#ifndef JIT_RATELIMIT_H
#define JIT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define JIT_RATELIMIT_USERS 256

struct jit_ratelimit;

/* rate: decisions per second (> 0), burst >= 1. 0 or -errno. */
int ratelimit_new(double rate, unsigned burst, struct jit_ratelimit **ret);
struct jit_ratelimit *ratelimit_free(struct jit_ratelimit *rl);
/*
 * Take one token of uid's bucket at now_ms. False when it is empty; then
 * *retry_ms (if not NULL) says when the next token comes.
 */
bool ratelimit_take(struct jit_ratelimit *rl, uint32_t uid, uint64_t now_ms,
		    uint64_t *retry_ms);
double ratelimit_rate(const struct jit_ratelimit *rl);
unsigned ratelimit_burst(const struct jit_ratelimit *rl);

#endif
