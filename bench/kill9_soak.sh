#!/usr/bin/env bash
# bench/kill9_soak.sh - exactly once under many more kill -9 than the suite's
# 20: runs tests/integration/0011 with TRIALS kills (2000 events each) against
# the demandcast binary of BUILD_DIR, and prints how long it took. It fails
# as the test does: on any event lost or counted twice.
#
#   bench/kill9_soak.sh [TRIALS] [BUILD_DIR]      (defaults: 200, ./build)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-200}
build=$(cd "${2:-$src/build}" && pwd)
start=$SECONDS
DC_KILL_TRIALS=$trials DC_BIN=$build/cli/demandcast DC_SOURCE_DIR=$src DC_BUILD_DIR=$build \
    bash "$src/tests/integration/0011-kill9-exactly-once.sh"
echo "kill9_soak: $trials kills, $((trials * 2000)) events, state equal to the exact" \
     "recount after the last; $((SECONDS - start)) s"
