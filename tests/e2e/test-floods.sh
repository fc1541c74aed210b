#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: floods cannot drown the audit trail. SPA packets that are
# stale, undecryptable or replayed, resent without pause from one source
# or from many, and fresh authenticated packets that are refused, grow the
# audit and alert logs by a bounded amount (their first few lines in full,
# then one line per window with counts, each window anew), and a
# legitimate packet still opens; junk from one source cannot use the
# kernel's whole SPA budget (a meter per source in front of it). A
# follower removed from the approvers' group stops seeing their requests
# on a reload, and without one once its groups are looked up again.
. "$(dirname "$0")/lib.sh"
if ! command -v fwknop >/dev/null; then
	echo "FAIL: 'fwknop' is missing; run tools/install-deps" >&2
	exit 1
fi
e2e_setup
chmod 755 "$TMP"
FLOOD="$BUILD_DIR/tests/e2e/udpflood"

U="jfl${E2E_ID: -6}"
V="jfv${E2E_ID: -6}"
G="jfg${E2E_ID: -6}"
add_group "$G"
GA="jfa${E2E_ID: -6}"
add_group "$GA"
add_user "$U" "$G"
add_user "$V" "$G,$GA"
AUDIT="$TMP/log/audit.log"
ALERTS="$TMP/log/alerts.log"
start_listeners 22
write_policy ssh <<Y
name: ssh
ports:
  - port: 22
    max_duration: 1h
    allowed_sources: [any]
requesters: {users: [$U, $V]}
Y
write_policy rdp <<Y
name: rdp
ports:
  - port: 3389
    max_duration: 1h
requesters: {users: [$U]}
approval: manual
approvers: {groups: [$GA]}
Y
K=$(head -c 32 /dev/urandom | base64 -w0)
H=$(head -c 64 /dev/urandom | base64 -w0)
ACCESS="$TMP/access.conf"
printf 'SOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nJIT_USER %s\nFW_ACCESS_TIMEOUT 30\n' \
	"$K" "$H" "$U" >"$ACCESS"
# A second stanza that opens only tcp/22: it refuses packets for others.
K2=$(head -c 32 /dev/urandom | base64 -w0)
H2=$(head -c 64 /dev/urandom | base64 -w0)
printf '\nSOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nJIT_USER %s\nOPEN_PORTS tcp/22\n' \
	"$K2" "$H2" "$U" >>"$ACCESS"
chmod 600 "$ACCESS"
start_agent --spa-access "$ACCESS" --socket-group "$G" || exit 1

# packet FILE ARGS...: an SPA packet of the stanza's keys, saved, not sent.
packet() {
	local f="$1"
	shift
	HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM4_1" \
		--key-base64-rijndael "$K" --key-base64-hmac "$H" --use-hmac \
		-T -B "$f" "$@" >/dev/null 2>&1
}
logs_size() { cat "$AUDIT" "$ALERTS" 2>/dev/null | wc -c; }
grant_for() { jitctl --json grants | jq -e --arg s "$1" \
	'[.grants[] | select(.source == $s)] | length == 1' >/dev/null; }
spa_counter() { jitctl --json status | jq -r ".spa.counters.$1"; }
# counted_at_least NAME N: the agent has read N packets of that kind
counted_at_least() { [ "$(spa_counter "$1")" -ge "$2" ]; }

# flood NAME FILE COUNT SRC: COUNT copies of FILE from c2, then the logs'
# growth is at most 100 KB (the flood takes far less than a minute, so
# this is the per-minute bound too) and a fresh packet from c1 still opens.
N=0
flood() {
	local name="$1" file="$2" count="$3" src="$4" kind="$5" before after sent
	N=$((N + 1))
	before=$(logs_size)
	local seen0
	seen0=$(spa_counter "$kind")
	sent=$(c2 "$FLOOD" "$VM4_2" 62201 "$count" "$file" "$src")
	# Wait until the agent has read what the kernel let through.
	wait_for "$name read" 20 counted_at_least "$kind" $((seen0 + 1))
	local prev=-1 cur
	while cur=$(spa_counter "$kind") && [ "$cur" != "$prev" ]; do
		prev=$cur
		sleep 0.5
	done
	after=$(logs_size)
	echo "# $name: $sent sent, $((cur - seen0)) read by the agent, logs grew $((after - before)) bytes"
	check "$name: logs grow under 100 KB ($((after - before)) bytes for $((cur - seen0)) packets)" \
		[ $((after - before)) -lt 100000 ]
	packet "$TMP/fresh-$N.spa" -A tcp/22 -a "192.0.2.$((100 + N))"
	c1 socat -u "FILE:$TMP/fresh-$N.spa" "UDP-SENDTO:$VM4_1:62201"
	check "$name: a legitimate packet still opens" \
		wait_for "grant after $name" 5 grant_for "192.0.2.$((100 + N))/32"
}

# --- 1. stale, from one fixed source ------------------------------------
packet "$TMP/stale.spa" -A tcp/22 -a 192.0.2.50 --time-offset-minus 600s
flood "stale packets from one source" "$TMP/stale.spa" 4000 "$C2_4" stale
# From many sources, the kernel's meters let them all through to the agent.
flood "stale packets from random sources" "$TMP/stale.spa" 4000 random:198.51.100 stale

# --- undecryptable (right HMAC key, wrong key), from one fixed source ----
HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM4_1" -A tcp/22 -a 192.0.2.51 \
	--key-base64-rijndael "$(head -c 32 /dev/urandom | base64 -w0)" --key-base64-hmac "$H" \
	--use-hmac -T -B "$TMP/bad.spa" >/dev/null 2>&1
flood "undecryptable packets from one source" "$TMP/bad.spa" 4000 "$C2_4" bad_data

# --- a fresh packet replayed from many sources ---------------------------
packet "$TMP/replayed.spa" -A tcp/22 -a 192.0.2.52
c1 socat -u "FILE:$TMP/replayed.spa" "UDP-SENDTO:$VM4_1:62201"
check "the packet opens once" wait_for "first use" 5 grant_for 192.0.2.52/32
alerts0=$(grep -c JIT_SPA_REPLAY "$ALERTS")
flood "a replay from random sources" "$TMP/replayed.spa" 4000 random:198.51.100 replays
n_alerts=$(($(grep -c JIT_SPA_REPLAY "$ALERTS") - alerts0))
check "replay alerts are bounded ($n_alerts)" [ "$n_alerts" -le 6 ]


# --- the recent events keep others' history ----------------------------
jitctl request ssh --port 22 --from 203.0.113.9 --for 1m >/dev/null
check "events still hold a request made before the floods" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json events | jq -e '[.events[] | select(.event == \"request\")] | length >= 1' >/dev/null"

# --- 2. junk from one source cannot starve the others --------------------
ip netns exec "$NS_C2" "$FLOOD" "$VM4_2" 62201 3000000 - "$C2_4" >/dev/null &
junk=$!
wait_for "the junk flood reaches the agent" 10 counted_at_least ignored 100
opened=0
for i in 1 2 3 4 5; do
	packet "$TMP/valid-$i.spa" -A tcp/22 -a "192.0.2.$((200 + i))"
	c1 socat -u "FILE:$TMP/valid-$i.spa" "UDP-SENDTO:$VM4_1:62201"
done
for i in 1 2 3 4 5; do
	wait_for "valid packet $i" 5 grant_for "192.0.2.$((200 + i))/32" && opened=$((opened + 1))
done
running=no
kill -0 "$junk" 2>/dev/null && running=yes
kill "$junk" 2>/dev/null
wait "$junk" 2>/dev/null
echo "# junk flood still running while the valid packets were sent: $running"
check "with one source flooding, $opened of 5 valid packets from another open" [ "$opened" = 5 ]
out=$(vm nft list set inet "$TABLE" spa_meter_v4 2>&1)
check "the flooding source is metered on its own" grep -q "$C2_4" <<<"$out"
out=$(vm nft list chain inet "$TABLE" input 2>&1)
check "the meters come before the global limit, per IPv4 address and per IPv6 /64" \
	grep -Pzq 'udp dport 62201 update @spa_meter_v4 \{ ip saddr limit rate over 10/second burst 20 packets \} drop\n\s*udp dport 62201 update @spa_meter_v6 \{ ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over 10/second burst 20 packets \} drop\n\s*udp dport 62201 limit rate 2000/second' <<<"$out"

# --- 4. who sees what ----------------------------------------------------
# A refused SPA packet's alert quotes its user's message: for that user
# and root, as its line among the events is; not for every socket user.
packet "$TMP/noport.spa" -A tcp/2222 -a 192.0.2.60
c1 socat -u "FILE:$TMP/noport.spa" "UDP-SENDTO:$VM4_1:62201"
check "a refused packet raises JIT_SPA_REFUSED" wait_for "refused alert" 5 \
	grep -q '"alert_type":"JIT_SPA_REFUSED".*192.0.2.60,tcp/2222' "$ALERTS"
check "its user sees the alert" bash -c "actl() { ip netns exec $NS_VM setpriv --reuid=$U --regid=\$(id -g $U) --init-groups $JITCTL --socket $SOCK \"\$@\"; }; actl --json alerts | grep -q '192.0.2.60,tcp/2222'"
check "another socket user does not" bash -c "ip netns exec $NS_VM setpriv --reuid=$V --regid=\$(id -g $V) --init-groups $JITCTL --socket $SOCK --json alerts | jq -e '[.alerts[] | select(.alert_type == \"JIT_SPA_REFUSED\")] | length == 0' >/dev/null"
# A follower removed from the approvers' group stops getting their requests
# once the policies reload (and within a minute without one).
as "$V" "$JITCTL" --socket "$SOCK" --json events --follow >"$TMP/v-follow.jsonl" 2>&1 &
follower=$!
followers_are() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_followers{stream=\"events\"}" {print $2}')" = "$1" ]; }
wait_for "follow started" 5 followers_are 1
actl "$U" request rdp --port 3389 --from 192.0.2.61 --for 1m >/dev/null
check "an approver following events sees a pending request" wait_for "pending seen" 5 \
	grep -q '"source":"192.0.2.61/32"' "$TMP/v-follow.jsonl"
gpasswd -d "$V" "$GA" >/dev/null
jitctl reload >/dev/null
actl "$U" request rdp --port 3389 --from 192.0.2.62 --for 1m >/dev/null
actl "$U" request ssh --port 22 --from 192.0.2.63 --for 1m >/dev/null
jitctl request ssh --port 22 --from 192.0.2.64 --for 1m >/dev/null
actl "$V" request ssh --port 22 --from 192.0.2.65 --for 1m >/dev/null
# Its own request came after the others: the stream, in order, is alive.
check "the follower still sees its own request" wait_for "own request seen" 5 \
	grep -q '"source":"192.0.2.65/32"' "$TMP/v-follow.jsonl"
check "once removed from the group, the follower no longer sees them" \
	bash -c "! grep -q '192.0.2.62/32' '$TMP/v-follow.jsonl'"
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null

# --- 3. one user pipelining requests: a token bucket per user ----------
actl "$V" request ssh --port 22 --from 203.0.113.77 --for 1m >/dev/null
before=$(logs_size)
for i in $(seq 1 3000); do
	printf '{"op":"request","policy":"ssh","port":22,"source":"203.0.113.5","duration":"1m"}\n'
done >"$TMP/pipeline.jsonl"
as "$U" "$PROBE" unix "$SOCK" <"$TMP/pipeline.jsonl" >"$TMP/pipeline.out"
after=$(logs_size)
granted=$(grep -c '"ok":true' "$TMP/pipeline.out")
limited=$(grep -c '"code":"rate-limited"' "$TMP/pipeline.out")
echo "# 3000 pipelined requests: $granted granted, $limited rate-limited, logs grew $((after - before)) bytes"
check "a user pipelining requests is rate-limited ($granted granted, $limited refused)" \
	[ "$limited" -gt 2900 ]
check "... with a clear refusal" grep -q '"code":"rate-limited","message":"user .'"$U"'. asks faster than' "$TMP/pipeline.out"
check "... and the logs grow under 100 KB ($((after - before)) bytes)" [ $((after - before)) -lt 100000 ]
check "the other user's request is still among the recent events" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json events | jq -e --arg v $V '[.events[] | select(.peer_user == \$v and .event == \"request\" and .source == \"203.0.113.77/32\")] | length == 1' >/dev/null"
check "root is not rate-limited" bash -c "for i in \$(seq 1 30); do printf '{\"op\":\"request\",\"policy\":\"ssh\",\"port\":22,\"source\":\"203.0.113.6\",\"duration\":\"1m\"}\n'; done | ip netns exec $NS_VM $PROBE unix $SOCK | grep -c '\"ok\":true' | grep -qx 30"
ip netns exec "$NS_VM" "$PROBE" unix "$SOCK" <"$TMP/pipeline.jsonl" >/dev/null
check "... nor does root's own flood evict the other user's history" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json events | jq -e --arg v $V '[.events[] | select(.peer_user == \$v and .event == \"request\" and .source == \"203.0.113.77/32\")] | length == 1' >/dev/null"

# --- 7. one schema: the same fields on every line (lib.sh checks every
# line against docs/audit-schema.json at exit); a few by value here.
audited() { grep -q "$1" "$AUDIT"; }
actl "$V" request ssh --port 22 --from 203.0.113.41 --for 2h >/dev/null 2>&1
check "audit: a refused request names its ports with the protocol" \
	audited '"event":"request","peer_uid":[0-9]*,"peer_user":"'"$V"'","result":"refused".*"ports":"tcp/22"'
jitctl request ssh --port 22 --from 203.0.113.42 --for 2s >/dev/null
check "audit: root's request names root as its requestor" \
	audited '"result":"granted","channel":"socket","actor":{"user":"root","uid":0}.*"source":"203.0.113.42/32".*"requestor":"root"'
check "audit: an expiry is the timer's, not uid 0's" wait_for "expiry" 10 \
	audited '"event":"expire","result":"expired","channel":"timer","actor":{"user":"jit-enforcer","uid":null}.*"source":"203.0.113.42/32"'

# --- 5. what the agent enforces changes only with a trace --------------
check "audit: the agent started" audited '"event":"agent","result":"started"'
check "audit: the policies loaded at start, with file and hash" \
	audited '"event":"policy","result":"loaded","policy":"ssh","file":"[^"]*/ssh.yaml","sha256":"[0-9a-f]\{64\}"'
# A drop that widens who may request is a visible change.
write_policy rdp <<Y
name: rdp
ports:
  - port: 3389
    max_duration: 1h
requesters: {users: [$U, $V]}
approval: manual
approvers: {groups: [$GA]}
Y
check "audit: a policy's requesters widened, before and after" wait_for "policy changed" 5 \
	audited '"event":"policy","result":"changed","policy":"rdp".*"sha256_before":"[0-9a-f]*".*"changes":{"requesters":{"before":{"users":\["'"$U"'"\],"groups":\[\]},"after":{"users":\["'"$U"'","'"$V"'"\]'
check "... by the agent watching the directory" audited '"event":"reload","result":"done","trigger":"directory"'
# A drop that silences detection host-wide raises an alert.
write_policy quiet <<Y
name: quiet
ports:
  - port: 2200
requesters: {users: [$U]}
alerts:
  log_rate: 0
Y
check "audit: a new policy with log_rate 0" wait_for "policy quiet" 5 \
	audited '"event":"policy","result":"loaded","policy":"quiet".*"log_rate":0'
check "... raises JIT_DETECTION_OFF" wait_for "detection off alert" 5 \
	grep -q '"alert_type":"JIT_DETECTION_OFF".*quiet.*log_rate' "$ALERTS"
rm "$TMP/policies/quiet.yaml"
check "audit: a policy removed" wait_for "policy removed" 5 \
	audited '"event":"policy","result":"removed","policy":"quiet"'
kill -HUP "$AGENT_PID"
check "audit: a reload on SIGHUP" wait_for "sighup" 5 audited '"event":"reload","result":"done","trigger":"sighup"'
jitctl reload >/dev/null
check "audit: a reload on the socket, by root" \
	audited '"event":"reload","result":"done","trigger":"socket".*"channel":"socket","actor":{"user":"root","uid":0}'

# --- what was counted is told: one line per window, at the latest at stop --
stop_agent TERM
# The floods may straddle a window's end on a slow host: what is checked
# is summed over the summary lines (one per window).
check "the floods are summed up in lines with their counts" \
	bash -c "jq -s -e '[.[] | select(.event == \"spa\" and .result == \"suppressed\") | .counts]
		| (map(.stale // 0) | add) > 0 and (map(.bad_data // 0) | add) > 0 and (map(.replay // 0) | add) > 0' '$AUDIT' >/dev/null"
# Per source: the one that flooded alone had its first 10 packets of a
# window written in full, no more (how many of its packets the kernel's
# meter let through, against the random sources', decides whether it is
# also the busiest, so that is not asserted); each window names its five
# busiest sources, busiest first, and counts the many random ones.
SUMMARIES=$(jq -c 'select(.event == "spa" and .result == "suppressed")' "$AUDIT")
full_c2=$(jq -s --arg s "$C2_4/32" '[.[] | select(.event == "spa" and .result == "refused" and .packet_source == $s)] | length' "$AUDIT")
check "... the source that flooded alone: 10 lines in full per window ($full_c2 in $(wc -l <<<"$SUMMARIES") window(s))" \
	[ "$full_c2" -ge 10 ] && [ "$full_c2" -le $((10 * $(wc -l <<<"$SUMMARIES"))) ]
check "... each window names at most five sources, busiest first, of many" \
	bash -c "jq -s -e 'all(.[]; (.top_sources | length) >= 1 and (.top_sources | length) <= 5
		and ([.top_sources[].count] == ([.top_sources[].count] | sort | reverse)))
		and (map(.sources) | max) >= 100' <<<'$SUMMARIES' >/dev/null"
check "... and the replay alerts counted beyond the first ones in one alert" \
	grep -q '"alert_type":"JIT_SPA_REPLAY".*more JIT_SPA_REPLAY alert' "$ALERTS"
check "audit: the agent stopped" audited '"event":"agent","result":"stopped"'

# --- 6. fresh, authenticated packets that are refused, each one distinct
# (not replays): for a port no policy protects, and for a port the stanza
# does not open, each asking for its own address, from random sources. An
# agent of their own, in windows of their own (a new agent starts them).
# refused_packets FILE COUNT PORT [KEYS...]: COUNT packets, one per line.
refused_packets() {
	local out="$1" count="$2" port="$3" i
	shift 3
	: >"$out"
	for i in $(seq 1 "$count"); do
		HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM4_1" --use-hmac \
			-A "$port" -a "203.0.113.$((i % 250 + 1))" -T -B "$TMP/one.spa" "$@" \
			>/dev/null 2>&1 && cat "$TMP/one.spa" >>"$out"
	done
}
refused_packets "$TMP/notprotected.spa" 600 tcp/2222 \
	--key-base64-rijndael "$K" --key-base64-hmac "$H"
refused_packets "$TMP/notopen.spa" 600 tcp/23 \
	--key-base64-rijndael "$K2" --key-base64-hmac "$H2"
check "1200 distinct packets made" \
	[ "$(sort -u "$TMP/notprotected.spa" "$TMP/notopen.spa" | wc -l)" = 1200 ]
# Windows of 3 s (a setting for tests, HACKING.md), so that the floods
# cross one; followers' groups looked up again every 300 ms (below).
L0=$(wc -l <"$AUDIT")
export JIT_ENFORCER_TEST_SPA_WINDOW_MS=3000 JIT_ENFORCER_TEST_VIEWER_REFRESH_MS=300
start_agent --spa-access "$ACCESS" --socket-group "$G" --user-burst 1000 || exit 1
unset JIT_ENFORCER_TEST_SPA_WINDOW_MS JIT_ENFORCER_TEST_VIEWER_REFRESH_MS

# An approver following events, removed from the approvers' group with no
# reload: once its groups are looked up again (periodically) it no longer
# sees the others' requests, and still sees its own.
gpasswd -a "$V" "$GA" >/dev/null
as "$V" "$JITCTL" --socket "$SOCK" --json events --follow >"$TMP/v-follow2.jsonl" 2>&1 &
follower=$!
wait_for "follow started" 5 followers_are 1
jitctl request rdp --port 3389 --from 192.0.2.81 --for 1m >/dev/null
check "an approver following sees root's request" wait_for "root's request seen" 5 \
	grep -q '"source":"192.0.2.81/32"' "$TMP/v-follow2.jsonl"
gpasswd -d "$V" "$GA" >/dev/null
# Root's request, then the follower's own: once its own is seen, root's
# (published before it) was either seen or withheld.
withheld=no
for i in $(seq 1 40); do
	jitctl request rdp --port 3389 --from "192.0.2.$((150 + i))" --for 1m >/dev/null
	actl "$V" request ssh --port 22 --from "192.0.2.$((200 + i % 50))" --for 1m >/dev/null
	wait_for "own request $i seen" 5 grep -q "\"source\":\"192.0.2.$((200 + i % 50))/32\"" \
		"$TMP/v-follow2.jsonl" || break
	if ! grep -q "\"source\":\"192.0.2.$((150 + i))/32\"" "$TMP/v-follow2.jsonl"; then
		withheld=yes
		break
	fi
done
echo "# the follower's groups changed, no reload: root's requests withheld after $i round(s)"
check "without a reload, the follower stops seeing others' requests ($i rounds)" [ "$withheld" = yes ]
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
alerts0=$(grep -c JIT_SPA_REFUSED "$ALERTS")
bytes0=$(logs_size)
new_audit() { tail -n +$((L0 + 1)) "$AUDIT"; }
summaries() { new_audit | grep -c '"event":"spa".*"result":"suppressed".*"window_s":3'; }
summaries_are() { [ "$(summaries)" -ge "$1" ]; }
flood "packets for a port no policy protects, from random sources" \
	"$TMP/notprotected.spa" 600 random:203.0.113 refused
check "its window ends with a line of counts" wait_for "first summary" 10 summaries_are 1
flood "packets for a port their stanza does not open, from random sources" \
	"$TMP/notopen.spa" 600 random:203.0.113 refused
check "... and so does the next one" wait_for "second summary" 10 summaries_are 2
read_refused=$(spa_counter refused)
stop_agent TERM
grew=$(($(logs_size) - bytes0))
echo "# two floods of refused packets, $read_refused read: logs grew $grew bytes"
check "both floods, over their windows, grow the logs under 100 KB ($grew bytes)" [ "$grew" -lt 100000 ]
n_alerts=$(($(grep -c JIT_SPA_REFUSED "$ALERTS") - alerts0))
check "refused alerts are bounded ($n_alerts)" [ "$n_alerts" -le 18 ]
# Each window writes its first lines in full again, then counts its own.
new_audit | grep -E '"event":"spa","channel":"spa","result":("refused"|"suppressed")' |
	awk 'BEGIN { w = 0 } /"result":"suppressed"/ { w++; next } { full[w]++ }
		END { for (i = 0; i <= w; i++) print i, full[i] + 0 }' >"$TMP/windows.txt"
cat "$TMP/windows.txt" | sed 's/^/# lines in full before summary /'
check "the second window writes lines in full again (1 to 30)" \
	awk 'NR == 2 { ok = $2 >= 1 && $2 <= 30 } END { exit !ok }' "$TMP/windows.txt"
check "... as the first did (1 to 30)" \
	awk 'NR == 1 { ok = $2 >= 1 && $2 <= 30 } END { exit !ok }' "$TMP/windows.txt"
full=$(new_audit | grep -c '"event":"spa","channel":"spa","result":"refused"')
counted=$(new_audit | grep '"event":"spa".*"result":"suppressed"' |
	jq -s '[.[].counts.refused // 0] | add')
check "nothing is lost at the boundaries: $full in full + $counted counted = $read_refused read" \
	[ $((full + counted)) = "$read_refused" ]

vm "$ENFORCER" --remove --table "$TABLE" --log-dir "$TMP/log" --no-syslog >/dev/null
check "audit: jit-enforcer --remove lifted the table, and who did it" \
	audited '"event":"table","result":"removed","table":"'"$TABLE"'","channel":"agent","actor":{"user":"root","uid":0}'
