/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fleet mode, jitctl's side without NATS: selectors, keys, the request and
 * grant values, the permissions each role gets and fleet.yaml.
 */
#include <check.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet-client.h"
#include "util.h"
#include "runner.h"

static json_t *sel_of(const char *s)
{
	json_t *sel = NULL;
	char err[256];

	ck_assert_msg(fleet_selector_parse(s, &sel, err, sizeof(err)) == 0,
		      "'%s': %s", s, err);
	return sel;
}

UNIT_TEST("selector", test_selector_parse)
{
	json_auto_t *a = sel_of("role=web,env=prod");
	json_auto_t *b = sel_of("");
	json_auto_t *c = sel_of("app.kubernetes.io/name=x_1-2");
	static const char *const bad[] = {
		"role",
		"role=",
		"=web",
		"role=web,,env=prod",
		"role=web,",
		",role=web",
		"role=web,role=db",
		"role=w b",
		"role=web;",
		"rôle=web",
		"role=a=b",
	};
	char err[256];

	ck_assert_int_eq(json_object_size(a), 2);
	ck_assert_str_eq(json_string_value(json_object_get(a, "role")), "web");
	ck_assert_str_eq(json_string_value(json_object_get(a, "env")), "prod");
	ck_assert_int_eq(json_object_size(b), 0);
	ck_assert_int_eq(json_object_size(c), 1);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *sel = NULL;

		err[0] = '\0';
		ck_assert_msg(fleet_selector_parse(bad[i], &sel, err,
						   sizeof(err)) == -EINVAL,
			      "'%s' should be refused", bad[i]);
		ck_assert_ptr_null(sel);
		ck_assert_msg(err[0], "'%s': no reason given", bad[i]);
	}
	ck_assert_int_eq(
		fleet_selector_parse("role=web,role=db", &a, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "label 'role' given twice in selector");
}
END_TEST

UNIT_TEST("selector", test_selector_match)
{
	json_auto_t *sel = sel_of("role=web,env=prod");
	json_auto_t *all = sel_of("");
	json_auto_t *web_prod = json_pack("{s:s, s:s, s:s}", "role", "web",
					  "env", "prod", "dc", "x");
	json_auto_t *web_dev =
		json_pack("{s:s, s:s}", "role", "web", "env", "dev");
	json_auto_t *web = json_pack("{s:s}", "role", "web");
	json_auto_t *num = json_pack("{s:s, s:i}", "role", "web", "env", 1);
	_cleanup_free_ char *text = fleet_selector_text(sel);
	_cleanup_free_ char *empty = fleet_selector_text(all);

	ck_assert(fleet_selector_match(sel, web_prod));
	ck_assert(!fleet_selector_match(sel, web_dev));
	ck_assert(!fleet_selector_match(sel, web)); /* AND: env missing */
	ck_assert(!fleet_selector_match(sel, num));
	ck_assert(!fleet_selector_match(sel, NULL));
	ck_assert(fleet_selector_match(all, web_dev));
	ck_assert(fleet_selector_match(all, NULL));
	ck_assert(!fleet_selector_match(NULL, web));
	/* Keys sorted: the same selector always reads the same. */
	ck_assert_str_eq(text, "env=prod,role=web");
	ck_assert_str_eq(empty, "");
}
END_TEST

UNIT_TEST("names", test_names_and_keys)
{
	char buf[128], who[64], id[32];

	ck_assert(fleet_name_valid("web-1"));
	ck_assert(fleet_name_valid("A_b-9"));
	ck_assert(!fleet_name_valid(""));
	ck_assert(!fleet_name_valid("web.1"));
	ck_assert(!fleet_name_valid("web*"));
	ck_assert(!fleet_name_valid("web>"));
	ck_assert(!fleet_name_valid(NULL));
	memset(buf, 'a', 64);
	buf[64] = '\0';
	ck_assert(!fleet_name_valid(buf));
	buf[63] = '\0';
	ck_assert(fleet_name_valid(buf));

	ck_assert(fleet_id_valid("0123456789abcdef"));
	ck_assert(!fleet_id_valid("0123456789ABCDEF"));
	ck_assert(!fleet_id_valid("0123456789abcde"));
	ck_assert(!fleet_id_valid("0123456789abcdef0"));
	for (int i = 0; i < 100; i++) {
		char a[FLEET_ID_LEN + 1], b[FLEET_ID_LEN + 1];

		ck_assert_int_eq(fleet_id_new(a), 0);
		ck_assert_int_eq(fleet_id_new(b), 0);
		ck_assert(fleet_id_valid(a));
		ck_assert_str_ne(a, b);
	}

	ck_assert_int_eq(
		fleet_grant_key("web-1", "0123456789abcdef", buf, sizeof(buf)),
		0);
	ck_assert_str_eq(buf, "host.web-1.0123456789abcdef");
	ck_assert_int_eq(
		fleet_grant_key("web.1", "0123456789abcdef", buf, sizeof(buf)),
		-EINVAL);
	ck_assert_int_eq(fleet_grant_key("web-1", "0123456789abcdef", buf, 10),
			 -ENAMETOOLONG);
	ck_assert_int_eq(fleet_request_key("alice", "0123456789abcdef", buf,
					   sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, "req.alice.0123456789abcdef");
	ck_assert_int_eq(
		fleet_request_key_parse(buf, who, sizeof(who), id, sizeof(id)),
		0);
	ck_assert_str_eq(who, "alice");
	ck_assert_str_eq(id, "0123456789abcdef");
	ck_assert_int_eq(fleet_request_key_parse("req.0123456789abcdef", who,
						 sizeof(who), id, sizeof(id)),
			 -EINVAL);
	ck_assert_int_eq(fleet_request_key_parse("host.a.0123456789abcdef", who,
						 sizeof(who), id, sizeof(id)),
			 -EINVAL);
	ck_assert_int_eq(fleet_host_key("db-1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "host.db-1");
}
END_TEST

static json_t *approved_request(void)
{
	json_auto_t *sel = sel_of("role=web");
	struct fleet_request_args a = {
		.selector = sel,
		.policy = "ssh",
		.proto = "tcp",
		.port = 22,
		.source = "203.0.113.7/32",
		.duration_s = 3600,
		.reason = "deploy",
	};
	json_t *req =
		fleet_request_new("0123456789abcdef", &a, "alice", 1000000);

	json_object_set_new(req, "state", json_string("approved"));
	json_object_set_new(req, "decided_by", json_string("bob"));
	json_object_set_new(req, "decided_at_ms", json_integer(2000000));
	json_object_set_new(req, "hosts",
			    json_pack("[s, s]", "web-1", "web-2"));
	return req;
}

UNIT_TEST("values", test_request_and_grant_values)
{
	json_auto_t *req = approved_request();
	json_auto_t *g1 = fleet_grant_value(req, "web-1");
	json_auto_t *g2 = fleet_grant_value(req, "web-1");
	_cleanup_free_ char *e1 = fleet_value_encode(g1);
	_cleanup_free_ char *e2 = fleet_value_encode(g2);
	json_auto_t *back = fleet_value_decode(e1, strlen(e1));
	char err[256];

	ck_assert_int_eq(fleet_request_check(req, err, sizeof(err)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(g1, "host")),
			 "web-1");
	ck_assert_int_eq(json_integer_value(json_object_get(g1, "end_ms")),
			 2000000 + 3600 * 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(g1, "start_ms")),
			 2000000);
	ck_assert_str_eq(json_string_value(json_object_get(g1, "approved_by")),
			 "bob");
	ck_assert_str_eq(json_string_value(json_object_get(g1, "requested_by")),
			 "alice");
	/* A retry writes the very same bytes (create-if-absent sees equal). */
	ck_assert_str_eq(e1, e2);
	ck_assert_str_eq(e1,
			 "{\"approved_at_ms\":2000000,\"approved_by\":\"bob\","
			 "\"end_ms\":5600000,\"host\":\"web-1\",\"id\":"
			 "\"0123456789abcdef\",\"policy\":\"ssh\",\"port\":22,"
			 "\"proto\":\"tcp\",\"reason\":\"deploy\","
			 "\"requested_by\":\"alice\",\"selector\":{\"role\":"
			 "\"web\"},\"source\":\"203.0.113.7/32\",\"start_ms\":"
			 "2000000}");
	ck_assert(json_equal(back, g1));
	ck_assert_ptr_null(fleet_value_decode("[1]", 3));
	ck_assert_ptr_null(fleet_value_decode("{", 1));
	ck_assert_ptr_null(fleet_value_decode("{\"a\":1,\"a\":2}", 13));
	ck_assert_ptr_null(fleet_value_decode("", 0));
	{
		char big[FLEET_VALUE_MAX + 2];

		memset(big, ' ', sizeof(big));
		big[0] = '{';
		big[sizeof(big) - 1] = '}';
		ck_assert_ptr_null(fleet_value_decode(big, sizeof(big)));
	}
}
END_TEST

UNIT_TEST("values", test_request_check_refuses)
{
	static const char *const fields[] = {
		"id",	  "selector",	"policy",	"proto", "port",
		"source", "duration_s", "requested_by", "state",
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		json_auto_t *req = approved_request();

		json_object_del(req, fields[i]);
		ck_assert_msg(fleet_request_check(req, err, sizeof(err)) ==
				      -EINVAL,
			      "without %s", fields[i]);
	}
	{
		json_auto_t *req = approved_request();

		json_object_set_new(req, "port", json_integer(70000));
		ck_assert_int_eq(fleet_request_check(req, err, sizeof(err)),
				 -EINVAL);
		ck_assert_str_eq(err, "bad or missing port");
	}
	{
		json_auto_t *req = approved_request();

		json_object_set_new(req, "state", json_string("granted"));
		ck_assert_int_eq(fleet_request_check(req, err, sizeof(err)),
				 -EINVAL);
	}
	{
		json_auto_t *req = approved_request();

		json_object_del(req, "decided_by");
		ck_assert_int_eq(fleet_request_check(req, err, sizeof(err)),
				 -EINVAL);
	}
	{
		json_auto_t *req = approved_request();

		json_object_set_new(req, "hosts", json_pack("[s]", "a.b"));
		ck_assert_int_eq(fleet_request_check(req, err, sizeof(err)),
				 -EINVAL);
	}
}
END_TEST

static bool has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i,
			   v) if (streq(json_string_value(v), s)) return true;
	return false;
}

UNIT_TEST("creds", test_permissions)
{
	json_auto_t *host = fleet_permissions(FLEET_ROLE_HOST, "web-1");
	json_auto_t *req = fleet_permissions(FLEET_ROLE_REQUESTER, "alice");
	json_auto_t *appr = fleet_permissions(FLEET_ROLE_APPROVER, "bob");
	json_auto_t *admin = fleet_permissions(FLEET_ROLE_ADMIN, "root");
	json_t *hp = json_object_get(host, "publish");
	json_t *rp = json_object_get(req, "publish");
	json_t *ap = json_object_get(appr, "publish");
	size_t i;
	json_t *v;

	/* The host's set is exactly the confined one, nothing more. */
	ck_assert_int_eq(json_array_size(hp), 5);
	ck_assert(has(hp, "$JS.API.CONSUMER.CREATE.KV_jit_grants.w_web-1."
			  "$KV.jit_grants.host.web-1.>"));
	ck_assert(has(hp, "$JS.API.CONSUMER.DELETE.KV_jit_grants.w_web-1"));
	ck_assert(has(hp, "$JS.API.DIRECT.GET.KV_jit_grants.$KV.jit_grants."
			  "host.web-1.>"));
	ck_assert(has(hp, "$KV.jit_hosts.host.web-1"));
	ck_assert(has(hp, "audit.web-1"));
	ck_assert(has(json_object_get(host, "subscribe"), "_INBOX_web-1.>"));
	ck_assert_int_eq(json_array_size(json_object_get(host, "subscribe")),
			 1);
	/* No unfiltered consumer, no grant writes, no other audit subject. */
	json_array_foreach(hp, i, v)
	{
		const char *s = json_string_value(v);

		ck_assert(!strstr(s, "web-2"));
		ck_assert(strncmp(s, "$KV.jit_grants", 14) != 0);
		ck_assert(!streq(s, "$JS.API.CONSUMER.CREATE.KV_jit_grants"));
		ck_assert(!strchr(s, '*'));
	}
	/* A requester writes requests only under its own name. */
	ck_assert(has(rp, "$KV.jit_requests.req.alice.*"));
	json_array_foreach(rp, i, v)
	{
		const char *s = json_string_value(v);

		ck_assert(strncmp(s, "$KV.jit_grants", 14) != 0);
		ck_assert(!strstr(s, "KV_jit_grants"));
		ck_assert(!strstr(s, "JIT_AUDIT"));
		ck_assert(!streq(s, "$KV.jit_requests.>"));
	}
	ck_assert(has(ap, "$KV.jit_grants.>"));
	ck_assert(has(ap, "$KV.jit_requests.>"));
	ck_assert(has(ap, "$JS.API.CONSUMER.CREATE.JIT_AUDIT"));
	json_array_foreach(ap, i, v)
		ck_assert(strncmp(json_string_value(v), "audit.", 6) != 0);
	ck_assert(has(json_object_get(admin, "publish"), "$JS.API.>"));
}
END_TEST

UNIT_TEST("creds", test_creds_conf)
{
	_cleanup_free_ char *conf =
		fleet_creds_conf(FLEET_ROLE_HOST, "web-1", "s3cret");
	enum fleet_role role;

	ck_assert(strstr(conf, "  user: \"web-1\"\n"));
	ck_assert(strstr(conf, "  password: \"s3cret\"\n"));
	ck_assert(strstr(conf, "    publish: { allow: [\n      \"$JS.API."
			       "CONSUMER.CREATE.KV_jit_grants.w_web-1.$KV."
			       "jit_grants.host.web-1.>\"\n"));
	ck_assert(strstr(conf, "    subscribe: { allow: [\n      "
			       "\"_INBOX_web-1.>\"\n    ] }\n"));
	ck_assert(conf[0] == '#');
	ck_assert_int_eq(fleet_role_parse("approver", &role), 0);
	ck_assert_int_eq(role, FLEET_ROLE_APPROVER);
	ck_assert_int_eq(fleet_role_parse("root", &role), -EINVAL);
	ck_assert_str_eq(fleet_role_name(FLEET_ROLE_REQUESTER), "requester");
}
END_TEST

static char dir[] = "/tmp/test_fleet.XXXXXX";

static void write_file(const char *name, const char *text, mode_t mode)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
	fchmod(fd, mode);
	close(fd);
}

static int load(const char *text, struct fleet_config *cfg, char *err, size_t n)
{
	_cleanup_free_ char *p = path_join(dir, "fleet.yaml");

	write_file("fleet.yaml", text, 0644);
	return fleet_config_load(p, cfg, err, n);
}

UNIT_TEST("config", test_config)
{
	struct fleet_config cfg;
	char err[512], text[1024];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_file("pw", "hunter2\n", 0600);
	write_file("pw-open", "hunter2\n", 0644);
	snprintf(text, sizeof(text),
		 "servers: [nats://192.0.2.1:4222, nats://192.0.2.2:4222]\n"
		 "host: web-1\n"
		 "labels: {role: web, env: prod}\n"
		 "user: web-1\n"
		 "password_file: %s/pw\n"
		 "connect_timeout: 10s\n",
		 dir);
	ck_assert_msg(load(text, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cfg.connect_timeout_ms, 10000);
	ck_assert_int_eq(cfg.nservers, 2);
	ck_assert_str_eq(cfg.servers[1], "nats://192.0.2.2:4222");
	ck_assert_str_eq(cfg.user, "web-1");
	ck_assert_str_eq(cfg.password, "hunter2");
	ck_assert_str_eq(json_string_value(json_object_get(cfg.labels, "env")),
			 "prod");
	fleet_config_free(&cfg);

	ck_assert_int_eq(load("servers: nats://x:4222\nuser: bob\nport: 1\n",
			      &cfg, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "fleet.yaml:3:1: unknown key 'port'"), "%s",
		      err);
	ck_assert_int_eq(load("servers: nats://x:4222\nuser: [bob]\n", &cfg,
			      err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "fleet.yaml:2:7: 'user' must be a "
				  "non-empty string"),
		      "%s", err);
	/* The agent's bounds: 1 s to 60 s. */
	ck_assert_int_eq(load("servers: [a]\nuser: bob\nconnect_timeout: 0s\n",
			      &cfg, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "fleet.yaml:3:18: 'connect_timeout' must be"),
		      "%s", err);
	ck_assert_int_eq(load("servers: [a]\nuser: bob\nconnect_timeout: 2m\n",
			      &cfg, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(
		load("servers: [a]\nuser: bob\n", &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.connect_timeout_ms, 0);
	fleet_config_free(&cfg);
	ck_assert_int_eq(load("user: bob\n", &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "'servers' is missing"), "%s", err);
	ck_assert_int_eq(
		load("servers: [a]\nuser: b.c\n", &cfg, err, sizeof(err)),
		-EINVAL);
	ck_assert_int_eq(load("servers: [a\n", &cfg, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "fleet.yaml:"), "%s", err);
	snprintf(text, sizeof(text),
		 "servers: [a]\nuser: bob\npassword_file: %s/pw-open\n", dir);
	ck_assert_int_eq(load(text, &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "readable by others"), "%s", err);
	snprintf(text, sizeof(text),
		 "servers: [a]\nuser: bob\npassword_file: %s/none\n", dir);
	ck_assert_int_eq(load(text, &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(fleet_config_load("/nonexistent/fleet.yaml", &cfg, err,
					   sizeof(err)),
			 -ENOENT);
}
END_TEST
