/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/*
 * Open addressing with linear probing. A digest is a cryptographic hash,
 * so its first bytes are already a good hash. An empty slot has until 0;
 * a removed one is re-filled by moving its successors back (no
 * tombstones), so lookups never degrade.
 */
struct slot {
	uint8_t d[JIT_DIGEST_LEN];
	uint64_t until_ms;
};

struct jit_replay {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t n;
};

#define MIN_CAP 64

static size_t home(const struct jit_replay *r, const uint8_t *d)
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	return (size_t)h & (r->cap - 1);
}

struct jit_replay *replay_new(void)
{
	struct jit_replay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->slots = calloc(MIN_CAP, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->cap = MIN_CAP;
	return r;
}

struct jit_replay *replay_free(struct jit_replay *r)
{
	if (r) {
		free(r->slots);
		free(r);
	}
	return NULL;
}

static struct slot *find(const struct jit_replay *r, const uint8_t *d)
{
	for (size_t i = home(r, d);; i = (i + 1) & (r->cap - 1)) {
		struct slot *s = &r->slots[i];

		if (!s->until_ms)
			return NULL;
		if (!memcmp(s->d, d, JIT_DIGEST_LEN))
			return s;
	}
}

bool replay_seen(const struct jit_replay *r, const uint8_t *d, uint64_t now_ms)
{
	const struct slot *s = find(r, d);

	return s && s->until_ms >= now_ms;
}

static void put(struct jit_replay *r, const uint8_t *d, uint64_t until_ms)
{
	size_t i = home(r, d);

	while (r->slots[i].until_ms)
		i = (i + 1) & (r->cap - 1);
	memcpy(r->slots[i].d, d, JIT_DIGEST_LEN);
	r->slots[i].until_ms = until_ms;
	r->n++;
}

static int resize(struct jit_replay *r, size_t cap)
{
	struct slot *old = r->slots;
	size_t old_cap = r->cap;

	r->slots = calloc(cap, sizeof(*r->slots));
	if (!r->slots) {
		r->slots = old;
		return -ENOMEM;
	}
	r->cap = cap;
	r->n = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].until_ms)
			put(r, old[i].d, old[i].until_ms);
	free(old);
	return 0;
}

/* Empty slot i and move back the run after it that hashed before it. */
static void remove_at(struct jit_replay *r, size_t i)
{
	size_t j = i;

	r->slots[i].until_ms = 0;
	r->n--;
	for (;;) {
		size_t k;

		j = (j + 1) & (r->cap - 1);
		if (!r->slots[j].until_ms)
			return;
		k = home(r, r->slots[j].d);
		/* j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		r->slots[i] = r->slots[j];
		r->slots[j].until_ms = 0;
		i = j;
	}
}

void replay_prune(struct jit_replay *r, uint64_t now_ms)
{
	for (size_t i = 0; i < r->cap;) {
		/* A removal may move a later entry into i: look again. */
		if (r->slots[i].until_ms && r->slots[i].until_ms < now_ms)
			remove_at(r, i);
		else
			i++;
	}
	if (r->cap > MIN_CAP && r->n * 8 < r->cap)
		(void)resize(r, r->cap / 2);
}

int replay_add(struct jit_replay *r, const uint8_t *d, uint64_t until_ms,
	       uint64_t now_ms)
{
	struct slot *s = find(r, d);

	if (!until_ms)
		until_ms = 1;
	if (s) {
		if (s->until_ms < until_ms)
			s->until_ms = until_ms;
		return 0;
	}
	if (r->n >= JIT_REPLAY_MAX) {
		replay_prune(r, now_ms);
		if (r->n >= JIT_REPLAY_MAX)
			return -ENOSPC;
	}
	/* At most half full: probes stay short. */
	if ((r->n + 1) * 2 > r->cap && resize(r, r->cap * 2) < 0)
		return -ENOMEM;
	put(r, d, until_ms);
	return 0;
}

size_t replay_count(const struct jit_replay *r)
{
	return r->n;
}

int replay_foreach(const struct jit_replay *r,
		   int (*fn)(void *userdata, const uint8_t *d,
			     uint64_t until_ms),
		   void *userdata)
{
	for (size_t i = 0; i < r->cap; i++) {
		int ret;

		if (!r->slots[i].until_ms)
			continue;
		ret = fn(userdata, r->slots[i].d, r->slots[i].until_ms);
		if (ret)
			return ret;
	}
	return 0;
}
