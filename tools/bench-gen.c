/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File generators for tools/bench: the same N grants as the agent's state
 * file and as the nft files of the baselines, so that every side of a
 * comparison holds exactly the same elements.
 *
 *   bench-gen snapshot OUT N CLIENT DURATION_S
 *       the journal's snapshot (enforcer/journal.h format) with N live
 *       grants of user nobody plus CLIENT's own grant on port 22
 *   bench-gen state OUT N CLIENT DURATION_S
 *       a state file (enforcer/state.h format) with N live grants of user
 *       nobody under policy "bulk", plus one live grant of root under
 *       policy "ssh" for CLIENT tcp/22
 *   bench-gen elems OUT N CLIENT DURATION_S
 *       nft -f file: table inet bench_nft, set grants_v4 (hash, timeout)
 *       with the same N + 1 elements, and the same lookup rule
 *   bench-gen rules OUT N CLIENT
 *       nft -f file: table inet bench_rules, one accept rule per grant
 *       (the client's last, as appending tools put a new grant), then drop
 *   bench-gen set OUT N CLIENT hash|interval
 *       nft -f file: table inet bench_set, the N + 1 elements in a hash or
 *       in an interval (pipapo) set, looked up by every packet
 *
 * Grant i is source POOL[i % 512] (198.51.100.0/24 then 203.0.113.0/24,
 * documentation addresses only) on tcp port 10000 + i / 512: distinct
 * (address, protocol, port) keys, 100,000 of them fit in 10000-10195.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BULK_PORT_BASE 10000
#define POOL	       512

static void grant_addr(unsigned long i, char *buf, size_t n)
{
	unsigned j = (unsigned)(i % POOL);

	if (j < 256)
		snprintf(buf, n, "198.51.100.%u", j);
	else
		snprintf(buf, n, "203.0.113.%u", j - 256);
}

static unsigned grant_port(unsigned long i)
{
	return BULK_PORT_BASE + (unsigned)(i / POOL);
}

static uint32_t crc32_ieee(const char *data, size_t len)
{
	static uint32_t table[256];
	uint32_t crc = 0xffffffffu;

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	while (len--)
		crc = table[(crc ^ (uint8_t)*data++) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap ? b->cap * 2 : 1 << 20;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
}

static uint64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void record(struct buf *b, uint64_t id, const char *policy, unsigned uid,
		   const char *user, const char *src, unsigned port,
		   unsigned dur_s, uint64_t now)
{
	buf_printf(b,
		   "%s{\"id\":%" PRIu64 ",\"policy\":\"%s\",\"uid\":%u,"
		   "\"user\":\"%s\",\"source\":\"%s/32\",\"protos\":1,"
		   "\"port_lo\":%u,\"port_hi\":%u,\"duration_s\":%u,"
		   "\"reason\":\"bench\",\"requested_ms\":%" PRIu64
		   ",\"start_ms\":%" PRIu64 ",\"end_ms\":%" PRIu64
		   ",\"status\":\"initiated\",\"status_reason\":\"\","
		   "\"decided_by\":\"auto\",\"replaced_by\":0}",
		   id > 1 ? "," : "", id, policy, uid, user, src, port, port,
		   dur_s, now, now, now + (uint64_t)dur_s * 1000);
}

static int gen_state(FILE *out, unsigned long n, const char *client,
		     unsigned dur)
{
	struct buf b = { 0 };
	uint64_t now = now_ms();
	char addr[32];
	unsigned long i;

	buf_printf(&b,
		   "{\"version\":1,\"written_ms\":%" PRIu64
		   ",\"next_id\":%lu,\"requests\":[",
		   now, n + 2);
	for (i = 0; i < n; i++) {
		grant_addr(i, addr, sizeof(addr));
		record(&b, i + 1, "bulk", 65534, "nobody", addr, grant_port(i),
		       dur, now);
	}
	record(&b, n + 1, "ssh", 0, "root", client, 22, dur, now);
	buf_printf(&b, "],\"policies\":[]}");
	fprintf(out, "jit-enforcer-state 1 %08" PRIx32 " %zu\n",
		crc32_ieee(b.p, b.len), b.len);
	fwrite(b.p, 1, b.len, out);
	free(b.p);
	return 0;
}

/* One journal line: "CRC payload\n" (enforcer/journal.h). */
static void line(FILE *out, struct buf *b)
{
	fprintf(out, "%08" PRIx32 " ", crc32_ieee(b->p, b->len));
	fwrite(b->p, 1, b->len, out);
	fputc('\n', out);
	b->len = 0;
}

static void snap_record(FILE *out, struct buf *b, uint64_t id,
			const char *policy, unsigned uid, const char *user,
			const char *src, unsigned port, unsigned dur_s,
			uint64_t now)
{
	buf_printf(b,
		   "r\t%" PRIu64
		   "\tI\t%u\t%s\t%s\t%s/32\t1\t%u\t%u\t%u\t%" PRIu64
		   "\t%" PRIu64 "\t%" PRIu64 "\tauto\t0\t\tbench",
		   id, uid, user, policy, src, port, port, dur_s, now, now,
		   now + (uint64_t)dur_s * 1000);
	line(out, b);
}

/* The journal's snapshot (enforcer/journal.c) with the same grants. */
static int gen_snapshot(FILE *out, unsigned long n, const char *client,
			unsigned dur)
{
	struct buf b = { 0 };
	uint64_t now = now_ms();
	char addr[32];

	buf_printf(&b, "h\tsnapshot\t1\t0\t%lu", n + 2);
	line(out, &b);
	buf_printf(&b, "P");
	line(out, &b);
	for (unsigned long i = 0; i < n; i++) {
		grant_addr(i, addr, sizeof(addr));
		snap_record(out, &b, i + 1, "bulk", 65534, "nobody", addr,
			    grant_port(i), dur, now);
	}
	snap_record(out, &b, n + 1, "ssh", 0, "root", client, 22, dur, now);
	free(b.p);
	return 0;
}

static void elements(FILE *out, unsigned long n, const char *client,
		     const char *timeout)
{
	char addr[32];

	fputs("\t\telements = {\n", out);
	for (unsigned long i = 0; i < n; i++) {
		grant_addr(i, addr, sizeof(addr));
		fprintf(out, "\t\t\t%s . tcp . %u%s,\n", addr, grant_port(i),
			timeout);
	}
	fprintf(out, "\t\t\t%s . tcp . 22%s\n\t\t}\n", client, timeout);
}

static const char *chain_head =
	"\tchain input {\n"
	"\t\ttype filter hook input priority filter - 10; policy accept;\n"
	"\t\tmeta l4proto != tcp accept\n"
	"\t\ttcp dport != { 22, 10000-10999 } accept\n";

static int gen_elems(FILE *out, unsigned long n, const char *client,
		     unsigned dur)
{
	char timeout[32];

	snprintf(timeout, sizeof(timeout), " timeout %us", dur);
	fputs("table inet bench_nft {\n\tset grants_v4 {\n"
	      "\t\ttype ipv4_addr . inet_proto . inet_service\n"
	      "\t\tflags timeout\n",
	      out);
	elements(out, n, client, timeout);
	fprintf(out, "\t}\n%s", chain_head);
	fputs("\t\tct state established,related accept\n"
	      "\t\tip saddr . meta l4proto . th dport @grants_v4 accept\n"
	      "\t\tdrop\n\t}\n}\n",
	      out);
	return 0;
}

static int gen_rules(FILE *out, unsigned long n, const char *client)
{
	char addr[32];

	fprintf(out, "table inet bench_rules {\n%s", chain_head);
	fputs("\t\tct state established,related accept\n", out);
	for (unsigned long i = 0; i < n; i++) {
		grant_addr(i, addr, sizeof(addr));
		fprintf(out, "\t\tip saddr %s tcp dport %u accept\n", addr,
			grant_port(i));
	}
	fprintf(out, "\t\tip saddr %s tcp dport 22 accept\n\t\tdrop\n\t}\n}\n",
		client);
	return 0;
}

/*
 * Every packet from the client is looked up (no conntrack shortcut), as in
 * DESIGN.md's measurement: the set's lookup cost is all that differs.
 */
static int gen_set(FILE *out, unsigned long n, const char *client,
		   bool interval)
{
	fprintf(out,
		"table inet bench_set {\n\tset s {\n"
		"\t\ttype ipv4_addr . inet_proto . inet_service\n"
		"\t\tflags %s\n",
		interval ? "interval, timeout" : "timeout");
	elements(out, n, client, " timeout 1h");
	fputs("\t}\n\tchain input {\n"
	      "\t\ttype filter hook input priority filter - 10; policy "
	      "accept;\n"
	      "\t\tip saddr . meta l4proto . th dport @s accept\n"
	      "\t\tmeta l4proto { tcp, udp } th dport { 9, 22 } drop\n"
	      "\t}\n}\n",
	      out);
	return 0;
}

static int usage(void)
{
	fputs("usage: bench-gen state|snapshot|elems|rules|set OUT N CLIENT "
	      "[DURATION_S|hash|interval]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long n;
	FILE *out;
	int r;

	if (argc < 5)
		return usage();
	n = strtoul(argv[3], NULL, 10);
	if (n > 1000000)
		return usage();
	out = fopen(argv[2], "w");
	if (!out) {
		fprintf(stderr, "bench-gen: %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "state") && argc == 6)
		r = gen_state(out, n, argv[4], (unsigned)atoi(argv[5]));
	else if (!strcmp(argv[1], "snapshot") && argc == 6)
		r = gen_snapshot(out, n, argv[4], (unsigned)atoi(argv[5]));
	else if (!strcmp(argv[1], "elems") && argc == 6)
		r = gen_elems(out, n, argv[4], (unsigned)atoi(argv[5]));
	else if (!strcmp(argv[1], "rules") && argc == 5)
		r = gen_rules(out, n, argv[4]);
	else if (!strcmp(argv[1], "set") && argc == 6)
		r = gen_set(out, n, argv[4], !strcmp(argv[5], "interval"));
	else
		r = usage();
	if (fclose(out) != 0 && !r) {
		perror("bench-gen: write");
		r = 1;
	}
	return r;
}
