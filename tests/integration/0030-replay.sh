# replay: history through the same pipeline as `run`.
#  - CSV order lines (the committed UCI extract): what each bucket held equals
#    an independent recount under PROTOCOL.md's demand rules;
#  - the same synthetic events from Avro files and from Kafka (between two
#    timestamps) give byte-identical forecasts, and two replays of the same
#    files give byte-identical forecasts and reports;
#  - the report equals the golden one, and its page loads nothing from
#    elsewhere; bad input and bad arguments exit 1 and 2 with a message.
source "$(dirname "$0")/lib.sh"
# One BLAS kernel for every machine: the golden report holds model outputs.
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
SAMPLE="$DC_SOURCE_DIR/tests/data/online-retail-sample.csv"
GOLDEN="$DC_SOURCE_DIR/tests/data/golden/replay-gen-report.md"

"$DC_BIN" replay --input "$SAMPLE" --csv-preset uci-online-retail --bucket 1d \
    --buckets-out "$DC_TMP/buckets.csv" -X log.level=warn 2>"$DC_TMP/sample.err" ||
    dc_fail "replay of the sample: $(cat "$DC_TMP/sample.err")"
/usr/bin/python3 - "$SAMPLE" "$DC_TMP/buckets.csv" <<'PY' || dc_fail "bucket totals differ from the recount"
import csv, re, sys
from collections import defaultdict
want = defaultdict(lambda: [0, 0])
for r in csv.DictReader(open(sys.argv[1], newline="")):
    sku, q, p = r["StockCode"].strip().upper(), int(r["Quantity"]), float(r["UnitPrice"])
    if not re.fullmatch(r"[0-9]{5}[A-Z]*", sku) or p <= 0:
        continue
    day = r["InvoiceDate"][:10]
    if r["InvoiceNo"][:1] in "Cc":
        if q < 0:
            want[(day, sku)][1] += -q
    elif q > 0:
        want[(day, sku)][0] += q
got = {}
for r in csv.DictReader(open(sys.argv[2])):
    got[(r["bucket"], r["sku"])] = [int(r["units"]), int(r["cancelled"])]
want = {k: v for k, v in want.items() if v != [0, 0]}
if got != want:
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print("mismatch", k, "got", got.get(k), "want", want.get(k))
    sys.exit(1)
print("bucket totals: %d (day, sku) cells equal the recount" % len(got))
PY
grep -q "rejected 6 (bad_sku)" "$DC_TMP/sample.err" || dc_fail "non-product rows not counted"

# train writes the checkpoint that run and replay load; a damaged one is refused.
"$DC_BIN" train --input "$SAMPLE" --csv-preset uci-online-retail --bucket 1d --horizon 7 \
    --out "$DC_TMP/model.bin" -X model.hidden=16 -X log.level=warn 2>/dev/null ||
    dc_fail "train failed"
head -c 8 "$DC_TMP/model.bin" | grep -q DCMODEL1 || dc_fail "model file has no magic"
"$DC_BIN" replay --input "$SAMPLE" --csv-preset uci-online-retail --bucket 1d --horizon 7 \
    -X model.path="$DC_TMP/model.bin" -X log.level=warn 2>/dev/null || dc_fail "replay with model.path"
printf 'X' | dd of="$DC_TMP/model.bin" bs=1 seek=100 conv=notrunc 2>/dev/null
set +e
"$DC_BIN" replay --input "$SAMPLE" --csv-preset uci-online-retail --bucket 1d --horizon 7 \
    -X model.path="$DC_TMP/model.bin" 2>"$DC_TMP/err"
[[ $? == 1 ]] || dc_fail "a corrupted model.path: want exit 1"
grep -qi "CRC-32 mismatch" "$DC_TMP/err" || dc_fail "the message does not say the checksum failed: $(cat "$DC_TMP/err")"
set -e

# Bad input and bad arguments.
set +e
"$DC_BIN" replay --input "$DC_TMP/nope.csv" --csv-preset uci-online-retail 2>"$DC_TMP/err"
[[ $? == 1 ]] || dc_fail "missing file: want exit 1"
"$DC_BIN" replay --input "$SAMPLE" --csv-preset no-such-preset 2>"$DC_TMP/err"
[[ $? == 2 ]] || dc_fail "unknown preset: want exit 2"
"$DC_BIN" replay --input "$SAMPLE" --csv-preset uci-online-retail --report "$DC_TMP/r" 2>"$DC_TMP/err"
[[ $? == 2 ]] || dc_fail "--report without a window: want exit 2"
head -c 300 "$SAMPLE" >"$DC_TMP/not-avro.avro"
"$DC_BIN" replay --input "$DC_TMP/not-avro.avro" 2>"$DC_TMP/err"
[[ $? == 1 ]] || dc_fail "a file that is not Avro: want exit 1"
grep -q "not-avro.avro" "$DC_TMP/err" || dc_fail "the message does not name the file"
set -e

# The same synthetic shop into files and into Kafka.
GEN=(--seed 3 --skus 40 --events 30000 --days 4 --promos-per-day 1)
"$DC_BIN" gen "${GEN[@]}" --out-dir "$DC_TMP/files" 2>/dev/null
dc_start_broker --partitions 3
"$DC_BIN" gen "${GEN[@]}" -X kafka.bootstrap.servers="$BOOTSTRAP" 2>/dev/null

WINDOW=(--bucket 1h --horizon 6 --eval-from 2026-01-07T00:00:00Z --eval-to 2026-01-08T12:00:00Z
    --series 20 --min-days 10 -X log.level=warn -X model.hidden=16)
FILES=(--input "$DC_TMP/files/clickstream.avro" --input "$DC_TMP/files/orders.avro")
"$DC_BIN" replay "${FILES[@]}" "${WINDOW[@]}" --forecasts-out "$DC_TMP/a.csv" --buckets-out "$DC_TMP/ba.csv" \
    --report "$DC_TMP/ra" >"$DC_TMP/a.table" 2>"$DC_TMP/a.err" ||
    dc_fail "replay of files: $(cat "$DC_TMP/a.err")"
"$DC_BIN" replay "${FILES[@]}" "${WINDOW[@]}" --forecasts-out "$DC_TMP/a2.csv" \
    --report "$DC_TMP/ra2" >/dev/null 2>&1 || dc_fail "second replay of files"
"$DC_BIN" replay --from 2026-01-05 --to 2026-01-10 "${WINDOW[@]}" \
    -X kafka.bootstrap.servers="$BOOTSTRAP" --forecasts-out "$DC_TMP/k.csv" --buckets-out "$DC_TMP/bk.csv" \
    >/dev/null 2>"$DC_TMP/k.err" || dc_fail "replay from Kafka: $(cat "$DC_TMP/k.err")"

rows=$(($(wc -l <"$DC_TMP/a.csv") - 1))
((rows > 1000)) || dc_fail "only $rows forecast rows"
cmp "$DC_TMP/a.csv" "$DC_TMP/a2.csv" || dc_fail "two replays of the same files differ"
for f in report.md report.json report.html; do
    cmp "$DC_TMP/ra/$f" "$DC_TMP/ra2/$f" || dc_fail "$f differs between two replays"
done
cmp "$DC_TMP/ba.csv" "$DC_TMP/bk.csv" || dc_fail "the buckets from Kafka differ from the files' buckets"
cmp "$DC_TMP/a.csv" "$DC_TMP/k.csv" || dc_fail "replay from Kafka differs from replay of the files"

# The page has its plots inline and asks for nothing from elsewhere.
grep -q "<svg" "$DC_TMP/ra/report.html" || dc_fail "report.html has no plot"
grep -Eiq "https?://|src=|<script|@import|url\(" "$DC_TMP/ra/report.html" &&
    dc_fail "report.html refers to something outside itself"

if [[ "${DC_UPDATE_GOLDEN:-}" == 1 ]]; then
    mkdir -p "$(dirname "$GOLDEN")"
    cp "$DC_TMP/ra/report.md" "$GOLDEN"
fi
diff -u "$GOLDEN" "$DC_TMP/ra/report.md" ||
    dc_fail "report.md differs from $GOLDEN (if the model changed on purpose, rerun with DC_UPDATE_GOLDEN=1)"
echo "ok: $rows forecast rows, files = Kafka = again, report = golden"
