/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the control socket shows: status, policies, posture and alerts as
 * JSON, and the table of ops that dispatches requests to them and to the
 * request lifecycle (api.c).
 */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <sys/epoll.h>

#include "caps.h"
#include "duration.h"
#include "posture.h"
#include "daemon-internal.h"
#include "log.h"
#include "util.h"

#include "config.h"

static json_t *ruleset_json(const struct jit_ruleset *r)
{
	json_t *prot = json_array(), *deny = json_array();

	for (size_t i = 0; i < r->n_protected; i++) {
		const struct jit_protected *p = &r->protected[i];

		json_array_append_new(prot,
				      json_pack("{s:s, s:i, s:i}", "protocol",
						proto_name(p->proto), "port_lo",
						p->lo, "port_hi", p->hi));
	}
	for (size_t i = 0; i < r->n_deny; i++) {
		const struct jit_deny *d = &r->deny[i];

		json_array_append_new(
			deny,
			json_pack("{s:s, s:i, s:i, s:s, s:s}", "protocol",
				  proto_name(d->proto), "port_lo", d->lo,
				  "port_hi", d->hi, "interface",
				  d->iface[0] ? d->iface : "*", "action",
				  d->action == JIT_ACTION_DROP ? "drop"
							       : "reject"));
	}
	return json_pack("{s:o, s:o}", "protected", prot, "deny", deny);
}

/* Input chains of other tables, and whether they run before ours. */
static json_t *other_input_chains_json(struct jit_daemon *d)
{
	struct jit_foreign_chain *fc = NULL;
	int nfc = table_foreign_input_chains(d->table, &fc);
	json_t *arr = json_array();

	for (int i = 0; i < nfc; i++)
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "family",
				  fc[i].family == NFPROTO_IPV4	 ? "ip"
				  : fc[i].family == NFPROTO_IPV6 ? "ip6"
								 : "inet",
				  "table", fc[i].table, "chain", fc[i].chain,
				  "priority", (int)fc[i].priority, "policy",
				  fc[i].policy_drop ? "drop" : "accept", "runs",
				  fc[i].priority < table_input_priority()
					  ? "before ours"
				  : fc[i].priority == table_input_priority()
					  ? "with ours (order undefined)"
					  : "after ours"));
	free(fc);
	return arr;
}

static json_t *journal_status_json(struct jit_daemon *d)
{
	struct jit_journal *jn = d->access.journal;
	int jerr = journal_error(jn);

	bool damaged = d->journal_damage[0] != '\0';

	return json_pack(
		"{s:s, s:s, s:s?, s:I, s:I, s:I, s:b, s:s?}", "state_dir",
		d->cfg->state_dir, "state",
		journal_degraded(jn) || damaged ? "degraded" : "ok", "error",
		jerr	  ? strerror(-jerr)
		: damaged ? "damaged"
			  : NULL,
		"unrecorded", (json_int_t)journal_backlog(jn), "journal_bytes",
		(json_int_t)journal_bytes(jn), "snapshot_bytes",
		(json_int_t)journal_snapshot_bytes(jn), "compacting",
		journal_compacting(jn) > 0, "damaged",
		damaged ? d->journal_damage : NULL);
}

static json_t *status_json(struct jit_daemon *d)
{
	size_t live, pending;
	char caps[40] = "";
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
	if (!j)
		return NULL;
	live = grants_count_status(d->access.grants, JIT_INITIATED);
	pending = grants_count_status(d->access.grants, JIT_PENDING);
	json_object_set_new(j, "other_input_chains",
			    other_input_chains_json(d));
	if (caps_effective(caps, sizeof(caps)) == 0)
		json_object_set_new(j, "capabilities_effective",
				    json_string(caps));
	json_object_set_new(j, "policy_dir_missing",
			    json_boolean(d->policy_dir_missing));
	json_object_set_new(j, "policy_dir_watched",
			    json_boolean(d->dir_wd >= 0));
	json_object_set_new(j, "tamper_events",
			    json_integer((json_int_t)d->tampers));
	json_object_set_new(j, "tamper_watch", json_boolean(d->watch != NULL));
	json_object_set_new(j, "grants", json_integer((json_int_t)live));
	json_object_set_new(j, "pending", json_integer((json_int_t)pending));
	channels_status(d, j);
	json_object_set_new(
		j, "elements",
		json_integer((json_int_t)scopes_count(d->access.scopes)));
	json_object_set_new(j, "journal", journal_status_json(d));
	return j;
}

json_t *daemon_principals_json(const struct jit_principals *p)
{
	json_t *u = json_array(), *g = json_array();

	for (size_t i = 0; i < p->n_users; i++)
		json_array_append_new(u, json_string(p->users[i]));
	for (size_t i = 0; i < p->n_groups; i++)
		json_array_append_new(g, json_string(p->groups[i]));
	return json_pack("{s:o, s:o}", "users", u, "groups", g);
}

json_t *daemon_rule_sources_json(const struct jit_port_rule *r)
{
	json_t *src = json_array();
	char buf[JIT_PREFIX_STRLEN];

	if (r->any_source)
		json_array_append_new(src, json_string("any"));
	for (size_t k = 0; k < r->n_sources; k++)
		json_array_append_new(
			src, json_string(prefix_format(&r->sources[k], buf,
						       sizeof(buf))));
	return src;
}

static json_t *policy_json(const struct jit_policy *p)
{
	json_t *ports = json_array(), *ifs = json_array();

	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *r = &p->ports[i];
		json_t *src = daemon_rule_sources_json(r);
		char dur[32];

		json_array_append_new(
			ports,
			json_pack("{s:i, s:i, s:s, s:s, s:i, s:o}", "port_lo",
				  r->port_lo, "port_hi", r->port_hi, "protocol",
				  protocol_word(r->protos), "max_duration",
				  duration_format(r->max_duration_s, dur,
						  sizeof(dur)),
				  "max_duration_s", (int)r->max_duration_s,
				  "allowed_sources", src));
	}
	for (size_t i = 0; i < p->n_interfaces; i++)
		json_array_append_new(ifs, json_string(p->interfaces[i]));
	return json_pack(
		"{s:s, s:s?, s:s, s:i, s:o, s:o, s:o, s:s, s:o, s:s}", "name",
		p->name, "description", p->description, "file", p->file, "line",
		p->line, "ports", ports, "interfaces", ifs, "requesters",
		daemon_principals_json(&p->requesters), "approval",
		p->approval == JIT_APPROVAL_AUTO ? "auto" : "manual",
		"approvers", daemon_principals_json(&p->approvers), "action",
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
void daemon_log_posture(struct jit_daemon *d)
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

static json_t *alerts_json(struct jit_daemon *d, const struct jit_peer *peer,
			   json_t *req)
{
	size_t n = json_array_size(d->recent_alerts), shown = 0;
	struct jit_identity id;
	json_int_t limit = -1;
	json_t *out, *err;
	bool follow;

	if ((err = field_bool(req, "follow", &follow)) ||
	    (err = field_count(req, "limit", 0, &limit)))
		return err;
	out = json_array();
	peer_identity(peer, &id);
	/* The last limit of those the caller may see, oldest first. */
	for (size_t i = n; i-- > 0 && (limit < 0 || shown < (size_t)limit);) {
		json_t *a = json_array_get(d->recent_alerts, i);

		if (daemon_alert_may_see(d, a, &id)) {
			json_array_insert(out, 0, a);
			shown++;
		}
	}
	identity_release(&id);
	return json_pack("{s:b, s:o, s:I, s:I, s:i}", "ok", 1, "alerts", out,
			 "denied_seen", (json_int_t)detect_seen(d->detect),
			 "tracked", (json_int_t)detect_tracked(d->detect),
			 CONTROL_FOLLOW,
			 follow ? (int)CONTROL_TOPIC_ALERTS : 0);
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
	return alerts_json(d, peer, req);
}

static json_t *op_events(struct jit_daemon *d, const struct jit_peer *peer,
			 json_t *req)
{
	return daemon_events_json(d, peer, req);
}

/* Counts only, like status: anyone who may connect may read them. */
static json_t *op_metrics(struct jit_daemon *d, const struct jit_peer *peer,
			  json_t *req)
{
	return daemon_metrics_json(d);
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
	const struct jit_identity who = { .uid = peer->uid };

	if (!authz_may_reload(&who))
		return control_error("permission-denied",
				     "only root may reload policies");
	d->reload_trigger = "socket";
	d->reload_by_peer = true;
	{
		struct jit_identity id;

		peer_identity(peer, &id);
		d->reload_by = (struct jit_identity){ .uid = id.uid };
		snprintf(d->reload_by.name, sizeof(d->reload_by.name), "%s",
			 id.name);
		identity_release(&id);
	}
	if (daemon_reload(d, false) < 0)
		return control_error("reload-failed",
				     "reload failed; see the agent's log");
	channels_reload(d);
	/* As SIGUSR1: a logrotate without systemd has only this. */
	if (daemon_reopen_logs(d) == 0)
		log_info("reload: log files reopened");
	return json_pack("{s:b, s:s?, s:s?}", "ok", 1, "policy_errors",
			 d->policy_errors, "spa_errors", d->spa.errors);
}

/* The fields each op takes besides "op"; any other is refused. */
#define FIELDS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NO_FIELDS   ((const char *const[]){ NULL })

static const struct {
	const char *name;
	json_t *(*fn)(struct jit_daemon *d, const struct jit_peer *peer,
		      json_t *req);
	const char *const *fields;
} ops[] = {
	{ "status", op_status, NO_FIELDS },
	{ "request", api_request,
	  FIELDS("policy", "port", "protocol", "source", "duration",
		 "reason") },
	{ "approve", api_approve, FIELDS("id", "reason") },
	{ "deny", api_deny, FIELDS("id", "reason") },
	{ "revoke", api_revoke, FIELDS("id", "terminate") },
	{ "grants", op_grants, FIELDS("after", "limit") },
	{ "requests", op_requests, FIELDS("all", "after", "limit") },
	{ "alerts", op_alerts, FIELDS("follow", "limit") },
	{ "posture", op_posture, NO_FIELDS },
	{ "policies", op_policies, NO_FIELDS },
	{ "reload", op_reload, NO_FIELDS },
	{ "events", op_events, FIELDS("follow", "limit") },
	{ "metrics", op_metrics, NO_FIELDS },
};

/*
 * The first field of req that its op does not take, or NULL. A field
 * that is misspelt or belongs to another version is an error, not a
 * default: a grant must be exactly what was asked. Fields given as null
 * are removed: null is the same as absent, for every op and field.
 */
static const char *unknown_field(json_t *req, const char *const *fields)
{
	const char *key;
	json_t *v, *tmp;

	json_object_foreach_safe(req, tmp, key, v)
	{
		const char *const *f = fields;

		if (streq(key, "op"))
			continue;
		while (*f && !streq(*f, key))
			f++;
		if (!*f)
			return key;
		if (json_is_null(v))
			json_object_del(req, key);
	}
	return NULL;
}

/*
 * Listings are built in a pass of their own after the decisions that came
 * with them (control_set_yields): a page of 250 records takes a ms or so,
 * which a request must not wait for.
 */
bool daemon_others_wait(struct jit_daemon *d)
{
	struct epoll_event ev;

	/* Every descriptor is level-triggered: looking consumes nothing. */
	return epoll_wait(d->epfd, &ev, 1, 0) == 1;
}

bool daemon_request_yields(void *userdata, json_t *req)
{
	static const char *const listings[] = { "grants", "requests" };
	const char *op = json_string_value(json_object_get(req, "op"));

	for (size_t i = 0; i < ARRAY_SIZE(listings); i++)
		if (streq(op, listings[i]))
			return true;
	return false;
}

json_t *daemon_handle_request(void *userdata, const struct jit_peer *peer,
			      json_t *req)
{
	struct jit_daemon *d = userdata;
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *bad;

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		if (!streq(op, ops[i].name))
			continue;
		if ((bad = unknown_field(req, ops[i].fields)))
			return control_error("unknown-field",
					     "op '%s' has no field '%.64s'", op,
					     bad);
		return ops[i].fn(d, peer, req);
	}
	return control_error("unknown-op", "unknown op '%.64s'", op);
}
