# tests/integration/0004-gen-ocf.sh - `demandcast gen --out-dir` writes Avro
# object container files holding exactly the generated records (read back by
# python3-avro), identical for one seed and different for another; the
# promotion truth file is deterministic too and lists promotions with the
# promised shape.
source "$(dirname "$0")/lib.sh"

gen() { # gen DIR SEED
    timeout 120 "$DC_BIN" gen --seed "$2" --skus 500 --events 50000 --days 3 --out-dir "$1" \
        --summary "$1.summary.json" --truth "$1.truth.csv" 2> "$1.err" ||
        dc_fail "gen --out-dir $1 --seed $2: status $? ($(cat "$1.err"))"
}
gen "$DC_TMP/a" 9
gen "$DC_TMP/b" 9
gen "$DC_TMP/c" 10

# Byte for byte: the same seed gives the same files (the OCF sync marker is
# derived from the schema, not drawn at random).
for f in clickstream.avro orders.avro; do
    cmp "$DC_TMP/a/$f" "$DC_TMP/b/$f" || dc_fail "$f differs between two runs with seed 9"
    cmp -s "$DC_TMP/a/$f" "$DC_TMP/c/$f" && dc_fail "$f is the same for seeds 9 and 10"
done
cmp "$DC_TMP/a.truth.csv" "$DC_TMP/b.truth.csv" || dc_fail "truth differs for one seed"

/usr/bin/python3 - "$DC_TMP/a" "$DC_TMP/a.summary.json" "$DC_TMP/a.truth.csv" <<'EOF' ||
import collections, csv, datetime, json, sys
from avro.datafile import DataFileReader
from avro.io import DatumReader

d, summary, truth = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
clicks = list(DataFileReader(open(d + "/clickstream.avro", "rb"), DatumReader()))
orders = list(DataFileReader(open(d + "/orders.avro", "rb"), DatumReader()))
assert len(clicks) + len(orders) == 50000 == summary["events"], (len(clicks), len(orders))
assert len(clicks) == summary["clicks"] and len(orders) == summary["orders"]
assert summary["files"] == {d + "/clickstream.avro": len(clicks), d + "/orders.avro": len(orders)}
# In event-time order within each file.
for recs in (clicks, orders):
    assert all(a["ts"] <= b["ts"] for a, b in zip(recs, recs[1:]))
assert collections.Counter(c["type"] for c in clicks) == \
    collections.Counter({k: v for k, v in summary["clicks_by_type"].items() if v})
placed = [o for o in orders if o["status"] == "PLACED"]
assert sum(l["qty"] for o in placed for l in o["lines"]) == summary["units"]

# The truth file: promotions of 3-12 h and lift 3-8, apart from each other,
# and the promoted SKU's clicks inside the window carry the code.
rows = list(csv.DictReader(open(truth)))
assert rows and list(rows[0]) == ["sku", "start", "end", "lift"], rows[:1]
def t(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
prev_end = None
for r, p in zip(rows, summary["promotions"]):
    start, end, lift = t(r["start"]), t(r["end"]), float(r["lift"])
    assert 3 * 3600 <= (end - start).total_seconds() <= 12 * 3600, r
    assert 3 <= lift <= 8 and r["sku"] == p["sku"], r
    assert prev_end is None or start >= prev_end, r
    prev_end = end
    tagged = [c for c in clicks if c["promo"] == p["code"]]
    assert tagged and all(c["sku"] == r["sku"] and start <= c["ts"] < end for c in tagged), r
assert len(rows) == len(summary["promotions"])
EOF
    dc_fail "OCF contents"

# Unwritable output directory: status 1 with a message.
touch "$DC_TMP/not-a-dir"
set +e
"$DC_BIN" gen --events 10 --out-dir "$DC_TMP/not-a-dir/x" 2> "$DC_TMP/bad.err"
rc=$?
set -e
[[ $rc -eq 1 ]] || dc_fail "unwritable --out-dir: status $rc"
grep -q "not-a-dir" "$DC_TMP/bad.err" || dc_fail "no message naming the directory"
echo "ok"
