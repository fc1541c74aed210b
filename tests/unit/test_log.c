/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging keeps errno: callers return -errno right after logging it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "util.h"
#include "runner.h"

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
