/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl approve and deny. */
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

static int cmd_decide(struct ctx *ctx, int argc, char **argv, bool approve)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ 0 },
	};
	const char *reason = NULL;
	json_t *req, *reply = NULL, *r;
	json_int_t id;
	char until[64];
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "r:", opts)) != -1) {
		if (c != 'r')
			return 2;
		reason = optarg;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: jitctl %s ID%s\n", argv[0],
			approve ? "" : " [--reason TEXT]");
		return 2;
	}
	if (parse_id(argv[0], argv[optind], &id) < 0)
		return 2;
	req = json_pack("{s:s, s:I}", "op", approve ? "approve" : "deny", "id",
			id);
	if (reason)
		json_object_set_new(req, "reason", json_string(reason));
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

int cmd_approve(struct ctx *ctx, int argc, char **argv)
{
	return cmd_decide(ctx, argc, argv, true);
}

int cmd_deny(struct ctx *ctx, int argc, char **argv)
{
	return cmd_decide(ctx, argc, argv, false);
}
