/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The decision core against a fake kernel and a real journal in a scratch
 * directory: one record's end never closes another's access, only the same
 * user's older grant is replaced, nothing is acknowledged that the journal
 * or the kernel did not take, ids are never reused, and at start the
 * kernel's word wins over an unrecorded grant.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "access.h"
#include "diag.h"
#include "golden.h"
#include "util.h"
#include "runner.h"

static const char policies_yaml[] = "name: ssh\n"
				    "ports:\n"
				    "  - port: 22\n"
				    "    max_duration: 1h\n"
				    "  - port: 2202-2205\n"
				    "    max_duration: 1h\n"
				    "  - port: 53\n"
				    "    protocol: any\n"
				    "    max_duration: 1h\n"
				    "requesters: {users: [alice, bob]}\n"
				    "---\n"
				    "name: gated\n"
				    "ports: [{port: 3389, max_duration: 1h}]\n"
				    "requesters: {users: [alice, bob]}\n"
				    "approval: manual\n"
				    "approvers: {users: [bob]}\n"
				    "---\n"
				    "name: in\n"
				    "ports: [{port: 2022, max_duration: 1h}]\n"
				    "interfaces: [eth1]\n"
				    "requesters: {users: [alice, bob]}\n"
				    "---\n"
				    "name: in2\n"
				    "ports: [{port: 2022, max_duration: 1h}]\n"
				    "interfaces: [eth1]\n"
				    "requesters: {users: [alice, bob]}\n"
				    "---\n"
				    "name: out\n"
				    "ports: [{port: 2022, max_duration: 1h}]\n"
				    "interfaces: [eth0]\n"
				    "requesters: {users: [alice, bob]}\n"
				    "---\n"
				    "name: wild\n"
				    "ports: [{port: 2022, max_duration: 1h}]\n"
				    "interfaces: [\"eth*\"]\n"
				    "requesters: {users: [alice, bob]}\n";

static const struct jit_identity root = { .uid = 0, .name = "root" };
static const struct jit_identity alice = { .uid = 1000, .name = "alice" };
static const struct jit_identity bob = { .uid = 1001, .name = "bob" };

/* ---- a fake kernel ------------------------------------------------------ */

struct fake {
	struct jit_elem *e;
	size_t n, cap;
	int fail_update; /* the next update fails with this */
	uint64_t marked[64];
	size_t n_marked;
	unsigned updates, resyncs;
	struct jit_scopes *scopes; /* for resync */
	bool no_table;
};

static bool same_ifnames(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->iface == b->iface &&
	       (!a->iface || (!memcmp(a->ifname_lo, b->ifname_lo, IFNAMSIZ) &&
			      !memcmp(a->ifname_hi, b->ifname_hi, IFNAMSIZ)));
}

/* Interval elements of the same set whose name ranges meet. */
static bool ifnames_meet(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->iface == b->iface &&
	       (!a->iface ||
		(memcmp(a->ifname_lo, b->ifname_hi, IFNAMSIZ) <= 0 &&
		 memcmp(b->ifname_lo, a->ifname_hi, IFNAMSIZ) <= 0));
}

static bool same_elem(const struct jit_elem *a, const struct jit_elem *b)
{
	return same_ifnames(a, b) && a->interval == b->interval &&
	       a->family == b->family && a->proto == b->proto &&
	       !memcmp(a->addr_lo, b->addr_lo, 16) &&
	       !memcmp(a->addr_hi, b->addr_hi, 16) &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

static bool overlaps(const struct jit_elem *a, const struct jit_elem *b)
{
	return a->interval && b->interval && ifnames_meet(a, b) &&
	       a->family == b->family && a->proto == b->proto &&
	       memcmp(a->addr_lo, b->addr_hi, 16) <= 0 &&
	       memcmp(b->addr_lo, a->addr_hi, 16) <= 0 &&
	       a->port_lo <= b->port_hi && b->port_lo <= a->port_hi;
}

static int f_update(void *ctx, const struct jit_elem *del, size_t n_del,
		    const struct jit_elem *add, size_t n_add, uint64_t now_ms,
		    char *err, size_t errlen)
{
	struct fake *f = ctx;

	f->updates++;
	if (f->fail_update) {
		int r = f->fail_update;

		f->fail_update = 0;
		snprintf(err, errlen, "injected failure");
		return r;
	}
	for (size_t i = 0; i < n_del; i++)
		for (size_t k = 0; k < f->n; k++)
			if (same_elem(&f->e[k], &del[i])) {
				f->e[k] = f->e[--f->n];
				break;
			}
	for (size_t i = 0; i < n_add; i++) {
		bool replaced = false;

		for (size_t k = 0; k < f->n; k++) {
			if (!add[i].interval && same_elem(&f->e[k], &add[i])) {
				f->e[k] = add[i];
				replaced = true;
				break;
			}
			ck_assert_msg(!overlaps(&f->e[k], &add[i]),
				      "the kernel would refuse an overlapping "
				      "interval");
		}
		if (replaced)
			continue;
		ck_assert_int_eq(grow_array((void **)&f->e, &f->cap, f->n + 1,
					    sizeof(*f->e)),
				 0);
		f->e[f->n++] = add[i];
	}
	return 0;
}

static int f_mark(void *ctx, uint64_t id, uint64_t end_ms, uint64_t now_ms,
		  char *err, size_t errlen)
{
	struct fake *f = ctx;

	ck_assert_uint_lt(f->n_marked, ARRAY_SIZE(f->marked));
	f->marked[f->n_marked++] = id;
	return 0;
}

static int f_dump(void *ctx, uint64_t now_ms, struct jit_elem **ret)
{
	struct fake *f = ctx;

	if (f->no_table)
		return -ENOENT;
	*ret = calloc(f->n + 1, sizeof(**ret));
	ck_assert_ptr_nonnull(*ret);
	memcpy(*ret, f->e, f->n * sizeof(*f->e));
	return (int)f->n;
}

static int f_dump_unrecorded(void *ctx, uint64_t **ret)
{
	struct fake *f = ctx;

	if (f->no_table)
		return -ENOENT;
	*ret = calloc(f->n_marked + 1, sizeof(**ret));
	ck_assert_ptr_nonnull(*ret);
	memcpy(*ret, f->marked, f->n_marked * sizeof(**ret));
	return (int)f->n_marked;
}

static int f_resync(void *ctx)
{
	struct fake *f = ctx;
	struct jit_elem *all = NULL;
	size_t n = 0;

	f->resyncs++;
	ck_assert_int_eq(scopes_elements(f->scopes, &all, &n), 0);
	free(f->e);
	f->e = all;
	f->n = f->cap = n;
	return 0;
}

static const struct jit_kernel_ops fake_ops = {
	.update = f_update,
	.mark_unrecorded = f_mark,
	.dump = f_dump,
	.dump_unrecorded = f_dump_unrecorded,
	.resync = f_resync,
};

/* Latest end the fake kernel gives a point, 0 for none. */
static uint64_t kernel_end(const struct fake *f, const char *addr,
			   uint8_t proto, uint16_t port)
{
	uint8_t a[16] = { 0 };
	uint8_t family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	uint64_t end = 0;

	ck_assert_int_eq(inet_pton(family, addr, a), 1);
	for (size_t i = 0; i < f->n; i++) {
		const struct jit_elem *e = &f->e[i];

		if (e->family == family && e->proto == proto &&
		    memcmp(e->addr_lo, a, 16) <= 0 &&
		    memcmp(a, e->addr_hi, 16) <= 0 && e->port_lo <= port &&
		    port <= e->port_hi && e->end_ms > end)
			end = e->end_ms;
	}
	return end;
}

/* ---- the core, in a scratch directory ----------------------------------- */

struct events {
	unsigned audits, refusals, started, ended, journal_failed;
	char last_code[64];
	char last[64]; /* "event result #id" of the last audit line */
};

static void on_audit(void *u, const struct jit_access_event *ev)
{
	struct events *e = u;

	e->audits++;
	snprintf(e->last, sizeof(e->last), "%s %s #%llu", ev->event, ev->result,
		 (unsigned long long)ev->r->id);
	if (ev->error) {
		e->refusals++;
		snprintf(e->last_code, sizeof(e->last_code), "%s", ev->error);
	}
}

static void on_started(void *u, const struct jit_request *r, uint64_t now)
{
	((struct events *)u)->started++;
}

static void on_ended(void *u, const struct jit_request *r, uint64_t at)
{
	((struct events *)u)->ended++;
}

static void on_failed(void *u, int err)
{
	((struct events *)u)->journal_failed++;
}

struct world {
	char dir[64];
	struct jit_policy_set *policies;
	struct jit_access a;
	struct fake k;
	struct events ev;
};

static int sink_request(void *u, const struct jit_request *r)
{
	return grants_upsert(u, r);
}

/* (Re)open the core on w->dir, as a start of the agent does. */
static void core_open(struct world *w)
{
	const struct jit_journal_sink sink = { .request = sink_request };
	struct jit_journal_sink s = sink;
	struct jit_journal_info info;
	char why[256];

	w->a = (struct jit_access){
		.grants = grants_new(),
		.scopes = scopes_new(),
		.policies = w->policies,
		.kernel = &fake_ops,
		.kernel_ctx = &w->k,
		.hooks = { .audit = on_audit,
			   .grant_started = on_started,
			   .grant_ended = on_ended,
			   .journal_failed = on_failed,
			   .userdata = &w->ev },
		.state_dir = w->dir,
	};
	ck_assert_ptr_nonnull(w->a.grants);
	ck_assert_ptr_nonnull(w->a.scopes);
	w->k.scopes = w->a.scopes;
	s.userdata = w->a.grants;
	ck_assert_int_eq(journal_open(w->dir, &s, &w->a.journal, &info, why,
				      sizeof(why)),
			 0);
	grants_set_next_id(w->a.grants, info.next_id);
}

static void core_close(struct world *w)
{
	access_release(&w->a);
	journal_close(w->a.journal);
	scopes_free(w->a.scopes);
	grants_free(w->a.grants);
	memset(&w->a, 0, sizeof(w->a));
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	struct jit_diag d;

	ck_assert_ptr_nonnull(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/jit-access-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	w->policies = policy_set_new();
	diag_init(&d);
	ck_assert_int_eq(policy_set_load_text(w->policies, "/p/test.yaml",
					      policies_yaml,
					      strlen(policies_yaml), &d),
			 0);
	diag_release(&d);
	core_open(w);
	return w;
}

static void world_free(struct world *w)
{
	core_close(w);
	policy_set_free(w->policies);
	free(w->k.e);
	rm_rf(w->dir);
	free(w);
}

static struct jit_request ask(const char *source, unsigned protos, uint16_t lo,
			      uint16_t hi, uint32_t secs, const char *policy)
{
	struct jit_request r = {
		.duration_s = secs,
		.key = { .protos = protos, .port_lo = lo, .port_hi = hi }
	};

	ck_assert_int_eq(prefix_parse(source, &r.key.source), 0);
	snprintf(r.policy, sizeof(r.policy), "%s", policy);
	return r;
}

static uint64_t grant(struct world *w, const struct jit_identity *who,
		      struct jit_request t)
{
	struct jit_request *r = NULL;
	struct jit_refusal why = { 0 };
	int e = access_request(&w->a, who, &t, &r, &why);

	ck_assert_msg(e == 0, "refused: %s: %s", why.code, why.message);
	return r->id;
}

static enum jit_status status_of(struct world *w, uint64_t id)
{
	struct jit_request *r = grants_get(w->a.grants, id);

	ck_assert_ptr_nonnull(r);
	return r->status;
}

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

/* ---- the repros --------------------------------------------------------- */

UNIT_TEST("records", test_short_udp_does_not_cut_long_any)
{
	struct world *w = world_new();
	uint64_t any, udp, end_any;
	struct jit_request *r;
	struct jit_refusal why;

	any = grant(w, &alice,
		    ask("198.51.100.7", JIT_PROTO_TCP | JIT_PROTO_UDP, 53, 53,
			1800, "ssh"));
	end_any = grants_get(w->a.grants, any)->end_ms;
	udp = grant(w, &alice,
		    ask("198.51.100.7", JIT_PROTO_UDP, 53, 53, 3, "ssh"));
	ck_assert_uint_ne(any, udp);
	/* Both stay live: different keys. */
	ck_assert_int_eq(status_of(w, any), JIT_INITIATED);
	ck_assert_uint_eq(kernel_end(&w->k, "198.51.100.7", UDP, 53), end_any);
	/* The short one ends (expiry), then is revoked-by-expiry: the long
	 * one keeps udp with its own end. */
	access_expire(&w->a, grants_get(w->a.grants, udp)->end_ms);
	ck_assert_int_eq(status_of(w, udp), JIT_EXPIRED);
	ck_assert_uint_eq(kernel_end(&w->k, "198.51.100.7", UDP, 53), end_any);
	ck_assert_uint_eq(kernel_end(&w->k, "198.51.100.7", TCP, 53), end_any);
	/* And revoking the long one closes both. */
	ck_assert_int_eq(access_revoke(&w->a, &alice, any, &r, &why), 0);
	ck_assert_uint_eq(kernel_end(&w->k, "198.51.100.7", UDP, 53), 0);
	ck_assert_uint_eq(kernel_end(&w->k, "198.51.100.7", TCP, 53), 0);
	world_free(w);
}
END_TEST

UNIT_TEST("records", test_port_inside_range)
{
	struct world *w = world_new();
	struct jit_request *r;
	struct jit_refusal why;
	uint64_t one, range;

	one = grant(w, &alice,
		    ask("192.0.2.9", JIT_PROTO_TCP, 2202, 2202, 60, "ssh"));
	range = grant(w, &alice,
		      ask("192.0.2.9", JIT_PROTO_TCP, 2202, 2205, 1800, "ssh"));
	ck_assert_int_eq(access_revoke(&w->a, &alice, one, &r, &why), 0);
	ck_assert_int_eq(status_of(w, range), JIT_INITIATED);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 2202),
			  grants_get(w->a.grants, range)->end_ms);
	world_free(w);
}
END_TEST

UNIT_TEST("records", test_other_user_cannot_end_a_grant)
{
	struct world *w = world_new();
	uint64_t mine, theirs, end;
	struct jit_request *r;
	struct jit_refusal why;

	mine = grant(w, &alice,
		     ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 1800, "ssh"));
	end = grants_get(w->a.grants, mine)->end_ms;
	/* bob asks for the same key for one second: a record of his own. */
	theirs = grant(w, &bob,
		       ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 1, "ssh"));
	ck_assert_int_eq(status_of(w, mine), JIT_INITIATED);
	ck_assert_int_eq(status_of(w, theirs), JIT_INITIATED);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22), end);
	/* And may not revoke it: to him, it does not exist. */
	ck_assert_int_eq(access_revoke(&w->a, &bob, mine, &r, &why), -ENOENT);
	ck_assert_str_eq(why.code, "unknown-request");
	/* His record ending leaves alice's access as it was. */
	ck_assert_int_eq(access_revoke(&w->a, &bob, theirs, &r, &why), 0);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22), end);
	world_free(w);
}
END_TEST

/* Every decision is one audit line (and so one event), revokes too. */
UNIT_TEST("records", test_every_decision_audited)
{
	struct world *w = world_new();
	struct jit_request *r;
	struct jit_refusal why;
	uint64_t id;
	char want[64];

	id = grant(w, &alice,
		   ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 1800, "ssh"));
	snprintf(want, sizeof(want), "request granted #%llu",
		 (unsigned long long)id);
	ck_assert_str_eq(w->ev.last, want);
	ck_assert_int_eq(access_revoke(&w->a, &alice, id, &r, &why), 0);
	snprintf(want, sizeof(want), "revoke revoked #%llu",
		 (unsigned long long)id);
	ck_assert_str_eq(w->ev.last, want);
	ck_assert_int_eq(access_revoke(&w->a, &alice, id, &r, &why), -EINVAL);
	snprintf(want, sizeof(want), "revoke refused #%llu",
		 (unsigned long long)id);
	ck_assert_str_eq(w->ev.last, want);
	world_free(w);
}
END_TEST

UNIT_TEST("records", test_same_user_replaces_own)
{
	struct world *w = world_new();
	uint64_t old, newer;

	old = grant(w, &alice,
		    ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 1800, "ssh"));
	newer = grant(w, &alice,
		      ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60, "ssh"));
	ck_assert_int_eq(status_of(w, old), JIT_REVOKED);
	ck_assert_str_eq(grants_get(w->a.grants, old)->status_reason,
			 JIT_REASON_NEWER);
	ck_assert_uint_eq(grants_get(w->a.grants, old)->replaced_by, newer);
	/* The element now carries the newer (shorter) end. */
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22),
			  grants_get(w->a.grants, newer)->end_ms);
	world_free(w);
}
END_TEST

UNIT_TEST("records", test_overlapping_prefixes)
{
	struct world *w = world_new();
	struct jit_request *r;
	struct jit_refusal why;
	uint64_t wide, narrow, end_wide, end_narrow;

	wide = grant(w, &alice,
		     ask("192.0.2.0/24", JIT_PROTO_TCP, 22, 22, 600, "ssh"));
	narrow = grant(w, &alice,
		       ask("192.0.2.0/28", JIT_PROTO_TCP, 22, 22, 1800, "ssh"));
	end_wide = grants_get(w->a.grants, wide)->end_ms;
	end_narrow = grants_get(w->a.grants, narrow)->end_ms;
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.5", TCP, 22), end_narrow);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.200", TCP, 22), end_wide);
	ck_assert_int_eq(access_revoke(&w->a, &alice, narrow, &r, &why), 0);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.5", TCP, 22), end_wide);
	world_free(w);
}
END_TEST

/* ---- nothing acknowledged that was not taken ---------------------------- */

UNIT_TEST("durable", test_kernel_refusal_changes_nothing)
{
	struct world *w = world_new();
	struct jit_request t = ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60,
				   "ssh"),
			   *r = NULL;
	struct jit_refusal why;

	w->k.fail_update = -EIO;
	ck_assert_int_eq(access_request(&w->a, &alice, &t, &r, &why), -EIO);
	ck_assert_str_eq(why.code, "kernel-error");
	ck_assert_uint_eq(w->k.n, 0);
	ck_assert_uint_eq(grants_count_status(w->a.grants, JIT_INITIATED), 0);
	ck_assert_uint_eq(scopes_count(w->a.scopes), 0);
	/* A revoke the kernel refuses leaves the grant as it was. */
	r = NULL;
	ck_assert_int_eq(access_request(&w->a, &alice, &t, &r, &why), 0);
	w->k.fail_update = -EIO;
	ck_assert_int_eq(access_revoke(&w->a, &alice, r->id, &r, &why), -EIO);
	ck_assert_int_eq(r->status, JIT_INITIATED);
	ck_assert_uint_ne(kernel_end(&w->k, "192.0.2.9", TCP, 22), 0);
	world_free(w);
}
END_TEST

/* Every write of this process past one byte fails (EFBIG). */
static void disk_full(bool full)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	if (full)
		rl.rlim_cur = 1;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

UNIT_TEST("durable", test_unrecorded_grant_refused)
{
	struct world *w = world_new();
	struct jit_request t = ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60,
				   "ssh"),
			   *r = NULL;
	struct jit_refusal why;
	uint64_t next_id = grants_next_id(w->a.grants), live, pend;

	live = grant(w, &alice, t);
	t.policy[0] = 'g';
	snprintf(t.policy, sizeof(t.policy), "gated");
	t.key.port_lo = t.key.port_hi = 3389;
	pend = grant(w, &alice, t);
	next_id = grants_next_id(w->a.grants);
	disk_full(true);
	/* A grant: refused with the reason, nothing opens, no id used. */
	t = ask("192.0.2.10", JIT_PROTO_TCP, 22, 22, 60, "ssh");
	ck_assert_int_eq(access_request(&w->a, &alice, &t, &r, &why), -EIO);
	ck_assert_str_eq(why.code, "not-recorded");
	ck_assert_ptr_nonnull(strstr(why.message, "cannot record"));
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.10", TCP, 22), 0);
	ck_assert_ptr_null(grants_get(w->a.grants, next_id));
	ck_assert_uint_ge(w->ev.journal_failed, 1);
	/* A denial: refused too (it would not hold). */
	ck_assert_int_eq(
		access_decide(&w->a, &bob, pend, false, "no", &r, &why), -EIO);
	ck_assert_int_eq(status_of(w, pend), JIT_PENDING);
	/* A revoke: in force in the kernel, not yet recorded, marked. */
	ck_assert_int_eq(access_revoke(&w->a, &alice, live, &r, &why), 1);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22), 0);
	ck_assert_uint_eq(w->k.n_marked, 1);
	ck_assert_uint_eq(w->k.marked[0], live);
	ck_assert(journal_degraded(w->a.journal));
	/* A crash now, then a start with the disk still full: the kernel's
	 * mark wins over the journal's live record. */
	core_close(w);
	disk_full(false);
	core_open(w);
	ck_assert_int_eq(status_of(w, live), JIT_INITIATED);
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	ck_assert_int_ne(status_of(w, live), JIT_INITIATED);
	ck_assert_uint_eq(scopes_count(w->a.scopes), 0);
	world_free(w);
}
END_TEST

/* Writes of this process past limit bytes of a file fail (0: no limit). */
/* As file_limit, without a Check assertion (for use while it holds). */
static void limit_file(off_t limit)
{
	struct rlimit rl = { (rlim_t)limit, RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	(void)setrlimit(RLIMIT_FSIZE, &rl);
}

static void file_limit(off_t limit)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	signal(SIGXFSZ, SIG_IGN);
	if (limit)
		rl.rlim_cur = (rlim_t)limit;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Size of the newest journal file of dir. */
static off_t journal_size(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[300] = "", path[400];
	struct stat st;

	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, JIT_JOURNAL_PREFIX,
			     strlen(JIT_JOURNAL_PREFIX)) &&
		    !strchr(e->d_name, '-') && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	ck_assert(best[0]);
	snprintf(path, sizeof(path), "%s/%s", dir, best);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/*
 * The full disk's page boundary: room in the journal for a new grant's
 * line, not for the line that ends the grant it replaces. The sync fails;
 * the whole decision is undone: the replaced grant is live again, in
 * memory and in the kernel, the new one is gone, its id never seen again
 * (not after a restart either). The old code ended the new grant but left
 * the acknowledged one revoked and out of the kernel, and the new grant's
 * line in the file.
 */
UNIT_TEST("durable", test_failed_sync_undoes_replacement)
{
	struct world *w = world_new();
	struct jit_request t = ask("192.0.2.5", JIT_PROTO_TCP, 22, 22, 3600,
				   "ssh"),
			   *r;
	_cleanup_free_ char *line = NULL;
	struct jit_refusal why;
	uint64_t first, second, third, end1;
	off_t synced;

	first = grant(w, &alice, t);
	ck_assert_int_eq(access_sync(&w->a), 0);
	end1 = kernel_end(&w->k, "192.0.2.5", TCP, 22);
	ck_assert_uint_ne(end1, 0);
	synced = journal_size(w->dir);
	line = journal_format_request(grants_get(w->a.grants, first));
	file_limit(synced + (off_t)strlen(line) + 10 + 12);
	second = grant(w, &alice, t);
	ck_assert_uint_gt(second, first);
	ck_assert_int_eq(status_of(w, first), JIT_REVOKED);
	ck_assert_int_lt(access_sync(&w->a), 0);
	ck_assert(access_undone(&w->a, second, access_decision_seq(&w->a)));
	/* Undone: the first grant as it was, the second never made. */
	ck_assert_int_eq(status_of(w, first), JIT_INITIATED);
	ck_assert_uint_eq(grants_get(w->a.grants, first)->replaced_by, 0);
	ck_assert_ptr_null(grants_get(w->a.grants, second));
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.5", TCP, 22), end1);
	ck_assert_int_eq(journal_size(w->dir), synced);
	/* An approval answered in a failed pass leaves the request pending. */
	file_limit(0);
	t = ask("192.0.2.7", JIT_PROTO_TCP, 3389, 3389, 60, "gated");
	third = grant(w, &alice, t);
	ck_assert_int_eq(access_sync(&w->a), 0);
	file_limit(journal_size(w->dir) + 10);
	r = NULL;
	ck_assert_int_eq(
		access_decide(&w->a, &bob, third, true, NULL, &r, &why) < 0 ||
			access_sync(&w->a) < 0,
		1);
	ck_assert_int_eq(status_of(w, third), JIT_PENDING);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.7", TCP, 3389), 0);
	/* A crash now, then a start with room again. */
	core_close(w);
	file_limit(0);
	core_open(w);
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, first), JIT_INITIATED);
	ck_assert_ptr_null(grants_get(w->a.grants, second));
	ck_assert_int_eq(status_of(w, third), JIT_PENDING);
	ck_assert_uint_gt(
		grant(w, &bob,
		      ask("192.0.2.6", JIT_PROTO_TCP, 22, 22, 60, "ssh")),
		third);
	world_free(w);
}
END_TEST

/*
 * Two re-requests in one pass, each replacing the one before: a failed
 * sync undoes both, and the grant acknowledged before the pass is live
 * again, with its own end.
 */
UNIT_TEST("durable", test_failed_sync_undoes_chain)
{
	struct world *w = world_new();
	struct jit_request t =
		ask("192.0.2.8", JIT_PROTO_TCP, 22, 22, 3600, "ssh");
	_cleanup_free_ char *line = NULL;
	uint64_t q, r1, r2, end_q;
	size_t l;

	q = grant(w, &alice, t);
	ck_assert_int_eq(access_sync(&w->a), 0);
	end_q = kernel_end(&w->k, "192.0.2.8", TCP, 22);
	line = journal_format_request(grants_get(w->a.grants, q));
	l = strlen(line) + 10;
	/* Room for three lines (r1, q's end, r2), not for r1's end. */
	file_limit(journal_size(w->dir) + 3 * (off_t)l + 23 + 30);
	r1 = grant(w, &alice, t);
	r2 = grant(w, &alice, t);
	ck_assert_int_eq(status_of(w, r1), JIT_REVOKED);
	ck_assert_int_lt(access_sync(&w->a), 0);
	file_limit(0);
	ck_assert_int_eq(status_of(w, q), JIT_INITIATED);
	ck_assert_ptr_null(grants_get(w->a.grants, r1));
	ck_assert_ptr_null(grants_get(w->a.grants, r2));
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.8", TCP, 22), end_q);
	ck_assert_uint_eq(scopes_count(w->a.scopes), 1);
	world_free(w);
}
END_TEST

/*
 * A revoke whose line a failed sync dropped still holds: appended again
 * to retry, and marked in the kernel meanwhile.
 */
UNIT_TEST("durable", test_failed_sync_keeps_revoke)
{
	struct world *w = world_new();
	struct jit_request *r;
	struct jit_refusal why;
	uint64_t seq, live = grant(w, &alice,
				   ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60,
				       "ssh"));

	ck_assert_int_eq(access_sync(&w->a), 0);
	file_limit(journal_size(w->dir) + 10);
	ck_assert_int_ge(access_revoke(&w->a, &alice, live, &r, &why), 0);
	seq = access_decision_seq(&w->a);
	ck_assert_int_lt(access_sync(&w->a), 0);
	/* Its reply says: in force, not yet recorded. */
	ck_assert(access_unrecorded(&w->a, live, seq));
	ck_assert(!access_undone(&w->a, live, seq));
	ck_assert_int_eq(status_of(w, live), JIT_REVOKED);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22), 0);
	ck_assert_uint_ge(w->k.n_marked, 1);
	ck_assert_uint_eq(journal_backlog(w->a.journal), 1);
	file_limit(0);
	ck_assert_int_eq(access_sync(&w->a), 0);
	core_close(w);
	core_open(w);
	ck_assert_int_eq(status_of(w, live), JIT_REVOKED);
	world_free(w);
}
END_TEST

/*
 * An approval a failed sync undid leaves the request pending; approved
 * again once the journal takes it, that second approval is recorded and
 * its reply must not be turned into not-recorded by the first's undo.
 */
UNIT_TEST("durable", test_undo_spares_later_decisions)
{
	struct world *w = world_new();
	struct jit_request *r = NULL;
	struct jit_refusal why = { 0 };
	struct jit_request t =
		ask("192.0.2.10", JIT_PROTO_TCP, 3389, 3389, 60, "gated");
	_cleanup_free_ char *line = NULL;
	uint64_t id, other, first, second;
	int decided, synced;

	ck_assert_int_eq(access_request(&w->a, &alice, &t, &r, &why), 0);
	id = r->id;
	other = grant(w, &alice,
		      ask("192.0.2.11", JIT_PROTO_TCP, 22, 22, 60, "ssh"));
	ck_assert_int_eq(access_sync(&w->a), 0);
	ck_assert_int_eq(status_of(w, id), JIT_PENDING);
	line = journal_format_request(grants_get(w->a.grants, id));
	/* Room for the approval's line, not for another after it. */
	/* No check until the limit is lifted: Check writes files too. */
	limit_file(journal_size(w->dir) + (off_t)strlen(line) + 50);
	decided = access_decide(&w->a, &bob, id, true, NULL, &r, &why);
	first = access_decision_seq(&w->a);
	/* A revoke later in the pass finds the disk full: its line waits
	 * for the sync, which fails, and the approval goes back. */
	(void)access_revoke(&w->a, &alice, other, &r, &why);
	synced = access_sync(&w->a);
	file_limit(0);
	ck_assert_int_eq(decided, 0);
	ck_assert_int_lt(synced, 0);
	ck_assert(access_undone(&w->a, id, first));
	ck_assert_int_eq(status_of(w, id), JIT_PENDING);
	ck_assert_int_eq(access_decide(&w->a, &bob, id, true, NULL, &r, &why),
			 0);
	second = access_decision_seq(&w->a);
	ck_assert_int_eq(access_sync(&w->a), 0);
	ck_assert_int_eq(status_of(w, id), JIT_INITIATED);
	ck_assert(!access_undone(&w->a, id, second));
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_backlog_is_written_when_space_returns)
{
	struct world *w = world_new();
	struct jit_request *r;
	struct jit_refusal why;
	uint64_t live = grant(
		w, &alice, ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60, "ssh"));

	disk_full(true);
	ck_assert_int_eq(access_revoke(&w->a, &alice, live, &r, &why), 1);
	ck_assert_uint_eq(journal_backlog(w->a.journal), 1);
	disk_full(false);
	ck_assert_int_eq(journal_sync(w->a.journal), 0);
	ck_assert(!journal_degraded(w->a.journal));
	/* Now a start that trusts the journal alone finds it revoked. */
	w->k.n_marked = 0;
	core_close(w);
	core_open(w);
	ck_assert_int_eq(status_of(w, live), JIT_REVOKED);
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_ids_never_reused)
{
	struct world *w = world_new();
	uint64_t a = grant(w, &alice,
			   ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 60, "ssh")),
		 b;

	/* A crash (no clean close of anything but the files). */
	core_close(w);
	core_open(w);
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	b = grant(w, &bob, ask("192.0.2.10", JIT_PROTO_TCP, 22, 22, 60, "ssh"));
	ck_assert_uint_gt(b, a);
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_start_kernel_absence_wins)
{
	struct world *w = world_new();
	uint64_t kept, lost;

	kept = grant(w, &alice,
		     ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 600, "ssh"));
	lost = grant(w, &alice,
		     ask("192.0.2.0/28", JIT_PROTO_TCP, 22, 22, 600, "ssh"));
	/* The kernel lost the prefix's pieces (taken away unrecorded). */
	for (size_t i = 0; i < w->k.n;)
		if (w->k.e[i].interval)
			w->k.e[i] = w->k.e[--w->k.n];
		else
			i++;
	core_close(w);
	core_open(w);
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, kept), JIT_INITIATED);
	ck_assert_int_ne(status_of(w, lost), JIT_INITIATED);
	ck_assert_str_eq(grants_get(w->a.grants, lost)->status_reason,
			 JIT_REASON_ABSENT);
	/* After a clean exit the journal alone decides. */
	core_close(w);
	core_open(w);
	w->k.n = 0;
	ck_assert_int_eq(access_start(&w->a, true, NULL, 0, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, kept), JIT_INITIATED);
	/* With no table at all (a reboot), the journal decides too. */
	core_close(w);
	core_open(w);
	w->k.no_table = true;
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, kept), JIT_INITIATED);
	ck_assert_uint_gt(scopes_count(w->a.scopes), 0);
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_start_checks_only_unconfirmed)
{
	struct world *w = world_new();
	uint64_t confirmed, unconfirmed;

	confirmed = grant(w, &alice,
			  ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 600, "ssh"));
	unconfirmed =
		grant(w, &alice,
		      ask("192.0.2.10", JIT_PROTO_TCP, 22, 22, 600, "ssh"));
	/* Both elements gone from the kernel (say, a plain table flushed
	 * while no agent ran); only the second was decided after the last
	 * sync point, so only it may never have reached the kernel. */
	w->k.n = 0;
	core_close(w);
	core_open(w);
	ck_assert_int_eq(
		access_start(&w->a, false, &unconfirmed, 1, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, confirmed), JIT_INITIATED);
	ck_assert_int_ne(status_of(w, unconfirmed), JIT_INITIATED);
	/* With nothing to check, the kernel's elements are not even read. */
	core_close(w);
	core_open(w);
	w->k.no_table = false;
	{
		static const uint64_t none;

		ck_assert_int_eq(
			access_start(&w->a, false, &none, 0, now_real_ms()), 0);
	}
	ck_assert_int_eq(status_of(w, confirmed), JIT_INITIATED);
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_approval_rules)
{
	struct world *w = world_new();
	struct jit_request t = ask("192.0.2.9", JIT_PROTO_TCP, 3389, 3389, 60,
				   "gated"),
			   *r;
	struct jit_refusal why;
	uint64_t a = grant(w, &alice, t), b = grant(w, &bob, t);

	ck_assert_int_eq(status_of(w, a), JIT_PENDING);
	/* Alice neither asked for b nor approves its policy: to her, b does
	 * not exist. */
	ck_assert_int_eq(access_decide(&w->a, &alice, b, true, NULL, &r, &why),
			 -ENOENT);
	ck_assert_str_eq(why.code, "unknown-request");
	ck_assert_int_eq(access_decide(&w->a, &bob, b, true, NULL, &r, &why),
			 -EPERM);
	ck_assert_str_eq(why.code, "own-request");
	ck_assert_int_eq(access_decide(&w->a, &bob, a, true, NULL, &r, &why),
			 0);
	ck_assert_int_eq(status_of(w, a), JIT_INITIATED);
	ck_assert_int_eq(
		access_decide(&w->a, &root, b, false, "later", &r, &why), 0);
	ck_assert_int_eq(status_of(w, b), JIT_DENIED);
	ck_assert_int_eq(access_decide(&w->a, &root, b, true, NULL, &r, &why),
			 -EINVAL);
	ck_assert_str_eq(why.code, "not-pending");
	world_free(w);
}
END_TEST

UNIT_TEST("durable", test_policy_removed_revokes)
{
	struct world *w = world_new();
	struct jit_diag d;
	uint64_t a = grant(w, &alice,
			   ask("192.0.2.9", JIT_PROTO_TCP, 22, 22, 600, "ssh"));

	diag_init(&d);
	ck_assert_int_eq(policy_set_remove_file(w->policies, "/p/test.yaml"),
			 0);
	diag_release(&d);
	access_recheck(&w->a, NULL);
	ck_assert_int_eq(status_of(w, a), JIT_REVOKED);
	ck_assert_str_eq(grants_get(w->a.grants, a)->status_reason,
			 JIT_REASON_POLICY);
	ck_assert_uint_eq(kernel_end(&w->k, "192.0.2.9", TCP, 22), 0);
	world_free(w);
}
END_TEST

/* A pending request the policies withdraw is denied, and audited so. */
UNIT_TEST("durable", test_policy_removed_denies_pending)
{
	struct world *w = world_new();
	uint64_t a =
		grant(w, &alice,
		      ask("192.0.2.9", JIT_PROTO_TCP, 3389, 3389, 60, "gated"));
	char want[64];

	ck_assert_int_eq(status_of(w, a), JIT_PENDING);
	ck_assert_int_eq(policy_set_remove_file(w->policies, "/p/test.yaml"),
			 0);
	access_recheck(&w->a, NULL);
	ck_assert_int_eq(status_of(w, a), JIT_DENIED);
	snprintf(want, sizeof(want), "revoke denied #%llu",
		 (unsigned long long)a);
	ck_assert_str_eq(w->ev.last, want);
	world_free(w);
}
END_TEST

/* ---- interface-scoped policies ------------------------------------------ */

/* The fake kernel holds the point on that interface (NULL: on all). */
static bool kernel_holds_on(const struct fake *f, const char *ifname,
			    const char *addr, uint16_t port)
{
	uint8_t a[16] = { 0 }, name[IFNAMSIZ] = { 0 };
	uint8_t family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(family, addr, a), 1);
	if (ifname)
		memcpy(name, ifname, strlen(ifname));
	for (size_t i = 0; i < f->n; i++) {
		const struct jit_elem *e = &f->e[i];

		if (e->family != family || memcmp(e->addr_lo, a, 16) > 0 ||
		    memcmp(a, e->addr_hi, 16) > 0 || e->port_lo > port ||
		    port > e->port_hi)
			continue;
		if (!e->iface ||
		    (ifname && memcmp(e->ifname_lo, name, IFNAMSIZ) <= 0 &&
		     memcmp(name, e->ifname_hi, IFNAMSIZ) <= 0))
			return true;
	}
	return false;
}

/* A world whose core has started (the zones of its policies known). */
static struct world *world_started(void)
{
	struct world *w = world_new();

	ck_assert_int_eq(access_start(&w->a, true, NULL, 0, now_real_ms()), 0);
	return w;
}

UNIT_TEST("scopes", test_scoped_grant_holds_on_its_interface)
{
	struct world *w = world_started();
	uint64_t in =
		grant(w, &alice,
		      ask("192.0.2.9", JIT_PROTO_TCP, 2022, 2022, 60, "in"));

	ck_assert(kernel_holds_on(&w->k, "eth1", "192.0.2.9", 2022));
	ck_assert(!kernel_holds_on(&w->k, "eth0", "192.0.2.9", 2022));
	ck_assert(!kernel_holds_on(&w->k, NULL, "192.0.2.9", 2022));
	ck_assert_int_eq(status_of(w, in), JIT_INITIATED);
	world_free(w);
}
END_TEST

/*
 * The same user, source and port under policies of other interfaces are
 * two rights: the second must not end the first. Under a policy of the
 * same interfaces it replaces it, as between two policies for all.
 */
UNIT_TEST("scopes", test_replace_only_on_the_same_interfaces)
{
	struct world *w = world_started();
	struct jit_request t =
		ask("192.0.2.9", JIT_PROTO_TCP, 2022, 2022, 60, "in");
	uint64_t in, out, in2;

	in = grant(w, &alice, t);
	snprintf(t.policy, sizeof(t.policy), "out");
	out = grant(w, &alice, t);
	ck_assert_int_eq(status_of(w, in), JIT_INITIATED);
	ck_assert_int_eq(status_of(w, out), JIT_INITIATED);
	ck_assert(kernel_holds_on(&w->k, "eth1", "192.0.2.9", 2022));
	ck_assert(kernel_holds_on(&w->k, "eth0", "192.0.2.9", 2022));
	snprintf(t.policy, sizeof(t.policy), "in2");
	in2 = grant(w, &alice, t);
	ck_assert_int_eq(status_of(w, in), JIT_REVOKED);
	ck_assert_str_eq(grants_get(w->a.grants, in)->status_reason,
			 JIT_REASON_NEWER);
	ck_assert_int_eq(status_of(w, out), JIT_INITIATED);
	ck_assert_int_eq(status_of(w, in2), JIT_INITIATED);
	ck_assert(kernel_holds_on(&w->k, "eth1", "192.0.2.9", 2022));
	world_free(w);
}
END_TEST

/*
 * After a crash, a host granted under a wildcard policy is found in the
 * kernel (a one-address box on the names of eth*), and so is one on a
 * single name: neither is ended as missing.
 */
UNIT_TEST("scopes", test_start_finds_scoped_elements)
{
	struct world *w = world_started();
	uint64_t wild = grant(w, &alice,
			      ask("192.0.2.9", JIT_PROTO_TCP, 2022, 2022, 600,
				  "wild")),
		 in = grant(w, &bob,
			    ask("192.0.2.10", JIT_PROTO_TCP, 2022, 2022, 600,
				"in")),
		 gone = grant(w, &bob,
			      ask("192.0.2.11", JIT_PROTO_TCP, 2022, 2022, 600,
				  "in"));

	ck_assert(kernel_holds_on(&w->k, "eth7", "192.0.2.9", 2022));
	/*
	 * The kernel lost the last one's element; of the first, only its
	 * boxes on the names of eth* but eth0 and eth1 are read back (the
	 * start looks for a host in the interval sets too).
	 */
	for (size_t i = 0; i < w->k.n;)
		if (!memcmp(w->k.e[i].addr_lo, "\xc0\x00\x02\x0b", 4) ||
		    (!memcmp(w->k.e[i].addr_lo, "\xc0\x00\x02\x09", 4) &&
		     !w->k.e[i].interval))
			w->k.e[i] = w->k.e[--w->k.n];
		else
			i++;
	ck_assert(!kernel_holds_on(&w->k, "eth0", "192.0.2.9", 2022));
	core_close(w);
	core_open(w);
	ck_assert_int_eq(access_start(&w->a, false, NULL, 0, now_real_ms()), 0);
	ck_assert_int_eq(status_of(w, wild), JIT_INITIATED);
	ck_assert_int_eq(status_of(w, in), JIT_INITIATED);
	ck_assert_int_ne(status_of(w, gone), JIT_INITIATED);
	world_free(w);
}
END_TEST
