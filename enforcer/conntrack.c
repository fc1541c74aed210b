/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>

#include "conntrack.h"
#include "policy.h"
#include "util.h"

static bool proto_wanted(uint8_t proto, unsigned protos)
{
	return (proto == IPPROTO_TCP && (protos & JIT_PROTO_TCP)) ||
	       (proto == IPPROTO_UDP && (protos & JIT_PROTO_UDP));
}

/* The entry's original direction as a flow; false if it is not one. */
static bool ct_flow(struct nfnl_ct *ct, struct jit_flow *f)
{
	struct nl_addr *src = nfnl_ct_get_src(ct, 0),
		       *dst = nfnl_ct_get_dst(ct, 0);
	unsigned alen = f->family == AF_INET ? 4 : 16;

	if (!src || !dst || nl_addr_get_len(src) != alen ||
	    nl_addr_get_len(dst) != alen)
		return false;
	f->proto = nfnl_ct_get_proto(ct);
	memcpy(f->remote, nl_addr_get_binary_addr(src), alen);
	memcpy(f->local, nl_addr_get_binary_addr(dst), alen);
	f->rport = nfnl_ct_get_src_port(ct, 0);
	f->lport = nfnl_ct_get_dst_port(ct, 0);
	return true;
}

int conntrack_delete(const struct jit_prefix *src, unsigned protos, uint16_t lo,
		     uint16_t hi, conntrack_keep_fn keep, void *userdata)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int r, deleted = 0;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = nfnl_connect(sk);
	if (r < 0) {
		nl_socket_free(sk);
		return -ECONNREFUSED;
	}
	r = nfnl_ct_alloc_cache(sk, &cache);
	if (r < 0) {
		nl_socket_free(sk);
		return -EIO;
	}
	for (obj = nl_cache_get_first(cache); obj;
	     obj = nl_cache_get_next(obj)) {
		struct nfnl_ct *ct = (struct nfnl_ct *)obj;
		struct jit_prefix host = { .family = src->family };
		struct jit_flow f = { .family = src->family };

		if (nfnl_ct_get_family(ct) != src->family || !ct_flow(ct, &f) ||
		    !proto_wanted(f.proto, protos) || f.lport < lo ||
		    f.lport > hi)
			continue;
		memcpy(host.addr, f.remote, prefix_addr_len(src));
		host.len = src->family == AF_INET ? 32 : 128;
		if (!prefix_contains(src, &host) ||
		    (keep && keep(&f, userdata)))
			continue;
		/* Gone already (closed meanwhile) is as good as deleted. */
		if (nfnl_ct_del(sk, ct, 0) >= 0)
			deleted++;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return deleted;
}
