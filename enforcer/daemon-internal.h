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
#include "table.h"
#include "state.h"
#include "watch.h"
#include "detect.h"
#include "nflog.h"

#define JIT_RECENT_ALERTS 256

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
	struct jit_audit *alerts;
	struct jit_watch *watch;
	struct jit_detect *detect;
	struct jit_nflog *nflog;
	json_t *recent_alerts; /* the last JIT_RECENT_ALERTS, oldest first */
	uint16_t mgmt_ports[JIT_ALERT_MGMT_PORTS_MAX * 4];
	size_t n_mgmt_ports;
	unsigned tampers;
	struct jit_io expiry_timer;
	struct jit_io state_timer;
	bool state_dirty;
	bool state_armed;
	bool resync; /* next commit replaces the grant sets' content */
	bool state_failing;
	bool clean_start; /* the last agent exited normally after saving */
	bool enforcing;	  /* setup finished */
	uint64_t state_dirty_since; /* monotonic ms of the first unsaved change
				     */
	uint64_t state_cost_ms;
	struct jit_state_policy *restored; /* policy texts from the state */
	size_t n_restored;
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
/* Keys and remaining times (ms) of every live grant, for a resync. */
int access_live_keys(struct jit_daemon *d, struct jit_grant_key **keys,
		     uint64_t **timeouts_ms, size_t *n);
/*
 * At start: put back the requests of the state file (grants that ended
 * while the agent was down become expired), then adopt grant elements the
 * kernel holds that no record explains (a crash before the state was
 * written), so that nothing approved is closed.
 */
void access_load_state(struct jit_daemon *d, const struct jit_state *st);
int access_adopt_kernel(struct jit_daemon *d);
/* Raise an alert: alerts.log, syslog, `jitctl alerts`, followers. */
void daemon_alert(struct jit_daemon *d, const struct jit_alert_def *def,
		  const char *description, json_t *entities, uint64_t first_ms,
		  uint64_t last_ms, unsigned count);
/* Name of a policy that protects proto/port, or "". */
const char *daemon_policy_for(struct jit_daemon *d, uint8_t proto,
			      uint16_t port);
/* Something the state file records changed: save it soon. */
void daemon_state_changed(struct jit_daemon *d);
/* Arm the expiry timer at the next end of a live grant. */
void access_arm_timer(struct jit_daemon *d);

#endif
