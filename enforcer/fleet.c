/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fleet grant values (see fleet.h). */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>

#include "fleet.h"
#include "fleet-conf.h"
#include "hashmap.h"
#include "util.h"

/* The 16 lowercase hex digits of a fleet id. */
static bool hex16(const char *s, uint64_t *ret)
{
	return strlen(s) == 16 && hex_parse(s, 16, ret);
}

int fleet_key_parse(const char *host, const char *key, uint64_t *id)
{
	size_t hl = strlen(host);

	if (strncmp(key, "host.", 5) || strncmp(key + 5, host, hl) ||
	    key[5 + hl] != '.')
		return -EINVAL;
	return hex16(key + 5 + hl + 1, id) ? 0 : -EINVAL;
}

char *fleet_key_format(const char *host, uint64_t id, char *buf, size_t n)
{
	snprintf(buf, n, "host.%s.%016" PRIx64, host, id);
	return buf;
}

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t n,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A fleet identity: as policies write them (fleet: requesters). */
static bool fleet_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-");

	return n > 0 && n <= JIT_FLEET_NAME_MAX && !s[n] && s[0] != '-';
}

static uint64_t grant_hash(const struct jit_fleet_grant *g)
{
	char src[JIT_PREFIX_STRLEN], *text = NULL;
	uint64_t h;

	if (asprintf(&text, "%s|%u|%u|%s|%" PRIu64 "|%s|%s|%s", g->policy,
		     g->protos, g->port,
		     prefix_format(&g->source, src, sizeof(src)), g->end_ms,
		     g->requested_by, g->approved_by, g->reason) < 0)
		return 0;
	h = hash_bytes(text, strlen(text), 0x6a69742d666c74ull);
	free(text);
	return h;
}

int fleet_grant_parse(const char *host, uint64_t id, const void *data,
		      size_t len, struct jit_fleet_grant *g, char *err,
		      size_t errlen)
{
	const char *vid = NULL, *vhost = NULL, *policy = NULL, *proto = NULL,
		   *source = NULL, *reason = "", *by = NULL, *appr = NULL;
	json_int_t port = 0, end = 0, approved_at = 0;
	json_error_t jerr;
	json_t *o;
	uint64_t n;
	int r = 0;

	memset(g, 0, sizeof(*g));
	if (len > JIT_FLEET_VALUE_MAX)
		return bad(err, errlen, "value of %zu bytes; at most %d", len,
			   JIT_FLEET_VALUE_MAX);
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return bad(err, errlen, "value is not a JSON object: %s",
			   jerr.text);
	}
	if (json_unpack_ex(o, &jerr, 0,
			   "{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, "
			   "s?:s, s?:I}",
			   "id", &vid, "host", &vhost, "policy", &policy,
			   "proto", &proto, "port", &port, "source", &source,
			   "end_ms", &end, "requested_by", &by, "approved_by",
			   &appr, "reason", &reason, "approved_at_ms",
			   &approved_at) < 0) {
		r = bad(err, errlen, "value: %s", jerr.text);
		goto out;
	}
	if (!hex16(vid, &n) || n != id) {
		r = bad(err, errlen, "value's id '%.20s' is not its key's",
			vid);
		goto out;
	}
	if (strcmp(vhost, host)) {
		r = bad(err, errlen, "value's host '%.64s' is not this host",
			vhost);
		goto out;
	}
	if (!policy_name_valid(policy)) {
		r = bad(err, errlen, "policy '%.40s' is not a policy name",
			policy);
		goto out;
	}
	g->protos = streq(proto, "tcp")	  ? JIT_PROTO_TCP
		    : streq(proto, "udp") ? JIT_PROTO_UDP
					  : 0;
	if (!g->protos) {
		r = bad(err, errlen, "proto '%.10s' is not tcp or udp", proto);
		goto out;
	}
	if (port < 1 || port > 65535) {
		r = bad(err, errlen, "port %lld is not 1..65535",
			(long long)port);
		goto out;
	}
	if (prefix_parse(source, &g->source) < 0) {
		r = bad(err, errlen, "source '%.50s' is not an address or CIDR",
			source);
		goto out;
	}
	if (prefix_is_v4_mapped(&g->source)) {
		r = bad(err, errlen,
			"source '%.50s' is an IPv4 address written as IPv6, "
			"which no IPv4 packet matches",
			source);
		goto out;
	}
	if (end <= 0 || approved_at < 0) {
		r = bad(err, errlen, "end_ms %lld is not a time",
			(long long)end);
		goto out;
	}
	if (!fleet_name_valid(by) || !fleet_name_valid(appr)) {
		r = bad(err, errlen,
			"requested_by '%.64s' or approved_by '%.64s' is not a "
			"fleet identity",
			by, appr);
		goto out;
	}
	if (strlen(reason) >= JIT_REASON_MAX) {
		r = bad(err, errlen, "reason is longer than %d bytes",
			JIT_REASON_MAX - 1);
		goto out;
	}
	/* The rule of a socket request's reason: it reaches terminals. */
	if (!text_is_safe(reason)) {
		r = bad(err, errlen,
			"reason must not contain control characters");
		goto out;
	}
	g->id = id;
	snprintf(g->policy, sizeof(g->policy), "%s", policy);
	g->port = (uint16_t)port;
	g->end_ms = (uint64_t)end;
	g->approved_at_ms = (uint64_t)approved_at;
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
	utf8_truncate_invalid(g->reason);
	snprintf(g->requested_by, sizeof(g->requested_by), "%s", by);
	snprintf(g->approved_by, sizeof(g->approved_by), "%s", appr);
	g->hash = grant_hash(g);
out:
	json_decref(o);
	return r;
}
