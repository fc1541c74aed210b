/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fleet adapter: fleet.yaml, the NATS thread's messages turned into
 * decisions of the core (fleet-sync.c), after each snapshot the grants
 * the range no longer holds revoked, every audit line queued for the
 * fleet's audit stream, and the fleet's state for status and metrics.
 * The loop only reads the thread's queue: it never waits on the network.
 */
#include <inttypes.h>

#include "alert.h"
#include "config.h"
#include "audit.h"
#include "crashpoint.h"
#include "daemon-internal.h"
#include "fleet.h"
#include "log.h"
#include "util.h"

static void set_reachable(struct jit_daemon *d, bool connected, bool watching,
			  const char *why)
{
	struct jit_fleet_state *f = &d->fleet;
	bool was = f->connected && f->watching, now = connected && watching;

	f->connected = connected;
	f->watching = watching;
	if (why && why[0])
		snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	if (now && !was) {
		f->unreachable_since_ms = 0;
		log_notice("fleet: watching %s's grants", f->conf->host);
	} else if (!now && !f->unreachable_since_ms) {
		f->unreachable_since_ms = now_real_ms();
		log_warn("fleet: unreachable%s%s; new fleet grants cannot "
			 "arrive, those in force end at their end",
			 why && why[0] ? ": " : "", why ? why : "");
	}
}

/*
 * A value that is no grant, or a key not of this host: audited once per
 * revision while the agent runs (no record holds its revision: each
 * snapshot brings it again).
 */
static void audit_bad(struct jit_daemon *d, const struct jit_fleet_entry *e,
		      const struct jit_refusal *why)
{
	struct jit_fleet_state *f = &d->fleet;
	struct jit_request none = { 0 };
	uint64_t h = hash_bytes(e->key, strlen(e->key), e->rev);

	for (size_t i = 0; i < JIT_FLEET_BAD_SEEN; i++)
		if (f->bad_seen[i] == h)
			return;
	f->bad_seen[f->next_bad++ % JIT_FLEET_BAD_SEEN] = h;

	daemon_event(d,
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "event",
			       "request", "channel", "fleet", "result",
			       "refused", "error",
			       why->code ? why->code : "bad-value", "fleet_key",
			       e->key, "fleet_rev", (json_int_t)e->rev,
			       "message", why->message),
		     &none);
	log_notice("fleet: %s revision %" PRIu64 " refused: %s", e->key, e->rev,
		   why->message);
}

static void on_entry(struct jit_daemon *d, struct jit_fleet_entry *e)
{
	struct jit_fleet_state *f = &d->fleet;
	struct jit_refusal why = { 0 };
	uint64_t id;

	f->c_entries++;
	e->redecide = f->in_snapshot && f->redecide_snapshot;
	if (f->in_snapshot && e->op == JIT_FLEET_PUT &&
	    fleet_key_parse(f->conf->host, e->key, &id) == 0) {
		if (grow_array((void **)&f->snap_ids, &f->cap_snap,
			       f->n_snap + 1, sizeof(*f->snap_ids)) == 0) {
			f->snap_ids[f->n_snap++] = id;
		} else {
			/* An incomplete list must not revoke by absence. */
			f->in_snapshot = false;
			f->resnapshot = true;
		}
	}
	if (e->op == JIT_FLEET_PUT)
		crash_point("fleet-received");
	switch (fleet_apply(&d->access, f->conf->host, e, &why)) {
	case JIT_FLEET_GRANTED:
		f->c_granted++;
		crash_point("fleet-applied");
		break;
	case JIT_FLEET_REFUSED:
		f->c_refused++;
		break;
	case JIT_FLEET_REVOKED:
		f->c_revoked++;
		break;
	case JIT_FLEET_BAD:
		f->c_bad++;
		audit_bad(d, e, &why);
		break;
	case JIT_FLEET_FAILED:
		/* Not applied: this snapshot must not revoke by absence.
		 * A kernel error is tried again with a new snapshot; a
		 * journal that cannot record waits for its recovery
		 * (daemon_fleet_journal_recovered), not a loop. */
		log_err("fleet: %s revision %" PRIu64 " not applied: %s",
			e->key, e->rev, why.message);
		f->in_snapshot = false;
		if (!why.code || !streq(why.code, "not-recorded"))
			f->resnapshot = true;
		break;
	case JIT_FLEET_OLD:
	case JIT_FLEET_NONE:
	case JIT_FLEET_BUMPED:
		break;
	}
}

/* What the policies in force say, as one number. */
static uint64_t policies_hash(struct jit_daemon *d)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return 0;
	for (size_t i = 0; i < policy_set_count(d->policies); i++)
		policy_print(policy_set_get(d->policies, i), out);
	fclose(out);
	return text ? hash_bytes(text, len, 0) : 0;
}

/*
 * After a reload that changed the policies, the range is taken again and
 * its refused revisions decided anew: a policy that now opts in opens what
 * it refused. At start the journal's decisions stand.
 */
static void daemon_fleet_policies_changed(struct jit_daemon *d, bool initial)
{
	struct jit_fleet_state *f = &d->fleet;
	uint64_t h = policies_hash(d);

	if (!initial && f->conf && f->nats && h != f->policies_hash) {
		f->redecide_pending = true;
		fleet_nats_resnapshot(f->nats);
	}
	f->policies_hash = h;
}

/*
 * Fleet grants the journal could not record were taken back whole (no
 * record left): the range is taken again, so they are decided anew now
 * that they can be recorded, rather than at the next reconnect.
 */
static void daemon_fleet_journal_recovered(struct jit_daemon *d)
{
	struct jit_fleet_state *f = &d->fleet;

	if (f->conf && f->nats)
		fleet_nats_resnapshot(f->nats);
}

static void squatted(struct jit_daemon *d, uint64_t seq)
{
	char id[128], desc[256];
	uint64_t now = now_real_ms();

	d->fleet.c_squatted++;
	fleet_msgid(d->fleet.conf->host, fleet_outbox_nonce(d->fleet.outbox),
		    seq, id, sizeof(id));
	snprintf(desc, sizeof(desc),
		 "the audit stream already held message id %s, which this "
		 "host had not sent",
		 id);
	daemon_alert(d, &alert_fleet_squatted, desc,
		     json_pack("{s:s, s:s}", "host", d->fleet.conf->host,
			       "msg_id", id),
		     now, now, 1);
}

static void on_thread(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d = container_of(io, struct jit_daemon, fleet.io);
	struct jit_fleet_state *f = &d->fleet;
	struct jit_fleet_msg *m = fleet_nats_take(f->nats);
	uint64_t acked = 0;

	while (m) {
		struct jit_fleet_msg *next = m->next;

		switch (m->kind) {
		case JIT_FLEET_MSG_ENTRY:
			on_entry(d, &m->entry);
			break;
		case JIT_FLEET_MSG_SNAPSHOT_BEGIN:
			f->in_snapshot = true;
			f->n_snap = 0;
			f->redecide_snapshot = f->redecide_pending;
			f->redecide_pending = false;
			break;
		case JIT_FLEET_MSG_SNAPSHOT_END:
			if (f->in_snapshot) {
				size_t n = fleet_reconcile(
					&d->access, f->snap_ids, f->n_snap);

				f->c_absent += n;
				f->c_snapshots++;
				f->last_snapshot_ms = now_real_ms();
				if (n)
					log_notice("fleet: %zu grant(s) no "
						   "longer in the store "
						   "revoked",
						   n);
			}
			f->in_snapshot = false;
			f->redecide_snapshot = false;
			break;
		case JIT_FLEET_MSG_STATE:
			set_reachable(d, m->connected, m->watching, m->text);
			break;
		case JIT_FLEET_MSG_ACKED:
			f->c_published++;
			acked = m->seq > acked ? m->seq : acked;
			break;
		case JIT_FLEET_MSG_SQUATTED:
			squatted(d, m->seq);
			break;
		}
		free(m->entry.data);
		free(m);
		m = next;
	}
	if (f->resnapshot) {
		f->resnapshot = false;
		fleet_nats_resnapshot(f->nats);
	}
	if (acked && f->outbox) {
		int r = fleet_outbox_ack(f->outbox, acked);

		if (r < 0)
			log_err("fleet: saving the audit cursor in '%s': %s",
				d->cfg->state_dir, strerror(-r));
		/* Saved by the flush hook a little later: one sync for
		 * many acks, not a sync on the loop per batch. */
		if (fleet_outbox_unsaved(f->outbox) && !f->cursor_due_ms)
			f->cursor_due_ms =
				now_mono_ms() + JIT_FLEET_CURSOR_SAVE_MS;
	}
	access_arm_timer(d);
}

/*
 * The audit cursor, when due (and at exit): a kill -9 before it only
 * makes the lines since the last save be sent again, which the stream
 * drops as duplicates.
 */
static uint64_t daemon_fleet_flush(struct jit_daemon *d, uint64_t now_ms,
				   bool all)
{
	struct jit_fleet_state *f = &d->fleet;
	int r;

	if (!f->outbox || !f->cursor_due_ms)
		return 0;
	if (!all && now_ms < f->cursor_due_ms)
		return f->cursor_due_ms;
	r = fleet_outbox_save(f->outbox);
	if (r < 0) {
		log_err("fleet: saving the audit cursor in '%s': %s",
			d->cfg->state_dir, strerror(-r));
		f->cursor_due_ms = now_ms + JIT_FLEET_CURSOR_SAVE_MS;
		return all ? 0 : f->cursor_due_ms;
	}
	f->cursor_due_ms = 0;
	return 0;
}

static void daemon_fleet_audit(struct jit_daemon *d, const char *line)
{
	struct jit_fleet_state *f = &d->fleet;
	uint64_t seq;

	/* The line as the audit log has it: its "host" is this host's
	 * fleet name (audit_set_host). */
	if (!f->conf || !f->outbox)
		return;
	if (fleet_outbox_add(f->outbox, line, &seq) < 0 ||
	    fleet_nats_publish(f->nats, seq, fleet_outbox_nonce(f->outbox),
			       line, false) < 0)
		f->c_unpublished++;
}

static int resend(void *u, uint64_t seq, const char *line)
{
	struct jit_daemon *d = u;

	return fleet_nats_publish(d->fleet.nats, seq,
				  fleet_outbox_nonce(d->fleet.outbox), line,
				  true);
}

static void stop(struct jit_daemon *d)
{
	struct jit_fleet_state *f = &d->fleet;

	if (f->nats) {
		loop_del(d->epfd, &f->io);
		fleet_nats_stop(f->nats);
		f->nats = NULL;
	}
	/* Closing saves the cursor. */
	f->outbox = fleet_outbox_close(f->outbox);
	f->cursor_due_ms = 0;
	f->conf = fleet_conf_free(f->conf);
	f->in_snapshot = false;
}

static int start(struct jit_daemon *d, struct jit_fleet_conf *conf)
{
	struct jit_fleet_state *f = &d->fleet;
	_cleanup_free_ char *password = NULL;
	struct jit_diag diag;
	int fd, r;

	diag_init(&diag);
	r = fleet_conf_read_password(conf, &password, &diag);
	if (r < 0) {
		log_err("fleet: the NATS password:");
		log_lines(LOG_ERR, diag.text ? diag.text : "");
		diag_release(&diag);
		fleet_conf_free(conf);
		return r;
	}
	diag_release(&diag);
	r = fleet_outbox_open(d->cfg->state_dir, &f->outbox);
	if (r < 0) {
		log_err("fleet: opening the audit outbox in '%s': %s",
			d->cfg->state_dir, strerror(-r));
		fleet_conf_free(conf);
		return r;
	}
	r = fleet_nats_start(conf, password, JIT_VERSION, &f->nats, &fd);
	if (password)
		explicit_bzero(password, strlen(password));
	if (r == 0)
		r = loop_watch(d->epfd, &f->io, fd, on_thread, EPOLLIN);
	f->conf = conf;
	/* One name for this host in every audit line and alert. */
	audit_set_host(conf->host);
	if (r == 0)
		r = fleet_outbox_each_pending(f->outbox, resend, d);
	if (r < 0) {
		log_err("fleet: starting: %s", strerror(-r));
		stop(d);
		return r;
	}
	f->connected = f->watching = true;
	set_reachable(d, false, false, "connecting");
	log_notice("fleet: host %s, %zu server(s), %zu label(s), audit from "
		   "sequence %" PRIu64,
		   conf->host, conf->n_servers, conf->n_labels,
		   fleet_outbox_acked(f->outbox) + 1);
	return 0;
}

/* Read the file: 0 with *ret (NULL when it does not exist), or -errno. */
static int load(struct jit_daemon *d, struct jit_fleet_conf **ret)
{
	struct jit_diag diag;
	int r;

	*ret = NULL;
	diag_init(&diag);
	r = fleet_conf_load(d->cfg->fleet_config, ret, &diag);
	if (r == -ENOENT) {
		diag_release(&diag);
		return 0;
	}
	if (r < 0) {
		log_err("fleet configuration '%s' rejected%s:",
			d->cfg->fleet_config,
			d->fleet.conf ? "; the one in force stays" : "");
		log_lines(LOG_ERR, diag.text ? diag.text : "");
		free(d->fleet.errors);
		d->fleet.errors = TAKE_PTR(diag.text);
	} else {
		d->fleet.errors = (free(d->fleet.errors), NULL);
	}
	diag_release(&diag);
	return r;
}

static int daemon_fleet_setup(struct jit_daemon *d)
{
	struct jit_fleet_conf *conf;
	int r;

	if (!d->cfg->fleet_config)
		return 0;
	r = load(d, &conf);
	if (r < 0) {
		log_err("fix '%s' or remove it (fleet mode is off without it)",
			d->cfg->fleet_config);
		return r;
	}
	if (!conf) {
		log_info("fleet mode off: no '%s'", d->cfg->fleet_config);
		return 0;
	}
	return start(d, conf);
}

static bool same_conf(const struct jit_fleet_conf *a,
		      const struct jit_fleet_conf *b)
{
	/* Compared by what it says; the thread takes a copy at start. */
	if (!a || !b || strcmp(a->host, b->host) || strcmp(a->user, b->user) ||
	    a->n_servers != b->n_servers || a->n_labels != b->n_labels ||
	    a->connect_timeout_ms != b->connect_timeout_ms ||
	    !streq(a->password_file ? a->password_file : "",
		   b->password_file ? b->password_file : "") ||
	    !streq(a->tls_ca_file ? a->tls_ca_file : "",
		   b->tls_ca_file ? b->tls_ca_file : "") ||
	    !streq(a->tls_cert_file ? a->tls_cert_file : "",
		   b->tls_cert_file ? b->tls_cert_file : "") ||
	    !streq(a->tls_key_file ? a->tls_key_file : "",
		   b->tls_key_file ? b->tls_key_file : ""))
		return false;
	for (size_t i = 0; i < a->n_servers; i++)
		if (strcmp(a->servers[i], b->servers[i]))
			return false;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].key, b->labels[i].key) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	return true;
}

static int daemon_fleet_reload(struct jit_daemon *d)
{
	struct jit_fleet_conf *conf;
	int r;

	if (!d->cfg->fleet_config)
		return 0;
	r = load(d, &conf);
	if (r < 0)
		return r;
	if (same_conf(conf, d->fleet.conf)) {
		fleet_conf_free(conf);
		return 0;
	}
	if (d->fleet.conf)
		log_notice("fleet: configuration %s; reconnecting",
			   conf ? "changed" : "removed, fleet mode off");
	stop(d);
	d->fleet.unreachable_since_ms = 0;
	return conf ? start(d, conf) : 0;
}

static void daemon_fleet_teardown(struct jit_daemon *d)
{
	int left;

	stop(d);
	/* The threads asked to stop (this one, those of reloads), as long
	 * as their calls in progress may take (a connect to a server that
	 * does not answer), within a bound: nothing of theirs is left
	 * behind, and leak checkers stay quiet. Usually at once. */
	left = fleet_nats_wait(-1);
	if (left)
		log_warn("fleet: the NATS thread did not end in time; exiting "
			 "without it");
	free(d->fleet.errors);
	d->fleet.errors = NULL;
	free(d->fleet.snap_ids);
	d->fleet.snap_ids = NULL;
}

static json_t *daemon_fleet_status(struct jit_daemon *d)
{
	const struct jit_fleet_state *f = &d->fleet;
	size_t live = 0;
	json_t *j, *labels;

	if (!f->conf)
		return json_pack("{s:b, s:s?, s:s?}", "enabled", 0, "config",
				 d->cfg->fleet_config, "errors", f->errors);
	for (size_t i = 0; i < grants_count(d->access.grants); i++) {
		const struct jit_request *r = grants_at(d->access.grants, i);

		live += r->fleet_id && r->status == JIT_INITIATED;
	}
	labels = json_object();
	for (size_t i = 0; i < f->conf->n_labels; i++)
		json_object_set_new(labels, f->conf->labels[i].key,
				    json_string(f->conf->labels[i].value));
	j = json_pack(
		"{s:b, s:s, s:s, s:o, s:b, s:b, s:b, s:I, s:s?, s:I, s:I, "
		"s:s?, s:{s:I, s:I, s:s}, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
		"s:I, s:I, s:I}}",
		"enabled", 1, "config", d->cfg->fleet_config, "host",
		f->conf->host, "labels", labels, "reachable",
		f->connected && f->watching, "connected", f->connected,
		"watching", f->watching, "unreachable_since_ms",
		(json_int_t)f->unreachable_since_ms, "last_error",
		f->unreachable_since_ms && f->last_error[0] ? f->last_error
							    : NULL,
		"grants", (json_int_t)live, "last_snapshot_ms",
		(json_int_t)f->last_snapshot_ms, "errors", f->errors, "audit",
		"next_seq",
		(json_int_t)(f->outbox ? fleet_outbox_next(f->outbox) : 0),
		"acked_seq",
		(json_int_t)(f->outbox ? fleet_outbox_acked(f->outbox) : 0),
		"nonce", f->outbox ? fleet_outbox_nonce(f->outbox) : "",
		"counters", "entries", (json_int_t)f->c_entries, "granted",
		(json_int_t)f->c_granted, "refused", (json_int_t)f->c_refused,
		"revoked", (json_int_t)f->c_revoked, "absent",
		(json_int_t)f->c_absent, "bad", (json_int_t)f->c_bad,
		"snapshots", (json_int_t)f->c_snapshots, "published",
		(json_int_t)f->c_published, "squatted",
		(json_int_t)f->c_squatted);
	return j;
}

const struct jit_channel channel_fleet = {
	.name = "fleet",
	.setup = daemon_fleet_setup,
	.reload = daemon_fleet_reload,
	.teardown = daemon_fleet_teardown,
	.status = daemon_fleet_status,
	.audit_line = daemon_fleet_audit,
	.journal_recovered = daemon_fleet_journal_recovered,
	.policies_changed = daemon_fleet_policies_changed,
	.flush = daemon_fleet_flush,
};
