/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging keeps errno: callers return -errno right after logging it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "runner.h"

/* Lines stderr would hold after log_open(ident, true) and one log_info(). */
static long stderr_bytes(bool journal)
{
	char path[] = "/tmp/test-log.XXXXXX", env[64];
	int fd = mkstemp(path);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stderr);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (journal ? 0 : 1));
	setenv("JOURNAL_STREAM", env, 1);
	log_open("test", true);
	log_info("one line");
	log_close();
	fflush(stderr);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	return (long)st.st_size;
}

/*
 * First: test_errno_kept closes stderr, and under valgrind the cases share
 * one process. Under systemd, stderr is the journal (JOURNAL_STREAM names it),
 * and so is syslog: a line written to both showed twice. Elsewhere stderr keeps
 * it.
 */
UNIT_TEST("log", test_journal_once)
{
	ck_assert_int_eq(stderr_bytes(true), 0);
	ck_assert_int_gt(stderr_bytes(false), 0);
}
END_TEST

UNIT_TEST("log", test_errno_kept)
{
	log_open("test", false);
	errno = ENOSPC;
	log_err("writing: %m");
	ck_assert_int_eq(errno, ENOSPC);
	/* Even when a failing write to stderr sets errno itself. */
	fclose(stderr);
	errno = EROFS;
	log_err("again: %m");
	ck_assert_int_eq(errno, EROFS);
}
END_TEST

/* What reaches a log line or a terminal cannot forge a line or hide text. */
UNIT_TEST("log", test_safe_text)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text, é and 中", "plain text, é and 中" },
		{ "a\nb\rc\td", "a?b?c?d" },
		{ "\x1b[2Jcleared", "?[2Jcleared" },
		{ "del\x7f", "del?" },
		{ "csi \xc2\x9b", "csi ?" },	       /* U+009B */
		{ "\xe2\x80\xaegnp.exe", "?gnp.exe" }, /* U+202E */
		{ "sep\xe2\x80\xa8", "sep?" },	       /* U+2028 */
		{ "bad \xff byte", "bad ? byte" },
		{ "cut \xe4\xb8", "cut ??" },
		{ "overlong \xc0\xaf", "overlong ??" },
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		ck_assert_int_eq(text_is_safe(buf),
				 streq(cases[i].in, cases[i].out));
		text_make_safe(buf);
		ck_assert_str_eq(buf, cases[i].out);
		ck_assert(text_is_safe(buf));
	}
}
END_TEST
