/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl metrics: the agent's counters and gauges in the Prometheus text
 * format (for node_exporter's textfile collector, or a look by hand);
 * --json prints the agent's reply as it is.
 */
#include "jitctl.h"
#include "metrics.h"
#include "util.h"

int cmd_metrics(struct ctx *ctx, int argc, char **argv)
{
	_cleanup_free_ char *text = NULL;
	json_t *reply = NULL;
	char why[256];
	int r;

	if ((r = no_args("metrics", argc, argv)))
		return r;
	r = call(ctx, json_pack("{s:s}", "op", "metrics"), &reply);
	if (r || ctx->json) {
		json_decref(reply);
		return r;
	}
	r = metrics_format(json_object_get(reply, "metrics"), &text, why,
			   sizeof(why));
	json_decref(reply);
	if (r < 0) {
		fprintf(stderr,
			"jitctl: the agent's metrics cannot be "
			"printed: %s\n",
			r == -EINVAL ? why : strerror(-r));
		return 1;
	}
	fputs(text, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
