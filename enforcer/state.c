/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <zlib.h>

#include "state.h"
#include "util.h"

#define STATE_MAX_BYTES (512u * 1024 * 1024)

void state_release(struct jit_state *st)
{
	for (size_t i = 0; i < st->n_policies; i++) {
		free(st->policies[i].path);
		free(st->policies[i].text);
	}
	free(st->policies);
	for (size_t i = 0; i < st->n_requests; i++)
		request_release(&st->requests[i]);
	free(st->requests);
	memset(st, 0, sizeof(*st));
}

uint32_t state_crc32(const void *data, size_t len)
{
	/* CRC-32 (ISO-HDLC, as zlib computes it). */
	return (uint32_t)crc32_z(0, data, len);
}

__attribute__((format(printf, 3, 4))) static int bad(char *why, size_t n,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int status_parse(const char *s, enum jit_status *ret)
{
	static const enum jit_status all[] = { JIT_PENDING, JIT_DENIED,
					       JIT_INITIATED, JIT_REVOKED,
					       JIT_EXPIRED };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (streq(s, status_name(all[i]))) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

static int copy_str(char *dst, size_t n, const char *src)
{
	if (!src || strlen(src) >= n)
		return -EINVAL;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int request_from_state(json_t *o, struct jit_request *r)
{
	const char *policy, *user, *source, *status, *reason, *sreason, *by;
	json_int_t id, uid, protos, lo, hi, dur, req, start, end, repl;
	json_error_t jerr;

	memset(r, 0, sizeof(*r));
	if (json_unpack_ex(o, &jerr, JSON_STRICT,
			   "{s:I, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:s, "
			   "s:I, s:I, s:I, s:s, s:s, s:s, s:I}",
			   "id", &id, "policy", &policy, "uid", &uid, "user",
			   &user, "source", &source, "protos", &protos,
			   "port_lo", &lo, "port_hi", &hi, "duration_s", &dur,
			   "reason", &reason, "requested_ms", &req, "start_ms",
			   &start, "end_ms", &end, "status", &status,
			   "status_reason", &sreason, "decided_by", &by,
			   "replaced_by", &repl) < 0)
		return -EINVAL;
	if (id < 1 || uid < 0 || uid > UINT32_MAX || protos < 1 || protos > 3 ||
	    lo < 1 || hi < lo || hi > 65535 || dur < 0 || dur > UINT32_MAX ||
	    req < 0 || start < 0 || end < 0 || repl < 0)
		return -EINVAL;
	if (copy_str(r->policy, sizeof(r->policy), policy) < 0 ||
	    copy_str(r->user, sizeof(r->user), user) < 0 ||
	    strlen(reason) >= JIT_REASON_MAX ||
	    copy_str(r->status_reason, sizeof(r->status_reason), sreason) < 0 ||
	    copy_str(r->decided_by, sizeof(r->decided_by), by) < 0 ||
	    prefix_parse(source, &r->key.source) < 0 ||
	    status_parse(status, &r->status) < 0)
		return -EINVAL;
	r->id = (uint64_t)id;
	r->uid = (uint32_t)uid;
	r->key.protos = (unsigned)protos;
	r->key.port_lo = (uint16_t)lo;
	r->key.port_hi = (uint16_t)hi;
	r->duration_s = (uint32_t)dur;
	r->requested_ms = (uint64_t)req;
	r->start_ms = (uint64_t)start;
	r->end_ms = (uint64_t)end;
	r->replaced_by = (uint64_t)repl;
	if (*reason && !(r->reason = strdup(reason)))
		return -ENOMEM;
	return 0;
}

/*
 * "MAGIC VERSION CRC LENGTH\n": checked against the rest of buf, which
 * *body and *blen then point at.
 */
static int check_header(const char *buf, size_t len, const char **body,
			size_t *blen, char *why, size_t whylen)
{
	const char *nl = memchr(buf, '\n', len < 128 ? len : 128);
	char magic[32], header[129];
	unsigned long long n_body;
	unsigned crc;
	int version, n = 0;

	if (!nl)
		return bad(why, whylen, "no header line");
	/* buf need not end in a NUL: parse a terminated copy of the line. */
	memcpy(header, buf, (size_t)(nl - buf));
	header[nl - buf] = '\0';
	if (sscanf(header, "%31s %d %8x %llu%n", magic, &version, &crc, &n_body,
		   &n) != 4 ||
	    n != nl - buf || !streq(magic, JIT_STATE_MAGIC))
		return bad(why, whylen, "not a jit-enforcer state file");
	if (version != JIT_STATE_VERSION)
		return bad(why, whylen, "state version %d, this agent reads %d",
			   version, JIT_STATE_VERSION);
	if ((size_t)(len - (size_t)(nl + 1 - buf)) != n_body)
		return bad(why, whylen,
			   "truncated or torn: header says %llu bytes, file "
			   "has %zu",
			   n_body, len - (size_t)(nl + 1 - buf));
	if (state_crc32(nl + 1, n_body) != crc)
		return bad(why, whylen,
			   "checksum mismatch: the file is corrupt");
	*body = nl + 1;
	*blen = n_body;
	return 0;
}

/* The requests, in increasing order of id. */
static int requests_from_state(json_t *reqs, struct jit_state *st, char *why,
			       size_t whylen)
{
	json_t *v;
	size_t i;

	json_array_foreach(reqs, i, v)
	{
		/* Counted first, so that state_release frees its reason. */
		st->n_requests++;
		if (request_from_state(v, &st->requests[i]) < 0 ||
		    (i && st->requests[i].id <= st->requests[i - 1].id))
			return bad(why, whylen, "request #%zu is malformed", i);
	}
	return 0;
}

/* The last good text of each policy file. */
static int policies_from_state(json_t *pols, struct jit_state *st, char *why,
			       size_t whylen)
{
	json_t *v;
	size_t i;

	json_array_foreach(pols, i, v)
	{
		const char *path = NULL, *text = NULL;
		size_t tlen = 0;

		if (json_unpack(v, "{s:s, s:s%}", "path", &path, "text", &text,
				&tlen) < 0)
			return bad(why, whylen, "policy #%zu is malformed", i);
		st->policies[i].path = strdup(path);
		st->policies[i].text = malloc(tlen + 1);
		if (!st->policies[i].path || !st->policies[i].text) {
			st->n_policies = i + 1;
			return -ENOMEM;
		}
		memcpy(st->policies[i].text, text, tlen + 1);
		st->policies[i].len = tlen;
		st->n_policies++;
	}
	return 0;
}

int state_decode(const char *buf, size_t len, struct jit_state *ret, char *why,
		 size_t whylen)
{
	_cleanup_(state_release) struct jit_state st = { 0 };
	json_auto_t *root = NULL;
	json_t *reqs, *pols;
	json_int_t next_id = 0, written = 0;
	json_error_t jerr;
	const char *body = NULL;
	size_t blen = 0;
	int r;

	r = check_header(buf, len, &body, &blen, why, whylen);
	if (r < 0)
		return r;
	root = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return bad(why, whylen, "invalid JSON at byte %d: %s",
			   jerr.position, jerr.text);
	if (json_unpack_ex(root, &jerr, 0, "{s:I, s:I, s:o, s:o}", "written_ms",
			   &written, "next_id", &next_id, "requests", &reqs,
			   "policies", &pols) < 0 ||
	    !json_is_array(reqs) || !json_is_array(pols))
		return bad(why, whylen, "unexpected layout: %s", jerr.text);
	st.written_ms = (uint64_t)written;
	st.next_id = (uint64_t)next_id;
	st.requests = calloc(json_array_size(reqs) + 1, sizeof(*st.requests));
	st.policies = calloc(json_array_size(pols) + 1, sizeof(*st.policies));
	if (!st.requests || !st.policies)
		return -ENOMEM;
	r = requests_from_state(reqs, &st, why, whylen);
	if (r < 0)
		return r;
	r = policies_from_state(pols, &st, why, whylen);
	if (r < 0)
		return r;
	*ret = st;
	st = (struct jit_state){ 0 };
	return 0;
}

int state_mark_clean(const char *dir)
{
	_cleanup_free_ char *path = path_join(dir, JIT_STATE_CLEAN);
	_cleanup_close_ int fd = -1;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	return dir_sync(dir);
}

int state_take_clean(const char *dir)
{
	_cleanup_free_ char *path = path_join(dir, JIT_STATE_CLEAN);
	int r;

	if (!path)
		return -ENOMEM;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* Gone for good before anything can change: a crash from now on
	 * must make the next start look at the kernel. */
	r = dir_sync(dir);
	return r < 0 ? r : 1;
}

int state_load(const char *dir, struct jit_state *ret, char *why, size_t whylen)
{
	_cleanup_free_ char *path = path_join(dir, JIT_STATE_FILE);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0, cap = 0;
	struct stat st;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > STATE_MAX_BYTES)
		return bad(why, whylen, "file is larger than %u bytes",
			   STATE_MAX_BYTES);
	for (;;) {
		ssize_t n;

		if (grow_array((void **)&buf, &cap, len + 65536, 1) < 0)
			return -ENOMEM;
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > STATE_MAX_BYTES)
			return bad(why, whylen, "file grew past %u bytes",
				   STATE_MAX_BYTES);
	}
	if (!len)
		return bad(why, whylen, "file is empty");
	buf[len] = '\0';
	return state_decode(buf, len, ret, why, whylen);
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

int kview_here(const char *table, struct jit_kview *ret)
{
	_cleanup_close_ int fd = -1, sk = -1;
	socklen_t len = sizeof(ret->netns);
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	if (strlen(table) >= sizeof(ret->table))
		return -ENAMETOOLONG;
	memcpy(ret->table, table, strlen(table));
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, ret->boot_id, sizeof(ret->boot_id) - 1);
	if (n < 36)
		return n < 0 ? -errno : -EPROTO;
	ret->boot_id[36] = '\0';
	/* Linux 5.14 and later: a namespace's cookie is never reused. */
	sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return -errno;
	if (getsockopt(sk, SOL_SOCKET, SO_NETNS_COOKIE, &ret->netns, &len) < 0)
		return -errno;
	return ret->netns ? 0 : -EPROTO;
}

bool kview_equal(const struct jit_kview *a, const struct jit_kview *b)
{
	return streq(a->boot_id, b->boot_id) && a->netns == b->netns &&
	       streq(a->table, b->table) && a->genid == b->genid &&
	       a->jgen == b->jgen && a->joff == b->joff &&
	       streq(a->policies, b->policies);
}

#define KVIEW_FMT                                                              \
	"kernel-view 2 %s %" PRIu64 " %s %" PRIu32 " %" PRIu64 " %" PRIu64 " " \
	"%"                                                                    \
	"s"

int state_kview_open(const char *dir)
{
	_cleanup_free_ char *path = path_join(dir, JIT_STATE_KVIEW);
	int fd;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

int state_kview_put(int fd, const struct jit_kview *v)
{
	char line[512];
	int n;

	/* "-": no digest (a field is never empty). */
	n = snprintf(line, sizeof(line), KVIEW_FMT, v->boot_id, v->netns,
		     v->table, v->genid, v->jgen, v->joff,
		     v->policies[0] ? v->policies : "-");
	if (n < 0 || (size_t)n + 12 >= sizeof(line))
		return -EOVERFLOW;
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %08" PRIx32 "\n",
		      state_crc32(line, (size_t)n));
	errno = 0;
	/* One write, then the length: a shorter line leaves no old tail. */
	if (pwrite(fd, line, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

int state_kview_read(const char *dir, struct jit_kview *ret)
{
	_cleanup_free_ char *path = path_join(dir, JIT_STATE_KVIEW);
	_cleanup_close_ int fd = -1;
	char line[512], check[512];
	struct jit_kview v = { 0 };
	uint32_t crc;
	ssize_t n;
	int k, end = 0;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, line, sizeof(line) - 1);
	if (n < 0)
		return -errno;
	line[n] = '\0';
	k = sscanf(line,
		   "kernel-view 2 %39s %" SCNu64 " %63s %" SCNu32 " %" SCNu64
		   " %" SCNu64 " %64s %8" SCNx32 "\n%n",
		   v.boot_id, &v.netns, v.table, &v.genid, &v.jgen, &v.joff,
		   v.policies, &crc, &end);
	if (k != 8 || end != n)
		return -EBADMSG;
	k = snprintf(check, sizeof(check), KVIEW_FMT, v.boot_id, v.netns,
		     v.table, v.genid, v.jgen, v.joff, v.policies);
	if (streq(v.policies, "-"))
		v.policies[0] = '\0';
	if (k < 0 || (size_t)k >= sizeof(check) ||
	    state_crc32(check, (size_t)k) != crc ||
	    memcmp(check, line, (size_t)k) != 0)
		return -EBADMSG;
	*ret = v;
	return 0;
}
