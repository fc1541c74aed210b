/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hash map against a brute-force model: random adds, finds, removals,
 * filtered removals, shrinks and iterations, with entries of the sizes its
 * users store (an index, a pointer, a digest and its time), with good
 * hashes and with hashes that force long runs and runs that wrap around
 * the end of the slots. Duplicate keys, reserve without allocation, and
 * every entry shown exactly once by hashmap_remove_if.
 */
#include <check.h>

#include "hashmap.h"
#include "util.h"
#include "runner.h"

#define KEYS 700

/* An assertion without check's per-call bookkeeping, for the hot loops. */
#define REQUIRE(c)                                                         \
	do {                                                               \
		if (!(c))                                                  \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); \
	} while (0)

/*
 * An entry is size bytes: the key (never 0) in the last 4, a value in the
 * first 4 when there is room, zeros between.
 */
static size_t ent_size;

enum mode { GOOD, FEW_HOMES, WRAP, MODES };
static enum mode mode;

static uint32_t ent_key(const void *e)
{
	uint32_t k;

	memcpy(&k, (const unsigned char *)e + ent_size - sizeof(k), sizeof(k));
	return k;
}

static uint32_t ent_val(const void *e)
{
	uint32_t v = 0;

	if (ent_size >= 8)
		memcpy(&v, e, sizeof(v));
	return v;
}

static void ent_make(unsigned char *e, uint32_t key, uint32_t val)
{
	memset(e, 0, ent_size);
	memcpy(e + ent_size - sizeof(key), &key, sizeof(key));
	if (ent_size >= 8)
		memcpy(e, &val, sizeof(val));
}

static uint64_t key_hash(uint32_t key)
{
	switch (mode) {
	case FEW_HOMES:
		return key % 5;
	case WRAP:
		/* Homes in the last slots, whatever the size: runs wrap. */
		return UINT64_MAX - key % 3;
	default:
		return hash_mix(key);
	}
}

static uint64_t ent_hash(const void *e, const void *ctx)
{
	REQUIRE(ctx == &mode);
	return key_hash(ent_key(e));
}

static bool key_eq(const void *e, const void *key, const void *ctx)
{
	REQUIRE(ctx == &mode);
	return ent_key(e) == *(const uint32_t *)key;
}

/* The model: value + 1 of each key, 0 when absent. */
static uint32_t model[KEYS + 1];
static size_t model_n;
static unsigned visits[KEYS + 1];

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void check_all(const struct hashmap *m)
{
	size_t seen = 0, pos = 0;
	const void *e;

	REQUIRE(hashmap_count(m) == model_n);
	REQUIRE(hashmap_count(m) <= m->cap / 4 * 3);
	memset(visits, 0, sizeof(visits));
	while ((e = hashmap_next(m, &pos))) {
		uint32_t k = ent_key(e);

		REQUIRE(k >= 1);
		REQUIRE(k <= KEYS);
		REQUIRE(++visits[k] == 1);
		REQUIRE(model[k] != 0);
		if (ent_size >= 8)
			REQUIRE(ent_val(e) == model[k] - 1);
		seen++;
	}
	REQUIRE(seen == model_n);
	for (uint32_t k = 1; k <= KEYS; k++) {
		e = hashmap_find(m, key_hash(k), key_eq, &k);
		REQUIRE(!e == !model[k]);
	}
}

static uint32_t drop_mask;

/* Removes the keys whose bit in drop_mask is set; counts what it sees. */
static bool drop_some(const void *e, void *userdata)
{
	uint32_t k = ent_key(e);

	REQUIRE(userdata == visits);
	REQUIRE(++visits[k] == 1);
	return (drop_mask >> (k % 32)) & 1;
}

static void run_model(size_t size, enum mode md, uint64_t seed, int steps)
{
	unsigned char e[64];
	struct hashmap m;

	ent_size = size;
	mode = md;
	rng_state = seed;
	memset(model, 0, sizeof(model));
	model_n = 0;
	hashmap_init(&m, size, ent_hash, &mode);
	for (int step = 0; step < steps; step++) {
		/* Key ranges that grow and shrink, so the map does too. */
		uint32_t span = step % 4000 < 2000 ? KEYS : KEYS / 10;
		uint32_t k = (uint32_t)(rng() % span) + 1;
		unsigned op = (unsigned)(rng() % 100);
		uint32_t val = (uint32_t)rng() & 0xffff;
		bool added;
		void *slot;

		if (op < 40) {
			slot = hashmap_put(&m, key_hash(k), key_eq, &k, &added);
			REQUIRE(slot);
			REQUIRE(added == !model[k]);
			if (added) {
				ent_make(slot, k, val);
				model[k] = val + 1;
				model_n++;
			} else {
				REQUIRE(ent_key(slot) == k);
			}
		} else if (op < 50) {
			if (model[k])
				continue;
			ent_make(e, k, val);
			REQUIRE(hashmap_add(&m, key_hash(k), e) == 0);
			model[k] = val + 1;
			model_n++;
		} else if (op < 80) {
			slot = hashmap_find(&m, key_hash(k), key_eq, &k);
			REQUIRE(!slot == !model[k]);
			if (slot) {
				hashmap_remove(&m, slot);
				model[k] = 0;
				model_n--;
			}
		} else if (op < 95) {
			slot = hashmap_find(&m, key_hash(k), key_eq, &k);
			REQUIRE(!slot == !model[k]);
			if (slot && ent_size >= 8)
				REQUIRE(ent_val(slot) == model[k] - 1);
		} else if (op < 97) {
			size_t gone = 0;

			drop_mask = (uint32_t)rng();
			for (uint32_t j = 1; j <= KEYS; j++)
				gone += model[j] && (drop_mask >> (j % 32)) & 1;
			memset(visits, 0, sizeof(visits));
			REQUIRE(hashmap_remove_if(&m, drop_some, visits) ==
				gone);
			for (uint32_t j = 1; j <= KEYS; j++) {
				/* Every entry shown once, removed or not. */
				REQUIRE(visits[j] == !!model[j]);
				if (model[j] && (drop_mask >> (j % 32)) & 1) {
					model[j] = 0;
					model_n--;
				}
			}
		} else if (op < 99) {
			hashmap_shrink(&m);
		} else {
			check_all(&m);
			if (rng() % 20 == 0) {
				hashmap_clear(&m);
				memset(model, 0, sizeof(model));
				model_n = 0;
			}
		}
		REQUIRE(hashmap_count(&m) == model_n);
	}
	check_all(&m);
	hashmap_clear(&m);
	REQUIRE(hashmap_count(&m) == 0);
	REQUIRE(hashmap_bytes(&m) == 0);
}

/* Slow under valgrind. */
UNIT_CASE("hashmap", .timeout_s = 300);

UNIT_TEST("hashmap", test_model)
{
	static const size_t sizes[] = { 4, 8, 40 };

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++)
		for (int md = 0; md < MODES; md++)
			run_model(sizes[s], (enum mode)md,
				  0x9e3779b97f4a7c15ull + s * MODES +
					  (size_t)md,
				  md == GOOD ? 30000 : 12000);
}
END_TEST

UNIT_TEST("hashmap", test_empty)
{
	struct hashmap m;
	uint32_t k = 1;
	size_t pos = 0;

	ent_size = 8;
	mode = GOOD;
	hashmap_init(&m, 8, ent_hash, &mode);
	ck_assert_ptr_null(hashmap_find(&m, key_hash(k), key_eq, &k));
	ck_assert_ptr_null(hashmap_next(&m, &pos));
	ck_assert_uint_eq(hashmap_remove_if(&m, drop_some, visits), 0);
	hashmap_shrink(&m);
	ck_assert_uint_eq(hashmap_bytes(&m), 0);
	hashmap_clear(&m);
	hashmap_clear(&m);
}
END_TEST

/* After hashmap_reserve(k), k additions keep the slots where they are. */
UNIT_TEST("hashmap", test_reserve)
{
	unsigned char e[8];
	struct hashmap m;
	unsigned char *slots;
	uint32_t full;
	size_t cap;

	ent_size = 8;
	mode = GOOD;
	hashmap_init(&m, 8, ent_hash, &mode);
	ck_assert_int_eq(hashmap_reserve(&m, 1000), 0);
	slots = m.slots;
	cap = m.cap;
	full = (uint32_t)(cap / 4 * 3);
	ck_assert_uint_ge(full, 1000);
	ck_assert_int_eq(hashmap_reserve(&m, full), 0);
	ck_assert_ptr_eq(m.slots, slots);
	for (uint32_t k = 1; k <= full; k++) {
		ent_make(e, k, k);
		ck_assert_int_eq(hashmap_add(&m, key_hash(k), e), 0);
	}
	/* Removals never give memory back: adding again stays in place. */
	for (uint32_t k = 1; k <= full; k += 2) {
		void *x = hashmap_find(&m, key_hash(k), key_eq, &k);

		ck_assert_ptr_nonnull(x);
		hashmap_remove(&m, x);
	}
	for (uint32_t k = 1; k <= full; k += 2) {
		bool added;
		void *x = hashmap_put(&m, key_hash(k), key_eq, &k, &added);

		ck_assert(added);
		ent_make(x, k, k);
	}
	ck_assert_ptr_eq(m.slots, slots);
	ck_assert_uint_eq(m.cap, cap);
	ck_assert_uint_eq(hashmap_count(&m), full);
	ck_assert_uint_eq(hashmap_bytes(&m), cap * 8);
	/* One more grows. */
	ent_make(e, full + 1, 0);
	ck_assert_int_eq(hashmap_add(&m, key_hash(full + 1), e), 0);
	ck_assert_uint_eq(m.cap, cap * 2);
	/* Shrinking comes only when asked for, and keeps every entry. */
	hashmap_shrink(&m);
	ck_assert_uint_eq(m.cap, cap * 2);
	for (uint32_t k = 1; k <= full - 10; k++) {
		void *x = hashmap_find(&m, key_hash(k), key_eq, &k);

		hashmap_remove(&m, x);
	}
	ck_assert_uint_eq(m.cap, cap * 2);
	hashmap_shrink(&m);
	ck_assert_uint_eq(m.cap, 64);
	for (uint32_t k = full - 9; k <= full + 1; k++)
		ck_assert_ptr_nonnull(
			hashmap_find(&m, key_hash(k), key_eq, &k));
	hashmap_clear(&m);
}
END_TEST

/* Entries with equal keys: each is found through what tells them apart. */
struct dup_key {
	uint32_t key, val;
};

static bool dup_eq(const void *e, const void *key, const void *ctx)
{
	const struct dup_key *k = key;

	return ent_key(e) == k->key && ent_val(e) == k->val;
}

UNIT_TEST("hashmap", test_duplicates)
{
	unsigned char e[8];
	struct hashmap m;

	ent_size = 8;
	mode = FEW_HOMES;
	hashmap_init(&m, 8, ent_hash, &mode);
	for (uint32_t k = 1; k <= 20; k++)
		for (uint32_t v = 0; v < 10; v++) {
			ent_make(e, k, v);
			ck_assert_int_eq(hashmap_add(&m, key_hash(k), e), 0);
		}
	ck_assert_uint_eq(hashmap_count(&m), 200);
	/* Remove them in an order unlike the one they came in. */
	for (uint32_t v = 10; v-- > 0;)
		for (uint32_t k = 1; k <= 20; k += 1 + v % 2) {
			struct dup_key dk = { k, v };
			void *x = hashmap_find(&m, key_hash(k), dup_eq, &dk);

			ck_assert_ptr_nonnull(x);
			ck_assert_uint_eq(ent_val(x), v);
			hashmap_remove(&m, x);
			ck_assert_ptr_null(
				hashmap_find(&m, key_hash(k), dup_eq, &dk));
		}
	for (uint32_t k = 1; k <= 20; k++)
		for (uint32_t v = 0; v < 10; v++) {
			struct dup_key dk = { k, v };

			ck_assert_int_eq(
				!!hashmap_find(&m, key_hash(k), dup_eq, &dk),
				k % 2 == 0 && v % 2 == 1);
		}
	hashmap_clear(&m);
}
END_TEST

UNIT_TEST("hashmap", test_hash_bytes)
{
	const char a[] = "0123456789abcdefXYZ", b[] = "0123456789abcdefXYz";

	ck_assert_uint_eq(hash_bytes(a, sizeof(a), 1),
			  hash_bytes(a, sizeof(a), 1));
	ck_assert_uint_ne(hash_bytes(a, sizeof(a), 1),
			  hash_bytes(a, sizeof(a), 2));
	ck_assert_uint_ne(hash_bytes(a, sizeof(a), 1),
			  hash_bytes(b, sizeof(b), 1));
	ck_assert_uint_ne(hash_bytes(a, 3, 1), hash_bytes(a, 4, 1));
	ck_assert_uint_ne(hash_bytes(a, 8, 1), hash_bytes(a, 9, 1));
}
END_TEST
