/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet.yaml: how a host (or jitctl) reaches the fleet's NATS servers, the
 * host's name and labels. Read as strictly as policies: unknown keys and
 * wrong types are errors with file:line:col, and a file that others may
 * change is refused.
 */
#ifndef JIT_FLEET_CONF_H
#define JIT_FLEET_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define JIT_FLEET_CONF_DEFAULT	     "/etc/jit-enforcer/fleet.yaml"
#define JIT_FLEET_HOST_MAX	     63
#define JIT_FLEET_SERVERS_MAX	     16
#define JIT_FLEET_LABELS_MAX	     32
#define JIT_FLEET_LABEL_KEY_MAX	     63
#define JIT_FLEET_LABEL_VALUE_MAX    128
#define JIT_FLEET_CONF_MAX_BYTES     (64 * 1024)
#define JIT_FLEET_PASSWORD_MAX_BYTES 1024
/* connect_timeout: how long one connect to one server may take. */
#define JIT_FLEET_CONNECT_TIMEOUT_MS	2000
#define JIT_FLEET_CONNECT_TIMEOUT_MAX_S 60

/**
 * struct jit_fleet_label - one label of the host, as selectors match them
 * @key: [A-Za-z0-9_.-], 1..63
 * @value: 1..128 printable characters
 */
struct jit_fleet_label {
	char *key;
	char *value;
};

/**
 * struct jit_fleet_conf - a validated fleet.yaml
 * @path: where it was read
 * @servers: NATS URLs (nats://, tls://), at least one
 * @n_servers: entries in @servers
 * @host: this host's fleet name ([A-Za-z0-9_-]{1,63}); the hostname's first
 *        label when the file names none
 * @host_from_file: @host was written in the file
 * @labels: the host's labels, by key (unique)
 * @n_labels: entries in @labels
 * @user: the NATS user (default: @host)
 * @password_file: file holding the NATS password, or NULL (none)
 * @tls_ca_file: CA bundle to check the servers with, or NULL
 * @tls_cert_file: client certificate, or NULL
 * @tls_key_file: its key, or NULL
 * @connect_timeout_ms: how long a connect to one server may take (1 s to
 *                      60 s; default JIT_FLEET_CONNECT_TIMEOUT_MS)
 */
struct jit_fleet_conf {
	char *path;
	char **servers;
	size_t n_servers;
	char host[JIT_FLEET_HOST_MAX + 1];
	bool host_from_file;
	struct jit_fleet_label *labels;
	size_t n_labels;
	char *user;
	char *password_file;
	char *tls_ca_file;
	char *tls_cert_file;
	char *tls_key_file;
	unsigned connect_timeout_ms;
};

/* [A-Za-z0-9_-]{1,63}: a host name as KV keys and subjects carry it. */
bool fleet_host_name_valid(const char *s);

/*
 * Read and validate path. On failure every error goes to diag and
 * -EINVAL (or -errno: -ENOENT when it does not exist, not reported) is
 * returned.
 */
int fleet_conf_load(const char *path, struct jit_fleet_conf **ret,
		    struct jit_diag *diag);
/* The same from memory; path names it in messages. hostname: the default
 * host (NULL: gethostname). */
int fleet_conf_parse(const char *path, const char *text, size_t len,
		     const char *hostname, struct jit_fleet_conf **ret,
		     struct jit_diag *diag);
struct jit_fleet_conf *fleet_conf_free(struct jit_fleet_conf *c);
/* The label's value, or NULL. */
const char *fleet_conf_label(const struct jit_fleet_conf *c, const char *key);
/*
 * The password from password_file (root-owned, not readable by others),
 * without its trailing newline; NULL in *ret when none is configured.
 */
int fleet_conf_read_password(const struct jit_fleet_conf *c, char **ret,
			     struct jit_diag *diag);

#endif
