/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl: the admin's command line for jit-enforcer. Each subcommand (a
 * file of its own here, with its usage and help) sends JSON requests over
 * the control socket and prints the reply as a table, or as JSON with
 * --json. A new command is one file and one line in the table below.
 */
#include <getopt.h>

#include "jitctl.h"
#include "util.h"

#include "config.h"

/*
 * The commands, in the order help lists them. Each is defined as
 * command_NAME in its own file: a new command is that file (with its
 * usage and help) and one line here.
 */
#define COMMANDS(C)     \
	C(request)      \
	C(approve)      \
	C(deny)         \
	C(grants)       \
	C(requests)     \
	C(revoke)       \
	C(alerts)       \
	C(events)       \
	C(metrics)      \
	C(posture)      \
	C(status)       \
	C(policies)     \
	C(reload)       \
	C(spa_keygen)   \
	C(import_azure) \
	C(fleet)        \
	C(help)

#define COMMAND_DECLARE(name) extern const struct command command_##name;
#define COMMAND_ENTRY(name)   &command_##name,

COMMANDS(COMMAND_DECLARE)

COMMAND(help, "help", "[COMMAND]",
	"show the commands, or what one does and its options",
	"Without COMMAND, list the commands and the options they "
	"all take; with it, show what COMMAND does and its "
	"options, as 'jitctl COMMAND --help' does.",
	NULL);

static const struct command *const commands[] = { COMMANDS(COMMAND_ENTRY) };

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(name, commands[i]->name))
			return commands[i];
	return NULL;
}

static void main_usage(FILE *out)
{
	fprintf(out, "usage: jitctl [--socket PATH] [--json] COMMAND [ARGS]\n"
		     "       jitctl COMMAND --help\n"
		     "       jitctl help [COMMAND]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-13s %s\n", commands[i]->name,
			commands[i]->summary);
	fprintf(out,
		"\nOptions, before the command (--json, --socket and --help "
		"also after it):\n"
		"  -s, --socket PATH     the agent's control socket (default: "
		"$JIT_SOCKET,\n"
		"                        else %s)\n"
		"  -j, --json            print one JSON document on stdout, "
		"errors included\n"
		"  -h, --help            show this help, or a command's\n"
		"      --version         show the version\n"
		"\nRun 'jitctl help COMMAND' for what a command does and its "
		"options.\n",
		JIT_SOCKET_PATH);
}

static int main_help(struct ctx *ctx)
{
	json_auto_t *doc = NULL;
	json_t *arr;

	if (!ctx->json) {
		main_usage(stdout);
		return 0;
	}
	arr = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:o}", "name", commands[i]->name,
				  "summary", commands[i]->summary, "usage",
				  command_usage_json(commands[i])));
	doc = json_pack("{s:b, s:[s, s, s], s:o, s:s}", "ok", 1, "usage",
			"jitctl [--socket PATH] [--json] COMMAND [ARGS]",
			"jitctl COMMAND --help", "jitctl help [COMMAND]",
			"commands", arr, "socket", JIT_SOCKET_PATH);
	print_json(ctx, doc);
	return 0;
}

static int show_help(struct ctx *ctx, const struct command *cmd)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f;
	json_auto_t *doc = NULL;

	if (!ctx->json) {
		print_command_help(cmd, stdout);
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	print_command_help(cmd, f);
	fclose(f);
	doc = json_pack("{s:b, s:s, s:s, s:o, s:o}", "ok", 1, "command",
			cmd->name, "summary", cmd->summary, "usage",
			command_usage_json(cmd), "help", json_text(text));
	print_json(ctx, doc);
	return 0;
}

static int cmd_help(struct ctx *ctx, int argc, char **argv)
{
	const struct command *cmd;
	int r;

	if ((r = want_args(ctx, argc, argv, 0, 1)))
		return r;
	if (optind == argc)
		return main_help(ctx);
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error(ctx, "unknown command '%s'", argv[optind]);
	return show_help(ctx, cmd);
}

/* --json anywhere: errors found before the command is known are JSON too. */
static bool wants_json(int argc, char **argv)
{
	for (int i = 1; i < argc && !streq(argv[i], "--"); i++)
		if (streq(argv[i], "--json") || streq(argv[i], "-j"))
			return true;
	return false;
}

static const struct option main_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 },
};

/* Options before the command; problem gets the first mistake. */
static void parse_main_options(struct ctx *ctx, int argc, char **argv,
			       bool *help, bool *version, char *problem,
			       size_t size)
{
	int c;

	memcpy(ctx->opts, main_opts, sizeof(main_opts));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:jh", main_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctx->socket = optarg;
			break;
		case 'j':
			ctx->json = true;
			break;
		case 'h':
			*help = true;
			break;
		case 'V':
			*version = true;
			break;
		default:
			if (!problem[0])
				option_problem(ctx, c, argv, problem, size);
			break;
		}
	}
}

static int print_version(struct ctx *ctx)
{
	json_auto_t *doc = NULL;

	if (!ctx->json) {
		printf("jitctl %s\n", JIT_VERSION);
		return 0;
	}
	doc = json_pack("{s:b, s:s}", "ok", 1, "version", JIT_VERSION);
	print_json(ctx, doc);
	return 0;
}

/*
 * cmd with its arguments (argv[0] its name), or its help; with --json,
 * a document is printed whatever the command did.
 */
static int run_command(struct ctx *ctx, const struct command *cmd, int argc,
		       char **argv, bool help)
{
	bool cmd_help_opt = false;
	int r;

	command_options_init(ctx, cmd);
	r = check_options(ctx, argc, argv, &cmd_help_opt);
	if (help || cmd_help_opt)
		return show_help(ctx, cmd);
	if (r)
		return r;
	r = cmd->fn(ctx, argc, argv);
	/* Never leave a script with nothing to parse. */
	if (ctx->json && !ctx->printed) {
		json_auto_t *doc =
			r ? error_reply("failed",
					"jitctl %s failed (exit status "
					"%d)",
					cmd->name, r)
			  : json_pack("{s:b}", "ok", 1);

		print_json(ctx, doc);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct ctx ctx = { .socket = getenv("JIT_SOCKET") };
	const struct command *cmd;
	bool help = false, version = false;
	char problem[512] = "";

	if (!ctx.socket || !ctx.socket[0])
		ctx.socket = JIT_SOCKET_PATH;
	parse_main_options(&ctx, argc, argv, &help, &version, problem,
			   sizeof(problem));
	if (problem[0] || optind >= argc || !find_command(argv[optind]))
		ctx.json = ctx.json || wants_json(argc, argv);
	if (problem[0])
		return usage_error(&ctx, "%s", problem);
	if (version)
		return print_version(&ctx);
	if (optind >= argc && help)
		return main_help(&ctx);
	if (optind >= argc) {
		if (ctx.json)
			return usage_error(&ctx, "no command given");
		/* Options alone: say so (--socket may have taken the
		 * command as its path). */
		if (argc > 1)
			fprintf(stderr, "jitctl: no command given\n");
		main_usage(stderr);
		return 2;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error(&ctx, "unknown command '%s'", argv[optind]);
	return run_command(&ctx, cmd, argc - optind, argv + optind, help);
}
