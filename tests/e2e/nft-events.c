/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An nftables event listener for the tests and the benchmark, as another
 * agent or `nft monitor` would be: it joins NFNLGRP_NFTABLES in its
 * namespace and prints one line per set element added or deleted,
 *
 *   add|delete TABLE SET [IFNAME[-IFNAME_END] . ]ADDR[-ADDR_END] . PROTO .
 *                                                     PORT[-PORT_END]
 *
 * for keys shaped as the grant sets' ([iifname .] address . proto . port),
 * hex for any other, and "lost N" when the kernel dropped events (ENOBUFS). It
 * prints "listening" once subscribed. With -q it prints only counts at exit
 * (SIGTERM/SIGINT): "events N elements N lost N".
 *
 *   nft-events [-q]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static bool quiet;
static unsigned long n_events, n_elems, n_lost;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* An interface name of a key, its non-printable bytes as \xNN. */
static void print_ifname(const uint8_t *n)
{
	for (unsigned i = 0; i < IFNAMSIZ && n[i]; i++)
		if (n[i] > ' ' && n[i] < 0x7f)
			putchar(n[i]);
		else
			printf("\\x%02x", n[i]);
}

static void print_key(const uint8_t *k, const uint8_t *ke, uint32_t len)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	uint32_t alen, off = 0;
	int fam;
	uint16_t p, pe;

	/* The interface-scoped sets: iifname first. */
	if (len == IFNAMSIZ + 12 || len == IFNAMSIZ + 24) {
		print_ifname(k);
		if (ke && memcmp(k, ke, IFNAMSIZ)) {
			printf("-");
			print_ifname(ke);
		}
		printf(" . ");
		off = IFNAMSIZ;
		len -= IFNAMSIZ;
		k += off;
		if (ke)
			ke += off;
	}
	alen = len == 12 ? 4 : len == 24 ? 16 : 0;
	fam = alen == 4 ? AF_INET : AF_INET6;
	if (!alen) {
		for (uint32_t i = 0; i < len; i++)
			printf("%02x", k[i]);
		return;
	}
	inet_ntop(fam, k, a, sizeof(a));
	memcpy(&p, k + alen + 4, 2);
	printf("%s", a);
	if (ke && memcmp(k, ke, alen)) {
		inet_ntop(fam, ke, b, sizeof(b));
		printf("-%s", b);
	}
	printf(" . %u . %u", k[alen], ntohs(p));
	if (ke) {
		memcpy(&pe, ke + alen + 4, 2);
		if (pe != p)
			printf("-%u", ntohs(pe));
	}
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	struct nftnl_set *s;

	(void)data;
	n_events++;
	if (type != NFT_MSG_NEWSETELEM && type != NFT_MSG_DELSETELEM)
		return MNL_CB_OK;
	s = nftnl_set_alloc();
	if (!s || nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	it = nftnl_set_elems_iter_create(s);
	while (it && (e = nftnl_set_elems_iter_next(it))) {
		uint32_t len = 0, elen = 0;
		const uint8_t *k =
			nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		const uint8_t *ke =
			nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &elen);

		n_elems++;
		if (quiet || !k)
			continue;
		printf("%s %s %s ",
		       type == NFT_MSG_NEWSETELEM ? "add" : "delete",
		       nftnl_set_get_str(s, NFTNL_SET_TABLE),
		       nftnl_set_get_str(s, NFTNL_SET_NAME));
		print_key(k, elen == len ? ke : NULL, len);
		printf("\n");
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	if (!quiet)
		fflush(stdout);
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	static char buf[1 << 16];
	struct sigaction sa = { .sa_handler = on_signal };
	struct mnl_socket *nl;
	int group = NFNLGRP_NFTABLES, size = 16 << 20;

	quiet = argc > 1 && !strcmp(argv[1], "-q");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group,
				  sizeof(group)) < 0) {
		perror("nft-events: netlink");
		return 1;
	}
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE,
			 &size, sizeof(size));
	printf("listening\n");
	fflush(stdout);
	while (!stop) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == ENOBUFS) {
				n_lost++;
				if (!quiet)
					printf("lost %lu\n", n_lost);
				continue;
			}
			if (errno == EINTR)
				continue;
			perror("nft-events: recv");
			break;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, NULL);
	}
	if (quiet)
		printf("events %lu elements %lu lost %lu\n", n_events, n_elems,
		       n_lost);
	mnl_socket_close(nl);
	return 0;
}
