#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: revoke --terminate ends only the connections of the revoked
# grant that nothing else lets in. Root holds 192.0.2.2/32 and is
# connected; a requester whose policy allows 192.0.2.0/24 asks for the /24
# and revokes it with --terminate: root's session stays up (data still
# flows), a session older than the agent stays up, and the connection that
# only the /24 let in is reset. The reply lists what was spared and why.
. "$(dirname "$0")/lib.sh"
e2e_setup
# The requester reaches the socket through the directory.
chmod 755 "$TMP"
add_team

# More sources in c1's network: .3 only the requester's /24 covers, .4
# was connected before the agent started.
ONLY_24=192.0.2.3
ELDER=192.0.2.4
c1 ip addr add "$ONLY_24/24" dev eth0
c1 ip addr add "$ELDER/24" dev eth0
c1 ip addr add 2001:db8:1::3/64 dev eth0 nodad

start_listeners 22 2222
lan_policy() {
	write_policy lan <<Y
name: lan
ports:
  - port: 22
    max_duration: 1h
    allowed_sources: [$1]
requesters: {users: [$U_ALICE]}
Y
}
lan_policy 192.0.2.0/24

# Before the agent: no firewall yet, conntrack not tracking.
session_open elder c1 "$VM4_1" 22 "$ELDER"
start_agent --socket-group "$G_SOCK" || exit 1
check "the session older than the agent survives the table" session_ok elder

id_root=$(jitctl request lan --port 22 --from "$C1_4" --for 10m | grant_id)
session_open root c1 "$VM4_1" 22 "$C1_4"
id_24=$(actl "$U_ALICE" request lan --port 22 --from 192.0.2.0/24 --for 10m | grant_id)
check "root and the requester hold grants ($id_root, $id_24)" [ -n "$id_root" -a -n "$id_24" ]
session_open only24 c1 "$VM4_1" 22 "$ONLY_24"
check "root's session passes data" session_ok root
check "the /24's own session passes data" session_ok only24

out=$(actl "$U_ALICE" revoke "$id_24" --terminate)
echo "$out" | sed 's/^/# /'
check "the session only the /24 let in is reset" session_dead only24
check "root's session stays up and still passes data" session_ok root
check "the session older than the agent stays up" session_ok elder
check "root's conntrack entry is kept" \
	bash -c "ip netns exec $NS_VM conntrack -L -p tcp --orig-src $C1_4 --dport 22 2>/dev/null | grep -q ESTABLISHED"
check "the reply counts one termination and two spared" \
	grep -q "1 connection(s) terminated.*; 2 spared" <<<"$out"
check "the reply names root's session as covered by another grant" \
	grep -Eq "^spared: tcp $C1_4:[0-9]+ -> $VM4_1:22, covered by another live grant$" <<<"$out"
check "the reply names the older session" \
	grep -Eq "^spared: tcp $ELDER:[0-9]+ -> $VM4_1:22, older than the agent$" <<<"$out"
check "the requester is not shown root's record id" bash -c "! grep -q 'record $id_root' <<<'$out'"
check "audit: the terminate counts what it spared" \
	grep -q '"event":"terminate".*"spared_connections":2' "$TMP/log/audit.log"
events_show_spared() { jitctl events | grep -q 'connection(s) terminated, 1 flow(s) deleted, 2 spared'; }
check "jitctl events shows what the terminate spared" events_show_spared
expect_tcp c1 "$VM4_1" 22 open

# Root sees which record covers: its own /24, revoked with --terminate.
id_r24=$(jitctl request lan --port 22 --from 192.0.2.0/24 --for 10m | grant_id)
session_open only24b c1 "$VM4_1" 22 "$ONLY_24"
json=$(jitctl --json revoke "$id_r24" --terminate)
check "root's reply names the covering record" \
	bash -c "jq -e '.spared[] | select(.reason == \"covered\" and .record == $id_root and .source == \"$C1_4\" and .port == 22)' <<<'$json' >/dev/null"
check "and the older session" \
	bash -c "jq -e '.spared[] | select(.reason == \"older-than-agent\" and .source == \"$ELDER\")' <<<'$json' >/dev/null"
check "spared_connections is 2" [ "$(jq .spared_connections <<<"$json")" = 2 ]
check "terminated_sockets is 1" [ "$(jq .terminated_sockets <<<"$json")" = 1 ]
check "the /24's new session is reset" session_dead only24b
check "root's session still passes data" session_ok root

# The shipped ssh.yaml allows any source: asking for 0.0.0.0/0 and
# revoking it with --terminate must not end every session on the host.
lan_policy any
wait_for "policy reloaded" 5 bash -c "ip netns exec $NS_VM $JITCTL --socket $SOCK --json policies | grep -q '\"any\"\\|0.0.0.0/0'"
id_all=$(actl "$U_ALICE" request lan --port 22 --from 0.0.0.0/0 --for 10m | grant_id)
check "the requester holds 0.0.0.0/0 ($id_all)" [ -n "$id_all" ]
session_open wide c1 "$VM4_1" 22 "$ONLY_24"
out=$(actl "$U_ALICE" revoke "$id_all" --terminate)
echo "$out" | sed 's/^/# /'
check "0.0.0.0/0: its own session is reset" session_dead wide
check "0.0.0.0/0: root's session stays up" session_ok root
check "0.0.0.0/0: the older session stays up" session_ok elder
# And ::/0 next to root's IPv6 host grant.
id_root6=$(jitctl request lan --port 22 --from "$C1_6" --for 10m | grant_id)
session_open root6 c1 "$VM6_1" 22 "$C1_6"
id_all6=$(actl "$U_ALICE" request lan --port 22 --from ::/0 --for 10m | grant_id)
check "the requester holds ::/0 ($id_all6)" [ -n "$id_all6" ]
session_open wide6 c1 "$VM6_1" 22 2001:db8:1::3
out=$(actl "$U_ALICE" revoke "$id_all6" --terminate)
echo "$out" | sed 's/^/# /'
check "::/0: its own session is reset" session_dead wide6
check "::/0: root's IPv6 session stays up" session_ok root6
check "::/0: the reply names it, bracketed" \
	grep -Eq "^spared: tcp \[$C1_6\]:[0-9]+ -> \[$VM6_1\]:22, covered by another live grant$" <<<"$out"
check "::/0: the IPv4 sessions were not its to end" session_ok root

# A session connected before a policy protected its port was let in by no
# grant either.
session_open late c1 "$VM4_1" 2222 "$ONLY_24"
write_policy late <<Y
name: late
ports:
  - port: 2222
    max_duration: 1h
    allowed_sources: [any]
requesters: {users: [$U_ALICE]}
Y
wait_for "port 2222 protected" 5 bash -c "ip netns exec $NS_VM nft list set inet $TABLE protected | grep -q 2222"
check "the session on the newly protected port survives the reload" session_ok late
id_late=$(actl "$U_ALICE" request late --port 2222 --from 0.0.0.0/0 --for 10m | grant_id)
session_open late2 c1 "$VM4_1" 2222 "$ELDER"
out=$(actl "$U_ALICE" revoke "$id_late" --terminate)
echo "$out" | sed 's/^/# /'
check "the session the grant let in is reset" session_dead late2
check "the one older than the port's protection stays up" session_ok late
check "and is named as such" \
	grep -Eq "^spared: tcp $ONLY_24:[0-9]+ -> $VM4_1:2222, older than the agent$" <<<"$out"

# Once root's own grant is revoked with --terminate, its session ends.
out=$(jitctl revoke "$id_root" --terminate)
check "root's own revoke ends root's session" session_dead root
check "the older session is still spared" session_ok elder
