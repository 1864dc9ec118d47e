# A store's windows and buckets are how its values are laid out: a `run`
# whose configuration changes a window's length or the bucket width must
# refuse the store with a clear error and a non-zero exit, writing nothing
# (merging slots of another length, or closing buckets by other starts,
# would mix them up silently). So must a `run` given a store of values in
# another format (one written before its clock kept the format). Renaming a
# window without changing its length is not a change of layout: that run
# goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis
dc_start_broker --partitions 2
feat_gen 26 30 3000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0026
dc_wait_for 120 feat_all_consumed
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"

# Everything the store holds, key by key, to show nothing was written.
snapshot() {
    redis-cli -p "$REDIS_PORT" --scan --pattern 'dc:*' | grep -v ':{meta}:closer$' | sort |
        while read -r key; do
            printf '%s ' "$key"
            redis-cli -p "$REDIS_PORT" --no-raw dump "$key" | md5sum
        done
}
snapshot >"$DC_TMP/before"
[[ $(wc -l <"$DC_TMP/before") -gt 30 ]] || dc_fail "the first run stored too little"

# More events wait in Kafka: a run that took the store would merge them.
"$DC_BIN" gen -X kafka.bootstrap.servers="$BOOTSTRAP" --seed 27 --skus 30 --events 500 \
    2>>"$DC_TMP/gen.log" || dc_fail "second gen failed"

refused() {
    local what=$1 log="$DC_TMP/refused-$2.log" says=$3; shift 3
    feat_run_bg "$log" -X kafka.group.id=g0026 "$@"
    if feat_wait_exit "$RUN_PID" 60; then
        dc_fail "run with $what exited 0"
    fi
    kill -0 "$RUN_PID" 2>/dev/null && dc_fail "run with $what did not stop"
    grep -q "$says" "$log" || dc_fail "run with $what gave no clear error: $(tail -3 "$log")"
    snapshot | cmp -s - "$DC_TMP/before" || dc_fail "run with $what wrote to the store"
}
refused "a longer 1h window" windows "cannot change" -X windows=5m,2h,24h,7d
refused "a window less" fewer "cannot change" -X windows=5m,1h,24h
refused "30m buckets" bucket "cannot change" -X bucket.width=30m
grep -h "cannot change" "$DC_TMP"/refused-windows.log | head -1

# A store whose clock does not name the format was written in format 1.
[[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' format)" == 2 ]] ||
    dc_fail "the clock does not keep the values' format"
redis-cli -p "$REDIS_PORT" hdel 'dc:{meta}:clock' format >/dev/null
snapshot >"$DC_TMP/before"
refused "a store of format 1" format "holds values of format 1; this demandcast reads and writes format 2 only"
grep -h "format 1" "$DC_TMP"/refused-format.log | head -1
redis-cli -p "$REDIS_PORT" hset 'dc:{meta}:clock' format 2 >/dev/null

# The same lengths under other names: the run takes the store and the new
# events.
feat_run_bg "$DC_TMP/renamed.log" -X kafka.group.id=g0026 -X windows=5m,60m,1d,7d
more_consumed() {
    local sum
    sum=$(redis-cli -p "$REDIS_PORT" hvals 'dc:{meta}:offsets' | awk '{s+=$1} END {print s+0}')
    [[ $sum -gt $FEAT_MSGS ]]
}
dc_wait_for 60 more_consumed
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run with renamed windows did not exit 0 on SIGTERM"
[[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' windows)" == \
   "5m=25000,60m=300000,1d=7200000,7d=50400000" ]] ||
    dc_fail "the clock does not name the renamed windows"
echo "0026 ok (changed windows and buckets, and an older format, refused; renamed windows taken)"
