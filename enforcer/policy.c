/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy loader. libyaml's event parser feeds a small tree of nodes that
 * keep their positions; the validator walks that tree, reports every problem
 * with file:line:col into a jit_diag and builds struct jit_policy only from
 * documents that are entirely valid.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "duration.h"
#include "policy.h"
#include "util.h"

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

/* --- messages ----------------------------------------------------------- */

/*
 * Errors are found in tree order (the builder's before the validator's),
 * and held so that each document's are reported by position.
 */
__attribute__((format(printf, 4, 0))) static int
vperr(struct parse_ctx *c, unsigned line, unsigned col, const char *fmt,
      va_list ap)
{
	struct pending_error *e;
	char *msg;

	c->errors++;
	if (c->errors > FILE_ERRORS_MAX)
		return -EINVAL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return -EINVAL;
	if (grow_array((void **)&c->pending, &c->cap_pending, c->n_pending + 1,
		       sizeof(*c->pending)) < 0) {
		diag_error(c->diag, c->path, c->src, line, col, "%s", msg);
		free(msg);
		return -EINVAL;
	}
	e = &c->pending[c->n_pending];
	*e = (struct pending_error){ line, col, (unsigned)c->n_pending, msg };
	c->n_pending++;
	return -EINVAL;
}

static int cmp_pending(const void *a, const void *b)
{
	const struct pending_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void flush_errors(struct parse_ctx *c)
{
	if (c->n_pending)
		qsort(c->pending, c->n_pending, sizeof(*c->pending),
		      cmp_pending);
	for (size_t i = 0; i < c->n_pending; i++) {
		const struct pending_error *e = &c->pending[i];

		diag_error(c->diag, c->path, c->src, e->line, e->col, "%s",
			   e->msg);
		free(e->msg);
	}
	c->n_pending = 0;
}

__attribute__((format(printf, 4, 5))) static int
perr(struct parse_ctx *c, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vperr(c, line, col, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 3, 4))) static int
node_err(struct parse_ctx *c, const struct node *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vperr(c, n->line, n->col, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * A user's value for a message: cut to QUOTE_MAX characters, and control
 * characters (which double-quoted YAML can carry) escaped so they cannot
 * drive the reader's terminal.
 */
static const char *quote(char buf[static QUOTE_BUF], const char *s)
{
	size_t o = 0;

	for (unsigned shown = 0; *s; shown++) {
		unsigned char ch = (unsigned char)s[0];

		if (shown == QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)sprintf(buf + o, "\\x%02x", ch);
			s++;
		} else if (ch == 0xc2 && (unsigned char)s[1] >= 0x80 &&
			   (unsigned char)s[1] < 0xa0) {
			o += (size_t)sprintf(buf + o, "\\u%04x",
					     (unsigned char)s[1]);
			s += 2;
		} else {
			size_t l = ch < 0x80	? 1
				   : ch >= 0xf0 ? 4
				   : ch >= 0xe0 ? 3
						: 2;

			for (size_t i = 0; i < l && *s; i++)
				buf[o++] = *s++;
		}
	}
	buf[o] = '\0';
	return buf;
}

static bool is_null(const struct node *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->kind != NODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (streq(n->text, nulls[i]))
			return true;
	return false;
}

/* YAML 1.2 booleans; yes/no/on/off stay strings, none is a valid value. */
static bool is_bool(const struct node *n)
{
	static const char *const bools[] = { "true",  "True",  "TRUE",
					     "false", "False", "FALSE" };

	if (n->kind != NODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
		if (streq(n->text, bools[i]))
			return true;
	return false;
}

static bool is_number(const struct node *n)
{
	const char *s = n->text;

	if (n->kind != NODE_SCALAR || !n->plain)
		return false;
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '.')
		s++;
	return *s >= '0' && *s <= '9';
}

/* "a mapping", "a list", "null", "a string 'x'": what the user wrote. */
static const char *describe(const struct node *n, char buf[static DESCRIBE_BUF])
{
	char q[QUOTE_BUF];

	if (n->kind == NODE_MAP)
		return "a mapping";
	if (n->kind == NODE_SEQ)
		return "a list";
	if (is_null(n))
		return "null";
	snprintf(buf, DESCRIBE_BUF, "%s '%s'",
		 is_bool(n)	? "a boolean"
		 : is_number(n) ? "a number"
				: "a string",
		 quote(q, n->text));
	return buf;
}

/* The text of a scalar that is not null or boolean, or NULL (reported). */
static const char *want_scalar(struct parse_ctx *c, const struct node *n,
			       const char *key, const char *what)
{
	char d[DESCRIBE_BUF];

	if (n->bad)
		return NULL;
	if (n->kind == NODE_SCALAR && !is_null(n) && !is_bool(n))
		return n->text;
	node_err(c, n, "%s: expected %s, got %s", key, what, describe(n, d));
	return NULL;
}

static bool want_kind(struct parse_ctx *c, const struct node *n,
		      enum node_kind kind, const char *key, const char *what)
{
	char d[DESCRIBE_BUF];

	if (n->bad)
		return false;
	if (n->kind == kind)
		return true;
	node_err(c, n, "%s: expected %s, got %s", key, what, describe(n, d));
	return false;
}

/* --- the node tree -------------------------------------------------------- */

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

/* Create a node and hang it under the open collection (or as the root). */
static int builder_add(struct parse_ctx *c, struct builder *b,
		       enum node_kind kind, const yaml_mark_t *mark,
		       struct node **ret)
{
	struct node *n, *parent;
	int r;

	if (++b->n_nodes > YAML_NODES_MAX)
		return perr(c, (unsigned)mark->line + 1,
			    (unsigned)mark->column + 1,
			    "document has more than %d values; a policy is "
			    "much smaller",
			    YAML_NODES_MAX);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;

	if (b->depth == 0) {
		node_free(b->root);
		b->root = n;
	} else {
		parent = b->stack[b->depth - 1];
		r = grow_array((void **)&parent->kids, &parent->cap_kids,
			       parent->n_kids + 1, sizeof(*parent->kids));
		if (r < 0) {
			free(n);
			return r;
		}
		parent->kids[parent->n_kids++] = n;
	}
	*ret = n;
	return 0;
}

static void check_anchor_tag(struct parse_ctx *c, struct node *n,
			     const yaml_char_t *anchor, const yaml_char_t *tag)
{
	char q[QUOTE_BUF];

	/* Aliases can multiply a small file into a huge tree. */
	if (anchor)
		node_err(c, n,
			 "anchor '&%s' is not supported: policy files may not "
			 "use anchors or aliases",
			 quote(q, (const char *)anchor));
	if (tag) {
		const char *t = (const char *)tag;

		/* Show "!!str" as written, not libyaml's expansion of it. */
		if (strncmp(t, "tag:yaml.org,2002:", 18) == 0)
			node_err(c, n,
				 "tag '!!%s' is not supported: write plain "
				 "values without tags",
				 quote(q, t + 18));
		else
			node_err(c, n,
				 "tag '%s' is not supported: write plain "
				 "values without tags",
				 quote(q, t));
		n->bad = true;
	}
}

static void validate_document(struct parse_ctx *c, const struct node *root);

static int builder_event(struct parse_ctx *c, struct builder *b,
			 const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	char q[QUOTE_BUF];
	struct node *n;
	int r;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		b->done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		b->n_nodes = 0;
		c->errors_at_doc = c->errors;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		b->docs++;
		if (b->root)
			validate_document(c, b->root);
		node_free(b->root);
		b->root = NULL;
		flush_errors(c);
		return 0;
	case YAML_ALIAS_EVENT:
		r = builder_add(c, b, NODE_SCALAR, m, &n);
		if (r < 0)
			return r;
		n->bad = true;
		node_err(c, n,
			 "alias '*%s' is not supported: policy files may not "
			 "use anchors or aliases",
			 quote(q, (const char *)ev->data.alias.anchor));
		n->text = strdup("");
		return n->text ? 0 : -ENOMEM;
	case YAML_SCALAR_EVENT:
		r = builder_add(c, b, NODE_SCALAR, m, &n);
		if (r < 0)
			return r;
		n->text = strndup((const char *)ev->data.scalar.value,
				  ev->data.scalar.length);
		if (!n->text)
			return -ENOMEM;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		check_anchor_tag(c, n, ev->data.scalar.anchor,
				 ev->data.scalar.tag);
		/* "\0" in a quoted scalar would cut every string after it. */
		if (!n->bad && strlen(n->text) != ev->data.scalar.length) {
			node_err(c, n, "value contains a NUL character");
			n->bad = true;
		}
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		r = builder_add(c, b,
				ev->type == YAML_MAPPING_START_EVENT ? NODE_MAP
								     : NODE_SEQ,
				m, &n);
		if (r < 0)
			return r;
		if (ev->type == YAML_MAPPING_START_EVENT)
			check_anchor_tag(c, n, ev->data.mapping_start.anchor,
					 ev->data.mapping_start.tag);
		else
			check_anchor_tag(c, n, ev->data.sequence_start.anchor,
					 ev->data.sequence_start.tag);
		if (b->depth == YAML_DEPTH_MAX)
			return node_err(c, n,
					"values are nested more than %d levels "
					"deep; a policy needs four",
					YAML_DEPTH_MAX);
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	default:
		return 0;
	}
}

/* 1-based line and column of a byte offset, counted as libyaml does. */
static void offset_to_mark(const char *src, size_t offset, unsigned *line,
			   unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset && src[i]; i++) {
		if (src[i] == '\n' || (src[i] == '\r' && src[i + 1] != '\n')) {
			(*line)++;
			*col = 1;
		} else if ((src[i] & 0xc0) != 0x80 && src[i] != '\r') {
			(*col)++;
		}
	}
}

/* Character number index of src (libyaml's mark.index counts characters). */
static const char *char_at(const char *src, size_t index)
{
	if (strncmp(src, "\xef\xbb\xbf", 3) == 0)
		src += 3;
	for (; *src && index > 0; index--) {
		src++;
		while ((*src & 0xc0) == 0x80)
			src++;
	}
	return src;
}

static int report_yaml_error(struct parse_ctx *c, const yaml_parser_t *p)
{
	unsigned line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return -ENOMEM;
	case YAML_READER_ERROR:
		offset_to_mark(c->src, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			return perr(c, line, col, "invalid input: %s (0x%X)",
				    p->problem, (unsigned)p->problem_value);
		return perr(c, line, col, "invalid input: %s", p->problem);
	default:
		line = (unsigned)p->problem_mark.line + 1;
		col = (unsigned)p->problem_mark.column + 1;
		/* libyaml's message for the most common mistake is cryptic. */
		if (*char_at(c->src, p->problem_mark.index) == '\t')
			return perr(c, line, col,
				    "invalid YAML: a tab character; YAML "
				    "indents with spaces only");
		if (p->context)
			return perr(c, line, col,
				    "invalid YAML: %s (%s started at line %u)",
				    p->problem, p->context,
				    (unsigned)p->context_mark.line + 1);
		return perr(c, line, col, "invalid YAML: %s",
			    p->problem ? p->problem : "syntax error");
	}
}

/* Feed every document of text to validate_document; -errno if it stops. */
static int parse_stream(struct parse_ctx *c, const char *text, size_t len)
{
	struct builder b = { 0 };
	yaml_parser_t parser;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	/* UTF-16 would make the lines we show unreadable; refuse it. */
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

	while (!b.done && r == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			r = report_yaml_error(c, &parser);
			break;
		}
		r = builder_event(c, &b, &ev);
		yaml_event_delete(&ev);
	}
	node_free(b.root);
	yaml_parser_delete(&parser);
	if (r == 0 && b.docs == 0)
		r = perr(c, 0, 0,
			 "no policy in file; expected at least one YAML "
			 "document with name and ports");
	flush_errors(c);
	free(c->pending);
	if (c->errors > FILE_ERRORS_MAX)
		diag_error(c->diag, c->path, NULL, 0, 0,
			   "too many errors; not reporting more");
	return r;
}

/* --- walking mappings ----------------------------------------------------- */

static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[JIT_POLICY_NAME_MAX + 1];
	size_t lb = strlen(b);

	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; a[i - 1]; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct parse_ctx *c, const struct node *k,
			const char *where, const struct key_handler *keys,
			size_t n_keys)
{
	char allowed[256] = "", hint[64] = "", q[QUOTE_BUF];
	unsigned best = 3;

	for (size_t i = 0; i < n_keys; i++) {
		size_t o = strlen(allowed);

		snprintf(allowed + o, sizeof(allowed) - o, "%s%s",
			 i ? ", " : "", keys[i].key);
		/* Known keys are short; anything longer is no typo of one. */
		if (strlen(k->text) <= JIT_POLICY_NAME_MAX &&
		    strlen(keys[i].key) <= JIT_POLICY_NAME_MAX) {
			unsigned d = edit_distance(k->text, keys[i].key);

			/* Two edits turn "base" into "name": too loose. */
			if (d < best && (d == 1 || strlen(keys[i].key) >= 6)) {
				best = d;
				snprintf(hint, sizeof(hint),
					 "did you mean '%s'? ", keys[i].key);
			}
		}
	}
	node_err(c, k, "unknown key '%s' in %s; %sallowed keys: %s",
		 quote(q, k->text), where, hint, allowed);
}

/*
 * Hand each value of mapping m to the handler of its key. Reports keys that
 * are not scalars, unknown or repeated. seen[i] gets the key node of
 * keys[i], so callers can tell what was given and where.
 */
static void walk_mapping(struct parse_ctx *c, const struct node *m,
			 const char *where, const struct key_handler *keys,
			 size_t n_keys, const struct node **seen, void *obj)
{
	char d[DESCRIBE_BUF];

	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];
		size_t h;

		if (k->bad)
			continue;
		if (k->kind != NODE_SCALAR) {
			node_err(c, k, "a key must be a word, got %s",
				 describe(k, d));
			continue;
		}
		for (h = 0; h < n_keys; h++)
			if (streq(k->text, keys[h].key))
				break;
		if (h == n_keys) {
			unknown_key(c, k, where, keys, n_keys);
			continue;
		}
		if (seen[h]) {
			node_err(c, k, "duplicate key '%s' (first at line %u)",
				 keys[h].key, seen[h]->line);
			continue;
		}
		seen[h] = k;
		keys[h].parse(c, v, obj);
	}
}

/* --- values --------------------------------------------------------------- */

static bool valid_policy_name(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= JIT_POLICY_NAME_MAX && !s[n];
}

/*
 * User and group names as shadow-utils accepts them, plus '@' for directory
 * users (alice@example.com). All digits is refused: it reads as a uid.
 */
static bool valid_principal_name(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-");

	if (s[n] == '$' && !s[n + 1])
		n++;
	if (n == 0 || s[n] || n > PRINCIPAL_NAME_MAX || s[0] == '-')
		return false;
	if (streq(s, ".") || streq(s, ".."))
		return false;
	return strspn(s, "0123456789") != n;
}

/* As the kernel's dev_valid_name, printable only, plus a trailing '*'. */
static bool valid_interface_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == ':')
			return false;
		if (ch == '*' && (i != n - 1 || n == 1))
			return false;
	}
	return true;
}

/*
 * "22" or "5985-5986", decimal without leading zeros: YAML 1.1 reads "022"
 * as octal, so such a value means different things to different tools.
 * Returns 0, -EINVAL (syntax), -ERANGE (0 or above 65535) or -EDOM
 * (reversed range; *lo and *hi are set as written).
 */
static int parse_port_spec(const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long v[2] = { 0, 0 };
	unsigned n = 0;

	for (;;) {
		if (*s < '0' || *s > '9' ||
		    (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++)
			if (v[n] <= 65535)
				v[n] = v[n] * 10 + (unsigned long)(*s - '0');
		n++;
		if (!*s)
			break;
		if (*s != '-' || n == 2)
			return -EINVAL;
		s++;
	}
	if (n == 1)
		v[1] = v[0];
	if (v[0] == 0 || v[0] > 65535 || v[1] == 0 || v[1] > 65535)
		return -ERANGE;
	*lo = (uint16_t)v[0];
	*hi = (uint16_t)v[1];
	return v[0] > v[1] ? -EDOM : 0;
}

struct port_build {
	struct jit_port_rule *rule;
	bool port_ok;
};

static void parse_port(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct port_build *pb = obj;
	char q[QUOTE_BUF];
	const char *s;
	uint16_t lo = 0, hi = 0;
	int r;

	s = want_scalar(c, v, "port", PORT_WHAT);
	if (!s)
		return;
	r = parse_port_spec(s, &lo, &hi);
	if (r == -EINVAL) {
		node_err(c, v, "port '%s' is not valid; expected %s",
			 quote(q, s), PORT_WHAT);
	} else if (r == -ERANGE) {
		node_err(c, v, "port '%s' is out of range; ports are 1..65535",
			 quote(q, s));
	} else if (r == -EDOM) {
		node_err(c, v,
			 "port range '%s' ends before it starts; write "
			 "'%u-%u'",
			 quote(q, s), hi, lo);
	} else {
		pb->rule->port_lo = lo;
		pb->rule->port_hi = hi;
		pb->port_ok = true;
	}
}

static void parse_protocol(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct port_build *pb = obj;
	char q[QUOTE_BUF];
	const char *s;

	s = want_scalar(c, v, "protocol", "tcp, udp or any");
	if (!s)
		return;
	if (streq(s, "tcp"))
		pb->rule->protos = JIT_PROTO_TCP;
	else if (streq(s, "udp"))
		pb->rule->protos = JIT_PROTO_UDP;
	else if (streq(s, "any"))
		pb->rule->protos = JIT_PROTO_TCP | JIT_PROTO_UDP;
	else
		node_err(c, v,
			 "protocol '%s' is not valid; allowed: tcp, udp, any",
			 quote(q, s));
}

static void parse_max_duration(struct parse_ctx *c, const struct node *v,
			       void *obj)
{
	struct port_build *pb = obj;
	char q[QUOTE_BUF];
	const char *s;
	uint64_t sec;
	int r;

	s = want_scalar(c, v, "max_duration", DURATION_WHAT);
	if (!s)
		return;
	r = duration_parse(s, &sec);
	if (r == -EINVAL)
		node_err(c, v,
			 "max_duration '%s' is not a valid duration; use "
			 "forms like 90s, 15m, 3h, 1h30m, 1d or PT3H",
			 quote(q, s));
	else if (r < 0 || sec > JIT_DURATION_MAX_S)
		node_err(c, v, "max_duration '%s' exceeds the limit of %uh",
			 quote(q, s), JIT_DURATION_MAX_S / 3600);
	else if (sec == 0)
		node_err(c, v,
			 "max_duration '%s' is zero; the shortest allowed "
			 "is 1s",
			 quote(q, s));
	else
		pb->rule->max_duration_s = (uint32_t)sec;
}

static void parse_allowed_sources(struct parse_ctx *c, const struct node *v,
				  void *obj)
{
	struct jit_port_rule *rule = ((struct port_build *)obj)->rule;
	const struct node *const *items = &v;
	const struct node *first_any = NULL, *first_cidr = NULL;
	char q[QUOTE_BUF], d[DESCRIBE_BUF], fix[JIT_PREFIX_STRLEN];
	bool mixed = false;
	size_t n = 1;

	if (v->bad)
		return;
	if (v->kind == NODE_SEQ) {
		items = (const struct node *const *)v->kids;
		n = v->n_kids;
		if (n == 0) {
			node_err(c, v,
				 "allowed_sources is empty; write [any] or "
				 "list CIDRs");
			return;
		}
	} else if (v->kind != NODE_SCALAR || is_null(v) || is_bool(v)) {
		node_err(c, v,
			 "allowed_sources: expected a list of CIDRs, or any, "
			 "got %s",
			 describe(v, d));
		return;
	}
	if (n > JIT_POLICY_MAX_SOURCES) {
		node_err(c, items[JIT_POLICY_MAX_SOURCES],
			 "allowed_sources has %zu entries; at most %d are "
			 "allowed",
			 n, JIT_POLICY_MAX_SOURCES);
		return;
	}
	rule->sources = calloc(n, sizeof(*rule->sources));
	if (!rule->sources) {
		node_err(c, v, "out of memory");
		return;
	}

	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		struct jit_prefix p;
		bool host_bits;
		const char *s;

		s = want_scalar(c, it, "allowed_sources", SOURCES_WHAT);
		if (!s)
			continue;
		if (streq(s, "any")) {
			if (!first_any)
				first_any = it;
		} else if (prefix_parse_relaxed(s, &p, &host_bits) < 0) {
			node_err(c, it,
				 "allowed_sources: '%s' is not valid; "
				 "expected %s",
				 quote(q, s), SOURCES_WHAT);
			continue;
		} else if (host_bits) {
			node_err(c, it,
				 "allowed_sources: '%s' has host bits set; "
				 "did you mean %s?",
				 quote(q, s),
				 prefix_format(&p, fix, sizeof(fix)));
			continue;
		} else {
			if (!first_cidr)
				first_cidr = it;
			rule->sources[rule->n_sources++] = p;
		}
		if (first_any && first_cidr && !mixed) {
			node_err(c, it,
				 "allowed_sources: 'any' cannot be combined "
				 "with CIDRs; write either [any] or a list of "
				 "CIDRs");
			mixed = true;
		}
	}
	rule->any_source = first_any && !first_cidr;
}

static const struct key_handler port_keys[] = {
	{ "port", parse_port },
	{ "protocol", parse_protocol },
	{ "max_duration", parse_max_duration },
	{ "allowed_sources", parse_allowed_sources },
};

/* Fills rule; returns true if the entry is valid. */
static bool parse_port_entry(struct parse_ctx *c, const struct node *v,
			     struct jit_port_rule *rule)
{
	const struct node *seen[ARRAY_SIZE(port_keys)] = { 0 };
	struct port_build pb = { .rule = rule };
	unsigned errors = c->errors;
	char d[DESCRIBE_BUF];

	rule->protos = JIT_PROTO_TCP;
	rule->max_duration_s = JIT_POLICY_DEFAULT_MAX_DURATION_S;
	rule->any_source = true;
	if (v->bad)
		return false;
	if (v->kind != NODE_MAP) {
		node_err(c, v,
			 "ports: expected a port entry (a mapping with port, "
			 "protocol, max_duration, allowed_sources), got %s",
			 describe(v, d));
		return false;
	}
	walk_mapping(c, v, "a port entry", port_keys, ARRAY_SIZE(port_keys),
		     seen, &pb);
	if (!seen[0])
		node_err(c, v, "missing required key 'port' in port entry");
	return c->errors == errors && pb.port_ok;
}

const char *protos_name(unsigned protos)
{
	switch (protos) {
	case JIT_PROTO_TCP:
		return "tcp";
	case JIT_PROTO_UDP:
		return "udp";
	default:
		return "tcp,udp";
	}
}

static void parse_ports(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_policy *p = obj;
	bool ok[JIT_POLICY_MAX_PORTS];

	if (!want_kind(c, v, NODE_SEQ, "ports", "a list of port entries"))
		return;
	if (v->n_kids == 0) {
		node_err(c, v, "ports is empty; list at least one port");
		return;
	}
	if (v->n_kids > JIT_POLICY_MAX_PORTS) {
		node_err(c, v->kids[JIT_POLICY_MAX_PORTS],
			 "ports has %zu entries; at most %d are allowed",
			 v->n_kids, JIT_POLICY_MAX_PORTS);
		return;
	}
	p->ports = calloc(v->n_kids, sizeof(*p->ports));
	if (!p->ports) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		ok[i] = parse_port_entry(c, v->kids[i], &p->ports[i]);
		p->n_ports++;
	}

	/* A request for a port must match one entry, or its limits are moot. */
	for (size_t j = 0; j < p->n_ports; j++) {
		const struct jit_port_rule *b = &p->ports[j];

		for (size_t i = 0; ok[j] && i < j; i++) {
			const struct jit_port_rule *a = &p->ports[i];

			if (!ok[i] || !(a->protos & b->protos) ||
			    a->port_hi < b->port_lo || b->port_hi < a->port_lo)
				continue;
			node_err(c, v->kids[j],
				 "port entry overlaps the one at line %u (%s "
				 "port %u); each port and protocol may appear "
				 "once per policy",
				 v->kids[i]->line,
				 protos_name(a->protos & b->protos),
				 a->port_lo > b->port_lo ? a->port_lo
							 : b->port_lo);
			break;
		}
	}
}

static void parse_name(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_policy *p = obj;
	char q[QUOTE_BUF];
	const char *s;

	s = want_scalar(c, v, "name", "a policy name");
	if (!s)
		return;
	if (strlen(s) > JIT_POLICY_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s))
		node_err(c, v,
			 "name '%s' is too long (%zu characters); at most %d "
			 "are allowed",
			 quote(q, s), strlen(s), JIT_POLICY_NAME_MAX);
	else if (!valid_policy_name(s))
		node_err(c, v,
			 "name '%s' is not valid; use 1 to %d characters "
			 "from a-z, 0-9, '_' and '-'",
			 quote(q, s), JIT_POLICY_NAME_MAX);
	else
		strcpy(p->name, s);
}

static void parse_description(struct parse_ctx *c, const struct node *v,
			      void *obj)
{
	struct jit_policy *p = obj;
	const char *s;
	size_t n;

	s = want_scalar(c, v, "description", "a string");
	if (!s)
		return;
	/* Block scalars (">", "|") end with a newline nobody means. */
	n = strlen(s);
	while (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > DESCRIPTION_MAX) {
		node_err(c, v,
			 "description is %zu bytes long; at most %d are "
			 "allowed",
			 n, DESCRIPTION_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f ||
		    (ch == 0xc2 && (unsigned char)s[i + 1] < 0xa0)) {
			node_err(c, v,
				 "description must be one line of text "
				 "without control characters");
			return;
		}
	}
	if (n == 0)
		return;
	p->description = strndup(s, n);
	if (!p->description)
		node_err(c, v, "out of memory");
}

static void parse_interfaces(struct parse_ctx *c, const struct node *v,
			     void *obj)
{
	struct jit_policy *p = obj;
	char q[QUOTE_BUF];

	if (!want_kind(c, v, NODE_SEQ, "interfaces",
		       "a list of interface names"))
		return;
	if (v->n_kids == 0) {
		node_err(c, v,
			 "interfaces is empty; leave the key out to enforce "
			 "on all interfaces");
		return;
	}
	if (v->n_kids > JIT_POLICY_MAX_IFACES) {
		node_err(c, v->kids[JIT_POLICY_MAX_IFACES],
			 "interfaces has %zu entries; at most %d are allowed",
			 v->n_kids, JIT_POLICY_MAX_IFACES);
		return;
	}
	p->interfaces = calloc(v->n_kids, sizeof(*p->interfaces));
	if (!p->interfaces) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s;

		s = want_scalar(c, it, "interfaces", "an interface name");
		if (!s)
			continue;
		if (strlen(s) >= IFNAMSIZ)
			node_err(c, it,
				 "interface name '%s' is too long (%zu "
				 "characters); at most %d are allowed",
				 quote(q, s), strlen(s), IFNAMSIZ - 1);
		else if (streq(s, "*"))
			node_err(c, it,
				 "interface name '*' would match every "
				 "interface; leave interfaces out instead");
		else if (!valid_interface_name(s))
			node_err(c, it,
				 "interface name '%s' is not valid; no "
				 "spaces, '/' or ':', and '*' only at the end "
				 "to match a prefix",
				 quote(q, s));
		else
			strcpy(p->interfaces[p->n_interfaces++], s);
	}
}

struct principals_build {
	struct jit_principals *pr;
	const char *key; /* "requesters" or "approvers" */
};

static void parse_names(struct parse_ctx *c, const struct node *v,
			struct principals_build *pb, bool groups)
{
	struct jit_principals *pr = pb->pr;
	const char *key = groups ? "groups" : "users";
	const char *kind = groups ? "group" : "user";
	char ***names = groups ? &pr->groups : &pr->users;
	size_t *n = groups ? &pr->n_groups : &pr->n_users;
	char q[QUOTE_BUF], what[32];

	snprintf(what, sizeof(what), "a list of %s names", kind);
	if (!want_kind(c, v, NODE_SEQ, key, what))
		return;
	if (v->n_kids + pr->n_users + pr->n_groups >
	    JIT_POLICY_MAX_PRINCIPALS) {
		node_err(c, v,
			 "%s has %zu users and groups; at most %d are allowed",
			 pb->key, v->n_kids + pr->n_users + pr->n_groups,
			 JIT_POLICY_MAX_PRINCIPALS);
		return;
	}
	*names = calloc(v->n_kids ? v->n_kids : 1, sizeof(**names));
	if (!*names) {
		node_err(c, v, "out of memory");
		return;
	}
	snprintf(what, sizeof(what), "a %s name", kind);
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s = want_scalar(c, it, key, what);

		if (!s)
			continue;
		if (!valid_principal_name(s)) {
			node_err(c, it,
				 "%s name '%s' is not valid; use 1 to %d of "
				 "A-Z a-z 0-9 . _ - @ and a final $, not "
				 "starting with '-', not all digits",
				 kind, quote(q, s), PRINCIPAL_NAME_MAX);
			continue;
		}
		(*names)[*n] = strdup(s);
		if (!(*names)[*n]) {
			node_err(c, it, "out of memory");
			return;
		}
		(*n)++;
	}
}

static void parse_users(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_names(c, v, obj, false);
}

static void parse_groups(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_names(c, v, obj, true);
}

static const struct key_handler principal_keys[] = {
	{ "users", parse_users },
	{ "groups", parse_groups },
};

static void parse_principals(struct parse_ctx *c, const struct node *v,
			     struct jit_principals *pr, const char *key)
{
	const struct node *seen[ARRAY_SIZE(principal_keys)] = { 0 };
	struct principals_build pb = { .pr = pr, .key = key };

	if (!want_kind(c, v, NODE_MAP, key, "a mapping with users and groups"))
		return;
	walk_mapping(c, v, key, principal_keys, ARRAY_SIZE(principal_keys),
		     seen, &pb);
}

static void parse_requesters(struct parse_ctx *c, const struct node *v,
			     void *obj)
{
	parse_principals(c, v, &((struct jit_policy *)obj)->requesters,
			 "requesters");
}

static void parse_approvers(struct parse_ctx *c, const struct node *v,
			    void *obj)
{
	parse_principals(c, v, &((struct jit_policy *)obj)->approvers,
			 "approvers");
}

/* A scalar that must be one of two words: 0 for a, 1 for b, -1 if not. */
static int parse_word(struct parse_ctx *c, const struct node *v,
		      const char *key, const char *a, const char *b)
{
	char what[64], q[QUOTE_BUF];
	const char *s;

	snprintf(what, sizeof(what), "%s or %s", a, b);
	s = want_scalar(c, v, key, what);
	if (!s)
		return -1;
	if (streq(s, a))
		return 0;
	if (streq(s, b))
		return 1;
	node_err(c, v, "%s '%s' is not valid; allowed: %s, %s", key,
		 quote(q, s), a, b);
	return -1;
}

static void parse_approval(struct parse_ctx *c, const struct node *v, void *obj)
{
	int r = parse_word(c, v, "approval", "auto", "manual");

	if (r >= 0)
		((struct jit_policy *)obj)->approval =
			r ? JIT_APPROVAL_MANUAL : JIT_APPROVAL_AUTO;
}

static void parse_action(struct parse_ctx *c, const struct node *v, void *obj)
{
	int r = parse_word(c, v, "action", "drop", "reject");

	if (r >= 0)
		((struct jit_policy *)obj)->action =
			r ? JIT_ACTION_REJECT : JIT_ACTION_DROP;
}

struct limit_def {
	const char *key;
	unsigned bit;
	bool duration;
	uint32_t max;
	size_t offset;
	size_t size;
};

#define LIMIT(k, b, dur, mx, field)                                      \
	{                                                                \
		k, b, dur, mx, offsetof(struct jit_alert_limits, field), \
			sizeof(((struct jit_alert_limits *)0)->field)    \
	}

static const struct limit_def limit_defs[] = {
	LIMIT("repeated_attempts", JIT_ALERT_SET_REPEATED, false, 1000000,
	      repeated_attempts),
	LIMIT("distributed_sources", JIT_ALERT_SET_SOURCES, false, 1000000,
	      distributed_sources),
	/* detect.c follows at most 16 ports per source (DETECT_SCAN_MAX). */
	LIMIT("scan_ports", JIT_ALERT_SET_SCAN, false, 16, scan_ports),
	LIMIT("window", JIT_ALERT_SET_WINDOW, true, 3600, window_s),
	LIMIT("after_grant_end", JIT_ALERT_SET_AFTER_END, true, 86400,
	      after_grant_end_s),
	LIMIT("wide_grant_prefix_v4", JIT_ALERT_SET_WIDE_V4, false, 32,
	      wide_prefix_v4),
	LIMIT("wide_grant_prefix_v6", JIT_ALERT_SET_WIDE_V6, false, 128,
	      wide_prefix_v6),
	/* The detector handles some 30,000 messages a second on one core. */
	LIMIT("log_rate", JIT_ALERT_SET_LOG_RATE, false, 10000, log_rate),
};

static void parse_limit(struct parse_ctx *c, const struct node *v,
			struct jit_alert_limits *al, const struct limit_def *d)
{
	char q[QUOTE_BUF];
	const char *s;
	uint64_t n = 0;
	char *end;

	s = want_scalar(c, v, d->key,
			d->duration ? "a duration such as 60s or 10m"
				    : "a whole number");
	if (!s)
		return;
	if (d->duration) {
		if (duration_parse(s, &n) < 0) {
			node_err(c, v,
				 "%s '%s' is not a valid duration; use forms "
				 "like 60s, 10m or 1h",
				 d->key, quote(q, s));
			return;
		}
	} else {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (!is_number(v) || *s < '0' || *s > '9' || *end || errno) {
			node_err(c, v, "%s '%s' is not a whole number", d->key,
				 quote(q, s));
			return;
		}
	}
	if (n > d->max) {
		node_err(c, v, "%s '%s' is out of range; at most %u%s", d->key,
			 quote(q, s), d->max, d->duration ? "s" : "");
		return;
	}
	if (d->duration && n == 0 && d->bit == JIT_ALERT_SET_WINDOW) {
		node_err(c, v, "window '%s' is zero; the shortest is 1s",
			 quote(q, s));
		return;
	}
	if (d->size == sizeof(uint8_t))
		*((uint8_t *)al + d->offset) = (uint8_t)n;
	else
		memcpy((char *)al + d->offset, &(uint32_t){ (uint32_t)n }, 4);
	al->set |= d->bit;
}

static void parse_mgmt_ports(struct parse_ctx *c, const struct node *v,
			     struct jit_alert_limits *al)
{
	char q[QUOTE_BUF];

	if (!want_kind(c, v, NODE_SEQ, "management_ports",
		       "a list of port numbers"))
		return;
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *k = v->kids[i];
		unsigned long n;
		char *end;

		if (k->kind != NODE_SCALAR || !is_number(k)) {
			node_err(c, k,
				 "management_ports: expected a port "
				 "number");
			continue;
		}
		n = strtoul(k->text, &end, 10);
		if (*end || n < 1 || n > 65535) {
			node_err(c, k,
				 "management_ports: '%s' is not a port "
				 "(1..65535)",
				 quote(q, k->text));
			continue;
		}
		if (al->n_mgmt_ports >= JIT_ALERT_MGMT_PORTS_MAX) {
			node_err(c, k, "management_ports: at most %d ports",
				 JIT_ALERT_MGMT_PORTS_MAX);
			return;
		}
		al->mgmt_ports[al->n_mgmt_ports++] = (uint16_t)n;
	}
	al->set |= JIT_ALERT_SET_MGMT_PORTS;
}

static void parse_alerts(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_alert_limits *al = &((struct jit_policy *)obj)->alerts;
	char q[QUOTE_BUF], allowed[400] = "management_ports";
	char d[DESCRIBE_BUF];

	if (!want_kind(c, v, NODE_MAP, "alerts", "a mapping of thresholds"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++) {
		size_t o = strlen(allowed);

		snprintf(allowed + o, sizeof(allowed) - o, ", %s",
			 limit_defs[i].key);
	}
	for (size_t i = 0; i + 1 < v->n_kids; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		bool found = false;

		if (k->kind != NODE_SCALAR) {
			node_err(c, k, "a key must be a word, got %s",
				 describe(k, d));
			continue;
		}
		for (size_t j = 0; j < i; j += 2)
			if (v->kids[j]->kind == NODE_SCALAR &&
			    streq(v->kids[j]->text, k->text)) {
				node_err(c, k,
					 "duplicate key '%s' (first at line "
					 "%u)",
					 quote(q, k->text), v->kids[j]->line);
				found = true;
				break;
			}
		if (found)
			continue;
		if (streq(k->text, "management_ports")) {
			parse_mgmt_ports(c, val, al);
			continue;
		}
		for (size_t j = 0; j < ARRAY_SIZE(limit_defs); j++)
			if (streq(k->text, limit_defs[j].key)) {
				parse_limit(c, val, al, &limit_defs[j]);
				found = true;
			}
		if (!found)
			node_err(c, k,
				 "unknown key '%s' in alerts; allowed keys: %s",
				 quote(q, k->text), allowed);
	}
}

enum {
	KEY_NAME,
	KEY_DESCRIPTION,
	KEY_PORTS,
	KEY_INTERFACES,
	KEY_REQUESTERS,
	KEY_APPROVAL,
	KEY_APPROVERS,
	KEY_ACTION,
	KEY_ALERTS,
};

static const struct key_handler policy_keys[] = {
	[KEY_NAME] = { "name", parse_name },
	[KEY_DESCRIPTION] = { "description", parse_description },
	[KEY_PORTS] = { "ports", parse_ports },
	[KEY_INTERFACES] = { "interfaces", parse_interfaces },
	[KEY_REQUESTERS] = { "requesters", parse_requesters },
	[KEY_APPROVAL] = { "approval", parse_approval },
	[KEY_APPROVERS] = { "approvers", parse_approvers },
	[KEY_ACTION] = { "action", parse_action },
	[KEY_ALERTS] = { "alerts", parse_alerts },
};

static void principals_release(struct jit_principals *pr)
{
	for (size_t i = 0; i < pr->n_users; i++)
		free(pr->users[i]);
	for (size_t i = 0; i < pr->n_groups; i++)
		free(pr->groups[i]);
	free(pr->users);
	free(pr->groups);
}

/* p->file is the file's path, shared, and not freed here. */
static void policy_release(struct jit_policy *p)
{
	for (size_t i = 0; i < p->n_ports; i++)
		free(p->ports[i].sources);
	free(p->ports);
	free(p->description);
	free(p->interfaces);
	principals_release(&p->requesters);
	principals_release(&p->approvers);
}

/* The value that follows key node k in mapping m. */
static const struct node *value_of(const struct node *m, const struct node *k)
{
	for (size_t i = 0; i + 1 < m->n_kids; i += 2)
		if (m->kids[i] == k)
			return m->kids[i + 1];
	return NULL;
}

/* Remember a valid name; report it if another document has it already. */
static void check_name_unique(struct parse_ctx *c, const struct node *v,
			      const char *name)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (streq(c->names[i].name, name)) {
			node_err(c, v,
				 "duplicate policy name '%s' (first at line "
				 "%u)",
				 name, c->names[i].line);
			return;
		}
	if (grow_array((void **)&c->names, &c->cap_names, c->n_names + 1,
		       sizeof(*c->names)) < 0) {
		node_err(c, v, "out of memory");
		return;
	}
	strcpy(c->names[c->n_names].name, name);
	c->names[c->n_names++].line = v->line;
}

static void validate_document(struct parse_ctx *c, const struct node *root)
{
	const struct node *seen[ARRAY_SIZE(policy_keys)] = { 0 };
	struct jit_policy p = { .file = c->file->path, .line = root->line };
	const struct node *approval, *approvers, *name = NULL;
	/* Includes what the builder found: tags, NUL characters. */
	unsigned errors = c->errors_at_doc;
	struct policy_entry *e;
	char d[DESCRIBE_BUF];

	if (root->bad)
		return;
	if (root->kind == NODE_SCALAR && root->plain && !root->text[0]) {
		node_err(c, root,
			 "empty document; each document between '---' "
			 "markers must be a policy with name and ports");
		return;
	}
	if (root->kind != NODE_MAP) {
		node_err(c, root,
			 "a policy must be a mapping with keys such as name "
			 "and ports, got %s",
			 describe(root, d));
		return;
	}
	walk_mapping(c, root, "a policy", policy_keys, ARRAY_SIZE(policy_keys),
		     seen, &p);
	if (!seen[KEY_NAME])
		node_err(c, root, "missing required key 'name'");
	if (!seen[KEY_PORTS])
		node_err(c, root,
			 "missing required key 'ports'; a policy protects at "
			 "least one port");
	/*
	 * An admin who lists approvers but forgets "approval: manual" would
	 * get requests approved automatically: refuse the combination.
	 */
	approval =
		seen[KEY_APPROVAL] ? value_of(root, seen[KEY_APPROVAL]) : NULL;
	approvers = seen[KEY_APPROVERS] ? value_of(root, seen[KEY_APPROVERS])
					: NULL;
	if (approvers && approvers->kind == NODE_MAP && !approvers->bad &&
	    (!approval ||
	     (approval->kind == NODE_SCALAR && streq(approval->text, "auto"))))
		node_err(c, seen[KEY_APPROVERS],
			 "approvers has no effect with 'approval: auto'; set "
			 "'approval: manual' or remove approvers");
	if (p.name[0]) {
		name = value_of(root, seen[KEY_NAME]);
		check_name_unique(c, name, p.name);
	}

	if (c->errors != errors ||
	    grow_array((void **)&c->file->entries, &c->file->cap,
		       c->file->n + 1, sizeof(*c->file->entries)) < 0) {
		policy_release(&p);
		return;
	}
	e = &c->file->entries[c->file->n++];
	e->p = p;
	e->name_line = name->line;
	e->name_col = name->col;
}

/* --- files ---------------------------------------------------------------- */

struct jit_policy_file *policy_file_free(struct jit_policy_file *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		policy_release(&f->entries[i].p);
	free(f->entries);
	free(f->path);
	free(f->text);
	free(f);
	return NULL;
}

DEFINE_CLEANUP_FUNC(struct jit_policy_file, policy_file_free)

size_t policy_file_count(const struct jit_policy_file *f)
{
	return f->n;
}

const struct jit_policy *policy_file_get(const struct jit_policy_file *f,
					 size_t i)
{
	return i < f->n ? &f->entries[i].p : NULL;
}

const char *policy_file_path(const struct jit_policy_file *f)
{
	return f->path;
}

static int parse_text(const char *path, const char *text, size_t len,
		      struct jit_policy_file **ret, struct jit_diag *diag)
{
	_cleanup_(policy_file_freep) struct jit_policy_file *f = NULL;
	_cleanup_free_ char *src = NULL;
	struct parse_ctx c = { .path = path, .diag = diag };
	int r;

	if (len > JIT_POLICY_FILE_MAX_BYTES)
		return diag_error(diag, path, NULL, 0, 0,
				  "file is %zu bytes; at most %d are allowed",
				  len, JIT_POLICY_FILE_MAX_BYTES);
	if (len == 0)
		return diag_error(diag, path, NULL, 0, 0,
				  "file is empty; expected at least one "
				  "policy with name and ports");
	f = calloc(1, sizeof(*f));
	src = malloc(len + 1);
	if (!f || !src)
		return -ENOMEM;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	memcpy(src, text, len);
	src[len] = '\0';
	c.src = src;
	c.file = f;

	r = parse_stream(&c, text, len);
	free(c.names);
	if (r < 0)
		return r;
	if (c.errors)
		return -EINVAL;
	f->text = TAKE_PTR(src);
	f->len = len;
	*ret = TAKE_PTR(f);
	return 0;
}

int policy_file_parse(const char *path, const char *text, size_t len,
		      struct jit_policy_file **ret, struct jit_diag *diag)
{
	return parse_text(path, text, len, ret, diag);
}

/*
 * Whole file into memory. A policy says who may open which port, so a
 * file every local user can write would hand out access: refused.
 * -ENOENT is not reported when quiet_enoent: the set treats it as removal.
 */
static int read_text(const char *path, struct jit_diag *diag, bool quiet_enoent,
		     char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT || !quiet_enoent)
			diag_error(diag, path, NULL, 0, 0, "cannot open: %s",
				   strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		diag_error(diag, path, NULL, 0, 0, "cannot stat: %s",
			   strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_error(diag, path, NULL, 0, 0, "not a regular file");
		return -EINVAL;
	}
	if (st.st_mode & S_IWOTH) {
		diag_error(diag, path, NULL, 0, 0,
			   "file is writable by every user (mode %04o); a "
			   "policy grants access, so it must not be",
			   (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	for (;;) {
		ssize_t n;

		/* Read one byte past the limit to tell "too big" apart. */
		r = grow_array((void **)&buf, &cap, len + 4096, 1);
		if (r < 0)
			return r;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			diag_error(diag, path, NULL, 0, 0, "cannot read: %s",
				   strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > JIT_POLICY_FILE_MAX_BYTES) {
			diag_error(diag, path, NULL, 0, 0,
				   "file is larger than %d bytes, the limit",
				   JIT_POLICY_FILE_MAX_BYTES);
			return -EFBIG;
		}
	}
	/* NUL-terminated for the source lines shown in messages. */
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int policy_file_load(const char *path, struct jit_policy_file **ret,
		     struct jit_diag *diag)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_text(path, diag, false, &text, &len);
	if (r < 0)
		return r;
	return parse_text(path, text, len, ret, diag);
}

bool policy_is_policy_filename(const char *name)
{
	const char *base = strrchr(name, '/');
	size_t n;

	base = base ? base + 1 : name;
	n = strlen(base);
	if (base[0] == '.')
		return false;
	return (n > 5 && streq(base + n - 5, ".yaml")) ||
	       (n > 4 && streq(base + n - 4, ".yml"));
}

/* --- the set -------------------------------------------------------------- */

struct jit_policy_set *policy_set_new(void)
{
	return calloc(1, sizeof(struct jit_policy_set));
}

struct jit_policy_set *policy_set_free(struct jit_policy_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_files; i++)
		policy_file_free(s->files[i]);
	free(s->files);
	free(s->index);
	free(s);
	return NULL;
}

DEFINE_CLEANUP_FUNC(struct jit_policy_set, policy_set_free)

/* Index of path in s->files, or -1 with *pos where it would go. */
static ssize_t set_lookup(const struct jit_policy_set *s, const char *path,
			  size_t *pos)
{
	size_t lo = 0, hi = s->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(s->files[mid]->path, path);

		if (cmp == 0)
			return (ssize_t)mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return -1;
}

/* Never allocates: callers reserve the room before changing files. */
static void set_reindex(struct jit_policy_set *s)
{
	s->n_index = 0;
	for (size_t i = 0; i < s->n_files; i++)
		for (size_t j = 0; j < s->files[i]->n; j++)
			s->index[s->n_index++] = &s->files[i]->entries[j].p;
}

/* Put f in place of the file with its path; takes f only on success. */
static int set_put(struct jit_policy_set *s, struct jit_policy_file *f)
{
	size_t pos = 0, total = s->n_index + f->n;
	ssize_t i = set_lookup(s, f->path, &pos);
	int r;

	if (i >= 0)
		total -= s->files[i]->n;
	r = grow_array((void **)&s->index, &s->cap_index, total ? total : 1,
		       sizeof(*s->index));
	if (r < 0)
		return r;
	if (i >= 0) {
		policy_file_free(s->files[i]);
		s->files[i] = f;
	} else {
		r = grow_array((void **)&s->files, &s->cap_files,
			       s->n_files + 1, sizeof(*s->files));
		if (r < 0)
			return r;
		memmove(s->files + pos + 1, s->files + pos,
			(s->n_files - pos) * sizeof(*s->files));
		s->files[pos] = f;
		s->n_files++;
	}
	set_reindex(s);
	return 0;
}

int policy_set_remove_file(struct jit_policy_set *s, const char *path)
{
	ssize_t i = set_lookup(s, path, NULL);

	if (i < 0)
		return -ENOENT;
	policy_file_free(s->files[i]);
	memmove(s->files + i, s->files + i + 1,
		(s->n_files - (size_t)i - 1) * sizeof(*s->files));
	s->n_files--;
	set_reindex(s);
	return 0;
}

/*
 * Names of f that another file of s already uses. With diag, each is
 * reported at f's name, naming the other file. Returns how many.
 */
static unsigned set_conflicts(const struct jit_policy_set *s,
			      const struct jit_policy_file *f, const char *src,
			      struct jit_diag *diag)
{
	unsigned n = 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct policy_entry *e = &f->entries[i];

		for (size_t k = 0; k < s->n_files; k++) {
			const struct jit_policy_file *g = s->files[k];

			if (streq(g->path, f->path))
				continue;
			for (size_t j = 0; j < g->n; j++) {
				if (!streq(g->entries[j].p.name, e->p.name))
					continue;
				n++;
				if (diag)
					diag_error(diag, f->path, src,
						   e->name_line, e->name_col,
						   "policy name '%s' is "
						   "already used by %s:%u",
						   e->p.name, g->path,
						   g->entries[j].name_line);
			}
		}
	}
	return n;
}

/*
 * With defer_conflicts, a file whose only problem is a name another file
 * holds is not reported and -EEXIST returned, so that load_dir can retry it
 * once the other files are loaded (a policy moved between two files).
 */
static int set_load(struct jit_policy_set *s, const char *path,
		    struct jit_diag *diag, bool defer_conflicts)
{
	_cleanup_(policy_file_freep) struct jit_policy_file *f = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_text(path, diag, true, &text, &len);
	if (r == -ENOENT) {
		policy_set_remove_file(s, path);
		return 0;
	}
	if (r < 0)
		return r;
	r = parse_text(path, text, len, &f, diag);
	if (r < 0)
		return r;
	if (set_conflicts(s, f, text, NULL)) {
		if (defer_conflicts)
			return -EEXIST;
		set_conflicts(s, f, text, diag);
		return -EINVAL;
	}
	r = set_put(s, f);
	if (r < 0)
		return r;
	TAKE_PTR(f);
	return 0;
}

int policy_set_load_file(struct jit_policy_set *s, const char *path,
			 struct jit_diag *diag)
{
	return set_load(s, path, diag, false);
}

int policy_set_load_text(struct jit_policy_set *s, const char *path,
			 const char *text, size_t len, struct jit_diag *diag)
{
	_cleanup_(policy_file_freep) struct jit_policy_file *f = NULL;
	int r;

	r = parse_text(path, text, len, &f, diag);
	if (r < 0)
		return r;
	if (set_conflicts(s, f, f->text, diag))
		return -EINVAL;
	r = set_put(s, f);
	if (r < 0)
		return r;
	TAKE_PTR(f);
	return 0;
}

size_t policy_set_file_count(const struct jit_policy_set *s)
{
	return s->n_files;
}

const struct jit_policy_file *policy_set_file(const struct jit_policy_set *s,
					      size_t i)
{
	return i < s->n_files ? s->files[i] : NULL;
}

const char *policy_file_text(const struct jit_policy_file *f, size_t *len)
{
	*len = f->len;
	return f->text;
}

bool policy_set_has_file(const struct jit_policy_set *s, const char *path)
{
	return set_lookup(s, path, NULL) >= 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
		     name) < 0)
		return NULL;
	return p;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted paths of the regular policy files in dir; symlinks followed. */
static int list_dir(const char *dir, char ***ret, size_t *ret_n)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		struct stat st;
		char *p;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!policy_is_policy_filename(de->d_name))
			continue;
		p = path_join(dir, de->d_name);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		r = grow_array((void **)&v, &cap, n + 1, sizeof(*v));
		if (r < 0) {
			free(p);
			break;
		}
		v[n++] = p;
	}
	closedir(d);
	if (r < 0) {
		free_strv(v, n);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* True if path names an entry directly inside dir, as path_join spells it. */
static bool path_in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(path, dir, n) != 0)
		return false;
	path += n;
	if (!(n && dir[n - 1] == '/')) {
		if (*path != '/')
			return false;
		path++;
	}
	return *path && !strchr(path, '/');
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	return bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

int policy_set_load_dir(struct jit_policy_set *s, const char *dir,
			struct jit_diag *diag)
{
	char **paths = NULL, **retry = NULL;
	size_t n = 0, n_retry = 0;
	int bad = 0, r;

	r = list_dir(dir, &paths, &n);
	if (r < 0)
		return r;
	retry = calloc(n ? n : 1, sizeof(*retry));
	if (!retry) {
		free_strv(paths, n);
		return -ENOMEM;
	}

	/* Drop vanished files first, so that their names are free. */
	for (size_t i = s->n_files; i-- > 0;)
		if (path_in_dir(s->files[i]->path, dir) &&
		    !strv_contains(paths, n, s->files[i]->path))
			policy_set_remove_file(s, s->files[i]->path);

	for (size_t i = 0; i < n; i++) {
		r = set_load(s, paths[i], diag, true);
		if (r == -EEXIST)
			retry[n_retry++] = paths[i];
		else if (r == -ENOMEM)
			goto out;
		else if (r < 0)
			bad++;
	}
	for (size_t i = 0; i < n_retry; i++) {
		r = set_load(s, retry[i], diag, false);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			bad++;
	}
	r = bad;
out:
	free(retry);
	free_strv(paths, n);
	return r;
}

int policy_check_paths(char *const *paths, size_t n, struct jit_diag *diag)
{
	_cleanup_(policy_set_freep) struct jit_policy_set *s = NULL;
	int bad = 0, r;

	s = policy_set_new();
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char **files = NULL;
		size_t n_files = 0;
		struct stat st;

		if (stat(paths[i], &st) < 0) {
			diag_error(diag, paths[i], NULL, 0, 0,
				   "cannot open: %s", strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* Named explicitly: checked whatever its suffix. */
			r = set_load(s, paths[i], diag, false);
			if (r == -ENOMEM)
				return r;
			bad += r < 0;
			continue;
		}
		r = list_dir(paths[i], &files, &n_files);
		if (r < 0) {
			diag_error(diag, paths[i], NULL, 0, 0,
				   "cannot read directory: %s", strerror(-r));
			bad++;
			continue;
		}
		for (size_t j = 0; j < n_files; j++) {
			r = set_load(s, files[j], diag, false);
			if (r == -ENOMEM)
				break;
			bad += r < 0;
		}
		free_strv(files, n_files);
		if (r == -ENOMEM)
			return r;
	}
	return bad;
}

size_t policy_set_count(const struct jit_policy_set *s)
{
	return s->n_index;
}

const struct jit_policy *policy_set_get(const struct jit_policy_set *s,
					size_t i)
{
	return i < s->n_index ? s->index[i] : NULL;
}

const struct jit_policy *policy_set_find(const struct jit_policy_set *s,
					 const char *name)
{
	for (size_t i = 0; i < s->n_index; i++)
		if (streq(s->index[i]->name, name))
			return s->index[i];
	return NULL;
}

/* --- printing ------------------------------------------------------------- */

static void print_list(FILE *out, char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", v[i]);
	fputc(']', out);
}

static void print_principals(FILE *out, const char *key,
			     const struct jit_principals *pr)
{
	fprintf(out, "  %s:", key);
	if (!pr->n_users && !pr->n_groups)
		fputs(" root", out);
	if (pr->n_users) {
		fputs(" users ", out);
		print_list(out, pr->users, pr->n_users);
	}
	if (pr->n_groups) {
		fputs(" groups ", out);
		print_list(out, pr->groups, pr->n_groups);
	}
	fputc('\n', out);
}

void policy_print(const struct jit_policy *p, FILE *out)
{
	char buf[JIT_PREFIX_STRLEN];

	fprintf(out, "policy %s (%s:%u)\n", p->name, p->file, p->line);
	if (p->description)
		fprintf(out, "  description: %s\n", p->description);
	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *r = &p->ports[i];

		fprintf(out, "  port %s/%u", protos_name(r->protos),
			r->port_lo);
		if (r->port_hi != r->port_lo)
			fprintf(out, "-%u", r->port_hi);
		fprintf(out, " max_duration %s sources ",
			duration_format(r->max_duration_s, buf, sizeof(buf)));
		if (r->any_source)
			fputs("any", out);
		for (size_t j = 0; j < r->n_sources; j++)
			fprintf(out, "%s%s", j ? "," : "",
				prefix_format(&r->sources[j], buf,
					      sizeof(buf)));
		fputc('\n', out);
	}
	if (p->n_interfaces) {
		fputs("  interfaces: [", out);
		for (size_t i = 0; i < p->n_interfaces; i++)
			fprintf(out, "%s%s", i ? ", " : "", p->interfaces[i]);
		fputs("]\n", out);
	} else {
		fputs("  interfaces: all\n", out);
	}
	print_principals(out, "requesters", &p->requesters);
	fprintf(out, "  approval: %s\n",
		p->approval == JIT_APPROVAL_MANUAL ? "manual" : "auto");
	print_principals(out, "approvers", &p->approvers);
	fprintf(out, "  action: %s\n",
		p->action == JIT_ACTION_REJECT ? "reject" : "drop");
	if (p->alerts.set) {
		fputs("  alerts:", out);
		for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++) {
			const struct limit_def *d = &limit_defs[i];
			uint32_t n = 0;

			if (!(p->alerts.set & d->bit))
				continue;
			if (d->size == sizeof(uint8_t))
				n = *((const uint8_t *)&p->alerts + d->offset);
			else
				memcpy(&n, (const char *)&p->alerts + d->offset,
				       4);
			fprintf(out, " %s=%u%s", d->key, n,
				d->duration ? "s" : "");
		}
		if (p->alerts.n_mgmt_ports) {
			fputs(" management_ports=", out);
			for (size_t i = 0; i < p->alerts.n_mgmt_ports; i++)
				fprintf(out, "%s%u", i ? "," : "",
					p->alerts.mgmt_ports[i]);
		}
		fputc('\n', out);
	}
}
