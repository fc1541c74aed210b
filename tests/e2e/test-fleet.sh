#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fleet mode end to end: a three-node nats-server cluster and four agents in
# their own namespaces, with labels
#   a role=web env=prod     b role=web env=dev     c role=db
#   d role=web env=prod, whose policy does not allow 203.0.113.0/24
# and what 203.0.113.7 sees at their port 22:
#  - one approval of role=web opens a and b, not c (not chosen) nor d (its
#    policy refuses; the refusal is in the audit stream); revoke closes all;
#  - an agent stopped during an approval opens on restart, one stopped
#    during a revoke closes on restart;
#  - with the node leading the grants' bucket killed, approvals and revokes
#    still reach every host;
#  - with every server down, local grants still work and status says the
#    fleet is unreachable;
#  - kill -9 of an agent around a fleet grant's arrival loses and repeats
#    nothing.
FLEET_VMS="a=role:web+env:prod b=role:web+env:dev c=role:db d=role:web+env:prod"
. "$(dirname "$0")/fleet-lib.sh"
fleet_up || exit 1

# ssh takes fleet grants from alice approved by bob; local-ssh (port 2222)
# is the host's own, for root, approved at once.
policy() {
	local sources="$1"
	cat <<EOF
name: ssh
ports:
  - port: 22
    protocol: tcp
    max_duration: 3h
    allowed_sources: [$sources]
requesters:
  users: [root]
approval: manual
approvers:
  users: [root]
fleet:
  requesters: [alice]
  approvers: [bob]
  max_duration: 1h
action: drop
---
name: local-ssh
ports:
  - port: 2222
    protocol: tcp
    max_duration: 1h
    allowed_sources: [any]
requesters:
  users: [root]
approval: auto
action: drop
EOF
}
for vm in a b c; do policy 203.0.113.0/24 | fleet_policy "$vm" ssh; done
policy 198.51.100.0/24 | fleet_policy d ssh
for vm in a b c d; do
	FLEET_PORT="22 2222" fleet_listen "$vm" || exit 1
	fleet_start_agent "$vm" || exit 1
done
check "every agent registered itself with its labels" wait_for "four hosts" 15 eval \
	'[ "$(fctl bob hosts --json | jq -cS "[.hosts[] | {host, labels}] | sort_by(.host)")" = "$(jq -cSn "[{host:\"host-a\",labels:{role:\"web\",env:\"prod\"}},{host:\"host-b\",labels:{role:\"web\",env:\"dev\"}},{host:\"host-c\",labels:{role:\"db\"}},{host:\"host-d\",labels:{role:\"web\",env:\"prod\"}}]")" ]'
check "vm-a's status says the fleet is reachable" wait_for "reachable" 10 eval \
	'actl_vm a status | grep -q "servers reachable"'
for vm in a b c d; do
	check "before any grant, vm-$vm drops 203.0.113.7" [ "$(src_tcp "$vm")" = dropped ]
done

# request SELECTOR [REASON]: a new fleet request for 22 from 203.0.113.7;
# its id.
request() {
	fctl alice request --select "$1" --policy ssh --port 22 --from "$SRC_IP" \
		--for 10m --reason "${2:-e2e}" --json | jq -r .request.id
}
# The same, retried while the cluster elects a new leader.
request_retry() {
	local id _
	for _ in $(seq 1 60); do
		id=$(request "$1" 2>/dev/null)
		[[ $id =~ ^[0-9a-f]{16}$ ]] && break
		sleep 0.5
	done
	echo "$id"
}
# approve ID / revoke ID: retried while the cluster elects (a timed-out
# write may still land: both are safe to repeat).
approve() { wait_for "approve $1" 40 fctl bob approve "$1"; }
revoke() { wait_for "revoke $1" 40 fctl bob revoke "$1"; }

# --- one approval, exactly the matching hosts, then revoke -----------------
id=$(request role=web)
check "alice's request is pending" eval '[[ $id =~ ^[0-9a-f]{16}$ ]] && fctl bob requests --json | jq -e --arg id "$id" "any(.requests[]; .id == \$id and .state == \"pending\")" >/dev/null'
check "bob approves it" approve "$id"
check "the approval chose host-a, host-b and host-d (role=web at that moment)" eval \
	'fctl bob requests --json | jq -e --arg id "$id" "any(.requests[]; .id == \$id and .hosts == [\"host-a\",\"host-b\",\"host-d\"])" >/dev/null'
fleet_eventually a open
fleet_eventually b open
check "vm-c (role=db) still drops 203.0.113.7" [ "$(src_tcp c)" = dropped ]
check "vm-d (its policy does not allow 203.0.113.0/24) still drops it" [ "$(src_tcp d)" = dropped ]
check "vm-d's refusal of the fleet grant is in the audit stream" wait_for "host-d's refusal" 10 eval \
	'fctl bob events --json | jq -e -s --arg id "$id" "any(.host == \"host-d\" and .result == \"refused\" and (tostring | contains(\$id)))" >/dev/null'
check "vm-a's grant is in the audit stream" wait_for "host-a's grant" 10 eval \
	'fctl bob events --json | jq -e -s --arg id "$id" "any(.host == \"host-a\" and .result == \"granted\" and (tostring | contains(\$id)))" >/dev/null'
check "approve again: nothing written twice" eval \
	'fctl bob approve "$id" --json | jq -e ".ok and (.created | length == 0) and (.existing | length == 3)" >/dev/null'
check "bob revokes it" revoke "$id"
fleet_eventually a dropped
fleet_eventually b dropped

# --- an agent stopped during the approval, another during the revoke -------
fleet_stop_agent b
id=$(request role=web)
check "approved while vm-b's agent is stopped" approve "$id"
fleet_eventually a open
fleet_start_agent b
fleet_eventually b open
fleet_stop_agent a
check "revoked while vm-a's agent is stopped" revoke "$id"
fleet_eventually b dropped
fleet_start_agent a
fleet_eventually a dropped

# --- the node leading the grants' bucket is killed --------------------------
leader=$(fleet_leader_node KV_jit_grants)
check "a node leads the grants' bucket" eval '[[ $leader =~ ^[123]$ ]]'
fleet_kill_node "$leader"
id=$(request_retry role=web)
check "a request is taken with node $leader down" eval '[[ $id =~ ^[0-9a-f]{16}$ ]]'
check "and approved" approve "$id"
fleet_eventually a open 20
fleet_eventually b open 20
check "and revoked" revoke "$id"
fleet_eventually a dropped 20
fleet_eventually b dropped 20
fleet_start_node "$leader"

# --- every server down ------------------------------------------------------
for n in 1 2 3; do fleet_kill_node "$n"; done
check "vm-a says the fleet is unreachable" wait_for "status unreachable" 20 eval \
	'actl_vm a status | grep -q "UNREACHABLE since"'
check "a local request on vm-a is granted" eval \
	'actl_vm a request local-ssh --port 2222 --from "$SRC_IP" --for 60 --json | jq -e ".ok" >/dev/null'
check "and 203.0.113.7 reaches vm-a:2222" eval 'FLEET_PORT=2222 src_tcp a | grep -qx open'
for n in 1 2 3; do fleet_start_node "$n"; done
check "the cluster is back" wait_for "cluster" 40 fctl bob requests

# --- kill -9 around the arrival of a fleet grant ----------------------------
# The agent is killed at once after the approval is written, at the moment
# it receives, journals or applies it; after a restart each grant is there
# exactly once, in the agent's records and in the audit stream.
# Each request has a reason of its own: the agent's record carries it.
ids=()
for round in 1 2 3 4 5; do
	id=$(request env=prod "kill-9 round $round")
	ids+=("$id")
	fctl bob approve "$id" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((round * 2))"
	fleet_stop_agent a KILL
	wait "$pid"
	approve "$id" >/dev/null
	fleet_start_agent a
done
fleet_eventually a open
for round in 1 2 3 4 5; do
	id=${ids[$((round - 1))]}
	check "fleet grant $id: one live record on vm-a" wait_for "record of $id" 10 eval \
		'[ "$(actl_vm a requests --all --json | jq --arg r "kill-9 round $round" "[.requests[] | select(.reason == \$r)] | length")" = 1 ]'
	check "fleet grant $id: one grant event from host-a" wait_for "audit of $id" 10 eval \
		'[ "$(fctl bob events --json | jq -s --arg id "$id" "[.[] | select(.host == \"host-a\" and .result == \"granted\" and .fleet_id == \$id)] | length")" = 1 ]'
done
for id in "${ids[@]}"; do revoke "$id" >/dev/null; done
fleet_eventually a dropped
