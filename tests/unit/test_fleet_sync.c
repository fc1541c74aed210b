/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet grants through the decision core, against a kernel that takes
 * everything and a real journal: the host's own policy decides, each
 * revision is decided once, and a restart neither loses nor repeats.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "access.h"
#include "diag.h"
#include "fleet.h"
#include "golden.h"
#include "util.h"
#include "runner.h"

#define HOST "web-1"
#define ID1  0x0123456789abcdefull
#define KEY1 "host.web-1.0123456789abcdef"
#define ID2  0x00000000000000a2ull
#define KEY2 "host.web-1.00000000000000a2"

static const char policies_yaml[] =
	"name: ssh\n"
	"ports: [{port: 22, max_duration: 8h, allowed_sources: "
	"[203.0.113.0/24]}]\n"
	"approval: manual\n"
	"approvers: {users: [root]}\n"
	"fleet: {requesters: [alice], approvers: [bob, alice], max_duration: "
	"1h}\n"
	"---\n"
	"name: local\n"
	"ports: [{port: 2222}]\n";

static int k_update(void *ctx, const struct jit_elem *del, size_t n_del,
		    const struct jit_elem *add, size_t n_add, uint64_t now_ms,
		    char *err, size_t errlen)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static int k_mark(void *ctx, uint64_t id, uint64_t end_ms, uint64_t now_ms,
		  char *err, size_t errlen)
{
	return 0;
}

static int k_dump(void *ctx, uint64_t now_ms, struct jit_elem **ret)
{
	return -ENOENT;
}

static int k_dump_unrecorded(void *ctx, uint64_t **ret)
{
	return -ENOENT;
}

static int k_resync(void *ctx)
{
	return 0;
}

static const struct jit_kernel_ops kops = {
	.update = k_update,
	.mark_unrecorded = k_mark,
	.dump = k_dump,
	.dump_unrecorded = k_dump_unrecorded,
	.resync = k_resync,
};

struct world {
	char dir[64];
	struct jit_policy_set *policies;
	struct jit_access a;
	unsigned updates, audits;
	char last[256];
};

static void on_audit(void *u, const struct jit_access_event *ev)
{
	struct world *w = u;

	w->audits++;
	snprintf(w->last, sizeof(w->last), "%s %s %s by %s %s", ev->event,
		 ev->result, ev->error ? ev->error : "-", ev->by->name,
		 ev->by->channel ? ev->by->channel : "socket");
}

static int sink_request(void *u, const struct jit_request *r)
{
	return grants_upsert(u, r);
}

static void core_open(struct world *w)
{
	struct jit_journal_sink s = { .request = sink_request };
	struct jit_journal_info info;
	char why[256];

	w->a = (struct jit_access){
		.grants = grants_new(),
		.scopes = scopes_new(),
		.policies = w->policies,
		.kernel = &kops,
		.kernel_ctx = &w->updates,
		.hooks = { .audit = on_audit, .userdata = w },
		.state_dir = w->dir,
	};
	s.userdata = w->a.grants;
	ck_assert_int_eq(journal_open(w->dir, &s, &w->a.journal, &info, why,
				      sizeof(why)),
			 0);
	grants_set_next_id(w->a.grants, info.next_id);
	ck_assert_int_eq(access_start(&w->a, true, NULL, 0, now_real_ms()), 0);
}

static void core_close(struct world *w)
{
	ck_assert_int_eq(journal_sync(w->a.journal), 0);
	journal_close(w->a.journal);
	access_release(&w->a);
	scopes_free(w->a.scopes);
	grants_free(w->a.grants);
	memset(&w->a, 0, sizeof(w->a));
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	struct jit_diag d;

	ck_assert_ptr_nonnull(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/jit-fleet-XXXXXX");
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
	rm_rf(w->dir);
	free(w);
}

/* A grant value as approvers write it, ending in secs from now. */
static char *value(const char *id, const char *source, int port, int secs,
		   const char *by, const char *approver, const char *reason)
{
	char *s;

	ck_assert_int_ge(
		asprintf(&s,
			 "{\"id\":\"%s\",\"host\":\"web-1\",\"policy\":\"ssh\","
			 "\"proto\":\"tcp\",\"port\":%d,\"source\":\"%s\","
			 "\"start_ms\":1,\"end_ms\":%" PRIu64 ",\"reason\":"
			 "\"%s\",\"requested_by\":\"%s\",\"approved_by\":"
			 "\"%s\",\"approved_at_ms\":1,\"selector\":{\"role\":"
			 "\"web\"}}",
			 id, port, source,
			 now_real_ms() + (uint64_t)secs * 1000, reason, by,
			 approver),
		0);
	return s;
}

static enum jit_fleet_result put(struct world *w, const char *key, uint64_t rev,
				 char *val)
{
	struct jit_fleet_entry e = {
		.op = JIT_FLEET_PUT, .rev = rev, .data = val, .len = strlen(val)
	};
	struct jit_refusal why;
	enum jit_fleet_result r;

	snprintf(e.key, sizeof(e.key), "%s", key);
	r = fleet_apply(&w->a, HOST, &e, &why);
	return r;
}

static enum jit_fleet_result del(struct world *w, const char *key, uint64_t rev,
				 enum jit_fleet_op op)
{
	struct jit_fleet_entry e = { .op = op, .rev = rev };
	struct jit_refusal why;

	snprintf(e.key, sizeof(e.key), "%s", key);
	return fleet_apply(&w->a, HOST, &e, &why);
}

static size_t live_fleet(struct world *w)
{
	size_t n = 0;

	for (size_t i = 0; i < grants_count(w->a.grants); i++) {
		const struct jit_request *r = grants_at(w->a.grants, i);

		n += r->fleet_id && r->status == JIT_INITIATED;
	}
	return n;
}

UNIT_TEST("decode", test_key_and_value)
{
	struct jit_fleet_grant g;
	char err[256];
	uint64_t id;
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32", 22,
				       600, "alice", "bob", "deploy");

	ck_assert_int_eq(fleet_key_parse(HOST, KEY1, &id), 0);
	ck_assert_uint_eq(id, ID1);
	ck_assert_int_lt(
		fleet_key_parse(HOST, "host.web-2.0123456789abcdef", &id), 0);
	ck_assert_int_lt(fleet_key_parse(HOST, "host.web-1.0123", &id), 0);
	ck_assert_int_lt(
		fleet_key_parse(HOST, "host.web-1.0123456789ABCDEF", &id), 0);
	ck_assert_int_lt(fleet_key_parse("web", KEY1, &id), 0);

	ck_assert_int_eq(fleet_grant_parse(HOST, ID1, v, strlen(v), &g, err,
					   sizeof(err)),
			 0);
	ck_assert_str_eq(g.policy, "ssh");
	ck_assert_uint_eq(g.port, 22);
	ck_assert_uint_eq(g.protos, JIT_PROTO_TCP);
	ck_assert_str_eq(g.requested_by, "alice");
	ck_assert_str_eq(g.approved_by, "bob");
	ck_assert_str_eq(g.reason, "deploy");
	/* Another id in the value than in the key. */
	ck_assert_int_eq(fleet_grant_parse(HOST, ID2, v, strlen(v), &g, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "not its key's"), "%s", err);
	/* Another host's value. */
	ck_assert_int_eq(fleet_grant_parse("web-2", ID1, v, strlen(v), &g, err,
					   sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "not this host"), "%s", err);
	ck_assert_int_eq(
		fleet_grant_parse(HOST, ID1, "[1]", 3, &g, err, sizeof(err)),
		-EINVAL);
	{
		_cleanup_free_ char *b = value("0123456789abcdef", "nowhere",
					       22, 600, "alice", "bob", "");

		ck_assert_int_eq(fleet_grant_parse(HOST, ID1, b, strlen(b), &g,
						   err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(strstr(err, "source 'nowhere'"), "%s", err);
	}
	{
		_cleanup_free_ char *b =
			value("0123456789abcdef", "::ffff:203.0.113.7", 22, 600,
			      "alice", "bob", "");

		ck_assert_int_eq(fleet_grant_parse(HOST, ID1, b, strlen(b), &g,
						   err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(strstr(err, "IPv4 address written as IPv6"), "%s",
			      err);
	}
	{
		/* A reason with a terminal escape, as a socket request's
		 * reason may not have: it reaches other people's screens. */
		_cleanup_free_ char *b =
			value("0123456789abcdef", "203.0.113.7", 22, 600,
			      "alice", "bob", "x\\u001b[2Jy");

		ck_assert_int_eq(fleet_grant_parse(HOST, ID1, b, strlen(b), &g,
						   err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(strstr(err, "control characters"), "%s", err);
	}
	{
		/* 33 characters: longer than records keep names. */
		_cleanup_free_ char *b = value(
			"0123456789abcdef", "203.0.113.7", 22, 600, "alice",
			"bob0123456789012345678901234567890", "");

		ck_assert_int_eq(fleet_grant_parse(HOST, ID1, b, strlen(b), &g,
						   err, sizeof(err)),
				 -EINVAL);
	}
}
END_TEST

UNIT_TEST("decide", test_policy_decides)
{
	struct world *w = world_new();
	struct {
		const char *source, *by, *approver;
		int port, secs;
		const char *code;
	} cases[] = {
		{ "203.0.113.7/32", "alice", "bob", 22, 600, NULL },
		/* The source is outside the policy's sources. */
		{ "198.51.100.7/32", "alice", "bob", 22, 600,
		  "source-not-allowed" },
		{ "203.0.113.7/32", "mallory", "bob", 22, 600,
		  "not-fleet-requester" },
		{ "203.0.113.7/32", "alice", "carol", 22, 600,
		  "not-fleet-approver" },
		/* Manual approval: not one's own. */
		{ "203.0.113.7/32", "alice", "alice", 22, 600,
		  "self-approval" },
		/* Over the fleet maximum (1h), within the port's (8h). */
		{ "203.0.113.7/32", "alice", "bob", 22, 7200,
		  "duration-too-long" },
		{ "203.0.113.7/32", "alice", "bob", 23, 600,
		  "port-not-in-policy" },
		{ "203.0.113.7/32", "alice", "bob", 22, -5, "ended" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char key[64], id[17];
		_cleanup_free_ char *v = NULL;
		enum jit_fleet_result r;

		snprintf(id, sizeof(id), "%016zx", i + 1);
		snprintf(key, sizeof(key), "host.web-1.%s", id);
		v = value(id, cases[i].source, cases[i].port, cases[i].secs,
			  cases[i].by, cases[i].approver, "");
		r = put(w, key, 10 + i, v);
		if (!cases[i].code) {
			ck_assert_int_eq(r, JIT_FLEET_GRANTED);
			ck_assert_msg(strstr(w->last,
					     "request granted - by bob "
					     "fleet"),
				      "%s", w->last);
		} else {
			ck_assert_msg(r == JIT_FLEET_REFUSED, "case %zu: %s", i,
				      fleet_result_name(r));
			ck_assert_msg(strstr(w->last, cases[i].code), "%zu: %s",
				      i, w->last);
		}
	}
	ck_assert_uint_eq(live_fleet(w), 1);
	world_free(w);
}
END_TEST

UNIT_TEST("decide", test_fleet_off_by_default)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32",
				       2222, 600, "alice", "bob", "");
	char *p = strstr(v, "\"ssh\"");
	_cleanup_free_ char *local = NULL, *none = NULL;

	/* A policy without a fleet block takes no fleet grant. */
	*p = '\0';
	ck_assert_int_ge(asprintf(&local, "%s\"local\"%s", v, p + 5), 0);
	ck_assert_int_ge(asprintf(&none, "%s\"nope\"%s", v, p + 5), 0);
	ck_assert_int_eq(put(w, KEY1, 3, local), JIT_FLEET_REFUSED);
	ck_assert_msg(strstr(w->last, "fleet-off"), "%s", w->last);
	ck_assert_int_eq(put(w, KEY1, 4, none), JIT_FLEET_REFUSED);
	ck_assert_msg(strstr(w->last, "unknown-policy"), "%s", w->last);
	ck_assert_uint_eq(live_fleet(w), 0);
	world_free(w);
}
END_TEST

UNIT_TEST("journal", test_revisions)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32", 22,
				       600, "alice", "bob", "deploy"),
			    *changed =
				    value("0123456789abcdef", "203.0.113.8/32",
					  22, 600, "alice", "bob", "deploy");
	struct jit_request *r;
	uint64_t first;

	ck_assert_int_eq(put(w, KEY1, 5, v), JIT_FLEET_GRANTED);
	first = fleet_find(&w->a, ID1)->id;
	/* The same revision again, or a lower one: nothing. */
	ck_assert_int_eq(put(w, KEY1, 5, v), JIT_FLEET_OLD);
	ck_assert_int_eq(put(w, KEY1, 4, changed), JIT_FLEET_OLD);
	/* Higher, same content: only the revision. */
	ck_assert_int_eq(put(w, KEY1, 7, v), JIT_FLEET_BUMPED);
	r = fleet_find(&w->a, ID1);
	ck_assert_uint_eq(r->id, first);
	ck_assert_uint_eq(r->fleet_rev, 7);
	/* Changed: a new record replaces the first. */
	ck_assert_int_eq(put(w, KEY1, 9, changed), JIT_FLEET_GRANTED);
	r = fleet_find(&w->a, ID1);
	ck_assert_uint_ne(r->id, first);
	ck_assert_uint_eq(r->fleet_rev, 9);
	ck_assert_int_eq(grants_get(w->a.grants, first)->status, JIT_REVOKED);
	ck_assert_str_eq(grants_get(w->a.grants, first)->status_reason,
			 JIT_REASON_NEWER);
	ck_assert_uint_eq(live_fleet(w), 1);

	/* A restart: the replay of every revision changes nothing. */
	core_close(w);
	core_open(w);
	r = fleet_find(&w->a, ID1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->fleet_rev, 9);
	ck_assert_int_eq(r->status, JIT_INITIATED);
	w->audits = 0;
	ck_assert_int_eq(put(w, KEY1, 5, v), JIT_FLEET_OLD);
	ck_assert_int_eq(put(w, KEY1, 9, changed), JIT_FLEET_OLD);
	ck_assert_uint_eq(w->audits, 0);
	ck_assert_uint_eq(live_fleet(w), 1);

	/* Delete: revoked; its replay after a restart: nothing. */
	ck_assert_int_eq(del(w, KEY1, 10, JIT_FLEET_DEL), JIT_FLEET_REVOKED);
	ck_assert_uint_eq(live_fleet(w), 0);
	ck_assert_str_eq(fleet_find(&w->a, ID1)->status_reason,
			 JIT_REASON_FLEET_REVOKED);
	core_close(w);
	core_open(w);
	ck_assert_int_eq(del(w, KEY1, 10, JIT_FLEET_DEL), JIT_FLEET_OLD);
	ck_assert_int_eq(put(w, KEY1, 9, changed), JIT_FLEET_OLD);
	ck_assert_uint_eq(live_fleet(w), 0);
	world_free(w);
}
END_TEST

/* Writes past limit bytes fail (0: no limit): a full disk for the journal. */
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
	if (d)
		closedir(d);
	ck_assert(best[0]);
	snprintf(path, sizeof(path), "%s/%s", dir, best);
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/*
 * A later revision of a key changes the grant's source: the new grant
 * replaces the old one. When the pass's sync fails (room for the new
 * grant's line, not for the line that ends the old one), both decisions
 * are undone: the old grant is live again, not revoked with the new one
 * gone (the old code left neither), and the revision is decided again once
 * the journal is written.
 */
UNIT_TEST("journal", test_failed_sync_keeps_replaced_grant)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32", 22,
				       600, "alice", "bob", "deploy"),
			    *changed =
				    value("0123456789abcdef", "203.0.113.8/32",
					  22, 600, "alice", "bob", "deploy"),
			    *line = NULL;
	struct jit_request *r;
	uint64_t first;
	off_t synced;

	ck_assert_int_eq(put(w, KEY1, 5, v), JIT_FLEET_GRANTED);
	ck_assert_int_eq(access_sync(&w->a), 0);
	first = fleet_find(&w->a, ID1)->id;
	synced = journal_size(w->dir);
	line = journal_format_request(grants_get(w->a.grants, first));
	ck_assert_ptr_nonnull(line);
	file_limit(synced + (off_t)strlen(line) + 10 + 12);
	ck_assert_int_eq(put(w, KEY1, 9, changed), JIT_FLEET_GRANTED);
	ck_assert_int_eq(grants_get(w->a.grants, first)->status, JIT_REVOKED);
	ck_assert_int_lt(access_sync(&w->a), 0);
	file_limit(0);

	/* Undone whole: the first grant as it was, the second never made. */
	r = fleet_find(&w->a, ID1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, first);
	ck_assert_int_eq(r->status, JIT_INITIATED);
	ck_assert_uint_eq(r->replaced_by, 0);
	ck_assert_uint_eq(r->fleet_rev, 5);
	ck_assert_uint_eq(live_fleet(w), 1);

	/* The journal written again, the range taken again: revision 9 is
	 * decided anew and replaces the first for good. */
	ck_assert_int_eq(access_sync(&w->a), 0);
	ck_assert_int_eq(put(w, KEY1, 9, changed), JIT_FLEET_GRANTED);
	ck_assert_int_eq(access_sync(&w->a), 0);
	r = fleet_find(&w->a, ID1);
	ck_assert_uint_ne(r->id, first);
	ck_assert_uint_eq(r->fleet_rev, 9);
	ck_assert_int_eq(grants_get(w->a.grants, first)->status, JIT_REVOKED);
	ck_assert_uint_eq(live_fleet(w), 1);
	/* And a restart agrees. */
	core_close(w);
	core_open(w);
	ck_assert_uint_eq(fleet_find(&w->a, ID1)->fleet_rev, 9);
	ck_assert_int_eq(grants_get(w->a.grants, first)->status, JIT_REVOKED);
	ck_assert_uint_eq(live_fleet(w), 1);
	world_free(w);
}
END_TEST

UNIT_TEST("journal", test_refusal_not_repeated)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "198.51.100.7/32",
				       22, 600, "alice", "bob", "");

	ck_assert_int_eq(put(w, KEY1, 3, v), JIT_FLEET_REFUSED);
	core_close(w);
	core_open(w);
	w->audits = 0;
	ck_assert_int_eq(put(w, KEY1, 3, v), JIT_FLEET_OLD);
	ck_assert_uint_eq(w->audits, 0);
	world_free(w);
}
END_TEST

UNIT_TEST("journal", test_purge_and_absence)
{
	struct world *w = world_new();
	_cleanup_free_ char *v1 = value("0123456789abcdef", "203.0.113.7/32",
					22, 600, "alice", "bob", ""),
			    *v2 = value("00000000000000a2", "203.0.113.9/32",
					22, 600, "alice", "bob", "");
	uint64_t present[] = { ID2 };

	ck_assert_int_eq(put(w, KEY1, 1, v1), JIT_FLEET_GRANTED);
	ck_assert_int_eq(put(w, KEY2, 2, v2), JIT_FLEET_GRANTED);
	/* A purge revokes like a delete. */
	ck_assert_int_eq(del(w, KEY1, 3, JIT_FLEET_PURGE), JIT_FLEET_REVOKED);
	/* A delete of a key never seen: nothing. */
	ck_assert_int_eq(
		del(w, "host.web-1.00000000000000ff", 4, JIT_FLEET_DEL),
		JIT_FLEET_NONE);
	ck_assert_int_eq(put(w, KEY1, 5, v1), JIT_FLEET_GRANTED);
	ck_assert_uint_eq(live_fleet(w), 2);
	/* A snapshot that holds only ID2: ID1 is revoked, ID2 stays. */
	ck_assert_uint_eq(fleet_reconcile(&w->a, present, 1), 1);
	ck_assert_uint_eq(live_fleet(w), 1);
	ck_assert_str_eq(fleet_find(&w->a, ID1)->status_reason,
			 JIT_REASON_FLEET_ABSENT);
	ck_assert_int_eq(fleet_find(&w->a, ID2)->status, JIT_INITIATED);
	/* An empty snapshot: all fleet grants go, a local one stays. */
	{
		struct jit_request t = { .duration_s = 60,
					 .key = { .port_lo = 2222,
						  .port_hi = 2222 } },
				   *r;
		struct jit_identity root = { .uid = 0, .name = "root" };
		struct jit_refusal why;

		ck_assert_int_eq(prefix_parse("192.0.2.5", &t.key.source), 0);
		snprintf(t.policy, sizeof(t.policy), "local");
		ck_assert_int_eq(access_request(&w->a, &root, &t, &r, &why), 0);
		ck_assert_uint_eq(fleet_reconcile(&w->a, NULL, 0), 1);
		ck_assert_int_eq(r->status, JIT_INITIATED);
	}
	ck_assert_uint_eq(live_fleet(w), 0);
	/* Key of another host, or a value that is no grant. */
	ck_assert_int_eq(put(w, "host.web-2.0123456789abcdef", 9, v1),
			 JIT_FLEET_BAD);
	ck_assert_int_eq(put(w, KEY2, 10, (char[]){ "{\"x\":1}" }),
			 JIT_FLEET_BAD);
	world_free(w);
}
END_TEST

static int no_lookup(uint32_t uid, struct jit_identity *ret)
{
	return -ENOENT;
}

UNIT_TEST("decide", test_policy_change)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32", 22,
				       600, "alice", "bob", "");
	static const char narrower[] =
		"name: ssh\n"
		"ports: [{port: 22, max_duration: 8h, allowed_sources: "
		"[203.0.113.0/24]}]\n"
		"approval: manual\n"
		"approvers: {users: [root]}\n"
		"fleet: {requesters: [alice], approvers: [carol]}\n"
		"---\n"
		"name: local\n"
		"ports: [{port: 2222}]\n";
	struct jit_diag d;

	ck_assert_int_eq(put(w, KEY1, 1, v), JIT_FLEET_GRANTED);
	/* The same policy again: the grant stays. */
	access_recheck(&w->a, no_lookup);
	ck_assert_uint_eq(live_fleet(w), 1);
	/* bob is no longer a fleet approver of ssh: revoked. */
	diag_init(&d);
	ck_assert_int_eq(policy_set_load_text(w->policies, "/p/test.yaml",
					      narrower, strlen(narrower), &d),
			 0);
	diag_release(&d);
	access_recheck(&w->a, no_lookup);
	ck_assert_uint_eq(live_fleet(w), 0);
	ck_assert_str_eq(fleet_find(&w->a, ID1)->status_reason,
			 JIT_REASON_POLICY);
	world_free(w);
}
END_TEST

UNIT_TEST("decide", test_redecide_after_policy_change)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "198.51.100.7/32",
				       22, 600, "alice", "bob", "");
	static const char wider[] =
		"name: ssh\n"
		"ports: [{port: 22, max_duration: 8h, allowed_sources: "
		"[203.0.113.0/24, 198.51.100.0/24]}]\n"
		"approval: manual\n"
		"approvers: {users: [root]}\n"
		"fleet: {requesters: [alice], approvers: [bob]}\n"
		"---\n"
		"name: local\n"
		"ports: [{port: 2222}]\n";
	struct jit_fleet_entry e = { .op = JIT_FLEET_PUT, .rev = 4 };
	struct jit_refusal why;
	struct jit_diag d;

	e.data = v;
	e.len = strlen(v);
	snprintf(e.key, sizeof(e.key), KEY1);
	/* The source is outside the policy's: refused. */
	ck_assert_int_eq(fleet_apply(&w->a, HOST, &e, &why), JIT_FLEET_REFUSED);
	diag_init(&d);
	ck_assert_int_eq(policy_set_load_text(w->policies, "/p/test.yaml",
					      wider, strlen(wider), &d),
			 0);
	diag_release(&d);
	/* The same revision again: nothing, unless asked to decide again. */
	ck_assert_int_eq(fleet_apply(&w->a, HOST, &e, &why), JIT_FLEET_OLD);
	e.redecide = true;
	ck_assert_int_eq(fleet_apply(&w->a, HOST, &e, &why), JIT_FLEET_GRANTED);
	ck_assert_uint_eq(live_fleet(w), 1);
	/* Once granted, a further redecision changes nothing. */
	ck_assert_int_eq(fleet_apply(&w->a, HOST, &e, &why), JIT_FLEET_OLD);
	/* And after a restart the grant is the key's record. */
	core_close(w);
	core_open(w);
	e.redecide = false;
	ck_assert_int_eq(fleet_apply(&w->a, HOST, &e, &why), JIT_FLEET_OLD);
	ck_assert_uint_eq(live_fleet(w), 1);
	world_free(w);
}
END_TEST

UNIT_TEST("journal", test_snapshot_keeps_fleet_fields)
{
	struct world *w = world_new();
	_cleanup_free_ char *v = value("0123456789abcdef", "203.0.113.7/32", 22,
				       600, "alice", "bob", "");
	_cleanup_free_ char *line = NULL;
	struct jit_request *r, back;
	uint64_t hash;

	ck_assert_int_eq(put(w, KEY1, 12, v), JIT_FLEET_GRANTED);
	r = fleet_find(&w->a, ID1);
	hash = r->fleet_hash;
	/* One line, parsed back whole. */
	line = journal_format_request(r);
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(journal_parse_request(line, strlen(line), &back), 0);
	ck_assert_uint_eq(back.fleet_id, ID1);
	ck_assert_uint_eq(back.fleet_rev, 12);
	ck_assert_uint_eq(back.fleet_hash, hash);
	request_release(&back);
	/* A local record's line has no extra field, as before. */
	{
		struct jit_request local = *r;

		local.fleet_id = local.fleet_rev = local.fleet_hash = 0;
		free(line);
		line = journal_format_request(&local);
		ck_assert_int_eq(
			journal_parse_request(line, strlen(line), &back), 0);
		ck_assert_uint_eq(back.fleet_id, 0);
		ck_assert_ptr_null(strchr(line, '{'));
		request_release(&back);
	}
	/* Through a compaction and a restart. */
	ck_assert_int_eq(
		journal_compact_now(w->a.journal, w->a.grants, w->policies), 0);
	core_close(w);
	core_open(w);
	r = fleet_find(&w->a, ID1);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->fleet_rev, 12);
	ck_assert_uint_eq(r->fleet_hash, hash);
	ck_assert_int_eq(put(w, KEY1, 12, v), JIT_FLEET_OLD);
	world_free(w);
}
END_TEST
