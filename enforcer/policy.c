/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy schema: the validator walks the node tree of a document,
 * reports every problem (policy-yaml.c words it) and builds struct
 * jit_policy only from documents that are entirely valid; and the
 * canonical printing of a policy.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "duration.h"
#include "policy-internal.h"
#include "util.h"

/* --- values --------------------------------------------------------------- */

bool policy_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= JIT_POLICY_NAME_MAX && !s[n];
}

unsigned protocol_parse(const char *s)
{
	return streq(s, "tcp")	 ? JIT_PROTO_TCP
	       : streq(s, "udp") ? JIT_PROTO_UDP
	       : streq(s, "any") ? JIT_PROTO_TCP | JIT_PROTO_UDP
				 : 0;
}

const char *protocol_word(unsigned protos)
{
	return protos == (JIT_PROTO_TCP | JIT_PROTO_UDP) ? "any"
	       : protos == JIT_PROTO_UDP		 ? "udp"
							 : "tcp";
}

/*
 * User and group names as shadow-utils accepts them, plus '@' for directory
 * users (alice@example.com). All digits is refused: it reads as a uid.
 */
static bool valid_principal_name(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-");

	if (s[n] == '$' && !s[n + 1])
		n++;
	if (n == 0 || s[n] || n > PRINCIPAL_NAME_MAX || s[0] == '-')
		return false;
	if (streq(s, ".") || streq(s, ".."))
		return false;
	return strspn(s, "0123456789") != n;
}

/* As the kernel's dev_valid_name, printable only, plus a trailing '*'. */
static bool valid_interface_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == ':')
			return false;
		if (ch == '*' && (i != n - 1 || n == 1))
			return false;
	}
	return true;
}

/*
 * "22" or "5985-5986", decimal without leading zeros: YAML 1.1 reads "022"
 * as octal, so such a value means different things to different tools.
 * Returns 0, -EINVAL (syntax), -ERANGE (0 or above 65535) or -EDOM
 * (reversed range; *lo and *hi are set as written).
 */
static int parse_port_spec(const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long v[2] = { 0, 0 };
	unsigned n = 0;

	for (;;) {
		if (*s < '0' || *s > '9' ||
		    (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++)
			if (v[n] <= 65535)
				v[n] = v[n] * 10 + (unsigned long)(*s - '0');
		n++;
		if (!*s)
			break;
		if (*s != '-' || n == 2)
			return -EINVAL;
		s++;
	}
	if (n == 1)
		v[1] = v[0];
	if (v[0] == 0 || v[0] > 65535 || v[1] == 0 || v[1] > 65535)
		return -ERANGE;
	*lo = (uint16_t)v[0];
	*hi = (uint16_t)v[1];
	return v[0] > v[1] ? -EDOM : 0;
}

struct port_build {
	struct jit_port_rule *rule;
	bool port_ok;
};

static void parse_port(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct port_build *pb = obj;
	char q[QUOTE_BUF];
	const char *s;
	uint16_t lo = 0, hi = 0;
	int r;

	s = node_want_scalar(c, v, "port", PORT_WHAT);
	if (!s)
		return;
	r = parse_port_spec(s, &lo, &hi);
	if (r == -EINVAL) {
		node_err(c, v, "port '%s' is not valid; expected %s",
			 msg_quote(q, s), PORT_WHAT);
	} else if (r == -ERANGE) {
		node_err(c, v, "port '%s' is out of range; ports are 1..65535",
			 msg_quote(q, s));
	} else if (r == -EDOM) {
		node_err(c, v,
			 "port range '%s' ends before it starts; write "
			 "'%u-%u'",
			 msg_quote(q, s), hi, lo);
	} else {
		pb->rule->port_lo = lo;
		pb->rule->port_hi = hi;
		pb->port_ok = true;
	}
}

static void parse_protocol(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct port_build *pb = obj;
	char q[QUOTE_BUF];
	const char *s;

	s = node_want_scalar(c, v, "protocol", "tcp, udp or any");
	if (!s)
		return;
	pb->rule->protos = protocol_parse(s);
	if (!pb->rule->protos)
		node_err(c, v,
			 "protocol '%s' is not valid; allowed: tcp, udp, any",
			 msg_quote(q, s));
}

/*
 * A max_duration (what: "max_duration", or "fleet max_duration") into
 * *ret; errors are reported at v and leave *ret as it was.
 */
static void parse_duration_limit(struct parse_ctx *c, const struct node *v,
				 const char *what, uint32_t *ret)
{
	char q[QUOTE_BUF];
	const char *s;
	uint64_t sec;
	int r;

	s = node_want_scalar(c, v, "max_duration", DURATION_WHAT);
	if (!s)
		return;
	r = duration_parse(s, &sec);
	if (r == -EINVAL)
		node_err(c, v,
			 "%s '%s' is not a valid duration; use forms like "
			 "90s, 15m, 3h, 1h30m, 1d or PT3H",
			 what, msg_quote(q, s));
	else if (r < 0 || sec > JIT_DURATION_MAX_S)
		node_err(c, v, "%s '%s' exceeds the limit of %uh", what,
			 msg_quote(q, s), JIT_DURATION_MAX_S / 3600);
	else if (sec == 0)
		node_err(c, v, "%s '%s' is zero; the shortest allowed is 1s",
			 what, msg_quote(q, s));
	else
		*ret = (uint32_t)sec;
}

static void parse_max_duration(struct parse_ctx *c, const struct node *v,
			       void *obj)
{
	struct port_build *pb = obj;

	parse_duration_limit(c, v, "max_duration", &pb->rule->max_duration_s);
}

static void parse_allowed_sources(struct parse_ctx *c, const struct node *v,
				  void *obj)
{
	struct jit_port_rule *rule = ((struct port_build *)obj)->rule;
	const struct node *const *items = &v;
	const struct node *first_any = NULL, *first_cidr = NULL;
	char q[QUOTE_BUF], d[DESCRIBE_BUF], fix[JIT_PREFIX_STRLEN];
	bool mixed = false;
	size_t n = 1;

	if (v->bad)
		return;
	if (v->kind == NODE_SEQ) {
		items = (const struct node *const *)v->kids;
		n = v->n_kids;
		if (n == 0) {
			node_err(c, v,
				 "allowed_sources is empty; write [any] or "
				 "list CIDRs");
			return;
		}
	} else if (v->kind != NODE_SCALAR || node_is_null(v) ||
		   node_is_bool(v)) {
		node_err(c, v,
			 "allowed_sources: expected a list of CIDRs, or any, "
			 "got %s",
			 node_describe(v, d));
		return;
	}
	if (n > JIT_POLICY_MAX_SOURCES) {
		node_err(c, items[JIT_POLICY_MAX_SOURCES],
			 "allowed_sources has %zu entries; at most %d are "
			 "allowed",
			 n, JIT_POLICY_MAX_SOURCES);
		return;
	}
	rule->sources = calloc(n, sizeof(*rule->sources));
	if (!rule->sources) {
		node_err(c, v, "out of memory");
		return;
	}

	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		struct jit_prefix p;
		bool host_bits;
		const char *s;

		s = node_want_scalar(c, it, "allowed_sources", SOURCES_WHAT);
		if (!s)
			continue;
		if (streq(s, "any")) {
			if (!first_any)
				first_any = it;
		} else if (prefix_parse_relaxed(s, &p, &host_bits) < 0) {
			node_err(c, it,
				 "allowed_sources: '%s' is not valid; "
				 "expected %s",
				 msg_quote(q, s), SOURCES_WHAT);
			continue;
		} else if (host_bits) {
			node_err(c, it,
				 "allowed_sources: '%s' has host bits set; "
				 "did you mean %s?",
				 msg_quote(q, s),
				 prefix_format(&p, fix, sizeof(fix)));
			continue;
		} else {
			if (!first_cidr)
				first_cidr = it;
			rule->sources[rule->n_sources++] = p;
		}
		if (first_any && first_cidr && !mixed) {
			node_err(c, it,
				 "allowed_sources: 'any' cannot be combined "
				 "with CIDRs; write either [any] or a list of "
				 "CIDRs");
			mixed = true;
		}
	}
	rule->any_source = first_any && !first_cidr;
}

static const struct key_handler port_keys[] = {
	{ "port", parse_port },
	{ "protocol", parse_protocol },
	{ "max_duration", parse_max_duration },
	{ "allowed_sources", parse_allowed_sources },
};

/* Fills rule; returns true if the entry is valid. */
static bool parse_port_entry(struct parse_ctx *c, const struct node *v,
			     struct jit_port_rule *rule)
{
	const struct node *seen[ARRAY_SIZE(port_keys)] = { 0 };
	struct port_build pb = { .rule = rule };
	unsigned errors = c->errors;
	char d[DESCRIBE_BUF];

	rule->protos = JIT_PROTO_TCP;
	rule->max_duration_s = JIT_POLICY_DEFAULT_MAX_DURATION_S;
	rule->any_source = true;
	if (v->bad)
		return false;
	if (v->kind != NODE_MAP) {
		node_err(c, v,
			 "ports: expected a port entry (a mapping with port, "
			 "protocol, max_duration, allowed_sources), got %s",
			 node_describe(v, d));
		return false;
	}
	node_walk_mapping(c, v, "a port entry", port_keys,
			  ARRAY_SIZE(port_keys), seen, &pb);
	if (!seen[0])
		node_err(c, v, "missing required key 'port' in port entry");
	return c->errors == errors && pb.port_ok;
}

const char *protos_name(unsigned protos)
{
	switch (protos) {
	case JIT_PROTO_TCP:
		return "tcp";
	case JIT_PROTO_UDP:
		return "udp";
	default:
		return "tcp,udp";
	}
}

static void parse_ports(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_policy *p = obj;
	bool ok[JIT_POLICY_MAX_PORTS];

	if (!node_want_kind(c, v, NODE_SEQ, "ports", "a list of port entries"))
		return;
	if (v->n_kids == 0) {
		node_err(c, v, "ports is empty; list at least one port");
		return;
	}
	if (v->n_kids > JIT_POLICY_MAX_PORTS) {
		node_err(c, v->kids[JIT_POLICY_MAX_PORTS],
			 "ports has %zu entries; at most %d are allowed",
			 v->n_kids, JIT_POLICY_MAX_PORTS);
		return;
	}
	p->ports = calloc(v->n_kids, sizeof(*p->ports));
	if (!p->ports) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		ok[i] = parse_port_entry(c, v->kids[i], &p->ports[i]);
		p->n_ports++;
	}

	/* A request for a port must match one entry, or its limits are moot. */
	for (size_t j = 0; j < p->n_ports; j++) {
		const struct jit_port_rule *b = &p->ports[j];

		for (size_t i = 0; ok[j] && i < j; i++) {
			const struct jit_port_rule *a = &p->ports[i];

			if (!ok[i] || !(a->protos & b->protos) ||
			    a->port_hi < b->port_lo || b->port_hi < a->port_lo)
				continue;
			node_err(c, v->kids[j],
				 "port entry overlaps the one at line %u (%s "
				 "port %u); each port and protocol may appear "
				 "once per policy",
				 v->kids[i]->line,
				 protos_name(a->protos & b->protos),
				 a->port_lo > b->port_lo ? a->port_lo
							 : b->port_lo);
			break;
		}
	}
}

static void parse_name(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_policy *p = obj;
	char q[QUOTE_BUF];
	const char *s;

	s = node_want_scalar(c, v, "name", "a policy name");
	if (!s)
		return;
	if (strlen(s) > JIT_POLICY_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s))
		node_err(c, v,
			 "name '%s' is too long (%zu characters); at most %d "
			 "are allowed",
			 msg_quote(q, s), strlen(s), JIT_POLICY_NAME_MAX);
	else if (!policy_name_valid(s))
		node_err(c, v,
			 "name '%s' is not valid; use 1 to %d characters "
			 "from a-z, 0-9, '_' and '-'",
			 msg_quote(q, s), JIT_POLICY_NAME_MAX);
	else
		strcpy(p->name, s);
}

static void parse_description(struct parse_ctx *c, const struct node *v,
			      void *obj)
{
	struct jit_policy *p = obj;
	const char *s;
	size_t n;

	s = node_want_scalar(c, v, "description", "a string");
	if (!s)
		return;
	/* Block scalars (">", "|") end with a newline nobody means. */
	n = strlen(s);
	while (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > DESCRIPTION_MAX) {
		node_err(c, v,
			 "description is %zu bytes long; at most %d are "
			 "allowed",
			 n, DESCRIPTION_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f ||
		    (ch == 0xc2 && (unsigned char)s[i + 1] < 0xa0)) {
			node_err(c, v,
				 "description must be one line of text "
				 "without control characters");
			return;
		}
	}
	if (n == 0)
		return;
	p->description = strndup(s, n);
	if (!p->description)
		node_err(c, v, "out of memory");
}

static void parse_interfaces(struct parse_ctx *c, const struct node *v,
			     void *obj)
{
	struct jit_policy *p = obj;
	char q[QUOTE_BUF];

	if (!node_want_kind(c, v, NODE_SEQ, "interfaces",
			    "a list of interface names"))
		return;
	if (v->n_kids == 0) {
		node_err(c, v,
			 "interfaces is empty; leave the key out to enforce "
			 "on all interfaces");
		return;
	}
	if (v->n_kids > JIT_POLICY_MAX_IFACES) {
		node_err(c, v->kids[JIT_POLICY_MAX_IFACES],
			 "interfaces has %zu entries; at most %d are allowed",
			 v->n_kids, JIT_POLICY_MAX_IFACES);
		return;
	}
	p->interfaces = calloc(v->n_kids, sizeof(*p->interfaces));
	if (!p->interfaces) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s;

		s = node_want_scalar(c, it, "interfaces", "an interface name");
		if (!s)
			continue;
		if (strlen(s) >= IFNAMSIZ)
			node_err(c, it,
				 "interface name '%s' is too long (%zu "
				 "characters); at most %d are allowed",
				 msg_quote(q, s), strlen(s), IFNAMSIZ - 1);
		else if (streq(s, "*"))
			node_err(c, it,
				 "interface name '*' would match every "
				 "interface; leave interfaces out instead");
		else if (!valid_interface_name(s))
			node_err(c, it,
				 "interface name '%s' is not valid; no "
				 "spaces, '/' or ':', and '*' only at the end "
				 "to match a prefix",
				 msg_quote(q, s));
		else
			strcpy(p->interfaces[p->n_interfaces++], s);
	}
}

struct principals_build {
	struct jit_principals *pr;
	const char *key; /* "requesters" or "approvers" */
};

static void parse_names(struct parse_ctx *c, const struct node *v,
			struct principals_build *pb, bool groups)
{
	struct jit_principals *pr = pb->pr;
	const char *key = groups ? "groups" : "users";
	const char *kind = groups ? "group" : "user";
	char ***names = groups ? &pr->groups : &pr->users;
	struct jit_mark **at = groups ? &pr->group_at : &pr->user_at;
	size_t *n = groups ? &pr->n_groups : &pr->n_users;
	char q[QUOTE_BUF], what[32];

	snprintf(what, sizeof(what), "a list of %s names", kind);
	if (!node_want_kind(c, v, NODE_SEQ, key, what))
		return;
	if (v->n_kids + pr->n_users + pr->n_groups >
	    JIT_POLICY_MAX_PRINCIPALS) {
		node_err(c, v,
			 "%s has %zu users and groups; at most %d are allowed",
			 pb->key, v->n_kids + pr->n_users + pr->n_groups,
			 JIT_POLICY_MAX_PRINCIPALS);
		return;
	}
	*names = calloc(v->n_kids ? v->n_kids : 1, sizeof(**names));
	*at = calloc(v->n_kids ? v->n_kids : 1, sizeof(**at));
	if (!*names || !*at) {
		node_err(c, v, "out of memory");
		return;
	}
	snprintf(what, sizeof(what), "a %s name", kind);
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s = node_want_scalar(c, it, key, what);

		if (!s)
			continue;
		if (!valid_principal_name(s)) {
			node_err(c, it,
				 "%s name '%s' is not valid; use 1 to %d of "
				 "A-Z a-z 0-9 . _ - @ and a final $, not "
				 "starting with '-', not all digits",
				 kind, msg_quote(q, s), PRINCIPAL_NAME_MAX);
			continue;
		}
		(*names)[*n] = strdup(s);
		if (!(*names)[*n]) {
			node_err(c, it, "out of memory");
			return;
		}
		(*at)[*n] = (struct jit_mark){ it->line, it->col };
		(*n)++;
	}
}

static void parse_users(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_names(c, v, obj, false);
}

static void parse_groups(struct parse_ctx *c, const struct node *v, void *obj)
{
	parse_names(c, v, obj, true);
}

static const struct key_handler principal_keys[] = {
	{ "users", parse_users },
	{ "groups", parse_groups },
};

static void parse_principals(struct parse_ctx *c, const struct node *v,
			     struct jit_principals *pr, const char *key)
{
	const struct node *seen[ARRAY_SIZE(principal_keys)] = { 0 };
	struct principals_build pb = { .pr = pr, .key = key };

	if (!node_want_kind(c, v, NODE_MAP, key,
			    "a mapping with users and groups"))
		return;
	node_walk_mapping(c, v, key, principal_keys, ARRAY_SIZE(principal_keys),
			  seen, &pb);
}

static void parse_requesters(struct parse_ctx *c, const struct node *v,
			     void *obj)
{
	parse_principals(c, v, &((struct jit_policy *)obj)->requesters,
			 "requesters");
}

static void parse_approvers(struct parse_ctx *c, const struct node *v,
			    void *obj)
{
	parse_principals(c, v, &((struct jit_policy *)obj)->approvers,
			 "approvers");
}

/* A scalar that must be one of two words: 0 for a, 1 for b, -1 if not. */
static int parse_word(struct parse_ctx *c, const struct node *v,
		      const char *key, const char *a, const char *b)
{
	char what[64], q[QUOTE_BUF];
	const char *s;

	snprintf(what, sizeof(what), "%s or %s", a, b);
	s = node_want_scalar(c, v, key, what);
	if (!s)
		return -1;
	if (streq(s, a))
		return 0;
	if (streq(s, b))
		return 1;
	node_err(c, v, "%s '%s' is not valid; allowed: %s, %s", key,
		 msg_quote(q, s), a, b);
	return -1;
}

static void parse_approval(struct parse_ctx *c, const struct node *v, void *obj)
{
	int r = parse_word(c, v, "approval", "auto", "manual");

	if (r >= 0)
		((struct jit_policy *)obj)->approval =
			r ? JIT_APPROVAL_MANUAL : JIT_APPROVAL_AUTO;
}

static void parse_action(struct parse_ctx *c, const struct node *v, void *obj)
{
	int r = parse_word(c, v, "action", "drop", "reject");

	if (r >= 0)
		((struct jit_policy *)obj)->action =
			r ? JIT_ACTION_REJECT : JIT_ACTION_DROP;
}

struct limit_def {
	const char *key;
	unsigned bit;
	bool duration;
	uint32_t max;
	size_t offset;
	size_t size;
};

#define LIMIT(k, b, dur, mx, field)                                      \
	{                                                                \
		k, b, dur, mx, offsetof(struct jit_alert_limits, field), \
			sizeof(((struct jit_alert_limits *)0)->field)    \
	}

static const struct limit_def limit_defs[] = {
	LIMIT("repeated_attempts", JIT_ALERT_SET_REPEATED, false, 1000000,
	      repeated_attempts),
	LIMIT("distributed_sources", JIT_ALERT_SET_SOURCES, false, 1000000,
	      distributed_sources),
	/* detect.c follows at most 16 ports per source (DETECT_SCAN_MAX). */
	LIMIT("scan_ports", JIT_ALERT_SET_SCAN, false, 16, scan_ports),
	LIMIT("window", JIT_ALERT_SET_WINDOW, true, 3600, window_s),
	LIMIT("after_grant_end", JIT_ALERT_SET_AFTER_END, true, 86400,
	      after_grant_end_s),
	LIMIT("wide_grant_prefix_v4", JIT_ALERT_SET_WIDE_V4, false, 32,
	      wide_prefix_v4),
	LIMIT("wide_grant_prefix_v6", JIT_ALERT_SET_WIDE_V6, false, 128,
	      wide_prefix_v6),
	/*
	 * A logged packet costs the agent about 2 us (its read, its parse,
	 * one hash lookup per detection table; 10 us when the tables were
	 * scanned), measured with a flood of distinct spoofed sources:
	 * 100,000/s keeps the agent near a fifth of one core, a third with
	 * 256 recently ended grants watched (check_after_end scans those).
	 */
	LIMIT("log_rate", JIT_ALERT_SET_LOG_RATE, false, 100000, log_rate),
};

static void parse_limit(struct parse_ctx *c, const struct node *v,
			struct jit_alert_limits *al, const struct limit_def *d)
{
	char q[QUOTE_BUF];
	const char *s;
	uint64_t n = 0;
	char *end;

	s = node_want_scalar(c, v, d->key,
			     d->duration ? "a duration such as 60s or 10m"
					 : "a whole number");
	if (!s)
		return;
	if (d->duration) {
		if (duration_parse(s, &n) < 0) {
			node_err(c, v,
				 "%s '%s' is not a valid duration; use forms "
				 "like 60s, 10m or 1h",
				 d->key, msg_quote(q, s));
			return;
		}
	} else {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (!node_is_number(v) || *s < '0' || *s > '9' || *end ||
		    errno) {
			node_err(c, v, "%s '%s' is not a whole number", d->key,
				 msg_quote(q, s));
			return;
		}
	}
	if (n > d->max) {
		node_err(c, v, "%s '%s' is out of range; at most %u%s", d->key,
			 msg_quote(q, s), d->max, d->duration ? "s" : "");
		return;
	}
	if (d->duration && n == 0 && d->bit == JIT_ALERT_SET_WINDOW) {
		node_err(c, v, "window '%s' is zero; the shortest is 1s",
			 msg_quote(q, s));
		return;
	}
	if (d->size == sizeof(uint8_t))
		*((uint8_t *)al + d->offset) = (uint8_t)n;
	else
		memcpy((char *)al + d->offset, &(uint32_t){ (uint32_t)n }, 4);
	al->set |= d->bit;
}

static void parse_mgmt_ports(struct parse_ctx *c, const struct node *v,
			     struct jit_alert_limits *al)
{
	char q[QUOTE_BUF];

	if (!node_want_kind(c, v, NODE_SEQ, "management_ports",
			    "a list of port numbers"))
		return;
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *k = v->kids[i];
		unsigned long n;
		char *end;

		if (k->kind != NODE_SCALAR || !node_is_number(k)) {
			node_err(c, k,
				 "management_ports: expected a port "
				 "number");
			continue;
		}
		n = strtoul(k->text, &end, 10);
		if (*end || n < 1 || n > 65535) {
			node_err(c, k,
				 "management_ports: '%s' is not a port "
				 "(1..65535)",
				 msg_quote(q, k->text));
			continue;
		}
		if (al->n_mgmt_ports >= JIT_ALERT_MGMT_PORTS_MAX) {
			node_err(c, k, "management_ports: at most %d ports",
				 JIT_ALERT_MGMT_PORTS_MAX);
			return;
		}
		al->mgmt_ports[al->n_mgmt_ports++] = (uint16_t)n;
	}
	al->set |= JIT_ALERT_SET_MGMT_PORTS;
}

static void parse_alerts(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_alert_limits *al = &((struct jit_policy *)obj)->alerts;
	char q[QUOTE_BUF], allowed[400] = "management_ports";
	char d[DESCRIBE_BUF];

	if (!node_want_kind(c, v, NODE_MAP, "alerts",
			    "a mapping of thresholds"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++) {
		size_t o = strlen(allowed);

		snprintf(allowed + o, sizeof(allowed) - o, ", %s",
			 limit_defs[i].key);
	}
	for (size_t i = 0; i + 1 < v->n_kids; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		bool found = false;

		if (k->kind != NODE_SCALAR) {
			node_err(c, k, "a key must be a word, got %s",
				 node_describe(k, d));
			continue;
		}
		for (size_t j = 0; j < i; j += 2)
			if (v->kids[j]->kind == NODE_SCALAR &&
			    streq(v->kids[j]->text, k->text)) {
				node_err(c, k,
					 "duplicate key '%s' (first at line "
					 "%u)",
					 msg_quote(q, k->text),
					 v->kids[j]->line);
				found = true;
				break;
			}
		if (found)
			continue;
		if (streq(k->text, "management_ports")) {
			parse_mgmt_ports(c, val, al);
			continue;
		}
		for (size_t j = 0; j < ARRAY_SIZE(limit_defs); j++)
			if (streq(k->text, limit_defs[j].key)) {
				parse_limit(c, val, al, &limit_defs[j]);
				found = true;
			}
		if (!found)
			node_err(c, k,
				 "unknown key '%s' in alerts; allowed keys: %s",
				 msg_quote(q, k->text), allowed);
	}
}

/* --- fleet: which fleet grants this policy takes ------------------------ */

bool policy_holds_on(const struct jit_policy *p, const char *ifname)
{
	if (!p->n_interfaces)
		return true;
	for (size_t i = 0; i < p->n_interfaces; i++) {
		const char *pat = p->interfaces[i];
		size_t n = strlen(pat);

		if (n && pat[n - 1] == '*' ? !strncmp(pat, ifname, n - 1)
					   : streq(pat, ifname))
			return true;
	}
	return false;
}

bool policy_name_listed(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(list[i], name))
			return true;
	return false;
}

static void parse_fleet_names(struct parse_ctx *c, const struct node *v,
			      const char *key, char ***names, size_t *n)
{
	char q[QUOTE_BUF];

	if (!node_want_kind(c, v, NODE_SEQ, key,
			    "a list of fleet identities (NATS user names)"))
		return;
	if (v->n_kids > JIT_POLICY_MAX_PRINCIPALS) {
		node_err(c, v, "fleet %s has %zu names; at most %d are allowed",
			 key, v->n_kids, JIT_POLICY_MAX_PRINCIPALS);
		return;
	}
	if (v->n_kids == 0) {
		node_err(c, v,
			 "fleet %s is empty; name at least one fleet identity",
			 key);
		return;
	}
	*names = calloc(v->n_kids, sizeof(**names));
	if (!*names) {
		node_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct node *it = v->kids[i];
		const char *s =
			node_want_scalar(c, it, key, "a fleet identity");

		if (!s)
			continue;
		if (!valid_principal_name(s) || strchr(s, '$') ||
		    strlen(s) > 32) {
			node_err(c, it,
				 "fleet identity '%s' is not valid; use 1 to "
				 "32 of A-Z a-z 0-9 . _ - @, not starting "
				 "with '-', not all digits",
				 msg_quote(q, s));
			continue;
		}
		(*names)[*n] = strdup(s);
		if (!(*names)[*n]) {
			node_err(c, it, "out of memory");
			return;
		}
		(*n)++;
	}
}

static void parse_fleet_requesters(struct parse_ctx *c, const struct node *v,
				   void *obj)
{
	struct jit_policy_fleet *f = obj;

	parse_fleet_names(c, v, "requesters", &f->requesters, &f->n_requesters);
}

static void parse_fleet_approvers(struct parse_ctx *c, const struct node *v,
				  void *obj)
{
	struct jit_policy_fleet *f = obj;

	parse_fleet_names(c, v, "approvers", &f->approvers, &f->n_approvers);
}

static void parse_fleet_max_duration(struct parse_ctx *c, const struct node *v,
				     void *obj)
{
	struct jit_policy_fleet *f = obj;

	parse_duration_limit(c, v, "fleet max_duration", &f->max_duration_s);
}

enum {
	FLEET_REQUESTERS,
	FLEET_APPROVERS,
	FLEET_MAX_DURATION,
};

static const struct key_handler fleet_keys[] = {
	[FLEET_REQUESTERS] = { "requesters", parse_fleet_requesters },
	[FLEET_APPROVERS] = { "approvers", parse_fleet_approvers },
	[FLEET_MAX_DURATION] = { "max_duration", parse_fleet_max_duration },
};

static void parse_fleet(struct parse_ctx *c, const struct node *v, void *obj)
{
	struct jit_policy_fleet *f = &((struct jit_policy *)obj)->fleet;
	const struct node *seen[ARRAY_SIZE(fleet_keys)] = { 0 };

	if (!node_want_kind(c, v, NODE_MAP, "fleet",
			    "a mapping with requesters, approvers and "
			    "max_duration"))
		return;
	f->enabled = true;
	f->max_duration_s = JIT_FLEET_DEFAULT_MAX_DURATION_S;
	node_walk_mapping(c, v, "fleet", fleet_keys, ARRAY_SIZE(fleet_keys),
			  seen, f);
	if (!seen[FLEET_REQUESTERS])
		node_err(c, v,
			 "fleet needs 'requesters': the fleet identities "
			 "whose requests this policy takes");
	if (!seen[FLEET_APPROVERS])
		node_err(c, v,
			 "fleet needs 'approvers': the fleet identities "
			 "whose approval this policy takes");
}

enum {
	KEY_NAME,
	KEY_DESCRIPTION,
	KEY_PORTS,
	KEY_INTERFACES,
	KEY_REQUESTERS,
	KEY_APPROVAL,
	KEY_APPROVERS,
	KEY_ACTION,
	KEY_ALERTS,
	KEY_FLEET,
};

static const struct key_handler policy_keys[] = {
	[KEY_NAME] = { "name", parse_name },
	[KEY_DESCRIPTION] = { "description", parse_description },
	[KEY_PORTS] = { "ports", parse_ports },
	[KEY_INTERFACES] = { "interfaces", parse_interfaces },
	[KEY_REQUESTERS] = { "requesters", parse_requesters },
	[KEY_APPROVAL] = { "approval", parse_approval },
	[KEY_APPROVERS] = { "approvers", parse_approvers },
	[KEY_ACTION] = { "action", parse_action },
	[KEY_ALERTS] = { "alerts", parse_alerts },
	[KEY_FLEET] = { "fleet", parse_fleet },
};

static void principals_release(struct jit_principals *pr)
{
	for (size_t i = 0; i < pr->n_users; i++)
		free(pr->users[i]);
	for (size_t i = 0; i < pr->n_groups; i++)
		free(pr->groups[i]);
	free(pr->users);
	free(pr->groups);
	free(pr->user_at);
	free(pr->group_at);
}

static unsigned warn_principals(const struct jit_policy *p, const char *src,
				const struct jit_principals *pr,
				const char *key, const char *whom,
				struct jit_diag *diag)
{
	char buf[16384];
	unsigned n = 0;

	for (size_t i = 0; i < pr->n_users; i++) {
		struct passwd pw, *res = NULL;

		if (getpwnam_r(pr->users[i], &pw, buf, sizeof(buf), &res) ==
			    0 &&
		    res)
			continue;
		diag_warning(diag, p->file, src, pr->user_at[i].line,
			     pr->user_at[i].col,
			     "%s: user '%s' does not exist on this host; no "
			     "one %s under policy '%s' by that name",
			     key, pr->users[i], whom, p->name);
		n++;
	}
	for (size_t i = 0; i < pr->n_groups; i++) {
		struct group gr, *res = NULL;

		if (getgrnam_r(pr->groups[i], &gr, buf, sizeof(buf), &res) ==
			    0 &&
		    res)
			continue;
		diag_warning(diag, p->file, src, pr->group_at[i].line,
			     pr->group_at[i].col,
			     "%s: group '%s' does not exist on this host; no "
			     "one %s under policy '%s' through it",
			     key, pr->groups[i], whom, p->name);
		n++;
	}
	return n;
}

unsigned policy_warn(const struct jit_policy *p, const char *src,
		     struct jit_diag *diag)
{
	unsigned n = 0;

	if (!p->requesters.n_users && !p->requesters.n_groups) {
		diag_warning(diag, p->file, src, p->line, 0,
			     "policy '%s' has no requesters: only root may "
			     "request access under it (add e.g. requesters: "
			     "{groups: [%s]})",
			     p->name, "jit-enforcer");
		n++;
	}
	n += warn_principals(p, src, &p->requesters, "requesters",
			     "may request", diag);
	if (p->approval == JIT_APPROVAL_MANUAL)
		n += warn_principals(p, src, &p->approvers, "approvers",
				     "may approve", diag);
	return n;
}

/* p->file is the file's path, shared, and not freed here. */
void policy_release(struct jit_policy *p)
{
	for (size_t i = 0; i < p->n_ports; i++)
		free(p->ports[i].sources);
	free(p->ports);
	free(p->description);
	free(p->interfaces);
	principals_release(&p->requesters);
	principals_release(&p->approvers);
	for (size_t i = 0; i < p->fleet.n_requesters; i++)
		free(p->fleet.requesters[i]);
	for (size_t i = 0; i < p->fleet.n_approvers; i++)
		free(p->fleet.approvers[i]);
	free(p->fleet.requesters);
	free(p->fleet.approvers);
}

/* The value that follows key node k in mapping m. */
static const struct node *value_of(const struct node *m, const struct node *k)
{
	for (size_t i = 0; i + 1 < m->n_kids; i += 2)
		if (m->kids[i] == k)
			return m->kids[i + 1];
	return NULL;
}

/* Remember a valid name; report it if another document has it already. */
static void check_name_unique(struct parse_ctx *c, const struct node *v,
			      const char *name)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (streq(c->names[i].name, name)) {
			node_err(c, v,
				 "duplicate policy name '%s' (first at line "
				 "%u)",
				 name, c->names[i].line);
			return;
		}
	if (grow_array((void **)&c->names, &c->cap_names, c->n_names + 1,
		       sizeof(*c->names)) < 0) {
		node_err(c, v, "out of memory");
		return;
	}
	strcpy(c->names[c->n_names].name, name);
	c->names[c->n_names++].line = v->line;
}

void policy_validate_document(struct parse_ctx *c, const struct node *root)
{
	const struct node *seen[ARRAY_SIZE(policy_keys)] = { 0 };
	struct jit_policy p = { .file = c->file->path, .line = root->line };
	const struct node *approval, *approvers, *name = NULL;
	/* Includes what the builder found: tags, NUL characters. */
	unsigned errors = c->errors_at_doc;
	struct policy_entry *e;
	char d[DESCRIBE_BUF];

	if (root->bad)
		return;
	if (root->kind == NODE_SCALAR && root->plain && !root->text[0]) {
		node_err(c, root,
			 "empty document; each document between '---' "
			 "markers must be a policy with name and ports");
		return;
	}
	if (root->kind != NODE_MAP) {
		node_err(c, root,
			 "a policy must be a mapping with keys such as name "
			 "and ports, got %s",
			 node_describe(root, d));
		return;
	}
	node_walk_mapping(c, root, "a policy", policy_keys,
			  ARRAY_SIZE(policy_keys), seen, &p);
	if (!seen[KEY_NAME])
		node_err(c, root, "missing required key 'name'");
	if (!seen[KEY_PORTS])
		node_err(c, root,
			 "missing required key 'ports'; a policy protects at "
			 "least one port");
	/*
	 * An admin who lists approvers but forgets "approval: manual" would
	 * get requests approved automatically: refuse the combination.
	 */
	approval =
		seen[KEY_APPROVAL] ? value_of(root, seen[KEY_APPROVAL]) : NULL;
	approvers = seen[KEY_APPROVERS] ? value_of(root, seen[KEY_APPROVERS])
					: NULL;
	if (approvers && approvers->kind == NODE_MAP && !approvers->bad &&
	    (!approval ||
	     (approval->kind == NODE_SCALAR && streq(approval->text, "auto"))))
		node_err(c, seen[KEY_APPROVERS],
			 "approvers has no effect with 'approval: auto'; set "
			 "'approval: manual' or remove approvers");
	if (p.name[0]) {
		name = value_of(root, seen[KEY_NAME]);
		check_name_unique(c, name, p.name);
	}

	if (c->errors != errors ||
	    grow_array((void **)&c->file->entries, &c->file->cap,
		       c->file->n + 1, sizeof(*c->file->entries)) < 0) {
		policy_release(&p);
		return;
	}
	e = &c->file->entries[c->file->n++];
	e->p = p;
	e->name_line = name->line;
	e->name_col = name->col;
}

/* --- printing ------------------------------------------------------------- */

static void print_list(FILE *out, char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", v[i]);
	fputc(']', out);
}

static void print_principals(FILE *out, const char *key,
			     const struct jit_principals *pr)
{
	fprintf(out, "  %s:", key);
	if (!pr->n_users && !pr->n_groups)
		fputs(" root", out);
	if (pr->n_users) {
		fputs(" users ", out);
		print_list(out, pr->users, pr->n_users);
	}
	if (pr->n_groups) {
		fputs(" groups ", out);
		print_list(out, pr->groups, pr->n_groups);
	}
	fputc('\n', out);
}

void policy_print(const struct jit_policy *p, FILE *out)
{
	char buf[JIT_PREFIX_STRLEN];

	fprintf(out, "policy %s (%s:%u)\n", p->name, p->file, p->line);
	if (p->description)
		fprintf(out, "  description: %s\n", p->description);
	for (size_t i = 0; i < p->n_ports; i++) {
		const struct jit_port_rule *r = &p->ports[i];

		fprintf(out, "  port %s/%u", protos_name(r->protos),
			r->port_lo);
		if (r->port_hi != r->port_lo)
			fprintf(out, "-%u", r->port_hi);
		fprintf(out, " max_duration %s sources ",
			duration_format(r->max_duration_s, buf, sizeof(buf)));
		if (r->any_source)
			fputs("any", out);
		for (size_t j = 0; j < r->n_sources; j++)
			fprintf(out, "%s%s", j ? "," : "",
				prefix_format(&r->sources[j], buf,
					      sizeof(buf)));
		fputc('\n', out);
	}
	if (p->n_interfaces) {
		fputs("  interfaces: [", out);
		for (size_t i = 0; i < p->n_interfaces; i++)
			fprintf(out, "%s%s", i ? ", " : "", p->interfaces[i]);
		fputs("]\n", out);
	} else {
		fputs("  interfaces: all\n", out);
	}
	print_principals(out, "requesters", &p->requesters);
	fprintf(out, "  approval: %s\n",
		p->approval == JIT_APPROVAL_MANUAL ? "manual" : "auto");
	print_principals(out, "approvers", &p->approvers);
	fprintf(out, "  action: %s\n",
		p->action == JIT_ACTION_REJECT ? "reject" : "drop");
	if (p->alerts.set) {
		fputs("  alerts:", out);
		for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++) {
			const struct limit_def *d = &limit_defs[i];
			uint32_t n = 0;

			if (!(p->alerts.set & d->bit))
				continue;
			if (d->size == sizeof(uint8_t))
				n = *((const uint8_t *)&p->alerts + d->offset);
			else
				memcpy(&n, (const char *)&p->alerts + d->offset,
				       4);
			fprintf(out, " %s=%u%s", d->key, n,
				d->duration ? "s" : "");
		}
		if (p->alerts.n_mgmt_ports) {
			fputs(" management_ports=", out);
			for (size_t i = 0; i < p->alerts.n_mgmt_ports; i++)
				fprintf(out, "%s%u", i ? "," : "",
					p->alerts.mgmt_ports[i]);
		}
		fputc('\n', out);
	}
	if (p->fleet.enabled) {
		fputs("  fleet: requesters ", out);
		print_list(out, p->fleet.requesters, p->fleet.n_requesters);
		fputs(" approvers ", out);
		print_list(out, p->fleet.approvers, p->fleet.n_approvers);
		fprintf(out, " max_duration %s\n",
			duration_format(p->fleet.max_duration_s, buf,
					sizeof(buf)));
	}
}
