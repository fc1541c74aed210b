/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "control.h"
#include "daemon-internal.h"
#include "duration.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "ruleset.h"
#include "table.h"
#include "alert.h"
#include "posture.h"
#include "caps.h"
#include "notify.h"
#include "sockdiag.h"
#include "util.h"
#include "watch.h"

#include "config.h"

static void collect_mgmt_ports(struct jit_daemon *d);
static void log_posture(struct jit_daemon *d);
static json_t *alerts_json(struct jit_daemon *d, json_t *req);
static json_t *posture_json(struct jit_daemon *d);
static void compaction_reap(struct jit_daemon *d);
static void record_policies(struct jit_daemon *d);

/* Events handled in one pass of the loop, before the journal is synced. */
#define PASS_EVENTS 64
/* Editors write files in several steps; wait for them to settle. */
#define RELOAD_SETTLE_MS 150
/* How often the list of sessions older than conntrack is refreshed. */
#define SESSIONS_REFRESH_S 300
#define SESSIONS_MAX	   65536

static json_t *ruleset_json(const struct jit_ruleset *r)
{
	json_t *prot = json_array(), *deny = json_array();

	for (size_t i = 0; i < r->n_protected; i++) {
		const struct jit_protected *p = &r->protected[i];

		json_array_append_new(
			prot, json_pack("{s:s, s:i, s:i}", "protocol",
					p->proto == IPPROTO_TCP ? "tcp" : "udp",
					"port_lo", p->lo, "port_hi", p->hi));
	}
	for (size_t i = 0; i < r->n_deny; i++) {
		const struct jit_deny *d = &r->deny[i];

		json_array_append_new(
			deny,
			json_pack("{s:s, s:i, s:i, s:s, s:s}", "protocol",
				  d->proto == IPPROTO_TCP ? "tcp" : "udp",
				  "port_lo", d->lo, "port_hi", d->hi,
				  "interface", d->iface[0] ? d->iface : "*",
				  "action",
				  d->action == JIT_ACTION_DROP ? "drop"
							       : "reject"));
	}
	return json_pack("{s:o, s:o}", "protected", prot, "deny", deny);
}

static json_t *status_json(struct jit_daemon *d)
{
	json_t *j;

	j = json_pack(
		"{s:b, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:i, "
		"s:i, s:i, s:o, s:s?}",
		"ok", 1, "version", JIT_VERSION, "pid", (int)getpid(), "table",
		table_name(d->table), "table_family", "inet", "protection",
		table_mode_name(table_mode(d->table)), "policy_dir",
		d->cfg->policy_dir, "started_ms", (json_int_t)d->started_ms,
		"last_reload_ms", (json_int_t)d->last_reload_ms, "reloads",
		d->reloads, "policies", (int)policy_set_count(d->policies),
		"clients", (int)control_clients(d->control), "ruleset",
		ruleset_json(d->ruleset), "policy_errors", d->policy_errors);
	if (j) {
		size_t live =
			grants_count_status(d->access.grants, JIT_INITIATED);
		size_t pending =
			grants_count_status(d->access.grants, JIT_PENDING);
		int jerr = journal_error(d->access.journal);
		char caps[40] = "";
		struct jit_foreign_chain *fc = NULL;
		int nfc = table_foreign_input_chains(d->table, &fc);
		json_t *arr = json_array();

		for (int i = 0; i < nfc; i++)
			json_array_append_new(
				arr,
				json_pack(
					"{s:s, s:s, s:s, s:i, s:s, s:s}",
					"family",
					fc[i].family == NFPROTO_IPV4   ? "ip"
					: fc[i].family == NFPROTO_IPV6 ? "ip6"
								       : "inet",
					"table", fc[i].table, "chain",
					fc[i].chain, "priority",
					(int)fc[i].priority, "policy",
					fc[i].policy_drop ? "drop" : "accept",
					"runs",
					fc[i].priority < table_input_priority()
						? "before ours"
					: fc[i].priority ==
							table_input_priority()
						? "with ours (order undefined)"
						: "after ours"));
		free(fc);
		json_object_set_new(j, "other_input_chains", arr);
		if (caps_effective(caps, sizeof(caps)) == 0)
			json_object_set_new(j, "capabilities_effective",
					    json_string(caps));
		json_object_set_new(j, "tamper_events",
				    json_integer((json_int_t)d->tampers));
		json_object_set_new(j, "tamper_watch",
				    json_boolean(d->watch != NULL));
		json_object_set_new(j, "grants",
				    json_integer((json_int_t)live));
		json_object_set_new(j, "pending",
				    json_integer((json_int_t)pending));
		json_object_set_new(
			j, "elements",
			json_integer((json_int_t)cover_count(d->access.cover)));
		json_object_set_new(
			j, "journal",
			json_pack(
				"{s:s, s:s, s:s?, s:I, s:I, s:I, s:b}",
				"state_dir", d->cfg->state_dir, "state",
				journal_degraded(d->access.journal) ? "degraded"
								    : "ok",
				"error", jerr ? strerror(-jerr) : NULL,
				"unrecorded",
				(json_int_t)journal_backlog(d->access.journal),
				"journal_bytes",
				(json_int_t)journal_bytes(d->access.journal),
				"snapshot_bytes",
				(json_int_t)journal_snapshot_bytes(
					d->access.journal),
				"compacting",
				journal_compacting(d->access.journal) > 0));
	}
	return j;
}

static json_t *principals_json(const struct jit_principals *p)
{
	json_t *u = json_array(), *g = json_array();

	for (size_t i = 0; i < p->n_users; i++)
		json_array_append_new(u, json_string(p->users[i]));
	for (size_t i = 0; i < p->n_groups; i++)
		json_array_append_new(g, json_string(p->groups[i]));
	return json_pack("{s:o, s:o}", "users", u, "groups", g);
}

static json_t *policy_json(const struct jit_policy *p)
{
	json_t *ports = json_array(), *ifs = json_array();

	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *r = &p->ports[i];
		json_t *src = json_array();
		char buf[JIT_PREFIX_STRLEN], dur[32];

		if (r->any_source)
			json_array_append_new(src, json_string("any"));
		for (size_t k = 0; k < r->n_sources; k++)
			json_array_append_new(src, json_string(prefix_format(
							   &r->sources[k], buf,
							   sizeof(buf))));
		json_array_append_new(
			ports,
			json_pack("{s:i, s:i, s:s, s:s, s:i, s:o}", "port_lo",
				  r->port_lo, "port_hi", r->port_hi, "protocol",
				  r->protos == (JIT_PROTO_TCP | JIT_PROTO_UDP)
					  ? "any"
				  : r->protos == JIT_PROTO_TCP ? "tcp"
							       : "udp",
				  "max_duration",
				  duration_format(r->max_duration_s, dur,
						  sizeof(dur)),
				  "max_duration_s", (int)r->max_duration_s,
				  "allowed_sources", src));
	}
	for (size_t i = 0; i < p->n_interfaces; i++)
		json_array_append_new(ifs, json_string(p->interfaces[i]));
	return json_pack("{s:s, s:s?, s:s, s:i, s:o, s:o, s:o, s:s, s:o, s:s}",
			 "name", p->name, "description", p->description, "file",
			 p->file, "line", p->line, "ports", ports, "interfaces",
			 ifs, "requesters", principals_json(&p->requesters),
			 "approval",
			 p->approval == JIT_APPROVAL_AUTO ? "auto" : "manual",
			 "approvers", principals_json(&p->approvers), "action",
			 p->action == JIT_ACTION_DROP ? "drop" : "reject");
}

static json_t *policies_json(struct jit_daemon *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < policy_set_count(d->policies); i++)
		json_array_append_new(
			arr, policy_json(policy_set_get(d->policies, i)));
	return json_pack("{s:b, s:o}", "ok", 1, "policies", arr);
}

/* Field by field: structure padding is not guaranteed to be zero. */
static bool ruleset_equal(const struct jit_ruleset *a,
			  const struct jit_ruleset *b)
{
	if (!a || !b || a->n_protected != b->n_protected ||
	    a->n_deny != b->n_deny || a->log_group != b->log_group ||
	    a->log_rate != b->log_rate)
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
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
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
		r = cover_elements(d->access.cover, &elems, &n_elems);
		if (r < 0) {
			snprintf(err, errlen, "listing grant elements: %s",
				 strerror(-r));
			return r;
		}
		r = table_commit_all(d->table, rs, ss, n, elems, n_elems,
				     now_real_ms(), err, errlen);
		free(elems);
		if (r >= 0) {
			d->resync = false;
			return 0;
		}
		return r;
	}
	return -EIO;
}

static int daemon_commit(struct jit_daemon *d, const struct jit_ruleset *rs)
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

/*
 * Reload the policy directory and bring the kernel in line. A rejected file
 * keeps its last good version; a failed commit leaves the kernel as it was.
 */
static int daemon_reload(struct jit_daemon *d, bool initial)
{
	struct jit_ruleset *rs = NULL;
	struct jit_diag diag;
	int r;

	d->reloads++;
	diag_init(&diag);
	r = policy_set_load_dir(d->policies, d->cfg->policy_dir, &diag);
	if (r < 0) {
		log_err("reading policy directory '%s': %s", d->cfg->policy_dir,
			strerror(-r));
		diag_release(&diag);
		return r;
	}
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
	}
	if (!initial && ruleset_equal(rs, d->ruleset)) {
		/* Same ports, but limits or requesters may have changed. */
		ruleset_free(rs);
		access_recheck(&d->access, daemon_lookup_uid);
		access_arm_timer(d);
		collect_mgmt_ports(d);
		record_policies(d);
		return 0;
	}
	r = daemon_commit(d, rs);
	if (r < 0) {
		ruleset_free(rs);
		return r;
	}
	ruleset_free(d->ruleset);
	d->ruleset = rs;
	access_recheck(&d->access, daemon_lookup_uid);
	access_arm_timer(d);
	collect_mgmt_ports(d);
	log_posture(d);
	record_policies(d);
	d->last_reload_ms = now_real_ms();
	log_notice("table inet %s committed (%s): %zu policies, %zu protected "
		   "ranges",
		   table_name(d->table), table_mode_name(table_mode(d->table)),
		   policy_set_count(d->policies), rs->n_protected);
	return 0;
}

static json_t *op_status(struct jit_daemon *d, const struct jit_peer *peer,
			 json_t *req)
{
	return status_json(d);
}

static json_t *op_grants(struct jit_daemon *d, const struct jit_peer *peer,
			 json_t *req)
{
	return api_list(d, peer, req, true);
}

static json_t *op_requests(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req)
{
	return api_list(d, peer, req, false);
}

static json_t *op_alerts(struct jit_daemon *d, const struct jit_peer *peer,
			 json_t *req)
{
	return alerts_json(d, req);
}

static json_t *op_posture(struct jit_daemon *d, const struct jit_peer *peer,
			  json_t *req)
{
	return posture_json(d);
}

static json_t *op_policies(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req)
{
	return policies_json(d);
}

static json_t *op_reload(struct jit_daemon *d, const struct jit_peer *peer,
			 json_t *req)
{
	if (peer->uid != 0)
		return control_error("permission-denied",
				     "only root may reload policies");
	if (daemon_reload(d, false) < 0)
		return control_error("reload-failed",
				     "reload failed; see the agent's log");
	return json_pack("{s:b, s:s?}", "ok", 1, "policy_errors",
			 d->policy_errors);
}

static const struct {
	const char *name;
	json_t *(*fn)(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *req);
} ops[] = {
	{ "status", op_status },     { "request", api_request },
	{ "approve", api_approve },  { "deny", api_deny },
	{ "revoke", api_revoke },    { "grants", op_grants },
	{ "requests", op_requests }, { "alerts", op_alerts },
	{ "posture", op_posture },   { "policies", op_policies },
	{ "reload", op_reload },
};

static json_t *handle_request(void *userdata, const struct jit_peer *peer,
			      json_t *req)
{
	struct jit_daemon *d = userdata;
	const char *op = json_string_value(json_object_get(req, "op"));

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (streq(op, ops[i].name))
			return ops[i].fn(d, peer, req);
	return control_error("unknown-op", "unknown op '%.64s'", op);
}

static void arm_reload(struct jit_daemon *d)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = 0,
			      .tv_nsec = RELOAD_SETTLE_MS * 1000000L },
	};

	(void)timerfd_settime(d->reload_timer.fd, 0, &its, NULL);
}

static void signal_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		(struct jit_daemon *)((char *)io -
				      offsetof(struct jit_daemon, sig));
	struct signalfd_siginfo si;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_notice("SIGHUP: reloading policies");
			daemon_reload(d, false);
		} else if (si.ssi_signo == SIGCHLD) {
			compaction_reap(d);
		} else {
			log_notice("signal %u: exiting; the table stays in "
				   "force",
				   si.ssi_signo);
			d->quit = true;
		}
	}
}

static void inotify_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		(struct jit_daemon *)((char *)io -
				      offsetof(struct jit_daemon, inotify));
	char buf[8192]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
				log_warn("policy directory '%s' was removed or "
					 "moved; the policies in force stay",
					 d->cfg->policy_dir);
			if (!ev->len || policy_is_policy_filename(ev->name) ||
			    (ev->mask & IN_Q_OVERFLOW))
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (relevant)
		arm_reload(d);
}

static void reload_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		(struct jit_daemon *)((char *)io - offsetof(struct jit_daemon,
							    reload_timer));
	uint64_t ticks;

	if (read(io->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	daemon_reload(d, false);
}

static void expiry_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		(struct jit_daemon *)((char *)io - offsetof(struct jit_daemon,
							    expiry_timer));
	uint64_t ticks;

	/* ECANCELED after a clock change is a reason to look, too. */
	(void)!read(io->fd, &ticks, sizeof(ticks));
	access_expire(&d->access, now_real_ms());
	access_arm_timer(d);
}

static void sessions_timer_cb(struct jit_io *io, uint32_t events)
{
	struct jit_daemon *d =
		(struct jit_daemon *)((char *)io - offsetof(struct jit_daemon,
							    sessions_timer));
	struct jit_session *now = NULL;
	uint64_t ticks;
	size_t n = 0;

	if (read(io->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	if (!d->ruleset || collect_sessions(d->ruleset, &now, &n) < 0)
		return;
	if (!sessions_equal(now, n, d->sessions, d->n_sessions))
		(void)daemon_commit(d, d->ruleset);
	free(now);
}

/* ---- the core's kernel and hooks ----------------------------------------- */

void access_arm_timer(struct jit_daemon *d)
{
	uint64_t next = grants_next_end(d->access.grants);
	struct itimerspec its = { 0 };

	if (next) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
	}
	/* An all-zero value disarms; an end in the past fires at once. */
	(void)timerfd_settime(d->expiry_timer.fd, TFD_TIMER_ABSTIME, &its,
			      NULL);
}

int daemon_lookup_uid(uint32_t uid, struct jit_identity *ret)
{
	return identity_lookup(uid, (uint32_t)-1, ret);
}

static int k_update(void *ctx, const struct jit_elem *del, size_t n_del,
		    const struct jit_elem *add, size_t n_add, uint64_t now_ms,
		    char *err, size_t errlen)
{
	struct jit_daemon *d = ctx;
	int r = table_elems_update(d->table, del, n_del, add, n_add, now_ms,
				   err, errlen);

	if (r < 0)
		log_err("updating grant elements: %s", err);
	return r;
}

static int k_mark_unrecorded(void *ctx, uint64_t id, uint64_t end_ms,
			     uint64_t now_ms, char *err, size_t errlen)
{
	struct jit_daemon *d = ctx;
	int r = table_mark_unrecorded(d->table, id, end_ms, now_ms, err,
				      errlen);

	if (r < 0)
		log_err("marking %" PRIu64 " as ended in the kernel: %s", id,
			err);
	return r;
}

static int k_dump(void *ctx, uint64_t now_ms, struct jit_elem **ret)
{
	struct jit_daemon *d = ctx;
	int r = table_dump_elems(d->table, now_ms, ret);

	if (r < 0 && r != -ENOENT)
		log_warn("reading the kernel's grant elements: %s; the "
			 "journal alone decides",
			 strerror(-r));
	return r;
}

static int k_dump_unrecorded(void *ctx, uint64_t **ret)
{
	struct jit_daemon *d = ctx;

	return table_dump_unrecorded(d->table, ret);
}

static int k_resync(void *ctx)
{
	struct jit_daemon *d = ctx;

	log_warn("replacing the grant sets whole from the records");
	return daemon_resync(d);
}

static const struct jit_kernel_ops kernel_ops = {
	.update = k_update,
	.mark_unrecorded = k_mark_unrecorded,
	.dump = k_dump,
	.dump_unrecorded = k_dump_unrecorded,
	.resync = k_resync,
};

static void on_grant_started(void *userdata, const struct jit_request *r,
			     uint64_t now_ms)
{
	struct jit_daemon *d = userdata;

	detect_grant_started(d->detect, r, now_ms);
}

static void on_grant_ended(void *userdata, const struct jit_request *r,
			   uint64_t at_ms)
{
	struct jit_daemon *d = userdata;

	detect_grant_ended(d->detect, r, at_ms);
}

static void on_journal_failed(void *userdata, int err)
{
	daemon_journal_failed(userdata, err);
}

/* ---- the journal ------------------------------------------------------- */

void daemon_journal_failed(struct jit_daemon *d, int err)
{
	char desc[512];
	uint64_t now = now_real_ms();

	if (d->journal_alerted)
		return;
	d->journal_alerted = true;
	log_err("the journal in '%s' cannot be written: %s; grants are refused "
		"and removals are kept to retry until it can",
		d->cfg->state_dir, strerror(-err));
	snprintf(desc, sizeof(desc),
		 "The agent cannot record its decisions in '%s' (%s). New "
		 "grants are refused; revokes and expiries take effect in the "
		 "kernel and are recorded once the journal can be written.",
		 d->cfg->state_dir, strerror(-err));
	daemon_alert(d, &alert_journal_failed, desc,
		     json_pack("{s:s, s:s}", "state_dir", d->cfg->state_dir,
			       "error", strerror(-err)),
		     now, now, 1);
}

void daemon_pass_grant(struct jit_daemon *d, uint64_t id, json_t *reply)
{
	if (grow_array((void **)&d->pass, &d->cap_pass, d->n_pass + 1,
		       sizeof(*d->pass)) < 0) {
		/* Unsynced and untracked: better no grant than a false one. */
		access_unrecorded_grant(&d->access, id, -ENOMEM);
		json_object_clear(reply);
		json_object_set_new(reply, "ok", json_false());
		return;
	}
	d->pass[d->n_pass].id = id;
	d->pass[d->n_pass++].reply = json_incref(reply);
}

/*
 * End of a pass of the loop: one fdatasync for every decision of the pass
 * (group commit), then the replies that waited for it go out. A grant
 * whose record did not become durable is taken back and its reply turned
 * into an error.
 */
static void pass_end(struct jit_daemon *d)
{
	int r = 0;

	if (d->access.dirty || journal_backlog(d->access.journal)) {
		r = journal_sync(d->access.journal);
		if (r < 0)
			daemon_journal_failed(d, r);
		else
			d->access.dirty = false;
		if (r == 0 && !journal_degraded(d->access.journal) &&
		    d->journal_alerted) {
			log_notice("the journal in '%s' is written again",
				   d->cfg->state_dir);
			d->journal_alerted = false;
		}
	}
	for (size_t i = 0; i < d->n_pass; i++) {
		json_t *reply = d->pass[i].reply;

		if (r < 0) {
			char msg[512];

			access_unrecorded_grant(&d->access, d->pass[i].id, r);
			snprintf(msg, sizeof(msg),
				 "cannot record the decision: %s on %s",
				 strerror(-r), d->cfg->state_dir);
			json_object_clear(reply);
			json_object_set_new(reply, "ok", json_false());
			json_object_set_new(reply, "error",
					    json_pack("{s:s, s:s}", "code",
						      "not-recorded", "message",
						      msg));
		}
		json_decref(reply);
	}
	d->n_pass = 0;
	control_release(d->control);
	if (journal_wants_compaction(d->access.journal)) {
		pid_t pid;
		int c = journal_compact(d->access.journal, d->access.grants,
					d->policies, &pid);

		if (c < 0)
			log_warn("compacting the journal: %s", strerror(-c));
		else
			log_info("compacting the journal (pid %d)", (int)pid);
	}
}

static void compaction_reap(struct jit_daemon *d)
{
	pid_t pid = journal_compacting(d->access.journal);
	int status;

	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
		return;
	journal_compact_done(d->access.journal, pid, status);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		log_warn("writing the journal's snapshot failed; the journal "
			 "stays as it is");
}

struct load_ctx {
	struct jit_daemon *d;
	struct jit_state_policy *texts;
	size_t n, cap;
};

static int load_request(void *userdata, const struct jit_request *r)
{
	struct load_ctx *l = userdata;

	return grants_upsert(l->d->access.grants, r) == -ENOMEM ? -ENOMEM : 0;
}

static void load_policies_begin(void *userdata)
{
	struct load_ctx *l = userdata;

	for (size_t i = 0; i < l->n; i++) {
		free(l->texts[i].path);
		free(l->texts[i].text);
	}
	l->n = 0;
}

static int load_policy(void *userdata, const char *path, const char *text,
		       size_t len)
{
	struct load_ctx *l = userdata;
	struct jit_state_policy *p;

	if (grow_array((void **)&l->texts, &l->cap, l->n + 1,
		       sizeof(*l->texts)) < 0)
		return -ENOMEM;
	p = &l->texts[l->n];
	p->path = strdup(path);
	p->text = malloc(len + 1);
	if (!p->path || !p->text) {
		free(p->path);
		free(p->text);
		return -ENOMEM;
	}
	memcpy(p->text, text, len + 1);
	p->len = len;
	l->n++;
	return 0;
}

/* A state file of an earlier version: its records become the journal's. */
static int import_state_file(struct jit_daemon *d, struct load_ctx *l)
{
	struct jit_state st = { 0 };
	char why[256] = "";
	int r = state_load(d->cfg->state_dir, &st, why, sizeof(why));

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_err("the state file of an earlier version in '%s' is "
			"unusable (%s); starting without it",
			d->cfg->state_dir, r == -EBADMSG ? why : strerror(-r));
		return 0;
	}
	for (size_t i = 0; i < st.n_requests && r == 0; i++)
		r = load_request(l, &st.requests[i]);
	for (size_t i = 0; i < st.n_policies && r == 0; i++)
		r = load_policy(l, st.policies[i].path, st.policies[i].text,
				st.policies[i].len);
	grants_set_next_id(d->access.grants, st.next_id);
	log_notice("imported %zu requests from the state file of an earlier "
		   "version",
		   st.n_requests);
	{
		_cleanup_free_ char *from = NULL, *to = NULL;

		/* Imported once: the journal takes over from here. */
		if (asprintf(&from, "%s/%s", d->cfg->state_dir,
			     JIT_STATE_FILE) >= 0 &&
		    asprintf(&to, "%s/%s.imported", d->cfg->state_dir,
			     JIT_STATE_FILE) >= 0 &&
		    rename(from, to) < 0)
			log_warn("renaming '%s': %m", from);
	}
	state_release(&st);
	return r < 0 ? r : 1;
}

/*
 * The journal at start: requests come back, and every policy file that
 * is still there but fails to load gets its last good version back. A
 * damaged snapshot is set aside and reported; the agent then starts from
 * the journals that follow it, the policies and the kernel's table.
 */
static int load_journal(struct jit_daemon *d)
{
	struct load_ctx l = { .d = d };
	const struct jit_journal_sink sink = {
		.request = load_request,
		.policies_begin = load_policies_begin,
		.policy = load_policy,
		.userdata = &l,
	};
	struct jit_journal_info info;
	char why[256] = "";
	uint64_t t0 = now_mono_ms();
	int r, imported = 0;

	if (mkdir(d->cfg->state_dir, 0700) < 0 && errno != EEXIST)
		log_err("creating state directory '%s': %m", d->cfg->state_dir);
	/* Taken whatever happens next: it vouches for this journal only. */
	d->clean_start = state_take_clean(d->cfg->state_dir) == 1;
	r = journal_open(d->cfg->state_dir, &sink, &d->access.journal, &info,
			 why, sizeof(why));
	if (r == 0 && info.damaged_lines) {
		_cleanup_free_ char *from = NULL, *to = NULL;

		log_err("the journal's snapshot in '%s' is damaged (%s); kept "
			"aside, and a new one is written",
			d->cfg->state_dir, why);
		if (asprintf(&from, "%s/" JIT_SNAPSHOT_FILE,
			     d->cfg->state_dir) >= 0 &&
		    asprintf(&to, "%s/" JIT_SNAPSHOT_FILE ".damaged-%" PRIu64,
			     d->cfg->state_dir, now_real_ms()) >= 0 &&
		    link(from, to) == 0)
			log_notice("kept the damaged snapshot as '%s'", to);
		d->clean_start = false;
	}
	if (r < 0) {
		log_err("reading the journal in '%s': %s", d->cfg->state_dir,
			strerror(-r));
		load_policies_begin(&l);
		free(l.texts);
		return r;
	}
	grants_set_next_id(d->access.grants, info.next_id);
	if (!info.found)
		imported = import_state_file(d, &l);
	if (info.cut_bytes) {
		log_warn("journal: cut %zu bytes of a torn or damaged tail",
			 info.cut_bytes);
		d->clean_start = false;
	}
	if (journal_degraded(d->access.journal))
		daemon_journal_failed(d, journal_error(d->access.journal));
	d->restored = l.texts;
	d->n_restored = l.n;
	log_info("journal: %zu records from %u file(s) in %" PRIu64 " ms",
		 info.lines, info.files, now_mono_ms() - t0);
	/* An import, a damaged snapshot, or many files after restarts: one
	 * new snapshot for all. */
	if (imported > 0 || info.damaged_lines || info.files > 8) {
		r = journal_compact_now(d->access.journal, d->access.grants,
					NULL);
		if (r < 0)
			log_warn("writing the journal's snapshot: %s",
				 strerror(-r));
	}
	return 0;
}

/*
 * After loading the directory: a file that exists but failed to load gets
 * the last good version the state file kept.
 */
static void restore_policy_texts(struct jit_daemon *d)
{
	for (size_t i = 0; i < d->n_restored; i++) {
		struct jit_state_policy *p = &d->restored[i];
		struct jit_diag diag;
		struct stat stbuf;

		if (policy_set_has_file(d->policies, p->path) ||
		    stat(p->path, &stbuf) < 0)
			continue;
		diag_init(&diag);
		if (policy_set_load_text(d->policies, p->path, p->text, p->len,
					 &diag) == 0)
			log_notice("'%s' does not load; its last good version "
				   "(from the journal) stays in force",
				   p->path);
		diag_release(&diag);
	}
	for (size_t i = 0; i < d->n_restored; i++) {
		free(d->restored[i].path);
		free(d->restored[i].text);
	}
	free(d->restored);
	d->restored = NULL;
	d->n_restored = 0;
}

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

static int open_logs(struct jit_daemon *d)
{
	int r;

	if (d->cfg->log_dir && mkdir(d->cfg->log_dir, 0750) < 0 &&
	    errno != EEXIST) {
		r = -errno;
		log_err("creating log directory '%s': %s", d->cfg->log_dir,
			strerror(-r));
		return r;
	}
	r = open_log(d, "audit.log", "audit", LOG_AUTHPRIV | LOG_NOTICE,
		     &d->audit);
	if (r == 0)
		r = open_log(d, "alerts.log", "alert",
			     LOG_AUTHPRIV | LOG_WARNING, &d->alerts);
	return r;
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
	json_array_append(d->recent_alerts, a);
	while (json_array_size(d->recent_alerts) > JIT_RECENT_ALERTS)
		json_array_remove(d->recent_alerts, 0);
	control_broadcast(d->control, json_pack("{s:O}", "alert", a));
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

static void on_detect(void *userdata, const struct jit_alert_def *def,
		      const char *description, json_t *entities,
		      uint64_t first_ms, uint64_t last_ms, unsigned count)
{
	daemon_alert(userdata, def, description, entities, first_ms, last_ms,
		     count);
}

static void on_denied(void *userdata, const struct jit_denied *x)
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

/* Management ports for posture: the policies' extra ones. */
static void collect_mgmt_ports(struct jit_daemon *d)
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

static json_t *posture_json(struct jit_daemon *d)
{
	json_t *findings = NULL;
	int r = posture_scan(d->ruleset, d->policies, d->mgmt_ports,
			     d->n_mgmt_ports, &findings);

	if (r < 0)
		return control_error("posture-failed",
				     "listing listening sockets: %s",
				     strerror(-r));
	return json_pack("{s:b, s:o}", "ok", 1, "listeners", findings);
}

/* Findings go to the log at start and whenever the policies change. */
static void log_posture(struct jit_daemon *d)
{
	json_t *reply = posture_json(d),
	       *l = json_object_get(reply, "listeners");
	json_t *f;
	size_t i;

	json_array_foreach(l, i, f)
	{
		if (!json_is_true(json_object_get(f, "finding")))
			continue;
		log_warn(
			"posture: %s listens on %s/%lld and no policy protects "
			"it; %s",
			json_string_value(json_object_get(f, "service")),
			json_string_value(json_object_get(f, "protocol")),
			(long long)json_integer_value(
				json_object_get(f, "port")),
			json_string_value(
				json_object_get(f, "recommendation")));
	}
	json_decref(reply);
}

static json_t *alerts_json(struct jit_daemon *d, json_t *req)
{
	json_t *follow = json_object_get(req, "follow");
	json_t *limit = json_object_get(req, "limit");
	json_t *out = json_array();
	size_t n = json_array_size(d->recent_alerts), from = 0;

	if ((follow && !json_is_boolean(follow)) ||
	    (limit &&
	     (!json_is_integer(limit) || json_integer_value(limit) < 0))) {
		json_decref(out);
		return control_error("bad-type",
				     "'follow' must be true or false and "
				     "'limit' a number of alerts");
	}
	if (limit && (size_t)json_integer_value(limit) < n)
		from = n - (size_t)json_integer_value(limit);
	for (size_t i = from; i < n; i++)
		json_array_append(out, json_array_get(d->recent_alerts, i));
	return json_pack("{s:b, s:o, s:I, s:I, s:b}", "ok", 1, "alerts", out,
			 "denied_seen", (json_int_t)detect_seen(d->detect),
			 "tracked", (json_int_t)detect_tracked(d->detect),
			 CONTROL_FOLLOW, json_is_true(follow));
}

/*
 * Someone else changed our table (only possible without owner+persist):
 * put everything back at once, grants included, and raise an alert.
 */
static void on_tamper(void *userdata, const struct jit_tamper *t)
{
	struct jit_daemon *d = userdata;
	uint64_t t0 = now_mono_us(), now = now_real_ms();
	char desc[512];
	double ms;
	int r;

	if (!d->ruleset)
		return;
	d->resync = true;
	r = daemon_commit(d, d->ruleset);
	ms = (double)(now_mono_us() - t0) / 1000.0;
	if (t->lost) {
		log_warn("nftables events were lost; table inet %s re-applied "
			 "in %.1f ms",
			 table_name(d->table), ms);
		return;
	}
	d->tampers++;
	if (r < 0) {
		log_err("table inet %s was changed by %s (pid %d) and could "
			"not be restored",
			table_name(d->table), t->comm[0] ? t->comm : "?",
			(int)t->pid);
	} else {
		log_warn("table inet %s was %s by %s (pid %d); restored in "
			 "%.1f ms",
			 table_name(d->table),
			 t->deleted ? "deleted or cut" : "changed",
			 t->comm[0] ? t->comm : "an unknown process",
			 (int)t->pid, ms);
	}
	snprintf(desc, sizeof(desc),
		 "Process '%s' (pid %d) %s the just-in-time firewall table "
		 "inet %s (%u change%s in one transaction). %s",
		 t->comm[0] ? t->comm : "unknown", (int)t->pid,
		 t->deleted ? "deleted parts of" : "changed",
		 table_name(d->table), t->changes, t->changes == 1 ? "" : "s",
		 r < 0 ? "The agent could NOT restore it."
		       : "The agent restored it.");
	{
		json_t *ent = json_pack(
			"{s:{s:i, s:s}, s:s, s:s, s:b, s:I}", "process", "pid",
			(int)t->pid, "name", t->comm, "table",
			table_name(d->table), "protection",
			table_mode_name(table_mode(d->table)), "restored",
			r >= 0, "restore_us", (json_int_t)(ms * 1000));

		daemon_alert(d, &alert_table_tampered, desc, ent, now, now, 1);
	}
}

static int daemon_setup(struct jit_daemon *d)
{
	struct jit_diag pre;
	struct itimerspec every = {
		.it_interval = { .tv_sec = SESSIONS_REFRESH_S },
		.it_value = { .tv_sec = SESSIONS_REFRESH_S },
	};
	sigset_t mask;
	int r;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return log_err("epoll: %m"), -errno;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->sig.cb = signal_cb;
	if (d->sig.fd < 0 || loop_add(d->epfd, &d->sig, EPOLLIN) < 0)
		return log_err("signalfd: %m"), -errno;

	d->reload_timer.fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->reload_timer.cb = reload_timer_cb;
	if (d->reload_timer.fd < 0 ||
	    loop_add(d->epfd, &d->reload_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;

	d->sessions_timer.fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->sessions_timer.cb = sessions_timer_cb;
	if (d->sessions_timer.fd < 0 ||
	    timerfd_settime(d->sessions_timer.fd, 0, &every, NULL) < 0 ||
	    loop_add(d->epfd, &d->sessions_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;

	d->expiry_timer.fd =
		timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	d->expiry_timer.cb = expiry_timer_cb;
	if (d->expiry_timer.fd < 0 ||
	    loop_add(d->epfd, &d->expiry_timer, EPOLLIN) < 0)
		return log_err("timerfd: %m"), -errno;
	d->access = (struct jit_access){
		.grants = grants_new(),
		.cover = cover_new(),
		.kernel = &kernel_ops,
		.kernel_ctx = d,
		.hooks = { .audit = api_audit,
			   .grant_started = on_grant_started,
			   .grant_ended = on_grant_ended,
			   .journal_failed = on_journal_failed,
			   .userdata = d },
		.state_dir = d->cfg->state_dir,
	};
	if (!d->access.cover)
		return -ENOMEM;
	d->detect = detect_new(on_detect, d);
	d->recent_alerts = json_array();
	if (!d->access.grants || !d->detect || !d->recent_alerts)
		return -ENOMEM;
	r = open_logs(d);
	if (r < 0)
		return r;

	/* Watch before the first load so no edit slips between the two. */
	d->inotify.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	d->inotify.cb = inotify_cb;
	if (d->inotify.fd < 0)
		return log_err("inotify: %m"), -errno;
	if (inotify_add_watch(d->inotify.fd, d->cfg->policy_dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
				      IN_DELETE | IN_DELETE_SELF |
				      IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR) <
	    0) {
		r = -errno;
		log_err("watching policy directory '%s': %s",
			d->cfg->policy_dir, strerror(-r));
		return r;
	}
	if (loop_add(d->epfd, &d->inotify, EPOLLIN) < 0)
		return -errno;

	d->policies = policy_set_new();
	if (!d->policies)
		return -ENOMEM;
	d->access.policies = d->policies;
	r = table_open(d->cfg->table, d->cfg->allow_owner, &d->table);
	if (r < 0) {
		log_err("opening nftables netlink socket: %s", strerror(-r));
		return r;
	}
	r = load_journal(d);
	if (r < 0)
		return r;
	diag_init(&pre);
	(void)policy_set_load_dir(d->policies, d->cfg->policy_dir, &pre);
	diag_release(&pre);
	restore_policy_texts(d);
	/*
	 * The journal is the truth for what was acknowledged. After a crash
	 * the kernel still says what was taken away before the journal could
	 * (its absence wins); after a clean exit the journal alone decides.
	 * Then one batch brings table and grants to exactly that.
	 */
	if (d->clean_start)
		log_info("the last agent exited cleanly: grants come from the "
			 "journal alone");
	r = access_start(&d->access, d->clean_start, now_real_ms());
	if (r < 0)
		return r;
	access_arm_timer(d);
	log_notice("journal: %zu requests, %zu grants live",
		   grants_count(d->access.grants),
		   grants_count_status(d->access.grants, JIT_INITIATED));
	d->resync = true;
	r = daemon_reload(d, true);
	if (r < 0) {
		if (!d->ruleset)
			log_err("first commit failed; nothing was changed in "
				"the kernel");
		return r;
	}

	r = nflog_open(d->cfg->nflog_group, d->epfd, on_denied, d, &d->nflog);
	if (r < 0) {
		log_warn("reading NFLOG group %u: %s; no alerts from denied "
			 "traffic (another program may use that group: see "
			 "--nflog-group)",
			 d->cfg->nflog_group, strerror(-r));
		/* Without a reader the log rule would only cost cycles. */
		daemon_reload(d, false);
	}
	r = watch_open(table_name(d->table), d->epfd, on_tamper, d, &d->watch);
	if (r < 0)
		log_warn("watching nftables events: %s; changes by other "
			 "processes will not be noticed",
			 strerror(-r));

	/* The socket appears only once the ruleset is enforced. */
	r = control_open(d->cfg->socket_path, d->cfg->socket_group, d->epfd,
			 handle_request, d, &d->control);
	if (r == -EADDRINUSE) {
		log_err("another agent answers on '%s'", d->cfg->socket_path);
		return r;
	}
	if (r < 0) {
		log_err("control socket '%s': %s", d->cfg->socket_path,
			strerror(-r));
		return r;
	}
	if (geteuid() == 0) {
		r = caps_keep_net_admin_only();
		if (r < 0)
			log_warn("dropping capabilities: %s", strerror(-r));
		else
			log_info("running with CAP_NET_ADMIN only");
	}
	d->enforcing = true;
	log_notice("enforcing; control socket %s", d->cfg->socket_path);
	/* Reading the state file took memory the agent no longer needs. */
	malloc_trim(0);
	(void)notify_send("READY=1\nSTATUS=enforcing");
	return 0;
}

static void daemon_teardown(struct jit_daemon *d)
{
	(void)notify_send("STOPPING=1");
	if (d->access.journal) {
		pass_end(d);
		/* A snapshot being written is finished, not abandoned. */
		if (journal_compacting(d->access.journal) > 0) {
			int status;
			pid_t pid = journal_compacting(d->access.journal);

			if (waitpid(pid, &status, 0) == pid)
				journal_compact_done(d->access.journal, pid,
						     status);
		}
		/* One snapshot for all: the next start reads it alone. */
		if (d->enforcing && !journal_degraded(d->access.journal) &&
		    journal_compact_now(d->access.journal, d->access.grants,
					d->policies) < 0)
			log_warn("writing the journal's snapshot at exit: %m");
		if (d->enforcing && !journal_degraded(d->access.journal) &&
		    state_mark_clean(d->cfg->state_dir) < 0)
			log_warn("marking a clean shutdown in '%s': %m",
				 d->cfg->state_dir);
	}
	control_close(d->control);
	/* Fail closed: the table stays after we exit. */
	table_close(d->table);
	ruleset_free(d->ruleset);
	policy_set_free(d->policies);
	free(d->policy_errors);
	if (d->inotify.fd >= 0)
		close(d->inotify.fd);
	if (d->reload_timer.fd >= 0)
		close(d->reload_timer.fd);
	if (d->sessions_timer.fd >= 0)
		close(d->sessions_timer.fd);
	free(d->sessions);
	if (d->expiry_timer.fd >= 0)
		close(d->expiry_timer.fd);
	watch_close(d->watch);
	nflog_close(d->nflog);
	detect_free(d->detect);
	json_decref(d->recent_alerts);
	grants_free(d->access.grants);
	cover_free(d->access.cover);
	journal_close(d->access.journal);
	free(d->pass);
	audit_close(d->audit);
	audit_close(d->alerts);
	if (d->sig.fd >= 0)
		close(d->sig.fd);
	if (d->epfd >= 0)
		close(d->epfd);
}

int daemon_run(const struct jit_config *cfg)
{
	struct jit_daemon d = {
		.cfg = cfg,
		.epfd = -1,
		.sig.fd = -1,
		.inotify.fd = -1,
		.reload_timer.fd = -1,
		.sessions_timer.fd = -1,
		.expiry_timer.fd = -1,
		.started_ms = now_real_ms(),
	};
	int r;

	r = daemon_setup(&d);
	/* Setup may have journalled (grants that ended while down). */
	if (r == 0)
		pass_end(&d);
	while (r == 0 && !d.quit) {
		/*
		 * One event per wait: a callback may free another watched
		 * object (an evicted client) whose event would be next. A
		 * pass takes what is ready, up to PASS_EVENTS, with replies
		 * held; then one journal sync, then the replies.
		 */
		struct epoll_event ev[1];
		int n = epoll_wait(d.epfd, ev, ARRAY_SIZE(ev), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %m");
			r = -errno;
			break;
		}
		control_hold(d.control);
		for (int k = 0; n > 0 && k < PASS_EVENTS && !d.quit; k++) {
			struct jit_io *io = ev[0].data.ptr;

			io->cb(io, ev[0].events);
			n = epoll_wait(d.epfd, ev, ARRAY_SIZE(ev), 0);
		}
		pass_end(&d);
	}
	daemon_teardown(&d);
	return r < 0 ? 1 : 0;
}
