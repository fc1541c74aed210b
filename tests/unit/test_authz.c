/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may request, and whether a request fits its policy: policies come
 * from YAML text through the real loader, identities are built by hand so
 * that no NSS lookup is involved.
 */
#include <check.h>

#include "authz.h"
#include "util.h"
#include "runner.h"

static const char policies_yaml[] =
	"name: ssh\n"
	"ports:\n"
	"  - port: 22\n"
	"    protocol: tcp\n"
	"    max_duration: 2h\n"
	"    allowed_sources: [192.0.2.0/24, 2001:db8::/32]\n"
	"  - port: 5985-5986\n"
	"    protocol: any\n"
	"    max_duration: 30m\n"
	"    allowed_sources: [any]\n"
	"  - port: 53\n"
	"    protocol: udp\n"
	"    max_duration: 90s\n"
	"    allowed_sources: [198.51.100.7]\n"
	"requesters: {users: [alice], groups: [ops]}\n"
	"---\n"
	"name: rootonly\n"
	"ports: [{port: 2222}]\n"
	"---\n"
	"name: users-only\n"
	"ports: [{port: 2223}]\n"
	"requesters: {users: [ops]}\n"
	"---\n"
	"name: gated\n"
	"ports: [{port: 3389, max_duration: 1h}]\n"
	"requesters: {users: [alice, bob, carol]}\n"
	"approval: manual\n"
	"approvers: {users: [bob], groups: [Ops]}\n";

static struct jit_policy_file *pf;
static const struct jit_policy *ssh, *rootonly, *users_only, *gated;

static char alice_groups[][JIT_USER_MAX] = { "alice", "users" };
static char bob_groups[][JIT_USER_MAX] = { "users", "ops" };
static char carol_groups[][JIT_USER_MAX] = { "users", "opsx", "Ops" };

static const struct jit_identity root = { .uid = 0, .name = "root" };
static const struct jit_identity alice = {
	.uid = 1000, .name = "alice", .groups = alice_groups, .n_groups = 2
};
static const struct jit_identity bob = {
	.uid = 1001, .name = "bob", .groups = bob_groups, .n_groups = 2
};
static const struct jit_identity carol = {
	.uid = 1002, .name = "carol", .groups = carol_groups, .n_groups = 3
};
/* A user named like the group: users and groups are separate namespaces. */
static const struct jit_identity ops_user = { .uid = 1003, .name = "ops" };

static void setup(void)
{
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(policy_file_parse("authz.yaml", policies_yaml,
					   strlen(policies_yaml), &pf, &d),
			 0);
	ck_assert_msg(!d.text, "%s", d.text);
	diag_release(&d);
	ck_assert_uint_eq(policy_file_count(pf), 4);
	gated = policy_file_get(pf, 3);
	ssh = policy_file_get(pf, 0);
	rootonly = policy_file_get(pf, 1);
	users_only = policy_file_get(pf, 2);
	ck_assert_str_eq(ssh->name, "ssh");
	ck_assert_str_eq(rootonly->name, "rootonly");
}

static void teardown(void)
{
	pf = policy_file_free(pf);
}

static struct jit_request req(const char *source, unsigned protos, uint16_t lo,
			      uint16_t hi, uint32_t duration_s)
{
	struct jit_request r = { 0 };

	ck_assert_msg(prefix_parse(source, &r.key.source) == 0,
		      "bad test source '%s'", source);
	r.key.protos = protos;
	r.key.port_lo = lo;
	r.key.port_hi = hi;
	r.duration_s = duration_s;
	return r;
}

/* Expects a refusal; returns the message for further checks. */
#define assert_refused(p, id, r, want_err, want_code, want_msg)      \
	do {                                                         \
		const char *_code = NULL;                            \
		char _msg[256] = "";                                 \
		int _e = authz_check_request(p, id, r, &_code, _msg, \
					     sizeof(_msg));          \
		ck_assert_int_eq(_e, want_err);                      \
		ck_assert_ptr_nonnull(_code);                        \
		ck_assert_str_eq(_code, want_code);                  \
		ck_assert_str_eq(_msg, want_msg);                    \
	} while (0)

static void assert_allowed(const struct jit_policy *p,
			   const struct jit_identity *id, struct jit_request *r)
{
	const char *code = NULL;
	char msg[256] = "";

	ck_assert_msg(authz_check_request(p, id, r, &code, msg, sizeof(msg)) ==
			      0,
		      "refused: %s: %s", code ? code : "", msg);
}

/* --- authz_match ---------------------------------------------------------- */

UNIT_CASE(UNIT_ALL_CASES, .setup = setup, .teardown = teardown);

UNIT_TEST("match", test_match_root)
{
	struct jit_identity nameless_root = { .uid = 0, .name = "0" };

	ck_assert(authz_match(&ssh->requesters, &root));
	ck_assert(authz_match(&rootonly->requesters, &root));
	ck_assert(authz_match(&users_only->requesters, &root));
	/* By uid, not by name: an unnamed uid 0 is still root. */
	ck_assert(authz_match(&rootonly->requesters, &nameless_root));
}
END_TEST

UNIT_TEST("match", test_match_user)
{
	struct jit_identity fake_root = { .uid = 4242, .name = "root" };
	struct jit_identity alicex = { .uid = 1000, .name = "alicex" };
	struct jit_identity upper = { .uid = 1000, .name = "Alice" };

	ck_assert(authz_match(&ssh->requesters, &alice));
	ck_assert(!authz_match(&ssh->requesters, &alicex));
	ck_assert(!authz_match(&ssh->requesters, &upper));
	/* The name "root" gives nothing without uid 0. */
	ck_assert(!authz_match(&rootonly->requesters, &fake_root));
	ck_assert(!authz_match(&ssh->requesters, &fake_root));
}
END_TEST

UNIT_TEST("match", test_match_group)
{
	ck_assert(authz_match(&ssh->requesters, &bob));
	/* "opsx" and "Ops" are not "ops". */
	ck_assert(!authz_match(&ssh->requesters, &carol));
	/* A group named like a listed user does not count. */
	ck_assert(!authz_match(&users_only->requesters, &bob));
	/* A user named like a listed group does not count either. */
	ck_assert(!authz_match(&ssh->requesters, &ops_user));
	ck_assert(authz_match(&users_only->requesters, &ops_user));
}
END_TEST

UNIT_TEST("match", test_match_empty)
{
	struct jit_principals none = { 0 };

	ck_assert_uint_eq(rootonly->requesters.n_users, 0);
	ck_assert_uint_eq(rootonly->requesters.n_groups, 0);
	ck_assert(authz_match(&rootonly->requesters, &root));
	ck_assert(authz_match(&none, &root));
	ck_assert(!authz_match(&rootonly->requesters, &alice));
	ck_assert(!authz_match(&rootonly->requesters, &bob));
	ck_assert(!authz_match(&none, &ops_user));
	/* Approvers default to root only as well. */
	ck_assert(!authz_match(&ssh->approvers, &alice));
	ck_assert(authz_match(&ssh->approvers, &root));
}
END_TEST

/* --- authz_check_request -------------------------------------------------- */

UNIT_TEST("check", test_check_not_requester)
{
	struct jit_request r = req("192.0.2.7", JIT_PROTO_TCP, 22, 22, 0);

	/* The refusal names who would do (the policies command shows it). */
	assert_refused(ssh, &carol, &r, -EPERM, "not-requester",
		       "user 'carol' may not request access under policy "
		       "'ssh' (its requesters: groups ops; users alice)");
	assert_refused(rootonly, &alice, &r, -EPERM, "not-requester",
		       "user 'alice' may not request access under policy "
		       "'rootonly' (its requesters: root only)");
	assert_refused(users_only, &carol, &r, -EPERM, "not-requester",
		       "user 'carol' may not request access under policy "
		       "'users-only' (its requesters: users ops)");
	/* The requester check comes first, before any limit is revealed. */
	r = req("203.0.113.1", JIT_PROTO_UDP, 9, 9, 99999);
	assert_refused(ssh, &carol, &r, -EPERM, "not-requester",
		       "user 'carol' may not request access under policy "
		       "'ssh' (its requesters: groups ops; users alice)");
	/* Refusal leaves the request alone. */
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_UDP);
	ck_assert_uint_eq(r.duration_s, 99999);
}
END_TEST

UNIT_TEST("check", test_check_port_not_in_policy)
{
	struct jit_request r;

	r = req("192.0.2.7", 0, 23, 23, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port 23");
	r = req("192.0.2.7", JIT_PROTO_TCP, 21, 21, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port tcp/21");
	/* Partly outside an entry, on either side. */
	r = req("192.0.2.7", 0, 5985, 5987, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port 5985-5987");
	r = req("192.0.2.7", JIT_PROTO_TCP, 5984, 5986, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port tcp/5984-5986");
	/* Two entries side by side do not make one range. */
	r = req("192.0.2.7", 0, 22, 53, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port 22-53");
	/* Protocol not in the entry. */
	r = req("192.0.2.7", JIT_PROTO_UDP, 22, 22, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port udp/22");
	r = req("192.0.2.7", JIT_PROTO_TCP | JIT_PROTO_UDP, 22, 22, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port tcp,udp/22");
	r = req("198.51.100.7", JIT_PROTO_TCP, 53, 53, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "port-not-in-policy",
		       "policy 'ssh' does not protect port tcp/53");
	/* Root is exempt from the requester list, not from the limits. */
	r = req("192.0.2.7", 0, 2223, 2223, 0);
	assert_refused(rootonly, &root, &r, -EINVAL, "port-not-in-policy",
		       "policy 'rootonly' does not protect port 2223");
	ck_assert_uint_eq(r.key.protos, 0);
}
END_TEST

UNIT_TEST("check", test_check_protocols_defaulted)
{
	struct jit_request r;

	r = req("192.0.2.7", 0, 22, 22, 60);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP);

	r = req("203.0.113.9", 0, 5985, 5986, 60);
	assert_allowed(ssh, &bob, &r);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP | JIT_PROTO_UDP);

	r = req("198.51.100.7", 0, 53, 53, 60);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_UDP);

	/* Named protocols are kept: a subset of the entry's is fine. */
	r = req("203.0.113.9", JIT_PROTO_UDP, 5986, 5986, 60);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_UDP);
	ck_assert_uint_eq(r.key.port_lo, 5986);
	ck_assert_uint_eq(r.key.port_hi, 5986);

	r = req("192.0.2.7", 0, 2222, 2222, 0);
	assert_allowed(rootonly, &root, &r);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP);
}
END_TEST

UNIT_TEST("check", test_check_source)
{
	static const char *const ok22[] = {
		"192.0.2.7",	 "192.0.2.0",	       "192.0.2.255",
		"192.0.2.0/24",	 "192.0.2.128/25",     "2001:db8::1",
		"2001:db8::/32", "2001:db8:ffff::/48",
	};
	static const struct {
		const char *src;
		const char *shown;
	} bad22[] = {
		{ "192.0.3.1", "192.0.3.1/32" },
		{ "192.0.2.0/23", "192.0.2.0/23" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "2001:db8::/31", "2001:db8::/31" },
		{ "2001:db9::1", "2001:db9::1/128" },
		/* v4 and v6 never contain each other, mapped or not. */
		{ "::ffff:192.0.2.7", "::ffff:192.0.2.7/128" },
		{ "::/0", "::/0" },
	};
	struct jit_request r;
	char want[256];

	for (size_t i = 0; i < ARRAY_SIZE(ok22); i++) {
		r = req(ok22[i], JIT_PROTO_TCP, 22, 22, 0);
		assert_allowed(ssh, &alice, &r);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad22); i++) {
		r = req(bad22[i].src, JIT_PROTO_TCP, 22, 22, 0);
		snprintf(want, sizeof(want),
			 "source %s is not inside the sources policy 'ssh' "
			 "allows for this port",
			 bad22[i].shown);
		assert_refused(ssh, &alice, &r, -EINVAL, "source-not-allowed",
			       want);
	}

	/* A single host source allows that host only. */
	r = req("198.51.100.7", 0, 53, 53, 0);
	assert_allowed(ssh, &alice, &r);
	r = req("198.51.100.6/31", 0, 53, 53, 0);
	assert_refused(ssh, &alice, &r, -EINVAL, "source-not-allowed",
		       "source 198.51.100.6/31 is not inside the sources "
		       "policy 'ssh' allows for this port");

	/* "any" allows everything, both families, any width. */
	r = req("0.0.0.0/0", 0, 5985, 5986, 0);
	assert_allowed(ssh, &alice, &r);
	r = req("::/0", JIT_PROTO_TCP, 5985, 5985, 0);
	assert_allowed(ssh, &alice, &r);
	r = req("203.0.113.200", 0, 2222, 2222, 0);
	assert_allowed(rootonly, &root, &r);
}
END_TEST

UNIT_TEST("check", test_check_duration)
{
	struct jit_request r;

	/* 0 means the entry's maximum. */
	r = req("192.0.2.7", 0, 22, 22, 0);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.duration_s, 2 * 3600);
	r = req("192.0.2.7", 0, 5985, 5985, 0);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.duration_s, 30 * 60);
	r = req("198.51.100.7", 0, 53, 53, 0);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.duration_s, 90);
	r = req("192.0.2.7", 0, 2222, 2222, 0);
	assert_allowed(rootonly, &root, &r);
	ck_assert_uint_eq(r.duration_s, JIT_POLICY_DEFAULT_MAX_DURATION_S);

	/* Up to the maximum is kept as asked. */
	r = req("192.0.2.7", 0, 22, 22, 2 * 3600);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.duration_s, 2 * 3600);
	r = req("192.0.2.7", 0, 22, 22, 1);
	assert_allowed(ssh, &alice, &r);
	ck_assert_uint_eq(r.duration_s, 1);

	/* Beyond it, the message names the limit, protocols and ports. */
	r = req("192.0.2.7", 0, 22, 22, 2 * 3600 + 1);
	assert_refused(ssh, &alice, &r, -EINVAL, "duration-too-long",
		       "duration 2h1s exceeds the limit of 2h for tcp/22 under "
		       "policy 'ssh'");
	r = req("192.0.2.7", 0, 5985, 5986, 3600);
	assert_refused(ssh, &bob, &r, -EINVAL, "duration-too-long",
		       "duration 1h exceeds the limit of 30m for "
		       "tcp,udp/5985-5986 under policy 'ssh'");
	r = req("198.51.100.7", JIT_PROTO_UDP, 53, 53, 91);
	assert_refused(ssh, &alice, &r, -EINVAL, "duration-too-long",
		       "duration 1m31s exceeds the limit of 1m30s for udp/53 "
		       "under policy 'ssh'");
	r = req("192.0.2.7", 0, 2222, 2222, 86400);
	assert_refused(rootonly, &root, &r, -EINVAL, "duration-too-long",
		       "duration 1d exceeds the limit of 3h for tcp/2222 under "
		       "policy 'rootonly'");
}
END_TEST

UNIT_TEST("check", test_check_message_truncated)
{
	struct jit_request r = req("192.0.2.7", JIT_PROTO_TCP, 22, 22, 0);
	const char *code = NULL;
	char msg[12];

	/* A short buffer gets a terminated prefix, never an overflow. */
	ck_assert_int_eq(
		authz_check_request(ssh, &carol, &r, &code, msg, sizeof(msg)),
		-EPERM);
	ck_assert_str_eq(code, "not-requester");
	ck_assert_str_eq(msg, "user 'carol");
}
END_TEST

/* --- identity_lookup ------------------------------------------------------ */

UNIT_TEST("match", test_identity_root)
{
	struct jit_identity id;
	bool has_root = false;

	ck_assert_int_eq(identity_lookup(0, 0, &id), 0);
	ck_assert_uint_eq(id.uid, 0);
	ck_assert_str_eq(id.name, "root");
	for (size_t i = 0; i < id.n_groups; i++)
		has_root |= streq(id.groups[i], "root");
	ck_assert(has_root);
	identity_release(&id);
	ck_assert_ptr_null(id.groups);
	ck_assert_uint_eq(id.n_groups, 0);
	identity_release(&id);
}
END_TEST

UNIT_TEST("match", test_identity_unknown)
{
	struct jit_identity id;

	/* No passwd or group entry: the uid in decimal, no groups. */
	ck_assert_int_eq(identity_lookup(3999999999u, 3999999999u, &id), 0);
	ck_assert_uint_eq(id.uid, 3999999999u);
	ck_assert_str_eq(id.name, "3999999999");
	ck_assert_uint_eq(id.n_groups, 0);
	ck_assert(!authz_match(&ssh->requesters, &id));
	identity_release(&id);
}
END_TEST

/* --- decisions: approve/deny, revoke, replace, limits -----------------------
 */

UNIT_TEST("decide", test_may_decide)
{
	static const struct {
		const struct jit_identity *who;
		uint32_t owner;
		int err;
		const char *code;
	} cases[] = {
		/* root decides anything, its own requests too */
		{ &root, 1000, 0, NULL },
		{ &root, 0, 0, NULL },
		/* an approver by name, on someone else's request */
		{ &bob, 1000, 0, NULL },
		/* an approver deciding their own request */
		{ &bob, 1001, -EPERM, "own-request" },
		/* an approver through a group (matched exactly: "Ops") */
		{ &carol, 1000, 0, NULL },
		{ &carol, 1002, -EPERM, "own-request" },
		/* requesters who are not approvers */
		{ &alice, 1001, -EPERM, "not-approver" },
		{ &alice, 1000, -EPERM, "not-approver" },
		{ &ops_user, 1000, -EPERM, "not-approver" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jit_request r =
			req("192.0.2.7", JIT_PROTO_TCP, 3389, 3389, 600);
		const char *code = NULL;
		char msg[256] = "";
		int e;

		r.uid = cases[i].owner;
		e = authz_may_decide(gated, cases[i].who, &r, &code, msg,
				     sizeof(msg));
		ck_assert_msg(e == cases[i].err, "case %zu: %d", i, e);
		if (cases[i].code) {
			ck_assert_str_eq(code, cases[i].code);
			ck_assert(msg[0]);
		}
	}
}
END_TEST

UNIT_TEST("decide", test_may_revoke)
{
	static const struct {
		const struct jit_identity *who;
		uint32_t owner;
		bool policy_gone;
		int err;
	} cases[] = {
		{ &root, 1000, false, 0 },
		{ &root, 1000, true, 0 },
		/* the requester, even after the policy went */
		{ &alice, 1000, false, 0 },
		{ &alice, 1000, true, 0 },
		/* an approver of the record's policy */
		{ &bob, 1000, false, 0 },
		{ &carol, 1000, false, 0 },
		/* an approver of a policy that is gone is nobody's approver */
		{ &bob, 1000, true, -EPERM },
		/* anyone else */
		{ &alice, 1001, false, -EPERM },
		{ &ops_user, 1000, false, -EPERM },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jit_request r =
			req("192.0.2.7", JIT_PROTO_TCP, 3389, 3389, 600);
		const char *code = NULL;
		char msg[256] = "";
		int e;

		r.uid = cases[i].owner;
		e = authz_may_revoke(cases[i].policy_gone ? NULL : gated,
				     cases[i].who, &r, &code, msg, sizeof(msg));
		ck_assert_msg(e == cases[i].err, "case %zu: %d", i, e);
		if (e)
			ck_assert_str_eq(code, "permission-denied");
	}
}
END_TEST

UNIT_TEST("decide", test_may_see)
{
	static const struct {
		const struct jit_identity *who;
		uint32_t owner;
		bool policy_gone;
		bool sees;
	} cases[] = {
		/* root sees everything */
		{ &root, 1000, false, true },
		{ &root, 1000, true, true },
		/* a requester sees their own, even after the policy went */
		{ &alice, 1000, false, true },
		{ &alice, 1000, true, true },
		/* but not another requester's of the same policy */
		{ &alice, 1002, false, false },
		/* approvers see the requests of the policy they decide, by
		 * name or through a group, their own included */
		{ &bob, 1000, false, true },
		{ &bob, 1001, false, true },
		{ &carol, 1000, false, true },
		/* not once the policy is gone */
		{ &bob, 1000, true, false },
		/* a user named like an approving group is not in it */
		{ &ops_user, 1000, false, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jit_request r =
			req("192.0.2.7", JIT_PROTO_TCP, 3389, 3389, 600);
		const struct jit_policy *p =
			cases[i].policy_gone ? NULL : gated;
		const char *code = NULL;
		char msg[256] = "";

		r.uid = cases[i].owner;
		ck_assert_msg(authz_may_see(p, cases[i].who, &r) ==
				      cases[i].sees,
			      "case %zu", i);
		/* Whoever may see a record may revoke it, and only they. */
		ck_assert_int_eq(authz_may_revoke(p, cases[i].who, &r, &code,
						  msg, sizeof(msg)) == 0,
				 cases[i].sees);
	}
	/* Requesters of a policy see only their own. */
	{
		struct jit_request r =
			req("192.0.2.7", JIT_PROTO_TCP, 22, 22, 600);

		r.uid = bob.uid;
		ck_assert(!authz_may_see(ssh, &alice, &r));
		ck_assert(authz_may_see(ssh, &bob, &r));
	}
}
END_TEST

UNIT_TEST("decide", test_may_replace)
{
	struct jit_request older = { .id = 1, .uid = 1000 };
	struct jit_request mine = { .id = 2, .uid = 1000 };
	struct jit_request theirs = { .id = 3, .uid = 1001 };
	struct jit_request roots = { .id = 4, .uid = 0 };

	ck_assert(authz_may_replace(&mine, &older));
	/* Never someone else's, not even root's request ends alice's. */
	ck_assert(!authz_may_replace(&theirs, &older));
	ck_assert(!authz_may_replace(&roots, &older));
	ck_assert(!authz_may_replace(&older, &older));
}
END_TEST

/*
 * Fleet records carry uid 0 (nobody's local right), as root's own
 * requests do: the uid says nothing there, only the fleet key does.
 */
UNIT_TEST("decide", test_may_replace_fleet)
{
	struct jit_request fleet_old = { .id = 10, .uid = 0, .fleet_id = 0xa1 };
	struct jit_request fleet_new = { .id = 11, .uid = 0, .fleet_id = 0xa1 };
	struct jit_request fleet_other = { .id = 12,
					   .uid = 0,
					   .fleet_id = 0xb2 };
	struct jit_request roots = { .id = 13, .uid = 0 };
	struct jit_request alices = { .id = 14, .uid = 1000 };
	struct jit_request fleet_alice = { .id = 15,
					   .uid = 1000,
					   .fleet_id = 0xa1 };

	/* A later state of the same fleet key ends the earlier one. */
	ck_assert(authz_may_replace(&fleet_new, &fleet_old));
	ck_assert(authz_may_replace(&fleet_alice, &fleet_old));
	/* Never itself. */
	ck_assert(!authz_may_replace(&fleet_old, &fleet_old));
	/* Another fleet request, same uid 0: no. */
	ck_assert(!authz_may_replace(&fleet_other, &fleet_old));
	ck_assert(!authz_may_replace(&fleet_old, &fleet_other));
	/* A fleet grant never ends root's own request, nor root's request
	 * a fleet grant, though both are uid 0. */
	ck_assert(!authz_may_replace(&fleet_new, &roots));
	ck_assert(!authz_may_replace(&roots, &fleet_old));
	/* Nor a local user's, either way. */
	ck_assert(!authz_may_replace(&fleet_alice, &alices));
	ck_assert(!authz_may_replace(&alices, &fleet_alice));
}
END_TEST

UNIT_TEST("decide", test_check_limits_whoever_asks)
{
	struct jit_request r = req("192.0.2.7", 0, 3389, 3389, 0);
	const char *code = NULL;
	char msg[256] = "";

	/* No identity involved: the policy's limits alone. */
	ck_assert_int_eq(authz_check_limits(gated, &r, &code, msg, sizeof(msg)),
			 0);
	ck_assert_uint_eq(r.duration_s, 3600);
	r.duration_s = 7200;
	ck_assert_int_eq(authz_check_limits(gated, &r, &code, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(code, "duration-too-long");
	r = req("192.0.2.7", 0, 3390, 3390, 60);
	ck_assert_int_eq(authz_check_limits(gated, &r, &code, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_str_eq(code, "port-not-in-policy");
}
END_TEST

/* A user's share: waiting requests under manual policies, live grants. */
UNIT_TEST("check", test_check_share)
{
	const char *code = NULL;
	char msg[256];

	/* Only root is beyond the per-user limits. */
	ck_assert(authz_unlimited(&root));
	ck_assert(!authz_unlimited(&alice));
	ck_assert(!authz_unlimited(&bob));

	ck_assert_int_eq(authz_check_share(gated, &alice,
					   JIT_PENDING_PER_USER - 1, 0, false,
					   &code, msg, sizeof(msg)),
			 0);
	ck_assert_int_eq(authz_check_share(gated, &alice, JIT_PENDING_PER_USER,
					   0, false, &code, msg, sizeof(msg)),
			 -ENOSPC);
	ck_assert_str_eq(code, "too-many-pending");
	ck_assert_ptr_nonnull(strstr(msg, "user 'alice' already has 16"));
	/* Automatic policies leave nothing waiting: no cap on waiting. */
	ck_assert_int_eq(authz_check_share(ssh, &alice, JIT_PENDING_PER_USER, 0,
					   false, &code, msg, sizeof(msg)),
			 0);
	ck_assert_int_eq(authz_check_share(ssh, &alice, 0, JIT_GRANTS_PER_USER,
					   false, &code, msg, sizeof(msg)),
			 -ENOSPC);
	ck_assert_str_eq(code, "too-many-grants");
	/* One that replaces a grant of the same key adds none. */
	ck_assert_int_eq(authz_check_share(ssh, &alice, 0, JIT_GRANTS_PER_USER,
					   true, &code, msg, sizeof(msg)),
			 0);
	/* Root is exempt. */
	ck_assert_int_eq(authz_check_share(gated, &root, 1000, 100000, false,
					   &code, msg, sizeof(msg)),
			 0);
	ck_assert(authz_may_reload(&root));
	ck_assert(!authz_may_reload(&alice));
}
END_TEST

UNIT_TEST("match", test_identity_by_name)
{
	struct jit_identity id;

	ck_assert_int_eq(identity_lookup_name("root", &id), 0);
	ck_assert_uint_eq(id.uid, 0);
	ck_assert_str_eq(id.name, "root");
	ck_assert_ptr_null(id.channel);
	identity_release(&id);
	ck_assert_int_eq(identity_lookup_name("no-such-user-here", &id),
			 -ENOENT);
}
END_TEST

/*
 * A request that names no policy (SPA) goes to the first policy that
 * protects its ports and lets the user have them; else to the first that
 * protects them, whose refusal says why; none when nothing protects them.
 */
UNIT_TEST("check", test_pick_policy)
{
	static const char text[] =
		"name: a-ops\n"
		"ports: [{port: 22, allowed_sources: [any]}]\n"
		"requesters: {groups: [ops]}\n"
		"---\n"
		"name: b-narrow\n"
		"ports: [{port: 22, allowed_sources: [203.0.113.0/24]}]\n"
		"requesters: {users: [alice]}\n"
		"---\n"
		"name: c-alice\n"
		"ports: [{port: 22, max_duration: 1h}, {port: 3389}]\n"
		"requesters: {users: [alice]}\n"
		"---\n"
		"name: d-udp\n"
		"ports: [{port: 53, protocol: udp}]\n"
		"requesters: {users: [alice]}\n";
	struct jit_policy_set *set = policy_set_new();
	struct jit_request r = { .duration_s = 60 };
	const struct jit_policy *p;
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(
		policy_set_load_text(set, "pick.yaml", text, strlen(text), &d),
		0);
	diag_release(&d);
	ck_assert_int_eq(prefix_parse("192.0.2.7", &r.key.source), 0);
	r.key.protos = JIT_PROTO_TCP;
	r.key.port_lo = r.key.port_hi = 22;

	/* Not ops, not from 203.0.113.0/24: the third one. */
	p = authz_pick_policy(set, &alice, &r, NULL);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->name, "c-alice");
	/* bob is in ops: the first one. */
	p = authz_pick_policy(set, &bob, &r, NULL);
	ck_assert_str_eq(p->name, "a-ops");
	/* carol may have none: the first that protects it says why. */
	p = authz_pick_policy(set, &carol, &r, NULL);
	ck_assert_str_eq(p->name, "a-ops");
	/* Longer than c-alice allows, from where b-narrow allows. */
	ck_assert_int_eq(prefix_parse("203.0.113.9", &r.key.source), 0);
	r.duration_s = 2 * 3600;
	p = authz_pick_policy(set, &alice, &r, NULL);
	ck_assert_str_eq(p->name, "b-narrow");
	/* The protocol counts: udp/22 and tcp/53 are protected by none. */
	r.key.protos = JIT_PROTO_UDP;
	ck_assert_ptr_null(authz_pick_policy(set, &alice, &r, NULL));
	r.key.protos = JIT_PROTO_TCP;
	r.key.port_lo = r.key.port_hi = 53;
	ck_assert_ptr_null(authz_pick_policy(set, &alice, &r, NULL));
	/* The dry run changes nothing of the caller's. */
	ck_assert_uint_eq(r.duration_s, 2 * 3600);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP);
	policy_set_free(set);
}
END_TEST

/*
 * A packet that came in on an interface: only the policies that hold on
 * it are candidates (an "external" policy must not take a packet that
 * came through the internal interface, nor the other way round).
 */
UNIT_TEST("check", test_pick_policy_interface)
{
	static const char text[] = "name: external\n"
				   "ports: [{port: 2022}]\n"
				   "interfaces: [v2]\n"
				   "requesters: {users: [alice]}\n"
				   "approval: manual\n"
				   "---\n"
				   "name: internal\n"
				   "ports: [{port: 2022}]\n"
				   "interfaces: [v1, \"w*\"]\n"
				   "requesters: {users: [alice]}\n";
	struct jit_policy_set *set = policy_set_new();
	struct jit_request r = { .duration_s = 60 };
	struct jit_diag d;

	diag_init(&d);
	ck_assert_int_eq(
		policy_set_load_text(set, "if.yaml", text, strlen(text), &d),
		0);
	diag_release(&d);
	ck_assert_int_eq(prefix_parse("192.0.2.7", &r.key.source), 0);
	r.key.protos = JIT_PROTO_TCP;
	r.key.port_lo = r.key.port_hi = 2022;
	ck_assert_str_eq(authz_pick_policy(set, &alice, &r, "v1")->name,
			 "internal");
	ck_assert_str_eq(authz_pick_policy(set, &alice, &r, "w7")->name,
			 "internal");
	ck_assert_str_eq(authz_pick_policy(set, &alice, &r, "v2")->name,
			 "external");
	/* Held by none of them: nothing would let the packet in. */
	ck_assert_ptr_null(authz_pick_policy(set, &alice, &r, "v3"));
	/* Not known: as before, the first that lets alice have it. */
	ck_assert_str_eq(authz_pick_policy(set, &alice, &r, NULL)->name,
			 "external");
	ck_assert_str_eq(authz_pick_policy(set, &alice, &r, "")->name,
			 "external");
	policy_set_free(set);
}
END_TEST
