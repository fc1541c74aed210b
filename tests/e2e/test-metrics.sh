#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: jitctl metrics. The output is Prometheus text (a small
# validator below), counters move by exactly what happened (grants, pending
# requests, approvals, denials, refusals, revokes, expiries, denied packets,
# a table changed behind the agent's back and restored), counters never go
# down while the agent runs and start again at 0 after a restart, gauges
# say what is live, and a member of the socket group may read them.
. "$(dirname "$0")/lib.sh"
e2e_setup
chmod 755 "$TMP"

start_listeners 22 3389

add_team

write_team_policies

# validate [BEFORE] < TEXT: Prometheus text exposition (0.0.4) as this
# project writes it: every sample after a TYPE of its name, names and label
# names well formed, counters named *_total, values numbers, no series
# twice; with BEFORE (an earlier output), no counter went down.
cat >"$TMP/validate.py" <<'PY'
import re, sys
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")

def parse(text):
    errors, types, helps, series, current = [], {}, set(), {}, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if not NAME.match(name) or name in helps:
                errors.append("%d: bad or second HELP for %s" % (n, name))
            helps.add(name)
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not NAME.match(parts[2]):
                errors.append("%d: bad TYPE line" % n)
                continue
            name, kind = parts[2], parts[3]
            if name in types:
                errors.append("%d: second TYPE for %s" % (n, name))
            if kind not in ("counter", "gauge"):
                errors.append("%d: %s has type %s" % (n, name, kind))
            if kind == "counter" and not name.endswith("_total"):
                errors.append("%d: counter %s is not named *_total" % (n, name))
            types[name] = kind
            current = name
        elif line.startswith("#"):
            errors.append("%d: stray comment" % n)
        else:
            m = SAMPLE.match(line)
            if not m:
                errors.append("%d: not a sample: %r" % (n, line))
                continue
            name, labels, value = m.group(1), m.group(3), m.group(4)
            if name != current:
                errors.append("%d: %s has no TYPE line before it" % (n, name))
            if labels is not None:
                rest = LABEL.sub("", labels).replace(",", "")
                if rest or not labels:
                    errors.append("%d: bad labels %r" % (n, labels))
            try:
                float(value)
            except ValueError:
                errors.append("%d: value %r is not a number" % (n, value))
                continue
            key = name + (labels and "{%s}" % labels or "")
            if key in series:
                errors.append("%d: %s twice" % (n, key))
            series[key] = (types.get(name), float(value))
    if not text.endswith("\n"):
        errors.append("the text does not end with a newline")
    return errors, types, series

errors, types, series = parse(sys.stdin.read())
if len(sys.argv) > 1:
    _, _, before = parse(open(sys.argv[1]).read())
    for key, (kind, v) in before.items():
        if kind == "counter" and key in series and series[key][1] < v:
            errors.append("counter %s went down: %s -> %s" % (key, v, series[key][1]))
for e in errors:
    print("invalid:", e)
print("%d families, %d samples" % (len(types), len(series)))
sys.exit(1 if errors else 0)
PY
valid() { python3 "$TMP/validate.py" "$@"; }
check "the validator refuses a counter without _total" \
	bash -c "! printf '# TYPE x counter\nx 1\n' | python3 $TMP/validate.py >/dev/null"
check "the validator refuses a sample without its TYPE" \
	bash -c "! printf '# TYPE x gauge\nx 1\ny 2\n' | python3 $TMP/validate.py >/dev/null"
check "the validator refuses a bad name" \
	bash -c "! printf '# TYPE x-y gauge\nx-y 1\n' | python3 $TMP/validate.py >/dev/null"

start_agent --socket-group "$G_SOCK" --no-table-owner || exit 1
snap() { jitctl metrics >"$TMP/$1.prom"; }
val() { awk -v k="$2" '$1 == k {print $2}' "$TMP/$1.prom"; }
# delta FROM TO SERIES: how much an integer series moved
delta() { echo $(($(val "$2" "$3") - $(val "$1" "$3"))); }
expect_delta() {
	local series="$1" want="$2" got
	got=$(delta a b "$series")
	if [ "$got" = "$want" ]; then ok "$series moved by $want"; else fail "$series moved by $got, want $want"; fi
}

snap a
check "the output is valid Prometheus text ($(valid <"$TMP/a.prom" | tail -n1))" valid <"$TMP/a.prom"
now=$(date +%s)
version=$(jitctl --version | awk '{print $2}')
check "build info carries the version ($version)" grep -qx "jit_enforcer_build_info{version=\"$version\"} 1" "$TMP/a.prom"
check "the start time is a recent unix time" \
	awk -v t="$(val a jit_enforcer_start_time_seconds)" -v now="$now" 'BEGIN {exit !(t > now - 60 && t <= now + 1)}'
check "so is the last commit" \
	awk -v t="$(val a jit_enforcer_last_commit_timestamp_seconds)" -v now="$now" 'BEGIN {exit !(t > now - 60 && t <= now + 1)}'
check "the table is not owned (--no-table-owner)" [ "$(val a jit_enforcer_table_owned)" = 0 ]
check "the journal is healthy" [ "$(val a jit_enforcer_journal_degraded)" = 0 ]
check "counters say they start at 0 on restart" \
	grep -q '^# HELP jit_enforcer_decisions_total .*it starts at 0 on restart\.$' "$TMP/a.prom"
mal_reads() { actl "$U_MAL" metrics | valid >/dev/null; }
check "a member of the socket group may read them, as status" mal_reads
check "--json is the agent's reply, the same families" \
	[ "$(jitctl --json metrics | jq -r '[.metrics[].name] | join(" ")')" = "$(awk '$1 == "#" && $2 == "TYPE" {print $3}' "$TMP/a.prom" | paste -sd' ')" ]

# --- a few decisions -------------------------------------------------------
jitctl request ssh --port 22 --from "$C1_4" --for 3s >/dev/null
ida=$(actl "$U_ALICE" request ssh --port 22 --from 192.0.2.7 --for 10m | grant_id)
idp1=$(actl "$U_ALICE" request rdp --port 3389 --from "$C1_4" --for 10m | grant_id)
idp2=$(actl "$U_ALICE" request rdp --port 3389 --from 192.0.2.8 --for 10m | grant_id)
actl "$U_BOB" approve "$idp1" >/dev/null
actl "$U_BOB" deny "$idp2" --reason "not tonight" >/dev/null
actl "$U_MAL" request ssh --port 22 --from 192.0.2.9 >/dev/null 2>&1
jitctl request ssh --port 23 --from 192.0.2.9 >/dev/null 2>&1
actl "$U_ALICE" revoke "$ida" >/dev/null
expect_tcp c2 "$VM4_2" 22 dropped
expect_tcp c2 "$VM4_2" 3389 dropped
expired() { jitctl metrics | grep -qx 'jit_enforcer_decisions_total{event="expire",result="expired"} 1'; }
check "the expiry is counted" wait_for "expiry" 10 expired
logged() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_denied_packets_logged_total" {print $2}')" -gt 0 ]; }
check "denied packets are counted" wait_for "denied packets" 5 logged
# A change behind the agent's back, put right at once.
vm nft add element inet "$TABLE" grants_v4 "{ $C2_4 . tcp . 22 }"
restored() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_tamper_restores_total{result=\"restored\"}" {print $2}')" -ge 1 ]; }
check "the restore is counted" wait_for "tamper restore" 5 restored
snap b
check "the output is still valid, and no counter went down" valid "$TMP/a.prom" <"$TMP/b.prom"

expect_delta 'jit_enforcer_requests_total{result="granted"}' 3
expect_delta 'jit_enforcer_requests_total{result="pending"}' 2
expect_delta 'jit_enforcer_requests_total{result="denied"}' 1
expect_delta 'jit_enforcer_requests_total{result="refused"}' 2
expect_delta 'jit_enforcer_decisions_total{event="request",result="granted"}' 2
expect_delta 'jit_enforcer_decisions_total{event="approve",result="granted"}' 1
expect_delta 'jit_enforcer_decisions_total{event="deny",result="denied"}' 1
expect_delta 'jit_enforcer_decisions_total{event="revoke",result="revoked"}' 1
expect_delta 'jit_enforcer_decisions_total{event="expire",result="expired"}' 1
expect_delta 'jit_enforcer_tamper_restores_total{result="failed"}' 0
tampers=$(delta a b 'jit_enforcer_tamper_restores_total{result="restored"}')
check "each restore raised one High tamper alert ($tampers)" \
	[ "$(delta a b 'jit_enforcer_alerts_total{type="JIT_TABLE_TAMPERED",severity="High"}')" = "$tampers" ]
live=$(jitctl --json grants | jq '.grants | length')
check "grants live is what jitctl grants lists ($live)" [ "$(val b jit_enforcer_grants_live)" = "$live" ]
check "one grant is live: the approved one" [ "$live" = 1 ]
check "nothing is pending" [ "$(val b jit_enforcer_requests_pending)" = 0 ]
check "the kernel holds its element" [ "$(val b jit_enforcer_kernel_elements)" -ge 1 ]
check "the journal was synced since the start" \
	awk -v s="$(val b jit_enforcer_journal_last_sync_timestamp_seconds)" -v t="$(val a jit_enforcer_start_time_seconds)" 'BEGIN {exit !(s >= t)}'

# A follower is a gauge, and goes when it goes.
ip netns exec "$NS_VM" "$JITCTL" --socket "$SOCK" events --follow >/dev/null 2>&1 &
follower=$!
fol() { [ "$(jitctl metrics | awk '$1 == "jit_enforcer_followers{stream=\"events\"}" {print $2}')" = "$1" ]; }
check "a follower of events is counted" wait_for "follower" 5 fol 1
kill "$follower"
check "and uncounted when it leaves" wait_for "follower gone" 5 fol 0

# --- a restart: counters start again at 0, gauges carry on ------------------
stop_agent TERM
start_agent --socket-group "$G_SOCK" --no-table-owner || exit 1
snap c
check "after a restart the output is valid" valid <"$TMP/c.prom"
check "counters start again at 0" [ "$(val c 'jit_enforcer_requests_total{result="granted"}')" = 0 ]
check "the start time moved on" \
	awk -v a="$(val a jit_enforcer_start_time_seconds)" -v c="$(val c jit_enforcer_start_time_seconds)" 'BEGIN {exit !(c > a)}'
check "the live grant is still counted" [ "$(val c jit_enforcer_grants_live)" = 1 ]
