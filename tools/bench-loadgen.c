/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The measuring half of tools/bench: traffic, control-socket round trips
 * and process timings, each printed as one JSON object on stdout. Times are
 * taken with clock_gettime (CLOCK_MONOTONIC for durations, CLOCK_REALTIME
 * where they are compared with the agent's end times).
 *
 *   listen ADDR PORT
 *       TCP echo server (epoll, non-blocking); prints "listening"
 *   connrate DST PORT SECONDS CONC WARMUP [SRC]
 *       closed loop of CONC non-blocking connects; each connection that
 *       completes is counted and reset (no TIME_WAIT); counts completions
 *       in a window of SECONDS after WARMUP seconds
 *   grantlat SOCK N BATCH POLICY PORT [fresh|keep]
 *       N request round trips over the agent's socket (one in flight), for
 *       distinct documentation sources; every BATCH grants they are revoked
 *       (timed separately) to stay under the per-user cap. fresh (the
 *       default) connects anew for every request, as jitctl does
 *   stall SOCK STATEFILE TIMEOUT_S
 *       wait until STATEFILE has not changed for 2 s, make one change (a
 *       grant and its revoke), then send "status" requests back to back
 *       until the agent has rewritten STATEFILE (and 200 ms more): the
 *       longest reply shows how long a state write keeps the agent from
 *       answering
 *   spawnlat N -- CMD ARG...
 *       run CMD once per grant and wait for it; @A@ and @P@ in arguments
 *       become grant i's address and port
 *   e2e agent SOCK DST PORT SRC...
 *   e2e spa DIR DST PORT SPAPORT SRC...
 *       one trial per SRC: ask for access (a request over SOCK, or the
 *       prepared SPA packet DIR/spa-K sent over UDP), then try new TCP
 *       connections from SRC every 0.5 ms until one succeeds; time from the
 *       ask to that success
 *   expiry agent SOCK DST PORT DUR_S HOLD_S SRC...
 *   expiry spa DIR DST PORT SPAPORT TIMEOUT_S HOLD_S SRC...
 *       one trial per SRC: get access, open a connection, then try new
 *       connections back to back until the first is refused (lateness =
 *       that moment - the end time), and keep using the established one
 *       for HOLD_S seconds (echo every 100 ms)
 *   burst DIR DST PORT SPAPORT TIMEOUT_S WAIT_S SRC...
 *       the prepared SPA packets DIR/spa-K, one from each SRC, sent back
 *       to back; then every 10 ms one new connection from each source not
 *       yet decided, all in flight at once (a 40 ms answer window): the
 *       first success is its open time; with TIMEOUT_S > 0 the sweeps go
 *       on until each refuses again (lateness = that moment - open time -
 *       TIMEOUT_S). Sources still closed after WAIT_S never opened.
 *   oplat SOCK N OP
 *       N round trips of {"op": OP} over one connection, one in flight:
 *       the agent's own time for an op, without a process per call
 *   startwait PATH TIMEOUT_MS -- CMD ARG...
 *       start CMD (left running) and time until PATH exists (inotify)
 *   timecmd -- CMD ARG...
 *       run CMD and time it to its exit
 *   pager SOCK SECONDS
 *       page through every grant (pages as large as the agent gives) again and
 * again on one connection: listings and pages done, the longest page nftevents
 *       an nftables-event listener (NFNLGRP_NFTABLES) until SIGTERM;
 *       prints "listening", then what it read
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/netlink.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POOL 512

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench-loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_us(double us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = (time_t)(us / 1e6);
	ts.tv_nsec = (long)((us - (double)ts.tv_sec * 1e6) * 1e3);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Grant i's source and port, as bench-gen numbers them (other ports). */
static void pool_addr(unsigned long i, char *buf, size_t n)
{
	unsigned j = (unsigned)(i % POOL);

	if (j < 256)
		snprintf(buf, n, "198.51.100.%u", j);
	else
		snprintf(buf, n, "203.0.113.%u", j - 256);
}

static void sockaddr4(const char *addr, int port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		die("'%s' is not an IPv4 address", addr);
}

/* ---- statistics ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return NAN;
	k = (size_t)ceil(q * (double)n);
	if (k < 1)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

/* "name":{"n":..,"p50":..,...} in the unit of v (sorted in place). */
static void print_stats(const char *name, double *v, size_t n, bool comma)
{
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	if (!n) {
		printf("\"%s\":{\"n\":0}%s", name, comma ? "," : "");
		return;
	}
	printf("\"%s\":{\"n\":%zu,\"min\":%.4f,\"p50\":%.4f,\"p90\":%.4f,"
	       "\"p99\":%.4f,\"max\":%.4f,\"mean\":%.4f}%s",
	       name, n, v[0], pct(v, n, 0.5), pct(v, n, 0.9), pct(v, n, 0.99),
	       v[n - 1], sum / (double)n, comma ? "," : "");
}

/* ---- TCP echo server ------------------------------------------------ */

static int cmd_listen(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[256];
	int one = 1, lfd, ep;

	if (argc != 2)
		die("usage: listen ADDR PORT");
	sockaddr4(argv[0], atoi(argv[1]), &sin);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 4096) < 0)
		die("listen %s:%s: %s", argv[0], argv[1], strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll: %s", strerror(errno));
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[4096];
			ssize_t r;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK |
							    SOCK_CLOEXEC)) >=
				       0) {
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.fd = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c,
						      &ev) < 0)
						close(c);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				if (write(fd, buf, (size_t)r) < 0)
					close(fd);
				continue;
			}
			if (r < 0 && errno == EAGAIN)
				continue;
			close(fd);
		}
	}
	return 0;
}

/* ---- connection rate ------------------------------------------------ */

struct slot {
	int fd;
	double start;
};

static int tcp_start(const struct sockaddr_in *dst,
		     const struct sockaddr_in *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (src) {
		int one = 1;

		/* Many short connections from one address: pick ports late. */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
				 sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, sizeof(*src)) < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Close with a reset: no TIME_WAIT, the port is free at once. */
static void tcp_abort(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int cmd_connrate(int argc, char **argv)
{
	struct sockaddr_in dst, src;
	double secs, warm, t0, w0, w1, now;
	unsigned long ok = 0, fail = 0, ok_all = 0;
	struct epoll_event ev, evs[256];
	struct slot *slots;
	int conc, ep;

	if (argc < 5 || argc > 6)
		die("usage: connrate DST PORT SECONDS CONC WARMUP [SRC]");
	sockaddr4(argv[0], atoi(argv[1]), &dst);
	secs = atof(argv[2]);
	conc = atoi(argv[3]);
	warm = atof(argv[4]);
	if (argc == 6)
		sockaddr4(argv[5], 0, &src);
	if (conc < 1 || conc > 4096 || secs <= 0)
		die("bad SECONDS or CONC");
	slots = calloc((size_t)conc, sizeof(*slots));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!slots || ep < 0)
		die("setup: %s", strerror(errno));
	t0 = mono_us();
	w0 = t0 + warm * 1e6;
	w1 = w0 + secs * 1e6;
	for (int i = 0; i < conc; i++)
		slots[i].fd = -1;
	for (;;) {
		int n;

		now = mono_us();
		if (now >= w1)
			break;
		for (int i = 0; i < conc; i++) {
			struct slot *s = &slots[i];

			if (s->fd >= 0 && now - s->start > 500e3) {
				close(s->fd);
				s->fd = -1;
				fail += now >= w0;
			}
			if (s->fd >= 0)
				continue;
			s->fd = tcp_start(&dst, argc == 6 ? &src : NULL);
			s->start = now;
			if (s->fd < 0) {
				fail += now >= w0;
				s->fd = -1;
				continue;
			}
			ev.events = EPOLLOUT;
			ev.data.u32 = (uint32_t)i;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
				die("epoll_ctl: %s", strerror(errno));
		}
		n = epoll_wait(ep, evs, 256, 10);
		now = mono_us();
		for (int k = 0; k < n; k++) {
			struct slot *s = &slots[evs[k].data.u32];
			int err = 0;
			socklen_t len = sizeof(err);

			if (s->fd < 0)
				continue;
			(void)getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err,
					 &len);
			if (!err) {
				ok_all++;
				if (now >= w0 && now < w1)
					ok++;
				tcp_abort(s->fd);
			} else {
				fail += now >= w0;
				close(s->fd);
			}
			s->fd = -1;
		}
	}
	printf("{\"ok\":%lu,\"fail\":%lu,\"seconds\":%.3f,\"rate\":%.1f,"
	       "\"ok_with_warmup\":%lu}\n",
	       ok, fail, secs, (double)ok / secs, ok_all);
	return 0;
}

/* ---- control socket ------------------------------------------------- */

struct ctl {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static void ctl_close(struct ctl *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void ctl_connect(struct ctl *c, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path))
		die("socket path too long");
	strcpy(sun.sun_path, path);
	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("connect %s: %s", path, strerror(errno));
}

/* Send one line and return the reply object (caller decrefs). */
static json_t *ctl_call(struct ctl *c, const char *line)
{
	size_t len = strlen(line), off = 0;
	json_error_t jerr;

	while (off < len) {
		ssize_t n = write(c->fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write to the agent: %s", strerror(errno));
		off += (size_t)n;
	}
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			json_t *j = json_loadb(c->buf, l, 0, &jerr);

			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			if (!j)
				die("reply is not JSON: %s", jerr.text);
			return j;
		}
		if (c->len == sizeof(c->buf))
			die("reply line too long");
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("the agent closed the connection");
		c->len += (size_t)n;
	}
}

static const char *reply_error(json_t *j)
{
	json_t *e = json_object_get(j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));

	if (json_is_true(json_object_get(j, "ok")))
		return NULL;
	return m ? m : "error";
}

/* Ask for a grant; returns its id (0 on refusal) and end time. */
static uint64_t ctl_request(struct ctl *c, const char *policy, int port,
			    const char *src, const char *duration,
			    double *end_ms)
{
	char line[512];
	json_t *j, *req;
	const char *err;
	uint64_t id;

	snprintf(
		line, sizeof(line),
		"{\"op\":\"request\",\"policy\":\"%s\",\"port\":%d,"
		"\"source\":\"%s\",\"duration\":\"%s\",\"reason\":\"bench\"}\n",
		policy, port, src, duration);
	j = ctl_call(c, line);
	err = reply_error(j);
	if (err) {
		fprintf(stderr, "bench-loadgen: request %s refused: %s\n", src,
			err);
		json_decref(j);
		return 0;
	}
	req = json_object_get(j, "request");
	id = (uint64_t)json_integer_value(json_object_get(req, "id"));
	if (end_ms)
		*end_ms = (double)json_integer_value(
			json_object_get(req, "end_ms"));
	json_decref(j);
	return id;
}

static bool ctl_revoke(struct ctl *c, uint64_t id)
{
	char line[128];
	json_t *j;
	bool ok;

	snprintf(line, sizeof(line), "{\"op\":\"revoke\",\"id\":%" PRIu64 "}\n",
		 id);
	j = ctl_call(c, line);
	ok = !reply_error(j);
	json_decref(j);
	return ok;
}

static int cmd_grantlat(int argc, char **argv)
{
	struct ctl c;
	unsigned long n, batch, errors = 0;
	double *lat, *rlat;
	size_t nl = 0, nr = 0, live = 0;
	uint64_t *ids;
	int port;

	bool fresh = true;

	if (argc != 5 && argc != 6)
		die("usage: grantlat SOCK N BATCH POLICY PORT [fresh|keep]");
	if (argc == 6)
		fresh = strcmp(argv[5], "keep") != 0;
	n = strtoul(argv[1], NULL, 10);
	batch = strtoul(argv[2], NULL, 10);
	port = atoi(argv[4]);
	if (!n || !batch || batch > POOL)
		die("bad N or BATCH");
	lat = calloc(n, sizeof(*lat));
	rlat = calloc(n, sizeof(*rlat));
	ids = calloc(batch, sizeof(*ids));
	if (!lat || !rlat || !ids)
		die("out of memory");
	if (!fresh)
		ctl_connect(&c, argv[0]);
	for (unsigned long i = 0; i < n; i++) {
		char src[32];
		double t0;
		uint64_t id;

		pool_addr(i % batch, src, sizeof(src));
		t0 = mono_us();
		if (fresh)
			ctl_connect(&c, argv[0]);
		id = ctl_request(&c, argv[3], port, src, "10m", NULL);
		if (fresh)
			ctl_close(&c);
		if (!id) {
			errors++;
			continue;
		}
		lat[nl++] = (mono_us() - t0) / 1e3;
		ids[live++] = id;
		if (live == batch || i == n - 1) {
			if (fresh)
				ctl_connect(&c, argv[0]);
			for (size_t k = 0; k < live; k++) {
				t0 = mono_us();
				if (ctl_revoke(&c, ids[k]))
					rlat[nr++] = (mono_us() - t0) / 1e3;
				else
					errors++;
			}
			if (fresh)
				ctl_close(&c);
			live = 0;
		}
	}
	printf("{");
	print_stats("grant_ms", lat, nl, true);
	print_stats("revoke_ms", rlat, nr, true);
	printf("\"errors\":%lu}\n", errors);
	return 0;
}

static bool mtime_of(const char *path, struct timespec *ts)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return false;
	*ts = st.st_mtim;
	return true;
}

static bool mtime_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int cmd_stall(int argc, char **argv)
{
	struct timespec m0 = { 0 }, m;
	double *lat, t0, limit, seen = NAN, quiet;
	size_t n = 0, cap = 1 << 20;
	struct ctl c;
	uint64_t id;

	if (argc != 3)
		die("usage: stall SOCK STATEFILE TIMEOUT_S");
	limit = atof(argv[2]) * 1e6;
	lat = calloc(cap, sizeof(*lat));
	if (!lat)
		die("out of memory");
	/* Start from a saved state: no write pending (2 s without one). */
	(void)mtime_of(argv[1], &m0);
	t0 = quiet = mono_us();
	while (mono_us() - quiet < 2e6 && mono_us() - t0 < limit) {
		sleep_us(50e3);
		if (mtime_of(argv[1], &m) && !mtime_eq(&m, &m0)) {
			m0 = m;
			quiet = mono_us();
		}
	}
	ctl_connect(&c, argv[0]);
	t0 = mono_us();
	id = ctl_request(&c, "ssh", 22, "203.0.113.254", "10m", NULL);
	lat[n++] = (mono_us() - t0) / 1e3;
	t0 = mono_us();
	if (!id || !ctl_revoke(&c, id))
		die("the change was refused");
	lat[n++] = (mono_us() - t0) / 1e3;
	/* Back to back until the write after that change, and 200 ms more. */
	t0 = mono_us();
	while (n < cap && mono_us() - t0 < limit) {
		double t = mono_us();
		json_t *j = ctl_call(&c, "{\"op\":\"status\"}\n");

		json_decref(j);
		lat[n++] = (mono_us() - t) / 1e3;
		if (isnan(seen) && mtime_of(argv[1], &m) && !mtime_eq(&m, &m0))
			seen = mono_us();
		if (!isnan(seen) && mono_us() - seen > 200e3)
			break;
	}
	printf("{");
	print_stats("reply_ms", lat, n, true);
	printf("\"write_seen\":%s,\"seconds\":%.3f}\n",
	       isnan(seen) ? "false" : "true", (mono_us() - t0) / 1e6);
	return 0;
}

/*
 * Decisions per second with many clients at once: CLIENTS processes, each
 * with its own connection, send PER requests back to back (each waits for
 * its reply, which the agent sends once the decision is synced). All start
 * together; the rate is all decisions over the wall time.
 */
static int cmd_concurrent(int argc, char **argv)
{
	unsigned long clients, per, errors = 0;
	int go[2], port;
	pid_t *pids;
	double t0, t1;

	if (argc != 5)
		die("usage: concurrent SOCK CLIENTS PER POLICY PORT");
	clients = strtoul(argv[1], NULL, 10);
	per = strtoul(argv[2], NULL, 10);
	port = atoi(argv[4]);
	pids = calloc(clients, sizeof(*pids));
	if (!clients || !per || !pids || pipe(go) < 0)
		die("bad arguments");
	for (unsigned long k = 0; k < clients; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			die("fork: %s", strerror(errno));
		if (pids[k] == 0) {
			struct ctl c;
			char b, src[32];
			unsigned long bad = 0;

			close(go[1]);
			ctl_connect(&c, argv[0]);
			if (read(go[0], &b, 1) < 0)
				_exit(255);
			for (unsigned long i = 0; i < per; i++) {
				pool_addr(k * per + i, src, sizeof(src));
				if (!ctl_request(&c, argv[3], port, src, "10m",
						 NULL))
					bad++;
			}
			ctl_close(&c);
			_exit(bad > 254 ? 254 : (int)bad);
		}
	}
	close(go[0]);
	/* Let every child connect first. */
	sleep_us(200e3);
	t0 = mono_us();
	close(go[1]);
	for (unsigned long k = 0; k < clients; k++) {
		int st;

		if (waitpid(pids[k], &st, 0) == pids[k] && WIFEXITED(st))
			errors += (unsigned long)WEXITSTATUS(st);
		else
			errors += per;
	}
	t1 = mono_us();
	printf("{\"clients\":%lu,\"decisions\":%lu,\"seconds\":%.3f,"
	       "\"per_s\":%.1f,\"errors\":%lu}\n",
	       clients, clients * per, (t1 - t0) / 1e6,
	       (double)(clients * per) / ((t1 - t0) / 1e6), errors);
	free(pids);
	return 0;
}

/*
 * One request every INTERVAL_MS for SECONDS on one connection, each grant
 * revoked by the next round: the latency of every request, to see whether
 * anything (compaction, expiry, listing) ever stalls the agent.
 */
static int cmd_paced(int argc, char **argv)
{
	double interval_us, until, next, *lat, *late;
	size_t n = 0, cap;
	unsigned long errors = 0, i = 0;
	uint64_t prev = 0;
	struct ctl c;
	int port;

	if (argc != 5)
		die("usage: paced SOCK INTERVAL_MS SECONDS POLICY PORT");
	interval_us = atof(argv[1]) * 1e3;
	cap = (size_t)(atof(argv[2]) * 1e6 / interval_us) + 16;
	lat = calloc(cap, sizeof(*lat));
	late = calloc(cap, sizeof(*late));
	if (!lat || !late || interval_us <= 0)
		die("bad arguments");
	port = atoi(argv[4]);
	ctl_connect(&c, argv[0]);
	next = mono_us();
	until = next + atof(argv[2]) * 1e6;
	while (next < until && n < cap) {
		char src[32];
		double t0;
		uint64_t id;

		while (mono_us() < next)
			sleep_us(next - mono_us());
		pool_addr(i++, src, sizeof(src));
		t0 = mono_us();
		id = ctl_request(&c, argv[3], port, src, "10m", NULL);
		late[n] = (mono_us() - next) / 1e3;
		lat[n++] = (mono_us() - t0) / 1e3;
		if (!id)
			errors++;
		if (prev && !ctl_revoke(&c, prev))
			errors++;
		prev = id;
		next += interval_us;
	}
	if (prev)
		(void)ctl_revoke(&c, prev);
	ctl_close(&c);
	printf("{");
	print_stats("request_ms", lat, n, true);
	/* From when the request was due: a pace kept, or lost. */
	print_stats("late_ms", late, n, true);
	printf("\"errors\":%lu}\n", errors);
	free(lat);
	free(late);
	return 0;
}

/*
 * A client that pages through every grant ({"op": "grants"}, pages of
 * the largest the agent gives, "after" the last page's "next") again and again
 * on one connection for SECONDS: the listings and pages done, and the longest
 * page.
 */
static int cmd_pager(int argc, char **argv)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	unsigned long pages = 0, listings = 0;
	double until, worst = 0;
	uint64_t after = 0;
	struct ctl c;

	if (argc != 2 || !buf)
		die("usage: pager SOCK SECONDS");
	ctl_connect(&c, argv[0]);
	until = mono_us() + atof(argv[1]) * 1e6;
	while (mono_us() < until) {
		char line[128], *nl, *next;
		double t0 = mono_us();
		size_t off = 0, l;

		snprintf(line, sizeof(line),
			 "{\"op\":\"grants\",\"after\":%" PRIu64
			 ",\"limit\":1000}\n",
			 after);
		l = strlen(line);
		while (off < l) {
			ssize_t n = write(c.fd, line + off, l - off);

			if (n < 0 && errno != EINTR)
				die("write to the agent: %s", strerror(errno));
			off += n > 0 ? (size_t)n : 0;
		}
		len = 0;
		while (!(nl = len ? memchr(buf + (len > 4096 ? len - 4096 : 0),
					   '\n', len > 4096 ? 4096 : len)
				  : NULL)) {
			ssize_t n;

			if (len == cap && !(buf = realloc(buf, cap *= 2)))
				die("out of memory");
			n = read(c.fd, buf + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				die("the agent closed the connection");
			len += (size_t)n;
		}
		*nl = '\0';
		if (mono_us() - t0 > worst)
			worst = mono_us() - t0;
		pages++;
		/* "next" comes last in the reply, after the records. */
		next = strstr(nl - (nl - buf > 64 ? 64 : nl - buf),
			      "\"next\":");
		if (next) {
			after = strtoull(next + 7, NULL, 10);
		} else {
			after = 0;
			listings++;
		}
	}
	ctl_close(&c);
	printf("{\"listings\":%lu,\"pages\":%lu,\"page_ms_max\":%.3f}\n",
	       listings, pages, worst / 1e3);
	free(buf);
	return 0;
}

static int cmd_oplat(int argc, char **argv)
{
	unsigned long n, errors = 0;
	char line[128];
	double *lat;
	size_t nl = 0;
	struct ctl c;

	if (argc != 3)
		die("usage: oplat SOCK N OP");
	n = strtoul(argv[1], NULL, 10);
	lat = calloc(n + 1, sizeof(*lat));
	if (!lat || strlen(argv[2]) > 64)
		die("bad arguments");
	snprintf(line, sizeof(line), "{\"op\":\"%s\"}\n", argv[2]);
	ctl_connect(&c, argv[0]);
	for (unsigned long i = 0; i < n; i++) {
		double t0 = mono_us();
		json_t *j = ctl_call(&c, line);

		lat[nl++] = (mono_us() - t0) / 1e3;
		if (reply_error(j))
			errors++;
		json_decref(j);
	}
	ctl_close(&c);
	printf("{");
	print_stats("ms", lat, nl, true);
	printf("\"errors\":%lu}\n", errors);
	free(lat);
	return 0;
}

/* ---- processes ------------------------------------------------------ */

/*
 * Run argv. Its stdout must not reach ours (our one JSON line): it goes to
 * our stderr, or with quiet to /dev/null.
 */
static pid_t spawn(char **argv, bool quiet)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = quiet ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;

		dup2(fd >= 0 ? fd : STDERR_FILENO, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "bench-loadgen: exec %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_rc(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *subst(const char *arg, const char *addr, const char *port)
{
	size_t cap = strlen(arg) + 64, o = 0;
	char *out = malloc(cap);

	if (!out)
		die("out of memory");
	for (const char *p = arg; *p;) {
		const char *v = NULL;

		if (!strncmp(p, "@A@", 3))
			v = addr;
		else if (!strncmp(p, "@P@", 3))
			v = port;
		if (v) {
			o += (size_t)snprintf(out + o, cap - o, "%s", v);
			p += 3;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

static int cmd_spawnlat(int argc, char **argv)
{
	unsigned long n, errors = 0;
	double *lat;
	size_t nl = 0;
	int ncmd;
	char **cmd;

	if (argc < 3 || strcmp(argv[1], "--"))
		die("usage: spawnlat N -- CMD ARG...");
	n = strtoul(argv[0], NULL, 10);
	ncmd = argc - 2;
	cmd = calloc((size_t)ncmd + 1, sizeof(*cmd));
	lat = calloc(n + 1, sizeof(*lat));
	if (!cmd || !lat)
		die("out of memory");
	for (unsigned long i = 0; i < n; i++) {
		char addr[32], port[24];
		double t0;
		int rc;

		pool_addr(i, addr, sizeof(addr));
		snprintf(port, sizeof(port), "%lu", (20000 + i / POOL) % 65536);
		for (int k = 0; k < ncmd; k++)
			cmd[k] = subst(argv[2 + k], addr, port);
		t0 = mono_us();
		rc = wait_rc(spawn(cmd, true));
		if (rc == 0)
			lat[nl++] = (mono_us() - t0) / 1e3;
		else if (errors++ < 3)
			fprintf(stderr, "bench-loadgen: %s ... exited %d\n",
				cmd[0], rc);
		for (int k = 0; k < ncmd; k++)
			free(cmd[k]);
	}
	printf("{");
	print_stats("ms", lat, nl, true);
	printf("\"errors\":%lu}\n", errors);
	return 0;
}

static int cmd_timecmd(int argc, char **argv)
{
	double t0;
	int rc;

	if (argc < 2 || strcmp(argv[0], "--"))
		die("usage: timecmd -- CMD ARG...");
	t0 = mono_us();
	rc = wait_rc(spawn(argv + 1, false));
	printf("{\"ms\":%.3f,\"rc\":%d}\n", (mono_us() - t0) / 1e3, rc);
	return rc;
}

static int cmd_startwait(int argc, char **argv)
{
	char dirbuf[4096];
	const char *path;
	double t0, limit;
	struct stat st;
	pid_t pid;
	int in;

	if (argc < 4 || strcmp(argv[2], "--"))
		die("usage: startwait PATH TIMEOUT_MS -- CMD ARG...");
	path = argv[0];
	limit = atof(argv[1]) * 1e3;
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0 ||
	    inotify_add_watch(in, dirname(dirbuf), IN_CREATE | IN_MOVED_TO) < 0)
		die("inotify on %s: %s", path, strerror(errno));
	t0 = mono_us();
	pid = spawn(argv + 3, false);
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		char buf[4096];
		int rc;

		if (stat(path, &st) == 0)
			break;
		if (waitpid(pid, &rc, WNOHANG) == pid) {
			printf("{\"error\":\"exited\",\"rc\":%d,\"pid\":%d}\n",
			       WIFEXITED(rc) ? WEXITSTATUS(rc) : 128, (int)pid);
			return 1;
		}
		if (mono_us() - t0 > limit) {
			printf("{\"error\":\"timeout\",\"pid\":%d}\n",
			       (int)pid);
			return 1;
		}
		if (poll(&p, 1, 20) > 0)
			while (read(in, buf, sizeof(buf)) > 0)
				;
	}
	printf("{\"ms\":%.3f,\"pid\":%d}\n", (mono_us() - t0) / 1e3, (int)pid);
	return 0;
}

/* ---- access, then connections ------------------------------------- */

/*
 * One new-connection attempt from src: 1 connected, 0 not within wait_us
 * (dropped), -1 refused or error. *t_start is when the SYN left.
 */
static int try_connect(const struct sockaddr_in *dst,
		       const struct sockaddr_in *src, double wait_us,
		       double *t_start_ms)
{
	struct pollfd p;
	int fd, err = 0, r;
	socklen_t len = sizeof(err);

	*t_start_ms = real_ms();
	fd = tcp_start(dst, src);
	if (fd < 0)
		return -1;
	p.fd = fd;
	p.events = POLLOUT;
	{
		struct timespec ts = {
			.tv_sec = (time_t)(wait_us / 1e6),
			.tv_nsec = (long)(fmod(wait_us, 1e6) * 1e3),
		};

		r = ppoll(&p, 1, &ts, NULL);
	}
	if (r <= 0) {
		close(fd);
		return 0;
	}
	(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		close(fd);
		return -1;
	}
	tcp_abort(fd);
	return 1;
}

/* Connect and check one echo; returns the fd or -1. */
static int open_session(const struct sockaddr_in *dst,
			const struct sockaddr_in *src)
{
	int fd = tcp_start(dst, src), err = 0;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (poll(&p, 1, 1000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool session_echo(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 'x', back;

	if (write(fd, &c, 1) != 1)
		return false;
	if (poll(&p, 1, 1000) != 1)
		return false;
	return read(fd, &back, 1) == 1 && back == c;
}

static void send_spa(const char *dir, int k, const struct sockaddr_in *src,
		     const struct sockaddr_in *spa_dst)
{
	char path[4096], pkt[4096];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/spa-%d", dir, k);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	len = read(fd, pkt, sizeof(pkt));
	close(fd);
	while (len > 0 && (pkt[len - 1] == '\n' || pkt[len - 1] == '\r'))
		len--;
	if (len <= 0)
		die("%s is empty", path);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    bind(fd, (const struct sockaddr *)src, sizeof(*src)) < 0 ||
	    sendto(fd, pkt, (size_t)len, 0, (const struct sockaddr *)spa_dst,
		   sizeof(*spa_dst)) != len)
		die("sending the SPA packet: %s", strerror(errno));
	close(fd);
}

/* Try every 0.5 ms until a connection succeeds; its time, or NAN. */
static double connect_until_open(const struct sockaddr_in *dst,
				 const struct sockaddr_in *src, double limit_ms,
				 unsigned *attempts)
{
	double start = real_ms(), t;

	*attempts = 0;
	while (real_ms() - start < limit_ms) {
		int r = try_connect(dst, src, 500, &t);

		(*attempts)++;
		if (r == 1)
			return real_ms();
		if (r < 0)
			sleep_us(500);
	}
	return NAN;
}

struct access_args {
	bool spa;
	const char *sock_or_dir;
	struct sockaddr_in dst, spa_dst;
	int port;
};

static int cmd_e2e(int argc, char **argv)
{
	struct access_args a = { 0 };
	struct ctl c;
	double *lat, *reply;
	size_t nl = 0, nrep = 0;
	unsigned long fails = 0, attempts_total = 0;
	int first;

	if (argc < 5)
		die("usage: e2e agent SOCK DST PORT SRC... | "
		    "e2e spa DIR DST PORT SPAPORT SRC...");
	a.spa = !strcmp(argv[0], "spa");
	a.sock_or_dir = argv[1];
	a.port = atoi(argv[3]);
	sockaddr4(argv[2], a.port, &a.dst);
	first = 4;
	if (a.spa) {
		sockaddr4(argv[2], atoi(argv[4]), &a.spa_dst);
		first = 5;
	} else {
		ctl_connect(&c, a.sock_or_dir);
	}
	lat = calloc((size_t)argc, sizeof(*lat));
	reply = calloc((size_t)argc, sizeof(*reply));
	if (!lat || !reply)
		die("out of memory");
	for (int i = first; i < argc; i++) {
		struct sockaddr_in src;
		double t0, t1;
		uint64_t id = 0;
		unsigned att;

		sockaddr4(argv[i], 0, &src);
		t0 = real_ms();
		if (a.spa) {
			send_spa(a.sock_or_dir, i - first, &src, &a.spa_dst);
		} else {
			id = ctl_request(&c, "ssh", a.port, argv[i], "10m",
					 NULL);
			if (!id) {
				fails++;
				continue;
			}
			reply[nrep++] = real_ms() - t0;
		}
		t1 = connect_until_open(&a.dst, &src, 5000, &att);
		attempts_total += att;
		if (isnan(t1))
			fails++;
		else
			lat[nl++] = t1 - t0;
		if (id && !ctl_revoke(&c, id))
			fails++;
	}
	printf("{");
	print_stats("open_ms", lat, nl, true);
	if (!a.spa)
		print_stats("reply_ms", reply, nrep, true);
	printf("\"attempts\":%lu,\"fails\":%lu}\n", attempts_total, fails);
	return 0;
}

/* One connection from each of srcs[i] with want[i], all in flight at once;
 * ok[i] is whether it completed within wait_ms. */
static void sweep(const struct sockaddr_in *dst, const struct sockaddr_in *srcs,
		  const bool *want, bool *ok, size_t n, int wait_ms)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	size_t *idx = calloc(n, sizeof(*idx)), np = 0;
	double deadline = real_ms() + wait_ms;

	if (!p || !idx)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		int fd;

		ok[i] = false;
		if (!want[i])
			continue;
		fd = tcp_start(dst, &srcs[i]);
		if (fd < 0)
			continue;
		p[np].fd = fd;
		p[np].events = POLLOUT;
		idx[np++] = i;
	}
	for (size_t left = np; left > 0;) {
		int ms = (int)(deadline - real_ms());

		if (ms <= 0 || poll(p, np, ms) <= 0)
			break;
		for (size_t k = 0; k < np; k++) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (p[k].fd < 0 || !p[k].revents)
				continue;
			(void)getsockopt(p[k].fd, SOL_SOCKET, SO_ERROR, &err,
					 &len);
			ok[idx[k]] = err == 0;
			if (err == 0)
				tcp_abort(p[k].fd);
			else
				close(p[k].fd);
			p[k].fd = -1;
			left--;
		}
	}
	for (size_t k = 0; k < np; k++)
		if (p[k].fd >= 0)
			close(p[k].fd);
	free(p);
	free(idx);
}

static int cmd_burst(int argc, char **argv)
{
	struct sockaddr_in dst, spa_dst, *srcs;
	double t0, timeout_ms, wait_ms, *open_at, *late, *opened_lat;
	bool *want, *ok, *closed;
	size_t n, nopen = 0, nclosed = 0, nlate = 0;

	if (argc < 7)
		die("usage: burst DIR DST PORT SPAPORT TIMEOUT_S WAIT_S "
		    "SRC...");
	sockaddr4(argv[1], atoi(argv[2]), &dst);
	sockaddr4(argv[1], atoi(argv[3]), &spa_dst);
	timeout_ms = atof(argv[4]) * 1000;
	wait_ms = atof(argv[5]) * 1000;
	n = (size_t)(argc - 6);
	srcs = calloc(n, sizeof(*srcs));
	open_at = calloc(n, sizeof(*open_at));
	late = calloc(n, sizeof(*late));
	opened_lat = calloc(n, sizeof(*opened_lat));
	want = calloc(n, sizeof(*want));
	ok = calloc(n, sizeof(*ok));
	closed = calloc(n, sizeof(*closed));
	if (!srcs || !open_at || !late || !opened_lat || !want || !ok ||
	    !closed)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		sockaddr4(argv[6 + i], 0, &srcs[i]);
	t0 = real_ms();
	for (size_t i = 0; i < n; i++)
		send_spa(argv[0], (int)i, &srcs[i], &spa_dst);
	while (nopen < n && real_ms() - t0 < wait_ms) {
		double t;

		for (size_t i = 0; i < n; i++)
			want[i] = open_at[i] == 0;
		t = real_ms();
		sweep(&dst, srcs, want, ok, n, 40);
		for (size_t i = 0; i < n; i++)
			if (want[i] && ok[i]) {
				open_at[i] = t;
				opened_lat[nopen++] = t - t0;
			}
		sleep_us(10000);
	}
	while (timeout_ms > 0 && nclosed < nopen &&
	       real_ms() - t0 < wait_ms + timeout_ms + 60000) {
		double t;

		for (size_t i = 0; i < n; i++)
			want[i] = open_at[i] != 0 && !closed[i];
		t = real_ms();
		sweep(&dst, srcs, want, ok, n, 40);
		for (size_t i = 0; i < n; i++)
			if (want[i] && !ok[i]) {
				closed[i] = true;
				nclosed++;
				late[nlate++] = t - open_at[i] - timeout_ms;
			}
		sleep_us(10000);
	}
	printf("{\"sent\":%zu,\"opened\":%zu,\"closed\":%zu,", n, nopen,
	       nclosed);
	print_stats("open_ms", opened_lat, nopen, true);
	if (nlate) {
		double *absl = calloc(nlate, sizeof(*absl));

		for (size_t i = 0; i < nlate; i++)
			absl[i] = fabs(late[i]);
		print_stats("late_ms", late, nlate, true);
		print_stats("abs_late_ms", absl, nlate, true);
		free(absl);
	}
	printf("\"elapsed_ms\":%.1f}\n", real_ms() - t0);
	return 0;
}

/* Open access for src (a packet or a request); its end, or NAN. */
static double expiry_open(const struct access_args *a, struct ctl *c,
			  const char *src_text, const struct sockaddr_in *src,
			  int n, double dur_s)
{
	double end_ms = NAN;
	unsigned att;

	if (a->spa) {
		double t_open;

		send_spa(a->sock_or_dir, n, src, &a->spa_dst);
		t_open = connect_until_open(&a->dst, src, 5000, &att);
		if (!isnan(t_open))
			end_ms = t_open + dur_s * 1e3;
	} else {
		char d[32];

		snprintf(d, sizeof(d), "%gs", dur_s);
		if (!ctl_request(c, "ssh", a->port, src_text, d, &end_ms))
			end_ms = NAN;
	}
	return end_ms;
}

/*
 * New connections from now until one is refused, before stop: when the
 * first was refused (NAN if none was), and *last_ok the last let in. The
 * daemon-driven baseline may close early, so this starts at once.
 */
static double expiry_first_refusal(const struct sockaddr_in *dst,
				   const struct sockaddr_in *src, double stop,
				   double *last_ok)
{
	double t, t2;

	*last_ok = NAN;
	while (real_ms() < stop) {
		int r = try_connect(dst, src, 2000, &t);

		if (r == 1) {
			*last_ok = t;
			continue;
		}
		if (r == 0) {
			/* A slow answer on a busy machine is no refusal. */
			if (try_connect(dst, src, 100000, &t2) == 1) {
				*last_ok = t2;
				continue;
			}
			return t;
		}
		sleep_us(1000);
	}
	return NAN;
}

/* The established connection, echoed every 100 ms for hold_s. */
static void expiry_hold(int sess, double hold_s, unsigned long *ok,
			unsigned long *failed)
{
	double stop = real_ms() + hold_s * 1e3;

	while (real_ms() < stop) {
		if (session_echo(sess))
			(*ok)++;
		else
			(*failed)++;
		sleep_us(100e3);
	}
}

static int cmd_expiry(int argc, char **argv)
{
	struct access_args a = { 0 };
	double dur_s, hold_s, *late, *absl;
	size_t nlate = 0;
	unsigned long est_ok = 0, est_fail = 0, fails = 0;
	struct ctl c;
	int first;

	if (argc < 7)
		die("usage: expiry agent SOCK DST PORT DUR_S HOLD_S SRC... | "
		    "expiry spa DIR DST PORT SPAPORT TIMEOUT_S HOLD_S SRC...");
	a.spa = !strcmp(argv[0], "spa");
	a.sock_or_dir = argv[1];
	a.port = atoi(argv[3]);
	sockaddr4(argv[2], a.port, &a.dst);
	first = 4;
	if (a.spa)
		sockaddr4(argv[2], atoi(argv[first++]), &a.spa_dst);
	else
		ctl_connect(&c, a.sock_or_dir);
	dur_s = atof(argv[first++]);
	hold_s = atof(argv[first++]);
	late = calloc((size_t)argc, sizeof(*late));
	absl = calloc((size_t)argc, sizeof(*absl));
	if (!late || !absl)
		die("out of memory");
	for (int i = first; i < argc; i++) {
		struct sockaddr_in src;
		double end_ms, first_fail, last_ok;
		int sess;

		sockaddr4(argv[i], 0, &src);
		end_ms = expiry_open(&a, &c, argv[i], &src, i - first, dur_s);
		if (isnan(end_ms)) {
			fails++;
			continue;
		}
		sess = open_session(&a.dst, &src);
		if (sess < 0 || !session_echo(sess)) {
			fails++;
			if (sess >= 0)
				close(sess);
			continue;
		}
		first_fail = expiry_first_refusal(
			&a.dst, &src, end_ms + (a.spa ? 15000 : 3000),
			&last_ok);
		if (isnan(first_fail)) {
			fails++;
		} else {
			late[nlate++] = first_fail - end_ms;
			fprintf(stderr,
				"bench-loadgen: %s: last new connection at "
				"%+.1f ms, first refused at %+.1f ms\n",
				argv[i], last_ok - end_ms, first_fail - end_ms);
		}
		expiry_hold(sess, hold_s, &est_ok, &est_fail);
		close(sess);
	}
	printf("{");
	for (size_t k = 0; k < nlate; k++)
		absl[k] = fabs(late[k]);
	print_stats("late_ms", late, nlate, true);
	print_stats("abs_late_ms", absl, nlate, true);
	printf("\"established_echoes_ok\":%lu,\"established_echoes_failed\":%"
	       "lu,"
	       "\"hold_s\":%g,\"fails\":%lu}\n",
	       est_ok, est_fail, hold_s, fails);
	free(late);
	free(absl);
	return 0;
}

static volatile sig_atomic_t nftevents_stop;

static void nftevents_signal(int sig)
{
	(void)sig;
	nftevents_stop = 1;
}

/*
 * Another nftables-event listener on the host, as another agent or `nft
 * monitor` would be: the kernel's "anyone listening?" check is one mask
 * for the whole host, so with this running anywhere, every element of
 * every batch in every namespace gets an event message built. Counts what
 * reaches it (its own namespace) until SIGTERM.
 */
static int cmd_nftevents(int argc, char **argv)
{
	static char buf[1 << 16];
	struct sigaction sa = { .sa_handler = nftevents_signal };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	int group = 7 /* NFNLGRP_NFTABLES */, size = 16 << 20;
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	unsigned long bytes = 0, lost = 0, msgs = 0;

	(void)argc;
	(void)argv;
	if (fd < 0 || bind(fd, (struct sockaddr *)&snl, sizeof(snl)) < 0 ||
	    setsockopt(fd, 270 /* SOL_NETLINK */, 1 /* ADD_MEMBERSHIP */,
		       &group, sizeof(group)) < 0)
		die("netlink: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("listening\n");
	while (!nftevents_stop) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == ENOBUFS)
			lost++;
		else if (n > 0) {
			bytes += (unsigned long)n;
			msgs++;
		}
	}
	printf("{\"reads\":%lu,\"bytes\":%lu,\"lost\":%lu}\n", msgs, bytes,
	       lost);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "listen", cmd_listen },
		{ "connrate", cmd_connrate },
		{ "grantlat", cmd_grantlat },
		{ "spawnlat", cmd_spawnlat },
		{ "e2e", cmd_e2e },
		{ "expiry", cmd_expiry },
		{ "burst", cmd_burst },
		{ "startwait", cmd_startwait },
		{ "timecmd", cmd_timecmd },
		{ "stall", cmd_stall },
		{ "concurrent", cmd_concurrent },
		{ "paced", cmd_paced },
		{ "oplat", cmd_oplat },
		{ "pager", cmd_pager },
		{ "nftevents", cmd_nftevents },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 2, argv + 2);
	fputs("usage: bench-loadgen listen|connrate|grantlat|spawnlat|e2e|"
	      "expiry|burst|startwait|timecmd|stall|concurrent|paced|oplat|"
	      "pager|nftevents ...\n",
	      stderr);
	return 2;
}
