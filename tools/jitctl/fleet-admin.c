/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl fleet init, creds, hosts and events. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet-cmd.h"
#include "util.h"

int fleet_cmd_init(struct ctx *ctx, const struct fleet_opts *o, int argc,
		   char **argv)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_t *done = NULL;
	char err[512];
	int r, rc;

	if (optind < argc)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind]);
	if ((rc = fleet_open(ctx, o, &cfg, &c)))
		return rc;
	r = fleet_init(c, o->replicas, &done, err, sizeof(err));
	if (r) {
		rc = fleet_fail(ctx, r, err);
	} else if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:O, s:i}", "ok", 1, "created", done,
				  "replicas", o->replicas);

		print_json(ctx, doc);
	} else {
		char list[256];

		join_strings(done, list, sizeof(list), "");
		printf("fleet ready: %s (%d replica%s each)\n", list,
		       o->replicas, o->replicas == 1 ? "" : "s");
	}
	json_decref(done);
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}

/* Printable, and nothing the server config would read as syntax. */
static bool password_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\' ||
		    *s == '$')
			return false;
	return true;
}

/* The password in path, or a new random one written there (0600). */
static int password_from_file(struct ctx *ctx, const char *path, char *buf,
			      size_t n)
{
	_cleanup_close_ int fd = -1;
	char id[FLEET_ID_LEN + 1];
	ssize_t len;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		len = read(fd, buf, n - 1);
		if (len < 0)
			return fail(ctx, "io", "cannot read '%s': %s", path,
				    strerror(errno));
		buf[len] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!buf[0] || !password_ok(buf))
			return fail(ctx, "bad-value",
				    "'%s': the password must be printable "
				    "ASCII without spaces, '\"', '\\' or '$'",
				    path);
		return 0;
	}
	if (errno != ENOENT)
		return fail(ctx, "io", "cannot open '%s': %s", path,
			    strerror(errno));
	/* 128 random bits, twice: 32 hex digits. */
	if ((r = fleet_id_new(id)))
		return fail(ctx, "internal", "no random bytes: %s",
			    strerror(-r));
	snprintf(buf, n, "%s", id);
	if ((r = fleet_id_new(id)))
		return fail(ctx, "internal", "no random bytes: %s",
			    strerror(-r));
	strncat(buf, id, n - strlen(buf) - 1);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write_all(fd, buf, strlen(buf)) < 0 ||
	    write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
		return fail(ctx, "io", "cannot write '%s': %s", path,
			    strerror(errno));
	return 0;
}

int fleet_cmd_creds(struct ctx *ctx, const struct fleet_opts *o, int argc,
		    char **argv)
{
	_cleanup_free_ char *conf = NULL;
	enum fleet_role role;
	char password[256];
	const char *name;
	int rc;

	if (argc - optind < 2)
		return usage_error(ctx, argc - optind ? "missing NAME"
						      : "missing ROLE (host, "
							"requester, approver, "
							"admin) and NAME");
	if (argc - optind > 2)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind + 2]);
	if (fleet_role_parse(argv[optind], &role))
		return usage_error(ctx,
				   "unknown role '%s' (host, requester, "
				   "approver, admin)",
				   argv[optind]);
	name = argv[optind + 1];
	if (!fleet_name_valid(name))
		return usage_error(ctx,
				   "name '%s': 1 to 63 of A-Z a-z 0-9 _ - (no "
				   "dots)",
				   name);
	if (o->password_file) {
		if ((rc = password_from_file(ctx, o->password_file, password,
					     sizeof(password))))
			return rc;
	} else {
		char a[FLEET_ID_LEN + 1], b[FLEET_ID_LEN + 1];

		if (fleet_id_new(a) || fleet_id_new(b))
			return fail(ctx, "internal", "no random bytes");
		snprintf(password, sizeof(password), "%s%s", a, b);
	}
	conf = fleet_creds_conf(role, name, password);
	if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:s, s:s, s:s, s:o, s:s}", "ok", 1,
				  "role", fleet_role_name(role), "user", name,
				  "password", password, "permissions",
				  fleet_permissions(role, name), "conf", conf);

		print_json(ctx, doc);
	} else {
		fputs(conf, stdout);
	}
	explicit_bzero(password, sizeof(password));
	return 0;
}

int fleet_cmd_hosts(struct ctx *ctx, const struct fleet_opts *o, int argc,
		    char **argv)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_t *all = NULL, *sel = NULL, *v, *list = NULL;
	uint64_t now = now_real_ms();
	size_t bad = 0, i;
	const char *key;
	char err[512];
	int r, rc;

	if (optind < argc)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind]);
	if (fleet_selector_parse(o->select, &sel, err, sizeof(err)))
		return usage_error(ctx, "%s", err);
	if ((rc = fleet_open(ctx, o, &cfg, &c))) {
		json_decref(sel);
		return rc;
	}
	r = fleet_kv_list(c, FLEET_BUCKET_HOSTS, &all, &bad, err, sizeof(err));
	if (r) {
		rc = fleet_fail(ctx, r, err);
		goto out;
	}
	list = json_array();
	json_object_foreach(all, key, v)
	{
		if (strncmp(key, "host.", 5) != 0 ||
		    !streq(key + 5, str(v, "host"))) {
			bad++;
			continue;
		}
		if (fleet_selector_match(sel, json_object_get(v, "labels")))
			json_array_append(list, v);
	}
	if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:O}", "ok", 1, "hosts", list);

		print_json(ctx, doc);
	} else if (!json_array_size(list)) {
		printf("no registered hosts%s\n",
		       json_object_size(sel) ? " match" : "");
	} else {
		struct table t = { .ncols = 4 };

		table_row(&t, "HOST", "LABELS", "VERSION", "LAST SEEN");
		json_array_foreach(list, i, v)
		{
			_cleanup_free_ char *labels = fleet_selector_text(
				json_object_get(v, "labels"));
			json_int_t seen = num(v, "last_seen_ms");
			char ago[32] = "-";

			if (seen > 0) {
				left_text(seen < (json_int_t)now
						  ? ((json_int_t)now - seen) /
							    1000
						  : 0,
					  ago, sizeof(ago) - 4);
				strcat(ago, " ago");
			}
			table_row(&t, str(v, "host"), labels, str(v, "version"),
				  ago);
		}
		table_print(&t);
	}
	if (bad)
		fprintf(stderr, "jitctl: %zu malformed host entr%s not shown\n",
			bad, bad == 1 ? "y" : "ies");
	rc = 0;
out:
	json_decref(list);
	json_decref(all);
	json_decref(sel);
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}

/* One audit event for people: time, host, event, result, what, why. */
static int event_print(void *arg, uint64_t seq, const char *subject, json_t *e)
{
	struct ctx *ctx = arg;
	const char *host = str(e, "host");
	char line[1024];

	if (!host[0] && subject && !strncmp(subject, "audit.", 6))
		host = subject + 6;
	/* The subject is what the server vouches for: say when they differ. */
	if (subject && strncmp(subject, "audit.", 6) == 0 &&
	    !streq(subject + 6, host))
		json_object_set_new(e, "subject_host",
				    json_string(subject + 6));
	if (ctx->json) {
		json_object_set_new(e, "stream_seq",
				    json_integer((json_int_t)seq));
		json_line(e);
		return 0;
	}
	snprintf(line, sizeof(line), "%s  %-10s %-9s %-8s %s %s %s %s%s%s",
		 str(e, "time"), host, str(e, "event"), str(e, "result"),
		 str(e, "policy"), str(e, "source"), str(e, "ports"),
		 str(e, "reason")[0] ? "\"" : "", str(e, "reason"),
		 str(e, "reason")[0] ? "\"" : "");
	text_make_safe(line);
	puts(line);
	fflush(stdout);
	return 0;
}

int fleet_cmd_events(struct ctx *ctx, const struct fleet_opts *o, int argc,
		     char **argv)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	char err[512];
	int r, rc;

	if (optind < argc)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind]);
	if ((rc = fleet_open(ctx, o, &cfg, &c)))
		return rc;
	r = fleet_audit_read(c, o->seen & FO_FOLLOW, o->limit, event_print, ctx,
			     err, sizeof(err));
	if (r)
		rc = fleet_fail(ctx, r, err);
	else if (ctx->json)
		/* JSON lines: the events were the output. */
		ctx->printed = true;
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}
