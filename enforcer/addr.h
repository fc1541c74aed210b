/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Addresses and prefixes (IPv4 and IPv6) as policies and grants use them. */
#ifndef JIT_ADDR_H
#define JIT_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/**
 * struct jit_prefix - an IPv4 or IPv6 network
 * @family: AF_INET or AF_INET6
 * @len: prefix length, 0..32 or 0..128
 * @addr: network address in network byte order (4 or 16 bytes used);
 *        host bits are always zero
 */
struct jit_prefix {
	uint8_t family;
	uint8_t len;
	uint8_t addr[16];
};

/* Longest text form of a prefix, with "/128" and the terminating NUL. */
#define JIT_PREFIX_STRLEN 50

/*
 * Parse "192.0.2.7", "198.51.100.0/24", "2001:db8::/32". A bare address is a
 * host prefix. Host bits set under the mask ("192.0.2.7/24") are an error
 * (-EINVAL) so that a typo does not silently widen a rule.
 * Returns 0 or -EINVAL.
 */
int prefix_parse(const char *s, struct jit_prefix *ret);

/*
 * Like prefix_parse, but host bits are cleared rather than refused, and
 * *had_host_bits tells whether there were any: lets an error message
 * suggest the network the user probably meant. Returns 0 or -EINVAL.
 */
int prefix_parse_relaxed(const char *s, struct jit_prefix *ret,
			 bool *had_host_bits);

/* An IPv6 prefix inside ::ffff:0:0/96: IPv4 written as IPv6, which no
 * IPv4 packet matches. */
bool prefix_is_v4_mapped(const struct jit_prefix *p);

/* Canonical text: "192.0.2.7/32", "2001:db8::/32". Returns buf. */
char *prefix_format(const struct jit_prefix *p, char *buf, size_t size);

/* True if every address of inner lies inside outer (same family). */
bool prefix_contains(const struct jit_prefix *outer,
		     const struct jit_prefix *inner);

/* Number of address bytes for the family: 4 or 16. */
static inline unsigned prefix_addr_len(const struct jit_prefix *p)
{
	return p->family == AF_INET ? 4 : 16;
}

/* "tcp" or "udp" for IPPROTO_TCP or IPPROTO_UDP (the only two we use). */
const char *proto_name(uint8_t ipproto);

/*
 * "tcp/22" or "UDP/1194" (as SPA access files, packets and fwknop write
 * ports) into *ipproto and *port. tok is cut at its '/', leaving the
 * protocol's name. Returns 0, or -EINVAL (not proto/port),
 * -EPROTONOSUPPORT (not tcp or udp) or -ERANGE (not a port 1..65535).
 */
int proto_port_parse(char *tok, uint8_t *ipproto, uint16_t *port);

/* Last address of the prefix into out (4 or 16 bytes). */
void prefix_last(const struct jit_prefix *p, uint8_t out[16]);

#endif
