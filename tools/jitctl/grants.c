/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl grants: the live grants, page by page. */
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

int cmd_grants(struct ctx *ctx, int argc, char **argv)
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
