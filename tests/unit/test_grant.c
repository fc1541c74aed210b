/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests and grants: parsing the request fields of a control message, and
 * the bookkeeping from pending to initiated to finished.
 */
#include <check.h>

#include "api.h"
#include "grant.h"
#include "util.h"
#include "helpers.h"
#include "runner.h"

/* --- request_parse -------------------------------------------------------- */

static int parse(const char *text, struct jit_request *out, const char **code,
		 char *msg, size_t n)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	int r;

	ck_assert_msg(j, "bad test JSON %s: %s", text, jerr.text);
	r = request_parse(j, out, code, msg, n);
	json_decref(j);
	return r;
}

static struct jit_request parse_ok(const char *text)
{
	struct jit_request out;
	const char *code = NULL;
	char msg[256] = "";

	ck_assert_msg(parse(text, &out, &code, msg, sizeof(msg)) == 0,
		      "%s: %s: %s", text, code ? code : "", msg);
	/* Keep the reason in static storage: callers never release it. */
	if (out.reason) {
		static char keep[JIT_REASON_MAX];

		snprintf(keep, sizeof(keep), "%s", out.reason);
		request_release(&out);
		out.reason = keep;
	}
	return out;
}

/* Long strings for the size limits. */
static char reason_255[512], reason_256[512];

static void make_reasons(void)
{
	static const char head[] = "{\"policy\": \"p\", \"port\": 22, "
				   "\"source\": \"192.0.2.7\", \"reason\": \"";
	char x[257];

	memset(x, 'x', sizeof(x) - 1);
	x[sizeof(x) - 1] = '\0';
	snprintf(reason_255, sizeof(reason_255), "%s%.255s\"}", head, x);
	snprintf(reason_256, sizeof(reason_256), "%s%.256s\"}", head, x);
}

#define BASE "\"policy\": \"ssh\", \"port\": 22, \"source\": \"192.0.2.7\""

static const struct {
	const char *json;
	const char *code;
	const char *msg;
} bad[] = {
	/* missing fields, in the order they are checked */
	{ "{}", "missing-field", "missing field 'policy'" },
	{ "{\"port\": 22, \"source\": \"192.0.2.7\"}", "missing-field",
	  "missing field 'policy'" },
	{ "{\"policy\": \"ssh\", \"source\": \"192.0.2.7\"}", "missing-field",
	  "missing field 'port'" },
	{ "{\"policy\": \"ssh\", \"port\": 22}", "missing-field",
	  "missing field 'source'" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"protocol\": \"tcp\"}",
	  "missing-field", "missing field 'source'" },
	/* wrong types */
	{ "{\"policy\": 1, \"port\": 22, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'policy' must be a string" },
	{ "{\"policy\": null, \"port\": 22, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'policy' must be a string" },
	{ "{\"policy\": [\"ssh\"], \"port\": 22, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'policy' must be a string" },
	{ "{\"policy\": \"ssh\", \"port\": true, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'port' must be a number or a string" },
	{ "{\"policy\": \"ssh\", \"port\": [22], \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'port' must be a number or a string" },
	{ "{\"policy\": \"ssh\", \"port\": 22.0, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'port' must be a number or a string" },
	{ "{\"policy\": \"ssh\", \"port\": null, \"source\": \"192.0.2.7\"}",
	  "bad-type", "field 'port' must be a number or a string" },
	{ "{" BASE ", \"protocol\": 6}", "bad-type",
	  "field 'protocol' must be a string" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": 3221225991}",
	  "bad-type", "field 'source' must be a string" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": null}", "bad-type",
	  "field 'source' must be a string" },
	{ "{" BASE ", \"duration\": {}}", "bad-type",
	  "field 'duration' must be a string or a number of seconds" },
	{ "{" BASE ", \"duration\": 1.5}", "bad-type",
	  "field 'duration' must be a string or a number of seconds" },
	{ "{" BASE ", \"duration\": true}", "bad-type",
	  "field 'duration' must be a string or a number of seconds" },
	{ "{" BASE ", \"reason\": 5}", "bad-type",
	  "field 'reason' must be a string" },
	{ "{" BASE ", \"reason\": [\"x\"]}", "bad-type",
	  "field 'reason' must be a string" },
	/* bad values: policy */
	{ "{\"policy\": \"\", \"port\": 22, \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "'' is not a policy name (1..32 of a-z, 0-9, '-' and '_')" },
	{ "{\"policy\": \"abcdefghijklmnopqrstuvwxyz0123456\", \"port\": 22, "
	  "\"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "'abcdefghijklmnopqrstuvwxyz0123456' is not a policy name (1..32 of "
	  "a-z, 0-9, '-' and '_')" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": "
	  "\"::ffff:192.0.2.7\"}",
	  "bad-value",
	  "source '::ffff:192.0.2.7' is an IPv4 address written as IPv6, "
	  "which no IPv4 packet matches: write it as IPv4" },
	/* A value quoted in a message cannot forge a line. */
	{ "{\"policy\": \"ssh\\njit-enforcer: info: x\", \"port\": 22, "
	  "\"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "'ssh?jit-enforcer: info: x' is not a policy name (1..32 of a-z, "
	  "0-9, '-' and '_')" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": \"x\\u001b[2J\\n\"}",
	  "bad-value",
	  "source 'x?[2J?' is not an IPv4/IPv6 address or prefix (with no "
	  "host bits set)" },
	/* port */
	{ "{\"policy\": \"ssh\", \"port\": 0, \"source\": \"192.0.2.7\"}",
	  "bad-value", "port 0 is out of range 1..65535" },
	{ "{\"policy\": \"ssh\", \"port\": 65536, \"source\": \"192.0.2.7\"}",
	  "bad-value", "port 65536 is out of range 1..65535" },
	{ "{\"policy\": \"ssh\", \"port\": -22, \"source\": \"192.0.2.7\"}",
	  "bad-value", "port -22 is out of range 1..65535" },
	{ "{\"policy\": \"ssh\", \"port\": 4294967318, \"source\": "
	  "\"192.0.2.7\"}",
	  "bad-value", "port 4294967318 is out of range 1..65535" },
	{ "{\"policy\": \"ssh\", \"port\": \"22-21\", \"source\": "
	  "\"192.0.2.7\"}",
	  "bad-value",
	  "port '22-21' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"abc\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port 'abc' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \" 22\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port ' 22' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"22 \", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '22 ' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"0\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '0' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"65536\", \"source\": "
	  "\"192.0.2.7\"}",
	  "bad-value",
	  "port '65536' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"22-\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '22-' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"22--23\", \"source\": "
	  "\"192.0.2.7\"}",
	  "bad-value",
	  "port '22--23' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"+22\", \"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '+22' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"1-65536\", \"source\": "
	  "\"192.0.2.7\"}",
	  "bad-value",
	  "port '1-65536' is not a port (1..65535) or a range like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": \"18446744073709551639\", "
	  "\"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '18446744073709551639' is not a port (1..65535) or a range "
	  "like 5985-5986" },
	{ "{\"policy\": \"ssh\", \"port\": "
	  "\"1234567890123456789012345678901234567890\", "
	  "\"source\": \"192.0.2.7\"}",
	  "bad-value",
	  "port '12345678901234567890123456789012' is not a port (1..65535) "
	  "or a range like 5985-5986" },
	/* protocol */
	{ "{" BASE ", \"protocol\": \"TCP\"}", "bad-value",
	  "protocol 'TCP' is not tcp, udp or any" },
	{ "{" BASE ", \"protocol\": \"\"}", "bad-value",
	  "protocol '' is not tcp, udp or any" },
	{ "{" BASE ", \"protocol\": \"tcp,udp\"}", "bad-value",
	  "protocol 'tcp,udp' is not tcp, udp or any" },
	/* source */
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": \"300.1.1.1\"}",
	  "bad-value",
	  "source '300.1.1.1' is not an IPv4/IPv6 address or prefix (with no "
	  "host bits set)" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": \"192.0.2.7/24\"}",
	  "bad-value",
	  "source '192.0.2.7/24' is not an IPv4/IPv6 address or prefix (with "
	  "no host bits set)" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": \"any\"}",
	  "bad-value",
	  "source 'any' is not an IPv4/IPv6 address or prefix (with no host "
	  "bits set)" },
	{ "{\"policy\": \"ssh\", \"port\": 22, \"source\": \"\"}", "bad-value",
	  "source '' is not an IPv4/IPv6 address or prefix (with no host bits "
	  "set)" },
	/* duration */
	{ "{" BASE ", \"duration\": \"0s\"}", "bad-value",
	  "duration '0s' is zero" },
	{ "{" BASE ", \"duration\": \"PT0S\"}", "bad-value",
	  "duration 'PT0S' is zero" },
	{ "{" BASE ", \"duration\": \"25h\"}", "bad-value",
	  "duration '25h' exceeds the limit of 24h" },
	{ "{" BASE ", \"duration\": \"1d1s\"}", "bad-value",
	  "duration '1d1s' exceeds the limit of 24h" },
	{ "{" BASE ", \"duration\": \"10\"}", "bad-value",
	  "duration '10' has no unit: 10s? 10m? (a JSON number, not a string, "
	  "is seconds)" },
	{ "{" BASE ", \"duration\": \"soon\"}", "bad-value",
	  "duration 'soon' is not a duration like 90s, 15m, 2h, 1h30m or "
	  "PT2H" },
	{ "{" BASE ", \"duration\": \"\"}", "bad-value",
	  "duration '' is not a duration like 90s, 15m, 2h, 1h30m or PT2H" },
	{ "{" BASE ", \"duration\": \"99999999999999999999999s\"}", "bad-value",
	  "duration '99999999999999999999999s' is not a duration like 90s, "
	  "15m, 2h, 1h30m or PT2H" },
	{ "{" BASE ", \"duration\": 0}", "bad-value",
	  "duration 0s is out of range 1s..24h" },
	{ "{" BASE ", \"duration\": -1}", "bad-value",
	  "duration -1s is out of range 1s..24h" },
	{ "{" BASE ", \"duration\": 86401}", "bad-value",
	  "duration 86401s is out of range 1s..24h" },
	{ "{" BASE ", \"duration\": 4294967297}", "bad-value",
	  "duration 4294967297s is out of range 1s..24h" },
	/* reason */
	{ "{" BASE ", \"reason\": \"line\\nbreak\"}", "bad-value",
	  "reason must not contain control characters" },
	{ "{" BASE ", \"reason\": \"\\u001b[31mred\"}", "bad-value",
	  "reason must not contain control characters" },
	{ "{" BASE ", \"reason\": \"tab\\there\"}", "bad-value",
	  "reason must not contain control characters" },
	{ "{" BASE ", \"reason\": \"del\\u007f\"}", "bad-value",
	  "reason must not contain control characters" },
	{ "{" BASE ", \"reason\": \"csi\\u009b2J\"}", "bad-value",
	  "reason must not contain control characters" },
	{ "{" BASE ", \"reason\": \"\\u202egnp.exe\"}", "bad-value",
	  "reason must not contain control characters" },
	{ reason_256, "bad-value", "reason is longer than 255 bytes" },
};

UNIT_LOOP_TEST("parse", test_parse_bad, ARRAY_SIZE(bad))
{
	struct jit_request out;
	const char *code = NULL;
	char msg[256] = "";

	make_reasons();
	ck_assert_msg(parse(bad[_i].json, &out, &code, msg, sizeof(msg)) ==
			      -EINVAL,
		      "accepted %s", bad[_i].json);
	ck_assert_ptr_nonnull(code);
	ck_assert_msg(streq(code, bad[_i].code) && streq(msg, bad[_i].msg),
		      "%s:\n want %s: %s\n got  %s: %s", bad[_i].json,
		      bad[_i].code, bad[_i].msg, code, msg);
}
END_TEST

UNIT_TEST("parse", test_parse_good)
{
	struct jit_request r;
	char buf[JIT_PREFIX_STRLEN];

	r = parse_ok("{\"policy\": \"ssh\", \"port\": 22, \"source\": "
		     "\"192.0.2.7\"}");
	ck_assert_str_eq(r.policy, "ssh");
	ck_assert_uint_eq(r.key.port_lo, 22);
	ck_assert_uint_eq(r.key.port_hi, 22);
	/* No protocol: authz fills it in from the policy's entry. */
	ck_assert_uint_eq(r.key.protos, 0);
	ck_assert_int_eq(r.key.source.family, AF_INET);
	ck_assert_uint_eq(r.key.source.len, 32);
	ck_assert_str_eq(prefix_format(&r.key.source, buf, sizeof(buf)),
			 "192.0.2.7/32");
	ck_assert_uint_eq(r.duration_s, 0);
	ck_assert_str_eq(request_reason(&r), "");
	ck_assert_uint_eq(r.id, 0);
	ck_assert_int_eq(r.status, JIT_PENDING);

	r = parse_ok("{\"op\": \"request\", \"policy\": \"winrm\", \"port\": "
		     "\"5985-5986\", \"protocol\": \"any\", \"source\": "
		     "\"2001:db8::/32\", \"duration\": \"PT2H\", \"reason\": "
		     "\"patching INC-42, caf\\u00e9\"}");
	ck_assert_str_eq(r.policy, "winrm");
	ck_assert_uint_eq(r.key.port_lo, 5985);
	ck_assert_uint_eq(r.key.port_hi, 5986);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP | JIT_PROTO_UDP);
	ck_assert_str_eq(prefix_format(&r.key.source, buf, sizeof(buf)),
			 "2001:db8::/32");
	ck_assert_uint_eq(r.duration_s, 7200);
	ck_assert_str_eq(r.reason, "patching INC-42, caf\xc3\xa9");

	r = parse_ok("{\"policy\": \"ssh\", \"port\": \"22\", \"protocol\": "
		     "\"tcp\", \"source\": \"192.0.2.0/24\", \"duration\": "
		     "7200}");
	ck_assert_uint_eq(r.key.port_lo, 22);
	ck_assert_uint_eq(r.key.port_hi, 22);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_TCP);
	ck_assert_uint_eq(r.key.source.len, 24);
	ck_assert_uint_eq(r.duration_s, 7200);

	r = parse_ok("{\"policy\": \"dns\", \"port\": 65535, \"protocol\": "
		     "\"udp\", \"source\": \"::1\", \"duration\": 86400}");
	ck_assert_uint_eq(r.key.port_lo, 65535);
	ck_assert_uint_eq(r.key.protos, JIT_PROTO_UDP);
	ck_assert_int_eq(r.key.source.family, AF_INET6);
	ck_assert_uint_eq(r.key.source.len, 128);
	ck_assert_uint_eq(r.duration_s, 86400);

	r = parse_ok("{\"policy\": \"p\", \"port\": \"1-65535\", \"source\": "
		     "\"0.0.0.0/0\", \"duration\": \"24h\"}");
	ck_assert_uint_eq(r.key.port_lo, 1);
	ck_assert_uint_eq(r.key.port_hi, 65535);
	ck_assert_uint_eq(r.key.source.len, 0);
	ck_assert_uint_eq(r.duration_s, 86400);

	r = parse_ok("{\"policy\": \"p\", \"port\": 1, \"source\": "
		     "\"192.0.2.7\", \"duration\": \"1h30m\"}");
	ck_assert_uint_eq(r.duration_s, 5400);
	r = parse_ok("{\"policy\": \"p\", \"port\": 1, \"source\": "
		     "\"192.0.2.7\", \"duration\": 600}");
	ck_assert_uint_eq(r.duration_s, 600);
	r = parse_ok("{\"policy\": \"p\", \"port\": 1, \"source\": "
		     "\"192.0.2.7\", \"duration\": 1}");
	ck_assert_uint_eq(r.duration_s, 1);

	/* Optional fields given as null count as absent. */
	r = parse_ok("{\"policy\": \"p\", \"port\": \"5985-5985\", "
		     "\"protocol\": null, \"source\": \"192.0.2.7\", "
		     "\"duration\": null, \"reason\": null}");
	ck_assert_uint_eq(r.key.port_lo, 5985);
	ck_assert_uint_eq(r.key.port_hi, 5985);
	ck_assert_uint_eq(r.key.protos, 0);
	ck_assert_uint_eq(r.duration_s, 0);
	ck_assert_str_eq(request_reason(&r), "");

	/* Limits: a 32-character name and a 255-byte reason are fine. */
	r = parse_ok("{\"policy\": \"abcdefghijklmnopqrstuvwxyz012345\", "
		     "\"port\": 22, \"source\": \"192.0.2.7\"}");
	ck_assert_uint_eq(strlen(r.policy), JIT_POLICY_NAME_MAX);
	make_reasons();
	r = parse_ok(reason_255);
	ck_assert_uint_eq(strlen(r.reason), JIT_REASON_MAX - 1);
}
END_TEST

UNIT_TEST("parse", test_parse_clears_output)
{
	struct jit_request r;
	const char *code = NULL;
	char msg[256];

	memset(&r, 0xa5, sizeof(r));
	ck_assert_int_eq(
		parse("{\"policy\": \"ssh\", \"port\": 22, \"source\": "
		      "\"192.0.2.7\"}",
		      &r, &code, msg, sizeof(msg)),
		0);
	ck_assert_uint_eq(r.uid, 0);
	ck_assert_uint_eq(r.replaced_by, 0);
	ck_assert_str_eq(r.user, "");
	ck_assert_str_eq(r.decided_by, "");
}
END_TEST

/*
 * The message goes into a JSON reply, which jansson builds only from valid
 * UTF-8: cutting the user's value at a byte count must not split a
 * character (else control_error() returns NULL and the client gets
 * "internal: no reply" instead of the reason).
 */
UNIT_TEST("parse", test_parse_message_is_utf8)
{
	static const char *const inputs[] = {
		"{\"policy\": \"ssh\", \"port\": "
		"\"a\\u00e9\\u00e9\\u00e9\\u00e9"
		"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e"
		"9"
		"\\u00e9\\u00e9\\u00e9\\u00e9\", \"source\": \"192.0.2.7\"}",
		"{\"policy\": \"ssh\", \"port\": 22, \"protocol\": "
		"\"a\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\","
		" "
		"\"source\": \"192.0.2.7\"}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		struct jit_request r;
		const char *code = NULL;
		char msg[256] = "";
		json_t *s;

		ck_assert_int_eq(parse(inputs[i], &r, &code, msg, sizeof(msg)),
				 -EINVAL);
		ck_assert_str_eq(code, "bad-value");
		s = json_string(msg);
		ck_assert_msg(s, "message is not valid UTF-8: %s", msg);
		json_decref(s);
	}
}
END_TEST

/* --- keys ----------------------------------------------------------------- */

#define TCP JIT_PROTO_TCP
#define UDP JIT_PROTO_UDP
#define ANY (JIT_PROTO_TCP | JIT_PROTO_UDP)

UNIT_TEST("key", test_key_ports)
{
	struct jit_grant_key k;
	char buf[48], tiny[6];

	k = test_key("192.0.2.7", TCP, 22, 22);
	ck_assert_str_eq(grant_key_ports(&k, buf, sizeof(buf)), "tcp/22");
	k = test_key("192.0.2.7", UDP, 53, 53);
	ck_assert_str_eq(grant_key_ports(&k, buf, sizeof(buf)), "udp/53");
	k = test_key("192.0.2.7", ANY, 5985, 5986);
	ck_assert_str_eq(grant_key_ports(&k, buf, sizeof(buf)),
			 "tcp,udp/5985-5986");
	k = test_key("::/0", TCP, 1, 65535);
	ck_assert_str_eq(grant_key_ports(&k, buf, sizeof(buf)), "tcp/1-65535");
	/* Truncated, terminated, and the buffer is what comes back. */
	k = test_key("192.0.2.7", ANY, 5985, 5986);
	ck_assert_ptr_eq(grant_key_ports(&k, tiny, sizeof(tiny)), tiny);
	ck_assert_str_eq(tiny, "tcp,u");
}
END_TEST

UNIT_TEST("key", test_key_equal)
{
	struct jit_grant_key a = test_key("192.0.2.0/24", TCP, 22, 22), b = a;

	ck_assert(grant_key_equal(&a, &b));
	b = test_key("192.0.2.0/25", TCP, 22, 22);
	ck_assert(!grant_key_equal(&a, &b));
	b = test_key("192.0.3.0/24", TCP, 22, 22);
	ck_assert(!grant_key_equal(&a, &b));
	b = test_key("192.0.2.0/24", ANY, 22, 22);
	ck_assert(!grant_key_equal(&a, &b));
	b = test_key("192.0.2.0/24", TCP, 22, 23);
	ck_assert(!grant_key_equal(&a, &b));
	b = test_key("192.0.2.0/24", TCP, 21, 22);
	ck_assert(!grant_key_equal(&a, &b));
	/* Same bytes, other family. */
	a = test_key("::/0", TCP, 22, 22);
	b = test_key("0.0.0.0/0", TCP, 22, 22);
	ck_assert(!grant_key_equal(&a, &b));
}
END_TEST

UNIT_TEST("key", test_key_is_prefix)
{
	struct jit_grant_key k;

	k = test_key("192.0.2.7", TCP, 22, 22);
	ck_assert(!grant_key_is_prefix(&k));
	k = test_key("192.0.2.7", ANY, 1000, 1015); /* 16 ports */
	ck_assert(!grant_key_is_prefix(&k));
	k = test_key("192.0.2.7", TCP, 1000, 1016); /* 17 ports */
	ck_assert(grant_key_is_prefix(&k));
	k = test_key("192.0.2.7", TCP, 1, 65535);
	ck_assert(grant_key_is_prefix(&k));
	k = test_key("192.0.2.6/31", TCP, 22, 22);
	ck_assert(grant_key_is_prefix(&k));
	k = test_key("0.0.0.0/0", TCP, 22, 22);
	ck_assert(grant_key_is_prefix(&k));
	k = test_key("2001:db8::1", TCP, 22, 22);
	ck_assert(!grant_key_is_prefix(&k));
	k = test_key("2001:db8::1", TCP, 65520, 65535); /* 16 ports */
	ck_assert(!grant_key_is_prefix(&k));
	k = test_key("2001:db8::/127", TCP, 22, 22);
	ck_assert(grant_key_is_prefix(&k));
	/* A /32 is a host in v4 only. */
	k = test_key("2001:db8::/32", TCP, 22, 22);
	ck_assert(grant_key_is_prefix(&k));
}
END_TEST

UNIT_TEST("key", test_status_name)
{
	ck_assert_str_eq(status_name(JIT_PENDING), "pending");
	ck_assert_str_eq(status_name(JIT_DENIED), "denied");
	ck_assert_str_eq(status_name(JIT_INITIATED), "initiated");
	ck_assert_str_eq(status_name(JIT_REVOKED), "revoked");
	ck_assert_str_eq(status_name(JIT_EXPIRED), "expired");
	ck_assert_str_eq(status_name((enum jit_status)42), "unknown");
}
END_TEST

/* --- the registry --------------------------------------------------------- */

static struct jit_request tmpl(uint32_t uid, const char *user,
			       struct jit_grant_key k, uint32_t duration_s)
{
	struct jit_request r = { .uid = uid,
				 .key = k,
				 .duration_s = duration_s };

	snprintf(r.user, sizeof(r.user), "%s", user);
	snprintf(r.policy, sizeof(r.policy), "ssh");
	/* grants_add copies it; a few live at once, so a small ring. */
	{
		static char ring[8][32];
		static unsigned next;
		char *buf = ring[next++ % 8];

		snprintf(buf, sizeof(ring[0]), "ticket %u", uid);
		r.reason = buf;
	}
	return r;
}

static struct jit_request *add(struct jit_grants *g,
			       const struct jit_request *t, uint64_t now)
{
	struct jit_request *r = NULL;

	ck_assert_int_eq(grants_add(g, t, now, &r), 0);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* A model check over thousands of operations: slow under sanitizers or load. */
UNIT_CASE("registry", .timeout_s = 60);

UNIT_TEST("registry", test_grants_add_get)
{
	struct jit_grants *g = grants_new();
	struct jit_request t =
		tmpl(1000, "alice", test_key("192.0.2.7", TCP, 22, 22), 600);
	struct jit_request *r1, *r2, *r3;

	ck_assert_uint_eq(grants_count(g), 0);
	ck_assert_ptr_null(grants_get(g, 1));
	ck_assert_ptr_null(grants_at(g, 0));

	/* The bookkeeping fields of the template are ignored. */
	t.id = 77;
	t.status = JIT_EXPIRED;
	t.start_ms = 5;
	t.end_ms = 6;
	t.replaced_by = 9;
	snprintf(t.status_reason, sizeof(t.status_reason), "stale");
	snprintf(t.decided_by, sizeof(t.decided_by), "mallory");
	r1 = add(g, &t, 1000);
	r2 = add(g, &t, 2000);
	r3 = add(g, &t, 3000);
	ck_assert_uint_eq(r1->id, 1);
	ck_assert_uint_eq(r2->id, 2);
	ck_assert_uint_eq(r3->id, 3);
	ck_assert_uint_eq(grants_count(g), 3);
	ck_assert_int_eq(r1->status, JIT_PENDING);
	ck_assert_uint_eq(r1->requested_ms, 1000);
	ck_assert_uint_eq(r3->requested_ms, 3000);
	ck_assert_uint_eq(r1->start_ms, 0);
	ck_assert_uint_eq(r1->end_ms, 0);
	ck_assert_uint_eq(r1->replaced_by, 0);
	ck_assert_str_eq(r1->status_reason, "");
	ck_assert_str_eq(r1->decided_by, "");
	/* The request's own fields are copied. */
	ck_assert_str_eq(r2->policy, "ssh");
	ck_assert_str_eq(r2->user, "alice");
	ck_assert_str_eq(r2->reason, "ticket 1000");
	ck_assert_uint_eq(r2->uid, 1000);
	ck_assert_uint_eq(r2->duration_s, 600);
	ck_assert(grant_key_equal(&r2->key, &t.key));
	ck_assert_ptr_ne(r1, r2);

	ck_assert_ptr_eq(grants_get(g, 1), r1);
	ck_assert_ptr_eq(grants_get(g, 2), r2);
	ck_assert_ptr_eq(grants_get(g, 3), r3);
	ck_assert_ptr_null(grants_get(g, 0));
	ck_assert_ptr_null(grants_get(g, 4));
	ck_assert_ptr_null(grants_get(g, UINT64_MAX));
	ck_assert_ptr_eq(grants_at(g, 0), r1);
	ck_assert_ptr_eq(grants_at(g, 2), r3);
	ck_assert_ptr_null(grants_at(g, 3));
	ck_assert_ptr_null(grants_free(g));
	ck_assert_ptr_null(grants_free(NULL));
}
END_TEST

UNIT_TEST("registry", test_grants_get_many)
{
	struct jit_grants *g = grants_new();
	struct jit_request t =
		tmpl(1, "u", test_key("192.0.2.7", TCP, 22, 22), 60);

	for (unsigned i = 0; i < 257; i++)
		add(g, &t, i);
	for (uint64_t id = 1; id <= 257; id++) {
		struct jit_request *r = grants_get(g, id);

		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->id, id);
	}
	ck_assert_ptr_null(grants_get(g, 258));
	grants_free(g);
}
END_TEST

UNIT_TEST("registry", test_grants_initiate_finish)
{
	struct jit_grants *g = grants_new();
	struct jit_request t =
		tmpl(1000, "alice", test_key("192.0.2.7", TCP, 22, 22), 3600);
	struct jit_request *r, *d;

	r = add(g, &t, 1000);
	grants_initiate(g, r, 5000);
	ck_assert_int_eq(r->status, JIT_INITIATED);
	ck_assert_uint_eq(r->start_ms, 5000);
	ck_assert_uint_eq(r->end_ms, 5000 + 3600 * 1000);
	ck_assert_uint_eq(r->requested_ms, 1000);
	ck_assert_str_eq(r->status_reason, "");

	grants_finish(g, r, JIT_REVOKED, JIT_REASON_USER, "bob");
	ck_assert_int_eq(r->status, JIT_REVOKED);
	ck_assert_str_eq(r->status_reason, "user requested");
	ck_assert_str_eq(r->decided_by, "bob");
	ck_assert_uint_eq(r->start_ms, 5000);

	d = add(g, &t, 6000);
	grants_finish(g, d, JIT_DENIED, "not now", NULL);
	ck_assert_int_eq(d->status, JIT_DENIED);
	ck_assert_str_eq(d->status_reason, "not now");
	ck_assert_str_eq(d->decided_by, "");
	ck_assert_uint_eq(d->start_ms, 0);
	ck_assert_uint_eq(d->end_ms, 0);

	d = add(g, &t, 7000);
	grants_initiate(g, d, 7000);
	grants_finish(g, d, JIT_EXPIRED, NULL, NULL);
	ck_assert_int_eq(d->status, JIT_EXPIRED);
	ck_assert_str_eq(d->status_reason, "");
	ck_assert_uint_eq(grants_count(g), 3);
	grants_free(g);
}
END_TEST

struct same_ctx {
	uint32_t uid;
	const struct jit_request *except;
};

static bool same_user(const struct jit_request *c, const void *ctx)
{
	const struct same_ctx *x = ctx;

	return c != x->except && c->uid == x->uid;
}

/* uid's live grant with exactly key k, other than except. */
static struct jit_request *same_of(struct jit_grants *g,
				   const struct jit_grant_key *k, uint32_t uid,
				   const struct jit_request *except)
{
	const struct same_ctx ctx = { uid, except };

	return grants_find_same(g, k, same_user, &ctx);
}

UNIT_TEST("registry", test_grants_find_same)
{
	struct jit_grants *g = grants_new();
	struct jit_grant_key k = test_key("192.0.2.0/24", TCP, 22, 22);
	struct jit_request t = tmpl(1000, "alice", k, 600);
	struct jit_request *pending, *live, *other, *newer;
	struct jit_grant_key probe;

	pending = add(g, &t, 1);
	ck_assert_ptr_null(same_of(g, &k, 1000, NULL));
	live = add(g, &t, 2);
	grants_initiate(g, live, 2);
	/* Only live grants count; a pending one with the key does not. */
	ck_assert_ptr_eq(same_of(g, &k, 1000, NULL), live);
	ck_assert_ptr_eq(same_of(g, &k, 1000, pending), live);
	/* Another user's grant with the same key is not theirs to replace. */
	ck_assert_ptr_null(same_of(g, &k, 1001, NULL));
	ck_assert_uint_eq(grants_count_status(g, JIT_INITIATED), 1);
	ck_assert_uint_eq(grants_count_status(g, JIT_PENDING), 1);
	ck_assert_ptr_null(same_of(g, &k, 1000, live));

	/* Only the very same key. */
	probe = test_key("192.0.2.0/25", TCP, 22, 22);
	ck_assert_ptr_null(same_of(g, &probe, 1000, NULL));
	probe = test_key("192.0.2.0/24", ANY, 22, 22);
	ck_assert_ptr_null(same_of(g, &probe, 1000, NULL));
	probe = test_key("192.0.2.0/24", TCP, 22, 23);
	ck_assert_ptr_null(same_of(g, &probe, 1000, NULL));

	t.key = test_key("198.51.100.7", TCP, 22, 22);
	other = add(g, &t, 3);
	grants_initiate(g, other, 3);
	ck_assert_ptr_eq(same_of(g, &k, 1000, NULL), live);
	ck_assert_ptr_eq(same_of(g, &t.key, 1000, NULL), other);

	/* A newer grant with the same key finds the older one. */
	t.key = k;
	newer = add(g, &t, 4);
	grants_initiate(g, newer, 4);
	ck_assert_ptr_eq(same_of(g, &k, 1000, newer), live);
	ck_assert_ptr_eq(same_of(g, &k, 1000, live), newer);
	grants_finish(g, live, JIT_REVOKED, JIT_REASON_NEWER, "alice");
	ck_assert_ptr_eq(same_of(g, &k, 1000, NULL), newer);
	ck_assert_ptr_null(same_of(g, &k, 1000, newer));
	grants_free(g);
}
END_TEST

UNIT_TEST("registry", test_grants_next_end)
{
	struct jit_grants *g = grants_new();
	struct jit_request t =
		tmpl(1, "u", test_key("192.0.2.7", TCP, 22, 22), 60);
	struct jit_request *a, *b, *c;

	ck_assert_uint_eq(grants_next_end(g), 0);
	a = add(g, &t, 1000);
	ck_assert_uint_eq(grants_next_end(g), 0);
	t.duration_s = 30;
	b = add(g, &t, 1000);
	t.duration_s = 120;
	c = add(g, &t, 1000);
	grants_initiate(g, a, 10000); /* ends at 70000 */
	ck_assert_uint_eq(grants_next_end(g), 70000);
	grants_initiate(g, c, 20000); /* ends at 140000 */
	ck_assert_uint_eq(grants_next_end(g), 70000);
	grants_initiate(g, b, 20000); /* ends at 50000 */
	ck_assert_uint_eq(grants_next_end(g), 50000);
	grants_finish(g, b, JIT_REVOKED, JIT_REASON_USER, "u");
	ck_assert_uint_eq(grants_next_end(g), 70000);
	grants_finish(g, a, JIT_EXPIRED, JIT_REASON_EXPIRED, NULL);
	ck_assert_uint_eq(grants_next_end(g), 140000);
	grants_finish(g, c, JIT_EXPIRED, JIT_REASON_EXPIRED, NULL);
	ck_assert_uint_eq(grants_next_end(g), 0);
	grants_free(g);
}
END_TEST

UNIT_TEST("registry", test_grants_count_user)
{
	struct jit_grants *g = grants_new();
	struct jit_grant_key k = test_key("192.0.2.7", TCP, 22, 22);
	struct jit_request ta = tmpl(1000, "alice", k, 60);
	struct jit_request tb = tmpl(1001, "bob", k, 60);
	struct jit_request *a1, *a2;

	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_PENDING), 0);
	a1 = add(g, &ta, 1);
	a2 = add(g, &ta, 2);
	add(g, &ta, 3);
	add(g, &tb, 4);
	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_PENDING), 3);
	ck_assert_uint_eq(grants_count_user(g, 1001, JIT_PENDING), 1);
	ck_assert_uint_eq(grants_count_user(g, 1002, JIT_PENDING), 0);
	grants_initiate(g, a1, 5);
	grants_finish(g, a2, JIT_DENIED, "no", "root");
	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_PENDING), 1);
	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_INITIATED), 1);
	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_DENIED), 1);
	ck_assert_uint_eq(grants_count_user(g, 1000, JIT_REVOKED), 0);
	ck_assert_uint_eq(grants_count_user(g, 1001, JIT_INITIATED), 0);
	grants_free(g);
}
END_TEST

UNIT_TEST("registry", test_grants_history)
{
	struct jit_grants *g = grants_new();
	struct jit_request t =
		tmpl(1, "u", test_key("192.0.2.7", TCP, 22, 22), 60);
	struct jit_request *pending, *live, *r;
	/* Trimming waits for twice the history, then keeps the newest. */
	const size_t extra = JIT_HISTORY_MAX + 1,
		     total = JIT_HISTORY_MAX + extra;
	uint64_t first_finished;

	pending = add(g, &t, 1);
	live = add(g, &t, 2);
	grants_initiate(g, live, 2);
	first_finished = live->id + 1;
	for (size_t i = 0; i < total; i++) {
		r = add(g, &t, 10 + i);
		grants_finish(g, r, JIT_DENIED, "no", "root");
		/* The request just finished is never the one dropped. */
		ck_assert_int_eq(r->status, JIT_DENIED);
		ck_assert_uint_eq(r->id, first_finished + i);
	}
	ck_assert_uint_eq(grants_count(g), 2 + JIT_HISTORY_MAX);
	ck_assert_uint_eq(grants_count_user(g, 1, JIT_DENIED), JIT_HISTORY_MAX);
	/* Live requests stay, however old. */
	ck_assert_ptr_eq(grants_get(g, 1), pending);
	ck_assert_ptr_eq(grants_get(g, 2), live);
	ck_assert_ptr_eq(grants_at(g, 0), pending);
	ck_assert_ptr_eq(grants_at(g, 1), live);
	/* The oldest finished are gone, the most recent kept, in order. */
	for (uint64_t id = first_finished; id < first_finished + extra; id++)
		ck_assert_ptr_null(grants_get(g, id));
	for (uint64_t id = first_finished + extra; id < first_finished + total;
	     id++) {
		r = grants_get(g, id);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->id, id);
	}
	ck_assert_uint_eq(grants_at(g, 2)->id, first_finished + extra);
	ck_assert_uint_eq(grants_at(g, 1 + JIT_HISTORY_MAX)->id,
			  first_finished + total - 1);

	/* Below the trimming point, finishing drops nothing. */
	grants_finish(g, pending, JIT_DENIED, "late", "root");
	ck_assert_uint_eq(grants_count(g), 2 + JIT_HISTORY_MAX);
	ck_assert_ptr_eq(grants_get(g, 1), pending);
	ck_assert_str_eq(pending->status_reason, "late");
	ck_assert_ptr_nonnull(grants_get(g, first_finished + extra));
	ck_assert_ptr_eq(grants_get(g, 2), live);

	/* Finishing a finished request again changes no counts. */
	r = grants_get(g, first_finished + total - 1);
	grants_finish(g, r, JIT_DENIED, "again", NULL);
	ck_assert_uint_eq(grants_count(g), 2 + JIT_HISTORY_MAX);
	ck_assert_str_eq(r->status_reason, "again");
	grants_free(g);
}
END_TEST

/*
 * Churn does not grow the registry: 5,000 live grants, then 60,000 more
 * given and ended, a round of 1,000 at a time. Once the history is full
 * (two rounds), every later round reuses what the first ones took.
 */
UNIT_TEST("registry", test_grants_churn_memory)
{
	struct jit_grants *g = grants_new();
	size_t steady = 0;
	uint64_t now = 1000;

	for (unsigned i = 0; i < 5000; i++) {
		struct jit_request t = tmpl(
			1, "u", test_key("192.0.2.7", TCP, 1000 + i, 1000 + i),
			60);

		grants_initiate(g, add(g, &t, now), now);
	}
	for (unsigned round = 0; round < 60; round++) {
		struct jit_request *r[1000];

		for (unsigned i = 0; i < 1000; i++) {
			struct jit_request t =
				tmpl(2, "v",
				     test_key("198.51.100.9", TCP, 1000 + i,
					      1000 + i),
				     60);

			r[i] = add(g, &t, ++now);
			grants_initiate(g, r[i], now);
		}
		for (unsigned i = 0; i < 1000; i++)
			grants_finish(g, r[i], JIT_REVOKED, JIT_REASON_USER,
				      "v");
		if (round == 3)
			steady = grants_memory(g);
	}
	ck_assert_uint_eq(grants_count_status(g, JIT_INITIATED), 5000);
	ck_assert_uint_le(grants_count(g), 5000 + 2 * JIT_HISTORY_MAX);
	ck_assert_uint_gt(steady, 0);
	ck_assert_uint_eq(grants_memory(g), steady);
	grants_free(g);
}
END_TEST

/*
 * The indexes (live grants by key, prefix grants, per-user counts, earliest
 * end) must always agree with a plain scan of the registry, through random
 * requests, grants, revokes and expiries.
 */
UNIT_TEST("registry", test_grants_indexes_agree)
{
	struct jit_grants *g = grants_new();
	uint32_t seed = 12345;

	for (int step = 0; step < 20000; step++) {
		char src[32];
		struct jit_request t, *r;
		uint32_t x;

		seed = seed * 1103515245u + 12345u;
		x = seed >> 8;
		snprintf(src, sizeof(src), "192.0.2.%u%s", x % 64,
			 (x >> 6) % 8 ? "" : "/32");
		if ((x >> 9) % 16 == 0)
			snprintf(src, sizeof(src), "198.51.100.%u/30",
				 (x % 32) * 4);
		t = tmpl(x % 5, "u", test_key(src, TCP, 22, 22 + (x >> 13) % 3),
			 1 + (x >> 15) % 100);
		switch ((x >> 20) % 4) {
		case 0:
		case 1: {
			struct jit_request *same;

			r = add(g, &t, step);
			same = same_of(g, &r->key, r->uid, r);
			grants_initiate(g, r, step);
			if (same)
				grants_finish(g, same, JIT_REVOKED,
					      JIT_REASON_NEWER, NULL);
			break;
		}
		case 2:
			r = grants_at(g, (x >> 3) % (grants_count(g) + 1));
			if (r && r->status == JIT_INITIATED)
				grants_finish(g, r, JIT_EXPIRED,
					      JIT_REASON_EXPIRED, NULL);
			break;
		default:
			add(g, &t, step);
			break;
		}
		if (step % 97)
			continue;
		/* Check every index against a scan. */
		{
			uint64_t next = 0;
			size_t live[5] = { 0 }, pending[5] = { 0 };

			for (size_t i = 0; i < grants_count(g); i++) {
				struct jit_request *q = grants_at(g, i);

				if (q->status == JIT_PENDING)
					pending[q->uid]++;
				if (q->status != JIT_INITIATED)
					continue;
				live[q->uid]++;
				if (!next || q->end_ms < next)
					next = q->end_ms;
				ck_assert_ptr_eq(
					same_of(g, &q->key, q->uid, NULL), q);
				ck_assert_ptr_null(
					same_of(g, &q->key, q->uid, q));
			}
			ck_assert_uint_eq(grants_next_end(g), next);
			{
				size_t nl = 0, np = 0;

				for (uint32_t u = 0; u < 5; u++) {
					nl += live[u];
					np += pending[u];
				}
				ck_assert_uint_eq(
					grants_count_status(g, JIT_INITIATED),
					nl);
				ck_assert_uint_eq(
					grants_count_status(g, JIT_PENDING),
					np);
			}
			for (uint32_t u = 0; u < 5; u++) {
				ck_assert_uint_eq(
					grants_count_user(g, u, JIT_INITIATED),
					live[u]);
				ck_assert_uint_eq(
					grants_count_user(g, u, JIT_PENDING),
					pending[u]);
			}
		}
	}
	grants_free(g);
}
END_TEST

/* --- request_json --------------------------------------------------------- */

UNIT_TEST("registry", test_request_json)
{
	struct jit_grants *g = grants_new();
	struct jit_request t = tmpl(
		1000, "alice", test_key("192.0.2.0/24", ANY, 5985, 5986), 3600);
	struct jit_request *r, *newer;
	json_t *j, *req;

	r = add(g, &t, 1000);
	j = request_json(r, 1500);
	ck_assert_ptr_nonnull(j);
	assert_json_int(j, "id", 1);
	assert_json_str(j, "policy", "ssh");
	req = json_object_get(j, "requestor");
	ck_assert(json_is_object(req));
	ck_assert_uint_eq(json_object_size(req), 2);
	assert_json_str(req, "user", "alice");
	assert_json_int(req, "uid", 1000);
	assert_json_str(j, "source", "192.0.2.0/24");
	assert_json_str(j, "ports", "tcp,udp/5985-5986");
	assert_json_int(j, "port_lo", 5985);
	assert_json_int(j, "port_hi", 5986);
	assert_json_str(j, "protocols", "any");
	assert_json_str(j, "reason", "ticket 1000");
	assert_json_int(j, "duration_s", 3600);
	assert_json_str(j, "status", "pending");
	assert_json_str(j, "status_reason", "");
	assert_json_str(j, "decided_by", "");
	assert_json_int(j, "requested_ms", 1000);
	/* Not started: no times, no countdown, not replaced. */
	ck_assert_ptr_null(json_object_get(j, "start_ms"));
	ck_assert_ptr_null(json_object_get(j, "end_ms"));
	ck_assert_ptr_null(json_object_get(j, "expires_in_s"));
	ck_assert_ptr_null(json_object_get(j, "replaced_by"));
	ck_assert_uint_eq(json_object_size(j), 14);
	json_decref(j);

	grants_initiate(g, r, 2000); /* ends at 3602000 */
	j = request_json(r, 2000);
	assert_json_str(j, "status", "initiated");
	assert_json_int(j, "start_ms", 2000);
	assert_json_int(j, "end_ms", 3602000);
	assert_json_int(j, "expires_in_s", 3600);
	ck_assert_uint_eq(json_object_size(j), 17);
	json_decref(j);
	/* Rounded up: 1.5 s left shows as 2. */
	j = request_json(r, 3600500);
	assert_json_int(j, "expires_in_s", 2);
	json_decref(j);
	j = request_json(r, 3602000);
	assert_json_int(j, "expires_in_s", 0);
	json_decref(j);
	j = request_json(r, 9999999);
	assert_json_int(j, "expires_in_s", 0);
	json_decref(j);

	t.key = test_key("2001:db8::1", UDP, 53, 53);
	newer = add(g, &t, 3000);
	r->replaced_by = newer->id;
	grants_finish(g, r, JIT_REVOKED, JIT_REASON_NEWER, "alice");
	j = request_json(r, 4000);
	assert_json_str(j, "status", "revoked");
	assert_json_str(j, "status_reason", "newer request initiated");
	assert_json_str(j, "decided_by", "alice");
	assert_json_int(j, "replaced_by", 2);
	assert_json_int(j, "start_ms", 2000);
	ck_assert_ptr_null(json_object_get(j, "expires_in_s"));
	json_decref(j);

	j = request_json(newer, 4000);
	assert_json_int(j, "id", 2);
	assert_json_str(j, "source", "2001:db8::1/128");
	assert_json_str(j, "ports", "udp/53");
	assert_json_str(j, "protocols", "udp");
	json_decref(j);
	grants_free(g);
}
END_TEST
