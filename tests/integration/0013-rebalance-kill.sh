# Two `run` instances share one consumer group; once both own partitions and
# have stored progress, one is killed with SIGKILL. The survivor must take
# over the dead one's partitions (the group rebalances after the session
# timeout), read them on from the offsets in Redis, and the final state must
# equal the exact recount. 0033 runs this with the cooperative protocol
# (DC_COOPERATIVE=1), which assigns and revokes partitions one by one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/featlib.sh"

dc_start_redis --appendonly yes --appendfsync always
dc_start_broker --partitions 4
feat_gen 47 60 20000
# Partitions an instance holds now: its assignments minus its revocations.
owned() { awk '/ assigned /{n++} / revoked /{n--} END {print n+0}' "$1"; }
both_working() { [[ $(owned "$DC_TMP/a.log") -gt 0 && $(owned "$DC_TMP/b.log") -gt 0 &&
                    $(feat_stored) -gt 0 ]]; }
b_owns_all() { [[ $(owned "$DC_TMP/b.log") -eq 8 ]]; }

strategy=range,roundrobin
[[ ${DC_COOPERATIVE:-0} == 1 ]] && strategy=cooperative-sticky
feat_run_bg "$DC_TMP/a.log" -X kafka.group.id=g0013 -X flush.max.events=20 \
    -X kafka.partition.assignment.strategy=$strategy
a_pid=$RUN_PID
feat_run_bg "$DC_TMP/b.log" -X kafka.group.id=g0013 -X flush.max.events=20 \
    -X kafka.partition.assignment.strategy=$strategy
b_pid=$RUN_PID
dc_wait_for 60 both_working
at_kill=$(feat_stored)
[[ $at_kill -lt $FEAT_MSGS ]] || dc_fail "the stream was consumed before the kill"
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null || true
echo "killed one instance at $at_kill of $FEAT_MSGS stored offsets"
dc_wait_for 60 b_owns_all
# The protocol in force: the ingest logs a cooperative one's steps as
# incremental.
incremental=$(grep -c ' assigned .*(incremental)' "$DC_TMP/b.log" || true)
if [[ $strategy == cooperative-sticky ]]; then
    [[ $incremental -gt 0 ]] || dc_fail "the cooperative protocol was not in force"
else
    [[ $incremental == 0 ]] || dc_fail "an eager group assigned incrementally"
fi
dc_wait_for 120 feat_all_consumed
dc_wait_for 60 feat_closed_reached
feat_check
kill -TERM "$b_pid"
feat_wait_exit "$b_pid" 30 || dc_fail "run did not exit 0 on SIGTERM"
# While both ran, each flush could find the other's in between (the same
# SKUs come through both instances' order partitions) and start over.
echo "the survivor's flushes started over $(grep -o 'conflicts=[0-9]*' "$DC_TMP/b.log" |
    tail -1 | cut -d= -f2) times"
echo "${0##*/} ok"
