#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion of jitctl (tools/completion/jitctl): every command of
# `jitctl --help` is offered, options per command, option values, and policy
# names and request ids from the agent's tables (a stand-in jitctl prints
# them here).
. "$(dirname "$0")/cli-lib.sh"

. "$SRC_DIR/tools/completion/jitctl"
check "it registers itself for jitctl" bash -c "[[ '$(complete -p jitctl 2>&1)' == *_jitctl* ]]"

# complete WORD...: the completions of the last word (the one being typed).
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_jitctl
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
# has LIST WORD...: every WORD is in the newline-separated LIST.
has() {
	local list="$1" w
	shift
	for w in "$@"; do
		grep -qx -- "$w" <<<"$list" || {
			echo "missing: $w" >&2
			return 1
		}
	done
}

cmds=$(complete_words jitctl "")
help_cmds=$("$JITCTL" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
check "jitctl --help lists commands" [ -n "$help_cmds" ]
# shellcheck disable=SC2086
check "every command of jitctl --help is completed" has "$cmds" $help_cmds
check "the commands being added elsewhere too" has "$cmds" metrics events spa-keygen help
check "fleet's own commands" has "$(complete_words jitctl fleet "")" init creds request requests approve deny revoke hosts events
check "fleet request options" has "$(complete_words jitctl fleet request --)" --select --all-hosts --policy --port --from --for --reason --fleet-config
check "fleet request options after a valued option" has "$(complete_words jitctl fleet --fleet-config f.yaml request --select role=web --)" --policy --from
check "fleet creds roles" has "$(complete_words jitctl fleet creds "")" host requester approver admin
check "fleet events options" has "$(complete_words jitctl fleet events --)" --follow --limit
check "a prefix narrows them" [ "$(complete_words jitctl req)" = "$(printf 'request\nrequests')" ]
check "global options" has "$(complete_words jitctl --)" --socket --json --help --version
check "the command found after --socket PATH" \
	has "$(complete_words jitctl --socket /run/x.sock revoke --)" --terminate --json --help
check "request options" has "$(complete_words jitctl request ssh --)" \
	--port --from --for --proto --reason --azure --policy --json --help
check "--proto values" [ "$(complete_words jitctl request ssh --proto "")" = "$(printf 'any\ntcp\nudp')" ]
check "--format values" [ "$(complete_words jitctl requests --format "")" = "$(printf 'azure\ntable')" ]
check "requests options" has "$(complete_words jitctl requests --)" --all --format --limit
check "alerts options" has "$(complete_words jitctl alerts --)" --follow --limit
check "events options" has "$(complete_words jitctl events --)" --follow --json
check "spa-keygen options" has "$(complete_words jitctl spa-keygen --)" --user --host --port
check "spa-keygen --user completes user names" has "$(complete_words jitctl spa-keygen --user ro)" root
check "import-azure options" has "$(complete_words jitctl import-azure x.json --)" --vm --name --output
check "nothing offered for a free-text value" [ -z "$(complete_words jitctl request ssh --reason "")" ]
check "help completes command names" has "$(complete_words jitctl help "")" request revoke status
check "help takes one command" [ -z "$(complete_words jitctl help request "")" ]

touch "$TMP/policy.json"
check "import-azure completes files" has "$(complete_words jitctl import-azure "$TMP/pol")" "$TMP/policy.json"
check "--azure completes files" has "$(complete_words jitctl request --azure "$TMP/pol")" "$TMP/policy.json"

# A stand-in jitctl that prints the agent's tables as jitctl does, and
# records the socket it was given.
cat >"$TMP/jitctl" <<EOF
#!/bin/sh
echo "\$*" >>"$TMP/calls"
case "\$*" in
*policies)
	cat <<'T'
NAME    PORT       MAX  SOURCES  REQUESTERS  APPROVAL             ACTION  INTERFACES
ssh     tcp/22     3h   any      group:ops   auto                 drop    all
remote  tcp/3389   1h   any      group:ops   manual by root       drop    all
        tcp/5985   1h   any
T
	;;
*requests)
	cat <<'T'
ID  POLICY  USER   SOURCE           PORT    STATUS     REASON  END
17  ssh     alice  198.51.100.7/32  tcp/22  initiated  deploy  2026-12-01 14:03:11 UTC
18  remote  bob    192.0.2.0/28     tcp/5985-5986  pending  change pending  -
T
	;;
esac
EOF
chmod +x "$TMP/jitctl"
check "request offers the policies in force" \
	[ "$(complete_words "$TMP/jitctl" request "")" = "$(printf 'remote\nssh')" ]
check "but only as the first argument" [ -z "$(complete_words "$TMP/jitctl" request ssh "")" ]
check "approve offers the pending requests" [ "$(complete_words "$TMP/jitctl" approve "")" = 18 ]
check "deny too" [ "$(complete_words "$TMP/jitctl" deny "")" = 18 ]
check "revoke offers every listed request" [ "$(complete_words "$TMP/jitctl" revoke "")" = "$(printf '17\n18')" ]
: >"$TMP/calls"
complete_words "$TMP/jitctl" --socket /run/other.sock revoke "" >/dev/null
check "the agent is asked through the socket given" grep -qx -- "--socket /run/other.sock requests" "$TMP/calls"
: >"$TMP/calls"
complete_words "$TMP/jitctl" --socket = /run/eq.sock revoke "" >/dev/null
check "also as --socket=PATH (readline splits it at the =)" grep -qx -- "--socket /run/eq.sock requests" "$TMP/calls"
: >"$TMP/calls"
complete_words "$TMP/jitctl" --socket=/run/one.sock revoke "" >/dev/null
check "and as one word" grep -qx -- "--socket /run/one.sock requests" "$TMP/calls"
check "the value after --socket= completes files" \
	has "$(complete_words jitctl --socket = "$TMP/pol")" "$TMP/policy.json"
rm -f "$TMP/jitctl"
check "no agent, no ids, no error" [ -z "$(complete_words "$TMP/jitctl" revoke "" 2>&1)" ]

finish
