/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet mode's objects as jitctl writes them: names and keys, selectors,
 * the request and grant values, and the permissions of each role. No NATS
 * here, so the unit tests reach all of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fleet-client.h"
#include "util.h"

static bool name_char(char c, bool label)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       (label && (c == '.' || c == '/'));
}

static bool name_ok(const char *s, bool label)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= FLEET_NAME_MAX || !name_char(s[n], label))
			return false;
	return n > 0;
}

bool fleet_name_valid(const char *s)
{
	return name_ok(s, false);
}

/* Label keys and values may also hold '.' and '/' (app.kubernetes.io/x). */
static bool label_valid(const char *s)
{
	return name_ok(s, true);
}

bool fleet_id_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') ||
		      (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == FLEET_ID_LEN;
}

int fleet_id_new(char out[FLEET_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[FLEET_ID_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[FLEET_ID_LEN] = '\0';
	return 0;
}

int fleet_selector_parse(const char *s, json_t **ret, char *err, size_t n)
{
	_cleanup_free_ char *copy = strdup(s ? s : "");
	json_t *sel = json_object();
	char *save = NULL, *tok;

	if (!copy || !sel)
		abort();
	if (!copy[0]) {
		*ret = sel;
		return 0;
	}
	/* strtok_r would hide an empty pair ("a=b,,c=d"). */
	for (tok = copy; tok; tok = save) {
		char *eq, *comma = strchr(tok, ',');

		save = comma ? comma + 1 : NULL;
		if (comma)
			*comma = '\0';
		eq = strchr(tok, '=');
		if (!tok[0]) {
			snprintf(err, n, "empty label in selector '%s'", s);
			goto fail;
		}
		if (!eq) {
			snprintf(err, n, "'%s' in selector is not LABEL=VALUE",
				 tok);
			goto fail;
		}
		*eq = '\0';
		if (!label_valid(tok) || !label_valid(eq + 1)) {
			snprintf(err, n,
				 "'%s=%s' in selector: labels and values are "
				 "1 to 63 of A-Z a-z 0-9 _ - . /",
				 tok, eq + 1);
			goto fail;
		}
		if (json_object_get(sel, tok)) {
			snprintf(err, n, "label '%s' given twice in selector",
				 tok);
			goto fail;
		}
		if (json_object_size(sel) >= FLEET_LABELS_MAX) {
			snprintf(err, n, "more than %d labels in selector",
				 FLEET_LABELS_MAX);
			goto fail;
		}
		json_object_set_new(sel, tok, json_string(eq + 1));
	}
	*ret = sel;
	return 0;
fail:
	json_decref(sel);
	return -EINVAL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *fleet_selector_text(json_t *sel)
{
	const char *keys[FLEET_LABELS_MAX * 2];
	size_t nk = 0, len = 0;
	const char *k;
	json_t *v;
	char *out;

	json_object_foreach(sel, k, v)
	{
		if (nk == ARRAY_SIZE(keys))
			break;
		keys[nk++] = k;
		len += strlen(k) + 2 + strlen(json_string_value(v) ?: "");
	}
	qsort(keys, nk, sizeof(keys[0]), cmp_str);
	out = calloc(1, len + 1);
	if (!out)
		abort();
	for (size_t i = 0; i < nk; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, keys[i]);
		strcat(out, "=");
		strcat(out,
		       json_string_value(json_object_get(sel, keys[i])) ?: "");
	}
	return out;
}

bool fleet_selector_match(json_t *sel, json_t *labels)
{
	const char *k;
	json_t *v;

	if (!json_is_object(sel))
		return false;
	json_object_foreach(sel, k, v)
	{
		json_t *l = json_object_get(labels, k);

		if (!json_is_string(l) || !json_is_string(v) ||
		    !streq(json_string_value(l), json_string_value(v)))
			return false;
	}
	return true;
}

static int key_printf(char *buf, size_t n, int r)
{
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

int fleet_grant_key(const char *host, const char *id, char *buf, size_t n)
{
	if (!fleet_name_valid(host) || !fleet_id_valid(id))
		return -EINVAL;
	return key_printf(buf, n, snprintf(buf, n, "host.%s.%s", host, id));
}

int fleet_request_key(const char *requester, const char *id, char *buf,
		      size_t n)
{
	if (!fleet_name_valid(requester) || !fleet_id_valid(id))
		return -EINVAL;
	return key_printf(buf, n, snprintf(buf, n, "req.%s.%s", requester, id));
}

int fleet_host_key(const char *host, char *buf, size_t n)
{
	if (!fleet_name_valid(host))
		return -EINVAL;
	return key_printf(buf, n, snprintf(buf, n, "host.%s", host));
}

int fleet_request_key_parse(const char *key, char *requester, size_t rn,
			    char *id, size_t in)
{
	const char *a, *b;

	if (strncmp(key, "req.", 4) != 0)
		return -EINVAL;
	a = key + 4;
	b = strchr(a, '.');
	if (!b || (size_t)(b - a) >= rn || strlen(b + 1) >= in)
		return -EINVAL;
	snprintf(requester, rn, "%.*s", (int)(b - a), a);
	snprintf(id, in, "%s", b + 1);
	return fleet_name_valid(requester) && fleet_id_valid(id) ? 0 : -EINVAL;
}

json_t *fleet_request_new(const char *id, const struct fleet_request_args *a,
			  const char *requested_by, uint64_t now_ms)
{
	return json_pack("{s:s, s:O, s:s, s:s, s:i, s:s, s:I, s:s, s:s, "
			 "s:I, s:s}",
			 "id", id, "selector", a->selector, "policy", a->policy,
			 "proto", a->proto, "port", (int)a->port, "source",
			 a->source, "duration_s", (json_int_t)a->duration_s,
			 "reason", a->reason ?: "", "requested_by",
			 requested_by, "requested_at_ms", (json_int_t)now_ms,
			 "state", "pending");
}

static const char *const states[] = { "pending", "approved", "denied",
				      "revoked" };

int fleet_request_check(json_t *req, char *err, size_t n)
{
	json_t *sel = json_object_get(req, "selector");
	json_t *hosts = json_object_get(req, "hosts");
	json_t *port = json_object_get(req, "port");
	json_t *dur = json_object_get(req, "duration_s");
	const char *state = json_string_value(json_object_get(req, "state"));
	const char *proto = json_string_value(json_object_get(req, "proto"));
	const char *k;
	json_t *v;
	size_t i;
	bool known = false;

#define BAD(...)                               \
	do {                                   \
		snprintf(err, n, __VA_ARGS__); \
		return -EINVAL;                \
	} while (0)
	if (!json_is_object(req))
		BAD("not a JSON object");
	if (!fleet_id_valid(json_string_value(json_object_get(req, "id"))))
		BAD("bad or missing id");
	if (!json_is_object(sel))
		BAD("bad or missing selector");
	json_object_foreach(sel, k, v) if (!label_valid(k) ||
					   !label_valid(json_string_value(v)))
		BAD("bad selector label '%s'", k);
	if (!json_is_string(json_object_get(req, "policy")))
		BAD("bad or missing policy");
	if (!proto || (!streq(proto, "tcp") && !streq(proto, "udp")))
		BAD("bad or missing proto");
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535)
		BAD("bad or missing port");
	if (!json_is_string(json_object_get(req, "source")))
		BAD("bad or missing source");
	if (!json_is_integer(dur) || json_integer_value(dur) < 1)
		BAD("bad or missing duration_s");
	if (!fleet_name_valid(
		    json_string_value(json_object_get(req, "requested_by"))))
		BAD("bad or missing requested_by");
	for (i = 0; state && i < ARRAY_SIZE(states); i++)
		known = known || streq(state, states[i]);
	if (!known)
		BAD("bad or missing state");
	if (hosts && !json_is_array(hosts))
		BAD("bad hosts");
	json_array_foreach(hosts, i,
			   v) if (!fleet_name_valid(json_string_value(v)))
		BAD("bad host in hosts");
	if (!streq(state, "pending") &&
	    (!fleet_name_valid(
		     json_string_value(json_object_get(req, "decided_by"))) ||
	     !json_is_integer(json_object_get(req, "decided_at_ms"))))
		BAD("a decided request without decided_by or decided_at_ms");
#undef BAD
	return 0;
}

json_t *fleet_grant_value(json_t *req, const char *host)
{
	json_int_t at =
		json_integer_value(json_object_get(req, "decided_at_ms"));
	json_int_t dur = json_integer_value(json_object_get(req, "duration_s"));

	return json_pack(
		"{s:O, s:s, s:O, s:O, s:O, s:O, s:I, s:I, s:O, s:O, s:O, "
		"s:I, s:O}",
		"id", json_object_get(req, "id"), "host", host, "policy",
		json_object_get(req, "policy"), "proto",
		json_object_get(req, "proto"), "port",
		json_object_get(req, "port"), "source",
		json_object_get(req, "source"), "start_ms", at, "end_ms",
		at + dur * 1000, "reason",
		json_object_get(req, "reason") ?: json_null(), "requested_by",
		json_object_get(req, "requested_by"), "approved_by",
		json_object_get(req, "decided_by"), "approved_at_ms", at,
		"selector", json_object_get(req, "selector"));
}

char *fleet_value_encode(json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

json_t *fleet_value_decode(const void *data, size_t len)
{
	json_t *v;

	if (!data || len == 0 || len > FLEET_VALUE_MAX)
		return NULL;
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static const char *const role_names[] = {
	[FLEET_ROLE_HOST] = "host",
	[FLEET_ROLE_REQUESTER] = "requester",
	[FLEET_ROLE_APPROVER] = "approver",
	[FLEET_ROLE_ADMIN] = "admin",
};

int fleet_role_parse(const char *s, enum fleet_role *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(role_names); i++)
		if (streq(s, role_names[i])) {
			*ret = (enum fleet_role)i;
			return 0;
		}
	return -EINVAL;
}

const char *fleet_role_name(enum fleet_role role)
{
	return role_names[role];
}

static void add(json_t *arr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(json_t *arr, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_array_append_new(arr, json_string(s));
	free(s);
}

/* What reading requests and hosts takes (the KV API's get, keys, watch). */
static void reader(json_t *pub, const char *bucket)
{
	add(pub, "$JS.API.STREAM.INFO.KV_%s", bucket);
	add(pub, "$JS.API.DIRECT.GET.KV_%s.>", bucket);
	add(pub, "$JS.API.CONSUMER.CREATE.KV_%s", bucket);
	add(pub, "$JS.API.CONSUMER.DELETE.KV_%s.*", bucket);
	add(pub, "$JS.FC.KV_%s.>", bucket);
}

json_t *fleet_permissions(enum fleet_role role, const char *name)
{
	json_t *pub = json_array(), *sub = json_array();

	if (!pub || !sub)
		abort();
	switch (role) {
	case FLEET_ROLE_HOST:
		/*
		 * Its own grants only: a named consumer whose filter is in
		 * the API subject, and direct gets of its own range. The
		 * stock KV watcher would need the unfiltered CONSUMER.CREATE,
		 * which lets any host read every host's keys.
		 */
		add(pub,
		    "$JS.API.CONSUMER.CREATE.KV_" FLEET_BUCKET_GRANTS
		    ".w_%s.$KV." FLEET_BUCKET_GRANTS ".host.%s.>",
		    name, name);
		add(pub,
		    "$JS.API.CONSUMER.DELETE.KV_" FLEET_BUCKET_GRANTS ".w_%s",
		    name);
		add(pub,
		    "$JS.API.DIRECT.GET.KV_" FLEET_BUCKET_GRANTS
		    ".$KV." FLEET_BUCKET_GRANTS ".host.%s.>",
		    name);
		add(pub, "$KV." FLEET_BUCKET_HOSTS ".host.%s", name);
		add(pub, "audit.%s", name);
		break;
	case FLEET_ROLE_APPROVER:
		add(pub, "$KV." FLEET_BUCKET_REQUESTS ".>");
		add(pub, "$KV." FLEET_BUCKET_GRANTS ".>");
		add(pub, "$JS.API.STREAM.INFO.KV_" FLEET_BUCKET_GRANTS);
		add(pub, "$JS.API.DIRECT.GET.KV_" FLEET_BUCKET_GRANTS ".>");
		add(pub, "$JS.API.STREAM.INFO." FLEET_STREAM_AUDIT);
		add(pub, "$JS.API.CONSUMER.CREATE." FLEET_STREAM_AUDIT);
		add(pub, "$JS.API.CONSUMER.DELETE." FLEET_STREAM_AUDIT ".*");
		add(pub, "$JS.FC." FLEET_STREAM_AUDIT ".>");
		/* and what a requester may do */
		/* fall through */
	case FLEET_ROLE_REQUESTER:
		/* Only under its own name: the key says who asked. */
		if (role == FLEET_ROLE_REQUESTER)
			add(pub, "$KV." FLEET_BUCKET_REQUESTS ".req.%s.*",
			    name);
		reader(pub, FLEET_BUCKET_REQUESTS);
		reader(pub, FLEET_BUCKET_HOSTS);
		/* The KV watcher finds its stream by subject (names only). */
		add(pub, "$JS.API.STREAM.NAMES");
		break;
	case FLEET_ROLE_ADMIN:
		add(pub, "$JS.API.>");
		add(pub, "$KV.>");
		add(pub, "$JS.FC.>");
		break;
	}
	add(sub, "_INBOX_%s.>", name);
	return json_pack("{s:o, s:o}", "publish", pub, "subscribe", sub);
}

static void conf_list(FILE *f, const char *what, json_t *arr)
{
	size_t i;
	json_t *v;

	fprintf(f, "    %s: { allow: [\n", what);
	json_array_foreach(arr, i, v)
		fprintf(f, "      \"%s\"\n", json_string_value(v));
	fprintf(f, "    ] }\n");
}

char *fleet_creds_conf(enum fleet_role role, const char *name,
		       const char *password)
{
	json_t *perms = fleet_permissions(role, name);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f || !perms)
		abort();
	fprintf(f,
		"# jit-enforcer fleet %s '%s' (jitctl fleet creds %s %s)\n"
		"{\n"
		"  user: \"%s\"\n"
		"  password: \"%s\"\n"
		"  permissions: {\n",
		fleet_role_name(role), name, fleet_role_name(role), name, name,
		password);
	conf_list(f, "publish", json_object_get(perms, "publish"));
	conf_list(f, "subscribe", json_object_get(perms, "subscribe"));
	fprintf(f, "  }\n}\n");
	fclose(f);
	json_decref(perms);
	return text;
}
