# tests/integration/run-c.sh EXE: runs a C integration test with a private
# redis-server and the embedded Kafka, passing DC_REDIS_PORT and DC_BOOTSTRAP.
source "$(dirname "$0")/lib.sh"
dc_start_redis
dc_start_broker --partitions 4
DC_REDIS_PORT=$REDIS_PORT DC_BOOTSTRAP=$BOOTSTRAP DC_TMP=$DC_TMP "$1"
