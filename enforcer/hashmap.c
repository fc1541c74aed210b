/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hashmap.h"
#include "util.h"

#define MIN_CAP 16

static unsigned char *slot(const struct hashmap *m, size_t i)
{
	return m->slots + i * m->size;
}

static bool is_empty(const struct hashmap *m, const unsigned char *e)
{
	uint64_t w8;
	uint32_t w4;

	/* The sizes of indices and pointers, a load each. */
	switch (m->size) {
	case sizeof(w4):
		memcpy(&w4, e, sizeof(w4));
		return !w4;
	case sizeof(w8):
		memcpy(&w8, e, sizeof(w8));
		return !w8;
	}
	for (size_t i = 0; i < m->size; i++)
		if (e[i])
			return false;
	return true;
}

/* Most entries a map of cap slots holds. */
static size_t max_load(size_t cap)
{
	return cap / 4 * 3;
}

void hashmap_init(struct hashmap *m, size_t size, hashmap_hash_fn hash,
		  const void *ctx)
{
	*m = (struct hashmap){ .size = size, .hash = hash, .ctx = ctx };
}

void hashmap_clear(struct hashmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

/* The first empty slot of hash's probe run; there is one. */
static size_t free_slot(const struct hashmap *m, uint64_t hash)
{
	size_t mask = m->cap - 1, i = (size_t)hash & mask;

	while (!is_empty(m, slot(m, i)))
		i = (i + 1) & mask;
	return i;
}

/* Move every entry into cap slots (as many as it has entries, at least). */
static int resize(struct hashmap *m, size_t cap)
{
	struct hashmap old = *m;

	if (cap > SIZE_MAX / m->size)
		return -ENOMEM;
	m->slots = calloc(cap, m->size);
	if (!m->slots) {
		m->slots = old.slots;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		const unsigned char *e = slot(&old, i);

		if (!is_empty(&old, e))
			memcpy(slot(m, free_slot(m, m->hash(e, m->ctx))), e,
			       m->size);
	}
	free(old.slots);
	return 0;
}

int hashmap_reserve(struct hashmap *m, size_t more)
{
	size_t need = m->n + more, cap = m->cap ? m->cap : MIN_CAP;

	if (need < m->n)
		return -ENOMEM;
	if (m->cap && need <= max_load(m->cap))
		return 0;
	while (need > max_load(cap)) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	return resize(m, cap);
}

void hashmap_shrink(struct hashmap *m)
{
	size_t cap = m->cap;

	while (cap > MIN_CAP && m->n * 8 < cap)
		cap /= 2;
	if (cap == m->cap)
		return;
	if (!m->n) {
		hashmap_clear(m);
		return;
	}
	/* Out of memory, the map stays as large as it was. */
	(void)resize(m, cap);
}

/* Slot of the first entry of hash's run that matches key, or of the empty
 * slot that ends the run. */
static size_t probe(const struct hashmap *m, uint64_t hash, hashmap_eq_fn eq,
		    const void *key, bool *found)
{
	size_t mask = m->cap - 1, i = (size_t)hash & mask;

	for (;; i = (i + 1) & mask) {
		const unsigned char *e = slot(m, i);

		if (is_empty(m, e)) {
			*found = false;
			return i;
		}
		if (eq(e, key, m->ctx)) {
			*found = true;
			return i;
		}
	}
}

void *hashmap_find(const struct hashmap *m, uint64_t hash, hashmap_eq_fn eq,
		   const void *key)
{
	bool found;
	size_t i;

	if (!m->n)
		return NULL;
	i = probe(m, hash, eq, key, &found);
	return found ? slot(m, i) : NULL;
}

void *hashmap_put(struct hashmap *m, uint64_t hash, hashmap_eq_fn eq,
		  const void *key, bool *added)
{
	bool found = false;
	size_t i = 0;

	if (m->cap)
		i = probe(m, hash, eq, key, &found);
	*added = !found;
	if (found)
		return slot(m, i);
	if (!m->cap || m->n + 1 > max_load(m->cap)) {
		if (hashmap_reserve(m, 1) < 0)
			return NULL;
		i = free_slot(m, hash);
	}
	m->n++;
	return slot(m, i);
}

int hashmap_add(struct hashmap *m, uint64_t hash, const void *entry)
{
	int r = hashmap_reserve(m, 1);

	if (r < 0)
		return r;
	memcpy(slot(m, free_slot(m, hash)), entry, m->size);
	m->n++;
	return 0;
}

/* Empty slot i and move back the entries after it that belong before it. */
static void remove_at(struct hashmap *m, size_t i)
{
	size_t mask = m->cap - 1, j = i;

	memset(slot(m, i), 0, m->size);
	m->n--;
	for (;;) {
		unsigned char *e;
		size_t home;

		j = (j + 1) & mask;
		e = slot(m, j);
		if (is_empty(m, e))
			return;
		home = (size_t)m->hash(e, m->ctx) & mask;
		/* It stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		memcpy(slot(m, i), e, m->size);
		memset(e, 0, m->size);
		i = j;
	}
}

void hashmap_remove(struct hashmap *m, void *entry)
{
	remove_at(m, (size_t)((unsigned char *)entry - m->slots) / m->size);
}

size_t hashmap_remove_if(struct hashmap *m,
			 bool (*pred)(const void *entry, void *userdata),
			 void *userdata)
{
	size_t mask = m->cap - 1, start = 0, removed = 0;

	if (!m->n)
		return 0;
	/*
	 * Start after an empty slot: no run crosses it, and a removal only
	 * moves entries of its run back, into the slot just looked at. So
	 * an entry is never moved to where the walk has already been.
	 */
	while (!is_empty(m, slot(m, start)))
		start++;
	for (size_t k = 1; k <= m->cap;) {
		size_t i = (start + k) & mask;
		unsigned char *e = slot(m, i);

		if (!is_empty(m, e) && pred(e, userdata)) {
			remove_at(m, i);
			removed++;
			continue; /* another entry may have moved into i */
		}
		k++;
	}
	return removed;
}

void *hashmap_next(const struct hashmap *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++) {
		unsigned char *e = slot(m, *pos);

		if (!is_empty(m, e)) {
			(*pos)++;
			return e;
		}
	}
	return NULL;
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = hash_mix(seed ^ n), w;

	for (; n >= sizeof(w); n -= sizeof(w), b += sizeof(w)) {
		memcpy(&w, b, sizeof(w));
		h = hash_mix(h ^ w);
	}
	if (n) {
		w = 0;
		memcpy(&w, b, n);
		h = hash_mix(h ^ w);
	}
	return h;
}

uint64_t hash_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = hash_mix(now_mono_us() ^ (uint64_t)(uintptr_t)&seed);
	return seed;
}
