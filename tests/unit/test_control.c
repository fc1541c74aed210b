/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol without a socket: one request line in, the request
 * object or an error reply out. Every reference is dropped so that valgrind
 * can tell a leak in the parser from one in the test.
 */
#include <check.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control.h"
#include "golden.h"
#include "loop.h"
#include "util.h"
#include "runner.h"

/* Checks reply is {"ok": false, "error": {"code": code, "message": ...}}. */
static const char *assert_error(json_t *reply, const char *code)
{
	json_t *err, *ok, *c, *m;

	ck_assert_ptr_nonnull(reply);
	ck_assert(json_is_object(reply));
	ck_assert_uint_eq(json_object_size(reply), 2);
	ok = json_object_get(reply, "ok");
	ck_assert(json_is_false(ok));
	err = json_object_get(reply, "error");
	ck_assert(json_is_object(err));
	ck_assert_uint_eq(json_object_size(err), 2);
	c = json_object_get(err, "code");
	m = json_object_get(err, "message");
	ck_assert(json_is_string(c));
	ck_assert(json_is_string(m));
	ck_assert_str_eq(json_string_value(c), code);
	return json_string_value(m);
}

/*
 * Our part of a bad-json message exactly (column included), jansson's own
 * text only loosely: it is worded by the library version.
 */
static void assert_msg_prefix(const char *msg, const char *prefix,
			      const char *inner)
{
	ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0,
		      "'%s' does not start with '%s'", msg, prefix);
	ck_assert_msg(strstr(msg + strlen(prefix), inner), "'%s' lacks '%s'",
		      msg, inner);
}

/* Parses a line that must be refused; returns the reply (caller drops it). */
static json_t *refused(const char *line, size_t len)
{
	json_t *reply = (json_t *)0x1, *req;

	req = control_parse_line(line, len, &reply);
	ck_assert_msg(!req, "accepted '%.*s'", (int)len, line);
	ck_assert_msg(reply, "no reply for '%.*s'", (int)len, line);
	return reply;
}

static json_t *refused_str(const char *line)
{
	return refused(line, strlen(line));
}

UNIT_TEST("parse", test_bad_json)
{
	static const char *const lines[] = {
		"{",
		"",
		"   ",
		"{\"op\": }",
		"{\"op\": \"status\",}",
		"{'op': 'status'}",
		"{\"op\": \"status\"} {\"op\": \"status\"}",
		"{\"op\": \"status\"} x",
		"{\"op\": \"st\\x\"}",
		"{op: 1}",
		"\xff",
		"{\"op\": \"\xc3\"}",
		"{\"op\": \"\xed\xa0\x80\"}", /* a UTF-16 surrogate */
	};

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		json_t *reply = refused_str(lines[i]);
		const char *msg = assert_error(reply, "bad-json");

		ck_assert_msg(strncmp(msg, "invalid JSON at column ", 23) == 0,
			      "'%s': %s", lines[i], msg);
		json_decref(reply);
	}
}
END_TEST

UNIT_TEST("parse", test_bad_json_message)
{
	json_t *reply;

	reply = refused_str("{");
	assert_msg_prefix(assert_error(reply, "bad-json"),
			  "invalid JSON at column 1: ", "expected");
	json_decref(reply);

	reply = refused_str("{\"op\": \"status\"} x");
	assert_msg_prefix(
		assert_error(reply, "bad-json"),
		"invalid JSON at column 18: ", "end of file expected");
	json_decref(reply);
}
END_TEST

UNIT_TEST("parse", test_nul)
{
	static const char line[] = "{\"op\": \"status\"}\0{\"op\": \"x\"}";
	json_t *reply;

	/* A NUL inside the line is not the end of it. */
	reply = refused(line, sizeof(line) - 1);
	assert_error(reply, "bad-json");
	json_decref(reply);

	/* Nor is an escaped one in a string. */
	reply = refused_str("{\"op\": \"sta\\u0000tus\"}");
	assert_error(reply, "bad-json");
	json_decref(reply);
}
END_TEST

UNIT_TEST("parse", test_deep_nesting)
{
	enum { DEPTH = 100000 };
	char *line = malloc(2 * DEPTH);
	json_t *reply;

	ck_assert_ptr_nonnull(line);
	memset(line, '[', DEPTH);
	memset(line + DEPTH, ']', DEPTH);
	reply = refused(line, 2 * DEPTH);
	ck_assert_ptr_nonnull(strstr(assert_error(reply, "bad-json"),
				     "maximum parsing depth"));
	json_decref(reply);
	free(line);
}
END_TEST

UNIT_TEST("parse", test_not_object)
{
	json_t *reply;

	reply = refused_str("[{\"op\": \"status\"}]");
	ck_assert_str_eq(assert_error(reply, "bad-request"),
			 "a request must be a JSON object");
	json_decref(reply);
	reply = refused_str("[]");
	ck_assert_str_eq(assert_error(reply, "bad-request"),
			 "a request must be a JSON object");
	json_decref(reply);

	/*
	 * Scalars at the top level are not even accepted as JSON texts by
	 * the parser (no JSON_DECODE_ANY): refused as bad JSON.
	 */
	reply = refused_str("\"status\"");
	assert_msg_prefix(assert_error(reply, "bad-json"),
			  "invalid JSON at column 8: ", "'[' or '{' expected");
	json_decref(reply);
	reply = refused_str("42");
	assert_error(reply, "bad-json");
	json_decref(reply);
	reply = refused_str("null");
	assert_error(reply, "bad-json");
	json_decref(reply);
	reply = refused_str("true");
	assert_error(reply, "bad-json");
	json_decref(reply);
}
END_TEST

UNIT_TEST("parse", test_missing_op)
{
	static const char *const lines[] = {
		"{}",
		"{\"policy\": \"ssh\"}",
		"{\"OP\": \"status\"}",
		"{\"op \": \"status\"}",
		"{\"x\": {\"op\": \"status\"}}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		json_t *reply = refused_str(lines[i]);

		ck_assert_str_eq(assert_error(reply, "bad-request"),
				 "missing field 'op'");
		json_decref(reply);
	}
}
END_TEST

UNIT_TEST("parse", test_op_not_string)
{
	static const char *const lines[] = {
		"{\"op\": 1}",	  "{\"op\": null}",
		"{\"op\": true}", "{\"op\": [\"status\"]}",
		"{\"op\": {}}",	  "{\"op\": 1.5}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		json_t *reply = refused_str(lines[i]);

		ck_assert_str_eq(assert_error(reply, "bad-request"),
				 "field 'op' must be a string");
		json_decref(reply);
	}
}
END_TEST

UNIT_TEST("parse", test_duplicate_keys)
{
	json_t *reply;

	/* Two ops would leave it to the parser which one counts. */
	reply = refused_str("{\"op\": \"status\", \"op\": \"reload\"}");
	assert_msg_prefix(
		assert_error(reply, "bad-json"),
		"invalid JSON at column 21: ", "duplicate object key");
	json_decref(reply);
	reply = refused_str(
		"{\"op\": \"request\", \"port\": 22, \"port\": 23}");
	ck_assert_ptr_nonnull(
		strstr(assert_error(reply, "bad-json"), "duplicate"));
	json_decref(reply);
	reply = refused_str("{\"op\": \"x\", \"a\": {\"b\": 1, \"b\": 2}}");
	assert_error(reply, "bad-json");
	json_decref(reply);
}
END_TEST

UNIT_TEST("parse", test_valid)
{
	static const char line[] = "{\"op\": \"request\", \"port\": 22, "
				   "\"source\": \"192.0.2.7\", "
				   "\"reason\": \"caf\\u00e9\"}";
	json_t *reply = (json_t *)0x1, *req;

	req = control_parse_line(line, strlen(line), &reply);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_null(reply);
	ck_assert(json_is_object(req));
	ck_assert_int_eq(req->refcount, 1);
	ck_assert_uint_eq(json_object_size(req), 4);
	ck_assert_str_eq(json_string_value(json_object_get(req, "op")),
			 "request");
	ck_assert_int_eq(json_integer_value(json_object_get(req, "port")), 22);
	ck_assert_str_eq(json_string_value(json_object_get(req, "reason")),
			 "caf\xc3\xa9");
	json_decref(req);
}
END_TEST

UNIT_TEST("parse", test_valid_len)
{
	static const char line[] = "{\"op\": \"status\"}\n{\"op\": \"reload\"}";
	json_t *reply = NULL, *req;

	/* Only len bytes count: the next line is not looked at. */
	req = control_parse_line(line, 16, &reply);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_null(reply);
	ck_assert_str_eq(json_string_value(json_object_get(req, "op")),
			 "status");
	json_decref(req);

	/* Surrounding whitespace, a trailing CR or newline, is fine. */
	req = control_parse_line(" {\"op\":\"\"}\r\n", 12, &reply);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_null(reply);
	ck_assert_str_eq(json_string_value(json_object_get(req, "op")), "");
	json_decref(req);
}
END_TEST

UNIT_TEST("error", test_error_shape)
{
	json_t *e =
		control_error("no-such-op", "unknown op '%s' (%d)", "frob", 7);
	char *text;

	ck_assert_str_eq(assert_error(e, "no-such-op"),
			 "unknown op 'frob' (7)");
	text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(text,
			 "{\"error\":{\"code\":\"no-such-op\",\"message\":"
			 "\"unknown op 'frob' (7)\"},\"ok\":false}");
	free(text);
	ck_assert_int_eq(e->refcount, 1);
	json_decref(e);

	e = control_error("x", "%s", "");
	ck_assert_str_eq(assert_error(e, "x"), "");
	json_decref(e);
}
END_TEST

UNIT_TEST("error", test_error_long_message)
{
	char big[4096];
	const char *msg;
	json_t *e;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e = control_error("long", "%s", big);
	msg = assert_error(e, "long");
	/* Capped, not dropped. */
	ck_assert_uint_eq(strlen(msg), 1023);
	ck_assert_int_eq(msg[0], 'm');
	json_decref(e);
}
END_TEST

/* ---- followers: publish never stalls, and says what a reader missed ----- */

/* Every request subscribes its client to events. */
static json_t *follow_all(void *userdata, const struct jit_peer *peer,
			  json_t *req)
{
	return json_pack("{s:b, s:i}", "ok", 1, CONTROL_FOLLOW,
			 (int)CONTROL_TOPIC_EVENTS);
}

/* The owner's state per follower: its pid, to filter on. */
static void *state_open(void *userdata, const struct jit_peer *peer,
			unsigned topics)
{
	int *n = userdata;
	pid_t *p = malloc(sizeof(*p));

	(*n)++;
	*p = peer->pid;
	return p;
}

static void state_close(void *userdata, void *state)
{
	int *n = userdata;

	(*n)--;
	free(state);
}

static bool nobody(void *ctx, void *state)
{
	return false;
}

/* The control socket under test, held during passes as the agent does. */
static struct jit_control *pass_ctl;

/*
 * Run the agent's side until nothing is ready: passes of the loop, each
 * with output held until its end, as in the daemon.
 */
static void pump(int ep)
{
	struct epoll_event ev;

	while (epoll_wait(ep, &ev, 1, 20) == 1) {
		control_hold(pass_ctl);
		do {
			struct jit_io *io = ev.data.ptr;

			io->cb(io, ev.events);
		} while (epoll_wait(ep, &ev, 1, 0) == 1);
		control_release(pass_ctl);
	}
}

static int follower(const char *path, int ep)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[256];
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, "{\"op\":\"follow\"}\n", 16), 16);
	pump(ep);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"ok\":true}\n");
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/*
 * Read everything the agent sends fd until a line starting with want_last
 * came and nothing more does: the lines, joined.
 */
static char *drain(int fd, int ep, const char *want_last)
{
	char *all = NULL, buf[65536];
	size_t len = 0;

	for (int idle = 0; idle < 10;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			all = realloc(all, len + (size_t)n + 1);
			memcpy(all + len, buf, (size_t)n);
			len += (size_t)n;
			all[len] = '\0';
			idle = 0;
			continue;
		}
		pump(ep);
		if (all && strstr(all, want_last))
			idle++;
	}
	ck_assert_ptr_nonnull(all);
	return all;
}

/*
 * A control socket in a scratch directory, given to our own group (the
 * agent gives it to the socket group; any user may run these tests), and
 * the epoll set it is watched in. pass_ctl is it.
 */
struct sock_fixture {
	char *dir;
	char path[128];
	int ep;
	struct jit_control *c;
};

static void sock_open(struct sock_fixture *f, control_handler_fn fn,
		      void *userdata)
{
	f->dir = scratch_dir("jit-control");
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(f->ep, 0);
	snprintf(f->path, sizeof(f->path), "%s/c.sock", f->dir);
	ck_assert_int_eq(
		control_open(f->path, getegid(), f->ep, fn, userdata, &f->c),
		0);
	pass_ctl = f->c;
}

static void sock_close(struct sock_fixture *f)
{
	control_close(f->c);
	pass_ctl = NULL;
	close(f->ep);
	rm_rf(f->dir);
	free(f->dir);
}

UNIT_TEST("follow", test_publish_lossy)
{
	char line[10100], pad[10000];
	const struct control_follow_ops ops = { state_open, state_close };
	struct sock_fixture f;
	struct jit_control *c;
	int ep, fd, other, states = 0;
	unsigned got = 0, lost = 0, seq, next = 0;
	const char *path;
	char *all, *p;

	/* The follow ops get the handler's userdata: the open states. */
	sock_open(&f, follow_all, &states);
	c = f.c;
	ep = f.ep;
	path = f.path;
	control_set_follow_ops(c, &ops);
	fd = follower(path, ep);
	other = follower(path, ep);
	ck_assert_int_eq(states, 2);
	ck_assert_uint_eq(control_followers(c, CONTROL_TOPIC_EVENTS), 2);
	ck_assert_uint_eq(control_followers(c, CONTROL_TOPIC_ALERTS), 0);

	/* 300 lines of 10 kB that nobody reads: 3 MB, more than any
	 * follower may leave unread. Publishing returns at once. */
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (unsigned i = 0; i < 300; i++) {
		int k = snprintf(line, sizeof(line),
				 "{\"seq\":%u,\"pad\":\"%s\"}", i, pad);

		control_publish(c, CONTROL_TOPIC_EVENTS, line, (size_t)k, NULL,
				NULL);
	}
	ck_assert_uint_gt(control_lost(c), 0);

	/* The reader gets the first lines in order, then how many it
	 * missed, once it has read its backlog; then what comes next. */
	all = drain(fd, ep, "{\"lost\":");
	control_publish(c, CONTROL_TOPIC_EVENTS, "{\"seq\":300}", 11, NULL,
			NULL);
	pump(ep);
	{
		char buf[64];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		ck_assert_int_eq(n, 12);
		buf[n] = '\0';
		all = realloc(all, strlen(all) + 13);
		strcat(all, buf);
	}
	for (p = all; *p; p = strchr(p, '\n') + 1) {
		if (sscanf(p, "{\"seq\":%u", &seq) == 1) {
			ck_assert_msg(seq == next, "line %u after %u", seq,
				      next);
			next++;
			got++;
			if (lost)
				ck_assert_uint_eq(seq, 300);
		} else {
			ck_assert_int_eq(sscanf(p, "{\"lost\":%u}", &lost), 1);
			next += lost;
		}
	}
	ck_assert_uint_gt(lost, 0);
	ck_assert_uint_eq(next, 301);
	ck_assert_uint_eq(got + lost, 301);
	free(all);

	/* Lines a filter keeps from a follower are not lost for it. */
	{
		uint64_t before = control_lost(c);
		char buf[16];

		all = drain(other, ep, "{\"seq\":300}");
		ck_assert_ptr_nonnull(strstr(all, "{\"lost\":"));
		free(all);
		control_publish(c, CONTROL_TOPIC_EVENTS, "{\"seq\":301}", 11,
				nobody, NULL);
		pump(ep);
		ck_assert_int_eq(read(fd, buf, sizeof(buf)), -1);
		ck_assert_int_eq(read(other, buf, sizeof(buf)), -1);
		ck_assert_uint_eq(control_lost(c), before);
	}

	/* Held lines wait for the release. */
	{
		char buf[64];
		ssize_t n;

		control_hold(c);
		control_publish(c, CONTROL_TOPIC_EVENTS, "{\"seq\":302}", 11,
				NULL, NULL);
		pump(ep);
		ck_assert_int_eq(read(fd, buf, sizeof(buf)), -1);
		control_release(c);
		pump(ep);
		n = read(fd, buf, sizeof(buf) - 1);
		ck_assert_int_eq(n, 12);
		buf[n] = '\0';
		ck_assert_str_eq(buf, "{\"seq\":302}\n");
	}

	close(fd);
	pump(ep);
	ck_assert_int_eq(states, 1);
	close(other);
	sock_close(&f);
	ck_assert_int_eq(states, 0);
}
END_TEST

/* A reply of about 10 kB, and how many requests each pass handled. */
static unsigned flood_calls, flood_pass_calls, flood_pass_max;

static json_t *big_reply(void *userdata, const struct jit_peer *peer,
			 json_t *req)
{
	char pad[10000];

	flood_calls++;
	flood_pass_calls++;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	return json_pack("{s:b, s:s}", "ok", 1, "pad", pad);
}

/* Run what is ready, one event at a time, as the daemon's loop does. */
static void dispatch(int ep, int timeout_ms)
{
	struct epoll_event ev;

	while (epoll_wait(ep, &ev, 1, timeout_ms) == 1) {
		struct jit_io *io = ev.data.ptr;

		io->cb(io, ev.events);
		timeout_ms = 0;
	}
}

/* One pass of the loop, as the daemon runs it. */
static void one_pass(int ep)
{
	flood_pass_calls = 0;
	control_hold(pass_ctl);
	dispatch(ep, 0);
	control_release(pass_ctl);
	if (flood_pass_calls > flood_pass_max)
		flood_pass_max = flood_pass_calls;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * A client that sends request after request and never reads its replies
 * gets a few handled per pass, so the others are served in between, and
 * it is dropped once 4 MiB wait for it: the agent never holds more.
 */
UNIT_TEST("follow", test_flood_without_reading)
{
	static char lines[2000 * 11];
	char buf[65536];
	struct sock_fixture f;
	struct jit_control *c;
	int ep, flood, good;
	unsigned passes = 0;
	size_t off = 0;
	bool answered = false;
	ssize_t n;

	for (size_t i = 0; i < 2000; i++)
		memcpy(lines + 11 * i, "{\"op\":\"x\"}\n", 11);
	sock_open(&f, big_reply, NULL);
	c = f.c;
	ep = f.ep;
	flood = connect_to(f.path);
	good = connect_to(f.path);
	ck_assert_int_eq(fcntl(flood, F_SETFL, O_NONBLOCK), 0);
	one_pass(ep);
	ck_assert_uint_eq(control_clients(c), 2);
	while (control_clients(c) == 2 && passes++ < 10000) {
		if (off < sizeof(lines) &&
		    (n = write(flood, lines + off, sizeof(lines) - off)) > 0)
			off += (size_t)n;
		one_pass(ep);
		/* Another client is answered in the next pass. */
		if (passes == 3)
			ck_assert_int_eq(write(good, "{\"op\":\"x\"}\n", 11),
					 11);
		if (passes == 4) {
			n = recv(good, buf, sizeof(buf), MSG_DONTWAIT);
			answered = n > 0 && buf[0] == '{';
		}
	}
	ck_assert_msg(answered, "the other client waited");
	ck_assert_uint_eq(control_clients(c), 1);
	ck_assert_uint_le(flood_pass_max, JIT_CONTROL_LINES_PER_PASS + 1);
	/* Dropped at 4 MiB of replies (and what the kernel took), long
	 * before its 2,000 were all made. */
	ck_assert_uint_lt(flood_calls, 1000);
	close(flood);
	close(good);
	sock_close(&f);
}
END_TEST

/* The reply the handler returned, kept to be changed while it is held. */
static json_t *kept_reply;

static json_t *keep_reply(void *userdata, const struct jit_peer *peer,
			  json_t *req)
{
	kept_reply = json_pack("{s:b, s:s}", "ok", 1, "result", "granted");
	return json_incref(kept_reply);
}

/*
 * A reply held for the journal sync is sent as it is at the release: the
 * owner turns a grant it could not record into an error before then, and
 * the client must get that, never the "ok" it first returned.
 */
UNIT_TEST("follow", test_held_reply_changed_before_release)
{
	struct sock_fixture f;
	char buf[256];
	int fd;
	ssize_t n;

	sock_open(&f, keep_reply, NULL);
	fd = connect_to(f.path);
	one_pass(f.ep);
	ck_assert_int_eq(write(fd, "{\"op\":\"x\"}\n", 11), 11);
	control_hold(f.c);
	dispatch(f.ep, 100);
	ck_assert_ptr_nonnull(kept_reply);
	json_object_set_new(kept_reply, "ok", json_false());
	json_object_set_new(kept_reply, "result", json_string("not-recorded"));
	control_release(f.c);
	json_decref(kept_reply);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"ok\":false,\"result\":\"not-recorded\"}\n");
	close(fd);
	sock_close(&f);
}
END_TEST

/* ---- listings yield to decisions ------------------------------------------
 */

static int decider_fd = -1;
static int listing_saw_decision = -1;

static bool yields_list(void *userdata, json_t *req)
{
	return streq(json_string_value(json_object_get(req, "op")), "list");
}

/* "list" notes whether the decider's reply is out already. */
static json_t *list_or_decide(void *userdata, const struct jit_peer *peer,
			      json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	char b;

	if (streq(op, "list"))
		listing_saw_decision =
			recv(decider_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
	return json_pack("{s:b, s:s}", "ok", 1, "op", op);
}

/* The daemon's pass, then a pass of its own for a listing that yielded. */
static void pass_then_yielded(int ep)
{
	control_hold(pass_ctl);
	dispatch(ep, 0);
	control_release(pass_ctl);
	if (control_yielded(pass_ctl)) {
		control_hold(pass_ctl);
		control_run_yielded(pass_ctl);
		control_release(pass_ctl);
	}
}

static bool has_reply(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/*
 * A listing read in the same pass as a decision (even before it) is built
 * only once the decision's reply is out; two listings never run in the
 * same pass, so a decision never waits for more than one.
 */
UNIT_TEST("yield", test_listing_yields_to_decision)
{
	struct sock_fixture f;
	int lister, lister2;
	char buf[256];
	ssize_t n;

	sock_open(&f, list_or_decide, NULL);
	control_set_yields(f.c, yields_list);
	lister = connect_to(f.path);
	lister2 = connect_to(f.path);
	decider_fd = connect_to(f.path);
	one_pass(f.ep);
	/* Epoll hands them over in this order: the listings first. */
	ck_assert_int_eq(write(lister, "{\"op\":\"list\"}\n", 14), 14);
	ck_assert_int_eq(write(lister2, "{\"op\":\"list\"}\n", 14), 14);
	ck_assert_int_eq(write(decider_fd, "{\"op\":\"decide\"}\n", 16), 16);
	pass_then_yielded(f.ep);
	ck_assert_int_eq(listing_saw_decision, 1);
	n = read(decider_fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"ok\":true,\"op\":\"decide\"}\n");
	/* One listing in that pass, the first asked; the other after a
	 * pass for everyone else. */
	ck_assert(has_reply(lister));
	ck_assert(!has_reply(lister2));
	pass_then_yielded(f.ep);
	ck_assert(has_reply(lister2));
	n = read(lister2, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"ok\":true,\"op\":\"list\"}\n");
	/* The lister is read again afterwards: its next request is served. */
	ck_assert_int_eq(write(lister2, "{\"op\":\"decide\"}\n", 16), 16);
	pass_then_yielded(f.ep);
	pass_then_yielded(f.ep);
	n = read(lister2, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "{\"ok\":true,\"op\":\"decide\"}\n");
	close(lister);
	close(lister2);
	close(decider_fd);
	sock_close(&f);
}
END_TEST
