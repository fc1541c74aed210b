/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UDP floods for the end-to-end tests, sent from a raw socket so that the
 * source can be anything (inside the test's own namespaces only):
 *
 *   udpflood DST PORT COUNT FILE|- SRC
 *
 * sends COUNT IPv4 UDP datagrams to DST:PORT, each with the content of FILE
 * (or, with "-", 180 random bytes that change with every packet); a FILE
 * of several lines holds one payload per line (saved fwknop packets put
 * together), sent in turn, the first again after the last. SRC is
 * one address, or "random:A.B.C" for a random host in A.B.C.0/24 per
 * packet. Prints the number sent. The count bounds it; nothing else paces
 * it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)(b[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static uint32_t rnd(void)
{
	static uint32_t x = 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

int main(int argc, char **argv)
{
	static uint8_t pkt[1500];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + sizeof(*ip));
	uint8_t *data = pkt + sizeof(*ip) + sizeof(*udp);
	size_t max = sizeof(pkt) - sizeof(*ip) - sizeof(*udp), len = 180;
	struct in_addr src, net = { 0 };
	bool random_src = false;
	long count, sent = 0;
	char *lines = NULL;
	size_t n_lines = 0, *line_off = NULL, *line_len = NULL;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: udpflood DST PORT COUNT FILE|- "
				"SRC|random:A.B.C\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1)
		return 2;
	count = strtol(argv[3], NULL, 10);
	if (!strncmp(argv[5], "random:", 7)) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%s.0", argv[5] + 7);
		if (inet_pton(AF_INET, buf, &net) != 1)
			return 2;
		random_src = true;
	} else if (inet_pton(AF_INET, argv[5], &src) != 1) {
		return 2;
	}
	if (strcmp(argv[4], "-")) {
		FILE *f = fopen(argv[4], "r");
		size_t size = 0, cap = 0, start = 0;

		if (!f) {
			perror(argv[4]);
			return 1;
		}
		for (;;) {
			if (size == cap) {
				cap = cap ? cap * 2 : 65536;
				lines = realloc(lines, cap + 1);
				if (!lines)
					return 1;
			}
			size_t n = fread(lines + size, 1, cap - size, f);

			if (!n)
				break;
			size += n;
		}
		fclose(f);
		lines[size] = '\n';
		/* One payload per line; a saved fwknop packet ends with a
		 * newline it never sends. */
		for (size_t i = 0; i <= size; i++) {
			if (lines[i] != '\n' && lines[i] != '\r')
				continue;
			if (i > start) {
				line_off = realloc(line_off,
						   (n_lines + 1) *
							   sizeof(*line_off));
				line_len = realloc(line_len,
						   (n_lines + 1) *
							   sizeof(*line_len));
				if (!line_off || !line_len)
					return 1;
				line_off[n_lines] = start;
				line_len[n_lines++] =
					i - start > max ? max : i - start;
			}
			start = i + 1;
		}
		if (!n_lines) {
			fprintf(stderr, "%s: no payload\n", argv[4]);
			return 1;
		}
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		size_t total;

		if (n_lines) {
			len = line_len[i % n_lines];
			memcpy(data, lines + line_off[i % n_lines], len);
		} else {
			for (size_t k = 0; k < len; k++)
				data[k] = (uint8_t)rnd();
		}
		total = sizeof(*ip) + sizeof(*udp) + len;
		if (random_src)
			src.s_addr =
				htonl(ntohl(net.s_addr) | (2 + rnd() % 250));
		memset(ip, 0, sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons((uint16_t)total);
		ip->id = htons((uint16_t)rnd());
		ip->saddr = src.s_addr;
		ip->daddr = dst.sin_addr.s_addr;
		ip->check = csum(ip, sizeof(*ip));
		udp->source = htons((uint16_t)(1024 + rnd() % 60000));
		udp->dest = htons((uint16_t)atoi(argv[2]));
		udp->len = htons((uint16_t)(sizeof(*udp) + len));
		udp->check = 0; /* optional in IPv4 */
		if (sendto(fd, pkt, total, 0, (struct sockaddr *)&dst,
			   sizeof(dst)) < 0) {
			if (errno == ENOBUFS || errno == EAGAIN)
				continue;
			perror("sendto");
			return 1;
		}
		sent++;
	}
	printf("%ld\n", sent);
	close(fd);
	free(lines);
	free(line_off);
	free(line_len);
	return 0;
}
