/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl: the call to the agent and what several subcommands print. */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "azure.h"
#include "client.h"
#include "jitctl.h"
#include "util.h"

#include "config.h"

void table_row(struct table *t, ...)
{
	va_list ap;

	if (grow_array((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols,
		       sizeof(char *)) < 0)
		abort();
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncols + i] = strdup(s ? s : "");
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

/*
 * Send req and check the reply; with keep, the connection stays open for
 * broadcasts that follow (*keep set), else it is closed.
 */
int call_keep(struct ctx *ctx, json_t *req, json_t **reply,
	      struct jit_client **keep)
{
	struct jit_client *c = NULL;
	int r;

	r = client_connect(ctx->socket, &c);
	if (r < 0) {
		if (r == -ENOENT || r == -ECONNREFUSED)
			fprintf(stderr,
				"jitctl: the agent is not running (no control "
				"socket at %s)\n",
				ctx->socket);
		else if (r == -EACCES)
			fprintf(stderr,
				"jitctl: permission denied on %s: ask an admin "
				"to add you to the socket's group\n",
				ctx->socket);
		else
			fprintf(stderr, "jitctl: connecting to %s: %s\n",
				ctx->socket, strerror(-r));
		json_decref(req);
		return 1;
	}
	r = client_call(c, req, reply);
	if (keep && r == 0)
		*keep = c;
	else
		client_disconnect(c);
	json_decref(req);
	if (r < 0) {
		fprintf(stderr, "jitctl: talking to the agent: %s\n",
			strerror(-r));
		return 1;
	}
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		json_t *e = json_object_get(*reply, "error");

		if (ctx->json) {
			json_dumpf(*reply, stdout, JSON_INDENT(2));
			putchar('\n');
		} else {
			fprintf(stderr, "jitctl: %s\n",
				json_string_value(json_object_get(e, "message"))
					?: "request failed");
		}
		json_decref(*reply);
		*reply = NULL;
		if (keep && *keep)
			*keep = client_disconnect(*keep);
		return 1;
	}
	if (ctx->json) {
		json_dumpf(*reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	}
	return 0;
}

int call(struct ctx *ctx, json_t *req, json_t **reply)
{
	return call_keep(ctx, req, reply, NULL);
}

int no_args(const char *cmd, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "jitctl %s: unexpected argument '%s'\n", cmd,
			argv[1]);
		return 2;
	}
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

/* Parse the options of a subcommand; argv[0] is its name. */
int sub_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *opts)
{
	return getopt_long(argc, argv, shortopts, opts, NULL);
}

int parse_id(const char *cmd, const char *s, json_int_t *id)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || v == 0 || v > (1ull << 53)) {
		fprintf(stderr, "jitctl %s: '%s' is not a request id\n", cmd,
			s);
		return -1;
	}
	*id = (json_int_t)v;
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

void print_diag(int r, const struct jit_diag *diag)
{
	if (r == -ENOMEM || !diag->text)
		fprintf(stderr, "jitctl: %s\n", strerror(-r));
	else
		fputs(diag->text, stderr);
}

void print_notes(const struct azure_notes *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		fprintf(stderr, "jitctl: note: %s\n", notes->v[i]);
}

/*
 * A whole list, page by page (the agent answers at most a few thousand
 * records at a time, so that no listing keeps other clients waiting):
 * req gets "after" and "limit" for each page; the pages' key arrays are
 * joined into *reply. limit 0: everything. --json prints the joined reply.
 */
int fetch_list(struct ctx *ctx, json_t *req, const char *key, size_t limit,
	       json_t **reply)
{
	bool json = ctx->json;
	json_t *all = json_array(), *page = NULL;
	uint64_t after = 0;
	int rc = 0;

	ctx->json = false;
	for (;;) {
		json_t *next;
		size_t want = limit ? limit - json_array_size(all) : 0;

		json_object_set_new(req, "after",
				    json_integer((json_int_t)after));
		if (want)
			json_object_set_new(req, "limit",
					    json_integer((json_int_t)want));
		rc = call(ctx, json_incref(req), &page);
		if (rc)
			break;
		json_array_extend(all, json_object_get(page, key));
		next = json_object_get(page, "next");
		if (!json_is_integer(next) ||
		    (limit && json_array_size(all) >= limit))
			break;
		after = (uint64_t)json_integer_value(next);
		json_decref(page);
		page = NULL;
	}
	ctx->json = json;
	json_decref(req);
	if (rc) {
		json_decref(all);
		json_decref(page);
		return rc;
	}
	json_object_set_new(page, key, all);
	json_object_del(page, "next");
	if (json) {
		json_dumpf(page, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	}
	*reply = page;
	return 0;
}

int parse_limit(const char *cmd, const char *s, size_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || !v || v > 10000000) {
		fprintf(stderr,
			"jitctl %s: --limit wants a number of records, not "
			"'%s'\n",
			cmd, s);
		return 2;
	}
	*ret = v;
	return 0;
}
