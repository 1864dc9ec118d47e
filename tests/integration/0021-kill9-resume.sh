# kill -9 and restart continue from the saved state: run A goes through the
# data uninterrupted; run B (its own Redis database, group and topics) is
# killed with SIGKILL at random moments after closes (four times, each soon
# after its state advanced, so kills land while it steps, publishes, waits
# for Kafka and saves), restarted each time, and then run to the end. For
# every (SKU, bucket) both streams hold the same Forecast, byte for byte;
# what B published twice (a close re-stepped after a kill) is identical too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fclib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
fc_gen 9 60 20000 2

fc_run_bg "$DC_TMP/a.log" -X kafka.group.id=a -X topic.forecasts=fa -X topic.surges=sa
dc_wait_for 120 fc_all_forecast 0
fc_stop "$RUN_PID"

RANDOM=21
saved_b() { local s; s=$(fc_saved 1); echo "${s:-0}"; }
advanced_past() { [[ $(saved_b) -gt $1 ]]; }
kills=()
for trial in 1 2 3 4; do
    before=$(saved_b)
    fc_run_bg "$DC_TMP/b.log" -X redis.db=1 -X kafka.group.id="b$trial" -X topic.forecasts=fb \
        -X topic.surges=sb -X flush.max.events=500 -X close.lease=1s
    dc_wait_for 60 advanced_past "$before"
    sleep "0.$(printf '%03d' $((RANDOM % 300)))"
    kill -KILL "$RUN_PID"
    wait "$RUN_PID" 2>/dev/null || true
    kills+=("$(saved_b)")
done
echo "B's state after each kill: ${kills[*]} (data closes up to $(fc_expected_closed))"
fc_all_forecast 1 && dc_fail "B finished before its last kill: the kills tested nothing"
grep -q 'state loaded from Redis' "$DC_TMP/b.log" || dc_fail "B never resumed from Redis"
fc_run_bg "$DC_TMP/b.log" -X redis.db=1 -X kafka.group.id=bfinal -X topic.forecasts=fb \
    -X topic.surges=sb -X close.lease=1s
dc_wait_for 120 fc_all_forecast 1
fc_stop "$RUN_PID"

fc_dump fa "$DC_TMP/a.jsonl"
fc_dump fb "$DC_TMP/b.jsonl"
"${FC_CHECK[@]}" same "$DC_TMP/a.jsonl" "$DC_TMP/b.jsonl" "$DC_SOURCE_DIR/schemas" ||
    dc_fail "the restarted run's forecasts differ from the uninterrupted run's"
echo "0021 ok"
