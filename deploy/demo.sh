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

# http_get URL: the body of a 2xx answer (python3 rather than curl, which a
# fresh machine may lack).
http_get() {
    /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
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

HTTP_PORT=$(free_port)
cat >"$WORK/demandcast.properties" <<PROPS
kafka.bootstrap.servers=$BOOTSTRAP
redis.host=127.0.0.1
redis.port=$REDIS_PORT
http.port=$HTTP_PORT
# The demo's input is all there at once: partitions that reach their end are
# idle after 2 s, and small flushes keep the closes moving.
idle.timeout=2s
flush.interval=100ms
metrics.log.interval=0
PROPS
echo "==> embedded Kafka at $BOOTSTRAP, redis-server at 127.0.0.1:$REDIS_PORT"

echo "==> demandcast run: the pipeline daemon (log: run.log; /metrics and /health on :$HTTP_PORT)"
"$BIN" run -c "$WORK/demandcast.properties" >"$WORK/run.log" 2>&1 &
RUN_PID=$!
PIDS+=("$RUN_PID")
wait_for 30 "demandcast run" http_get "http://127.0.0.1:$HTTP_PORT/health"

echo "==> the synthetic shop: 100 SKUs, 5 days of events (60000) into Kafka"
"$BIN" gen -c "$WORK/demandcast.properties" --seed 7 --skus 100 --events 60000 --days 5 \
    --truth "$WORK/promotions.csv" --summary "$WORK/gen-summary.json"
echo "==> injected promotions (ground truth):"
column -s, -t "$WORK/promotions.csv" 2>/dev/null || cat "$WORK/promotions.csv"

echo "==> what arrives on shop.clickstream and shop.orders, decoded (first 2 of each):"
"$BIN" tail -c "$WORK/demandcast.properties" --topic shop.clickstream --from-beginning \
    --count 2 --timeout 20
"$BIN" tail -c "$WORK/demandcast.properties" --topic shop.orders --from-beginning \
    --count 2 --timeout 20

# Buckets close by event time: the last one the data closes is the newest
# event's hour minus the default lateness (5 minutes).
LAST_BUCKET=$(/usr/bin/python3 -c '
import json, sys
last = json.load(open(sys.argv[1]))["last_ts_ms"]
print((last - 300000) // 3600000 * 3600000 - 3600000)' "$WORK/gen-summary.json")
saved() { [[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:model' bucket)" == "$LAST_BUCKET" ]]; }
echo "==> run closes the hourly buckets as event time passes: one forecast per SKU each..."
wait_for 120 "the forecasts of every bucket" saved
grep 'closed:' "$WORK/run.log" | tail -3

metric() { http_get "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
N_FORECASTS=$(metric dc_forecasts_total)
N_SURGES=$(http_get "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk '$1 ~ /^dc_surge_alerts_total/ {s += $2} END {print s + 0}')
"$BIN" tail -c "$WORK/demandcast.properties" --topic forecasts --from-beginning \
    --count "$N_FORECASTS" --timeout 60 >"$WORK/forecasts.jsonl"
if ((N_SURGES > 0)); then
    "$BIN" tail -c "$WORK/demandcast.properties" --topic surges --from-beginning \
        --count "$N_SURGES" --timeout 60 >"$WORK/surges.jsonl"
else
    : >"$WORK/surges.jsonl"
fi

/usr/bin/python3 - "$WORK/forecasts.jsonl" "$WORK/surges.jsonl" "$WORK/gen-summary.json" <<'PY'
import json, sys
fc_path, sg_path, summary_path = sys.argv[1:4]
latest = {}
for line in open(fc_path):
    f = json.loads(line)
    if f["sku"] not in latest or f["bucket_start_ms"] > latest[f["sku"]]["bucket_start_ms"]:
        latest[f["sku"]] = f
units = {sku: s["units"] for sku, s in json.load(open(summary_path))["per_sku"].items()}
top = sorted(latest, key=lambda s: (-units.get(s, 0), s))[:8]
show = [1, 2, 3, 6, 12, 24]
any_fc = latest[top[0]]
print(f"\n==> {sum(1 for _ in open(fc_path))} forecasts on demand.forecasts; the latest, "
      f"issued at {any_fc['issued_at']} (model version {any_fc['model_version']}),")
print("    for the 8 best-selling SKUs: units per hour ahead as p10/p50/p90 (mean)")
def cell(h):
    return f"{h['p10']:.3g}/{h['p50']:.3g}/{h['p90']:.3g} ({h['mean']:.1f})"
print(f"    {'sku':<7}{'sold':>5}  " + "".join(f"{'+' + str(h) + 'h':<21}" for h in show))
for sku in top:
    hz = {h["offset"]: h for h in latest[sku]["horizons"]}
    print(f"    {sku:<7}{units.get(sku, 0):>5}  " +
          "".join(f"{cell(hz[h]):<21}" for h in show if h in hz))
alerts = [json.loads(line) for line in open(sg_path)]
alerts.sort(key=lambda a: (a["detected_at_ms"], a["sku"]))
print(f"\n==> {len(alerts)} surge alerts on demand.surges (event time; reasons: the two strongest signals)")
for a in alerts:
    sig = sorted(a["signals"], key=lambda s: -abs(s["value"]))[:2]
    why = ", ".join(f"{s['name']}={s['value']:.1f}" for s in sig)
    print(f"    {a['detected_at']}  {a['sku']:<6} {a['state']:<6} expected {a['expected']:6.1f}"
          f"  baseline {a['baseline']:5.1f}  x{a['ratio']:<5.1f} {why}")
PY

echo
echo "==> /metrics (forecaster):"
http_get "http://127.0.0.1:$HTTP_PORT/metrics" |
    grep -E '^dc_(forecast|model_version|model_train_steps|surge|state_checkpoint_bytes|buckets_closed)' |
    sed 's/^/    /'
echo "==> /health: $(http_get "http://127.0.0.1:$HTTP_PORT/health")"
echo "==> done; stopping run (SIGTERM drains it), then the broker and redis-server"
kill -TERM "$RUN_PID"
wait "$RUN_PID" || echo "demo: run exited $?" >&2
