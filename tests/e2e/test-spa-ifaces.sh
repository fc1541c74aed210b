#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: an SPA packet is decided under the policy of the interface it
# came in on. Two policies protect tcp/2022: "internal" on v1 (granted at
# once) and "external" on v2 (approved by hand). A packet through v1 opens
# v1; the same kind of packet through v2 waits for an approver, and opens
# only v2 once approved.
. "$(dirname "$0")/lib.sh"
if ! command -v fwknop >/dev/null; then
	echo "FAIL: 'fwknop' is missing; run tools/install-deps" >&2
	exit 1
fi
e2e_setup

U="jsi${E2E_ID: -6}"
G="jsh${E2E_ID: -6}"
add_group "$G"
add_user "$U" "$G"

start_listeners 2022
write_policy external <<Y
name: external
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v2]
requesters: {users: [$U]}
approval: manual
approvers: {users: [root]}
Y
write_policy internal <<Y
name: internal
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v1]
requesters: {users: [$U]}
Y

K=$(head -c 32 /dev/urandom | base64 -w0)
H=$(head -c 64 /dev/urandom | base64 -w0)
ACCESS="$TMP/access.conf"
cat >"$ACCESS" <<C
SOURCE              ANY
KEY_BASE64          $K
HMAC_KEY_BASE64     $H
JIT_USER            $U
FW_ACCESS_TIMEOUT   60
C
chmod 600 "$ACCESS"
start_agent --spa-access "$ACCESS" || exit 1

spa() {
	local ns="$1" dest="$2"
	shift 2
	HOME="$TMP" "$ns" fwknop --no-rc-file --no-save-args -D "$dest" \
		--key-base64-rijndael "$K" --key-base64-hmac "$H" --use-hmac \
		"$@" >>"$TMP/fwknop.out" 2>&1
}
record_of() { # SOURCE: "policy status" of its record
	jitctl --json requests 2>/dev/null | jq -r --arg s "$1/32" \
		'.requests[] | select(.source == $s) | "\(.policy) \(.status)"' | tail -n1
}
has_record() { [ -n "$(record_of "$1")" ]; }

expect_tcp c1 "$VM4_1" 2022 dropped
expect_tcp c2 "$VM4_2" 2022 dropped

# Through v1: the internal policy, granted at once, open on v1.
spa c1 "$VM4_1" -A tcp/2022 -a "$C1_4" -f 60
check "the packet through v1 made a record" wait_for "record of $C1_4" 5 has_record "$C1_4"
check "... under internal, granted ($(record_of "$C1_4"))" \
	[ "$(record_of "$C1_4")" = "internal initiated" ]
expect_tcp c1 "$VM4_1" 2022 open

# Through v2: the external policy, pending until approved.
spa c2 "$VM4_2" -A tcp/2022 -a "$C2_4" -f 60
check "the packet through v2 made a record" wait_for "record of $C2_4" 5 has_record "$C2_4"
check "... under external, waiting for an approver ($(record_of "$C2_4"))" \
	[ "$(record_of "$C2_4")" = "external pending" ]
expect_tcp c2 "$VM4_2" 2022 dropped
id=$(jitctl --json requests | jq -r --arg s "$C2_4/32" \
	'.requests[] | select(.source == $s and .status == "pending") | .id' | tail -n1)
check "root approves it" jitctl approve "$id" --reason "e2e"
expect_tcp c2 "$VM4_2" 2022 open
check "no kernel error in the log" sh -c "! grep -qi 'kernel refused' '$TMP/agent.log'"
