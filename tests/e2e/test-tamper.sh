#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the tamper watch knows the agent's own changes without
# comparing process ids. In a PID namespace (unshare --pid, a container)
# the kernel names the committing process by its pid in the initial
# namespace, not the agent's own getpid(): the agent must neither take its
# own grants for tampering nor fight itself. A real change from outside is
# still restored, and a process changing the table without pause gets a
# bounded number of restores and alerts while the socket and signals are
# served. Run with the table owned (default) and plain (--no-table-owner),
# and in a user namespace with its own network namespace.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
    max_duration: 1h
Y
ALERTS="$TMP/log/alerts.log"
UNSHARE_PID=""

# The agent is the child unshare --fork made (unshare itself does not pass
# signals on): its pid as we see it.
child_of() {
	local kids
	kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || return 1
	kids=${kids%% *}
	[ -n "$kids" ] && echo "$kids"
}

# start_agent_pidns [unshare options --] AGENT_OPTIONS...: the agent in vm,
# in a PID namespace of its own (and more, with unshare options).
start_agent_pidns() {
	local uopts=(--pid --fork) net=(ip netns exec "$NS_VM") pid i
	if [ "${1:-}" = --userns ]; then
		# A user namespace with a network namespace it owns: there its
		# root has CAP_NET_ADMIN (not over one the host made).
		uopts=(--user --map-root-user --net --pid --fork)
		net=()
		shift
	fi
	"${net[@]}" unshare "${uopts[@]}" "$ENFORCER" --policies "$TMP/policies" \
		--state-dir "$TMP/state" --socket "$SOCK" --table "$TABLE" \
		--log-dir "$TMP/log" --no-syslog "$@" >>"$TMP/agent.log" 2>&1 &
	UNSHARE_PID=$!
	on_cleanup kill -9 "$UNSHARE_PID"
	for i in $(seq 1 100); do
		pid=$(child_of "$UNSHARE_PID") && break
		sleep 0.05
	done
	AGENT_PID="$pid"
	if [ -z "$AGENT_PID" ] ||
		! wait_for "agent enforcing" 10 "$JITCTL" --socket "$SOCK" status; then
		echo "--- agent log" >&2
		cat "$TMP/agent.log" >&2
		return 1
	fi
}

# In the agent's own network namespace (the userns case), else in vm.
agent_net() { nsenter --net="/proc/$AGENT_PID/ns/net" "$@"; }

tamper_alerts() { grep -c '"alert_type":"JIT_TABLE_TAMPERED"' "$ALERTS" 2>/dev/null || true; }
metric() { timeout 5 "$JITCTL" --socket "$SOCK" metrics | awk -v k="$1" '$1 == k {print $2}'; }
restores() { metric 'jit_enforcer_tamper_restores_total{result="restored"}'; }
status_field() { timeout 5 "$JITCTL" --socket "$SOCK" --json status | jq -r ".$1"; }

# SIGTERM to the agent: it exits, promptly.
expect_term() {
	local what="$1"
	kill -TERM "$AGENT_PID"
	if wait_for "agent exited on SIGTERM" 5 bash -c "! kill -0 $AGENT_PID"; then
		ok "$what: SIGTERM is honoured"
	else
		fail "$what: SIGTERM is honoured (still running)"
		kill -9 "$AGENT_PID" 2>/dev/null
	fi
	wait "$UNSHARE_PID" 2>/dev/null
	AGENT_PID=""
	UNSHARE_PID=""
}

# The agent's own grants, revokes and reloads are not tampering (with a
# second argument: no clients to try, the agent has a network of its own).
own_changes_quiet() {
	local what="$1" id out rc=0
	out=$(timeout 5 "$JITCTL" --socket "$SOCK" request ssh --port 22 --from "$C1_4" --for 5s 2>&1) || rc=$?
	check "$what: the request is answered at once" [ "$rc" = 0 ]
	id=$(echo "$out" | grant_id)
	rc=0
	timeout 5 "$JITCTL" --socket "$SOCK" request ssh --port 22 --from 192.0.2.77 --for 5s >/dev/null 2>&1 || rc=$?
	check "$what: a second request is answered" [ "$rc" = 0 ]
	rc=0
	timeout 5 "$JITCTL" --socket "$SOCK" reload >/dev/null 2>&1 || rc=$?
	check "$what: a reload is answered" [ "$rc" = 0 ]
	check "$what: the grant is in the kernel" \
		bash -c "$(declare -f agent_net); AGENT_PID=$AGENT_PID; agent_net nft list set inet $TABLE grants_v4 | grep -q '$C1_4 . tcp . 22'"
	check "$what: no tamper event counted for its own commits" [ "$(status_field tamper_events)" = 0 ]
	check "$what: no tamper alert for its own commits" [ "$(tamper_alerts)" = 0 ]
	if [ -z "${2:-}" ]; then
		expect_tcp c1 "$VM4_1" 22 open
		expect_tcp c2 "$VM4_2" 22 dropped
	fi
	[ -n "$id" ] && timeout 5 "$JITCTL" --socket "$SOCK" revoke "$id" >/dev/null 2>&1
}

# --- in a PID namespace, the table owned -----------------------------------
start_agent_pidns || exit 1
check "the agent runs in a PID namespace of its own" \
	[ "$(readlink "/proc/$AGENT_PID/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]
own_changes_quiet "pidns, owned"
check "pidns, owned: still no tamper alert" [ "$(tamper_alerts)" = 0 ]
expect_term "pidns, owned"

# --- in a PID namespace, a plain table: changes from outside ---------------
rm -f "$ALERTS"
start_agent_pidns --no-table-owner || exit 1
check "the table is plain" bash -c "$JITCTL --socket $SOCK --json status | grep -q '\"protection\": \"plain\"'"
own_changes_quiet "pidns, plain"
jitctl request ssh --port 22 --from "$C1_4" --for 10m >/dev/null
r0=$(restores)
vm nft add element inet "$TABLE" grants_v4 "{ $C2_4 . tcp . 22 }"
check "an element added from outside is removed" wait_for "element gone" 5 \
	bash -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$C2_4'"
check "one alert for it, naming nft" wait_for "alert" 5 \
	grep -q '"alert_type":"JIT_TABLE_TAMPERED".*"process":{"pid":[1-9][0-9]*,"name":"nft"}' "$ALERTS"
check "exactly one alert" [ "$(tamper_alerts)" = 1 ]
check "exactly one restore" [ "$(( $(restores) - r0 ))" = 1 ]
expect_tcp c2 "$VM4_2" 22 dropped

# A storm: one nft process adds rules and elements, deletes them and now
# and then the whole table, as fast as it can, for a few seconds.
storm() {
	local i lines=()
	for i in $(seq 25); do
		lines+=("add rule inet $TABLE input counter"
			"add element inet $TABLE grants_v4 { $C2_4 . tcp . 22 }"
			"delete element inet $TABLE grants_v4 { $C2_4 . tcp . 22 }")
	done
	lines+=("delete table inet $TABLE")
	# SIGPIPE is ignored here: the writer stops on its write error.
	while printf '%s\n' "${lines[@]}" 2>/dev/null; do :; done |
		timeout "$1" ip netns exec "$NS_VM" nft -i >/dev/null 2>&1
}
r0=$(restores)
a0=$(tamper_alerts)
t0=$(date +%s%N)
storm 4 &
STORM=$!
wait_for "the storm starts" 5 bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .tamper_events) -gt 3 ]"
asked=0
answered=0
while kill -0 "$STORM" 2>/dev/null; do
	asked=$((asked + 1))
	if timeout 2 "$JITCTL" --socket "$SOCK" status >/dev/null 2>&1; then
		answered=$((answered + 1))
	fi
done
check "the socket answers during the storm ($answered of $asked within 2 s)" \
	[ "$asked" -gt 0 -a "$answered" = "$asked" ]
wait "$STORM"
t1=$(date +%s%N)
elapsed_s=$(( (t1 - t0 + 999999999) / 1000000000 ))
changes=$(status_field tamper_events)
check "the table is back with its grant after the storm" wait_for "restored" 5 \
	bash -c "ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$C1_4 . tcp . 22'"
check "and without the storm's element" wait_for "clean" 5 \
	bash -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$C2_4'"
expect_tcp c2 "$VM4_2" 22 dropped
expect_tcp c1 "$VM4_1" 22 open
n_restores=$(( $(restores) - r0 ))
# At most 4 restores in any second, plus those once it ended.
echo "# storm: $changes foreign transactions in ${elapsed_s}s, $n_restores restores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
check "the storm made many changes ($changes)" [ "$changes" -gt $((4 * (elapsed_s + 2))) ]
check "restores were held to the rate ($n_restores <= $((4 * (elapsed_s + 2))))" \
	[ "$n_restores" -le $((4 * (elapsed_s + 2))) ]
# The window after the storm's first alert ends with one that counts.
check "the storm's changes are counted in an alert" wait_for "summary alert" 12 \
	grep -q '"description":"The just-in-time firewall table inet [a-z_]* was [a-z ]* [0-9]* more time' "$ALERTS"
n_alerts=$(( $(tamper_alerts) - a0 ))
check "alerts were bounded ($n_alerts for $changes changes)" [ "$n_alerts" -le $((elapsed_s / 5 + 3)) ]
# SIGTERM in the middle of another storm.
storm 6 &
STORM=$!
wait_for "the storm starts again" 5 bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .tamper_events) -gt $((changes + 3)) ]"
expect_term "pidns, plain, during a storm"
wait "$STORM"

# --- a user namespace with its own network namespace ------------------------
rm -f "$ALERTS"
alerts_are() { [ "$(tamper_alerts)" = "$1" ]; }
if unshare --user --map-root-user --net true 2>/dev/null; then
	start_agent_pidns --userns --no-table-owner || exit 1
	check "the agent runs in a user namespace" \
		[ "$(readlink "/proc/$AGENT_PID/ns/user")" != "$(readlink /proc/self/ns/user)" ]
	own_changes_quiet "userns" no-clients
	agent_net nft add element inet "$TABLE" grants_v4 "{ $C2_4 . tcp . 22 }"
	check "userns: an element added from outside is removed" wait_for "element gone" 5 \
		bash -c "! nsenter --net=/proc/$AGENT_PID/ns/net nft list set inet $TABLE grants_v4 | grep -q '$C2_4'"
	check "userns: one alert for it" wait_for "alert" 5 alerts_are 1
	expect_term "userns"
else
	fail "this kernel refuses user namespaces to root"
fi
