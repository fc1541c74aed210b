/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's state, shared by daemon.c (the loop) and access.c (grants). */
#ifndef JIT_DAEMON_INTERNAL_H
#define JIT_DAEMON_INTERNAL_H

#include <jansson.h>

#include "audit.h"
#include "control.h"
#include "daemon.h"
#include "grant.h"
#include "loop.h"
#include "policy.h"
#include "ruleset.h"

struct jit_daemon {
	const struct jit_config *cfg;
	int epfd;
	struct jit_io sig;
	struct jit_io inotify;
	struct jit_io reload_timer;
	struct jit_io sessions_timer;
	struct jit_session *sessions; /* as committed */
	size_t n_sessions;
	struct jit_policy_set *policies;
	struct jit_ruleset *ruleset;
	struct jit_table *table;
	struct jit_control *control;
	struct jit_grants *grants;
	struct jit_audit *audit;
	struct jit_io expiry_timer;
	char *policy_errors; /* rendered diagnostics of rejected files */
	uint64_t started_ms;
	uint64_t last_reload_ms;
	unsigned reloads;
	bool quit;
};

/* Control ops of the request lifecycle (access.c). */
json_t *access_request(struct jit_daemon *d, const struct jit_peer *peer,
		       json_t *msg);
json_t *access_approve(struct jit_daemon *d, const struct jit_peer *peer,
		       json_t *msg);
json_t *access_deny(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg);
json_t *access_revoke(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *msg);
json_t *access_list(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg, bool grants_only);
/* Record grants whose end has come; re-arm the expiry timer. */
void access_expire(struct jit_daemon *d);
/* After a policy change: revoke grants the policies no longer allow. */
void access_recheck(struct jit_daemon *d);
/* After the table was replaced whole: put the live grants back. */
int access_restore_kernel(struct jit_daemon *d);
/* Arm the expiry timer at the next end of a live grant. */
void access_arm_timer(struct jit_daemon *d);

#endif
