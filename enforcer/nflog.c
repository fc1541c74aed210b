/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <stdbool.h>

#include "loop.h"
#include "nflog.h"
#include "util.h"

#define NFLOG_RCVBUF  (1024 * 1024)
#define NFLOG_SNAPLEN 128

struct jit_nflog {
	struct jit_io io;
	struct mnl_socket *nl;
	int epfd;
	uint16_t group;
	uint32_t snaplen;
	unsigned reads; /* recv calls per wakeup */
	nflog_fn fn;
	nflog_raw_fn raw;
	nflog_batch_fn batch;
	void *userdata;
	uint64_t overruns;
};

int nflog_parse_l4(const uint8_t *pkt, size_t len, int family,
		   struct jit_l4 *ret)
{
	struct jit_l4 h = { 0 };
	size_t off;
	uint8_t proto;

	if (family == AF_INET) {
		if (len < 20 || (pkt[0] >> 4) != 4)
			return -EINVAL;
		off = (size_t)(pkt[0] & 0x0f) * 4;
		/* Only first fragments carry the ports. */
		if (off < 20 || (((pkt[6] & 0x1f) << 8) | pkt[7]) != 0)
			return -EINVAL;
		proto = pkt[9];
		h.src.family = h.dst.family = AF_INET;
		h.src.len = h.dst.len = 32;
		memcpy(h.src.addr, pkt + 12, 4);
		memcpy(h.dst.addr, pkt + 16, 4);
	} else if (family == AF_INET6) {
		if (len < 40 || (pkt[0] >> 4) != 6)
			return -EINVAL;
		/* Extension headers are not followed: TCP/UDP directly. */
		off = 40;
		proto = pkt[6];
		h.src.family = h.dst.family = AF_INET6;
		h.src.len = h.dst.len = 128;
		memcpy(h.src.addr, pkt + 8, 16);
		memcpy(h.dst.addr, pkt + 24, 16);
	} else {
		return -EINVAL;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL;
	if (len < off + 4)
		return -EINVAL;
	h.proto = proto;
	h.port = (uint16_t)(pkt[off + 2] << 8 | pkt[off + 3]);
	h.off = off;
	*ret = h;
	return 0;
}

int nflog_parse_packet(const uint8_t *pkt, size_t len, int family,
		       struct jit_denied *ret)
{
	struct jit_l4 h;
	int r = nflog_parse_l4(pkt, len, family, &h);

	if (r < 0)
		return r;
	*ret = (struct jit_denied){ .src = h.src,
				    .proto = h.proto,
				    .port = h.port };
	return 0;
}

static int handle_packet(const struct nlmsghdr *nlh, void *data)
{
	struct jit_nflog *n = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *payload = NULL, *prefix = NULL;
	struct jit_denied d;
	uint32_t ifindex = 0;
	int family;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_ULOG ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFULNL_MSG_PACKET ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*g)))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g))
	{
		if (mnl_attr_get_type(a) == NFULA_PAYLOAD)
			payload = a;
		else if (mnl_attr_get_type(a) == NFULA_PREFIX &&
			 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			prefix = a;
		else if (mnl_attr_get_type(a) == NFULA_IFINDEX_INDEV &&
			 mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			ifindex = ntohl(mnl_attr_get_u32(a));
	}
	if (!payload)
		return MNL_CB_OK;
	family = g->nfgen_family == NFPROTO_IPV6   ? AF_INET6
		 : g->nfgen_family == NFPROTO_IPV4 ? AF_INET
						   : 0;
	if (n->raw) {
		if (family)
			n->raw(n->userdata, family,
			       mnl_attr_get_payload(payload),
			       mnl_attr_get_payload_len(payload), ifindex);
		return MNL_CB_OK;
	}
	if (nflog_parse_packet(mnl_attr_get_payload(payload),
			       mnl_attr_get_payload_len(payload), family,
			       &d) < 0)
		return MNL_CB_OK;
	d.rejected = prefix && strstr(mnl_attr_get_str(prefix), "reject");
	n->fn(n->userdata, &d);
	return MNL_CB_OK;
}

static void nflog_cb(struct jit_io *io, uint32_t events)
{
	struct jit_nflog *n = (struct jit_nflog *)io;
	char buf[65536];

	/* Bounded reads per wakeup, so that others get their turn. */
	for (unsigned i = 0; i < n->reads; i++) {
		ssize_t r = recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				n->overruns++;
				continue;
			}
			break;
		}
		(void)mnl_cb_run(buf, (size_t)r, 0, 0, handle_packet, n);
	}
	if (n->batch)
		n->batch(n->userdata);
}

static int config(struct jit_nflog *n, uint8_t family, uint16_t group,
		  void (*put)(struct nlmsghdr *nlh, const struct jit_nflog *n))
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	ssize_t r;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)now_mono_ms();
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(group);
	put(nlh, n);
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	r = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));
	if (r < 0)
		return -errno;
	return mnl_cb_run(buf, (size_t)r, nlh->nlmsg_seq,
			  mnl_socket_get_portid(n->nl), NULL, NULL) < 0
		       ? -errno
		       : 0;
}

static void put_bind(struct nlmsghdr *nlh, const struct jit_nflog *n)
{
	struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };

	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
}

static void put_mode(struct nlmsghdr *nlh, const struct jit_nflog *n)
{
	struct nfulnl_msg_config_mode mode = {
		.copy_range = htonl(n->snaplen),
		.copy_mode = NFULNL_COPY_PACKET,
	};

	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	/* Deliver each message at once, not in batches. */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
}

static int open_group(uint16_t group, uint32_t snaplen, unsigned reads,
		      int epfd, struct jit_nflog *tmpl, struct jit_nflog **ret)
{
	struct jit_nflog *n;
	int size = NFLOG_RCVBUF, r;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *tmpl;
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl) {
		free(n);
		return -errno;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	socket_buffers(mnl_socket_get_fd(n->nl), size, 0);
	n->snaplen = snaplen;
	r = config(n, AF_UNSPEC, group, put_bind);
	if (r == 0)
		r = config(n, AF_UNSPEC, group, put_mode);
	if (r < 0)
		goto fail;
	n->epfd = epfd;
	n->group = group;
	n->reads = reads;
	r = loop_watch(epfd, &n->io, mnl_socket_get_fd(n->nl), nflog_cb,
		       EPOLLIN);
	if (r < 0)
		goto fail;
	*ret = n;
	return 0;
fail:
	mnl_socket_close(n->nl);
	free(n);
	return r;
}

int nflog_open(uint16_t group, int epfd, nflog_fn fn, void *userdata,
	       struct jit_nflog **ret)
{
	struct jit_nflog tmpl = { .fn = fn, .userdata = userdata };

	return open_group(group, NFLOG_SNAPLEN, 64, epfd, &tmpl, ret);
}

int nflog_open_raw(uint16_t group, uint32_t snaplen, unsigned reads, int epfd,
		   nflog_raw_fn raw, nflog_batch_fn batch, void *userdata,
		   struct jit_nflog **ret)
{
	struct jit_nflog tmpl = { .raw = raw,
				  .batch = batch,
				  .userdata = userdata };

	return open_group(group, snaplen, reads, epfd, &tmpl, ret);
}

struct jit_nflog *nflog_close(struct jit_nflog *n)
{
	if (n) {
		loop_del(n->epfd, &n->io);
		mnl_socket_close(n->nl);
		free(n);
	}
	return NULL;
}

uint64_t nflog_overruns(const struct jit_nflog *n)
{
	return n->overruns;
}
