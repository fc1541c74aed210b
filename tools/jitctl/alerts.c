/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl alerts: recent security alerts, or a stream of them. */
#include "jitctl.h"
#include "util.h"

static const struct command_option alerts_options[] = {
	{ 'f', "follow", NULL, "then print new alerts as they come" },
	{ 'n', "limit", "N", "only the N most recent (0: none)" },
	{ 0 },
};

COMMAND(alerts, "alerts", "[--follow] [--limit N]",
	"recent security alerts; --follow streams new ones",
	"Show the security alerts the agent holds (the last 256 "
	"since it started), oldest first: when last seen, "
	"severity, intent, type and description. An alert about a "
	"request (a wide grant) is shown only to those who may see "
	"the request: root, its requester, its policy's "
	"approvers.\n"
	"\n"
	"With --follow, keep the connection open and print each "
	"new alert as the agent raises it; when the agent closes "
	"the connection, the exit status is 1. With --json and "
	"--follow the output is JSON lines: the reply on one line, "
	"then one alert object per line, and an error object when "
	"the connection is lost.",
	alerts_options);

static void alert_line(json_t *a)
{
	char line[1024];

	/* The description names the source, ports and counts. */
	snprintf(line, sizeof(line), "%s  %-6s  %-13s  %-27s  %s",
		 str(a, "last_seen"), str(a, "severity"), str(a, "intent"),
		 str(a, "alert_type"), str(a, "description"));
	text_make_safe(line);
	printf("%s\n", line);
	fflush(stdout);
}

/* A line of the stream: an alert (other lines are ignored). */
static void alert_item(struct ctx *ctx, json_t *msg)
{
	json_t *a = json_object_get(msg, "alert");

	if (a && ctx->json)
		json_line(a);
	else if (a)
		alert_line(a);
}

static int cmd_alerts(struct ctx *ctx, int argc, char **argv)
{
	struct jit_client *c = NULL;
	json_t *req, *reply = NULL, *a;
	bool following;
	size_t i;
	int rc;

	if ((rc = stream_request(ctx, argc, argv, "alerts", &following, &req)))
		return rc;
	if (!following) {
		rc = call(ctx, req, &reply);
	} else if ((rc = agent_call(ctx, req, &reply, &c))) {
		report(ctx, reply);
		reply = NULL;
	} else if (ctx->json) {
		/* A stream: every line one document. */
		json_line(reply);
		ctx->printed = true;
	}
	if (rc || ctx->json) {
		json_decref(reply);
		return rc	   ? rc
		       : following ? follow_stream(ctx, c, alert_item)
				   : 0;
	}
	if (!json_array_size(json_object_get(reply, "alerts")) && !following)
		printf("no alerts (%lld denied attempts seen)\n",
		       (long long)num(reply, "denied_seen"));
	json_array_foreach(json_object_get(reply, "alerts"), i, a)
		alert_line(a);
	json_decref(reply);
	return following ? follow_stream(ctx, c, alert_item) : 0;
}
