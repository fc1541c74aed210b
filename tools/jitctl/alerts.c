/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl alerts: recent security alerts, or a stream of them. */
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

static void alert_line(json_t *a)
{
	/* The description names the source, ports and counts. */
	printf("%s  %-6s  %-13s  %-27s  %s\n", str(a, "last_seen"),
	       str(a, "severity"), str(a, "intent"), str(a, "alert_type"),
	       str(a, "description"));
	fflush(stdout);
}

int cmd_alerts(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct jit_client *c = NULL;
	json_t *req, *reply = NULL, *a;
	bool follow = false;
	long limit = -1;
	size_t i;
	int opt, rc;

	optind = 0;
	while ((opt = sub_getopt(argc, argv, "fn:", opts)) != -1) {
		char *end;

		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 'n':
			limit = strtol(optarg, &end, 10);
			if (!*optarg || *end || limit < 0) {
				fprintf(stderr,
					"jitctl alerts: --limit '%s' is "
					"not a number\n",
					optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr,
			"usage: jitctl alerts [--follow] [--limit N]\n");
		return 2;
	}
	req = json_pack("{s:s, s:b}", "op", "alerts", "follow", follow);
	if (limit >= 0)
		json_object_set_new(req, "limit", json_integer(limit));
	rc = call_keep(ctx, req, &reply, follow ? &c : NULL);
	if (rc) {
		json_decref(reply);
		return rc;
	}
	if (!ctx->json) {
		if (!json_array_size(json_object_get(reply, "alerts")) &&
		    !follow)
			printf("no alerts (%lld denied attempts seen)\n",
			       (long long)num(reply, "denied_seen"));
		json_array_foreach(json_object_get(reply, "alerts"), i, a)
			alert_line(a);
	}
	json_decref(reply);
	while (follow) {
		json_t *msg = NULL;

		if (client_read(c, &msg) < 0) {
			fprintf(stderr, "jitctl: the agent closed the "
					"connection\n");
			client_disconnect(c);
			return 1;
		}
		a = json_object_get(msg, "alert");
		if (a && ctx->json) {
			json_dumpf(a, stdout, JSON_COMPACT);
			putchar('\n');
			fflush(stdout);
		} else if (a) {
			alert_line(a);
		}
		json_decref(msg);
	}
	return 0;
}
