#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fleet mode with the host's link to the servers cut (a drop rule for the
# servers' replies in vm-a's own namespace, so that a connect hangs rather
# than fails):
#  - a fleet grant revoked while the host is cut off, its key purged (no
#    delete marker left to see), closes once the link is back, without a
#    restart of the agent: the snapshot taken on reconnect revokes what the
#    store no longer holds;
#  - while the NATS thread sits in a connect (connect_timeout 10s), a
#    reload that changes fleet.yaml is answered at once, status answers
#    meanwhile, and the new configuration takes over once the old connect
#    has ended;
#  - an exit while the thread connects waits for it (bounded: the connect
#    timeouts, a few calls, the library's close), so that nothing is left
#    running, and exits 0 (a sanitizer build would report what was).
FLEET_VMS="a=role:web"
. "$(dirname "$0")/fleet-lib.sh"
fleet_up || exit 1

cat >>"$TMP/vm-a/fleet.yaml" <<EOF
connect_timeout: 10s
EOF
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
FLEET_PORT=22 fleet_listen a || exit 1
fleet_start_agent a || exit 1
check "vm-a watches its grants" wait_for "reachable" 20 eval \
	'actl_vm a status --json | jq -e ".fleet.reachable" >/dev/null'

CUT_TABLE="${E2E_ID}cut"
# The servers' packets never reach vm-a; everything else does.
cut_link() {
	in_vm a nft -f - <<EOF
table inet $CUT_TABLE {
	chain in {
		type filter hook input priority -300; policy accept;
		ip saddr 192.0.2.1-192.0.2.3 tcp sport 4222 drop
	}
}
EOF
}
restore_link() { in_vm a nft delete table inet "$CUT_TABLE"; }

# --- revoked and purged while cut off ---------------------------------------
id=$(fctl alice request --select role=web --policy ssh --port 22 --from "$SRC_IP" \
	--for 10m --reason e2e --json | jq -r .request.id)
check "bob approves" wait_for "approve" 40 fctl bob approve "$id"
fleet_eventually a open 15
pid_before=${VM_PID[a]}

cut_link
check "cut off, vm-a says the fleet is unreachable" wait_for "unreachable" 30 eval \
	'actl_vm a status --json | jq -e ".fleet.reachable | not" >/dev/null'
check "bob revokes while vm-a is cut off" wait_for "revoke" 40 fctl bob revoke "$id"
check "the key is purged: no delete marker left" \
	fprobe fleetadmin purge KV_jit_grants "\$KV.jit_grants.host.host-a.$id"
check "the store holds nothing of it for host-a" eval \
	'[ -z "$(fprobe host-a grants host-a)" ]'
check "vm-a cannot know: 203.0.113.7 still gets in" [ "$(src_tcp a)" = open ]

restore_link
fleet_eventually a dropped 40
check "the record was revoked as absent from the store" eval \
	'actl_vm a requests --all --json | jq -e --arg id "$id" "any(.requests[]; .fleet_id == \$id and .status == \"revoked\" and .status_reason == \"fleet grant no longer in the store\")" >/dev/null'
check "by the agent that was running all along" eval \
	'[ "${VM_PID[a]}" = "$pid_before" ] && kill -0 "$pid_before"'

# --- a reload while the NATS thread sits in a connect -----------------------
fleet_stop_agent a
cut_link
fleet_start_agent a || exit 1
connecting() {
	in_vm a ss -Htn state syn-sent '( dport = :4222 )' | grep -q .
}
check "vm-a's NATS thread is in a connect to a server" wait_for "SYN-SENT" 10 connecting

# A new label: the configuration changed, the thread must be replaced.
sed -i 's/^labels: .*/labels: {role: web, moved: "yes"}/' "$TMP/vm-a/fleet.yaml"
# Both well within the 10 s one connect may take (each a few ms when idle).
changed() { grep -c "fleet: configuration changed" "$TMP/vm-a/agent.log"; }
before=$(changed)
in_vm a timeout 5 "$JITCTL" --socket "$TMP/vm-a/control.sock" reload \
	>"$TMP/reload.out" 2>&1 &
reload_pid=$!
# The loop logs this just before it stops the thread.
check "the loop takes the reload" wait_for "reload logged" 5 eval '[ "$(changed)" -gt "$before" ]'
check "status answers while the reload stops the thread" \
	timeout 5 "$JITCTL" --socket "$TMP/vm-a/control.sock" status
check "the reload that changes fleet.yaml is answered while the thread connects" \
	wait "$reload_pid"
check "and the status in force is the new one" eval \
	'timeout 5 "$JITCTL" --socket "$TMP/vm-a/control.sock" status --json | jq -e ".fleet.labels.moved == \"yes\"" >/dev/null'
# Another change at once: a third thread, while the first still connects
# and the second waits for it.
sed -i 's/^labels: .*/labels: {role: web, moved: twice}/' "$TMP/vm-a/fleet.yaml"
check "a second reload is answered as promptly" \
	timeout 5 "$JITCTL" --socket "$TMP/vm-a/control.sock" reload

restore_link
check "the newest configuration registers once the old connect has ended" wait_for \
	"new labels" 90 eval \
	'fctl bob hosts --json | jq -e "any(.hosts[]; .host == \"host-a\" and .labels.moved == \"twice\")" >/dev/null'
check "and vm-a watches its grants again" wait_for "reachable" 30 eval \
	'actl_vm a status --json | jq -e ".fleet.reachable" >/dev/null'

# --- the agent's exit while the thread connects -----------------------------
fleet_stop_agent a
sed -i 's/^connect_timeout: .*/connect_timeout: 2s/' "$TMP/vm-a/fleet.yaml"
cut_link
fleet_start_agent a || exit 1
check "vm-a's NATS thread is in a connect again" wait_for "SYN-SENT" 10 connecting
pid=${VM_PID[a]}
kill -TERM "$pid"
# At most 3 x 2 s of connects, three 2 s calls, 2 + 5 s of close: 19 s.
check "the agent exits once the thread has ended" wait_for "exit" 60 eval '! kill -0 "$pid"'
kill -9 "$pid" 2>/dev/null
wait "$pid"
rc=$?
VM_PID[a]=""
check "and exits 0, nothing left behind" [ "$rc" = 0 ]
check "having waited for its NATS thread" eval \
	'! grep -q "did not end in time" "$TMP/vm-a/agent.log"'
restore_link
