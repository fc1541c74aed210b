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

/*
 * Parse the request fields of a control message: "policy" (string),
 * "port" (number or "lo-hi"), "protocol" (tcp|udp|any, optional), "source"
 * (address or prefix), "duration" (string as in policies, or seconds;
 * optional: 0 means the policy's maximum), "reason" (optional). Fills key,
 * policy, duration_s and reason of out (release it with request_release).
 * On error returns -EINVAL with a stable code and a message for a person;
 * nothing is left to release then.
 */
int request_parse(json_t *msg, struct jit_request *out, const char **code,
		  char *errmsg, size_t errlen);

/*
 * The peer as the policies name it (NSS); one that cannot be looked up is
 * its uid alone, with no groups. Returns what identity_lookup did.
 */
int peer_identity(const struct jit_peer *peer, struct jit_identity *id);

/* The record as JSON, with "expires_in_s" computed against now_ms. */
json_t *request_json(const struct jit_request *r, uint64_t now_ms);

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
/*
 * Optional fields of the listings and streams. Each returns NULL with *ret
 * set (false, or left as the caller's default, when the field is absent),
 * or the error reply that names the field: bad-type for another JSON
 * type, bad-value for a number below min.
 */
json_t *field_bool(json_t *req, const char *key, bool *ret);
json_t *field_count(json_t *req, const char *key, json_int_t min,
		    json_int_t *ret);

#endif
