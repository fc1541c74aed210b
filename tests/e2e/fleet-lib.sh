# SPDX-License-Identifier: GPL-2.0-or-later
# The fleet tests' world, on top of lib.sh: a hub namespace with a bridge,
# and on it
#
#   nats  192.0.2.1, .2, .3   three nats-server nodes (cluster "jit",
#                             JetStream, file store under $TMP), client
#                             port 4222, routes 6222, monitoring 8222
#   vm-X  192.0.2.11, ...     one per entry of FLEET_VMS: an agent with its
#                             own policies, state, labels and listeners
#   cl    192.0.2.100         where people run 'jitctl fleet' (fctl)
#   src   203.0.113.7         the client that gets access (src_tcp)
#
# The server config's users and permissions are what 'jitctl fleet creds'
# prints: the admin "fleetadmin", the approver "bob", the requester
# "alice", and one host user per vm, named host-X. Names are unique to the
# run; everything is torn down on exit, failure included.
#
# A test sets FLEET_VMS before fleet_up, one word per vm, NAME=LABELS with
# LABELS as label:value pairs joined by '+':
#
#   FLEET_VMS="a=role:web+env:prod b=role:web+env:dev c=role:db"
#   . fleet-lib.sh; fleet_up
#
# Functions: fleet_up, fleet_down, fleet_kill_node N [SIG],
# fleet_start_node N, fleet_leader_node [STREAM] (prints N), fleet_policy
# VM NAME (YAML on stdin), fleet_start_agent VM, fleet_stop_agent VM [SIG],
# actl_vm VM ARGS (the agent's own jitctl), fctl USER ARGS (jitctl fleet as
# a fleet user), src_tcp VM (probe from 203.0.113.7 to VM's port 22: open,
# refused or dropped), fleet_eventually VM WANT [SECS].

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLEET_PROBE="$BUILD_DIR/tests/e2e/fleet-probe"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
NS_HUB="${E2E_ID}hub"
NS_NATS="${E2E_ID}nats"
NS_CL="${E2E_ID}cl"
NS_SRC="${E2E_ID}src"
SRC_IP=203.0.113.7
CL_IP=192.0.2.100
FLEET_URLS="nats://192.0.2.1:4222,nats://192.0.2.2:4222,nats://192.0.2.3:4222"
FLEET_VMS="${FLEET_VMS:-a=role:web+env:prod b=role:web+env:dev c=role:db}"
# Host users without a namespace (tools/bench-fleet's simulated hosts).
FLEET_EXTRA_HOSTS="${FLEET_EXTRA_HOSTS:-}"
declare -A VM_IP=() VM_NS=() VM_PID=() VM_LABELS=() NODE_PID=()
FLEET_NAMES=()
FLEET_PORT="${FLEET_PORT:-22}"

fleet_need() {
	if [ ! -x "$NATS_SERVER" ]; then
		echo "FAIL: nats-server is missing; run tools/install-deps" >&2
		exit 1
	fi
	if [ ! -x "$FLEET_PROBE" ]; then
		echo "FAIL: $FLEET_PROBE is not built" >&2
		exit 1
	fi
}

# ns_forget NS: on exit, kill what runs in it and delete it.
ns_forget() {
	on_cleanup "ip netns pids $1 | xargs -r kill -9; ip netns del $1"
}

# hub_link NS IFNAME: a veth from NS (named IFNAME there) to the bridge.
hub_link() {
	local ns="$1" name="$2" tag
	tag="${E2E_ID}$((${#FLEET_NAMES[@]}))"
	FLEET_NAMES+=("$tag")
	ip link add "${tag}x" netns "$ns" type veth peer name "${tag}y" netns "$NS_HUB"
	ip -n "$ns" link set "${tag}x" name "$name"
	ip -n "$NS_HUB" link set "${tag}y" master br0 up
	ip -n "$ns" link set "$name" up
}

vm_ns() { echo "${VM_NS[$1]}"; }
in_vm() {
	local ns="${VM_NS[$1]}"
	shift
	ip netns exec "$ns" "$@"
}
in_cl() { ip netns exec "$NS_CL" "$@"; }
in_src() { ip netns exec "$NS_SRC" "$@"; }

# The labels of a FLEET_VMS entry as YAML flow and as JSON.
labels_yaml() { sed -e 's/:/: /g' -e 's/+/, /g' -e 's/^/{/' -e 's/$/}/' <<<"$1"; }

fleet_node_conf() {
	local n="$1" ip="192.0.2.$1"
	cat >"$TMP/nats/n$n.conf" <<EOF
server_name: n$n
listen: $ip:4222
http: $ip:8222
jetstream {
  store_dir: "$TMP/nats/n$n"
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: jit
  listen: $ip:6222
  routes: [
    nats-route://192.0.2.1:6222
    nats-route://192.0.2.2:6222
    nats-route://192.0.2.3:6222
  ]
}
include users.conf
EOF
}

fleet_start_node() {
	local n="$1"
	ip netns exec "$NS_NATS" "$NATS_SERVER" -c "$TMP/nats/n$n.conf" \
		>>"$TMP/nats/n$n.log" 2>&1 &
	NODE_PID[$n]=$!
}

fleet_kill_node() {
	local n="$1" sig="${2:-KILL}"
	[ -n "${NODE_PID[$n]:-}" ] || return 0
	kill "-$sig" "${NODE_PID[$n]}" 2>/dev/null
	wait "${NODE_PID[$n]}" 2>/dev/null
	NODE_PID[$n]=""
}

# fleet_leader_node [STREAM]: the node (1..3) leading STREAM (default the
# grants' bucket), as the admin sees it.
fleet_leader_node() {
	local stream="${1:-KV_jit_grants}" name
	name=$(in_cl "$FLEET_PROBE" "$FLEET_URLS" fleetadmin "$TMP/creds/fleetadmin.pw" \
		leader "$stream" 2>/dev/null) || return 1
	[[ $name == n[123] ]] || return 1
	echo "${name#n}"
}

# A fleet.yaml for USER (a person: servers, user, password file).
fleet_user_conf() {
	local user="$1"
	cat >"$TMP/creds/$user.yaml" <<EOF
servers: [nats://192.0.2.1:4222, nats://192.0.2.2:4222, nats://192.0.2.3:4222]
user: $user
password_file: $TMP/creds/$user.pw
EOF
}

fctl() {
	local user="$1"
	shift
	in_cl "$JITCTL" fleet "$@" --fleet-config "$TMP/creds/$user.yaml"
}

# A fleet probe as USER (fleetadmin, bob, alice, host-a, ...).
fprobe() {
	local user="$1"
	shift
	in_cl "$FLEET_PROBE" "$FLEET_URLS" "$user" "$TMP/creds/$user.pw" "$@"
}

fleet_up() {
	local i=11 spec name labels n ip
	need_root
	fleet_need
	TMP="$(mktemp -d /tmp/jit-fleet.XXXXXX)"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	trap '' PIPE
	mkdir -p "$TMP/nats" "$TMP/creds"

	ip netns add "$NS_HUB"
	ns_forget "$NS_HUB"
	ip -n "$NS_HUB" link add br0 type bridge
	ip -n "$NS_HUB" link set br0 up
	for ns in "$NS_NATS" "$NS_CL" "$NS_SRC"; do
		ip netns add "$ns"
		ns_forget "$ns"
		ip -n "$ns" link set lo up
		hub_link "$ns" eth0
	done
	for n in 1 2 3; do
		ip -n "$NS_NATS" addr add "192.0.2.$n/24" dev eth0
	done
	ip -n "$NS_CL" addr add "$CL_IP/24" dev eth0
	ip -n "$NS_SRC" addr add "$SRC_IP/24" dev eth0
	ip -n "$NS_SRC" route add 192.0.2.0/24 dev eth0

	# Users: the same entries 'jitctl fleet creds' prints.
	local users=("admin fleetadmin" "approver bob" "requester alice" "requester carol")
	for spec in $FLEET_VMS; do
		name="${spec%%=*}"
		labels="${spec#*=}"
		ip="192.0.2.$i"
		i=$((i + 1))
		VM_IP[$name]="$ip"
		VM_NS[$name]="${E2E_ID}v$name"
		VM_LABELS[$name]="$labels"
		users+=("host host-$name")
		ip netns add "${VM_NS[$name]}"
		ns_forget "${VM_NS[$name]}"
		ip -n "${VM_NS[$name]}" link set lo up
		hub_link "${VM_NS[$name]}" eth0
		ip -n "${VM_NS[$name]}" addr add "$ip/24" dev eth0
		ip -n "${VM_NS[$name]}" route add 203.0.113.0/24 dev eth0
		mkdir -p "$TMP/vm-$name/policies" "$TMP/vm-$name/state" "$TMP/vm-$name/log"
	done
	for name in $FLEET_EXTRA_HOSTS; do
		users+=("host $name")
	done
	{
		echo "authorization { users: ["
		for spec in "${users[@]}"; do
			# shellcheck disable=SC2086
			"$JITCTL" fleet creds $spec --password-file "$TMP/creds/${spec#* }.pw" || return 1
		done
		echo "] }"
	} >"$TMP/nats/users.conf"
	for spec in fleetadmin bob alice carol; do
		fleet_user_conf "$spec"
	done
	for name in "${!VM_IP[@]}"; do
		cat >"$TMP/vm-$name/fleet.yaml" <<EOF
servers: [nats://192.0.2.1:4222, nats://192.0.2.2:4222, nats://192.0.2.3:4222]
host: host-$name
labels: $(labels_yaml "${VM_LABELS[$name]}")
user: host-$name
password_file: $TMP/creds/host-$name.pw
EOF
	done
	for n in 1 2 3; do
		fleet_node_conf "$n"
		fleet_start_node "$n"
	done
	# The cluster elects its meta leader, then the admin makes the buckets.
	if ! wait_for "the cluster takes 'jitctl fleet init'" 30 \
		fctl fleetadmin init --replicas 3; then
		tail -n 20 "$TMP"/nats/n*.log >&2
		return 1
	fi
}

fleet_down() {
	local name n
	for name in "${!VM_PID[@]}"; do
		fleet_stop_agent "$name"
	done
	for n in 1 2 3; do
		fleet_kill_node "$n" TERM
	done
}

# fleet_policy VM FILE: the policy on stdin, for VM's agent.
fleet_policy() {
	cat >"$TMP/vm-$1/policies/$2.yaml.tmp"
	mv "$TMP/vm-$1/policies/$2.yaml.tmp" "$TMP/vm-$1/policies/$2.yaml"
}

fleet_listen() {
	local name="$1"
	# shellcheck disable=SC2086
	ip netns exec "${VM_NS[$name]}" "$PROBE" listen $FLEET_PORT \
		>"$TMP/vm-$name/listener.out" 2>&1 &
	wait_for "listener on vm-$name" 5 grep -q listening "$TMP/vm-$name/listener.out"
}

actl_vm() {
	local name="$1"
	shift
	in_vm "$name" "$JITCTL" --socket "$TMP/vm-$name/control.sock" "$@"
}

# fleet_start_agent VM [ARGS]: the agent with its fleet config; returns
# once its control socket answers.
fleet_start_agent() {
	local name="$1"
	shift
	ip netns exec "${VM_NS[$name]}" "$ENFORCER" \
		--policies "$TMP/vm-$name/policies" --state-dir "$TMP/vm-$name/state" \
		--socket "$TMP/vm-$name/control.sock" --table "$TABLE" \
		--log-dir "$TMP/vm-$name/log" --no-syslog \
		--fleet-config "$TMP/vm-$name/fleet.yaml" "$@" \
		>>"$TMP/vm-$name/agent.log" 2>&1 &
	VM_PID[$name]=$!
	if ! wait_for "agent of vm-$name" 10 actl_vm "$name" status; then
		echo "--- agent log of vm-$name" >&2
		tail -n 30 "$TMP/vm-$name/agent.log" >&2
		return 1
	fi
}

fleet_stop_agent() {
	local name="$1" sig="${2:-TERM}"
	[ -n "${VM_PID[$name]:-}" ] || return 0
	kill "-$sig" "${VM_PID[$name]}" 2>/dev/null
	wait "${VM_PID[$name]}" 2>/dev/null
	VM_PID[$name]=""
}

# src_tcp VM: what 203.0.113.7 sees at VM's port: open, refused, dropped.
src_tcp() {
	local rc=0
	in_src "$PROBE" connect "${VM_IP[$1]}" "$FLEET_PORT" "${2:-300}" >/dev/null 2>&1 || rc=$?
	case $rc in
	0) echo open ;;
	1) echo refused ;;
	2) echo dropped ;;
	*) echo "error($rc)" ;;
	esac
}

# fleet_eventually VM WANT [SECS]: poll until 203.0.113.7 sees WANT at VM,
# then assert it.
fleet_eventually() {
	local name="$1" want="$2" secs="${3:-10}" got deadline
	deadline=$((SECONDS + secs))
	while :; do
		got=$(src_tcp "$name")
		[ "$got" = "$want" ] && break
		[ "$SECONDS" -ge "$deadline" ] && break
		sleep 0.1
	done
	if [ "$got" = "$want" ]; then
		ok "203.0.113.7 -> vm-$name:$FLEET_PORT is $want"
	else
		fail "203.0.113.7 -> vm-$name:$FLEET_PORT: want $want, got $got"
	fi
}
