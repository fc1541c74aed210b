/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for what fleet mode reads from others: the bytes as a
 * grant value of this host's key, and as fleet.yaml. A refused value says
 * why; an accepted one is whole (a protocol, a port, a source, an end and
 * two fleet identities); a rejected fleet.yaml comes with a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-conf.h"
#include "fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_fleet: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jit_fleet_conf *c = NULL;
	struct jit_fleet_grant g;
	struct jit_diag d;
	char err[256] = "";
	int r;

	r = fleet_grant_parse("web-1", 0x0123456789abcdefull, data, size, &g,
			      err, sizeof(err));
	if (r == 0 && (!g.protos || !g.port || !g.source.family || !g.end_ms ||
		       !g.requested_by[0] || !g.approved_by[0] ||
		       g.id != 0x0123456789abcdefull))
		broken("a value accepted incomplete");
	if (r < 0 && !err[0])
		broken("a value refused without a reason");

	diag_init(&d);
	r = fleet_conf_parse("fleet.yaml", (const char *)data, size, "web-1",
			     &c, &d);
	if (r == 0 &&
	    (d.errors || !c || !c->n_servers || !c->host[0] || !c->user))
		broken("fleet.yaml accepted incomplete or with errors");
	if (r < 0 && (c || (r == -EINVAL && !d.errors)))
		broken("fleet.yaml rejected without a message");
	fleet_conf_free(c);
	diag_release(&d);
	return 0;
}
