/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet.yaml (see fleet-conf.h), on the policy loader's YAML tree, so that
 * its messages read the same: file:line:col, the line, a caret.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "duration.h"
#include "fleet-conf.h"
#include "policy-internal.h"
#include "util.h"

#define PATH_WHAT "an absolute file path"

bool fleet_host_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && n <= JIT_FLEET_HOST_MAX && !s[n];
}

static bool label_key_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return n > 0 && n <= JIT_FLEET_LABEL_KEY_MAX && !s[n];
}

/* Printable, no ',' or '=' (selectors are written key=value,...). */
static bool label_value_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > JIT_FLEET_LABEL_VALUE_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == '=')
			return false;
	return true;
}

struct conf_build {
	struct jit_fleet_conf *conf;
	unsigned docs;
};

static void parse_servers(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_fleet_conf *f = obj;
	char q[QUOTE_BUF];

	if (v->kind == NODE_SCALAR) {
		node_err(c, v,
			 "servers: expected a list of NATS URLs such as "
			 "[nats://192.0.2.1:4222], got a single value; write "
			 "it in brackets");
		return;
	}
	if (!node_want_kind(c, v, NODE_SEQ, "servers", "a list of NATS URLs"))
		return;
	if (v->n_kids == 0 || v->n_kids > JIT_FLEET_SERVERS_MAX) {
		node_err(c, v, "servers: give 1 to %d NATS URLs, not %zu",
			 JIT_FLEET_SERVERS_MAX, v->n_kids);
		return;
	}
	f->servers = calloc(v->n_kids, sizeof(*f->servers));
	if (!f->servers) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s =
			node_want_scalar(c, it, "servers", "a NATS URL");
		const char *rest;

		if (!s)
			continue;
		rest = !strncmp(s, "nats://", 7)  ? s + 7
		       : !strncmp(s, "tls://", 6) ? s + 6
						  : NULL;
		if (!rest || !*rest || strpbrk(rest, " \t/?#") ||
		    strlen(s) > 255) {
			node_err(c, it,
				 "server '%s' is not a NATS URL; use "
				 "nats://HOST:PORT or tls://HOST:PORT",
				 msg_quote(q, s));
			continue;
		}
		f->servers[f->n_servers] = strdup(s);
		if (!f->servers[f->n_servers]) {
			node_err(c, it, "out of memory");
			return;
		}
		f->n_servers++;
	}
}

static void parse_host(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_fleet_conf *f = obj;
	const char *s = node_want_scalar(c, v, "host", "a host name");
	char q[QUOTE_BUF];

	if (!s)
		return;
	if (!fleet_host_name_valid(s)) {
		node_err(c, v,
			 "host '%s' is not valid; use 1 to %d of A-Z a-z 0-9 "
			 "_ - (no dots: it is part of NATS subjects)",
			 msg_quote(q, s), JIT_FLEET_HOST_MAX);
		return;
	}
	strcpy(f->host, s);
	f->host_from_file = true;
}

static void parse_labels(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_fleet_conf *f = obj;
	char q[QUOTE_BUF], d[DESCRIBE_BUF];

	if (!node_want_kind(c, v, NODE_MAP, "labels",
			    "a mapping such as {role: web, env: prod}"))
		return;
	if (v->n_kids / 2 > JIT_FLEET_LABELS_MAX) {
		node_err(c, v, "labels: at most %d, not %zu",
			 JIT_FLEET_LABELS_MAX, v->n_kids / 2);
		return;
	}
	f->labels = calloc(v->n_kids / 2 + 1, sizeof(*f->labels));
	if (!f->labels) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i + 1 < v->n_kids; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		struct jit_fleet_label *l;
		bool dup = false;

		if (k->bad || val->bad)
			continue;
		if (k->kind != NODE_SCALAR) {
			node_err(c, k, "a label's name must be a word, got %s",
				 node_describe(k, d));
			continue;
		}
		if (!label_key_valid(k->text)) {
			node_err(c, k,
				 "label name '%s' is not valid; use 1 to %d "
				 "of A-Z a-z 0-9 _ . -",
				 msg_quote(q, k->text),
				 JIT_FLEET_LABEL_KEY_MAX);
			continue;
		}
		for (size_t j = 0; j < f->n_labels; j++)
			dup |= streq(f->labels[j].key, k->text);
		if (dup) {
			node_err(c, k, "duplicate label '%s'",
				 msg_quote(q, k->text));
			continue;
		}
		if (val->kind != NODE_SCALAR || (val->plain && !val->text[0])) {
			node_err(c, val,
				 "label '%s': expected a value such as web, "
				 "got %s",
				 msg_quote(q, k->text), node_describe(val, d));
			continue;
		}
		if (!label_value_valid(val->text)) {
			node_err(c, val,
				 "label value '%s' is not valid; 1 to %d "
				 "printable characters, no ',' or '='",
				 msg_quote(q, val->text),
				 JIT_FLEET_LABEL_VALUE_MAX);
			continue;
		}
		l = &f->labels[f->n_labels];
		l->key = strdup(k->text);
		l->value = strdup(val->text);
		if (!l->key || !l->value) {
			free(l->key);
			free(l->value);
			node_err(c, k, "out of memory");
			return;
		}
		f->n_labels++;
	}
}

static void parse_user(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_fleet_conf *f = obj;
	const char *s = node_want_scalar(c, v, "user", "a NATS user name");
	char q[QUOTE_BUF];

	if (!s)
		return;
	if (!*s || strlen(s) > 64 || strpbrk(s, " \t\r\n.*>")) {
		node_err(c, v,
			 "user '%s' is not valid; 1 to 64 characters, no "
			 "spaces, '.', '*' or '>'",
			 msg_quote(q, s));
		return;
	}
	f->user = strdup(s);
	if (!f->user)
		node_err(c, v, "out of memory");
}

static void parse_path(struct parse_ctx *c, const struct node *v,
		       const char *key, char **out)
{
	const char *s = node_want_scalar(c, v, key, PATH_WHAT);
	char q[QUOTE_BUF];

	if (!s)
		return;
	if (s[0] != '/' || strlen(s) > 4095) {
		node_err(c, v, "%s '%s' is not an absolute path", key,
			 msg_quote(q, s));
		return;
	}
	*out = strdup(s);
	if (!*out)
		node_err(c, v, "out of memory");
}

static void parse_password_file(struct parse_ctx *c, const struct node *v,
				void *obj)
{
	parse_path(c, v, "password_file",
		   &((struct jit_fleet_conf *)obj)->password_file);
}

static void parse_ca_file(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_path(c, v, "ca_file",
		   &((struct jit_fleet_conf *)obj)->tls_ca_file);
}

static void parse_cert_file(struct parse_ctx *c, const struct node *v,
			    void *obj)
{
	parse_path(c, v, "cert_file",
		   &((struct jit_fleet_conf *)obj)->tls_cert_file);
}

static void parse_key_file(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_path(c, v, "key_file",
		   &((struct jit_fleet_conf *)obj)->tls_key_file);
}

static void parse_connect_timeout(struct parse_ctx *c, const struct node *v,
				  void *obj)
{
	struct jit_fleet_conf *f = obj;
	const char *s = node_want_scalar(c, v, "connect_timeout",
					 "a duration such as 5s");
	char q[QUOTE_BUF];
	uint64_t secs;

	if (!s)
		return;
	if (duration_parse(s, &secs) < 0 || secs < 1 ||
	    secs > JIT_FLEET_CONNECT_TIMEOUT_MAX_S) {
		node_err(c, v,
			 "connect_timeout '%s' is not valid; give 1s to %ds "
			 "(such as 5s)",
			 msg_quote(q, s), JIT_FLEET_CONNECT_TIMEOUT_MAX_S);
		return;
	}
	f->connect_timeout_ms = (unsigned)secs * 1000;
}

static const struct key_handler tls_keys[] = {
	{ "ca_file", parse_ca_file },
	{ "cert_file", parse_cert_file },
	{ "key_file", parse_key_file },
};

static void parse_tls(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_fleet_conf *f = obj;
	const struct node *seen[ARRAY_SIZE(tls_keys)] = { 0 };

	if (!node_want_kind(c, v, NODE_MAP, "tls",
			    "a mapping with ca_file, cert_file, key_file"))
		return;
	node_walk_mapping(c, v, "tls", tls_keys, ARRAY_SIZE(tls_keys), seen, f);
	if (!seen[1] != !seen[2])
		node_err(c, v,
			 "tls: cert_file and key_file go together; give "
			 "both or neither");
}

enum {
	KEY_SERVERS,
	KEY_HOST,
	KEY_LABELS,
	KEY_USER,
	KEY_PASSWORD_FILE,
	KEY_TLS,
	KEY_CONNECT_TIMEOUT,
};

static const struct key_handler conf_keys[] = {
	[KEY_SERVERS] = { "servers", parse_servers },
	[KEY_HOST] = { "host", parse_host },
	[KEY_LABELS] = { "labels", parse_labels },
	[KEY_USER] = { "user", parse_user },
	[KEY_PASSWORD_FILE] = { "password_file", parse_password_file },
	[KEY_TLS] = { "tls", parse_tls },
	[KEY_CONNECT_TIMEOUT] = { "connect_timeout", parse_connect_timeout },
};

static void validate_conf(struct parse_ctx *c, const struct node *root)
{
	struct conf_build *b = c->userdata;
	const struct node *seen[ARRAY_SIZE(conf_keys)] = { 0 };
	char d[DESCRIBE_BUF];

	if (root->bad)
		return;
	if (++b->docs > 1) {
		node_err(c, root,
			 "a second document; fleet.yaml holds one mapping");
		return;
	}
	if (root->kind != NODE_MAP) {
		node_err(c, root,
			 "fleet.yaml must be a mapping with keys such as "
			 "servers and labels, got %s",
			 node_describe(root, d));
		return;
	}
	node_walk_mapping(c, root, "fleet.yaml", conf_keys,
			  ARRAY_SIZE(conf_keys), seen, b->conf);
	if (!seen[KEY_SERVERS])
		node_err(c, root,
			 "missing required key 'servers': the NATS URLs of "
			 "the fleet");
}

const char *fleet_conf_label(const struct jit_fleet_conf *c, const char *key)
{
	for (size_t i = 0; i < c->n_labels; i++)
		if (streq(c->labels[i].key, key))
			return c->labels[i].value;
	return NULL;
}

struct jit_fleet_conf *fleet_conf_free(struct jit_fleet_conf *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_servers; i++)
		free(c->servers[i]);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->servers);
	free(c->labels);
	free(c->path);
	free(c->user);
	free(c->password_file);
	free(c->tls_ca_file);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c);
	return NULL;
}

DEFINE_CLEANUP_FUNC(struct jit_fleet_conf, fleet_conf_free)

int fleet_conf_parse(const char *path, const char *text, size_t len,
		     const char *hostname, struct jit_fleet_conf **ret,
		     struct jit_diag *diag)
{
	_cleanup_(fleet_conf_freep) struct jit_fleet_conf *f = NULL;
	_cleanup_free_ char *src = NULL;
	struct conf_build b = { 0 };
	struct parse_ctx c = {
		.path = path,
		.diag = diag,
		.validate = validate_conf,
		.userdata = &b,
		.empty_msg = "empty file; expected a mapping with servers "
			     "(and host, labels, user, password_file)",
	};
	char name[256] = "";
	int r;

	if (len > JIT_FLEET_CONF_MAX_BYTES)
		return diag_error(diag, path, NULL, 0, 0,
				  "file is %zu bytes; at most %d are allowed",
				  len, JIT_FLEET_CONF_MAX_BYTES);
	f = calloc(1, sizeof(*f));
	src = malloc(len + 1);
	if (!f || !src)
		return -ENOMEM;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	f->connect_timeout_ms = JIT_FLEET_CONNECT_TIMEOUT_MS;
	memcpy(src, text, len);
	src[len] = '\0';
	c.src = src;
	b.conf = f;
	r = policy_parse_stream(&c, text, len);
	if (r < 0 || c.errors)
		return r < 0 ? r : -EINVAL;
	if (!f->host_from_file) {
		if (hostname)
			snprintf(name, sizeof(name), "%s", hostname);
		else if (gethostname(name, sizeof(name) - 1) < 0)
			name[0] = '\0';
		name[strcspn(name, ".")] = '\0';
		if (!fleet_host_name_valid(name))
			return diag_error(diag, path, NULL, 0, 0,
					  "the hostname '%.64s' is no valid "
					  "fleet host name (A-Z a-z 0-9 _ -); "
					  "set host:",
					  name);
		strcpy(f->host, name);
	}
	if (!f->user) {
		f->user = strdup(f->host);
		if (!f->user)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(f);
	return 0;
}

int fleet_conf_load(const char *path, struct jit_fleet_conf **ret,
		    struct jit_diag *diag)
{
	/* It says which servers hand this host its grants: as a policy. */
	const struct jit_file_rules rules = {
		.max_bytes = JIT_FLEET_CONF_MAX_BYTES,
		.refused_mode = S_IWGRP | S_IWOTH,
		.mode_what = "others may change it",
		.mode_why = "; it names the servers this host takes grants "
			    "from: chmod 644 it",
		.root_owned = true,
		.no_symlink = true,
		.quiet_enoent = true,
	};
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = diag_read_file(path, &rules, diag, &text, &len);
	if (r < 0)
		return r;
	return fleet_conf_parse(path, text, len, NULL, ret, diag);
}

int fleet_conf_read_password(const struct jit_fleet_conf *c, char **ret,
			     struct jit_diag *diag)
{
	const struct jit_file_rules rules = {
		.max_bytes = JIT_FLEET_PASSWORD_MAX_BYTES,
		.refused_mode = S_IRWXG | S_IRWXO,
		.mode_what = "others may read or change the password",
		.mode_why = ": chmod 600 it",
		.root_owned = true,
		.no_symlink = true,
	};
	char *text = NULL;
	size_t len;
	int r;

	*ret = NULL;
	if (!c->password_file)
		return 0;
	r = diag_read_file(c->password_file, &rules, diag, &text, &len);
	if (r < 0)
		return r;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (!len || strlen(text) != len) {
		free(text);
		return diag_error(diag, c->password_file, NULL, 0, 0,
				  "the password is empty or holds a NUL byte");
	}
	*ret = text;
	return 0;
}
