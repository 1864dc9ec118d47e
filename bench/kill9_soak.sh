#!/usr/bin/env bash
# bench/kill9_soak.sh - exactly once under many more kill -9 than the suite's
# 20: runs tests/integration/0011 (20 kills at random moments, then the store
# must equal the exact recount) ROUNDS times, each on other data and other
# kill times (DC_KILL_SEED 1, 2, ...), against the demandcast binary of
# BUILD_DIR. Each round starts from an empty store and broker: the embedded
# broker keeps only about 5 MiB a partition, so one long run would lose data
# to retention instead. Stops at the first round that fails.
#
#   bench/kill9_soak.sh [ROUNDS] [BUILD_DIR]      (defaults: 10, ./build)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-10}
build=$(cd "${2:-$src/build}" && pwd)
log=$(mktemp "${TMPDIR:-/tmp}/kill9_soak.XXXXXX")
trap 'rm -f "$log"' EXIT
start=$SECONDS
for seed in $(seq 1 "$rounds"); do
    round=$SECONDS
    if ! DC_KILL_SEED=$seed DC_BIN=$build/cli/demandcast DC_SOURCE_DIR=$src \
        DC_BUILD_DIR=$build bash "$src/tests/integration/0011-kill9-exactly-once.sh" \
        >"$log" 2>&1; then
        tail -n 20 "$log"
        echo "kill9_soak: round $seed FAILED (DC_KILL_SEED=$seed reruns it)"
        exit 1
    fi
    echo "kill9_soak: round $seed: 20 kills, store equal to the recount ($((SECONDS - round)) s)"
done
echo "kill9_soak: $((rounds * 20)) kills in $rounds rounds, every round exact; $((SECONDS - start)) s"
