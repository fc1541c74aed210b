/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-fleet-sim: many fleet hosts in one process, for tools/bench-fleet.
 * Each simulated host runs the agent's own fleet thread (fleet-nats.c: its
 * connection, its confined consumer, its registry entry) and its messages
 * are taken as the agent's loop takes them; nothing reaches nftables.
 *
 *   bench-fleet-sim URLS PREFIX N GROUPS PASSWORD_DIR SECONDS
 *
 * Host i is PREFIX-i, labelled group=g(i % GROUPS), with the password in
 * PASSWORD_DIR/PREFIX-i.pw. Prints one JSON line a second ({"t", "hosts",
 * "watching", "entries"}) and a last one with the totals, then stops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "diag.h"
#include "fleet-conf.h"
#include "fleet-nats.h"
#include "util.h"

static char *read_password(const char *dir, const char *name)
{
	char path[4096], buf[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pw", dir, name);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		fprintf(stderr, "bench-fleet-sim: %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

int main(int argc, char **argv)
{
	struct jit_fleet_nats **hosts;
	bool *watching;
	size_t n, groups, nwatch = 0;
	uint64_t entries = 0, end, next;
	char servers[1024] = "";
	int ep, secs;

	if (argc != 7) {
		fprintf(stderr, "usage: bench-fleet-sim URLS PREFIX N GROUPS "
				"PASSWORD_DIR SECONDS\n");
		return 2;
	}
	n = strtoul(argv[3], NULL, 10);
	groups = strtoul(argv[4], NULL, 10);
	secs = atoi(argv[6]);
	if (!n || !groups || secs < 1)
		return 2;
	for (char *p = argv[1], *tok; (tok = strsep(&p, ","));)
		snprintf(servers + strlen(servers),
			 sizeof(servers) - strlen(servers), "%s%s",
			 servers[0] ? ", " : "", tok);
	hosts = calloc(n, sizeof(*hosts));
	watching = calloc(n, sizeof(*watching));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!hosts || !watching || ep < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct jit_diag diag = { 0 };
		struct jit_fleet_conf *conf = NULL;
		char name[64], text[2048];
		char *pw;
		struct epoll_event ev = { .events = EPOLLIN };
		int fd, r;

		snprintf(name, sizeof(name), "%s-%zu", argv[2], i);
		snprintf(text, sizeof(text),
			 "servers: [%s]\nhost: %s\nlabels: {group: g%zu}\n"
			 "user: %s\n",
			 servers, name, i % groups, name);
		r = fleet_conf_parse("sim", text, strlen(text), NULL, &conf,
				     &diag);
		if (r) {
			fprintf(stderr, "bench-fleet-sim: conf of %s: %s\n",
				name, strerror(-r));
			return 1;
		}
		pw = read_password(argv[5], name);
		r = fleet_nats_start(conf, pw, "sim", &hosts[i], &fd);
		free(pw);
		fleet_conf_free(conf);
		if (r) {
			fprintf(stderr, "bench-fleet-sim: start %s: %s\n", name,
				strerror(-r));
			return 1;
		}
		ev.data.u64 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			return 1;
	}
	next = now_mono_ms() + 1000;
	end = now_mono_ms() + (uint64_t)secs * 1000;
	while (now_mono_ms() < end) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 100);

		for (int j = 0; j < k; j++) {
			size_t i = evs[j].data.u64;
			struct jit_fleet_msg *m = fleet_nats_take(hosts[i]);

			while (m) {
				struct jit_fleet_msg *nx = m->next;

				if (m->kind == JIT_FLEET_MSG_ENTRY)
					entries++;
				if (m->kind == JIT_FLEET_MSG_STATE &&
				    m->watching != watching[i]) {
					watching[i] = m->watching;
					nwatch += m->watching ? 1 : -1;
				}
				free(m);
				m = nx;
			}
		}
		if (now_mono_ms() >= next) {
			printf("{\"t\":%llu,\"hosts\":%zu,\"watching\":%zu,"
			       "\"entries\":%llu}\n",
			       (unsigned long long)now_real_ms(), n, nwatch,
			       (unsigned long long)entries);
			fflush(stdout);
			next += 1000;
		}
	}
	/* One after the other, as each closes the library when done. */
	for (size_t i = 0; i < n; i++) {
		fleet_nats_stop(hosts[i]);
		(void)fleet_nats_wait(10000);
	}
	printf("{\"done\":true,\"hosts\":%zu,\"watching\":%zu,"
	       "\"entries\":%llu}\n",
	       n, nwatch, (unsigned long long)entries);
	free(hosts);
	free(watching);
	close(ep);
	return 0;
}
