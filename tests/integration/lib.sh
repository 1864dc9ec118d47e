# tests/integration/lib.sh - sourced by integration tests. Starts the servers a
# test needs on spare loopback ports, and stops them by PID when the test ends
# (never by name: other tests and other users may run the same programs).
#
# Provides: dc_tmpdir, dc_free_port, dc_start_redis, dc_restart_redis,
# dc_restart_redis_from, dc_start_broker,
# dc_wait_for CMD..., dc_fail MSG, dc_kill_at_exit PID. Sets DC_TMP.
set -euo pipefail

: "${DC_BIN:?DC_BIN must name the demandcast binary}"
: "${DC_SOURCE_DIR:?}"

DC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dc-test.XXXXXX")
DC_PIDS=()

dc_cleanup() {
    local pid
    for pid in "${DC_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${DC_PIDS[@]}"; do
        # Give each server a bounded moment to exit, then force it.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ "${DC_KEEP_TMP:-}" == 1 ]]; then echo "kept $DC_TMP" >&2; else rm -rf "$DC_TMP"; fi
}
trap dc_cleanup EXIT

dc_fail() { echo "FAIL: $*" >&2; exit 1; }
dc_kill_at_exit() { DC_PIDS+=("$1"); }

# Prints a TCP port that nothing listens on right now.
dc_free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# dc_wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds; fails the
# test after SECONDS. Every wait in a test has a bound.
dc_wait_for() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || dc_fail "timed out after ${limit}s waiting for: $*"
        sleep 0.1
    done
}

# dc_start_redis [extra redis-server args...]: starts a private redis-server
# with its data in DC_TMP; sets REDIS_PORT and REDIS_PID.
dc_start_redis() {
    REDIS_PORT=$(dc_free_port)
    REDIS_ARGS=("$@")
    mkdir -p "$DC_TMP/redis"
    dc__redis_server
}

dc__redis_server() {
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DC_TMP/redis" \
        --save "" --appendonly no --daemonize no --logfile "$DC_TMP/redis/log" \
        "${REDIS_ARGS[@]}" &
    REDIS_PID=$!
    dc_kill_at_exit "$REDIS_PID"
    dc_wait_for 20 redis-cli -p "$REDIS_PORT" ping
}

# dc_restart_redis [SIGNAL]: stops the redis-server of dc_start_redis with
# SIGNAL (default KILL: a crash, so only what persistence kept survives),
# waits for it to go, and starts it again on the same port, with the same
# directory and arguments; sets REDIS_PID.
dc_restart_redis() {
    dc__redis_stop "${1:-KILL}"
    dc__redis_server
}

dc__redis_stop() {
    kill -"$1" "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
}

# dc_restart_redis_from RDB: crashes the redis-server of dc_start_redis
# (SIGKILL) and starts it again on the same port from the snapshot RDB
# alone, its append-only file gone and off from then on: the store goes
# back to that snapshot. Sets REDIS_PID.
dc_restart_redis_from() {
    dc__redis_stop KILL
    rm -rf "$DC_TMP/redis/appendonlydir"
    cp "$1" "$DC_TMP/redis/dump.rdb"
    REDIS_ARGS=(--appendonly no)
    dc__redis_server
}

# dc_start_broker [broker args...]: starts `demandcast broker`; sets
# BOOTSTRAP and BROKER_PID once the broker has written its address.
dc_start_broker() {
    local file="$DC_TMP/bootstrap.$RANDOM"
    "$DC_BIN" broker --bootstrap-file "$file" "$@" 2>"$DC_TMP/broker.log" &
    BROKER_PID=$!
    dc_kill_at_exit "$BROKER_PID"
    dc_wait_for 20 test -s "$file"
    BOOTSTRAP=$(cat "$file")
}
