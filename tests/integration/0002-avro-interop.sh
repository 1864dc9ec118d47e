# Interoperability of our Avro with Debian's python3-avro, a client nobody
# here wrote: framed records and OCF files, both directions, exact values
# (see avro_interop.py). Needs no servers.
source "$(dirname "$0")/lib.sh"

: "${DC_BUILD_DIR:?}"
helper="$DC_BUILD_DIR/tests/helper_avro"
[[ -x "$helper" ]] || dc_fail "$helper is not built"
/usr/bin/python3 -c 'import avro' 2>/dev/null || dc_fail "python3-avro is not installed"

timeout 120 /usr/bin/python3 "$DC_SOURCE_DIR/tests/integration/avro_interop.py" \
    "$helper" "$DC_SOURCE_DIR/schemas" "$DC_TMP" || dc_fail "python3-avro interop"
