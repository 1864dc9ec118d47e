# 0013 with the cooperative rebalance protocol (cooperative-sticky): the
# ingest takes and gives partitions one by one (incremental assign and
# unassign), each with its own queue, and the survivor of a SIGKILL still
# ends exact. (A commit that meets the group's new generation makes
# librdkafka count the survivor's own partitions lost, so it may give them
# up and take them back too: the offsets in Redis keep that exact.)
DC_COOPERATIVE=1
source "$(dirname "$0")/0013-rebalance-kill.sh"
