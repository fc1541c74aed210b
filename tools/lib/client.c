/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/socket.h>
#include <sys/un.h>

#include "client.h"
#include "control.h"
#include "util.h"

struct jit_client {
	int fd;
	char *buf;
	size_t len, cap;
};

int client_connect(const char *path, struct jit_client **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct jit_client *c;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	*ret = c;
	return 0;
}

struct jit_client *client_disconnect(struct jit_client *c)
{
	if (c) {
		close(c->fd);
		free(c->buf);
		free(c);
	}
	return NULL;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int client_call(struct jit_client *c, json_t *request, json_t **reply)
{
	_cleanup_free_ char *s = json_dumps(request, JSON_COMPACT);
	int r;

	if (!s)
		return -ENOMEM;
	r = send_all(c->fd, s, strlen(s));
	if (!r)
		r = send_all(c->fd, "\n", 1);
	/* Turned away (too many connections), the agent says why before it
	 * closes: that answer, rather than the broken pipe. */
	if (r == -EPIPE || r == -ECONNRESET)
		return client_read(c, reply) == 0 ? 0 : r;
	if (r < 0)
		return r;
	return client_read(c, reply);
}

int client_read(struct jit_client *c, json_t **reply)
{
	json_error_t jerr;
	char *nl;

	while (!(nl = c->len ? memchr(c->buf, '\n', c->len) : NULL)) {
		ssize_t n;

		if (c->len >= 64 * JIT_CONTROL_LINE_MAX)
			return -EMSGSIZE;
		if (grow_array((void **)&c->buf, &c->cap, c->len + 65536, 1) <
		    0)
			return -ENOMEM;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
	*reply = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &jerr);
	c->len -= (size_t)(nl - c->buf) + 1;
	memmove(c->buf, nl + 1, c->len);
	return *reply ? 0 : -EPROTO;
}
