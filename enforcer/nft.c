/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "nft.h"
#include "util.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* Large enough for a set-element message near the 64 KiB attribute limit. */
#define BATCH_PAGE    (256 * 1024)
#define BATCH_OVERRUN (128 * 1024)
#define NFT_SOCK_BUF  (8 * 1024 * 1024)
#define WHAT_MAX      96

struct jit_nft {
	struct mnl_socket *nl;
	uint32_t seq;
};

struct batch_entry {
	uint32_t seq;
	uint16_t type;
	char what[WHAT_MAX];
};

struct jit_batch {
	struct jit_nft *nft;
	struct nftnl_batch *b;
	struct batch_entry *map;
	size_t n, cap;
	uint32_t first_seq;
};

uint32_t nft_portid(const struct jit_nft *n)
{
	return n ? mnl_socket_get_portid(n->nl) : 0;
}

int nft_open(struct jit_nft **ret)
{
	struct jit_nft *n;
	int one = 1, size = NFT_SOCK_BUF;
	int fd;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl) {
		int r = -errno;

		free(n);
		return r;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(n->nl);
		free(n);
		return r;
	}
	fd = mnl_socket_get_fd(n->nl);
	socket_buffers(fd, size, size);
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	n->seq = (uint32_t)now_real_ms();
	*ret = n;
	return 0;
}

struct jit_nft *nft_close(struct jit_nft *n)
{
	if (n) {
		mnl_socket_close(n->nl);
		free(n);
	}
	return NULL;
}

struct jit_batch *batch_new(struct jit_nft *n)
{
	return batch_new_at(n, 0);
}

struct jit_batch *batch_new_at(struct jit_nft *n, uint32_t genid)
{
	struct jit_batch *b;
	struct nlmsghdr *nlh;

	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->nft = n;
	b->b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
	if (!b->b) {
		free(b);
		return NULL;
	}
	b->first_seq = n->seq++;
	nlh = nftnl_batch_begin(nftnl_batch_buffer(b->b), b->first_seq);
	/* The kernel refuses the batch (ERESTART) if the ruleset changed. */
	if (genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	if (nftnl_batch_update(b->b) < 0)
		return batch_free(b);
	return b;
}

struct jit_batch *batch_free(struct jit_batch *b)
{
	if (b) {
		nftnl_batch_free(b->b);
		free(b->map);
		free(b);
	}
	return NULL;
}

struct nlmsghdr *batch_msg(struct jit_batch *b, uint16_t type, uint16_t flags,
			   const char *what, ...)
{
	struct batch_entry *e;
	va_list ap;

	if (grow_array((void **)&b->map, &b->cap, b->n + 1, sizeof(*b->map)) <
	    0)
		return NULL;
	e = &b->map[b->n++];
	e->seq = b->nft->seq++;
	e->type = type;
	va_start(ap, what);
	vsnprintf(e->what, sizeof(e->what), what, ap);
	va_end(ap);
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->b), type,
				     NFPROTO_INET, flags, e->seq);
}

int batch_push(struct jit_batch *b)
{
	return nftnl_batch_update(b->b) < 0 ? -ENOMEM : 0;
}

size_t batch_count(const struct jit_batch *b)
{
	return b->n;
}

static const struct batch_entry *batch_lookup(const struct jit_batch *b,
					      uint32_t seq)
{
	/* Sequence numbers are consecutive, so this is an index. */
	for (size_t i = 0; i < b->n; i++)
		if (b->map[i].seq == seq)
			return &b->map[i];
	return NULL;
}

static const char *ext_ack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	/* With NETLINK_CAP_ACK only the header of our message is echoed. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(a, nlh, off)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

/* The batch's messages to the kernel in one sendmsg. */
static int batch_send(struct jit_batch *b, int fd, char *err, size_t errlen)
{
	int iovlen = nftnl_batch_iovec_len(b->b);
	_cleanup_free_ struct iovec *iov = calloc((size_t)iovlen, sizeof(*iov));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = {
		.msg_name = &snl,
		.msg_namelen = sizeof(snl),
		.msg_iov = iov,
		.msg_iovlen = iovlen,
	};
	ssize_t r;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(b->b, iov, (uint32_t)iovlen);
	do
		r = sendmsg(fd, &msg, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		if (err)
			snprintf(err, errlen, "sending batch: %s",
				 strerror((int)-r));
		return (int)r;
	}
	return 0;
}

/*
 * The first error among the len bytes of replies in buf, unless
 * *first_err is already set: the message of the batch it answers goes
 * into err, its type into *failed_type.
 */
static void batch_errors(const struct jit_batch *b, const char *buf, int len,
			 int *first_err, char *err, size_t errlen,
			 int *failed_type)
{
	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	     mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		const struct nlmsgerr *e;
		const struct batch_entry *be;
		const char *ext;

		if (nlh->nlmsg_type != NLMSG_ERROR)
			continue;
		e = mnl_nlmsg_get_payload(nlh);
		if (e->error == 0 || *first_err)
			continue;
		*first_err = e->error;
		be = batch_lookup(b, nlh->nlmsg_seq);
		ext = ext_ack_msg(nlh);
		if (failed_type && be)
			*failed_type = be->type;
		if (err)
			snprintf(err, errlen, "%s: %s%s%s",
				 be ? be->what : "batch", strerror(-e->error),
				 ext ? ": " : "", ext ? ext : "");
	}
}

int batch_commit(struct jit_batch *b, char *err, size_t errlen,
		 int *failed_type)
{
	int fd = mnl_socket_get_fd(b->nft->nl);
	char buf[32768];
	int first_err = 0;
	ssize_t r;

	if (failed_type)
		*failed_type = -1;
	if (err && errlen)
		err[0] = '\0';
	nftnl_batch_end(nftnl_batch_buffer(b->b), b->nft->seq++);
	if (nftnl_batch_update(b->b) < 0)
		return -ENOMEM;
	r = batch_send(b, fd, err, errlen);
	if (r < 0)
		return (int)r;

	/* Drain every ack and error the kernel queued for this batch. */
	for (;;) {
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (!first_err) {
				first_err = -errno;
				if (err)
					snprintf(err, errlen,
						 "reading batch result: %s",
						 strerror(errno));
			}
			if (errno == ENOBUFS)
				continue;
			break;
		}
		batch_errors(b, buf, (int)r, &first_err, err, errlen,
			     failed_type);
	}
	return first_err;
}

struct dump_ctx {
	nft_dump_cb cb;
	void *data;
	bool interrupted;
	int err;
};

static int dump_msg(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		ctx->interrupted = true;
	ctx->err = ctx->cb(nlh, ctx->data);
	return ctx->err < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

int nft_dump(struct jit_nft *n, uint16_t type, uint16_t family,
	     const void *payload_obj,
	     void (*build)(struct nlmsghdr *nlh, const void *obj),
	     nft_dump_cb cb, nft_dump_reset reset, void *data)
{
	uint32_t portid = mnl_socket_get_portid(n->nl);
	char buf[65536];

	for (int attempt = 0; attempt < 5; attempt++) {
		struct dump_ctx ctx = { .cb = cb, .data = data };
		uint32_t seq = n->seq++;
		struct nlmsghdr *nlh;
		ssize_t len;
		int r;

		if (reset && attempt)
			reset(data);
		nlh = nftnl_nlmsg_build_hdr(buf, type, family,
					    NLM_F_DUMP | NLM_F_ACK, seq);
		build(nlh, payload_obj);
		if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
			return -errno;
		do {
			len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));
			if (len < 0)
				return -errno;
			r = mnl_cb_run(buf, (size_t)len, seq, portid, dump_msg,
				       &ctx);
		} while (r > 0);
		if (r < 0) {
			if (ctx.err < 0)
				return ctx.err;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!ctx.interrupted)
			return 0;
	}
	return -EINTR;
}

static int genid_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	}
	return MNL_CB_OK;
}

int nft_genid(struct jit_nft *n, uint32_t *ret)
{
	uint32_t portid = mnl_socket_get_portid(n->nl), seq = n->seq++;
	char buf[8192];
	struct nlmsghdr *nlh;
	uint32_t genid = 0;
	int r;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC,
				    NLM_F_ACK, seq);
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));

		if (len < 0)
			return -errno;
		r = mnl_cb_run(buf, (size_t)len, seq, portid, genid_cb, &genid);
	} while (r > 0);
	if (r < 0)
		return -errno;
	if (!genid)
		return -EPROTO;
	*ret = genid;
	return 0;
}
