/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's counters and gauges for `jitctl metrics`, as metric families
 * (metrics.h) that jitctl prints in the Prometheus text format. Every
 * figure is a counter kept as things happen or a count the registry, the
 * cover and the journal already keep: answering never walks the grants.
 * Counters start at 0 when the agent starts.
 */
#include "alert.h"
#include "daemon-internal.h"
#include "metrics.h"
#include "util.h"

#include "config.h"

/* Every (event, result) the audit trail writes, so each series is there
 * from the start, at 0 (rate() needs the 0). */
static const char *const decision_kinds[][2] = {
	{ "request", "granted" }, { "request", "pending" },
	{ "request", "refused" }, { "approve", "granted" },
	{ "approve", "refused" }, { "deny", "denied" },
	{ "deny", "refused" },	  { "revoke", "revoked" },
	{ "revoke", "denied" },	  { "revoke", "refused" },
	{ "replace", "revoked" }, { "expire", "expired" },
	{ "terminate", "done" },  { "terminate", "partial" },
};

void daemon_counters_init(struct jit_daemon *d)
{
	struct jit_counters *c = &d->counters;

	for (size_t i = 0; i < ARRAY_SIZE(decision_kinds); i++)
		daemon_count_decision(d, decision_kinds[i][0],
				      decision_kinds[i][1]);
	for (size_t i = 0; i < c->n_decisions; i++)
		c->decisions[i].n = 0;
	for (size_t i = 0; i < alert_defs_count && i < JIT_ALERT_TYPES_MAX;
	     i++) {
		c->alerts[i].type = alert_defs[i]->type;
		c->alerts[i].severity = alert_defs[i]->severity;
	}
	c->n_alerts = alert_defs_count < JIT_ALERT_TYPES_MAX
			      ? alert_defs_count
			      : JIT_ALERT_TYPES_MAX;
}

void daemon_count_decision(struct jit_daemon *d, const char *event,
			   const char *result)
{
	struct jit_counters *c = &d->counters;
	size_t i;

	if (!event || !result)
		return;
	for (i = 0; i < c->n_decisions; i++)
		if (streq(c->decisions[i].event, event) &&
		    streq(c->decisions[i].result, result))
			break;
	if (i == c->n_decisions) {
		/* One the table above does not know yet: a series of its
		 * own while there is room. */
		if (i == JIT_DECISION_KINDS)
			return;
		snprintf(c->decisions[i].event, sizeof(c->decisions[i].event),
			 "%s", event);
		snprintf(c->decisions[i].result, sizeof(c->decisions[i].result),
			 "%s", result);
		c->n_decisions++;
	}
	c->decisions[i].n++;
}

void daemon_count_alert(struct jit_daemon *d, const struct jit_alert_def *def)
{
	struct jit_counters *c = &d->counters;
	size_t i;

	for (i = 0; i < c->n_alerts; i++)
		if (streq(c->alerts[i].type, def->type))
			break;
	if (i == c->n_alerts) {
		if (i == JIT_ALERT_TYPES_MAX)
			return;
		c->alerts[i].type = def->type;
		c->alerts[i].severity = def->severity;
		c->n_alerts++;
	}
	c->alerts[i].n++;
}

static uint64_t decisions_of(const struct jit_counters *c, const char *event,
			     const char *result)
{
	for (size_t i = 0; i < c->n_decisions; i++)
		if (streq(c->decisions[i].event, event) &&
		    streq(c->decisions[i].result, result))
			return c->decisions[i].n;
	return 0;
}

static json_t *count(uint64_t n)
{
	return json_integer((json_int_t)n);
}

/* Unix ms as seconds (0 stays 0: "never"). */
static json_t *seconds(uint64_t ms)
{
	return ms % 1000 ? json_real((double)ms / 1000.0)
			 : json_integer((json_int_t)(ms / 1000));
}

#define RESET " Counted since the agent started: it starts at 0 on restart."

static void gauge(json_t *fams, const char *name, const char *help,
		  json_t *value)
{
	metrics_sample(metrics_family(fams, name, "gauge", help), value, NULL);
}

/* What the agent is and holds now. */
static void metrics_state(json_t *fams, struct jit_daemon *d)
{
	json_t *f;

	f = metrics_family(fams, "jit_enforcer_build_info", "gauge",
			   "The agent's version, as a label; the value is "
			   "always 1.");
	metrics_sample(f, json_integer(1), "version", JIT_VERSION, NULL);
	gauge(fams, "jit_enforcer_start_time_seconds",
	      "When the agent started, in seconds since the Unix epoch.",
	      seconds(d->started_ms));
	gauge(fams, "jit_enforcer_grants_live",
	      "Grants in force now (records with status initiated).",
	      count(grants_count_status(d->access.grants, JIT_INITIATED)));
	gauge(fams, "jit_enforcer_requests_pending",
	      "Requests waiting for an approver now.",
	      count(grants_count_status(d->access.grants, JIT_PENDING)));
	gauge(fams, "jit_enforcer_kernel_elements",
	      "Elements in the kernel's grant sets now (one per host, "
	      "protocol and port, or per disjoint piece of a prefix).",
	      count(scopes_count(d->access.scopes)));
	gauge(fams, "jit_enforcer_policies", "Policies in force now.",
	      count(policy_set_count(d->policies)));
	gauge(fams, "jit_enforcer_policy_errors",
	      "1 while a policy file is rejected (its last good version "
	      "stays in force; jitctl status shows why), else 0.",
	      count(d->policy_errors != NULL));
}

/* Requests and the decisions of the audit trail. */
static void metrics_decisions(json_t *fams, struct jit_daemon *d)
{
	const struct jit_counters *c = &d->counters;
	json_t *f;

	f = metrics_family(
		fams, "jit_enforcer_requests_total", "counter",
		"Requests by what became of them: granted (at once, or when "
		"approved), pending (waiting for an approver when made), "
		"denied (by an approver) or refused (at once, with a "
		"reason). A request that waited counts as pending, then as "
		"granted or denied." RESET);
	metrics_sample(f,
		       count(decisions_of(c, "request", "granted") +
			     decisions_of(c, "approve", "granted")),
		       "result", "granted", NULL);
	metrics_sample(f, count(decisions_of(c, "request", "pending")),
		       "result", "pending", NULL);
	metrics_sample(f, count(decisions_of(c, "deny", "denied")), "result",
		       "denied", NULL);
	metrics_sample(f, count(decisions_of(c, "request", "refused")),
		       "result", "refused", NULL);
	f = metrics_family(
		fams, "jit_enforcer_decisions_total", "counter",
		"Decisions, one per line of the audit trail, by event "
		"(request, approve, deny, revoke, replace, expire, terminate) "
		"and result; refusals are result refused. Their rate is the "
		"decisions per second." RESET);
	for (size_t i = 0; i < c->n_decisions; i++)
		metrics_sample(f, count(c->decisions[i].n), "event",
			       c->decisions[i].event, "result",
			       c->decisions[i].result, NULL);
}

/* Denied packets and the alerts they raised. */
static void metrics_detection(json_t *fams, struct jit_daemon *d)
{
	const struct jit_counters *c = &d->counters;
	json_t *f;

	metrics_sample(
		metrics_family(
			fams, "jit_enforcer_denied_packets_logged_total",
			"counter",
			"Packets to protected ports that were dropped and "
			"logged to the agent (NFLOG). The kernel logs at a "
			"limited rate, so a flood counts less than it "
			"sent." RESET),
		count(detect_seen(d->detect)), NULL);
	f = metrics_family(fams, "jit_enforcer_alerts_total", "counter",
			   "Security alerts raised, by type and "
			   "severity." RESET);
	for (size_t i = 0; i < c->n_alerts; i++)
		metrics_sample(f, count(c->alerts[i].n), "type",
			       c->alerts[i].type, "severity",
			       c->alerts[i].severity, NULL);
}

/* SPA packets by what became of them. */
static void metrics_spa(json_t *fams, struct jit_daemon *d)
{
	const struct jit_spa_state *sp = &d->spa;
	const struct {
		const char *result;
		uint64_t n;
	} spa[] = {
		{ "accepted", sp->c_accepted },
		{ "refused", sp->c_refused },
		{ "bad_hmac", sp->c_bad_hmac },
		{ "replay", sp->c_replays },
		{ "stale", sp->c_stale },
		{ "bad_data", sp->c_bad_data },
		{ "no_stanza", sp->c_no_stanza },
		{ "not_recorded", sp->c_not_recorded },
		{ "ignored", sp->c_ignored },
	};
	json_t *f;

	f = metrics_family(
		fams, "jit_enforcer_spa_packets_total", "counter",
		"Packets to the SPA port, by what became of them: accepted "
		"(opened or pending), refused (by the stanza or the "
		"policies), bad_hmac (no key authenticates it), replay, "
		"stale (too old or new), bad_data, no_stanza, not_recorded "
		"(its digest could not be made durable), ignored (not SPA "
		"data). All 0 without --spa-access." RESET);
	for (size_t i = 0; i < ARRAY_SIZE(spa); i++)
		metrics_sample(f, count(spa[i].n), "result", spa[i].result,
			       NULL);
}

/* The table: tampering, ownership, commits and reloads. */
static void metrics_table(json_t *fams, struct jit_daemon *d)
{
	const struct jit_counters *c = &d->counters;
	json_t *f;

	f = metrics_family(fams, "jit_enforcer_tamper_restores_total",
			   "counter",
			   "Restores of the agent's table after other "
			   "processes changed it (at most 4 a second, however "
			   "many changes), by whether it was put back "
			   "(restored) or could not be (failed)." RESET);
	metrics_sample(f, count(c->tamper_restored), "result", "restored",
		       NULL);
	metrics_sample(f, count(c->tamper_failed), "result", "failed", NULL);
	gauge(fams, "jit_enforcer_table_owned",
	      "1 when the kernel keeps other processes off the table "
	      "(owner and persist flags), else 0.",
	      count(table_mode(d->table) == JIT_TABLE_OWNER_PERSIST));
	gauge(fams, "jit_enforcer_last_commit_timestamp_seconds",
	      "When the ruleset was last committed to the kernel (start and "
	      "policy changes), in seconds since the Unix epoch.",
	      seconds(d->last_reload_ms));
	metrics_sample(metrics_family(fams, "jit_enforcer_reloads_total",
				      "counter",
				      "Policy reloads (inotify, SIGHUP, jitctl "
				      "reload)." RESET),
		       count(d->reloads), NULL);
}

/* The journal: degraded, backlog, sizes, last sync. */
static void metrics_journal(json_t *fams, struct jit_daemon *d)
{
	const struct jit_counters *c = &d->counters;
	struct jit_journal *j = d->access.journal;

	gauge(fams, "jit_enforcer_journal_degraded",
	      "1 while the journal cannot be written (grants are refused, "
	      "removals wait to be recorded), else 0.",
	      count(journal_degraded(j)));
	gauge(fams, "jit_enforcer_journal_unrecorded",
	      "Decisions in force but not yet recorded in the journal.",
	      count(journal_backlog(j)));
	gauge(fams, "jit_enforcer_journal_bytes",
	      "Size of the journal files after the snapshot.",
	      count(journal_bytes(j)));
	gauge(fams, "jit_enforcer_journal_snapshot_bytes",
	      "Size of the journal's snapshot.",
	      count(journal_snapshot_bytes(j)));
	gauge(fams, "jit_enforcer_journal_last_sync_timestamp_seconds",
	      "When decisions were last made durable (fdatasync), in seconds "
	      "since the Unix epoch; 0 before the first.",
	      seconds(c->last_sync_ms));
}

/* Fleet mode: reachable or since when not, what the fleet brought. */
static void metrics_fleet(json_t *fams, struct jit_daemon *d)
{
	const struct jit_fleet_state *fl = &d->fleet;
	json_t *f;

	if (!fl->conf)
		return;
	gauge(fams, "jit_enforcer_fleet_reachable",
	      "1 while the fleet's NATS servers are reachable and this host's "
	      "grants are watched, else 0 (new fleet grants cannot arrive).",
	      count(!fl->unreachable_since_ms));
	gauge(fams, "jit_enforcer_fleet_unreachable_since_timestamp_seconds",
	      "Since when the fleet is unreachable, in seconds since the Unix "
	      "epoch; 0 while it is reachable.",
	      seconds(fl->unreachable_since_ms));
	f = metrics_family(fams, "jit_enforcer_fleet_entries_total", "counter",
			   "Changes of this host's fleet grants, by what the "
			   "host made of them." RESET);
	metrics_sample(f, count(fl->c_granted), "result", "granted", NULL);
	metrics_sample(f, count(fl->c_refused), "result", "refused", NULL);
	metrics_sample(f, count(fl->c_revoked), "result", "revoked", NULL);
	metrics_sample(f, count(fl->c_absent), "result", "absent", NULL);
	metrics_sample(f, count(fl->c_bad), "result", "bad", NULL);
	metrics_sample(
		metrics_family(fams, "jit_enforcer_fleet_audit_published_total",
			       "counter",
			       "Audit lines the fleet's audit stream "
			       "stored." RESET),
		count(fl->c_published), NULL);
	gauge(fams, "jit_enforcer_fleet_audit_unpublished",
	      "Audit lines not yet stored in the fleet's audit stream.",
	      count(fl->outbox ? fleet_outbox_next(fl->outbox) - 1 -
					 fleet_outbox_acked(fl->outbox)
			       : 0));
}

/* The control socket: clients, followers, lost events. */
static void metrics_control(json_t *fams, struct jit_daemon *d)
{
	json_t *f;

	gauge(fams, "jit_enforcer_control_clients",
	      "Connections to the control socket now.",
	      count(control_clients(d->control)));
	f = metrics_family(fams, "jit_enforcer_followers", "gauge",
			   "Connections following a stream now (jitctl "
			   "alerts --follow, jitctl events --follow).");
	metrics_sample(
		f, count(control_followers(d->control, CONTROL_TOPIC_ALERTS)),
		"stream", "alerts", NULL);
	metrics_sample(
		f, count(control_followers(d->control, CONTROL_TOPIC_EVENTS)),
		"stream", "events", NULL);
	metrics_sample(
		metrics_family(fams, "jit_enforcer_events_lost_total",
			       "counter",
			       "Events not sent to followers that read too "
			       "slowly (each was told how many it "
			       "missed)." RESET),
		count(control_lost(d->control)), NULL);
}

json_t *daemon_metrics_json(struct jit_daemon *d)
{
	json_t *fams = json_array();

	metrics_state(fams, d);
	metrics_decisions(fams, d);
	metrics_detection(fams, d);
	metrics_spa(fams, d);
	metrics_table(fams, d);
	metrics_journal(fams, d);
	metrics_fleet(fams, d);
	metrics_control(fams, d);
	return json_pack("{s:b, s:o}", "ok", 1, "metrics", fams);
}
