/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "spa-window.h"

const char *spa_kind_name(enum jit_spa_kind k)
{
	static const char *const names[JIT_SPA_K_COUNT] = {
		[JIT_SPA_K_STALE] = "stale",
		[JIT_SPA_K_BAD_DATA] = "bad_data",
		[JIT_SPA_K_REPLAY] = "replay",
		[JIT_SPA_K_REFUSED] = "refused",
		[JIT_SPA_K_BAD_HMAC] = "bad_hmac",
	};

	return (unsigned)k < JIT_SPA_K_COUNT ? names[k] : "unknown";
}

void spa_window_init(struct jit_spa_window *w, uint64_t length_ms,
		     jit_spa_told_fn told, void *ctx)
{
	*w = (struct jit_spa_window){
		.length_ms = length_ms ? length_ms : JIT_SPA_WINDOW_MS,
		/* The first packet starts a window of its own. */
		.number = 1,
		.told = told,
		.ctx = ctx,
	};
}

bool spa_window_pending(const struct jit_spa_window *w)
{
	for (int k = 0; k < JIT_SPA_K_COUNT; k++)
		if (w->suppressed[k] || w->alerts_suppressed[k])
			return true;
	return false;
}

/* A new window from now_ms on, after telling the one that ends. */
static void start_over(struct jit_spa_window *w, uint64_t now_ms)
{
	if (spa_window_pending(w) && w->told)
		w->told(w->ctx, w, now_ms);
	w->number++;
	w->start_ms = now_ms;
	w->lines = w->sources = 0;
	memset(w->suppressed, 0, sizeof(w->suppressed));
	memset(w->alerts, 0, sizeof(w->alerts));
	memset(w->alerts_suppressed, 0, sizeof(w->alerts_suppressed));
}

void spa_window_roll(struct jit_spa_window *w, uint64_t now_ms)
{
	if (!w->start_ms || now_ms - w->start_ms >= w->length_ms)
		start_over(w, now_ms);
}

/* t as counted in this window: a tally of an earlier one starts over. */
static struct jit_spa_tally *tally_now(struct jit_spa_window *w,
				       struct jit_spa_tally *t)
{
	if (t && t->window != w->number)
		*t = (struct jit_spa_tally){ .window = w->number };
	return t;
}

void spa_window_count(struct jit_spa_window *w, struct jit_spa_tally *t,
		      enum jit_spa_kind k, uint64_t now_ms)
{
	spa_window_roll(w, now_ms);
	t = tally_now(w, t);
	w->suppressed[k]++;
	if (t && !t->counted++)
		w->sources++;
}

bool spa_window_line(struct jit_spa_window *w, struct jit_spa_tally *t,
		     enum jit_spa_kind k, uint64_t now_ms)
{
	spa_window_roll(w, now_ms);
	t = tally_now(w, t);
	if ((!t || t->lines < JIT_SPA_LINES_PER_SOURCE) &&
	    w->lines < JIT_SPA_LINES_PER_WINDOW) {
		w->lines++;
		if (t)
			t->lines++;
		return true;
	}
	spa_window_count(w, t, k, now_ms);
	return false;
}

bool spa_window_alert(struct jit_spa_window *w, enum jit_spa_kind k,
		      uint64_t now_ms)
{
	spa_window_roll(w, now_ms);
	if (w->alerts[k] < JIT_SPA_ALERTS_PER_WINDOW) {
		w->alerts[k]++;
		return true;
	}
	w->alerts_suppressed[k]++;
	return false;
}

unsigned spa_window_counted(const struct jit_spa_window *w,
			    const struct jit_spa_tally *t)
{
	return t->window == w->number ? t->counted : 0;
}

uint64_t spa_window_flush(struct jit_spa_window *w, uint64_t now_ms, bool all)
{
	if (!spa_window_pending(w))
		return 0;
	if (all || now_ms - w->start_ms >= w->length_ms) {
		start_over(w, now_ms);
		return 0;
	}
	return w->start_ms + w->length_ms;
}
