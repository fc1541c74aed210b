/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl: the admin's command line for jit-enforcer. Each subcommand sends
 * one JSON request over the control socket and prints the reply as a table,
 * or as JSON with --json.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "azure.h"
#include "client.h"
#include "util.h"

#include "config.h"

struct ctx {
	const char *socket;
	bool json;
};

struct command {
	const char *name;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
	const char *summary;
};

/* ---- tables ----------------------------------------------------------- */

#define TABLE_COLS 10

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, row-major */
};

static void table_row(struct table *t, ...)
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

static void table_print(struct table *t)
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

/* ---- plumbing --------------------------------------------------------- */

/*
 * Send req and check the reply; with keep, the connection stays open for
 * broadcasts that follow (*keep set), else it is closed.
 */
static int call_keep(struct ctx *ctx, json_t *req, json_t **reply,
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

static int call(struct ctx *ctx, json_t *req, json_t **reply)
{
	return call_keep(ctx, req, reply, NULL);
}

static int no_args(const char *cmd, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "jitctl %s: unexpected argument '%s'\n", cmd,
			argv[1]);
		return 2;
	}
	return 0;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static void ports_text(json_t *o, char *buf, size_t n)
{
	json_int_t lo = json_integer_value(json_object_get(o, "port_lo"));
	json_int_t hi = json_integer_value(json_object_get(o, "port_hi"));

	if (lo == hi)
		snprintf(buf, n, "%s/%lld", str(o, "protocol"), (long long)lo);
	else
		snprintf(buf, n, "%s/%lld-%lld", str(o, "protocol"),
			 (long long)lo, (long long)hi);
}

static void join_strings(json_t *arr, char *buf, size_t n, const char *empty)
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

static void principals_text(json_t *p, char *buf, size_t n)
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

/* ---- commands --------------------------------------------------------- */

static int cmd_status(struct ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL, *rs, *v;
	char when[64] = "-";
	size_t i;
	int r;

	if ((r = no_args("status", argc, argv)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "status"), &reply);
	if (r || ctx->json) {
		json_decref(reply);
		return r;
	}
	{
		time_t t = (time_t)(json_integer_value(json_object_get(
					    reply, "last_reload_ms")) /
				    1000);
		struct tm tm;

		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
				 &tm);
	}
	printf("agent:       running, pid %lld, version %s\n",
	       (long long)json_integer_value(json_object_get(reply, "pid")),
	       str(reply, "version"));
	printf("table:       %s %s\n", str(reply, "table_family"),
	       str(reply, "table"));
	printf("protection:  %s (%s)\n", str(reply, "protection"),
	       streq(str(reply, "protection"), "owner+persist")
		       ? "only the agent can change or delete the table; it "
			 "stays if the agent stops"
		       : "the table stays if the agent stops; other root "
			 "processes can change it");
	printf("policies:    %lld in force from %s (last commit %s)\n",
	       (long long)json_integer_value(
		       json_object_get(reply, "policies")),
	       str(reply, "policy_dir"), when);
	if (json_is_true(json_object_get(reply, "policy_dir_missing")))
		printf("             WARNING: %s is missing; the policies "
		       "above stay in force until it is back\n",
		       str(reply, "policy_dir"));
	rs = json_object_get(reply, "ruleset");
	if (!json_array_size(json_object_get(rs, "deny"))) {
		printf("protected:   nothing (no policy in force)\n");
	} else {
		struct table t = { .ncols = 3 };

		printf("protected:\n");
		table_row(&t, "  PORT", "INTERFACE", "ACTION");
		json_array_foreach(json_object_get(rs, "deny"), i, v)
		{
			char p[48], col[52];

			ports_text(v, p, sizeof(p));
			snprintf(col, sizeof(col), "  %s", p);
			table_row(&t, col,
				  streq(str(v, "interface"), "*")
					  ? "all"
					  : str(v, "interface"),
				  str(v, "action"));
		}
		table_print(&t);
	}
	printf("grants:      %lld live, %lld pending approval\n",
	       (long long)num(reply, "grants"),
	       (long long)num(reply, "pending"));
	{
		json_t *jr = json_object_get(reply, "journal");

		if (streq(str(jr, "state"), "degraded"))
			printf("journal:     DEGRADED in %s: %s; %lld "
			       "decision(s) "
			       "not yet recorded (grants are refused until it "
			       "can be written)\n",
			       str(jr, "state_dir"), str(jr, "error"),
			       (long long)num(jr, "unrecorded"));
		else if (jr)
			printf("journal:     ok in %s (%lld KiB, snapshot %lld "
			       "KiB%s)\n",
			       str(jr, "state_dir"),
			       (long long)num(jr, "journal_bytes") / 1024,
			       (long long)num(jr, "snapshot_bytes") / 1024,
			       json_is_true(json_object_get(jr, "compacting"))
				       ? ", compacting"
				       : "");
	}
	printf("tampering:   %s; %lld change(s) by other processes undone\n",
	       json_is_true(json_object_get(reply, "tamper_watch"))
		       ? "watching nftables events"
		       : "NOT watching nftables events",
	       (long long)num(reply, "tamper_events"));
	if (json_is_string(json_object_get(reply, "capabilities_effective")))
		printf("privileges:  effective capabilities %s%s\n",
		       str(reply, "capabilities_effective"),
		       streq(str(reply, "capabilities_effective"),
			     "0000000000001000")
			       ? " (CAP_NET_ADMIN only)"
			       : "");
	v = json_object_get(reply, "other_input_chains");
	if (json_array_size(v)) {
		struct table t = { .ncols = 5 };
		json_t *c;

		printf("\nother tables filter input too. Their drops still "
		       "apply to protected ports;\ntheir accepts cannot open "
		       "one (an accept ends only their own chain):\n");
		table_row(&t, "  TABLE", "CHAIN", "PRIORITY", "POLICY", "RUNS");
		json_array_foreach(v, i, c)
		{
			char tab[160], prio[16];

			snprintf(tab, sizeof(tab), "  %s %s", str(c, "family"),
				 str(c, "table"));
			snprintf(prio, sizeof(prio), "%lld",
				 (long long)num(c, "priority"));
			table_row(&t, tab, str(c, "chain"), prio,
				  str(c, "policy"), str(c, "runs"));
		}
		table_print(&t);
	}
	if (json_is_string(json_object_get(reply, "policy_errors"))) {
		printf("\nrejected policy files (their last good version stays "
		       "in force):\n%s",
		       str(reply, "policy_errors"));
		r = 0;
	}
	json_decref(reply);
	return r;
}

static int cmd_policies(struct ctx *ctx, int argc, char **argv)
{
	struct table t = { .ncols = 8 };
	json_t *reply = NULL, *p;
	size_t i;
	int r;

	if ((r = no_args("policies", argc, argv)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "policies"), &reply);
	if (r || ctx->json) {
		json_decref(reply);
		return r;
	}
	if (!json_array_size(json_object_get(reply, "policies"))) {
		printf("no policies in force\n");
		json_decref(reply);
		return 0;
	}
	table_row(&t, "NAME", "PORT", "MAX", "SOURCES", "REQUESTERS",
		  "APPROVAL", "ACTION", "INTERFACES");
	json_array_foreach(json_object_get(reply, "policies"), i, p)
	{
		char req[256], ifs[256];
		json_t *port;
		size_t k;

		principals_text(json_object_get(p, "requesters"), req,
				sizeof(req));
		join_strings(json_object_get(p, "interfaces"), ifs, sizeof(ifs),
			     "all");
		json_array_foreach(json_object_get(p, "ports"), k, port)
		{
			char pt[48], src[512], appr[300];

			ports_text(port, pt, sizeof(pt));
			join_strings(json_object_get(port, "allowed_sources"),
				     src, sizeof(src), "any");
			if (streq(str(p, "approval"), "manual")) {
				char who[256];

				principals_text(json_object_get(p, "approvers"),
						who, sizeof(who));
				snprintf(appr, sizeof(appr), "manual by %s",
					 who);
			} else {
				snprintf(appr, sizeof(appr), "auto");
			}
			table_row(&t, k ? "" : str(p, "name"), pt,
				  str(port, "max_duration"), src, k ? "" : req,
				  k ? "" : appr, k ? "" : str(p, "action"),
				  k ? "" : ifs);
		}
	}
	table_print(&t);
	json_decref(reply);
	return 0;
}

static int cmd_reload(struct ctx *ctx, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if ((r = no_args("reload", argc, argv)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "reload"), &reply);
	if (r || ctx->json) {
		json_decref(reply);
		return r;
	}
	if (json_is_string(json_object_get(reply, "policy_errors"))) {
		printf("reloaded; rejected files keep their last good "
		       "version:\n%s",
		       str(reply, "policy_errors"));
		r = 1;
	} else {
		printf("reloaded\n");
	}
	json_decref(reply);
	return r;
}

static void time_text(json_int_t ms, char *buf, size_t n)
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
static void left_text(json_int_t s, char *buf, size_t n)
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
static int sub_getopt(int argc, char **argv, const char *shortopts,
		      const struct option *opts)
{
	return getopt_long(argc, argv, shortopts, opts, NULL);
}

static int parse_id(const char *cmd, const char *s, json_int_t *id)
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

/* ---- the cloud JIT format (azure.c) ----------------------------------- */

/* A whole file, or stdin for "-", NUL-terminated. Returns 0 or -errno. */
static int read_input(const char *path, char **ret, size_t *ret_len)
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

static void print_diag(int r, const struct jit_diag *diag)
{
	if (r == -ENOMEM || !diag->text)
		fprintf(stderr, "jitctl: %s\n", strerror(-r));
	else
		fputs(diag->text, stderr);
}

static void print_notes(const struct azure_notes *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		fprintf(stderr, "jitctl: note: %s\n", notes->v[i]);
}

/* Write a policy file whole or not at all: the agent watches the directory. */
static int write_atomic(const char *path, const char *text)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = strlen(text);

	/* Not *.yaml: the agent ignores it until the rename. */
	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len ||
	    fsync(fd) < 0 || rename(tmp, path) < 0) {
		int r = errno ? -errno : -EIO;

		unlink(tmp);
		return r;
	}
	return 0;
}

static int cmd_import_azure(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ 0 },
	};
	const char *vm = NULL, *name = NULL, *output = NULL, *file;
	_cleanup_free_ char *text = NULL, *yaml = NULL;
	struct azure_notes notes = { 0 };
	struct jit_diag diag;
	size_t len;
	int c, r;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "o:", opts)) != -1) {
		switch (c) {
		case 'v':
			vm = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl import-azure FILE [--vm NAME] "
				"[--name POLICY] [-o OUT.yaml]\n");
		return 2;
	}
	file = argv[optind];
	r = read_input(file, &text, &len);
	if (r < 0) {
		fprintf(stderr, "jitctl import-azure: reading %s: %s\n", file,
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 1;
	}
	diag_init(&diag);
	r = azure_policy_import(file, text, len, vm, name, &yaml, &notes,
				&diag);
	print_notes(&notes);
	azure_notes_release(&notes);
	if (r < 0) {
		print_diag(r, &diag);
		diag_release(&diag);
		return 1;
	}
	diag_release(&diag);
	if (!output) {
		fputs(yaml, stdout);
		return 0;
	}
	r = write_atomic(output, yaml);
	if (r < 0) {
		fprintf(stderr, "jitctl import-azure: writing %s: %s\n", output,
			strerror(-r));
		return 1;
	}
	if (!ctx->json)
		printf("wrote %s\n", output);
	return 0;
}

/* The policies in force, quietly: only used to refuse early. */
static json_t *fetch_policies(struct ctx *ctx)
{
	json_t *req = json_pack("{s:s}", "op", "policies");
	json_t *reply = NULL, *arr;
	struct jit_client *c = NULL;

	if (req && client_connect(ctx->socket, &c) == 0) {
		if (client_call(c, req, &reply) < 0)
			reply = NULL;
		client_disconnect(c);
	}
	json_decref(req);
	arr = json_object_get(reply, "policies");
	arr = json_is_array(arr) ? json_incref(arr) : NULL;
	json_decref(reply);
	return arr;
}

static int request_azure(struct ctx *ctx, const char *file, const char *policy)
{
	_cleanup_free_ char *text = NULL;
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	json_t *policies;
	size_t len, n = 0;
	int r, rc = 0;

	r = read_input(file, &text, &len);
	if (r < 0) {
		fprintf(stderr, "jitctl request: reading %s: %s\n", file,
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 1;
	}
	policies = fetch_policies(ctx);
	diag_init(&diag);
	r = azure_initiate_parse(file, text, len, policy,
				 (int64_t)now_real_ms(), policies, &reqs, &n,
				 &notes, &diag);
	json_decref(policies);
	print_notes(&notes);
	azure_notes_release(&notes);
	if (r < 0) {
		print_diag(r, &diag);
		fprintf(stderr, "jitctl: nothing was requested\n");
		diag_release(&diag);
		return 1;
	}
	diag_release(&diag);
	for (size_t i = 0; i < n; i++) {
		json_t *reply = NULL, *req;
		char until[64];

		if (call(ctx, json_incref(reqs[i].msg), &reply)) {
			fprintf(stderr, "jitctl: %s was not granted\n",
				reqs[i].path);
			rc = 1;
			continue;
		}
		req = json_object_get(reply, "request");
		if (ctx->json) {
			json_decref(reply);
			continue;
		}
		if (streq(str(req, "status"), "initiated")) {
			time_text(num(req, "end_ms"), until, sizeof(until));
			printf("%s: request %lld granted: %s -> %s until %s\n",
			       reqs[i].path, (long long)num(req, "id"),
			       str(req, "source"), str(req, "ports"), until);
		} else {
			printf("%s: request %lld pending approval\n",
			       reqs[i].path, (long long)num(req, "id"));
		}
		json_decref(reply);
	}
	azure_requests_free(reqs, n);
	return rc;
}

static int cmd_request(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "for", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "azure", required_argument, NULL, 'A' },
		{ "policy", required_argument, NULL, 'N' },
		{ 0 },
	};
	const char *port = NULL, *proto = NULL, *from = NULL, *dur = NULL;
	const char *reason = "", *azure = NULL, *policy = NULL;
	json_t *req, *reply = NULL, *r;
	char until[64];
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "p:P:f:t:r:", opts)) != -1) {
		switch (c) {
		case 'p':
			port = optarg;
			break;
		case 'P':
			proto = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			dur = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'A':
			azure = optarg;
			break;
		case 'N':
			policy = optarg;
			break;
		default:
			return 2;
		}
	}
	if (azure && !port && !from && !dur && !proto && !*reason &&
	    optind + (policy ? 0 : 1) >= argc)
		return request_azure(
			ctx, azure,
			policy ?: (optind < argc ? argv[optind] : NULL));
	if (azure || policy || optind + 1 != argc || !port || !from) {
		fprintf(stderr, "usage: jitctl request POLICY --port PORT "
				"--from ADDRESS[/LEN] [--for DURATION] "
				"[--proto tcp|udp|any] [--reason TEXT]\n"
				"       jitctl request --azure FILE "
				"[--policy NAME]\n");
		return 2;
	}
	req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "request", "policy",
			argv[optind], "port", port, "source", from, "reason",
			reason);
	if (dur)
		json_object_set_new(req, "duration", json_string(dur));
	if (proto)
		json_object_set_new(req, "protocol", json_string(proto));
	rc = call(ctx, req, &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	r = json_object_get(reply, "request");
	if (streq(str(r, "status"), "initiated")) {
		time_text(num(r, "end_ms"), until, sizeof(until));
		printf("request %lld granted: %s -> %s until %s\n",
		       (long long)num(r, "id"), str(r, "source"),
		       str(r, "ports"), until);
	} else {
		printf("request %lld pending approval\n",
		       (long long)num(r, "id"));
	}
	json_decref(reply);
	return 0;
}

static int cmd_decide(struct ctx *ctx, int argc, char **argv, bool approve)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ 0 },
	};
	const char *reason = NULL;
	json_t *req, *reply = NULL, *r;
	json_int_t id;
	char until[64];
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "r:", opts)) != -1) {
		if (c != 'r')
			return 2;
		reason = optarg;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl %s ID%s\n", argv[0],
			approve ? "" : " [--reason TEXT]");
		return 2;
	}
	if (parse_id(argv[0], argv[optind], &id) < 0)
		return 2;
	req = json_pack("{s:s, s:I}", "op", approve ? "approve" : "deny", "id",
			id);
	if (reason)
		json_object_set_new(req, "reason", json_string(reason));
	rc = call(ctx, req, &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	r = json_object_get(reply, "request");
	if (approve) {
		time_text(num(r, "end_ms"), until, sizeof(until));
		printf("request %lld approved: %s -> %s until %s\n",
		       (long long)id, str(r, "source"), str(r, "ports"), until);
	} else {
		printf("request %lld denied\n", (long long)id);
	}
	json_decref(reply);
	return 0;
}

static int cmd_approve(struct ctx *ctx, int argc, char **argv)
{
	return cmd_decide(ctx, argc, argv, true);
}

static int cmd_deny(struct ctx *ctx, int argc, char **argv)
{
	return cmd_decide(ctx, argc, argv, false);
}

static int cmd_revoke(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "terminate", no_argument, NULL, 'T' },
		{ 0 },
	};
	bool terminate = false;
	json_t *reply = NULL;
	json_int_t id;
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "", opts)) != -1) {
		if (c != 'T')
			return 2;
		terminate = true;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl revoke ID [--terminate]\n");
		return 2;
	}
	if (parse_id("revoke", argv[optind], &id) < 0)
		return 2;
	rc = call(ctx,
		  json_pack("{s:s, s:I, s:b}", "op", "revoke", "id", id,
			    "terminate", terminate),
		  &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	printf("request %lld revoked", (long long)id);
	if (terminate)
		printf("; %lld connection(s) terminated, %lld flow(s) "
		       "deleted",
		       (long long)num(reply, "terminated_sockets"),
		       (long long)num(reply, "deleted_flows"));
	printf("\n");
	if (json_is_false(json_object_get(reply, "recorded")))
		fprintf(stderr, "jitctl: warning: %s\n",
			str(json_object_get(reply, "warning"), "message"));
	if (json_is_string(json_object_get(reply, "terminate_error"))) {
		fprintf(stderr, "jitctl: terminating connections: %s\n",
			str(reply, "terminate_error"));
		rc = 1;
	}
	json_decref(reply);
	return rc;
}

/*
 * A whole list, page by page (the agent answers at most a few thousand
 * records at a time, so that no listing keeps other clients waiting):
 * req gets "after" and "limit" for each page; the pages' key arrays are
 * joined into *reply. limit 0: everything. --json prints the joined reply.
 */
static int fetch_list(struct ctx *ctx, json_t *req, const char *key,
		      size_t limit, json_t **reply)
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

static int parse_limit(const char *cmd, const char *s, size_t *ret)
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

static int cmd_grants(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct table t = { .ncols = 7 };
	json_t *reply = NULL, *r;
	size_t i, limit = 0;
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "n:", opts)) != -1) {
		if (c != 'n' || (rc = parse_limit("grants", optarg, &limit)))
			return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: jitctl grants [--limit N]\n");
		return 2;
	}
	rc = fetch_list(ctx, json_pack("{s:s}", "op", "grants"), "grants",
			limit, &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	if (!json_array_size(json_object_get(reply, "grants"))) {
		printf("no live grants\n");
		json_decref(reply);
		return 0;
	}
	table_row(&t, "ID", "POLICY", "SOURCE", "PORT", "EXPIRES IN", "BY",
		  "REASON");
	json_array_foreach(json_object_get(reply, "grants"), i, r)
	{
		char id[24], left[32];

		snprintf(id, sizeof(id), "%lld", (long long)num(r, "id"));
		left_text(num(r, "expires_in_s"), left, sizeof(left));
		table_row(&t, id, str(r, "policy"), str(r, "source"),
			  str(r, "ports"), left,
			  str(json_object_get(r, "requestor"), "user"),
			  str(r, "reason"));
	}
	table_print(&t);
	json_decref(reply);
	return 0;
}

static int print_requests_azure(json_t *records)
{
	json_t *out = NULL;
	size_t skipped;
	char err[256];
	int r;

	r = azure_requests_format(records, &out, &skipped, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "jitctl: %s\n",
			r == -ENOMEM ? "out of memory" : err);
		return 1;
	}
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(out);
	if (skipped)
		fprintf(stderr,
			"jitctl: %zu pending or denied request(s) not shown: "
			"the cloud shape has no status for them\n",
			skipped);
	return 0;
}

static int cmd_requests(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'F' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct table t = { .ncols = 9 };
	json_t *reply = NULL, *r;
	bool all = false, azure = false;
	size_t i, limit = 0;
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "an:", opts)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'n':
			if (parse_limit("requests", optarg, &limit))
				return 2;
			break;
		case 'F':
			if (!streq(optarg, "azure") &&
			    !streq(optarg, "table")) {
				fprintf(stderr,
					"jitctl requests: --format is table "
					"or azure, not '%s'\n",
					optarg);
				return 2;
			}
			azure = streq(optarg, "azure");
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: jitctl requests [--all] [--limit N] "
				"[--format table|azure]\n");
		return 2;
	}
	/* The cloud shape is JSON already; --json would print ours. */
	if (azure)
		ctx->json = false;
	rc = fetch_list(ctx,
			json_pack("{s:s, s:b}", "op", "requests", "all", all),
			"requests", limit, &reply);
	if (!rc && azure)
		rc = print_requests_azure(json_object_get(reply, "requests"));
	if (rc || ctx->json || azure) {
		json_decref(reply);
		return rc;
	}
	if (!json_array_size(json_object_get(reply, "requests"))) {
		printf(all ? "no requests\n"
			   : "no pending requests or live grants (see "
			     "--all)\n");
		json_decref(reply);
		return 0;
	}
	table_row(&t, "ID", "POLICY", "USER", "SOURCE", "PORT", "STATUS",
		  "STATUS REASON", "END", "REASON");
	json_array_foreach(json_object_get(reply, "requests"), i, r)
	{
		char id[24], end[64];

		snprintf(id, sizeof(id), "%lld", (long long)num(r, "id"));
		time_text(num(r, "end_ms"), end, sizeof(end));
		table_row(&t, id, str(r, "policy"),
			  str(json_object_get(r, "requestor"), "user"),
			  str(r, "source"), str(r, "ports"), str(r, "status"),
			  str(r, "status_reason"), end, str(r, "reason"));
	}
	table_print(&t);
	json_decref(reply);
	return 0;
}

static void alert_line(json_t *a)
{
	/* The description names the source, ports and counts. */
	printf("%s  %-6s  %-13s  %-27s  %s\n", str(a, "last_seen"),
	       str(a, "severity"), str(a, "intent"), str(a, "alert_type"),
	       str(a, "description"));
	fflush(stdout);
}

static int cmd_alerts(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct jit_client *c = NULL;
	json_t *req, *reply = NULL, *a;
	bool follow = false;
	long limit = -1;
	size_t i;
	int opt, rc;

	optind = 0;
	while ((opt = sub_getopt(argc, argv, "fn:", opts)) != -1) {
		char *end;

		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'n':
			limit = strtol(optarg, &end, 10);
			if (!*optarg || *end || limit < 0) {
				fprintf(stderr,
					"jitctl alerts: --limit '%s' is "
					"not a number\n",
					optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
			"usage: jitctl alerts [--follow] [--limit N]\n");
		return 2;
	}
	req = json_pack("{s:s, s:b}", "op", "alerts", "follow", follow);
	if (limit >= 0)
		json_object_set_new(req, "limit", json_integer(limit));
	rc = call_keep(ctx, req, &reply, follow ? &c : NULL);
	if (rc) {
		json_decref(reply);
		return rc;
	}
	if (!ctx->json) {
		if (!json_array_size(json_object_get(reply, "alerts")) &&
		    !follow)
			printf("no alerts (%lld denied attempts seen)\n",
			       (long long)num(reply, "denied_seen"));
		json_array_foreach(json_object_get(reply, "alerts"), i, a)
			alert_line(a);
	}
	json_decref(reply);
	while (follow) {
		json_t *msg = NULL;

		if (client_read(c, &msg) < 0) {
			fprintf(stderr, "jitctl: the agent closed the "
					"connection\n");
			client_disconnect(c);
			return 1;
		}
		a = json_object_get(msg, "alert");
		if (a && ctx->json) {
			json_dumpf(a, stdout, JSON_COMPACT);
			putchar('\n');
			fflush(stdout);
		} else if (a) {
			alert_line(a);
		}
		json_decref(msg);
	}
	return 0;
}

static int cmd_posture(struct ctx *ctx, int argc, char **argv)
{
	struct table t = { .ncols = 6 };
	json_t *reply = NULL, *l;
	size_t i, findings = 0;
	int rc;

	if ((rc = no_args("posture", argc, argv)))
		return rc;
	rc = call(ctx, json_pack("{s:s}", "op", "posture"), &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	if (!json_array_size(json_object_get(reply, "listeners"))) {
		printf("no management port is listening on this host\n");
		json_decref(reply);
		return 0;
	}
	table_row(&t, "PORT", "SERVICE", "LISTENING ON", "PROTECTED BY",
		  "SEVERITY", "NOTE");
	json_array_foreach(json_object_get(reply, "listeners"), i, l)
	{
		char port[32], addrs[256], by[256];

		snprintf(port, sizeof(port), "%s/%lld", str(l, "protocol"),
			 (long long)num(l, "port"));
		join_strings(json_object_get(l, "addresses"), addrs,
			     sizeof(addrs), "-");
		join_strings(json_object_get(l, "policies"), by, sizeof(by),
			     "NOTHING");
		findings += json_is_true(json_object_get(l, "finding"));
		table_row(&t, port, str(l, "service"), addrs, by,
			  json_is_true(json_object_get(l, "finding"))
				  ? str(l, "severity")
				  : "-",
			  str(l, "note"));
	}
	table_print(&t);
	json_array_foreach(json_object_get(reply, "listeners"), i, l)
	{
		if (!json_is_true(json_object_get(l, "finding")))
			continue;
		printf("\n%s/%lld (%s) is open to everyone. %s. This policy "
		       "would protect it:\n\n%s",
		       str(l, "protocol"), (long long)num(l, "port"),
		       str(l, "service"), str(l, "recommendation"),
		       str(l, "policy_snippet"));
	}
	if (!findings)
		printf("\nevery listening management port is protected\n");
	json_decref(reply);
	return 0;
}

static const struct command commands[] = {
	{ "request", cmd_request,
	  "ask for access: POLICY --port P --from ADDR [--for 2h] [--reason "
	  "TEXT], or --azure FILE [--policy NAME]" },
	{ "approve", cmd_approve, "approve a pending request: ID" },
	{ "deny", cmd_deny, "deny a pending request: ID [--reason TEXT]" },
	{ "grants", cmd_grants, "list live grants" },
	{ "requests", cmd_requests,
	  "list pending and live requests [--all] [--format azure]" },
	{ "revoke", cmd_revoke,
	  "end a grant early: ID [--terminate to end its connections]" },
	{ "alerts", cmd_alerts,
	  "recent security alerts [--limit N]; --follow streams new ones" },
	{ "posture", cmd_posture,
	  "management ports listening on this host and their protection" },
	{ "status", cmd_status, "show the agent, its table and protection" },
	{ "policies", cmd_policies, "list the policies in force" },
	{ "reload", cmd_reload, "reload the policy directory now (root)" },
	{ "import-azure", cmd_import_azure,
	  "convert a jitNetworkAccessPolicies JSON policy: FILE [--vm NAME] "
	  "[--name POLICY] [-o OUT.yaml]" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: jitctl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nThe socket defaults to $JIT_SOCKET or %s.\n",
		JIT_SOCKET_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctx ctx = { .socket = getenv("JIT_SOCKET") };
	int c;

	if (!ctx.socket || !ctx.socket[0])
		ctx.socket = JIT_SOCKET_PATH;
	/* Options before the command only; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctx.socket = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("jitctl %s\n", JIT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (streq(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			/* Accept --json after the command too. */
			for (int k = 1; k < sub_argc; k++) {
				if (streq(sub_argv[k], "--json")) {
					ctx.json = true;
					memmove(&sub_argv[k], &sub_argv[k + 1],
						(size_t)(sub_argc - k) *
							sizeof(char *));
					sub_argc--;
					k--;
				}
			}
			return commands[i].fn(&ctx, sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "jitctl: unknown command '%s'\n\n", argv[optind]);
	usage(stderr);
	return 2;
}
