/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cloud JIT format (azure.c). Golden files in tests/golden/azure/,
 * written for these tests from the published 2020-01-01 schema:
 *
 *   policy-*.json    azure_policy_import; NAME.args may hold "vm=" and
 *                    "name=" lines; .out is the YAML, or errors and notes
 *   initiate-*.json  azure_initiate_parse at 2026-12-01T12:00:00Z; .out is
 *                    one "PATH: message" line per request, or errors
 *   requests-*.json  azure_requests_format of a "requests" array
 *
 * good-* files must convert, bad-* must not. UPDATE_GOLDEN=1 rewrites the
 * .out files; review the diff before committing it.
 */
#include <check.h>
#include <dirent.h>

#include "azure.h"
#include "golden.h"
#include "duration.h"
#include "policy.h"
#include "util.h"
#include "runner.h"

#define AZURE_GOLDEN_DIR GOLDEN_DIR "/azure"
/* 2026-12-01T12:00:00Z */
#define NOW_MS INT64_C(1796126400000)

static struct golden_set golden = { .dir = AZURE_GOLDEN_DIR,
				    .suffix = ".json" };

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	ck_assert_msg(s, "no string '%s'", key);
	return s;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Append to a memstream-backed text. */
static void notes_text(FILE *out, const struct azure_notes *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		fprintf(out, "note: %s\n", notes->v[i]);
}

/*
 * azure_policy_import, with the policies as the one file jitctl prints
 * (azure_policies_yaml) in *yaml.
 */
static int import_yaml(const char *file, const char *text, size_t len,
		       const char *vm, const char *name, char **yaml,
		       struct azure_notes *notes, struct jit_diag *diag)
{
	struct azure_policy *pols = (struct azure_policy *)(uintptr_t)1;
	size_t n = 99;
	int r;

	*yaml = NULL;
	r = azure_policy_import(file, text, len, vm, name, &pols, &n, notes,
				diag);
	if (r < 0) {
		ck_assert_ptr_null(pols);
		ck_assert_uint_eq(n, 0);
		return r;
	}
	ck_assert_uint_ge(n, 1);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(pols[i].name);
		ck_assert_ptr_nonnull(pols[i].vm_id);
		ck_assert_ptr_nonnull(pols[i].yaml);
	}
	*yaml = azure_policies_yaml(pols, n);
	ck_assert_ptr_nonnull(*yaml);
	azure_policies_free(pols, n);
	return r;
}

/* "vm=" and "name=" from NAME.args, if there is one. */
static void read_args(const char *base, char **vm, char **name)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	char *line, *save = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s.args", AZURE_GOLDEN_DIR, base),
			 0);
	text = golden_read(path, NULL);
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (has_prefix(line, "vm="))
			*vm = strdup(line + 3);
		else if (has_prefix(line, "name="))
			*name = strdup(line + 5);
	}
}

static char *golden_policy(const char *name, const char *base,
			   const char *input, size_t len, bool *ok)
{
	_cleanup_free_ char *vm = NULL, *pname = NULL;
	struct azure_notes notes = { 0 };
	char *yaml = NULL, *text = NULL;
	size_t tlen = 0;
	struct jit_diag diag;
	FILE *out;
	int r;

	read_args(base, &vm, &pname);
	diag_init(&diag);
	r = import_yaml(name, input, len, vm, pname, &yaml, &notes, &diag);
	*ok = r == 0;
	out = open_memstream(&text, &tlen);
	ck_assert_ptr_nonnull(out);
	if (r == 0) {
		struct jit_policy_file *f = NULL;
		struct jit_diag d2;

		ck_assert_uint_eq(diag.errors, 0);
		/* What we write, our loader reads: the promise. */
		diag_init(&d2);
		ck_assert_msg(policy_file_parse("out.yaml", yaml, strlen(yaml),
						&f, &d2) == 0,
			      "%s: generated YAML does not load:\n%s", name,
			      d2.text);
		policy_file_free(f);
		diag_release(&d2);
		fputs(yaml, out);
	} else {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_ptr_null(yaml);
		ck_assert_uint_gt(diag.errors, 0);
		fputs(diag.text, out);
		notes_text(out, &notes);
	}
	fclose(out);
	free(yaml);
	azure_notes_release(&notes);
	diag_release(&diag);
	return text;
}

static char *golden_initiate(const char *name, const char *input, size_t len,
			     bool *ok)
{
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	size_t n = 0, tlen = 0;
	struct jit_diag diag;
	char *text = NULL;
	FILE *out;
	int r;

	diag_init(&diag);
	r = azure_initiate_parse(name, input, len, NULL, NOW_MS, NULL, &reqs,
				 &n, &notes, &diag);
	*ok = r == 0;
	out = open_memstream(&text, &tlen);
	ck_assert_ptr_nonnull(out);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			char *j = json_dumps(reqs[i].msg,
					     JSON_COMPACT | JSON_SORT_KEYS);
			char end[40];

			fprintf(out, "%s: %s (ends %s)\n", reqs[i].path, j,
				azure_time_format(reqs[i].end_ms, end,
						  sizeof(end)));
			free(j);
		}
	} else {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_ptr_null(reqs);
		fputs(diag.text, out);
	}
	notes_text(out, &notes);
	fclose(out);
	azure_requests_free(reqs, n);
	azure_notes_release(&notes);
	diag_release(&diag);
	return text;
}

static char *golden_requests(const char *name, const char *input, bool *ok)
{
	json_t *records = json_loads(input, 0, NULL), *res = NULL;
	size_t skipped = 99;
	char err[256] = "", *j, *text = NULL;
	int r;

	ck_assert_ptr_nonnull(records);
	r = azure_requests_format(records, &res, &skipped, err, sizeof(err));
	*ok = r == 0;
	if (r == 0) {
		j = json_dumps(res, JSON_INDENT(2));
		ck_assert_int_ge(
			asprintf(&text, "%s\nskipped: %zu\n", j, skipped), 0);
		free(j);
	} else {
		ck_assert_int_ge(asprintf(&text, "error: %s\n", err), 0);
	}
	json_decref(res);
	json_decref(records);
	return text;
}

UNIT_LOOP_TEST("golden", test_golden, golden_count(&golden))
{
	const char *name = golden.names[_i];
	_cleanup_free_ char *in_path = NULL, *input = NULL, *actual = NULL,
			    *base = NULL;
	size_t len;
	bool ok = false;

	base = strndup(name, strlen(name) - 5);
	ck_assert_int_ge(asprintf(&in_path, "%s/%s", AZURE_GOLDEN_DIR, name),
			 0);
	input = golden_read(in_path, &len);
	ck_assert_ptr_nonnull(input);

	if (has_prefix(name, "policy-"))
		actual = golden_policy(name, base, input, len, &ok);
	else if (has_prefix(name, "initiate-"))
		actual = golden_initiate(name, input, len, &ok);
	else if (has_prefix(name, "requests-"))
		actual = golden_requests(name, input, &ok);
	else
		ck_abort_msg("golden %s: unknown kind", name);
	if (strstr(name, "-good-"))
		ck_assert_msg(ok, "%s should convert, got:\n%s", name, actual);
	else if (strstr(name, "-bad-"))
		ck_assert_msg(!ok, "%s should be refused", name);
	else
		ck_assert_msg(ok, "%s should convert", name);

	golden_compare(AZURE_GOLDEN_DIR, base, actual);
}
END_TEST

UNIT_TEST("golden", test_golden_count)
{
	ck_assert_uint_ge(golden_count(&golden), 20);
}
END_TEST

/* --- date-times ----------------------------------------------------------- */

UNIT_TEST("times", test_time_good)
{
	static const struct {
		const char *in;
		int64_t ms;
	} cases[] = {
		{ "2026-12-01T12:00:00Z", NOW_MS },
		{ "2026-12-01T12:00:00.000Z", NOW_MS },
		{ "2026-12-01T12:00:00.5Z", NOW_MS + 500 },
		{ "2026-12-01T12:00:00.25Z", NOW_MS + 250 },
		{ "2026-12-01T12:00:00.123Z", NOW_MS + 123 },
		/* Beyond milliseconds rounds up, never down. */
		{ "2026-12-01T12:00:00.5691611Z", NOW_MS + 570 },
		{ "2026-12-01T12:00:00.1230000Z", NOW_MS + 123 },
		{ "2026-12-01T12:00:00.0001Z", NOW_MS + 1 },
		{ "2026-12-01T12:00:00+00:00", NOW_MS },
		{ "2026-12-01T12:00:00-00:00", NOW_MS },
		{ "2026-12-01T14:30:00+02:30", NOW_MS },
		{ "2026-12-01T07:00:00-05:00", NOW_MS },
		{ "2026-12-02T00:00:00+12:00", NOW_MS },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59Z", -1000 },
		{ "2024-02-29T00:00:00Z", INT64_C(1709164800000) },
		{ "2000-02-29T00:00:00Z", INT64_C(951782400000) },
		{ "2026-12-31T23:59:59.999Z", INT64_C(1798761599999) },
	};
	int64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		v = -42;
		ck_assert_msg(azure_time_parse(cases[i].in, &v) == 0,
			      "'%s' should parse", cases[i].in);
		ck_assert_msg(v == cases[i].ms, "'%s' gave %lld, not %lld",
			      cases[i].in, (long long)v,
			      (long long)cases[i].ms);
	}
}
END_TEST

UNIT_TEST("times", test_time_bad)
{
	static const char *const bad[] = {
		"",
		"2026-12-01",
		"2026-12-01T12:00:00",
		"2026-12-01T12:00:00.5",
		"2026-12-01T12:00Z",
		"2026-12-01 12:00:00Z",
		"2026-12-01t12:00:00Z",
		"2026-12-01T12:00:00z",
		"2026-12-01T12:00:00.Z",
		"2026-12-01T12:00:00+0000",
		"2026-12-01T12:00:00+00",
		"2026-12-01T12:00:00+24:00",
		"2026-12-01T12:00:00+00:60",
		"2026-12-01T12:00:00ZZ",
		"2026-12-01T12:00:00Z ",
		" 2026-12-01T12:00:00Z",
		"2026-13-01T12:00:00Z",
		"2026-00-01T12:00:00Z",
		"2026-12-00T12:00:00Z",
		"2026-12-32T12:00:00Z",
		"2026-02-29T12:00:00Z",
		"1900-02-29T12:00:00Z",
		"2026-04-31T12:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T12:60:00Z",
		"2026-12-01T12:00:60Z",
		"26-12-01T12:00:00Z",
		"+2026-12-01T12:00:00Z",
		"2026-1-01T12:00:00Z",
		"2026-12-01T12:00:00.-5Z",
		"20261201T120000Z",
		"PT2H",
		"1796126400",
	};
	int64_t v = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(azure_time_parse(bad[i], &v) == -EINVAL,
			      "'%s' should be refused", bad[i]);
	ck_assert_int_eq(v, 42);
}
END_TEST

UNIT_TEST("times", test_time_format)
{
	char buf[40];
	int64_t v;

	ck_assert_str_eq(azure_time_format(NOW_MS, buf, sizeof(buf)),
			 "2026-12-01T12:00:00.000Z");
	ck_assert_str_eq(azure_time_format(NOW_MS + 1234, buf, sizeof(buf)),
			 "2026-12-01T12:00:01.234Z");
	ck_assert_str_eq(azure_time_format(-1, buf, sizeof(buf)),
			 "1969-12-31T23:59:59.999Z");
	/* Round trip. */
	ck_assert_int_eq(
		azure_time_parse(
			azure_time_format(NOW_MS + 987, buf, sizeof(buf)), &v),
		0);
	ck_assert_int_eq(v, NOW_MS + 987);
}
END_TEST

UNIT_TEST("times", test_policy_name)
{
	static const struct {
		const char *vm, *want;
	} cases[] = {
		{ "vm1", "vm1" },
		{ "Web.Frontend_01", "web-frontend_01" },
		{ "RDP Gateway", "rdp-gateway" },
		{ "a.b.c", "a-b-c" },
		{ "0123456789abcdefghijklmnopqrstuvwxyz",
		  "0123456789abcdefghijklmnopqrstuv" },
		{ "\xc3\xa9t\xc3\xa9", "--t--" },
	};
	char buf[JIT_POLICY_NAME_MAX + 1];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ck_assert_int_eq(
			azure_policy_name(cases[i].vm, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, cases[i].want);
	}
	ck_assert_int_eq(azure_policy_name("", buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* --- policy import, one field at a time ----------------------------------- */

/*
 * A one-port policy document with the port entry given, so that each case
 * checks one conversion.
 */
static int import_port(const char *port_json, const char *vm, const char *name,
		       char **yaml, struct jit_diag *diag,
		       struct azure_notes *notes)
{
	_cleanup_free_ char *doc = NULL;

	ck_assert_int_ge(
		asprintf(&doc,
			 "{\"properties\": {\"virtualMachines\": [{\"id\": "
			 "\"/subscriptions/s/resourceGroups/rg/providers/"
			 "Microsoft.Compute/virtualMachines/vm1\", \"ports\": "
			 "[%s]}]}}",
			 port_json),
		0);
	diag_init(diag);
	return import_yaml("t.json", doc, strlen(doc), vm, name, yaml, notes,
			   diag);
}

UNIT_TEST("import", test_import_errors)
{
	static const struct {
		const char *port, *error;
	} cases[] = {
		/* Durations. */
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"PT25H\"}",
		  "ports[0].maxRequestAccessDuration: 'PT25H' exceeds the "
		  "limit of one day" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"P1DT1S\"}",
		  "ports[0].maxRequestAccessDuration: 'P1DT1S' exceeds the "
		  "limit of one day" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"P1Y\"}",
		  "ports[0].maxRequestAccessDuration: 'P1Y' is not an ISO "
		  "8601 duration of days and time like PT3H, PT30M, P1D or "
		  "P1DT2H (no years, months, weeks or fractions)" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"PT0.5H\"}",
		  "ports[0].maxRequestAccessDuration: 'PT0.5H' is not an ISO "
		  "8601 duration" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"P0D\"}",
		  "ports[0].maxRequestAccessDuration: 'P0D' is zero" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"90m\"}",
		  "ports[0].maxRequestAccessDuration: '90m' is not an ISO 8601 "
		  "duration like PT3H, PT30M or P1D" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": 3600}",
		  "ports[0].maxRequestAccessDuration: expected a string, got "
		  "an integer" },
		/* Wrong types. */
		{ "{\"number\": \"22\", \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].number: expected an integer, got a string" },
		{ "{\"number\": 22.5, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].number: expected an integer, got a number with a "
		  "fraction or exponent" },
		{ "{\"number\": 22, \"protocol\": null, "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].protocol: expected a string, got null" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"allowedSourceAddressPrefix\": [\"192.0.2.1\"], "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].allowedSourceAddressPrefix: expected a string, got "
		  "a list" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"allowedSourceAddressPrefixes\": \"192.0.2.1\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].allowedSourceAddressPrefixes: expected a list of "
		  "strings, got a string" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"allowedSourceAddressPrefixes\": [false], "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].allowedSourceAddressPrefixes[0]: expected a "
		  "string, got false" },
		{ "22", "ports[0]: expected an object, got an integer" },
		/* Missing required fields. */
		{ "{\"protocol\": \"TCP\", \"maxRequestAccessDuration\": "
		  "\"PT1H\"}",
		  "ports[0]: missing required field 'number'" },
		{ "{\"number\": 22, \"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0]: missing required field 'protocol'" },
		{ "{\"number\": 22, \"protocol\": \"TCP\"}",
		  "ports[0]: missing required field "
		  "'maxRequestAccessDuration'" },
		/* Both prefix fields. */
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"allowedSourceAddressPrefix\": \"*\", "
		  "\"allowedSourceAddressPrefixes\": [\"*\"], "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0]: both allowedSourceAddressPrefix and "
		  "allowedSourceAddressPrefixes are given; they are mutually "
		  "exclusive" },
		/* Values. */
		{ "{\"number\": 22, \"protocol\": \"ICMP\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].protocol: 'ICMP' is not TCP, UDP or *" },
		{ "{\"number\": 65536, \"protocol\": \"TCP\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].number: 65536 is out of range 1..65535" },
		{ "{\"number\": 22, \"protocol\": \"TCP\", "
		  "\"allowedSourceAddressPrefix\": \"10.1.2.3/8\", "
		  "\"maxRequestAccessDuration\": \"PT1H\"}",
		  "ports[0].allowedSourceAddressPrefix: '10.1.2.3/8' has host "
		  "bits set; did you mean 10.0.0.0/8?" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct azure_notes notes = { 0 };
		struct jit_diag diag;
		char *yaml = NULL;
		int r;

		r = import_port(cases[i].port, NULL, NULL, &yaml, &diag,
				&notes);
		ck_assert_msg(r == -EINVAL, "case %zu should fail", i);
		ck_assert_ptr_null(yaml);
		ck_assert_msg(diag.text && strstr(diag.text, cases[i].error),
			      "case %zu: want\n  %s\ngot\n  %s", i,
			      cases[i].error, diag.text);
		ck_assert_msg(has_prefix(diag.text, "t.json: error: properties."
						    "virtualMachines[0]."),
			      "case %zu: the path starts at the root: %s", i,
			      diag.text);
		ck_assert_uint_eq(diag.errors, 1);
		diag_release(&diag);
		azure_notes_release(&notes);
	}
}
END_TEST

/* A loaded policy from a generated text. */
static struct jit_policy_file *load(const char *yaml)
{
	struct jit_policy_file *f = NULL;
	struct jit_diag d;

	diag_init(&d);
	ck_assert_msg(policy_file_parse("t.yaml", yaml, strlen(yaml), &f, &d) ==
			      0,
		      "does not load:\n%s\n%s", d.text, yaml);
	diag_release(&d);
	return f;
}

UNIT_TEST("import", test_import_values)
{
	struct azure_notes notes = { 0 };
	struct jit_policy_file *f;
	const struct jit_policy *p;
	struct jit_diag diag;
	char *yaml = NULL, buf[JIT_PREFIX_STRLEN];

	ck_assert_int_eq(
		import_port("{\"number\": 3389, \"protocol\": \"*\", "
			    "\"allowedSourceAddressPrefixes\": "
			    "[\"192.0.2.0/24\", \"2001:db8::1\"], "
			    "\"maxRequestAccessDuration\": \"PT1H30M\"}, "
			    "{\"number\": 161, \"protocol\": \"UDP\", "
			    "\"allowedSourceAddressPrefix\": \"*\", "
			    "\"maxRequestAccessDuration\": \"P1D\"}, "
			    "{\"number\": 22, \"protocol\": \"TCP\", "
			    "\"allowedSourceAddressPrefix\": \"198.51.100.7\", "
			    "\"maxRequestAccessDuration\": \"PT5M\"}",
			    NULL, NULL, &yaml, &diag, &notes),
		0);
	ck_assert_uint_eq(notes.n, 0);
	f = load(yaml);
	ck_assert_uint_eq(policy_file_count(f), 1);
	p = policy_file_get(f, 0);
	ck_assert_str_eq(p->name, "vm1");
	ck_assert_uint_eq(p->n_ports, 3);
	ck_assert_uint_eq(p->ports[0].port_lo, 3389);
	ck_assert_uint_eq(p->ports[0].protos, JIT_PROTO_TCP | JIT_PROTO_UDP);
	ck_assert_uint_eq(p->ports[0].max_duration_s, 5400);
	ck_assert(!p->ports[0].any_source);
	ck_assert_uint_eq(p->ports[0].n_sources, 2);
	ck_assert_str_eq(
		prefix_format(&p->ports[0].sources[1], buf, sizeof(buf)),
		"2001:db8::1/128");
	ck_assert_uint_eq(p->ports[1].protos, JIT_PROTO_UDP);
	ck_assert_uint_eq(p->ports[1].max_duration_s, 86400);
	ck_assert(p->ports[1].any_source);
	ck_assert_uint_eq(p->ports[2].protos, JIT_PROTO_TCP);
	ck_assert_uint_eq(p->ports[2].max_duration_s, 300);
	/* Only root, as for any policy without requesters. */
	ck_assert_uint_eq(p->requesters.n_users + p->requesters.n_groups, 0);
	ck_assert_int_eq(p->approval, JIT_APPROVAL_AUTO);
	ck_assert_int_eq(p->action, JIT_ACTION_DROP);
	ck_assert_ptr_nonnull(strstr(yaml, "max_duration: PT1H30M\n"));
	policy_file_free(f);
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST

UNIT_TEST("import", test_import_notes)
{
	struct azure_notes notes = { 0 };
	struct jit_diag diag;
	char *yaml = NULL;

	ck_assert_int_eq(import_port("{\"number\": 22, \"protocol\": \"TCP\", "
				     "\"maxRequestAccessDuration\": \"PT1M\", "
				     "\"mappedPort\": 2222}",
				     NULL, NULL, &yaml, &diag, &notes),
			 0);
	ck_assert_uint_eq(notes.n, 3);
	ck_assert_str_eq(notes.v[0], "properties.virtualMachines[0].ports[0]."
				     "mappedPort: unknown field, ignored");
	ck_assert_str_eq(notes.v[1],
			 "properties.virtualMachines[0].ports[0]: no "
			 "allowedSourceAddressPrefix(es): any source may be "
			 "requested");
	ck_assert_str_eq(notes.v[2],
			 "properties.virtualMachines[0].ports[0]."
			 "maxRequestAccessDuration: 'PT1M' is below the "
			 "cloud's minimum of 5 minutes; kept");
	/* Notes are kept in the file too, as comments. */
	ck_assert_ptr_nonnull(strstr(yaml, "\n# note: properties."
					   "virtualMachines[0].ports[0]."
					   "mappedPort: unknown field"));
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST

UNIT_TEST("import", test_import_vm_and_name)
{
	static const char doc[] =
		"{\"properties\": {\"virtualMachines\": ["
		"{\"id\": \"/s/rg/virtualMachines/Alpha\", \"ports\": "
		"[{\"number\": 22, \"protocol\": \"TCP\", "
		"\"maxRequestAccessDuration\": \"PT1H\"}]}, "
		"{\"id\": \"/s/rg/virtualMachines/beta\", \"ports\": "
		"[{\"number\": 23, \"protocol\": \"TCP\", "
		"\"maxRequestAccessDuration\": \"PT1H\"}]}]}}";
	struct azure_notes notes = { 0 };
	struct jit_policy_file *f;
	struct jit_diag diag;
	char *yaml = NULL;

	/* Two without --vm: a policy each, in one file. */
	diag_init(&diag);
	ck_assert_int_eq(import_yaml("t.json", doc, strlen(doc), NULL, NULL,
				     &yaml, &notes, &diag),
			 0);
	ck_assert_ptr_nonnull(strstr(yaml, "---\n# Imported"));
	ck_assert_ptr_nonnull(strstr(yaml, "\nname: alpha\n"));
	ck_assert_ptr_nonnull(strstr(yaml, "\nname: beta\n"));
	f = load(yaml);
	ck_assert_uint_eq(policy_file_count(f), 2);
	policy_file_free(f);
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);

	/* ... but one --name for both is refused. */
	ck_assert_int_eq(import_yaml("t.json", doc, strlen(doc), NULL, "both",
				     &yaml, &notes, &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text,
			 "t.json: error: --name names one policy, but 2 "
			 "virtual machines are imported; pick one with --vm\n");
	diag_release(&diag);
	azure_notes_release(&notes);

	/* By name, case-insensitive; the other one is a note. */
	ck_assert_int_eq(import_yaml("t.json", doc, strlen(doc), "ALPHA", NULL,
				     &yaml, &notes, &diag),
			 0);
	ck_assert_ptr_null(strstr(yaml, "---"));
	ck_assert_ptr_nonnull(strstr(yaml, "\nname: alpha\n"));
	ck_assert_ptr_nonnull(strstr(yaml, "  - port: 22\n"));
	ck_assert_ptr_null(strstr(yaml, "port: 23"));
	ck_assert_uint_eq(notes.n, 3);
	ck_assert_str_eq(notes.v[0], "properties.virtualMachines[1]: virtual "
				     "machine 'beta' not imported (--vm picks "
				     "'Alpha')");
	ck_assert_str_eq(notes.v[2], "properties.virtualMachines[0].id: "
				     "policy named 'alpha' after the virtual "
				     "machine 'Alpha'");
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);

	/* By whole id, with a name of our own. */
	ck_assert_int_eq(import_yaml("t.json", doc, strlen(doc),
				     "/s/rg/virtualMachines/beta", "beta_ssh",
				     &yaml, &notes, &diag),
			 0);
	ck_assert_ptr_nonnull(strstr(yaml, "\nname: beta_ssh\n"));
	ck_assert_ptr_nonnull(strstr(yaml, "  - port: 23\n"));
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);

	/* Unknown --vm, bad --name: both reported. */
	ck_assert_int_eq(import_yaml("t.json", doc, strlen(doc), "gamma",
				     "Beta SSH", &yaml, &notes, &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text,
			 "t.json: error: --name 'Beta SSH': a policy name is 1 "
			 "to 32 characters from a-z, 0-9, _ and -\n"
			 "t.json: error: no virtual machine named 'gamma'; "
			 "the document has: Alpha, beta\n");
	ck_assert_uint_eq(diag.errors, 2);
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST

UNIT_TEST("import", test_import_yaml_is_safe)
{
	/* A hostile id may not add YAML of its own. */
	static const char doc[] =
		"{\"name\": \"x\\\"\\ny: 1\", \"properties\": "
		"{\"virtualMachines\": [{\"id\": "
		"\"/s/vm\\\"\\nrequesters: {users: [mallory]}\\n#\\\\\", "
		"\"ports\": [{\"number\": 22, \"protocol\": \"TCP\", "
		"\"maxRequestAccessDuration\": \"PT1H\"}]}]}}";
	struct azure_notes notes = { 0 };
	const struct jit_policy *p;
	struct jit_policy_file *f;
	struct jit_diag diag;
	char *yaml = NULL;

	diag_init(&diag);
	ck_assert_int_eq(import_yaml("evil\nname: x.json", doc, strlen(doc),
				     NULL, NULL, &yaml, &notes, &diag),
			 0);
	f = load(yaml);
	p = policy_file_get(f, 0);
	ck_assert_uint_eq(p->requesters.n_users, 0);
	ck_assert_str_eq(p->name, "vm--requesters---users---mallory");
	ck_assert_ptr_nonnull(p->description);
	ck_assert_ptr_null(strchr(p->description, '\n'));
	policy_file_free(f);
	free(yaml);
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST

/* --- initiate requests ---------------------------------------------------- */

static int initiate(const char *ports_json, const char *extra,
		    const char *policy, json_t *policies,
		    struct azure_request **reqs, size_t *n,
		    struct jit_diag *diag)
{
	_cleanup_free_ char *doc = NULL;
	struct azure_notes notes = { 0 };
	int r;

	ck_assert_int_ge(
		asprintf(&doc,
			 "{\"virtualMachines\": [{\"id\": "
			 "\"/subscriptions/s/resourceGroups/rg/providers/"
			 "Microsoft.Compute/virtualMachines/vm1\", \"ports\": "
			 "[%s]}]%s}",
			 ports_json, extra),
		0);
	diag_init(diag);
	*reqs = NULL;
	*n = 0;
	r = azure_initiate_parse("b.json", doc, strlen(doc), policy, NOW_MS,
				 policies, reqs, n, &notes, diag);
	azure_notes_release(&notes);
	return r;
}

UNIT_TEST("initiate", test_initiate_duration)
{
	static const struct {
		const char *end;
		json_int_t secs;
	} cases[] = {
		{ "2026-12-01T12:05:00Z", 300 },
		{ "2026-12-01T12:04:59.400Z", 300 },
		{ "2026-12-01T12:04:59.0000001Z", 300 },
		{ "2026-12-01T12:00:00.001Z", 1 },
		{ "2026-12-02T12:00:00Z", 86400 },
		{ "2026-12-01T14:00:00+02:00", 0 /* exactly now */ },
		{ "2026-12-01T16:00:00+02:00", 7200 },
		{ "2026-12-01T09:00:00-05:00", 7200 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct azure_request *reqs;
		struct jit_diag diag;
		_cleanup_free_ char *port = NULL;
		size_t n;
		int r;

		ck_assert_int_ge(
			asprintf(&port,
				 "{\"number\": 22, \"endTimeUtc\": "
				 "\"%s\", \"allowedSourceAddressPrefix\":"
				 " \"192.0.2.7\"}",
				 cases[i].end),
			0);
		r = initiate(port, "", NULL, NULL, &reqs, &n, &diag);
		if (cases[i].secs == 0) {
			/* Exactly now is not in the future. */
			ck_assert_int_eq(r, -EINVAL);
			ck_assert_ptr_nonnull(
				strstr(diag.text, "is not in the future"));
			diag_release(&diag);
			continue;
		}
		ck_assert_msg(r == 0, "'%s': %s", cases[i].end, diag.text);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(json_integer_value(json_object_get(
					 reqs[0].msg, "duration")),
				 cases[i].secs);
		azure_requests_free(reqs, n);
		diag_release(&diag);
	}
}
END_TEST

UNIT_TEST("initiate", test_initiate_message)
{
	struct azure_request *reqs;
	struct jit_diag diag;
	size_t n;
	json_t *m;

	ck_assert_int_eq(initiate("{\"number\": 3389, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"2001:db8::/48\"}",
				  ", \"justification\": \"patch night\"", "rdp",
				  NULL, &reqs, &n, &diag),
			 0);
	ck_assert_uint_eq(n, 1);
	m = reqs[0].msg;
	ck_assert_str_eq(json_string_value(json_object_get(m, "op")),
			 "request");
	ck_assert_str_eq(json_string_value(json_object_get(m, "policy")),
			 "rdp");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "port")), 3389);
	ck_assert_str_eq(json_string_value(json_object_get(m, "source")),
			 "2001:db8::/48");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "duration")),
			 3600);
	ck_assert_str_eq(json_string_value(json_object_get(m, "reason")),
			 "patch night");
	/* No protocol: the agent takes the port's entry, as the cloud does. */
	ck_assert_ptr_null(json_object_get(m, "protocol"));
	ck_assert_str_eq(reqs[0].path, "virtualMachines[0].ports[0]");
	ck_assert_int_eq(reqs[0].end_ms, NOW_MS + 3600000);
	azure_requests_free(reqs, n);
	diag_release(&diag);
}
END_TEST

UNIT_TEST("initiate", test_initiate_errors)
{
	static const struct {
		const char *ports, *extra, *error;
	} cases[] = {
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T11:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].endTimeUtc: "
		  "'2026-12-01T11:00:00Z' is in the past (1h ago)" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-02T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].endTimeUtc: "
		  "'2026-12-02T13:00:00Z' is 1d1h from now, beyond the limit "
		  "of one day" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].endTimeUtc: "
		  "'2026-12-01T13:00:00' has no UTC offset; end it with Z "
		  "(the time in UTC)" },
		{ "{\"number\": 22, \"endTimeUtc\": \"tomorrow\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].endTimeUtc: 'tomorrow' is not "
		  "a date-time with a UTC offset like 2026-12-01T14:03:11Z" },
		{ "{\"number\": 22, \"endTimeUtc\": 1796130000, "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].endTimeUtc: expected a string, "
		  "got an integer" },
		{ "{\"number\": 22, \"allowedSourceAddressPrefix\": "
		  "\"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0]: missing required field "
		  "'endTimeUtc'" },
		{ "{\"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0]: missing required field "
		  "'number'" },
		{ "{\"number\": \"ssh\", \"endTimeUtc\": "
		  "\"2026-12-01T13:00:00Z\", \"allowedSourceAddressPrefix\": "
		  "\"192.0.2.7\"}",
		  "",
		  "virtualMachines[0].ports[0].number: expected an integer, "
		  "got a string" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\"}",
		  "",
		  "virtualMachines[0].ports[0]: missing "
		  "allowedSourceAddressPrefix: the cloud would use the "
		  "caller's address, which jitctl cannot know; give the "
		  "address to open from" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\", "
		  "\"allowedSourceAddressPrefixes\": [\"192.0.2.8\"]}",
		  "",
		  "virtualMachines[0].ports[0]: both "
		  "allowedSourceAddressPrefix and allowedSourceAddressPrefixes "
		  "are given; give one of them" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"*\"}",
		  "",
		  "virtualMachines[0].ports[0].allowedSourceAddressPrefix: '*' "
		  "would open the port to every address; give an address or a "
		  "prefix" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": 3232235777}",
		  "",
		  "virtualMachines[0].ports[0].allowedSourceAddressPrefix: "
		  "expected a string, got an integer" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  ", \"justification\": 42",
		  "justification: expected a string, got an integer" },
		{ "{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		  "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}",
		  ", \"justification\": \"line one\\nline two\"",
		  "justification: contains control characters (line breaks, "
		  "tabs)" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct azure_request *reqs;
		struct jit_diag diag;
		size_t n;

		ck_assert_msg(initiate(cases[i].ports, cases[i].extra, NULL,
				       NULL, &reqs, &n, &diag) == -EINVAL,
			      "case %zu should fail", i);
		ck_assert_ptr_null(reqs);
		ck_assert_msg(diag.text && strstr(diag.text, cases[i].error),
			      "case %zu: want\n  %s\ngot\n  %s", i,
			      cases[i].error, diag.text);
		ck_assert_uint_eq(diag.errors, 1);
		diag_release(&diag);
	}
}
END_TEST

UNIT_TEST("initiate", test_initiate_justification_length)
{
	char port[] = "{\"number\": 22, \"endTimeUtc\": "
		      "\"2026-12-01T13:00:00Z\", "
		      "\"allowedSourceAddressPrefix\": \"192.0.2.7\"}";
	char extra[400], text[300];
	struct azure_request *reqs;
	struct jit_diag diag;
	size_t n;

	memset(text, 'j', 255);
	text[255] = '\0';
	snprintf(extra, sizeof(extra), ", \"justification\": \"%s\"", text);
	ck_assert_int_eq(initiate(port, extra, NULL, NULL, &reqs, &n, &diag),
			 0);
	ck_assert_str_eq(
		json_string_value(json_object_get(reqs[0].msg, "reason")),
		text);
	azure_requests_free(reqs, n);
	diag_release(&diag);

	text[255] = 'j';
	text[256] = '\0';
	snprintf(extra, sizeof(extra), ", \"justification\": \"%s\"", text);
	ck_assert_int_eq(initiate(port, extra, NULL, NULL, &reqs, &n, &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text, "b.json: error: justification: 256 bytes; "
				    "at most 255 are kept in the request "
				    "record\n");
	diag_release(&diag);
}
END_TEST

UNIT_TEST("initiate", test_initiate_policy_limits)
{
	json_t *policies = json_loads(
		"[{\"name\": \"vm1\", \"ports\": ["
		"{\"port_lo\": 22, \"port_hi\": 22, \"protocol\": \"tcp\", "
		"\"max_duration\": \"1h\", \"max_duration_s\": 3600}, "
		"{\"port_lo\": 5985, \"port_hi\": 5986, \"protocol\": \"tcp\", "
		"\"max_duration\": \"3h\", \"max_duration_s\": 10800}]}]",
		0, NULL);
	struct azure_request *reqs;
	struct jit_diag diag;
	size_t n;

	ck_assert_ptr_nonnull(policies);
	/* Within the limits, also in a range entry. */
	ck_assert_int_eq(initiate("{\"number\": 22, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}, "
				  "{\"number\": 5986, \"endTimeUtc\": "
				  "\"2026-12-01T15:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}",
				  "", NULL, policies, &reqs, &n, &diag),
			 0);
	ck_assert_uint_eq(n, 2);
	azure_requests_free(reqs, n);
	diag_release(&diag);

	/* Beyond the port's limit; a port the policy does not protect. */
	ck_assert_int_eq(initiate("{\"number\": 22, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:01Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}, "
				  "{\"number\": 23, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}",
				  "", NULL, policies, &reqs, &n, &diag),
			 -EINVAL);
	ck_assert_ptr_null(reqs);
	ck_assert_str_eq(diag.text,
			 "b.json: error: virtualMachines[0].ports[0]."
			 "endTimeUtc: '2026-12-01T13:00:01Z' is 1h1s from now, "
			 "beyond the limit of 1h for port 22 under policy "
			 "'vm1'\n"
			 "b.json: error: virtualMachines[0].ports[1].number: "
			 "policy 'vm1' does not protect port 23\n");
	diag_release(&diag);

	/* A policy not in force, reported once for all its ports. */
	ck_assert_int_eq(initiate("{\"number\": 22, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}, "
				  "{\"number\": 23, \"endTimeUtc\": "
				  "\"2026-12-01T13:00:00Z\", "
				  "\"allowedSourceAddressPrefix\": "
				  "\"192.0.2.7\"}",
				  "", "other", policies, &reqs, &n, &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text,
			 "b.json: error: virtualMachines[0]: policy 'other' is "
			 "not in force on this host (import it first, or name "
			 "one with --policy)\n");
	diag_release(&diag);
	json_decref(policies);
}
END_TEST

UNIT_TEST("initiate", test_initiate_policy_option)
{
	static const char two[] =
		"{\"virtualMachines\": ["
		"{\"id\": \"/x/a\", \"ports\": [{\"number\": 22, "
		"\"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		"\"allowedSourceAddressPrefix\": \"192.0.2.7\"}]}, "
		"{\"id\": \"/x/b\", \"ports\": [{\"number\": 22, "
		"\"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		"\"allowedSourceAddressPrefix\": \"192.0.2.7\"}]}]}";
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	size_t n = 0;

	diag_init(&diag);
	ck_assert_int_eq(azure_initiate_parse("b.json", two, strlen(two), "ssh",
					      NOW_MS, NULL, &reqs, &n, &notes,
					      &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text, "b.json: error: virtualMachines: 2 "
				    "virtual machines, but --policy names one "
				    "policy; write one virtual machine per "
				    "body\n");
	diag_release(&diag);

	ck_assert_int_eq(azure_initiate_parse("b.json", two, strlen(two), NULL,
					      NOW_MS, NULL, &reqs, &n, &notes,
					      &diag),
			 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(
		json_string_value(json_object_get(reqs[1].msg, "policy")), "b");
	azure_requests_free(reqs, n);
	diag_release(&diag);

	ck_assert_int_eq(azure_initiate_parse("b.json", two, strlen(two),
					      "No Such", NOW_MS, NULL, &reqs,
					      &n, &notes, &diag),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(diag.text, "--policy 'No Such': a policy "
						"name is 1 to 32 characters"));
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST

/* --- request records ------------------------------------------------------ */

static json_t *record(const char *status, const char *why, int lo, int hi,
		      const char *source, bool started)
{
	json_t *r = json_pack("{s:I, s:s, s:{s:s, s:i}, s:s, s:i, s:i, s:s, "
			      "s:s, s:s, s:I}",
			      "id", (json_int_t)1, "policy", "ssh", "requestor",
			      "user", "alice", "uid", 1001, "source", source,
			      "port_lo", lo, "port_hi", hi, "reason", "",
			      "status", status, "status_reason", why,
			      "requested_ms", (json_int_t)NOW_MS);

	if (started) {
		json_object_set_new(r, "start_ms", json_integer(NOW_MS));
		json_object_set_new(r, "end_ms", json_integer(NOW_MS + 60000));
	}
	return r;
}

UNIT_TEST("requests", test_requests_status)
{
	static const struct {
		const char *status, *why, *az_status, *az_reason;
	} cases[] = {
		{ "initiated", "", "Initiated", "UserRequested" },
		{ "expired", "expired", "Revoked", "Expired" },
		{ "revoked", "user requested", "Revoked", "UserRequested" },
		{ "revoked", "policy changed", "Revoked", "UserRequested" },
		{ "revoked", "newer request initiated", "Revoked",
		  "NewerRequestInitiated" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *in =
			json_pack("[o]", record(cases[i].status, cases[i].why,
						22, 22, "192.0.2.7/32", true));
		json_t *out = NULL, *port;
		size_t skipped;
		char err[128];

		ck_assert_int_eq(azure_requests_format(in, &out, &skipped, err,
						       sizeof(err)),
				 0);
		ck_assert_uint_eq(skipped, 0);
		port = json_array_get(
			json_object_get(
				json_array_get(
					json_object_get(json_array_get(out, 0),
							"virtualMachines"),
					0),
				"ports"),
			0);
		ck_assert_str_eq(
			json_string_value(json_object_get(port, "status")),
			cases[i].az_status);
		ck_assert_str_eq(json_string_value(
					 json_object_get(port, "statusReason")),
				 cases[i].az_reason);
		ck_assert_str_eq(json_string_value(json_object_get(
					 port, "allowedSourceAddressPrefix")),
				 "192.0.2.7");
		ck_assert_str_eq(
			json_string_value(json_object_get(port, "endTimeUtc")),
			"2026-12-01T12:01:00.000Z");
		json_decref(in);
		json_decref(out);
	}
}
END_TEST

UNIT_TEST("requests", test_requests_skip_and_errors)
{
	json_t *in = json_pack(
		"[o, o, o, o]",
		record("pending", "", 22, 22, "192.0.2.7/32", false),
		record("denied", "denied: no", 22, 22, "192.0.2.7/32", false),
		record("revoked", "user requested", 22, 22, "192.0.2.7/32",
		       false),
		record("initiated", "", 5985, 5986, "192.0.2.0/24", true));
	json_t *out = NULL, *ports;
	size_t skipped;
	char err[128];

	ck_assert_int_eq(
		azure_requests_format(in, &out, &skipped, err, sizeof(err)), 0);
	/* Pending, denied, and withdrawn while pending: never opened. */
	ck_assert_uint_eq(skipped, 3);
	ck_assert_uint_eq(json_array_size(out), 1);
	ports = json_object_get(
		json_array_get(json_object_get(json_array_get(out, 0),
					       "virtualMachines"),
			       0),
		"ports");
	ck_assert_uint_eq(json_array_size(ports), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(ports, 1), "number")),
			 5986);
	ck_assert_str_eq(json_string_value(
				 json_object_get(json_array_get(ports, 0),
						 "allowedSourceAddressPrefix")),
			 "192.0.2.0/24");
	json_decref(in);
	json_decref(out);

	in = json_pack("[{s:s, s:I}]", "status", "initiated", "start_ms",
		       (json_int_t)NOW_MS);
	ck_assert_int_eq(
		azure_requests_format(in, &out, &skipped, err, sizeof(err)),
		-EINVAL);
	ck_assert_str_eq(err, "request record 0 lacks status, policy, source, "
			      "port_lo, port_hi, start_ms or end_ms");
	json_decref(in);
	in = json_string("x");
	ck_assert_int_eq(
		azure_requests_format(in, &out, &skipped, err, sizeof(err)),
		-EINVAL);
	json_decref(in);
}
END_TEST

/* --- documents people have ------------------------------------------------ */

/*
 * A template whose one JIT resource names its virtual machine by id_expr,
 * with a few parameters and variables to refer to.
 */
static int import_template(const char *id_expr, struct azure_policy **pols,
			   size_t *n, struct jit_diag *diag)
{
	_cleanup_free_ char *doc = NULL;
	struct azure_notes notes = { 0 };
	int r;

	ck_assert_int_ge(
		asprintf(
			&doc,
			"{\"$schema\": \"https://schema.management.azure."
			"com/schemas/2019-04-01/deploymentTemplate.json#\", "
			"\"parameters\": {\"vm\": {\"type\": \"string\", "
			"\"defaultValue\": \"db-1\"}, \"n\": {\"type\": "
			"\"int\", \"defaultValue\": 2}, \"bare\": {\"type\": "
			"\"string\"}}, \"variables\": {\"rg\": \"rg-db\", "
			"\"vmVar\": \"[concat(parameters('vm'), '-x')]\"}, "
			"\"resources\": [{\"type\": \"Microsoft.Security/"
			"locations/jitNetworkAccessPolicies\", \"apiVersion\": "
			"\"2020-01-01\", \"name\": \"x/default\", "
			"\"properties\": {\"virtualMachines\": [{\"id\": "
			"\"%s\", \"ports\": [{\"number\": 22, \"protocol\": "
			"\"TCP\", \"allowedSourceAddressPrefix\": \"*\", "
			"\"maxRequestAccessDuration\": \"PT1H\"}]}]}}]}",
			id_expr),
		0);
	diag_init(diag);
	*pols = NULL;
	*n = 0;
	r = azure_policy_import("t.json", doc, strlen(doc), NULL, NULL, pols, n,
				&notes, diag);
	azure_notes_release(&notes);
	return r;
}

UNIT_TEST("documents", test_template_expressions)
{
	static const struct {
		const char *expr, *id, *error;
	} cases[] = {
		{ "/s/rg/providers/Microsoft.Compute/virtualMachines/plain",
		  "/s/rg/providers/Microsoft.Compute/virtualMachines/plain",
		  NULL },
		{ "[parameters('vm')]", "db-1", NULL },
		{ "[ parameters ( 'vm' ) ]", "db-1", NULL },
		{ "[variables('vmVar')]", "db-1-x", NULL },
		{ "[concat('a', 'b''c', parameters('vm'))]", "ab'cdb-1", NULL },
		{ "[resourceId('Microsoft.Compute/virtualMachines', "
		  "parameters('vm'))]",
		  "Microsoft.Compute/virtualMachines/db-1", NULL },
		{ "[resourceId(variables('rg'), "
		  "'Microsoft.Compute/virtualMachines', 'vm2')]",
		  "/resourceGroups/rg-db/providers/Microsoft.Compute/"
		  "virtualMachines/vm2",
		  NULL },
		{ "[resourceId('sub', 'rg', "
		  "'Microsoft.Compute/virtualMachines', "
		  "'vm3')]",
		  "/subscriptions/sub/resourceGroups/rg/providers/"
		  "Microsoft.Compute/virtualMachines/vm3",
		  NULL },
		{ "[resourceId('Microsoft.Compute/virtualMachines/extensions', "
		  "'vm4', 'ext')]",
		  "Microsoft.Compute/virtualMachines/vm4/extensions/ext",
		  NULL },
		{ "[[literal/vm5]", "[literal/vm5]", NULL },
		{ "[parameters('bare')]", NULL,
		  "parameter 'bare' has no defaultValue" },
		{ "[parameters('none')]", NULL,
		  "the template has no parameter 'none'" },
		{ "[parameters('n')]", NULL,
		  "virtualMachines[0].id: expected a string, got an integer" },
		{ "[subscription().subscriptionId]", NULL,
		  "subscription() is not evaluated" },
		{ "[resourceGroup().id]", NULL,
		  "resourceGroup() is not evaluated" },
		{ "[concat(parameters('vm'))[0]]", NULL,
		  "properties of a result (.name, [0]) are not evaluated" },
		{ "[concat('a' 'b')]", NULL,
		  "expected ',' or ')' after an argument of concat()" },
		{ "[concat('a', parameters('n'))]", NULL,
		  "concat() wants a string as argument 2" },
		{ "[resourceId('vm6')]", NULL,
		  "resourceId() wants a resource type and its name(s)" },
		{ "[resourceId('Microsoft.Compute/virtualMachines', 'a', 'b')]",
		  NULL,
		  "resourceId() wants one name for each type of "
		  "Microsoft.Compute/virtualMachines" },
		{ "[parameters('vm')] ", "[parameters('vm')] ",
		  NULL /* not an expression: it does not end with ']' */ },
		{ "['unclosed]", NULL, "a string is not closed" },
		{ "[42]", NULL,
		  "virtualMachines[0].id: expected a string, got an integer" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct azure_policy *pols;
		struct jit_diag diag;
		size_t n;
		int r = import_template(cases[i].expr, &pols, &n, &diag);

		if (cases[i].id) {
			ck_assert_msg(r == 0, "%s: %s", cases[i].expr,
				      diag.text);
			ck_assert_uint_eq(n, 1);
			ck_assert_str_eq(pols[0].vm_id, cases[i].id);
		} else {
			ck_assert_msg(r == -EINVAL, "%s should fail",
				      cases[i].expr);
			ck_assert_msg(strstr(diag.text, cases[i].error),
				      "%s: want %s, got %s", cases[i].expr,
				      cases[i].error, diag.text);
		}
		azure_policies_free(pols, n);
		diag_release(&diag);
	}
}
END_TEST

/*
 * What requests --format azure prints, request --azure reads back: the
 * live grants are asked for again, until the end they had.
 */
UNIT_TEST("documents", test_records_round_trip)
{
	json_t *records = json_array(), *out = NULL;
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	size_t skipped, n = 0;
	char err[256], *text;
	json_t *r;

	r = record("initiated", "", 3389, 3390, "2001:db8::/64", true);
	json_object_set_new(r, "end_ms", json_integer(NOW_MS + 5400000));
	json_object_set_new(r, "reason", json_string("patch night"));
	json_array_append_new(records, r);
	json_array_append_new(records, record("expired", "expired", 22, 22,
					      "192.0.2.7/32", true));
	json_array_append_new(
		records, record("pending", "", 22, 22, "192.0.2.8/32", false));
	ck_assert_int_eq(azure_requests_format(records, &out, &skipped, err,
					       sizeof(err)),
			 0);
	text = json_dumps(out, JSON_INDENT(2));
	ck_assert_ptr_nonnull(text);

	/* The clock has moved on by half an hour since they were listed. */
	diag_init(&diag);
	ck_assert_int_eq(azure_initiate_parse("records.json", text,
					      strlen(text), NULL,
					      NOW_MS + 1800000, NULL, &reqs, &n,
					      &notes, &diag),
			 0);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		json_t *m = reqs[i].msg;

		ck_assert_str_eq(str_of(m, "policy"), "ssh");
		ck_assert_int_eq(json_integer_value(json_object_get(m, "port")),
				 3389 + (int)i);
		ck_assert_str_eq(str_of(m, "source"), "2001:db8::/64");
		ck_assert_str_eq(str_of(m, "reason"), "patch night");
		ck_assert_int_eq(
			json_integer_value(json_object_get(m, "duration")),
			3600);
		ck_assert_int_eq(reqs[i].end_ms, NOW_MS + 5400000);
	}
	/* The expired one is a note, not a request. */
	ck_assert_uint_eq(notes.n, 2);
	ck_assert_str_eq(notes.v[0], "[1].virtualMachines[0].ports[0]: Revoked "
				     "(Expired): not requested again");

	azure_requests_free(reqs, n);
	azure_notes_release(&notes);
	diag_release(&diag);

	/* --policy: records of one policy only. */
	diag_init(&diag);
	ck_assert_int_eq(azure_initiate_parse("records.json", text,
					      strlen(text), "ssh",
					      NOW_MS + 1800000, NULL, &reqs, &n,
					      &notes, &diag),
			 0);
	azure_requests_free(reqs, n);
	azure_notes_release(&notes);
	diag_release(&diag);
	free(text);
	json_decref(out);
	json_decref(records);
}
END_TEST

UNIT_TEST("documents", test_records_policy_option)
{
	static const char two[] =
		"[{\"virtualMachines\": [{\"id\": \"ssh\", \"ports\": "
		"[{\"number\": 22, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		"\"allowedSourceAddressPrefix\": \"192.0.2.7\", \"status\": "
		"\"Initiated\"}]}]}, "
		"{\"virtualMachines\": [{\"id\": \"rdp\", \"ports\": "
		"[{\"number\": 3389, \"endTimeUtc\": \"2026-12-01T13:00:00Z\", "
		"\"allowedSourceAddressPrefix\": \"192.0.2.7\", \"status\": "
		"\"Initiated\"}]}]}]";
	struct azure_notes notes = { 0 };
	struct azure_request *reqs = NULL;
	struct jit_diag diag;
	size_t n = 0;

	diag_init(&diag);
	ck_assert_int_eq(azure_initiate_parse("r.json", two, strlen(two),
					      "jump", NOW_MS, NULL, &reqs, &n,
					      &notes, &diag),
			 -EINVAL);
	ck_assert_str_eq(diag.text,
			 "r.json: error: [1].virtualMachines[0]: a second "
			 "virtual machine (the first is at "
			 "[0].virtualMachines[0]), but --policy names one "
			 "policy; write one virtual machine per document\n");
	diag_release(&diag);
	azure_notes_release(&notes);
}
END_TEST
