/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl fleet: its options, the dispatch to what each subcommand does,
 * and what they share (the connection, errors, finding a request).
 */
#include <errno.h>
#include <stdlib.h>

#include "fleet-cmd.h"
#include "grant.h"
#include "util.h"

static const struct command_option fleet_options[] = {
	{ LONG_ONLY('S'), "select", "LABEL=VALUE[,...]",
	  "request: the hosts whose labels have all these values; hosts: "
	  "only those" },
	{ LONG_ONLY('H'), "all-hosts", NULL,
	  "request: every registered host (instead of --select)" },
	{ LONG_ONLY('N'), "policy", "NAME",
	  "request: the policy each host looks up in its own policies" },
	{ 'p', "port", "PORT", "request: the port (22, or tcp/22)" },
	{ 'P', "proto", "PROTO", "request: tcp (the default) or udp" },
	{ 'f', "from", "ADDRESS[/LEN]",
	  "request: the source that gets access" },
	{ 't', "for", "DURATION",
	  "request: how long from the approval (default 1h)" },
	{ 'r', "reason", "TEXT", "request, approve, deny, revoke: why" },
	{ LONG_ONLY('C'), "fleet-config", "FILE",
	  "servers and identity (default: $JITCTL_FLEET_CONFIG, else "
	  "~/.config/jit-enforcer/fleet.yaml, else "
	  "/etc/jit-enforcer/fleet.yaml)" },
	{ LONG_ONLY('F'), "follow", NULL,
	  "events: then print new events as they arrive" },
	{ 'n', "limit", "N", "requests, events: only the N most recent" },
	{ 'a', "all", NULL, "requests: also denied, revoked and ended ones" },
	{ LONG_ONLY('W'), "password-file", "FILE",
	  "creds: the password (created with a random one, mode 0600, if "
	  "missing)" },
	{ LONG_ONLY('R'), "replicas", "N",
	  "init: copies of each bucket and of the audit stream (default 3; "
	  "1 for a single server)" },
	{ 0 },
};

COMMAND(fleet, "fleet",
	"init [--replicas N]\n"
	"creds host|requester|approver|admin NAME\n"
	" [--password-file FILE]\n"
	"request --select LABEL=VALUE[,...] | --all-hosts\n"
	" --policy NAME --port PORT --from ADDRESS[/LEN]\n"
	" [--for DURATION] [--reason TEXT]\n"
	"requests [--all] [--limit N]\n"
	"approve|deny|revoke ID [--reason TEXT]\n"
	"hosts [--select LABEL=VALUE[,...]]\n"
	"events [--follow] [--limit N]",
	"requests and approvals for many hosts at once (NATS JetStream)",
	"Ask for, approve and revoke access on every host whose labels "
	"match a selector, through the fleet's NATS JetStream servers "
	"(docs/fleet.md). Each host applies a fleet grant only if its own "
	"policy of that name lets the requester and the approver do it "
	"(its 'fleet:' entry), and sends its decision to the audit "
	"stream.\n"
	"\n"
	"init creates the buckets and the audit stream (as the fleet's "
	"admin). creds prints the nats-server user entry of a host, a "
	"requester, an approver or an admin, with its permissions. request "
	"asks; requests lists them. approve chooses the hosts that match "
	"at that moment, records them in the request and writes one grant "
	"per host (a retry writes none twice); deny refuses a pending "
	"request; revoke deletes every grant of an approved one, retrying "
	"until each is acknowledged (run it again if it reports a host "
	"left). hosts lists the registered hosts and their labels; events "
	"reads the audit stream of every host.\n"
	"\n"
	"Requesters and approvers are fleet identities: the NATS user of "
	"the config file (--fleet-config). Every command but creds needs "
	"the servers.",
	fleet_options);

static const struct {
	const char *name;
	int (*fn)(struct ctx *ctx, const struct fleet_opts *o, int argc,
		  char **argv);
	unsigned accepts;
} subcommands[] = {
	{ "init", fleet_cmd_init, FO_CONFIG | FO_REPLICAS },
	{ "creds", fleet_cmd_creds, FO_PASSWORD_FILE },
	{ "request", fleet_cmd_request,
	  FO_CONFIG | FO_SELECT | FO_ALL_HOSTS | FO_POLICY | FO_PORT |
		  FO_PROTO | FO_FROM | FO_FOR | FO_REASON },
	{ "requests", fleet_cmd_requests, FO_CONFIG | FO_ALL | FO_LIMIT },
	{ "approve", fleet_cmd_approve, FO_CONFIG | FO_REASON },
	{ "deny", fleet_cmd_deny, FO_CONFIG | FO_REASON },
	{ "revoke", fleet_cmd_revoke, FO_CONFIG | FO_REASON },
	{ "hosts", fleet_cmd_hosts, FO_CONFIG | FO_SELECT },
	{ "events", fleet_cmd_events, FO_CONFIG | FO_FOLLOW | FO_LIMIT },
};

/* The long name of an FO_ bit, for the error that it does not apply. */
static const char *option_name(unsigned bit)
{
	static const char *const names[] = {
		"select",	 "all-hosts", "policy", "port",
		"proto",	 "from",      "for",	"reason",
		"fleet-config",	 "follow",    "limit",	"all",
		"password-file", "replicas",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (bit == 1u << i)
			return names[i];
	return "?";
}

static int parse_options(struct ctx *ctx, int argc, char **argv,
			 struct fleet_opts *o)
{
	char *end;
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		switch (c) {
		case 'S':
			o->select = optarg;
			o->seen |= FO_SELECT;
			break;
		case 'H':
			o->seen |= FO_ALL_HOSTS;
			break;
		case 'N':
			o->policy = optarg;
			o->seen |= FO_POLICY;
			break;
		case 'p':
			o->port = optarg;
			o->seen |= FO_PORT;
			break;
		case 'P':
			o->proto = optarg;
			o->seen |= FO_PROTO;
			break;
		case 'f':
			o->from = optarg;
			o->seen |= FO_FROM;
			break;
		case 't':
			o->duration = optarg;
			o->seen |= FO_FOR;
			break;
		case 'r':
			o->reason = optarg;
			o->seen |= FO_REASON;
			break;
		case 'C':
			o->config = optarg;
			o->seen |= FO_CONFIG;
			break;
		case 'F':
			o->seen |= FO_FOLLOW;
			break;
		case 'n':
			if ((rc = parse_limit(ctx, optarg, &o->limit)))
				return rc;
			o->seen |= FO_LIMIT;
			break;
		case 'a':
			o->seen |= FO_ALL;
			break;
		case 'W':
			o->password_file = optarg;
			o->seen |= FO_PASSWORD_FILE;
			break;
		case 'R':
			errno = 0;
			o->replicas = (int)strtol(optarg, &end, 10);
			if (*optarg < '1' || *optarg > '9' || *end || errno ||
			    o->replicas < 1 || o->replicas > 5)
				return usage_error(ctx,
						   "--replicas is 1 to 5, not "
						   "'%s'",
						   optarg);
			o->seen |= FO_REPLICAS;
			break;
		default:
			return 2;
		}
	}
	return 0;
}

static int cmd_fleet(struct ctx *ctx, int argc, char **argv)
{
	struct fleet_opts o = { .replicas = 3 };
	const char *sub;
	int rc;

	if ((rc = parse_options(ctx, argc, argv, &o)))
		return rc;
	if (optind >= argc)
		return usage_error(ctx,
				   "missing what to do (init, creds, request, "
				   "requests, approve, deny, revoke, hosts, "
				   "events)");
	sub = argv[optind];
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++) {
		unsigned extra;

		if (!streq(sub, subcommands[i].name))
			continue;
		extra = o.seen & ~subcommands[i].accepts;
		if (extra)
			return usage_error(ctx,
					   "option '--%s' does not apply to "
					   "'fleet %s'",
					   option_name(extra & -extra), sub);
		optind++;
		return subcommands[i].fn(ctx, &o, argc, argv);
	}
	return usage_error(ctx, "unknown fleet command '%s'", sub);
}

int fleet_check_reason(struct ctx *ctx, const char *reason)
{
	if (!reason)
		return 0;
	if (strlen(reason) >= JIT_REASON_MAX)
		return usage_error(ctx, "--reason is longer than %d bytes",
				   JIT_REASON_MAX - 1);
	if (!text_is_safe(reason))
		return usage_error(ctx, "--reason must not contain control "
					"characters");
	return 0;
}

int fleet_check_id_args(struct ctx *ctx, const struct fleet_opts *o, int argc,
			char **argv)
{
	int rc;

	if (argc - optind != 1)
		return usage_error(ctx,
				   argc - optind ? "unexpected argument '%s'"
						 : "missing ID",
				   argv[optind + (argc - optind ? 1 : 0)]);
	if ((rc = fleet_check_reason(ctx, o->reason)))
		return rc;
	if (!fleet_id_valid(argv[optind]))
		return usage_error(ctx,
				   "'%s' is not a fleet request id (16 hex "
				   "digits)",
				   argv[optind]);
	return 0;
}

int fleet_fail(struct ctx *ctx, int r, const char *err)
{
	const char *code = "fleet-failed";

	switch (r) {
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		code = "fleet-unreachable";
		break;
	case -EACCES:
		code = "not-permitted";
		break;
	case -ENOENT:
		code = "not-found";
		break;
	case -ESTALE:
		code = "conflict";
		break;
	case -EINVAL:
	case -EBADMSG:
		code = "bad-value";
		break;
	default:
		break;
	}
	return fail(ctx, code, "%s", err);
}

int fleet_open(struct ctx *ctx, const struct fleet_opts *o,
	       struct fleet_config *cfg, struct fleet_client **c)
{
	_cleanup_free_ char *path = fleet_config_path(o->config);
	char err[512];
	int r;

	if (!path)
		abort();
	r = fleet_config_load(path, cfg, err, sizeof(err));
	if (r)
		return fail(ctx, "fleet-config", "%s", err);
	r = fleet_connect(cfg, 5000, c, err, sizeof(err));
	if (r) {
		fleet_config_free(cfg);
		return fleet_fail(ctx, r, err);
	}
	return 0;
}

int fleet_find_request(struct ctx *ctx, struct fleet_client *c, const char *id,
		       char **key, json_t **req, uint64_t *rev)
{
	char pattern[64], err[512], who[FLEET_NAME_MAX + 1], kid[32];
	int r;

	if (!fleet_id_valid(id))
		return usage_error(ctx,
				   "'%s' is not a fleet request id (16 "
				   "hex digits)",
				   id);
	snprintf(pattern, sizeof(pattern), "req.*.%s", id);
	r = fleet_kv_last(c, FLEET_BUCKET_REQUESTS, pattern, key, req, rev, err,
			  sizeof(err));
	if (r == -ENOENT)
		return fail(ctx, "not-found", "no fleet request %s", id);
	if (r)
		return fleet_fail(ctx, r, err);
	/*
	 * The key says who wrote it (a requester may write only under its
	 * own name): a value that claims another requester is refused.
	 */
	err[0] = who[0] = kid[0] = '\0';
	if (fleet_request_key_parse(*key, who, sizeof(who), kid, sizeof(kid)) ||
	    fleet_request_check(*req, err, sizeof(err)) ||
	    !streq(who, str(*req, "requested_by")) || !streq(kid, id) ||
	    !streq(str(*req, "id"), id)) {
		if (!err[0])
			snprintf(err, sizeof(err),
				 "written as '%s' but names requester '%s' "
				 "and id '%s'",
				 *key, str(*req, "requested_by"),
				 str(*req, "id"));
		r = fail(ctx, "bad-value", "fleet request %s is malformed: %s",
			 id, err);
		free(*key);
		json_decref(*req);
		*key = NULL;
		*req = NULL;
		return r;
	}
	return 0;
}

void fleet_request_line(json_t *req, char *buf, size_t n)
{
	_cleanup_free_ char *sel =
		fleet_selector_text(json_object_get(req, "selector"));
	char dur[32];

	left_text(num(req, "duration_s"), dur, sizeof(dur));
	snprintf(buf, n, "%s %s/%lld from %s for %s on %s", str(req, "policy"),
		 str(req, "proto"), (long long)num(req, "port"),
		 str(req, "source"), dur, sel[0] ? sel : "all hosts");
}
