/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "util.h"
#include "runner.h"

/* The lines of path, each parsed; fails the test on one that is not JSON. */
static size_t lines_ok(const char *path)
{
	char buf[4096];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(buf, sizeof(buf), f)) {
		json_t *j = json_loads(buf, 0, NULL);

		ck_assert_msg(j, "line %zu is not JSON: %s", n + 1, buf);
		json_decref(j);
		n++;
	}
	fclose(f);
	return n;
}

UNIT_TEST("trail", test_schema_fields)
{
	char path[] = "/tmp/test-audit-XXXXXX";
	struct jit_audit *a = NULL;
	char buf[2048];
	int fd = mkstemp(path);
	FILE *f;
	json_t *j;

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(audit_open(path, false, "audit", 0, &a), 0);
	audit_set_trail(a);
	ck_assert_int_eq(
		audit_event(a, json_pack("{s:s, s:s}", "event", "expire",
					 "result", "expired")),
		0);
	audit_close(a);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(path);
	/* time, then host, then the line's own fields, then the rest. */
	ck_assert_msg(!strncmp(buf, "{\"time\":\"", 9), "%s", buf);
	ck_assert_msg(strstr(buf, "Z\",\"host\":\"") &&
			      strstr(buf, "\",\"event\":\"expire\""),
		      "%s", buf);
	j = json_loads(buf, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "channel")),
			 "agent");
	ck_assert(json_is_null(json_object_get(j, "policy")));
	ck_assert(json_is_null(json_object_get(j, "ports")));
	ck_assert(json_is_null(json_object_get(j, "requestor")));
	ck_assert(json_is_null(json_object_get(j, "source")));
	ck_assert(json_is_null(
		json_object_get(json_object_get(j, "actor"), "uid")));
	json_decref(j);
}
END_TEST

/*
 * A disk that fills in the middle of a line: the part written is cut, so
 * that the next line (once there is room) starts a line of its own. A
 * file size limit stands in for the full disk.
 */
UNIT_TEST("trail", test_short_write_cut)
{
	char path[] = "/tmp/test-audit-XXXXXX";
	struct jit_audit *a = NULL;
	struct rlimit old, lim;
	struct stat st;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(audit_open(path, false, "audit", 0, &a), 0);
	audit_set_trail(a);
	ck_assert_int_eq(audit_event(a, json_pack("{s:s}", "event", "one")), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 40;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_lt(audit_event(a, json_pack("{s:s}", "event", "two")), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(audit_event(a, json_pack("{s:s}", "event", "three")),
			 0);
	audit_close(a);
	ck_assert_uint_eq(lines_ok(path), 2);
	unlink(path);
}
END_TEST
