/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "azure.h"
#include "duration.h"
#include "grant.h"
#include "policy.h"
#include "util.h"

/* JSON paths are short; a longer one is cut, never overflowed. */
#define PATH_LEN 256
/* The cloud refuses maxRequestAccessDuration below this; we allow it. */
#define CLOUD_MIN_DURATION_S 300u
/* Room for the file name and the id in a generated description. */
#define DESCRIPTION_ID_MAX 700

/* ---- notes, errors and paths -------------------------------------------- */

void azure_notes_release(struct azure_notes *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		free(notes->v[i]);
	free(notes->v);
	*notes = (struct azure_notes){ 0 };
}

/* One conversion: where messages go. */
struct conv {
	const char *file;
	struct jit_diag *diag;
	struct azure_notes *notes;
	bool oom;
};

__attribute__((format(printf, 3, 4))) static int
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

__attribute__((format(printf, 3, 4))) static void
conv_note(struct conv *c, const char *path, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	char *line;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || asprintf(&line, "%s: %s", path, msg) < 0) {
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
static char *path_key(char buf[static PATH_LEN], const char *base,
		      const char *key)
{
	int n = snprintf(buf, PATH_LEN, "%s%s%s", base, *base ? "." : "", key);

	return path_cut(buf, n);
}

/* "base[i]". Returns buf. */
static char *path_index(char buf[static PATH_LEN], const char *base, size_t i)
{
	int n = snprintf(buf, PATH_LEN, "%s[%zu]", base, i);

	return path_cut(buf, n);
}

/* What a JSON value is, for "expected X, got Y". */
static const char *json_what(const json_t *v)
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
static json_t *required_list(struct conv *c, json_t *obj, const char *base,
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
static int port_number(struct conv *c, json_t *num, const char *path, long *ret)
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

static bool in_list(const char *key, const char *const *list)
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
static char *shown(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

#define SHOWN_LEN 80
#define SHOW(s)	  shown((s), (char[SHOWN_LEN]){ 0 }, SHOWN_LEN)

/* ---- JSON documents ----------------------------------------------------- */

static json_t *load_json(struct conv *c, const char *text, size_t len)
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
	if (!json_is_object(root)) {
		conv_error(c, NULL,
			   "the document is %s; expected a JSON object",
			   json_what(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * The REST examples wrap a request body: {"parameters": {"api-version",
 * ..., "body": {...}}, "responses": {...}}. Returns the body (borrowed) and
 * its path in base, or root itself.
 */
static json_t *unwrap(struct conv *c, json_t *root, char base[static PATH_LEN])
{
	json_t *params = json_object_get(root, "parameters");
	json_t *body, *ver;

	base[0] = '\0';
	if (!params)
		return root;
	if (!json_is_object(params)) {
		conv_error(c, "parameters", "expected an object, got %s",
			   json_what(params));
		return NULL;
	}
	body = json_object_get(params, "body");
	if (!body) {
		conv_error(c, "parameters",
			   "no 'body': a REST example carries the document "
			   "in parameters.body");
		return NULL;
	}
	if (!json_is_object(body)) {
		conv_error(c, "parameters.body", "expected an object, got %s",
			   json_what(body));
		return NULL;
	}
	ver = json_object_get(params, "api-version");
	if (json_is_string(ver) &&
	    !streq(json_string_value(ver), AZURE_API_VERSION))
		conv_note(c, "parameters.api-version",
			  "'%s' is not " AZURE_API_VERSION
			  "; read as " AZURE_API_VERSION,
			  SHOW(json_string_value(ver)));
	snprintf(base, PATH_LEN, "parameters.body");
	return body;
}

/* Unknown keys of an object become notes. */
static void note_unknown(struct conv *c, json_t *obj, const char *base,
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
static int vm_name_of(struct conv *c, json_t *vm, const char *path,
		      const char **ret)
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

/* A source prefix the way both formats write it. */
static int parse_prefix(struct conv *c, const char *path, const char *s,
			struct jit_prefix *ret)
{
	char buf[JIT_PREFIX_STRLEN];
	bool host_bits;

	if (prefix_parse_relaxed(s, ret, &host_bits) < 0 &&
	    (!*s || strpbrk(s, ".:/0123456789")))
		return conv_error(c, path,
				  "'%s' is not an IPv4/IPv6 address or CIDR",
				  SHOW(s));
	if (prefix_parse_relaxed(s, ret, &host_bits) < 0)
		return conv_error(c, path,
				  "'%s' is not an IPv4/IPv6 address or CIDR; "
				  "service tags are not supported",
				  SHOW(s));
	if (host_bits)
		return conv_error(
			c, path, "'%s' has host bits set; did you mean %s?",
			SHOW(s), prefix_format(ret, buf, sizeof(buf)));
	return 0;
}

/* ---- policies ----------------------------------------------------------- */

/* One port entry as it will be written. */
struct port_out {
	long number;
	unsigned protos;
	const char *proto_in;
	bool any;
	char (*sources)[JIT_PREFIX_STRLEN];
	size_t n_sources;
	const char *duration;
};

static int port_sources(struct conv *c, json_t *port, const char *path,
			struct port_out *out)
{
	json_t *one = json_object_get(port, "allowedSourceAddressPrefix");
	json_t *many = json_object_get(port, "allowedSourceAddressPrefixes");
	char p[PATH_LEN], pi[PATH_LEN];
	bool star = false;
	struct jit_prefix pfx;
	json_t *v;
	size_t i;
	int r = 0;

	if (one && many)
		return conv_error(
			c, path,
			"both allowedSourceAddressPrefix and "
			"allowedSourceAddressPrefixes are given; they "
			"are mutually exclusive");
	if (!one && !many) {
		conv_note(c, path,
			  "no allowedSourceAddressPrefix(es): any source may "
			  "be requested");
		out->any = true;
		return 0;
	}
	if (one) {
		const char *s = json_string_value(one);

		path_key(p, path, "allowedSourceAddressPrefix");
		if (!s)
			return conv_error(c, p, "expected a string, got %s",
					  json_what(one));
		if (streq(s, "*")) {
			out->any = true;
			return 0;
		}
		out->sources = calloc(1, sizeof(*out->sources));
		if (!out->sources) {
			c->oom = true;
			return -ENOMEM;
		}
		if (parse_prefix(c, p, s, &pfx) < 0)
			return -EINVAL;
		prefix_format(&pfx, out->sources[0], sizeof(out->sources[0]));
		out->n_sources = 1;
		return 0;
	}

	path_key(p, path, "allowedSourceAddressPrefixes");
	if (!json_is_array(many))
		return conv_error(c, p, "expected a list of strings, got %s",
				  json_what(many));
	if (json_array_size(many) == 0)
		return conv_error(c, p,
				  "empty: no request could be granted; write "
				  "[\"*\"] for any source");
	if (json_array_size(many) > JIT_POLICY_MAX_SOURCES)
		return conv_error(c, p, "%zu prefixes; at most %d are allowed",
				  json_array_size(many),
				  JIT_POLICY_MAX_SOURCES);
	out->sources = calloc(json_array_size(many), sizeof(*out->sources));
	if (!out->sources) {
		c->oom = true;
		return -ENOMEM;
	}
	json_array_foreach(many, i, v)
	{
		const char *s = json_string_value(v);

		path_index(pi, p, i);
		if (!s) {
			r = conv_error(c, pi, "expected a string, got %s",
				       json_what(v));
			continue;
		}
		if (streq(s, "*")) {
			star = true;
			continue;
		}
		if (parse_prefix(c, pi, s, &pfx) < 0) {
			r = -EINVAL;
			continue;
		}
		prefix_format(&pfx, out->sources[out->n_sources],
			      sizeof(out->sources[0]));
		out->n_sources++;
	}
	if (star && (out->n_sources || r < 0))
		return conv_error(c, p,
				  "'*' cannot be combined with other "
				  "prefixes; write either [\"*\"] or a list of "
				  "prefixes");
	if (star)
		out->any = true;
	return r;
}

static int port_duration(struct conv *c, json_t *port, const char *path,
			 struct port_out *out)
{
	json_t *v = json_object_get(port, "maxRequestAccessDuration");
	char p[PATH_LEN];
	const char *s;
	uint64_t secs;
	int r;

	if (!v)
		return conv_error(c, path,
				  "missing required field "
				  "'maxRequestAccessDuration'");
	path_key(p, path, "maxRequestAccessDuration");
	s = json_string_value(v);
	if (!s)
		return conv_error(c, p, "expected a string, got %s",
				  json_what(v));
	if (s[0] != 'P')
		return conv_error(c, p,
				  "'%s' is not an ISO 8601 duration like PT3H, "
				  "PT30M or P1D",
				  SHOW(s));
	r = duration_parse(s, &secs);
	if (r == -ERANGE)
		return conv_error(c, p, "'%s' exceeds the limit of one day",
				  SHOW(s));
	if (r < 0)
		return conv_error(
			c, p,
			"'%s' is not an ISO 8601 duration of days and "
			"time like PT3H, PT30M, P1D or P1DT2H (no "
			"years, months, weeks or fractions)",
			SHOW(s));
	if (secs == 0)
		return conv_error(c, p, "'%s' is zero", SHOW(s));
	if (secs > JIT_DURATION_MAX_S)
		return conv_error(c, p, "'%s' exceeds the limit of one day",
				  SHOW(s));
	if (secs < CLOUD_MIN_DURATION_S)
		conv_note(c, p,
			  "'%s' is below the cloud's minimum of 5 minutes; "
			  "kept",
			  s);
	out->duration = s;
	return 0;
}

static int port_rule(struct conv *c, json_t *port, const char *path,
		     struct port_out *out)
{
	static const char *const known[] = {
		"number",
		"protocol",
		"allowedSourceAddressPrefix",
		"allowedSourceAddressPrefixes",
		"maxRequestAccessDuration",
		NULL,
	};
	json_t *num = json_object_get(port, "number");
	json_t *proto = json_object_get(port, "protocol");
	char p[PATH_LEN];
	int r = 0;

	if (!json_is_object(port))
		return conv_error(c, path, "expected an object, got %s",
				  json_what(port));
	note_unknown(c, port, path, known);

	if (port_number(c, num, path, &out->number) < 0)
		r = -EINVAL;

	if (!proto) {
		r = conv_error(c, path, "missing required field 'protocol'");
	} else if (!json_is_string(proto)) {
		r = conv_error(c, path_key(p, path, "protocol"),
			       "expected a string, got %s", json_what(proto));
	} else {
		const char *s = json_string_value(proto);

		out->proto_in = s;
		if (streq(s, "TCP"))
			out->protos = JIT_PROTO_TCP;
		else if (streq(s, "UDP"))
			out->protos = JIT_PROTO_UDP;
		else if (streq(s, "*"))
			out->protos = JIT_PROTO_TCP | JIT_PROTO_UDP;
		else
			r = conv_error(c, path_key(p, path, "protocol"),
				       "'%s' is not TCP, UDP or *", SHOW(s));
	}

	if (port_sources(c, port, path, out) < 0)
		r = -EINVAL;
	if (port_duration(c, port, path, out) < 0)
		r = -EINVAL;
	return r;
}

/* Printable ASCII for a YAML comment or double-quoted scalar. */
static void yaml_text(FILE *f, const char *s, size_t max, bool quoted)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		char ch = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';

		if (quoted && (ch == '"' || ch == '\\'))
			fputc('\\', f);
		fputc(ch, f);
	}
}

static int write_yaml(const char *file, const char *policy_name,
		      const char *resource, const char *vm_id,
		      const struct port_out *ports, size_t n_ports,
		      const struct azure_notes *notes, char **ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	fputs("# Imported by jitctl import-azure from ", f);
	yaml_text(f, file, 200, false);
	fputs("\n# (Microsoft.Security jitNetworkAccessPolicies, "
	      "api-version " AZURE_API_VERSION ").\n"
	      "# Who may request access is not part of that format: only "
	      "root may,\n"
	      "# until you add e.g. requesters: {groups: [ops]}\n",
	      f);
	for (size_t i = 0; i < notes->n; i++) {
		fputs("# note: ", f);
		yaml_text(f, notes->v[i], 1000, false);
		fputc('\n', f);
	}
	fprintf(f, "name: %s\n", policy_name);
	fputs("description: \"Imported from jitNetworkAccessPolicies", f);
	if (resource) {
		fputs(" '", f);
		yaml_text(f, resource, 100, true);
		fputc('\'', f);
	}
	fputs(", virtual machine ", f);
	yaml_text(f, vm_id, DESCRIPTION_ID_MAX, true);
	fputs("\"\nports:\n", f);
	for (size_t i = 0; i < n_ports; i++) {
		const struct port_out *p = &ports[i];

		fprintf(f,
			"  - port: %ld\n    protocol: %s\n"
			"    max_duration: %s\n",
			p->number, protocol_word(p->protos), p->duration);
		if (p->any) {
			fputs("    allowed_sources: [any]\n", f);
			continue;
		}
		fputs("    allowed_sources:\n", f);
		for (size_t k = 0; k < p->n_sources; k++)
			fprintf(f, "      - \"%s\"\n", p->sources[k]);
	}
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*ret = text;
	return 0;
}

/* The generated text must load; anything else is a bug here. */
static int self_check(struct conv *c, const char *yaml)
{
	struct jit_policy_file *f = NULL;
	struct jit_diag d;
	int r;

	diag_init(&d);
	r = policy_file_parse("generated.yaml", yaml, strlen(yaml), &f, &d);
	if (r < 0)
		conv_error(c, NULL,
			   "the generated policy does not load (a bug in "
			   "the importer):\n%s",
			   d.text ? d.text : "");
	policy_file_free(f);
	diag_release(&d);
	return r < 0 ? -EINVAL : 0;
}

/* Find the policy's part of the document: props, and its path. */
static json_t *policy_properties(struct conv *c, json_t *res, const char *base,
				 char pbase[static PATH_LEN])
{
	static const char *const envelope[] = {
		"id", "name", "type", "kind", "location", "properties", NULL,
	};
	static const char *const flat[] = {
		"id",	    "name",
		"type",	    "kind",
		"location", "virtualMachines",
		"requests", "provisioningState",
		NULL,
	};
	static const char *const props_known[] = {
		"virtualMachines",
		"requests",
		"provisioningState",
		NULL,
	};
	json_t *props = json_object_get(res, "properties");
	json_t *value = json_object_get(res, "value");

	if (!props && json_is_array(value)) {
		conv_error(c, base,
			   "a list of %zu policies "
			   "(JitNetworkAccessPoliciesList); save the one to "
			   "import to a file of its own",
			   json_array_size(value));
		return NULL;
	}
	if (props) {
		path_key(pbase, base, "properties");
		if (!json_is_object(props)) {
			conv_error(c, pbase, "expected an object, got %s",
				   json_what(props));
			return NULL;
		}
		note_unknown(c, res, base, envelope);
		note_unknown(c, props, pbase, props_known);
		return props;
	}
	if (json_object_get(res, "virtualMachines")) {
		snprintf(pbase, PATH_LEN, "%s", base);
		note_unknown(c, res, base, flat);
		return res;
	}
	conv_error(c, base,
		   "no properties.virtualMachines: not a "
		   "jitNetworkAccessPolicies resource");
	return NULL;
}

/* Index of the virtual machine to import, or -EINVAL. */
static int pick_vm(struct conv *c, json_t *vms, const char *vbase,
		   const char *want)
{
	char p[PATH_LEN], names[512] = "";
	size_t i, off = 0, matches = 0;
	int picked = -1, bad = 0;
	json_t *vm;

	json_array_foreach(vms, i, vm)
	{
		const char *name;

		path_index(p, vbase, i);
		if (!json_is_object(vm)) {
			bad = conv_error(c, p, "expected an object, got %s",
					 json_what(vm));
			continue;
		}
		if (vm_name_of(c, vm, p, &name) < 0) {
			bad = -EINVAL;
			continue;
		}
		if (off < sizeof(names))
			off += (size_t)snprintf(names + off,
						sizeof(names) - off, "%s%s",
						off ? ", " : "", SHOW(name));
		if (want &&
		    (!strcasecmp(name, want) ||
		     !strcasecmp(json_string_value(json_object_get(vm, "id")),
				 want))) {
			matches++;
			if (picked < 0)
				picked = (int)i;
		}
	}
	if (bad < 0)
		return -EINVAL;
	if (want && matches == 0)
		return conv_error(c, vbase,
				  "no virtual machine named '%s'; the "
				  "document has: %s",
				  SHOW(want), names);
	if (want && matches > 1)
		return conv_error(c, vbase,
				  "%zu virtual machines are named '%s'; give "
				  "--vm the whole id",
				  matches, SHOW(want));
	if (!want && json_array_size(vms) > 1)
		return conv_error(c, vbase,
				  "%zu virtual machines (%s); pick one with "
				  "--vm NAME",
				  json_array_size(vms), names);
	return want ? picked : 0;
}

static int import_vm(struct conv *c, json_t *vm, const char *vpath,
		     struct port_out **ret, size_t *ret_n)
{
	static const char *const known[] = { "id", "ports", NULL };
	json_t *ports;
	json_t *pip = json_object_get(vm, "publicIpAddress");
	struct port_out *out;
	char p[PATH_LEN], pj[PATH_LEN];
	json_t *port;
	size_t j;
	int r = 0;

	if (pip) {
		static const char *const with_ip[] = { "id", "ports",
						       "publicIpAddress",
						       NULL };

		conv_note(c, path_key(p, vpath, "publicIpAddress"),
			  "'%s' not imported: it is the address of an Azure "
			  "Firewall; the agent filters on this host itself",
			  json_is_string(pip) ? SHOW(json_string_value(pip))
					      : json_what(pip));
		note_unknown(c, vm, vpath, with_ip);
	} else {
		note_unknown(c, vm, vpath, known);
	}
	ports = required_list(c, vm, vpath, "ports", p,
			      "a policy needs at least one port");
	if (!ports)
		return -EINVAL;
	if (json_array_size(ports) > JIT_POLICY_MAX_PORTS)
		return conv_error(c, p, "%zu ports; a policy has at most %d",
				  json_array_size(ports), JIT_POLICY_MAX_PORTS);
	out = calloc(json_array_size(ports), sizeof(*out));
	if (!out) {
		c->oom = true;
		return -ENOMEM;
	}
	*ret = out;
	*ret_n = json_array_size(ports);
	json_array_foreach(ports, j, port)
	{
		path_index(pj, p, j);
		if (port_rule(c, port, pj, &out[j]) < 0) {
			r = -EINVAL;
			out[j].number = 0;
			continue;
		}
		/* The loader wants one entry per port and protocol. */
		for (size_t k = 0; k < j; k++) {
			if (!out[k].number || out[k].number != out[j].number ||
			    !(out[k].protos & out[j].protos))
				continue;
			r = conv_error(c, pj,
				       "port %ld/%s is already listed at "
				       "ports[%zu] (%ld/%s); a port may be "
				       "listed once per protocol",
				       out[j].number, out[j].proto_in, k,
				       out[k].number, out[k].proto_in);
			break;
		}
	}
	return r;
}

int azure_policy_import(const char *file, const char *text, size_t len,
			const char *vm, const char *name, char **ret_yaml,
			struct azure_notes *notes, struct jit_diag *diag)
{
	struct conv c = { .file = file, .diag = diag, .notes = notes };
	char base[PATH_LEN], pbase[PATH_LEN], vbase[PATH_LEN], vpath[PATH_LEN];
	char idpath[PATH_LEN], policy_name[JIT_POLICY_NAME_MAX + 1];
	struct port_out *ports = NULL;
	size_t n_ports = 0, i;
	unsigned errors = diag->errors;
	json_t *root, *res, *props, *vms, *v;
	const char *vm_name = NULL, *resource;
	int idx, r = -EINVAL;

	if (name && !policy_name_valid(name))
		conv_error(&c, NULL,
			   "--name '%s': a policy name is 1 to %d characters "
			   "from a-z, 0-9, _ and -",
			   SHOW(name), JIT_POLICY_NAME_MAX);
	root = load_json(&c, text, len);
	if (!root)
		goto out;
	res = unwrap(&c, root, base);
	if (!res)
		goto out;
	props = policy_properties(&c, res, base, pbase);
	if (!props)
		goto out;

	vms = required_list(&c, props, pbase, "virtualMachines", vbase,
			    "no virtual machine to import");
	if (!vms)
		goto out;
	v = json_object_get(props, "requests");
	if (json_array_size(v))
		conv_note(&c, path_key(vpath, pbase, "requests"),
			  "%zu recorded request(s) not imported: grants are "
			  "not carried over",
			  json_array_size(v));
	else if (v && !json_is_array(v))
		conv_note(&c, path_key(vpath, pbase, "requests"),
			  "not imported: grants are not carried over");

	idx = pick_vm(&c, vms, vbase, vm);
	if (idx < 0)
		goto out;
	json_array_foreach(vms, i, v)
	{
		const char *other;

		if ((int)i == idx || vm_name_of(&c, v, vbase, &other) < 0)
			continue;
		conv_note(&c, path_index(vpath, vbase, i),
			  "virtual machine '%s' not imported (one per policy; "
			  "run again with --vm %s)",
			  SHOW(other), SHOW(other));
	}
	v = json_array_get(vms, (size_t)idx);
	path_index(vpath, vbase, (size_t)idx);
	vm_name_of(&c, v, vpath, &vm_name);
	if (import_vm(&c, v, vpath, &ports, &n_ports) < 0)
		goto out;

	if (name) {
		snprintf(policy_name, sizeof(policy_name), "%s", name);
	} else {
		azure_policy_name(vm_name, policy_name, sizeof(policy_name));
		if (!streq(policy_name, vm_name))
			conv_note(&c, path_key(idpath, vpath, "id"),
				  "policy named '%s' after the virtual "
				  "machine '%s'",
				  policy_name, SHOW(vm_name));
	}
	if (diag->errors > errors || c.oom)
		goto out;
	resource = json_string_value(json_object_get(res, "name"));
	if (!resource)
		resource = json_string_value(
			json_object_get(json_object_get(root, "parameters"),
					"jitNetworkAccessPolicyName"));
	r = write_yaml(file, policy_name, resource,
		       json_string_value(json_object_get(v, "id")), ports,
		       n_ports, notes, ret_yaml);
	if (r < 0)
		goto out;
	r = self_check(&c, *ret_yaml);
	if (r < 0) {
		free(*ret_yaml);
		*ret_yaml = NULL;
	}
out:
	for (i = 0; i < n_ports; i++)
		free(ports[i].sources);
	free(ports);
	json_decref(root);
	if (c.oom)
		r = -ENOMEM;
	else if (r >= 0 && diag->errors > errors)
		r = -EINVAL;
	return r;
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

/* ---- initiate requests -------------------------------------------------- */

struct azure_request *azure_requests_free(struct azure_request *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		json_decref(v[i].msg);
	}
	free(v);
	return NULL;
}

/* The agent's view of policy: the entry the agent would match for port. */
static int check_limits(struct conv *c, json_t *policies, const char *policy,
			const char *vpath, const char *ppath, long port,
			const char *end_text, uint64_t secs, bool *reported)
{
	json_t *pol = NULL, *v, *entry = NULL;
	char p[PATH_LEN], dur[32], max[32];
	size_t i;

	json_array_foreach(policies, i, v)
	{
		const char *n = json_string_value(json_object_get(v, "name"));

		if (n && streq(n, policy)) {
			pol = v;
			break;
		}
	}
	if (!pol) {
		if (*reported)
			return -EINVAL;
		*reported = true;
		return conv_error(c, vpath,
				  "policy '%s' is not in force on this host "
				  "(import it first, or name one with "
				  "--policy)",
				  policy);
	}
	json_array_foreach(json_object_get(pol, "ports"), i, v)
	{
		json_int_t lo =
			json_integer_value(json_object_get(v, "port_lo"));
		json_int_t hi =
			json_integer_value(json_object_get(v, "port_hi"));

		if (lo <= port && port <= hi) {
			entry = v;
			break;
		}
	}
	if (!entry)
		return conv_error(c, path_key(p, ppath, "number"),
				  "policy '%s' does not protect port %ld",
				  policy, port);
	v = json_object_get(entry, "max_duration_s");
	if (json_is_integer(v) && secs > (uint64_t)json_integer_value(v))
		return conv_error(
			c, path_key(p, ppath, "endTimeUtc"),
			"'%s' is %s from now, beyond the limit of %s for port "
			"%ld under policy '%s'",
			SHOW(end_text), duration_format(secs, dur, sizeof(dur)),
			duration_format((uint64_t)json_integer_value(v), max,
					sizeof(max)),
			port, policy);
	return 0;
}

/* A date-time that would parse with a "Z" after it. */
static bool lacks_offset(const char *s)
{
	_cleanup_free_ char *z = NULL;
	int64_t ms;

	return strlen(s) < 64 && asprintf(&z, "%sZ", s) >= 0 &&
	       azure_time_parse(z, &ms) == 0;
}

static int initiate_port(struct conv *c, json_t *port, const char *path,
			 const char *policy, const char *reason, int64_t now_ms,
			 json_t *policies, const char *vpath, bool *reported,
			 struct azure_request *out)
{
	static const char *const known[] = {
		"number",
		"endTimeUtc",
		"allowedSourceAddressPrefix",
		"allowedSourceAddressPrefixes",
		NULL,
	};
	json_t *num = json_object_get(port, "number");
	json_t *end = json_object_get(port, "endTimeUtc");
	json_t *src = json_object_get(port, "allowedSourceAddressPrefix");
	char p[PATH_LEN], dur[32], buf[JIT_PREFIX_STRLEN];
	struct jit_prefix pfx;
	const char *end_text = NULL;
	uint64_t secs = 0;
	long number = 0;
	int r = 0;

	if (!json_is_object(port))
		return conv_error(c, path, "expected an object, got %s",
				  json_what(port));
	note_unknown(c, port, path, known);

	if (port_number(c, num, path, &number) < 0)
		r = -EINVAL;

	if (!end) {
		r = conv_error(c, path, "missing required field 'endTimeUtc'");
	} else if (!json_is_string(end)) {
		r = conv_error(c, path_key(p, path, "endTimeUtc"),
			       "expected a string, got %s", json_what(end));
	} else {
		int64_t end_ms;

		end_text = json_string_value(end);
		path_key(p, path, "endTimeUtc");
		if (azure_time_parse(end_text, &end_ms) < 0 &&
		    lacks_offset(end_text))
			r = conv_error(c, p,
				       "'%s' has no UTC offset; end it with Z "
				       "(the time in UTC)",
				       SHOW(end_text));
		else if (azure_time_parse(end_text, &end_ms) < 0)
			r = conv_error(c, p,
				       "'%s' is not a date-time with a UTC "
				       "offset like 2026-12-01T14:03:11Z",
				       SHOW(end_text));
		else if (end_ms <= now_ms && now_ms - end_ms < 1000)
			r = conv_error(c, p, "'%s' is not in the future",
				       SHOW(end_text));
		else if (end_ms <= now_ms)
			r = conv_error(
				c, p, "'%s' is in the past (%s ago)",
				SHOW(end_text),
				duration_format((uint64_t)(now_ms - end_ms) /
							1000,
						dur, sizeof(dur)));
		else if ((secs = (uint64_t)(end_ms - now_ms + 999) / 1000) >
			 JIT_DURATION_MAX_S)
			r = conv_error(c, p,
				       "'%s' is %s from now, beyond the limit "
				       "of one day",
				       SHOW(end_text),
				       duration_format(secs, dur, sizeof(dur)));
		else
			out->end_ms = end_ms;
	}

	if (json_object_get(port, "allowedSourceAddressPrefixes")) {
		r = conv_error(c, path,
			       src ? "both allowedSourceAddressPrefix and "
				     "allowedSourceAddressPrefixes are given; "
				     "an initiate request takes only "
				     "allowedSourceAddressPrefix"
				   : "allowedSourceAddressPrefixes is not "
				     "part of an initiate request; give one "
				     "allowedSourceAddressPrefix per port");
		src = NULL;
	} else if (!src) {
		r = conv_error(c, path,
			       "missing allowedSourceAddressPrefix: the cloud "
			       "would use the caller's address, which jitctl "
			       "cannot know; give the address to open from");
	} else if (!json_is_string(src)) {
		r = conv_error(c,
			       path_key(p, path, "allowedSourceAddressPrefix"),
			       "expected a string, got %s", json_what(src));
		src = NULL;
	} else if (streq(json_string_value(src), "*")) {
		r = conv_error(c,
			       path_key(p, path, "allowedSourceAddressPrefix"),
			       "'*' would open the port to every address; "
			       "give an address or a prefix");
		src = NULL;
	} else if (parse_prefix(c,
				path_key(p, path, "allowedSourceAddressPrefix"),
				json_string_value(src), &pfx) < 0) {
		r = -EINVAL;
		src = NULL;
	}
	if (r < 0)
		return r;

	if (policies && check_limits(c, policies, policy, vpath, path, number,
				     end_text, secs, reported) < 0)
		return -EINVAL;

	out->path = strdup(path);
	out->msg = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "op", "request",
			     "policy", policy, "port", (int)number, "source",
			     prefix_format(&pfx, buf, sizeof(buf)), "duration",
			     (json_int_t)secs, "reason", reason);
	if (!out->path || !out->msg) {
		c->oom = true;
		return -ENOMEM;
	}
	return 0;
}

static int justification(struct conv *c, json_t *body, const char *base,
			 const char **ret)
{
	json_t *j = json_object_get(body, "justification");
	char p[PATH_LEN];
	const char *s;

	*ret = "";
	if (!j)
		return 0;
	path_key(p, base, "justification");
	s = json_string_value(j);
	if (!s)
		return conv_error(c, p, "expected a string, got %s",
				  json_what(j));
	if (strlen(s) >= JIT_REASON_MAX)
		return conv_error(c, p,
				  "%zu bytes; at most %d are kept in the "
				  "request record",
				  strlen(s), JIT_REASON_MAX - 1);
	for (const char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return conv_error(c, p,
					  "contains control characters (line "
					  "breaks, tabs)");
	*ret = s;
	return 0;
}

int azure_initiate_parse(const char *file, const char *text, size_t len,
			 const char *policy, int64_t now_ms, json_t *policies,
			 struct azure_request **ret, size_t *ret_n,
			 struct azure_notes *notes, struct jit_diag *diag)
{
	static const char *const known[] = { "virtualMachines", "justification",
					     NULL };
	static const char *const vm_known[] = { "id", "ports", NULL };
	struct conv c = { .file = file, .diag = diag, .notes = notes };
	char base[PATH_LEN], vbase[PATH_LEN], vpath[PATH_LEN], pp[PATH_LEN],
		pj[PATH_LEN];
	struct azure_request *reqs = NULL;
	size_t n = 0, cap = 0, i, j;
	unsigned errors = diag->errors;
	json_t *root, *body, *vms, *vm, *port;
	const char *reason;
	int r = -EINVAL;

	if (policy && !policy_name_valid(policy))
		conv_error(&c, NULL,
			   "--policy '%s': a policy name is 1 to %d "
			   "characters from a-z, 0-9, _ and -",
			   SHOW(policy), JIT_POLICY_NAME_MAX);
	root = load_json(&c, text, len);
	if (!root)
		goto out;
	body = unwrap(&c, root, base);
	if (!body)
		goto out;
	note_unknown(&c, body, base, known);
	justification(&c, body, base, &reason);

	vms = required_list(&c, body, base, "virtualMachines", vbase,
			    "nothing to request");
	if (!vms)
		goto out;
	if (policy && json_array_size(vms) > 1) {
		conv_error(&c, vbase,
			   "%zu virtual machines, but --policy names one "
			   "policy; write one virtual machine per body",
			   json_array_size(vms));
		goto out;
	}

	json_array_foreach(vms, i, vm)
	{
		char derived[JIT_POLICY_NAME_MAX + 1];
		json_t *ports;
		const char *name;
		bool reported = false;

		path_index(vpath, vbase, i);
		if (!json_is_object(vm)) {
			conv_error(&c, vpath, "expected an object, got %s",
				   json_what(vm));
			continue;
		}
		note_unknown(&c, vm, vpath, vm_known);
		if (vm_name_of(&c, vm, vpath, &name) < 0)
			continue;
		azure_policy_name(name, derived, sizeof(derived));
		ports = required_list(&c, vm, vpath, "ports", pp,
				      "nothing to request");
		if (!ports)
			continue;
		json_array_foreach(ports, j, port)
		{
			if (grow_array((void **)&reqs, &cap, n + 1,
				       sizeof(*reqs)) < 0) {
				c.oom = true;
				goto out;
			}
			reqs[n] = (struct azure_request){ 0 };
			path_index(pj, pp, j);
			if (initiate_port(&c, port, pj,
					  policy ? policy : derived, reason,
					  now_ms, policies, vpath, &reported,
					  &reqs[n]) < 0) {
				free(reqs[n].path);
				json_decref(reqs[n].msg);
				continue;
			}
			n++;
		}
	}
	if (diag->errors == errors && !c.oom) {
		*ret = TAKE_PTR(reqs);
		*ret_n = n;
		r = 0;
	}
out:
	azure_requests_free(reqs, n);
	json_decref(root);
	if (c.oom)
		return -ENOMEM;
	return r;
}

/* ---- request records ---------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int
fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "192.0.2.7/32" -> "192.0.2.7": the cloud writes hosts bare. */
static void bare_host(const char *src, char *buf, size_t n)
{
	struct jit_prefix p;
	const char *slash;

	snprintf(buf, n, "%s", src);
	if (prefix_parse(src, &p) < 0)
		return;
	slash = strchr(buf, '/');
	if (slash && p.len == (p.family == AF_INET ? 32 : 128))
		buf[slash - buf] = '\0';
}

static int record_to_azure(json_t *rec, size_t idx, json_t **ret, char *err,
			   size_t errlen)
{
	const char *status = json_string_value(json_object_get(rec, "status"));
	const char *why =
		json_string_value(json_object_get(rec, "status_reason"));
	const char *policy = json_string_value(json_object_get(rec, "policy"));
	const char *source = json_string_value(json_object_get(rec, "source"));
	const char *user = json_string_value(
		json_object_get(json_object_get(rec, "requestor"), "user"));
	const char *reason = json_string_value(json_object_get(rec, "reason"));
	json_t *lo = json_object_get(rec, "port_lo");
	json_t *hi = json_object_get(rec, "port_hi");
	json_t *start = json_object_get(rec, "start_ms");
	json_t *end = json_object_get(rec, "end_ms");
	const char *st, *st_reason;
	char endt[40], startt[40], host[JIT_PREFIX_STRLEN];
	json_t *ports, *out;

	if (!status || !policy || !source || !json_is_integer(lo) ||
	    !json_is_integer(hi) || !json_is_integer(start) ||
	    !json_is_integer(end))
		return fmt_err(err, errlen,
			       "request record %zu lacks status, policy, "
			       "source, port_lo, port_hi, start_ms or end_ms",
			       idx);
	if (streq(status, "initiated")) {
		st = "Initiated";
		st_reason = "UserRequested";
	} else if (streq(status, "expired")) {
		st = "Revoked";
		st_reason = "Expired";
	} else {
		st = "Revoked";
		st_reason = why && streq(why, JIT_REASON_NEWER)
				    ? "NewerRequestInitiated"
				    : "UserRequested";
	}
	if (json_integer_value(lo) < 1 ||
	    json_integer_value(hi) < json_integer_value(lo) ||
	    json_integer_value(hi) > 65535)
		return fmt_err(err, errlen,
			       "request record %zu has a bad port range", idx);

	azure_time_format(json_integer_value(end), endt, sizeof(endt));
	azure_time_format(json_integer_value(start), startt, sizeof(startt));
	bare_host(source, host, sizeof(host));
	ports = json_array();
	if (!ports)
		return -ENOMEM;
	for (json_int_t p = json_integer_value(lo); p <= json_integer_value(hi);
	     p++)
		if (json_array_append_new(
			    ports,
			    json_pack("{s:I, s:s, s:s, s:s, s:s}", "number", p,
				      "allowedSourceAddressPrefix", host,
				      "endTimeUtc", endt, "status", st,
				      "statusReason", st_reason)) < 0) {
			json_decref(ports);
			return -ENOMEM;
		}
	out = json_pack("{s:[{s:s, s:o}], s:s, s:s}", "virtualMachines", "id",
			policy, "ports", ports, "startTimeUtc", startt,
			"requestor", user && *user ? user : "unknown");
	if (!out)
		return -ENOMEM;
	if (reason && *reason &&
	    json_object_set_new(out, "justification", json_string(reason)) <
		    0) {
		json_decref(out);
		return -ENOMEM;
	}
	*ret = out;
	return 0;
}

int azure_requests_format(json_t *records, json_t **ret, size_t *skipped,
			  char *err, size_t errlen)
{
	json_t *arr, *rec;
	size_t i;

	*skipped = 0;
	if (!json_is_array(records))
		return fmt_err(err, errlen, "the requests are not a list");
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	json_array_foreach(records, i, rec)
	{
		const char *st =
			json_string_value(json_object_get(rec, "status"));
		json_t *one = NULL;
		int r;

		/*
		 * Never opened (pending, denied, or withdrawn while pending):
		 * the cloud shape has no status for them.
		 */
		if ((st && !streq(st, "initiated") && !streq(st, "revoked") &&
		     !streq(st, "expired")) ||
		    (st &&
		     !json_integer_value(json_object_get(rec, "start_ms")))) {
			(*skipped)++;
			continue;
		}
		r = record_to_azure(rec, i, &one, err, errlen);
		if (r < 0 || json_array_append_new(arr, one) < 0) {
			json_decref(arr);
			return r < 0 ? r : -ENOMEM;
		}
	}
	*ret = arr;
	return 0;
}
