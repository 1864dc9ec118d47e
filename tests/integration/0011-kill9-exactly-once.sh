# Exactly once across kill -9: `run` is killed with SIGKILL at random moments
# (20 times, each soon after its first flush landed, with small flushes so
# kills land before, inside and after flushes and bucket closes),
# restarted each time, and finally run to the end; the store must equal the
# exact recount - no event lost, none counted twice. Each restart joins a new
# consumer group, so its positions can only come from the offsets in Redis.
# DC_KILL_SEED (default 0) varies the data and the kill times:
# bench/kill9_soak.sh runs many seeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

seed=${DC_KILL_SEED:-0}
[[ "$seed" =~ ^[0-9]+$ ]] || dc_fail "DC_KILL_SEED must be a number"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen $((23 + seed)) 80 40000
RANDOM=$((11 + seed))
moved_past() { feat_moved_past "$1" || [[ $(feat_stored) -ge $FEAT_MSGS ]]; }
progress=()
for trial in $(seq 1 20); do
    before=$(feat_stored)
    feat_run_bg "$DC_TMP/run.log" -X kafka.group.id="k$trial" -X flush.max.events=20
    # Kill while it works: once its first flush has landed, after 0-50 ms more.
    dc_wait_for 60 moved_past "$before"
    sleep "0.$(printf '%03d' $((RANDOM % 50)))"
    kill -KILL "$RUN_PID"
    wait "$RUN_PID" 2>/dev/null || true
    progress+=("$(feat_stored)")
done
echo "stored offsets after each kill: ${progress[*]} of $FEAT_MSGS"
# The kills must have interrupted the work, not just hit an idle process.
[[ "${progress[9]}" -lt "$FEAT_MSGS" ]] || dc_fail "half the runs finished before their kill"
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=final
dc_wait_for 180 feat_all_consumed
dc_wait_for 60 feat_closed_reached
feat_check
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
echo "0011 ok"
