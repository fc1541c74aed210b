/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Decisions as audit lines, whichever channel they came by: the decision
 * core's audit hook (access.h) for the socket, SPA and the fleet alike.
 * The channels call the core; the core calls this; no channel calls
 * another.
 */
#include <inttypes.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/* The agent's own decisions have no person behind them. */
static bool by_agent(const struct jit_identity *id)
{
	return id->channel &&
	       (streq(id->channel, "timer") || streq(id->channel, "agent"));
}

static bool by_fleet(const struct jit_identity *id)
{
	return id->channel && streq(id->channel, "fleet");
}

/*
 * The start of an audit line: the event, who made it (peer_uid and
 * peer_user for a person, as before), and "actor", the same for every
 * line (daemon_audit_result): {"user", "uid"}, uid null for the agent
 * itself and for a fleet identity (no local user).
 */
json_t *daemon_audit_base(const char *event, const struct jit_identity *id)
{
	if (by_agent(id))
		return json_pack("{s:s}", "event", event);
	/* A fleet identity is nobody on this host: no uid (0 would read as
	 * root). */
	if (by_fleet(id))
		return json_pack("{s:s, s:n, s:s}", "event", event, "peer_uid",
				 "peer_user", id->name);
	return json_pack("{s:s, s:I, s:s}", "event", event, "peer_uid",
			 (json_int_t)id->uid, "peer_user", id->name);
}

void daemon_audit_result(json_t *ev, const char *result,
			 const struct jit_identity *id)
{
	json_object_set_new(ev, "result", json_string(result));
	json_object_set_new(ev, "channel",
			    json_string(id->channel ? id->channel : "socket"));
	json_object_set_new(ev, "actor", daemon_audit_actor(id));
}

json_t *daemon_audit_actor(const struct jit_identity *id)
{
	if (by_agent(id) || by_fleet(id))
		return json_pack("{s:s, s:n}", "user", id->name, "uid");
	return json_pack("{s:s, s:I}", "user", id->name, "uid",
			 (json_int_t)id->uid);
}

/*
 * The protocols of a request that named none (refused before a policy
 * gave them): those of the policy's entry for its ports, else both.
 */
static unsigned audit_protos(struct jit_daemon *d, const struct jit_request *r)
{
	const struct jit_policy *p = daemon_policy_named(d, r->policy);

	if (r->key.protos)
		return r->key.protos;
	for (size_t i = 0; p && i < p->n_ports; i++)
		if (p->ports[i].port_lo <= r->key.port_lo &&
		    r->key.port_hi <= p->ports[i].port_hi)
			return p->ports[i].protos;
	return JIT_PROTO_TCP | JIT_PROTO_UDP;
}

void daemon_audit_request(struct jit_daemon *d, json_t *ev,
			  const struct jit_request *r)
{
	char src[JIT_PREFIX_STRLEN], ports[48];

	if (r->id)
		json_object_set_new(ev, "request_id", json_integer(r->id));
	if (r->policy[0])
		json_object_set_new(ev, "policy", json_string(r->policy));
	if (r->key.source.family) {
		struct jit_grant_key k = r->key;

		k.protos = audit_protos(d, r);
		json_object_set_new(ev, "source",
				    json_string(prefix_format(
					    &r->key.source, src, sizeof(src))));
		if (r->key.port_lo)
			json_object_set_new(ev, "ports",
					    json_string(grant_key_ports(
						    &k, ports, sizeof(ports))));
	}
	if (r->duration_s)
		json_object_set_new(ev, "duration_s",
				    json_integer(r->duration_s));
	json_object_set_new(ev, "reason", json_string(request_reason(r)));
	if (r->user[0])
		json_object_set_new(ev, "requestor", json_string(r->user));
	if (r->end_ms)
		json_object_set_new(ev, "end_ms", json_integer(r->end_ms));
	if (r->fleet_id) {
		char id[20];

		snprintf(id, sizeof(id), "%016" PRIx64, r->fleet_id);
		json_object_set_new(ev, "fleet_id", json_string(id));
		json_object_set_new(ev, "fleet_rev",
				    json_integer((json_int_t)r->fleet_rev));
	}
	daemon_event(d, ev, r);
}

void daemon_audit_decision(void *userdata, const struct jit_access_event *e)
{
	struct jit_daemon *d = userdata;
	json_t *ev;

	if (e->error &&
	    !daemon_refusal_audited(d, e->by, e->error, now_mono_ms())) {
		daemon_count_decision(d, e->event, e->result);
		return;
	}
	ev = daemon_audit_base(e->event, e->by);
	daemon_audit_result(ev, e->result, e->by);
	if (!e->error && e->r->status_reason[0] &&
	    e->r->status != JIT_INITIATED)
		json_object_set_new(ev, "status_reason",
				    json_string(e->r->status_reason));
	if (e->error)
		json_object_set_new(ev, "error", json_string(e->error));
	if (e->message)
		json_object_set_new(ev, "message", json_string(e->message));
	if (e->decision_reason)
		json_object_set_new(ev, "decision_reason",
				    json_string(e->decision_reason));
	if (e->replaced_by)
		json_object_set_new(ev, "replaced_by",
				    json_integer(e->replaced_by));
	daemon_audit_request(d, ev, e->r);
	if (e->error)
		log_notice("%s by %s refused: %s", e->event, e->by->name,
			   e->message ? e->message : e->error);
	else if (e->r->id)
		log_info("%s %" PRIu64 " by %s: %s", e->event, e->r->id,
			 e->by->name, e->result);
}
