#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end: what the agent writes into its grant sets reads back exactly
# (hosts and prefixes of every length, v4 and v6, overlapping records, and
# hundreds of small changes), in a namespace of its own. This is the path a
# restart after a crash reads the kernel through.
. "$(dirname "$0")/lib.sh"
e2e_setup

KE="$BUILD_DIR/tests/e2e/kernel-elems"
for seed in 1 2 3 $((RANDOM + 4)); do
	out=$(vm "$KE" "ke$seed" "$seed" 150 2>&1)
	check "seed $seed: kernel and records agree${out:+: $(tail -n 3 <<<"$out" | tr '\n' ' ')}" \
		grep -q "restore: .*kernel and records agree" <<<"$out"
	vm nft delete table inet "ke$seed" 2>/dev/null
done
