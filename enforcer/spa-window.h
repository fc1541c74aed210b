/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The window of refused SPA packets (stale, bad data, replays, refused by
 * the stanza or the policies): up to JIT_SPA_LINES_PER_SOURCE per source
 * and JIT_SPA_LINES_PER_WINDOW from all sources are audited one by one in
 * a window; the rest are counted, and when the window ends its counts are
 * told (one line). Alerts about SPA packets: at most
 * JIT_SPA_ALERTS_PER_WINDOW of each kind, then one that says how many
 * more. Every window starts over: a few lines in full again, then counts
 * of its own. Time is a parameter (monotonic ms), so tests drive it.
 */
#ifndef JIT_SPA_WINDOW_H
#define JIT_SPA_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define JIT_SPA_WINDOW_MS	  60000
#define JIT_SPA_LINES_PER_SOURCE  10
#define JIT_SPA_LINES_PER_WINDOW  30
#define JIT_SPA_ALERTS_PER_WINDOW 5

enum jit_spa_kind {
	JIT_SPA_K_STALE,
	JIT_SPA_K_BAD_DATA,
	JIT_SPA_K_REPLAY,
	JIT_SPA_K_REFUSED,
	JIT_SPA_K_BAD_HMAC,
	JIT_SPA_K_COUNT,
};

/* "stale", "bad_data", "replay", "refused", "bad_hmac". */
const char *spa_kind_name(enum jit_spa_kind k);

/* One source's share of a window (zeroed: none yet). */
struct jit_spa_tally {
	uint64_t window; /* the window it counts in (its number) */
	unsigned lines;	 /* audited one by one */
	unsigned counted;
};

struct jit_spa_window;
/* A window ended with something counted: tell it (one line, alerts). */
typedef void (*jit_spa_told_fn)(void *ctx, const struct jit_spa_window *w,
				uint64_t now_ms);

/**
 * struct jit_spa_window - the window of refused SPA packets
 * @length_ms: how long a window lasts
 * @number: which window this is (a tally of another one is stale)
 * @start_ms: when it started (monotonic)
 * @lines: audited one by one in it
 * @suppressed: counted instead, by kind
 * @sources: sources with a packet counted
 * @alerts: alerts raised, by kind
 * @alerts_suppressed: alerts counted instead, by kind
 */
struct jit_spa_window {
	uint64_t length_ms;
	uint64_t number;
	uint64_t start_ms;
	unsigned lines;
	uint64_t suppressed[JIT_SPA_K_COUNT];
	unsigned sources;
	unsigned alerts[JIT_SPA_K_COUNT];
	unsigned alerts_suppressed[JIT_SPA_K_COUNT];
	jit_spa_told_fn told;
	void *ctx;
};

/* length_ms 0: JIT_SPA_WINDOW_MS. */
void spa_window_init(struct jit_spa_window *w, uint64_t length_ms,
		     jit_spa_told_fn told, void *ctx);
/* Something counted that is not told yet. */
bool spa_window_pending(const struct jit_spa_window *w);
/* The window at now_ms: the one before told first if it ended. */
void spa_window_roll(struct jit_spa_window *w, uint64_t now_ms);
/*
 * A refused packet of kind k, from the source of t (NULL: not known):
 * true if it gets its own line, false if it was counted instead.
 */
bool spa_window_line(struct jit_spa_window *w, struct jit_spa_tally *t,
		     enum jit_spa_kind k, uint64_t now_ms);
/* Count one without a line. */
void spa_window_count(struct jit_spa_window *w, struct jit_spa_tally *t,
		      enum jit_spa_kind k, uint64_t now_ms);
/* Whether an alert of kind k goes out, or is counted. */
bool spa_window_alert(struct jit_spa_window *w, enum jit_spa_kind k,
		      uint64_t now_ms);
/* t's count in w (0 if it counts in another window). */
unsigned spa_window_counted(const struct jit_spa_window *w,
			    const struct jit_spa_tally *t);
/*
 * Tell the window if it ended by now_ms (or, with all, now). Returns when
 * it ends if something waits to be told, else 0.
 */
uint64_t spa_window_flush(struct jit_spa_window *w, uint64_t now_ms, bool all);

#endif
