#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# jitctl fleet without servers: usage errors (exit 2, one JSON document
# with --json), the config file's errors, an unreachable server, and what
# creds prints (the permission blocks a nats-server config takes).
. "$(dirname "$0")/cli-lib.sh"
check_failed() {
	echo "    rc=$rc stdout: ${out:0:600}" >&2
	echo "    stderr: ${err:0:600}" >&2
}
run() {
	rc=0
	out=$("$JITCTL" "$@" 2>"$TMP/stderr") || rc=$?
	err=$(cat "$TMP/stderr")
}
one_doc() {
	jq -e -s 'length == 1 and (.[0] | type == "object")' >/dev/null 2>&1 <<<"$out" &&
		jq -e "${1:-.}" >/dev/null 2>&1 <<<"$out"
}
# usage MESSAGE-PATTERN ARGS...: exit 2, the message on stderr; and with
# --json one usage document, nothing on stderr.
usage() {
	local pat="$1"
	shift
	run fleet "$@"
	check "fleet $* -> usage error '$pat'" \
		eval '[ "$rc" = 2 ] && [ -z "$out" ] && grep -q -- "$pat" <<<"$err"'
	run --json fleet "$@"
	check "--json fleet $* -> one usage document" \
		eval '[ "$rc" = 2 ] && [ -z "$err" ] && one_doc ".ok == false and .error.code == \"usage\""'
}

export JITCTL_FLEET_CONFIG="$TMP/none.yaml"
usage "missing what to do"
usage "unknown fleet command 'bogus'" bogus
usage "missing --select" request --policy ssh --port 22 --from 203.0.113.7
usage "an empty selector matches every host" request --select "" --policy ssh --port 22 --from 203.0.113.7
usage "exclude each other" request --select role=web --all-hosts --policy ssh --port 22 --from 203.0.113.7
usage "given twice" request --select role=web,role=db --policy ssh --port 22 --from 203.0.113.7
usage "is not LABEL=VALUE" request --select role --policy ssh --port 22 --from 203.0.113.7
usage "empty label" request --select role=web,,env=prod --policy ssh --port 22 --from 203.0.113.7
usage "missing --policy" request --select role=web --port 22 --from 203.0.113.7
usage "missing --port" request --select role=web --policy ssh --from 203.0.113.7
usage "missing --from" request --select role=web --policy ssh --port 22
usage "--port wants 1..65535" request --select role=web --policy ssh --port 70000 --from 203.0.113.7
usage "the protocol is tcp or udp" request --select role=web --policy ssh --port sctp/22 --from 203.0.113.7
usage "disagree" request --select role=web --policy ssh --port udp/22 --proto tcp --from 203.0.113.7
usage "--from wants an address" request --select role=web --policy ssh --port 22 --from 203.0.113.7/24
usage "--from wants an address" request --select role=web --policy ssh --port 22 --from ::ffff:192.0.2.7
usage "--for wants a duration" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --for 25h
usage "--for '0' has no unit" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --for 0
usage "--for '10' has no unit: 10s? 10m?" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --for 10
usage "--for wants a duration" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --for 0s
usage "unexpected argument 'x'" request x --select role=web --policy ssh --port 22 --from 203.0.113.7
usage "missing ID" approve
usage "--reason is longer than 255 bytes" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --reason "$(printf 'r%.0s' $(seq 256))"
usage "--reason must not contain control characters" request --select role=web --policy ssh --port 22 --from 203.0.113.7 --reason "$(printf 'a\033[2Jb')"
usage "--reason must not contain control characters" approve 0123456789abcdef --reason "$(printf 'a\nb')"
usage "--reason is longer than 255 bytes" deny 0123456789abcdef --reason "$(printf 'r%.0s' $(seq 256))"
usage "unexpected argument 'b'" approve 0123456789abcdef b
usage "missing ID" revoke
usage "option '--select' does not apply to 'fleet approve'" approve 0123456789abcdef --select role=web
usage "option '--follow' does not apply to 'fleet requests'" requests --follow
usage "option '--replicas' does not apply to 'fleet hosts'" hosts --replicas 3
usage "--replicas is 1 to 5" init --replicas 0
usage "--limit wants a number" events --limit x
usage "missing ROLE" creds
usage "missing NAME" creds host
usage "unknown role 'root'" creds root x
usage "name 'web.1'" creds host web.1
usage "unexpected argument 'z'" creds host web-1 z

# A request id is checked before anything is sent (no server needed).
printf 'servers: [nats://127.0.0.1:9]\nuser: bob\n' >"$TMP/fleet.yaml"
usage "is not a fleet request id" approve 12 --fleet-config "$TMP/fleet.yaml"

# The config file: missing, wrong keys, a password file others may read.
run --json fleet hosts
check "no config file: fleet-config error naming it" \
	eval '[ "$rc" = 1 ] && one_doc ".error.code == \"fleet-config\" and (.error.message | test(\"none.yaml\"))"'
printf 'servers: [nats://127.0.0.1:9]\nuser: bob\nport: 4222\n' >"$TMP/bad.yaml"
run fleet hosts --fleet-config "$TMP/bad.yaml"
check "unknown key: file:line:col and why" \
	eval '[ "$rc" = 1 ] && grep -q "bad.yaml:3:1: unknown key .port." <<<"$err"'
printf 'x\n' >"$TMP/pw"
chmod 644 "$TMP/pw"
printf 'servers: [nats://127.0.0.1:9]\nuser: bob\npassword_file: %s\n' "$TMP/pw" >"$TMP/open.yaml"
run fleet hosts --fleet-config "$TMP/open.yaml"
check "a password file others may read is refused" \
	eval '[ "$rc" = 1 ] && grep -q "readable by others" <<<"$err"'
# $JITCTL_FLEET_CONFIG is read when --fleet-config is not given.
JITCTL_FLEET_CONFIG="$TMP/bad.yaml" run fleet hosts
check "\$JITCTL_FLEET_CONFIG names the file" eval 'grep -q "bad.yaml:3:1" <<<"$err"'

# No server listening: unreachable, exit 1, one document.
run --json fleet hosts --fleet-config "$TMP/fleet.yaml"
check "no server: fleet-unreachable" \
	eval '[ "$rc" = 1 ] && [ -z "$err" ] && one_doc ".error.code == \"fleet-unreachable\""'

# creds: a user entry with the role's permissions; the password file is
# made (0600) when missing and reused after.
run fleet creds host web-1 --password-file "$TMP/web-1.pw"
check "creds host: user, password and the confined set" \
	eval '[ "$rc" = 0 ] && grep -q "user: \"web-1\"" <<<"$out" && grep -qF "\"\$JS.API.CONSUMER.CREATE.KV_jit_grants.w_web-1.\$KV.jit_grants.host.web-1.>\"" <<<"$out" && grep -qF "\"_INBOX_web-1.>\"" <<<"$out"'
check "creds made the password file, 0600" \
	eval '[ "$(stat -c %a "$TMP/web-1.pw")" = 600 ] && grep -qF "password: \"$(cat "$TMP/web-1.pw")\"" <<<"$out"'
first="$out"
run fleet creds host web-1 --password-file "$TMP/web-1.pw"
check "creds again: the same entry" [ "$out" = "$first" ]
run --json fleet creds requester alice
check "creds --json: permissions as lists, the conf text" \
	eval '[ "$rc" = 0 ] && one_doc ".ok and .role == \"requester\" and (.permissions.publish | index(\"\$KV.jit_requests.req.alice.*\")) and (.conf | test(\"user: \\\"alice\\\"\"))"'
run fleet creds approver bob
check "creds approver: writes grants" eval 'grep -qF "\"\$KV.jit_grants.>\"" <<<"$out"'
printf 'has"quote\n' >"$TMP/q.pw"
run fleet creds admin root --password-file "$TMP/q.pw"
check "a password the config would misread is refused" \
	eval '[ "$rc" = 1 ] && grep -q "printable ASCII" <<<"$err"'

finish
