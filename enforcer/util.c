/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "util.h"

int grow_array(void **array, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 4;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2 / sz)
			return -ENOMEM;
		n *= 2;
	}
	p = realloc(*array, n * sz);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void socket_buffer(int fd, int force, int plain, int size)
{
	if (size > 0 &&
	    setsockopt(fd, SOL_SOCKET, force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &size, sizeof(size));
}

void socket_buffers(int fd, int rcv, int snd)
{
	socket_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcv);
	socket_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, snd);
}

uint64_t now_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t now_real_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The length of the valid UTF-8 character at p and its code point; 0 if
 * the bytes there are not one. */
static size_t utf8_char(const unsigned char *p, uint32_t *cp)
{
	size_t n;

	if (*p < 0x80) {
		*cp = *p;
		return 1;
	}
	if ((*p & 0xe0) == 0xc0) {
		n = 2;
		*cp = *p & 0x1f;
	} else if ((*p & 0xf0) == 0xe0) {
		n = 3;
		*cp = *p & 0x0f;
	} else if ((*p & 0xf8) == 0xf0) {
		n = 4;
		*cp = *p & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) ||
	    (n == 4 && *cp < 0x10000) || (*cp >= 0xd800 && *cp <= 0xdfff) ||
	    *cp > 0x10ffff)
		return 0;
	return n;
}

static bool cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
	       cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

bool text_is_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t cp;
		size_t n = utf8_char(p, &cp);

		if (!n || cp_unsafe(cp))
			return false;
		p += n;
	}
	return true;
}

void text_make_safe(char *s)
{
	unsigned char *p = (unsigned char *)s, *out = p;

	while (*p) {
		uint32_t cp;
		size_t n = utf8_char(p, &cp);

		if (!n || cp_unsafe(cp)) {
			*out++ = '?';
			p += n ? n : 1;
			continue;
		}
		memmove(out, p, n);
		out += n;
		p += n;
	}
	*out = '\0';
}

void utf8_truncate_invalid(char *s)
{
	unsigned char *p = (unsigned char *)s;
	uint32_t cp;
	size_t n;

	while (*p && (n = utf8_char(p, &cp)))
		p += n;
	*p = '\0';
}

int dir_check_private(const char *dir, char *why, size_t n)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		snprintf(why, n, "%s", strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, n, "not a directory");
		return -ENOTDIR;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, n, "owned by uid %u, not by root",
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, n, "mode %04o: writable by %s",
			 (unsigned)(st.st_mode & 07777),
			 st.st_mode & S_IWOTH ? "others" : "its group");
		return -EPERM;
	}
	return 0;
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
		     name) < 0)
		return NULL;
	return p;
}

int dir_sync(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	return fsync(dfd) < 0 ? -errno : 0;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

bool hex_parse(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*ret = v;
	return true;
}

void hex_format(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}
