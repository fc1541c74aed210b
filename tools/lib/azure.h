/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format: Microsoft.Security jitNetworkAccessPolicies,
 * API version 2020-01-01. Converts a policy resource into our policy YAML,
 * an initiate request body into our "request" control messages, and our
 * request records into the JitNetworkAccessRequest shape. Pure functions:
 * no socket, no printing, the clock is a parameter.
 *
 * Messages name the JSON path of what they are about, from the root of the
 * document as written ("parameters.body.properties.virtualMachines[0].
 * ports[1].maxRequestAccessDuration: 'PT25H' exceeds the limit of one day").
 */
#ifndef JIT_AZURE_H
#define JIT_AZURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define AZURE_API_VERSION "2020-01-01"
/* Largest document read: policies and request bodies are small. */
#define AZURE_FILE_MAX_BYTES (1024 * 1024)

/**
 * struct azure_notes - input that was read but not carried over
 * @v: messages, each "PATH: what happened to it"
 * @n: entries in @v
 * @cap: allocated entries
 */
struct azure_notes {
	char **v;
	size_t n;
	size_t cap;
};

void azure_notes_release(struct azure_notes *notes);

/*
 * Parse an ISO 8601 date-time with a UTC offset, as the cloud writes
 * endTimeUtc: "2026-12-01T14:03:11Z", "2026-12-01T14:03:11.5691611Z",
 * "2026-12-01T14:03:11+00:00" (any +HH:MM/-HH:MM offset is applied).
 * Fractions beyond milliseconds round up. A time without an offset is
 * refused: its zone would be a guess. Returns 0 or -EINVAL; *ret_ms is
 * unix milliseconds, negative before 1970.
 */
int azure_time_parse(const char *s, int64_t *ret_ms);
/* "2026-12-01T14:03:11.156Z". Returns buf (at least 32 bytes). */
char *azure_time_format(int64_t ms, char *buf, size_t size);

/*
 * Our policy name for a virtual machine name: lowercase, characters outside
 * [a-z0-9_-] turned into '-', at most 32 characters. Returns 0, or -EINVAL
 * for an empty name.
 */
int azure_policy_name(const char *vm, char *buf, size_t size);

/**
 * struct azure_policy - a policy made from one virtual machine
 * @name: the policy's name
 * @vm_id: the virtual machine's id, as written
 * @yaml: the policy file: one YAML document, with the notes about it as
 *        comments
 */
struct azure_policy {
	char *name;
	char *vm_id;
	char *yaml;
};

/*
 * Convert the jitNetworkAccessPolicies resources (JitNetworkAccessPolicy)
 * of a document into policies, one per virtual machine. The document may
 * be a resource (enveloped, {"properties": {"virtualMachines"}}, or flat,
 * as the SDKs and az print it), a REST API example (the resource in
 * parameters.body, else in responses.200.body), a list ({"value": [...]}
 * or a bare array), or an ARM template (every resource of type
 * Microsoft.Security/locations/jitNetworkAccessPolicies, with its template
 * expressions evaluated). vm picks one virtual machine (the last segment
 * of its id, or the whole id; case-insensitive); NULL takes them all.
 * Each policy is named name (then only one may be imported), or else after
 * its virtual machine (azure_policy_name); two with the same name are an
 * error. Service tags "*", "Any" and "Internet" are any source; other
 * tags are refused. file is used in messages only.
 *
 * On success *ret holds *ret_n policies (azure_policies_free), each a
 * file our loader accepts, and notes lists every field that was not
 * carried over. On failure every error found goes to diag and -EINVAL is
 * returned (-ENOMEM when out of memory).
 */
int azure_policy_import(const char *file, const char *text, size_t len,
			const char *vm, const char *name,
			struct azure_policy **ret, size_t *ret_n,
			struct azure_notes *notes, struct jit_diag *diag);
struct azure_policy *azure_policies_free(struct azure_policy *v, size_t n);
/*
 * The policies as one file: the one YAML document, or several, each
 * starting with "---". Returns NULL when out of memory.
 */
char *azure_policies_yaml(const struct azure_policy *v, size_t n);

/**
 * struct azure_request - one of our requests made from an initiate body
 * @path: where it came from, "virtualMachines[0].ports[1]"
 * @msg: the control message: {"op": "request", "policy", "port",
 *       "source", "duration" (seconds), "reason"}
 * @end_ms: the end time the body asked for (unix ms)
 */
struct azure_request {
	char *path;
	json_t *msg;
	int64_t end_ms;
};

/*
 * Convert an initiate request body (JitNetworkAccessPolicyInitiateRequest,
 * bare or as {"parameters": {"body": ...}}) into request messages, one per
 * port, with the duration from now_ms to each port's endTimeUtc rounded up
 * to seconds. policy names the policy for every virtual machine (only one
 * may be named then); NULL derives it from each virtual machine's name.
 *
 * policies, when not NULL, is the "policies" array of the agent's policies
 * reply: each request is then also checked against its policy (policy in
 * force, port protected, duration within the port's max_duration), so that
 * nothing is sent when any port would be refused.
 *
 * Refused: end times not after now_ms or more than a day away, a missing
 * allowedSourceAddressPrefix (there is no caller address to fall back on),
 * "*" as a source, allowedSourceAddressPrefixes, a justification over 255
 * bytes. On success *ret holds *ret_n requests (azure_requests_free) and
 * notes lists fields that were ignored; on failure every error goes to
 * diag and -EINVAL (or -ENOMEM) is returned.
 */
int azure_initiate_parse(const char *file, const char *text, size_t len,
			 const char *policy, int64_t now_ms, json_t *policies,
			 struct azure_request **ret, size_t *ret_n,
			 struct azure_notes *notes, struct jit_diag *diag);
struct azure_request *azure_requests_free(struct azure_request *v, size_t n);

/*
 * Our request records (the "requests" array of the requests reply) in the
 * JitNetworkAccessRequest shape, one object per record, in an array:
 *
 *   initiated -> Initiated, UserRequested
 *   expired   -> Revoked, Expired
 *   revoked   -> Revoked, NewerRequestInitiated ("newer request initiated")
 *                or UserRequested ("user requested", "policy changed")
 *
 * The virtual machine id is the policy name; a port range becomes one port
 * entry per port; host sources are written without /32 or /128. Pending and
 * denied records never opened anything and the shape has no status for
 * them: they are left out and counted in *skipped. Returns 0, -EINVAL when
 * a record lacks a field (a message in err), or -ENOMEM.
 */
int azure_requests_format(json_t *records, json_t **ret, size_t *skipped,
			  char *err, size_t errlen);

#endif
