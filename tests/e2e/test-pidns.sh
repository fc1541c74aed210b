#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the agent in a PID namespace of its own, as in a container
# (systemd-nspawn, docker). The kernel names the process behind an
# nftables change by its pid as the host sees it, which is not the agent's
# getpid() there: its own commits must still not read as tampering (they
# did: every commit was "restored", and restored again, without end).
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
Y
REAL_ENFORCER="$ENFORCER"
# --kill-child: the agent gets the TERM that stop_agent sends unshare.
ENFORCER="$TMP/enforcer-in-pidns"
printf '#!/bin/sh\nexec unshare --pid --fork --kill-child=SIGTERM %s "$@"\n' "$REAL_ENFORCER" >"$ENFORCER"
chmod +x "$ENFORCER"
start_agent || exit 1
check "the agent runs in a PID namespace of its own" \
	bash -c "[ \"\$(readlink /proc/$AGENT_PID/ns/pid)\" != \"\$(readlink /proc/\$(pgrep -P $AGENT_PID)/ns/pid)\" ]"
expect_tcp c1 "$VM4_1" 22 dropped
check "a grant is answered" bash -c "timeout 10 ip netns exec $NS_VM $JITCTL --socket $SOCK request ssh --port 22 --from $C1_4 --for 1m >/dev/null"
expect_tcp c1 "$VM4_1" 22 open
check "a revoke is answered" bash -c "timeout 10 ip netns exec $NS_VM $JITCTL --socket $SOCK revoke 1 >/dev/null"
expect_tcp c1 "$VM4_1" 22 dropped
check "its own commits are not taken for tampering" \
	bash -c "! grep -q 'JIT_TABLE_TAMPERED\|was deleted or cut by\|was changed by' '$TMP/agent.log'"
