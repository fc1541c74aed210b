/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's single epoll loop: every watched descriptor is a struct
 * jit_io embedded in its owner, whose callback runs on readiness.
 */
#ifndef JIT_LOOP_H
#define JIT_LOOP_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

struct jit_io {
	int fd;
	void (*cb)(struct jit_io *io, uint32_t events);
};

static inline int loop_ctl(int epfd, int op, struct jit_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(epfd, op, io->fd, &ev) < 0 ? -errno : 0;
}

static inline int loop_add(int epfd, struct jit_io *io, uint32_t events)
{
	return loop_ctl(epfd, EPOLL_CTL_ADD, io, events);
}

/* Watch fd for events with cb; io is embedded in the owner cb is given. */
static inline int loop_watch(int epfd, struct jit_io *io, int fd,
			     void (*cb)(struct jit_io *io, uint32_t events),
			     uint32_t events)
{
	io->fd = fd;
	io->cb = cb;
	return loop_add(epfd, io, events);
}

static inline int loop_mod(int epfd, struct jit_io *io, uint32_t events)
{
	return loop_ctl(epfd, EPOLL_CTL_MOD, io, events);
}

static inline void loop_del(int epfd, struct jit_io *io)
{
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

#endif
