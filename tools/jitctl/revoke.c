/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl revoke: end a grant early. */
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

int cmd_revoke(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "terminate", no_argument, NULL, 'T' },
		{ 0 },
	};
	bool terminate = false;
	json_t *reply = NULL;
	json_int_t id;
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "", opts)) != -1) {
		if (c != 'T')
			return 2;
		terminate = true;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl revoke ID [--terminate]\n");
		return 2;
	}
	if (parse_id("revoke", argv[optind], &id) < 0)
		return 2;
	rc = call(ctx,
		  json_pack("{s:s, s:I, s:b}", "op", "revoke", "id", id,
			    "terminate", terminate),
		  &reply);
	if (rc || ctx->json) {
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
	if (json_is_string(json_object_get(reply, "terminate_error"))) {
		fprintf(stderr, "jitctl: terminating connections: %s\n",
			str(reply, "terminate_error"));
		rc = 1;
	}
	json_decref(reply);
	return rc;
}
