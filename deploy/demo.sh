#!/usr/bin/env bash
# deploy/demo.sh DEMANDCAST_BIN - the main job end to end on embedded defaults
# (called by `deploy/quickstart.sh demo`): a private redis-server and the
# embedded Kafka on spare loopback ports, the synthetic shop streaming into
# Kafka, and what demandcast makes of it. Everything it starts is stopped by
# PID when it ends; nothing outside a temporary directory is touched.
set -euo pipefail

BIN=${1:?usage: demo.sh DEMANDCAST_BIN}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/demandcast-demo.XXXXXX")
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS WHAT CMD...: bounded polling.
wait_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "demo: timed out waiting for $what" >&2
            exit 1
        fi
        sleep 0.1
    done
}

REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK" --save "" \
    --appendonly yes --logfile "$WORK/redis.log" &
PIDS+=($!)
wait_for 20 redis-server redis-cli -p "$REDIS_PORT" ping

"$BIN" broker --partitions 4 --bootstrap-file "$WORK/bootstrap" 2>"$WORK/broker.log" &
PIDS+=($!)
wait_for 20 "the embedded Kafka" test -s "$WORK/bootstrap"
BOOTSTRAP=$(cat "$WORK/bootstrap")

cat >"$WORK/demandcast.properties" <<PROPS
kafka.bootstrap.servers=$BOOTSTRAP
redis.host=127.0.0.1
redis.port=$REDIS_PORT
PROPS
echo "==> embedded Kafka at $BOOTSTRAP, redis-server at 127.0.0.1:$REDIS_PORT"

echo "==> the synthetic shop: 200 SKUs, 60000 events into Kafka"
"$BIN" gen -c "$WORK/demandcast.properties" --seed 7 --skus 200 --events 60000 \
    --truth "$WORK/promotions.csv" --summary "$WORK/gen-summary.json"
echo "==> injected promotions (ground truth):"
head -5 "$WORK/promotions.csv"

echo "==> what arrives on shop.clickstream and shop.orders, decoded (first 3 of each):"
"$BIN" tail -c "$WORK/demandcast.properties" --topic shop.clickstream --from-beginning \
    --count 3 --timeout 20
"$BIN" tail -c "$WORK/demandcast.properties" --topic shop.orders --from-beginning \
    --count 3 --timeout 20
