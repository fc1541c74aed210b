/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format: what its conversions share (notes, errors and JSON
 * paths, reading documents, names, prefixes) and its date-times. Policies
 * are in azure-policy.c, requests in azure-request.c.
 */
#include <stdarg.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "azure-internal.h"
#include "policy.h"
#include "util.h"

/* ---- notes, errors and paths -------------------------------------------- */

void azure_notes_release(struct azure_notes *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		free(notes->v[i]);
	free(notes->v);
	*notes = (struct azure_notes){ 0 };
}

__attribute__((format(printf, 3, 4))) int
conv_error(struct conv *c, const char *path, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		c->oom = true;
		return -EINVAL;
	}
	if (path && *path)
		return diag_error(c->diag, c->file, NULL, 0, 0, "%s: %s", path,
				  msg);
	return diag_error(c->diag, c->file, NULL, 0, 0, "%s", msg);
}

__attribute__((format(printf, 3, 4))) void
conv_note(struct conv *c, const char *path, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	char *line;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || asprintf(&line, "%s%s%s", path ? path : "",
			      path && *path ? ": " : "", msg) < 0) {
		c->oom = true;
		return;
	}
	if (grow_array((void **)&c->notes->v, &c->notes->cap, c->notes->n + 1,
		       sizeof(char *)) < 0) {
		free(line);
		c->oom = true;
		return;
	}
	c->notes->v[c->notes->n++] = line;
}

/* Marks a path that did not fit. */
static char *path_cut(char buf[static PATH_LEN], int n)
{
	if (n < 0 || n >= PATH_LEN)
		memcpy(buf + PATH_LEN - 4, "...", 4);
	return buf;
}

/* "base.key", or "key" at the root. Returns buf. */
char *path_key(char buf[static PATH_LEN], const char *base, const char *key)
{
	int n = snprintf(buf, PATH_LEN, "%s%s%s", base, *base ? "." : "", key);

	return path_cut(buf, n);
}

/* "base[i]". Returns buf. */
char *path_index(char buf[static PATH_LEN], const char *base, size_t i)
{
	int n = snprintf(buf, PATH_LEN, "%s[%zu]", base, i);

	return path_cut(buf, n);
}

/* What a JSON value is, for "expected X, got Y". */
const char *json_what(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction or exponent";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

/*
 * obj.key must be a non-empty list: returns it, with its path in path, or
 * NULL after reporting what is wrong ("empty: ..." takes the caller's why).
 */
json_t *required_list(struct conv *c, json_t *obj, const char *base,
		      const char *key, char path[static PATH_LEN],
		      const char *why_empty)
{
	json_t *v = json_object_get(obj, key);

	path_key(path, base, key);
	if (!v) {
		conv_error(c, base, "missing required field '%s'", key);
		return NULL;
	}
	if (!json_is_array(v)) {
		conv_error(c, path, "expected a list, got %s", json_what(v));
		return NULL;
	}
	if (json_array_size(v) == 0) {
		conv_error(c, path, "empty: %s", why_empty);
		return NULL;
	}
	return v;
}

/* A port entry's "number": an integer 1..65535. */
int port_number(struct conv *c, json_t *num, const char *path, long *ret)
{
	char p[PATH_LEN];
	json_int_t n;

	if (!num)
		return conv_error(c, path, "missing required field 'number'");
	path_key(p, path, "number");
	if (!json_is_integer(num))
		return conv_error(c, p, "expected an integer, got %s",
				  json_what(num));
	n = json_integer_value(num);
	if (n == 0)
		return conv_error(c, p,
				  "port 0 cannot be protected; ports are "
				  "1..65535");
	if (n < 0 || n > 65535)
		return conv_error(c, p, "%lld is out of range 1..65535",
				  (long long)n);
	*ret = (long)n;
	return 0;
}

bool in_list(const char *key, const char *const *list)
{
	for (; *list; list++)
		if (streq(key, *list))
			return true;
	return false;
}

/*
 * A string, cut and made safe to show inside quotes: printable ASCII only,
 * others become '?'. Returns buf.
 */
char *shown(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

/* ---- JSON documents ----------------------------------------------------- */

/* The document, an object or a list; NULL after reporting why not. */
json_t *load_json(struct conv *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *root;

	if (len > AZURE_FILE_MAX_BYTES) {
		conv_error(c, NULL, "the document is larger than %d bytes",
			   AZURE_FILE_MAX_BYTES);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		_cleanup_free_ char *src = strndup(text, len);

		diag_error(c->diag, c->file, src,
			   jerr.line > 0 ? (unsigned)jerr.line : 0,
			   jerr.column > 0 ? (unsigned)jerr.column : 0,
			   "invalid JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(root) && !json_is_array(root)) {
		conv_error(c, NULL,
			   "the document is %s; expected a JSON object or list",
			   json_what(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

void note_api_version(struct conv *c, json_t *ver, const char *path)
{
	if (json_is_string(ver) &&
	    !streq(json_string_value(ver), AZURE_API_VERSION))
		conv_note(c, path,
			  "'%s' is not " AZURE_API_VERSION
			  "; read as " AZURE_API_VERSION,
			  SHOW(json_string_value(ver)));
}

/* An ARM template: a $schema of deployment templates, or resources. */
static bool is_template(json_t *root)
{
	const char *schema =
		json_string_value(json_object_get(root, "$schema"));

	return (schema && strcasestr(schema, "deploymentTemplate")) ||
	       (json_is_array(json_object_get(root, "resources")) &&
		json_object_get(root, "contentVersion"));
}

/*
 * The REST API examples wrap the documents: {"parameters": {"api-version",
 * ..., "body": request}, "responses": {"200": {"body": response}}}. The
 * document is the request body, or else the response of 200 (201, 202).
 */
static json_t *unwrap_example(struct conv *c, json_t *root,
			      char base[static PATH_LEN])
{
	static const char *const codes[] = { "200", "201", "202" };
	json_t *params = json_object_get(root, "parameters");
	json_t *responses = json_object_get(root, "responses");
	json_t *body = NULL;

	if (params && !json_is_object(params)) {
		conv_error(c, "parameters", "expected an object, got %s",
			   json_what(params));
		return NULL;
	}
	if (responses && !json_is_object(responses)) {
		conv_error(c, "responses", "expected an object, got %s",
			   json_what(responses));
		return NULL;
	}
	note_api_version(c, json_object_get(params, "api-version"),
			 "parameters.api-version");
	body = json_object_get(params, "body");
	if (body) {
		snprintf(base, PATH_LEN, "parameters.body");
		if (responses)
			conv_note(c, "responses",
				  "not read: the document is parameters.body");
	} else {
		for (size_t i = 0; !body && i < ARRAY_SIZE(codes); i++) {
			body = json_object_get(
				json_object_get(responses, codes[i]), "body");
			snprintf(base, PATH_LEN, "responses.%s.body", codes[i]);
		}
	}
	if (!body) {
		conv_error(c, NULL,
			   "a REST example without parameters.body or "
			   "responses.200.body: no document in it");
		return NULL;
	}
	if (!json_is_object(body) && !json_is_array(body)) {
		conv_error(c, base, "expected an object, got %s",
			   json_what(body));
		return NULL;
	}
	return body;
}

json_t *unwrap(struct conv *c, json_t *root, char base[static PATH_LEN])
{
	base[0] = '\0';
	if (!json_is_object(root) || is_template(root) ||
	    (!json_object_get(root, "parameters") &&
	     !json_object_get(root, "responses")))
		return root;
	return unwrap_example(c, root, base);
}

/* The first port of the first virtual machine of v, if any. */
static json_t *first_port(json_t *v)
{
	json_t *vm = json_array_get(json_object_get(v, "virtualMachines"), 0);

	return json_array_get(json_object_get(vm, "ports"), 0);
}

enum azure_kind azure_kind_of(json_t *v)
{
	json_t *props, *port;

	if (json_is_array(v)) {
		enum azure_kind k = azure_kind_of(json_array_get(v, 0));

		if (k == AZURE_POLICY)
			return AZURE_POLICY_LIST;
		if (k == AZURE_INITIATE || k == AZURE_RECORD)
			return AZURE_RECORDS;
		return json_array_size(v) ? AZURE_UNKNOWN : AZURE_EMPTY_LIST;
	}
	if (!json_is_object(v))
		return AZURE_UNKNOWN;
	if (is_template(v))
		return AZURE_TEMPLATE;
	if (json_is_array(json_object_get(v, "value")))
		return AZURE_POLICY_LIST;
	props = json_object_get(v, "properties");
	if (json_is_object(props) && json_object_get(props, "virtualMachines"))
		return AZURE_POLICY;
	if (!json_object_get(v, "virtualMachines"))
		return AZURE_UNKNOWN;
	if (json_object_get(v, "startTimeUtc") ||
	    json_object_get(v, "requestor"))
		return AZURE_RECORD;
	if (json_object_get(v, "justification"))
		return AZURE_INITIATE;
	port = first_port(v);
	if (json_object_get(port, "maxRequestAccessDuration") ||
	    json_object_get(port, "protocol"))
		return AZURE_POLICY;
	if (json_object_get(port, "status"))
		return AZURE_RECORD;
	if (json_object_get(port, "endTimeUtc"))
		return AZURE_INITIATE;
	/* Nothing tells them apart: the caller's kind. */
	return AZURE_UNKNOWN;
}

/* Unknown keys of an object become notes. */
void note_unknown(struct conv *c, json_t *obj, const char *base,
		  const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		char p[PATH_LEN];

		if (!in_list(key, known))
			conv_note(c, path_key(p, base, SHOW(key)),
				  "unknown field, ignored");
	}
}

/* The last segment of a resource id: ".../virtualMachines/vm1" -> "vm1". */
int vm_name_of(struct conv *c, json_t *vm, const char *path, const char **ret)
{
	json_t *id = json_object_get(vm, "id");
	char p[PATH_LEN];
	const char *s, *slash;

	if (!id)
		return conv_error(c, path, "missing required field 'id'");
	path_key(p, path, "id");
	s = json_string_value(id);
	if (!s)
		return conv_error(c, p, "expected a string, got %s",
				  json_what(id));
	slash = strrchr(s, '/');
	*ret = slash ? slash + 1 : s;
	if (!**ret)
		return conv_error(c, p,
				  "'%s' has no virtual machine name after its "
				  "last '/'",
				  SHOW(s));
	return 0;
}

int azure_policy_name(const char *vm, char *buf, size_t size)
{
	size_t i;

	if (!vm[0] || size < 2)
		return -EINVAL;
	for (i = 0; vm[i] && i < JIT_POLICY_NAME_MAX && i + 1 < size; i++) {
		char ch = vm[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-'))
			ch = '-';
		buf[i] = ch;
	}
	buf[i] = '\0';
	return 0;
}

bool tag_means_any(const char *s)
{
	return streq(s, "*") || !strcasecmp(s, "Any") ||
	       !strcasecmp(s, "Internet");
}

/*
 * A service tag's shape: a name ("VirtualNetwork", "Storage.WestEurope"),
 * not an address.
 */
static bool is_service_tag(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

/*
 * A source prefix the way both formats write it. tag_hint says what to do
 * instead of a service tag.
 */
int parse_prefix(struct conv *c, const char *path, const char *s,
		 const char *tag_hint, struct jit_prefix *ret)
{
	char buf[JIT_PREFIX_STRLEN];
	bool host_bits;

	if (prefix_parse_relaxed(s, ret, &host_bits) < 0 && is_service_tag(s))
		return conv_error(c, path,
				  "'%s' is a service tag, a name for addresses "
				  "that only the cloud knows; %s",
				  SHOW(s), tag_hint);
	if (prefix_parse_relaxed(s, ret, &host_bits) < 0)
		return conv_error(c, path,
				  "'%s' is not an IPv4/IPv6 address or CIDR",
				  SHOW(s));
	if (host_bits)
		return conv_error(
			c, path, "'%s' has host bits set; did you mean %s?",
			SHOW(s), prefix_format(ret, buf, sizeof(buf)));
	return 0;
}

/* ---- times -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly n digits at *p. */
static bool digits(const char **p, unsigned n, unsigned *ret)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		char ch = (*p)[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (unsigned)(ch - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

int azure_time_parse(const char *s, int64_t *ret_ms)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0;
	int sign = 0;
	int64_t ms;

	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) ||
	    *s++ != '-' || !digits(&s, 2, &d) || *s++ != 'T' ||
	    !digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) ||
	    *s++ != ':' || !digits(&s, 2, &sec))
		return -EINVAL;
	if (*s == '.') {
		unsigned n = 0;
		bool rest = false;

		for (s++; *s >= '0' && *s <= '9'; s++, n++) {
			if (n < 3)
				frac = frac * 10 + (unsigned)(*s - '0');
			else if (*s != '0')
				rest = true;
		}
		if (n == 0)
			return -EINVAL;
		for (; n < 3; n++)
			frac *= 10;
		frac += rest;
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*s || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 ||
	    sec > 59)
		return -EINVAL;
	ms = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	ms = ms * 1000 + frac;
	ms -= (int64_t)sign * (oh * 3600 + om * 60) * 1000;
	*ret_ms = ms;
	return 0;
}

char *azure_time_format(int64_t ms, char *buf, size_t size)
{
	int64_t secs = ms / 1000, rem = ms % 1000;
	struct tm tm;
	time_t t;

	if (rem < 0) {
		rem += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, size, "?");
		return buf;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)rem);
	return buf;
}
