/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the denied packets the table logs to an NFLOG group
 * (nfnetlink_log, through libmnl): source, protocol and destination port.
 */
#ifndef JIT_NFLOG_H
#define JIT_NFLOG_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/**
 * struct jit_denied - what one log message says
 * @src: source host (/32 or /128)
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @port: destination port
 * @rejected: logged by the reject chain (else the drop chain)
 */
struct jit_denied {
	struct jit_prefix src;
	uint8_t proto;
	uint16_t port;
	bool rejected;
};

/**
 * struct jit_l4 - the headers of a TCP or UDP packet
 * @src: source host (/32 or /128)
 * @dst: destination host
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @port: destination port
 * @off: where the TCP or UDP header starts
 */
struct jit_l4 {
	struct jit_prefix src;
	struct jit_prefix dst;
	uint8_t proto;
	uint16_t port;
	size_t off;
};

typedef void (*nflog_fn)(void *userdata, const struct jit_denied *d);
/*
 * A logged packet as it is, from its network header on, with the index of
 * the interface it came in on (0: not known).
 */
typedef void (*nflog_raw_fn)(void *userdata, int family, const uint8_t *pkt,
			     size_t len, uint32_t ifindex);
/* The packets of one wakeup were all handed over. */
typedef void (*nflog_batch_fn)(void *userdata);

struct jit_nflog;

/* Bind the group (-EBUSY if another process has it) and watch it. */
int nflog_open(uint16_t group, int epfd, nflog_fn fn, void *userdata,
	       struct jit_nflog **ret);
/*
 * Bind group and hand over each packet whole (up to snaplen bytes), at most
 * reads socket reads per wakeup, then call batch (may be NULL).
 */
int nflog_open_raw(uint16_t group, uint32_t snaplen, unsigned reads, int epfd,
		   nflog_raw_fn raw, nflog_batch_fn batch, void *userdata,
		   struct jit_nflog **ret);
struct jit_nflog *nflog_close(struct jit_nflog *n);
/* Messages the kernel dropped because we were slow (ENOBUFS seen). */
uint64_t nflog_overruns(const struct jit_nflog *n);

/*
 * Parse a packet as the log message carries it, from the network header
 * on. Returns 0 or -EINVAL (not TCP/UDP, truncated). For tests too.
 */
int nflog_parse_packet(const uint8_t *pkt, size_t len, int family,
		       struct jit_denied *ret);
/* The same, for any TCP/UDP packet, with its destination and offset. */
int nflog_parse_l4(const uint8_t *pkt, size_t len, int family,
		   struct jit_l4 *ret);

#endif
