/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy files as YAML: libyaml's event parser feeds a small tree of nodes
 * that keep their positions, and every message about a file is collected
 * here, with file:line:col, the source line and a caret, in line order.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "duration.h"
#include "policy-internal.h"
#include "util.h"

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

__attribute__((format(printf, 3, 4))) int
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
const char *msg_quote(char buf[static QUOTE_BUF], const char *s)
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

bool node_is_null(const struct node *n)
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
bool node_is_bool(const struct node *n)
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

bool node_is_number(const struct node *n)
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
const char *node_describe(const struct node *n, char buf[static DESCRIBE_BUF])
{
	char q[QUOTE_BUF];

	if (n->kind == NODE_MAP)
		return "a mapping";
	if (n->kind == NODE_SEQ)
		return "a list";
	if (node_is_null(n))
		return "null";
	snprintf(buf, DESCRIBE_BUF, "%s '%s'",
		 node_is_bool(n)     ? "a boolean"
		 : node_is_number(n) ? "a number"
				     : "a string",
		 msg_quote(q, n->text));
	return buf;
}

/* The text of a scalar that is not null or boolean, or NULL (reported). */
const char *node_want_scalar(struct parse_ctx *c, const struct node *n,
			     const char *key, const char *what)
{
	char d[DESCRIBE_BUF];

	if (n->bad)
		return NULL;
	if (n->kind == NODE_SCALAR && !node_is_null(n) && !node_is_bool(n))
		return n->text;
	node_err(c, n, "%s: expected %s, got %s", key, what,
		 node_describe(n, d));
	return NULL;
}

bool node_want_kind(struct parse_ctx *c, const struct node *n,
		    enum node_kind kind, const char *key, const char *what)
{
	char d[DESCRIBE_BUF];

	if (n->bad)
		return false;
	if (n->kind == kind)
		return true;
	node_err(c, n, "%s: expected %s, got %s", key, what,
		 node_describe(n, d));
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
			 msg_quote(q, (const char *)anchor));
	if (tag) {
		const char *t = (const char *)tag;

		/* Show "!!str" as written, not libyaml's expansion of it. */
		if (strncmp(t, "tag:yaml.org,2002:", 18) == 0)
			node_err(c, n,
				 "tag '!!%s' is not supported: write plain "
				 "values without tags",
				 msg_quote(q, t + 18));
		else
			node_err(c, n,
				 "tag '%s' is not supported: write plain "
				 "values without tags",
				 msg_quote(q, t));
		n->bad = true;
	}
}

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
		if (b->root && c->validate)
			c->validate(c, b->root);
		else if (b->root)
			policy_validate_document(c, b->root);
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
			 msg_quote(q, (const char *)ev->data.alias.anchor));
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
int policy_parse_stream(struct parse_ctx *c, const char *text, size_t len)
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
		r = perr(c, 0, 0, "%s",
			 c->empty_msg
				 ? c->empty_msg
				 : "no policy in file; expected at least "
				   "one YAML document with name and ports");
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
		 msg_quote(q, k->text), where, hint, allowed);
}

/*
 * Hand each value of mapping m to the handler of its key. Reports keys that
 * are not scalars, unknown or repeated. seen[i] gets the key node of
 * keys[i], so callers can tell what was given and where.
 */
void node_walk_mapping(struct parse_ctx *c, const struct node *m,
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
				 node_describe(k, d));
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
