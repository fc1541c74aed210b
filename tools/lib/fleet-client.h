/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet mode, jitctl's side: the names, values and permissions of the
 * fleet's NATS JetStream objects (fleet-model.c, no NATS needed, unit
 * tested), jitctl's fleet.yaml (fleet-config.c), and the NATS calls
 * (fleet-client.c). docs/fleet.md describes the objects.
 */
#ifndef JIT_FLEET_CLIENT_H
#define JIT_FLEET_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEET_BUCKET_GRANTS   "jit_grants"
#define FLEET_BUCKET_REQUESTS "jit_requests"
#define FLEET_BUCKET_HOSTS    "jit_hosts"
#define FLEET_STREAM_AUDIT    "JIT_AUDIT"

/* A host name or a fleet identity: [A-Za-z0-9_-]{1,63}. */
#define FLEET_NAME_MAX 63
/* A request id: 16 lowercase hex digits. */
#define FLEET_ID_LEN 16
/* Every value is at most this long (the buckets' MaxValueSize). */
#define FLEET_VALUE_MAX 4096
/* Labels in a selector or on a host. */
#define FLEET_LABELS_MAX 32

bool fleet_name_valid(const char *s);
bool fleet_id_valid(const char *s);
/* 16 random lowercase hex digits and a NUL; 0 or -errno. */
int fleet_id_new(char out[FLEET_ID_LEN + 1]);

/*
 * "role=web,env=prod" -> {"role":"web","env":"prod"}. Keys and values
 * are fleet names; a key given twice, an empty pair or a missing '=' is
 * an error, told in err. "" is the empty selector {}. 0 or -EINVAL.
 */
int fleet_selector_parse(const char *s, json_t **ret, char *err, size_t n);
/* "role=web,env=prod", keys sorted; "" for {}. Caller frees. */
char *fleet_selector_text(json_t *sel);
/* Every pair of sel is a label of the host (AND); {} matches all. */
bool fleet_selector_match(json_t *sel, json_t *labels);

/* Keys: "host.<host>.<id>", "req.<requester>.<id>", "host.<host>". */
int fleet_grant_key(const char *host, const char *id, char *buf, size_t n);
int fleet_request_key(const char *requester, const char *id, char *buf,
		      size_t n);
int fleet_host_key(const char *host, char *buf, size_t n);
/* The requester and the id of a request key; 0 or -EINVAL. */
int fleet_request_key_parse(const char *key, char *requester, size_t rn,
			    char *id, size_t in);

/**
 * struct fleet_request_args - what 'jitctl fleet request' asks for
 * @selector: label=value pairs (owned by the caller)
 * @policy: the policy name every host looks up locally
 * @proto: "tcp" or "udp"
 * @port: 1..65535
 * @source: a prefix, canonical ("203.0.113.7/32")
 * @duration_s: how long, from the approval
 * @reason: why
 */
struct fleet_request_args {
	json_t *selector;
	const char *policy;
	const char *proto;
	unsigned port;
	const char *source;
	uint64_t duration_s;
	const char *reason;
};

/* A new pending request value; NULL when out of memory. */
json_t *fleet_request_new(const char *id, const struct fleet_request_args *a,
			  const char *requested_by, uint64_t now_ms);
/*
 * A request value read back is well-formed: every field of the right
 * type, names valid, state known. 0 or -EINVAL with why in err.
 */
int fleet_request_check(json_t *req, char *err, size_t n);
/*
 * The grant value of an approved request for host: end_ms is the
 * approval time plus the duration. The same request and approval always
 * give the same value, so a retried create finds it equal.
 */
json_t *fleet_grant_value(json_t *req, const char *host);
/* The value as written: compact, keys sorted. Caller frees. */
char *fleet_value_encode(json_t *v);
/* A value read back: a JSON object of at most FLEET_VALUE_MAX bytes. */
json_t *fleet_value_decode(const void *data, size_t len);

/* The roles of 'jitctl fleet creds'. */
enum fleet_role {
	FLEET_ROLE_HOST,
	FLEET_ROLE_REQUESTER,
	FLEET_ROLE_APPROVER,
	FLEET_ROLE_ADMIN,
};

int fleet_role_parse(const char *s, enum fleet_role *ret);
const char *fleet_role_name(enum fleet_role role);
/*
 * The subjects NAME in ROLE may publish to and subscribe to, as
 * {"publish": [...], "subscribe": [...]}.
 */
json_t *fleet_permissions(enum fleet_role role, const char *name);
/*
 * The nats-server user entry of NAME (its "users" list takes it as is):
 * user, password and the permissions above. Caller frees.
 */
char *fleet_creds_conf(enum fleet_role role, const char *name,
		       const char *password);

/* ---- jitctl's fleet.yaml (fleet-config.c) ---- */

/**
 * struct fleet_config - how to reach the fleet's servers
 * @servers: nats:// URLs
 * @user: the NATS user: a host's name, or a person's fleet identity
 * @password: read from password_file (trailing newline removed)
 * @host: the host name (agents only)
 * @labels: the host's labels (agents only), a JSON object
 * @tls_ca, @tls_cert, @tls_key: optional TLS files
 */
struct fleet_config {
	char **servers;
	size_t nservers;
	char *user;
	char *password;
	char *host;
	json_t *labels;
	char *tls_ca, *tls_cert, *tls_key;
	int64_t connect_timeout_ms; /* 0: the caller's */
};

/*
 * Read path: a mapping with the keys above; an unknown key or a wrong
 * type is an error "path:line:col: why" in err. 0 or -errno.
 */
int fleet_config_load(const char *path, struct fleet_config *cfg, char *err,
		      size_t n);
void fleet_config_free(struct fleet_config *cfg);
/*
 * The file jitctl reads: explicit if not NULL, else $JITCTL_FLEET_CONFIG,
 * else ~/.config/jit-enforcer/fleet.yaml if it exists, else
 * /etc/jit-enforcer/fleet.yaml. Caller frees.
 */
char *fleet_config_path(const char *explicit_path);

/* ---- NATS (fleet-client.c) ---- */

struct fleet_client;

/* Connect as cfg->user; err says why not. 0 or -errno. */
int fleet_connect(const struct fleet_config *cfg, int64_t timeout_ms,
		  struct fleet_client **ret, char *err, size_t n);
struct fleet_client *fleet_close(struct fleet_client *c);

/* Create (or find as they are) the buckets and the audit stream. */
int fleet_init(struct fleet_client *c, int replicas, json_t **done, char *err,
	       size_t n);

/* Create-if-absent; -EEXIST when the key has a value. */
int fleet_kv_create(struct fleet_client *c, const char *bucket, const char *key,
		    json_t *value, uint64_t *rev, char *err, size_t n);
/* Update at revision last (CAS); -ESTALE when someone wrote in between. */
int fleet_kv_update(struct fleet_client *c, const char *bucket, const char *key,
		    json_t *value, uint64_t last, uint64_t *rev, char *err,
		    size_t n);
/*
 * Many creates (del false: create-if-absent, values[i] at keys[i]) or
 * deletes (del true) at once, all in flight together. results[i]: 0, or
 * -EEXIST (a create found a live value), -ESTALE (a create found the key
 * deleted), -ETIMEDOUT (no answer yet: it may still land) or -EIO (err
 * says why). Returns 0 or -errno when nothing could be sent.
 */
int fleet_kv_batch(struct fleet_client *c, const char *bucket, bool del,
		   const char *const *keys, json_t *const *values, size_t n,
		   int *results, char *err, size_t errn);
/* Delete (a marker); retried until acknowledged or the deadline passes. */
int fleet_kv_delete(struct fleet_client *c, const char *bucket, const char *key,
		    char *err, size_t n);
/*
 * The newest value on a subject pattern of bucket ("req.*.<id>"):
 * *key and *value are set, *rev its revision. -ENOENT when none, or
 * when it is a delete marker.
 */
int fleet_kv_last(struct fleet_client *c, const char *bucket,
		  const char *pattern, char **key, json_t **value,
		  uint64_t *rev, char *err, size_t n);
/*
 * Every live key of bucket under prefix ("host.", "req."), as an object
 * {key: value}; values that do not decode are skipped and counted.
 */
int fleet_kv_list(struct fleet_client *c, const char *bucket, json_t **ret,
		  size_t *bad, char *err, size_t n);

/*
 * The audit stream from its start (or only new messages with
 * from_new), each message's JSON handed to fn with its stream sequence
 * and subject; until caught up, or forever with follow. fn returning
 * non-zero stops. limit > 0: only the last limit messages.
 */
int fleet_audit_read(struct fleet_client *c, bool follow, size_t limit,
		     int (*fn)(void *arg, uint64_t seq, const char *subject,
			       json_t *msg),
		     void *arg, char *err, size_t n);

#endif
