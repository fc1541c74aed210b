/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one hash map behind every table of the agent (grants by key and by
 * user, records and points of the cover, the detector's entries, SPA
 * digests, the identities of a recheck): open addressing with linear
 * probing over fixed-size entries stored in place, a power-of-two number of
 * slots never more than 3/4 full, and backward-shift deletion, so no
 * tombstones build up and a lookup after a million removals is as short as
 * after none.
 *
 * The map knows nothing of keys. An entry is a few bytes of the caller's (a
 * pointer, an index, a small struct) that are never all zero: an all-zero
 * slot is an empty one. The caller hashes: the map's hash function gives
 * the hash of a stored entry (to move it when the map grows or an entry
 * before it goes), and every lookup passes the hash of what it looks for
 * and a function that says whether an entry matches it. Entries may share
 * a key; the map looks for an equal one only when asked (hashmap_put).
 *
 * The map shrinks only when told to (hashmap_shrink): after
 * hashmap_reserve(m, k), the next k additions never allocate, whatever
 * was removed in between.
 */
#ifndef JIT_HASHMAP_H
#define JIT_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hash of a stored entry; ctx is the map's. */
typedef uint64_t (*hashmap_hash_fn)(const void *entry, const void *ctx);
/* Does a stored entry match key? ctx is the map's. */
typedef bool (*hashmap_eq_fn)(const void *entry, const void *key,
			      const void *ctx);

/**
 * struct hashmap - a map; the fields are the map's own
 * @slots: cap entries of size bytes, all zero where empty
 * @cap: number of slots, a power of two, or 0 before the first entry
 * @n: entries stored
 * @size: bytes per entry
 * @hash: hash of a stored entry
 * @ctx: passed to hash and to every eq
 */
struct hashmap {
	unsigned char *slots;
	size_t cap;
	size_t n;
	size_t size;
	hashmap_hash_fn hash;
	const void *ctx;
};

/* An empty map of entries of size bytes; allocates nothing. */
void hashmap_init(struct hashmap *m, size_t size, hashmap_hash_fn hash,
		  const void *ctx);
/* Free the slots: the map is empty, and usable again. */
void hashmap_clear(struct hashmap *m);

static inline size_t hashmap_count(const struct hashmap *m)
{
	return m->n;
}

/* Memory the slots take. */
static inline size_t hashmap_bytes(const struct hashmap *m)
{
	return m->cap * m->size;
}

/* Room for more entries than now: 0 or -ENOMEM. */
int hashmap_reserve(struct hashmap *m, size_t more);
/* Halve the slots while under 1/8 of them are used. */
void hashmap_shrink(struct hashmap *m);

/* The first entry (in probe order) that matches key, or NULL. */
void *hashmap_find(const struct hashmap *m, uint64_t hash, hashmap_eq_fn eq,
		   const void *key);
/*
 * The entry that matches key, *added false; or, when there is none, the
 * empty slot where an entry of this hash goes, *added true: counted
 * already, it must be filled (with an entry of this hash) before the next
 * call on the map. NULL only when the map had to grow and could not.
 */
void *hashmap_put(struct hashmap *m, uint64_t hash, hashmap_eq_fn eq,
		  const void *key, bool *added);
/* Add a copy of entry, whether or not an equal one is there: 0 or -ENOMEM. */
int hashmap_add(struct hashmap *m, uint64_t hash, const void *entry);
/* Remove entry, a pointer the map gave; later entries may move. */
void hashmap_remove(struct hashmap *m, void *entry);
/*
 * Every entry pred says yes to is removed; each entry is shown exactly once
 * (entries move as others go, so plain iteration cannot remove). Returns
 * how many went.
 */
size_t hashmap_remove_if(struct hashmap *m,
			 bool (*pred)(const void *entry, void *userdata),
			 void *userdata);
/*
 * Iteration in slot order: for (size_t i = 0; (e = hashmap_next(m, &i));).
 * The map must not change meanwhile.
 */
void *hashmap_next(const struct hashmap *m, size_t *pos);

/* The murmur3 finaliser: every input bit reaches every output bit. */
static inline uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* n bytes, hashed from seed. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
/*
 * A secret seed, for maps whose keys others choose (sources of packets,
 * requested addresses): they cannot line their keys up in one probe run.
 * Without entropy, something that differs between runs.
 */
uint64_t hash_seed(void);

#endif
