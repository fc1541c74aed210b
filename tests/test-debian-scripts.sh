#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The package's maintainer scripts, run with the arguments dpkg gives them,
# against fake commands on PATH that record what they were asked (nothing
# on this machine is changed: rm, nft, logger, jit-enforcer and
# deb-systemd-invoke are all fakes). Removing or upgrading the package
# keeps the deny; only a purge lifts it, and says so in syslog's authpriv.
set -u
: "${SRC_DIR:?}"
DEB="$SRC_DIR/tools/debian"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*" >&2; FAILS=$((FAILS + 1)); }
check() { local w="$1"; shift; if "$@"; then ok "$w"; else fail "$w"; fi; }

mkdir -p "$TMP/bin" "$TMP/run/systemd/system"
for c in rm nft logger jit-enforcer deb-systemd-invoke systemctl; do
	cat >"$TMP/bin/$c" <<F
#!/bin/sh
echo "$c \$*" >>"$TMP/calls"
[ "$c" != nft ] || [ "\$1" != list ] || [ -e "$TMP/table" ]
F
	chmod +x "$TMP/bin/$c"
done
# run SCRIPT ARGS...: the script with the fakes first on PATH; calls in $TMP/calls
run() {
	local script="$1"
	shift
	: >"$TMP/calls"
	# The scripts name /usr/sbin/jit-enforcer by path where they use it,
	# and look for a running systemd: sed points both at the test's own.
	sed "s|/usr/sbin/jit-enforcer|$TMP/bin/jit-enforcer|g; s|/run/systemd/system|$TMP/run/systemd/system|g; s|#DEBHELPER#||" \
		"$DEB/jit-enforcer.$script" >"$TMP/$script"
	env -i PATH="$TMP/bin:/usr/bin:/bin" sh "$TMP/$script" "$@" >"$TMP/out" 2>&1
}
called() { grep -q "$1" "$TMP/calls"; }

touch "$TMP/table"
for args in "remove" "upgrade 1.0" "failed-upgrade 1.0" "deconfigure in-favour other 1.0"; do
	# shellcheck disable=SC2086 # the words dpkg passes
	run prerm $args
	check "prerm $args: exits 0" [ $? = 0 ]
	check "prerm $args: the deny stays (no jit-enforcer --remove, no nft)" \
		bash -c "! grep -q -e '--remove' -e '^nft' '$TMP/calls'"
done
run postrm remove
check "postrm remove: the deny stays" bash -c "! grep -q '^nft' '$TMP/calls'"
check "postrm remove: the policies stay" bash -c "! grep -q 'rm -rf /etc/jit-enforcer' '$TMP/calls'"
run postrm upgrade 1.0
check "postrm upgrade: nothing is lifted" bash -c "! grep -q '^nft' '$TMP/calls'"

run postrm purge
check "postrm purge: the table is lifted" called '^nft delete table inet jit_enforcer'
check "postrm purge: ... after the policies' last look, before they go" \
	bash -c "[ \$(grep -n '^nft delete' '$TMP/calls' | cut -d: -f1) -lt \$(grep -n 'rm -rf /etc/jit-enforcer' '$TMP/calls' | cut -d: -f1) ]"
check "postrm purge: an audit line in syslog's authpriv" \
	called '^logger -p authpriv.notice -t jit-enforcer audit {"time":"[^"]*","host":"[^"]*","event":"table","result":"removed","table":"jit_enforcer","channel":"agent"'
check "postrm purge: and a line for people" called '^logger -p authpriv.notice -t jit-enforcer package purged: table inet jit_enforcer removed'
audit_json=$(sed -n 's/^logger -p authpriv.notice -t jit-enforcer audit //p' "$TMP/calls")
check "postrm purge: the audit line is JSON of the audit schema" \
	python3 "$SRC_DIR/tests/audit-schema-check.py" "$SRC_DIR/docs/audit-schema.json" - <<<"$audit_json"

rm "$TMP/table"
run postrm purge
check "postrm purge with no table: nothing to lift, nothing said" bash -c "! grep -q -e '^nft delete' -e '^logger' '$TMP/calls'"
touch "$TMP/table"
: >"$TMP/calls"
env -i PATH="$TMP/bin:/usr/bin:/bin" DPKG_ROOT=/chroot sh "$TMP/postrm" purge >/dev/null 2>&1
check "postrm purge in a chroot (DPKG_ROOT): the running system's table is not touched" \
	bash -c "! grep -q '^nft' '$TMP/calls'"

echo "# $FAILS failed"
[ "$FAILS" = 0 ]
