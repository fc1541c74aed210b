/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's state, shared by daemon.c (the loop) and api.c (the protocol). */
#ifndef JIT_DAEMON_INTERNAL_H
#define JIT_DAEMON_INTERNAL_H

#include <jansson.h>

#include "access.h"
#include "api.h"
#include "audit.h"
#include "cover.h"
#include "journal.h"
#include "control.h"
#include "daemon.h"
#include "grant.h"
#include "loop.h"
#include "policy.h"
#include "ruleset.h"
#include "table.h"
#include "sockdiag.h"
#include "state.h"
#include "watch.h"
#include "detect.h"
#include "hashmap.h"
#include "nflog.h"
#include "replay.h"
#include "spa.h"

#define JIT_RECENT_ALERTS 256
/* Sources whose failed SPA packets are counted (the oldest is forgotten). */
#define JIT_SPA_FAIL_SOURCES 256

/* A source sending SPA packets that fail: bad HMAC, or replays. */
struct jit_spa_source {
	struct jit_prefix src;
	uint64_t first_ms, last_ms;
	unsigned bad_hmac, replays; /* in this window; alerts go at 5, at 1 */
};

/* An SPA packet that waits for its digest to be durable. */
struct jit_spa_item {
	struct jit_prefix src;
	struct jit_spa_result res;
	int err; /* the digest could not be recorded */
};

/**
 * struct jit_spa_state - single packet authorization
 * @conf: the access file in force, or NULL (SPA off)
 * @errors: why the last reload of it failed, or NULL
 * @nflog: the NFLOG group the table copies SPA packets to
 * @batch: the packets of this read, until their digests are synced
 * @fails: recent failures by source (the first replaced when full)
 * @fail_index: finds a source's entry
 * @c_*: counters since start
 */
struct jit_spa_state {
	struct jit_spa_conf *conf;
	char *errors;
	struct jit_nflog *nflog;
	struct jit_spa_item *batch;
	size_t n_batch, cap_batch;
	struct jit_spa_source fails[JIT_SPA_FAIL_SOURCES];
	size_t n_fails, next_victim;
	struct hashmap fail_index; /* source -> 1 + index in fails */
	uint64_t seed;
	uint64_t last_prune_ms;
	uint64_t c_packets, c_ignored, c_no_stanza, c_bad_hmac, c_replays,
		c_stale, c_bad_data, c_refused, c_accepted, c_not_recorded;
};

/* Decisions kept for `jitctl events` without --follow. */
#define JIT_RECENT_EVENTS 1000
/* (event, result) pairs the metrics count decisions by. */
#define JIT_DECISION_KINDS  32
#define JIT_ALERT_TYPES_MAX 16

/* One decision as followers got it: its audit line, and whose it is. */
struct jit_event {
	char *line;
	uint32_t uid;
	char policy[JIT_POLICY_NAME_MAX + 1];
};

/**
 * struct jit_counters - what the metrics report, counted as it happens
 * @decisions: audit-trail lines by event and result
 * @alerts: alerts raised, by type (alert_defs order, then others)
 * @tamper_restored: changes by other processes undone
 * @tamper_failed: such changes the agent could not undo
 * @last_sync_ms: when the journal was last made durable (0: not yet)
 */
struct jit_counters {
	struct {
		char event[16], result[16];
		uint64_t n;
	} decisions[JIT_DECISION_KINDS];
	size_t n_decisions;
	struct {
		const char *type, *severity;
		uint64_t n;
	} alerts[JIT_ALERT_TYPES_MAX];
	size_t n_alerts;
	uint64_t tamper_restored, tamper_failed;
	uint64_t last_sync_ms;
};

/* A grant answered in this pass: its reply waits for the journal sync. */
struct jit_pass_grant {
	uint64_t id;
	json_t *reply;
};

/*
 * Refusals of one user (root excepted) are audited one by one up to
 * JIT_REFUSALS_PER_WINDOW in JIT_REFUSALS_WINDOW_MS; the rest of the window
 * are counted, and one line says how many when it ends. A user who sends
 * refused requests without pause cannot fill the disk nor push everyone
 * else's events out of the ring.
 */
#define JIT_REFUSALS_WINDOW_MS	10000
#define JIT_REFUSALS_PER_WINDOW 20
#define JIT_REFUSAL_USERS	32

struct jit_refusal_window {
	bool used;
	uint32_t uid;
	char user[JIT_USER_MAX];
	uint64_t start_ms;
	unsigned n, suppressed;
};

struct jit_daemon {
	const struct jit_config *cfg;
	int epfd;
	struct jit_io sig;
	struct jit_io inotify;
	int dir_wd;		 /* watch on the policy directory, or -1 */
	int parent_wd;		 /* watch on its parent (it may be swapped) */
	bool policy_dir_missing; /* the last reload found no directory */
	struct jit_io reload_timer;
	struct jit_io refusals_timer; /* the end of a refusal window */
	struct jit_io sessions_timer;
	struct jit_session *sessions;	 /* as committed */
	struct jit_sockwatch *sockwatch; /* closed sockets, to drop sessions */
	size_t n_sessions;
	struct jit_policy_set *policies;
	struct jit_ruleset *ruleset;
	struct jit_table *table;
	struct jit_control *control;
	struct jit_audit *audit;
	struct jit_audit *alerts;
	struct jit_watch *watch;
	struct jit_detect *detect;
	struct jit_nflog *nflog;
	struct jit_replay *replay; /* digests of accepted SPA packets */
	struct jit_spa_state spa;
	json_t *recent_alerts;	  /* the last JIT_RECENT_ALERTS, oldest first */
	struct jit_event *events; /* ring of the last JIT_RECENT_EVENTS */
	size_t n_events, first_event;
	struct jit_counters counters;
	struct jit_refusal_window refusals[JIT_REFUSAL_USERS];
	uint16_t mgmt_ports[JIT_ALERT_MGMT_PORTS_MAX * 4];
	size_t n_mgmt_ports;
	unsigned tampers;
	struct jit_io expiry_timer;
	struct jit_access access;    /* records, cover and journal */
	struct jit_pass_grant *pass; /* grants answered in this loop pass */
	size_t n_pass, cap_pass;
	bool journal_alerted; /* the degraded alert went out */
	bool resync;	      /* next commit replaces the grant sets' content */
	bool clean_start;     /* the last agent exited normally after syncing */
	bool enforcing;	      /* setup finished */
	struct jit_state_policy *restored; /* policy texts from the journal */
	uint64_t *start_check; /* ids to look for in the kernel at start */
	size_t n_start_check;
	bool start_check_all;
	size_t n_restored;
	char *policy_errors; /* rendered diagnostics of rejected files */
	uint64_t started_ms;
	uint64_t last_reload_ms;
	unsigned reloads;
	bool quit;
};

/* Raise an alert: alerts.log, syslog, `jitctl alerts`, followers. */
/* The policy in force named name, or NULL. */
const struct jit_policy *daemon_policy_named(struct jit_daemon *d,
					     const char *name);
/* A follower's identity, from its state (NULL: none could be had). */
const struct jit_identity *daemon_viewer_id(void *state);
/*
 * Who may see an alert: one about a request follows its record, as the
 * listings and events do (authz_may_see); one about denied packets names
 * no request and is for anyone who may use the socket.
 */
bool daemon_alert_may_see(struct jit_daemon *d, json_t *alert,
			  const struct jit_identity *id);
void daemon_alert(struct jit_daemon *d, const struct jit_alert_def *def,
		  const char *description, json_t *entities, uint64_t first_ms,
		  uint64_t last_ms, unsigned count);
/* Name of a policy that protects proto/port, or "". */
const char *daemon_policy_for(struct jit_daemon *d, uint8_t proto,
			      uint16_t port);
/* daemon-commit.c: policies to kernel. */
/* Reload the policy directory and bring the kernel in line. */
int daemon_reload(struct jit_daemon *d, bool initial);
/* Commit rs with the sessions connected right now (and, with d->resync,
 * the grant sets whole). */
int daemon_commit(struct jit_daemon *d, const struct jit_ruleset *rs);
/* Commit again if the sessions older than conntrack changed. */
void daemon_refresh_sessions(struct jit_daemon *d);
/*
 * A session may pass only while its socket lives: drop the listed ones
 * whose socket is gone (after a revoke), or the one that just closed
 * (s NULL: notifications were lost, look at all). sockwatch's callback.
 */
void daemon_prune_sessions(struct jit_daemon *d);
int daemon_session_closed(const struct jit_sock *s, void *userdata);
/* Management ports for posture: the policies' extra ones. */
void daemon_collect_mgmt_ports(struct jit_daemon *d);

/* daemon-spa.c: single packet authorization. */
/* Load the access file (if any) and bind its NFLOG group; -errno. */
int daemon_spa_setup(struct jit_daemon *d);
/* Read the access file again; on errors the one in force stays. */
int daemon_spa_reload(struct jit_daemon *d);
void daemon_spa_teardown(struct jit_daemon *d);
json_t *daemon_spa_status(struct jit_daemon *d);

/* daemon-views.c: what the control socket shows. */
/* Anything ready for the loop (a request, a timer): a listing gives way. */
bool daemon_others_wait(struct jit_daemon *d);
/* Whether a request is a listing, which yields to the others. */
bool daemon_request_yields(void *userdata, json_t *req);
json_t *daemon_handle_request(void *userdata, const struct jit_peer *peer,
			      json_t *req);
/* Posture findings to the log (at start and when the policies change). */
void daemon_log_posture(struct jit_daemon *d);

/* daemon-events.c: decisions as events. */
/* Followers of events are told only what they may see. */
void daemon_events_init(struct jit_daemon *d);
void daemon_events_free(struct jit_daemon *d);
/*
 * One decision (or refusal) about r: the audit trail (ev taken, "time"
 * added), the counters, the followers of events who may see r, and the
 * recent events.
 */
/* Whether this refusal by id is audited (false: counted, not written). */
bool daemon_refusal_audited(struct jit_daemon *d, const struct jit_identity *id,
			    const char *code, uint64_t now_ms);
/*
 * Write the counts of the refusal windows that ended by now_ms (all of
 * them with all), and arm refusals_timer for the next end.
 */
void daemon_refusals_flush(struct jit_daemon *d, uint64_t now_ms, bool all);
void daemon_event(struct jit_daemon *d, json_t *ev,
		  const struct jit_request *r);
/* The "events" op: recent events the caller may see; "follow" streams. */
json_t *daemon_events_json(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req);

/* daemon-metrics.c: the counters and the "metrics" op. */
/* Every known decision and alert type counted from 0. */
void daemon_counters_init(struct jit_daemon *d);
void daemon_count_decision(struct jit_daemon *d, const char *event,
			   const char *result);
void daemon_count_alert(struct jit_daemon *d, const struct jit_alert_def *def);
/* Counters and gauges, O(1) in grants and records. */
json_t *daemon_metrics_json(struct jit_daemon *d);

/* daemon-alerts.c: logs and alerts. */
int daemon_open_logs(struct jit_daemon *d);
/* SIGUSR1: reopen the audit and alert logs (log rotation). */
int daemon_reopen_logs(struct jit_daemon *d);
void daemon_on_detect(void *userdata, const struct jit_alert_def *def,
		      const char *description, json_t *entities,
		      uint64_t first_ms, uint64_t last_ms, unsigned count);
void daemon_on_denied(void *userdata, const struct jit_denied *x);
void daemon_on_tamper(void *userdata, const struct jit_tamper *t);

/* daemon-journal.c: the core, the journal, the pass of the loop. */
/* Set up d->access with the table as its kernel; -ENOMEM. */
int daemon_init_access(struct jit_daemon *d);
/* Read the journal (or import a state file of an earlier version). */
int daemon_load_journal(struct jit_daemon *d);
/* Before the directory loads at start: the last good texts the journal
 * kept, of the files still there. */
void daemon_seed_policy_texts(struct jit_daemon *d);
/* End of a pass: one sync, then the held replies go out. */
void daemon_pass_end(struct jit_daemon *d);
/* A compaction child may have exited. */
void daemon_compaction_reap(struct jit_daemon *d);
/* Replace the grant sets' content whole with what d->cover holds. */
int daemon_resync(struct jit_daemon *d);
/* The journal could not take a decision: degraded, alert once. */
void daemon_journal_failed(struct jit_daemon *d, int err);
/* reply (a grant) may go out only once the journal is synced. */
void daemon_pass_grant(struct jit_daemon *d, uint64_t id, json_t *reply);
/* Arm the expiry timer at the next end of a live grant. */
void access_arm_timer(struct jit_daemon *d);
/* Look a user up by uid (for policy rechecks). */
int daemon_lookup_uid(uint32_t uid, struct jit_identity *ret);

#endif
