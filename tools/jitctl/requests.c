/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl requests: pending and live (or all), as a table or in the cloud shape.
 */
#include "jitctl.h"
#include "util.h"

static const struct command_option requests_options[] = {
	{ 'a', "all", NULL,
	  "add the ended ones: denied, revoked, expired (the agent keeps the "
	  "last 1,000)" },
	{ 'n', "limit", "N", "only the first N" },
	{ LONG_ONLY('F'), "format", "FORMAT", "table (the default) or azure" },
	{ 0 },
};

COMMAND(requests, "requests", "[--all] [--limit N] [--format table|azure]",
	"pending requests and live grants; --all: ended ones too",
	"List pending requests and live grants with their status, "
	"status reason and end, oldest first, fetched page by page "
	"as for grants.\n"
	"\n"
	"--format azure prints them as a JSON array in the cloud's "
	"JitNetworkAccessRequest shape instead, with or without "
	"--json ('jitctl request --azure' reads it back). Pending "
	"and denied requests have no status there: they are left "
	"out, and counted on stderr.",
	requests_options);

static int print_requests_azure(struct ctx *ctx, json_t *records)
{
	json_t *out = NULL;
	size_t skipped;
	char err[256];
	int r;

	r = azure_requests_format(records, &out, &skipped, err, sizeof(err));
	if (r < 0)
		return fail(ctx, r == -ENOMEM ? "internal" : "bad-reply", "%s",
			    r == -ENOMEM ? "out of memory" : err);
	/* The cloud's shape, in its order, is JSON already: --json too. */
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	ctx->printed = true;
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
	struct table t = { .ncols = 9 };
	json_t *reply = NULL, *r;
	bool all = false, azure = false;
	size_t i, limit = 0;
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'n':
			if ((rc = parse_limit(ctx, optarg, &limit)))
				return rc;
			break;
		case 'F':
			if (!streq(optarg, "azure") && !streq(optarg, "table"))
				return usage_error(ctx,
						   "--format is table or "
						   "azure, not '%s'",
						   optarg);
			azure = streq(optarg, "azure");
			break;
		default:
			return 2;
		}
	}
	if ((rc = want_args(ctx, argc, argv, 0, 0)))
		return rc;
	rc = fetch_list(ctx,
			json_pack("{s:s, s:b}", "op", "requests", "all", all),
			"requests", limit, !azure, &reply);
	if (!rc && azure)
		rc = print_requests_azure(ctx,
					  json_object_get(reply, "requests"));
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
