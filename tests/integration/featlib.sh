# tests/integration/featlib.sh - helpers of the feature-store tests (0010..0019, 0034),
# sourced after lib.sh. feat_gen produces a deterministic shop into Kafka and
# writes the same events as OCF for the recount; feat_check compares the store
# with that recount.
FEAT_DIR="$(dirname "${BASH_SOURCE[0]}")"

# feat_gen SEED SKUS EVENTS [gen args...]: into Kafka and into $DC_TMP/ocf;
# sets FEAT_MSGS (Kafka messages), FEAT_LAST_MS (newest event time).
feat_gen() {
    local seed=$1 skus=$2 n=$3; shift 3
    "$DC_BIN" gen -X kafka.bootstrap.servers="$BOOTSTRAP" --seed "$seed" --skus "$skus" \
        --events "$n" --summary "$DC_TMP/summary.json" "$@" 2>"$DC_TMP/gen.log" ||
        dc_fail "gen to Kafka failed: $(cat "$DC_TMP/gen.log")"
    "$DC_BIN" gen --out-dir "$DC_TMP/ocf" --seed "$seed" --skus "$skus" --events "$n" "$@" \
        2>>"$DC_TMP/gen.log" || dc_fail "gen --out-dir failed"
    FEAT_MSGS=$(/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["clicks"]+s["orders"])' "$DC_TMP/summary.json")
    FEAT_LAST_MS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_ts_ms"])' "$DC_TMP/summary.json")
}


# feat_run_bg LOG [args...]: starts `run` in the background; sets RUN_PID.
feat_run_bg() {
    local log=$1; shift
    "$DC_BIN" run -X kafka.bootstrap.servers="$BOOTSTRAP" -X redis.port="$REDIS_PORT" \
        -X idle.timeout=1s -X flush.interval=50ms -X metrics.log.interval=1s \
        -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 "$@" \
        >>"$log" 2>&1 &
    RUN_PID=$!
    dc_kill_at_exit "$RUN_PID"
}

# The sum of the partition offsets the store holds (0 while Redis is away).
feat_stored() {
    redis-cli -p "$REDIS_PORT" hvals 'dc:{meta}:offsets' 2>/dev/null | awk '{s+=$1} END {print s+0}'
}

# feat_moved_past N: the store's offsets sum to more than N.
feat_moved_past() { [[ $(feat_stored) -gt $1 ]]; }

# Succeeds once the store's offsets cover every produced message.
feat_all_consumed() { [[ "$(feat_stored)" == "$FEAT_MSGS" ]]; }

# The closed time once every partition is idle: the newest event's watermark
# (lateness 5m, buckets 1h), computed from the data, not read from the store.
feat_expected_closed() {
    echo $(( (FEAT_LAST_MS - 300000) / 3600000 * 3600000 ))
}

feat_closed_reached() {
    [[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' closed)" == "$(feat_expected_closed)" ]]
}

# feat_acked_reached: the buckets up to the watermark are closed and
# delivered (a close's work is done).
feat_acked_reached() {
    [[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' acked)" == "$(feat_expected_closed)" ]]
}

# feat_check [IDLE_TTL_MS]: compares every generated SKU's windows with the
# recount; with the run's sku.idle.ttl, SKUs idle that long must be gone
# (listed in $DC_TMP/gone).
feat_check() {
    local skus
    skus=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["per_sku"]))' "$DC_TMP/summary.json")
    # shellcheck disable=SC2086
    "$DC_BIN" features -X redis.port="$REDIS_PORT" $skus >"$DC_TMP/features.jsonl" ||
        dc_fail "features failed"
    /usr/bin/python3 "$FEAT_DIR/featcheck.py" "$DC_TMP/ocf" "$DC_TMP/features.jsonl" \
        "$(feat_expected_closed)" ${1:+"$1" "$DC_TMP/gone"} ||
        dc_fail "the store differs from the recount"
}

# feat_wait_exit PID SECONDS: waits for PID to exit; succeeds if it exited 0.
feat_wait_exit() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            return $?
        fi
        sleep 0.1
    done
    return 1
}

# The varint at byte pos of s and the position after it (features/values.lua's
# uv), for the scripts the tests run in Redis to read stored values.
FEAT_LUA_UV="
  local function uv(s, pos)
    local v, mul = 0, 1
    while true do
      local b = string.byte(s, pos)
      pos = pos + 1
      if b < 128 then return v + b * mul, pos end
      v, mul = v + (b - 128) * mul, mul * 128
    end
  end"

# feat_listed: the SKUs a bucket close lists (dc:{meta}:listed, its format
# in features/values.lua), one a line with the end of its newest closed
# bucket with events (0: none), in the stored order.
feat_listed() {
    redis-cli -p "$REDIS_PORT" --raw eval "$FEAT_LUA_UV
      local v, out, pos = redis.call('GET', KEYS[1]) or '', {}, 1
      while pos <= #v do
        local len = string.byte(v, pos)
        local sku, at = string.sub(v, pos + 1, pos + len)
        at, pos = uv(v, pos + 1 + len)
        out[#out + 1] = sku .. ' ' .. string.format('%d', at)
      end
      return out" 1 'dc:{meta}:listed'
}
