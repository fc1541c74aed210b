/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Our table in the kernel: the ruleset and the grants expressed as libnftnl
 * objects, committed in single batches; dumps of grant elements and of
 * other tables' input chains.
 *
 *   table inet jit_enforcer {
 *     set protected { type inet_proto . inet_service; flags interval; }
 *     map deny { type inet_proto . inet_service : verdict; flags interval; }
 *     map deny_iface { type ifname . inet_proto . inet_service : verdict;
 *                      flags interval; }
 *     set sessions_v4/sessions_v6 { remote . local . rport . lport }
 *     set grants_v4/grants_v6 { ... flags timeout; }
 *     set grant_nets_v4/grant_nets_v6 { ... flags interval, timeout; }
 *     set grants_if_v4/grants_if_v6 { ifname . ... flags timeout; }
 *     set grant_nets_if_v4/grant_nets_if_v6 { ifname . ...
 *                                             flags interval, timeout; }
 *     chain deny_drop { limit ... log group N; drop }
 *     chain deny_reject { limit ... log group N; tcp reset; reject }
 *     chain input { type filter hook input priority filter - 10; ... }
 *   }
 */
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <pthread.h>

#include "nft.h"
#include "table.h"
#include "util.h"

#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif
/* Debian 12's headers stop before the DESTROY messages (Linux 6.3). */
#define JIT_MSG_DESTROYSETELEM 30

#define CHAIN_INPUT  "input"
#define CHAIN_REJECT "deny_reject"
#define CHAIN_DROP   "deny_drop"
/* Burst of the log limit, as a multiple of the rate per second. */
#define LOG_BURST_FACTOR 2
#define SET_PROTECTED	 "protected"
#define MAP_DENY	 "deny"
#define MAP_DENY_IFACE	 "deny_iface"
#define SET_SESSIONS_V4	 "sessions_v4"
#define SET_SESSIONS_V6	 "sessions_v6"
#define INPUT_PRIORITY	 (-10)
/* Default element timeout of the grant sets: never "forever" by mistake. */
#define GRANT_SET_TIMEOUT_MS (24ull * 3600 * 1000)

/* Datatype ids nft uses to print keys (6 bits each in a concatenation). */
#define DT_IPV4		       7
#define DT_IPV6		       8
#define DT_PROTO	       12
#define DT_SERVICE	       13
#define DT_IFNAME	       41
#define DT_CONCAT2(a, b)       (((a) << 6) | (b))
#define DT_CONCAT3(a, b, c)    (((a) << 12) | ((b) << 6) | (c))
#define DT_CONCAT4(a, b, c, d) (((a) << 18) | ((b) << 12) | ((c) << 6) | (d))

/* ---- table objects ---------------------------------------------------- */

struct grant_set_def {
	const char *name;
	int family;
	bool interval;
	bool iface; /* keyed iifname . saddr . proto . dport */
};

/*
 * Indexed by grant_set_of. Grants of interface-scoped policies have sets
 * of their own (scope.h), after the others in the chain: a packet that
 * a grant for all interfaces lets in costs what it did.
 */
static const struct grant_set_def grant_sets[] = {
	{ "grants_v4", AF_INET, false, false },
	{ "grants_v6", AF_INET6, false, false },
	{ "grant_nets_v4", AF_INET, true, false },
	{ "grant_nets_v6", AF_INET6, true, false },
	{ "grants_if_v4", AF_INET, false, true },
	{ "grants_if_v6", AF_INET6, false, true },
	{ "grant_nets_if_v4", AF_INET, true, true },
	{ "grant_nets_if_v6", AF_INET6, true, true },
};

/* The first set of interface-scoped grants. */
#define GRANT_SETS_IFACE 4

static size_t grant_set_of(const struct jit_elem *e)
{
	return (e->iface ? GRANT_SETS_IFACE : 0) + (e->interval ? 2 : 0) +
	       (e->family == AF_INET ? 0 : 1);
}

enum {
	SET_ID_PROTECTED = 1,
	SET_ID_DENY,
	SET_ID_DENY_IFACE,
	SET_ID_SESSIONS_V4,
	SET_ID_SESSIONS_V6,
	SET_ID_UNRECORDED,
	SET_ID_GRANTS, /* + index into grant_sets */
};

/*
 * Ids of records ended (revoked, expired) while the journal could not say
 * so: the kernel keeps the word until the journal can, so that a restart in
 * between does not bring the grant back. Each lives until its record's end.
 */
#define SET_UNRECORDED "unrecorded"
#define DT_INTEGER     4

/*
 * One element of a grant set as bytes: which set, its key (and key end in
 * an interval set), and when it ends (absolute, ms; UINT64_MAX without a
 * timeout). What the kernel holds and what the records want are compared
 * in this form, whatever the set's key is made of. The longest key is an
 * interface-scoped IPv6 set's: ifname 16, address 16, proto 4, port 4.
 */
#define RAW_KEY_MAX (IFNAMSIZ + 16 + 8)
struct raw_elem {
	uint8_t set; /* index into grant_sets */
	uint8_t len;
	uint8_t key[RAW_KEY_MAX];
	uint8_t key_end[RAW_KEY_MAX];
	uint64_t end_ms;
};

/*
 * Per-source meters in front of the SPA port's global limit: a source
 * (an IPv4 address, an IPv6 /64) over its own rate is dropped before it
 * can use the global budget, so that one sender cannot starve the others.
 * Entries go 10 s after a source's last packet; a full set (a flood of
 * spoofed sources) leaves new sources to the global limit alone.
 */
#define SET_SPA_METER_V4     "spa_meter_v4"
#define SET_SPA_METER_V6     "spa_meter_v6"
#define SET_ID_SPA_METER_V4  100
#define SET_ID_SPA_METER_V6  101
#define SPA_METER_SIZE	     65535
#define SPA_METER_TIMEOUT_MS 10000

struct jit_table {
	struct jit_nft *nft;
	char name[JIT_TABLE_NAME_MAX + 1];
	bool allow_owner;
	bool probed;
	bool no_destroy; /* kernel older than 6.3: DELSETELEM only */
	enum jit_table_mode mode;
	/* The grant sets as the last dump read them, until our next write. */
	struct raw_elem *held;
	size_t n_held;
	bool have_held;
	uint64_t held_at_ms; /* monotonic */
	uint32_t held_genid; /* the ruleset's generation before the read */
	struct table_sync_stats sync;
	struct read_ahead *ahead; /* table_read_ahead's thread, until taken */
	/* table_trust's word for the next table_commit_all */
	bool trusted;
	uint32_t trust_genid;
	/* The generation the last commit checked and produced, or 0. */
	uint32_t last_genid;
};

/* A view of the grant sets older than this is read again before use. */
#define HELD_MAX_AGE_MS 10000

static void held_drop(struct jit_table *t);
static int held_read(struct jit_table *t);
static int read_ahead_take(struct jit_table *t);

const char *table_mode_name(enum jit_table_mode m)
{
	return m == JIT_TABLE_OWNER_PERSIST ? "owner+persist" : "plain";
}

/* A batch under construction and the table it targets. */
struct builder {
	struct jit_batch *b;
	const char *table;
	int err; /* the first error; everything after is a no-op */
	struct nftnl_rule *rule; /* the rule being built */
};

typedef void (*payload_fn)(struct nlmsghdr *nlh, const void *obj);

static void add_msg(struct builder *bld, uint16_t type, uint16_t flags,
		    payload_fn fn, const void *obj, const char *what)
{
	struct nlmsghdr *nlh;

	if (bld->err)
		return;
	nlh = batch_msg(bld->b, type, flags, "%s", what);
	if (!nlh) {
		bld->err = -ENOMEM;
		return;
	}
	fn(nlh, obj);
	bld->err = batch_push(bld->b);
}

static void table_payload(struct nlmsghdr *nlh, const void *o)
{
	nftnl_table_nlmsg_build_payload(nlh, o);
}

static void chain_payload(struct nlmsghdr *nlh, const void *o)
{
	nftnl_chain_nlmsg_build_payload(nlh, o);
}

static void rule_payload(struct nlmsghdr *nlh, const void *o)
{
	nftnl_rule_nlmsg_build_payload(nlh, (struct nftnl_rule *)o);
}

static void set_payload(struct nlmsghdr *nlh, const void *o)
{
	nftnl_set_nlmsg_build_payload(nlh, (struct nftnl_set *)o);
}

static void elems_payload(struct nlmsghdr *nlh, const void *o)
{
	nftnl_set_elems_nlmsg_build_payload(nlh, (struct nftnl_set *)o);
}

static void emit_table(struct builder *bld, uint16_t type, uint32_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t) {
		bld->err = -ENOMEM;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, bld->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (type == NFT_MSG_NEWTABLE)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	add_msg(bld, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0,
		table_payload, t,
		type == NFT_MSG_NEWTABLE ? "table (create)" : "table (delete)");
	nftnl_table_free(t);
}

static void emit_chain(struct builder *bld, const char *name, bool base)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char what[64];

	if (!c) {
		bld->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, bld->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (base) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, INPUT_PRIORITY);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	snprintf(what, sizeof(what), "chain %s", name);
	add_msg(bld, NFT_MSG_NEWCHAIN, NLM_F_CREATE, chain_payload, c, what);

	/* A DELRULE naming only the chain flushes it. */
	nftnl_chain_free(c);
	if (!bld->err) {
		struct nftnl_rule *r = nftnl_rule_alloc();

		if (!r) {
			bld->err = -ENOMEM;
			return;
		}
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, bld->table);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, name);
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
		snprintf(what, sizeof(what), "flush chain %s", name);
		add_msg(bld, NFT_MSG_DELRULE, 0, rule_payload, r, what);
		nftnl_rule_free(r);
	}
}

/* ---- rules and their expressions ---------------------------------------- */

/*
 * A rule is built between rule_begin and rule_end by the e_* emitters. The
 * builder keeps its first error; after it every emitter does nothing, so a
 * rule reads as a flat list of its expressions, as nft's netlink_gen_*.
 */
static void rule_begin(struct builder *bld, const char *chain)
{
	if (bld->err)
		return;
	bld->rule = nftnl_rule_alloc();
	if (!bld->rule) {
		bld->err = -ENOMEM;
		return;
	}
	nftnl_rule_set_str(bld->rule, NFTNL_RULE_TABLE, bld->table);
	nftnl_rule_set_str(bld->rule, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(bld->rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
}

static void rule_end(struct builder *bld, const char *what)
{
	if (!bld->rule)
		return;
	if (!bld->err)
		add_msg(bld, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
			rule_payload, bld->rule, what);
	nftnl_rule_free(bld->rule);
	bld->rule = NULL;
}

/* A new expression of type name for the current rule, or NULL. */
static struct nftnl_expr *e_new(struct builder *bld, const char *name)
{
	struct nftnl_expr *e;

	if (bld->err || !bld->rule)
		return NULL;
	e = nftnl_expr_alloc(name);
	if (!e)
		bld->err = -ENOMEM;
	return e;
}

static void e_add(struct builder *bld, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(bld->rule, e);
}

static void e_meta(struct builder *bld, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = e_new(bld, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	e_add(bld, e);
}

static void e_payload(struct builder *bld, uint32_t base, uint32_t off,
		      uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = e_new(bld, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	e_add(bld, e);
}

static void e_cmp(struct builder *bld, uint32_t sreg, uint32_t op,
		  const void *data, uint32_t len)
{
	struct nftnl_expr *e = e_new(bld, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	e_add(bld, e);
}

static void e_cmp_u8(struct builder *bld, uint32_t sreg, uint32_t op, uint8_t v)
{
	e_cmp(bld, sreg, op, &v, sizeof(v));
}

static void e_mask(struct builder *bld, uint32_t reg, uint32_t len,
		   uint32_t mask)
{
	struct nftnl_expr *e = e_new(bld, "bitwise");
	uint32_t zero = 0;

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, len);
	}
	e_add(bld, e);
}

static void e_lookup(struct builder *bld, uint32_t sreg, const char *set,
		     uint32_t set_id, bool map, bool invert)
{
	struct nftnl_expr *e = e_new(bld, "lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
		if (map)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG,
					   NFT_REG_VERDICT);
		if (invert)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS,
					   NFT_LOOKUP_F_INV);
	}
	e_add(bld, e);
}

static void e_verdict(struct builder *bld, int verdict)
{
	struct nftnl_expr *e = e_new(bld, "immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT,
				   (uint32_t)verdict);
	}
	e_add(bld, e);
}

static void e_ct_state(struct builder *bld, uint32_t mask)
{
	struct nftnl_expr *e = e_new(bld, "ct");
	uint32_t zero = 0;

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG32_00);
	}
	e_add(bld, e);
	e_mask(bld, NFT_REG32_00, 4, mask);
	e_cmp(bld, NFT_REG32_00, NFT_CMP_NEQ, &zero, 4);
}

static void e_reject(struct builder *bld, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = e_new(bld, "reject");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	}
	e_add(bld, e);
}

static void e_socket_wildcard(struct builder *bld, uint32_t dreg)
{
	struct nftnl_expr *e = e_new(bld, "socket");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY,
				   NFT_SOCKET_WILDCARD);
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, dreg);
	}
	e_add(bld, e);
}

static void e_limit(struct builder *bld, uint64_t rate, uint32_t burst)
{
	struct nftnl_expr *e = e_new(bld, "limit");

	if (e) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
	}
	e_add(bld, e);
}

/*
 * "update @set { <key in REG32_00> limit rate over R/second burst B
 * packets }": true for a packet over its key's own rate.
 */
static void e_meter_over(struct builder *bld, const char *set, uint32_t set_id,
			 uint64_t rate, uint32_t burst)
{
	struct nftnl_expr *e = e_new(bld, "dynset");
	struct nftnl_expr *lim;

	if (!e)
		return;
	lim = nftnl_expr_alloc("limit");
	if (!lim) {
		nftnl_expr_free(e);
		bld->err = -ENOMEM;
		return;
	}
	nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_RATE, rate);
	nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_UNIT, 1);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_BURST, burst);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG32_00);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
	nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS, lim);
	e_add(bld, e);
}

static void e_log(struct builder *bld, uint16_t group, const char *prefix,
		  uint32_t snaplen)
{
	struct nftnl_expr *e = e_new(bld, "log");

	if (e) {
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, snaplen);
	}
	e_add(bld, e);
}

/* Load "meta l4proto . th dport" into REG32_xx starting at reg. */
static void e_proto_port(struct builder *bld, uint32_t reg)
{
	e_meta(bld, NFT_META_L4PROTO, reg);
	e_payload(bld, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg + 1);
}

static void e_nfproto(struct builder *bld, uint8_t nfproto)
{
	e_meta(bld, NFT_META_NFPROTO, NFT_REG32_00);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, nfproto);
}

static struct nftnl_set *set_new(struct builder *bld, const char *name,
				 uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		bld->err = -ENOMEM;
		return NULL;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, bld->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (id)
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	return s;
}

static void emit_set(struct builder *bld, struct nftnl_set *s, bool flush)
{
	char what[64];
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);

	snprintf(what, sizeof(what), "set %s", name);
	add_msg(bld, NFT_MSG_NEWSET, NLM_F_CREATE, set_payload, s, what);
	if (flush) {
		struct nftnl_set *f = set_new(bld, name, 0);

		if (!f)
			return;
		snprintf(what, sizeof(what), "flush set %s", name);
		add_msg(bld, NFT_MSG_DELSETELEM, 0, elems_payload, f, what);
		nftnl_set_free(f);
	}
}

static void protected_key(uint8_t key[8], uint8_t proto, uint16_t port)
{
	uint16_t p = htons(port);

	memset(key, 0, 8);
	key[0] = proto;
	memcpy(key + 4, &p, 2);
}

static void emit_protected(struct builder *bld, const struct jit_ruleset *rs)
{
	static const uint8_t fields[] = { 1, 2 };
	struct nftnl_set *s = set_new(bld, SET_PROTECTED, SET_ID_PROTECTED);

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS,
			  NFT_SET_INTERVAL | NFT_SET_CONCAT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  DT_CONCAT2(DT_PROTO, DT_SERVICE));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
	nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
	emit_set(bld, s, true);
	nftnl_set_free(s);

	s = set_new(bld, SET_PROTECTED, SET_ID_PROTECTED);
	if (!s)
		return;
	for (size_t i = 0; i < rs->n_protected; i++) {
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		uint8_t k[8], ke[8];

		if (!e) {
			bld->err = -ENOMEM;
			break;
		}
		protected_key(k, rs->protected[i].proto, rs->protected[i].lo);
		protected_key(ke, rs->protected[i].proto, rs->protected[i].hi);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k, sizeof(k));
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, ke, sizeof(ke));
		nftnl_set_elem_add(s, e);
	}
	if (rs->n_protected) {
		char what[64];

		snprintf(what, sizeof(what), "elements of set %s",
			 SET_PROTECTED);
		add_msg(bld, NFT_MSG_NEWSETELEM, NLM_F_CREATE, elems_payload, s,
			what);
	}
	nftnl_set_free(s);
}

/*
 * Key of the deny maps: [ifname 16] (deny_iface only) [proto 1 + 3]
 * [port 2 + 2]. An "eth*" pattern is the range "eth\0..." to "eth\xff...".
 */
static size_t deny_key(uint8_t *key, bool iface, const char *ifname, bool end,
		       uint8_t proto, uint16_t port)
{
	uint16_t p = htons(port);
	size_t off = 0;

	memset(key, 0, IFNAMSIZ + 8);
	if (iface) {
		size_t n = strlen(ifname);

		if (ifname[n - 1] == '*') {
			memcpy(key, ifname, n - 1);
			if (end)
				memset(key + n - 1, 0xff, IFNAMSIZ - (n - 1));
		} else {
			memcpy(key, ifname, n);
		}
		off = IFNAMSIZ;
	}
	key[off] = proto;
	memcpy(key + off + 4, &p, 2);
	return off + 8;
}

/*
 * Two verdict maps: deny for policies on every interface, deny_iface for
 * interface-scoped ones. The compiler never lets them overlap. (An "all
 * interfaces" range in one ifname map would work in the kernel, but older
 * nft releases crash listing a range that starts at the empty name.)
 */
static void emit_deny(struct builder *bld, const struct jit_ruleset *rs,
		      bool iface)
{
	static const uint8_t fields_if[] = { IFNAMSIZ, 1, 2 };
	static const uint8_t fields[] = { 1, 2 };
	const char *name = iface ? MAP_DENY_IFACE : MAP_DENY;
	uint32_t id = iface ? SET_ID_DENY_IFACE : SET_ID_DENY;
	struct nftnl_set *s = set_new(bld, name, id);
	size_t n = 0;

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS,
			  NFT_SET_INTERVAL | NFT_SET_CONCAT | NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  iface ? DT_CONCAT3(DT_IFNAME, DT_PROTO, DT_SERVICE)
				: DT_CONCAT2(DT_PROTO, DT_SERVICE));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, iface ? IFNAMSIZ + 8 : 8);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	if (iface)
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields_if,
				   sizeof(fields_if));
	else
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields,
				   sizeof(fields));
	emit_set(bld, s, true);
	nftnl_set_free(s);

	s = set_new(bld, name, id);
	if (!s)
		return;
	for (size_t i = 0; i < rs->n_deny; i++) {
		const struct jit_deny *d = &rs->deny[i];
		uint8_t k[IFNAMSIZ + 8], ke[IFNAMSIZ + 8];
		struct nftnl_set_elem *e;
		size_t len;

		if (iface != (d->iface[0] != '\0'))
			continue;
		e = nftnl_set_elem_alloc();
		if (!e) {
			bld->err = -ENOMEM;
			break;
		}
		len = deny_key(k, iface, d->iface, false, d->proto, d->lo);
		deny_key(ke, iface, d->iface, true, d->proto, d->hi);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k, (uint32_t)len);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, ke,
				   (uint32_t)len);
		/* Each verdict chain logs (rate-limited), then denies. */
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT,
				       (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN,
				       d->action == JIT_ACTION_DROP
					       ? CHAIN_DROP
					       : CHAIN_REJECT);
		nftnl_set_elem_add(s, e);
		n++;
	}
	if (n) {
		char what[64];

		snprintf(what, sizeof(what), "elements of map %s", name);
		add_msg(bld, NFT_MSG_NEWSETELEM, NLM_F_CREATE, elems_payload, s,
			what);
	}
	nftnl_set_free(s);
}

/* Key: [remote][local][rport 2 + 2][lport 2 + 2], addresses 4 or 16. */
static size_t session_key(uint8_t *key, const struct jit_session *x)
{
	size_t alen = x->family == AF_INET ? 4 : 16;
	uint16_t rp = htons(x->rport), lp = htons(x->lport);

	memset(key, 0, 40);
	memcpy(key, x->remote, alen);
	memcpy(key + alen, x->local, alen);
	memcpy(key + 2 * alen, &rp, 2);
	memcpy(key + 2 * alen + 4, &lp, 2);
	return 2 * alen + 8;
}

static void emit_sessions(struct builder *bld, const struct jit_session *ss,
			  size_t n, bool v4)
{
	const char *name = v4 ? SET_SESSIONS_V4 : SET_SESSIONS_V6;
	uint32_t id = v4 ? SET_ID_SESSIONS_V4 : SET_ID_SESSIONS_V6;
	struct nftnl_set *s = set_new(bld, name, id);
	uint32_t dt = v4 ? DT_IPV4 : DT_IPV6;
	size_t count = 0;

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  DT_CONCAT4(dt, dt, DT_SERVICE, DT_SERVICE));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v4 ? 16 : 40);
	emit_set(bld, s, true);
	nftnl_set_free(s);

	s = set_new(bld, name, id);
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set_elem *e;
		uint8_t k[40];
		size_t len;

		if ((ss[i].family == AF_INET) != v4)
			continue;
		e = nftnl_set_elem_alloc();
		if (!e) {
			bld->err = -ENOMEM;
			break;
		}
		len = session_key(k, &ss[i]);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k, (uint32_t)len);
		nftnl_set_elem_add(s, e);
		/* Keep each message well under the 64 KiB nest limit. */
		if (++count % 512 == 0) {
			add_msg(bld, NFT_MSG_NEWSETELEM, NLM_F_CREATE,
				elems_payload, s, "elements of set sessions");
			nftnl_set_free(s);
			s = set_new(bld, name, id);
			if (!s)
				return;
		}
	}
	if (count % 512)
		add_msg(bld, NFT_MSG_NEWSETELEM, NLM_F_CREATE, elems_payload, s,
			"elements of set sessions");
	nftnl_set_free(s);
}

static void emit_grant_sets(struct builder *bld, bool flush)
{
	for (size_t i = 0; i < ARRAY_SIZE(grant_sets); i++) {
		const struct grant_set_def *g = &grant_sets[i];
		bool v4 = g->family == AF_INET;
		struct nftnl_set *s = set_new(bld, g->name, SET_ID_GRANTS + i);
		uint32_t flags = NFT_SET_TIMEOUT;

		if (!s)
			return;
		if (g->interval) {
			static const uint8_t f4[] = { 4, 1, 2 };
			static const uint8_t f6[] = { 16, 1, 2 };
			static const uint8_t fi4[] = { IFNAMSIZ, 4, 1, 2 };
			static const uint8_t fi6[] = { IFNAMSIZ, 16, 1, 2 };

			flags |= NFT_SET_INTERVAL | NFT_SET_CONCAT;
			if (g->iface)
				nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT,
						   v4 ? fi4 : fi6, 4);
			else
				nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT,
						   v4 ? f4 : f6, 3);
		}
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  g->iface ? DT_CONCAT4(DT_IFNAME,
							v4 ? DT_IPV4 : DT_IPV6,
							DT_PROTO, DT_SERVICE)
					   : DT_CONCAT3(v4 ? DT_IPV4 : DT_IPV6,
							DT_PROTO, DT_SERVICE));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN,
				  (g->iface ? IFNAMSIZ : 0) + (v4 ? 12 : 24));
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, GRANT_SET_TIMEOUT_MS);
		emit_set(bld, s, flush);
		nftnl_set_free(s);
	}
}

static void emit_unrecorded_set(struct builder *bld)
{
	struct nftnl_set *s = set_new(bld, SET_UNRECORDED, SET_ID_UNRECORDED);

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_INTEGER);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
	nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, GRANT_SET_TIMEOUT_MS);
	emit_set(bld, s, false);
	nftnl_set_free(s);
}

/*
 * "limit rate R/second burst 2R packets log group G prefix P": the limit
 * keeps a flood from drowning the agent; over it, packets are denied
 * without a log message.
 */
static void emit_log_rule(struct builder *bld, const struct jit_ruleset *rs,
			  const char *chain, const char *prefix)
{
	if (!rs->log_rate)
		return;
	rule_begin(bld, chain);
	e_limit(bld, rs->log_rate, rs->log_rate * LOG_BURST_FACTOR);
	e_log(bld, rs->log_group, prefix, 128);
	rule_end(bld, "rule 'limit rate ... log group ...'");
}

static void emit_drop_chain(struct builder *bld, const struct jit_ruleset *rs)
{
	emit_chain(bld, CHAIN_DROP, false);
	emit_log_rule(bld, rs, CHAIN_DROP, JIT_LOG_PREFIX_DROP);
	rule_begin(bld, CHAIN_DROP);
	e_verdict(bld, NF_DROP);
	rule_end(bld, "rule 'drop'");
}

static void emit_reject_chain(struct builder *bld, const struct jit_ruleset *rs)
{
	emit_chain(bld, CHAIN_REJECT, false);
	emit_log_rule(bld, rs, CHAIN_REJECT, JIT_LOG_PREFIX_REJECT);

	rule_begin(bld, CHAIN_REJECT);
	e_meta(bld, NFT_META_L4PROTO, NFT_REG32_00);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, IPPROTO_TCP);
	e_reject(bld, NFT_REJECT_TCP_RST, 0);
	rule_end(bld, "rule 'meta l4proto tcp reject with tcp reset'");

	rule_begin(bld, CHAIN_REJECT);
	e_reject(bld, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH);
	rule_end(bld, "rule 'reject with icmpx port-unreachable'");
}

/* "meta l4proto udp udp dport P" */
static void e_udp_dport(struct builder *bld, uint16_t port)
{
	uint16_t be = htons(port);

	e_meta(bld, NFT_META_L4PROTO, NFT_REG32_00);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, IPPROTO_UDP);
	e_payload(bld, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00);
	e_cmp(bld, NFT_REG32_00, NFT_CMP_EQ, &be, sizeof(be));
}

/*
 * SPA packets reach the agent through the table, never through a socket:
 * copied whole to their own NFLOG group (at most so many per second), and
 * dropped, so that the port answers nothing, not even ICMP.
 */
static void emit_spa_meters(struct builder *bld, const struct jit_ruleset *rs)
{
	for (int v4 = 1; v4 >= 0; v4--) {
		const char *name = v4 ? SET_SPA_METER_V4 : SET_SPA_METER_V6;
		uint32_t id = v4 ? SET_ID_SPA_METER_V4 : SET_ID_SPA_METER_V6;
		struct nftnl_set *s;

		if (!rs->spa_port)
			return;
		s = set_new(bld, name, id);
		if (!s)
			return;
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS,
				  NFT_SET_EVAL | NFT_SET_TIMEOUT);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  v4 ? DT_IPV4 : DT_IPV6);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v4 ? 4 : 16);
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, SPA_METER_SIZE);
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, SPA_METER_TIMEOUT_MS);
		emit_set(bld, s, false);
		nftnl_set_free(s);
	}
}

/*
 * "udp dport P update @spa_meter_v4 { ip saddr limit rate over R/second
 * burst B packets } drop", and for IPv6 keyed by the source's /64.
 */
static void emit_spa_meter_rules(struct builder *bld,
				 const struct jit_ruleset *rs)
{
	static const uint8_t mask64[16] = { 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[16];

	for (int v4 = 1; v4 >= 0; v4--) {
		rule_begin(bld, CHAIN_INPUT);
		e_udp_dport(bld, rs->spa_port);
		e_nfproto(bld, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		e_payload(bld, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8,
			  v4 ? 4 : 16, NFT_REG32_00);
		if (!v4) {
			struct nftnl_expr *e = e_new(bld, "bitwise");

			if (e) {
				nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG,
						   NFT_REG32_00);
				nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG,
						   NFT_REG32_00);
				nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN,
						   16);
				nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK,
					       mask64, 16);
				nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero,
					       16);
			}
			e_add(bld, e);
		}
		e_meter_over(bld, v4 ? SET_SPA_METER_V4 : SET_SPA_METER_V6,
			     v4 ? SET_ID_SPA_METER_V4 : SET_ID_SPA_METER_V6,
			     JIT_SPA_SOURCE_RATE, JIT_SPA_SOURCE_BURST);
		e_verdict(bld, NF_DROP);
		rule_end(bld, v4 ? "rule 'udp dport P update @spa_meter_v4 { "
				   "ip saddr limit rate over ... } drop'"
				 : "rule 'udp dport P update @spa_meter_v6 { "
				   "ip6 saddr & ffff:ffff:ffff:ffff:: limit "
				   "rate over ... } drop'");
	}
}

static void emit_spa_rules(struct builder *bld, const struct jit_ruleset *rs)
{
	if (!rs->spa_port)
		return;
	emit_spa_meter_rules(bld, rs);
	rule_begin(bld, CHAIN_INPUT);
	e_udp_dport(bld, rs->spa_port);
	e_limit(bld, JIT_SPA_LOG_RATE, JIT_SPA_LOG_RATE);
	e_log(bld, rs->spa_group, JIT_LOG_PREFIX_SPA, JIT_SPA_SNAPLEN);
	e_verdict(bld, NF_DROP);
	rule_end(bld, "rule 'udp dport P limit ... log group G drop'");

	rule_begin(bld, CHAIN_INPUT);
	e_udp_dport(bld, rs->spa_port);
	e_verdict(bld, NF_DROP);
	rule_end(bld, "rule 'udp dport P drop'");
}

/* Fast path: traffic to ports no policy protects is not ours. */
static void emit_unprotected_accept(struct builder *bld)
{
	rule_begin(bld, CHAIN_INPUT);
	e_proto_port(bld, NFT_REG32_00);
	e_lookup(bld, NFT_REG32_00, SET_PROTECTED, SET_ID_PROTECTED, false,
		 true);
	e_verdict(bld, NF_ACCEPT);
	rule_end(bld, "rule 'meta l4proto . th dport != @protected accept'");
}

static void emit_established_accept(struct builder *bld)
{
	rule_begin(bld, CHAIN_INPUT);
	e_ct_state(bld, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
				NF_CT_STATE_BIT(IP_CT_RELATED));
	e_verdict(bld, NF_ACCEPT);
	rule_end(bld, "rule 'ct state established,related accept'");
}

/*
 * "ip saddr . meta l4proto . th dport @grants_v4 accept", one per set;
 * "iifname . ip saddr . ..." for the sets of interface-scoped grants.
 */
static void emit_grant_accepts(struct builder *bld)
{
	for (size_t i = 0; i < ARRAY_SIZE(grant_sets); i++) {
		const struct grant_set_def *g = &grant_sets[i];
		bool v4 = g->family == AF_INET;
		/* iifname takes REG32_00..03 (IFNAMSIZ bytes). */
		uint32_t saddr = g->iface ? NFT_REG32_04 : NFT_REG32_00;
		char what[112];

		snprintf(what, sizeof(what),
			 "rule '%s%s saddr . meta l4proto . th dport @%s "
			 "accept'",
			 g->iface ? "iifname . " : "", v4 ? "ip" : "ip6",
			 g->name);
		rule_begin(bld, CHAIN_INPUT);
		e_nfproto(bld, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		if (g->iface)
			e_meta(bld, NFT_META_IIFNAME, NFT_REG32_00);
		e_payload(bld, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8,
			  v4 ? 4 : 16, saddr);
		e_proto_port(bld, saddr + (v4 ? 1 : 4));
		e_lookup(bld, NFT_REG32_00, g->name,
			 SET_ID_GRANTS + (uint32_t)i, false, false);
		e_verdict(bld, NF_ACCEPT);
		rule_end(bld, what);
	}
}

/*
 * A session older than our conntrack state is picked up mid-stream
 * as "new". Let it through only if it carries ACK without SYN/RST,
 * its exact 4-tuple was a connected local socket at our last commit,
 * and a local socket bound to a specific address still owns it.
 * docs/security.md ("Sessions older than the agent") says why that is
 * sound.
 */
static void emit_session_accept(struct builder *bld, bool v4)
{
	rule_begin(bld, CHAIN_INPUT);
	e_nfproto(bld, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
	e_ct_state(bld, NF_CT_STATE_BIT(IP_CT_NEW));
	e_meta(bld, NFT_META_L4PROTO, NFT_REG32_00);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, IPPROTO_TCP);
	e_payload(bld, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1, NFT_REG32_00);
	e_mask(bld, NFT_REG32_00, 1, 0x02 | 0x04 | 0x10);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, 0x10);
	/* saddr and daddr are adjacent in both headers. */
	e_payload(bld, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 12 : 8, v4 ? 8 : 32,
		  NFT_REG32_00);
	e_payload(bld, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2,
		  v4 ? NFT_REG32_02 : NFT_REG32_08);
	e_payload(bld, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
		  v4 ? NFT_REG32_03 : NFT_REG32_09);
	e_lookup(bld, NFT_REG32_00, v4 ? SET_SESSIONS_V4 : SET_SESSIONS_V6,
		 v4 ? SET_ID_SESSIONS_V4 : SET_ID_SESSIONS_V6, false, false);
	e_socket_wildcard(bld, NFT_REG32_00);
	e_cmp_u8(bld, NFT_REG32_00, NFT_CMP_EQ, 0);
	e_verdict(bld, NF_ACCEPT);
	rule_end(bld, v4 ? "rule 'ct state new tcp flags ack / syn,rst,ack "
			   "ip saddr . ip daddr . th sport . th dport "
			   "@sessions_v4 socket wildcard 0 accept'"
			 : "rule 'ct state new tcp flags ack / syn,rst,ack "
			   "ip6 saddr . ip6 daddr . th sport . th dport "
			   "@sessions_v6 socket wildcard 0 accept'");
}

/* What is left of the protected ports goes to the policies' verdicts. */
static void emit_deny_vmaps(struct builder *bld)
{
	rule_begin(bld, CHAIN_INPUT);
	e_proto_port(bld, NFT_REG32_00);
	e_lookup(bld, NFT_REG32_00, MAP_DENY, SET_ID_DENY, true, false);
	rule_end(bld, "rule 'meta l4proto . th dport vmap @deny'");

	rule_begin(bld, CHAIN_INPUT);
	e_meta(bld, NFT_META_IIFNAME, NFT_REG32_00);
	e_proto_port(bld, NFT_REG32_04);
	e_lookup(bld, NFT_REG32_00, MAP_DENY_IFACE, SET_ID_DENY_IFACE, true,
		 false);
	rule_end(bld,
		 "rule 'iifname . meta l4proto . th dport vmap @deny_iface'");
}

static void emit_input_chain(struct builder *bld, const struct jit_ruleset *rs)
{
	emit_chain(bld, CHAIN_INPUT, true);
	emit_spa_rules(bld, rs);
	emit_unprotected_accept(bld);
	emit_established_accept(bld);
	emit_grant_accepts(bld);
	emit_session_accept(bld, true);
	emit_session_accept(bld, false);
	emit_deny_vmaps(bld);
}

struct commit_args {
	const struct jit_ruleset *rs;
	const struct jit_session *sessions;
	size_t n_sessions;
	bool sync_grants;
	const struct jit_elem *elems;
	size_t n_elems;
	uint64_t now_ms;
	/* sync_grants as this difference to what the kernel holds
	 * (t->held), not whole */
	const struct grant_diff *diff;
	uint32_t genid; /* with diff: the generation it is against */
	/* -ERESTART is returned (the caller reads the sets again) rather
	 * than answered by filling them whole */
	bool restart_reads;
};

static void emit_grant_elems(struct builder *bld, const struct jit_elem *elems,
			     size_t n, uint64_t now_ms);
struct grant_diff;
static void emit_grant_diff(struct builder *bld, const struct jit_elem *elems,
			    size_t n, const struct raw_elem *held,
			    size_t n_held, const struct grant_diff *gd,
			    uint64_t now_ms, uint16_t del_type);

/*
 * Every transaction of the table goes through here: what the generation
 * is after it is known only when commit_once says so (a transaction
 * checked against the one before).
 */
static int table_send(struct jit_table *t, struct jit_batch *b, char *err,
		      size_t errlen, int *failed_type)
{
	t->last_genid = 0;
	return batch_commit(b, err, errlen, failed_type);
}

/* The generation a transaction checked against genid leaves (never 0). */
static uint32_t next_genid(uint32_t genid)
{
	return genid + 1 ? genid + 1 : 1;
}

static int build_commit(struct jit_table *t, const struct commit_args *a,
			uint32_t table_flags, bool replace,
			struct jit_batch **ret)
{
	struct builder bld = { .table = t->name };

	bld.b = batch_new_at(t->nft, a->diff && !replace ? a->genid : 0);
	if (!bld.b)
		return -ENOMEM;
	/*
	 * Replacing deletes first: a NEWTABLE on an existing table whose
	 * flags differ (e.g. persist) would fail before the delete ran.
	 */
	if (replace)
		emit_table(&bld, NFT_MSG_DELTABLE, 0);
	emit_table(&bld, NFT_MSG_NEWTABLE, table_flags);
	emit_drop_chain(&bld, a->rs);
	emit_reject_chain(&bld, a->rs);
	emit_protected(&bld, a->rs);
	emit_deny(&bld, a->rs, false);
	emit_deny(&bld, a->rs, true);
	emit_sessions(&bld, a->sessions, a->n_sessions, true);
	emit_sessions(&bld, a->sessions, a->n_sessions, false);
	/* Without a view of the kernel's elements: flush, then add all. */
	emit_grant_sets(&bld, a->sync_grants && (replace || !a->diff));
	emit_unrecorded_set(&bld);
	emit_spa_meters(&bld, a->rs);
	if (a->sync_grants) {
		if (a->diff && !replace) {
			emit_grant_diff(&bld, a->elems, a->n_elems, t->held,
					t->n_held, a->diff, a->now_ms,
					t->no_destroy ? NFT_MSG_DELSETELEM
						      : JIT_MSG_DESTROYSETELEM);
		} else {
			emit_grant_elems(&bld, a->elems, a->n_elems, a->now_ms);
			t->sync = (struct table_sync_stats){
				.added = a->n_elems,
				.whole = true,
				.read_us = t->sync.read_us,
			};
		}
	}
	emit_input_chain(&bld, a->rs);
	if (bld.err) {
		batch_free(bld.b);
		return bld.err;
	}
	*ret = bld.b;
	return 0;
}

static int commit_once(struct jit_table *t, const struct commit_args *rs,
		       uint32_t flags, bool replace, char *err, size_t errlen,
		       int *failed_type)
{
	struct commit_args a = *rs;

	for (;;) {
		struct jit_batch *b = NULL;
		int r;

		r = build_commit(t, &a, flags, replace, &b);
		if (r < 0) {
			snprintf(err, errlen, "building ruleset: %s",
				 strerror(-r));
			return r;
		}
		r = table_send(t, b, err, errlen, failed_type);
		batch_free(b);
		if (r < 0 && a.diff && !t->no_destroy &&
		    *failed_type == JIT_MSG_DESTROYSETELEM &&
		    (r == -EINVAL || r == -EOPNOTSUPP)) {
			/* Before Linux 6.3: DELSETELEM only. */
			t->no_destroy = true;
			continue;
		}
		if (r == -ERESTART && a.diff) {
			/* The ruleset changed since the grant sets were
			 * read (another process): read them again, or
			 * replace them whole. */
			if (a.restart_reads)
				return r;
			a.diff = NULL;
			continue;
		}
		if (r == 0)
			t->last_genid =
				a.diff && !replace ? next_genid(a.genid) : 0;
		if (r == -ENOENT && a.diff &&
		    *failed_type == NFT_MSG_DELSETELEM) {
			/* An element expired since the dump, and this kernel
			 * cannot delete "if present": fill the sets whole. */
			a.diff = NULL;
			continue;
		}
		return r;
	}
}

int table_open(const char *name, bool allow_owner, struct jit_table **ret)
{
	struct jit_table *t;
	int r;

	if (!name[0] || strlen(name) > JIT_TABLE_NAME_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = nft_open(&t->nft);
	if (r < 0) {
		free(t);
		return r;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->allow_owner = allow_owner;
	t->mode = JIT_TABLE_PLAIN;
	*ret = t;
	return 0;
}

struct jit_table *table_close(struct jit_table *t)
{
	if (t) {
		(void)read_ahead_take(t);
		held_drop(t);
		nft_close(t->nft);
		free(t);
	}
	return NULL;
}

enum jit_table_mode table_mode(const struct jit_table *t)
{
	return t->mode;
}

uint32_t table_portid(const struct jit_table *t)
{
	return nft_portid(t->nft);
}

const char *table_name(const struct jit_table *t)
{
	return t->name;
}

static uint32_t mode_flags(enum jit_table_mode m)
{
	return m == JIT_TABLE_OWNER_PERSIST
		       ? NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST
		       : 0;
}

static int commit_common(struct jit_table *t, const struct commit_args *rs,
			 char *err, size_t errlen)
{
	int failed_type, r;

	if (t->probed)
		return commit_once(t, rs, mode_flags(t->mode), false, err,
				   errlen, &failed_type);

	/*
	 * First commit: try owner+persist, then a plain table if the kernel
	 * does not know the flags. A table left by an earlier version with a
	 * different layout is replaced whole, still in one transaction.
	 */
	static const enum jit_table_mode modes[] = { JIT_TABLE_OWNER_PERSIST,
						     JIT_TABLE_PLAIN };
	r = -EINVAL;
	for (size_t i = t->allow_owner ? 0 : 1; i < ARRAY_SIZE(modes); i++) {
		uint32_t flags = mode_flags(modes[i]);

		r = commit_once(t, rs, flags, false, err, errlen, &failed_type);
		if (r == -EEXIST || r == -EOPNOTSUPP || r == -EBUSY ||
		    (r == -EINVAL && failed_type != NFT_MSG_NEWTABLE)) {
			char err2[256];
			int r2 = commit_once(t, rs, flags, true, err2,
					     sizeof(err2), &failed_type);

			if (r2 == 0) {
				t->mode = modes[i];
				t->probed = true;
				err[0] = '\0';
				return 1;
			}
		}
		if (r == 0) {
			t->mode = modes[i];
			t->probed = true;
			return 0;
		}
		/* Unknown table flags: fall back to a plain table. */
		if (failed_type == NFT_MSG_NEWTABLE &&
		    (r == -EOPNOTSUPP || r == -EINVAL))
			continue;
		break;
	}
	return r;
}

int table_commit(struct jit_table *t, const struct jit_ruleset *ruleset,
		 const struct jit_session *sessions, size_t n_sessions,
		 char *err, size_t errlen)
{
	const struct commit_args args = {
		.rs = ruleset,
		.sessions = sessions,
		.n_sessions = n_sessions,
	};
	int r = commit_common(t, &args, err, errlen);

	if (r != 0)
		held_drop(t);
	return r;
}

/* ---- grant elements --------------------------------------------------- */

#define ELEMS_PER_MSG  512
#define MIN_TIMEOUT_MS 1000

/* One pending set-element message per grant set. */
struct elem_acc {
	struct builder *bld;
	uint16_t type;
	struct nftnl_set *s[ARRAY_SIZE(grant_sets)];
	size_t n[ARRAY_SIZE(grant_sets)];
};

static void acc_flush(struct elem_acc *acc, size_t i)
{
	char what[64];

	if (!acc->s[i])
		return;
	if (acc->n[i]) {
		snprintf(what, sizeof(what), "%s elements of set %s",
			 acc->type == NFT_MSG_NEWSETELEM ? "adding"
							 : "removing",
			 grant_sets[i].name);
		add_msg(acc->bld, acc->type,
			acc->type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
			elems_payload, acc->s[i], what);
	}
	nftnl_set_free(acc->s[i]);
	acc->s[i] = NULL;
	acc->n[i] = 0;
}

static void acc_flush_all(struct elem_acc *acc)
{
	for (size_t i = 0; i < ARRAY_SIZE(grant_sets); i++)
		acc_flush(acc, i);
}

static void acc_add(struct elem_acc *acc, size_t i, const uint8_t *key,
		    const uint8_t *key_end, uint32_t len, uint64_t timeout_ms)
{
	struct nftnl_set_elem *e;

	if (acc->bld->err)
		return;
	if (!acc->s[i]) {
		acc->s[i] = set_new(acc->bld, grant_sets[i].name,
				    SET_ID_GRANTS + (uint32_t)i);
		if (!acc->s[i])
			return;
	}
	e = nftnl_set_elem_alloc();
	if (!e) {
		acc->bld->err = -ENOMEM;
		return;
	}
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (key_end)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, key_end, len);
	if (timeout_ms)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
	nftnl_set_elem_add(acc->s[i], e);
	if (++acc->n[i] >= ELEMS_PER_MSG)
		acc_flush(acc, i);
}

#define GRANT_KEY_MAX (IFNAMSIZ + 24)
_Static_assert(GRANT_KEY_MAX <= RAW_KEY_MAX, "a raw element holds every key");

/*
 * [ifname 16 (interface-scoped sets only)][addr 4|16][proto 1 + 3]
 * [port 2 + 2]; ifname NULL for the others.
 */
static uint32_t grant_elem_key(uint8_t *key, const uint8_t *ifname,
			       const uint8_t *addr, unsigned alen,
			       uint8_t proto, uint16_t port)
{
	uint16_t p = htons(port);
	unsigned off = ifname ? IFNAMSIZ : 0;

	memset(key, 0, GRANT_KEY_MAX);
	if (ifname)
		memcpy(key, ifname, IFNAMSIZ);
	memcpy(key + off, addr, alen);
	key[off + alen] = proto;
	memcpy(key + off + alen + 4, &p, 2);
	return off + alen + 8;
}

/* Which grant set holds e, and its key bytes there. */
static void elem_raw(const struct jit_elem *e, struct raw_elem *out)
{
	unsigned alen = e->family == AF_INET ? 4 : 16;

	memset(out, 0, sizeof(*out));
	out->set = (uint8_t)grant_set_of(e);
	out->len = (uint8_t)grant_elem_key(
		out->key, e->iface ? e->ifname_lo : NULL, e->addr_lo, alen,
		e->proto, e->port_lo);
	if (e->interval)
		grant_elem_key(out->key_end, e->iface ? e->ifname_hi : NULL,
			       e->addr_hi, alen, e->proto, e->port_hi);
	out->end_ms = e->end_ms;
}

/*
 * One element. The timeout is what is left of its end at now_ms, at least
 * a second (0 would mean "never"); deletes carry none.
 */
static void acc_raw(struct elem_acc *acc, const struct raw_elem *x,
		    uint64_t now_ms, bool with_timeout)
{
	uint64_t timeout = 0;

	if (with_timeout) {
		timeout = x->end_ms > now_ms ? x->end_ms - now_ms : 0;
		if (timeout < MIN_TIMEOUT_MS)
			timeout = MIN_TIMEOUT_MS;
	}
	acc_add(acc, x->set, x->key,
		grant_sets[x->set].interval ? x->key_end : NULL, x->len,
		timeout);
}

static void acc_elem(struct elem_acc *acc, const struct jit_elem *e,
		     uint64_t now_ms, bool with_timeout)
{
	struct raw_elem x;

	elem_raw(e, &x);
	acc_raw(acc, &x, now_ms, with_timeout);
}

static void emit_grant_elems(struct builder *bld, const struct jit_elem *elems,
			     size_t n, uint64_t now_ms)
{
	struct elem_acc acc = { .bld = bld, .type = NFT_MSG_NEWSETELEM };

	for (size_t i = 0; i < n; i++)
		acc_elem(&acc, &elems[i], now_ms, true);
	acc_flush_all(&acc);
}

static int raw_cmp(const void *a, const void *b)
{
	const struct raw_elem *x = a, *y = b;
	int c;

	if (x->set != y->set)
		return x->set < y->set ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->key, y->key, x->len);
	if (c)
		return c;
	return memcmp(x->key_end, y->key_end, x->len);
}

/*
 * An element whose end in the kernel is this close to the wanted one is
 * kept. The kernel starts an element's timeout when it processes the
 * message, later than the clock the timeout was computed from by up to
 * the time the batch took (hundreds of ms for 100,000 elements on a busy
 * host); it counts in jiffies; and a dump's clock is read per message.
 */
#define END_TOLERANCE_MS 1000

static bool same_end(uint64_t a, uint64_t b)
{
	return (a > b ? a - b : b - a) <= END_TOLERANCE_MS;
}

/**
 * struct grant_diff - what the kernel holds against what the records want
 * @held: per element the kernel holds: KEEP, or else it is deleted
 * @want: per wanted element: ADD (missing), READD (held with another end:
 *        deleted and added in the same transaction), or 0 (held as wanted,
 *        or added already)
 * @n_missing: wanted elements marked ADD
 */
struct grant_diff {
	uint8_t *held;
	uint8_t *want;
	size_t n_missing;
};

enum { DIFF_KEEP = 1, DIFF_ADD, DIFF_READD };

static void grant_diff_free(struct grant_diff *gd)
{
	free(gd->held);
	free(gd->want);
	*gd = (struct grant_diff){ 0 };
}

/*
 * Compare the n wanted elements with what the kernel holds (held, sorted
 * by raw_cmp). Each element changed costs the kernel an event message
 * when anyone on the host listens for nftables events, so an element held
 * as wanted must cost nothing.
 */
static int grant_diff_compute(struct grant_diff *gd,
			      const struct jit_elem *elems, size_t n,
			      const struct raw_elem *held, size_t n_held,
			      struct table_sync_stats *st)
{
	*gd = (struct grant_diff){ .held = calloc(n_held + 1, 1),
				   .want = calloc(n + 1, 1) };
	if (!gd->held || !gd->want) {
		grant_diff_free(gd);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct raw_elem *k;
		struct raw_elem x;

		elem_raw(&elems[i], &x);
		k = n_held ? bsearch(&x, held, n_held, sizeof(*held), raw_cmp)
			   : NULL;
		if (k && !gd->held[k - held] && same_end(k->end_ms, x.end_ms)) {
			gd->held[k - held] = DIFF_KEEP;
			st->kept++;
			continue;
		}
		if (k)
			gd->held[k - held] = DIFF_READD;
		gd->want[i] = k ? DIFF_READD : DIFF_ADD;
		gd->n_missing += !k;
		st->added++;
	}
	for (size_t i = 0; i < n_held; i++)
		st->removed += gd->held[i] != DIFF_KEEP;
	return 0;
}

/*
 * The diff's changes: deletes first (an element with another end is
 * deleted, then added again, in the same transaction), then adds.
 */
static void emit_grant_diff(struct builder *bld, const struct jit_elem *elems,
			    size_t n, const struct raw_elem *held,
			    size_t n_held, const struct grant_diff *gd,
			    uint64_t now_ms, uint16_t del_type)
{
	struct elem_acc del = { .bld = bld, .type = del_type };
	struct elem_acc put = { .bld = bld, .type = NFT_MSG_NEWSETELEM };

	for (size_t i = 0; i < n_held; i++)
		if (gd->held[i] != DIFF_KEEP)
			acc_raw(&del, &held[i], now_ms, false);
	acc_flush_all(&del);
	for (size_t i = 0; i < n; i++)
		if (gd->want[i])
			acc_elem(&put, &elems[i], now_ms, true);
	acc_flush_all(&put);
}

/*
 * Elements missing from the kernel beyond a transaction's worth go in
 * first, PRELOAD_CHUNK to a transaction, before the one with the ruleset
 * and the rest. Adding an element only opens what a live record grants,
 * so nothing opens early and no live grant is closed meanwhile. While
 * anyone on the host listens for nftables events, the kernel keeps an
 * event message (a buffer of a page or more) per element until the end of
 * its transaction: 100,000 elements in one made it allocate hundreds of MB
 * and spend most of the batch there; in chunks the same buffers are
 * reused.
 */
#define PRELOAD_CHUNK 4096

static int preload(struct jit_table *t, struct commit_args *a,
		   struct grant_diff *gd, uint64_t t0)
{
	static const enum jit_table_mode modes[] = { JIT_TABLE_OWNER_PERSIST,
						     JIT_TABLE_PLAIN };
	size_t mode = t->probed ? (t->mode == JIT_TABLE_PLAIN)
				: (t->allow_owner ? 0 : 1);
	size_t i = 0;

	while (gd->n_missing > PRELOAD_CHUNK) {
		struct builder bld = { .table = t->name };
		struct elem_acc put = { .bld = &bld,
					.type = NFT_MSG_NEWSETELEM };
		uint64_t now = a->now_ms + (now_mono_ms() - t0);
		size_t k = 0, j = i;
		int failed_type = -1, r;

		/* Against the generation the sets were read in, as the
		 * commit after it. */
		bld.b = batch_new_at(t->nft, a->genid);
		if (!bld.b)
			return -ENOMEM;
		/* The table as the first commit will claim it. */
		emit_table(&bld, NFT_MSG_NEWTABLE, mode_flags(modes[mode]));
		emit_grant_sets(&bld, false);
		for (; j < a->n_elems && k < PRELOAD_CHUNK; j++)
			if (gd->want[j] == DIFF_ADD) {
				acc_elem(&put, &a->elems[j], now, true);
				k++;
			}
		acc_flush_all(&put);
		r = bld.err;
		if (!r)
			r = table_send(t, bld.b, NULL, 0, &failed_type);
		batch_free(bld.b);
		if (r < 0 && !t->probed && mode == 0 &&
		    failed_type == NFT_MSG_NEWTABLE &&
		    (r == -EOPNOTSUPP || r == -EINVAL)) {
			mode = 1; /* no owner+persist here */
			continue;
		}
		if (r < 0)
			return r; /* the commit sends what is left */
		for (; i < j; i++)
			if (gd->want[i] == DIFF_ADD)
				gd->want[i] = 0;
		gd->n_missing -= k;
		/* Ours: the commit's generation moves with it. */
		if (a->genid && ++a->genid == 0)
			a->genid = 1;
	}
	return 0;
}

/*
 * The diff of elems against what the kernel holds: the view table_trust
 * vouched for (the sets hold exactly elems while the generation stays),
 * else the sets as read (the start's read ahead if recent). Returns 0 with
 * a->diff and a->genid set, or no diff (the sets are then filled whole).
 */
static void diff_prepare(struct jit_table *t, struct commit_args *a,
			 struct grant_diff *gd, bool read_again)
{
	uint32_t now_gen = 0;
	int r;

	a->diff = NULL;
	a->genid = 0;
	if (t->trusted && !read_again) {
		t->trusted = false;
		(void)read_ahead_take(t);
		held_drop(t);
		if (nft_genid(t->nft, &now_gen) == 0 &&
		    now_gen == t->trust_genid) {
			*gd = (struct grant_diff){ .held = calloc(1, 1),
						   .want = calloc(
							   a->n_elems + 1, 1) };
			if (gd->held && gd->want) {
				t->sync.kept = a->n_elems;
				t->sync.trusted = true;
				a->diff = gd;
				a->genid = t->trust_genid;
				return;
			}
			grant_diff_free(gd);
		}
	}
	t->trusted = false;
	if (read_again || t->ahead || !t->have_held ||
	    now_mono_ms() - t->held_at_ms > HELD_MAX_AGE_MS) {
		uint64_t r0 = now_mono_us();

		if (read_again) {
			(void)read_ahead_take(t);
			held_drop(t);
		}
		r = held_read(t);
		if (r < 0 && r != -ENOENT)
			held_drop(t);
		t->sync.read_us += now_mono_us() - r0;
	}
	/* A difference is only sent against the generation it was read in:
	 * without one, the sets are filled whole. */
	if (!t->have_held || !t->held_genid)
		return;
	if (grant_diff_compute(gd, a->elems, a->n_elems, t->held, t->n_held,
			       &t->sync) == 0) {
		a->diff = gd;
		a->genid = t->held_genid;
	} else {
		t->sync =
			(struct table_sync_stats){ .read_us = t->sync.read_us };
	}
}

int table_commit_all(struct jit_table *t, const struct jit_ruleset *ruleset,
		     const struct jit_session *sessions, size_t n_sessions,
		     const struct jit_elem *elems, size_t n_elems,
		     uint64_t now_ms, char *err, size_t errlen)
{
	struct commit_args a = {
		.rs = ruleset,
		.sessions = sessions,
		.n_sessions = n_sessions,
		.sync_grants = true,
		.elems = elems,
		.n_elems = n_elems,
		.now_ms = now_ms,
	};
	uint64_t t0 = now_mono_ms();
	int r = -ERESTART;

	/*
	 * Compare with what the kernel holds and change only the
	 * difference: a start, a restart or a repair with the table in
	 * place then rewrites nothing that is right already. If another
	 * process commits between the read and the commit, the sets are
	 * read once more, then filled whole.
	 */
	t->sync = (struct table_sync_stats){ 0 };
	for (int attempt = 0; attempt < 2 && r == -ERESTART; attempt++) {
		struct grant_diff gd = { 0 };
		size_t read_us = t->sync.read_us;

		t->sync = (struct table_sync_stats){ .read_us = read_us };
		a.now_ms = now_ms;
		diff_prepare(t, &a, &gd, attempt > 0);
		a.restart_reads = attempt == 0;
		if (a.diff)
			(void)preload(t, &a, &gd, t0);
		/* Timeouts count from now, not from before the dump. */
		a.now_ms = now_ms + (now_mono_ms() - t0);
		r = commit_common(t, &a, err, errlen);
		grant_diff_free(&gd);
		held_drop(t);
	}
	return r;
}

void table_trust(struct jit_table *t, uint32_t genid)
{
	t->trusted = genid != 0;
	t->trust_genid = genid;
}

uint32_t table_last_genid(const struct jit_table *t)
{
	return t->last_genid;
}

int table_genid(struct jit_table *t, uint32_t *ret)
{
	return nft_genid(t->nft, ret);
}

static int elems_batch(struct jit_table *t, const struct jit_elem *del,
		       size_t n_del, const struct jit_elem *add, size_t n_add,
		       uint64_t now_ms, uint16_t del_type, char *err,
		       size_t errlen, int *failed_type)
{
	struct builder bld = { .table = t->name };
	struct elem_acc acc = { .bld = &bld, .type = del_type };
	int r;

	bld.b = batch_new(t->nft);
	if (!bld.b)
		return -ENOMEM;
	for (size_t i = 0; i < n_del; i++)
		acc_elem(&acc, &del[i], now_ms, false);
	acc_flush_all(&acc);
	emit_grant_elems(&bld, add, n_add, now_ms);
	r = bld.err;
	if (r < 0)
		snprintf(err, errlen, "building grant batch: %s", strerror(-r));
	else if (batch_count(bld.b))
		r = table_send(t, bld.b, err, errlen, failed_type);
	batch_free(bld.b);
	return r;
}

int table_elems_update(struct jit_table *t, const struct jit_elem *del,
		       size_t n_del, const struct jit_elem *add, size_t n_add,
		       uint64_t now_ms, char *err, size_t errlen)
{
	int failed_type = -1, r;

	if (!n_del && !n_add)
		return 0;
	held_drop(t);
	if (!t->no_destroy) {
		r = elems_batch(t, del, n_del, add, n_add, now_ms,
				JIT_MSG_DESTROYSETELEM, err, errlen,
				&failed_type);
		if (!(n_del && failed_type == JIT_MSG_DESTROYSETELEM &&
		      (r == -EINVAL || r == -EOPNOTSUPP)))
			return r;
		t->no_destroy = true;
	}
	/*
	 * Before Linux 6.3 there is only DELSETELEM, which fails the whole
	 * batch on an element that already expired. Then the deletes are
	 * sent one batch at a time, the missing ones skipped, and the adds
	 * follow.
	 */
	r = elems_batch(t, del, n_del, add, n_add, now_ms, NFT_MSG_DELSETELEM,
			err, errlen, &failed_type);
	if (r != -ENOENT || failed_type != NFT_MSG_DELSETELEM)
		return r;
	for (size_t i = 0; i < n_del; i++) {
		r = elems_batch(t, &del[i], 1, NULL, 0, now_ms,
				NFT_MSG_DELSETELEM, err, errlen, &failed_type);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return elems_batch(t, NULL, 0, add, n_add, now_ms, NFT_MSG_DELSETELEM,
			   err, errlen, &failed_type);
}

struct dump_state {
	struct nftnl_set *s;
	const char *name;
	const char *table;
};

static void dump_reset(void *data)
{
	struct dump_state *d = data;

	if (d->s)
		nftnl_set_free(d->s);
	d->s = nftnl_set_alloc();
	if (d->s) {
		nftnl_set_set_str(d->s, NFTNL_SET_TABLE, d->table);
		nftnl_set_set_str(d->s, NFTNL_SET_NAME, d->name);
		nftnl_set_set_u32(d->s, NFTNL_SET_FAMILY, NFPROTO_INET);
	}
}

static int dump_elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_state *d = data;

	if (!d->s)
		return -ENOMEM;
	return nftnl_set_elems_nlmsg_parse(nlh, d->s) < 0 ? -EPROTO : 0;
}

static void dump_build(struct nlmsghdr *nlh, const void *obj)
{
	nftnl_set_elems_nlmsg_build_payload(nlh, (struct nftnl_set *)obj);
}

/* A kernel element as ours, or -EINVAL for one the agent never writes. */
static int elem_of(const struct raw_elem *x, struct jit_elem *out)
{
	const struct grant_set_def *g = &grant_sets[x->set];
	unsigned alen = g->family == AF_INET ? 4 : 16;
	unsigned off = g->iface ? IFNAMSIZ : 0;
	const uint8_t *key = x->key, *key_end = g->interval ? x->key_end : key;
	uint16_t port, port_end;

	memset(out, 0, sizeof(*out));
	if (x->len != off + alen + 8 || key_end[off + alen] != key[off + alen])
		return -EINVAL;
	if (g->iface) {
		out->iface = true;
		memcpy(out->ifname_lo, key, IFNAMSIZ);
		memcpy(out->ifname_hi, key_end, IFNAMSIZ);
		if (memcmp(key, key_end, IFNAMSIZ) > 0)
			return -EINVAL;
		key += off;
		key_end += off;
	}
	if (key[alen] != IPPROTO_TCP && key[alen] != IPPROTO_UDP)
		return -EINVAL;
	memcpy(&port, key + alen + 4, 2);
	memcpy(&port_end, key_end + alen + 4, 2);
	out->family = (uint8_t)g->family;
	out->proto = key[alen];
	out->interval = g->interval;
	memcpy(out->addr_lo, key, alen);
	memcpy(out->addr_hi, key_end, alen);
	out->port_lo = ntohs(port);
	out->port_hi = ntohs(port_end);
	if (out->port_hi < out->port_lo || memcmp(key, key_end, alen) > 0)
		return -EINVAL;
	out->end_ms = x->end_ms;
	return 0;
}

DEFINE_CLEANUP_FUNC(struct nftnl_set, nftnl_set_free)

/* Reading the grant sets back, set by set, into raw elements. */
struct raw_dump {
	uint8_t set;
	size_t first; /* this set's elements start here in v */
	struct raw_elem *v;
	size_t n, cap;
};

static void raw_dump_reset(void *data)
{
	struct raw_dump *d = data;

	d->n = d->first;
}

static int raw_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct raw_dump *d = data;
	const struct grant_set_def *g = &grant_sets[d->set];
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	/* The kernel wrote this message's expirations moments ago (the
	 * dump fills the next message while we read this one). */
	uint64_t now = now_real_ms();
	int r = 0;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		return -EPROTO;
	it = nftnl_set_elems_iter_create(s);
	if (!it)
		return -ENOMEM;
	while ((e = nftnl_set_elems_iter_next(it))) {
		uint32_t klen = 0, kelen = 0;
		const void *key =
			nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		const void *key_end = NULL;
		struct raw_elem *x;

		if (g->interval)
			key_end = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END,
						     &kelen);
		/* The kernel gives every element the set's key shape. */
		if (!key || !klen || klen > RAW_KEY_MAX ||
		    (g->interval && (!key_end || kelen != klen)))
			continue;
		if (grow_array((void **)&d->v, &d->cap, d->n + 1,
			       sizeof(*d->v)) < 0) {
			r = -ENOMEM;
			break;
		}
		x = &d->v[d->n++];
		memset(x, 0, sizeof(*x));
		x->set = d->set;
		x->len = (uint8_t)klen;
		memcpy(x->key, key, klen);
		if (key_end)
			memcpy(x->key_end, key_end, klen);
		x->end_ms = UINT64_MAX;
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
			x->end_ms = now + nftnl_set_elem_get_u64(
						  e, NFTNL_SET_ELEM_EXPIRATION);
	}
	nftnl_set_elems_iter_destroy(it);
	return r;
}

/*
 * Every element of every grant set, sorted by raw_cmp, into *ret.
 * Returns 0, -ENOENT when there is no table (*ret empty), or -errno.
 */
static int dump_grant_sets(struct jit_nft *nft, const char *table,
			   struct raw_elem **ret, size_t *n_ret,
			   uint32_t *genid)
{
	struct raw_dump d = { 0 };
	size_t missing = 0;
	int r;

	/*
	 * What is read holds while the generation does: the commit that
	 * changes only the difference is sent for this generation (and
	 * refused if anyone changed anything since).
	 */
	r = nft_genid(nft, genid);
	if (r < 0)
		*genid = 0;
	r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(grant_sets); i++) {
		_cleanup_(nftnl_set_freep) struct nftnl_set *q =
			nftnl_set_alloc();

		if (!q) {
			r = -ENOMEM;
			break;
		}
		nftnl_set_set_str(q, NFTNL_SET_TABLE, table);
		nftnl_set_set_str(q, NFTNL_SET_NAME, grant_sets[i].name);
		nftnl_set_set_u32(q, NFTNL_SET_FAMILY, NFPROTO_INET);
		d.set = (uint8_t)i;
		d.first = d.n;
		r = nft_dump(nft, NFT_MSG_GETSETELEM, NFPROTO_INET, q,
			     dump_build, raw_dump_cb, raw_dump_reset, &d);
		if (r == -ENOENT) {
			/* No table, or a set it does not have yet. */
			d.n = d.first;
			missing++;
			r = 0;
		}
		if (r < 0)
			break;
	}
	if (r < 0) {
		free(d.v);
		return r;
	}
	if (d.n)
		qsort(d.v, d.n, sizeof(*d.v), raw_cmp);
	*ret = d.v;
	*n_ret = d.n;
	return missing == ARRAY_SIZE(grant_sets) ? -ENOENT : 0;
}

static void held_drop(struct jit_table *t)
{
	free(t->held);
	t->held = NULL;
	t->n_held = 0;
	t->have_held = false;
}

/* Read the grant sets into t->held. 0, -ENOENT (no table) or -errno. */
/*
 * Reading 100,000 elements back takes the kernel hundreds of ms (a set's
 * dump walks it from the start for every message), about as long as the
 * journal takes to load: at start both run at once, the dump in a thread
 * of its own on a socket of its own, which held_read then waits for.
 */
struct read_ahead {
	pthread_t thread;
	char table[JIT_TABLE_NAME_MAX + 1];
	struct raw_elem *v;
	size_t n;
	int r;
	uint64_t done_ms; /* monotonic */
	uint32_t genid;
};

static void *read_ahead_main(void *arg)
{
	struct read_ahead *ra = arg;
	struct jit_nft *nft = NULL;

	ra->r = nft_open(&nft);
	if (ra->r == 0)
		ra->r = dump_grant_sets(nft, ra->table, &ra->v, &ra->n,
					&ra->genid);
	nft_close(nft);
	ra->done_ms = now_mono_ms();
	return NULL;
}

int table_read_ahead(struct jit_table *t)
{
	struct read_ahead *ra;
	int r;

	if (t->ahead)
		return 0;
	ra = calloc(1, sizeof(*ra));
	if (!ra)
		return -ENOMEM;
	snprintf(ra->table, sizeof(ra->table), "%s", t->name);
	r = -pthread_create(&ra->thread, NULL, read_ahead_main, ra);
	if (r < 0) {
		free(ra);
		return r;
	}
	t->ahead = ra;
	return 0;
}

/* Wait for the read ahead, if one runs: its result, or 1 if none ran. */
static int read_ahead_take(struct jit_table *t)
{
	struct read_ahead *ra = t->ahead;
	int r;

	if (!ra)
		return 1;
	t->ahead = NULL;
	pthread_join(ra->thread, NULL);
	r = ra->r;
	if (r == 0 || r == -ENOENT) {
		held_drop(t);
		t->held = ra->v;
		t->n_held = ra->n;
		t->have_held = true;
		t->held_at_ms = ra->done_ms;
		t->held_genid = ra->genid;
	} else {
		free(ra->v);
	}
	free(ra);
	return r;
}

static int held_read(struct jit_table *t)
{
	int r = read_ahead_take(t);

	/* What the read ahead found is used while it is recent. */
	if ((r == 0 || r == -ENOENT) &&
	    now_mono_ms() - t->held_at_ms <= HELD_MAX_AGE_MS)
		return r;
	held_drop(t);
	r = dump_grant_sets(t->nft, t->name, &t->held, &t->n_held,
			    &t->held_genid);
	if (r == 0 || r == -ENOENT) {
		t->have_held = true;
		t->held_at_ms = now_mono_ms();
	}
	return r;
}

int table_mark_unrecorded(struct jit_table *t, uint64_t id, uint64_t end_ms,
			  uint64_t now_ms, char *err, size_t errlen)
{
	struct builder bld = { .table = t->name };
	struct nftnl_set *s;
	struct nftnl_set_elem *e;
	uint64_t key = htobe64(id);
	uint64_t timeout = end_ms > now_ms ? end_ms - now_ms : 0;
	int r;

	if (timeout < MIN_TIMEOUT_MS)
		timeout = MIN_TIMEOUT_MS;
	bld.b = batch_new(t->nft);
	if (!bld.b)
		return -ENOMEM;
	s = set_new(&bld, SET_UNRECORDED, 0);
	e = nftnl_set_elem_alloc();
	if (!s || !e) {
		if (s)
			nftnl_set_free(s);
		if (e)
			nftnl_set_elem_free(e);
		batch_free(bld.b);
		return -ENOMEM;
	}
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
	nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout);
	nftnl_set_elem_add(s, e);
	add_msg(&bld, NFT_MSG_NEWSETELEM, NLM_F_CREATE, elems_payload, s,
		"marking an unrecorded decision");
	nftnl_set_free(s);
	r = bld.err;
	if (r == 0)
		r = table_send(t, bld.b, err, errlen, NULL);
	batch_free(bld.b);
	return r;
}

int table_sessions_delete(struct jit_table *t, const struct jit_session *ss,
			  size_t n, char *err, size_t errlen)
{
	struct builder bld = { .table = t->name };
	int r = 0;

	if (!n)
		return 0;
	bld.b = batch_new(t->nft);
	if (!bld.b)
		return -ENOMEM;
	for (size_t i = 0; i < n && !bld.err; i++) {
		bool v4 = ss[i].family == AF_INET;
		struct nftnl_set *s = set_new(
			&bld, v4 ? SET_SESSIONS_V4 : SET_SESSIONS_V6, 0);
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		uint8_t k[40];
		size_t len = session_key(k, &ss[i]);

		if (!s || !e) {
			if (s)
				nftnl_set_free(s);
			if (e)
				nftnl_set_elem_free(e);
			bld.err = -ENOMEM;
			break;
		}
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, k, (uint32_t)len);
		nftnl_set_elem_add(s, e);
		/* Gone already (a commit replaced the list) is no error. */
		add_msg(&bld,
			t->no_destroy ? NFT_MSG_DELSETELEM
				      : JIT_MSG_DESTROYSETELEM,
			0, elems_payload, s, "removing a closed session");
		nftnl_set_free(s);
	}
	r = bld.err;
	if (r == 0)
		r = table_send(t, bld.b, err, errlen, NULL);
	batch_free(bld.b);
	return r;
}

/* Every element of one of our sets, into *ret (freed by the caller). */
static int dump_set(struct jit_table *t, const char *name,
		    struct nftnl_set **ret)
{
	struct dump_state d = { .name = name, .table = t->name };
	struct nftnl_set *query;
	int r;

	/* The query stays put; d.s collects (and is reset on retry). */
	dump_reset(&d);
	query = d.s;
	d.s = NULL;
	dump_reset(&d);
	if (!query || !d.s) {
		if (query)
			nftnl_set_free(query);
		if (d.s)
			nftnl_set_free(d.s);
		return -ENOMEM;
	}
	r = nft_dump(t->nft, NFT_MSG_GETSETELEM, NFPROTO_INET, query,
		     dump_build, dump_elems_cb, dump_reset, &d);
	nftnl_set_free(query);
	if (r < 0) {
		if (d.s)
			nftnl_set_free(d.s);
		return r;
	}
	*ret = d.s;
	return 0;
}

int table_dump_unrecorded(struct jit_table *t, uint64_t **ret)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	struct nftnl_set *s = NULL;
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int r;

	*ret = NULL;
	r = dump_set(t, SET_UNRECORDED, &s);
	if (r < 0)
		return r;
	it = nftnl_set_elems_iter_create(s);
	while (it && (e = nftnl_set_elems_iter_next(it))) {
		uint32_t len = 0;
		const void *key =
			nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		uint64_t id;

		if (!key || len != sizeof(id))
			continue;
		memcpy(&id, key, sizeof(id));
		if (grow_array((void **)&v, &cap, n + 1, sizeof(*v)) < 0) {
			r = -ENOMEM;
			break;
		}
		v[n++] = be64toh(id);
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return (int)n;
}

int table_dump_elems(struct jit_table *t, uint64_t now_ms,
		     struct jit_elem **ret)
{
	struct jit_elem *v;
	size_t n = 0;
	int r;

	(void)now_ms; /* each element's end is read with its message */
	*ret = NULL;
	/* Kept for the commit that follows: it changes only the difference. */
	r = held_read(t);
	if (r < 0)
		return r;
	v = calloc(t->n_held + 1, sizeof(*v));
	if (!v) {
		held_drop(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n_held; i++)
		if (elem_of(&t->held[i], &v[n]) == 0)
			n++;
	*ret = v;
	return (int)n;
}

const struct table_sync_stats *table_last_sync(const struct jit_table *t)
{
	return &t->sync;
}

DEFINE_CLEANUP_FUNC(struct nftnl_chain, nftnl_chain_free)

struct chains_ctx {
	const char *ours;
	struct jit_foreign_chain *v;
	size_t n, cap;
	int err;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chains_ctx *ctx = data;
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c =
		nftnl_chain_alloc();
	struct jit_foreign_chain *f;
	uint32_t family;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
		return 0;
	family = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) != NF_INET_LOCAL_IN ||
	    (family != NFPROTO_IPV4 && family != NFPROTO_IPV6 &&
	     family != NFPROTO_INET) ||
	    (family == NFPROTO_INET &&
	     streq(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), ctx->ours)))
		return 0;
	if (grow_array((void **)&ctx->v, &ctx->cap, ctx->n + 1,
		       sizeof(*ctx->v)) < 0)
		return -ENOMEM;
	f = &ctx->v[ctx->n++];
	memset(f, 0, sizeof(*f));
	f->family = (uint8_t)family;
	snprintf(f->table, sizeof(f->table), "%s",
		 nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	snprintf(f->chain, sizeof(f->chain), "%s",
		 nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	f->priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
	f->policy_drop = nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) &&
			 nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) == NF_DROP;
	return 0;
}

static void chain_reset(void *data)
{
	struct chains_ctx *ctx = data;

	ctx->n = 0;
}

static void chain_build(struct nlmsghdr *nlh, const void *obj)
{
	(void)nlh;
	(void)obj;
}

int table_foreign_input_chains(struct jit_table *t,
			       struct jit_foreign_chain **ret)
{
	struct chains_ctx ctx = { .ours = t->name };
	int r;

	r = nft_dump(t->nft, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NULL,
		     chain_build, chain_cb, chain_reset, &ctx);
	if (r < 0) {
		free(ctx.v);
		return r;
	}
	*ret = ctx.v;
	return (int)ctx.n;
}

int table_input_priority(void)
{
	return INPUT_PRIORITY;
}

int table_remove(struct jit_table *t, char *err, size_t errlen)
{
	struct builder bld = { .table = t->name };
	int failed_type, r;

	held_drop(t);
	bld.b = batch_new(t->nft);
	if (!bld.b)
		return -ENOMEM;
	emit_table(&bld, NFT_MSG_DELTABLE, 0);
	r = bld.err;
	if (!r)
		r = table_send(t, bld.b, err, errlen, &failed_type);
	batch_free(bld.b);
	return r;
}
