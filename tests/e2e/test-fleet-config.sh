#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end, fleet mode without servers: the agent's fleet.yaml. Absent,
# fleet mode is off; present with no server reachable, the agent runs,
# status says since when the fleet is unreachable and local requests work;
# invalid, the agent does not start and says where; at a reload a bad file
# leaves the last good one in force, and a removed one turns fleet mode off.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
fleet:
  requesters: [alice]
  approvers: [bob]
Y
FLEET="$TMP/fleet.yaml"

start_agent --fleet-config "$FLEET" || exit 1
check "without fleet.yaml, fleet mode is off" eval \
	'jitctl status | grep -q "^fleet: *off (no $FLEET)"'
stop_agent

# Nothing listens on 127.0.0.1:1 in the agent's namespace.
cat >"$FLEET" <<'Y'
servers: [nats://127.0.0.1:1]
host: web-1
labels: {role: web, env: test}
Y
start_agent --fleet-config "$FLEET" || exit 1
check "with no server, status says since when the fleet is unreachable" eval \
	'jitctl status | grep -q "UNREACHABLE since 20[0-9-]*"'
check "the status object has the time" eval \
	'[ "$(jitctl status --json | jq ".fleet.unreachable_since_ms > 0 and .fleet.host == \"web-1\"")" = true ]'
check "and the metrics" eval \
	'jitctl metrics | grep -q "^jit_enforcer_fleet_reachable 0$"'
check "a local request is still granted" eval \
	'jitctl request ssh --port 22 --from "$C1_4" --for 60 --json | jq -e .ok >/dev/null'
expect_tcp c1 "$VM4_1" 22 open

# A bad file at a reload: reported, the last good one stays.
printf 'servers: [nats://127.0.0.1:1]\nhost: web.1\n' >"$FLEET"
jitctl reload >/dev/null 2>&1
check "a bad fleet.yaml at reload is reported in status" wait_for "warning" 5 eval \
	'jitctl status | grep -q "WARNING: the fleet config was rejected"'
check "with file:line:col" eval \
	'jitctl status | grep -q "fleet.yaml:2:7: error: host .web\.1. is not valid"'
check "and the host in force is still web-1" eval \
	'[ "$(jitctl status --json | jq -r .fleet.host)" = web-1 ]'

# Removed: fleet mode off at the next reload.
rm "$FLEET"
jitctl reload >/dev/null 2>&1
check "a removed fleet.yaml turns fleet mode off" wait_for "off" 5 eval \
	'jitctl status | grep -q "^fleet: *off"'
stop_agent

# Invalid at start: the agent refuses to start and says where.
printf 'servers: nats://127.0.0.1:1\nlables: {}\n' >"$FLEET"
rc=0
ip netns exec "$NS_VM" timeout 10 "$ENFORCER" --policies "$TMP/policies" \
	--state-dir "$TMP/state" --socket "$SOCK" --table "$TABLE" \
	--log-dir "$TMP/log" --no-syslog --fleet-config "$FLEET" \
	>"$TMP/bad-start.log" 2>&1 || rc=$?
check "an invalid fleet.yaml stops the start (rc=$rc)" [ "$rc" != 0 -a "$rc" != 124 ]
check "naming file:line:col" grep -q "fleet.yaml:1:10: error: servers: expected a list" "$TMP/bad-start.log"
check "every error" grep -q "fleet.yaml:2:1: error: unknown key 'lables'" "$TMP/bad-start.log"
# The table stays as it was (fail closed, the grant in the kernel).
expect_tcp c1 "$VM4_1" 22 open
