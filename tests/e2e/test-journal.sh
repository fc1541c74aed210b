#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: grants mean exactly what was acknowledged. Each case is a
# way the promise once broke, now holding: a revoke followed at once by a
# kill -9, a revoke on a full disk, hosts whose address ends in a 1 bit
# across a crash, one record's end closing another's access, another user
# ending a grant by asking for the same key, ids across a crash, and
# listings of many grants.
. "$(dirname "$0")/lib.sh"
e2e_setup
chmod 755 "$TMP"

start_listeners 22 2202 2203 53

U_ALICE="${E2E_ID}al"
U_BOB="${E2E_ID}bo"
G_SOCK="${E2E_ID}so"
add_group "$G_SOCK"
add_user "$U_ALICE" "$G_SOCK"
add_user "$U_BOB" "$G_SOCK"
write_policy ssh <<Y
name: ssh
ports:
  - port: 22
    max_duration: 1h
  - port: 2202-2205
    max_duration: 1h
  - port: 53
    protocol: any
    max_duration: 1h
requesters: {users: [$U_ALICE, $U_BOB]}
Y
status_of() { jitctl --json requests --all | jq -r --argjson id "$1" '.requests[] | select(.id == $id) | .status'; }
in_set() { vm nft list set inet "$TABLE" "$1" | grep -q "$2"; }

# The state directory on a tiny file system of the test's own, so that it
# can be filled up.
STATE_MNT="$TMP/statefs"
mkdir -p "$STATE_MNT"
mount -t tmpfs -o size=256k,mode=0700 "jit-e2e-$E2E_ID" "$STATE_MNT"
CLEANUP+=("umount -l '$STATE_MNT'")
start_agent_here() { start_agent --socket-group "$G_SOCK" --state-dir "$STATE_MNT" "$@"; }
start_agent_here || exit 1

# --- 1. a revoke followed at once by a kill -9 stays revoked ---------------
id=$(jitctl request ssh --port 22 --from 198.51.100.7 --for 30m | grant_id)
jitctl revoke "$id" >/dev/null
stop_agent KILL
start_agent_here || exit 1
check "1: a revoke answered just before a kill -9 holds" [ "$(status_of "$id")" = revoked ]
check "1: and its element stays out of the kernel" bash -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q 198.51.100.7"
# Same for a denial and for a replaced grant.
a=$(jitctl request ssh --port 22 --from 198.51.100.8 --for 30m | grant_id)
b=$(jitctl request ssh --port 22 --from 198.51.100.8 --for 20m | grant_id)
stop_agent KILL
start_agent_here || exit 1
check "1: a replaced grant stays replaced after a kill -9" [ "$(status_of "$a")" = revoked ]
check "1: and its replacement is live" [ "$(status_of "$b")" = initiated ]

# --- 2. a revoke on a full disk is not undone by a restart ----------------
ids=()
for i in $(seq 1 8); do
	ids+=("$(jitctl request ssh --port 22 --from "198.51.100.$((20 + i))" --for 30m | grant_id)")
done
dd if=/dev/zero of="$STATE_MNT/filler" bs=4k count=1000 status=none 2>/dev/null || true
# The journal's last page may still take a line or two: ask until refused.
refused_src=""
for i in $(seq 1 40); do
	out=$(jitctl request ssh --port 22 --from "198.51.100.$((60 + i))" --for 30m 2>&1 || true)
	if grep -q "cannot record the decision" <<<"$out"; then
		refused_src="198.51.100.$((60 + i))"
		break
	fi
done
check "2: a grant on a full disk is refused with the reason: $out" grep -q "cannot record the decision: No space left on device" <<<"$out"
check "2: and opens nothing" bash -c "[ -n '$refused_src' ] && ! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$refused_src '"
unrecorded=""
for id in "${ids[@]}"; do
	out=$(jitctl revoke "$id" 2>&1)
	if grep -qi "not yet recorded" <<<"$out"; then
		unrecorded=$id
		break
	fi
done
check "2: a revoke on a full disk is in force, not yet recorded: $out" [ -n "$unrecorded" ]
src=$(jitctl --json requests --all | jq -r --argjson id "${unrecorded:-0}" '.requests[] | select(.id == $id) | .source' | cut -d/ -f1)
check "2: its element left the kernel" bash -c "[ -n '$src' ] && ! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$src '"
# A failed write gives its partial page back: take that too, so the
# journal stays unwritable while status is asked.
dd if=/dev/zero of="$STATE_MNT/filler2" bs=512 count=1000 status=none 2>/dev/null || true
check "2: status says the journal is degraded" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.journal.state == \"degraded\"' >/dev/null"
check "2: jitctl status says DEGRADED" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK status | grep -q '^journal: *DEGRADED'"
check "2: a High alert is raised" grep -q '"alert_type":"JIT_JOURNAL_FAILED".*"severity":"High"' "$TMP/log/alerts.log"
stop_agent TERM
rm -f "$STATE_MNT/filler" "$STATE_MNT/filler2"
start_agent_here || exit 1
check "2: after a stop and a freed disk the revoke holds" [ "$(status_of "${unrecorded:-0}")" = revoked ]
check "2: and the grant is not back in the kernel" bash -c "[ -n '$src' ] && ! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$src '"
check "2: status is ok again" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.journal.state == \"ok\"' >/dev/null"

# --- 3. hosts ending in a 1 bit are kept across a crash --------------------
for h in 4 5 7 2001:db8:1::1; do
	src="192.0.2.$h"; [ "${h#2001}" != "$h" ] && src="$h"
	jitctl request ssh --port 22 --from "$src" --for 30m >/dev/null
done
stop_agent KILL
start_agent_here || exit 1
for h in 192.0.2.4 192.0.2.5 192.0.2.7; do
	check "3: $h is still granted after a kill -9" in_set grants_v4 "$h . tcp . 22"
done
check "3: 2001:db8:1::1 is still granted after a kill -9" in_set grants_v6 "2001:db8:1::1 . tcp . 22"
check "3: jitctl grants lists all four" [ "$(jitctl --json grants | jq '[.grants[] | select(.source | test("^192.0.2.[457]/32$|^2001:db8:1::1/128$"))] | length')" = 4 ]

# --- 4. one record's end never closes another's access ---------------------
long=$(jitctl request ssh --port 53 --protocol any --from 203.0.113.5 --for 30m | grant_id)
jitctl request ssh --port 53 --protocol udp --from 203.0.113.5 --for 2s >/dev/null
short_gone() { [ "$(jitctl --json grants | jq '[.grants[] | select(.source == "203.0.113.5/32")] | length')" = 1 ]; }
wait_for "the short grant expired" 8 short_gone
check "4: the long tcp+udp grant is still live" [ "$(status_of "$long")" = initiated ]
check "4: its udp element is still in the kernel" in_set grants_v4 "203.0.113.5 . udp . 53"
timeout_of() { vm nft list set inet "$TABLE" grants_v4 | grep -o "203.0.113.5 . udp . 53 timeout [0-9hms]*" | head -n1; }
# The long grant's ~30 minutes, not the short one's seconds (the kernel
# counts from when the element was written: 30m, or 29m59s and some ms).
check "4: with the long grant's timeout ($(timeout_of))" bash -c "[[ '$(timeout_of)' =~ timeout\ (30m|29m[0-9]) ]]"
one=$(jitctl request ssh --port 2202 --from 203.0.113.6 --for 30m | grant_id)
range=$(jitctl request ssh --port 2202-2205 --from 203.0.113.6 --for 30m | grant_id)
jitctl revoke "$one" >/dev/null
check "4: revoking a port grant keeps the range grant's port" in_set grants_v4 "203.0.113.6 . tcp . 2202"
check "4: the range grant is live" [ "$(status_of "$range")" = initiated ]

# --- 5. another requester cannot end a grant by asking for the same key ----
mine=$(actl "$U_ALICE" request ssh --port 22 --from 203.0.113.8 --for 30m | grant_id)
actl "$U_BOB" request ssh --port 22 --from 203.0.113.8 --for 1s >/dev/null
check "5: alice's grant is still live after bob asked for the same key" [ "$(status_of "$mine")" = initiated ]
sleep 1.5
check "5: and its element outlives bob's one second" in_set grants_v4 "203.0.113.8 . tcp . 22"
out=$(actl "$U_BOB" revoke "$mine" 2>&1 || true)
check "5: bob may not revoke it: $out" grep -q "no request $mine" <<<"$out"

# --- 6. ids are never reused after a crash ---------------------------------
before=$(jitctl request ssh --port 22 --from 203.0.113.9 --for 30m | grant_id)
stop_agent KILL
start_agent_here || exit 1
after=$(jitctl request ssh --port 22 --from 203.0.113.10 --for 30m | grant_id)
check "6: the first id after a crash ($after) is above the last one ($before)" [ "$after" -gt "$before" ]

# --- 7. listings of many grants are paged ------------------------------------
for i in $(seq 1 60); do
	printf '{"op":"request","policy":"ssh","port":22,"source":"198.51.100.%d","duration":"30m"}\n' "$((i + 100))"
done | vm "$PROBE" unix "$SOCK" >/dev/null
total=$(jitctl --json grants | jq '.grants | length')
page=$(echo '{"op":"grants","limit":25}' | vm "$PROBE" unix "$SOCK")
check "7: a page holds what was asked and says where the next starts" bash -c "jq -e '(.grants | length) == 25 and (.next | type) == \"number\"' <<<'$page' >/dev/null"
check "7: jitctl grants pages through all $total" [ "$total" -ge 60 ]
check "7: --limit stops early" [ "$(jitctl --json grants --limit 10 | jq '.grants | length')" = 10 ]
