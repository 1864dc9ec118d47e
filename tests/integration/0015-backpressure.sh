# Backpressure: Redis is frozen (SIGSTOP) in the middle of the stream for a
# few seconds. `run` must notice (its flush times out), pause consumption -
# no message is taken in while Redis cannot store it, and memory stays put -
# then resume once Redis answers again (SIGCONT), and end exact. The time
# its input stood still for flushes in flight (flush_wait, as
# dc_flush_wait_seconds_total) holds at least one flush's timeout, and so
# does the flush thread's time blocked on Redis (redis_wait, as
# dc_flush_redis_wait_seconds_total), which its busy time (flush_busy)
# holds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen 53 60 20000
last_in() { grep -o ' in=[0-9]*' "$DC_TMP/run.log" | tail -1 | cut -d= -f2; }
last_field() { grep -o " $1=[0-9.]*" "$DC_TMP/run.log" | tail -1 | cut -d= -f2; }
last_wait() { last_field flush_wait; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0015 -X flush.max.events=20 \
    -X redis.timeout=300ms
dc_wait_for 60 feat_moved_past 0
wait_0=$(last_wait)
rwait_0=$(last_field redis_wait)
kill -STOP "$REDIS_PID"
sleep 1.5
in_1=$(last_in); rss_1=$(rss_kb "$RUN_PID")
sleep 3
in_2=$(last_in); rss_2=$(rss_kb "$RUN_PID")
kill -CONT "$REDIS_PID"
echo "while Redis was frozen: in $in_1 -> $in_2, RSS $rss_1 -> $rss_2 kB"
grep -q "pausing consumption" "$DC_TMP/run.log" || dc_fail "run did not pause"
[[ $in_1 -lt $FEAT_MSGS ]] || dc_fail "the stream was consumed before Redis froze"
[[ $in_1 == "$in_2" ]] || dc_fail "messages were taken in while Redis was frozen"
((rss_2 - rss_1 < 8192)) || dc_fail "memory grew by $((rss_2 - rss_1)) kB while paused"
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
grep -q "resuming consumption" "$DC_TMP/run.log" || dc_fail "run never resumed"
feat_check
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
# A flush against the frozen Redis blocks for its 300 ms timeout, with the
# input's batch full (flush.max.events 20) and the loop waiting for it.
wait_end=$(last_wait)
echo "input stood still for flushes: ${wait_0:-0} s before the freeze, $wait_end s at the end"
awk -v a="${wait_0:-0}" -v b="$wait_end" 'BEGIN { exit !(b - a >= 0.25) }' ||
    dc_fail "flush_wait grew by less than one flush timeout while Redis was frozen"
rwait_end=$(last_field redis_wait); busy_end=$(last_field flush_busy)
echo "flush thread: busy $busy_end s, blocked on Redis ${rwait_0:-0} s before the freeze, $rwait_end s at the end"
awk -v a="${rwait_0:-0}" -v b="$rwait_end" 'BEGIN { exit !(b - a >= 0.25) }' ||
    dc_fail "redis_wait grew by less than one flush timeout while Redis was frozen"
awk -v w="$rwait_end" -v b="$busy_end" 'BEGIN { exit !(b >= w) }' ||
    dc_fail "the flush thread was blocked on Redis longer ($rwait_end s) than busy ($busy_end s)"
echo "0015 ok"
