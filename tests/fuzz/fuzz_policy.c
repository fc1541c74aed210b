/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the policy loader: bytes in as a policy file, every
 * error rendered into a diag, and on success every policy printed in its
 * canonical form, so the printer is exercised on whatever the loader
 * accepts. Everything is freed, so leaks show up under ASan. It also checks
 * the loader's promise that a rejected file comes with at least one
 * message, and an accepted one with none.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_policy: %s: %s\n", what,
		detail ? detail : "(none)");
	abort();
}

static FILE *null_out(void)
{
	static FILE *out;

	if (!out)
		out = fopen("/dev/null", "we");
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jit_policy_file *f = NULL;
	struct jit_diag diag;
	FILE *out = null_out();
	int r;

	diag_init(&diag);
	r = policy_file_parse("fuzz.yaml", (const char *)data, size, &f, &diag);
	if (r == 0) {
		if (diag.errors || !f || !policy_file_count(f))
			broken("accepted with errors or without a policy",
			       diag.text);
		for (size_t i = 0; i < policy_file_count(f); i++)
			if (out)
				policy_print(policy_file_get(f, i), out);
	} else if (r != -ENOMEM && (!diag.errors || !diag.len)) {
		broken("rejected without a message", NULL);
	}
	policy_file_free(f);
	diag_release(&diag);
	return 0;
}
