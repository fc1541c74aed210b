/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bringing the kernel in line with the policies: reload the directory,
 * compile, commit in one batch with the sessions older than conntrack, and
 * put the grant sets back whole when the table was replaced or tampered
 * with.
 */
#include <inttypes.h>
#include <netinet/in.h>

#include "sockdiag.h"
#include "daemon-internal.h"
#include "terminate.h"
#include "log.h"
#include "util.h"

#define SESSIONS_MAX 65536

static void record_policies(struct jit_daemon *d);

/* Field by field: structure padding is not guaranteed to be zero. */
static bool ruleset_equal(const struct jit_ruleset *a,
			  const struct jit_ruleset *b)
{
	if (!a || !b || a->n_protected != b->n_protected ||
	    a->n_deny != b->n_deny || a->log_group != b->log_group ||
	    a->log_rate != b->log_rate || a->spa_port != b->spa_port ||
	    a->spa_group != b->spa_group)
		return false;
	for (size_t i = 0; i < a->n_protected; i++) {
		const struct jit_protected *x = &a->protected[i],
					   *y = &b->protected[i];

		if (x->proto != y->proto || x->lo != y->lo || x->hi != y->hi)
			return false;
	}
	for (size_t i = 0; i < a->n_deny; i++) {
		const struct jit_deny *x = &a->deny[i], *y = &b->deny[i];

		if (x->proto != y->proto || x->lo != y->lo || x->hi != y->hi ||
		    x->action != y->action || !streq(x->iface, y->iface))
			return false;
	}
	return true;
}

struct sessions_ctx {
	const struct jit_ruleset *rs;
	struct jit_session *v;
	size_t n, cap;
};

static int session_cb(const struct jit_sock *s, void *userdata)
{
	struct sessions_ctx *ctx = userdata;
	struct jit_session *x;

	if (!ruleset_protects(ctx->rs, IPPROTO_TCP, s->lport))
		return 0;
	if (ctx->n >= SESSIONS_MAX)
		return -E2BIG;
	if (grow_array((void **)&ctx->v, &ctx->cap, ctx->n + 1,
		       sizeof(*ctx->v)) < 0)
		return -ENOMEM;
	x = &ctx->v[ctx->n++];
	memset(x, 0, sizeof(*x));
	x->family = s->family;
	memcpy(x->remote, s->remote, sizeof(x->remote));
	memcpy(x->local, s->local, sizeof(x->local));
	x->rport = s->rport;
	x->lport = s->lport;
	return 0;
}

/* Connected TCP sockets on protected ports, in the kernel's order. */
static int collect_sessions(const struct jit_ruleset *rs,
			    struct jit_session **ret, size_t *n)
{
	struct sessions_ctx ctx = { .rs = rs };
	int r;

	r = sockdiag_dump(IPPROTO_TCP, SOCKDIAG_CONNECTED, session_cb, &ctx);
	if (r < 0 && r != -E2BIG) {
		free(ctx.v);
		return r;
	}
	if (r == -E2BIG)
		log_warn("more than %d sessions on protected ports; only the "
			 "first are kept across a restart",
			 SESSIONS_MAX);
	*ret = ctx.v;
	*n = ctx.n;
	return 0;
}

static bool sessions_equal(const struct jit_session *a, size_t na,
			   const struct jit_session *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!session_equal(&a[i], &b[i]))
			return false;
	return true;
}

/*
 * A start that found the kernel as the agent left it (kernel-view): the
 * grant sets hold what the records want if the policies, which decide
 * which set each grant's elements go to, are the same as then.
 */
static void start_trust(struct jit_daemon *d)
{
	char digest[65];

	if (!d->kview_trusted)
		return;
	d->kview_trusted = false;
	daemon_policies_digest(d->policies, digest);
	if (!streq(digest, d->kview_found.policies)) {
		log_info("the policies changed since the grant sets were last "
			 "seen: they are read back");
		return;
	}
	log_info("no process changed the ruleset and no decision was made "
		 "since generation %" PRIu32
		 ": the grant sets are not read back",
		 d->kview_found.genid);
	table_trust(d->table, d->kview_found.genid);
}

/*
 * Commit rs with the sessions connected right now. A session that connected
 * while the batch was in flight is added by a second commit: until then its
 * packets are dropped, not reset, so TCP retransmits them.
 */
/*
 * One transaction for the ruleset; with d->resync also the grant sets,
 * replaced by exactly the live grants (at start and after tampering). A
 * table replaced whole for a new layout lost its grants: they are put back
 * by a resync right away.
 */
static int commit_with_grants(struct jit_daemon *d,
			      const struct jit_ruleset *rs,
			      const struct jit_session *ss, size_t n, char *err,
			      size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct jit_elem *elems = NULL;
		size_t n_elems = 0;
		int r;

		if (!d->resync) {
			r = table_commit(d->table, rs, ss, n, err, errlen);
			if (r != 1)
				return r;
			log_warn("table inet %s had another layout and was "
				 "replaced whole; putting the live grants back",
				 table_name(d->table));
			d->resync = true;
			continue;
		}
		r = scopes_elements(d->access.scopes, &elems, &n_elems);
		if (r < 0) {
			snprintf(err, errlen, "listing grant elements: %s",
				 strerror(-r));
			return r;
		}
		start_trust(d);
		r = table_commit_all(d->table, rs, ss, n, elems, n_elems,
				     now_real_ms(), err, errlen);
		free(elems);
		if (r >= 0) {
			const struct table_sync_stats *st =
				table_last_sync(d->table);

			if (st->trusted)
				log_info("grant sets: %zu elements kept, 0 "
					 "added, 0 removed (not read: as the "
					 "agent left them)",
					 st->kept);
			else
				log_info("grant sets: %zu elements kept, %zu "
					 "added, %zu removed%s (read in %.1f "
					 "ms)",
					 st->kept, st->added, st->removed,
					 st->whole ? " (filled whole)" : "",
					 (double)st->read_us / 1000.0);
			/* Exactly the records' elements, in one transaction. */
			d->kview_sure = true;
			d->resync = false;
			return 0;
		}
		return r;
	}
	return -EIO;
}

int daemon_commit(struct jit_daemon *d, const struct jit_ruleset *rs)
{
	struct jit_session *ss = NULL;
	size_t n = 0;
	char err[512];
	int r;

	for (int round = 0; round < 2; round++) {
		struct jit_session *now = NULL;
		size_t n_now = 0;

		r = collect_sessions(rs, &now, &n_now);
		if (r < 0) {
			log_warn("listing local sessions: %s; sessions older "
				 "than conntrack may be cut",
				 strerror(-r));
			now = NULL;
			n_now = 0;
		}
		if (round == 1 && sessions_equal(now, n_now, ss, n)) {
			free(now);
			break;
		}
		free(ss);
		ss = now;
		n = n_now;
		r = commit_with_grants(d, rs, ss, n, err, sizeof(err));
		if (r < 0) {
			if (r == -EPERM)
				log_err("committing table inet %s: %s (is "
					"another agent running?)",
					table_name(d->table), err);
			else
				log_err("committing table inet %s: %s",
					table_name(d->table), err);
			free(ss);
			return r;
		}
	}
	free(d->sessions);
	d->sessions = ss;
	d->n_sessions = n;
	return 0;
}

/* The last good policy texts go to the journal with every reload. */
static void record_policies(struct jit_daemon *d)
{
	int r = journal_append_policies(d->access.journal, d->policies);

	if (r < 0)
		daemon_journal_failed(d, r);
	d->access.dirty = true;
}

int daemon_resync(struct jit_daemon *d)
{
	if (!d->ruleset)
		return 0;
	d->resync = true;
	return daemon_commit(d, d->ruleset);
}

static void flow_of_session(const struct jit_session *x, struct jit_flow *f)
{
	*f = (struct jit_flow){
		.family = x->family,
		.proto = IPPROTO_TCP,
		.rport = x->rport,
		.lport = x->lport,
	};
	memcpy(f->remote, x->remote, sizeof(f->remote));
	memcpy(f->local, x->local, sizeof(f->local));
}

static bool is_elder(const struct jit_daemon *d, const struct jit_session *x)
{
	for (size_t i = 0; i < d->n_elder; i++)
		if (session_equal(&d->elder[i], x))
			return true;
	return false;
}

/*
 * The sessions connected when their port became protected (at start, or
 * when a policy added the port) that no live record covered then: no grant
 * let them in (the admin who started the agent), and revoke --terminate
 * never ends them. One that a live record covered came through a grant
 * before a restart, and ends with it.
 */
static void note_elder_sessions(struct jit_daemon *d,
				const struct jit_ruleset *before)
{
	const struct jit_request **live = NULL;
	struct jit_terminate_scope sc = { 0 };
	int n;

	if (!d->n_sessions)
		return;
	n = terminate_others(d->access.grants, NULL, now_real_ms(), &live);
	if (n < 0)
		return;
	sc.others = live;
	sc.n_others = (size_t)n;
	for (size_t i = 0; i < d->n_sessions; i++) {
		const struct jit_session *x = &d->sessions[i];
		struct jit_spared why;
		struct jit_flow f;

		if ((before &&
		     ruleset_protects(before, IPPROTO_TCP, x->lport)) ||
		    is_elder(d, x))
			continue;
		flow_of_session(x, &f);
		if (terminate_spares(&sc, &f, &why) ||
		    grow_array((void **)&d->elder, &d->cap_elder,
			       d->n_elder + 1, sizeof(*d->elder)) < 0)
			continue;
		d->elder[d->n_elder++] = *x;
	}
	free(live);
}
static int reload(struct jit_daemon *d, bool initial);

/*
 * Reload the policy directory and bring the kernel in line. A rejected file
 * keeps its last good version; a failed commit leaves the kernel as it was.
 * The reload, and every policy it loaded, changed or removed, is audited
 * (at start, every policy in force counts as loaded).
 */
int daemon_reload(struct jit_daemon *d, bool initial)
{
	json_t *before = initial ? json_object() : daemon_policies_snapshot(d);
	const char *trigger = initial		  ? "start"
			      : d->reload_trigger ? d->reload_trigger
						  : "directory";
	int r = reload(d, initial);

	daemon_audit_reload(d, trigger, r);
	daemon_audit_policy_changes(d, before);
	json_decref(before);
	d->reload_trigger = NULL;
	d->reload_by_peer = false;
	return r;
}

static int reload(struct jit_daemon *d, bool initial)
{
	struct jit_ruleset *rs = NULL;
	struct jit_diag diag;
	int r;

	d->reloads++;
	diag_init(&diag);
	r = policy_set_load_dir(d->policies, d->cfg->policy_dir, &diag);
	if (r < 0) {
		if (!(r == -ENOENT && d->policy_dir_missing))
			log_err("reading policy directory '%s': %s; the "
				"policies in force stay",
				d->cfg->policy_dir, strerror(-r));
		d->policy_dir_missing = r == -ENOENT;
		diag_release(&diag);
		return r;
	}
	if (d->policy_dir_missing)
		log_notice("policy directory '%s' is back", d->cfg->policy_dir);
	d->policy_dir_missing = false;
	if (diag.errors) {
		if (!d->policy_errors || !streq(d->policy_errors, diag.text)) {
			log_err("%d policy file(s) rejected; their last good "
				"version stays in force:",
				r);
			log_lines(LOG_ERR, diag.text);
		}
		free(d->policy_errors);
		d->policy_errors = TAKE_PTR(diag.text);
	} else {
		d->policy_errors = (free(d->policy_errors), NULL);
	}
	diag_release(&diag);
	/* Loaded, but names no one here, or no one but root. */
	diag_init(&diag);
	if (policy_set_warn(d->policies, &diag))
		log_lines(LOG_WARNING, diag.text);
	diag_release(&diag);

	r = ruleset_compile(d->policies, &rs);
	if (r < 0) {
		log_err("compiling policies: %s", strerror(-r));
		return r;
	}
	{
		struct jit_detect_limits lim;

		detect_limits_from_policies(d->policies, &lim);
		detect_set_limits(d->detect, &lim);
		rs->log_group = d->cfg->nflog_group;
		rs->log_rate = d->nflog || initial ? lim.log_rate : 0;
		if (d->cfg->spa_access) {
			rs->spa_port = d->cfg->spa_port;
			rs->spa_group = d->cfg->spa_group;
		}
	}
	if (!initial && ruleset_equal(rs, d->ruleset)) {
		/* Same ports, but limits or requesters may have changed. */
		ruleset_free(rs);
		access_recheck(&d->access, daemon_lookup_uid);
		access_arm_timer(d);
		daemon_collect_mgmt_ports(d);
		record_policies(d);
		channels_policies_changed(d, initial);
		return 0;
	}
	r = daemon_commit(d, rs);
	if (r < 0) {
		ruleset_free(rs);
		return r;
	}
	note_elder_sessions(d, initial ? NULL : d->ruleset);
	ruleset_free(d->ruleset);
	d->ruleset = rs;
	access_recheck(&d->access, daemon_lookup_uid);
	access_arm_timer(d);
	daemon_collect_mgmt_ports(d);
	daemon_log_posture(d);
	record_policies(d);
	channels_policies_changed(d, initial);
	d->last_reload_ms = now_real_ms();
	log_notice("table inet %s committed (%s): %zu policies, %zu protected "
		   "ranges",
		   table_name(d->table), table_mode_name(table_mode(d->table)),
		   policy_set_count(d->policies), rs->n_protected);
	return 0;
}

/* Management ports for posture: the policies' extra ones. */
void daemon_collect_mgmt_ports(struct jit_daemon *d)
{
	d->n_mgmt_ports = 0;
	for (size_t i = 0; i < policy_set_count(d->policies); i++) {
		const struct jit_alert_limits *a =
			&policy_set_get(d->policies, i)->alerts;

		for (size_t k = 0; k < a->n_mgmt_ports &&
				   d->n_mgmt_ports < ARRAY_SIZE(d->mgmt_ports);
		     k++)
			d->mgmt_ports[d->n_mgmt_ports++] = a->mgmt_ports[k];
	}
}

/* Remove sessions at indexes where gone[i] from d->sessions and the kernel. */
static void drop_sessions(struct jit_daemon *d, const bool *gone)
{
	_cleanup_free_ struct jit_session *del =
		calloc(d->n_sessions + 1, sizeof(*del));
	size_t n_del = 0, out = 0;
	char err[256];

	if (!del)
		return;
	for (size_t i = 0; i < d->n_sessions; i++) {
		if (gone[i])
			del[n_del++] = d->sessions[i];
		else
			d->sessions[out++] = d->sessions[i];
	}
	if (!n_del)
		return;
	d->n_sessions = out;
	if (table_sessions_delete(d->table, del, n_del, err, sizeof(err)) < 0) {
		log_warn("removing %zu closed session(s): %s; the list is "
			 "committed again",
			 n_del, err);
		(void)daemon_commit(d, d->ruleset);
	}
}

static bool session_is(const struct jit_session *x, const struct jit_sock *s)
{
	size_t alen = x->family == AF_INET ? 4 : 16;

	return x->family == s->family && x->rport == s->rport &&
	       x->lport == s->lport && !memcmp(x->remote, s->remote, alen) &&
	       !memcmp(x->local, s->local, alen);
}

void daemon_prune_sessions(struct jit_daemon *d)
{
	_cleanup_free_ struct jit_session *now = NULL;
	_cleanup_free_ bool *gone = NULL;
	size_t n = 0;

	if (!d->n_sessions || !d->ruleset ||
	    collect_sessions(d->ruleset, &now, &n) < 0)
		return;
	gone = calloc(d->n_sessions, sizeof(*gone));
	if (!gone)
		return;
	for (size_t i = 0; i < d->n_sessions; i++) {
		gone[i] = true;
		for (size_t k = 0; k < n && gone[i]; k++)
			gone[i] = !session_equal(&d->sessions[i], &now[k]);
	}
	drop_sessions(d, gone);
}

int daemon_session_closed(const struct jit_sock *s, void *userdata)
{
	struct jit_daemon *d = userdata;
	_cleanup_free_ bool *gone = NULL;

	if (!s) {
		daemon_prune_sessions(d);
		return 0;
	}
	/* Its 4-tuple may come back later, through a grant. */
	for (size_t i = 0; i < d->n_elder;) {
		if (session_is(&d->elder[i], s))
			d->elder[i] = d->elder[--d->n_elder];
		else
			i++;
	}
	if (!d->n_sessions)
		return 0;
	gone = calloc(d->n_sessions, sizeof(*gone));
	if (!gone)
		return 0;
	for (size_t i = 0; i < d->n_sessions; i++)
		gone[i] = session_is(&d->sessions[i], s);
	drop_sessions(d, gone);
	return 0;
}

void daemon_refresh_sessions(struct jit_daemon *d)
{
	struct jit_session *now = NULL;
	size_t n = 0;

	if (!d->ruleset || collect_sessions(d->ruleset, &now, &n) < 0)
		return;
	if (!sessions_equal(now, n, d->sessions, d->n_sessions))
		(void)daemon_commit(d, d->ruleset);
	free(now);
}
