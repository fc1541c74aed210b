/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The client side of the control socket, for jitctl and the tools. */
#ifndef JIT_CLIENT_H
#define JIT_CLIENT_H

#include <jansson.h>

struct jit_client;

/* Connect to the agent's socket. Returns 0 or -errno. */
int client_connect(const char *path, struct jit_client **ret);
struct jit_client *client_disconnect(struct jit_client *c);

/*
 * Send one request object and wait for its reply line. Returns 0 with *reply
 * set (a new reference), or -errno (-EPROTO for a reply that is not JSON).
 */
int client_call(struct jit_client *c, json_t *request, json_t **reply);

/* Wait for the next line the agent sends (a broadcast). Like client_call. */
int client_read(struct jit_client *c, json_t **msg);

#endif
