/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The window of refused SPA packets, with the clock in the test's hands:
 * a few lines in full, then counts; at the end one tally of the window,
 * and the next window starts over with counts of its own.
 */
#include <check.h>
#include <string.h>

#include "spa-window.h"
#include "runner.h"

#define T0 1000000u

/* What the window told, as it was when it ended. */
struct told {
	unsigned n;
	struct jit_spa_window w[4];
	unsigned a[4], b[4]; /* the two sources' counts in it */
	uint64_t at[4];
	struct jit_spa_tally *ta, *tb;
};

static void record(void *ctx, const struct jit_spa_window *w, uint64_t now_ms)
{
	struct told *t = ctx;

	ck_assert_uint_lt(t->n, 4);
	t->w[t->n] = *w;
	t->a[t->n] = t->ta ? spa_window_counted(w, t->ta) : 0;
	t->b[t->n] = t->tb ? spa_window_counted(w, t->tb) : 0;
	t->at[t->n++] = now_ms;
}

/* n packets of kind k from t's source at now: how many had a line. */
static unsigned send(struct jit_spa_window *w, struct jit_spa_tally *t,
		     enum jit_spa_kind k, unsigned n, uint64_t now)
{
	unsigned lines = 0;

	for (unsigned i = 0; i < n; i++)
		lines += spa_window_line(w, t, k, now);
	return lines;
}

UNIT_TEST("window", test_two_windows)
{
	struct jit_spa_tally a = { 0 }, b = { 0 }, others[20];
	struct told told = { .ta = &a, .tb = &b };
	struct jit_spa_window w;
	unsigned lines = 0, sent = 0, counted = 0;

	memset(others, 0, sizeof(others));
	spa_window_init(&w, 0, record, &told);
	ck_assert_uint_eq(w.length_ms, JIT_SPA_WINDOW_MS);

	/* Window 1: source a floods from its start, source b from its
	 * middle; then 20 sources, one packet each. */
	ck_assert_uint_eq(send(&w, &a, JIT_SPA_K_REFUSED, 25, T0), 10);
	ck_assert_uint_eq(send(&w, &b, JIT_SPA_K_STALE, 25, T0 + 30000), 10);
	for (int i = 0; i < 20; i++)
		lines += send(&w, &others[i], JIT_SPA_K_REPLAY, 1, T0 + 31000);
	/* 30 lines in a window, from all sources. */
	ck_assert_uint_eq(lines, 10);
	sent = 25 + 25 + 20;
	ck_assert(spa_window_pending(&w));
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 59999, false),
			  T0 + JIT_SPA_WINDOW_MS);
	ck_assert_uint_eq(told.n, 0);

	/* Window 2 starts with a's next packet, which has a line again:
	 * window 1 is told first, with its own counts. */
	ck_assert_uint_eq(send(&w, &a, JIT_SPA_K_REFUSED, 1, T0 + 60000), 1);
	ck_assert_uint_eq(told.n, 1);
	ck_assert_uint_eq(told.at[0], T0 + 60000);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_REFUSED], 15);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_STALE], 15);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_REPLAY], 10);
	ck_assert_uint_eq(told.w[0].sources, 12);
	ck_assert_uint_eq(told.a[0], 15);
	ck_assert_uint_eq(told.b[0], 15);
	ck_assert_uint_eq(told.w[0].lines, 30);
	for (int k = 0; k < JIT_SPA_K_COUNT; k++)
		counted += (unsigned)told.w[0].suppressed[k];
	ck_assert_uint_eq(told.w[0].lines + counted, sent);

	/* b began half-way through window 1: in window 2 it too has its
	 * few lines in full again, then counts. */
	ck_assert_uint_eq(send(&w, &a, JIT_SPA_K_REFUSED, 14, T0 + 60001), 9);
	ck_assert_uint_eq(send(&w, &b, JIT_SPA_K_STALE, 12, T0 + 60002), 10);
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 119999, false),
			  T0 + 120000);
	ck_assert_uint_eq(told.n, 1);
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 120000, false), 0);
	ck_assert_uint_eq(told.n, 2);
	ck_assert_uint_eq(told.w[1].suppressed[JIT_SPA_K_REFUSED], 5);
	ck_assert_uint_eq(told.w[1].suppressed[JIT_SPA_K_STALE], 2);
	ck_assert_uint_eq(told.w[1].suppressed[JIT_SPA_K_REPLAY], 0);
	ck_assert_uint_eq(told.w[1].sources, 2);
	ck_assert_uint_eq(told.a[1], 5);
	ck_assert_uint_eq(told.b[1], 2);
	ck_assert_uint_eq(told.w[1].lines, 20);
	/* Told once: window 3 has nothing to tell. */
	ck_assert(!spa_window_pending(&w));
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 500000, true), 0);
	ck_assert_uint_eq(told.n, 2);
}
END_TEST

UNIT_TEST("window", test_quiet_window_tells_nothing)
{
	struct jit_spa_tally a = { 0 };
	struct told told = { .ta = &a };
	struct jit_spa_window w;

	spa_window_init(&w, 2000, record, &told);
	ck_assert_uint_eq(send(&w, &a, JIT_SPA_K_STALE, 10, T0), 10);
	ck_assert(!spa_window_pending(&w));
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 5000, false), 0);
	/* Its next window: lines in full again, the window's length apart. */
	ck_assert_uint_eq(send(&w, &a, JIT_SPA_K_STALE, 11, T0 + 5000), 10);
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 6000, false), T0 + 7000);
	ck_assert_uint_eq(told.n, 0);
	ck_assert_uint_eq(spa_window_flush(&w, T0 + 6000, true), 0);
	ck_assert_uint_eq(told.n, 1);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_STALE], 1);
	ck_assert_uint_eq(told.a[0], 1);
}
END_TEST

UNIT_TEST("window", test_unknown_source_counts_without_source)
{
	struct told told = { 0 };
	struct jit_spa_window w;

	spa_window_init(&w, 0, record, &told);
	ck_assert_uint_eq(send(&w, NULL, JIT_SPA_K_BAD_DATA, 40, T0), 30);
	spa_window_count(&w, NULL, JIT_SPA_K_REPLAY, T0);
	ck_assert_uint_eq(spa_window_flush(&w, T0, true), 0);
	ck_assert_uint_eq(told.n, 1);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_BAD_DATA], 10);
	ck_assert_uint_eq(told.w[0].suppressed[JIT_SPA_K_REPLAY], 1);
	ck_assert_uint_eq(told.w[0].sources, 0);
}
END_TEST

UNIT_TEST("window", test_alerts_per_window)
{
	struct told told = { 0 };
	struct jit_spa_window w;
	unsigned raised = 0;

	spa_window_init(&w, 0, record, &told);
	for (int i = 0; i < 50; i++)
		raised += spa_window_alert(&w, JIT_SPA_K_REPLAY, T0 + i);
	ck_assert_uint_eq(raised, JIT_SPA_ALERTS_PER_WINDOW);
	/* Another kind has its own bound. */
	ck_assert(spa_window_alert(&w, JIT_SPA_K_BAD_HMAC, T0 + 100));
	ck_assert(spa_window_pending(&w));
	/* The next window raises its first ones again; the one before is
	 * told with the count it held back. */
	raised = 0;
	for (int i = 0; i < 7; i++)
		raised += spa_window_alert(&w, JIT_SPA_K_REPLAY,
					   T0 + JIT_SPA_WINDOW_MS + i);
	ck_assert_uint_eq(raised, JIT_SPA_ALERTS_PER_WINDOW);
	ck_assert_uint_eq(told.n, 1);
	ck_assert_uint_eq(told.w[0].alerts_suppressed[JIT_SPA_K_REPLAY], 45);
	ck_assert_uint_eq(told.w[0].alerts_suppressed[JIT_SPA_K_BAD_HMAC], 0);
	ck_assert_uint_eq(spa_window_flush(&w, T0, true), 0);
	ck_assert_uint_eq(told.n, 2);
	ck_assert_uint_eq(told.w[1].alerts_suppressed[JIT_SPA_K_REPLAY], 2);
}
END_TEST

UNIT_TEST("window", test_kind_names)
{
	ck_assert_str_eq(spa_kind_name(JIT_SPA_K_STALE), "stale");
	ck_assert_str_eq(spa_kind_name(JIT_SPA_K_REFUSED), "refused");
	ck_assert_str_eq(spa_kind_name(JIT_SPA_K_BAD_HMAC), "bad_hmac");
}
END_TEST
