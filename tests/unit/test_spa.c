/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Single packet authorization: the access file's syntax and its errors,
 * the replay set against a plain model, packets made with libfko (as the
 * fwknop client makes them) through every verdict, and digests that
 * survive a reopen of the journal while only the live ones reach a
 * snapshot.
 */
#include <check.h>
#include <fcntl.h>
#include <fko.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "golden.h"
#include "journal.h"
#include "replay.h"
#include "runner.h"
#include "spa-conf.h"
#include "spa.h"
#include "util.h"

#define NOW_S 1800000000

/* 32 and 64 bytes, base64, as fwknop --key-gen prints them. */
#define K1 "SuQ/2DWEhKZbA8/zs/Dr5UeN6kg5jSRij0FClRjkvOA="
#define H1                                                                 \
	"OpDzEXYFvxTXJjS8G1x79V7HMh5HQ1HFO/1P2SbhBEuXO5jU7zqsjJkdXQJ4N8PG" \
	"dn7AXr4g5cScA9jd5YjeiA=="
#define K2 "y2eQOmLT1NZOXAo7R35SI4BRz50zcq0Cfc6xNUP/FXM="
#define H2                                                                 \
	"6tTBUxues64IchZpzx0vP/3MQDPsRsE+B0ysZrajRE+RXUBmp987LRw7VQ5Gqw+S" \
	"Ri8pyeOcgMOIl0YEx8DEmQ=="
/* An HMAC key no stanza has. */
#define H3                                                                 \
	"LOfNf+idgrIN8Y6xLvfK5L2Bu4oV0mRDGa2YnRE7d4x0927/gehB/4a9xlP8AgJh" \
	"J1HRCvBXM0Z2giDb+WppRA=="

static struct jit_spa_conf *parse_ok(const char *text)
{
	struct jit_spa_conf *c = NULL;
	struct jit_diag d;
	int r;

	diag_init(&d);
	r = spa_conf_parse("access.conf", text, strlen(text), &c, &d);
	ck_assert_msg(r == 0, "unexpected errors:\n%s", d.text ? d.text : "");
	diag_release(&d);
	return c;
}

/* The errors text, which must be there (the caller frees it). */
static char *parse_err(const char *text)
{
	struct jit_spa_conf *c = NULL;
	struct jit_diag d;
	int r;

	diag_init(&d);
	r = spa_conf_parse("access.conf", text, strlen(text), &c, &d);
	ck_assert_msg(r < 0, "accepted: %s", text);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(d.text);
	return d.text;
}

#define GOOD_STANZA                \
	"SOURCE ANY\n"             \
	"KEY_BASE64 " K1 "\n"      \
	"HMAC_KEY_BASE64 " H1 "\n" \
	"JIT_USER alice\n"

UNIT_CASE("spa", .timeout_s = 60);

UNIT_TEST("spa", conf_good)
{
	struct jit_spa_conf *c = parse_ok(
		"# comment\n"
		"  ; also a comment\n\n" GOOD_STANZA "\r\n"
		"SOURCE: 198.51.100.0/255.255.255.0, 2001:db8::/32 ; note\r\n"
		"KEY pass phrase\n"
		"HMAC_KEY_BASE64 " H2 "\n"
		"HMAC_DIGEST_TYPE sha512\n"
		"ENCRYPTION_MODE CTR\n"
		"REQUIRE_USERNAME bob\n"
		"REQUIRE_SOURCE_ADDRESS Yes\n"
		"OPEN_PORTS tcp/22, udp/1194\n"
		"RESTRICT_PORTS tcp/23\n"
		"FW_ACCESS_TIMEOUT 60\n"
		"MAX_FW_TIMEOUT 600\n"
		"DESTINATION 192.0.2.1\n"
		"ACCESS_EXPIRE_EPOCH 1900000000\n");
	const struct jit_spa_stanza *a = &c->stanzas[0], *b = &c->stanzas[1];

	ck_assert_uint_eq(c->n_stanzas, 2);
	ck_assert_uint_eq(a->line, 4);
	ck_assert(a->any_source && a->any_destination);
	ck_assert_int_eq(a->key_len, 32);
	ck_assert_int_eq(a->hmac_key_len, 64);
	ck_assert_int_eq(a->hmac_type, FKO_HMAC_SHA256);
	ck_assert_int_eq(a->enc_mode, FKO_ENC_MODE_CBC);
	ck_assert_uint_eq(a->access_timeout_s, JIT_SPA_ACCESS_TIMEOUT_S);
	ck_assert_uint_eq(a->max_timeout_s, JIT_SPA_MAX_TIMEOUT_S);
	ck_assert_str_eq(a->jit_user, "alice");

	ck_assert_uint_eq(b->line, 9);
	ck_assert(!b->any_source);
	ck_assert_uint_eq(b->n_sources, 2);
	ck_assert_uint_eq(b->sources[0].len, 24);
	ck_assert_int_eq(b->key_len, 11);
	ck_assert(!memcmp(b->key, "pass phrase", 11));
	ck_assert_int_eq(b->hmac_type, FKO_HMAC_SHA512);
	ck_assert_int_eq(b->enc_mode, FKO_ENC_MODE_CTR);
	ck_assert_str_eq(b->require_user, "bob");
	ck_assert_str_eq(b->jit_user, "bob"); /* REQUIRE_USERNAME's */
	ck_assert(b->require_source_address);
	ck_assert_uint_eq(b->n_open_ports, 2);
	ck_assert_uint_eq(b->open_ports[1].ipproto, IPPROTO_UDP);
	ck_assert_uint_eq(b->open_ports[1].port, 1194);
	ck_assert_uint_eq(b->n_restrict_ports, 1);
	ck_assert_uint_eq(b->access_timeout_s, 60);
	ck_assert_uint_eq(b->max_timeout_s, 600);
	ck_assert(!b->any_destination);
	ck_assert_int_eq(b->expire_s, 1900000000);
	spa_conf_free(c);
}
END_TEST

static const struct {
	const char *text, *want;
} bad_confs[] = {
	{ "KEY_BASE64 " K1 "\n" GOOD_STANZA,
	  "access.conf:1: error: KEY_BASE64 before the first SOURCE" },
	{ GOOD_STANZA "BOGUS 1\n",
	  "access.conf:5: error: unknown keyword 'BOGUS'" },
	{ GOOD_STANZA "ENABLE_CMD_EXEC Y\n",
	  ":5: error: ENABLE_CMD_EXEC: running commands is not supported" },
	{ GOOD_STANZA "CMD_CYCLE_OPEN x\n",
	  "running commands is not supported" },
	{ GOOD_STANZA "FORCE_NAT 192.0.2.1 22\n",
	  "NAT access is not supported" },
	{ GOOD_STANZA "FORCE_MASQUERADE Y\n", "NAT access is not supported" },
	{ GOOD_STANZA "FORWARD_ALL Y\n", "forwarding is not supported" },
	{ GOOD_STANZA "GPG_REMOTE_ID 1234\n",
	  "GnuPG packets are not supported" },
	{ "%include /etc/x\n" GOOD_STANZA, "includes are not supported" },
	{ GOOD_STANZA "ENCRYPTION_MODE Asymmetric\n", "Asymmetric (GnuPG)" },
	{ GOOD_STANZA "ENCRYPTION_MODE XTS\n", "ENCRYPTION_MODE 'XTS' is not" },
	{ GOOD_STANZA "HMAC_DIGEST_TYPE SHA7\n", "HMAC_DIGEST_TYPE 'SHA7'" },
	{ "SOURCE ANY\nKEY_BASE64 " K1 "\nJIT_USER alice\n",
	  ":1: error: stanza has no HMAC_KEY" },
	{ "SOURCE ANY\nHMAC_KEY_BASE64 " H1 "\nJIT_USER alice\n",
	  ":1: error: stanza has no KEY" },
	{ "SOURCE ANY\nKEY_BASE64 " K1 "\nHMAC_KEY_BASE64 " H1 "\n",
	  "neither JIT_USER nor REQUIRE_USERNAME" },
	{ "SOURCE ANY\nKEY_BASE64 " K1 "\nHMAC_KEY_BASE64 " K1 "\nJIT_USER a\n",
	  "the HMAC key must differ from the encryption key" },
	{ GOOD_STANZA "KEY x\n", ":5: error: KEY is given twice" },
	{ "SOURCE ANY\nKEY_BASE64 not*base64\n", "KEY_BASE64 is not base64" },
	{ "SOURCE 192.0.2.300\n", "SOURCE: '192.0.2.300' is not" },
	{ "SOURCE 192.0.2.0/255.0.255.0\n", "netmask that is not contiguous" },
	{ GOOD_STANZA "OPEN_PORTS tcp22\n", "'tcp22' is not proto/port" },
	{ GOOD_STANZA "OPEN_PORTS icmp/1\n", "protocol 'icmp' is not tcp" },
	{ GOOD_STANZA "OPEN_PORTS tcp/70000\n",
	  "port '70000' is not 1..65535" },
	{ GOOD_STANZA "FW_ACCESS_TIMEOUT 0\n", "FW_ACCESS_TIMEOUT must be" },
	{ GOOD_STANZA "MAX_FW_TIMEOUT 10\n", "above MAX_FW_TIMEOUT 10" },
	{ GOOD_STANZA "REQUIRE_SOURCE_ADDRESS maybe\n", "must be Y or N" },
	{ GOOD_STANZA "ACCESS_EXPIRE 2030-01-01\n", "MM/DD/YYYY" },
	{ GOOD_STANZA "JIT_USER x y\n", "JIT_USER is given twice" },
	{ "SOURCE ANY\nKEY_BASE64 " K1 "\nHMAC_KEY_BASE64 " H1
	  "\nJIT_USER root\n",
	  "JIT_USER root" },
	{ "SOURCE ANY\nKEY_BASE64 " K1 "\nHMAC_KEY_BASE64 " H1
	  "\nJIT_USER -rf\n",
	  "is not a user name" },
	{ GOOD_STANZA "OPEN_PORTS\n", "OPEN_PORTS has no value" },
	{ "# nothing\n", "no stanza" },
};

UNIT_LOOP_TEST("spa", conf_errors, ARRAY_SIZE(bad_confs))
{
	char *text = parse_err(bad_confs[_i].text);

	ck_assert_msg(strstr(text, bad_confs[_i].want), "want '%s' in:\n%s",
		      bad_confs[_i].want, text);
	/* Keys are never echoed in a message. */
	ck_assert_ptr_null(strstr(text, K1));
	ck_assert_ptr_null(strstr(text, H1));
	free(text);
}
END_TEST

UNIT_TEST("spa", conf_limits)
{
	char *line = malloc(2000), *text;
	size_t n;

	memset(line, 'x', 1999);
	line[1999] = '\0';
	ck_assert_int_ge(asprintf(&text, GOOD_STANZA "#%s\n", line), 0);
	free(line);
	free(text = (free(parse_err(text)), text));
	/* A NUL byte inside a line. */
	{
		static const char nul[] = GOOD_STANZA "JIT\0USER x\n";
		struct jit_spa_conf *c = NULL;
		struct jit_diag d;

		diag_init(&d);
		ck_assert_int_lt(
			spa_conf_parse("a", nul, sizeof(nul) - 1, &c, &d), 0);
		ck_assert_ptr_nonnull(strstr(d.text, "NUL byte"));
		diag_release(&d);
	}
	/* Several errors are all reported. */
	text = parse_err(GOOD_STANZA "BOGUS 1\nFORCE_NAT x\n");
	n = 0;
	for (char *p = text; (p = strstr(p, "error:")); p++)
		n++;
	ck_assert_uint_eq(n, 2);
	free(text);
}
END_TEST

UNIT_TEST("spa", conf_file_checks)
{
	char *dir = scratch_dir("spa-conf");
	char path[512], link_path[512];
	struct jit_spa_conf *c = NULL;
	struct jit_diag d;
	int fd;

	snprintf(path, sizeof(path), "%s/access.conf", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, GOOD_STANZA, strlen(GOOD_STANZA)),
			 (ssize_t)strlen(GOOD_STANZA));
	close(fd);

	diag_init(&d);
	ck_assert_int_eq(spa_conf_load(path, &c, &d), 0);
	ck_assert_uint_eq(c->n_stanzas, 1);
	c = spa_conf_free(c);
	diag_release(&d);

	ck_assert_int_eq(chmod(path, 0604), 0);
	diag_init(&d);
	ck_assert_int_eq(spa_conf_load(path, &c, &d), -EPERM);
	ck_assert_ptr_nonnull(strstr(d.text, "chmod 600"));
	diag_release(&d);
	ck_assert_int_eq(chmod(path, 0620), 0);
	diag_init(&d);
	ck_assert_int_eq(spa_conf_load(path, &c, &d), -EPERM);
	diag_release(&d);
	ck_assert_int_eq(chmod(path, 0640), 0);
	diag_init(&d);
	ck_assert_int_eq(spa_conf_load(path, &c, &d), 0);
	c = spa_conf_free(c);
	diag_release(&d);

	/* Owned by another user: whoever that is could change the keys. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(path, 0600), 0);
		ck_assert_int_eq(chown(path, 65534, 0), 0);
		diag_init(&d);
		ck_assert_int_eq(spa_conf_load(path, &c, &d), -EPERM);
		ck_assert_ptr_nonnull(strstr(d.text, "must be owned by root"));
		diag_release(&d);
		ck_assert_int_eq(chown(path, 0, 0), 0);
	}

	/* A symlink is not followed (it could point anywhere). */
	snprintf(link_path, sizeof(link_path), "%s/link.conf", dir);
	ck_assert_int_eq(symlink(path, link_path), 0);
	diag_init(&d);
	ck_assert_int_lt(spa_conf_load(link_path, &c, &d), 0);
	ck_assert_ptr_nonnull(strstr(d.text, "symbolic link is not followed"));
	diag_release(&d);
	diag_init(&d);
	ck_assert_int_lt(spa_conf_load(dir, &c, &d), 0);
	ck_assert_ptr_nonnull(strstr(d.text, "not a regular file"));
	diag_release(&d);
	rm_rf(dir);
	free(dir);
}
END_TEST

/* ---- replay set --------------------------------------------------------- */

UNIT_TEST("spa", replay_model)
{
	enum { N = 3000 };
	static uint8_t keys[N][JIT_DIGEST_LEN];
	static uint64_t until[N]; /* the model: 0 = absent */
	struct jit_replay *r = replay_new();
	uint64_t now = 1000;

	srand(7);
	for (size_t i = 0; i < N; i++)
		for (size_t k = 0; k < JIT_DIGEST_LEN; k++)
			keys[i][k] = (uint8_t)rand();
	/* Same first 8 bytes: they collide on purpose. */
	memcpy(keys[1], keys[0], 8);
	memcpy(keys[2], keys[0], 8);
	for (int step = 0; step < 40000; step++) {
		size_t i = (size_t)rand() % N;
		int op = rand() % 10;

		if (op < 5) {
			uint64_t u = now + 1 + (uint64_t)(rand() % 500);

			ck_assert_int_eq(replay_add(r, keys[i], u, now), 0);
			if (until[i] < u || until[i] < now)
				until[i] = u;
		} else if (op < 8) {
			bool want = until[i] && until[i] >= now;

			ck_assert_int_eq(replay_seen(r, keys[i], now), want);
		} else if (op < 9) {
			replay_forget(r, keys[i]);
			until[i] = 0;
		} else {
			now += (uint64_t)(rand() % 50);
			if (rand() % 4 == 0) {
				size_t live = 0;

				replay_prune(r, now);
				for (size_t k = 0; k < N; k++) {
					if (until[k] && until[k] < now)
						until[k] = 0;
					live += until[k] != 0;
				}
				ck_assert_uint_eq(replay_count(r), live);
			}
		}
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(replay_seen(r, keys[i], now),
				 until[i] && until[i] >= now);
	replay_free(r);
}
END_TEST

/* ---- packets --------------------------------------------------------------
 */

static struct jit_spa_conf *two_stanzas(void)
{
	return parse_ok("SOURCE 192.0.2.0/24, 2001:db8::/32\n"
			"KEY_BASE64 " K1 "\n"
			"HMAC_KEY_BASE64 " H1 "\n"
			"JIT_USER alice\n"
			"FW_ACCESS_TIMEOUT 40\n"
			"MAX_FW_TIMEOUT 100\n"
			"RESTRICT_PORTS tcp/23\n"
			"\n"
			"SOURCE ANY\n"
			"KEY_BASE64 " K2 "\n"
			"HMAC_KEY_BASE64 " H2 "\n"
			"REQUIRE_USERNAME bob\n"
			"REQUIRE_SOURCE_ADDRESS Y\n"
			"OPEN_PORTS tcp/22\n");
}

struct pkt_opts {
	const char *msg;
	const char *user;
	const char *key_b64, *hmac_b64;
	int offset_s; /* added to the packet's time */
	int timeout;
	short type; /* 0: access (FKO_COMMAND_MSG is 0: see command) */
	bool command;
};

/* A packet as the fwknop client sends it: libfko's data, no prefix. */
static char *make_packet(const struct pkt_opts *o)
{
	unsigned char key[128], hmac[128];
	char kb[128], hb[200], *data = NULL, *out;
	int klen, hlen;
	fko_ctx_t ctx = NULL;

	snprintf(kb, sizeof(kb), "%s", o->key_b64 ? o->key_b64 : K1);
	snprintf(hb, sizeof(hb), "%s", o->hmac_b64 ? o->hmac_b64 : H1);
	klen = fko_base64_decode(kb, key);
	hlen = fko_base64_decode(hb, hmac);
	ck_assert_int_eq(fko_new(&ctx), FKO_SUCCESS);
	if (o->type || o->command)
		ck_assert_int_eq(
			fko_set_spa_message_type(
				ctx, o->command ? FKO_COMMAND_MSG : o->type),
			FKO_SUCCESS);
	ck_assert_msg(fko_set_spa_message(ctx, o->msg) == FKO_SUCCESS,
		      "libfko refuses message '%s'", o->msg);
	ck_assert_int_eq(fko_set_username(ctx, o->user ? o->user : "alice"),
			 FKO_SUCCESS);
	if (o->timeout)
		ck_assert_int_eq(fko_set_spa_client_timeout(ctx, o->timeout),
				 FKO_SUCCESS);
	/* libfko stamps the current time; move it to NOW_S + offset. */
	ck_assert_int_eq(
		fko_set_timestamp(ctx, (int)(NOW_S - time(NULL)) + o->offset_s),
		FKO_SUCCESS);
	ck_assert_int_eq(fko_set_spa_hmac_type(ctx, FKO_HMAC_SHA256),
			 FKO_SUCCESS);
	ck_assert_int_eq(
		fko_spa_data_final(ctx, (char *)key, klen, (char *)hmac, hlen),
		FKO_SUCCESS);
	ck_assert_int_eq(fko_get_spa_data(ctx, &data), FKO_SUCCESS);
	if (!strncmp(data, "U2FsdGVkX1", 10))
		data += 10;
	out = strdup(data);
	fko_destroy(ctx);
	return out;
}

static struct jit_spa_packet from(const char *src, const char *data)
{
	struct jit_spa_packet p = { .data = data, .len = strlen(data) };

	ck_assert_int_eq(prefix_parse(src, &p.src), 0);
	ck_assert_int_eq(
		prefix_parse(strchr(src, ':') ? "2001:db8::1" : "192.0.2.1",
			     &p.dst),
		0);
	return p;
}

static void check_packet(const struct jit_spa_conf *c,
			 const struct jit_replay *seen, const char *src,
			 const struct pkt_opts *o, enum jit_spa_verdict want,
			 struct jit_spa_result *res)
{
	char *data = make_packet(o);
	struct jit_spa_packet p = from(src, data);

	spa_check(c, seen, &p, NOW_S, 120, res);
	ck_assert_msg(res->verdict == want, "%s from %s: want %s, got %s (%s)",
		      o->msg, src, spa_verdict_name(want),
		      spa_verdict_name(res->verdict), res->why);
	free(data);
}

UNIT_TEST("spa", packet_verdicts)
{
	struct jit_spa_conf *c = two_stanzas();
	struct jit_replay *seen = replay_new();
	struct jit_spa_result res;
	char buf[JIT_PREFIX_STRLEN];

	/* Accepted: address, ports, the stanza's timeout. */
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "203.0.113.5,tcp/22,udp/53" },
		     JIT_SPA_ACCEPTED, &res);
	ck_assert_ptr_eq(res.stanza, &c->stanzas[0]);
	ck_assert_str_eq(prefix_format(&res.open, buf, sizeof(buf)),
			 "203.0.113.5/32");
	ck_assert_uint_eq(res.n_ports, 2);
	ck_assert_uint_eq(res.ports[1].ipproto, IPPROTO_UDP);
	ck_assert_uint_eq(res.duration_s, 40);
	ck_assert_str_eq(res.user, "alice");
	ck_assert_int_eq(res.timestamp, NOW_S);

	/* The client's timeout, capped by MAX_FW_TIMEOUT. */
	check_packet(
		c, seen, "192.0.2.9",
		&(struct pkt_opts){ .msg = "0.0.0.0,tcp/22",
				    .timeout = 75,
				    .type = FKO_CLIENT_TIMEOUT_ACCESS_MSG },
		JIT_SPA_ACCEPTED, &res);
	ck_assert_uint_eq(res.duration_s, 75);
	ck_assert_str_eq(prefix_format(&res.open, buf, sizeof(buf)),
			 "192.0.2.9/32");
	check_packet(
		c, seen, "2001:db8::9",
		&(struct pkt_opts){ .msg = "0.0.0.0,tcp/22",
				    .timeout = 5000,
				    .type = FKO_CLIENT_TIMEOUT_ACCESS_MSG },
		JIT_SPA_ACCEPTED, &res);
	ck_assert_uint_eq(res.duration_s, 100);
	ck_assert_str_eq(prefix_format(&res.open, buf, sizeof(buf)),
			 "2001:db8::9/128");

	/* Keys. */
	check_packet(
		c, seen, "192.0.2.9",
		&(struct pkt_opts){ .msg = "192.0.2.9,tcp/22", .hmac_b64 = H3 },
		JIT_SPA_BAD_HMAC, &res);
	check_packet(
		c, seen, "192.0.2.9",
		&(struct pkt_opts){ .msg = "192.0.2.9,tcp/22", .key_b64 = K2 },
		JIT_SPA_BAD_DATA, &res);
	/* A source no stanza takes (the second needs bob's key). */
	check_packet(c, seen, "198.51.100.7",
		     &(struct pkt_opts){ .msg = "198.51.100.7,tcp/22" },
		     JIT_SPA_BAD_HMAC, &res);

	/* Time. */
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "192.0.2.9,tcp/22",
					 .offset_s = -121 },
		     JIT_SPA_STALE, &res);
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "192.0.2.9,tcp/22",
					 .offset_s = 121 },
		     JIT_SPA_STALE, &res);
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "192.0.2.9,tcp/22",
					 .offset_s = -119 },
		     JIT_SPA_ACCEPTED, &res);

	/* The stanza's limits. */
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "192.0.2.9,tcp/22,tcp/23" },
		     JIT_SPA_REFUSED, &res);
	ck_assert_ptr_nonnull(strstr(res.why, "RESTRICT_PORTS"));
	check_packet(c, seen, "198.51.100.7",
		     &(struct pkt_opts){ .msg = "198.51.100.7,tcp/22",
					 .key_b64 = K2,
					 .hmac_b64 = H2,
					 .user = "mallory" },
		     JIT_SPA_REFUSED, &res);
	ck_assert_ptr_nonnull(strstr(res.why, "REQUIRE_USERNAME"));
	check_packet(c, seen, "198.51.100.7",
		     &(struct pkt_opts){ .msg = "0.0.0.0,tcp/22",
					 .key_b64 = K2,
					 .hmac_b64 = H2,
					 .user = "bob" },
		     JIT_SPA_REFUSED, &res);
	ck_assert_ptr_nonnull(strstr(res.why, "REQUIRE_SOURCE_ADDRESS"));
	check_packet(c, seen, "198.51.100.7",
		     &(struct pkt_opts){ .msg = "198.51.100.7,tcp/2222",
					 .key_b64 = K2,
					 .hmac_b64 = H2,
					 .user = "bob" },
		     JIT_SPA_REFUSED, &res);
	ck_assert_ptr_nonnull(strstr(res.why, "OPEN_PORTS"));
	check_packet(c, seen, "198.51.100.7",
		     &(struct pkt_opts){ .msg = "198.51.100.7,tcp/22",
					 .key_b64 = K2,
					 .hmac_b64 = H2,
					 .user = "bob" },
		     JIT_SPA_ACCEPTED, &res);
	ck_assert_ptr_eq(res.stanza, &c->stanzas[1]);
	ck_assert_str_eq(res.user, "bob");

	/* Messages other than access. */
	check_packet(c, seen, "192.0.2.9",
		     &(struct pkt_opts){ .msg = "192.0.2.9,echo hi",
					 .command = true },
		     JIT_SPA_REFUSED, &res);
	ck_assert_ptr_nonnull(strstr(res.why, "command"));

	replay_free(seen);
	spa_conf_free(c);
}
END_TEST

UNIT_TEST("spa", packet_replay_and_garbage)
{
	struct jit_spa_conf *c = two_stanzas();
	struct jit_replay *seen = replay_new();
	struct jit_spa_result res, again;
	char *data =
		make_packet(&(struct pkt_opts){ .msg = "192.0.2.9,tcp/22" });
	struct jit_spa_packet p = from("192.0.2.9", data);
	char *copy;

	spa_check(c, seen, &p, NOW_S, 120, &res);
	ck_assert_int_eq(res.verdict, JIT_SPA_ACCEPTED);
	/* Not yet kept: the same packet passes again, with the same digest. */
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_ACCEPTED);
	ck_assert(!memcmp(res.digest, again.digest, JIT_DIGEST_LEN));
	ck_assert_int_eq(replay_add(seen, res.digest,
				    (uint64_t)(NOW_S + 120) * 1000,
				    (uint64_t)NOW_S * 1000),
			 0);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_REPLAY);
	/* A trailing newline (a packet saved with -B) is the same packet. */
	ck_assert_int_ge(asprintf(&copy, "%s\n", data), 0);
	p = from("198.51.100.1", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_REPLAY);
	free(copy);
	/* The "Salted__" prefix put back is refused before anything. */
	ck_assert_int_ge(asprintf(&copy, "U2FsdGVkX1%s", data), 0);
	p = from("192.0.2.9", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_IGNORED);
	free(copy);
	/* One character changed: the HMAC no longer matches. */
	copy = strdup(data);
	copy[20] = copy[20] == 'A' ? 'B' : 'A';
	p = from("192.0.2.9", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_BAD_HMAC);
	free(copy);
	/* Garbage: short, long, not base64. */
	p = from("192.0.2.9", "hello");
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_IGNORED);
	copy = malloc(3000);
	memset(copy, 'A', 2999);
	copy[2999] = '\0';
	p = from("192.0.2.9", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_IGNORED);
	memset(copy, '!', 200);
	copy[200] = '\0';
	p = from("192.0.2.9", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert_int_eq(again.verdict, JIT_SPA_IGNORED);
	/* Base64 of the right size that is not a packet. */
	memset(copy, 'Q', 300);
	copy[300] = '\0';
	p = from("192.0.2.9", copy);
	spa_check(c, seen, &p, NOW_S, 120, &again);
	ck_assert(again.verdict == JIT_SPA_BAD_HMAC ||
		  again.verdict == JIT_SPA_IGNORED);
	free(copy);
	free(data);
	replay_free(seen);
	spa_conf_free(c);
}
END_TEST

/* ---- digests in the journal -------------------------------------------- */

static int sink_request(void *userdata, const struct jit_request *r)
{
	return 0;
}

static int sink_digest(void *userdata, const uint8_t *d, uint64_t until_ms)
{
	return replay_add(userdata, d, until_ms, 0);
}

static struct jit_journal *open_into(const char *dir, struct jit_replay *r)
{
	const struct jit_journal_sink sink = { .request = sink_request,
					       .digest = sink_digest,
					       .userdata = r };
	struct jit_journal *j = NULL;
	struct jit_journal_info info;
	char why[256];

	ck_assert_int_eq(journal_open(dir, &sink, &j, &info, why, sizeof(why)),
			 0);
	journal_set_replay(j, r);
	return j;
}

UNIT_TEST("spa", journal_digests)
{
	char *dir = scratch_dir("spa-journal");
	struct jit_replay *r = replay_new();
	struct jit_journal *j = open_into(dir, r);
	struct jit_grants *g = grants_new();
	uint8_t live[JIT_DIGEST_LEN], old[JIT_DIGEST_LEN];
	uint64_t far = now_real_ms() + 3600 * 1000;

	memset(live, 0xab, sizeof(live));
	memset(old, 0x11, sizeof(old));
	ck_assert_int_eq(journal_append_digest(j, live, far), 0);
	ck_assert_int_eq(journal_append_digest(j, old, 5000), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
	replay_free(r);

	/* Both come back from the journal. */
	r = replay_new();
	j = open_into(dir, r);
	ck_assert(replay_seen(r, live, far));
	ck_assert(replay_seen(r, old, 5000));
	/* A snapshot keeps only what is still live. */
	ck_assert_int_eq(journal_compact_now(j, g, NULL), 0);
	journal_close(j);
	replay_free(r);
	r = replay_new();
	j = open_into(dir, r);
	ck_assert(replay_seen(r, live, far));
	ck_assert(!replay_seen(r, old, 0));
	ck_assert_uint_eq(replay_count(r), 1);
	journal_close(j);
	replay_free(r);
	grants_free(g);
	rm_rf(dir);
	free(dir);
}
END_TEST
