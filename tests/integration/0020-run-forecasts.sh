# gen -> run -> forecasts: every bucket close publishes exactly one Forecast
# per active SKU (a SKU is active from its first event on), for every bucket
# the data closes, each well-formed (keyed by SKU, event-time timestamp,
# 24 horizons, 0 <= p10 <= p50 <= p90), read back with python3-confluent-kafka
# and python3-avro. /metrics and /health answer while it runs, and the
# counters agree with what reached Kafka. Surge alerts form well-formed
# START/UPDATE/END episodes with reasons.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fclib.sh"

dc_start_redis --appendonly yes
dc_start_broker --partitions 4
fc_gen 5 100 40000 4
HTTP_PORT=$(dc_free_port)
fc_run_bg "$DC_TMP/run.log" -X http.port="$HTTP_PORT"
http_get() {
    /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}
dc_wait_for 20 http_get "http://127.0.0.1:$HTTP_PORT/health"
dc_wait_for 120 fc_all_forecast 0
http_get "http://127.0.0.1:$HTTP_PORT/health" | grep -q '^ok: buckets closed up to' ||
    dc_fail "/health: $(http_get "http://127.0.0.1:$HTTP_PORT/health")"
http_get "http://127.0.0.1:$HTTP_PORT/metrics" >"$DC_TMP/metrics.txt" || dc_fail "/metrics failed"
fc_stop "$RUN_PID"

closed=$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' closed)
[[ "$closed" == "$(fc_expected_closed)" ]] || dc_fail "closed $closed, want $(fc_expected_closed)"
fc_dump demand.forecasts "$DC_TMP/forecasts.jsonl"
"${FC_CHECK[@]}" forecasts "$DC_TMP/forecasts.jsonl" "$DC_TMP/ocf" "$closed" \
    "$DC_SOURCE_DIR/schemas" || dc_fail "the forecasts do not match the closes"

metric() { awk -v m="$1" '$1 == m {print $2}' "$DC_TMP/metrics.txt"; }
n_forecasts=$(wc -l <"$DC_TMP/forecasts.jsonl")
[[ "$(metric dc_forecasts_total)" == "$n_forecasts" ]] ||
    dc_fail "dc_forecasts_total $(metric dc_forecasts_total), Kafka has $n_forecasts"
[[ "$(metric dc_late_events_total)" == 0 ]] || dc_fail "late events: the expected counts assume none"
# Every event was flushed before the last bucket closed: the input's count,
# which the loop adds to the metrics at each flush, is whole.
sent=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$DC_TMP/summary.json")
[[ "$(metric dc_events_in_total)" == "$sent" ]] ||
    dc_fail "dc_events_in_total $(metric dc_events_in_total), gen sent $sent"
closes=$(((closed - FC_FIRST_MS / 3600000 * 3600000) / 3600000))
[[ "$(metric dc_forecast_closes_total)" == "$closes" ]] ||
    dc_fail "dc_forecast_closes_total $(metric dc_forecast_closes_total), want $closes"
awk -v w="$(metric dc_flush_wait_seconds_total)" 'BEGIN { exit !(w != "" && w >= 0) }' ||
    dc_fail "dc_flush_wait_seconds_total missing or negative: '$(metric dc_flush_wait_seconds_total)'"
# Every flush waits on Redis for its replies, inside the flush thread's busy time.
busy=$(metric dc_flush_busy_seconds_total) rwait=$(metric dc_flush_redis_wait_seconds_total)
awk -v b="$busy" -v w="$rwait" 'BEGIN { exit !(b != "" && w != "" && w > 0 && b >= w) }' ||
    dc_fail "dc_flush_busy_seconds_total '$busy', dc_flush_redis_wait_seconds_total '$rwait'"
[[ "$(metric dc_model_version)" -gt 0 && "$(metric dc_forecaster_skus)" == 100 ]] ||
    dc_fail "model version $(metric dc_model_version), SKUs $(metric dc_forecaster_skus)"
fc_dump demand.surges "$DC_TMP/surges.jsonl"
"${FC_CHECK[@]}" alerts "$DC_TMP/surges.jsonl" "$DC_SOURCE_DIR/schemas" ||
    dc_fail "malformed surge alerts"
n_alerts=$(awk '$1 ~ /^dc_surge_alerts_total[{]/ {s += $2} END {print s + 0}' "$DC_TMP/metrics.txt")
[[ "$n_alerts" == "$(wc -l <"$DC_TMP/surges.jsonl")" && "$n_alerts" -gt 0 ]] ||
    dc_fail "dc_surge_alerts_total sums to $n_alerts, Kafka has $(wc -l <"$DC_TMP/surges.jsonl")"
echo "0020 ok"
