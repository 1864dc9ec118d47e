"""tests/integration/fccheck.py - reads what `demandcast run` published, with
clients nobody here wrote (python3-confluent-kafka, python3-avro), and checks
it against the input (tests 0020..0029).

  fccheck.py dump BOOTSTRAP TOPIC OUT TIMEOUT
      every message of TOPIC, up to the high watermarks at the start, as JSON
      lines {partition, offset, key, timestamp, value (hex)} into OUT
  fccheck.py forecasts DUMP OCF_DIR CLOSED_UNTIL_MS SCHEMA_DIR
      one well-formed Forecast per active SKU per closed bucket, exactly:
      the active SKUs of bucket B are those whose first event is before B's
      end; the closed buckets run from the first event's bucket to
      CLOSED_UNTIL_MS
  fccheck.py same DUMP_A DUMP_B SCHEMA_DIR
      the two streams hold the same (sku, bucket) forecasts with the same
      bytes; repeats inside a stream (at least once) must be identical
  fccheck.py alerts DUMP SCHEMA_DIR
      the SurgeAlerts form START (UPDATE...) END episodes per SKU, each with
      reasons, keyed by SKU and timestamped with detected_at
  fccheck.py surges DUMP TRUTH_CSV FIRST_MS LAST_MS WARMUP_H SCHEMA_DIR
      surge episodes against the injected promotions; prints precision and
      recall and fails below 0.9, or with fewer than 10 promotions to score

Exits non-zero with a message on the first violation.
"""
import csv
import datetime
import io
import json
import math
import sys
import time

import avro.io
import avro.schema

HOUR = 3600000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ms(value):
    """python-avro gives timestamp-millis as an aware datetime."""
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    return value


def iso_ms(text):
    return ms(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")))


def reader(schema_dir, name):
    with open(f"{schema_dir}/{name}.avsc") as f:
        return avro.io.DatumReader(avro.schema.parse(f.read()))


def decode(rdr, hexvalue, schema_id):
    raw = bytes.fromhex(hexvalue)
    if raw[0] != 0 or int.from_bytes(raw[1:5], "big") != schema_id:
        fail(f"bad framing {raw[:5].hex()}, want schema id {schema_id}")
    return rdr.read(avro.io.BinaryDecoder(io.BytesIO(raw[5:])))


def load_dump(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def cmd_dump(bootstrap, topic, out, timeout):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fccheck-{time.time_ns()}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 50})
    md = c.list_topics(topic, timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        fail(f"topic {topic} not found")
    parts = sorted(md.topics[topic].partitions)
    high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    unread = {p for p in parts if high[p] > 0}
    c.assign([TopicPartition(topic, p, 0) for p in unread])
    deadline = time.monotonic() + timeout
    n = 0
    with open(out, "w") as f:
        while unread:
            if time.monotonic() > deadline:
                fail(f"{topic}: timed out with partitions {sorted(unread)} unread")
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                fail(f"{topic}: {m.error()}")
            p = m.partition()
            if m.offset() < high[p]:
                f.write(json.dumps({"partition": p, "offset": m.offset(),
                                    "key": m.key().decode(), "timestamp": m.timestamp()[1],
                                    "value": m.value().hex()}) + "\n")
                n += 1
            if m.offset() + 1 >= high[p]:
                unread.discard(p)
    c.close()
    print(f"{topic}: {n} messages")


def first_seen(ocf_dir):
    """Each SKU's first event time, over clicks and order lines."""
    import avro.datafile

    first = {}

    def see(sku, ts):
        if sku not in first or ts < first[sku]:
            first[sku] = ts

    with avro.datafile.DataFileReader(open(f"{ocf_dir}/clickstream.avro", "rb"),
                                      avro.io.DatumReader()) as r:
        for rec in r:
            see(rec["sku"], ms(rec["ts"]))
    with avro.datafile.DataFileReader(open(f"{ocf_dir}/orders.avro", "rb"),
                                      avro.io.DatumReader()) as r:
        for rec in r:
            for line in rec["lines"]:
                see(line["sku"], ms(rec["ts"]))
    return first


def forecasts_by_key(dump, schema_dir):
    """(sku, bucket_start) -> value hex, checking each record on the way;
    repeats must be byte-identical. Returns the map and the repeat count."""
    rdr = reader(schema_dir, "Forecast")
    seen, repeats = {}, 0
    for m in dump:
        fc = decode(rdr, m["value"], 3)
        start, width = ms(fc["bucket_start"]), fc["bucket_width"]
        if m["key"] != fc["sku"]:
            fail(f"key {m['key']} for a forecast of {fc['sku']}")
        if ms(fc["issued_at"]) != start + width or m["timestamp"] != start + width:
            fail(f"{fc['sku']}@{start}: issued_at {fc['issued_at']}, timestamp {m['timestamp']}")
        hz = fc["horizons"]
        if [h["offset"] for h in hz] != list(range(1, len(hz) + 1)) or not hz:
            fail(f"{fc['sku']}@{start}: horizons {[h['offset'] for h in hz]}")
        for h in hz:
            q = (h["p10"], h["p50"], h["p90"], h["mean"])
            if not all(math.isfinite(x) and x >= 0 for x in q) or not q[0] <= q[1] <= q[2]:
                fail(f"{fc['sku']}@{start} h{h['offset']}: {q}")
        key = (fc["sku"], start)
        if key in seen:
            repeats += 1
            if seen[key] != m["value"]:
                fail(f"{key} published twice with different bytes")
        seen[key] = m["value"]
    return seen, repeats


def cmd_forecasts(dump, ocf_dir, closed_until, schema_dir):
    closed_until = int(closed_until)
    got, repeats = forecasts_by_key(load_dump(dump), schema_dir)
    if repeats:
        fail(f"{repeats} forecasts published twice by an uninterrupted run")
    first = first_seen(ocf_dir)
    start = min(first.values()) // HOUR * HOUR
    want = set()
    for b in range(start, closed_until, HOUR):
        want.update((sku, b) for sku, t in first.items() if t < b + HOUR)
    missing, extra = sorted(want - got.keys()), sorted(got.keys() - want)
    if missing or extra:
        fail(f"{len(missing)} forecasts missing (e.g. {missing[:3]}), "
             f"{len(extra)} unexpected (e.g. {extra[:3]})")
    closes = (closed_until - start) // HOUR
    print(f"{len(got)} forecasts = the active SKUs of {closes} closed buckets, each once")


def cmd_same(dump_a, dump_b, schema_dir):
    a, ra = forecasts_by_key(load_dump(dump_a), schema_dir)
    b, rb = forecasts_by_key(load_dump(dump_b), schema_dir)
    if a.keys() != b.keys():
        only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
        fail(f"{len(only_a)} forecasts only in A (e.g. {only_a[:3]}), "
             f"{len(only_b)} only in B (e.g. {only_b[:3]})")
    diff = [k for k in a if a[k] != b[k]]
    if diff:
        fail(f"{len(diff)} of {len(a)} forecasts differ, first {min(diff)}")
    print(f"{len(a)} forecasts byte-identical; B published {rb} again after its restarts")


def episodes(dump, schema_dir):
    """Per SKU: [start_ms, end_ms or None, the START's first signal (its
    reason)] from START ... END, in detection order; checks that START,
    UPDATE and END alternate properly."""
    rdr = reader(schema_dir, "SurgeAlert")
    alerts = []
    for m in dump:
        a = decode(rdr, m["value"], 4)
        if m["key"] != a["sku"] or m["timestamp"] != ms(a["detected_at"]):
            fail(f"surge of {a['sku']}: key {m['key']}, timestamp {m['timestamp']}")
        if not a["signals"]:
            fail(f"surge of {a['sku']} without reasons")
        alerts.append((ms(a["detected_at"]), m["partition"], m["offset"], a))
    alerts.sort(key=lambda x: (x[0], x[1], x[2]))
    eps = {}
    for t, _, _, a in alerts:
        mine = eps.setdefault(a["sku"], [])
        open_ep = mine and mine[-1][1] is None
        if a["state"] == "START":
            if open_ep:
                fail(f"{a['sku']}: START at {t} inside a running episode")
            mine.append([t, None, a["signals"][0]["name"]])
        elif not open_ep:
            fail(f"{a['sku']}: {a['state']} at {t} without a running episode")
        elif a["state"] == "END":
            mine[-1][1] = t
    return eps


def cmd_alerts(dump, schema_dir):
    eps = episodes(load_dump(dump), schema_dir)
    n = sum(len(e) for e in eps.values())
    print(f"{n} surge episodes on {len(eps)} SKUs, well-formed")


def cmd_surges(dump, truth, first_ms, last_ms, warmup_h, schema_dir):
    first_ms, last_ms, warmup_h = int(first_ms), int(last_ms), int(warmup_h)
    eps = episodes(load_dump(dump), schema_dir)
    with open(truth) as f:
        promos = [(r["sku"], iso_ms(r["start"]), iso_ms(r["end"]), float(r["lift"]))
                  for r in csv.DictReader(f)]
    # Scored: promotions that start once SKUs may alert, and end (with the
    # two calm buckets an END needs) before the data does.
    scored = [p for p in promos
              if p[1] >= first_ms + warmup_h * HOUR and p[2] + 3 * HOUR <= last_ms]
    caught = []
    for sku, start, end, lift in scored:
        b0 = start // HOUR * HOUR
        hit = [e for e in eps.get(sku, [])
               if b0 + HOUR <= e[0] <= b0 + 3 * HOUR and e[1] is not None and e[1] >= end]
        caught.append(bool(hit))
        print(f"  promotion {sku} {start}..{end} lift {lift}: "
              f"{'caught' if hit else 'MISSED'}; episodes {eps.get(sku, [])}")
    # An episode is right when it starts while a promotion of its SKU runs
    # (or within the bucket after it ends, the bucket holding its end).
    n_eps = right = 0
    reasons = {}
    for sku, mine in eps.items():
        for s, _, reason in mine:
            if s < first_ms + warmup_h * HOUR or s > last_ms - 3 * HOUR:
                continue
            n_eps += 1
            reasons[reason] = reasons.get(reason, 0) + 1
            if any(p[0] == sku and p[1] // HOUR * HOUR < s <= p[2] // HOUR * HOUR + 2 * HOUR
                   for p in promos):
                right += 1
            else:
                print(f"  false alarm: {sku} at {s}")
    recall = sum(caught) / len(caught) if caught else float("nan")
    precision = right / n_eps if n_eps else float("nan")
    print(f"surges: precision {precision:.3f} ({right}/{n_eps} episodes), "
          f"recall {recall:.3f} ({sum(caught)}/{len(caught)} promotions); started by "
          + ", ".join(f"{r} {k}" for r, k in sorted(reasons.items())))
    if len(caught) < 10:
        fail(f"only {len(caught)} promotions to score")
    if not (precision >= 0.9 and recall >= 0.9):
        fail("precision or recall below 0.9")


COMMANDS = {"dump": (cmd_dump, 4), "forecasts": (cmd_forecasts, 4), "same": (cmd_same, 3),
            "alerts": (cmd_alerts, 2), "surges": (cmd_surges, 6)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(__doc__)
    fn, nargs = COMMANDS[sys.argv[1]]
    args = sys.argv[2:]
    if len(args) != nargs:
        fail(f"{sys.argv[1]} takes {nargs} arguments")
    if sys.argv[1] == "dump":
        args[3] = float(args[3])
    fn(*args)
