/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One single packet authorization (SPA) packet, as a stock fwknop client
 * sends it, checked against the access file: which stanza authenticates it
 * (HMAC before anything is decrypted, through libfko), whether it is fresh
 * and not a replay, and what it asks for within that stanza's limits. The
 * policies then decide each port as for a request on the socket; that is
 * the caller's part.
 */
#ifndef JIT_SPA_H
#define JIT_SPA_H

#include <stdint.h>

#include "addr.h"
#include "replay.h"
#include "spa-conf.h"

/* fwknopd's bounds on the packet's text. */
#define JIT_SPA_MIN_BYTES 140
#define JIT_SPA_MAX_BYTES 1500

enum jit_spa_verdict {
	JIT_SPA_IGNORED,   /* not SPA data at all (size, characters) */
	JIT_SPA_NO_STANZA, /* no stanza takes packets from that source */
	JIT_SPA_BAD_HMAC,  /* no stanza's HMAC key authenticates it */
	JIT_SPA_REPLAY,	   /* its digest was accepted before */
	JIT_SPA_BAD_DATA,  /* authenticated, but it does not decrypt */
	JIT_SPA_STALE,	   /* its timestamp is outside the age window */
	JIT_SPA_REFUSED,   /* the stanza's limits refuse what it asks */
	JIT_SPA_ACCEPTED,  /* what it asks goes to the policies */
};

/**
 * struct jit_spa_packet - a UDP datagram to the SPA port
 * @src: its source (a host prefix)
 * @dst: its destination (a host prefix)
 * @data: the UDP payload
 * @len: its length
 */
struct jit_spa_packet {
	struct jit_prefix src;
	struct jit_prefix dst;
	const char *data;
	size_t len;
};

/**
 * struct jit_spa_result - what a packet is and asks
 * @verdict: see enum jit_spa_verdict
 * @stanza: the stanza that authenticated it (NULL before that point)
 * @digest: SHA-256 of the packet as received (valid from REPLAY on)
 * @timestamp: the client's time, unix seconds (from STALE on)
 * @user: the user name in the packet
 * @message: the access message ("198.51.100.7,tcp/22")
 * @open: the source to open for (0.0.0.0 became the packet's source)
 * @ports: the ports asked, @n_ports of them
 * @duration_s: the client's timeout or the stanza's, capped by its maximum
 * @why: for a person, when not ACCEPTED
 */
struct jit_spa_result {
	enum jit_spa_verdict verdict;
	const struct jit_spa_stanza *stanza;
	uint8_t digest[JIT_DIGEST_LEN];
	int64_t timestamp;
	char user[64];
	char message[256];
	struct jit_prefix open;
	struct jit_spa_port ports[JIT_SPA_PORTS_MAX];
	size_t n_ports;
	uint32_t duration_s;
	char why[256];
};

/*
 * Check pkt against conf at now_s: digests in seen are replays; timestamps
 * more than max_age_s away from now_s are stale. Fills res; never fails
 * (an internal error is BAD_DATA with why).
 */
void spa_check(const struct jit_spa_conf *conf, const struct jit_replay *seen,
	       const struct jit_spa_packet *pkt, int64_t now_s,
	       unsigned max_age_s, struct jit_spa_result *res);
const char *spa_verdict_name(enum jit_spa_verdict v);

#endif
