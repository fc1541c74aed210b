#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the journal at its edges.
#   1. A full disk at a page boundary: the journal's last page has room for
#      a new grant's line but not for the line ending the grant it
#      replaces. The request is answered not-recorded and takes nothing
#      back: the acknowledged grant stays live, in the kernel too, and the
#      id of the refused request is never seen again, not after a kill -9.
#   2. A damaged journal: a flipped byte in a line of an older file loses
#      nothing after it, and is reported (status names the file and line,
#      one High alert); a newest file cut short inside a revoke line does
#      not bring the revoked grant back, nor give its id again.
# The state directory is on a 256 KiB tmpfs of the test's own, unmounted at
# exit.
. "$(dirname "$0")/lib.sh"
e2e_setup

write_policy ssh <<Y
name: ssh
ports:
  - port: 22
    max_duration: 1h
  - port: 2202
    max_duration: 1h
Y
write_policy gated <<Y
name: gated
ports: [{port: 3389, max_duration: 1h}]
approval: manual
Y

STATE_MNT="$TMP/statefs"
mkdir -p "$STATE_MNT"
mount -t tmpfs -o size=256k,mode=0700 "jit-e2e-$E2E_ID" "$STATE_MNT" || {
	fail "cannot mount a tmpfs on $STATE_MNT"
	exit 1
}
on_cleanup umount -l "$STATE_MNT"
start_here() { start_agent --state-dir "$STATE_MNT" "$@"; }
start_here || exit 1

status_of() { jitctl --json requests --all | jq -r --argjson id "$1" '.requests[] | select(.id == $id) | .status'; }
reason_of() { jitctl --json requests --all | jq -r --argjson id "$1" '.requests[] | select(.id == $id) | .status_reason // ""'; }
listed() { jitctl --json requests --all | jq -e --argjson id "$1" '[.requests[] | select(.id == $id)] | length > 0' >/dev/null; }
in_kernel() { vm nft list set inet "$TABLE" grants_v4 | grep -q "$1"; }
# The newest journal file (not a kept-aside copy nor a marker).
newest() { find "$STATE_MNT" -maxdepth 1 -name 'journal.*' ! -name '*-*' | sort | tail -n1; }
size_of() { stat -c %s "$1"; }
# Bytes of the line of record $2 in status $3 (I, P, R...) in file $1.
line_len() { grep -a -P "^[0-9a-f]{8} r\t$2\t$3\t" "$1" | tail -n1 | wc -c; }
fill_disk() {
	dd if=/dev/zero of="$STATE_MNT/filler" bs=4k status=none 2>/dev/null || true
	dd if=/dev/zero of="$STATE_MNT/filler2" bs=512 status=none 2>/dev/null || true
}
free_disk() { rm -f "$STATE_MNT/filler" "$STATE_MNT/filler2"; }

# --- 1. the page boundary ----------------------------------------------------
first=$(jitctl request ssh --port 22 --from 192.0.2.5 --for 1h | grant_id)
check "1: grant $first is acknowledged" [ -n "$first" ]
J=$(newest)
l_grant=$(line_len "$J" "$first" I)
# The line that ends it would carry the reason and who replaced it.
l_end=$((l_grant + 23))
# Pad with pending requests until the last page has room for the new
# grant's line (and a little), not for both lines.
n=0 room=0 next_id=0 lo=0 hi=0
while [ "$n" -lt 200 ]; do
	size=$(size_of "$J")
	room=$(((4096 - size % 4096) % 4096))
	next_id=$(($(jitctl --json requests --all | jq '[.requests[].id] | max') + 1))
	lo=$((l_grant + ${#next_id} - ${#first} + 4))
	hi=$((lo + l_end - 30))
	[ "$room" -ge "$lo" ] && [ "$room" -lt "$hi" ] && break
	n=$((n + 1))
	jitctl request gated --port 3389 --from "198.51.100.$((n % 250 + 1))" --for 10m >/dev/null
done
check "1: padded with $n pending requests to $room bytes left in the last page (want $lo..$hi)" \
	[ "$room" -ge "$lo" -a "$room" -lt "$hi" ]
pending=$(jitctl --json requests | jq -r '[.requests[] | select(.status == "pending") | .id] | first')
fill_disk
size=$(size_of "$J")
out=$(jitctl request ssh --port 22 --from 192.0.2.5 --for 1h 2>&1 || true)
check "1: the same request again is answered not-recorded: $out" grep -q "cannot record the decision" <<<"$out"
check "1: grant $first is still live" [ "$(status_of "$first")" = initiated ]
check "1: and not 'newer request initiated' ($(reason_of "$first"))" [ "$(reason_of "$first")" != "newer request initiated" ]
check "1: 192.0.2.5 . tcp . 22 is still in the kernel" in_kernel "192.0.2.5 . tcp . 22"
check "1: the journal is back at its synced size ($(size_of "$J"), $size before)" [ "$(size_of "$J")" = "$size" ]
undone=$(grep '"event":"undo"' "$TMP/log/audit.log" | jq -r '.request_id' | tail -n1)
check "1: the audit trail says which request was taken back ($undone)" [ -n "$undone" ]
seen=no; listed "${undone:-0}" && seen=yes
check "1: request $undone is not listed" [ "$seen" = no ]
stop_agent KILL
free_disk
start_here || exit 1
check "1: after a kill -9, grant $first is live" [ "$(status_of "$first")" = initiated ]
check "1: and in the kernel" in_kernel "192.0.2.5 . tcp . 22"
seen=no; listed "${undone:-0}" && seen=yes
check "1: request $undone is never seen again" [ "$seen" = no ]
check "1: pending request $pending is still pending" [ "$(status_of "$pending")" = pending ]
id=$(jitctl request ssh --port 2202 --from 192.0.2.6 --for 10m | grant_id)
check "1: a new request gets an id ($id) above $undone" [ "${id:-0}" -gt "${undone:-0}" ]
stop_agent TERM

# --- 2. damage -------------------------------------------------------------
rm -rf "${STATE_MNT:?}"/*
vm "$ENFORCER" --remove --table "$TABLE" >/dev/null 2>&1
start_here || exit 1
g=()
for h in 11 12 13; do
	g+=("$(jitctl request ssh --port 22 --from "192.0.2.$h" --for 1h | grant_id)")
done
stop_agent KILL
start_here || exit 1 # the next lines go to a newer file
other=$(jitctl request ssh --port 2202 --from 192.0.2.14 --for 1h | grant_id)
stop_agent KILL
OLD=$(find "$STATE_MNT" -maxdepth 1 -name 'journal.*' ! -name '*-*' | sort | head -n1)
lineno=$(grep -a -n -P "^[0-9a-f]{8} r\t${g[0]}\tI\t" "$OLD" | head -n1 | cut -d: -f1)
off=$(head -n "$((lineno - 1))" "$OLD" | wc -c)
# One flipped bit in the source address of the first grant's line.
byte=$(dd if="$OLD" bs=1 skip=$((off + 30)) count=1 status=none | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$OLD" bs=1 seek=$((off + 30)) conv=notrunc status=none
osize=$(size_of "$OLD")
start_here || exit 1
for k in 1 2; do
	check "2: grant ${g[$k]}, after the damaged line, is still live" [ "$(status_of "${g[$k]}")" = initiated ]
	check "2: and in the kernel" in_kernel "192.0.2.1$((k + 1)) . tcp . 22"
done
check "2: grant $other, in the newer file, is live" [ "$(status_of "$other")" = initiated ]
kept=$(find "$STATE_MNT" -maxdepth 1 -name "$(basename "$OLD").damaged-*" | head -n1)
check "2: the damaged file is kept aside ($kept)" [ -n "$kept" ]
check "2: whole, not cut" [ "$(size_of "${kept:-/nonexistent}")" = "$osize" ]
st=$(jitctl --json status)
check "2: status is degraded and names the file and line: $(jq -c .journal <<<"$st")" \
	jq -e --arg f "$(basename "$OLD")" --arg l "line $lineno" \
	'.journal.state == "degraded" and (.journal.damaged | contains($f) and contains($l))' <<<"$st" >/dev/null
check "2: jitctl status says so" grep -q 'DEGRADED.*damaged' <<<"$(jitctl status)"
check "2: one High alert" [ "$(grep -c '"alert_type":"JIT_JOURNAL_DAMAGED".*"severity":"High"' "$TMP/log/alerts.log")" = 1 ]
id=$(jitctl request ssh --port 2202 --from 192.0.2.15 --for 10m | grant_id)
check "2: ids skip past what the damaged line could have named ($id)" [ "${id:-0}" -gt $((other + 1024)) ]

# The newest file cut short inside a revoke line.
h=$(jitctl request ssh --port 22 --from 192.0.2.21 --for 1h | grant_id)
jitctl revoke "$h" >/dev/null
stop_agent KILL
J=$(newest)
lineno=$(grep -a -n -P "^[0-9a-f]{8} r\t$h\tR\t" "$J" | tail -n1 | cut -d: -f1)
check "2: the revoke of $h is the newest file's line $lineno" [ -n "$lineno" ]
off=$(head -n "$((lineno - 1))" "$J" | wc -c)
truncate -s $((off + 25)) "$J"
start_here || exit 1
check "2: the revoked grant $h does not come back ($(status_of "$h"))" [ "$(status_of "$h")" != initiated ]
check "2: nor its element" bash -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '192.0.2.21 '"
id2=$(jitctl request ssh --port 2202 --from 192.0.2.22 --for 10m | grant_id)
check "2: the next id ($id2) is above everything given before ($h)" [ "${id2:-0}" -gt "$h" ]
stop_agent TERM
