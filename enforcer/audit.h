/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit trail: one JSON object per line for every request, decision,
 * expiry and revoke, in a file and in syslog (authpriv).
 */
#ifndef JIT_AUDIT_H
#define JIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

struct jit_audit;

/* Open (create, append, mode 0640) the log file. path NULL: syslog only. */
int audit_open(const char *path, bool use_syslog, struct jit_audit **ret);
struct jit_audit *audit_close(struct jit_audit *a);

/*
 * Record one event; takes the reference. "time" (ISO 8601 UTC with
 * milliseconds) is added first. Returns 0 or -errno if the file write
 * failed (syslog still got it).
 */
int audit_event(struct jit_audit *a, json_t *event);

#endif
