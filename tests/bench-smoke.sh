#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke test of the benchmark: `tools/bench --quick` runs to the end in
# bounded time and writes a well-formed table, as JSON and as Markdown.
# Timings are never checked here (the machine is shared and noisy): only
# that every figure is there, with a number where the tool must produce one.
#
# Env: BUILD_DIR (meson build dir; the bench builds the agent there),
# SRC_DIR (source tree). Exit 77 (skip) when not root outside CI.
set -u

SRC_DIR="${SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
BUILD_DIR="${BUILD_DIR:-$SRC_DIR/build-bench}"
LIMIT_S="${BENCH_SMOKE_LIMIT_S:-240}"

if [ "$(id -u)" -ne 0 ]; then
	if [ -n "${CI:-}" ]; then
		echo "FAIL: the benchmark smoke test must run as root in CI" >&2
		exit 1
	fi
	echo "SKIP: the benchmark needs root (network namespaces)" >&2
	exit 77
fi

OUT="$(mktemp -d /tmp/jit-bench-smoke.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
PASSES=0
FAILS=0
ok() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "not ok - $*" >&2; }
check() {
	local what="$1"
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

start=$SECONDS
timeout --kill-after=10 "$LIMIT_S" "$SRC_DIR/tools/bench" --quick \
	--build-dir "$BUILD_DIR" --out "$OUT" >"$OUT/run.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "tools/bench --quick exits 0 ($((SECONDS - start)) s)"
else
	fail "tools/bench --quick exited $rc after $((SECONDS - start)) s"
	tail -30 "$OUT/run.log" >&2
fi

J="$OUT/bench.json"
M="$OUT/bench.md"
check "bench.json is JSON" jq -e . "$J"
check "bench.json names the run" jq -e '.mode == "quick" and (.kernel | length > 0) and (.rows | length > 0)' "$J"
check "every row has section, figure, unit and the ratio field" \
	jq -e '[.rows[] | has("section") and has("figure") and has("unit") and has("ours")
		and has("baseline") and has("baseline_name") and has("ratio") and has("met")] | all' "$J"
for s in grant bulk packet sets memory expiry spa metrics; do
	check "section '$s' has rows" jq -e --arg s "$s" '[.rows[] | select(.section == $s)] | length > 0' "$J"
done
check "our figures are numbers" jq -e '[.rows[] | .ours | type == "number"] | all' "$J"
check "a ratio wherever both sides have a number" \
	jq -e '[.rows[] | select((.ours | type) == "number" and (.baseline | type) == "number" and .baseline != 0)
		| .ratio | type == "number"] | all' "$J"
check "the targets of DESIGN.md are judged" \
	jq -e '[.rows[] | select(.target != null)] | length >= 5 and all(.met | type == "boolean")' "$J"
check "bench.md has the table header" grep -q '^| section | figure | unit | ours | baseline | baseline value | ratio | target | met | note |$' "$M"
check "bench.md has one table line per row" \
	bash -c '[ "$(grep -c "^| [a-z]* | " "$1")" -eq "$(($(jq ".rows | length" "$2") + 1))" ]' _ "$M" "$J"
check "every table line has 10 cells" \
	bash -c '! grep "^| [a-z]* | " "$1" | sed "s/\\\\|//g" | awk -F"|" "NF != 12 {bad = 1} END {exit !bad}"' _ "$M"
ID="$(jq -r .run_id "$J" 2>/dev/null)"
check "no namespace of the run is left" bash -c "[ -n \"$ID\" ] && [ \"$ID\" != null ] && ! ip netns list | grep -q \"^$ID\""

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
