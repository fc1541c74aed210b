/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Detections over what the firewall denies: aggregation per source, port
 * and time window in tables of fixed size (a flood of spoofed sources
 * evicts old entries instead of growing memory), and alerts when a
 * threshold is crossed, once per key and window.
 */
#ifndef JIT_DETECT_H
#define JIT_DETECT_H

#include <jansson.h>
#include <net/if.h>
#include <stdint.h>

#include "alert.h"
#include "grant.h"
#include "policy.h"

/* Table sizes: memory is bounded whatever the traffic. */
#define DETECT_PAIRS	2048
#define DETECT_PORTS	512
#define DETECT_SOURCES	2048
#define DETECT_ENDED	256
#define DETECT_SCAN_MAX 16

/**
 * struct jit_detect_limits - thresholds in force (0 turns one off)
 * @repeated: attempts from one source on one port in a window
 * @sources: distinct sources on one port in a window
 * @scan_ports: distinct protected ports tried by one source in a window
 * @window_s: the window
 * @after_end_s: how long after a grant ended its source is watched
 * @wide_v4: IPv4 grants with a shorter prefix are reported
 * @wide_v6: IPv6 grants with a shorter prefix are reported
 * @log_rate: denied packets per second the kernel logs
 */
struct jit_detect_limits {
	uint32_t repeated;
	uint32_t sources;
	uint32_t scan_ports;
	uint32_t window_s;
	uint32_t after_end_s;
	uint8_t wide_v4;
	uint8_t wide_v6;
	uint32_t log_rate;
};

void detect_limits_default(struct jit_detect_limits *l);
/* Defaults, lowered by every policy's alerts: section (lowest wins). */
void detect_limits_from_policies(const struct jit_policy_set *s,
				 struct jit_detect_limits *l);

/**
 * struct jit_attempt - one denied packet
 * @ms: when (unix ms)
 * @src: source host (/32 or /128)
 * @proto: IPPROTO_TCP or IPPROTO_UDP
 * @port: destination port
 * @policy: policy protecting the port ("" if unknown)
 */
struct jit_attempt {
	uint64_t ms;
	struct jit_prefix src;
	uint8_t proto;
	uint16_t port;
	char policy[JIT_POLICY_NAME_MAX + 1];
};

/* Receives each alert: def, description, entities (taken), times, count. */
typedef void (*detect_fn)(void *userdata, const struct jit_alert_def *def,
			  const char *description, json_t *entities,
			  uint64_t first_ms, uint64_t last_ms, unsigned count);

struct jit_detect;

struct jit_detect *detect_new(detect_fn fn, void *userdata);
struct jit_detect *detect_free(struct jit_detect *d);
void detect_set_limits(struct jit_detect *d, const struct jit_detect_limits *l);
const struct jit_detect_limits *detect_limits(const struct jit_detect *d);

void detect_attempt(struct jit_detect *d, const struct jit_attempt *a);
/* A grant ended (expired or revoked): watch its source for a while. */
void detect_grant_ended(struct jit_detect *d, const struct jit_request *r,
			uint64_t ms);
/* A grant started: report it if its source prefix is very wide. */
void detect_grant_started(struct jit_detect *d, const struct jit_request *r,
			  uint64_t ms);

/* Entries in use in the pair, port and source tables (for status). */
size_t detect_tracked(const struct jit_detect *d);
/* Attempts seen, and entries evicted to make room. */
uint64_t detect_seen(const struct jit_detect *d);
uint64_t detect_evicted(const struct jit_detect *d);

#endif
