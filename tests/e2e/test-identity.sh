#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: the agent reuses a caller's identity (user and groups through
# NSS) for a second, but a change to /etc/group counts at once: a user
# added to the requesters' group may request on the next call, and taken
# out of it may not, each right after the change and within the second.
. "$(dirname "$0")/lib.sh"
e2e_setup
chmod 755 "$TMP"

start_listeners 22
add_team
write_team_policies
# rdp: requested by the members of G_OPS; U_MAL is not one of them.
start_agent --socket-group "$G_SOCK" || exit 1

asks() { actl "$U_MAL" request rdp --port 3389 --from "$C1_4" --for 5m 2>&1 || true; }

check "not in the group: refused" grep -q "may not request" <<<"$(asks)"
# Back to back, well inside the second the identity is reused.
gpasswd -a "$U_MAL" "$G_OPS" >/dev/null
out=$(asks)
check "added to the group: may request at once ($out)" grep -q "^request [0-9]* pending" <<<"$out"
gpasswd -d "$U_MAL" "$G_OPS" >/dev/null
check "taken out of it: refused at once" grep -q "may not request" <<<"$(asks)"
