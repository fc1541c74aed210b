/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the SPA packet path: bytes in as a UDP payload from
 * an IPv4 or IPv6 source (the first byte picks), checked against a fixed
 * access file. Seeds are real packets of fwknop's client made with these
 * keys. Checks the verdict's promises: accepted means a stanza, at least
 * one port and a duration within the stanza's maximum; anything before
 * the HMAC is checked names no stanza.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "spa-conf.h"
#include "spa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
	"SOURCE ANY\n"
	"KEY_BASE64 0DMvsI4nHM048pPvTXpxbCph59bA7XVMwqno6GrpSh0=\n"
	"HMAC_KEY_BASE64 "
	"Q0KuTXqnCZVhm3+NFqKM6aT6ej5E11f6jb3Ls4mndVpZSAKDXe+"
	"R7jUn27MGUcIkTRNE9lgYt5ara+FAOOxjzQ==\n"
	"JIT_USER alice\n"
	"MAX_FW_TIMEOUT 600\n"
	"SOURCE 192.0.2.0/24\n"
	"KEY_BASE64 0DMvsI4nHM048pPvTXpxbCph59bA7XVMwqno6GrpSh0=\n"
	"HMAC_KEY_BASE64 "
	"Q0KuTXqnCZVhm3+NFqKM6aT6ej5E11f6jb3Ls4mndVpZSAKDXe+"
	"R7jUn27MGUcIkTRNE9lgYt5ara+FAOOxjzQ==\n"
	"REQUIRE_USERNAME root\n"
	"JIT_USER bob\n"
	"REQUIRE_SOURCE_ADDRESS Y\n"
	"OPEN_PORTS tcp/22\n";

static void broken(const char *what)
{
	fprintf(stderr, "fuzz_spa_packet: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jit_spa_conf *conf;
	static struct jit_replay *seen;
	struct jit_spa_packet p = { 0 };
	struct jit_spa_result res;

	if (!conf) {
		struct jit_diag d;

		diag_init(&d);
		if (spa_conf_parse("fuzz.conf", conf_text, strlen(conf_text),
				   &conf, &d) < 0)
			broken(d.text);
		diag_release(&d);
		seen = replay_new();
	}
	if (size < 1)
		return 0;
	if (prefix_parse(data[0] & 1 ? "2001:db8::7" : "192.0.2.7", &p.src) <
		    0 ||
	    prefix_parse(data[0] & 1 ? "2001:db8::1" : "192.0.2.1", &p.dst) < 0)
		broken("prefix_parse");
	p.data = (const char *)data + 1;
	p.len = size - 1;
	/* The packets' own time, so that seeds get past the age check. */
	spa_check(conf, seen, &p, 0, 1u << 31, &res);
	if (res.verdict == JIT_SPA_ACCEPTED &&
	    (!res.stanza || !res.n_ports || !res.duration_s ||
	     res.duration_s > res.stanza->max_timeout_s || !res.open.family))
		broken("accepted without what it promises");
	if (res.verdict <= JIT_SPA_BAD_HMAC && res.stanza)
		broken("a stanza before the HMAC was checked");
	return 0;
}
