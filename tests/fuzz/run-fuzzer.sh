#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run one libFuzzer target for a bounded time from a copy of its seed
# corpus, so that new inputs never land in the source tree.
#   run-fuzzer.sh FUZZER CORPUS_DIR [DICT] [-- LIBFUZZER_ARGS...]
#   FUZZ_TIME       seconds to run (default 20)
#   FUZZ_ARTIFACTS  where crashing inputs are kept (default: a directory
#                   under /tmp whose name is printed)
# Exits 0, or 1 on any finding (libFuzzer's own 77 would read as a skip).
set -euo pipefail

fuzzer="$1"
seeds="$2"
shift 2
dict=()
if [ $# -gt 0 ] && [ "$1" != -- ]; then
	dict=("-dict=$1")
	shift
fi
[ "${1:-}" = -- ] && shift

work="$(mktemp -d "${TMPDIR:-/tmp}/jit-fuzz.XXXXXX")"
artifacts="${FUZZ_ARTIFACTS:-$work/artifacts}"
trap 'rm -rf "$work/corpus"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp -r "$seeds"/. "$work/corpus/"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

rc=0
"$fuzzer" "${dict[@]}" -artifact_prefix="$artifacts/" \
	-max_total_time="${FUZZ_TIME:-20}" -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 "$@" "$work/corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "run-fuzzer: $(basename "$fuzzer") failed (exit $rc); inputs kept in $artifacts:" >&2
	ls -l "$artifacts" >&2
	exit 1
fi
rm -rf "$work"
