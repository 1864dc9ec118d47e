# tests/integration/0001-broker-kcat.sh - the embedded broker serves clients
# nobody here wrote: `demandcast broker` creates the configured topics on N
# brokers, kcat produces and consumes through it (plain and as a consumer
# group), python3-confluent-kafka consumes in a group and commits, and the
# broker stops with status 0 on SIGTERM.
source "$(dirname "$0")/lib.sh"

dc_start_broker --brokers 3 --partitions 3 -X topic.dlq=test.dead-letters
[[ "$BOOTSTRAP" == 127.0.0.1:* ]] || dc_fail "bootstrap address \"$BOOTSTRAP\""

# The configured topics exist with the asked partition count.
timeout 20 kcat -L -b "$BOOTSTRAP" -J > "$DC_TMP/meta.json" || dc_fail "kcat -L failed"
/usr/bin/python3 - "$DC_TMP/meta.json" <<'EOF' || dc_fail "topic metadata"
import json, sys
meta = json.load(open(sys.argv[1]))
topics = {t["topic"]: len(t["partitions"]) for t in meta["topics"]}
want = ["shop.clickstream", "shop.orders", "demand.forecasts", "demand.surges", "test.dead-letters"]
for name in want:
    assert topics.get(name) == 3, (name, topics)
assert "demand.dlq" not in topics, topics
assert len(meta["brokers"]) == 3, meta["brokers"]
EOF

# 1000 keyed messages in; every one out, byte for byte, with each key on one
# partition.
N=1000
for i in $(seq 0 $((N - 1))); do echo "k$((i % 37)):value-$i"; done > "$DC_TMP/sent"
timeout 30 kcat -P -b "$BOOTSTRAP" -t shop.orders -K: -X enable.idempotence=true \
    < "$DC_TMP/sent" || dc_fail "kcat -P failed"

timeout 30 kcat -C -b "$BOOTSTRAP" -t shop.orders -o beginning -e -q -f '%k:%s\n' \
    > "$DC_TMP/got" || dc_fail "kcat -C failed"
[[ $(wc -l < "$DC_TMP/got") -eq $N ]] || dc_fail "kcat -C read $(wc -l < "$DC_TMP/got") of $N"
cmp <(sort "$DC_TMP/sent") <(sort "$DC_TMP/got") || dc_fail "payloads differ"

timeout 30 kcat -C -b "$BOOTSTRAP" -t shop.orders -o beginning -e -q -f '%k %p\n' |
    sort -u > "$DC_TMP/key-partitions"
[[ $(wc -l < "$DC_TMP/key-partitions") -eq 37 ]] || dc_fail "a key spans partitions"
[[ $(cut -d' ' -f2 "$DC_TMP/key-partitions" | sort -u | wc -l) -gt 1 ]] ||
    dc_fail "all keys on one partition"

# A kcat consumer group reads everything (exits at the end of all partitions).
timeout 60 kcat -b "$BOOTSTRAP" -G kcat-group -o beginning -e -q -f '%k:%s\n' shop.orders \
    > "$DC_TMP/group" || dc_fail "kcat -G failed"
cmp <(sort "$DC_TMP/sent") <(sort "$DC_TMP/group") || dc_fail "kcat -G payloads differ"

# python3-confluent-kafka: two members of one group share the partitions and
# together read every message once; their commits put the group's offsets at
# the end of every partition, while another group reads everything again.
/usr/bin/python3 - "$BOOTSTRAP" "$DC_TMP/sent" <<'EOF' || dc_fail "confluent-kafka group"
import sys, time
from confluent_kafka import Consumer, TopicPartition

bootstrap, sent_path = sys.argv[1], sys.argv[2]
sent = sorted(l.rstrip("\n") for l in open(sent_path))

assigned = {}
joining = set()

def on_assign(c, parts):
    # Hold every partition until both members of the group own some: a
    # member that joins late must not find the messages already read. A
    # rebalance after the join (a loaded machine can miss a heartbeat) must
    # not pause them again, or the drain would wait forever.
    assigned[id(c)] = parts
    c.assign(parts)
    if id(c) in joining:
        c.pause(parts)

def on_revoke(c, parts):
    assigned.pop(id(c), None)

def consumer(group):
    # When a member joins a group that has already formed, the embedded
    # broker gives the others the session timeout less a second to join
    # again before it assigns: 44 s at the client's default of 45 s, and
    # CI saw the second member come that late. Six seconds, as `run`'s
    # tests use, keeps such a rebalance short.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 100, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500})
    joining.add(id(c))
    c.subscribe(["shop.orders"], on_assign=on_assign, on_revoke=on_revoke)
    return c

def join(consumers, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        for c in consumers:
            msgs = [m for m in c.consume(100, 0.1) if not m.error()]
            assert not msgs, "a paused member delivered %d messages" % len(msgs)
        if all(assigned.get(id(c)) for c in consumers) and \
                sum(len(assigned[id(c)]) for c in consumers) == 3:
            for c in consumers:
                joining.discard(id(c))
                c.resume(assigned[id(c)])
            return
    raise AssertionError("the group did not assign every partition within %d s" % limit)

def drain(consumers, want, limit):
    # Keyed by partition and offset: after a rebalance the new owner of a
    # partition starts again from the last commit, and reading a message
    # twice then is Kafka's at-least-once, not a broker fault.
    got, deadline = {}, time.time() + limit
    while time.time() < deadline and len(got) < want:
        for c in consumers:
            # consume() in batches: alternating single-message poll()s
            # between two consumers crawls.
            for m in c.consume(1000, 0.1):
                if not m.error():
                    got[(m.partition(), m.offset())] = \
                        m.key().decode() + ":" + m.value().decode()
    return list(got.values())

a, b = consumer("py-group"), consumer("py-group")
join([a, b], 60)
got = drain([a, b], len(sent), 60)
assert sorted(got) == sent, (len(got), len(sent))
assert a.assignment() and b.assignment(), "the two members did not share the partitions"
for c in (a, b):
    c.commit(asynchronous=False)
parts = [TopicPartition("shop.orders", p) for p in range(3)]
committed = a.committed(parts, timeout=10)
ends = [a.get_watermark_offsets(p, timeout=10)[1] for p in parts]
assert [p.offset for p in committed] == ends, (committed, ends)
assert sum(ends) == len(sent), ends
a.close(); b.close()

d = consumer("py-other")
join([d], 60)
assert sorted(drain([d], len(sent), 60)) == sent
d.close()
EOF

# SIGTERM stops the broker with status 0.
kill -TERM "$BROKER_PID"
for _ in $(seq 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$BROKER_PID" 2>/dev/null && dc_fail "broker still running 10 s after SIGTERM"
wait "$BROKER_PID" || dc_fail "broker exited with status $?"

# Bad arguments are refused with status 2.
set +e
"$DC_BIN" broker --brokers 0 2>/dev/null; rc=$?
set -e
[[ $rc -eq 2 ]] || dc_fail "--brokers 0 gave status $rc"
echo "ok"
