/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl revoke: end a grant early. */
#include "jitctl.h"
#include "util.h"

static const struct command_option revoke_options[] = {
	{ LONG_ONLY('T'), "terminate", NULL,
	  "also end the connections it let in: their sockets are destroyed "
	  "(the client gets a reset) and their conntrack entries deleted" },
	{ 0 },
};

COMMAND(revoke, "revoke", "ID [--terminate]",
	"end a grant now, or withdraw a pending request",
	"End the live grant ID now, or withdraw the pending "
	"request ID. Connections the grant let in keep working "
	"unless --terminate is given. The policy's approvers may "
	"revoke any of its requests, a requester their own.",
	revoke_options);

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
