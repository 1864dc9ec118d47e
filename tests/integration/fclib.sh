# tests/integration/fclib.sh - helpers of the forecast tests (0020..0029),
# sourced after lib.sh. fc_gen produces a deterministic shop into Kafka and
# the same events as OCF (for the expected counts); fc_run_bg starts `run`;
# fccheck.py reads what it published with python3-confluent-kafka and
# python3-avro.
FC_DIR="$(dirname "${BASH_SOURCE[0]}")"
FC_CHECK=("/usr/bin/python3" "$FC_DIR/fccheck.py")
# Lateness that covers the shop's own disorder (orders follow carts by up to
# about an hour), so no event is late and the active SKUs of every close
# follow from the data alone.
FC_LATENESS_MS=7200000

# fc_gen SEED SKUS EVENTS DAYS [gen args...]: into Kafka and $DC_TMP/ocf, the
# promotions into $DC_TMP/truth.csv; sets FC_FIRST_MS and FC_LAST_MS.
fc_gen() {
    local seed=$1 skus=$2 events=$3 days=$4; shift 4
    "$DC_BIN" gen -X kafka.bootstrap.servers="$BOOTSTRAP" --seed "$seed" --skus "$skus" \
        --events "$events" --days "$days" --truth "$DC_TMP/truth.csv" \
        --summary "$DC_TMP/summary.json" "$@" 2>"$DC_TMP/gen.log" ||
        dc_fail "gen to Kafka failed: $(cat "$DC_TMP/gen.log")"
    "$DC_BIN" gen --out-dir "$DC_TMP/ocf" --seed "$seed" --skus "$skus" --events "$events" \
        --days "$days" "$@" 2>>"$DC_TMP/gen.log" || dc_fail "gen --out-dir failed"
    FC_FIRST_MS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["first_ts_ms"])' "$DC_TMP/summary.json")
    FC_LAST_MS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_ts_ms"])' "$DC_TMP/summary.json")
}

# fc_run_bg LOG [args...]: starts `run` in the background; sets RUN_PID.
fc_run_bg() {
    local log=$1; shift
    "$DC_BIN" run -X kafka.bootstrap.servers="$BOOTSTRAP" -X redis.port="$REDIS_PORT" \
        -X lateness="${FC_LATENESS_MS}ms" -X idle.timeout=1s -X flush.interval=50ms \
        -X metrics.log.interval=5s -X kafka.session.timeout.ms=6000 \
        -X kafka.heartbeat.interval.ms=500 "$@" >>"$log" 2>&1 &
    RUN_PID=$!
    dc_kill_at_exit "$RUN_PID"
}

# The closed time once every partition is idle, from the data.
fc_expected_closed() {
    echo $(((FC_LAST_MS - FC_LATENESS_MS) / 3600000 * 3600000))
}

# fc_saved DB: the bucket the forecaster state in Redis database DB was saved
# after ("" if none).
fc_saved() {
    redis-cli -p "$REDIS_PORT" -n "$1" hget 'dc:{meta}:model' bucket
}

# fc_all_forecast DB: succeeds once the state covers the last bucket the data
# closes, i.e. every close was forecast, published and saved.
fc_all_forecast() {
    [[ "$(fc_saved "$1")" == $(($(fc_expected_closed) - 3600000)) ]]
}

# fc_stop PID: SIGTERM, and it must exit 0 within 30 s.
fc_stop() {
    local pid=$1 i
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" || dc_fail "run exited $? on SIGTERM"
            return 0
        fi
        sleep 0.1
    done
    dc_fail "run did not exit within 30 s of SIGTERM"
}

# fc_dump TOPIC OUT: every message of TOPIC (bounded wait).
fc_dump() {
    "${FC_CHECK[@]}" dump "$BOOTSTRAP" "$1" "$2" 60 || dc_fail "cannot read topic $1"
}
