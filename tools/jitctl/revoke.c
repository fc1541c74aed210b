/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl revoke: end a grant early. */
#include "jitctl.h"
#include "util.h"

static int cmd_revoke(struct ctx *ctx, int argc, char **argv);

static const struct option revoke_opts[] = {
	{ "terminate", no_argument, NULL, 'T' },
	{ 0 },
};

const struct command command_revoke = {
	.name = "revoke",
	.fn = cmd_revoke,
	.usage = "ID [--terminate]",
	.summary = "end a grant now, or withdraw a pending request",
	.help = "End the live grant ID now, or withdraw the pending "
		"request ID. Connections the grant let in keep working "
		"unless --terminate is given. The policy's approvers may "
		"revoke any of its requests, a requester their own.",
	.options = "--terminate\talso end the connections it let in: their "
		   "sockets are destroyed (the client gets a reset) and their "
		   "conntrack entries deleted",
	.opts = revoke_opts,
};

static int cmd_revoke(struct ctx *ctx, int argc, char **argv)
{
	bool terminate = false;
	json_t *reply = NULL;
	json_int_t id;
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		if (c != 'T')
			return 2;
		terminate = true;
	}
	if ((rc = want_args(ctx, argc, argv, 1, 1)) ||
	    (rc = parse_id(ctx, argv[optind], &id)))
		return rc;
	rc = call(ctx,
		  json_pack("{s:s, s:I, s:b}", "op", "revoke", "id", id,
			    "terminate", terminate),
		  &reply);
	if (rc)
		return rc;
	/* Revoked, but its connections could not all be ended: 1. */
	if (json_is_string(json_object_get(reply, "terminate_error")))
		rc = 1;
	if (ctx->json) {
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
	if (rc)
		fprintf(stderr, "jitctl: terminating connections: %s\n",
			str(reply, "terminate_error"));
	json_decref(reply);
	return rc;
}
