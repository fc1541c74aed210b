/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl approve and deny. */
#include "jitctl.h"
#include "util.h"

static const struct command_option approve_options[] = {
	{ 'r', "reason", "TEXT", "kept in the audit trail" },
	{ 0 },
};

COMMAND(approve, "approve", "ID [--reason TEXT]", "approve a pending request",
	"Approve the pending request ID of a policy with "
	"'approval: manual': the grant starts now, for the "
	"duration asked, checked again against the policy as it is "
	"now. The policy's approvers may approve, but not their "
	"own requests unless they are root.",
	approve_options);

static const struct command_option deny_options[] = {
	{ 'r', "reason", "TEXT", "the status reason becomes 'denied: TEXT'" },
	{ 0 },
};

COMMAND(deny, "deny", "ID [--reason TEXT]", "deny a pending request",
	"Deny the pending request ID. The policy's approvers may "
	"deny, but not their own requests unless they are root.",
	deny_options);

static int cmd_decide(struct ctx *ctx, int argc, char **argv, bool approve)
{
	const char *reason = NULL;
	json_t *req, *reply = NULL, *r;
	json_int_t id;
	char until[64];
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		if (c != 'r')
			return 2;
		reason = optarg;
	}
	if ((rc = want_args(ctx, argc, argv, 1, 1)) ||
	    (rc = parse_id(ctx, argv[optind], &id)))
		return rc;
	req = json_pack("{s:s, s:I, s:s*}", "op", approve ? "approve" : "deny",
			"id", id, "reason", reason);
	if (!req)
		return usage_error(ctx, "the reason is not valid UTF-8");
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
