/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet mode, the agent's side without NATS: fleet.yaml, the grant values
 * and what the host decides about them, and the bookkeeping of fleet
 * records.
 */
#include <check.h>
#include <sys/stat.h>

#include "fleet-conf.h"
#include "fleet-outbox.h"
#include "golden.h"
#include "util.h"
#include "runner.h"

static struct jit_fleet_conf *parse_ok(const char *text)
{
	struct jit_fleet_conf *c = NULL;
	struct jit_diag diag;
	int r;

	diag_init(&diag);
	r = fleet_conf_parse("fleet.yaml", text, strlen(text), "web-1.example",
			     &c, &diag);
	ck_assert_msg(r == 0, "parse failed: %s", diag.text ? diag.text : "");
	diag_release(&diag);
	return c;
}

/* The rendered errors (caller frees), the parse having failed. */
static char *parse_bad(const char *text)
{
	struct jit_fleet_conf *c = NULL;
	struct jit_diag diag;
	int r;

	diag_init(&diag);
	r = fleet_conf_parse("fleet.yaml", text, strlen(text), "web-1", &c,
			     &diag);
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(diag.text);
	return diag.text;
}

UNIT_TEST("conf", test_conf_full)
{
	struct jit_fleet_conf *c = parse_ok(
		"servers: [nats://192.0.2.1:4222, tls://192.0.2.2:4222]\n"
		"host: web_2\n"
		"labels: {role: web, env: prod}\n"
		"user: web-2\n"
		"password_file: /etc/jit-enforcer/fleet.password\n"
		"tls: {ca_file: /etc/ca.pem, cert_file: /c.pem, key_file: "
		"/k.pem}\n"
		"connect_timeout: 10s\n");

	ck_assert_uint_eq(c->n_servers, 2);
	ck_assert_str_eq(c->servers[1], "tls://192.0.2.2:4222");
	ck_assert_str_eq(c->host, "web_2");
	ck_assert(c->host_from_file);
	ck_assert_uint_eq(c->n_labels, 2);
	ck_assert_str_eq(fleet_conf_label(c, "env"), "prod");
	ck_assert_ptr_null(fleet_conf_label(c, "zone"));
	ck_assert_str_eq(c->user, "web-2");
	ck_assert_str_eq(c->password_file, "/etc/jit-enforcer/fleet.password");
	ck_assert_str_eq(c->tls_key_file, "/k.pem");
	ck_assert_uint_eq(c->connect_timeout_ms, 10000);
	fleet_conf_free(c);
}
END_TEST

UNIT_TEST("conf", test_conf_defaults)
{
	/* The host is the hostname's first label, the user the host. */
	struct jit_fleet_conf *c =
		parse_ok("servers: [nats://192.0.2.1:4222]\n");

	ck_assert_str_eq(c->host, "web-1");
	ck_assert(!c->host_from_file);
	ck_assert_str_eq(c->user, "web-1");
	ck_assert_uint_eq(c->n_labels, 0);
	ck_assert_ptr_null(c->password_file);
	ck_assert_uint_eq(c->connect_timeout_ms, JIT_FLEET_CONNECT_TIMEOUT_MS);
	fleet_conf_free(c);
}
END_TEST

UNIT_TEST("conf", test_conf_errors)
{
	char *t = parse_bad("servers: nats://192.0.2.1:4222\n"
			    "host: web.1\n"
			    "labels: {role: [web], 'a b': x, env: 'a=b'}\n"
			    "pasword_file: /x\n"
			    "tls: {cert_file: /c.pem}\n");

	ck_assert_msg(strstr(t, "fleet.yaml:1:10: error: servers: expected a "
				"list of NATS URLs"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:2:7: error: host 'web.1' is not "
				"valid"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:3:16: error: label 'role': "
				"expected a value"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:3:23: error: label name 'a b' is "
				"not valid"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:3:38: error: label value 'a=b'"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:4:1: error: unknown key "
				"'pasword_file' in fleet.yaml; did you mean "
				"'password_file'?"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:5:6: error: tls: cert_file and "
				"key_file go together"),
		      "%s", t);
	free(t);

	t = parse_bad("host: web-1\n");
	ck_assert_msg(strstr(t, "fleet.yaml:1:1: error: missing required key "
				"'servers'"),
		      "%s", t);
	free(t);
	t = parse_bad("servers: [http://192.0.2.1, 'nats://']\n");
	ck_assert_msg(strstr(t, "fleet.yaml:1:11: error: server "
				"'http://192.0.2.1' is not a NATS URL"),
		      "%s", t);
	ck_assert_msg(strstr(t, "fleet.yaml:1:29: error: server 'nats://'"),
		      "%s", t);
	free(t);
	t = parse_bad("servers: [nats://a:1]\n---\nservers: [nats://b:1]\n");
	ck_assert_msg(strstr(t, "a second document"), "%s", t);
	free(t);
	t = parse_bad("");
	ck_assert_msg(strstr(t, "fleet.yaml: error: empty file"), "%s", t);
	free(t);
	t = parse_bad("servers: [nats://a:1]\npassword_file: relative\n");
	ck_assert_msg(strstr(t, "fleet.yaml:2:16: error: password_file "
				"'relative' is not an absolute path"),
		      "%s", t);
	free(t);
	t = parse_bad("servers: [nats://a:1]\nconnect_timeout: 2m\n");
	ck_assert_msg(strstr(t, "fleet.yaml:2:18: error: connect_timeout '2m' "
				"is not valid; give 1s to 60s"),
		      "%s", t);
	free(t);
	t = parse_bad("servers: [nats://a:1]\nconnect_timeout: 0s\n");
	ck_assert_msg(strstr(t, "connect_timeout '0s' is not valid"), "%s", t);
	free(t);
}
END_TEST

UNIT_TEST("conf", test_conf_bad_hostname)
{
	struct jit_fleet_conf *c = NULL;
	struct jit_diag diag;
	const char *text = "servers: [nats://a:1]\n";

	diag_init(&diag);
	ck_assert_int_eq(fleet_conf_parse("fleet.yaml", text, strlen(text),
					  "bad host", &c, &diag),
			 -EINVAL);
	ck_assert_msg(strstr(diag.text, "set host:"), "%s", diag.text);
	diag_release(&diag);
}
END_TEST

UNIT_TEST("conf", test_conf_missing_file)
{
	struct jit_fleet_conf *c = NULL;
	struct jit_diag diag;

	diag_init(&diag);
	ck_assert_int_eq(fleet_conf_load("/nonexistent/fleet.yaml", &c, &diag),
			 -ENOENT);
	ck_assert_uint_eq(diag.errors, 0);
	diag_release(&diag);
}
END_TEST

struct seen {
	uint64_t seq[8];
	char line[8][64];
	size_t n;
};

static int collect(void *u, uint64_t seq, const char *line)
{
	struct seen *s = u;

	ck_assert_uint_lt(s->n, 8);
	s->seq[s->n] = seq;
	snprintf(s->line[s->n++], 64, "%s", line);
	return 0;
}

UNIT_TEST("outbox", test_outbox_cursor)
{
	char dir[] = "/tmp/jit-outbox-XXXXXX",
	     dir2[] = "/tmp/jit-outbox-XXXXXX";
	struct jit_fleet_outbox *o = NULL, *o2 = NULL;
	char nonce[JIT_FLEET_NONCE_LEN + 1], id[128], *path = NULL;
	struct seen s = { 0 };
	uint64_t seq;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir2));
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	ck_assert_uint_eq(strlen(fleet_outbox_nonce(o)), JIT_FLEET_NONCE_LEN);
	snprintf(nonce, sizeof(nonce), "%s", fleet_outbox_nonce(o));
	/* Another install has another nonce. */
	ck_assert_int_eq(fleet_outbox_open(dir2, &o2), 0);
	ck_assert_str_ne(fleet_outbox_nonce(o2), nonce);
	fleet_outbox_close(o2);

	ck_assert_uint_eq(fleet_outbox_next(o), 1);
	for (int i = 1; i <= 3; i++) {
		char line[32];

		snprintf(line, sizeof(line), "{\"n\":%d}", i);
		ck_assert_int_eq(fleet_outbox_add(o, line, &seq), 0);
		ck_assert_uint_eq(seq, (uint64_t)i);
	}
	ck_assert_int_eq(fleet_outbox_add(o, "a\nb", &seq), -EINVAL);
	ck_assert_int_eq(fleet_outbox_ack(o, 9), -EINVAL);
	ck_assert_int_eq(fleet_outbox_ack(o, 1), 0);
	/* The cursor never goes back. */
	ck_assert_int_eq(fleet_outbox_ack(o, 0), 0);
	ck_assert_uint_eq(fleet_outbox_acked(o), 1);
	fleet_outbox_close(o);

	/* A kill -9 in the middle of a line: the torn tail is cut. */
	ck_assert_int_ge(asprintf(&path, "%s/" JIT_FLEET_OUTBOX_FILE, dir), 0);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("4 {\"n\":", f);
	fclose(f);

	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	ck_assert_str_eq(fleet_outbox_nonce(o), nonce);
	ck_assert_uint_eq(fleet_outbox_acked(o), 1);
	ck_assert_uint_eq(fleet_outbox_next(o), 4);
	ck_assert_int_eq(fleet_outbox_each_pending(o, collect, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], 2);
	ck_assert_str_eq(s.line[0], "{\"n\":2}");
	ck_assert_uint_eq(s.seq[1], 3);
	/* The next line is 4, written whole after the cut. */
	ck_assert_int_eq(fleet_outbox_add(o, "{\"n\":4}", &seq), 0);
	ck_assert_uint_eq(seq, 4);
	ck_assert_int_eq(fleet_outbox_ack(o, 4), 0);
	fleet_outbox_close(o);
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	s.n = 0;
	ck_assert_int_eq(fleet_outbox_each_pending(o, collect, &s), 0);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(fleet_outbox_next(o), 5);
	fleet_outbox_close(o);

	ck_assert_str_eq(
		fleet_msgid("web-1", "0123456789abcdef", 42, id, sizeof(id)),
		"web-1:0123456789abcdef:42");
	free(path);
	rm_rf(dir);
	rm_rf(dir2);
}
END_TEST

/*
 * The cursor is saved when the caller says (the agent: at most every few
 * seconds), not at every ack: a kill -9 before that sends more again,
 * never less, and never gives a sequence twice.
 */
UNIT_TEST("outbox", test_outbox_lazy_cursor)
{
	char dir[] = "/tmp/jit-outbox-XXXXXX", buf[64] = "", *cursor = NULL;
	struct jit_fleet_outbox *o = NULL, *o2 = NULL;
	struct seen s = { 0 };
	uint64_t seq;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&cursor, "%s/" JIT_FLEET_CURSOR_FILE, dir),
			 0);
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	ck_assert(!fleet_outbox_unsaved(o));
	for (int i = 1; i <= 3; i++)
		ck_assert_int_eq(fleet_outbox_add(o, "{}", &seq), 0);
	ck_assert_int_eq(fleet_outbox_ack(o, 2), 0);
	ck_assert_uint_eq(fleet_outbox_acked(o), 2);
	/* No write, no sync for the ack itself. */
	ck_assert_int_eq(access(cursor, F_OK), -1);
	ck_assert(fleet_outbox_unsaved(o));

	/* Killed now: everything past the saved cursor is owed again. */
	ck_assert_int_eq(fleet_outbox_open(dir, &o2), 0);
	ck_assert_uint_eq(fleet_outbox_acked(o2), 0);
	ck_assert_uint_eq(fleet_outbox_next(o2), 4);
	ck_assert_int_eq(fleet_outbox_each_pending(o2, collect, &s), 0);
	ck_assert_uint_eq(s.n, 3);
	fleet_outbox_close(o2);

	ck_assert_int_eq(fleet_outbox_save(o), 0);
	ck_assert(!fleet_outbox_unsaved(o));
	f = fopen(cursor, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "2\n");
	/* Closing saves what moved since. */
	ck_assert_int_eq(fleet_outbox_ack(o, 3), 0);
	fleet_outbox_close(o);
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	ck_assert_uint_eq(fleet_outbox_acked(o), 3);
	s.n = 0;
	ck_assert_int_eq(fleet_outbox_each_pending(o, collect, &s), 0);
	ck_assert_uint_eq(s.n, 0);
	fleet_outbox_close(o);
	free(cursor);
	rm_rf(dir);
}
END_TEST

UNIT_TEST("outbox", test_outbox_compaction)
{
	char dir[] = "/tmp/jit-outbox-XXXXXX", line[1024], *path = NULL;
	struct jit_fleet_outbox *o = NULL;
	struct seen s = { 0 };
	struct stat st;
	uint64_t seq;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&path, "%s/" JIT_FLEET_OUTBOX_FILE, dir), 0);
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	line[0] = '{';
	/* More than the roll size, the last three never stored. */
	for (int i = 0; i < 1200; i++)
		ck_assert_int_eq(fleet_outbox_add(o, line, &seq), 0);
	ck_assert_int_eq(fleet_outbox_add(o, "{\"a\":1}", &seq), 0);
	ck_assert_int_eq(fleet_outbox_add(o, "{\"a\":2}", &seq), 0);
	ck_assert_int_eq(fleet_outbox_add(o, "{\"a\":3}", &seq), 0);
	ck_assert_int_eq(fleet_outbox_ack(o, 1200), 0);
	/* Only what is owed is left, and more lines go on after it. */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_lt(st.st_size, 100);
	/* The cursor was saved before the lines went: killed now, a
	 * restart neither sends them again nor gives their sequences. */
	{
		struct jit_fleet_outbox *o2 = NULL;

		ck_assert(!fleet_outbox_unsaved(o));
		ck_assert_int_eq(fleet_outbox_open(dir, &o2), 0);
		ck_assert_uint_eq(fleet_outbox_acked(o2), 1200);
		ck_assert_uint_eq(fleet_outbox_next(o2), 1204);
		fleet_outbox_close(o2);
	}
	ck_assert_int_eq(fleet_outbox_add(o, "{\"a\":4}", &seq), 0);
	ck_assert_uint_eq(seq, 1204);
	fleet_outbox_close(o);
	ck_assert_int_eq(fleet_outbox_open(dir, &o), 0);
	ck_assert_int_eq(fleet_outbox_each_pending(o, collect, &s), 0);
	ck_assert_uint_eq(s.n, 4);
	ck_assert_uint_eq(s.seq[0], 1201);
	ck_assert_str_eq(s.line[3], "{\"a\":4}");
	ck_assert_uint_eq(fleet_outbox_next(o), 1205);
	fleet_outbox_close(o);
	free(path);
	rm_rf(dir);
}
END_TEST
