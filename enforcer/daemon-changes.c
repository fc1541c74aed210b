/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Changes to what the agent enforces, in the audit trail: the agent's
 * start and stop, every reload (and what asked for it), and every policy
 * loaded, changed or removed, with its file, the SHA-256 of the file's
 * content and what changed (ports, sources, requesters, approvers,
 * approval, log_rate and the other alert thresholds). A policy that sets
 * a threshold or log_rate to 0 turns that detection off for the whole host
 * (the lowest value applies): that raises JIT_DETECTION_OFF.
 */
#include <nettle/sha2.h>
#include <unistd.h>

#include "alert.h"
#include "daemon-internal.h"
#include "grant.h"
#include "log.h"
#include "util.h"

#include "config.h"

static void digest_hex(struct sha256_ctx *ctx, char out[65])
{
	uint8_t digest[SHA256_DIGEST_SIZE];

	sha256_digest(ctx, sizeof(digest), digest);
	hex_format(digest, sizeof(digest), out);
}

static void sha256_hex(const char *text, size_t len, char out[65])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)text);
	digest_hex(&ctx, out);
}

void daemon_policies_digest(const struct jit_policy_set *s, char out[65])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	/* Another version may put a grant's elements elsewhere. */
	sha256_update(&ctx, sizeof(JIT_VERSION), (const uint8_t *)JIT_VERSION);
	for (size_t i = 0; s && i < policy_set_file_count(s); i++) {
		const struct jit_policy_file *f = policy_set_file(s, i);
		const char *path = policy_file_path(f), *text;
		size_t len = 0;
		uint64_t n;

		text = policy_file_text(f, &len);
		/* Each file as its path, its length and its text. */
		sha256_update(&ctx, strlen(path) + 1, (const uint8_t *)path);
		n = text ? (uint64_t)len : 0;
		sha256_update(&ctx, sizeof(n), (const uint8_t *)&n);
		if (text)
			sha256_update(&ctx, len, (const uint8_t *)text);
	}
	digest_hex(&ctx, out);
}

/* The alert settings of a policy that are 0: detections it turns off. */
static json_t *detection_off(const struct jit_alert_limits *a)
{
	static const struct {
		unsigned bit;
		const char *name;
	} fields[] = {
		{ JIT_ALERT_SET_REPEATED, "repeated_attempts" },
		{ JIT_ALERT_SET_SOURCES, "distributed_sources" },
		{ JIT_ALERT_SET_SCAN, "scan_ports" },
		{ JIT_ALERT_SET_AFTER_END, "after_grant_end" },
		{ JIT_ALERT_SET_WIDE_V4, "wide_prefix_v4" },
		{ JIT_ALERT_SET_WIDE_V6, "wide_prefix_v6" },
		{ JIT_ALERT_SET_LOG_RATE, "log_rate" },
	};
	const uint64_t v[] = { a->repeated_attempts, a->distributed_sources,
			       a->scan_ports,	     a->after_grant_end_s,
			       a->wide_prefix_v4,    a->wide_prefix_v6,
			       a->log_rate };
	json_t *off = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if ((a->set & fields[i].bit) && !v[i])
			json_array_append_new(off, json_string(fields[i].name));
	return off;
}

/* What the audit line says of one policy, compared field by field. */
static json_t *policy_summary(const struct jit_policy_set *s,
			      const struct jit_policy *p)
{
	json_t *ports = json_array(), *sources = json_object(),
	       *durations = json_object(), *alerts = json_object();
	char hash[65] = "";

	for (size_t i = 0; i < policy_set_file_count(s); i++) {
		const struct jit_policy_file *f = policy_set_file(s, i);
		size_t len = 0;
		const char *text;

		if (!streq(policy_file_path(f), p->file))
			continue;
		text = policy_file_text(f, &len);
		if (text)
			sha256_hex(text, len, hash);
	}
	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *r = &p->ports[i];
		struct jit_grant_key k = { .protos = r->protos,
					   .port_lo = r->port_lo,
					   .port_hi = r->port_hi };
		char name[48];

		grant_key_ports(&k, name, sizeof(name));
		json_array_append_new(ports, json_string(name));
		json_object_set_new(sources, name, daemon_rule_sources_json(r));
		json_object_set_new(durations, name,
				    json_integer(r->max_duration_s));
	}
	if (p->alerts.set & JIT_ALERT_SET_LOG_RATE)
		json_object_set_new(alerts, "log_rate",
				    json_integer(p->alerts.log_rate));
	json_object_set_new(alerts, "off", detection_off(&p->alerts));
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o}",
			 "file", p->file, "sha256", hash, "ports", ports,
			 "sources", sources, "max_duration_s", durations,
			 "requesters", daemon_principals_json(&p->requesters),
			 "approval",
			 p->approval == JIT_APPROVAL_MANUAL ? "manual" : "auto",
			 "approvers", daemon_principals_json(&p->approvers),
			 "alerts", alerts);
}

json_t *daemon_policies_snapshot(struct jit_daemon *d)
{
	json_t *snap = json_object();

	for (size_t i = 0; d->policies && i < policy_set_count(d->policies);
	     i++) {
		const struct jit_policy *p = policy_set_get(d->policies, i);

		json_object_set_new(snap, p->name,
				    policy_summary(d->policies, p));
	}
	return snap;
}

/* The agent itself, or the person who asked for the reload. */
static void set_actor(struct jit_daemon *d, json_t *ev)
{
	json_object_set_new(
		ev, "channel",
		json_string(d->reload_by_peer ? "socket" : "agent"));
	if (d->reload_by_peer)
		json_object_set_new(ev, "actor",
				    json_pack("{s:s, s:I}", "user",
					      d->reload_by.name, "uid",
					      (json_int_t)d->reload_by.uid));
	else
		json_object_set_new(
			ev, "actor",
			json_pack("{s:s, s:n}", "user", "jit-enforcer", "uid"));
}

static void policy_line(struct jit_daemon *d, const char *name,
			const char *result, json_t *was, json_t *now)
{
	const json_t *cur = now ? now : was;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:O, s:O}", "event", "policy",
			       "result", result, "policy", name, "file",
			       json_object_get(cur, "file"), "sha256",
			       json_object_get(cur, "sha256"));
	json_t *changes = json_object();
	const char *key;
	json_t *v;

	if (!ev) {
		json_decref(changes);
		return;
	}
	set_actor(d, ev);
	json_object_foreach((json_t *)cur, key, v)
	{
		json_t *before = was ? json_object_get(was, key) : NULL;
		json_t *after = now ? json_object_get(now, key) : NULL;

		if (streq(key, "file") || streq(key, "sha256") ||
		    json_equal(before, after))
			continue;
		json_object_set_new(changes, key,
				    json_pack("{s:O?, s:O?}", "before", before,
					      "after", after));
	}
	if (was && now &&
	    !json_equal(json_object_get(was, "sha256"),
			json_object_get(now, "sha256")))
		json_object_set(ev, "sha256_before",
				json_object_get(was, "sha256"));
	json_object_set_new(ev, "changes", changes);
	log_notice("policy '%s' %s (%s)", name, result,
		   json_string_value(json_object_get(cur, "file")));
	daemon_audit(d, ev);
}

/* A policy that turns detection off, newly or more than before. */
static void alert_if_off(struct jit_daemon *d, const char *name, json_t *was,
			 json_t *now)
{
	json_t *off = json_object_get(json_object_get(now, "alerts"), "off");
	json_t *off_was =
		was ? json_object_get(json_object_get(was, "alerts"), "off")
		    : NULL;
	char desc[512], list[256] = "";
	size_t i;
	json_t *v;

	if (!json_array_size(off) || json_equal(off, off_was))
		return;
	json_array_foreach(off, i, v)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? ", " : "", json_string_value(v));
	snprintf(desc, sizeof(desc),
		 "policy '%s' (%s) sets %s to 0, which turns that detection "
		 "off for the whole host",
		 name, json_string_value(json_object_get(now, "file")), list);
	daemon_alert(d, &alert_detection_off, desc,
		     json_pack("{s:s, s:O, s:O}", "policy", name, "file",
			       json_object_get(now, "file"), "settings", off),
		     now_real_ms(), now_real_ms(), 1);
}

void daemon_audit_policy_changes(struct jit_daemon *d, json_t *before)
{
	json_t *after = daemon_policies_snapshot(d);
	const char *name;
	json_t *was, *now;

	json_object_foreach(before, name, was)
	{
		if (!json_object_get(after, name))
			policy_line(d, name, "removed", was, NULL);
	}
	json_object_foreach(after, name, now)
	{
		was = json_object_get(before, name);
		if (!was) {
			policy_line(d, name, "loaded", NULL, now);
			alert_if_off(d, name, NULL, now);
		} else if (!json_equal(was, now)) {
			policy_line(d, name, "changed", was, now);
			alert_if_off(d, name, was, now);
		}
	}
	json_decref(after);
}

void daemon_audit_reload(struct jit_daemon *d, const char *trigger, int r)
{
	json_t *ev = json_pack(
		"{s:s, s:s, s:s, s:i, s:b}", "event", "reload", "result",
		r < 0 ? "failed" : "done", "trigger", trigger, "policies",
		d->policies ? (int)policy_set_count(d->policies) : 0,
		"files_rejected", d->policy_errors != NULL);

	if (!ev)
		return;
	set_actor(d, ev);
	if (r < 0)
		json_object_set_new(ev, "error", json_string(strerror(-r)));
	daemon_audit(d, ev);
}

void daemon_audit_agent(struct jit_daemon *d, const char *result)
{
	daemon_audit(d,
		     json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s, s:n}}",
			       "event", "agent", "result", result, "version",
			       JIT_VERSION, "pid", (int)getpid(), "table",
			       d->cfg->table, "channel", "agent", "actor",
			       "user", "jit-enforcer", "uid"));
}
