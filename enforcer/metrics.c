/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <math.h>
#include <stdarg.h>

#include "metrics.h"
#include "util.h"

static bool name_char(char c, bool first, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool metrics_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!name_char(*p, p == name, true))
			return false;
	return true;
}

bool metrics_label_ok(const char *name)
{
	if (!name || !*name || strncmp(name, "__", 2) == 0)
		return false;
	for (const char *p = name; *p; p++)
		if (!name_char(*p, p == name, false))
			return false;
	return true;
}

json_t *metrics_family(json_t *families, const char *name, const char *type,
		       const char *help)
{
	json_t *f = json_pack("{s:s, s:s, s:s, s:[]}", "name", name, "type",
			      type, "help", help, "samples");

	if (!f || json_array_append_new(families, f) < 0)
		return NULL;
	return f;
}

void metrics_sample(json_t *family, json_t *value, ...)
{
	json_t *labels = json_object(), *s;
	const char *k;
	va_list ap;

	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		json_object_set_new(labels, k, json_string(v ? v : ""));
	}
	va_end(ap);
	s = json_pack("{s:o, s:o}", "labels", labels, "value", value);
	if (s)
		json_array_append_new(json_object_get(family, "samples"), s);
}

/* HELP text: backslash and newline escaped. Label values: quotes too. */
static void put_escaped(FILE *f, const char *s, bool quotes)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quotes && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static void put_value(FILE *f, json_t *v)
{
	double d;

	if (json_is_integer(v)) {
		fprintf(f, "%lld", (long long)json_integer_value(v));
		return;
	}
	d = json_real_value(v);
	if (isnan(d))
		fputs("NaN", f);
	else if (isinf(d))
		fputs(d > 0 ? "+Inf" : "-Inf", f);
	else
		fprintf(f, "%.15g", d);
}

static int invalid(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int invalid(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Check one family before anything of it is written. */
static int check_family(json_t *fam, json_t *families, size_t idx, char *why,
			size_t n)
{
	const char *name = json_string_value(json_object_get(fam, "name"));
	const char *type = json_string_value(json_object_get(fam, "type"));
	const char *help = json_string_value(json_object_get(fam, "help"));
	json_t *samples = json_object_get(fam, "samples"), *s, *other;
	size_t i, len;

	if (!metrics_name_ok(name))
		return invalid(why, n, "'%s' is not a metric name",
			       name ? name : "(none)");
	if (!type || (!streq(type, "counter") && !streq(type, "gauge")))
		return invalid(why, n, "%s: type '%s' is not counter or gauge",
			       name, type ? type : "(none)");
	len = strlen(name);
	if (streq(type, "counter") &&
	    (len < 6 || !streq(name + len - 6, "_total")))
		return invalid(why, n, "%s: a counter's name ends in _total",
			       name);
	if (!help || !json_is_array(samples))
		return invalid(why, n, "%s: help and samples are required",
			       name);
	json_array_foreach(families, i, other)
	{
		if (i >= idx)
			break;
		if (streq(json_string_value(json_object_get(other, "name")),
			  name))
			return invalid(why, n, "%s: named twice", name);
	}
	json_array_foreach(samples, i, s)
	{
		json_t *v = json_object_get(s, "value"), *lv;
		json_t *labels = json_object_get(s, "labels");
		const char *k;

		if (!json_is_number(v))
			return invalid(why, n, "%s: a value is not a number",
				       name);
		if (labels && !json_is_object(labels))
			return invalid(why, n, "%s: labels are not an object",
				       name);
		json_object_foreach(labels, k, lv)
		{
			if (!metrics_label_ok(k))
				return invalid(why, n,
					       "%s: '%s' is not a label name",
					       name, k);
			if (!json_is_string(lv))
				return invalid(why, n,
					       "%s: label %s is not a string",
					       name, k);
		}
	}
	return 0;
}

int metrics_format(json_t *families, char **ret, char *why, size_t whylen)
{
	_cleanup_fclose_ FILE *f = NULL;
	char *buf = NULL;
	size_t size = 0, i;
	json_t *fam;
	int r;

	why[0] = '\0';
	if (!json_is_array(families))
		return invalid(why, whylen, "metrics are not a list");
	json_array_foreach(families, i, fam)
	{
		r = check_family(fam, families, i, why, whylen);
		if (r < 0)
			return r;
	}
	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	json_array_foreach(families, i, fam)
	{
		const char *name =
			json_string_value(json_object_get(fam, "name"));
		json_t *s;
		size_t k;

		fprintf(f, "# HELP %s ", name);
		put_escaped(f, json_string_value(json_object_get(fam, "help")),
			    false);
		fprintf(f, "\n# TYPE %s %s\n", name,
			json_string_value(json_object_get(fam, "type")));
		json_array_foreach(json_object_get(fam, "samples"), k, s)
		{
			json_t *labels = json_object_get(s, "labels"), *lv;
			const char *key;
			bool first = true;

			fputs(name, f);
			json_object_foreach(labels, key, lv)
			{
				fprintf(f, "%s%s=\"", first ? "{" : ",", key);
				put_escaped(f, json_string_value(lv), true);
				fputc('"', f);
				first = false;
			}
			if (!first)
				fputc('}', f);
			fputc(' ', f);
			put_value(f, json_object_get(s, "value"));
			fputc('\n', f);
		}
	}
	if (fclose(TAKE_PTR(f)) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}
