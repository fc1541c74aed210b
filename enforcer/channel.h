/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Channels: the ways a request reaches the decision core besides the
 * control socket (single packet authorization, the fleet). Each is one
 * adapter file: it turns its input into calls of the core (access.h) and
 * its state into a status object; the core audits every decision itself
 * (daemon-audit.c). Channels never call one another, and the daemon knows
 * them only through this table: a new channel is a new file and one line
 * in channels[] (daemon-channels.c).
 */
#ifndef JIT_CHANNEL_H
#define JIT_CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jit_daemon;

/**
 * struct jit_channel - one way in
 * @name: its key in the status ("spa", "fleet")
 * @setup: at start, once the journal is loaded: read its configuration
 *         (absent: off) and join the loop; -errno stops the start
 * @reload: SIGHUP and `jitctl reload`: read its configuration again; a
 *          bad one leaves the one in force
 * @teardown: at exit
 * @status: its state for `jitctl status`
 * @audit_line: every audit line as written (optional: a channel that
 *              ships the audit trail elsewhere)
 * @policies_changed: the policies in force were (re)loaded, initial at
 *                    start (optional; grants they no longer allow are
 *                    revoked by the core already)
 * @flush: write the summary lines of the windows that ended by now_ms
 *         (all: every window, at exit), or other work put off until a
 *         time (the fleet's audit cursor); returns when the next is due,
 *         0 for none (optional)
 * @journal_recovered: the journal is written again after it failed;
 *                     what the channel's decisions lost meanwhile (taken
 *                     back as not recorded) may be asked for again
 *                     (optional)
 */
struct jit_channel {
	const char *name;
	int (*setup)(struct jit_daemon *d);
	int (*reload)(struct jit_daemon *d);
	void (*teardown)(struct jit_daemon *d);
	json_t *(*status)(struct jit_daemon *d);
	void (*audit_line)(struct jit_daemon *d, const char *line);
	void (*policies_changed)(struct jit_daemon *d, bool initial);
	uint64_t (*flush)(struct jit_daemon *d, uint64_t now_ms, bool all);
	void (*journal_recovered)(struct jit_daemon *d);
};

extern const struct jit_channel channel_spa;
extern const struct jit_channel channel_fleet;

/* Every channel, in setup order. */
extern const struct jit_channel *const channels[];
extern const size_t channels_count;

/* Each channel's setup in order; the first error stops (-errno). */
int channels_setup(struct jit_daemon *d);
void channels_reload(struct jit_daemon *d);
void channels_teardown(struct jit_daemon *d);
/* An audit line to the channels that take them. */
void channels_audit_line(struct jit_daemon *d, const char *line);
void channels_policies_changed(struct jit_daemon *d, bool initial);
/* Each channel's flush; the earliest next window end (0: none). */
uint64_t channels_flush(struct jit_daemon *d, uint64_t now_ms, bool all);
void channels_journal_recovered(struct jit_daemon *d);
/* Each channel's status into obj under its name. */
void channels_status(struct jit_daemon *d, json_t *obj);

#endif
