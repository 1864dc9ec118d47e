# gen -> embedded Kafka -> `run` -> Redis: every SKU's windows equal an
# independent recount of the generated events (python3-avro over the same
# events written as OCF), `features` reads the same from a read-only replica
# of the store's Redis, and SIGTERM drains and exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen 11 60 8000
feat_run_bg "$DC_TMP/run.log" -X kafka.group.id=g0010
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
feat_check

# A read-only replica answers `features` as its primary does.
REPLICA_PORT=$(dc_free_port)
mkdir -p "$DC_TMP/replica"
redis-server --bind 127.0.0.1 --port "$REPLICA_PORT" --dir "$DC_TMP/replica" --save "" \
    --appendonly no --daemonize no --logfile "$DC_TMP/replica/log" \
    --replicaof 127.0.0.1 "$REDIS_PORT" &
dc_kill_at_exit $!
replica_reads_the_same() {
    # shellcheck disable=SC2086
    redis-cli -p "$REPLICA_PORT" info replication | grep -q 'master_link_status:up' &&
        "$DC_BIN" features -X redis.port="$REPLICA_PORT" $SKUS >"$DC_TMP/replica.jsonl" &&
        cmp -s "$DC_TMP/features.jsonl" "$DC_TMP/replica.jsonl"
}
SKUS=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["per_sku"]))' "$DC_TMP/summary.json")
dc_wait_for 30 replica_reads_the_same
[[ "$(redis-cli -p "$REPLICA_PORT" config get replica-read-only | tail -1)" == yes ]] ||
    dc_fail "the replica takes writes"
# Leaving the group revokes all 8 partitions at once: the drain's flushes
# store everything, and the revokes have nothing left to write (a
# transaction each would hold up every rebalance by as many round trips).
transactions() {
    redis-cli -p "$REDIS_PORT" info commandstats | sed -n 's/^cmdstat_exec:calls=\([0-9]*\),.*/\1/p'
}
BEFORE=$(transactions)
kill -TERM "$RUN_PID"
feat_wait_exit "$RUN_PID" 30 || dc_fail "run did not exit 0 on SIGTERM"
grep -q "revoked" "$DC_TMP/run.log" || dc_fail "run did not leave the group"
LEAVING=$(($(transactions) - BEFORE))
echo "0010: $LEAVING transactions from SIGTERM to exit, $(grep -c revoked "$DC_TMP/run.log") revokes"
((LEAVING <= 3)) || dc_fail "leaving the group ran $LEAVING transactions for 8 partitions"
echo "0010 ok"
