/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "loop.h"
#include "sockdiag.h"
#include "util.h"

struct dump_ctx {
	uint8_t proto;
	sockdiag_fn fn;
	void *userdata;
	int err;
};

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static void wire_addr(struct jit_sock *s, const uint32_t *raw, uint8_t *out)
{
	const uint8_t *b = (const uint8_t *)raw;

	if (s->diag_family == AF_INET) {
		memcpy(out, b, 4);
	} else if (s->family == AF_INET) {
		memcpy(out, b + 12, 4);
	} else {
		memcpy(out, b, 16);
	}
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct jit_sock s = { 0 };

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return MNL_CB_OK;
	s.diag_family = m->idiag_family;
	s.family = m->idiag_family;
	/* A dual-stack socket talking IPv4 shows v4-mapped addresses. */
	if (m->idiag_family == AF_INET6 &&
	    !memcmp(m->id.idiag_dst, v4mapped, sizeof(v4mapped)) &&
	    !memcmp(m->id.idiag_src, v4mapped, sizeof(v4mapped)))
		s.family = AF_INET;
	s.proto = ctx->proto;
	s.state = m->idiag_state;
	wire_addr(&s, m->id.idiag_dst, s.remote);
	wire_addr(&s, m->id.idiag_src, s.local);
	s.rport = ntohs(m->id.idiag_dport);
	s.lport = ntohs(m->id.idiag_sport);
	s.uid = m->idiag_uid;
	s.ino = m->idiag_inode;
	s.ifindex = m->id.idiag_if;
	memcpy(s.cookie, m->id.idiag_cookie, sizeof(s.cookie));
	memcpy(s.raw_src, m->id.idiag_src, 16);
	memcpy(s.raw_dst, m->id.idiag_dst, 16);
	ctx->err = ctx->fn(&s, ctx->userdata);
	return ctx->err < 0 ? MNL_CB_STOP : MNL_CB_OK;
}

DEFINE_CLEANUP_FUNC(struct mnl_socket, mnl_socket_close)

/* A sock_diag socket (flags besides SOCK_CLOEXEC), bound to groups. */
static int diag_socket(int flags, unsigned groups, struct mnl_socket **ret)
{
	struct mnl_socket *nl =
		mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC | flags);
	int r;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	*ret = nl;
	return 0;
}

/* A request of type in buf: its header in *nlh, and its body. */
static struct inet_diag_req_v2 *diag_request(char *buf, uint16_t type,
					     uint16_t flags, uint32_t seq,
					     struct nlmsghdr **nlh)
{
	*nlh = mnl_nlmsg_put_header(buf);
	(*nlh)->nlmsg_type = type;
	(*nlh)->nlmsg_flags = flags;
	(*nlh)->nlmsg_seq = seq;
	return mnl_nlmsg_put_extra_header(*nlh,
					  sizeof(struct inet_diag_req_v2));
}

static int dump_family(struct mnl_socket *nl, uint8_t family, uint32_t states,
		       struct dump_ctx *ctx)
{
	char buf[32768];
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)now_mono_ms();
	uint32_t portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int r;

	req = diag_request(buf, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP,
			   seq, &nlh);
	req->sdiag_family = family;
	req->sdiag_protocol = ctx->proto;
	req->idiag_states = states;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		r = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, ctx);
		if (r == MNL_CB_STOP)
			return ctx->err < 0 ? ctx->err : 0;
		if (r < 0)
			return -errno;
	}
}

int sockdiag_dump(uint8_t proto, uint32_t states, sockdiag_fn fn,
		  void *userdata)
{
	struct dump_ctx ctx = { .proto = proto,
				.fn = fn,
				.userdata = userdata };
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	int r;

	r = diag_socket(0, 0, &nl);
	if (r < 0)
		return r;
	r = dump_family(nl, AF_INET, states, &ctx);
	if (r == 0)
		r = dump_family(nl, AF_INET6, states, &ctx);
	return r;
}

int sockdiag_destroy(const struct jit_sock *s)
{
	char buf[8192];
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)now_mono_ms();
	ssize_t n;
	int r;

	r = diag_socket(0, 0, &nl);
	if (r < 0)
		return r;
	req = diag_request(buf, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq,
			   &nlh);
	req->sdiag_family = s->diag_family;
	req->sdiag_protocol = s->proto;
	req->idiag_states = ~0u;
	req->id.idiag_sport = htons(s->lport);
	req->id.idiag_dport = htons(s->rport);
	memcpy(req->id.idiag_src, s->raw_src, 16);
	memcpy(req->id.idiag_dst, s->raw_dst, 16);
	req->id.idiag_if = s->ifindex;
	memcpy(req->id.idiag_cookie, s->cookie, sizeof(s->cookie));
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	r = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL,
		       NULL);
	return r < 0 ? -errno : 0;
}

struct jit_sockwatch {
	struct jit_io io; /* first: the loop hands us this */
	int epfd;
	struct mnl_socket *nl;
	sockdiag_fn fn;
	void *userdata;
};

static void sockwatch_cb(struct jit_io *io, uint32_t events)
{
	struct jit_sockwatch *w = (struct jit_sockwatch *)io;
	struct dump_ctx ctx = { .proto = IPPROTO_TCP,
				.fn = w->fn,
				.userdata = w->userdata };
	char buf[16384];

	for (;;) {
		ssize_t n = recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* Notifications were lost: the caller looks again. */
			(void)w->fn(NULL, w->userdata);
			continue;
		}
		if (n <= 0)
			return;
		(void)mnl_cb_run(buf, (size_t)n, 0, 0, dump_cb, &ctx);
	}
}

int sockwatch_open(int epfd, sockdiag_fn fn, void *userdata,
		   struct jit_sockwatch **ret)
{
	unsigned groups = (1u << (SKNLGRP_INET_TCP_DESTROY - 1)) |
			  (1u << (SKNLGRP_INET6_TCP_DESTROY - 1));
	struct jit_sockwatch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	r = diag_socket(SOCK_NONBLOCK, groups, &w->nl);
	if (r < 0) {
		free(w);
		return r;
	}
	w->epfd = epfd;
	w->fn = fn;
	w->userdata = userdata;
	r = loop_watch(epfd, &w->io, mnl_socket_get_fd(w->nl), sockwatch_cb,
		       EPOLLIN);
	if (r < 0) {
		sockwatch_close(w);
		return r;
	}
	*ret = w;
	return 0;
}

struct jit_sockwatch *sockwatch_close(struct jit_sockwatch *w)
{
	if (!w)
		return NULL;
	if (w->io.cb)
		loop_del(w->epfd, &w->io);
	mnl_socket_close(w->nl);
	free(w);
	return NULL;
}
