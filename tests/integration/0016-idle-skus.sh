# A SKU without events for sku.idle.ttl of event time leaves the store: the
# close of the bucket that finds it idle deletes every key of it, while the
# SKUs still selling keep windows equal to the recount. The TTL, at least the
# longest window (7d), is taken from the data so that many SKUs go idle.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis
dc_start_broker --partitions 2
feat_gen 16 200 8000 --days 30
TTL=$(/usr/bin/python3 "$FEAT_DIR/featcheck.py" idle-ttl "$DC_TMP/ocf" "$(feat_expected_closed)")
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0016 -X sku.idle.ttl="${TTL}ms"
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
# Deleting is the close's work: wait until the last closed bucket is delivered.
dc_wait_for 60 feat_acked_reached
feat_check "$TTL"
feat_listed | cut -d" " -f1 >"$DC_TMP/listed"
[[ -s "$DC_TMP/listed" ]] || dc_fail "the closes list no SKU"
# The feature store's keys of the SKU (the model stage's `fc` record is not
# the feature store's: it lives as long as the forecaster knows the SKU).
while read -r sku; do
    keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern "dc:{$sku}:*" | grep -cv ':fc$' || true)
    [[ $keys -eq 0 ]] || dc_fail "idle SKU $sku still has $keys feature keys"
    grep -qxF -- "$sku" "$DC_TMP/listed" && dc_fail "idle SKU $sku still listed by the closes"
done < "$DC_TMP/gone"
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
echo "0016 ok ($(wc -l < "$DC_TMP/gone") idle SKUs gone)"
