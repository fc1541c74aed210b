/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl grants: the live grants, page by page. */
#include "jitctl.h"
#include "util.h"

static const struct command_option grants_options[] = {
	{ 'n', "limit", "N", "only the first N" },
	{ 0 },
};

COMMAND(grants, "grants", "[--limit N]",
	"live grants and the time they have left",
	"List the live grants, oldest first: id, policy, source, "
	"ports, the time left, the user who asked and the reason. "
	"The agent answers in pages of at most 250 records; "
	"jitctl fetches them all.",
	grants_options);

static int cmd_grants(struct ctx *ctx, int argc, char **argv)
{
	struct table t = { .ncols = 7 };
	json_t *reply = NULL, *r;
	size_t i, limit = 0;
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		if (c != 'n')
			return 2;
		if ((rc = parse_limit(ctx, optarg, &limit)))
			return rc;
	}
	if ((rc = want_args(ctx, argc, argv, 0, 0)))
		return rc;
	rc = fetch_list(ctx, json_pack("{s:s}", "op", "grants"), "grants",
			limit, true, &reply);
	if (!list_to_show(ctx, &reply, "grants", "no live grants", &rc))
		return rc;
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
