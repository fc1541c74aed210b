/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format: initiate request bodies to our request messages,
 * and our request records to the JitNetworkAccessRequest shape.
 */
#include <stdarg.h>

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
