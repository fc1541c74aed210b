/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Prometheus text format of metric families: exact output for a few
 * families, escaping of help and label values, numbers, and every kind of
 * family it refuses to write.
 */
#include <check.h>
#include <math.h>

#include "metrics.h"
#include "util.h"
#include "runner.h"

/* Formats families, which must be accepted; returns the text. */
static char *format_ok(json_t *families)
{
	char why[256], *text = NULL;
	int r = metrics_format(families, &text, why, sizeof(why));

	ck_assert_msg(r == 0, "refused: %s", why);
	ck_assert_ptr_nonnull(text);
	return text;
}

/* Formats families, which must be refused with a reason containing want. */
static void format_refused(json_t *families, const char *want)
{
	char why[256], *text = NULL;
	int r = metrics_format(families, &text, why, sizeof(why));

	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(text);
	ck_assert_msg(strstr(why, want), "'%s' lacks '%s'", why, want);
}

UNIT_TEST("text", test_names)
{
	static const char *const good[] = { "a", "_x", "jit_enforcer_up",
					    "a:b_c9", ":colon" };
	static const char *const bad[] = { "", "9a", "a-b", "a b", "é", "a.b" };

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		ck_assert_msg(metrics_name_ok(good[i]), "%s", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(!metrics_name_ok(bad[i]), "%s", bad[i]);
	ck_assert(!metrics_name_ok(NULL));
	ck_assert(metrics_label_ok("result"));
	ck_assert(metrics_label_ok("_x9"));
	/* No colon in label names, and "__" is Prometheus' own. */
	ck_assert(!metrics_label_ok("a:b"));
	ck_assert(!metrics_label_ok("__name__"));
	ck_assert(!metrics_label_ok("9a"));
	ck_assert(!metrics_label_ok(""));
}
END_TEST

UNIT_TEST("text", test_exact_text)
{
	json_t *fams = json_array(), *f;
	char *text;

	f = metrics_family(fams, "jit_enforcer_requests_total", "counter",
			   "Requests by result.");
	metrics_sample(f, json_integer(3), "result", "granted", NULL);
	metrics_sample(f, json_integer(0), "result", "pending", NULL);
	f = metrics_family(fams, "jit_enforcer_grants_live", "gauge",
			   "Live grants.");
	metrics_sample(f, json_integer(100000), NULL);
	f = metrics_family(fams, "jit_enforcer_decisions_total", "counter",
			   "Two labels, in the order given.");
	metrics_sample(f, json_integer(7), "event", "request", "result",
		       "refused", NULL);
	text = format_ok(fams);
	ck_assert_str_eq(
		text,
		"# HELP jit_enforcer_requests_total Requests by result.\n"
		"# TYPE jit_enforcer_requests_total counter\n"
		"jit_enforcer_requests_total{result=\"granted\"} 3\n"
		"jit_enforcer_requests_total{result=\"pending\"} 0\n"
		"# HELP jit_enforcer_grants_live Live grants.\n"
		"# TYPE jit_enforcer_grants_live gauge\n"
		"jit_enforcer_grants_live 100000\n"
		"# HELP jit_enforcer_decisions_total Two labels, in the order "
		"given.\n"
		"# TYPE jit_enforcer_decisions_total counter\n"
		"jit_enforcer_decisions_total{event=\"request\",result="
		"\"refused\"} 7\n");
	free(text);
	json_decref(fams);
}
END_TEST

UNIT_TEST("text", test_escaping)
{
	json_t *fams = json_array(), *f;
	char *text;

	f = metrics_family(fams, "x", "gauge",
			   "back\\slash, \"quotes\" and a\nnewline");
	metrics_sample(f, json_integer(1), "v", "a\\b \"c\"\nd", NULL);
	text = format_ok(fams);
	/* Help keeps its quotes; label values escape them. */
	ck_assert_str_eq(text,
			 "# HELP x back\\\\slash, \"quotes\" and a\\nnewline\n"
			 "# TYPE x gauge\n"
			 "x{v=\"a\\\\b \\\"c\\\"\\nd\"} 1\n");
	free(text);
	json_decref(fams);
}
END_TEST

UNIT_TEST("text", test_numbers)
{
	json_t *fams = json_array(), *f;
	char *text;

	f = metrics_family(fams, "t", "gauge", "h");
	metrics_sample(f, json_real(1795926934.156), "k", "ts", NULL);
	metrics_sample(f, json_real(0.25), "k", "frac", NULL);
	metrics_sample(f, json_integer(-4), "k", "neg", NULL);
	metrics_sample(f, json_integer(9007199254740993LL), "k", "big", NULL);
	metrics_sample(f, json_real(0), "k", "zero", NULL);
	text = format_ok(fams);
	ck_assert_str_eq(text, "# HELP t h\n# TYPE t gauge\n"
			       "t{k=\"ts\"} 1795926934.156\n"
			       "t{k=\"frac\"} 0.25\n"
			       "t{k=\"neg\"} -4\n"
			       "t{k=\"big\"} 9007199254740993\n"
			       "t{k=\"zero\"} 0\n");
	free(text);
	json_decref(fams);
}
END_TEST

UNIT_TEST("text", test_empty)
{
	json_t *fams = json_array();
	char *text;

	/* No families: no text, and that is fine. */
	text = format_ok(fams);
	ck_assert_str_eq(text, "");
	free(text);
	/* A family without samples still says what it is. */
	metrics_family(fams, "n", "gauge", "none yet");
	text = format_ok(fams);
	ck_assert_str_eq(text, "# HELP n none yet\n# TYPE n gauge\n");
	free(text);
	json_decref(fams);
}
END_TEST

UNIT_TEST("text", test_refused)
{
	json_t *fams;

	fams = json_array();
	metrics_family(fams, "bad-name", "gauge", "h");
	format_refused(fams, "'bad-name' is not a metric name");
	json_decref(fams);

	fams = json_array();
	metrics_family(fams, "jit_requests", "counter", "h");
	format_refused(fams, "a counter's name ends in _total");
	json_decref(fams);

	fams = json_array();
	metrics_family(fams, "h", "histogram", "h");
	format_refused(fams, "is not counter or gauge");
	json_decref(fams);

	fams = json_array();
	metrics_sample(metrics_family(fams, "g", "gauge", "h"), json_integer(1),
		       "a-b", "x", NULL);
	format_refused(fams, "'a-b' is not a label name");
	json_decref(fams);

	fams = json_array();
	metrics_sample(metrics_family(fams, "g", "gauge", "h"),
		       json_string("1"), NULL);
	format_refused(fams, "not a number");
	json_decref(fams);

	fams = json_array();
	metrics_family(fams, "g", "gauge", "h");
	metrics_family(fams, "g", "gauge", "h");
	format_refused(fams, "g: named twice");
	json_decref(fams);

	fams = json_object();
	format_refused(fams, "not a list");
	json_decref(fams);
}
END_TEST

/* What the agent sends goes through JSON and back unchanged in order. */
UNIT_TEST("text", test_round_trip)
{
	json_t *fams = json_array(), *f, *back;
	char *a, *b, *wire;

	f = metrics_family(fams, "jit_enforcer_alerts_total", "counter",
			   "Alerts.");
	metrics_sample(f, json_integer(2), "type", "JIT_TABLE_TAMPERED",
		       "severity", "High", NULL);
	metrics_sample(f, json_integer(0), "type", "JIT_WIDE_GRANT", "severity",
		       "Medium", NULL);
	wire = json_dumps(fams, JSON_COMPACT);
	back = json_loads(wire, 0, NULL);
	a = format_ok(fams);
	b = format_ok(back);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(
		a, "{type=\"JIT_TABLE_TAMPERED\",severity=\"High\"} 2\n"));
	free(a);
	free(b);
	free(wire);
	json_decref(back);
	json_decref(fams);
}
END_TEST
