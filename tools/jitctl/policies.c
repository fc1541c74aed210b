/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl policies and reload. */
#include "jitctl.h"
#include "util.h"

COMMAND(policies, "policies", "", "list the policies in force",
	"List the policies in force: name, ports, maximum "
	"duration, allowed sources, requesters, approval, action "
	"and interfaces.",
	NULL);

COMMAND(reload, "reload", "", "reload the policy directory now (root)",
	"Make the agent reload its policy directory now (root "
	"only; it also reloads on any change in the directory, and "
	"on SIGHUP), and reopen its logs, as SIGUSR1 does (for log "
	"rotation). Files that are rejected keep their last good "
	"version: their errors are printed, and the exit status is "
	"1.",
	NULL);

static int cmd_policies(struct ctx *ctx, int argc, char **argv)
{
	struct table t = { .ncols = 8 };
	json_t *reply = NULL, *p;
	size_t i;
	int r;

	if ((r = want_args(ctx, argc, argv, 0, 0)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "policies"), &reply);
	if (!list_to_show(ctx, &reply, "policies", "no policies in force", &r))
		return r;
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

	if ((r = want_args(ctx, argc, argv, 0, 0)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "reload"), &reply);
	if (r || ctx->json) {
		/* Rejected files: 1, with or without --json. */
		if (!r &&
		    json_is_string(json_object_get(reply, "policy_errors")))
			r = 1;
		json_decref(reply);
		return r;
	}
	if (json_is_string(json_object_get(reply, "policy_errors"))) {
		printf("reloaded; rejected files keep their last good "
		       "version, if they had one (a new file is not in "
		       "force):\n%s",
		       str(reply, "policy_errors"));
		r = 1;
	} else {
		printf("reloaded\n");
	}
	json_decref(reply);
	return r;
}
