/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fko.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spa.h"
#include "util.h"

const char *spa_verdict_name(enum jit_spa_verdict v)
{
	static const char *const names[] = {
		[JIT_SPA_IGNORED] = "ignored",
		[JIT_SPA_NO_STANZA] = "no-stanza",
		[JIT_SPA_BAD_HMAC] = "bad-hmac",
		[JIT_SPA_REPLAY] = "replay",
		[JIT_SPA_BAD_DATA] = "bad-data",
		[JIT_SPA_STALE] = "stale",
		[JIT_SPA_REFUSED] = "refused",
		[JIT_SPA_ACCEPTED] = "accepted",
	};

	return (unsigned)v < ARRAY_SIZE(names) ? names[v] : "?";
}

__attribute__((format(printf, 3, 4))) static void
verdict(struct jit_spa_result *res, enum jit_spa_verdict v, const char *fmt,
	...)
{
	va_list ap;

	res->verdict = v;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

/* What fwknopd would look at: printable base64, within its sizes. */
static int precheck(const struct jit_spa_packet *pkt, char *text, size_t cap)
{
	size_t n = pkt->len;

	while (n && (pkt->data[n - 1] == '\n' || pkt->data[n - 1] == '\r' ||
		     pkt->data[n - 1] == ' ' || pkt->data[n - 1] == '\0'))
		n--;
	if (n < JIT_SPA_MIN_BYTES || n > JIT_SPA_MAX_BYTES || n >= cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pkt->data[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -EINVAL;
	}
	memcpy(text, pkt->data, n);
	text[n] = '\0';
	/*
	 * The client strips the "Salted__" prefix; a packet that carries it
	 * was altered (a seen packet with a prefix added would get past the
	 * replay check otherwise).
	 */
	if (!strncmp(text, "U2FsdGVkX1", 10))
		return -EINVAL;
	return 0;
}

static int raw_digest(const char *text, uint8_t *out)
{
	fko_ctx_t ctx = NULL;
	char *b64 = NULL;
	char buf[96];
	unsigned char bin[72];
	int n, r;

	r = fko_new_with_data(&ctx, text, NULL, 0, FKO_ENC_MODE_CBC, NULL, 0,
			      FKO_HMAC_SHA256);
	if (r == FKO_SUCCESS)
		r = fko_set_raw_spa_digest_type(ctx, FKO_DIGEST_SHA256);
	if (r == FKO_SUCCESS)
		r = fko_set_raw_spa_digest(ctx);
	if (r == FKO_SUCCESS)
		r = fko_get_raw_spa_digest(ctx, &b64);
	if (r != FKO_SUCCESS || !b64 || strlen(b64) + 3 >= sizeof(buf)) {
		fko_destroy(ctx);
		return -EINVAL;
	}
	/* libfko strips the padding; its decoder wants it. */
	snprintf(buf, sizeof(buf), "%s", b64);
	while (strlen(buf) % 4)
		strcat(buf, "=");
	fko_destroy(ctx);
	n = fko_base64_decode(buf, bin);
	if (n != JIT_DIGEST_LEN)
		return -EINVAL;
	memcpy(out, bin, JIT_DIGEST_LEN);
	return 0;
}

static bool in_prefixes(const struct jit_prefix *v, size_t n,
			const struct jit_prefix *host)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == host->family && prefix_contains(&v[i], host))
			return true;
	return false;
}

static bool port_in(const struct jit_spa_port *v, size_t n,
		    const struct jit_spa_port *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].ipproto == p->ipproto && v[i].port == p->port)
			return true;
	return false;
}

/*
 * "198.51.100.7,tcp/22,udp/1194" into res (address and ports); the
 * stanza's port lists apply. 0 or -EINVAL with why.
 */
static int parse_message(const struct jit_spa_stanza *s,
			 const struct jit_spa_packet *pkt,
			 struct jit_spa_result *res)
{
	char msg[sizeof(res->message)], *save = NULL, *tok;
	struct jit_prefix addr;

	snprintf(msg, sizeof(msg), "%s", res->message);
	tok = strtok_r(msg, ",", &save);
	if (!tok || prefix_parse(tok, &addr) < 0 ||
	    addr.len != (addr.family == AF_INET ? 32 : 128)) {
		verdict(res, JIT_SPA_REFUSED,
			"the message does not start "
			"with an address");
		return -EINVAL;
	}
	if (addr.family == AF_INET && !memcmp(addr.addr, "\0\0\0\0", 4)) {
		if (s->require_source_address) {
			verdict(res, JIT_SPA_REFUSED,
				"the packet asks for its own source (0.0.0.0, "
				"fwknop -s) and the stanza of line %u requires "
				"an address (REQUIRE_SOURCE_ADDRESS)",
				s->line);
			return -EINVAL;
		}
		addr = pkt->src;
	}
	res->open = addr;
	res->n_ports = 0;
	while ((tok = strtok_r(NULL, ",", &save))) {
		struct jit_spa_port p;

		if (proto_port_parse(tok, &p.ipproto, &p.port) < 0)
			goto bad;
		if (s->n_restrict_ports &&
		    port_in(s->restrict_ports, s->n_restrict_ports, &p)) {
			verdict(res, JIT_SPA_REFUSED,
				"%s/%u is in RESTRICT_PORTS of the stanza of "
				"line %u",
				tok, p.port, s->line);
			return -EINVAL;
		}
		if (s->n_open_ports &&
		    !port_in(s->open_ports, s->n_open_ports, &p)) {
			verdict(res, JIT_SPA_REFUSED,
				"%s/%u is not in OPEN_PORTS of the stanza of "
				"line %u",
				tok, p.port, s->line);
			return -EINVAL;
		}
		if (port_in(res->ports, res->n_ports, &p))
			continue;
		if (res->n_ports >= JIT_SPA_PORTS_MAX)
			goto bad;
		res->ports[res->n_ports++] = p;
	}
	if (!res->n_ports)
		goto bad;
	return 0;
bad:
	verdict(res, JIT_SPA_REFUSED,
		"the message is not ADDRESS,tcp/PORT[,udp/PORT...]");
	return -EINVAL;
}

/*
 * The stanza authenticated the packet (ctx holds it decrypted): does it
 * allow what the packet asks? Fills res; returns res->verdict.
 */
static enum jit_spa_verdict check_stanza(const struct jit_spa_stanza *s,
					 fko_ctx_t ctx,
					 const struct jit_spa_packet *pkt,
					 int64_t now_s,
					 struct jit_spa_result *res)
{
	char *user = NULL, *msg = NULL;
	short type = -1;
	int timeout = 0;
	uint32_t dur;

	res->stanza = s;
	if (fko_get_username(ctx, &user) != FKO_SUCCESS ||
	    fko_get_spa_message(ctx, &msg) != FKO_SUCCESS ||
	    fko_get_spa_message_type(ctx, &type) != FKO_SUCCESS ||
	    fko_get_spa_client_timeout(ctx, &timeout) != FKO_SUCCESS) {
		verdict(res, JIT_SPA_BAD_DATA,
			"the decrypted packet is "
			"incomplete");
		return res->verdict;
	}
	snprintf(res->user, sizeof(res->user), "%s", user ? user : "");
	snprintf(res->message, sizeof(res->message), "%s", msg ? msg : "");
	utf8_truncate_invalid(res->user);
	utf8_truncate_invalid(res->message);
	if (s->expire_s && now_s > s->expire_s) {
		verdict(res, JIT_SPA_REFUSED,
			"the stanza of line %u expired (ACCESS_EXPIRE)",
			s->line);
		return res->verdict;
	}
	if (type != FKO_ACCESS_MSG && type != FKO_CLIENT_TIMEOUT_ACCESS_MSG) {
		verdict(res, JIT_SPA_REFUSED,
			type == FKO_COMMAND_MSG
				? "command messages are not supported"
				: "NAT access messages are not supported");
		return res->verdict;
	}
	if (s->require_user[0] && strcmp(res->user, s->require_user)) {
		verdict(res, JIT_SPA_REFUSED,
			"user '%.32s' in the packet is not '%s' "
			"(REQUIRE_USERNAME of the stanza of line %u)",
			res->user, s->require_user, s->line);
		return res->verdict;
	}
	if (parse_message(s, pkt, res) < 0)
		return res->verdict;
	dur = timeout > 0 ? (uint32_t)timeout : s->access_timeout_s;
	res->duration_s = dur < s->max_timeout_s ? dur : s->max_timeout_s;
	res->verdict = JIT_SPA_ACCEPTED;
	res->why[0] = '\0';
	return res->verdict;
}

/* The stanza takes packets from pkt's source to pkt's destination. */
static bool stanza_takes(const struct jit_spa_stanza *s,
			 const struct jit_spa_packet *pkt)
{
	return (s->any_source ||
		in_prefixes(s->sources, s->n_sources, &pkt->src)) &&
	       (s->any_destination ||
		in_prefixes(s->destinations, s->n_destinations, &pkt->dst));
}

/* text read with the stanza's modes, or NULL unless its HMAC key
 * authenticates it. */
static fko_ctx_t stanza_authenticate(const struct jit_spa_stanza *s,
				     const char *text)
{
	fko_ctx_t ctx = NULL;

	if (fko_new_with_data(&ctx, text, NULL, 0, s->enc_mode, NULL, 0,
			      s->hmac_type) != FKO_SUCCESS ||
	    fko_verify_hmac(ctx, (const char *)s->hmac_key, s->hmac_key_len) !=
		    FKO_SUCCESS) {
		fko_destroy(ctx);
		return NULL;
	}
	return ctx;
}

void spa_check(const struct jit_spa_conf *conf, const struct jit_replay *seen,
	       const struct jit_spa_packet *pkt, int64_t now_s,
	       unsigned max_age_s, struct jit_spa_result *res)
{
	char text[JIT_SPA_MAX_BYTES + 1];
	struct jit_spa_result best;
	bool matched = false, authenticated = false;

	memset(res, 0, sizeof(*res));
	if (precheck(pkt, text, sizeof(text)) < 0) {
		verdict(res, JIT_SPA_IGNORED, "not SPA data");
		return;
	}
	if (raw_digest(text, res->digest) < 0) {
		verdict(res, JIT_SPA_IGNORED, "not SPA data");
		return;
	}
	if (replay_seen(seen, res->digest, (uint64_t)now_s * 1000)) {
		verdict(res, JIT_SPA_REPLAY,
			"a replay of a packet accepted before");
		return;
	}
	best = *res;
	best.verdict = JIT_SPA_IGNORED;
	for (size_t i = 0; i < conf->n_stanzas; i++) {
		const struct jit_spa_stanza *s = &conf->stanzas[i];
		fko_ctx_t ctx;
		time_t ts = 0;
		int64_t age;

		if (!stanza_takes(s, pkt))
			continue;
		matched = true;
		ctx = stanza_authenticate(s, text);
		if (!ctx)
			continue;
		authenticated = true;
		if (fko_decrypt_spa_data(ctx, (const char *)s->key,
					 s->key_len) != FKO_SUCCESS ||
		    fko_get_timestamp(ctx, &ts) != FKO_SUCCESS) {
			fko_destroy(ctx);
			if (best.verdict == JIT_SPA_IGNORED) {
				best.stanza = s;
				verdict(&best, JIT_SPA_BAD_DATA,
					"authenticated by the stanza of line "
					"%u, but its KEY does not decrypt it",
					s->line);
			}
			continue;
		}
		res->timestamp = (int64_t)ts;
		age = now_s - res->timestamp;
		if (age > (int64_t)max_age_s || -age > (int64_t)max_age_s) {
			fko_destroy(ctx);
			res->stanza = s;
			verdict(res, JIT_SPA_STALE,
				"its time is %+" PRId64 " s from ours (at most "
				"%u s either way)",
				-age, max_age_s);
			return;
		}
		check_stanza(s, ctx, pkt, now_s, res);
		fko_destroy(ctx);
		if (res->verdict == JIT_SPA_ACCEPTED)
			return;
		/* The first refusal is the one to report if none accepts. */
		if (best.verdict == JIT_SPA_IGNORED ||
		    best.verdict == JIT_SPA_BAD_DATA)
			best = *res;
	}
	if (best.verdict != JIT_SPA_IGNORED) {
		*res = best;
		return;
	}
	if (!matched)
		verdict(res, JIT_SPA_NO_STANZA,
			"no stanza takes packets from this source");
	else if (!authenticated)
		verdict(res, JIT_SPA_BAD_HMAC,
			"no stanza's HMAC key authenticates it");
}
