"""tests/integration/dlqcheck.py - reads the DLQ topic with Debian's
python3-confluent-kafka (a client nobody here wrote) and compares every
message with the manifest helper_dlq wrote: one DLQ message per bad input,
value and key byte for byte, and the headers naming the reason and where the
message came from. Nothing else may be in the DLQ.

Usage: dlqcheck.py BOOTSTRAP DLQ_TOPIC MANIFEST
"""
import sys
import time

from confluent_kafka import Consumer


def main():
    bootstrap, topic, manifest = sys.argv[1:4]
    want = {}
    with open(manifest) as f:
        for line in f:
            reason, src, part, off, key, value = line.rstrip("\n").split("\t")
            want[(src, part, off)] = (reason, bytes.fromhex(key), bytes.fromhex(value))
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlqcheck",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    # Read until every expected message came, then a little longer for extras.
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(got) >= len(want):
                deadline = min(deadline, time.monotonic() + 1)
            continue
        if m.error():
            continue
        got.append(m)
    c.close()
    bad = 0
    seen = set()
    for m in got:
        h = {k: v.decode() for k, v in (m.headers() or [])}
        where = (h.get("dc.source.topic"), h.get("dc.source.partition"),
                 h.get("dc.source.offset"))
        if where not in want:
            print(f"unexpected DLQ message from {where}: {h}")
            bad += 1
            continue
        if where in seen:
            print(f"{where} is in the DLQ twice")
            bad += 1
        seen.add(where)
        reason, key, value = want[where]
        if h.get("dc.error") != reason:
            print(f"{where}: dc.error {h.get('dc.error')!r}, want {reason!r}")
            bad += 1
        if not h.get("dc.error.detail"):
            print(f"{where}: no dc.error.detail")
            bad += 1
        if m.key() != key:
            print(f"{where}: key {m.key()!r}, want {key!r}")
            bad += 1
        if m.value() != value:
            print(f"{where} ({reason}): value differs from the input bytes")
            bad += 1
    for where in set(want) - seen:
        print(f"{where} ({want[where][0]}) never reached the DLQ")
        bad += 1
    print(f"dlqcheck: {len(got)} DLQ messages, {len(want)} expected, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
