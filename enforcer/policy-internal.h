/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy loader's insides, shared by its three files: policy-yaml.c
 * (the YAML tree and the messages), policy.c (the schema: what a policy
 * may say) and policy-set.c (files, directories and the set in force).
 */
#ifndef JIT_POLICY_INTERNAL_H
#define JIT_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "policy.h"

#define DESCRIPTION_MAX	   1024
#define PRINCIPAL_NAME_MAX 64
/* A policy needs four levels; the cap keeps node_free's recursion short. */
#define YAML_DEPTH_MAX 16
/* 64 ports x 256 sources plus the rest fits well below this. */
#define YAML_NODES_MAX 65536
/* Enough to fix a file; bounds the text one bad file can produce. */
#define FILE_ERRORS_MAX 50
/* Characters of a user's value quoted in a message. */
#define QUOTE_MAX    64
#define QUOTE_BUF    (QUOTE_MAX * 6 + 4)
#define DESCRIBE_BUF (QUOTE_BUF + 32)

#define SOURCES_WHAT  "a CIDR like 192.0.2.0/24 or 2001:db8::/32, or any"
#define DURATION_WHAT "a duration like 90s, 15m, 3h, 1h30m or PT3H"
#define PORT_WHAT     "a port number 1..65535 or a range like 5985-5986"

/*
 * One entry of a file: the policy and where its name was written, for
 * messages about a name clash found after parsing.
 */
struct policy_entry {
	struct jit_policy p;
	unsigned name_line;
	unsigned name_col;
};

struct jit_policy_file {
	char *path;
	char *text; /* the source, kept as the file's last good version */
	size_t len;
	struct policy_entry *entries;
	size_t n;
	size_t cap;
};

struct jit_policy_set {
	struct jit_policy_file **files; /* sorted by path */
	size_t n_files;
	size_t cap_files;
	const struct jit_policy **index; /* every policy, in file order */
	size_t n_index;
	size_t cap_index;
};

enum node_kind {
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP,
};

/*
 * A YAML value with its position. A mapping's kids alternate key, value.
 * @plain: a plain scalar, which YAML may read as null, boolean or number.
 * @bad: already reported (an alias or a tag); validators stay silent.
 */
struct node {
	enum node_kind kind;
	bool plain;
	bool bad;
	unsigned line;
	unsigned col;
	char *text;
	struct node **kids;
	size_t n_kids;
	size_t cap_kids;
};

struct seen_name {
	char name[JIT_POLICY_NAME_MAX + 1];
	unsigned line;
};

/* An error held until its document is done, to be reported in line order. */
struct pending_error {
	unsigned line;
	unsigned col;
	unsigned seq;
	char *msg;
};

struct parse_ctx {
	const char *path;
	const char *src; /* NUL-terminated, for the lines shown in messages */
	struct jit_diag *diag;
	unsigned errors;
	unsigned errors_at_doc; /* c->errors when the document started */
	struct pending_error *pending;
	size_t n_pending;
	size_t cap_pending;
	struct jit_policy_file *file;
	struct seen_name *names; /* every valid name met, to find duplicates */
	size_t n_names;
	size_t cap_names;
	/* Another schema on the same YAML tree (fleet.yaml); NULL: policies. */
	void (*validate)(struct parse_ctx *c, const struct node *root);
	void *userdata;
	const char *empty_msg; /* when the file holds no document */
};

struct builder {
	struct node *stack[YAML_DEPTH_MAX];
	size_t depth;
	struct node *root;
	size_t n_nodes;
	unsigned docs;
	bool done;
};

struct key_handler {
	const char *key;
	void (*parse)(struct parse_ctx *c, const struct node *v, void *obj);
};

const char *node_describe(const struct node *n, char buf[static DESCRIBE_BUF]);
bool node_is_bool(const struct node *n);
bool node_is_null(const struct node *n);
bool node_is_number(const struct node *n);
__attribute__((format(printf, 3, 4))) int
node_err(struct parse_ctx *c, const struct node *n, const char *fmt, ...);
const char *msg_quote(char buf[static QUOTE_BUF], const char *s);
void node_walk_mapping(struct parse_ctx *c, const struct node *m,
		       const char *where, const struct key_handler *keys,
		       size_t n_keys, const struct node **seen, void *obj);
bool node_want_kind(struct parse_ctx *c, const struct node *n,
		    enum node_kind kind, const char *key, const char *what);
const char *node_want_scalar(struct parse_ctx *c, const struct node *n,
			     const char *key, const char *what);
int policy_parse_stream(struct parse_ctx *c, const char *text, size_t len);
void policy_release(struct jit_policy *p);
void policy_validate_document(struct parse_ctx *c, const struct node *root);

#endif
