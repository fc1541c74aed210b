/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny TCP/UDP client and echo server for the end-to-end tests, so they
 * need nothing beyond what the project builds.
 *
 *   probe listen PORT...           echo server on [::] (v4 and v6), TCP+UDP
 *   probe connect ADDR PORT [MS [SRC]]
 *                                  exit 0 connected and echoed, 1 refused,
 *                                  2 timed out, 3 other error; SRC binds
 *                                  the client to that local address
 *   probe flood6 DST PORT COUNT    COUNT TCP SYNs to [DST]:PORT from random
 *                                  sources in 2001:db8:ff00::/40 (raw)
 *   probe udp ADDR PORT [MS]       exit 0 echoed, 1 refused (ICMP), 2 timeout
 *   probe session ADDR PORT [SRC]  connect (from SRC), then for each stdin
 *                                  line send it and print "ok" once echoed,
 *                                  or "fail" (reset, closed or 2 s without
 *                                  echo)
 *   probe ack ADDR PORT [MS [SPORT]]
 *                                  send a lone TCP ACK (no handshake) from a
 *                                  raw socket, IPv4; exit 0 if the host's
 *                                  stack answered with a reset (the packet
 *                                  got through), 2 if nothing came back
 *
 *   probe unix PATH                send stdin to a Unix stream socket as is,
 *                                  then print what comes back until EOF
 *
 * A listen PORT may be written PORT@IPV4 to bind one address only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/ip.h>
#include <sys/un.h>
#include <netinet/tcp.h>

#define MAX_FDS 256

static int listen_any(int port, int type);

static int resolve(const char *addr, const char *port, int type,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = type,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	if (getaddrinfo(addr, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static const char *bind_src;

/* Returns 0 connected, 1 refused, 2 timeout, 3 error; *fd on success. */
static int tcp_connect(const char *addr, const char *port, int ms, int *fd)
{
	struct sockaddr_storage ss;
	struct pollfd p;
	socklen_t len;
	int s, err = 0;

	if (resolve(addr, port, SOCK_STREAM, &ss, &len) < 0)
		return 3;
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		return 3;
	if (bind_src) {
		struct sockaddr_storage src;
		socklen_t slen;

		if (resolve(bind_src, "0", SOCK_STREAM, &src, &slen) < 0 ||
		    bind(s, (struct sockaddr *)&src, slen) < 0) {
			close(s);
			return 3;
		}
	}
	if (connect(s, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		close(s);
		return err == ECONNREFUSED ? 1 : 3;
	}
	p = (struct pollfd){ .fd = s, .events = POLLOUT };
	if (poll(&p, 1, ms) <= 0) {
		close(s);
		return 2;
	}
	len = sizeof(err);
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		close(s);
		return err == ECONNREFUSED			 ? 1
		       : err == ETIMEDOUT || err == EHOSTUNREACH ? 2
								 : 3;
	}
	fcntl(s, F_SETFL, 0);
	*fd = s;
	return 0;
}

static int echo_roundtrip(int fd, const char *msg, size_t n, int ms)
{
	char buf[4096];
	size_t got = 0;

	if (send(fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -1;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, ms) <= 0)
			return -1;
		r = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return memcmp(buf, msg, n) ? -1 : 0;
}

static int do_connect(const char *addr, const char *port, int ms)
{
	int fd, r = tcp_connect(addr, port, ms, &fd);

	if (r)
		return r;
	r = echo_roundtrip(fd, "ping\n", 5, ms) ? 3 : 0;
	close(fd);
	return r;
}

static int do_udp(const char *addr, const char *port, int ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];
	int s;

	if (resolve(addr, port, SOCK_DGRAM, &ss, &len) < 0)
		return 3;
	s = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&ss, len) < 0)
		return 3;
	for (int i = 0; i < 3; i++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t r;

		send(s, "ping", 4, 0);
		if (poll(&p, 1, ms / 3) <= 0)
			continue;
		r = recv(s, buf, sizeof(buf), 0);
		if (r < 0)
			return errno == ECONNREFUSED ? 1 : 3;
		if (r == 4)
			return 0;
	}
	return 2;
}

static int do_session(const char *addr, const char *port)
{
	char line[1024];
	int fd, r = tcp_connect(addr, port, 3000, &fd);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (r) {
		printf("connect-failed %d\n", r);
		return r;
	}
	printf("connected\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (echo_roundtrip(fd, line, strlen(line), 2000) == 0) {
			printf("ok\n");
		} else {
			printf("fail\n");
			return 1;
		}
	}
	close(fd);
	return 0;
}

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int do_ack(const char *addr, const char *port, int ms, int src_port)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	struct {
		uint32_t s, d;
		uint8_t zero, proto;
		uint16_t len;
		struct tcphdr th;
	} ph;
	uint16_t sport = src_port > 0 ? (uint16_t)src_port
				      : (uint16_t)(20000 + getpid() % 20000);
	int s, u;

	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1)
		return 3;
	dst.sin_port = htons((uint16_t)atoi(port));
	/* Learn the source address the route picks. */
	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    getsockname(u, (struct sockaddr *)&src, &sl) < 0)
		return 3;
	close(u);
	s = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	if (s < 0)
		return 3;
	memset(&ph, 0, sizeof(ph));
	ph.s = src.sin_addr.s_addr;
	ph.d = dst.sin_addr.s_addr;
	ph.proto = IPPROTO_TCP;
	ph.len = htons(sizeof(ph.th));
	ph.th.source = htons(sport);
	ph.th.dest = dst.sin_port;
	ph.th.seq = htonl(0x12345678);
	ph.th.ack_seq = htonl(0x9abcdef0);
	ph.th.doff = 5;
	ph.th.ack = 1;
	ph.th.window = htons(1024);
	ph.th.check = htons(csum(&ph, sizeof(ph), 0));
	dst.sin_port = 0;
	if (sendto(s, &ph.th, sizeof(ph.th), 0, (struct sockaddr *)&dst,
		   sizeof(dst)) < 0)
		return 3;
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		uint8_t buf[1500];
		const struct iphdr *ip = (const void *)buf;
		const struct tcphdr *th;
		ssize_t n;

		if (poll(&p, 1, ms) <= 0)
			return 2;
		n = recv(s, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(*ip))
			continue;
		th = (const void *)(buf + ip->ihl * 4);
		if ((size_t)n < ip->ihl * 4u + sizeof(*th) || ip->saddr != ph.d)
			continue;
		if (th->dest == htons(sport) && th->rst)
			return 0;
	}
}

static int listen_on(const char *spec, int type)
{
	const char *at = strchr(spec, '@');
	int port = atoi(spec);

	if (at) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port) };
		int one = 1;
		int s = socket(AF_INET, type | SOCK_NONBLOCK, 0);

		if (s < 0 || inet_pton(AF_INET, at + 1, &sa.sin_addr) != 1)
			return -1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    (type == SOCK_STREAM && listen(s, 128) < 0)) {
			perror("bind");
			close(s);
			return -1;
		}
		return s;
	}
	return listen_any(port, type);
}

static int listen_any(int port, int type)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t)port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0;
	int s = socket(AF_INET6, type | SOCK_NONBLOCK, 0);

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		close(s);
		return -1;
	}
	if (type == SOCK_STREAM && listen(s, 128) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int do_listen(int argc, char **argv)
{
	struct pollfd fds[MAX_FDS];
	int kind[MAX_FDS]; /* 0 tcp listener, 1 udp, 2 tcp conn */
	int n = 0;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < argc && n + 2 <= MAX_FDS; i++) {
		int t = listen_on(argv[i], SOCK_STREAM);
		int u = listen_on(argv[i], SOCK_DGRAM);

		if (t < 0 || u < 0)
			return 3;
		fds[n] = (struct pollfd){ .fd = t, .events = POLLIN };
		kind[n++] = 0;
		fds[n] = (struct pollfd){ .fd = u, .events = POLLIN };
		kind[n++] = 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 3;
		for (int i = 0; i < n; i++) {
			char buf[4096];
			ssize_t r;

			if (!fds[i].revents)
				continue;
			if (kind[i] == 0) {
				int c = accept4(fds[i].fd, NULL, NULL,
						SOCK_NONBLOCK);

				if (c >= 0 && n < MAX_FDS) {
					fds[n] = (struct pollfd){
						.fd = c, .events = POLLIN
					};
					kind[n++] = 2;
				} else if (c >= 0) {
					close(c);
				}
			} else if (kind[i] == 1) {
				struct sockaddr_storage ss;
				socklen_t l = sizeof(ss);

				r = recvfrom(fds[i].fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&ss, &l);
				if (r > 0)
					sendto(fds[i].fd, buf, (size_t)r, 0,
					       (struct sockaddr *)&ss, l);
			} else {
				r = recv(fds[i].fd, buf, sizeof(buf), 0);
				if (r > 0) {
					send(fds[i].fd, buf, (size_t)r,
					     MSG_NOSIGNAL);
				} else if (r == 0 || (errno != EAGAIN &&
						      errno != EINTR)) {
					close(fds[i].fd);
					fds[i] = fds[--n];
					kind[i] = kind[n];
					i--;
				}
			}
		}
	}
}

static int do_flood6(const char *addr, const char *port, long count)
{
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6 };
	uint8_t pkt[60];
	int s, one = 1;
	uint32_t seed = (uint32_t)getpid() * 2654435761u;

	if (inet_pton(AF_INET6, addr, &dst.sin6_addr) != 1)
		return 3;
	s = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
	if (s < 0 ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0)
		return 3;
	for (long i = 0; i < count; i++) {
		struct {
			uint8_t src[16], dst[16];
			uint32_t len;
			uint8_t zero[3], next;
			struct tcphdr th;
		} ph;
		uint8_t *ip = pkt;

		memset(pkt, 0, sizeof(pkt));
		ip[0] = 0x60;
		ip[5] = sizeof(struct tcphdr);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		/* 2001:db8:ffXX:XXXX:... random, a different source each. */
		ip[8] = 0x20;
		ip[9] = 0x01;
		ip[10] = 0x0d;
		ip[11] = 0xb8;
		ip[12] = 0xff;
		for (int k = 13; k < 24; k++) {
			seed = seed * 1103515245u + 12345u;
			ip[k] = (uint8_t)(seed >> 16);
		}
		memcpy(ip + 24, &dst.sin6_addr, 16);
		memset(&ph, 0, sizeof(ph));
		memcpy(ph.src, ip + 8, 16);
		memcpy(ph.dst, ip + 24, 16);
		ph.len = htonl(sizeof(struct tcphdr));
		ph.next = IPPROTO_TCP;
		ph.th.source = htons((uint16_t)(1024 + (seed & 0x7fff)));
		ph.th.dest = htons((uint16_t)atoi(port));
		ph.th.seq = htonl(seed);
		ph.th.doff = 5;
		ph.th.syn = 1;
		ph.th.window = htons(1024);
		ph.th.check = htons(csum(&ph, sizeof(ph), 0));
		memcpy(ip + 40, &ph.th, sizeof(ph.th));
		if (sendto(s, pkt, 40 + sizeof(struct tcphdr), 0,
			   (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN)
			return 3;
	}
	close(s);
	return 0;
}

static int do_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	ssize_t n;
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 3;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(s, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	shutdown(s, SHUT_WR);
	while ((n = recv(s, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	int ms;

	if (argc >= 3 && !strcmp(argv[1], "listen"))
		return do_listen(argc - 2, argv + 2);
	if (argc == 5 && !strcmp(argv[1], "flood6"))
		return do_flood6(argv[2], argv[3], atol(argv[4]));
	if (argc >= 4 && !strcmp(argv[1], "connect")) {
		ms = argc >= 5 ? atoi(argv[4]) : 1500;
		if (argc >= 6)
			bind_src = argv[5];
		return do_connect(argv[2], argv[3], ms);
	}
	if (argc >= 4 && !strcmp(argv[1], "udp")) {
		ms = argc >= 5 ? atoi(argv[4]) : 1500;
		return do_udp(argv[2], argv[3], ms);
	}
	if (argc >= 4 && !strcmp(argv[1], "ack")) {
		ms = argc >= 5 ? atoi(argv[4]) : 1000;
		return do_ack(argv[2], argv[3], ms,
			      argc >= 6 ? atoi(argv[5]) : 0);
	}
	if (argc == 3 && !strcmp(argv[1], "unix"))
		return do_unix(argv[2]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "session")) {
		bind_src = argc == 5 ? argv[4] : NULL;
		return do_session(argv[2], argv[3]);
	}
	fprintf(stderr, "usage: probe listen PORT... | connect ADDR PORT [MS] "
			"| udp ADDR PORT [MS] | session ADDR PORT\n");
	return 64;
}
