/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jitctl request: ask for access (also from a cloud initiate body). */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "azure.h"
#include "client.h"
#include "jitctl.h"
#include "util.h"

#include "config.h"

/* The policies in force, quietly: only used to refuse early. */
static json_t *fetch_policies(struct ctx *ctx)
{
	json_t *req = json_pack("{s:s}", "op", "policies");
	json_t *reply = NULL, *arr;
	struct jit_client *c = NULL;

	if (req && client_connect(ctx->socket, &c) == 0) {
		if (client_call(c, req, &reply) < 0)
			reply = NULL;
		client_disconnect(c);
	}
	json_decref(req);
	arr = json_object_get(reply, "policies");
	arr = json_is_array(arr) ? json_incref(arr) : NULL;
	json_decref(reply);
	return arr;
}

static int request_azure(struct ctx *ctx, const char *file, const char *policy)
{
	_cleanup_free_ char *text = NULL;
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	json_t *policies;
	size_t len, n = 0;
	int r, rc = 0;

	r = read_input(file, &text, &len);
	if (r < 0) {
		fprintf(stderr, "jitctl request: reading %s: %s\n", file,
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 1;
	}
	policies = fetch_policies(ctx);
	diag_init(&diag);
	r = azure_initiate_parse(file, text, len, policy,
				 (int64_t)now_real_ms(), policies, &reqs, &n,
				 &notes, &diag);
	json_decref(policies);
	print_notes(&notes);
	azure_notes_release(&notes);
	if (r < 0) {
		print_diag(r, &diag);
		fprintf(stderr, "jitctl: nothing was requested\n");
		diag_release(&diag);
		return 1;
	}
	diag_release(&diag);
	for (size_t i = 0; i < n; i++) {
		json_t *reply = NULL, *req;
		char until[64];

		if (call(ctx, json_incref(reqs[i].msg), &reply)) {
			fprintf(stderr, "jitctl: %s was not granted\n",
				reqs[i].path);
			rc = 1;
			continue;
		}
		req = json_object_get(reply, "request");
		if (ctx->json) {
			json_decref(reply);
			continue;
		}
		if (streq(str(req, "status"), "initiated")) {
			time_text(num(req, "end_ms"), until, sizeof(until));
			printf("%s: request %lld granted: %s -> %s until %s\n",
			       reqs[i].path, (long long)num(req, "id"),
			       str(req, "source"), str(req, "ports"), until);
		} else {
			printf("%s: request %lld pending approval\n",
			       reqs[i].path, (long long)num(req, "id"));
		}
		json_decref(reply);
	}
	azure_requests_free(reqs, n);
	return rc;
}

int cmd_request(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "for", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "azure", required_argument, NULL, 'A' },
		{ "policy", required_argument, NULL, 'N' },
		{ 0 },
	};
	const char *port = NULL, *proto = NULL, *from = NULL, *dur = NULL;
	const char *reason = "", *azure = NULL, *policy = NULL;
	json_t *req, *reply = NULL, *r;
	char until[64];
	int c, rc;

	optind = 0;
	while ((c = sub_getopt(argc, argv, "p:P:f:t:r:", opts)) != -1) {
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
	if (azure && !port && !from && !dur && !proto && !*reason &&
	    optind + (policy ? 0 : 1) >= argc)
		return request_azure(
			ctx, azure,
			policy ?: (optind < argc ? argv[optind] : NULL));
	if (azure || policy || optind + 1 != argc || !port || !from) {
		fprintf(stderr, "usage: jitctl request POLICY --port PORT "
				"--from ADDRESS[/LEN] [--for DURATION] "
				"[--proto tcp|udp|any] [--reason TEXT]\n"
				"       jitctl request --azure FILE "
				"[--policy NAME]\n");
		return 2;
	}
	req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "request", "policy",
			argv[optind], "port", port, "source", from, "reason",
			reason);
	if (dur)
		json_object_set_new(req, "duration", json_string(dur));
	if (proto)
		json_object_set_new(req, "protocol", json_string(proto));
	rc = call(ctx, req, &reply);
	if (rc || ctx->json) {
		json_decref(reply);
		return rc;
	}
	r = json_object_get(reply, "request");
	if (streq(str(r, "status"), "initiated")) {
		time_text(num(r, "end_ms"), until, sizeof(until));
		printf("request %lld granted: %s -> %s until %s\n",
		       (long long)num(r, "id"), str(r, "source"),
		       str(r, "ports"), until);
	} else {
		printf("request %lld pending approval\n",
		       (long long)num(r, "id"));
	}
	json_decref(reply);
	return 0;
}
