#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: jitctl events. A follower sees every decision, in order (a
# request, a pending request, its approval, a revoke, an expiry); users see
# only the records they may (their own, those of the policies they approve)
# in events and listings alike; a follower that stops reading never stalls
# requests and is told how many events it missed; the notifier filter of
# docs/operations.md turns a pending request into one message.
. "$(dirname "$0")/lib.sh"
e2e_setup
chmod 755 "$TMP"

add_team

write_team_policies

start_agent --socket-group "$G_SOCK" || exit 1
followers_are() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_followers{stream=\"events\"}" {print $2}')" = "$1" ]; }
# follow NAME USER: `jitctl events --follow --json` as USER into NAME.jsonl
follow() {
	if [ "$2" = root ]; then
		ip netns exec "$NS_VM" "$JITCTL" --socket "$SOCK" events --follow --json \
			>"$TMP/$1.jsonl" 2>"$TMP/$1.err" &
	else
		actl "$2" events --follow --json >"$TMP/$1.jsonl" 2>"$TMP/$1.err" &
	fi
}
# seq NAME: "event result id" per line of NAME.jsonl
seq_of() { jq -r '"\(.event) \(.result) \(.request_id // "-")"' "$TMP/$1.jsonl"; }

follow root root
follow alice "$U_ALICE"
follow bob "$U_BOB"
follow mal "$U_MAL"
check "four followers of events" wait_for "followers" 5 followers_are 4

# --- a request, a pending request, its approval, a revoke, an expiry ------
id1=$(jitctl request ssh --port 22 --from "$C1_4" --for 8s --reason "deploy 4.2" | grant_id)
id2=$(actl "$U_ALICE" request rdp --port 3389 --from "$C1_4" --for 10m --reason "patch night" | grant_id)
actl "$U_BOB" approve "$id2" >/dev/null
jitctl revoke "$id2" >/dev/null
id3=$(actl "$U_ALICE" request ssh --port 22 --from 192.0.2.7 --for 10m | grant_id)
actl "$U_MAL" request ssh --port 22 --from 192.0.2.8 >/dev/null 2>&1
check "ids were given: $id1 $id2 $id3" test -n "$id1" -a -n "$id2" -a -n "$id3"
check "the expiry reaches the follower" wait_for "expire $id1" 15 \
	grep -q "\"event\":\"expire\".*\"request_id\":$id1," "$TMP/root.jsonl"
sleep 0.5

want_root="request granted $id1
request pending $id2
approve granted $id2
revoke revoked $id2
request granted $id3
request refused -
expire expired $id1"
got=$(seq_of root)
check "root follows every decision in order" [ "$got" = "$want_root" ]
[ "$got" = "$want_root" ] || printf 'want:\n%s\ngot:\n%s\n' "$want_root" "$got" >&2
check "every line is one JSON object with time, event and result" \
	jq -e -s 'length == 7 and all(has("time") and has("event") and has("result"))' "$TMP/root.jsonl"
check "the pending request names its requester, policy, source and reason" \
	jq -e -s --argjson id "$id2" --arg u "$U_ALICE" '.[] | select(.request_id == $id and .result == "pending")
		| .peer_user == $u and .policy == "rdp" and .source == "192.0.2.2/32" and .ports == "tcp/3389" and .reason == "patch night"' "$TMP/root.jsonl"
check "the approval names the approver" \
	jq -e -s --argjson id "$id2" --arg u "$U_BOB" '.[] | select(.request_id == $id and .event == "approve") | .peer_user == $u' "$TMP/root.jsonl"

# --- each user sees what they may ----------------------------------------
want_alice="request pending $id2
approve granted $id2
revoke revoked $id2
request granted $id3"
want_bob="request pending $id2
approve granted $id2
revoke revoked $id2"
want_mal="request refused -"
check "a requester sees their own records only" [ "$(seq_of alice)" = "$want_alice" ]
check "an approver sees the records of the policy they approve" [ "$(seq_of bob)" = "$want_bob" ]
check "a member of the socket group sees only their own refusal" [ "$(seq_of mal)" = "$want_mal" ]
check "no follower was told of lost events" bash -c "! grep -q lost $TMP/*.jsonl $TMP/*.err"

# The same rule for the recent events and for listings.
check "jitctl events (recent) as alice: the same four" \
	[ "$(actl "$U_ALICE" --json events | jq -r '.events[] | "\(.event) \(.result) \(.request_id // "-")"')" = "$want_alice" ]
check "jitctl events --limit 1 gives the newest" \
	[ "$(actl "$U_BOB" --json events --limit 1 | jq -r '.events[] | "\(.event) \(.result) \(.request_id)"')" = "revoke revoked $id2" ]
out=$(jitctl events)
check "people get one line per event" [ "$(wc -l <<<"$out")" = 7 ]
check "a line says who did what to which request: $(sed -n 3p <<<"$out")" \
	grep -Eq "^[0-9T:.-]+Z +approve +granted +#$id2 rdp 192.0.2.2/32 tcp/3389 for 10m00s by $U_BOB \\($U_ALICE's request\\)" <<<"$(sed -n 3p <<<"$out")"
check "a refusal says why" grep -Eq "request +refused .* by $U_MAL: user '$U_MAL' may not request access under policy 'ssh' \(its requesters: [^)]+\) \[not-requester\]" <<<"$out"
check "requests --all as alice lists her records only" \
	[ "$(actl "$U_ALICE" --json requests --all | jq -c '[.requests[].id]')" = "[$id2,$id3]" ]
check "requests --all as bob lists the rdp records only" \
	[ "$(actl "$U_BOB" --json requests --all | jq -c '[.requests[].id]')" = "[$id2]" ]
check "grants as mal lists nothing" [ "$(actl "$U_MAL" --json grants | jq -c '.grants')" = "[]" ]
check "root lists all" [ "$(jitctl --json requests --all | jq -c '[.requests[].id]')" = "[$id1,$id2,$id3]" ]

# --- alerts about a request follow the same rule --------------------------
alert_followers_are() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_followers{stream=\"alerts\"}" {print $2}')" = "$1" ]; }
ip netns exec "$NS_VM" "$JITCTL" --socket "$SOCK" alerts --follow --json >"$TMP/root-alerts.jsonl" 2>&1 &
root_alerts=$!
actl "$U_MAL" alerts --follow --json >"$TMP/mal-alerts.jsonl" 2>&1 &
mal_alerts=$!
check "two followers of alerts" wait_for "alert followers" 5 alert_followers_are 2
idw=$(actl "$U_ALICE" request ssh --port 22 --from 10.0.0.0/8 --for 10m | grant_id)
check "a wide grant raises an alert ($idw)" wait_for "wide grant alert" 5 grep -q JIT_WIDE_GRANT "$TMP/root-alerts.jsonl"
wide_ids() { jq -c '[.alerts[] | select(.alert_type == "JIT_WIDE_GRANT") | .entities.request_id]'; }
check "root sees the alert of alice's grant" [ "$(jitctl --json alerts | wide_ids)" = "[$idw]" ]
check "alice sees the alert of her grant" [ "$(actl "$U_ALICE" --json alerts | wide_ids)" = "[$idw]" ]
check "bob (approver of rdp only) does not" [ "$(actl "$U_BOB" --json alerts | wide_ids)" = "[]" ]
check "mal does not" [ "$(actl "$U_MAL" --json alerts | wide_ids)" = "[]" ]
check "nor does mal's follower" bash -c "! grep -q JIT_WIDE_GRANT '$TMP/mal-alerts.jsonl'"
kill "$root_alerts" "$mal_alerts" 2>/dev/null
wait "$root_alerts" "$mal_alerts" 2>/dev/null
jitctl revoke "$idw" >/dev/null

# --- the notifier of docs/operations.md: one message per pending request ----
DOC="$(dirname "$0")/../../docs/operations.md"
awk '/^```jq$/ {f = 1; next} /^```$/ {f = 0} f' "$DOC" >"$TMP/notify.jq"
check "docs/operations.md has the notifier's jq filter" grep -q 'pending' "$TMP/notify.jq"
jq -c -f "$TMP/notify.jq" "$TMP/root.jsonl" >"$TMP/notify.out"
check "one message, for the pending request: $(cat "$TMP/notify.out")" [ "$(wc -l <"$TMP/notify.out")" = 1 ]
check "it names the requester and tells how to approve" \
	jq -e --arg u "$U_ALICE" --arg id "$id2" '.text | contains($u) and contains("rdp") and contains("jitctl approve " + $id)' "$TMP/notify.out"
check "a lost-events line becomes a message too" \
	bash -c "echo '{\"event\":\"lost\",\"count\":5}' | jq -e -c -f '$TMP/notify.jq' | grep -q 5"

# --- a follower that stops reading ------------------------------------------
# It subscribes, then reads nothing until told to; meanwhile 4,000 grants
# and their revokes (8,000 events, megabytes) go by.
ip netns exec "$NS_VM" python3 - "$SOCK" "$TMP/go" >"$TMP/slow.out" 2>"$TMP/slow.err" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"op":"events","follow":true}\n')
f = s.makefile("rb")
sys.stdout.write(f.readline().decode())
sys.stdout.flush()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
s.settimeout(2)
try:
    for line in f:
        sys.stdout.write(line.decode())
except socket.timeout:
    pass
PY
slow=$!
check "the slow follower is subscribed" wait_for "subscribed" 5 grep -q '"ok":true' "$TMP/slow.out"
start=$SECONDS
ip netns exec "$NS_VM" python3 - "$SOCK" >"$TMP/burst.out" 2>&1 <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rb")
worst = 0.0
ids = []
def batch(reqs):
    global worst
    t = time.monotonic()
    s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
    out = [json.loads(f.readline()) for _ in reqs]
    worst = max(worst, time.monotonic() - t)
    return out
for k in range(0, 4000, 100):
    out = batch([{"op": "request", "policy": "ssh", "port": 22,
                  "source": "2001:db8:1::1:%x" % i, "duration": "10m"}
                 for i in range(k, k + 100)])
    ids += [o["request"]["id"] for o in out if o.get("ok")]
out = []
for k in range(0, len(ids), 100):
    out += batch([{"op": "revoke", "id": i} for i in ids[k:k + 100]])
print(json.dumps({"granted": len(ids), "revoked": sum(1 for o in out if o.get("ok")),
                  "worst_batch_s": round(worst, 3)}))
PY
burst_s=$((SECONDS - start))
check "4,000 grants and revokes answered with a follower not reading ($(cat "$TMP/burst.out"), ${burst_s}s)" \
	jq -e '.granted == 4000 and .revoked == 4000 and .worst_batch_s < 10' "$TMP/burst.out"
check "a request from another client is answered at once" \
	timeout 5 ip netns exec "$NS_VM" "$JITCTL" --socket "$SOCK" request ssh --port 22 --from 192.0.2.9 --for 1m
lost=$(jitctl metrics | awk '$1 == "jit_enforcer_events_lost_total" {print $2}')
check "the agent counted the events it did not send ($lost)" [ "${lost:-0}" -gt 0 ]
touch "$TMP/go"
check "the slow follower catches up" wait_for "the lost notice" 10 grep -q '"lost"' "$TMP/slow.out"
id9=$(jitctl request ssh --port 22 --from 192.0.2.10 --for 1m | grant_id)
wait "$slow"
check "the slow follower is told how many it missed" grep -q '^{"lost":[1-9][0-9]*}$' "$TMP/slow.out"
check "and it missed no more than the agent counted" \
	[ "$(sed -n 's/^{"lost":\([0-9]*\)}$/\1/p' "$TMP/slow.out" | awk '{s += $1} END {print s}')" -le "$lost" ]
check "then it gets what comes next" \
	bash -c "tail -n 1 '$TMP/slow.out' | jq -e '.request_id == $id9 and .event == \"request\"' >/dev/null"
check "the followers that read lost nothing" bash -c "! grep -q '\"lost\"' $TMP/root.jsonl $TMP/alice.jsonl"
check "root's follower got all 8,000 burst events" \
	[ "$(jq -r 'select(.source != null and (.source | startswith("2001:db8:1::1:"))) | .event' "$TMP/root.jsonl" | wc -l)" = 8000 ]
check "agent still running" kill -0 "$AGENT_PID"
