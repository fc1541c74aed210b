/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON-lines logs: the audit trail (one object per request, decision,
 * expiry and revoke) and the alert log, each in a file and in syslog.
 */
#ifndef JIT_AUDIT_H
#define JIT_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

struct jit_audit;

/*
 * Open (create, append, mode 0640) a JSON-lines log. path NULL: syslog only.
 * tag starts the syslog line ("audit", "alert"); priority is the syslog
 * facility and level.
 */
int audit_open(const char *path, bool use_syslog, const char *tag, int priority,
	       struct jit_audit **ret);
struct jit_audit *audit_close(struct jit_audit *a);
/*
 * Make a the audit trail: every line gets "host" after "time", and the
 * schema's fields (event, result, channel, policy, ports, requestor,
 * source, actor) it lacks as null ("channel": "agent"); see
 * docs/audit-schema.json.
 */
void audit_set_trail(struct jit_audit *a);
/* This host's name, as the audit lines and alerts give it. */
const char *audit_host(void);
/* The name audit lines and alerts carry (the fleet's host name when fleet
 * mode is on); NULL or "" goes back to the hostname. */
void audit_set_host(const char *name);

/*
 * Record one event; takes the reference. "time" (ISO 8601 UTC with
 * milliseconds) is added first. Returns 0 or -errno if the file write
 * failed (syslog still got it).
 */
int audit_event(struct jit_audit *a, json_t *event);
/*
 * The same, and *line (if not NULL) gets the line as written (malloc'ed,
 * without its newline), or NULL without memory.
 */
int audit_event_line(struct jit_audit *a, json_t *event, char **line);

#endif
