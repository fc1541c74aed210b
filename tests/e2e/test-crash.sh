#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: crash consistency, "acknowledged means durable". A client
# (crash-client.py) sends random request/approve/deny/revoke operations over
# the control socket, the agent is killed with SIGKILL at random instants
# (right after an acknowledged reply, or with operations in flight) and
# restarted on the same directories, and every restart is checked against
# every reply received so far: acknowledged grants are listed live with the
# same id, policy, source, ports and end, and are in the kernel until then;
# acknowledged revokes and denies are never undone; no grant element lacks a
# live record; ids are never reused. Three phases, each from a fresh table
# and state:
#   main  the state directory on the test's disk (CRASH_KILLS, default 150)
#   full  the state directory on a small tmpfs, filled up part-way, then
#         freed again (CRASH_PHASE_KILLS, default 15); in between, every
#         burst pads the journal with pending requests until its last page
#         has room for a few lines only, fills the disk just before, and
#         sends a pipelined burst of re-requests of live grants and
#         approvals (a pass that fits in part must be undone whole)
#   ro    the same tmpfs remounted read-only part-way, then read-write
# CRASH_SEED=N repeats the operations of a run (the kill instants vary; the
# phases use N, N+1 and N+2);
# CRASH_MAX_PRINT=N shows N FAIL lines per kind of violation and phase
# (default 20; the counts in the summary lines are complete).
. "$(dirname "$0")/lib.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"
PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
	echo "SKIP: $PY is missing" >&2
	exit 77
fi
e2e_setup

KILLS="${CRASH_KILLS:-150}"
PHASE_KILLS="${CRASH_PHASE_KILLS:-15}"
SEED="${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}"
TOTALS="$TMP/totals"
: >"$TOTALS"

# Two policies alike but for their approval.
for approval in auto manual; do
	write_policy "$approval" <<Y
name: $approval
ports:
  - port: 22
    protocol: tcp
    max_duration: 1h
    allowed_sources: [192.0.2.0/24, 2001:db8:1::/64]
  - port: 2222-2260
    protocol: any
    max_duration: 1h
    allowed_sources: [192.0.2.0/24, 2001:db8:1::/64]
approval: $approval
Y
done

# run_phase NAME STATE_DIR KILLS [crash-client options]
PHASE_NO=0
run_phase() {
	local name="$1" state="$2" kills="$3" rc=0 seed=$((SEED + PHASE_NO))
	shift 3
	PHASE_NO=$((PHASE_NO + 1))
	echo "# phase $name: $kills kills, state in $state, seed $seed"
	mkdir -p "$state"
	"$PY" "$HERE/crash-client.py" --ns "$NS_VM" --enforcer "$ENFORCER" \
		--policies "$TMP/policies" --state-dir "$state" --socket "$SOCK" \
		--table "$TABLE" --log-dir "$TMP/log" --agent-log "$TMP/agent.log" \
		--kills "$kills" --phase "$name" --seed "$seed" --totals "$TOTALS" \
		--max-print "${CRASH_MAX_PRINT:-20}" \
		"$@" || rc=$?
	case "$rc" in
	0) ok "phase $name: every acknowledged operation survived $kills kills" ;;
	1) fail "phase $name: violations of acknowledged means durable (FAIL lines above)" ;;
	130) exit 130 ;;
	*)
		fail "phase $name: the run itself failed (rc=$rc); agent log tail:"
		tail -n 20 "$TMP/agent.log" >&2
		;;
	esac
	# The next phase starts from scratch: no table, no state.
	vm "$ENFORCER" --remove --table "$TABLE" >/dev/null 2>&1
	return 0
}

run_phase main "$TMP/state" "$KILLS"

# A small tmpfs of the test's own, unmounted at exit whatever happens. Small
# enough to fill in an instant, large enough that the state of a phase fits
# until the filler takes the rest (64k would fill up on its own).
MNT="$TMP/tmpfs"
mkdir -p "$MNT"
if mount -t tmpfs -o size=256k,mode=0700 jit-crash "$MNT"; then
	on_cleanup umount -l "$MNT"
	run_phase full "$MNT/state-full" "$PHASE_KILLS" --disk full --mount "$MNT"
	rm -rf "$MNT/state-full"
	run_phase ro "$MNT/state-ro" "$PHASE_KILLS" --disk ro --mount "$MNT"
else
	fail "cannot mount a tmpfs on $MNT: no full-disk and read-only phases"
fi

check "the table was removed after the last phase" \
	bash -c "! ip netns exec $NS_VM nft list table inet $TABLE >/dev/null 2>&1"
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } }
	END { printf "# kills=%d ops=%d acked_grants=%d acked_revokes=%d acked_denies=%d violations=%d%s\n",
		sum["kills"], sum["ops"], sum["acked_grants"], sum["acked_revokes"],
		sum["acked_denies"], sum["violations"],
		sum["harness"] ? " harness_failures=" sum["harness"] : "" }' "$TOTALS"
# Both ways a restart takes the kernel's grant sets were exercised: trusted
# (kernel-view: nothing happened since the agent last saw them) and read back.
trusted=$(grep -c "(not read: as the agent left them)" "$TMP/agent.log" || true)
read_back=$(grep -c "grant sets: .* (read in " "$TMP/agent.log" || true)
echo "# restarts: sets not read back (kernel-view) $trusted, read back $read_back"
