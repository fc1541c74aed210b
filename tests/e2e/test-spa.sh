#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: single packet authorization with Debian's fwknop client.
# A packet opens exactly what it names, for the stanza's JIT_USER, under
# the policies; wrong keys, old packets, replays (also after kill -9),
# sources the policy refuses, manual approval, REQUIRE_USERNAME and
# OPEN_PORTS; the SPA port answers nothing, to nmap either.
. "$(dirname "$0")/lib.sh"
for t in fwknop socat nmap; do
	if ! command -v "$t" >/dev/null; then
		echo "FAIL: '$t' is missing; run tools/install-deps" >&2
		exit 1
	fi
done
e2e_setup

U="jsp${E2E_ID: -6}"
G="jsg${E2E_ID: -6}"
add_group "$G"
add_user "$U" "$G"
AUDIT="$TMP/log/audit.log"
ALERTS="$TMP/log/alerts.log"

start_listeners 22 2222 3389
write_policy ssh <<Y
name: ssh
ports:
  - port: 22
    max_duration: 1h
    allowed_sources: [192.0.2.0/24, 2001:db8:1::/64]
  - port: 2222
    max_duration: 1h
    allowed_sources: [any]
requesters: {users: [$U]}
Y
write_policy rdp <<Y
name: rdp
ports:
  - port: 3389
    max_duration: 1h
requesters: {users: [$U]}
approval: manual
Y

K1=$(head -c 32 /dev/urandom | base64 -w0)
H1=$(head -c 64 /dev/urandom | base64 -w0)
K2=$(head -c 32 /dev/urandom | base64 -w0)
H2=$(head -c 64 /dev/urandom | base64 -w0)
ACCESS="$TMP/access.conf"
cat >"$ACCESS" <<C
# stanza 1: any source, for $U
SOURCE              ANY
KEY_BASE64          $K1
HMAC_KEY_BASE64     $H1
JIT_USER            $U
FW_ACCESS_TIMEOUT   30

# stanza 2: the packet must name $U and an address, tcp/22 only
SOURCE              198.51.100.0/24
KEY_BASE64          $K2
HMAC_KEY_BASE64     $H2
REQUIRE_USERNAME    $U
REQUIRE_SOURCE_ADDRESS Y
OPEN_PORTS          tcp/22
C
chmod 600 "$ACCESS"

# spa NSFUNC DEST KEY HMAC ARGS...: one packet from the stock client.
spa() {
	local ns="$1" dest="$2" key="$3" hmac="$4"
	shift 4
	HOME="$TMP" "$ns" fwknop --no-rc-file --no-save-args -D "$dest" \
		--key-base64-rijndael "$key" --key-base64-hmac "$hmac" --use-hmac \
		"$@" >>"$TMP/fwknop.out" 2>&1
}
status() { jitctl --json status; }
counter() { status | jq -r ".spa.counters.$1"; }
audited() { grep -q "$1" "$AUDIT"; }
alerted() { grep -q "\"alert_type\":\"$1\"" "$ALERTS"; }
grant_for() { jitctl --json grants | jq -e --arg s "$1" --arg p "$2" \
	'[.grants[] | select(.source == $s and .ports == $p)] | length == 1' >/dev/null; }

# --- the access file is checked before anything starts -----------------
chmod 644 "$ACCESS"
check "--check refuses an access file others may read" \
	bash -c "! '$ENFORCER' --check --spa-access '$ACCESS' 2>&1 | grep -q 'stanza(s) OK'"
out=$("$ENFORCER" --check --spa-access "$ACCESS" 2>&1)
check "the refusal says how to fix it: $out" grep -q "chmod 600" <<<"$out"
check "the agent does not start with it" \
	bash -c "! timeout 5 ip netns exec $NS_VM $ENFORCER --spa-access $ACCESS --policies $TMP/policies \
		--state-dir $TMP/state-x --socket $TMP/x.sock --table jit_x --log-dir '' --no-syslog 2>/dev/null"
chmod 600 "$ACCESS"
printf 'SOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nENABLE_CMD_EXEC Y\nJIT_USER %s\n' \
	"$K1" "$H1" "$U" >"$TMP/bad.conf"
chmod 600 "$TMP/bad.conf"
out=$("$ENFORCER" --check --spa-access "$TMP/bad.conf" 2>&1)
check "an unsupported keyword is an error with file:line: $out" \
	grep -q "bad.conf:4: .*ENABLE_CMD_EXEC: running commands is not supported" <<<"$out"
check "--check passes the good file" "$ENFORCER" --check --spa-access "$ACCESS"

start_agent --spa-access "$ACCESS" || exit 1
check "status: SPA on, port 62201, 2 stanzas" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.enabled and .spa.port == 62201 and .spa.stanzas == 2' >/dev/null"
check "jitctl status shows SPA" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK status | grep -q 'SPA.*udp/62201'"
check "no socket listens on the SPA port" bash -c "! ip netns exec $NS_VM ss -uln | grep -q ':62201 '"

# --- a packet opens tcp/22 for the address it names, nothing else --------
spa c1 "$VM4_1" "$K1" "$H1" -A tcp/22 -a 192.0.2.77 -f 20
check "the named address gets tcp/22" wait_for "grant for 192.0.2.77" 5 grant_for 192.0.2.77/32 tcp/22
expect_tcp c1 "$VM4_1" 22 dropped
expect_tcp c1 "$VM4_1" 2222 dropped
check "the grant is the stanza's user's, for the client's 20 s" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json grants | jq -e '.grants[] | select(.source == \"192.0.2.77/32\") | .requestor.user == \"$U\" and .duration_s == 20' >/dev/null"
check "audit: the packet, with channel spa, stanza and user" \
	audited "\"event\":\"spa\",\"channel\":\"spa\",\"result\":\"granted\",\"packet_source\":\"$C1_4/32\",\"stanza\":2,\"jit_user\":\"$U\""
check "audit: the request it made, channel spa" audited "\"event\":\"request\".*\"result\":\"granted\",\"channel\":\"spa\""
check "the digest is in the journal" bash -c "cat $TMP/state/journal.* | grep -q ' D	'"

# --- -s: the packet's own source -----------------------------------------
spa c1 "$VM4_1" "$K1" "$H1" -A tcp/22 -s
eventually_tcp c1 "$VM4_1" 22 open
expect_tcp c2 "$VM4_2" 22 dropped

# --- IPv6 ------------------------------------------------------------------
# fwknop 2.6's client builds packets for IPv6 but does not send them
# ("Address family for hostname not supported"): its packet goes by socat.
HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM6_1" -A tcp/22 -s \
	--key-base64-rijndael "$K1" --key-base64-hmac "$H1" --use-hmac -T -B "$TMP/v6.spa" >/dev/null 2>&1
c1 socat -u "FILE:$TMP/v6.spa" "UDP6-SENDTO:[$VM6_1]:62201"
eventually_tcp c1 "$VM6_1" 22 open
check "the v6 grant is for the packet's source" wait_for "v6 grant" 3 grant_for "$C1_6/128" tcp/22

# --- manual approval: the request waits for an approver ------------------
spa c1 "$VM4_1" "$K1" "$H1" -A tcp/3389 -s
check "a manual policy leaves it pending" wait_for "pending" 5 \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json requests | jq -e '.requests[] | select(.policy == \"rdp\" and .status == \"pending\")' >/dev/null"
expect_tcp c1 "$VM4_1" 3389 dropped
rid=$(jitctl --json requests | jq -r '.requests[] | select(.policy == "rdp") | .id')
jitctl approve "$rid" >/dev/null
eventually_tcp c1 "$VM4_1" 3389 open

# --- refusals ---------------------------------------------------------------
before=$(counter accepted)
spa c2 "$VM4_2" "$K1" "$H1" -A tcp/22 -s
check "a source outside allowed_sources is refused by the policy" \
	wait_for "policy refusal" 5 audited "\"result\":\"refused\",\"packet_source\":\"$C2_4/32\".*\"error\":\"source-not-allowed\""
check "... with a Low alert" wait_for "alert" 3 alerted JIT_SPA_REFUSED
expect_tcp c2 "$VM4_2" 22 dropped

spa c2 "$VM4_2" "$K2" "$H2" -A tcp/22 -a "$C2_4" -U someoneelse
check "REQUIRE_USERNAME: another user name is refused" \
	wait_for "username refusal" 5 audited "user 'someoneelse' in the packet is not '$U'"
spa c2 "$VM4_2" "$K2" "$H2" -A tcp/2222 -a "$C2_4" -U "$U"
check "OPEN_PORTS: tcp/2222 is not among them" wait_for "open_ports refusal" 5 audited "tcp/2222 is not in OPEN_PORTS"
expect_tcp c2 "$VM4_2" 2222 dropped
spa c2 "$VM4_2" "$K2" "$H2" -A tcp/22 -s -U "$U"
check "REQUIRE_SOURCE_ADDRESS refuses -s" wait_for "source address refusal" 5 audited "REQUIRE_SOURCE_ADDRESS"
spa c2 "$VM4_2" "$K2" "$H2" -A tcp/22 -a 192.0.2.55 -U "$U"
check "the stanza's own user and port pass" wait_for "grant for 192.0.2.55" 5 grant_for 192.0.2.55/32 tcp/22

spa c2 "$VM4_2" "$K1" "$(head -c 64 /dev/urandom | base64 -w0)" -A tcp/2222 -s
check "a wrong HMAC key is counted" wait_for "bad hmac" 5 bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .spa.counters.bad_hmac) -ge 1 ]"
for i in 1 2 3 4; do
	spa c2 "$VM4_2" "$K1" "$(head -c 64 /dev/urandom | base64 -w0)" -A tcp/2222 -s
done
check "repeated bad HMAC from one source: a Medium alert" wait_for "hmac alert" 5 alerted JIT_SPA_BAD_HMAC
spa c2 "$VM4_2" "$(head -c 32 /dev/urandom | base64 -w0)" "$H1" -A tcp/2222 -s
check "a wrong Rijndael key with the right HMAC key opens nothing" \
	wait_for "bad data" 5 audited "\"result\":\"refused\".*\"error\":\"bad-data\""
spa c2 "$VM4_2" "$K1" "$H1" -A tcp/2222 -s --time-offset-minus 600s
check "a packet ten minutes old is refused" wait_for "stale" 5 audited "\"error\":\"stale\""
expect_tcp c2 "$VM4_2" 2222 dropped

# --- replay, before and after kill -9 -----------------------------------
HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM4_1" -A tcp/2222 -a 192.0.2.88 \
	--key-base64-rijndael "$K1" --key-base64-hmac "$H1" --use-hmac -T -B "$TMP/saved.spa" >/dev/null 2>&1
send_saved() { "$1" socat -u "FILE:$TMP/saved.spa" "UDP-SENDTO:$2:62201"; }
send_saved c1 "$VM4_1"
check "the saved packet works once" wait_for "grant for 192.0.2.88" 5 grant_for 192.0.2.88/32 tcp/2222
send_saved c2 "$VM4_2"
check "its replay is refused" wait_for "replay" 5 audited "\"error\":\"replay\""
check "... with a High alert" wait_for "replay alert" 3 alerted JIT_SPA_REPLAY
rid=$(jitctl --json grants | jq -r '.grants[] | select(.source == "192.0.2.88/32") | .id')
jitctl revoke "$rid" >/dev/null
stop_agent KILL
start_agent --spa-access "$ACCESS" || exit 1
send_saved c2 "$VM4_2"
check "after kill -9 the replay is still refused" \
	wait_for "replay after restart" 5 bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq .spa.counters.replays) -ge 1 ]"
check "... and opened nothing" bash -c "! ip netns exec $NS_VM $JITCTL --socket $SOCK --json grants | grep -q 192.0.2.88"

# --- a flood of garbage and of bad HMACs: the socket keeps serving ------
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status"; }
rss0=$(rss)
cat >"$TMP/flood.py" <<'PY'
import base64, os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    # half plain garbage, half base64 of fwknop's sizes (costs an HMAC)
    data = os.urandom(180) if i % 2 else base64.b64encode(os.urandom(180)).rstrip(b"=")
    s.sendto(data, (sys.argv[1], 62201))
PY
c2 python3 "$TMP/flood.py" "$VM4_2" 20000 &
flood=$!
ok_requests=0
for i in 1 2 3 4 5; do
	jitctl request ssh --port 2222 --from "203.0.113.$i" --for 1m >/dev/null 2>&1 && ok_requests=$((ok_requests + 1))
done
wait "$flood"
check "socket requests during the flood all succeed ($ok_requests/5)" [ "$ok_requests" = 5 ]
check "the flood was seen and dropped as garbage and bad HMAC" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.counters.ignored > 0 and .spa.counters.bad_hmac > 0' >/dev/null"
rss1=$(rss)
check "memory stays bounded through the flood (${rss0} -> ${rss1} KiB)" [ "$rss1" -lt $((rss0 + 8192)) ]
check "the flood opened nothing" bash -c "! ip netns exec $NS_VM $JITCTL --socket $SOCK --json grants | grep -q '\"source\": \"$C2_4/32\"'"

# --- the port answers nothing ------------------------------------------
out=$(c2 nmap -sU -Pn -n -p 62201 --max-retries 1 "$VM4_2" 2>&1)
check "nmap -sU sees the SPA port open|filtered" grep -q '62201/udp open|filtered' <<<"$out"
out=$(c2 nmap -sU -Pn -n -p 62299 --max-retries 1 "$VM4_2" 2>&1)
check "... where a plain closed port is closed (the probe works)" grep -q '62299/udp closed' <<<"$out"

# --- onboarding: jitctl spa-keygen as the README shows it -------------
# Its output appends to the access file as it is; the client's command line
# is in a comment, pasted as it is on the client.
jitctl spa-keygen --user "$U" --host "$VM4_1" --port tcp/2222 >>"$ACCESS"
check "--json gives the same parts" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json spa-keygen --user $U | jq -e '.stanza and .client' >/dev/null"
jitctl reload >/dev/null
check "the appended output loads as a stanza" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.stanzas == 3 and .spa.errors == null' >/dev/null"
mkdir -m 700 "$TMP/home"
client_cmd=$(sed -n 's/^#   fwknop /fwknop /p' "$ACCESS" | tail -1)
# shellcheck disable=SC2086 # the printed command line, word for word
HOME="$TMP/home" c1 $client_cmd >>"$TMP/fwknop.out" 2>&1
eventually_tcp c1 "$VM4_1" 2222 open
check "the client saved its stanza" grep -q "^\[$VM4_1\]" "$TMP/home/.fwknoprc"

# --- reload picks up a changed file; a broken one leaves it in force -----
printf '\nSOURCE 203.0.113.0/24\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nJIT_USER %s\n' \
	"$K2" "$H1" "$U" >>"$ACCESS"
jitctl reload >/dev/null
check "reload: 4 stanzas" bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.stanzas == 4' >/dev/null"
echo "FORCE_NAT 192.0.2.1 22" >>"$ACCESS"
jitctl reload >/dev/null
check "a broken file is reported and the last good one stays" \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.stanzas == 4 and (.spa.errors | test(\"FORCE_NAT\"))' >/dev/null"
sed -i '/^FORCE_NAT/d' "$ACCESS"
kill -HUP "$AGENT_PID"
check "SIGHUP reloads the fixed file" wait_for "reload on SIGHUP" 5 \
	bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json status | jq -e '.spa.stanzas == 4 and .spa.errors == null' >/dev/null"

# --- a full disk: a packet whose digest cannot be recorded opens nothing --
# The state directory on a small tmpfs of the test's own, filled up. A
# refused packet did not count: sent again once there is room, it is no
# replay and opens.
FULL="$TMP/full"
mkdir -p "$FULL"
if mount -t tmpfs -o size=512k,mode=0700 jit-spa-full "$FULL"; then
	on_cleanup umount -l "$FULL"
	stop_agent TERM
	start_agent --spa-access "$ACCESS" --state-dir "$FULL/state" || exit 1
	dd if=/dev/zero of="$FULL/fill" bs=4k >/dev/null 2>&1 || true
	refused_pkt=""
	for k in $(seq 1 30); do
		HOME="$TMP" fwknop --no-rc-file --no-save-args -D "$VM4_1" -A tcp/2222 -a "192.0.2.$((100 + k))" \
			--key-base64-rijndael "$K1" --key-base64-hmac "$H1" --use-hmac -T -B "$TMP/full-$k.spa" >/dev/null 2>&1
		c1 socat -u "FILE:$TMP/full-$k.spa" "UDP-SENDTO:$VM4_1:62201"
		if wait_for "packet $k decided" 3 bash -c "grep -q '192.0.2.$((100 + k)),tcp/2222' $TMP/log/audit.log"; then
			if grep "192.0.2.$((100 + k)),tcp/2222" "$TMP/log/audit.log" | grep -q '"error":"not-recorded"'; then
				refused_pkt=$k
				break
			fi
		fi
	done
	check "with the disk full a packet is refused as not recorded" [ -n "$refused_pkt" ]
	if [ -n "$refused_pkt" ]; then
		check "... and opens nothing" \
			bash -c "! ip netns exec $NS_VM $JITCTL --socket $SOCK --json grants | grep -q '192.0.2.$((100 + refused_pkt))/32'"
		rm -f "$FULL/fill"
		c1 socat -u "FILE:$TMP/full-$refused_pkt.spa" "UDP-SENDTO:$VM4_1:62201"
		check "once there is room, the same packet is no replay: it opens" \
			wait_for "grant after room" 5 grant_for "192.0.2.$((100 + refused_pkt))/32" tcp/2222
	fi
else
	fail "cannot mount a tmpfs on $FULL: no full-disk check"
fi
