/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "posture.h"
#include "sockdiag.h"
#include "util.h"

#define RECOMMENDATION                                                    \
	"Management ports should be protected with just-in-time network " \
	"access control"

static const struct {
	uint8_t proto;
	uint16_t port;
	const char *name;
} known[] = {
	{ IPPROTO_TCP, 22, "SSH" },
	{ IPPROTO_TCP, 23, "Telnet" },
	{ IPPROTO_TCP, 2375, "Docker API" },
	{ IPPROTO_TCP, 2376, "Docker API (TLS)" },
	{ IPPROTO_TCP, 3389, "RDP" },
	{ IPPROTO_UDP, 3389, "RDP" },
	{ IPPROTO_TCP, 5900, "VNC" },
	{ IPPROTO_TCP, 5985, "WinRM" },
	{ IPPROTO_TCP, 5986, "WinRM (HTTPS)" },
	{ IPPROTO_TCP, 10250, "kubelet API" },
};

const char *posture_service(uint8_t proto, uint16_t port, const uint16_t *extra,
			    size_t n_extra)
{
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (known[i].proto == proto && known[i].port == port)
			return known[i].name;
	for (size_t i = 0; i < n_extra; i++)
		if (extra[i] == port)
			return "management port (configured)";
	return NULL;
}

/* Policies whose ports cover proto/port, and the interfaces they name. */
static void covering(const struct jit_policy_set *ps, uint8_t proto,
		     uint16_t port, json_t *names, json_t *ifaces, bool *all)
{
	unsigned bit = proto == IPPROTO_TCP ? JIT_PROTO_TCP : JIT_PROTO_UDP;

	*all = false;
	for (size_t i = 0; ps && i < policy_set_count(ps); i++) {
		const struct jit_policy *p = policy_set_get(ps, i);
		bool hit = false;

		for (size_t j = 0; j < p->n_ports && !hit; j++)
			hit = (p->ports[j].protos & bit) &&
			      p->ports[j].port_lo <= port &&
			      port <= p->ports[j].port_hi;
		if (!hit)
			continue;
		json_array_append_new(names, json_string(p->name));
		if (!p->n_interfaces)
			*all = true;
		for (size_t k = 0; k < p->n_interfaces; k++)
			json_array_append_new(ifaces,
					      json_string(p->interfaces[k]));
	}
}

static char *snippet(uint8_t proto, uint16_t port, const char *service)
{
	char name[40], *s = NULL;
	size_t k = 0;

	/* A policy name from the service: lowercase, [a-z0-9-]. */
	for (const char *p = service; *p && k < 20; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			name[k++] = c;
		else if (k && name[k - 1] != '-')
			name[k++] = '-';
	}
	while (k && name[k - 1] == '-')
		k--;
	/* The protocol is in the name for UDP: tcp/3389 and udp/3389 differ. */
	snprintf(name + k, sizeof(name) - k, "%s%s%u", k ? "-" : "port-",
		 proto == IPPROTO_UDP ? "udp-" : "", port);
	if (asprintf(&s,
		     "name: %s\n"
		     "description: %s, closed until access is granted\n"
		     "ports:\n"
		     "  - port: %u\n"
		     "    protocol: %s\n"
		     "    max_duration: 3h\n"
		     "    allowed_sources: [any]\n",
		     name, service, port, proto_name(proto)) < 0)
		return NULL;
	return s;
}

json_t *posture_evaluate(const struct jit_listener *l, size_t n,
			 const struct jit_ruleset *rs,
			 const struct jit_policy_set *ps, const uint16_t *extra,
			 size_t n_extra)
{
	json_t *out = json_array();

	for (size_t i = 0; i < n; i++) {
		const char *service =
			posture_service(l[i].proto, l[i].port, extra, n_extra);
		char addr[INET6_ADDRSTRLEN];
		json_t *f = NULL, *v;
		size_t k;

		if (!service)
			continue;
		inet_ntop(l[i].family, l[i].addr, addr, sizeof(addr));
		json_array_foreach(out, k, v)
		{
			if (json_integer_value(json_object_get(v, "port")) ==
				    l[i].port &&
			    streq(json_string_value(
					  json_object_get(v, "protocol")),
				  proto_name(l[i].proto))) {
				f = v;
				break;
			}
		}
		if (!f) {
			json_t *names = json_array(), *ifaces = json_array();
			bool all, prot = rs && ruleset_protects(rs, l[i].proto,
								l[i].port);
			char *snip;

			covering(ps, l[i].proto, l[i].port, names, ifaces,
				 &all);
			f = json_pack("{s:s, s:i, s:s, s:[], s:b, s:o}",
				      "protocol", proto_name(l[i].proto),
				      "port", l[i].port, "service", service,
				      "addresses", "protected", prot,
				      "policies", names);
			if (prot && !all && json_array_size(ifaces)) {
				json_object_set_new(f, "interfaces", ifaces);
				json_object_set_new(
					f, "note",
					json_string("protected on the listed "
						    "interfaces only"));
			} else {
				json_decref(ifaces);
			}
			if (!prot) {
				snip = snippet(l[i].proto, l[i].port, service);
				json_object_set_new(f, "finding", json_true());
				json_object_set_new(f, "severity",
						    json_string("High"));
				json_object_set_new(
					f, "recommendation",
					json_string(RECOMMENDATION));
				json_object_set_new(
					f, "policy_snippet",
					json_string(snip ? snip : ""));
				free(snip);
			} else {
				json_object_set_new(f, "finding", json_false());
			}
			json_array_append_new(out, f);
		}
		json_array_append_new(json_object_get(f, "addresses"),
				      json_string(addr));
	}
	return out;
}

struct scan_ctx {
	struct jit_listener *v;
	size_t n, cap;
};

static int listener_cb(const struct jit_sock *s, void *userdata)
{
	struct scan_ctx *ctx = userdata;
	struct jit_listener *l;

	/* UDP: bound but not connected sockets are the servers. */
	if (s->proto == IPPROTO_UDP && s->rport)
		return 0;
	if (grow_array((void **)&ctx->v, &ctx->cap, ctx->n + 1,
		       sizeof(*ctx->v)) < 0)
		return -ENOMEM;
	l = &ctx->v[ctx->n++];
	memset(l, 0, sizeof(*l));
	l->proto = s->proto;
	l->port = s->lport;
	l->family = s->diag_family;
	memcpy(l->addr, s->raw_src, s->diag_family == AF_INET ? 4 : 16);
	return 0;
}

static int cmp_listener(const void *a, const void *b)
{
	const struct jit_listener *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->proto - y->proto;
}

int posture_scan(const struct jit_ruleset *rs, const struct jit_policy_set *ps,
		 const uint16_t *extra, size_t n_extra, json_t **ret)
{
	struct scan_ctx ctx = { 0 };
	int r;

	r = sockdiag_dump(IPPROTO_TCP, SOCKDIAG_LISTEN, listener_cb, &ctx);
	if (r == 0)
		r = sockdiag_dump(IPPROTO_UDP, 1u << 7 /* TCP_CLOSE */,
				  listener_cb, &ctx);
	if (r < 0) {
		free(ctx.v);
		return r;
	}
	if (ctx.n)
		qsort(ctx.v, ctx.n, sizeof(*ctx.v), cmp_listener);
	*ret = posture_evaluate(ctx.v, ctx.n, rs, ps, extra, n_extra);
	free(ctx.v);
	return *ret ? 0 : -ENOMEM;
}
