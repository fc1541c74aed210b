#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `jit-enforcer --check`: exit codes and compiler-style output, no kernel.
. "$(dirname "$0")/cli-lib.sh"
run() {
	rc=0
	out=$("$ENFORCER" --check "$@" 2>&1) || rc=$?
}

run "$SRC_DIR/policies"
check "the example policies pass (rc=$rc)" [ "$rc" = 0 ]
check "and say so" grep -q "policies OK" <<<"$out"

cat >"$TMP/ssh.yaml" <<'Y'
name: ssh
ports:
  - port: 22
    max_duration: 30h
    allowed_sources: [192.0.2.7/24]
Y
run "$TMP/ssh.yaml"
check "a bad file exits 1 (rc=$rc)" [ "$rc" = 1 ]
check "errors name file:line:col" grep -q "^$TMP/ssh.yaml:4:19: error: max_duration '30h' exceeds the limit of 24h" <<<"$out"
check "the source line is shown with a caret" grep -q '^ *\^$' <<<"$out"
check "all errors are reported, not just the first" grep -q "ssh.yaml:5:.*host bits" <<<"$out"

run "$TMP"
check "a directory with a bad file exits 1" [ "$rc" = 1 ]
mkdir "$TMP/dup"
cp "$SRC_DIR/policies/ssh.yaml" "$TMP/dup/a.yaml"
cp "$SRC_DIR/policies/ssh.yaml" "$TMP/dup/b.yaml"
touch "$TMP/dup/notes.txt"
run "$TMP/dup"
check "duplicate names across files are errors" grep -q "b.yaml:[0-9]*:[0-9]*: error: policy name 'ssh' is already used by .*a.yaml" <<<"$out"

run "$TMP/nonexistent.yaml"
check "a missing file exits 1 with a message" bash -c "[ $rc = 1 ] && grep -qi 'no such file' <<<'$out'"

rc=0
"$ENFORCER" --check >/dev/null 2>&1 || rc=$?
check "--check without paths is a usage error" [ "$rc" = 2 ]

# fleet.yaml, when --fleet-config is given (it must be root's, as policies).
printf 'servers: [nats://192.0.2.1:4222]\nhost: web-1\nlabels: {role: web}\n' >"$TMP/fleet.yaml"
run --fleet-config "$TMP/fleet.yaml"
check "a good fleet.yaml passes (rc=$rc)" [ "$rc" = 0 ]
check "and says what it holds" grep -q "fleet.yaml: host web-1, 1 server(s), 1 label(s) OK" <<<"$out"
printf 'servers: [nats://192.0.2.1:4222]\nhost: web.1\nlable: {role: web}\n' >"$TMP/fleet.yaml"
run --fleet-config "$TMP/fleet.yaml"
check "a bad fleet.yaml exits 1 (rc=$rc)" [ "$rc" = 1 ]
check "with file:line:col" grep -q "fleet.yaml:2:7: error: host 'web.1' is not valid" <<<"$out"
check "every error" grep -q "fleet.yaml:3:1: error: unknown key 'lable'" <<<"$out"
run --fleet-config "$TMP/none.yaml"
check "a missing fleet.yaml given to --check exits 1" bash -c "[ $rc = 1 ] && grep -qi 'no such file' <<<'$out'"

finish
