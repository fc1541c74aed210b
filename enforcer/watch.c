/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "loop.h"
#include "util.h"
#include "watch.h"

#define WATCH_RCVBUF (4 * 1024 * 1024)
/*
 * Datagrams read per wake-up: a process that changes the table without
 * pause must not keep the loop from the socket and signals.
 */
#define WATCH_READS_PER_WAKE 16

struct jit_watch {
	struct jit_io io;
	struct mnl_socket *nl;
	int epfd;
	char *table;
	uint32_t own_portid;
	watch_fn fn;
	void *userdata;
	struct jit_tamper pending; /* the transaction being read */
	struct jit_tamper found;   /* foreign ones of this wake-up */
	uint32_t last_genid;	   /* the newest transaction seen (or set) */
};

/* Every object message carries its table's name as attribute 1. */
static bool touches(const struct jit_watch *w, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (g->nfgen_family != NFPROTO_INET)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*g))
	{
		if (mnl_attr_get_type(a) == 1 &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return streq(mnl_attr_get_str(a), w->table);
	}
	return false;
}

static bool is_delete(uint16_t msg)
{
	switch (msg) {
	case NFT_MSG_DELTABLE:
	case NFT_MSG_DELCHAIN:
	case NFT_MSG_DELRULE:
	case NFT_MSG_DELSET:
		return true;
	default:
		/* DESTROY* (Linux 6.3+) are 26..29. */
		return msg >= 26 && msg <= 29;
	}
}

/* Fold one foreign transaction into what this wake-up reports. */
static void add_foreign(struct jit_tamper *acc, const struct jit_tamper *t)
{
	acc->changes += t->changes;
	acc->deleted = acc->deleted || t->deleted;
	acc->transactions++;
	acc->pid = t->pid;
	acc->genid = t->genid;
	acc->portid = t->portid;
	memcpy(acc->comm, t->comm, sizeof(acc->comm));
}

static void end_of_transaction(struct jit_watch *w, const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	w->pending.portid = nlh->nlmsg_pid;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		switch (mnl_attr_get_type(a)) {
		case NFTA_GEN_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				w->pending.genid = ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_GEN_PROC_PID:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				w->pending.pid =
					(pid_t)ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_GEN_PROC_NAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				snprintf(w->pending.comm,
					 sizeof(w->pending.comm), "%s",
					 mnl_attr_get_str(a));
			break;
		}
	}
	/*
	 * Our own commits come back as events too. They are known by the
	 * port id of the socket that sent them (the kernel puts it in
	 * nlmsg_pid), never by the process id: NFTA_GEN_PROC_PID is the pid
	 * as the initial namespace sees it, not ours inside a PID namespace.
	 */
	if (w->pending.changes && nlh->nlmsg_pid != w->own_portid)
		add_foreign(&w->found, &w->pending);
	w->last_genid = w->pending.genid;
	memset(&w->pending, 0, sizeof(w->pending));
}

/* Read up to max datagrams into w->found; true if none is left. */
static bool read_events(struct jit_watch *w, int max)
{
	char buf[65536];

	for (int reads = 0; reads < max; reads++) {
		ssize_t n = recv(w->io.fd, buf, sizeof(buf), MSG_DONTWAIT);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				memset(&w->pending, 0, sizeof(w->pending));
				w->found.lost = true;
				continue;
			}
			return errno == EAGAIN;
		}
		len = (int)n;
		for (const struct nlmsghdr *nlh = (const void *)buf;
		     mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			uint16_t msg = NFNL_MSG_TYPE(nlh->nlmsg_type);

			if (NFNL_SUBSYS_ID(nlh->nlmsg_type) !=
				    NFNL_SUBSYS_NFTABLES ||
			    nlh->nlmsg_len <
				    NLMSG_LENGTH(sizeof(struct nfgenmsg)))
				continue;
			if (msg == NFT_MSG_NEWGEN) {
				end_of_transaction(w, nlh);
			} else if (touches(w, nlh)) {
				w->pending.changes++;
				if (is_delete(msg))
					w->pending.deleted = true;
			}
		}
	}
	return false;
}

static void report(struct jit_watch *w)
{
	if (w->found.transactions || w->found.lost) {
		struct jit_tamper t = w->found;

		memset(&w->found, 0, sizeof(w->found));
		w->fn(w->userdata, &t);
	}
}

static void watch_cb(struct jit_io *io, uint32_t events)
{
	struct jit_watch *w = container_of(io, struct jit_watch, io);

	(void)events;
	/* What is left is read at the next wake-up, after the others. */
	(void)read_events(w, WATCH_READS_PER_WAKE);
	report(w);
}

/* A process committing without pause could keep a drain going. */
#define WATCH_DRAIN_MAX 1024

void watch_drain(struct jit_watch *w)
{
	/* Events left unread count as lost. */
	if (!read_events(w, WATCH_DRAIN_MAX))
		w->found.lost = true;
	report(w);
}

void watch_set_last(struct jit_watch *w, uint32_t genid)
{
	w->last_genid = genid;
}

uint32_t watch_last(const struct jit_watch *w)
{
	return w->last_genid;
}

int watch_open(const char *table, uint32_t own_portid, int epfd, watch_fn fn,
	       void *userdata, struct jit_watch **ret)
{
	int group = NFNLGRP_NFTABLES, size = WATCH_RCVBUF;
	struct jit_watch *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->table = strdup(table);
	w->nl = mnl_socket_open2(NETLINK_NETFILTER,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->table || !w->nl) {
		r = w->table ? -errno : -ENOMEM;
		goto fail;
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(w->nl, NETLINK_ADD_MEMBERSHIP, &group,
				  sizeof(group)) < 0) {
		r = -errno;
		goto fail;
	}
	socket_buffers(mnl_socket_get_fd(w->nl), size, 0);
	w->epfd = epfd;
	w->own_portid = own_portid;
	w->fn = fn;
	w->userdata = userdata;
	r = loop_watch(epfd, &w->io, mnl_socket_get_fd(w->nl), watch_cb,
		       EPOLLIN);
	if (r < 0)
		goto fail;
	*ret = w;
	return 0;
fail:
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w->table);
	free(w);
	return r;
}

struct jit_watch *watch_close(struct jit_watch *w)
{
	if (w) {
		loop_del(w->epfd, &w->io);
		mnl_socket_close(w->nl);
		free(w->table);
		free(w);
	}
	return NULL;
}
