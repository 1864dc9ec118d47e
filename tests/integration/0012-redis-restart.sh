# Redis crashes (SIGKILL) and comes back on the same port with its AOF, twice,
# while `run` works through the stream: the pipeline pauses while Redis is
# away, resumes without being restarted itself, and at the end every window
# equals the exact recount - no event lost, none counted twice. appendfsync
# always is what features/features.h asks for: a flush Redis acknowledged is
# on disk, and one it applied without acknowledging is found by the offsets.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen 31 60 20000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0012 -X flush.max.events=20 \
    -X redis.timeout=500ms
run_pid=$RUN_PID
# Each crash lands once the previous restart has seen a flush go through.
before=0
for crash in 1 2; do
    dc_wait_for 60 feat_moved_past "$before"
    before=$(feat_stored)
    [[ $before -lt $FEAT_MSGS ]] || dc_fail "the stream was consumed before crash $crash"
    dc_restart_redis KILL
    sleep 0.5
done
kill -0 "$run_pid" 2>/dev/null || dc_fail "run died with Redis: $(tail -5 "$DC_TMP/run.log")"
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
grep -q "pausing consumption" "$DC_TMP/run.log" || dc_fail "run never noticed Redis was gone"
grep -q "resuming consumption" "$DC_TMP/run.log" || dc_fail "run never resumed"
feat_check
kill -TERM "$run_pid"
feat_wait_exit "$run_pid" 30 || dc_fail "run did not exit 0 on SIGTERM"
echo "0012 ok"
