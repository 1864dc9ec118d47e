#!/usr/bin/env bash
# deploy/quickstart.sh - the two set-up commands of README.md.
#
#   deploy/quickstart.sh demo   build, then run the main job end to end on embedded
#                               defaults: a private redis-server and the embedded Kafka on
#                               spare loopback ports, the synthetic shop streaming into it,
#                               and what demandcast makes of it, printed.
#   deploy/quickstart.sh test   build, run the whole test suite, then build with
#                               AddressSanitizer + UndefinedBehaviorSanitizer and run it
#                               again, then with ThreadSanitizer; any failure or sanitizer
#                               report fails the command.
#
# Both install the Debian packages they need when they are missing (as root with
# apt-get; otherwise they print the exact apt-get line and exit 1).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
JOBS=$(nproc 2>/dev/null || echo 2)

BUILD_PACKAGES=(gcc make cmake pkg-config librdkafka-dev libavro-dev libopenblas-dev
    libhiredis-dev libjansson-dev libcmocka-dev libmicrohttpd-dev libmsgpack-dev zlib1g-dev
    libgoogle-perftools-dev
    redis-server)
# Tests also talk to demandcast through clients nobody here wrote, and render
# the backtest report in a real browser.
TEST_PACKAGES=(kcat python3-avro python3-confluent-kafka chromium)

usage() {
    echo "usage: $0 demo|test" >&2
    exit 2
}

ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) != 0 ]]; then
        echo "demandcast needs these Debian packages; install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "==> installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [cmake args...]
build() {
    local dir=$1; shift
    echo "==> building in $dir" >&2
    mkdir -p "$dir"
    if ! { cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
        cmake --build "$dir" -j "$JOBS"; } >"$dir/build.log" 2>&1; then
        cat "$dir/build.log" >&2
        echo "build failed (log: $dir/build.log)" >&2
        exit 1
    fi
    # The build is warning-free; show any warning that creeps in.
    grep -E 'warning:' "$dir/build.log" >&2 || true
}

run_tests() {
    local dir=$1
    echo "==> testing $dir" >&2
    (cd "$dir" && ctest -j "$JOBS" --output-on-failure --timeout 900)
}

case "$MODE" in
demo)
    ensure_packages "${BUILD_PACKAGES[@]}"
    build "$ROOT/build"
    exec bash "$ROOT/deploy/demo.sh" "$ROOT/build/cli/demandcast"
    ;;
test)
    ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    build "$ROOT/build"
    run_tests "$ROOT/build"
    # The sanitizer pass: ASan and UBSan abort on the first report
    # (-fno-sanitize-recover), so a report is a failed test.
    build "$ROOT/build-asan" -DDC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_tests "$ROOT/build-asan"
    # The race pass: the flush thread, the HTTP server's and librdkafka's
    # beside the main loop. A report makes the process exit non-zero (see
    # tests/tsan/ for what is preloaded and suppressed, and why).
    build "$ROOT/build-tsan" -DDC_TSAN=ON
    run_tests "$ROOT/build-tsan"
    echo "==> all tests passed (plain and sanitizer builds)" >&2
    ;;
*) usage ;;
esac
