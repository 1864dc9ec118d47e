# Every DLQ reason from a real malformed message: helper_dlq writes bad bytes
# (wrong magic, unknown schema id, truncated frames, malformed Avro, trailing
# bytes) and well-framed records with bad values (quantity negative, zero and
# absurd; NaN and infinite prices; timestamps far in the future and past; an
# event older than the longest window; an empty SKU) into the input topics,
# each followed by a good event on the same partition. The pipeline must stay
# up, put each bad message into the DLQ unchanged (value and key) with the
# right headers (checked by dlqcheck.py with python3-confluent-kafka), count
# them by reason, and count every good event behind them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

HELPER="$DC_BUILD_DIR/tests/helper_dlq"
dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 2
"$HELPER" "$BOOTSTRAP" history || dc_fail "helper_dlq history failed"
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0014 -X metrics.log.interval=200ms
# too_late needs closed buckets: the history spans 199 hours.
closed_past() {
    local c
    c=$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' closed)
    [[ -n "$c" && $c -ge $((1767571200000 + 190 * 3600000)) ]]
}
dc_wait_for 60 closed_past
goods=$("$HELPER" "$BOOTSTRAP" poison "$DC_TMP/manifest.tsv") || dc_fail "helper_dlq poison failed"
n_bad=$(wc -l <"$DC_TMP/manifest.tsv")
total=$((200 + 2 * n_bad))
consumed() {
    local sum
    sum=$(redis-cli -p "$REDIS_PORT" hvals 'dc:{meta}:offsets' | awk '{s+=$1} END {print s+0}')
    [[ "$sum" == "$total" ]]
}
dc_wait_for 60 consumed
kill -0 "$RUN_PID" 2>/dev/null || dc_fail "run died: $(tail -5 "$DC_TMP/run.log")"

/usr/bin/python3 "$(dirname "$0")/dlqcheck.py" "$BOOTSTRAP" demand.dlq "$DC_TMP/manifest.tsv" ||
    dc_fail "the DLQ differs from what was produced"

# Counters by reason, as the pipeline logs them.
want=$(cut -f1 "$DC_TMP/manifest.tsv" | sort | uniq -c | awk '{printf " %s=%s", $2, $1}' |
       tr ' ' '\n' | sort | tr '\n' ' ')
logged() {
    local have
    have=$(grep "dlq by reason:" "$DC_TMP/run.log" | tail -1 | sed 's/.*dlq by reason://' |
           tr ' ' '\n' | sort | tr '\n' ' ')
    [[ "$have" == "$want" ]]
}
dc_wait_for 10 logged || true
logged || dc_fail "dlq counters: want [$want], log says: $(grep 'dlq by reason' "$DC_TMP/run.log" | tail -1)"
grep -q " dlq=$n_bad " <(grep " dlq=" "$DC_TMP/run.log" | tail -1) || dc_fail "dlq total is not $n_bad"

# The good events behind the poison were all counted.
"$DC_BIN" features -X redis.port="$REDIS_PORT" 20000 >"$DC_TMP/f.json" || dc_fail "features failed"
views=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["windows"]["1h"]["views"])' "$DC_TMP/f.json")
units=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["windows"]["1h"]["units"])' "$DC_TMP/f.json")
[[ "views=$views units=$units" == "$goods" ]] ||
    dc_fail "SKU 20000 has views=$views units=$units, produced $goods"
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
echo "0014 ok"
