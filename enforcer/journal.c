/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "journal.h"
#include "state.h"
#include "util.h"

#define SNAPSHOT_TMP ".snapshot.tmp"
/* journal.<gen>.void-<offset>: see journal.h */
#define JIT_JOURNAL_VOID    ".void-"
#define JIT_JOURNAL_DAMAGED ".damaged-"
/* Compact once the journals hold more than the snapshot, and this much. */
#define COMPACT_MIN_BYTES (256u * 1024)
/* Or once there are this many journal files (one per start). */
#define COMPACT_MAX_FILES 8
#define LOAD_MAX_BYTES	  (1024u * 1024 * 1024)

struct backlog_line {
	char *line;
	size_t len;
};

struct jit_journal {
	char *dir;
	int fd;		 /* journal.<gen> we append to, or -1 */
	uint64_t gen;	 /* its generation */
	uint64_t good;	 /* bytes of it known to hold whole lines */
	uint64_t synced; /* bytes of it made durable by the last sync */
	uint64_t upto;	 /* the snapshot holds every journal <= upto */
	uint64_t snap_bytes;
	uint64_t old_bytes; /* journal files before the current one */
	bool dirty;	    /* appended since the last sync */
	int error;	    /* why it is degraded, or 0 */
	struct backlog_line *backlog;
	size_t n_backlog, cap_backlog;
	pid_t child;
	uint64_t child_upto;
	const struct jit_replay *replay; /* digests a snapshot carries */
	/* The policy texts appended since the last sync: a rollback keeps
	 * them to retry (the set they describe is in force). */
	char *pass_policies;
	size_t pass_policies_len;
	uint64_t reserved; /* ids below it may be in use */
	/* A rollback whose cut failed: bytes of journal.<void_gen> from
	 * void_off on are void, and nothing is synced until the marker that
	 * says so exists. */
	bool void_pending;
	uint64_t void_gen, void_off;
	bool lost; /* lines since the last sync went with a void file */
	uint64_t rollbacks; /* failed syncs so far */
};

/* ---- lines ------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
	bool ok;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (!b->ok)
		return;
	if (grow_array((void **)&b->p, &b->cap, b->len + n + 1, 1) < 0) {
		b->ok = false;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->ok = false;
		return;
	}
	buf_add(b, tmp, (size_t)n);
}

/* A field: tab first, then s with \\, tab, newline and controls escaped. */
static void buf_field(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	buf_add(b, "\t", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4] = { '\\', 0, 0, 0 };
		size_t k = 2;

		if (c == '\\')
			esc[1] = '\\';
		else if (c == '\t')
			esc[1] = 't';
		else if (c == '\n')
			esc[1] = 'n';
		else if (c < 0x20 || c == 0x7f) {
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			k = 4;
		} else {
			size_t run = i;

			while (run < n && (unsigned char)s[run] >= 0x20 &&
			       s[run] != '\\' && s[run] != 0x7f)
				run++;
			buf_add(b, s + i, run - i);
			i = run - 1;
			continue;
		}
		buf_add(b, esc, k);
	}
}

static void buf_str(struct buf *b, const char *s)
{
	buf_field(b, s, strlen(s));
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Unescape [s, s+n) into out (at most n bytes + NUL). */
static int field_unescape(const char *s, size_t n, char *out, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (++i >= n)
			return -EINVAL;
		switch (s[i]) {
		case '\\':
			out[o++] = '\\';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'x': {
			int h, l;

			if (i + 2 >= n)
				return -EINVAL;
			h = unhex(s[i + 1]);
			l = unhex(s[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			out[o++] = (char)(h << 4 | l);
			i += 2;
			break;
		}
		default:
			return -EINVAL;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* Split a payload at tabs; fields point into it (not unescaped). */
struct fields {
	const char *s[24];
	size_t n[24];
	size_t count;
};

static int split(const char *p, size_t len, struct fields *f)
{
	size_t start = 0;

	f->count = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '\t')
			continue;
		if (f->count >= ARRAY_SIZE(f->s))
			return -EINVAL;
		f->s[f->count] = p + start;
		f->n[f->count++] = i - start;
		start = i + 1;
	}
	return 0;
}

static int field_u64(const struct fields *f, size_t i, uint64_t *v)
{
	uint64_t x = 0;

	if (i >= f->count || !f->n[i] || f->n[i] > 20)
		return -EINVAL;
	for (size_t k = 0; k < f->n[i]; k++) {
		char c = f->s[i][k];

		if (c < '0' || c > '9' || x > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*v = x;
	return 0;
}

/* A string field into a fixed buffer of size cap (escaped text may be
 * longer than the result; the result must fit). */
static int field_str(const struct fields *f, size_t i, char *out, size_t cap)
{
	char tmp[1024];
	size_t n;

	if (i >= f->count || f->n[i] >= sizeof(tmp))
		return -EINVAL;
	if (field_unescape(f->s[i], f->n[i], tmp, &n) < 0 ||
	    memchr(tmp, '\0', n))
		return -EINVAL;
	/* Written by an agent with longer fields: kept cut, not lost. */
	if (n >= cap) {
		tmp[cap - 1] = '\0';
		utf8_truncate_invalid(tmp);
		n = strlen(tmp);
	}
	memcpy(out, tmp, n + 1);
	return 0;
}

static const char status_chars[] = {
	[JIT_PENDING] = 'P', [JIT_DENIED] = 'D',  [JIT_INITIATED] = 'I',
	[JIT_REVOKED] = 'R', [JIT_EXPIRED] = 'E',
};

/*
 * r <id> <status> <uid> <user> <policy> <source> <protos> <port_lo>
 *   <port_hi> <duration_s> <requested_ms> <start_ms> <end_ms>
 *   <decided_by> <replaced_by> <status_reason> <reason>
 */
static void format_request(struct buf *b, const struct jit_request *r)
{
	char src[JIT_PREFIX_STRLEN];

	buf_printf(b, "r\t%" PRIu64 "\t%c\t%" PRIu32, r->id,
		   status_chars[r->status], r->uid);
	buf_str(b, r->user);
	buf_str(b, r->policy);
	buf_str(b, prefix_format(&r->key.source, src, sizeof(src)));
	buf_printf(b,
		   "\t%u\t%u\t%u\t%" PRIu32 "\t%" PRIu64 "\t%" PRIu64
		   "\t%" PRIu64,
		   r->key.protos, r->key.port_lo, r->key.port_hi, r->duration_s,
		   r->requested_ms, r->start_ms, r->end_ms);
	buf_str(b, r->decided_by);
	buf_printf(b, "\t%" PRIu64, r->replaced_by);
	buf_str(b, r->status_reason);
	buf_str(b, request_reason(r));
	/* Optional fields after the 18 fixed ones: one JSON object. */
	if (r->fleet_id) {
		char extra[160];

		snprintf(extra, sizeof(extra),
			 "{\"fleet\":{\"id\":\"%016" PRIx64
			 "\",\"rev\":%" PRIu64 ",\"hash\":\"%016" PRIx64 "\"}}",
			 r->fleet_id, r->fleet_rev, r->fleet_hash);
		buf_str(b, extra);
	}
}

/* The optional JSON object of a request line (field 18), if any. */
static int parse_request_extra(const struct fields *f, struct jit_request *out)
{
	char text[512];
	json_t *o, *fl;
	const char *id = NULL, *hash = NULL;
	json_int_t rev = 0;
	int r = 0;

	if (f->count < 19)
		return 0;
	if (field_str(f, 18, text, sizeof(text)) < 0)
		return -EINVAL;
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	fl = json_object_get(o, "fleet");
	if (fl) {
		char *end;

		if (json_unpack(fl, "{s:s, s:I, s:s}", "id", &id, "rev", &rev,
				"hash", &hash) < 0 ||
		    strlen(id) != 16 || strlen(hash) != 16 || rev < 0) {
			r = -EINVAL;
		} else {
			out->fleet_id = strtoull(id, &end, 16);
			if (*end || !out->fleet_id)
				r = -EINVAL;
			out->fleet_hash = strtoull(hash, &end, 16);
			if (*end)
				r = -EINVAL;
			out->fleet_rev = (uint64_t)rev;
		}
	}
	json_decref(o);
	return r;
}

char *journal_format_request(const struct jit_request *r)
{
	struct buf b = { .ok = true };

	format_request(&b, r);
	if (!b.ok) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static int parse_request(const struct fields *f, struct jit_request *out)
{
	uint64_t v[11];
	char src[JIT_PREFIX_STRLEN], reason[JIT_REASON_MAX];
	const char *st;

	memset(out, 0, sizeof(*out));
	if (f->count < 18 || f->count > 19 || f->n[0] != 1 ||
	    f->s[0][0] != 'r' || f->n[2] != 1)
		return -EINVAL;
	st = memchr(status_chars, f->s[2][0], sizeof(status_chars));
	if (!st)
		return -EINVAL;
	out->status = (enum jit_status)(st - status_chars);
	if (field_u64(f, 1, &v[0]) < 0 || field_u64(f, 3, &v[1]) < 0 ||
	    field_u64(f, 7, &v[2]) < 0 || field_u64(f, 8, &v[3]) < 0 ||
	    field_u64(f, 9, &v[4]) < 0 || field_u64(f, 10, &v[5]) < 0 ||
	    field_u64(f, 11, &v[6]) < 0 || field_u64(f, 12, &v[7]) < 0 ||
	    field_u64(f, 13, &v[8]) < 0 || field_u64(f, 15, &v[9]) < 0)
		return -EINVAL;
	if (!v[0] || v[1] > UINT32_MAX || !v[2] ||
	    v[2] > (JIT_PROTO_TCP | JIT_PROTO_UDP) || !v[3] || v[3] > 65535 ||
	    v[4] < v[3] || v[4] > 65535 || v[5] > UINT32_MAX)
		return -EINVAL;
	if (field_str(f, 4, out->user, sizeof(out->user)) < 0 ||
	    field_str(f, 5, out->policy, sizeof(out->policy)) < 0 ||
	    field_str(f, 6, src, sizeof(src)) < 0 ||
	    field_str(f, 14, out->decided_by, sizeof(out->decided_by)) < 0 ||
	    field_str(f, 16, out->status_reason, sizeof(out->status_reason)) <
		    0 ||
	    field_str(f, 17, reason, sizeof(reason)) < 0 ||
	    prefix_parse(src, &out->key.source) < 0)
		return -EINVAL;
	out->id = v[0];
	out->uid = (uint32_t)v[1];
	out->key.protos = (unsigned)v[2];
	out->key.port_lo = (uint16_t)v[3];
	out->key.port_hi = (uint16_t)v[4];
	out->duration_s = (uint32_t)v[5];
	out->requested_ms = v[6];
	out->start_ms = v[7];
	out->end_ms = v[8];
	out->replaced_by = v[9];
	if (parse_request_extra(f, out) < 0)
		return -EINVAL;
	if (reason[0]) {
		out->reason = strdup(reason);
		if (!out->reason)
			return -ENOMEM;
	}
	return 0;
}

int journal_parse_request(const char *payload, size_t len,
			  struct jit_request *out)
{
	struct fields f;
	int r;

	if (split(payload, len, &f) < 0)
		return -EINVAL;
	r = parse_request(&f, out);
	if (r < 0)
		request_release(out);
	return r;
}

/* Frame payload (in b, from off) as a line: "CRC payload\n". */
static int frame(struct buf *b, size_t off)
{
	char head[10];
	uint32_t crc = state_crc32(b->p + off + 9, b->len - off - 9);

	snprintf(head, sizeof(head), "%08" PRIx32, crc);
	memcpy(b->p + off, head, 8);
	b->p[off + 8] = ' ';
	buf_add(b, "\n", 1);
	return b->ok ? 0 : -ENOMEM;
}

/* Start a line in b: room for the CRC, filled in by frame(). */
static size_t line_start(struct buf *b)
{
	size_t off = b->len;

	buf_add(b, "00000000 ", 9);
	return off;
}

/* ---- files ------------------------------------------------------------ */

static char *journal_path(const char *dir, uint64_t gen)
{
	char *p;

	return asprintf(&p, "%s/" JIT_JOURNAL_PREFIX "%020" PRIu64, dir, gen) <
			       0
		       ? NULL
		       : p;
}

static int read_file(const char *path, char **ret, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *p;
	size_t off = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > LOAD_MAX_BYTES)
		return -EFBIG;
	p = malloc((size_t)st.st_size + 1);
	if (!p)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;

			free(p);
			return e;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	p[off] = '\0';
	*ret = p;
	*len = off;
	return 0;
}

static int parse_digest(const char *s, size_t n, uint8_t *out)
{
	if (n != 2 * JIT_DIGEST_LEN)
		return -EINVAL;
	for (size_t i = 0; i < JIT_DIGEST_LEN; i++) {
		int h = unhex(s[2 * i]), l = unhex(s[2 * i + 1]);

		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

struct loader {
	const struct jit_journal_sink *sink;
	struct jit_journal_info *info;
};

/* Apply one payload. -EINVAL for a line that does not parse. */
static int apply_line(struct loader *l, const char *p, size_t n)
{
	struct fields f;
	int r = 0;

	if (split(p, n, &f) < 0 || !f.count || f.n[0] != 1)
		return -EINVAL;
	switch (f.s[0][0]) {
	case 'r': {
		struct jit_request req;

		r = parse_request(&f, &req);
		if (r == 0) {
			r = l->sink->request(l->sink->userdata, &req);
			if (req.id >= l->info->next_id)
				l->info->next_id = req.id + 1;
		}
		request_release(&req);
		break;
	}
	case 'P':
		if (l->sink->policies_begin)
			l->sink->policies_begin(l->sink->userdata);
		break;
	case 'p': {
		char *path, *text;
		size_t plen, tlen;

		if (f.count != 3)
			return -EINVAL;
		path = malloc(f.n[1] + 1);
		text = malloc(f.n[2] + 1);
		if (!path || !text) {
			free(path);
			free(text);
			return -ENOMEM;
		}
		r = field_unescape(f.s[1], f.n[1], path, &plen);
		if (r == 0)
			r = field_unescape(f.s[2], f.n[2], text, &tlen);
		if (r == 0 && l->sink->policy)
			r = l->sink->policy(l->sink->userdata, path, text,
					    tlen);
		free(path);
		free(text);
		break;
	}
	case 'S':
		if (l->sink->sync_point)
			l->sink->sync_point(l->sink->userdata);
		break;
	case 'I': {
		uint64_t upto;

		if (f.count != 2 || field_u64(&f, 1, &upto) < 0)
			return -EINVAL;
		if (upto > l->info->next_id)
			l->info->next_id = upto;
		break;
	}
	case 'D': {
		uint8_t d[JIT_DIGEST_LEN];
		uint64_t until;

		if (f.count != 3 || parse_digest(f.s[1], f.n[1], d) < 0 ||
		    field_u64(&f, 2, &until) < 0)
			return -EINVAL;
		if (l->sink->digest)
			r = l->sink->digest(l->sink->userdata, d, until);
		break;
	}
	default:
		return -EINVAL;
	}
	return r;
}

/**
 * struct walk - what a walk over one file found
 * @good: the length of the prefix that ends with the last whole, valid
 *        line (what follows is a tail: torn, or damaged)
 * @damaged: invalid lines before @good (skipped, in salvage mode)
 * @first_damaged: the first of them (1-based), or 0
 * @tail_lines: lines (whole or not) after @good
 * @first_tail: the first of them (1-based), or 0
 */
struct walk {
	size_t good;
	size_t damaged, first_damaged;
	size_t tail_lines, first_tail;
};

/*
 * Walk the lines of buf. The first must be a header of kind; *hdr gets
 * its numbers. Without salvage the walk stops at the first invalid line;
 * with it, every line stands on its own CRC and invalid ones are skipped.
 * Returns 0, or -errno from the sink.
 */
static int walk(struct loader *l, const char *buf, size_t len, const char *kind,
		uint64_t hdr[2], bool salvage, struct walk *w)
{
	size_t off = 0, line = 0, bad = 0, first_bad = 0;
	bool first = true;

	memset(w, 0, sizeof(*w));
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		const char *p = buf + off + 9;
		size_t n;
		uint64_t crc;
		bool ok = false;
		int r;

		line++;
		if (!nl)
			break; /* a line with no end: the tail */
		if ((size_t)(nl - (buf + off)) >= 10 && buf[off + 8] == ' ' &&
		    hex_parse(buf + off, 8, &crc)) {
			n = (size_t)(nl - p);
			ok = state_crc32(p, n) == crc;
		}
		if (ok && first) {
			struct fields f;

			if (split(p, n, &f) < 0 || f.count < 4 || f.n[0] != 1 ||
			    f.s[0][0] != 'h' || f.n[1] != strlen(kind) ||
			    memcmp(f.s[1], kind, f.n[1]) ||
			    field_u64(&f, 2, &hdr[0]) < 0 ||
			    hdr[0] != JIT_JOURNAL_VERSION ||
			    field_u64(&f, 3, &hdr[0]) < 0 ||
			    (f.count > 4 && field_u64(&f, 4, &hdr[1]) < 0)) {
				/* Whole, but not ours to read (another kind
				 * or version): nothing in it is taken, and
				 * it counts as damage (kept, never cut). */
				w->damaged = w->first_damaged = 1;
				return 0;
			}
			if (f.count <= 4)
				hdr[1] = 0;
		} else if (ok) {
			r = apply_line(l, p, n);
			if (r < 0 && r != -EINVAL)
				return r;
			ok = r == 0;
			if (ok)
				l->info->lines++;
		}
		/* A header that is not one is read only in salvage mode. */
		first = false;
		if (!ok) {
			if (!salvage)
				break;
			if (!bad++)
				first_bad = line;
			off = (size_t)(nl - buf) + 1;
			continue;
		}
		w->damaged += bad;
		if (bad && !w->first_damaged)
			w->first_damaged = first_bad;
		bad = 0;
		off = (size_t)(nl - buf) + 1;
		w->good = off;
	}
	/* What follows the last valid line: lines skipped, and any rest. */
	w->tail_lines = bad + (off < len);
	w->first_tail = bad ? first_bad : off < len ? line : 0;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A rollback's cut recorded apart: journal.<gen> is void from off on. */
struct void_mark {
	uint64_t gen, off;
};

static bool parse_u64(const char *s, char **end, uint64_t *v)
{
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, end, 10);
	return !errno;
}

/*
 * Generations of the journal files in dir, sorted; with voids, the void
 * markers too (journal.<gen>.void-<off>, empty files).
 */
static int list_journals(const char *dir, uint64_t **ret, size_t *n,
			 struct void_mark **voids, size_t *n_voids)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0, cap_v = 0;

	*ret = NULL;
	*n = 0;
	if (voids) {
		*voids = NULL;
		*n_voids = 0;
	}
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		char *end;
		uint64_t gen, off;

		if (strncmp(s, JIT_JOURNAL_PREFIX, strlen(JIT_JOURNAL_PREFIX)))
			continue;
		s += strlen(JIT_JOURNAL_PREFIX);
		if (!parse_u64(s, &end, &gen))
			continue;
		if (!strncmp(end, JIT_JOURNAL_VOID, strlen(JIT_JOURNAL_VOID))) {
			s = end + strlen(JIT_JOURNAL_VOID);
			if (!voids || !parse_u64(s, &end, &off) || *end)
				continue;
			if (grow_array((void **)voids, &cap_v, *n_voids + 1,
				       sizeof(**voids)) < 0)
				goto nomem;
			(*voids)[(*n_voids)++] =
				(struct void_mark){ .gen = gen, .off = off };
			continue;
		}
		if (*end)
			continue;
		if (grow_array((void **)ret, &cap, *n + 1, sizeof(**ret)) < 0)
			goto nomem;
		(*ret)[(*n)++] = gen;
	}
	closedir(d);
	if (*n)
		qsort(*ret, *n, sizeof(**ret), cmp_u64);
	return 0;
nomem:
	closedir(d);
	free(*ret);
	*ret = NULL;
	if (voids) {
		free(*voids);
		*voids = NULL;
	}
	return -ENOMEM;
}

/* Open a new, empty journal file of generation gen, header written. */
static int journal_start_file(struct jit_journal *j, uint64_t gen)
{
	_cleanup_free_ char *path = journal_path(j->dir, gen);
	struct buf b = { .ok = true };
	size_t off;
	int fd, r;

	if (!path)
		return -ENOMEM;
	fd = open(path,
		  O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC |
			  O_NOFOLLOW | O_NOCTTY,
		  0600);
	if (fd < 0)
		return -errno;
	off = line_start(&b);
	buf_printf(&b, "h\tjournal\t%d\t%" PRIu64, JIT_JOURNAL_VERSION, gen);
	r = frame(&b, off);
	if (r == 0)
		r = write_all(fd, b.p, b.len);
	/* The file must exist for good before a line in it is trusted. */
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r == 0)
		r = dir_sync(j->dir);
	if (r < 0) {
		close(fd);
		unlink(path);
		free(b.p);
		return r;
	}
	if (j->fd >= 0) {
		j->old_bytes += j->good;
		close(j->fd);
	}
	j->fd = fd;
	j->gen = gen;
	j->good = j->synced = b.len;
	j->dirty = false;
	free(b.p);
	return 0;
}

/*
 * The snapshot, if there is one. Written whole and renamed into place:
 * any flaw is damage. Then every line whose own CRC holds is taken
 * (what was read again is the same upsert); the caller sets the file
 * aside and writes a new one.
 */
static int load_snapshot(struct jit_journal *j, struct loader *l, char *why,
			 size_t whylen)
{
	struct jit_journal_info *info = l->info;
	_cleanup_free_ char *snap = path_join(j->dir, JIT_SNAPSHOT_FILE);
	_cleanup_free_ char *buf = NULL;
	uint64_t hdr[2] = { 0, 0 };
	struct walk w;
	size_t len;
	int r;

	if (!snap)
		return -ENOMEM;
	r = read_file(snap, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	info->found = true;
	if (l->sink->reserve) {
		size_t lines = 0;

		for (const char *p = buf, *end = buf + len;
		     (p = memchr(p, '\n', (size_t)(end - p))); p++)
			lines++;
		l->sink->reserve(l->sink->userdata, lines);
	}
	r = walk(l, buf, len, "snapshot", hdr, false, &w);
	if (r == 0 && w.good != len) {
		hdr[0] = hdr[1] = 0;
		r = walk(l, buf, len, "snapshot", hdr, true, &w);
		/* Written whole and renamed: a tail is damage too. */
		info->damaged_lines = w.damaged + w.tail_lines;
		if (!info->damaged_lines)
			info->damaged_lines = 1;
		snprintf(why, whylen,
			 "%zu damaged line(s) skipped, the first at line %zu, "
			 "the rest taken",
			 info->damaged_lines,
			 w.first_damaged ? w.first_damaged : w.first_tail);
	}
	if (r < 0)
		return r;
	j->upto = hdr[0];
	j->snap_bytes = len;
	/* Written from memory between passes: all of it took effect. */
	if (l->sink->sync_point)
		l->sink->sync_point(l->sink->userdata);
	if (hdr[1] > info->next_id)
		info->next_id = hdr[1];
	return 0;
}

/* Keep a damaged journal file aside, under another name (a link: it is
 * never cut in place, and compaction removes only the journal's name). */
static void keep_damaged(const char *path)
{
	_cleanup_free_ char *to = NULL;

	if (asprintf(&to, "%s" JIT_JOURNAL_DAMAGED "%" PRIu64, path,
		     now_real_ms()) >= 0)
		(void)link(path, to);
}

/* Where journal gen is void from, or UINT64_MAX. */
static uint64_t void_from(const struct void_mark *voids, size_t n, uint64_t gen)
{
	uint64_t off = UINT64_MAX;

	for (size_t i = 0; i < n; i++)
		if (voids[i].gen == gen && voids[i].off < off)
			off = voids[i].off;
	return off;
}

/*
 * The journal files after the snapshot, in order. Every line stands on
 * its own CRC: a damaged one is skipped and the lines after it are kept
 * (they were answered). Only the torn tail of the newest file (what
 * follows its last whole line) is cut; a file with damage anywhere else
 * is kept aside whole, never cut. *last_gen is the highest generation
 * seen.
 */
static int load_journals(struct jit_journal *j, struct loader *l,
			 uint64_t *last_gen)
{
	struct jit_journal_info *info = l->info;
	_cleanup_free_ uint64_t *gens = NULL;
	_cleanup_free_ struct void_mark *voids = NULL;
	uint64_t hdr[2];
	size_t n_gens = 0, n_voids = 0;
	int r;

	r = list_journals(j->dir, &gens, &n_gens, &voids, &n_voids);
	if (r < 0)
		return r;
	*last_gen = j->upto;
	for (size_t i = 0; i < n_gens; i++) {
		_cleanup_free_ char *path = journal_path(j->dir, gens[i]);
		_cleanup_free_ char *buf = NULL;
		uint64_t voff = void_from(voids, n_voids, gens[i]);
		bool newest = i + 1 == n_gens;
		struct walk w;
		size_t len, tail;

		if (!path)
			return -ENOMEM;
		if (gens[i] > *last_gen)
			*last_gen = gens[i];
		if (gens[i] <= j->upto) {
			/* Left by a compaction that ended before its cleanup.
			 */
			(void)unlink(path);
			continue;
		}
		r = read_file(path, &buf, &len);
		if (r < 0)
			return r;
		info->found = true;
		info->files++;
		if (voff < len) {
			/* Rolled back, but the cut had failed: ours to cut. */
			info->void_bytes += len - voff;
			len = (size_t)voff;
			(void)truncate(path, (off_t)voff);
		}
		r = walk(l, buf, len, "journal", hdr, true, &w);
		if (r < 0)
			return r;
		tail = len - w.good;
		if (w.damaged || (tail && !newest)) {
			size_t n = w.damaged + (newest ? 0 : w.tail_lines);

			info->journal_damaged += n;
			info->damaged_files++;
			if (!info->damaged_file[0]) {
				const char *base = strrchr(path, '/');

				snprintf(info->damaged_file,
					 sizeof(info->damaged_file), "%s",
					 base ? base + 1 : path);
				info->damaged_line = w.first_damaged
							     ? w.first_damaged
							     : w.first_tail;
			}
			keep_damaged(path);
			if (tail && newest)
				info->cut_bytes += tail; /* read, not cut */
		} else if (tail) {
			/* The newest file's torn tail: cut, so that nothing
			 * is ever read past it. Read-only: the next start
			 * cuts it again, and nothing is appended to this
			 * file anyway. */
			info->cut_bytes += tail;
			if (truncate(path, (off_t)w.good) == 0)
				len = w.good;
		}
		j->old_bytes += (uint64_t)len;
		info->end_gen = gens[i];
		info->end_off = len;
	}
	return 0;
}

DEFINE_CLEANUP_FUNC(struct jit_journal, journal_close)

int journal_open(const char *dir, const struct jit_journal_sink *sink,
		 struct jit_journal **ret, struct jit_journal_info *info,
		 char *why, size_t whylen)
{
	_cleanup_(journal_closep) struct jit_journal *j = NULL;
	struct loader l = { .sink = sink, .info = info };
	uint64_t last_gen = 0;
	int r;

	memset(info, 0, sizeof(*info));
	info->next_id = 1;
	why[0] = '\0';
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->dir = strdup(dir);
	if (!j->dir)
		return -ENOMEM;
	r = load_snapshot(j, &l, why, whylen);
	if (r < 0)
		return r;
	r = load_journals(j, &l, &last_gen);
	if (r < 0)
		return r;
	/*
	 * A damaged line, or a torn tail (which a disk that lost synced
	 * bytes leaves too), may have held the newest request or a
	 * reservation: ids skip past anything it could have named.
	 */
	info->next_id +=
		(uint64_t)(info->journal_damaged + info->damaged_lines +
			   (info->cut_bytes ? 1 : 0)) *
		JIT_JOURNAL_DAMAGE_ID_SKIP;
	j->reserved = info->next_id;
	/* A new file per start: nothing is ever appended after a cut. */
	r = journal_start_file(j, last_gen + 1);
	if (r < 0) {
		j->error = r;
		j->gen = last_gen + 1;
	}
	*ret = TAKE_PTR(j);
	return 0;
}

int journal_position(const struct jit_journal *j, uint64_t *gen, uint64_t *off)
{
	if (j->dirty || j->error || j->void_pending || j->fd < 0 ||
	    j->synced != j->good)
		return -EAGAIN;
	*gen = j->gen;
	*off = j->good;
	return 0;
}

struct jit_journal *journal_close(struct jit_journal *j)
{
	if (!j)
		return NULL;
	if (j->child > 0) {
		int status;

		(void)waitpid(j->child, &status, 0);
	}
	if (j->fd >= 0)
		close(j->fd);
	for (size_t i = 0; i < j->n_backlog; i++)
		free(j->backlog[i].line);
	free(j->backlog);
	free(j->pass_policies);
	free(j->dir);
	free(j);
	return NULL;
}

static void void_file(struct jit_journal *j);

/* Write line at the end of the current file; on failure nothing stays. */
static int put(struct jit_journal *j, const char *line, size_t len)
{
	int r;

	if (j->fd < 0) {
		r = journal_start_file(j, j->gen + 1);
		if (r < 0)
			return r;
	}
	r = write_all(j->fd, line, len);
	if (r < 0) {
		/* A partial line would end the journal at the next load. */
		if (ftruncate(j->fd, (off_t)j->good) < 0) {
			/* Then the file is unusable: what follows its last
			 * sync is void (the rollback says so), and the next
			 * put starts a new one. */
			void_file(j);
		}
		return r;
	}
	j->good += len;
	j->dirty = true;
	return 0;
}

static int flush_backlog(struct jit_journal *j)
{
	size_t done = 0;
	int r = 0;

	while (done < j->n_backlog) {
		r = put(j, j->backlog[done].line, j->backlog[done].len);
		if (r < 0)
			break;
		free(j->backlog[done].line);
		done++;
	}
	if (done) {
		memmove(j->backlog, j->backlog + done,
			(j->n_backlog - done) * sizeof(*j->backlog));
		j->n_backlog -= done;
	}
	return r;
}

static int append_line(struct jit_journal *j, struct buf *b, bool keep)
{
	int r = flush_backlog(j);

	if (r == 0)
		r = put(j, b->p, b->len);
	if (r == 0) {
		free(b->p);
		return 0;
	}
	j->error = r;
	if (keep && j->n_backlog < JIT_JOURNAL_BACKLOG_MAX &&
	    grow_array((void **)&j->backlog, &j->cap_backlog, j->n_backlog + 1,
		       sizeof(*j->backlog)) == 0) {
		j->backlog[j->n_backlog].line = b->p;
		j->backlog[j->n_backlog++].len = b->len;
		return r;
	}
	free(b->p);
	return r;
}

int journal_append_request(struct jit_journal *j, const struct jit_request *r,
			   bool keep)
{
	struct buf b = { .ok = true };
	size_t off = line_start(&b);

	format_request(&b, r);
	if (frame(&b, off) < 0) {
		free(b.p);
		return -ENOMEM;
	}
	return append_line(j, &b, keep);
}

static void format_policies(struct buf *b, const struct jit_policy_set *set)
{
	size_t off = line_start(b);

	buf_add(b, "P", 1);
	frame(b, off);
	for (size_t i = 0; set && i < policy_set_file_count(set); i++) {
		const struct jit_policy_file *f = policy_set_file(set, i);
		size_t len;
		const char *text = policy_file_text(f, &len);

		if (!text)
			continue;
		off = line_start(b);
		buf_add(b, "p", 1);
		buf_str(b, policy_file_path(f));
		buf_field(b, text, len);
		frame(b, off);
	}
}

int journal_append_policies(struct jit_journal *j,
			    const struct jit_policy_set *set)
{
	struct buf b = { .ok = true };

	char *copy;

	format_policies(&b, set);
	if (!b.ok) {
		free(b.p);
		return -ENOMEM;
	}
	/* Kept until the next sync: a rollback appends it again. */
	copy = malloc(b.len);
	if (!copy) {
		free(b.p);
		return -ENOMEM;
	}
	memcpy(copy, b.p, b.len);
	free(j->pass_policies);
	j->pass_policies = copy;
	j->pass_policies_len = b.len;
	return append_line(j, &b, true);
}

static void format_digest(struct buf *b, const uint8_t *d, uint64_t until_ms)
{
	static const char hex[] = "0123456789abcdef";
	char text[2 * JIT_DIGEST_LEN + 1];
	size_t off = line_start(b);

	for (size_t i = 0; i < JIT_DIGEST_LEN; i++) {
		text[2 * i] = hex[d[i] >> 4];
		text[2 * i + 1] = hex[d[i] & 15];
	}
	text[2 * JIT_DIGEST_LEN] = '\0';
	buf_printf(b, "D\t%s\t%" PRIu64, text, until_ms);
	frame(b, off);
}

int journal_append_digest(struct jit_journal *j, const uint8_t *d,
			  uint64_t until_ms)
{
	struct buf b = { .ok = true };

	format_digest(&b, d, until_ms);
	if (!b.ok) {
		free(b.p);
		return -ENOMEM;
	}
	/* A packet whose digest is not recorded is refused, not kept. */
	return append_line(j, &b, false);
}

void journal_set_replay(struct jit_journal *j, const struct jit_replay *r)
{
	j->replay = r;
}

struct digest_writer {
	struct buf *b;
	uint64_t now_ms;
};

static int write_digest(void *userdata, const uint8_t *d, uint64_t until_ms)
{
	struct digest_writer *w = userdata;

	if (until_ms >= w->now_ms)
		format_digest(w->b, d, until_ms);
	return w->b->ok ? 0 : -ENOMEM;
}

int journal_append_sync_point(struct jit_journal *j)
{
	struct buf b = { .ok = true };
	size_t off = line_start(&b);

	buf_add(&b, "S", 1);
	if (frame(&b, off) < 0) {
		free(b.p);
		return -ENOMEM;
	}
	/* Never kept for later: a late marker would vouch for too much. */
	return append_line(j, &b, false);
}

/*
 * The cut of a rollback failed: from its last sync on, the current file
 * is void. The file is closed (the next put starts a new one) and the
 * marker that tells a load so is made now or at the next sync.
 */
static void void_file(struct jit_journal *j)
{
	if (j->fd < 0)
		return;
	if (!j->void_pending) {
		j->void_pending = true;
		j->void_gen = j->gen;
		j->void_off = j->synced;
	}
	if (j->good > j->synced)
		j->lost = true;
	close(j->fd);
	j->old_bytes += j->synced;
	j->fd = -1;
	j->good = j->synced;
	j->dirty = false;
}

/* Make the void marker exist for good. 0 or -errno. */
static int void_settle(struct jit_journal *j)
{
	_cleanup_free_ char *path = NULL;
	int fd, r;

	if (!j->void_pending)
		return 0;
	if (asprintf(&path,
		     "%s/" JIT_JOURNAL_PREFIX "%020" PRIu64 JIT_JOURNAL_VOID
		     "%" PRIu64,
		     j->dir, j->void_gen, j->void_off) < 0)
		return -ENOMEM;
	/* Empty: a name and an inode, no data block to find room for. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		  0600);
	if (fd < 0)
		return -errno;
	close(fd);
	r = dir_sync(j->dir);
	if (r < 0)
		return r;
	j->void_pending = false;
	return 0;
}

/* A failed sync: drop everything since the last one (see journal.h). */
static void rollback(struct jit_journal *j)
{
	for (size_t i = 0; i < j->n_backlog; i++)
		free(j->backlog[i].line);
	j->n_backlog = 0;
	j->lost = false;
	j->rollbacks++;
	if (j->fd >= 0 && j->good > j->synced) {
		/* Cut and made durable: a power cut must not bring the
		 * lines back either. */
		if (ftruncate(j->fd, (off_t)j->synced) < 0 ||
		    fdatasync(j->fd) < 0)
			void_file(j);
		else
			j->good = j->synced;
	}
	j->dirty = false;
	(void)void_settle(j);
	if (j->pass_policies) {
		struct backlog_line *bl;

		if (grow_array((void **)&j->backlog, &j->cap_backlog,
			       j->n_backlog + 1, sizeof(*j->backlog)) == 0) {
			bl = &j->backlog[j->n_backlog++];
			bl->line = j->pass_policies;
			bl->len = j->pass_policies_len;
			j->pass_policies = NULL;
		}
		free(j->pass_policies);
		j->pass_policies = NULL;
	}
}

int journal_sync(struct jit_journal *j)
{
	int r = void_settle(j);

	if (r == 0)
		r = flush_backlog(j);
	if (r == 0 && j->dirty) {
		if (fdatasync(j->fd) < 0)
			r = -errno;
		else
			j->dirty = false;
	}
	/* Lines of this sync's span were in a file that had to be given
	 * up: all or nothing. */
	if (r == 0 && j->lost)
		r = j->error ? j->error : -EIO;
	if (r < 0) {
		rollback(j);
		j->error = r;
		return r;
	}
	j->synced = j->good;
	free(j->pass_policies);
	j->pass_policies = NULL;
	if (j->fd >= 0)
		j->error = 0;
	return 0;
}

uint64_t journal_rollbacks(const struct jit_journal *j)
{
	return j->rollbacks;
}

uint64_t journal_reserved(const struct jit_journal *j)
{
	return j->reserved;
}

int journal_reserve_ids(struct jit_journal *j, uint64_t upto)
{
	struct buf b = { .ok = true };
	size_t off = line_start(&b);
	int r;

	buf_printf(&b, "I\t%" PRIu64, upto);
	if (frame(&b, off) < 0) {
		free(b.p);
		return -ENOMEM;
	}
	r = append_line(j, &b, false);
	if (r == 0)
		r = journal_sync(j);
	if (r == 0 && upto > j->reserved)
		j->reserved = upto;
	return r;
}

bool journal_degraded(const struct jit_journal *j)
{
	return j->error != 0 || j->n_backlog || j->fd < 0;
}

int journal_error(const struct jit_journal *j)
{
	return j->error ? j->error : j->fd < 0 ? -EIO : 0;
}

size_t journal_backlog(const struct jit_journal *j)
{
	return j->n_backlog;
}

uint64_t journal_bytes(const struct jit_journal *j)
{
	return j->old_bytes + j->good;
}

uint64_t journal_snapshot_bytes(const struct jit_journal *j)
{
	return j->snap_bytes;
}

/* ---- compaction ------------------------------------------------------- */

bool journal_wants_compaction(const struct jit_journal *j)
{
	uint64_t bytes = journal_bytes(j);

	/* Never in the middle of a pass (compaction syncs, and a failure
	 * there would roll back lines the pass's own sync must judge), nor
	 * while the journal cannot be written. */
	if (j->child > 0 || j->fd < 0 || j->n_backlog || j->dirty || j->error ||
	    j->void_pending)
		return false;
	return bytes > COMPACT_MIN_BYTES && bytes > j->snap_bytes;
}

pid_t journal_compacting(const struct jit_journal *j)
{
	return j->child;
}

/* Write the whole snapshot of g and set to dir; covers journals <= upto. */
static int write_snapshot(const char *dir, struct jit_grants *g,
			  const struct jit_policy_set *set,
			  const struct jit_replay *replay, uint64_t upto,
			  uint64_t reserved, uint64_t *bytes)
{
	_cleanup_free_ char *tmp = path_join(dir, SNAPSHOT_TMP);
	_cleanup_free_ char *path = path_join(dir, JIT_SNAPSHOT_FILE);
	_cleanup_close_ int fd = -1;
	struct buf b = { .ok = true };
	uint64_t total = 0;
	size_t off;
	int r = 0;

	if (!tmp || !path)
		return -ENOMEM;
	fd = open(tmp,
		  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
			  O_NOCTTY,
		  0600);
	if (fd < 0)
		return -errno;
	off = line_start(&b);
	buf_printf(&b, "h\tsnapshot\t%d\t%" PRIu64 "\t%" PRIu64,
		   JIT_JOURNAL_VERSION, upto,
		   grants_next_id(g) > reserved ? grants_next_id(g) : reserved);
	frame(&b, off);
	format_policies(&b, set);
	if (replay) {
		struct digest_writer w = { &b, now_real_ms() };

		(void)replay_foreach(replay, write_digest, &w);
	}
	for (size_t i = 0; i < grants_count(g) && b.ok && r == 0; i++) {
		off = line_start(&b);
		format_request(&b, grants_at(g, i));
		frame(&b, off);
		if (b.len > 1024 * 1024) {
			r = write_all(fd, b.p, b.len);
			total += b.len;
			b.len = 0;
		}
	}
	if (!b.ok)
		r = -ENOMEM;
	if (r == 0)
		r = write_all(fd, b.p, b.len);
	total += b.len;
	free(b.p);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	*bytes = total;
	return dir_sync(dir);
}

static void drop_old_journals(struct jit_journal *j, uint64_t upto)
{
	_cleanup_free_ uint64_t *gens = NULL;
	size_t n = 0;

	_cleanup_free_ struct void_mark *voids = NULL;
	size_t n_voids = 0;

	if (list_journals(j->dir, &gens, &n, &voids, &n_voids) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		if (gens[i] > upto)
			continue;
		path = journal_path(j->dir, gens[i]);
		if (path)
			(void)unlink(path);
	}
	for (size_t i = 0; i < n_voids; i++) {
		_cleanup_free_ char *path = NULL;

		if (voids[i].gen <= upto &&
		    asprintf(&path,
			     "%s/" JIT_JOURNAL_PREFIX
			     "%020" PRIu64 JIT_JOURNAL_VOID "%" PRIu64,
			     j->dir, voids[i].gen, voids[i].off) >= 0)
			(void)unlink(path);
	}
}

/*
 * Everything so far goes to the snapshot (covering journals <= *upto);
 * what follows goes to a new journal file.
 */
static int compaction_begin(struct jit_journal *j, uint64_t *upto)
{
	int r;

	if (j->child > 0)
		return -EBUSY;
	r = journal_sync(j);
	if (r < 0)
		return r;
	*upto = j->gen;
	return journal_start_file(j, j->gen + 1);
}

/* The snapshot covering journals <= upto is in place. */
static void compaction_end(struct jit_journal *j, uint64_t upto, uint64_t bytes)
{
	j->upto = upto;
	j->snap_bytes = bytes;
	drop_old_journals(j, upto);
	j->old_bytes = 0;
}

int journal_compact(struct jit_journal *j, struct jit_grants *g,
		    const struct jit_policy_set *set, pid_t *child)
{
	uint64_t upto;
	pid_t pid;
	int r = compaction_begin(j, &upto);

	if (r < 0)
		return r;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		uint64_t bytes;

		/*
		 * Nothing of the agent's but the registry: above all not the
		 * netlink socket that owns the table, which would keep it
		 * owned past a crash of the agent until this child is done.
		 */
		(void)close_range(3, ~0u, 0);
		signal(SIGTERM, SIG_DFL);
		_exit(write_snapshot(j->dir, g, set, j->replay, upto,
				     j->reserved, &bytes) < 0
			      ? 1
			      : 0);
	}
	j->child = pid;
	j->child_upto = upto;
	*child = pid;
	return 0;
}

void journal_compact_done(struct jit_journal *j, pid_t pid, int status)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (pid != j->child)
		return;
	j->child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return;
	path = path_join(j->dir, JIT_SNAPSHOT_FILE);
	compaction_end(j, j->child_upto,
		       path && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
}

int journal_compact_now(struct jit_journal *j, struct jit_grants *g,
			const struct jit_policy_set *set)
{
	uint64_t upto, bytes = 0;
	int r = compaction_begin(j, &upto);

	/* In this process, between passes: every id given is below
	 * grants_next_id, so no reservation need carry over (a clean
	 * restart does not skip ids). */
	if (r == 0)
		r = write_snapshot(j->dir, g, set, j->replay, upto, 0, &bytes);
	if (r < 0)
		return r;
	compaction_end(j, upto, bytes);
	/* The reservation went with the journals the snapshot replaced. */
	j->reserved = grants_next_id(g);
	return 0;
}
