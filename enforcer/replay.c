/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "replay.h"

/*
 * A digest is a cryptographic hash, so its first bytes are already a good
 * hash. until_ms is never 0, so an entry is never all zero.
 */
struct slot {
	uint8_t d[JIT_DIGEST_LEN];
	uint64_t until_ms;
};

struct jit_replay {
	struct hashmap map; /* struct slot */
};

static uint64_t digest_hash(const uint8_t *d)
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	return h;
}

static uint64_t slot_hash(const void *e, const void *ctx)
{
	return digest_hash(((const struct slot *)e)->d);
}

static bool is_digest(const void *e, const void *key, const void *ctx)
{
	return !memcmp(((const struct slot *)e)->d, key, JIT_DIGEST_LEN);
}

struct jit_replay *replay_new(void)
{
	struct jit_replay *r = calloc(1, sizeof(*r));

	if (r)
		hashmap_init(&r->map, sizeof(struct slot), slot_hash, NULL);
	return r;
}

struct jit_replay *replay_free(struct jit_replay *r)
{
	if (r) {
		hashmap_clear(&r->map);
		free(r);
	}
	return NULL;
}

static struct slot *find(const struct jit_replay *r, const uint8_t *d)
{
	return hashmap_find(&r->map, digest_hash(d), is_digest, d);
}

bool replay_seen(const struct jit_replay *r, const uint8_t *d, uint64_t now_ms)
{
	const struct slot *s = find(r, d);

	return s && s->until_ms >= now_ms;
}

void replay_forget(struct jit_replay *r, const uint8_t *d)
{
	struct slot *s = find(r, d);

	if (s)
		hashmap_remove(&r->map, s);
}

static bool is_past(const void *e, void *userdata)
{
	return ((const struct slot *)e)->until_ms < *(const uint64_t *)userdata;
}

void replay_prune(struct jit_replay *r, uint64_t now_ms)
{
	hashmap_remove_if(&r->map, is_past, &now_ms);
	hashmap_shrink(&r->map);
}

int replay_add(struct jit_replay *r, const uint8_t *d, uint64_t until_ms,
	       uint64_t now_ms)
{
	struct slot *s = find(r, d), add;

	if (!until_ms)
		until_ms = 1;
	if (s) {
		if (s->until_ms < until_ms)
			s->until_ms = until_ms;
		return 0;
	}
	if (hashmap_count(&r->map) >= JIT_REPLAY_MAX) {
		replay_prune(r, now_ms);
		if (hashmap_count(&r->map) >= JIT_REPLAY_MAX)
			return -ENOSPC;
	}
	memcpy(add.d, d, JIT_DIGEST_LEN);
	add.until_ms = until_ms;
	return hashmap_add(&r->map, digest_hash(d), &add);
}

size_t replay_count(const struct jit_replay *r)
{
	return hashmap_count(&r->map);
}

int replay_foreach(const struct jit_replay *r,
		   int (*fn)(void *userdata, const uint8_t *d,
			     uint64_t until_ms),
		   void *userdata)
{
	const struct slot *s;

	for (size_t i = 0; (s = hashmap_next(&r->map, &i));) {
		int ret = fn(userdata, s->d, s->until_ms);

		if (ret)
			return ret;
	}
	return 0;
}
