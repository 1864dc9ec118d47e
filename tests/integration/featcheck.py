"""tests/integration/featcheck.py - an independent recount of the rolling
windows from the events `demandcast gen --out-dir` wrote (read with Debian's
python3-avro, not our codec), compared with what `demandcast features` prints.

Usage: featcheck.py OCF_DIR FEATURES_JSONL CLOSED_UNTIL_MS
Window definition (features/features.h): T = max(newest event of the SKU,
closed_until - 1); window W (slots of W/12) covers the 12 slots up to the one
holding T. Counts and revenue must match exactly; users is a HyperLogLog
estimate and must be within 3% (+1) of the exact distinct count.
"""
import datetime
import json
import math
import os
import sys

from avro.datafile import DataFileReader
from avro.io import DatumReader

WINDOWS = [("5m", 300000), ("1h", 3600000), ("24h", 86400000), ("7d", 604800000)]


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def millis(ts):
    """python3-avro turns timestamp-millis into an aware datetime."""
    if isinstance(ts, datetime.datetime):
        return (ts - EPOCH) // datetime.timedelta(milliseconds=1)
    return ts


def events(ocf_dir):
    for name in ("clickstream.avro", "orders.avro"):
        with DataFileReader(open(os.path.join(ocf_dir, name), "rb"), DatumReader()) as r:
            for rec in r:
                if "lines" in rec:
                    for line in rec["lines"]:
                        yield (line["sku"], millis(rec["ts"]), rec["user_id"],
                               "PLACED" if rec["status"] == "PLACED" else "CANCEL",
                               line["qty"], line["unit_price"])
                else:
                    yield (rec["sku"], millis(rec["ts"]), rec["user_id"], rec["type"], 0,
                           rec["price"])


def main():
    ocf_dir, feat_path, closed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    per_sku = {}
    for ev in events(ocf_dir):
        per_sku.setdefault(ev[0], []).append(ev)
    got = {}
    with open(feat_path) as f:
        for line in f:
            j = json.loads(line)
            got[j["sku"]] = j
    bad = 0
    for sku, evs in sorted(per_sku.items()):
        t = max(max(e[1] for e in evs), closed - 1)
        g = got.get(sku)
        if not g or not g["found"]:
            print(f"{sku}: missing from the store")
            bad += 1
            continue
        for name, w in WINDOWS:
            slot = w // 12
            top = t // slot
            inwin = [e for e in evs if top - 12 < e[1] // slot <= top]
            want = {
                "views": sum(1 for e in inwin if e[3] == "VIEW"),
                "carts": sum(1 for e in inwin if e[3] == "ADD_TO_CART"),
                "units": sum(e[4] for e in inwin if e[3] == "PLACED"),
                "orders": sum(1 for e in inwin if e[3] == "PLACED"),
            }
            rev_e4 = sum(math.floor(e[4] * e[5] * 1e4 + 0.5) for e in inwin if e[3] == "PLACED")
            users = len({e[2] for e in inwin if e[2]})
            have = g["windows"][name]
            for k, v in want.items():
                if have[k] != v:
                    print(f"{sku} {name}.{k}: store {have[k]}, recount {v}")
                    bad += 1
            if abs(have["revenue"] - rev_e4 / 1e4) > 5e-5:
                print(f"{sku} {name}.revenue: store {have['revenue']}, recount {rev_e4 / 1e4}")
                bad += 1
            if abs(have["users"] - users) > 0.03 * users + 1:
                print(f"{sku} {name}.users: store {have['users']}, recount {users}")
                bad += 1
    extra = set(got) - set(per_sku)
    for sku in extra:
        if got[sku]["found"]:
            print(f"{sku}: in the store but never produced")
            bad += 1
    print(f"featcheck: {len(per_sku)} SKUs, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
