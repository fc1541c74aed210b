/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers shared by every module: cleanup attributes, ownership
 * transfer and array sizes.
 */
#ifndef JIT_UTIL_H
#define JIT_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The struct of type that embeds member at ptr. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define _cleanup_(f) __attribute__((cleanup(f)))

/* DEFINE_CLEANUP_FUNC(type, func) gives func##p(type **), NULL-safe. */
#define DEFINE_CLEANUP_FUNC(type, func)      \
	static inline void func##p(type **p) \
	{                                    \
		if (*p)                      \
			func(*p);            \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_	 _cleanup_(freep)
#define _cleanup_close_	 _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership over: returns the value and clears the variable. */
#define TAKE_PTR(p)                     \
	({                              \
		__typeof__(p) _p = (p); \
		(p) = NULL;             \
		_p;                     \
	})

#define TAKE_FD(fd)             \
	({                      \
		int _fd = (fd); \
		(fd) = -1;      \
		_fd;            \
	})

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* "dir/name", malloc'd; NULL without memory. */
char *path_join(const char *dir, const char *name);
/* fsync a directory, so that renames and unlinks in it are durable. */
int dir_sync(const char *dir);
/* Write all of p (retrying short writes and EINTR). 0 or -errno. */
int write_all(int fd, const void *p, size_t n);

/* Grow *array to hold at least need elements of size sz; 0 or -ENOMEM. */
int grow_array(void **array, size_t *cap, size_t need, size_t sz);

/*
 * Text that is safe to print on a terminal or a log line: valid UTF-8
 * without control characters (C0, DEL, C1), line or paragraph separators
 * or bidirectional overrides, which could forge lines or hide text.
 * text_make_safe turns each unsafe character (or invalid byte) into '?'.
 */
bool text_is_safe(const char *s);
void text_make_safe(char *s);

/*
 * Cut s at its first byte that is not valid UTF-8 (JSON strings must be),
 * e.g. a user's value truncated in the middle of a character.
 */
void utf8_truncate_invalid(char *s);

/*
 * A directory whose files the agent may trust and write as root: owned by
 * root (or by us) and writable by nobody else, as sshd's StrictModes
 * wants. Anyone who can write there could plant a symlink for root to
 * follow, or forge a journal. Returns 0, or -EPERM/-ENOTDIR/-errno with
 * why filled in.
 */
int dir_check_private(const char *dir, char *why, size_t n);

/*
 * Best effort: fd's receive and send buffers to rcv and snd bytes (0: as
 * they are). The FORCE options, which pass the sysctl limits, need
 * CAP_NET_ADMIN, which the agent holds; without it the limits apply.
 */
void socket_buffers(int fd, int rcv, int snd);

/*
 * Lowercase hex, as the project writes it: n digits of s into *ret (n at
 * most 16; false for any other character), and n bytes into 2n digits
 * and a NUL.
 */
bool hex_parse(const char *s, size_t n, uint64_t *ret);
void hex_format(const uint8_t *p, size_t n, char *out);

/* Monotonic and real clocks, milliseconds. */
uint64_t now_mono_ms(void);
uint64_t now_real_ms(void);
uint64_t now_mono_us(void);

#endif
