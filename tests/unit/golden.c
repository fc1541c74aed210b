/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "util.h"

char *golden_read(const char *path, size_t *len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		ck_assert_int_eq(grow_array((void **)&buf, &cap, n + 4096, 1),
				 0);
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t golden_count(struct golden_set *set)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	if (set->listed)
		return set->n;
	if (!(d = opendir(set->dir))) {
		fprintf(stderr, "cannot open %s\n", set->dir);
		exit(EXIT_FAILURE);
	}
	while ((de = readdir(d))) {
		if (!str_has_suffix(de->d_name, set->suffix))
			continue;
		if (grow_array((void **)&set->names, &cap, set->n + 1,
			       sizeof(*set->names)) < 0 ||
		    !(set->names[set->n++] = strdup(de->d_name)))
			abort();
	}
	closedir(d);
	if (set->n)
		qsort(set->names, set->n, sizeof(*set->names), cmp_str);
	set->listed = true;
	return set->n;
}

void golden_compare(const char *dir, const char *base, const char *actual)
{
	_cleanup_free_ char *path = NULL, *expected = NULL;
	const char *update = getenv("UPDATE_GOLDEN");

	ck_assert_int_ge(asprintf(&path, "%s/%s.out", dir, base), 0);
	if (update && streq(update, "1")) {
		_cleanup_fclose_ FILE *f = fopen(path, "we");

		ck_assert_msg(f, "cannot write %s", path);
		ck_assert_int_ge(fputs(actual, f), 0);
	}
	expected = golden_read(path, NULL);
	ck_assert_msg(expected, "missing %s (run with UPDATE_GOLDEN=1)", path);
	ck_assert_msg(streq(expected, actual),
		      "%s differs.\n--- expected\n%s--- actual\n%s", base,
		      expected, actual);
}

char *scratch_dir(const char *name)
{
	char *path;

	if (asprintf(&path, "/tmp/%s-XXXXXX", name) < 0 || !mkdtemp(path)) {
		perror("scratch_dir");
		exit(2);
	}
	return path;
}

void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			continue;
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}
