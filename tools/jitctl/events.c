/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl events: the decisions the caller may see, as they happen with
 * --follow. One line per event for people; with --json one JSON object
 * per line (JSON Lines), each the event's line of the audit trail.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>

#include "client.h"
#include "jitctl.h"
#include "util.h"

static const struct command_option events_options[] = {
	{ 'f', "follow", NULL, "then print new decisions as they happen" },
	{ 'n', "limit", "N", "only the N most recent" },
	{ 0 },
};

COMMAND(events, "events", "[--follow] [--limit N]",
	"decisions you may see; --follow streams them as they "
	"happen",
	"Show the decisions the agent made recently (the last "
	"1,000 since it started) that you may see: root sees all, "
	"a requester their own, an approver those of the policies "
	"they approve for. One line each: time, event, result, "
	"request, policy, source, ports, who, and why.\n"
	"\n"
	"With --follow, first the --limit most recent (default "
	"none), then each decision as it happens, once it is "
	"durable. A reader that falls behind is never cut off: "
	"what it missed is counted and said. With --json and "
	"--follow the output is JSON lines: each decision's line "
	"of the audit trail, {\"event\":\"lost\",\"count\":N} "
	"where decisions were missed, and an error object when the "
	"connection is lost.",
	events_options);

/* Append to buf at *off, never past n. */
__attribute__((format(printf, 4, 5))) static void
append(char *buf, size_t n, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*off >= n)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *off, n - *off, fmt, ap);
	va_end(ap);
	if (k > 0)
		*off += (size_t)k;
}

/*
 * 2026-11-29T04:35:26.156Z  request    pending   #17 ssh 198.51.100.7/32
 * tcp/22 for 2h00m by alice: "deploy 4.2" (on one line)
 */
static void event_line(json_t *e)
{
	const char *user = str(e, "peer_user"), *owner = str(e, "requestor");
	char line[1024], dur[32];
	size_t off = 0;

	append(line, sizeof(line), &off, "%s  %-9s  %-8s ", str(e, "time"),
	       str(e, "event"), str(e, "result"));
	if (num(e, "request_id"))
		append(line, sizeof(line), &off, " #%lld",
		       (long long)num(e, "request_id"));
	if (*str(e, "policy"))
		append(line, sizeof(line), &off, " %s", str(e, "policy"));
	if (*str(e, "source"))
		append(line, sizeof(line), &off, " %s %s", str(e, "source"),
		       str(e, "ports"));
	if (num(e, "duration_s") && (streq(str(e, "event"), "request") ||
				     streq(str(e, "event"), "approve"))) {
		left_text(num(e, "duration_s"), dur, sizeof(dur));
		append(line, sizeof(line), &off, " for %s", dur);
	}
	append(line, sizeof(line), &off, " by %s", user);
	if (*owner && !streq(owner, user))
		append(line, sizeof(line), &off, " (%s's request)", owner);
	if (*str(e, "error"))
		append(line, sizeof(line), &off, ": %s [%s]", str(e, "message"),
		       str(e, "error"));
	else if (*str(e, "message"))
		append(line, sizeof(line), &off, ": %s", str(e, "message"));
	else if (*str(e, "decision_reason"))
		append(line, sizeof(line), &off, ": \"%s\"",
		       str(e, "decision_reason"));
	else if (*str(e, "status_reason"))
		append(line, sizeof(line), &off, ": %s",
		       str(e, "status_reason"));
	else if (*str(e, "reason") && streq(str(e, "event"), "request"))
		append(line, sizeof(line), &off, ": \"%s\"", str(e, "reason"));
	if (json_is_integer(json_object_get(e, "terminated_sockets")))
		append(line, sizeof(line), &off,
		       ": %lld connection(s) terminated, %lld flow(s) deleted",
		       (long long)num(e, "terminated_sockets"),
		       (long long)num(e, "deleted_flows"));
	if (num(e, "spared_connections") > 0)
		append(line, sizeof(line), &off, ", %lld spared",
		       (long long)num(e, "spared_connections"));
	text_make_safe(line);
	printf("%s\n", line);
}

static void print_event(struct ctx *ctx, json_t *e)
{
	if (ctx->json) {
		json_line(e);
	} else {
		event_line(e);
		fflush(stdout);
	}
}

/* The recent events of a reply without --follow (--json printed it). */
static void print_events(struct ctx *ctx, json_t *reply)
{
	json_t *e;
	size_t i;

	if (!ctx->json) {
		if (!json_array_size(json_object_get(reply, "events")))
			printf("no events you may see among the agent's "
			       "recent ones\n");
		json_array_foreach(json_object_get(reply, "events"), i, e)
			event_line(e);
	}
	json_decref(reply);
}

/* The agent dropped events this reader was too slow for. */
static void print_lost(struct ctx *ctx, json_int_t n)
{
	fprintf(stderr,
		"jitctl: %lld event(s) lost: this reader fell behind the "
		"agent; 'jitctl requests --all' shows where things stand\n",
		(long long)n);
	if (ctx->json)
		printf("{\"event\":\"lost\",\"count\":%lld}\n", (long long)n);
	else
		printf("-- %lld event(s) lost --\n", (long long)n);
	fflush(stdout);
}

/* A line of the stream: an event, or how many this reader missed. */
static void event_item(struct ctx *ctx, json_t *msg)
{
	if (json_is_integer(json_object_get(msg, "lost")))
		print_lost(ctx, num(msg, "lost"));
	else if (json_is_string(json_object_get(msg, "event")))
		print_event(ctx, msg);
}

static int cmd_events(struct ctx *ctx, int argc, char **argv)
{
	struct jit_client *c = NULL;
	json_t *req, *reply = NULL, *e;
	bool follow;
	size_t i;
	int rc;

	if ((rc = stream_request(ctx, argc, argv, "events", &follow, &req)))
		return rc;
	if (!follow)
		/* One document: the reply, or the error. */
		return call(ctx, req, &reply) ? 1
					      : (print_events(ctx, reply), 0);
	if ((rc = agent_call(ctx, req, &reply, &c))) {
		report(ctx, reply);
		return rc;
	}
	/* A stream is JSON Lines from its first line: no reply document. */
	ctx->printed = true;
	json_array_foreach(json_object_get(reply, "events"), i, e)
		print_event(ctx, e);
	json_decref(reply);
	return follow_stream(ctx, c, event_item);
}
