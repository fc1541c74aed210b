/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl requests: pending and live (or all), as a table or in the cloud shape.
 */
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

int cmd_requests(struct ctx *ctx, int argc, char **argv)
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
