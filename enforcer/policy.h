/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policies: the YAML documents an admin drops in the policy directory,
 * loaded, validated and kept per file so that a broken edit leaves the last
 * good version of that file in force.
 */
#ifndef JIT_POLICY_H
#define JIT_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "diag.h"

#define JIT_POLICY_NAME_MAX		  32
#define JIT_POLICY_MAX_PORTS		  64
#define JIT_POLICY_MAX_SOURCES		  256
#define JIT_POLICY_MAX_IFACES		  64
#define JIT_POLICY_MAX_PRINCIPALS	  256
#define JIT_POLICY_FILE_MAX_BYTES	  (1024 * 1024)
#define JIT_POLICY_DEFAULT_MAX_DURATION_S (3u * 3600u)
/* The longest fleet grant unless a policy's fleet block says otherwise. */
#define JIT_FLEET_DEFAULT_MAX_DURATION_S 3600u

/* Protocol bits of a port entry; "any" is both. */
enum {
	JIT_PROTO_TCP = 1 << 0,
	JIT_PROTO_UDP = 1 << 1,
};

/* "tcp", "udp" or "tcp,udp" for a set of JIT_PROTO_* bits. */
const char *protos_name(unsigned protos);
/* The JIT_PROTO_* bits for "tcp", "udp" or "any"; 0 for anything else. */
unsigned protocol_parse(const char *s);
/* "tcp", "udp" or "any", as policies and requests write it. */
const char *protocol_word(unsigned protos);
/* A policy name: 1 to JIT_POLICY_NAME_MAX of a-z, 0-9, '_' and '-'. */
bool policy_name_valid(const char *s);

enum jit_approval {
	JIT_APPROVAL_AUTO,
	JIT_APPROVAL_MANUAL,
};

enum jit_action {
	JIT_ACTION_DROP,
	JIT_ACTION_REJECT,
};

/**
 * struct jit_port_rule - one entry of a policy's ports list
 * @port_lo: first port (1..65535)
 * @port_hi: last port, == @port_lo for a single port
 * @protos: JIT_PROTO_TCP and/or JIT_PROTO_UDP
 * @max_duration_s: longest grant in seconds, 1..JIT_DURATION_MAX_S
 * @any_source: true for "any"; then @sources is empty
 * @sources: prefixes a request may open from
 * @n_sources: entries in @sources
 */
struct jit_port_rule {
	uint16_t port_lo;
	uint16_t port_hi;
	unsigned protos;
	uint32_t max_duration_s;
	bool any_source;
	struct jit_prefix *sources;
	size_t n_sources;
};

/**
 * struct jit_principals - unix users and groups, by name as written
 * @users: user names
 * @n_users: entries in @users
 * @groups: group names
 * @n_groups: entries in @groups
 *
 * Empty (both zero) means "root only". Names are resolved when a request is
 * checked, not at load, so that a user created later is honoured; a name
 * this host does not know is only warned about (policy_set_warn), at the
 * line and column kept in @user_at and @group_at.
 */
struct jit_principals {
	char **users;
	size_t n_users;
	char **groups;
	size_t n_groups;
	struct jit_mark {
		unsigned line, col;
	} * user_at, *group_at;
};

/* Which fields of struct jit_alert_limits a policy set. */
enum {
	JIT_ALERT_SET_REPEATED = 1 << 0,
	JIT_ALERT_SET_SOURCES = 1 << 1,
	JIT_ALERT_SET_SCAN = 1 << 2,
	JIT_ALERT_SET_WINDOW = 1 << 3,
	JIT_ALERT_SET_AFTER_END = 1 << 4,
	JIT_ALERT_SET_WIDE_V4 = 1 << 5,
	JIT_ALERT_SET_WIDE_V6 = 1 << 6,
	JIT_ALERT_SET_LOG_RATE = 1 << 7,
	JIT_ALERT_SET_MGMT_PORTS = 1 << 8,
};

#define JIT_ALERT_MGMT_PORTS_MAX 32

/**
 * struct jit_alert_limits - the "alerts:" section of a policy
 * @set: JIT_ALERT_SET_* bits of the fields given
 * @repeated_attempts: attempts from one source on one port in a window
 * @distributed_sources: distinct sources on one port in a window
 * @scan_ports: distinct protected ports one source tries in a window
 * @window_s: aggregation window, seconds
 * @after_grant_end_s: attempts this long after a grant ended are reported
 * @wide_prefix_v4: grants for IPv4 prefixes shorter than this are reported
 * @wide_prefix_v6: same for IPv6
 * @log_rate: denied packets per second the kernel passes to the agent
 * @mgmt_ports: more ports `jitctl posture` treats as management ports
 * @n_mgmt_ports: entries in @mgmt_ports
 *
 * A value of 0 turns that detection off. Where several policies set a
 * field, the lowest value applies (the most sensitive); ports add up.
 */
struct jit_alert_limits {
	unsigned set;
	uint32_t repeated_attempts;
	uint32_t distributed_sources;
	uint32_t scan_ports;
	uint32_t window_s;
	uint32_t after_grant_end_s;
	uint8_t wide_prefix_v4;
	uint8_t wide_prefix_v6;
	uint32_t log_rate;
	uint16_t mgmt_ports[JIT_ALERT_MGMT_PORTS_MAX];
	size_t n_mgmt_ports;
};

/**
 * struct jit_policy_fleet - the "fleet:" block of a policy
 * @enabled: the block is there: fleet grants may use this policy
 * @requesters: fleet identities (NATS users) whose requests it accepts
 * @n_requesters: entries in @requesters
 * @approvers: fleet identities whose approval it accepts
 * @n_approvers: entries in @approvers
 * @max_duration_s: the longest fleet grant (still within the port's own)
 *
 * Absent, fleet grants are refused for this policy. The names are not
 * local users: they are vouched for by the approver's fleet credentials.
 */
struct jit_policy_fleet {
	bool enabled;
	char **requesters;
	size_t n_requesters;
	char **approvers;
	size_t n_approvers;
	uint32_t max_duration_s;
};

/**
 * struct jit_policy - one validated policy document
 * @name: unique name, [a-z0-9_-]{1,32}
 * @description: free text, may be NULL
 * @file: path of the file it came from
 * @line: line of the document's first key in @file
 * @ports: protected ports, at least one
 * @n_ports: entries in @ports
 * @interfaces: inbound interface names it applies to; empty means all.
 *              A trailing '*' matches a name prefix ("eth*").
 * @n_interfaces: entries in @interfaces
 * @requesters: who may request
 * @approval: auto or manual
 * @approvers: who may approve
 * @action: drop or reject
 * @alerts: alert thresholds this policy sets (see jit_alert_limits)
 * @fleet: whether and from whom fleet grants are taken
 */
struct jit_policy {
	char name[JIT_POLICY_NAME_MAX + 1];
	char *description;
	char *file;
	unsigned line;
	struct jit_port_rule *ports;
	size_t n_ports;
	char (*interfaces)[IFNAMSIZ];
	size_t n_interfaces;
	struct jit_principals requesters;
	enum jit_approval approval;
	struct jit_principals approvers;
	enum jit_action action;
	struct jit_alert_limits alerts;
	struct jit_policy_fleet fleet;
};

/* True if name is one of list's n names. */
bool policy_name_listed(char *const *list, size_t n, const char *name);
/* Whether p's grants hold on interface ifname (every policy without
 * interfaces does; "eth*" holds on eth0). */
bool policy_holds_on(const struct jit_policy *p, const char *ifname);

/* The policies of one file, all valid. */
struct jit_policy_file;

/*
 * Parse and validate one file. On success *ret holds its policies (a file
 * with no document is an error). On failure every error found is added to
 * diag and -EINVAL (or -errno for I/O) is returned; *ret is untouched.
 */
int policy_file_load(const char *path, struct jit_policy_file **ret,
		     struct jit_diag *diag);
/* Same, from memory; path is used in messages only. */
int policy_file_parse(const char *path, const char *text, size_t len,
		      struct jit_policy_file **ret, struct jit_diag *diag);
struct jit_policy_file *policy_file_free(struct jit_policy_file *f);
size_t policy_file_count(const struct jit_policy_file *f);
const struct jit_policy *policy_file_get(const struct jit_policy_file *f,
					 size_t i);
const char *policy_file_path(const struct jit_policy_file *f);

/* True for names the loader reads: "*.yaml" or "*.yml", not hidden. */
bool policy_is_policy_filename(const char *name);

/*
 * The policies in force: the last good version of every file. Names are
 * unique across files.
 */
struct jit_policy_set;

struct jit_policy_set *policy_set_new(void);
struct jit_policy_set *policy_set_free(struct jit_policy_set *s);

/*
 * (Re)load one file into the set. On success the new version replaces the
 * old one and 0 is returned. On any error (parse, validation, or a name that
 * another file already uses) the errors go to diag, the previous version of
 * that file (if any) stays in force, and -EINVAL/-errno is returned. A file
 * that no longer exists (-ENOENT) is removed from the set and 0 returned.
 */
int policy_set_load_file(struct jit_policy_set *s, const char *path,
			 struct jit_diag *diag);
/*
 * Install a file's policies from memory (the last good version kept in the
 * state file), with the same checks as policy_set_load_file.
 */
int policy_set_load_text(struct jit_policy_set *s, const char *path,
			 const char *text, size_t len, struct jit_diag *diag);
/* The files in force, sorted by path, and the text each was loaded from. */
size_t policy_set_file_count(const struct jit_policy_set *s);
const struct jit_policy_file *policy_set_file(const struct jit_policy_set *s,
					      size_t i);
const char *policy_file_text(const struct jit_policy_file *f, size_t *len);
bool policy_set_has_file(const struct jit_policy_set *s, const char *path);
/* Forget a file. Returns 0, or -ENOENT if the set did not hold it. */
int policy_set_remove_file(struct jit_policy_set *s, const char *path);
/*
 * Load every policy file of a directory (sorted by name, so results do not
 * depend on readdir order), and drop files of the set that are gone from it.
 * Returns the number of files rejected (0 if all are good) or -errno if the
 * directory cannot be read.
 */
int policy_set_load_dir(struct jit_policy_set *s, const char *dir,
			struct jit_diag *diag);
/*
 * Validate files or directories without a set in force (for --check): every
 * error goes to diag; duplicate names across the given files are errors.
 * Returns the number of bad files, or -errno.
 */
int policy_check_paths(char *const *paths, size_t n, struct jit_diag *diag);

/*
 * Warnings about policies that load but may not do what was meant, added to
 * diag as "file:line:col: warning: ..." (diag->errors is not counted): a
 * user or group that does not exist on this host, and a policy that no one
 * but root may request. Returns the number of warnings.
 */
unsigned policy_warn(const struct jit_policy *p, const char *src,
		     struct jit_diag *diag);
unsigned policy_set_warn(const struct jit_policy_set *s, struct jit_diag *diag);

/* Policies in force, ordered by file name then position in the file. */
size_t policy_set_count(const struct jit_policy_set *s);
const struct jit_policy *policy_set_get(const struct jit_policy_set *s,
					size_t i);
const struct jit_policy *policy_set_find(const struct jit_policy_set *s,
					 const char *name);

/*
 * Canonical text of a validated policy, every default spelled out, stable
 * for golden tests:
 *
 *   policy ssh (policies/ssh.yaml:1)
 *     description: SSH for the operators
 *     port tcp/22 max_duration 3h sources any
 *     port tcp,udp/5985-5986 max_duration 1h30m sources
 * 192.0.2.0/24,2001:db8::/32 interfaces: all requesters: users [alice] groups
 * [ops] approval: manual approvers: root action: drop
 */
void policy_print(const struct jit_policy *p, FILE *out);

#endif
