/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format: ARM templates. A template's values may be template
 * expressions, "[concat(parameters('vm'), '-jit')]". The few that templates
 * exported or written for a JIT policy use are evaluated: literals,
 * parameters() (their defaultValue: a template is read, not deployed),
 * variables(), concat() and resourceId(). Anything else is refused with
 * the path of the value, never guessed.
 */
#include <stdarg.h>
#include <strings.h>

#include "azure-internal.h"
#include "util.h"

/* Variables that name variables: a loop is cut here. */
#define ARM_DEPTH_MAX 16

struct arm {
	struct conv *c;
	json_t *template;
	const char *path; /* of the value being evaluated */
	const char *text; /* the whole expression, for messages */
	int depth;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static json_t *
arm_fail(struct arm *a, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (a->failed)
		return NULL;
	a->failed = true;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0) {
		a->c->oom = true;
		va_end(ap);
		return NULL;
	}
	va_end(ap);
	conv_error(a->c, a->path, "'%s': %s", SHOW(a->text), msg);
	return NULL;
}

static json_t *arm_value(struct arm *a, json_t *v);

static void skip_spaces(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* 'text', with '' for a quote. */
static json_t *arm_literal(struct arm *a, const char **p)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, cap = 0;

	for ((*p)++;; (*p)++) {
		if (!**p)
			return arm_fail(a, "a string is not closed");
		if (**p == '\'' && (*p)[1] == '\'') {
			(*p)++;
		} else if (**p == '\'') {
			(*p)++;
			break;
		}
		if (grow_array((void **)&buf, &cap, n + 2, 1) < 0) {
			a->c->oom = true;
			return NULL;
		}
		buf[n++] = **p;
	}
	if (grow_array((void **)&buf, &cap, n + 1, 1) < 0) {
		a->c->oom = true;
		return NULL;
	}
	buf[n] = '\0';
	return json_string(buf) ?: arm_fail(a, "a string is not UTF-8");
}

/* A string argument, or NULL after saying what it had to be. */
static const char *arm_string_arg(struct arm *a, json_t *args, size_t i,
				  const char *fn)
{
	const char *s = json_string_value(json_array_get(args, i));

	if (!s)
		arm_fail(a, "%s() wants a string as argument %zu", fn, i + 1);
	return s;
}

/* parameters('name') and variables('name'). */
static json_t *arm_lookup(struct arm *a, const char *fn, json_t *args)
{
	bool param = streq(fn, "parameters");
	const char *name;
	json_t *v;

	if (json_array_size(args) != 1)
		return arm_fail(a, "%s() takes one name", fn);
	name = arm_string_arg(a, args, 0, fn);
	if (!name)
		return NULL;
	v = json_object_get(json_object_get(a->template, fn), name);
	if (!v)
		return arm_fail(a, "the template has no %s '%s'",
				param ? "parameter" : "variable", SHOW(name));
	if (param) {
		v = json_object_get(v, "defaultValue");
		if (!v)
			return arm_fail(a,
					"parameter '%s' has no defaultValue: "
					"the template is read as it is, "
					"without the parameters of a "
					"deployment; give it a defaultValue",
					SHOW(name));
	}
	if (++a->depth > ARM_DEPTH_MAX)
		return arm_fail(a, "%s refer to each other in a loop", fn);
	v = arm_value(a, v);
	a->depth--;
	return v;
}

/* concat() of strings, or of lists. */
static json_t *arm_concat(struct arm *a, json_t *args)
{
	char *text = NULL;
	size_t len = 0, i;
	json_t *v, *out;
	FILE *f;

	if (json_is_array(json_array_get(args, 0))) {
		out = json_array();
		json_array_foreach(args, i, v)
		{
			if (!json_is_array(v)) {
				json_decref(out);
				return arm_fail(a, "concat() of lists wants "
						   "only lists");
			}
			json_array_extend(out, v);
		}
		return out;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		a->c->oom = true;
		return NULL;
	}
	json_array_foreach(args, i, v)
	{
		const char *part = arm_string_arg(a, args, i, "concat");

		if (!part)
			break;
		fputs(part, f);
	}
	fclose(f);
	out = a->failed ? NULL : json_string(text);
	free(text);
	return out;
}

/*
 * resourceId([subscription, [group,]] type, name...): the id, or as much
 * of it as the template tells ("Microsoft.Compute/virtualMachines/vm1":
 * the subscription of a deployment is not known here).
 */
static json_t *arm_resource_id(struct arm *a, json_t *args)
{
	_cleanup_free_ char *types = NULL;
	size_t n = json_array_size(args), t = 0, i, len = 0;
	char *id = NULL, *seg, *save = NULL;
	json_t *out = NULL;
	FILE *f;

	for (i = 0; i < n; i++) {
		const char *s = arm_string_arg(a, args, i, "resourceId");

		if (!s)
			return NULL;
		if (!t && strchr(s, '/'))
			t = i + 1;
	}
	if (!t || t > 3 || t == n)
		return arm_fail(a, "resourceId() wants a resource type and "
				   "its name(s)");
	types = strdup(json_string_value(json_array_get(args, t - 1)));
	f = open_memstream(&id, &len);
	if (!types || !f) {
		if (f)
			fclose(f);
		free(id);
		a->c->oom = true;
		return NULL;
	}
	if (t == 3)
		fprintf(f, "/subscriptions/%s/resourceGroups/%s/providers/",
			json_string_value(json_array_get(args, 0)),
			json_string_value(json_array_get(args, 1)));
	else if (t == 2)
		fprintf(f, "/resourceGroups/%s/providers/",
			json_string_value(json_array_get(args, 0)));
	/* Namespace/type1/type2 and names n1, n2: .../type1/n1/type2/n2 */
	fputs(strtok_r(types, "/", &save), f);
	for (i = t; (seg = strtok_r(NULL, "/", &save)) && i < n; i++)
		fprintf(f, "/%s/%s", seg,
			json_string_value(json_array_get(args, i)));
	fclose(f);
	if (seg || i != n)
		arm_fail(a, "resourceId() wants one name for each type of %s",
			 json_string_value(json_array_get(args, t - 1)));
	else
		out = json_string(id);
	free(id);
	return out;
}

static json_t *arm_call(struct arm *a, const char *fn, json_t *args)
{
	if (streq(fn, "parameters") || streq(fn, "variables"))
		return arm_lookup(a, fn, args);
	if (streq(fn, "concat"))
		return arm_concat(a, args);
	if (!strcasecmp(fn, "resourceId"))
		return arm_resource_id(a, args);
	return arm_fail(a,
			"%s() is not evaluated: only parameters(), "
			"variables(), concat() and resourceId() are; write "
			"the value itself",
			SHOW(fn));
}

static json_t *arm_expr(struct arm *a, const char **p)
{
	char fn[64];
	size_t n = 0;
	json_t *args, *v;

	skip_spaces(p);
	if (**p == '\'')
		return arm_literal(a, p);
	if (**p >= '0' && **p <= '9') {
		char *end;
		long long x = strtoll(*p, &end, 10);

		*p = end;
		return json_integer(x);
	}
	while ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z') ||
	       (**p >= '0' && **p <= '9') || **p == '_') {
		if (n + 1 < sizeof(fn))
			fn[n++] = **p;
		(*p)++;
	}
	fn[n] = '\0';
	skip_spaces(p);
	if (!n || **p != '(')
		return arm_fail(a, "not an expression jitctl can read");
	(*p)++;
	args = json_array();
	skip_spaces(p);
	while (args && **p != ')') {
		v = arm_expr(a, p);
		if (!v) {
			json_decref(args);
			return NULL;
		}
		json_array_append_new(args, v);
		skip_spaces(p);
		if (**p == ',')
			(*p)++;
		else if (**p != ')') {
			json_decref(args);
			return arm_fail(a,
					"expected ',' or ')' after an "
					"argument of %s()",
					SHOW(fn));
		}
	}
	(*p)++;
	v = arm_call(a, fn, args);
	json_decref(args);
	skip_spaces(p);
	if (v && (**p == '.' || **p == '[')) {
		json_decref(v);
		return arm_fail(a, "properties of a result (.name, [0]) are "
				   "not evaluated; write the value itself");
	}
	return v;
}

/* "[expr]" evaluated, "[[text]" as "[text]", other strings as they are. */
static json_t *arm_string(struct arm *a, const char *s)
{
	_cleanup_free_ char *expr = NULL;
	size_t len = strlen(s);
	const char *p, *outer = a->text;
	json_t *v;

	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return json_string(s);
	if (s[1] == '[')
		return json_string(s + 1);
	expr = strndup(s + 1, len - 2);
	if (!expr) {
		a->c->oom = true;
		return NULL;
	}
	/* Messages quote the expression as written, not the variable's. */
	if (!a->text)
		a->text = s;
	p = expr;
	v = arm_expr(a, &p);
	skip_spaces(&p);
	if (v && *p) {
		json_decref(v);
		v = arm_fail(a, "unexpected '%s' after the expression",
			     SHOW(p));
	}
	a->text = outer;
	return v;
}

/* A copy of v with every string in it evaluated. */
static json_t *arm_value(struct arm *a, json_t *v)
{
	const char *key;
	json_t *out, *x, *y;
	size_t i;

	if (json_is_string(v))
		return arm_string(a, json_string_value(v));
	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach(v, key, x)
		{
			y = arm_value(a, x);
			if (!y) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, key, y);
		}
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x)
		{
			y = arm_value(a, x);
			if (!y) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, y);
		}
		return out;
	}
	return json_deep_copy(v);
}

/* Every value below v, each reported at its own path. */
static json_t *arm_tree(struct conv *c, json_t *template, json_t *v,
			const char *path, bool *failed)
{
	char p[PATH_LEN];
	const char *key;
	json_t *out, *x, *y;
	struct arm a;
	size_t i;

	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach(v, key, x)
		{
			y = arm_tree(c, template, x, path_key(p, path, key),
				     failed);
			if (y)
				json_object_set_new(out, key, y);
		}
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, x)
		{
			y = arm_tree(c, template, x, path_index(p, path, i),
				     failed);
			json_array_append_new(out, y ? y : json_null());
		}
		return out;
	}
	a = (struct arm){ .c = c, .template = template, .path = path };
	y = arm_value(&a, v);
	if (!y)
		*failed = true;
	return y;
}

json_t *arm_evaluate(struct conv *c, json_t *template, json_t *v,
		     const char *path)
{
	bool failed = false;
	json_t *out = arm_tree(c, template, v, path, &failed);

	if (failed || c->oom) {
		json_decref(out);
		return NULL;
	}
	return out;
}
