# SPDX-License-Identifier: GPL-2.0-or-later
# What the tests of the command lines share; each sources this once. The
# programs under test, a temporary directory removed at exit (after the
# test's own on_exit, if it defines one), and check/finish for the "ok -"
# and "not ok -" lines and the verdict. A test may define check_failed to
# say more about a failed check.
set -u
: "${BUILD_DIR:?}" "${SRC_DIR:?}"
ENFORCER="$BUILD_DIR/enforcer/jit-enforcer"
JITCTL="$BUILD_DIR/tools/jitctl"
TMP="$(mktemp -d)"
PASSES=0
FAILS=0

cli_cleanup() {
	if declare -F on_exit >/dev/null; then on_exit; fi
	rm -rf "$TMP"
}
trap cli_cleanup EXIT

# check WHAT CMD...: one line for CMD's verdict, described by WHAT.
check() {
	local what="$1"
	shift
	if "$@"; then
		PASSES=$((PASSES + 1))
		echo "ok - $what"
	else
		FAILS=$((FAILS + 1))
		echo "not ok - $what" >&2
		if declare -F check_failed >/dev/null; then check_failed; fi
	fi
}

# The counts, and the test's exit status: 0 only when nothing failed.
finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}
