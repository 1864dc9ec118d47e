# The backtest report is a page a browser shows with its plots and nothing
# from elsewhere: replay a small synthetic history with a report, render
# report.html in headless Chromium (Debian's chromium) with every host
# unresolvable, and check the rendered page holds the plots and the
# screenshot is a real picture.
source "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || dc_fail "chromium is not installed (deploy/quickstart.sh test installs it)"

"$DC_BIN" gen --seed 5 --skus 30 --events 20000 --days 4 --out-dir "$DC_TMP/files" 2>/dev/null
"$DC_BIN" replay --input "$DC_TMP/files/clickstream.avro" --input "$DC_TMP/files/orders.avro" \
    --bucket 1h --horizon 6 --eval-from 2026-01-07T00:00:00Z --eval-to 2026-01-08T12:00:00Z \
    --series 10 --min-days 10 --report "$DC_TMP/report" -X model.hidden=16 -X log.level=warn \
    >/dev/null 2>"$DC_TMP/replay.err" || dc_fail "replay: $(cat "$DC_TMP/replay.err")"

# The flags keep the browser's own background traffic off; the resolver rule
# makes every network host unreachable, so the page can only show what it holds.
browser() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$DC_TMP/profile" \
        --window-size=1200,1600 "$@" "file://$DC_TMP/report/report.html" 2>>"$DC_TMP/chromium.log"
}
browser --dump-dom >"$DC_TMP/dom.html" || dc_fail "chromium could not load the page"
browser --screenshot="$DC_TMP/report.png" >/dev/null || dc_fail "chromium could not take a screenshot"

svgs=$(grep -o "<svg" "$DC_TMP/dom.html" | wc -l)
lines=$(grep -Eo "<(polyline|path)" "$DC_TMP/dom.html" | wc -l)
((svgs >= 3)) || dc_fail "the rendered page has $svgs plots, want the horizon plot and the series plots"
((lines >= 10)) || dc_fail "the plots hold only $lines lines"
head -c 8 "$DC_TMP/report.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" ||
    dc_fail "the screenshot is not a PNG"
size=$(stat -c %s "$DC_TMP/report.png")
# A blank page compresses to a few kB; plots and tables do not.
((size > 40000)) || dc_fail "the screenshot is only $size bytes: nothing drawn?"
echo "ok: $svgs plots, $lines lines, screenshot $size bytes"
