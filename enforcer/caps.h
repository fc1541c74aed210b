/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Least privilege: keep CAP_NET_ADMIN only, once set up. */
#ifndef JIT_CAPS_H
#define JIT_CAPS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Drop every capability but CAP_NET_ADMIN from the effective, permitted,
 * inheritable, ambient and (where allowed) bounding sets, and set
 * no_new_privs. Returns 0 or -errno.
 */
int caps_keep_net_admin_only(void);

/* Text of the effective set as /proc/self/status shows it ("0000000000001000").
 */
int caps_effective(char *buf, size_t n);

#endif
