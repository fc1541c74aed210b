/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <netinet/in.h>

#include "sockdiag.h"
#include "terminate.h"
#include "util.h"

static bool ports_overlap(const struct jit_grant_key *a,
			  const struct jit_grant_key *b)
{
	return (a->protos & b->protos) && a->port_lo <= b->port_hi &&
	       b->port_lo <= a->port_hi;
}

static bool prefixes_overlap(const struct jit_prefix *a,
			     const struct jit_prefix *b)
{
	return a->family == b->family &&
	       (prefix_contains(a, b) || prefix_contains(b, a));
}

int terminate_others(struct jit_grants *g, const struct jit_request *revoked,
		     uint64_t now_ms, const struct jit_request ***ret)
{
	const struct jit_request **v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < grants_count(g); i++) {
		const struct jit_request *r = grants_at(g, i);

		if (r->status != JIT_INITIATED || r->end_ms <= now_ms)
			continue;
		if (revoked &&
		    (r->id == revoked->id ||
		     !ports_overlap(&r->key, &revoked->key) ||
		     !prefixes_overlap(&r->key.source, &revoked->key.source)))
			continue;
		if (grow_array((void **)&v, &cap, n + 1, sizeof(*v)) < 0) {
			free(v);
			return -ENOMEM;
		}
		v[n++] = r;
	}
	*ret = v;
	return (int)n;
}

static bool is_session(const struct jit_session *x, const struct jit_flow *f)
{
	size_t alen = f->family == AF_INET ? 4 : 16;

	return f->proto == IPPROTO_TCP && x->family == f->family &&
	       x->rport == f->rport && x->lport == f->lport &&
	       !memcmp(x->remote, f->remote, alen) &&
	       !memcmp(x->local, f->local, alen);
}

static bool covers(const struct jit_grant_key *k, const struct jit_flow *f)
{
	struct jit_prefix host = { .family = f->family };
	unsigned bit = f->proto == IPPROTO_TCP	 ? JIT_PROTO_TCP
		       : f->proto == IPPROTO_UDP ? JIT_PROTO_UDP
						 : 0;

	if (!(k->protos & bit) || f->lport < k->port_lo ||
	    f->lport > k->port_hi || k->source.family != f->family)
		return false;
	host.len = f->family == AF_INET ? 32 : 128;
	memcpy(host.addr, f->remote, prefix_addr_len(&host));
	return prefix_contains(&k->source, &host);
}

bool terminate_spares(const struct jit_terminate_scope *sc,
		      const struct jit_flow *f, struct jit_spared *ret)
{
	for (size_t i = 0; i < sc->n_elder; i++) {
		if (is_session(&sc->elder[i], f)) {
			*ret = (struct jit_spared){ .flow = *f,
						    .why = JIT_SPARED_ELDER };
			return true;
		}
	}
	for (size_t i = 0; i < sc->n_others; i++) {
		if (covers(&sc->others[i]->key, f)) {
			*ret = (struct jit_spared){
				.flow = *f,
				.why = JIT_SPARED_COVERED,
				.record = sc->others[i]->id,
			};
			return true;
		}
	}
	return false;
}

struct term_ctx {
	const struct jit_terminate_scope *sc;
	struct jit_terminate *res;
	int err;
};

static void note_spared(struct term_ctx *ctx, const struct jit_spared *s)
{
	struct jit_terminate *res = ctx->res;

	res->n_spared++;
	if (res->n_listed >= JIT_SPARED_LIST_MAX ||
	    grow_array((void **)&res->spared, &res->cap, res->n_listed + 1,
		       sizeof(*res->spared)) < 0)
		return;
	res->spared[res->n_listed++] = *s;
}

static int socket_cb(const struct jit_sock *s, void *userdata)
{
	struct term_ctx *ctx = userdata;
	struct jit_flow f = {
		.family = s->family,
		.proto = IPPROTO_TCP,
		.rport = s->rport,
		.lport = s->lport,
	};
	struct jit_spared why;
	int r;

	memcpy(f.remote, s->remote, sizeof(f.remote));
	memcpy(f.local, s->local, sizeof(f.local));
	if (!covers(&ctx->sc->revoked->key, &f))
		return 0;
	if (terminate_spares(ctx->sc, &f, &why)) {
		note_spared(ctx, &why);
		return 0;
	}
	r = sockdiag_destroy(s);
	if (r == 0)
		ctx->res->sockets++;
	else if (r != -ENOENT && !ctx->err)
		ctx->err = r;
	return 0;
}

/* A flow's entry stays if the flow is spared; UDP flows are reported
 * here (TCP ones were, with their socket). */
static bool keep_flow(const struct jit_flow *f, void *userdata)
{
	struct term_ctx *ctx = userdata;
	struct jit_spared why;

	if (!terminate_spares(ctx->sc, f, &why))
		return false;
	if (f->proto == IPPROTO_UDP)
		note_spared(ctx, &why);
	return true;
}

/*
 * A conntrack entry alone would be picked up again (sessions older than
 * conntrack): TCP sockets are destroyed first, then the entries go (UDP
 * flows, and TCP state).
 */
int terminate_connections(const struct jit_terminate_scope *sc,
			  struct jit_terminate *res)
{
	const struct jit_grant_key *k = &sc->revoked->key;
	struct term_ctx ctx = { .sc = sc, .res = res };
	int r = 0, n;

	if (k->protos & JIT_PROTO_TCP) {
		r = sockdiag_dump(IPPROTO_TCP, SOCKDIAG_CONNECTED, socket_cb,
				  &ctx);
		if (!r)
			r = ctx.err;
	}
	n = conntrack_delete(&k->source, k->protos, k->port_lo, k->port_hi,
			     keep_flow, &ctx);
	if (n < 0) {
		if (!r)
			r = n;
	} else {
		res->flows = (unsigned)n;
	}
	return r;
}

void terminate_release(struct jit_terminate *res)
{
	free(res->spared);
	res->spared = NULL;
	res->n_listed = res->cap = 0;
}
