#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fleet mode, kill -9 at fixed instants (the crash points of a test build,
# JIT_CRASH_AT) and the audit stream's message ids:
#  - killed right after the loop took an approved grant from the NATS
#    thread (fleet-received: nothing decided, nothing journalled), or right
#    after it was decided, journalled, opened and audited but before the
#    journal's sync (fleet-applied), then started again without the knob:
#    the grant opens exactly once (one record, one audit line, one line in
#    the outbox, one event in the audit stream);
#  - another host publishes first with the message id host-a's next audit
#    line will carry: host-a raises JIT_FLEET_MSGID_SQUATTED for that id,
#    counts it, and its later lines still reach the stream;
#  - with the grants' bucket gone (the watch cannot be made while the
#    connection is up), host-a's audit lines still reach the stream.
# vm-b's agent is never started: its NATS user is the other publisher.
FLEET_VMS="a=role:web b=role:db"
. "$(dirname "$0")/fleet-lib.sh"
fleet_up || exit 1

cat <<EOF | fleet_policy a ssh
name: ssh
ports:
  - port: 22
    protocol: tcp
    allowed_sources: [203.0.113.0/24]
approval: manual
approvers:
  users: [root]
fleet: {requesters: [alice], approvers: [bob]}
EOF
cat <<EOF | fleet_policy a local
name: local
ports:
  - port: 2222
    protocol: tcp
    max_duration: 1h
    allowed_sources: [any]
requesters:
  users: [root]
approval: auto
EOF
FLEET_PORT=22 fleet_listen a || exit 1
AUDIT_LOG="$TMP/vm-a/log/audit.log"
OUTBOX="$TMP/vm-a/state/fleet-outbox"

reachable() {
	wait_for "vm-a watches its grants" 20 eval \
		'actl_vm a status --json | jq -e ".fleet.reachable" >/dev/null'
}
request() {
	fctl alice request --select role=web --policy ssh --port 22 --from "$SRC_IP" \
		--for 10m --reason "$1" --json | jq -r .request.id
}
# Lines of FILE that grant fleet request ID.
granted_in() {
	grep -F "\"fleet_id\":\"$2\"" "$1" 2>/dev/null | grep -c '"result":"granted"'
}
stream_grants() {
	fctl bob events --json | jq -s --arg id "$1" \
		'[.[] | select(.host == "host-a" and .result == "granted" and .fleet_id == $id)] | length'
}
# Everything host-a audited is stored in the stream.
all_sent() {
	actl_vm a status --json |
		jq -e '.fleet.audit.acked_seq + 1 == .fleet.audit.next_seq' >/dev/null
}

crash_round() {
	local point="$1" id pid rc
	JIT_CRASH_AT="$point" fleet_start_agent a || return 1
	check "[$point] vm-a watches its grants" reachable
	pid=${VM_PID[a]}
	id=$(request "crash at $point")
	check "[$point] bob approves" wait_for "approve" 40 fctl bob approve "$id"
	check "[$point] the agent killed itself at the crash point" \
		wait_for "agent gone" 20 eval '! kill -0 "$pid"'
	# (Still running: the test failed; do not wait for it forever.)
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	VM_PID[a]=""
	check "[$point] by SIGKILL (exit status $rc)" [ "$rc" = 137 ]
	if [ "$point" = fleet-received ]; then
		check "[$point] nothing of it was journalled" eval \
			'! grep -rlF "$id" "$TMP/vm-a/state" | grep -v fleet-outbox | grep -q .'
		check "[$point] nor audited" [ "$(granted_in "$AUDIT_LOG" "$id")" = 0 ]
	else
		check "[$point] its line was in the journal (not synced)" eval \
			'grep -rlF "$id" "$TMP/vm-a/state" | grep -v fleet-outbox | grep -q .'
		check "[$point] and its grant audited" [ "$(granted_in "$AUDIT_LOG" "$id")" = 1 ]
	fi

	fleet_start_agent a || return 1
	check "[$point] restarted without the knob, vm-a watches" reachable
	fleet_eventually a open 15
	check "[$point] one record of it, live" wait_for "record" 10 eval \
		'[ "$(actl_vm a requests --all --json | jq -r --arg id "$id" "[.requests[] | select(.fleet_id == \$id) | .status] | join(\",\")")" = initiated ]'
	check "[$point] one grant line in the audit log" [ "$(granted_in "$AUDIT_LOG" "$id")" = 1 ]
	check "[$point] one in the outbox" [ "$(granted_in "$OUTBOX" "$id")" = 1 ]
	check "[$point] everything sent to the stream" wait_for "acked" 20 all_sent
	check "[$point] one grant event in the audit stream" eval '[ "$(stream_grants "$id")" = 1 ]'
	check "[$point] a line sent again after the restart raised no alert" eval \
		'! grep -q JIT_FLEET_MSGID_SQUATTED "$TMP/vm-a/log/alerts.log" 2>/dev/null'
	check "[$point] bob revokes" wait_for "revoke" 40 fctl bob revoke "$id"
	fleet_eventually a dropped 15
	fleet_stop_agent a
}
crash_round fleet-received
crash_round fleet-applied

# --- a message id used first by another publisher ---------------------------
fleet_start_agent a || exit 1
check "vm-a watches its grants" reachable
check "host-a's audit lines are all in the stream" wait_for "acked" 20 all_sent
nonce=$(actl_vm a status --json | jq -r .fleet.audit.nonce)
next=$(actl_vm a status --json | jq -r .fleet.audit.next_seq)
squatted="host-a:$nonce:$next"
check "host-b publishes first under $squatted" \
	fprobe host-b audit-id host-b "$squatted" '{"host":"host-b","forged":true}'
# host-a's next audit line is the grant of this request.
id=$(request squatted)
check "bob approves" wait_for "approve" 40 fctl bob approve "$id"
fleet_eventually a open 15
check "host-a raises JIT_FLEET_MSGID_SQUATTED for that id" wait_for "alert" 15 eval \
	'grep "\"alert_type\":\"JIT_FLEET_MSGID_SQUATTED\"" "$TMP/vm-a/log/alerts.log" | grep -qF "\"msg_id\":\"$squatted\""'
check "and counts it" eval \
	'actl_vm a status --json | jq -e ".fleet.counters.squatted == 1" >/dev/null'
check "the stream dropped host-a's line as a duplicate" eval '[ "$(stream_grants "$id")" = 0 ]'
check "the cursor moved past it: nothing is retried" wait_for "acked" 20 all_sent
check "bob revokes" wait_for "revoke" 40 fctl bob revoke "$id"
fleet_eventually a dropped 15
check "host-a's next line reaches the stream" wait_for "revoke event" 20 eval \
	'fctl bob events --json | jq -e -s --arg id "$id" "any(.host == \"host-a\" and .result == \"revoked\" and .fleet_id == \$id)" >/dev/null'
# The cursor is saved a moment after the acks (not at each one).
check "the audit cursor reaches the disk" wait_for "fleet-cursor" 15 eval \
	'all_sent && [ "$(cat "$TMP/vm-a/state/fleet-cursor")" = "$(actl_vm a status --json | jq .fleet.audit.acked_seq)" ]'

# --- the watch down, the connection up: audit lines still go ----------------
check "the admin deletes the grants' bucket" fprobe fleetadmin delete-stream KV_jit_grants
check "vm-a is connected but cannot watch" wait_for "watch down" 20 eval \
	'actl_vm a status --json | jq -e ".fleet.connected and (.fleet.watching | not)" >/dev/null'
check "a local request on vm-a is granted" eval \
	'actl_vm a request local --port 2222 --from "$SRC_IP" --for 60s --reason watch-down --json | jq -e .ok >/dev/null'
check "its audit line reaches the stream while the watch is down" wait_for "local grant" 20 eval \
	'fctl bob events --json | jq -e -s "any(.host == \"host-a\" and .policy == \"local\" and .result == \"granted\")" >/dev/null'
check "(the watch was still down)" eval \
	'actl_vm a status --json | jq -e ".fleet.watching | not" >/dev/null'
check "the admin makes the buckets again" wait_for "init" 30 fctl fleetadmin init --replicas 3
check "vm-a watches again" reachable
