/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The audit and alert logs, alerts from detection and from tampering with
 * the table, and which policy a denied packet ran into.
 */
#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "alert.h"
#include "daemon-internal.h"
#include "log.h"
#include "util.h"

static int open_log(struct jit_daemon *d, const char *name, const char *tag,
		    int priority, struct jit_audit **ret)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (!d->cfg->log_dir)
		return audit_open(NULL, d->cfg->use_syslog, tag, priority, ret);
	if (asprintf(&path, "%s/%s", d->cfg->log_dir, name) < 0)
		return -ENOMEM;
	r = audit_open(path, d->cfg->use_syslog, tag, priority, ret);
	if (r < 0)
		log_err("opening '%s': %s", path, strerror(-r));
	return r;
}

/* Both logs, or neither: *audit and *alerts are set only on success. */
static int open_logs(struct jit_daemon *d, struct jit_audit **audit,
		     struct jit_audit **alerts)
{
	struct jit_audit *a = NULL;
	int r;

	if (d->cfg->log_dir && mkdir(d->cfg->log_dir, 0750) < 0 &&
	    errno != EEXIST) {
		r = -errno;
		log_err("creating log directory '%s': %s", d->cfg->log_dir,
			strerror(-r));
		return r;
	}
	r = open_log(d, "audit.log", "audit", LOG_AUTHPRIV | LOG_NOTICE, &a);
	if (r < 0)
		return r;
	r = open_log(d, "alerts.log", "alert", LOG_AUTHPRIV | LOG_WARNING,
		     alerts);
	if (r < 0) {
		audit_close(a);
		return r;
	}
	audit_set_trail(a);
	*audit = a;
	return 0;
}

int daemon_open_logs(struct jit_daemon *d)
{
	return open_logs(d, &d->audit, &d->alerts);
}

/*
 * After logrotate renamed the files (SIGUSR1): the new files are opened
 * before the old ones are closed, so a failure keeps the old ones and no
 * line is lost.
 */
int daemon_reopen_logs(struct jit_daemon *d)
{
	struct jit_audit *audit = NULL, *alerts = NULL;
	int r;

	r = open_logs(d, &audit, &alerts);
	if (r < 0) {
		log_err("reopening the logs failed; writing to the old files");
		return r;
	}
	audit_close(d->audit);
	audit_close(d->alerts);
	d->audit = audit;
	d->alerts = alerts;
	return 0;
}

bool daemon_alert_may_see(struct jit_daemon *d, json_t *alert,
			  const struct jit_identity *id)
{
	json_t *ent = json_object_get(alert, "entities");
	json_t *rid = json_object_get(ent, "request_id");
	const struct jit_request *r;
	struct jit_request gone = { .uid = (uint32_t)-1 };

	if (!json_is_integer(rid)) {
		const char *user =
			json_string_value(json_object_get(ent, "user"));
		struct jit_request whose = { .uid = 0 };
		struct passwd pw, *found = NULL;
		char buf[4096];

		/* A refused SPA packet quotes what its user asked: for that
		 * user and root, as its line among the events is. */
		if (!streq(json_string_value(
				   json_object_get(alert, "alert_type"))
				   ?: "",
			   alert_spa_refused.type))
			return true;
		/* The uid it was raised with; by name for an older one. */
		if (json_is_integer(json_object_get(ent, "uid")))
			whose.uid = (uint32_t)json_integer_value(
				json_object_get(ent, "uid"));
		else if (user && *user &&
			 !getpwnam_r(user, &pw, buf, sizeof(buf), &found) &&
			 found)
			whose.uid = found->pw_uid;
		return authz_may_see(NULL, id, &whose);
	}
	r = grants_get(d->access.grants, (uint64_t)json_integer_value(rid));
	if (!r) {
		/* A record no longer kept: its policy's approvers and root. */
		snprintf(gone.policy, sizeof(gone.policy), "%s",
			 json_string_value(json_object_get(ent, "policy"))
				 ?: "");
		r = &gone;
	}
	return authz_may_see(daemon_policy_named(d, r->policy), id, r);
}

struct alert_scope {
	struct jit_daemon *d;
	json_t *alert;
};

static bool follower_sees(void *ctx, void *state)
{
	const struct alert_scope *sc = ctx;
	const struct jit_identity *id = daemon_viewer_id(state);

	/* No identity (no memory when it started): nothing, to be safe. */
	return id && daemon_alert_may_see(sc->d, sc->alert, id);
}

void daemon_alert(struct jit_daemon *d, const struct jit_alert_def *def,
		  const char *description, json_t *entities, uint64_t first_ms,
		  uint64_t last_ms, unsigned count)
{
	json_t *a = alert_build(def, description, entities, first_ms, last_ms,
				count);

	if (!a)
		return;
	log_warn("alert %s (%s, %s): %s", def->type, def->severity, def->intent,
		 description);
	daemon_count_alert(d, def);
	json_array_append(d->recent_alerts, a);
	while (json_array_size(d->recent_alerts) > JIT_RECENT_ALERTS)
		json_array_remove(d->recent_alerts, 0);
	control_broadcast(d->control, CONTROL_TOPIC_ALERTS,
			  json_pack("{s:O}", "alert", a), follower_sees,
			  &(struct alert_scope){ d, a });
	audit_event(d->alerts, a);
}

const char *daemon_policy_for(struct jit_daemon *d, uint8_t proto,
			      uint16_t port)
{
	unsigned bit = proto == IPPROTO_TCP ? JIT_PROTO_TCP : JIT_PROTO_UDP;

	for (size_t i = 0; i < policy_set_count(d->policies); i++) {
		const struct jit_policy *p = policy_set_get(d->policies, i);

		for (size_t j = 0; j < p->n_ports; j++)
			if ((p->ports[j].protos & bit) &&
			    p->ports[j].port_lo <= port &&
			    port <= p->ports[j].port_hi)
				return p->name;
	}
	return "";
}

void daemon_on_detect(void *userdata, const struct jit_alert_def *def,
		      const char *description, json_t *entities,
		      uint64_t first_ms, uint64_t last_ms, unsigned count)
{
	daemon_alert(userdata, def, description, entities, first_ms, last_ms,
		     count);
}

void daemon_on_denied(void *userdata, const struct jit_denied *x)
{
	struct jit_daemon *d = userdata;
	struct jit_attempt a = {
		.ms = now_real_ms(),
		.src = x->src,
		.proto = x->proto,
		.port = x->port,
	};

	snprintf(a.policy, sizeof(a.policy), "%s",
		 daemon_policy_for(d, x->proto, x->port));
	detect_attempt(d->detect, &a);
}

static const char *proc_name(const struct jit_tamper *t)
{
	return t->comm[0] ? t->comm : "an unknown process";
}

/* The last restores all ran within the window: when the next may. */
static uint64_t tamper_next_allowed(const struct jit_tamper_state *st)
{
	uint64_t at = st->restores_ms[st->next];

	at = at ? at + JIT_TAMPER_RESTORE_WINDOW_MS : 0;
	return at > st->retry_ms ? at : st->retry_ms;
}

/* Put the table back whole, grants included; -errno. */
static int tamper_restore(struct jit_daemon *d, uint64_t now_ms)
{
	struct jit_tamper_state *st = &d->tamper;
	uint64_t t0 = now_mono_us(), us;
	int r;

	r = daemon_resync(d);
	us = now_mono_us() - t0;
	st->restores_ms[st->next] = now_ms;
	st->next = (st->next + 1) % JIT_TAMPER_RESTORES;
	st->owed = r < 0;
	/* A restore that failed is tried again, once a second. */
	st->retry_ms = r < 0 ? now_ms + JIT_TAMPER_RESTORE_WINDOW_MS : 0;
	st->restores++;
	if (r < 0) {
		st->failed++;
		d->counters.tamper_failed++;
	} else {
		d->counters.tamper_restored++;
	}
	if (us > st->worst_us)
		st->worst_us = us;
	return r;
}

static void tamper_arm(struct jit_daemon *d)
{
	struct jit_tamper_state *st = &d->tamper;
	struct itimerspec its = { 0 };
	uint64_t at = 0;

	if (st->owed)
		at = tamper_next_allowed(st);
	if (st->open && (!at || st->window_end_ms < at))
		at = st->window_end_ms;
	/* 0 disarms; a time already past fires at once. */
	if (st->owed || st->open) {
		at = at ? at : 1;
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	}
	(void)timerfd_settime(st->timer.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* A restore owed and allowed now runs now. */
static void tamper_service(struct jit_daemon *d, uint64_t now_ms)
{
	struct jit_tamper_state *st = &d->tamper;

	if (st->owed && d->ruleset && now_ms >= tamper_next_allowed(st))
		(void)tamper_restore(d, now_ms);
}

/* The alert for what was counted since the last one; counts start over. */
static void tamper_alert(struct jit_daemon *d, bool summary)
{
	struct jit_tamper_state *st = &d->tamper;
	const struct jit_tamper *t = &st->last;
	bool restored = !st->owed;
	const char *outcome;
	char desc[640];
	json_t *ent;

	outcome = restored ? "The agent restored it."
		  : st->failed
			  ? "The agent could NOT restore it; it keeps trying."
			  : "The agent restores it as soon as its rate "
			    "limit allows.";
	if (!summary) {
		snprintf(desc, sizeof(desc),
			 "Process '%s' (pid %d) %s the just-in-time firewall "
			 "table inet %s (%u change%s in one transaction). %s",
			 t->comm[0] ? t->comm : "unknown", (int)t->pid,
			 st->deleted ? "deleted parts of" : "changed",
			 table_name(d->table), st->changes,
			 st->changes == 1 ? "" : "s", outcome);
	} else {
		snprintf(desc, sizeof(desc),
			 "The just-in-time firewall table inet %s was %s %u "
			 "more time%s in %d s (%u change%s), the last by "
			 "process '%s' (pid %d); the agent ran %u restore%s "
			 "(at most %d a second), %u failed. %s",
			 table_name(d->table),
			 st->deleted ? "cut or deleted" : "changed",
			 st->transactions, st->transactions == 1 ? "" : "s",
			 JIT_TAMPER_ALERT_WINDOW_MS / 1000, st->changes,
			 st->changes == 1 ? "" : "s",
			 t->comm[0] ? t->comm : "unknown", (int)t->pid,
			 st->restores, st->restores == 1 ? "" : "s",
			 JIT_TAMPER_RESTORES, st->failed, outcome);
	}
	if (st->failed && !restored)
		log_err("table inet %s was changed by %s (pid %d) and could "
			"not be restored",
			table_name(d->table), proc_name(t), (int)t->pid);
	else if (!summary)
		log_warn("table inet %s was %s by %s (pid %d); restored in "
			 "%.1f ms",
			 table_name(d->table),
			 st->deleted ? "deleted or cut" : "changed",
			 proc_name(t), (int)t->pid,
			 (double)st->worst_us / 1000.0);
	ent = json_pack("{s:{s:i, s:s}, s:s, s:s, s:b, s:I, s:i, s:i, s:i}",
			"process", "pid", (int)t->pid, "name", t->comm, "table",
			table_name(d->table), "protection",
			table_mode_name(table_mode(d->table)), "restored",
			restored, "restore_us", (json_int_t)st->worst_us,
			"transactions", (int)st->transactions, "restores",
			(int)st->restores, "failed_restores", (int)st->failed);
	daemon_alert(d, &alert_table_tampered, desc, ent, st->first_ms,
		     st->last_ms, st->transactions);
	st->transactions = st->changes = st->restores = st->failed = 0;
	st->deleted = false;
	st->worst_us = 0;
}

/*
 * Someone else changed our table (only possible without owner+persist):
 * put everything back, grants included, and raise an alert. The first
 * change is restored and reported at once; while changes go on, restores
 * are held to the rate limit and one alert per window counts them, so a
 * loop deleting the table costs the agent a few commits a second, and the
 * socket and signals are served all along.
 */
void daemon_on_tamper(void *userdata, const struct jit_tamper *t)
{
	struct jit_daemon *d = userdata;
	struct jit_tamper_state *st = &d->tamper;
	uint64_t now = now_mono_ms(), real = now_real_ms();
	bool alert_now = false;

	if (!d->ruleset)
		return;
	st->owed = true;
	/* The sets are known again once a restore read and fixed them. */
	d->kview_sure = false;
	if (t->transactions) {
		d->tampers += t->transactions;
		if (!st->open) {
			st->open = true;
			st->window_end_ms = now + JIT_TAMPER_ALERT_WINDOW_MS;
			st->restores = st->failed = 0;
			st->worst_us = 0;
			alert_now = true;
		}
		if (!st->transactions)
			st->first_ms = real;
		st->last_ms = real;
		st->transactions += t->transactions;
		st->changes += t->changes;
		st->deleted = st->deleted || t->deleted;
		st->last = *t;
	}
	tamper_service(d, now);
	if (alert_now)
		tamper_alert(d, false);
	else if (t->lost && !t->transactions && !st->open)
		log_warn("nftables events were lost; table inet %s %s",
			 table_name(d->table),
			 st->owed ? "is re-applied shortly" : "re-applied");
	tamper_arm(d);
}

void daemon_tamper_timer(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		container_of(io, struct jit_daemon, tamper.timer);
	struct jit_tamper_state *st = &d->tamper;
	uint64_t ticks, now = now_mono_ms();

	(void)events;
	(void)!read(io->fd, &ticks, sizeof(ticks));
	tamper_service(d, now);
	if (st->open && now >= st->window_end_ms) {
		if (st->transactions) {
			tamper_alert(d, true);
			st->window_end_ms = now + JIT_TAMPER_ALERT_WINDOW_MS;
		} else {
			st->open = false;
			st->restores = st->failed = 0;
			st->worst_us = 0;
		}
	}
	tamper_arm(d);
}
