# gen -> embedded Kafka -> `run` -> Redis: every SKU's windows equal an
# independent recount of the generated events (python3-avro over the same
# events written as OCF), and SIGTERM drains and exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen 11 60 8000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0010
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
feat_check
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
grep -q "revoked" "$DC_TMP/run.log" || dc_fail "run did not leave the group"
echo "0010 ok"
