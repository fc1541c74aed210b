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
# holds exactly the records' elements.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
    max_duration: 1h
  - port: 2200-2210
    max_duration: 1h
Y

# The grant sets as sorted "set element" lines, timeouts left out.
kernel_elems() {
	local s
	for s in grants_v4 grants_v6 grant_nets_v4 grant_nets_v6; do
		vm nft -j list set inet "$TABLE" "$s" |
			jq -r --arg s "$s" '.nftables[] | select(.set) | .set.elem // [] | .[] |
				(.elem.val // .) | [.concat[] | if type == "object" then
					(if .prefix then "\(.prefix.addr)/\(.prefix.len)"
					 elif .range then "\(.range[0])-\(.range[1])" else tostring end)
				else tostring end] | "\($s) " + join(" . ")'
	done | sort
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

start_agent || exit 1
a=$(jitctl request ssh --port 22 --from "$C1_4" --for 30m | grant_id)
b=$(jitctl request ssh --port 22 --from "$C1_6" --for 30m | grant_id)
c=$(jitctl request ssh --port 2200-2210 --from 203.0.113.0/24 --for 30m | grant_id)
d=$(jitctl request ssh --port 22 --from "$C2_4" --for 30m | grant_id)
check "four grants given" [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ]
WANT=$(kernel_elems)
check "the kernel holds the four grants' elements" [ "$(wc -l <<<"$WANT")" = 4 ]

# --- a clean restart, nothing changed: no element is touched --------------
stop_agent TERM
monitor_start
start_agent || exit 1
monitor_stop
check "clean restart: no element deleted or added" [ -z "$(touched " ")" ]
check "clean restart: the kernel holds exactly the records' elements" same_as_records
check "the start says what it kept" grep -q "grant sets: 4 elements kept, 0 added, 0 removed" "$TMP/agent.log"
expect_tcp c1 "$VM4_1" 22 open

# --- kill -9, nothing changed: the same -----------------------------------
stop_agent KILL
monitor_start
start_agent || exit 1
monitor_stop
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
start_agent || exit 1
monitor_stop
check "the foreign element was deleted" [ -n "$(touched 203.0.113.7 | grep '^delete')" ]
check "the ended grant's element was deleted" [ -n "$(touched 198.51.100.9 | grep '^delete')" ]
check "the missing element was added back (clean stop: the journal decides)" \
	[ -n "$(touched "$C2_4 " | grep '^add')" ]
check "grant a's element was given its record's end again" [ -n "$(touched "$C1_4 " | grep '^add')" ]
a_left=$(expires_s "$C1_4")
check "grant a's element ends with its record (${a_left}s left, of 30m)" [ "$a_left" -le 1800 ] && [ "$a_left" -gt 1500 ]
check "the unchanged grants' elements were not touched" \
	[ -z "$(touched "$C1_6 ")$(touched 203.0.113.0-)" ]
check "after the start the kernel holds exactly the records' elements" same_as_records
check "the start says what it changed" grep -q "grant sets: 2 elements kept, 2 added, 3 removed" "$TMP/agent.log"
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
check "after kill -9 nothing else was touched" \
	[ -z "$(touched "$C1_4 ")$(touched "$C1_6 ")$(touched 203.0.113.0-)" ]
check "after kill -9 the kernel holds exactly the records' elements" same_as_records
expect_tcp c1 "$VM4_1" 22 open
expect_tcp c2 "$VM4_2" 22 open
