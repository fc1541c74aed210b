#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the host surface. The agent writes as root only into
# directories nobody else controls, never through a symlink.
. "$(dirname "$0")/lib.sh"
e2e_setup
chmod 755 "$TMP"

write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
    max_duration: 1h
Y
printf 'root only\n' >"$TMP/secret"
chmod 600 "$TMP/secret"
secret_sum=$(sha256sum <"$TMP/secret")

# Run the agent expecting it to refuse to start; its output goes to $TMP/refused.log.
refuses() {
	local rc=0
	timeout 20 ip netns exec "$NS_VM" "$ENFORCER" --policies "$TMP/policies" \
		--table "$TABLE" --no-syslog "$@" >"$TMP/refused.log" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
}

# --- 1. a user-writable log directory with a symlink planted in it -------
mkdir -m 1777 "$TMP/w"
runuser -u nobody -- mkdir "$TMP/w/jit"
runuser -u nobody -- ln -s "$TMP/secret" "$TMP/w/jit/audit.log"
check "a log directory owned by another user is refused" \
	refuses --state-dir "$TMP/state" --socket "$TMP/c1.sock" --log-dir "$TMP/w/jit"
check "with a message naming the directory and why" \
	grep -q "refusing log directory '$TMP/w/jit': owned by uid $(id -u nobody)" "$TMP/refused.log"
check "the symlink's target is untouched" [ "$(sha256sum <"$TMP/secret")" = "$secret_sum" ]
check "no socket appeared" [ ! -e "$TMP/c1.sock" ]
check "nothing was put in the kernel" bash -c "! ip netns exec $NS_VM nft list table inet $TABLE >/dev/null 2>&1"

# A world-writable one, owned by root.
mkdir -m 0777 "$TMP/w2"
chmod 0777 "$TMP/w2"
check "a log directory writable by others is refused" \
	refuses --state-dir "$TMP/state" --socket "$TMP/c1.sock" --log-dir "$TMP/w2"
check "the message gives its mode" grep -q "refusing log directory '$TMP/w2': mode 0777: writable by others" "$TMP/refused.log"

# Root's own directory with a symlink in it (only root could plant it,
# still never followed).
mkdir -m 0750 "$TMP/log2"
ln -s "$TMP/secret" "$TMP/log2/audit.log"
check "an audit log that is a symlink is not followed" \
	refuses --state-dir "$TMP/state" --socket "$TMP/c1.sock" --log-dir "$TMP/log2"
check "the target is still untouched" [ "$(sha256sum <"$TMP/secret")" = "$secret_sum" ]

# --- the state directory: anyone who can write it could forge grants ------
mkdir -m 0770 "$TMP/state-g"
chmod 0770 "$TMP/state-g"
check "a group-writable state directory is refused" \
	refuses --state-dir "$TMP/state-g" --socket "$TMP/c1.sock" --log-dir "$TMP/log"
check "the message names it" grep -q "refusing state directory '$TMP/state-g': mode 0770: writable by its group" "$TMP/refused.log"

# --- the socket directory ------------------------------------------------
mkdir "$TMP/run"
chown nobody "$TMP/run"
check "a socket directory owned by another user is refused" \
	refuses --state-dir "$TMP/state" --socket "$TMP/run/control.sock" --log-dir "$TMP/log"
check "the message names it" grep -q "refusing socket directory '$TMP/run'" "$TMP/refused.log"

# --- and with proper directories it starts --------------------------------
start_agent || exit 1
check "with directories only root controls the agent starts" jitctl status
check "its files are root's" bash -c "[ \"\$(stat -c %U '$TMP/log/audit.log')\" = root ]"

# --- 5. one user's idle connections neither starve others nor cut followers
U_MAL="${E2E_ID}ma"
U_BOB="${E2E_ID}bo"
G_SOCK="${E2E_ID}so"
add_group "$G_SOCK"
add_user "$U_MAL" "$G_SOCK"
add_user "$U_BOB" "$G_SOCK"
stop_agent TERM
start_agent --socket-group "$G_SOCK" || exit 1
as "$U_BOB" "$JITCTL" --socket "$SOCK" alerts --follow >"$TMP/follow.out" 2>&1 &
follower=$!
wait_for "the follower is connected" 5 bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .clients) -ge 1 ]"
# 300 idle connections, inside the namespace (cleanup ends them).
for i in $(seq 1 300); do
	as "$U_MAL" sh -c "sleep 20 | '$PROBE' unix '$SOCK'" >>"$TMP/flood.out" 2>&1 &
done
wait_for "the flood is turned away" 10 grep -q too-many-connections "$TMP/flood.out"
held=$(jitctl --json status | jq .clients)
check "one user holds at most 32 connections ($held in all)" [ "$held" -le 34 ]
check "the follower's stream is not cut" kill -0 "$follower"
check "another member of the group is still served" as "$U_BOB" "$JITCTL" --socket "$SOCK" status
kill "$follower" 2>/dev/null

# --- 3. a policy directory swapped whole is followed every time ----------
mk_policy() { printf 'name: p%s\nports:\n  - port: %s\n    max_duration: 1h\n' "$1" "$1" >"$2/p$1.yaml"; }
policies_now() { jitctl --json policies | jq -r '[.policies[].name] | sort | join(",")'; }
for port in 2223 2224 2225; do
	rm -rf "$TMP/policies"
	mkdir "$TMP/policies"
	mk_policy "$port" "$TMP/policies"
	check "swap to p$port is applied" wait_for "p$port in force" 5 bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | jq -r '[.policies[].name] | join(\",\")')\" = p$port ]"
done
# Renamed over, as config tools do.
mkdir "$TMP/policies.new"
mk_policy 2226 "$TMP/policies.new"
mv "$TMP/policies" "$TMP/policies.old"
mv "$TMP/policies.new" "$TMP/policies"
check "a directory renamed into place is applied" wait_for "p2226 in force" 5 bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | jq -r '[.policies[].name] | join(\",\")')\" = p2226 ]"
# Many files moved in at once.
rm -rf "$TMP/policies.old" "$TMP/many"
mkdir "$TMP/many"
for port in $(seq 3000 3299); do mk_policy "$port" "$TMP/many"; done
rm -rf "$TMP/policies"
mv "$TMP/many" "$TMP/policies"
check "300 files moved in at once are applied" wait_for "300 in force" 10 bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | jq '.policies | length')\" = 300 ]"
# Gone: status says so, and the policies in force stay.
rm -rf "$TMP/policies"
check "status says the directory is missing" wait_for "missing" 5 bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e .policy_dir_missing >/dev/null"
check "the policies in force stay" [ "$(jitctl --json policies | jq '.policies | length')" = 300 ]
check "jitctl status warns" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK status | grep -q 'is missing'"
mkdir "$TMP/policies"
mk_policy 22 "$TMP/policies"
check "and it is followed when it is back" wait_for "p22 in force" 5 bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | jq -r '[.policies[].name] | join(\",\")')\" = p22 ]"

# --- 2. an impostor listening on the socket's path -------------------------
# Bound by root in a root-only directory, then listening as nobody: what a
# compromised service could leave there. It must be replaced, not obeyed.
stop_agent TERM
mkdir -m 0755 "$TMP/run2"
ip netns exec "$NS_VM" python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.setgid(65534); os.setuid(65534)
s.listen(8)
while True:
    c, _ = s.accept()
    c.sendall(b"{\"ok\":true,\"pid\":1}\n")
' "$TMP/run2/control.sock" &
IMPOSTOR=$!
wait_for "the impostor listens" 5 test -S "$TMP/run2/control.sock"
SOCK_SAVED="$SOCK"
SOCK="$TMP/run2/control.sock"
# (start_agent's own wait is answered by the impostor: wait for the agent.)
start_agent || exit 1
check "the agent starts over an impostor's socket" wait_for "the agent replaced it" 10 \
	bash -c "grep -q 'not an agent (pid [0-9]*, uid 65534); replacing it' '$TMP/agent.log' && grep -q enforcing '$TMP/agent.log'"
check "jitctl now talks to the agent" bash -c "[ \"\$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .pid)\" = $AGENT_PID ]"
check "the socket is root's, mode 0660" bash -c "[ \"\$(stat -c '%U %a' '$SOCK')\" = 'root 660' ]"
kill "$IMPOSTOR" 2>/dev/null
stop_agent TERM
SOCK="$SOCK_SAVED"

# --- 4. a listed session passes only while its socket lives ---------------
start_listeners "22@$VM4_1"
start_agent || exit 1
gid=$(jitctl request p22 --port 22 --from "$C1_4" --for 10m | sed -n 's/^request \([0-9]*\) .*/\1/p')
session_open s4 c1 "$VM4_1" 22
# A commit lists the connected sessions on protected ports.
mk_policy 2230 "$TMP/policies"
sess() { vm nft list set inet "$TABLE" sessions_v4 | grep -o "$C1_4 . $VM4_1 . [0-9]* . 22"; }
check "a commit lists the session" wait_for "session listed" 5 sess
sport=$(sess | head -n1 | awk '{print $5}')
session_close s4
check "the session leaves the list as soon as its socket closes" \
	wait_for "session gone" 3 bash -c "! ip netns exec $NS_VM nft list set inet $TABLE sessions_v4 | grep -q '$C1_4 . $VM4_1 . $sport . 22'"
jitctl revoke "$gid" >/dev/null
vm conntrack -D -p tcp --dport 22 >/dev/null 2>&1 || true
ack_rc() { local rc=0; c1 "$PROBE" ack "$VM4_1" 22 700 "$sport" || rc=$?; echo "$rc"; }
check "a forged ACK on the closed session's 4-tuple is dropped" [ "$(ack_rc)" = 2 ]
