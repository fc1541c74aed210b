/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol's side of the request lifecycle: JSON requests in,
 * calls into the decision core, JSON replies and audit lines out.
 */
#ifndef JIT_API_H
#define JIT_API_H

#include <jansson.h>
#include <stdbool.h>

#include "access.h"
#include "control.h"

struct jit_daemon;

json_t *api_request(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg);
json_t *api_approve(struct jit_daemon *d, const struct jit_peer *peer,
		    json_t *msg);
json_t *api_deny(struct jit_daemon *d, const struct jit_peer *peer,
		 json_t *msg);
json_t *api_revoke(struct jit_daemon *d, const struct jit_peer *peer,
		   json_t *msg);
/*
 * grants (live only) or requests (pending and live; "all": finished too),
 * one page: "after" (an id) and "limit"; "next" when more follow.
 */
json_t *api_list(struct jit_daemon *d, const struct jit_peer *peer, json_t *msg,
		 bool grants_only);
/* The core's audit hook (userdata: the daemon). */
void api_audit(void *userdata, const struct jit_access_event *ev);

#endif
