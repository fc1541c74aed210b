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

# What 'jitctl fleet init' made: the limits of the contract (docs/fleet.md).
conf_is() {
	local got
	got=$(fprobe fleetadmin config "$1" | jq -cS .)
	[ "$got" = "$(jq -cSn "$2")" ] || { echo "$1: $got" >&2; return 1; }
}
check "jit_grants: R3, history 5, TTL 48 h, file, 4 KiB" conf_is KV_jit_grants \
	'{max_age_s: 172800, replicas: 3, history: 5, duplicates_s: 120, deny_delete: true, deny_purge: false, max_msg_size: 4096, file: true}'
check "jit_requests: history 10, TTL 30 days" conf_is KV_jit_requests \
	'{max_age_s: 2592000, replicas: 3, history: 10, duplicates_s: 120, deny_delete: true, deny_purge: false, max_msg_size: 4096, file: true}'
check "jit_hosts: history 1, no TTL" conf_is KV_jit_hosts \
	'{max_age_s: 0, replicas: 3, history: 1, duplicates_s: 120, deny_delete: true, deny_purge: false, max_msg_size: 4096, file: true}'
check "JIT_AUDIT: 30 days, duplicates 120 s, no delete, no purge" conf_is JIT_AUDIT \
	'{max_age_s: 2592000, replicas: 3, history: -1, duplicates_s: 120, deny_delete: true, deny_purge: true, max_msg_size: 4096, file: true}'
check "init again is harmless" fctl fleetadmin init --replicas 3

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

# deny: a pending request is refused for good; approve then says so.
id2=$(fctl alice request --select role=web --policy ssh --port 22 --from 203.0.113.7 --reason deny-me --json | jq -r .request.id)
check "bob denies a pending request" eval 'fctl bob deny "$id2" --reason "not today" --json | jq -e ".request.state == \"denied\" and .request.decided_by == \"bob\"" >/dev/null'
check "a denied request cannot be approved" eval \
	'fctl bob approve "$id2" --json | jq -e ".ok == false and .error.code == \"not-pending\"" >/dev/null'
check "requests hides it, --all shows it" eval \
	'! fctl bob requests --json | jq -e --arg id "$id2" "any(.requests[]; .id == \$id)" >/dev/null &&
	 fctl bob requests --all --json | jq -e --arg id "$id2" "any(.requests[]; .id == \$id and .state == \"denied\")" >/dev/null'
check "no grant was written for it" eval '! fprobe host-a grants host-a | grep -q "$id2"'
check "a selector no host matches is not approved; the request stays pending" eval \
	'id3=$(fctl alice request --select role=db --policy ssh --port 22 --from 203.0.113.7 --json | jq -r .request.id) &&
	 fctl bob approve "$id3" --json | jq -e ".error.code == \"no-hosts\"" >/dev/null &&
	 fctl bob requests --json | jq -e --arg id "$id3" "any(.requests[]; .id == \$id and .state == \"pending\")" >/dev/null'

# events --follow: a new audit message arrives while it runs.
# Not through in_cl: $! must be jitctl itself (ip netns exec execs).
ip netns exec "$NS_CL" "$JITCTL" fleet events --follow --json \
	--fleet-config "$TMP/creds/bob.yaml" >"$TMP/follow.out" 2>&1 &
follower=$!
wait_for "the follower reads the stream" 10 grep -q '"event":"probe"' "$TMP/follow.out"
fprobe host-b audit host-b '{"host":"host-b","event":"followed","result":"ok"}' >/dev/null
check "events --follow prints a new message as it arrives" \
	wait_for "followed event" 10 grep -q '"event":"followed"' "$TMP/follow.out"
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null || true
