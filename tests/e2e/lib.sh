# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers for the end-to-end tests. Each test file sources this once,
# calls e2e_setup, and gets its own namespaces (names unique to the run):
#
#   c1 (192.0.2.2, 2001:db8:1::2) --veth v1-- vm (192.0.2.1, 2001:db8:1::1)
#   c2 (198.51.100.2, 2001:db8:2::2) --veth v2-- vm (198.51.100.1, 2001:db8:2::1)
#
# vm runs the agent and listeners; c1 and c2 are clients. Everything is torn
# down on exit, failure included. Nothing touches the default namespace.

set -u

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENFORCER="$BUILD_DIR/enforcer/jit-enforcer"
JITCTL="$BUILD_DIR/tools/jitctl"
PROBE="$BUILD_DIR/tests/e2e/probe"

E2E_ID="$(printf 'j%04x%04x' $$ $((RANDOM)))"
NS_VM="${E2E_ID}vm"
NS_C1="${E2E_ID}c1"
NS_C2="${E2E_ID}c2"
VM4_1=192.0.2.1
C1_4=192.0.2.2
VM6_1=2001:db8:1::1
C1_6=2001:db8:1::2
VM4_2=198.51.100.1
C2_4=198.51.100.2
VM6_2=2001:db8:2::1
C2_6=2001:db8:2::2
TABLE=jit_enforcer

TMP=""
AGENT_PID=""
CLEANUP=()
LISTENER_PID=""
FAILS=0
PASSES=0

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if [ -n "${CI:-}" ]; then
			echo "FAIL: end-to-end tests must run as root in CI" >&2
			exit 1
		fi
		echo "SKIP: end-to-end tests need root (network namespaces)" >&2
		exit 77
	fi
	for t in ip nft; do
		if ! command -v "$t" >/dev/null; then
			echo "FAIL: '$t' is missing; run tools/install-deps" >&2
			exit 1
		fi
	done
}

e2e_cleanup() {
	local rc=$?
	set +e
	disown -a 2>/dev/null
	# TERM first, so a sanitizer build gets to report leaks at exit.
	if [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null; then
		local i
		for i in $(seq 1 100); do
			kill -0 "$AGENT_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$AGENT_PID" 2>/dev/null
	fi
	[ -n "$LISTENER_PID" ] && kill -9 "$LISTENER_PID" 2>/dev/null
	# Every audit line the test made follows docs/audit-schema.json.
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		local logs
		mapfile -t logs < <(find "$TMP" -name 'audit.log*' -type f 2>/dev/null)
		if [ ${#logs[@]} -gt 0 ] &&
			! python3 "$E2E_DIR/../audit-schema-check.py" "$E2E_DIR/../../docs/audit-schema.json" \
				"${logs[@]}" >"$TMP/schema.out" 2>&1; then
			echo "not ok - audit lines that do not follow docs/audit-schema.json:" >&2
			head -20 "$TMP/schema.out" >&2
			FAILS=$((FAILS + 1))
		fi
	fi
	jobs -p | xargs -r kill -9 2>/dev/null
	for ns in "$NS_VM" "$NS_C1" "$NS_C2"; do
		# Processes left in a namespace would keep it alive.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	local i
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[$i]}" >/dev/null 2>&1
	done
	# A sanitizer build reports into the agent's log: that is a failure.
	if [ -n "$TMP" ] && [ -f "$TMP/agent.log" ] &&
		grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/agent.log"; then
		echo "not ok - the agent's log has sanitizer reports:" >&2
		grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/agent.log" >&2
		FAILS=$((FAILS + 1))
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	if [ "$rc" -eq 0 ] && [ "$FAILS" -gt 0 ]; then
		rc=1
	fi
	[ "${E2E_SUMMARY:-1}" = 0 ] || echo "$PASSES passed, $FAILS failed"
	exit "$rc"
}

vm() { ip netns exec "$NS_VM" "$@"; }
c1() { ip netns exec "$NS_C1" "$@"; }
c2() { ip netns exec "$NS_C2" "$@"; }

e2e_setup() {
	need_root
	TMP="$(mktemp -d /tmp/jit-e2e.XXXXXX)"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	# A write to a session whose client died must fail, not kill the test.
	trap '' PIPE
	mkdir -p "$TMP/policies" "$TMP/state"
	SOCK="$TMP/control.sock"

	ip netns add "$NS_VM"
	ip netns add "$NS_C1"
	ip netns add "$NS_C2"
	for ns in "$NS_VM" "$NS_C1" "$NS_C2"; do
		ip -n "$ns" link set lo up
	done
	ip link add "${E2E_ID}a" netns "$NS_VM" type veth peer name "${E2E_ID}b" netns "$NS_C1"
	ip link add "${E2E_ID}c" netns "$NS_VM" type veth peer name "${E2E_ID}d" netns "$NS_C2"
	ip -n "$NS_VM" link set "${E2E_ID}a" name v1
	ip -n "$NS_VM" link set "${E2E_ID}c" name v2
	ip -n "$NS_C1" link set "${E2E_ID}b" name eth0
	ip -n "$NS_C2" link set "${E2E_ID}d" name eth0

	ip -n "$NS_VM" addr add "$VM4_1/24" dev v1
	ip -n "$NS_VM" addr add "$VM6_1/64" dev v1 nodad
	ip -n "$NS_VM" addr add "$VM4_2/24" dev v2
	ip -n "$NS_VM" addr add "$VM6_2/64" dev v2 nodad
	ip -n "$NS_C1" addr add "$C1_4/24" dev eth0
	ip -n "$NS_C1" addr add "$C1_6/64" dev eth0 nodad
	ip -n "$NS_C2" addr add "$C2_4/24" dev eth0
	ip -n "$NS_C2" addr add "$C2_6/64" dev eth0 nodad
	ip -n "$NS_VM" link set v1 up
	ip -n "$NS_VM" link set v2 up
	ip -n "$NS_C1" link set eth0 up
	ip -n "$NS_C2" link set eth0 up
}

# Start echo listeners in vm on the given ports (TCP and UDP, v4 and v6).
start_listeners() {
	# Not through vm(): $! must be the process itself (ip netns exec execs).
	ip netns exec "$NS_VM" "$PROBE" listen "$@" >"$TMP/listener.out" 2>&1 &
	LISTENER_PID=$!
	wait_for "listeners up" 5 grep -q listening "$TMP/listener.out"
}

# Start the agent in vm; returns once its control socket answers.
start_agent() {
	ip netns exec "$NS_VM" "$ENFORCER" --policies "$TMP/policies" --state-dir "$TMP/state" \
		--socket "$SOCK" --table "$TABLE" --log-dir "$TMP/log" --no-syslog "$@" \
		>>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		cat "$TMP/agent.log" >&2
		return 1
	fi
	if ! wait_for "agent enforcing" 10 vm "$JITCTL" --socket "$SOCK" status; then
		echo "--- agent log" >&2
		cat "$TMP/agent.log" >&2
		return 1
	fi
}

stop_agent() {
	local sig="${1:-TERM}"
	[ -n "$AGENT_PID" ] || return 0
	kill "-$sig" "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}

jitctl() { vm "$JITCTL" --socket "$SOCK" "$@"; }

# wait_for DESCRIPTION SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_for() {
	local what="$1" secs="$2"
	shift 2
	local deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out after ${secs}s waiting for: $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

ok() {
	PASSES=$((PASSES + 1))
	echo "ok - $*"
}

fail() {
	FAILS=$((FAILS + 1))
	echo "not ok - $*" >&2
}

# check DESCRIPTION CMD...: run CMD, record pass/fail.
check() {
	local what="$1"
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# probe_rc NSFUNC ADDR PORT [MS]: exit code of a TCP connect+echo.
probe_rc() {
	local ns="$1" addr="$2" port="$3" ms="${4:-800}" rc=0
	"$ns" "$PROBE" connect "$addr" "$port" "$ms" >/dev/null 2>&1 || rc=$?
	echo "$rc"
}

# expect_answer NSFUNC ADDR PORT PROTO WANT RC: a probe's exit status RC
# read as open, refused or dropped, and asserted to be WANT.
expect_answer() {
	local ns="$1" addr="$2" port="$3" proto="$4" want="$5" got
	case "$6" in
	0) got=open ;;
	1) got=refused ;;
	2) got=dropped ;;
	*) got="error($6)" ;;
	esac
	if [ "$got" = "$want" ]; then
		ok "$ns -> [$addr]:$port/$proto is $want"
	else
		fail "$ns -> [$addr]:$port/$proto: want $want, got $got"
	fi
}

# expect_tcp NSFUNC ADDR PORT open|refused|dropped
expect_tcp() {
	expect_answer "$1" "$2" "$3" tcp "$4" "$(probe_rc "$1" "$2" "$3")"
}

expect_udp() {
	local rc=0
	"$1" "$PROBE" udp "$2" "$3" 900 >/dev/null 2>&1 || rc=$?
	expect_answer "$1" "$2" "$3" udp "$4" "$rc"
}

# Wait (bounded) until a TCP probe gives the wanted answer, then assert it.
eventually_tcp() {
	local ns="$1" addr="$2" port="$3" want="$4" secs="${5:-5}"
	local deadline=$((SECONDS + secs)) rc want_rc
	case "$want" in
	open) want_rc=0 ;;
	refused) want_rc=1 ;;
	dropped) want_rc=2 ;;
	esac
	while :; do
		rc=$(probe_rc "$ns" "$addr" "$port" 300)
		[ "$rc" = "$want_rc" ] && break
		[ "$SECONDS" -ge "$deadline" ] && break
		sleep 0.1
	done
	expect_tcp "$ns" "$addr" "$port" "$want"
}

write_policy() {
	local name="$1"
	cat >"$TMP/policies/$name.yaml.tmp"
	mv "$TMP/policies/$name.yaml.tmp" "$TMP/policies/$name.yaml"
}

# Run a command at cleanup (after the namespaces are gone).
on_cleanup() { CLEANUP+=("$*"); }

# Long-lived TCP sessions that send a line and wait for its echo on demand:
#   session_open NAME NSFUNC ADDR PORT [SRC]; session_ok NAME; session_close NAME
session_open() {
	local name="$1" ns="$2" addr="$3" port="$4" src="${5:-}" fd
	mkfifo "$TMP/$name.in"
	"$ns" "$PROBE" session "$addr" "$port" $src <"$TMP/$name.in" >"$TMP/$name.out" 2>&1 &
	exec {fd}>"$TMP/$name.in"
	eval "SESSION_FD_$name=$fd"
	wait_for "session $name connected" 5 grep -q '^connected' "$TMP/$name.out"
}

session_ok() {
	local name="$1" fdvar="SESSION_FD_$1" before
	before=$(grep -c '^ok$' "$TMP/$name.out")
	echo data >&"${!fdvar}" 2>/dev/null || return 1
	local deadline=$((SECONDS + 5))
	while :; do
		[ "$(grep -c '^ok$' "$TMP/$name.out")" -gt "$before" ] && return 0
		grep -q '^fail' "$TMP/$name.out" && return 1
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# The session's client saw its connection fail (reset or no echo).
session_dead() { ! session_ok "$1" && grep -q '^fail' "$TMP/$1.out"; }

session_close() {
	local fdvar="SESSION_FD_$1"
	eval "exec ${!fdvar}>&-" 2>/dev/null || true
}

# Users and groups for permission tests, unique to the run, removed at exit.
add_group() {
	groupadd "$1"
	on_cleanup groupdel "$1"
}

add_user() {
	local user="$1" groups="$2"
	useradd -M -N -s /usr/sbin/nologin -G "$groups" "$user"
	on_cleanup userdel "$user"
}

# The people of the permission tests, unique to the run: G_SOCK may use
# the socket, G_OPS may request, G_SEC may approve; U_ALICE is in G_SOCK
# and G_OPS, U_BOB in G_SOCK and G_SEC, U_MAL in G_SOCK only.
add_team() {
	U_ALICE="${E2E_ID}al"
	U_BOB="${E2E_ID}bo"
	U_MAL="${E2E_ID}ma"
	G_SOCK="${E2E_ID}so"
	G_OPS="${E2E_ID}op"
	G_SEC="${E2E_ID}se"
	add_group "$G_SOCK"
	add_group "$G_OPS"
	add_group "$G_SEC"
	add_user "$U_ALICE" "$G_SOCK,$G_OPS"
	add_user "$U_BOB" "$G_SOCK,$G_SEC"
	add_user "$U_MAL" "$G_SOCK"
}

# The team's policies: ssh (tcp/22, 1h) for U_ALICE alone, approved at
# once; rdp (tcp/3389, 30m) for G_OPS, approved by G_SEC, from the
# allowed_sources in $1 if given ("192.0.2.0/24, 2001:db8:1::/64").
write_team_policies() {
	write_policy ssh <<Y
name: ssh
ports:
  - port: 22
    max_duration: 1h
requesters: {users: [$U_ALICE]}
Y
	write_policy rdp <<Y
name: rdp
ports:
  - port: 3389
    max_duration: 30m
${1:+    allowed_sources: [$1]
}requesters: {groups: [$G_OPS]}
approval: manual
approvers: {groups: [$G_SEC]}
Y
}

# actl USER ARGS...: jitctl ARGS as that user.
actl() { as "$1" "$JITCTL" --socket "$SOCK" "${@:2}"; }

# The id of a "request N ..." line of jitctl, from stdin.
grant_id() { sed -n 's/^request \([0-9]*\) .*/\1/p'; }

# as USER CMD...: run a command in vm as that user (with its groups).
as() {
	local user="$1"
	shift
	ip netns exec "$NS_VM" setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups "$@"
}

# record_of ID ARGS...: the JSON record with that id from `jitctl --json ARGS`
# (pretty-printed, one record per block), for precise assertions.
record_of() {
	local id="$1"
	shift
	jitctl --json "$@" | awk -v want="\"id\": $id," '
		/^    \{/ { block = ""; inrec = 1 }
		inrec { block = block $0 "\n" }
		/^    \}/ { if (index(block, want)) printf "%s", block; inrec = 0 }'
}
