/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packet parser behind the NFLOG reader: source, protocol and
 * destination port from the network header on, and refusal of anything
 * that does not carry a TCP or UDP destination port.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>

#include "nflog.h"
#include "util.h"
#include "runner.h"

/* An IPv4 header of ihl words, with a TCP/UDP header's ports after it. */
static size_t ipv4(uint8_t *p, unsigned ihl, uint8_t proto, const char *src,
		   uint16_t sport, uint16_t dport)
{
	size_t off = ihl * 4;

	memset(p, 0, off + 20);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)((off + 20) >> 8);
	p[3] = (uint8_t)(off + 20);
	p[8] = 64;
	p[9] = proto;
	ck_assert_int_eq(inet_pton(AF_INET, src, p + 12), 1);
	ck_assert_int_eq(inet_pton(AF_INET, "203.0.113.1", p + 16), 1);
	/* Options: NOPs, then end of list. */
	for (size_t i = 20; i < off; i++)
		p[i] = i + 1 < off ? 1 : 0;
	p[off] = (uint8_t)(sport >> 8);
	p[off + 1] = (uint8_t)sport;
	p[off + 2] = (uint8_t)(dport >> 8);
	p[off + 3] = (uint8_t)dport;
	return off + 20;
}

static size_t ipv6(uint8_t *p, uint8_t next, const char *src, uint16_t sport,
		   uint16_t dport)
{
	memset(p, 0, 60);
	p[0] = 0x60;
	p[5] = 20;
	p[6] = next;
	p[7] = 64;
	ck_assert_int_eq(inet_pton(AF_INET6, src, p + 8), 1);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", p + 24), 1);
	p[40] = (uint8_t)(sport >> 8);
	p[41] = (uint8_t)sport;
	p[42] = (uint8_t)(dport >> 8);
	p[43] = (uint8_t)dport;
	return 60;
}

static void assert_src(const struct jit_denied *d, const char *want)
{
	char buf[JIT_PREFIX_STRLEN];

	ck_assert_str_eq(prefix_format(&d->src, buf, sizeof(buf)), want);
}

/* Parse a copy of exactly len bytes, so that ASan sees any over-read. */
static int parse(const uint8_t *pkt, size_t len, int family,
		 struct jit_denied *d)
{
	_cleanup_free_ uint8_t *copy = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, pkt, len);
	return nflog_parse_packet(copy, len, family, d);
}

UNIT_TEST("parse", test_ipv4_tcp)
{
	uint8_t p[128];
	size_t n = ipv4(p, 5, IPPROTO_TCP, "198.51.100.7", 51000, 22);
	struct jit_denied d;

	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(parse(p, n, AF_INET, &d), 0);
	ck_assert_uint_eq(d.src.family, AF_INET);
	ck_assert_uint_eq(d.src.len, 32);
	assert_src(&d, "198.51.100.7/32");
	ck_assert_uint_eq(d.proto, IPPROTO_TCP);
	ck_assert_uint_eq(d.port, 22);
	ck_assert(!d.rejected);
}
END_TEST

UNIT_TEST("parse", test_ipv4_udp)
{
	uint8_t p[128];
	size_t n = ipv4(p, 5, IPPROTO_UDP, "192.0.2.200", 1234, 3389);
	struct jit_denied d;

	ck_assert_int_eq(parse(p, n, AF_INET, &d), 0);
	assert_src(&d, "192.0.2.200/32");
	ck_assert_uint_eq(d.proto, IPPROTO_UDP);
	ck_assert_uint_eq(d.port, 3389);
}
END_TEST

/* The port is read after the options, not at a fixed offset of 20. */
UNIT_TEST("parse", test_ipv4_options)
{
	uint8_t p[128];
	struct jit_denied d;

	for (unsigned ihl = 6; ihl <= 15; ihl++) {
		size_t n =
			ipv4(p, ihl, IPPROTO_TCP, "192.0.2.1", 0x1111, 65535);

		ck_assert_int_eq(parse(p, n, AF_INET, &d), 0);
		ck_assert_uint_eq(d.port, 65535);
		assert_src(&d, "192.0.2.1/32");
		/* Only the four port bytes after the options are needed. */
		ck_assert_int_eq(parse(p, ihl * 4 + 4, AF_INET, &d), 0);
		ck_assert_uint_eq(d.port, 65535);
		ck_assert_int_eq(parse(p, ihl * 4 + 3, AF_INET, &d), -EINVAL);
	}
}
END_TEST

UNIT_TEST("parse", test_ipv4_bad_ihl)
{
	uint8_t p[128];
	struct jit_denied d;

	for (unsigned ihl = 0; ihl < 5; ihl++) {
		size_t n = ipv4(p, 5, IPPROTO_TCP, "192.0.2.1", 1, 22);

		p[0] = (uint8_t)(0x40 | ihl);
		ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
	}
}
END_TEST

UNIT_TEST("parse", test_ipv4_fragments)
{
	uint8_t p[128];
	size_t n = ipv4(p, 5, IPPROTO_TCP, "192.0.2.1", 1, 22);
	struct jit_denied d;

	/* First fragment (MF set, offset 0): carries the ports. */
	p[6] = 0x20;
	ck_assert_int_eq(parse(p, n, AF_INET, &d), 0);
	ck_assert_uint_eq(d.port, 22);
	/* DF alone is no fragment. */
	p[6] = 0x40;
	ck_assert_int_eq(parse(p, n, AF_INET, &d), 0);
	/* Later fragments: what sits there is payload, not ports. */
	p[6] = 0x20;
	p[7] = 1;
	ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
	p[6] = 0x00;
	p[7] = 0xb9; /* last fragment, offset 185 */
	ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
	p[6] = 0x1f;
	p[7] = 0x00; /* high bits of the offset only */
	ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
}
END_TEST

UNIT_TEST("parse", test_truncated)
{
	uint8_t p4[128], p6[128];
	size_t n4 = ipv4(p4, 5, IPPROTO_TCP, "192.0.2.1", 1, 22);
	size_t n6 = ipv6(p6, IPPROTO_UDP, "2001:db8::7", 1, 500);
	struct jit_denied d;

	/* Up to the destination port is enough; one byte less is not. */
	for (size_t len = 0; len < 24; len++)
		ck_assert_msg(parse(p4, len, AF_INET, &d) == -EINVAL,
			      "IPv4 cut at %zu accepted", len);
	ck_assert_int_eq(parse(p4, 24, AF_INET, &d), 0);
	ck_assert_int_eq(parse(p4, n4, AF_INET, &d), 0);
	for (size_t len = 0; len < 44; len++)
		ck_assert_msg(parse(p6, len, AF_INET6, &d) == -EINVAL,
			      "IPv6 cut at %zu accepted", len);
	ck_assert_int_eq(parse(p6, 44, AF_INET6, &d), 0);
	ck_assert_int_eq(parse(p6, n6, AF_INET6, &d), 0);
}
END_TEST

UNIT_TEST("parse", test_ipv6_tcp)
{
	uint8_t p[128];
	size_t n = ipv6(p, IPPROTO_TCP, "2001:db8:5::42", 40000, 5986);
	struct jit_denied d;

	ck_assert_int_eq(parse(p, n, AF_INET6, &d), 0);
	ck_assert_uint_eq(d.src.family, AF_INET6);
	ck_assert_uint_eq(d.src.len, 128);
	assert_src(&d, "2001:db8:5::42/128");
	ck_assert_uint_eq(d.proto, IPPROTO_TCP);
	ck_assert_uint_eq(d.port, 5986);
}
END_TEST

UNIT_TEST("parse", test_ipv6_udp)
{
	uint8_t p[128];
	size_t n = ipv6(p, IPPROTO_UDP, "::ffff:192.0.2.9", 40000, 3389);
	struct jit_denied d;

	ck_assert_int_eq(parse(p, n, AF_INET6, &d), 0);
	ck_assert_uint_eq(d.proto, IPPROTO_UDP);
	ck_assert_uint_eq(d.port, 3389);
	ck_assert_uint_eq(d.src.family, AF_INET6);
}
END_TEST

UNIT_TEST("parse", test_not_tcp_udp)
{
	static const uint8_t protos[] = { IPPROTO_ICMP, IPPROTO_IGMP,
					  IPPROTO_GRE,	IPPROTO_ESP,
					  IPPROTO_SCTP, 0 };
	uint8_t p[128];
	struct jit_denied d;
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		n = ipv4(p, 5, protos[i], "192.0.2.1", 8 << 8, 0);
		ck_assert_msg(parse(p, n, AF_INET, &d) == -EINVAL,
			      "IPv4 protocol %u accepted", protos[i]);
	}
	/* ICMPv6, and extension headers, which are not followed. */
	n = ipv6(p, IPPROTO_ICMPV6, "2001:db8::7", 128 << 8, 0);
	ck_assert_int_eq(parse(p, n, AF_INET6, &d), -EINVAL);
	n = ipv6(p, IPPROTO_FRAGMENT, "2001:db8::7", 1, 22);
	ck_assert_int_eq(parse(p, n, AF_INET6, &d), -EINVAL);
	n = ipv6(p, IPPROTO_HOPOPTS, "2001:db8::7", 1, 22);
	ck_assert_int_eq(parse(p, n, AF_INET6, &d), -EINVAL);
	/* An IPv4 protocol number read as IPv4: ICMP is 1 there. */
	n = ipv4(p, 5, IPPROTO_ICMPV6, "192.0.2.1", 1, 22);
	ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
}
END_TEST

UNIT_TEST("parse", test_wrong_version)
{
	uint8_t p4[128], p6[128];
	size_t n4 = ipv4(p4, 5, IPPROTO_TCP, "192.0.2.1", 1, 22);
	size_t n6 = ipv6(p6, IPPROTO_TCP, "2001:db8::7", 1, 22);
	struct jit_denied d;

	/* An IPv6 packet said to be IPv4, and the other way round. */
	ck_assert_int_eq(parse(p6, n6, AF_INET, &d), -EINVAL);
	ck_assert_int_eq(parse(p4, n6 > n4 ? n4 : n6, AF_INET6, &d), -EINVAL);
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		p4[0] = (uint8_t)(v << 4 | 5);
		ck_assert_msg(parse(p4, n4, AF_INET, &d) == -EINVAL,
			      "version %u as IPv4", v);
	}
	for (unsigned v = 0; v < 16; v++) {
		if (v == 6)
			continue;
		p6[0] = (uint8_t)(v << 4);
		ck_assert_msg(parse(p6, n6, AF_INET6, &d) == -EINVAL,
			      "version %u as IPv6", v);
	}
	/* Families other than the two. */
	p4[0] = 0x45;
	ck_assert_int_eq(parse(p4, n4, AF_UNSPEC, &d), -EINVAL);
	ck_assert_int_eq(parse(p4, n4, AF_INET6 + 1, &d), -EINVAL);
}
END_TEST

/* Output is written only on success. */
/* The SPA path wants the destination and where the UDP header starts. */
UNIT_TEST("parse", test_l4_dst_and_offset)
{
	uint8_t p[80];
	char buf[JIT_PREFIX_STRLEN];
	struct jit_l4 h;
	size_t n = ipv4(p, 7, IPPROTO_UDP, "192.0.2.9", 40000, 62201);

	ck_assert_int_eq(nflog_parse_l4(p, n, AF_INET, &h), 0);
	ck_assert_str_eq(prefix_format(&h.dst, buf, sizeof(buf)),
			 "203.0.113.1/32");
	ck_assert_uint_eq(h.off, 28);
	ck_assert_uint_eq(h.port, 62201);
	ck_assert_uint_eq(h.proto, IPPROTO_UDP);
	n = ipv6(p, IPPROTO_UDP, "2001:db8::9", 40000, 62201);
	ck_assert_int_eq(nflog_parse_l4(p, n, AF_INET6, &h), 0);
	ck_assert_str_eq(prefix_format(&h.src, buf, sizeof(buf)),
			 "2001:db8::9/128");
	ck_assert_str_eq(prefix_format(&h.dst, buf, sizeof(buf)),
			 "2001:db8::1/128");
	ck_assert_uint_eq(h.off, 40);
}
END_TEST

UNIT_TEST("parse", test_untouched_on_error)
{
	uint8_t p[128];
	size_t n = ipv4(p, 5, IPPROTO_ICMP, "192.0.2.1", 1, 22);
	struct jit_denied d, before;

	memset(&d, 0x5a, sizeof(d));
	before = d;
	ck_assert_int_eq(parse(p, n, AF_INET, &d), -EINVAL);
	ck_assert_mem_eq(&d, &before, sizeof(d));
}
END_TEST
