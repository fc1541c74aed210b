/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl: the admin's command line for jit-enforcer. Each subcommand (a
 * file of its own here) sends JSON requests over the control socket and
 * prints the reply as a table, or as JSON with --json.
 */
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

static const struct command commands[] = {
	{ "request", cmd_request,
	  "ask for access: POLICY --port P --from ADDR [--for 2h] [--reason "
	  "TEXT], or --azure FILE [--policy NAME]" },
	{ "approve", cmd_approve, "approve a pending request: ID" },
	{ "deny", cmd_deny, "deny a pending request: ID [--reason TEXT]" },
	{ "grants", cmd_grants, "list live grants" },
	{ "requests", cmd_requests,
	  "list pending and live requests [--all] [--format azure]" },
	{ "revoke", cmd_revoke,
	  "end a grant early: ID [--terminate to end its connections]" },
	{ "alerts", cmd_alerts,
	  "recent security alerts [--limit N]; --follow streams new ones" },
	{ "events", cmd_events,
	  "decisions you may see [--limit N]; --follow streams new ones" },
	{ "metrics", cmd_metrics,
	  "the agent's counters and gauges, Prometheus text format" },
	{ "posture", cmd_posture,
	  "management ports listening on this host and their protection" },
	{ "status", cmd_status, "show the agent, its table and protection" },
	{ "policies", cmd_policies, "list the policies in force" },
	{ "reload", cmd_reload, "reload the policy directory now (root)" },
	{ "import-azure", cmd_import_azure,
	  "convert a jitNetworkAccessPolicies JSON policy: FILE [--vm NAME] "
	  "[--name POLICY] [-o OUT.yaml]" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: jitctl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nThe socket defaults to $JIT_SOCKET or %s.\n",
		JIT_SOCKET_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctx ctx = { .socket = getenv("JIT_SOCKET") };
	int c;

	if (!ctx.socket || !ctx.socket[0])
		ctx.socket = JIT_SOCKET_PATH;
	/* Options before the command only; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctx.socket = optarg;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("jitctl %s\n", JIT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (streq(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			/* Accept --json after the command too. */
			for (int k = 1; k < sub_argc; k++) {
				if (streq(sub_argv[k], "--json")) {
					ctx.json = true;
					memmove(&sub_argv[k], &sub_argv[k + 1],
						(size_t)(sub_argc - k) *
							sizeof(char *));
					sub_argc--;
					k--;
				}
			}
			return commands[i].fn(&ctx, sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "jitctl: unknown command '%s'\n\n", argv[optind]);
	usage(stderr);
	return 2;
}
