#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: a start with our table in place changes only what differs
# from the records. An nftables event listener (tests/e2e/nft-events.c,
# as another agent or `nft monitor` would be) watches every restart: the element of a
# grant that did not change is neither deleted nor added again, after a
# clean stop or kill -9. What differs is fixed, and only that: an element
# no record covers goes, a missing one comes back (clean stop: the journal
# is trusted), an element with another end gets the record's end, one whose
# record ended while the agent was down goes. After each start the kernel
# holds exactly the records' elements. Grants of interface-scoped policies
# (a name, a pattern) sit in sets keyed by interface and are compared the
# same way.
# A start that finds the ruleset at the generation the agent last saw (no
# transaction by anyone since) and the journal where it was then (no
# decision since) does not read the sets back at all (state/kernel-view):
# checked here after a clean stop and after kill -9 at rest; any other
# transaction, a decision journalled after the file was written, or no
# file makes the start read them.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22 2300 2301
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
    max_duration: 1h
  - port: 2200-2210
    max_duration: 1h
Y
write_policy lan <<'Y'
name: lan
ports: [{port: 2300, max_duration: 1h}]
interfaces: [v1]
Y
write_policy wide <<'Y'
name: wide
ports: [{port: 2301, max_duration: 1h}]
interfaces: ["v*"]
Y

# The grant sets as sorted "set element" lines, timeouts left out. nft
# cannot print ranges of interface names (its JSON output aborts on them):
# the sets keyed by interface are listed as the key bytes the kernel holds.
kernel_elems() {
	local s
	{
	for s in grants_v4 grants_v6 grant_nets_v4 grant_nets_v6; do
		vm nft -j list set inet "$TABLE" "$s" |
			jq -r --arg s "$s" '.nftables[] | select(.set) | .set.elem // [] | .[] |
				(.elem.val // .) | [.concat[] | if type == "object" then
					(if .prefix then "\(.prefix.addr)/\(.prefix.len)"
					 elif .range then "\(.range[0])-\(.range[1])" else tostring end)
				else tostring end] | "\($s) " + join(" . ")'
	done
	for s in grants_if_v4 grants_if_v6 grant_nets_if_v4 grant_nets_if_v6; do
		vm nft --debug=netlink list set inet "$TABLE" "$s" 2>&1 |
			sed -n "s/^[[:space:]]*element \(.*\) : .*/$s \1/p" |
			sed 's/  */ /g'
	done
	} | sort
}
# Seconds the kernel has left for the element of a source in grants_v4.
expires_s() {
	vm nft -j list set inet "$TABLE" grants_v4 |
		jq -r --arg a "$1" '.nftables[] | select(.set) | .set.elem[] | select(.elem.val.concat[0] == $a) | .elem.expires'
}
monitor_start() {
	: >"$TMP/monitor.out"
	ip netns exec "$NS_VM" "$BUILD_DIR/tests/e2e/nft-events" >"$TMP/monitor.out" 2>&1 &
	MONITOR_PID=$!
	wait_for "the event listener" 5 grep -q listening "$TMP/monitor.out"
}
# The listener must have run throughout: a dead one sees nothing.
monitor_stop() {
	check "the event listener ran throughout" kill "$MONITOR_PID"
	wait "$MONITOR_PID" 2>/dev/null
}
# Lines of the monitor that add or delete an element matching $1.
touched() { grep -E '^(add|delete) [^ ]+ grant' "$TMP/monitor.out" | grep -F -- "$1" || true; }
# The kernel's elements are exactly those the records want.
same_as_records() { [ "$(kernel_elems)" = "$WANT" ]; }
# What the agent logged since mark_log.
mark_log() { LOG_MARK=$(wc -l <"$TMP/agent.log"); }
log_since() { tail -n +"$((LOG_MARK + 1))" "$TMP/agent.log"; }
not_read() { log_since | grep -q "(not read: as the agent left them)"; }
was_read() { log_since | grep -q "grant sets: .* (read in "; }

start_agent || exit 1
a=$(jitctl request ssh --port 22 --from "$C1_4" --for 30m | grant_id)
b=$(jitctl request ssh --port 22 --from "$C1_6" --for 30m | grant_id)
c=$(jitctl request ssh --port 2200-2210 --from 203.0.113.0/24 --for 30m | grant_id)
d=$(jitctl request ssh --port 22 --from "$C2_4" --for 30m | grant_id)
check "four grants given" [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ]
# On v1 only: a host and a prefix; on every v* interface: a host (for v1
# alone a host, for the names around it ranges).
f=$(jitctl request lan --port 2300 --from "$C1_6" --for 30m | grant_id)
g=$(jitctl request lan --port 2300 --from 2001:db8:2::/64 --for 30m | grant_id)
h=$(jitctl request wide --port 2301 --from "$C1_4" --for 30m | grant_id)
check "three interface-scoped grants given" [ -n "$f" ] && [ -n "$g" ] && [ -n "$h" ]
WANT=$(kernel_elems)
N=$(wc -l <<<"$WANT")
check "the kernel holds the four grants' elements" \
	[ "$(grep -cE '^grant(s|_nets)_v[46] ' <<<"$WANT")" = 4 ]
for s in grants_if_v4 grants_if_v6 grant_nets_if_v4 grant_nets_if_v6; do
	check "the kernel holds elements in $s" grep -q "^$s " <<<"$WANT"
done

# --- a clean restart, nothing changed: no element is touched --------------
stop_agent TERM
check "a clean stop leaves the kernel-view file" [ -s "$TMP/state/kernel-view" ]
monitor_start
mark_log
start_agent || exit 1
monitor_stop
check "clean restart: the sets are not read back" not_read
check "clean restart: no element deleted or added" [ -z "$(touched " ")" ]
check "clean restart: the kernel holds exactly the records' elements" same_as_records
check "the start says what it kept" grep -q "grant sets: $N elements kept, 0 added, 0 removed" "$TMP/agent.log"
expect_tcp c1 "$VM4_1" 22 open
expect_tcp c1 "$VM6_1" 2300 open
expect_tcp c1 "$VM4_1" 2301 open

# --- kill -9, nothing changed: the same -----------------------------------
# A decision first, so that the file is written by a pass, not a stop.
x=$(jitctl request ssh --port 2205 --from 198.51.100.20 --for 30m | grant_id)
check "a grant given before kill -9" [ -n "$x" ]
WANT=$(kernel_elems)
N=$(wc -l <<<"$WANT")
stop_agent KILL
monitor_start
mark_log
start_agent || exit 1
monitor_stop
check "restart after kill -9 at rest: the sets are not read back" not_read
check "restart after kill -9: no element deleted or added" [ -z "$(touched " ")" ]
check "restart after kill -9: the kernel holds exactly the records' elements" same_as_records
expect_tcp c1 "$VM4_1" 22 open

# --- differences made while the agent is down -------------------------------
# A foreign element, grant d's element taken out, grant a's end changed to
# 1h (longer than its record), a short grant e whose record ends while the
# agent is down but whose element was given a long timeout.
e=$(jitctl request ssh --port 22 --from 198.51.100.9 --for 2s | grant_id)
check "a short grant given" [ -n "$e" ]
stop_agent TERM
vm nft add element inet "$TABLE" grants_v4 "{ 203.0.113.7 . tcp . 22 timeout 1h }"
vm nft delete element inet "$TABLE" grants_v4 "{ $C2_4 . tcp . 22 }"
vm nft add element inet "$TABLE" grants_v4 "{ $C1_4 . tcp . 22 timeout 1h }"
vm nft add element inet "$TABLE" grants_v4 "{ 198.51.100.9 . tcp . 22 timeout 1h }"
check "grant a's element now ends in about an hour" [ "$(expires_s "$C1_4")" -gt 3000 ]
# Let e's record end.
wait_for "grant e's end to pass" 10 bash -c "[ \$(date +%s%3N) -gt $(($(date +%s%3N) + 2500)) ]"
monitor_start
mark_log
start_agent || exit 1
monitor_stop
check "after changes by another process the sets are read" was_read
check "the foreign element was deleted" [ -n "$(touched 203.0.113.7 | grep '^delete')" ]
check "the ended grant's element was deleted" [ -n "$(touched 198.51.100.9 | grep '^delete')" ]
check "the missing element was added back (clean stop: the journal decides)" \
	[ -n "$(touched "$C2_4 " | grep '^add')" ]
check "grant a's element was given its record's end again" [ -n "$(touched "$C1_4 " | grep '^add')" ]
a_left=$(expires_s "$C1_4")
check "grant a's element ends with its record (${a_left}s left, of 30m)" [ "$a_left" -le 1800 ] && [ "$a_left" -gt 1500 ]
check "the unchanged grants' elements were not touched" \
	[ -z "$(touched "$C1_6 ")$(touched 203.0.113.0-)" ]
check "the interface-scoped grants' elements were not touched" \
	[ -z "$(touched ' . 6 . 2300')$(touched ' . 6 . 2301')" ]
check "after the start the kernel holds exactly the records' elements" same_as_records
check "the start says what it changed" grep -q "grant sets: $((N - 2)) elements kept, 2 added, 3 removed" "$TMP/agent.log"
expect_tcp c1 "$VM4_1" 22 open
expect_tcp c2 "$VM4_2" 22 open

# --- the same differences after kill -9 --------------------------------------
# Every decision was synced before the crash: the journal decides again,
# the missing element comes back.
stop_agent KILL
vm nft add element inet "$TABLE" grants_v4 "{ 203.0.113.8 . tcp . 22 timeout 1h }"
vm nft delete element inet "$TABLE" grants_v4 "{ $C2_4 . tcp . 22 }"
monitor_start
start_agent || exit 1
monitor_stop
check "after kill -9 the foreign element was deleted" [ -n "$(touched 203.0.113.8 | grep '^delete')" ]
check "after kill -9 the missing element was added back" [ -n "$(touched "$C2_4 " | grep '^add')" ]
check "after kill -9 and changes the sets are read" was_read
check "after kill -9 nothing else was touched" \
	[ -z "$(touched "$C1_4 ")$(touched "$C1_6 ")$(touched 203.0.113.0-)" ]
check "after kill -9 the kernel holds exactly the records' elements" same_as_records
expect_tcp c1 "$VM4_1" 22 open
expect_tcp c2 "$VM4_2" 22 open
expect_tcp c1 "$VM6_1" 2300 open
expect_tcp c1 "$VM4_1" 2301 open

# --- what makes a start read the sets -----------------------------------------
WANT=$(kernel_elems)
# Another table changed while the agent is down: the generation moved.
stop_agent TERM
vm nft add table inet "other$$"
mark_log
start_agent || exit 1
check "a transaction on another table: the sets are read" was_read
check "... and the kernel holds exactly the records' elements" same_as_records
vm nft delete table inet "other$$"
# The same ruleset, but a decision journalled after the file was written:
# an older copy of the file (same generation, earlier journal end).
stop_agent TERM
mark_log
start_agent || exit 1
check "(a clean restart reads nothing)" not_read
cp "$TMP/state/kernel-view" "$TMP/kernel-view.before"
write_policy manual <<'Y'
name: manual
ports: [{port: 2210, max_duration: 1h}]
approval: manual
Y
jitctl reload >/dev/null
p=$(jitctl request manual --port 2210 --from 198.51.100.30 --for 10m | grant_id)
check "a request waits for approval (no kernel change)" [ -n "$p" ]
wait_for "the file to follow the journal" 5 bash -c "! cmp -s '$TMP/state/kernel-view' '$TMP/kernel-view.before'"
check "... the kernel-view file moved with the journal, same generation" \
	[ "$(cut -d' ' -f6 "$TMP/state/kernel-view")" = "$(cut -d' ' -f6 "$TMP/kernel-view.before")" ]
stop_agent KILL
cp "$TMP/kernel-view.before" "$TMP/state/kernel-view"
mark_log
start_agent || exit 1
check "a journal longer than the file says: the sets are read" was_read
check "... the request is still pending" grep -qE "(^| )$p .*pending" <<<"$(jitctl requests 2>&1)"
check "... and the kernel holds exactly the records' elements" same_as_records
# The policies changed while the agent was down: which set a grant's
# elements go to depends on them (lan's grants move to another interface).
# The start must read the sets: what it leaves is what a start that reads
# them (no file) leaves.
stop_agent TERM
write_policy lan <<'Y'
name: lan
ports: [{port: 2300, max_duration: 1h}]
interfaces: [v9]
Y
mark_log
start_agent || exit 1
check "policies changed while down: the sets are read" was_read
K1=$(kernel_elems)
stop_agent TERM
rm -f "$TMP/state/kernel-view"
start_agent || exit 1
check "... and the kernel holds what a start that reads them leaves" [ "$(kernel_elems)" = "$K1" ]
# Interface names as the kernel holds them: "v1" is 00003176, "v9" 00003976.
check "... lan's grants are keyed by the new interface, none by the old" \
	bash -c "grep -q '^grants_if_v6 00003976 ' <<<'$K1' && ! grep -q '00003176' <<<'$K1'"
WANT=$K1
# No file: the sets are read.
stop_agent TERM
rm -f "$TMP/state/kernel-view"
mark_log
start_agent || exit 1
check "no kernel-view file: the sets are read" was_read
check "... and the kernel holds exactly the records' elements" same_as_records
