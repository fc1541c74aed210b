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
