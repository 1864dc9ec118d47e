# Redis comes back having lost its latest writes - as after a machine crash
# with appendfsync everysec, or a restore from a backup: `run` keeps going
# while the store jumps back to an earlier point (offsets, windows, clock and
# logs together, as one consistent snapshot), notices that the offsets are
# no longer the ones it stored, reads again from there and ends exact: the
# flushes the store lost are counted once, not lost and not twice, and each
# bucket is forecast once, though the store may close some again (the model
# stage then logs them as already forecast).
#
# The earlier point is an RDB snapshot (SAVE) taken while `run` flushes; the
# crash (SIGKILL) comes once the store has moved well past it, and Redis
# restarts from that snapshot alone.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync everysec
dc_start_broker --partitions 4
feat_gen 34 60 20000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0034 -X flush.max.events=20 \
    -X redis.timeout=500ms
dc_wait_for 60 feat_moved_past 0
redis-cli -p "$REDIS_PORT" save >/dev/null || dc_fail "SAVE failed"
cp "$DC_TMP/redis/dump.rdb" "$DC_TMP/snapshot.rdb"
at_snapshot=$(feat_stored) # at least what the snapshot holds
# The store moves on by many flushes (20 events each) before the crash.
dc_wait_for 60 feat_moved_past $((at_snapshot + 2000))
before_crash=$(feat_stored)
[[ $before_crash -lt $FEAT_MSGS ]] || dc_fail "the stream was consumed before the crash"
dc_restart_redis_from "$DC_TMP/snapshot.rdb"
after_restart=$(feat_stored)
echo "offsets stored: $at_snapshot at the snapshot, $before_crash before the crash, $after_restart after it"
[[ $after_restart -lt $before_crash ]] || dc_fail "the store did not go back: $after_restart"
kill -0 "$RUN_PID" 2>/dev/null || dc_fail "run died with Redis: $(tail -5 "$DC_TMP/run.log")"
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
feat_check
# A bucket the store closes again after going back was forecast already:
# each bucket is forecast once, none is missing.
closes=$(grep -o 'bucket [0-9T:Z-]* closed:' "$DC_TMP/run.log" | sort | uniq -c)
first_ms=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["first_ts_ms"])' "$DC_TMP/summary.json")
want=$((($(feat_expected_closed) - first_ms / 3600000 * 3600000) / 3600000))
[[ $(awk '$1 != 1' <<<"$closes" | wc -l) == 0 && $(wc -l <<<"$closes") == "$want" ]] ||
    dc_fail "want each of $want buckets forecast once, got: $closes"
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
echo "0034 ok"
