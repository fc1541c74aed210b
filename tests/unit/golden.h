/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Golden-file helpers for the unit tests: list the inputs of a golden
 * directory, and compare output with NAME.out (UPDATE_GOLDEN=1 rewrites it;
 * review the diff before committing).
 */
#ifndef JIT_TEST_GOLDEN_H
#define JIT_TEST_GOLDEN_H

#include <stdbool.h>
#include <stddef.h>

/* A whole file, NUL-terminated, or NULL if it cannot be opened. */
char *golden_read(const char *path, size_t *len);
/* The inputs of a golden directory: the sorted names (not paths) of its
 * files ending in suffix, listed when first counted and kept until exit. */
struct golden_set {
	const char *dir, *suffix;
	char **names;
	size_t n;
	bool listed;
};

/* How many inputs set has; exits if its directory cannot be read. */
size_t golden_count(struct golden_set *set);
/* Assert that actual equals dir/base.out (or write it with UPDATE_GOLDEN=1). */
void golden_compare(const char *dir, const char *base, const char *actual);
bool str_has_suffix(const char *s, const char *suffix);

/* A new empty directory under /tmp (malloc'd path); exits on failure. */
char *scratch_dir(const char *name);
/* Remove dir and the files in it (one level, as the tests make them). */
void rm_rf(const char *dir);

#endif
