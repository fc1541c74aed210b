/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <netinet/in.h>

#include "addr.h"
#include "util.h"

/* Network bits of byte i of an address under a prefix of length len. */
static uint8_t byte_mask(unsigned len, unsigned i)
{
	if (len >= 8 * (i + 1))
		return 0xff;
	if (len <= 8 * i)
		return 0;
	return (uint8_t)(0xff << (8 - (len - 8 * i)));
}

/* Clear the bits below len; returns true if any was set. */
static bool clear_host_bits(uint8_t *addr, unsigned addr_len, unsigned len)
{
	bool had = false;

	for (unsigned i = 0; i < addr_len; i++) {
		uint8_t mask = byte_mask(len, i);

		if (addr[i] & ~mask)
			had = true;
		addr[i] &= mask;
	}
	return had;
}

/*
 * Digits only: strtoul would also take " 24", "+24" and "0x18", none of
 * which belongs in a policy file.
 */
static int parse_len(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int prefix_parse_relaxed(const char *s, struct jit_prefix *ret,
			 bool *had_host_bits)
{
	char addr[INET6_ADDRSTRLEN];
	struct jit_prefix p = { 0 };
	const char *slash;
	unsigned len, max;
	size_t n;

	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';

	if (inet_pton(AF_INET, addr, p.addr) == 1) {
		p.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, p.addr) == 1) {
		p.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}

	if (slash) {
		if (parse_len(slash + 1, max, &len) < 0)
			return -EINVAL;
	} else {
		len = max;
	}
	p.len = (uint8_t)len;
	*had_host_bits = clear_host_bits(p.addr, prefix_addr_len(&p), len);
	*ret = p;
	return 0;
}

int prefix_parse(const char *s, struct jit_prefix *ret)
{
	struct jit_prefix p;
	bool host_bits;

	if (prefix_parse_relaxed(s, &p, &host_bits) < 0 || host_bits)
		return -EINVAL;
	*ret = p;
	return 0;
}

char *prefix_format(const struct jit_prefix *p, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	if (size == 0)
		return buf;
	if ((p->family != AF_INET && p->family != AF_INET6) ||
	    !inet_ntop(p->family, p->addr, addr, sizeof(addr))) {
		snprintf(buf, size, "?");
		return buf;
	}
	snprintf(buf, size, "%s/%u", addr, p->len);
	return buf;
}

bool prefix_contains(const struct jit_prefix *outer,
		     const struct jit_prefix *inner)
{
	uint8_t a[16];

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	memcpy(a, inner->addr, sizeof(a));
	clear_host_bits(a, prefix_addr_len(inner), outer->len);
	return memcmp(a, outer->addr, prefix_addr_len(outer)) == 0;
}

void prefix_last(const struct jit_prefix *p, uint8_t out[16])
{
	unsigned n = prefix_addr_len(p);

	memset(out, 0, 16);
	for (unsigned i = 0; i < n; i++)
		out[i] = (uint8_t)(p->addr[i] | (uint8_t)~byte_mask(p->len, i));
}

bool prefix_is_v4_mapped(const struct jit_prefix *p)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return p->family == AF_INET6 && p->len >= 96 &&
	       !memcmp(p->addr, mapped, sizeof(mapped));
}

const char *proto_name(uint8_t ipproto)
{
	return ipproto == IPPROTO_TCP ? "tcp" : "udp";
}

int proto_port_parse(char *tok, uint8_t *ipproto, uint16_t *port)
{
	char *slash = strchr(tok, '/'), *end;
	unsigned long v;

	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (!strcasecmp(tok, "tcp"))
		*ipproto = IPPROTO_TCP;
	else if (!strcasecmp(tok, "udp"))
		*ipproto = IPPROTO_UDP;
	else
		return -EPROTONOSUPPORT;
	errno = 0;
	v = strtoul(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end || errno || v < 1 ||
	    v > 65535)
		return -ERANGE;
	*port = (uint16_t)v;
	return 0;
}
