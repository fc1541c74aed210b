/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The systemd readiness protocol (sd_notify), without libsystemd. */
#ifndef JIT_NOTIFY_H
#define JIT_NOTIFY_H

/*
 * Send state ("READY=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET if
 * set. Returns 1 if sent, 0 if not under a notify-aware manager, -errno.
 */
int notify_send(const char *state);

#endif
