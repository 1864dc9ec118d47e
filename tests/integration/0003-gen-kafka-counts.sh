# tests/integration/0003-gen-kafka-counts.sh - `demandcast gen` into the
# embedded Kafka: every record arrives exactly once (no loss, no duplicate),
# decodes (with `demandcast tail` and with python3-avro, a decoder nobody here
# wrote), carries the framing id of its schema, the right key (sku / order_id)
# and the event time as its timestamp, and the counts agree with what gen
# reports. A cluster that cannot be reached makes gen fail with status 1; bad
# arguments give status 2.
source "$(dirname "$0")/lib.sh"

dc_start_broker --partitions 4
K="-X kafka.bootstrap.servers=$BOOTSTRAP"

timeout 120 "$DC_BIN" gen --seed 5 --skus 300 --events 30000 --summary "$DC_TMP/summary.json" \
    --truth "$DC_TMP/truth.csv" $K 2> "$DC_TMP/gen.err" || {
    cat "$DC_TMP/gen.err" >&2
    dc_fail "gen exited with status $?"
}
grep -q "30000 events" "$DC_TMP/gen.err" || dc_fail "gen did not report its count: $(cat "$DC_TMP/gen.err")"
read -r CLICKS ORDERS < <(/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["events"] == 30000 == s["clicks"] + s["orders"], s
assert s["topics"] == {"shop.clickstream": s["clicks"], "shop.orders": s["orders"]}, s["topics"]
print(s["clicks"], s["orders"])' "$DC_TMP/summary.json") || dc_fail "summary.json"
head -1 "$DC_TMP/truth.csv" | grep -qx "sku,start,end,lift" || dc_fail "truth header"

# `demandcast tail` decodes every record of both topics; its JSON agrees
# with the summary per click type, per order status, in lines, units and
# views per SKU.
timeout 90 "$DC_BIN" tail --topic clickstream --from-beginning --count "$CLICKS" --timeout 60 $K \
    > "$DC_TMP/clicks.jsonl" || dc_fail "tail clickstream: status $?"
timeout 90 "$DC_BIN" tail --topic orders --from-beginning --count "$ORDERS" --timeout 60 $K \
    > "$DC_TMP/orders.jsonl" || dc_fail "tail orders: status $?"
/usr/bin/python3 - "$DC_TMP/summary.json" "$DC_TMP/clicks.jsonl" "$DC_TMP/orders.jsonl" <<'EOF' ||
import collections, json, sys
s = json.load(open(sys.argv[1]))
clicks = [json.loads(l) for l in open(sys.argv[2])]
orders = [json.loads(l) for l in open(sys.argv[3])]
assert len(clicks) == s["clicks"] and len(orders) == s["orders"], (len(clicks), len(orders))
assert len({c["event_id"] for c in clicks}) == len(clicks), "duplicate click"
by_type = collections.Counter(c["type"] for c in clicks)
assert by_type == collections.Counter({k: v for k, v in s["clicks_by_type"].items() if v}), by_type
views = collections.Counter(c["sku"] for c in clicks if c["type"] == "VIEW")
want = {sku: v["views"] for sku, v in s["per_sku"].items() if v["views"]}
assert views == collections.Counter(want), "views per sku differ"
placed = [o for o in orders if o["status"] == "PLACED"]
assert len(placed) == s["orders_placed"], len(placed)
assert len(orders) - len(placed) == s["orders_cancelled"]
assert sum(len(o["lines"]) for o in placed) == s["order_lines"]
assert sum(l["qty"] for o in placed for l in o["lines"]) == s["units"]
# Every cancellation cancels an order that was placed.
ids = {o["order_id"] for o in placed}
assert all(o["order_id"] in ids for o in orders if o["status"] == "CANCELLED")
EOF
    dc_fail "tail output disagrees with the summary"

# python3-confluent-kafka reads both topics to their end, partition by
# partition, and python3-avro decodes the bodies with schemas/*.avsc.
/usr/bin/python3 - "$BOOTSTRAP" "$DC_SOURCE_DIR/schemas" "$DC_TMP/summary.json" <<'EOF' ||
import io, json, struct, sys, collections, datetime, time
import avro.io, avro.schema
from confluent_kafka import Consumer, TopicPartition

bootstrap, schema_dir, summary = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
readers = {1: avro.io.DatumReader(avro.schema.parse(open(schema_dir + "/ClickEvent.avsc").read())),
           2: avro.io.DatumReader(avro.schema.parse(open(schema_dir + "/OrderEvent.avsc").read()))}
epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

def read_all(topic, want_id):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-check",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    meta = c.list_topics(topic, timeout=10).topics[topic]
    parts = sorted(meta.partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, done, deadline = [], {p: 0 for p in parts}, time.time() + 60
    while any(done[p] < ends[p] for p in parts):
        assert time.time() < deadline, ("stalled", done, ends)
        for m in c.consume(10000, 0.2):
            assert not m.error(), m.error()
            v = m.value()
            magic, sid = struct.unpack(">bI", v[:5])
            assert magic == 0 and sid == want_id, (magic, sid)
            rec = readers[sid].read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
            ts_ms = round((rec["ts"] - epoch).total_seconds() * 1000)
            assert m.timestamp()[1] == ts_ms, (m.timestamp(), ts_ms)
            out.append((m.key().decode(), m.partition(), rec))
            done[m.partition()] = m.offset() + 1
    c.close()
    assert sum(ends.values()) == len(out)
    assert len([p for p in parts if ends[p]]) > 1, "everything on one partition"
    return out

clicks = read_all("shop.clickstream", 1)
orders = read_all("shop.orders", 2)
assert len(clicks) == summary["clicks"] and len(orders) == summary["orders"]
assert all(k == r["sku"] for k, _, r in clicks), "click key is not the sku"
assert all(k == r["order_id"] for k, _, r in orders), "order key is not the order id"
# One key, one partition: a SKU's clicks and an order's events stay in order.
part = collections.defaultdict(set)
for k, p, _ in clicks + orders:
    part[k].add(p)
assert all(len(ps) == 1 for ps in part.values())
assert collections.Counter(r["type"] for _, _, r in clicks) == \
    collections.Counter({k: v for k, v in summary["clicks_by_type"].items() if v})
assert sum(l["qty"] for _, _, r in orders if r["status"] == "PLACED" for l in r["lines"]) == summary["units"]
EOF
    dc_fail "confluent-kafka/avro check"

# A run with the same seed into a fresh topic sends the same records.
timeout 120 "$DC_BIN" gen --seed 5 --skus 300 --events 30000 $K -X topic.clickstream=again.clicks \
    -X topic.orders=again.orders 2>/dev/null || dc_fail "second gen failed"
timeout 90 "$DC_BIN" tail --topic again.orders --from-beginning --count "$ORDERS" --timeout 60 $K \
    > "$DC_TMP/orders2.jsonl" || dc_fail "tail again.orders: status $?"
cmp <(sort "$DC_TMP/orders.jsonl") <(sort "$DC_TMP/orders2.jsonl") || dc_fail "not deterministic"

# Nobody listening: delivery fails, and gen says so with status 1, in bounded time.
DEAD=$(dc_free_port)
set +e
timeout 60 "$DC_BIN" gen --events 100 -X kafka.bootstrap.servers=127.0.0.1:$DEAD \
    -X kafka.message.timeout.ms=2000 -X log.level=error 2> "$DC_TMP/dead.err"
rc=$?
set -e
[[ $rc -eq 1 ]] || dc_fail "gen to a dead cluster: status $rc, expected 1"
grep -q "failed" "$DC_TMP/dead.err" || dc_fail "no failure message: $(cat "$DC_TMP/dead.err")"

# Bad arguments: status 2 with a message.
for args in "--skus 0 $K" "--events ten $K" "--events 10" "--days 0 $K" \
    "--days 2 --sessions-per-hour 5 $K" "--sessions-per-hour 1e8 $K" \
    "--days 0.01 --events 100000000 $K" "--start yesterday $K" "-X kafka.no.such.property=1 $K"; do
    set +e
    # shellcheck disable=SC2086
    "$DC_BIN" gen $args > /dev/null 2> "$DC_TMP/usage.err"
    rc=$?
    set -e
    [[ $rc -eq 2 ]] || dc_fail "gen $args: status $rc, expected 2"
    [[ -s "$DC_TMP/usage.err" ]] || dc_fail "gen $args: no message"
done
echo "ok"
