#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: grants of an interface-scoped policy hold on its interfaces
# only. Two policies protect tcp/2022: "internal" on v1 (granted at once)
# and "external" on v2 (approved by hand). The same source addresses sit
# behind both interfaces (c1 through v1, c2 through v2), and the vm sends
# each reply back through the interface the connection came in on, so a
# client sees exactly what the table let in. Hosts and prefixes, IPv4 and
# IPv6, a policy for all interfaces beside them, kill -9 and a clean
# restart, and a policy that changes its interfaces.
. "$(dirname "$0")/lib.sh"
e2e_setup

SRC4=203.0.113.5   # internal, host
SRC4P=203.0.113.77 # internal, inside the prefix 203.0.113.64/26
SRC4E=203.0.113.9  # external, host
SRC6=2001:db8:99::5
SRC6E=2001:db8:99::9
SRC4A=203.0.113.200 # the policy for all interfaces (tcp/2023)

for ns in "$NS_C1" "$NS_C2"; do
	for a in $SRC4 $SRC4P $SRC4E $SRC4A; do
		ip -n "$ns" addr add "$a/32" dev eth0
	done
	for a in $SRC6 $SRC6E; do
		ip -n "$ns" addr add "$a/128" dev eth0 nodad
	done
done
# Replies from the vm's v1 addresses go out v1, from its v2 addresses out
# v2 (source routing), and nothing is dropped for arriving on "the wrong"
# interface (rp_filter).
vm sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
	net.ipv4.conf.v1.rp_filter=0 net.ipv4.conf.v2.rp_filter=0
ip -n "$NS_VM" route add 203.0.113.0/24 dev v1
ip -n "$NS_VM" -6 route add 2001:db8:99::/64 dev v1
ip -n "$NS_VM" rule add from "$VM4_2" lookup 102
ip -n "$NS_VM" route add 203.0.113.0/24 dev v2 table 102
ip -n "$NS_VM" -6 rule add from "$VM6_2" lookup 102
ip -n "$NS_VM" -6 route add 2001:db8:99::/64 dev v2 table 102

start_listeners 2022 2023
write_policy internal <<'Y'
name: internal
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v1]
requesters: {users: [root]}
Y
write_policy external <<'Y'
name: external
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v2]
requesters: {users: [root]}
approval: manual
approvers: {users: [root]}
Y
# Keeps tcp/2022 protected on v1 whatever internal becomes.
write_policy guard <<'Y'
name: guard
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v1]
requesters: {users: [root]}
approval: manual
Y
write_policy everywhere <<'Y'
name: everywhere
ports: [{port: 2023, max_duration: 1h}]
requesters: {users: [root]}
Y
start_agent || exit 1

# tcp_from NSFUNC SRC DST PORT WANT: a connection from SRC is WANT.
tcp_from() {
	local ns="$1" src="$2" dst="$3" port="$4" want="$5" rc=0 got
	"$ns" "$PROBE" connect "$dst" "$port" 800 "$src" >/dev/null 2>&1 || rc=$?
	case "$rc" in
	0) got=open ;;
	1) got=refused ;;
	2) got=dropped ;;
	*) got="error($rc)" ;;
	esac
	if [ "$got" = "$want" ]; then
		ok "$ns: $src -> [$dst]:$port is $want"
	else
		fail "$ns: $src -> [$dst]:$port: want $want, got $got"
	fi
}

# Through v1 (internal) and through v2 (external), from one source.
through_v1() { tcp_from c1 "$1" "$2" "${3:-2022}" "$4"; }
through_v2() { tcp_from c2 "$1" "$2" "${3:-2022}" "$4"; }

# Nothing granted yet: dropped through both.
through_v1 $SRC4 $VM4_1 2022 dropped
through_v2 $SRC4 $VM4_2 2022 dropped

echo "# a grant under internal (v1) opens tcp/2022 through v1 only"
check "internal grant for a host" jitctl request internal --port 2022 --from $SRC4 --for 10m
through_v1 $SRC4 $VM4_1 2022 open
through_v2 $SRC4 $VM4_2 2022 dropped
check "its element carries the interface" \
	sh -c "ip netns exec $NS_VM nft list set inet $TABLE grants_if_v4 | grep -q '\"v1\" . $SRC4 . tcp . 2022'"
check "and is not in the set for all interfaces" \
	sh -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$SRC4'"

check "internal grant for a prefix" jitctl request internal --port 2022 --from 203.0.113.64/26 --for 10m
through_v1 $SRC4P $VM4_1 2022 open
through_v2 $SRC4P $VM4_2 2022 dropped

check "internal grant for an IPv6 host" jitctl request internal --port 2022 --from $SRC6 --for 10m
through_v1 $SRC6 $VM6_1 2022 open
through_v2 $SRC6 $VM6_2 2022 dropped

echo "# a grant under external (v2) opens it through v2 only, once approved"
out=$(jitctl request external --port 2022 --from $SRC4E --for 10m)
ide=$(echo "$out" | grant_id)
check "external request is pending" test -n "$ide"
through_v2 $SRC4E $VM4_2 2022 dropped
check "root approves it" jitctl approve "$ide"
through_v2 $SRC4E $VM4_2 2022 open
through_v1 $SRC4E $VM4_1 2022 dropped
out=$(jitctl request external --port 2022 --from $SRC6E --for 10m)
ide6=$(echo "$out" | grant_id)
check "root approves an IPv6 one" jitctl approve "$ide6"
through_v2 $SRC6E $VM6_2 2022 open
through_v1 $SRC6E $VM6_1 2022 dropped

echo "# the same user's records under both policies, same source"
out=$(jitctl request external --port 2022 --from $SRC4 --for 10m)
ids=$(echo "$out" | grant_id)
check "root approves the second record of $SRC4" jitctl approve "$ids"
through_v1 $SRC4 $VM4_1 2022 open
through_v2 $SRC4 $VM4_2 2022 open
check "revoking the external one" jitctl revoke "$ids"
through_v1 $SRC4 $VM4_1 2022 open
through_v2 $SRC4 $VM4_2 2022 dropped

echo "# a policy for all interfaces behaves as before"
check "grant on tcp/2023" jitctl request everywhere --port 2023 --from $SRC4A --for 10m
through_v1 $SRC4A $VM4_1 2023 open
through_v2 $SRC4A $VM4_2 2023 open
check "its element is in the set for all interfaces" \
	sh -c "ip netns exec $NS_VM nft list set inet $TABLE grants_v4 | grep -q '$SRC4A . tcp . 2023'"

all_scoped() {
	through_v1 $SRC4 $VM4_1 2022 open
	through_v2 $SRC4 $VM4_2 2022 dropped
	through_v1 $SRC4P $VM4_1 2022 open
	through_v2 $SRC4P $VM4_2 2022 dropped
	through_v1 $SRC6 $VM6_1 2022 open
	through_v2 $SRC6 $VM6_2 2022 dropped
	through_v2 $SRC4E $VM4_2 2022 open
	through_v1 $SRC4E $VM4_1 2022 dropped
	through_v2 $SRC6E $VM6_2 2022 open
	through_v1 $SRC6E $VM6_1 2022 dropped
	through_v1 $SRC4A $VM4_1 2023 open
	through_v2 $SRC4A $VM4_2 2023 open
}

echo "# kill -9, then a start: every grant where it was"
stop_agent KILL
all_scoped
start_agent || exit 1
all_scoped
check "no grant was ended at the start" \
	sh -c "! grep -q 'no longer in the kernel' '$TMP/log/audit.log'"

echo "# a clean restart"
stop_agent TERM
start_agent || exit 1
all_scoped

echo "# internal moves to v2: its grants follow"
write_policy internal <<'Y'
name: internal
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v2]
requesters: {users: [root]}
Y
eventually_tcp_from() {
	local ns="$1" src="$2" dst="$3" want="$4" deadline=$((SECONDS + 5)) rc want_rc
	case "$want" in open) want_rc=0 ;; dropped) want_rc=2 ;; esac
	while :; do
		rc=0
		"$ns" "$PROBE" connect "$dst" 2022 300 "$src" >/dev/null 2>&1 || rc=$?
		[ "$rc" = "$want_rc" ] && break
		[ "$SECONDS" -ge "$deadline" ] && break
		sleep 0.1
	done
	tcp_from "$ns" "$src" "$dst" 2022 "$want"
}
eventually_tcp_from c2 $SRC4 $VM4_2 open
through_v1 $SRC4 $VM4_1 2022 dropped
through_v2 $SRC6 $VM6_2 2022 open
through_v1 $SRC6 $VM6_1 2022 dropped
through_v2 $SRC4P $VM4_2 2022 open
through_v1 $SRC4P $VM4_1 2022 dropped
check "the v1 elements are gone" \
	sh -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_if_v4 | grep -q '\"v1\"'"

echo "# internal for every interface: its grants hold on both"
write_policy internal <<'Y'
name: internal
ports: [{port: 2022, max_duration: 1h}]
requesters: {users: [root]}
Y
eventually_tcp_from c1 $SRC4 $VM4_1 open
through_v2 $SRC4 $VM4_2 2022 open
through_v1 $SRC6 $VM6_1 2022 open
through_v2 $SRC6 $VM6_2 2022 open
# external's grant stays on v2 alone.
through_v2 $SRC4E $VM4_2 2022 open
through_v1 $SRC4E $VM4_1 2022 dropped

echo "# a wildcard beside an exact name: zones never overlap in the kernel"
write_policy internal <<'Y'
name: internal
ports: [{port: 2022, max_duration: 1h}]
interfaces: ["v*"]
requesters: {users: [root]}
Y
check "its grants go to every zone of v*" wait_for "v* zones" 5 \
	sh -c "ip netns exec $NS_VM nft list set inet $TABLE grants_if_v4 | grep -q '\"v1\" . $SRC4 . tcp . 2022'"
through_v1 $SRC4 $VM4_1 2022 open
through_v2 $SRC4 $VM4_2 2022 open
through_v1 $SRC4E $VM4_1 2022 dropped
through_v2 $SRC4E $VM4_2 2022 open
check "internal grant for 203.0.113.0/24 on v*" jitctl request internal --port 2022 --from 203.0.113.0/24 --for 10m
through_v1 $SRC4E $VM4_1 2022 open
check "a v* host is a box in the interval set" \
	sh -c "ip netns exec $NS_VM nft list set inet $TABLE grant_nets_if_v4 | grep -q '203.0.113.0/24'"
echo "# and back to one name after a kill -9"
write_policy internal <<'Y'
name: internal
ports: [{port: 2022, max_duration: 1h}]
interfaces: [v1]
requesters: {users: [root]}
Y
check "internal's grants leave v2" wait_for "v2 closed" 5 \
	sh -c "! ip netns exec $NS_VM nft list set inet $TABLE grants_if_v4 | grep -q '\"v2\" . $SRC4 '"
stop_agent KILL
start_agent || exit 1
through_v1 $SRC4 $VM4_1 2022 open
through_v2 $SRC4 $VM4_2 2022 dropped
through_v1 $SRC4E $VM4_1 2022 open
through_v2 $SRC4E $VM4_2 2022 open
through_v2 203.0.113.200 $VM4_2 2022 dropped
check "no kernel error in the log" sh -c "! grep -qi 'kernel refused\|updating grant elements' '$TMP/agent.log'"
