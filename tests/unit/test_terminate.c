/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * revoke --terminate: which connections of a revoked record are spared
 * (another live record covers them, or they are older than the agent).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>

#include "grant.h"
#include "policy.h"
#include "terminate.h"
#include "runner.h"

#define NOW 1000000000ULL

/* A live record of src for tcp/lo-hi, from NOW - 1 s for 10 minutes. */
static struct jit_request *live(struct jit_grants *g, const char *src,
				uint16_t lo, uint16_t hi)
{
	struct jit_request tmpl = { .key = { .protos = JIT_PROTO_TCP,
					     .port_lo = lo,
					     .port_hi = hi },
				    .duration_s = 600 },
			   *r;

	snprintf(tmpl.policy, sizeof(tmpl.policy), "p");
	ck_assert_int_eq(prefix_parse(src, &tmpl.key.source), 0);
	ck_assert_int_eq(grants_add(g, &tmpl, NOW - 1000, &r), 0);
	grants_initiate(g, r, NOW - 1000);
	return r;
}

static struct jit_flow flow(const char *remote, uint16_t rport, uint16_t lport)
{
	struct jit_flow f = { .family = AF_INET,
			      .proto = IPPROTO_TCP,
			      .rport = rport,
			      .lport = lport };

	ck_assert_int_eq(inet_pton(AF_INET, remote, f.remote), 1);
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", f.local), 1);
	return f;
}

UNIT_TEST("spares", test_covered_by_other_record)
{
	struct jit_grants *g = grants_new();
	struct jit_request *root = live(g, "192.0.2.2/32", 22, 22);
	struct jit_request *wide = live(g, "192.0.2.0/24", 22, 22);
	const struct jit_request **others = NULL;
	struct jit_terminate_scope sc = { .revoked = wide };
	struct jit_flow f;
	struct jit_spared why;
	int n;

	live(g, "198.51.100.0/24", 22, 22);  /* no overlap */
	live(g, "192.0.2.0/24", 3389, 3389); /* another port */
	grants_finish(g, wide, JIT_REVOKED, JIT_REASON_USER, "alice");
	n = terminate_others(g, wide, NOW, &others);
	ck_assert_int_eq(n, 1);
	ck_assert_ptr_eq(others[0], root);
	sc.others = others;
	sc.n_others = (size_t)n;

	f = flow("192.0.2.2", 40000, 22);
	ck_assert(terminate_spares(&sc, &f, &why));
	ck_assert_int_eq(why.why, JIT_SPARED_COVERED);
	ck_assert_uint_eq(why.record, root->id);
	f = flow("192.0.2.3", 40000, 22);
	ck_assert(!terminate_spares(&sc, &f, &why));
	/* The covering record opens tcp only. */
	f = flow("192.0.2.2", 40000, 22);
	f.proto = IPPROTO_UDP;
	ck_assert(!terminate_spares(&sc, &f, &why));
	free(others);
	grants_free(g);
}
END_TEST

UNIT_TEST("spares", test_ended_records_cover_nothing)
{
	struct jit_grants *g = grants_new();
	struct jit_request *old = live(g, "192.0.2.2/32", 22, 22);
	struct jit_request *wide = live(g, "0.0.0.0/0", 1, 65535);
	const struct jit_request **others = NULL;

	grants_finish(g, old, JIT_REVOKED, JIT_REASON_USER, "root");
	grants_finish(g, wide, JIT_REVOKED, JIT_REASON_USER, "root");
	ck_assert_int_eq(terminate_others(g, wide, NOW, &others), 0);
	free(others);
	/* Every live record, for the sessions at start. */
	live(g, "192.0.2.9/32", 22, 22);
	ck_assert_int_eq(terminate_others(g, NULL, NOW, &others), 1);
	free(others);
	/* A record past its end is not live, whatever its status says. */
	ck_assert_int_eq(terminate_others(g, NULL, NOW + 3600 * 1000, &others),
			 0);
	free(others);
	grants_free(g);
}
END_TEST

UNIT_TEST("spares", test_older_than_the_agent)
{
	struct jit_session elder = { .family = AF_INET,
				     .rport = 50000,
				     .lport = 22 };
	struct jit_terminate_scope sc = { .elder = &elder, .n_elder = 1 };
	struct jit_flow f = flow("192.0.2.4", 50000, 22);
	struct jit_spared why;

	memcpy(elder.remote, f.remote, 4);
	memcpy(elder.local, f.local, 4);
	ck_assert(terminate_spares(&sc, &f, &why));
	ck_assert_int_eq(why.why, JIT_SPARED_ELDER);
	/* The exact 4-tuple only. */
	f.rport = 50001;
	ck_assert(!terminate_spares(&sc, &f, &why));
	f.rport = 50000;
	f.proto = IPPROTO_UDP;
	ck_assert(!terminate_spares(&sc, &f, &why));
}
END_TEST
