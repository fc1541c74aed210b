/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl fleet: requests and approvals for many hosts at once, on NATS
 * JetStream (docs/fleet.md). One command, 'fleet', whose first argument
 * names what to do; each of those is a function in fleet-*.c, with the
 * options it accepts.
 */
#ifndef JITCTL_FLEET_CMD_H
#define JITCTL_FLEET_CMD_H

#include "fleet-client.h"
#include "jitctl.h"

/* The options of jitctl fleet, as bits: which a subcommand accepts. */
enum {
	FO_SELECT = 1 << 0,
	FO_ALL_HOSTS = 1 << 1,
	FO_POLICY = 1 << 2,
	FO_PORT = 1 << 3,
	FO_PROTO = 1 << 4,
	FO_FROM = 1 << 5,
	FO_FOR = 1 << 6,
	FO_REASON = 1 << 7,
	FO_CONFIG = 1 << 8,
	FO_FOLLOW = 1 << 9,
	FO_LIMIT = 1 << 10,
	FO_ALL = 1 << 11,
	FO_PASSWORD_FILE = 1 << 12,
	FO_REPLICAS = 1 << 13,
};

/**
 * struct fleet_opts - what was given on the command line
 * @seen: FO_* bits of the options given
 */
struct fleet_opts {
	unsigned seen;
	const char *select, *policy, *port, *proto, *from, *duration, *reason,
		*config, *password_file;
	size_t limit;
	int replicas;
};

/* Load the fleet config and connect; on failure, reported, exit status. */
int fleet_open(struct ctx *ctx, const struct fleet_opts *o,
	       struct fleet_config *cfg, struct fleet_client **c);
/*
 * --reason as every host takes it (the rule of a socket request's reason:
 * under JIT_REASON_MAX bytes, no control characters); else a usage error.
 */
int fleet_check_reason(struct ctx *ctx, const char *reason);
/* approve, deny and revoke: one fleet request ID, and --reason. */
int fleet_check_id_args(struct ctx *ctx, const struct fleet_opts *o, int argc,
			char **argv);
/* A failure of a fleet call (r < 0, err) as jitctl's error; returns 1. */
int fleet_fail(struct ctx *ctx, int r, const char *err);
/*
 * The request with id: *key, *req (checked) and *rev. The key's requester
 * must be the one the value names. Reported on failure: exit status.
 */
int fleet_find_request(struct ctx *ctx, struct fleet_client *c, const char *id,
		       char **key, json_t **req, uint64_t *rev);
/* One request for people, on a line. */
void fleet_request_line(json_t *req, char *buf, size_t n);

int fleet_cmd_init(struct ctx *ctx, const struct fleet_opts *o, int argc,
		   char **argv);
int fleet_cmd_creds(struct ctx *ctx, const struct fleet_opts *o, int argc,
		    char **argv);
int fleet_cmd_hosts(struct ctx *ctx, const struct fleet_opts *o, int argc,
		    char **argv);
int fleet_cmd_events(struct ctx *ctx, const struct fleet_opts *o, int argc,
		     char **argv);
int fleet_cmd_request(struct ctx *ctx, const struct fleet_opts *o, int argc,
		      char **argv);
int fleet_cmd_requests(struct ctx *ctx, const struct fleet_opts *o, int argc,
		       char **argv);
int fleet_cmd_approve(struct ctx *ctx, const struct fleet_opts *o, int argc,
		      char **argv);
int fleet_cmd_deny(struct ctx *ctx, const struct fleet_opts *o, int argc,
		   char **argv);
int fleet_cmd_revoke(struct ctx *ctx, const struct fleet_opts *o, int argc,
		     char **argv);

#endif
