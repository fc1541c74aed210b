/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cloud JIT format: policies (jitNetworkAccessPolicies) to policy files. */
#include <strings.h>

#include "addr.h"
#include "azure-internal.h"
#include "duration.h"
#include "policy.h"
#include "util.h"

/* The cloud refuses maxRequestAccessDuration below this; we allow it. */
#define CLOUD_MIN_DURATION_S 300u
/* Room for the file name and the id in a generated description. */
#define DESCRIPTION_ID_MAX 700

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

#define POLICY_TAG_HINT                                                   \
	"of the tags only *, Any and Internet are read (as any source): " \
	"list the prefixes it stands for instead"

/* "*", "Any" and "Internet": any source ("Internet" with a note). */
static bool any_source(struct conv *c, const char *path, const char *s)
{
	if (!tag_means_any(s))
		return false;
	if (!strcasecmp(s, "Internet"))
		conv_note(c, path,
			  "'%s' read as any source: this host cannot tell the "
			  "internet's addresses from the others",
			  SHOW(s));
	return true;
}

/* allowedSourceAddressPrefix: one prefix, or any source. */
static int port_source_one(struct conv *c, json_t *one, const char *path,
			   struct port_out *out)
{
	const char *s = json_string_value(one);
	char p[PATH_LEN];
	struct jit_prefix pfx;

	path_key(p, path, "allowedSourceAddressPrefix");
	if (!s)
		return conv_error(c, p, "expected a string, got %s",
				  json_what(one));
	if (any_source(c, p, s)) {
		out->any = true;
		return 0;
	}
	out->sources = calloc(1, sizeof(*out->sources));
	if (!out->sources) {
		c->oom = true;
		return -ENOMEM;
	}
	if (parse_prefix(c, p, s, POLICY_TAG_HINT, &pfx) < 0)
		return -EINVAL;
	prefix_format(&pfx, out->sources[0], sizeof(out->sources[0]));
	out->n_sources = 1;
	return 0;
}

/*
 * allowedSourceAddressPrefixes: a list of prefixes, or of "*" (or
 * another tag read as any source) alone. Every item is checked.
 */
static int port_source_list(struct conv *c, json_t *many, const char *path,
			    struct port_out *out)
{
	char p[PATH_LEN], pi[PATH_LEN];
	const char *star = NULL;
	struct jit_prefix pfx;
	json_t *v;
	size_t i;
	int r = 0;

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
		if (any_source(c, pi, s)) {
			star = star ? star : s;
			continue;
		}
		if (parse_prefix(c, pi, s, POLICY_TAG_HINT, &pfx) < 0) {
			r = -EINVAL;
			continue;
		}
		prefix_format(&pfx, out->sources[out->n_sources],
			      sizeof(out->sources[0]));
		out->n_sources++;
	}
	if (star && (out->n_sources || r < 0))
		return conv_error(
			c, p,
			"'%s' cannot be combined with other "
			"prefixes; write either [\"%s\"] or a list of "
			"prefixes",
			SHOW(star), SHOW(star));
	if (star)
		out->any = true;
	return r;
}

static int port_sources(struct conv *c, json_t *port, const char *path,
			struct port_out *out)
{
	json_t *one = json_object_get(port, "allowedSourceAddressPrefix");
	json_t *many = json_object_get(port, "allowedSourceAddressPrefixes");

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
	if (one)
		return port_source_one(c, one, path, out);
	return port_source_list(c, many, path, out);
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

/* The notes of one policy: about it, its resource or the whole document. */
struct note_list {
	const char **v;
	size_t n;
};

static int write_yaml(const char *file, const char *policy_name,
		      const char *resource, const char *vm_id,
		      const struct port_out *ports, size_t n_ports,
		      const struct note_list *notes, char **ret)
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

/* ---- the document: resources and their virtual machines ---------------- */

#define POLICY_TYPE "Microsoft.Security/locations/jitNetworkAccessPolicies"
/* The type of the older API versions (2015-06-01-preview), no location. */
#define POLICY_TYPE_OLD "Microsoft.Security/jitNetworkAccessPolicies"

static bool is_policy_type(const char *type)
{
	return type && (!strcasecmp(type, POLICY_TYPE) ||
			!strcasecmp(type, POLICY_TYPE_OLD));
}

/**
 * struct source - one jitNetworkAccessPolicies resource of the document
 * @res: the resource (a reference; for a template, the evaluated copy)
 * @base: its path
 * @name: its name, for the description, or NULL
 * @notes_from: the notes made while reading it are [notes_from, notes_to)
 * @notes_to: see @notes_from
 */
struct source {
	json_t *res;
	char base[PATH_LEN];
	const char *name;
	size_t notes_from, notes_to;
};

/**
 * struct vm_in - one virtual machine of a resource, and its policy
 * @src: index of its resource
 * @vm: its object (borrowed from the resource)
 * @path: its path
 * @name: the last segment of its id
 * @id: its id
 * @picked: to be imported
 * @policy: the policy's name
 * @ports: the port entries
 * @n_ports: entries in @ports
 * @notes_from: the notes made while converting it are [notes_from, notes_to)
 * @notes_to: see @notes_from
 */
struct vm_in {
	size_t src;
	json_t *vm;
	char path[PATH_LEN];
	const char *name;
	const char *id;
	bool picked;
	char policy[JIT_POLICY_NAME_MAX + 1];
	struct port_out *ports;
	size_t n_ports;
	size_t notes_from, notes_to;
};

struct import {
	struct conv c;
	struct source *srcs;
	size_t n_srcs, cap_srcs;
	struct vm_in *vms;
	size_t n_vms, cap_vms;
	/* Several resources: one without virtual machines is a note. */
	bool list;
};

static struct source *add_source(struct import *im, json_t *res,
				 const char *base)
{
	struct source *s;

	if (grow_array((void **)&im->srcs, &im->cap_srcs, im->n_srcs + 1,
		       sizeof(*im->srcs)) < 0) {
		im->c.oom = true;
		json_decref(res);
		return NULL;
	}
	s = &im->srcs[im->n_srcs++];
	*s = (struct source){ .res = res, .notes_from = im->c.notes->n };
	snprintf(s->base, sizeof(s->base), "%s", base);
	return s;
}

/* The virtual machines of a resource, each with an id to name it by. */
static void add_vms(struct import *im, size_t src, json_t *vms,
		    const char *vbase)
{
	struct conv *c = &im->c;
	json_t *vm;
	size_t i;

	json_array_foreach(vms, i, vm)
	{
		struct vm_in *v;
		char p[PATH_LEN];
		const char *name;

		path_index(p, vbase, i);
		if (!json_is_object(vm)) {
			conv_error(c, p, "expected an object, got %s",
				   json_what(vm));
			continue;
		}
		if (vm_name_of(c, vm, p, &name) < 0)
			continue;
		if (grow_array((void **)&im->vms, &im->cap_vms, im->n_vms + 1,
			       sizeof(*im->vms)) < 0) {
			c->oom = true;
			return;
		}
		v = &im->vms[im->n_vms++];
		*v = (struct vm_in){ .src = src, .vm = vm, .name = name };
		v->id = json_string_value(json_object_get(vm, "id"));
		snprintf(v->path, sizeof(v->path), "%s", p);
	}
}

/*
 * A policy resource: enveloped ({"properties": {"virtualMachines"}}, as
 * the REST API and templates write it) or flat (virtualMachines at the
 * top, as the SDKs and az print it). envelope lists the fields known
 * around the properties.
 */
static void read_policy(struct import *im, struct source *s,
			const char *const *envelope)
{
	static const char *const flat[] = {
		"id",
		"name",
		"type",
		"kind",
		"location",
		"resourceGroup",
		"requests",
		"provisioningState",
		"virtualMachines",
		NULL,
	};
	static const char *const props_known[] = {
		"virtualMachines",
		"requests",
		"provisioningState",
		NULL,
	};
	struct conv *c = &im->c;
	json_t *props = json_object_get(s->res, "properties");
	json_t *type = json_object_get(s->res, "type"), *vms, *v;
	char pbase[PATH_LEN], vbase[PATH_LEN], p[PATH_LEN];
	size_t src = (size_t)(s - im->srcs);

	s->name = json_string_value(json_object_get(s->res, "name"));
	if (json_is_string(type) && !is_policy_type(json_string_value(type))) {
		conv_error(c, path_key(p, s->base, "type"),
			   "'%s' is not a jitNetworkAccessPolicies resource",
			   SHOW(json_string_value(type)));
		goto out;
	}
	if (props) {
		path_key(pbase, s->base, "properties");
		if (!json_is_object(props)) {
			conv_error(c, pbase, "expected an object, got %s",
				   json_what(props));
			goto out;
		}
		note_unknown(c, s->res, s->base, envelope);
		note_unknown(c, props, pbase, props_known);
	} else if (json_object_get(s->res, "virtualMachines")) {
		props = s->res;
		snprintf(pbase, sizeof(pbase), "%s", s->base);
		note_unknown(c, s->res, s->base, flat);
	} else {
		conv_error(c, s->base,
			   "no properties.virtualMachines: not a "
			   "jitNetworkAccessPolicies resource");
		goto out;
	}
	v = json_object_get(props, "requests");
	if (json_array_size(v))
		conv_note(c, path_key(p, pbase, "requests"),
			  "%zu recorded request(s) not imported: grants are "
			  "not carried over",
			  json_array_size(v));
	else if (v && !json_is_array(v))
		conv_note(c, path_key(p, pbase, "requests"),
			  "not imported: grants are not carried over");
	vms = json_object_get(props, "virtualMachines");
	path_key(vbase, pbase, "virtualMachines");
	if (im->list && json_is_array(vms) && !json_array_size(vms))
		conv_note(c, vbase, "empty: no virtual machine to import");
	else if (required_list(c, props, pbase, "virtualMachines", vbase,
			       "no virtual machine to import"))
		add_vms(im, src, vms, vbase);
out:
	s->notes_to = c->notes->n;
}

static const char *const resource_fields[] = {
	"id", "name", "type", "kind", "location", "properties", NULL,
};

/* {"value": [...]} (a page of a list), or the bare list az prints. */
static void read_list(struct import *im, json_t *list, const char *base)
{
	json_t *arr =
		json_is_array(list) ? list : json_object_get(list, "value");
	char p[PATH_LEN], vbase[PATH_LEN];
	json_t *v;
	size_t i;

	im->list = true;
	if (json_is_object(list)) {
		static const char *const known[] = { "value", "nextLink",
						     NULL };

		note_unknown(&im->c, list, base, known);
		if (json_is_string(json_object_get(list, "nextLink")))
			conv_note(&im->c, path_key(p, base, "nextLink"),
				  "more policies are on a next page, not read; "
				  "fetch and import it too");
		path_key(vbase, base, "value");
	} else {
		snprintf(vbase, sizeof(vbase), "%s", base);
	}
	json_array_foreach(arr, i, v)
	{
		struct source *s;

		path_index(p, vbase, i);
		if (!json_is_object(v)) {
			conv_error(&im->c, p, "expected an object, got %s",
				   json_what(v));
			continue;
		}
		s = add_source(im, json_incref(v), p);
		if (s)
			read_policy(im, s, resource_fields);
	}
}

/* The resource's name, for the description only: a note if it cannot be. */
static json_t *template_name(struct conv *c, json_t *tpl, json_t *name,
			     const char *res_path)
{
	struct jit_diag quiet_diag;
	struct conv quiet = { .file = c->file,
			      .diag = &quiet_diag,
			      .notes = c->notes };
	char p[PATH_LEN];
	json_t *v;

	if (!name)
		return NULL;
	path_key(p, res_path, "name");
	diag_init(&quiet_diag);
	v = arm_evaluate(&quiet, tpl, name, p);
	diag_release(&quiet_diag);
	c->oom |= quiet.oom;
	if (!v && json_is_string(name))
		conv_note(c, p,
			  "'%s' is not evaluated; the description leaves it "
			  "out",
			  SHOW(json_string_value(name)));
	return json_is_string(v) ? v : (json_decref(v), NULL);
}

/*
 * An ARM template: each of its resources of the policies' type, with the
 * template expressions of its name and properties evaluated.
 */
static void read_template(struct import *im, json_t *tpl)
{
	static const char *const arm_fields[] = {
		"apiVersion", "type",	    "name",	 "location", "kind",
		"id",	      "properties", "dependsOn", "comments", NULL,
	};
	struct conv *c = &im->c;
	json_t *resources = json_object_get(tpl, "resources"), *r;
	char p[PATH_LEN], others[200] = "";
	size_t i, off = 0, n_others = 0;

	if (!json_is_array(resources)) {
		conv_error(c, "resources", "expected a list, got %s",
			   resources ? json_what(resources) : "nothing");
		return;
	}
	im->list = true;
	json_array_foreach(resources, i, r)
	{
		const char *type =
			json_string_value(json_object_get(r, "type"));
		json_t *copy, *props, *name;
		struct source *s;

		path_index(p, "resources", i);
		if (!is_policy_type(type)) {
			n_others++;
			if (off < sizeof(others))
				off += (size_t)snprintf(
					others + off, sizeof(others) - off,
					"%s%s", off ? ", " : "",
					type ? SHOW(type) : "?");
			continue;
		}
		copy = json_copy(r);
		s = copy ? add_source(im, copy, p) : NULL;
		if (!s) {
			c->oom = true;
			return;
		}
		note_api_version(
			c, json_object_get(r, "apiVersion"),
			path_key((char[PATH_LEN]){ 0 }, p, "apiVersion"));
		if (json_object_get(r, "condition") ||
		    json_object_get(r, "copy"))
			conv_note(c, p,
				  "its condition or copy loop is not "
				  "evaluated: the resource is read once, as "
				  "written");
		json_object_del(copy, "condition");
		json_object_del(copy, "copy");
		name = template_name(c, tpl, json_object_get(r, "name"), p);
		json_object_del(copy, "name");
		if (name)
			json_object_set_new(copy, "name", name);
		props = arm_evaluate(
			c, tpl, json_object_get(r, "properties"),
			path_key((char[PATH_LEN]){ 0 }, p, "properties"));
		if (!props) {
			s->notes_to = c->notes->n;
			continue;
		}
		json_object_set_new(copy, "properties", props);
		read_policy(im, s, arm_fields);
	}
	if (n_others)
		conv_note(c, "resources",
			  "%zu other resource(s) not read: %s%s", n_others,
			  others, off >= sizeof(others) ? "..." : "");
	if (!im->n_srcs && !c->diag->errors)
		conv_error(c, "resources",
			   "no resource of type " POLICY_TYPE
			   " in this template");
}

/* Everything the document holds, by what it is. */
static void read_document(struct import *im, json_t *doc, const char *base)
{
	struct conv *c = &im->c;
	struct source *s;

	switch (azure_kind_of(doc)) {
	case AZURE_TEMPLATE:
		read_template(im, doc);
		break;
	case AZURE_POLICY_LIST:
	case AZURE_EMPTY_LIST:
		read_list(im, doc, base);
		if (!im->n_srcs && !c->diag->errors)
			conv_error(c, base,
				   "an empty list: no policy to "
				   "import");
		break;
	case AZURE_INITIATE:
		conv_error(c, base,
			   "this is an initiate request body "
			   "(JitNetworkAccessPolicyInitiateRequest), not a "
			   "policy; to request access with it, run: jitctl "
			   "request --azure %s",
			   c->file);
		break;
	case AZURE_RECORD:
	case AZURE_RECORDS:
		conv_error(
			c, base,
			"these are access requests (JitNetworkAccessRequest, "
			"as 'jitctl requests --format azure' prints them), "
			"not a policy; to request the same access again, "
			"run: jitctl request --azure %s",
			c->file);
		break;
	default:
		/* Each entry of a list says what is wrong with it. */
		if (json_is_array(doc)) {
			read_list(im, doc, base);
			break;
		}
		s = add_source(im, json_incref(doc), base);
		if (s)
			read_policy(im, s, resource_fields);
	}
}

/* --vm: the one virtual machine to import, or -EINVAL. */
static int pick_vm(struct import *im, const char *want)
{
	struct conv *c = &im->c;
	char names[512] = "";
	size_t i, off = 0, matches = 0, picked = 0;

	for (i = 0; i < im->n_vms; i++) {
		struct vm_in *v = &im->vms[i];

		if (off < sizeof(names))
			off += (size_t)snprintf(names + off,
						sizeof(names) - off, "%s%s",
						off ? ", " : "", SHOW(v->name));
		if (!strcasecmp(v->name, want) || !strcasecmp(v->id, want)) {
			if (!matches++)
				picked = i;
		}
	}
	if (matches == 0)
		return conv_error(c, NULL,
				  "no virtual machine named '%s'; the "
				  "document has: %s",
				  SHOW(want), names);
	if (matches > 1)
		return conv_error(c, NULL,
				  "%zu virtual machines are named '%s'; give "
				  "--vm the whole id",
				  matches, SHOW(want));
	for (i = 0; i < im->n_vms; i++) {
		im->vms[i].picked = i == picked;
		if (i != picked)
			conv_note(c, im->vms[i].path,
				  "virtual machine '%s' not imported (--vm "
				  "picks '%s')",
				  SHOW(im->vms[i].name),
				  SHOW(im->vms[picked].name));
	}
	return 0;
}

/* The port entries of one virtual machine. */
static int import_vm(struct conv *c, struct vm_in *v)
{
	static const char *const known[] = { "id", "ports", NULL };
	static const char *const with_ip[] = { "id", "ports", "publicIpAddress",
					       NULL };
	json_t *pip = json_object_get(v->vm, "publicIpAddress");
	char p[PATH_LEN], pj[PATH_LEN];
	json_t *ports, *port;
	size_t j;
	int r = 0;

	/* az writes "publicIpAddress": null for none: nothing is lost. */
	if (json_is_null(pip))
		pip = NULL;

	if (pip)
		conv_note(c, path_key(p, v->path, "publicIpAddress"),
			  "'%s' not imported: it is the address of an Azure "
			  "Firewall; the agent filters on this host itself",
			  json_is_string(pip) ? SHOW(json_string_value(pip))
					      : json_what(pip));
	note_unknown(c, v->vm, v->path,
		     json_object_get(v->vm, "publicIpAddress") ? with_ip
							       : known);
	ports = required_list(c, v->vm, v->path, "ports", p,
			      "a policy needs at least one port");
	if (!ports)
		return -EINVAL;
	if (json_array_size(ports) > JIT_POLICY_MAX_PORTS)
		return conv_error(c, p, "%zu ports; a policy has at most %d",
				  json_array_size(ports), JIT_POLICY_MAX_PORTS);
	v->ports = calloc(json_array_size(ports), sizeof(*v->ports));
	if (!v->ports) {
		c->oom = true;
		return -ENOMEM;
	}
	v->n_ports = json_array_size(ports);
	json_array_foreach(ports, j, port)
	{
		struct port_out *out = v->ports;

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

/* Its policy's name: --name, or after the virtual machine; never twice. */
static int name_policy(struct import *im, struct vm_in *v, const char *name)
{
	struct conv *c = &im->c;
	char p[PATH_LEN];

	if (name) {
		snprintf(v->policy, sizeof(v->policy), "%s", name);
	} else {
		azure_policy_name(v->name, v->policy, sizeof(v->policy));
		if (!streq(v->policy, v->name))
			conv_note(c, path_key(p, v->path, "id"),
				  "policy named '%s' after the virtual "
				  "machine '%s'",
				  v->policy, SHOW(v->name));
	}
	for (struct vm_in *o = im->vms; o < v; o++)
		if (o->picked && streq(o->policy, v->policy))
			return conv_error(c, v->path,
					  "its policy would be named '%s', as "
					  "that of %s; import one of them "
					  "with --vm (and --name)",
					  v->policy, o->path);
	return 0;
}

/* The notes that go into one policy's file, in the order they came. */
static int notes_of(const struct import *im, const struct vm_in *v,
		    struct note_list *ret)
{
	const struct azure_notes *notes = im->c.notes;

	ret->n = 0;
	ret->v = calloc(notes->n + 1, sizeof(*ret->v));
	if (!ret->v)
		return -ENOMEM;
	for (size_t i = 0; i < notes->n; i++) {
		bool mine = i >= v->notes_from && i < v->notes_to;
		bool other = false;

		/* Another resource's, or another virtual machine's: not. */
		for (size_t k = 0; !mine && !other && k < im->n_srcs; k++)
			if (i >= im->srcs[k].notes_from &&
			    i < im->srcs[k].notes_to)
				other = k != v->src;
		for (size_t k = 0; !mine && !other && k < im->n_vms; k++)
			if (i >= im->vms[k].notes_from &&
			    i < im->vms[k].notes_to)
				other = true;
		if (mine || !other)
			ret->v[ret->n++] = notes->v[i];
	}
	return 0;
}

static int write_policy(struct import *im, struct vm_in *v,
			struct azure_policy *out)
{
	const struct source *s = &im->srcs[v->src];
	struct note_list notes;
	int r;

	if (notes_of(im, v, &notes) < 0)
		return -ENOMEM;
	r = write_yaml(im->c.file, v->policy, s->name, v->id, v->ports,
		       v->n_ports, &notes, &out->yaml);
	free(notes.v);
	if (r < 0)
		return r;
	out->name = strdup(v->policy);
	out->vm_id = strdup(v->id);
	if (!out->name || !out->vm_id)
		return -ENOMEM;
	return self_check(&im->c, out->yaml);
}

struct azure_policy *azure_policies_free(struct azure_policy *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].vm_id);
		free(v[i].yaml);
	}
	free(v);
	return NULL;
}

char *azure_policies_yaml(const struct azure_policy *v, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 1)
		return strdup(v[0].yaml);
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	/* Each policy a document of its own, each with its comments. */
	for (size_t i = 0; i < n; i++)
		fprintf(f, "---\n%s", v[i].yaml);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void import_release(struct import *im)
{
	for (size_t i = 0; i < im->n_srcs; i++)
		json_decref(im->srcs[i].res);
	free(im->srcs);
	for (size_t i = 0; i < im->n_vms; i++) {
		for (size_t k = 0; k < im->vms[i].n_ports; k++)
			free(im->vms[i].ports[k].sources);
		free(im->vms[i].ports);
	}
	free(im->vms);
}

/* Convert what was picked; the policies go to *ret. */
static int convert(struct import *im, const char *name,
		   struct azure_policy **ret, size_t *ret_n)
{
	struct conv *c = &im->c;
	struct azure_policy *out;
	size_t n = 0, n_picked = 0;
	int r = 0;

	for (size_t i = 0; i < im->n_vms; i++)
		n_picked += im->vms[i].picked;
	if (name && n_picked > 1)
		return conv_error(c, NULL,
				  "--name names one policy, but %zu virtual "
				  "machines are imported; pick one with --vm",
				  n_picked);
	for (size_t i = 0; i < im->n_vms; i++) {
		struct vm_in *v = &im->vms[i];

		if (!v->picked)
			continue;
		v->notes_from = c->notes->n;
		if (import_vm(c, v) < 0 || name_policy(im, v, name) < 0)
			r = -EINVAL;
		v->notes_to = c->notes->n;
	}
	if (r < 0 || c->diag->errors || c->oom)
		return -EINVAL;
	out = calloc(n_picked, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < im->n_vms && r >= 0; i++) {
		if (!im->vms[i].picked)
			continue;
		r = write_policy(im, &im->vms[i], &out[n++]);
	}
	if (r < 0) {
		azure_policies_free(out, n);
		return r;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

int azure_policy_import(const char *file, const char *text, size_t len,
			const char *vm, const char *name,
			struct azure_policy **ret, size_t *ret_n,
			struct azure_notes *notes, struct jit_diag *diag)
{
	struct import im = {
		.c = { .file = file, .diag = diag, .notes = notes },
	};
	unsigned errors = diag->errors, read_errors;
	char base[PATH_LEN];
	json_t *root, *doc;
	int r = -EINVAL;

	*ret = NULL;
	*ret_n = 0;
	if (name && !policy_name_valid(name))
		conv_error(&im.c, NULL,
			   "--name '%s': a policy name is 1 to %d characters "
			   "from a-z, 0-9, _ and -",
			   SHOW(name), JIT_POLICY_NAME_MAX);
	read_errors = diag->errors;
	root = load_json(&im.c, text, len);
	doc = root ? unwrap(&im.c, root, base) : NULL;
	if (doc)
		read_document(&im, doc, base);
	if (!doc || diag->errors > read_errors || im.c.oom)
		goto out;
	/* A REST example names the resource it creates in its parameters. */
	for (size_t i = 0; i < im.n_srcs; i++)
		if (!im.srcs[i].name)
			im.srcs[i].name = json_string_value(json_object_get(
				json_object_get(root, "parameters"),
				"jitNetworkAccessPolicyName"));
	if (!im.n_vms) {
		conv_error(&im.c, base, "no virtual machine to import");
		goto out;
	}
	if (vm) {
		pick_vm(&im, vm);
	} else {
		for (size_t i = 0; i < im.n_vms; i++)
			im.vms[i].picked = true;
	}
	if (diag->errors == errors)
		r = convert(&im, name, ret, ret_n);
out:
	import_release(&im);
	json_decref(root);
	if (im.c.oom) {
		*ret = azure_policies_free(*ret, *ret_n);
		*ret_n = 0;
		return -ENOMEM;
	}
	if (r >= 0 && diag->errors > errors) {
		*ret = azure_policies_free(*ret, *ret_n);
		*ret_n = 0;
		r = -EINVAL;
	}
	return r < 0 ? (r == -ENOMEM ? r : -EINVAL) : 0;
}
