#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The permissions 'jitctl fleet creds' gives hold on a real three-node
# cluster: host-a reads its own grants, registers itself and publishes its
# own audit, and every attempt to read host-b's keys, to write a grant, or
# to publish or register as host-b is refused by the server (a permission
# violation, not a timeout). A requester writes requests only under its own
# name, and a request that claims another requester is not approved.
FLEET_VMS="a=role:web+env:prod b=role:web+env:dev"
. "$(dirname "$0")/fleet-lib.sh"
fleet_up || exit 1

check "host-a registers itself" fprobe host-a register host-a '{"role":"web","env":"prod"}'
check "host-b registers itself" fprobe host-b register host-b '{"role":"web","env":"dev"}'
check "bob sees both hosts" eval '[ "$(fctl bob hosts --json | jq -r "[.hosts[].host] | sort | join(\",\")")" = host-a,host-b ]'

id=$(fctl alice request --select role=web --policy ssh --port 22 --from 203.0.113.7 --for 1h --reason perms --json | jq -r .request.id)
check "alice's request has an id" eval '[[ $id =~ ^[0-9a-f]{16}$ ]]'
check "bob approves it" eval 'fctl bob approve "$id" --json | jq -e ".request.hosts == [\"host-a\",\"host-b\"]" >/dev/null'
check "host-a reads its own grant" eval 'fprobe host-a grants host-a | grep -q "^host.host-a.$id "'
check "host-b reads its own grant" eval 'fprobe host-b grants host-b | grep -q "^host.host-b.$id "'

# refused WHAT PROBE-ARGS...: the probe says the server refused it.
refused() {
	local what="$1" out rc=0
	shift
	out=$(fprobe "$@" 2>&1) || rc=$?
	if [ "$rc" = 0 ] && [[ $out == refused:* ]]; then
		ok "$what: $out"
	else
		fail "$what: exit $rc, $out"
	fi
}
refused "host-a watching host-b's keys (its own consumer name)" host-a try-watch host-a host-b
refused "host-a watching host-b's keys (host-b's consumer name)" host-a try-watch host-b host-b
refused "host-a reading host-b's newest grant" host-a try-get host-b
refused "host-a writing a grant for itself" host-a try-put-grant "host.host-a.0123456789abcdef"
refused "host-a writing a grant for host-b" host-a try-put-grant "host.host-b.0123456789abcdef"
refused "host-a deleting (writing over) host-b's grant" host-a try-put-grant "host.host-b.$id"
refused "host-a publishing audit as host-b" host-a try-audit host-b
refused "host-a registering as host-b" host-a try-register host-b
refused "host-a writing a request" host-a try-put "\$KV.jit_requests.req.host-a.0123456789abcdef"
refused "alice (requester) writing a grant" alice try-put-grant "host.host-a.0123456789abcdef"
refused "alice writing a request under carol's name" alice try-put "\$KV.jit_requests.req.carol.0123456789abcdef"
refused "alice publishing audit" alice try-audit host-a
refused "bob (approver) publishing audit as host-a" bob try-audit host-a

# What host-a may do still works after all that.
check "host-a publishes its own audit" fprobe host-a audit host-a '{"host":"host-a","event":"probe","result":"ok"}'
check "bob reads it from the audit stream" eval 'fctl bob events --json | jq -e -s "any(.host == \"host-a\" and .event == \"probe\")" >/dev/null'

# A value that names another requester than its key is not approved.
forged=0123456789abcdef
fprobe alice put "\$KV.jit_requests.req.alice.$forged" \
	"{\"id\":\"$forged\",\"selector\":{\"role\":\"web\"},\"policy\":\"ssh\",\"proto\":\"tcp\",\"port\":22,\"source\":\"203.0.113.7/32\",\"duration_s\":600,\"reason\":\"x\",\"requested_by\":\"carol\",\"requested_at_ms\":1,\"state\":\"pending\"}" >/dev/null
out=$(fctl bob approve "$forged" --json)
check "a request written by alice that claims carol is refused" \
	eval 'jq -e ".ok == false and .error.code == \"bad-value\"" >/dev/null <<<"$out"'
check "and no grant was written for it" eval '! fprobe host-a grants host-a | grep -q "$forged"'
