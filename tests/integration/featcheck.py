"""tests/integration/featcheck.py - an independent recount of the rolling
windows from the events `demandcast gen --out-dir` wrote (read with Debian's
python3-avro, not our codec), compared with what `demandcast features` prints.

Usage: featcheck.py OCF_DIR FEATURES_JSONL CLOSED_UNTIL_MS [IDLE_TTL_MS GONE_OUT]
       featcheck.py idle-ttl OCF_DIR CLOSED_UNTIL_MS
Window definition (features/features.h): T = max(newest event of the SKU,
closed_until - 1); window W (slots of W/12) covers the 12 slots up to the one
holding T. Counts and revenue must match exactly; users must be exact up to
256 users in the window and within 10% beyond (features/values.lua).

With IDLE_TTL_MS (the run's sku.idle.ttl), a SKU whose newest event is older
than CLOSED_UNTIL_MS - IDLE_TTL_MS must be gone from the store; GONE_OUT
receives those SKUs, one per line. `idle-ttl` prints a TTL (whole minutes, at
least the longest window) under which about half of the SKUs are gone by
CLOSED_UNTIL_MS, if the data is long enough.
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


def newest_per_sku(ocf_dir):
    newest = {}
    for ev in events(ocf_dir):
        newest[ev[0]] = max(newest.get(ev[0], ev[1]), ev[1])
    return newest


def idle_ttl(ocf_dir, closed):
    idle = sorted(closed - t for t in newest_per_sku(ocf_dir).values())
    return max((idle[len(idle) // 2] // 60000 + 1) * 60000, WINDOWS[-1][1])


def main():
    if sys.argv[1] == "idle-ttl":
        print(idle_ttl(sys.argv[2], int(sys.argv[3])))
        return 0
    ocf_dir, feat_path, closed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ttl = int(sys.argv[4]) if len(sys.argv) > 4 else None
    per_sku = {}
    for ev in events(ocf_dir):
        per_sku.setdefault(ev[0], []).append(ev)
    got = {}
    with open(feat_path) as f:
        for line in f:
            j = json.loads(line)
            got[j["sku"]] = j
    bad = 0
    gone = []
    for sku, evs in sorted(per_sku.items()):
        t = max(max(e[1] for e in evs), closed - 1)
        g = got.get(sku)
        if ttl is not None and max(e[1] for e in evs) < closed - ttl:
            gone.append(sku)
            if g and g["found"]:
                print(f"{sku}: idle since {max(e[1] for e in evs)}, still in the store")
                bad += 1
            continue
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
            # features/values.lua: exact up to 256 users in the window,
            # then a HyperLogLog of standard error 3.3 % (3 sigma here).
            if abs(have["users"] - users) > (0 if users <= 256 else 0.1 * users):
                print(f"{sku} {name}.users: store {have['users']}, recount {users}")
                bad += 1
    extra = set(got) - set(per_sku)
    for sku in extra:
        if got[sku]["found"]:
            print(f"{sku}: in the store but never produced")
            bad += 1
    if ttl is not None:
        with open(sys.argv[5], "w") as f:
            f.writelines(sku + "\n" for sku in gone)
        if not gone or len(gone) == len(per_sku):
            print(f"featcheck: {len(gone)} of {len(per_sku)} SKUs idle: the check needs both kinds")
            bad += 1
    print(f"featcheck: {len(per_sku)} SKUs, {len(gone)} gone idle, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
