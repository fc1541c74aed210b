/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl metrics: the agent's counters and gauges in the Prometheus text
 * format (for node_exporter's textfile collector, or a look by hand);
 * --json prints the agent's reply as it is.
 */
#include "jitctl.h"
#include "metrics.h"
#include "util.h"

COMMAND(metrics, "metrics", "",
	"the agent's counters and gauges, Prometheus text format",
	"Print the agent's counters and gauges in the Prometheus "
	"text exposition format: grants live, requests by result, "
	"decisions, denied packets logged, alerts by severity, "
	"tamper restores, the journal's health, the last commit and "
	"more. Counters start at 0 when the agent starts. Anyone who "
	"may use the socket may read them. The package's "
	"jit-enforcer-metrics.timer writes them for node_exporter's "
	"textfile collector. With --json, the agent's reply as it "
	"is.",
	NULL);

static int cmd_metrics(struct ctx *ctx, int argc, char **argv)
{
	_cleanup_free_ char *text = NULL;
	json_t *reply = NULL;
	char why[256];
	int r;

	while ((r = next_option(ctx, argc, argv)) != -1)
		return 2;
	if ((r = want_args(ctx, argc, argv, 0, 0)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "metrics"), &reply);
	if (r || ctx->json) {
		json_decref(reply);
		return r;
	}
	r = metrics_format(json_object_get(reply, "metrics"), &text, why,
			   sizeof(why));
	json_decref(reply);
	if (r < 0)
		return fail(ctx, "bad-reply",
			    "the agent's metrics cannot be printed: %s",
			    r == -EINVAL ? why : strerror(-r));
	fputs(text, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
