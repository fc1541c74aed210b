/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the SPA access file parser: bytes in as the file.
 * A rejected file comes with at least one message, an accepted one with
 * none, and every accepted stanza is whole (keys, a user, sane timeouts).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "spa-conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_spa_conf: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jit_spa_conf *c = NULL;
	struct jit_diag d;
	int r;

	diag_init(&d);
	r = spa_conf_parse("fuzz.conf", (const char *)data, size, &c, &d);
	if (r == 0) {
		if (d.errors || !c || !c->n_stanzas)
			broken("accepted with errors or without a stanza");
		for (size_t i = 0; i < c->n_stanzas; i++) {
			const struct jit_spa_stanza *s = &c->stanzas[i];

			if (!s->key_len || !s->hmac_key_len ||
			    !s->jit_user[0] ||
			    s->access_timeout_s > s->max_timeout_s ||
			    (!s->any_source && !s->n_sources))
				broken("a stanza accepted incomplete");
		}
	} else if (r == -EINVAL && (!d.errors || !d.text)) {
		broken("rejected without a message");
	}
	spa_conf_free(c);
	diag_release(&d);
	return 0;
}
