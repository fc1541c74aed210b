/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl fleet request and fleet requests. */
#include <errno.h>
#include <stdlib.h>

#include "addr.h"
#include "duration.h"
#include "fleet-cmd.h"
#include "util.h"

/* "22" or "tcp/22", with --proto; 0 or a usage error. */
static int parse_port(struct ctx *ctx, const struct fleet_opts *o,
		      const char **proto, unsigned *port)
{
	_cleanup_free_ char *copy = strdup(o->port);
	const char *num_text = copy;
	char *slash, *end;
	unsigned long v;

	if (!copy)
		abort();
	*proto = o->proto ? o->proto : "tcp";
	slash = strchr(copy, '/');
	if (slash) {
		*slash = '\0';
		num_text = slash + 1;
		if (o->proto && !streq(o->proto, copy))
			return usage_error(ctx,
					   "--port '%s' and --proto '%s' "
					   "disagree",
					   o->port, o->proto);
		*proto = streq(copy, "tcp")   ? "tcp"
			 : streq(copy, "udp") ? "udp"
					      : copy;
	}
	if (!streq(*proto, "tcp") && !streq(*proto, "udp"))
		return usage_error(ctx, "the protocol is tcp or udp, not '%s'",
				   *proto);
	/* *proto must outlive copy: it is one of the two literals now. */
	*proto = streq(*proto, "tcp") ? "tcp" : "udp";
	errno = 0;
	v = strtoul(num_text, &end, 10);
	if (*num_text < '0' || *num_text > '9' || *end || errno || v < 1 ||
	    v > 65535)
		return usage_error(ctx, "--port wants 1..65535, not '%s'",
				   o->port);
	*port = (unsigned)v;
	return 0;
}

int fleet_cmd_request(struct ctx *ctx, const struct fleet_opts *o, int argc,
		      char **argv)
{
	struct fleet_request_args a = { 0 };
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_auto_t *req = NULL, *sel = NULL;
	char err[512], id[FLEET_ID_LEN + 1], key[128], src[JIT_PREFIX_STRLEN],
		line[512];
	struct jit_prefix p;
	uint64_t rev = 0;
	int r, rc;

	if (optind < argc)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind]);
	if ((o->seen & FO_SELECT) && (o->seen & FO_ALL_HOSTS))
		return usage_error(ctx, "--select and --all-hosts exclude each "
					"other");
	if (!(o->seen & (FO_SELECT | FO_ALL_HOSTS)))
		return usage_error(ctx, "missing --select LABEL=VALUE (or "
					"--all-hosts)");
	if (fleet_selector_parse(o->select, &sel, err, sizeof(err)))
		return usage_error(ctx, "%s", err);
	/* {} would match every host: only when asked for in so many words. */
	if (!json_object_size(sel) && !(o->seen & FO_ALL_HOSTS))
		return usage_error(ctx, "an empty selector matches every host: "
					"say --all-hosts if that is meant");
	if (!o->policy || !o->policy[0])
		return usage_error(ctx, "missing --policy NAME");
	if (!o->port)
		return usage_error(ctx, "missing --port PORT");
	if (!o->from)
		return usage_error(ctx, "missing --from ADDRESS");
	if ((rc = parse_port(ctx, o, &a.proto, &a.port)))
		return rc;
	if (prefix_parse(o->from, &p) || prefix_is_v4_mapped(&p))
		return usage_error(ctx,
				   "--from wants an address or a network "
				   "(192.0.2.7, 198.51.100.0/24), not '%s'",
				   o->from);
	a.duration_s = 3600;
	/* Ten what? As `jitctl request`, say so rather than guess. */
	if (o->duration && *o->duration &&
	    strspn(o->duration, "0123456789") == strlen(o->duration))
		return usage_error(ctx, "--for '%s' has no unit: %ss? %sm?",
				   o->duration, o->duration, o->duration);
	if (o->duration &&
	    (duration_parse(o->duration, &a.duration_s) || a.duration_s == 0 ||
	     a.duration_s > JIT_DURATION_MAX_S))
		return usage_error(ctx,
				   "--for wants a duration from 1s to 24h "
				   "(2h, 90m, PT1H), not '%s'",
				   o->duration);
	if ((rc = fleet_check_reason(ctx, o->reason)))
		return rc;
	a.selector = sel;
	a.policy = o->policy;
	a.source = prefix_format(&p, src, sizeof(src));
	a.reason = o->reason;
	if ((rc = fleet_open(ctx, o, &cfg, &c)))
		return rc;
	if ((r = fleet_id_new(id)) ||
	    (r = fleet_request_key(cfg.user, id, key, sizeof(key)))) {
		rc = fail(ctx, "internal", "cannot make a request id: %s",
			  strerror(-r));
		goto out;
	}
	req = fleet_request_new(id, &a, cfg.user, now_real_ms());
	r = fleet_kv_create(c, FLEET_BUCKET_REQUESTS, key, req, &rev, err,
			    sizeof(err));
	if (r) {
		rc = fleet_fail(ctx, r, err);
		goto out;
	}
	if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:O, s:I}", "ok", 1, "request", req,
				  "revision", (json_int_t)rev);

		print_json(ctx, doc);
	} else {
		fleet_request_line(req, line, sizeof(line));
		printf("fleet request %s pending: %s\n", id, line);
	}
	rc = 0;
out:
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}

/* The end of an approved request's grants, or 0. */
static json_int_t request_end(json_t *req)
{
	if (!streq(str(req, "state"), "approved"))
		return 0;
	return num(req, "decided_at_ms") + num(req, "duration_s") * 1000;
}

static int by_time(const void *a, const void *b)
{
	json_int_t x = num(*(json_t *const *)a, "requested_at_ms");
	json_int_t y = num(*(json_t *const *)b, "requested_at_ms");

	return x < y ? -1 : x > y;
}

int fleet_cmd_requests(struct ctx *ctx, const struct fleet_opts *o, int argc,
		       char **argv)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_t *all = NULL, *v, *list = json_array();
	json_t **items = NULL;
	size_t bad = 0, count = 0, start, i;
	uint64_t now = now_real_ms();
	const char *key;
	char err[512];
	int r, rc;

	if (optind < argc) {
		json_decref(list);
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind]);
	}
	if ((rc = fleet_open(ctx, o, &cfg, &c))) {
		json_decref(list);
		return rc;
	}
	r = fleet_kv_list(c, FLEET_BUCKET_REQUESTS, &all, &bad, err,
			  sizeof(err));
	if (r) {
		rc = fleet_fail(ctx, r, err);
		goto out;
	}
	items = calloc(json_object_size(all) + 1, sizeof(*items));
	if (!items)
		abort();
	json_object_foreach(all, key, v)
	{
		char who[FLEET_NAME_MAX + 1], id[32];
		const char *state = str(v, "state");
		bool ended;

		/* What a requester wrote as another is not shown as theirs. */
		if (fleet_request_key_parse(key, who, sizeof(who), id,
					    sizeof(id)) ||
		    fleet_request_check(v, err, sizeof(err)) ||
		    !streq(who, str(v, "requested_by")) ||
		    !streq(id, str(v, "id"))) {
			bad++;
			continue;
		}
		ended = streq(state, "denied") || streq(state, "revoked") ||
			(streq(state, "approved") &&
			 request_end(v) <= (json_int_t)now);
		if (ended && !(o->seen & FO_ALL))
			continue;
		items[count++] = v;
	}
	qsort(items, count, sizeof(*items), by_time);
	start = o->limit && count > o->limit ? count - o->limit : 0;
	for (i = start; i < count; i++)
		json_array_append(list, items[i]);
	if (bad)
		fprintf(stderr,
			"jitctl: %zu malformed fleet request(s) not shown\n",
			bad);
	if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:O, s:I}", "ok", 1, "requests", list,
				  "malformed", (json_int_t)bad);

		print_json(ctx, doc);
	} else if (!json_array_size(list)) {
		printf((o->seen & FO_ALL) ? "no fleet requests\n"
					  : "no pending or live fleet "
					    "requests (see --all)\n");
	} else {
		struct table t = { .ncols = 10 };

		table_row(&t, "ID", "REQUESTER", "SELECTOR", "POLICY", "PORT",
			  "SOURCE", "FOR", "STATE", "HOSTS", "REASON");
		json_array_foreach(list, i, v)
		{
			_cleanup_free_ char *sel = fleet_selector_text(
				json_object_get(v, "selector"));
			char port[32], dur[32], hosts[512];
			const char *state = str(v, "state");

			snprintf(port, sizeof(port), "%s/%lld", str(v, "proto"),
				 (long long)num(v, "port"));
			left_text(num(v, "duration_s"), dur, sizeof(dur));
			join_strings(json_object_get(v, "hosts"), hosts,
				     sizeof(hosts), "-");
			if (streq(state, "approved") &&
			    request_end(v) <= (json_int_t)now)
				state = "ended";
			table_row(&t, str(v, "id"), str(v, "requested_by"),
				  sel[0] ? sel : "(all hosts)",
				  str(v, "policy"), port, str(v, "source"), dur,
				  state, hosts, str(v, "reason"));
		}
		table_print(&t);
	}
	rc = 0;
out:
	free(items);
	json_decref(all);
	json_decref(list);
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}
