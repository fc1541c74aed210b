#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# jitctl's own behaviour, without root or a kernel: every command's help,
# usage errors, and --json as exactly one JSON document on stdout on every
# error path (bad option, bad argument, no agent, a refusal, a broken or
# lost connection), against a stand-in for the agent (fake-agent.py).
. "$(dirname "$0")/cli-lib.sh"
FAKE_PID=""
on_exit() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; }
check_failed() {
	echo "    rc=$rc stdout: ${out:0:600}" >&2
	echo "    stderr: ${err:0:600}" >&2
}
# run ARGS...: jitctl with ARGS; sets rc, out (stdout) and err (stderr).
run() {
	rc=0
	out=$("$JITCTL" "$@" 2>"$TMP/stderr") || rc=$?
	err=$(cat "$TMP/stderr")
}
quiet() { "$@" >/dev/null 2>&1; }
# one_doc [JQ-FILTER]: stdout is exactly one JSON object (matching the
# filter, run on it with jq -e).
one_doc() {
	jq -e -s 'length == 1 and (.[0] | type == "object")' >/dev/null 2>&1 <<<"$out" &&
		jq -e "${1:-.}" >/dev/null 2>&1 <<<"$out"
}
# json_error CODE RC ARGS...: jitctl --json ARGS fails with RC and one
# document {"ok": false, "error": {"code": CODE, "message": ...}}, and
# says nothing on stderr.
json_error() {
	local code="$1" want="$2"
	shift 2
	run --json "$@"
	check "--json $* -> exit $want, one document, error $code" \
		eval '[ "$rc" = "$want" ] && [ -z "$err" ] && one_doc ".ok == false and .error.code == \"$code\" and (.error.message | length > 0)"'
}

commands=$("$JITCTL" --json help | jq -r '.commands[].name')
check "the command list names every command" [ "$(wc -w <<<"$commands")" -ge 13 ]

# --- help ---------------------------------------------------------------------
run --help
main_help="$out"
check "jitctl --help: exit 0, the commands on stdout" \
	eval '[ "$rc" = 0 ] && [ -z "$err" ] && grep -q "^  request  " <<<"$out"'
run help
check "jitctl help is jitctl --help" [ "$out" = "$main_help" ]
run
check "jitctl alone: usage on stderr, exit 2" \
	eval '[ "$rc" = 2 ] && [ -z "$out" ] && grep -q "^usage: jitctl" <<<"$err"'
for cmd in $commands; do
	run "$cmd" --help
	help="$out"
	check "$cmd --help: exit 0, usage first, on stdout only" \
		eval '[ "$rc" = 0 ] && [ -z "$err" ] && head -n1 <<<"$out" | grep -q "^usage: jitctl $cmd\\b"'
	check "$cmd --help describes it and lists its options" \
		eval 'grep -q "^Options:" <<<"$help" && grep -q -- "--json" <<<"$help" && [ "$(wc -l <<<"$help")" -ge 8 ]'
	check "$cmd --help: lines fit in 80 columns" \
		eval '! awk "length > 80" <<<"$help" | grep -q .'
	run help "$cmd"
	check "help $cmd is $cmd --help" [ "$out" = "$help" ]
	run -h "$cmd"
	check "-h $cmd is $cmd --help" [ "$out" = "$help" ]
	run --json "$cmd" --help
	check "--json $cmd --help: one document with its usage" \
		eval '[ "$rc" = 0 ] && one_doc ".ok and .command == \"$cmd\" and (.usage | length >= 1) and (.help | length > 0)"'
	check "jitctl --help lists $cmd" grep -q "^  $cmd " <<<"$main_help"
done
run request --reason --help
check "--help as an option's value is a value" \
	eval '[ "$rc" = 2 ] && grep -q "missing POLICY" <<<"$err"'

# --- usage errors: exit 2, text on stderr or one JSON document --------------
for cmd in $commands; do
	run "$cmd" --no-such-option
	check "$cmd --no-such-option: exit 2, what and the usage on stderr" \
		eval '[ "$rc" = 2 ] && [ -z "$out" ] && grep -q "^jitctl $cmd: unknown option .--no-such-option." <<<"$err" && grep -q "^usage: jitctl $cmd" <<<"$err"'
	json_error usage 2 "$cmd" --no-such-option
done
json_error usage 2 no-such-command
json_error usage 2 --no-such-option status
json_error usage 2 help no-such-command
json_error usage 2 help status extra
json_error usage 2 request
json_error usage 2 request ssh --port 22
json_error usage 2 request ssh --from 192.0.2.7
json_error usage 2 request ssh --port 22 --from 192.0.2.7 extra
json_error usage 2 request --azure x.json --port 22
json_error usage 2 request --policy x ssh --port 22 --from 192.0.2.7
json_error usage 2 request --p 22
json_error usage 2 approve
json_error usage 2 approve 0
json_error usage 2 deny 12abc
json_error usage 2 revoke 1 2
json_error usage 2 revoke --terminate=yes 1
json_error usage 2 grants --limit
json_error usage 2 grants --limit x
json_error usage 2 requests --format yaml
json_error usage 2 requests extra
json_error usage 2 alerts --limit -1
run request ssh --port 22 --from 192.0.2.7 --for 10
check "--for without a unit is refused with a hint: $err" \
	eval '[ "$rc" = 2 ] && grep -qF "jitctl request: --for '"'"'10'"'"' has no unit: 10s? 10m?" <<<"$err"'
run --socket status
check "options without a command say so: $err" eval '[ "$rc" = 2 ] && grep -q "^jitctl: no command given" <<<"$err"'
: >"$TMP/not-a-socket"
run --socket "$TMP/not-a-socket" status
check "a --socket that is not a socket is named: $err" eval '[ "$rc" = 1 ] && grep -q "is not a socket" <<<"$err"'
json_error usage 2 spa-keygen --user nobody --port bogus
json_error usage 2 spa-keygen --user nobody --port tcp/99999
json_error usage 2 spa-keygen --user nobody --port udp/0
json_error usage 2 spa-keygen --user nobody --host 'a b' 
json_error usage 2 posture extra
json_error usage 2 status extra
json_error usage 2 policies extra
json_error usage 2 reload extra
json_error usage 2 import-azure
json_error usage 2 import-azure a.json b.json
run --json revoke
check "a usage error carries the command's usage" \
	one_doc '.error.usage == ["jitctl revoke ID [--terminate]"] and .error.message == "missing ID"'
run revoke x
check "text: what is wrong, then the usage" \
	eval '[ "$rc" = 2 ] && [ "$(head -n2 <<<"$err")" = "jitctl revoke: '"'"'x'"'"' is not a request id
usage: jitctl revoke ID [--terminate]" ]'
run revoke 1 --json --socket "$TMP/none"
check "--json and --socket also after the command" \
	eval '[ "$rc" = 1 ] && one_doc ".error.code == \"agent-not-running\""'

# An initiate body: two ports of one virtual machine.
END=$(date -u -d '+30 min' +%Y-%m-%dT%H:%M:%SZ)
cat >"$TMP/two.json" <<J
{"virtualMachines": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/jump01",
  "ports": [{"number": 22, "endTimeUtc": "$END", "allowedSourceAddressPrefix": "192.0.2.7"},
            {"number": 3389, "endTimeUtc": "$END", "allowedSourceAddressPrefix": "192.0.2.7"}]}],
 "justification": "two ports"}
J

# --- no agent ------------------------------------------------------------------
# ARGS that reach the agent, for each command that talks to it.
agent_args=(
	"request jump01 --port 22 --from 192.0.2.7"
	"request --azure $TMP/two.json"
	"approve 1" "deny 1 --reason no" "revoke 1 --terminate"
	"grants" "requests --all" "requests --format azure"
	"alerts" "alerts --follow" "posture" "status" "policies" "reload"
)
for a in "${agent_args[@]}"; do
	# shellcheck disable=SC2086
	json_error agent-not-running 1 --socket "$TMP/none" $a
done
run --socket "$TMP/none" status
check "text: the agent is not running, on stderr, exit 1" \
	eval '[ "$rc" = 1 ] && [ -z "$out" ] && grep -q "^jitctl: the agent is not running (no control socket at $TMP/none)" <<<"$err"'

# --- files ---------------------------------------------------------------------
json_error read-failed 1 import-azure "$TMP/missing.json"
json_error read-failed 1 request --azure "$TMP/missing.json"
echo '{"virtualMachines": [' >"$TMP/broken.json"
json_error bad-document 1 import-azure "$TMP/broken.json"
json_error bad-document 1 --socket "$TMP/none" request --azure "$TMP/broken.json"
json_error write-failed 1 import-azure "$SRC_DIR/tests/golden/azure/policy-good-flat.json" -o "$TMP/no/such/dir/x.yaml"
run --json import-azure "$SRC_DIR/tests/golden/azure/policy-good-wrapped.json"
check "import-azure --json: one document with the policy and the notes" \
	one_doc '.ok and (.policies | length == 1) and (.policies[0].yaml | startswith("# Imported")) and (.notes | length == 1)'

# --- the cloud documents people have -------------------------------------------
G="$SRC_DIR/tests/golden/azure"
run import-azure "$G/policy-good-list.json"
check "a list with three virtual machines: three policies in one YAML stream on stdout" \
	eval '[ "$rc" = 0 ] && [ "$(grep -c "^name: " <<<"$out")" = 3 ] && [ "$(grep -c "^---$" <<<"$out")" = 3 ]'
check "... notes on stderr" grep -q "^jitctl: note: responses.200.body.nextLink: " <<<"$err"
printf '%s\n' "$out" >"$TMP/all.yaml"
check "... which jit-enforcer --check accepts as one file" quiet "$ENFORCER" --check "$TMP/all.yaml"
mkdir "$TMP/pol"
run import-azure "$G/policy-good-list.json" -o "$TMP/pol"
check "-o DIR: one file per policy, named after it" \
	eval '[ "$rc" = 0 ] && [ "$(ls "$TMP/pol" | tr "\n" " ")" = "pg-1.yaml pg-2.yaml rdp-gw.yaml " ] && [ "$(grep -c "^wrote $TMP/pol/" <<<"$out")" = 3 ]'
check "... each one passes jit-enforcer --check" quiet "$ENFORCER" --check "$TMP/pol"
run import-azure "$G/policy-good-list.json" --vm pg-2 -o "$TMP/one.yaml"
check "--vm picks one, -o FILE writes it" \
	eval '[ "$rc" = 0 ] && grep -q "^name: pg-2$" "$TMP/one.yaml" && [ "$(grep -c "^name:" "$TMP/one.yaml")" = 1 ]'
# -o through a symbolic link writes its target (dangling or not), and keeps
# the link; -o to what is not a regular file (a pipe, /dev/stdout) writes to
# it rather than renaming a file over it.
mkdir "$TMP/links"
: >"$TMP/links/target.yaml"
ln -s target.yaml "$TMP/links/link.yaml"
ln -s "$TMP/links/later.yaml" "$TMP/links/dangling.yaml"
run import-azure "$G/policy-good-list.json" --vm pg-2 -o "$TMP/links/link.yaml"
check "-o LINK writes the link's target and keeps the link" \
	eval '[ "$rc" = 0 ] && [ -L "$TMP/links/link.yaml" ] && grep -q "^name: pg-2$" "$TMP/links/target.yaml"'
run import-azure "$G/policy-good-list.json" --vm pg-2 -o "$TMP/links/dangling.yaml"
check "-o DANGLING-LINK creates the target and keeps the link" \
	eval '[ "$rc" = 0 ] && [ -L "$TMP/links/dangling.yaml" ] && grep -q "^name: pg-2$" "$TMP/links/later.yaml"'
ln -s /proc/self/fd/1 "$TMP/links/stdout.yaml"
run import-azure "$G/policy-good-list.json" --vm pg-2 -o "$TMP/links/stdout.yaml"
check "-o a link to the standard output writes to it, and keeps the link" \
	eval '[ "$rc" = 0 ] && [ -L "$TMP/links/stdout.yaml" ] && grep -q "^name: pg-2$" <<<"$out"'
# As root, a rename over /dev/stdout replaced it: as root, the check runs in
# a mount namespace of its own, with a /dev of its own, so that a
# regression cannot break this machine's; 99 if /dev/stdout is no longer a
# symbolic link afterwards.
in_own_dev=()
if [ "$(id -u)" = 0 ]; then
	in_own_dev=(unshare --mount sh -c 'mount -t tmpfs tmpfs /dev && ln -s /proc/self/fd/1 /dev/stdout &&
		ln -s /proc/self/fd/2 /dev/stderr || exit 98; "$@"; rc=$?
		[ -L /dev/stdout ] || rc=99; exit $rc' sh)
fi
rc=0
out=$("${in_own_dev[@]}" "$JITCTL" import-azure "$G/policy-good-list.json" --vm pg-2 -o /dev/stdout 2>"$TMP/stderr") || rc=$?
err=$(cat "$TMP/stderr")
check "-o /dev/stdout writes to the standard output, and leaves /dev/stdout as it was" \
	eval '[ "$rc" = 0 ] && grep -q "^name: pg-2$" <<<"$out" && [ -L /dev/stdout ]'
json_error usage 2 import-azure "$G/policy-good-list.json" -o "$TMP/many.yaml"
check "... several policies and -o FILE: nothing written" [ ! -e "$TMP/many.yaml" ]
run --json import-azure "$G/policy-good-arm.json" -o "$TMP/pol/"
check "import-azure --json -o DIR/: one document, a file per policy" \
	one_doc '.ok and (.policies | length == 3) and ([.policies[].file] == ["'"$TMP/pol/"'app-vm.yaml", "'"$TMP/pol/"'win-01.yaml", "'"$TMP/pol/"'legacy-01.yaml"]) and (.policies[1].virtual_machine | endswith("/win-01"))'
json_error bad-document 1 import-azure "$G/policy-bad-initiate.json"
check "an initiate body given to import-azure points to request --azure" \
	one_doc '.error.message | test("initiate request body .*run: jitctl request --azure ")'
json_error bad-document 1 --socket "$TMP/none" request --azure "$G/policy-good-get.json"
check "a policy given to request --azure points to import-azure" \
	one_doc '.error.message | test("this is a policy .*run: jitctl import-azure ")'
json_error bad-document 1 import-azure "$G/policy-bad-tags.json"
check "service tags other than *, Any, Internet are refused, with why" \
	one_doc '.error.message | test("VirtualNetwork. is a service tag")'

# --- a refusing, broken agent ----------------------------------------------------
SOCK="$TMP/control.sock"
python3 "$SRC_DIR/tests/fake-agent.py" "$SOCK" &
FAKE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
check "the fake agent listens" [ -S "$SOCK" ]
J=(--socket "$SOCK")

json_error source-not-allowed 1 "${J[@]}" request jump01 --port 3389 --from 192.0.2.7
json_error permission-denied 1 "${J[@]}" approve 1
json_error permission-denied 1 "${J[@]}" deny 1
json_error permission-denied 1 "${J[@]}" revoke 1
json_error permission-denied 1 "${J[@]}" grants
json_error permission-denied 1 "${J[@]}" requests
json_error permission-denied 1 "${J[@]}" requests --format azure
json_error permission-denied 1 "${J[@]}" status
json_error bad-reply 1 "${J[@]}" posture
json_error connection-lost 1 "${J[@]}" reload
run "${J[@]}" approve 1
check "text: the agent's refusal on stderr, exit 1" \
	eval '[ "$rc" = 1 ] && [ -z "$out" ] && [ "$err" = "jitctl: approve: permission denied (fake agent)" ]'
run "${J[@]}" --json request jump01 --port 22 --from 192.0.2.7
check "a grant with --json: the agent's reply" \
	eval '[ "$rc" = 0 ] && one_doc ".ok and .request.status == \"initiated\""'
run "${J[@]}" --json alerts
check "alerts --json: one document" eval '[ "$rc" = 0 ] && one_doc ".ok and (.alerts | length == 1)"'
run "${J[@]}" --json alerts --follow
check "alerts --follow --json: JSON lines (reply, alert, lost connection), exit 1" \
	eval '[ "$rc" = 1 ] && [ "$(wc -l <<<"$out")" = 3 ] && jq -e -s "length == 3 and .[0].ok and .[1].id == 2 and .[2].error.code == \"connection-lost\"" <<<"$out" >/dev/null'
run "${J[@]}" --json events --follow
check "events --follow --json: JSON lines (event, lost, event, lost connection), exit 1" \
	eval '[ "$rc" = 1 ] && jq -e -s "length == 4 and .[0].request_id == 1 and .[1].event == \"lost\" and .[1].count == 3 and .[2].request_id == 2 and .[3].error.code == \"connection-lost\"" <<<"$out" >/dev/null'

# request --azure, two ports of one virtual machine: 22 granted, 3389 refused.
run "${J[@]}" --json request --azure "$TMP/two.json"
check "request --azure, two ports, one refused: one document, exit 1" \
	eval '[ "$rc" = 1 ] && [ -z "$err" ] && one_doc ".ok == false and .error.code == \"requests-failed\" and (.requests | length == 2)"'
check "... the first granted, the second refused, each with its path" \
	one_doc '.requests[0].ok and .requests[0].request.status == "initiated" and .requests[0].path == "virtualMachines[0].ports[0]" and (.requests[1].ok | not) and .requests[1].error.code == "source-not-allowed"'
run "${J[@]}" request --azure "$TMP/two.json"
check "request --azure, text: a line per port, the refusal on stderr" \
	eval '[ "$rc" = 1 ] && grep -q "^virtualMachines\[0\].ports\[0\]: request [0-9]* granted: 192.0.2.7/32 -> tcp/22 until" <<<"$out" && grep -q "virtualMachines\[0\].ports\[1\] was not granted" <<<"$err"'
sed -i 's/"number": 3389/"number": 22/' "$TMP/two.json"
run "${J[@]}" --json request --azure "$TMP/two.json"
check "request --azure, all granted: ok, exit 0" \
	eval '[ "$rc" = 0 ] && one_doc ".ok and (.requests | length == 2) and (.error == null)"'

# request --azure reads back what requests --format azure prints.
cat >"$TMP/records.json" <<J
[
  {"virtualMachines": [{"id": "jump01", "ports": [
     {"number": 22, "allowedSourceAddressPrefix": "192.0.2.44", "endTimeUtc": "$END", "status": "Initiated", "statusReason": "UserRequested"}]}],
   "startTimeUtc": "2026-01-01T00:00:00.000Z", "requestor": "alice", "justification": "again"},
  {"virtualMachines": [{"id": "jump01", "ports": [
     {"number": 22, "allowedSourceAddressPrefix": "192.0.2.45", "endTimeUtc": "2026-01-01T01:00:00.000Z", "status": "Revoked", "statusReason": "Expired"}]}],
   "startTimeUtc": "2026-01-01T00:00:00.000Z", "requestor": "alice"}
]
J
run "${J[@]}" --json request --azure "$TMP/records.json"
check "request --azure, the records requests --format azure prints: the live one again" \
	eval '[ "$rc" = 0 ] && one_doc ".ok and (.requests | length == 1) and .requests[0].path == \"[0].virtualMachines[0].ports[0]\" and (.notes | any(test(\"Revoked .Expired.: not requested again\")))"'

finish
