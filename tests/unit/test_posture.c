/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Posture without sock_diag: listeners given by hand, a ruleset compiled
 * from policies, and the findings posture_evaluate makes of them,
 * including the policy snippet it suggests, which must itself be a valid
 * policy that closes the port.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>

#include "diag.h"
#include "posture.h"
#include "ruleset.h"
#include "util.h"
#include "helpers.h"
#include "runner.h"

#define RECOMMENDATION                                                    \
	"Management ports should be protected with just-in-time network " \
	"access control"

static struct jit_listener lis(uint8_t proto, uint16_t port, const char *addr)
{
	struct jit_listener l;

	memset(&l, 0, sizeof(l));
	l.proto = proto;
	l.port = port;
	l.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(l.family, addr, l.addr), 1);
	return l;
}

static void load_text(struct jit_policy_set *s, const char *path,
		      const char *text)
{
	struct jit_diag d;

	diag_init(&d);
	ck_assert_msg(policy_set_load_text(s, path, text, strlen(text), &d) ==
			      0,
		      "%s:\n%s", path, d.text ? d.text : "");
	diag_release(&d);
}

static struct jit_ruleset *compile(const struct jit_policy_set *s)
{
	struct jit_ruleset *r = NULL;

	ck_assert_int_eq(ruleset_compile(s, &r), 0);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The entry for proto/port; fails if there is none or more than one. */
static json_t *entry(json_t *out, const char *proto, int port)
{
	json_t *found = NULL, *v;
	size_t i;

	json_array_foreach(out, i, v)
	{
		if (json_integer_value(json_object_get(v, "port")) != port ||
		    !streq(json_string_value(json_object_get(v, "protocol")),
			   proto))
			continue;
		ck_assert_msg(!found, "two entries for %s/%d", proto, port);
		found = v;
	}
	ck_assert_msg(found, "no entry for %s/%d", proto, port);
	return found;
}

/* A JSON array of strings equal to the NULL-terminated list. */
static void assert_strings(json_t *a, const char *const *want)
{
	size_t n = 0;

	ck_assert(json_is_array(a));
	for (; want[n]; n++) {
		ck_assert_msg(json_is_string(json_array_get(a, n)),
			      "item %zu is not a string", n);
		ck_assert_str_eq(json_string_value(json_array_get(a, n)),
				 want[n]);
	}
	ck_assert_uint_eq(json_array_size(a), n);
}

static void assert_protected(json_t *e, const char *const *policies)
{
	ck_assert(json_is_true(json_object_get(e, "protected")));
	ck_assert(json_is_false(json_object_get(e, "finding")));
	assert_strings(json_object_get(e, "policies"), policies);
	ck_assert_ptr_null(json_object_get(e, "severity"));
	ck_assert_ptr_null(json_object_get(e, "recommendation"));
	ck_assert_ptr_null(json_object_get(e, "policy_snippet"));
}

/*
 * The snippet of a finding parses as one policy that protects exactly
 * proto/port from any source; returns the parsed file.
 */
static struct jit_policy_file *check_snippet(json_t *e, uint8_t proto,
					     uint16_t port)
{
	const char *snip =
		json_string_value(json_object_get(e, "policy_snippet"));
	struct jit_policy_file *pf = NULL;
	const struct jit_policy *p;
	struct jit_diag d;

	ck_assert_ptr_nonnull(snip);
	diag_init(&d);
	ck_assert_msg(policy_file_parse("snippet.yaml", snip, strlen(snip), &pf,
					&d) == 0,
		      "snippet for %u/%u does not parse:\n%s\n%s", proto, port,
		      snip, d.text ? d.text : "");
	diag_release(&d);
	ck_assert_uint_eq(policy_file_count(pf), 1);
	p = policy_file_get(pf, 0);
	ck_assert_uint_eq(p->n_ports, 1);
	ck_assert_uint_eq(p->ports[0].port_lo, port);
	ck_assert_uint_eq(p->ports[0].port_hi, port);
	ck_assert_uint_eq(p->ports[0].protos,
			  proto == IPPROTO_TCP ? JIT_PROTO_TCP : JIT_PROTO_UDP);
	ck_assert(p->ports[0].any_source);
	ck_assert_uint_eq(p->n_interfaces, 0);
	return pf;
}

static void assert_finding(json_t *e, uint8_t proto, uint16_t port)
{
	ck_assert(json_is_false(json_object_get(e, "protected")));
	ck_assert(json_is_true(json_object_get(e, "finding")));
	assert_json_str(e, "severity", "High");
	assert_json_str(e, "recommendation", RECOMMENDATION);
	policy_file_free(check_snippet(e, proto, port));
	ck_assert_ptr_null(json_object_get(e, "interfaces"));
	ck_assert_ptr_null(json_object_get(e, "note"));
}

static const char ssh_yaml[] = "name: ssh\n"
			       "ports:\n"
			       "  - port: 22\n";
static const char rdp_yaml[] = "name: rdp\n"
			       "ports:\n"
			       "  - port: 3389\n"
			       "    protocol: tcp\n"
			       "interfaces: [eth1, \"wg*\"]\n";
static const char winrm_yaml[] = "name: winrm-a\n"
				 "ports:\n"
				 "  - port: 5985-5986\n"
				 "    protocol: any\n"
				 "interfaces: [eth0]\n"
				 "---\n"
				 "name: winrm-b\n"
				 "ports:\n"
				 "  - port: 5985\n";

static struct jit_policy_set *policies(void)
{
	struct jit_policy_set *s = policy_set_new();

	ck_assert_ptr_nonnull(s);
	load_text(s, "/p/10-ssh.yaml", ssh_yaml);
	load_text(s, "/p/20-rdp.yaml", rdp_yaml);
	load_text(s, "/p/30-winrm.yaml", winrm_yaml);
	return s;
}

UNIT_TEST("evaluate", test_service)
{
	static const uint16_t extra[] = { 8443, 22 };

	ck_assert_str_eq(posture_service(IPPROTO_TCP, 22, NULL, 0), "SSH");
	ck_assert_str_eq(posture_service(IPPROTO_TCP, 3389, NULL, 0), "RDP");
	ck_assert_str_eq(posture_service(IPPROTO_UDP, 3389, NULL, 0), "RDP");
	ck_assert_str_eq(posture_service(IPPROTO_TCP, 2375, NULL, 0),
			 "Docker API");
	ck_assert_ptr_null(posture_service(IPPROTO_UDP, 22, NULL, 0));
	ck_assert_ptr_null(posture_service(IPPROTO_TCP, 8080, NULL, 0));
	ck_assert_ptr_null(posture_service(IPPROTO_TCP, 8443, NULL, 0));
	ck_assert_str_eq(posture_service(IPPROTO_TCP, 8443, extra, 2),
			 "management port (configured)");
	ck_assert_str_eq(posture_service(IPPROTO_UDP, 8443, extra, 2),
			 "management port (configured)");
	/* A well-known port keeps its name when also configured. */
	ck_assert_str_eq(posture_service(IPPROTO_TCP, 22, extra, 2), "SSH");
}
END_TEST

UNIT_TEST("evaluate", test_evaluate)
{
	const struct jit_listener l[] = {
		lis(IPPROTO_TCP, 22, "0.0.0.0"),
		lis(IPPROTO_TCP, 22, "::"),
		lis(IPPROTO_TCP, 3389, "10.0.0.5"),
		lis(IPPROTO_UDP, 3389, "0.0.0.0"),
		lis(IPPROTO_TCP, 2375, "127.0.0.1"),
		lis(IPPROTO_TCP, 8080, "0.0.0.0"),
		lis(IPPROTO_UDP, 22, "0.0.0.0"),
		lis(IPPROTO_TCP, 8443, "::"),
		lis(IPPROTO_TCP, 22, "2001:db8::7"),
		lis(IPPROTO_TCP, 5985, "0.0.0.0"),
		lis(IPPROTO_UDP, 5986, "::1"),
	};
	static const uint16_t extra[] = { 8443, 5986 };
	static const char *const ssh[] = { "ssh", NULL };
	static const char *const rdp[] = { "rdp", NULL };
	static const char *const winrm_ab[] = { "winrm-a", "winrm-b", NULL };
	static const char *const winrm_a[] = { "winrm-a", NULL };
	static const char *const none[] = { NULL };
	static const char *const ifaces[] = { "eth1", "wg*", NULL };
	static const char *const eth0[] = { "eth0", NULL };
	struct jit_policy_set *s = policies();
	struct jit_ruleset *rs = compile(s);
	json_t *out = posture_evaluate(l, ARRAY_SIZE(l), rs, s, extra, 2), *e;

	ck_assert(json_is_array(out));
	/* One entry per protocol and port; 8080 and udp/22 are not ours. */
	ck_assert_uint_eq(json_array_size(out), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(out, 0), "port")),
			 22);

	e = entry(out, "tcp", 22);
	assert_json_str(e, "service", "SSH");
	{
		static const char *const addrs[] = { "0.0.0.0",
						     "::", "2001:db8::7",
						     NULL };

		assert_strings(json_object_get(e, "addresses"), addrs);
	}
	assert_protected(e, ssh);
	ck_assert_ptr_null(json_object_get(e, "interfaces"));
	ck_assert_ptr_null(json_object_get(e, "note"));

	/* Protected on some interfaces only: said so. */
	e = entry(out, "tcp", 3389);
	assert_json_str(e, "service", "RDP");
	assert_protected(e, rdp);
	assert_strings(json_object_get(e, "interfaces"), ifaces);
	assert_json_str(e, "note", "protected on the listed interfaces only");
	{
		static const char *const addrs[] = { "10.0.0.5", NULL };

		assert_strings(json_object_get(e, "addresses"), addrs);
	}

	/* RDP over UDP is another port: not protected. */
	e = entry(out, "udp", 3389);
	assert_finding(e, IPPROTO_UDP, 3389);
	assert_strings(json_object_get(e, "policies"), none);

	e = entry(out, "tcp", 2375);
	assert_json_str(e, "service", "Docker API");
	assert_finding(e, IPPROTO_TCP, 2375);
	{
		static const char *const addrs[] = { "127.0.0.1", NULL };

		assert_strings(json_object_get(e, "addresses"), addrs);
	}

	e = entry(out, "tcp", 8443);
	assert_json_str(e, "service", "management port (configured)");
	assert_finding(e, IPPROTO_TCP, 8443);

	/* One policy for all interfaces among interface ones: no note. */
	e = entry(out, "tcp", 5985);
	assert_protected(e, winrm_ab);
	ck_assert_ptr_null(json_object_get(e, "note"));

	e = entry(out, "udp", 5986);
	assert_json_str(e, "service", "management port (configured)");
	assert_protected(e, winrm_a);
	assert_strings(json_object_get(e, "interfaces"), eth0);
	assert_json_str(e, "note", "protected on the listed interfaces only");
	json_decref(out);

	/* Without the extra port, udp/5986 and 8443 are not reported. */
	out = posture_evaluate(l, ARRAY_SIZE(l), rs, s, NULL, 0);
	ck_assert_uint_eq(json_array_size(out), 5);
	json_decref(out);

	ruleset_free(rs);
	policy_set_free(s);
}
END_TEST

/* Applying the snippets closes the findings. */
UNIT_TEST("evaluate", test_snippet_closes)
{
	const struct jit_listener l[] = {
		lis(IPPROTO_TCP, 22, "0.0.0.0"),
		lis(IPPROTO_UDP, 3389, "::"),
		lis(IPPROTO_TCP, 2375, "0.0.0.0"),
		lis(IPPROTO_TCP, 9090, "0.0.0.0"),
	};
	static const uint16_t extra[] = { 9090 };
	struct jit_policy_set *s = policies();
	struct jit_ruleset *rs = compile(s);
	json_t *out = posture_evaluate(l, ARRAY_SIZE(l), rs, s, extra, 1), *e;
	size_t i, findings = 0;

	json_array_foreach(out, i, e)
	{
		char path[64];

		if (!json_is_true(json_object_get(e, "finding")))
			continue;
		findings++;
		snprintf(path, sizeof(path), "/p/90-fix-%zu.yaml", i);
		load_text(s, path,
			  json_string_value(
				  json_object_get(e, "policy_snippet")));
	}
	ck_assert_uint_eq(findings, 3);
	json_decref(out);
	ruleset_free(rs);

	rs = compile(s);
	ck_assert(ruleset_protects(rs, IPPROTO_UDP, 3389));
	ck_assert(ruleset_protects(rs, IPPROTO_TCP, 2375));
	ck_assert(ruleset_protects(rs, IPPROTO_TCP, 9090));
	ck_assert(!ruleset_protects(rs, IPPROTO_TCP, 3390));
	out = posture_evaluate(l, ARRAY_SIZE(l), rs, s, extra, 1);
	ck_assert_uint_eq(json_array_size(out), 4);
	json_array_foreach(out, i, e)
	{
		ck_assert(json_is_true(json_object_get(e, "protected")));
		ck_assert(json_is_false(json_object_get(e, "finding")));
		ck_assert_uint_eq(
			json_array_size(json_object_get(e, "policies")), 1);
	}
	json_decref(out);
	ruleset_free(rs);
	policy_set_free(s);
}
END_TEST

/* Every well-known service's snippet is a valid policy for its port. */
UNIT_TEST("evaluate", test_snippet_every_service)
{
	static const struct {
		uint8_t proto;
		uint16_t port;
	} ports[] = {
		{ IPPROTO_TCP, 22 },	{ IPPROTO_TCP, 23 },
		{ IPPROTO_TCP, 2375 },	{ IPPROTO_TCP, 2376 },
		{ IPPROTO_TCP, 3389 },	{ IPPROTO_UDP, 3389 },
		{ IPPROTO_TCP, 5900 },	{ IPPROTO_TCP, 5985 },
		{ IPPROTO_TCP, 5986 },	{ IPPROTO_TCP, 10250 },
		{ IPPROTO_TCP, 65535 }, { IPPROTO_UDP, 1 },
	};
	static const uint16_t extra[] = { 65535, 1 };
	struct jit_listener l[ARRAY_SIZE(ports)];
	json_t *out;

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		l[i] = lis(ports[i].proto, ports[i].port, "0.0.0.0");
	/* No ruleset: nothing is protected. */
	out = posture_evaluate(l, ARRAY_SIZE(l), NULL, NULL, extra, 2);
	ck_assert_uint_eq(json_array_size(out), ARRAY_SIZE(ports));
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		json_t *e = json_array_get(out, i);
		struct jit_policy_file *pf;
		const char *name;

		ck_assert_int_eq(json_integer_value(json_object_get(e, "port")),
				 ports[i].port);
		assert_finding(e, ports[i].proto, ports[i].port);
		assert_strings(json_object_get(e, "policies"),
			       (const char *const[]){ NULL });
		pf = check_snippet(e, ports[i].proto, ports[i].port);
		name = policy_file_get(pf, 0)->name;
		ck_assert_msg(strstr(name, "-") && strlen(name) <= 32,
			      "snippet name '%s'", name);
		policy_file_free(pf);
	}
	json_decref(out);
}
END_TEST

/* A ruleset without the policy set: protected, by no known policy. */
UNIT_TEST("evaluate", test_no_policy_set)
{
	const struct jit_listener l[] = { lis(IPPROTO_TCP, 22, "0.0.0.0") };
	struct jit_policy_set *s = policies();
	struct jit_ruleset *rs = compile(s);
	json_t *out = posture_evaluate(l, 1, rs, NULL, NULL, 0);
	static const char *const none[] = { NULL };

	ck_assert_uint_eq(json_array_size(out), 1);
	assert_protected(json_array_get(out, 0), none);
	json_decref(out);

	/* No listeners: an empty array, not NULL. */
	out = posture_evaluate(NULL, 0, rs, s, NULL, 0);
	ck_assert(json_is_array(out));
	ck_assert_uint_eq(json_array_size(out), 0);
	json_decref(out);
	ruleset_free(rs);
	policy_set_free(s);
}
END_TEST
