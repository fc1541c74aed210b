/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl: the call to the agent, errors and the JSON document, and what
 * several subcommands print.
 */
#include <stdarg.h>
#include <time.h>

#include <sys/stat.h>

#include "jitctl.h"
#include "util.h"

void table_row(struct table *t, ...)
{
	va_list ap;

	if (grow_array((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols,
		       sizeof(char *)) < 0)
		abort();
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		char *cell = strdup(s ? s : "");

		if (!cell)
			abort();
		/* Text from the agent: no control character reaches the
		 * terminal (nor can a cell forge a line). */
		text_make_safe(cell);
		t->cells[t->nrows * t->ncols + i] = cell;
	}
	va_end(ap);
	t->nrows++;
}

void table_print(struct table *t)
{
	size_t w[TABLE_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---- errors and JSON output ---------------------------------------------- */

/* A JSON string of s, cut at the first byte that is not UTF-8. */
json_t *json_text(const char *s)
{
	_cleanup_free_ char *copy = strdup(s ? s : "");
	json_t *v;

	if (!copy)
		abort();
	utf8_truncate_invalid(copy);
	v = json_string(copy);
	if (!v)
		abort();
	return v;
}

char *vformat(const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	return msg;
}

/* An error reply of the agent's shape, for errors jitctl finds itself. */
json_t *error_reply(const char *code, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	json_t *reply;
	va_list ap;

	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	reply = json_pack("{s:b, s:{s:s, s:o}}", "ok", 0, "error", "code", code,
			  "message", json_text(msg));
	if (!reply)
		abort();
	return reply;
}

/* The one document of a --json run. */
void print_json(struct ctx *ctx, json_t *doc)
{
	if (ctx->printed) {
		/* A bug: scripts were promised exactly one document. */
		fprintf(stderr, "jitctl: internal error: a second JSON "
				"document was not printed\n");
		return;
	}
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	fflush(stdout);
	ctx->printed = true;
}

/*
 * Print an error reply (taken over): the document with --json, else its
 * message on stderr. Returns 1, the exit status of a refusal.
 */
int report(struct ctx *ctx, json_t *reply)
{
	if (ctx->json) {
		print_json(ctx, reply);
	} else {
		const char *msg = json_string_value(json_object_get(
			json_object_get(reply, "error"), "message"));

		fprintf(stderr, "jitctl: %s\n", msg ? msg : "request failed");
	}
	json_decref(reply);
	return 1;
}

int fail(struct ctx *ctx, const char *code, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	return report(ctx, error_reply(code, "%s", msg));
}

/* ---- the agent ----------------------------------------------------------- */

static json_t *connect_error(struct ctx *ctx, int r)
{
	struct stat st;

	if (r == -ECONNREFUSED && stat(ctx->socket, &st) == 0 &&
	    !S_ISSOCK(st.st_mode))
		return error_reply("connect-failed",
				   "%s is not a socket (see --socket)",
				   ctx->socket);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return error_reply("agent-not-running",
				   "the agent is not running (no control "
				   "socket at %s)",
				   ctx->socket);
	if (r == -EACCES)
		return error_reply("socket-permission-denied",
				   "permission denied on %s: ask an admin to "
				   "add you to the socket's group",
				   ctx->socket);
	return error_reply("connect-failed", "connecting to %s: %s",
			   ctx->socket, strerror(-r));
}

/*
 * Send req (taken over) and wait for the reply; prints nothing. Returns 0
 * with *reply the agent's reply, or 1 with *reply an error reply: the
 * agent's refusal, or one made here when the agent could not be reached.
 * With keep, the connection stays open for the broadcasts that follow a
 * good reply (*keep set); else it is closed.
 */
int agent_call(struct ctx *ctx, json_t *req, json_t **reply,
	       struct jit_client **keep)
{
	struct jit_client *c = NULL;
	int r;

	*reply = NULL;
	r = client_connect(ctx->socket, &c);
	if (r < 0) {
		json_decref(req);
		*reply = connect_error(ctx, r);
		return 1;
	}
	r = client_call(c, req, reply);
	json_decref(req);
	if (r < 0) {
		client_disconnect(c);
		*reply = r == -EPROTO ? error_reply("bad-reply",
						    "the agent's reply is not "
						    "JSON")
				      : error_reply("connection-lost",
						    "talking to the agent: %s",
						    strerror(-r));
		return 1;
	}
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		client_disconnect(c);
		if (!json_is_object(json_object_get(*reply, "error"))) {
			json_decref(*reply);
			*reply = error_reply("bad-reply",
					     "the agent refused without saying "
					     "why");
		}
		return 1;
	}
	if (keep)
		*keep = c;
	else
		client_disconnect(c);
	return 0;
}

/*
 * One request, for commands that make one: a refusal is reported, and with
 * --json a good reply is printed as it is. Returns 0 with *reply set, or 1.
 */
int call(struct ctx *ctx, json_t *req, json_t **reply)
{
	if (agent_call(ctx, req, reply, NULL)) {
		report(ctx, *reply);
		*reply = NULL;
		return 1;
	}
	if (ctx->json)
		print_json(ctx, *reply);
	return 0;
}

const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

void ports_text(json_t *o, char *buf, size_t n)
{
	json_int_t lo = json_integer_value(json_object_get(o, "port_lo"));
	json_int_t hi = json_integer_value(json_object_get(o, "port_hi"));

	if (lo == hi)
		snprintf(buf, n, "%s/%lld", str(o, "protocol"), (long long)lo);
	else
		snprintf(buf, n, "%s/%lld-%lld", str(o, "protocol"),
			 (long long)lo, (long long)hi);
}

void join_strings(json_t *arr, char *buf, size_t n, const char *empty)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		off += (size_t)snprintf(buf + off, off < n ? n - off : 0,
					"%s%s", i ? "," : "",
					json_string_value(v));
		if (off >= n)
			break;
	}
	if (!buf[0])
		snprintf(buf, n, "%s", empty);
}

void principals_text(json_t *p, char *buf, size_t n)
{
	char u[256], g[256];

	join_strings(json_object_get(p, "users"), u, sizeof(u), "");
	join_strings(json_object_get(p, "groups"), g, sizeof(g), "");
	if (!u[0] && !g[0])
		snprintf(buf, n, "root");
	else if (!g[0])
		snprintf(buf, n, "%s", u);
	else
		snprintf(buf, n, "%.120s%s@%.120s", u, u[0] ? "," : "", g);
}

void time_text(json_int_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm)) {
		snprintf(buf, n, "-");
		return;
	}
	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "1h59m", "45s", "0s" */
void left_text(json_int_t s, char *buf, size_t n)
{
	if (s >= 3600)
		snprintf(buf, n, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, n, "%lldm%02llds", (long long)(s / 60),
			 (long long)(s % 60));
	else
		snprintf(buf, n, "%llds", (long long)s);
}

/* A request id, or a usage error (2). */
int parse_id(struct ctx *ctx, const char *s, json_int_t *id)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v == 0 || v > (1ull << 53))
		return usage_error(ctx, "'%s' is not a request id", s);
	*id = (json_int_t)v;
	return 0;
}

int parse_limit(struct ctx *ctx, const char *s, size_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || !v || v > 10000000)
		return usage_error(ctx,
				   "--limit wants a number of records, not "
				   "'%s'",
				   s);
	*ret = v;
	return 0;
}

void json_line(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	putchar('\n');
	fflush(stdout);
}

int follow_stream(struct ctx *ctx, struct jit_client *c,
		  void (*item)(struct ctx *ctx, json_t *msg))
{
	for (;;) {
		json_t *msg = NULL;

		if (client_read(c, &msg) < 0) {
			json_t *err = error_reply("connection-lost",
						  "the agent closed the "
						  "connection");

			client_disconnect(c);
			if (!ctx->json)
				return report(ctx, err);
			json_line(err);
			json_decref(err);
			return 1;
		}
		item(ctx, msg);
		json_decref(msg);
	}
}

/*
 * The request of a command that shows recent items or follows them:
 * --follow, --limit N (the N most recent), no arguments. Returns 0 with
 * *req and *follow set, or the exit status of a usage error.
 */
int stream_request(struct ctx *ctx, int argc, char **argv, const char *op,
		   bool *follow, json_t **req)
{
	long limit = -1;
	int opt, rc;

	*follow = false;
	while ((opt = next_option(ctx, argc, argv)) != -1) {
		char *end;

		switch (opt) {
		case 'f':
			*follow = true;
			break;
		case 'n':
			errno = 0;
			limit = strtol(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || errno)
				return usage_error(ctx,
						   "--limit '%s' is not a "
						   "number",
						   optarg);
			break;
		default:
			return 2;
		}
	}
	if ((rc = want_args(ctx, argc, argv, 0, 0)))
		return rc;
	*req = json_pack("{s:s, s:b}", "op", op, "follow", *follow);
	if (limit >= 0)
		json_object_set_new(*req, "limit", json_integer(limit));
	return 0;
}

/* A whole file, or stdin for "-", NUL-terminated. Returns 0 or -errno. */
int read_input(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0, n = 0, r;

	f = streq(path, "-") ? fdopen(dup(STDIN_FILENO), "r")
			     : fopen(path, "re");
	if (!f)
		return -errno;
	do {
		if (n > AZURE_FILE_MAX_BYTES)
			return -EFBIG;
		if (grow_array((void **)&buf, &cap, n + 4096, 1) < 0)
			return -ENOMEM;
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		return -EIO;
	buf[n] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

int read_failed(struct ctx *ctx, const char *path, int r)
{
	return fail(ctx, "read-failed", "reading %s: %s", path,
		    r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
}

json_t *notes_json(const struct azure_notes *notes)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < notes->n; i++)
		json_array_append_new(arr, json_text(notes->v[i]));
	return arr;
}

/* Notes go to stderr for people; --json puts them in its document. */
void print_notes(struct ctx *ctx, const struct azure_notes *notes)
{
	if (ctx->json)
		return;
	for (size_t i = 0; i < notes->n; i++)
		fprintf(stderr, "jitctl: note: %s\n", notes->v[i]);
}

/*
 * A cloud document that was refused: its errors (and notes), then after
 * ("nothing was requested") for people. Returns 1.
 */
int document_error(struct ctx *ctx, int r, const struct jit_diag *diag,
		   const struct azure_notes *notes, const char *after)
{
	_cleanup_free_ char *text = NULL;
	json_t *reply;
	size_t len;

	if (r == -ENOMEM || !diag->text)
		return fail(ctx, "internal", "%s", strerror(r < 0 ? -r : EIO));
	if (!ctx->json) {
		print_notes(ctx, notes);
		fputs(diag->text, stderr);
		if (after)
			fprintf(stderr, "jitctl: %s\n", after);
		return 1;
	}
	text = strdup(diag->text);
	if (!text)
		abort();
	len = strlen(text);
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	reply = error_reply("bad-document", "%s", text);
	json_object_set_new(reply, "notes", notes_json(notes));
	return report(ctx, reply);
}

/*
 * A whole list, page by page (the agent answers at most a few thousand
 * records at a time, so that no listing keeps other clients waiting):
 * req gets "after" and "limit" for each page; the pages' key arrays are
 * joined into *reply. limit 0: everything. With print and --json, the
 * joined reply is printed. A refusal is reported: returns 0 or 1.
 */
bool list_to_show(struct ctx *ctx, json_t **reply, const char *key,
		  const char *empty, int *rc)
{
	if (!*rc && !ctx->json && json_array_size(json_object_get(*reply, key)))
		return true;
	if (!*rc && !ctx->json)
		printf("%s\n", empty);
	json_decref(*reply);
	*reply = NULL;
	return false;
}

int fetch_list(struct ctx *ctx, json_t *req, const char *key, size_t limit,
	       bool print, json_t **reply)
{
	json_t *all = json_array(), *page = NULL;
	uint64_t after = 0;

	for (;;) {
		json_t *next;
		size_t want = limit ? limit - json_array_size(all) : 0;

		json_object_set_new(req, "after",
				    json_integer((json_int_t)after));
		if (want)
			json_object_set_new(req, "limit",
					    json_integer((json_int_t)want));
		if (agent_call(ctx, json_incref(req), &page, NULL)) {
			json_decref(all);
			json_decref(req);
			*reply = NULL;
			return report(ctx, page);
		}
		json_array_extend(all, json_object_get(page, key));
		next = json_object_get(page, "next");
		if (!json_is_integer(next) ||
		    (limit && json_array_size(all) >= limit))
			break;
		after = (uint64_t)json_integer_value(next);
		json_decref(page);
		page = NULL;
	}
	json_decref(req);
	json_object_set_new(page, key, all);
	json_object_del(page, "next");
	if (print && ctx->json)
		print_json(ctx, page);
	*reply = page;
	return 0;
}
