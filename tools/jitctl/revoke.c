/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl revoke: end a grant early. */
#include "jitctl.h"
#include "util.h"

static const struct command_option revoke_options[] = {
	{ LONG_ONLY('T'), "terminate", NULL,
	  "also end the connections it let in: their sockets are destroyed "
	  "(the client gets a reset) and their conntrack entries deleted; "
	  "connections another live grant covers, and sessions older than "
	  "the agent, are spared and listed" },
	{ 0 },
};

COMMAND(revoke, "revoke", "ID [--terminate]",
	"end a grant now, or withdraw a pending request",
	"End the live grant ID now, or withdraw the pending "
	"request ID. Connections the grant let in keep working "
	"unless --terminate is given. The policy's approvers may "
	"revoke any of its requests, a requester their own.",
	revoke_options);

/* "tcp 192.0.2.2:51234 -> 192.0.2.1:22, covered by record 12" */
static void print_spared(json_t *sp)
{
	const char *src = str(sp, "source"), *dst = str(sp, "destination");
	bool v6 = strchr(src, ':') != NULL;

	printf("spared: %s %s%s%s:%lld -> %s%s%s:%lld, ", str(sp, "protocol"),
	       v6 ? "[" : "", src, v6 ? "]" : "",
	       (long long)num(sp, "source_port"), v6 ? "[" : "", dst,
	       v6 ? "]" : "", (long long)num(sp, "port"));
	if (streq(str(sp, "reason"), "older-than-agent"))
		printf("older than the agent\n");
	else if (json_is_integer(json_object_get(sp, "record")))
		printf("covered by record %lld\n",
		       (long long)num(sp, "record"));
	else
		printf("covered by another live grant\n");
}

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
	if (num(reply, "spared_connections") > 0)
		printf("; %lld spared",
		       (long long)num(reply, "spared_connections"));
	printf("\n");
	{
		json_t *spared = json_object_get(reply, "spared"), *sp;
		size_t i;

		json_array_foreach(spared, i, sp) print_spared(sp);
		if ((json_int_t)json_array_size(spared) <
		    num(reply, "spared_connections"))
			printf("spared: %lld more not listed\n",
			       (long long)(num(reply, "spared_connections") -
					   (json_int_t)json_array_size(
						   spared)));
	}
	if (json_is_false(json_object_get(reply, "recorded")))
		fprintf(stderr, "jitctl: warning: %s\n",
			str(json_object_get(reply, "warning"), "message"));
	if (rc)
		fprintf(stderr, "jitctl: terminating connections: %s\n",
			str(reply, "terminate_error"));
	json_decref(reply);
	return rc;
}
