/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What jitctl's subcommands share: the context of a run, the call to the
 * agent, and the tables and texts they print. One file per subcommand.
 */
#ifndef JITCTL_H
#define JITCTL_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "azure.h"
#include "client.h"
#include "diag.h"

struct ctx {
	const char *socket;
	bool json;
};

struct command {
	const char *name;
	int (*fn)(struct ctx *ctx, int argc, char **argv);
	const char *summary;
};

/* A table printed with aligned columns. */
#define TABLE_COLS 10

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, row-major */
};

void table_row(struct table *t, ...);
void table_print(struct table *t);
int call_keep(struct ctx *ctx, json_t *req, json_t **reply,
	      struct jit_client **keep);
int call(struct ctx *ctx, json_t *req, json_t **reply);
int no_args(const char *cmd, int argc, char **argv);
const char *str(json_t *o, const char *key);
json_int_t num(json_t *o, const char *key);
void ports_text(json_t *o, char *buf, size_t n);
void join_strings(json_t *arr, char *buf, size_t n, const char *empty);
void principals_text(json_t *p, char *buf, size_t n);
void time_text(json_int_t ms, char *buf, size_t n);
void left_text(json_int_t s, char *buf, size_t n);
int sub_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *opts);
int parse_id(const char *cmd, const char *s, json_int_t *id);
int read_input(const char *path, char **ret, size_t *ret_len);
void print_diag(int r, const struct jit_diag *diag);
void print_notes(const struct azure_notes *notes);
int fetch_list(struct ctx *ctx, json_t *req, const char *key, size_t limit,
	       json_t **reply);
int parse_limit(const char *cmd, const char *s, size_t *ret);

/* The subcommands. */
int cmd_status(struct ctx *ctx, int argc, char **argv);
int cmd_policies(struct ctx *ctx, int argc, char **argv);
int cmd_reload(struct ctx *ctx, int argc, char **argv);
int cmd_import_azure(struct ctx *ctx, int argc, char **argv);
int cmd_request(struct ctx *ctx, int argc, char **argv);
int cmd_approve(struct ctx *ctx, int argc, char **argv);
int cmd_deny(struct ctx *ctx, int argc, char **argv);
int cmd_revoke(struct ctx *ctx, int argc, char **argv);
int cmd_grants(struct ctx *ctx, int argc, char **argv);
int cmd_requests(struct ctx *ctx, int argc, char **argv);
int cmd_alerts(struct ctx *ctx, int argc, char **argv);
int cmd_posture(struct ctx *ctx, int argc, char **argv);
int cmd_events(struct ctx *ctx, int argc, char **argv);
int cmd_metrics(struct ctx *ctx, int argc, char **argv);

#endif
