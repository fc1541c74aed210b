/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jitctl fleet approve, deny and revoke. Each is safe to run again after
 * a failure or a timeout (a write that timed out may still land):
 *  - approve records the hosts it chose in the request first (CAS on its
 *    revision), then creates one grant key per host with create-if-absent;
 *    a retry finds the recorded hosts and creates only what is missing;
 *  - revoke marks the request revoked first (CAS), then deletes each
 *    host's key, retrying each until acknowledged; a retry deletes again.
 * An approval that raced a revoke deletes what it created.
 */
#include <errno.h>
#include <stdlib.h>

#include "fleet-cmd.h"
#include "util.h"

/* How many times a decision is retried when someone wrote in between. */
#define CAS_TRIES 5

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The registered hosts that match sel, sorted, as a JSON array. */
static int choose_hosts(struct ctx *ctx, struct fleet_client *c, json_t *sel,
			json_t **ret)
{
	json_t *all = NULL, *v, *hosts;
	const char **names;
	size_t bad = 0, n = 0;
	const char *key;
	char err[512];
	int r;

	r = fleet_kv_list(c, FLEET_BUCKET_HOSTS, &all, &bad, err, sizeof(err));
	if (r)
		return fleet_fail(ctx, r, err);
	names = calloc(json_object_size(all) + 1, sizeof(*names));
	if (!names)
		abort();
	json_object_foreach(all, key, v)
	{
		const char *host = str(v, "host");

		/* A host writes only its own key: the key is its name. */
		if (strncmp(key, "host.", 5) != 0 || !streq(key + 5, host) ||
		    !fleet_name_valid(host))
			continue;
		if (fleet_selector_match(sel, json_object_get(v, "labels")))
			names[n++] = host;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	hosts = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(hosts, json_string(names[i]));
	free(names);
	json_decref(all);
	*ret = hosts;
	return 0;
}

/*
 * Create (del false) or delete the grant key of each of req's hosts, all in
 * flight at once; what got no answer is then written one by one, each
 * retried as fleet_kv_create and fleet_kv_delete do. results[i] for the
 * i-th host: 0, -EEXIST (a create found it there), -ESTALE (a create found
 * it deleted) or the error. Returns the first error other than those.
 */
static int write_grants(struct fleet_client *c, json_t *req, bool del,
			int *results, char *err, size_t n)
{
	json_t *hosts = json_object_get(req, "hosts"), *h;
	size_t count = json_array_size(hosts), i;
	char **keys = calloc(count + 1, sizeof(*keys));
	json_t **values = calloc(count + 1, sizeof(*values));
	int first = 0, r;

	if (!keys || !values)
		abort();
	json_array_foreach(hosts, i, h)
	{
		keys[i] = malloc(128);
		if (!keys[i] || fleet_grant_key(json_string_value(h),
						str(req, "id"), keys[i], 128))
			abort(); /* checked by fleet_request_check */
		values[i] = del ? NULL
				: fleet_grant_value(req, json_string_value(h));
	}
	r = fleet_kv_batch(c, FLEET_BUCKET_GRANTS, del,
			   (const char *const *)keys, values, count, results,
			   err, n);
	for (i = 0; i < count; i++) {
		if (r == 0 && (results[i] == 0 || results[i] == -EEXIST ||
			       results[i] == -ESTALE))
			continue;
		/* Refused once, refused for every host. */
		if (first == -EACCES) {
			results[i] = -EACCES;
			continue;
		}
		results[i] =
			del ? fleet_kv_delete(c, FLEET_BUCKET_GRANTS, keys[i],
					      err, n)
			    : fleet_kv_create(c, FLEET_BUCKET_GRANTS, keys[i],
					      values[i], NULL, err, n);
		if (results[i] && results[i] != -EEXIST && !first)
			first = results[i];
	}
	for (i = 0; i < count; i++) {
		free(keys[i]);
		json_decref(values[i]);
	}
	free(keys);
	free(values);
	return first;
}

/* Delete the grant keys of req's hosts; the hosts left are in *left. */
static int delete_grants(struct fleet_client *c, json_t *req, json_t *left,
			 char *err, size_t n)
{
	json_t *hosts = json_object_get(req, "hosts"), *h;
	int *results = calloc(json_array_size(hosts) + 1, sizeof(*results));
	size_t i;
	int r;

	if (!results)
		abort();
	r = write_grants(c, req, true, results, err, n);
	json_array_foreach(hosts, i, h) if (results[i])
		json_array_append(left, h);
	free(results);
	return r;
}

static int print_decision(struct ctx *ctx, const char *what, json_t *req,
			  json_t *created, json_t *existing)
{
	char line[512], hosts[1024];

	if (ctx->json) {
		json_auto_t *doc =
			json_pack("{s:b, s:O}", "ok", 1, "request", req);

		if (created)
			json_object_set(doc, "created", created);
		if (existing)
			json_object_set(doc, "existing", existing);
		print_json(ctx, doc);
		return 0;
	}
	fleet_request_line(req, line, sizeof(line));
	join_strings(json_object_get(req, "hosts"), hosts, sizeof(hosts),
		     "none");
	if (json_object_get(req, "hosts"))
		printf("fleet request %s %s on %zu host(s) (%s): %s\n",
		       str(req, "id"), what,
		       json_array_size(json_object_get(req, "hosts")), hosts,
		       line);
	else
		printf("fleet request %s %s: %s\n", str(req, "id"), what, line);
	return 0;
}

/* Set the decision fields of req for state, by cfg->user, now. */
static void decide(json_t *req, const char *state, const char *by,
		   const struct fleet_opts *o)
{
	bool revoke = streq(state, "revoked");

	json_object_set_new(req, "state", json_string(state));
	json_object_set_new(req, revoke ? "revoked_by" : "decided_by",
			    json_string(by));
	json_object_set_new(req, revoke ? "revoked_at_ms" : "decided_at_ms",
			    json_integer((json_int_t)now_real_ms()));
	if (o->reason)
		json_object_set_new(
			req, revoke ? "revoke_reason" : "decision_reason",
			json_string(o->reason));
}

int fleet_cmd_approve(struct ctx *ctx, const struct fleet_opts *o, int argc,
		      char **argv)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_t *req = NULL, *hosts = NULL, *created = json_array(),
	       *existing = json_array(), *failed = json_array(), *h;
	_cleanup_free_ char *key = NULL;
	uint64_t rev = 0;
	char err[512] = "";
	size_t i;
	int r, rc, tries;

	if ((rc = fleet_check_id_args(ctx, o, argc, argv)))
		goto out;
	if ((rc = fleet_open(ctx, o, &cfg, &c)))
		goto out;
	for (tries = 0;; tries++) {
		free(key);
		key = NULL;
		json_decref(req);
		req = NULL;
		if ((rc = fleet_find_request(ctx, c, argv[optind], &key, &req,
					     &rev)))
			goto out;
		if (streq(str(req, "state"), "approved"))
			break; /* a retry: the hosts chosen then */
		if (!streq(str(req, "state"), "pending")) {
			rc = fail(ctx, "not-pending", "fleet request %s is %s",
				  argv[optind], str(req, "state"));
			goto out;
		}
		json_decref(hosts);
		hosts = NULL;
		if ((rc = choose_hosts(ctx, c, json_object_get(req, "selector"),
				       &hosts)))
			goto out;
		if (!json_array_size(hosts)) {
			_cleanup_free_ char *sel = fleet_selector_text(
				json_object_get(req, "selector"));

			rc = fail(ctx, "no-hosts",
				  "no registered host matches %s: the request "
				  "stays pending",
				  sel[0] ? sel : "(all hosts)");
			goto out;
		}
		decide(req, "approved", cfg.user, o);
		json_object_set(req, "hosts", hosts);
		r = fleet_kv_update(c, FLEET_BUCKET_REQUESTS, key, req, rev,
				    &rev, err, sizeof(err));
		if (!r)
			break;
		/* Someone decided in between: look again. */
		if (r != -ESTALE || tries + 1 >= CAS_TRIES) {
			rc = fleet_fail(ctx, r, err);
			goto out;
		}
	}
	if (streq(str(req, "requested_by"), cfg.user))
		fprintf(stderr,
			"jitctl: note: %s approved their own request: hosts "
			"refuse it unless the policy's approval is auto\n",
			cfg.user);
	{
		json_t *chosen = json_object_get(req, "hosts");
		int *results =
			calloc(json_array_size(chosen) + 1, sizeof(*results));

		if (!results)
			abort();
		write_grants(c, req, false, results, err, sizeof(err));
		json_array_foreach(chosen, i, h)
		{
			if (!results[i])
				json_array_append(created, h);
			else if (results[i] == -EEXIST)
				json_array_append(existing, h);
			/* -ESTALE: deleted, so revoked: see below. */
			else if (results[i] != -ESTALE)
				json_array_append(failed, h);
		}
		free(results);
	}
	/* A revoke that came in between would miss what we just wrote. */
	{
		json_t *now = NULL;
		_cleanup_free_ char *k2 = NULL;
		uint64_t rev2;
		char e2[512];

		if (!fleet_kv_last(c, FLEET_BUCKET_REQUESTS, key, &k2, &now,
				   &rev2, e2, sizeof(e2)) &&
		    streq(str(now, "state"), "revoked")) {
			json_auto_t *left = json_array();

			delete_grants(c, now, left, e2, sizeof(e2));
			json_decref(now);
			rc = fail(ctx, "not-pending",
				  "fleet request %s was revoked while it was "
				  "approved; its grants are deleted%s",
				  argv[optind],
				  json_array_size(left)
					  ? " (not all: run 'jitctl fleet "
					    "revoke' again)"
					  : "");
			goto out;
		}
		json_decref(now);
	}
	if (json_array_size(failed)) {
		char list[1024];

		join_strings(failed, list, sizeof(list), "");
		rc = fail(ctx, "fleet-failed",
			  "fleet request %s approved, but its grant could not "
			  "be written for %s (%s): run 'jitctl fleet approve "
			  "%s' again",
			  argv[optind], list, err, argv[optind]);
		goto out;
	}
	rc = print_decision(ctx, "approved", req, created, existing);
out:
	json_decref(req);
	json_decref(hosts);
	json_decref(created);
	json_decref(existing);
	json_decref(failed);
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}

/* deny (pending -> denied) and revoke (approved -> revoked). */
static int change_state(struct ctx *ctx, const struct fleet_opts *o, int argc,
			char **argv, bool revoke)
{
	struct fleet_config cfg = { 0 };
	struct fleet_client *c = NULL;
	json_t *req = NULL;
	_cleanup_free_ char *key = NULL;
	const char *from = revoke ? "approved" : "pending";
	const char *to = revoke ? "revoked" : "denied";
	uint64_t rev = 0;
	char err[512] = "";
	int r, rc, tries;

	if ((rc = fleet_check_id_args(ctx, o, argc, argv)))
		return rc;
	if ((rc = fleet_open(ctx, o, &cfg, &c)))
		return rc;
	for (tries = 0;; tries++) {
		free(key);
		key = NULL;
		json_decref(req);
		req = NULL;
		if ((rc = fleet_find_request(ctx, c, argv[optind], &key, &req,
					     &rev)))
			goto out;
		if (streq(str(req, "state"), to))
			break; /* again: a revoke deletes again */
		if (!streq(str(req, "state"), from)) {
			rc = fail(ctx, "not-pending",
				  "fleet request %s is %s%s", argv[optind],
				  str(req, "state"),
				  revoke && streq(str(req, "state"), "pending")
					  ? " (deny it instead)"
				  : !revoke && streq(str(req, "state"),
						     "approved")
					  ? " (revoke it instead)"
					  : "");
			goto out;
		}
		decide(req, to, cfg.user, o);
		r = fleet_kv_update(c, FLEET_BUCKET_REQUESTS, key, req, rev,
				    &rev, err, sizeof(err));
		if (!r)
			break;
		if (r != -ESTALE || tries + 1 >= CAS_TRIES) {
			rc = fleet_fail(ctx, r, err);
			goto out;
		}
	}
	if (revoke) {
		json_auto_t *left = json_array();
		char list[1024];

		r = delete_grants(c, req, left, err, sizeof(err));
		if (r) {
			join_strings(left, list, sizeof(list), "");
			rc = fail(ctx, "fleet-failed",
				  "fleet request %s is revoked, but the grant "
				  "of %s is not deleted yet (%s): run 'jitctl "
				  "fleet revoke %s' again",
				  argv[optind], list, err, argv[optind]);
			goto out;
		}
	}
	rc = print_decision(ctx, to, req, NULL, NULL);
out:
	json_decref(req);
	fleet_close(c);
	fleet_config_free(&cfg);
	return rc;
}

int fleet_cmd_deny(struct ctx *ctx, const struct fleet_opts *o, int argc,
		   char **argv)
{
	return change_state(ctx, o, argc, argv, false);
}

int fleet_cmd_revoke(struct ctx *ctx, const struct fleet_opts *o, int argc,
		     char **argv)
{
	return change_state(ctx, o, argc, argv, true);
}
