/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local sockets through sock_diag (NETLINK_SOCK_DIAG): enumerate TCP/UDP
 * sockets, and destroy one (SOCK_DESTROY, what `ss -K` does).
 */
#ifndef JIT_SOCKDIAG_H
#define JIT_SOCKDIAG_H

#include <stdint.h>

/* TCP states worth keeping alive: connected in either direction. */
#define SOCKDIAG_CONNECTED                                         \
	((1u << 1) /* ESTABLISHED */ | (1u << 4) /* FIN_WAIT1 */ | \
	 (1u << 5) /* FIN_WAIT2 */ | (1u << 8) /* CLOSE_WAIT */ |  \
	 (1u << 9) /* LAST_ACK */ | (1u << 11) /* CLOSING */)
#define SOCKDIAG_LISTEN (1u << 10)

/**
 * struct jit_sock - one local socket as the wire sees it
 * @family: AF_INET or AF_INET6; a v4-mapped IPv6 socket is AF_INET
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @state: TCP state (TCP_ESTABLISHED...), or 7 for an unconnected UDP socket
 * @remote: peer address (4 or 16 bytes used)
 * @local: local address
 * @rport: peer port, host order
 * @lport: local port, host order
 * @uid: owner of the socket
 * @ino: inode number
 * @diag_family: family the kernel reported (for SOCK_DESTROY)
 * @cookie: kernel socket cookie (for SOCK_DESTROY)
 * @raw_src: source as reported (for SOCK_DESTROY)
 * @raw_dst: destination as reported (for SOCK_DESTROY)
 */
struct jit_sock {
	uint8_t family;
	uint8_t proto;
	uint8_t state;
	uint8_t remote[16];
	uint8_t local[16];
	uint16_t rport;
	uint16_t lport;
	uint32_t uid;
	uint32_t ino;
	uint8_t diag_family;
	uint32_t cookie[2];
	uint8_t raw_src[16];
	uint8_t raw_dst[16];
	uint32_t ifindex;
};

/* Called per socket; a negative return stops the dump and is returned. */
typedef int (*sockdiag_fn)(const struct jit_sock *s, void *userdata);

/*
 * Dump IPv4 and IPv6 sockets of proto (IPPROTO_TCP or IPPROTO_UDP) in the
 * given state mask (bits of 1 << TCP_STATE; ~0 for all) in this network
 * namespace. Returns 0 or -errno.
 */
int sockdiag_dump(uint8_t proto, uint32_t states, sockdiag_fn fn,
		  void *userdata);

/*
 * Destroy a socket found by sockdiag_dump: its owner sees ECONNABORTED and
 * the peer gets a reset. Needs CAP_NET_ADMIN and CONFIG_INET_DIAG_DESTROY.
 * Returns 0, -ENOENT if it is already gone, or -errno.
 */
int sockdiag_destroy(const struct jit_sock *s);

struct jit_sockwatch;

/*
 * Be told of every TCP socket the kernel destroys (sock_diag's destroy
 * groups; CAP_NET_ADMIN): fn gets each, or NULL when notifications were
 * lost and the caller should look for itself. Registered on epfd.
 */
int sockwatch_open(int epfd, sockdiag_fn fn, void *userdata,
		   struct jit_sockwatch **ret);
struct jit_sockwatch *sockwatch_close(struct jit_sockwatch *w);

#endif
