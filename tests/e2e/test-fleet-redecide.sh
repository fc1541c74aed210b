#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fleet mode, the host's policy deciding over time: a fleet grant the
# host's policy refuses is refused (and audited) and stays refused across a
# restart; once the host's admin changes the policy to allow it, the same
# approval opens the port without a new one; once the policy stops taking
# fleet grants, the grant is revoked. A value that is no grant is refused
# and audited once, not at every new snapshot of the range.
FLEET_VMS="a=role:web"
. "$(dirname "$0")/fleet-lib.sh"
fleet_up || exit 1

# policy SOURCES [FLEET-BLOCK]
policy() {
	printf 'name: ssh\nports:\n  - port: 22\n    protocol: tcp\n'
	printf '    allowed_sources: [%s]\n' "$1"
	printf 'approval: manual\napprovers:\n  users: [root]\n%s\n' "${2:-}"
}
fleet_block='fleet: {requesters: [alice], approvers: [bob]}'
policy 198.51.100.0/24 "$fleet_block" | fleet_policy a ssh
FLEET_PORT=22 fleet_listen a || exit 1
fleet_start_agent a || exit 1
check "vm-a watches its grants" wait_for "reachable" 15 eval \
	'actl_vm a status --json | jq -e ".fleet.reachable" >/dev/null'

# An approver's write that is no grant value.
BAD_KEY=host.host-a.00000000000000b1
fprobe bob put "\$KV.jit_grants.$BAD_KEY" '{"id":"00000000000000b1","host":"host-a"}' >/dev/null
bad_audits() {
	actl_vm a events --json | jq -s --arg k "$BAD_KEY" \
		'[.. | objects | select(.fleet_key? == $k and .error? == "bad-value")] | length'
}
check "a value that is no grant is refused and audited" wait_for "bad value" 10 eval '[ "$(bad_audits)" = 1 ]'

id=$(fctl alice request --select role=web --policy ssh --port 22 --from "$SRC_IP" \
	--for 10m --reason e2e --json | jq -r .request.id)
check "bob approves" wait_for "approve" 40 fctl bob approve "$id"
check "vm-a refuses it: the source is not in its policy" wait_for "refusal" 10 eval \
	'actl_vm a requests --all --json | jq -e --arg id "$id" "any(.requests[]; .fleet_id == \$id and .status == \"denied\")" >/dev/null'
FLEET_PORT=22 fleet_eventually a dropped 2
refusals() {
	actl_vm a events --json | jq -s --arg id "$id" \
		'[.. | objects | select(.fleet_id? == $id and .result? == "refused")] | length'
}
check "its refusal is audited once" wait_for "one refusal" 10 eval '[ "$(refusals)" = 1 ]'

fleet_stop_agent a
fleet_start_agent a || exit 1
check "after a restart it is not decided again" wait_for "reachable" 15 eval \
	'actl_vm a status --json | jq -e ".fleet.reachable and .fleet.counters.refused == 0" >/dev/null'
FLEET_PORT=22 fleet_eventually a dropped 2

# The admin allows the source: the same approval now opens.
policy 203.0.113.0/24 "$fleet_block" | fleet_policy a ssh
FLEET_PORT=22 fleet_eventually a open 15
check "the new decision is a grant of the same fleet request" eval \
	'actl_vm a requests --json | jq -e --arg id "$id" "any(.requests[]; .fleet_id == \$id and .status == \"initiated\" and .channel == \"fleet\")" >/dev/null'

# The policy stops taking fleet grants: revoked.
policy 203.0.113.0/24 | fleet_policy a ssh
FLEET_PORT=22 fleet_eventually a dropped 15
check "the fleet grant was revoked by the policy change" eval \
	'actl_vm a requests --all --json | jq -e --arg id "$id" "any(.requests[]; .fleet_id == \$id and .status == \"revoked\" and .status_reason == \"policy changed\")" >/dev/null'
check "the bad value was audited once over three snapshots" [ "$(bad_audits)" = 1 ]
