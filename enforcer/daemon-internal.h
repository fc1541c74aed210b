/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's state, shared by daemon.c (the loop) and api.c (the protocol). */
#ifndef JIT_DAEMON_INTERNAL_H
#define JIT_DAEMON_INTERNAL_H

#include <jansson.h>

#include "access.h"
#include "api.h"
#include "audit.h"
#include "channel.h"
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
#include "spa-window.h"
#include "fleet-conf.h"
#include "fleet-nats.h"
#include "fleet-outbox.h"

#define JIT_RECENT_ALERTS 256
/* Sources whose failed SPA packets are counted (the oldest is forgotten). */
#define JIT_SPA_FAIL_SOURCES 256

/* A source sending SPA packets that fail: bad HMAC, or replays. */
struct jit_spa_source {
	struct jit_prefix src;
	uint64_t first_ms, last_ms;
	unsigned bad_hmac, replays; /* in this window; alerts go at 5, at 1 */
	struct jit_spa_tally tally; /* its lines in the SPA window */
};

/* An SPA packet that waits for its digest to be durable. */
struct jit_spa_item {
	struct jit_prefix src;
	char iif[IFNAMSIZ]; /* the interface it came in on ("": not known) */
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
	struct jit_spa_window win;
	uint64_t c_suppressed;
	uint64_t c_packets, c_ignored, c_no_stanza, c_bad_hmac, c_replays,
		c_stale, c_bad_data, c_refused, c_accepted, c_not_recorded;
};

/* Bad fleet values (key and revision) remembered, not audited again. */
#define JIT_FLEET_BAD_SEEN 64

/**
 * struct jit_fleet_state - fleet mode (NATS JetStream), off without conf
 * @conf: the fleet.yaml in force, or NULL (fleet mode off)
 * @errors: why the last reload of it failed, or NULL
 * @nats: the NATS thread
 * @io: its eventfd in the loop
 * @outbox: audit lines owed to the audit stream
 * @connected: a server is reachable
 * @watching: the host's consumer is in place and its snapshot was taken
 * @unreachable_since_ms: since when new fleet grants cannot arrive (0:
 *                        they can)
 * @last_error: the thread's last trouble
 * @in_snapshot: a full range is coming; @snap_ids collects its ids
 * @cursor_due_ms: when the audit cursor, moved, is saved (monotonic; 0:
 *                 nothing to save)
 * @c_*: counters since start
 */
struct jit_fleet_state {
	struct jit_fleet_conf *conf;
	char *errors;
	struct jit_fleet_nats *nats;
	struct jit_io io;
	struct jit_fleet_outbox *outbox;
	bool connected, watching;
	uint64_t unreachable_since_ms;
	char last_error[256];
	bool in_snapshot, resnapshot;
	bool redecide_pending, redecide_snapshot; /* policies changed */
	uint64_t bad_seen[JIT_FLEET_BAD_SEEN];	  /* values audited as bad */
	size_t next_bad;
	uint64_t policies_hash;
	uint64_t *snap_ids;
	size_t n_snap, cap_snap;
	uint64_t last_snapshot_ms;
	uint64_t cursor_due_ms;
	uint64_t c_entries, c_granted, c_refused, c_revoked, c_bad, c_absent,
		c_snapshots, c_published, c_squatted, c_unpublished;
};

/* Decisions kept for `jitctl events` without --follow... */
#define JIT_RECENT_EVENTS 1000
/* ... of which one user (one uid) holds at most this many. */
#define JIT_RECENT_EVENTS_PER_USER 250
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

/*
 * Restoring the table after other processes changed it: at most
 * JIT_TAMPER_RESTORES in any JIT_TAMPER_RESTORE_WINDOW_MS (a process that
 * deletes the table in a loop must not turn the agent into one), and the
 * alerts: the first change at once, then one alert with the count per
 * JIT_TAMPER_ALERT_WINDOW_MS while changes go on.
 */
#define JIT_TAMPER_RESTORES	     4
#define JIT_TAMPER_RESTORE_WINDOW_MS 1000
#define JIT_TAMPER_ALERT_WINDOW_MS   5000

/**
 * struct jit_tamper_state - restores owed and the alert window
 * @timer: the next restore allowed, or the end of the window
 * @restores_ms: when the last restores ran (monotonic ms; a ring)
 * @next: the oldest of them, the next to be replaced
 * @retry_ms: no restore before this (after a failed one)
 * @owed: the table must be put back once the rate allows
 * @open: an alert went out and the window after it runs
 * @window_end_ms: its end (monotonic ms)
 * @first_ms: first change counted in the window (unix ms)
 * @last_ms: last one
 * @transactions: foreign transactions counted since the last alert
 * @changes: their messages that touched the table
 * @deleted: one of them deleted something
 * @restores: restores since the last alert
 * @failed: of them, failed
 * @worst_us: the slowest of them
 * @last: the last foreign process seen
 */
struct jit_tamper_state {
	struct jit_io timer;
	uint64_t restores_ms[JIT_TAMPER_RESTORES];
	size_t next;
	uint64_t retry_ms;
	bool owed;
	bool open;
	uint64_t window_end_ms;
	uint64_t first_ms, last_ms;
	unsigned transactions, changes, restores, failed;
	bool deleted;
	uint64_t worst_us;
	struct jit_tamper last;
};

/*
 * A decision answered in this pass (a request made or granted, an
 * approval, a denial): its reply waits for the journal sync, and turns
 * into not-recorded if a failed sync undid the decision (seq).
 */
struct jit_pass_grant {
	uint64_t id, seq;
	json_t *reply;
	bool revoke; /* a revoke: it holds, but may turn unrecorded */
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
	bool limited; /* a rate-limited refusal was written in this window */
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
	struct jit_session *sessions; /* as committed */
	/* Connected before their port was protected, covered by no record
	 * then: revoke --terminate spares them. */
	struct jit_session *elder;
	size_t n_elder, cap_elder;
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
	struct jit_fleet_state fleet;
	json_t *recent_alerts;	  /* the last JIT_RECENT_ALERTS, oldest first */
	struct jit_event *events; /* ring of the last JIT_RECENT_EVENTS */
	size_t n_events, first_event;
	struct jit_counters counters;
	struct jit_refusal_window refusals[JIT_REFUSAL_USERS];
	uint16_t mgmt_ports[JIT_ALERT_MGMT_PORTS_MAX * 4];
	size_t n_mgmt_ports;
	unsigned tampers;
	struct jit_tamper_state tamper;
	struct jit_io expiry_timer;
	struct jit_access access;    /* records, cover and journal */
	struct jit_pass_grant *pass; /* grants answered in this loop pass */
	size_t n_pass, cap_pass;
	bool journal_alerted; /* the degraded alert went out */
	/* Damage found in the journal at start (file and first line), for
	 * status: the agent stays degraded until a start finds none. */
	char journal_damage[160];
	bool resync;	  /* next commit replaces the grant sets' content */
	bool clean_start; /* the last agent exited normally after syncing */
	bool enforcing;	  /* setup finished */
	struct jit_state_policy *restored; /* policy texts from the journal */
	uint64_t *start_check; /* ids to look for in the kernel at start */
	size_t n_start_check;
	bool start_check_all;
	/*
	 * The kernel's grant sets as last known to hold exactly what the
	 * records want (the kernel-view file): this system's side of it
	 * (kview_ok: it can be known here), the last one written, the one
	 * found at start (kview_maybe: its generation still holds) and
	 * whether this start used it. kview_sure: every change to the table
	 * since the last full sync was the agent's own.
	 */
	struct jit_kview kview_host, kview_written, kview_found;
	unsigned kview_digest_reloads; /* d->reloads the digest below is of */
	char kview_digest[65];
	int kview_fd; /* the file, once written; -1 before */
	bool kview_ok, kview_maybe, kview_trusted, kview_sure;
	size_t n_restored;
	char *policy_errors; /* rendered diagnostics of rejected files */
	uint64_t started_ms;
	uint64_t last_reload_ms;
	unsigned reloads;
	const char *reload_trigger;    /* for the next reload's audit line */
	bool reload_by_peer;	       /* asked on the socket by reload_by */
	struct jit_identity reload_by; /* uid and name only */
	bool quit;
};

/* Raise an alert: alerts.log, syslog, `jitctl alerts`, followers. */
/* The policy in force named name, or NULL. */
const struct jit_policy *daemon_policy_named(struct jit_daemon *d,
					     const char *name);
/*
 * A follower's identity, from its state (NULL: none could be had), looked
 * up again if the policies were reloaded since, or a minute went by.
 */
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

/* daemon-spa.c, daemon-fleet.c: channels, known through channel.h. */

/* daemon-changes.c: what the agent enforces, in the audit trail. */
/* Every policy in force, as its audit lines describe it. */
json_t *daemon_policies_snapshot(struct jit_daemon *d);
/* One line per policy loaded, changed or removed since before. */
void daemon_audit_policy_changes(struct jit_daemon *d, json_t *before);
/* One line for a reload: what asked for it, and r (0 or -errno). */
void daemon_audit_reload(struct jit_daemon *d, const char *trigger, int r);
/* "started" or "stopped". */
void daemon_audit_agent(struct jit_daemon *d, const char *result);

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
/*
 * A line about the agent itself (start, stop, reloads, policy changes):
 * the audit trail and the counters, not the events of requests.
 */
void daemon_audit(struct jit_daemon *d, json_t *ev);
/* The "events" op: recent events the caller may see; "follow" streams. */
json_t *daemon_events_json(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req);

/* daemon-audit.c: decisions as audit lines, for every channel. */
/* The core's audit hook (userdata: the daemon): one line per decision or
 * refusal, counted, to followers and the fleet's audit stream. */
void daemon_audit_decision(void *userdata, const struct jit_access_event *e);
/* An audit line's first fields: event, peer_uid, peer_user. */
json_t *daemon_audit_base(const char *event, const struct jit_identity *id);
/* The line's result, then its channel and actor. */
void daemon_audit_result(json_t *ev, const char *result,
			 const struct jit_identity *id);
/* {"user", "uid"} of who made a decision (uid null: no local user). */
json_t *daemon_audit_actor(const struct jit_identity *id);
/* The request's fields into ev, then out as an event (ev taken). */
void daemon_audit_request(struct jit_daemon *d, json_t *ev,
			  const struct jit_request *r);

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
/* A policy's principals ({users, groups}) and a port rule's sources
 * (["any", prefixes]) as the views and the audit trail show them. */
json_t *daemon_principals_json(const struct jit_principals *p);
json_t *daemon_rule_sources_json(const struct jit_port_rule *r);
/* SHA-256 (hex) of what decides a grant's elements: the agent's version
 * and the policy files in force (paths and texts). */
void daemon_policies_digest(const struct jit_policy_set *s, char out[65]);
/* Record where the kernel's grant sets stand, if that is known. */
void daemon_kview_update(struct jit_daemon *d);
/* At start: the kernel-view file, if its generation still holds. */
void daemon_kview_find(struct jit_daemon *d);
/* The tamper timer: a restore the rate held back, the window's alert. */
void daemon_tamper_timer(struct jit_io *io, uint32_t events);

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
/* Sync the journal; a failure undoes what it would have made durable. */
int daemon_journal_sync(struct jit_daemon *d);
/* reply (a grant) may go out only once the journal is synced. */
void daemon_pass_grant(struct jit_daemon *d, uint64_t id, json_t *reply);
/* reply (a revoke said recorded) says so only once the journal is synced. */
void daemon_pass_revoke(struct jit_daemon *d, uint64_t id, json_t *reply);
/* Arm the expiry timer at the next end of a live grant. */
void access_arm_timer(struct jit_daemon *d);
/* Look a user up by uid (for policy rechecks). */
int daemon_lookup_uid(uint32_t uid, struct jit_identity *ret);

#endif
