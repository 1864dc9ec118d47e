# A store's windows and buckets are how its values are laid out: a `run`
# whose configuration changes a window's length or the bucket width must
# refuse the store with a clear error and a non-zero exit, writing nothing
# (merging slots of another length, or closing buckets by other starts,
# would mix them up silently). So must a `run` given a store of values in
# a format it does not know. A store of a format before is upgraded in
# place on connecting, every window and listed SKU kept: format 2 (the
# SKUs a close lists in a sorted set, not one string) and format 1 (also
# the SKUs' newest event times in a set of their own, not in their
# records). Renaming a window without changing its length is not a change
# of layout: that run goes on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis
dc_start_broker --partitions 2
feat_gen 26 30 3000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0026
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_acked_reached
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"

# Everything the store holds, key by key, to show nothing was written. A
# hash by its fields in order: the DUMP of a large one follows its table,
# which a read may rehash.
snapshot() {
    redis-cli -p "$REDIS_PORT" --scan --pattern 'dc:*' | grep -v ':{meta}:closer$' | sort |
        while read -r key; do
            printf '%s ' "$key"
            if [[ "$(redis-cli -p "$REDIS_PORT" type "$key")" == hash ]]; then
                redis-cli -p "$REDIS_PORT" --no-raw hgetall "$key" | sed 's/^ *[0-9]*) //' |
                    paste - - | sort | md5sum
            else
                redis-cli -p "$REDIS_PORT" --no-raw dump "$key" | md5sum
            fi
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
# The model stage holds the forecaster of 1h buckets: it may refuse first.
refused "30m buckets" bucket "cannot change\|bucket width 3600000 ms; this forecaster has 24, 1800000" \
    -X bucket.width=30m
grep -h "cannot change" "$DC_TMP"/refused-windows.log | head -1

[[ "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' format)" == 3 ]] ||
    dc_fail "the clock does not keep the values' format"
redis-cli -p "$REDIS_PORT" hset 'dc:{meta}:clock' format 4 >/dev/null
snapshot >"$DC_TMP/before"
refused "a store of format 4" format "holds values of format 4; this demandcast reads and writes format 3 only"

# The listed SKUs as formats 1 and 2 kept them: the sorted set
# dc:{meta}:last of SKU -> end of its newest closed bucket with events
# (-inf for none), in place of the string dc:{meta}:listed.
feat_listed | sort >"$DC_TMP/listed"
[[ $(wc -l <"$DC_TMP/listed") -gt 10 ]] || dc_fail "the first run listed too few SKUs"
to_sorted_set() {
    feat_listed | while read -r sku at; do
        if [[ $at == 0 ]]; then at=-inf; fi
        redis-cli -p "$REDIS_PORT" zadd 'dc:{meta}:last' "$at" "$sku" >/dev/null
    done
    redis-cli -p "$REDIS_PORT" del 'dc:{meta}:listed' >/dev/null
}
# upgraded LOG RECORDS LISTED: the store was upgraded by a command that
# connected (its log LOG), RECORDS records rewritten, and lists the SKUs
# of file LISTED (sorted).
upgraded() {
    local n_listed
    n_listed=$(wc -l <"$3")
    grep -q "is now of format 3 ($2 records rewritten, $n_listed SKUs listed)" "$1" ||
        dc_fail "no word of the upgrade: $(cat "$1")"
    feat_listed | sort | cmp -s - "$3" || dc_fail "the upgrade listed other SKUs"
    [[ "$(redis-cli -p "$REDIS_PORT" exists 'dc:{meta}:last')" == 0 &&
       "$(redis-cli -p "$REDIS_PORT" hget 'dc:{meta}:clock' format)" == 3 ]] ||
        dc_fail "the upgrade left the sorted set of listed SKUs, or named no format"
}

# Format 2: reading it (any command that connects) upgrades it. A SKU
# whose events were all late was listed at -inf: it stays listed, without
# a bucket.
redis-cli -p "$REDIS_PORT" hset 'dc:{meta}:clock' format 2 >/dev/null
to_sorted_set
redis-cli -p "$REDIS_PORT" zadd 'dc:{meta}:last' -inf LATE-ONLY >/dev/null
{ cat "$DC_TMP/listed"; echo "LATE-ONLY 0"; } | sort >"$DC_TMP/listed2"
sku=$(sed -n '1s/ .*//p' "$DC_TMP/listed")
"$DC_BIN" features -X redis.port="$REDIS_PORT" "$sku" >/dev/null 2>"$DC_TMP/upgrade2.log" ||
    dc_fail "features on the format-2 store failed: $(cat "$DC_TMP/upgrade2.log")"
upgraded "$DC_TMP/upgrade2.log" 0 "$DC_TMP/listed2"

# Format 1, as the demandcast before that wrote it: also each record
# without its newest event time (the varint after its first byte,
# features/values.lua), which the set dc:{meta}:active held instead, and
# no format in the clock. Upgraded, the records are byte for byte as
# before, the set gone.
snapshot | grep ':f ' >"$DC_TMP/records"
cp "$DC_TMP/listed2" "$DC_TMP/listed"
to_sorted_set
redis-cli -p "$REDIS_PORT" eval "$FEAT_LUA_UV
  for _, key in ipairs(redis.call('KEYS', 'dc:{*}:f')) do
    local rec = redis.call('GET', key)
    local seen, pos = uv(rec, 2)
    redis.call('SET', key, string.sub(rec, 1, 1) .. string.sub(rec, pos))
    redis.call('ZADD', 'dc:{meta}:active', seen, string.match(key, '^dc:{(.*)}:f$'))
  end
  redis.call('HDEL', 'dc:{meta}:clock', 'format')" 0 >/dev/null
n_records=$(wc -l <"$DC_TMP/records")
[[ "$(redis-cli -p "$REDIS_PORT" zcard 'dc:{meta}:active')" == "$n_records" ]] ||
    dc_fail "the format-1 store does not hold the $n_records newest times"
snapshot | grep ':f ' | cmp -s - "$DC_TMP/records" && dc_fail "the records did not change format"
# A value of another kind where a record belongs: the upgrade leaves it,
# and does not fail half done.
redis-cli -p "$REDIS_PORT" hset 'dc:{BOGUS}:f' not-a record >/dev/null
redis-cli -p "$REDIS_PORT" zadd 'dc:{meta}:active' 1767571200000 BOGUS >/dev/null
sku=$(sed -n '1s/^dc:{\(.*\)}:f .*/\1/p' "$DC_TMP/records")
"$DC_BIN" features -X redis.port="$REDIS_PORT" "$sku" >"$DC_TMP/upgraded.jsonl" \
    2>"$DC_TMP/upgrade.log" || dc_fail "features on the format-1 store failed: $(cat "$DC_TMP/upgrade.log")"
# Format 1 listed a SKU only once its events were in a closed bucket: the
# upgrade lists those with a record but no such bucket yet without one.
{ cat "$DC_TMP/listed"; sed -n 's/^dc:{\(.*\)}:f .*/\1 0/p' "$DC_TMP/records"; } |
    awk '!seen[$1]++' | sort >"$DC_TMP/listed1"
upgraded "$DC_TMP/upgrade.log" "$n_records" "$DC_TMP/listed1"
[[ "$(redis-cli -p "$REDIS_PORT" type 'dc:{BOGUS}:f')" == hash ]] ||
    dc_fail "the upgrade touched a value that is not a record"
redis-cli -p "$REDIS_PORT" del 'dc:{BOGUS}:f' >/dev/null
snapshot | grep ':f ' | cmp -s - "$DC_TMP/records" || dc_fail "the upgraded records differ"
[[ "$(redis-cli -p "$REDIS_PORT" exists 'dc:{meta}:active')" == 0 ]] ||
    dc_fail "the upgrade left the set of newest times"
grep -q "\"sku\": *\"$sku\"" "$DC_TMP/upgraded.jsonl" || dc_fail "no features of $sku read"

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
echo "0026 ok (changed windows and buckets, and an unknown format, refused; formats 2 and 1 upgraded; renamed windows taken)"
