#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: log rotation. After the audit and alert logs are renamed (as
# logrotate does), SIGUSR1 makes the agent reopen them: later lines go to
# new files, earlier ones stay in the renamed ones, the agent keeps serving
# and its grants stay. A log directory it cannot write keeps the old files.
. "$(dirname "$0")/lib.sh"
e2e_setup

start_listeners 22
write_policy ssh <<'Y'
name: ssh
ports:
  - port: 22
alerts:
  wide_grant_prefix_v4: 28
Y
start_agent || exit 1
LOG="$TMP/log"

# One audit line and one alert (a wide grant) before the rotation.
jitctl request ssh --port 22 --from 203.0.113.0/26 --for 5m --reason before >/dev/null
check "before: the audit line is written" wait_for "audit line" 5 grep -q '"reason":"before"' "$LOG/audit.log"
check "before: the alert is written" wait_for "alert" 5 grep -q JIT_WIDE_GRANT "$LOG/alerts.log"

mv "$LOG/audit.log" "$LOG/audit.log.1"
mv "$LOG/alerts.log" "$LOG/alerts.log.1"
kill -USR1 "$AGENT_PID"
check "the agent reopens its logs on SIGUSR1" \
	wait_for "new audit.log" 5 test -f "$LOG/audit.log" -a -f "$LOG/alerts.log"
check "the agent is still running" kill -0 "$AGENT_PID"
check "the new files are 0640" bash -c "[ \$(stat -c %a '$LOG/audit.log') = 640 ]"

jitctl request ssh --port 22 --from 203.0.113.64/26 --for 5m --reason after >/dev/null
check "after: the audit line goes to the new file" \
	wait_for "audit line" 5 grep -q '"reason":"after"' "$LOG/audit.log"
check "after: the alert goes to the new alert log" \
	wait_for "alert" 5 grep -q JIT_WIDE_GRANT "$LOG/alerts.log"
check "after: nothing more in the renamed audit log" \
	bash -c "! grep -q '\"reason\":\"after\"' '$LOG/audit.log.1'"
check "the renamed audit log keeps the earlier line" grep -q '"reason":"before"' "$LOG/audit.log.1"
check "the renamed alert log keeps the earlier alert" grep -q JIT_WIDE_GRANT "$LOG/alerts.log.1"
check "the new alert log has only the later alert" \
	bash -c "[ \$(grep -c JIT_WIDE_GRANT '$LOG/alerts.log') = 1 ]"
check "both grants are live" bash -c "[ \$(ip netns exec $NS_VM $JITCTL --socket $SOCK --json grants | jq '.grants | length') = 2 ]"

# A reopen that fails (the name is taken by a symlink, which the agent never
# follows) keeps writing to the files it has.
mv "$LOG/audit.log" "$LOG/audit.log.2"
ln -s "$TMP/elsewhere" "$LOG/audit.log"
kill -USR1 "$AGENT_PID"
check "a failed reopen is logged" wait_for "reopen error" 5 grep -q "reopening the logs failed" "$TMP/agent.log"
jitctl request ssh --port 22 --from 203.0.113.128/26 --for 5m --reason kept >/dev/null
check "after a failed reopen, lines go to the file it had" \
	wait_for "audit line" 5 grep -q '"reason":"kept"' "$LOG/audit.log.2"
check "nothing was written through the symlink" [ ! -e "$TMP/elsewhere" ]
check "the agent is still running after a failed reopen" kill -0 "$AGENT_PID"

# `jitctl reload` reopens the logs too, as SIGUSR1 does (for a logrotate
# without systemd, and for an admin who does not know the signal).
rm "$LOG/audit.log"
mv "$LOG/alerts.log" "$LOG/alerts.log.2"
check "jitctl reload answers" jitctl reload
check "jitctl reload reopens the logs" \
	wait_for "new audit.log" 5 test -f "$LOG/audit.log" -a -f "$LOG/alerts.log"
jitctl request ssh --port 22 --from 203.0.113.192/26 --for 5m --reason reloaded >/dev/null
check "after jitctl reload: the audit line goes to the new file" \
	wait_for "audit line" 5 grep -q '"reason":"reloaded"' "$LOG/audit.log"
