/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the control protocol: bytes in as one request line,
 * parsed as the control socket parses it; a request object then goes
 * through the request field parser as the daemon's access module calls it.
 * Besides memory errors, it checks the protocol's promise that every
 * malformed line or request gets an error reply: a refusal whose reply
 * cannot be built (jansson refuses strings that are not UTF-8) would leave
 * the client without an answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "control.h"
#include "api.h"
#include "grant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_control: %s: '%s'\n", what,
		detail ? detail : "(none)");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jit_request req;
	const char *code = NULL;
	char err[512]; /* as in access.c */
	json_t *msg, *reply = NULL;

	msg = control_parse_line((const char *)data, size, &reply);
	if (!msg) {
		if (!reply)
			broken("control_parse_line refused the line without "
			       "an error reply",
			       NULL);
		json_decref(reply);
		return 0;
	}
	if (request_parse(msg, &req, &code, err, sizeof(err)) == 0) {
		char ports[64];
		json_t *j;

		grant_key_ports(&req.key, ports, sizeof(ports));
		j = request_json(&req, 0);
		if (!j)
			broken("request_json failed on a parsed request",
			       request_reason(&req));
		json_decref(j);
		request_release(&req);
	} else {
		if (!code)
			broken("request_parse failed without an error code",
			       err);
		/* What access.c replies with. */
		reply = control_error(code, "%s", err);
		if (!reply)
			broken("the error reply for request_parse's message "
			       "cannot be built",
			       err);
		json_decref(reply);
	}
	json_decref(msg);
	return 0;
}
