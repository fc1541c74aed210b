/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format: initiate request bodies to our request messages,
 * and our request records to the JitNetworkAccessRequest shape.
 */
#include <stdarg.h>
#include <strings.h>

#include "addr.h"
#include "azure-internal.h"
#include "duration.h"
#include "grant.h"
#include "policy.h"
#include "util.h"

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
			const char *end_key, const char *end_text,
			uint64_t secs, bool *reported)
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
			c, path_key(p, ppath, end_key),
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

/*
 * endTimeUtc: a date-time with an offset, in the future and at most a
 * day away. Sets *end_text (when a string) and, when valid, *secs and
 * *end_ms.
 */
static int port_end(struct conv *c, json_t *end, const char *path,
		    int64_t now_ms, const char **end_text, uint64_t *secs,
		    int64_t *end_ms_ret)
{
	char p[PATH_LEN], dur[32];
	int64_t end_ms;

	if (!end)
		return conv_error(c, path,
				  "missing required field 'endTimeUtc'");
	if (!json_is_string(end))
		return conv_error(c, path_key(p, path, "endTimeUtc"),
				  "expected a string, got %s", json_what(end));
	*end_text = json_string_value(end);
	path_key(p, path, "endTimeUtc");
	if (azure_time_parse(*end_text, &end_ms) < 0 && lacks_offset(*end_text))
		return conv_error(c, p,
				  "'%s' has no UTC offset; end it with Z "
				  "(the time in UTC)",
				  SHOW(*end_text));
	if (azure_time_parse(*end_text, &end_ms) < 0)
		return conv_error(c, p,
				  "'%s' is not a date-time with a UTC "
				  "offset like 2026-12-01T14:03:11Z",
				  SHOW(*end_text));
	if (end_ms <= now_ms && now_ms - end_ms < 1000)
		return conv_error(c, p, "'%s' is not in the future",
				  SHOW(*end_text));
	if (end_ms <= now_ms)
		return conv_error(
			c, p,
			"'%s' is in the past (%s ago): the body was made "
			"for an earlier request; give \"duration\": \"2h\" "
			"instead of endTimeUtc, or ask with jitctl request "
			"POLICY --port N --from ADDRESS --for 2h",
			SHOW(*end_text),
			duration_format((uint64_t)(now_ms - end_ms) / 1000, dur,
					sizeof(dur)));
	if ((*secs = (uint64_t)(end_ms - now_ms + 999) / 1000) >
	    JIT_DURATION_MAX_S)
		return conv_error(c, p,
				  "'%s' is %s from now, beyond the limit "
				  "of one day",
				  SHOW(*end_text),
				  duration_format(*secs, dur, sizeof(dur)));
	*end_ms_ret = end_ms;
	return 0;
}

/*
 * endTimeUtc's alternative, as scripts write it: "duration", text such as
 * "2h" or "PT2H", or a number of seconds. The end is then now plus it.
 */
static int port_duration(struct conv *c, json_t *dur, const char *path,
			 int64_t now_ms, const char **dur_text, uint64_t *secs,
			 int64_t *end_ms)
{
	char p[PATH_LEN];
	uint64_t v;

	path_key(p, path, "duration");
	if (json_is_integer(dur)) {
		static char num[24];

		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(dur));
		*dur_text = num;
		if (json_integer_value(dur) < 1 ||
		    json_integer_value(dur) > JIT_DURATION_MAX_S)
			return conv_error(c, p,
					  "%lld seconds is out of range "
					  "1s..24h",
					  (long long)json_integer_value(dur));
		v = (uint64_t)json_integer_value(dur);
	} else if (json_is_string(dur)) {
		const char *s = json_string_value(dur);

		*dur_text = s;
		if (*s && strspn(s, "0123456789") == strlen(s))
			return conv_error(c, p,
					  "'%s' has no unit: %ss? %sm? (a "
					  "JSON number is seconds)",
					  SHOW(s), SHOW(s), SHOW(s));
		if (duration_parse(s, &v) < 0)
			return conv_error(c, p,
					  "'%s' is not a duration like 90s, "
					  "15m, 2h, 1h30m or PT2H",
					  SHOW(s));
		if (v == 0 || v > JIT_DURATION_MAX_S)
			return conv_error(c, p, "'%s' is out of range 1s..24h",
					  SHOW(s));
	} else {
		return conv_error(c, p,
				  "expected a string such as \"2h\" or a "
				  "number of seconds, got %s",
				  json_what(dur));
	}
	*secs = v;
	*end_ms = now_ms + (int64_t)v * 1000;
	return 0;
}

/* Sources one port may name: as many as a policy entry may allow. */
#define PORT_SOURCES_MAX 64

static int one_source(struct conv *c, json_t *src, const char *p,
		      struct jit_prefix *pfx)
{
	if (!json_is_string(src))
		return conv_error(c, p, "expected a string, got %s",
				  json_what(src));
	if (tag_means_any(json_string_value(src)))
		return conv_error(c, p,
				  "'%s' would open the port to every "
				  "address; give an address or a prefix",
				  SHOW(json_string_value(src)));
	return parse_prefix(c, p, json_string_value(src),
			    "a request opens the port to addresses or "
			    "prefixes: give them",
			    pfx);
}

/*
 * allowedSourceAddressPrefix: an address or prefix (not "any"); or a list
 * of them, there or in allowedSourceAddressPrefixes, as a policy's port
 * rule has it: one request each.
 */
static int port_sources(struct conv *c, json_t *port, const char *path,
			struct jit_prefix *pfx, size_t *n)
{
	json_t *one = json_object_get(port, "allowedSourceAddressPrefix");
	json_t *many = json_object_get(port, "allowedSourceAddressPrefixes");
	const char *key = many ? "allowedSourceAddressPrefixes"
			       : "allowedSourceAddressPrefix";
	json_t *src = many ? many : one, *v;
	char p[PATH_LEN], pi[PATH_LEN];
	size_t i;
	int r = 0;

	*n = 0;
	if (one && many)
		return conv_error(c, path,
				  "both allowedSourceAddressPrefix and "
				  "allowedSourceAddressPrefixes are given; "
				  "give one of them");
	if (!src)
		return conv_error(c, path,
				  "missing allowedSourceAddressPrefix: the "
				  "cloud would use the caller's address, "
				  "which jitctl cannot know; give the "
				  "address to open from");
	path_key(p, path, key);
	if (!json_is_array(src)) {
		if (many)
			return conv_error(c, p, "expected a list, got %s",
					  json_what(src));
		if (one_source(c, src, p, &pfx[0]) < 0)
			return -EINVAL;
		*n = 1;
		return 0;
	}
	if (json_array_size(src) == 0)
		return conv_error(c, p,
				  "empty: give the addresses to open "
				  "from");
	if (json_array_size(src) > PORT_SOURCES_MAX)
		return conv_error(c, p, "%zu prefixes; a port takes at most %d",
				  json_array_size(src), PORT_SOURCES_MAX);
	json_array_foreach(src, i, v)
	{
		path_index(pi, p, i);
		if (one_source(c, v, pi, &pfx[*n]) < 0)
			r = -EINVAL;
		else
			(*n)++;
	}
	return r;
}

static int initiate_port(struct conv *c, json_t *port, const char *path,
			 const char *policy, const char *reason, int64_t now_ms,
			 json_t *policies, const char *vpath, bool *reported,
			 bool record, struct azure_request **reqs, size_t *n,
			 size_t *cap)
{
	static const char *const known[] = {
		"number",
		"endTimeUtc",
		"duration",
		"allowedSourceAddressPrefix",
		"allowedSourceAddressPrefixes",
		NULL,
	};
	/* A record's port (JitNetworkAccessRequestPort); status is read. */
	static const char *const record_known[] = {
		"number",
		"endTimeUtc",
		"allowedSourceAddressPrefix",
		"allowedSourceAddressPrefixes",
		"status",
		"statusReason",
		"mappedPort",
		NULL,
	};
	char buf[JIT_PREFIX_STRLEN];
	struct jit_prefix pfx[PORT_SOURCES_MAX];
	json_t *end = json_object_get(port, "endTimeUtc");
	json_t *dur = record ? NULL : json_object_get(port, "duration");
	const char *end_text = NULL;
	uint64_t secs = 0;
	int64_t end_ms = 0;
	long number = 0;
	size_t n_pfx = 0;
	int r = 0, e;

	if (!json_is_object(port))
		return conv_error(c, path, "expected an object, got %s",
				  json_what(port));
	note_unknown(c, port, path, record ? record_known : known);

	/* Every field is checked, so that every error is reported. */
	if (port_number(c, json_object_get(port, "number"), path, &number) < 0)
		r = -EINVAL;
	if (end && dur)
		e = conv_error(c, path,
			       "both endTimeUtc and duration are given; give "
			       "one of them");
	else if (dur)
		e = port_duration(c, dur, path, now_ms, &end_text, &secs,
				  &end_ms);
	else
		e = port_end(c, end, path, now_ms, &end_text, &secs, &end_ms);
	if (e < 0)
		r = e;
	e = port_sources(c, port, path, pfx, &n_pfx);
	if (e < 0)
		r = e;
	if (r < 0)
		return r;

	if (policies && check_limits(c, policies, policy, vpath, path, number,
				     dur ? "duration" : "endTimeUtc", end_text,
				     secs, reported) < 0)
		return -EINVAL;

	for (size_t i = 0; i < n_pfx; i++) {
		struct azure_request *out;

		if (grow_array((void **)reqs, cap, *n + 1, sizeof(**reqs)) <
		    0) {
			c->oom = true;
			return -ENOMEM;
		}
		out = &(*reqs)[*n];
		*out = (struct azure_request){ .end_ms = end_ms };
		out->path = strdup(path);
		out->msg = json_pack(
			"{s:s, s:s, s:i, s:s, s:I, s:s}", "op", "request",
			"policy", policy, "port", (int)number, "source",
			prefix_format(&pfx[i], buf, sizeof(buf)), "duration",
			(json_int_t)secs, "reason", reason);
		if (!out->path || !out->msg) {
			free(out->path);
			json_decref(out->msg);
			c->oom = true;
			return -ENOMEM;
		}
		(*n)++;
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

/**
 * struct initiate - one initiate body, or a list of request records, read
 * @c: where messages go
 * @policy: --policy, or NULL
 * @now_ms: the time the end times are counted from
 * @policies: the agent's policies, or NULL
 * @reqs: the requests made
 * @n: requests in @reqs
 * @cap: allocated in @reqs
 * @vm_id: --policy: the id of the one virtual machine seen
 * @vm_path: and its path
 */
struct initiate {
	struct conv c;
	const char *policy;
	int64_t now_ms;
	json_t *policies;
	struct azure_request *reqs;
	size_t n, cap;
	const char *vm_id;
	char vm_path[PATH_LEN];
};

/* --policy names one policy: the document may name one virtual machine. */
static int one_vm(struct initiate *in, json_t *vm, const char *vpath)
{
	const char *id = json_string_value(json_object_get(vm, "id"));

	if (!in->policy || !id)
		return 0;
	if (!in->vm_id) {
		in->vm_id = id;
		snprintf(in->vm_path, sizeof(in->vm_path), "%s", vpath);
		return 0;
	}
	if (!strcasecmp(in->vm_id, id))
		return 0;
	return conv_error(&in->c, vpath,
			  "a second virtual machine (the first is at %s), "
			  "but --policy names one policy; write one virtual "
			  "machine per document",
			  in->vm_path);
}

/*
 * A record's port that ended (Revoked) is not asked for again; Initiated
 * (and Initiating, in the cloud's reply to an initiate) ones are.
 */
static bool port_ended(struct conv *c, json_t *port, const char *path)
{
	const char *st = json_string_value(json_object_get(port, "status"));
	const char *why =
		json_string_value(json_object_get(port, "statusReason"));

	if (!st || streq(st, "Initiated") || streq(st, "Initiating"))
		return false;
	conv_note(c, path, "%s%s%s%s: not requested again", SHOW(st),
		  why ? " (" : "", why ? SHOW(why) : "", why ? ")" : "");
	return true;
}

/* The ports of one virtual machine. */
static void read_vm(struct initiate *in, json_t *vm, const char *vpath,
		    const char *reason, bool record, size_t *ended)
{
	static const char *const vm_known[] = { "id", "ports", NULL };
	char derived[JIT_POLICY_NAME_MAX + 1], pp[PATH_LEN], pj[PATH_LEN];
	struct conv *c = &in->c;
	bool reported = false;
	json_t *ports, *port;
	const char *name;
	size_t j;

	if (!json_is_object(vm)) {
		conv_error(c, vpath, "expected an object, got %s",
			   json_what(vm));
		return;
	}
	note_unknown(c, vm, vpath, vm_known);
	if (vm_name_of(c, vm, vpath, &name) < 0 || one_vm(in, vm, vpath) < 0)
		return;
	azure_policy_name(name, derived, sizeof(derived));
	ports = required_list(c, vm, vpath, "ports", pp, "nothing to request");
	json_array_foreach(ports, j, port)
	{

		path_index(pj, pp, j);
		if (record && port_ended(c, port, pj)) {
			(*ended)++;
			continue;
		}
		if (initiate_port(
			    c, port, pj, in->policy ? in->policy : derived,
			    reason, in->now_ms, in->policies, vpath, &reported,
			    record, &in->reqs, &in->n, &in->cap) == -ENOMEM)
			return;
	}
}

/*
 * An initiate body (JitNetworkAccessPolicyInitiateRequest), or a record
 * (JitNetworkAccessRequest: the same with startTimeUtc, requestor and a
 * status per port).
 */
static void read_body(struct initiate *in, json_t *body, const char *base,
		      bool record, size_t *ended)
{
	static const char *const known[] = { "virtualMachines", "justification",
					     NULL };
	static const char *const record_known[] = {
		"virtualMachines",
		"justification",
		"startTimeUtc",
		"requestor",
		NULL,
	};
	struct conv *c = &in->c;
	char vbase[PATH_LEN], vpath[PATH_LEN];
	const char *reason;
	json_t *vms, *vm;
	size_t i;

	if (!json_is_object(body)) {
		conv_error(c, base, "expected an object, got %s",
			   json_what(body));
		return;
	}
	note_unknown(c, body, base, record ? record_known : known);
	if (justification(c, body, base, &reason) < 0)
		reason = "";
	vms = required_list(c, body, base, "virtualMachines", vbase,
			    "nothing to request");
	if (!vms)
		return;
	if (in->policy && !record && json_array_size(vms) > 1) {
		conv_error(c, vbase,
			   "%zu virtual machines, but --policy names one "
			   "policy; write one virtual machine per body",
			   json_array_size(vms));
		return;
	}
	json_array_foreach(vms, i, vm)
	{
		path_index(vpath, vbase, i);
		read_vm(in, vm, vpath, reason, record, ended);
	}
}

/* What the document is: a body or records, else why it is not one. */
static void read_document(struct initiate *in, json_t *doc, const char *base)
{
	struct conv *c = &in->c;
	char p[PATH_LEN];
	size_t i, ended = 0;
	bool stamped = false;
	json_t *v;

	switch (azure_kind_of(doc)) {
	case AZURE_POLICY:
	case AZURE_POLICY_LIST:
	case AZURE_TEMPLATE:
		conv_error(c, base,
			   "this is a policy (jitNetworkAccessPolicies), not "
			   "an initiate request; to turn it into a policy "
			   "file, run: jitctl import-azure %s",
			   c->file);
		return;
	case AZURE_EMPTY_LIST:
		conv_error(c, base, "an empty list: nothing to request");
		return;
	case AZURE_RECORD:
		read_body(in, doc, base, true, &ended);
		stamped = json_object_get(doc, "startTimeUtc") ||
			  json_object_get(doc, "requestor");
		break;
	default:
		if (!json_is_array(doc)) {
			read_body(in, doc, base, false, &ended);
			return;
		}
		/* The records that requests --format azure prints. */
		json_array_foreach(doc, i, v)
		{
			path_index(p, base, i);
			read_body(in, v, p, true, &ended);
			stamped = stamped ||
				  json_object_get(v, "startTimeUtc") ||
				  json_object_get(v, "requestor");
		}
	}
	if (stamped)
		conv_note(c, base,
			  "startTimeUtc and requestor are not carried over: "
			  "the requests start now, made by the caller");
	if (!in->n && ended && !c->diag->errors)
		conv_error(c, base,
			   "nothing to request: every entry has ended "
			   "(only Initiated ones are requested again)");
}

int azure_initiate_parse(const char *file, const char *text, size_t len,
			 const char *policy, int64_t now_ms, json_t *policies,
			 struct azure_request **ret, size_t *ret_n,
			 struct azure_notes *notes, struct jit_diag *diag)
{
	struct initiate in = {
		.c = { .file = file, .diag = diag, .notes = notes },
		.policy = policy,
		.now_ms = now_ms,
		.policies = policies,
	};
	unsigned errors = diag->errors;
	char base[PATH_LEN];
	json_t *root, *doc;
	int r = -EINVAL;

	if (policy && !policy_name_valid(policy))
		conv_error(&in.c, NULL,
			   "--policy '%s': a policy name is 1 to %d "
			   "characters from a-z, 0-9, _ and -",
			   SHOW(policy), JIT_POLICY_NAME_MAX);
	root = load_json(&in.c, text, len);
	doc = root ? unwrap(&in.c, root, base) : NULL;
	if (doc)
		read_document(&in, doc, base);
	if (doc && diag->errors == errors && !in.c.oom) {
		*ret = TAKE_PTR(in.reqs);
		*ret_n = in.n;
		r = 0;
	}
	azure_requests_free(in.reqs, in.n);
	json_decref(root);
	if (in.c.oom)
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
