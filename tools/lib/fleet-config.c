/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet.yaml as jitctl reads it: the servers, the user and the file with
 * its password (and the host keys the agent uses, checked but unused
 * here). Strict like a policy file: an unknown key or a wrong type is an
 * error with file:line:col.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "duration.h"
#include "fleet-client.h"
#include "util.h"

struct cfg_parse {
	yaml_document_t *doc;
	const char *path;
	char *err;
	size_t n;
};

static int bad(struct cfg_parse *p, yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct cfg_parse *p, yaml_node_t *node, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->n, "%s:%zu:%zu: %s", p->path,
		 node->start_mark.line + 1, node->start_mark.column + 1, msg);
	return -EINVAL;
}

static const char *scalar(yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE
		       ? (const char *)node->data.scalar.value
		       : NULL;
}

static int want_string(struct cfg_parse *p, yaml_node_t *node, const char *key,
		       char **ret)
{
	const char *s = scalar(node);

	if (!s || !s[0])
		return bad(p, node, "'%s' must be a non-empty string", key);
	free(*ret);
	*ret = strdup(s);
	if (!*ret)
		abort();
	return 0;
}

/* As the agent reads it: 1 s to 60 s. */
static int read_connect_timeout(struct cfg_parse *p, yaml_node_t *node,
				struct fleet_config *cfg)
{
	const char *s = scalar(node);
	uint64_t secs;

	if (!s || duration_parse(s, &secs) < 0 || secs < 1 || secs > 60)
		return bad(p, node,
			   "'connect_timeout' must be a duration from 1s to "
			   "60s, such as 5s");
	cfg->connect_timeout_ms = (int64_t)secs * 1000;
	return 0;
}

static int read_servers(struct cfg_parse *p, yaml_node_t *node,
			struct fleet_config *cfg)
{
	yaml_node_item_t *it;

	if (scalar(node)) {
		cfg->servers = calloc(1, sizeof(char *));
		if (!cfg->servers)
			abort();
		cfg->nservers = 1;
		return want_string(p, node, "servers", &cfg->servers[0]);
	}
	if (node->type != YAML_SEQUENCE_NODE)
		return bad(p, node, "'servers' must be a list of nats:// URLs");
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(p->doc, *it);
		char **grown;

		if (!scalar(s) || !scalar(s)[0])
			return bad(p, s, "a server must be a URL string");
		grown = realloc(cfg->servers,
				(cfg->nservers + 1) * sizeof(char *));
		if (!grown)
			abort();
		cfg->servers = grown;
		cfg->servers[cfg->nservers] = strdup(scalar(s));
		if (!cfg->servers[cfg->nservers++])
			abort();
	}
	if (!cfg->nservers)
		return bad(p, node, "'servers' is empty");
	return 0;
}

static int read_labels(struct cfg_parse *p, yaml_node_t *node,
		       struct fleet_config *cfg)
{
	yaml_node_pair_t *pair;

	if (node->type != YAML_MAPPING_NODE)
		return bad(p, node, "'labels' must be a mapping");
	json_decref(cfg->labels);
	cfg->labels = json_object();
	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);

		if (!scalar(k) || !scalar(v))
			return bad(p, k, "a label and its value are strings");
		json_object_set_new(cfg->labels, scalar(k),
				    json_string(scalar(v)));
	}
	return 0;
}

static int read_tls(struct cfg_parse *p, yaml_node_t *node,
		    struct fleet_config *cfg)
{
	yaml_node_pair_t *pair;
	int r;

	if (node->type != YAML_MAPPING_NODE)
		return bad(p, node, "'tls' must be a mapping");
	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *key = scalar(k) ?: "";

		if (streq(key, "ca_file"))
			r = want_string(p, v, key, &cfg->tls_ca);
		else if (streq(key, "cert_file"))
			r = want_string(p, v, key, &cfg->tls_cert);
		else if (streq(key, "key_file"))
			r = want_string(p, v, key, &cfg->tls_key);
		else
			r = bad(p, k,
				"unknown key '%s' in tls (ca_file, cert_file, "
				"key_file)",
				key);
		if (r)
			return r;
	}
	return 0;
}

/* The password file: its first line; refused if others may read it. */
static int read_password(struct cfg_parse *p, yaml_node_t *node,
			 const char *file, struct fleet_config *cfg)
{
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[512];
	struct stat st;
	ssize_t len;

	if (fd < 0)
		return bad(p, node, "cannot open password_file '%s': %s", file,
			   strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return bad(p, node, "password_file '%s' is not a file", file);
	if (st.st_mode & 077)
		return bad(p, node,
			   "password_file '%s' is readable by others "
			   "(mode %04o; chmod 600)",
			   file, (unsigned)(st.st_mode & 07777));
	len = read(fd, buf, sizeof(buf) - 1);
	if (len < 0)
		return bad(p, node, "cannot read password_file '%s': %s", file,
			   strerror(errno));
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return bad(p, node, "password_file '%s' is empty", file);
	free(cfg->password);
	cfg->password = strdup(buf);
	if (!cfg->password)
		abort();
	return 0;
}

static int read_root(struct cfg_parse *p, yaml_node_t *root,
		     struct fleet_config *cfg)
{
	yaml_node_t *pw_node = NULL;
	_cleanup_free_ char *pw_file = NULL;
	yaml_node_pair_t *pair;
	int r = 0;

	if (!root || root->type != YAML_MAPPING_NODE) {
		snprintf(p->err, p->n, "%s: not a mapping of settings",
			 p->path);
		return -EINVAL;
	}
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top && !r; pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *key = scalar(k) ?: "";

		if (streq(key, "servers"))
			r = read_servers(p, v, cfg);
		else if (streq(key, "host"))
			r = want_string(p, v, key, &cfg->host);
		else if (streq(key, "labels"))
			r = read_labels(p, v, cfg);
		else if (streq(key, "user"))
			r = want_string(p, v, key, &cfg->user);
		else if (streq(key, "password_file")) {
			r = want_string(p, v, key, &pw_file);
			pw_node = v;
		} else if (streq(key, "tls"))
			r = read_tls(p, v, cfg);
		else if (streq(key, "connect_timeout"))
			r = read_connect_timeout(p, v, cfg);
		else
			r = bad(p, k,
				"unknown key '%s' (servers, host, labels, "
				"user, password_file, tls, connect_timeout)",
				key);
	}
	if (r)
		return r;
	if (!cfg->nservers)
		return bad(p, root, "'servers' is missing");
	if (!cfg->user)
		return bad(p, root, "'user' is missing");
	if (!fleet_name_valid(cfg->user))
		return bad(p, root, "user '%s': 1 to 63 of A-Z a-z 0-9 _ -",
			   cfg->user);
	if (pw_file)
		return read_password(p, pw_node, pw_file, cfg);
	return 0;
}

int fleet_config_load(const char *path, struct fleet_config *cfg, char *err,
		      size_t n)
{
	struct cfg_parse p = { .path = path, .err = err, .n = n };
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	yaml_parser_t parser;
	yaml_document_t doc;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if (!f) {
		r = -errno;
		snprintf(err, n, "cannot open fleet config '%s': %s", path,
			 strerror(errno));
		return r;
	}
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, n, "%s:%zu:%zu: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1,
			 parser.problem ?: "not YAML");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	p.doc = &doc;
	r = read_root(&p, yaml_document_get_root_node(&doc), cfg);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r)
		fleet_config_free(cfg);
	return r;
}

void fleet_config_free(struct fleet_config *cfg)
{
	for (size_t i = 0; i < cfg->nservers; i++)
		free(cfg->servers[i]);
	free(cfg->servers);
	free(cfg->user);
	if (cfg->password)
		explicit_bzero(cfg->password, strlen(cfg->password));
	free(cfg->password);
	free(cfg->host);
	json_decref(cfg->labels);
	free(cfg->tls_ca);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	memset(cfg, 0, sizeof(*cfg));
}

char *fleet_config_path(const char *explicit_path)
{
	const char *env = getenv("JITCTL_FLEET_CONFIG");
	const char *home = getenv("HOME");
	char *s = NULL;

	if (explicit_path)
		return strdup(explicit_path);
	if (env && env[0])
		return strdup(env);
	if (home && home[0] &&
	    asprintf(&s, "%s/.config/jit-enforcer/fleet.yaml", home) >= 0) {
		if (access(s, F_OK) == 0)
			return s;
		free(s);
	}
	return strdup("/etc/jit-enforcer/fleet.yaml");
}
