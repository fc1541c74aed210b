/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit lines owed to the fleet (see fleet-outbox.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fleet-outbox.h"
#include "util.h"

#define LOAD_MAX_BYTES (JIT_FLEET_OUTBOX_MAX + 64u * 1024)

struct jit_fleet_outbox {
	char *dir;
	int fd; /* the outbox, appended to */
	char nonce[JIT_FLEET_NONCE_LEN + 1];
	uint64_t acked, next;
	uint64_t saved; /* the cursor as fleet-cursor has it */
	uint64_t bytes;
	uint64_t compact_at; /* rewrite the outbox once it is this big */
};

static char *path_in(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Whole small file; -ENOENT when missing. */
static int read_small(const char *path, char *buf, size_t n)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, n - 1);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return 0;
}

/* Write text to dir/name whole: a temporary file, synced, renamed. */
static int write_whole(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = path_in(dir, name), *tmp = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;

	if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	if (write_all(fd, text, strlen(text)) < 0 || fdatasync(fd) < 0)
		return -errno;
	if (rename(tmp, path) < 0)
		return -errno;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

static int load_nonce(struct jit_fleet_outbox *o)
{
	_cleanup_free_ char *path = path_in(o->dir, JIT_FLEET_NONCE_FILE);
	uint8_t raw[JIT_FLEET_NONCE_LEN / 2];
	char buf[64], text[JIT_FLEET_NONCE_LEN + 2];
	int r;

	if (!path)
		return -ENOMEM;
	r = read_small(path, buf, sizeof(buf));
	if (r == 0 && strspn(buf, "0123456789abcdef") == JIT_FLEET_NONCE_LEN) {
		memcpy(o->nonce, buf, JIT_FLEET_NONCE_LEN);
		o->nonce[JIT_FLEET_NONCE_LEN] = '\0';
		return 0;
	}
	if (r < 0 && r != -ENOENT)
		return r;
	/* Unguessable: another host must not use our ids first. */
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	hex_format(raw, sizeof(raw), o->nonce);
	snprintf(text, sizeof(text), "%s\n", o->nonce);
	return write_whole(o->dir, JIT_FLEET_NONCE_FILE, text);
}

static int load_cursor(struct jit_fleet_outbox *o)
{
	_cleanup_free_ char *path = path_in(o->dir, JIT_FLEET_CURSOR_FILE);
	char buf[64], *end;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_small(path, buf, sizeof(buf));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	o->acked = strtoull(buf, &end, 10);
	if (end == buf || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

/* Read the outbox: the last sequence, and cut a torn tail. */
static int scan(struct jit_fleet_outbox *o,
		int (*cb)(void *u, uint64_t seq, const char *line), void *u,
		bool cut)
{
	_cleanup_free_ char *path = path_in(o->dir, JIT_FLEET_OUTBOX_FILE);
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = 0, good = 0;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > LOAD_MAX_BYTES)
		return -EFBIG;
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, text + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	text[len] = '\0';
	for (char *p = text, *nl;
	     (nl = memchr(p, '\n', len - (size_t)(p - text))); p = nl + 1) {
		char *end;
		uint64_t seq;

		*nl = '\0';
		seq = strtoull(p, &end, 10);
		if (end == p || *end != ' ' || !seq)
			break;
		good = (size_t)(nl + 1 - text);
		if (seq >= o->next)
			o->next = seq + 1;
		if (cb && seq > o->acked) {
			int r = cb(u, seq, end + 1);

			if (r < 0)
				return r;
		}
	}
	o->bytes = good;
	if (cut && good < len && truncate(path, (off_t)good) < 0)
		return -errno;
	return 0;
}

int fleet_outbox_open(const char *dir, struct jit_fleet_outbox **ret)
{
	struct jit_fleet_outbox *o = calloc(1, sizeof(*o));
	_cleanup_free_ char *path = NULL;
	int r;

	if (!o)
		return -ENOMEM;
	o->fd = -1;
	o->dir = strdup(dir);
	path = path_in(dir, JIT_FLEET_OUTBOX_FILE);
	r = !o->dir || !path ? -ENOMEM : load_nonce(o);
	if (r == 0)
		r = load_cursor(o);
	o->saved = o->acked;
	o->next = o->acked + 1;
	o->compact_at = JIT_FLEET_OUTBOX_ROLL;
	if (r == 0)
		r = scan(o, NULL, NULL, true);
	if (r == 0) {
		o->fd = open(path,
			     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				     O_NOFOLLOW,
			     0600);
		if (o->fd < 0)
			r = -errno;
	}
	if (r < 0) {
		fleet_outbox_close(o);
		return r;
	}
	*ret = o;
	return 0;
}

struct jit_fleet_outbox *fleet_outbox_close(struct jit_fleet_outbox *o)
{
	if (!o)
		return NULL;
	if (o->fd >= 0) {
		/* At worst the lines since the last save are sent again. */
		(void)fleet_outbox_save(o);
		close(o->fd);
	}
	free(o->dir);
	free(o);
	return NULL;
}

const char *fleet_outbox_nonce(const struct jit_fleet_outbox *o)
{
	return o->nonce;
}

uint64_t fleet_outbox_acked(const struct jit_fleet_outbox *o)
{
	return o->acked;
}

uint64_t fleet_outbox_next(const struct jit_fleet_outbox *o)
{
	return o->next;
}

int fleet_outbox_add(struct jit_fleet_outbox *o, const char *line,
		     uint64_t *seq)
{
	_cleanup_free_ char *text = NULL;
	int n;

	if (strchr(line, '\n'))
		return -EINVAL;
	n = asprintf(&text, "%" PRIu64 " %s\n", o->next, line);
	if (n < 0)
		return -ENOMEM;
	/* A long outage: the outbox stays loadable; the audit log keeps
	 * the lines it cannot take. */
	if (o->bytes + (uint64_t)n > JIT_FLEET_OUTBOX_MAX)
		return -ENOSPC;
	if (write_all(o->fd, text, (size_t)n) < 0) {
		int r = -errno;

		/* A full disk took part of the line: cut it off, so the next
		 * line does not start inside it. */
		(void)!ftruncate(o->fd, (off_t)o->bytes);
		return r;
	}
	o->bytes += (uint64_t)n;
	*seq = o->next++;
	return 0;
}

static int keep_line(void *u, uint64_t seq, const char *line)
{
	FILE *f = u;

	fprintf(f, "%" PRIu64 " %s\n", seq, line);
	return ferror(f) ? -EIO : 0;
}

/* Rewrite the outbox with only the lines past the cursor. */
static int compact(struct jit_fleet_outbox *o)
{
	_cleanup_free_ char *path = path_in(o->dir, JIT_FLEET_OUTBOX_FILE),
			    *tmp = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	struct stat st;
	int fd, r;

	if (!path || asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	r = scan(o, keep_line, f, false);
	if (r == 0 && (fflush(f) != 0 || fdatasync(fileno(f)) < 0))
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	close(o->fd);
	o->fd = fd;
	o->bytes = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	o->compact_at = 2 * o->bytes > JIT_FLEET_OUTBOX_ROLL
				? 2 * o->bytes
				: JIT_FLEET_OUTBOX_ROLL;
	return 0;
}

int fleet_outbox_save(struct jit_fleet_outbox *o)
{
	char text[32];
	int r;

	if (o->acked == o->saved)
		return 0;
	/* The lines it covers reach the disk before the cursor does. */
	if (fdatasync(o->fd) < 0)
		return -errno;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", o->acked);
	r = write_whole(o->dir, JIT_FLEET_CURSOR_FILE, text);
	if (r < 0)
		return r;
	o->saved = o->acked;
	return 0;
}

bool fleet_outbox_unsaved(const struct jit_fleet_outbox *o)
{
	return o->acked != o->saved;
}

int fleet_outbox_ack(struct jit_fleet_outbox *o, uint64_t seq)
{
	bool roll, big;
	int r;

	if (seq <= o->acked)
		return 0;
	if (seq >= o->next)
		return -EINVAL;
	/* In memory: a cursor older on disk only sends more again. */
	o->acked = seq;
	roll = o->acked + 1 == o->next && o->bytes > JIT_FLEET_OUTBOX_ROLL;
	big = o->bytes > o->compact_at;
	if (!roll && !big)
		return 0;
	/* Lines are about to go: the cursor that covers them first, or a
	 * restart would give their sequences again. */
	r = fleet_outbox_save(o);
	if (r < 0)
		return r;
	if (roll) {
		if (ftruncate(o->fd, 0) < 0)
			return -errno;
		o->bytes = 0;
		return 0;
	}
	return compact(o);
}

int fleet_outbox_each_pending(struct jit_fleet_outbox *o,
			      int (*cb)(void *u, uint64_t seq,
					const char *line),
			      void *u)
{
	return scan(o, cb, u, false);
}

char *fleet_msgid(const char *host, const char *nonce, uint64_t seq, char *buf,
		  size_t n)
{
	snprintf(buf, n, "%s:%s:%" PRIu64, host, nonce, seq);
	return buf;
}
