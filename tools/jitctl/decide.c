/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl approve and deny. */
#include "jitctl.h"
#include "util.h"

static int cmd_approve(struct ctx *ctx, int argc, char **argv);
static int cmd_deny(struct ctx *ctx, int argc, char **argv);

static const struct option decide_opts[] = {
	{ "reason", required_argument, NULL, 'r' },
	{ 0 },
};

const struct command command_approve = {
	.name = "approve",
	.fn = cmd_approve,
	.usage = "ID [--reason TEXT]",
	.summary = "approve a pending request",
	.help = "Approve the pending request ID of a policy with "
		"'approval: manual': the grant starts now, for the "
		"duration asked, checked again against the policy as it is "
		"now. The policy's approvers may approve, but not their "
		"own requests unless they are root.",
	.options = "-r, --reason TEXT\tkept in the audit trail",
	.shortopts = "r:",
	.opts = decide_opts,
};

const struct command command_deny = {
	.name = "deny",
	.fn = cmd_deny,
	.usage = "ID [--reason TEXT]",
	.summary = "deny a pending request",
	.help = "Deny the pending request ID. The policy's approvers may "
		"deny, but not their own requests unless they are root.",
	.options = "-r, --reason TEXT\tthe status reason becomes 'denied: "
		   "TEXT'",
	.shortopts = "r:",
	.opts = decide_opts,
};

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
