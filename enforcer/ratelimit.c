/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "ratelimit.h"

/* Tokens are counted in thousandths, so that slow rates refill smoothly. */
#define MILLI 1000u

struct bucket {
	bool used;
	uint32_t uid;
	uint64_t tokens; /* thousandths */
	uint64_t last_ms;
};

struct jit_ratelimit {
	uint64_t per_s; /* thousandths of a token per second */
	uint64_t cap;	/* thousandths */
	double rate;
	unsigned burst;
	struct bucket b[JIT_RATELIMIT_USERS];
};

int ratelimit_new(double rate, unsigned burst, struct jit_ratelimit **ret)
{
	struct jit_ratelimit *rl;

	if (!(rate > 0) || rate > 1e6 || burst < 1 || burst > 1000000)
		return -EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->rate = rate;
	rl->burst = burst;
	rl->per_s = (uint64_t)(rate * MILLI);
	if (!rl->per_s)
		rl->per_s = 1;
	rl->cap = (uint64_t)burst * MILLI;
	*ret = rl;
	return 0;
}

struct jit_ratelimit *ratelimit_free(struct jit_ratelimit *rl)
{
	free(rl);
	return NULL;
}

static void refill(const struct jit_ratelimit *rl, struct bucket *b,
		   uint64_t now_ms)
{
	if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * rl->per_s / 1000;

		b->tokens =
			b->tokens + add > rl->cap ? rl->cap : b->tokens + add;
		/* Time that bought no whole thousandth is kept for later. */
		if (add || b->tokens == rl->cap)
			b->last_ms = now_ms;
	}
}

bool ratelimit_take(struct jit_ratelimit *rl, uint32_t uid, uint64_t now_ms,
		    uint64_t *retry_ms)
{
	struct bucket *b = NULL, *victim = &rl->b[0];

	for (size_t i = 0; i < JIT_RATELIMIT_USERS && !b; i++) {
		struct bucket *c = &rl->b[i];

		if (c->used && c->uid == uid)
			b = c;
		else if (!c->used ||
			 (victim->used && c->last_ms < victim->last_ms))
			victim = c;
	}
	if (!b) {
		b = victim;
		*b = (struct bucket){ .used = true,
				      .uid = uid,
				      .tokens = rl->cap,
				      .last_ms = now_ms };
	}
	refill(rl, b, now_ms);
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
		return true;
	}
	if (retry_ms)
		*retry_ms = ((MILLI - b->tokens) * 1000 + rl->per_s - 1) /
			    rl->per_s;
	return false;
}

double ratelimit_rate(const struct jit_ratelimit *rl)
{
	return rl->rate;
}

unsigned ratelimit_burst(const struct jit_ratelimit *rl)
{
	return rl->burst;
}
