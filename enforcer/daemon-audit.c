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

json_t *daemon_audit_base(const char *event, const struct jit_identity *id)
{
	return json_pack("{s:s, s:I, s:s}", "event", event, "peer_uid",
			 (json_int_t)id->uid, "peer_user", id->name);
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
		json_object_set_new(ev, "source",
				    json_string(prefix_format(
					    &r->key.source, src, sizeof(src))));
		json_object_set_new(ev, "ports",
				    json_string(grant_key_ports(
					    &r->key, ports, sizeof(ports))));
	}
	if (r->duration_s)
		json_object_set_new(ev, "duration_s",
				    json_integer(r->duration_s));
	json_object_set_new(ev, "reason", json_string(request_reason(r)));
	if (r->user[0] && (r->uid || r->fleet_id))
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
	json_object_set_new(ev, "result", json_string(e->result));
	if (e->by->channel)
		json_object_set_new(ev, "channel", json_string(e->by->channel));
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
