/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What jitctl's subcommands share: the context of a run, the call to the
 * agent, what they print and how they fail. One file per subcommand; each
 * defines its struct command (name, handler, usage, help, options) as
 * command_NAME, and jitctl.c lists them.
 *
 * Output: a table or sentences for people, or with --json exactly one JSON
 * document on stdout, whatever happens. Errors are replies of the agent's
 * shape, {"ok": false, "error": {"code", "message"}}, whether the agent or
 * jitctl found them: report() prints them either way. Exit status: 0 done,
 * 1 refused or failed, 2 usage error; the same with and without --json.
 */
#ifndef JITCTL_H
#define JITCTL_H

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "azure.h"
#include "client.h"
#include "diag.h"

struct ctx;

/* Room for a command's own options plus the common ones. */
#define OPTIONS_MAX 24

/* The key of an option with no short form (the letter is only a name). */
#define LONG_ONLY_BIT 0x1000
#define LONG_ONLY(c)  (LONG_ONLY_BIT | (c))

/**
 * struct command_option - one option of a command, for getopt and for help
 * @key: what next_option returns for it: its short form ('p' for -p), or
 *       LONG_ONLY('x') for an option that has none (next_option returns 'x')
 * @name: its long form, without "--"
 * @arg: the name of its value in help ("PORT"), or NULL for a flag
 * @help: what it does, wrapped by help; NULL for an alias of the option
 *        above it, which help does not list
 */
struct command_option {
	int key;
	const char *name;
	const char *arg;
	const char *help;
};

/**
 * struct command - one subcommand, all it says about itself
 * @name: as typed
 * @fn: runs it; argv[0] is @name; returns the exit status
 * @usage: what follows "jitctl NAME", one form per line; a line that starts
 *         with a space continues the form above it
 * @summary: one line for the list of commands
 * @help: what it does, as prose: help wraps it to the terminal's 80
 *        columns; each line is a paragraph ("\n\n" leaves a blank line)
 * @options: its own options, ended by { 0 }, or NULL; every command also
 *           takes the common ones (--help, --json, --socket)
 */
struct command {
	const char *name;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
	const char *usage;
	const char *summary;
	const char *help;
	const struct command_option *options;
};

/*
 * Defines command_ID, whose handler is cmd_ID, written after it in the
 * same file, with the fields of struct command in their order:
 *
 *	COMMAND(grants, "grants", "[--limit N]", "live grants",
 *		"List the live grants, oldest first: ...", grants_options);
 */
#define COMMAND(id, name, usage, summary, help, options)                \
	static int cmd_##id(struct ctx *ctx, int argc, char **argv);    \
	const struct command command_##id = { name,    cmd_##id, usage, \
					      summary, help,	 options }

/**
 * struct ctx - one run of jitctl
 * @socket: the control socket's path
 * @json: --json: one JSON document on stdout
 * @cmd: the command being run, NULL before one is found
 * @opts: @cmd's long options and the common ones, for getopt_long
 * @shortopts: the same for getopt
 * @printed: a JSON document was printed (--json prints exactly one)
 * @rewound: next_option started over after check_options
 */
struct ctx {
	const char *socket;
	bool json;
	const struct command *cmd;
	struct option opts[OPTIONS_MAX];
	char shortopts[2 * OPTIONS_MAX];
	bool printed;
	bool rewound;
};

/* Values getopt returns for the common options. */
enum {
	OPT_HELP = 'h',
	OPT_JSON = 0x100,
	OPT_SOCKET,
};

/* A table printed with aligned columns. */
#define TABLE_COLS 10

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, row-major */
};

void table_row(struct table *t, ...);
void table_print(struct table *t);

/* ---- options, usage and help (common.c) ---- */
void command_options_init(struct ctx *ctx, const struct command *cmd);
void option_problem(struct ctx *ctx, int c, char **argv, char *buf,
		    size_t size);
int next_option(struct ctx *ctx, int argc, char **argv);
int check_options(struct ctx *ctx, int argc, char **argv, bool *help);
int want_args(struct ctx *ctx, int argc, char **argv, int min, int max);
void command_usage(const struct command *cmd, FILE *out);
void print_command_help(const struct command *cmd, FILE *out);
json_t *command_usage_json(const struct command *cmd);
__attribute__((format(printf, 2, 3))) int usage_error(struct ctx *ctx,
						      const char *fmt, ...);

/* ---- output and errors ---- */
/* fmt formatted into a new string; aborts when out of memory. */
char *vformat(const char *fmt, va_list ap);
json_t *json_text(const char *s);
__attribute__((format(printf, 2, 3))) json_t *error_reply(const char *code,
							  const char *fmt, ...);
void print_json(struct ctx *ctx, json_t *doc);
int report(struct ctx *ctx, json_t *reply);
__attribute__((format(printf, 3, 4))) int
fail(struct ctx *ctx, const char *code, const char *fmt, ...);

/* ---- the agent ---- */
int agent_call(struct ctx *ctx, json_t *req, json_t **reply,
	       struct jit_client **keep);
int call(struct ctx *ctx, json_t *req, json_t **reply);
int fetch_list(struct ctx *ctx, json_t *req, const char *key, size_t limit,
	       bool print, json_t **reply);
/*
 * After the call that fetched a list, with *rc its status: true when the
 * caller is to print the list under key as a table. Otherwise the reply
 * was an error, or printed with --json, or its list is empty (said with
 * the sentence empty); it is released, and *rc is the exit status.
 */
bool list_to_show(struct ctx *ctx, json_t **reply, const char *key,
		  const char *empty, int *rc);

/* ---- arguments and text ---- */
const char *str(json_t *o, const char *key);
json_int_t num(json_t *o, const char *key);
void ports_text(json_t *o, char *buf, size_t n);
void join_strings(json_t *arr, char *buf, size_t n, const char *empty);
void principals_text(json_t *p, char *buf, size_t n);
void time_text(json_int_t ms, char *buf, size_t n);
void left_text(json_int_t s, char *buf, size_t n);
int parse_id(struct ctx *ctx, const char *s, json_int_t *id);
int parse_limit(struct ctx *ctx, const char *s, size_t *ret);
/* --follow (-f) and --limit N (-n), and the request they make. */
int stream_request(struct ctx *ctx, int argc, char **argv, const char *op,
		   bool *follow, json_t **req);
/* One compact JSON document on a line of its own (--json streams). */
void json_line(json_t *doc);
/*
 * Hand each line of a --follow stream to item until the agent closes the
 * connection; then say so (with --json, a connection-lost error line) and
 * return 1.
 */
int follow_stream(struct ctx *ctx, struct jit_client *c,
		  void (*item)(struct ctx *ctx, json_t *msg));
int read_input(const char *path, char **ret, size_t *ret_len);
int read_failed(struct ctx *ctx, const char *path, int r);
json_t *notes_json(const struct azure_notes *notes);
void print_notes(struct ctx *ctx, const struct azure_notes *notes);
int document_error(struct ctx *ctx, int r, const struct jit_diag *diag,
		   const struct azure_notes *notes, const char *after);

#endif
