/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl request: ask for access (also from a cloud initiate body). */
#include "jitctl.h"
#include "util.h"

static const struct command_option request_options[] = {
	{ 'p', "port", "PORT",
	  "a port (22) or range (5985-5986) of the policy" },
	{ 'f', "from", "ADDRESS",
	  "the source that gets access, inside the port's allowed_sources" },
	{ 't', "for", "DURATION",
	  "how long (2h, 90m, PT1H30M, 600); default: the port's "
	  "max_duration" },
	{ 'P', "proto", "PROTO",
	  "tcp, udp or any; default: the protocol of the policy's entry" },
	{ 'P', "protocol", "PROTO", NULL },
	{ 'r', "reason", "TEXT",
	  "why, kept in the record and the audit trail" },
	{ LONG_ONLY('A'), "azure", "FILE",
	  "the requests of a cloud JIT document" },
	{ LONG_ONLY('N'), "policy", "NAME",
	  "with --azure: the policy for every virtual machine" },
	{ 0 },
};

COMMAND(request, "request",
	"POLICY --port PORT --from ADDRESS[/LEN] [--for DURATION]\n"
	" [--proto tcp|udp|any] [--reason TEXT]\n"
	"--azure FILE [--policy NAME | POLICY]",
	"ask for access to a port",
	"Ask for access to a port of POLICY from ADDRESS (a host, "
	"or a network in CIDR form) for DURATION. With 'approval: "
	"auto' the grant starts at once; with 'approval: manual' "
	"the request waits for an approver (jitctl approve). A new "
	"request for the same source, protocols and ports replaces "
	"your own older grant.\n"
	"\n"
	"With --azure, make the requests of a cloud JIT document: "
	"an initiate request body "
	"(JitNetworkAccessPolicyInitiateRequest, bare or as a REST "
	"example), or the list that 'jitctl requests --format "
	"azure' prints (its Initiated entries). Each port becomes "
	"one request, from its allowedSourceAddressPrefix, until "
	"its endTimeUtc, for the policy named after its virtual "
	"machine or the one --policy (or POLICY) names. FILE - "
	"reads stdin. Nothing is sent when any port would be "
	"refused; each result is printed with its place in the "
	"document.",
	request_options);

/*
 * The policies in force, quietly: only used to refuse early. When the
 * agent cannot be reached, *unreachable gets the error reply.
 */
static json_t *fetch_policies(struct ctx *ctx, json_t **unreachable)
{
	json_t *reply = NULL, *arr;

	*unreachable = NULL;
	if (agent_call(ctx, json_pack("{s:s}", "op", "policies"), &reply,
		       NULL)) {
		const char *code = str(json_object_get(reply, "error"), "code");

		/* The agent refusing to list them is no reason to stop. */
		if (streq(code, "agent-not-running") ||
		    streq(code, "socket-permission-denied") ||
		    streq(code, "connect-failed"))
			*unreachable = json_incref(reply);
		json_decref(reply);
		return NULL;
	}
	arr = json_object_get(reply, "policies");
	arr = json_is_array(arr) ? json_incref(arr) : NULL;
	json_decref(reply);
	return arr;
}

/* One request's result, for people. */
static void request_line(const char *path, json_t *reply)
{
	json_t *req = json_object_get(reply, "request");
	char until[64];

	if (streq(str(req, "status"), "initiated")) {
		time_text(num(req, "end_ms"), until, sizeof(until));
		printf("%s%srequest %lld granted: %s -> %s until %s\n",
		       path ? path : "", path ? ": " : "",
		       (long long)num(req, "id"), str(req, "source"),
		       str(req, "ports"), until);
	} else {
		printf("%s%srequest %lld pending approval\n", path ? path : "",
		       path ? ": " : "", (long long)num(req, "id"));
	}
}

/*
 * Every request of the document, in order, also when one is refused. With
 * --json one document: {"ok", "requests": [{"path", "ok", "request" or
 * "error"}], "notes", and "error" when any was refused}.
 */
static int send_requests(struct ctx *ctx, struct azure_request *reqs, size_t n,
			 const struct azure_notes *notes)
{
	json_t *results = json_array(), *doc;
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *reply = NULL, *res;

		if (agent_call(ctx, json_incref(reqs[i].msg), &reply, NULL)) {
			failed++;
			res = json_pack("{s:s, s:b, s:O}", "path", reqs[i].path,
					"ok", 0, "error",
					json_object_get(reply, "error"));
			if (!ctx->json)
				fprintf(stderr,
					"jitctl: %s\njitctl: %s was not "
					"granted\n",
					str(json_object_get(reply, "error"),
					    "message"),
					reqs[i].path);
		} else {
			res = json_pack("{s:s, s:b, s:O}", "path", reqs[i].path,
					"ok", 1, "request",
					json_object_get(reply, "request"));
			if (!ctx->json)
				request_line(reqs[i].path, reply);
		}
		json_array_append_new(results, res);
		json_decref(reply);
	}
	if (!ctx->json) {
		json_decref(results);
		return failed ? 1 : 0;
	}
	doc = json_pack("{s:b, s:o, s:o}", "ok", !failed, "requests", results,
			"notes", notes_json(notes));
	if (failed)
		json_object_set_new(
			doc, "error",
			json_pack("{s:s, s:o}", "code", "requests-failed",
				  "message",
				  json_text(failed == n
						    ? "no request was granted"
						    : "some requests were not "
						      "granted")));
	print_json(ctx, doc);
	json_decref(doc);
	return failed ? 1 : 0;
}

static int request_azure(struct ctx *ctx, const char *file, const char *policy)
{
	_cleanup_free_ char *text = NULL;
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	json_t *policies, *unreachable;
	size_t len, n = 0;
	int r;

	r = read_input(file, &text, &len);
	if (r < 0)
		return read_failed(ctx, file, r);
	policies = fetch_policies(ctx, &unreachable);
	diag_init(&diag);
	r = azure_initiate_parse(file, text, len, policy,
				 (int64_t)now_real_ms(), policies, &reqs, &n,
				 &notes, &diag);
	json_decref(policies);
	if (r < 0) {
		r = document_error(ctx, r, &diag, &notes,
				   "nothing was requested");
	} else if (unreachable) {
		/* The document is fine, but there is no one to send it to. */
		print_notes(ctx, &notes);
		r = report(ctx, TAKE_PTR(unreachable));
	} else {
		print_notes(ctx, &notes);
		r = send_requests(ctx, reqs, n, &notes);
	}
	json_decref(unreachable);
	diag_release(&diag);
	azure_notes_release(&notes);
	azure_requests_free(reqs, n);
	return r;
}

static int cmd_request(struct ctx *ctx, int argc, char **argv)
{
	const char *port = NULL, *proto = NULL, *from = NULL, *dur = NULL;
	const char *reason = NULL, *azure = NULL, *policy = NULL;
	json_t *req, *reply = NULL;
	int c, rc;

	while ((c = next_option(ctx, argc, argv)) != -1) {
		switch (c) {
		case 'p':
			port = optarg;
			break;
		case 'P':
			proto = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			dur = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'A':
			azure = optarg;
			break;
		case 'N':
			policy = optarg;
			break;
		default:
			return 2;
		}
	}
	if (azure) {
		if (port || from || dur || proto || reason)
			return usage_error(ctx,
					   "--azure takes the ports, sources, "
					   "end times and reason from FILE: "
					   "no --port, --from, --for, --proto "
					   "or --reason");
		if ((rc = want_args(ctx, argc, argv, 0, policy ? 0 : 1)))
			return rc;
		return request_azure(
			ctx, azure,
			policy ?: (optind < argc ? argv[optind] : NULL));
	}
	if (policy)
		return usage_error(ctx, "--policy goes with --azure; name the "
					"policy as the first argument");
	if ((rc = want_args(ctx, argc, argv, 1, 1)))
		return rc;
	if (!port || !from)
		return usage_error(ctx, "missing %s",
				   !port ? "--port PORT" : "--from ADDRESS");
	/* Ten what? The agent refuses it too; say so before asking. */
	if (dur && *dur && strspn(dur, "0123456789") == strlen(dur))
		return usage_error(ctx, "--for '%s' has no unit: %ss? %sm?",
				   dur, dur, dur);
	/* s*: left out when NULL; a value that is not UTF-8 fails the pack. */
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s*, s:s*}", "op",
			"request", "policy", argv[optind], "port", port,
			"source", from, "reason", reason ? reason : "",
			"duration", dur, "protocol", proto);
	if (!req)
		return usage_error(ctx, "the arguments are not valid UTF-8");
	rc = call(ctx, req, &reply);
	if (!rc && !ctx->json)
		request_line(NULL, reply);
	json_decref(reply);
	return rc;
}
