/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl: a command's options, usage and help, all from its struct command.
 * main checks the options once (check_options: --help, --json, --socket
 * and every mistake, the same way for every command); the command then
 * reads its own with next_option.
 */
#include <stdarg.h>

#include "jitctl.h"
#include "util.h"

/* The options every command takes, after its own in help. */
static const struct command_option common_options[] = {
	{ OPT_HELP, "help", NULL, "show this help" },
	{ OPT_JSON, "json", NULL,
	  "print one JSON document on stdout, errors included" },
	{ OPT_SOCKET, "socket", "PATH", "the agent's control socket" },
	{ 0 },
};

/* A key below 0x100 is the option's short form too. */
static bool has_short(const struct command_option *o)
{
	return o->key < 0x100;
}

/* Append o's options to ctx->opts and their short forms to *p. */
static size_t add_options(struct ctx *ctx, size_t n,
			  const struct command_option *o, char **p)
{
	for (; o && o->name; o++) {
		if (n + 1 >= OPTIONS_MAX)
			abort();
		ctx->opts[n++] = (struct option){ o->name,
						  o->arg ? required_argument
							 : no_argument,
						  NULL, o->key };
		if (!has_short(o) || strchr(ctx->shortopts, o->key))
			continue;
		*(*p)++ = (char)o->key;
		if (o->arg)
			*(*p)++ = ':';
	}
	return n;
}

void command_options_init(struct ctx *ctx, const struct command *cmd)
{
	char *p = ctx->shortopts;
	size_t n;

	ctx->cmd = cmd;
	memset(ctx->shortopts, 0, sizeof(ctx->shortopts));
	/* ':' first: a missing value is told apart from an unknown option. */
	*p++ = ':';
	n = add_options(ctx, 0, cmd->options, &p);
	n = add_options(ctx, n, common_options, &p);
	ctx->opts[n] = (struct option){ 0 };
}

/*
 * The command's next own option; the common ones were handled before, by
 * check_options. The first call starts over from the command's name.
 */
int next_option(struct ctx *ctx, int argc, char **argv)
{
	int c;

	if (!ctx->rewound) {
		optind = 0;
		ctx->rewound = true;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ctx->shortopts, ctx->opts, NULL)) !=
	       -1)
		if (c != OPT_HELP && c != OPT_JSON && c != OPT_SOCKET)
			return c & ~LONG_ONLY_BIT;
	return -1;
}

/* What is wrong with the option getopt just refused, in words. */
void option_problem(struct ctx *ctx, int c, char **argv, char *buf, size_t size)
{
	const char *arg = argv[optind - 1];
	size_t len, matches = 0, off;
	const struct option *exact = NULL;
	char names[256] = "";

	if (strncmp(arg, "--", 2) != 0) {
		snprintf(buf, size,
			 c == ':' ? "option '-%c' needs a value"
				  : "unknown option '-%c'",
			 optopt);
		return;
	}
	len = strcspn(arg + 2, "=");
	off = 0;
	for (const struct option *o = ctx->opts; o->name; o++) {
		if (strncmp(o->name, arg + 2, len) != 0)
			continue;
		if (strlen(o->name) == len)
			exact = o;
		matches++;
		if (off < sizeof(names))
			off += (size_t)snprintf(names + off,
						sizeof(names) - off, "%s--%s",
						off ? ", " : "", o->name);
	}
	if (c == ':')
		snprintf(buf, size, "option '%s' needs a value", arg);
	else if (exact && arg[2 + len] == '=')
		snprintf(buf, size, "option '--%s' takes no value",
			 exact->name);
	else if (!exact && matches > 1)
		snprintf(buf, size, "option '%.*s' is ambiguous: %s",
			 (int)len + 2, arg, names);
	else
		snprintf(buf, size, "unknown option '%.*s'", (int)len + 2, arg);
}

/*
 * Read the options of ctx->cmd once: --json, --socket and --help (*help)
 * anywhere, and the first mistake. Returns 0, or 2 after reporting a
 * usage error (unless --help was given too). optind is left at the first
 * argument, for a command without options of its own (want_args).
 */
int check_options(struct ctx *ctx, int argc, char **argv, bool *help)
{
	char problem[512] = "";
	int c;

	*help = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ctx->shortopts, ctx->opts, NULL)) !=
	       -1) {
		switch (c) {
		case OPT_HELP:
			*help = true;
			break;
		case OPT_JSON:
			ctx->json = true;
			break;
		case OPT_SOCKET:
			ctx->socket = optarg;
			break;
		case '?':
		case ':':
			if (!problem[0])
				option_problem(ctx, c, argv, problem,
					       sizeof(problem));
			break;
		default:
			break;
		}
	}
	ctx->rewound = false;
	if (problem[0] && !*help)
		return usage_error(ctx, "%s", problem);
	return 0;
}

/* The first word of the usage when it names an argument: "ID", "FILE". */
static void first_argument(const char *usage, char *buf, size_t size)
{
	size_t n = strcspn(usage, " \n");

	snprintf(buf, size, "an argument");
	if (n && n < size && usage[0] >= 'A' && usage[0] <= 'Z')
		snprintf(buf, size, "%.*s", (int)n, usage);
}

/* Between min and max arguments after the options (max < 0: any). */
int want_args(struct ctx *ctx, int argc, char **argv, int min, int max)
{
	int n = argc - optind;
	char what[32];

	if (n < min) {
		first_argument(ctx->cmd->usage, what, sizeof(what));
		return usage_error(ctx, "missing %s", what);
	}
	if (max >= 0 && n > max)
		return usage_error(ctx, "unexpected argument '%s'",
				   argv[optind + max]);
	return 0;
}

/* Calls fn(form, continuation?) for each line of a usage text. */
static void usage_lines(const struct command *cmd,
			void (*fn)(void *arg, const char *line, size_t len,
				   bool cont),
			void *arg)
{
	const char *p = cmd->usage;

	if (!p || !*p) {
		fn(arg, "", 0, false);
		return;
	}
	while (*p) {
		size_t len = strcspn(p, "\n");
		bool cont = *p == ' ';
		const char *line = p;

		while (cont && *line == ' ')
			line++;
		fn(arg, line, len - (size_t)(line - p), cont);
		p += len;
		if (*p == '\n')
			p++;
	}
}

/* Where usage lines go: a stream, or a JSON array. */
struct usage_out {
	FILE *out;
	json_t *arr;
	const char *name;
	bool first;
};

static void usage_line_text(void *arg, const char *line, size_t len, bool cont)
{
	struct usage_out *u = arg;
	int indent = (int)strlen("usage: jitctl ") + (int)strlen(u->name) + 1;

	if (cont)
		fprintf(u->out, "%*s%.*s\n", indent, "", (int)len, line);
	else
		fprintf(u->out, "%s jitctl %s%s%.*s\n",
			u->first ? "usage:" : "      ", u->name, len ? " " : "",
			(int)len, line);
	u->first = false;
}

void command_usage(const struct command *cmd, FILE *out)
{
	struct usage_out u = { .out = out, .name = cmd->name, .first = true };

	usage_lines(cmd, usage_line_text, &u);
}

static void usage_line_json(void *arg, const char *line, size_t len, bool cont)
{
	struct usage_out *u = arg;
	json_t *arr = u->arr;
	_cleanup_free_ char *s = NULL;
	size_t n = json_array_size(arr);
	int r;

	if (cont && n)
		r = asprintf(&s, "%s %.*s",
			     json_string_value(json_array_get(arr, n - 1)),
			     (int)len, line);
	else
		r = asprintf(&s, "jitctl %s%s%.*s", u->name, len ? " " : "",
			     (int)len, line);
	if (r < 0)
		abort();
	if (cont && n)
		json_array_set_new(arr, n - 1, json_text(s));
	else
		json_array_append_new(arr, json_text(s));
}

/* ["jitctl NAME FORM", ...], each form on one line. */
json_t *command_usage_json(const struct command *cmd)
{
	json_t *arr = json_array();
	struct usage_out u = { .arr = arr, .name = cmd->name };

	if (!arr)
		abort();
	usage_lines(cmd, usage_line_json, &u);
	return arr;
}

/* Help text is written as prose and wrapped here, to this many columns. */
#define HELP_WIDTH  79
#define HELP_INDENT 24

/*
 * The words of p[0..len), from column col, wrapped with indent; then a
 * newline.
 */
static void wrap(FILE *out, const char *p, size_t len, int col, int indent)
{
	const char *end = p + len;
	bool line_start = true;

	while (p < end) {
		size_t w;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		for (w = 0; p + w < end && p[w] != ' '; w++)
			;
		if (!line_start && col + 1 + (int)w > HELP_WIDTH) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
			line_start = true;
		}
		if (!line_start) {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, w, out);
		col += (int)w;
		p += w;
		line_start = false;
	}
	fputc('\n', out);
}

/* Each option and what it does, aligned; aliases are not listed. */
static void print_options(FILE *out, const struct command_option *o)
{
	for (; o && o->name; o++) {
		/* Long options alone line up with those after a short one. */
		int col = has_short(o) ? 2 : 6;

		if (!o->help)
			continue;
		fprintf(out, "%*s", col, "");
		if (has_short(o))
			col += fprintf(out, "-%c, ", o->key);
		col += fprintf(out, "--%s", o->name);
		if (o->arg)
			col += fprintf(out, " %s", o->arg);
		if (col + 2 > HELP_INDENT)
			fprintf(out, "\n%*s", HELP_INDENT, "");
		else
			fprintf(out, "%*s", HELP_INDENT - col, "");
		wrap(out, o->help, strlen(o->help), HELP_INDENT, HELP_INDENT);
	}
}

void print_command_help(const struct command *cmd, FILE *out)
{
	const char *p = cmd->help;

	command_usage(cmd, out);
	fputc('\n', out);
	/* Each line of the text is a paragraph; an empty one, a blank line. */
	while (*p) {
		size_t len = strcspn(p, "\n");

		wrap(out, p, len, 0, 0);
		p += len;
		if (*p == '\n')
			p++;
	}
	fputs("\nOptions:\n", out);
	print_options(out, cmd->options);
	print_options(out, common_options);
}

/*
 * A mistake on the command line: what, and the usage of the command, on
 * stderr, or as the error document with --json. Returns 2.
 */
int usage_error(struct ctx *ctx, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (ctx->json) {
		json_t *doc = error_reply("usage", "%s", msg);

		if (ctx->cmd)
			json_object_set_new(json_object_get(doc, "error"),
					    "usage",
					    command_usage_json(ctx->cmd));
		print_json(ctx, doc);
		json_decref(doc);
	} else if (ctx->cmd) {
		fprintf(stderr, "jitctl %s: %s\n", ctx->cmd->name, msg);
		command_usage(ctx->cmd, stderr);
		fprintf(stderr, "Run 'jitctl help %s' for its options.\n",
			ctx->cmd->name);
	} else {
		fprintf(stderr,
			"jitctl: %s\nRun 'jitctl help' for the "
			"commands.\n",
			msg);
	}
	return 2;
}
