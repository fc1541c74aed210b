/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every unit-test binary shares: a test names its case where it is
 * defined, and main() builds the Check suite from what the file defines.
 *
 *	UNIT_TEST("parse", test_bad_json)
 *	{
 *		...
 *	}
 *	END_TEST
 *
 * UNIT_LOOP_TEST(case, name, count) runs its body count times with _i from
 * 0, count being evaluated when the suite is built (so it may be a golden
 * directory's size). UNIT_CASE(case, ...) sets a case's fixtures and
 * timeout with designated initialisers of struct unit_case; UNIT_ALL_CASES
 * as the case gives them to every case of the file. Cases run in the order
 * of their first test in the file, and tests in the order they are written.
 * The binary exits non-zero on any failure.
 */
#ifndef JIT_TEST_RUNNER_H
#define JIT_TEST_RUNNER_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_case {
	const char *name;		/* NULL (UNIT_ALL_CASES): every case */
	SFun setup, teardown;		/* around each test, in its process */
	SFun setup_once, teardown_once; /* once around the whole case */
	int timeout_s;			/* 0: Check's default */
};

struct unit_test {
	const char *case_name;
	const TTest *test;
	int (*count)(void);
};

#define UNIT_ALL_CASES NULL
#define UNIT_MAX_TESTS 64
#define UNIT_MAX_CASES 16

static struct unit_test unit_tests[UNIT_MAX_TESTS];
static const struct unit_case *unit_cases[UNIT_MAX_CASES];
static size_t unit_ntests, unit_ncases;

static void unit_overflow(const char *what)
{
	fprintf(stderr, "runner.h: more %s than it holds\n", what);
	exit(EXIT_FAILURE);
}

static inline void unit_add_test(const char *case_name, const TTest *test,
				 int (*count)(void))
{
	if (unit_ntests == UNIT_MAX_TESTS)
		unit_overflow("tests");
	unit_tests[unit_ntests++] =
		(struct unit_test){ case_name, test, count };
}

static inline void unit_add_case(const struct unit_case *c)
{
	if (unit_ncases == UNIT_MAX_CASES)
		unit_overflow("case settings");
	unit_cases[unit_ncases++] = c;
}

#define UNIT_CAT_(a, b) a##b
#define UNIT_CAT(a, b)	UNIT_CAT_(a, b)

#define UNIT_CASE(case_name, ...)                                         \
	static const struct unit_case UNIT_CAT(unit_case_, __LINE__);     \
	__attribute__((constructor)) static void UNIT_CAT(unit_case_add_, \
							  __LINE__)(void) \
	{                                                                 \
		unit_add_case(&UNIT_CAT(unit_case_, __LINE__));           \
	}                                                                 \
	static const struct unit_case UNIT_CAT(                           \
		unit_case_, __LINE__) = { .name = case_name, __VA_ARGS__ }

#define UNIT_LOOP_TEST(case_name, test, n)                              \
	static void test##_fn(int _i CK_ATTRIBUTE_UNUSED);              \
	static int test##_count(void)                                   \
	{                                                               \
		return (int)(n);                                        \
	}                                                               \
	static const TTest test##_ttest = { #test, test##_fn, __FILE__, \
					    __LINE__ };                 \
	__attribute__((constructor)) static void test##_register(void)  \
	{                                                               \
		unit_add_test(case_name, &test##_ttest, test##_count);  \
	}                                                               \
	static void test##_fn(int _i CK_ATTRIBUTE_UNUSED)

#define UNIT_TEST(case_name, test) UNIT_LOOP_TEST(case_name, test, 1)

static int unit_by_line(const void *a, const void *b)
{
	const struct unit_test *x = a, *y = b;

	return (x->test->line > y->test->line) -
	       (x->test->line < y->test->line);
}

static void unit_apply(TCase *tc, const struct unit_case *c)
{
	if (c->setup || c->teardown)
		tcase_add_checked_fixture(tc, c->setup, c->teardown);
	if (c->setup_once || c->teardown_once)
		tcase_add_unchecked_fixture(tc, c->setup_once,
					    c->teardown_once);
	if (c->timeout_s)
		tcase_set_timeout(tc, c->timeout_s);
}

/* The case named name, made (with its settings) the first time. */
static TCase *unit_case_of(Suite *s, const char *name, TCase **made,
			   const char **names, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return made[i];
	if (*n == UNIT_MAX_CASES)
		unit_overflow("cases");
	names[*n] = name;
	made[*n] = tcase_create(name);
	for (i = 0; i < unit_ncases; i++)
		if (!unit_cases[i]->name || !strcmp(unit_cases[i]->name, name))
			unit_apply(made[*n], unit_cases[i]);
	suite_add_tcase(s, made[*n]);
	return made[(*n)++];
}

int main(void)
{
	Suite *s = suite_create(program_invocation_short_name);
	const char *names[UNIT_MAX_CASES];
	TCase *made[UNIT_MAX_CASES];
	size_t i, ncases = 0;
	SRunner *sr;
	int failed;

	/* Constructors run in no promised order; the file's order is kept. */
	qsort(unit_tests, unit_ntests, sizeof(*unit_tests), unit_by_line);
	for (i = 0; i < unit_ntests; i++) {
		const struct unit_test *t = &unit_tests[i];

		tcase_add_loop_test(
			unit_case_of(s, t->case_name, made, names, &ncases),
			t->test, 0, t->count());
	}
	for (i = 0; i < unit_ncases; i++) {
		const char *name = unit_cases[i]->name;
		size_t j = 0;

		while (name && j < ncases && strcmp(names[j], name))
			j++;
		if (name && j == ncases) {
			fprintf(stderr, "UNIT_CASE(\"%s\"): no test in it\n",
				name);
			return EXIT_FAILURE;
		}
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY=verbose lists each test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
